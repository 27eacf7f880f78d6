/**
 * The README's API walk, run as it is written (bash and curl) against "Your own setup": the
 * emulator, the local runner and the sample segment, on this test's own ports.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startActiveCampaignEmulator, type ActiveCampaignEmulator } from '../../tools/acEmulator/server.js';
import { startAzurite, type AzuriteInstance } from '../../tools/azurite.js';
import { appEnv, ROOT, startRunnerProcess, type RunnerProcess } from '../support/harness.js';

/** The first shell block after a heading of the README. */
function shellBlockAfter(heading: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const from = readme.indexOf(heading);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(from));
  if (from < 0 || !block) throw new Error(`No shell block after "${heading}" in the README`);
  return block[1];
}

describe('the README', () => {
  let azurite: AzuriteInstance;
  let emulator: ActiveCampaignEmulator;
  let runner: RunnerProcess;

  beforeAll(async () => {
    azurite = await startAzurite();
    // As `npm run emulator` starts it: ActiveCampaign's real limits, its default lists and fields.
    emulator = await startActiveCampaignEmulator({ importPhaseInMs: 50 });
    const env = appEnv(azurite, emulator);
    delete env.ACTIVECAMPAIGN_REQUESTS_PER_SECOND;
    delete env.ACTIVECAMPAIGN_BULK_IMPORTS_PER_MINUTE;
    delete env.SNAPSHOT_QUIET_SECONDS;
    runner = await startRunnerProcess(env);
  });
  afterAll(async () => {
    await runner?.stop();
    await emulator?.close();
    await azurite?.stop();
  });

  it('walks an export end to end in "Your own setup" with the commands it shows', async () => {
    const script = shellBlockAfter('### The API')
      .replaceAll('http://127.0.0.1:7071/api', runner.url)
      .replaceAll('127.0.0.1:8081', emulator.hostname);
    const { stdout } = await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: ROOT,
      env: { ...process.env, AzureWebJobsStorage: azurite.connectionString },
      timeout: 120_000,
    });
    expect(stdout).toContain('Wrote a sample segment of 1,000 profiles');
    expect(stdout).toContain('{"value":[{"id":"1","name":"Newsletter"}]}');
    const run = JSON.parse(stdout.split('\n').find((l) => l.startsWith('{"runId"'))!);
    expect(run.status).toBe('completedWithErrors');
    expect(run.counts).toMatchObject({ read: 1_000, upserted: 990, rejected: 10, failed: 0 });
    expect(stdout).toContain(
      'file,row,email,reason\ncustomerinsights/CustomerInsights_sample/VipCustomers/VipCustomers/part-1.csv,8,customer7.example.com,',
    );
    expect(emulator.listMembers(1)).toHaveLength(990);
  }, 150_000);
});
