/**
 * Loading sps's BLAS addon (native/sps_blas.c, built by scripts/build-blas.sh) for `--backend blas`.
 *
 * OpenBLAS picks its kernels by CPU unless told otherwise, and different kernels round differently,
 * so the same run on two CPUs would differ in the last bits. Unless $OPENBLAS_CORETYPE is set, the
 * kernel set is pinned to $SPS_BLAS_CORETYPE, by default DEFAULT_CORETYPE (docs/backends.md). The
 * variable must be set before libopenblas is loaded, which happens with the addon.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The addon's functions (see native/sps_blas.c for their arguments). */
export interface BlasAddon {
  gemm(dims: Int32Array, a: Float32Array, b: Float32Array, c: Float32Array, bias: Float32Array | null, act: number): void;
  conv2d(dims: Int32Array, x: Float32Array, w: Float32Array, y: Float32Array, bias: Float32Array | null, act: number): void;
  conv2dBackpropInput(dims: Int32Array, dy: Float32Array, w: Float32Array, dx: Float32Array): void;
  conv2dBackpropFilter(dims: Int32Array, x: Float32Array, dy: Float32Array, dw: Float32Array): void;
  info(): { corename: string; threads: number };
}

/**
 * OpenBLAS's AVX2 kernels: they run on every x86-64 CPU since 2013, so a run reproduces bit for bit
 * across such machines (with the same OpenBLAS). SkylakeX (AVX-512) is faster where it runs.
 */
export const DEFAULT_CORETYPE = 'Haswell';

/** Where scripts/build-blas.sh puts the addon (the same path from src/ and from dist/). */
export const BLAS_ADDON_PATH = fileURLToPath(new URL('../../../native/build/sps_blas.node', import.meta.url));

export const BUILD_HINT = 'build it with `bash scripts/build-blas.sh` (gcc and OpenBLAS from Debian, installed by the script as root)';

let loaded: { addon: BlasAddon; corename: string } | { why: string } | undefined;

/** The addon, loaded once, or why it cannot be. */
export function loadBlasAddon(): { addon: BlasAddon; corename: string } | { why: string } {
  if (loaded) return loaded;
  if (!existsSync(BLAS_ADDON_PATH)) return (loaded = { why: `sps's BLAS addon is not built (${BLAS_ADDON_PATH} is missing): ${BUILD_HINT}` });
  if (process.arch === 'x64' && !process.env.OPENBLAS_CORETYPE) process.env.OPENBLAS_CORETYPE = process.env.SPS_BLAS_CORETYPE || DEFAULT_CORETYPE;
  try {
    const addon = createRequire(import.meta.url)(BLAS_ADDON_PATH) as BlasAddon;
    loaded = { addon, corename: addon.info().corename };
  } catch (e) {
    loaded = { why: `sps's BLAS addon failed to load (${(e as Error).message.split('\n')[0]}): rebuild it with \`bash scripts/build-blas.sh --force\`` };
  }
  return loaded;
}
