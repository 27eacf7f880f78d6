import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { QueueClient } from '@azure/storage-queue';
import { azuriteConnectionString } from '../../shared/store/storageClients.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessage } from '../../shared/store/storageQueues.js';
import { ADMIN_ROLE, principalHeader } from '../../shared/auth/principal.js';
import { MAX_BODY_BYTES } from '../../shared/http/requests.js';

const signedIn = principalHeader('tester@example.com', [ADMIN_ROLE]);
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
    existsSync(logFile)
      ? readFileSync(logFile, 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];

  beforeAll(async () => {
    azurite = await startAzurite();
    logFile = join(mkdtempSync(join(tmpdir(), 'runner-')), 'log.jsonl');
    runner = await startRunnerProcess(
      {
        AzureWebJobsStorage: azurite.connectionString,
        FIXTURE_LOG: logFile,
        FAR_SCHEDULE: yearlyScheduleFromYesterday(),
      },
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
    const res = await fetch(`${runner.url}/things/42/parts?q=hello`, {
      method: 'POST',
      body: 'payload',
      headers: { 'x-ms-client-principal': signedIn },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ method: 'POST', params: { id: '42', part: '' }, q: 'hello', body: 'payload' });
    expect((await fetch(`${runner.url}/things/42/parts/7`)).status).toBe(200);
    expect((await fetch(`${runner.url}/things/42/parts/7`, { method: 'DELETE' })).status).toBe(405);
    expect((await fetch(`${runner.url}/nothing-here`)).status).toBe(404);
  });

  it('refuses a body before reading it: without a caller (as App Service Authentication does), or larger than the API takes', async () => {
    const anonymous = await fetch(`${runner.url}/things/42/parts`, { method: 'POST', body: 'payload' });
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { message: string } }).error.message).toBe(
      'Sign in first: no client principal on the request',
    );
    const huge = await fetch(`${runner.url}/things/42/parts`, {
      method: 'POST',
      body: 'x'.repeat(MAX_BODY_BYTES + 1),
      headers: { 'x-ms-client-principal': signedIn },
    });
    expect(huge.status).toBe(400);
    expect(((await huge.json()) as { error: unknown }).error).toEqual({
      code: 'PayloadTooLarge',
      message: `The body is larger than ${MAX_BODY_BYTES} bytes`,
    });
    // Without a declared length too (chunked), it stops reading at the limit.
    const chunks = new ReadableStream({
      start(c) {
        for (let i = 0; i < 100; i++) c.enqueue(new TextEncoder().encode('y'.repeat(1024)));
        c.close();
      },
    });
    const streamed = await fetch(`${runner.url}/things/42/parts`, {
      method: 'POST',
      body: chunks,
      duplex: 'half',
      headers: { 'x-ms-client-principal': signedIn },
    });
    expect(streamed.status).toBe(400);
  });

  it('decodes base64 JSON messages and deletes them after success', async () => {
    await queue.sendMessage(encodeMessage({ id: 'ok' }));
    const entry = await waitFor('the message', async () => entries().find((e) => e.message?.id === 'ok'));
    expect(entry.dequeueCount).toBe(1);
    await waitFor('the queue to empty', async () =>
      (await queue.getProperties()).approximateMessagesCount === 0 ? true : undefined,
    );
  });

  it('retries a failing message after the visibility timeout with a growing dequeue count', async () => {
    await queue.sendMessage(encodeMessage({ id: 'flaky', failTimes: 2 }));
    const attempts = await waitFor(
      'three attempts',
      async () => {
        const seen = entries().filter((e) => e.message?.id === 'flaky');
        return seen.length >= 3 ? seen : undefined;
      },
      20_000,
    );
    expect(attempts.map((a) => a.dequeueCount)).toEqual([1, 2, 3]);
  });

  it('moves a message to <queue>-poison after maxDequeueCount failures, unchanged', async () => {
    const text = encodeMessage({ id: 'doomed', failTimes: 99 });
    await queue.sendMessage(text);
    const poisoned = await waitFor(
      'the poison queue',
      async () => {
        if (!(await poison.exists())) return undefined;
        const peeked = await poison.peekMessages({ numberOfMessages: 32 });
        return peeked.peekedMessageItems.find((m) => m.messageText === text);
      },
      20_000,
    );
    expect(poisoned).toBeDefined();
    expect(
      entries()
        .filter((e) => e.message?.id === 'doomed')
        .map((e) => e.dequeueCount),
    ).toEqual([1, 2, 3]);
  });

  it('sends a message that is not base64 to the poison queue without invoking the function', async () => {
    await queue.sendMessage('{"id":"raw json is not base64"}');
    await waitFor(
      'the poison queue',
      async () => {
        if (!(await poison.exists())) return undefined;
        const peeked = await poison.peekMessages({ numberOfMessages: 32 });
        return peeked.peekedMessageItems.find((m) => m.messageText.includes('raw json'));
      },
      20_000,
    );
    expect(entries().some((e) => JSON.stringify(e).includes('raw json'))).toBe(false);
  });

  it('fires timers on their NCRONTAB schedule', async () => {
    const ticks = await waitFor(
      'two timer ticks',
      async () => {
        const t = entries().filter((e) => e.fn === 'timer');
        return t.length >= 2 ? t : undefined;
      },
      10_000,
    );
    expect(ticks.length).toBeGreaterThanOrEqual(2);
  });

  it('waits for a schedule a year away instead of firing it at once (setTimeout clamps long delays)', async () => {
    await waitFor(
      'three ticks of the one-second timer',
      async () => (entries().filter((e) => e.fn === 'timer').length >= 3 ? true : undefined),
      10_000,
    );
    expect(entries().filter((e) => e.fn === 'farTimer')).toEqual([]);
  });

  it('stops cleanly on SIGTERM', async () => {
    expect(await runner.stop()).toBe(0);
    expect(runner.output()).toContain('SIGTERM: stopping');
  });

  it('answers a malformed percent-encoding with 400 instead of hanging', async () => {
    const fresh = await startRunnerProcess({ AzureWebJobsStorage: azurite.connectionString, FIXTURE_LOG: logFile }, [
      '--functions',
      join(ROOT, 'test/fixtures/functions'),
      '--host-json',
      join(ROOT, 'test/fixtures/host.json'),
    ]);
    try {
      const res = await fetch(`${fresh.url}/things/%E0%A4%A/parts`, { signal: AbortSignal.timeout(10_000) });
      expect(res.status).toBe(400);
    } finally {
      await fresh.stop();
    }
  });
});

