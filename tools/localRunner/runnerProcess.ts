/** `npm start` as a child process on a free port (tests and the benchmark run the app this way). */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');
/** Output kept for inspection; a long benchmark run logs far more, and only the start matters. */
const MAX_OUTPUT_CHARS = Number(process.env.RUNNER_OUTPUT_CHARS ?? 4 * 1024 * 1024);

export interface RunnerProcess {
  pid?: number;
  /** `http://127.0.0.1:<port>/api`, or '' for an instance without HTTP triggers. */
  url: string;
  output: () => string;
  stop(): Promise<number | null>;
  /** Kills the process at once (SIGKILL: no cleanup, as when an instance dies). */
  kill(): Promise<void>;
}

export async function startRunnerProcess(
  env: Record<string, string>,
  args: string[] = [],
  options: { nodeArgs?: string[]; startTimeoutInMs?: number } = {},
): Promise<RunnerProcess> {
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), '--import', 'tsx', join(ROOT, 'tools/localRunner/main.ts'), ...args],
    {
      cwd: ROOT,
      env: { ...process.env, ...env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  const collect = (c: Buffer) => {
    if (out.length < MAX_OUTPUT_CHARS) out += c.toString();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const url = await new Promise<string>((resolvePromise, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`runner did not start:\n${out}`)),
      options.startTimeoutInMs ?? 30_000,
    );
    const check = () => {
      if (!/ready/.test(out)) return;
      clearTimeout(timer);
      child.stdout.off('data', check);
      resolvePromise(/ready at (http:\/\/\S+)/.exec(out)?.[1] ?? '');
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`runner exited ${code}:\n${out}`));
    });
  });
  return {
    pid: child.pid,
    url,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
