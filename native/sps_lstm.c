/*
 * The LSTM recurrence of src/models/lstm.ts as two native kernels: one direction over all time steps
 * (lstmForward) and its backpropagation through time (lstmBackward), one call each per direction and
 * batch. The recurrent product of a step is one sgemm; the gates are element-wise loops, compiled for
 * AVX-512, AVX2 and plain x86-64 (SPS_CLONES), with the sigmoid and tanh computed sixteen lanes at a
 * time by vexpf below instead of libm's expf and tanhf one element at a time (in a chunking step the
 * scalar calls were most of the recurrence's time: docs/native-kernels.md).
 */
#include "sps_kernels.h"
#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define VL 16
typedef float vf __attribute__((vector_size(VL * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(VL * sizeof(float))));

/* Vectors go through the helpers below by pointer: no vector crosses a call (GCC warns about the ABI of 64-byte vectors otherwise). */
#define VSPLAT(x) ((vf){0} + (x))

/* x where m is false, y where it is true (m: all ones or all zeros per lane). */
#define VSELECT(m, y, x) ((vf)(((vi)(x) & ~(m)) | ((vi)(y) & (m))))

/*
 * e^x lane by lane, x clamped to [−87, 88] (so that 2^k stays a normal float): x = k ln 2 + r with
 * k = round(x / ln 2), |r| ≤ ln 2 / 2 (ln 2 in two parts, k ln 2 exact), e^r by its Taylor series to
 * degree 7 (truncation under 6e-9 relative), scaled by 2^k built in the exponent bits. Plain IEEE
 * operations without contraction, so every clone computes the same bits.
 */
static inline __attribute__((always_inline)) void vexpf(vf *v) {
  vf x = *v;
  x = VSELECT(x < -87.f, VSPLAT(-87.f), x);
  x = VSELECT(x > 88.f, VSPLAT(88.f), x);
  const vf kf = (x * 1.44269504088896341f + 12582912.f) - 12582912.f; /* round to nearest: 1.5 · 2^23 */
  const vf r = (x - kf * 0.693145751953125f) - kf * 1.42860682030941723212e-6f;
  vf p = r * (1.f / 5040.f) + (1.f / 720.f);
  p = p * r + (1.f / 120.f);
  p = p * r + (1.f / 24.f);
  p = p * r + (1.f / 6.f);
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const vi k = __builtin_convertvector(kf, vi);
  *v = p * (vf)((k + 127) << 23);
}

/* σ(x) = 1 / (1 + e^{−x}). */
static inline __attribute__((always_inline)) void vsigmoid(vf *x) {
  vf e = -*x;
  vexpf(&e);
  *x = 1.f / (1.f + e);
}

/* tanh(x) = sign(x) (1 − e^{−2|x|}) / (1 + e^{−2|x|}); absolute error about one unit in the last place of 1. */
static inline __attribute__((always_inline)) void vtanh(vf *x) {
  const vi sign = (vi)*x & (int32_t)0x80000000;
  vf e = -2.f * (vf)((vi)*x ^ sign);
  vexpf(&e);
  *x = (vf)((vi)((1.f - e) / (1.f + e)) | sign);
}

/* x[i] = f(x[i]) for i < n, VL lanes at a time; the last partial block padded with zeros, so an element's value never depends on where it lies. */
#define MAP(name, f)                                                               \
  static inline __attribute__((always_inline)) void name(float *restrict x, size_t n) { \
    size_t i = 0;                                                                  \
    for (; i + VL <= n; i += VL) {                                                 \
      vf v;                                                                        \
      memcpy(&v, x + i, sizeof v);                                                 \
      f(&v);                                                                    \
      memcpy(x + i, &v, sizeof v);                                                 \
    }                                                                              \
    if (i < n) {                                                                   \
      float t[VL] = {0};                                                           \
      vf v;                                                                        \
      memcpy(t, x + i, (n - i) * sizeof(float));                                   \
      memcpy(&v, t, sizeof v);                                                     \
      f(&v);                                                                    \
      memcpy(t, &v, sizeof v);                                                     \
      memcpy(x + i, t, (n - i) * sizeof(float));                                   \
    }                                                                              \
  }
MAP(map_sigmoid, vsigmoid)
MAP(map_tanh, vtanh)

/* s = xp_t + bias (by row), before the recurrent product is added. */
/*
 * Layout: the inputs and outputs are batch-major, rows (b, t) as tfjs lays out x [B, T, In] reshaped
 * to [B·T, In], so the input projection x·kernel arrives without a transpose and the outputs leave
 * without one. What the forward pass keeps for the backward (S, TC, CP, HP) is the kernels' own and
 * time-major, [T, B, ·]: a step's gates are then one contiguous [B, 4H] block, over which the
 * sigmoid runs in one pass. Gates are the columns [i | f | g | o] of a row of 4H, as in Keras.
 */

/* s = xp[:, t] + bias (rows of the [B, 4H] block of time t), before the recurrent product is added. */
static SPS_CLONES void gates_in(const float *restrict xp, const float *restrict bias, size_t B, size_t T, size_t t, size_t H4, float *restrict s) {
  for (size_t b = 0; b < B; b++) {
    const float *x = xp + (b * T + t) * H4;
    float *row = s + b * H4;
    for (size_t r = 0; r < H4; r++) row[r] = x[r] + bias[r];
  }
}

/*
 * The element-wise rest of a forward step, given z in s [B, 4H]: i, f, o = σ(z) and g = tanh(z) as
 * 2σ(2z) − 1 (so one sigmoid pass covers the block; g is stored in place of its sigmoid), c' = f c +
 * i g, tc = tanh(c'), then (c, h) = (c', o tc) for the sequences still running (active[b]). cn is
 * scratch [B, H].
 */
static SPS_CLONES void gates_out(float *restrict s, size_t B, size_t H, int first, const int32_t *restrict active, float *restrict c,
                                 float *restrict h, float *restrict tc, float *restrict cn) {
  const size_t H4 = 4 * H;
  for (size_t b = 0; b < B; b++)
    for (size_t u = 0; u < H; u++) s[b * H4 + 2 * H + u] *= 2.f;
  map_sigmoid(s, B * H4);
  for (size_t b = 0; b < B; b++) {
    float *z = s + b * H4;
    const float *si = z, *sf = z + H, *cb = c + b * H;
    float *g = z + 2 * H, *nb = cn + b * H;
    for (size_t u = 0; u < H; u++) g[u] = g[u] * 2.f - 1.f;
    if (first)
      for (size_t u = 0; u < H; u++) nb[u] = si[u] * g[u];
    else
      for (size_t u = 0; u < H; u++) nb[u] = sf[u] * cb[u] + si[u] * g[u];
  }
  memcpy(tc, cn, B * H * sizeof(float));
  map_tanh(tc, B * H);
  for (size_t b = 0; b < B; b++) {
    if (!active[b]) continue;
    const float *so = s + b * H4 + 3 * H, *tb = tc + b * H;
    memcpy(c + b * H, cn + b * H, H * sizeof(float));
    for (size_t u = 0; u < H; u++) h[b * H + u] = so[u] * tb[u];
  }
}

/*
 * One LSTM direction's recurrence (src/models/lstm.ts, `kernelRecurrence`; docs/models.md):
 * state h, c [B, H]; per processing step k (time t = k, or T-1-k when reversed)
 *   z = h . R + (xp[:, t] + bias)        R [H, 4H] (Keras's recurrent kernel), xp [B, T, 4H], bias [4H]
 *   [i, f, g, o] = [σ, σ, tanh, σ](columns of z), tanh as 2σ(2z) − 1
 *   c' = f c + i g;  h' = o tanh(c');  (c, h) = t < len[b] ? (c', h') : (c, h)
 * The tensor version's steps (it pre-scales the g columns of the weights instead), with the sigmoid
 * and tanh of vexpf: the two agree to rounding.
 *
 * lstmForward(dims = [T, H, B, reverse, finalOnly], xp, R, bias, len, out, S, TC, CP, HP):
 * out is hs [B, T, H] (the state after each time, carried through padding) or the final h [B, H];
 * S [T, B, 4H] the gates (g itself in its columns), TC tanh(c') and CP the c before the step
 * [T, B, H], by time, and HP the h before the step [B, T, H], in the rows of xp, for lstmBackward
 * (its weight gradient is then one product of HP with the gate gradients where they are written).
 */
int sps_lstm_forward(size_t T, size_t H, size_t B, int reverse, int final_only, const float *xp, const float *R, const float *bias,
                     const int32_t *len, float *out, float *S, float *TC, float *CP, float *HP) {
  const size_t HB = H * B, H4 = 4 * H;
  float *state = (float *)calloc(3 * HB, sizeof(float));
  int32_t *active = (int32_t *)malloc((B ? B : 1) * sizeof(int32_t));
  if (!state || !active) return free(state), free(active), -1;
  float *h = state, *c = state + HB, *cn = state + 2 * HB;
  for (size_t k = 0; k < T; k++) {
    const size_t t = reverse ? T - 1 - k : k;
    float *s = S + t * B * H4;
    gates_in(xp, bias, B, T, t, H4, s);
    if (k > 0) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)H4, (int)H, 1.f, h, (int)H, R, (int)H4, 1.f, s, (int)H4);
    for (size_t b = 0; b < B; b++) memcpy(HP + (b * T + t) * H, h + b * H, H * sizeof(float));
    memcpy(CP + t * HB, c, HB * sizeof(float));
    for (size_t b = 0; b < B; b++) active[b] = (int32_t)t < len[b];
    gates_out(s, B, H, k == 0, active, c, h, TC + t * HB, cn);
    if (!final_only)
      for (size_t b = 0; b < B; b++) memcpy(out + (b * T + t) * H, h + b * H, H * sizeof(float));
  }
  if (final_only) memcpy(out, h, HB * sizeof(float));
  free(state);
  free(active);
  return 0;
}

