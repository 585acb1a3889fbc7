/**
 * The shared trainer: runs a training mode (core/modes.ts, docs/architecture.md) for any structured model
 * whose potentials split into a unary part U and a pairwise part W. The chain tasks (OCR, chunking)
 * and the Gaussian-CRF task (segmentation) plug in through `StructuredProblem`; what differs between
 * the modes (schedule, potentials, extra loss, after-epoch hook, logged α) comes from the mode's entry.
 */
import * as tf from '@tensorflow/tfjs';
import { adam } from './adam.js';
import { applyClipped } from './clip.js';
import type { Mode, Objective } from '../core/constants.js';
import type { ScalingConfig, TrainConfig } from '../core/schema.js';
import { gridSearch, regulariser } from '../crf/scaling.js';
import { modeSpec, type ModeKit, type ModeSpec, type ModeState, type Phase } from '../core/modes.js';
import { STREAMS, type Rng } from '../util/rng.js';
import type { Potentials, PotentialTransform, StructuredProblem, TrainData } from '../core/problem.js';
import type { EpochInput, RunContext } from '../core/task.js';

/** Dispose potentials taken out of a tidy scope, sparing the model's own variables (a raw W is one). */
export function disposePotentials(p: Potentials): void {
  for (const t of [p.unary, p.pairwise]) if (!(t instanceof tf.Variable)) t.dispose();
}

export interface TrainerOptions {
  objective: Objective;
  /** A mode name, or a mode's entry itself (tests try modes that are not registered). */
  mode: Mode | ModeSpec;
  train: TrainConfig;
  scaling: ScalingConfig;
  rng: Rng;
  /** Records one epoch (the run context's `epoch`, which fails the run on NaN). */
  epoch(record: EpochInput): void;
  log(line: string): void;
}

export interface TrainResult<B> {
  /** The potentials to predict with. */
  transform: PotentialTransform<B>;
  /**
   * The α the mode trained and predicts with: online, the last grid choice; offline and
   * offline-reg, `scaling.alpha`; stage and joint scale nothing, so 1.
   */
  alpha: number;
  /** With `train.select: best-val`: the epoch whose weights (and online α) were restored to predict with. */
  selectedEpoch?: number;
}

/**
 * `train.select: best-val`: keeps a copy of the weights (and the online α) of the epoch with the best
 * value of the first validation metric; a tie keeps the earlier epoch.
 */
class BestEpoch {
  private saved: tf.Tensor[] = [];
  value = -Infinity;
  metric = '';
  epoch: number | undefined;
  alpha = 1;

  offer(epoch: number, metrics: Record<string, number>, params: readonly tf.Variable[], alpha: number): void {
    const [metric, v] = Object.entries(metrics)[0] ?? ['', NaN];
    if (!(v > this.value)) return;
    this.dispose();
    this.saved = params.map((p) => p.clone());
    Object.assign(this, { value: v, metric, epoch, alpha });
  }

  /** Put the kept weights back into `params`; returns the selected epoch. */
  restore(params: readonly tf.Variable[]): number | undefined {
    this.saved.forEach((t, i) => params[i].assign(t));
    this.dispose();
    return this.epoch;
  }

  dispose(): void {
    for (const t of this.saved) t.dispose();
    this.saved = [];
  }
}

/** The schedule of a mode: one phase, or stage's three. */
export function phases(mode: Mode | ModeSpec, train: TrainConfig): Phase[] {
  return specOf(mode).phases(train);
}

const specOf = (mode: Mode | ModeSpec): ModeSpec => (typeof mode === 'string' ? modeSpec(mode) : mode);

/** The tfjs side of a mode's hooks. */
function modeKit<B>(problem: StructuredProblem<B>, objective: Objective, scaling: ScalingConfig): ModeKit<B> {
  return { tf, problem, objective, scaling, regulariser, gridSearch };
}

