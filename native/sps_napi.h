/*
 * The N-API argument plumbing shared by sps's native kernels (sps_blas.c, sps_crf.c): every entry
 * point takes its dimensions as an Int32Array and its tensors as Float32Arrays (views of the wasm
 * heap), checks their sizes with need(), and throws a JS error naming the argument otherwise.
 */
#ifndef SPS_NAPI_H
#define SPS_NAPI_H
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Hot functions are compiled three times (AVX-512, AVX2, plain x86-64) and the loader picks the
 * widest the CPU has, so one build runs anywhere and vectorises where it can. Elsewhere: one version.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(SPS_NO_CLONES)
#define SPS_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SPS_CLONES
#endif

#define CHECK(env, call)                                                   \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error((env), NULL, "sps_blas: N-API call failed: " #call); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

/* A Float32Array argument's data, or NULL (with a JS error thrown) for anything else. null -> NULL, ok. */
static inline int f32_arg(napi_env env, napi_value v, float **out, size_t *len, int nullable) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (nullable && (t == napi_null || t == napi_undefined)) {
    *out = NULL;
    if (len) *len = 0;
    return 1;
  }
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (!is_ta) {
    napi_throw_type_error(env, NULL, "sps_blas: expected a Float32Array");
    return 0;
  }
  napi_typedarray_type type;
  size_t n;
  void *data;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, &n, &data, &ab, &off) != napi_ok || type != napi_float32_array) {
    napi_throw_type_error(env, NULL, "sps_blas: expected a Float32Array");
    return 0;
  }
  *out = (float *)data;
  if (len) *len = n;
  return 1;
}

static inline int i32_array_arg(napi_env env, napi_value v, int32_t **out, size_t *len) {
  napi_typedarray_type type;
  void *data;
  napi_value ab;
  size_t off;
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (!is_ta || napi_get_typedarray_info(env, v, &type, len, &data, &ab, &off) != napi_ok || type != napi_int32_array) {
    napi_throw_type_error(env, NULL, "sps_blas: expected an Int32Array of dimensions");
    return 0;
  }
  *out = (int32_t *)data;
  return 1;
}

static inline int need(napi_env env, size_t have, size_t want, const char *what) {
  if (have >= want) return 1;
  char msg[160];
  snprintf(msg, sizeof msg, "sps_blas: %s has %zu elements, needs %zu", what, have, want);
  napi_throw_range_error(env, NULL, msg);
  return 0;
}

/* An Int32Array argument that may be null (-> NULL); anything else but an Int32Array throws. */
static inline int i32_nullable_arg(napi_env env, napi_value v, int32_t **out, size_t *len) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_null || t == napi_undefined) {
    *out = NULL;
    *len = 0;
    return 1;
  }
  return i32_array_arg(env, v, out, len);
}

#endif
