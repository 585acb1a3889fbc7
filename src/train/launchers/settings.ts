/**
 * Slurm settings: the `launcher:` section of an experiment file, overridden by command-line options.
 * Kept apart from slurm.ts so that `sps run` can validate them without loading the launcher.
 */
import { z } from 'zod';
import { SpsError } from '../../util/errors.js';

/** Control characters (a newline above all) would end an `#SBATCH` line and start a shell line. */
// eslint-disable-next-line no-control-regex -- control characters are what this looks for
const NO_CONTROL = /^[^\x00-\x1f\x7f]*$/;

/**
 * One sbatch option as written on its command line: `--name=value`, `--name value`, `-X value`.
 * The value may hold spaces and quotes (it goes into an `#SBATCH` line, which sbatch parses and the
 * shell never runs), but no control character.
 */
const sbatchArg = z
  .string()
  .regex(/^--?[A-Za-z][A-Za-z0-9-]*(?:[= ].*)?$/s, 'an sbatch option such as --account=abc or --qos=long')
  .regex(NO_CONTROL, 'one line without control characters (a newline would end the #SBATCH line)');

export const launcherSectionSchema = z.strictObject({
  /** The launcher `sps run` uses when --launcher is not given. */
  type: z.enum(['local', 'slurm']).optional(),
  /** Slurm partition names (a comma-separated list is allowed): letters, digits, `_`, `.`, `-`. */
  partition: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+(?:,[A-Za-z0-9_.-]+)*$/, 'a Slurm partition name (letters, digits, "_", "." or "-"; several separated by commas)')
    .optional(),
  /** sbatch --time, e.g. 2:00:00 or 1-00:00:00. */
  time: z
    .string()
    .regex(/^[0-9:-]+$/, 'a Slurm time limit such as 30:00, 2:00:00 or 1-00:00:00')
    .optional(),
  cpus_per_task: z.int().min(1).optional(),
  /** sbatch --mem (per node, one task per node here), e.g. 4G. */
  mem: z
    .string()
    .regex(/^[0-9]+[KMGT]?$/, 'a Slurm memory size such as 4000M or 4G')
    .optional(),
  /** At most this many array tasks at once (the %M of --array). */
  throttle: z.int().min(1).optional(),
  sbatch_args: z.array(sbatchArg).optional(),
  /**
   * A shell line run before each task, e.g. `module load nodejs`: the one value sps writes into the
   * script as shell code, unquoted (docs/failure-modes.md, "Security"). One line only.
   */
  setup: z.string().regex(NO_CONTROL, 'one shell line: no newline or other control character (put several commands on one line with ;)').optional(),
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
    throw new SpsError(`${file}: ${key}: ${issue.message}, got ${shown(issue.path, raw)} (the launcher section takes ${keys})`);
  }
  return parsed.data;
}

/** The offending value, as JSON (so a newline shows as \n, never as a line break of the message). */
function shown(path: PropertyKey[], raw: unknown): string {
  let v = raw;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return JSON.stringify(v) ?? 'nothing';
}

/** The command-line option that sets each launcher key. */
const OPTION_OF: Record<string, string> = {
  partition: '--partition',
  time: '--time',
  cpus_per_task: '--cpus-per-task',
  mem: '--mem',
  throttle: '--array-throttle',
  sbatch_args: '--sbatch-arg',
  setup: '--setup',
};

/** Command-line Slurm settings, checked as the launcher section is; an error names the option. */
export function checkSlurmOptions(cli: SlurmSettings): SlurmSettings {
  const parsed = launcherSectionSchema.safeParse(cli);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const key = String(issue.path[0]);
  throw new SpsError(`${OPTION_OF[key] ?? key}: ${issue.message}, got ${shown(issue.path, cli)}`);
}
