// Download code against a real HTTP server on 127.0.0.1 (no mocked fetch): success, redirects,
// 404, a connection cut mid-body (once: retried; always: error), a stalled body (timeout), wrong checksum.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';
import { DownloadError, FetchFailure, downloadFirst, downloadUrl } from '../src/data/download.js';
import { checkDataset, ensurePrepared, prepareDataset, VERIFIED_CACHE, type Provenance } from '../src/data/prepare.js';
import type { DatasetSpec } from '../src/data/registry.js';
import { SpsError } from '../src/util/errors.js';

const sha = (b: string | Uint8Array) => createHash('sha256').update(b).digest('hex');
const FAST = { timeoutMs: 5_000, retries: 2, backoffMs: 5 };

const A = 'alpha line 1\nalpha line 2\n'.repeat(2000);
const B = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));
const TAR_FILES: Record<string, string> = { 'db/x/one.txt': 'one\n', 'db/two.txt': 'two two\n' };

const files = new Map<string, Buffer>();
const hits = new Map<string, number>();
/** Range headers the server saw on its resumable route. */
const ranges: string[] = [];
let server: Server;
let base = '';
let deadBase = '';
let root = '';

function hit(path: string): number {
  const n = (hits.get(path) ?? 0) + 1;
  hits.set(path, n);
  return n;
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'sps-dl-'));
  files.set('a.txt.gz', gzipSync(A));
  files.set('b.bin', B);
  const src = join(root, 'tarsrc');
  for (const [p, c] of Object.entries(TAR_FILES)) {
    mkdirSync(join(src, p, '..'), { recursive: true });
    writeFileSync(join(src, p), c);
  }
  await tar.c({ gzip: true, cwd: src, file: join(root, 'db.tar.gz'), portable: true }, ['db']);
  files.set('db.tar.gz', readFileSync(join(root, 'db.tar.gz')));

  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const [, route, name] = url.pathname.split('/');
    const n = hit(url.pathname);
    if (route === 'tree' || route === 'badtree') {
      // The archive's content, file by file (badtree: one file altered).
      const rel = decodeURIComponent(url.pathname.slice(route.length + 2));
      const content = TAR_FILES[rel];
      if (content === undefined) {
        res.writeHead(404);
        res.end();
        return;
      }
      const out = route === 'badtree' && rel === 'db/two.txt' ? 'two TWO\n' : content;
      res.writeHead(200, { 'content-length': String(Buffer.byteLength(out)) });
      res.end(out);
      return;
    }
    const body = files.get(name ?? '');
    const send = () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body!.length) });
      res.end(body);
    };
    const cut = () => {
      res.writeHead(200, { 'content-length': String(body!.length) });
      res.write(body!.subarray(0, Math.floor(body!.length / 2)), () => res.socket?.destroy());
    };
    if (route === 'status') {
      res.writeHead(Number(name));
      res.end('no');
    } else if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    } else if (route === 'files') send();
    else if (route === 'chunked') {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.write(body.subarray(0, 1000));
      res.end(body.subarray(1000));
    } else if (route === 'redirect') {
      res.writeHead(302, { location: `/files/${name}` });
      res.end();
    } else if (route === 'cut') cut();
    else if (route === 'resumable') {
      // Honours Range; a request for the whole body is cut in half.
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (req.headers.range) ranges.push(req.headers.range);
      if (!m) {
        // Half the body, then silence: the client's idle timeout ends it with those bytes received.
        res.writeHead(200, { 'content-length': String(body.length) });
        res.write(body.subarray(0, body.length / 2));
      } else {
        const from = Number(m[1]);
        res.writeHead(206, { 'content-range': `bytes ${from}-${body.length - 1}/${body.length}`, 'content-length': String(body.length - from) });
        res.end(body.subarray(from));
      }
    } else if (route === 'flaky') {
      if (n === 1) cut();
      else send();
    } else if (route === 'stall') {
      res.writeHead(200, { 'content-length': String(body.length) });
      res.write(body.subarray(0, 100)); // and then nothing: the idle timeout must fire
    } else if (route === 'corrupt') {
      const bad = Buffer.from(body);
      bad[bad.length - 20] ^= 0xff;
      res.writeHead(200, { 'content-length': String(bad.length) });
      res.end(bad);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port nobody listens on: open a server, note its port, close it.
  const tmp = createServer();
  await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', r));
  deadBase = `http://127.0.0.1:${(tmp.address() as AddressInfo).port}`;
  await new Promise<void>((r) => tmp.close(() => r()));
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(root, { recursive: true, force: true });
});

