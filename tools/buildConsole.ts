/**
 * Builds the admin console (Vite) into dist/console, or checks that the build is newer than its
 * sources. `npm run build` always builds; `npm start` and the tests build only what is stale.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const SOURCES = [join(ROOT, 'console'), join(ROOT, 'shared', 'model.ts')];
const BUILT = join(ROOT, 'dist', 'console', 'index.html');

function newest(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

export async function buildConsole(): Promise<void> {
  const { build } = await import('vite');
  await build({ configFile: join(ROOT, 'console', 'vite.config.ts'), logLevel: 'warn' });
}

/** Builds the console when dist/console is missing or older than its sources; true when it built. */
export async function ensureConsoleBuilt(): Promise<boolean> {
  if (existsSync(BUILT) && statSync(BUILT).mtimeMs >= Math.max(...SOURCES.map(newest))) return false;
  await buildConsole();
  return true;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  await buildConsole();
  console.log('Built the console into dist/console');
}
