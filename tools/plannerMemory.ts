/**
 * `npm run bench:planner`: the planner's memory at the largest snapshot an export may have
 * (PLANNER_ROWS, default SNAPSHOT_MAX_ROWS' default of 10,000,000) against Azurite:
 *   A. a first run (no previous state);
 *   B. a refresh of the same snapshot over the state A would commit;
 *   C. a refresh over that state with a snapshot of as many other emails (the worst case: the
 *      previous state and the new snapshot have nothing in common). PLANNER_SKIP_DISJOINT=1 leaves it out.
 * Each scenario plans a real run (payloads written, messages enqueued, nothing sent) in a process of
 * its own that does nothing else, as a Functions worker would, and reports that process's peak
 * resident memory (Linux VmHWM): everything it needs, Node and the SDKs included. Azurite and the
 * ActiveCampaign emulator run in the parent. PLANNER_TRACE=<seconds> logs the child's memory as it plans;
 * PLANNER_CPU_PROFILE_DIR writes each child's CPU profile; PLANNER_IDENTITY=1 gives the exports an
 * identity column (mapping.identity: CustomerId), whose refresh holds every identity in memory.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient } from '@azure/storage-blob';
import { readConfig } from '../shared/config.js';
import { createConnection } from '../shared/connections/connectionService.js';
import { createExport } from '../shared/exports/exportService.js';
import { planRun } from '../shared/runs/planRun.js';
import { startRun } from '../shared/runs/runLifecycle.js';
import { createServices } from '../shared/services.js';
import { NO_CHANGES } from '../shared/store/exportStateStore.js';
import { EMULATOR_API_KEY, startActiveCampaignEmulator } from './acEmulator/server.js';
import { startAzurite } from './azurite.js';

const ROWS = Number(process.env.PLANNER_ROWS ?? 10_000_000);
const PARTITIONS = Math.max(1, Math.min(20, Math.ceil(ROWS / 500_000)));
const CONTAINER = 'plannermemory';
const admin = { name: 'bench@example.com', roles: ['admin' as const] };
const log = (m: string) => console.log(`[planner ${new Date().toISOString().slice(11, 19)}] ${m}`);
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

/** What the parent hands a child: the settings to plan with and the export to plan. */
interface ChildTask {
  env: Record<string, string>;
  exportId: string;
  name: string;
  /** The exports that get the state this run would commit (B and C plan over A's). */
  commitTo?: string[];
}

/** Peak resident memory of this process since it started, in bytes. */
function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}

/**
 * In the child: plans one run (nothing is sent), reports its peak memory and hands the state it would commit to
 * `commitTo`.
 */
async function planInThisProcess(task: ChildTask): Promise<void> {
  const svc = createServices(readConfig(task.env));
  const exp = (await svc.exports.get(task.exportId))!;
  const before = process.memoryUsage().rss;
  const t0 = Date.now();
  const trace = process.env.PLANNER_TRACE
    ? setInterval(
        () => {
          const m = process.memoryUsage();
          log(
            `  rss ${mb(m.rss)} MB, heap used ${mb(m.heapUsed)} of ${mb(m.heapTotal)} MB, external ${mb(m.external)} MB (array buffers ${mb(m.arrayBuffers)} MB)`,
          );
        },
        Number(process.env.PLANNER_TRACE) * 1000,
      )
    : undefined;
  const run = await startRun(svc, exp, { trigger: 'manual' });
  await planRun(svc, { exportId: exp.id, runId: run.runId }, (m) =>
    / pass \d+, /.test(m) ? log(`  ${m}`) : undefined,
  );
  clearInterval(trace);
  const seconds = (Date.now() - t0) / 1000;
  const peak = peakRss();
  const planned = (await svc.runs.getRun(exp.id, run.runId))!;
  if (planned.status !== 'sending' && planned.status !== 'completed')
    throw new Error(`${task.name}: the run is ${planned.status}: ${planned.error}`);
  const c = planned.counts;
  log(
    `${task.name}: read ${c.read.toLocaleString('en')}, unchanged ${c.unchanged.toLocaleString('en')}, ${planned.plan!.batches.toLocaleString('en')} batches; planned in ${seconds.toFixed(1)} s`,
  );
  log(`${task.name}: peak resident memory of the planning process ${mb(peak)} MB (${mb(before)} MB before planning)`);
  // The run is left as planned, never ended: ending it deletes its payloads, and Azurite (which scans
  // every blob on each delete) managed about 2.5 deletes a second with 40,000 of them, hours for one run.
  for (const id of task.commitTo ?? []) await svc.exportState.commit(id, run.runId, NO_CHANGES);
}

