/**
 * A loopback ActiveCampaign API v3 emulator for tests, the demo and the benchmark. It implements
 * the endpoints the app calls as ActiveCampaign documents them (developers.activecampaign.com/reference;
 * the subset of the API's schema in test/fixtures/activecampaign-openapi.json): Api-Token authentication, the
 * per-account rate limits, the bulk
 * importer's validation and size limits, and asynchronous imports. Not part of the deployed app.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface EmulatorList {
  id: number;
  name: string;
  /** Set for lists made with POST /lists (the others take the emulator's defaults). */
  stringid?: string;
  senderUrl?: string;
  senderReminder?: string;
}

export interface EmulatorField {
  id: number;
  title: string;
  /**
   * dropdown, hidden, checkbox, date, text, datetime, textarea, NULL, listbox, radio, number (the documented types).
   */
  type: string;
  /** The values of a dropdown, radio, checkbox or listbox field (served as `fieldOptions`). */
  options?: string[];
}

export interface EmulatorContact {
  id: number;
  email: string;
  firstName: string;
  lastName: string;
  phone: string;
  fields: Record<string, string>;
  /** list id → 1 (active) or 2 (unsubscribed), as ActiveCampaign's contactList status. */
  lists: Record<string, 1 | 2>;
  /** list id → when the membership last changed (ms since epoch): the contactList's `udate`. */
  listUpdated: Record<string, number>;
  tags: string[];
}

export interface EmulatorFaults {
  /** Answer every request 429 until this time (ms since epoch). */
  throttleUntil?: number;
  /** Answer every request 503 until this time. */
  unavailableUntil?: number;
  /** Delay every answer by this many ms (to go past a client's timeout). */
  delayInMs?: number;
  /** Answer 200 with an HTML login page, as ActiveCampaign does for some bad keys. */
  htmlLoginPage?: boolean;
  /** Imports end with this status instead of `completed` (the next `count` imports). */
  importOutcome?: { status: 'failed' | 'interrupted'; count: number };
  /** Emails the POST's validation refuses although they look fine (the whole request is rejected). */
  rejectInValidation?: (email: string) => boolean;
  /** Emails that pass the POST's validation and then fail in processing (listed in `failure`). */
  failInProcessing?: (email: string) => boolean;
}

export interface EmulatorOptions {
  port?: number;
  apiKeys?: string[];
  lists?: EmulatorList[];
  fields?: EmulatorField[];
  /** 0 turns the limit off. */
  requestsPerSecond?: number;
  bulkImportsPerMinute?: number;
  singleContactImportsPerMinute?: number;
  /** How long an import stays `false`, `waiting` and `active` before it completes, in ms. */
  importPhaseInMs?: number;
  /** Keep the request log (every request's time, path and status); the benchmark turns it off. */
  recordRequests?: boolean;
  /** Also keep each request's and answer's JSON body in the log (conformance tests). */
  recordBodies?: boolean;
}

export interface RecordedRequest {
  at: number;
  method: string;
  path: string;
  status: number;
  kind: 'request' | 'bulkImport';
  refusedForRate: boolean;
  contacts?: number;
  requestBody?: unknown;
  responseBody?: unknown;
}

interface ImportBatch {
  id: string;
  createdAt: number;
  contacts: ImportPayloadContact[];
  excludeAutomations: boolean;
  outcome: 'completed' | 'failed' | 'interrupted';
  result?: { success: string[]; failure: string[] };
}

interface ImportPayloadContact {
  email: string;
  first_name?: string;
  last_name?: string;
  phone?: string;
  fields?: { id: number | string; value: string }[];
  tags?: string[];
  subscribe?: { listid: number | string }[];
  unsubscribe?: { listid: number | string }[];
}

export const EMULATOR_API_KEY = 'emulator-api-key-0123456789abcdef';

// Answer bodies follow the documented examples field for field (see test/activecampaign/emulatorConformance.test.ts).
const links = (base: string, names: string[]) => Object.fromEntries(names.map((n) => [n, `${base}/${n}`]));

function userBody(origin: string) {
  return {
    user: {
      username: 'admin',
      firstName: 'Emulated',
      lastName: 'Admin',
      email: 'admin@example.com',
      phone: '',
      signature: null,
      links: links(`${origin}/api/3/users/1`, ['lists', 'userGroup', 'dealGroupTotals', 'dealGroupUsers', 'configs']),
      id: '1',
    },
  };
}

