import { app, type InvocationContext } from '@azure/functions';
import { QUEUES, readMessage } from '../shared/runs/runQueues.js';
import { watchRun } from '../shared/runs/watchRun.js';
import { services } from '../shared/services.js';
import { runLog } from '../shared/telemetry.js';

export async function watchRunHandler(raw: unknown, context: InvocationContext): Promise<void> {
  const message = readMessage(QUEUES.watch, raw, (m) => context.warn(m));
  if (message)
    await watchRun(
      services(),
      message,
      runLog((m) => context.log(m), message),
    );
}

app.storageQueue('watchRun', {
  queueName: QUEUES.watch,
  connection: 'AzureWebJobsStorage',
  handler: watchRunHandler,
});
