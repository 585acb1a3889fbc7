/**
 * The POS task (src/tasks/pos/, docs/pos-reproduction.md): it imports only the public task API, it
 * refuses bad CoNLL-2000 files at the line at fault, it runs a cell on the embedded sample and writes
 * its predictions and per-tag confusion, and the chunker without a POS input is a real network.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { loadConll } from '../src/task.js';
import { checkPosTag, confusion, confusionTsv } from '../src/tasks/pos/run.js';
import { PTB_TAGS } from '../src/tasks/pos/def.js';
import { Rng } from '../src/util/rng.js';
import { ROOT, sps, tempDir } from './helpers.js';

// eslint.config.js is plain JavaScript: imported by a path in a variable so tsc does not look for its types.
const ESLINT_CONFIG = '../eslint.config.js';
const { LAYERS } = (await import(ESLINT_CONFIG)) as { LAYERS: Record<string, string[]> };
const TASK_DIR = join(ROOT, 'src/tasks');
/** The public entries as a module of src/tasks/<task>/ names them: `sps/task` and `sps/task/train`. */
const PUBLIC = new Set(['src/task.ts', 'src/task-train.ts']);

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourcesUnder(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** A CoNLL-2000 data folder holding `train` and `test` as conll2000/{train,test}.txt. */
function conllDir(train: string, test = 'He PRP B-NP\nran VBD B-VP\n'): string {
  const dir = tempDir('sps-pos-');
  mkdirSync(join(dir, 'conll2000'));
  writeFileSync(join(dir, 'conll2000', 'train.txt'), train);
  writeFileSync(join(dir, 'conll2000', 'test.txt'), test);
  return dir;
}

describe('the pos task uses the public task API only', () => {
  it('every module of src/tasks/ imports node built-ins, its own folder, `sps/task` and `sps/task/train`, nothing else of sps', () => {
    const files = sourcesUnder(TASK_DIR);
    assert.ok(files.some((f) => f.endsWith('pos/run.ts')));
    for (const file of files) {
      const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
      for (const { fileName: spec } of importedFiles) {
        if (spec.startsWith('node:')) continue;
        assert.ok(spec.startsWith('.'), `${relative(ROOT, file)} imports the package '${spec}': take tfjs from ctx.tf and zod from sps/task`);
        const target = relative(ROOT, join(file, '..', spec)).replace(/\.js$/, '.ts');
        const ownFolder = relative(join(file, '..'), join(ROOT, target)).split('/').length === 1;
        assert.ok(ownFolder || PUBLIC.has(target), `${relative(ROOT, file)} imports ${target}, which is not sps/task or sps/task/train`);
      }
    }
  });

  it('the lint layer table gives src/tasks/ no folder of src/ (only the public entries in src/ itself)', () => {
    assert.deepEqual(LAYERS.tasks, []);
  });
});

describe('pos data: CoNLL-2000 read with the Penn Treebank tag set', () => {
  it('reads the embedded sample: every POS tag of it is one of the 45', () => {
    const train = loadConll(join(ROOT, 'samples'), 'train', checkPosTag);
    assert.equal(train.length, 250);
    assert.equal(PTB_TAGS.length, 45);
    assert.equal(new Set(PTB_TAGS).size, 45);
  });

  it('a line without its POS column is an error naming the file and line', () => {
    const dir = conllDir('He PRP B-NP\nran B-VP\n');
    assert.throws(
      () => loadConll(dir, 'train', checkPosTag),
      (e: Error) => {
        assert.equal(e.name, 'SpsError');
        assert.match(e.message, new RegExp(`^${join(dir, 'conll2000', 'train.txt')}:2: expected 3 fields 'word POS chunk-tag'`));
        return true;
      },
    );
  });

  it('a tag outside the Penn Treebank set is an error at its line, in the test file too, naming the tag', () => {
    const train = conllDir('He PRP B-NP\nran VBD B-VP\n\nOK XX O\n');
    assert.throws(() => loadConll(train, 'train', checkPosTag), /train\.txt:4: POS tag 'XX' is not one of the 45 Penn Treebank tags \(CC CD /);
    const test = conllDir('He PRP B-NP\n', 'He PRP B-NP\nran VBD B-VP\nfast B-ADVP B-ADVP\n');
    assert.throws(() => loadConll(test, 'test', checkPosTag), /test\.txt:3: POS tag 'B-ADVP' is not one of .*is the POS column the second\?/);
  });

  it('errors about a gzipped file name the .gz that was read', () => {
    const dir = tempDir('sps-pos-');
    cpSync(join(ROOT, 'samples', 'conll2000'), join(dir, 'conll2000'), { recursive: true });
    assert.throws(
      () => loadConll(dir, 'train', ({ word }) => (word === 'Confidence' ? 'refused for the test' : undefined)),
      (e: Error) => e.message === `${join(dir, 'conll2000', 'train.txt.gz')}:1: refused for the test`,
    );
  });
});

describe('pos metrics', () => {
  it('the confusion counts gold against predicted tags; its table has a header and a row per tag', () => {
    const m = confusion(
      [
        [0, 1, 1],
        [2, 2],
      ],
      [
        [0, 2, 1],
        [2, 0],
      ],
      3,
    );
    assert.deepEqual(m, [
      [1, 0, 0],
      [0, 1, 1],
      [1, 0, 1],
    ]);
    assert.equal(confusionTsv(m, ['A', 'B', 'C']), 'gold\\predicted\tA\tB\tC\nA\t1\t0\t0\nB\t0\t1\t1\nC\t1\t0\t1\n');
  });
});

describe('the chunker without a POS input (the pos task unary)', () => {
  it('has no POS embedding, reads no POS ids, and gives [B, T, K] scores', async () => {
    const { createChunker } = await import('../src/task-train.js');
    const tf = await import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
    const net = createChunker({ charVocab: 5, wordVocab: 7, posVocab: 0, posDim: 0, tags: 4, charHidden: 3, charEmbedding: 2, wordDim: 6 }, new Rng(1));
    try {
      assert.ok(!Object.keys(net.variables).some((k) => k.startsWith('pos/')), Object.keys(net.variables).join(', '));
      assert.deepEqual(net.variables['out/w'].shape, [2 * 3 + 6, 4]);
      const scores = net.apply({ words: [[1, 2, 3], [4]], chars: [[[0, 1], [2], [3, 4]], [[1]]], lengths: [3, 1] });
      assert.deepEqual(scores.shape, [2, 3, 4]);
      scores.dispose();
      const withPos = createChunker({ charVocab: 5, wordVocab: 7, posVocab: 3, posDim: 2, tags: 4 }, new Rng(1));
      assert.throws(() => withPos.apply({ words: [[1]], chars: [[[0]]], lengths: [1] }), /POS id NaN outside \[0, 3\)/);
      withPos.dispose();
    } finally {
      net.dispose();
    }
  });
});

describe('a pos cell on the embedded sample', () => {
  it('trains, scores token accuracy and writes predictions and the confusion beside them', () => {
    const dir = tempDir('sps-pos-run-');
    const config = join(dir, 'pos.yaml');
    writeFileSync(
      config,
      [
        'name: pos-sample',
        'task: pos',
        'objectives: [log-likelihood]',
        'modes: [joint]',
        'seeds: 1',
        'data: {source: sample, train_sentences: 40, validation_sentences: 20, test_sentences: 30}',
        'model: {char_hidden: 4, char_embedding: 4}',
        'train: {epochs: 1, batch_size: 16}',
        '',
      ].join('\n'),
    );
    const r = sps(['run', config, '--out', join(dir, 'out'), '--jobs', '1'], { env: { SPS_DATA_DIR: join(dir, 'no-data') } });
    assert.equal(r.code, 0, r.stderr);
    const [run] = readdirSync(join(dir, 'out'));
    const at = (f: string): string => readFileSync(join(dir, 'out', run, f), 'utf8');
    const final = JSON.parse(at('final.json')) as { primary: string; metrics: { accuracy: number }; test_sentences: number; test_tokens: number };
    assert.equal(final.primary, 'accuracy');
    assert.equal(final.test_sentences, 30);
    assert.ok(final.metrics.accuracy >= 0 && final.metrics.accuracy <= 100);
    const predictions = at('predictions.conll')
      .split('\n')
      .filter((l) => l !== '');
    assert.equal(predictions.length, final.test_tokens);
    const right = predictions.filter((l) => {
      const [, gold, guess] = l.split(' ');
      return gold === guess;
    }).length;
    assert.ok(Math.abs((100 * right) / final.test_tokens - final.metrics.accuracy) < 1e-9, 'the accuracy is that of the predictions file');
    const rows = at('confusion.tsv').trim().split('\n');
    assert.equal(rows.length, 46);
    assert.deepEqual(rows[0].split('\t').slice(1), [...PTB_TAGS]);
    const counts = rows.slice(1).map((row) => row.split('\t').slice(1).map(Number));
    assert.equal(
      counts.flat().reduce((a, b) => a + b, 0),
      final.test_tokens,
    );
    assert.equal(
      counts.reduce((n, row, i) => n + row[i], 0),
      right,
      'the diagonal is the right tokens',
    );
  });
});
