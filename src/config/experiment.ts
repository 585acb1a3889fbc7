import { z } from 'zod';
import { BACKEND_NAMES, EXPERIMENT_NAME, MODES, OBJECTIVES } from '../core/constants.js';
import { scalingSchema, trainSchema, unique } from '../core/schema.js';

/**
 * The experiment file schema (README "Config reference" documents every key).
 * Sections are strict: an unknown key is an error, never silently ignored.
 * `data` and `model` belong to the task; their schemas come from the task registry; `train` and
 * `scaling` are the cell's sections (core/schema.ts).
 */

/**
 * At most this many seeds per cell, as a count or a list: a larger number is far more likely a typo
 * (seeds: 100000 for seeds: [100000]) than a plan, and would queue that many runs of every cell.
 */
export const MAX_SEEDS = 1000;
/** The largest seed value: the seed is a 31-bit initialiser seed for tfjs as well as the rng's. */
export const MAX_SEED = 2 ** 31 - 1;

const SEEDS_FORMS = `a count from 1 to ${MAX_SEEDS} or a list of seeds such as [0, 1, 2]`;

/** What is wrong with a `seeds` value, with its path below `seeds`; undefined when it is fine. */
function seedsProblem(v: unknown): { path: number[]; message: string } | undefined {
  const at = (message: string, path: number[] = []) => ({ path, message });
  if (v === undefined) return at(`missing: give ${SEEDS_FORMS}`);
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 1)
      return at(`${v} is not a count of seeds: give a whole number from 1 to ${MAX_SEEDS} (seeds 0..n-1) or a list such as [0, 1, 2]`);
    if (v > MAX_SEEDS) return at(`${v} is more than ${MAX_SEEDS} seeds (the limit per cell); to run one particular seed, list it: [${v}]`);
    return undefined;
  }
  if (typeof v === 'string') return at(`got the string ${JSON.stringify(v)}: write the number without quotes (seeds: 3) or a list such as [0, 1, 2]`);
  if (!Array.isArray(v)) return at(`expected ${SEEDS_FORMS}, got ${JSON.stringify(v)}`);
  if (v.length === 0) return at(`the list is empty: give at least one seed, e.g. [0]`);
  if (v.length > MAX_SEEDS) return at(`${v.length} seeds listed; at most ${MAX_SEEDS} per cell`);
  const bad = v.findIndex((x) => typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > MAX_SEED);
  if (bad >= 0) return at(`${JSON.stringify(v[bad])} is not a seed: seeds are whole numbers from 0 to ${MAX_SEED}`, [bad]);
  const twice = v.find((x, i) => v.indexOf(x) !== i);
  if (twice !== undefined) return at(`${twice} is listed twice: seeds must not repeat`);
  return undefined;
}

/** A list of seeds, or a count n meaning seeds 0..n-1; always a list once parsed. */
const seedsSchema = z
  .unknown()
  .superRefine((v, ctx) => {
    const problem = seedsProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message, input: v });
  })
  .transform((v) => (typeof v === 'number' ? Array.from({ length: v }, (_, i) => i) : (v as number[])));

export const experimentSchema = z.strictObject({
  name: z.string().regex(EXPERIMENT_NAME, 'name must be letters, digits, ".", "_" or "-" (it names the results folder)'),
  task: z.string().min(1),
  objectives: z.array(z.enum(OBJECTIVES)).min(1).refine(unique, 'objectives must not repeat'),
  modes: z.array(z.enum(MODES)).min(1).refine(unique, 'modes must not repeat'),
  seeds: seedsSchema,
  data: z.record(z.string(), z.unknown()).default({}),
  model: z.record(z.string(), z.unknown()).default({}),
  train: trainSchema.prefault({}),
  scaling: scalingSchema.prefault({}),
  // Kept as written, an alias (`blas`) too, so that rerunning a run configured so writes the same
  // config.json; what reads it (selection, sps run's notes, sps table) goes through canonicalBackend.
  backend: z.enum(BACKEND_NAMES).default('auto'),
});

export type Experiment = z.output<typeof experimentSchema>;
