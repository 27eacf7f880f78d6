import { app, type InvocationContext } from '@azure/functions';
import { planRun } from '../shared/runs/planRun.js';
import { QUEUES, readMessage } from '../shared/runs/runQueues.js';
import { services } from '../shared/services.js';
import { runLog } from '../shared/telemetry.js';

export async function planRunHandler(raw: unknown, context: InvocationContext): Promise<void> {
  const message = readMessage(QUEUES.plan, raw, (m) => context.warn(m));
  if (message)
    await planRun(
      services(),
      message,
      runLog((m) => context.log(m), message),
    );
}

app.storageQueue('planRun', { queueName: QUEUES.plan, connection: 'AzureWebJobsStorage', handler: planRunHandler });
