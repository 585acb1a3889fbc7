/**
 * The chunking task (docs/model.md §5): CoNLL-2000 sentences; each token's unary scores come from a
 * char-BiLSTM + word embedding + POS embedding → FC (no word-level recurrence: context comes from the
 * CRF alone), a free N_tags × N_tags pairwise matrix, a linear-chain CRF on top. Metric: chunk F1 as
 * the CoNLL `conlleval` script computes it, on the test file. Its definition and config schemas: chunking-def.ts.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { loadConll, type Sentence } from '../../data/conll2000.js';
import { type Embeddings, loadGlove, loadSenna } from '../../data/embeddings.js';
import { holdOut, indexWithUnk, lookupOrUnk, wordVocabulary } from '../../data/vocabulary.js';
import { createChunker, type ChunkerBatch } from '../../models/chunker.js';
import { conlleval } from '../../results/conlleval.js';
import type { FinalRecord } from '../../core/records.js';
import { type Rng, STREAMS } from '../../util/rng.js';
import { chainProblem, decodeAll, decodeChain, type ChainBatch } from '../chain-problem.js';
import type { RunContext } from '../../core/task.js';
import type { ChunkingData, ChunkingModel } from './chunking-def.js';
// The tests read the schemas from here, next to the helpers they exercise.
export { chunkingDataSchema, chunkingModelSchema } from './chunking-def.js';
import type { PotentialTransform, StructuredProblem, TrainData } from '../../core/problem.js';
import { selectionBatches, totalEpochs, trainCell } from '../trainer.js';

/** Index maps built from the training sentences (and the embedding's vocabulary). */
export interface Vocab {
  tags: string[];
  tagIndex: Map<string, number>;
  pos: Map<string, number>;
  chars: Map<string, number>;
  words: Map<string, number>;
  /** Maps a token to its word key. */
  key(word: string): string;
  /** Initial word embedding [words.size, dim]. */
  wordInit: Float32Array;
  wordDim: number;
}

/** A sentence as ids. Unknown POS, chars and words map to the last id of their vocabulary (UNK). */
interface Encoded {
  sentence: Sentence;
  words: number[];
  pos: number[];
  chars: number[][];
  /** Gold tag ids (-1: a tag never seen in training, test only). */
  labels: number[];
}

interface Batch extends ChainBatch {
  items: Encoded[];
  input: ChunkerBatch;
}

/** The hold-out: `validation_sentences` training sentences drawn with `split_seed` (data/vocabulary.ts holdOut). */
export function splitChunking(train: Sentence[], test: Sentence[], d: ChunkingData): { train: Sentence[]; validation: Sentence[]; test: Sentence[] } {
  const split = holdOut(train, d.validation_sentences, d.split_seed, d.train_sentences, 'data.validation_sentences');
  return { ...split, test: d.test_sentences === null ? test : test.slice(0, d.test_sentences) };
}

/**
 * Build the vocabularies. The tag set is that of the whole training file (`trainFile`: the label
 * space, so a tag seen only in the hold-out still has an id); POS and characters come from the
 * training sentences; words are every key with a pre-trained vector that occurs in the data (train,
 * validation or test: the vectors were learned without our labels) plus training keys seen
 * `min_word_count` times, plus UNK.
 */
export function buildVocab(
  train: Sentence[],
  trainFile: Sentence[],
  all: Sentence[],
  emb: Embeddings | undefined,
  d: ChunkingData,
  m: ChunkingModel,
  rng: Rng,
): Vocab {
  const tagSet = new Set<string>();
  for (const s of trainFile) s.chunks.forEach((t) => tagSet.add(t));
  const tags = [...tagSet].sort((a, b) => (a === 'O' ? -1 : b === 'O' ? 1 : a < b ? -1 : a > b ? 1 : 0));
  const w = wordVocabulary(train, all, emb, d.min_word_count, m.word_dim, rng);
  return {
    tags,
    tagIndex: new Map(tags.map((t, i) => [t, i])),
    pos: indexWithUnk(train.flatMap((s) => s.pos)),
    chars: indexWithUnk(train.flatMap((s) => s.words.flatMap((x) => [...x]))),
    words: w.words,
    key: w.key,
    wordInit: w.init,
    wordDim: w.dim,
  };
}

