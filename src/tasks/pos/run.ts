/**
 * The POS task's training code (definition: def.ts). Each token's unary scores come from the
 * chunker's network without its POS input: char-BiLSTM + word embedding → FC, token by token; the
 * pairwise is a free 45 × 45 matrix; a linear-chain CRF on top. Metric: token accuracy on the test
 * file, with the per-tag confusion written beside the predictions.
 *
 * Public API only: `sps/task` (here `../../task.js`) and `sps/task/train` (`../../task-train.js`),
 * tfjs from `ctx.tf`.
 */
import { createHash } from 'node:crypto';
import {
  holdOut,
  indexWithUnk,
  loadConll,
  loadGlove,
  lookupOrUnk,
  STREAMS,
  wordVocabulary,
  type ConllSentence,
  type ConllTokenCheck,
  type FinalRecord,
  type PotentialTransform,
  type RunContext,
  type StructuredProblem,
  type Tensor3D,
} from '../../task.js';
import type { ChainBatch, ChunkerBatch } from '../../task-train.js';
import { PTB_TAGS, type PosData, type PosModel } from './def.js';

const TAG_INDEX = new Map<string, number>(PTB_TAGS.map((t, i) => [t, i]));

/** Every POS column must hold a Penn Treebank tag: a shifted column or a typo is named at its line. */
export const checkPosTag: ConllTokenCheck = ({ pos }) =>
  TAG_INDEX.has(pos) ? undefined : `POS tag '${pos}' is not one of the 45 Penn Treebank tags (${PTB_TAGS.join(' ')}); is the POS column the second?`;

interface Encoded {
  sentence: ConllSentence;
  words: number[];
  chars: number[][];
  labels: number[];
}

interface Batch extends ChainBatch {
  input: ChunkerBatch;
}

/** Gold × predicted counts, [K][K], from tag ids. */
export function confusion(gold: readonly (readonly number[])[], predicted: readonly (readonly number[])[], K: number): number[][] {
  const m = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  gold.forEach((ys, i) => ys.forEach((y, t) => m[y][predicted[i][t]]++));
  return m;
}

/** The confusion as a table: a header of predicted tags, then one row per gold tag with its counts. */
export function confusionTsv(m: readonly (readonly number[])[], tags: readonly string[]): string {
  return [['gold\\predicted', ...tags].join('\t'), ...m.map((row, i) => [tags[i], ...row].join('\t'))].join('\n') + '\n';
}

