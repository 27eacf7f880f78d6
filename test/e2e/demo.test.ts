/**
 * `npm run demo` is the README's first thing to try: it must keep working. It runs as a user runs
 * it (its own process, embedded Azurite and emulator at ActiveCampaign's real limits) and must end
 * with every valid profile in the list.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/harness.js';

describe('npm run demo', () => {
  it('sends the 9,990 valid profiles of its 10,000 and exits 0', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(ROOT, 'tools/demo.ts')], {
      cwd: ROOT,
      // The app's own settings of this machine must not leak in (the demo sets what it needs).
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => ['PATH', 'HOME', 'TMPDIR'].includes(k))),
      maxBuffer: 16 * 2 ** 20,
    });
    expect(stdout).toContain('9990 contacts subscribed to list 1 (expected 9990)');
    expect(stdout).toMatch(/rejected\s+10\b/);
    expect(stdout).toContain('npm run demo -- --keep');
  }, 240_000);
});
