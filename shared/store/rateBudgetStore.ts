import type { TableClient } from '@azure/data-tables';
import type { ReservationStore, Reservations } from '../activecampaign/rateBudget.js';
import { ensureTable, isConflict, isNotFound } from './tables.js';

/**
 * The rate budget's reservations in Table storage: one entity per ActiveCampaign account
 * (PartitionKey `account`, RowKey the hostname), its slots as JSON lists, every write conditional
 * on the ETag it read.
 */
export class TableReservationStore implements ReservationStore {
  constructor(readonly table: TableClient) {}

  async update<T>(
    account: string,
    change: (reserved: Reservations) => { reserved: Reservations; result: T },
  ): Promise<T> {
    const table = await ensureTable(this.table);
    const rowKey = account.replace(/[^a-zA-Z0-9.-]/g, '_');
    for (;;) {
      let etag: string | undefined;
      let stored: Reservations = { requests: [], imports: [] };
      try {
        const e = await table.getEntity<{ requests: string; imports: string }>('account', rowKey);
        etag = e.etag;
        stored = { requests: JSON.parse(e.requests) as number[], imports: JSON.parse(e.imports) as number[] };
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      const { reserved, result } = change(stored);
      const entity = {
        partitionKey: 'account',
        rowKey,
        requests: JSON.stringify(reserved.requests),
        imports: JSON.stringify(reserved.imports),
      };
      try {
        if (etag) await table.updateEntity(entity, 'Replace', { etag });
        else await table.createEntity(entity);
        return result;
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
  }
}
