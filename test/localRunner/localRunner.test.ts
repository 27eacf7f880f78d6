import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { QueueClient } from '@azure/storage-queue';
import { azuriteConnectionString } from '../../shared/store/storageClients.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessage } from '../../shared/runs/runQueues.js';
import { isListening, startAzurite, type AzuriteInstance } from '../../tools/azurite.js';
import { ROOT, startRunnerProcess, waitFor, type RunnerProcess } from '../support/harness.js';

/** NCRONTAB for midnight of two days ago, yearly: the next firing is about a year away. */
function yearlyScheduleFromYesterday(): string {
  const d = new Date(Date.now() - 2 * 86_400_000);
  return `0 0 0 ${d.getDate()} ${d.getMonth() + 1} *`;
}

interface Entry {
  fn: string;
  message?: { id: string };
  dequeueCount?: number;
}

describe('the local runner', () => {
  let azurite: AzuriteInstance;
  let runner: RunnerProcess;
  let logFile: string;
  let queue: QueueClient;
  let poison: QueueClient;
  const entries = (): Entry[] =>
    existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];

  beforeAll(async () => {
    azurite = await startAzurite();
    logFile = join(mkdtempSync(join(tmpdir(), 'runner-')), 'log.jsonl');
    runner = await startRunnerProcess(
      { AzureWebJobsStorage: azurite.connectionString, FIXTURE_LOG: logFile, FAR_SCHEDULE: yearlyScheduleFromYesterday() },
      ['--functions', join(ROOT, 'test/fixtures/functions'), '--host-json', join(ROOT, 'test/fixtures/host.json')],
    );
    queue = new QueueClient(azurite.connectionString, 'runner-test');
    poison = new QueueClient(azurite.connectionString, 'runner-test-poison');
    await queue.createIfNotExists();
  });

  afterAll(async () => {
    await runner?.stop();
    await azurite?.stop();
  });

  it('says it is not the Azure Functions host', () => {
    expect(runner.output()).toMatch(/ready at http:\/\/127\.0\.0\.1:\d+\/api \(this is not the Azure Functions host/);
  });

  it('serves HTTP routes with parameters, optional parameters and the query', async () => {
    const res = await fetch(`${runner.url}/things/42/parts?q=hello`, { method: 'POST', body: 'payload' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ method: 'POST', params: { id: '42', part: '' }, q: 'hello', body: 'payload' });
    expect((await fetch(`${runner.url}/things/42/parts/7`)).status).toBe(200);
    expect((await fetch(`${runner.url}/things/42/parts/7`, { method: 'DELETE' })).status).toBe(405);
    expect((await fetch(`${runner.url}/nothing-here`)).status).toBe(404);
  });

  it('decodes base64 JSON messages and deletes them after success', async () => {
    await queue.sendMessage(encodeMessage({ id: 'ok' }));
    const entry = await waitFor('the message', async () => entries().find((e) => e.message?.id === 'ok'));
    expect(entry.dequeueCount).toBe(1);
    await waitFor('the queue to empty', async () => ((await queue.getProperties()).approximateMessagesCount === 0 ? true : undefined));
  });

  it('retries a failing message after the visibility timeout with a growing dequeue count', async () => {
    await queue.sendMessage(encodeMessage({ id: 'flaky', failTimes: 2 }));
    const attempts = await waitFor('three attempts', async () => {
      const seen = entries().filter((e) => e.message?.id === 'flaky');
      return seen.length >= 3 ? seen : undefined;
    }, 20_000);
    expect(attempts.map((a) => a.dequeueCount)).toEqual([1, 2, 3]);
  });

  it('moves a message to <queue>-poison after maxDequeueCount failures, unchanged', async () => {
    const text = encodeMessage({ id: 'doomed', failTimes: 99 });
    await queue.sendMessage(text);
    const poisoned = await waitFor('the poison queue', async () => {
      if (!(await poison.exists())) return undefined;
      const peeked = await poison.peekMessages({ numberOfMessages: 32 });
      return peeked.peekedMessageItems.find((m) => m.messageText === text);
    }, 20_000);
    expect(poisoned).toBeDefined();
    expect(entries().filter((e) => e.message?.id === 'doomed').map((e) => e.dequeueCount)).toEqual([1, 2, 3]);
  });

  it('sends a message that is not base64 to the poison queue without invoking the function', async () => {
    await queue.sendMessage('{"id":"raw json is not base64"}');
    await waitFor('the poison queue', async () => {
      if (!(await poison.exists())) return undefined;
      const peeked = await poison.peekMessages({ numberOfMessages: 32 });
      return peeked.peekedMessageItems.find((m) => m.messageText.includes('raw json'));
    }, 20_000);
    expect(entries().some((e) => JSON.stringify(e).includes('raw json'))).toBe(false);
  });

  it('fires timers on their NCRONTAB schedule', async () => {
    const ticks = await waitFor('two timer ticks', async () => {
      const t = entries().filter((e) => e.fn === 'timer');
      return t.length >= 2 ? t : undefined;
    }, 10_000);
    expect(ticks.length).toBeGreaterThanOrEqual(2);
  });

  it('waits for a schedule a year away instead of firing it at once (setTimeout clamps long delays)', async () => {
    await waitFor('three ticks of the one-second timer', async () => (entries().filter((e) => e.fn === 'timer').length >= 3 ? true : undefined), 10_000);
    expect(entries().filter((e) => e.fn === 'farTimer')).toEqual([]);
  });

  it('stops cleanly on SIGTERM', async () => {
    expect(await runner.stop()).toBe(0);
    expect(runner.output()).toContain('SIGTERM: stopping');
  });

  it('answers a malformed percent-encoding with 400 instead of hanging', async () => {
    const fresh = await startRunnerProcess({ AzureWebJobsStorage: azurite.connectionString, FIXTURE_LOG: logFile }, ['--functions', join(ROOT, 'test/fixtures/functions'), '--host-json', join(ROOT, 'test/fixtures/host.json')]);
    try {
      const res = await fetch(`${fresh.url}/things/%E0%A4%A/parts`, { signal: AbortSignal.timeout(10_000) });
      expect(res.status).toBe(400);
    } finally {
      await fresh.stop();
    }
  });
});

describe('npm start', () => {
  it('stops itself and its embedded Azurite on SIGTERM to npm, freeing their ports', async () => {
    const ports = await freePorts(3);
    const storage = azuriteConnectionString('127.0.0.1', { blob: ports[0], queue: ports[1], table: ports[2] });
    const child = spawn('npm', ['start', '--silent'], {
      cwd: ROOT,
      env: { ...process.env, AzureWebJobsStorage: storage, PORT: '0', LOCAL_SECRETS_DIR: mkdtempSync(join(tmpdir(), 'secrets-')), REFRESH_SCHEDULE: '0 0 0 1 1 *' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    await waitFor('ready', async () => (/ready at http:\/\/127\.0\.0\.1:(\d+)/.test(out) ? true : undefined), 60_000, 100);
    const runnerPort = Number(/ready at http:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]);
    expect(out).toContain(`Embedded Azurite (in memory) on blob ${ports[0]}`);
    expect(await isListening(ports[0])).toBe(true);
    child.kill('SIGTERM');
    await waitFor('the ports to be free', async () => {
      for (const p of [...ports, runnerPort]) if (await isListening(p)) return undefined;
      return true;
    }, 20_000, 200);
  }, 90_000);
});

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<Server>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