export function totalEpochs(mode: Mode | ModeSpec, train: TrainConfig): number {
  return phases(mode, train).reduce((n, p) => n + p.epochs, 0);
}

function makeOptimizer(train: TrainConfig, lr: number): tf.Optimizer {
  switch (train.optimizer) {
    case 'adam':
      return adam(lr);
    case 'sgd':
      return tf.train.sgd(lr);
    case 'momentum':
      return tf.train.momentum(lr, train.momentum);
  }
}

/** The potentials a mode trains and predicts with (§4). `alpha` is read at call time (online). */
export function modeTransform<B>(mode: Mode | ModeSpec, problem: StructuredProblem<B>, scaling: ScalingConfig, alpha: () => number): PotentialTransform<B> {
  return specOf(mode).transform(
    { tf, problem, scaling },
    {
      get alpha() {
        return alpha();
      },
    },
  );
}

/** Set to N to profile the N-th training step of a run (tf.profile; the kernel table goes to log.txt). */
export const PROFILE_ENV = 'SPS_PROFILE_STEP';

/** Run `fn` under tf.profile and log its wall time and the kernels that took the most time. */
async function profiled(fn: () => number, log: (line: string) => void, what: string): Promise<number> {
  const started = performance.now();
  let result = NaN;
  const info = await tf.profile(() => {
    result = fn();
    return [];
  });
  const wall = performance.now() - started;
  const byName = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    const e = byName.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += Number(k.kernelTimeMs) || 0;
    e.calls++;
    byName.set(k.name, e);
  }
  const total = [...byName.values()].reduce((a, e) => a + e.ms, 0);
  const top = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12);
  log(
    `profile of ${what}: ${wall.toFixed(1)} ms wall (with profiling overhead), ${total.toFixed(1)} ms in ${info.kernels.length} kernel calls, peak ${(info.peakBytes / 2 ** 20).toFixed(1)} MiB of tensors`,
  );
  for (const [name, e] of top)
    log(
      `profile   ${name.padEnd(28)} ${e.ms.toFixed(2).padStart(8)} ms  ${String(e.calls).padStart(5)} calls  ${((100 * e.ms) / Math.max(total, 1e-9)).toFixed(1).padStart(5)} %`,
    );
  return result;
}

/**
 * Train `problem` under `objective` and `mode`, reporting every epoch. Returns the potential
 * transform to predict with. Randomness (batch order) comes from `opts.rng` only.
 */
