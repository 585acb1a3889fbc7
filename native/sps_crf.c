/*
 * sps's fused linear-chain CRF kernels (docs/model.md §2; docs/blas-kernels.md, "Fused CRF kernels"):
 * one call per batch computes a training objective and, in the same pass, each sequence's gradient
 * with respect to the unaries and the pairwise matrix, in float64 from the float32 potentials;
 * chainCrfGrad then scales those by the upstream dy (the analytic backward). src/crf/chain-fused.ts
 * calls them through the kernels of src/backend/blas/kernels.ts; the tfjs-composed code of
 * src/crf/chain*.ts and the float64 oracles of src/crf/reference.ts are what they are tested against.
 *
 * Conventions are those of src/crf/chain.ts: scores, unary [B, T, K] (rows t >= lengths[b] are never
 * read), pairwise [K, K] with W(a, b) the score of a followed by b, labels [B, T] (read at t < L only),
 * allowed [K, K] (0 forbids a transition, which then scores FORBIDDEN_SCORE and gets no gradient).
 *
 * The sum-product objectives run the scaled forward-backward in probability space of
 * src/crf/chain-logpartition.ts and chain-crossentropy.ts, whose comments derive the recursions:
 * per step a K x K product instead of K^2 exponentials. Like those, a kernel declines (returns 1) when
 * a normaliser underflows or a gold marginal is below CE_TINY, and the caller takes the log-space
 * tensor path. Every inner loop runs along the labels over contiguous rows (the transposed matrices
 * are kept for that), so GCC vectorises it without reordering any sum: -ffp-contract=off and no
 * -ffast-math keep the results the same bits on every instruction set the functions are cloned for.
 */
#include "sps_napi.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The score of a forbidden transition: FORBIDDEN_SCORE of src/crf/validate.ts. */
#define FORBIDDEN_SCORE (-1e4)
/* Below this a gold label's message or marginal is unsafe for the probability-space pass (chain-crossentropy.ts). */
#define CE_TINY 1e-250

/* The objective codes of src/crf/chain-fused.ts. */
enum { OBJ_LOG_PARTITION = 0, OBJ_LOG_LIKELIHOOD = 1, OBJ_CROSS_ENTROPY = 2, OBJ_MEAN_FIELD = 3, OBJ_SSVM = 4 };

/* Labels per vector block: the matrices of the recursions are kept with rows padded to a multiple of it. */
#define LB 8

/*
 * The pairwise matrix as the model uses it, in float64: w (forbidden entries FORBIDDEN_SCORE) and
 * E = exp(w − max w), [K·K]; and for vecmat, w, wᵀ, E and Eᵀ with rows padded by zeros to Kp.
 */
typedef struct {
  size_t K, Kp;
  double *w, *E, *wp, *wtp, *Ep, *Etp;
  double cW;
  const int32_t *allowed;
} pairwise_t;

static size_t padded(size_t K) { return (K + LB - 1) / LB * LB; }

/* Doubles pairwise_init needs. */
static size_t pairwise_size(size_t K) { return 2 * K * K + 4 * K * padded(K); }

static void pairwise_init(pairwise_t *p, const float *pw, const int32_t *allowed, size_t K, double *mem) {
  const size_t KK = K * K, Kp = padded(K);
  p->K = K, p->Kp = Kp;
  p->allowed = allowed;
  p->w = mem, p->E = mem + KK, p->wp = mem + 2 * KK, p->wtp = p->wp + K * Kp, p->Ep = p->wtp + K * Kp, p->Etp = p->Ep + K * Kp;
  memset(p->wp, 0, 4 * K * Kp * sizeof(double));
  p->cW = -INFINITY;
  for (size_t i = 0; i < KK; i++) {
    p->w[i] = allowed && !allowed[i] ? FORBIDDEN_SCORE : (double)pw[i];
    if (p->w[i] > p->cW) p->cW = p->w[i];
  }
  for (size_t i = 0; i < KK; i++) p->E[i] = exp(p->w[i] - p->cW);
  for (size_t a = 0; a < K; a++)
    for (size_t b = 0; b < K; b++) {
      p->wp[a * Kp + b] = p->wtp[b * Kp + a] = p->w[a * K + b];
      p->Ep[a * Kp + b] = p->Etp[b * Kp + a] = p->E[a * K + b];
    }
}

