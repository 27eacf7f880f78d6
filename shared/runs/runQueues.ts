import type { QueueClient, QueueServiceClient } from '@azure/storage-queue';

/**
 * The run engine's queues: their names (shared by the function registrations and the senders),
 * the message types, their parsing and encoding, and every enqueue. Messages are small on purpose:
 * a batch's contacts travel in a blob.
 */
export const QUEUES = {
  plan: 'export-plan',
  batches: 'export-batches',
  status: 'export-status',
  progress: 'export-progress',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** Where the Functions host moves a message after maxDequeueCount failed attempts. */
export const poisonQueue = (name: QueueName) => `${name}-poison`;

/** Fields every message may carry. */
interface Envelope {
  exportId: string;
  runId: string;
  /** Failed attempts so far of this piece of work (throttling does not count). */
  attempt?: number;
  /** Times the message came back from its poison queue. */
  poisoned?: number;
}

export type PlanMessage = Envelope;

/**
 * One batch, or (`batches`) a group of batches planned together: fewer, larger messages cost fewer
 * queue transactions. A group is handled as its batches, each on its own; a batch that must wait
 * or retry goes back on the queue alone.
 */
export interface BatchMessage extends Envelope {
  batch: number;
  batches?: number[];
  /** Since when (ms since epoch) and how often ActiveCampaign has been throttling this batch. */
  throttledSince?: number;
  throttles?: number;
  /** The claim this delivery's predecessor held, so that coming back it recognises its own claim. */
  claimId?: string;
  /** The import the predecessor's post started, when it could not record it (storage failed). */
  acceptedImportId?: string;
}

export interface StatusMessage extends Envelope {
  batch: number;
  importId: string;
  polls?: number;
  throttledSince?: number;
  throttles?: number;
}

export interface WatchMessage extends Envelope {
  /** The watcher chain this message belongs to (the run keeps the current one). */
  watchId?: string;
}

export interface QueueMessages {
  [QUEUES.plan]: PlanMessage;
  [QUEUES.batches]: BatchMessage;
  [QUEUES.status]: StatusMessage;
  [QUEUES.progress]: WatchMessage;
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length < 200;
const int = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
const optionalInt = (v: unknown) => v === undefined || int(v);

/** Parses a message of a queue, or undefined when it is not one (never throws). */
export function parseMessage<Q extends QueueName>(queue: Q, value: unknown): QueueMessages[Q] | undefined {
  if (
    !isObject(value) ||
    !str(value.exportId) ||
    !str(value.runId) ||
    !optionalInt(value.attempt) ||
    !optionalInt(value.poisoned)
  )
    return undefined;
  switch (queue) {
    case QUEUES.plan:
    case QUEUES.progress:
      return value as unknown as QueueMessages[Q];
    case QUEUES.batches:
      if (!int(value.batch)) return undefined;
      if (
        value.batches !== undefined &&
        !(Array.isArray(value.batches) && value.batches.length <= 64 && value.batches.every(int))
      )
        return undefined;
      return value as unknown as QueueMessages[Q];
    case QUEUES.status:
      return int(value.batch) && str(value.importId) ? (value as unknown as QueueMessages[Q]) : undefined;
  }
  return undefined;
}

/** A queue trigger's message, or undefined (logged) when it is not one: it is dropped, never retried. */
export function readMessage<Q extends QueueName>(
  queue: Q,
  value: unknown,
  warn: (m: string) => void,
): QueueMessages[Q] | undefined {
  const message = parseMessage(queue, value);
  if (!message) warn(`Not a ${queue} message; dropped: ${JSON.stringify(value)?.slice(0, 200)}`);
  return message;
}

/** The single-batch messages a (possibly grouped) batch message stands for. */
export function splitBatchMessage(message: BatchMessage): BatchMessage[] {
  if (!message.batches?.length) return [message];
  return message.batches.map((batch) => ({
    exportId: message.exportId,
    runId: message.runId,
    batch,
    attempt: message.attempt,
    poisoned: message.poisoned,
  }));
}

/** Azure Functions' queue trigger expects base64 messages; @azure/storage-queue does not encode. */
export function encodeMessage(message: unknown): string {
  return Buffer.from(JSON.stringify(message), 'utf8').toString('base64');
}

/** A message's text as the host hands it over: base64 JSON, parsed; undefined when it is neither. */
export function decodeMessage(text: string): unknown {
  try {
    return JSON.parse(Buffer.from(text, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Azure Storage queues keep a message invisible for at most 7 days. */
const MAX_DELAY_SECONDS = 7 * 24 * 3600;

/** Sends the engine's messages, creating each queue the first time. */
export class RunQueues {
  readonly #service: QueueServiceClient;
  readonly #clients = new Map<string, Promise<QueueClient>>();

  constructor(service: QueueServiceClient) {
    this.#service = service;
  }

  client(name: string): Promise<QueueClient> {
    let client = this.#clients.get(name);
    if (!client) {
      const queue = this.#service.getQueueClient(name);
      client = queue.createIfNotExists().then(() => queue);
      client.catch(() => this.#clients.delete(name));
      this.#clients.set(name, client);
    }
    return client;
  }

  /** Sends a message to any queue of the app (poison handlers send to their own queue too). */
  async send(name: string, message: object, delayInMs = 0): Promise<void> {
    const queue = await this.client(name);
    const delaySeconds = Math.min(Math.ceil(delayInMs / 1000), MAX_DELAY_SECONDS);
    await queue.sendMessage(encodeMessage(message), { visibilityTimeout: delaySeconds || undefined });
  }

  plan(message: PlanMessage, delayInMs = 0): Promise<void> {
    return this.send(QUEUES.plan, message, delayInMs);
  }

  batches(message: BatchMessage, delayInMs = 0): Promise<void> {
    return this.send(QUEUES.batches, message, delayInMs);
  }

  statusCheck(message: StatusMessage, delayInMs: number): Promise<void> {
    return this.send(QUEUES.status, message, delayInMs);
  }

  watch(message: WatchMessage, delayInMs: number): Promise<void> {
    return this.send(QUEUES.progress, message, delayInMs);
  }
}
