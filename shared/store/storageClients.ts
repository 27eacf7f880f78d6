import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { TableClient, TableServiceClient } from '@azure/data-tables';
import type { TokenCredential } from '@azure/core-auth';
import { DEVELOPMENT_STORAGE, type StorageSetting, ConfigurationError } from '../config.js';

/** Azurite's documented development account (public, well-known). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export function azuriteConnectionString(
  host = '127.0.0.1',
  ports = { blob: 10000, queue: 10001, table: 10002 },
): string {
  return [
    'DefaultEndpointsProtocol=http',
    `AccountName=${AZURITE_ACCOUNT}`,
    `AccountKey=${AZURITE_KEY}`,
    `BlobEndpoint=http://${host}:${ports.blob}/${AZURITE_ACCOUNT}`,
    `QueueEndpoint=http://${host}:${ports.queue}/${AZURITE_ACCOUNT}`,
    `TableEndpoint=http://${host}:${ports.table}/${AZURITE_ACCOUNT}`,
  ].join(';');
}

/** `UseDevelopmentStorage=true` spelled out, so every SDK sees the same endpoints. */
export function expandConnectionString(connectionString: string): string {
  return connectionString.trim().replace(/;$/, '') === DEVELOPMENT_STORAGE
    ? azuriteConnectionString()
    : connectionString;
}

/** The ports of a development (http, loopback) connection string, or undefined. */
export function developmentStoragePorts(
  connectionString: string,
): { blob: number; queue: number; table: number } | undefined {
  const cs = expandConnectionString(connectionString);
  const port = (key: string) => {
    const m = new RegExp(`${key}=http://(?:127\\.0\\.0\\.1|localhost):(\\d+)`, 'i').exec(cs);
    return m ? Number(m[1]) : undefined;
  };
  const blob = port('BlobEndpoint');
  const queue = port('QueueEndpoint');
  const table = port('TableEndpoint');
  return blob && queue && table ? { blob, queue, table } : undefined;
}

export interface StorageClients {
  blobs: BlobServiceClient;
  queues: QueueServiceClient;
  table(name: string): TableClient;
  tableService: TableServiceClient;
}

/**
 * Clients for one storage account, from a connection string or (in Azure) from service URLs and
 * the app's managed identity. The credential is only asked for when URLs are configured, so local
 * runs and tests never construct one.
 */
export function storageClients(setting: StorageSetting, credential?: () => TokenCredential): StorageClients {
  if (setting.connectionString) {
    const cs = expandConnectionString(setting.connectionString);
    const tableOptions = { allowInsecureConnection: cs.includes('http://') };
    return {
      blobs: BlobServiceClient.fromConnectionString(cs),
      queues: QueueServiceClient.fromConnectionString(cs),
      table: (name) => TableClient.fromConnectionString(cs, name, tableOptions),
      tableService: TableServiceClient.fromConnectionString(cs, tableOptions),
    };
  }
  if (!credential) throw new ConfigurationError('Storage service URLs need a managed identity credential');
  const cred = credential();
  const need = (url: string | undefined, what: string) => {
    if (!url) throw new ConfigurationError(`No ${what} service URL is configured for storage`);
    return url;
  };
  return {
    blobs: new BlobServiceClient(need(setting.blobServiceUrl, 'blob'), cred),
    get queues() {
      return new QueueServiceClient(need(setting.queueServiceUrl, 'queue'), cred);
    },
    table: (name) => new TableClient(need(setting.tableServiceUrl, 'table'), name, cred),
    get tableService() {
      return new TableServiceClient(need(setting.tableServiceUrl, 'table'), cred);
    },
  };
}