/* LB doubles as one GCC vector (one AVX-512 register, two AVX2 ones, pairs elsewhere). */
typedef double vlb __attribute__((vector_size(LB * sizeof(double))));
/* Its lanes as 64-bit integers: comparison masks and label indices. */
typedef long long vli __attribute__((vector_size(LB * sizeof(long long))));

/*
 * out[j0 .. j0 + N·LB) = Σ_i x[i] M[i, j0 ..]: N blocks of LB labels with their sums in N registers,
 * independent chains the core overlaps; each sum is taken over i in order.
 */
#define VECMAT_BLOCKS(N)                                                                                            \
  static inline __attribute__((always_inline)) void vecmat##N(const double *restrict x, const double *restrict M, \
                                                               size_t K, size_t Kp, size_t j0, double *restrict out) { \
    vlb acc[N];                                                                                                     \
    for (int q = 0; q < N; q++) acc[q] = (vlb){0};                                                                  \
    for (size_t i = 0; i < K; i++) {                                                                                \
      const double *restrict row = M + i * Kp + j0;                                                                 \
      for (int q = 0; q < N; q++) {                                                                                 \
        vlb r;                                                                                                      \
        memcpy(&r, row + q * LB, sizeof r);                                                                         \
        acc[q] += x[i] * r;                                                                                         \
      }                                                                                                             \
    }                                                                                                               \
    memcpy(out + j0, acc, sizeof acc);                                                                              \
  }
VECMAT_BLOCKS(1)
VECMAT_BLOCKS(2)
VECMAT_BLOCKS(3)
VECMAT_BLOCKS(4)

/*
 * out[j] = Σ_i x[i] M[i, j] for j < Kp (M [K, Kp], rows padded), up to four blocks of labels at a time
 * (the same bits as the plain loop over i: no sum is reordered).
 */
static inline __attribute__((always_inline)) void vecmat(const double *restrict x, const double *restrict M, size_t K, size_t Kp, double *restrict out) {
  size_t j0 = 0;
  for (; j0 + 4 * LB <= Kp; j0 += 4 * LB) vecmat4(x, M, K, Kp, j0, out);
  switch ((Kp - j0) / LB) {
    case 3: vecmat3(x, M, K, Kp, j0, out); break;
    case 2: vecmat2(x, M, K, Kp, j0, out); break;
    case 1: vecmat1(x, M, K, Kp, j0, out); break;
    default: break;
  }
}

/*
 * e^x for x ≤ 0, LB lanes at a time: x = k ln 2 + r with k = round(x / ln 2) and |r| ≤ ln 2 / 2 (ln 2
 * split in two parts so that k ln 2 is exact), e^r by its Taylor series to degree 13 (truncation below
 * 1e-17 relative), then scaled by 2^k built in the exponent bits. Lanes below −708 (results under the
 * normal range) give 0. Within a few units in the last place of libm's exp; plain IEEE operations, so
 * every clone computes the same bits.
 */
static inline __attribute__((always_inline)) void vexp_block(double *restrict at) {
  vlb x;
  memcpy(&x, at, sizeof x);
  const vli tiny = x < -708.0;
  x = (vlb)((vli)x & ~tiny);
  const vlb kf = (x * 1.4426950408889634 + 0x1.8p52) - 0x1.8p52; /* round to nearest */
  const vlb r = (x - kf * 6.93147180369123816490e-01) - kf * 1.90821492927058770002e-10;
  static const double inv_fact[14] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320, 1.0 / 362880,
                                      1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0};
  vlb poly = r * inv_fact[13];
  for (int i = 12; i >= 1; i--) poly = (poly + inv_fact[i]) * r;
  poly = poly + 1.0;
  const vli k = __builtin_convertvector(kf, vli);
  const vlb scale = (vlb)((k + 1023) << 52);
  x = (vlb)((vli)(poly * scale) & ~tiny);
  memcpy(at, &x, sizeof x);
}

/* x[i] = e^{x[i]} for i < n, every x[i] ≤ 0 (vexp_block; the last partial block padded with zeros). */
static inline __attribute__((always_inline)) void vexp(double *restrict x, size_t n) {
  size_t i = 0;
  for (; i + LB <= n; i += LB) vexp_block(x + i);
  if (i < n) {
    double v[LB] = {0};
    memcpy(v, x + i, (n - i) * sizeof(double));
    vexp_block(v);
    memcpy(x + i, v, (n - i) * sizeof(double));
  }
}

