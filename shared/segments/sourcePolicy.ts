import { RUN_FILES_CONTAINER, workContainerName } from '../store/runFiles.js';
import { SegmentError } from './segmentError.js';

/**
 * Which blobs an export may read. Segment sources are limited to the containers SEGMENTS_CONTAINERS
 * names (unset: any container but the app's own and the Functions host's). The app's own
 * containers hold other exports' rejected rows and payloads: they are never readable as a segment,
 * whatever the setting says. Names and paths are checked before any storage call.
 */

/** The app's containers and its deployment's (infra/main.bicep), never a segment source; nor is a work container. */
export const APP_CONTAINERS: readonly string[] = [RUN_FILES_CONTAINER, 'app-package'];
const HOST_CONTAINER = /^azure-webjobs-/;
/** Azure's rule: 3 to 63 lower-case letters, digits and single inner hyphens. */
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9]+(?:-[a-z0-9]+)*$/;
const MAX_PATH_LENGTH = 1024;

/** Why a container name cannot be a segment source under `allowed` (undefined when it can). */
export function containerProblem(container: string, allowed?: readonly string[]): string | undefined {
  if (!CONTAINER_NAME.test(container)) {
    return `"${container}" is not a valid container name (3 to 63 lower-case letters, digits and single hyphens, starting with a letter or digit)`;
  }
  if (
    APP_CONTAINERS.includes(container) ||
    container.startsWith(workContainerName('')) ||
    HOST_CONTAINER.test(container)
  ) {
    return `the container "${container}" belongs to the app or the Functions host and cannot be a segment source`;
  }
  if (allowed && !allowed.includes(container)) {
    return `the container "${container}" is not one of the segment containers this app may read (SEGMENTS_CONTAINERS: ${allowed.join(', ')})`;
  }
  return undefined;
}

/**
 * A source path as the app uses it: slashes trimmed and single. `.` and `..` segments, backslashes
 * and control characters are refused (the storage SDK would resolve `..` out of the container).
 */
export function normalizeSourcePath(path: string): { path?: string; problem?: string } {
  if (path.length > MAX_PATH_LENGTH) return { problem: `the path is longer than ${MAX_PATH_LENGTH} characters` };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return { problem: 'the path contains a control character' };
  if (path.includes('\\')) return { problem: 'the path contains a backslash (use "/" between folders)' };
  const segments = path.split('/').filter(Boolean);
  if (segments.some((s) => s === '.' || s === '..')) return { problem: 'the path contains a "." or ".." segment' };
  return { path: segments.join('/') };
}

/** Throws a SegmentError when a blob (a source, or a partition model.json names) may not be read. */
export function assertReadable(container: string, path: string, allowed?: readonly string[]): string {
  const problem = containerProblem(container, allowed) ?? normalizeSourcePath(path).problem;
  if (problem) throw new SegmentError(`${container}/${path}: ${problem}`);
  return normalizeSourcePath(path).path!;
}
