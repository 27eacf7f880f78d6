import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRunId } from '../../shared/runs/runModel.js';
import { NO_CHANGES, StateWriter } from '../../shared/store/exportStateStore.js';
import { runFileNames } from '../../shared/store/runFiles.js';
import { stateText } from '../../shared/sync/delta.js';
import { startHarness, type Harness } from '../support/harness.js';

/** An export's state blob as the writer streams it and a commit copies it (Azurite). */
describe('the state writer', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('writes every line whole across its chunks, characters of any width and a line longer than a chunk', async () => {
    const container = await h.svc.runFiles.ready();
    const blob = container.getBlockBlobClient(`test/state-${newRunId()}.tsv.gz`);
    const writer = new StateWriter(blob);
    const identities = ['Zoë', '日本語', '😀 𝄞', 'plain'];
    const expected: string[] = [];
    for (let i = 0; i < 30_000; i++) {
      const identity = `${identities[i % identities.length]}-${i}`;
      const full = writer.add(`p${i}@example.com`, i * 7919, identity);
      if (full) await full;
      expected.push(`p${i}@example.com\t${stateText(i * 7919)}\t${identity}`);
    }
    // 300,000 characters of three bytes: more than a chunk of 256 KiB on its own.
    const long = `long@example.com\t${stateText(1)}\t${'€'.repeat(300_000)}`;
    await writer.addLine(long);
    expected.push(long);
    await writer.add('last@example.com', -1);
    expected.push('last@example.com\t-');
    await writer.close();
    expect(writer.count).toBe(expected.length);
    const text = gunzipSync(await blob.downloadToBuffer()).toString('utf8');
    expect(text).toBe(`${expected.join('\n')}\n`);
  });

  it('commits a pending state line for line, identities kept', async () => {
    const runId = newRunId();
    const writer = await h.svc.exportState.pendingWriter(runId);
    for (let i = 0; i < 5_000; i++) await writer.add(`c${i}@example.com`, i + 1, i % 2 ? `Zoë ${i}` : undefined);
    await writer.close();
    const pointer = await h.svc.exportState.commit('state-test', runId, NO_CHANGES);
    expect(pointer.contacts).toBe(5_000);
    const pending = gunzipSync(
      await (await h.svc.runFiles.ready()).getBlobClient(runFileNames.pendingState(runId)).downloadToBuffer(),
    );
    const committed = gunzipSync(await (await h.svc.runFiles.ready()).getBlobClient(pointer.blob).downloadToBuffer());
    expect(committed.toString('utf8')).toBe(pending.toString('utf8'));
    const identities = new Map<string, string>();
    for await (const [identity, email] of h.svc.exportState.identities(pointer)) identities.set(identity, email);
    expect(identities.size).toBe(2_500);
    expect(identities.get('Zoë 4999')).toBe('c4999@example.com');
  });
});