export async function run(ctx: RunContext<PosData, PosModel>): Promise<FinalRecord> {
  const { tf, data: d, model: m } = ctx;
  const { chainProblem, createChunker, decodeAll, decodeChain, selectionBatches, totalEpochs, trainCell } = await import('../../task-train.js');
  const file = loadConll(ctx.dataDir, 'train', checkPosTag);
  const split = holdOut(file, d.validation_sentences, d.split_seed, d.train_sentences, 'data.validation_sentences');
  const testAll = loadConll(ctx.dataDir, 'test', checkPosTag);
  const [train, validation, test] = [split.train, split.validation, d.test_sentences === null ? testAll : testAll.slice(0, d.test_sentences)];
  const emb = d.embeddings === 'glove' ? loadGlove(ctx.dataDir) : undefined;
  const words = wordVocabulary(train, [...train, ...validation, ...test], emb, d.min_word_count, m.word_dim, ctx.rng.stream(STREAMS.init));
  const chars = indexWithUnk(train.flatMap((s) => s.words.flatMap((w) => [...w])));
  const K = PTB_TAGS.length;
  ctx.describe({
    embeddings: emb ? { source: emb.source, path: emb.path, dim: emb.dim } : { source: 'random', dim: m.word_dim },
    vocabulary: { words: words.words.size, chars: chars.size, tags: K },
  });
  ctx.log(
    `data: ${train.length} training, ${validation.length} validation, ${test.length} test sentences; ${K} tags, ${words.words.size} words, ${chars.size} chars`,
  );

  const encode = (s: ConllSentence): Encoded => ({
    sentence: s,
    words: s.words.map((w) => lookupOrUnk(words.words, words.key(w))),
    chars: s.words.map((w) => [...w].slice(0, m.max_chars).map((c) => lookupOrUnk(chars, c))),
    labels: s.pos.map((p) => TAG_INDEX.get(p)!),
  });
  const [trainE, validationE, testE] = [train.map(encode), validation.map(encode), test.map(encode)];
  const makeBatch = (items: Encoded[]): Batch => {
    const lengths = items.map((e) => e.words.length);
    const T = Math.max(...lengths);
    const mask = new Float32Array(items.length * T);
    items.forEach((e, b) => mask.fill(1, b * T, b * T + e.words.length));
    return {
      labels: items.map((e) => e.labels),
      lengths,
      mask: tf.tensor3d(mask, [items.length, T, 1]),
      input: { words: items.map((e) => e.words), chars: items.map((e) => e.chars), lengths, T },
    };
  };
  const dispose = (b: Batch): void => b.mask.dispose();

  const net = createChunker(
    {
      charVocab: chars.size,
      charEmbedding: m.char_embedding,
      charHidden: m.char_hidden,
      maxChars: m.max_chars,
      wordVocab: words.words.size,
      wordInit: words.init,
      wordTrainable: m.word_trainable,
      posVocab: 0,
      posDim: 0,
      hidden: m.hidden,
      tags: K,
      outputScale: m.unary_scale,
      dropout: m.dropout,
    },
    ctx.rng.stream(STREAMS.init),
  );
  const pairwise = tf.variable(tf.randomNormal([K, K], 0, m.pairwise_std, 'float32', ctx.rng.stream(STREAMS.init).seed()), true, 'pos/pairwise');
  const dropoutRng = ctx.rng.stream(STREAMS.dropout);
  let training = false;
  const problem: StructuredProblem<Batch> = {
    ...chainProblem(net.params, pairwise, (b: Batch): Tensor3D => net.apply(b.input, training ? dropoutRng : undefined), {
      meanFieldIterations: m.mean_field_iterations,
    }),
    setTraining: (on) => {
      training = on;
    },
  };
  const selection = selectionBatches(ctx, { validation: validationE, train: trainE }, m.eval_batch, makeBatch);
  const predict = (transform: PotentialTransform<Batch>, items: Encoded[]): number[][] =>
    decodeAll(items, m.eval_batch, makeBatch, dispose, (b) => decodeChain(problem, transform, b, m.decode));
  const accuracy = (items: Encoded[], predicted: number[][]): number => {
    const right = items.reduce((n, e, i) => n + e.labels.filter((y, t) => predicted[i][t] === y).length, 0);
    return (100 * right) / items.reduce((n, e) => n + e.labels.length, 0);
  };

  ctx.plan(totalEpochs(ctx.cell.mode, ctx.cell.train));
  try {
    const result = await trainCell(ctx, problem, {
      trainSize: trainE.length,
      batch: (idx) => makeBatch(idx.map((i) => trainE[i])),
      dispose,
      selection,
      validate: (transform) => ({ val_accuracy: accuracy(validationE, predict(transform, validationE)) }),
    });
    const predicted = predict(result.transform, testE);
    const predictions = test.map((s, i) => s.words.map((w, t) => `${w} ${s.pos[t]} ${PTB_TAGS[predicted[i][t]]}`).join('\n') + '\n').join('\n');
    ctx.writeArtifact('predictions.conll', predictions);
    ctx.writeArtifact(
      'confusion.tsv',
      confusionTsv(
        confusion(
          testE.map((e) => e.labels),
          predicted,
          K,
        ),
        PTB_TAGS,
      ),
    );
    return {
      primary: 'accuracy',
      metrics: { accuracy: accuracy(testE, predicted) },
      alpha: result.alpha,
      test_sentences: test.length,
      test_tokens: testE.reduce((n, e) => n + e.words.length, 0),
      // predictions.conll stays out of git (about 0.5 MB a run); its checksum shows a rerun predicted the same tags.
      predictions_sha256: createHash('sha256').update(predictions).digest('hex'),
    };
  } finally {
    net.dispose();
    pairwise.dispose();
    selection.forEach(dispose);
  }
}
