/**
 * `npm run bench -- epoch --against REV`: one full-data epoch of one cell per task (OCR and chunking
 * by default; the cell `bench cells` times: log-likelihood, joint, the first seed), timed with this
 * tree's sps and with the sps of another commit, side by side in one invocation. The other commit is
 * checked out into a temporary git worktree, compiled there (tsc and its own native addon) and removed
 * afterwards. The two sides alternate within each pass, and the order flips from pass to pass (here
 * first, then there first), so drift of the machine hits both alike; the figure per side is the
 * median of its passes, and the speed-up is REV's median over this tree's.
 *
 * Each side runs its own configs/<task>.yaml with the same overrides, so each times the cell as its
 * commit defines it. The plan and the summary are pure (test/bench.test.ts); timing runs `bin/sps`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadExperiment } from '../src/config/load.js';
import { allTasks } from '../src/train/tasks/index.js';
import { packageRoot } from '../src/util/paths.js';
import { overridesFor, runSps, timedCell } from './cells.js';
import { type Spread, formatSpread, spread } from './report.js';

export interface EpochOptions {
  /** The commit (any git revision) to time against. */
  against: string;
  tasks: string[];
  passes: number;
  backend: string;
  /** Overrides of the timed cells (TASK:key=value for one task), e.g. a data subset for a quick check. */
  overrides: string[];
}

export type Side = 'here' | 'against';

/** Which side runs first in each pass: here first in even passes, the other commit first in odd ones. */
export function passOrder(passes: number): Side[][] {
  return Array.from({ length: passes }, (_, p) => (p % 2 === 0 ? ['here', 'against'] : ['against', 'here']));
}

export interface EpochRow {
  task: string;
  objective: string;
  mode: string;
  seed: number;
  here: Spread;
  against: Spread;
  /** The other commit's median epoch over this tree's: above 1, this tree is faster. */
  speedup: number;
}

/** One row per task from the epoch seconds of each side's passes. */
export function epochRow(cell: Omit<EpochRow, 'here' | 'against' | 'speedup'>, here: number[], against: number[]): EpochRow {
  const h = spread(here);
  const a = spread(against);
  return { ...cell, here: h, against: a, speedup: h.median > 0 ? a.median / h.median : NaN };
}

function git(root: string, args: string[]): string {
  const r = spawnSync('git', ['-C', root, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout.trim();
}

/** Runs `cmd` in `cwd`, or throws with the end of its output. */
function build(cwd: string, cmd: string, args: string[], what: string): void {
  process.stderr.write(`  ${what}: ${cmd} ${args.join(' ')}\n`);
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}):\n${(r.stderr || r.stdout).trim().split('\n').slice(-10).join('\n')}`);
}

/** A worktree of `sha` under the temp folder, compiled (dist/ and its native addon) with this tree's node_modules. */
function checkout(root: string, sha: string): string {
  const dir = mkdtempSync(join(tmpdir(), `sps-epoch-${sha.slice(0, 7)}-`));
  git(root, ['worktree', 'add', '--detach', '--force', dir, sha]);
  symlinkSync(realpathSync(join(root, 'node_modules')), join(dir, 'node_modules'));
  build(dir, process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], `tsc at ${sha.slice(0, 7)}`);
  if (existsSync(join(dir, 'scripts', 'build-blas.sh'))) build(dir, 'bash', ['scripts/build-blas.sh'], `native addon at ${sha.slice(0, 7)}`);
  return dir;
}

export interface EpochResult {
  text: string;
  rows: EpochRow[];
  sha: string;
}

export async function runEpochBench(o: EpochOptions): Promise<EpochResult> {
  if (!Number.isInteger(o.passes) || o.passes < 1) throw new Error(`--passes ${o.passes}: give a whole number ≥ 1`);
  const root = packageRoot();
  const sha = git(root, ['rev-parse', '--verify', `${o.against}^{commit}`]);
  // Each side must load its own addon: $SPS_BLAS_ADDON would give both the same one.
  const env = { ...process.env };
  if (env.SPS_BLAS_ADDON) process.stderr.write(`bench epoch: ignoring SPS_BLAS_ADDON=${env.SPS_BLAS_ADDON} (each side loads its own addon)\n`);
  delete env.SPS_BLAS_ADDON;
  const tasks = await allTasks();
  const cells: { task: string; file: string; cell: ReturnType<typeof timedCell> }[] = [];
  for (const task of o.tasks) {
    const file = join(root, 'configs', `${task}.yaml`);
    if (!existsSync(file)) throw new Error(`--tasks: no configs/${task}.yaml to time (tasks with one: ocr, chunking, segmentation)`);
    const block = (await loadExperiment(file, tasks)).blocks.find((b) => b.task.name === task);
    if (!block) throw new Error(`configs/${task}.yaml has no ${task} block`);
    cells.push({ task, file, cell: timedCell(block) });
  }
  process.stderr.write(`bench epoch: checking out ${o.against} (${sha.slice(0, 12)}) and building it\n`);
  const there = checkout(root, sha);
  const out = mkdtempSync(join(tmpdir(), 'sps-bench-epoch-'));
  const rows: EpochRow[] = [];
  try {
    for (const { task, cell } of cells) {
      const theirs = join(there, 'configs', `${task}.yaml`);
      if (!existsSync(theirs)) throw new Error(`${o.against} has no configs/${task}.yaml: time it without --tasks ${task}`);
      const seed = cell.seeds[0];
      const fixed = [`objectives=[${cell.objective}]`, `modes=[${cell.mode}]`, `seeds=[${seed}]`, 'train.epochs=1', ...overridesFor(task, o.overrides)];
      const seconds: Record<Side, number[]> = { here: [], against: [] };
      passOrder(o.passes).forEach((order, p) => {
        for (const side of order) {
          process.stderr.write(`${task}, pass ${p + 1}/${o.passes}: ${side === 'here' ? 'this tree' : o.against}\n`);
          const [r, file] = side === 'here' ? [root, join(root, 'configs', `${task}.yaml`)] : [there, theirs];
          const run = runSps(file, fixed, join(out, `${task}-${side}-${p}`), 1, o.backend, r, env);
          seconds[side].push(run.epochSeconds[0]);
        }
      });
      rows.push(epochRow({ task, objective: cell.objective, mode: cell.mode, seed }, seconds.here, seconds.against));
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
    spawnSync('git', ['-C', root, 'worktree', 'remove', '--force', there]);
    rmSync(there, { recursive: true, force: true });
    spawnSync('git', ['-C', root, 'worktree', 'prune']);
  }
  const lines = rows.map(
    (r) =>
      `${r.task.padEnd(10)} ${r.objective} ${r.mode}, seed ${r.seed}: epoch ${formatSpread(r.here)} s here, ${formatSpread(r.against)} s at ${o.against}` +
      ` → ${Number.isFinite(r.speedup) ? r.speedup.toFixed(2) : '—'}× faster here`,
  );
  lines.push(
    `medians (min–max) of ${o.passes} pass${o.passes > 1 ? 'es' : ''}, the two sides alternating in each pass (order flipped every pass), back end ${o.backend}; ` +
      `speed-up = ${o.against}'s median epoch / this tree's.`,
  );
  return { text: lines.join('\n') + '\n', rows, sha };
}
