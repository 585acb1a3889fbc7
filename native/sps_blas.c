/*
 * sps's BLAS kernels: an N-API addon (plain C, no node-gyp) that runs float32 matrix products and
 * NHWC convolutions with OpenBLAS's cblas_sgemm, on Float32Arrays that are views of the wasm back
 * end's heap (src/backend/blas/). Built by scripts/build-blas.sh; docs/backends.md says why.
 *
 * Convolutions are im2col + one sgemm per chunk of images (docs/backends.md, "blas"):
 *   forward          y[m, co]   = cols[m, k] . w[k, co]            (k = (kh*fw + kw)*ci + c)
 *   backprop input   cols[m, k] = dy[m, co] . w[k, co]^T, then scattered back onto dx (col2im)
 *   backprop filter  dw[k, co] += cols[m, k]^T . dy[m, co]
 * with m = (image, oh, ow). A 1x1 stride-1 unpadded filter needs no cols: x itself is the matrix.
 *
 * Every entry point takes its dimensions as an Int32Array and its tensors as Float32Arrays; nothing
 * is retained across calls but the scratch buffer. The module's init (at the end) also registers the
 * other families: one-pass kernels (sps_passes.c), the LSTM recurrence (sps_lstm.c) and the chain CRF
 * (sps_crf.c).
 */
#include <node_api.h>
#include "sps_napi.h"
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Scratch for im2col, grown as needed and kept (a training step reuses the same sizes). */
static float *scratch = NULL;
static size_t scratch_len = 0;

/* Scratch per chunk of output pixels: 1 MB keeps im2col's rows in cache for the sgemm that reads them. */
#define CHUNK_FLOATS (SPS_CHUNK_KB * 256u)
#ifndef SPS_CHUNK_KB
#define SPS_CHUNK_KB 1024
#endif

static float *get_scratch(size_t n) {
  if (n > scratch_len) {
    float *p = (float *)realloc(scratch, n * sizeof(float));
    if (!p) return NULL;
    scratch = p;
    scratch_len = n;
  }
  return scratch;
}

/* y[r, :] += bias (when given), then relu when act == 1. */
static void bias_act(float *y, size_t rows, size_t cols, const float *bias, int act) {
  if (!bias && act == 0) return;
  for (size_t r = 0; r < rows; r++) {
    float *row = y + r * cols;
    if (bias)
      for (size_t c = 0; c < cols; c++) row[c] += bias[c];
    if (act == 1)
      for (size_t c = 0; c < cols; c++) row[c] = row[c] > 0.f ? row[c] : 0.f;
  }
}

/*
 * gemm(dims = [batch, M, N, K, tA, tB, strideA, strideB], a, b, c, bias|null, act):
 * c_i[M, N] = op(a_i) . op(b_i) (+ bias[N], relu when act == 1) for i < batch, row-major, with
 * a_i = a + i*strideA (stride 0 broadcasts one matrix over the batch), likewise b, and c contiguous.
 */
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
  for (size_t i = 0; i < batch; i++) {
    cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, 1.f,
                a + i * sA, tA ? (int)M : (int)K, b + i * sB, tB ? (int)K : (int)N, 0.f, c + i * M * N, (int)N);
  }
  bias_act(c, batch * M, N, bias, act);
  return NULL;
}

/* Convolution dimensions, NHWC input [B, H, W, ci], filter [fh, fw, ci, co], output [B, Ho, Wo, co]. */
typedef struct {
  size_t B, H, W, ci, Ho, Wo, co, fh, fw, sh, sw;
  long pt, pl;
} conv_t;

static int conv_dims(napi_env env, napi_value v, conv_t *c) {
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
  *c = (conv_t){d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12]};
  return 1;
}

static int pointwise(const conv_t *c) {
  return c->fh == 1 && c->fw == 1 && c->sh == 1 && c->sw == 1 && c->pt == 0 && c->pl == 0 && c->Ho == c->H && c->Wo == c->W;
}

