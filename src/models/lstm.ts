/**
 * Fused LSTM / BiLSTM for tfjs, built for per-op overhead (~9 µs per op on wasm, ~21 µs on cpu:
 * small LSTMs are bound by the number of ops, not by FLOPs; docs/backends.md).
 *
 * Parameters are stored per direction in the Keras layout, gates in the order i, f, g(c), o:
 *   kernel [In, 4H], recurrent [H, 4H], bias [4H]     (so they can be copied into tf.layers' LSTM)
 * with  z_t = x_t·kernel + h_{t−1}·recurrent + bias,  [i, f, g, o] = split(z_t),
 *       c_t = σ(f)⊙c_{t−1} + σ(i)⊙tanh(g),  h_t = σ(o)⊙tanh(c_t),  h_0 = c_0 = 0.
 *
 * What makes it fast (measurements against tf.layers.bidirectional(tf.layers.lstm) and a per-gate
 * version: docs/models.md):
 * - The input projection of every time step is one matMul per direction over all T·B rows, done
 *   before the recurrence; the four gates then take one recurrent matMul per step.
 * - The recurrence runs *feature-major*: the state is hᵀ [H, B] and a step is zᵀ = recurrentᵀ·hᵀ + xpᵀ_t,
 *   so the gates are one split along the *leading* axis: contiguous blocks (a free view on cpu, whose
 *   slices along the last axis are a ~100× slower generic loop; on wasm the small hᵀ is the operand
 *   XNNPACK re-packs on every call, not the weights).
 * - Each direction's recurrence is one tf.customGrad op with a hand-written backward pass (BPTT in
 *   ~18 ops per step instead of the ~55 tfjs's autodiff records; the recurrent weight gradient is one
 *   matMul over all steps).
 * - One sigmoid serves the four gates: the g rows are pre-scaled by 2 and tanh(g) = 2σ(2g) − 1
 *   (wasm's Tanh costs up to ~5× its Sigmoid). The native kernel takes tanh of the g rows
 *   itself, so there the weights go in unscaled and the six scaling ops per direction are not run;
 *   it also works batch-major, so that its inputs and outputs need no transposes (kernelRecurrence).
 * - The backward direction walks the same per-step tensors in reverse order: no Reverse op (wasm's
 *   costs ~20 ns per element) and no reversed copy of the input.
 * - Padding masks are built from the lengths (data) and applied with `tf.where` only at time steps
 *   where some sequence is padding; elsewhere there is no masking op at all.
 * - `outputs: false` (the char encoder) builds only the final states.
 *
 * Variable lengths: padding steps carry the state unchanged (forward direction), and the backward
 * direction starts at each sequence's own last position (its state stays at zero through the
 * trailing padding). Outputs at padding positions are exactly 0, and nothing at padding positions
 * (inputs, however large) reaches an output or a gradient of a real position. The final state of each
 * direction is the state after its last real step: forward at t = L−1, backward at t = 0.
 *
 * Init: kernel Glorot-uniform, recurrent orthogonal (Keras defaults), bias 0 except the forget gate's,
 * which is `forgetBias` (default 1; Jozefowicz et al. 2015).
 */
import * as tf from '@tensorflow/tfjs';
import { LSTM_RECURRENCE, LSTM_RECURRENCE_GRAD, type LstmRecurrenceAttrs } from '../backend/kernel-names.js';
import type { Rng } from '../util/rng.js';
import { type ModelBase, ParamStore, initWeights, normalArray, orthogonalArray } from './init.js';

/** One direction's weights, Keras layout, gate order i, f, g, o. */
export interface LstmWeights {
  kernel: tf.Tensor2D; // [In, 4H]
  recurrent: tf.Tensor2D; // [H, 4H]
  bias: tf.Tensor1D; // [4H]
}

export interface RunOptions {
  /** Build the per-step outputs (default true); false: final states only. */
  outputs?: boolean;
  /** Build the final states (default true); false: outputs only (what `apply` needs, a few ops fewer). */
  final?: boolean;
}

export interface LstmResult {
  /** [B, T, D·H]: forward outputs in [..., 0:H], backward in [..., H:2H]; exactly 0 at padding. Absent with `outputs: false`. */
  outputs?: tf.Tensor3D;
  /** [B, D·H]: state after the last real step of each direction (forward at L−1, backward at 0). Absent with `final: false`. */
  final?: tf.Tensor2D;
}

