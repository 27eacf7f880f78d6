import type { TableClient } from '@azure/data-tables';
import type { Connection } from '../model.js';
import { ensureTable, isNotFound } from './tables.js';

const PK = 'connection';

interface ConnectionEntity {
  partitionKey: string;
  rowKey: string;
  displayName: string;
  hostname: string;
  allowContributors: boolean;
  consentGivenBy: string;
  consentGivenAt: string;
  createdAt: string;
  createdBy: string;
}

/** Connections in Table storage. The API key is never here: it lives in the secret store. */
export class ConnectionStore {
  readonly #cache = new Map<string, { value: Connection | undefined; until: number }>();
  constructor(readonly table: TableClient) {}

  /**
   * For queue workers, which read the same record for every batch: a read at most `ttlInMs` old.
   * Never used by the HTTP API, which must see a deletion at once (workers see it through the
   * run's status instead).
   */
  async getCached(id: string, ttlInMs = 30_000): Promise<Connection | undefined> {
    const hit = this.#cache.get(id);
    if (hit && hit.until > Date.now()) return hit.value;
    const value = await this.get(id);
    this.#cache.set(id, { value, until: Date.now() + ttlInMs });
    return value;
  }

  async create(connection: Connection): Promise<void> {
    await (await ensureTable(this.table)).createEntity<ConnectionEntity>(toEntity(connection));
  }

  async replace(connection: Connection): Promise<void> {
    await (await ensureTable(this.table)).updateEntity<ConnectionEntity>(toEntity(connection), 'Replace');
  }

  async get(id: string): Promise<Connection | undefined> {
    try {
      return fromEntity(await (await ensureTable(this.table)).getEntity<ConnectionEntity>(PK, id));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async list(): Promise<Connection[]> {
    const out: Connection[] = [];
    const table = await ensureTable(this.table);
    for await (const e of table.listEntities<ConnectionEntity>({ queryOptions: { filter: `PartitionKey eq '${PK}'` } })) out.push(fromEntity(e));
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

function toEntity(connection: Connection): ConnectionEntity {
  return {
    partitionKey: PK,
    rowKey: connection.id,
    displayName: connection.displayName,
    hostname: connection.hostname,
    allowContributors: connection.allowContributors,
    consentGivenBy: connection.dataPrivacyConsent.givenBy,
    consentGivenAt: connection.dataPrivacyConsent.givenAt,
    createdAt: connection.createdAt,
    createdBy: connection.createdBy,
  };
}

function fromEntity(e: ConnectionEntity): Connection {
  return {
    id: e.rowKey,
    displayName: e.displayName,
    hostname: e.hostname,
    allowContributors: Boolean(e.allowContributors),
    dataPrivacyConsent: { givenBy: e.consentGivenBy, givenAt: e.consentGivenAt },
    createdAt: e.createdAt,
    createdBy: e.createdBy,
  };
}
