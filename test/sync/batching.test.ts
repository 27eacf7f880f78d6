import { describe, expect, it } from 'vitest';
import { MAX_CONTACTS_PER_IMPORT, MAX_IMPORT_BYTES } from '../../shared/activecampaign/limits.js';
import { ImportBatcher } from '../../shared/sync/batching.js';

describe('ImportBatcher', () => {
  it('cuts batches at 250 contacts', () => {
    const b = new ImportBatcher();
    const full = [];
    for (let i = 0; i < 600; i++) {
      const f = b.add({ email: `p${i}@example.com` });
      if (f) full.push(f);
    }
    const last = b.flush();
    expect(full.map((f) => f.contacts.length)).toEqual([250, 250]);
    expect(last?.contacts.length).toBe(100);
    expect(b.flush()).toBeUndefined();
    expect(MAX_CONTACTS_PER_IMPORT).toBe(250);
  });

  it('cuts batches before the serialized request would pass 400,000 bytes', () => {
    const b = new ImportBatcher();
    const big = 'x'.repeat(5_000);
    const batches = [];
    for (let i = 0; i < 200; i++) {
      const f = b.add({ email: `p${i}@example.com`, fields: [{ id: 1, value: big }] });
      if (f) batches.push(f);
    }
    batches.push(b.flush()!);
    expect(batches.length).toBeGreaterThan(2);
    for (const batch of batches) {
      expect(Buffer.byteLength(JSON.stringify({ contacts: batch.contacts }))).toBeLessThanOrEqual(MAX_IMPORT_BYTES);
      expect(batch.contacts.length).toBeLessThanOrEqual(250);
    }
    expect(batches.reduce((n, x) => n + x.contacts.length, 0)).toBe(200);
  });

  it('refuses a contact that could never fit', () => {
    const b = new ImportBatcher();
    const huge = { email: 'a@example.com', fields: [{ id: 1, value: 'x'.repeat(MAX_IMPORT_BYTES) }] };
    expect(b.measure(huge)).toBeUndefined();
    expect(() => b.add(huge)).toThrow(RangeError);
    const small = { email: 'a@example.com', subscribe: [{ listid: '1' }] };
    expect(b.measure(small)).toBe(ImportBatcher.sizeOf(small));
  });
});
