/**
 * `npm run sample-segment`: writes a sample segment (1,000 profiles, ten with broken emails) as a
 * Customer Insights Common Data Model folder into the app's storage (AzureWebJobsStorage, the local
 * emulator by default), for trying the app in your own setup. A model.json folder is complete as
 * soon as its partitions exist, so a run can start at once.
 */
import { BlobServiceClient } from '@azure/storage-blob';
import { DEVELOPMENT_STORAGE } from '../shared/config.js';
import { expandConnectionString } from '../shared/store/storageClients.js';

export const SAMPLE = {
  container: 'customerinsights',
  path: 'CustomerInsights_sample/VipCustomers',
  table: 'VipCustomers',
} as const;
const COLUMNS = ['CustomerId', 'EmailAddress', 'FirstName', 'LastName', 'City'];

/** Rows of a sample segment: every `invalidEvery`-th profile has an email without "@". */
export function sampleRows(count: number, invalidEvery = 100): string[][] {
  return Array.from({ length: count }, (_, i) => [
    String(i),
    i % invalidEvery === 7 ? `customer${i}.example.com` : `customer${i}@example.com`,
    `Given${i}`,
    `Family, ${i}`,
    ['Oslo', 'Lisbon', 'Seattle'][i % 3],
  ]);
}

const csvLine = (values: string[]) =>
  values.map((v) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)).join(',');

export async function writeSampleSegment(blobs: BlobServiceClient, profiles = 1_000): Promise<string[]> {
  const container = blobs.getContainerClient(SAMPLE.container);
  await container.createIfNotExists();
  const rows = sampleRows(profiles);
  const half = Math.ceil(rows.length / 2);
  const parts = [rows.slice(0, half), rows.slice(half)].map((part, i) => ({
    name: `${SAMPLE.path}/${SAMPLE.table}/part-${i + 1}.csv`,
    body: `${part.map(csvLine).join('\r\n')}\r\n`,
  }));
  for (const p of parts) await container.getBlockBlobClient(p.name).upload(p.body, Buffer.byteLength(p.body));
  const model = {
    name: 'CustomerInsights',
    version: '1.0',
    entities: [
      {
        $type: 'LocalEntity',
        name: SAMPLE.table,
        attributes: COLUMNS.map((name) => ({ name, dataType: 'string' })),
        partitions: parts.map((p, i) => ({
          name: `part-${i + 1}`,
          // Any account host: the app reads the container and path from its own segments storage.
          location: `https://sample.blob.core.windows.net/${SAMPLE.container}/${p.name}`,
          fileFormatSettings: {
            $type: 'CsvFormatSettings',
            columnHeaders: false,
            delimiter: ',',
            quoteStyle: 'QuoteStyle.Csv',
          },
        })),
      },
    ],
  };
  const text = JSON.stringify(model, null, 2);
  // model.json last: the folder is complete when it names only partitions that exist.
  await container.getBlockBlobClient(`${SAMPLE.path}/model.json`).upload(text, Buffer.byteLength(text));
  return [...parts.map((p) => p.name), `${SAMPLE.path}/model.json`];
}

if (process.argv[1] && process.argv[1].endsWith('sampleSegment.ts')) {
  const storage = process.env.SEGMENTS_STORAGE || process.env.AzureWebJobsStorage || DEVELOPMENT_STORAGE;
  const written = await writeSampleSegment(BlobServiceClient.fromConnectionString(expandConnectionString(storage)));
  console.log(`Wrote a sample segment of 1,000 profiles into container "${SAMPLE.container}":`);
  for (const name of written) console.log(`  ${name}`);
  console.log(`Use it as an export's source: {"container": "${SAMPLE.container}", "path": "${SAMPLE.path}"}`);
}