/** Data-side checks of the lengths; returns them as plain numbers. */
function checkLengths(lengths: readonly number[], B: number, T: number): number[] {
  if (lengths.length !== B) throw new Error(`LSTM: ${lengths.length} lengths for a batch of ${B}`);
  for (const L of lengths) if (!Number.isInteger(L) || L < 0 || L > T) throw new Error(`LSTM: length ${L} outside [0, ${T}]`);
  return [...lengths];
}

/**
 * Row scale of the gate blocks [i, f, g, o] = [1, 1, 2, 1]: the g rows of z are pre-multiplied by 2
 * so that one sigmoid serves all four gates, with tanh(g) = 2σ(2g) − 1 (exact up to rounding; wasm's
 * Tanh costs ~4× its Sigmoid).
 */
function gateScale(H: number): Float32Array {
  const s = new Float32Array(4 * H).fill(1);
  s.fill(2, 2 * H, 3 * H);
  return s;
}

/**
 * One direction's recurrence as a single differentiable op with a hand-written backward pass
 * (backpropagation through time in ~18 ops per step instead of the ~55 that autodiff records).
 *
 * Inputs: xp [T, 4H, B], the input projections (x_t·kernel)ᵀ by time;
 *         wt [4H, H], the transposed recurrent weights;  bias [4H];  all with g rows pre-scaled by 2.
 * Output: hs [T, H, B], the state by time, or with `finalOnly` the final state [H, B].
 * Feature-major step (state hᵀ [H, B]):
 *   z = wt·h + xp_t + bias;  s = σ(z);  [i, f, ĝ, o] = split(s);  g = 2ĝ − 1;
 *   c' = f⊙c + i⊙g;  h' = o⊙tanh(c');  (c, h) = masked ? (where(m, c', c), where(m, h', h)) : (c', h').
 * `masks[t]` (bool [H, B], t < L_b) exists at the times where some sequence is padding. A reversed
 * direction visits t = T−1 … 0: its state stays at zero through each sequence's trailing padding, so
 * it starts at the sequence's own last position. The bias is added here rather than fused into the
 * projection matMul: its gradient is then a reduction over the last axis, not over T·B rows (slow on wasm).
 */
