import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import cliProgress from 'cli-progress';
import { spsVersion } from '../util/versions.js';

export interface DownloadOptions {
  /** Abort when connecting, or waiting for the next piece of the body, takes longer than this. Default 60 s. */
  timeoutMs?: number;
  /** Further attempts at the same URL after a transient failure (network error, 5xx, cut body). Default 3. */
  retries?: number;
  /** Delay before the first retry; doubled for each further one (capped at 30 s). Default 1 s. */
  backoffMs?: number;
  /** Where progress and retry notes go (one line per call). Default: nowhere. */
  log?: (line: string) => void;
  /** Live progress bar on stderr, when stderr is a TTY and the size is known. Default false. */
  progress?: boolean;
  /** Name shown in progress lines (default: the last part of the URL). */
  label?: string;
  /**
   * Keep a partial file after a transient failure and continue it with an HTTP Range request, on the
   * next attempt and in a later `sps` process (`downloadFirst` then names the file after the URL, so
   * bytes of two mirrors are never joined). A server that ignores Range sends the whole body again.
   */
  resume?: boolean;
}

export interface Downloaded {
  /** The address asked for. */
  url: string;
  /** The address the body came from after redirects. */
  finalUrl: string;
  bytes: number;
  sha256: string;
  /** The file the body is in. */
  path: string;
}

/** One failed attempt at a URL; `retryable` is false for answers that another try will not change (4xx). */
export class FetchFailure extends Error {
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean) {
    super(message);
    this.name = 'FetchFailure';
    this.retryable = retryable;
  }
}

/** Every URL failed; `failures` says why each one did. */
export class DownloadError extends Error {
  readonly failures: { url: string; reason: string }[];
  constructor(what: string, failures: { url: string; reason: string }[]) {
    super(`could not download ${what}:\n${failures.map((f) => `  ${f.url}: ${f.reason}`).join('\n')}`);
    this.name = 'DownloadError';
    this.failures = failures;
  }
}

const DEFAULTS = { timeoutMs: 60_000, retries: 3, backoffMs: 1_000 };

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

/** Error text including the low-level cause (undici puts ECONNREFUSED etc. in `cause`). */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  let msg = e.message;
  let cause = (e as { cause?: unknown }).cause;
  for (let depth = 0; cause && depth < 3; depth++) {
    const c = cause as { code?: string; message?: string; cause?: unknown };
    const part = c.code && c.message && !c.message.includes(c.code) ? `${c.code} ${c.message}` : (c.message ?? c.code ?? String(cause));
    if (part && !msg.includes(part)) msg += ` (${part})`;
    cause = c.cause;
  }
  return msg;
}

interface Progress {
  update(bytes: number): void;
  done(bytes: number, ms: number): void;
  fail(): void;
}

function makeProgress(label: string, total: number | undefined, opts: DownloadOptions): Progress {
  const log = opts.log ?? (() => {});
  if (opts.progress && process.stderr.isTTY && total !== undefined && total > 0) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `  ${label} [{bar}] {percentage}% {done} / {size} | {eta_formatted}`,
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { done: mb(0), size: mb(total) });
    return {
      update: (b) => bar.update(b, { done: mb(b) }),
      done: (b, ms) => {
        bar.update(b, { done: mb(b) });
        bar.stop();
        log(`  ${label}: ${mb(b)} in ${(ms / 1000).toFixed(1)} s`);
      },
      fail: () => bar.stop(),
    };
  }
  // Plain lines: one every 10 s at most, plus the final one.
  let last = Date.now();
  return {
    update: (b) => {
      const now = Date.now();
      if (now - last < 10_000) return;
      last = now;
      log(`  ${label}: ${mb(b)}${total ? ` / ${mb(total)} (${Math.floor((100 * b) / total)}%)` : ''}`);
    },
    done: (b, ms) => log(`  ${label}: ${mb(b)} in ${(ms / 1000).toFixed(1)} s`),
    fail: () => {},
  };
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/**
 * One attempt: GET `url` and stream the body into `dest`, hashing as it goes. With `resume` and a
 * partial `dest`, ask only for the rest: a 206 that continues it is appended, anything else starts over.
 */
