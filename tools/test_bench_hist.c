/* Unit tests for tools/bench_hist: the bucket layout tiles the value range
 * with no gap or overlap, every bucket stays within the promised relative
 * error, and percentiles come out right on known distributions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "tools/bench_hist.h"

/* Buckets are contiguous: bucket i+1 starts right after bucket i ends,
 * and each value maps back into the bucket that claims it. */
static void test_buckets_tile_the_range(void **state) {
  (void)state;
  uint64_t expect_lo = 0;
  for (uint32_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
    uint64_t lo, hi;
    bench_hist_bucket_range(i, &lo, &hi);
    assert_int_equal(lo, expect_lo);
    assert_true(hi >= lo);
    assert_int_equal(bench_hist_index(lo), i);
    assert_int_equal(bench_hist_index(hi), i);
    expect_lo = hi + 1;
  }
  assert_int_equal(expect_lo, UINT64_C(1) << BENCH_HIST_MAX_BITS);
}

/* Bucket width / lowest value <= 1/2^(SUB_BITS-1), for every bucket past
 * the exact ones (which are one value wide). */
static void test_relative_error_bound(void **state) {
  (void)state;
  for (uint32_t i = 0; i < 2 * BENCH_HIST_HALF; i++) {
    uint64_t lo, hi;
    bench_hist_bucket_range(i, &lo, &hi);
    assert_int_equal(lo, hi);
  }
  for (uint32_t i = 2 * BENCH_HIST_HALF; i < BENCH_HIST_BUCKETS; i++) {
    uint64_t lo, hi;
    bench_hist_bucket_range(i, &lo, &hi);
    /* (hi - lo + 1) / lo <= 1 / HALF  <=>  (hi - lo + 1) * HALF <= lo */
    assert_true((hi - lo + 1) * BENCH_HIST_HALF <= lo);
  }
}

static void test_percentiles_uniform(void **state) {
  (void)state;
  struct bench_hist *h = malloc(sizeof *h);
  assert_non_null(h);
  bench_hist_reset(h);
  assert_int_equal(bench_hist_percentile(h, 50), 0);
  for (uint64_t v = 1; v <= 100000; v++)
    bench_hist_record(h, v * 1000); /* 1 us .. 100 ms, in ns */
  assert_int_equal(h->count, 100000);
  assert_int_equal(h->min, 1000);
  assert_int_equal(h->max, 100000000);
  double ps[] = {50, 90, 99, 99.9};
  for (int i = 0; i < 4; i++) {
    double exact = ps[i] / 100.0 * 100000.0 * 1000.0;
    double got = (double)bench_hist_percentile(h, ps[i]);
    assert_true(got >= exact);                                /* upper bound */
    assert_true(got <= exact * (1.0 + 1.0 / BENCH_HIST_HALF)); /* bounded */
  }
  assert_int_equal(bench_hist_percentile(h, 100), 100000000);
  free(h);
}

/* One outlier must show up as max and as p99.9 only when it is > 0.1 %. */
static void test_outlier_and_clamp(void **state) {
  (void)state;
  struct bench_hist *h = malloc(sizeof *h);
  struct bench_hist *g = malloc(sizeof *g);
  assert_non_null(h);
  assert_non_null(g);
  bench_hist_reset(h);
  bench_hist_reset(g);
  for (int i = 0; i < 999; i++)
    bench_hist_record(h, 500);
  bench_hist_record(g, UINT64_C(1) << 50); /* beyond the range: clamped */
  bench_hist_merge(h, g);
  assert_int_equal(h->count, 1000);
  assert_int_equal(h->clamped, 1);
  /* 500 sits in a 2-wide bucket [500, 501]: the upper bound is reported. */
  uint64_t p999 = bench_hist_percentile(h, 99.9);
  assert_true(p999 >= 500 && p999 <= 501);
  assert_int_equal(h->max, UINT64_C(1) << 50);
  assert_true(bench_hist_percentile(h, 99.95) >=
              (UINT64_C(1) << BENCH_HIST_MAX_BITS) - (UINT64_C(1) << 35));
  free(h);
  free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buckets_tile_the_range),
      cmocka_unit_test(test_relative_error_bound),
      cmocka_unit_test(test_percentiles_uniform),
      cmocka_unit_test(test_outlier_and_clamp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
