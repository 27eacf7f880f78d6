import { describe, expect, it } from 'vitest';
import { ImportChecksTogether } from '../../shared/runs/importChecksTogether.js';
import { parseMessage, QUEUES, splitImportCheck, type ImportCheckMessage } from '../../shared/runs/runQueues.js';
import { MemoryQueues } from '../support/memoryPorts.js';

/** The import checks of one batch message travel as one queue message (fewer queue transactions a batch). */

const check = (batch: number, extra: Partial<ImportCheckMessage> = {}): ImportCheckMessage => ({
  exportId: 'e1',
  runId: 'r1',
  batch,
  importId: `i${batch}`,
  ...extra,
});

describe('an import check message for several imports', () => {
  it('is parsed with its imports, and refused when they are not imports or too many', () => {
    const imports = [1, 2].map((b) => ({ batch: b, importId: `i${b}` }));
    expect(parseMessage(QUEUES.importCheck, { ...check(1), imports })).toMatchObject({ imports });
    expect(parseMessage(QUEUES.importCheck, check(1))).toEqual(check(1));
    for (const bad of [
      [{ batch: 1 }],
      [{ batch: -1, importId: 'i' }],
      'i1',
      Array.from({ length: 65 }, (_, b) => ({ batch: b, importId: 'i' })),
    ])
      expect(parseMessage(QUEUES.importCheck, { ...check(1), imports: bad })).toBeUndefined();
  });

  it('stands for one check each, with the looks and tries they share', () => {
    const grouped = { ...check(3, { polls: 2 }), imports: [3, 4].map((b) => ({ batch: b, importId: `i${b}` })) };
    expect(splitImportCheck(grouped)).toEqual([check(3, { polls: 2 }), check(4, { polls: 2 })]);
    expect(splitImportCheck(check(5))).toEqual([check(5)]);
  });
});

describe('ImportChecksTogether', () => {
  it('holds plain checks until flushed, then sends one message per run, delay and looks', async () => {
    const queues = new MemoryQueues();
    const together = new ImportChecksTogether(queues);
    for (const b of [1, 2, 3]) await together.importCheck(check(b), 1_000);
    await together.importCheck(check(4, { polls: 1 }), 1_000);
    await together.importCheck(check(5, { runId: 'r2' }), 1_000);
    await together.importCheck(check(6), 5_000);
    expect(queues.sent).toEqual([]);
    await together.flush();
    const sent = queues.take<ImportCheckMessage>(QUEUES.importCheck);
    expect(sent.map((m) => [m.message.runId, m.delayInMs, splitImportCheck(m.message).map((c) => c.batch)])).toEqual([
      ['r1', 1_000, [1, 2, 3]],
      ['r1', 1_000, [4]],
      ['r2', 1_000, [5]],
      ['r1', 5_000, [6]],
    ]);
    expect(sent[0].message).toMatchObject({ batch: 1, importId: 'i1' });
    expect(sent[1].message).toMatchObject({ batch: 4, importId: 'i4', polls: 1 });
    expect(sent[1].message.imports).toBeUndefined();
    await together.flush();
    expect(queues.sent).toEqual([]);
  });

  it('sends a retry, a throttled or a poisoned check at once, alone', async () => {
    const queues = new MemoryQueues();
    const together = new ImportChecksTogether(queues);
    await together.importCheck(check(1, { attempt: 1 }), 1_000);
    await together.importCheck(check(2, { throttles: 1, throttledSince: 1 }), 1_000);
    await together.importCheck(check(3, { poisoned: 1 }), 1_000);
    expect(queues.take<ImportCheckMessage>(QUEUES.importCheck).map((m) => m.message.batch)).toEqual([1, 2, 3]);
  });

  it('never puts more imports in one message than a message may hold', async () => {
    const queues = new MemoryQueues();
    const together = new ImportChecksTogether(queues);
    for (let b = 1; b <= 70; b++) await together.importCheck(check(b), 1_000);
    await together.flush();
    const sent = queues.take<ImportCheckMessage>(QUEUES.importCheck).map((m) => m.message);
    expect(sent.map((m) => splitImportCheck(m).length)).toEqual([64, 6]);
    for (const m of sent) expect(parseMessage(QUEUES.importCheck, m)).toBeDefined();
  });
});
