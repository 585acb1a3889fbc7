import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConll, parseConll } from '../src/data/conll2000.js';
import { prepareDataset } from '../src/data/prepare.js';
import { conlleval, parseConllevalInput } from '../src/results/conlleval.js';
import { samplesDir } from '../src/data/samples.js';
import { close, REAL_DATA, ROOT, SAMPLE_COUNTS, SHARED_DATASETS, tempDir } from './helpers.js';

describe('conlleval scorer', () => {
  const one = (gold: string[], guess: string[]) => conlleval([gold], [guess]);

  it('perfect tagging scores 100', () => {
    const s = one(['B-NP', 'I-NP', 'O', 'B-VP'], ['B-NP', 'I-NP', 'O', 'B-VP']);
    assert.deepEqual([s.goldChunks, s.guessedChunks, s.correctChunks], [2, 2, 2]);
    assert.deepEqual([s.precision, s.recall, s.f1, s.accuracy], [100, 100, 100, 100]);
  });

  it('I- after O starts a chunk, and matches a B- chunk with the same extent (tags differ)', () => {
    const s = one(['O', 'I-NP', 'I-NP'], ['O', 'B-NP', 'I-NP']);
    assert.deepEqual([s.goldChunks, s.guessedChunks, s.correctChunks], [1, 1, 1]);
    close(s.accuracy, 200 / 3, { atol: 1e-9 }, 'token accuracy counts the tag strings');
  });

  it('I- after another type starts a chunk of its own type', () => {
    const s = one(['B-NP', 'I-VP'], ['B-NP', 'B-VP']);
    assert.deepEqual([s.goldChunks, s.guessedChunks, s.correctChunks], [2, 2, 2]);
    assert.deepEqual(s.byType.VP, { precision: 100, recall: 100, f1: 100, gold: 1, guessed: 1, correct: 1 });
  });

  it('a chunk is correct only when both boundaries and the type match', () => {
    let s = one(['B-NP', 'I-NP'], ['B-NP', 'B-NP']); // split
    assert.deepEqual([s.goldChunks, s.guessedChunks, s.correctChunks, s.f1], [1, 2, 0, 0]);
    s = one(['B-NP', 'O'], ['B-NP', 'I-NP']); // too long
    assert.deepEqual([s.correctChunks, s.f1], [0, 0]);
    s = one(['B-NP', 'I-NP'], ['B-VP', 'I-VP']); // wrong type
    assert.deepEqual([s.correctChunks, s.f1], [0, 0]);
    s = one(['O', 'B-NP', 'I-NP', 'O'], ['B-NP', 'I-NP', 'I-NP', 'O']); // starts early
    assert.deepEqual([s.correctChunks, s.f1], [0, 0]);
  });

  it('a sentence boundary ends a chunk; the next sentence starting with I- opens a new one', () => {
    const s = conlleval([['B-NP'], ['I-NP']], [['B-NP'], ['I-NP']]);
    assert.deepEqual([s.goldChunks, s.guessedChunks, s.correctChunks], [2, 2, 2]);
    const t = conlleval([['B-NP'], ['I-NP']], [['B-NP'], ['O']]);
    assert.deepEqual([t.goldChunks, t.guessedChunks, t.correctChunks], [2, 1, 1]);
    close(t.precision, 100, { atol: 1e-9 }, 'precision');
    close(t.recall, 50, { atol: 1e-9 }, 'recall');
  });

  it('no guessed chunks: precision, recall and F1 are 0', () => {
    const s = one(['B-NP'], ['O']);
    assert.deepEqual([s.precision, s.recall, s.f1], [0, 0, 0]);
  });

  it('a chunk that runs to the end of the data is counted', () => {
    const s = one(['B-NP', 'I-NP'], ['B-NP', 'I-NP']);
    assert.equal(s.correctChunks, 1);
  });

  it('scores a conlleval input file with hand-computed figures', () => {
    const { gold, guessed } = parseConllevalInput(readFileSync(join(ROOT, 'test/fixtures/conlleval-sample.txt'), 'utf8'), 'sample');
    const s = conlleval(gold, guessed);
    // By hand (see the file): gold chunks NP×4, PP, VP×2; guessed NP×5, PP, VP×3; correct NP×3, PP, VP×1.
    assert.deepEqual([s.tokens, s.goldChunks, s.guessedChunks, s.correctChunks], [15, 7, 9, 5]);
    close(s.accuracy, 80, { atol: 1e-9 }, 'accuracy 12/15');
    close(s.precision, 500 / 9, { atol: 1e-9 }, 'precision 5/9');
    close(s.recall, 500 / 7, { atol: 1e-9 }, 'recall 5/7');
    close(s.f1, 62.5, { atol: 1e-9 }, 'F1');
    close(s.byType.NP.f1, 200 / 3, { atol: 1e-9 }, 'NP F1 (P 60, R 75)');
    close(s.byType.PP.f1, 100, { atol: 1e-9 }, 'PP F1');
    close(s.byType.VP.f1, 40, { atol: 1e-9 }, 'VP F1 (P 1/3, R 1/2)');
  });

  it('rejects mismatched shapes and short lines', () => {
    assert.throws(() => conlleval([['O']], []), /1 gold sentences but 0 guessed/);
    assert.throws(() => conlleval([['O', 'O']], [['O']]), /sentence 0 has 2 gold tags but 1 guessed/);
    assert.throws(() => parseConllevalInput('a B-NP\n', 'f.conll'), /f\.conll:1: expected at least 3 fields/);
  });
});