/* Per-sequence scratch, sized for T positions and K labels (mean field: `iterations` snapshots more). */
typedef struct {
  double *psi, *a, *m, *bb, *n, *c, *r, *X, *Xn, *v, *C, *P, *gU, *gW;
  double *Q, *logq, *gl, *gq, *z;
  int32_t *back, *ys;
} work_t;

static double *work_alloc(work_t *w, size_t T, size_t K, size_t iterations) {
  const size_t TK = T * K, KK = K * K, Kp = padded(K);
  const size_t Kt = Kp > T ? Kp : T; /* c doubles as a column of a (T) */
  const size_t n = 4 * TK + T + Kt + 4 * Kp + T * Kp + 2 * KK + TK + (iterations + 1) * TK + 3 * TK + Kp;
  double *mem = (double *)malloc(n * sizeof(double) + 2 * TK * sizeof(int32_t));
  if (!mem) return NULL;
  double *p = mem;
  w->psi = p, p += TK;
  w->a = p, p += TK;
  w->m = p, p += TK;
  w->bb = p, p += TK;
  w->n = p, p += T;
  w->c = p, p += Kt;
  w->r = p, p += Kp;
  w->X = p, p += Kp;
  w->Xn = p, p += Kp;
  w->v = p, p += Kp;
  w->C = p, p += T * Kp;
  w->P = p, p += KK;
  w->gW = p, p += KK;
  w->gU = p, p += TK;
  w->Q = p, p += (iterations + 1) * TK;
  w->logq = p, p += TK;
  w->gl = p, p += TK;
  w->gq = p, p += TK;
  w->z = p, p += Kp;
  w->back = (int32_t *)p;
  w->ys = w->back + TK;
  return mem;
}

/* ψ_t = exp(U_t − max U_t) for t < L; returns Σ_t max U_t. */
static SPS_CLONES double seq_psi(const float *u, size_t L, size_t K, double *psi) {
  double shift = 0;
  for (size_t t = 0; t < L; t++) {
    const float *row = u + t * K;
    double mx = -INFINITY;
    for (size_t k = 0; k < K; k++)
      if (row[k] > mx) mx = row[k];
    shift += mx;
    for (size_t k = 0; k < K; k++) psi[t * K + k] = (double)row[k] - mx;
  }
  vexp(psi, L * K);
  return shift;
}

/*
 * Forward: m_t(j) = Σ_i a_{t−1}(i) E(i, j) (m_0 = 1), n_t = Σ_j ψ_t(j) m_t(j), a_t = ψ_t m_t / n_t.
 * Returns 0 when a normaliser is not a positive finite number.
 */
static SPS_CLONES int seq_forward(const pairwise_t *p, const double *restrict psi, size_t L, double *restrict a, double *restrict m, double *restrict n, double *restrict v) {
  const size_t K = p->K;
  for (size_t t = 0; t < L; t++) {
    double *restrict mt = m + t * K;
    if (t == 0) {
      for (size_t j = 0; j < K; j++) mt[j] = 1;
    } else {
      vecmat(a + (t - 1) * K, p->Ep, K, p->Kp, v);
      for (size_t j = 0; j < K; j++) mt[j] = v[j];
    }
    double s = 0;
    for (size_t j = 0; j < K; j++) s += psi[t * K + j] * mt[j];
    if (!(s > 0) || !isfinite(s)) return 0;
    n[t] = s;
    for (size_t j = 0; j < K; j++) a[t * K + j] = (psi[t * K + j] * mt[j]) / s;
  }
  return 1;
}

/*
 * Backward: b_{L−1} = 1, b_t(i) = Σ_j E(i, j) c_{t+1}(j) with c_{t+1} = ψ_{t+1} b_{t+1} / n_{t+1}; with gW,
 * also the edge marginals Σ_{t≥1} ξ_t(i, j) = E(i, j) Σ_{t≥1} a_{t−1}(i) c_t(j) added into gW: the c_t
 * are kept as the rows of C [L − 1, Kp], and the sum over t is one register-blocked product per i.
 */
