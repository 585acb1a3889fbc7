import { runSweep } from '../sweep.js';
import type { Launcher } from './index.js';

/** Today's behaviour: forked workers on this machine, `--jobs N` at once, the progress bar. */
export const localLauncher: Launcher = {
  async launch(req) {
    const outcomes = await runSweep(req.tasks, req.planned, { ...req.sweep, reporter: req.makeReporter() });
    return { kind: 'ran', outcomes };
  },
};
