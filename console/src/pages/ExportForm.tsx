import {
  Button,
  Combobox,
  Dropdown,
  Field,
  Input,
  Option,
  Radio,
  RadioGroup,
  Spinner,
  Switch,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
} from '@fluentui/react-components';
import { useEffect, useMemo, useState } from 'react';
import { api, type AcField, type AcList, type Connection, type Me, type Preview } from '../api';
import { ErrorBar, exactFieldMessage, fieldMessage, formatBytes, generalError, InfoBar, useCommonStyles } from '../components/common';
import { navigate } from '../route';

const LAYOUTS = { cdm: 'Common Data Model folder (model.json)', customerInsights: 'Customer Insights time folder', files: 'File or folder of files' } as const;
const FORM_FIELDS = ['displayName', 'connectionId', 'listId', 'source', 'mapping', 'tags', 'mode', 'schedule', 'runAutomations', 'removalGuardPercent'];

interface Attribute {
  column: string;
  fieldId: string;
}

interface Draft {
  displayName: string;
  connectionId: string;
  listText: string;
  container: string;
  path: string;
  table: string;
  email: string;
  firstName: string;
  lastName: string;
  phone: string;
  tagsColumn: string;
  attributes: Attribute[];
  tags: string;
  runAutomations: boolean;
  mode: 'upsert' | 'mirror';
  removalGuardPercent: string;
  schedule: 'refresh' | 'manual';
}

const EMPTY: Draft = {
  displayName: '', connectionId: '', listText: '', container: '', path: '', table: '', email: '', firstName: '', lastName: '', phone: '', tagsColumn: '',
  attributes: [], tags: '', runAutomations: true, mode: 'upsert', removalGuardPercent: '10', schedule: 'refresh',
};

