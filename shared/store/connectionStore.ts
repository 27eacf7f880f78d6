import type { TableClient } from '@azure/data-tables';
import type { Connection } from '../model.js';
import { RecordStore } from './recordStore.js';

/** A connection as stored: `deleting` is set while a delete checks that no export uses it. */
export interface ConnectionRecord extends Connection {
  deleting?: boolean;
}

/** Connections in Table storage. The API key is never here: it lives in the secret store. */
export class ConnectionStore extends RecordStore<ConnectionRecord> {
  constructor(table: TableClient) {
    super(table, {
      partition: 'connection',
      toEntity: (c) => ({
        displayName: c.displayName,
        hostname: c.hostname,
        allowContributors: c.allowContributors,
        consentGivenBy: c.dataPrivacyConsent.givenBy,
        consentGivenAt: c.dataPrivacyConsent.givenAt,
        createdAt: c.createdAt,
        createdBy: c.createdBy,
        deleting: c.deleting || undefined,
      }),
      fromEntity: (e) => ({
        id: e.rowKey,
        displayName: String(e.displayName),
        hostname: String(e.hostname),
        allowContributors: Boolean(e.allowContributors),
        dataPrivacyConsent: { givenBy: String(e.consentGivenBy), givenAt: String(e.consentGivenAt) },
        createdAt: String(e.createdAt),
        createdBy: String(e.createdBy),
        ...(e.deleting ? { deleting: true } : {}),
      }),
    });
  }
}

/** The connection as the API shows it. */
export function publicConnection(c: ConnectionRecord): Connection {
  const { deleting: _deleting, ...rest } = c;
  return rest;
}
