import { ALL_EMAILS, type EmailRange } from './emailTable.js';

const HASH_SPACE = ALL_EMAILS.end;
/** A pass aims at this share of its budget: the emails of a range vary a little around their mean. */
const TARGET_SHARE = 0.9;

/** One pass of a plan: the emails it covers, and how many its email table is sized for. */
export interface PlanPass {
  range: EmailRange;
  capacity: number;
}

/**
 * How the planner keeps its email table within `emailsPerPass` emails whatever the size of the
 * snapshot and the previous state: when they may hold more, it reads them in several passes, each
 * over one range of the email hash (every email, its duplicates and its previous state fall in
 * exactly one). Pure: the planner says what it knows, this says which range comes next.
 *
 * The first range is sized for an upper bound (the previous state's contacts and the most rows the
 * snapshot can have); the next ones for the emails the passes so far actually held, per unit of
 * hash. An overestimate costs one pass more, never memory.
 */
export class PlanPasses {
  #done = 0;
  #emails = 0;

  constructor(
    readonly emailsPerPass: number,
    /** At most this many distinct emails in the previous state and the snapshot together. */
    readonly emailsBound: number,
  ) {}

  /** The first pass's range and how many emails its table is sized for. */
  first(): PlanPass {
    if (this.emailsBound <= this.emailsPerPass) return { range: ALL_EMAILS, capacity: this.emailsBound };
    const width = Math.max(1, Math.floor((HASH_SPACE * this.emailsPerPass * TARGET_SHARE) / this.emailsBound));
    return { range: { start: 0, end: width }, capacity: this.emailsPerPass };
  }

  /** The range after `last`, whose table ended with `emails` emails; undefined when every email was covered. */
  next(last: EmailRange, emails: number): PlanPass | undefined {
    this.#done = last.end;
    this.#emails += emails;
    if (this.#done >= HASH_SPACE) return undefined;
    const left = HASH_SPACE - this.#done;
    const expectedLeft = (this.#emails / this.#done) * left;
    const passesLeft = Math.max(1, Math.ceil(expectedLeft / (this.emailsPerPass * TARGET_SHARE)));
    const width = passesLeft === 1 ? left : Math.ceil(left / passesLeft);
    const end = Math.min(HASH_SPACE, this.#done + width);
    return {
      range: { start: this.#done, end },
      capacity: Math.min(this.emailsPerPass, Math.ceil(expectedLeft / passesLeft / TARGET_SHARE)),
    };
  }
}

/** Bytes of a text row that holds a valid email, at the least ("a@b.c" and a line end). */
const MIN_ROW_BYTES = 6;
/** A file's rows are taken to be at least this share of the mean length of the rows sampled at its start. */
const SAMPLED_ROW_SHARE = 0.5;

/**
 * The most rows a snapshot can have: uncompressed text files cannot hold more rows with an email
 * than their bytes allow; compressed and Parquet files are bounded by the row cap only. With
 * `rowBytes` (the mean length of the rows at the file's start), a file's rows are taken to be at least
 * half as long: one pass where the bytes alone would ask for three. A file whose later rows are shorter
 * still is planned right; its email table grows past the pass's size.
 */
export function snapshotRowsBound(
  files: readonly { format: string; gzip: boolean; size?: number; rowBytes?: number }[],
  maxRows: number,
): number {
  let bound = 0;
  for (const f of files) {
    if (f.gzip || f.format === 'parquet' || f.size === undefined) return maxRows;
    const rowBytes = Math.max(MIN_ROW_BYTES, (f.rowBytes ?? 0) * SAMPLED_ROW_SHARE);
    bound += Math.ceil(f.size / rowBytes);
  }
  return Math.min(bound, maxRows);
}

/** `parts` ranges of equal width that together cover every email. */
export function equalRanges(parts: number): EmailRange[] {
  const n = Math.max(1, Math.ceil(parts));
  return Array.from({ length: n }, (_, i) => ({
    start: Math.floor((HASH_SPACE * i) / n),
    end: i === n - 1 ? HASH_SPACE : Math.floor((HASH_SPACE * (i + 1)) / n),
  }));
}
