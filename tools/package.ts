/**
 * `npm run package`: the deployment package of the Function App, with only what runs: the built
 * JavaScript (dist/functions, dist/shared), the console's built files (dist/console), host.json, a
 * package.json without scripts or dev dependencies, and the production dependencies copied from
 * node_modules (never the dev ones: no Node binary, Azurite, TypeScript, Vite, browser).
 * Staged in deploy/ (what azd deploys, see azure.yaml) and zipped to deploy.zip (to measure it).
 * Offline: dependencies come from the installed node_modules, not the registry.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { zipSync, type Zippable } from 'fflate';

const ROOT = resolve(import.meta.dirname, '..');
/** Files of dependencies that nothing reads at run time. */
const SKIP = /(\.map|\.d\.ts|\.d\.mts|\.d\.cts|\.md|\.markdown|\.tsbuildinfo)$|(^|\/)(CHANGELOG|HISTORY)[^/]*$|(^|\/)(test|tests|__tests__|docs|example|examples)\//i;

export interface PackageOptions {
  /** Run `npm run build` first (default true). */
  build?: boolean;
  /** Where the built app is (default dist/). */
  distDir?: string;
  /** The staging folder (default deploy/, what azd deploys: its .gitignore keeps the folder in git and its contents out). */
  stageDir?: string;
  /** The zip written to measure the package (default deploy.zip). */
  zipPath?: string;
}

export interface PackageResult {
  zipPath: string;
  zipBytes: number;
  files: number;
  dependencies: string[];
}

/** The production dependency folders, from npm's own view of the installed tree. */
function productionPackages(): string[] {
  const out = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.split('\n').map((l) => l.trim()).filter((l) => l && resolve(l) !== ROOT);
}

function copyPackage(from: string, to: string, app: string, zip: Zippable): number {
  let files = 0;
  for (const name of readdirSync(from)) {
    if (name === 'node_modules') continue; // nested dependencies are listed on their own
    const source = join(from, name);
    const target = join(to, name);
    const rel = relative(ROOT, source).split(sep).join('/');
    if (statSync(source).isDirectory()) {
      files += copyPackage(source, target, app, zip);
    } else if (!SKIP.test(rel)) {
      mkdirSync(to, { recursive: true });
      cpSync(source, target);
      zip[relative(app, target).split(sep).join('/')] = readFileSync(source);
      files++;
    }
  }
  return files;
}

export async function buildPackage(options: PackageOptions = {}): Promise<PackageResult> {
  if (options.build !== false) {
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  }
  const dist = options.distDir ?? join(ROOT, 'dist');
  const app = options.stageDir ?? join(ROOT, 'deploy');
  const zipPath = options.zipPath ?? join(ROOT, 'deploy.zip');
  for (const name of existsSync(app) ? readdirSync(app) : []) if (name !== '.gitignore') rmSync(join(app, name), { recursive: true, force: true });
  mkdirSync(app, { recursive: true });
  const zip: Zippable = {};
  let files = 0;
  const add = (rel: string, content: Buffer | string) => {
    const target = join(app, rel);
    mkdirSync(join(target, '..'), { recursive: true });
    writeFileSync(target, content);
    zip[rel.split(sep).join('/')] = typeof content === 'string' ? Buffer.from(content) : content;
    files++;
  };
  for (const folder of ['functions', 'shared', 'console']) {
    if (!existsSync(join(dist, folder))) throw new Error(`${join(dist, folder)} is missing: run npm run build`);
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (!path.endsWith('.map')) add(join('dist', relative(dist, path)), readFileSync(path));
      }
    };
    walk(join(dist, folder));
  }
  add('host.json', readFileSync(join(ROOT, 'host.json')));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const deployed = { name: pkg.name, version: pkg.version, private: true, description: pkg.description, type: pkg.type, main: 'dist/functions/*.js', engines: pkg.engines, dependencies: pkg.dependencies };
  add('package.json', `${JSON.stringify(deployed, null, 2)}\n`);
  const dependencies = productionPackages();
  for (const dir of dependencies) files += copyPackage(dir, join(app, relative(ROOT, dir)), app, zip);
  const zipped = zipSync(zip, { level: 6 });
  writeFileSync(zipPath, zipped);
  return { zipPath, zipBytes: zipped.byteLength, files, dependencies: dependencies.map((d) => relative(join(ROOT, 'node_modules'), d).split(sep).join('/')) };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const result = await buildPackage({ build: !process.argv.includes('--no-build') });
  console.log(`Packaged ${result.files} files (${result.dependencies.length} production dependencies) into ${relative(ROOT, result.zipPath)}: ${(result.zipBytes / 2 ** 20).toFixed(1)} MB`);
}
