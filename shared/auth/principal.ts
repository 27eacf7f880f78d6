/**
 * The caller, from App Service Authentication's `x-ms-client-principal` header (base64 JSON).
 * Only App Service's front end can set that header: the app must run behind it in Azure.
 */
export type Role = 'admin' | 'contributor';

export interface Principal {
  name: string;
  roles: Role[];
}

export const ADMIN_ROLE = 'Exports.Admin';
export const CONTRIBUTOR_ROLE = 'Exports.Contributor';
const ROLE_CLAIM_TYPES = ['roles', 'role', 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role'];
const NAME_CLAIM_TYPES = ['name', 'preferred_username', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name'];

interface ClientPrincipal {
  auth_typ?: unknown;
  name_typ?: unknown;
  role_typ?: unknown;
  claims?: unknown[];
}

export function readPrincipal(header: string | null | undefined): Principal | undefined {
  if (!header) return undefined;
  let parsed: ClientPrincipal;
  try {
    parsed = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as ClientPrincipal;
  } catch {
    return undefined;
  }
  if (!parsed || typeof parsed !== 'object' || !Array.isArray(parsed.claims)) return undefined;
  // A claim that is not an object with string members is ignored, never trusted or thrown on.
  const claims = parsed.claims.filter((c): c is { typ: string; val: string } => {
    const claim = c as { typ?: unknown; val?: unknown } | null;
    return !!claim && typeof claim === 'object' && typeof claim.typ === 'string' && typeof claim.val === 'string';
  });
  const roleTypes = new Set([parsed.role_typ, ...ROLE_CLAIM_TYPES].filter((t): t is string => typeof t === 'string'));
  const nameTypes = [parsed.name_typ, ...NAME_CLAIM_TYPES].filter((t): t is string => typeof t === 'string');
  const values = new Set(claims.filter((c) => roleTypes.has(c.typ)).map((c) => c.val));
  const roles: Role[] = [];
  if (values.has(ADMIN_ROLE)) roles.push('admin');
  if (values.has(CONTRIBUTOR_ROLE)) roles.push('contributor');
  const name = nameTypes.map((t) => claims.find((c) => c.typ === t)?.val).find(Boolean) ?? 'unknown';
  return { name, roles };
}

export const isAdmin = (p: Principal) => p.roles.includes('admin');
export const isContributor = (p: Principal) => p.roles.includes('admin') || p.roles.includes('contributor');

/** The caller's highest role, or none (signed in without an app role: the API refuses everything else). */
export const roleOf = (p: Principal): Role | 'none' =>
  isAdmin(p) ? 'admin' : isContributor(p) ? 'contributor' : 'none';

/** The header value for a principal with the given roles (local runs, demo, tests). */
export function principalHeader(name: string, roles: string[]): string {
  const principal = {
    auth_typ: 'aad',
    name_typ: 'name',
    role_typ: 'roles',
    claims: [{ typ: 'name', val: name }, ...roles.map((r) => ({ typ: 'roles', val: r }))],
  };
  return Buffer.from(JSON.stringify(principal)).toString('base64');
}
