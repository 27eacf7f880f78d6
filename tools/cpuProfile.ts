/**
 * `tsx tools/cpuProfile.ts <file.cpuprofile> [top]`: where a V8 CPU profile (node --cpu-prof) spent
 * its time: self time by function and by source file, the idle time apart.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) throw new Error('usage: tsx tools/cpuProfile.ts <file.cpuprofile> [top]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const top = Number(topArg ?? 30);
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

const where = (n: ProfileNode) => {
  const url = n.callFrame.url.replace(/^file:\/\//, '').replace(process.cwd() + '/', '');
  return url.includes('node_modules/')
    ? `node_modules/${url
        .split('node_modules/')
        .at(-1)!
        .split('/')
        .slice(0, url.includes('/@') ? 2 : 1)
        .join('/')}`
    : url || `(${n.callFrame.functionName || 'native'})`;
};
const sum = (key: (n: ProfileNode) => string) => {
  const out = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    out.set(key(n), (out.get(key(n)) ?? 0) + us);
  }
  return [...out].sort((a, b) => b[1] - a[1]).slice(0, top);
};
const show = (title: string, rows: [string, number][]) => {
  console.log(`\n${title}`);
  for (const [name, us] of rows)
    console.log(`${(us / 1e6).toFixed(2).padStart(8)} s ${((100 * us) / total).toFixed(1).padStart(5)} %  ${name}`);
};
console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled`);
show('self time by file', sum(where));
show(
  'self time by function',
  sum((n) => `${n.callFrame.functionName || '(anonymous)'}  ${where(n)}:${n.callFrame.lineNumber + 1}`),
);
