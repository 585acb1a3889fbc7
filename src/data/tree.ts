import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SpsError } from '../util/errors.js';
import { describeError, downloadUrl, type DownloadOptions } from './download.js';
import type { OutputRecord } from './check.js';

/**
 * A mirror that holds an archive's content unpacked, file by file (a public repository's copy pinned
 * to a commit): each file of the archive's checksum list is fetched from `base/<path>` and checked
 * against it. The result is what unpacking the archive would have given, so the prepared data set is
 * the same whichever mirror served it.
 */
export async function fetchTree(
  base: string,
  manifest: Map<string, string>,
  outDir: string,
  opts: DownloadOptions & { concurrency?: number },
): Promise<OutputRecord[]> {
  const entries = [...manifest];
  const outputs: OutputRecord[] = new Array(entries.length);
  const log = opts.log ?? (() => {});
  let next = 0;
  let done = 0;
  let failure: Error | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < entries.length) {
      const k = next++;
      const [rel, want] = entries[k];
      const dest = join(outDir, ...rel.split('/'));
      mkdirSync(dirname(dest), { recursive: true });
      try {
        const got = await downloadUrl(`${base.replace(/\/$/, '')}/${rel.split('/').map(encodeURIComponent).join('/')}`, dest, {
          ...opts,
          log: undefined,
          progress: false,
        });
        if (got.sha256 !== want) throw new SpsError(`sha256 expected ${want}, got ${got.sha256}`);
        outputs[k] = { path: rel, sha256: got.sha256, bytes: got.bytes };
      } catch (e) {
        rmSync(dest, { force: true });
        failure ??= new Error(`${rel}: ${describeError(e)}`);
        return;
      }
      if (++done % 100 === 0 || done === entries.length) log(`  ${base}: ${done} of ${entries.length} files`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker));
  if (failure) throw failure;
  return outputs;
}
