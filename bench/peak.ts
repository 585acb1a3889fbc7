/**
 * The distance to peak of the bench's rows: the work of the crf suite's chain rows (chainFlops), and
 * the core's measured peak, the best rate of a large float32 product (cblas_sgemm, 512³, one thread)
 * through sps's native addon, the kernel set the `native` back end uses. The probe is short (about a tenth
 * of a second) and runs in the same process as the rows it judges, so it sees the same machine state.
 */
import { loadNativeAddon } from '../src/backend/native/addon.js';
import { DEFAULT_MEAN_FIELD_ITERATIONS } from '../src/crf/defaults.js';

export interface Peak {
  gflops: number;
  how: string;
}

/** The best of `blocks` blocks of `calls` 512³ sgemms, in GFLOP/s; undefined without the addon. */
export function measurePeak(blocks = 3, calls = 10): Peak | undefined {
  const loaded = loadNativeAddon();
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

/** What the crf suite times on a chain: a loss with its gradient, or Viterbi. */
export const CHAIN_BENCHES = ['log-likelihood', 'cross-entropy', 'cross-entropy-mf', 'ssvm', 'viterbi'] as const;
export type ChainBench = (typeof CHAIN_BENCHES)[number];

/**
 * The floating-point work of one chain bench row, counted as the fused kernels (native/sps_crf.c) do
 * it: 2 flops per multiply-add of their recursions over S = Σ_b (L_b − 1) transitions (mean field: N =
 * Σ_b L_b positions, `iterations` sweeps); Viterbi's add-and-compare counts as 2. Exponentials,
 * logarithms and the per-label loops are not counted, so this is a floor on the work done.
 */
export function chainFlops(bench: ChainBench, lengths: readonly number[], K: number, iterations = DEFAULT_MEAN_FIELD_ITERATIONS): number {
  const S = lengths.reduce((a, L) => a + L - 1, 0);
  const N = lengths.reduce((a, L) => a + L, 0);
  const perBench: Record<ChainBench, number> = {
    // forward a_t, backward b_t, edge marginals: 3 products per transition
    'log-likelihood': 6 * S * K * K,
    // forward, backward, and the two adjoint sweeps with their outer products: 6 per transition
    'cross-entropy': 12 * S * K * K,
    // per position and sweep: 2 products forward; 2 products and 2 outer products backward
    'cross-entropy-mf': 12 * iterations * N * K * K,
    ssvm: 2 * S * K * K,
    viterbi: 2 * S * K * K,
  };
  return perBench[bench];
}
