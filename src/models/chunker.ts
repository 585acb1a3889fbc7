/**
 * The chunking task's unary network (docs/model.md §5): for every token independently,
 *
 *   [ charBiLSTM(characters) (2·charHidden) | word embedding (wordDim) | POS embedding (posDim) ]
 *     → [FC hidden_i + ReLU]* → FC N_tags                                             (scores)
 *
 * There is no word-level recurrence: a token's scores depend on that token only, and context comes
 * from the CRF alone (as in the paper). Embedding lookups are `tf.gather` on variables (gradient:
 * UnsortedSegmentSum). Only the real tokens of a padded batch are computed; their scores are
 * scattered into [B, T, N_tags] with one gather (padding rows are 0).
 *
 * Defaults (the paper leaves the sizes open) and why:
 * - char embedding 25, char BiLSTM 25 units per direction (Lample et al. 2016's sizes, the usual
 *   char-BiLSTM of the era);
 * - word embedding: dimension of the given matrix (GloVe 6B 100-d in this project; the paper used
 *   SENNA 50-d) or `wordDim` (default 100) when random; trainable by default (fine-tuned; `wordTrainable:
 *   false` freezes it — a frozen embedding is a non-trainable variable, not in `params`);
 * - POS embedding 25 (45 tags in CoNLL-2000: a small dense code); `posDim: 0` drops the POS input
 *   altogether, which is the POS task's unary (src/tasks/pos: it predicts those tags);
 * - `hidden: []`: a single FC layer to the tag scores ("→ FC →" in the paper's description);
 *   hidden ReLU layers are an option.
 * Init: embeddings N(0, 1) (PyTorch's default) unless a matrix is given; char BiLSTM as in lstm.ts;
 * hidden FC He-normal; the output layer Glorot-uniform times `outputScale` (the unary scale at
 * initialisation, which the paper's scaling claim is about).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../util/rng.js';
import { type ModelBase, ParamStore, initWeights, normalArray } from './init.js';
import { type CharBiLstm, createCharBiLstm } from './lstm.js';
import { dropout } from './dropout.js';

export interface ChunkerOptions {
  /** Character ids are in [0, charVocab). */
  charVocab: number;
  charEmbedding: number;
  charHidden: number;
  /** Characters beyond this many per word are dropped (default: no limit). */
  maxChars: number;
  /** Word ids are in [0, wordVocab). */
  wordVocab: number;
  /** Word embedding size when no `wordInit` is given. */
  wordDim: number;
  /** Optional initial word embedding matrix [wordVocab, dim] (flat row-major or rows). */
  wordInit?: Float32Array | readonly (readonly number[])[];
  wordTrainable: boolean;
  /** POS ids are in [0, posVocab). */
  posVocab: number;
  /** 0: no POS input (`pos` of a batch is then not read): the POS tagger's unary. */
  posDim: number;
  /** Hidden FC layers (ReLU) between the features and the output layer. */
  hidden: number[];
  /** N_tags. */
  tags: number;
  outputScale: number;
  /**
   * Dropout rate on each token's feature vector (char-BiLSTM output, word and POS embeddings: the
   * input of the FC layers), in training steps only. 0: none.
   */
  dropout: number;
}

export const CHUNKER_DEFAULTS = {
  charEmbedding: 25,
  charHidden: 25,
  maxChars: Infinity,
  wordDim: 100,
  wordTrainable: true,
  posDim: 25,
  hidden: [] as number[],
  outputScale: 1,
  dropout: 0,
} satisfies Partial<ChunkerOptions>;

/** A padded batch of sentences. Index [b][t] for t < lengths[b]; entries beyond are ignored. */
export interface ChunkerBatch {
  words: readonly (readonly number[])[];
  /** Needed when the chunker has a POS input (posDim > 0). */
  pos?: readonly (readonly number[])[];
  /** Character ids of each token. */
  chars: readonly (readonly (readonly number[])[])[];
  lengths: readonly number[];
  /** Padded length T of the output (default max(lengths)). */
  T?: number;
}

export interface Chunker extends ModelBase {
  readonly options: ChunkerOptions;
  readonly charEncoder: CharBiLstm;
  /**
   * Token scores [B, T, tags], exactly 0 at padding. Call inside tidy / optimizer.minimize. With
   * `training` (a training step), dropout is on and draws its mask from `training.seed()`.
   */
  apply(batch: ChunkerBatch, training?: { seed(): number }): tf.Tensor3D;
  /** Forward FLOPs for `batchShape` = [N tokens, chars per token] (matMuls only). */
  flops(batchShape: readonly number[]): number;
}