function tmp(): string {
  return mkdtempSync(join(root, 't-'));
}

describe('downloadUrl', () => {
  it('streams a file to disk with its sha256 and size', async () => {
    const dest = join(tmp(), 'b.bin');
    const d = await downloadUrl(`${base}/files/b.bin`, dest, FAST);
    assert.equal(d.bytes, B.length);
    assert.equal(d.sha256, sha(B));
    assert.deepEqual(readFileSync(dest), B);
  });

  it('follows redirects and reports the final URL', async () => {
    const dest = join(tmp(), 'b.bin');
    const d = await downloadUrl(`${base}/redirect/b.bin`, dest, FAST);
    assert.equal(d.url, `${base}/redirect/b.bin`);
    assert.equal(d.finalUrl, `${base}/files/b.bin`);
    assert.equal(d.sha256, sha(B));
  });

  it('accepts a chunked body without Content-Length', async () => {
    const dest = join(tmp(), 'b.bin');
    const d = await downloadUrl(`${base}/chunked/b.bin`, dest, FAST);
    assert.equal(d.sha256, sha(B));
  });

  it('does not retry a 404 and names the status', async () => {
    const dest = join(tmp(), 'nope.bin');
    await assert.rejects(downloadUrl(`${base}/files/nope.bin`, dest, FAST), (e: unknown) => {
      assert.ok(e instanceof FetchFailure);
      assert.equal(e.retryable, false);
      assert.match(e.message, /HTTP 404/);
      return true;
    });
    assert.equal(hits.get('/files/nope.bin'), 1, 'a 4xx answer is not retried');
    assert.equal(existsSync(dest), false);
  });

  it('retries a 5xx answer, then gives up saying how often it tried', async () => {
    const dest = join(tmp(), 'x');
    await assert.rejects(downloadUrl(`${base}/status/503`, dest, FAST), /HTTP 503.*after 3 attempts/);
    assert.equal(hits.get('/status/503'), 3);
  });

  it('detects a connection cut mid-body and retries it', async () => {
    const dest = join(tmp(), 'b.bin');
    const lines: string[] = [];
    const d = await downloadUrl(`${base}/flaky/b.bin`, dest, { ...FAST, log: (l) => lines.push(l) });
    assert.equal(d.sha256, sha(B));
    assert.equal(hits.get('/flaky/b.bin'), 2);
    assert.ok(
      lines.some((l) => /retrying/.test(l)),
      lines.join('\n'),
    );
  });

  it('fails on a body that is always cut short, leaving no file', async () => {
    const dest = join(tmp(), 'b.bin');
    await assert.rejects(downloadUrl(`${base}/cut/b.bin`, dest, FAST), (e: unknown) => {
      assert.ok(e instanceof FetchFailure);
      assert.match(e.message, /connection broke|incomplete body/);
      assert.match(e.message, /after 3 attempts/);
      return true;
    });
    assert.equal(hits.get('/cut/b.bin'), 3);
    assert.equal(existsSync(dest), false);
  });

  it('times out on a stalled body', async () => {
    const dest = join(tmp(), 'b.bin');
    await assert.rejects(downloadUrl(`${base}/stall/b.bin`, dest, { timeoutMs: 300, retries: 0 }), /timeout/);
    assert.equal(existsSync(dest), false);
  });

  it('reports a refused connection', async () => {
    await assert.rejects(downloadUrl(`${deadBase}/files/b.bin`, join(tmp(), 'x'), { ...FAST, retries: 1 }), /ECONNREFUSED/);
  });
});

