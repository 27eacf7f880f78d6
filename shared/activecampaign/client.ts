import { randomUUID } from 'node:crypto';
import got, { RequestError } from 'got';
import {
  ActiveCampaignError,
  AuthenticationError,
  InvalidHostnameError,
  parseRetryAfter,
  ActiveCampaignNotFoundError,
  RateLimitError,
  TransientError,
  ValidationError,
  type ContactFailure,
} from './errors.js';
import { NON_PUBLIC_ADDRESS, publicOnlyLookup, type LookupFunction } from '../http/publicAddress.js';
import { activeCampaignBaseUrl } from './hostname.js';

/** A contact as the bulk importer spells it (snake_case, unlike contact/sync). */
export interface ImportContact {
  email: string;
  first_name?: string;
  last_name?: string;
  phone?: string;
  fields?: { id: number; value: string }[];
  /** Tags to add (the importer adds tags, never removes them). */
  tags?: string[];
  /** The documented schema types listid as a string (its example uses numbers; both are accepted). */
  subscribe?: { listid: string }[];
  unsubscribe?: { listid: string }[];
}

export type ImportStatus = 'waiting' | 'claimed' | 'active' | 'completed' | 'failed' | 'interrupted';

export interface ImportInfo {
  status: ImportStatus;
  /** Ids of contacts the import created. */
  success: string[];
  /** Emails the import could not process, although the request passed validation. */
  failure: string[];
}

export type RequestKind = 'request' | 'bulkImport';

/**
 * Runs once the budget grants a request, just before it is sent; throwing stops it. The run
 * engine's send worker marks its batch as posting there and looks whether the run has ended.
 */
export type SendGate = () => Promise<void>;

export interface AcquireOptions {
  abortSignal?: AbortSignal;
  /** Runs once the slot has come, before the budget checks the request is still on time. */
  gate?: SendGate;
  /** How long the caller may wait for the budget in all; 0: give up early (queue work retries later). */
  patienceInMs?: number;
}

/** Shared per-account rate budget: resolves when this request may be sent. */
export interface RequestBudget {
  acquire(kind: RequestKind, options?: AcquireOptions): Promise<void>;
}

export interface ActiveCampaignClientOptions {
  /** `host:port` entries that may be called over plain http (loopback emulators). */
  insecureHosts?: readonly string[];
  timeoutInMs?: number;
  budget?: RequestBudget;
  log?: (message: string) => void;
  /** How hostnames are resolved (tests give a fake); every answer is kept to public addresses. */
  lookup?: LookupFunction;
  /** Passed by every request once the budget grants it (see withGate). */
  gate?: SendGate;
}

export interface OperationOptions {
  abortSignal?: AbortSignal;
  /**
   * How long a read may wait for the shared budget and for ActiveCampaign's throttling (429/503)
   * before it fails. Interactive calls wait their turn (default 20 s); queue workers pass 0 and
   * put their message back on the queue instead. A POST is never retried here.
   */
  patienceInMs?: number;
}

/** How long a read waits for its turn by default (an HTTP answer must come within 230 s). */
export const DEFAULT_PATIENCE_IN_MS = 20_000;

export interface ActiveCampaignList {
  id: string;
  name: string;
  [key: string]: unknown;
}

export interface ActiveCampaignField {
  id: string;
  title: string;
  type: string;
  perstag?: string;
  /** The values a dropdown, radio, checkbox or listbox field offers (from the sideloaded fieldOptions). */
  options: string[];
}

/** A contact as `GET /contacts` lists it (only what the app reads). */
export interface ActiveCampaignContact {
  id: string;
  email: string;
}

/** A contact's membership of a list: status 1 active, 2 unsubscribed (`udate`: when it last changed). */
export interface ContactListMembership {
  list: string;
  status: string;
  udate?: string;
}

/** Failures that happen before a request leaves the machine. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_INVALID_URL',
]);

const IMPORT_STATUSES = new Set<ImportStatus>(['waiting', 'claimed', 'active', 'completed', 'failed', 'interrupted']);
/** ActiveCampaign's largest page. */
const PAGE_SIZE = 100;

