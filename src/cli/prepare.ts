import type { Command } from 'commander';
import { SpsError } from '../util/errors.js';
import { datasetsDir } from '../util/paths.js';
import { listDatasets, prepareAll, prepareDataset, type DatasetState } from '../data/prepare.js';
import { REGISTRY, datasetNames, getDataset, isImportOnly } from '../data/registry.js';
import { allTasks, datasetRegistry } from '../train/tasks/index.js';

function parseNumber(flag: string, value: string, integer: boolean, min: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new SpsError(`${flag} ${value}: expected a ${integer ? 'whole number' : 'number'} >= ${min}`);
  }
  return n;
}

function datasetList(): string {
  const w = Math.max(...REGISTRY.map((d) => d.name.length));
  return REGISTRY.map((d) => `  ${d.name.padEnd(w)}  ${d.description}${isImportOnly(d) ? ' [import-only: needs --from]' : ''}`).join('\n');
}

/** The `sps datasets` listing as plain aligned lines (also used by the tests). */
export function formatDatasets(states: DatasetState[], dataDir: string): string {
  const rows = [
    ['NAME', 'STATE', 'CHECKSUMS', 'IMPORT-ONLY', 'PATH'],
    ...states.map((s) => [
      s.name,
      s.prepared ? `prepared${s.provenance?.method ? ` (${s.provenance.method})` : ''}` : 'not prepared',
      s.checksum,
      s.importOnly ? 'yes' : 'no',
      s.path,
    ]),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const lines = rows.map((r) =>
    r
      .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd(),
  );
  const todo = states.filter((s) => !s.ok);
  const footer = todo.length ? `\nTo prepare: sps prepare <name|all>   (offline: sps prepare <name|all> --from DIR)` : '';
  return `Datasets directory: ${dataDir}\n${lines.join('\n')}\n${footer ? footer.slice(1) + '\n' : ''}`;
}

/** Where the commands write (tests pass their own). */
export interface PrepareIO {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Show a live progress bar (stderr is a terminal). */
  tty: boolean;
}

const processIO: PrepareIO = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  get tty() {
    return !!process.stderr.isTTY;
  },
};

export function registerPrepare(program: Command, io: PrepareIO = processIO): void {
  program
    .command('prepare')
    .argument('<dataset>', `data set to prepare: ${datasetNames().join(', ')}, or "all"`)
    .description('download a data set (or import it from a local folder with --from), verify its checksums and unpack it into the datasets folder')
    .option(
      '--from <dir>',
      'import from this local folder instead of downloading; it holds the files directly or in a sub-folder named like the data set (e.g. ocr-taskar/)',
    )
    .option('--force', 'prepare again even when a verified copy is present (the old copy is replaced only once the new one is complete)')
    .option('--timeout <seconds>', 'give up on a connection that sends nothing for this long', '60')
    .option('--retries <n>', 'further attempts per URL after a network error, 5xx or cut download', '3')
    .addHelpText(
      'after',
      `\nData sets:\n${datasetList()}\n\n` +
        `Files go to $SPS_DATA_DIR or ./datasets, one folder per data set with a PROVENANCE.json.\n\n` +
        `Examples:\n  sps prepare ocr                       # download, verify, unpack\n  sps prepare all --from /path/to/copy  # import every data set from a folder you copied them to (e.g. another machine's datasets/)\n  sps prepare word-embeddings --from /path/to/folder-with-glove.6B.100d.conll2000.txt.gz`,
    )
    .action(async (dataset: string, o: { from?: string; force?: boolean; timeout: string; retries: string }) => {
      const log = (line: string) => io.err(`${line}\n`);
      const opts = {
        from: o.from,
        force: !!o.force,
        log,
        progress: io.tty,
        download: {
          timeoutMs: parseNumber('--timeout', o.timeout, false, 0.001) * 1000,
          retries: parseNumber('--retries', o.retries, true, 0),
        },
      };
      // Plugin tasks ($SPS_PLUGINS) may bring data sets of their own.
      const registry = datasetRegistry(await allTasks());
      if (dataset === 'all') {
        const { results, failures } = await prepareAll({ ...opts, registry });
        const skipped = results.filter((r) => r.action === 'skipped').map((r) => r.name);
        if (failures.length) {
          throw new SpsError(
            `${failures.length} data set(s) could not be prepared: ${failures.map((f) => f.name).join(', ')} (details above).` +
              (skipped.length ? ` Skipped (import-only): ${skipped.join(', ')}.` : ''),
          );
        }
        log(
          `done: ${results.filter((r) => r.action !== 'skipped').length} data set(s) ready${skipped.length ? `; skipped (import-only, use --from): ${skipped.join(', ')}` : ''}`,
        );
        return;
      }
      await prepareDataset(getDataset(dataset, registry), opts); // unknown name → SpsError listing the known ones
    });

  program
    .command('datasets')
    .description('list the data sets: prepared or not, where, and whether their files still match the recorded checksums (re-hashes them)')
    .option('--json', 'print the states as JSON')
    .action(async (o: { json?: boolean }) => {
      const dataDir = datasetsDir();
      const states = await listDatasets({ dataDir, deep: true, registry: datasetRegistry(await allTasks()) });
      if (o.json) {
        const out = states.map(({ provenance, ...s }) => ({ ...s, preparedAt: provenance?.preparedAt, method: provenance?.method }));
        io.out(`${JSON.stringify(out, null, 2)}\n`);
      } else {
        io.out(formatDatasets(states, dataDir));
      }
    });
}
