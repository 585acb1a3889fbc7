/*
 * sps's native kernels as plain C: pointers and sizes in, results written in place, no N-API. The
 * addon's glue (the *_napi.c files, with sps_napi.h) parses a call's arguments, checks their sizes
 * and calls these; the maths files include only this header. A kernel that allocates returns 0, or
 * -1 when memory ran out (the glue turns that into a JS error).
 */
#ifndef SPS_KERNELS_H
#define SPS_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/*
 * Hot functions are compiled three times (AVX-512, AVX2, plain x86-64) and the loader picks the
 * widest the CPU has, so one build runs anywhere and vectorises where it can. Elsewhere: one version.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(SPS_NO_CLONES)
#define SPS_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SPS_CLONES
#endif

/* sps_blas.c: matrix products (OpenBLAS) and NHWC convolutions (oneDNN, or im2col + sgemm). */
void sps_blas_init(void);
const char *sps_blas_corename(void);
int sps_blas_threads(void);
/* c_i[M, N] = op(a_i) . op(b_i) (+ bias[N], relu when act == 1), a_i = a + i*sA, b_i = b + i*sB. */
void sps_gemm(size_t batch, size_t M, size_t N, size_t K, int tA, int tB, size_t sA, size_t sB, const float *a, const float *b, float *c,
              const float *bias, int act);
/* Convolution dimensions, NHWC input [B, H, W, ci], filter [fh, fw, ci, co], output [B, Ho, Wo, co]. */
typedef struct {
  size_t B, H, W, ci, Ho, Wo, co, fh, fw, sh, sw;
  long pt, pl;
} sps_conv_t;
/* What a convolution computes, which fixes the order of its three tensor arguments. */
enum { CONV_FWD = 0, CONV_BWD_DATA = 1, CONV_BWD_WEIGHTS = 2 };
/* The im2col convolutions: 0, or -1 when the scratch could not be allocated. */
int sps_conv2d(const sps_conv_t *c, const float *x, const float *w, float *y, const float *bias, int act);
int sps_conv2d_backprop_input(const sps_conv_t *c, const float *dy, const float *w, float *dx);
int sps_conv2d_backprop_filter(const sps_conv_t *c, const float *x, const float *dy, float *dw);
/*
 * oneDNN's convolution of `kind` on (x, w, y) read as the forward convolution's input, filter and
 * output: 1 done, 0 oneDNN has no primitive for it (nothing written), -1 oneDNN failed (*error says how).
 */
int sps_dnnl_conv(int kind, const sps_conv_t *c, const float *x, const float *w, float *y, const float *bias, int act, const char **error);

/* sps_lstm.c: one LSTM direction over all time steps, and its backpropagation through time. */
int sps_lstm_forward(size_t T, size_t H, size_t B, int reverse, int final_only, const float *xp, const float *R, const float *bias,
                     const int32_t *len, float *out, float *S, float *TC, float *CP, float *HP);
int sps_lstm_backward(size_t T, size_t H, size_t B, int reverse, int final_only, const float *dy, const float *S, const float *TC,
                      const float *CP, const float *HP, const float *R, const int32_t *len, float *dxp, float *dR, float *dbias);

/* sps_passes.c: kernels that make one pass over their data. */
void sps_adam(size_t N, const float *w, const float *m, const float *v, const float *g, const float *acc, const float *k, float *w2, float *m2,
              float *v2);
void sps_col_sum(const float *x, size_t rows, size_t cols, float *out);
void sps_blocks(int split, size_t outer, float *whole, float *const *parts, const int32_t *inners, size_t nparts);
void sps_scale(const float *x, size_t n, float s, float *out);
/* x [xd], out [xd · reps]; 1 <= nd <= 8, every xd and reps positive. */
void sps_tile(const float *x, const int32_t *xd, const int32_t *reps, size_t nd, float *out);
/* x, dx [B, H, W, C], g [B, Ho, Wo, C] with 2 Ho <= H, 2 Wo <= W. */
void sps_max_pool_2x2_grad(const float *x, const float *g, float *dx, size_t B, size_t H, size_t W, size_t C, size_t Ho, size_t Wo);
void sps_relu_grad(const float *dy, const float *y, size_t n, float *out);
double sps_sum_squares(const float *x, size_t n);
void sps_max_pool_2x2(const float *x, float *y, size_t B, size_t H, size_t W, size_t C, size_t Ho, size_t Wo);
void sps_alea_uniform(const double *state, size_t n, float *out);
/* 1 <= nd <= 8, xd non-negative, perm a permutation of 0..nd-1. */
void sps_transpose(const float *x, const int32_t *xd, const int32_t *perm, size_t nd, float *out);

/* sps_crf.c: the fused chain-CRF kernels; the objective codes are those of src/crf/chain-fused.ts. */
enum { OBJ_LOG_PARTITION = 0, OBJ_LOG_LIKELIHOOD = 1, OBJ_CROSS_ENTROPY = 2, OBJ_MEAN_FIELD = 3, OBJ_SSVM = 4 };
/* 0, 1 when declined (the caller takes the log-space path), -1 out of memory; lengths in [1, T], labels in [0, K). */
int sps_chain_crf(size_t B, size_t T, size_t K, int obj, size_t iterations, const float *unary, const float *pw, const int32_t *len,
                  const int32_t *labels, const int32_t *allowed, const int32_t *maximiser, float *value, float *gU, float *gW);
int sps_chain_crf_grad(size_t B, size_t T, size_t K, const float *dy, const float *gU, const float *gW, float *dU, float *dW);
int sps_chain_viterbi(size_t B, size_t T, size_t K, const float *unary, const float *pw, const int32_t *len, const int32_t *allowed,
                      const int32_t *gold, int32_t *out);

#endif
