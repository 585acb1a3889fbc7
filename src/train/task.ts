import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { z } from 'zod';
import type * as tfType from '@tensorflow/tfjs';
import type { Mode, Objective } from '../config/constants.js';
import type { ScalingConfig, TrainConfig } from '../config/schema.js';
import type { EpochRecord, FinalRecord } from '../results/types.js';
import type { Rng } from '../util/rng.js';
import { SpsError } from '../util/errors.js';
import { chunkingTask } from './tasks/chunking.js';
import { ocrTask } from './tasks/ocr.js';
import { segmentationTask } from './tasks/segmentation.js';

/** One cell of the grid, fully resolved: everything that determines its result (see config/cells.ts). */
export interface CellConfig {
  schema: number;
  experiment: string;
  task: string;
  objective: Objective;
  mode: Mode;
  seed: number;
  data: Record<string, unknown>;
  model: Record<string, unknown>;
  train: TrainConfig;
  scaling: ScalingConfig;
  backend: string;
}

export type EpochInput = Omit<EpochRecord, 'seconds'> & { seconds?: number };

/** What a task sees while it runs one cell. */
export interface RunContext {
  cell: CellConfig;
  tf: typeof tfType;
  backend: { name: string; reason: string };
  /** Seeded by cell.seed: the only random source a task may use. */
  rng: Rng;
  /** The run folder (for artefacts such as predictions). */
  runDir: string;
  /** Where prepared data sets live. */
  dataDir: string;
  log(line: string): void;
  /** Declare the number of epochs the run will report (progress and ETA). */
  plan(totalEpochs: number): void;
  /** Record one epoch in metrics.jsonl; throws NonFiniteError on a NaN or infinite loss or metric. */
  epoch(record: EpochInput): void;
  /** Write a file into the run folder atomically. */
  writeArtifact(name: string, data: string | Uint8Array): void;
  /** Record facts about the run's inputs (e.g. which word vectors, their coverage) in run.json `inputs`. */
  describe(info: Record<string, unknown>): void;
}

export interface TaskDefinition {
  name: string;
  summary: string;
  /** Validates and fills defaults of the config's `data` section (use z.strictObject). */
  dataSchema: z.ZodType<Record<string, unknown>>;
  /** Validates and fills defaults of the config's `model` section (use z.strictObject). */
  modelSchema: z.ZodType<Record<string, unknown>>;
  objectives: readonly Objective[];
  /** Names of the registry data sets this cell needs prepared before it runs. */
  datasets(cell: CellConfig): string[];
  /**
   * Settings outside `data` and `model` this task cannot run with, checked when the config is
   * loaded: each problem names the key path (e.g. ['scaling', 'norm']) and says what to do.
   */
  checkConfig?(exp: { modes: readonly Mode[]; scaling: ScalingConfig; train: TrainConfig; model: Record<string, unknown> }): { path: string[]; message: string }[];
  run(ctx: RunContext): Promise<FinalRecord>;
}

/** Built-in tasks. The paper's three tasks (ocr, chunking, segmentation) register here as they land. */
const BUILTIN: TaskDefinition[] = [ocrTask, chunkingTask, segmentationTask];

let plugins: TaskDefinition[] | undefined;

function isTask(x: unknown): x is TaskDefinition {
  const t = x as TaskDefinition;
  return !!t && typeof t.name === 'string' && typeof t.run === 'function' && typeof t.datasets === 'function';
}

/**
 * Extra task modules named in $SPS_PLUGINS (paths separated by ':'), each exporting a TaskDefinition
 * as `default` or a list as `tasks`. This is how a researcher adds a task without forking sps, and how
 * the test suite exercises the runner with a small real task of its own.
 */
async function loadPlugins(): Promise<TaskDefinition[]> {
  if (plugins) return plugins;
  const found: TaskDefinition[] = [];
  for (const spec of (process.env.SPS_PLUGINS ?? '').split(':').filter(Boolean)) {
    const path = isAbsolute(spec) ? spec : resolve(spec);
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    } catch (e) {
      throw new SpsError(`SPS_PLUGINS: cannot load task module ${path}: ${(e as Error).message}`);
    }
    const tasks = [mod.default, ...(Array.isArray(mod.tasks) ? mod.tasks : [])].filter(isTask);
    if (tasks.length === 0) throw new SpsError(`SPS_PLUGINS: ${path} exports no task (export a TaskDefinition as default or a list as \`tasks\`)`);
    found.push(...tasks);
  }
  plugins = found;
  return found;
}

export async function allTasks(): Promise<TaskDefinition[]> {
  return [...BUILTIN, ...(await loadPlugins())];
}

export async function findTask(name: string): Promise<TaskDefinition | undefined> {
  return (await allTasks()).find((t) => t.name === name);
}
