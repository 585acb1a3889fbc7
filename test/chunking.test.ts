import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Sentence } from '../src/data/conll2000.js';
import { loadGlove, loadSenna, parseGlove, sennaKey } from '../src/data/embeddings.js';
import { bioAllowed, buildVocab, chunkingDataSchema, chunkingModelSchema, splitChunking } from '../src/train/tasks/chunking.js';
import { Rng } from '../src/util/rng.js';
import { tempDir } from './helpers.js';

const sent = (words: string[], pos: string[], chunks: string[]): Sentence => ({ words, pos, chunks });

describe('word vectors', () => {
  it('parses GloVe text and names the line of a bad entry', () => {
    const g = parseGlove('the 0.5 -1\nof 2 3e-1\n', 'g.txt');
    assert.equal(g.dim, 2);
    assert.deepEqual([...g.vectors], [0.5, -1, 2, 0.30000001192092896]);
    assert.equal(g.index.get('of'), 1);
    assert.throws(() => parseGlove('the 0.5 -1\nof 2\n', 'g.txt'), /g\.txt:2: expected a word and 2 numbers/);
    assert.throws(() => parseGlove('the 0.5 x\n', 'g.txt'), /g\.txt:1: value 2 'x' is not a finite number/);
    assert.throws(() => parseGlove('the 1\nthe 2\n', 'g.txt'), /g\.txt:2: word 'the' appears twice/);
    assert.throws(() => parseGlove('', 'g.txt'), /no vectors/);
  });

  it('loadGlove says how to prepare missing vectors', () => {
    assert.throws(() => loadGlove(tempDir()), /sps prepare word-embeddings` \(offline: `sps prepare word-embeddings --from DIR/);
  });

  it("reads SENNA's folder layout and maps digits to 0", () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'hash'));
    mkdirSync(join(dir, 'embeddings'));
    writeFileSync(join(dir, 'hash', 'words.lst'), 'padding\nthe\n00\n');
    writeFileSync(join(dir, 'embeddings', 'embeddings.txt'), '0 0\n1 2\n3 4\n');
    const s = loadSenna(dir);
    assert.equal(s.dim, 2);
    assert.equal(s.index.get(s.key('42')), 2);
    assert.equal(s.index.get(s.key('The')), 1);
    assert.equal(sennaKey('1,000.5'), '0,000.0');
    writeFileSync(join(dir, 'embeddings', 'embeddings.txt'), '0 0\n1 2\n');
    assert.throws(() => loadSenna(dir), /2 vectors but .*words\.lst lists 3 words/);
    assert.throws(() => loadSenna(join(dir, 'nope')), /no such folder; data\.senna_dir must name an unpacked SENNA/);
  });
});

describe('chunking vocabulary and constraints', () => {
  const d = chunkingDataSchema.parse({});
  const m = chunkingModelSchema.parse({});
  const train = [
    sent(['The', 'cat', 'sat'], ['DT', 'NN', 'VBD'], ['B-NP', 'I-NP', 'B-VP']),
    sent(['the', 'dog', '.'], ['DT', 'NN', '.'], ['B-NP', 'I-NP', 'O']),
  ];
  const test = [sent(['A', 'zebra'], ['DT', 'NNP'], ['B-NP', 'I-NP'])];

  it('tags put O first and cover the training file; words are vectors seen in the data plus frequent training words plus UNK', () => {
    const emb = {
      source: 'glove' as const,
      dim: 2,
      index: new Map([
        ['zebra', 0],
        ['cat', 1],
        ['unused', 2],
      ]),
      vectors: Float32Array.from([1, 2, 3, 4, 5, 6]),
      path: 'x',
      key: (w: string) => w.toLowerCase(),
    };
    const v = buildVocab(train, [...train, sent(['x'], ['NN'], ['B-ADJP'])], [...train, ...test], emb, d, m, new Rng(0));
    assert.deepEqual(v.tags, ['O', 'B-ADJP', 'B-NP', 'B-VP', 'I-NP'], 'the tag set of the whole training file');
    // 'the' occurs twice in training (min_word_count 2); 'cat' and 'zebra' have vectors; 'unused' is not in the data.
    assert.deepEqual([...v.words.keys()].slice(0, -1), ['cat', 'the', 'zebra']);
    const row = (w: string) => [...v.wordInit.subarray(v.words.get(w)! * 2, v.words.get(w)! * 2 + 2)];
    assert.deepEqual(row('zebra'), [1, 2]);
    assert.deepEqual(row('cat'), [3, 4]);
    assert.equal(v.pos.size, 5, '4 training POS + UNK');
  });

  it('BIO constraints allow I-X only after B-X or I-X', () => {
    const tags = ['O', 'B-NP', 'B-VP', 'I-NP'];
    const a = bioAllowed(tags);
    assert.deepEqual(
      a.map((row) => row[3]),
      [false, true, false, true],
    );
    assert.ok(a.every((row) => row[0] && row[1] && row[2]));
  });

  it('the hold-out is fixed by split_seed, not by the run seed', () => {
    const many = Array.from({ length: 20 }, (_, i) => sent([`w${i}`], ['NN'], ['B-NP']));
    const a = splitChunking(many, test, { ...d, validation_sentences: 5 });
    const b = splitChunking(many, test, { ...d, validation_sentences: 5 });
    assert.deepEqual(a.validation, b.validation);
    assert.equal(a.train.length, 15);
    assert.ok(!a.train.some((s) => a.validation.includes(s)));
    assert.throws(() => splitChunking(many, test, { ...d, validation_sentences: 20 }), /must be smaller than the 20 training sentences/);
  });

  it('senna without a folder is a config error', () => {
    assert.equal(chunkingDataSchema.safeParse({ embeddings: 'senna' }).success, false);
  });
});
