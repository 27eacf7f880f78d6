import type { QueueClient, QueueServiceClient } from '@azure/storage-queue';
import type { QueuesPort } from '../runs/ports.js';
import {
  QUEUES,
  SEGMENT_QUEUES,
  type BatchMessage,
  type ImportCheckMessage,
  type PlanMessage,
  type SnapshotCheckMessage,
  type WatchMessage,
} from '../runs/runQueues.js';

/** Azure Functions' queue trigger expects base64 messages; @azure/storage-queue does not encode. */
export function encodeMessage(message: unknown): string {
  return Buffer.from(JSON.stringify(message), 'utf8').toString('base64');
}

/** Azure Storage queues keep a message invisible for at most 7 days. */
const MAX_DELAY_SECONDS = 7 * 24 * 3600;

/** Sends the engine's messages on Azure Storage queues, creating each queue the first time. */
export class StorageQueues implements QueuesPort {
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

  importCheck(message: ImportCheckMessage, delayInMs: number): Promise<void> {
    return this.send(QUEUES.importCheck, message, delayInMs);
  }

  watch(message: WatchMessage, delayInMs: number): Promise<void> {
    return this.send(QUEUES.watch, message, delayInMs);
  }

  snapshotCheck(message: SnapshotCheckMessage, delayInMs: number): Promise<void> {
    return this.send(SEGMENT_QUEUES.checks, message, delayInMs);
  }
}
