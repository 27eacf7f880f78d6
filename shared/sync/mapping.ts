import type { ImportContact } from '../activecampaign/client.js';
import type { DataMapping, FieldDefinition } from '../model.js';
import { checkEmail } from './email.js';
import { convertFieldValue } from './fieldValues.js';
import { checkPhone } from './phone.js';
import { tagsOfCell } from './values.js';

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
  tags?: string;
  identity?: string;
  fields: [fieldId: number, column: string][];
}

/**
 * Finds each mapped column among the source's columns: the exact name first, then a
 * case-insensitive match; two case-insensitive matches are ambiguous.
 */
export function resolveMapping(
  mapping: DataMapping,
  columns: readonly string[],
  where = 'the segment',
): ResolvedMapping {
  const find = (wanted: string, role: string): string => {
    if (columns.includes(wanted)) return wanted;
    const matches = columns.filter((c) => c.toLowerCase() === wanted.toLowerCase());
    if (matches.length === 1) return matches[0];
    if (matches.length > 1)
      throw new MappingError(`${where}: the ${role} column "${wanted}" is ambiguous (${matches.join(', ')})`);
    throw new MappingError(
      `${where} has no ${role} column "${wanted}" (columns: ${columns.slice(0, 20).join(', ')}${columns.length > 20 ? ', …' : ''})`,
    );
  };
  return {
    email: find(mapping.email, 'email'),
    firstName: mapping.firstName ? find(mapping.firstName, 'first name') : undefined,
    lastName: mapping.lastName ? find(mapping.lastName, 'last name') : undefined,
    phone: mapping.phone ? find(mapping.phone, 'phone') : undefined,
    tags: mapping.tags ? find(mapping.tags, 'tags') : undefined,
    identity: mapping.identity ? find(mapping.identity, 'identity') : undefined,
    fields: Object.entries(mapping.fields ?? {}).map(([id, column]) => [Number(id), find(column, `field ${id}`)]),
  };
}

/** The columns a mapping reads, as it names them. */
export function mappedColumns(mapping: DataMapping): string[] {
  const named = [
    mapping.email,
    mapping.firstName,
    mapping.lastName,
    mapping.phone,
    mapping.tags,
    mapping.identity,
    ...Object.values(mapping.fields ?? {}),
  ];
  return [...new Set(named.filter((c): c is string => !!c))];
}

/** What every contact of an export gets besides its row: static tags, and the fields' types. */
export interface MappingContext {
  tags?: readonly string[];
  fieldTypes?: Readonly<Record<string, FieldDefinition>>;
}

/**
 * A contact, or why the row is rejected: `reason` for the rejected rows, `category` (no values) for the run's summary.
 */
export type MapResult =
  | { contact: ImportContact; identity?: string; reason?: undefined; category?: undefined }
  | { contact?: undefined; reason: string; category: string };

const refuse = (reason: string, category = reason): MapResult => ({ reason, category });

/**
 * One source row as the importer's contact (without list membership). Empty optional values are
 * left out, so a blank cell never wipes a value already in ActiveCampaign.
 */
export function mapRecord(
  record: Record<string, string>,
  resolved: ResolvedMapping,
  context: MappingContext = {},
): MapResult {
  const email = checkEmail(record[resolved.email]);
  if (email.problem !== undefined) return refuse(email.problem);
  const contact: ImportContact = { email: email.email };
  const firstName = cellText(record, resolved.firstName);
  const lastName = cellText(record, resolved.lastName);
  const phone = cellText(record, resolved.phone);
  if (firstName) contact.first_name = firstName;
  if (lastName) contact.last_name = lastName;
  if (phone) {
    const checked = checkPhone(phone);
    if (checked.problem !== undefined) return refuse(`column "${resolved.phone}": ${checked.problem}`, checked.problem);
    contact.phone = checked.phone;
  }
  for (const [id, column] of resolved.fields) {
    const value = cellText(record, column);
    if (!value) continue;
    const converted = convertFieldValue(value, context.fieldTypes?.[String(id)], column);
    if (converted.problem !== undefined) return refuse(converted.problem, converted.category);
    if (converted.value) (contact.fields ??= []).push({ id, value: converted.value });
  }
  const cell = resolved.tags ? tagsOfCell(cellText(record, resolved.tags)) : { tags: [] };
  if (cell.problem !== undefined)
    return refuse(`column "${resolved.tags}": ${cell.problem}`, `column "${resolved.tags}": tags that cannot be sent`);
  const tags = [...(context.tags ?? []), ...cell.tags];
  if (tags.length > 0) contact.tags = [...new Set(tags)];
  const identity = cellText(record, resolved.identity);
  if (!identity) return { contact };
  // Kept in the export's state, one line per contact: no tab or line break, and short.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(identity) || identity.length > MAX_IDENTITY_LENGTH)
    return refuse(
      `column "${resolved.identity}": an identity has at most ${MAX_IDENTITY_LENGTH} characters and no control characters`,
      'identity that cannot be kept',
    );
  return { contact, identity };
}

const MAX_IDENTITY_LENGTH = 256;

/** A mapped cell's text, trimmed ('' for a column the mapping does not use). */
function cellText(record: Record<string, string>, column: string | undefined): string {
  return column === undefined ? '' : (record[column] ?? '').trim();
}