describe('CoNLL-2000 parser', () => {
  it('parses sentences separated by blank lines', () => {
    const ss = parseConll('He PRP B-NP\nran VBD B-VP\n\n\nOK UH O\n', 'x.txt');
    assert.equal(ss.length, 2);
    assert.deepEqual(ss[0], { words: ['He', 'ran'], pos: ['PRP', 'VBD'], chunks: ['B-NP', 'B-VP'] });
  });

  it('names the file and line of a malformed line', () => {
    assert.throws(() => parseConll('He PRP B-NP\nran VBD\n', 'train.txt'), /train\.txt:2: expected 3 fields/);
    assert.throws(() => parseConll('He PRP  B-NP\n', 'train.txt'), /train\.txt:1: expected 3 fields/);
    assert.throws(() => parseConll('He PRP X-NP\n', 'train.txt'), /train\.txt:1: chunk tag 'X-NP'/);
    assert.throws(() => parseConll('\n\n', 'train.txt'), /train\.txt: no sentences/);
  });

  it('loadConll says how to prepare missing data', () => {
    assert.throws(() => loadConll(tempDir(), 'train'), /cannot read the CoNLL-2000 train data .*sps prepare conll2000/);
  });

  // The published counts of the full files when they are at hand, the sample's own counts otherwise.
  const c = SAMPLE_COUNTS.conll2000;
  const expected =
    REAL_DATA.kind === 'full'
      ? { sentences: [8936, 2012], tokens: [211727, 47377] }
      : { sentences: [c.train_sentences, c.test_sentences], tokens: [c.train_tokens, c.test_tokens] };
  it(`reads the real files (${REAL_DATA.kind}): ${expected.sentences.join(' / ')} sentences, ${expected.tokens.join(' / ')} tokens`, async () => {
    let dataDir = samplesDir();
    if (REAL_DATA.kind === 'full') {
      dataDir = tempDir();
      await prepareDataset('conll2000', { dataDir, from: SHARED_DATASETS, log: () => {} });
    }
    const train = loadConll(dataDir, 'train');
    const test = loadConll(dataDir, 'test');
    assert.deepEqual([train.length, test.length], expected.sentences);
    const tokens = (ss: typeof train) => ss.reduce((n, s) => n + s.words.length, 0);
    assert.deepEqual([tokens(train), tokens(test)], expected.tokens);
    if (REAL_DATA.kind === 'full') {
      assert.equal(new Set(train.flatMap((s) => s.chunks)).size, 22);
    }
    // Gold against itself through the scorer: every chunk found.
    const s = conlleval(
      test.map((x) => x.chunks),
      test.map((x) => x.chunks),
    );
    assert.equal(s.f1, 100);
    if (REAL_DATA.kind === 'full') assert.equal(s.goldChunks, 23852, 'the number of chunks conlleval reports for the test file');
  });
});