/** The single module that talks to ActiveCampaign's API v3. */
export class ActiveCampaignClient {
  readonly baseUrl: string;
  readonly hostname: string;
  readonly #apiKey: string;
  readonly #options: ActiveCampaignClientOptions;
  /** Undefined for a listed loopback emulator (ACTIVECAMPAIGN_INSECURE_HOSTS), which is called as it is. */
  readonly #lookup?: LookupFunction;

  constructor(hostname: string, apiKey: string, options: ActiveCampaignClientOptions = {}) {
    this.baseUrl = activeCampaignBaseUrl(hostname, options.insecureHosts);
    this.hostname = hostname.trim().toLowerCase();
    this.#apiKey = apiKey;
    this.#options = options;
    this.#lookup = this.baseUrl.startsWith('https://') ? publicOnlyLookup(options.lookup) : undefined;
  }

  /**
   * The same client, whose every request passes `gate` once the budget grants it, just before it
   * is sent (the way a pipeline policy wraps an Azure SDK client's requests).
   */
  withGate(gate: SendGate): ActiveCampaignClient {
    return new ActiveCampaignClient(this.hostname, this.#apiKey, { ...this.#options, gate });
  }

  /** The user that owns the key; the cheapest call that proves a key is valid. */
  async getCurrentUser(options: OperationOptions = {}): Promise<{ id: string; email?: string; username?: string }> {
    const body = await this.#send('GET', '/users/me', undefined, 'request', options);
    const user = (body as { user?: { id: string } }).user;
    if (!user || typeof user !== 'object') throw unexpectedBody('users/me', body);
    return user;
  }

  async getList(listId: number | string, options: OperationOptions = {}): Promise<ActiveCampaignList> {
    const body = await this.#send('GET', `/lists/${encodeURIComponent(String(listId))}`, undefined, 'request', options);
    const list = (body as { list?: ActiveCampaignList }).list;
    if (!list || typeof list !== 'object') throw unexpectedBody('lists', body);
    return list;
  }

  /** The account's lists, across pages (at most 100 a page). */
  async listLists(options: OperationOptions = {}): Promise<ActiveCampaignList[]> {
    const lists: ActiveCampaignList[] = [];
    for (let offset = 0; ; offset += PAGE_SIZE) {
      const body = (await this.#send(
        'GET',
        `/lists?limit=${PAGE_SIZE}&offset=${offset}`,
        undefined,
        'request',
        options,
      )) as { lists?: ActiveCampaignList[]; meta?: { total?: string | number } };
      if (!Array.isArray(body.lists)) throw unexpectedBody('lists', body);
      lists.push(...body.lists.map((l) => ({ ...l, id: String(l.id), name: String(l.name) })));
      if (body.lists.length < PAGE_SIZE || lists.length >= Number(body.meta?.total ?? lists.length)) return lists;
    }
  }

