import { readFileSync, statSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { SpsError } from '../util/errors.js';
import { isMapping } from '../util/tree.js';

/**
 * An experiment file's YAML: read with a size limit, parsed with one line per syntax error, and
 * kept with its line counter so that every later error can name the line and column of a key path.
 */

export type PathKey = string | number;

/** A parsed experiment file: its top-level mapping as plain data, and the document for locating keys. */
export interface YamlFile {
  file: string;
  doc: Document;
  lc: LineCounter;
  raw: Record<string, unknown>;
}

/** Source position of the node at `path` (for an unknown key: of the key itself), 1-based. */
export function locate(doc: Document, lc: LineCounter, path: PathKey[], unknownKey?: string): { line: number; col: number } | undefined {
  let node: unknown = doc.contents;
  let best: [number, number, number] | undefined = (node as YamlNode | null)?.range ?? undefined;
  const steps: PathKey[] = unknownKey === undefined ? path : [...path, unknownKey];
  for (let i = 0; i < steps.length; i++) {
    const key = steps[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key));
      if (!pair) break;
      const isLastUnknown = unknownKey !== undefined && i === steps.length - 1;
      if (isLastUnknown && isScalar(pair.key) && pair.key.range) {
        best = pair.key.range;
        break;
      }
      node = pair.value;
      const r = (pair.value as YamlNode | null)?.range ?? (isScalar(pair.key) ? pair.key.range : undefined);
      if (r) best = r;
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key];
      const r = (node as YamlNode | null)?.range;
      if (r) best = r;
    } else {
      break;
    }
  }
  return best ? lc.linePos(best[0]) : undefined;
}

export function formatPath(path: PathKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || '(top level)';
}

/** `FILE:LINE:COL` of the node at `path` (`FILE` alone when the file does not have it). */
export function where(y: Pick<YamlFile, 'file' | 'doc' | 'lc'>, path: PathKey[]): string {
  const pos = locate(y.doc, y.lc, path);
  return `${y.file}${pos ? `:${pos.line}:${pos.col}` : ''}`;
}

/** Experiment files are a few kB of settings; past this size one is refused before it is parsed. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

function readConfigText(file: string): string {
  try {
    const { size } = statSync(file);
    if (size > MAX_CONFIG_BYTES) {
      throw new SpsError(
        `${file}: ${(size / 2 ** 20).toFixed(1)} MiB is over the ${MAX_CONFIG_BYTES / 2 ** 20} MiB limit for an experiment file; an experiment file holds settings (a few kB), so check that this is the file you meant`,
      );
    }
    return readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof SpsError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new SpsError(`${file}: cannot read the experiment file (${code === 'ENOENT' ? 'no such file' : (code ?? (e as Error).message)})`);
  }
}

/** The file's YAML as plain data; a file whose aliases expand without end (an alias bomb) is refused. */
function toData(file: string, doc: Document): unknown {
  try {
    return doc.toJS();
  } catch (e) {
    if (e instanceof ReferenceError && /alias/i.test(e.message)) {
      throw new SpsError(
        `${file}: too many YAML alias references (*name): the file's aliases expand past the YAML reader's limit, as an alias bomb does; write the values out instead`,
      );
    }
    throw new SpsError(`${file}: cannot read the YAML: ${(e as Error).message}`);
  }
}

/** Read and parse an experiment file; its top level must be a mapping. */
export function readYamlFile(file: string): YamlFile {
  const text = readConfigText(file);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const msgs = doc.errors.map((err) => {
      const pos = lc.linePos(err.pos[0]);
      // The parser recurses per level of nesting: thousands of [ or { exhaust the stack.
      if (/call stack/i.test(err.message))
        return `${file}:${pos.line}:${pos.col}: the YAML nests lists or mappings too deeply for the reader; an experiment file needs a few levels, so check the brackets there`;
      return `${file}:${pos.line}:${pos.col}: YAML syntax error: ${err.message.split('\n')[0]}`;
    });
    throw new SpsError(msgs.join('\n'));
  }
  const raw = toData(file, doc);
  if (!isMapping(raw)) {
    throw new SpsError(`${file}: expected a mapping of keys (name, task, objectives, modes, seeds, ...) at the top level`);
  }
  return { file, doc, lc, raw };
}
