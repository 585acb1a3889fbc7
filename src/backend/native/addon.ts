/**
 * Loading sps's native addon (native/*.c, built by scripts/build-native.sh) for `--backend native` (alias `blas`).
 *
 * The addon runs OpenBLAS (products) and oneDNN (convolutions), sps's fused chain-CRF kernels (native/sps_crf.c) and LSTM recurrence (native/sps_lstm.c). OpenBLAS picks its kernels by CPU model, and different kernels round differently: the same run
 * on two CPUs would differ in the last bits, and a model it does not know gets its slowest kernels
 * (Debian's OpenBLAS 0.3.21 runs Sapphire Rapids as a Prescott). Unless $OPENBLAS_CORETYPE is set,
 * sps pins the kernel set by instruction set instead (coretypeFor; $SPS_BLAS_CORETYPE overrides it;
 * oneDNN is capped at the same instruction set),
 * so machines with the same instructions and OpenBLAS compute the same bits (docs/backends.md). The
 * variable must be set before libopenblas is loaded, which happens with the addon.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The addon's functions (their entry points in native/sps_*_napi.c; the kernels in native/sps_blas.c, sps_passes.c, sps_lstm.c and sps_crf.c). */
export interface NativeAddon {
  gemm(dims: Int32Array, a: Float32Array, b: Float32Array, c: Float32Array, bias: Float32Array | null, act: number): void;
  conv2d(dims: Int32Array, x: Float32Array, w: Float32Array, y: Float32Array, bias: Float32Array | null, act: number): void;
  conv2dBackpropInput(dims: Int32Array, dy: Float32Array, w: Float32Array, dx: Float32Array): void;
  conv2dBackpropFilter(dims: Int32Array, x: Float32Array, dy: Float32Array, dw: Float32Array): void;
  lstmForward(
    dims: Int32Array,
    xp: Float32Array,
    wt: Float32Array,
    bias: Float32Array,
    len: Int32Array,
    out: Float32Array,
    s: Float32Array,
    tc: Float32Array,
    cp: Float32Array,
    hp: Float32Array,
  ): void;
  lstmBackward(
    dims: Int32Array,
    dy: Float32Array,
    s: Float32Array,
    tc: Float32Array,
    cp: Float32Array,
    hp: Float32Array,
    wt: Float32Array,
    len: Int32Array,
    dxp: Float32Array,
    dwt: Float32Array,
    dbias: Float32Array,
  ): void;
  dnnlConv(kind: 0 | 1 | 2, dims: Int32Array, a: Float32Array, b: Float32Array, out: Float32Array, bias: Float32Array | null, act: number): boolean;
  colSum(x: Float32Array, dims: Int32Array, out: Float32Array): void;
  blocks(split: 0 | 1, outer: number, whole: Float32Array, parts: Float32Array[], inners: Int32Array): void;
  scale(x: Float32Array, s: Float32Array, out: Float32Array): void;
  tile(x: Float32Array, dims: Int32Array, reps: Int32Array, out: Float32Array): void;
  transpose(x: Float32Array, dims: Int32Array, perm: Int32Array, out: Float32Array): void;
  maxPool2x2Grad(x: Float32Array, dy: Float32Array, dims: Int32Array, dx: Float32Array): void;
  reluGrad(dy: Float32Array, y: Float32Array, out: Float32Array): void;
  maxPool2x2(x: Float32Array, dims: Int32Array, y: Float32Array): void;
  /** Σ x², each square rounded to float32, summed in double. */
  sumSquares(x: Float32Array): number;
  /** Draws of seedrandom's Alea generator from its state (c, s0, s1, s2), rounded to float32. */
  aleaUniform(c: number, s0: number, s1: number, s2: number, out: Float32Array): void;
  adam(
    w: Float32Array,
    m: Float32Array,
    v: Float32Array,
    g: Float32Array,
    acc: Float32Array,
    k: Float32Array,
    w2: Float32Array,
    m2: Float32Array,
    v2: Float32Array,
  ): void;
  chainCrf(
    dims: Int32Array,
    unary: Float32Array,
    pairwise: Float32Array,
    lengths: Int32Array,
    labels: Int32Array | null,
    allowed: Int32Array | null,
    maximiser: Int32Array | null,
    value: Float32Array,
    gU: Float32Array,
    gW: Float32Array,
  ): number;
  chainCrfGrad(dims: Int32Array, dy: Float32Array, gU: Float32Array, gW: Float32Array, dU: Float32Array, dW: Float32Array): void;
  chainViterbi(
    dims: Int32Array,
    unary: Float32Array,
    pairwise: Float32Array,
    lengths: Int32Array,
    allowed: Int32Array | null,
    gold: Int32Array | null,
    labels: Int32Array,
  ): void;
  info(): { corename: string; threads: number };
}