static SPS_CLONES void seq_backward(const pairwise_t *p, const double *restrict psi, const double *restrict n, size_t L, const double *restrict a,
                                    double *restrict bb, double *restrict c, double *restrict v, double *restrict C, double *restrict gW) {
  const size_t K = p->K, Kp = p->Kp;
  for (size_t k = 0; k < K; k++) bb[(L - 1) * K + k] = 1;
  for (size_t t = L - 1; t >= 1; t--) {
    for (size_t j = 0; j < K; j++) c[j] = (psi[t * K + j] * bb[t * K + j]) / n[t];
    vecmat(c, p->Etp, K, Kp, v);
    for (size_t i = 0; i < K; i++) bb[(t - 1) * K + i] = v[i];
    if (gW) {
      double *restrict row = C + (t - 1) * Kp;
      for (size_t j = 0; j < K; j++) row[j] = c[j];
      for (size_t j = K; j < Kp; j++) row[j] = 0;
    }
  }
  if (!gW || L < 2) return;
  for (size_t i = 0; i < K; i++) {
    for (size_t t = 0; t + 1 < L; t++) c[t] = a[t * K + i]; /* a_t(i), t < L − 1 (c is free again) */
    vecmat(c, C, L - 1, Kp, v);
    const double *restrict row = p->E + i * K;
    double *restrict g = gW + i * K;
    for (size_t j = 0; j < K; j++) g[j] += row[j] * v[j];
  }
}

/* F(Y) = Σ_t U_t(y_t) + Σ_{t≥1} w(y_{t−1}, y_t) (docs/model.md eq. 1), in float64. */
static double seq_score(const pairwise_t *p, const float *u, const int32_t *y, size_t L) {
  const size_t K = p->K;
  double f = 0;
  for (size_t t = 0; t < L; t++) f += (double)u[t * K + y[t]] + (t > 0 ? p->w[y[t - 1] * K + y[t]] : 0);
  return f;
}

/* gU −= sign·onehot(Y), gW −= sign·(Y's transition counts): the gradient of −sign·F(Y). */
static void seq_minus_score_grad(const pairwise_t *p, const int32_t *y, size_t L, double sign, double *gU, double *gW) {
  const size_t K = p->K;
  for (size_t t = 0; t < L; t++) {
    gU[t * K + y[t]] -= sign;
    if (t > 0) gW[y[t - 1] * K + y[t]] -= sign;
  }
}

/* log Z and its gradient: gU = the marginals p_t, gW = Σ_t ξ_t (chain-logpartition.ts). 0: declined. */
static int seq_log_partition(const pairwise_t *p, const float *u, size_t L, work_t *w, double *logZ) {
  const size_t K = p->K;
  double lz = seq_psi(u, L, K, w->psi) + (double)(L - 1) * p->cW;
  if (!seq_forward(p, w->psi, L, w->a, w->m, w->n, w->v)) return 0;
  for (size_t t = 0; t < L; t++) lz += log(w->n[t]);
  seq_backward(p, w->psi, w->n, L, w->a, w->bb, w->c, w->v, w->C, w->gW);
  for (size_t i = 0; i < L * K; i++) w->gU[i] = w->a[i] * w->bb[i];
  *logZ = lz;
  return isfinite(lz);
}

/*
 * −(1/L) Σ_t log p_t(y_t) and its gradient by the two adjoint sweeps of chain-crossentropy.ts
 * (crossEntropyArrays, whose comment has the equations). 0: declined.
 */