export async function trainStructured<B>(problem: StructuredProblem<B>, data: TrainData<B>, opts: TrainerOptions): Promise<TrainResult<B>> {
  const { train, scaling, objective } = opts;
  const spec = specOf(opts.mode);
  const kit = modeKit(problem, objective, scaling);
  const state: ModeState = { alpha: 1 };
  const transform = spec.transform(kit, state);
  const allParams = [...problem.unaryParams, ...problem.pairwiseParams];
  // A mode that reads norm_over takes norms of the potentials, and with 'batch' those mix examples.
  if (spec.keys.scaling.includes('norm_over') && scaling.norm_over === 'batch') {
    opts.log(
      `warning: scaling.norm_over is 'batch': the ${spec.name} potentials of an example depend on the other examples of its batch, and predictions on the evaluation batch size; 'example' avoids both`,
    );
  }
  let epochNo = 0;
  let stepNo = 0;
  const best = train.select === 'best-val' ? new BestEpoch() : undefined;
  const profileStep = Number(process.env[PROFILE_ENV] ?? 0);

  const structuredLoss = (batch: B, maximiser: number[][] | undefined): tf.Scalar => {
    const raw = problem.potentials(batch);
    const l = tf.mean(problem.loss(objective, transform(raw, batch), batch, maximiser)) as tf.Scalar;
    return spec.extraLoss ? (tf.add(l, spec.extraLoss(kit, raw, batch)) as tf.Scalar) : l;
  };
  // ssvm with `train.ssvm_maximiser: dropout-free`: Y* from the mode's potentials with dropout off, taken
  // outside the gradient tape (Y* is data: the subgradient of eq. 6 is ∂F(Y*) − ∂F(Y) either way).
  const dropoutFree = objective === 'ssvm' && train.ssvm_maximiser === 'dropout-free';
  if (dropoutFree && !problem.maximiser)
    throw new Error(`train.ssvm_maximiser: dropout-free needs a task whose model decodes ssvm's maximiser (a chain task); this one does not`);
  const cleanMaximiser = (batch: B): number[][] => {
    problem.setTraining?.(false);
    try {
      return tf.tidy(() => problem.maximiser!(transform(problem.potentials(batch), batch), batch));
    } finally {
      problem.setTraining?.(true);
    }
  };

  for (const phase of spec.phases(train)) {
    const params = phase.params === 'unary' ? problem.unaryParams : phase.params === 'pairwise' ? problem.pairwiseParams : allParams;
    const optimizer = makeOptimizer(train, phase.lr);
    opts.log(
      `phase ${phase.name}: ${phase.epochs} epochs, lr ${phase.lr}, ${phase.loss === 'unary' ? 'unary cross-entropy' : objective}${phase.params !== 'all' ? `, training the ${phase.params} part only` : ''}`,
    );
    for (let e = 0; e < phase.epochs; e++) {
      epochNo++;
      const started = Date.now();
      const order = opts.rng.shuffle(Array.from({ length: data.trainSize }, (_, i) => i));
      let sum = 0;
      let steps = 0;
      for (let s = 0; s < order.length; s += train.batch_size) {
        const batch = data.batch(order.slice(s, s + train.batch_size));
        let value: number;
        const step = (): number => {
          problem.setTraining?.(true);
          try {
            return trainStep();
          } finally {
            problem.setTraining?.(false);
          }
        };
        const trainStep = (): number => {
          const maximiser = dropoutFree && phase.loss === 'structured' ? cleanMaximiser(batch) : undefined;
          return tf.tidy(() => {
            const { value: v, grads } = tf.variableGrads(() => {
              let l = phase.loss === 'unary' ? (tf.mean(problem.unaryLoss(problem.potentials(batch), batch)) as tf.Scalar) : structuredLoss(batch, maximiser);
              if (train.weight_decay > 0) l = tf.add(l, tf.mul(train.weight_decay / 2, tf.addN(params.map((p) => tf.sum(tf.square(p)))))) as tf.Scalar;
              return l;
            }, params);
            applyClipped(optimizer, grads, train.grad_clip);
            return v.dataSync()[0];
          });
        };
        stepNo++;
        try {
          value = stepNo === profileStep ? await profiled(step, opts.log, `step ${stepNo} (${phase.name}, batch of ${train.batch_size})`) : step();
        } finally {
          data.dispose(batch);
        }
        sum += value;
        steps++;
        if (!Number.isFinite(value)) break; // reported below; the run fails on it
      }
      const record: EpochInput = { epoch: epochNo, phase: phase.name, losses: { train: sum / Math.max(1, steps) }, metrics: {} };
      if (Number.isFinite(record.losses.train)) {
        if (spec.afterEpoch && phase.loss === 'structured') Object.assign(record, await spec.afterEpoch(kit, state, data.selection));
        const alpha = spec.alpha(scaling, state);
        if (alpha !== undefined) record.alpha = alpha;
        record.metrics = data.validate(transform);
        record.extra = normLog(problem, data.selection);
        best?.offer(epochNo, record.metrics, allParams, state.alpha);
      }
      record.seconds = (Date.now() - started) / 1000;
      opts.epoch(record);
    }
    optimizer.dispose();
  }
  if (best?.epoch !== undefined) {
    state.alpha = best.alpha;
    const selectedEpoch = best.restore(allParams);
    opts.log(`train.select best-val: predicting with the weights of epoch ${selectedEpoch} of ${epochNo} (${best.metric} ${best.value})`);
    return { transform, alpha: spec.alpha(scaling, state) ?? 1, selectedEpoch };
  }
  best?.dispose();
  return { transform, alpha: spec.alpha(scaling, state) ?? 1 };
}

