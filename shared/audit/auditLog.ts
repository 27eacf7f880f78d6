import type { Principal } from '../auth/principal.js';
import { roleOf } from '../auth/principal.js';
import { InvalidRequestError } from '../errors.js';
import { TELEMETRY, type Telemetry } from '../telemetry.js';

/** Everything the audit log records: who changed a connection, an export or a webhook, or started or stopped a run. */
export const AUDIT_ACTIONS = [
  'connection.created',
  'connection.updated',
  'connection.keyRotated',
  'connection.deleted',
  'list.created',
  'export.created',
  'export.updated',
  'export.deleted',
  'run.started',
  'run.cancelled',
  'run.confirmedRemovals',
  'webhook.created',
  'webhook.deleted',
  'webhook.tested',
  'erasure.completed',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** One entry: never a key, a secret or a contact's personal data. */
export interface AuditEntry {
  id: string;
  at: string;
  /** A person (their signed-in name and role), or the app itself (`schedule`: a refresh it started). */
  actor: { name: string; role: 'admin' | 'contributor' | 'none' | 'app' };
  action: AuditAction;
  target: { type: 'connection' | 'export' | 'run' | 'webhook' | 'erasure'; id: string; name?: string };
  /** What changed, in a few words (field names, a run id, a trigger): values that are not secrets. */
  details?: Record<string, string | number | boolean>;
}

export interface AuditPort {
  add(entry: AuditEntry): Promise<void>;
  list(page: {
    top?: number;
    continuationToken?: string;
  }): Promise<{ entries: AuditEntry[]; continuationToken?: string }>;
}

export type AuditDeps = { audit: AuditPort; telemetry: Telemetry; log?: (m: string) => void };

/** Who did it: a signed-in caller, or the app's own schedule. */
export type Actor = Principal | 'schedule';

/**
 * Records what was done, after it was done: in the audit table (the console's Activity page) and as
 * the telemetry event the workbook lists. A failed write does not undo the action or fail the request
 * that did it (the telemetry event still says it happened); it is logged.
 */
export async function recordAudit(
  deps: AuditDeps,
  actor: Actor,
  action: AuditAction,
  target: AuditEntry['target'],
  details?: AuditEntry['details'],
): Promise<void> {
  const at = new Date();
  const entry: AuditEntry = {
    id: auditId(at.getTime()),
    at: at.toISOString(),
    actor: actor === 'schedule' ? { name: 'schedule', role: 'app' } : { name: actor.name, role: roleOf(actor) },
    action,
    target,
    ...(details && Object.keys(details).length > 0 ? { details } : {}),
  };
  deps.telemetry.event(TELEMETRY.events.audit, {
    action,
    actor: entry.actor.name,
    role: entry.actor.role,
    targetType: target.type,
    targetId: target.id,
    targetName: target.name,
    details: entry.details ? JSON.stringify(entry.details) : undefined,
  });
  try {
    await deps.audit.add(entry);
  } catch (error) {
    (deps.log ?? console.error)(
      `The audit entry ${action} ${target.type} ${target.id} was not stored: ${String(error)}`,
    );
  }
}

/** Ids sort newest first (the table lists by key): the time counted down, then a random tail. */
export function auditId(atMs: number): string {
  const countdown = (9_999_999_999_999 - atMs).toString().padStart(13, '0');
  return `${countdown}-${Math.random().toString(36).slice(2, 10).padEnd(8, '0')}`;
}

/** A page of the audit log, newest first; `continuationToken` names the next page. */
export async function listAudit(
  deps: { audit: AuditPort },
  page: { top?: number; continuationToken?: string },
  isPageToken: (token: string) => boolean,
): Promise<{ value: AuditEntry[]; continuationToken?: string }> {
  const notOurs = () =>
    new InvalidRequestError(
      'InvalidRequest',
      'continuationToken: not a page of the audit log (use the token the previous page gave, or leave it out for the newest entries)',
    );
  if (page.continuationToken !== undefined && !isPageToken(page.continuationToken)) throw notOurs();
  try {
    const { entries, continuationToken } = await deps.audit.list(page);
    return { value: entries, ...(continuationToken ? { continuationToken } : {}) };
  } catch (error) {
    if (page.continuationToken && (error as { statusCode?: number }).statusCode === 400) throw notOurs();
    throw error;
  }
}
