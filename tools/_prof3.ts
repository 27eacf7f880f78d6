import { startAzurite } from './azurite.js';
import { QueueClient } from '@azure/storage-queue';
import { TableClient } from '@azure/data-tables';
const az = await startAzurite();
const q = new QueueClient(az.connectionString, 'qqq'); await q.create();
for (const n of [100, 4000]) {
  let i = 0; await Promise.all(Array.from({ length: 16 }, async () => { while (i++ < n) await q.sendMessage('eyJhIjoxfQ=='); }));
  let t = Date.now(); let got = 0;
  for (let k = 0; k < 20; k++) { const r = await q.receiveMessages({ numberOfMessages: 16, visibilityTimeout: 60 }); got += r.receivedMessageItems.length; for (const m of r.receivedMessageItems) await q.deleteMessage(m.messageId, m.popReceipt); }
  console.log('queue with', n, 'messages: 20 receives+deletes of', got, 'in', Date.now() - t, 'ms');
  await q.clearMessages();
}
const t = TableClient.fromConnectionString(az.connectionString, 'ttt', { allowInsecureConnection: true }); await t.createTable();
for (let i = 0; i < 4000; i += 100) await t.submitTransaction(Array.from({ length: 100 }, (_, k) => ['create', { partitionKey: 'run', rowKey: String(i + k).padStart(7, '0'), status: 'completed', contacts: 250, upserted: 250 }] as any));
let s = Date.now(); let n = 0; for await (const _ of t.listEntities({ queryOptions: { filter: "PartitionKey eq 'run'" } })) n++; console.log('list', n, 'entities in', Date.now() - s, 'ms');
s = Date.now(); for (let k = 0; k < 50; k++) await t.getEntity('run', '0001234'); console.log('50 point reads in', Date.now() - s, 'ms');
await az.stop();
