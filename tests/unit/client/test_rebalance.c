/* test_rebalance.c — rc_rebalance, ZooKeeper's client rebalancing after a
 * server-list change, with a seeded RNG: the decision for each kind of
 * change, and the distribution of many clients afterwards (each server
 * within 2 points of an even share). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "client/client_int.h"

#define RUNS 30000

static char names[10][8] = {"s0", "s1", "s2", "s3", "s4",
                            "s5", "s6", "s7", "s8", "s9"};

/* hosts "s<ids[i]>":2181 (the names are static: nothing to free) */
static size_t mk(struct rc_host *out, const int *ids, size_t n) {
  for (size_t i = 0; i < n; i++) {
    out[i].host = names[ids[i]];
    out[i].port = 2181;
  }
  return n;
}

static int id_of(const struct rc_host *h) { return h->host[1] - '0'; }

/* Each of RUNS clients sits on old[run % n_old] (an even spread), applies
 * the change, and lands on the server it keeps or the first one of the
 * order it is given.  count[id] clients land on server id; moved counts
 * those that moved. */
static void spread(const int *old_ids, size_t n_old, const int *new_ids,
                   size_t n_new, int count[10], int *moved) {
  struct rc_host old[10], hosts[10];
  mk(old, old_ids, n_old);
  uint64_t rng = 42;
  memset(count, 0, 10 * sizeof count[0]);
  *moved = 0;
  for (int run = 0; run < RUNS; run++) {
    mk(hosts, new_ids, n_new);
    const struct rc_host *cur = &old[(size_t)run % n_old];
    size_t keep;
    bool move = rc_rebalance(old, n_old, cur, hosts, n_new, &rng, &keep);
    /* the new list is a permutation of the given one */
    int seen[10] = {0};
    for (size_t i = 0; i < n_new; i++)
      seen[id_of(&hosts[i])]++;
    for (size_t i = 0; i < n_new; i++)
      assert_int_equal(seen[new_ids[i]], 1);
    if (move) {
      (*moved)++;
      assert_int_equal(keep, SIZE_MAX);
      count[id_of(&hosts[0])]++;
    } else {
      assert_true(keep < n_new);
      assert_string_equal(hosts[keep].host, cur->host);
      count[id_of(&hosts[keep])]++;
    }
  }
}

static void assert_even(const int count[10], const int *ids, size_t n) {
  for (size_t i = 0; i < n; i++) {
    double share = (double)count[ids[i]] / RUNS;
    double want = 1.0 / (double)n;
    if (share < want - 0.02 || share > want + 0.02)
      fail_msg("server s%d got %.3f of the clients, want %.3f", ids[i], share,
               want);
  }
}

static void test_grow_3_to_5(void **state) {
  (void)state;
  int old[] = {1, 2, 3}, neu[] = {1, 2, 3, 4, 5}, count[10], moved;
  spread(old, 3, neu, 5, count, &moved);
  assert_even(count, neu, 5);
  /* 1 - 3/5 of the clients move, all of them to s4 or s5 */
  assert_in_range(moved, RUNS * 38 / 100, RUNS * 42 / 100);
  assert_int_equal(count[4] + count[5], moved);
}

static void test_shrink_5_to_3(void **state) {
  (void)state;
  int old[] = {1, 2, 3, 4, 5}, neu[] = {1, 2, 3}, count[10], moved;
  spread(old, 5, neu, 3, count, &moved);
  assert_even(count, neu, 3);
  assert_int_equal(moved, RUNS * 2 / 5); /* exactly the clients of s4, s5 */
}

static void test_replace_one(void **state) {
  (void)state;
  /* s3 replaced by s4: its clients all go to s4, the others stay */
  int old[] = {1, 2, 3}, neu[] = {1, 2, 4}, count[10], moved;
  spread(old, 3, neu, 3, count, &moved);
  assert_int_equal(moved, RUNS / 3);
  assert_int_equal(count[4], RUNS / 3);
  assert_int_equal(count[1], RUNS / 3);
}

static void test_grow_and_remove(void **state) {
  (void)state;
  int old[] = {1, 2, 3}, neu[] = {1, 2, 4, 5}, count[10], moved;
  spread(old, 3, neu, 4, count, &moved);
  assert_even(count, neu, 4);
  assert_int_equal(count[3], 0);
}

static void test_shrink_with_added(void **state) {
  (void)state;
  /* 5 -> 4 with 3 kept and 1 added: the removed servers' clients split
   * between kept and added so that every server ends even */
  int old[] = {1, 2, 3, 4, 5}, neu[] = {1, 2, 3, 6}, count[10], moved;
  spread(old, 5, neu, 4, count, &moved);
  assert_even(count, neu, 4);
}

static void test_removed_server_always_moves(void **state) {
  (void)state;
  struct rc_host old[3], hosts[2];
  int old_ids[] = {1, 2, 3}, new_ids[] = {1, 2};
  mk(old, old_ids, 3);
  uint64_t rng = 7;
  for (int run = 0; run < 1000; run++) {
    mk(hosts, new_ids, 2);
    size_t keep;
    assert_true(rc_rebalance(old, 3, &old[2], hosts, 2, &rng, &keep));
    assert_int_equal(keep, SIZE_MAX);
    assert_int_not_equal(id_of(&hosts[0]), 3);
  }
}

static void test_same_list_stays_and_seed_repeats(void **state) {
  (void)state;
  struct rc_host old[3], a[3], b[3];
  int ids[] = {1, 2, 3};
  mk(old, ids, 3);
  uint64_t r1 = 99, r2 = 99;
  for (int run = 0; run < 100; run++) {
    mk(a, ids, 3);
    mk(b, ids, 3);
    size_t ka, kb;
    assert_false(rc_rebalance(old, 3, &old[1], a, 3, &r1, &ka));
    assert_false(rc_rebalance(old, 3, &old[1], b, 3, &r2, &kb));
    assert_int_equal(ka, kb);
    assert_string_equal(a[ka].host, "s2");
    for (int i = 0; i < 3; i++)
      assert_ptr_equal(a[i].host, b[i].host);
  }
  /* no current server (never connected): the new list is the order */
  mk(a, ids, 3);
  size_t k;
  (void)rc_rebalance(old, 3, NULL, a, 3, &r1, &k);
  assert_int_equal(k, SIZE_MAX);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grow_3_to_5),
      cmocka_unit_test(test_shrink_5_to_3),
      cmocka_unit_test(test_replace_one),
      cmocka_unit_test(test_grow_and_remove),
      cmocka_unit_test(test_shrink_with_added),
      cmocka_unit_test(test_removed_server_always_moves),
      cmocka_unit_test(test_same_list_stays_and_seed_repeats),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
