import { SpsError } from '../../util/errors.js';
import { groupBySetting, studyKeys, type KeysSource } from '../settings.js';
import { scanResults } from '../store.js';
import { loggedMetrics, settingCurves, settingCurvesFigure, slug, type FigureSpec } from './figures.js';
import { renderSvg } from './vega.js';

export interface PlotOptions {
  metric: string;
  /** `--by`; without it, the keys the folder was swept over (settings.ts `studyKeys`). */
  by?: readonly string[];
  experiments?: readonly string[];
}

export interface Plot {
  figure: FigureSpec;
  svg: string;
  keys: string[];
  source: KeysSource | null;
  settings: string[];
  /** The file name the figure suggests, without extension: `val_accuracy-by-train.lr`. */
  name: string;
}

/** `sps plot DIR --metric M`: one figure of M over epochs, each setting's mean and seeds. */
export async function plotMetric(resultsDir: string, o: PlotOptions): Promise<Plot> {
  const runs = scanResults(resultsDir, o.experiments).runs.filter((r) => r.done);
  if (runs.length === 0) throw new SpsError(`No finished runs in ${resultsDir}; nothing to plot. Run the sweep first (sps run CONFIG --out ${resultsDir}).`);
  const found = o.by ? { keys: [...o.by], source: 'by' as const } : studyKeys(resultsDir, runs);
  const settings = groupBySetting(runs, found.keys);
  if (o.by && settings.every((s) => found.keys.every((k) => s.values[k] === undefined))) {
    throw new SpsError(`--by ${found.keys.join(',')}: no finished run in ${resultsDir} reads ${found.keys.length > 1 ? 'these keys' : 'this key'}; give key paths of the config as the sweep wrote it (e.g. train.lr, scaling.alpha)`);
  }
  const curves = settingCurves(settings);
  const logged = loggedMetrics(curves);
  if (!logged.includes(o.metric)) {
    throw new SpsError(`--metric ${o.metric}: no run in ${resultsDir} logged it per epoch; the metrics there are: ${logged.join(', ') || 'none (no metrics.jsonl)'}`);
  }
  const by = found.keys.length > 0 ? ` by ${found.keys.join(', ')}` : '';
  const name = `${o.metric}${found.keys.length > 0 ? `-by-${found.keys.join('-')}` : ''}`;
  const figure = settingCurvesFigure({ id: slug(name), title: `${o.metric} per epoch${by}`, metric: o.metric, keys: found.keys, settings: curves });
  if (!figure) throw new SpsError(`--metric ${o.metric}: no finite value to plot in ${resultsDir}`);
  return { figure, svg: await renderSvg(figure.spec), keys: found.keys, source: found.keys.length > 0 ? found.source : null, settings: settings.map((s) => s.label), name: slug(name) };
}
