import { hash } from 'node:crypto';
import type { ImportContact } from '../activecampaign/client.js';

/** JSON with object keys sorted at every level, so equal contacts always serialize alike. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonicalJson(value[i]);
    return `${out}]`;
  }
  if (value && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    const keys = Object.keys(object).sort();
    let out = '{';
    for (const key of keys) {
      if (object[key] === undefined) continue;
      out += `${out.length > 1 ? ',' : ''}${JSON.stringify(key)}:${canonicalJson(object[key])}`;
    }
    return `${out}}`;
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
  // The first 12 hex digits of the digest, read as a number without making the hex text.
  return hash('sha256', `${listId}\n${canonicalJson(content)}`, 'buffer').readUIntBE(0, 6);
}
