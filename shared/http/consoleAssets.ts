import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, resolve, sep } from 'node:path';
import type { HttpResponseInit } from '@azure/functions';

/**
 * The admin console's built files (Vite writes them to dist/console), served by the app itself at
 * its root URL: one deployment, behind the same sign-in, no CDN.
 */
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/**
 * No inline script, no framing, nothing from elsewhere. Styles may be inline: Fluent UI's
 * CSS-in-JS (Griffel) inserts its rules as <style> elements at run time.
 */
export const CONSOLE_SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/** The folder of the built console: dist/console under the package root (found from this module, built or not). */
export function consoleDir(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'dist', 'console');
}

/** The precompressed copy the browser takes (the build writes .br and .gz beside each text file). */
function encodingFor(acceptEncoding: string): { suffix: string; encoding: string }[] {
  const accepted = new Set(
    acceptEncoding
      .toLowerCase()
      .split(',')
      .map((part) => part.trim())
      .filter((part) => !/;\s*q=0(\.0*)?$/.test(part))
      .map((part) => part.split(';')[0].trim()),
  );
  return [
    ...(accepted.has('br') ? [{ suffix: '.br', encoding: 'br' }] : []),
    ...(accepted.has('gzip') ? [{ suffix: '.gz', encoding: 'gzip' }] : []),
  ];
}

/** A console file for a request path: `/` is the page, `/assets/…` its hashed files; nothing outside the folder. */
export async function consoleFile(path: string, root = consoleDir(), acceptEncoding = ''): Promise<HttpResponseInit> {
  const relative = path.replace(/^\/+/, '') || 'index.html';
  const file = resolve(root, relative);
  if (!file.startsWith(root + sep) || /\.(br|gz)$/.test(file)) return notFound();
  let body: Buffer | undefined;
  let encoding: string | undefined;
  for (const candidate of encodingFor(acceptEncoding)) {
    try {
      body = await readFile(file + candidate.suffix);
      encoding = candidate.encoding;
      break;
    } catch {
      // Not precompressed (an image): the file as it is.
    }
  }
  try {
    body ??= await readFile(file);
  } catch {
    if (relative === 'index.html') {
      return {
        status: 503,
        headers: { ...CONSOLE_SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' },
        body: 'The console is not built: run `npm run build`.',
      };
    }
    return notFound();
  }
  const hashed = relative.startsWith('assets/');
  return {
    status: 200,
    body,
    headers: {
      ...CONSOLE_SECURITY_HEADERS,
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
      vary: 'accept-encoding',
      ...(encoding ? { 'content-encoding': encoding } : {}),
    },
  };
}

const notFound = (): HttpResponseInit => ({
  status: 404,
  headers: { ...CONSOLE_SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' },
  body: 'Not found',
});
