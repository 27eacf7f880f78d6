import { randomUUID } from 'node:crypto';
import type { BlobServiceClient } from '@azure/storage-blob';
import { containerProblem } from '../../shared/segments/sourcePolicy.js';

/**
 * What Event Grid does for a storage account in Azure, done by the local runner for Azurite (which
 * raises no events): it looks at the segments storage every second and, for each blob written since
 * (new, or a new ETag), delivers a `Microsoft.Storage.BlobCreated` event in the Event Grid schema to
 * `deliver` (the runner puts it on `segment-events`, base64 JSON, as Event Grid does). Blobs there at
 * start are the baseline: no event. Only containers exports may read are watched.
 */
export class BlobEventSource {
  readonly #known = new Map<string, string>();
  #timer?: NodeJS.Timeout;
  #scanning?: Promise<void>;
  #stopped = false;

  constructor(
    readonly blobs: BlobServiceClient,
    readonly deliver: (event: BlobCreatedEvent) => Promise<void>,
    readonly options: { containers?: readonly string[]; intervalInMs?: number; log?: (m: string) => void } = {},
  ) {}

  async start(): Promise<void> {
    await this.#scan(false);
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#scanning;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#scanning = this.#scan(true)
        .catch((error: Error) =>
          this.options.log?.(`[blob events] could not list the segments storage: ${error.message}`),
        )
        .finally(() => this.#schedule());
    }, this.options.intervalInMs ?? 1_000);
    this.#timer.unref();
  }

  async #containers(): Promise<string[]> {
    if (this.options.containers) return [...this.options.containers];
    const names: string[] = [];
    for await (const c of this.blobs.listContainers()) if (!containerProblem(c.name)) names.push(c.name);
    return names;
  }

  async #scan(emit: boolean): Promise<void> {
    const seen = new Set<string>();
    for (const container of await this.#containers()) {
      const client = this.blobs.getContainerClient(container);
      if (!(await client.exists())) continue;
      for await (const blob of client.listBlobsFlat()) {
        if (this.#stopped) return;
        const key = `${container}/${blob.name}`;
        const etag = blob.properties.etag ?? '';
        seen.add(key);
        if (this.#known.get(key) === etag) continue;
        this.#known.set(key, etag);
        if (emit)
          await this.deliver(
            blobCreatedEvent(this.blobs, container, blob.name, {
              etag,
              contentLength: blob.properties.contentLength ?? 0,
              contentType: blob.properties.contentType ?? 'application/octet-stream',
            }),
          );
      }
    }
    for (const key of [...this.#known.keys()]) if (!seen.has(key)) this.#known.delete(key);
  }
}

/** A BlobCreated event as Event Grid delivers it to a queue (Event Grid schema). */
export interface BlobCreatedEvent {
  topic: string;
  subject: string;
  eventType: 'Microsoft.Storage.BlobCreated';
  id: string;
  eventTime: string;
  data: Record<string, unknown>;
  dataVersion: string;
  metadataVersion: '1';
}

export function blobCreatedEvent(
  blobs: BlobServiceClient,
  container: string,
  name: string,
  blob: { etag: string; contentLength: number; contentType: string },
): BlobCreatedEvent {
  const url = `${blobs.url.replace(/\/$/, '')}/${container}/${name.split('/').map(encodeURIComponent).join('/')}`;
  return {
    topic: `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/${blobs.accountName}`,
    subject: `/blobServices/default/containers/${container}/blobs/${name}`,
    eventType: 'Microsoft.Storage.BlobCreated',
    id: randomUUID(),
    eventTime: new Date().toISOString(),
    data: {
      api: 'PutBlob',
      requestId: randomUUID(),
      eTag: blob.etag,
      contentType: blob.contentType,
      contentLength: blob.contentLength,
      blobType: 'BlockBlob',
      url,
      sequencer: Date.now().toString(16).padStart(32, '0'),
    },
    dataVersion: '',
    metadataVersion: '1',
  };
}
