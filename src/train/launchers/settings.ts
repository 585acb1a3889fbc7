/**
 * Slurm settings: the `launcher:` section of an experiment file, overridden by command-line options.
 * Kept apart from slurm.ts so that `sps run` can validate them without loading the launcher.
 */
import { z } from 'zod';
import { SpsError } from '../../util/errors.js';

export const launcherSectionSchema = z.strictObject({
  /** The launcher `sps run` uses when --launcher is not given. */
  type: z.enum(['local', 'slurm']).optional(),
  partition: z.string().min(1).optional(),
  /** sbatch --time, e.g. 2:00:00 or 1-00:00:00. */
  time: z.string().regex(/^[0-9:-]+$/, 'a Slurm time limit such as 30:00, 2:00:00 or 1-00:00:00').optional(),
  cpus_per_task: z.int().min(1).optional(),
  /** sbatch --mem (per node, one task per node here), e.g. 4G. */
  mem: z.string().regex(/^[0-9]+[KMGT]?$/, 'a Slurm memory size such as 4000M or 4G').optional(),
  /** At most this many array tasks at once (the %M of --array). */
  throttle: z.int().min(1).optional(),
  sbatch_args: z.array(z.string()).optional(),
  /** A shell line run before each task, e.g. `module load nodejs`. */
  setup: z.string().optional(),
});

export type SlurmSettings = Omit<z.output<typeof launcherSectionSchema>, 'type'>;
export type LauncherSection = z.output<typeof launcherSectionSchema>;

export function parseLauncherSection(raw: unknown, file: string): LauncherSection {
  if (raw === undefined) return {};
  const parsed = launcherSectionSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = ['launcher', ...issue.path].join('.');
    const keys = Object.keys(launcherSectionSchema.shape).join(', ');
    throw new SpsError(`${file}: ${key}: ${issue.message} (the launcher section takes ${keys})`);
  }
  return parsed.data;
}
