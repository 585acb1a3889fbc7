/**
 * The core's measured peak, the yardstick of the bench's GFLOP/s columns: the best rate of a large
 * float32 product (cblas_sgemm, 512³, one thread) through sps's BLAS addon, the kernel set the `blas`
 * back end uses. A short probe (about a tenth of a second), run in the same process as the rows it
 * judges, so that it sees the same machine state.
 */
import { loadBlasAddon } from '../src/backend/blas/addon.js';

export interface Peak {
  gflops: number;
  how: string;
}

/** The best of `blocks` blocks of `calls` 512³ sgemms, in GFLOP/s; undefined without the addon. */
export function measurePeak(blocks = 3, calls = 10): Peak | undefined {
  const loaded = loadBlasAddon();
  if ('why' in loaded) return undefined;
  const n = 512;
  const a = Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const b = Float32Array.from({ length: n * n }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
  const c = new Float32Array(n * n);
  const dims = Int32Array.of(1, n, n, n, 0, 0, 0, 0);
  for (let i = 0; i < 3; i++) loaded.addon.gemm(dims, a, b, c, null, 0);
  let best = 0;
  for (let k = 0; k < blocks; k++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) loaded.addon.gemm(dims, a, b, c, null, 0);
    best = Math.max(best, (2 * n ** 3 * calls) / ((performance.now() - t0) * 1e6));
  }
  return { gflops: best, how: `sgemm ${n}³, one thread, OpenBLAS ${loaded.corename}` };
}

/** "1/12 of peak" (or "0.45 of peak"): how far a rate is from the peak. */
export function ofPeak(gflops: number | undefined, peak: number | undefined): string {
  if (gflops === undefined || peak === undefined || !(gflops > 0) || !(peak > 0)) return '—';
  const f = gflops / peak;
  return f >= 0.1 ? `${f.toFixed(2)} of peak` : `1/${Math.round(1 / f)} of peak`;
}