function encode(s: Sentence, v: Vocab, maxChars: number): Encoded {
  return {
    sentence: s,
    words: s.words.map((w) => lookupOrUnk(v.words, v.key(w))),
    pos: s.pos.map((p) => lookupOrUnk(v.pos, p)),
    chars: s.words.map((w) => [...w].slice(0, maxChars).map((c) => lookupOrUnk(v.chars, c))),
    labels: s.chunks.map((t) => v.tagIndex.get(t) ?? -1),
  };
}

function makeBatch(items: Encoded[]): Batch {
  const lengths = items.map((e) => e.words.length);
  const T = Math.max(...lengths);
  const mask = new Float32Array(items.length * T);
  items.forEach((e, b) => mask.fill(1, b * T, b * T + e.words.length));
  return {
    items,
    // Tags never seen in training occur in test sentences only, which are decoded, never scored by a loss.
    labels: items.map((e) => e.labels.map((y) => Math.max(0, y))),
    lengths,
    mask: tf.tensor3d(mask, [items.length, T, 1]),
    input: { words: items.map((e) => e.words), pos: items.map((e) => e.pos), chars: items.map((e) => e.chars), lengths, T },
  };
}

const disposeBatch = (b: Batch): void => b.mask.dispose();

/** BIO transition constraints: I-X may follow only B-X or I-X. */
export function bioAllowed(tags: string[]): boolean[][] {
  return tags.map((from) => tags.map((to) => !to.startsWith('I-') || from === `B-${to.slice(2)}` || from === to));
}

/** Share of tokens whose word has a pre-trained vector (%). */
function coverage(sentences: Sentence[], emb: Embeddings): number {
  let n = 0;
  let hit = 0;
  for (const s of sentences)
    for (const w of s.words) {
      n++;
      if (emb.index.has(emb.key(w))) hit++;
    }
  return n === 0 ? 0 : (100 * hit) / n;
}

function conllText(sentences: Sentence[], predicted: string[][]): string {
  return sentences.map((s, i) => s.words.map((w, t) => `${w} ${s.pos[t]} ${s.chunks[t]} ${predicted[i][t]}`).join('\n') + '\n').join('\n');
}

