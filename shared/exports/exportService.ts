import { randomUUID } from 'node:crypto';
import { ActiveCampaignError, ActiveCampaignNotFoundError } from '../activecampaign/errors.js';
import { recordAudit } from '../audit/auditLog.js';
import { isAdmin, type Principal } from '../auth/principal.js';
import { canUseConnection } from '../connections/connectionService.js';
import { ConflictError, ForbiddenError, InvalidRequestError, NotFoundError } from '../errors.js';
import type { Connection, Export, FieldDefinition, RefreshOutlook } from '../model.js';
import { endRun } from '../runs/runLifecycle.js';
import { refreshOutlook } from '../runs/scheduledRefresh.js';
import { readSegmentFile } from '../segments/readSegmentFile.js';
import { SegmentError } from '../segments/segmentError.js';
import { locateSnapshot } from '../segments/snapshot.js';
import { containerProblem, normalizeSourcePath } from '../segments/sourcePolicy.js';
import type { AppServices } from '../services.js';
import { publicConnection, type ConnectionRecord } from '../store/connectionStore.js';
import { ExportBeingEditedError, RunActiveError } from '../runs/runModel.js';
import { MappingError, resolveMapping } from '../sync/mapping.js';
import { DEFAULT_REMOVAL_GUARD_PERCENT } from '../sync/removalGuard.js';
import type { CreateExportInput, UpdateExportInput } from './exportSchema.js';

export type ExportDeps = Pick<
  AppServices,
  | 'exports'
  | 'connections'
  | 'runs'
  | 'runFiles'
  | 'exportState'
  | 'snapshotChecks'
  | 'queues'
  | 'telemetry'
  | 'segments'
  | 'config'
  | 'activeCampaign'
  | 'runEvents'
  | 'audit'
>;

/** Our ids are UUIDs: anything else is refused before it reaches a table key (where "/" or "#" break the request). */
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isRecordId = (id: string) => ID.test(id);

/** The export and its connection, if the caller may use them (404 otherwise, so nothing leaks). */
export async function getExport(
  deps: Pick<AppServices, 'exports' | 'connections'>,
  principal: Principal,
  id: string,
): Promise<{ exp: Export; connection?: Connection }> {
  if (!isRecordId(id)) throw new NotFoundError(`Export ${id}`);
  const exp = await deps.exports.get(id);
  if (!exp) throw new NotFoundError(`Export ${id}`);
  const connection = await deps.connections.get(exp.connectionId);
  if (!isAdmin(principal) && (!connection || !canUseConnection(principal, connection)))
    throw new NotFoundError(`Export ${id}`);
  return { exp, connection: connection && publicConnection(connection) };
}

/** One export as its page shows it: with what the scheduled refresh will do next, and why. */
export async function describeExport(
  deps: Pick<AppServices, 'exports' | 'connections' | 'runs' | 'segments' | 'config' | 'snapshotChecks'>,
  principal: Principal,
  id: string,
): Promise<Export & { refresh: RefreshOutlook }> {
  const { exp } = await getExport(deps, principal, id);
  return { ...exp, refresh: await refreshOutlook(deps, exp) };
}

export async function listExports(
  deps: Pick<AppServices, 'exports' | 'connections'>,
  principal: Principal,
): Promise<Export[]> {
  const all = await deps.exports.list();
  if (isAdmin(principal)) return all;
  const usable = new Set(
    (await deps.connections.list()).filter((c) => canUseConnection(principal, c)).map((c) => c.id),
  );
  return all.filter((e) => usable.has(e.connectionId));
}

/**
 * Only administrators may let a mirror run unsubscribe more than the default share without a
 * confirmation: a contributor may lower the guard, or keep what an administrator set.
 */
function checkGuardRaise(
  principal: Principal,
  wanted: number | undefined,
  current = DEFAULT_REMOVAL_GUARD_PERCENT,
): void {
  if (isAdmin(principal) || wanted === undefined || wanted <= Math.max(DEFAULT_REMOVAL_GUARD_PERCENT, current)) return;
  throw new ForbiddenError(
    'Forbidden',
    `removalGuardPercent: only administrators may raise the removal guard above ${Math.max(DEFAULT_REMOVAL_GUARD_PERCENT, current)}%`,
  );
}

export async function createExport(deps: ExportDeps, principal: Principal, input: CreateExportInput): Promise<Export> {
  checkGuardRaise(principal, input.removalGuardPercent);
  const connection = await usableConnection(deps, principal, input.connectionId);
  const checked = await checkExport(deps, connection, input);
  const exp: Export = {
    id: randomUUID(),
    displayName: input.displayName,
    connectionId: connection.id,
    listId: input.listId,
    source: checked.source,
    mapping: input.mapping,
    mode: input.mode ?? 'upsert',
    schedule: input.schedule ?? 'refresh',
    tags: [...new Set(input.tags ?? [])],
    runAutomations: input.runAutomations ?? true,
    removeTagsWhenLeaving: input.removeTagsWhenLeaving ?? false,
    removalGuardPercent: input.removalGuardPercent ?? DEFAULT_REMOVAL_GUARD_PERCENT,
    fieldTypes: checked.fieldTypes,
    createdAt: new Date().toISOString(),
    createdBy: principal.name,
  };
  await deps.exports.create(exp);
  if ((await connectionOutcome(deps, connection.id)) === 'deleted') {
    await deps.exports.delete(exp.id);
    throw new ConflictError(
      'ConnectionDeleted',
      `Connection ${connection.id} was deleted while the export was being saved; nothing was saved`,
    );
  }
  await recordAudit(deps, principal, 'export.created', exportTarget(exp), {
    connectionId: exp.connectionId,
    listId: exp.listId,
    mode: exp.mode,
  });
  return exp;
}

