/**
 * The run engine's queues: their names (one per queue, shared by the function registrations, the
 * senders of ports.ts and the poison handlers) and the message types and their parsing. Messages
 * are small on purpose: a batch's contacts travel in a blob. store/storageQueues.ts sends them.
 */
export const QUEUES = {
  plan: 'export-plan',
  batches: 'export-batches',
  importCheck: 'export-import-check',
  watch: 'export-watch',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/**
 * The queues of snapshot detection: `segment-events` carries Event Grid's BlobCreated events of the
 * segments storage (Event Grid schema; the local runner writes the same), `export-checks` the
 * app's own delayed look at one export's source. Both are hints: a message lost or poisoned costs
 * freshness, never a run (the scheduled refresh looks at every export), so they have no poison handler.
 */
export const SEGMENT_QUEUES = {
  events: 'segment-events',
  checks: 'export-checks',
} as const;

/** A look at one export's source; `checkId` names the one the export's check record is waiting for. */
export interface SnapshotCheckMessage {
  exportId: string;
  checkId: string;
}

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

/** An import ActiveCampaign accepted for a batch: what an import check looks at. */
export interface AcceptedImport {
  batch: number;
  importId: string;
}

/**
 * One accepted import (`batch`, `importId`), or (`imports`, the first of them in `batch` and `importId`) the imports
 * of one batch message, checked together: one queue message instead of one each. Each is checked on its own; one
 * that must retry goes back on the queue alone.
 */
export interface ImportCheckMessage extends Envelope {
  batch: number;
  importId: string;
  imports?: AcceptedImport[];
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
  [QUEUES.importCheck]: ImportCheckMessage;
  [QUEUES.watch]: WatchMessage;
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length < 200;
const int = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
const optionalInt = (v: unknown) => v === undefined || int(v);

/** The most batches (or imports) one message may group. */
export const MAX_GROUP = 64;

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
    case QUEUES.watch:
      return value as unknown as QueueMessages[Q];
    case QUEUES.batches:
      if (!int(value.batch)) return undefined;
      if (
        value.batches !== undefined &&
        !(Array.isArray(value.batches) && value.batches.length <= MAX_GROUP && value.batches.every(int))
      )
        return undefined;
      return value as unknown as QueueMessages[Q];
    case QUEUES.importCheck:
      if (!int(value.batch) || !str(value.importId)) return undefined;
      if (
        value.imports !== undefined &&
        !(
          Array.isArray(value.imports) &&
          value.imports.length <= MAX_GROUP &&
          value.imports.every((i) => isObject(i) && int(i.batch) && str(i.importId))
        )
      )
        return undefined;
      return value as unknown as QueueMessages[Q];
  }
  return undefined;
}

export function parseSnapshotCheck(value: unknown): SnapshotCheckMessage | undefined {
  return isObject(value) && str(value.exportId) && str(value.checkId)
    ? (value as unknown as SnapshotCheckMessage)
    : undefined;
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

/** The single-import checks a (possibly grouped) import check stands for. */
export function splitImportCheck(message: ImportCheckMessage): ImportCheckMessage[] {
  if (!message.imports?.length) return [message];
  const { imports, ...envelope } = message;
  return imports.map(({ batch, importId }) => ({ ...envelope, batch, importId }));
}
