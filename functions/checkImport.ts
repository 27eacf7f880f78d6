import { app, type InvocationContext } from '@azure/functions';
import { checkImport } from '../shared/runs/checkImport.js';
import { parseStatusMessage } from '../shared/runs/messages.js';
import { services } from '../shared/services.js';
import { QUEUES } from '../shared/store/workQueues.js';

export async function checkImportHandler(message: unknown, context: InvocationContext): Promise<void> {
  await checkImport(services(), parseStatusMessage(message), (m) => context.log(m));
}

app.storageQueue('checkImport', { queueName: QUEUES.status, connection: 'AzureWebJobsStorage', handler: checkImportHandler });
