// A fourth task added the way a researcher would: one plugin file (test/fixtures/tagger-task.ts)
// with a data set of its own, run end to end through `sps run`.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, sps, tempDir, TOY_PLUGIN } from './helpers.js';

const TAGGER = join(ROOT, 'test/fixtures/tagger-task.ts');

function taggerConfig(dir: string): string {
  const file = join(dir, 'tagger.yaml');
  writeFileSync(
    file,
    [
      'name: tagger-test',
      'task: tagger',
      'objectives: [log-likelihood]',
      'modes: [joint, online]',
      'seeds: 1',
      'train: {epochs: 8, batch_size: 8, lr: 0.1}',
      'backend: cpu',
      '',
    ].join('\n'),
  );
  return file;
}

describe('plugin task with its own data set', () => {
  it('imports its data set with --data-from, trains, and learns the tags the neighbours decide', () => {
    const dir = tempDir();
    const data = join(dir, 'data');
    const out = join(dir, 'out');
    const r = sps(['run', taggerConfig(dir), '--out', out, '--data-from', join(ROOT, 'test/fixtures'), '--no-table'], {
      env: { SPS_PLUGINS: TAGGER, SPS_DATA_DIR: data },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(data, 'toy-tags', 'tags.txt')), 'the plugin data set is prepared in the data folder');
    const runs = readdirSync(out).filter((f) => !f.startsWith('.') && f !== 'sweep.json');
    assert.equal(runs.length, 2);
    for (const run of runs) {
      const final = JSON.parse(readFileSync(join(out, run, 'final.json'), 'utf8')) as { metrics: { accuracy: number } };
      // A word table alone cannot tell the noun/verb words apart (82% of the test tags at best); the CRF's pairwise can.
      assert.ok(final.metrics.accuracy > 90, `${run}: test accuracy ${final.metrics.accuracy}`);
      const record = JSON.parse(readFileSync(join(out, run, 'run.json'), 'utf8')) as {
        status: string;
        inputs?: { datasets?: Record<string, Record<string, string>> };
      };
      assert.equal(record.status, 'done');
      assert.deepEqual(Object.keys(record.inputs?.datasets?.['toy-tags'] ?? {}), ['tags.txt'], 'run.json records the hash of the plugin data set');
    }
  });

  it('names its data set and how to import it when it is missing', () => {
    const dir = tempDir();
    const r = sps(['run', taggerConfig(dir), '--out', join(dir, 'out'), '--no-table'], { env: { SPS_PLUGINS: TAGGER, SPS_DATA_DIR: join(dir, 'data') } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /this run needs dataset "toy-tags", but it is not prepared .* and it has no download address/);
    assert.match(r.stderr, /sps prepare toy-tags --from DIR/);
    // ... and that command knows the plugin's data set, as `sps datasets` does.
    const env = { SPS_PLUGINS: TAGGER, SPS_DATA_DIR: join(dir, 'data') };
    const prepared = sps(['prepare', 'toy-tags', '--from', join(ROOT, 'test/fixtures')], { env });
    assert.equal(prepared.code, 0, prepared.stderr);
    assert.match(sps(['datasets'], { env }).stdout, /toy-tags +prepared \(import\) +ok/);
  });

  it('refuses a plugin data set named like a built-in one', () => {
    const dir = tempDir();
    const plugin = join(dir, 'clash.mjs');
    // The clash is found when the plugin loads, before its schemas are used: a bare object will do.
    writeFileSync(plugin, `export default { name: 'clash', datasetSpecs: [{ name: 'ocr' }], datasets: () => ['ocr'], run: async () => ({}) };\n`);
    const r = sps(['run', taggerConfig(dir), '--dry-run'], { env: { SPS_PLUGINS: `${TOY_PLUGIN}:${plugin}` } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /SPS_PLUGINS: .*clash\.mjs: task 'clash' brings data set "ocr", which sps \(built in\) already defines; give it another name/);
  });
});
