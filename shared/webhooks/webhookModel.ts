import { randomUUID } from 'node:crypto';
import type { Export, Run, RunCounts } from '../model.js';

/** What a run webhook can be sent for. A cancelled run sends none: a person cancelled it (the audit log says who). */
export const WEBHOOK_EVENTS = ['run.started', 'run.completed', 'run.failed', 'run.guarded'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/** An endpoint that receives run webhooks. Its signing secret is in the secret store, never here. */
export interface Webhook {
  id: string;
  url: string;
  events: WebhookEventType[];
  createdAt: string;
  createdBy: string;
  /** The last delivery's outcome (a test sent from the console counts too). */
  lastDelivery?: WebhookDeliveryOutcome;
}

export interface WebhookDeliveryOutcome {
  at: string;
  eventType: WebhookEventType;
  ok: boolean;
  /** The receiver's HTTP status, when it answered. */
  status?: number;
  error?: string;
  /** Tries so far (1 for the first). */
  attempt: number;
  /** A failed delivery that will be tried again then. */
  nextAttemptAt?: string;
}

/** The body a receiver gets (JSON). */
export interface WebhookEvent {
  id: string;
  type: WebhookEventType;
  createdAt: string;
  /** A sample sent by "Send a test event": no run happened. */
  test?: true;
  data: {
    export: { id: string; displayName: string };
    run: {
      runId: string;
      trigger: Run['trigger'];
      status: Run['status'];
      dryRun: boolean;
      counts: RunCounts;
      error?: string;
      startedAt: string;
      finishedAt?: string;
    };
    /** The export's page in the console, which shows the run. */
    url?: string;
  };
}

/** The queue that carries one delivery (an event for one endpoint) at a time. */
export const WEBHOOK_QUEUE = 'webhook-deliveries';

export interface WebhookDeliveryMessage {
  webhookId: string;
  event: WebhookEvent;
  /** Tries before this one. */
  attempt: number;
}

/**
 * How long to wait before each new try of a delivery that failed: 10 s, 1 min, 5 min, 30 min, 2 h
 * and 6 h (seven tries over about eight and a half hours), then it is given up and reported.
 */
export const RETRY_DELAYS_IN_MS = [10_000, 60_000, 300_000, 1_800_000, 7_200_000, 21_600_000];

/** The event a run's end sends (undefined for a cancelled run). */
export function endEventType(run: Pick<Run, 'status'>, errorCode?: string): WebhookEventType | undefined {
  if (run.status === 'completed' || run.status === 'completedWithErrors') return 'run.completed';
  if (run.status === 'failed') return errorCode === 'RemovalGuard' ? 'run.guarded' : 'run.failed';
  return undefined;
}

export function runEvent(
  type: WebhookEventType,
  run: Pick<Run, 'runId' | 'trigger' | 'status' | 'dryRun' | 'counts' | 'error' | 'startedAt' | 'finishedAt'>,
  exp: Pick<Export, 'id' | 'displayName'>,
  consoleUrl: string | undefined,
): WebhookEvent {
  return {
    id: `evt_${randomUUID()}`,
    type,
    createdAt: new Date().toISOString(),
    data: {
      export: { id: exp.id, displayName: exp.displayName },
      run: {
        runId: run.runId,
        trigger: run.trigger,
        status: run.status,
        dryRun: run.dryRun,
        counts: run.counts,
        ...(run.error ? { error: run.error } : {}),
        startedAt: run.startedAt,
        ...(run.finishedAt ? { finishedAt: run.finishedAt } : {}),
      },
      ...(consoleUrl ? { url: `${consoleUrl}/#/exports/${encodeURIComponent(exp.id)}` } : {}),
    },
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** A delivery message, or undefined when it is not one. */
export function parseDeliveryMessage(value: unknown): WebhookDeliveryMessage | undefined {
  if (!isObject(value) || typeof value.webhookId !== 'string' || !Number.isInteger(value.attempt)) return undefined;
  const event = value.event;
  if (!isObject(event) || typeof event.id !== 'string' || !WEBHOOK_EVENTS.includes(event.type as WebhookEventType))
    return undefined;
  return value as unknown as WebhookDeliveryMessage;
}
