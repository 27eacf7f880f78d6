/**
 * The local runner's development sign-in: what App Service Authentication does in Azure, for a
 * machine without it. A browser signs in with a name and a role (Administrator or Contributor) at
 * /.auth/login/dev and gets a session cookie; the runner turns that cookie into the
 * `x-ms-client-principal` header the app reads, as App Service does. A request that already
 * carries the header is taken as it is. Refused when the app runs in Azure (WEBSITE_INSTANCE_ID).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ADMIN_ROLE, CONTRIBUTOR_ROLE, principalHeader } from '../../shared/auth/principal.js';

const COOKIE = 'dev-principal';
const ROLES: Record<string, string> = { admin: ADMIN_ROLE, contributor: CONTRIBUTOR_ROLE };
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(error?: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Development sign-in</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#242424}label{display:block;margin:1rem 0 .25rem;font-weight:600}
input,select{width:100%;padding:.4rem;font-size:1rem;box-sizing:border-box}button{margin-top:1.5rem;padding:.5rem 1.25rem;font-size:1rem;background:#0f6cbd;color:#fff;border:0;border-radius:4px}
p.note{color:#616161}p.error{color:#b10e1c}</style></head><body>
<main><h1>Development sign-in</h1>
<p class="note">The local runner stands in for App Service Authentication: choose who you are. In Azure, Entra ID signs you in instead.</p>
${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/.auth/login/dev">
<label for="name">Name</label><input id="name" name="name" required maxlength="100" autocomplete="username" value="admin@example.com">
<label for="role">Role</label><select id="role" name="role"><option value="admin">Administrator</option><option value="contributor">Contributor</option></select>
<button type="submit">Sign in</button>
</form></main></body></html>`;
}

function cookieValue(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === COOKIE) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

/** Adds the session's principal header to a request that has none (as App Service Authentication does). */
export function applyDevSession(req: IncomingMessage): void {
  if (req.headers['x-ms-client-principal'] || process.env.WEBSITE_INSTANCE_ID) return;
  const principal = cookieValue(req);
  if (principal) req.headers['x-ms-client-principal'] = principal;
}

/** Serves /.auth/…; true when the request was one of them. */
export async function serveDevSignIn(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
  if (!path.startsWith('/.auth/')) return false;
  if (process.env.WEBSITE_INSTANCE_ID) {
    res
      .writeHead(403, { 'content-type': 'text/plain; charset=utf-8' })
      .end(
        'The development sign-in is not available when the app runs in Azure: App Service Authentication signs people in.',
      );
    return true;
  }
  if (path === '/.auth/login/aad' || (path === '/.auth/login/dev' && req.method === 'GET')) {
    // The console links to Entra ID's sign-in, as in Azure; here that is the development sign-in.
    if (path === '/.auth/login/aad') res.writeHead(302, { location: '/.auth/login/dev' }).end();
    else res.writeHead(200, PAGE_HEADERS).end(page());
    return true;
  }
  if (path === '/.auth/login/dev' && req.method === 'POST') {
    let body = '';
    for await (const chunk of req) body += chunk;
    const form = new URLSearchParams(body);
    const name = (form.get('name') ?? '').trim();
    const role = ROLES[form.get('role') ?? ''];
    if (!name || name.length > 100 || !role) {
      res.writeHead(400, PAGE_HEADERS).end(page('Give a name and choose a role.'));
      return true;
    }
    const value = encodeURIComponent(principalHeader(name, [role]));
    res.writeHead(302, { location: '/', 'set-cookie': `${COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict` }).end();
    return true;
  }
  if (path === '/.auth/logout') {
    res
      .writeHead(302, { location: '/', 'set-cookie': `${COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0` })
      .end();
    return true;
  }
  res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found');
  return true;
}
