import { join, relative } from 'node:path';
import { printable } from '../util/text.js';
import Table from 'cli-table3';
import { Command, Option } from 'commander';
import { listSweeps, REPLACED_DIR, scanResults, type Damage } from '../results/store.js';
import type { SweepRecord } from '../core/records.js';
import { fmt2, formatSwept } from '../results/render.js';
import { cellState, type CellState, type PlannedCell } from '../train/plan.js';

const STATES: CellState[] = ['done', 'failed', 'running', 'pending'];

/** The swept keys of some cells, in the order first seen: a column each in `--dry-run` and `sps ls`. */
export function sweptKeysOf(cells: readonly { swept?: Record<string, unknown> }[]): string[] {
  const keys: string[] = [];
  for (const c of cells) for (const k of Object.keys(c.swept ?? {})) if (!keys.includes(k)) keys.push(k);
  return keys;
}

/** The planned cells of a sweep, as `sps run --dry-run` shows them: a column per swept key (— where the mode does not read it). */
export function renderPlan(planned: PlannedCell[]): string {
  const keys = sweptKeysOf(planned);
  const t = new Table({ head: ['task', 'objective', 'mode', ...keys, 'seed', 'run id', 'status'], style: { head: [], border: [] } });
  for (const p of planned)
    t.push([
      p.config.task,
      p.config.objective,
      p.config.mode,
      ...keys.map((k) => formatSwept(p.swept?.[k])),
      p.config.seed,
      p.id,
      statusText({ state: p.state, why: p.damage ? 'damaged' : p.interrupted ? 'interrupted' : undefined }),
    ]);
  return t.toString() + '\n';
}

interface Row {
  state: CellState;
  /** What the status column shows beyond the state: `interrupted` or `damaged` (pending cells). */
  why?: 'interrupted' | 'damaged';
  task: string;
  objective: string;
  mode: string;
  seed: number | string;
  id: string;
  dir: string;
  info: string;
  /** The cell's swept values, as its sweep.json plan records them. */
  swept?: Record<string, unknown>;
}

export const statusText = (r: Pick<Row, 'state' | 'why'>): string => (r.why ? `${r.state} (${r.why})` : r.state);

/**
 * Every run below `root`: the folders that exist (damaged ones too, with the file at fault) and the
 * cells planned by sweeps that have none yet. `warnings`: sweep.json files that cannot be read.
 */
export function collectRows(root: string): { rows: Row[]; warnings: string[] } {
  const scan = scanResults(root);
  const { sweeps, problems } = listSweeps(root);
  const planned = new Map<string, SweepRecord['cells'][number]>();
  for (const { dir, sweep } of sweeps) for (const c of sweep.cells) planned.set(join(dir, c.folder), c);
  const rows = new Map<string, Row>();
  const damaged = (dir: string, d: Damage): string =>
    `damaged: ${relative(dir, d.file)}: ${d.reason}; the next sps run moves the folder to ${REPLACED_DIR}/ and redoes the cell`;

  for (const r of scan.runs) {
    const { state, interrupted, damage } = cellState(r.dir, r);
    const info = damage
      ? damaged(r.dir, damage)
      : state === 'failed' || (interrupted && r.run.error)
        ? `error: ${r.run.error?.message ?? '?'}`
        : [
            r.final ? `${r.final.primary}=${fmt2(r.final.metrics[r.final.primary])}` : '',
            r.run.duration_s !== undefined ? `${r.run.duration_s.toFixed(1)} s` : '',
          ]
            .filter(Boolean)
            .join(', ');
    const why = damage ? 'damaged' : interrupted ? 'interrupted' : undefined;
    rows.set(r.dir, {
      state,
      why,
      task: r.run.task,
      objective: r.run.objective,
      mode: r.run.mode,
      seed: r.run.seed,
      id: r.run.id,
      dir: r.dir,
      info,
      swept: planned.get(r.dir)?.swept,
    });
  }
  // Folders without a usable run.json: what the plan says they are, or what their name says.
  const others = [
    ...scan.unreadable.map((u) => ({ dir: u.dir, damage: u.damage as Damage | undefined })),
    ...scan.incomplete.map((dir) => ({ dir, damage: undefined })),
  ];
  for (const { dir, damage } of others) {
    const c = planned.get(dir);
    const { state } = cellState(dir);
    const info = damage ? damaged(dir, damage) : state === 'running' ? 'starting' : 'no run.json (stopped as it started); the next sps run redoes the cell';
    rows.set(dir, {
      state,
      why: damage ? 'damaged' : undefined,
      task: c?.task ?? '?',
      objective: c?.objective ?? '?',
      mode: c?.mode ?? '?',
      seed: c?.seed ?? '?',
      id: c?.id ?? '?',
      dir,
      info,
      swept: c?.swept,
    });
  }
  for (const [runDir, c] of planned) {
    if (rows.has(runDir)) continue;
    // No run folder yet: not started, or just started (its lock may already be held).
    const { state } = cellState(runDir);
    rows.set(runDir, {
      state,
      task: c.task,
      objective: c.objective,
      mode: c.mode,
      seed: c.seed,
      id: c.id,
      dir: runDir,
      info: state === 'running' ? 'starting' : 'not started',
      swept: c.swept,
    });
  }
  return { rows: [...rows.values()].sort((a, b) => a.dir.localeCompare(b.dir)), warnings: problems };
}

export function registerLs(program: Command): void {
  program
    .command('ls')
    .description('list the runs under a results directory with their status (done, failed, running, pending) and swept values')
    .argument('<results-dir>', 'results directory (searched recursively)')
    .addOption(new Option('--status <status>', 'show only runs in this state').choices(STATES))
    .action((root: string, opts: { status?: CellState }) => {
      const collected = collectRows(root);
      const rows = collected.rows.filter((r) => !opts.status || r.state === opts.status);
      const keys = sweptKeysOf(rows);
      const t = new Table({
        head: ['status', 'task', 'objective', 'mode', ...keys, 'seed', 'run id', 'folder', 'info'].map((c) => printable(c)),
        style: { head: [], border: [] },
      });
      // Strings from run folders and sweep.json go to a terminal: escape sequences in them are shown, not obeyed.
      for (const r of rows)
        t.push(
          [statusText(r), r.task, r.objective, r.mode, ...keys.map((k) => formatSwept(r.swept?.[k])), r.seed, r.id, relative(root, r.dir), r.info].map((c) =>
            printable(String(c)),
          ),
        );
      process.stdout.write(t.toString() + '\n');
      const counts = STATES.map((s) => `${rows.filter((r) => r.state === s).length} ${s}`).join(', ');
      const damaged = rows.filter((r) => r.why === 'damaged').length;
      process.stdout.write(
        `${rows.length} runs${opts.status ? ` with status ${opts.status}` : ''}: ${counts}${damaged > 0 ? ` (${damaged} of them damaged: see info)` : ''}\n`,
      );
      for (const w of collected.warnings) process.stderr.write(`sps: warning: ${w}\n`);
    });
}
