/**
 * Update-only exports, through the API and the local runner with Azurite and the emulator: only the
 * contacts ActiveCampaign already has are updated and put on the list; the others are counted as
 * notInActiveCampaign, never created, named in the changes, left out of the state and looked up again
 * by the next run. The counts add up in every run.
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

describe('an update-only export', () => {
  let h: Harness;
  let runner: RunnerProcess;
  let exp: Export;

  const call = (method: string, path: string, body?: unknown) => api(runner.url, method, path, body);
  const lookups = () => h.emulator.requests.filter((r) => r.method === 'GET' && r.path === '/api/3/contacts').length;
  const stateOf = async () => {
    const emails: string[] = [];
    for await (const [email] of h.svc.exportState.entries(await h.svc.exportState.pointer(exp.id))) emails.push(email);
    return emails.sort();
  };
  const changesOf = async (run: Run) => (await call('GET', `/exports/${exp.id}/runs/${run.runId}/changes`)).body;

  beforeAll(async () => {
    h = await startHarness({ requestsPerSecond: 100, bulkImportsPerMinute: 6_000 });
    runner = await startRunnerProcess(h.env, ['--triggers', 'http,queue']);
    const connectionId = await connectToEmulator(h);
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
  afterAll(async () => {
    await runner?.stop();
    await h?.stop();
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
    expect(await changesOf(run)).toBe(
      'email,change,outcome\n' +
        'alice@example.com,added,applied\n' +
        'bob@example.com,added,applied\n' +
        'carol@example.com,added,notInActiveCampaign\n' +
        'dave@example.com,added,notInActiveCampaign\n',
    );
    // Those not found stay out of the state: the next run looks them up again.
    expect(await stateOf()).toEqual(['alice@example.com', 'bob@example.com']);
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
    expect(await stateOf()).toEqual(['alice@example.com', 'bob@example.com', 'carol@example.com']);
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
    expect(await stateOf()).toEqual(['bob@example.com', 'carol@example.com']);
  });

  it('is refused with a plain message for an unknown mode', async () => {
    const refused = await call('PATCH', `/exports/${exp.id}`, { mode: 'createOnly' });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/^mode: /);
    expect(refused.body.error.message).toContain('updateOnly');
  });
});
