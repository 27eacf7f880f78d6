import { domainToASCII } from 'node:url';

/**
 * The email rule. ActiveCampaign does not document the check its importer applies, so the app
 * follows the standards, and an address ActiveCampaign still refuses comes back as a per-contact
 * failure reason (recorded in the rejected rows):
 * - the local part is a dot-atom of RFC 5322's atext (letters, digits and ! # $ % & ' * + - / = ? ^ _ ` { | } ~,
 *   single dots between them), at most 64 characters (RFC 5321 §4.5.3.1.1); quoted local parts and
 *   non-ASCII local parts (RFC 6531) are refused;
 * - the domain is converted to its ASCII (punycode) form by IDNA (WHATWG URL's domainToASCII, which
 *   also lower-cases it), and must be dot-separated labels of letters, digits and inner hyphens,
 *   the last one not all digits, not an IP literal; the address is at most 254 characters;
 * - control characters and invisible format characters (zero-width spaces and joiners, a BOM,
 *   direction marks) are refused with their code point, not removed: an address that hides them
 *   is not the one its owner typed;
 * - only ASCII letters are lower-cased (as ActiveCampaign matches addresses), so no address turns
 *   into another string: "İ" is never lower-cased to "i̇".
 */
const ATEXT = "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]+";
const LOCAL_PART = new RegExp(`^${ATEXT}(?:\\.${ATEXT})*$`);
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_EMAIL_LENGTH = 254;
const MAX_LOCAL_LENGTH = 64;
// Cc (controls) and Cf (format characters: zero-width space and joiners, BOM, direction marks).
const HIDDEN = /[\p{Cc}\p{Cf}]/u;

export type EmailCheck = { email: string; problem?: undefined } | { email?: undefined; problem: string };

const codePoint = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/** Domains repeat (a segment's emails share a few hundred): each is converted and checked once. '' when invalid. */
const checkedDomains = new Map<string, string>();
const MAX_CACHED_DOMAINS = 10_000;

function checkedDomain(text: string): string {
  let checked = checkedDomains.get(text);
  if (checked === undefined) {
    const ascii = domainToASCII(text);
    const labels = ascii.split('.');
    checked =
      ascii && labels.length >= 2 && labels.every((l) => LABEL.test(l)) && !/^\d+$/.test(labels.at(-1)!) ? ascii : '';
    if (checkedDomains.size >= MAX_CACHED_DOMAINS) checkedDomains.clear();
    checkedDomains.set(text, checked);
  }
  return checked;
}

export function checkEmail(value: string | undefined): EmailCheck {
  const raw = (value ?? '').trim();
  if (!raw) return { problem: 'missing email' };
  const hidden = HIDDEN.exec(raw);
  if (hidden) return { problem: `invalid email: contains an invisible or control character (${codePoint(hidden[0])})` };
  const at = raw.lastIndexOf('@');
  if (at <= 0 || at === raw.length - 1 || raw.indexOf('@') !== at)
    return { problem: 'invalid email: it needs exactly one "@" between a name and a domain' };
  const local = raw.slice(0, at);
  const domainText = raw.slice(at + 1);
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(local))
    return { problem: 'invalid email: non-ASCII characters before the "@" are not accepted' };
  if (!LOCAL_PART.test(local))
    return { problem: 'invalid email: the part before the "@" has a character or dot that is not allowed' };
  if (local.length > MAX_LOCAL_LENGTH)
    return { problem: `invalid email: more than ${MAX_LOCAL_LENGTH} characters before the "@"` };
  if (domainText.startsWith('[')) return { problem: 'invalid email: an IP address is not accepted as the domain' };
  const domain = checkedDomain(domainText);
  if (!domain) return { problem: 'invalid email: the domain is not a valid domain name' };
  const email = `${/[A-Z]/.test(local) ? local.replace(/[A-Z]/g, (c) => c.toLowerCase()) : local}@${domain}`;
  if (email.length > MAX_EMAIL_LENGTH) return { problem: `invalid email: longer than ${MAX_EMAIL_LENGTH} characters` };
  return { email };
}
