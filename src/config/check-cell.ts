/**
 * A cell read back from a file that sps wrote but anyone may edit (a Slurm plan): validated again
 * against the experiment schema and its task's schemas, and held to its run id, before it runs.
 */
import { SpsError } from '../util/errors.js';
import type { CellConfig, TaskDefinition } from '../core/task.js';
import { CELL_SCHEMA, runId } from './cells.js';
import { experimentSchema } from './experiment.js';

/** The plan's key path of a problem at `path` of the experiment the cell is checked as. */
function cellKey(path: readonly PropertyKey[]): string {
  const [head, ...rest] = path.map(String);
  const top = { objectives: 'objective', modes: 'mode', seeds: 'seed', name: 'experiment' }[head ?? ''];
  return top ? top : [head, ...rest].join('.') || '(top level)';
}

/**
 * `cell` as sps would run it, or an SpsError starting with `where` that names the key at fault: a
 * value the schemas refuse (`epochs: -5`, `lr: "abc"`), or settings whose run id is not `id` (an
 * edit such as `epochs: 3 → 1` with the id kept would pass a finished run off as another).
 */
export function checkCell(cell: Record<string, unknown>, id: string, where: string, tasks: readonly TaskDefinition[]): CellConfig {
  const fail = (what: string): SpsError =>
    new SpsError(`${where}: ${what}. The plan was edited or damaged; submit the sweep again (sps run CONFIG --launcher slurm) to rewrite it`);
  if (cell.schema !== CELL_SCHEMA) throw fail(`cell.schema: ${JSON.stringify(cell.schema)}, where this sps writes ${CELL_SCHEMA}`);
  const exp = experimentSchema.safeParse({
    name: cell.experiment,
    task: cell.task,
    objectives: [cell.objective],
    modes: [cell.mode],
    seeds: [cell.seed],
    data: cell.data,
    model: cell.model,
    train: cell.train,
    scaling: cell.scaling,
    backend: cell.backend,
  });
  if (!exp.success) {
    const issue = exp.error.issues[0];
    throw fail(`cell.${cellKey(issue.path)}: ${issue.message}`);
  }
  const e = exp.data;
  const task = tasks.find((t) => t.name === e.task);
  if (!task) throw fail(`cell.task: unknown task '${e.task}' (is SPS_PLUGINS set as when the sweep was planned?)`);
  for (const [section, schema] of [
    ['data', task.dataSchema],
    ['model', task.modelSchema],
  ] as const) {
    const parsed = schema.safeParse(e[section]);
    if (!parsed.success) throw fail(`cell.${section}.${parsed.error.issues[0].path.join('.')}: ${parsed.error.issues[0].message}`);
    e[section] = parsed.data as Record<string, unknown>;
  }
  const problem = task.checkConfig?.(e)[0];
  if (problem) throw fail(`cell.${problem.path.join('.')}: ${problem.message}`);
  if (!task.objectives.includes(e.objectives[0])) throw fail(`cell.objective: task '${task.name}' does not support ${e.objectives[0]}`);
  const checked: CellConfig = {
    schema: CELL_SCHEMA,
    experiment: e.name,
    task: e.task,
    objective: e.objectives[0],
    mode: e.modes[0],
    seed: e.seeds[0],
    data: e.data,
    model: e.model,
    train: e.train,
    scaling: e.scaling,
    backend: e.backend,
  };
  const actual = runId(checked);
  if (actual !== id) throw fail(`the cell's settings have run id ${actual}, not its id ${id}`);
  return checked;
}
