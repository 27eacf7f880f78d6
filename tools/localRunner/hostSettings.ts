import { readFileSync } from 'node:fs';

/** The queue semantics of host.json that the local runner reproduces. */
export interface QueueSettings {
  batchSize: number;
  newBatchThreshold: number;
  maxDequeueCount: number;
  visibilityTimeoutInMs: number;
  maxPollingIntervalInMs: number;
}

/** "hh:mm:ss" (host.json's TimeSpan) in milliseconds. */
export function timeSpanInMs(value: string | undefined, fallback: number): number {
  if (!value) return fallback;
  const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(value);
  if (!m) throw new Error(`host.json: "${value}" is not a TimeSpan such as 00:00:10`);
  const [, days, h, min, s, frac] = m;
  return (
    (((Number(days ?? 0) * 24 + Number(h)) * 60 + Number(min)) * 60 + Number(s)) * 1000 +
    Math.round(Number(`0.${frac ?? 0}`) * 1000)
  );
}

/**
 * Defaults are the Functions host's own (learn.microsoft.com, "Azure Queue storage trigger", host.json: batchSize 16,
 * maxDequeueCount 5, visibilityTimeout 0).
 */
export function readQueueSettings(hostJsonPath: string): QueueSettings {
  const host = JSON.parse(readFileSync(hostJsonPath, 'utf8')) as { extensions?: { queues?: Record<string, unknown> } };
  const q = host.extensions?.queues ?? {};
  const batchSize = Number(q.batchSize ?? 16);
  return {
    batchSize,
    newBatchThreshold: Number(q.newBatchThreshold ?? Math.floor(batchSize / 2)),
    maxDequeueCount: Number(q.maxDequeueCount ?? 5),
    visibilityTimeoutInMs: timeSpanInMs(q.visibilityTimeout as string | undefined, 0),
    maxPollingIntervalInMs: timeSpanInMs(q.maxPollingInterval as string | undefined, 60_000),
  };
}

/** host.json's HTTP route prefix (the host's default is "api"). */
export function readRoutePrefix(hostJsonPath: string): string {
  const host = JSON.parse(readFileSync(hostJsonPath, 'utf8')) as { extensions?: { http?: { routePrefix?: string } } };
  return (host.extensions?.http?.routePrefix ?? 'api').replace(/^\/+|\/+$/g, '');
}
