import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ActiveCampaignClient } from '../../shared/activecampaign/client.js';
import {
  AuthenticationError,
  ActiveCampaignNotFoundError,
  RateLimitError,
  TransientError,
  ValidationError,
} from '../../shared/activecampaign/errors.js';
import {
  ActiveCampaignEmulator,
  EMULATOR_API_KEY,
  startActiveCampaignEmulator,
} from '../../tools/acEmulator/server.js';

const contacts = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ email: `c${from + i}@example.com`, subscribe: [{ listid: '1' }] }));

async function untilImportDone(client: ActiveCampaignClient, batchId: string) {
  for (;;) {
    const info = await client.getImportInfo(batchId);
    if (!['waiting', 'claimed', 'active'].includes(info.status)) return info;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('ActiveCampaignClient against the emulator', () => {
  let emulator: ActiveCampaignEmulator;
  let client: ActiveCampaignClient;

  beforeAll(async () => {
    emulator = await startActiveCampaignEmulator({
      requestsPerSecond: 0,
      bulkImportsPerMinute: 0,
      importPhaseInMs: 30,
      fields: Array.from({ length: 230 }, (_, i) => ({ id: i + 1, title: `Field ${i + 1}`, type: 'text' })),
    });
  });
  afterAll(() => emulator.close());
  beforeEach(() => {
    emulator.faults = {};
    emulator.resetRateWindows();
    Object.assign(emulator.options, { requestsPerSecond: 0, bulkImportsPerMinute: 0 });
    client = new ActiveCampaignClient(emulator.hostname, EMULATOR_API_KEY, {
      insecureHosts: [emulator.hostname],
      timeoutInMs: 2_000,
    });
  });

  it('proves a key with users/me, and refuses a wrong key with AuthenticationError', async () => {
    expect((await client.getCurrentUser()).id).toBe('1');
    const wrong = new ActiveCampaignClient(emulator.hostname, 'wrong-key', { insecureHosts: [emulator.hostname] });
    const error = await wrong.getCurrentUser().catch((e) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error.status).toBe(403);
    expect(error.message).not.toContain('wrong-key');
  });

  it('treats a 200 HTML login page as an authentication failure', async () => {
    emulator.faults.htmlLoginPage = true;
    await expect(client.getCurrentUser()).rejects.toBeInstanceOf(AuthenticationError);
  });

  it('reads a list, and reports a missing one as ActiveCampaignNotFoundError', async () => {
    expect((await client.getList(1)).name).toBe('Newsletter');
    const error = await client.getList(99).catch((e) => e);
    expect(error).toBeInstanceOf(ActiveCampaignNotFoundError);
    expect(error.message).toContain('No Result found for _List with id 99');
  });

  it('pages through every custom field', async () => {
    const fields = await client.listFields();
    expect(fields).toHaveLength(230);
    expect(fields.at(-1)?.id).toBe('230');
  });

  it('queues an import that goes from false through waiting and active to completed', async () => {
    const { batchId, queuedContacts } = await client.bulkImport(contacts(3));
    expect(queuedContacts).toBe(3);
    const first = await client.getImportInfo(batchId);
    expect(first.status).toBe('waiting'); // the API's `false`, read as not yet claimed
    const info = await untilImportDone(client, batchId);
    expect(info).toMatchObject({ status: 'completed', failure: [] });
    expect(info.success).toHaveLength(3);
    expect(emulator.listMembers(1)).toEqual(
      expect.arrayContaining(['c0@example.com', 'c1@example.com', 'c2@example.com']),
    );
  });

  it('names the contacts that fail validation, and queues nothing', async () => {
    const batch = contacts(5, 100);
    batch[1].email = 'broken';
    batch[4].email = 'also broken@example.com';
    const error = await client.bulkImport(batch).catch((e) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.failures.map((f: { index: number }) => f.index)).toEqual([1, 4]);
    expect(error.failures[0].reason).toMatch(/email/);
    expect(emulator.contacts.has('c100@example.com')).toBe(false);
  });

  it('refuses more than 250 contacts or 400,000 bytes in one import', async () => {
    await expect(client.bulkImport(contacts(251))).rejects.toBeInstanceOf(ValidationError);
    const heavy = contacts(100).map((c) => ({ ...c, fields: [{ id: 1, value: 'x'.repeat(4_100) }] }));
    const error = await client.bulkImport(heavy).catch((e) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(JSON.stringify(error.body)).toContain('400000 bytes');
  });

  it('reports the per-second limit as RateLimitError with the Retry-After delay', async () => {
    emulator.options.requestsPerSecond = 2;
    await client.getList(1);
    await client.getList(1);
    const error = await client.getList(1, { patienceInMs: 0 }).catch((e) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error.status).toBe(429);
    expect(error.retryAfterInMs).toBe(1000);
  });

  it('lets a read wait out throttling within its patience, and fail once the patience is spent', async () => {
    emulator.faults.unavailableUntil = Date.now() + 1_500;
    expect((await client.getList(1)).name).toBe('Newsletter');
    emulator.faults.unavailableUntil = Date.now() + 60_000;
    await expect(client.getList(1, { patienceInMs: 1_500 })).rejects.toBeInstanceOf(RateLimitError);
    // A POST is never repeated by the client.
    const before = emulator.requests.length;
    await expect(client.bulkImport(contacts(2, 600))).rejects.toBeInstanceOf(RateLimitError);
    expect(emulator.requests.length - before).toBe(1);
  });

  it('reports the importer per-minute limit ("Rate limit exceeded.") as RateLimitError', async () => {
    emulator.options.bulkImportsPerMinute = 1;
    await client.bulkImport(contacts(2, 300));
    const error = await client.bulkImport(contacts(2, 302)).catch((e) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error.status).toBe(400);
    expect(error.retryAfterInMs).toBeGreaterThanOrEqual(10_000);
  });

  it('reports 503 as throttling and a reset or timeout as transient', async () => {
    emulator.faults.unavailableUntil = Date.now() + 60_000;
    await expect(client.getList(1, { patienceInMs: 0 })).rejects.toBeInstanceOf(RateLimitError);
    emulator.faults = { delayInMs: 3_000 };
    const slow = new ActiveCampaignClient(emulator.hostname, EMULATOR_API_KEY, {
      insecureHosts: [emulator.hostname],
      timeoutInMs: 200,
    });
    await expect(slow.getList(1)).rejects.toBeInstanceOf(TransientError);
    const closed = new ActiveCampaignClient('127.0.0.1:1', EMULATOR_API_KEY, { insecureHosts: ['127.0.0.1:1'] });
    await expect(closed.getList(1)).rejects.toBeInstanceOf(TransientError);
  });

  it('reports imports that end failed or interrupted, and emails that failed in processing', async () => {
    emulator.faults.importOutcome = { status: 'interrupted', count: 1 };
    const interrupted = await client.bulkImport(contacts(2, 400));
    expect((await untilImportDone(client, interrupted.batchId)).status).toBe('interrupted');
    emulator.faults = { failInProcessing: (e) => e === 'c411@example.com' };
    const partial = await client.bulkImport(contacts(2, 410));
    const info = await untilImportDone(client, partial.batchId);
    expect(info.status).toBe('completed');
    expect(info.failure).toEqual(['c411@example.com']);
  });

  it('sends the Api-Token header and a request id, and every request passes through the budget', async () => {
    const kinds: string[] = [];
    const budgeted = new ActiveCampaignClient(emulator.hostname, EMULATOR_API_KEY, {
      insecureHosts: [emulator.hostname],
      budget: { acquire: async (kind) => void kinds.push(kind) },
    });
    await budgeted.getCurrentUser();
    await budgeted.bulkImport(contacts(2, 500));
    expect(kinds).toEqual(['request', 'bulkImport']);
  });
});
