// `sps run` and its data: a missing data set is imported (--data-from, $SPS_DATA_FROM) or refused
// (--no-prepare) before any cell starts; a prepared copy edited afterwards is refused; run.json records
// the hashes of what a cell read. The full-data half runs when the shared folder is there (CI).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { REAL_DATA, SHARED_DATASETS, sps, tempDir } from './helpers.js';

const LETTER_DATA_SHA = '535363d0b7bc34246b1f8731719540f526b6807b12dda5d430d011d160bc7882';

function ocrConfig(dir: string): string {
  const file = join(dir, 'ocr.yaml');
  writeFileSync(
    file,
    [
      'name: o',
      'task: ocr',
      'objectives: [ssvm]',
      'modes: [joint]',
      'seeds: 1',
      'data: {train_words: 30, validation_words: 10, test_words: 10}',
      'model: {preset: lenet5}',
      'train: {epochs: 1, batch_size: 16}',
      '',
    ].join('\n'),
  );
  return file;
}

const runFolders = (out: string): string[] => (existsSync(out) ? readdirSync(out).filter((f) => f.startsWith('ocr-')) : []);

describe('sps run prepares its data before the first cell', () => {
  it('--no-prepare with the data missing: exit 1, the prepare commands, and no cell started', () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const r = sps(['run', ocrConfig(dir), '--out', out, '--no-prepare', '--no-table'], { env: { SPS_DATA_DIR: join(dir, 'data') } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /needs dataset "ocr", but it is not prepared .*--no-prepare was given/);
    assert.match(r.stderr, /sps prepare ocr\n/);
    assert.match(r.stderr, /sps prepare ocr --from DIR/);
    assert.deepEqual(runFolders(out), []);
  });

  it('--data-from and $SPS_DATA_FROM: a folder whose copy fails its checksum stops the sweep before any cell, naming both hashes', () => {
    const dir = tempDir();
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'letter.data.gz'), gzipSync('not the OCR data\n'));
    for (const how of [['--data-from', bad], []]) {
      const out = join(dir, `out${how.length}`);
      const env = { SPS_DATA_DIR: join(dir, 'data'), ...(how.length ? {} : { SPS_DATA_FROM: bad }) };
      const r = sps(['run', ocrConfig(dir), '--out', out, ...how, '--no-table'], { env });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`ocr: it is not prepared .*; importing it from ${bad}`));
      assert.match(r.stderr, /preparing it failed, so no cell was started/);
      assert.ok(r.stderr.includes(LETTER_DATA_SHA), r.stderr);
      assert.deepEqual(runFolders(out), []);
      assert.equal(existsSync(join(dir, 'data', 'ocr')), false, 'nothing half-prepared is left');
    }
  });

  // With the full data at hand: the import succeeds, run.json has the hashes, and an edited copy is refused.
  (REAL_DATA.kind === 'full' ? it : () => {})('--data-from the shared folder: prepares, runs, records the input hashes; an edited copy is then refused', () => {
    const dir = tempDir();
    const data = join(dir, 'data');
    const out = join(dir, 'out');
    const config = ocrConfig(dir);
    const r = sps(['run', config, '--out', out, '--data-from', SHARED_DATASETS, '--backend', 'wasm'], { env: { SPS_DATA_DIR: data } });
    assert.equal(r.code, 0, r.stderr);
    const [folder] = runFolders(out);
    const run = JSON.parse(readFileSync(join(out, folder, 'run.json'), 'utf8'));
    assert.equal(run.status, 'done');
    assert.equal(run.inputs.datasets.ocr['letter.data'], LETTER_DATA_SHA);
    assert.match(r.stdout, /ocr\s+│ ssvm/);

    // Invert every pixel, keeping the size.
    const file = join(data, 'ocr', 'letter.data');
    const text = readFileSync(file, 'utf8');
    writeFileSync(
      file,
      text.replace(/\t([01])(?=\t)/g, (_m, p) => `\t${p === '0' ? '1' : '0'}`),
    );
    utimesSync(file, new Date(), new Date(Date.now() + 5_000));
    const again = sps(['run', config, '--out', out, 'train.epochs=2', '--no-table'], { env: { SPS_DATA_DIR: data } });
    assert.equal(again.code, 1, again.stderr);
    assert.match(again.stderr, /dataset "ocr" at .* does not match its checksums: MISMATCH letter\.data/);
    assert.match(again.stderr, /sps prepare ocr --force/);
    assert.equal(runFolders(out).length, 1, 'no new cell started');
  });
});
