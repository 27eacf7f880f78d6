import { Button, Checkbox, Combobox, Dropdown, Field, Input, Option, Switch, Text } from '@fluentui/react-components';
import { useCommonStyles } from '../../components/common';
import { clearable, FIELD_LABELS, inputId, type Draft, type FormField } from './draft';
import type { ExportFormState } from './useExportForm';

type ColumnKey = 'email' | 'firstName' | 'lastName' | 'phone' | 'tagsColumn' | 'identity';

/** Which column fills which ActiveCampaign field, custom fields, and the tags every contact gets. */
export function MatchingSection({ form }: { form: ExportFormState }) {
  const styles = useCommonStyles();
  const { draft, set, errors, fields } = form;
  const columns = form.preview.value?.columns ?? [];
  const setAttribute = (i: number, patch: Partial<Draft['attributes'][number]>) =>
    set({ attributes: draft.attributes.map((x, j) => (j === i ? { ...x, ...patch } : x)) });
  const columnPicker = (label: string, key: ColumnKey, required = false, hint?: string) => (
    <Field label={label} required={required} hint={hint} validationMessage={errors[key as FormField]}>
      <Combobox
        id={inputId(key)}
        freeform
        value={draft[key]}
        selectedOptions={[draft[key]]}
        onChange={(e) => set({ [key]: e.target.value })}
        onOptionSelect={(_, d) => d.optionValue !== undefined && set({ [key]: d.optionValue })}
      >
        {columns.map((c) => (
          <Option key={c}>{c}</Option>
        ))}
      </Combobox>
    </Field>
  );
  return (
    <>
      <h2 className={styles.section}>Data matching</h2>
      <Text className={styles.muted}>
        Which column fills which ActiveCampaign field.{' '}
        {columns.length
          ? 'The pickers offer the columns of the preview.'
          : 'Preview the source to pick columns from a list.'}
      </Text>
      {columnPicker('Email', 'email', true)}
      {columnPicker('First name', 'firstName')}
      {columnPicker('Last name', 'lastName')}
      {columnPicker('Phone', 'phone')}
      {columnPicker(
        'Tags column',
        'tagsColumn',
        false,
        'Optional: a column whose value holds tags (a JSON array of texts, or tags separated by ";")',
      )}
      {columnPicker(
        'Identity column',
        'identity',
        false,
        'Optional: a stable id of the person (such as CustomerId). When their email changes, the same ActiveCampaign contact gets the new one instead of a second contact being made.',
      )}
      <Field label="Custom fields" validationMessage={errors.fields}>
        <div id={inputId('fields')} tabIndex={-1}>
          {draft.attributes.map((a, i) => (
            <div className={styles.row} key={i}>
              <Field label={`Column ${i + 1}`} className={styles.grow}>
                <Combobox
                  freeform
                  value={a.column}
                  selectedOptions={[a.column]}
                  onChange={(e) => setAttribute(i, { column: e.target.value })}
                  onOptionSelect={(_, d) => d.optionValue !== undefined && setAttribute(i, { column: d.optionValue })}
                >
                  {columns.map((c) => (
                    <Option key={c}>{c}</Option>
                  ))}
                </Combobox>
              </Field>
              <Field label={`ActiveCampaign field ${i + 1}`} className={styles.grow}>
                <Dropdown
                  placeholder="Choose a custom field"
                  value={
                    fields.find((f) => f.id === a.fieldId)
                      ? `${fields.find((f) => f.id === a.fieldId)!.title} (ID ${a.fieldId})`
                      : a.fieldId
                  }
                  selectedOptions={a.fieldId ? [a.fieldId] : []}
                  onOptionSelect={(_, d) => setAttribute(i, { fieldId: d.optionValue ?? '' })}
                >
                  {fields.map((f) => (
                    <Option key={f.id} value={f.id} text={`${f.title} (ID ${f.id})`}>
                      {`${f.title} (ID ${f.id}, ${f.type})`}
                    </Option>
                  ))}
                </Dropdown>
              </Field>
              <Button
                onClick={() => set({ attributes: draft.attributes.filter((_, j) => j !== i) })}
                aria-label={`Remove attribute ${i + 1}`}
              >
                Remove
              </Button>
            </div>
          ))}
          <Button onClick={() => set({ attributes: [...draft.attributes, { column: '', fieldId: '' }] })}>
            Add attribute
          </Button>
        </div>
      </Field>
      {clearable(draft).length > 0 ? (
        // A group, not a Field: a Field gives its one control its id, and these are several.
        <div role="group" aria-labelledby="empty-values-label" aria-describedby="empty-values-hint">
          <Text id="empty-values-label" weight="semibold" block>
            Empty source values
          </Text>
          <Text id="empty-values-hint" className={styles.muted} block>
            Unchecked: ActiveCampaign keeps its value when the source&apos;s is empty. Checked: a value the source
            emptied since the last run is emptied in ActiveCampaign too (one request per contact).
          </Text>
          {clearable(draft).map((f) => (
            <Checkbox
              key={f}
              label={`Clear ${FIELD_LABELS[f as 'firstName'] ?? fields.find((x) => x.id === f)?.title ?? `field ${f}`} when empty`}
              checked={draft.clearWhenEmpty.includes(f)}
              onChange={(_, d) =>
                set({
                  clearWhenEmpty: d.checked
                    ? [...draft.clearWhenEmpty, f]
                    : draft.clearWhenEmpty.filter((x) => x !== f),
                })
              }
            />
          ))}
        </div>
      ) : null}
      <Field
        label="Tags for every contact"
        hint='Separated by ";" (a tag cannot contain one). ActiveCampaign adds tags; the app removes them only when asked below.'
        validationMessage={errors.tags}
      >
        <Input id={inputId('tags')} value={draft.tags} onChange={(_, d) => set({ tags: d.value })} />
      </Field>
      <Switch
        label="Remove these tags from contacts who leave the segment"
        checked={draft.removeTagsWhenLeaving}
        onChange={(_, d) => set({ removeTagsWhenLeaving: d.checked })}
      />
      <Switch
        label="Run ActiveCampaign automations for imported contacts"
        checked={draft.runAutomations}
        onChange={(_, d) => set({ runAutomations: d.checked })}
      />
    </>
  );
}
