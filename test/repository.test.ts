/**
 * The repository stands alone: a user clones it and nothing else, so no file may read or link to a
 * path outside it (a folder beside the clone), nor to a file of its own that does not exist.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/harness.js';

/** Folders that are built, installed or local (never part of what a clone holds). */
const SKIP_DIRS = new Set(['.git', 'node_modules', 'dist', 'deploy', '.local', 'coverage', '.bicep']);
const TEXT =
  /\.(ts|tsx|js|mjs|cjs|json|md|yaml|yml|bicep|html|css|sh|ps1|txt)$|(^|\/)(\.ci\/run|\.gitignore|\.funcignore)$/;

function* repositoryFiles(dir = ROOT): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (!SKIP_DIRS.has(name)) yield* repositoryFiles(path);
    } else if (TEXT.test(relative(ROOT, path).split(sep).join('/'))) {
      yield path;
    }
  }
}

// Built from parts, so that this file does not name what it looks for.
const UP = '..';
const PARENT_PATH = new RegExp(`(?:^|[\\s'"\`(\\[])((?:\\.${'/'})*\\.\\./(?:\\.\\./)*shared\\b[^\\s'"\`)\\]]*)`, 'g');
const PARENT_JOIN = new RegExp(`['"]\\${UP[0]}\\${UP[1]}['"]\\s*,\\s*['"]shared['"]`);

/**
 * Where a file names a parent-relative "shared" path that is outside the repository, or a file of its own that is not
 * there.
 */
export function outsideReferences(file: string, text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(PARENT_PATH)) {
    const target = resolve(dirname(file), m[1].replace(/[.,;:]+$/, ''));
    const rel = relative(ROOT, target);
    const candidates = [target, `${target}.ts`, `${target}.tsx`, target.replace(/\.js$/, '.ts')];
    if (rel.startsWith('..') || !candidates.some((c) => existsSync(c))) found.push(m[1]);
  }
  if (PARENT_JOIN.test(text)) found.push('a path joined from ".." and "shared"');
  return found;
}

describe('the repository alone', () => {
  it('finds a reference to a folder beside the repository, and one to a file of its own that is missing', () => {
    expect(outsideReferences(join(ROOT, 'docs', 'design.md'), `see \`${UP}/shared/design/notes.md\``)).toEqual([
      `${UP}/shared/design/notes.md`,
    ]);
    expect(outsideReferences(join(ROOT, 'test', 'x.test.ts'), `join(ROOT, '${UP}', 'shared', 'x.json')`)).toEqual([
      'a path joined from ".." and "shared"',
    ]);
    expect(outsideReferences(join(ROOT, 'functions', 'x.ts'), `import { x } from '${UP}/shared/model.js';`)).toEqual(
      [],
    );
    expect(
      outsideReferences(join(ROOT, 'functions', 'x.ts'), `import { x } from '${UP}/${UP}/shared/model.js';`),
    ).toEqual([`${UP}/${UP}/shared/model.js`]);
  });

  it('holds no file that reads or links to a path outside it', () => {
    const offenders: string[] = [];
    for (const file of repositoryFiles()) {
      for (const ref of outsideReferences(file, readFileSync(file, 'utf8')))
        offenders.push(`${relative(ROOT, file)}: ${ref}`);
    }
    expect(offenders).toEqual([]);
  });
});
