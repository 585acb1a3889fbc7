/*
 * sps's native kernels that make one pass over their data: the Adam step, column sums, block copies
 * (concat, split, tile, transpose), a scaling, and the ReLU and 2x2 max-pool gradients. Views of the
 * wasm heap in, views out (src/backend/native/kernels.ts); their N-API entry points, which check the
 * arguments' sizes, are in sps_passes_napi.c.
 */
#include "sps_kernels.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * adam(w, m, v, g, acc, k, w2, m2, v2): one Adam step over one variable, element by element, with
 * tfjs's AdamOptimizer's float32 operations in its order (so the result is the same to the bit):
 *   m2 = m b1 + g (1 - b1);  v2 = v b2 + g^2 (1 - b2)
 *   w2 = ((m2 / acc0) / (sqrt(v2 / acc1) + eps)) (-lr) + w
 * with acc = [1 - b1^t, 1 - b2^t] and k = [b1, 1 - b1, b2, 1 - b2, eps, -lr, s], all float32, where
 * the gradient g is first multiplied by s (a clipping factor; 1 when nothing is clipped).
 * restrict: the arrays are distinct tensors, which lets GCC vectorise the loop; element-wise IEEE
 * operations (sqrt included, -fno-math-errno) give the same results either way.
 */
void sps_adam(size_t N, const float *restrict w, const float *restrict m, const float *restrict v, const float *restrict g,
              const float *acc, const float *k, float *restrict w2, float *restrict m2, float *restrict v2) {
  const float a1 = acc[0], a2 = acc[1], b1 = k[0], c1 = k[1], b2 = k[2], c2 = k[3], eps = k[4], neg_lr = k[5], s = k[6];
  for (size_t i = 0; i < N; i++) {
    /* g·s is the product tf.mul(g, s) gives (global-norm clipping's factor); s = 1 leaves g as it is. */
    const float gi = g[i] * s;
    const float mi = m[i] * b1 + gi * c1;
    const float vi = v[i] * b2 + (gi * gi) * c2;
    m2[i] = mi;
    v2[i] = vi;
    w2[i] = ((mi / a1) / (sqrtf(vi / a2) + eps)) * neg_lr + w[i];
  }
}

/* colSum(x, dims = [rows, cols], out): out[c] = sum over r of x[r, c] (a reduction over leading axes). */
void sps_col_sum(const float *x, size_t rows, size_t cols, float *out) {
  memset(out, 0, cols * sizeof(float));
  for (size_t r = 0; r < rows; r++) {
    const float *row = x + r * cols;
    for (size_t c = 0; c < cols; c++) out[c] += row[c];
  }
}

/*
 * blocks(split, outer, whole, parts[], inners): the whole is outer rows, each the parts' rows side by
 * side (part i contributes inners[i] floats per row): concat (split = 0) copies the parts into the
 * whole, split (1) the whole into the parts. A concat or split along any axis is this, with outer the
 * product of the dims before the axis.
 */
void sps_blocks(int split, size_t outer, float *whole, float *const *parts, const int32_t *inners, size_t nparts) {
  size_t width = 0;
  for (size_t i = 0; i < nparts; i++) width += (size_t)inners[i];
  for (size_t o = 0; o < outer; o++) {
    float *row = whole + o * width;
    for (size_t i = 0; i < nparts; i++) {
      const size_t w = inners[i];
      if (split)
        memcpy(parts[i] + o * w, row, w * sizeof(float));
      else
        memcpy(row, parts[i] + o * w, w * sizeof(float));
      row += w;
    }
  }
}

/* scale(x, s, out): out = x * s[0] (a product with a broadcast scalar, such as gradient clipping's factor). */
void sps_scale(const float *x, size_t n, float s, float *out) {
  const float *restrict xi = x;
  float *restrict o = out;
  for (size_t i = 0; i < n; i++) o[i] = xi[i] * s;
}

/*
 * The block of y for dims d.. of a tile: x's rows at dim d, each tiled over the dims after it, then
 * that block repeated reps[d] times by doubling copies (log2 reps memcpys, not reps).
 */
