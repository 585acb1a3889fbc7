// A clone before `npm ci`, and `npm ci` where the toolchain of the native addon is missing: one line
// each, never a stack trace or a failed install.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, tempDir } from './helpers.js';

describe('a fresh clone', () => {
  it('bin/sps before a build says "run npm ci first" in one line and exits 1', () => {
    const clone = tempDir();
    mkdirSync(join(clone, 'bin'));
    copyFileSync(join(ROOT, 'bin/sps'), join(clone, 'bin/sps'));
    const r = spawnSync(process.execPath, [join(clone, 'bin/sps'), 'run', 'configs/smoke.yaml'], { cwd: clone, encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^sps: not installed yet \(.*dist\/cli\/main\.js.*\): run npm ci first\n$/);
  });

  it('build-native.sh --if-possible without gcc: one line on how to get the fast back end, exit 0, nothing installed', () => {
    // A PATH with what the script needs to get that far, and no gcc.
    const bin = tempDir();
    for (const cmd of ['bash', 'dirname', 'id', 'mkdir', 'rm', 'mv']) symlinkSync(`/usr/bin/${cmd}`, join(bin, cmd));
    symlinkSync(process.execPath, join(bin, 'node'));
    const r = spawnSync('/usr/bin/bash', [join(ROOT, 'scripts/build-native.sh'), '--if-possible', '--force'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { PATH: bin },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      /^sps: the fast back end \(native\) is not built: gcc or the headers of OpenBLAS or oneDNN are missing \(Debian: sudo apt-get install -y gcc libc6-dev libopenblas-openmp-dev libdnnl-dev\); sps runs on wasm until you run: npm run build:native\n$/,
    );
    // The script's former name runs it unchanged.
    const old = spawnSync('/usr/bin/bash', [join(ROOT, 'scripts/build-blas.sh'), '--if-possible', '--force'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { PATH: bin },
    });
    assert.deepEqual([old.status, old.stdout, old.stderr], [0, '', r.stderr]);
    // Without --if-possible the same machine is an error (as root it would install the packages instead).
    if (process.getuid?.() !== 0)
      assert.equal(
        spawnSync('/usr/bin/bash', [join(ROOT, 'scripts/build-native.sh'), '--force'], { cwd: ROOT, encoding: 'utf8', env: { PATH: bin } }).status,
        1,
      );
  });
});
