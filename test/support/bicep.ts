/**
 * The official Bicep CLI, found where a user or CI has it: BICEP_PATH, `bicep` on PATH, the Azure
 * CLI's `az bicep`, or the NuGet package folder that `dotnet restore tools/bicep` fills.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

export const BICEP_HOW_TO =
  'Bicep CLI not found, so the Bicep is not compiled: run `dotnet restore tools/bicep` (or install Bicep: https://aka.ms/bicep-install), then npm test again';

export interface BicepCli {
  /** How it was found, for the test's output. */
  where: string;
  run(args: string[]): { status: number | null; stdout: string; stderr: string };
}

const cli = (where: string, command: string, prefix: string[] = []): BicepCli => ({
  where,
  run: (args) => {
    const r = spawnSync(command, [...prefix, ...args], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  },
});

/** The platform part of the NuGet package's name (Azure.Bicep.CommandLine.<platform>). */
export function bicepPlatform(platform: NodeJS.Platform = process.platform, arch: string = process.arch): string {
  const os = platform === 'win32' ? 'win' : platform === 'darwin' ? 'osx' : 'linux';
  return `${os}-${arch === 'arm64' ? 'arm64' : 'x64'}`;
}

/** The newest Bicep CLI in a NuGet package folder, if one was restored there. */
export function nugetBicep(
  packages: string,
  platform: NodeJS.Platform = process.platform,
  arch: string = process.arch,
): string | undefined {
  const dir = join(packages, `azure.bicep.commandline.${bicepPlatform(platform, arch)}`);
  if (!existsSync(dir)) return undefined;
  const versions = readdirSync(dir).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  for (const version of versions.reverse()) {
    const file = join(dir, version, 'tools', platform === 'win32' ? 'bicep.exe' : 'bicep');
    if (existsSync(file)) return file;
  }
  return undefined;
}

function onPath(name: string): string | undefined {
  const names = process.platform === 'win32' ? [`${name}.exe`, `${name}.cmd`] : [name];
  for (const dir of (process.env.PATH ?? '').split(delimiter))
    for (const n of names) if (dir && existsSync(join(dir, n))) return join(dir, n);
  return undefined;
}

export function findBicep(): BicepCli | undefined {
  if (process.env.BICEP_PATH) return cli('BICEP_PATH', process.env.BICEP_PATH);
  const direct = onPath('bicep');
  if (direct) return cli('PATH', direct);
  const nuget = nugetBicep(process.env.NUGET_PACKAGES ?? join(homedir(), '.nuget', 'packages'));
  if (nuget) return cli('NuGet (dotnet restore tools/bicep)', nuget);
  const az = onPath('az');
  if (az) {
    try {
      execFileSync(az, ['bicep', 'version'], { stdio: 'ignore' });
      return cli('az bicep', az, ['bicep']);
    } catch {
      // az without its bicep: not found.
    }
  }
  return undefined;
}
