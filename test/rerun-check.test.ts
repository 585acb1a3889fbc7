/**
 * scripts/rerun-check.sh, which reruns a committed run's cell and compares it file by file: an
 * untouched run is identical, an altered metric or a missing artifact is reported, and a folder that
 * is not a finished run is refused.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { placelessFinal, sameArtifact } from '../scripts/rerun-compare.js';
import { needs, script, sps, tempDir, TINY_TOY } from './helpers.js';

const dir = tempDir('sps-rerun-check-');
let run: string;

function check(runDir: string) {
  return script('rerun-check.sh', ['test/fixtures/toy.yaml', runDir, ...TINY_TOY]);
}

describe('scripts/rerun-check.sh', () => {
  before(() => {
    const r = sps(['run', 'test/fixtures/toy.yaml', ...TINY_TOY, 'seeds=[1]', '--out', join(dir, 'committed'), '--no-table']);
    assert.equal(r.code, 0, r.stderr);
    const name = readdirSync(join(dir, 'committed')).find((n) => n.startsWith('toy-ssvm-joint-seed1-'));
    assert.ok(name, 'the toy run folder');
    run = join(dir, 'committed', name);
  });

  it('finds a rerun of an untouched run identical', () => {
    const r = check(run);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^same {4}final\.json$/m);
    assert.match(r.stdout, /^same {4}metrics\.jsonl$/m);
    assert.match(r.stdout, /^identical$/m);
  });

  it('reports a changed metric and an artifact the rerun does not write', () => {
    const final = join(run, 'final.json');
    const original = readFileSync(final, 'utf8');
    const parsed = JSON.parse(original) as { metrics: Record<string, number> };
    const key = Object.keys(parsed.metrics)[0]!;
    parsed.metrics[key]! += 1e-9;
    writeFileSync(final, JSON.stringify(parsed, null, 2) + '\n');
    writeFileSync(join(run, 'extra.txt'), 'not from the run\n');
    try {
      const r = check(run);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^DIFFERS final\.json$/m);
      assert.match(r.stdout, /^DIFFERS extra\.txt \(not written by the rerun\)$/m);
      assert.match(r.stdout, /^2 file\(s\) differ$/m);
    } finally {
      writeFileSync(final, original);
      rmSync(join(run, 'extra.txt'));
    }
  });

  it('fails when the rerun ran on another back end than the committed run', () => {
    const runJson = join(run, 'run.json');
    const original = readFileSync(runJson, 'utf8');
    const parsed = JSON.parse(original) as { backend: { name: string } };
    assert.equal(parsed.backend.name, 'cpu');
    parsed.backend.name = 'wasm';
    writeFileSync(runJson, JSON.stringify(parsed));
    try {
      const r = check(run);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /the rerun ran on back end cpu, the committed run on wasm/);
    } finally {
      writeFileSync(runJson, original);
    }
  });

  it(
    "finds a run recorded on blas (the native back end's former name) identical when rerun on native",
    needs('native', 'test/rerun-check.test.ts (native):'),
    () => {
      const out = join(dir, 'old');
      const r = sps(['run', 'test/fixtures/toy.yaml', ...TINY_TOY, 'seeds=[2]', '--out', out, '--backend', 'blas', '--no-table']);
      assert.equal(r.code, 0, r.stderr);
      const old = join(
        out,
        readdirSync(out).find((n) => n.startsWith('toy-ssvm-joint-seed2-'))!,
      );
      // As the runs made before the rename record it.
      const runJson = join(old, 'run.json');
      const parsed = JSON.parse(readFileSync(runJson, 'utf8')) as { backend: { name: string } };
      assert.equal(parsed.backend.name, 'native');
      parsed.backend.name = 'blas';
      writeFileSync(runJson, JSON.stringify(parsed));
      const c = check(old);
      assert.equal(c.code, 0, c.stdout + c.stderr);
      assert.match(c.stdout, /back end blas: blas\)/);
      assert.match(c.stdout, /^same {4}config\.json$/m);
      assert.match(c.stdout, /^identical$/m);
    },
  );

  it('refuses a folder that is not a finished run, naming the missing file', () => {
    const r = check(dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /run\.json does not exist: give a finished run folder/);
  });
});

describe('scripts/rerun-compare.ts: what counts as the same file', () => {
  const final = (path: string, f1 = 89.4) =>
    Buffer.from(JSON.stringify({ primary: 'f1', metrics: { f1 }, embeddings: { source: 'glove', path, dim: 100 } }, null, 2) + '\n');

  it("compares final.json's word-vector path by file name, and everything else byte for byte", () => {
    const here = final('/work/main/datasets/word-embeddings/glove.6B.100d.conll2000.txt');
    assert.ok(sameArtifact('final.json', here, final('/tmp/clone/datasets/word-embeddings/glove.6B.100d.conll2000.txt')));
    assert.ok(!sameArtifact('final.json', here, final('/tmp/clone/datasets/word-embeddings/other-vectors.txt')), 'another file');
    assert.ok(!sameArtifact('final.json', here, final('/tmp/clone/datasets/word-embeddings/glove.6B.100d.conll2000.txt', 89.41)), 'another metric');
    assert.equal(placelessFinal('{\n  "f1": 1\n}\n'), '{\n  "f1": 1\n}\n', 'no embeddings: unchanged');
    assert.ok(sameArtifact('final.json', final('/a/$&-vectors.txt'), final('/b/$&-vectors.txt')), 'a $ in the name is literal');
    assert.ok(!sameArtifact('final.json', final('/a/$&-vectors.txt'), final('/b/-vectors.txt')), 'a $ in the name is literal');
  });

  it('ignores only the epoch seconds in metrics.jsonl, and nothing in any other file', () => {
    const line = (seconds: number, loss = 0.5) => JSON.stringify({ epoch: 1, losses: { train: loss }, seconds });
    assert.ok(sameArtifact('metrics.jsonl', Buffer.from(line(3.1) + '\n'), Buffer.from(line(9.7) + '\n')));
    assert.ok(!sameArtifact('metrics.jsonl', Buffer.from(line(3.1)), Buffer.from(line(3.1, 0.51))));
    const path = '"path": "/a/glove.txt"';
    assert.ok(!sameArtifact('confusion.tsv', Buffer.from(path), Buffer.from('"path": "/b/glove.txt"')), "the path rule is final.json's alone");
  });
});
