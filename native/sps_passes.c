/*
 * sps's native kernels that make one pass over their data: the Adam step, column sums, block copies
 * (concat, split, tile, transpose), a scaling, and the ReLU and 2x2 max-pool gradients. Views of the
 * wasm heap in, views out (src/backend/blas/kernels.ts); registered by sps_blas.c's module init.
 */
#include <node_api.h>
#include "sps_napi.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * The Adam loop of adam() below. restrict: the arrays are distinct tensors, which lets GCC vectorise
 * it; element-wise IEEE operations (sqrt included, -fno-math-errno) give the same results either way.
 */
static void adam_loop(size_t N, const float *restrict w, const float *restrict m, const float *restrict v, const float *restrict g,
                      const float *acc, const float *k, float *restrict w2, float *restrict m2, float *restrict v2) {
  const float a1 = acc[0], a2 = acc[1], b1 = k[0], c1 = k[1], b2 = k[2], c2 = k[3], eps = k[4], neg_lr = k[5];
  for (size_t i = 0; i < N; i++) {
    const float mi = m[i] * b1 + g[i] * c1;
    const float vi = v[i] * b2 + (g[i] * g[i]) * c2;
    m2[i] = mi;
    v2[i] = vi;
    w2[i] = ((mi / a1) / (sqrtf(vi / a2) + eps)) * neg_lr + w[i];
  }
}

/*
 * adam(w, m, v, g, acc, k, w2, m2, v2): one Adam step over one variable, element by element, with
 * tfjs's AdamOptimizer's float32 operations in its order (so the result is the same to the bit):
 *   m2 = m b1 + g (1 - b1);  v2 = v b2 + g^2 (1 - b2)
 *   w2 = ((m2 / acc0) / (sqrt(v2 / acc1) + eps)) (-lr) + w
 * with acc = [1 - b1^t, 1 - b2^t] and k = [b1, 1 - b1, b2, 1 - b2, eps, -lr], all float32.
 */
static napi_value adam(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *p[9];
  size_t n[9];
  for (int i = 0; i < 9; i++)
    if (!f32_arg(env, argv[i], &p[i], &n[i], 0)) return NULL;
  const size_t N = n[0];
  if (!need(env, n[1], N, "adam m") || !need(env, n[2], N, "adam v") || !need(env, n[3], N, "adam g") || !need(env, n[4], 2, "adam acc") ||
      !need(env, n[5], 6, "adam constants") || !need(env, n[6], N, "adam w out") || !need(env, n[7], N, "adam m out") || !need(env, n[8], N, "adam v out"))
    return NULL;
  adam_loop(N, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]);
  return NULL;
}

/* colSum(x, dims = [rows, cols], out): out[c] = sum over r of x[r, c] (a reduction over leading axes). */
static napi_value col_sum(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *x, *out;
  int32_t *d;
  size_t nx, nd, nout;
  if (!f32_arg(env, argv[0], &x, &nx, 0) || !i32_array_arg(env, argv[1], &d, &nd) || !need(env, nd, 2, "colSum dims") ||
      !f32_arg(env, argv[2], &out, &nout, 0))
    return NULL;
  const size_t rows = d[0], cols = d[1];
  if (!need(env, nx, rows * cols, "colSum x") || !need(env, nout, cols, "colSum out")) return NULL;
  memset(out, 0, cols * sizeof(float));
  for (size_t r = 0; r < rows; r++) {
    const float *row = x + r * cols;
    for (size_t c = 0; c < cols; c++) out[c] += row[c];
  }
  return NULL;
}

/*
 * blocks(split, outer, whole, parts[], inners): the whole is outer rows, each the parts' rows side by
 * side (part i contributes inners[i] floats per row): concat (split = 0) copies the parts into the
 * whole, split (1) the whole into the parts. A concat or split along any axis is this, with outer the
 * product of the dims before the axis.
 */