static SPS_CLONES int seq_cross_entropy(const pairwise_t *p, const float *u, const int32_t *y, size_t L, work_t *w, double *loss) {
  const size_t K = p->K;
  const double g = -1.0 / (double)L;
  double *restrict psi = w->psi, *restrict a = w->a, *restrict m = w->m, *restrict bb = w->bb, *restrict n = w->n;
  double *restrict c = w->c, *restrict r = w->r, *restrict P = w->P, *restrict gU = w->gU;
  const double *restrict E = p->E;
  seq_psi(u, L, K, psi);
  if (!seq_forward(p, psi, L, a, m, n, w->v)) return 0;
  seq_backward(p, psi, n, L, a, bb, c, w->v, NULL, NULL);
  double ll = 0;
  for (size_t t = 0; t < L; t++) {
    const size_t k = (size_t)y[t];
    const double pt = a[t * K + k] * bb[t * K + k];
    if (!(pt >= CE_TINY) || !(m[t * K + k] >= CE_TINY) || !(bb[t * K + k] >= CE_TINY)) return 0;
    ll += log(pt);
    for (size_t j = 0; j < K; j++) gU[t * K + j] = a[t * K + j] * bb[t * K + j];
  }
  *loss = g * ll;
  memset(P, 0, K * K * sizeof(double));
  /* Left sweep: the adjoint of the forward recursion, X_{t−1} = E r_t. */
  double *restrict X = w->X, *restrict Xn = w->Xn;
  memset(X, 0, K * sizeof(double));
  for (size_t t = L - 1; t >= 1; t--) {
    const size_t yt = (size_t)y[t];
    for (size_t j = 0; j < K; j++) {
      const double q = psi[t * K + j] / n[t];
      r[j] = q * X[j];
      gU[t * K + j] += a[t * K + j] * X[j];
      c[j] = q * bb[t * K + j];
    }
    r[yt] += g / m[t * K + yt];
    gU[t * K + yt] += g;
    for (size_t j = 0; j < K; j++) c[j] += r[j];
    vecmat(r, p->Etp, K, p->Kp, Xn);
    for (size_t i = 0; i < K; i++) {
      const double ai = a[(t - 1) * K + i];
      double *restrict row = P + i * K;
      for (size_t j = 0; j < K; j++) row[j] += ai * c[j];
    }
    double *tmp = X;
    X = Xn, Xn = tmp;
  }
  for (size_t j = 0; j < K; j++) gU[j] += a[j] * X[j];
  gU[y[0]] += g;
  /* Right sweep: the adjoint of the backward recursion, with s_0 = [j = y_0] g / b_0. */
  double *restrict s = X, *restrict sn = Xn;
  memset(s, 0, K * sizeof(double));
  s[y[0]] = g / bb[y[0]];
  for (size_t t = 1; t < L; t++) {
    vecmat(s, p->Ep, K, p->Kp, r); /* r = Eᵀ s_{t−1} */
    for (size_t j = 0; j < K; j++) {
      const double q = psi[t * K + j] / n[t];
      const double Yj = q * r[j];
      gU[t * K + j] += bb[t * K + j] * Yj;
      c[j] = q * bb[t * K + j];
      sn[j] = Yj;
    }
    sn[y[t]] += g / bb[t * K + y[t]];
    for (size_t i = 0; i < K; i++) {
      const double si = s[i];
      double *restrict row = P + i * K;
      for (size_t j = 0; j < K; j++) row[j] += si * c[j];
    }
    double *tmp = s;
    s = sn, sn = tmp;
  }
  for (size_t i = 0; i < K * K; i++) w->gW[i] = E[i] * P[i];
  if (!isfinite(*loss)) return 0;
  for (size_t i = 0; i < L * K; i++)
    if (!isfinite(gU[i])) return 0;
  for (size_t i = 0; i < K * K; i++)
    if (!isfinite(w->gW[i])) return 0;
  return 1;
}

/* log q = log softmax(z) (shifted by the max, as tf.logSoftmax) and q = softmax(z), for z [K]. */
static inline __attribute__((always_inline)) void softmax(const double *restrict z, size_t K, double *restrict logq, double *restrict q) {
  double mx = -INFINITY, s = 0;
  for (size_t k = 0; k < K; k++)
    if (z[k] > mx) mx = z[k];
  for (size_t k = 0; k < K; k++) q[k] = z[k] - mx;
  vexp(q, K);
  for (size_t k = 0; k < K; k++) s += q[k];
  const double ls = log(s);
  for (size_t k = 0; k < K; k++) {
    logq[k] = (z[k] - mx) - ls;
    q[k] /= s;
  }
}

/*
 * Mean field with parity updates (src/crf/chain-meanfield.ts, eq. 7): from q_t = softmax(U_t), each
 * iteration sets every even, then every odd position to
 *   q_t = softmax(z_t),  z_t = U_t + Σ_a q_{t−1}(a) W(a, ·) + Σ_c W(·, c) q_{t+1}(c),
 * and the loss is −(1/L) Σ_t log q_t(y_t). Its gradient is reverse mode through the half-steps, with
 * the q of every iteration kept (Q[it][t]): for an updated position, with adjoints ḡ of log q_t and q̄
 * of q_t, L̄ = ḡ + q̄ ⊙ q_t and z̄ = L̄ − q_t Σ_k L̄(k); then ∂U_t += z̄, ∂W += q_{t−1} ⊗ z̄ + z̄ ⊗ q_{t+1},
 * q̄_{t−1} += W z̄, q̄_{t+1} += Wᵀ z̄, and the position's own adjoints restart at 0 (its earlier value is
 * not read by this half-step).
 */