/**
 * `npm start` in a child process; resolves with its exit code and output once it exits, or when `until` shows in its
 * output.
 */
async function npmStart(
  env: Record<string, string>,
  until?: RegExp,
): Promise<{ code: number | null; out: string; child: ReturnType<typeof spawn> }> {
  const child = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: '0',
      LOCAL_SECRETS_DIR: mkdtempSync(join(tmpdir(), 'secrets-')),
      REFRESH_SCHEDULE: '0 0 0 1 1 *',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve) => {
    const collect = (c: Buffer) => {
      out += c.toString();
      if (until?.test(out)) resolve({ code: null, out, child });
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('exit', (code) => resolve({ code, out, child }));
  });
}

describe('npm start', () => {
  it('says what is wrong with a setting in one line, and leaves nothing running', async () => {
    const ports = await freePorts(3);
    const storage = azuriteConnectionString('127.0.0.1', { blob: ports[0], queue: ports[1], table: ports[2] });
    for (const [env, line] of [
      [{ SEGMENTS_CONTAINERS: 'ab' }, 'npm start: SEGMENTS_CONTAINERS: "ab" is not a valid container name'],
      [
        { WEBSITE_INSTANCE_ID: 'x' },
        'npm start: KEY_VAULT_URL is not set: the local development secret store is refused when running in Azure',
      ],
    ] as const) {
      const { code, out } = await npmStart({ AzureWebJobsStorage: storage, ...env });
      expect(code).toBe(1);
      expect(out.trim()).toBe(line);
      for (const p of ports) expect(await isListening(p)).toBe(false);
    }
  }, 60_000);

  it('stops the Azurite it started when it cannot start itself (its port is taken)', async () => {
    const [blob, queue, table] = await freePorts(3);
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (taken.address() as AddressInfo).port;
      const { code, out } = await npmStart({
        AzureWebJobsStorage: azuriteConnectionString('127.0.0.1', { blob, queue, table }),
        PORT: String(port),
      });
      expect(code).toBe(1);
      expect(out).toContain(`Embedded Azurite (in memory) on blob ${blob}`);
      expect(out.trim().split('\n').at(-1)).toBe(
        `npm start: Port ${port} is in use: stop what holds it, or start with PORT=<another port>`,
      );
      for (const p of [blob, queue, table]) expect(await isListening(p)).toBe(false);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  }, 60_000);

  it('never adopts something on the storage ports that does not answer as storage', async () => {
    const holders = await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<Server>((resolve) => {
            // Accepts connections and closes them: an orphan that died, or another program.
            const s = createServer((socket) => socket.destroy());
            s.listen(0, '127.0.0.1', () => resolve(s));
          }),
      ),
    );
    try {
      const [blob, queue, table] = holders.map((s) => (s.address() as AddressInfo).port);
      const { code, out } = await npmStart({
        AzureWebJobsStorage: azuriteConnectionString('127.0.0.1', { blob, queue, table }),
      });
      expect(code).toBe(1);
      expect(out.trim()).toMatch(
        new RegExp(
          `^npm start: Something holds the storage emulator's ports \\(127\\.0\\.0\\.1:${blob}, ${queue}, ${table}\\) but does not answer as Azure storage`,
        ),
      );
    } finally {
      await Promise.all(holders.map((s) => new Promise((r) => s.close(r))));
    }
  }, 60_000);

  it('leaves no Azurite behind when the runner is killed outright', async () => {
    const ports = await freePorts(3);
    const { child } = await npmStart(
      {
        AzureWebJobsStorage: azuriteConnectionString('127.0.0.1', { blob: ports[0], queue: ports[1], table: ports[2] }),
      },
      /ready at/,
    );
    // npm → sh → node: the runner is a grandchild of the process this test started.
    const processes = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,args='], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l)!);
    const family = new Set([child.pid!]);
    for (let grew = true; grew;) {
      grew = false;
      for (const [, pid, ppid] of processes) {
        if (!family.has(Number(ppid)) || family.has(Number(pid))) continue;
        family.add(Number(pid));
        grew = true;
      }
    }
    const runner = processes.find(
      ([, pid, , args]) => family.has(Number(pid)) && args.includes('localRunner/main.ts'),
    )!;
    process.kill(Number(runner[1]), 'SIGKILL');
    await waitFor(
      'the ports to be free',
      async () => {
        for (const p of ports) if (await isListening(p)) return undefined;
        return true;
      },
      20_000,
      200,
    );
    child.kill('SIGTERM');
  }, 90_000);

  it('stops itself and its embedded Azurite on SIGTERM to npm, freeing their ports', async () => {
    const ports = await freePorts(3);
    const storage = azuriteConnectionString('127.0.0.1', { blob: ports[0], queue: ports[1], table: ports[2] });
    const child = spawn('npm', ['start', '--silent'], {
      cwd: ROOT,
      env: {
        ...process.env,
        AzureWebJobsStorage: storage,
        PORT: '0',
        LOCAL_SECRETS_DIR: mkdtempSync(join(tmpdir(), 'secrets-')),
        REFRESH_SCHEDULE: '0 0 0 1 1 *',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    await waitFor(
      'ready',
      async () => (/ready at http:\/\/127\.0\.0\.1:(\d+)/.test(out) ? true : undefined),
      60_000,
      100,
    );
    const runnerPort = Number(/ready at http:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]);
    expect(out).toContain(`Embedded Azurite (in memory) on blob ${ports[0]}`);
    expect(await isListening(ports[0])).toBe(true);
    child.kill('SIGTERM');
    await waitFor(
      'the ports to be free',
      async () => {
        for (const p of [...ports, runnerPort]) if (await isListening(p)) return undefined;
        return true;
      },
      20_000,
      200,
    );
  }, 90_000);
});

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve) => {
          const s = createServer();
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
