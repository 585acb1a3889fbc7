import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeFileAtomic, readJsonIfExists, isTempName } from '../src/util/fsx.js';
import { acquireLock, lockHolder } from '../src/train/lock.js';
import { tempDir } from './helpers.js';

describe('atomic writes', () => {
  it('replace the whole file and leave no temp file behind', () => {
    const dir = tempDir();
    const p = join(dir, 'a.json');
    writeFileAtomic(p, '{"v":1}');
    writeFileAtomic(p, '{"v":2}');
    assert.deepEqual(readJsonIfExists(p), { v: 2 });
    assert.deepEqual(readdirSync(dir), ['a.json']);
    assert.equal(readJsonIfExists(join(dir, 'missing.json')), undefined);
    writeFileSync(join(dir, 'bad.json'), '{"v":');
    assert.throws(() => readJsonIfExists(join(dir, 'bad.json')), SyntaxError);
  });

  it('leave what was there intact and no temp file when the final rename fails', () => {
    const dir = tempDir();
    // A non-empty directory where the file should go: the temp file is written, the rename fails.
    const p = join(dir, 'target');
    mkdirSync(p);
    writeFileSync(join(p, 'keep.txt'), 'old');
    assert.throws(() => writeFileAtomic(p, 'new'));
    assert.equal(readFileSync(join(p, 'keep.txt'), 'utf8'), 'old');
    assert.deepEqual(readdirSync(dir), ['target']);
    assert.ok(readdirSync(dir).every((f) => !isTempName(f)));
  });
});

describe('run lock', () => {
  it('is exclusive while held, free after release, and stale once its owner is dead', async () => {
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    const path = join(dir, '.lock');
    const a = acquireLock(path);
    assert.ok(a.ok);
    // Our own pid holds it: a second acquisition (as by another process) is refused.
    const b = acquireLock(path);
    assert.equal(b.ok, false);
    if (!b.ok) assert.equal(b.owner.pid, process.pid);
    a.release();
    assert.equal(lockHolder(path), undefined);
    const c = acquireLock(path);
    assert.ok(c.ok);
    c.release();

    const child = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => child.once('exit', r));
    writeFileSync(path, JSON.stringify({ pid: child.pid, host: hostname(), since: 'x' }));
    assert.equal(lockHolder(path), undefined, 'a dead owner does not hold the lock');
    const d = acquireLock(path);
    assert.ok(d.ok, 'a stale lock is taken over');
    d.release();

    writeFileSync(path, JSON.stringify({ pid: 1, host: 'another-host', since: 'x' }));
    assert.equal(acquireLock(path).ok, false, "another host's lock is never broken");
  });
});

describe('run lock and reused pids', () => {
  it("records the owner's start time, and a live pid with another start time does not hold the lock", () => {
    const dir = tempDir();
    const path = join(dir, '.lock');
    const a = acquireLock(path);
    assert.ok(a.ok);
    const written = JSON.parse(readFileSync(path, 'utf8')) as { pid: number; start?: string };
    assert.equal(written.pid, process.pid);
    assert.equal(typeof written.start, 'string', "the lock names its owner's start time");
    assert.ok(lockHolder(path), 'our own lock, with our start time, is held');
    a.release();

    // pid 1 is always alive, but it is not the process that took this lock: the pid was reused.
    writeFileSync(path, JSON.stringify({ pid: 1, host: hostname(), since: 'x', start: 'not-its-start-time' }));
    assert.equal(lockHolder(path), undefined, 'a live process with another start time does not hold the lock');
    const b = acquireLock(path);
    assert.ok(b.ok, 'a lock whose pid was reused is taken over');
    b.release();
  });

  it('trusts a live pid in a lock written without a start time (an older sps)', () => {
    const dir = tempDir();
    const path = join(dir, '.lock');
    writeFileSync(path, JSON.stringify({ pid: process.pid, host: hostname(), since: 'x' }));
    assert.ok(lockHolder(path));
    assert.equal(acquireLock(path).ok, false);
  });
});