/* Rows of cols (output pixels) per chunk: as many as keep the chunk within CHUNK_FLOATS, at least 1. */
static size_t chunk_rows(const conv_t *c) {
  const size_t K = c->fh * c->fw * c->ci, M = c->B * c->Ho * c->Wo;
  size_t n = CHUNK_FLOATS / K;
  return n < 1 ? 1 : (n > M ? M : n);
}

/* cols[r - m0, (kh, kw, c)] for output pixels r in [m0, m0 + n), r = (b, oh, ow); zero in the padding. */
static void im2col(const conv_t *c, const float *x, size_t m0, size_t n, float *cols) {
  const size_t K = c->fh * c->fw * c->ci, P = c->Ho * c->Wo;
  for (size_t r = m0; r < m0 + n; r++) {
    const size_t b = r / P, oh = (r % P) / c->Wo, ow = r % c->Wo;
    const float *img = x + b * c->H * c->W * c->ci;
    float *row = cols + (r - m0) * K;
    for (size_t kh = 0; kh < c->fh; kh++) {
      long ih = (long)(oh * c->sh + kh) - c->pt;
      float *dst = row + kh * c->fw * c->ci;
      if (ih < 0 || ih >= (long)c->H) {
        memset(dst, 0, c->fw * c->ci * sizeof(float));
        continue;
      }
      for (size_t kw = 0; kw < c->fw; kw++) {
        long iw = (long)(ow * c->sw + kw) - c->pl;
        if (iw < 0 || iw >= (long)c->W)
          memset(dst + kw * c->ci, 0, c->ci * sizeof(float));
        else
          memcpy(dst + kw * c->ci, img + ((size_t)ih * c->W + (size_t)iw) * c->ci, c->ci * sizeof(float));
      }
    }
  }
}

/* The adjoint of im2col: dx += cols for output pixels [m0, m0 + n), window by window (dx zeroed by the caller). */
static void col2im(const conv_t *c, const float *cols, size_t m0, size_t n, float *dx) {
  const size_t K = c->fh * c->fw * c->ci, P = c->Ho * c->Wo;
  for (size_t r = m0; r < m0 + n; r++) {
    const size_t b = r / P, oh = (r % P) / c->Wo, ow = r % c->Wo;
    float *img = dx + b * c->H * c->W * c->ci;
    const float *row = cols + (r - m0) * K;
    for (size_t kh = 0; kh < c->fh; kh++) {
      long ih = (long)(oh * c->sh + kh) - c->pt;
      if (ih < 0 || ih >= (long)c->H) continue;
      for (size_t kw = 0; kw < c->fw; kw++) {
        long iw = (long)(ow * c->sw + kw) - c->pl;
        if (iw < 0 || iw >= (long)c->W) continue;
        const float *src = row + (kh * c->fw + kw) * c->ci;
        float *dst = img + ((size_t)ih * c->W + (size_t)iw) * c->ci;
        for (size_t ch = 0; ch < c->ci; ch++) dst[ch] += src[ch];
      }
    }
  }
}

static int conv_sizes(napi_env env, const conv_t *c, size_t nx, size_t nw, size_t ny) {
  return need(env, nx, c->B * c->H * c->W * c->ci, "conv x") && need(env, nw, c->fh * c->fw * c->ci * c->co, "conv filter") &&
         need(env, ny, c->B * c->Ho * c->Wo * c->co, "conv y");
}

/* What a convolution entry point computes, which fixes the order of its three tensor arguments. */
enum { CONV_FWD = 0, CONV_BWD_DATA = 1, CONV_BWD_WEIGHTS = 2 };

/*
 * The arguments every convolution entry point starts with, argv = (dims, a, b, out), read as the
 * input x, the filter w and the output y of the forward convolution: (x, w, y) forward, (dy, w, dx)
 * backward data, (x, dy, dw) backward weights. Checks their sizes against the dims.
 */
