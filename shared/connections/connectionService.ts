import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  ActiveCampaignError,
  AuthenticationError,
  InvalidHostnameError,
  RateLimitError,
  TransientError,
} from '../activecampaign/errors.js';
import { activeCampaignBaseUrl } from '../activecampaign/hostname.js';
import { recordAudit } from '../audit/auditLog.js';
import { isAdmin, type Principal } from '../auth/principal.js';
import { displayName } from '../displayName.js';
import { ConflictError, InvalidRequestError, NotFoundError, UpstreamError } from '../errors.js';
import type { Connection } from '../model.js';
import { apiKeySecretName } from '../secrets/secretStore.js';
import type { AppServices } from '../services.js';
import { publicConnection, type ConnectionRecord } from '../store/connectionStore.js';

type ConnectionDeps = Pick<
  AppServices,
  'connections' | 'exports' | 'secrets' | 'activeCampaign' | 'config' | 'audit' | 'telemetry'
>;

const connectionTarget = (c: Pick<Connection, 'id' | 'displayName'>) =>
  ({ type: 'connection', id: c.id, name: c.displayName }) as const;

const hostname = z
  .string()
  .trim()
  .min(1)
  .max(253)
  .describe(
    "The account's API hostname only, such as acme.api-us1.com, without https:// (ActiveCampaign: Settings → Developer → URL)",
  );
// Sent as the Api-Token header: a space, a line break or a non-ASCII character could never be a key.
const apiKey = z
  .string()
  .trim()
  .min(1)
  .max(500)
  .regex(/^[\x21-\x7e]+$/, 'must be the key as ActiveCampaign shows it (letters and digits, no spaces or line breaks)')
  .describe('The API key (ActiveCampaign: Settings → Developer → Key). Stored in Key Vault, never returned');

export const createConnectionSchema = z.strictObject({
  displayName,
  hostname,
  apiKey,
  allowContributors: z
    .boolean()
    .optional()
    .describe('false (default): administrators only; true: contributors may create and run exports on it too'),
  dataPrivacyConsent: z
    .boolean()
    .optional()
    .describe("Must be true: contacts' personal data will be sent to ActiveCampaign"),
});

export const checkConnectionSchema = z.strictObject({ hostname, apiKey });

export const updateConnectionSchema = z.strictObject({
  apiKey: apiKey.optional(),
  displayName: displayName.optional(),
  allowContributors: z.boolean().optional(),
});

export const createListSchema = z.strictObject({
  name: z.string().trim().min(1).max(255).describe("The list's name, as ActiveCampaign shows it"),
  senderUrl: z
    .url({ protocol: /^https?$/, hostname: z.regexes.domain })
    .max(2000)
    .describe('The website the list is for (ActiveCampaign requires it, and shows it in the footer of emails)'),
  senderReminder: z
    .string()
    .trim()
    .min(1)
    .max(1000)
    .describe('Why the contacts are on the list: ActiveCampaign requires it, and shows it in every email'),
});

/** Whether a caller may see and use a connection. */
export const canUseConnection = (principal: Principal, connection: Connection) =>
  isAdmin(principal) || connection.allowContributors;

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Checks a key against ActiveCampaign (GET /api/3/users/me) and turns failures into 400s that say what to fix. */
export async function verifyApiKey(
  deps: Pick<ConnectionDeps, 'activeCampaign' | 'config'>,
  connection: Pick<Connection, 'id' | 'hostname'>,
  key: string,
): Promise<{ username?: string; email?: string }> {
  try {
    activeCampaignBaseUrl(connection.hostname, deps.config.insecureHosts);
    const user = await (await deps.activeCampaign(connection, key)).getCurrentUser();
    return { username: user.username, email: user.email };
  } catch (error) {
    if (error instanceof InvalidHostnameError) {
      const hint = /port/.test(error.message)
        ? ' (an emulator on loopback must be listed in ACTIVECAMPAIGN_INSECURE_HOSTS before the app starts)'
        : '';
      throw new InvalidRequestError('InvalidHostname', `hostname: ${error.message}${hint}`);
    }
    if (error instanceof AuthenticationError)
      throw new InvalidRequestError(
        'InvalidApiKey',
        `apiKey: ActiveCampaign did not accept the API key for ${connection.hostname}`,
      );
    if (error instanceof TransientError || error instanceof RateLimitError) {
      throw new InvalidRequestError(
        'ActiveCampaignUnreachable',
        `hostname: ActiveCampaign at ${connection.hostname} could not be reached: ${error.message}`,
      );
    }
    throw new InvalidRequestError(
      'ActiveCampaignCheckFailed',
      `ActiveCampaign at ${connection.hostname} did not confirm the API key: ${(error as Error).message}`,
    );
  }
}

