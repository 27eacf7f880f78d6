import {
  Button,
  Combobox,
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
  Textarea,
} from '@fluentui/react-components';
import { useState } from 'react';
import { api, type AcList } from '../../api';
import { ErrorBar, fieldMessage, generalError, InfoBar, useCommonStyles } from '../../components/common';
import { inputId, listOptionText } from './draft';
import type { ExportFormState } from './useExportForm';

/** Name, connection and ActiveCampaign list. */
export function DestinationSection({ form, editing }: { form: ExportFormState; editing: boolean }) {
  const { draft, set, errors, connections, lists } = form;
  const connection = connections.find((c) => c.id === draft.connectionId);
  const [creating, setCreating] = useState(false);
  return (
    <>
      <Field label="Display name" required validationMessage={errors.displayName}>
        <Input
          id={inputId('displayName')}
          value={draft.displayName}
          onChange={(_, d) => set({ displayName: d.value })}
        />
      </Field>
      {connections.length === 0 ? (
        <InfoBar intent="warning">
          There is no connection you may use. An administrator adds connections (Connections → Add connection) and can
          allow contributors to use one.
        </InfoBar>
      ) : (
        <Field
          label="Connection for export"
          required
          hint={
            editing
              ? 'Another connection to the same ActiveCampaign account keeps what was sent; another account starts the export afresh.'
              : undefined
          }
          validationMessage={errors.connectionId}
        >
          <Dropdown
            id={inputId('connectionId')}
            placeholder="Choose a connection"
            value={connection?.displayName ?? ''}
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
      <ErrorBar error={form.accountError} title="ActiveCampaign's lists and fields could not be read" />
      <Field
        label="ActiveCampaign list"
        required
        hint={
          editing
            ? 'Pick a list, or type its ID. Another list starts the export afresh: its next run sends every contact there, and the old list is left as it is.'
            : 'Pick a list, or type its ID.'
        }
        validationMessage={errors.listId}
      >
        <Combobox
          id={inputId('listId')}
          freeform
          placeholder="Choose or type a list ID"
          value={draft.listText}
          onChange={(e) => set({ listText: e.target.value })}
          onOptionSelect={(_, d) => d.optionText !== undefined && set({ listText: d.optionText })}
        >
          {lists.map((l) => (
            <Option key={l.id} value={l.id} text={listOptionText(l)}>
              {listOptionText(l)}
            </Option>
          ))}
        </Combobox>
      </Field>
      {connection ? (
        <div>
          <Button size="small" onClick={() => setCreating(true)}>
            Create a list in ActiveCampaign
          </Button>
        </div>
      ) : null}
      {creating && connection ? (
        <CreateListDialog
          connectionId={connection.id}
          onClose={(list) => {
            setCreating(false);
            if (list) form.addList(list);
          }}
        />
      ) : null}
    </>
  );
}

/** A new list in the connection's account: ActiveCampaign asks for the website and why its contacts are on it. */
function CreateListDialog({ connectionId, onClose }: { connectionId: string; onClose: (list?: AcList) => void }) {
  const styles = useCommonStyles();
  const [list, setList] = useState({ name: '', senderUrl: '', senderReminder: '' });
  const [error, setError] = useState<unknown>();
  const [saving, setSaving] = useState(false);
  const save = async () => {
    setSaving(true);
    setError(undefined);
    try {
      onClose(await api.createList(connectionId, list));
    } catch (e) {
      setError(e);
      setSaving(false);
    }
  };
  return (
    <Dialog open modalType="modal" onOpenChange={(_, d) => !d.open && onClose()}>
      <DialogSurface aria-label="Create a list">
        <DialogBody>
          <DialogTitle>Create a list in ActiveCampaign</DialogTitle>
          <DialogContent className={styles.form}>
            <ErrorBar error={generalError(error, ['name', 'senderUrl', 'senderReminder'])} />
            <Field label="List name" required validationMessage={fieldMessage(error, 'name')}>
              <Input value={list.name} onChange={(_, d) => setList({ ...list, name: d.value })} />
            </Field>
            <Field
              label="Website the list is for"
              required
              hint="ActiveCampaign shows it at the foot of every email, such as https://shop.example.com"
              validationMessage={fieldMessage(error, 'senderUrl')}
            >
              <Input type="url" value={list.senderUrl} onChange={(_, d) => setList({ ...list, senderUrl: d.value })} />
            </Field>
            <Field
              label="Why contacts are on this list"
              required
              hint="A reminder ActiveCampaign shows in every email, such as: You bought from our shop and agreed to hear from us."
              validationMessage={fieldMessage(error, 'senderReminder')}
            >
              <Textarea
                value={list.senderReminder}
                onChange={(_, d) => setList({ ...list, senderReminder: d.value })}
              />
            </Field>
          </DialogContent>
          <DialogActions>
            <Button onClick={() => onClose()}>Cancel</Button>
            <Button
              appearance="primary"
              disabled={saving || !list.name.trim() || !list.senderUrl.trim() || !list.senderReminder.trim()}
              onClick={() => void save()}
            >
              {saving ? 'Creating…' : 'Create list'}
            </Button>
          </DialogActions>
        </DialogBody>
      </DialogSurface>
    </Dialog>
  );
}