static SPS_CLONES void seq_mean_field(const pairwise_t *p, const float *u, const int32_t *y, size_t L, size_t iterations, work_t *w, double *loss) {
  const size_t K = p->K, Kp = p->Kp, TK = L * K;
  double *restrict Q = w->Q, *restrict logq = w->logq, *restrict gl = w->gl, *restrict gq = w->gq, *restrict z = w->z;
  double *restrict gU = w->gU, *restrict gW = w->gW, *restrict fp = w->c, *restrict fn = w->r, *restrict v = w->v;
  for (size_t t = 0; t < L; t++) {
    for (size_t k = 0; k < K; k++) z[k] = u[t * K + k];
    softmax(z, K, logq + t * K, Q + t * K);
  }
  for (size_t it = 0; it < iterations; it++) {
    double *restrict cur = Q + (it + 1) * TK;
    const double *restrict old = Q + it * TK;
    for (size_t parity = 0; parity < 2; parity++) {
      const double *nb = parity == 0 ? old : cur; /* the other parity's current q */
      for (size_t t = parity; t < L; t += 2) {
        if (t > 0)
          vecmat(nb + (t - 1) * K, p->wp, K, Kp, fp);
        else
          for (size_t j = 0; j < K; j++) fp[j] = 0;
        if (t + 1 < L)
          vecmat(nb + (t + 1) * K, p->wtp, K, Kp, fn);
        else
          for (size_t j = 0; j < K; j++) fn[j] = 0;
        for (size_t j = 0; j < K; j++) z[j] = (double)u[t * K + j] + (fp[j] + fn[j]);
        softmax(z, K, logq + t * K, cur + t * K);
      }
    }
  }
  const double g = -1.0 / (double)L;
  double ll = 0;
  for (size_t t = 0; t < L; t++) ll += logq[t * K + y[t]];
  *loss = g * ll;

  memset(gl, 0, TK * sizeof(double));
  memset(gq, 0, TK * sizeof(double));
  for (size_t t = 0; t < L; t++) gl[t * K + y[t]] = g;
  for (size_t it = iterations; it-- > 0;) {
    const double *restrict cur = Q + (it + 1) * TK;
    for (size_t pp = 2; pp-- > 0;) {
      const double *nb = pp == 0 ? Q + it * TK : cur;
      for (size_t t = pp; t < L; t += 2) {
        const double *restrict q = cur + t * K;
        double S = 0;
        for (size_t k = 0; k < K; k++) z[k] = gl[t * K + k] + gq[t * K + k] * q[k];
        for (size_t k = 0; k < K; k++) S += z[k];
        for (size_t k = 0; k < K; k++) z[k] -= q[k] * S;
        for (size_t k = 0; k < K; k++) gU[t * K + k] += z[k];
        if (t > 0) {
          const double *restrict prev = nb + (t - 1) * K;
          for (size_t a = 0; a < K; a++) {
            const double pa = prev[a];
            for (size_t j = 0; j < K; j++) gW[a * K + j] += pa * z[j];
          }
          vecmat(z, p->wtp, K, Kp, v); /* W z̄ */
          for (size_t a = 0; a < K; a++) gq[(t - 1) * K + a] += v[a];
        }
        if (t + 1 < L) {
          const double *restrict next = nb + (t + 1) * K;
          for (size_t j = 0; j < K; j++) {
            const double zj = z[j];
            for (size_t c = 0; c < K; c++) gW[j * K + c] += zj * next[c];
          }
          vecmat(z, p->wp, K, Kp, v); /* Wᵀ z̄ */
          for (size_t c = 0; c < K; c++) gq[(t + 1) * K + c] += v[c];
        }
        for (size_t k = 0; k < K; k++) gl[t * K + k] = 0, gq[t * K + k] = 0;
      }
    }
  }
  for (size_t t = 0; t < L; t++) {
    const double *restrict q = Q + t * K;
    double S = 0;
    for (size_t k = 0; k < K; k++) z[k] = gl[t * K + k] + gq[t * K + k] * q[k];
    for (size_t k = 0; k < K; k++) S += z[k];
    for (size_t k = 0; k < K; k++) gU[t * K + k] += z[k] - q[k] * S;
  }
}

