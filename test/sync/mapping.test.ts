import { describe, expect, it } from 'vitest';
import { createExportSchema } from '../../shared/exports/exportSchema.js';
import { tagProblem } from '../../shared/sync/values.js';
import { checkEmail } from '../../shared/sync/email.js';
import { mapRecord, MappingError, resolveMapping } from '../../shared/sync/mapping.js';

describe('email rule', () => {
  it.each([
    'a@example.com',
    'first.last+tag@sub.example.co.uk',
    "o'brien@example.ie",
    'x_y-z@ex-ample.io',
    "a!#$%&'*+/=?^_`{|}~-@example.com",
    'user@example.xn--p1ai',
  ])('accepts %s', (e) => {
    expect(checkEmail(e)).toEqual({ email: e.toLowerCase() });
  });
  it.each([
    ['', 'missing email'],
    ['plainaddress', 'invalid email: it needs exactly one "@" between a name and a domain'],
    ['a@b', 'invalid email: the domain is not a valid domain name'],
    ['a b@example.com', /before the "@" has a character/],
    ['a@@example.com', /exactly one "@"/],
    ['a@example.123', /domain/],
    ['.a@example.com', /before the "@"/],
    ['a..b@example.com', /before the "@"/],
    ['a@-example.com', /domain/],
    ['"quoted"@example.com', /before the "@"/],
    ['a@[127.0.0.1]', /IP address/],
    ['jöran@example.com', /non-ASCII/],
    [`${'x'.repeat(65)}@example.com`, /more than 64/],
  ])('refuses %j', (e, reason) => {
    const { problem } = checkEmail(e);
    if (typeof reason === 'string') expect(problem).toBe(reason);
    else expect(problem).toMatch(reason);
  });
  it.each([
    ['a\u0000b@example.com', 'U+0000'],
    ['ab\u0007@example.com', 'U+0007'],
    ['a\u200bb@example.com', 'U+200B'],
    ['a@exa\u200dmple.com', 'U+200D'],
    ['a\ufeffb@example.com', 'U+FEFF'],
    ['a\u202eb@example.com', 'U+202E'],
  ])('refuses control and invisible characters, naming them: %j', (e, code) => {
    expect(checkEmail(e).problem).toBe(`invalid email: contains an invisible or control character (${code})`);
  });
  it('trims and lower-cases ASCII letters only', () => {
    expect(checkEmail('  Jane.Doe@Example.COM \t')).toEqual({ email: 'jane.doe@example.com' });
    // "İ".toLowerCase() is "i̇" (two code points): such a local part is refused, never turned into another address.
    expect(checkEmail('İnci@example.com').problem).toMatch(/non-ASCII/);
  });
  it('converts an internationalised domain to punycode', () => {
    expect(checkEmail('kontakt@Bücher.example')).toEqual({ email: 'kontakt@xn--bcher-kva.example' });
    expect(checkEmail('a@xn--.example').problem).toMatch(/domain/);
  });
});

describe('resolveMapping', () => {
  const columns = ['Email', 'first_name', 'LastName', 'Tier', 'tier ', 'City', 'CITY'];

  it('matches exactly first, then case-insensitively', () => {
    const r = resolveMapping(
      { email: 'email', firstName: 'FIRST_NAME', lastName: 'LastName', fields: { '3': 'Tier' } },
      columns,
    );
    expect(r).toEqual({
      email: 'Email',
      firstName: 'first_name',
      lastName: 'LastName',
      phone: undefined,
      tags: undefined,
      fields: [[3, 'Tier']],
    });
  });

  it('refuses an ambiguous column', () => {
    expect(() => resolveMapping({ email: 'Email', fields: { '1': 'city' } }, columns)).toThrow(
      /ambiguous \(City, CITY\)/,
    );
  });

  it('refuses a missing column, naming it', () => {
    expect(() => resolveMapping({ email: 'mail' }, columns, 'seg.csv')).toThrow(MappingError);
    expect(() => resolveMapping({ email: 'mail' }, columns, 'seg.csv')).toThrow(/seg.csv has no email column "mail"/);
  });
});

