/**
 * The layering of the code, checked over its imports (type-only imports too): no import cycle
 * anywhere; the ActiveCampaign client imports neither the run engine nor storage; the run engine's
 * rules and workers reach storage only through the ports of runs/ports.ts; storage implements the
 * run engine's contract (its model, ports and queue messages) and imports nothing else of it.
 */
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/harness.js';
import { importCycles, importGraph, sourceFiles } from './support/importGraph.js';

const files = [...sourceFiles(ROOT, 'shared'), ...sourceFiles(ROOT, 'functions'), ...sourceFiles(ROOT, 'tools')];
const graph = importGraph(ROOT, files);
/** The run engine's contract: what storage implements and the workers use. */
const CONTRACT = new Set(['shared/runs/runModel.ts', 'shared/runs/ports.ts', 'shared/runs/runQueues.ts']);

const imports = (from: string) =>
  [...graph].flatMap(([file, targets]) => (file.startsWith(from) ? targets.map((t) => [file, t] as const) : []));

describe('imports', () => {
  it('reads every import of the code (the check is not vacuous)', () => {
    expect(graph.get('shared/runs/sendBatch.ts')).toContain('shared/runs/failurePolicy.ts');
    expect(graph.get('shared/store/runStore.ts')).toContain('shared/runs/runModel.ts');
    expect(
      importCycles(
        new Map([
          ['a', ['b']],
          ['b', ['a']],
          ['c', ['a']],
        ]),
      ),
    ).toEqual([['a', 'b']]);
  });

  it('has no cycle', () => {
    expect(importCycles(graph)).toEqual([]);
  });

  it('keeps the ActiveCampaign client below the run engine and storage', () => {
    const upward = imports('shared/activecampaign/').filter(([, t]) =>
      /^shared\/(runs|store)\/|^shared\/services\.ts$/.test(t),
    );
    expect(upward).toEqual([]);
  });

  it('lets the run engine reach storage only through its ports', () => {
    const direct = imports('shared/runs/').filter(([, t]) => /^shared\/store\/|^shared\/services\.ts$/.test(t));
    expect(direct).toEqual([]);
  });

  it('lets storage import only the run engine’s contract', () => {
    const beyond = imports('shared/store/').filter(([, t]) => t.startsWith('shared/runs/') && !CONTRACT.has(t));
    expect(beyond).toEqual([]);
    const contractImports = [...CONTRACT].flatMap((f) =>
      (graph.get(f) ?? []).filter((t) => t.startsWith('shared/runs/')),
    );
    expect(contractImports.every((t) => CONTRACT.has(t))).toBe(true);
  });
});
