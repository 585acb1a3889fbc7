/*
 * The N-API entry points of the LSTM kernels (sps_lstm.c): argument checks, then one call each.
 * lstmForward(dims = [T, H, B, reverse, finalOnly], xp, R, bias, len, out, S, TC, CP, HP) and
 * lstmBackward(dims, dy, S, TC, CP, HP, R, len, dxp, dR, dbias); the shapes are in sps_lstm.c.
 */
#include <node_api.h>
#include "sps_napi.h"

static napi_value lstm_forward(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t *d, *len;
  size_t nd, nlen, nxp, nwt, nbias, nout, nS, nTC, nCP, nHP;
  float *xp, *R, *bias, *out, *S, *TC, *CP, *HP;
  if (!i32_array_arg(env, argv[0], &d, &nd) || !need(env, nd, 5, "lstm dims") || !f32_arg(env, argv[1], &xp, &nxp, 0) ||
      !f32_arg(env, argv[2], &R, &nwt, 0) || !f32_arg(env, argv[3], &bias, &nbias, 0) || !i32_array_arg(env, argv[4], &len, &nlen) ||
      !f32_arg(env, argv[5], &out, &nout, 0) || !f32_arg(env, argv[6], &S, &nS, 0) || !f32_arg(env, argv[7], &TC, &nTC, 0) ||
      !f32_arg(env, argv[8], &CP, &nCP, 0) || !f32_arg(env, argv[9], &HP, &nHP, 0))
    return NULL;
  const size_t T = d[0], H = d[1], B = d[2], HB = H * B;
  const int reverse = d[3], final_only = d[4];
  if (!need(env, nxp, T * 4 * HB, "lstm xp") || !need(env, nwt, 4 * H * H, "lstm wt") || !need(env, nbias, 4 * H, "lstm bias") ||
      !need(env, nlen, B, "lstm lengths") || !need(env, nout, final_only ? HB : T * HB, "lstm out") || !need(env, nS, T * 4 * HB, "lstm S") ||
      !need(env, nTC, T * HB, "lstm TC") || !need(env, nCP, T * HB, "lstm CP") || !need(env, nHP, T * HB, "lstm HP"))
    return NULL;
  if (sps_lstm_forward(T, H, B, reverse, final_only, xp, R, bias, len, out, S, TC, CP, HP)) throw_no_memory(env, "the LSTM's state");
  return NULL;
}

static napi_value lstm_backward(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t *d, *len;
  size_t nd, nlen, ndy, nS, nTC, nCP, nHP, nwt, ndxp, ndwt, ndbias;
  float *dy, *S, *TC, *CP, *HP, *R, *dxp, *dR, *dbias;
  if (!i32_array_arg(env, argv[0], &d, &nd) || !need(env, nd, 5, "lstm dims") || !f32_arg(env, argv[1], &dy, &ndy, 0) ||
      !f32_arg(env, argv[2], &S, &nS, 0) || !f32_arg(env, argv[3], &TC, &nTC, 0) || !f32_arg(env, argv[4], &CP, &nCP, 0) ||
      !f32_arg(env, argv[5], &HP, &nHP, 0) || !f32_arg(env, argv[6], &R, &nwt, 0) || !i32_array_arg(env, argv[7], &len, &nlen) ||
      !f32_arg(env, argv[8], &dxp, &ndxp, 0) || !f32_arg(env, argv[9], &dR, &ndwt, 0) || !f32_arg(env, argv[10], &dbias, &ndbias, 0))
    return NULL;
  const size_t T = d[0], H = d[1], B = d[2], HB = H * B;
  const int reverse = d[3], final_only = d[4];
  if (!need(env, ndy, final_only ? HB : T * HB, "lstm dy") || !need(env, nS, T * 4 * HB, "lstm S") || !need(env, nTC, T * HB, "lstm TC") ||
      !need(env, nCP, T * HB, "lstm CP") || !need(env, nHP, T * HB, "lstm HP") || !need(env, nwt, 4 * H * H, "lstm wt") ||
      !need(env, nlen, B, "lstm lengths") || !need(env, ndxp, T * 4 * HB, "lstm dxp") || !need(env, ndwt, 4 * H * H, "lstm dwt") ||
      !need(env, ndbias, 4 * H, "lstm dbias"))
    return NULL;
  if (sps_lstm_backward(T, H, B, reverse, final_only, dy, S, TC, CP, HP, R, len, dxp, dR, dbias)) throw_no_memory(env, "the LSTM's state");
  return NULL;
}

/* Adds the LSTM kernels to the addon's exports (called by sps_blas.c's module init). */
int sps_lstm_register(napi_env env, napi_value exports) {
  const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {{"lstmForward", lstm_forward}, {"lstmBackward", lstm_backward}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok) return 0;
    if (napi_set_named_property(env, exports, fns[i].name, f) != napi_ok) return 0;
  }
  return 1;
}
