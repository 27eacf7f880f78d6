import { app, type InvocationContext, type Timer } from '@azure/functions';
import { config } from '../shared/config.js';
import { refreshExports } from '../shared/runs/scheduledRefresh.js';
import { services } from '../shared/services.js';

export async function refreshTimer(_timer: Timer, context: InvocationContext): Promise<void> {
  const result = await refreshExports(services(), (m) => context.log(m));
  context.log(`Scheduled refresh: ${result.started.length} run(s) started, ${result.skipped.length} export(s) skipped`);
}

app.timer('refreshTimer', { schedule: config().refreshSchedule, handler: refreshTimer });
