/*
 * The N-API entry points of the fused chain-CRF kernels (sps_crf.c): each checks its arguments
 * (sizes, the objective code, every length in [1, T] and every label in [0, K)) and throws a JS
 * error naming the argument, then calls the kernel.
 */
#include <node_api.h>
#include "sps_napi.h"

/* Throws unless every lengths[b] is in [1, T] and every label row (when given) is in [0, K) at t < L. */
static int check_sequences(napi_env env, const int32_t *len, size_t B, size_t T, size_t K, const int32_t *const *rows, const char *const *names, int nrows) {
  for (size_t b = 0; b < B; b++) {
    if (len[b] < 1 || (size_t)len[b] > T) {
      napi_throw_range_error(env, NULL, "sps_crf: a length is outside [1, T]");
      return 0;
    }
    for (int i = 0; i < nrows; i++)
      if (rows[i])
        for (size_t t = 0; t < (size_t)len[b]; t++)
          if (rows[i][b * T + t] < 0 || (size_t)rows[i][b * T + t] >= K) {
            char msg[120];
            snprintf(msg, sizeof msg, "sps_crf: %s[%zu][%zu] is outside [0, K)", names[i], b, t);
            napi_throw_range_error(env, NULL, msg);
            return 0;
          }
  }
  return 1;
}

static napi_value out_of_memory(napi_env env) {
  napi_throw_error(env, NULL, "sps_crf: out of memory");
  return NULL;
}

/* chainCrf(dims = [B, T, K, objective, iterations], unary, pairwise, lengths, labels|null, allowed|null, maximiser|null, value, gU, gW) -> 0 or 1 (declined). */
static napi_value chain_crf(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t *d, *len, *labels, *allowed, *maximiser;
  float *unary, *pw, *value, *gU, *gW;
  size_t nd, nlen, nlab, nal, nmax, nu, npw, nv, ngu, ngw;
  if (!i32_array_arg(env, argv[0], &d, &nd) || !need(env, nd, 5, "chainCrf dims") || !f32_arg(env, argv[1], &unary, &nu, 0) ||
      !f32_arg(env, argv[2], &pw, &npw, 0) || !i32_array_arg(env, argv[3], &len, &nlen) || !i32_nullable_arg(env, argv[4], &labels, &nlab) ||
      !i32_nullable_arg(env, argv[5], &allowed, &nal) || !i32_nullable_arg(env, argv[6], &maximiser, &nmax) ||
      !f32_arg(env, argv[7], &value, &nv, 0) || !f32_arg(env, argv[8], &gU, &ngu, 0) || !f32_arg(env, argv[9], &gW, &ngw, 0))
    return NULL;
  if (d[0] < 1 || d[1] < 1 || d[2] < 1 || d[3] < 0 || d[3] > OBJ_SSVM || d[4] < 0) {
    napi_throw_range_error(env, NULL, "sps_crf: chainCrf dims must be positive, the objective a known code, the iterations >= 0");
    return NULL;
  }
  const size_t B = d[0], T = d[1], K = d[2], iterations = d[4];
  const int obj = d[3];
  if (!need(env, nu, B * T * K, "chainCrf unary") || !need(env, npw, K * K, "chainCrf pairwise") || !need(env, nlen, B, "chainCrf lengths") ||
      (obj != OBJ_LOG_PARTITION && !need(env, nlab, B * T, "chainCrf labels")) || (allowed && !need(env, nal, K * K, "chainCrf allowed")) ||
      (maximiser && !need(env, nmax, B * T, "chainCrf maximiser")) || !need(env, nv, B, "chainCrf value") ||
      !need(env, ngu, B * T * K, "chainCrf gU") || !need(env, ngw, B * K * K, "chainCrf gW"))
    return NULL;
  const int32_t *rows[2] = {obj == OBJ_LOG_PARTITION ? NULL : labels, obj == OBJ_SSVM ? maximiser : NULL};
  const char *names[2] = {"labels", "maximiser"};
  if (!check_sequences(env, len, B, T, K, rows, names, 2)) return NULL;
  const int status = sps_chain_crf(B, T, K, obj, iterations, unary, pw, len, labels, allowed, maximiser, value, gU, gW);
  if (status < 0) return out_of_memory(env);
  napi_value result;
  CHECK(env, napi_create_int32(env, status, &result));
  return result;
}

