import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { recordAudit } from '../audit/auditLog.js';
import type { Principal } from '../auth/principal.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { emptyCounts } from '../model.js';
import type { AppServices } from '../services.js';
import { newWebhookSecret } from './signature.js';
import { postToWebhook, recordOutcome, webhookSecretName } from './webhookDelivery.js';
import { checkResolvesPublic, checkWebhookUrl, type DeliveryResult } from './webhookEndpoint.js';
import { runEvent, WEBHOOK_EVENTS, type Webhook } from './webhookModel.js';

type WebhookServiceDeps = Pick<AppServices, 'webhooks' | 'secrets' | 'config' | 'audit' | 'telemetry' | 'dnsLookup'>;

/** At most this many endpoints: each run event is one message a listening endpoint. */
export const MAX_WEBHOOKS = 10;

export const createWebhookSchema = z.strictObject({
  url: z.string().trim().min(1).max(2000),
  events: z
    .array(z.enum(WEBHOOK_EVENTS))
    .min(1)
    .max(WEBHOOK_EVENTS.length)
    .optional()
    .describe('The events the endpoint receives; all four when left out'),
});

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const target = (w: Pick<Webhook, 'id' | 'url'>) => ({ type: 'webhook', id: w.id, name: new URL(w.url).host }) as const;

/**
 * Registers an endpoint. Its URL is checked (https, a public address, its name resolving to one); its
 * signing secret is made here, kept in the secret store, and shown in this answer only.
 */
export async function createWebhook(
  deps: WebhookServiceDeps,
  principal: Principal,
  input: z.infer<typeof createWebhookSchema>,
): Promise<Webhook & { secret: string }> {
  const url = checkWebhookUrl(input.url, deps.config.webhookInsecureHosts);
  await checkResolvesPublic(url, { insecureHosts: deps.config.webhookInsecureHosts, lookup: deps.dnsLookup });
  const existing = await deps.webhooks.list();
  if (existing.length >= MAX_WEBHOOKS)
    throw new ConflictError(
      'TooManyWebhooks',
      `There are already ${MAX_WEBHOOKS} webhooks, the most the app keeps: delete one first`,
    );
  const webhook: Webhook = {
    id: randomUUID(),
    url: url.href,
    events: [...new Set(input.events ?? WEBHOOK_EVENTS)],
    createdAt: new Date().toISOString(),
    createdBy: principal.name,
  };
  const secret = newWebhookSecret();
  await deps.secrets.set(webhookSecretName(webhook.id), secret);
  try {
    await deps.webhooks.create(webhook);
  } catch (error) {
    await deps.secrets.delete(webhookSecretName(webhook.id));
    throw error;
  }
  await recordAudit(deps, principal, 'webhook.created', target(webhook), { events: webhook.events.join(', ') });
  return { ...webhook, secret };
}

export async function listWebhooks(deps: Pick<WebhookServiceDeps, 'webhooks'>): Promise<Webhook[]> {
  return (await deps.webhooks.list()).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

async function findWebhook(deps: Pick<WebhookServiceDeps, 'webhooks'>, id: string): Promise<Webhook> {
  const webhook = ID.test(id) ? await deps.webhooks.get(id) : undefined;
  if (!webhook) throw new NotFoundError(`Webhook ${id}`);
  return webhook;
}

/** Deletes the endpoint and its secret: deliveries still on the queue find it gone and are dropped. */
export async function deleteWebhook(deps: WebhookServiceDeps, principal: Principal, id: string): Promise<void> {
  const webhook = await findWebhook(deps, id);
  await deps.webhooks.delete(id);
  await deps.secrets.delete(webhookSecretName(id));
  await recordAudit(deps, principal, 'webhook.deleted', target(webhook));
}

/**
 * Sends a sample `run.completed` event (marked `test: true`) to the endpoint now, once, signed as any
 * delivery; answers with what the endpoint did. The outcome is the endpoint's last delivery.
 */
export async function testWebhook(
  deps: WebhookServiceDeps,
  principal: Principal,
  id: string,
): Promise<DeliveryResult & { eventId: string }> {
  const webhook = await findWebhook(deps, id);
  const now = new Date().toISOString();
  const event = {
    ...runEvent(
      'run.completed',
      {
        runId: '0000000000000-test',
        trigger: 'manual',
        status: 'completed',
        dryRun: false,
        counts: { ...emptyCounts(), read: 3, upserted: 2, unchanged: 1 },
        startedAt: now,
        finishedAt: now,
      },
      { id: 'test', displayName: 'Test event (no run happened)' },
      deps.config.consoleUrl,
    ),
    test: true as const,
  };
  const { final: _final, ...result } = await postToWebhook(deps, webhook, event);
  await recordOutcome(deps, id, {
    at: new Date().toISOString(),
    eventType: event.type,
    ok: result.ok,
    ...(result.status !== undefined ? { status: result.status } : {}),
    ...(result.error ? { error: result.error } : {}),
    attempt: 1,
  });
  await recordAudit(deps, principal, 'webhook.tested', target(webhook), {
    delivered: result.ok,
    ...(result.status !== undefined ? { status: result.status } : {}),
  });
  return { ...result, eventId: event.id };
}
