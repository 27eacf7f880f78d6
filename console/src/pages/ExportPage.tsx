import { Spinner } from '@fluentui/react-components';
import { useEffect, useRef, useState } from 'react';
import type { Me } from '../api';
import { ErrorBar, InfoBar, LiveRegion } from '../components/common';
import { listLabel, useConnections, useExport, useLists, useRuns } from '../hooks';
import { hashQuery } from '../route';
import { ActiveRun } from './export/ActiveRun';
import { ExportActions } from './export/ExportActions';
import { ExportDetails } from './export/ExportDetails';
import { RunHistory } from './export/RunHistory';
import { announcement } from './export/runText';
import { useRunActions } from './export/useRunActions';

/** One export: its settings, its actions, the active run as it goes, and its run history. */
export function ExportPage({ me, exportId }: { me: Me; exportId: string }) {
  const exp = useExport(exportId);
  const runs = useRuns(exportId);
  const connections = useConnections();
  const lists = useLists(exp.value?.connectionId);
  const actions = useRunActions(exportId, runs.reload);
  // "Saved" (or "nothing changed") says what just happened: it goes with the next action.
  const [saved, setSaved] = useState(hashQuery('saved'));
  useEffect(() => {
    if (actions.busy) setSaved(null);
  }, [actions.busy]);

  // What the scheduled check will do changes with every run: look again when one starts or ends.
  const activeId = runs.active?.runId;
  const first = useRef(true);
  const reloadExport = exp.reload;
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    void reloadExport();
  }, [activeId, reloadExport]);

  // Screen readers hear about runs that are active while the page is open: their progress, then their end.
  const watched = useRef(new Set<string>());
  if (activeId) watched.current.add(activeId);

  const error = exp.error ?? runs.error;
  if (error) return <ErrorBar error={error} />;
  if (!exp.value || !runs.loaded) return <Spinner label="Loading the export…" />;
  const e = exp.value;
  const list = listLabel(e.listId, lists);
  const newest = runs.runs[0];

  return (
    <section aria-labelledby="export-title">
      <h1 id="export-title">{e.displayName}</h1>
      {saved === '1' ? (
        <InfoBar intent="success">
          Saved. Saving does not run the export: it runs{' '}
          {e.schedule === 'refresh' ? 'when a new snapshot lands, at the next scheduled check, or ' : ''}when you choose
          Run now.
        </InfoBar>
      ) : null}
      {saved === 'none' ? <InfoBar>Nothing was changed, so nothing was saved.</InfoBar> : null}
      <ExportDetails exp={e} connection={connections.value?.get(e.connectionId)} list={list} refresh={e.refresh} />
      <ExportActions me={me} exp={e} list={list} lastReal={runs.lastReal} active={runs.active} actions={actions} />
      <ErrorBar error={actions.error} />
      {runs.active ? (
        <ActiveRun
          run={runs.active}
          onCancel={() => void actions.cancel(runs.active!.runId)}
          cancelling={actions.busy === 'cancel'}
        />
      ) : null}
      <LiveRegion message={newest && watched.current.has(newest.runId) ? announcement(newest) : ''} />
      <RunHistory exportId={exportId} runs={runs.runs} hasMore={!!runs.next} onMore={() => void runs.more()} />
    </section>
  );
}
