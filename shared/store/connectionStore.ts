import type { TableClient } from '@azure/data-tables';
import type { Connection } from '../model.js';
import { RecordStore } from './recordStore.js';

/** Connections in Table storage. The API key is never here: it lives in the secret store. */
export class ConnectionStore extends RecordStore<Connection> {
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
      }),
      fromEntity: (e) => ({
        id: e.rowKey,
        displayName: String(e.displayName),
        hostname: String(e.hostname),
        allowContributors: Boolean(e.allowContributors),
        dataPrivacyConsent: { givenBy: String(e.consentGivenBy), givenAt: String(e.consentGivenAt) },
        createdAt: String(e.createdAt),
        createdBy: String(e.createdBy),
      }),
    });
  }
}
