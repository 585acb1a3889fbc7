/**
 * The segmentation task (docs/model.md §3, §5): binary figure/ground segmentation of the Weizmann horses
 * (a substitution: the paper's data set is not named and HorseSeg is not obtainable). A U-net gives
 * 2 scores per pixel (U), a second U-net a D-dimensional embedding per pixel (A, with
 * W = [[0, AAᵀ], [AAᵀ, 0]]); the Gaussian CRF's s* = (W + λI)^{-1}U is found by conjugate gradient.
 * Loss: cross-entropy of softmax(s*) per pixel; prediction: argmax. Metric: foreground IoU on the
 * test images (per-image mean, the headline; pooled over all test pixels as an extra), and pixel
 * accuracy. Its definition and config schemas: segmentation-def.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { PNG } from 'pngjs';
import * as gaussian from '../../crf/gaussian.js';
import { norm } from '../../crf/scaling.js';
import { type Horse, loadHorses } from '../../data/weizmann.js';
import { createUNet } from '../../models/unet.js';
import type { FinalRecord } from '../../core/records.js';
import type { RunContext } from '../../core/task.js';
import type { SegData, SegModel } from './segmentation-def.js';
// The tests read the data schema from here, next to the helpers they exercise.
export { segmentationDataSchema } from './segmentation-def.js';
import { STREAMS } from '../../util/rng.js';
import type { PotentialTransform, StructuredProblem, TrainData } from '../../core/problem.js';
import { selectionBatches, totalEpochs, trainCell } from '../trainer.js';

interface Batch {
  horses: Horse[];
  /** [B, H, W, 3], centred at 0. */
  x: tf.Tensor4D;
  /** int32 [B, L]. */
  labels: tf.Tensor2D;
}

function makeBatch(horses: Horse[], size: number): Batch {
  const L = size * size;
  const pixels = new Float32Array(horses.length * L * 3);
  const labels = new Int32Array(horses.length * L);
  horses.forEach((h, b) => {
    for (let i = 0; i < L * 3; i++) pixels[b * L * 3 + i] = h.image[i] - 0.5;
    labels.set(h.mask, b * L);
  });
  return { horses, x: tf.tensor4d(pixels, [horses.length, size, size, 3]), labels: tf.tensor2d(labels, [horses.length, L], 'int32') };
}

const disposeBatch = (b: Batch): void => tf.dispose([b.x, b.labels]);

/** The horses of an inclusive file-number range. */
const inRange = (horses: Horse[], [a, b]: readonly number[]): Horse[] => horses.filter((h) => h.index >= a && h.index <= b);

/** CG statistics of every forward solve of a run. */
class CgLog {
  count = 0;
  sum = 0;
  max = 0;
  add(iterations: number): void {
    this.count++;
    this.sum += iterations;
    this.max = Math.max(this.max, iterations);
  }
  summary(): { solves: number; mean: number; max: number } {
    return { solves: this.count, mean: this.count ? this.sum / this.count : 0, max: this.max };
  }
}

export interface IouScore {
  /** Mean over images of |pred ∩ gold| / |pred ∪ gold| for the foreground (an image whose union is empty counts 100). */
  iouPerImage: number;
  /** Σ|pred ∩ gold| / Σ|pred ∪ gold| over all test pixels. */
  iouPooled: number;
  pixelAccuracy: number;
}

/** Foreground IoU (per-image mean and pooled) and pixel accuracy, all in %. */
export function scoreMasks(gold: Uint8Array[], predicted: Uint8Array[]): IouScore {
  let inter = 0;
  let union = 0;
  let right = 0;
  let pixels = 0;
  let perImage = 0;
  gold.forEach((g, i) => {
    const p = predicted[i];
    if (p.length !== g.length) throw new Error(`scoreMasks: image ${i} has ${g.length} gold pixels but ${p.length} predicted`);
    let I = 0;
    let U = 0;
    for (let j = 0; j < g.length; j++) {
      if (g[j] && p[j]) I++;
      if (g[j] || p[j]) U++;
      if (g[j] === p[j]) right++;
    }
    inter += I;
    union += U;
    pixels += g.length;
    perImage += U === 0 ? 1 : I / U;
  });
  return {
    iouPerImage: (100 * perImage) / Math.max(1, gold.length),
    iouPooled: union === 0 ? 100 : (100 * inter) / union,
    pixelAccuracy: (100 * right) / Math.max(1, pixels),
  };
}