static void tile_block(const float *x, float *y, const int32_t *xd, const int32_t *reps, size_t nd, size_t d, const size_t *in_inner,
                       const size_t *out_inner) {
  if (d + 1 == nd)
    memcpy(y, x, (size_t)xd[d] * sizeof(float));
  else
    for (size_t j = 0; j < (size_t)xd[d]; j++) tile_block(x + j * in_inner[d], y + j * out_inner[d], xd, reps, nd, d + 1, in_inner, out_inner);
  const size_t block = (size_t)xd[d] * out_inner[d], r = (size_t)reps[d];
  for (size_t done = 1; done < r;) {
    const size_t c = done < r - done ? done : r - done;
    memcpy(y + done * block, y, c * block * sizeof(float));
    done += c;
  }
}

/* tile(x, dims, reps, out): out = x repeated reps[i] times along each dim i (tf.tile, tf.broadcastTo), rank 1 to 8. */
void sps_tile(const float *x, const int32_t *xd, const int32_t *reps, size_t nd, float *out) {
  size_t in_inner[8], out_inner[8], in = 1, outn = 1;
  for (size_t d = nd; d-- > 0;) {
    in_inner[d] = in;
    out_inner[d] = outn;
    in *= (size_t)xd[d];
    outn *= (size_t)xd[d] * (size_t)reps[d];
  }
  tile_block(x, out, xd, reps, nd, 0, in_inner, out_inner);
}

/*
 * The gradient of a 2x2 max pool at stride 2 without padding (LeNet's and the U-net's pools), NHWC:
 * each output's dy goes to its window's maximum, picked by tfjs-backend-cpu's rule (row-major order,
 * a later value wins only if strictly greater, NaN never wins, none in a window of NaN and -inf).
 * The windows do not overlap, so every input gets one window's value or 0, written without branches
 * along the channels (0 + dy, so a -0 arrives as +0, as cpu's sum into zeros gives).
 */
typedef float mp_vf __attribute__((vector_size(8 * sizeof(float))));
typedef int32_t mp_vi __attribute__((vector_size(8 * sizeof(float))));

/* y where the mask m is set (all ones), else z: compares give such masks, so nothing branches. */
#define MP_SEL(m, y, z) ((mp_vf)(((mp_vi)(y) & (m)) | ((mp_vi)(z) & ~(m))))

/*
 * Eight channels of one window: v[0..3] the window's values in row-major order, v[4] its dy; out[0..3]
 * the dx of each value. The running maximum starts at -inf and only a strictly greater value replaces
 * it, so NaN never wins and an all -inf/NaN window sends its dy nowhere.
 */
static inline __attribute__((always_inline)) void mp_window(const mp_vf *v, mp_vf *out) {
  const mp_vf ninf = (mp_vf){0} - INFINITY, zero = {0};
  const mp_vf g = v[4] + 0.f; /* 0 + dy: a -0 arrives as +0, as cpu's sum into zeros gives */
  const mp_vi c0 = v[0] > ninf;
  const mp_vf b0 = MP_SEL(c0, v[0], ninf);
  const mp_vi c1 = v[1] > b0;
  const mp_vf b1 = MP_SEL(c1, v[1], b0);
  const mp_vi c2 = v[2] > b1;
  const mp_vf b2 = MP_SEL(c2, v[2], b1);
  const mp_vi c3 = v[3] > b2;
  out[3] = MP_SEL(c3, g, zero);
  out[2] = MP_SEL(c2 & ~c3, g, zero);
  out[1] = MP_SEL(c1 & ~c2 & ~c3, g, zero);
  out[0] = MP_SEL(c0 & ~c1 & ~c2 & ~c3, g, zero);
}

