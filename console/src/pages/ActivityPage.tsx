import {
  Button,
  Spinner,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
} from '@fluentui/react-components';
import { useCallback, useEffect, useState } from 'react';
import { api, type AuditEntry } from '../api';
import { ErrorBar, formatDate, InfoBar, useCommonStyles } from '../components/common';

const ACTIONS: Record<AuditEntry['action'], string> = {
  'connection.created': 'Added a connection',
  'connection.updated': 'Changed a connection',
  'connection.keyRotated': 'Replaced the API key of a connection',
  'connection.deleted': 'Deleted a connection',
  'list.created': 'Created a list in ActiveCampaign',
  'export.created': 'Added an export',
  'export.updated': 'Edited an export',
  'export.deleted': 'Deleted an export',
  'run.started': 'Started a run',
  'run.cancelled': 'Cancelled a run',
  'run.confirmedRemovals': 'Confirmed the removals the guard stopped',
  'webhook.created': 'Added a webhook',
  'webhook.deleted': 'Deleted a webhook',
  'webhook.tested': 'Sent a test event to a webhook',
};
const ROLES = { admin: 'Administrator', contributor: 'Contributor', none: 'No role', app: 'The app' } as const;

const detailsText = (d?: AuditEntry['details']) =>
  d
    ? Object.entries(d)
        .map(([k, v]) => `${k}: ${String(v)}`)
        .join(' · ')
    : '';

/** Activity (administrators): who changed what and who started or stopped runs, newest first. */
export function ActivityPage() {
  const styles = useCommonStyles();
  const [entries, setEntries] = useState<AuditEntry[]>();
  const [next, setNext] = useState<string>();
  const [error, setError] = useState<unknown>();

  const load = useCallback(async (continuationToken?: string) => {
    try {
      const page = await api.audit({ continuationToken });
      setEntries((now) => (continuationToken ? [...(now ?? []), ...page.value] : page.value));
      setNext(page.continuationToken);
    } catch (e) {
      setError(e);
    }
  }, []);
  useEffect(() => void load(), [load]);

  return (
    <section aria-labelledby="activity-title">
      <h1 id="activity-title">Activity</h1>
      <Text as="p" className={styles.muted}>
        Who added, changed or deleted a connection, an export or a webhook, replaced a key, and started, cancelled or
        confirmed a run. Keys and secrets are never recorded.
      </Text>
      <ErrorBar error={error} />
      {!entries ? (
        <Spinner label="Loading activity…" />
      ) : entries.length === 0 ? (
        <InfoBar>Nothing has happened yet.</InfoBar>
      ) : (
        <>
          <Table aria-label="Activity" className={styles.table}>
            <TableHeader>
              <TableRow>
                <TableHeaderCell>When</TableHeaderCell>
                <TableHeaderCell>Who</TableHeaderCell>
                <TableHeaderCell>What</TableHeaderCell>
                <TableHeaderCell>On</TableHeaderCell>
                <TableHeaderCell>Details</TableHeaderCell>
              </TableRow>
            </TableHeader>
            <TableBody>
              {entries.map((e) => (
                <TableRow key={e.id}>
                  <TableCell>{formatDate(e.at)}</TableCell>
                  <TableCell>
                    {e.actor.name} ({ROLES[e.actor.role]})
                  </TableCell>
                  <TableCell>{ACTIONS[e.action]}</TableCell>
                  <TableCell>
                    {e.target.type} {e.target.name ?? ''} ({e.target.id})
                  </TableCell>
                  <TableCell>{detailsText(e.details)}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
          {next ? (
            <div className={styles.toolbar}>
              <Button onClick={() => void load(next)}>Show older activity</Button>
            </div>
          ) : null}
        </>
      )}
    </section>
  );
}
