import { Badge, MessageBar, MessageBarBody, MessageBarTitle, makeStyles, tokens } from '@fluentui/react-components';
import type { ReactNode } from 'react';
import { ApiFailure, describeError } from '../api';

export const useCommonStyles = makeStyles({
  toolbar: {
    display: 'flex',
    gap: tokens.spacingHorizontalS,
    flexWrap: 'wrap',
    alignItems: 'center',
    margin: `${tokens.spacingVerticalM} 0`,
  },
  form: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM, maxWidth: '48rem' },
  scroll: { overflowX: 'auto', maxWidth: '100%' },
  section: { marginTop: tokens.spacingVerticalXL },
  muted: { color: tokens.colorNeutralForeground3 },
  row: { display: 'flex', gap: tokens.spacingHorizontalM, alignItems: 'flex-end', flexWrap: 'wrap' },
  grow: { flexGrow: 1, minWidth: '12rem' },
  table: { marginTop: tokens.spacingVerticalS },
  mono: {
    fontFamily: tokens.fontFamilyMonospace,
    fontSize: tokens.fontSizeBase200,
    whiteSpace: 'pre-wrap',
    overflowX: 'auto',
    maxHeight: '24rem',
  },
  visuallyHidden: {
    position: 'absolute',
    width: '1px',
    height: '1px',
    margin: '-1px',
    padding: 0,
    overflow: 'hidden',
    clipPath: 'inset(50%)',
    whiteSpace: 'nowrap',
    border: 0,
  },
});

/**
 * A polite live region: screen readers read out what it says (progress, a run's end) without
 * moving focus. It stays in the page; only its text changes.
 */
export function LiveRegion({ message }: { message: string }) {
  const styles = useCommonStyles();
  return (
    <div role="status" aria-live="polite" aria-atomic="true" className={styles.visuallyHidden}>
      {message}
    </div>
  );
}

/** An error that belongs to no field, in plain words. */
export function ErrorBar({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  return (
    <MessageBar intent="error" role="alert">
      <MessageBarBody>
        {title ? <MessageBarTitle>{title}</MessageBarTitle> : null}
        {describeError(error)}
      </MessageBarBody>
    </MessageBar>
  );
}

export function InfoBar({
  children,
  intent = 'info',
}: {
  children: ReactNode;
  intent?: 'info' | 'success' | 'warning';
}) {
  return (
    <MessageBar intent={intent}>
      <MessageBarBody>{children}</MessageBarBody>
    </MessageBar>
  );
}

/** The message for one field out of an API failure ("listId: …" belongs to listId), for Field's validationMessage. */
export function fieldMessage(error: unknown, ...fields: string[]): string | undefined {
  if (!(error instanceof ApiFailure) || !error.field) return undefined;
  return fields.some((f) => error.field === f || error.field!.startsWith(`${f}.`)) ? error.detail : undefined;
}

/** The message of an API failure about exactly this field (not one inside it). */
export function exactFieldMessage(error: unknown, field: string): string | undefined {
  return error instanceof ApiFailure && error.field === field ? error.detail : undefined;
}

/** Whether an API failure is about none of the given fields (then it is shown at the top). */
export function generalError(error: unknown, fields: string[]): unknown {
  if (!error) return undefined;
  if (
    error instanceof ApiFailure &&
    error.field &&
    fields.some((f) => error.field === f || error.field!.startsWith(`${f}.`))
  )
    return undefined;
  return error;
}

const STATUS: Record<string, { label: string; color: 'success' | 'warning' | 'danger' | 'informative' | 'subtle' }> = {
  queued: { label: 'Queued', color: 'informative' },
  planning: { label: 'Planning', color: 'informative' },
  sending: { label: 'Sending', color: 'informative' },
  completed: { label: 'Completed', color: 'success' },
  completedWithErrors: { label: 'Completed with errors', color: 'warning' },
  failed: { label: 'Failed', color: 'danger' },
  cancelled: { label: 'Cancelled', color: 'subtle' },
};

export function StatusBadge({ status }: { status?: string }) {
  if (!status) return <span>Never run</span>;
  const s = STATUS[status] ?? { label: status, color: 'subtle' as const };
  return (
    <Badge appearance="tint" color={s.color}>
      {s.label}
    </Badge>
  );
}

export const formatDate = (iso?: string) => (iso ? new Date(iso).toLocaleString() : '');

export function formatDuration(from?: string, to?: string): string {
  if (!from) return '';
  const ms = (to ? Date.parse(to) : Date.now()) - Date.parse(from);
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export const formatBytes = (n?: number) =>
  n === undefined
    ? ''
    : n < 1024
      ? `${n} B`
      : n < 1024 ** 2
        ? `${(n / 1024).toFixed(1)} KB`
        : `${(n / 1024 ** 2).toFixed(1)} MB`;