SPS_CLONES void sps_max_pool_2x2_grad(const float *restrict x, const float *restrict g, float *restrict dx, size_t B, size_t H, size_t W,
                                  size_t C, size_t Ho, size_t Wo) {
  const size_t rs = W * C;
  memset(dx, 0, B * H * rs * sizeof(float));
  for (size_t b = 0; b < B; b++)
    for (size_t yr = 0; yr < Ho; yr++)
      for (size_t yc = 0; yc < Wo; yc++) {
        const size_t p = (b * H + 2 * yr) * rs + 2 * yc * C;
        const size_t at[4] = {p, p + C, p + rs, p + rs + C}; /* the window's four inputs, row-major */
        const float *gw = g + ((b * Ho + yr) * Wo + yc) * C;
        mp_vf v[5], o[4];
        size_t d = 0;
        for (; d + 8 <= C; d += 8) {
          for (int i = 0; i < 4; i++) memcpy(&v[i], x + at[i] + d, sizeof(mp_vf));
          memcpy(&v[4], gw + d, sizeof(mp_vf));
          mp_window(v, o);
          for (int i = 0; i < 4; i++) memcpy(dx + at[i] + d, &o[i], sizeof(mp_vf));
        }
        if (d < C) { /* the last channels through zero-padded lanes */
          float in[5][8] = {{0}}, res[4][8];
          for (size_t j = 0; j < C - d; j++) {
            for (int i = 0; i < 4; i++) in[i][j] = x[at[i] + d + j];
            in[4][j] = gw[d + j];
          }
          memcpy(v, in, sizeof v);
          mp_window(v, o);
          memcpy(res, o, sizeof o);
          for (size_t j = 0; j < C - d; j++)
            for (int i = 0; i < 4; i++) dx[at[i] + d + j] = res[i][j];
        }
      }
}

/*
 * sumSquares(x, n): the sum of x[i]^2 over i, each square rounded to float32 (as tf.square gives it)
 * and summed in double over eight interleaved partial sums, which the compiler can keep in vector
 * lanes. The squared global norm of gradient clipping: the result differs from tfjs's float32 sum of
 * squares only in rounding, and is rounded to float32 by the caller.
 */
SPS_CLONES double sps_sum_squares(const float *x, size_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) {
      const float q = x[i + j] * x[i + j];
      acc[j] += (double)q;
    }
  for (; i < n; i++) {
    const float q = x[i] * x[i];
    acc[0] += (double)q;
  }
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/*
 * A 2x2 max pool at stride 2 without padding, NHWC (the forward of the gradient above): each output is
 * its window's maximum by tfjs-backend-cpu's rule, the running maximum starting at -inf and replaced
 * only by a strictly greater value (so NaN never wins and a window of NaN and -inf gives -inf).
 */
SPS_CLONES void sps_max_pool_2x2(const float *restrict x, float *restrict y, size_t B, size_t H, size_t W, size_t C, size_t Ho, size_t Wo) {
  const size_t rs = W * C;
  for (size_t b = 0; b < B; b++)
    for (size_t yr = 0; yr < Ho; yr++)
      for (size_t yc = 0; yc < Wo; yc++) {
        const size_t p = (b * H + 2 * yr) * rs + 2 * yc * C;
        const float *x0 = x + p, *x1 = x + p + C, *x2 = x + p + rs, *x3 = x + p + rs + C;
        float *out = y + ((b * Ho + yr) * Wo + yc) * C;
        for (size_t d = 0; d < C; d++) {
          float m = -INFINITY;
          m = x0[d] > m ? x0[d] : m;
          m = x1[d] > m ? x1[d] : m;
          m = x2[d] > m ? x2[d] : m;
          m = x3[d] > m ? x3[d] : m;
          out[d] = m;
        }
      }
}

/* reluGrad(dy, y, out): out = dy where y > 0, else 0 (the gradient of y = relu(x) from its output; sps's fused conv + ReLU). */
void sps_relu_grad(const float *dy, const float *y, size_t n, float *out) {
  const float *restrict d = dy, *restrict v = y;
  float *restrict o = out;
  /* dy is read whatever y's sign: a load only on one side of the test stops the compiler from
     vectorising, and the branch it leaves is mispredicted about half the time on a ReLU's output. */
  for (size_t i = 0; i < n; i++) {
    const float g = d[i];
    o[i] = v[i] > 0.f ? g : 0.f;
  }
}