static napi_value blocks(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t split, outer;
  float *whole;
  int32_t *inners;
  size_t nwhole, ninners;
  uint32_t nparts;
  CHECK(env, napi_get_value_int32(env, argv[0], &split));
  CHECK(env, napi_get_value_int32(env, argv[1], &outer));
  if (!f32_arg(env, argv[2], &whole, &nwhole, 0) || !i32_array_arg(env, argv[4], &inners, &ninners)) return NULL;
  CHECK(env, napi_get_array_length(env, argv[3], &nparts));
  if (!need(env, ninners, nparts, "blocks inners") || nparts > 64) {
    if (nparts > 64) napi_throw_range_error(env, NULL, "sps_blas: blocks takes at most 64 parts");
    return NULL;
  }
  float *parts[64];
  size_t width = 0;
  for (uint32_t i = 0; i < nparts; i++) {
    napi_value v;
    size_t n;
    CHECK(env, napi_get_element(env, argv[3], i, &v));
    if (!f32_arg(env, v, &parts[i], &n, 0) || !need(env, n, (size_t)outer * inners[i], "blocks part")) return NULL;
    width += inners[i];
  }
  if (!need(env, nwhole, (size_t)outer * width, "blocks whole")) return NULL;
  for (size_t o = 0; o < (size_t)outer; o++) {
    float *row = whole + o * width;
    for (uint32_t i = 0; i < nparts; i++) {
      const size_t w = inners[i];
      if (split)
        memcpy(parts[i] + o * w, row, w * sizeof(float));
      else
        memcpy(row, parts[i] + o * w, w * sizeof(float));
      row += w;
    }
  }
  return NULL;
}

