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

function when(iso: string): string {
  const at = new Date(iso);
  return at.toDateString() === new Date().toDateString() ? at.toLocaleTimeString() : at.toLocaleString();
}

/**
 * How a refresh export starts: a new snapshot's blobs set off a check within seconds, and the scheduled check
 * finds what an event missed ("10:15 AM: starts a run", or why it waits).
 */
function refreshRows(refresh: RefreshOutlook | undefined): [string, string][] {
  if (!refresh) return [];
  const next = refresh.wouldRun ? 'starts a run' : `waits (${refresh.reason})`;
  return [
    ['Next scheduled check', refresh.nextCheckAt ? `${when(refresh.nextCheckAt)}: ${next}` : next],
    [
      'Last snapshot landed',
      refresh.lastEvent ? `${when(refresh.lastEvent.at)} (${refresh.lastEvent.blob})` : 'None seen since it was set up',
    ],
  ];
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
    ...(exp.mapping.identity ? [['Identity column', exp.mapping.identity] as [string, string]] : []),
    ['Mode', `${MODE_NAMES[exp.mode]}${exp.mode === 'mirror' ? ` (removal guard ${exp.removalGuardPercent}%)` : ''}`],
    ['Schedule', SCHEDULE_NAMES[exp.schedule]],
    ...(exp.schedule === 'refresh' ? refreshRows(refresh) : []),
    ['Tags', exp.tags.length ? exp.tags.join('; ') : 'None'],
    [
      'Tags of leavers',
      exp.removeTagsWhenLeaving
        ? 'Removed when a contact leaves the segment'
        : 'Kept when a contact leaves the segment',
    ],
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
