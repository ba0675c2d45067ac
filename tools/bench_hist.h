/* bench_hist — a latency histogram with bounded relative error.
 *
 * Log-linear buckets in the manner of HdrHistogram (written from the idea,
 * not from its code): values below 2^BENCH_HIST_SUB_BITS are counted
 * exactly; above that, every power-of-two range [2^k, 2^(k+1)) is split
 * into 2^(BENCH_HIST_SUB_BITS-1) equal sub-buckets, so a bucket is never
 * wider than 1/2^(BENCH_HIST_SUB_BITS-1) of the values it holds.  With 8
 * sub-bits that is 1/128, i.e. every reported percentile is within 0.8 %
 * of a value that was actually recorded.
 *
 * Values are unsigned 64-bit (roost-bench records nanoseconds); values at
 * or above 2^BENCH_HIST_MAX_BITS are clamped into the last bucket (and
 * counted in `clamped`); min, max and sum stay exact.
 *
 * The struct is fixed-size (no allocation), so recording is a handful of
 * instructions and cannot fail.  Not thread-safe; one per owner.
 */
#ifndef ROOST_BENCH_HIST_H
#define ROOST_BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_SUB_BITS 8
#define BENCH_HIST_MAX_BITS 42 /* 2^42 ns = 73 minutes */
#define BENCH_HIST_HALF (1u << (BENCH_HIST_SUB_BITS - 1))
#define BENCH_HIST_BUCKETS                                                     \
  ((BENCH_HIST_MAX_BITS - BENCH_HIST_SUB_BITS + 2) * BENCH_HIST_HALF)

struct bench_hist {
  uint64_t count;
  uint64_t sum;
  uint64_t min;
  uint64_t max;
  uint64_t clamped;
  uint64_t buckets[BENCH_HIST_BUCKETS];
};

void bench_hist_reset(struct bench_hist *h);
void bench_hist_record(struct bench_hist *h, uint64_t value);
/* Adds every count of `src` into `dst`. */
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);
/* The value at percentile p (0 < p <= 100): the upper bound of the bucket
 * holding the ceil(p/100 * count)-th smallest value, never above max.
 * 0 when the histogram is empty. */
uint64_t bench_hist_percentile(const struct bench_hist *h, double p);
/* Bucket index of a value, and the [lo, hi] range a bucket covers; exposed
 * for the unit test of the error bound. */
uint32_t bench_hist_index(uint64_t value);
void bench_hist_bucket_range(uint32_t index, uint64_t *lo, uint64_t *hi);

#endif /* ROOST_BENCH_HIST_H */