/**
 * ‖U‖, ‖W‖ and their ratio on the selection subset, of the raw potentials: the quantity the paper's
 * claim is about. Fixed norms, so the log is comparable across modes and configs (and depends on no
 * key outside the run id):
 * - `unary_rms`, `pairwise_rms`, `rms_ratio`: the root-mean-square entry, per example, averaged over
 *   the subset; independent of batch sizes and sequence lengths, and in the units of the default
 *   offline α (norm rms, per example);
 * - `unary_norm`, `pairwise_norm`, `norm_ratio`: the Frobenius norm over each evaluation batch,
 *   averaged over the batches. It grows with the batch (√ of the number of entries), so it is
 *   comparable only between runs with the same evaluation batch size.
 */
function normLog<B>(problem: StructuredProblem<B>, selection: B[]): Record<string, number> {
  if (selection.length === 0) return {};
  let u = 0;
  let w = 0;
  let uRms = 0;
  let wRms = 0;
  let examples = 0;
  for (const b of selection) {
    const [nu, nw, ur, wr, n] = tf.tidy(() => {
      const p = problem.potentials(b);
      const f = problem.norms(p, b, 'frobenius', 'batch');
      const r = problem.norms(p, b, 'rms', 'example');
      const perEx = r.unary.dataSync();
      const pw = r.pairwise.dataSync();
      const sum = (a: ArrayLike<number>) => Array.from(a).reduce((x, y) => x + y, 0);
      // The shared W has one rms for every example; an embedding W (segmentation) has one each.
      return [f.unary.dataSync()[0], f.pairwise.dataSync()[0], sum(perEx), pw.length === 1 ? pw[0] * perEx.length : sum(pw), perEx.length];
    });
    u += nu / selection.length;
    w += nw / selection.length;
    uRms += ur;
    wRms += wr;
    examples += n;
  }
  return { unary_norm: u, pairwise_norm: w, norm_ratio: u / w, unary_rms: uRms / examples, pairwise_rms: wRms / examples, rms_ratio: uRms / wRms };
}

/**
 * The selection subset of online scaling and of the norm log (`scaling.selection`): `size` examples
 * drawn with the run's selection stream from the validation or the training pool (all of it when size is null),
 * in batches of `batchSize`.
 */
export function selectionBatches<T, B>(
  ctx: RunContext,
  pools: { validation: readonly T[]; train: readonly T[] },
  batchSize: number,
  makeBatch: (items: T[]) => B,
): B[] {
  const sel = ctx.cell.scaling.selection;
  const pool = sel.subset === 'validation' ? pools.validation : pools.train;
  const items =
    sel.size === null
      ? [...pool]
      : ctx.rng
          .stream(STREAMS.selection)
          .shuffle([...pool])
          .slice(0, sel.size);
  const out: B[] = [];
  for (let s = 0; s < items.length; s += batchSize) out.push(makeBatch(items.slice(s, s + batchSize)));
  return out;
}

/** trainStructured with the cell's objective, mode, schedule and scaling, its batch-order stream and its reporting. */
export async function trainCell<B>(ctx: RunContext, problem: StructuredProblem<B>, data: TrainData<B>): Promise<TrainResult<B>> {
  const { objective, mode, train, scaling } = ctx.cell;
  const result = await trainStructured(problem, data, {
    objective,
    mode,
    train,
    scaling,
    rng: ctx.rng.stream(STREAMS.batchOrder),
    epoch: ctx.epoch,
    log: ctx.log,
  });
  if (result.selectedEpoch !== undefined) ctx.selectEpoch?.(result.selectedEpoch);
  return result;
}
