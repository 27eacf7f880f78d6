import { abortReason, type AcquireOptions, type RequestBudget, type RequestKind } from './client.js';
import { RateLimitError } from './errors.js';

/** Retakes for lateness before queue work gives up and goes back on its queue. */
const MIN_RETAKES = 5;

export interface RateBudgetOptions {
  requestsPerSecond: number;
  bulkImportsPerMinute: number;
  /** Added to each window, so that network jitter between instances and ActiveCampaign cannot
   * squeeze two reserved requests into one of ActiveCampaign's windows. */
  guardInMs?: number;
  /** A reservation further away than this is not taken: the work goes back on its queue. */
  maxWaitInMs?: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The clock (injectable so tests can reserve minutes of slots at once). */
  now?: () => number;
}

/** The budget wants the caller to come back later (not a failure: no retry is used up). */
export class BudgetWaitError extends RateLimitError {
  override name = 'BudgetWaitError';
}

/** The slots (ms since epoch) reserved on one account, past and future. */
export interface Reservations {
  requests: number[];
  imports: number[];
}

/**
 * Where every instance of the app keeps the accounts' reservations (store/rateBudgetStore.ts: a
 * Table entity per account).
 */
export interface ReservationStore {
  /**
   * Read-modify-write of one account's reservations under optimistic concurrency: `change` gets
   * what is stored (empty lists at first) and may be called again after a conflict.
   */
  update<T>(account: string, change: (reserved: Reservations) => { reserved: Reservations; result: T }): Promise<T>;
}

/**
 * A time ≥ `now` at which one more event keeps every window of `windowInMs` at no more than `limit`
 * events, given the events already reserved (past and future): `now` when that fits, otherwise the
 * moment the `limit`-th latest event leaves the window. Linear in the events, because the import
 * window can hold a thousand of them and every reservation asks.
 */
export function earliestSlot(reserved: readonly number[], now: number, limit: number, windowInMs: number): number {
  if (fits(reserved, now, limit, windowInMs)) return now;
  const times = [...reserved].sort((a, b) => a - b);
  return Math.max(now, times[times.length - limit] + windowInMs);
}

/** Whether an event at `t` keeps every window of `windowInMs` containing it at `limit` events or fewer. */
function fits(reserved: readonly number[], t: number, limit: number, windowInMs: number): boolean {
  const near = reserved.filter((x) => x > t - windowInMs && x < t + windowInMs);
  if (near.length < limit) return true;
  near.push(t);
  near.sort((a, b) => a - b);
  for (let i = 0; i + limit < near.length; i++) if (near[i + limit] - near[i] < windowInMs) return false;
  return true;
}

/**
 * The earliest time ≥ `now` at least `spacing` away from every reserved time. Evenly spaced
 * requests keep any window of `limit × spacing` at `limit` requests, without the bursts a plain
 * sliding window allows (a burst is what a late request pushes over the limit).
 */
export function earliestSpacedSlot(reserved: readonly number[], now: number, spacing: number): number {
  const times = reserved.filter((x) => x > now - spacing).sort((a, b) => a - b);
  let t = now;
  for (const x of times) {
    if (x - t >= spacing) break;
    t = Math.max(t, x + spacing);
  }
  return t;
}

interface PendingReservation {
  kind: RequestKind;
  /** A caller that may wait this long (ms since epoch) takes a slot up to then, beyond maxWaitInMs. */
  waitUntil: number;
  /** A slot this request reserved before and missed: released in the same write. */
  releases?: number;
  resolve: (slot: number) => void;
  reject: (error: unknown) => void;
}

/**
 * ActiveCampaign's per-account limits, kept by every instance of the app together: each request
 * reserves a time slot in the shared ReservationStore (one entry per account hostname), then waits
 * for its slot. A slot respects both the requests-per-second window and, for bulk imports, the
 * imports-per-minute window.
 */
export class RateBudget {
  readonly #store: ReservationStore;
  readonly #options: Required<RateBudgetOptions>;
  /**
   * Requests of one process that wait for a reservation, per account. One round trip (read, then an
   * ETag-conditional write) reserves slots for all of them, so instances, not every concurrent
   * handler, compete for the entity, and a busy process needs few storage calls.
   */
  readonly #waiting = new Map<string, PendingReservation[]>();
  readonly #reserving = new Set<string>();