static int conv_io(napi_env env, int kind, napi_value *argv, conv_t *c, float **x, float **w, float **y) {
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

static int no_memory(napi_env env) {
  napi_throw_error(env, NULL, "sps_blas: out of memory for the im2col scratch");
  return 0;
}

/*
 * The forward convolution of im2col + sgemm (+ bias, relu), written into y. `w` is [K, co] as the
 * filter's memory lies; the caller has checked the sizes.
 */
static int conv_forward(napi_env env, const conv_t *c, const float *x, const float *w, float *y, const float *bias, int act) {
  const size_t K = c->fh * c->fw * c->ci, P = c->Ho * c->Wo;
  if (pointwise(c)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(c->B * P), (int)c->co, (int)K, 1.f, x, (int)K, w, (int)c->co, 0.f, y,
                (int)c->co);
  } else {
    const size_t M = c->B * P, rows = chunk_rows(c);
    float *cols = get_scratch(rows * K);
    if (!cols) return no_memory(env);
    for (size_t m0 = 0; m0 < M; m0 += rows) {
      size_t n = M - m0 < rows ? M - m0 : rows;
      im2col(c, x, m0, n, cols);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)c->co, (int)K, 1.f, cols, (int)K, w, (int)c->co, 0.f,
                  y + m0 * c->co, (int)c->co);
    }
  }
  bias_act(y, c->B * P, c->co, bias, act);
  return 1;
}

/* conv2d(dims, x, w, y, bias|null, act): y = conv(x, w) (+ bias[co], relu when act == 1). */
static napi_value conv2d(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  conv_t c;
  float *x, *w, *y, *bias;
  size_t nbias;
  int32_t act;
  if (!conv_io(env, CONV_FWD, argv, &c, &x, &w, &y) || !f32_arg(env, argv[4], &bias, &nbias, 1)) return NULL;
  if (bias && !need(env, nbias, c.co, "conv bias")) return NULL;
  CHECK(env, napi_get_value_int32(env, argv[5], &act));
  conv_forward(env, &c, x, w, y, bias, act);
  return NULL;
}

/* The filter for dx as a forward convolution: wf[kh, kw, co, ci] = w[fh-1-kh, fw-1-kw, ci, co]. */
static float *flipped_filter(const conv_t *c, const float *w) {
  const size_t n = c->fh * c->fw * c->ci * c->co;
  float *wf = (float *)malloc(n * sizeof(float));
  if (!wf) return NULL;
  for (size_t kh = 0; kh < c->fh; kh++)
    for (size_t kw = 0; kw < c->fw; kw++) {
      const float *src = w + ((c->fh - 1 - kh) * c->fw + (c->fw - 1 - kw)) * c->ci * c->co;
      float *dst = wf + (kh * c->fw + kw) * c->co * c->ci;
      for (size_t i = 0; i < c->ci; i++)
        for (size_t o = 0; o < c->co; o++) dst[o * c->ci + i] = src[i * c->co + o];
    }
  return wf;
}

/*
 * conv2dBackpropInput(dims, dy, w, dx): dx = the gradient of conv(x, w) with respect to x, given dy.
 * Stride 1: a forward convolution of dy (padded by f-1-pad) with the flipped filter, whose sgemm has
 * the ci outputs as columns and reduces over fh*fw*co. Otherwise: cols = dy . w^T, scattered onto dx.
 */
static napi_value conv2d_backprop_input(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  conv_t c;
  float *dy, *w, *dx;
  if (!conv_io(env, CONV_BWD_DATA, argv, &c, &dx, &w, &dy)) return NULL;
  const size_t K = c.fh * c.fw * c.ci, P = c.Ho * c.Wo;
  if (pointwise(&c)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(c.B * P), (int)K, (int)c.co, 1.f, dy, (int)c.co, w, (int)c.co, 0.f, dx,
                (int)K);
    return NULL;
  }
  if (c.sh == 1 && c.sw == 1 && c.pt <= (long)c.fh - 1 && c.pl <= (long)c.fw - 1) {
    conv_t t = {c.B, c.Ho, c.Wo, c.co, c.H, c.W, c.ci, c.fh, c.fw, 1, 1, (long)c.fh - 1 - c.pt, (long)c.fw - 1 - c.pl};
    float *wf = flipped_filter(&c, w);
    if (!wf) return no_memory(env), NULL;
    conv_forward(env, &t, dy, wf, dx, NULL, 0);
    free(wf);
    return NULL;
  }
  memset(dx, 0, c.B * c.H * c.W * c.ci * sizeof(float));
  const size_t M = c.B * P, rows = chunk_rows(&c);
  float *cols = get_scratch(rows * K);
  if (!cols) return no_memory(env), NULL;
  for (size_t m0 = 0; m0 < M; m0 += rows) {
    size_t n = M - m0 < rows ? M - m0 : rows;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)K, (int)c.co, 1.f, dy + m0 * c.co, (int)c.co, w, (int)c.co, 0.f,
                cols, (int)K);
    col2im(&c, cols, m0, n, dx);
  }
  return NULL;
}