/** "Connect": checks a hostname and key with ActiveCampaign without saving anything. */
export async function checkConnection(
  deps: ConnectionDeps,
  input: z.infer<typeof checkConnectionSchema>,
): Promise<{ hostname: string; user: { username?: string; email?: string } }> {
  const hostname = input.hostname.toLowerCase();
  const user = await verifyApiKey(deps, { id: 'check', hostname }, input.apiKey);
  return { hostname, user };
}

export async function createConnection(
  deps: ConnectionDeps,
  principal: Principal,
  input: z.infer<typeof createConnectionSchema>,
): Promise<Connection> {
  if (input.dataPrivacyConsent !== true) {
    throw new InvalidRequestError(
      'ConsentRequired',
      "dataPrivacyConsent: must be true: contacts' personal data will be sent to ActiveCampaign",
    );
  }
  const connection: Connection = {
    id: randomUUID(),
    displayName: input.displayName,
    hostname: input.hostname.toLowerCase(),
    allowContributors: input.allowContributors ?? false,
    dataPrivacyConsent: { givenBy: principal.name, givenAt: new Date().toISOString() },
    createdAt: new Date().toISOString(),
    createdBy: principal.name,
  };
  await verifyApiKey(deps, connection, input.apiKey);
  await deps.secrets.set(apiKeySecretName(connection.id), input.apiKey);
  try {
    await deps.connections.create(connection);
  } catch (error) {
    await deps.secrets.delete(apiKeySecretName(connection.id));
    throw error;
  }
  await recordAudit(deps, principal, 'connection.created', connectionTarget(connection), {
    hostname: connection.hostname,
    allowContributors: connection.allowContributors,
  });
  return connection;
}

async function findConnection(
  deps: Pick<ConnectionDeps, 'connections'>,
  principal: Principal,
  id: string,
): Promise<ConnectionRecord> {
  const connection = ID.test(id) ? await deps.connections.get(id) : undefined;
  if (!connection || connection.deleting || !canUseConnection(principal, connection))
    throw new NotFoundError(`Connection ${id}`);
  return connection;
}

export async function getConnection(
  deps: Pick<ConnectionDeps, 'connections'>,
  principal: Principal,
  id: string,
): Promise<Connection> {
  return publicConnection(await findConnection(deps, principal, id));
}

export async function listConnections(
  deps: Pick<ConnectionDeps, 'connections'>,
  principal: Principal,
): Promise<Connection[]> {
  return (await deps.connections.list())
    .filter((c) => !c.deleting && canUseConnection(principal, c))
    .map(publicConnection);
}

/** Replaces the key (checked first), the name or who may use the connection. */
export async function updateConnection(
  deps: ConnectionDeps,
  principal: Principal,
  id: string,
  input: z.infer<typeof updateConnectionSchema>,
): Promise<Connection> {
  const connection = await findConnection(deps, principal, id);
  if (input.apiKey) {
    await verifyApiKey(deps, connection, input.apiKey);
    await deps.secrets.set(apiKeySecretName(id), input.apiKey);
  }
  const updated = await deps.connections.update(id, (c) =>
    c.deleting
      ? undefined
      : {
          ...c,
          displayName: input.displayName ?? c.displayName,
          allowContributors: input.allowContributors ?? c.allowContributors,
        },
  );
  if (!updated || updated.deleting) throw new NotFoundError(`Connection ${id}`);
  // The key itself is never recorded; that it was replaced is.
  if (input.apiKey) await recordAudit(deps, principal, 'connection.keyRotated', connectionTarget(updated));
  const changed = (['displayName', 'allowContributors'] as const).filter((f) => input[f] !== undefined);
  if (changed.length > 0)
    await recordAudit(deps, principal, 'connection.updated', connectionTarget(updated), {
      fields: changed.join(', '),
      ...(input.allowContributors !== undefined ? { allowContributors: input.allowContributors } : {}),
    });
  return publicConnection(updated);
}