/*
 * Max-sum (src/crf/chain.ts, viterbiArrays): δ_0(k) = U_0(k) + a_0(k), δ_t(j) = max_i (δ_{t−1}(i) +
 * w(i, j)) + U_t(j) + a_t(j), with a_t(k) = [k ≠ gold_t]/L for loss-augmented decoding, 0 otherwise;
 * ties go to the smallest label. The maximiser goes to ys.
 */
static SPS_CLONES void seq_viterbi(const pairwise_t *p, const float *u, const int32_t *gold, size_t L, work_t *w, int32_t *ys) {
  const size_t K = p->K, Kp = p->Kp;
  const double aug = gold ? 1.0 / (double)L : 0;
  double *restrict delta = w->X, *restrict prev = w->Xn;
  int32_t *restrict back = w->back;
  for (size_t k = 0; k < K; k++) delta[k] = (double)u[k] + (gold && (int32_t)k != gold[0] ? aug : 0);
  for (size_t t = 1; t < L; t++) {
    double *tmp = prev;
    prev = delta, delta = tmp;
    int32_t *restrict arg = back + t * K;
    /* max_i over a block of LB labels j at a time, in registers: a strictly larger value replaces the
       best and its i, so ties keep the smallest i, as in the JS decoder */
    for (size_t j0 = 0; j0 < Kp; j0 += LB) {
      vlb best;
      vli at = {0};
      for (size_t jj = 0; jj < LB; jj++) best[jj] = -INFINITY;
      for (size_t i = 0; i < K; i++) {
        vlb row;
        memcpy(&row, p->wp + i * Kp + j0, sizeof row);
        const vlb v = prev[i] + row;
        const vli better = v > best;
        best = (vlb)(((vli)v & better) | ((vli)best & ~better));
        at = (((vli){0} + (long long)i) & better) | (at & ~better);
      }
      for (size_t jj = 0; jj < LB && j0 + jj < K; jj++) {
        const size_t j = j0 + jj;
        delta[j] = best[jj] + (double)u[t * K + j] + (gold && (int32_t)j != gold[t] ? aug : 0);
        arg[j] = (int32_t)at[jj];
      }
    }
  }
  size_t last = 0;
  for (size_t k = 1; k < K; k++)
    if (delta[k] > delta[last]) last = k;
  ys[L - 1] = (int32_t)last;
  for (size_t t = L - 1; t > 0; t--) ys[t - 1] = back[t * K + (size_t)ys[t]];
}

/* Hamming Δ(a, b) = (1/L) Σ_t [a_t ≠ b_t] (ssvm, eq. 6). */
static double hamming(const int32_t *a, const int32_t *b, size_t L) {
  size_t d = 0;
  for (size_t t = 0; t < L; t++) d += a[t] != b[t];
  return (double)d / (double)L;
}

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

/*
 * The pairwise matrices (in *pmem) and the per-sequence scratch (in *wmem) of one call, both to be
 * freed by the caller; 0, with a JS error thrown, when memory runs out.
 */
static int chain_alloc(napi_env env, const float *pw, const int32_t *allowed, size_t T, size_t K, size_t iterations, pairwise_t *p, work_t *w,
                       double **pmem, double **wmem) {
  *pmem = (double *)malloc(pairwise_size(K) * sizeof(double));
  *wmem = work_alloc(w, T, K, iterations);
  if (!*pmem || !*wmem) {
    free(*pmem), free(*wmem);
    napi_throw_error(env, NULL, "sps_crf: out of memory");
    return 0;
  }
  pairwise_init(p, pw, allowed, K, *pmem);
  return 1;
}