/* scale(x, s, out): out = x * s[0] (a product with a broadcast scalar, such as gradient clipping's factor). */
static napi_value scale(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *x, *sc, *out;
  size_t nx, ns, nout;
  if (!f32_arg(env, argv[0], &x, &nx, 0) || !f32_arg(env, argv[1], &sc, &ns, 0) || !f32_arg(env, argv[2], &out, &nout, 0) ||
      !need(env, ns, 1, "scale s") || !need(env, nout, nx, "scale out"))
    return NULL;
  const float v = sc[0];
  const float *restrict xi = x;
  float *restrict o = out;
  for (size_t i = 0; i < nx; i++) o[i] = xi[i] * v;
  return NULL;
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
static napi_value tile(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *x, *out;
  int32_t *xd, *reps;
  size_t nx, nd, nr, nout;
  if (!f32_arg(env, argv[0], &x, &nx, 0) || !i32_array_arg(env, argv[1], &xd, &nd) || !i32_array_arg(env, argv[2], &reps, &nr) ||
      !f32_arg(env, argv[3], &out, &nout, 0) || !need(env, nr, nd, "tile reps"))
    return NULL;
  if (nd < 1 || nd > 8) {
    napi_throw_range_error(env, NULL, "sps_blas: tile takes a rank from 1 to 8");
    return NULL;
  }
  size_t in_inner[8], out_inner[8], in = 1, outn = 1;
  for (size_t d = nd; d-- > 0;) {
    if (xd[d] < 1 || reps[d] < 1) {
      napi_throw_range_error(env, NULL, "sps_blas: tile dims and reps must be positive");
      return NULL;
    }
    in_inner[d] = in;
    out_inner[d] = outn;
    in *= (size_t)xd[d];
    outn *= (size_t)xd[d] * (size_t)reps[d];
  }
  if (!need(env, nx, in, "tile x") || !need(env, nout, outn, "tile out")) return NULL;
  tile_block(x, out, xd, reps, nd, 0, in_inner, out_inner);
  return NULL;
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

static SPS_CLONES void max_pool_2x2_grad(const float *restrict x, const float *restrict g, float *restrict dx, size_t B, size_t H, size_t W,
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

/* maxPool2x2Grad(x, dy, dims = [B, H, W, C, Ho, Wo], dx): max_pool_2x2_grad, with 2 Ho <= H and 2 Wo <= W. */
static napi_value max_pool_grad(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *x, *g, *dx;
  int32_t *d;
  size_t nx, ng, nd, ndx;
  if (!f32_arg(env, argv[0], &x, &nx, 0) || !f32_arg(env, argv[1], &g, &ng, 0) || !i32_array_arg(env, argv[2], &d, &nd) ||
      !need(env, nd, 6, "maxPool2x2Grad dims") || !f32_arg(env, argv[3], &dx, &ndx, 0))
    return NULL;
  for (int i = 0; i < 6; i++)
    if (d[i] < 0) {
      napi_throw_range_error(env, NULL, "sps_blas: maxPool2x2Grad dims must be non-negative");
      return NULL;
    }
  const size_t B = d[0], H = d[1], W = d[2], C = d[3], Ho = d[4], Wo = d[5];
  if (2 * Ho > H || 2 * Wo > W) {
    napi_throw_range_error(env, NULL, "sps_blas: maxPool2x2Grad needs 2 Ho <= H and 2 Wo <= W");
    return NULL;
  }
  if (!need(env, nx, B * H * W * C, "maxPool2x2Grad x") || !need(env, ng, B * Ho * Wo * C, "maxPool2x2Grad dy") ||
      !need(env, ndx, B * H * W * C, "maxPool2x2Grad dx"))
    return NULL;
  max_pool_2x2_grad(x, g, dx, B, H, W, C, Ho, Wo);
  return NULL;
}

/* reluGrad(dy, y, out): out = dy where y > 0, else 0 (the gradient of y = relu(x) from its output; sps's fused conv + ReLU). */
static napi_value relu_grad(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *dy, *y, *out;
  size_t ndy, ny, nout;
  if (!f32_arg(env, argv[0], &dy, &ndy, 0) || !f32_arg(env, argv[1], &y, &ny, 0) || !f32_arg(env, argv[2], &out, &nout, 0) ||
      !need(env, ny, ndy, "reluGrad y") || !need(env, nout, ndy, "reluGrad out"))
    return NULL;
  const float *restrict d = dy, *restrict v = y;
  float *restrict o = out;
  for (size_t i = 0; i < ndy; i++) o[i] = v[i] > 0.f ? d[i] : 0.f;
  return NULL;
}

/* Square tiles of the 2-D transposes: a tile of each side stays in L1 while it is read across and written along. */
#define TR_TILE 32

/*
 * transpose(x, dims, perm, out): out = x with its axes permuted (tf.transpose: out's axis i is x's
 * axis perm[i]), float32, rank 1 to 8. Axes of size 1 are dropped and axes that stay neighbours are
 * merged first, so what is left is a stack of 2-D transposes (x's last axis lands inside out), each
 * copied in square tiles, or of contiguous rows (x's last axis stays last).
 */
static napi_value transpose(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *x, *out;
  int32_t *xd, *perm;
  size_t nx, nd, np, nout;
  if (!f32_arg(env, argv[0], &x, &nx, 0) || !i32_array_arg(env, argv[1], &xd, &nd) || !i32_array_arg(env, argv[2], &perm, &np) ||
      !f32_arg(env, argv[3], &out, &nout, 0) || !need(env, np, nd, "transpose perm"))
    return NULL;
  if (nd < 1 || nd > 8) {
    napi_throw_range_error(env, NULL, "sps_blas: transpose takes a rank from 1 to 8");
    return NULL;
  }
  size_t stride[8], n = 1;
  int seen = 0;
  for (size_t d = nd; d-- > 0;) {
    if (xd[d] < 0 || perm[d] < 0 || perm[d] >= (int32_t)nd || (seen >> perm[d]) & 1) {
      napi_throw_range_error(env, NULL, "sps_blas: transpose needs non-negative dims and a permutation of the axes");
      return NULL;
    }
    seen |= 1 << perm[d];
    stride[d] = n;
    n *= (size_t)xd[d];
  }
  if (!need(env, nx, n, "transpose x") || !need(env, nout, n, "transpose out")) return NULL;
  if (n == 0) return NULL;
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
    return NULL;
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
      if (k-- == 0) return NULL;
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

/* Adds these kernels to the addon's exports (called by sps_blas.c's module init). */
int sps_passes_register(napi_env env, napi_value exports) {
  const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {{"adam", adam},
             {"colSum", col_sum},
             {"blocks", blocks},
             {"scale", scale},
             {"tile", tile},
             {"transpose", transpose},
             {"maxPool2x2Grad", max_pool_grad},
             {"reluGrad", relu_grad}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok) return 0;
    if (napi_set_named_property(env, exports, fns[i].name, f) != napi_ok) return 0;
  }
  return 1;
}
