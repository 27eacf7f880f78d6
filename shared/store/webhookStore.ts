import type { TableClient } from '@azure/data-tables';
import type { Webhook } from '../webhooks/webhookModel.js';
import { RecordStore } from './recordStore.js';

/** Run webhook endpoints in Table storage. The signing secret is never here: it lives in the secret store. */
export class WebhookStore extends RecordStore<Webhook> {
  constructor(table: TableClient) {
    super(table, {
      partition: 'webhook',
      toEntity: (w) => ({
        url: w.url,
        events: JSON.stringify(w.events),
        createdAt: w.createdAt,
        createdBy: w.createdBy,
        lastDelivery: w.lastDelivery ? JSON.stringify(w.lastDelivery) : undefined,
      }),
      fromEntity: (e) => ({
        id: e.rowKey,
        url: String(e.url),
        events: JSON.parse(String(e.events)) as Webhook['events'],
        createdAt: String(e.createdAt),
        createdBy: String(e.createdBy),
        ...(e.lastDelivery ? { lastDelivery: JSON.parse(e.lastDelivery as string) as Webhook['lastDelivery'] } : {}),
      }),
    });
  }
}
