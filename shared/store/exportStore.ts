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
  readonly #cache = new Map<string, { value: Export | undefined; until: number }>();
  constructor(readonly table: TableClient) {}

  /**
   * For queue workers, which read the same record for every batch: a read at most `ttlInMs` old.
   * Never used by the HTTP API, which must see a deletion at once (workers see it through the
   * run's status instead).
   */
  async getCached(id: string, ttlInMs = 30_000): Promise<Export | undefined> {
    const hit = this.#cache.get(id);
    if (hit && hit.until > Date.now()) return hit.value;
    const value = await this.get(id);
    this.#cache.set(id, { value, until: Date.now() + ttlInMs });
    return value;
  }

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
    this.#cache.delete(id);
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