describe('downloadFirst', () => {
  it('moves on to the next URL after a 404 or a rejected file, and lists every failure', async () => {
    const dest = join(tmp(), 'b.bin');
    const got = await downloadFirst([`${base}/files/missing.bin`, `${base}/files/b.bin`], dest, 'b.bin', FAST, async (d) => d.sha256);
    assert.equal(got.result, sha(B));
    await assert.rejects(
      downloadFirst([`${base}/files/missing.bin`, `${base}/files/b.bin`], dest, 'b.bin', FAST, async () => {
        throw new Error('checksum says no');
      }),
      (e: unknown) => {
        assert.ok(e instanceof DownloadError);
        assert.equal(e.failures.length, 2);
        assert.match(e.message, /missing\.bin: HTTP 404/);
        assert.match(e.message, /b\.bin: checksum says no/);
        return true;
      },
    );
  });
});

function loopSpec(urls: { a: string[]; b: string[]; db: string[] }, name = 'loop'): DatasetSpec {
  const entries: Record<string, string> = {};
  for (const [p, c] of Object.entries(TAR_FILES)) entries[p] = sha(c);
  return {
    name,
    description: 'loopback test data',
    folderNames: ['loop-src'],
    origin: 'the test server',
    files: [
      { name: 'a.txt.gz', urls: urls.a, contentSha256: sha(A), unpack: 'gunzip' },
      { name: 'b.bin', urls: urls.b, sha256: sha(B), unpack: 'none' },
      { name: 'db.tar.gz', urls: urls.db, unpack: 'tar.gz', manifest: { entries } },
    ],
  };
}

function goodSpec(name = 'loop'): DatasetSpec {
  return loopSpec(
    {
      a: [`${base}/files/missing.txt.gz`, `${base}/files/a.txt.gz`],
      b: [`${base}/redirect/b.bin`],
      db: [`${base}/flaky/db.tar.gz`],
    },
    name,
  );
}

