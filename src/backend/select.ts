import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as tfType from '@tensorflow/tfjs';
import { BACKEND_NAMES, type BackendName, canonicalBackend } from '../core/constants.js';
import { SpsError } from '../util/errors.js';
import { nativeAddonMissing } from './native/addon.js';

export interface SelectedBackend {
  tf: typeof tfType;
  /** The back end now active: tensorflow, native, wasm or cpu (tfjs itself calls native 'wasm'). */
  name: string;
  /** Why this one: what was tried before it and why that was passed over. */
  reason: string;
}

const require = createRequire(import.meta.url);

/**
 * Path of the native addon of a tfjs-node package, or why it is unusable. The addon is checked for
 * *before* any import: a failed import of tfjs-node registers ~170 kernels and poisons later attempts
 * (docs/backends.md).
 */
function nativeAddon(pkg: string): { path?: string; why?: string } {
  let dir: string;
  try {
    dir = dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    return { why: `${pkg} is not installed` };
  }
  const lib = join(dir, 'lib');
  const napi = existsSync(lib) ? readdirSync(lib).filter((d) => d.startsWith('napi-v')) : [];
  for (const d of napi) {
    const addon = join(lib, d, 'tfjs_binding.node');
    if (existsSync(addon)) return { path: addon };
  }
  return { why: `${pkg} is installed but its native addon (lib/napi-v*/tfjs_binding.node) is missing` };
}

async function trySet(tf: typeof tfType, name: string): Promise<boolean> {
  // setBackend returns false instead of throwing, and getBackend() may keep the failed name.
  try {
    return (await tf.setBackend(name)) && tf.getBackend() === name;
  } catch {
    return false;
  }
}

const TENSORFLOW_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];

async function tryTensorflow(tf: typeof tfType, notes: string[]): Promise<boolean> {
  for (const pkg of TENSORFLOW_PACKAGES) {
    const addon = nativeAddon(pkg);
    if (!addon.path) {
      notes.push(addon.why!);
      continue;
    }
    try {
      await import(pkg);
    } catch (e) {
      notes.push(`${pkg} failed to load: ${(e as Error).message.split('\n')[0]}`);
      continue;
    }
    if (await trySet(tf, 'tensorflow')) {
      notes.push(`using ${pkg} (${addon.path})`);
      return true;
    }
    notes.push(`${pkg} loaded but the tensorflow back end did not initialise`);
  }
  return false;
}

async function tryWasm(tf: typeof tfType, notes: string[], native = false): Promise<boolean> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
  } catch (e) {
    notes.push(`@tensorflow/tfjs-backend-wasm failed to load: ${(e as Error).message.split('\n')[0]}`);
    return false;
  }
  if (await trySet(tf, 'wasm')) {
    const { registerNativeKernels, unregisterNativeKernels } = await import('./native-kernels.js');
    // The native kernels sit on top of the wasm training kernels: off before those are checked, on after.
    unregisterNativeKernels();
    notes.push(await wasmTrainingKernels());
    if (native) {
      try {
        const { registered, corename } = registerNativeKernels();
        notes.push(`sps's native kernels registered (${registered.length}, OpenBLAS core ${corename})`);
      } catch (e) {
        throw new SpsError(`backend 'native' is not available: ${(e as Error).message}`);
      }
    }
    return true;
  }
  notes.push('the wasm back end did not initialise');
  return false;
}

/** Register sps's wasm training kernels (./wasm-kernels.ts); a tfjs they were not written for is an error. */
async function wasmTrainingKernels(): Promise<string> {
  const { registerWasmTrainingKernels } = await import('./wasm-kernels.js');
  try {
    return `wasm training kernels registered (${registerWasmTrainingKernels().registered.length})`;
  } catch (e) {
    throw new SpsError((e as Error).message);
  }
}

/**
 * Activate a back end. `auto` tries tfjs-node-gpu, then tfjs-node, then native (when sps's addon is
 * built), then wasm, then cpu; an explicit choice that cannot be had is an error, not a silent fallback.
 * An alias (`blas`) selects and reports its back end's one name.
 */
