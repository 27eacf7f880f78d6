import type { TableClient } from '@azure/data-tables';
import type { SnapshotCheckRecord, SnapshotChecksPort } from '../runs/ports.js';
import { ensureTable, isConflict, isNotFound } from './tables.js';

type Entity = Omit<SnapshotCheckRecord, 'exportId'> & { partitionKey: string; rowKey: string };

/** Each export's snapshot check, one entity (PartitionKey `check`, RowKey the export id), written under its ETag. */
export class SnapshotCheckStore implements SnapshotChecksPort {
  constructor(readonly table: TableClient) {}

  async get(exportId: string): Promise<SnapshotCheckRecord | undefined> {
    try {
      return fromEntity(await (await ensureTable(this.table)).getEntity<Entity>('check', exportId));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async update(
    exportId: string,
    change: (record: SnapshotCheckRecord) => SnapshotCheckRecord | undefined,
  ): Promise<{ record: SnapshotCheckRecord; changed: boolean }> {
    const table = await ensureTable(this.table);
    for (;;) {
      const current = (await this.get(exportId)) ?? { exportId };
      const next = change({ ...current });
      if (!next) return { record: current, changed: false };
      const entity: Entity = { partitionKey: 'check', rowKey: exportId, ...next };
      delete (entity as Partial<SnapshotCheckRecord>).exportId;
      delete entity.etag;
      for (const key of Object.keys(entity) as (keyof Entity)[]) if (entity[key] === undefined) delete entity[key];
      try {
        if (current.etag) await table.updateEntity(entity, 'Replace', { etag: current.etag });
        else await table.createEntity(entity);
        return { record: next, changed: true };
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
  }

  async delete(exportId: string): Promise<void> {
    try {
      await (await ensureTable(this.table)).deleteEntity('check', exportId);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

function fromEntity(e: Entity): SnapshotCheckRecord {
  return {
    exportId: e.rowKey,
    checkId: e.checkId ?? undefined,
    dueAt: e.dueAt === undefined || e.dueAt === null ? undefined : Number(e.dueAt),
    lastEventAt: e.lastEventAt ?? undefined,
    lastEventBlob: e.lastEventBlob ?? undefined,
    etag: e.etag,
  };
}