describe('prepareDataset (download)', () => {
  it('downloads, verifies, unpacks and records provenance', async () => {
    const dataDir = tmp();
    const lines: string[] = [];
    const r = await prepareDataset(goodSpec(), { dataDir, log: (l) => lines.push(l), download: FAST });
    assert.equal(r.action, 'prepared');
    const dir = join(dataDir, 'loop');
    assert.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), A);
    assert.deepEqual(readFileSync(join(dir, 'b.bin')), B);
    for (const [p, c] of Object.entries(TAR_FILES)) assert.equal(readFileSync(join(dir, p), 'utf8'), c);
    assert.deepEqual(readdirSync(dataDir), ['loop'], 'no staging folder left behind');
    const prov = JSON.parse(readFileSync(join(dir, 'PROVENANCE.json'), 'utf8')) as Provenance;
    assert.equal(prov.dataset, 'loop');
    assert.equal(prov.method, 'download');
    assert.ok(prov.spsVersion);
    assert.equal(prov.files[0].source, `${base}/files/a.txt.gz`);
    assert.equal(prov.files[1].source, `${base}/files/b.bin`);
    assert.equal(prov.files[1].requestedUrl, `${base}/redirect/b.bin`);
    assert.equal(prov.files[0].outputs[0].sha256, sha(A));
    assert.ok(
      lines.some((l) => /missing\.txt\.gz: HTTP 404/.test(l)),
      lines.join('\n'),
    );
    assert.equal((await checkDataset(goodSpec(), { dataDir, deep: true })).checksum, 'ok');

    const again = await prepareDataset(goodSpec(), { dataDir, log: () => {}, download: FAST });
    assert.equal(again.action, 'already-prepared');
  });

  it('a wrong checksum names the file and both hashes, and leaves nothing behind', async () => {
    const dataDir = tmp();
    const spec = loopSpec({ a: [`${base}/files/a.txt.gz`], b: [`${base}/corrupt/b.bin`], db: [`${base}/files/db.tar.gz`] });
    const bad = Buffer.from(B);
    bad[bad.length - 20] ^= 0xff;
    await assert.rejects(prepareDataset(spec, { dataDir, download: FAST }), (e: unknown) => {
      assert.ok(e instanceof SpsError);
      assert.match(e.message, /b\.bin/);
      assert.ok(e.message.includes(sha(B)), 'expected hash');
      assert.ok(e.message.includes(sha(bad)), 'actual hash');
      assert.match(e.message, /sps prepare loop --from DIR/);
      assert.match(e.message, /a\.txt\.gz, b\.bin, db\.tar\.gz/);
      return true;
    });
    assert.deepEqual(readdirSync(dataDir), [], 'neither datasets/loop nor .tmp remains');
  });

  it('after every URL fails, lists the URLs with reasons and the --from command; an older copy stays untouched', async () => {
    const dataDir = tmp();
    await prepareDataset(goodSpec(), { dataDir, download: FAST });
    const before = readFileSync(join(dataDir, 'loop', 'PROVENANCE.json'), 'utf8');
    const spec = loopSpec({ a: [`${base}/files/a.txt.gz`], b: [`${base}/files/gone.bin`, `${base}/cut/b.bin`], db: [`${base}/files/db.tar.gz`] });
    await assert.rejects(prepareDataset(spec, { dataDir, force: true, download: FAST }), (e: unknown) => {
      assert.ok(e instanceof SpsError);
      assert.ok(e.message.includes(`${base}/files/gone.bin: HTTP 404`), e.message);
      assert.ok(e.message.includes(`${base}/cut/b.bin: `), e.message);
      assert.match(e.message, /sps prepare loop --from DIR/);
      return true;
    });
    assert.equal(readFileSync(join(dataDir, 'loop', 'PROVENANCE.json'), 'utf8'), before);
    assert.deepEqual(readFileSync(join(dataDir, 'loop', 'b.bin')), B);
    // The body cut short is kept, to be continued by the next attempt; the 404 left nothing.
    assert.deepEqual(readdirSync(dataDir).sort(), ['.tmp', 'loop']);
    const parts = readdirSync(join(dataDir, '.tmp', 'partial'));
    assert.equal(parts.length, 1);
    assert.match(parts[0], /^loop--b\.bin\.[0-9a-f]{12}\.part$/);
    const kept = readFileSync(join(dataDir, '.tmp', 'partial', parts[0]));
    assert.ok(kept.length <= B.length / 2 && kept.equals(B.subarray(0, kept.length)), `a prefix of b.bin (${kept.length} bytes)`);
  });

  it('a tree mirror (the archive unpacked, file by file) serves a tar.gz whose URLs all fail; each file is checked', async () => {
    const dataDir = tmp();
    const spec = loopSpec({ a: [`${base}/files/a.txt.gz`], b: [`${base}/files/b.bin`], db: [`${deadBase}/db.tar.gz`] }, 'loop6');
    spec.files[2].trees = [`${base}/badtree`, `${base}/tree/`];
    const lines: string[] = [];
    const r = await prepareDataset(spec, { dataDir, download: FAST, log: (l) => lines.push(l) });
    assert.equal(r.action, 'prepared');
    assert.equal(readFileSync(join(dataDir, 'loop6', 'db', 'two.txt'), 'utf8'), TAR_FILES['db/two.txt']);
    const db = r.provenance!.files[2];
    assert.equal(db.source, `${base}/tree/`);
    assert.deepEqual(db.outputs.map((o) => o.path).sort(), Object.keys(TAR_FILES).sort());
    assert.ok(
      lines.some((l) => l.includes(`${base}/badtree: db/two.txt: `) && l.includes(`sha256 expected ${sha(TAR_FILES['db/two.txt'])}`)),
      lines.join('\n'),
    );
    assert.equal((await checkDataset(spec, { dataDir, deep: true })).checksum, 'ok');

    spec.files[2].trees = [`${base}/badtree`];
    await assert.rejects(prepareDataset({ ...spec, name: 'loop7' }, { dataDir, download: { ...FAST, retries: 0 } }), (e: unknown) => {
      assert.ok(e instanceof SpsError);
      assert.ok(e.message.includes(`${deadBase}/db.tar.gz: `), e.message);
      assert.ok(e.message.includes(`${base}/badtree (file by file): db/two.txt: sha256 expected`), e.message);
      assert.match(e.message, /sps prepare loop7 --from DIR/);
      return true;
    });
  });

  it('continues a partial download with a Range request, in the same call and in a later one', async () => {
    const dir = tmp();
    const dest = join(dir, 'b.part');
    // No retry: the cut leaves half the file behind.
    await assert.rejects(
      downloadUrl(`${base}/resumable/b.bin`, dest, { ...FAST, timeoutMs: 500, retries: 0, resume: true }),
      /nothing received for 0\.5 s after 35000 bytes of 70000/,
    );
    assert.equal(statSync(dest).size, 35_000);
    const lines: string[] = [];
    const got = await downloadUrl(`${base}/resumable/b.bin`, dest, { ...FAST, resume: true, log: (l) => lines.push(l) });
    assert.equal(got.sha256, sha(B));
    assert.equal(got.bytes, B.length);
    assert.deepEqual(readFileSync(dest), B);
    assert.deepEqual(ranges, ['bytes=35000-']);
    assert.ok(
      lines.some((l) => /continuing a partial download at 0\.0 MB/.test(l)),
      lines.join('\n'),
    );
    // Without resume a partial file is never continued, and a failure removes it.
    ranges.length = 0;
    await assert.rejects(downloadUrl(`${base}/cut/b.bin`, join(dir, 'c.part'), { ...FAST, retries: 0 }));
    assert.equal(existsSync(join(dir, 'c.part')), false);
    assert.deepEqual(ranges, []);
  });
});

