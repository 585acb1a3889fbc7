import { createHash } from 'node:crypto';
import type { Experiment } from './experiment.js';
import type { CellConfig } from '../core/task.js';
import { cellReads, OBJECTIVE_KEYS } from '../core/constants.js';
import { claimedKeys, MODE_SPECS, modeSpec, type ModeSpec } from '../core/modes.js';

/**
 * Bump when the meaning of a resolved config changes, so old run ids stop matching. 3: one random
 * stream per purpose (util/rng.ts), and the selection subset in every mode's run id (issue 14).
 */
export const CELL_SCHEMA = 3;

export interface Cell {
  id: string;
  config: CellConfig;
  /** In a sweep: the swept key paths (dotted) and this cell's values of them. */
  swept?: Record<string, unknown>;
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
 * The part of a cell's config that its mode reads (core/modes.ts): a `train` or `scaling` key that
 * some mode claims (`ModeSpec.keys`, e.g. the stage schedule, the offline α) enters the run id of the
 * modes that claim it only; every other key enters every run id (the selection subset among them:
 * every mode logs the norms on it). So a study of, say, the offline α reruns only the offline cells,
 * and a new key is in every run id until a mode claims it. Likewise a key of OBJECTIVE_KEYS enters the
 * run id of the cells that read it only (`cellReads`: ssvm's maximiser, ssvm cells with dropout).
 */
export function determiningConfig(config: CellConfig, spec: ModeSpec = modeSpec(config.mode)): Record<string, unknown> {
  const { experiment: _e, backend: _b, train, scaling, ...rest } = config;
  const claimed = claimedKeys([...Object.values(MODE_SPECS), spec]);
  const pick = <T extends object>(section: T, claimedHere: Set<string>, mine: readonly string[]): Record<string, unknown> =>
    Object.fromEntries(Object.entries(section).filter(([k]) => !claimedHere.has(k) || mine.includes(k)));
  const picked = { ...rest, train: pick(train, claimed.train, spec.keys.train), scaling: pick(scaling, claimed.scaling, spec.keys.scaling) };
  // A key only other cells read (OBJECTIVE_KEYS, cellReads) changes nothing this cell computes.
  for (const key of Object.keys(OBJECTIVE_KEYS)) {
    const [section, name] = key.split('.');
    if (!cellReads(config, key) && (section === 'train' || section === 'scaling')) delete picked[section][name];
  }
  return picked;
}

/**
 * The run id: a hash of everything that determines a cell's result (`determiningConfig`). The
 * experiment's name and the requested back end are left out on purpose: renaming an experiment or
 * moving to another machine must not make finished runs look unfinished (run.json records the back
 * end actually used).
 */
export function runId(config: CellConfig): string {
  return createHash('sha256')
    .update(canonicalJson(determiningConfig(config)))
    .digest('hex')
    .slice(0, 12);
}

/** The grid's Cartesian product, in the paper's row-major order: objective, then mode, then seed. */
export function expandGrid(exp: Experiment): Cell[] {
  return expandSweep([{ experiment: exp }]);
}

/**
 * The grid of a swept block: objectives × modes × seeds × its variants (the combinations of the
 * swept values, config/load.ts), the variant varying fastest. Each cell records its swept values.
 * The variants share objectives, modes and seeds (a sweep cannot change them), so the first gives the grid.
 */
export function expandSweep(variants: readonly { experiment: Experiment; swept?: Record<string, unknown> }[]): Cell[] {
  const cells: Cell[] = [];
  const [first] = variants;
  for (const objective of first.experiment.objectives) {
    for (const mode of first.experiment.modes) {
      for (const seed of first.experiment.seeds) {
        for (const { experiment: exp, swept } of variants) {
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
          const mine = sweptHere(config, swept);
          cells.push({ id: runId(config), config, ...(mine ? { swept: mine } : {}) });
        }
      }
    }
  }
  return cells;
}

/**
 * The swept values that are in this cell's run id: a key that the cell's mode does not read (the α
 * grid of a joint cell) gives every value the same cell, which then carries none of them.
 */
function sweptHere(config: CellConfig, swept: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!swept) return undefined;
  const determining = determiningConfig(config);
  const inRunId = (key: string): boolean => {
    let node: unknown = determining;
    for (const k of key.split('.')) {
      if (node === null || typeof node !== 'object' || !(k in node)) return false;
      node = (node as Record<string, unknown>)[k];
    }
    return true;
  };
  const kept = Object.entries(swept).filter(([k]) => inRunId(k));
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
}
