import {
  Button,
  Checkbox,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  Dropdown,
  Field,
  Input,
  Option,
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
import { api, type Connection, type Me } from '../api';
import { ErrorBar, fieldMessage, formatDate, generalError, InfoBar, useCommonStyles } from '../components/common';

const ACCESS = { admins: 'Administrators only', everyone: 'Administrators and contributors' } as const;
const PRIVACY =
  'Data privacy and compliance: exports send the personal data of the profiles in your segments (email addresses, names, ' +
  'phone numbers and the attributes you map) to ActiveCampaign, a third party. You are responsible for having a lawful ' +
  "basis for it and for honouring your customers' choices.";

/** Connections: the list, and (admins) add, replace the key, rename, change who can use, delete. */
export function ConnectionsPage({ me }: { me: Me }) {
  const styles = useCommonStyles();
  const [connections, setConnections] = useState<Connection[]>();
  const [error, setError] = useState<unknown>();
  const [dialog, setDialog] = useState<{
    kind: 'add' | 'key' | 'rename' | 'access' | 'delete';
    connection?: Connection;
  }>();
  const isAdmin = me.role === 'admin';

  const load = useCallback(async () => {
    try {
      setConnections(await api.connections());
    } catch (e) {
      setError(e);
    }
  }, []);
  useEffect(() => void load(), [load]);

  const closed = (changed: boolean) => {
    setDialog(undefined);
    if (changed) void load();
  };

  return (
    <section aria-labelledby="connections-title">
      <h1 id="connections-title">Connections</h1>
      <Text as="p" className={styles.muted}>
        A connection is an ActiveCampaign account: its API hostname and key. Exports send through one.{' '}
        {isAdmin ? '' : 'You see the connections administrators share with contributors.'}
      </Text>
      {isAdmin ? (
        <div className={styles.toolbar}>
          <Button appearance="primary" onClick={() => setDialog({ kind: 'add' })}>
            Add connection
          </Button>
        </div>
      ) : null}
      <ErrorBar error={error} />
      {!connections ? (
        <Spinner label="Loading connections…" />
      ) : connections.length === 0 ? (
        <InfoBar>No connections yet.{isAdmin ? ' Add one to start.' : ' An administrator adds them.'}</InfoBar>
      ) : (
        <Table aria-label="Connections" className={styles.table}>
          <TableHeader>
            <TableRow>
              <TableHeaderCell>Display name</TableHeaderCell>
              <TableHeaderCell>REST endpoint hostname</TableHeaderCell>
              <TableHeaderCell>Who can use this connection</TableHeaderCell>
              <TableHeaderCell>Created</TableHeaderCell>
              {isAdmin ? <TableHeaderCell>Actions</TableHeaderCell> : null}
            </TableRow>
          </TableHeader>
          <TableBody>
            {connections.map((c) => (
              <TableRow key={c.id}>
                <TableCell>{c.displayName}</TableCell>
                <TableCell>{c.hostname}</TableCell>
                <TableCell>{c.allowContributors ? ACCESS.everyone : ACCESS.admins}</TableCell>
                <TableCell>
                  {formatDate(c.createdAt)} by {c.createdBy}
                </TableCell>
                {isAdmin ? (
                  <TableCell>
                    <div className={styles.toolbar}>
                      <Button
                        size="small"
                        onClick={() => setDialog({ kind: 'key', connection: c })}
                        aria-label={`Replace key: ${c.displayName}`}
                      >
                        Replace key
                      </Button>
                      <Button
                        size="small"
                        onClick={() => setDialog({ kind: 'rename', connection: c })}
                        aria-label={`Rename: ${c.displayName}`}
                      >
                        Rename
                      </Button>
                      <Button
                        size="small"
                        onClick={() => setDialog({ kind: 'access', connection: c })}
                        aria-label={`Change who can use it: ${c.displayName}`}
                      >
                        Change who can use it
                      </Button>
                      <Button
                        size="small"
                        onClick={() => setDialog({ kind: 'delete', connection: c })}
                        aria-label={`Delete: ${c.displayName}`}
                      >
                        Delete
                      </Button>
                    </div>
                  </TableCell>
                ) : null}
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      {dialog?.kind === 'add' ? <AddConnectionDialog onClose={closed} /> : null}
      {dialog && dialog.kind !== 'add' && dialog.connection ? (
        <EditConnectionDialog kind={dialog.kind} connection={dialog.connection} onClose={closed} />
      ) : null}
    </section>
  );
}

function AddConnectionDialog({ onClose }: { onClose: (changed: boolean) => void }) {
  const styles = useCommonStyles();
  const [form, setForm] = useState({
    displayName: '',
    access: 'admins' as keyof typeof ACCESS,
    apiKey: '',
    hostname: '',
    agreed: false,
  });
  const [busy, setBusy] = useState<'connect' | 'save'>();
  const [error, setError] = useState<unknown>();
  const [connected, setConnected] = useState<string>();
  const set = (patch: Partial<typeof form>) => {
    setForm({ ...form, ...patch });
    if ('apiKey' in patch || 'hostname' in patch) setConnected(undefined);
  };

  const connect = async () => {
    setBusy('connect');
    setError(undefined);
    try {
      const checked = await api.checkConnection({ hostname: form.hostname, apiKey: form.apiKey });
      setConnected(
        `Connected: ActiveCampaign accepted the key for ${checked.hostname}${checked.user.username ? ` (user ${checked.user.username})` : ''}.`,
      );
    } catch (e) {
      setError(e);
    } finally {
      setBusy(undefined);
    }
  };
  const save = async () => {
    setBusy('save');
    setError(undefined);
    try {
      await api.createConnection({
        displayName: form.displayName,
        hostname: form.hostname,
        apiKey: form.apiKey,
        allowContributors: form.access === 'everyone',
        dataPrivacyConsent: form.agreed,
      });
      onClose(true);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(undefined);
    }
  };
  const fields = ['displayName', 'hostname', 'apiKey', 'dataPrivacyConsent'];

  return (
    <Dialog open modalType="modal" onOpenChange={(_, d) => !d.open && onClose(false)}>
      <DialogSurface aria-label="Add connection">
        <DialogBody>
          <DialogTitle>Add connection</DialogTitle>
          <DialogContent className={styles.form}>
            <ErrorBar error={generalError(error, fields)} />
            <Field label="Display name" required validationMessage={fieldMessage(error, 'displayName')}>
              <Input value={form.displayName} onChange={(_, d) => set({ displayName: d.value })} />
            </Field>
            <Field label="Who can use this connection">
              <Dropdown
                value={ACCESS[form.access]}
                selectedOptions={[form.access]}
                onOptionSelect={(_, d) => set({ access: d.optionValue as keyof typeof ACCESS })}
              >
                <Option value="admins">{ACCESS.admins}</Option>
                <Option value="everyone">{ACCESS.everyone}</Option>
              </Dropdown>
            </Field>
            <Field
              label="API key"
              required
              validationMessage={fieldMessage(error, 'apiKey')}
              hint="ActiveCampaign: Settings → Developer → Key. Stored in Key Vault; never shown again."
            >
              <Input
                type="password"
                autoComplete="off"
                value={form.apiKey}
                onChange={(_, d) => set({ apiKey: d.value })}
              />
            </Field>
            <Field
              label="REST endpoint hostname"
              required
              validationMessage={fieldMessage(error, 'hostname')}
              hint="The hostname only, without https://, from ActiveCampaign's Settings → Developer (for example acme.api-us1.com)."
            >
              <Input value={form.hostname} onChange={(_, d) => set({ hostname: d.value })} />
            </Field>
            <Text as="p" className={styles.muted}>
              {PRIVACY}
            </Text>
            <Field validationMessage={fieldMessage(error, 'dataPrivacyConsent')}>
              <Checkbox
                label="I agree"
                checked={form.agreed}
                onChange={(_, d) => set({ agreed: Boolean(d.checked) })}
              />
            </Field>
            {connected ? <InfoBar intent="success">{connected}</InfoBar> : null}
          </DialogContent>
          <DialogActions>
            <Button onClick={() => void connect()} disabled={!form.hostname || !form.apiKey || busy !== undefined}>
              {busy === 'connect' ? <Spinner size="tiny" label="Connecting…" /> : 'Connect'}
            </Button>
            <Button
              appearance="primary"
              onClick={() => void save()}
              disabled={!form.agreed || !form.displayName || !form.hostname || !form.apiKey || busy !== undefined}
            >
              {busy === 'save' ? <Spinner size="tiny" label="Saving…" /> : 'Save'}
            </Button>
            <Button onClick={() => onClose(false)}>Cancel</Button>
          </DialogActions>
        </DialogBody>
      </DialogSurface>
    </Dialog>
  );
}

function EditConnectionDialog({
  kind,
  connection,
  onClose,
}: {
  kind: 'key' | 'rename' | 'access' | 'delete';
  connection: Connection;
  onClose: (changed: boolean) => void;
}) {
  const styles = useCommonStyles();
  const [apiKey, setApiKey] = useState('');
  const [displayName, setDisplayName] = useState(connection.displayName);
  const [access, setAccess] = useState<keyof typeof ACCESS>(connection.allowContributors ? 'everyone' : 'admins');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const titles = {
    key: 'Replace key',
    rename: 'Rename',
    access: 'Change who can use this connection',
    delete: 'Delete connection',
  };

  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      if (kind === 'delete') await api.deleteConnection(connection.id);
      else
        await api.updateConnection(
          connection.id,
          kind === 'key'
            ? { apiKey }
            : kind === 'rename'
              ? { displayName }
              : { allowContributors: access === 'everyone' },
        );
      onClose(true);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog open modalType="modal" onOpenChange={(_, d) => !d.open && onClose(false)}>
      <DialogSurface aria-label={`${titles[kind]}: ${connection.displayName}`}>
        <DialogBody>
          <DialogTitle>
            {titles[kind]}: {connection.displayName}
          </DialogTitle>
          <DialogContent className={styles.form}>
            <ErrorBar error={generalError(error, ['apiKey', 'displayName'])} />
            {kind === 'key' ? (
              <Field
                label="API key"
                required
                validationMessage={fieldMessage(error, 'apiKey')}
                hint="Checked with ActiveCampaign before it replaces the old one."
              >
                <Input type="password" autoComplete="off" value={apiKey} onChange={(_, d) => setApiKey(d.value)} />
              </Field>
            ) : null}
            {kind === 'rename' ? (
              <Field label="Display name" required validationMessage={fieldMessage(error, 'displayName')}>
                <Input value={displayName} onChange={(_, d) => setDisplayName(d.value)} />
              </Field>
            ) : null}
            {kind === 'access' ? (
              <Field label="Who can use this connection">
                <Dropdown
                  value={ACCESS[access]}
                  selectedOptions={[access]}
                  onOptionSelect={(_, d) => setAccess(d.optionValue as keyof typeof ACCESS)}
                >
                  <Option value="admins">{ACCESS.admins}</Option>
                  <Option value="everyone">{ACCESS.everyone}</Option>
                </Dropdown>
              </Field>
            ) : null}
            {kind === 'delete' ? (
              <Text as="p">
                The connection and its API key are deleted. A connection that exports use cannot be deleted.
              </Text>
            ) : null}
          </DialogContent>
          <DialogActions>
            <Button
              appearance="primary"
              onClick={() => void submit()}
              disabled={busy || (kind === 'key' && !apiKey) || (kind === 'rename' && !displayName)}
            >
              {busy ? <Spinner size="tiny" label="Working…" /> : kind === 'delete' ? 'Delete' : 'Save'}
            </Button>
            <Button onClick={() => onClose(false)}>Cancel</Button>
          </DialogActions>
        </DialogBody>
      </DialogSurface>
    </Dialog>
  );
}