/**
 * Deletes a connection and its key unless an export uses it (409, naming how many). The connection
 * is marked first and the exports counted after, while creating an export looks at the connection
 * again after saving: whichever comes second sees the other, so no export is left on a deleted
 * connection (at worst both are refused).
 */
export async function deleteConnection(deps: ConnectionDeps, principal: Principal, id: string): Promise<void> {
  const connection = await findConnection(deps, principal, id);
  await deps.connections.update(id, (c) => ({ ...c, deleting: true }));
  const users = (await deps.exports.list()).filter((e) => e.connectionId === id);
  if (users.length > 0) {
    await deps.connections.update(id, (c) => ({ ...c, deleting: undefined }));
    throw new ConflictError(
      'ConnectionInUse',
      `Connection ${id} is in use by ${users.length} export(s): ${users.map((e) => e.displayName).join(', ')}. Move them to another connection (Edit → Connection, or PATCH connectionId) or delete them first`,
      {
        exports: users.map((e) => ({ id: e.id, displayName: e.displayName })),
      },
    );
  }
  await deps.connections.delete(id);
  await deps.secrets.delete(apiKeySecretName(id));
  await recordAudit(deps, principal, 'connection.deleted', connectionTarget(connection));
}

/** ActiveCampaign answers, as the API's errors: a refused key or an unreachable account is the caller's to fix. */
async function askActiveCampaign<T>(connection: Connection, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof AuthenticationError)
      throw new ConflictError(
        'InvalidApiKey',
        `ActiveCampaign refused the API key of connection "${connection.displayName}": replace the key`,
      );
    if (error instanceof ActiveCampaignError)
      throw new UpstreamError(
        'ActiveCampaignUnreachable',
        `ActiveCampaign at ${connection.hostname} did not answer: ${error.message}`,
      );
    throw error;
  }
}

/** The account's lists, for the console's list picker. */
export async function listLists(
  deps: ConnectionDeps,
  principal: Principal,
  id: string,
): Promise<{ id: string; name: string }[]> {
  const connection = await findConnection(deps, principal, id);
  const client = await deps.activeCampaign(connection);
  const lists = await askActiveCampaign(connection, () => client.listLists());
  return lists.map((l) => ({ id: String(l.id), name: String(l.name) }));
}

/**
 * Creates a list in the connection's account (the console's list picker offers it beside the
 * account's lists), for whoever may use the connection; recorded in the audit log.
 */
export async function createList(
  deps: ConnectionDeps,
  principal: Principal,
  id: string,
  input: z.infer<typeof createListSchema>,
): Promise<{ id: string; name: string }> {
  const connection = await findConnection(deps, principal, id);
  const client = await deps.activeCampaign(connection);
  const list = await askActiveCampaign(connection, () => client.createList(input));
  await recordAudit(deps, principal, 'list.created', connectionTarget(connection), {
    listId: list.id,
    listName: list.name,
  });
  return { id: list.id, name: list.name };
}

/** The account's custom fields with their types and options, for the console's data matching. */
export async function listFields(
  deps: ConnectionDeps,
  principal: Principal,
  id: string,
): Promise<{ id: string; title: string; type: string; options?: string[] }[]> {
  const connection = await findConnection(deps, principal, id);
  const client = await deps.activeCampaign(connection);
  const fields = await askActiveCampaign(connection, () => client.listFields());
  return fields.map((f) => ({
    id: f.id,
    title: f.title,
    type: f.type,
    ...(f.options.length > 0 ? { options: f.options } : {}),
  }));
}