  /**
   * Every custom field of the account with its options, across pages (at most 100 a page). The
   * options come sideloaded as `fieldOptions` ({field, value, label}); a field lists their ids.
   */
  async listFields(options: OperationOptions = {}): Promise<ActiveCampaignField[]> {
    const fields: ActiveCampaignField[] = [];
    for (let offset = 0; ; offset += PAGE_SIZE) {
      const body = (await this.#send(
        'GET',
        `/fields?limit=${PAGE_SIZE}&offset=${offset}`,
        undefined,
        'request',
        options,
      )) as {
        fields?: (Omit<ActiveCampaignField, 'options'> & { options?: unknown })[];
        fieldOptions?: { field?: unknown; value?: unknown; label?: unknown; orderid?: unknown }[];
        meta?: { total?: string | number };
      };
      if (!Array.isArray(body.fields)) throw unexpectedBody('fields', body);
      const byField = new Map<string, string[]>();
      for (const o of Array.isArray(body.fieldOptions) ? body.fieldOptions : []) {
        const value =
          typeof o.value === 'string' || typeof o.value === 'number'
            ? String(o.value)
            : typeof o.label === 'string'
              ? o.label
              : '';
        if (value) byField.set(String(o.field), [...(byField.get(String(o.field)) ?? []), value]);
      }
      fields.push(
        ...body.fields.map((f) => ({
          id: String(f.id),
          title: String(f.title),
          type: String(f.type ?? ''),
          perstag: f.perstag,
          options: byField.get(String(f.id)) ?? [],
        })),
      );
      // meta.total is a string in ActiveCampaign's answers.
      const total = Number(body.meta?.total ?? fields.length);
      if (body.fields.length < PAGE_SIZE || fields.length >= total) return fields;
    }
  }

  /**
   * Contacts with this email (`GET /contacts?email=`), optionally only those on a list (`listid`)
   * with a list status (`status`: 1 active, 2 unsubscribed).
   */
  async findContacts(
    email: string,
    filter: { listId?: number; status?: 1 | 2 } = {},
    options: OperationOptions = {},
  ): Promise<ActiveCampaignContact[]> {
    const query = new URLSearchParams({ email });
    if (filter.listId !== undefined) query.set('listid', String(filter.listId));
    if (filter.status !== undefined) query.set('status', String(filter.status));
    const body = (await this.#send('GET', `/contacts?${query.toString()}`, undefined, 'request', options)) as {
      contacts?: { id?: unknown; email?: unknown }[];
    };
    if (!Array.isArray(body.contacts)) throw unexpectedBody('contacts', body);
    return body.contacts.map((c) => ({ id: String(c.id), email: String(c.email) }));
  }

  /**
   * Changes a contact's email (`PUT /contacts/{id}`): the same contact, with its history, lists and
   * automations. False when ActiveCampaign has no such contact.
   */
  async changeContactEmail(contactId: string, email: string, options: OperationOptions = {}): Promise<boolean> {
    try {
      const body = (await this.#send(
        'PUT',
        `/contacts/${encodeURIComponent(contactId)}`,
        { contact: { email } },
        'request',
        options,
      )) as { contact?: unknown };
      if (!body.contact || typeof body.contact !== 'object') throw unexpectedBody('contact', body);
      return true;
    } catch (error) {
      if (error instanceof ActiveCampaignNotFoundError) return false;
      throw error;
    }
  }

  /**
   * Empties a contact's first name, last name, phone and custom fields (`PUT /contacts/{id}` with
   * empty values): the source emptied them and the export says `clear`. False when there is no such contact.
   */
  async clearContactValues(
    contactId: string,
    clear: { firstName?: boolean; lastName?: boolean; phone?: boolean; fields?: number[] },
    options: OperationOptions = {},
  ): Promise<boolean> {
    const contact: Record<string, unknown> = {};
    if (clear.firstName) contact.firstName = '';
    if (clear.lastName) contact.lastName = '';
    if (clear.phone) contact.phone = '';
    if (clear.fields?.length) contact.fieldValues = clear.fields.map((field) => ({ field: String(field), value: '' }));
    try {
      await this.#send('PUT', `/contacts/${encodeURIComponent(contactId)}`, { contact }, 'request', options);
      return true;
    } catch (error) {
      if (error instanceof ActiveCampaignNotFoundError) return false;
      throw error;
    }
  }

  /** Deletes a contact from the account (an erasure); false when ActiveCampaign has no such contact. */
  async deleteContact(contactId: string, options: OperationOptions = {}): Promise<boolean> {
    try {
      await this.#send('DELETE', `/contacts/${encodeURIComponent(contactId)}`, undefined, 'request', options);
      return true;
    } catch (error) {
      if (error instanceof ActiveCampaignNotFoundError) return false;
      throw error;
    }
  }

  /**
   * The ids of the account's tags named `name`, matched as ActiveCampaign does, whatever the case
   * (`GET /tags?search=`, which matches on "contains": the exact names are picked from its answer).
   */
  async findTagIds(name: string, options: OperationOptions = {}): Promise<string[]> {
    const query = new URLSearchParams({ search: name, limit: '100' });
    const body = (await this.#send('GET', `/tags?${query.toString()}`, undefined, 'request', options)) as {
      tags?: { id?: unknown; tag?: unknown }[];
    };
    if (!Array.isArray(body.tags)) throw unexpectedBody('tags', body);
    return body.tags.filter((t) => String(t.tag).toLowerCase() === name.toLowerCase()).map((t) => String(t.id));
  }

  /** A contact's tags (`GET /contacts/{id}/contactTags`): each contactTag's id and its tag's id. */
  async getContactTags(contactId: string, options: OperationOptions = {}): Promise<{ id: string; tag: string }[]> {
    const body = (await this.#send(
      'GET',
      `/contacts/${encodeURIComponent(contactId)}/contactTags`,
      undefined,
      'request',
      options,
    )) as { contactTags?: { id?: unknown; tag?: unknown }[] };
    if (!Array.isArray(body.contactTags)) throw unexpectedBody('contactTags', body);
    return body.contactTags.map((t) => ({ id: String(t.id), tag: String(t.tag) }));
  }

  /** Removes a tag from a contact (`DELETE /contactTags/{id}`); false when it was not there (any more). */
  async removeContactTag(contactTagId: string, options: OperationOptions = {}): Promise<boolean> {
    try {
      await this.#send('DELETE', `/contactTags/${encodeURIComponent(contactTagId)}`, undefined, 'request', options);
      return true;
    } catch (error) {
      if (error instanceof ActiveCampaignNotFoundError) return false;
      throw error;
    }
  }

  /** A contact's list memberships (`GET /contacts/{id}/contactLists`). */
  async getContactLists(contactId: string, options: OperationOptions = {}): Promise<ContactListMembership[]> {
    const body = (await this.#send(
      'GET',
      `/contacts/${encodeURIComponent(contactId)}/contactLists`,
      undefined,
      'request',
      options,
    )) as { contactLists?: Record<string, unknown>[] };
    if (!Array.isArray(body.contactLists)) throw unexpectedBody('contactLists', body);
    return body.contactLists.map((m) => ({
      list: String(m.list),
      status: String(m.status),
      udate: typeof m.udate === 'string' ? m.udate : undefined,
    }));
  }

  /**
   * Subscribes (1) or unsubscribes (2) a contact to or from a list (`POST /contactLists`). Unlike the
   * importer this can re-subscribe a contact; `sourceid: 4` is what the documentation asks for then.
   * Repeating it is harmless (the status is set, not toggled).
   */
  async updateListStatus(
    contactId: string,
    listId: number,
    status: 1 | 2,
    options: OperationOptions = {},
  ): Promise<void> {
    const contactList: Record<string, unknown> = {
      list: String(listId),
      contact: String(contactId),
      status: String(status),
    };
    if (status === 1) contactList.sourceid = 4;
    const body = (await this.#send('POST', '/contactLists', { contactList }, 'request', options)) as {
      contactList?: unknown;
    };
    if (!body.contactList || typeof body.contactList !== 'object') throw unexpectedBody('contactLists', body);
  }

  /**
   * Creates a list. ActiveCampaign requires a URL-safe `stringid` (made here from the name), the
   * website the list is for and a reminder of why its contacts are on it (shown in every email).
   */
  async createList(
    list: { name: string; senderUrl: string; senderReminder: string },
    options: OperationOptions = {},
  ): Promise<ActiveCampaignList> {
    const stringid =
      list.name
        .normalize('NFKD')
        .replace(/[^\w\s-]/g, '')
        .trim()
        .replace(/[\s_]+/g, '-')
        .toLowerCase()
        .slice(0, 60) || `list-${Date.now()}`;
    const body = (await this.#send(
      'POST',
      '/lists',
      { list: { name: list.name, stringid, sender_url: list.senderUrl, sender_reminder: list.senderReminder } },
      'request',
      options,
    )) as { list?: ActiveCampaignList };
    if (!body.list || typeof body.list !== 'object') throw unexpectedBody('lists', body);
    return { ...body.list, id: String(body.list.id), name: String(body.list.name) };
  }

  /**
   * Queues one bulk import (callers keep to MAX_CONTACTS_PER_IMPORT and MAX_IMPORT_BYTES).
   * A POST is never retried here: the caller owns that decision.
   */
  async bulkImport(
    contacts: ImportContact[],
    options: OperationOptions & { excludeAutomations?: boolean } = {},
  ): Promise<{ batchId: string; queuedContacts: number }> {
    const payload: Record<string, unknown> = { contacts };
    if (options.excludeAutomations) payload.exclude_automations = true;
    const body = (await this.#send('POST', '/import/bulk_import', payload, 'bulkImport', options)) as Record<
      string,
      unknown
    >;
    // The documented example says "Success"; other answers say "success".
    const success = body.Success ?? body.success;
    if (Number(success) !== 1 || typeof body.batchId !== 'string') throw unexpectedBody('import/bulk_import', body);
    return { batchId: body.batchId, queuedContacts: Number(body.queued_contacts ?? contacts.length) };
  }

  async getImportInfo(batchId: string, options: OperationOptions = {}): Promise<ImportInfo> {
    const body = (await this.#send(
      'GET',
      `/import/info?batchId=${encodeURIComponent(batchId)}`,
      undefined,
      'request',
      options,
    )) as {
      status?: unknown;
      success?: unknown;
      failure?: unknown;
    };
    if (!body || typeof body !== 'object' || !('status' in body)) throw unexpectedBody('import/info', body);
    // Just after the POST the status is boolean false: the import is not claimed yet.
    const status = body.status === false ? 'waiting' : String(body.status);
    if (!IMPORT_STATUSES.has(status as ImportStatus)) throw unexpectedBody('import/info', body);
    return {
      status: status as ImportStatus,
      success: Array.isArray(body.success) ? body.success.map(String) : [],
      failure: Array.isArray(body.failure) ? body.failure.map(String) : [],
    };
  }

  async #send(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    payload: unknown,
    kind: RequestKind,
    options: OperationOptions,
  ): Promise<unknown> {
    // Reads are safe to repeat: they wait out throttling within their patience. A POST is the caller's call.
    const patienceInMs = method === 'GET' ? (options.patienceInMs ?? DEFAULT_PATIENCE_IN_MS) : 0;
    const deadline = Date.now() + patienceInMs;
    for (;;) {
      const remaining = Math.max(0, deadline - Date.now());
      const { budget, gate } = this.#options;
      if (budget) await budget.acquire(kind, { abortSignal: options.abortSignal, patienceInMs: remaining, gate });
      else await gate?.();
      try {
        return await this.#request(method, path, payload, options);
      } catch (error) {
        if (!(error instanceof RateLimitError) || Date.now() + error.retryAfterInMs > deadline) throw error;
        this.#options.log?.(
          `ActiveCampaign ${method} ${path.split('?')[0]} throttled; trying again in ${error.retryAfterInMs} ms`,
        );
        await sleep(error.retryAfterInMs, options.abortSignal);
      }
    }
  }

  async #request(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    payload: unknown,
    options: OperationOptions,
  ): Promise<unknown> {
    const requestId = randomUUID();
    const started = Date.now();
    const what = `${method} ${path.split('?')[0]}`;
    let response;
    try {
      response = await got(`${this.baseUrl}${path}`, {
        method,
        headers: { 'Api-Token': this.#apiKey, accept: 'application/json', 'x-request-id': requestId },
        json: payload,
        responseType: 'text',
        throwHttpErrors: false,
        followRedirect: false,
        retry: { limit: 0 },
        timeout: { request: this.#options.timeoutInMs ?? 30_000 },
        signal: options.abortSignal,
        ...(this.#lookup ? { dnsLookup: this.#lookup } : {}),
      });
    } catch (error) {
      this.#options.log?.(
        `ActiveCampaign ${what} request ${requestId} failed after ${Date.now() - started} ms: ${describe(error)}`,
      );
      if (options.abortSignal?.aborted) throw error;
      if ((error as { code?: unknown }).code === NON_PUBLIC_ADDRESS)
        throw new InvalidHostnameError((error as Error).message);
      // A connection never made sent nothing; a timeout or a reset after the request went out may have done it.
      const notSent = NOT_SENT_CODES.has(String((error as { code?: unknown }).code));
      throw new TransientError(`${what} on ${this.hostname} failed: ${describe(error)}`, undefined, undefined, {
        cause: error,
        mayHaveArrived: method === 'POST' && !notSent,
      });
    }
    const status = response.statusCode;
    this.#options.log?.(`ActiveCampaign ${what} request ${requestId} -> ${status} in ${Date.now() - started} ms`);
    const body = parseJson(response.body);
    const message = errorMessage(body);

    if (status >= 200 && status < 300) {
      // A bad key can answer 200 with an HTML login page.
      if (body === undefined)
        throw new AuthenticationError(
          `${what} on ${this.hostname} answered ${status} with a body that is not JSON (is the API key right?)`,
          status,
        );
      return body;
    }
    const retryAfter = () => parseRetryAfter(response.headers['retry-after'], 1_000);
    if (status === 429 || status === 503) {
      throw new RateLimitError(
        `${what} on ${this.hostname} was throttled (${status})${message ? `: ${message}` : ''}`,
        retryAfter(),
        status,
        body,
      );
    }
    if (status === 401 || status === 403) {
      throw new AuthenticationError(
        `ActiveCampaign refused the API key for ${this.hostname} (${status})${message ? `: ${message}` : ''}`,
        status,
        body,
      );
    }
    if (status === 404)
      throw new ActiveCampaignNotFoundError(
        `${what} on ${this.hostname}: not found${message ? ` (${message})` : ''}`,
        status,
        body,
      );
    if (status === 400 && /rate limit/i.test(message ?? '')) {
      // The importer's per-minute limit; it names no delay, and the window is a minute.
      throw new RateLimitError(`${what} on ${this.hostname}: ${message}`, Math.max(retryAfter(), 10_000), status, body);
    }
    if (status === 400 || status === 422) {
      throw new ValidationError(
        `${what} on ${this.hostname} was rejected: ${message ?? `status ${status}`}`,
        contactFailures(body),
        status,
        body,
      );
    }
    if (status >= 500) {
      // A gateway's 502 or 504 says nothing about whether ActiveCampaign behind it acted on a POST.
      throw new TransientError(
        `${what} on ${this.hostname} answered ${status}${message ? `: ${message}` : ''}`,
        status,
        body,
        { mayHaveArrived: method === 'POST' && (status === 502 || status === 504) },
      );
    }
    throw new ActiveCampaignError(
      `${what} on ${this.hostname} answered ${status}${message ? `: ${message}` : ''}`,
      status,
      body,
    );
  }
}

/** Why a signal aborted, as an Error (a reason given as something else is wrapped). */
export const abortReason = (signal: AbortSignal): Error =>
  signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'aborted'));

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(abortReason(signal));
      },
      { once: true },
    );
  });
}

