// Preparing data sets from a local folder (--from), verification, atomic replacement, the tar
// safety checks, the registry, and the `sps prepare` / `sps datasets` commands. Fixtures are made
// in temp dirs; the real shared data is used only when ../shared/datasets (or $SPS_SHARED_DATASETS) exists.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Command } from 'commander';
import * as tar from 'tar';
import { ChecksumError, parseSha256List } from '../src/data/checksum.js';
import { samplesDir } from '../src/data/samples.js';
import { REAL_DATA, SHARED_DATASETS, tempDir } from './helpers.js';
import { checkDataset, datasetPath, listDatasets, prepareAll, prepareDataset, type Provenance } from '../src/data/prepare.js';
import { REGISTRY, getDataset, isImportOnly, loadManifest, validateSpec, type DatasetSpec } from '../src/data/registry.js';
import { formatDatasets, registerPrepare } from '../src/cli/prepare.js';
import { SpsError } from '../src/util/errors.js';

const sha = (b: string | Uint8Array) => createHash('sha256').update(b).digest('hex');
const SHARED = SHARED_DATASETS;
const root = tempDir('sps-prep-');
const tmp = (): string => mkdtempSync(join(root, 't-'));

const TEXT = 'w1 NN B-NP\nw2 VB B-VP\n\n'.repeat(500);
const LICENSE = 'You may use this for tests.\n';
const TAR_FILES: Record<string, string> = { 'db/rgb/h1.jpg': 'rgb-1', 'db/rgb/h2.jpg': 'rgb-2', 'db/gray/h1.jpg': 'gray-1' };

function spec(name = 'toy'): DatasetSpec {
  const entries: Record<string, string> = {};
  for (const [p, c] of Object.entries(TAR_FILES)) entries[p] = sha(c);
  return {
    name,
    description: 'toy data',
    folderNames: ['toy-shared'],
    origin: 'made up by the test',
    files: [
      { name: 'text.txt.gz', urls: [], contentSha256: sha(TEXT), unpack: 'gunzip' },
      { name: 'LICENSE.txt', urls: [], sha256: sha(LICENSE), unpack: 'none' },
      { name: 'db.tar.gz', urls: [], unpack: 'tar.gz', manifest: { entries } },
    ],
  };
}

/** Write a tar.gz of `files` (path → content) with tar's own writer. */
async function makeTar(file: string, files: Record<string, string>): Promise<void> {
  const src = mkdtempSync(join(root, 'tarsrc-'));
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(src, p, '..'), { recursive: true });
    writeFileSync(join(src, p), c);
  }
  await tar.c({ gzip: true, cwd: src, file, portable: true }, [...new Set(Object.keys(files).map((p) => p.split('/')[0]))]);
}

/** A tar.gz written header by header, so it can hold entries tar.c refuses to write (`../x`, `/x`). */
function rawTarGz(entries: { path: string; data: string; type?: 'File' | 'SymbolicLink'; linkpath?: string }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data);
    const h = new tar.Header({
      path: e.path,
      mode: 0o644,
      size: e.type === 'SymbolicLink' ? 0 : data.length,
      type: e.type ?? 'File',
      linkpath: e.linkpath,
      mtime: new Date(0),
    });
    h.encode();
    blocks.push(h.block!);
    if (e.type !== 'SymbolicLink') {
      blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

async function sourceFolder(opts: { corruptText?: boolean; sub?: string } = {}): Promise<string> {
  const top = tmp();
  const dir = opts.sub ? join(top, opts.sub) : top;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'text.txt.gz'), gzipSync(opts.corruptText ? TEXT.replace('w2', 'w3') : TEXT));
  writeFileSync(join(dir, 'LICENSE.txt'), LICENSE);
  await makeTar(join(dir, 'db.tar.gz'), TAR_FILES);
  return top;
}

