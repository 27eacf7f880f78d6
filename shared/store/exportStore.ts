import type { TableClient } from '@azure/data-tables';
import type { Export } from '../model.js';
import { DEFAULT_REMOVAL_GUARD_PERCENT } from '../sync/removalGuard.js';
import { RecordStore } from './recordStore.js';

/** Exports in Table storage; source, mapping, tags and field types as JSON properties. */
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
        tags: JSON.stringify(x.tags),
        runAutomations: x.runAutomations,
        removeTagsWhenLeaving: x.removeTagsWhenLeaving,
        removalGuardPercent: x.removalGuardPercent,
        fieldTypes: JSON.stringify(x.fieldTypes),
        createdAt: x.createdAt,
        createdBy: x.createdBy,
        updatedAt: x.updatedAt,
        updatedBy: x.updatedBy,
      }),
      fromEntity: (e) => ({
        id: e.rowKey,
        displayName: String(e.displayName),
        connectionId: String(e.connectionId),
        listId: Number(e.listId),
        source: JSON.parse(String(e.source)) as Export['source'],
        mapping: JSON.parse(String(e.mapping)) as Export['mapping'],
        mode: e.mode as Export['mode'],
        schedule: e.schedule as Export['schedule'],
        tags: typeof e.tags === 'string' ? (JSON.parse(e.tags) as string[]) : [],
        runAutomations: e.runAutomations === undefined ? true : Boolean(e.runAutomations),
        removeTagsWhenLeaving: e.removeTagsWhenLeaving === true,
        removalGuardPercent:
          e.removalGuardPercent === undefined ? DEFAULT_REMOVAL_GUARD_PERCENT : Number(e.removalGuardPercent),
        fieldTypes: typeof e.fieldTypes === 'string' ? (JSON.parse(e.fieldTypes) as Export['fieldTypes']) : {},
        createdAt: String(e.createdAt),
        createdBy: String(e.createdBy),
        ...(typeof e.updatedAt === 'string' ? { updatedAt: e.updatedAt, updatedBy: String(e.updatedBy) } : {}),
      }),
    });
  }
}
