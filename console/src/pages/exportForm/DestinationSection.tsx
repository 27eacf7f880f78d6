import { Combobox, Dropdown, Field, Input, Option } from '@fluentui/react-components';
import { ErrorBar, InfoBar } from '../../components/common';
import { inputId, listOptionText } from './draft';
import type { ExportFormState } from './useExportForm';

/** Name, connection and ActiveCampaign list. */
export function DestinationSection({ form, editing }: { form: ExportFormState; editing: boolean }) {
  const { draft, set, errors, connections, lists } = form;
  const connection = connections.find((c) => c.id === draft.connectionId);
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
    </>
  );
}
