// The embedded samples (samples/README.md): their checksums and provenance, their size, and that the
// ordinary loaders read them with the counts scripts/make-samples.ts recorded.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseSha256List } from '../src/data/checksum.js';
import { loadConll } from '../src/data/conll2000.js';
import { loadGlove } from '../src/data/embeddings.js';
import { loadOcr } from '../src/data/ocr.js';
import { dataRoot, dataSourceSchema, samplesDir } from '../src/data/samples.js';
import { loadHorses } from '../src/data/weizmann.js';
import { SAMPLE_COUNTS, tempDir } from './helpers.js';

const dir = samplesDir();
const sums = parseSha256List(readFileSync(join(dir, 'SHA256SUMS'), 'utf8'), 'SHA256SUMS');

describe('embedded samples', () => {
  it("every file matches SHA256SUMS, and its folder's PROVENANCE.md gives the same checksum", () => {
    assert.ok(sums.size >= 30, `${sums.size} files listed`);
    for (const [rel, want] of sums) {
      assert.equal(
        createHash('sha256')
          .update(readFileSync(join(dir, rel)))
          .digest('hex'),
        want,
        rel,
      );
      const provenance = readFileSync(join(dir, rel.split('/')[0], 'PROVENANCE.md'), 'utf8');
      assert.ok(provenance.includes(want), `${rel}: its checksum is in ${rel.split('/')[0]}/PROVENANCE.md`);
    }
  });

  it('stays under 1.5 MB in all', () => {
    const total = [...sums.keys()].reduce((n, rel) => n + statSync(join(dir, rel)).size, 0);
    assert.ok(total < 1.5e6, `${total} bytes`);
  });

  it("reads through the full data's loaders with the recorded counts", () => {
    const ocr = loadOcr(dir);
    assert.equal(ocr.length, SAMPLE_COUNTS.ocr.words);
    assert.equal(
      ocr.reduce((n, w) => n + w.labels.length, 0),
      SAMPLE_COUNTS.ocr.letters,
    );
    const train = loadConll(dir, 'train');
    const test = loadConll(dir, 'test');
    assert.deepEqual([train.length, test.length], [SAMPLE_COUNTS.conll2000.train_sentences, SAMPLE_COUNTS.conll2000.test_sentences]);
    const glove = loadGlove(dir);
    assert.equal(glove.index.size, SAMPLE_COUNTS['word-embeddings'].words);
    assert.equal(glove.dim, 100);
    // Every vector belongs to a word of the sample's sentences.
    const vocabulary = new Set([...train, ...test].flatMap((s) => s.words.map((w) => w.toLowerCase())));
    assert.equal(vocabulary.size, SAMPLE_COUNTS['word-embeddings'].vocabulary);
    assert.ok([...glove.index.keys()].every((w) => vocabulary.has(w)));
    const horses = loadHorses(dir, 16, { complete: false });
    assert.deepEqual(
      horses.map((h) => h.index),
      SAMPLE_COUNTS['weizmann-horse'].indices,
    );
  });

  it('a full Weizmann copy with horses missing is an error, not a smaller data set', () => {
    const copy = tempDir();
    cpSync(join(dir, 'weizmann-horse'), join(copy, 'weizmann-horse'), { recursive: true });
    assert.throws(() => loadHorses(copy, 16), /horse001\.jpg: cannot read .*sps prepare weizmann-horse --from DIR/);
    rmSync(join(copy, 'weizmann-horse', 'weizmann_horse_db', 'rgb'), { recursive: true });
    assert.throws(() => loadHorses(copy, 16, { complete: false }), /no horseNNN\.jpg images found/);
  });

  it('data.source: sample reads the samples; full (or absent) stays out of the config, so run ids do not move', () => {
    assert.equal(dataSourceSchema.parse('sample'), 'sample');
    assert.equal(dataSourceSchema.parse('full'), undefined);
    assert.equal(dataSourceSchema.parse(undefined), undefined);
    assert.throws(() => dataSourceSchema.parse('mini'));
    assert.equal(dataRoot('sample', '/data'), dir);
    assert.equal(dataRoot(undefined, '/data'), '/data');
  });
});
