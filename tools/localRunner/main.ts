/**
 * `npm start`: the local runner on http://127.0.0.1:${PORT:-7071}/api, with an embedded in-memory
 * Azurite when AzureWebJobsStorage is the development storage and nothing listens on its ports.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isListening, startAzurite, type AzuriteInstance } from '../azurite.js';
import { DEVELOPMENT_STORAGE } from '../../shared/config.js';
import { developmentStoragePorts } from '../../shared/store/storageClients.js';
import { ensureConsoleBuilt } from '../buildConsole.js';
import { LocalRunner } from './runner.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** local.settings.json's Values, as `func start` applies them: the environment wins. */
function applyLocalSettings(): void {
  const file = join(ROOT, 'local.settings.json');
  if (!existsSync(file)) return;
  const values = (JSON.parse(readFileSync(file, 'utf8')) as { Values?: Record<string, string> }).Values ?? {};
  for (const [k, v] of Object.entries(values)) if (process.env[k] === undefined && v !== '') process.env[k] = String(v);
}

/** `--functions DIR`, `--host-json FILE`, `--triggers queue,timer,http` (for example, a worker-only instance). */
function parseArgs(argv: string[]): { functionsDir?: string; hostJsonPath?: string; triggers?: ('http' | 'timer' | 'queue')[]; list?: boolean } {
  const out: ReturnType<typeof parseArgs> = {};
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === "--functions") out.functionsDir = resolve(value), i++;
    else if (argv[i] === '--host-json') out.hostJsonPath = resolve(value), i++;
    else if (argv[i] === '--list') out.list = true;
    else if (argv[i] === '--triggers') out.triggers = value.split(',') as ('http' | 'timer' | 'queue')[], i++;
    else throw new Error(`Unknown argument ${argv[i]}`);
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  applyLocalSettings();
  process.env.AzureWebJobsStorage ||= DEVELOPMENT_STORAGE;
  if (args.list) {
    // The registrations as the host would receive them (name and binding metadata), as JSON.
    const registrations = await new LocalRunner(args).load();
    console.log(JSON.stringify(registrations.map((r) => ({ name: r.name, bindings: r.bindings })), null, 2));
    return;
  }
  let azurite: AzuriteInstance | undefined;
  const ports = developmentStoragePorts(process.env.AzureWebJobsStorage);
  if (ports && !(await isListening(ports.blob)) && !(await isListening(ports.queue)) && !(await isListening(ports.table))) {
    azurite = await startAzurite(ports);
    console.log(`Embedded Azurite (in memory) on blob ${ports.blob}, queue ${ports.queue}, table ${ports.table}`);
  }
  const lease = Number(process.env.LOCAL_RUNNER_MESSAGE_LEASE_SECONDS);
  // The console the runner serves is built from the current sources (only when they changed).
  if (!args.triggers || args.triggers.includes('http')) {
    if (await ensureConsoleBuilt()) console.log('Built the console into dist/console');
  }
  const runner = new LocalRunner({ port: Number(process.env.PORT ?? 7071), ...args, ...(lease > 0 ? { messageLeaseInMs: lease * 1000 } : {}) });
  await runner.start();
  const where = runner.url ? `ready at ${runner.url}` : `ready (${(args.triggers ?? []).join(', ')} triggers only)`;
  console.log(`Local runner ${where} (this is not the Azure Functions host; see README)`);
  if (runner.rootUrl) console.log(`Console: ${runner.rootUrl}  (sign in with the development sign-in, as an administrator or a contributor)`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping`);
    await runner.stop();
    await azurite?.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  // `npm start` passes SIGTERM to the shell it started, which dies without passing it on: a runner
  // whose parent is gone stops as if it had been signalled, so that it and its Azurite free their ports.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void stop('parent process gone');
  }, 500).unref();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
