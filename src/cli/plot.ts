import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { EXPERIMENT_HELP, parseByKeys, parseExperiments } from './table.js';

export const PLOT_FORMATS = ['svg', 'png', 'both'] as const;

export interface PlotCliOptions {
  metric: string;
  by?: string;
  out: string;
  /** Unset: SVG, and PNG when Chromium is there (else a note says how to get it). */
  format?: (typeof PLOT_FORMATS)[number];
  experiment?: string;
}

/** `sps plot DIR --metric M`: writes the figure; returns the lines to print. */
export async function plotCommand(resultsDir: string, o: PlotCliOptions): Promise<string> {
  const by = o.by === undefined ? undefined : parseByKeys(o.by);
  const experiments = o.experiment === undefined ? undefined : parseExperiments(o.experiment);
  // vega (and, for PNG, the browser driver) load only for this command.
  const { plotMetric } = await import('../results/report/plot.js');
  const plot = await plotMetric(resultsDir, { metric: o.metric, ...(by ? { by } : {}), ...(experiments ? { experiments } : {}) });
  const outDir = resolve(o.out);
  mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  const svgPath = join(outDir, `${plot.name}.svg`);
  if (o.format !== 'png') {
    writeFileSync(svgPath, plot.svg);
    written.push(svgPath);
  }
  let note = '';
  if (o.format !== 'svg') {
    const { CHROMIUM, writePngs } = await import('../results/report/png.js');
    if (o.format === undefined && !existsSync(CHROMIUM()))
      note = `note: no PNG: it is drawn by Chromium, and ${CHROMIUM()} does not exist (install chromium, or set SPS_CHROMIUM)\n`;
    else written.push(...(await writePngs([{ svg: plot.svg, path: join(outDir, `${plot.name}.png`) }])));
  }
  const settings =
    plot.keys.length > 0 ? `${plot.settings.length} setting(s) of ${plot.keys.join(', ')}: ${plot.settings.join('; ')}` : 'one setting (nothing swept)';
  return `${note}${o.metric} per epoch, ${settings}.\nWrote ${written.join(', ')}\n`;
}

export function registerPlot(program: Command): void {
  program
    .command('plot')
    .description("draw one per-epoch metric of every run (e.g. val_accuracy): each setting's mean over seeds and each seed, a panel per mode, as SVG and PNG")
    .argument('<results-dir>', 'results directory (searched at any depth for run folders)')
    .requiredOption(
      '--metric <name>',
      'a metric the runs log per epoch (metrics.jsonl), e.g. val_accuracy, val_f1, train_accuracy; a missing one lists those there are',
    )
    .option(
      '--by <keys>',
      'one curve per setting of these keys (key[,key]); default: the keys the sweep swept (sweep.json), else the keys in which runs of a cell differ',
    )
    .option('--out <dir>', 'folder to write the figure to (<metric>[-by-<keys>].svg and .png)', 'plots')
    .addOption(
      new Option(
        '--format <format>',
        'svg, png (drawn by Chromium: /usr/bin/chromium or $SPS_CHROMIUM) or both (default: svg, and png when Chromium is there)',
      ).choices([...PLOT_FORMATS]),
    )
    .option('--experiment <names>', EXPERIMENT_HELP)
    .addHelpText(
      'after',
      '\nExamples:\n  sps plot results/my-lr --metric val_accuracy\n  sps plot results/my-lr --metric val_accuracy --by train.lr --format svg\n',
    )
    .action(async (resultsDir: string, opts: PlotCliOptions) => {
      process.stdout.write(await plotCommand(resultsDir, opts));
    });
}