/** Add destination (or edit one): connection, list, source with preview, data matching, mode and schedule. */
export function ExportForm({ me: _me, exportId }: { me: Me; exportId?: string }) {
  const styles = useCommonStyles();
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [loaded, setLoaded] = useState(!exportId);
  const [connections, setConnections] = useState<Connection[]>();
  const [lists, setLists] = useState<AcList[]>([]);
  const [fields, setFields] = useState<AcField[]>([]);
  const [accountError, setAccountError] = useState<unknown>();
  const [preview, setPreview] = useState<Preview>();
  const [previewing, setPreviewing] = useState(false);
  const [previewError, setPreviewError] = useState<unknown>();
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<unknown>();
  const set = (patch: Partial<Draft>) => setDraft((d) => ({ ...d, ...patch }));

  useEffect(() => {
    void (async () => {
      try {
        setConnections(await api.connections());
        if (exportId) {
          const e = await api.getExport(exportId);
          setDraft({
            displayName: e.displayName, connectionId: e.connectionId, listText: String(e.listId), container: e.source.container, path: e.source.path, table: e.source.table ?? '',
            email: e.mapping.email, firstName: e.mapping.firstName ?? '', lastName: e.mapping.lastName ?? '', phone: e.mapping.phone ?? '', tagsColumn: e.mapping.tags ?? '',
            attributes: Object.entries(e.mapping.fields ?? {}).map(([fieldId, column]) => ({ fieldId, column })),
            tags: e.tags.join('; '), runAutomations: e.runAutomations, mode: e.mode, removalGuardPercent: String(e.removalGuardPercent), schedule: e.schedule,
          });
          setLoaded(true);
        }
      } catch (e) {
        setError(e);
      }
    })();
  }, [exportId]);

  // The account's lists and custom fields, for the pickers.
  useEffect(() => {
    if (!draft.connectionId) return;
    setAccountError(undefined);
    void Promise.all([api.lists(draft.connectionId), api.fields(draft.connectionId)]).then(
      ([l, f]) => {
        setLists(l);
        setFields(f);
      },
      (e) => setAccountError(e),
    );
  }, [draft.connectionId]);

  const listId = useMemo(() => {
    const byName = lists.find((l) => `${l.name} (ID ${l.id})` === draft.listText);
    return byName ? Number(byName.id) : /^\d+$/.test(draft.listText.trim()) ? Number(draft.listText.trim()) : draft.listText;
  }, [draft.listText, lists]);

  const runPreview = async () => {
    setPreviewing(true);
    setPreviewError(undefined);
    try {
      setPreview(await api.preview({ container: draft.container.trim(), path: draft.path.trim(), ...(draft.table.trim() ? { table: draft.table.trim() } : {}) }));
    } catch (e) {
      setPreview(undefined);
      setPreviewError(e);
    } finally {
      setPreviewing(false);
    }
  };

  const save = async () => {
    setSaving(true);
    setError(undefined);
    const optional = (v: string) => (v.trim() ? v.trim() : undefined);
    const body: Record<string, unknown> = {
      displayName: draft.displayName,
      listId,
      source: { container: draft.container.trim(), path: draft.path.trim(), ...(optional(draft.table) ? { table: optional(draft.table) } : {}) },
      mapping: {
        email: draft.email.trim(),
        ...(optional(draft.firstName) ? { firstName: optional(draft.firstName) } : {}),
        ...(optional(draft.lastName) ? { lastName: optional(draft.lastName) } : {}),
        ...(optional(draft.phone) ? { phone: optional(draft.phone) } : {}),
        ...(optional(draft.tagsColumn) ? { tags: optional(draft.tagsColumn) } : {}),
        ...(draft.attributes.length ? { fields: Object.fromEntries(draft.attributes.filter((a) => a.fieldId && a.column).map((a) => [a.fieldId, a.column.trim()])) } : {}),
      },
      tags: draft.tags.split(';').map((t) => t.trim()).filter(Boolean),
      runAutomations: draft.runAutomations,
      mode: draft.mode,
      removalGuardPercent: Number(draft.removalGuardPercent),
      schedule: draft.schedule,
    };
    try {
      const saved = exportId ? await api.updateExport(exportId, body) : await api.createExport({ ...body, connectionId: draft.connectionId });
      navigate(`exports/${saved.id}?saved=1`);
    } catch (e) {
      setError(e);
    } finally {
      setSaving(false);
    }
  };

  if (!connections || !loaded) return error ? <ErrorBar error={error} /> : <Spinner label="Loading…" />;
  const columns = preview?.columns ?? [];
  const columnPicker = (label: string, key: 'email' | 'firstName' | 'lastName' | 'phone' | 'tagsColumn', required = false, hint?: string) => (
    <Field label={label} required={required} hint={hint} validationMessage={fieldMessage(error, `mapping.${key === 'tagsColumn' ? 'tags' : key}`)}>
      <Combobox freeform value={draft[key]} selectedOptions={[draft[key]]} onChange={(e) => set({ [key]: (e.target as HTMLInputElement).value })} onOptionSelect={(_, d) => d.optionValue !== undefined && set({ [key]: d.optionValue })}>
        {columns.map((c) => (
          <Option key={c}>{c}</Option>
        ))}
      </Combobox>
    </Field>
  );

  return (
    <section aria-labelledby="form-title">
      <h1 id="form-title">{exportId ? `Edit ${draft.displayName}` : 'Add destination'}</h1>
      <div className={styles.form}>
        <ErrorBar error={generalError(error, FORM_FIELDS)} title="The export was not saved" />
        <ErrorBar error={exactFieldMessage(error, 'mapping') ? error : undefined} title="Data matching" />
        <Field label="Display name" required validationMessage={fieldMessage(error, 'displayName')}>
          <Input value={draft.displayName} onChange={(_, d) => set({ displayName: d.value })} />
        </Field>
        {exportId ? (
          <Text>Connection: {connections.find((c) => c.id === draft.connectionId)?.displayName ?? draft.connectionId}</Text>
        ) : connections.length === 0 ? (
          <InfoBar intent="warning">
            There is no connection you may use. An administrator adds connections (Connections → Add connection) and can allow contributors to use one.
          </InfoBar>
        ) : (
          <Field label="Connection for export" required validationMessage={fieldMessage(error, 'connectionId')}>
            <Dropdown
              placeholder="Choose a connection"
              value={connections.find((c) => c.id === draft.connectionId)?.displayName ?? ''}
              selectedOptions={draft.connectionId ? [draft.connectionId] : []}
              onOptionSelect={(_, d) => set({ connectionId: d.optionValue ?? '', listText: '' })}
            >
              {connections.map((c) => (
                <Option key={c.id} value={c.id}>
                  {c.displayName}
                </Option>
              ))}
            </Dropdown>
          </Field>
        )}
        <ErrorBar error={accountError} title="ActiveCampaign's lists and fields could not be read" />
        <Field
          label="ActiveCampaign list"
          required
          hint={exportId ? 'Pick a list, or type its ID. Another list starts the export afresh: its next run sends every contact there, and the old list is left as it is.' : 'Pick a list, or type its ID.'}
          validationMessage={fieldMessage(error, 'listId')}>
          <Combobox freeform placeholder="Choose or type a list ID" value={draft.listText} onChange={(e) => set({ listText: (e.target as HTMLInputElement).value })} onOptionSelect={(_, d) => d.optionText !== undefined && set({ listText: d.optionText })}>
            {lists.map((l) => (
              <Option key={l.id} value={l.id} text={`${l.name} (ID ${l.id})`}>
                {`${l.name} (ID ${l.id})`}
              </Option>
            ))}
          </Combobox>
        </Field>

        <h2 className={styles.section}>Segment source</h2>
        <Text className={styles.muted}>Where Customer Insights (or another tool) writes the segment, in the segments storage account.</Text>
        <div className={styles.row}>
          <Field label="Container" required className={styles.grow} validationMessage={fieldMessage(error, 'source.container')}>
            <Input value={draft.container} onChange={(_, d) => set({ container: d.value })} />
          </Field>
          <Field label="Path" className={styles.grow} validationMessage={fieldMessage(error, 'source.path') ?? exactFieldMessage(error, 'source')}>
            <Input value={draft.path} onChange={(_, d) => set({ path: d.value })} />
          </Field>
          <Field label="Table" hint="Optional: the entity of a model.json" className={styles.grow} validationMessage={fieldMessage(error, 'source.table')}>
            <Input value={draft.table} onChange={(_, d) => set({ table: d.value })} />
          </Field>
        </div>
        <div className={styles.toolbar}>
          <Button onClick={runPreview} disabled={!draft.container || previewing}>
            {previewing ? <Spinner size="tiny" label="Reading the source…" /> : 'Preview'}
          </Button>
        </div>
        <ErrorBar error={previewError} title="Preview" />
        {preview ? <PreviewPanel preview={preview} /> : null}

        <h2 className={styles.section}>Data matching</h2>
        <Text className={styles.muted}>Which column fills which ActiveCampaign field. {columns.length ? 'The pickers offer the columns of the preview.' : 'Preview the source to pick columns from a list.'}</Text>
        {columnPicker('Email', 'email', true)}
        {columnPicker('First name', 'firstName')}
        {columnPicker('Last name', 'lastName')}
        {columnPicker('Phone', 'phone')}
        {columnPicker('Tags column', 'tagsColumn', false, 'Optional: a column whose value holds tags (a JSON array, or tags separated by ";")')}
        <Field label="Custom fields" validationMessage={fieldMessage(error, 'mapping.fields')}>
          <div>
            {draft.attributes.map((a, i) => (
              <div className={styles.row} key={i}>
                <Field label={`Column ${i + 1}`} className={styles.grow}>
                  <Combobox
                    freeform
                    value={a.column}
                    selectedOptions={[a.column]}
                    onChange={(e) => set({ attributes: draft.attributes.map((x, j) => (j === i ? { ...x, column: (e.target as HTMLInputElement).value } : x)) })}
                    onOptionSelect={(_, d) => d.optionValue !== undefined && set({ attributes: draft.attributes.map((x, j) => (j === i ? { ...x, column: d.optionValue! } : x)) })}
                  >
                    {columns.map((c) => (
                      <Option key={c}>{c}</Option>
                    ))}
                  </Combobox>
                </Field>
                <Field label={`ActiveCampaign field ${i + 1}`} className={styles.grow}>
                  <Dropdown
                    placeholder="Choose a custom field"
                    value={fields.find((f) => f.id === a.fieldId) ? `${fields.find((f) => f.id === a.fieldId)!.title} (ID ${a.fieldId})` : a.fieldId}
                    selectedOptions={a.fieldId ? [a.fieldId] : []}
                    onOptionSelect={(_, d) => set({ attributes: draft.attributes.map((x, j) => (j === i ? { ...x, fieldId: d.optionValue ?? '' } : x)) })}
                  >
                    {fields.map((f) => (
                      <Option key={f.id} value={f.id} text={`${f.title} (ID ${f.id})`}>
                        {`${f.title} (ID ${f.id}, ${f.type})`}
                      </Option>
                    ))}
                  </Dropdown>
                </Field>
                <Button onClick={() => set({ attributes: draft.attributes.filter((_, j) => j !== i) })} aria-label={`Remove attribute ${i + 1}`}>
                  Remove
                </Button>
              </div>
            ))}
            <Button onClick={() => set({ attributes: [...draft.attributes, { column: '', fieldId: '' }] })}>Add attribute</Button>
          </div>
        </Field>
        <Field label="Tags for every contact" hint='Separated by ";". ActiveCampaign adds tags and never removes them.' validationMessage={fieldMessage(error, 'tags')}>
          <Input value={draft.tags} onChange={(_, d) => set({ tags: d.value })} />
        </Field>
        <Switch label="Run ActiveCampaign automations for imported contacts" checked={draft.runAutomations} onChange={(_, d) => set({ runAutomations: d.checked })} />

        <h2 className={styles.section}>Sync</h2>
        <Field label="Mode">
          <RadioGroup value={draft.mode} onChange={(_, d) => set({ mode: d.value as Draft['mode'] })}>
            <Radio value="upsert" label="Upsert: add and update contacts; contacts who leave the segment stay on the list" />
            <Radio value="mirror" label="Mirror: also unsubscribe contacts who leave the segment" />
          </RadioGroup>
        </Field>
        {draft.mode === 'mirror' ? (
          <>
            <InfoBar intent="warning">
              Mirror mode unsubscribes from the list the contacts who leave the segment, and ActiveCampaign's importer cannot re-subscribe them (the app re-subscribes a
              contact it unsubscribed when it comes back). A run that would unsubscribe more than the removal guard allows stops before sending anything.
            </InfoBar>
            <Field label="Removal guard (%)" hint="The most a run may unsubscribe, as a share of the contacts the export last sent, without confirmation." validationMessage={fieldMessage(error, 'removalGuardPercent')}>
              <Input type="number" min={0} max={100} value={draft.removalGuardPercent} onChange={(_, d) => set({ removalGuardPercent: d.value })} />
            </Field>
          </>
        ) : null}
        <Field label="Schedule">
          <RadioGroup value={draft.schedule} onChange={(_, d) => set({ schedule: d.value as Draft['schedule'] })}>
            <Radio value="refresh" label="Every scheduled refresh (when a new complete snapshot lands)" />
            <Radio value="manual" label="On demand only" />
          </RadioGroup>
        </Field>
        <Text className={styles.muted}>Saving does not run the export.</Text>
        <div className={styles.toolbar}>
          <Button appearance="primary" onClick={save} disabled={saving}>
            {saving ? <Spinner size="tiny" label="Checking with ActiveCampaign and saving…" /> : 'Save'}
          </Button>
          <Button onClick={() => navigate(exportId ? `exports/${exportId}` : 'exports')}>Cancel</Button>
        </div>
      </div>
    </section>
  );
}

