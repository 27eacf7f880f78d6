import type { AppConfig } from '../config.js';
import type { LookupFunction } from '../http/publicAddress.js';
import type { Export, Run } from '../model.js';
import type { SecretStore } from '../secrets/secretStore.js';
import { TELEMETRY, type Telemetry } from '../telemetry.js';
import { postEvent, type DeliveryResult } from './webhookEndpoint.js';
import {
  parseDeliveryMessage,
  RETRY_DELAYS_IN_MS,
  runEvent,
  WEBHOOK_QUEUE,
  type Webhook,
  type WebhookDeliveryOutcome,
  type WebhookEvent,
  type WebhookEventType,
} from './webhookModel.js';

export const webhookSecretName = (webhookId: string) => `webhook-secret-${webhookId}`;

interface WebhooksPort {
  get(id: string): Promise<Webhook | undefined>;
  list(): Promise<Webhook[]>;
  update(id: string, change: (w: Webhook) => Webhook | undefined): Promise<Webhook | undefined>;
}

export interface WebhookDeps {
  config: AppConfig;
  telemetry: Telemetry;
  webhooks: WebhooksPort;
  exports: { getCached(id: string): Promise<Export | undefined> };
  queues: { send(queue: string, message: object, delayInMs?: number): Promise<void> };
  secrets: Pick<SecretStore, 'get'>;
  /** How receivers' names are resolved (tests answer with a fake; every answer must be a public address). */
  dnsLookup?: LookupFunction;
  log?: (m: string) => void;
}

/**
 * Puts a run's event on the delivery queue, one message for each endpoint that asked for it. A run
 * never waits on a receiver, and nothing here can fail a run: a storage error is logged and the
 * event is lost (the run's telemetry and the alerts still see the run).
 */
export async function announceRunEvent(deps: WebhookDeps, type: WebhookEventType, run: Run): Promise<void> {
  try {
    const listening = (await deps.webhooks.list()).filter((w) => w.events.includes(type));
    if (listening.length === 0) return;
    const exp = await deps.exports.getCached(run.exportId);
    const event = runEvent(
      type,
      run,
      { id: run.exportId, displayName: exp?.displayName ?? run.exportId },
      deps.config.consoleUrl,
    );
    for (const webhook of listening)
      await deps.queues.send(WEBHOOK_QUEUE, { webhookId: webhook.id, event, attempt: 0 });
  } catch (error) {
    (deps.log ?? console.error)(`The ${type} webhook of run ${run.runId} was not queued: ${String(error)}`);
  }
}

/**
 * One delivery: signs and posts the event, records the outcome on the endpoint, and on a failure puts
 * it back on the queue after the next delay of RETRY_DELAYS_IN_MS; after the last one it is given up
 * (recorded, and reported as ExportWebhookFailed). An endpoint deleted meanwhile gets nothing.
 */
export async function deliverWebhook(deps: WebhookDeps, raw: unknown, log: (m: string) => void): Promise<void> {
  const message = parseDeliveryMessage(raw);
  if (!message) return log(`Not a webhook delivery; dropped: ${JSON.stringify(raw)?.slice(0, 200)}`);
  const webhook = await deps.webhooks.get(message.webhookId);
  if (!webhook) return log(`Webhook ${message.webhookId} was deleted; event ${message.event.id} dropped`);
  const result = await postToWebhook(deps, webhook, message.event);
  const attempt = message.attempt + 1;
  const delay = result.ok || result.final ? undefined : RETRY_DELAYS_IN_MS[message.attempt];
  await recordOutcome(deps, webhook.id, {
    at: new Date().toISOString(),
    eventType: message.event.type,
    ok: result.ok,
    ...(result.status !== undefined ? { status: result.status } : {}),
    ...(result.error ? { error: result.error } : {}),
    attempt,
    ...(delay !== undefined ? { nextAttemptAt: new Date(Date.now() + delay).toISOString() } : {}),
  });
  if (result.ok) return;
  if (delay !== undefined) {
    log(
      `Webhook ${webhook.id}: ${message.event.type} not delivered (${result.error}); try ${attempt + 1} in ${delay / 1000} s`,
    );
    await deps.queues.send(WEBHOOK_QUEUE, { ...message, attempt }, delay);
    return;
  }
  log(`Webhook ${webhook.id}: ${message.event.type} given up after ${attempt} tries (${result.error})`);
  deps.telemetry.event(
    TELEMETRY.events.webhookFailed,
    {
      webhookId: webhook.id,
      host: new URL(webhook.url).host,
      eventType: message.event.type,
      runId: message.event.data.run.runId,
      error: result.error,
    },
    { attempts: attempt },
  );
}

/**
 * Signs and posts one event to the endpoint with its secret; `final` when trying again cannot help
 * (the secret is gone).
 */
export async function postToWebhook(
  deps: Pick<WebhookDeps, 'secrets' | 'config' | 'dnsLookup'>,
  webhook: Webhook,
  event: WebhookEvent,
): Promise<DeliveryResult & { final?: true }> {
  const secret = await deps.secrets.get(webhookSecretName(webhook.id));
  if (!secret)
    return {
      ok: false,
      final: true,
      error: 'the signing secret is missing from the secret store; delete the webhook and add it again',
    };
  return postEvent(webhook.url, secret, event, {
    insecureHosts: deps.config.webhookInsecureHosts,
    lookup: deps.dnsLookup,
  });
}

/** The endpoint's last outcome; an older delivery finishing late does not hide a newer one. */
export async function recordOutcome(
  deps: Pick<WebhookDeps, 'webhooks'>,
  webhookId: string,
  outcome: WebhookDeliveryOutcome,
): Promise<void> {
  await deps.webhooks.update(webhookId, (w) =>
    w.lastDelivery && w.lastDelivery.at > outcome.at ? undefined : { ...w, lastDelivery: outcome },
  );
}
