/** Queue messages of a run. Small on purpose: a batch's contacts travel in a blob. */

/** A run's plan message, and the run watcher's message (the same shape). */
export interface PlanMessage {
  exportId: string;
  runId: string;
}

/**
 * One batch, or (`batches`) a group of batches planned together: fewer, larger messages cost fewer
 * queue transactions. A group is handled as its batches, each on its own; a batch that must wait
 * or retry goes back on the queue alone.
 */
export interface BatchMessage {
  exportId: string;
  runId: string;
  batch: number;
  batches?: number[];
  /** Failed attempts so far (throttling does not count). */
  attempt?: number;
}

export interface StatusMessage {
  exportId: string;
  runId: string;
  batch: number;
  importId: string;
  polls?: number;
  attempt?: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === 'object';
}

const str = (v: unknown) => typeof v === 'string' && v.length > 0;

export function parsePlanMessage(value: unknown): PlanMessage {
  if (isObject(value) && str(value.exportId) && str(value.runId)) return value as unknown as PlanMessage;
  throw new TypeError(`Not a plan message: ${JSON.stringify(value)?.slice(0, 200)}`);
}

export function parseBatchMessage(value: unknown): BatchMessage {
  if (isObject(value) && str(value.exportId) && str(value.runId) && Number.isInteger(value.batch)) {
    if (value.batches !== undefined && !(Array.isArray(value.batches) && value.batches.every(Number.isInteger))) throw new TypeError('Not a batch message: batches must be integers');
    return value as unknown as BatchMessage;
  }
  throw new TypeError(`Not a batch message: ${JSON.stringify(value)?.slice(0, 200)}`);
}

export function parseStatusMessage(value: unknown): StatusMessage {
  if (isObject(value) && str(value.exportId) && str(value.runId) && Number.isInteger(value.batch) && str(value.importId)) {
    return value as unknown as StatusMessage;
  }
  throw new TypeError(`Not a status message: ${JSON.stringify(value)?.slice(0, 200)}`);
}

/** The single-batch messages a (possibly grouped) batch message stands for. */
export function splitBatchMessage(message: BatchMessage): BatchMessage[] {
  if (!message.batches?.length) return [message];
  return message.batches.map((batch) => ({ exportId: message.exportId, runId: message.runId, batch, attempt: message.attempt }));
}
