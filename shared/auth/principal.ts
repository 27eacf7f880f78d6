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
  auth_typ?: string;
  name_typ?: string;
  role_typ?: string;
  claims?: { typ?: string; val?: string }[];
}

export function readPrincipal(header: string | null | undefined): Principal | undefined {
  if (!header) return undefined;
  let parsed: ClientPrincipal;
  try {
    parsed = JSON.parse(Buffer.from(header, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!parsed || typeof parsed !== 'object' || !Array.isArray(parsed.claims)) return undefined;
  const roleTypes = new Set([parsed.role_typ, ...ROLE_CLAIM_TYPES].filter(Boolean));
  const nameTypes = [parsed.name_typ, ...NAME_CLAIM_TYPES].filter(Boolean);
  const values = new Set(parsed.claims.filter((c) => roleTypes.has(c.typ)).map((c) => c.val));
  const roles: Role[] = [];
  if (values.has(ADMIN_ROLE)) roles.push('admin');
  if (values.has(CONTRIBUTOR_ROLE)) roles.push('contributor');
  const name = nameTypes.map((t) => parsed.claims!.find((c) => c.typ === t)?.val).find(Boolean) ?? 'unknown';
  return { name, roles };
}

export const isAdmin = (p: Principal) => p.roles.includes('admin');
export const isContributor = (p: Principal) => p.roles.includes('admin') || p.roles.includes('contributor');

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
