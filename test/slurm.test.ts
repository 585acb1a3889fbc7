/**
 * `sps run --launcher slurm` against a real one-node Slurm cluster on 127.0.0.1 (scripts/slurm-local.sh).
 * Each test starts and stops its own cluster; a cluster that cannot start fails the test. Not as root
 * they report themselves as not run (under CI they run and fail: test/helpers.ts needs()).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { needs, ROOT, sps, tempDir } from './helpers.js';

const TOY = join(ROOT, 'test/fixtures/toy.yaml');
const SLURM = needs('slurm', 'test/slurm.test.ts (the tests on a local cluster):');
const SCRIPT = join(ROOT, 'scripts/slurm-local.sh');

interface Cluster {
  env: Record<string, string>;
  run(cmd: string, args: string[]): { code: number | null; stdout: string; stderr: string };
}

/** Start a cluster in a temp folder for this test; it is stopped when the test ends. */
function startCluster(t: TestContext): Cluster {
  // Not tempDir(): its removal could run before the stop below, leaving the daemons running.
  const dir = mkdtempSync(join(tmpdir(), 'sps-slurm-'));
  t.after(() => {
    const down = spawnSync('bash', [SCRIPT, 'stop', dir], { encoding: 'utf8', timeout: 60_000 });
    rmSync(dir, { recursive: true, force: true });
    assert.equal(down.status, 0, `scripts/slurm-local.sh stop ${dir}:\n${down.stderr}`);
  });
  const up = spawnSync('bash', [SCRIPT, 'start', dir], { encoding: 'utf8', timeout: 600_000 });
  assert.equal(up.status, 0, `the local Slurm cluster did not start (scripts/slurm-local.sh start ${dir}):\n${up.stdout}\n${up.stderr}`);
  const env = { SLURM_CONF: join(dir, 'slurm.conf') };
  return {
    env,
    run: (cmd, args) => {
      const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    },
  };
}

const jobIdOf = (stdout: string): string => {
  const m = /submitted Slurm job (\d+)/.exec(stdout);
  assert.ok(m, `no job id in:\n${stdout}`);
  return m[1];
};

