import { createHash } from 'node:crypto';
import type { Experiment } from './schema.js';
import type { CellConfig } from '../train/task.js';

/** Bump when the meaning of a resolved config changes, so old run ids stop matching. */
export const CELL_SCHEMA = 2;

export interface Cell {
  id: string;
  config: CellConfig;
}

/** JSON with object keys sorted at every depth: the same config always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

/**
 * The part of a cell's config that its mode reads (docs/model.md §4): stage reads the stage schedule,
 * the other modes `train.epochs` and `train.lr`; online reads the α grid and selection subset,
 * offline α and the norm, offline-reg also λ; stage and joint read no scaling key at all. Keys a
 * mode never reads stay out of its run id, so a study of, say, the offline α reruns only the
 * offline cells.
 */
export function determiningConfig(config: CellConfig): Record<string, unknown> {
  const { experiment: _e, backend: _b, train, scaling, ...rest } = config;
  const { stage, epochs, lr, ...trainCommon } = train;
  const trainPart = config.mode === 'stage' ? { ...trainCommon, stage } : { ...trainCommon, epochs, lr };
  const scalingPart =
    config.mode === 'online'
      ? { alpha_grid: scaling.alpha_grid, selection: scaling.selection }
      : config.mode === 'offline'
        ? { alpha: scaling.alpha, norm: scaling.norm, norm_over: scaling.norm_over }
        : config.mode === 'offline-reg'
          ? { alpha: scaling.alpha, norm: scaling.norm, norm_over: scaling.norm_over, lambda: scaling.lambda }
          : {};
  return { ...rest, train: trainPart, scaling: scalingPart };
}

/**
 * The run id: a hash of everything that determines a cell's result (`determiningConfig`). The
 * experiment's name and the requested back end are left out on purpose: renaming an experiment or
 * moving to another machine must not make finished runs look unfinished (run.json records the back
 * end actually used).
 */
export function runId(config: CellConfig): string {
  return createHash('sha256').update(canonicalJson(determiningConfig(config))).digest('hex').slice(0, 12);
}

/** The grid's Cartesian product, in the paper's row-major order: objective, then mode, then seed. */
export function expandGrid(exp: Experiment): Cell[] {
  const cells: Cell[] = [];
  for (const objective of exp.objectives) {
    for (const mode of exp.modes) {
      for (const seed of exp.seeds) {
        const config: CellConfig = {
          schema: CELL_SCHEMA,
          experiment: exp.name,
          task: exp.task,
          objective,
          mode,
          seed,
          data: exp.data,
          model: exp.model,
          train: exp.train,
          scaling: exp.scaling,
          backend: exp.backend,
        };
        cells.push({ id: runId(config), config });
      }
    }
  }
  return cells;
}
