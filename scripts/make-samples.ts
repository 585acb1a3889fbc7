/**
 * Cuts the small real samples in samples/ from the full data sets, so that a bare clone can run
 * configs/smoke.yaml and the real-data tests with no network and no prepared data.
 *
 *   node --import tsx scripts/make-samples.ts [--from DIR]   (DIR: a folder laid out as the shared
 *                                                           data sets; default ../shared/datasets)
 *
 * Every rule below is deterministic, so rerunning the script reproduces samples/ byte for byte; the
 * per-file checksums are written to samples/SHA256SUMS and checked by test/samples.test.ts.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as tar from 'tar';
import { packageRoot } from '../src/util/paths.js';

/** The drawing rules (docs: samples/README.md). */
const SAMPLE_SPEC = {
  // OCR: the first words of each fold in file order: enough of folds 1–9 for smoke's 200 training
  // and 100 validation words, and of fold 0 (the test fold) for its 100 test words.
  ocr: { wordsPerFold: [100, 36, 36, 36, 36, 36, 36, 36, 36, 36] },
  // CoNLL-2000: the first sentences of train.txt and test.txt.
  conll2000: { sentences: { train: 250, test: 100 } },
  // Weizmann: per split of the default ranges, the horses whose rgb image and mask take the fewest
  // bytes together (the full images run to 1280×960; these keep the sample small).
  weizmann: {
    perSplit: [
      { range: [1, 200], count: 7 },
      { range: [201, 228], count: 2 },
      { range: [229, 328], count: 4 },
    ],
  },
};

const args = process.argv.slice(2);
const fromIdx = args.indexOf('--from');
const from = resolve(fromIdx >= 0 ? args[fromIdx + 1] : join(packageRoot(), '../shared/datasets'));
const out = join(packageRoot(), 'samples');
const written: string[] = [];
/** Counts found while cutting, written to samples/counts.json; the tests compare the loaders against them. */
const counts: Record<string, Record<string, number | number[]>> = {};

function write(rel: string, bytes: Uint8Array): void {
  const path = join(out, rel);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, bytes);
  written.push(rel);
}
// Level 9 and no header name or mtime (Node's gzip writes neither), so the bytes depend only on the content.
const gz = (text: string): Uint8Array => gzipSync(Buffer.from(text, 'utf8'), { level: 9 });
const lines = (text: string): string[] => text.split('\n');

rmSync(out, { recursive: true, force: true });

// OCR: whole words, file lines verbatim, in file order.
{
  const text = gunzipSync(readFileSync(join(from, 'ocr-taskar', 'letter.data.gz'))).toString('utf8');
  const perFold = new Map<number, number>();
  const kept: string[] = [];
  let word: string[] = [];
  for (const line of lines(text)) {
    if (line === '') continue;
    word.push(line);
    const f = line.split('\t');
    if (f[2] !== '-1') continue;
    const fold = Number(f[5]);
    const n = perFold.get(fold) ?? 0;
    if (n < SAMPLE_SPEC.ocr.wordsPerFold[fold]) kept.push(...word);
    perFold.set(fold, n + 1);
    word = [];
  }
  const sampleFolds = Array(10).fill(0);
  for (const l of kept) if (l.split('\t')[2] === '-1') sampleFolds[Number(l.split('\t')[5])]++;
  counts.ocr = { words: sampleFolds.reduce((a, b) => a + b, 0), letters: kept.length, words_per_fold: sampleFolds };
  write('ocr/letter.data.gz', gz(kept.map((l) => `${l}\n`).join('')));
}

// CoNLL-2000: the first sentences of each file, verbatim; GloVe: the lines of the words they use.
const vocabulary = new Set<string>();
{
  for (const [part, count] of Object.entries(SAMPLE_SPEC.conll2000.sentences)) {
    const text = gunzipSync(readFileSync(join(from, 'conll2000', `${part}.txt.gz`))).toString('utf8');
    const kept: string[] = [];
    let sentences = 0;
    for (const line of lines(text)) {
      if (sentences >= count) break;
      if (line.trim() === '') {
        if (kept.length && kept[kept.length - 1] !== '') {
          kept.push('');
          sentences++;
        }
        continue;
      }
      kept.push(line);
      vocabulary.add(line.split(' ')[0].toLowerCase());
    }
    (counts.conll2000 ??= {})[`${part}_sentences`] = sentences;
    counts.conll2000[`${part}_tokens`] = kept.filter((l) => l !== '').length;
    write(`conll2000/${part}.txt.gz`, gz(kept.map((l) => `${l}\n`).join('')));
  }
  const glove = gunzipSync(readFileSync(join(from, 'word-embeddings', 'glove.6B.100d.conll2000.txt.gz'))).toString('utf8');
  const kept = lines(glove).filter((l) => l !== '' && vocabulary.has(l.slice(0, l.indexOf(' '))));
  counts['word-embeddings'] = { words: kept.length, vocabulary: vocabulary.size };
  write('word-embeddings/glove.6B.100d.conll2000.txt.gz', gz(kept.map((l) => `${l}\n`).join('')));
}

// Weizmann: the chosen horses' rgb image and mask, bytes as in the archive.
{
  const tmp = mkdtempSync(join(tmpdir(), 'sps-samples-'));
  try {
    await tar.x({ file: join(from, 'weizmann-horse', 'weizmann_horse_db.tar.gz'), cwd: tmp });
    const db = join(tmp, 'weizmann_horse_db');
    const name = (i: number): string => `horse${String(i).padStart(3, '0')}.jpg`;
    const bytes = (i: number): number => statSync(join(db, 'rgb', name(i))).size + statSync(join(db, 'figure_ground', name(i))).size;
    const chosen = SAMPLE_SPEC.weizmann.perSplit.flatMap(({ range: [lo, hi], count }) =>
      Array.from({ length: hi - lo + 1 }, (_, k) => lo + k)
        .sort((a, b) => bytes(a) - bytes(b) || a - b)
        .slice(0, count),
    );
    counts['weizmann-horse'] = { horses: chosen.length, indices: chosen.sort((a, b) => a - b) };
    for (const i of chosen) {
      for (const folder of ['rgb', 'figure_ground']) {
        write(`weizmann-horse/weizmann_horse_db/${folder}/${name(i)}`, readFileSync(join(db, folder, name(i))));
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const sums = written.sort().map(
  (rel) =>
    `${createHash('sha256')
      .update(readFileSync(join(out, rel)))
      .digest('hex')}  ${rel}\n`,
);
writeFileSync(join(out, 'SHA256SUMS'), sums.join(''));
writeFileSync(join(out, 'counts.json'), `${JSON.stringify(counts, null, 2)}\n`);
const total = written.reduce((n, rel) => n + statSync(join(out, rel)).size, 0);
console.log(`${written.length} files, ${total} bytes in ${relative(process.cwd(), out) || out}`);
