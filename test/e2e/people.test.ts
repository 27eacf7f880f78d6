/**
 * Contacts as people, through the API and the local runner with Azurite and the emulator.
 * Update-only exports: only the contacts ActiveCampaign already has are updated and put on the list;
 * the others are counted as notInActiveCampaign, never created, named in the changes, left out of
 * the state and looked up again by the next run. Tags that follow the segment: contacts who leave
 * lose the export's tags (and only those). The counts add up in every run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountedRows, type Export, type Run } from '../../shared/model.js';
import {
  api,
  connectToEmulator,
  counts,
  runToEnd,
  startHarness,
  startRunnerProcess,
  uploadText,
  type Harness,
  type RunnerProcess,
} from '../support/harness.js';

let h: Harness;
let runner: RunnerProcess;
let connectionId: string;
const call = (method: string, path: string, body?: unknown) => api(runner.url, method, path, body);
const stateOf = async (exp: Export) => {
  const emails: string[] = [];
  for await (const entries of h.svc.exportState.entries(await h.svc.exportState.pointer(exp.id)))
    emails.push(...entries.map(([email]) => email));
  return emails.sort();
};
const changesOf = async (exp: Export, run: Run) =>
  (await call('GET', `/exports/${exp.id}/runs/${run.runId}/changes`)).body as string;

beforeAll(async () => {
  h = await startHarness({ requestsPerSecond: 100, bulkImportsPerMinute: 6_000 });
  runner = await startRunnerProcess(h.env, ['--triggers', 'http,queue']);
  connectionId = await connectToEmulator(h);
});
afterAll(async () => {
  await runner?.stop();
  await h?.stop();
});

describe('an update-only export', () => {
  let exp: Export;

  const lookups = () => h.emulator.requests.filter((r) => r.method === 'GET' && r.path === '/api/3/contacts').length;

  beforeAll(async () => {
    // Alice and Bob came to ActiveCampaign some other way; Bob is on the list already.
    h.emulator.addContact('alice@example.com');
    h.emulator.addContact('bob@example.com', { firstName: 'Bobby', lists: { '1': 1 }, listUpdated: { '1': 0 } });
    await uploadText(
      h.blobs,
      'people',
      'members.csv',
      'email,first\nalice@example.com,Alice\nBob@example.com,Bob\ncarol@example.com,Carol\ndave@example.com,Dave\n',
    );
    const created = await call('POST', '/exports', {
      displayName: 'Members',
      connectionId,
      listId: 1,
      mode: 'updateOnly',
      source: { container: 'people', path: 'members.csv' },
      mapping: { email: 'email', firstName: 'first' },
    });
    expect(created.status).toBe(201);
    exp = created.body as Export;
    expect(exp.mode).toBe('updateOnly');
  });

  it('says in a dry run what it would look up, and looks nothing up', async () => {
    const before = lookups();
    const dry = await runToEnd(h, exp, { dryRun: true });
    expect(dry.counts).toEqual(counts({ read: 4, wouldUpsert: 4 }));
    expect(dry.warnings).toEqual([
      'Update only: a run would look up these 4 contact(s) in ActiveCampaign first and send only those it has (a dry run does not look them up)',
    ]);
    expect(lookups()).toBe(before);
  });

  it('updates only the contacts ActiveCampaign has, creates nobody, and names the others', async () => {
    const before = lookups();
    const run = await runToEnd(h, exp);
    expect(run.status).toBe('completed');
    expect(run.counts).toEqual(counts({ read: 4, upserted: 2, notInActiveCampaign: 2 }));
    expect(accountedRows(run.counts)).toBe(run.counts.read);
    expect(lookups() - before).toBe(4);
    expect(h.emulator.contacts.has('carol@example.com')).toBe(false);
    expect(h.emulator.contacts.has('dave@example.com')).toBe(false);
    expect(h.emulator.contacts.get('alice@example.com')).toMatchObject({ firstName: 'Alice', lists: { '1': 1 } });
    expect(h.emulator.contacts.get('bob@example.com')).toMatchObject({ firstName: 'Bob', lists: { '1': 1 } });
    expect(await changesOf(exp, run)).toBe(
      'email,change,outcome\n' +
        'alice@example.com,added,applied\n' +
        'bob@example.com,added,applied\n' +
        'carol@example.com,added,notInActiveCampaign\n' +
        'dave@example.com,added,notInActiveCampaign\n',
    );
    // Those not found stay out of the state: the next run looks them up again.
    expect(await stateOf(exp)).toEqual(['alice@example.com', 'bob@example.com']);
    const shown = await call('GET', `/exports/${exp.id}/runs/${run.runId}`);
    expect(shown.body.counts.notInActiveCampaign).toBe(2);
  });

  it('looks up again only those it did not find, and sends one that has been created since', async () => {
    h.emulator.addContact('carol@example.com');
    const before = lookups();
    const run = await runToEnd(h, exp);
    expect(run.counts).toEqual(counts({ read: 4, unchanged: 2, upserted: 1, notInActiveCampaign: 1 }));
    expect(lookups() - before).toBe(2);
    expect(h.emulator.contacts.get('carol@example.com')).toMatchObject({ firstName: 'Carol', lists: { '1': 1 } });
    expect(h.emulator.contacts.has('dave@example.com')).toBe(false);
    expect(await stateOf(exp)).toEqual(['alice@example.com', 'bob@example.com', 'carol@example.com']);
  });

  it('never re-creates a contact deleted from ActiveCampaign after an earlier run sent it', async () => {
    h.emulator.contacts.delete('alice@example.com');
    await uploadText(
      h.blobs,
      'people',
      'members.csv',
      'email,first\nalice@example.com,Alicia\nbob@example.com,Bob\ncarol@example.com,Carol\ndave@example.com,Dave\n',
    );
    const run = await runToEnd(h, exp);
    expect(run.counts).toEqual(counts({ read: 4, unchanged: 2, notInActiveCampaign: 2 }));
    expect(run.status).toBe('completed');
    expect(h.emulator.contacts.has('alice@example.com')).toBe(false);
    expect(await stateOf(exp)).toEqual(['bob@example.com', 'carol@example.com']);
  });

  it('is refused with a plain message for an unknown mode', async () => {
    const refused = await call('PATCH', `/exports/${exp.id}`, { mode: 'createOnly' });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/^mode: /);
    expect(refused.body.error.message).toContain('updateOnly');
  });
});

describe('tags that follow the segment (removeTagsWhenLeaving)', () => {
  let exp: Export;
  const tagsOf = (email: string) => h.emulator.contacts.get(email)?.tags;

  beforeAll(async () => {
    // Dee has a tag of her own; the account's tag is spelt in another case than the export's.
    h.emulator.tagNamed('SEGMENT: GOLD');
    h.emulator.addContact('dee@example.com', { tags: ['Customer'] });
    await uploadText(h.blobs, 'people', 'gold.csv', 'email\nann@example.com\ndee@example.com\neve@example.com\n');
    const created = await call('POST', '/exports', {
      displayName: 'Gold',
      connectionId,
      listId: 1,
      source: { container: 'people', path: 'gold.csv' },
      mapping: { email: 'email' },
      tags: ['Segment: Gold'],
      removeTagsWhenLeaving: true,
    });
    expect(created.status).toBe(201);
    exp = created.body as Export;
    expect(exp.removeTagsWhenLeaving).toBe(true);
    expect((await runToEnd(h, exp)).counts).toEqual(counts({ read: 3, upserted: 3 }));
    expect(tagsOf('dee@example.com')).toEqual(['Customer', 'SEGMENT: GOLD']);
    await uploadText(h.blobs, 'people', 'gold.csv', 'email\nann@example.com\n');
  });

  it('says in a dry run who would lose the tags, and removes nothing', async () => {
    const dry = await runToEnd(h, exp, { dryRun: true });
    expect(dry.counts).toEqual(counts({ read: 1, unchanged: 1 }));
    expect(dry.warnings).toEqual([
      "2 contact(s) who left the segment would lose the export's tags (Segment: Gold) where they have them",
    ]);
    expect(await changesOf(exp, dry)).toBe(
      'email,change,outcome\ndee@example.com,untagged,dryRun\neve@example.com,untagged,dryRun\n',
    );
    expect(tagsOf('dee@example.com')).toEqual(['Customer', 'SEGMENT: GOLD']);
  });

  it('removes the export tags from the contacts who left, and only those tags', async () => {
    const run = await runToEnd(h, exp);
    expect(run.status).toBe('completed');
    expect(run.counts).toEqual(counts({ read: 1, unchanged: 1, untagged: 2 }));
    expect(accountedRows(run.counts)).toBe(run.counts.read);
    expect(tagsOf('dee@example.com')).toEqual(['Customer']);
    expect(tagsOf('eve@example.com')).toEqual([]);
    expect(tagsOf('ann@example.com')).toEqual(['SEGMENT: GOLD']);
    // Upsert mode: they stay on the list.
    expect(h.emulator.contacts.get('eve@example.com')!.lists['1']).toBe(1);
    expect(await changesOf(exp, run)).toBe(
      'email,change,outcome\ndee@example.com,untagged,applied\neve@example.com,untagged,applied\n',
    );
    expect(await stateOf(exp)).toEqual(['ann@example.com']);
  });

  it('gives the tag back to a contact who returns, as the importer adds it', async () => {
    await uploadText(h.blobs, 'people', 'gold.csv', 'email\nann@example.com\neve@example.com\n');
    const run = await runToEnd(h, exp);
    expect(run.counts).toEqual(counts({ read: 2, unchanged: 1, upserted: 1 }));
    expect(tagsOf('eve@example.com')).toEqual(['SEGMENT: GOLD']);
  });
});

describe('a person whose email changes (mapping.identity)', () => {
  let exp: Export;
  const contact = (email: string) => h.emulator.contacts.get(email);
  const rejectedOf = async (run: Run) =>
    (await call('GET', `/exports/${exp.id}/runs/${run.runId}/rejected`)).body as string;

  beforeAll(async () => {
    await uploadText(
      h.blobs,
      'people',
      'loyal.csv',
      'CustomerId,email,first\n1,amy@example.com,Amy\n2,ben@example.com,Ben\n3,cat@example.com,Cat\n',
    );
    const created = await call('POST', '/exports', {
      displayName: 'Loyal',
      connectionId,
      listId: 1,
      mode: 'mirror',
      removalGuardPercent: 50,
      source: { container: 'people', path: 'loyal.csv' },
      mapping: { email: 'email', firstName: 'first', identity: 'customerid' },
    });
    expect(created.status).toBe(201);
    exp = created.body as Export;
    expect((await runToEnd(h, exp)).counts).toEqual(counts({ read: 3, upserted: 3 }));
    // Someone else already has the address Cat moves to.
    h.emulator.addContact('cat.new@example.com', { firstName: 'Not Cat' });
    await uploadText(
      h.blobs,
      'people',
      'loyal.csv',
      'CustomerId,email,first\n1,amy.new@example.com,Amy\n2,ben@example.com,Ben\n3,cat.new@example.com,Cat\n',
    );
  });

  it('says in a dry run whose email would change, and changes nothing', async () => {
    const dry = await runToEnd(h, exp, { dryRun: true });
    expect(dry.counts).toEqual(counts({ read: 3, unchanged: 1, wouldUpsert: 2 }));
    expect(await changesOf(exp, dry)).toBe(
      'email,change,outcome\namy.new@example.com,emailChanged,dryRun\ncat.new@example.com,emailChanged,dryRun\n',
    );
    expect(contact('amy@example.com')).toBeDefined();
  });

  it('changes the email of the same contact, keeps it on the list, and never merges into another contact', async () => {
    const amy = contact('amy@example.com')!;
    const run = await runToEnd(h, exp);
    expect(run.status).toBe('completedWithErrors');
    expect(run.counts).toEqual(counts({ read: 3, unchanged: 1, upserted: 1, emailChanged: 1, rejected: 1 }));
    expect(accountedRows(run.counts)).toBe(run.counts.read);
    // The same contact (its id) under the new email, still subscribed: mirror mode did not unsubscribe the old one.
    expect(contact('amy@example.com')).toBeUndefined();
    expect(contact('amy.new@example.com')).toMatchObject({ id: amy.id, firstName: 'Amy', lists: { '1': 1 } });
    // Cat's new address belongs to someone else: nothing merged, Cat left as she was.
    expect(contact('cat@example.com')).toMatchObject({ firstName: 'Cat', lists: { '1': 1 } });
    expect(contact('cat.new@example.com')).toMatchObject({ firstName: 'Not Cat', lists: {} });
    expect(await rejectedOf(run)).toMatch(
      /cat\.new@example\.com,"the new email belongs to another ActiveCampaign contact \(id \d+\); the contacts were not merged/,
    );
    expect(await changesOf(exp, run)).toBe(
      'email,change,outcome\namy.new@example.com,emailChanged,applied\ncat.new@example.com,emailChanged,failed\n',
    );
    // Cat keeps her old email in the state, to be tried again.
    expect(await stateOf(exp)).toEqual(['amy.new@example.com', 'ben@example.com', 'cat@example.com']);
  });

  it('tries the change again once the other contact is gone; a person who really left is unsubscribed', async () => {
    h.emulator.contacts.delete('cat.new@example.com');
    const cat = contact('cat@example.com')!;
    await uploadText(
      h.blobs,
      'people',
      'loyal.csv',
      'CustomerId,email,first\n1,amy.new@example.com,Amy\n3,cat.new@example.com,Cat\n',
    );
    const run = await runToEnd(h, exp);
    expect(run.status).toBe('completed');
    expect(run.counts).toEqual(counts({ read: 2, unchanged: 1, upserted: 1, emailChanged: 1, unsubscribed: 1 }));
    expect(contact('cat.new@example.com')).toMatchObject({ id: cat.id, lists: { '1': 1 } });
    expect(contact('ben@example.com')!.lists['1']).toBe(2);
    expect(await stateOf(exp)).toEqual(['amy.new@example.com', 'ben@example.com', 'cat.new@example.com']);
  });

  it('refuses an identity it could not keep, naming the column', async () => {
    await uploadText(
      h.blobs,
      'people',
      'loyal.csv',
      `CustomerId,email,first\n${'x'.repeat(300)},amy.new@example.com,Amy\n`,
    );
    const run = await runToEnd(h, exp, { dryRun: true });
    expect(run.error).toBe('1 row(s) would be rejected (see the rejected rows)');
    expect(run.counts.rejected).toBe(1);
    expect(await rejectedOf(run)).toContain(
      'column ""CustomerId"": an identity has at most 256 characters and no control characters',
    );
  });
});

describe('empty values (mapping.emptyValues)', () => {
  let exp: Export;
  const contact = (email: string) => h.emulator.contacts.get(email);

  beforeAll(async () => {
    await uploadText(h.blobs, 'people', 'vals.csv', 'email,first,phone,tier\nval@example.com,Val,+1 555 0100,Gold\n');
    const refused = await call('POST', '/exports', {
      displayName: 'Values',
      connectionId,
      listId: 1,
      source: { container: 'people', path: 'vals.csv' },
      mapping: { email: 'email', firstName: 'first', emptyValues: { lastName: 'clear' } },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toBe(
      'mapping.emptyValues.lastName: "lastName" is not a mapped field (firstName, lastName, phone or a mapped custom field id)',
    );
    const created = await call('POST', '/exports', {
      displayName: 'Values',
      connectionId,
      listId: 1,
      source: { container: 'people', path: 'vals.csv' },
      mapping: {
        email: 'email',
        firstName: 'first',
        phone: 'phone',
        fields: { '1': 'tier' },
        emptyValues: { firstName: 'keep', phone: 'clear', '1': 'clear' },
      },
    });
    expect(created.status).toBe(201);
    exp = created.body as Export;
    await runToEnd(h, exp);
    expect(contact('val@example.com')).toMatchObject({
      firstName: 'Val',
      phone: '+1 555 0100',
      fields: { '1': 'Gold' },
    });
    await uploadText(h.blobs, 'people', 'vals.csv', 'email,first,phone,tier\nval@example.com,,,\n');
  });

  it('says in a dry run which contacts would have values cleared', async () => {
    const dry = await runToEnd(h, exp, { dryRun: true });
    expect(dry.warnings).toEqual([
      '1 contact(s) sent before have values the source emptied since, which a run would clear in ActiveCampaign (1, phone)',
    ]);
    expect(contact('val@example.com')!.phone).toBe('+1 555 0100');
  });

  it('clears the fields set to clear and keeps the others', async () => {
    const run = await runToEnd(h, exp);
    expect(run.status).toBe('completed');
    expect(run.counts).toEqual(counts({ read: 1, upserted: 1 }));
    expect(contact('val@example.com')).toMatchObject({ firstName: 'Val', phone: '', fields: {} });
  });
});