/* chainCrfGrad(dims = [B, T, K], dy [B], gU, gW, dU, dW). */
static napi_value chain_crf_grad(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t *d;
  float *dy, *gU, *gW, *dU, *dW;
  size_t nd, ndy, ngu, ngw, ndu, ndw;
  if (!i32_array_arg(env, argv[0], &d, &nd) || !need(env, nd, 3, "chainCrfGrad dims") || !f32_arg(env, argv[1], &dy, &ndy, 0) ||
      !f32_arg(env, argv[2], &gU, &ngu, 0) || !f32_arg(env, argv[3], &gW, &ngw, 0) || !f32_arg(env, argv[4], &dU, &ndu, 0) ||
      !f32_arg(env, argv[5], &dW, &ndw, 0))
    return NULL;
  const size_t B = d[0], TK = (size_t)d[1] * d[2], KK = (size_t)d[2] * d[2];
  if (!need(env, ndy, B, "chainCrfGrad dy") || !need(env, ngu, B * TK, "chainCrfGrad gU") || !need(env, ngw, B * KK, "chainCrfGrad gW") ||
      !need(env, ndu, B * TK, "chainCrfGrad dU") || !need(env, ndw, KK, "chainCrfGrad dW"))
    return NULL;
  if (sps_chain_crf_grad(B, (size_t)d[1], (size_t)d[2], dy, gU, gW, dU, dW)) return out_of_memory(env);
  return NULL;
}

/* chainViterbi(dims = [B, T, K], unary, pairwise, lengths, allowed|null, gold|null, labels [B·T]). */
static napi_value chain_viterbi(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t *d, *len, *allowed, *gold, *out;
  float *unary, *pw;
  size_t nd, nu, npw, nlen, nal, ngold, nout;
  if (!i32_array_arg(env, argv[0], &d, &nd) || !need(env, nd, 3, "chainViterbi dims") || !f32_arg(env, argv[1], &unary, &nu, 0) ||
      !f32_arg(env, argv[2], &pw, &npw, 0) || !i32_array_arg(env, argv[3], &len, &nlen) || !i32_nullable_arg(env, argv[4], &allowed, &nal) ||
      !i32_nullable_arg(env, argv[5], &gold, &ngold) || !i32_array_arg(env, argv[6], &out, &nout))
    return NULL;
  if (d[0] < 1 || d[1] < 1 || d[2] < 1) {
    napi_throw_range_error(env, NULL, "sps_crf: chainViterbi dims must be positive");
    return NULL;
  }
  const size_t B = d[0], T = d[1], K = d[2];
  if (!need(env, nu, B * T * K, "chainViterbi unary") || !need(env, npw, K * K, "chainViterbi pairwise") || !need(env, nlen, B, "chainViterbi lengths") ||
      (allowed && !need(env, nal, K * K, "chainViterbi allowed")) || (gold && !need(env, ngold, B * T, "chainViterbi gold")) ||
      !need(env, nout, B * T, "chainViterbi labels"))
    return NULL;
  const int32_t *rows[1] = {gold};
  const char *names[1] = {"gold"};
  if (!check_sequences(env, len, B, T, K, rows, names, 1)) return NULL;
  if (sps_chain_viterbi(B, T, K, unary, pw, len, allowed, gold, out)) return out_of_memory(env);
  return NULL;
}

/* Adds the CRF kernels to the addon's exports (called by sps_blas.c's module init). */
int sps_crf_register(napi_env env, napi_value exports) {
  const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {{"chainCrf", chain_crf}, {"chainCrfGrad", chain_crf_grad}, {"chainViterbi", chain_viterbi}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok) return 0;
    if (napi_set_named_property(env, exports, fns[i].name, f) != napi_ok) return 0;
  }
  return 1;
}