/* conv2dBackpropFilter(dims, x, dy, dw): dw = the gradient of conv(x, w) with respect to w, given dy. */
static napi_value conv2d_backprop_filter(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  conv_t c;
  float *x, *dy, *dw;
  if (!conv_io(env, CONV_BWD_WEIGHTS, argv, &c, &x, &dw, &dy)) return NULL;
  const size_t K = c.fh * c.fw * c.ci, P = c.Ho * c.Wo;
  if (pointwise(&c)) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)c.co, (int)(c.B * P), 1.f, x, (int)K, dy, (int)c.co, 0.f, dw,
                (int)c.co);
    return NULL;
  }
  const size_t M = c.B * P, rows = chunk_rows(&c);
  float *cols = get_scratch(rows * K);
  if (!cols) return no_memory(env), NULL;
  for (size_t m0 = 0; m0 < M; m0 += rows) {
    size_t n = M - m0 < rows ? M - m0 : rows;
    im2col(&c, x, m0, n, cols);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)c.co, (int)n, 1.f, cols, (int)K, dy + m0 * c.co, (int)c.co,
                m0 == 0 ? 0.f : 1.f, dw, (int)c.co);
  }
  return NULL;
}

/*
 * Convolutions by oneDNN (the library PyTorch's CPU convolutions use), where it takes the shapes:
 * direct convolutions on NHWC data and HWIO filters, the wasm heap's own layouts, so nothing is
 * copied or reordered. One primitive per (kind, dims, bias, activation), created on first use and
 * kept. dnnlConv returns false when oneDNN has no primitive for the case (then the caller uses the
 * im2col kernels above); an error of oneDNN's during execution is thrown.
 */

typedef struct {
  int32_t key[16];
  dnnl_primitive_t prim;
  dnnl_memory_t mem[4]; /* src/diff_src, weights/diff_weights (the primitive's layout), dst/diff_dst, bias */
  /* When the primitive wants its weights in another layout than HWIO: the HWIO (user) memory and the
     reorder between it and mem[1] (to the primitive's for forward and backward data, back for weights). */
  dnnl_memory_t user_w;
  dnnl_primitive_t reorder;
} dnnl_entry;

static dnnl_engine_t dnnl_eng = NULL;
static dnnl_stream_t dnnl_str = NULL;
static dnnl_entry *dnnl_cache = NULL;
static size_t dnnl_cached = 0, dnnl_cap = 0;

static int dnnl_init(void) {
  if (dnnl_eng) return 1;
  if (dnnl_engine_create(&dnnl_eng, dnnl_cpu, 0) != dnnl_success) return 0;
  if (dnnl_stream_create(&dnnl_str, dnnl_eng, dnnl_stream_default_flags) != dnnl_success) return 0;
  return 1;
}

/* The memory descriptors of a convolution with dims c: src NHWC, weights HWIO, dst NHWC, bias. */
static int dnnl_mds(const conv_t *c, dnnl_memory_desc_t *src, dnnl_memory_desc_t *w, dnnl_memory_desc_t *dst, dnnl_memory_desc_t *bias) {
  dnnl_dims_t ds = {(dnnl_dim_t)c->B, (dnnl_dim_t)c->ci, (dnnl_dim_t)c->H, (dnnl_dim_t)c->W};
  dnnl_dims_t dw = {(dnnl_dim_t)c->co, (dnnl_dim_t)c->ci, (dnnl_dim_t)c->fh, (dnnl_dim_t)c->fw};
  dnnl_dims_t dd = {(dnnl_dim_t)c->B, (dnnl_dim_t)c->co, (dnnl_dim_t)c->Ho, (dnnl_dim_t)c->Wo};
  dnnl_dims_t db = {(dnnl_dim_t)c->co};
  return dnnl_memory_desc_init_by_tag(src, 4, ds, dnnl_f32, dnnl_nhwc) == dnnl_success &&
         dnnl_memory_desc_init_by_tag(w, 4, dw, dnnl_f32, dnnl_hwio) == dnnl_success &&
         dnnl_memory_desc_init_by_tag(dst, 4, dd, dnnl_f32, dnnl_nhwc) == dnnl_success &&
         dnnl_memory_desc_init_by_tag(bias, 1, db, dnnl_f32, dnnl_x) == dnnl_success;
}

