import { app, type InvocationContext } from '@azure/functions';
import { parsePlanMessage } from '../shared/runs/messages.js';
import { enqueueWatch, watchRun } from '../shared/runs/runLifecycle.js';
import { services } from '../shared/services.js';
import { QUEUES } from '../shared/store/workQueues.js';

export async function watchRunHandler(message: unknown, _context: InvocationContext): Promise<void> {
  const { exportId, runId } = parsePlanMessage(message);
  if (await watchRun(services(), exportId, runId)) await enqueueWatch(services(), exportId, runId);
}

app.storageQueue('watchRun', { queueName: QUEUES.progress, connection: 'AzureWebJobsStorage', handler: watchRunHandler });
