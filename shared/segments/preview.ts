import type { BlobServiceClient } from '@azure/storage-blob';
import type { SegmentSource } from '../model.js';
import { readSegmentFile } from './readSegmentFile.js';
import { SegmentError, SnapshotNotReadyError } from './segmentError.js';
import { locateSnapshot, type LocateOptions, type Snapshot } from './snapshot.js';

export interface SourcePreview {
  /** cdm, customerInsights, files; absent when no snapshot was found. */
  layout?: Snapshot['layout'];
  files: { name: string; size?: number; lastModified?: string }[];
  columns: string[];
  rows: Record<string, string>[];
  /** A structural problem, in the words a run would use; `ready: false` when the snapshot is still being written. */
  problem?: string;
  ready: boolean;
  /** Still being written: when to look again (what starting a run would answer too). */
  retryAfterSeconds?: number;
}

/** Files listed, and rows read from the first file, at most: a preview is bounded work. */
const MAX_FILES = 50;
const MAX_ROWS = 10;

/** What a source holds: the newest snapshot's layout and files, its columns and first rows. */
export async function previewSource(
  blobs: BlobServiceClient,
  source: SegmentSource,
  options: LocateOptions,
): Promise<SourcePreview> {
  let snapshot: Snapshot;
  let ready = true;
  let problem: string | undefined;
  let retryAfterSeconds: number | undefined;
  try {
    snapshot = await locateSnapshot(blobs, source, options);
  } catch (error) {
    if (!(error instanceof SegmentError)) throw error;
    if (!(error instanceof SnapshotNotReadyError))
      return { files: [], columns: [], rows: [], problem: error.message, ready: false };
    retryAfterSeconds = Math.ceil(error.retryAfterInMs / 1000);
    try {
      // A folder in its quiet period: show what is there, and say so.
      snapshot = await locateSnapshot(blobs, source, { ...options, quietPeriodInMs: 0 });
    } catch (again) {
      // A Common Data Model folder whose model.json names a partition not written yet: the normal state of an export in
      // progress.
      if (!(again instanceof SegmentError)) throw again;
      return {
        layout: 'cdm',
        files: [],
        columns: [],
        rows: [],
        problem: error.message,
        ready: false,
        retryAfterSeconds,
      };
    }
    ready = false;
    problem = error.message;
  }
  const files = snapshot.segmentFiles.slice(0, MAX_FILES).map((f) => ({
    name: `${f.container}/${f.name}`,
    size: f.size,
    lastModified: f.lastModified ? new Date(f.lastModified).toISOString() : undefined,
  }));
  const first = snapshot.segmentFiles[0];
  const rows: Record<string, string>[] = [];
  let columns = first.columns ?? [];
  try {
    for await (const row of readSegmentFile(blobs, first, { maxRows: MAX_ROWS })) {
      if (rows.length === 0 && columns.length === 0) columns = Object.keys(row.record);
      rows.push(row.record);
      if (rows.length >= MAX_ROWS) break;
    }
  } catch (error) {
    if (!(error instanceof SegmentError)) throw error;
    problem ??= error.message;
  }
  return {
    layout: snapshot.layout,
    files,
    columns,
    rows,
    ...(problem ? { problem } : {}),
    ready: ready && !problem,
    ...(retryAfterSeconds ? { retryAfterSeconds } : {}),
  };
}