/** Poll until `check` holds; the limit only guards against a hang (a loaded CI machine is slow). */
async function until(what: string, check: () => boolean, limitMs = 600_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

/** Whether Slurm still has tasks of `jobId` pending or running. */
function jobActive(c: Cluster, jobId: string): boolean {
  const q = c.run('squeue', ['-h', '-r', '-j', jobId, '-o', '%T']);
  return q.stdout.split('\n').some((s) => /PENDING|RUNNING|CONFIGURING|COMPLETING/.test(s));
}

const runDirs = (dir: string): string[] => readdirSync(dir).filter((f) => f.startsWith('toy-'));
const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;
const statusOf = (dir: string): string | undefined =>
  existsSync(join(dir, 'run.json')) ? readJson<{ status: string }>(join(dir, 'run.json')).status : undefined;

describe('sps run --launcher slurm', () => {
  it('--dry-run prints the sbatch script and the array, and writes and submits nothing', () => {
    const out = join(tempDir(), 'toy');
    const r = sps([
      'run',
      TOY,
      '--launcher',
      'slurm',
      '--out',
      out,
      '--dry-run',
      '--partition',
      'cpu',
      '--time',
      '0:10:00',
      '--mem',
      '2G',
      '--array-throttle',
      '2',
      '--setup',
      'module load nodejs',
      '--sbatch-arg=--account=abc',
    ]);
    assert.equal(r.code, 0, r.stderr);
    for (const line of [
      '#!/bin/bash',
      '#SBATCH --partition=cpu',
      '#SBATCH --time=0:10:00',
      '#SBATCH --mem=2G',
      '#SBATCH --account=abc',
      `#SBATCH --output=${join(out, 'slurm', 'toy-test', 'logs', '%A_%a.out')}`,
      'module load nodejs',
    ]) {
      assert.ok(r.stdout.split('\n').includes(line), `missing line '${line}' in:\n${r.stdout}`);
    }
    assert.match(r.stdout, /run-cell \S*plan\.json --index "\$SLURM_ARRAY_TASK_ID"/);
    assert.ok(r.stdout.includes(`sbatch --array=0-3%2 ${join(out, 'slurm', 'toy-test', 'sweep.sbatch')}`), r.stdout);
    assert.match(r.stdout, /4 cells: 0 done, 0 running, 4 to submit \(dry run: nothing written, nothing submitted\)/);
    assert.equal(existsSync(out), false, 'a dry run writes nothing');
  });

  it('a bad launcher section names the file and key', () => {
    const dir = tempDir();
    const config = join(dir, 'c.yaml');
    writeFileSync(config, readFileSync(TOY, 'utf8') + 'launcher:\n  type: slurm\n  partiton: cpu\n');
    const r = sps(['run', config, '--out', join(dir, 'out'), '--dry-run']);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`${config}: launcher:`) && r.stderr.includes('partiton'), r.stderr);
  });

  it("a partition that does not exist: sbatch's own error, and nothing submitted", SLURM, (t) => {
    const c = startCluster(t);
    const out = join(tempDir(), 'toy');
    const r = sps(['run', TOY, '--launcher', 'slurm', '--out', out, '--partition', 'nosuchpartition'], { env: c.env });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /Slurm has no partition 'nosuchpartition'/);
    assert.match(r.stderr, /Nothing was submitted/);
    assert.match(r.stderr, /sbatch said: sbatch: error: .*nosuchpartition/i);
    assert.equal(existsSync(join(out, 'slurm', 'toy-test', 'submissions.jsonl')), false);
    assert.equal(c.run('squeue', ['-h']).stdout.trim(), '', 'no job in the queue');
  });

  it('a task cancelled mid-run leaves no corrupt run, and a resubmission runs only the missing cell', SLURM, async (t) => {
    const c = startCluster(t);
    const out = join(tempDir(), 'toy');
    // One task at a time, slow epochs: the first cell is mid-run when it is cancelled.
    const args = ['run', TOY, '--launcher', 'slurm', '--out', out, '--array-throttle', '1', 'model.epoch_delay_ms=1500', 'train.epochs=4'];
    const first = sps(args, { env: c.env });
    assert.equal(first.code, 0, first.stderr);
    const job = jobIdOf(first.stdout);
    const plan = readJson<{ jobs: { runDir: string }[] }>(join(out, 'slurm', 'toy-test', 'plan.json'));
    const victim = plan.jobs[0].runDir;
    await until('the first cell to start an epoch', () => existsSync(join(victim, 'metrics.jsonl')));
    const lock = readJson<{ slurm_job?: string; host: string }>(join(victim, '.lock'));
    assert.equal(lock.slurm_job, `${job}_0`, 'the lock names the array task');
    assert.equal(c.run('scancel', [`${job}_0`]).code, 0);
    await until('the job to finish', () => !jobActive(c, job));

    assert.equal(existsSync(join(victim, 'final.json')), false);
    assert.equal(statusOf(victim), 'running', 'the cancelled cell is left unfinished, not half-written');
    for (const j of plan.jobs.slice(1)) assert.equal(statusOf(j.runDir), 'done', j.runDir);
    const st = sps(['status', out], { env: c.env });
    assert.equal(st.code, 0, st.stderr);
    assert.ok(
      st.stdout.includes(`Slurm task ${job}_0 ended (CANCELLED) without writing a result; see ${join(out, 'slurm', 'toy-test', 'logs', `${job}_0.out`)}`),
      st.stdout,
    );

    const again = sps(args, { env: c.env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /array 0%1: 4 cells: 3 done, 0 running, 1 to submit/);
    const job2 = jobIdOf(again.stdout);
    await until('the resubmission to finish', () => !jobActive(c, job2));
    assert.equal(statusOf(victim), 'done');
    assert.equal(runDirs(out).length, 4);
    const table = sps(['table', out]);
    assert.equal(table.code, 0, table.stderr);
    const nothing = sps(args, { env: c.env });
    assert.match(nothing.stdout, /4 cells: 4 done, 0 running, 0 to submit: nothing to submit/);
  });

  it("a lock left by a cancelled Slurm job is taken over; another host's lock without a job id is not", SLURM, async (t) => {
    const c = startCluster(t);
    const out = join(tempDir(), 'toy');
    const args = ['run', TOY, '--launcher', 'slurm', '--out', out];
    // A real job id of a job that ended by scancel.
    const sleeper = c.run('sbatch', ['--parsable', `--output=${join(tempDir(), 'sleep.out')}`, '--wrap', 'sleep 300']);
    assert.equal(sleeper.code, 0, sleeper.stderr);
    const dead = sleeper.stdout.trim().split(';')[0];
    assert.equal(c.run('scancel', [dead]).code, 0);
    await until('the cancelled job to end', () => !jobActive(c, dead));

    // The folders the cells will use, from the local plan.
    const local = sps(['run', TOY, '--out', out, '--dry-run']);
    const rows = [...local.stdout.matchAll(/│ toy\s+│ (\S+)\s+│ joint\s+│ (\d)\s+│ ([0-9a-f]{12})\s+│/g)].map((m) => `toy-${m[1]}-joint-seed${m[2]}-${m[3]}`);
    assert.equal(rows.length, 4, local.stdout);
    const [stale, foreign] = rows;
    mkdirSync(join(out, stale), { recursive: true });
    mkdirSync(join(out, foreign), { recursive: true });
    writeFileSync(join(out, stale, '.lock'), JSON.stringify({ pid: 999999, host: 'node-gone', since: '2020-01-01T00:00:00Z', slurm_job: dead }));
    writeFileSync(join(out, foreign, '.lock'), JSON.stringify({ pid: 999999, host: 'node-elsewhere', since: '2020-01-01T00:00:00Z' }));

    const r = sps(args, { env: c.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /4 cells: 0 done, 1 running, 3 to submit/);
    const job = jobIdOf(r.stdout);
    await until('the array to finish', () => !jobActive(c, job));
    assert.equal(statusOf(join(out, stale)), 'done', 'the stale lock was taken over');
    assert.equal(existsSync(join(out, stale, '.lock')), false);
    assert.equal(statusOf(join(out, foreign)), undefined, 'the foreign lock was respected');
    assert.ok(existsSync(join(out, foreign, '.lock')));

    // Run by hand, the foreign cell says who holds it and how to clear the lock.
    const plan = readJson<{ jobs: { runDir: string }[] }>(join(out, 'slurm', 'toy-test', 'plan.json'));
    const index = plan.jobs.findIndex((j) => j.runDir === join(out, foreign));
    const cell = sps(['run-cell', join(out, 'slurm', 'toy-test', 'plan.json'), '--index', String(index)], { env: c.env });
    assert.equal(cell.code, 4, cell.stderr);
    assert.ok(cell.stderr.includes(`pid 999999 on node-elsewhere`) && cell.stderr.includes(`delete ${join(out, foreign, '.lock')}`), cell.stderr);
  });

  it('an --out path with a space submits and runs; a resubmission while the array waits queues nothing twice (issue 33)', SLURM, async (t) => {
    const c = startCluster(t);
    const out = join(tempDir(), 'my results', 'toy');
    // One task at a time with slow epochs: the second cell is still pending when the sweep is resubmitted.
    const args = [
      'run',
      TOY,
      '--launcher',
      'slurm',
      '--out',
      out,
      '--array-throttle',
      '1',
      'objectives=[ssvm]',
      'data.sequences=16',
      'train.epochs=2',
      'model.epoch_delay_ms=2000',
    ];
    const first = sps(args, { env: c.env });
    assert.equal(first.code, 0, first.stderr);
    const job = jobIdOf(first.stdout);
    const again = sps(args, { env: c.env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`2 cells: \\d done, \\d running, 0 to submit, \\d still queued in Slurm job ${job}: nothing to submit`));
    await until('the array to finish', () => !jobActive(c, job));
    const plan = readJson<{ jobs: { runDir: string }[] }>(join(out, 'slurm', 'toy-test', 'plan.json'));
    for (const j of plan.jobs) assert.equal(statusOf(j.runDir), 'done', j.runDir);
    assert.ok(existsSync(join(out, 'slurm', 'toy-test', 'logs', `${job}_0.out`)), 'the log went to the folder with a space');
    const lines = readFileSync(join(out, 'slurm', 'toy-test', 'submissions.jsonl'), 'utf8')
      .trim()
      .split('\n');
    assert.equal(lines.length, 1, 'one submission');
  });

  // configs/smoke.yaml reads the embedded samples: no data set to prepare, on any machine.
  it('smoke cells through Slurm give the same table as a local run', SLURM, async (t) => {
    const c = startCluster(t);
    const data = tempDir();
    const root = tempDir();
    // One mode of every block (6 of the 23 smoke cells): every task and objective, on a shared CPU.
    const cells = ['configs/smoke.yaml', 'modes=[stage]', '--backend', 'wasm'];
    const local = sps(['run', ...cells, '--out', join(root, 'local'), '--jobs', '1'], { env: { SPS_DATA_DIR: data } });
    assert.equal(local.code, 0, local.stderr);
    const submitted = sps(['run', ...cells, '--out', join(root, 'slurm'), '--launcher', 'slurm'], { env: { ...c.env, SPS_DATA_DIR: data } });
    assert.equal(submitted.code, 0, submitted.stderr);
    assert.match(submitted.stdout, /6 cells: 0 done, 0 running, 6 to submit/);
    const job = jobIdOf(submitted.stdout);
    await until('the smoke array to finish', () => !jobActive(c, job), 1_800_000);
    const tableOf = (dir: string): string => {
      const r = sps(['table', dir]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    const slurmTable = tableOf(join(root, 'slurm'));
    assert.match(slurmTable, /segmentation/);
    assert.equal(slurmTable, tableOf(join(root, 'local')));
  });
});
