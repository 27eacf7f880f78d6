/**
 * What operators see: signed run webhooks delivered by the local runner to a receiver on loopback
 * (registered, tested and deleted through the API), each run's changes as CSV with their outcomes,
 * and the audit log of who did what, for each role.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROLE, CONTRIBUTOR_ROLE, principalHeader } from '../../shared/auth/principal.js';
import { createExport } from '../../shared/exports/exportService.js';
import { refreshExports } from '../../shared/runs/scheduledRefresh.js';
import type { Export, Run } from '../../shared/model.js';
import { verifySignature, SIGNATURE_HEADER } from '../../shared/webhooks/signature.js';
import type { WebhookEvent } from '../../shared/webhooks/webhookModel.js';
import { EMULATOR_API_KEY } from '../../tools/acEmulator/server.js';
import {
  adminCaller,
  api,
  runToEnd,
  startHarness,
  startRunnerProcess,
  uploadText,
  waitFor,
  type Harness,
  type RunnerProcess,
} from '../support/harness.js';
import { WebhookReceiver } from '../support/webhookReceiver.js';

const admin = principalHeader('ada@example.com', [ADMIN_ROLE]);
const contributor = principalHeader('carl@example.com', [CONTRIBUTOR_ROLE]);
const csv = (rows: string[]) => ['email,first', ...rows].join('\n');

describe('operators: run webhooks, what a run changed, and the audit log', () => {
  let h: Harness;
  let runner: RunnerProcess;
  let receiver: WebhookReceiver;
  let connectionId: string;
  let exp: Export;
  let secret: string;
  let webhookId: string;

  const call = (method: string, path: string, body?: unknown, principal: string | null = admin) =>
    api(runner.url, method, path, body, principal);
  const events = () => receiver.received.map((r) => JSON.parse(r.body) as WebhookEvent);
  const eventsOf = (runId: string) => events().filter((e) => e.data.run.runId === runId);
  const changes = async (runId: string) => {
    const res = await call('GET', `/exports/${exp.id}/runs/${runId}/changes`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="changes-${runId}.csv"`);
    return (res.body as string).trim().split('\n');
  };

  const runEnd = (runId: string) =>
    waitFor(
      `run ${runId}`,
      async () => {
        const r = await call('GET', `/exports/${exp.id}/runs/${runId}`);
        return r.body.finishedAt ? (r.body as Run) : undefined;
      },
      20_000,
    );

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    h = await startHarness(
      { requestsPerSecond: 100, bulkImportsPerMinute: 6_000, lists: [{ id: 7, name: 'Newsletter' }] },
      { WEBHOOK_INSECURE_HOSTS: receiver.host, WEBSITE_HOSTNAME: 'localhost:7071' },
    );
    runner = await startRunnerProcess(h.env, ['--triggers', 'http,queue']);
    const created = await call('POST', '/connections', {
      displayName: 'Main account',
      hostname: h.emulator.hostname,
      apiKey: EMULATOR_API_KEY,
      dataPrivacyConsent: true,
      allowContributors: true,
    });
    connectionId = created.body.id;
    await uploadText(
      h.blobs,
      'ops',
      'news/segment.csv',
      csv(['a@example.com,A', 'b@example.com,B', 'c@example.com,C']),
    );
    exp = await createExport(h.svc, adminCaller, {
      displayName: 'Newsletter',
      connectionId,
      listId: 7,
      mode: 'mirror',
      removalGuardPercent: 50,
      source: { container: 'ops', path: 'news/segment.csv' },
      mapping: { email: 'email', firstName: 'first' },
    });
  });
  afterAll(async () => {
    await runner?.stop();
    await h?.stop();
    await receiver?.close();
  });

  it('registers an endpoint (administrators only), refuses unsafe addresses, and sends a signed test event', async () => {
    expect((await call('POST', '/webhooks', { url: receiver.url }, contributor)).status).toBe(403);
    for (const [url, code] of [
      ['http://hooks.example.com/x', 'InvalidWebhookUrl'],
      ['https://169.254.0.10/latest', 'InvalidWebhookUrl'],
      ['https://10.0.0.1/x', 'InvalidWebhookUrl'],
    ]) {
      const refused = await call('POST', '/webhooks', { url });
      expect(refused.status, url).toBe(400);
      expect(refused.body.error.code).toBe(code);
    }
    expect((await call('POST', '/webhooks', { url: receiver.url, events: ['run.exploded'] })).status).toBe(400);

    const created = await call('POST', '/webhooks', { url: receiver.url });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      url: receiver.url,
      events: ['run.started', 'run.completed', 'run.failed', 'run.guarded'],
      createdBy: 'ada@example.com',
    });
    secret = created.body.secret;
    webhookId = created.body.id;
    expect(secret).toMatch(/^whsec_/);
    const listed = await call('GET', '/webhooks');
    expect(listed.body.value).toHaveLength(1);
    expect(JSON.stringify(listed.body)).not.toContain(secret);

    const tested = await call('POST', `/webhooks/${webhookId}/test`);
    expect(tested.status).toBe(200);
    expect(tested.body).toMatchObject({ ok: true, status: 200 });
    const sample = receiver.received.at(-1)!;
    expect(verifySignature(secret, sample.body, sample.headers[SIGNATURE_HEADER.toLowerCase()] as string)).toBe(true);
    expect(JSON.parse(sample.body)).toMatchObject({ type: 'run.completed', test: true, id: tested.body.eventId });
    expect((await call('GET', '/webhooks')).body.value[0].lastDelivery).toMatchObject({ ok: true, status: 200 });
  });

  it('announces a run’s start and end, signed, with its counts and a link to its page, without waiting on the receiver', async () => {
    // A receiver that does not answer: the run goes on and ends while its run.started waits.
    receiver.holding = true;
    const ending = runToEnd(h, exp);
    await waitFor('run.started at the receiver', async () => (receiver.held > 0 ? true : undefined), 20_000);
    const run1 = await ending;
    expect(run1.status).toBe('completed');
    expect(receiver.held).toBeGreaterThan(0);
    receiver.release();
    const delivered = await waitFor(
      'both events',
      async () => (eventsOf(run1.runId).length >= 2 ? eventsOf(run1.runId) : undefined),
      20_000,
    );
    expect(delivered.map((e) => e.type)).toEqual(['run.started', 'run.completed']);
    const completed = delivered[1];
    expect(completed.data).toEqual({
      export: { id: exp.id, displayName: 'Newsletter' },
      run: expect.objectContaining({ runId: run1.runId, status: 'completed', counts: run1.counts }) as Run,
      url: `http://localhost:7071/#/exports/${exp.id}`,
    });
    for (const r of receiver.received)
      expect(verifySignature(secret, r.body, r.headers[SIGNATURE_HEADER.toLowerCase()] as string)).toBe(true);

    expect(await changes(run1.runId)).toEqual([
      'email,change,outcome',
      'a@example.com,added,applied',
      'b@example.com,added,applied',
      'c@example.com,added,applied',
    ]);
  });

  it('lists who a run touched and what became of each: updated, added, unsubscribed, re-subscribed, failed', async () => {
    // b changes, c leaves, d and a blocked address arrive.
    h.emulator.faults.rejectInValidation = (email) => email.startsWith('blocked');
    await uploadText(
      h.blobs,
      'ops',
      'news/segment.csv',
      csv(['a@example.com,A', 'b@example.com,Bee', 'd@example.com,D', 'blocked@example.com,X']),
    );
    const run2 = await runToEnd(h, exp);
    // ActiveCampaign's importer refuses the blocked address in its validation: a rejected row, named.
    expect(run2.counts).toMatchObject({ read: 4, upserted: 2, unsubscribed: 1, rejected: 1, failed: 0, unchanged: 1 });
    expect((await changes(run2.runId)).sort()).toEqual(
      [
        'b@example.com,updated,applied',
        'blocked@example.com,added,failed',
        'c@example.com,unsubscribed,applied',
        'd@example.com,added,applied',
        'email,change,outcome',
      ].sort(),
    );
    // c comes back: re-subscribed. A dry run lists what it would do.
    h.emulator.faults.rejectInValidation = undefined;
    await uploadText(
      h.blobs,
      'ops',
      'news/segment.csv',
      csv(['a@example.com,A', 'b@example.com,Bee', 'c@example.com,C', 'd@example.com,D']),
    );
    const dry = await runToEnd(h, exp, { dryRun: true });
    expect(await changes(dry.runId)).toEqual(['email,change,outcome', 'c@example.com,resubscribed,dryRun']);
    const run3 = await runToEnd(h, exp);
    expect(await changes(run3.runId)).toEqual(['email,change,outcome', 'c@example.com,resubscribed,applied']);
    // A run that changed nobody has no list; a contributor may read one.
    await waitFor('run 3 events', async () => (eventsOf(run3.runId).length >= 2 ? true : undefined), 20_000);
    const run4 = await runToEnd(h, exp);
    const none = await call('GET', `/exports/${exp.id}/runs/${run4.runId}/changes`);
    expect(none.status).toBe(404);
    expect(none.body.error.message).toContain('it changed no contact');
    expect((await call('GET', `/exports/${exp.id}/runs/${run3.runId}/changes`, undefined, contributor)).status).toBe(
      200,
    );
  });

  it('sends run.guarded when the removal guard stops a run, and run.failed when a run fails', async () => {
    await uploadText(h.blobs, 'ops', 'news/segment.csv', csv(['a@example.com,A']));
    const guarded = await runToEnd(h, exp);
    expect(guarded.status).toBe('failed');
    const guardedEvents = await waitFor(
      'the guard’s event',
      async () => (eventsOf(guarded.runId).length >= 2 ? eventsOf(guarded.runId) : undefined),
      20_000,
    );
    expect(guardedEvents.map((e) => e.type)).toEqual(['run.started', 'run.guarded']);
    expect(guardedEvents[1].data.run.error).toContain('Stopped before sending anything');
    // An administrator confirms what the guard showed (recorded in the audit log).
    const confirmed = await call('POST', `/exports/${exp.id}/runs`, { confirmRemovals: guarded.runId });
    expect(confirmed.status).toBe(202);
    await runEnd(confirmed.body.runId);

    await h.blobs.getContainerClient('ops').getBlockBlobClient('news/segment.csv').delete();
    const failed = await runToEnd(h, exp);
    expect(failed.status).toBe('failed');
    const failedEvents = await waitFor(
      'the failure’s event',
      async () => (eventsOf(failed.runId).length >= 2 ? eventsOf(failed.runId) : undefined),
      20_000,
    );
    expect(failedEvents.map((e) => e.type)).toEqual(['run.started', 'run.failed']);
  });

  it('keeps an audit log of who did what (administrators only), paged, without any key', async () => {
    await uploadText(h.blobs, 'ops', 'news/segment.csv', csv(['a@example.com,A', 'b@example.com,B']));
    const started = await call('POST', `/exports/${exp.id}/runs`, { dryRun: true }, contributor);
    expect(started.status).toBe(202);
    await runEnd(started.body.runId);
    const rotated = await call('PATCH', `/connections/${connectionId}`, { apiKey: EMULATOR_API_KEY });
    expect(rotated.status).toBe(200);
    expect((await call('PATCH', `/exports/${exp.id}`, { displayName: 'Newsletter (EU)' }, contributor)).status).toBe(
      200,
    );
    expect((await call('DELETE', `/webhooks/${webhookId}`)).status).toBe(204);
    expect((await call('PATCH', `/connections/${connectionId}`, { displayName: 'Main' })).status).toBe(200);
    const spare = await call('POST', '/connections', {
      displayName: 'Spare',
      hostname: h.emulator.hostname,
      apiKey: EMULATOR_API_KEY,
      dataPrivacyConsent: true,
    });
    expect((await call('DELETE', `/connections/${spare.body.id}`)).status).toBe(204);
    const other = await createExport(h.svc, adminCaller, {
      displayName: 'Other',
      connectionId,
      listId: 7,
      source: { container: 'ops', path: 'news/segment.csv' },
      mapping: { email: 'email' },
    });
    expect((await call('DELETE', `/exports/${other.id}`, undefined, contributor)).status).toBe(204);

    expect((await call('GET', '/audit', undefined, contributor)).status).toBe(403);
    const all = await call('GET', '/audit?top=100');
    expect(all.status).toBe(200);
    const entries = all.body.value as { action: string; actor: { name: string; role: string }; target: object }[];
    expect(entries.map((e) => `${e.action} ${e.actor.name} ${e.actor.role}`)).toEqual([
      'export.deleted carl@example.com contributor',
      'export.created admin@example.com admin',
      'connection.deleted ada@example.com admin',
      'connection.created ada@example.com admin',
      'connection.updated ada@example.com admin',
      'webhook.deleted ada@example.com admin',
      'export.updated carl@example.com contributor',
      'connection.keyRotated ada@example.com admin',
      'run.started carl@example.com contributor',
      'run.confirmedRemovals ada@example.com admin',
      'webhook.tested ada@example.com admin',
      'webhook.created ada@example.com admin',
      'export.created admin@example.com admin',
      'connection.created ada@example.com admin',
    ]);
    expect(entries[6]).toMatchObject({
      target: { type: 'export', id: exp.id, name: 'Newsletter (EU)' },
      details: { fields: 'displayName' },
    });
    expect(entries[8]).toMatchObject({ target: { type: 'run', id: started.body.runId }, details: { dryRun: true } });
    expect(entries[9]).toMatchObject({ details: { confirms: expect.any(String) as string, unsubscribes: 3 } });
    expect(JSON.stringify(all.body)).not.toContain(EMULATOR_API_KEY);
    expect(JSON.stringify(all.body)).not.toContain(secret);

    const first = await call('GET', '/audit?top=3');
    expect(first.body.value).toEqual(entries.slice(0, 3));
    const next = await call(
      'GET',
      `/audit?top=3&continuationToken=${encodeURIComponent(first.body.continuationToken)}`,
    );
    expect(next.body.value).toEqual(entries.slice(3, 6));
    const bad = await call('GET', '/audit?continuationToken=nonsense');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('not a page of the audit log');
    // The telemetry event the workbook lists.
    expect(runner.output()).toContain('"event":"ExportAudit"');

    // The app's own schedule starts runs too; a cancel says who (ActiveCampaign answers slowly: the run is still on).
    await uploadText(h.blobs, 'ops', 'news/segment.csv', csv(['a@example.com,A', 'e@example.com,E']));
    h.emulator.faults.delayInMs = 4_000;
    const refresh = await refreshExports(h.svc);
    const scheduled = refresh.started.find((s) => s.exportId === exp.id)!;
    expect((await call('POST', `/exports/${exp.id}/runs/${scheduled.runId}/cancel`, {}, contributor)).status).toBe(202);
    h.emulator.faults.delayInMs = 0;
    const latest = (await call('GET', '/audit?top=2')).body.value as typeof entries;
    expect(latest.map((e) => `${e.action} ${e.actor.name} ${e.actor.role}`)).toEqual([
      'run.cancelled carl@example.com contributor',
      'run.started schedule app',
    ]);
    expect(latest[1]).toMatchObject({ target: { type: 'run', id: scheduled.runId }, details: { trigger: 'schedule' } });
  });
});
