import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { backendUnavailable } from '../src/backend/select.js';
import { ROOT, sps, spsSpawn, tempDir } from './helpers.js';

const TOY = join(ROOT, 'test/fixtures/toy.yaml');
const FAULT = join(ROOT, 'test/fixtures/fs-fault.ts');

/** `sps ARGS` with one fs call failing under `prefix` (test/fixtures/fs-fault.ts). */
function spsWithFault(fault: string, args: string[]) {
  return sps(args, { env: { NODE_OPTIONS: `--import tsx --import ${FAULT}`, SPS_FS_FAULT: fault } });
}

/** One line on stderr, naming `path` and `code`, no stack trace, exit 1. */
function assertOneLine(r: { code: number | null; stderr: string }, path: string, code: string): void {
  assert.equal(r.code, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at |unexpected error/, 'no stack trace');
  const line = r.stderr.split('\n').find((l) => l.includes(`(${code})`));
  assert.ok(line, `a line with (${code}) in:\n${r.stderr}`);
  assert.ok(line.startsWith(`sps: ${path}: cannot `), line);
}

describe('file-system errors name the path and the cause in one line', () => {
  it('--out is a file (EEXIST), or under a file (ENOTDIR)', () => {
    const dir = tempDir();
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const r = sps(['run', TOY, '--out', file]);
    assertOneLine(r, file, 'EEXIST');
    assert.match(r.stderr, /a-file is a file, not a directory/);
    const under = sps(['run', TOY, '--out', join(file, 'sub')]);
    assertOneLine(under, join(file, 'sub'), 'ENOTDIR');
    assert.match(under.stderr, /a-file is a file, not a directory/);
  });

  it('a name too long for the file system (ENAMETOOLONG)', () => {
    const out = join(tempDir(), 'x'.repeat(300));
    const r = sps(['run', TOY, '--out', out]);
    assertOneLine(r, out, 'ENAMETOOLONG');
    assert.match(r.stderr, /too long/);
  });

  it('a read-only results directory (EROFS) and a full disk at sweep start (ENOSPC)', () => {
    const out = tempDir();
    const ro = spsWithFault(`EROFS:openSync:${out}`, ['run', TOY, '--out', out]);
    assertOneLine(ro, join(out, 'sweep.json'), 'EROFS');
    assert.match(ro.stderr, /read-only/);
    const full = spsWithFault(`ENOSPC:writeSync:${out}`, ['run', TOY, '--out', out]);
    assertOneLine(full, join(out, 'sweep.json'), 'ENOSPC');
    assert.match(full.stderr, /no space left/);
    assert.deepEqual(readdirSync(out), [], 'no temp file is left behind');
  });

  it('an error no command expected still names its path (sps ls on an unreadable folder)', () => {
    const root = tempDir();
    const r = spsWithFault(`EACCES:readdirSync:${root}`, ['ls', root]);
    assertOneLine(r, root, 'EACCES');
  });

  it('a cell that fails before it wrote anything is not sent to a log file that does not exist', () => {
    const out = tempDir();
    // The run folders cannot be created; the results folder itself (sweep.json) can.
    const r = spsWithFault(`EROFS:mkdirSync:${join(out, 'toy-')}`, ['run', TOY, '--out', out, '--jobs', '1']);
    assert.equal(r.code, 1, r.stderr);
    const failed = r.stderr.split('\n').filter((l) => l.includes('FAILED'));
    assert.equal(failed.length, 4, r.stderr);
    for (const l of failed) assert.match(l, /EROFS/);
    assert.doesNotMatch(r.stderr, /log\.txt/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.match(r.stderr, /the cell failed before writing anything in /);
  });
});

describe('sps ls | head', () => {
  it('exits quietly when the reader closes the pipe', async () => {
    const child = spsSpawn(['ls', join(ROOT, 'results/chunking')]);
    child.stdout!.destroy(); // the reader is gone before sps writes a byte
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(stderr, '');
    assert.equal(code, 0);
  });
});

describe('--backend tensorflow without tfjs-node', { skip: backendUnavailable('tensorflow') === undefined && 'tfjs-node is installed here' }, () => {
  it('fails once, before any cell starts', () => {
    const out = join(tempDir(), 'out');
    const r = sps(['run', TOY, '--out', out, '--backend', 'tensorflow']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^sps: backend 'tensorflow' is not available: .*Use --backend native or wasm.* No cell was started\.\n$/);
    assert.ok(!existsSync(out), 'no results folder, no run folder');
  });
});

describe('--backend native without its addon', () => {
  // blas, the back end's former name, is the same back end and is refused the same way.
  for (const name of ['native', 'blas']) {
    it(`--backend ${name}: fails once, before any cell starts, with the build command`, () => {
      const out = join(tempDir(), 'out');
      const r = sps(['run', TOY, '--out', out, '--backend', name], { env: { SPS_BLAS_ADDON: '/nonexistent/sps_blas.node' } });
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /^sps: backend 'native' is not available: sps's native addon is not built \(\/nonexistent\/sps_blas\.node is missing\): build it with `bash scripts\/build-native\.sh`.* No cell was started\.\n$/,
      );
      assert.ok(!existsSync(out), 'no results folder, no run folder');
    });
  }
});