/*
 * Strides and paddings for oneDNN: the low padding is tfjs's top/left; the high one is what makes the
 * output size exact (oneDNN checks it), which may be less than tfjs's bottom/right, or negative.
 */
static void dnnl_geometry(const conv_t *c, dnnl_dims_t st, dnnl_dims_t pl, dnnl_dims_t pr) {
  st[0] = (dnnl_dim_t)c->sh, st[1] = (dnnl_dim_t)c->sw;
  pl[0] = c->pt, pl[1] = c->pl;
  pr[0] = (dnnl_dim_t)((c->Ho - 1) * c->sh + c->fh) - (dnnl_dim_t)c->H - c->pt;
  pr[1] = (dnnl_dim_t)((c->Wo - 1) * c->sw + c->fw) - (dnnl_dim_t)c->W - c->pl;
}

/* Weights in the layout the primitive prefers (its fast kernels want blocked ones). */
static int dnnl_any_weights(const conv_t *c, dnnl_memory_desc_t *w) {
  dnnl_dims_t dw = {(dnnl_dim_t)c->co, (dnnl_dim_t)c->ci, (dnnl_dim_t)c->fh, (dnnl_dim_t)c->fw};
  return dnnl_memory_desc_init_by_tag(w, 4, dw, dnnl_f32, dnnl_format_tag_any) == dnnl_success;
}

/* The forward primitive descriptor (also the hint for the backward ones); NULL when oneDNN has none. */
static dnnl_primitive_desc_t dnnl_fwd_pd(const conv_t *c, int with_bias, int act) {
  dnnl_memory_desc_t src, w, dst, bias;
  if (!dnnl_mds(c, &src, &w, &dst, &bias) || !dnnl_any_weights(c, &w)) return NULL;
  dnnl_dims_t st, pl, pr;
  dnnl_geometry(c, st, pl, pr);
  dnnl_convolution_desc_t cd;
  if (dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct, &src, &w, with_bias ? &bias : NULL, &dst, st, pl, pr) !=
      dnnl_success)
    return NULL;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  if (act == 1) {
    if (dnnl_primitive_attr_create(&attr) != dnnl_success || dnnl_post_ops_create(&po) != dnnl_success ||
        dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, 0.f, 0.f) != dnnl_success ||
        dnnl_primitive_attr_set_post_ops(attr, po) != dnnl_success) {
      if (po) dnnl_post_ops_destroy(po);
      if (attr) dnnl_primitive_attr_destroy(attr);
      return NULL;
    }
  }
  dnnl_primitive_desc_t pd = NULL;
  if (dnnl_primitive_desc_create(&pd, &cd, attr, dnnl_eng, NULL) != dnnl_success) pd = NULL;
  if (po) dnnl_post_ops_destroy(po);
  if (attr) dnnl_primitive_attr_destroy(attr);
  return pd;
}