export async function selectBackend(name: BackendName): Promise<SelectedBackend> {
  const choice = canonicalBackend(name);
  const tf = await import('@tensorflow/tfjs');
  // Silences the cpu back end's banner and skips debug-mode checks on every op.
  tf.enableProdMode();
  const notes: string[] = [];
  const done = (name: string, why: string): SelectedBackend => ({ tf, name, reason: [why, ...notes].join('; ') });

  if (choice === 'auto' || choice === 'tensorflow') {
    if (await tryTensorflow(tf, notes)) return done('tensorflow', `${choice === 'auto' ? 'auto' : 'requested'}: native TensorFlow`);
    if (choice === 'tensorflow') throw new SpsError(tensorflowUnavailable(notes));
  }
  if (choice === 'auto' || choice === 'native') {
    const { loadNativeAddon } = await import('./native/addon.js');
    const addon = loadNativeAddon();
    if ('why' in addon) {
      if (choice === 'native') throw new SpsError(`backend 'native' is not available: ${addon.why}`);
      notes.push(addon.why);
    } else if (await tryWasm(tf, notes, true)) {
      return done('native', choice === 'auto' ? "auto: no native TensorFlow, using wasm with sps's native kernels" : 'requested');
    } else if (choice === 'native') {
      throw new SpsError(`backend 'native' is not available: ${notes.join('; ')}`);
    }
  }
  if (choice === 'auto' || choice === 'wasm') {
    if (await tryWasm(tf, notes)) return done('wasm', choice === 'auto' ? 'auto: no native TensorFlow, using wasm' : 'requested');
    if (choice === 'wasm') throw new SpsError(`backend 'wasm' is not available: ${notes.join('; ')}`);
  }
  if (await trySet(tf, 'cpu'))
    return done('cpu', choice === 'auto' ? 'auto: neither native TensorFlow nor wasm available, using the pure-JS cpu back end' : 'requested');
  throw new SpsError(`backend 'cpu' did not initialise (${notes.join('; ')})`);
}

function tensorflowUnavailable(notes: string[]): string {
  return `backend 'tensorflow' is not available: ${notes.join('; ')}. Use --backend native or wasm (the CPU back ends) or install @tensorflow/tfjs-node where libtensorflow can be downloaded.`;
}

/**
 * Why `choice` cannot be had, found without loading TensorFlow, so that a sweep refuses once before
 * any cell starts rather than in every cell; undefined when it may be had. Only 'tensorflow' and
 * 'native' can be ruled out this way (their native addons are files); a present addon that fails to
 * load still fails the cells.
 */
export function backendUnavailable(name: BackendName): string | undefined {
  const choice = canonicalBackend(name);
  if (choice === 'native') {
    const missing = nativeAddonMissing();
    return missing && `backend 'native' is not available: ${missing}`;
  }
  if (choice !== 'tensorflow') return undefined;
  const addons = TENSORFLOW_PACKAGES.map(nativeAddon);
  return addons.some((a) => a.path) ? undefined : tensorflowUnavailable(addons.map((a) => a.why!));
}

/**
 * The back end `choice` will give, found without loading TensorFlow (what `sps run` prints before
 * the first cell; each cell's start line names the one it really got). `auto` picks native
 * TensorFlow when its addon is there, then native when sps's addon is built, else wasm.
 */
export function expectedBackend(name: BackendName): { name: string; why: string } {
  const choice = canonicalBackend(name);
  if (choice !== 'auto') return { name: choice, why: 'requested' };
  if (TENSORFLOW_PACKAGES.some((p) => nativeAddon(p).path)) return { name: 'tensorflow', why: 'auto: native TensorFlow is installed' };
  const missing = nativeAddonMissing();
  if (!missing) return { name: 'native', why: "auto: sps's native addon is built" };
  return { name: 'wasm', why: "auto: sps's native addon is not built, so the slower wasm; `npm run build:native` builds it" };
}

/** $SPS_BACKEND, when set, overrides the config's `backend` key; --backend overrides both. An alias is kept as written, as in a config. */
export function backendFromEnv(): BackendName | undefined {
  const v = process.env.SPS_BACKEND;
  if (!v) return undefined;
  if (!(BACKEND_NAMES as readonly string[]).includes(v)) throw new SpsError(`SPS_BACKEND=${v}: expected one of ${BACKEND_NAMES.join(', ')}`);
  return v as BackendName;
}