describe('mapRecord', () => {
  const resolved = resolveMapping({ email: 'e', firstName: 'f', phone: 'p', fields: { '7': 'tier' } }, [
    'e',
    'f',
    'p',
    'tier',
  ]);

  it('maps to the importer contact shape and leaves empty values out', () => {
    expect(mapRecord({ e: ' A@Example.com ', f: ' Ann ', p: '', tier: 'gold' }, resolved)).toEqual({
      contact: { email: 'a@example.com', first_name: 'Ann', fields: [{ id: 7, value: 'gold' }] },
    });
  });

  it('gives the reason for a refused row', () => {
    expect(mapRecord({ e: 'nope', f: 'x', p: '', tier: '' }, resolved).reason).toMatch(/^invalid email/);
    expect(mapRecord({ e: '   ', f: 'x', p: '', tier: '' }, resolved)).toEqual({
      reason: 'missing email',
      category: 'missing email',
    });
  });

  it('trims phones and refuses those with letters or too many characters, naming the column', () => {
    expect(
      mapRecord({ e: 'a@example.com', f: '', p: ' +47 (22) 12-34.56 ext. 9 ', tier: '' }, resolved).contact?.phone,
    ).toBe('+47 (22) 12-34.56 ext. 9');
    expect(mapRecord({ e: 'a@example.com', f: '', p: 'call me', tier: '' }, resolved).reason).toBe(
      'column "p": invalid phone: only digits, spaces, + ( ) - . / and an extension are allowed',
    );
    expect(mapRecord({ e: 'a@example.com', f: '', p: '=1+2', tier: '' }, resolved).reason).toMatch(/invalid phone/);
    expect(mapRecord({ e: 'a@example.com', f: '', p: '1'.repeat(31), tier: '' }, resolved).reason).toMatch(
      /longer than 30/,
    );
  });

  it('adds static tags and the tags of a column, once each', () => {
    const withTags = resolveMapping({ email: 'e', tags: 'segments' }, ['e', 'segments']);
    const row = { e: 'a@example.com', segments: 'VIP; EU ;VIP' };
    expect(mapRecord(row, withTags, { tags: ['CI: High value', 'EU'] }).contact?.tags).toEqual([
      'CI: High value',
      'EU',
      'VIP',
    ]);
    expect(mapRecord({ e: 'a@example.com', segments: '["x","y"]' }, withTags).contact?.tags).toEqual(['x', 'y']);
    expect(mapRecord({ e: 'a@example.com', segments: '' }, withTags).contact?.tags).toBeUndefined();
  });

  it.each([
    ['[1,{"x":1},null,"ok"]', 'the JSON array holds 1, which is not a text'],
    ['["ok",{"x":1}]', 'the JSON array holds {"x":1}, which is not a text'],
    ['["unterminated', '"[\\"unterminated" starts like a JSON array but is not one'],
    [
      Array.from({ length: 50 }, (_, i) => `t${i}`).join(';'),
      '50 tags, more than the 20 a contact may get from one cell',
    ],
    ['x'.repeat(300), `the tag "${'x'.repeat(40)}…" is longer than 255 characters`],
    ['ring\u0007bell', 'the tag "ring\\u0007bell" contains a control character'],
    ['["\u200b\u200d"]', 'a tag must have a visible character'],
    ['["CI: VIP; Gold"]', 'the tag "CI: VIP; Gold" contains ";", which separates tags'],
    ['["\u202eevil"]', 'the tag "\u202eevil" contains a character that reorders text'],
  ])('rejects the row whose tags cell is %j, naming why (ActiveCampaign never removes a tag)', (cell, why) => {
    const withTags = resolveMapping({ email: 'e', tags: 'segments' }, ['e', 'segments']);
    const mapped = mapRecord({ e: 'a@example.com', segments: cell }, withTags);
    expect(mapped.contact).toBeUndefined();
    expect(mapped.reason).toBe(`column "segments": ${why}`);
    expect(mapped.category).toBe('column "segments": tags that cannot be sent');
  });
});

describe('the tag rule, for export tags too', () => {
  it('refuses what a column may not hold either', () => {
    expect(tagProblem('VIP')).toBeUndefined();
    expect(tagProblem('\u200b')).toBe('a tag must have a visible character');
    expect(tagProblem('a;b')).toMatch(/separates tags/);
    expect(createExportSchema.shape.tags.safeParse(['\u200b\u2060']).error?.issues[0].message).toBe(
      'a tag must have a visible character',
    );
    expect(createExportSchema.shape.tags.safeParse(['CI: VIP; Gold']).error?.issues[0].message).toMatch(
      /contains ";", which separates tags/,
    );
    expect(createExportSchema.shape.tags.safeParse([' CI: VIP ', 'Gold']).data).toEqual(['CI: VIP', 'Gold']);
  });
});

