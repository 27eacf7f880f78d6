import { app, type InvocationContext, type Timer } from '@azure/functions';
import { config } from '../shared/config.js';
import { refreshExports } from '../shared/runs/scheduledRefresh.js';
import { services } from '../shared/services.js';

export async function refreshTimer(_timer: Timer, context: InvocationContext): Promise<void> {
  const r = await refreshExports(services(), (m) => context.log(m));
  context.log(
    `Scheduled refresh: ${r.started.length} run(s) started, ${r.skipped.length} export(s) skipped, ${r.rearmed.length} stalled run(s) re-armed, files of ${r.expiredRuns} old run(s) deleted`,
  );
}

app.timer('refreshTimer', { schedule: config().refreshSchedule, handler: refreshTimer });