function PreviewPanel({ preview }: { preview: Preview }) {
  const styles = useCommonStyles();
  return (
    <section aria-label="Preview of the source">
      {preview.problem ? <InfoBar intent="warning">{preview.problem}</InfoBar> : null}
      {preview.layout ? <Text as="p">Recognised: {LAYOUTS[preview.layout]}.</Text> : null}
      {preview.files.length ? (
        <Table aria-label="Files of the newest snapshot" size="small" className={styles.table}>
          <TableHeader>
            <TableRow>
              <TableHeaderCell>File of the newest snapshot</TableHeaderCell>
              <TableHeaderCell>Size</TableHeaderCell>
            </TableRow>
          </TableHeader>
          <TableBody>
            {preview.files.map((f) => (
              <TableRow key={f.name}>
                <TableCell>{f.name}</TableCell>
                <TableCell>{formatBytes(f.size)}</TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      ) : null}
      {preview.columns.length ? (
        <div className={styles.scroll}>
        <Table aria-label="First rows" size="extra-small" className={styles.table}>
          <TableHeader>
            <TableRow>
              {preview.columns.map((c) => (
                <TableHeaderCell key={c}>{c}</TableHeaderCell>
              ))}
            </TableRow>
          </TableHeader>
          <TableBody>
            {preview.rows.map((r, i) => (
              <TableRow key={i}>
                {preview.columns.map((c) => (
                  <TableCell key={c}>{r[c]}</TableCell>
                ))}
              </TableRow>
            ))}
          </TableBody>
        </Table>
        </div>
      ) : null}
    </section>
  );
}
