import { Button, Field, ProgressBar, Spinner, makeStyles, tokens } from '@fluentui/react-components';
import type { Run } from '../../api';
import { StatusBadge } from '../../components/common';

const useStyles = makeStyles({
  card: {
    border: `1px solid ${tokens.colorNeutralStroke2}`,
    borderRadius: tokens.borderRadiusMedium,
    padding: tokens.spacingHorizontalL,
    margin: `${tokens.spacingVerticalM} 0`,
  },
  counts: {
    display: 'flex',
    gap: tokens.spacingHorizontalXL,
    flexWrap: 'wrap',
    margin: `${tokens.spacingVerticalS} 0`,
  },
  count: { display: 'flex', flexDirection: 'column' },
  countValue: { fontSize: tokens.fontSizeBase500, fontWeight: tokens.fontWeightSemibold },
});

const COUNT_LABELS: [keyof Run['counts'], string][] = [
  ['read', 'Read'],
  ['upserted', 'Upserted'],
  ['unsubscribed', 'Unsubscribed'],
  ['unchanged', 'Unchanged'],
  ['duplicate', 'Duplicate'],
  ['rejected', 'Rejected'],
  ['failed', 'Failed'],
];

/** The run that is going on: its progress, its counts so far, and Cancel. */
export function ActiveRun({ run, onCancel, cancelling }: { run: Run; onCancel: () => void; cancelling: boolean }) {
  const styles = useStyles();
  const total = run.batches.total;
  const sent = run.counts.upserted + run.counts.unsubscribed;
  return (
    <section className={styles.card} aria-label="Active run">
      <h2>
        Active run <StatusBadge status={run.status} />
      </h2>
      <Field
        label={
          total
            ? `Batches ${run.batches.done} of ${total} · ${sent} contacts sent`
            : run.status === 'planning'
              ? `Reading the segment: ${run.counts.read} rows so far`
              : 'Waiting to start'
        }
        validationState="none"
      >
        <ProgressBar value={total ? run.batches.done / total : undefined} thickness="large" />
      </Field>
      <div className={styles.counts}>
        {COUNT_LABELS.map(([k, label]) => (
          <div className={styles.count} key={k}>
            <span>{label}</span>
            <span className={styles.countValue}>{run.counts[k]}</span>
          </div>
        ))}
      </div>
      <Button onClick={onCancel} disabled={cancelling}>
        {cancelling ? <Spinner size="tiny" label="Cancelling…" /> : 'Cancel run'}
      </Button>
    </section>
  );
}