const exportTarget = (exp: Pick<Export, 'id' | 'displayName'>) =>
  ({ type: 'export', id: exp.id, name: exp.displayName }) as const;

/**
 * Whether a connection an export was just written onto survives a delete that may be under way.
 * deleteConnection marks the connection, then counts its exports: either it saw the export (and
 * gives up, clearing the mark) or it did not (and deletes the connection). This waits until one of
 * the two has happened, so that the export goes only when the connection really went.
 */
async function connectionOutcome(
  deps: Pick<AppServices, 'connections'>,
  connectionId: string,
): Promise<'alive' | 'deleted'> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const still = await deps.connections.get(connectionId);
    if (!still) return 'deleted';
    if (!still.deleting) return 'alive';
    // A delete that died between its mark and its end leaves the mark: the connection counts as gone.
    if (Date.now() > deadline) return 'deleted';
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** How long an edit holds its export: its checks ask ActiveCampaign, and an HTTP answer must come within 230 s. */
const EDIT_HOLD_IN_MS = 230_000;

/**
 * Edits an export (not while it runs): validated as on creation; the next run sends what the change
 * changed (another list: everyone). The edit holds the export's run lease while it checks and
 * writes, so that a run never starts on settings that are about to change, nor an edit lands
 * while a run sends on the old ones: one of the two is refused with 409.
 */
export async function updateExport(
  deps: ExportDeps,
  principal: Principal,
  id: string,
  input: UpdateExportInput,
): Promise<Export> {
  const { exp } = await getExport(deps, principal, id);
  checkGuardRaise(principal, input.removalGuardPercent, exp.removalGuardPercent);
  let editId: string;
  try {
    editId = await deps.runs.holdForEdit(id, EDIT_HOLD_IN_MS);
  } catch (error) {
    if (error instanceof RunActiveError)
      throw new ConflictError(
        'RunActive',
        `Export ${id} has an active run (${error.runId}); cancel it or wait for it to end before editing`,
        { runId: error.runId },
      );
    if (error instanceof ExportBeingEditedError)
      throw new ConflictError(
        'ExportBeingEdited',
        `Export ${id} is being edited by another request; try again in a moment`,
      );
    throw error;
  }
  try {
    // Another connection is checked as on creation: the caller may use it, its account has the list and fields.
    const connection = await usableConnection(deps, principal, input.connectionId ?? exp.connectionId);
    const before = await deps.connections.get(exp.connectionId);
    const draft = { ...exp, ...input, tags: input.tags ? [...new Set(input.tags)] : exp.tags };
    const checked = await checkExport(deps, connection, draft);
    if (!(await deps.runs.holdsEdit(id, editId)))
      throw new ConflictError(
        'EditExpired',
        `Checking the edit of export ${id} took too long; nothing was saved. Try again`,
      );
    const updated = await deps.exports.update(id, (current) => ({
      ...current,
      ...input,
      connectionId: connection.id,
      source: checked.source,
      tags: draft.tags,
      fieldTypes: checked.fieldTypes,
      updatedAt: new Date().toISOString(),
      updatedBy: principal.name,
    }));
    if (!updated) throw new NotFoundError(`Export ${id}`);
    if (connection.id !== exp.connectionId && (await connectionOutcome(deps, connection.id)) === 'deleted') {
      await deps.exports.update(id, (current) => ({ ...current, connectionId: exp.connectionId }));
      throw new ConflictError(
        'ConnectionDeleted',
        `Connection ${connection.id} was deleted while the export was being moved to it; the export stays on its connection`,
      );
    }
    // The state says who is on the old list. Kept, mirror mode would "unsubscribe" from the new list
    // contacts who were never on it (and leave them subscribed to the old one), and the removal guard
    // would weigh the new list by the old one. Another list, or another account, starts afresh; the
    // old list is left as it is. A connection to the same account (a new key) keeps the state.
    const otherAccount = before?.hostname !== connection.hostname;
    if (updated.listId !== exp.listId || otherAccount) await deps.exportState.delete(id);
    await recordAudit(deps, principal, 'export.updated', exportTarget(updated), {
      fields: Object.keys(input).sort().join(', '),
    });
    return updated;
  } finally {
    await deps.runs.releaseEdit(id, editId);
  }
}

/**
 * Deletes an export at once: its schedule stops, an active run is cancelled, its state and its runs' files are
 * deleted.
 */
