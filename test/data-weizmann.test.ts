import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import jpeg from 'jpeg-js';
import { prepareDataset } from '../src/data/prepare.js';
import { decodeJpeg, horseFromJpegs, loadHorses, resizeArea } from '../src/data/weizmann.js';
import { samplesDir } from '../src/data/samples.js';
import { REAL_DATA, SAMPLE_COUNTS, SHARED_DATASETS, tempDir } from './helpers.js';

/** An RGBA image of w×h whose channel c at (x, y) is f(x, y, c). */
function rgba(w: number, h: number, f: (x: number, y: number, c: number) => number): Uint8Array {
  const out = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 4; c++) out[(y * w + x) * 4 + c] = c === 3 ? 255 : f(x, y, c);
  return out;
}

describe('Weizmann horses: decoding and resizing', () => {
  it('area resize averages whole blocks, and weights partial pixels by their covered area', () => {
    const img = rgba(4, 4, (x, y) => 10 * (y * 4 + x));
    assert.deepEqual([...resizeArea(img, 4, 4, 2, 1)], [25, 45, 105, 125]);
    // 3 → 2: output pixel 0 covers x in [0, 1.5): pixel 0 whole, pixel 1 half.
    const row = rgba(3, 3, (x) => [0, 90, 180][x]);
    const r = resizeArea(row, 3, 3, 2, 1);
    assert.ok(Math.abs(r[0] - (0 + 0.5 * 90) / 1.5) < 1e-4 && Math.abs(r[1] - (0.5 * 90 + 180) / 1.5) < 1e-4, String([...r]));
    assert.deepEqual(
      [
        ...resizeArea(
          rgba(2, 2, (_x, _y, c) => 7 * (c + 1)),
          2,
          2,
          1,
          3,
        ),
      ],
      [7, 14, 21],
      'channels kept apart',
    );
  });

  it('pairs a JPEG image with its mask: RGB in [0, 1], mask thresholded at 128 after resizing', () => {
    const w = 40;
    const h = 20;
    const image = jpeg.encode({ width: w, height: h, data: rgba(w, h, (x, _y, c) => (c === 0 ? 200 : x < 20 ? 0 : 255)) }, 95).data;
    const mask = jpeg.encode({ width: w / 2, height: h / 2, data: rgba(w / 2, h / 2, (x) => (x < 10 ? 0 : 255)) }, 95).data;
    const horse = horseFromJpegs(7, image, mask, 4, { rgb: 'a.jpg', mask: 'b.jpg' });
    assert.equal(horse.name, 'horse007');
    assert.equal(horse.image.length, 4 * 4 * 3);
    assert.ok(horse.image.every((v) => v >= 0 && v <= 1));
    assert.ok(Math.abs(horse.image[0] - 200 / 255) < 0.03, `red ${horse.image[0]}`);
    assert.deepEqual([...horse.mask], [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1]);
    const tall = jpeg.encode({ width: 10, height: 40, data: rgba(10, 40, () => 0) }, 90).data;
    assert.throws(
      () => horseFromJpegs(1, image, tall, 4, { rgb: 'a.jpg', mask: 'b.jpg' }),
      /a\.jpg \(40×20\) and b\.jpg \(10×40\) have different aspect ratios/,
    );
    assert.throws(() => decodeJpeg(Uint8Array.from([1, 2, 3]), 'x.jpg'), /x\.jpg: not a readable JPEG/);
  });

  it('says how to prepare missing data', () => {
    assert.throws(() => loadHorses(tempDir(), 32), /not prepared; run `sps prepare weizmann-horse`/);
  });

  const indices = REAL_DATA.kind === 'full' ? Array.from({ length: 328 }, (_, k) => k + 1) : SAMPLE_COUNTS['weizmann-horse'].indices;
  it(`reads the real data (${REAL_DATA.kind}): ${indices.length} horses with plausible masks`, async () => {
    let dataDir = samplesDir();
    if (REAL_DATA.kind === 'full') {
      dataDir = tempDir();
      await prepareDataset('weizmann-horse', { dataDir, from: SHARED_DATASETS, log: () => {} });
    }
    const horses = loadHorses(dataDir, 32, { complete: REAL_DATA.kind === 'full' });
    assert.deepEqual(
      horses.map((h) => h.index),
      indices,
    );
    const fg = horses.map((h) => h.mask.reduce((a, b) => a + b, 0) / h.mask.length);
    const mean = fg.reduce((a, b) => a + b, 0) / fg.length;
    assert.ok(mean > 0.2 && mean < 0.5, `mean foreground fraction ${mean}`);
    assert.ok(
      fg.every((f) => f > 0.02 && f < 0.9),
      'every mask has a horse and a background',
    );
  });
});