/**
 * OpenBLAS's kernel set for a CPU with these flags (/proc/cpuinfo): SkylakeX with AVX-512 (F, DQ, BW,
 * VL), Haswell with AVX2 and FMA, else undefined (OpenBLAS chooses).
 */
export function coretypeFor(flags: ReadonlySet<string>): string | undefined {
  if (['avx512f', 'avx512dq', 'avx512bw', 'avx512vl'].every((f) => flags.has(f))) return 'SkylakeX';
  if (flags.has('avx2') && flags.has('fma')) return 'Haswell';
  return undefined;
}

/** oneDNN's instruction-set cap matching an OpenBLAS kernel set (its $DNNL_MAX_CPU_ISA). */
const DNNL_ISA: Record<string, string> = { SkylakeX: 'AVX512_CORE', Haswell: 'AVX2' };

function cpuFlags(): Set<string> {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'));
    return new Set(line?.split(':')[1]?.trim().split(/\s+/) ?? []);
  } catch {
    return new Set();
  }
}

/** Where scripts/build-native.sh puts the addon (the same path from src/ and from dist/); $SPS_BLAS_ADDON overrides it. */
export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../../../native/build/sps_blas.node', import.meta.url));

const BUILD_HINT = 'build it with `bash scripts/build-native.sh` (gcc, OpenBLAS and oneDNN from Debian, installed by the script as root)';

/** The OpenBLAS kernel set sps pins on this machine: $SPS_BLAS_CORETYPE, else coretypeFor this CPU (x64). */
export function blasCoretype(): string | undefined {
  return process.env.SPS_BLAS_CORETYPE || (process.arch === 'x64' ? coretypeFor(cpuFlags()) : undefined);
}

/** The addon file to load: $SPS_BLAS_ADDON, else NATIVE_ADDON_PATH. */
const nativeAddonPath = (): string => process.env.SPS_BLAS_ADDON || NATIVE_ADDON_PATH;

/** Why the addon cannot be loaded when its file is missing (with the build command); undefined when the file is there. */
export function nativeAddonMissing(): string | undefined {
  const path = nativeAddonPath();
  return existsSync(path) ? undefined : `sps's native addon is not built (${path} is missing): ${BUILD_HINT}`;
}

let loaded: { addon: NativeAddon; corename: string } | { why: string } | undefined;

/** The addon, loaded once, or why it cannot be. */
export function loadNativeAddon(): { addon: NativeAddon; corename: string } | { why: string } {
  if (loaded) return loaded;
  const missing = nativeAddonMissing();
  if (missing) return (loaded = { why: missing });
  const path = nativeAddonPath();
  const core = blasCoretype();
  if (core && !process.env.OPENBLAS_CORETYPE) process.env.OPENBLAS_CORETYPE = core;
  if (core && DNNL_ISA[core] && !process.env.DNNL_MAX_CPU_ISA) process.env.DNNL_MAX_CPU_ISA = DNNL_ISA[core];
  // One thread for oneDNN's OpenMP too (read when libgomp loads, with the addon).
  if (!process.env.OMP_NUM_THREADS) process.env.OMP_NUM_THREADS = '1';
  try {
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    loaded = { addon, corename: addon.info().corename };
  } catch (e) {
    loaded = { why: `sps's native addon failed to load (${(e as Error).message.split('\n')[0]}): rebuild it with \`bash scripts/build-native.sh --force\`` };
  }
  return loaded;
}
