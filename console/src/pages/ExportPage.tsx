import {
  Button,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  Field,
  Link,
  ProgressBar,
  Spinner,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, TERMINAL, type AcList, type Connection, type Export, type Me, type RefreshOutlook, type Run } from '../api';
import { ErrorBar, formatDate, formatDuration, InfoBar, StatusBadge, useCommonStyles } from '../components/common';
import { RunChart } from '../components/RunChart';
import { hashQuery, navigate } from '../route';
import { MODE_NAMES, SCHEDULE_NAMES } from './ExportsPage';

const useStyles = makeStyles({
  details: { display: 'grid', gridTemplateColumns: 'max-content 1fr', gap: `${tokens.spacingVerticalXS} ${tokens.spacingHorizontalL}`, margin: `${tokens.spacingVerticalM} 0` },
  term: { color: tokens.colorNeutralForeground3 },
  card: { border: `1px solid ${tokens.colorNeutralStroke2}`, borderRadius: tokens.borderRadiusMedium, padding: tokens.spacingHorizontalL, margin: `${tokens.spacingVerticalM} 0` },
  counts: { display: 'flex', gap: tokens.spacingHorizontalXL, flexWrap: 'wrap', margin: `${tokens.spacingVerticalS} 0` },
  count: { display: 'flex', flexDirection: 'column' },
  countValue: { fontSize: tokens.fontSizeBase500, fontWeight: tokens.fontWeightSemibold },
});

const COUNT_LABELS: [keyof Run['counts'], string][] = [
  ['read', 'Read'], ['upserted', 'Upserted'], ['unsubscribed', 'Unsubscribed'], ['unchanged', 'Unchanged'], ['duplicate', 'Duplicate'], ['rejected', 'Rejected'], ['failed', 'Failed'],
];
const PAGE = 10;

/** "Newsletter (ID 1)"; a list ActiveCampaign no longer has says so (its runs would fail). */
function listLabel(listId: number, lists: AcList[] | undefined): string {
  if (!lists) return `ID ${listId}`;
  const list = lists.find((l) => Number(l.id) === listId);
  return list ? `${list.name} (ID ${listId})` : `ID ${listId}: not found in ActiveCampaign (deleted?)`;
}

/** "Every scheduled refresh · next check 10:15 AM: runs then (a new snapshot)", or why it waits. */
function scheduleLabel(exp: Export, refresh: RefreshOutlook | undefined): string {
  const name = SCHEDULE_NAMES[exp.schedule];
  if (exp.schedule !== 'refresh' || !refresh) return name;
  const at = refresh.nextCheckAt ? new Date(refresh.nextCheckAt) : undefined;
  const when = at ? ` · next check ${at.toDateString() === new Date().toDateString() ? at.toLocaleTimeString() : at.toLocaleString()}` : '';
  return `${name}${when}: ${refresh.wouldRun ? 'starts a run' : `waits (${refresh.reason})`}`;
}