async function fetchOnce(url: string, dest: string, opts: DownloadOptions): Promise<Downloaded> {
  const offset = opts.resume ? await sizeOf(dest) : 0;
  const timeoutMs = opts.timeoutMs ?? DEFAULTS.timeoutMs;
  const ac = new AbortController();
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      ac.abort(new Error(`timeout: nothing received for ${timeoutMs / 1000} s`));
    }, timeoutMs);
  };
  const started = Date.now();
  let progress: Progress | undefined;
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  arm();
  try {
    let res: Response;
    try {
      res = await fetch(url, {
        signal: ac.signal,
        redirect: 'follow',
        headers: {
          'user-agent': `sps/${spsVersion()} (dataset download)`,
          'accept-encoding': 'identity',
          ...(offset > 0 ? { range: `bytes=${offset}-` } : {}),
        },
      });
    } catch (e) {
      if (timedOut) throw new FetchFailure(`timeout: no answer within ${timeoutMs / 1000} s`, true);
      // An unknown host name will not resolve on a retry (offline machines fail fast); EAI_AGAIN may.
      const code = ((e as { cause?: { code?: string } }).cause ?? {}).code;
      throw new FetchFailure(describeError(e), code !== 'ENOTFOUND');
    }
    if (offset > 0 && res.status === 416) {
      // The partial file is no prefix the server knows (or is already whole): start over.
      await res.body?.cancel().catch(() => {});
      await rm(dest, { force: true });
      throw new FetchFailure(`HTTP 416: the partial file of ${offset} bytes cannot be continued; starting over`, true);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
      throw new FetchFailure(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`, retryable);
    }
    const encoding = (res.headers.get('content-encoding') ?? 'identity').toLowerCase();
    const lengthHeader = res.headers.get('content-length');
    // With a content-encoding, fetch decodes the body and Content-Length counts the encoded bytes.
    const continues = offset > 0 && res.status === 206 && new RegExp(`^bytes ${offset}-`).test(res.headers.get('content-range') ?? '');
    const start = continues ? offset : 0;
    const rest = lengthHeader !== null && encoding === 'identity' ? Number(lengthHeader) : undefined;
    const expected = rest === undefined ? undefined : start + rest;
    const label = opts.label ?? (new URL(url).pathname.split('/').pop() || url);
    const hash = createHash('sha256');
    if (continues) {
      for await (const chunk of createReadStream(dest)) hash.update(chunk as Buffer);
      opts.log?.(`  ${label}: continuing a partial download at ${mb(start)}`);
    }
    progress = makeProgress(label, expected, opts);
    fh = await open(dest, continues ? 'a' : 'w');
    let bytes = start;
    try {
      if (res.body) {
        for await (const chunk of res.body) {
          arm();
          const buf = chunk as Uint8Array;
          hash.update(buf);
          let off = 0;
          while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
          bytes += buf.length;
          progress.update(bytes);
        }
      }
    } catch (e) {
      const got = `after ${bytes} bytes${expected !== undefined ? ` of ${expected}` : ''}`;
      throw new FetchFailure(timedOut ? `timeout: nothing received for ${timeoutMs / 1000} s ${got}` : `connection broke ${got}: ${describeError(e)}`, true);
    }
    if (expected !== undefined && Number.isFinite(expected) && bytes !== expected) {
      throw new FetchFailure(`incomplete body: got ${bytes} bytes, Content-Length said ${expected}`, true);
    }
    await fh.sync();
    progress.done(bytes, Date.now() - started);
    progress = undefined;
    return { url, finalUrl: res.url || url, bytes, sha256: hash.digest('hex'), path: dest };
  } catch (e) {
    progress?.fail();
    throw e;
  } finally {
    clearTimeout(timer);
    await fh?.close().catch(() => {});
  }
}

/**
 * Download one URL into `dest`, retrying transient failures (network errors, timeouts, 5xx, a body cut
 * short) with exponential backoff. A 4xx answer is not retried. On failure `dest` is removed and a
 * FetchFailure says what happened on the last attempt and how many were made.
 */
export async function downloadUrl(url: string, dest: string, opts: DownloadOptions = {}): Promise<Downloaded> {
  const retries = Math.max(0, opts.retries ?? DEFAULTS.retries);
  const backoff = Math.max(0, opts.backoffMs ?? DEFAULTS.backoffMs);
  const log = opts.log ?? (() => {});
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetchOnce(url, dest, opts);
    } catch (e) {
      const f = e instanceof FetchFailure ? e : new FetchFailure(describeError(e), false);
      if (!opts.resume || !f.retryable) await rm(dest, { force: true });
      if (!f.retryable || attempt >= retries) {
        throw attempt > 0 ? new FetchFailure(`${f.message} (after ${attempt + 1} attempts)`, f.retryable) : f;
      }
      const wait = Math.min(30_000, backoff * 2 ** attempt);
      log(`  ${url}: ${f.message}; retrying in ${(wait / 1000).toFixed(1)} s (attempt ${attempt + 2} of ${retries + 1})`);
      await sleep(wait);
    }
  }
}

/**
 * Try `urls` in order until one downloads and passes `accept` (which verifies and unpacks it; an
 * exception from it, e.g. a checksum mismatch, moves on to the next URL). Throws DownloadError
 * listing every URL and why it failed.
 */
export async function downloadFirst<T>(
  urls: string[],
  dest: string,
  what: string,
  opts: DownloadOptions,
  accept: (d: Downloaded) => Promise<T>,
): Promise<{ downloaded: Downloaded; result: T }> {
  const failures: { url: string; reason: string }[] = [];
  const log = opts.log ?? (() => {});
  for (const url of urls) {
    log(`  ${what}: downloading ${url}`);
    // A resumable partial file belongs to one URL: mirrors may serve different bytes (other gzip headers).
    const file = opts.resume ? `${dest}.${createHash('sha256').update(url).digest('hex').slice(0, 12)}.part` : dest;
    let downloaded: Downloaded;
    try {
      downloaded = await downloadUrl(url, file, opts);
    } catch (e) {
      const reason = describeError(e);
      failures.push({ url, reason });
      log(`  ${url}: ${reason}`);
      continue;
    }
    try {
      const result = await accept(downloaded);
      return { downloaded, result };
    } catch (e) {
      const reason = describeError(e);
      failures.push({ url, reason });
      log(`  ${url}: ${reason}`);
    } finally {
      await rm(file, { force: true });
    }
  }
  throw new DownloadError(what, failures);
}
