import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SpsError } from '../util/errors.js';
import { readDataText } from './read.js';

/**
 * Pre-trained word vectors for the chunking task's word embedding (docs/model.md §5):
 * - `senna`: SENNA's 50-d vectors (Collobert et al. 2011), the paper's choice, read from a SENNA
 *   folder the user names (its own layout: `hash/words.lst` and `embeddings/embeddings.txt`, one
 *   vector per line of the word list). SENNA looks words up lower-cased with every digit mapped to 0.
 * - `glove`: GloVe 6B 100-d (Pennington et al. 2014) cut to the CoNLL-2000 vocabulary: the prepared
 *   data set `word-embeddings` (`glove.6B.100d.conll2000.txt`, GloVe's text format). GloVe 6B is
 *   lower-cased; words are looked up lower-cased.
 */
export type EmbeddingSource = 'senna' | 'glove' | 'random';

export interface Embeddings {
  source: Exclude<EmbeddingSource, 'random'>;
  dim: number;
  /** Lookup key → row. */
  index: Map<string, number>;
  /** [rows, dim] row-major. */
  vectors: Float32Array;
  /** Where they were read from. */
  path: string;
  /** Maps a token to its lookup key. */
  key(word: string): string;
}

export const GLOVE_FILE = 'glove.6B.100d.conll2000.txt';

export const sennaKey = (w: string): string => w.toLowerCase().replace(/[0-9]/g, '0');
export const gloveKey = (w: string): string => w.toLowerCase();

function nonEmptyLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => l.replace(/\r$/, ''));
}

/** Parse GloVe's text format: `word v1 … vD` per line, the same D on every line. */
export function parseGlove(text: string, source: string): { index: Map<string, number>; vectors: Float32Array; dim: number } {
  const lines = nonEmptyLines(text);
  if (lines.length === 0) throw new SpsError(`${source}: no vectors found`);
  const dim = lines[0].split(' ').length - 1;
  if (dim < 1) throw new SpsError(`${source}:1: expected 'word v1 … vD'`);
  const vectors = new Float32Array(lines.length * dim);
  const index = new Map<string, number>();
  lines.forEach((line, i) => {
    const f = line.split(' ');
    if (f.length !== dim + 1) throw new SpsError(`${source}:${i + 1}: expected a word and ${dim} numbers (as on line 1), found ${f.length - 1} numbers`);
    for (let j = 1; j <= dim; j++) {
      const v = Number(f[j]);
      if (f[j] === '' || !Number.isFinite(v)) throw new SpsError(`${source}:${i + 1}: value ${j} '${f[j]}' is not a finite number`);
      vectors[i * dim + j - 1] = v;
    }
    if (index.has(f[0])) throw new SpsError(`${source}:${i + 1}: word '${f[0]}' appears twice (first on line ${index.get(f[0])! + 1})`);
    index.set(f[0], i);
  });
  return { index, vectors, dim };
}

/** The GloVe subset prepared by `sps prepare word-embeddings`. */
export function loadGlove(dataDir: string): Embeddings {
  const path = join(dataDir, 'word-embeddings', GLOVE_FILE);
  const { index, vectors, dim } = parseGlove(
    readDataText(path, 'the GloVe vectors', 'prepare them with `sps prepare word-embeddings` (offline: `sps prepare word-embeddings --from DIR`)'),
    path,
  );
  return { source: 'glove', dim, index, vectors, path, key: gloveKey };
}

/** SENNA's vectors from its own folder layout (`hash/words.lst`, `embeddings/embeddings.txt`). */
export function loadSenna(dir: string): Embeddings {
  const root = resolve(dir);
  const hint = `data.senna_dir must name an unpacked SENNA v3.0 folder (https://ronan.collobert.com/senna/) holding hash/words.lst and embeddings/embeddings.txt`;
  if (!existsSync(root)) throw new SpsError(`${root}: no such folder; ${hint}`);
  const wordsPath = join(root, 'hash', 'words.lst');
  const vecPath = join(root, 'embeddings', 'embeddings.txt');
  const words = nonEmptyLines(readDataText(wordsPath, 'the SENNA word list', hint));
  const rows = nonEmptyLines(readDataText(vecPath, 'the SENNA vectors', hint));
  if (rows.length !== words.length)
    throw new SpsError(`${vecPath}: ${rows.length} vectors but ${wordsPath} lists ${words.length} words; the two files must come from the same SENNA release`);
  const dim = rows[0].trim().split(/\s+/).length;
  const vectors = new Float32Array(rows.length * dim);
  const index = new Map<string, number>();
  rows.forEach((row, i) => {
    const f = row.trim().split(/\s+/);
    if (f.length !== dim) throw new SpsError(`${vecPath}:${i + 1}: expected ${dim} numbers (as on line 1), found ${f.length}`);
    f.forEach((x, j) => {
      const v = Number(x);
      if (!Number.isFinite(v)) throw new SpsError(`${vecPath}:${i + 1}: value ${j + 1} '${x}' is not a finite number`);
      vectors[i * dim + j] = v;
    });
    if (!index.has(words[i])) index.set(words[i], i);
  });
  return { source: 'senna', dim, index, vectors, path: root, key: sennaKey };
}