/*
 * aleaUniform(state, out): n draws of seedrandom's Alea generator from state {c, s0, s1, s2}, each
 * rounded to float32: the stream tf.randomUniform(shape, 0, 1, 'float32', seed) fills element by
 * element in JavaScript (tf.dropout's mask), bit for bit. Each step is the generator's own double
 * arithmetic, t = 2091639·s0 + c·2^-32, c = t truncated to int32, s2 = t − c; it needs
 * -ffp-contract=off (the build's flag) so that no FMA changes a rounding, and it stays serial.
 */
void sps_alea_uniform(const double *state, size_t n, float *out) {
  double c = state[0], s0 = state[1], s1 = state[2], s2 = state[3];
  for (size_t i = 0; i < n; i++) {
    const double t = 2091639.0 * s0 + c * 2.3283064365386963e-10;
    s0 = s1;
    s1 = s2;
    c = (double)(int32_t)t;
    s2 = t - c;
    out[i] = (float)s2;
  }
}

/* Square tiles of the 2-D transposes: a tile of each side stays in L1 while it is read across and written along. */
#define TR_TILE 32

/*
 * transpose(x, dims, perm, out): out = x with its axes permuted (tf.transpose: out's axis i is x's
 * axis perm[i]), float32, rank 1 to 8. Axes of size 1 are dropped and axes that stay neighbours are
 * merged first, so what is left is a stack of 2-D transposes (x's last axis lands inside out), each
 * copied in square tiles, or of contiguous rows (x's last axis stays last).
 */
void sps_transpose(const float *x, const int32_t *xd, const int32_t *perm, size_t nd, float *out) {
  size_t stride[8], n = 1;
  for (size_t d = nd; d-- > 0;) {
    stride[d] = n;
    n *= (size_t)xd[d];
  }
  if (n == 0) return;
  /* Out's axes (size, stride in x), without size-1 axes, neighbours in x merged. */
  size_t sz[8], st[8], r = 0;
  for (size_t i = 0; i < nd; i++) {
    const size_t a = (size_t)perm[i], len = (size_t)xd[a];
    if (len == 1) continue;
    if (r > 0 && st[r - 1] == stride[a] * len) {
      sz[r - 1] *= len;
      st[r - 1] = stride[a];
    } else {
      sz[r] = len;
      st[r] = stride[a];
      r++;
    }
  }
  if (r == 0 || (r == 1 && st[0] == 1)) {
    memcpy(out, x, n * sizeof(float));
    return;
  }
  /* a: out's axis holding x's last (stride 1); l: out's last. */
  size_t a = 0;
  while (st[a] != 1) a++;
  const size_t l = r - 1, rows = a == l ? 1 : sz[a], cols = sz[l], row_len = a == l ? sz[l] : 1;
  size_t ost[8], o = 1;
  for (size_t i = r; i-- > 0;) {
    ost[i] = o;
    o *= sz[i];
  }
  /* Odometer over the other axes. */
  size_t idx[8] = {0}, xoff = 0, ooff = 0;
  for (;;) {
    if (a == l) {
      memcpy(out + ooff, x + xoff, row_len * sizeof(float));
    } else {
      const size_t sl = st[l], oa = ost[a];
      for (size_t i0 = 0; i0 < rows; i0 += TR_TILE)
        for (size_t j0 = 0; j0 < cols; j0 += TR_TILE) {
          const size_t i1 = i0 + TR_TILE < rows ? i0 + TR_TILE : rows, j1 = j0 + TR_TILE < cols ? j0 + TR_TILE : cols;
          for (size_t i = i0; i < i1; i++)
            for (size_t j = j0; j < j1; j++) out[ooff + i * oa + j] = x[xoff + i + j * sl];
        }
    }
    size_t k = r;
    for (;;) {
      if (k-- == 0) return;
      if (k == a || k == l) continue;
      if (++idx[k] < sz[k]) {
        xoff += st[k];
        ooff += ost[k];
        break;
      }
      xoff -= (idx[k] - 1) * st[k];
      ooff -= (idx[k] - 1) * ost[k];
      idx[k] = 0;
    }
  }
}
