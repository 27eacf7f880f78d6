/**
 * The local runner: drives the function registrations of functions/*.ts the way the Azure
 * Functions host would (HTTP routes under /api, timers on their NCRONTAB schedule, queue triggers
 * with host.json's semantics). It is not the Azure Functions host; see the README for `func start`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { DequeuedMessageItem, QueueClient, QueueServiceClient } from '@azure/storage-queue';
import { SEGMENT_QUEUES } from '../../shared/runs/runQueues.js';
import { BlobEventSource } from './blobEvents.js';
import { CronExpressionParser } from 'cron-parser';
import { installFunctionsCore, registrations, triggerOf, type Registration } from './functionsCore.js';
import { applyDevSession, serveDevSignIn } from './devSignIn.js';
import { MAX_BODY_BYTES } from '../../shared/http/requests.js';
import { readQueueSettings, readRoutePrefix, type QueueSettings } from './hostSettings.js';

/** A body of at most `limit` bytes, or undefined past it (the rest is read and dropped, never kept). */
function readCapped(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received <= limit) chunks.push(chunk);
      // A sender that does not stop is cut off.
      else if (received > 16 * limit) req.destroy();
    });
    req.once('end', () => resolve(received > limit ? undefined : Buffer.concat(chunks)));
    req.once('error', reject);
    req.once('close', () => received > limit && resolve(undefined));
  });
}

/** Marks where a catch-all parameter stands while a route becomes a pattern (a character no route has). */
const CATCH_ALL = '\uE000';

/** An error as a log line: its stack when it has one. */
const describeError = (error: unknown) => (error instanceof Error ? (error.stack ?? error.message) : String(error));

/** Methods that carry no body; paths App Service Authentication leaves open (infra/main.bicep's excludedPaths). */
const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS']);
const OPEN_PATHS = new Set(['/api/health']);

export interface LocalRunnerOptions {
  port?: number;
  /** Folder of the function modules (functions/*.ts). */
  functionsDir?: string;
  hostJsonPath?: string;
  log?: (line: string) => void;
  /**
   * Only these triggers run (for example, a send-worker-only instance): 'http', 'timer', 'queue', and
   * 'events': blob-created events of the segments storage on `segment-events`, as Event Grid
   * delivers them in Azure (npm start runs them all; the class defaults to the first three).
   */
  triggers?: RunnerTrigger[];
  /** The message lease (default the host's 10 minutes); crash tests shorten it to see redelivery sooner. */
  messageLeaseInMs?: number;
}

export type RunnerTrigger = 'http' | 'timer' | 'queue' | 'events';

interface RouteMatcher {
  registration: Registration;
  methods: string[];
  pattern: RegExp;
  params: string[];
  /** A route with a catch-all parameter ({*path}) is tried after every other. */
  catchAll: boolean;
}

const ROOT = resolve(import.meta.dirname, '..', '..');
/**
 * How long a received message stays invisible while its handler runs, renewed at half-time: the
 * Functions host receives with 10 minutes and renews while the function runs (azure-webjobs-sdk,
 * QueueListener: "if the function runs longer than this, the invisibility will be updated on a timer
 * periodically"). A message held by an instance that dies comes back after up to this long; a
 * handler that fails releases its message after host.json's visibilityTimeout instead.
 */
export const HOST_MESSAGE_LEASE_IN_MS = 10 * 60_000;
/** The longest delay setTimeout keeps (2^31 - 1 ms). */
export const MAX_TIMER_DELAY_IN_MS = 2 ** 31 - 1;

export class LocalRunner {
  readonly options: Required<Omit<LocalRunnerOptions, 'port'>> & { port: number };
  #server?: Server;
  #stopping = false;
  #loops: Promise<void>[] = [];
  #timers = new Set<NodeJS.Timeout>();
  #inFlight = new Set<Promise<unknown>>();
  #routes: RouteMatcher[] = [];
  #wakers = new Set<() => void>();
  #blobEvents?: BlobEventSource;
  #routePrefix = 'api';
  /** The API's base URL (`…/api`). */
  url = '';
  /** The app's root URL (where the console is). */
  rootUrl = '';

  constructor(options: LocalRunnerOptions = {}) {
    this.options = {
      port: options.port ?? 7071,
      functionsDir: options.functionsDir ?? join(ROOT, 'functions'),
      hostJsonPath: options.hostJsonPath ?? join(ROOT, 'host.json'),
      log: options.log ?? ((line) => console.log(line)),
      triggers: options.triggers ?? ['http', 'timer', 'queue'],
      messageLeaseInMs: options.messageLeaseInMs ?? HOST_MESSAGE_LEASE_IN_MS,
    };
  }

