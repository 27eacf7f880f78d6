import { settled } from '../pool.js';
import type { EngineDeps, QueuesPort } from './ports.js';
import type { RunRecord } from './runModel.js';
import {
  MAX_GROUP,
  type AcceptedImport,
  type BatchMessage,
  type ImportCheckMessage,
  type PlanMessage,
  type SnapshotCheckMessage,
  type WatchMessage,
} from './runQueues.js';

/**
 * Queues that hold the plain import checks sent through them (an import's first check, or another look
 * after `pending`) until `flush`, which sends them as one message per run, delay and number of looks: the
 * imports a batch message started are checked with one queue message, not eight. A check that retries
 * after a failure, or a throttled or poisoned one, goes at once. Held checks are lost if the process dies
 * before `flush`; the message being handled then comes back, and finds its imports unchecked.
 */
export class ImportChecksTogether implements QueuesPort {
  readonly #held = new Map<string, { message: ImportCheckMessage; delayInMs: number; imports: AcceptedImport[] }>();

  constructor(readonly queues: QueuesPort) {}

  importCheck(message: ImportCheckMessage, delayInMs: number): Promise<void> {
    if (message.attempt || message.throttles || message.throttledSince || message.poisoned || message.imports)
      return this.queues.importCheck(message, delayInMs);
    const key = `${message.exportId}/${message.runId}/${delayInMs}/${message.polls ?? 0}`;
    const group = this.#held.get(key) ?? { message, delayInMs, imports: [] };
    group.imports.push({ batch: message.batch, importId: message.importId });
    this.#held.set(key, group);
    return Promise.resolve();
  }

  /** Sends what is held. */
  async flush(): Promise<void> {
    const groups = [...this.#held.values()];
    this.#held.clear();
    for (const { message, delayInMs, imports } of groups)
      for (let i = 0; i < imports.length; i += MAX_GROUP) {
        const part = imports.slice(i, i + MAX_GROUP);
        const { batch, importId } = part[0];
        await this.queues.importCheck(
          { ...message, batch, importId, imports: part.length > 1 ? part : undefined },
          delayInMs,
        );
      }
  }

  plan(message: PlanMessage, delayInMs?: number): Promise<void> {
    return this.queues.plan(message, delayInMs);
  }

  batches(message: BatchMessage, delayInMs?: number): Promise<void> {
    return this.queues.batches(message, delayInMs);
  }

  watch(message: WatchMessage, delayInMs: number): Promise<void> {
    return this.queues.watch(message, delayInMs);
  }

  snapshotCheck(message: SnapshotCheckMessage, delayInMs: number): Promise<void> {
    return this.queues.snapshotCheck(message, delayInMs);
  }

  send(queue: string, message: object, delayInMs?: number): Promise<void> {
    return this.queues.send(queue, message, delayInMs);
  }
}

/**
 * The parts of one message (the batches of a batch message, the imports of a check), each handled on its own and
 * at once, with one read of their run, and the import checks they send held and sent together. The outcomes, or
 * (once every part is over and the checks are sent) the first failure: the message then comes back.
 */
export async function handleTogether<D extends Pick<EngineDeps, 'queues' | 'runs'>, M, O>(
  deps: D,
  ids: { exportId: string; runId: string },
  parts: M[],
  handle: (deps: D, part: M, known: { run: RunRecord | undefined }) => Promise<O>,
): Promise<O[]> {
  const queues = new ImportChecksTogether(deps.queues);
  const together = { ...deps, queues };
  const run = await deps.runs.getRun(ids.exportId, ids.runId);
  const results = await Promise.allSettled(parts.map((part) => handle(together, part, { run })));
  await queues.flush();
  return settled(results);
}