export async function run(ctx: RunContext<ChunkingData, ChunkingModel>): Promise<FinalRecord> {
  const { data: d, model: m } = ctx;
  const { train, validation, test } = splitChunking(loadConll(ctx.dataDir, 'train'), loadConll(ctx.dataDir, 'test'), d);
  const emb = d.embeddings === 'glove' ? loadGlove(ctx.dataDir) : d.embeddings === 'senna' ? loadSenna(d.senna_dir!) : undefined;
  const vocab = buildVocab(train, [...train, ...validation], [...train, ...validation, ...test], emb, d, m, ctx.rng.stream(STREAMS.init));
  const embInfo = emb
    ? { source: emb.source, path: emb.path, dim: emb.dim, coverage_train: coverage(train, emb), coverage_test: coverage(test, emb) }
    : { source: 'random', dim: m.word_dim };
  ctx.describe({ embeddings: embInfo, vocabulary: { words: vocab.words.size, pos: vocab.pos.size, chars: vocab.chars.size, tags: vocab.tags.length } });
  ctx.log(
    `data: ${train.length} training, ${validation.length} validation, ${test.length} test sentences; ${vocab.tags.length} tags, ${vocab.words.size} words, ${vocab.pos.size} POS, ${vocab.chars.size} chars`,
  );
  ctx.log(
    emb
      ? `word embeddings: ${emb.source} ${emb.dim}-d from ${emb.path}; token coverage ${embInfo.coverage_train!.toFixed(2)}% (train), ${embInfo.coverage_test!.toFixed(2)}% (test); ${m.word_trainable ? 'fine-tuned' : 'frozen'}`
      : `word embeddings: random ${m.word_dim}-d; ${m.word_trainable ? 'fine-tuned' : 'frozen'}`,
  );

  const enc = (ss: Sentence[]): Encoded[] => ss.map((s) => encode(s, vocab, m.max_chars));
  const [trainE, validationE, testE] = [enc(train), enc(validation), enc(test)];
  const allowed = m.bio_constraints ? bioAllowed(vocab.tags) : undefined;

  const net = createChunker(
    {
      charVocab: vocab.chars.size,
      charEmbedding: m.char_embedding,
      charHidden: m.char_hidden,
      maxChars: m.max_chars,
      wordVocab: vocab.words.size,
      wordInit: vocab.wordInit,
      wordTrainable: m.word_trainable,
      posVocab: vocab.pos.size,
      posDim: m.pos_dim,
      hidden: m.hidden,
      tags: vocab.tags.length,
      outputScale: m.unary_scale,
      dropout: m.dropout ?? 0,
    },
    ctx.rng.stream(STREAMS.init),
  );
  const K = vocab.tags.length;
  const pairwise = tf.variable(tf.randomNormal([K, K], 0, m.pairwise_std, 'float32', ctx.rng.stream(STREAMS.init).seed()), true, 'chunking/pairwise');
  const dropoutRng = ctx.rng.stream(STREAMS.dropout);
  let training = false;
  const problem: StructuredProblem<Batch> = {
    ...chainProblem(net.params, pairwise, (b) => net.apply(b.input, training ? dropoutRng : undefined), {
      meanFieldIterations: m.mean_field_iterations,
      allowed,
    }),
    setTraining: (on) => {
      training = on;
    },
  };

  const selection = selectionBatches(ctx, { validation: validationE, train: trainE }, m.eval_batch, makeBatch);

  const decode = (transform: PotentialTransform<Batch>, items: Encoded[]): string[][] =>
    decodeAll(items, m.eval_batch, makeBatch, disposeBatch, (b) => decodeChain(problem, transform, b, m.decode, allowed)).map((ys) =>
      ys.map((y) => vocab.tags[y]),
    );
  const score = (
    transform: PotentialTransform<Batch>,
    items: Encoded[],
  ): { predicted: string[][]; f1: number; precision: number; recall: number; accuracy: number } => {
    const predicted = decode(transform, items);
    const s = conlleval(
      items.map((e) => e.sentence.chunks),
      predicted,
    );
    return { predicted, f1: s.f1, precision: s.precision, recall: s.recall, accuracy: s.accuracy };
  };

  ctx.plan(totalEpochs(ctx.cell.mode, ctx.cell.train));
  try {
    const data: TrainData<Batch> = {
      trainSize: trainE.length,
      batch: (idx) => makeBatch(idx.map((i) => trainE[i])),
      dispose: disposeBatch,
      selection,
      validate: (transform) => {
        const s = score(transform, validationE);
        return { val_f1: s.f1, val_accuracy: s.accuracy };
      },
    };
    const result = await trainCell(ctx, problem, data);
    const s = score(result.transform, testE);
    const predictions = conllText(test, s.predicted);
    ctx.writeArtifact('predictions.conll', predictions);
    return {
      primary: 'f1',
      metrics: { f1: s.f1, precision: s.precision, recall: s.recall, accuracy: s.accuracy },
      alpha: result.alpha,
      test_sentences: test.length,
      test_tokens: testE.reduce((n, e) => n + e.words.length, 0),
      // The predictions are too large to commit for every run (about 0.9 MB each): their checksum lets
      // a rerun show it predicted exactly the same tags, and the file rescores to these metrics.
      predictions_sha256: createHash('sha256').update(predictions).digest('hex'),
      embeddings: embInfo,
    };
  } finally {
    net.dispose();
    pairwise.dispose();
    selection.forEach(disposeBatch);
  }
}
