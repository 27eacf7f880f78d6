import { z } from 'zod';
import { NotFoundError } from '../activecampaign/errors.js';
import { isAdmin, type Principal } from '../auth/principal.js';
import { canUseConnection } from '../connections/connectionService.js';
import { ApiError, badRequest, notFound } from '../http/apiError.js';
import type { Connection, Export, Run } from '../model.js';
import { cancelRun, newId, startRun } from '../runs/runLifecycle.js';
import { RunActiveError } from '../runs/runStore.js';
import { readSegmentFile } from '../segments/readRows.js';
import { SegmentError } from '../segments/segmentError.js';
import { locateSnapshot } from '../segments/snapshot.js';
import type { AppServices } from '../services.js';
import { MappingError, resolveMapping } from '../sync/mapping.js';

const column = z.string().trim().min(1).max(256);

export const createExportSchema = z.strictObject({
  displayName: z.string().trim().min(1).max(200),
  connectionId: z.string().trim().min(1).max(100),
  listId: z.union([z.number().int().positive(), z.string().regex(/^\d+$/, 'must be a positive integer').transform(Number)]),
  source: z.strictObject({
    container: z.string().trim().min(3).max(63),
    path: z.string().trim().max(1024),
    table: z.string().trim().min(1).max(256).optional(),
  }),
  mapping: z.strictObject({
    email: column,
    firstName: column.optional(),
    lastName: column.optional(),
    phone: column.optional(),
    fields: z.record(z.string().regex(/^\d+$/, 'custom field ids are numbers'), column).optional(),
  }),
  mode: z.enum(['upsert', 'mirror']).optional(),
  schedule: z.enum(['refresh', 'manual']).optional(),
});

export const startRunSchema = z.strictObject({
  dryRun: z.boolean().optional(),
  fullSync: z.boolean().optional(),
});

/** The export and its connection, if the caller may use them (404 otherwise, so nothing leaks). */
export async function getExport(svc: AppServices, principal: Principal, id: string): Promise<{ exp: Export; connection?: Connection }> {
  const exp = await svc.exports.get(id);
  if (!exp) throw notFound(`Export ${id}`);
  const connection = await svc.connections.get(exp.connectionId);
  if (!isAdmin(principal) && (!connection || !canUseConnection(principal, connection))) throw notFound(`Export ${id}`);
  return { exp, connection };
}

export async function listExports(svc: AppServices, principal: Principal): Promise<Export[]> {
  const all = await svc.exports.list();
  if (isAdmin(principal)) return all;
  const usable = new Set((await svc.connections.list()).filter((c) => canUseConnection(principal, c)).map((c) => c.id));
  return all.filter((e) => usable.has(e.connectionId));
}

export async function createExport(svc: AppServices, principal: Principal, input: z.infer<typeof createExportSchema>): Promise<Export> {
  const connection = await svc.connections.get(input.connectionId);
  if (!connection) throw badRequest(`connectionId: connection ${input.connectionId} does not exist`, 'UnknownConnection');
  if (!canUseConnection(principal, connection)) {
    throw new ApiError(403, 'Forbidden', `Connection ${input.connectionId} is for admins only`);
  }
  const client = await svc.activeCampaign(connection);
  try {
    await client.getList(input.listId);
  } catch (error) {
    if (error instanceof NotFoundError) throw badRequest(`listId: ActiveCampaign list ${input.listId} does not exist`, 'UnknownList');
    throw badRequest(`listId: could not check list ${input.listId}: ${(error as Error).message}`, 'ActiveCampaignCheckFailed');
  }
  const fieldIds = Object.keys(input.mapping.fields ?? {});
  if (fieldIds.length > 0) {
    const known = new Set((await client.listFields()).map((f) => String(f.id)));
    const unknown = fieldIds.filter((id) => !known.has(id));
    if (unknown.length > 0) throw badRequest(`mapping.fields: ActiveCampaign has no custom field with id ${unknown.join(', ')}`, 'UnknownField');
  }
  await checkMappingAgainstSource(svc, input.source, input.mapping);
  const exp: Export = {
    id: newId(),
    displayName: input.displayName,
    connectionId: connection.id,
    listId: input.listId,
    source: input.source,
    mapping: input.mapping,
    mode: input.mode ?? 'upsert',
    schedule: input.schedule ?? 'refresh',
    createdAt: new Date().toISOString(),
    createdBy: principal.name,
  };
  await svc.exports.create(exp);
  return exp;
}

/**
 * When the source already holds a snapshot, the mapped columns must exist in it (the same check
 * runs again at run time). A source that does not exist yet is accepted.
 */
async function checkMappingAgainstSource(svc: AppServices, source: Export['source'], mapping: Export['mapping']): Promise<void> {
  let snapshot;
  try {
    snapshot = await locateSnapshot(svc.segments.blobs, source);
  } catch (error) {
    if (error instanceof SegmentError) return;
    throw error;
  }
  const file = snapshot.segmentFiles[0];
  try {
    if (file.columns) {
      resolveMapping(mapping, file.columns, `${file.container}/${file.name}`);
      return;
    }
    for await (const row of readSegmentFile(svc.segments.blobs, file)) {
      resolveMapping(mapping, Object.keys(row.record), row.file);
      return;
    }
  } catch (error) {
    if (error instanceof MappingError) throw badRequest(`mapping: ${error.message}`, 'MappingError');
    if (error instanceof SegmentError) throw badRequest(`source: ${error.message}`, 'SegmentError');
    throw error;
  }
}

/** Deletes an export at once: its schedule stops and an active run is cancelled. */
export async function deleteExport(svc: AppServices, principal: Principal, id: string): Promise<void> {
  await getExport(svc, principal, id);
  await svc.exports.delete(id);
  const active = await svc.runs.activeRunId(id);
  if (active) await cancelRun(svc, id, active, 'The export was deleted');
  await svc.exportState.delete(id);
}

export async function startManualRun(svc: AppServices, principal: Principal, id: string, input: z.infer<typeof startRunSchema>): Promise<Run> {
  const { exp } = await getExport(svc, principal, id);
  try {
    return await startRun(svc, exp, { trigger: 'manual', dryRun: input.dryRun, fullSync: input.fullSync });
  } catch (error) {
    if (error instanceof RunActiveError) {
      throw new ApiError(409, 'RunActive', `Export ${id} already has an active run (${error.runId})`, { runId: error.runId });
    }
    throw error;
  }
}

export async function getRun(svc: AppServices, principal: Principal, exportId: string, runId: string): Promise<Run> {
  await getExport(svc, principal, exportId);
  const run = await svc.runs.getRun(exportId, runId);
  if (!run) throw notFound(`Run ${runId}`);
  return run;
}

export async function listRuns(svc: AppServices, principal: Principal, exportId: string): Promise<Run[]> {
  await getExport(svc, principal, exportId);
  return svc.runs.listRuns(exportId);
}
