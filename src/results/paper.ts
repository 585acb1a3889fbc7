import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpsError } from '../util/errors.js';
import { packageRoot } from '../util/paths.js';

/**
 * The paper's published results table, shipped with the package as `reference/paper-table.csv`
 * (a transcription: one line per cell, header `task,objective,mode,mean,std`, values in %).
 * `sps table --compare paper` joins it with our cells.
 */

export interface PaperEntry {
  task: string;
  objective: string;
  mode: string;
  /** Mean over seeds, in %. */
  mean: number;
  /** Standard deviation over seeds as published, in %. */
  std: number;
}

/** Where the table lives inside the package. */
export const PAPER_TABLE_FILE = 'reference/paper-table.csv';

export const PAPER_SOURCE =
  'Shevchenko & Osokin, Scaling Matters in Deep Structured-Prediction Models, arXiv 1902.11088; transcribed in reference/paper-table.csv';

const HEADER = ['task', 'objective', 'mode', 'mean', 'std'] as const;

export function paperTablePath(): string {
  return join(packageRoot(), PAPER_TABLE_FILE);
}

export function paperKey(task: string, objective: string, mode: string): string {
  return `${task}\u0000${objective}\u0000${mode}`;
}

/**
 * Parse the paper table. The file is plain comma-separated text without quoting (cell names contain
 * no commas), so no CSV library is needed at run time. `source` names the file in error messages.
 */
export function parsePaperTable(text: string, source: string = PAPER_TABLE_FILE): PaperEntry[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((s) => s.trim());
  if (header.join(',') !== HEADER.join(',')) {
    throw new SpsError(`${source}: line 1 must be the header "${HEADER.join(',')}", found "${lines[0] ?? ''}".`);
  }
  const out: PaperEntry[] = [];
  const seen = new Set<string>();
  lines.slice(1).forEach((line, i) => {
    const lineNo = i + 2;
    if (line.trim() === '') return;
    const fields = line.split(',').map((s) => s.trim());
    if (fields.length !== HEADER.length) {
      throw new SpsError(`${source}: line ${lineNo} has ${fields.length} fields, expected ${HEADER.length} (${HEADER.join(',')}).`);
    }
    const [task, objective, mode, meanText, stdText] = fields as [string, string, string, string, string];
    const mean = Number(meanText);
    const std = Number(stdText);
    if (task === '' || objective === '' || mode === '') {
      throw new SpsError(`${source}: line ${lineNo}: task, objective and mode must not be empty.`);
    }
    if (meanText === '' || !Number.isFinite(mean) || stdText === '' || !Number.isFinite(std) || std < 0) {
      throw new SpsError(`${source}: line ${lineNo}: mean and std must be numbers (std ≥ 0), found "${meanText}" and "${stdText}".`);
    }
    const key = paperKey(task, objective, mode);
    if (seen.has(key)) throw new SpsError(`${source}: line ${lineNo}: duplicate cell ${task}/${objective}/${mode}.`);
    seen.add(key);
    out.push({ task, objective, mode, mean, std });
  });
  return out;
}

/** The shipped paper table (or the CSV at `path`). */
export function loadPaperTable(path: string = paperTablePath()): PaperEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SpsError(`${path}: cannot read the paper's table (${(e as Error).message}). It ships with the package as ${PAPER_TABLE_FILE}; reinstall sps.`);
  }
  return parsePaperTable(text, path);
}