/** A 0/255 greyscale PNG of a size×size mask. */
export function maskPng(mask: Uint8Array, size: number): Buffer {
  const png = new PNG({ width: size, height: size });
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i] ? 255 : 0;
    png.data[4 * i] = v;
    png.data[4 * i + 1] = v;
    png.data[4 * i + 2] = v;
    png.data[4 * i + 3] = 255;
  }
  return PNG.sync.write(png, { colorType: 0 });
}

/** The config's CG settings, with every forward solve's iteration count recorded in `cg`. */
const solveOptions = (m: SegModel, cg: CgLog): gaussian.SolveOptions => ({
  tolerance: m.cg_tolerance,
  maxIterations: m.cg_max_iterations,
  onForward: (s) => cg.add(s.iterations),
});

function problemFor(ctx: RunContext, d: SegData, m: SegModel, cg: CgLog): StructuredProblem<Batch> & { dispose(): void } {
  const unaryNet = createUNet({ inChannels: 3, outChannels: 2, channels: m.unary_channels, outputScale: m.unary_scale }, ctx.rng.stream(STREAMS.init));
  const pairNet = createUNet(
    { inChannels: 3, outChannels: m.embedding_dim, channels: m.pairwise_channels, outputScale: m.pairwise_scale },
    ctx.rng.stream(STREAMS.init),
  );
  const L = d.size * d.size;
  const solve = solveOptions(m, cg);
  return {
    unaryParams: unaryNet.params,
    pairwiseParams: pairNet.params,
    potentials: (b) => {
      const B = b.horses.length;
      const unary = tf.transpose(tf.reshape(unaryNet.apply(b.x), [B, L, 2]), [0, 2, 1]); // [B,H,W,2] → [B,2,L]
      const raw = tf.reshape(pairNet.apply(b.x), [B, L, m.embedding_dim]) as tf.Tensor3D; // [B,L,D]
      return { unary, pairwise: gaussian.normalizeEmbeddings(raw, m.lambda, { margin: m.pd_margin }) };
    },
    loss: (_objective, p, b) => gaussian.loss(p.unary as tf.Tensor3D, p.pairwise as tf.Tensor3D, b.labels, m.lambda, solve),
    unaryLoss: (p, b) => {
      // Stage (1): per-pixel cross-entropy of softmax(U) alone, averaged over the pixels of an image.
      const onehot = tf.transpose(tf.oneHot(b.labels, 2), [0, 2, 1]); // [B,L,2] → [B,2,L]
      return tf.mean(tf.sub(tf.logSumExp(p.unary, 1), tf.sum(tf.mul(p.unary, onehot), 1)), 1) as tf.Tensor1D;
    },
    norms: (p, _b, kind, over) => ({
      unary: norm(p.unary, kind, { perExample: over === 'example' }),
      pairwise: gaussian.pairwiseNorm(p.pairwise as tf.Tensor3D, kind, { perExample: over === 'example' }),
    }),
    // W is quadratic in A: W·c is the Potts matrix of A·√c.
    rescale: (p, a, c) => ({
      unary: tf.mul(p.unary, a.rank === 1 ? tf.reshape(a, [-1, 1, 1]) : a),
      pairwise: tf.mul(p.pairwise, tf.sqrt(c.rank === 1 ? tf.reshape(c, [-1, 1, 1]) : c)),
    }),
    dispose: () => {
      unaryNet.dispose();
      pairNet.dispose();
    },
  };
}

