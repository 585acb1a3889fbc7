/*
 * The N-API entry points of the one-pass kernels (sps_passes.c): each checks its arguments (types,
 * sizes, ranks, a permutation) and throws a JS error naming the argument, then calls the kernel.
 */
#include <node_api.h>
#include "sps_napi.h"

/* adam(w, m, v, g, acc, k, w2, m2, v2), all Float32Array: sps_adam. */
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
      !need(env, n[5], 7, "adam constants") || !need(env, n[6], N, "adam w out") || !need(env, n[7], N, "adam m out") || !need(env, n[8], N, "adam v out"))
    return NULL;
  sps_adam(N, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]);
  return NULL;
}

/* colSum(x, dims = [rows, cols], out). */
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
  sps_col_sum(x, rows, cols, out);
  return NULL;
}

/* blocks(split, outer, whole, parts[], inners): at most 64 parts. */
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
  sps_blocks(split, (size_t)outer, whole, parts, inners, nparts);
  return NULL;
}

/* scale(x, s, out): out = x * s[0]. */
static napi_value scale(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *x, *sc, *out;
  size_t nx, ns, nout;
  if (!f32_arg(env, argv[0], &x, &nx, 0) || !f32_arg(env, argv[1], &sc, &ns, 0) || !f32_arg(env, argv[2], &out, &nout, 0) ||
      !need(env, ns, 1, "scale s") || !need(env, nout, nx, "scale out"))
    return NULL;
  sps_scale(x, nx, sc[0], out);
  return NULL;
}

/* tile(x, dims, reps, out), rank 1 to 8, dims and reps positive. */
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
  size_t in = 1, outn = 1;
  for (size_t d = nd; d-- > 0;) {
    if (xd[d] < 1 || reps[d] < 1) {
      napi_throw_range_error(env, NULL, "sps_blas: tile dims and reps must be positive");
      return NULL;
    }
    in *= (size_t)xd[d];
    outn *= (size_t)xd[d] * (size_t)reps[d];
  }
  if (!need(env, nx, in, "tile x") || !need(env, nout, outn, "tile out")) return NULL;
  sps_tile(x, xd, reps, nd, out);
  return NULL;
}

/* A 2x2 pool's dims [B, H, W, C, Ho, Wo] (six, none negative, the windows inside the input) into p. */
static int pool_dims(napi_env env, const int32_t *d, size_t nd, const char *what, size_t p[6]) {
  char msg[120];
  snprintf(msg, sizeof msg, "%s dims", what);
  if (!need(env, nd, 6, msg)) return 0;
  for (int i = 0; i < 6; i++) {
    if (d[i] < 0) {
      snprintf(msg, sizeof msg, "sps_blas: %s dims must be non-negative", what);
      napi_throw_range_error(env, NULL, msg);
      return 0;
    }
    p[i] = (size_t)d[i];
  }
  if (2 * p[4] > p[1] || 2 * p[5] > p[2]) {
    snprintf(msg, sizeof msg, "sps_blas: %s needs 2 Ho <= H and 2 Wo <= W", what);
    napi_throw_range_error(env, NULL, msg);
    return 0;
  }
  return 1;
}

/* maxPool2x2Grad(x, dy, dims = [B, H, W, C, Ho, Wo], dx), with 2 Ho <= H and 2 Wo <= W. */
static napi_value max_pool_grad(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *x, *g, *dx;
  int32_t *d;
  size_t nx, ng, nd, ndx, p[6];
  if (!f32_arg(env, argv[0], &x, &nx, 0) || !f32_arg(env, argv[1], &g, &ng, 0) || !i32_array_arg(env, argv[2], &d, &nd) ||
      !pool_dims(env, d, nd, "maxPool2x2Grad", p) || !f32_arg(env, argv[3], &dx, &ndx, 0))
    return NULL;
  const size_t B = p[0], H = p[1], W = p[2], C = p[3], Ho = p[4], Wo = p[5];
  if (!need(env, nx, B * H * W * C, "maxPool2x2Grad x") || !need(env, ng, B * Ho * Wo * C, "maxPool2x2Grad dy") ||
      !need(env, ndx, B * H * W * C, "maxPool2x2Grad dx"))
    return NULL;
  sps_max_pool_2x2_grad(x, g, dx, B, H, W, C, Ho, Wo);
  return NULL;
}

