/**
 * The task contract: what a task declares (schemas, data sets, objectives) and what it sees while it
 * runs one cell. A leaf module: it imports no task, so the registry (tasks/index.ts), the config
 * loader and the tasks themselves can all depend on it. See docs/architecture.md.
 */
import { dataRoot } from '../data/samples.js';
import type { z } from 'zod';
import type * as tfType from '@tensorflow/tfjs';
import type { Mode, Objective } from './constants.js';
import type { ScalingConfig, TrainConfig } from './schema.js';
import type { DatasetSpec } from '../data/registry.js';
import type { EpochRecord, FinalRecord } from './records.js';
import type { Rng } from '../util/rng.js';

type Section = Record<string, unknown>;

/** One cell of the grid, fully resolved: everything that determines its result (see config/cells.ts). */
export interface CellConfig<Data = Section, Model = Section> {
  schema: number;
  experiment: string;
  task: string;
  objective: Objective;
  mode: Mode;
  seed: number;
  data: Data;
  model: Model;
  train: TrainConfig;
  scaling: ScalingConfig;
  backend: string;
}

export type EpochInput = Omit<EpochRecord, 'seconds'> & { seconds?: number };

/** What the runner hands any task for one cell (execute.ts builds it). */
export interface CellContext {
  cell: CellConfig;
  /**
   * The tfjs module sps runs on, its back end already selected. A plugin task uses it instead of
   * importing @tensorflow/tfjs itself: its module then stays light (config checks and `--dry-run`
   * load no TensorFlow) and it cannot pick up a second copy of tfjs. The built-in tasks import tfjs
   * in their run modules, which are only loaded when a cell runs; it is the same module instance.
   */
  tf: typeof tfType;
  backend: { name: string; reason: string };
  /** Seeded by cell.seed: the only random source a task may use. Draw from `rng.stream(purpose)`, one stream per purpose (src/util/rng.ts STREAMS), so that how much one purpose draws never moves another. */
  rng: Rng;
  /** The run folder (for artefacts such as predictions). */
  runDir: string;
  /** Where the data sets live (a data set named NAME is in `${dataDir}/NAME`): the prepared ones, or samples/ for a cell with `data.source: sample`. */
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
  /**
   * The epoch whose weights the run predicts with, when it is not the last (`train.select: best-val`):
   * final.json's `validation` then records that epoch's metrics. The trainer calls it (trainCell).
   */
  selectEpoch?(epoch: number): void;
}

/** What a task's run() sees: the cell's context, with its `data` and `model` sections parsed by the task's schemas. */
export interface RunContext<Data = Section, Model = Section> extends CellContext {
  data: Data;
  model: Model;
}

/** The settings outside `data` and `model` a task may refuse (checkConfig). */
export interface ExperimentSettings<Model = Section> {
  modes: readonly Mode[];
  scaling: ScalingConfig;
  train: TrainConfig;
  model: Model;
}

/** A setting a task cannot run with: the key path (e.g. ['scaling', 'norm']) and what to do. */
export interface ConfigProblem {
  path: string[];
  message: string;
}

/** What a task author writes; `defineTask` turns it into the registry's TaskDefinition. */
export interface TaskSpec<Data extends Section, Model extends Section> {
  name: string;
  summary: string;
  /** Validates and fills defaults of the config's `data` section (use z.strictObject). */
  dataSchema: z.ZodType<Data>;
  /** Validates and fills defaults of the config's `model` section (use z.strictObject). */
  modelSchema: z.ZodType<Model>;
  objectives: readonly Objective[];
  /** Data sets the task brings itself (e.g. a plugin's), looked up before sps's built-in registry. */
  datasetSpecs?: readonly DatasetSpec[];
  /** Names of the data sets (built-in or the task's own) this cell needs prepared before it runs. */
  datasets(cell: CellConfig<Data, Model>): string[];
  /** Settings outside `data` and `model` this task cannot run with, checked when the config is loaded. */
  checkConfig?(exp: ExperimentSettings<Model>): ConfigProblem[];
  /**
   * Train and evaluate one cell. Keep TensorFlow out of the module that defines the task: import the
   * code that trains inside run() (`await import('./x-run.js')`) or use `ctx.tf`.
   */
  run(ctx: RunContext<Data, Model>): Promise<FinalRecord>;
}

/** A task as the registry, the config loader and the runner see it (sections untyped). */
export interface TaskDefinition {
  readonly name: string;
  readonly summary: string;
  readonly dataSchema: z.ZodType<Section>;
  readonly modelSchema: z.ZodType<Section>;
  readonly objectives: readonly Objective[];
  readonly datasetSpecs: readonly DatasetSpec[];
  datasets(cell: CellConfig): string[];
  checkConfig?(exp: ExperimentSettings): ConfigProblem[];
  run(ctx: CellContext): Promise<FinalRecord>;
}

/**
 * Define a task with typed sections: `datasets`, `checkConfig` and `run` receive `data` and `model`
 * as the task's own schemas parse them, so a task never casts or parses its sections itself.
 */
/** `data.source` of a task whose schema has it (dataSourceSchema, src/data/samples.ts). */
const sourceOf = (data: Section): 'sample' | undefined => ((data as { source?: unknown }).source === 'sample' ? 'sample' : undefined);

export function defineTask<Data extends Section, Model extends Section>(spec: TaskSpec<Data, Model>): TaskDefinition {
  const sections = (cell: CellConfig): CellConfig<Data, Model> => ({
    ...cell,
    data: spec.dataSchema.parse(cell.data),
    model: spec.modelSchema.parse(cell.model),
  });
  return {
    name: spec.name,
    summary: spec.summary,
    // The untyped view widens only the output type: parsing is the task's own schema either way.
    dataSchema: spec.dataSchema as z.ZodType<Section>,
    modelSchema: spec.modelSchema as z.ZodType<Section>,
    objectives: spec.objectives,
    datasetSpecs: spec.datasetSpecs ?? [],
    // A cell on the embedded samples (`data.source: sample`) needs no prepared data set, and its task
    // reads the samples through `ctx.dataDir` with the same loaders.
    datasets: (cell) => {
      const c = sections(cell);
      return sourceOf(c.data) === 'sample' ? [] : spec.datasets(c);
    },
    ...(spec.checkConfig ? { checkConfig: (exp: ExperimentSettings) => spec.checkConfig!({ ...exp, model: spec.modelSchema.parse(exp.model) }) } : {}),
    run: (ctx) => {
      const cell = sections(ctx.cell);
      return spec.run({ ...ctx, dataDir: dataRoot(sourceOf(cell.data), ctx.dataDir), data: cell.data, model: cell.model });
    },
  };
}
