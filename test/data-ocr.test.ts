import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadOcr, parseOcr } from '../src/data/ocr.js';
import { prepareDataset } from '../src/data/prepare.js';
import { samplesDir } from '../src/data/samples.js';
import { REAL_DATA, SAMPLE_COUNTS, SHARED_DATASETS, tempDir } from './helpers.js';

/** One letter.data line, in the file's layout (trailing tab included). */
function line(id: number, letter: string, next: number, word: number, pos: number, fold: number, on: number[] = []): string {
  const px = Array.from({ length: 128 }, (_, i) => (on.includes(i) ? 1 : 0));
  return [id, letter, next, word, pos, fold, ...px].join('\t') + '\t';
}

const GOOD = [line(1, 'o', 2, 1, 1, 0, [0, 127]), line(2, 'm', 3, 1, 2, 0), line(3, 'm', -1, 1, 3, 0, [8]), line(4, 'a', -1, 2, 1, 3)].join('\n') + '\n';

describe('OCR letter.data parser', () => {
  it('parses words, labels, folds and row-major pixels', () => {
    const words = parseOcr(GOOD);
    assert.equal(words.length, 2);
    assert.deepEqual(words[0].labels, [14, 12, 12]);
    assert.equal(words[0].fold, 0);
    assert.equal(words[1].fold, 3);
    assert.equal(words[0].pixels.length, 3 * 128);
    assert.equal(words[0].pixels[0], 1);
    assert.equal(words[0].pixels[127], 1);
    assert.equal(words[0].pixels[2 * 128 + 8], 1, 'pixel p_1_0 (row 1, column 0) of the third letter');
    assert.equal(
      words[0].pixels.reduce((a, b) => a + b, 0),
      3,
    );
  });

  it('names the line of a malformed entry', () => {
    const bad = (lines: string[], re: RegExp) => assert.throws(() => parseOcr(lines.join('\n'), 'letter.data'), re);
    bad([line(1, 'o', -1, 1, 1, 0).replace(/\t0\t$/, '\t')], /letter\.data:1: expected 134 tab-separated fields/);
    bad([line(1, 'o', 2, 1, 1, 0), line(2, 'M', -1, 1, 2, 0)], /letter\.data:2: letter 'M' is not one of a–z/);
    bad([line(1, 'o', -1, 1, 1, 0).replace(/^1\to\t-1\t1\t1\t0\t0/, '1\to\t-1\t1\t1\t0\t2')], /letter\.data:1: pixel 1 is '2'/);
    bad([line(1, 'o', 2, 1, 1, 0), line(5, 'm', -1, 1, 2, 0)], /letter\.data:2: letter 5 does not continue word 1/);
    bad([line(1, 'o', 2, 1, 1, 0), line(2, 'm', -1, 1, 2, 4)], /letter\.data:2: .*fold 4/);
    bad([line(1, 'o', 2, 1, 1, 11)], /fold 11 is outside 0–9/);
    bad([line(1, 'o', 2, 1, 1, 0)], /ends inside word 1 .*truncated/);
    bad(['x\ty'], /letter\.data:1: expected 134/);
    bad([''], /no letters found/);
  });

  it('loadOcr says how to prepare missing data', () => {
    assert.throws(() => loadOcr(tempDir()), /cannot read the OCR data .*sps prepare ocr --from DIR/);
  });

  // The full data set's published counts when it is at hand, the sample's own counts otherwise.
  const expected =
    REAL_DATA.kind === 'full'
      ? { words: 6877, letters: 52152, perFold: [626, 704, 684, 698, 693, 651, 739, 717, 690, 675] }
      : { words: SAMPLE_COUNTS.ocr.words, letters: SAMPLE_COUNTS.ocr.letters, perFold: SAMPLE_COUNTS.ocr.words_per_fold };
  it(`reads the real data (${REAL_DATA.kind}): ${expected.words} words, ${expected.letters} letters, the known fold sizes`, async () => {
    let dataDir = samplesDir();
    if (REAL_DATA.kind === 'full') {
      dataDir = tempDir();
      await prepareDataset('ocr', { dataDir, from: SHARED_DATASETS, log: () => {} });
    }
    const words = loadOcr(dataDir);
    assert.equal(words.length, expected.words);
    assert.equal(
      words.reduce((n, w) => n + w.labels.length, 0),
      expected.letters,
    );
    const perFold = Array(10).fill(0);
    for (const w of words) perFold[w.fold]++;
    assert.deepEqual(perFold, expected.perFold);
    const lengths = words.map((w) => w.labels.length);
    assert.ok(Math.min(...lengths) >= 3 && Math.max(...lengths) <= 14, 'words of 3 to 14 letters, as in the full data set');
  });
});
