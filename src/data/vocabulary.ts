/**
 * What the sentence tasks (chunking, and the POS task on the public API) share before any network:
 * the validation hold-out carved from the training file, and vocabularies with an UNK entry, the word
 * vocabulary with its initial vectors. A task's own labels are its own business.
 */
import type { Embeddings } from './embeddings.js';
import { gloveKey } from './embeddings.js';
import { Rng } from '../util/rng.js';
import { SpsError } from '../util/errors.js';

/** The key of the shared entry that every unseen item maps to (not a possible token: it holds a NUL). */
export const UNK = '\u0000UNK';

/**
 * The hold-out convention of the sentence tasks: shuffle the training sentences with `seed` (fixed
 * across run seeds, so every cell validates on the same sentences), the first `validation` of them
 * are the validation set, the rest (or their first `trainLimit`) the training set. `what` names the
 * setting in the error.
 */
export function holdOut<S>(train: readonly S[], validation: number, seed: number, trainLimit: number | null, what: string): { train: S[]; validation: S[] } {
  if (train.length <= validation) throw new SpsError(`${what} (${validation}) must be smaller than the ${train.length} training sentences`);
  const pool = new Rng(seed).shuffle([...train]);
  const rest = pool.slice(validation);
  return { train: trainLimit === null ? rest : rest.slice(0, trainLimit), validation: pool.slice(0, validation) };
}

/** An index of `items` in sorted order, with UNK as the last id. */
export function indexWithUnk(items: Iterable<string>): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of [...new Set(items)].sort()) m.set(x, m.size);
  m.set(UNK, m.size);
  return m;
}

/** The id of `key`, or UNK's when the index does not hold it. */
export const lookupOrUnk = (index: Map<string, number>, key: string): number => index.get(key) ?? index.get(UNK)!;

export interface WordVocabulary {
  /** Word key → row of the embedding; UNK is the last row. */
  words: Map<string, number>;
  /** Maps a token to its word key (the embeddings' lookup, lower-casing by default). */
  key(word: string): string;
  /** Initial embedding, [words.size, dim] row-major. */
  init: Float32Array;
  dim: number;
}

/** Standard deviation of all entries (the random rows of words without a vector get the same spread). */
function spread(v: Float32Array): number {
  let s = 0;
  let s2 = 0;
  for (const x of v) {
    s += x;
    s2 += x * x;
  }
  const mean = s / v.length;
  return Math.sqrt(Math.max(0, s2 / v.length - mean * mean));
}

/**
 * The word vocabulary: every key with a pre-trained vector that occurs in `all` (train, validation
 * and test: the vectors were learned without our labels), plus the keys of `train` seen `minCount`
 * times, plus UNK. Rows with a vector start from it; the others from N(0, σ²), σ the spread of the
 * pre-trained vectors (1 without them, where every row is random and `dim` wide), drawn from `rng`
 * in row order.
 */
export function wordVocabulary(
  train: readonly { words: readonly string[] }[],
  all: readonly { words: readonly string[] }[],
  emb: Embeddings | undefined,
  minCount: number,
  dim: number,
  rng: Rng,
): WordVocabulary {
  const key = emb ? emb.key : gloveKey;
  const counts = new Map<string, number>();
  for (const s of train) for (const w of s.words) counts.set(key(w), (counts.get(key(w)) ?? 0) + 1);
  const keys = new Set<string>();
  if (emb) for (const s of all) for (const w of s.words) if (emb.index.has(key(w))) keys.add(key(w));
  for (const [k, n] of counts) if (n >= minCount) keys.add(k);
  const words = indexWithUnk(keys);
  const d = emb ? emb.dim : dim;
  const std = emb ? spread(emb.vectors) : 1;
  const init = new Float32Array(words.size * d);
  for (let i = 0; i < init.length; i++) init[i] = rng.normal() * std;
  if (emb) {
    for (const [k, i] of words) {
      const row = emb.index.get(k);
      if (row !== undefined) init.set(emb.vectors.subarray(row * d, (row + 1) * d), i * d);
    }
  }
  return { words, key, init, dim: d };
}
