/** A structural problem with a segment: the run fails before anything is sent. */
export class SegmentError extends Error {
  override readonly name = 'SegmentError';
  readonly code = 'SegmentError';
}
