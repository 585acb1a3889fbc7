import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir, sps, spsSpawn, ROOT, SHARED_DATASETS } from './helpers.js';
import type { RunRecord } from '../src/results/types.js';

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
    assert.deepEqual(dirs.map((d) => statSync(join(d, 'final.json')).mtimeMs), before);

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
    const metricsLine = readFileSync(join(runDirs(out)[1], 'metrics.jsonl'), 'utf8').trim().split('\n')[1];
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

  it('leaves a cell locked by a live process alone, and takes over a stale lock', async () => {
    const out = tempDir();
    const plan = sps(['run', TOY, '--out', out, 'objectives=[ssvm]', '--dry-run']);
    const ids = [...plan.stdout.matchAll(/\b([0-9a-f]{12})\b/g)].map((m) => m[1]);
    assert.equal(ids.length, 2);
    const sleeper = spawn('sleep', ['60']);
    try {
      const { mkdirSync } = await import('node:fs');
      const { hostname } = await import('node:os');
      const held = join(out, `toy-ssvm-joint-seed0-${ids[0]}`);
      const stale = join(out, `toy-ssvm-joint-seed1-${ids[1]}`);
      mkdirSync(held, { recursive: true });
      mkdirSync(stale, { recursive: true });
      writeFileSync(join(held, '.lock'), JSON.stringify({ pid: sleeper.pid, host: hostname(), since: 'test' }));
      writeFileSync(join(stale, '.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), since: 'test' }));
      const r = sps(['run', TOY, '--out', out, 'objectives=[ssvm]']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /1 done now, 0 already done, 0 failed, 1 running elsewhere/);
      assert.match(r.stderr, new RegExp(`locked by pid ${sleeper.pid}`));
      assert.ok(existsSync(join(stale, 'final.json')));
      assert.ok(!existsSync(join(held, 'final.json')));
      const ls = sps(['ls', out, '--status', 'running']);
      assert.match(ls.stdout, /1 runs with status running/);
    } finally {
      sleeper.kill();
    }
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

describe('data preparation by sps run', () => {
  it('stops before training with the exact prepare command when data is missing and cannot be fetched', () => {
    const out = tempDir();
    const data = tempDir();
    const args = ['run', TOY, '--out', out, 'objectives=[ssvm]', 'seeds=[0]', 'data.require_datasets=[word-embeddings]'];
    const r = sps(args, { env: { SPS_DATA_DIR: data } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /needs dataset "word-embeddings", but it is not prepared .* no download address/);
    assert.match(r.stderr, /sps prepare word-embeddings --from /);
    assert.equal(runDirs(out).length, 0, 'no cell started');
    const shared = SHARED_DATASETS;
    if (existsSync(shared)) {
      assert.equal(sps(['prepare', 'word-embeddings', '--from', shared], { env: { SPS_DATA_DIR: data } }).code, 0);
      const ok = sps(args, { env: { SPS_DATA_DIR: data } });
      assert.equal(ok.code, 0, ok.stderr);
    }
  });
});

describe('SIGKILL at any moment', () => {
  for (const [i, delayMs] of [[1, 150], [2, 900]] as const) {
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
