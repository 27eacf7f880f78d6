import { app, type InvocationContext } from '@azure/functions';
import { checkImports } from '../shared/runs/checkImport.js';
import { QUEUES, readMessage } from '../shared/runs/runQueues.js';
import { services } from '../shared/services.js';
import { runLog } from '../shared/telemetry.js';

export async function checkImportHandler(raw: unknown, context: InvocationContext): Promise<void> {
  const message = readMessage(QUEUES.importCheck, raw, (m) => context.warn(m));
  if (message) await checkImports(services(), message, (one) => runLog((m) => context.log(m), one));
}

app.storageQueue('checkImport', {
  queueName: QUEUES.importCheck,
  connection: 'AzureWebJobsStorage',
  handler: checkImportHandler,
});