/*
 * The element-wise part of one backward step: from dh (the output's gradient plus the next step's,
 * [B, H]) and dc, the gate gradients dz [B, 4H] (through the sigmoid, or the tanh for g) and the dc
 * passed to the step before. A sequence's padding step (active[b] = 0) passes dh on (carry_h) and dc
 * unchanged, and gets dz = 0. s, tc, cp are the step's blocks; c before a sequence's first step is 0,
 * so its forget-gate gradient comes out 0 by itself. Row b of dz is at dz + b·ldz.
 */
static SPS_CLONES void bptt_gates(size_t B, size_t H, const int32_t *restrict active, const float *restrict dh, const float *restrict S,
                                  const float *restrict TC, const float *restrict CP, float *restrict dc, float *restrict carry_h,
                                  float *restrict dz, size_t ldz) {
  const size_t H4 = 4 * H;
  for (size_t b = 0; b < B; b++) {
    const float *s = S + b * H4, *tc = TC + b * H, *cp = CP + b * H, *dhb = dh + b * H;
    float *z = dz + b * ldz, *dcb = dc + b * H, *ch = carry_h + b * H;
    if (!active[b]) {
      memcpy(ch, dhb, H * sizeof(float));
      memset(z, 0, H4 * sizeof(float));
      continue;
    }
    memset(ch, 0, H * sizeof(float));
    for (size_t u = 0; u < H; u++) {
      const float si = s[u], sf = s[H + u], g = s[2 * H + u], so = s[3 * H + u];
      const float dct = dhb[u] * so * (1.f - tc[u] * tc[u]) + dcb[u];
      z[u] = (dct * g) * (si * (1.f - si));
      z[H + u] = (dct * cp[u]) * (sf * (1.f - sf));
      z[2 * H + u] = (dct * si) * (1.f - g * g);
      z[3 * H + u] = (dhb[u] * tc[u]) * (so * (1.f - so));
      dcb[u] = dct * sf;
    }
  }
}