/** One export: its settings, its actions, the active run as it goes, and its run history. */
export function ExportPage({ me: _me, exportId }: { me: Me; exportId: string }) {
  const styles = useStyles();
  const common = useCommonStyles();
  const [exp, setExp] = useState<Export>();
  const [refresh, setRefresh] = useState<RefreshOutlook>();
  const [connection, setConnection] = useState<Connection>();
  const [lists, setLists] = useState<AcList[]>();
  const [runs, setRuns] = useState<Run[]>([]);
  const [next, setNext] = useState<string>();
  const [error, setError] = useState<unknown>();
  const [actionError, setActionError] = useState<unknown>();
  const [busy, setBusy] = useState<string>();
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [sample, setSample] = useState<unknown>();
  const saved = useRef(hashQuery('saved') === '1');

  const loadRuns = useCallback(async () => {
    const page = await api.runs(exportId, { top: PAGE });
    setRuns((current) => [...page.value, ...current.filter((r) => !page.value.some((p) => p.runId === r.runId) && Date.parse(r.startedAt) < Date.parse(page.value.at(-1)?.startedAt ?? '0'))]);
    setNext((n) => n ?? page.continuationToken);
  }, [exportId]);

  useEffect(() => {
    void (async () => {
      try {
        const e = await api.getExport(exportId);
        setExp(e);
        setRefresh(e.refresh);
        setConnection((await api.connections()).find((c) => c.id === e.connectionId));
        // The list's name is a courtesy: the page works without ActiveCampaign answering.
        void api.lists(e.connectionId).then(setLists, () => undefined);
        await loadRuns();
      } catch (e) {
        setError(e);
      }
    })();
  }, [exportId, loadRuns]);

  const active = runs.find((r) => !TERMINAL.has(r.status));
  // An active run shows its progress by itself: the page looks again every two seconds.
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => void loadRuns().catch(() => undefined), 2_000);
    return () => clearInterval(timer);
  }, [active, loadRuns]);

  const activeId = active?.runId;
  // What the scheduled refresh will do changes with every run: look again when one starts or ends
  // (the first load has it already).
  const seenActive = useRef(false);
  useEffect(() => {
    if (!seenActive.current) {
      seenActive.current = true;
      return;
    }
    void api.getExport(exportId).then((e) => setRefresh(e.refresh), () => undefined);
  }, [exportId, activeId]);

  const act = async (label: string, action: () => Promise<unknown>) => {
    setBusy(label);
    setActionError(undefined);
    saved.current = false;
    try {
      await action();
      await loadRuns();
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(undefined);
    }
  };
  const start = (label: string, body: { dryRun?: boolean; fullSync?: boolean; confirmRemovals?: boolean }) => act(label, () => api.startRun(exportId, body));
  const more = async () => {
    if (!next) return;
    const page = await api.runs(exportId, { top: PAGE, continuationToken: next });
    setRuns((r) => [...r, ...page.value]);
    setNext(page.continuationToken);
  };

  if (error) return <ErrorBar error={error} />;
  if (!exp) return <Spinner label="Loading the export…" />;
  const last = runs[0];
  const guardStopped = last?.status === 'failed' && last.removals?.exceeded && !last.removals.confirmed;

  return (
    <section aria-labelledby="export-title">
      <h1 id="export-title">{exp.displayName}</h1>
      {saved.current ? (
        <InfoBar intent="success">
          Saved. Saving does not run the export: it runs {exp.schedule === 'refresh' ? 'at the next scheduled refresh that finds a new snapshot, or ' : ''}when you choose Run now.
        </InfoBar>
      ) : null}
      <dl className={styles.details}>
        <dt className={styles.term}>Connection</dt>
        <dd>{connection?.displayName ?? exp.connectionId}</dd>
        <dt className={styles.term}>ActiveCampaign list</dt>
        <dd>{listLabel(exp.listId, lists)}</dd>
        <dt className={styles.term}>Source</dt>
        <dd>
          {exp.source.container}/{exp.source.path}
          {exp.source.table ? ` (table ${exp.source.table})` : ''}
        </dd>
        <dt className={styles.term}>Email column</dt>
        <dd>{exp.mapping.email}</dd>
        <dt className={styles.term}>Mode</dt>
        <dd>
          {MODE_NAMES[exp.mode]}
          {exp.mode === 'mirror' ? ` (removal guard ${exp.removalGuardPercent}%)` : ''}
        </dd>
        <dt className={styles.term}>Schedule</dt>
        <dd>{scheduleLabel(exp, refresh)}</dd>
        <dt className={styles.term}>Tags</dt>
        <dd>{exp.tags.length ? exp.tags.join(', ') : 'None'}</dd>
        <dt className={styles.term}>Automations</dt>
        <dd>{exp.runAutomations ? 'Run for imported contacts' : 'Not run for imported contacts'}</dd>
      </dl>
      <div className={common.toolbar}>
        <Button appearance="primary" disabled={!!busy || !!active} onClick={() => start('run', {})}>
          Run now
        </Button>
        <Button disabled={!!busy || !!active} onClick={() => start('dry', { dryRun: true })}>
          Dry run
        </Button>
        <Button disabled={!!busy || !!active} onClick={() => start('full', { fullSync: true })}>
          Full resync
        </Button>
        {guardStopped ? (
          <Button disabled={!!busy || !!active} onClick={() => start('confirm', { confirmRemovals: true })}>
            Run and confirm removals
          </Button>
        ) : null}
        <Button disabled={!!busy || !!active} onClick={() => navigate(`exports/${exportId}/edit`)}>
          Edit
        </Button>
        <Button disabled={!!busy} onClick={() => setConfirmDelete(true)}>
          Delete
        </Button>
        {busy ? <Spinner size="tiny" label="Working…" /> : null}
      </div>
      <ErrorBar error={actionError} />
      {active ? <ActiveRun run={active} onCancel={() => act('cancel', () => api.cancelRun(exportId, active.runId))} cancelling={busy === 'cancel'} /> : null}

      <h2 className={common.section}>Run history</h2>
      {runs.length === 0 ? (
        <Text>No runs yet.</Text>
      ) : (
        <>
          <RunChart runs={runs} />
          <Table aria-label="Run history" className={common.table}>
            <TableHeader>
              <TableRow>
                <TableHeaderCell>Started</TableHeaderCell>
                <TableHeaderCell>Trigger</TableHeaderCell>
                <TableHeaderCell>Status</TableHeaderCell>
                <TableHeaderCell>Duration</TableHeaderCell>
                <TableHeaderCell>Counts</TableHeaderCell>
                <TableHeaderCell>Details</TableHeaderCell>
              </TableRow>
            </TableHeader>
            <TableBody>
              {runs.map((r) => (
                <TableRow key={r.runId}>
                  <TableCell>{formatDate(r.startedAt)}</TableCell>
                  <TableCell>
                    {r.trigger === 'schedule' ? 'Schedule' : 'On demand'}
                    {r.dryRun ? ' (dry run)' : r.fullSync ? ' (full resync)' : ''}
                  </TableCell>
                  <TableCell>
                    <StatusBadge status={r.status} />
                  </TableCell>
                  <TableCell>{formatDuration(r.startedAt, r.finishedAt)}</TableCell>
                  <TableCell>
                    read {r.counts.read} · upserted {r.counts.upserted} · unsubscribed {r.counts.unsubscribed} · unchanged {r.counts.unchanged} · rejected {r.counts.rejected} · failed {r.counts.failed}
                  </TableCell>
                  <TableCell>
                    {r.error ? <Text block>{r.error}</Text> : null}
                    {r.rejectedRows ? (
                      <Link href={api.rejectedRowsUrl(exportId, r.runId)} download>
                        Download rejected rows
                      </Link>
                    ) : null}{' '}
                    {r.payloadSample ? (
                      <Link as="button" onClick={() => void api.sample(exportId, r.runId).then(setSample, setActionError)}>
                        View payload sample
                      </Link>
                    ) : null}
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
          {next ? (
            <div className={common.toolbar}>
              <Button onClick={() => void more()}>Show older runs</Button>
            </div>
          ) : null}
        </>
      )}
      {sample ? (
        <Dialog open modalType="modal" onOpenChange={(_, d) => !d.open && setSample(undefined)}>
          <DialogSurface aria-label="Payload sample">
            <DialogBody>
              <DialogTitle>Payload sample of the dry run</DialogTitle>
              <DialogContent>
                <pre className={common.mono} tabIndex={0}>
                  {JSON.stringify(sample, null, 2)}
                </pre>
              </DialogContent>
              <DialogActions>
                <Button onClick={() => setSample(undefined)}>Close</Button>
              </DialogActions>
            </DialogBody>
          </DialogSurface>
        </Dialog>
      ) : null}
      {confirmDelete ? (
        <Dialog open modalType="modal" onOpenChange={(_, d) => !d.open && setConfirmDelete(false)}>
          <DialogSurface aria-label="Delete export">
            <DialogBody>
              <DialogTitle>Delete {exp.displayName}?</DialogTitle>
              <DialogContent>
                <Text>Its schedule stops and an active run is cancelled at once; its state and its runs' files are deleted. Contacts already in ActiveCampaign stay.</Text>
              </DialogContent>
              <DialogActions>
                <Button appearance="primary" onClick={() => void act('delete', () => api.deleteExport(exportId)).then(() => navigate('exports'))}>
                  Delete
                </Button>
                <Button onClick={() => setConfirmDelete(false)}>Cancel</Button>
              </DialogActions>
            </DialogBody>
          </DialogSurface>
        </Dialog>
      ) : null}
    </section>
  );
}

function ActiveRun({ run, onCancel, cancelling }: { run: Run; onCancel: () => void; cancelling: boolean }) {
  const styles = useStyles();
  const total = run.batches.total;
  const sent = run.counts.upserted + run.counts.unsubscribed;
  return (
    <section className={styles.card} aria-label="Active run">
      <h2>
        Active run <StatusBadge status={run.status} />
      </h2>
      <Field
        label={total ? `Batches ${run.batches.done} of ${total} · ${sent} contacts sent` : run.status === 'planning' ? `Reading the segment: ${run.counts.read} rows so far` : 'Waiting to start'}
        validationState="none"
      >
        <ProgressBar value={total ? run.batches.done / total : undefined} thickness="large" />
      </Field>
      <div className={styles.counts}>
        {COUNT_LABELS.map(([k, label]) => (
          <div className={styles.count} key={k}>
            <span>{label}</span>
            <span className={styles.countValue}>{run.counts[k]}</span>
          </div>
        ))}
      </div>
      <Button onClick={onCancel} disabled={cancelling}>
        {cancelling ? <Spinner size="tiny" label="Cancelling…" /> : 'Cancel run'}
      </Button>
    </section>
  );
}
