/*
 * The N-API entry points of the products and convolutions (sps_blas.c), and the addon's module init,
 * which also registers the other families' entry points (sps_passes_napi.c, sps_lstm_napi.c,
 * sps_crf_napi.c). Every entry point takes its dimensions as an Int32Array and its tensors as
 * Float32Arrays, checks their sizes against the dims and throws a JS error naming the argument.
 */
#include <node_api.h>
#include "sps_napi.h"

/* gemm(dims = [batch, M, N, K, tA, tB, strideA, strideB], a, b, c, bias|null, act): sps_gemm. */
static napi_value gemm(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t *d;
  size_t nd;
  float *a, *b, *c, *bias;
  size_t na, nb, nc, nbias;
  if (!i32_array_arg(env, argv[0], &d, &nd)) return NULL;
  if (!need(env, nd, 8, "gemm dims")) return NULL;
  if (!f32_arg(env, argv[1], &a, &na, 0) || !f32_arg(env, argv[2], &b, &nb, 0) || !f32_arg(env, argv[3], &c, &nc, 0) ||
      !f32_arg(env, argv[4], &bias, &nbias, 1))
    return NULL;
  int32_t act;
  CHECK(env, napi_get_value_int32(env, argv[5], &act));
  const size_t batch = d[0], M = d[1], N = d[2], K = d[3], sA = d[6], sB = d[7];
  const int tA = d[4], tB = d[5];
  if (!need(env, na, (batch - 1) * sA + M * K, "gemm a") || !need(env, nb, (batch - 1) * sB + K * N, "gemm b") ||
      !need(env, nc, batch * M * N, "gemm c") || (bias && !need(env, nbias, N, "gemm bias")))
    return NULL;
  sps_gemm(batch, M, N, K, tA, tB, sA, sB, a, b, c, bias, act);
  return NULL;
}

/* dims = [B, H, W, ci, Ho, Wo, co, fh, fw, sh, sw, pad top, pad left]: all positive, the pads non-negative. */
static int conv_dims(napi_env env, napi_value v, sps_conv_t *c) {
  int32_t *d;
  size_t nd;
  if (!i32_array_arg(env, v, &d, &nd)) return 0;
  if (!need(env, nd, 13, "conv dims")) return 0;
  for (int i = 0; i < 13; i++) {
    if (d[i] < 0 || (i < 11 && d[i] == 0)) {
      napi_throw_range_error(env, NULL, "sps_blas: conv dims must be positive (pads non-negative)");
      return 0;
    }
  }
  *c = (sps_conv_t){d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12]};
  return 1;
}

static int conv_sizes(napi_env env, const sps_conv_t *c, size_t nx, size_t nw, size_t ny) {
  return need(env, nx, c->B * c->H * c->W * c->ci, "conv x") && need(env, nw, c->fh * c->fw * c->ci * c->co, "conv filter") &&
         need(env, ny, c->B * c->Ho * c->Wo * c->co, "conv y");
}

/*
 * The arguments every convolution entry point starts with, argv = (dims, a, b, out), read as the
 * input x, the filter w and the output y of the forward convolution: (x, w, y) forward, (dy, w, dx)
 * backward data, (x, dy, dw) backward weights. Checks their sizes against the dims.
 */
static int conv_io(napi_env env, int kind, napi_value *argv, sps_conv_t *c, float **x, float **w, float **y) {
  float *t[3];
  size_t n[3];
  if (!conv_dims(env, argv[0], c)) return 0;
  for (int i = 0; i < 3; i++)
    if (!f32_arg(env, argv[1 + i], &t[i], &n[i], 0)) return 0;
  static const int role[3][3] = {{0, 1, 2}, {2, 1, 0}, {0, 2, 1}}; /* index of x, w, y among (a, b, out) */
  if (kind < 0 || kind > 2) {
    napi_throw_range_error(env, NULL, "sps_blas: a convolution's kind must be 0, 1 or 2");
    return 0;
  }
  const int *r = role[kind];
  *x = t[r[0]], *w = t[r[1]], *y = t[r[2]];
  return conv_sizes(env, c, n[r[0]], n[r[1]], n[r[2]]);
}

