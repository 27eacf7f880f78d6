import {
  Button,
  Link,
  Spinner,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
} from '@fluentui/react-components';
import { api, type AcList, type Export, type Run } from '../api';
import { ErrorBar, InfoBar, StatusBadge, useCommonStyles } from '../components/common';
import { lastRealRun, listLabel, useConnections, useLoaded } from '../hooks';
import { navigate } from '../route';
import { MODE_NAMES, SCHEDULE_NAMES } from './names';

interface Row {
  exp: Export;
  lastReal?: Run;
  /** A dry run newer than the last real run (it sent nothing: the outcome is the real run's). */
  dryRunSince: boolean;
  list: string;
}

/** The exports by name, each with its list, and the outcome of its last real run. */
async function loadRows(): Promise<Row[]> {
  const exports = (await api.exports()).sort((a, b) =>
    a.displayName.localeCompare(b.displayName, undefined, { sensitivity: 'base' }),
  );
  const lists = new Map<string, Promise<AcList[] | undefined>>();
  const listsOf = (connectionId: string) => {
    if (!lists.has(connectionId))
      lists.set(
        connectionId,
        api.lists(connectionId).catch(() => undefined),
      );
    return lists.get(connectionId)!;
  };
  return Promise.all(
    exports.map(async (exp) => {
      const [runs, accountLists] = await Promise.all([api.runs(exp.id, { top: 10 }), listsOf(exp.connectionId)]);
      const lastReal = lastRealRun(runs.value);
      return { exp, lastReal, dryRunSince: runs.value[0]?.dryRun === true, list: listLabel(exp.listId, accountLists) };
    }),
  );
}

/** Exports: each with its connection, list, schedule, mode and last run. */
export function ExportsPage() {
  const styles = useCommonStyles();
  const rows = useLoaded(undefined, loadRows);
  const connections = useConnections();

  return (
    <section aria-labelledby="exports-title">
      <h1 id="exports-title">Exports</h1>
      <Text as="p" className={styles.muted}>
        An export keeps a segment in sync with an ActiveCampaign list, whenever a new snapshot lands or on demand.
      </Text>
      <div className={styles.toolbar}>
        <Button appearance="primary" onClick={() => navigate('exports/new')}>
          Add destination
        </Button>
      </div>
      <ErrorBar error={rows.error ?? connections.error} />
      {!rows.value ? (
        <Spinner label="Loading exports…" />
      ) : rows.value.length === 0 ? (
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
            {rows.value.map(({ exp: e, lastReal, dryRunSince, list }) => (
              <TableRow key={e.id}>
                <TableCell>
                  <Link href={`#/exports/${e.id}`}>{e.displayName}</Link>
                </TableCell>
                <TableCell>{connections.value?.get(e.connectionId)?.displayName ?? e.connectionId}</TableCell>
                <TableCell>{list}</TableCell>
                <TableCell>{SCHEDULE_NAMES[e.schedule]}</TableCell>
                <TableCell>{MODE_NAMES[e.mode]}</TableCell>
                <TableCell>
                  <StatusBadge status={lastReal?.status} />
                  {dryRunSince ? <Text size={200}> · a dry run since</Text> : null}
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
    </section>
  );
}