describe('registry', () => {
  it('lists the four data sets, all valid, each with a download address', () => {
    assert.deepEqual(
      REGISTRY.map((d) => d.name),
      ['ocr', 'conll2000', 'weizmann-horse', 'word-embeddings'],
    );
    for (const d of REGISTRY) validateSpec(d);
    assert.deepEqual(
      REGISTRY.filter(isImportOnly).map((d) => d.name),
      [],
    );
    assert.throws(
      () => getDataset('mnist'),
      (e: unknown) => e instanceof SpsError && /ocr, conll2000, weizmann-horse, word-embeddings/.test(e.message),
    );
  });

  it('loads the shipped Weizmann manifest (984 JPEGs, pinned by its own sha256)', () => {
    const m = loadManifest(getDataset('weizmann-horse').files[0].manifest!);
    assert.equal(m.size, 984);
    assert.ok(m.has('weizmann_horse_db/figure_ground/horse001.jpg'));
    assert.ok([...m.keys()].every((k) => /^weizmann_horse_db\/(rgb|gray|figure_ground)\/horse\d{3}\.jpg$/.test(k)));
  });

  it('rejects a broken spec and a malformed checksum list', () => {
    assert.throws(() => validateSpec({ ...spec(), files: [{ name: 'x.tar.gz', urls: [], unpack: 'tar.gz' }] }), /needs a manifest/);
    assert.throws(() => validateSpec({ ...spec(), files: [{ name: 'x', urls: ['ftp://a/x'], sha256: sha('x'), unpack: 'none' }] }), /http/);
    assert.throws(() => parseSha256List('abc  file\n'), /line 1/);
  });

  it('datasetPath is the name under the datasets directory', () => {
    assert.equal(datasetPath('ocr', '/data/x'), '/data/x/ocr');
    assert.throws(() => datasetPath('nope', '/data/x'), SpsError);
  });
});