describe('ensurePrepared', () => {
  it('downloads what is missing, then is a no-op', async () => {
    const dataDir = tmp();
    const lines: string[] = [];
    const registry = [goodSpec('loop2')];
    await ensurePrepared(['loop2'], { log: (l) => lines.push(l), dataDir, registry, download: FAST });
    assert.ok(existsSync(join(dataDir, 'loop2', 'a.txt')));
    assert.ok(
      lines.some((l) => /loop2: it is not prepared/.test(l)),
      lines.join('\n'),
    );
    lines.length = 0;
    await ensurePrepared(['loop2'], { log: (l) => lines.push(l), dataDir, registry, download: FAST });
    assert.deepEqual(lines, []);
  });

  it('offline: names the data set and gives the exact --from command', async () => {
    const dataDir = tmp();
    const spec = loopSpec({ a: [`${deadBase}/a.txt.gz`], b: [`${deadBase}/b.bin`], db: [`${deadBase}/db.tar.gz`] }, 'loop3');
    await assert.rejects(ensurePrepared(['loop3'], { log: () => {}, dataDir, registry: [spec], download: { ...FAST, retries: 0 } }), (e: unknown) => {
      assert.ok(e instanceof SpsError);
      assert.match(e.message, /dataset "loop3"/);
      assert.match(e.message, /ECONNREFUSED/);
      assert.match(e.message, /sps prepare loop3 --from DIR/);
      assert.match(e.message, /a\.txt\.gz/);
      return true;
    });
    assert.deepEqual(readdirSync(dataDir), []);
  });

  it('an import-only data set stops with the --from command without touching the network', async () => {
    const spec = loopSpec({ a: [], b: [], db: [] }, 'loop7');
    await assert.rejects(ensurePrepared(['loop7'], { log: () => {}, dataDir: tmp(), registry: [spec] }), (e: unknown) => {
      assert.ok(e instanceof SpsError);
      assert.match(e.message, /has no download address/);
      assert.match(e.message, /sps prepare loop7 --from DIR/);
      assert.match(e.message, /a\.txt\.gz, b\.bin, db\.tar\.gz/);
      return true;
    });
  });

  it('verifies a prepared copy before a run: returns its hashes, caches them, and refuses a same-size edit with the --force command', async () => {
    const dataDir = tmp();
    const registry = [goodSpec('loop4')];
    const hashes = await ensurePrepared(['loop4'], { log: () => {}, dataDir, registry, download: FAST });
    assert.equal(hashes.loop4['a.txt'], sha(A));
    assert.equal(hashes.loop4['b.bin'], sha(B));
    const cache = JSON.parse(readFileSync(join(dataDir, 'loop4', VERIFIED_CACHE), 'utf8'));
    assert.equal(cache['b.bin'].sha256, sha(B));
    // Every byte inverted, same size, a later mtime: only a checksum can tell.
    const file = join(dataDir, 'loop4', 'b.bin');
    writeFileSync(file, Buffer.from(B.map((x) => 255 - x)));
    utimesSync(file, new Date(), new Date(Date.now() + 5_000));
    const hitsBefore = [...hits.values()].reduce((a, b) => a + b, 0);
    await assert.rejects(ensurePrepared(['loop4'], { log: () => {}, dataDir, registry, download: FAST }), (e: unknown) => {
      assert.ok(e instanceof SpsError);
      assert.match(e.message, /dataset "loop4" at .*loop4 does not match its checksums: MISMATCH b\.bin \(sha256 [0-9a-f]{64}\)/);
      assert.match(e.message, /no cell was started/);
      assert.match(e.message, /sps prepare loop4 --force$/m);
      return true;
    });
    assert.equal(
      [...hits.values()].reduce((a, b) => a + b, 0),
      hitsBefore,
      'a mismatch is refused, not silently downloaded again',
    );
  });

  it('--data-from imports a missing data set instead of downloading it; --no-prepare refuses to', async () => {
    const src = tmp();
    for (const name of ['a.txt.gz', 'b.bin', 'db.tar.gz']) writeFileSync(join(src, name), files.get(name)!);
    const spec = loopSpec({ a: [`${deadBase}/a.txt.gz`], b: [`${deadBase}/b.bin`], db: [`${deadBase}/db.tar.gz`] }, 'loop5');
    const off = tmp();
    await assert.rejects(ensurePrepared(['loop5'], { log: () => {}, dataDir: off, registry: [spec], prepare: false }), (e: unknown) => {
      assert.ok(e instanceof SpsError);
      assert.match(e.message, /needs dataset "loop5", but it is not prepared .*--no-prepare was given/);
      assert.match(e.message, /^ {2}sps prepare loop5$/m);
      assert.match(e.message, /sps prepare loop5 --from DIR/);
      return true;
    });
    assert.deepEqual(readdirSync(off), []);
    const lines: string[] = [];
    const hashes = await ensurePrepared(['loop5'], { log: (l) => lines.push(l), dataDir: off, registry: [spec], from: src });
    assert.ok(
      lines.some((l) => l.includes(`loop5: it is not prepared`) && l.includes(`importing it from ${src}`)),
      lines.join('\n'),
    );
    assert.equal(hashes.loop5['a.txt'], sha(A));
    const prov = JSON.parse(readFileSync(join(off, 'loop5', 'PROVENANCE.json'), 'utf8')) as Provenance;
    assert.equal(prov.method, 'import');
  });

  it('an unknown name lists the known ones', async () => {
    await assert.rejects(
      ensurePrepared(['mnist'], { log: () => {}, dataDir: tmp() }),
      /unknown dataset "mnist".*ocr, conll2000, weizmann-horse, word-embeddings/,
    );
  });
});