  /** Loads the function modules once per process, so the registrations reach the core shim. */
  async load(): Promise<Registration[]> {
    installFunctionsCore(this.options.log);
    if (registrations.length === 0) {
      const files = readdirSync(this.options.functionsDir).filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts'));
      for (const file of files.sort()) await import(pathToFileURL(join(this.options.functionsDir, file)).href);
    }
    return registrations;
  }

  async start(): Promise<void> {
    const regs = await this.load();
    this.#routePrefix = readRoutePrefix(this.options.hostJsonPath);
    const { services } = await import('../../shared/services.js');
    const queueService = services().storage.queues;
    const settings = readQueueSettings(this.options.hostJsonPath);
    for (const reg of regs) {
      const trigger = triggerOf(reg);
      const type = trigger.type.toLowerCase();
      if (type === 'httptrigger' && this.options.triggers.includes('http')) this.#addRoute(reg);
      else if (type === 'timertrigger' && this.options.triggers.includes('timer'))
        this.#scheduleTimer(reg, String(trigger.schedule));
      else if (type === 'queuetrigger' && this.options.triggers.includes('queue')) {
        this.#loops.push(this.#pollQueue(reg, queueService, String(trigger.queueName), settings));
      }
    }
    if (this.options.triggers.includes('events')) {
      const svc = services();
      this.#blobEvents = new BlobEventSource(
        svc.segments.blobs,
        (event) => svc.queues.send(SEGMENT_QUEUES.events, event),
        { containers: svc.config.segmentsContainers, log: this.options.log },
      );
      await this.#blobEvents.start();
    }
    if (this.options.triggers.includes('http')) {
      this.#server = createServer((req, res) => {
        void this.#track(
          this.#serveHttp(req, res).catch((error) => {
            // Whatever went wrong, the caller gets an answer instead of a hanging request.
            this.options.log(`[http] error: ${describeError(error)}`);
            if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ error: { code: 'InternalError', message: 'The request failed' } }));
          }),
        );
      });
      await new Promise<void>((resolve, reject) => {
        this.#server!.once('error', reject);
        this.#server!.listen(this.options.port, '127.0.0.1', () => resolve());
      });
      const port = (this.#server.address() as AddressInfo).port;
      this.rootUrl = `http://127.0.0.1:${port}/`;
      this.url = `http://127.0.0.1:${port}/api`;
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    for (const wake of this.#wakers) wake();
    for (const t of this.#timers) clearTimeout(t);
    await this.#blobEvents?.stop();
    if (this.#server) {
      this.#server.closeIdleConnections();
      await new Promise<void>((resolve) => this.#server!.close(() => resolve()));
    }
    await Promise.allSettled(this.#loops);
    await Promise.allSettled([...this.#inFlight]);
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inFlight.add(p);
    void p.finally(() => this.#inFlight.delete(p)).catch(() => undefined);
    return p;
  }

  #context(reg: Registration, triggerMetadata?: Record<string, unknown>) {
    return import('@azure/functions').then(({ InvocationContext }) => {
      const invocationId = randomUUID();
      return new InvocationContext({
        invocationId,
        functionName: reg.name,
        triggerMetadata,
        logHandler: (level, ...args) =>
          this.options.log(`[${reg.name}] ${level === 'information' ? '' : `${level}: `}${args.map(String).join(' ')}`),
      });
    });
  }

  #addRoute(reg: Registration): void {
    const trigger = triggerOf(reg);
    const route = (typeof trigger.route === 'string' ? trigger.route : reg.name).replace(/^\/+/, '');
    const params: string[] = [];
    let catchAll = false;
    const source = route
      .split('/')
      .map((segment) => {
        const all = /^\{\*(\w+)\}$/.exec(segment);
        if (all) {
          catchAll = true;
          params.push(all[1]);
          return CATCH_ALL;
        }
        const m = /^\{(\w+)(?::[^}?]+)?(\?)?\}$/.exec(segment);
        if (!m) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        params.push(m[1]);
        return m[2] ? '?([^/]*)' : '([^/]+)';
      })
      .join('/')
      // A catch-all takes the rest of the path, slashes included, or nothing.
      .replace(new RegExp(`/${CATCH_ALL}$`), '(?:/(.*))?')
      .replace(new RegExp(`^${CATCH_ALL}$`), '(.*)');
    const methods = ((trigger.methods as string[] | undefined) ?? ['GET', 'POST']).map((m) => m.toUpperCase());
    this.#routes.push({ registration: reg, methods, pattern: new RegExp(`^${source}/?$`, 'i'), params, catchAll });
    this.#routes.sort((a, b) => Number(a.catchAll) - Number(b.catchAll));
  }

  async #serveHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { HttpRequest, HttpResponse } = await import('@azure/functions');
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
    const send = (status: number, body: unknown) => {
      res
        .writeHead(status, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff' })
        .end(JSON.stringify(body));
    };
    if (await serveDevSignIn(req, res, url.pathname)) return;
    applyDevSession(req);
    const prefix = this.#routePrefix ? `/${this.#routePrefix}` : '';
    if (prefix && url.pathname !== prefix && !url.pathname.startsWith(`${prefix}/`))
      return send(404, { error: { code: 'NotFound', message: 'Not found' } });
    const path = url.pathname.slice(prefix.length).replace(/^\//, '');
    const candidates = this.#routes.map((r) => ({ r, m: r.pattern.exec(path) })).filter((x) => x.m);
    const match = candidates.find((x) => x.r.methods.includes(req.method ?? 'GET'));
    if (!match) {
      return candidates.length
        ? send(405, { error: { code: 'MethodNotAllowed', message: `${req.method} is not allowed here` } })
        : send(404, { error: { code: 'NotFound', message: `No function serves ${url.pathname}` } });
    }
    // As App Service Authentication and the host do in Azure, a body is refused before it is read:
    // without a caller (only health is open) or larger than the API takes.
    // (Node discards what is left of a request whose answer ended; the connection then closes.)
    const refuse = (status: number, code: string, message: string) => {
      res.setHeader('connection', 'close');
      send(status, { error: { code, message } });
    };
    if (
      !BODYLESS.has(req.method ?? 'GET') &&
      !req.headers['x-ms-client-principal'] &&
      !OPEN_PATHS.has(url.pathname.toLowerCase())
    ) {
      return refuse(401, 'Unauthorized', 'Sign in first: no client principal on the request');
    }
    const tooLarge = () => refuse(400, 'PayloadTooLarge', `The body is larger than ${MAX_BODY_BYTES} bytes`);
    if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) return tooLarge();
    const body = await readCapped(req, MAX_BODY_BYTES);
    if (body === undefined) return tooLarge();
    const chunks = body.length ? [body] : [];
    const params: Record<string, string> = {};
    try {
      match.r.params.forEach((name, i) => (params[name] = decodeURIComponent(match.m![i + 1] ?? '')));
    } catch {
      // As the host does: a malformed escape such as %E0%A4%A is the caller's error, not a crash.
      return send(400, { error: { code: 'BadRequest', message: 'The URL has a malformed percent-encoding' } });
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const request = new HttpRequest({
      method: req.method ?? 'GET',
      url: url.toString(),
      headers,
      params,
      query: Object.fromEntries(url.searchParams),
      body: chunks.length ? { bytes: Buffer.concat(chunks) } : undefined,
    });
    try {
      const context = await this.#context(match.r.registration);
      const result = await match.r.registration.handler(request, context);
      const response = result instanceof HttpResponse ? result : new HttpResponse(result ?? {});
      const body = Buffer.from(await response.arrayBuffer());
      const outHeaders: Record<string, string> = {};
      response.headers.forEach((v, k) => (outHeaders[k] = v));
      res.writeHead(response.status ?? 200, outHeaders).end(body);
    } catch (error) {
      this.options.log(`[${match.r.registration.name}] error: ${describeError(error)}`);
      send(500, { error: { code: 'InternalError', message: 'The function failed' } });
    }
  }

  #scheduleTimer(reg: Registration, schedule: string): void {
    // NCRONTAB has six fields, seconds first; cron-parser reads that form as is.
    const expression = CronExpressionParser.parse(schedule);
    const fire = async (at: number) => {
      if (this.#stopping) return;
      try {
        const context = await this.#context(reg);
        await this.#track(
          Promise.resolve(
            reg.handler(
              { isPastDue: Date.now() - at > 1_000, schedule: { adjustForDST: true }, scheduleStatus: {} },
              context,
            ),
          ),
        );
      } catch (error) {
        this.options.log(`[${reg.name}] error: ${describeError(error)}`);
      }
      next();
    };
    const next = () => {
      if (this.#stopping) return;
      const at = expression.next().getTime();
      this.#sleepUntil(at, () => void fire(at));
    };
    next();
  }

  /**
   * Calls `then` at `at`. setTimeout clamps a delay over 2^31 - 1 ms (about 24.8 days) to 1 ms, so
   * a schedule a year away would fire at once, again and again: long waits go in steps.
   */
  #sleepUntil(at: number, then: () => void): void {
    const delay = Math.max(0, at - Date.now());
    const step = Math.min(delay, MAX_TIMER_DELAY_IN_MS);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#stopping) return;
      if (step < delay) this.#sleepUntil(at, then);
      else then();
    }, step);
    timer.unref();
    this.#timers.add(timer);
  }

  async #pollQueue(
    reg: Registration,
    service: QueueServiceClient,
    queueName: string,
    settings: QueueSettings,
  ): Promise<void> {
    const queue = service.getQueueClient(queueName);
    const poison = service.getQueueClient(`${queueName}-poison`);
    await queue.createIfNotExists();
    const running = new Set<Promise<void>>();
    let idleDelay = 100;
    while (!this.#stopping) {
      if (running.size > settings.newBatchThreshold) {
        await Promise.race(running);
        continue;
      }
      let messages: DequeuedMessageItem[];
      try {
        messages = (
          await queue.receiveMessages({
            numberOfMessages: settings.batchSize,
            visibilityTimeout: Math.ceil(this.options.messageLeaseInMs / 1000),
          })
        ).receivedMessageItems;
      } catch (error) {
        if (this.#stopping) break;
        this.options.log(`[${reg.name}] could not read queue ${queueName}: ${(error as Error).message}`);
        messages = [];
      }
      if (messages.length === 0) {
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(t);
            this.#wakers.delete(wake);
            resolve();
          };
          const t = setTimeout(wake, idleDelay);
          this.#wakers.add(wake);
        });
        idleDelay = Math.min(idleDelay * 2, settings.maxPollingIntervalInMs);
        continue;
      }
      idleDelay = 100;
      for (const message of messages) {
        const p = this.#track(this.#processMessage(reg, queue, poison, message, settings)).finally(() =>
          running.delete(p),
        );
        running.add(p);
      }
    }
    await Promise.allSettled([...running]);
  }

  async #processMessage(
    reg: Registration,
    queue: QueueClient,
    poison: QueueClient,
    message: DequeuedMessageItem,
    settings: QueueSettings,
  ): Promise<void> {
    let popReceipt = message.popReceipt;
    const toPoison = async (why: string) => {
      this.options.log(
        `[${reg.name}] message ${message.messageId} moved to ${poison.name} after ${message.dequeueCount} attempt(s): ${why}`,
      );
      await poison.createIfNotExists();
      await poison.sendMessage(message.messageText);
      await queue.deleteMessage(message.messageId, popReceipt);
    };
    if (message.dequeueCount > settings.maxDequeueCount) return toPoison('dequeue count over maxDequeueCount');
    // The host decodes base64 (host.json messageEncoding) and hands JSON over parsed.
    const text = message.messageText;
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return toPoison('the message is not base64');
    const decoded = Buffer.from(text, 'base64').toString('utf8');
    let input: unknown = decoded;
    try {
      input = JSON.parse(decoded);
    } catch {
      /* a plain string message */
    }
    const renew = setInterval(() => {
      queue
        .updateMessage(message.messageId, popReceipt, undefined, Math.ceil(this.options.messageLeaseInMs / 1000))
        .then(
          (renewed) => (popReceipt = renewed.popReceipt!),
          () => undefined, // the next renewal or the final delete reports a lost message
        );
    }, this.options.messageLeaseInMs / 2);
    try {
      const context = await this.#context(reg, {
        id: message.messageId,
        dequeueCount: message.dequeueCount,
        insertionTime: message.insertedOn,
        expirationTime: message.expiresOn,
        nextVisibleTime: message.nextVisibleOn,
        popReceipt,
      });
      await reg.handler(input, context);
      clearInterval(renew);
      await queue.deleteMessage(message.messageId, popReceipt);
    } catch (error) {
      clearInterval(renew);
      this.options.log(
        `[${reg.name}] error (attempt ${message.dequeueCount} of ${settings.maxDequeueCount}): ${describeError(error)}`,
      );
      try {
        if (message.dequeueCount >= settings.maxDequeueCount) await toPoison((error as Error).message);
        else
          await queue.updateMessage(
            message.messageId,
            popReceipt,
            undefined,
            Math.ceil(settings.visibilityTimeoutInMs / 1000),
          );
      } catch (e) {
        this.options.log(`[${reg.name}] could not release message ${message.messageId}: ${(e as Error).message}`);
      }
    }
  }
}
