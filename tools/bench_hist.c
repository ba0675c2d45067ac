/* bench_hist — see bench_hist.h for the bucket layout. */
#include "tools/bench_hist.h"

#include <string.h>

/* Index layout, with H = BENCH_HIST_HALF = 2^(SUB_BITS-1):
 *   shift s = max(0, msb(v) - (SUB_BITS - 1))
 *   index   = s * H + (v >> s)
 * For s = 0 this is v itself (0 .. 2H-1, exact).  For s >= 1, v >> s lies
 * in [H, 2H), so the indices of shift s are [(s+1)H, (s+2)H): consecutive
 * shifts tile the index space with no gap, and a bucket of shift s is 2^s
 * wide while holding values >= H * 2^s — relative width <= 1/H. */

static uint32_t msb64(uint64_t v) { return 63u - (uint32_t)__builtin_clzll(v); }

uint32_t bench_hist_index(uint64_t value) {
  if (value >> BENCH_HIST_MAX_BITS)
    value = (UINT64_C(1) << BENCH_HIST_MAX_BITS) - 1;
  if (value < 2u * BENCH_HIST_HALF)
    return (uint32_t)value;
  uint32_t s = msb64(value) - (BENCH_HIST_SUB_BITS - 1);
  return s * BENCH_HIST_HALF + (uint32_t)(value >> s);
}

void bench_hist_bucket_range(uint32_t index, uint64_t *lo, uint64_t *hi) {
  if (index < 2u * BENCH_HIST_HALF) {
    *lo = *hi = index;
    return;
  }
  uint32_t s = index / BENCH_HIST_HALF - 1;
  uint64_t m = index - (uint64_t)s * BENCH_HIST_HALF;
  *lo = m << s;
  *hi = ((m + 1) << s) - 1;
}

void bench_hist_reset(struct bench_hist *h) {
  memset(h, 0, sizeof *h);
  h->min = UINT64_MAX;
}

void bench_hist_record(struct bench_hist *h, uint64_t value) {
  if (value >> BENCH_HIST_MAX_BITS)
    h->clamped++;
  h->buckets[bench_hist_index(value)]++;
  h->count++;
  h->sum += value;
  if (value < h->min)
    h->min = value;
  if (value > h->max)
    h->max = value;
}

void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src) {
  for (uint32_t i = 0; i < BENCH_HIST_BUCKETS; i++)
    dst->buckets[i] += src->buckets[i];
  dst->count += src->count;
  dst->sum += src->sum;
  dst->clamped += src->clamped;
  if (src->min < dst->min)
    dst->min = src->min;
  if (src->max > dst->max)
    dst->max = src->max;
}

uint64_t bench_hist_percentile(const struct bench_hist *h, double p) {
  if (h->count == 0)
    return 0;
  if (p >= 100.0)
    return h->max;
  double want_d = p / 100.0 * (double)h->count;
  /* 99.9 % of 1000 must be rank 999, not 1000 because 99.9/100 rounds up
   * in binary: shave a relative 1e-12 before rounding up. */
  want_d -= want_d * 1e-12;
  uint64_t want = (uint64_t)want_d;
  if ((double)want < want_d)
    want++; /* ceil, without libm */
  if (want == 0)
    want = 1;
  uint64_t seen = 0;
  for (uint32_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
    seen += h->buckets[i];
    if (seen >= want) {
      uint64_t lo, hi;
      bench_hist_bucket_range(i, &lo, &hi);
      /* The bucket's upper bound over-reports by at most its width; the
       * exact extremes are known, so never go outside them. */
      if (hi > h->max)
        hi = h->max;
      if (hi < h->min)
        hi = h->min;
      return hi;
    }
  }
  return h->max;
}
