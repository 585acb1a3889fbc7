/**
 * The launcher seam: planning (cells, sweep.json, data) is shared; a launcher decides where the
 * cells run. `local` forks workers on this machine; `slurm` submits a job array. Each is imported
 * only when chosen, so the local path never loads the Slurm code.
 */
import type { TaskDefinition } from '../../core/task.js';
import type { PlannedCell } from '../plan.js';
import type { CellOutcome, SweepOptions, SweepReporter } from '../sweep.js';
import type { SlurmSettings } from './settings.js';

export const LAUNCHERS = ['local', 'slurm'] as const;
export type LauncherName = (typeof LAUNCHERS)[number];

export interface LaunchRequest {
  experiment: string;
  tasks: readonly TaskDefinition[];
  planned: PlannedCell[];
  /** The results folder of each block (the cells' runDirs are inside them). */
  outDirs: string[];
  sweep: Omit<SweepOptions, 'reporter'>;
  makeReporter: () => SweepReporter;
  dryRun: boolean;
  slurm: SlurmSettings;
}

/** `ran`: the cells ran here and these are their outcomes; `submitted`: they were handed to a scheduler. */
export type LaunchResult = { kind: 'ran'; outcomes: CellOutcome[] } | { kind: 'submitted' };

export interface Launcher {
  launch(req: LaunchRequest): Promise<LaunchResult>;
}

export async function loadLauncher(name: LauncherName): Promise<Launcher> {
  if (name === 'slurm') return (await import('./slurm.js')).slurmLauncher;
  return (await import('./local.js')).localLauncher;
}
