import {
  Button,
  Checkbox,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  Field,
  Input,
  Radio,
  RadioGroup,
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
import { api, type AuditEntry, type ErasureRecord } from '../api';
import {
  ErrorBar,
  fieldMessage,
  formatDate,
  generalError,
  InfoBar,
  LiveRegion,
  useCommonStyles,
} from '../components/common';

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
  'erasure.completed': 'Erased a person',
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
  const [erasures, setErasures] = useState<ErasureRecord[]>();
  const [erasing, setErasing] = useState(false);
  const [announcement, setAnnouncement] = useState('');

  const loadErasures = useCallback(async () => {
    try {
      setErasures(await api.erasures());
    } catch (e) {
      setError(e);
    }
  }, []);
  useEffect(() => void loadErasures(), [loadErasures]);

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
        Who added, changed or deleted a connection, an export or a webhook, replaced a key, created a list, erased a
        person, and started, cancelled or confirmed a run. Keys and secrets are never recorded.
      </Text>
      <div className={styles.toolbar}>
        <Button onClick={() => setErasing(true)}>Erase a person…</Button>
      </div>
      <LiveRegion message={announcement} />
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
      <h2 className={styles.section}>Erasures</h2>
      {!erasures ? null : erasures.length === 0 ? (
        <Text as="p">No one has been erased.</Text>
      ) : (
        <Table aria-label="Erasures" className={styles.table}>
          <TableHeader>
            <TableRow>
              <TableHeaderCell>When</TableHeaderCell>
              <TableHeaderCell>Who</TableHeaderCell>
              <TableHeaderCell>ActiveCampaign</TableHeaderCell>
              <TableHeaderCell>Exports</TableHeaderCell>
            </TableRow>
          </TableHeader>
          <TableBody>
            {erasures.map((e) => (
              <TableRow key={e.id}>
                <TableCell>{formatDate(e.at)}</TableCell>
                <TableCell>{e.by}</TableCell>
                <TableCell>{e.activeCampaign.map((a) => `${a.displayName}: ${a.outcome}`).join(' · ')}</TableCell>
                <TableCell>
                  {e.exports.length} export(s), in the state of {e.exports.filter((x) => x.inState).length};{' '}
                  {e.filesRewritten} run file(s) rewritten
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      {erasing ? (
        <EraseDialog
          onClose={(done) => {
            setErasing(false);
            if (done) {
              setAnnouncement(
                `Erased: ${done.activeCampaign.map((a) => `${a.displayName}: ${a.outcome}`).join('; ') || 'no account'}`,
              );
              void load();
              void loadErasures();
            }
          }}
        />
      ) : null}
    </section>
  );
}

/** A data-subject request: the email, and whether the contact is deleted in ActiveCampaign or only unsubscribed. */
function EraseDialog({ onClose }: { onClose: (done?: ErasureRecord) => void }) {
  const styles = useCommonStyles();
  const [email, setEmail] = useState('');
  const [action, setAction] = useState<'delete' | 'unsubscribe'>('delete');
  const [understood, setUnderstood] = useState(false);
  const [error, setError] = useState<unknown>();
  const [saving, setSaving] = useState(false);
  const erase = async () => {
    setSaving(true);
    setError(undefined);
    try {
      onClose(await api.erase({ email, action }));
    } catch (e) {
      setError(e);
      setSaving(false);
    }
  };
  return (
    <Dialog open modalType="alert" onOpenChange={(_, d) => !d.open && onClose()}>
      <DialogSurface aria-label="Erase a person">
        <DialogBody>
          <DialogTitle>Erase a person</DialogTitle>
          <DialogContent className={styles.form}>
            <Text as="p">
              For a data-subject request. The email is taken out of every export&apos;s state and of the runs&apos;
              rejected rows, changed contacts and payload samples; the app keeps a record of who erased someone and
              when, without the email. If a segment still holds the person, its next run sends them again (with a
              warning): exclude them in Customer Insights too.
            </Text>
            <ErrorBar error={generalError(error, ['email', 'action'])} />
            <Field label="Email address" required validationMessage={fieldMessage(error, 'email')}>
              <Input type="email" value={email} onChange={(_, d) => setEmail(d.value)} />
            </Field>
            <Field label="In ActiveCampaign">
              <RadioGroup value={action} onChange={(_, d) => setAction(d.value as 'delete' | 'unsubscribe')}>
                <Radio value="delete" label="Delete the contact in every account the app sends to" />
                <Radio value="unsubscribe" label="Only unsubscribe it from the exports' lists" />
              </RadioGroup>
            </Field>
            <Checkbox
              checked={understood}
              onChange={(_, d) => setUnderstood(Boolean(d.checked))}
              label="I understand this cannot be undone"
            />
          </DialogContent>
          <DialogActions>
            <Button onClick={() => onClose()}>Cancel</Button>
            <Button appearance="primary" disabled={saving || !email.trim() || !understood} onClick={() => void erase()}>
              {saving ? 'Erasing…' : 'Erase'}
            </Button>
          </DialogActions>
        </DialogBody>
      </DialogSurface>
    </Dialog>
  );
}