/*
 * chainCrf(dims = [B, T, K, objective, iterations], unary, pairwise, lengths, labels|null,
 * allowed|null, maximiser|null, value [B], gU [B·T·K], gW [B·K·K]) -> 0, or 1 when declined.
 * value[b] is the objective of sequence b (log Z for OBJ_LOG_PARTITION, else the loss of docs/model.md
 * §2), gU and gW its gradient with respect to the unaries (0 at padding) and the pairwise matrix (0 at
 * forbidden transitions). ssvm decodes the loss-augmented maximiser unless `maximiser` is given.
 */
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

  work_t w;
  pairwise_t p;
  double *pmem, *mem;
  if (!chain_alloc(env, pw, allowed, T, K, obj == OBJ_MEAN_FIELD ? iterations : 0, &p, &w, &pmem, &mem)) return NULL;
  int ok = 1;
  for (size_t b = 0; b < B && ok; b++) {
    const size_t L = (size_t)len[b];
    const float *u = unary + b * T * K;
    const int32_t *y = labels ? labels + b * T : NULL;
    double v = 0;
    memset(w.gW, 0, K * K * sizeof(double));
    memset(w.gU, 0, L * K * sizeof(double));
    switch (obj) {
      case OBJ_LOG_PARTITION:
        ok = seq_log_partition(&p, u, L, &w, &v);
        break;
      case OBJ_LOG_LIKELIHOOD:
        ok = seq_log_partition(&p, u, L, &w, &v);
        v -= seq_score(&p, u, y, L);
        seq_minus_score_grad(&p, y, L, 1, w.gU, w.gW);
        break;
      case OBJ_CROSS_ENTROPY:
        ok = seq_cross_entropy(&p, u, y, L, &w, &v);
        break;
      case OBJ_MEAN_FIELD:
        seq_mean_field(&p, u, y, L, iterations, &w, &v);
        break;
      case OBJ_SSVM: {
        const int32_t *star = maximiser ? maximiser + b * T : w.ys;
        if (!maximiser) seq_viterbi(&p, u, y, L, &w, w.ys);
        v = seq_score(&p, u, star, L) + hamming(star, y, L) - seq_score(&p, u, y, L);
        seq_minus_score_grad(&p, star, L, -1, w.gU, w.gW);
        seq_minus_score_grad(&p, y, L, 1, w.gU, w.gW);
        break;
      }
    }
    if (!ok) break;
    value[b] = (float)v;
    float *gu = gU + b * T * K, *gw = gW + b * K * K;
    for (size_t i = 0; i < L * K; i++) gu[i] = (float)w.gU[i];
    memset(gu + L * K, 0, (T - L) * K * sizeof(float));
    for (size_t i = 0; i < K * K; i++) gw[i] = allowed && !allowed[i] ? 0.f : (float)w.gW[i];
  }
  free(pmem);
  free(mem);
  napi_value status;
  CHECK(env, napi_create_int32(env, ok ? 0 : 1, &status));
  return status;
}

/*
 * chainCrfGrad(dims = [B, T, K], dy [B], gU, gW, dU, dW): the backward of chainCrf, dU = dy_b · gU_b
 * per sequence and dW = Σ_b dy_b · gW_b (summed in float64).
 */
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
  double *acc = (double *)calloc(KK, sizeof(double));
  if (!acc) {
    napi_throw_error(env, NULL, "sps_crf: out of memory");
    return NULL;
  }
  for (size_t b = 0; b < B; b++) {
    const float s = dy[b];
    for (size_t i = 0; i < TK; i++) dU[b * TK + i] = s * gU[b * TK + i];
    for (size_t i = 0; i < KK; i++) acc[i] += (double)s * gW[b * KK + i];
  }
  for (size_t i = 0; i < KK; i++) dW[i] = (float)acc[i];
  free(acc);
  return NULL;
}

/*
 * chainViterbi(dims = [B, T, K], unary, pairwise, lengths, allowed|null, gold|null, labels [B·T]): the
 * MAP labelling of each sequence (loss-augmented against gold when given) into labels[b·T + t], t < L;
 * the padding entries are set to -1.
 */
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
  work_t w;
  pairwise_t p;
  double *pmem, *mem;
  if (!chain_alloc(env, pw, allowed, T, K, 0, &p, &w, &pmem, &mem)) return NULL;
  for (size_t b = 0; b < B; b++) {
    const size_t L = (size_t)len[b];
    seq_viterbi(&p, unary + b * T * K, gold ? gold + b * T : NULL, L, &w, out + b * T);
    for (size_t t = L; t < T; t++) out[b * T + t] = -1;
  }
  free(pmem);
  free(mem);
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