function recurrence(
  reverse: boolean,
  masks: readonly (tf.Tensor2D | null)[],
  finalOnly: boolean,
): (xp: tf.Tensor3D, wt: tf.Tensor2D, bias: tf.Tensor1D) => tf.Tensor {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xpAll = args[0] as tf.Tensor3D;
    const wt = args[1] as tf.Tensor2D;
    const bias = args[2] as tf.Tensor1D;
    const save = args[3] as tf.GradSaveFunc;
    const [T, H4, B] = xpAll.shape;
    const H = H4 / 4;
    const xp = tf.unstack(tf.add(xpAll, tf.reshape(bias, [1, H4, 1])), 0) as tf.Tensor2D[];
    const zero = tf.zeros([H, B]) as tf.Tensor2D;
    const hs: tf.Tensor2D[] = new Array(finalOnly ? 0 : T);
    // Everything the backward pass reads must be saved (closures would see disposed tensors):
    // [0, wt, the masks, then per processing step k: s (all gates), g, tanh(c'), c_{k−1}, h_{k−1}].
    const maskList = masks.filter((m): m is tf.Tensor2D => m !== null);
    const head = 2 + maskList.length;
    const saved: tf.Tensor[] = [zero, wt, ...maskList];
    let h = zero;
    let c = zero;
    for (let k = 0; k < T; k++) {
      const t = reverse ? T - 1 - k : k;
      const z = k === 0 ? xp[t] : tf.add(tf.matMul(wt, h), xp[t]); // [4H, B]: one recurrent matMul for the four gates
      const s = tf.sigmoid(z);
      const [si, sf, sg, so] = tf.split(s, 4, 0) as tf.Tensor2D[]; // leading-axis split: contiguous blocks
      const g = tf.sub(tf.mul(sg, 2), 1);
      const cNew = k === 0 ? tf.mul(si, g) : tf.add(tf.mul(sf, c), tf.mul(si, g));
      const tc = tf.tanh(cNew);
      const hNew = tf.mul(so, tc);
      saved.push(s, g, tc, c, h);
      const m = masks[t];
      c = (m ? tf.where(m, cNew, c) : cNew) as tf.Tensor2D;
      h = (m ? tf.where(m, hNew, h) : hNew) as tf.Tensor2D;
      if (!finalOnly) hs[t] = h;
    }
    save(saved);
    return {
      value: finalOnly ? h : tf.stack(hs, 0),
      gradFunc: (dy: tf.Tensor, sv: tf.Tensor[]) => {
        const dHs = finalOnly ? null : (tf.unstack(dy, 0) as tf.Tensor2D[]);
        const zeros = sv[0] as tf.Tensor2D;
        const wT = tf.transpose(sv[1]); // [H, 4H]
        const maskAt: (tf.Tensor2D | null)[] = [];
        let mi = 2;
        for (let t = 0; t < T; t++) maskAt.push(masks[t] ? (sv[mi++] as tf.Tensor2D) : null);
        const scale = tf.tensor2d(gateScale(H), [4 * H, 1]);
        const dzs: tf.Tensor2D[] = new Array(T);
        let dhRec: tf.Tensor2D | null = finalOnly ? (dy as tf.Tensor2D) : null; // from step k+1 (or the output, for the final state)
        let dc: tf.Tensor2D | null = null; // from step k+1's cell
        for (let k = T - 1; k >= 0; k--) {
          const t = reverse ? T - 1 - k : k;
          const [s, g, tc, cPrev] = sv.slice(head + 5 * k, head + 5 * k + 4) as tf.Tensor2D[];
          const [si, sf, , so] = tf.split(s, 4, 0) as tf.Tensor2D[];
          let dh: tf.Tensor2D = dHs === null ? dhRec! : dhRec === null ? dHs[t] : (tf.add(dHs[t], dhRec) as tf.Tensor2D);
          let dcIn: tf.Tensor2D | null = dc;
          let carryH: tf.Tensor2D | null = null;
          let carryC: tf.Tensor2D | null = null;
          const m = maskAt[t];
          if (m) {
            carryH = tf.where(m, zeros, dh) as tf.Tensor2D;
            dh = tf.where(m, dh, zeros) as tf.Tensor2D;
            if (dcIn) {
              carryC = tf.where(m, zeros, dcIn) as tf.Tensor2D;
              dcIn = tf.where(m, dcIn, zeros) as tf.Tensor2D;
            }
          }
          // dc' = dc + dh⊙o⊙(1 − tanh²(c'))
          let dcTot = tf.mul(tf.mul(dh, so), tf.sub(1, tf.square(tc)));
          if (dcIn) dcTot = tf.add(dcTot, dcIn);
          // ∂/∂[i, f, ĝ, o], then through the sigmoid: ⊙ s(1 − s), ×2 for the g rows (ĝ = σ(2·g pre-activation)).
          const dA = tf.concat([tf.mul(dcTot, g), k === 0 ? zeros : tf.mul(dcTot, cPrev), tf.mul(dcTot, si), tf.mul(dh, tc)], 0);
          const dz = tf.mul(dA, tf.mul(tf.mul(s, tf.sub(1, s)), scale)) as tf.Tensor2D;
          dzs[k] = dz;
          if (k > 0) {
            dhRec = tf.matMul(wT, dz) as tf.Tensor2D;
            dc = tf.mul(dcTot, sf) as tf.Tensor2D;
            if (carryH) dhRec = tf.add(dhRec, carryH) as tf.Tensor2D;
            if (carryC) dc = tf.add(dc, carryC) as tf.Tensor2D;
          }
        }
        // dxp by time; dwt = Σ_k dz_k · h_{k−1}ᵀ in one matMul over all steps k ≥ 1; dbias = Σ_{t,b} dxp.
        const dxp = tf.stack(reverse ? [...dzs].reverse() : dzs, 0);
        const dwt =
          T > 1
            ? tf.matMul(
                tf.concat(dzs.slice(1), 1),
                tf.concat(
                  Array.from({ length: T - 1 }, (_, k) => sv[head + 5 * (k + 1) + 4]),
                  1,
                ),
                false,
                true,
              )
            : tf.zerosLike(sv[1]);
        const dbias = tf.sum(tf.sum(dxp, 2), 0);
        return [dxp, dwt, dbias];
      },
    };
  }) as (xp: tf.Tensor3D, wt: tf.Tensor2D, bias: tf.Tensor1D) => tf.Tensor;
}

