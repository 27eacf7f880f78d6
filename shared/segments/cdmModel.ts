import type { BlobServiceClient } from '@azure/storage-blob';
import { isNotFound } from '../store/tables.js';
import { SegmentError, SnapshotNotReadyError } from './segmentError.js';
import { assertReadable } from './sourcePolicy.js';
import { checkColumns, type SegmentFile } from './segmentFile.js';

/** How long to wait for a partition that model.json names but that is not written yet. */
const MISSING_PARTITION_RETRY_IN_MS = 60_000;

interface CdmModel {
  entities?: {
    name?: string;
    attributes?: { name?: string }[];
    partitions?: {
      name?: string;
      location?: string;
      fileFormatSettings?: {
        $type?: string;
        columnHeaders?: boolean;
        delimiter?: string;
        quoteStyle?: string;
        csvStyle?: string;
      };
    }[];
  }[];
}

/**
 * The partitions of one entity of a Common Data Model folder (model.json, as Customer Insights
 * writes it). A partition's location is a full blob URL; its container and path are read from the
 * segment storage whatever account host the URL names.
 */
export async function readCdmModel(
  blobs: BlobServiceClient,
  container: string,
  modelName: string,
  table?: string,
  allowedContainers?: readonly string[],
): Promise<SegmentFile[]> {
  const where = `${container}/${modelName}`;
  let model: CdmModel;
  try {
    const buffer = await blobs.getContainerClient(container).getBlobClient(modelName).downloadToBuffer();
    model = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buffer)) as CdmModel;
  } catch (error) {
    if (isNotFound(error)) throw new SegmentError(`${where} does not exist`);
    throw new SegmentError(`${where} is not a readable model.json: ${(error as Error).message}`);
  }
  const entities = Array.isArray(model.entities) ? model.entities : [];
  let entity;
  if (table) {
    entity =
      entities.find((e) => e.name === table) ?? entities.find((e) => e.name?.toLowerCase() === table.toLowerCase());
    if (!entity)
      throw new SegmentError(
        `${where} has no entity "${table}" (it has: ${entities.map((e) => e.name).join(', ') || 'none'})`,
      );
  } else if (entities.length === 1) {
    entity = entities[0];
  } else {
    throw new SegmentError(
      `${where} has ${entities.length} entities (${entities.map((e) => e.name).join(', ')}); set source.table to pick one`,
    );
  }
  const columns = (entity.attributes ?? []).map((a) => String(a.name ?? ''));
  if (columns.length === 0 || columns.some((c) => !c))
    throw new SegmentError(`${where}: entity "${entity.name}" lists no attribute names`);
  checkColumns(columns, `${where}: entity "${entity.name}"`);
  const partitions = entity.partitions ?? [];
  if (partitions.length === 0)
    throw new SegmentError(`${where}: entity "${entity.name}" has no partitions (empty snapshot)`);

  const files: SegmentFile[] = [];
  for (const p of partitions) {
    if (!p.location) throw new SegmentError(`${where}: a partition of "${entity.name}" has no location`);
    const { container: c, name: location } = blobLocation(p.location, where);
    // A partition is read with the source's rights: model.json cannot point the app at its own files.
    const name = assertReadable(c, location, allowedContainers);
    const props = await blobs
      .getContainerClient(c)
      .getBlobClient(name)
      .getProperties()
      .catch((error) => {
        if (isNotFound(error)) {
          throw new SnapshotNotReadyError(
            `${where} names the partition ${c}/${name}, which does not exist (yet): the snapshot is not complete`,
            MISSING_PARTITION_RETRY_IN_MS,
          );
        }
        throw error;
      });
    const settings = p.fileFormatSettings ?? {};
    files.push({
      container: c,
      name,
      etag: props.etag ?? '',
      format: /\.parquet$/i.test(name) ? 'parquet' : 'csv',
      gzip: /\.gz$/i.test(name),
      header: settings.columnHeaders === true,
      columns,
      delimiter: settings.delimiter || ',',
      quote: settings.quoteStyle === 'QuoteStyle.None' ? false : '"',
      size: props.contentLength,
      lastModified: props.lastModified?.getTime(),
    });
  }
  return files;
}

/** Container and blob name of a blob URL (virtual-host or, for emulators, path-style). */
export function blobLocation(location: string, where = 'model.json'): { container: string; name: string } {
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new SegmentError(`${where}: partition location "${location}" is not a URL`);
  }
  let segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  // Path-style URLs (Azurite, IP hosts) carry the account name first.
  if (/^(\d+\.){3}\d+$|^localhost$|^\[/.test(url.hostname)) segments = segments.slice(1);
  if (segments.length < 2) throw new SegmentError(`${where}: partition location "${location}" names no blob`);
  return { container: segments[0], name: segments.slice(1).join('/') };
}
