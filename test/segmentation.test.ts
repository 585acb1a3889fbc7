import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PNG } from 'pngjs';
import { loadExperiment } from '../src/config/load.js';
import { allTasks } from '../src/train/tasks/index.js';
import { maskPng, scoreMasks, segmentationDataSchema } from '../src/train/tasks/segmentation.js';
import { close, REAL_DATA, SAMPLE_COUNTS, sps, tempDir } from './helpers.js';

describe('segmentation metrics and masks', () => {
  it('foreground IoU per image (mean) and pooled, and pixel accuracy', () => {
    const gold = [Uint8Array.from([1, 1, 0, 0]), Uint8Array.from([1, 0, 0, 0]), Uint8Array.from([0, 0, 0, 0])];
    const pred = [Uint8Array.from([1, 0, 0, 0]), Uint8Array.from([1, 1, 1, 0]), Uint8Array.from([0, 0, 0, 0])];
    const s = scoreMasks(gold, pred);
    // Image 1: I 1, U 2 → 0.5; image 2: I 1, U 3 → 1/3; image 3: empty union → 1 (nothing to find, nothing found).
    close(s.iouPerImage, (100 * (0.5 + 1 / 3 + 1)) / 3, { atol: 1e-9 }, 'per-image mean');
    close(s.iouPooled, (100 * 2) / 5, { atol: 1e-9 }, 'pooled');
    close(s.pixelAccuracy, (100 * 9) / 12, { atol: 1e-9 }, 'pixel accuracy');
    assert.throws(() => scoreMasks([gold[0]], [Uint8Array.from([1])]), /image 0 has 4 gold pixels but 1 predicted/);
  });

  it('writes masks as 0/255 greyscale PNGs that read back', () => {
    const mask = Uint8Array.from([0, 1, 1, 0, 0, 0, 1, 1, 0]);
    const png = PNG.sync.read(maskPng(mask, 3));
    assert.deepEqual([png.width, png.height], [3, 3]);
    assert.deepEqual(
      Array.from({ length: 9 }, (_, i) => png.data[4 * i]),
      [...mask].map((v) => 255 * v),
    );
  });

  it('the split is by file number and must not overlap', () => {
    assert.deepEqual(segmentationDataSchema.parse({}).train_range, [1, 200]);
    assert.equal(segmentationDataSchema.safeParse({ validation_range: [190, 228] }).success, false);
    assert.equal(segmentationDataSchema.safeParse({ test_range: [300, 200] }).success, false);
  });
});

describe('segmentation config checks', () => {
  it('offline scaling needs the frobenius norm and λ > 1/√2 (positive definiteness), named with file and line', async () => {
    const dir = tempDir();
    const file = join(dir, 'seg.yaml');
    writeFileSync(file, 'name: s\ntask: segmentation\nobjectives: [cross-entropy]\nmodes: [joint, offline]\nseeds: 1\nscaling:\n  norm: rms\n');
    await assert.rejects(loadExperiment(file, await allTasks()), /seg\.yaml:7:9: scaling\.norm: offline scaling of the Gaussian CRF needs the frobenius norm/);
    await assert.rejects(
      loadExperiment(file, await allTasks(), ['scaling.norm=max']),
      /command-line override 'scaling\.norm=max': scaling\.norm: .*with 'max'/,
    );
    await assert.rejects(
      loadExperiment(file, await allTasks(), ['scaling.norm=frobenius', 'model.lambda=0.5']),
      /model\.lambda: offline scaling sets ‖Ŵ‖_F = 1.*model\.lambda \(0\.5\) must be larger/,
    );
    const ok = await loadExperiment(file, await allTasks(), ['scaling.norm=frobenius']);
    assert.equal(ok.blocks[0].experiment.scaling.norm, 'frobenius');
    const noOffline = await loadExperiment(file, await allTasks(), ['modes=[joint, online]']);
    assert.equal(noOffline.blocks[0].experiment.scaling.norm, 'rms', 'without offline scaling any norm is fine');
  });
});

describe(`segmentation end to end (real horses, ${REAL_DATA.kind}, tiny)`, () => {
  it('trains, reports CG iterations, and writes PNG masks that rescore to final.json', () => {
    const data = tempDir();
    const out = tempDir();
    REAL_DATA.prepare(['weizmann-horse'], data);
    const config = join(out, 's.yaml');
    writeFileSync(
      config,
      [
        'name: s',
        'task: segmentation',
        'objectives: [cross-entropy]',
        'modes: [offline]',
        'seeds: 1',
        `data: {source: ${REAL_DATA.source}, train_images: 6, test_images: 4}`,
        'model: {unary_channels: [4, 8], pairwise_channels: [4, 8], embedding_dim: 2}',
        'train: {epochs: 1, batch_size: 4}',
        'scaling: {alpha: 10, norm: frobenius, selection: {size: 4}}',
        '',
      ].join('\n'),
    );
    const r = sps(['run', config, '--out', out, '--backend', 'wasm'], { env: { SPS_DATA_DIR: data } });
    assert.equal(r.code, 0, r.stderr);
    const [folder] = readdirSync(out).filter((f) => f.startsWith('segmentation-'));
    const dir = join(out, folder);
    const final = JSON.parse(readFileSync(join(dir, 'final.json'), 'utf8'));
    assert.equal(final.primary, 'iou');
    assert.ok(final.cg_iterations.training.solves > 0 && final.cg_iterations.training.max >= 1);
    const files = readdirSync(join(dir, 'predictions')).sort();
    assert.equal(files.length, 8);
    const read = (f: string) => {
      const png = PNG.sync.read(readFileSync(join(dir, 'predictions', f)));
      return Uint8Array.from({ length: png.width * png.height }, (_, i) => (png.data[4 * i] > 127 ? 1 : 0));
    };
    const names = files.filter((f) => f.endsWith('-gold.png')).map((f) => f.replace('-gold.png', ''));
    const firstTest = REAL_DATA.kind === 'full' ? 229 : SAMPLE_COUNTS['weizmann-horse'].indices.find((i) => i >= 229)!;
    assert.deepEqual(names[0], `horse${firstTest}`);
    const s = scoreMasks(
      names.map((n) => read(`${n}-gold.png`)),
      names.map((n) => read(`${n}-pred.png`)),
    );
    close(s.iouPerImage, final.metrics.iou, { atol: 1e-9 }, 'IoU rescored from the PNGs');
    close(s.pixelAccuracy, final.metrics.pixel_accuracy, { atol: 1e-9 }, 'pixel accuracy rescored from the PNGs');
  });
});
