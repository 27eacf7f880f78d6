/**
 * `npm run bench:planner`: the planner's memory at the largest snapshot an export may have
 * (PLANNER_ROWS, default SNAPSHOT_MAX_ROWS' default of 10,000,000), in this process against Azurite:
 *   A. a first run (no previous state: the email table grows as it reads);
 *   B. a refresh of the same snapshot over the state A would commit (the table is sized up front);
 *   C. a refresh over that state with a snapshot of as many other emails (the worst case: the
 *      previous state and the new snapshot have nothing in common). PLANNER_SKIP_DISJOINT=1 leaves it out.
 * Each scenario plans a real run (payloads written, messages enqueued, nothing sent) and reports
 * the process's peak resident memory (Linux VmHWM, reset before each) over its baseline.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { BlobServiceClient } from '@azure/storage-blob';
import { readConfig } from '../shared/config.js';
import { createConnection } from '../shared/connections/connectionService.js';
import { createExport } from '../shared/exports/exportService.js';
import type { Export } from '../shared/model.js';
import { planRun } from '../shared/runs/planRun.js';
import { endRun, startRun } from '../shared/runs/runLifecycle.js';
import { createServices } from '../shared/services.js';
import { EMULATOR_API_KEY, startActiveCampaignEmulator } from './acEmulator/server.js';
import { startAzurite } from './azurite.js';

const ROWS = Number(process.env.PLANNER_ROWS ?? 10_000_000);
const PARTITIONS = Math.max(1, Math.min(20, Math.ceil(ROWS / 500_000)));
const CONTAINER = 'plannermemory';
const admin = { name: 'bench@example.com', roles: ['admin' as const] };
const log = (m: string) => console.log(`[planner ${new Date().toISOString().slice(11, 19)}] ${m}`);
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

/** Peak resident memory of this process since the last reset, in bytes. */
function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}

/** Resets VmHWM to the current resident memory (Linux: write 5 to clear_refs). */
function resetPeak(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // Not Linux, or not allowed: the peak is then since the start of the process.
  }
}

async function uploadSegment(blobs: BlobServiceClient, folder: string, firstEmail: number): Promise<void> {
  const container = blobs.getContainerClient(CONTAINER);
  await container.createIfNotExists();
  const per = Math.ceil(ROWS / PARTITIONS);
  const partitions = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const name = `${folder}/Customers/part-${p}.csv`;
    const body = new PassThrough();
    const upload = container.getBlockBlobClient(name).uploadStream(body, 4 << 20, 4);
    let chunk = '';
    for (let i = p * per; i < Math.min(ROWS, (p + 1) * per); i++) {
      const id = firstEmail + i;
      chunk += `${id},customer${id}@example.com,Given${id},Family${id % 977}\r\n`;
      if (chunk.length > 1 << 20) {
        if (!body.write(chunk)) await new Promise((r) => body.once('drain', r));
        chunk = '';
      }
    }
    body.end(chunk);
    await upload;
    partitions.push({ name: `p${p}`, location: `https://acct.blob.core.windows.net/${CONTAINER}/${name}`, fileFormatSettings: { $type: 'CsvFormatSettings', columnHeaders: false } });
  }
  const model = JSON.stringify({ entities: [{ name: 'Customers', attributes: ['CustomerId', 'Email', 'FirstName', 'LastName'].map((name) => ({ name })), partitions }] });
  await container.getBlockBlobClient(`${folder}/model.json`).upload(model, model.length);
}

const azurite = await startAzurite();
const emulator = await startActiveCampaignEmulator({ lists: [{ id: 1, name: 'Planner' }] });
try {
  const svc = createServices(
    readConfig({
      AzureWebJobsStorage: azurite.connectionString,
      ACTIVECAMPAIGN_INSECURE_HOSTS: emulator.hostname,
      LOCAL_SECRETS_DIR: mkdtempSync(join(tmpdir(), 'planner-secrets-')),
      SNAPSHOT_QUIET_SECONDS: '0',
      SNAPSHOT_MAX_ROWS: String(Math.max(ROWS, 10_000_000)),
    }),
  );
  const blobs = BlobServiceClient.fromConnectionString(azurite.connectionString);
  const connection = await createConnection(svc, admin, { displayName: 'emulator', hostname: emulator.hostname, apiKey: EMULATOR_API_KEY, dataPrivacyConsent: true });
  const started = Date.now();
  await uploadSegment(blobs, 'same', 0);
  if (process.env.PLANNER_SKIP_DISJOINT !== '1') await uploadSegment(blobs, 'other', ROWS);
  log(`${ROWS.toLocaleString('en')} rows a snapshot in ${PARTITIONS} partitions written in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const exp = await createExport(svc, admin, {
    displayName: 'planner memory', connectionId: connection.id, listId: 1, mode: 'mirror',
    source: { container: CONTAINER, path: 'same' }, mapping: { email: 'Email', firstName: 'FirstName', lastName: 'LastName' },
    // The worst case replaces every contact: the removal guard is not what is measured here.
    removalGuardPercent: 100,
  });

  /** Plans one run of `exp`, commits the state it would commit, and ends it unsent. */
  async function plan(name: string, e: Export): Promise<void> {
    global.gc?.();
    await new Promise((r) => setTimeout(r, 200));
    const baseline = process.memoryUsage().rss;
    resetPeak();
    const t0 = Date.now();
    const trace = process.env.PLANNER_TRACE
      ? setInterval(() => {
        const m = process.memoryUsage();
        log(`  rss ${mb(m.rss)} MB, heap used ${mb(m.heapUsed)} of ${mb(m.heapTotal)} MB, external ${mb(m.external)} MB (array buffers ${mb(m.arrayBuffers)} MB)`);
      }, Number(process.env.PLANNER_TRACE) * 1000)
      : undefined;
    const run = await startRun(svc, e, { trigger: 'manual', confirmRemovals: true });
    await planRun(svc, { exportId: e.id, runId: run.runId });
    clearInterval(trace);
    const seconds = (Date.now() - t0) / 1000;
    const peak = peakRss();
    const planned = (await svc.runs.getRun(e.id, run.runId))!;
    if (planned.status !== 'sending' && planned.status !== 'completed') throw new Error(`${name}: the run is ${planned.status}: ${planned.error}`);
    const c = planned.counts;
    log(`${name}: read ${c.read.toLocaleString('en')}, unchanged ${c.unchanged.toLocaleString('en')}, ${planned.plan!.batches.toLocaleString('en')} batches; planned in ${seconds.toFixed(1)} s`);
    log(`${name}: resident memory ${mb(baseline)} MB before, peak ${mb(peak)} MB while planning (${mb(peak - baseline)} MB more)`);
    if (planned.status === 'completed') return; // nothing to send: the run committed its state itself
    await svc.exportState.commit(e.id, run.runId, { drop: new Set(), set: new Map() });
    await endRun(svc, e.id, run.runId, 'cancelled', 'Measured: planned only');
  }

  await plan('A. first run', exp);
  await plan('B. refresh, same snapshot', exp);
  if (process.env.PLANNER_SKIP_DISJOINT !== '1') {
    const other = await svc.exports.update(exp.id, (x) => ({ ...x, source: { container: CONTAINER, path: 'other' } }));
    await plan('C. refresh, no email in common', other!);
  }
  log(`Node ${process.version}; total ${((Date.now() - started) / 1000).toFixed(0)} s`);
} finally {
  await emulator.close();
  await azurite.stop();
}