  constructor(store: ReservationStore, options: RateBudgetOptions) {
    this.#store = store;
    this.#options = {
      guardInMs: 80,
      now: Date.now,
      maxWaitInMs: 30_000,
      sleep: (ms, signal) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(resolve, ms);
          signal?.addEventListener(
            'abort',
            () => {
              clearTimeout(timer);
              reject(abortReason(signal));
            },
            { once: true },
          );
        }),
      ...options,
    };
  }

  forAccount(hostname: string): RequestBudget {
    return { acquire: (kind, options) => this.acquire(hostname, kind, options) };
  }

  /**
   * Waits for a slot of the account's budget. A process that wakes up late (a busy core is normal
   * on a Functions instance) takes a new slot rather than send off-beat. Queue work (`patienceInMs`
   * 0, the default) gives up after a few retakes with a BudgetWaitError, so that its message goes
   * back on the queue; an interactive call keeps retaking until its patience runs out.
   */
  async acquire(hostname: string, kind: RequestKind, options: AcquireOptions = {}): Promise<void> {
    const deadline = this.#options.now() + (options.patienceInMs ?? 0);
    let late: number | undefined;
    for (let attempt = 0; ; attempt++) {
      // A late import retakes its import slot too, giving back the one it missed in the same write:
      // the minute window must hold the time it really goes out. (Keeping the missed slot let an
      // import go out hundreds of ms after it, and the 101st import, on time a minute later, was refused.)
      const slot = await this.reserve(hostname, kind, deadline, late);
      const wait = slot - this.#options.now();
      if (wait > 0) await this.#options.sleep(wait, options.abortSignal);
      await options.gate?.();
      if (this.#options.now() - slot <= this.#lateness()) return;
      late = slot;
      if (attempt >= MIN_RETAKES && this.#options.now() >= deadline) {
        throw new BudgetWaitError(`This process could not keep to its ActiveCampaign slots for ${hostname}`, 1_000);
      }
    }
  }

  /**
   * How late a request may go out. Slots are at least (1 s + guard) / limit apart, so any limit + 1
   * of them span at least 1 s + guard: only a request more than the guard late can crowd one of
   * ActiveCampaign's windows, whatever the limit. Half the guard is allowed for waking late, the
   * other half stays for network jitter.
   */
  #lateness(): number {
    return this.#options.guardInMs / 2;
  }

  /**
   * Reserves and returns the time (ms since epoch) at which this request may be sent; `releases`
   * gives back a slot of the same kind reserved earlier and not used (a late wake).
   */
  reserve(hostname: string, kind: RequestKind, waitUntil = 0, releases?: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const waiting = this.#waiting.get(hostname) ?? [];
      waiting.push({ kind, waitUntil, releases, resolve, reject });
      this.#waiting.set(hostname, waiting);
      if (!this.#reserving.has(hostname)) void this.#drain(hostname);
    });
  }

  async #drain(hostname: string): Promise<void> {
    this.#reserving.add(hostname);
    try {
      for (;;) {
        const batch = this.#waiting.get(hostname) ?? [];
        this.#waiting.delete(hostname);
        if (batch.length === 0) return;
        try {
          const outcomes = await this.#reserveAll(hostname, batch);
          batch.forEach((p, i) => {
            const outcome = outcomes[i];
            if (typeof outcome === 'number') p.resolve(outcome);
            else p.reject(outcome);
          });
        } catch (error) {
          for (const p of batch) p.reject(error);
        }
      }
    } finally {
      this.#reserving.delete(hostname);
    }
  }

  /** One read-modify-write of the account's reservations: a slot (or a BudgetWaitError) per request, in order. */
  #reserveAll(hostname: string, pending: PendingReservation[]): Promise<(number | BudgetWaitError)[]> {
    return this.#store.update(hostname, (stored) => {
      const { reserved, outcomes } = reserveSlots(stored, pending, this.#options.now(), hostname, this.#options);
      return { reserved, result: outcomes };
    });
  }
}

/**
 * Slots for `pending` requests, in order, given what is `reserved` (pure): the reservations after
 * them, and for each its slot or a BudgetWaitError when its slot is further away than it may wait.
 */
export function reserveSlots(
  reserved: Reservations,
  pending: readonly Pick<PendingReservation, 'kind' | 'waitUntil' | 'releases'>[],
  now: number,
  hostname: string,
  limits: Pick<Required<RateBudgetOptions>, 'requestsPerSecond' | 'bulkImportsPerMinute' | 'guardInMs' | 'maxWaitInMs'>,
): { reserved: Reservations; outcomes: (number | BudgetWaitError)[] } {
  const { requestsPerSecond, bulkImportsPerMinute, guardInMs, maxWaitInMs } = limits;
  const secondWindow = 1_000 + guardInMs;
  const minuteWindow = 60_000 + guardInMs;
  const spacing = secondWindow / Math.floor(requestsPerSecond);
  const requests = reserved.requests.filter((t) => t > now - secondWindow);
  const imports = reserved.imports.filter((t) => t > now - minuteWindow);
  for (const { kind, releases } of pending) {
    if (releases === undefined) continue;
    // The missed request slot is in the past and harmless; the import slot would hold a minute.
    const i = kind === 'bulkImport' ? imports.indexOf(releases) : -1;
    if (i >= 0) imports.splice(i, 1);
  }
  const outcomes = pending.map(({ kind, waitUntil }): number | BudgetWaitError => {
    let slot = earliestSpacedSlot(requests, now, spacing);
    if (kind === 'bulkImport') {
      // Both limits must agree on one time: alternate until neither moves it.
      for (let i = 0; i < 50; i++) {
        const importSlot = earliestSlot(imports, slot, Math.floor(bulkImportsPerMinute), minuteWindow);
        const requestSlot = earliestSpacedSlot(requests, importSlot, spacing);
        if (requestSlot === slot && importSlot === slot) break;
        slot = requestSlot;
      }
    }
    if (slot - now > maxWaitInMs && slot > waitUntil) {
      return new BudgetWaitError(
        `The ActiveCampaign budget of ${hostname} is taken for the next ${Math.round((slot - now) / 1000)} s`,
        slot - now - maxWaitInMs / 2,
      );
    }
    requests.push(slot);
    if (kind === 'bulkImport') imports.push(slot);
    return slot;
  });
  return { reserved: { requests, imports }, outcomes };
}
