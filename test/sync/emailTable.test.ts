import { describe, expect, it } from 'vitest';
import { EmailTable } from '../../shared/sync/emailTable.js';

describe('EmailTable', () => {
  it('stores and finds 200,000 emails with their values, growing as it goes', () => {
    const table = new EmailTable(16);
    for (let i = 0; i < 200_000; i++) table.set(`person${i}@example.com`, i * 1_000_003);
    expect(table.size).toBe(200_000);
    for (let i = 0; i < 200_000; i += 997) expect(table.get(`person${i}@example.com`)).toBe(i * 1_000_003);
    expect(table.get('nobody@example.com')).toBeUndefined();
    expect(table.get('person5@example.co')).toBeUndefined();
  });

  it('keeps 48-bit fingerprints and negative markers exactly, and overwrites a value', () => {
    const table = new EmailTable();
    table.set('a@example.com', 0xffffffffffff);
    expect(table.get('a@example.com')).toBe(0xffffffffffff);
    table.set('a@example.com', 7);
    expect(table.get('a@example.com')).toBe(7);
    table.set('b@example.com', -1);
    table.set('c@example.com', -(2 + 1_790_000_000));
    expect(table.get('b@example.com')).toBe(-1);
    expect(table.get('c@example.com')).toBe(-1_790_000_002);
    expect(table.size).toBe(3);
    expect(() => table.set('d@example.com', 2 ** 48)).toThrow(RangeError);
  });

  it('tells a duplicate from a first sighting, apart from the previous value', () => {
    const table = new EmailTable();
    table.set('old@example.com', 42);
    expect(table.isSeen('old@example.com')).toBe(false);
    expect(table.see('old@example.com')).toBe(false);
    expect(table.see('old@example.com')).toBe(true);
    expect(table.get('old@example.com')).toBe(42);
    expect(table.see('new@example.com')).toBe(false);
    expect(table.get('new@example.com')).toBeUndefined();
    expect(table.isSeen('new@example.com')).toBe(true);
    table.set('new@example.com', 5);
    expect(table.isSeen('new@example.com')).toBe(true);
    // The planner's one look a row: the previous value on the first sighting, a duplicate after.
    table.set('x@example.com', -7);
    expect(table.visit('x@example.com')).toEqual({ duplicate: false, previous: -7 });
    expect(table.visit('x@example.com')).toEqual({ duplicate: true });
    expect(table.visit('y@example.com')).toEqual({ duplicate: false, previous: undefined });
    expect(table.visit('new@example.com')).toEqual({ duplicate: true });
  });

  it('is sized to what it expects, not to a power of two: 4 million emails in 5,000,001 slots of 15 bytes (75 MB)', () => {
    expect(new EmailTable(4_000_000).byteLength).toBe(5_000_001 * 15);
    expect(EmailTable.bytesFor(4_000_000)).toBe(5_000_001 * 15);
  });

  it('grows past the size it was given and keeps every entry', () => {
    const table = new EmailTable(10);
    for (let i = 0; i < 5_000; i++) table.set(`g${i}@example.com`, i);
    expect(table.size).toBe(5_000);
    expect(table.byteLength).toBeGreaterThan(5_000 * 15);
    for (let i = 0; i < 5_000; i++) expect(table.get(`g${i}@example.com`)).toBe(i);
  });

  it('places emails evenly over the hash positions that passes split', () => {
    const quarters = [0, 0, 0, 0];
    for (let i = 0; i < 40_000; i++) quarters[Math.floor(EmailTable.position(`q${i}@example.org`) / 2 ** 30)]++;
    for (const n of quarters) expect(Math.abs(n - 10_000)).toBeLessThan(500);
    const range = { start: 2 ** 30, end: 2 ** 31 };
    const email = Array.from({ length: 100 }, (_, i) => `r${i}@example.org`).find((e) => EmailTable.inRange(e, range))!;
    const p = EmailTable.position(email);
    expect(p >= range.start && p < range.end).toBe(true);
    expect(EmailTable.inRange(email, { start: 0, end: p })).toBe(false);
    expect(EmailTable.inRange(email, { start: p, end: p + 1 })).toBe(true);
  });
  it('empties for the next pass in the arrays it has, and allocates only when asked for more', () => {
    const table = new EmailTable(1_000);
    for (let i = 0; i < 1_000; i++) table.set(`a${i}@example.com`, i);
    table.see('a1@example.com');
    const bytes = table.byteLength;
    table.reset(500);
    expect(table.size).toBe(0);
    expect(table.byteLength).toBe(bytes);
    expect(table.get('a1@example.com')).toBeUndefined();
    expect(table.isSeen('a1@example.com')).toBe(false);
    for (let i = 0; i < 1_000; i++) table.set(`b${i}@example.com`, -i - 1);
    for (let i = 0; i < 1_000; i++) expect(table.get(`b${i}@example.com`)).toBe(-i - 1);
    table.reset(10_000);
    expect(table.byteLength).toBe(EmailTable.bytesFor(10_000));
    expect(table.get('b1@example.com')).toBeUndefined();
  });
});
