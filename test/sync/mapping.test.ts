import { describe, expect, it } from 'vitest';
import { emailProblem, normalizeEmail } from '../../shared/sync/email.js';
import { mapRecord, MappingError, resolveMapping } from '../../shared/sync/mapping.js';

describe('email rule', () => {
  it.each(['a@example.com', 'first.last+tag@sub.example.co.uk', "o'brien@example.ie".replace("'", ''), 'x_y-z@ex-ample.io'])('accepts %s', (e) => {
    expect(emailProblem(normalizeEmail(e))).toBeUndefined();
  });
  it.each([
    ['', 'missing email'],
    ['plainaddress', 'invalid email'],
    ['a@b', 'invalid email'],
    ['a b@example.com', 'invalid email'],
    ['a@@example.com', 'invalid email'],
    ['a@example.c', 'invalid email'],
    ['.a@example.com', 'invalid email'],
    ['a..b@example.com', 'invalid email'],
    ['a@-example.com', 'invalid email'],
    ['"quoted"@example.com', 'invalid email'],
  ])('refuses %j', (e, reason) => {
    expect(emailProblem(normalizeEmail(e))).toBe(reason);
  });
  it('trims and lower-cases', () => {
    expect(normalizeEmail('  Jane.Doe@Example.COM \t')).toBe('jane.doe@example.com');
  });
});

describe('resolveMapping', () => {
  const columns = ['Email', 'first_name', 'LastName', 'Tier', 'tier ', 'City', 'CITY'];

  it('matches exactly first, then case-insensitively', () => {
    const r = resolveMapping({ email: 'email', firstName: 'FIRST_NAME', lastName: 'LastName', fields: { '3': 'Tier' } }, columns);
    expect(r).toEqual({ email: 'Email', firstName: 'first_name', lastName: 'LastName', phone: undefined, fields: [[3, 'Tier']] });
  });

  it('refuses an ambiguous column', () => {
    expect(() => resolveMapping({ email: 'Email', fields: { '1': 'city' } }, columns)).toThrow(/ambiguous \(City, CITY\)/);
  });

  it('refuses a missing column, naming it', () => {
    expect(() => resolveMapping({ email: 'mail' }, columns, 'seg.csv')).toThrow(MappingError);
    expect(() => resolveMapping({ email: 'mail' }, columns, 'seg.csv')).toThrow(/seg.csv has no email column "mail"/);
  });
});

describe('mapRecord', () => {
  const resolved = resolveMapping({ email: 'e', firstName: 'f', phone: 'p', fields: { '7': 'tier' } }, ['e', 'f', 'p', 'tier']);

  it('maps to the importer contact shape and leaves empty values out', () => {
    expect(mapRecord({ e: ' A@Example.com ', f: ' Ann ', p: '', tier: 'gold' }, resolved)).toEqual({
      contact: { email: 'a@example.com', first_name: 'Ann', fields: [{ id: 7, value: 'gold' }] },
    });
  });

  it('gives the reason for a refused row', () => {
    expect(mapRecord({ e: 'nope', f: 'x', p: '', tier: '' }, resolved)).toEqual({ reason: 'invalid email' });
    expect(mapRecord({ e: '   ', f: 'x', p: '', tier: '' }, resolved)).toEqual({ reason: 'missing email' });
  });
});