export async function deleteExport(deps: ExportDeps, principal: Principal, id: string): Promise<void> {
  const { exp } = await getExport(deps, principal, id);
  await deps.exports.delete(id);
  await recordAudit(deps, principal, 'export.deleted', exportTarget(exp));
  const active = await deps.runs.activeRunId(id);
  if (active) await endRun(deps, id, active, 'cancelled', 'The export was deleted');
  await deps.exportState.delete(id);
  await deps.snapshotChecks.delete(id);
  for await (const run of deps.runs.allRuns(id)) await deps.runFiles.deleteRunFiles(run.runId);
}

async function usableConnection(
  deps: Pick<AppServices, 'connections'>,
  principal: Principal,
  connectionId: string,
): Promise<ConnectionRecord> {
  const connection = isRecordId(connectionId) ? await deps.connections.get(connectionId) : undefined;
  if (!connection || connection.deleting)
    throw new InvalidRequestError('UnknownConnection', `connectionId: connection ${connectionId} does not exist`);
  if (!canUseConnection(principal, connection))
    throw new ForbiddenError('Forbidden', `Connection ${connectionId} is for admins only`);
  return connection;
}

/**
 * The checks an export passes on creation and on every edit: the source is one the app may read;
 * the list exists in ActiveCampaign; the mapped custom fields exist (their types and options are
 * kept, to convert values); and when the source already holds a snapshot, the mapped columns are
 * in it (the same check runs again at run time).
 */
async function checkExport(
  deps: ExportDeps,
  connection: ConnectionRecord,
  draft: Pick<Export, 'listId' | 'source' | 'mapping'>,
): Promise<{ source: Export['source']; fieldTypes: Record<string, FieldDefinition> }> {
  const source = checkSource(deps, draft.source);
  const client = await deps.activeCampaign(connection);
  try {
    await client.getList(draft.listId);
  } catch (error) {
    if (error instanceof ActiveCampaignNotFoundError)
      throw new InvalidRequestError('UnknownList', `listId: ActiveCampaign list ${draft.listId} does not exist`);
    throw new InvalidRequestError(
      'ActiveCampaignCheckFailed',
      `listId: could not check list ${draft.listId}: ${(error as Error).message}`,
    );
  }
  const fieldTypes: Record<string, FieldDefinition> = {};
  const fieldIds = Object.keys(draft.mapping.fields ?? {});
  if (fieldIds.length > 0) {
    let known;
    try {
      known = new Map((await client.listFields()).map((f) => [String(f.id), f]));
    } catch (error) {
      if (!(error instanceof ActiveCampaignError)) throw error;
      throw new InvalidRequestError(
        'ActiveCampaignCheckFailed',
        `mapping.fields: could not read the account's custom fields: ${error.message}`,
      );
    }
    const unknown = fieldIds.filter((id) => !known.has(id));
    if (unknown.length > 0)
      throw new InvalidRequestError(
        'UnknownField',
        `mapping.fields: ActiveCampaign has no custom field with id ${unknown.join(', ')}`,
      );
    for (const id of fieldIds) {
      const f = known.get(id)!;
      fieldTypes[id] = { id, title: f.title, type: f.type, ...(f.options.length > 0 ? { options: f.options } : {}) };
    }
  }
  await checkMappingAgainstSource(deps, source, draft.mapping);
  return { source, fieldTypes };
}

/** A source the app may read, its path normalized; 400 naming the problem otherwise. */
export function checkSource(deps: Pick<AppServices, 'config'>, source: Export['source']): Export['source'] {
  const problem = containerProblem(source.container, deps.config.segmentsContainers);
  if (problem) throw new InvalidRequestError('InvalidSource', `source.container: ${problem}`);
  const path = normalizeSourcePath(source.path);
  if (path.problem) throw new InvalidRequestError('InvalidSource', `source.path: ${path.problem}`);
  return { ...source, path: path.path! };
}

async function checkMappingAgainstSource(
  deps: ExportDeps,
  source: Export['source'],
  mapping: Export['mapping'],
): Promise<void> {
  let snapshot;
  try {
    snapshot = await locateSnapshot(deps.segments.blobs, source, { allowedContainers: deps.config.segmentsContainers });
  } catch (error) {
    // A source that does not exist yet (or is being written) is accepted; structural problems show at run time.
    if (error instanceof SegmentError) return;
    throw error;
  }
  const file = snapshot.segmentFiles[0];
  try {
    if (file.columns) {
      resolveMapping(mapping, file.columns, `${file.container}/${file.name}`);
      return;
    }
    for await (const row of readSegmentFile(deps.segments.blobs, file, { maxRows: 1 })) {
      resolveMapping(mapping, Object.keys(row.record), row.file);
      return;
    }
  } catch (error) {
    if (error instanceof MappingError) throw new InvalidRequestError('MappingError', `mapping: ${error.message}`);
    if (error instanceof SegmentError) throw new InvalidRequestError('SegmentError', `source: ${error.message}`);
    throw error;
  }
}