/**
 * `recurrence` as one kernel each way, where the active back end registers LSTM_RECURRENCE (native:
 * native/sps_lstm.c runs the same steps in C, with one sgemm per step). Batch-major, so that nothing
 * around it is transposed: xp [B, T, 4H] is x·kernel as it comes out of the matMul, the recurrent
 * weights are Keras's [H, 4H], and hs is [B, T, H] (the final state [B, H] with `finalOnly`); the g
 * columns are not pre-scaled (the kernel takes tanh of them itself). `lengths` (int32 [B]) replaces
 * the masks, which it implies (active at t iff t < L_b).
 */
function kernelRecurrence(
  reverse: boolean,
  finalOnly: boolean,
  lengths: tf.Tensor1D,
): (xp: tf.Tensor3D, recurrent: tf.Tensor2D, bias: tf.Tensor1D) => tf.Tensor {
  const attrs = { reverse, finalOnly } satisfies LstmRecurrenceAttrs as unknown as tf.NamedAttrMap;
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xp, recurrent, bias] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [value, ...kept] = tf.engine().runKernel(LSTM_RECURRENCE, { xp, recurrent, bias, lengths }, attrs) as tf.Tensor[];
    save([...kept, recurrent, lengths]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, sv: tf.Tensor[]) => {
        const [s, tc, cp, hp, r, lens] = sv;
        return tf.engine().runKernel(LSTM_RECURRENCE_GRAD, { dy, s, tc, cp, hp, recurrent: r, lengths: lens }, attrs) as tf.Tensor[];
      },
    };
  }) as (xp: tf.Tensor3D, recurrent: tf.Tensor2D, bias: tf.Tensor1D) => tf.Tensor;
}

/** The kernel path of runLstm: batch-major throughout (see kernelRecurrence). */
function runLstmKernel(x: tf.Tensor3D, lens: number[], dirs: readonly LstmWeights[], keepSteps: boolean, keepFinal: boolean, padded: boolean): LstmResult {
  const [B, T, In] = x.shape;
  const H = dirs[0].recurrent.shape[0];
  const D = dirs.length;
  const x2 = tf.reshape(x, [B * T, In]); // rows (b, t)
  const lengthsT = tf.tensor1d(lens, 'int32');
  const hs = dirs.map((w, d) =>
    kernelRecurrence(d === 1, !keepSteps, lengthsT)(tf.reshape(tf.matMul(x2, w.kernel), [B, T, 4 * H]) as tf.Tensor3D, w.recurrent, w.bias),
  ); // [B, T, H] or final [B, H]
  if (!keepSteps) return { final: (D === 1 ? hs[0] : tf.concat(hs, 1)) as tf.Tensor2D }; // [B, D·H]
  // Final states: forward after t = T−1 (carried from L−1), backward after t = 0.
  const at = (h: tf.Tensor, t: number) => tf.reshape(tf.slice(h, [0, t, 0], [B, 1, H]), [B, H]);
  const final = keepFinal ? ((D === 1 ? at(hs[0], T - 1) : tf.concat([at(hs[0], T - 1), at(hs[1], 0)], 1)) as tf.Tensor2D) : undefined;
  let outputs = (D === 1 ? hs[0] : tf.concat(hs, 2)) as tf.Tensor3D; // [B, T, D·H]
  if (padded) {
    // The forward state is carried through padding; outputs there are defined as 0.
    const valid = new Float32Array(B * T);
    lens.forEach((L, b) => valid.fill(1, b * T, b * T + L));
    outputs = tf.mul(outputs, tf.tensor3d(valid, [B, T, 1])) as tf.Tensor3D;
  }
  return { outputs, final };
}

/**
 * Run an LSTM (one direction) or BiLSTM (two: forward, backward) over x [B, T, In] with per-sequence
 * lengths. With `outputs: false` the per-step outputs are not assembled (final states only). Call
 * inside tf.tidy / optimizer.minimize.
 */