function listBody(origin: string, list: EmulatorList) {
  return {
    list: {
      stringid: list.stringid ?? list.name.toLowerCase().replace(/\W+/g, '-'),
      userid: '1',
      name: list.name,
      cdate: '2024-01-01T00:00:00-06:00',
      p_use_tracking: '1',
      p_use_analytics_read: '0',
      p_use_analytics_link: '0',
      p_use_twitter: '0',
      p_use_facebook: '0',
      p_embed_image: '1',
      p_use_captcha: '1',
      send_last_broadcast: '0',
      private: '0',
      analytics_domains: null,
      analytics_source: '',
      analytics_ua: '',
      twitter_token: '',
      twitter_token_secret: '',
      facebook_session: null,
      carboncopy: null,
      subscription_notify: null,
      unsubscription_notify: null,
      require_name: '0',
      get_unsubscribe_reason: '0',
      to_name: 'Subscriber',
      optinoptout: '1',
      sender_name: '',
      sender_addr1: '',
      sender_addr2: '',
      sender_city: '',
      sender_state: '',
      sender_zip: '',
      sender_country: '',
      sender_phone: '',
      sender_url: list.senderUrl ?? 'http://www.example.com',
      sender_reminder: list.senderReminder ?? 'You signed up for my mailing list.',
      fulladdress: '',
      optinmessageid: '0',
      optoutconf: '0',
      deletestamp: null,
      udate: null,
      links: links(`${origin}/api/3/lists/${list.id}`, ['contactGoalLists', 'user', 'addressLists']),
      id: String(list.id),
      user: '1',
    },
  };
}

/** Option ids are the field id times 1000 plus the option's position. */
const optionId = (f: EmulatorField, i: number) => String(f.id * 1000 + i + 1);

function fieldBody(origin: string, f: EmulatorField, ordernum: number) {
  return {
    title: f.title,
    descript: null,
    type: f.type,
    isrequired: '0',
    perstag: f.title.toUpperCase().replace(/\W+/g, '_'),
    defval: null,
    show_in_list: '0',
    rows: '0',
    cols: '0',
    visible: '1',
    service: '',
    ordernum: String(ordernum),
    cdate: '2024-01-01T00:00:00-06:00',
    udate: '2024-01-01T00:00:00-06:00',
    options: (f.options ?? []).map((_, i) => optionId(f, i)),
    relations: [],
    links: links(`${origin}/api/3/fields/${f.id}`, ['options', 'relations']),
    id: String(f.id),
  };
}

/** A fieldOption as the documentation's fieldOption example shows it. */
function fieldOptionBody(origin: string, f: EmulatorField, value: string, i: number) {
  return {
    orderid: i + 1,
    value,
    label: value,
    isdefault: 0,
    field: String(f.id),
    cdate: '2024-01-01T00:00:00-06:00',
    udate: '2024-01-01T00:00:00-06:00',
    links: { field: `${origin}/api/3/fieldOptions/${optionId(f, i)}/field` },
    id: optionId(f, i),
  };
}

/** ActiveCampaign's timestamps: ISO 8601 with an offset, no fraction. */
const acTime = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '-00:00');

function contactBody(origin: string, c: EmulatorContact) {
  return {
    cdate: '2024-01-01T00:00:00-06:00',
    email: c.email,
    phone: c.phone,
    firstName: c.firstName,
    lastName: c.lastName,
    orgid: '0',
    segmentio_id: '',
    bounced_hard: '0',
    bounced_soft: '0',
    bounced_date: '0000-00-00',
    ip: '0',
    ua: '',
    hash: '',
    socialdata_lastcheck: '0000-00-00 00:00:00',
    email_local: '',
    email_domain: '',
    sentcnt: '0',
    rating_tstamp: '0000-00-00',
    gravatar: '0',
    deleted: '0',
    anonymized: '0',
    udate: '2024-01-01T00:00:00-06:00',
    deleted_at: '0000-00-00 00:00:00',
    scoreValues: [],
    links: links(`${origin}/api/3/contacts/${c.id}`, [
      'bounceLogs',
      'contactAutomations',
      'contactData',
      'contactGoals',
      'contactLists',
      'contactLogs',
      'contactTags',
      'contactDeals',
      'deals',
      'fieldValues',
      'geoIps',
      'notes',
      'organization',
      'plusAppend',
      'trackingLogs',
      'scoreValues',
    ]),
    id: String(c.id),
    organization: null,
  };
}

function contactListBody(origin: string, c: EmulatorContact, listId: string) {
  const id = `${c.id}${listId}`;
  return {
    contact: String(c.id),
    list: listId,
    form: null,
    seriesid: '0',
    sdate: acTime(c.listUpdated[listId] ?? 0),
    udate: acTime(c.listUpdated[listId] ?? 0),
    status: String(c.lists[listId]),
    responder: '1',
    sync: '0',
    unsubreason: null,
    campaign: null,
    message: null,
    first_name: c.firstName,
    last_name: c.lastName,
    ip4Sub: '0',
    sourceid: '0',
    autosyncLog: null,
    ip4_last: '0',
    ip4Unsub: '0',
    created_timestamp: '2024-01-01 00:00:00',
    updated_timestamp: '2024-01-01 00:00:00',
    created_by: null,
    updated_by: null,
    unsubscribeAutomation: null,
    links: links(`${origin}/api/3/contactLists/${id}`, [
      'automation',
      'list',
      'contact',
      'form',
      'autosyncLog',
      'campaign',
      'unsubscribeAutomation',
      'message',
    ]),
    id,
    automation: null,
  };
}

