import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { needs, tempDir, sps, spsSpawn, ROOT, SHARED_DATASETS, TINY_TOY, type CliResult } from './helpers.js';
import type { RunRecord } from '../src/core/records.js';

const TOY = join(ROOT, 'test/fixtures/toy.yaml');

function runDirs(out: string): string[] {
  return readdirSync(out, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => join(out, e.name))
    .sort();
}

const readJson = <T>(p: string): T => JSON.parse(readFileSync(p, 'utf8')) as T;

/** metrics.jsonl without the wall-clock seconds, for comparing two runs. */
function metricsWithoutTime(dir: string): unknown[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { seconds: _s, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return rest;
    });
}

describe('sps run', () => {
  it('blocks that share a (task, objective, mode) but differ in a setting count their planned seeds apart', () => {
    const dir = tempDir();
    const file = join(dir, 'variants.yaml');
    writeFileSync(
      file,
      [
        'name: variants',
        'task: toy',
        'objectives: [ssvm]',
        'modes: [joint]',
        'seeds: 2',
        'data: { sequences: 16, length: 4 }',
        'train: { epochs: 1, batch_size: 8 }',
        'backend: cpu',
        'blocks:',
        '  - train: { lr: 0.05 }',
        '  - train: { lr: 0.1 }',
        '',
      ].join('\n'),
    );
    const r = sps(['run', file, '--out', join(dir, 'out'), '--no-table']);
    assert.equal(r.code, 0, r.stderr);
    const dirs = runDirs(join(dir, 'out', 'toy')); // a file of blocks: one folder per task
    assert.equal(dirs.length, 4);
    assert.deepEqual(
      dirs.map((d) => readJson<RunRecord>(join(d, 'run.json')).planned_seeds),
      [2, 2, 2, 2],
    );
  });

  it('runs every cell, writes the run folder, and skips finished cells on rerun', () => {
    const out = tempDir();
    const r = sps(['run', TOY, '--out', out, '--jobs', '2']);
    assert.equal(r.code, 0, r.stderr);
    const dirs = runDirs(out);
    assert.equal(dirs.length, 4);
    for (const d of dirs) {
      for (const f of ['config.json', 'run.json', 'metrics.jsonl', 'final.json', 'log.txt', 'predictions.txt']) assert.ok(existsSync(join(d, f)), `${d}/${f}`);
      assert.ok(!existsSync(join(d, '.lock')), 'lock released');
      const run = readJson<RunRecord>(join(d, 'run.json'));
      assert.equal(run.status, 'done');
      assert.equal(run.backend?.name, 'cpu');
      assert.equal(run.planned_seeds, 2);
      assert.ok(run.versions['@tensorflow/tfjs-core']);
      assert.ok(run.duration_s! >= 0);
      assert.equal(readFileSync(join(d, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 3);
      const final = readJson<{ primary: string; metrics: Record<string, number> }>(join(d, 'final.json'));
      assert.ok(final.metrics.accuracy > 40, `the toy task learns (accuracy ${final.metrics.accuracy})`);
    }
    assert.match(r.stderr, /\[epoch\] toy\/log-likelihood\/joint\/seed0 epoch 1/);
    assert.match(r.stderr, /4 done now, 0 already done, 0 failed/);

    const before = dirs.map((d) => statSync(join(d, 'final.json')).mtimeMs);
    const again = sps(['run', TOY, '--out', out]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /0 done now, 4 already done/);
    assert.deepEqual(
      dirs.map((d) => statSync(join(d, 'final.json')).mtimeMs),
      before,
    );

    const dry = sps(['run', TOY, '--out', out, '--dry-run', 'seeds=3']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /6 cells planned .*: 4 already done, 2 to run/);
    assert.match(dry.stdout, /ssvm .* joint .* 2 /);

    const forced = sps(['run', TOY, '--out', out, '--force', 'objectives=[ssvm]', 'seeds=[0]']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stderr, /1 done now/);
    assert.equal(readdirSync(join(out, '.replaced')).length, 1, 'the forced-over run is kept');
  });

  it('is deterministic: same config, seed and back end give identical metrics', () => {
    const a = tempDir();
    const b = tempDir();
    for (const out of [a, b]) assert.equal(sps(['run', TOY, '--out', out, 'objectives=[ssvm]', 'seeds=[1]']).code, 0);
    const [da] = runDirs(a);
    const [db] = runDirs(b);
    assert.deepEqual(metricsWithoutTime(da), metricsWithoutTime(db));
    assert.deepEqual(readJson(join(da, 'final.json')), readJson(join(db, 'final.json')));
    const c = tempDir();
    assert.equal(sps(['run', TOY, '--out', c, 'objectives=[ssvm]', 'seeds=[2]']).code, 0);
    assert.notDeepEqual(metricsWithoutTime(runDirs(c)[0]), metricsWithoutTime(da), 'another seed gives another run');
  });

  it('records a NaN loss and a crash as failed runs, goes on, and exits non-zero', () => {
    const out = tempDir();
    const r = sps(['run', TOY, '--out', out, 'objectives=[ssvm]', 'seeds=3', 'model.nan_seeds=[1]', 'model.throw_seeds=[2]', '--jobs', '1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /1 done now, 0 already done, 2 failed/);
    assert.match(r.stderr, /FAILED .*seed1.*epoch 2 \(joint\): loss 'train' is NaN; the run diverged/);
    assert.match(r.stderr, /2 cells failed; fix the cause/);
    const runs = runDirs(out).map((d) => readJson<RunRecord>(join(d, 'run.json')));
    const bySeed = new Map(runs.map((x) => [x.seed, x]));
    assert.equal(bySeed.get(0)?.status, 'done');
    assert.equal(bySeed.get(1)?.status, 'failed');
    assert.equal(bySeed.get(1)?.error?.epoch, 2);
    assert.match(bySeed.get(2)?.error?.message ?? '', /requested crash/);
    assert.ok(!existsSync(join(runDirs(out)[1], 'final.json')));

    const ls = sps(['ls', out, '--status', 'failed']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /2 runs with status failed/);

    // Failed cells are retried by the next sweep (and fail again here); the finished one is not.
    const again = sps(['run', TOY, '--out', out, 'objectives=[ssvm]', 'seeds=3', 'model.nan_seeds=[1]', 'model.throw_seeds=[2]', '--jobs', '1']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /0 done now, 1 already done, 2 failed/);
    const metricsLine = readFileSync(join(runDirs(out)[1], 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')[1];
    assert.equal(JSON.parse(metricsLine).losses.train, 'NaN', 'a NaN loss stays visible in metrics.jsonl');
  });

  it('records a worker that dies without reporting as failed, with its exit code and stderr', () => {
    const out = tempDir();
    const r = sps(['run', TOY, '--out', out, 'objectives=[ssvm]', 'seeds=2', 'model.exit_seeds=[0]', '--jobs', '1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /1 done now, 0 already done, 1 failed/);
    const run = readJson<RunRecord>(join(runDirs(out)[0], 'run.json'));
    assert.equal(run.seed, 0);
    assert.equal(run.status, 'failed');
    assert.match(run.error?.message ?? '', /worker exited with code 134: toy task: simulated fatal error/);
    const ls = sps(['ls', out, '--status', 'failed']);
    assert.match(ls.stdout, /1 runs with status failed/);
  });

  it('--fail-fast stops at the first failure', () => {
    const out = tempDir();
    const r = sps(['run', TOY, '--out', out, 'objectives=[ssvm]', 'seeds=3', 'model.throw_seeds=[0]', '--jobs', '1', '--fail-fast']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /0 done now, 0 already done, 1 failed, 0 running elsewhere, 2 interrupted/);
    assert.equal(runDirs(out).length, 1);
  });

  it('leaves a cell locked by a live process alone and exits non-zero; takes over a stale or reused-pid lock', async () => {
    const out = tempDir();
    const plan = sps(['run', TOY, '--out', out, 'seeds=[0]', '--dry-run']);
    const ids = [...plan.stdout.matchAll(/\b([0-9a-f]{12})\b/g)].map((m) => m[1]);
    assert.equal(ids.length, 2);
    const sleeper = spawn('sleep', ['60']);
    try {
      const { mkdirSync } = await import('node:fs');
      const { hostname } = await import('node:os');
      const { processStartTime } = await import('../src/train/lock.js');
      const held = join(out, `toy-log-likelihood-joint-seed0-${ids[0]}`);
      const reused = join(out, `toy-ssvm-joint-seed0-${ids[1]}`);
      mkdirSync(held, { recursive: true });
      mkdirSync(reused, { recursive: true });
      writeFileSync(join(held, '.lock'), JSON.stringify({ pid: sleeper.pid, host: hostname(), since: 'test', start: processStartTime(sleeper.pid!) }));
      // pid 1 is alive, but started long before this lock could have been taken: a reused pid.
      writeFileSync(join(reused, '.lock'), JSON.stringify({ pid: 1, host: hostname(), since: 'test', start: 'not-the-start-of-pid-1' }));
      const r = sps(['run', TOY, '--out', out, 'seeds=[0]']);
      assert.equal(r.code, 75, r.stderr);
      assert.match(r.stderr, /1 done now, 0 already done, 0 failed, 1 running elsewhere/);
      assert.match(r.stderr, new RegExp(`locked by pid ${sleeper.pid}`));
      assert.match(r.stderr, /1 cell is still running in another process.*run the same command again/);
      assert.ok(existsSync(join(reused, 'final.json')));
      assert.ok(!existsSync(join(held, 'final.json')));
      const ls = sps(['ls', out, '--status', 'running']);
      assert.match(ls.stdout, /1 runs with status running/);
    } finally {
      const gone = new Promise((r) => sleeper.once('exit', r));
      sleeper.kill();
      await gone;
    }
    const stale = join(out, `toy-log-likelihood-joint-seed0-${ids[0]}`);
    assert.equal(sps(['ls', out, '--status', 'running']).stdout.match(/(\d+) runs with status running/)?.[1], '0', 'the lock of a dead sleeper is stale');
    const again = sps(['run', TOY, '--out', out, 'seeds=[0]']);
    assert.equal(again.code, 0, again.stderr);
    assert.ok(existsSync(join(stale, 'final.json')));
  });
});

describe('damaged run folders', () => {
  /** One finished toy run (ssvm, seed 0) in a fresh results folder. */
  function oneRun(): { out: string; dir: string; args: string[] } {
    const out = tempDir();
    const args = ['run', TOY, '--out', out, 'objectives=[ssvm]', 'seeds=[0]'];
    const r = sps(args);
    assert.equal(r.code, 0, r.stderr);
    return { out, dir: runDirs(out)[0], args };
  }

  /** Overwrite `file` of the run folder, and check that ls and table name it rather than fail or print nothing. */
  function damage(out: string, dir: string, file: string, content: string): { ls: CliResult; table: CliResult } {
    writeFileSync(join(dir, file), content);
    const ls = sps(['ls', out]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /pending \(damaged\)/);
    assert.ok(ls.stdout.includes(file), ls.stdout);
    const table = sps(['table', out]);
    assert.equal(table.code, 0, table.stderr);
    assert.ok(table.stdout.includes(join(dir, file)), table.stdout);
    return { ls, table };
  }

  it('an unreadable run.json is named by ls and table, and the next sweep sets the folder aside and redoes it', () => {
    const { out, dir, args } = oneRun();
    const { table } = damage(out, dir, 'run.json', '{"id": "abc", "stat');
    assert.match(table.stdout, /not valid JSON/);

    const r = sps(args);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stderr.includes(join(dir, 'run.json')), r.stderr);
    assert.match(r.stderr, /1 done now, 0 already done, 0 failed/);
    assert.equal(readJson<RunRecord>(join(dir, 'run.json')).status, 'done');
    const aside = readdirSync(join(out, '.replaced'));
    assert.equal(aside.length, 1);
    assert.match(aside[0], /-damaged-/);
    assert.equal(readFileSync(join(out, '.replaced', aside[0], 'run.json'), 'utf8'), '{"id": "abc", "stat', 'the damaged files are kept');
  });

  it('a final.json that does not match its schema is not done: ls and table report it, the sweep redoes it', () => {
    const { out, dir, args } = oneRun();
    const { ls } = damage(out, dir, 'final.json', '{}\n');
    assert.match(ls.stdout, /1 runs: 0 done, 0 failed, 0 running, 1 pending/);
    const dry = sps([...args, '--dry-run']);
    assert.match(dry.stdout, /0 already done, 1 to run/);

    const r = sps(args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /1 done now, 0 already done/);
    assert.equal(readJson<{ primary: string }>(join(dir, 'final.json')).primary, 'accuracy');
    assert.equal(readdirSync(join(out, '.replaced')).length, 1);
  });

  it('a bad sweep.json: ls says to delete sweep.json alone, lists the runs, and the next run rewrites it', () => {
    const { out, args } = oneRun();
    writeFileSync(join(out, 'sweep.json'), '{"cells": [');
    const ls = sps(['ls', out]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.ok(ls.stderr.includes(join(out, 'sweep.json')), ls.stderr);
    assert.match(ls.stderr, /delete .*sweep\.json/);
    assert.doesNotMatch(ls.stderr, /delete (the|this) (run )?folder/);
    assert.match(ls.stdout, /1 runs: 1 done/);
    const r = sps(args);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readJson<{ cells: unknown[] }>(join(out, 'sweep.json')).cells.length, 1);
  });
});

describe('the plan in sweep.json', () => {
  it('a rerun of part of a sweep keeps the rest of the plan visible to ls', () => {
    const out = tempDir();
    const base = ['run', TOY, '--out', out, 'model.throw_seeds=[0]', '--jobs', '1'];
    const first = sps([...base, '--fail-fast']);
    assert.equal(first.code, 1);
    assert.match(sps(['ls', out]).stdout, /4 runs: 0 done, 1 failed, 0 running, 3 pending/);
    const part = sps([...base, 'objectives=[ssvm]', 'seeds=[1]']);
    assert.equal(part.code, 0, part.stderr);
    assert.match(sps(['ls', out]).stdout, /4 runs: 1 done, 1 failed, 0 running, 2 pending/);
    assert.equal(readJson<{ cells: unknown[] }>(join(out, 'sweep.json')).cells.length, 4);
  });
});

describe('an interrupted sweep', () => {
  it('records the cells it stopped as interrupted in run.json', async () => {
    const out = tempDir();
    const child = spsSpawn(['run', TOY, '--out', out, 'objectives=[ssvm]', 'seeds=[0]', 'model.epoch_delay_ms=400', 'train.epochs=20']);
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/\[epoch\]/.test(stderr)) resolve();
      });
      child.once('exit', () => reject(new Error(`the sweep ended before its first epoch:\n${stderr}`)));
    });
    process.kill(child.pid!, 'SIGINT');
    const code = await new Promise((r) => child.once('exit', (c) => r(c)));
    assert.equal(code, 130, stderr);
    const run = readJson<RunRecord>(join(runDirs(out)[0], 'run.json'));
    assert.equal(run.status, 'interrupted');
    assert.match(run.error?.message ?? '', /SIGINT/);
    assert.match(sps(['ls', out]).stdout, /pending \(interrupted\)/);
  });
});

describe('a diverging loss that stays finite', () => {
  it('finishes the run with a divergence warning in run.json and in the table notes', () => {
    const out = tempDir();
    const r = sps(['run', TOY, '--out', out, 'objectives=[ssvm]', 'seeds=[0]', 'model.blowup_seeds=[0]']);
    assert.equal(r.code, 0, r.stderr);
    const run = readJson<RunRecord & { warnings?: string[] }>(join(runDirs(out)[0], 'run.json'));
    assert.equal(run.status, 'done');
    assert.equal(run.warnings?.length, 1, JSON.stringify(run.warnings));
    assert.match(run.warnings![0], /epoch 2 .*loss 'train' .*2e\+36.*diverg/);
    const table = sps(['table', out]);
    assert.match(table.stdout, /Warnings:[\s\S]*loss 'train' .*diverg/);
    const csv = sps(['table', out, '--format', 'csv']);
    assert.match(csv.stderr, /diverg/);
  });
});

describe('a table of runs with different settings', () => {
  it('keeps a rerun with another train.epochs apart and flags both cells in every format', () => {
    const out = tempDir();
    assert.equal(sps(['run', TOY, '--out', out, 'objectives=[ssvm]', 'seeds=[0]']).code, 0);
    assert.equal(sps(['run', TOY, '--out', out, 'objectives=[ssvm]', 'seeds=[0]', 'train.epochs=2']).code, 0);
    const csv = sps(['table', out, '--format', 'csv']);
    assert.equal(csv.code, 0, csv.stderr);
    const lines = csv.stdout.trim().split('\n');
    assert.equal(lines.length, 3, csv.stdout);
    const header = lines[0].split(',');
    const rows = lines.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i], v])));
    assert.deepEqual(
      rows.map((x) => x.n),
      ['1', '1'],
      'seed 0 is never counted twice',
    );
    assert.deepEqual(
      rows.map((x) => x.flagged),
      ['true', 'true'],
    );
    assert.ok(
      rows.some((x) => x.variant === 'train.epochs=2'),
      csv.stdout,
    );
  });
});

