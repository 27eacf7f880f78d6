import { Field, Input, Radio, RadioGroup } from '@fluentui/react-components';
import { InfoBar, useCommonStyles } from '../../components/common';
import { inputId, type Draft } from './draft';
import type { ExportFormState } from './useExportForm';

/** Upsert, mirror (with its removal guard) or update only, and when the export runs. */
export function SyncSection({ form, isAdmin }: { form: ExportFormState; isAdmin: boolean }) {
  const styles = useCommonStyles();
  const { draft, set, errors } = form;
  return (
    <>
      <h2 className={styles.section}>Sync</h2>
      <Field label="Mode">
        <RadioGroup value={draft.mode} onChange={(_, d) => set({ mode: d.value as Draft['mode'] })}>
          <Radio
            value="upsert"
            label="Upsert: add and update contacts; contacts who leave the segment stay on the list"
          />
          <Radio value="mirror" label="Mirror: also unsubscribe contacts who leave the segment" />
          <Radio value="updateOnly" label="Update only: update contacts ActiveCampaign already has; never create one" />
        </RadioGroup>
      </Field>
      {draft.mode === 'updateOnly' ? (
        <InfoBar intent="info">
          Each contact is looked up in ActiveCampaign before it is sent, one request each (about three a second beside
          the imports), so a first run of many contacts takes hours. Contacts ActiveCampaign does not have are counted
          as "not in ActiveCampaign", listed in the run's changed contacts and looked up again by the next run.
        </InfoBar>
      ) : null}
      {draft.mode === 'mirror' ? (
        <>
          <InfoBar intent="warning">
            Mirror mode unsubscribes from the list the contacts who leave the segment, and ActiveCampaign's importer
            cannot re-subscribe them (the app re-subscribes a contact it unsubscribed when it comes back). A run that
            would unsubscribe more than the removal guard allows stops before sending anything, until an administrator
            confirms its removals.
          </InfoBar>
          <Field
            label="Removal guard (%)"
            hint={`The most a run may unsubscribe, as a share of the contacts the export last sent, without confirmation.${isAdmin ? '' : ' Only administrators may set more than 10.'}`}
            validationMessage={errors.removalGuardPercent}
          >
            <Input
              id={inputId('removalGuardPercent')}
              type="number"
              min={0}
              max={100}
              value={draft.removalGuardPercent}
              onChange={(_, d) => set({ removalGuardPercent: d.value })}
            />
          </Field>
        </>
      ) : null}
      <Field label="Schedule">
        <RadioGroup value={draft.schedule} onChange={(_, d) => set({ schedule: d.value as Draft['schedule'] })}>
          <Radio
            value="refresh"
            label="When a new snapshot lands (within seconds; a scheduled check finds any the app missed)"
          />
          <Radio value="manual" label="On demand only" />
        </RadioGroup>
      </Field>
    </>
  );
}
