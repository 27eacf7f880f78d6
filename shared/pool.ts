/** At most `size` promises in flight; `run` waits for room, `drain` for all. Errors surface. */
export class Pool {
  #inFlight = new Set<Promise<void>>();
  #error: Error | undefined;
  constructor(readonly size: number) {}

  async run(task: () => Promise<unknown>): Promise<void> {
    this.#throwIfFailed();
    while (this.#inFlight.size >= this.size) await Promise.race(this.#inFlight);
    this.#throwIfFailed();
    const p: Promise<void> = task().then(
      () => void this.#inFlight.delete(p),
      (e) => {
        this.#inFlight.delete(p);
        this.#error ??= e instanceof Error ? e : new Error(String(e));
      },
    );
    this.#inFlight.add(p);
  }

  async drain(): Promise<void> {
    await Promise.all(this.#inFlight);
    this.#throwIfFailed();
  }

  #throwIfFailed(): void {
    if (this.#error) throw this.#error;
  }
}

/** The values of settled promises, or (thrown) the first failure: for work that must all be over before it fails. */
export function settled<T>(results: PromiseSettledResult<T>[]): T[] {
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
