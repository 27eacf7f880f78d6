/**
 * The email rule, close to what ActiveCampaign's importer accepts: one "@", a local part without
 * spaces, quotes, angle brackets, commas, semicolons, colons or backslashes, and a domain of
 * dot-separated labels (letters, digits, inner hyphens) ending in a letters-only TLD of two or
 * more characters. Addresses are trimmed and lower-cased before the check and for matching.
 */
const EMAIL = /^[^\s@"'<>(),;:\\[\]]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}$/;
/** RFC 5321's limit on a path. */
const MAX_EMAIL_LENGTH = 254;

export function normalizeEmail(value: string | undefined): string {
  return (value ?? '').trim().toLowerCase();
}

/** Why an (already normalized) email is refused, or undefined when it is fine. */
export function emailProblem(email: string): string | undefined {
  if (!email) return 'missing email';
  if (email.length > MAX_EMAIL_LENGTH) return `email longer than ${MAX_EMAIL_LENGTH} characters`;
  if (!EMAIL.test(email) || email.includes('..') || email.startsWith('.') || email.split('@')[0].endsWith('.')) return 'invalid email';
  return undefined;
}