/** A tag as `GET /tags` and `POST /tags` show it (developers.activecampaign.com/reference/retrieve-all-tags). */
function tagBody(origin: string, id: number, name: string) {
  return {
    tagType: 'contact',
    tag: name,
    description: '',
    cdate: '2024-01-01T00:00:00-06:00',
    links: { contactGoalTags: `${origin}/api/3/tags/${id}/contactGoalTags` },
    id: String(id),
  };
}

/** A contact's tag as `GET /contacts/{id}/contactTags` shows it (reference/contact-tags). */
function contactTagBody(origin: string, contactId: number, tagId: number, id: number) {
  return {
    contact: String(contactId),
    tag: String(tagId),
    cdate: '2024-01-01T00:00:00-06:00',
    created_timestamp: '2024-01-01 00:00:00',
    updated_timestamp: '2024-01-01 00:00:00',
    created_by: null,
    updated_by: null,
    links: links(`${origin}/api/3/contactTags/${id}`, ['tag', 'contact']),
    id: String(id),
  };
}

/**
 * Whether a custom field value is one ActiveCampaign's field type takes (the forms its "custom
 * field value" documentation gives): dates YYYY-MM-DD, date-times ISO 8601, numbers, dropdown and
 * radio one option, checkbox and listbox `||a||b||` of options.
 */
export function fieldValueProblem(f: EmulatorField | undefined, value: string): string | undefined {
  if (!f) return undefined;
  const options = f.options ?? [];
  switch (f.type) {
    case 'date':
      return /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(value))
        ? undefined
        : 'is not a date (YYYY-MM-DD)';
    case 'datetime':
      return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2})$/.test(value) &&
        !Number.isNaN(Date.parse(value))
        ? undefined
        : 'is not an ISO 8601 date-time';
    case 'number':
      return value.trim() !== '' && Number.isFinite(Number(value)) ? undefined : 'is not a number';
    case 'dropdown':
    case 'radio':
      return options.includes(value) ? undefined : 'is not one of the options';
    case 'checkbox':
    case 'listbox': {
      const m = /^\|\|(.+)\|\|$/.exec(value);
      if (!m) return 'is not in the form ||a||b||';
      return m[1].split('||').every((v) => options.includes(v))
        ? undefined
        : 'names a value that is not one of the options';
    }
    default:
      return undefined;
  }
}

// The check ActiveCampaign's importer applies to `email` is not documented: the emulator takes a
// dot-atom local part (RFC 5322 atext, apostrophes included) and an ASCII domain.
const EMAIL =
  /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z0-9-]{2,}$/i;
const MAX_CONTACTS = 250;
const MAX_BYTES = 400_000;

/** `limit` and `offset` of a listing (ActiveCampaign's pages hold at most 100). */
function page(url: URL): { limit: number; offset: number } {
  return {
    limit: Math.min(100, Number(url.searchParams.get('limit') ?? 20) || 20),
    offset: Number(url.searchParams.get('offset') ?? 0) || 0,
  };
}

export class ActiveCampaignEmulator {
  readonly contacts = new Map<string, EmulatorContact>();
  readonly requests: RecordedRequest[] = [];
  readonly imports = new Map<string, ImportBatch>();
  faults: EmulatorFaults = {};
  /** Count of requests refused for rate (429 or "Rate limit exceeded."), kept even when the log is off. */
  refusedForRate = 0;
  acceptedRequests = 0;
  acceptedImports = 0;
  /** Contacts imported without exclude_automations (each would have started the account's automations). */
  automationsTriggered = 0;
  readonly options: Required<Omit<EmulatorOptions, 'port'>>;
  #server = createServer((req, res) => void this.#handle(req, res));
  #recentRequests: number[] = [];
  #recentImports: number[] = [];
  #recentSingleImports: number[] = [];
  #nextContactId = 1;
  #port = 0;

  /**
   * The account's tags: id → name. ActiveCampaign matches tag names case-insensitively: the importer
   * and `POST /tags` reuse a tag whatever its case (reference/bulk-import-contacts, create-a-new-tag).
   */
  readonly tags = new Map<number, string>();
  /** `contactId/tagId` → the contactTag's id (the id `DELETE /contactTags/{id}` takes). */
  readonly #contactTagIds = new Map<string, number>();
  #nextTagId = 1;
  #nextContactTagId = 1;

  /** The tag of this name (any case), created when the account has none. */
  tagNamed(name: string): { id: number; name: string } {
    for (const [id, existing] of this.tags)
      if (existing.toLowerCase() === name.toLowerCase()) return { id, name: existing };
    const id = this.#nextTagId++;
    this.tags.set(id, name);
    return { id, name };
  }