describe('two sps run processes on one results directory', () => {
  it('run every cell exactly once between them', async () => {
    const out = tempDir();
    const args = ['run', TOY, '--out', out, '--jobs', '1', 'model.epoch_delay_ms=100', 'seeds=3'];
    const finish = (c: ReturnType<typeof spsSpawn>) =>
      new Promise<string>((resolve) => {
        let err = '';
        c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
        c.once('exit', () => resolve(err));
      });
    const a = spsSpawn(args);
    await new Promise((r) => setTimeout(r, 300));
    const b = spsSpawn(args);
    const [ea, eb] = await Promise.all([finish(a), finish(b)]);
    const doneNow = (e: string) => Number(/(\d+) done now/.exec(e)?.[1]);
    const started = (e: string) => (e.match(/\[start\]/g) ?? []).length;
    // Every cell is started once in all: a cell is never trained by both processes.
    assert.equal(started(ea) + started(eb), 6, `${ea}\n---\n${eb}`);
    assert.ok(doneNow(ea) + doneNow(eb) >= 1);
    assert.equal(runDirs(out).filter((d) => existsSync(join(d, 'final.json'))).length, doneNow(ea) + doneNow(eb));
    // Whatever one process left to the other is finished by a third run, which trains nothing twice.
    const c = sps(args);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(runDirs(out).filter((d) => existsSync(join(d, 'final.json'))).length, 6);
    assert.equal(doneNow(ea) + doneNow(eb) + doneNow(c.stderr), 6);
  });
});