/** Predicted masks with the mode's potentials. */
function predictMasks(
  problem: StructuredProblem<Batch>,
  transform: PotentialTransform<Batch>,
  horses: Horse[],
  d: SegData,
  m: SegModel,
  cg: CgLog,
): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let s = 0; s < horses.length; s += m.eval_batch) {
    const b = makeBatch(horses.slice(s, s + m.eval_batch), d.size);
    try {
      const labels = tf.tidy(() => {
        const p = transform(problem.potentials(b), b);
        const { s: sStar } = gaussian.solve(p.unary as tf.Tensor3D, p.pairwise as tf.Tensor3D, m.lambda, solveOptions(m, cg));
        return gaussian.predict(sStar);
      });
      const flat = labels.dataSync();
      labels.dispose();
      const L = d.size * d.size;
      b.horses.forEach((_h, i) => out.push(Uint8Array.from(flat.subarray(i * L, (i + 1) * L))));
    } finally {
      disposeBatch(b);
    }
  }
  return out;
}

export async function run(ctx: RunContext<SegData, SegModel>): Promise<FinalRecord> {
  const { data: d, model: m } = ctx;
  const all = loadHorses(ctx.dataDir, d.size, { complete: d.source !== 'sample' });
  let train = inRange(all, d.train_range);
  if (d.train_images !== null) train = train.slice(0, d.train_images);
  const validation = inRange(all, d.validation_range);
  let test = inRange(all, d.test_range);
  if (d.test_images !== null) test = test.slice(0, d.test_images);
  ctx.log(
    `data: Weizmann horses at ${d.size}×${d.size}: ${train.length} training, ${validation.length} validation, ${test.length} test images (by file number)`,
  );

  const trainCg = new CgLog();
  const evalCg = new CgLog();
  const problem = problemFor(ctx, d, m, trainCg);
  const selection = selectionBatches(ctx, { validation, train }, m.eval_batch, (hs) => makeBatch(hs, d.size));

  ctx.plan(totalEpochs(ctx.cell.mode, ctx.cell.train));
  try {
    const data: TrainData<Batch> = {
      trainSize: train.length,
      batch: (idx) =>
        makeBatch(
          idx.map((i) => train[i]),
          d.size,
        ),
      dispose: disposeBatch,
      selection,
      validate: (transform) => {
        const s = scoreMasks(
          validation.map((h) => h.mask),
          predictMasks(problem, transform, validation, d, m, evalCg),
        );
        return { val_iou: s.iouPerImage, val_pixel_accuracy: s.pixelAccuracy };
      },
    };
    const result = await trainCell(ctx, problem, data);
    const predicted = predictMasks(problem, result.transform, test, d, m, evalCg);
    const s = scoreMasks(
      test.map((h) => h.mask),
      predicted,
    );
    test.forEach((h, i) => {
      ctx.writeArtifact(`predictions/${h.name}-pred.png`, maskPng(predicted[i], d.size));
      ctx.writeArtifact(`predictions/${h.name}-gold.png`, maskPng(h.mask, d.size));
    });
    const cgTrain = trainCg.summary();
    const cgEval = evalCg.summary();
    ctx.log(
      `CG iterations per forward solve: training mean ${cgTrain.mean.toFixed(2)}, max ${cgTrain.max} (${cgTrain.solves} solves); evaluation mean ${cgEval.mean.toFixed(2)}, max ${cgEval.max}`,
    );
    return {
      primary: 'iou',
      metrics: { iou: s.iouPerImage, iou_pooled: s.iouPooled, pixel_accuracy: s.pixelAccuracy },
      alpha: result.alpha,
      test_images: test.length,
      cg_iterations: { training: cgTrain, evaluation: cgEval },
    };
  } finally {
    problem.dispose();
    selection.forEach(disposeBatch);
  }
}
