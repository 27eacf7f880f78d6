import type { TableClient } from '@azure/data-tables';
import type { Export } from '../model.js';
import { ensureTable, isNotFound } from './tables.js';

const PK = 'export';

interface ExportEntity {
  partitionKey: string;
  rowKey: string;
  displayName: string;
  connectionId: string;
  listId: number;
  source: string;
  mapping: string;
  mode: string;
  schedule: string;
  createdAt: string;
  createdBy: string;
}

export class ExportStore {
  constructor(readonly table: TableClient) {}

  async create(exp: Export): Promise<void> {
    await (await ensureTable(this.table)).createEntity<ExportEntity>({
      partitionKey: PK,
      rowKey: exp.id,
      displayName: exp.displayName,
      connectionId: exp.connectionId,
      listId: exp.listId,
      source: JSON.stringify(exp.source),
      mapping: JSON.stringify(exp.mapping),
      mode: exp.mode,
      schedule: exp.schedule,
      createdAt: exp.createdAt,
      createdBy: exp.createdBy,
    });
  }

  async get(id: string): Promise<Export | undefined> {
    try {
      return fromEntity(await (await ensureTable(this.table)).getEntity<ExportEntity>(PK, id));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async list(): Promise<Export[]> {
    const out: Export[] = [];
    const table = await ensureTable(this.table);
    for await (const e of table.listEntities<ExportEntity>({ queryOptions: { filter: `PartitionKey eq '${PK}'` } })) out.push(fromEntity(e));
    return out;
  }

  async delete(id: string): Promise<void> {
    try {
      await (await ensureTable(this.table)).deleteEntity(PK, id);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

function fromEntity(e: ExportEntity): Export {
  return {
    id: e.rowKey,
    displayName: e.displayName,
    connectionId: e.connectionId,
    listId: Number(e.listId),
    source: JSON.parse(e.source),
    mapping: JSON.parse(e.mapping),
    mode: e.mode as Export['mode'],
    schedule: e.schedule as Export['schedule'],
    createdAt: e.createdAt,
    createdBy: e.createdBy,
  };
}
