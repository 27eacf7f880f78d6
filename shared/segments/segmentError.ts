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
