import type { TableClient } from '@azure/data-tables';
import type { Export } from '../model.js';
import { RecordStore } from './recordStore.js';

/** Exports in Table storage; source and mapping as JSON properties. */
export class ExportStore extends RecordStore<Export> {
  constructor(table: TableClient) {
    super(table, {
      partition: 'export',
      toEntity: (x) => ({
        displayName: x.displayName,
        connectionId: x.connectionId,
        listId: x.listId,
        source: JSON.stringify(x.source),
        mapping: JSON.stringify(x.mapping),
        mode: x.mode,
        schedule: x.schedule,
        createdAt: x.createdAt,
        createdBy: x.createdBy,
      }),
      fromEntity: (e) => ({
        id: e.rowKey,
        displayName: String(e.displayName),
        connectionId: String(e.connectionId),
        listId: Number(e.listId),
        source: JSON.parse(String(e.source)),
        mapping: JSON.parse(String(e.mapping)),
        mode: e.mode as Export['mode'],
        schedule: e.schedule as Export['schedule'],
        createdAt: String(e.createdAt),
        createdBy: String(e.createdBy),
      }),
    });
  }
}
