import type { ImportContact } from '../activecampaign/client.js';
import type { DataMapping } from '../model.js';
import { emailProblem, normalizeEmail } from './email.js';

/** A mapped column that is missing or ambiguous in the source. */
export class MappingError extends Error {
  override readonly name = 'MappingError';
  readonly code = 'MappingError';
}

/** Mapping role → the source column it reads. */
export interface ResolvedMapping {
  email: string;
  firstName?: string;
  lastName?: string;
  phone?: string;
  fields: [fieldId: number, column: string][];
}

/**
 * Finds each mapped column among the source's columns: the exact name first, then a
 * case-insensitive match; two case-insensitive matches are ambiguous.
 */
export function resolveMapping(mapping: DataMapping, columns: readonly string[], where = 'the segment'): ResolvedMapping {
  const find = (wanted: string, role: string): string => {
    if (columns.includes(wanted)) return wanted;
    const matches = columns.filter((c) => c.toLowerCase() === wanted.toLowerCase());
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) throw new MappingError(`${where}: the ${role} column "${wanted}" is ambiguous (${matches.join(', ')})`);
    throw new MappingError(`${where} has no ${role} column "${wanted}" (columns: ${columns.slice(0, 20).join(', ')}${columns.length > 20 ? ', …' : ''})`);
  };
  return {
    email: find(mapping.email, 'email'),
    firstName: mapping.firstName ? find(mapping.firstName, 'first name') : undefined,
    lastName: mapping.lastName ? find(mapping.lastName, 'last name') : undefined,
    phone: mapping.phone ? find(mapping.phone, 'phone') : undefined,
    fields: Object.entries(mapping.fields ?? {}).map(([id, column]) => [Number(id), find(column, `field ${id}`)]),
  };
}

export type MapResult = { contact: ImportContact; reason?: undefined } | { contact?: undefined; reason: string };

/**
 * One source row as the importer's contact (without list membership). Empty optional values are
 * left out, so a blank cell never wipes a value already in ActiveCampaign.
 */
export function mapRecord(record: Record<string, string>, resolved: ResolvedMapping): MapResult {
  const email = normalizeEmail(record[resolved.email]);
  const problem = emailProblem(email);
  if (problem) return { reason: problem };
  const contact: ImportContact = { email };
  const text = (column: string | undefined) => (column === undefined ? '' : (record[column] ?? '').trim());
  const firstName = text(resolved.firstName);
  const lastName = text(resolved.lastName);
  const phone = text(resolved.phone);
  if (firstName) contact.first_name = firstName;
  if (lastName) contact.last_name = lastName;
  if (phone) contact.phone = phone;
  for (const [id, column] of resolved.fields) {
    const value = text(column);
    if (value) (contact.fields ??= []).push({ id, value });
  }
  return { contact };
}