  #contactTagId(contact: EmulatorContact, tagId: number): number {
    const key = `${contact.id}/${tagId}`;
    let id = this.#contactTagIds.get(key);
    if (id === undefined) {
      id = this.#nextContactTagId++;
      this.#contactTagIds.set(key, id);
    }
    return id;
  }

  /** A contact that came to the account some other way (its forms, a person, another tool): a test's set-up. */
  addContact(email: string, values: Partial<Omit<EmulatorContact, 'id' | 'email'>> = {}): EmulatorContact {
    const contact: EmulatorContact = {
      id: this.#nextContactId++,
      email: email.trim().toLowerCase(),
      firstName: '',
      lastName: '',
      phone: '',
      fields: {},
      lists: {},
      listUpdated: {},
      tags: [],
      ...values,
    };
    this.contacts.set(contact.email, contact);
    return contact;
  }

  constructor(options: EmulatorOptions = {}) {
    this.options = {
      apiKeys: options.apiKeys ?? [EMULATOR_API_KEY],
      lists: options.lists ?? [{ id: 1, name: 'Newsletter' }],
      fields: options.fields ?? [
        { id: 1, title: 'Loyalty tier', type: 'text' },
        { id: 2, title: 'City', type: 'text' },
      ],
      requestsPerSecond: options.requestsPerSecond ?? 5,
      bulkImportsPerMinute: options.bulkImportsPerMinute ?? 100,
      singleContactImportsPerMinute: options.singleContactImportsPerMinute ?? 20,
      importPhaseInMs: options.importPhaseInMs ?? 200,
      recordRequests: options.recordRequests ?? true,
      recordBodies: options.recordBodies ?? false,
    };
  }

  async listen(port = 0): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  get port(): number {
    return this.#port;
  }

  /** What a connection's `hostname` is set to (and what ACTIVECAMPAIGN_INSECURE_HOSTS must list). */
  get hostname(): string {
    return `127.0.0.1:${this.#port}`;
  }

  get url(): string {
    return `http://${this.hostname}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Forgets the requests counted in the rate windows (tests that change limits mid-way). */
  resetRateWindows(): void {
    this.#recentRequests = [];
    this.#recentImports = [];
    this.#recentSingleImports = [];
  }

  /** Emails of the contacts subscribed (status 1) to a list. */
  listMembers(listId: number): string[] {
    const out: string[] = [];
    for (const c of this.contacts.values()) if (c.lists[String(listId)] === 1) out.push(c.email);
    return out;
  }

  /** Requests per whole second (keyed by epoch second) and per whole minute. */
  requestsPerWindow(): { perSecond: Map<number, number>; perMinuteImports: Map<number, number> } {
    const perSecond = new Map<number, number>();
    const perMinuteImports = new Map<number, number>();
    for (const r of this.requests) {
      if (r.refusedForRate) continue;
      const s = Math.floor(r.at / 1000);
      perSecond.set(s, (perSecond.get(s) ?? 0) + 1);
      if (r.kind === 'bulkImport') {
        const m = Math.floor(r.at / 60_000);
        perMinuteImports.set(m, (perMinuteImports.get(m) ?? 0) + 1);
      }
    }
    return { perSecond, perMinuteImports };
  }

  /** The most accepted requests in any sliding window of `windowInMs` (for budget checks). */
  maxInSlidingWindow(windowInMs: number, kind?: 'bulkImport'): number {
    const times = this.requests.filter((r) => !r.refusedForRate && (!kind || r.kind === kind)).map((r) => r.at);
    let max = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i] - times[j] >= windowInMs) j++;
      max = Math.max(max, i - j + 1);
    }
    return max;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Arrival time: when the request line arrived, before its body is read.
    const at = Date.now();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://emulator');
    const kind = req.method === 'POST' && url.pathname === '/api/3/import/bulk_import' ? 'bulkImport' : 'request';
    const send = async (
      status: number,
      body: unknown,
      headers: Record<string, string> = {},
      refusedForRate = false,
      contacts?: number,
    ) => {
      if (this.options.recordRequests) {
        const entry: RecordedRequest = {
          at,
          method: req.method ?? 'GET',
          path: url.pathname,
          status,
          kind,
          refusedForRate,
          contacts,
        };
        if (this.options.recordBodies) {
          try {
            entry.requestBody = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
          } catch {
            entry.requestBody = raw.toString('utf8');
          }
          entry.responseBody = body;
        }
        this.requests.push(entry);
      }
      if (refusedForRate) this.refusedForRate++;
      if (this.faults.delayInMs) await new Promise((r) => setTimeout(r, this.faults.delayInMs));
      if (res.destroyed) return;
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, {
        'content-type': typeof body === 'string' ? 'text/html; charset=utf-8' : 'application/json',
        ...headers,
      });
      res.end(text);
    };

    if (url.pathname.startsWith('/__emulator/')) return this.#admin(url, res);
    if (!url.pathname.startsWith('/api/3/')) return send(404, { message: 'Not Found' });

    const key = req.headers['api-token'];
    if (typeof key !== 'string' || !this.options.apiKeys.includes(key)) {
      return send(403, { message: 'No Result found for Subscriber with id 0' });
    }
    if (this.faults.htmlLoginPage) {
      return send(
        200,
        '<!DOCTYPE html><html><head><title>Login</title></head><body>Log in to ActiveCampaign</body></html>',
      );
    }
    if (this.faults.throttleUntil && at < this.faults.throttleUntil) {
      return send(
        429,
        { message: 'Too Many Requests' },
        { 'retry-after': String(Math.ceil((this.faults.throttleUntil - at) / 1000)) },
        true,
      );
    }
    if (this.faults.unavailableUntil && at < this.faults.unavailableUntil) {
      return send(503, { message: 'Service Unavailable' }, { 'retry-after': '1' }, true);
    }

    // 5 requests per second per account, any endpoint (sliding window: stricter than a fixed one).
    const rps = this.options.requestsPerSecond;
    if (rps > 0) {
      this.#recentRequests = this.#recentRequests.filter((t) => at - t < 1000);
      if (this.#recentRequests.length >= rps) {
        return send(
          429,
          { message: 'Too Many Requests' },
          { 'retry-after': '1', 'ratelimit-limit': String(rps), 'ratelimit-remaining': '0' },
          true,
        );
      }
      this.#recentRequests.push(at);
    }

    let body: unknown = undefined;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return send(400, { errors: [{ title: 'Invalid JSON', detail: 'The request body is not valid JSON' }] });
      }
    }

    const path = url.pathname.slice('/api/3'.length);
    if (req.method === 'GET' && path === '/users/me') {
      this.acceptedRequests++;
      return send(200, userBody(this.url));
    }
    const listMatch = /^\/lists\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && listMatch) {
      this.acceptedRequests++;
      const list = this.options.lists.find((l) => String(l.id) === listMatch[1]);
      if (!list) return send(404, { message: `No Result found for _List with id ${listMatch[1]}` });
      return send(200, listBody(this.url, list));
    }
    // Create a list (developers.activecampaign.com/reference/create-new-list): `name`, `stringid`,
    // `sender_url` and `sender_reminder` are required; without them the documented answer is 400 `{}`.
    if (req.method === 'POST' && path === '/lists') {
      this.acceptedRequests++;
      const wanted = (body as { list?: Record<string, unknown> } | undefined)?.list;
      const text = (k: string) => {
        const value = wanted?.[k];
        return typeof value === 'string' && value.trim() ? value : undefined;
      };
      const [name, stringid, senderUrl, senderReminder] = ['name', 'stringid', 'sender_url', 'sender_reminder'].map(
        text,
      );
      if (!name || !stringid || !senderUrl || !senderReminder) return send(400, {});
      const list: EmulatorList = {
        id: Math.max(0, ...this.options.lists.map((l) => l.id)) + 1,
        name,
        stringid,
        senderUrl,
        senderReminder,
      };
      this.options.lists.push(list);
      const created = listBody(this.url, list).list;
      return send(200, {
        list: {
          name: created.name,
          stringid: created.stringid,
          cdate: created.cdate,
          udate: created.cdate,
          links: created.links,
          id: created.id,
        },
      });
    }
    if (req.method === 'GET' && path === '/lists') {
      this.acceptedRequests++;
      const { limit, offset } = page(url);
      const lists = this.options.lists.slice(offset, offset + limit).map((l) => listBody(this.url, l).list);
      return send(200, { lists, meta: { total: String(this.options.lists.length) } });
    }
    if (req.method === 'GET' && path === '/fields') {
      this.acceptedRequests++;
      const { limit, offset } = page(url);
      const fields = this.options.fields.slice(offset, offset + limit);
      const fieldOptions = fields.flatMap((f) => (f.options ?? []).map((o, i) => fieldOptionBody(this.url, f, o, i)));
      return send(200, {
        fieldOptions,
        fieldRels: [],
        fields: fields.map((f, i) => fieldBody(this.url, f, offset + i + 1)),
        meta: { total: String(this.options.fields.length) },
      });
    }
    if (req.method === 'GET' && path === '/contacts') {
      this.acceptedRequests++;
      const email = url.searchParams.get('email')?.trim().toLowerCase();
      const listId = url.searchParams.get('listid');
      const status = url.searchParams.get('status');
      const found = [...this.contacts.values()].filter(
        (c) =>
          (!email || c.email === email) &&
          (!listId || c.lists[listId] !== undefined) &&
          (!status ||
            status === '-1' ||
            (listId ? String(c.lists[listId]) === status : Object.values(c.lists).map(String).includes(status))),
      );
      const pageInput = {
        segmentid: 0,
        formid: 0,
        listid: Number(listId ?? 0),
        tagid: 0,
        limit: 20,
        offset: 0,
        search: null,
        sort: null,
        seriesid: 0,
        waitid: 0,
        status: Number(status ?? -1),
        forceQuery: 0,
        cacheid: '',
      };
      return send(200, {
        scoreValues: [],
        contacts: found.slice(0, 100).map((c) => contactBody(this.url, c)),
        meta: { total: String(found.length), page_input: pageInput },
      });
    }
    // Delete a contact (developers.activecampaign.com/reference/delete-contact): 200 `{}`, or 404 with a message.
    const contactMatch = /^\/contacts\/([^/]+)$/.exec(path);
    // Update a contact (reference/update-a-contact-new): a new email, names, phone; 404 as documented. A new
    // email another contact has is refused with create-a-new-contact's documented 422 (this page documents none).
    if (req.method === 'PUT' && contactMatch) {
      this.acceptedRequests++;
      const contact = [...this.contacts.values()].find((c) => String(c.id) === contactMatch[1]);
      if (!contact) return send(404, { message: `No Result found for Subscriber with id ${contactMatch[1]}` });
      const update = (body as { contact?: Record<string, unknown> } | undefined)?.contact ?? {};
      const email = typeof update.email === 'string' ? update.email.trim().toLowerCase() : contact.email;
      const other = this.contacts.get(email);
      if (other && other !== contact)
        return send(422, {
          errors: [
            {
              title: 'Email address already exists in the system.',
              detail: '',
              code: 'duplicate',
              source: { pointer: '/data/attributes/email' },
            },
          ],
        });
      this.contacts.delete(contact.email);
      contact.email = email;
      if (typeof update.firstName === 'string') contact.firstName = update.firstName;
      if (typeof update.lastName === 'string') contact.lastName = update.lastName;
      if (typeof update.phone === 'string') contact.phone = update.phone;
      // `fieldValues: [{field, value}]` sets custom fields; an empty value empties the field.
      const fieldValues = Array.isArray(update.fieldValues) ? (update.fieldValues as Record<string, unknown>[]) : [];
      for (const f of fieldValues)
        if (typeof f.value === 'string') {
          if (f.value === '') delete contact.fields[String(f.field)];
          else contact.fields[String(f.field)] = f.value;
        }
      this.contacts.set(email, contact);
      // The documented answer carries a few dates the GET's contact has not.
      return send(200, {
        fieldValues: [],
        contact: {
          ...contactBody(this.url, contact),
          adate: acTime(Date.now()),
          edate: null,
          created_utc_timestamp: '2024-01-01 00:00:00',
          updated_utc_timestamp: acTime(Date.now()),
        },
      });
    }
    if (req.method === 'DELETE' && contactMatch) {
      this.acceptedRequests++;
      const contact = [...this.contacts.values()].find((c) => String(c.id) === contactMatch[1]);
      if (!contact) return send(404, { message: `No result found for contact with id ${contactMatch[1]}` });
      this.contacts.delete(contact.email);
      return send(200, {});
    }
    // A contact's tags (reference/contact-tags): one contactTag per tag, its id is what a removal takes.
    const contactTagsMatch = /^\/contacts\/([^/]+)\/contactTags$/.exec(path);
    if (req.method === 'GET' && contactTagsMatch) {
      this.acceptedRequests++;
      const contact = [...this.contacts.values()].find((c) => String(c.id) === contactTagsMatch[1]);
      if (!contact) return send(404, { message: `No Result found for Subscriber with id ${contactTagsMatch[1]}` });
      return send(200, {
        contactTags: contact.tags.map((name) => {
          const tag = this.tagNamed(name);
          return contactTagBody(this.url, contact.id, tag.id, this.#contactTagId(contact, tag.id));
        }),
      });
    }
    // Remove a tag from a contact (reference/remove-a-contacts-tag): 200 `{}`, or the documented 404.
    const contactTagMatch = /^\/contactTags\/([^/]+)$/.exec(path);
    if (req.method === 'DELETE' && contactTagMatch) {
      this.acceptedRequests++;
      const key = [...this.#contactTagIds].find(([, id]) => String(id) === contactTagMatch[1])?.[0];
      const [contactId, tagId] = (key ?? '/').split('/');
      const contact = [...this.contacts.values()].find((c) => String(c.id) === contactId);
      const name = this.tags.get(Number(tagId));
      if (!contact || name === undefined || !contact.tags.includes(name))
        return send(404, { message: `No Result found for SubscriberTag with id ${contactTagMatch[1]}` });
      contact.tags = contact.tags.filter((t) => t !== name);
      this.#contactTagIds.delete(key!);
      return send(200, {});
    }
    // The account's tags whose name contains `search`, any case (reference/retrieve-all-tags).
    if (req.method === 'GET' && path === '/tags') {
      this.acceptedRequests++;
      const search = (url.searchParams.get('search') ?? '').toLowerCase();
      const found = [...this.tags].filter(([, name]) => name.toLowerCase().includes(search));
      return send(200, {
        tags: found.slice(0, 100).map(([id, name]) => tagBody(this.url, id, name)),
        meta: { total: String(found.length) },
      });
    }
    const contactListsMatch = /^\/contacts\/([^/]+)\/contactLists$/.exec(path);
    if (req.method === 'GET' && contactListsMatch) {
      this.acceptedRequests++;
      const contact = [...this.contacts.values()].find((c) => String(c.id) === contactListsMatch[1]);
      if (!contact) return send(404, { message: `No Result found for Subscriber with id ${contactListsMatch[1]}` });
      return send(200, { contactLists: Object.keys(contact.lists).map((l) => contactListBody(this.url, contact, l)) });
    }
    if (req.method === 'POST' && path === '/contactLists') {
      this.acceptedRequests++;
      const cl = (body as { contactList?: { list?: unknown; contact?: unknown; status?: unknown } } | undefined)
        ?.contactList;
      const contact = [...this.contacts.values()].find((c) => String(c.id) === String(cl?.contact));
      const status = Number(cl?.status);
      if (
        !cl ||
        !contact ||
        !this.options.lists.some((l) => String(l.id) === String(cl.list)) ||
        (status !== 1 && status !== 2)
      ) {
        return send(400, {
          errors: [
            {
              title: 'The contact list could not be updated',
              detail: 'contact, list and status (1 or 2) are required',
              code: 'field_invalid',
              source: { pointer: '/data/attributes/contactList' },
            },
          ],
        });
      }
      // Unlike the importer, contactLists can re-subscribe (the documentation warns about it).
      this.#setList(contact, String(cl.list), status, Date.now());
      // The documented answer to this POST has unsubreason "" and a numeric status (the GET's has null and a string).
      const updated = {
        ...contactBody(this.url, contact),
        adate: acTime(Date.now()),
        created_utc_timestamp: '2024-01-01 00:00:00',
        updated_utc_timestamp: '2024-01-01 00:00:00',
      };
      return send(200, {
        contacts: [updated],
        contactList: { ...contactListBody(this.url, contact, String(cl.list)), status, unsubreason: '' },
      });
    }
    if (req.method === 'GET' && path === '/import/info') {
      this.acceptedRequests++;
      const batchId = url.searchParams.get('batchId');
      if (!batchId) return send(400, { success: 0, message: "'batchId' is a required field." });
      const batch = this.imports.get(batchId);
      if (!batch) return send(404, { message: `No Result found for batch ${batchId}` });
      return send(200, this.#importInfo(batch, at));
    }
    if (kind === 'bulkImport') return this.#bulkImport(raw.length, body, at, send);
    return send(404, { message: 'Not Found' });
  }

  async #bulkImport(
    bytes: number,
    body: unknown,
    at: number,
    send: (
      status: number,
      body: unknown,
      headers?: Record<string, string>,
      refusedForRate?: boolean,
      contacts?: number,
    ) => Promise<void>,
  ): Promise<void> {
    const contacts = (body as { contacts?: unknown })?.contacts;
    if (!Array.isArray(contacts) || contacts.length === 0) {
      return send(400, {
        success: 0,
        message: 'JSON payload did not pass validation.',
        failureReasons: ["'contacts' is a required field."],
      });
    }
    const single = contacts.length === 1;
    const perMinute = single ? this.options.singleContactImportsPerMinute : this.options.bulkImportsPerMinute;
    const recent = (single ? this.#recentSingleImports : this.#recentImports).filter((t) => at - t < 60_000);
    if (single) this.#recentSingleImports = recent;
    else this.#recentImports = recent;
    if (perMinute > 0 && recent.length >= perMinute) {
      return send(
        400,
        {
          success: 0,
          message: 'Rate limit exceeded.',
          failureReasons: [
            `Up to ${perMinute} imports may be requested per minute.Please batch contacts into larger requests, or retry this request in a minute.`,
          ],
        },
        {},
        true,
        contacts.length,
      );
    }
    if (contacts.length > MAX_CONTACTS || bytes > MAX_BYTES) {
      return send(400, {
        success: 0,
        message:
          'JSON payload did not pass validation. Please fix failure Reasons and retry. The import was not queued for processing.',
        failureReasons: [
          contacts.length > MAX_CONTACTS
            ? `Up to ${MAX_CONTACTS} contacts may be included in a single request.`
            : `The request may be at most ${MAX_BYTES} bytes.`,
        ],
      });
    }
    const failureReasons: { contact: number; failureReason: string }[] = [];
    contacts.forEach((c: ImportPayloadContact, index: number) => {
      if (!c || typeof c.email !== 'string' || !EMAIL.test(c.email))
        failureReasons.push({ contact: index, failureReason: 'Field‘ email’ incorrect format' });
      else if (this.faults.rejectInValidation?.(c.email))
        failureReasons.push({ contact: index, failureReason: 'Field‘ email’ is on a blocklist' });
      else if (c.tags !== undefined && !(Array.isArray(c.tags) && c.tags.every((t) => typeof t === 'string')))
        failureReasons.push({ contact: index, failureReason: 'Field‘ tags’ must be an array of strings' });
      else {
        for (const f of c.fields ?? []) {
          const problem = fieldValueProblem(
            this.options.fields.find((d) => String(d.id) === String(f.id)),
            String(f.value),
          );
          if (problem) {
            failureReasons.push({ contact: index, failureReason: `Field‘ ${f.id}’ ${problem}` });
            break;
          }
        }
      }
    });
    if (failureReasons.length > 0) {
      return send(400, {
        success: 0,
        message:
          'JSON payload did not pass validation. Please fix failure Reasons and retry. The import was not queued for processing.',
        failureReasons,
      });
    }
    recent.push(at);
    this.acceptedRequests++;
    this.acceptedImports++;
    const outcome =
      this.faults.importOutcome && this.faults.importOutcome.count > 0 ? this.faults.importOutcome.status : 'completed';
    if (this.faults.importOutcome && outcome !== 'completed') this.faults.importOutcome.count--;
    const batch: ImportBatch = {
      id: randomUUID(),
      createdAt: at,
      contacts: contacts as ImportPayloadContact[],
      outcome,
      excludeAutomations: (body as { exclude_automations?: unknown }).exclude_automations === true,
    };
    this.imports.set(batch.id, batch);
    // The import is applied when its processing phase ends, whether or not anyone polls.
    setTimeout(() => this.#complete(batch), this.options.importPhaseInMs * 3).unref();
    return send(
      200,
      { Success: 1, queued_contacts: contacts.length, batchId: batch.id, message: 'Contact import queued' },
      {},
      false,
      contacts.length,
    );
  }

  #importInfo(batch: ImportBatch, now: number): unknown {
    const age = now - batch.createdAt;
    const phase = this.options.importPhaseInMs;
    if (batch.result) return { status: batch.outcome, success: batch.result.success, failure: batch.result.failure };
    if (age < phase) return { status: false, success: [], failure: [] };
    if (age < phase * 2) return { status: 'waiting', success: [], failure: [] };
    return { status: 'active', success: [], failure: [] };
  }

  #complete(batch: ImportBatch): void {
    if (batch.result) return;
    const success: string[] = [];
    const failure: string[] = [];
    if (batch.outcome !== 'completed') {
      batch.result = { success, failure };
      return;
    }
    for (const c of batch.contacts) {
      const email = c.email.trim().toLowerCase();
      if (this.faults.failInProcessing?.(email)) {
        failure.push(c.email);
        continue;
      }
      let contact = this.contacts.get(email);
      if (!contact) {
        contact = this.addContact(email);
        success.push(String(contact.id));
      }
      if (c.first_name !== undefined) contact.firstName = c.first_name;
      if (c.last_name !== undefined) contact.lastName = c.last_name;
      if (c.phone !== undefined) contact.phone = c.phone;
      for (const f of c.fields ?? []) contact.fields[String(f.id)] = f.value;
      // The importer adds tags; it never removes one.
      for (const t of c.tags ?? []) {
        const { name } = this.tagNamed(t);
        if (!contact.tags.includes(name)) contact.tags.push(name);
      }
      for (const s of c.subscribe ?? []) {
        // The importer cannot re-subscribe a contact who unsubscribed from the list.
        if (contact.lists[String(s.listid)] !== 2) this.#setList(contact, String(s.listid), 1, Date.now());
      }
      for (const u of c.unsubscribe ?? []) this.#setList(contact, String(u.listid), 2, Date.now());
      if (!batch.excludeAutomations) this.automationsTriggered++;
    }
    batch.result = { success, failure };
  }

  #setList(contact: EmulatorContact, listId: string, status: 1 | 2, at: number): void {
    if (contact.lists[listId] === status) return;
    contact.lists[listId] = status;
    contact.listUpdated[listId] = at;
  }

  /** A contact unsubscribing from a list on its own (an unsubscribe link), at `at`. */
  unsubscribeByContact(email: string, listId: number, at = Date.now()): void {
    const contact = this.contacts.get(email);
    if (contact) this.#setList(contact, String(listId), 2, at);
  }

  #admin(url: URL, res: ServerResponse): void {
    const listId = url.searchParams.get('listid');
    let body: unknown;
    if (url.pathname === '/__emulator/contacts') {
      const all = [...this.contacts.values()];
      body = { contacts: listId ? all.filter((c) => c.lists[listId] === 1) : all };
    } else if (url.pathname === '/__emulator/stats') {
      body = {
        acceptedRequests: this.acceptedRequests,
        acceptedImports: this.acceptedImports,
        refusedForRate: this.refusedForRate,
        contacts: this.contacts.size,
      };
    } else {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }
}

export async function startActiveCampaignEmulator(options: EmulatorOptions = {}): Promise<ActiveCampaignEmulator> {
  return new ActiveCampaignEmulator(options).listen(options.port ?? 0);
}
