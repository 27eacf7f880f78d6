import type { TableClient } from '@azure/data-tables';
import { ensureTable, isConflict, isNotFound } from './tables.js';

type Entity = Record<string, unknown> & { partitionKey: string; rowKey: string };

/** How one kind of record maps to Table entities of a single partition. */
export interface RecordCodec<T extends { id: string }> {
  partition: string;
  toEntity(record: T): Record<string, unknown>;
  fromEntity(entity: Record<string, unknown> & { rowKey: string }): T;
}

/** Records of one kind (connections, exports) in one Table partition, keyed by id. */
export class RecordStore<T extends { id: string }> {
  readonly #cache = new Map<string, { value: Promise<T | undefined>; until: number }>();
  constructor(
    readonly table: TableClient,
    readonly codec: RecordCodec<T>,
  ) {}

  #entity(record: T): Entity {
    const e: Entity = { partitionKey: this.codec.partition, rowKey: record.id, ...this.codec.toEntity(record) };
    for (const key of Object.keys(e)) if (e[key] === undefined) delete e[key];
    return e;
  }

  async create(record: T): Promise<void> {
    await (await ensureTable(this.table)).createEntity(this.#entity(record));
  }

  async replace(record: T): Promise<void> {
    this.#cache.delete(record.id);
    await (await ensureTable(this.table)).updateEntity(this.#entity(record), 'Replace');
  }

  /**
   * Read-modify-write under the record's ETag, retried on conflict; `change` returns the new record
   * or undefined to leave it. Returns the record as stored afterwards (undefined when there is none).
   */
  async update(id: string, change: (record: T) => T | undefined): Promise<T | undefined> {
    const table = await ensureTable(this.table);
    this.#cache.delete(id);
    for (;;) {
      let e;
      try {
        e = await table.getEntity<Entity>(this.codec.partition, id);
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
      const current = this.codec.fromEntity(e);
      const next = change(current);
      if (!next) return current;
      try {
        await table.updateEntity(this.#entity(next), 'Replace', { etag: e.etag });
        return next;
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
  }

  async get(id: string): Promise<T | undefined> {
    try {
      return this.codec.fromEntity(await (await ensureTable(this.table)).getEntity<Entity>(this.codec.partition, id));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * For queue workers, which read the same record for every batch: a read at most `ttlInMs` old.
   * Never used by the HTTP API, which must see a deletion at once (workers see it through the
   * run's status instead).
   */
  getCached(id: string, ttlInMs = 30_000): Promise<T | undefined> {
    const hit = this.#cache.get(id);
    if (hit && hit.until > Date.now()) return hit.value;
    // The read itself is shared: the batches of a message, handled at once, would each miss an empty cache.
    const value = this.get(id);
    const entry = { value, until: Date.now() + ttlInMs };
    this.#cache.set(id, entry);
    value.catch(() => this.#cache.get(id) === entry && this.#cache.delete(id));
    return value;
  }

  async list(): Promise<T[]> {
    const out: T[] = [];
    const table = await ensureTable(this.table);
    const filter = `PartitionKey eq '${this.codec.partition}'`;
    for await (const e of table.listEntities<Entity>({ queryOptions: { filter } })) out.push(this.codec.fromEntity(e));
    return out;
  }

  async delete(id: string): Promise<void> {
    this.#cache.delete(id);
    try {
      await (await ensureTable(this.table)).deleteEntity(this.codec.partition, id);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}
