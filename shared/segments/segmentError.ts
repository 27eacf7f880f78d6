/**
 * The longest row (CSV record, JSON line) a reader takes, in characters. No profile comes near it;
 * a file past it is broken (an unclosed quote swallows the rest of the file, a JSON document written
 * on one line is not JSON Lines), and reading on would hold the rest of the file in memory.
 */
export const MAX_ROW_LENGTH = 1 << 20;

/** A structural problem with a segment: the run fails before anything is sent. */
export class SegmentError extends Error {
  override readonly name: string = 'SegmentError';
  readonly code = 'SegmentError';
}

/** The newest snapshot is still being written: wait (the scheduled refresh) or say why (on demand). */
export class SnapshotNotReadyError extends SegmentError {
  override readonly name = 'SnapshotNotReadyError';
  constructor(
    message: string,
    readonly retryAfterInMs: number,
  ) {
    super(message);
  }
}