describe('prepare --from a local folder', () => {
  it('imports, verifies and unpacks, writing PROVENANCE.json', async () => {
    const from = await sourceFolder();
    const dataDir = tmp();
    const r = await prepareDataset(spec(), { dataDir, from });
    assert.equal(r.action, 'prepared');
    const dir = join(dataDir, 'toy');
    assert.equal(readFileSync(join(dir, 'text.txt'), 'utf8'), TEXT);
    assert.equal(readFileSync(join(dir, 'LICENSE.txt'), 'utf8'), LICENSE);
    for (const [p, c] of Object.entries(TAR_FILES)) assert.equal(readFileSync(join(dir, p), 'utf8'), c);
    assert.deepEqual(readdirSync(dir).sort(), ['LICENSE.txt', 'PROVENANCE.json', 'db', 'text.txt']);
    assert.deepEqual(readdirSync(dataDir), ['toy'], 'staging removed');
    const prov = JSON.parse(readFileSync(join(dir, 'PROVENANCE.json'), 'utf8')) as Provenance;
    assert.equal(prov.dataset, 'toy');
    assert.equal(prov.method, 'import');
    assert.equal(prov.files[0].source, join(from, 'text.txt.gz'));
    assert.equal(prov.files[0].outputs[0].sha256, sha(TEXT));
    assert.equal(prov.files[2].outputs.length, 3);
    assert.ok(!Number.isNaN(Date.parse(prov.preparedAt)));
    assert.match(prov.spsVersion, /^\d+\.\d+\.\d+/);
  });

  it('finds the files in a sub-folder named like the shared folder; says so when already prepared', async () => {
    const from = await sourceFolder({ sub: 'toy-shared' });
    const dataDir = tmp();
    assert.equal((await prepareDataset(spec(), { dataDir, from })).action, 'prepared');
    const lines: string[] = [];
    const again = await prepareDataset(spec(), { dataDir, from, log: (l) => lines.push(l) });
    assert.equal(again.action, 'already-prepared');
    assert.match(lines.join('\n'), /already prepared and verified.*--force/);
    assert.equal((await prepareDataset(spec(), { dataDir, from, force: true })).action, 'prepared');
  });

  it('a corrupt file: error names the file, expected and actual hash; nothing is left behind', async () => {
    const from = await sourceFolder({ corruptText: true });
    const dataDir = tmp();
    await assert.rejects(prepareDataset(spec(), { dataDir, from }), (e: unknown) => {
      assert.ok(e instanceof ChecksumError);
      assert.match(e.message, /text\.txt \(decompressed text\.txt\.gz\)/);
      assert.ok(e.message.includes(sha(TEXT)));
      assert.ok(e.message.includes(sha(TEXT.replace('w2', 'w3'))));
      assert.ok(e.message.includes(join(from, 'text.txt.gz')));
      return true;
    });
    assert.deepEqual(readdirSync(dataDir), []);
  });

  it('a failed --force leaves the previous good copy untouched', async () => {
    const dataDir = tmp();
    await prepareDataset(spec(), { dataDir, from: await sourceFolder() });
    const dir = join(dataDir, 'toy');
    const prov = readFileSync(join(dir, 'PROVENANCE.json'), 'utf8');
    await assert.rejects(prepareDataset(spec(), { dataDir, from: await sourceFolder({ corruptText: true }), force: true }), ChecksumError);
    assert.equal(readFileSync(join(dir, 'PROVENANCE.json'), 'utf8'), prov);
    assert.equal(readFileSync(join(dir, 'text.txt'), 'utf8'), TEXT);
    assert.deepEqual(readdirSync(dataDir), ['toy']);
  });

  it('a damaged prepared copy is detected and prepared again', async () => {
    const dataDir = tmp();
    const from = await sourceFolder();
    await prepareDataset(spec(), { dataDir, from });
    writeFileSync(join(dataDir, 'toy', 'db', 'rgb', 'h2.jpg'), 'tampered');
    rmSync(join(dataDir, 'toy', 'LICENSE.txt'));
    const st = await checkDataset(spec(), { dataDir, deep: true });
    assert.equal(st.ok, false);
    assert.deepEqual(st.problems.sort(), ['MISMATCH db/rgb/h2.jpg', 'missing LICENSE.txt']);
    const lines: string[] = [];
    assert.equal((await prepareDataset(spec(), { dataDir, from, log: (l) => lines.push(l) })).action, 'prepared');
    assert.match(lines.join('\n'), /fails its check/);
    assert.equal((await checkDataset(spec(), { dataDir, deep: true })).checksum, 'ok');
  });

  it('accepts a file given already decompressed', async () => {
    const from = await sourceFolder();
    rmSync(join(from, 'text.txt.gz'));
    writeFileSync(join(from, 'text.txt'), TEXT);
    const dataDir = tmp();
    await prepareDataset(spec(), { dataDir, from });
    assert.equal(readFileSync(join(dataDir, 'toy', 'text.txt'), 'utf8'), TEXT);
  });

  it('a missing file names it, the folders searched and the command', async () => {
    const from = await sourceFolder();
    rmSync(join(from, 'LICENSE.txt'));
    await assert.rejects(prepareDataset(spec(), { dataDir: tmp(), from }), (e: unknown) => {
      assert.ok(e instanceof SpsError);
      assert.match(e.message, /LICENSE\.txt not found/);
      assert.ok(e.message.includes(`${from}/toy-shared/`));
      assert.match(e.message, /sps prepare toy --from DIR/);
      return true;
    });
    await assert.rejects(prepareDataset(spec(), { dataDir: tmp(), from: join(from, 'nope') }), /no such folder/);
  });

  it('an import-only data set without --from says to use --from', async () => {
    await assert.rejects(prepareDataset(spec(), { dataDir: tmp() }), /no download address.*\n.*sps prepare toy --from DIR/);
  });

  it('removes staging folders of dead processes', async () => {
    const dataDir = tmp();
    const stale = join(dataDir, '.tmp', 'toy.999999999.abcdef');
    mkdirSync(stale, { recursive: true });
    writeFileSync(join(stale, 'half'), 'x');
    await prepareDataset(spec(), { dataDir, from: await sourceFolder() });
    assert.deepEqual(readdirSync(dataDir), ['toy']);
  });

  it(
    'removes staging folders of zombie processes (exited, not yet reaped: signalable but gone)',
    { skip: !existsSync('/proc/self/stat') && 'needs procfs' },
    async (t) => {
      // The background sleep's parent becomes `sleep 30` (exec), which never reaps it: a zombie until
      // sleep 30 ends. It sleeps a moment first, so that it cannot exit (and be reaped by sh) before sh
      // has exec'd, which a loaded machine made possible with `sleep 0`.
      const parent = spawn('sh', ['-c', 'sleep 0.5 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
      t.after(() => parent.kill());
      const [line] = (await once(parent.stdout!, 'data')) as [Buffer];
      const zombie = Number(line.toString().trim());
      const state = () => readFileSync(`/proc/${zombie}/stat`, 'utf8').split(') ')[1]?.[0];
      for (let i = 0; i < 500 && state() !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(state(), 'Z', `process ${zombie} should be a zombie`);
      const dataDir = tmp();
      const stale = join(dataDir, '.tmp', `toy.${zombie}.abcdef`);
      mkdirSync(stale, { recursive: true });
      await prepareDataset(spec(), { dataDir, from: await sourceFolder() });
      assert.deepEqual(readdirSync(dataDir), ['toy']);
    },
  );
});

describe('tar.gz content checks', () => {
  async function withArchive(archive: Buffer | Record<string, string>): Promise<{ from: string; dataDir: string }> {
    const from = await sourceFolder();
    if (Buffer.isBuffer(archive)) writeFileSync(join(from, 'db.tar.gz'), archive);
    else await makeTar(join(from, 'db.tar.gz'), archive);
    return { from, dataDir: tmp() };
  }

  it('an extra, a missing and a changed file are each named with their hashes', async () => {
    const files = { ...TAR_FILES, 'db/rgb/h2.jpg': 'changed', 'db/extra.jpg': 'more' } as Record<string, string>;
    delete files['db/gray/h1.jpg'];
    const { from, dataDir } = await withArchive(files);
    await assert.rejects(prepareDataset(spec(), { dataDir, from }), (e: unknown) => {
      assert.ok(e instanceof SpsError);
      const m = e.message;
      assert.match(m, /3 file\(s\)/);
      assert.ok(m.includes(`extra file db/extra.jpg (sha256 ${sha('more')})`), m);
      assert.ok(m.includes(`missing db/gray/h1.jpg (expected sha256 ${sha('gray-1')})`), m);
      assert.ok(m.includes(`db/rgb/h2.jpg: sha256 expected ${sha('rgb-2')}, got ${sha('changed')}`), m);
      return true;
    });
    assert.deepEqual(readdirSync(dataDir), []);
  });

  for (const [label, entry] of [
    ['a ".." path', { path: '../escape.txt', data: 'x' }],
    ['an absolute path', { path: '/tmp/sps-abs-escape.txt', data: 'x' }],
    ['a symlink', { path: 'db/link', data: '', type: 'SymbolicLink' as const, linkpath: '/etc/passwd' }],
  ] as const) {
    it(`refuses an archive with ${label}`, async () => {
      const entries = [...Object.entries(TAR_FILES).map(([path, data]) => ({ path, data })), entry];
      const { from, dataDir } = await withArchive(rawTarGz(entries));
      await assert.rejects(prepareDataset(spec(), { dataDir, from }), (e: unknown) => {
        assert.ok(e instanceof SpsError);
        assert.match(e.message, /refused to unpack unsafe archive entries/);
        assert.ok(e.message.includes(entry.path));
        return true;
      });
      assert.deepEqual(readdirSync(dataDir), []);
      assert.equal(existsSync(join(dataDir, '..', 'escape.txt')), false);
    });
  }

  it('a truncated archive is an error', async () => {
    const good = readFileSync(join(await sourceFolder(), 'db.tar.gz'));
    const { from, dataDir } = await withArchive(good.subarray(0, Math.floor(good.length / 2)));
    await assert.rejects(prepareDataset(spec(), { dataDir, from }), SpsError);
    assert.deepEqual(readdirSync(dataDir), []);
  });
});

describe('prepare all', () => {
  it('skips import-only data sets with a note when there is no --from', async () => {
    const dataDir = tmp();
    const lines: string[] = [];
    const { results, failures } = await prepareAll({ dataDir, registry: [spec()], log: (l) => lines.push(l) });
    assert.deepEqual(failures, []);
    assert.equal(results[0].action, 'skipped');
    assert.match(lines.join('\n'), /toy: skipped .*sps prepare toy --from DIR/);
    const r2 = await prepareAll({ dataDir, registry: [spec(), spec('toy2')], from: await sourceFolder() });
    assert.deepEqual(
      r2.results.map((r) => r.action),
      ['prepared', 'prepared'],
    );
  });
});

async function runCli(args: string[], dataDir: string): Promise<{ out: string; err: string }> {
  const program = new Command().exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  let out = '';
  let err = '';
  registerPrepare(program, { out: (s) => void (out += s), err: (s) => void (err += s), tty: false });
  const saved = process.env.SPS_DATA_DIR;
  process.env.SPS_DATA_DIR = dataDir;
  try {
    await program.parseAsync(['node', 'sps', ...args]);
  } finally {
    if (saved === undefined) delete process.env.SPS_DATA_DIR;
    else process.env.SPS_DATA_DIR = saved;
  }
  return { out, err };
}

describe('sps datasets / sps prepare (CLI)', () => {
  it('lists every data set as not prepared in an empty folder, none import-only', async () => {
    const dataDir = tmp();
    const { out } = await runCli(['datasets'], dataDir);
    assert.match(out, new RegExp(`Datasets directory: ${dataDir}`));
    for (const name of ['ocr', 'conll2000', 'weizmann-horse', 'word-embeddings']) {
      assert.match(out, new RegExp(`^${name}\\s+not prepared\\s+not prepared\\s+(yes|no)\\s+${join(dataDir, name)}$`, 'm'));
    }
    assert.match(out, /^word-embeddings\s+not prepared\s+not prepared\s+no/m);
    assert.match(out, /^ocr\s+not prepared\s+not prepared\s+no/m);
    const json = JSON.parse((await runCli(['datasets', '--json'], dataDir)).out) as { name: string; prepared: boolean }[];
    assert.equal(json.length, 4);
    assert.ok(json.every((d) => !d.prepared));
  });

  it('formats ok, MISMATCH and missing states', () => {
    const base = { importOnly: false, prepared: true, problems: [] };
    const text = formatDatasets(
      [
        { ...base, name: 'a', path: '/d/a', ok: true, checksum: 'ok' },
        { ...base, name: 'b', path: '/d/b', ok: false, checksum: 'MISMATCH train.txt' },
        { ...base, name: 'c', path: '/d/c', ok: false, checksum: 'missing x (+2 more)', importOnly: true },
      ],
      '/d',
    );
    assert.match(text, /^a\s+prepared\s+ok\s+no\s+\/d\/a$/m);
    assert.match(text, /^b\s+prepared\s+MISMATCH train\.txt\s+no\s+\/d\/b$/m);
    assert.match(text, /^c\s+prepared\s+missing x \(\+2 more\)\s+yes\s+\/d\/c$/m);
  });

  it('`prepare ocr --from` with a corrupt letter.data.gz fails naming the file and hashes', async () => {
    const from = tmp();
    writeFileSync(join(from, 'letter.data.gz'), gzipSync('not the OCR data\n'));
    const dataDir = tmp();
    await assert.rejects(runCli(['prepare', 'ocr', '--from', from], dataDir), (e: unknown) => {
      assert.ok(e instanceof ChecksumError);
      assert.match(e.message, /letter\.data \(decompressed letter\.data\.gz\)/);
      assert.ok(e.message.includes('535363d0b7bc34246b1f8731719540f526b6807b12dda5d430d011d160bc7882'));
      assert.ok(e.message.includes(sha('not the OCR data\n')));
      return true;
    });
    assert.deepEqual(readdirSync(dataDir), []);
  });

  it('unknown names and bad options are user errors', async () => {
    await assert.rejects(runCli(['prepare', 'mnist'], tmp()), (e: unknown) => e instanceof SpsError && /Known datasets: ocr, conll2000/.test(e.message));
    await assert.rejects(runCli(['prepare', 'ocr', '--timeout', 'soon'], tmp()), /--timeout soon/);
  });
});

describe(`real data (${REAL_DATA.kind})`, () => {
  // A bare clone has no shared folder: the same import path then runs on the embedded CoNLL-2000
  // sample, pinned by its own decompressed checksums.
  // Exactly one of the two runs: neither is ever reported as skipped.
  const sampleOnly = REAL_DATA.kind === 'sample' ? it : () => {};
  const fullOnly = REAL_DATA.kind === 'full' ? it : () => {};
  sampleOnly("imports the CoNLL-2000 sample through the conll2000 spec with the sample's checksums", async () => {
    const pinned: Record<string, string> = {
      'train.txt.gz': '65adeb5cbbd18568b926d0d4cb6b91d60d4841554478beb9ccf734928ac10af0',
      'test.txt.gz': 'd3108cdf042255b582fe35c07bebcf587b90ae26d52c526b1c903f0fee59f29f',
    };
    const conll = getDataset('conll2000');
    const sampleSpec: DatasetSpec = { ...conll, name: 'conll2000-sample', files: conll.files.map((f) => ({ ...f, urls: [], contentSha256: pinned[f.name] })) };
    const dataDir = tmp();
    const r = await prepareDataset(sampleSpec, { dataDir, from: join(samplesDir(), 'conll2000') });
    assert.equal(r.action, 'prepared');
    assert.equal(
      readFileSync(join(dataDir, 'conll2000-sample', 'train.txt'), 'utf8')
        .split('\n')[0]
        .split(' ').length,
      3,
    );
    assert.equal((await checkDataset(sampleSpec, { dataDir, deep: true })).checksum, 'ok');
  });

  fullOnly('prepares conll2000 and weizmann-horse from the shared folder and lists them as ok', async () => {
    const dataDir = tmp();
    const { err } = await runCli(['prepare', 'conll2000', '--from', SHARED], dataDir);
    assert.match(err, /conll2000: prepared at/);
    await prepareDataset('weizmann-horse', { dataDir, from: SHARED });
    assert.equal(
      readFileSync(join(dataDir, 'conll2000', 'train.txt'), 'utf8')
        .split('\n')[0]
        .split(' ').length,
      3,
    );
    assert.equal(readdirSync(join(dataDir, 'weizmann-horse', 'weizmann_horse_db', 'figure_ground')).length, 328);
    const states = await listDatasets({ dataDir });
    assert.deepEqual(
      states.map((s) => `${s.name}:${s.checksum}`),
      ['ocr:not prepared', 'conll2000:ok', 'weizmann-horse:ok', 'word-embeddings:not prepared'],
    );
    const { out } = await runCli(['datasets'], dataDir);
    assert.match(out, /^conll2000\s+prepared \(import\)\s+ok\s+no\s/m);
  });
});
