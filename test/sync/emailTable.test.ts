import { describe, expect, it } from 'vitest';
import { EmailTable } from '../../shared/sync/emailTable.js';

describe('EmailTable', () => {
  it('stores and finds 200,000 emails with their values, growing as it goes', () => {
    const table = new EmailTable(16);
    for (let i = 0; i < 200_000; i++) table.set(`person${i}@example.com`, i * 1_000_003);
    expect(table.size).toBe(200_000);
    for (let i = 0; i < 200_000; i += 997) expect(table.get(`person${i}@example.com`)).toBe(i * 1_000_003);
    expect(table.get('nobody@example.com')).toBeUndefined();
    expect(table.has('person5@example.com')).toBe(true);
    expect(table.has('person5@example.co')).toBe(false);
  });

  it('keeps 48-bit fingerprints exactly and overwrites a value', () => {
    const table = new EmailTable();
    table.set('a@example.com', 0xffffffffffff);
    expect(table.get('a@example.com')).toBe(0xffffffffffff);
    table.set('a@example.com', 7);
    expect(table.get('a@example.com')).toBe(7);
    expect(table.size).toBe(1);
  });
});
