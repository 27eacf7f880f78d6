import { Button, Spinner, Text } from '@fluentui/react-components';
import type { Me } from '../api';
import { ErrorBar, useCommonStyles } from '../components/common';
import { navigate } from '../route';
import { DestinationSection } from './exportForm/DestinationSection';
import { MatchingSection } from './exportForm/MatchingSection';
import { SourceSection } from './exportForm/SourceSection';
import { SyncSection } from './exportForm/SyncSection';
import { useExportForm } from './exportForm/useExportForm';

/** Add destination (or edit one): connection, list, source with preview, data matching, mode and schedule. */
export function ExportForm({ me, exportId }: { me: Me; exportId?: string }) {
  const styles = useCommonStyles();
  const form = useExportForm(exportId);
  if (!form.loaded) return form.error ? <ErrorBar error={form.error} /> : <Spinner label="Loading…" />;
  const invalid = Object.keys(form.errors).length;
  return (
    <section aria-labelledby="form-title">
      <h1 id="form-title">{exportId ? `Edit ${form.draft.displayName}` : 'Add destination'}</h1>
      <div className={styles.form}>
        <DestinationSection form={form} editing={!!exportId} />
        <SourceSection form={form} />
        <MatchingSection form={form} />
        <SyncSection form={form} isAdmin={me.role === 'admin'} />
        <Text className={styles.muted}>Saving does not run the export.</Text>
        <ErrorBar error={form.error} title="The export was not saved" />
        {invalid ? (
          <ErrorBar
            error={`The export was not saved: ${invalid === 1 ? 'a field needs' : `${invalid} fields need`} attention (the first one has the focus)`}
          />
        ) : null}
        <div className={styles.toolbar}>
          <Button appearance="primary" onClick={() => void form.save()} disabled={form.saving}>
            {form.saving ? <Spinner size="tiny" label="Checking with ActiveCampaign and saving…" /> : 'Save'}
          </Button>
          <Button onClick={() => navigate(exportId ? `exports/${exportId}` : 'exports')}>Cancel</Button>
        </div>
      </div>
    </section>
  );
}