describe('typed custom fields', () => {
  const fieldTypes = {
    '1': { id: '1', title: 'Birthday', type: 'date' },
    '2': { id: '2', title: 'Joined', type: 'datetime' },
    '3': { id: '3', title: 'Tier', type: 'dropdown', options: ['Gold', 'Silver'] },
    '4': { id: '4', title: 'Interests', type: 'checkbox', options: ['Golf', 'Sailing', 'Chess'] },
    '5': { id: '5', title: 'Score', type: 'number' },
  };
  const resolved = resolveMapping(
    { email: 'e', fields: { '1': 'bday', '2': 'joined', '3': 'tier', '4': 'interests', '5': 'score' } },
    ['e', 'bday', 'joined', 'tier', 'interests', 'score'],
  );
  const map = (row: Record<string, string>) =>
    mapRecord({ e: 'a@example.com', bday: '', joined: '', tier: '', interests: '', score: '', ...row }, resolved, {
      fieldTypes,
    });
  const value = (row: Record<string, string>, id: number) => map(row).contact?.fields?.find((f) => f.id === id)?.value;

  it.each([
    ['2024-03-05', '2024-03-05'],
    ['2024/03/05', '2024-03-05'],
    ['20240305', '2024-03-05'],
    ['2024-03-05T23:30:00-05:00', '2024-03-05'],
  ])('converts the date %s', (input, expected) => {
    expect(value({ bday: input }, 1)).toBe(expected);
  });

  it.each(['3/5/2024', '05.03.2024', '2024-02-30', 'soon'])(
    'refuses the date %s, naming column, field and value',
    (input) => {
      expect(map({ bday: input }).reason).toBe(
        `column "bday" → field 1 "Birthday" (date): ${JSON.stringify(input)} is not a date (accepted: YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD, or an ISO 8601 date-time (its date is used))`,
      );
    },
  );

  it('converts date-times to ISO 8601 in UTC, and refuses the rest', () => {
    expect(value({ joined: '2024-03-05T10:00:00+02:00' }, 2)).toBe('2024-03-05T08:00:00Z');
    expect(value({ joined: '2024-03-05 10:00' }, 2)).toBe('2024-03-05T10:00:00Z');
    expect(value({ joined: '2024-03-05' }, 2)).toBe('2024-03-05T00:00:00Z');
    expect(map({ joined: '2024-03-05T25:00:00Z' }).reason).toMatch(/is not an ISO 8601 date-time/);
  });

  it('takes options in any case, multi-value fields as ||a||b||, and refuses unknown options', () => {
    expect(value({ tier: 'gold' }, 3)).toBe('Gold');
    expect(map({ tier: 'Bronze' }).reason).toBe(
      'column "tier" → field 3 "Tier" (dropdown): "Bronze" is not one of the field\'s options (Gold, Silver)',
    );
    expect(value({ interests: 'Golf;sailing' }, 4)).toBe('||Golf||Sailing||');
    expect(value({ interests: '["Chess"]' }, 4)).toBe('||Chess||');
    expect(map({ interests: 'Golf;Darts' }).reason).toMatch(/"Darts", not among the field's options/);
  });

  it('refuses a date-time offset no place on earth has', () => {
    expect(value({ joined: '2024-03-05T10:00:00+14:00' }, 2)).toBe('2024-03-04T20:00:00Z');
    expect(map({ joined: '2024-03-05T10:00:00+25:00' }).reason).toMatch(/is not an ISO 8601 date-time/);
    expect(map({ joined: '2024-03-05T10:00:00+14:30' }).reason).toMatch(/is not an ISO 8601 date-time/);
    expect(map({ bday: '2024-03-05T10:00:00+25:00' }).reason).toMatch(/is not a date/);
  });

  it('leaves a checkbox alone for a cell with no values, and names a value that is not text', () => {
    expect(map({ interests: ';' }).contact?.fields).toBeUndefined();
    expect(map({ interests: '[]' }).contact?.fields).toBeUndefined();
    expect(map({ interests: '[{"x":1}]' }).reason).toBe(
      'column "interests" → field 4 "Interests" (checkbox): "[{\\"x\\":1}]" is not a list of values: the JSON array holds {"x":1}, which is not a text',
    );
  });

  it('refuses numbers it would have to guess at or lose', () => {
    expect(map({ score: '1 000' }).reason).toMatch(
      /is not a number \(digits with an optional sign, decimal point and exponent; no spaces or thousands separators\)/,
    );
    expect(map({ score: '1,000' }).reason).toMatch(/is not a number/);
    expect(map({ score: '1.5e-400' }).reason).toMatch(/"1.5e-400" is too small a number: it would become 0/);
    expect(map({ score: '1e400' }).reason).toMatch(/is too large a number/);
    expect(value({ score: '0.0e-5' }, 5)).toBe('0');
  });

  it('takes numbers and refuses text in a number field', () => {
    expect(value({ score: ' 42.5 ' }, 5)).toBe('42.5');
    expect(map({ score: 'many' }).reason).toMatch(/is not a number/);
    expect(map({ score: 'many' }).category).toBe(
      'column "score" → field 5 "Score" (number): a value that does not convert',
    );
  });

  it('sends nothing for an empty value, whatever the type', () => {
    expect(map({}).contact?.fields).toBeUndefined();
  });
});
