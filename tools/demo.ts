/**
 * `npm run demo`: everything embedded (Azurite, the ActiveCampaign emulator at ActiveCampaign's
 * real limits, the local runner), a generated 10,000-profile segment in Customer Insights' folder
 * layout, one export end to end through the HTTP API. Exits 0 only when every valid profile is in
 * the list.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { ADMIN_ROLE, principalHeader } from '../shared/auth/principal.js';
import type { Connection, Export, Run } from '../shared/model.js';
import { apiClient } from './apiClient.js';
import { config } from '../shared/config.js';
import { createServices, setServices } from '../shared/services.js';
import { LogTelemetry } from '../shared/telemetry.js';
import { EMULATOR_API_KEY, startActiveCampaignEmulator } from './acEmulator/server.js';
import { startAzurite } from './azurite.js';
import { ensureConsoleBuilt } from './buildConsole.js';
import { LocalRunner } from './localRunner/runner.js';

const PROFILES = 10_000;
const PARTITIONS = 2;
const INVALID_EVERY = 1_000; // every 1,000th profile gets a broken email
const TABLE = 'VipCustomers';
const FOLDER = `CustomerInsights_demo/segment-exports/${TABLE}`;

function generatePartitions(): { name: string; csv: string }[] {
  const stamp = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  const timeFolder = `${stamp.getUTCFullYear()}/${p(stamp.getUTCMonth() + 1)}/${p(stamp.getUTCDate())}/${p(stamp.getUTCHours())}${p(stamp.getUTCMinutes())}`;
  const perPartition = PROFILES / PARTITIONS;
  const parts: { name: string; csv: string }[] = [];
  for (let part = 0; part < PARTITIONS; part++) {
    const lines = ['CustomerId,EmailAddress,FirstName,LastName,City'];
    for (let i = part * perPartition; i < (part + 1) * perPartition; i++) {
      const email = i % INVALID_EVERY === 7 ? `customer${i}.example.com` : `customer${i}@example.com`;
      lines.push(`${i},${email},Given${i},"Family, ${i}",${['Oslo', 'Lisbon', 'Seattle'][i % 3]}`);
    }
    parts.push({ name: `${FOLDER}/${timeFolder}/${TABLE}_${part + 1}.csv`, csv: lines.join('\r\n') + '\r\n' });
  }
  return parts;
}

function progressBar(done: number, total: number, width = 30): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(ratio * 100)).padStart(3)}%`;
}

async function main(): Promise<number> {
  const started = Date.now();
  if (await ensureConsoleBuilt()) console.log('Built the console into dist/console');
  console.log('Starting Azurite (in memory) and the ActiveCampaign emulator (5 requests/s, 100 imports/min)…');
  const azurite = await startAzurite();
  const keep = process.argv.includes('--keep');
  // With --keep, fixed ports (the README's): the console on 7071, the emulator on 8081.
  const emulator = await startActiveCampaignEmulator({
    port: keep ? Number(process.env.EMULATOR_PORT ?? 8081) : 0,
    requestsPerSecond: 5,
    bulkImportsPerMinute: 100,
    lists: [
      { id: 1, name: 'Newsletter' },
      { id: 2, name: 'VIP offers' },
    ],
    fields: [{ id: 1, title: 'City', type: 'text' }],
  });
  Object.assign(process.env, {
    AzureWebJobsStorage: azurite.connectionString,
    ACTIVECAMPAIGN_INSECURE_HOSTS: emulator.hostname,
    ACTIVECAMPAIGN_REQUESTS_PER_SECOND: '5',
    ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE: '100',
    IMPORT_POLL_INTERVAL_SECONDS: '2',
    LOCAL_SECRETS_DIR: mkdtempSync(join(tmpdir(), 'demo-secrets-')),
    // The demo writes its segment and runs it at once: no quiet period to wait for.
    SNAPSHOT_QUIET_SECONDS: '0',
  });
  const logs: string[] = [];
  // The app's telemetry lines go to the runner's log with the rest, not between the progress lines.
  setServices(createServices(config(), { telemetry: new LogTelemetry((line) => logs.push(line)) }));
  const runner = new LocalRunner({ port: keep ? Number(process.env.PORT ?? 7071) : 0, log: (line) => logs.push(line) });
  try {
    await runner.start();
    const blobs = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const container = blobs.getContainerClient('customerinsights');
    await container.createIfNotExists();
    const partitions = generatePartitions();
    for (const p of partitions) await container.getBlockBlobClient(p.name).upload(p.csv, Buffer.byteLength(p.csv));
    const invalid = PROFILES / INVALID_EVERY;
    console.log(
      `Generated ${PROFILES} profiles (${invalid} with invalid emails) in ${partitions.length} partitions under customerinsights/${FOLDER}/`,
    );

    const principal = principalHeader('demo-admin@example.com', [ADMIN_ROLE]);
    const call = apiClient(runner.url, principal);

    const connection = await call<Connection>('POST', '/connections', {
      displayName: 'Demo account (emulator)',
      hostname: emulator.hostname,
      apiKey: EMULATOR_API_KEY,
      dataPrivacyConsent: true,
    });
    console.log(`Created connection ${connection.id} (${connection.hostname})`);
    const exp = await call<Export>('POST', '/exports', {
      displayName: 'VIP customers → Newsletter',
      connectionId: connection.id,
      listId: 1,
      source: { container: 'customerinsights', path: FOLDER },
      mapping: { email: 'EmailAddress', firstName: 'FirstName', lastName: 'LastName', fields: { '1': 'City' } },
    });
    console.log(`Created export ${exp.id} into list 1`);
    const { runId } = await call<{ runId: string }>('POST', `/exports/${exp.id}/runs`, {});
    console.log(`Started run ${runId}`);

    let run: Run;
    const tty = process.stdout.isTTY;
    let lastLine = '';
    for (;;) {
      run = await call<Run>('GET', `/exports/${exp.id}/runs/${runId}`);
      const total = run.batches?.total;
      const line = `${progressBar(run.batches?.done ?? 0, total ?? 1)} ${run.status.padEnd(19)} batches ${run.batches?.done ?? 0}/${total ?? '?'}  upserted ${run.counts.upserted}`;
      if (tty) process.stdout.write(`\r${line}`);
      else if (line !== lastLine) console.log(line);
      lastLine = line;
      if (['completed', 'completedWithErrors', 'failed', 'cancelled'].includes(run.status)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    if (tty) process.stdout.write('\n');

    const members = emulator.listMembers(1).length;
    const expected = PROFILES - invalid;
    const c = run.counts;
    console.log('\nRun summary');
    console.log(`  status       ${run.status}${run.error ? ` (${run.error})` : ''}`);
    console.log(`  read         ${c.read}`);
    console.log(`  rejected     ${c.rejected}   (rows listed in ${run.rejectedRows ?? 'none'})`);
    console.log(`  duplicate    ${c.duplicate}`);
    console.log(`  unchanged    ${c.unchanged}`);
    console.log(`  upserted     ${c.upserted}`);
    console.log(`  unsubscribed ${c.unsubscribed}`);
    console.log(`  failed       ${c.failed}`);
    console.log(
      `  accounted    read ${c.read} = ${c.rejected + c.duplicate + c.unchanged + c.upserted + c.failed} (rejected + duplicate + unchanged + upserted + failed)`,
    );
    console.log(
      `\nActiveCampaign emulator: ${members} contacts subscribed to list 1 (expected ${expected}); ${emulator.acceptedImports} bulk imports, ${emulator.refusedForRate} requests refused for rate`,
    );
    console.log(`Finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const ok = members === expected && c.upserted === expected && c.failed === 0;
    if (!ok) {
      console.error('\nDemo FAILED: not every valid profile reached the list. Runner log:');
      console.error(logs.slice(-40).join('\n'));
    }
    if (keep) {
      console.log(`\nConsole: ${runner.rootUrl}  (development sign-in; the export is "VIP customers → Newsletter")`);
      console.log(`ActiveCampaign emulator: hostname ${emulator.hostname}, API key ${EMULATOR_API_KEY}`);
      console.log('Everything keeps running (--keep): press Ctrl-C to stop.');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
    } else {
      console.log('\nRun `npm run demo -- --keep` to keep it running and look around in the console.');
    }
    return ok ? 0 : 1;
  } finally {
    await runner.stop();
    await emulator.close();
    await azurite.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
