import type { TableClient } from '@azure/data-tables';
import type { AuditEntry, AuditPort } from '../audit/auditLog.js';
import { ensureTable } from './tables.js';

const PARTITION = 'audit';

/** The audit log in Table storage: one partition, newest first (the ids count time down). */
export class AuditStore implements AuditPort {
  constructor(readonly table: TableClient) {}

  async add(entry: AuditEntry): Promise<void> {
    await (
      await ensureTable(this.table)
    ).createEntity({
      partitionKey: PARTITION,
      rowKey: entry.id,
      at: entry.at,
      entry: JSON.stringify(entry),
    });
  }

  async list(
    page: { top?: number; continuationToken?: string } = {},
  ): Promise<{ entries: AuditEntry[]; continuationToken?: string }> {
    const table = await ensureTable(this.table);
    const pages = table
      .listEntities<{ entry: string }>({ queryOptions: { filter: `PartitionKey eq '${PARTITION}'` } })
      .byPage({ maxPageSize: page.top ?? 50, continuationToken: page.continuationToken });
    for await (const found of pages) {
      return {
        entries: found.map((e) => JSON.parse(e.entry) as AuditEntry),
        ...(found.continuationToken ? { continuationToken: found.continuationToken } : {}),
      };
    }
    return { entries: [] };
  }
}