export function runLstm(x: tf.Tensor3D, lengths: readonly number[], dirs: readonly LstmWeights[], options: RunOptions = {}): LstmResult {
  const [B, T, In] = x.shape;
  if (dirs.length !== 1 && dirs.length !== 2) throw new Error(`LSTM: 1 or 2 directions, got ${dirs.length}`);
  const H = dirs[0].recurrent.shape[0];
  const D = dirs.length;
  const lens = checkLengths(lengths, B, T);
  const keepSteps = options.outputs ?? true;
  const keepFinal = options.final ?? true;
  if (!keepSteps && !keepFinal) throw new Error('LSTM: outputs: false and final: false leave nothing to compute');
  if (T === 0 || B === 0) return { outputs: keepSteps ? tf.zeros([B, T, D * H]) : undefined, final: keepFinal ? tf.zeros([B, D * H]) : undefined };

  // Masks from data, only at the times where some sequence is padding; shared by both directions.
  // (A back end with the recurrence kernel takes the lengths instead.)
  const padded: number[] = [];
  for (let t = 0; t < T; t++) if (lens.some((L) => t >= L)) padded.push(t);
  if (tf.getKernel(LSTM_RECURRENCE, tf.getBackend()) !== undefined) return runLstmKernel(x, lens, dirs, keepSteps, keepFinal, padded.length > 0);
  const masks: (tf.Tensor2D | null)[] = new Array<tf.Tensor2D | null>(T).fill(null);
  if (padded.length > 0) {
    const m = new Uint8Array(padded.length * H * B);
    padded.forEach((t, i) => {
      for (let b = 0; b < B; b++) if (t < lens[b]) for (let u = 0; u < H; u++) m[(i * H + u) * B + b] = 1;
    });
    const ms = tf.unstack(tf.tensor3d(m, [padded.length, H, B], 'bool'), 0) as tf.Tensor2D[];
    padded.forEach((t, i) => (masks[t] = ms[i]));
  }

  // Input projections of all time steps, one matMul per direction, then feature-major by time.
  const x2 = tf.reshape(tf.transpose(x, [1, 0, 2]), [T * B, In]); // rows (t, b)
  const scale = tf.tensor1d(gateScale(H));
  const hs = dirs.map((w, d) => {
    const xp = tf.transpose(tf.reshape(tf.matMul(x2, tf.mul(w.kernel, scale)), [T, B, 4 * H]), [0, 2, 1]) as tf.Tensor3D; // [T, 4H, B]
    const wt = tf.transpose(tf.mul(w.recurrent, scale)) as tf.Tensor2D;
    return recurrence(d === 1, masks, !keepSteps)(xp, wt, tf.mul(w.bias, scale) as tf.Tensor1D); // [T, H, B] or final [H, B]
  });

  if (!keepSteps) return { final: tf.transpose(D === 1 ? hs[0] : tf.concat(hs, 0)) as tf.Tensor2D }; // [B, D·H]
  // Final states: forward after t = T−1 (carried from L−1), backward after t = 0.
  const lastOf = (h: tf.Tensor, t: number) => tf.reshape(tf.slice(h, [t, 0, 0], [1, H, B]), [H, B]);
  const final = keepFinal
    ? (tf.transpose(D === 1 ? lastOf(hs[0], T - 1) : tf.concat([lastOf(hs[0], T - 1), lastOf(hs[1], 0)], 0)) as tf.Tensor2D) // [B, D·H]
    : undefined;
  let outputs = tf.transpose(D === 1 ? hs[0] : tf.concat(hs, 1), [2, 0, 1]) as tf.Tensor3D; // [T, D·H, B] → [B, T, D·H]
  if (padded.length > 0) {
    // The forward state is carried through padding; outputs there are defined as 0.
    const valid = new Float32Array(B * T);
    lens.forEach((L, b) => valid.fill(1, b * T, b * T + L));
    outputs = tf.mul(outputs, tf.tensor3d(valid, [B, T, 1])) as tf.Tensor3D;
  }
  return { outputs, final };
}

/** x [B, T, In], lengths → [B, T, D·H] (0 at padding) with the given direction weights. Call inside tidy. */
export function biLstm(x: tf.Tensor3D, lengths: readonly number[], dirs: readonly LstmWeights[]): tf.Tensor3D {
  return runLstm(x, lengths, dirs, { final: false }).outputs!;
}

// ---------------------------------------------------------------------------------------------
// Factories.

export interface LstmOptions {
  inputSize: number;
  hidden: number;
  /** Two directions (default) or one (forward). */
  bidirectional: boolean;
  /** Initial bias of the forget gate. */
  forgetBias: number;
}

