const USED = 1;
const SEEN = 2;
const HAS_VALUE = 4;
const NEGATIVE = 8;
/** Entries per slot before the table grows. */
const MAX_LOAD = 0.8;
/** Bytes a slot takes: two 32-bit key halves, a 48-bit value, flags. */
const SLOT_BYTES = 15;
const TWO_TO_32 = 2 ** 32;
const DUPLICATE = { duplicate: true } as const;

/**
 * A part of the emails, by the first 32 bits of their hash: [start, end) within [0, 2^32). The
 * planner reads a snapshot bigger than its memory allows in several passes, one range each.
 */
export interface EmailRange {
  start: number;
  end: number;
}

export const ALL_EMAILS: EmailRange = { start: 0, end: TWO_TO_32 };

// The hash of the last email hashed: two independent 32-bit halves (no array allocated per email).
let hashHi = 0;
let hashLo = 0;

function hash(email: string): void {
  // FNV-1a and a multiplicative hash with another seed.
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < email.length; i++) {
    const c = email.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  b = Math.imul(b ^ (b >>> 13), 0x5bd1e995);
  hashHi = a >>> 0;
  hashLo = (b ^ (b >>> 15)) >>> 0;
}

/**
 * The planner's memory of emails: the previous state's value of each (a 48-bit fingerprint or a
 * negative marker) and whether this snapshot had it already (dedupe), in one open-addressing table
 * over typed arrays keyed by a 64-bit hash of the email. 15 bytes a slot and at most 0.8 entries a
 * slot, sized to what it is told to expect (not to a power of two): about 19 bytes an email, where a
 * Map of strings takes about 100. Two different emails share a key with probability about
 * n² / 2^65 (3 in 10^6 for ten million): the planner then treats the second as the first's duplicate.
 */
export class EmailTable {
  #keyHi: Uint32Array;
  #keyLo: Uint32Array;
  #valueLo: Uint32Array;
  #valueHi: Uint16Array;
  #flags: Uint8Array;
  #size = 0;

  constructor(capacity = 1 << 16) {
    const slots = EmailTable.slotsFor(capacity);
    this.#keyHi = new Uint32Array(slots);
    this.#keyLo = new Uint32Array(slots);
    this.#valueLo = new Uint32Array(slots);
    this.#valueHi = new Uint16Array(slots);
    this.#flags = new Uint8Array(slots);
  }

  /** Slots for a table that holds `capacity` emails without growing. */
  static slotsFor(capacity: number): number {
    return Math.max(16, Math.ceil(capacity / MAX_LOAD) + 1);
  }

  /** Bytes a table sized for `capacity` emails takes. */
  static bytesFor(capacity: number): number {
    return EmailTable.slotsFor(capacity) * SLOT_BYTES;
  }

  /** Where an email falls in [0, 2^32): the ranges of a planner's passes are over this. */
  static position(email: string): number {
    hash(email);
    return hashHi;
  }

  static inRange(email: string, range: EmailRange): boolean {
    if (range.start === 0 && range.end >= TWO_TO_32) return true;
    const p = EmailTable.position(email);
    return p >= range.start && p < range.end;
  }

  get size(): number {
    return this.#size;
  }

  /** Bytes held by the table's arrays. */
  get byteLength(): number {
    return this.#flags.length * SLOT_BYTES;
  }

  /** The slot of the key (hi, lo), or the empty slot where it would go. */
  #slot(hi: number, lo: number): number {
    const slots = this.#flags.length;
    // Multiply-shift maps the mixed key onto any number of slots (no power of two needed).
    let i = Math.floor((((lo ^ Math.imul(hi, 0x9e3779b1)) >>> 0) * slots) / TWO_TO_32);
    while (this.#flags[i] && (this.#keyHi[i] !== hi || this.#keyLo[i] !== lo)) if (++i === slots) i = 0;
    return i;
  }

  /** The slot of an email, added (without value, unseen) when it is not in the table yet. */
  #claim(email: string): number {
    if (this.#size + 1 > this.#flags.length * MAX_LOAD) this.#grow();
    hash(email);
    const hi = hashHi;
    const lo = hashLo;
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
    hash(email);
    const i = this.#slot(hashHi, hashLo);
    return this.#flags[i] ? i : undefined;
  }

  /** The value set for an email (its previous state), if any. */
  get(email: string): number | undefined {
    const i = this.#find(email);
    return i === undefined ? undefined : this.#value(i);
  }

  #value(i: number): number | undefined {
    if (!(this.#flags[i] & HAS_VALUE)) return undefined;
    const magnitude = this.#valueHi[i] * TWO_TO_32 + this.#valueLo[i];
    return this.#flags[i] & NEGATIVE ? -magnitude : magnitude;
  }

  /** Sets an email's value: an integer from -(2^32 - 1) to 2^48 - 1. */
  set(email: string, value: number): void {
    if (!Number.isInteger(value) || value <= -TWO_TO_32 || value >= 2 ** 48)
      throw new RangeError(`EmailTable value out of range: ${value}`);
    const i = this.#claim(email);
    const magnitude = Math.abs(value);
    this.#valueLo[i] = magnitude % TWO_TO_32;
    this.#valueHi[i] = Math.floor(magnitude / TWO_TO_32);
    this.#flags[i] = (this.#flags[i] & SEEN) | USED | HAS_VALUE | (value < 0 ? NEGATIVE : 0);
  }

  /** Marks an email as seen in this snapshot; true when it had been seen already (a duplicate). */
  see(email: string): boolean {
    const i = this.#claim(email);
    const before = (this.#flags[i] & SEEN) !== 0;
    this.#flags[i] |= SEEN;
    return before;
  }

  /**
   * The planner's one look per row: marks the email seen and says whether it was already (a duplicate) and, if not,
   * its previous value. One hash and one probe instead of see() then get().
   */
  visit(email: string): { duplicate: true } | { duplicate: false; previous: number | undefined } {
    const i = this.#claim(email);
    if (this.#flags[i] & SEEN) return DUPLICATE;
    this.#flags[i] |= SEEN;
    return { duplicate: false, previous: this.#value(i) };
  }

  isSeen(email: string): boolean {
    const i = this.#find(email);
    return i !== undefined && (this.#flags[i] & SEEN) !== 0;
  }

  /** Empties the table for `capacity` emails, keeping its arrays when they are large enough. */
  reset(capacity: number): void {
    if (EmailTable.slotsFor(capacity) > this.#flags.length) {
      const fresh = new EmailTable(capacity);
      [this.#keyHi, this.#keyLo, this.#valueLo, this.#valueHi, this.#flags] = [
        fresh.#keyHi,
        fresh.#keyLo,
        fresh.#valueLo,
        fresh.#valueHi,
        fresh.#flags,
      ];
    } else {
      // Keys and values are written when a slot is claimed: the flags alone say what is used.
      this.#flags.fill(0);
    }
    this.#size = 0;
  }

  /** Doubles the slots (only when the table was sized too small: the planner sizes it for its pass). */
  #grow(): void {
    const old = {
      keyHi: this.#keyHi,
      keyLo: this.#keyLo,
      valueLo: this.#valueLo,
      valueHi: this.#valueHi,
      flags: this.#flags,
    };
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
