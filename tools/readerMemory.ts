/**
 * `npm run bench:reader`: streams READER_ROWS (default 1,000,000) rows of a Customer Insights CDM
 * partition set out of Azurite through the segment reader alone, and prints rows/s and peak memory,
 * to show that the reader's memory does not grow with the snapshot. Then the same number of rows as
 * one Parquet file in a single row group (the worst case) of 12 columns, read whole and with only
 * the 3 columns an export maps.
 */
import { spawnSync } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { BlobServiceClient } from '@azure/storage-blob';
import { readSegmentFile } from '../shared/segments/readSegmentFile.js';
import { locateSnapshot } from '../shared/segments/snapshot.js';
import { startAzurite } from './azurite.js';

const ROWS = Number(process.env.READER_ROWS ?? 1_000_000);
const PARTITIONS = 4;
const PARQUET_ATTRIBUTES = 11;
const mb = (n: number) => Math.round(n / 2 ** 20);

// In a child process of its own: writes the Parquet file (its arrays would count against the reader's memory).
if (process.env.READER_PARQUET_FILE) {
  const columnData = [
    {
      name: 'Email',
      data: Array.from({ length: ROWS }, (_, i) => `customer${i}@example.com`),
      type: 'STRING' as const,
    },
  ];
  for (let c = 0; c < PARQUET_ATTRIBUTES; c++)
    columnData.push({
      name: `Attribute${c}`,
      data: Array.from({ length: ROWS }, (_, i) => `value ${c} of ${i % 5000}`),
      type: 'STRING' as const,
    });
  writeFileSync(process.env.READER_PARQUET_FILE, Buffer.from(parquetWriteBuffer({ columnData, rowGroupSize: ROWS })));
  process.exit(0);
}

/** Reads every row of the snapshot at `path`; rows/s and peak memory while reading. */
async function measure(
  blobs: BlobServiceClient,
  container: string,
  path: string,
  label: string,
  columns?: string[],
): Promise<void> {
  global.gc?.();
  const baseline = process.memoryUsage();
  let peakRss = baseline.rss;
  let peakHeap = baseline.heapUsed;
  const started = Date.now();
  let rows = 0;
  const snapshot = await locateSnapshot(blobs, { container, path });
  for (const file of snapshot.segmentFiles) {
    for await (const row of readSegmentFile(blobs, file, { columns })) {
      rows++;
      if (row.record.Email.length === 0) throw new Error('bad row');
      if (rows % 20_000 === 0) {
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
      }
    }
  }
  const seconds = (Date.now() - started) / 1000;
  console.log(
    `${label}: read ${rows} rows from ${snapshot.segmentFiles.length} file(s) in ${seconds.toFixed(1)} s (${Math.round(rows / seconds)} rows/s)`,
  );
  console.log(
    `  memory before reading: rss ${mb(baseline.rss)} MB, heap ${mb(baseline.heapUsed)} MB; peak while reading: rss ${mb(peakRss)} MB, heap ${mb(peakHeap)} MB`,
  );
}

const azurite = await startAzurite();
try {
  const blobs = BlobServiceClient.fromConnectionString(azurite.connectionString);
  const container = blobs.getContainerClient('readermemory');
  await container.create();
  const partitions = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const name = `dest/Customers/part-${p}.csv`;
    const body = new PassThrough();
    const upload = container.getBlockBlobClient(name).uploadStream(body, 4 << 20, 4);
    let chunk = '';
    for (let i = p; i < ROWS; i += PARTITIONS) {
      chunk += `${i},"customer${i}@example.com","Given ${i}","Family, ${i % 977}",Oslo\r\n`;
      if (chunk.length > 1 << 20) {
        if (!body.write(chunk)) await new Promise((r) => body.once('drain', r));
        chunk = '';
      }
    }
    body.end(chunk);
    await upload;
    partitions.push({
      name: `p${p}`,
      location: `https://acct.blob.core.windows.net/readermemory/${name}`,
      fileFormatSettings: { $type: 'CsvFormatSettings', columnHeaders: false },
    });
  }
  const model = JSON.stringify({
    entities: [
      {
        name: 'Customers',
        attributes: ['CustomerId', 'Email', 'FirstName', 'LastName', 'City'].map((name) => ({ name })),
        partitions,
      },
    ],
  });
  await container.getBlockBlobClient('dest/model.json').upload(model, model.length);

  await measure(blobs, 'readermemory', 'dest', 'CSV (Common Data Model, 4 partitions)');

  const parquetFile = join(tmpdir(), `reader-memory-${process.pid}.parquet`);
  const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    env: { ...process.env, READER_PARQUET_FILE: parquetFile },
    stdio: 'inherit',
  });
  if (child.status !== 0) throw new Error('writing the Parquet file failed');
  try {
    await container.getBlockBlobClient('parquet/segment.parquet').uploadFile(parquetFile);
    console.log(
      `Parquet: ${mb(statSync(parquetFile).size)} MB, ${ROWS} rows in one row group, ${PARQUET_ATTRIBUTES + 1} columns`,
    );
  } finally {
    rmSync(parquetFile, { force: true });
  }
  // The mapped columns first: the whole file's read leaves the process larger.
  await measure(blobs, 'readermemory', 'parquet/segment.parquet', 'Parquet, the 3 columns an export maps', [
    'Email',
    'Attribute0',
    'Attribute1',
  ]);
  await measure(blobs, 'readermemory', 'parquet/segment.parquet', 'Parquet, every column');
} finally {
  await azurite.stop();
}
