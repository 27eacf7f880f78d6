/**
 * The console's only way to the app: the public HTTP API under /api. State-changing calls send
 * JSON (the API refuses anything else, so no other site can use the session). The API's messages
 * name the field they concern ("listId: …"); `ApiFailure.field` carries that name. Request bodies
 * are typed from the schemas the server validates with, so a renamed field fails the build.
 */
import type { CreateExportBody, StartRunBody, UpdateExportBody } from '../../shared/exports/exportSchema';
import type { Connection, Export, RefreshOutlook, Run, RunCounts } from '../../shared/model';
import { TERMINAL_STATUSES } from '../../shared/model';
import type { AuditEntry } from '../../shared/audit/auditLog';
import type { ErasureRecord } from '../../shared/erasures/erasureModel';
import type { Webhook, WebhookEventType } from '../../shared/webhooks/webhookModel';

export type { AuditEntry, ErasureRecord, Webhook, WebhookEventType };

export type { Connection, CreateExportBody, Export, RefreshOutlook, Run, RunCounts, StartRunBody, UpdateExportBody };

/** Whether a run has ended (the server's own set of terminal statuses). */
export const isTerminal = (run: Pick<Run, 'status'>) => TERMINAL_STATUSES.has(run.status);

export interface Me {
  name: string;
  role: 'admin' | 'contributor' | 'none';
}

export interface AcList {
  id: string;
  name: string;
}

export interface AcField {
  id: string;
  title: string;
  type: string;
  options?: string[];
}

export interface Preview {
  source: { container: string; path: string; table?: string };
  layout?: 'cdm' | 'customerInsights' | 'files';
  files: { name: string; size?: number; lastModified?: string }[];
  columns: string[];
  rows: Record<string, string>[];
  problem?: string;
  ready: boolean;
  retryAfterSeconds?: number;
}

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }

  /** The request field the message names ("mapping.email: …" → "mapping.email"), if any. */
  get field(): string | undefined {
    return /^([A-Za-z][\w.]*): /.exec(this.message)?.[1];
  }

  /** The message without its field prefix, for showing under the field. */
  get detail(): string {
    return this.field ? this.message.slice(this.field.length + 2) : this.message;
  }
}

/** Thrown when the caller is not signed in (401): the console shows its sign-in page. */
export class SignInNeeded extends Error {}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`/api${path}`, {
    method,
    credentials: 'same-origin',
    // In Azure, App Service Authentication redirects a browser whose session ended to the sign-in page:
    // a fetch must not follow that, it means "sign in again".
    redirect: 'manual',
    headers:
      method === 'GET'
        ? { accept: 'application/json' }
        : { 'content-type': 'application/json', accept: 'application/json' },
    body: body === undefined ? (method === 'GET' ? undefined : '{}') : JSON.stringify(body),
  });
  if (response.status === 401 || response.type === 'opaqueredirect') throw new SignInNeeded('Sign in first');
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const error = (json?.error ?? {}) as { code?: string; message?: string };
    throw new ApiFailure(
      response.status,
      error.code ?? 'Error',
      error.message ?? `The app answered ${response.status}`,
      json ?? {},
    );
  }
  return json as T;
}

export const api = {
  me: () => call<Me>('GET', '/me'),
  connections: () => call<{ value: Connection[] }>('GET', '/connections').then((r) => r.value),
  checkConnection: (body: { hostname: string; apiKey: string }) =>
    call<{ hostname: string; user: { username?: string; email?: string } }>('POST', '/connections/check', body),
  createConnection: (body: {
    displayName: string;
    hostname: string;
    apiKey: string;
    allowContributors: boolean;
    dataPrivacyConsent: boolean;
  }) => call<Connection>('POST', '/connections', body),
  updateConnection: (id: string, body: { displayName?: string; apiKey?: string; allowContributors?: boolean }) =>
    call<Connection>('PATCH', `/connections/${id}`, body),
  deleteConnection: (id: string) => call<void>('DELETE', `/connections/${id}`),
  lists: (connectionId: string) =>
    call<{ value: AcList[] }>('GET', `/connections/${connectionId}/lists`).then((r) => r.value),
  createList: (connectionId: string, body: { name: string; senderUrl: string; senderReminder: string }) =>
    call<AcList>('POST', `/connections/${connectionId}/lists`, body),
  fields: (connectionId: string) =>
    call<{ value: AcField[] }>('GET', `/connections/${connectionId}/fields`).then((r) => r.value),
  preview: (source: { container: string; path: string; table?: string }) =>
    call<Preview>('POST', '/sources/preview', source),
  exports: () => call<{ value: Export[] }>('GET', '/exports').then((r) => r.value),
  getExport: (id: string) => call<Export & { refresh?: RefreshOutlook }>('GET', `/exports/${id}`),
  createExport: (body: CreateExportBody) => call<Export>('POST', '/exports', body),
  updateExport: (id: string, body: UpdateExportBody) => call<Export>('PATCH', `/exports/${id}`, body),
  deleteExport: (id: string) => call<void>('DELETE', `/exports/${id}`),
  startRun: (id: string, body: StartRunBody) =>
    call<{ runId: string; status: string }>('POST', `/exports/${id}/runs`, body),
  runs: (id: string, page: { top?: number; continuationToken?: string } = {}) => {
    const query = new URLSearchParams();
    if (page.top) query.set('top', String(page.top));
    if (page.continuationToken) query.set('continuationToken', page.continuationToken);
    return call<{ value: Run[]; continuationToken?: string }>(
      'GET',
      `/exports/${id}/runs${query.size ? `?${query}` : ''}`,
    );
  },
  getRun: (id: string, runId: string) => call<Run>('GET', `/exports/${id}/runs/${runId}`),
  cancelRun: (id: string, runId: string) => call<Run>('POST', `/exports/${id}/runs/${runId}/cancel`),
  sample: (id: string, runId: string) =>
    call<{ contacts: unknown[]; wouldUpsert: number; wouldUnsubscribe: number }>(
      'GET',
      `/exports/${id}/runs/${runId}/sample`,
    ),
  rejectedRowsUrl: (id: string, runId: string) => `/api/exports/${id}/runs/${runId}/rejected`,
  changesUrl: (id: string, runId: string) => `/api/exports/${id}/runs/${runId}/changes`,
  webhooks: () => call<{ value: Webhook[] }>('GET', '/webhooks').then((r) => r.value),
  createWebhook: (body: { url: string; events: WebhookEventType[] }) =>
    call<Webhook & { secret: string }>('POST', '/webhooks', body),
  deleteWebhook: (id: string) => call<void>('DELETE', `/webhooks/${id}`),
  testWebhook: (id: string) =>
    call<{ ok: boolean; status?: number; error?: string; eventId: string }>('POST', `/webhooks/${id}/test`),
  erase: (body: { email: string; action: 'delete' | 'unsubscribe' }) => call<ErasureRecord>('POST', '/erasures', body),
  erasures: () => call<{ value: ErasureRecord[] }>('GET', '/erasures').then((r) => r.value),
  audit: (page: { continuationToken?: string } = {}) =>
    call<{ value: AuditEntry[]; continuationToken?: string }>(
      'GET',
      `/audit${page.continuationToken ? `?continuationToken=${encodeURIComponent(page.continuationToken)}` : ''}`,
    ),
};

/** Plain words for a failure that is not an ApiFailure (the network, the browser). */
export function describeError(error: unknown): string {
  if (error instanceof ApiFailure) return error.message;
  if (error instanceof TypeError) return 'The app could not be reached. Check the connection and try again.';
  return error instanceof Error ? error.message : String(error);
}
