import { z } from 'zod';
import { recordAudit } from '../audit/auditLog.js';
import type { Principal } from '../auth/principal.js';
import { ConflictError, InvalidRequestError } from '../errors.js';
import type { Export } from '../model.js';
import { ExportBeingEditedError, RunActiveError } from '../runs/runModel.js';
import type { AppServices } from '../services.js';
import { checkEmail } from '../sync/email.js';
import { emailHash, type ErasureRecord } from './erasureModel.js';

type ErasureDeps = Pick<
  AppServices,
  | 'exports'
  | 'connections'
  | 'runs'
  | 'runFiles'
  | 'exportState'
  | 'erasures'
  | 'audit'
  | 'telemetry'
  | 'activeCampaign'
>;

export const erasureSchema = z.strictObject({
  email: z.string().max(320).describe("The person's email address"),
  action: z
    .enum(['delete', 'unsubscribe'])
    .describe("delete: the contact is deleted in ActiveCampaign; unsubscribe: only taken off the exports' lists"),
});

/** How long an erasure holds the exports (no run starts, no edit lands, while it rewrites their files). */
const HOLD_IN_MS = 230_000;

/**
 * Erases a person (a data-subject request): in each ActiveCampaign account the app sends to, the
 * contact is deleted (or only unsubscribed from the exports' lists); the email is taken out of every
 * export's state and of the run files that outlive a run; an erasure record and an audit entry say
 * who did it, when and what happened, without the email. Refused (409) while an export has an active
 * run: its end would write the email back. A later snapshot that still holds the person sends it
 * again, with a warning on that run.
 */
export async function erase(
  deps: ErasureDeps,
  principal: Principal,
  input: z.infer<typeof erasureSchema>,
): Promise<ErasureRecord> {
  const checked = checkEmail(input.email);
  if (!checked.email) throw new InvalidRequestError('InvalidRequest', `email: ${checked.problem}`);
  const email = checked.email;
  const exports = await deps.exports.list();
  const held = await holdAll(deps, exports);
  try {
    const activeCampaign: ErasureRecord['activeCampaign'] = [];
    const connections = (await deps.connections.list()).sort((a, b) => a.displayName.localeCompare(b.displayName));
    for (const connection of connections) {
      const lists = [...new Set(exports.filter((e) => e.connectionId === connection.id).map((e) => e.listId))].sort(
        (a, b) => a - b,
      );
      let outcome: string;
      try {
        const client = await deps.activeCampaign(connection);
        const contacts = await client.findContacts(email);
        if (contacts.length === 0) outcome = 'not found';
        else if (input.action === 'delete') {
          for (const c of contacts) await client.deleteContact(c.id);
          outcome = 'deleted';
        } else {
          for (const c of contacts) for (const list of lists) await client.updateListStatus(c.id, list, 2);
          outcome = lists.length > 0 ? `unsubscribed from list(s) ${lists.join(', ')}` : 'no export list to leave';
        }
      } catch (error) {
        outcome = `failed: ${(error as Error).message}`;
      }
      activeCampaign.push({ connectionId: connection.id, displayName: connection.displayName, outcome });
    }
    const erased: ErasureRecord['exports'] = [];
    let filesRewritten = 0;
    for (const exp of exports) {
      const inState = await deps.exportState.forget(exp.id, email);
      for await (const run of deps.runs.allRuns(exp.id))
        filesRewritten += await deps.runFiles.forgetEmail(run.runId, email);
      erased.push({ id: exp.id, displayName: exp.displayName, inState });
    }
    const record: ErasureRecord = {
      id: deps.erasures.newId(),
      at: new Date().toISOString(),
      by: principal.name,
      action: input.action,
      emailHash: emailHash(email),
      exports: erased,
      activeCampaign,
      filesRewritten,
    };
    await deps.erasures.add(record);
    await recordAudit(
      deps,
      principal,
      'erasure.completed',
      { type: 'erasure', id: record.id },
      {
        action: record.action,
        exports: erased.length,
        inState: erased.filter((e) => e.inState).length,
        filesRewritten,
        activeCampaign: activeCampaign.map((a) => `${a.displayName}: ${a.outcome}`).join('; '),
      },
    );
    return record;
  } finally {
    for (const [exportId, editId] of held) await deps.runs.releaseEdit(exportId, editId);
  }
}

/** Holds every export as an edit does; none may be running. Returns what it holds. */
async function holdAll(deps: Pick<ErasureDeps, 'runs'>, exports: Export[]): Promise<Map<string, string>> {
  const held = new Map<string, string>();
  try {
    for (const exp of exports) held.set(exp.id, await deps.runs.holdForEdit(exp.id, HOLD_IN_MS));
    return held;
  } catch (error) {
    for (const [exportId, editId] of held) await deps.runs.releaseEdit(exportId, editId);
    const exp = exports[held.size];
    if (error instanceof RunActiveError)
      throw new ConflictError(
        'RunActive',
        `Export "${exp.displayName}" has an active run (${error.runId}): its end would write the email back. Erase once it ends, or cancel it first`,
        { runId: error.runId },
      );
    if (error instanceof ExportBeingEditedError)
      throw new ConflictError(
        'ExportBeingEdited',
        `Export "${exp.displayName}" is being edited; try again in a moment`,
      );
    throw error;
  }
}

export async function listErasures(deps: Pick<ErasureDeps, 'erasures'>): Promise<ErasureRecord[]> {
  return deps.erasures.list();
}
