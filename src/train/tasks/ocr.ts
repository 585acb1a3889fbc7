/**
 * The OCR task (docs/model.md §5): Taskar's handwritten words, a LeNet-like CNN giving each letter's
 * unary scores, a free 26×26 pairwise matrix, a linear-chain CRF on top; metric: per-letter accuracy
 * on the test letters (word accuracy as an extra). Its definition and config schemas: ocr-def.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { stringify } from 'csv-stringify/sync';
import { loadOcr, OCR_CLASSES, OCR_HEIGHT, OCR_PIXELS, OCR_WIDTH, type OcrWord } from '../../data/ocr.js';
import { createLeNet, LENET_PRESETS } from '../../models/lenet.js';
import type { FinalRecord } from '../../core/records.js';
import { Rng, STREAMS } from '../../util/rng.js';
import type { RunContext } from '../../core/task.js';
import { chainProblem, decodeAll, decodeChain } from '../chain-problem.js';
import type { OcrData, OcrModel } from './ocr-def.js';
import type { PotentialTransform, StructuredProblem, TrainData } from '../../core/problem.js';
import { selectionBatches, totalEpochs, trainCell } from '../trainer.js';

interface OcrBatch {
  words: OcrWord[];
  /** All letters of the batch: [N, 16, 8, 1]. */
  images: tf.Tensor4D;
  /** Row of the padded [B·T] layout → letter index, or N (a zero row) at padding: int32 [B·T]. */
  layout: tf.Tensor1D;
  /** 1 at real positions: [B, T, 1]. */
  mask: tf.Tensor3D;
  labels: number[][];
  lengths: number[];
}

function makeBatch(words: OcrWord[]): OcrBatch {
  const lengths = words.map((w) => w.labels.length);
  const T = Math.max(...lengths);
  const N = lengths.reduce((a, b) => a + b, 0);
  const pixels = new Float32Array(N * OCR_PIXELS);
  const layout = new Int32Array(words.length * T).fill(N);
  const mask = new Float32Array(words.length * T);
  let n = 0;
  words.forEach((w, b) => {
    pixels.set(w.pixels, n * OCR_PIXELS);
    for (let t = 0; t < w.labels.length; t++) {
      layout[b * T + t] = n + t;
      mask[b * T + t] = 1;
    }
    n += w.labels.length;
  });
  return {
    words,
    images: tf.tensor4d(pixels, [N, OCR_HEIGHT, OCR_WIDTH, 1]),
    layout: tf.tensor1d(layout, 'int32'),
    mask: tf.tensor3d(mask, [words.length, T, 1]),
    labels: words.map((w) => w.labels),
    lengths,
  };
}

const disposeBatch = (b: OcrBatch): void => tf.dispose([b.images, b.layout, b.mask]);

/** Split the words: train folds minus a validation hold-out, and the test folds. */
export function splitOcr(words: OcrWord[], d: OcrData): { train: OcrWord[]; validation: OcrWord[]; test: OcrWord[] } {
  const pool = new Rng(d.split_seed).shuffle(words.filter((w) => d.train_folds.includes(w.fold)));
  if (pool.length <= d.validation_words)
    throw new Error(`data.validation_words (${d.validation_words}) must be smaller than the ${pool.length} words of train_folds`);
  const validation = pool.slice(0, d.validation_words);
  let train = pool.slice(d.validation_words);
  if (d.train_words !== null) train = train.slice(0, d.train_words);
  let test = words.filter((w) => d.test_folds.includes(w.fold));
  if (d.test_words !== null) test = test.slice(0, d.test_words);
  return { train, validation, test };
}

