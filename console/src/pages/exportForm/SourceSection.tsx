import {
  Button,
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
  makeStyles,
} from '@fluentui/react-components';
import type { Preview } from '../../api';
import { ErrorBar, formatBytes, InfoBar, useCommonStyles } from '../../components/common';
import { inputId } from './draft';
import type { ExportFormState } from './useExportForm';

const LAYOUTS = {
  cdm: 'Common Data Model folder (model.json)',
  customerInsights: 'Customer Insights time folder',
  files: 'File or folder of files',
} as const;

// Columns as wide as their content, the table scrolling sideways: fixed columns overlapped.
const useStyles = makeStyles({
  rows: { tableLayout: 'auto', width: 'max-content', minWidth: '100%' },
  cell: { whiteSpace: 'nowrap', maxWidth: '24rem', overflow: 'hidden', textOverflow: 'ellipsis' },
});

/** Where the segment lands, and a preview of what is there. */
export function SourceSection({ form }: { form: ExportFormState }) {
  const styles = useCommonStyles();
  const { draft, set, errors, preview } = form;
  return (
    <>
      <h2 className={styles.section}>Segment source</h2>
      <Text className={styles.muted}>
        Where Customer Insights (or another tool) writes the segment, in the segments storage account.
      </Text>
      <div className={styles.row}>
        <Field label="Container" required className={styles.grow} validationMessage={errors.container}>
          <Input id={inputId('container')} value={draft.container} onChange={(_, d) => set({ container: d.value })} />
        </Field>
        <Field label="Path" className={styles.grow} validationMessage={errors.path}>
          <Input id={inputId('path')} value={draft.path} onChange={(_, d) => set({ path: d.value })} />
        </Field>
        <Field
          label="Table"
          hint="Optional: the entity of a model.json"
          className={styles.grow}
          validationMessage={errors.table}
        >
          <Input id={inputId('table')} value={draft.table} onChange={(_, d) => set({ table: d.value })} />
        </Field>
      </div>
      <div className={styles.toolbar}>
        <Button onClick={() => void form.runPreview()} disabled={!draft.container || preview.busy}>
          {preview.busy ? <Spinner size="tiny" label="Reading the source…" /> : 'Preview'}
        </Button>
      </div>
      <ErrorBar error={preview.error} title="Preview" />
      {preview.value ? <PreviewPanel preview={preview.value} /> : null}
    </>
  );
}

function PreviewPanel({ preview }: { preview: Preview }) {
  const common = useCommonStyles();
  const styles = useStyles();
  return (
    <section aria-label="Preview of the source">
      {preview.problem ? (
        <InfoBar intent="warning">
          {preview.problem}
          {preview.retryAfterSeconds ? ` (look again in ${preview.retryAfterSeconds} s)` : ''}
        </InfoBar>
      ) : null}
      {preview.layout ? <Text as="p">Recognised: {LAYOUTS[preview.layout]}.</Text> : null}
      {preview.files.length ? (
        <Table aria-label="Files of the newest snapshot" size="small" className={common.table}>
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
        <div className={common.scroll} tabIndex={0} role="region" aria-label="First rows (scrolls sideways)">
          <Table aria-label="First rows" size="extra-small" className={`${common.table} ${styles.rows}`}>
            <TableHeader>
              <TableRow>
                {preview.columns.map((c) => (
                  <TableHeaderCell key={c} className={styles.cell}>
                    {c}
                  </TableHeaderCell>
                ))}
              </TableRow>
            </TableHeader>
            <TableBody>
              {preview.rows.map((r, i) => (
                <TableRow key={i}>
                  {preview.columns.map((c) => (
                    <TableCell key={c} className={styles.cell} title={r[c]}>
                      {r[c]}
                    </TableCell>
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
