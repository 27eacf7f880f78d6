/**
 * Builds the admin console (Vite) into dist/console, or checks that the build is newer than its
 * sources. `npm run build` always builds; `npm start` and the tests build only what is stale.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, constants as zlibConstants, gzipSync } from 'node:zlib';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
// The console imports the model and the request schemas from shared/.
const SOURCES = [join(ROOT, 'console'), join(ROOT, 'shared')];
const BUILT = join(ROOT, 'dist', 'console', 'index.html');

function newest(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

export async function buildConsole(): Promise<void> {
  const { build } = await import('vite');
  // The build people get, whoever asks for it: a test runner sets NODE_ENV=test, which would give
  // React's development build (StrictMode then mounts every component twice).
  const before = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ configFile: join(ROOT, 'console', 'vite.config.ts'), logLevel: 'warn', mode: 'production' });
  } finally {
    if (before === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = before;
  }
  precompress(join(ROOT, 'dist', 'console'));
}

/**
 * Brotli and gzip copies of the text files beside them, made once here rather than at every
 * request: the app serves the one the browser accepts (the script is 700 KB, 170 KB as Brotli).
 */
function precompress(dir: string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) precompress(path);
    else if (/\.(js|css|html|svg|json)$/.test(name)) {
      const body = readFileSync(path);
      writeFileSync(
        `${path}.br`,
        brotliCompressSync(body, {
          params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: body.length },
        }),
      );
      writeFileSync(`${path}.gz`, gzipSync(body, { level: 9 }));
    }
  }
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
