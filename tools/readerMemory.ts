/**
 * `npm run bench:reader`: streams READER_ROWS (default 1,000,000) rows of a Customer Insights CDM
 * partition set out of Azurite through the segment reader alone, and prints rows/s and peak memory,
 * to show that the reader's memory does not grow with the snapshot.
 */
import { PassThrough } from 'node:stream';
import { BlobServiceClient } from '@azure/storage-blob';
import { readSegmentFile } from '../shared/segments/readSegmentFile.js';
import { locateSnapshot } from '../shared/segments/snapshot.js';
import { startAzurite } from './azurite.js';

const ROWS = Number(process.env.READER_ROWS ?? 1_000_000);
const PARTITIONS = 4;
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
    partitions.push({ name: `p${p}`, location: `https://acct.blob.core.windows.net/readermemory/${name}`, fileFormatSettings: { $type: 'CsvFormatSettings', columnHeaders: false } });
  }
  const model = JSON.stringify({ entities: [{ name: 'Customers', attributes: ['CustomerId', 'Email', 'FirstName', 'LastName', 'City'].map((name) => ({ name })), partitions }] });
  await container.getBlockBlobClient('dest/model.json').upload(model, model.length);

  global.gc?.();
  const baseline = process.memoryUsage();
  let peakRss = baseline.rss;
  let peakHeap = baseline.heapUsed;
  const started = Date.now();
  let rows = 0;
  const snapshot = await locateSnapshot(blobs, { container: 'readermemory', path: 'dest' });
  for (const file of snapshot.segmentFiles) {
    for await (const row of readSegmentFile(blobs, file)) {
      rows++;
      if (row.record.Email.length === 0) throw new Error('bad row');
      if (rows % 50_000 === 0) {
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
      }
    }
  }
  const seconds = (Date.now() - started) / 1000;
  const mb = (n: number) => Math.round(n / 2 ** 20);
  console.log(`read ${rows} rows from ${snapshot.segmentFiles.length} partitions in ${seconds.toFixed(1)} s (${Math.round(rows / seconds)} rows/s)`);
  console.log(`memory before reading: rss ${mb(baseline.rss)} MB, heap ${mb(baseline.heapUsed)} MB; peak while reading: rss ${mb(peakRss)} MB, heap ${mb(peakHeap)} MB`);
} finally {
  await azurite.stop();
}
