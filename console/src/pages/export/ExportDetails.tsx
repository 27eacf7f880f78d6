import { makeStyles, tokens } from '@fluentui/react-components';
import { Fragment } from 'react';
import type { Connection, Export, RefreshOutlook } from '../../api';
import { MODE_NAMES, SCHEDULE_NAMES } from '../names';

const useStyles = makeStyles({
  details: {
    display: 'grid',
    gridTemplateColumns: 'max-content 1fr',
    gap: `${tokens.spacingVerticalXS} ${tokens.spacingHorizontalL}`,
    margin: `${tokens.spacingVerticalM} 0`,
  },
  term: { color: tokens.colorNeutralForeground3 },
});

/** "Every scheduled refresh · next check 10:15 AM: runs then (a new snapshot)", or why it waits. */
function scheduleLabel(exp: Export, refresh: RefreshOutlook | undefined): string {
  const name = SCHEDULE_NAMES[exp.schedule];
  if (exp.schedule !== 'refresh' || !refresh) return name;
  const at = refresh.nextCheckAt ? new Date(refresh.nextCheckAt) : undefined;
  const when = at
    ? ` · next check ${at.toDateString() === new Date().toDateString() ? at.toLocaleTimeString() : at.toLocaleString()}`
    : '';
  return `${name}${when}: ${refresh.wouldRun ? 'starts a run' : `waits (${refresh.reason})`}`;
}

/** An export's settings as a list of terms. */
export function ExportDetails({
  exp,
  connection,
  list,
  refresh,
}: {
  exp: Export;
  connection?: Connection;
  list: string;
  refresh?: RefreshOutlook;
}) {
  const styles = useStyles();
  const rows: [string, string][] = [
    ['Connection', connection?.displayName ?? exp.connectionId],
    ['ActiveCampaign list', list],
    ['Source', `${exp.source.container}/${exp.source.path}${exp.source.table ? ` (table ${exp.source.table})` : ''}`],
    ['Email column', exp.mapping.email],
    ['Mode', `${MODE_NAMES[exp.mode]}${exp.mode === 'mirror' ? ` (removal guard ${exp.removalGuardPercent}%)` : ''}`],
    ['Schedule', scheduleLabel(exp, refresh)],
    ['Tags', exp.tags.length ? exp.tags.join('; ') : 'None'],
    ['Automations', exp.runAutomations ? 'Run for imported contacts' : 'Not run for imported contacts'],
  ];
  return (
    <dl className={styles.details}>
      {rows.map(([term, value]) => (
        <Fragment key={term}>
          <dt className={styles.term}>{term}</dt>
          <dd>{value}</dd>
        </Fragment>
      ))}
    </dl>
  );
}
