import { createHash } from 'node:crypto';
import type { Experiment } from './schema.js';
import type { CellConfig } from '../train/task.js';
import { claimedKeys, MODE_SPECS, modeSpec, type ModeSpec } from '../train/modes.js';

/**
 * Bump when the meaning of a resolved config changes, so old run ids stop matching. 3: one random
 * stream per purpose (util/rng.ts), and the selection subset in every mode's run id (issue 14).
 */
export const CELL_SCHEMA = 3;

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
 * The part of a cell's config that its mode reads (train/modes.ts): a `train` or `scaling` key that
 * some mode claims (`ModeSpec.keys`, e.g. the stage schedule, the offline α) enters the run id of the
 * modes that claim it only; every other key enters every run id (the selection subset among them:
 * every mode logs the norms on it). So a study of, say, the offline α reruns only the offline cells,
 * and a new key is in every run id until a mode claims it.
 */
export function determiningConfig(config: CellConfig, spec: ModeSpec = modeSpec(config.mode)): Record<string, unknown> {
  const { experiment: _e, backend: _b, train, scaling, ...rest } = config;
  const claimed = claimedKeys([...Object.values(MODE_SPECS), spec]);
  const pick = <T extends object>(section: T, claimedHere: Set<string>, mine: readonly string[]): Record<string, unknown> =>
    Object.fromEntries(Object.entries(section).filter(([k]) => !claimedHere.has(k) || mine.includes(k)));
  return { ...rest, train: pick(train, claimed.train, spec.keys.train), scaling: pick(scaling, claimed.scaling, spec.keys.scaling) };
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
