import { z } from 'zod';
import { AuthenticationError, InvalidHostnameError, RateLimitError, TransientError } from '../activecampaign/errors.js';
import { activeCampaignBaseUrl } from '../activecampaign/hostname.js';
import { isAdmin, type Principal } from '../auth/principal.js';
import { ApiError, badRequest, notFound } from '../http/apiError.js';
import type { Connection } from '../model.js';
import { newId } from '../runs/runLifecycle.js';
import { apiKeySecretName } from '../secrets/secretStore.js';
import type { AppServices } from '../services.js';

export const createConnectionSchema = z.strictObject({
  displayName: z.string().trim().min(1).max(200),
  hostname: z.string().trim().min(1).max(253),
  apiKey: z.string().trim().min(1).max(500),
  allowContributors: z.boolean().optional(),
  dataPrivacyConsent: z.boolean().optional(),
});

export const updateConnectionSchema = z.strictObject({
  apiKey: z.string().trim().min(1).max(500).optional(),
  displayName: z.string().trim().min(1).max(200).optional(),
  allowContributors: z.boolean().optional(),
});

/** Whether a caller may see and use a connection. */
export const canUseConnection = (principal: Principal, connection: Connection) => isAdmin(principal) || connection.allowContributors;

/** Checks a key against ActiveCampaign (GET /api/3/users/me) and turns failures into 400s. */
export async function verifyApiKey(svc: AppServices, connection: Pick<Connection, 'id' | 'hostname'>, apiKey: string): Promise<void> {
  try {
    activeCampaignBaseUrl(connection.hostname, svc.config.insecureHosts);
    await (await svc.activeCampaign(connection, apiKey)).getCurrentUser();
  } catch (error) {
    if (error instanceof InvalidHostnameError) throw badRequest(error.message, 'InvalidHostname');
    if (error instanceof AuthenticationError) throw badRequest(`ActiveCampaign did not accept the API key for ${connection.hostname}`, 'InvalidApiKey');
    if (error instanceof TransientError || error instanceof RateLimitError) {
      throw badRequest(`ActiveCampaign at ${connection.hostname} could not be reached: ${error.message}`, 'ActiveCampaignUnreachable');
    }
    throw badRequest(`ActiveCampaign at ${connection.hostname} did not confirm the API key: ${(error as Error).message}`, 'ActiveCampaignCheckFailed');
  }
}

export async function createConnection(svc: AppServices, principal: Principal, input: z.infer<typeof createConnectionSchema>): Promise<Connection> {
  if (input.dataPrivacyConsent !== true) {
    throw badRequest('dataPrivacyConsent: must be true: contacts\' personal data will be sent to ActiveCampaign', 'ConsentRequired');
  }
  const connection: Connection = {
    id: newId(),
    displayName: input.displayName,
    hostname: input.hostname.toLowerCase(),
    allowContributors: input.allowContributors ?? false,
    dataPrivacyConsent: { givenBy: principal.name, givenAt: new Date().toISOString() },
    createdAt: new Date().toISOString(),
    createdBy: principal.name,
  };
  await verifyApiKey(svc, connection, input.apiKey);
  await svc.secrets.set(apiKeySecretName(connection.id), input.apiKey);
  try {
    await svc.connections.create(connection);
  } catch (error) {
    await svc.secrets.delete(apiKeySecretName(connection.id));
    throw error;
  }
  return connection;
}

export async function getConnection(svc: AppServices, principal: Principal, id: string): Promise<Connection> {
  const connection = await svc.connections.get(id);
  if (!connection || !canUseConnection(principal, connection)) throw notFound(`Connection ${id}`);
  return connection;
}

export async function listConnections(svc: AppServices, principal: Principal): Promise<Connection[]> {
  return (await svc.connections.list()).filter((c) => canUseConnection(principal, c));
}

/** Replaces the key (checked first), the name or who may use the connection. */
export async function updateConnection(svc: AppServices, id: string, input: z.infer<typeof updateConnectionSchema>): Promise<Connection> {
  const connection = await svc.connections.get(id);
  if (!connection) throw notFound(`Connection ${id}`);
  if (input.apiKey) {
    await verifyApiKey(svc, connection, input.apiKey);
    await svc.secrets.set(apiKeySecretName(id), input.apiKey);
  }
  const updated = { ...connection, displayName: input.displayName ?? connection.displayName, allowContributors: input.allowContributors ?? connection.allowContributors };
  await svc.connections.replace(updated);
  return updated;
}

export async function deleteConnection(svc: AppServices, id: string): Promise<void> {
  const connection = await svc.connections.get(id);
  if (!connection) throw notFound(`Connection ${id}`);
  const users = (await svc.exports.list()).filter((e) => e.connectionId === id);
  if (users.length > 0) {
    throw new ApiError(409, 'ConnectionInUse', `Connection ${id} is used by ${users.length} export(s): ${users.map((e) => e.id).join(', ')}`);
  }
  await svc.connections.delete(id);
  await svc.secrets.delete(apiKeySecretName(id));
}
