import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readConfig } from '../../shared/config.js';
import type { Telemetry } from '../../shared/telemetry.js';
import { deliverWebhook, webhookSecretName, type WebhookDeps } from '../../shared/webhooks/webhookDelivery.js';
import { runEvent, type Webhook } from '../../shared/webhooks/webhookModel.js';
import { emptyCounts } from '../../shared/model.js';

/** A webhook endpoint on loopback that keeps what it received and answers as told. */
export class WebhookReceiver {
  readonly received: { headers: IncomingHttpHeaders; body: string; at: number }[] = [];
  /** The status of the n-th delivery (0-based); 200 unless told otherwise. */
  answer: (n: number) => number = () => 200;
  /** While true, requests are kept waiting (unanswered) until `release()`. */
  holding = false;
  readonly #held: (() => void)[] = [];
  #server?: Server;

  /** Requests waiting for their answer. */
  get held(): number {
    return this.#held.length;
  }

  release(): void {
    this.holding = false;
    for (const answer of this.#held.splice(0)) answer();
  }

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const n = this.received.length;
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
        const answer = () => void res.writeHead(this.answer(n)).end();
        if (this.holding) this.#held.push(answer);
        else answer();
      });
    });
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    return this;
  }

  get host(): string {
    return `127.0.0.1:${(this.#server!.address() as AddressInfo).port}`;
  }

  get url(): string {
    return `http://${this.host}/hooks/segment-export`;
  }

  async close(): Promise<void> {
    if (!this.#server) return;
    this.#server.close();
    this.#server.closeAllConnections();
    await once(this.#server, 'close');
  }
}

/** Webhook endpoints in memory. */
export class MemoryWebhooks {
  readonly records = new Map<string, Webhook>();
  get(id: string) {
    return Promise.resolve(this.records.get(id));
  }
  list() {
    return Promise.resolve([...this.records.values()]);
  }
  update(id: string, change: (w: Webhook) => Webhook | undefined) {
    const current = this.records.get(id);
    const next = current && change(current);
    if (next) this.records.set(id, next);
    return Promise.resolve(next ?? current);
  }
}

export type MemoryWebhookDeps = WebhookDeps & {
  webhooks: MemoryWebhooks;
  sent: { queue: string; message: object; delayInMs: number }[];
  secretValues: Map<string, string>;
};

/** What the delivery worker uses, in memory, with `insecureHosts` allowed over plain http. */
export function memoryWebhookDeps(telemetry: Telemetry, insecureHosts: string[] = []): MemoryWebhookDeps {
  const sent: MemoryWebhookDeps['sent'] = [];
  const secretValues = new Map<string, string>();
  return {
    config: readConfig({ WEBHOOK_INSECURE_HOSTS: insecureHosts.join(',') }),
    telemetry,
    webhooks: new MemoryWebhooks(),
    exports: { getCached: () => Promise.resolve(undefined) },
    queues: {
      send(queue, message, delayInMs = 0) {
        sent.push({ queue, message, delayInMs });
        return Promise.resolve();
      },
    },
    secrets: { get: (name) => Promise.resolve(secretValues.get(name)) },
    sent,
    secretValues,
  };
}

/** A delivery on its last try to an endpoint that refuses it: reported as ExportWebhookFailed. */
export async function giveUpWebhook(telemetry: Telemetry): Promise<void> {
  const receiver = await new WebhookReceiver().start();
  receiver.answer = () => 500;
  try {
    const deps = memoryWebhookDeps(telemetry, [receiver.host]);
    deps.webhooks.records.set('w1', {
      id: 'w1',
      url: receiver.url,
      events: ['run.failed'],
      createdAt: new Date().toISOString(),
      createdBy: 'Ada',
    });
    deps.secretValues.set(webhookSecretName('w1'), 'whsec_test');
    const now = new Date().toISOString();
    const event = runEvent(
      'run.failed',
      { runId: 'r1', trigger: 'schedule', status: 'failed', dryRun: false, counts: emptyCounts(), startedAt: now },
      { id: 'e1', displayName: 'Newsletter' },
      undefined,
    );
    await deliverWebhook(deps, { webhookId: 'w1', event, attempt: 6 }, () => {});
  } finally {
    await receiver.close();
  }
}
