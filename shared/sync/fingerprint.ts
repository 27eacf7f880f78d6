import { createHash } from 'node:crypto';
import type { ImportContact } from '../activecampaign/client.js';

/** JSON with object keys sorted at every level, so equal contacts always serialize alike. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * What was sent for a contact, as 48 bits of SHA-256 over its canonical JSON and the list id: a
 * changed value, a changed mapping, a tag or another list all count as a change.
 */
export function fingerprint(contact: ImportContact, listId: number): number {
  const { subscribe: _s, unsubscribe: _u, ...content } = contact;
  if (content.fields) content.fields = [...content.fields].sort((a, b) => a.id - b.id);
  if (content.tags) content.tags = [...content.tags].sort();
  return parseInt(
    createHash('sha256')
      .update(`${listId}\n${canonicalJson(content)}`)
      .digest('hex')
      .slice(0, 12),
    16,
  );
}