/* conv2d(dims, x, w, y, bias|null, act): y = conv(x, w) (+ bias[co], relu when act == 1). */
static napi_value conv2d(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sps_conv_t c;
  float *x, *w, *y, *bias;
  size_t nbias;
  int32_t act;
  if (!conv_io(env, CONV_FWD, argv, &c, &x, &w, &y) || !f32_arg(env, argv[4], &bias, &nbias, 1)) return NULL;
  if (bias && !need(env, nbias, c.co, "conv bias")) return NULL;
  CHECK(env, napi_get_value_int32(env, argv[5], &act));
  if (sps_conv2d(&c, x, w, y, bias, act)) throw_no_memory(env, "the im2col scratch");
  return NULL;
}

/* conv2dBackpropInput(dims, dy, w, dx): dx = the gradient of conv(x, w) with respect to x, given dy. */
static napi_value conv2d_backprop_input(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sps_conv_t c;
  float *dy, *w, *dx;
  if (!conv_io(env, CONV_BWD_DATA, argv, &c, &dx, &w, &dy)) return NULL;
  if (sps_conv2d_backprop_input(&c, dy, w, dx)) throw_no_memory(env, "the im2col scratch");
  return NULL;
}

/* conv2dBackpropFilter(dims, x, dy, dw): dw = the gradient of conv(x, w) with respect to w, given dy. */
static napi_value conv2d_backprop_filter(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sps_conv_t c;
  float *x, *dy, *dw;
  if (!conv_io(env, CONV_BWD_WEIGHTS, argv, &c, &x, &dw, &dy)) return NULL;
  if (sps_conv2d_backprop_filter(&c, x, dy, dw)) throw_no_memory(env, "the im2col scratch");
  return NULL;
}

/* dnnlConv(kind, dims, a, b, out, bias|null, act) -> bool: sps_dnnl_conv; false when oneDNN has no primitive. */
static napi_value dnnl_conv(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t kind, act;
  sps_conv_t c;
  float *x, *w, *y, *bias;
  size_t nbias;
  CHECK(env, napi_get_value_int32(env, argv[0], &kind));
  if (!conv_io(env, kind, argv + 1, &c, &x, &w, &y) || !f32_arg(env, argv[5], &bias, &nbias, 1)) return NULL;
  CHECK(env, napi_get_value_int32(env, argv[6], &act));
  if (bias && !need(env, nbias, c.co, "conv bias")) return NULL;
  const char *error = NULL;
  const int done = sps_dnnl_conv(kind, &c, x, w, y, bias, act, &error);
  if (done < 0) {
    char msg[120];
    snprintf(msg, sizeof msg, "sps_blas: %s", error);
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  napi_value result;
  CHECK(env, napi_get_boolean(env, done == 1, &result));
  return result;
}

/* The other families' entry points: sps_passes_napi.c, sps_lstm_napi.c, sps_crf_napi.c. */
int sps_passes_register(napi_env env, napi_value exports);
int sps_lstm_register(napi_env env, napi_value exports);
int sps_crf_register(napi_env env, napi_value exports);

/* info() -> { corename, threads }: which OpenBLAS kernel set is in use (it sets the float rounding). */
static napi_value blas_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out, core, threads;
  CHECK(env, napi_create_object(env, &out));
  CHECK(env, napi_create_string_utf8(env, sps_blas_corename(), NAPI_AUTO_LENGTH, &core));
  CHECK(env, napi_create_int32(env, sps_blas_threads(), &threads));
  CHECK(env, napi_set_named_property(env, out, "corename", core));
  CHECK(env, napi_set_named_property(env, out, "threads", threads));
  return out;
}

NAPI_MODULE_INIT() {
  sps_blas_init();
  const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {{"gemm", gemm},
             {"conv2d", conv2d},
             {"conv2dBackpropInput", conv2d_backprop_input},
             {"conv2dBackpropFilter", conv2d_backprop_filter},
             {"dnnlConv", dnnl_conv},
             {"info", blas_info}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, fns[i].name, f) != napi_ok) return NULL;
  }
  return sps_passes_register(env, exports) && sps_lstm_register(env, exports) && sps_crf_register(env, exports) ? exports : NULL;
}