/* The cached primitive for (kind, c, bias, act), created on first use; NULL when oneDNN has none. */
static dnnl_entry *dnnl_get(int kind, const conv_t *c, int with_bias, int act) {
  int32_t key[16] = {kind, (int32_t)c->B, (int32_t)c->H, (int32_t)c->W, (int32_t)c->ci, (int32_t)c->Ho, (int32_t)c->Wo, (int32_t)c->co,
                     (int32_t)c->fh, (int32_t)c->fw, (int32_t)c->sh, (int32_t)c->sw, (int32_t)c->pt, (int32_t)c->pl, with_bias, act};
  for (size_t i = 0; i < dnnl_cached; i++)
    if (memcmp(dnnl_cache[i].key, key, sizeof key) == 0) return dnnl_cache[i].prim ? &dnnl_cache[i] : NULL;
  if (dnnl_cached == dnnl_cap) {
    size_t cap = dnnl_cap ? 2 * dnnl_cap : 32;
    dnnl_entry *p = (dnnl_entry *)realloc(dnnl_cache, cap * sizeof *p);
    if (!p) return NULL;
    dnnl_cache = p;
    dnnl_cap = cap;
  }
  dnnl_entry *e = &dnnl_cache[dnnl_cached++];
  memset(e, 0, sizeof *e);
  memcpy(e->key, key, sizeof key);
  dnnl_primitive_desc_t fwd = dnnl_fwd_pd(c, kind == CONV_FWD && with_bias, kind == CONV_FWD ? act : 0);
  if (!fwd) return NULL;
  dnnl_primitive_desc_t pd = fwd;
  if (kind != CONV_FWD) {
    dnnl_memory_desc_t src, w, dst, bias;
    dnnl_dims_t st, pl, pr;
    dnnl_geometry(c, st, pl, pr);
    dnnl_convolution_desc_t cd;
    dnnl_status_t st1 = dnnl_mds(c, &src, &w, &dst, &bias) && dnnl_any_weights(c, &w) ? dnnl_success : dnnl_invalid_arguments;
    if (st1 == dnnl_success)
      st1 = kind == CONV_BWD_DATA ? dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &src, &w, &dst, st, pl, pr)
                                  : dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &src, &w, NULL, &dst, st, pl, pr);
    pd = NULL;
    if (st1 != dnnl_success || dnnl_primitive_desc_create(&pd, &cd, NULL, dnnl_eng, fwd) != dnnl_success) pd = NULL;
    dnnl_primitive_desc_destroy(fwd);
    if (!pd) return NULL;
  }
  dnnl_memory_desc_t src, w, dst, bias;
  const dnnl_memory_desc_t *pw = dnnl_primitive_desc_query_md(pd, kind == CONV_BWD_WEIGHTS ? dnnl_query_diff_weights_md : dnnl_query_weights_md, 0);
  int ok = pw && dnnl_mds(c, &src, &w, &dst, &bias) && dnnl_primitive_create(&e->prim, pd) == dnnl_success &&
           dnnl_memory_create(&e->mem[0], &src, dnnl_eng, DNNL_MEMORY_NONE) == dnnl_success &&
           dnnl_memory_create(&e->mem[2], &dst, dnnl_eng, DNNL_MEMORY_NONE) == dnnl_success &&
           dnnl_memory_create(&e->mem[3], &bias, dnnl_eng, DNNL_MEMORY_NONE) == dnnl_success;
  if (ok && dnnl_memory_desc_equal(pw, &w)) {
    ok = dnnl_memory_create(&e->mem[1], &w, dnnl_eng, DNNL_MEMORY_NONE) == dnnl_success;
  } else if (ok) {
    dnnl_primitive_desc_t rpd = NULL;
    const int back = kind == CONV_BWD_WEIGHTS;
    ok = dnnl_memory_create(&e->mem[1], pw, dnnl_eng, DNNL_MEMORY_ALLOCATE) == dnnl_success &&
         dnnl_memory_create(&e->user_w, &w, dnnl_eng, DNNL_MEMORY_NONE) == dnnl_success &&
         dnnl_reorder_primitive_desc_create(&rpd, back ? pw : &w, dnnl_eng, back ? &w : pw, dnnl_eng, NULL) == dnnl_success &&
         dnnl_primitive_create(&e->reorder, rpd) == dnnl_success;
    if (rpd) dnnl_primitive_desc_destroy(rpd);
  }
  dnnl_primitive_desc_destroy(pd);
  if (!ok) {
    if (e->prim) dnnl_primitive_destroy(e->prim);
    e->prim = NULL;
    return NULL;
  }
  return e;
}

