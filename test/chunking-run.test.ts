import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { conlleval, parseConllevalInput } from '../src/results/conlleval.js';
import { REAL_DATA, sps, tempDir } from './helpers.js';

describe(`chunking end to end (real CoNLL-2000, ${REAL_DATA.kind}, tiny)`, () => {
  it('trains, records the word vectors, and writes predictions that rescore to final.json', () => {
    const data = tempDir();
    const out = tempDir();
    REAL_DATA.prepare(['conll2000', 'word-embeddings'], data);
    const config = join(out, 'c.yaml');
    writeFileSync(
      config,
      [
        'name: c',
        'task: chunking',
        'objectives: [ssvm]',
        'modes: [joint]',
        'seeds: 1',
        `data: {source: ${REAL_DATA.source}, train_sentences: 40, validation_sentences: 20, test_sentences: 30}`,
        'model: {char_hidden: 8}',
        'train: {epochs: 1, batch_size: 16}',
        'scaling: {selection: {size: 20}}',
        '',
      ].join('\n'),
    );
    const r = sps(['run', config, '--out', out, '--backend', 'wasm'], { env: { SPS_DATA_DIR: data } });
    assert.equal(r.code, 0, r.stderr);
    const [folder] = readdirSync(out).filter((f) => f.startsWith('chunking-'));
    const dir = join(out, folder);
    const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
    assert.equal(run.status, 'done');
    assert.equal(run.inputs.embeddings.source, 'glove');
    assert.ok(run.inputs.embeddings.coverage_test > 80 && run.inputs.embeddings.coverage_test < 95, `coverage ${run.inputs.embeddings.coverage_test}`);
    const final = JSON.parse(readFileSync(join(dir, 'final.json'), 'utf8'));
    assert.equal(final.primary, 'f1');
    const text = readFileSync(join(dir, 'predictions.conll'), 'utf8');
    const { gold, guessed } = parseConllevalInput(text, 'predictions.conll');
    assert.equal(gold.length, 30);
    assert.equal(text.split('\n')[0].split(' ').length, 4, 'word POS gold predicted');
    const s = conlleval(gold, guessed);
    assert.equal(s.f1, final.metrics.f1);
    assert.equal(s.tokens, final.test_tokens);
    assert.equal(final.predictions_sha256, createHash('sha256').update(text).digest('hex'), 'final.json names the predictions it scored');
  });
});