/** In the parent: runs one scenario in a child process and waits for it. */
function planInChild(task: ChildTask): Promise<void> {
  // PLANNER_CPU_PROFILE_DIR: each planning process writes its CPU profile there (read it with tools/cpuProfile.ts).
  const profile = process.env.PLANNER_CPU_PROFILE_DIR
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PLANNER_CPU_PROFILE_DIR}`]
    : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', fileURLToPath(import.meta.url)], {
    env: { ...process.env, PLANNER_CHILD: JSON.stringify(task) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // Telemetry lines of the child are noise here.
  child.stdout.on('data', (chunk: Buffer) =>
    process.stdout.write(
      chunk
        .toString()
        .split('\n')
        .filter((l) => !l.startsWith('telemetry '))
        .join('\n'),
    ),
  );
  return new Promise((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${task.name}: the planning process exited with ${code}`)),
    ),
  );
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
    partitions.push({
      name: `p${p}`,
      location: `https://acct.blob.core.windows.net/${CONTAINER}/${name}`,
      fileFormatSettings: { $type: 'CsvFormatSettings', columnHeaders: false },
    });
  }
  const model = JSON.stringify({
    entities: [
      {
        name: 'Customers',
        attributes: ['CustomerId', 'Email', 'FirstName', 'LastName'].map((name) => ({ name })),
        partitions,
      },
    ],
  });
  await container.getBlockBlobClient(`${folder}/model.json`).upload(model, model.length);
}

async function main(): Promise<void> {
  const azurite = await startAzurite();
  const emulator = await startActiveCampaignEmulator({ lists: [{ id: 1, name: 'Planner' }] });
  try {
    const env = {
      AzureWebJobsStorage: azurite.connectionString,
      ACTIVECAMPAIGN_INSECURE_HOSTS: emulator.hostname,
      LOCAL_SECRETS_DIR: mkdtempSync(join(tmpdir(), 'planner-secrets-')),
      SNAPSHOT_QUIET_SECONDS: '0',
      SNAPSHOT_MAX_ROWS: String(Math.max(ROWS, 10_000_000)),
      ...(process.env.PLANNER_EMAILS_PER_PASS ? { PLANNER_EMAILS_PER_PASS: process.env.PLANNER_EMAILS_PER_PASS } : {}),
    };
    const svc = createServices(readConfig(env));
    const blobs = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const connection = await createConnection(svc, admin, {
      displayName: 'emulator',
      hostname: emulator.hostname,
      apiKey: EMULATOR_API_KEY,
      dataPrivacyConsent: true,
    });
    const started = Date.now();
    await uploadSegment(blobs, 'same', 0);
    if (process.env.PLANNER_SKIP_DISJOINT !== '1') await uploadSegment(blobs, 'other', ROWS);
    log(
      `${ROWS.toLocaleString('en')} rows a snapshot in ${PARTITIONS} partitions written in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    const exportOn = (path: string) =>
      createExport(svc, admin, {
        displayName: `planner memory ${path}`,
        connectionId: connection.id,
        listId: 1,
        mode: 'mirror',
        source: { container: CONTAINER, path },
        mapping: {
          email: 'Email',
          firstName: 'FirstName',
          lastName: 'LastName',
          ...(process.env.PLANNER_IDENTITY === '1' ? { identity: 'CustomerId' } : {}),
        },
        // The worst case replaces every contact: the removal guard is not what is measured here.
        removalGuardPercent: 100,
      });
    // A plans on an export of its own; B and C plan on a second one that has the state A would commit.
    const first = await exportOn('same');
    const refresh = await exportOn('same');
    await planInChild({ env, exportId: first.id, name: 'A. first run', commitTo: [refresh.id] });
    await planInChild({ env, exportId: refresh.id, name: 'B. refresh, same snapshot' });
    if (process.env.PLANNER_SKIP_DISJOINT !== '1') {
      await svc.exports.update(refresh.id, (x) => ({ ...x, source: { container: CONTAINER, path: 'other' } }));
      await planInChild({ env, exportId: refresh.id, name: 'C. refresh, no email in common' });
    }
    log(
      `Node ${process.version}; emails per pass ${svc.config.plannerEmailsPerPass.toLocaleString('en')}; total ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
  } finally {
    await emulator.close();
    await azurite.stop();
  }
}

const task = process.env.PLANNER_CHILD;
await (task ? planInThisProcess(JSON.parse(task) as ChildTask) : main());
