/**
 * Starts the real Azurite storage emulator (npm `azurite`) as a child process, in memory.
 * `require('azurite')` cannot be used (it loads a VS Code extension), so its bin is spawned.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { TableServiceClient } from '@azure/data-tables';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { azuriteConnectionString, expandConnectionString } from '../shared/store/storageClients.js';

export interface AzuriteInstance {
  connectionString: string;
  pid?: number;
  ports: { blob: number; queue: number; table: number };
  stop(): Promise<void>;
}

const require = createRequire(import.meta.url);

function azuriteBin(): string {
  return join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'azurite.js');
}

const EXIT_WITH_PARENT =
  'const parent = process.ppid; setInterval(() => { if (process.ppid !== parent) process.exit(0); }, 500).unref();';

/** Ports 0 (the default) let the OS pick free ones; Azurite prints what it chose. */
export async function startAzurite(
  ports = { blob: 0, queue: 0, table: 0 },
  timeoutInMs = 30_000,
): Promise<AzuriteInstance> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      // Azurite ends with the process that started it, even one killed outright: an orphan would
      // hold the ports, and with nobody reading its output it dies on its next request.
      `--import=data:text/javascript,${encodeURIComponent(EXIT_WITH_PARENT)}`,
      // AZURITE_CPU_PROFILE_DIR: where the emulator's own time goes (npm run bench; tools/cpuProfile.ts reads it).
      ...(process.env.AZURITE_CPU_PROFILE_DIR
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.AZURITE_CPU_PROFILE_DIR}`]
        : []),
      azuriteBin(),
      '--inMemoryPersistence',
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--loose',
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(ports.blob),
      '--queueHost',
      '127.0.0.1',
      '--queuePort',
      String(ports.queue),
      '--tableHost',
      '127.0.0.1',
      '--tablePort',
      String(ports.table),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const found: Partial<Record<'blob' | 'queue' | 'table', number>> = {};
  let output = '';
  let started = () => {};
  const onStdout = (chunk: Buffer) => {
    output += chunk.toString();
    for (const m of output.matchAll(
      /Azurite (Blob|Queue|Table) service is successfully listening at http:\/\/[^:]+:(\d+)/g,
    )) {
      found[m[1].toLowerCase() as 'blob'] = Number(m[2]);
    }
    if (found.blob && found.queue && found.table) started();
  };
  const onStderr = (chunk: Buffer) => (output += chunk.toString());
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`Azurite did not start within ${timeoutInMs} ms:\n${output}`)),
      timeoutInMs,
    );
    started = () => {
      clearTimeout(timer);
      resolve();
    };
    child.stdout!.on('data', onStdout);
    child.stderr!.on('data', onStderr);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited with code ${code}:\n${output}`));
    });
  });
  try {
    await ready;
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  // Started: what it prints from now on is drained, not kept (kept and rescanned, it grew without end).
  child.stdout!.off('data', onStdout).resume();
  child.stderr!.off('data', onStderr).resume();
  const actual = { blob: found.blob!, queue: found.queue!, table: found.table! };
  return {
    connectionString: azuriteConnectionString('127.0.0.1', actual),
    ports: actual,
    pid: child.pid,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Whether something accepts connections on a loopback port (an Azurite already running, a port still held). */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Why the storage at a development connection string does not answer as Azure storage (undefined
 * when blob, queue and table services all do), within a few seconds.
 */
export async function storageProblem(connectionString: string, timeoutInMs = 5_000): Promise<string | undefined> {
  const cs = expandConnectionString(connectionString);
  const abortSignal = AbortSignal.timeout(timeoutInMs);
  try {
    await BlobServiceClient.fromConnectionString(cs, { retryOptions: { maxTries: 1 } }).getProperties({ abortSignal });
    await QueueServiceClient.fromConnectionString(cs, { retryOptions: { maxTries: 1 } }).getProperties({ abortSignal });
    await TableServiceClient.fromConnectionString(cs, {
      allowInsecureConnection: true,
      retryOptions: { maxRetries: 0 },
    }).getProperties({ abortSignal });
    return undefined;
  } catch (error) {
    return (error as Error).message.split('\n')[0].slice(0, 200);
  }
}
