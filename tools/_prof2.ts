import { startAzurite } from './azurite.js';
import { BlobServiceClient } from '@azure/storage-blob';
import { TableClient } from '@azure/data-tables';
import { QueueClient } from '@azure/storage-queue';
const az = await startAzurite();
const b = BlobServiceClient.fromConnectionString(az.connectionString).getContainerClient('xxx'); await b.create();
const body = JSON.stringify({ contacts: Array.from({ length: 250 }, (_, i) => ({ email: `p${i}@example.com`, first_name: 'F', fields: [{ id: 1, value: 'Oslo' }], subscribe: [{ listid: '1' }] })) });
async function timeIt(name: string, n: number, conc: number, f: (i: number) => Promise<unknown>) {
  const t = Date.now(); let i = 0;
  await Promise.all(Array.from({ length: conc }, async () => { while (i < n) await f(i++); }));
  console.log(name, n, 'ops in', Date.now() - t, 'ms =', Math.round(n / ((Date.now() - t) / 1000)), 'ops/s');
}
await timeIt('blob upload 60KB', 400, 16, (i) => b.getBlockBlobClient(`b${i}`).upload(body, body.length));
await timeIt('blob download', 400, 16, (i) => b.getBlobClient(`b${i}`).downloadToBuffer());
const t = TableClient.fromConnectionString(az.connectionString, 'ttt', { allowInsecureConnection: true }); await t.createTable();
await timeIt('table insert', 400, 16, (i) => t.createEntity({ partitionKey: 'p', rowKey: String(i), a: 1, b: 'x' }));
await timeIt('table get', 400, 16, (i) => t.getEntity('p', String(i)));
let n = 0; const q0 = Date.now(); for await (const _ of t.listEntities({ queryOptions: { filter: "PartitionKey eq 'p'" } })) n++; console.log('list', n, Date.now() - q0, 'ms');
const q = new QueueClient(az.connectionString, 'qqq'); await q.create();
await timeIt('queue send', 400, 16, () => q.sendMessage('eyJhIjoxfQ=='));
await az.stop();
