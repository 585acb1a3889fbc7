import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers.js';

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? tsFiles(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
  );
}

test('source comments cite the paper or docs/, never documents outside the repository', () => {
  const outside = /model-spec|shared\/docs/;
  const hits = ['src', 'bench', 'scripts']
    .flatMap((d) => tsFiles(join(ROOT, d)))
    .flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .flatMap((line, i) => (outside.test(line) ? [`${relative(ROOT, f)}:${i + 1}: ${line.trim()}`] : [])),
    );
  assert.deepEqual(hits, [], 'cite docs/model.md (or another file under docs/) instead');
});
