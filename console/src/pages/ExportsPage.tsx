import { Button, Link, Spinner, Table, TableBody, TableCell, TableHeader, TableHeaderCell, TableRow, Text } from '@fluentui/react-components';
import { useEffect, useState } from 'react';
import { api, type Connection, type Export, type Me, type Run } from '../api';
import { ErrorBar, InfoBar, StatusBadge, useCommonStyles } from '../components/common';
import { navigate } from '../route';

export const MODE_NAMES = { upsert: 'Upsert', mirror: 'Mirror' } as const;
export const SCHEDULE_NAMES = { refresh: 'Every scheduled refresh', manual: 'On demand only' } as const;

/** Exports: each with its connection, list, schedule, mode and last run. */
export function ExportsPage({ me: _me }: { me: Me }) {
  const styles = useCommonStyles();
  const [exports, setExports] = useState<Export[]>();
  const [connections, setConnections] = useState<Map<string, Connection>>(new Map());
  const [lastRuns, setLastRuns] = useState<Map<string, Run | undefined>>(new Map());
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    void (async () => {
      try {
        const [list, conns] = await Promise.all([api.exports(), api.connections()]);
        setExports(list);
        setConnections(new Map(conns.map((c) => [c.id, c])));
        const runs = await Promise.all(list.map(async (e) => [e.id, (await api.runs(e.id, { top: 1 })).value[0]] as const));
        setLastRuns(new Map(runs));
      } catch (e) {
        setError(e);
      }
    })();
  }, []);

  return (
    <section aria-labelledby="exports-title">
      <h1 id="exports-title">Exports</h1>
      <Text as="p" className={styles.muted}>
        An export keeps a segment in sync with an ActiveCampaign list, on every scheduled refresh or on demand.
      </Text>
      <div className={styles.toolbar}>
        <Button appearance="primary" onClick={() => navigate('exports/new')}>
          Add destination
        </Button>
      </div>
      <ErrorBar error={error} />
      {!exports ? (
        <Spinner label="Loading exports…" />
      ) : exports.length === 0 ? (
        <InfoBar>No exports yet. Add a destination to send a segment to an ActiveCampaign list.</InfoBar>
      ) : (
        <Table aria-label="Exports" className={styles.table}>
          <TableHeader>
            <TableRow>
              <TableHeaderCell>Display name</TableHeaderCell>
              <TableHeaderCell>Connection</TableHeaderCell>
              <TableHeaderCell>List</TableHeaderCell>
              <TableHeaderCell>Schedule</TableHeaderCell>
              <TableHeaderCell>Mode</TableHeaderCell>
              <TableHeaderCell>Last run</TableHeaderCell>
            </TableRow>
          </TableHeader>
          <TableBody>
            {exports.map((e) => (
              <TableRow key={e.id}>
                <TableCell>
                  <Link href={`#/exports/${e.id}`}>{e.displayName}</Link>
                </TableCell>
                <TableCell>{connections.get(e.connectionId)?.displayName ?? e.connectionId}</TableCell>
                <TableCell>{e.listId}</TableCell>
                <TableCell>{SCHEDULE_NAMES[e.schedule]}</TableCell>
                <TableCell>{MODE_NAMES[e.mode]}</TableCell>
                <TableCell>{lastRuns.has(e.id) ? <StatusBadge status={lastRuns.get(e.id)?.status} /> : <Spinner size="tiny" aria-label="Loading the last run" />}</TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
    </section>
  );
}