/*
 * lstmBackward(dims = [T, H, B, reverse, finalOnly], dy, S, TC, CP, HP, R, len, dxp, dR, dbias):
 * backpropagation through lstmForward's steps in reverse. dy is d hs [B, T, H] (or d h_final [B, H]);
 * a sequence's padding steps pass the state's gradient through unchanged. The gate gradients of time
 * t are written straight into their rows of dxp [B, T, 4H] (row stride T·4H), and the step's product
 * reads them there; then dR = Σ_t HP_tᵀ dz_t is one product of HP [B·T, H] with dxp [B·T, 4H] (the h
 * before a sequence's first step is 0: its rows add nothing), and dbias their column sums.
 */
int sps_lstm_backward(size_t T, size_t H, size_t B, int reverse, int final_only, const float *dy, const float *S, const float *TC,
                      const float *CP, const float *HP, const float *R, const int32_t *len, float *dxp, float *dR, float *dbias) {
  const size_t HB = H * B, H4 = 4 * H, ldz = T * H4;
  float *buf = (float *)calloc(4 * HB + H4 * H, sizeof(float));
  int32_t *active = (int32_t *)malloc((B ? B : 1) * sizeof(int32_t));
  if (!buf || !active) return free(buf), free(active), -1;
  /* dh_rec: the gradient from the step after (0 before the last step), dh: the step's whole dh. */
  float *dh_rec = buf, *dc = buf + HB, *carry_h = buf + 2 * HB, *dh = buf + 3 * HB, *RT = buf + 4 * HB;
  /* Rᵀ [4H, H] once, so that each step's product is a plain one: OpenBLAS re-packs a transposed operand on every call. */
  for (size_t q = 0; q < H4; q++)
    for (size_t u = 0; u < H; u++) RT[q * H + u] = R[u * H4 + q];
  if (final_only) memcpy(dh_rec, dy, HB * sizeof(float));
  for (size_t kk = T; kk-- > 0;) {
    const size_t k = kk, t = reverse ? T - 1 - k : k;
    float *dz = dxp + t * H4;
    for (size_t b = 0; b < B; b++) {
      active[b] = (int32_t)t < len[b];
      if (final_only)
        memcpy(dh + b * H, dh_rec + b * H, H * sizeof(float));
      else
        for (size_t u = 0; u < H; u++) dh[b * H + u] = dy[(b * T + t) * H + u] + dh_rec[b * H + u];
    }
    bptt_gates(B, H, active, dh, S + t * B * H4, TC + t * HB, CP + t * HB, dc, carry_h, dz, ldz);
    if (k > 0) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)H, (int)H4, 1.f, dz, (int)ldz, RT, (int)H, 0.f, dh_rec, (int)H);
      for (size_t j = 0; j < HB; j++) dh_rec[j] += carry_h[j];
    }
  }
  if (T * B > 0)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)H, (int)H4, (int)(T * B), 1.f, HP, (int)H, dxp, (int)H4, 0.f, dR, (int)H4);
  else
    memset(dR, 0, H4 * H * sizeof(float));
  memset(dbias, 0, H4 * sizeof(float));
  for (size_t r = 0; r < T * B; r++)
    for (size_t q = 0; q < H4; q++) dbias[q] += dxp[r * H4 + q];
  free(buf);
  free(active);
  return 0;
}