/* reluGrad(dy, y, out). */
static napi_value relu_grad(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *dy, *y, *out;
  size_t ndy, ny, nout;
  if (!f32_arg(env, argv[0], &dy, &ndy, 0) || !f32_arg(env, argv[1], &y, &ny, 0) || !f32_arg(env, argv[2], &out, &nout, 0) ||
      !need(env, ny, ndy, "reluGrad y") || !need(env, nout, ndy, "reluGrad out"))
    return NULL;
  sps_relu_grad(dy, y, ndy, out);
  return NULL;
}

/* sumSquares(x): sps_sum_squares over a Float32Array, as a number. */
static napi_value sum_squares(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *x;
  size_t n;
  if (!f32_arg(env, argv[0], &x, &n, 0)) return NULL;
  napi_value result;
  CHECK(env, napi_create_double(env, sps_sum_squares(x, n), &result));
  return result;
}

/* maxPool2x2(x, dims = [B, H, W, C, Ho, Wo], y). */
static napi_value max_pool(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *x, *y;
  int32_t *d;
  size_t nx, nd, ny, p[6];
  if (!f32_arg(env, argv[0], &x, &nx, 0) || !i32_array_arg(env, argv[1], &d, &nd) || !pool_dims(env, d, nd, "maxPool2x2", p) ||
      !f32_arg(env, argv[2], &y, &ny, 0))
    return NULL;
  const size_t B = p[0], H = p[1], W = p[2], C = p[3], Ho = p[4], Wo = p[5];
  if (!need(env, nx, B * H * W * C, "maxPool2x2 x") || !need(env, ny, B * Ho * Wo * C, "maxPool2x2 y")) return NULL;
  sps_max_pool_2x2(x, y, B, H, W, C, Ho, Wo);
  return NULL;
}

/* aleaUniform(c, s0, s1, s2, out): the generator's state as four numbers, out float32. */
static napi_value alea_uniform(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double state[4];
  for (int i = 0; i < 4; i++)
    if (napi_get_value_double(env, argv[i], &state[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, "sps_blas: aleaUniform expects the state as four numbers");
      return NULL;
    }
  float *out;
  size_t nout;
  if (!f32_arg(env, argv[4], &out, &nout, 0)) return NULL;
  sps_alea_uniform(state, nout, out);
  return NULL;
}

/* transpose(x, dims, perm, out), rank 1 to 8, perm a permutation of the axes. */
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
  size_t n = 1;
  int seen = 0;
  for (size_t d = nd; d-- > 0;) {
    if (xd[d] < 0 || perm[d] < 0 || perm[d] >= (int32_t)nd || (seen >> perm[d]) & 1) {
      napi_throw_range_error(env, NULL, "sps_blas: transpose needs non-negative dims and a permutation of the axes");
      return NULL;
    }
    seen |= 1 << perm[d];
    n *= (size_t)xd[d];
  }
  if (!need(env, nx, n, "transpose x") || !need(env, nout, n, "transpose out")) return NULL;
  sps_transpose(x, xd, perm, nd, out);
  return NULL;
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
             {"maxPool2x2", max_pool},
             {"maxPool2x2Grad", max_pool_grad},
             {"sumSquares", sum_squares},
             {"reluGrad", relu_grad},
             {"aleaUniform", alea_uniform}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok) return 0;
    if (napi_set_named_property(env, exports, fns[i].name, f) != napi_ok) return 0;
  }
  return 1;
}
