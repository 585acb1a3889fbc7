import type { Command } from 'commander';
import { resolve } from 'node:path';
import { loadPaperTable } from '../results/paper.js';
import { datasetsDir, folderOption } from '../util/paths.js';
import { COMPARE_TARGETS, EXPERIMENT_HELP, parseCompare, parseExperiments } from './table.js';

export interface ReportOptions {
  compare?: string;
  out: string;
  datasets?: string;
  experiment?: string;
}

/** `sps report DIR`: writes the site; returns the lines to print. */
export async function reportCommand(resultsDir: string, options: ReportOptions): Promise<string> {
  const compare = parseCompare(options.compare);
  const outDir = resolve(options.out);
  // vega is loaded only by this command, not at every sps start.
  const { writeReport } = await import('../results/report/site.js');
  const result = await writeReport(resultsDir, {
    outDir,
    paper: compare === 'paper' ? loadPaperTable() : undefined,
    dataDir: options.datasets ? resolve(options.datasets) : datasetsDir(),
    ...(options.experiment === undefined ? {} : { experiments: parseExperiments(options.experiment) }),
  });
  const notes = result.examples.flatMap((e) => e.notes).map((n) => `note: ${n}\n`).join('');
  const all = result.claims.summaries.find((s) => s.scope === 'all');
  return `${notes}${all ? `Claims: ${all.text}.\n` : ''}Wrote ${result.figures.length} figure(s), ${result.examples.length} example panel(s) and ${result.files.length} files to ${outDir} (open ${resolve(outDir, 'index.html')}).\n`;
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('Write a static report (index.html, report.md, SVG figures, PNG examples): a verdict on each of the paper\'s claims with intervals, training curves, norm ratios, online α')
    .argument('<results-dir>', 'results directory (searched at any depth for run folders)')
    .option('--compare <target>', `also show the published numbers: ${COMPARE_TARGETS.join(', ')}`)
    .option('--out <dir>', 'folder to write the report to', folderOption('--out'), 'report')
    .option('--experiment <names>', EXPERIMENT_HELP)
    .option('--datasets <dir>', 'prepared data sets, for the example images (default: $SPS_DATA_DIR or ./datasets)')
    .action(async (resultsDir: string, opts: ReportOptions) => {
      process.stdout.write(await reportCommand(resultsDir, opts));
    });
}
