import {
  Button,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  Link,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
} from '@fluentui/react-components';
import { useState } from 'react';
import { api, type Run } from '../../api';
import { ErrorBar, formatDate, formatDuration, StatusBadge, useCommonStyles } from '../../components/common';
import { RunChart } from '../../components/RunChart';
import { countsText } from './runText';

/** The export's runs, newest first: a chart of what they sent, and a table with their files. */
export function RunHistory({
  exportId,
  runs,
  hasMore,
  onMore,
}: {
  exportId: string;
  runs: Run[];
  hasMore: boolean;
  onMore: () => void;
}) {
  const common = useCommonStyles();
  const [sample, setSample] = useState<unknown>();
  const [error, setError] = useState<unknown>();
  return (
    <>
      <h2 className={common.section}>Run history</h2>
      <ErrorBar error={error} />
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
                    {r.dryRun
                      ? ' (dry run)'
                      : r.fullSync
                        ? ' (full resync)'
                        : r.confirmRemovals
                          ? ' (confirming removals)'
                          : ''}
                  </TableCell>
                  <TableCell>
                    <StatusBadge status={r.status} />
                  </TableCell>
                  <TableCell>{formatDuration(r.startedAt, r.finishedAt)}</TableCell>
                  <TableCell>{countsText(r)}</TableCell>
                  <TableCell>
                    {r.error ? <Text block>{r.error}</Text> : null}
                    {(r.warnings ?? []).map((w) => (
                      <Text block key={w}>
                        Warning: {w}
                      </Text>
                    ))}
                    {r.changes ? (
                      <Link href={api.changesUrl(exportId, r.runId)} download>
                        {r.dryRun ? 'Download who it would change' : 'Download changed contacts'}
                      </Link>
                    ) : null}{' '}
                    {r.rejectedRows ? (
                      <Link href={api.rejectedRowsUrl(exportId, r.runId)} download>
                        Download rejected rows
                      </Link>
                    ) : null}{' '}
                    {r.payloadSample ? (
                      <Link as="button" onClick={() => void api.sample(exportId, r.runId).then(setSample, setError)}>
                        View payload sample
                      </Link>
                    ) : null}
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
          {hasMore ? (
            <div className={common.toolbar}>
              <Button onClick={onMore}>Show older runs</Button>
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
    </>
  );
}
