import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import { loadPaperTable } from '../results/paper.js';
import { datasetsDir, folderOption } from '../util/paths.js';
import { COMPARE_TARGETS, EXPERIMENT_HELP, parseByKeys, parseCompare, parseExperiments } from './table.js';
import { writePngs } from '../results/report/png.js';
import { SpsError } from '../util/errors.js';
import { FIGURE_GROUPS, type FigureGroup } from '../results/report/figures.js';

const GROUPS = Object.keys(FIGURE_GROUPS) as FigureGroup[];

/** `--figures regime,cells`: figure groups, each one of FIGURE_GROUPS. */
export function parseFigureGroups(value: string): FigureGroup[] {
  const names = value.split(',').map((n) => n.trim());
  const bad = names.find((n) => !(GROUPS as string[]).includes(n));
  if (bad !== undefined)
    throw new SpsError(
      `--figures ${value}: ${bad === '' ? 'an empty name' : `'${bad}' is not a figure group`}; give some of ${GROUPS.join(', ')}, separated by commas`,
    );
  return [...new Set(names)] as FigureGroup[];
}

export interface ReportOptions {
  compare?: string;
  out: string;
  datasets?: string;
  experiment?: string;
  by?: string;
  png?: boolean;
  regime?: string;
  regimeBy?: string;
  figures?: string;
}

/** `sps report DIR`: writes the site; returns the lines to print. */
export async function reportCommand(resultsDir: string, options: ReportOptions): Promise<string> {
  if (options.regimeBy !== undefined && options.regime === undefined)
    throw new SpsError('--regime-by names the knobs of a regime study: give the study with --regime DIR too');
  const compare = parseCompare(options.compare);
  const figures = options.figures === undefined ? undefined : parseFigureGroups(options.figures);
  const outDir = resolve(options.out);
  // vega is loaded only by this command, not at every sps start.
  const { writeReport, FIGURE_DIR } = await import('../results/report/site.js');
  const result = await writeReport(resultsDir, {
    outDir,
    paper: compare === 'paper' ? loadPaperTable() : undefined,
    dataDir: options.datasets ? resolve(options.datasets) : datasetsDir(),
    ...(options.experiment === undefined ? {} : { experiments: parseExperiments(options.experiment) }),
    ...(options.by === undefined ? {} : { by: parseByKeys(options.by) }),
    ...(figures === undefined ? {} : { figures }),
    ...(options.regime === undefined
      ? {}
      : { regime: { dir: options.regime, ...(options.regimeBy === undefined ? {} : { by: parseByKeys(options.regimeBy, '--regime-by') }) } }),
  });
  const pngs = options.png ? await writePngs(result.figures.map((f) => ({ svg: f.svg, path: join(outDir, FIGURE_DIR, `${f.id}.png`) }))) : [];
  const notes = result.examples
    .flatMap((e) => e.notes)
    .map((n) => `note: ${n}\n`)
    .join('');
  const all = result.claims.summaries.find((s) => s.scope === 'all');
  const by = result.by.keys.length > 0 ? `By ${result.by.keys.join(', ')}: ${result.by.settings.length} setting(s): ${result.by.settings.join('; ')}.\n` : '';
  return `${notes}${by}${all ? `Claims: ${all.text}.\n` : ''}Wrote ${result.figures.length} figure(s)${pngs.length > 0 ? ` (SVG and PNG)` : ''}, ${result.examples.length} example panel(s) and ${result.files.length + pngs.length} files to ${outDir} (open ${resolve(outDir, 'index.html')}).\n`;
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description(
      "write a static report (index.html, report.md, SVG figures, PNG examples): a verdict on each of the paper's claims with intervals, training curves, norm ratios, online α; for a sweep, all of it per swept setting",
    )
    .argument('<results-dir>', 'results directory (searched at any depth for run folders)')
    .option('--compare <target>', `also show the published numbers: ${COMPARE_TARGETS.join(', ')}`)
    .option('--out <dir>', 'folder to write the report to', folderOption('--out'), 'report')
    .option(
      '--by <keys>',
      "claims, curves and cells per setting of these keys (key[,key], e.g. train.lr); default: the keys the sweep swept (sweep.json), else the keys in which runs of a cell differ, else the paper's claims view",
    )
    .option(
      '--regime <dir>',
      'open the report with the answer of a regime study in DIR (results/studies/regime): a sentence per task on where joint training loses to stage and what recovers it',
    )
    .option('--regime-by <keys>', "--regime: the study's knobs (key[,key]; default: the keys its sweep swept)")
    .option(
      '--figures <groups>',
      `only these groups of figures (group[,group]: ${GROUPS.map((g) => `${g} = ${FIGURE_GROUPS[g].join(' and ')}`).join('; ')}); default: all`,
    )
    .option('--png', 'also write each figure as PNG next to its SVG (needs Chromium: /usr/bin/chromium or $SPS_CHROMIUM)')
    .option('--experiment <names>', EXPERIMENT_HELP)
    .option('--datasets <dir>', 'prepared data sets, for the example images (default: $SPS_DATA_DIR or ./datasets)')
    .action(async (resultsDir: string, opts: ReportOptions) => {
      process.stdout.write(await reportCommand(resultsDir, opts));
    });
}