export const LSTM_DEFAULTS: Omit<LstmOptions, 'inputSize' | 'hidden'> = { bidirectional: true, forgetBias: 1 };

export interface BiLstm extends ModelBase {
  readonly options: LstmOptions;
  /** Per direction (forward, then backward), the Keras-layout weights. */
  readonly directions: LstmWeights[];
  /** x [B, T, In], lengths → outputs [B, T, D·H] (0 at padding). Call inside tidy. */
  apply(x: tf.Tensor3D, lengths: readonly number[]): tf.Tensor3D;
  /** Outputs and final states (`outputs: false`: final states only). Call inside tidy. */
  run(x: tf.Tensor3D, lengths: readonly number[], options?: RunOptions): LstmResult;
  /** Forward FLOPs of the model for [B, T] (input projections + recurrent matMuls; gates not counted). */
  flops(batchShape: readonly number[]): number;
}

/** One direction's Keras-layout initial weights. */
function addDirection(store: ParamStore, prefix: string, In: number, H: number, forgetBias: number, rng: Rng): LstmWeights {
  const bias = new Float32Array(4 * H);
  bias.fill(forgetBias, H, 2 * H);
  return {
    kernel: store.add(`${prefix}/kernel`, initWeights(rng, [In, 4 * H], In, 4 * H, 'glorot'), [In, 4 * H]) as tf.Tensor as tf.Tensor2D,
    recurrent: store.add(`${prefix}/recurrent`, orthogonalArray(rng, H, 4 * H), [H, 4 * H]) as tf.Tensor as tf.Tensor2D,
    bias: store.add(`${prefix}/bias`, bias, [4 * H]) as tf.Tensor as tf.Tensor1D,
  };
}

export function createBiLstm(options: Pick<LstmOptions, 'inputSize' | 'hidden'> & Partial<LstmOptions>, rng: Rng): BiLstm {
  const o: LstmOptions = { ...LSTM_DEFAULTS, ...options };
  const { inputSize: In, hidden: H } = o;
  if (![In, H].every((n) => Number.isInteger(n) && n > 0)) throw new Error('LSTM: inputSize and hidden must be positive integers');
  const store = new ParamStore();
  const directions = (o.bidirectional ? ['fwd', 'bwd'] : ['fwd']).map((p) => addDirection(store, p, In, H, o.forgetBias, rng));
  const run = (x: tf.Tensor3D, lengths: readonly number[], options: RunOptions = {}): LstmResult => {
    if (x.rank !== 3 || x.shape[2] !== In) throw new Error(`LSTM: expected input [B, T, ${In}], got [${x.shape}]`);
    return runLstm(x, lengths, directions, options);
  };
  return {
    ...store.base(),
    options: o,
    directions,
    run,
    apply: (x, lengths) => run(x, lengths, { final: false }).outputs!,
    flops: ([B, T]) => directions.length * 2 * B * T * (In + H) * 4 * H,
  };
}

// ---------------------------------------------------------------------------------------------
// Character-level encoder.

export interface CharBiLstmOptions {
  /** Number of character ids (ids in [0, charVocab)). */
  charVocab: number;
  /** Character embedding size. */
  embedding: number;
  /** Hidden units per direction. */
  hidden: number;
  /** Words longer than this keep their first `maxChars` characters (default: no limit). */
  maxChars: number;
  forgetBias: number;
  /**
   * What one more recurrence step costs, in rows × steps of work (its ops' fixed overhead): the
   * encoder splits a batch's words into a short and a long group (see `lengthSplit`) when that saves
   * more padded work than the short group's extra steps cost. Infinity: never split.
   */
  stepCost: number;
}

export const CHAR_BILSTM_DEFAULTS: Omit<CharBiLstmOptions, 'charVocab'> = { embedding: 25, hidden: 25, maxChars: Infinity, forgetBias: 1, stepCost: 150 };

/**
 * The length s that splits words into a group of length ≤ s and a longer one, each run padded to its
 * own longest word, when that costs less than padding every word to the longest: the cost of a
 * split is n_short·s + n_long·L_max + stepCost·s row-steps against n·L_max. In CoNLL-2000 batches the
 * distinct words average under 6 characters while the longest has about 17, so one padded group does
 * about 2.9 times the real work; the best split (near 8) halves the padding. undefined: no split pays.
 */