describe('a file with blocks', () => {
  it('writes a block of its own to <out>/<task>', () => {
    const out = tempDir();
    // Two blocks of the toy task (the only task cheap enough here): one per objective.
    const text = readFileSync(TOY, 'utf8')
      .replace(/^objectives: .*$/m, '')
      .replace(/^task: toy$/m, 'blocks:\n  - task: toy\n    objectives: [log-likelihood]\n  - task: toy\n    objectives: [ssvm]');
    const file = join(tempDir(), 'blocks.yaml');
    writeFileSync(file, text);
    const r = sps(['run', file, '--out', out, '--jobs', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(out), ['toy']);
    assert.equal(runDirs(join(out, 'toy')).length, 4);
    assert.equal(readJson<{ cells: unknown[] }>(join(out, 'toy', 'sweep.json')).cells.length, 4);
    assert.ok(r.stderr.includes(`(results in ${join(out, 'toy')})`), r.stderr);
  });

  it('writes an included file to <out>/<its name>, sharing finished runs with that file run on its own', () => {
    const out = tempDir();
    const file = join(tempDir(), 'all.yaml');
    writeFileSync(file, `name: all\nblocks:\n  - include: ${TOY}\n`);
    assert.equal(sps(['run', TOY, '--out', join(out, 'toy-test'), 'seeds=[0]']).code, 0);
    const r = sps(['run', file, '--out', out, '--jobs', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /2 done now, 2 already done, 0 failed/);
    assert.deepEqual(readdirSync(out), ['toy-test']);
    assert.equal(runDirs(join(out, 'toy-test')).length, 4);
  });
});

describe('back ends', () => {
  it('sps run names its back end first; a folder with runs of another back end gets a note, and sps table marks the mixed cell', () => {
    const out = tempDir();
    const args = ['run', TOY, '--out', out, ...TINY_TOY];
    const first = sps([...args, 'seeds=[0]', '--backend', 'cpu']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /^sps: back end: cpu \(requested\)\n/);
    assert.doesNotMatch(first.stderr, /another back end/);
    const second = sps([...args, 'seeds=[0,1]', '--backend', 'wasm', '--no-table']);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /^sps: back end: wasm \(requested\)\n/);
    assert.ok(
      second.stderr.includes(`sps: note: ${out} already holds finished runs made on another back end (1 on cpu); this sweep runs on wasm.`),
      second.stderr,
    );
    const table = sps(['table', out]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /\(2\)‡/);
    assert.match(table.stdout, /^‡ the cell's finished runs were made on more than one back end .*: toy \/ ssvm \/ joint: cpu, wasm\.$/m);
    const json = JSON.parse(sps(['table', out, '--format', 'json']).stdout) as { cells: { backends: string[]; flagged: boolean }[] };
    assert.deepEqual(
      json.cells.map((c) => [c.backends, c.flagged]),
      [[['cpu', 'wasm'], true]],
    );
  });

  it(
    '--backend blas (the old name) runs on native and records native in run.json; runs recorded as blas and as native are one back end to sps table and sps run',
    needs('native', 'test/runner.test.ts (native):'),
    () => {
      const out = tempDir();
      const args = ['run', TOY, '--out', out, ...TINY_TOY];
      const first = sps([...args, 'seeds=[0,1]', '--backend', 'blas', '--no-table']);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stderr, /^sps: back end: native \(requested\)\n/);
      const dirs = runDirs(out);
      assert.equal(dirs.length, 2);
      for (const d of dirs) {
        assert.equal(readJson<RunRecord>(join(d, 'run.json')).backend?.name, 'native');
        // config.json keeps the request as written, so a rerun of a run configured as blas writes the same file.
        assert.equal(readJson<{ backend: string }>(join(d, 'config.json')).backend, 'blas');
      }
      // One run as the runs made before the rename record it.
      const old = join(dirs[0], 'run.json');
      const record = readJson<RunRecord>(old);
      writeFileSync(old, JSON.stringify({ ...record, backend: { ...record.backend, name: 'blas' } }, null, 2));
      const json = JSON.parse(sps(['table', out, '--format', 'json']).stdout) as { cells: { backends: string[]; flagged: boolean }[] };
      assert.deepEqual(
        json.cells.map((c) => [c.backends, c.flagged]),
        [[['native'], false]],
      );
      assert.doesNotMatch(sps(['table', out]).stdout, /‡/);
      const more = sps([...args, 'seeds=[0,1,2]', '--backend', 'native', '--no-table']);
      assert.equal(more.code, 0, more.stderr);
      assert.match(more.stderr, /1 done now, 2 already done, 0 failed/);
      assert.doesNotMatch(more.stderr, /another back end/);
    },
  );
});

describe('data preparation by sps run', () => {
  it('stops before training with the exact prepare command when data is missing and may not be fetched', () => {
    const out = tempDir();
    const data = tempDir();
    const args = ['run', TOY, '--out', out, 'objectives=[ssvm]', 'seeds=[0]', 'data.require_datasets=[word-embeddings]'];
    const r = sps([...args, '--no-prepare'], { env: { SPS_DATA_DIR: data } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /needs dataset "word-embeddings", but it is not prepared .* --no-prepare was given/);
    assert.match(r.stderr, /sps prepare word-embeddings\n/);
    assert.equal(runDirs(out).length, 0, 'no cell started');
    const shared = SHARED_DATASETS;
    if (existsSync(shared)) {
      assert.equal(sps(['prepare', 'word-embeddings', '--from', shared], { env: { SPS_DATA_DIR: data } }).code, 0);
      const ok = sps([...args, '--no-prepare'], { env: { SPS_DATA_DIR: data } });
      assert.equal(ok.code, 0, ok.stderr);
    }
  });

  it('--dry-run says where each missing data set would come from, and warns when none can provide it', () => {
    const data = tempDir();
    const args = ['run', TOY, '--out', tempDir(), 'objectives=[ssvm]', 'seeds=[0]', 'data.require_datasets=[word-embeddings,ocr]', '--dry-run'];
    const r = sps(args, { env: { SPS_DATA_DIR: data } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^data: word-embeddings: not prepared; the run downloads it first \(or: sps prepare word-embeddings\)$/m);
    assert.match(r.stdout, /^data: ocr: not prepared; the run downloads it first/m);
    assert.doesNotMatch(r.stderr, /warning/);
    const off = sps([...args, '--no-prepare'], { env: { SPS_DATA_DIR: data } });
    assert.match(off.stderr, /^sps: warning: word-embeddings is not prepared and --no-prepare was given; prepare it first: sps prepare word-embeddings$/m);
    assert.deepEqual(readdirSync(data), [], 'nothing fetched');
  });

  it('configs/paper.yaml --dry-run on an empty data folder: every data set it needs can be downloaded, no warning', () => {
    const data = join(tempDir(), 'datasets');
    const r = sps(['run', join(ROOT, 'configs/paper.yaml'), '--out', tempDir(), '--dry-run'], { env: { SPS_DATA_DIR: data } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.stdout
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.split(':')[1].trim())
        .sort(),
      ['conll2000', 'ocr', 'weizmann-horse', 'word-embeddings'],
    );
    assert.match(r.stdout, /^data: word-embeddings: not prepared; the run downloads it first/m);
    assert.equal(r.stderr, '');
    assert.equal(existsSync(data), false, 'nothing fetched');
  });

  it('--dry-run warns about a data set that has no download address', async () => {
    const { dataPlan } = await import('../src/train/plan.js');
    const spec = {
      name: 'local-only',
      description: 'x',
      folderNames: [],
      origin: 'a USB stick',
      files: [{ name: 'x.bin', urls: [], sha256: '0'.repeat(64), unpack: 'none' as const }],
    };
    const task = { name: 'toy', datasets: () => ['local-only'], datasetSpecs: [spec] } as unknown as Parameters<typeof dataPlan>[0][number];
    const cell = { config: { task: 'toy' } } as unknown as Parameters<typeof dataPlan>[1][number];
    const plan = await dataPlan([task], [cell], tempDir());
    assert.deepEqual(plan.lines, []);
    assert.match(
      plan.warnings[0],
      /^local-only is not prepared and has no download address; the run would stop\. Prepare it from a local folder:\n {2}sps prepare local-only --from DIR\n {2}where DIR holds x\.bin\. Source: a USB stick\.$/,
    );
    const from = await dataPlan([task], [cell], tempDir(), { from: '/media/stick' });
    assert.deepEqual(from, { lines: ['data: local-only: not prepared; the run imports it from /media/stick'], warnings: [] });
  });
});

describe('SIGKILL at any moment', () => {
  for (const [i, delayMs] of [
    [1, 150],
    [2, 900],
  ] as const) {
    it(`loses no finished result and the next run redoes only unfinished cells (kill ${i})`, async () => {
      const out = tempDir();
      const args = ['run', TOY, '--out', out, '--jobs', '1', 'model.epoch_delay_ms=120', 'train.epochs=4'];
      const child = spsSpawn(args);
      let stderr = '';
      // Kill once the first cell has finished, after a delay that lands somewhere inside the second.
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no cell finished in time:\n${stderr}`)), 120_000);
        child.stderr!.on('data', (d: Buffer) => {
          stderr += d.toString();
          if (/\[cell\] .* done in/.test(stderr)) {
            clearTimeout(timer);
            setTimeout(resolve, delayMs);
          }
        });
      });
      process.kill(-child.pid!, 'SIGKILL');
      await new Promise((r) => child.once('exit', r));

      const finished = runDirs(out).filter((d) => existsSync(join(d, 'final.json')));
      assert.ok(finished.length >= 1);
      const snapshot = new Map<string, string>();
      for (const d of finished) {
        for (const f of ['config.json', 'run.json', 'final.json', 'metrics.jsonl']) {
          const text = readFileSync(join(d, f), 'utf8');
          if (f.endsWith('.json')) JSON.parse(text);
          snapshot.set(join(d, f), text);
        }
        assert.equal(readJson<RunRecord>(join(d, 'run.json')).status, 'done');
      }
      for (const d of runDirs(out)) {
        for (const f of readdirSync(d)) assert.doesNotMatch(f, /\.tmp-/, 'no temp file is taken for a result');
        if (existsSync(join(d, 'run.json'))) JSON.parse(readFileSync(join(d, 'run.json'), 'utf8'));
      }
      const ls = sps(['ls', out]);
      assert.match(ls.stdout, new RegExp(`4 runs: ${finished.length} done, 0 failed, 0 running, ${4 - finished.length} pending`));

      const again = sps(['run', TOY, '--out', out, '--jobs', '1', 'model.epoch_delay_ms=120', 'train.epochs=4']);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, new RegExp(`${4 - finished.length} done now, ${finished.length} already done, 0 failed`));
      for (const [p, text] of snapshot) assert.equal(readFileSync(p, 'utf8'), text, `${p} untouched`);
      assert.equal(runDirs(out).filter((d) => existsSync(join(d, 'final.json'))).length, 4);
    });
  }
});
