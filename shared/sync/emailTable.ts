/**
 * A compact email → number table for a million contacts: open addressing over typed arrays, keyed
 * by a 64-bit hash of the email (two independent 32-bit hashes), about 16 bytes an entry where a
 * Map of strings takes about 100. Two different emails share a key with probability about
 * n² / 2^65 (3 in 10^8 for a million): the planner then treats the second as the first's duplicate.
 */
export class EmailTable {
  #hi: Uint32Array;
  #lo: Uint32Array;
  #values: Float64Array;
  #used: Uint8Array;
  #size = 0;

  constructor(capacity = 1 << 16) {
    const slots = 1 << Math.ceil(Math.log2(Math.max(16, capacity * 2)));
    this.#hi = new Uint32Array(slots);
    this.#lo = new Uint32Array(slots);
    this.#values = new Float64Array(slots);
    this.#used = new Uint8Array(slots);
  }

  get size(): number {
    return this.#size;
  }

  static #hash(email: string): [number, number] {
    // FNV-1a and a multiplicative hash with another seed: two independent 32-bit halves.
    let a = 0x811c9dc5;
    let b = 0x9747b28c;
    for (let i = 0; i < email.length; i++) {
      const c = email.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 15;
    }
    b = Math.imul(b ^ (b >>> 13), 0x5bd1e995);
    return [a >>> 0, (b ^ (b >>> 15)) >>> 0];
  }

  #slot(hi: number, lo: number): number {
    const mask = this.#used.length - 1;
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & mask;
    while (this.#used[i] && (this.#hi[i] !== hi || this.#lo[i] !== lo)) i = (i + 1) & mask;
    return i;
  }

  get(email: string): number | undefined {
    const [hi, lo] = EmailTable.#hash(email);
    const i = this.#slot(hi, lo);
    return this.#used[i] ? this.#values[i] : undefined;
  }

  has(email: string): boolean {
    return this.get(email) !== undefined;
  }

  set(email: string, value: number): void {
    if ((this.#size + 1) * 2 > this.#used.length) this.#grow();
    const [hi, lo] = EmailTable.#hash(email);
    const i = this.#slot(hi, lo);
    if (!this.#used[i]) {
      this.#used[i] = 1;
      this.#hi[i] = hi;
      this.#lo[i] = lo;
      this.#size++;
    }
    this.#values[i] = value;
  }

  #grow(): void {
    const { hi, lo, values, used } = { hi: this.#hi, lo: this.#lo, values: this.#values, used: this.#used };
    const slots = used.length * 2;
    this.#hi = new Uint32Array(slots);
    this.#lo = new Uint32Array(slots);
    this.#values = new Float64Array(slots);
    this.#used = new Uint8Array(slots);
    for (let j = 0; j < used.length; j++) {
      if (!used[j]) continue;
      const i = this.#slot(hi[j], lo[j]);
      this.#used[i] = 1;
      this.#hi[i] = hi[j];
      this.#lo[i] = lo[j];
      this.#values[i] = values[j];
    }
  }
}
