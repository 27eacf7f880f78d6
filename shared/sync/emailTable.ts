const USED = 1;
const SEEN = 2;
const HAS_VALUE = 4;
const NEGATIVE = 8;
/** Entries per slot before the table doubles. */
const MAX_LOAD = 0.8;

/**
 * The planner's memory of emails: the previous state's value of each (a 48-bit fingerprint or a
 * negative marker) and whether this snapshot had it already (dedupe), in one open-addressing table
 * over typed arrays keyed by a 64-bit hash of the email. 15 bytes a slot and at most 0.8 entries a
 * slot: about 250 MB for ten million contacts, where a Map of strings takes about 100 bytes an
 * entry. Two different emails share a key with probability about n² / 2^65 (3 in 10^6 for ten
 * million): the planner then treats the second as the first's duplicate.
 */
export class EmailTable {
  #keyHi: Uint32Array;
  #keyLo: Uint32Array;
  #valueLo: Uint32Array;
  #valueHi: Uint16Array;
  #flags: Uint8Array;
  #size = 0;

  constructor(capacity = 1 << 16) {
    const slots = 1 << Math.ceil(Math.log2(Math.max(16, capacity / MAX_LOAD)));
    this.#keyHi = new Uint32Array(slots);
    this.#keyLo = new Uint32Array(slots);
    this.#valueLo = new Uint32Array(slots);
    this.#valueHi = new Uint16Array(slots);
    this.#flags = new Uint8Array(slots);
  }

  get size(): number {
    return this.#size;
  }

  /** Bytes held by the table's arrays. */
  get byteLength(): number {
    return this.#flags.length * 15;
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
    const mask = this.#flags.length - 1;
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & mask;
    while (this.#flags[i] && (this.#keyHi[i] !== hi || this.#keyLo[i] !== lo)) i = (i + 1) & mask;
    return i;
  }

  /** The slot of an email, added (without value, unseen) when it is not in the table yet. */
  #claim(email: string): number {
    if ((this.#size + 1) > this.#flags.length * MAX_LOAD) this.#grow();
    const [hi, lo] = EmailTable.#hash(email);
    const i = this.#slot(hi, lo);
    if (!this.#flags[i]) {
      this.#flags[i] = USED;
      this.#keyHi[i] = hi;
      this.#keyLo[i] = lo;
      this.#size++;
    }
    return i;
  }

  #find(email: string): number | undefined {
    const [hi, lo] = EmailTable.#hash(email);
    const i = this.#slot(hi, lo);
    return this.#flags[i] ? i : undefined;
  }

  /** The value set for an email (its previous state), if any. */
  get(email: string): number | undefined {
    const i = this.#find(email);
    if (i === undefined || !(this.#flags[i] & HAS_VALUE)) return undefined;
    const magnitude = this.#valueHi[i] * 2 ** 32 + this.#valueLo[i];
    return this.#flags[i] & NEGATIVE ? -magnitude : magnitude;
  }

  /** Sets an email's value: an integer from -(2^32 - 1) to 2^48 - 1. */
  set(email: string, value: number): void {
    if (!Number.isInteger(value) || value <= -(2 ** 32) || value >= 2 ** 48) throw new RangeError(`EmailTable value out of range: ${value}`);
    const i = this.#claim(email);
    const magnitude = Math.abs(value);
    this.#valueLo[i] = magnitude % 2 ** 32;
    this.#valueHi[i] = Math.floor(magnitude / 2 ** 32);
    this.#flags[i] = (this.#flags[i] & SEEN) | USED | HAS_VALUE | (value < 0 ? NEGATIVE : 0);
  }

  /** Marks an email as seen in this snapshot; true when it had been seen already (a duplicate). */
  see(email: string): boolean {
    const i = this.#claim(email);
    const before = (this.#flags[i] & SEEN) !== 0;
    this.#flags[i] |= SEEN;
    return before;
  }

  isSeen(email: string): boolean {
    const i = this.#find(email);
    return i !== undefined && (this.#flags[i] & SEEN) !== 0;
  }

  #grow(): void {
    const old = { keyHi: this.#keyHi, keyLo: this.#keyLo, valueLo: this.#valueLo, valueHi: this.#valueHi, flags: this.#flags };
    const slots = old.flags.length * 2;
    this.#keyHi = new Uint32Array(slots);
    this.#keyLo = new Uint32Array(slots);
    this.#valueLo = new Uint32Array(slots);
    this.#valueHi = new Uint16Array(slots);
    this.#flags = new Uint8Array(slots);
    for (let j = 0; j < old.flags.length; j++) {
      if (!old.flags[j]) continue;
      const i = this.#slot(old.keyHi[j], old.keyLo[j]);
      this.#flags[i] = old.flags[j];
      this.#keyHi[i] = old.keyHi[j];
      this.#keyLo[i] = old.keyLo[j];
      this.#valueLo[i] = old.valueLo[j];
      this.#valueHi[i] = old.valueHi[j];
    }
  }
}
