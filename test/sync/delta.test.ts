import { hash } from 'node:crypto';
import type { ImportContact } from '../../shared/activecampaign/client.js';
import { canonicalJson, fingerprint } from '../../shared/sync/fingerprint.js';
import { describe, expect, it } from 'vitest';
import {
  decideContact,
  decideLeaver,
  stateText,
  stateValue,
  UNKNOWN,
  unsubscribedAt,
  unsubscribedMarker,
} from '../../shared/sync/delta.js';
import {
  checkRemovals,
  confirmationDifference,
  removalGuardMessage,
  removalsBlocked,
} from '../../shared/sync/removalGuard.js';

describe('delta rules', () => {
  const at = Date.UTC(2026, 10, 1);
  it('writes and reads state values: fingerprints, unknown, and when this export unsubscribed a contact', () => {
    expect(stateValue(stateText(0xabcdef123456))).toBe(0xabcdef123456);
    expect(stateText(UNKNOWN)).toBe('-');
    expect(stateText(unsubscribedMarker(at))).toBe(`u${at / 1000}`);
    expect(unsubscribedAt(stateValue(`u${at / 1000}`))).toBe(at);
    expect(unsubscribedAt(42)).toBeUndefined();
  });

  it('fingerprints a contact as every earlier version did (a committed state must keep matching)', () => {
    const contact = {
      email: 'a@b.co',
      first_name: 'A',
      fields: [
        { id: 2, value: 'x' },
        { id: 1, value: 'y' },
      ],
      tags: ['z', 'a'],
    };
    expect(fingerprint(contact, 7)).toBe(62636889091846);
    expect(fingerprint({ email: 'q@r.st', subscribe: [{ listid: '7' }] }, 7)).toBe(37666538384330);
  });

  it('fingerprints every shape of contact as the canonical JSON of it does, whatever the order of its keys', () => {
    const generic = (contact: ImportContact, listId: number) => {
      const { subscribe: _s, unsubscribe: _u, ...content } = contact;
      if (content.fields) content.fields = [...content.fields].sort((a, b) => a.id - b.id);
      if (content.tags) content.tags = [...content.tags].sort();
      return hash('sha256', `${listId}\n${canonicalJson(content)}`, 'buffer').readUIntBE(0, 6);
    };
    const texts = ['', 'Ann', 'Zoë "Z" \\ O\'Neil', '\u2028line\nbreak', '😀', '<b>&amp;</b>'];
    let random = 7;
    const pick = <T>(of: readonly T[]): T => of[(random = (random * 48271) % 2147483647) % of.length];
    const contacts: ImportContact[] = [];
    for (let i = 0; i < 500; i++) {
      const c: Record<string, unknown> = {};
      // Keys in a shuffled order, each present or not: the mapping adds them in its own order.
      const keys = ['phone', 'tags', 'first_name', 'fields', 'last_name', 'subscribe', 'unsubscribe'];
      c.email = `p${i}@example.com`;
      for (const key of keys.sort(() => pick([-1, 1]))) {
        if (pick([true, false])) continue;
        if (key === 'tags') c.tags = [pick(texts), pick(texts), 'b', 'a'].slice(0, pick([1, 2, 4]));
        else if (key === 'fields')
          c.fields = [3, 1, 20, 2].slice(0, pick([0, 1, 4])).map((id) => ({ id, value: pick(texts) }));
        else if (key === 'subscribe' || key === 'unsubscribe') c[key] = [{ listid: '7' }];
        else c[key] = pick(texts);
      }
      contacts.push(c as unknown as ImportContact);
    }
    // Shapes the mapping never makes still fingerprint as the canonical JSON does.
    contacts.push({ email: 'x@y.z', first_name: undefined, extra: { b: 1, a: 2 } } as unknown as ImportContact);
    contacts.push({ email: 'x@y.z', fields: [{ value: 'v', id: 2, note: 'n' }] } as unknown as ImportContact);
    for (const contact of contacts) expect(fingerprint(contact, 12)).toBe(generic(contact, 12));
  });

  it('decides per contact: new, unchanged, changed, and a returner this export had unsubscribed', () => {
    expect(decideContact(undefined, 7, false)).toBe('new');
    expect(decideContact(7, 7, false)).toBe('unchanged');
    expect(decideContact(7, 7, true)).toBe('changed');
    expect(decideContact(8, 7, false)).toBe('changed');
    expect(decideContact(UNKNOWN, 7, false)).toBe('changed');
    expect(decideContact(unsubscribedMarker(at), 7, false)).toBe('returner');
  });

  it('unsubscribes leavers only in mirror mode, and keeps the marker of those it unsubscribed in either mode', () => {
    expect(decideLeaver(7, true)).toBe('unsubscribe');
    expect(decideLeaver(7, false)).toBe('forget');
    expect(decideLeaver(unsubscribedMarker(at), true)).toBe('keepMarker');
    expect(decideLeaver(unsubscribedMarker(at), false)).toBe('keepMarker');
  });
});

describe('the removal guard', () => {
  const found = (unsubscribes: number, lastSent: number, snapshotId = 's1') => ({ unsubscribes, lastSent, snapshotId });
  const confirmation = { runId: '99999999999990000abcd', snapshotId: 's1', unsubscribes: 500, lastSent: 1000 };

  it('allows up to the limit of what the export last sent, and stops beyond it unless confirmed', () => {
    expect(checkRemovals(found(100, 1000), 10)).toEqual({
      unsubscribes: 100,
      lastSent: 1000,
      limitPercent: 10,
      allowed: 100,
      exceeded: false,
      confirmed: false,
    });
    const shrunk = checkRemovals(found(995, 1000), 10);
    expect(removalsBlocked(shrunk)).toBe(true);
    expect(removalsBlocked(checkRemovals(found(1, 5), 10))).toBe(true);
    expect(removalGuardMessage(shrunk, { runId: 'r2' })).toMatch(
      /unsubscribe 995 of the 1000 contacts the export last sent \(99\.5%\), more than its removal guard allows \(10%: 100\).*\{"confirmRemovals": "r2"\}/,
    );
  });

  it('lets a confirmation through only for exactly the snapshot and numbers that were reviewed', () => {
    expect(removalsBlocked(checkRemovals(found(500, 1000), 10, confirmation))).toBe(false);
    // The snapshot shrank further after the review (the half-written export the guard exists for).
    const further = checkRemovals(found(997, 1000, 's2'), 10, confirmation);
    expect(removalsBlocked(further)).toBe(true);
    expect(removalGuardMessage(further, { runId: 'r3', confirmation, snapshotId: 's2' })).toMatch(
      /^Stopped before sending anything: the removals confirmed from run 99999999999990000abcd are not what this run found \(the segment has another snapshot now, and run 99999999999990000abcd showed 500 of 1000\): this run would unsubscribe 997 of the 1000/,
    );
    expect(confirmationDifference(confirmation, found(501, 1000))).toBe('run 99999999999990000abcd showed 500 of 1000');
    expect(confirmationDifference(confirmation, found(500, 1001))).toBe('run 99999999999990000abcd showed 500 of 1000');
    expect(confirmationDifference(confirmation, found(500, 1000, 's9'))).toBe('the segment has another snapshot now');
  });
});