function parseJson(text: string): unknown {
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** ActiveCampaign's error bodies have no single shape: {errors:[{title}]}, {message}, {}, … */
function errorMessage(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const b = body as { message?: unknown; errors?: { title?: string; detail?: string }[] };
  if (typeof b.message === 'string') return b.message;
  if (Array.isArray(b.errors) && b.errors.length > 0) {
    return b.errors.map((e) => [e.title, e.detail].filter(Boolean).join(': ')).join('; ');
  }
  return undefined;
}

function contactFailures(body: unknown): ContactFailure[] {
  const reasons = (body as { failureReasons?: unknown } | undefined)?.failureReasons;
  if (!Array.isArray(reasons)) return [];
  return reasons
    .filter((r): r is { contact: unknown; failureReason?: unknown } => !!r && typeof r === 'object' && 'contact' in r)
    .map((r) => ({
      index: Number(r.contact),
      reason: typeof r.failureReason === 'string' ? r.failureReason : 'rejected by ActiveCampaign',
    }))
    .filter((f) => Number.isInteger(f.index) && f.index >= 0);
}

function unexpectedBody(what: string, body: unknown): ActiveCampaignError {
  return new ActiveCampaignError(`Unexpected answer from ${what}: ${JSON.stringify(body)?.slice(0, 200)}`, 200, body);
}

function describe(error: unknown): string {
  if (error instanceof RequestError) return `${error.code ?? error.name}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
