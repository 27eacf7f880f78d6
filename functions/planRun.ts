import { app, type InvocationContext } from '@azure/functions';
import { parsePlanMessage } from '../shared/runs/messages.js';
import { planRun } from '../shared/runs/planRun.js';
import { services } from '../shared/services.js';
import { runLog } from '../shared/telemetry.js';
import { QUEUES } from '../shared/store/workQueues.js';

export async function planRunHandler(message: unknown, context: InvocationContext): Promise<void> {
  const { exportId, runId } = parsePlanMessage(message);
  await planRun(services(), exportId, runId, runLog((m) => context.log(m), { exportId, runId }));
}

app.storageQueue('planRun', { queueName: QUEUES.plan, connection: 'AzureWebJobsStorage', handler: planRunHandler });