export function lengthSplit(lengths: readonly number[], stepCost: number): number | undefined {
  const n = lengths.length;
  const longest = Math.max(0, ...lengths);
  let best: number | undefined;
  let bestCost = n * longest;
  for (const s of [...new Set(lengths)].filter((l) => l < longest)) {
    const short = lengths.filter((l) => l <= s).length;
    const cost = short * s + (n - short) * longest + stepCost * s;
    if (cost < bestCost) [best, bestCost] = [s, cost];
  }
  return best;
}

export interface CharBiLstm extends ModelBase {
  readonly options: CharBiLstmOptions;
  readonly lstm: BiLstm;
  /**
   * Character ids of N tokens (ragged; a token may be empty) → [N, 2H]: the final forward state
   * (after the last character) and the final backward state (after the first character). Embeddings
   * are a tf.gather on the embedding variable. Call inside tidy.
   */
  apply(chars: readonly (readonly number[])[]): tf.Tensor2D;
  flops(batchShape: readonly number[]): number;
}

export function createCharBiLstm(options: Pick<CharBiLstmOptions, 'charVocab'> & Partial<CharBiLstmOptions>, rng: Rng): CharBiLstm {
  const o: CharBiLstmOptions = { ...CHAR_BILSTM_DEFAULTS, ...options };
  const store = new ParamStore();
  // N(0, 1) rows, PyTorch's nn.Embedding default.
  const emb = store.add('embedding', normalArray(rng, o.charVocab * o.embedding, 1), [o.charVocab, o.embedding]);
  const lstm = createBiLstm({ inputSize: o.embedding, hidden: o.hidden, forgetBias: o.forgetBias }, rng);
  store.adopt('lstm', lstm);
  const base = store.base();
  return {
    ...base,
    options: o,
    lstm,
    apply: (chars) =>
      tf.tidy(() => {
        // A batch of sentences repeats many tokens (in CoNLL-2000 batches of 32 sentences, 58% of the
        // tokens are distinct): encode each distinct character sequence once and gather its row for
        // every occurrence. The values are those of encoding every token; the gradient of a shared
        // row is summed by the gather's gradient instead of inside the recurrence (rounding only).
        const row = new Map<string, number>();
        const distinct: number[][] = [];
        const where = new Int32Array(chars.length);
        chars.forEach((w, n) => {
          const cut = w.slice(0, Math.min(w.length, o.maxChars));
          for (const id of cut)
            if (!Number.isInteger(id) || id < 0 || id >= o.charVocab) throw new Error(`charBiLstm: char id ${id} outside [0, ${o.charVocab})`);
          const key = cut.join(',');
          let r = row.get(key);
          if (r === undefined) {
            r = distinct.length;
            row.set(key, r);
            distinct.push(cut);
          }
          where[n] = r;
        });
        // Each group of words runs padded to its own longest word; the rows stay independent, so the
        // values are those of one padded group (the weight gradients are summed per group: rounding).
        const encode = (words: readonly number[][]): tf.Tensor2D => {
          const lengths = words.map((w) => w.length);
          const Lc = Math.max(1, ...lengths);
          const ids = new Int32Array(words.length * Lc);
          words.forEach((w, n) => ids.set(w, n * Lc));
          const x = tf.reshape(tf.gather(emb, tf.tensor1d(ids, 'int32')), [words.length, Lc, o.embedding]) as tf.Tensor3D;
          return lstm.run(x, lengths, { outputs: false }).final!;
        };
        const split = lengthSplit(
          distinct.map((w) => w.length),
          o.stepCost,
        );
        if (split === undefined) {
          const final = encode(distinct);
          return distinct.length === chars.length ? final : (tf.gather(final, tf.tensor1d(where, 'int32')) as tf.Tensor2D);
        }
        const short = distinct.filter((w) => w.length <= split);
        const long = distinct.filter((w) => w.length > split);
        // Row of each distinct word in [short group; long group].
        const slot = new Int32Array(distinct.length);
        let si = 0;
        let li = short.length;
        distinct.forEach((w, r) => (slot[r] = w.length <= split ? si++ : li++));
        const final = tf.concat([encode(short), encode(long)], 0);
        return tf.gather(
          final,
          tf.tensor1d(
            where.map((r) => slot[r]),
            'int32',
          ),
        ) as tf.Tensor2D;
      }),
    flops: ([N, Lc]) => lstm.flops([N, Lc]),
  };
}
