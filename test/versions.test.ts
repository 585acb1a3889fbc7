import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gitState } from '../src/util/versions.js';
import { tempDir } from './helpers.js';

describe('gitState (run.json provenance)', () => {
  it('is dirty for changed tracked code, not for results/, docs/, Markdown or untracked files', () => {
    const dir = tempDir();
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', ...args], { cwd: dir, stdio: 'pipe' });
    git('init', '-q');
    mkdirSync(join(dir, 'results'));
    writeFileSync(join(dir, 'code.ts'), 'a');
    writeFileSync(join(dir, 'README.md'), 'a');
    mkdirSync(join(dir, 'docs'));
    writeFileSync(join(dir, 'docs', 'report.txt'), 'a');
    writeFileSync(join(dir, 'results', 'sweep.json'), '{}');
    git('add', '.');
    git('commit', '-qm', 'x');
    const head = git('rev-parse', 'HEAD').toString().trim();
    assert.deepEqual(gitState(dir), { commit: head, dirty: false });
    writeFileSync(join(dir, 'results', 'sweep.json'), '{"changed": 1}');
    writeFileSync(join(dir, 'untracked.ts'), 'b');
    assert.deepEqual(gitState(dir), { commit: head, dirty: false }, 'a sweep rewriting its sweep.json is not a code change');
    writeFileSync(join(dir, 'README.md'), 'b');
    writeFileSync(join(dir, 'docs', 'report.txt'), 'b');
    assert.deepEqual(gitState(dir), { commit: head, dirty: false }, 'reports written during a sweep are not code changes');
    writeFileSync(join(dir, 'code.ts'), 'changed');
    assert.deepEqual(gitState(dir), { commit: head, dirty: true });
    assert.deepEqual(gitState(tempDir()), { commit: null, dirty: null }, 'outside a work tree');
  });
});
