import { join, relative } from 'node:path';
import Table from 'cli-table3';
import { Command, Option } from 'commander';
import { listRuns, listSweeps } from '../results/store.js';
import { cellState, type CellState, type PlannedCell } from '../train/sweep.js';

const STATES: CellState[] = ['done', 'failed', 'running', 'pending'];

/** The planned cells of a sweep, as `sps run --dry-run` shows them. */
export function renderPlan(planned: PlannedCell[]): string {
  const t = new Table({ head: ['task', 'objective', 'mode', 'seed', 'run id', 'status'], style: { head: [], border: [] } });
  for (const p of planned) t.push([p.config.task, p.config.objective, p.config.mode, p.config.seed, p.id, p.interrupted ? 'pending (interrupted)' : p.state]);
  return t.toString() + '\n';
}

interface Row {
  state: CellState;
  interrupted: boolean;
  task: string;
  objective: string;
  mode: string;
  seed: number;
  id: string;
  dir: string;
  info: string;
}

/** Every run below `root`: the folders that exist and the cells planned by sweeps that have none yet. */
export function collectRows(root: string): Row[] {
  const rows = new Map<string, Row>();
  for (const r of listRuns(root)) {
    const { state, interrupted } = cellState(r.dir);
    const metric = r.final ? `${r.final.primary}=${r.final.metrics[r.final.primary]}` : '';
    const info = state === 'failed' ? `error: ${r.run.error?.message ?? '?'}` : [metric, r.run.duration_s !== undefined ? `${r.run.duration_s.toFixed(1)} s` : ''].filter(Boolean).join(', ');
    rows.set(r.dir, { state, interrupted, task: r.run.task, objective: r.run.objective, mode: r.run.mode, seed: r.run.seed, id: r.run.id, dir: r.dir, info });
  }
  for (const { dir, sweep } of listSweeps(root)) {
    for (const c of sweep.cells) {
      const runDir = join(dir, c.folder);
      if (rows.has(runDir)) continue;
      // No run.json yet: not started, or just started (its lock may already be held).
      const { state } = cellState(runDir);
      rows.set(runDir, { state, interrupted: false, task: c.task, objective: c.objective, mode: c.mode, seed: c.seed, id: c.id, dir: runDir, info: state === 'running' ? 'starting' : 'not started' });
    }
  }
  return [...rows.values()].sort((a, b) => a.dir.localeCompare(b.dir));
}

export function registerLs(program: Command): void {
  program
    .command('ls')
    .description('list the runs under a results directory with their status (done, failed, running, pending)')
    .argument('<results-dir>', 'results directory (searched recursively)')
    .addOption(new Option('--status <status>', 'show only runs in this state').choices(STATES))
    .action((root: string, opts: { status?: CellState }) => {
      const rows = collectRows(root).filter((r) => !opts.status || r.state === opts.status);
      const t = new Table({ head: ['status', 'task', 'objective', 'mode', 'seed', 'run id', 'folder', 'info'], style: { head: [], border: [] } });
      for (const r of rows) t.push([r.interrupted ? 'pending (interrupted)' : r.state, r.task, r.objective, r.mode, r.seed, r.id, relative(root, r.dir), r.info]);
      process.stdout.write(t.toString() + '\n');
      const counts = STATES.map((s) => `${rows.filter((r) => r.state === s).length} ${s}`).join(', ');
      process.stdout.write(`${rows.length} runs${opts.status ? ` with status ${opts.status}` : ''}: ${counts}\n`);
    });
}