export function createChunker(options: Pick<ChunkerOptions, 'charVocab' | 'wordVocab' | 'posVocab' | 'tags'> & Partial<ChunkerOptions>, rng: Rng): Chunker {
  const o: ChunkerOptions = { ...CHUNKER_DEFAULTS, ...options };
  if (!(o.dropout >= 0 && o.dropout < 1)) throw new Error(`chunker: dropout must be in [0, 1), got ${o.dropout}`);
  const store = new ParamStore();

  let wordDim = o.wordDim;
  let wordValues: Float32Array;
  if (o.wordInit !== undefined) {
    const init = o.wordInit;
    if (init instanceof Float32Array) {
      if (init.length % o.wordVocab !== 0) throw new Error(`chunker: wordInit has ${init.length} values, not a multiple of wordVocab ${o.wordVocab}`);
      wordDim = init.length / o.wordVocab;
      wordValues = Float32Array.from(init);
    } else {
      if (init.length !== o.wordVocab) throw new Error(`chunker: wordInit has ${init.length} rows, wordVocab is ${o.wordVocab}`);
      wordDim = init[0]?.length ?? 0;
      wordValues = new Float32Array(o.wordVocab * wordDim);
      init.forEach((row, i) => {
        if (row.length !== wordDim) throw new Error(`chunker: wordInit row ${i} has ${row.length} values, expected ${wordDim}`);
        wordValues.set(row, i * wordDim);
      });
    }
  } else {
    wordValues = normalArray(rng, o.wordVocab * wordDim, 1);
  }
  const wordEmb = store.add('word/embedding', wordValues, [o.wordVocab, wordDim], o.wordTrainable);
  const posEmb = o.posDim > 0 ? store.add('pos/embedding', normalArray(rng, o.posVocab * o.posDim, 1), [o.posVocab, o.posDim]) : undefined;
  const charEncoder = createCharBiLstm({ charVocab: o.charVocab, embedding: o.charEmbedding, hidden: o.charHidden, maxChars: o.maxChars }, rng);
  store.adopt('char', charEncoder);

  const sizes = [2 * o.charHidden + wordDim + o.posDim, ...o.hidden, o.tags];
  const fcW: tf.Variable[] = [];
  const fcB: tf.Variable[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const last = i + 2 === sizes.length;
    const name = last ? 'out' : `fc${i + 1}`;
    fcW.push(
      store.add(`${name}/w`, initWeights(rng, [sizes[i], sizes[i + 1]], sizes[i], sizes[i + 1], last ? 'glorot' : 'he', last ? o.outputScale : 1), [
        sizes[i],
        sizes[i + 1],
      ]),
    );
    fcB.push(store.add(`${name}/b`, new Float32Array(sizes[i + 1]), [sizes[i + 1]]));
  }

  const ids = (what: string, vocab: number, v: number): number => {
    if (!Number.isInteger(v) || v < 0 || v >= vocab) throw new Error(`chunker: ${what} id ${v} outside [0, ${vocab})`);
    return v;
  };

  const apply = (batch: ChunkerBatch, training?: { seed(): number }): tf.Tensor3D =>
    tf.tidy(() => {
      const { lengths } = batch;
      const B = lengths.length;
      const T = batch.T ?? Math.max(0, ...lengths);
      const N = lengths.reduce((a, b) => a + b, 0);
      if (lengths.some((L) => !Number.isInteger(L) || L < 0 || L > T)) throw new Error(`chunker: lengths must be integers in [0, ${T}]`);
      // Real tokens only, in (b, t) order; `where[b·T + t]` is the token's row or N (the zero row).
      const wordIds = new Int32Array(N);
      const posIds = new Int32Array(N);
      const chars: (readonly number[])[] = [];
      const where = new Int32Array(B * T).fill(N);
      let n = 0;
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < lengths[b]; t++, n++) {
          wordIds[n] = ids('word', o.wordVocab, batch.words[b][t]);
          if (posEmb) posIds[n] = ids('POS', o.posVocab, batch.pos?.[b]?.[t] ?? NaN);
          chars.push(batch.chars[b][t]);
          where[b * T + t] = n;
        }
      }
      if (N === 0) return tf.zeros([B, T, o.tags]) as tf.Tensor3D;
      const parts = [charEncoder.apply(chars), tf.gather(wordEmb, tf.tensor1d(wordIds, 'int32'))];
      if (posEmb) parts.push(tf.gather(posEmb, tf.tensor1d(posIds, 'int32')));
      const features = tf.concat(parts, 1) as tf.Tensor2D; // [N, features]
      let f = training && o.dropout > 0 ? dropout(features, o.dropout, training.seed()) : features;
      for (let i = 0; i < fcW.length; i++) {
        const last = i + 1 === fcW.length;
        f = tf.fused.matMul({ a: f, b: fcW[i] as tf.Tensor2D, bias: fcB[i], activation: last ? 'linear' : 'relu' }) as tf.Tensor2D;
      }
      if (N === B * T) return tf.reshape(f, [B, T, o.tags]) as tf.Tensor3D; // no padding: rows already in (b, t) order
      const padded = tf.concat([f, tf.zeros([1, o.tags])], 0);
      return tf.reshape(tf.gather(padded, tf.tensor1d(where, 'int32')), [B, T, o.tags]) as tf.Tensor3D;
    });

  let fcFlops = 0;
  for (let i = 0; i + 1 < sizes.length; i++) fcFlops += 2 * sizes[i] * sizes[i + 1];
  return {
    ...store.base(),
    options: o,
    charEncoder,
    apply,
    flops: ([N, Lc]) => charEncoder.flops([N, Lc]) + N * fcFlops,
  };
}
