/**
 * Run webhooks: the signature a receiver checks, the addresses the app refuses (at save and at send),
 * a delivery's tries and back-off, and which runs announce what. Receivers are real HTTP servers on
 * loopback; names resolve through a fake resolver answering loopback or private addresses, so
 * nothing beyond this machine is ever contacted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfig } from '../../shared/config.js';
import type { LookupFunction } from '../../shared/http/publicAddress.js';
import { emptyCounts, type Run } from '../../shared/model.js';
import { createServices } from '../../shared/services.js';
import { LogTelemetry, TELEMETRY } from '../../shared/telemetry.js';
import { signatureHeader, verifySignature, SIGNATURE_HEADER } from '../../shared/webhooks/signature.js';
import {
  announceRunEvent,
  deliverWebhook,
  webhookSecretName,
  type WebhookDeps,
} from '../../shared/webhooks/webhookDelivery.js';
import { checkResolvesPublic, checkWebhookUrl, postEvent } from '../../shared/webhooks/webhookEndpoint.js';
import {
  endEventType,
  RETRY_DELAYS_IN_MS,
  runEvent,
  WEBHOOK_QUEUE,
  type WebhookDeliveryMessage,
  type WebhookEvent,
} from '../../shared/webhooks/webhookModel.js';
import { createWebhook } from '../../shared/webhooks/webhookService.js';
import { memoryWebhookDeps, WebhookReceiver } from '../support/webhookReceiver.js';

const SECRET = 'whsec_test-secret';

const resolvingTo =
  (address: string, asked: string[] = []): LookupFunction =>
  (hostname, options, callback) => {
    asked.push(hostname);
    const family = address.includes(':') ? 6 : 4;
    if ((options as { all?: boolean }).all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };

function sampleRun(status: Run['status'] = 'completed'): Run {
  const now = new Date().toISOString();
  return {
    runId: '8203737453198052efb98',
    exportId: 'e1',
    trigger: 'schedule',
    status,
    counts: { ...emptyCounts(), read: 3, upserted: 2, unchanged: 1 },
    startedAt: now,
    finishedAt: now,
    dryRun: false,
    fullSync: false,
    batches: { total: 1, done: 1 },
  };
}

describe('the signature', () => {
  const body = JSON.stringify({ type: 'run.completed' });
  const now = 1_800_000_000;

  it('verifies what was signed with the secret, within the replay window', () => {
    const header = signatureHeader(SECRET, body, now);
    expect(header).toMatch(/^t=1800000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature(SECRET, body, header, { nowSeconds: now + 299 })).toBe(true);
  });

  it('refuses another body, another secret, an old or future timestamp, and a malformed header', () => {
    const header = signatureHeader(SECRET, body, now);
    expect(verifySignature(SECRET, body.replace('completed', 'failed'), header, { nowSeconds: now })).toBe(false);
    expect(verifySignature('whsec_other', body, header, { nowSeconds: now })).toBe(false);
    expect(verifySignature(SECRET, body, header, { nowSeconds: now + 301 })).toBe(false);
    expect(verifySignature(SECRET, body, header, { nowSeconds: now - 301 })).toBe(false);
    // A signature for another timestamp does not carry over.
    const v1 = header.split('v1=')[1];
    expect(verifySignature(SECRET, body, `t=${now + 1},v1=${v1}`, { nowSeconds: now })).toBe(false);
    for (const bad of [undefined, '', 'v1=abc', `t=${now}`, `t=x,v1=${v1}`, `t=${now},v1=${v1.slice(2)}`])
      expect(verifySignature(SECRET, body, bad, { nowSeconds: now })).toBe(false);
  });
});

describe('webhook addresses', () => {
  it.each([
    ['http://hooks.example.com/x', 'must start with https://'],
    ['not a url', 'is not a URL'],
    ['https://user:pw@hooks.example.com/x', 'user name or password'],
    ['https://127.0.0.1/x', 'a loopback address'],
    ['https://10.1.2.3/x', 'a private address'],
    ['https://192.168.0.10/x', 'a private address'],
    ['https://169.254.0.10/latest/meta-data', 'a link-local (cloud metadata) address'],
    ['https://[::1]/x', 'a loopback address'],
    ['https://[fd00::1]/x', 'a private address'],
    ['https://localhost/x', 'names a local network'],
    ['https://metadata.google.internal/x', 'names a local network'],
    ['https://printer.local/x', 'names a local network'],
    ['https://intranet/x', 'names a local network'],
  ])('refuses %s', (url, why) => {
    expect(() => checkWebhookUrl(url)).toThrow(why);
    expect(() => checkWebhookUrl(url)).toThrow(/^url: /);
  });

  it('takes an https URL of a public name, and plain http only for an exact entry of WEBHOOK_INSECURE_HOSTS', () => {
    expect(checkWebhookUrl('https://hooks.example.com/segment?x=1').href).toBe('https://hooks.example.com/segment?x=1');
    expect(checkWebhookUrl('http://127.0.0.1:7300/hook', ['127.0.0.1:7300']).href).toBe('http://127.0.0.1:7300/hook');
    expect(() => checkWebhookUrl('http://127.0.0.1:7301/hook', ['127.0.0.1:7300'])).toThrow('https://');
  });

  it('accepts only loopback host:port pairs in WEBHOOK_INSECURE_HOSTS', () => {
    expect(readConfig({ WEBHOOK_INSECURE_HOSTS: '127.0.0.1:7300, localhost:8080' }).webhookInsecureHosts).toEqual([
      '127.0.0.1:7300',
      'localhost:8080',
    ]);
    expect(() => readConfig({ WEBHOOK_INSECURE_HOSTS: 'hooks.example.com:443' })).toThrow(
      'WEBHOOK_INSECURE_HOSTS may only name loopback host:port pairs',
    );
  });

  it.each([
    ['10.0.0.7', 'resolves to 10.0.0.7, a private address'],
    ['127.0.0.1', 'resolves to 127.0.0.1, a loopback address'],
    ['169.254.0.10', 'resolves to 169.254.0.10, a link-local (cloud metadata) address'],
    ['::ffff:192.168.1.1', 'resolves to ::ffff:192.168.1.1, a private address'],
  ])(
    'refuses a name that resolves to %s when the webhook is saved, before anything is stored',
    async (address, why) => {
      const svc = createServices(readConfig({ ACTIVECAMPAIGN_REQUESTS_PER_SECOND: '0' }), {
        dnsLookup: resolvingTo(address),
      });
      await expect(
        createWebhook(svc, { name: 'Ada', roles: ['admin'] }, { url: 'https://hooks.example.com/x' }),
      ).rejects.toMatchObject({ code: 'InvalidWebhookUrl', message: expect.stringContaining(why) as string });
      await expect(
        checkResolvesPublic(new URL('https://hooks.example.com/x'), { lookup: resolvingTo('203.0.113.9') }),
      ).resolves.toBeUndefined();
    },
  );

  it('refuses, at send time, a name that has come to resolve to a private address: no request is made', async () => {
    const asked: string[] = [];
    const event = runEvent('run.completed', sampleRun(), { id: 'e1', displayName: 'Newsletter' }, undefined);
    const result = await postEvent('https://hooks.example.com/x', SECRET, event, {
      lookup: resolvingTo('127.0.0.1', asked),
    });
    expect(result).toEqual({
      ok: false,
      error:
        'The hostname "hooks.example.com" resolves to 127.0.0.1, a loopback address, which no public webhook endpoint has',
    });
    expect(asked).toEqual(['hooks.example.com']);
  });
});

describe('delivering a run event', () => {
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
  });
  afterAll(() => receiver.close());

  function setUp(events: WebhookEvent['type'][] = ['run.completed']) {
    const telemetry = new LogTelemetry();
    const deps = memoryWebhookDeps(telemetry, [receiver.host]);
    deps.webhooks.records.set('w1', {
      id: 'w1',
      url: receiver.url,
      events,
      createdAt: new Date().toISOString(),
      createdBy: 'Ada',
    });
    deps.secretValues.set(webhookSecretName('w1'), SECRET);
    return { deps, telemetry };
  }

  it('signs each try, backs off 10 s then 1 min after failures, and stops once the endpoint takes it', async () => {
    receiver.received.length = 0;
    receiver.answer = (n) => (n === 0 ? 500 : n === 1 ? 503 : 204);
    const { deps } = setUp();
    const event = runEvent('run.completed', sampleRun(), { id: 'e1', displayName: 'Newsletter' }, 'https://app');
    let message: WebhookDeliveryMessage = { webhookId: 'w1', event, attempt: 0 };
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = deps.sent.length;
      await deliverWebhook(deps, message, () => {});
      if (deps.sent.length === before) break;
      const next = deps.sent.at(-1)!;
      expect(next.queue).toBe(WEBHOOK_QUEUE);
      delays.push(next.delayInMs);
      message = next.message as WebhookDeliveryMessage;
    }
    expect(delays).toEqual([RETRY_DELAYS_IN_MS[0], RETRY_DELAYS_IN_MS[1]]);
    expect(delays).toEqual([10_000, 60_000]);
    expect(receiver.received).toHaveLength(3);
    for (const r of receiver.received) {
      expect(r.body).toBe(JSON.stringify(event));
      expect(verifySignature(SECRET, r.body, r.headers[SIGNATURE_HEADER.toLowerCase()] as string)).toBe(true);
      expect(r.headers['segment-export-event']).toBe('run.completed');
      expect(r.headers['segment-export-delivery']).toBe(event.id);
      expect(r.headers['content-type']).toBe('application/json');
    }
    const body = JSON.parse(receiver.received[0].body) as WebhookEvent;
    expect(body.data).toMatchObject({
      export: { id: 'e1', displayName: 'Newsletter' },
      run: { runId: sampleRun().runId, status: 'completed', counts: { read: 3, upserted: 2, unchanged: 1 } },
      url: 'https://app/#/exports/e1',
    });
    expect(deps.webhooks.records.get('w1')!.lastDelivery).toMatchObject({
      ok: true,
      status: 204,
      attempt: 3,
      eventType: 'run.completed',
    });
  });

  it('records a failed try with when the next comes, and gives up after the last delay (reported)', async () => {
    receiver.received.length = 0;
    receiver.answer = () => 500;
    const { deps, telemetry } = setUp();
    const event = runEvent('run.completed', sampleRun(), { id: 'e1', displayName: 'Newsletter' }, undefined);
    await deliverWebhook(deps, { webhookId: 'w1', event, attempt: 2 }, () => {});
    expect(deps.webhooks.records.get('w1')!.lastDelivery).toMatchObject({
      ok: false,
      status: 500,
      error: 'the endpoint answered 500',
      attempt: 3,
      nextAttemptAt: expect.any(String) as string,
    });
    expect(deps.sent.at(-1)).toMatchObject({ delayInMs: 300_000, message: { attempt: 3 } });
    const sent = deps.sent.length;
    await deliverWebhook(deps, { webhookId: 'w1', event, attempt: RETRY_DELAYS_IN_MS.length }, () => {});
    expect(deps.sent).toHaveLength(sent);
    expect(deps.webhooks.records.get('w1')!.lastDelivery).not.toHaveProperty('nextAttemptAt');
    const failed = telemetry.lines.map((l) => JSON.parse(l.slice(10)) as { event: string; properties: object });
    expect(failed).toEqual([
      expect.objectContaining({
        event: TELEMETRY.events.webhookFailed,
        properties: expect.objectContaining({ webhookId: 'w1', eventType: 'run.completed', host: receiver.host }),
      }),
    ]);
  });

  it('does not follow a redirect (it could lead anywhere): a failure that says so', async () => {
    receiver.received.length = 0;
    receiver.answer = () => 302;
    const { deps } = setUp();
    const event = runEvent('run.completed', sampleRun(), { id: 'e1', displayName: 'Newsletter' }, undefined);
    await deliverWebhook(deps, { webhookId: 'w1', event, attempt: 0 }, () => {});
    expect(receiver.received).toHaveLength(1);
    expect(deps.webhooks.records.get('w1')!.lastDelivery!.error).toContain('a redirect, which is not followed');
  });

  it('drops the deliveries of a deleted webhook, and a message that is not one', async () => {
    receiver.received.length = 0;
    const { deps } = setUp();
    const logged: string[] = [];
    const event = runEvent('run.completed', sampleRun(), { id: 'e1', displayName: 'Newsletter' }, undefined);
    await deliverWebhook(deps, { webhookId: 'gone', event, attempt: 0 }, (m) => logged.push(m));
    await deliverWebhook(deps, { webhookId: 'w1', event: { type: 'run.exploded' }, attempt: 0 }, (m) => logged.push(m));
    expect(receiver.received).toEqual([]);
    expect(deps.sent).toEqual([]);
    expect(logged).toEqual([expect.stringContaining('was deleted'), expect.stringContaining('Not a webhook delivery')]);
  });

  it('queues a run event only for the endpoints that asked for it, and never fails the run', async () => {
    const { deps } = setUp(['run.failed', 'run.guarded']);
    deps.webhooks.records.set('w2', { ...deps.webhooks.records.get('w1')!, id: 'w2', events: ['run.completed'] });
    await announceRunEvent(deps, 'run.guarded', sampleRun('failed'));
    expect(deps.sent.map((s) => (s.message as WebhookDeliveryMessage).webhookId)).toEqual(['w1']);
    expect((deps.sent[0].message as WebhookDeliveryMessage).event).toMatchObject({
      type: 'run.guarded',
      data: { export: { id: 'e1', displayName: 'e1' }, run: { status: 'failed' } },
    });
    const logged: string[] = [];
    const broken: WebhookDeps = {
      ...deps,
      log: (m) => logged.push(m),
      webhooks: { ...deps.webhooks, list: () => Promise.reject(new Error('storage is down')) },
    };
    await expect(announceRunEvent(broken, 'run.completed', sampleRun())).resolves.toBeUndefined();
    expect(logged).toEqual([expect.stringContaining('storage is down')]);
  });

  it('names the event of a run’s end: completed (with errors too), failed, stopped by the removal guard; none when cancelled', () => {
    expect(endEventType({ status: 'completed' })).toBe('run.completed');
    expect(endEventType({ status: 'completedWithErrors' })).toBe('run.completed');
    expect(endEventType({ status: 'failed' })).toBe('run.failed');
    expect(endEventType({ status: 'failed' }, 'RemovalGuard')).toBe('run.guarded');
    expect(endEventType({ status: 'cancelled' })).toBeUndefined();
  });
});
