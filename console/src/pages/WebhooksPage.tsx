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
import { api, type Webhook, type WebhookEventType } from '../api';
import {
  ErrorBar,
  fieldMessage,
  formatDate,
  generalError,
  InfoBar,
  LiveRegion,
  useCommonStyles,
} from '../components/common';

const EVENTS: { type: WebhookEventType; label: string }[] = [
  { type: 'run.started', label: 'A run started' },
  { type: 'run.completed', label: 'A run completed (with or without errors)' },
  { type: 'run.failed', label: 'A run failed' },
  { type: 'run.guarded', label: 'The removal guard stopped a run (it waits for an administrator)' },
];

const deliveryText = (w: Webhook) => {
  const d = w.lastDelivery;
  if (!d) return 'Nothing sent yet';
  const what = d.ok
    ? `Delivered (${d.status})`
    : `Not delivered: ${d.error ?? 'failed'}${d.nextAttemptAt ? `; tried again ${formatDate(d.nextAttemptAt)}` : ''}`;
  return `${what} · ${d.eventType} · ${formatDate(d.at)}`;
};

/** Webhooks (administrators): endpoints that hear about runs, with their last delivery; add, test, delete. */
export function WebhooksPage() {
  const styles = useCommonStyles();
  const [webhooks, setWebhooks] = useState<Webhook[]>();
  const [error, setError] = useState<unknown>();
  const [adding, setAdding] = useState(false);
  const [created, setCreated] = useState<Webhook & { secret: string }>();
  const [deleting, setDeleting] = useState<Webhook>();
  const [announcement, setAnnouncement] = useState('');

  const load = useCallback(async () => {
    try {
      setWebhooks(await api.webhooks());
    } catch (e) {
      setError(e);
    }
  }, []);
  useEffect(() => void load(), [load]);

  const test = async (w: Webhook) => {
    setError(undefined);
    try {
      const result = await api.testWebhook(w.id);
      setAnnouncement(
        result.ok
          ? `Test event delivered to ${w.url} (${result.status})`
          : `Test event not delivered to ${w.url}: ${result.error}`,
      );
      await load();
    } catch (e) {
      setError(e);
    }
  };

  return (
    <section aria-labelledby="webhooks-title">
      <h1 id="webhooks-title">Webhooks</h1>
      <Text as="p" className={styles.muted}>
        The app posts a signed JSON event to each endpoint when a run starts, completes, fails or is stopped by the
        removal guard, with the run&apos;s counts and a link to its export. Use it for a Teams or Slack workflow, an
        incident tool or your own service. Endpoints must be https and public; failed deliveries are tried again for
        about eight hours.
      </Text>
      <div className={styles.toolbar}>
        <Button appearance="primary" onClick={() => setAdding(true)}>
          Add webhook
        </Button>
      </div>
      <LiveRegion message={announcement} />
      <ErrorBar error={error} />
      {!webhooks ? (
        <Spinner label="Loading webhooks…" />
      ) : webhooks.length === 0 ? (
        <InfoBar>No webhooks yet. Add one to hear about runs where you work.</InfoBar>
      ) : (
        <Table aria-label="Webhooks" className={styles.table}>
          <TableHeader>
            <TableRow>
              <TableHeaderCell>Endpoint</TableHeaderCell>
              <TableHeaderCell>Events</TableHeaderCell>
              <TableHeaderCell>Last delivery</TableHeaderCell>
              <TableHeaderCell>Added</TableHeaderCell>
              <TableHeaderCell>Actions</TableHeaderCell>
            </TableRow>
          </TableHeader>
          <TableBody>
            {webhooks.map((w) => (
              <TableRow key={w.id}>
                <TableCell>{w.url}</TableCell>
                <TableCell>{w.events.join(', ')}</TableCell>
                <TableCell>{deliveryText(w)}</TableCell>
                <TableCell>
                  {formatDate(w.createdAt)} by {w.createdBy}
                </TableCell>
                <TableCell>
                  <div className={styles.toolbar}>
                    <Button size="small" onClick={() => void test(w)} aria-label={`Send a test event: ${w.url}`}>
                      Send a test event
                    </Button>
                    <Button size="small" onClick={() => setDeleting(w)} aria-label={`Delete: ${w.url}`}>
                      Delete
                    </Button>
                  </div>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      {adding ? (
        <AddWebhookDialog
          onClose={(made) => {
            setAdding(false);
            if (made) {
              setCreated(made);
              void load();
            }
          }}
        />
      ) : null}
      {created ? (
        <Dialog open modalType="alert">
          <DialogSurface aria-label="Signing secret">
            <DialogBody>
              <DialogTitle>Copy the signing secret now</DialogTitle>
              <DialogContent className={styles.form}>
                <Text as="p">
                  Every delivery to {created.url} carries a <code>Segment-Export-Signature</code> header:{' '}
                  <code>t=&lt;unix seconds&gt;,v1=&lt;hex HMAC-SHA256 of &quot;t.body&quot;&gt;</code>, made with this
                  secret. Check it, and refuse a delivery signed more than 5 minutes ago. The secret is kept in Key
                  Vault and is not shown again.
                </Text>
                <Field label="Signing secret">
                  <Input readOnly value={created.secret} className={styles.mono} />
                </Field>
              </DialogContent>
              <DialogActions>
                <Button appearance="primary" onClick={() => setCreated(undefined)}>
                  I have copied it
                </Button>
              </DialogActions>
            </DialogBody>
          </DialogSurface>
        </Dialog>
      ) : null}
      {deleting ? (
        <Dialog open modalType="alert" onOpenChange={(_, d) => !d.open && setDeleting(undefined)}>
          <DialogSurface aria-label="Delete webhook">
            <DialogBody>
              <DialogTitle>Delete the webhook?</DialogTitle>
              <DialogContent>
                {deleting.url} stops receiving run events at once, and its secret is deleted. Deliveries still waiting
                to be tried again are dropped.
              </DialogContent>
              <DialogActions>
                <Button onClick={() => setDeleting(undefined)}>Keep it</Button>
                <Button
                  appearance="primary"
                  onClick={() =>
                    void api.deleteWebhook(deleting.id).then(
                      () => {
                        setDeleting(undefined);
                        setAnnouncement(`Webhook ${deleting.url} deleted`);
                        void load();
                      },
                      (e: unknown) => {
                        setDeleting(undefined);
                        setError(e);
                      },
                    )
                  }
                >
                  Delete
                </Button>
              </DialogActions>
            </DialogBody>
          </DialogSurface>
        </Dialog>
      ) : null}
    </section>
  );
}

function AddWebhookDialog({ onClose }: { onClose: (created?: Webhook & { secret: string }) => void }) {
  const styles = useCommonStyles();
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<WebhookEventType[]>(EVENTS.map((e) => e.type));
  const [error, setError] = useState<unknown>();
  const [saving, setSaving] = useState(false);
  const save = async () => {
    setSaving(true);
    setError(undefined);
    try {
      onClose(await api.createWebhook({ url, events }));
    } catch (e) {
      setError(e);
      setSaving(false);
    }
  };
  return (
    <Dialog open modalType="modal" onOpenChange={(_, d) => !d.open && onClose()}>
      <DialogSurface aria-label="Add webhook">
        <DialogBody>
          <DialogTitle>Add webhook</DialogTitle>
          <DialogContent className={styles.form}>
            <ErrorBar error={generalError(error, ['url', 'events'])} />
            <Field
              label="Endpoint URL"
              required
              hint="An https address on the internet, such as a Teams or Slack workflow's webhook URL"
              validationMessage={fieldMessage(error, 'url')}
            >
              <Input type="url" value={url} onChange={(_, d) => setUrl(d.value)} />
            </Field>
            <Field label="Send these events" validationMessage={fieldMessage(error, 'events')}>
              {EVENTS.map((e) => (
                <Checkbox
                  key={e.type}
                  label={e.label}
                  checked={events.includes(e.type)}
                  onChange={(_, d) =>
                    setEvents((now) => (d.checked ? [...now, e.type] : now.filter((t) => t !== e.type)))
                  }
                />
              ))}
            </Field>
          </DialogContent>
          <DialogActions>
            <Button onClick={() => onClose()}>Cancel</Button>
            <Button
              appearance="primary"
              disabled={saving || !url.trim() || events.length === 0}
              onClick={() => void save()}
            >
              {saving ? 'Checking…' : 'Add webhook'}
            </Button>
          </DialogActions>
        </DialogBody>
      </DialogSurface>
    </Dialog>
  );
}
