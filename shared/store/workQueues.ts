import type { QueueClient, QueueServiceClient } from '@azure/storage-queue';

/** Queue names, shared by the function registrations and the code that sends to them. */
export const QUEUES = {
  plan: 'export-plan',
  batches: 'export-batches',
  status: 'export-status',
  progress: 'export-progress',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** Where the Functions host moves a message after maxDequeueCount failed attempts. */
export const poisonQueue = (name: QueueName) => `${name}-poison`;

/** Azure Functions' queue trigger expects base64 messages; @azure/storage-queue does not encode. */
export function encodeMessage(message: unknown): string {
  return Buffer.from(JSON.stringify(message), 'utf8').toString('base64');
}

export function decodeMessage(text: string): unknown {
  const decoded = Buffer.from(text, 'base64').toString('utf8');
  return JSON.parse(decoded);
}

/** Sends JSON messages to the app's queues, creating each queue the first time. */
export class WorkQueues {
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

  async send(name: QueueName, message: object, options: { delayInMs?: number } = {}): Promise<void> {
    const queue = await this.client(name);
    const delaySeconds = Math.ceil((options.delayInMs ?? 0) / 1000);
    // Azure Storage queues allow a visibility delay of at most 7 days.
    await queue.sendMessage(encodeMessage(message), {
      visibilityTimeout: Math.min(delaySeconds, 7 * 24 * 3600) || undefined,
    });
  }
}
