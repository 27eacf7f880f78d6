/**
 * `npm start`: the local runner on http://127.0.0.1:${PORT:-7071}/api, with an embedded in-memory
 * Azurite when AzureWebJobsStorage is the development storage and nothing listens on its ports.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isListening, startAzurite, storageProblem, type AzuriteInstance } from '../azurite.js';
import { ConfigurationError, DEVELOPMENT_STORAGE, readConfig } from '../../shared/config.js';
import { createServices } from '../../shared/services.js';
import { developmentStoragePorts } from '../../shared/store/storageClients.js';
import { ensureConsoleBuilt } from '../buildConsole.js';
import { onParentGone } from '../parentWatch.js';
import { LocalRunner, type RunnerTrigger } from './runner.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** local.settings.json's Values, as `func start` applies them: the environment wins. */
function applyLocalSettings(): void {
  const file = join(ROOT, 'local.settings.json');
  if (!existsSync(file)) return;
  const values = (JSON.parse(readFileSync(file, 'utf8')) as { Values?: Record<string, string> }).Values ?? {};
  for (const [k, v] of Object.entries(values)) if (process.env[k] === undefined && v !== '') process.env[k] = String(v);
}

/**
 * `--functions DIR`, `--host-json FILE`, `--triggers queue,timer,http,events` (for example, a
 * worker-only instance; all four by default).
 */
function parseArgs(argv: string[]): {
  functionsDir?: string;
  hostJsonPath?: string;
  triggers?: RunnerTrigger[];
  list?: boolean;
} {
  const out: ReturnType<typeof parseArgs> = {};
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--list') out.list = true;
    else if (argv[i] === '--functions') out.functionsDir = resolve(value);
    else if (argv[i] === '--host-json') out.hostJsonPath = resolve(value);
    else if (argv[i] === '--triggers') out.triggers = value.split(',') as RunnerTrigger[];
    else throw new Error(`Unknown argument ${argv[i]}`);
    if (argv[i] !== '--list') i++;
  }
  return out;
}

/** A problem the person starting the runner fixes (a setting, a port): said in one line, no stack. */
class StartupError extends Error {}

let azurite: AzuriteInstance | undefined;

/**
 * The storage emulator on the development ports: one this runner starts (nothing listens there),
 * or one already running that answers as Azure storage does on all three. Anything else is refused:
 * adopting whatever holds the ports (an Azurite left by a crashed run, another program) would fail
 * on the first request.
 */
async function developmentStorage(ports: { blob: number; queue: number; table: number }): Promise<void> {
  const listening = await Promise.all([ports.blob, ports.queue, ports.table].map(isListening));
  if (listening.every((l) => !l)) {
    azurite = await startAzurite(ports);
    console.log(`Embedded Azurite (in memory) on blob ${ports.blob}, queue ${ports.queue}, table ${ports.table}`);
    return;
  }
  const problem = listening.every(Boolean)
    ? await storageProblem(process.env.AzureWebJobsStorage!)
    : 'only some of its ports are in use';
  if (problem) {
    throw new StartupError(
      `Something holds the storage emulator's ports (127.0.0.1:${ports.blob}, ${ports.queue}, ${ports.table}) but does not answer as Azure storage (${problem}). ` +
        'Stop it (an Azurite left by an earlier run?) and start again, or point AzureWebJobsStorage at a storage account.',
    );
  }
  console.log(
    `Using the storage emulator that listens on blob ${ports.blob}, queue ${ports.queue}, table ${ports.table}`,
  );
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  applyLocalSettings();
  process.env.AzureWebJobsStorage ||= DEVELOPMENT_STORAGE;
  if (args.list) {
    // The registrations as the host would receive them (name and binding metadata), as JSON.
    const registrations = await new LocalRunner(args).load();
    console.log(
      JSON.stringify(
        registrations.map((r) => ({ name: r.name, bindings: r.bindings })),
        null,
        2,
      ),
    );
    return;
  }
  // Every setting is checked before anything starts: a bad one is one line, and nothing is left running.
  createServices(readConfig(process.env));
  const ports = developmentStoragePorts(process.env.AzureWebJobsStorage);
  if (ports) await developmentStorage(ports);
  const lease = Number(process.env.LOCAL_RUNNER_MESSAGE_LEASE_SECONDS);
  // The console the runner serves is built from the current sources (only when they changed).
  if (!args.triggers || args.triggers.includes('http')) {
    if (await ensureConsoleBuilt()) console.log('Built the console into dist/console');
  }
  const runner = new LocalRunner({
    port: Number(process.env.PORT ?? 7071),
    triggers: ['http', 'timer', 'queue', 'events'],
    ...args,
    ...(lease > 0 ? { messageLeaseInMs: lease * 1000 } : {}),
  });
  try {
    await runner.start();
  } catch (error) {
    if ((error as { code?: string }).code === 'EADDRINUSE')
      throw new StartupError(
        `Port ${process.env.PORT ?? 7071} is in use: stop what holds it, or start with PORT=<another port>`,
      );
    throw error;
  }
  const where = runner.url ? `ready at ${runner.url}` : `ready (${(args.triggers ?? []).join(', ')} triggers only)`;
  console.log(`Local runner ${where} (this is not the Azure Functions host; see README)`);
  if (runner.rootUrl)
    console.log(
      `Console: ${runner.rootUrl}  (sign in with the development sign-in, as an administrator or a contributor)`,
    );

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
  onParentGone(() => void stop('parent process gone'));
}

main().catch(async (error) => {
  // Nothing this run started outlives it.
  await azurite?.stop().catch(() => undefined);
  if (error instanceof StartupError || error instanceof ConfigurationError)
    console.error(`npm start: ${error.message}`);
  else console.error(error);
  process.exit(1);
});
