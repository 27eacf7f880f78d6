import type { TableClient } from '@azure/data-tables';
import type { ErasureRecord } from '../erasures/erasureModel.js';
import { auditId } from '../audit/auditLog.js';
import { ensureTable } from './tables.js';

const PARTITION = 'erasure';

/** Erasures in Table storage, newest first; none holds an email. */
export class ErasureStore {
  constructor(readonly table: TableClient) {}

  newId(): string {
    return auditId(Date.now());
  }

  async add(record: ErasureRecord): Promise<void> {
    await (
      await ensureTable(this.table)
    ).createEntity({
      partitionKey: PARTITION,
      rowKey: record.id,
      emailHash: record.emailHash,
      record: JSON.stringify(record),
    });
  }

  async list(top = 100): Promise<ErasureRecord[]> {
    const table = await ensureTable(this.table);
    const pages = table
      .listEntities<{ record: string }>({ queryOptions: { filter: `PartitionKey eq '${PARTITION}'` } })
      .byPage({ maxPageSize: top });
    for await (const page of pages) return page.map((e) => JSON.parse(e.record) as ErasureRecord);
    return [];
  }

  /** Every erased email's hash, with when it was erased (read once by each run's plan). */
  async erasedEmailHashes(): Promise<Map<string, string>> {
    const value = new Map<string, string>();
    const table = await ensureTable(this.table);
    for await (const e of table.listEntities<{ emailHash: string; record: string }>({
      queryOptions: { filter: `PartitionKey eq '${PARTITION}'`, select: ['emailHash', 'record'] },
    }))
      value.set(e.emailHash, (JSON.parse(e.record) as ErasureRecord).at);
    return value;
  }
}
