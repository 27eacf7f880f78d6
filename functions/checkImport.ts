import { app, type InvocationContext } from '@azure/functions';
import { checkImport } from '../shared/runs/checkImport.js';
import { parseStatusMessage } from '../shared/runs/messages.js';
import { services } from '../shared/services.js';
import { runLog } from '../shared/telemetry.js';
import { QUEUES } from '../shared/store/workQueues.js';

export async function checkImportHandler(message: unknown, context: InvocationContext): Promise<void> {
  const check = parseStatusMessage(message);
  await checkImport(services(), check, runLog((m) => context.log(m), check));
}

app.storageQueue('checkImport', { queueName: QUEUES.status, connection: 'AzureWebJobsStorage', handler: checkImportHandler });