/*
 * dnnlConv(kind, dims, a, b, out, bias|null, act) -> bool: kind 0 forward (a = x, b = w, out = y,
 * + bias, relu when act == 1), 1 backward data (a = dy, b = w, out = dx), 2 backward weights
 * (a = x, b = dy, out = dw). false: oneDNN has no primitive for this case; nothing was written.
 */
static napi_value dnnl_conv(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t kind, act;
  conv_t c;
  float *x, *w, *y, *bias;
  size_t nbias;
  CHECK(env, napi_get_value_int32(env, argv[0], &kind));
  if (!conv_io(env, kind, argv + 1, &c, &x, &w, &y) || !f32_arg(env, argv[5], &bias, &nbias, 1)) return NULL;
  CHECK(env, napi_get_value_int32(env, argv[6], &act));
  if (bias && !need(env, nbias, c.co, "conv bias")) return NULL;
  napi_value result;
  dnnl_entry *e = dnnl_init() ? dnnl_get(kind, &c, bias != NULL, act) : NULL;
  if (!e) {
    CHECK(env, napi_get_boolean(env, false, &result));
    return result;
  }
  dnnl_memory_set_data_handle(e->mem[0], x);
  dnnl_memory_set_data_handle(e->mem[2], y);
  if (e->reorder) {
    dnnl_memory_set_data_handle(e->user_w, w);
    if (kind != CONV_BWD_WEIGHTS) {
      dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, e->user_w}, {DNNL_ARG_TO, e->mem[1]}};
      if (dnnl_primitive_execute(e->reorder, dnnl_str, 2, r) != dnnl_success) {
        napi_throw_error(env, NULL, "sps_blas: a oneDNN weights reorder failed to execute");
        return NULL;
      }
    }
  } else {
    dnnl_memory_set_data_handle(e->mem[1], w);
  }
  dnnl_exec_arg_t args[4];
  int n = 0;
  if (kind == CONV_FWD) {
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, e->mem[0]};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, e->mem[1]};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, e->mem[2]};
    if (bias) {
      dnnl_memory_set_data_handle(e->mem[3], bias);
      args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, e->mem[3]};
    }
  } else if (kind == CONV_BWD_DATA) {
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC, e->mem[0]};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, e->mem[1]};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, e->mem[2]};
  } else {
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, e->mem[0]};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS, e->mem[1]};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, e->mem[2]};
  }
  if (dnnl_primitive_execute(e->prim, dnnl_str, n, args) != dnnl_success) {
    napi_throw_error(env, NULL, "sps_blas: a oneDNN convolution failed to execute");
    return NULL;
  }
  if (e->reorder && kind == CONV_BWD_WEIGHTS) {
    dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, e->mem[1]}, {DNNL_ARG_TO, e->user_w}};
    if (dnnl_primitive_execute(e->reorder, dnnl_str, 2, r) != dnnl_success) {
      napi_throw_error(env, NULL, "sps_blas: a oneDNN weights reorder failed to execute");
      return NULL;
    }
  }
  if (dnnl_stream_wait(dnnl_str) != dnnl_success) {
    napi_throw_error(env, NULL, "sps_blas: a oneDNN convolution failed to finish");
    return NULL;
  }
  CHECK(env, napi_get_boolean(env, true, &result));
  return result;
}

/* The other families' entry points: sps_passes.c, sps_lstm.c, sps_crf.c. */
int sps_passes_register(napi_env env, napi_value exports);
int sps_lstm_register(napi_env env, napi_value exports);
int sps_crf_register(napi_env env, napi_value exports);

/* info() -> { corename, threads }: which OpenBLAS kernel set is in use (it sets the float rounding). */
static napi_value blas_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out, core, threads;
  CHECK(env, napi_create_object(env, &out));
  CHECK(env, napi_create_string_utf8(env, openblas_get_corename(), NAPI_AUTO_LENGTH, &core));
  CHECK(env, napi_create_int32(env, openblas_get_num_threads(), &threads));
  CHECK(env, napi_set_named_property(env, out, "corename", core));
  CHECK(env, napi_set_named_property(env, out, "threads", threads));
  return out;
}

NAPI_MODULE_INIT() {
  /* One thread: sps runs cells in parallel processes (--jobs), and one thread keeps sums in one order. */
  openblas_set_num_threads(1);
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