function problemFor(ctx: RunContext, m: OcrModel): StructuredProblem<OcrBatch> & { dispose(): void } {
  const preset = LENET_PRESETS[m.preset];
  const rng = ctx.rng.stream(STREAMS.init);
  const net = createLeNet(
    {
      conv: [...(m.conv ?? preset.conv)],
      fc: [...(m.fc ?? preset.fc)],
      classes: OCR_CLASSES,
      init: m.init,
      outputScale: m.unary_scale,
      dropout: m.dropout ?? 0,
    },
    rng,
  );
  const pairwise = tf.variable(tf.randomNormal([OCR_CLASSES, OCR_CLASSES], 0, m.pairwise_std, 'float32', rng.seed()), true, 'ocr/pairwise');
  const dropoutRng = ctx.rng.stream(STREAMS.dropout);
  let training = false;
  const unary = (b: OcrBatch): tf.Tensor3D => {
    const scores = net.apply(b.images, training ? dropoutRng : undefined); // [N, 26]
    const padded = tf.concat([scores, tf.zeros([1, OCR_CLASSES])]); // [N+1, 26]: row N pads
    return tf.reshape(tf.gather(padded, b.layout), [b.words.length, b.mask.shape[1], OCR_CLASSES]) as tf.Tensor3D;
  };
  return {
    ...chainProblem(net.params, pairwise, unary, { meanFieldIterations: m.mean_field_iterations }),
    setTraining: (on) => {
      training = on;
    },
    dispose: () => {
      net.dispose();
      pairwise.dispose();
    },
  };
}

/** Decode a list of words in batches with the mode's potentials. */
function decode(problem: StructuredProblem<OcrBatch>, transform: PotentialTransform<OcrBatch>, words: OcrWord[], m: OcrModel): number[][] {
  return decodeAll(words, m.eval_batch, makeBatch, disposeBatch, (b) => decodeChain(problem, transform, b, m.decode));
}

function accuracy(words: OcrWord[], predicted: number[][]): { letter: number; word: number } {
  let right = 0;
  let letters = 0;
  let wordsRight = 0;
  words.forEach((w, i) => {
    let all = true;
    w.labels.forEach((y, t) => {
      letters++;
      if (predicted[i][t] === y) right++;
      else all = false;
    });
    if (all) wordsRight++;
  });
  return { letter: (100 * right) / letters, word: (100 * wordsRight) / words.length };
}

export async function run(ctx: RunContext<OcrData, OcrModel>): Promise<FinalRecord> {
  const { data: d, model: m } = ctx;
  const { train, validation, test } = splitOcr(loadOcr(ctx.dataDir), d);
  ctx.log(
    `data: ${train.length} training words, ${validation.length} validation words (folds ${d.train_folds.join(',')}), ${test.length} test words (folds ${d.test_folds.join(',')})`,
  );
  const selection = selectionBatches(ctx, { validation, train }, m.eval_batch, makeBatch);

  const problem = problemFor(ctx, m);
  ctx.plan(totalEpochs(ctx.cell.mode, ctx.cell.train));
  try {
    const data: TrainData<OcrBatch> = {
      trainSize: train.length,
      batch: (idx) => makeBatch(idx.map((i) => train[i])),
      dispose: disposeBatch,
      selection,
      validate: (transform) => {
        const acc = accuracy(validation, decode(problem, transform, validation, m));
        return { val_accuracy: acc.letter, val_word_accuracy: acc.word };
      },
    };
    const result = await trainCell(ctx, problem, data);
    const predicted = decode(problem, result.transform, test, m);
    const acc = accuracy(test, predicted);
    const rows: (string | number)[][] = [];
    test.forEach((w, i) => w.labels.forEach((y, t) => rows.push([i, t, String.fromCharCode(97 + y), String.fromCharCode(97 + predicted[i][t])])));
    ctx.writeArtifact('predictions.csv', stringify(rows, { header: true, columns: ['word', 'position', 'gold', 'predicted'] }));
    return {
      primary: 'accuracy',
      metrics: { accuracy: acc.letter, word_accuracy: acc.word },
      alpha: result.alpha,
      test_words: test.length,
      test_letters: test.reduce((n, w) => n + w.labels.length, 0),
    };
  } finally {
    problem.dispose();
    selection.forEach(disposeBatch);
  }
}
