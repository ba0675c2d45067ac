/* tests/sim runner: scripted fixtures, random seeds, and the planted-bug
 * check that keeps the simulator honest.
 *
 *   sim                          fixtures, the default seeds, planted bugs
 *   sim --seed N [--steps M]     one seed, exactly as a failure printed it
 *   sim --seeds K [--first F]    K random seeds from F (soak: make soak-sim)
 *   sim --bug NAME ...           run with a planted bug (see --help)
 *   -v / -vv                     trace events / every message
 *
 * Prints "N passed, N failed" and exits non-zero on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/sim/cluster.h"
#include "zab/zab.h"

/* make test's share (about 5 s of CPU under the sanitizers); the planted
 * bugs have their own seeds, and make soak-sim runs 10000. */
#define DEFAULT_SEEDS 100
#define DEFAULT_STEPS 20000
#define LIVENESS_MS 30000
#define LIVENESS_WRITES 5
/* L2: after a leader resigns with nobody told, its followers leave it
 * within a tick (their next PING is refused) and a new leader commits
 * within this many ticks: an election, discovery, sync and a commit take
 * 1 to 6 ticks over 4000 seeds (the slowest are elections that split). */
#define LIVENESS_STEPDOWN_TICKS (2 * SIM_SYNC_LIMIT)

static int n_passed, n_failed;

/* ------------------------------------------------------------------ */
/* Fixtures: readable scripts over a fault-free world. */

struct fx {
  char why[512];
  char note[128]; /* a figure to print with "ok" */
};

#define CLUSTER_KILL(i) cluster_kill(c, (i))
#define CLUSTER_RESTART(i) cluster_restart(c, (i))
#define CLUSTER_PARTITION(...) cluster_partition(c, #__VA_ARGS__)
#define CLUSTER_HEAL() cluster_heal(c)
#define CLUSTER_RUN(ms) cluster_run_for(c, (ms))
#define CLUSTER_LEADER() cluster_wait_leader(c, 5000)
#define CLUSTER_CONVERGED() cluster_wait_converged(c, 10000)
#define EXPECT(cond)                                                           \
  do {                                                                         \
    if (!(cond)) {                                                             \
      snprintf(t->why, sizeof t->why, "line %d: EXPECT(%s)%s%s", __LINE__,     \
               #cond, cluster_failed(c) ? " after " : "",                      \
               cluster_failed(c) ? cluster_failure(c) : "");                   \
      return false;                                                            \
    }                                                                          \
  } while (0)

/* Writes n times at node (forwarded if it follows) and waits for each ack;
 * a refused write is retried every 20 ms for up to 3 s, as a client
 * would. */
static bool write_n(struct cluster *c, int node, int n) {
  for (int i = 0; i < n; i++) {
    uint64_t id = 0;
    for (int tries = 0; id == 0 && tries < 150; tries++) {
      id = cluster_write(c, node);
      if (id == 0)
        cluster_run_for(c, 20);
    }
    if (id == 0 || !cluster_wait_acked(c, &id, 1, 3000))
      return false;
  }
  return true;
}

static uint64_t node_stat(struct cluster *c, int node, char which) {
  struct sim_node_info ni;
  cluster_node_info(c, node, &ni);
  return which == 'd'   ? ni.n_sync_diff
         : which == 't' ? ni.n_sync_trunc
         : which == 's' ? ni.n_sync_snap
                        : ni.applied_count;
}

/* Three fresh servers elect exactly one leader -- the highest id, since all
 * histories are empty -- and every server ends up serving under it. */
static bool fx_elect(struct cluster *c, struct fx *t) {
  int l = CLUSTER_LEADER();
  EXPECT(l == 2);
  EXPECT(CLUSTER_CONVERGED());
  return true;
}

/* Writes through the leader and through followers commit, and every
 * replica applies the same history, in full. */
static bool fx_writes_replicate(struct cluster *c, struct fx *t) {
  EXPECT(CLUSTER_LEADER() >= 0);
  EXPECT(write_n(c, 0, 10));
  EXPECT(write_n(c, 2, 10));
  EXPECT(CLUSTER_CONVERGED());
  for (int i = 0; i < 3; i++)
    EXPECT(node_stat(c, i, 'n') == cluster_history_len(c));
  EXPECT(cluster_history_len(c) == 20);
  return true;
}

/* Killing the leader elects another that still has every acknowledged
 * write (I5 checks it at the establishment), writes continue, and the old
 * leader catches up when it comes back. */
static bool fx_leader_crash(struct cluster *c, struct fx *t) {
  EXPECT(CLUSTER_LEADER() == 2);
  EXPECT(write_n(c, 0, 10));
  CLUSTER_KILL(2);
  int l = CLUSTER_LEADER();
  EXPECT(l == 0 || l == 1);
  EXPECT(write_n(c, l, 10));
  CLUSTER_RESTART(2);
  EXPECT(CLUSTER_CONVERGED());
  EXPECT(node_stat(c, 2, 'n') == 20);
  return true;
}

/* A leader cut off from the majority cannot commit what it proposes and
 * stops serving; the majority elects a new leader and commits; after the
 * heal the old leader truncates its uncommitted proposal (TRUNC) and
 * converges. */
static bool fx_minority_leader(struct cluster *c, struct fx *t) {
  EXPECT(CLUSTER_LEADER() == 2);
  EXPECT(write_n(c, 1, 5));
  CLUSTER_PARTITION({0, 1}, {2});
  uint64_t lost = cluster_write(c, 2); /* still leads for syncLimit ticks */
  EXPECT(lost != 0);
  CLUSTER_RUN(1500);
  EXPECT(!cluster_write_acked(c, lost));
  int l = CLUSTER_LEADER();
  EXPECT(l == 0 || l == 1);
  EXPECT(write_n(c, l, 5));
  uint64_t trunc_before = node_stat(c, 2, 't');
  CLUSTER_HEAL();
  EXPECT(CLUSTER_CONVERGED());
  EXPECT(node_stat(c, 2, 't') > trunc_before);
  EXPECT(!cluster_write_acked(c, lost));
  EXPECT(cluster_history_len(c) == 10);
  return true;
}

/* A follower that was down for a few writes catches up by DIFF. */
static bool fx_sync_diff(struct cluster *c, struct fx *t) {
  EXPECT(CLUSTER_LEADER() == 2);
  EXPECT(write_n(c, 2, 3));
  EXPECT(CLUSTER_CONVERGED());
  CLUSTER_KILL(0);
  EXPECT(write_n(c, 1, 5));
  uint64_t before = node_stat(c, 0, 'd');
  CLUSTER_RESTART(0);
  EXPECT(CLUSTER_CONVERGED());
  EXPECT(node_stat(c, 0, 'd') > before);
  EXPECT(node_stat(c, 0, 'n') == 8);
  return true;
}

/* A follower that missed more than the DIFF window (8 txns here) catches
 * up by SNAP, and its state digest then matches the others'. */
static bool fx_sync_snap(struct cluster *c, struct fx *t) {
  EXPECT(CLUSTER_LEADER() == 2);
  CLUSTER_KILL(0);
  EXPECT(write_n(c, 2, 30));
  uint64_t before = node_stat(c, 0, 's');
  CLUSTER_RESTART(0);
  EXPECT(CLUSTER_CONVERGED());
  EXPECT(node_stat(c, 0, 's') > before);
  EXPECT(write_n(c, 0, 3)); /* and it keeps up afterwards */
  EXPECT(CLUSTER_CONVERGED());
  return true;
}

/* An observer (node 3) applies every commit but never counts toward a
 * quorum: with two voters down nothing is established. */
static bool fx_observer(struct cluster *c, struct fx *t) {
  int l = CLUSTER_LEADER();
  EXPECT(l == 2);
  EXPECT(write_n(c, 3, 5)); /* through the observer */
  EXPECT(CLUSTER_CONVERGED());
  EXPECT(node_stat(c, 3, 'n') == 5);
  CLUSTER_KILL(0);
  CLUSTER_KILL(1);
  CLUSTER_RUN(1000);
  EXPECT(cluster_wait_leader(c, 3000) < 0);
  CLUSTER_RESTART(0);
  CLUSTER_RESTART(1);
  EXPECT(CLUSTER_LEADER() >= 0);
  EXPECT(write_n(c, 3, 2));
  EXPECT(CLUSTER_CONVERGED());
  EXPECT(node_stat(c, 3, 'n') == 7);
  return true;
}

/* Five servers keep committing with two down, and stop with three down. */
static bool fx_five(struct cluster *c, struct fx *t) {
  EXPECT(CLUSTER_LEADER() == 4);
  CLUSTER_KILL(0);
  CLUSTER_KILL(1);
  EXPECT(write_n(c, 3, 5));
  CLUSTER_KILL(2);
  CLUSTER_RUN(1000);
  EXPECT(cluster_wait_leader(c, 3000) < 0);
  CLUSTER_RESTART(0);
  CLUSTER_RESTART(1);
  CLUSTER_RESTART(2);
  EXPECT(CLUSTER_LEADER() >= 0);
  EXPECT(write_n(c, 0, 5));
  EXPECT(CLUSTER_CONVERGED());
  EXPECT(cluster_history_len(c) == 10);
  return true;
}

/* Every server crashing at once (unsynced log tails lost or torn) loses no
 * acknowledged write: I5 checks the next leader has them all. */
static bool fx_full_restart(struct cluster *c, struct fx *t) {
  EXPECT(CLUSTER_LEADER() >= 0);
  EXPECT(write_n(c, 1, 15));
  for (int i = 0; i < 3; i++)
    cluster_write(c, i); /* in flight when the lights go out */
  CLUSTER_RUN(2);
  CLUSTER_KILL(0);
  CLUSTER_KILL(1);
  CLUSTER_KILL(2);
  CLUSTER_RUN(100);
  CLUSTER_RESTART(2);
  CLUSTER_RESTART(1);
  CLUSTER_RESTART(0);
  EXPECT(CLUSTER_LEADER() >= 0);
  EXPECT(write_n(c, 0, 2));
  EXPECT(CLUSTER_CONVERGED());
  EXPECT(cluster_history_len(c) >= 17);
  return true;
}

/* Runs until a leader of an epoch after `after` serves, up to limit_ms;
 * returns its index or -1. */
static int wait_new_leader(struct cluster *c, uint32_t after,
                           uint64_t limit_ms) {
  uint64_t end = cluster_now(c) + limit_ms;
  for (;;) {
    int l = cluster_wait_leader(c, 0);
    struct sim_node_info ni;
    if (l >= 0) {
      cluster_node_info(c, l, &ni);
      if (ni.epoch > after)
        return l;
    }
    if (cluster_failed(c) || cluster_now(c) >= end)
      return -1;
    cluster_run_for(c, 1);
  }
}

static uint32_t node_epoch(struct cluster *c, int node) {
  struct sim_node_info ni;
  cluster_node_info(c, node, &ni);
  return ni.epoch;
}

static bool node_follows(struct cluster *c, int node, uint32_t epoch) {
  struct sim_node_info ni;
  cluster_node_info(c, node, &ni);
  return ni.role == ZAB_ROLE_FOLLOWING && ni.epoch == epoch;
}

#define TICKS(n) ((uint64_t)(n)*SIM_TICK_MS)

/* One-way, the leader deaf: its followers hear it, it hears nobody (the
 * issue 14 iptables cut).  It drops them after syncLimit ticks and steps
 * down; they stop hearing their PINGs echoed at the same time; either way
 * the two elect a leader and commit within syncLimit + 3 ticks.  After
 * the heal the old leader rejoins. */
static bool fx_oneway_leader_deaf(struct cluster *c, struct fx *t) {
  EXPECT(CLUSTER_LEADER() == 2);
  EXPECT(write_n(c, 0, 3));
  uint32_t e = node_epoch(c, 2);
  uint64_t t0 = cluster_now(c);
  cluster_oneway(c, 2, true);
  int l = wait_new_leader(c, e, TICKS(SIM_SYNC_LIMIT + 3));
  EXPECT(l == 0 || l == 1);
  EXPECT(write_n(c, l, 3));
  EXPECT(cluster_now(c) - t0 <= TICKS(SIM_SYNC_LIMIT + 3));
  CLUSTER_HEAL();
  EXPECT(CLUSTER_CONVERGED());
  EXPECT(cluster_history_len(c) == 6);
  return true;
}

/* One-way the other way: nobody hears the leader, it hears them.  They
 * give it up after syncLimit ticks of silence and tell it (STEPDOWN), so
 * it steps down at its next tick instead of after syncLimit more. */
static bool fx_oneway_leader_unheard(struct cluster *c, struct fx *t) {
  EXPECT(CLUSTER_LEADER() == 2);
  EXPECT(write_n(c, 1, 3));
  uint32_t e = node_epoch(c, 2);
  uint64_t t0 = cluster_now(c);
  cluster_oneway(c, 2, false);
  int l = wait_new_leader(c, e, TICKS(SIM_SYNC_LIMIT + 3));
  EXPECT(l == 0 || l == 1);
  EXPECT(write_n(c, l, 3));
  EXPECT(cluster_now(c) - t0 <= TICKS(SIM_SYNC_LIMIT + 3));
  struct sim_node_info ni;
  cluster_node_info(c, 2, &ni);
  EXPECT(ni.role != ZAB_ROLE_LEADING); /* it knows */
  CLUSTER_HEAL();
  EXPECT(CLUSTER_CONVERGED());
  EXPECT(cluster_history_len(c) == 6);
  return true;
}

/* A leader that resigns tells its followers: they go looking at once
 * (one network delay), not after syncLimit. */
static bool fx_stepdown_told(struct cluster *c, struct fx *t) {
  int l = CLUSTER_LEADER();
  EXPECT(l >= 0);
  EXPECT(CLUSTER_CONVERGED());
  int a = (l + 1) % 3, b = (l + 2) % 3;
  uint32_t e = node_epoch(c, l);
  EXPECT(node_follows(c, a, e) && node_follows(c, b, e));
  cluster_resign(c, l, true);
  CLUSTER_RUN(10);
  EXPECT(!node_follows(c, a, e) && !node_follows(c, b, e));
  EXPECT(wait_new_leader(c, e, TICKS(4)) >= 0);
  EXPECT(CLUSTER_CONVERGED());
  return true;
}

/* Nobody told: the followers' next PING is refused by the ex-leader (it
 * holds no session), so they still go looking within one tick. */
static bool fx_stepdown_untold(struct cluster *c, struct fx *t) {
  EXPECT(CLUSTER_LEADER() == 2);
  EXPECT(write_n(c, 0, 2));
  uint32_t e = node_epoch(c, 2);
  cluster_resign(c, 2, false);
  CLUSTER_RUN(2);
  EXPECT(node_follows(c, 0, e) && node_follows(c, 1, e)); /* not told */
  CLUSTER_RUN(TICKS(1) + 10);
  EXPECT(!node_follows(c, 0, e) && !node_follows(c, 1, e));
  int l = wait_new_leader(c, e, TICKS(4));
  EXPECT(l >= 0);
  EXPECT(write_n(c, l, 2));
  EXPECT(CLUSTER_CONVERGED());
  return true;
}

/* ------------------------------------------------------------------ */
/* Reconfiguration fixtures (two spare nodes outside the configuration) */

/* Proposes the membership at the serving leader, retrying refusals
 * (another change in flight, new members not synced yet) for up to 3 s,
 * and waits for the change to be acknowledged.  Returns its write id. */
static uint64_t reconfig(struct cluster *c, uint32_t voters,
                         uint32_t observers) {
  for (int tries = 0; tries < 150; tries++) {
    int l = cluster_wait_leader(c, 1000), rc = 0;
    uint64_t id = l >= 0 ? cluster_reconfig(c, l, voters, observers, &rc) : 0;
    if (id != 0)
      return cluster_wait_acked(c, &id, 1, 3000) ? id : 0;
    cluster_run_for(c, 20);
  }
  return 0;
}

static bool node_member(struct cluster *c, int node, bool *voter,
                        bool *removed) {
  struct sim_node_info ni;
  cluster_node_info(c, node, &ni);
  *voter = ni.voter;
  *removed = ni.removed;
  return ni.member;
}

/* Up to 2 simulated seconds for joiners 3 and 4 to serve; their last
 * state in n3, n4. */
static void wait_joiners_serving(struct cluster *c, struct sim_node_info *n3,
                                 struct sim_node_info *n4) {
  for (int k = 0; k < 100; k++) {
    cluster_node_info(c, 3, n3);
    cluster_node_info(c, 4, n4);
    if (n3->serving && n4->serving)
      break;
    CLUSTER_RUN(20);
  }
}

/* 3 -> 5 voters: two servers join as non-voting learners, catch up, and
 * are added in one change; then the five commit with two of them down and
 * not with three. */
static bool fx_rc_grow(struct cluster *c, struct fx *t) {
  EXPECT(CLUSTER_LEADER() == 2);
  EXPECT(write_n(c, 0, 5));
  cluster_start_joiner(c, 3);
  cluster_start_joiner(c, 4);
  /* Joiners are not members yet (CONVERGED does not wait for them). */
  struct sim_node_info n3, n4;
  wait_joiners_serving(c, &n3, &n4);
  EXPECT(n3.serving && n4.serving && !n3.member && !n4.member);
  EXPECT(node_stat(c, 3, 'n') == 5 && node_stat(c, 4, 'n') == 5);
  EXPECT(reconfig(c, 0x1f, 0) != 0);
  EXPECT(CLUSTER_CONVERGED());
  bool v, r;
  for (int i = 0; i < 5; i++)
    EXPECT(node_member(c, i, &v, &r) && v);
  CLUSTER_KILL(0);
  CLUSTER_KILL(1);
  int l = CLUSTER_LEADER();
  EXPECT(l >= 2);
  EXPECT(write_n(c, l, 3));
  CLUSTER_KILL(l == 2 ? 3 : 2);
  CLUSTER_RUN(1000);
  EXPECT(cluster_wait_leader(c, 2000) < 0);
  return true;
}

/* 5 -> 3: two members removed stop serving (and say so); the three
 * commit with one of them down. */
static bool fx_rc_shrink(struct cluster *c, struct fx *t) {
  EXPECT(CLUSTER_LEADER() == 4);
  EXPECT(write_n(c, 0, 3));
  EXPECT(reconfig(c, 0x07, 0) != 0); /* removes 3 and 4, the leader too */
  CLUSTER_RUN(200);
  bool v, r;
  EXPECT(!node_member(c, 3, &v, &r) && r);
  EXPECT(!node_member(c, 4, &v, &r) && r);
  struct sim_node_info ni;
  cluster_node_info(c, 4, &ni);
  EXPECT(!ni.serving && ni.role == ZAB_ROLE_LOOKING);
  int l = CLUSTER_LEADER();
  EXPECT(l >= 0 && l <= 2);
  CLUSTER_KILL(l == 0 ? 1 : 0);
  l = CLUSTER_LEADER();
  EXPECT(l >= 0 && l <= 2);
  EXPECT(write_n(c, l, 3));
  return true;
}

/* Replacing the leader by a new server in one change: the leader commits
 * it, hands over, and a new leader commits within a few ticks. */
static bool fx_rc_replace_leader(struct cluster *c, struct fx *t) {
  EXPECT(CLUSTER_LEADER() == 2);
  cluster_start_joiner(c, 3);
  EXPECT(CLUSTER_CONVERGED());
  EXPECT(reconfig(c, 0x0b, 0) != 0); /* {0,1,3} */
  uint64_t t0 = cluster_now(c);      /* the change is acknowledged */
  int l = CLUSTER_LEADER();
  EXPECT(l == 0 || l == 1 || l == 3);
  EXPECT(write_n(c, l, 1));
  uint64_t stall = cluster_now(c) - t0;
  EXPECT(stall <= TICKS(6));
  snprintf(t->note, sizeof t->note,
           " (next write %llums after the change, simulated; tick %dms)",
           (unsigned long long)stall, SIM_TICK_MS);
  bool v, r;
  EXPECT(!node_member(c, 2, &v, &r) && r);
  EXPECT(CLUSTER_CONVERGED());
  return true;
}

/* A change proposed by a leader cut off from the majority right after:
 * it cannot commit (no old quorum), the majority elects and commits
 * without it, and after the heal the old leader's change is truncated. */
static bool fx_rc_partition(struct cluster *c, struct fx *t) {
  EXPECT(CLUSTER_LEADER() == 2);
  cluster_start_joiner(c, 3);
  EXPECT(CLUSTER_CONVERGED());
  int rc;
  CLUSTER_PARTITION({0, 1}, {2, 3});
  uint64_t id = cluster_reconfig(c, 2, 0x0f, 0, &rc);
  EXPECT(id != 0); /* still leads for syncLimit ticks */
  CLUSTER_RUN(1500);
  EXPECT(!cluster_write_acked(c, id));
  int l = CLUSTER_LEADER();
  EXPECT(l == 0 || l == 1);
  EXPECT(write_n(c, l, 3));
  CLUSTER_HEAL();
  EXPECT(CLUSTER_CONVERGED());
  uint32_t v, o;
  uint64_t ver;
  cluster_config(c, &v, &o, &ver);
  EXPECT(v == 0x07 && ver == 0); /* the change did not survive */
  EXPECT(!cluster_write_acked(c, id));
  return true;
}

/* The leader crashes right after proposing a change: whatever the new
 * leader does with it (commit it, or drop it), every server ends with the
 * same configuration and history, and writes go on. */
static bool fx_rc_leader_crash(struct cluster *c, struct fx *t) {
  EXPECT(CLUSTER_LEADER() == 2);
  cluster_start_joiner(c, 3);
  EXPECT(CLUSTER_CONVERGED());
  int rc;
  EXPECT(cluster_reconfig(c, 2, 0x0b, 0, &rc) != 0); /* {0,1,3} */
  CLUSTER_RUN(3);
  CLUSTER_KILL(2);
  int l = CLUSTER_LEADER();
  EXPECT(l >= 0);
  EXPECT(write_n(c, l, 3));
  CLUSTER_RESTART(2);
  EXPECT(CLUSTER_CONVERGED());
  return true;
}

/* Joiners started the way operators do (ZooKeeper's procedure): each
 * one's static configuration is the ensemble's plus itself as a voter,
 * version 0 like the ensemble's.  The leader crashes right after
 * proposing to add both: the others must still elect (the joiners learnt
 * the leader's membership when they synced and do not stand), finish or
 * drop the change everywhere, and add the joiners once asked again.
 * Before the learners adopted the leader's configuration, each joiner
 * stood as a voter of its own file and voted for itself, the members
 * dropped those votes ("vote for a non-voter") and the change left no
 * quorum of both configurations: no leader, ever (found by
 * tests/integration/test_reconfig_faults.py, kill9join). */
static bool fx_rc_named_joiners_crash(struct cluster *c, struct fx *t) {
  EXPECT(CLUSTER_LEADER() == 2);
  EXPECT(write_n(c, 0, 3));
  cluster_start_joiner_named(c, 3);
  cluster_start_joiner_named(c, 4);
  struct sim_node_info n3, n4;
  wait_joiners_serving(c, &n3, &n4);
  EXPECT(n3.serving && n4.serving && !n3.voter && !n4.voter);
  int rc;
  EXPECT(cluster_reconfig(c, 2, 0x1f, 0, &rc) != 0);
  CLUSTER_RUN(3);
  CLUSTER_KILL(2);
  int l = CLUSTER_LEADER();
  EXPECT(l >= 0 && l != 2);
  uint32_t v, o;
  uint64_t ver;
  cluster_config(c, &v, &o, &ver);
  if (v != 0x1f) /* dropped: ask again */
    EXPECT(reconfig(c, 0x1f, 0) != 0);
  l = CLUSTER_LEADER();
  EXPECT(l >= 0);
  EXPECT(write_n(c, l, 3));
  CLUSTER_RESTART(2);
  EXPECT(CLUSTER_CONVERGED());
  cluster_config(c, &v, &o, &ver);
  EXPECT(v == 0x1f);
  return true;
}

/* A voter becomes an observer and back. */
static bool fx_rc_observer(struct cluster *c, struct fx *t) {
  EXPECT(CLUSTER_LEADER() == 2);
  cluster_start_joiner(c, 3);
  EXPECT(CLUSTER_CONVERGED());
  EXPECT(reconfig(c, 0x0e, 0x01) != 0); /* 0 observes; 1,2,3 vote */
  EXPECT(CLUSTER_CONVERGED());
  struct sim_node_info ni;
  cluster_node_info(c, 0, &ni);
  EXPECT(ni.role == ZAB_ROLE_OBSERVING && ni.serving && !ni.voter);
  EXPECT(write_n(c, 0, 2)); /* through the observer */
  EXPECT(reconfig(c, 0x0f, 0) != 0);
  EXPECT(CLUSTER_CONVERGED());
  cluster_node_info(c, 0, &ni);
  EXPECT(ni.role == ZAB_ROLE_FOLLOWING && ni.voter);
  return true;
}

struct fixture {
  const char *name;
  bool (*fn)(struct cluster *, struct fx *);
  int voters, observers;
  uint32_t window;
  bool reconfigs;
};

static const struct fixture fixtures[] = {
    {"elect", fx_elect, 3, 0, 200, false},
    {"writes_replicate", fx_writes_replicate, 3, 0, 200, false},
    {"leader_crash", fx_leader_crash, 3, 0, 200, false},
    {"minority_leader_trunc", fx_minority_leader, 3, 0, 200, false},
    {"sync_diff", fx_sync_diff, 3, 0, 200, false},
    {"sync_snap", fx_sync_snap, 3, 0, 8, false},
    {"observer", fx_observer, 3, 1, 200, false},
    {"five", fx_five, 5, 0, 200, false},
    {"full_restart", fx_full_restart, 3, 0, 200, false},
    {"oneway_leader_deaf", fx_oneway_leader_deaf, 3, 0, 200, false},
    {"oneway_leader_unheard", fx_oneway_leader_unheard, 3, 0, 200, false},
    {"stepdown_told", fx_stepdown_told, 3, 0, 200, false},
    {"stepdown_untold", fx_stepdown_untold, 3, 0, 200, false},
    {"reconfig_grow_3_to_5", fx_rc_grow, 3, 0, 200, true},
    {"reconfig_shrink_5_to_3", fx_rc_shrink, 5, 0, 200, true},
    {"reconfig_replace_leader", fx_rc_replace_leader, 3, 0, 200, true},
    {"reconfig_partition", fx_rc_partition, 3, 0, 200, true},
    {"reconfig_leader_crash", fx_rc_leader_crash, 3, 0, 200, true},
    {"reconfig_observer_and_back", fx_rc_observer, 3, 0, 200, true},
    {"reconfig_named_joiners_crash", fx_rc_named_joiners_crash, 3, 0, 200,
     true},
};

static void run_fixtures(int verbose, const char *only) {
  for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
    const struct fixture *f = &fixtures[i];
    if (only && strcmp(only, f->name) != 0)
      continue;
    struct sim_opts o;
    sim_opts_for_seed(&o, 1000 + i);
    o.n_voters = f->voters;
    o.n_observers = f->observers;
    o.faults = false;
    o.writes = false;
    o.diff_window_txns = f->window;
    o.reconfigs = f->reconfigs;
    o.n_spares = f->reconfigs ? 2 : 0;
    o.verbose = verbose;
    struct cluster *c = cluster_new(&o);
    struct fx t = {{0}, {0}};
    bool ok = f->fn(c, &t);
    if (ok && cluster_failed(c)) {
      ok = false;
      snprintf(t.why, sizeof t.why, "%s", cluster_failure(c));
    }
    if (ok) {
      n_passed++;
      printf("ok   fixture %s%s\n", f->name, t.note);
    } else {
      n_failed++;
      printf("FAIL fixture %s: %s\n", f->name, t.why);
    }
    cluster_free(c);
  }
}

/* ------------------------------------------------------------------ */
/* Random seeds */

struct bug {
  const char *name;
  uint32_t flag;
  /* The check that must catch it, as the failure line names it: an
   * invariant ("I5") or a liveness check ("liveness L2").  A run that
   * fails any other way with the bug planted fails the check: a bug
   * "caught" by an out-of-memory or an unrelated assertion proves nothing
   * about the invariant that is meant to see it. */
  const char *expect;
  int max_seeds; /* the checker must catch it within seeds 1..max_seeds */
  /* Seeds known to reach the buggy path, tried first: for a bug whose
   * scenario random exploration reaches only about once in 5000 seeds
   * (found by the soak), these prove the checker still catches it.  Each
   * also runs without the bug, as a control that must pass. */
  uint64_t regress[4];
};

static const struct bug bugs[] = {
    {"COMMIT_BEFORE_QUORUM", ZAB_TEST_BUG_COMMIT_BEFORE_QUORUM, "I5", 20, {0}},
    {"SKIP_TRUNC", ZAB_TEST_BUG_SKIP_TRUNC, "I2", 60, {0}},
    {"EPOCH_REUSE", ZAB_TEST_BUG_EPOCH_REUSE, "I1", 20, {0}},
    {"ACK_BEFORE_DURABLE", ZAB_TEST_BUG_ACK_BEFORE_DURABLE, "I5", 40, {0}},
    {"EARLY_CURRENT_EPOCH",
     ZAB_TEST_BUG_EARLY_CURRENT_EPOCH,
     "I5",
     0,
     {25726, 29979, 32853}},
    /* Rarer since issue 14: a deposed leader learns within a tick (its
     * old followers refuse its PINGs) instead of after syncLimit, so the
     * window for a stale round is small: about 1 seed in 1000. */
    {"CONFIRM_WITHOUT_QUORUM",
     ZAB_TEST_BUG_CONFIRM_WITHOUT_QUORUM,
     "I7",
     30,
     {1200, 2565, 4404, 4602}},
    /* Safe but slow: only the liveness check L2 may catch it. */
    {"SILENT_STEPDOWN", ZAB_TEST_BUG_SILENT_STEPDOWN, "liveness L2", 3, {0}},
    /* A configuration change committed on the new configuration's quorum
     * alone (only seeds 4 and 6 mod 7 change the membership). */
    {"RECONFIG_NEW_QUORUM_ONLY",
     ZAB_TEST_BUG_RECONFIG_NEW_QUORUM_ONLY,
     "I8",
     60,
     {0}},
};

static struct sim_totals grand;
static bool count_one; /* one seed asked for: always print its summary */

static void add_totals(const struct sim_totals *t) {
  grand.steps += t->steps;
  grand.sim_ms += t->sim_ms;
  grand.writes += t->writes;
  grand.acked += t->acked;
  grand.refused += t->refused;
  grand.crashes += t->crashes;
  grand.partitions += t->partitions;
  grand.elections_won += t->elections_won;
  grand.sync_diff += t->sync_diff;
  grand.sync_trunc += t->sync_trunc;
  grand.sync_snap += t->sync_snap;
  grand.dropped_msgs += t->dropped_msgs;
  grand.confirmed_reads += t->confirmed_reads;
  grand.reconfigs += t->reconfigs;
  grand.reconfigs_committed += t->reconfigs_committed;
  grand.reconfigs_refused += t->reconfigs_refused;
  if (t->stepdown_ms > grand.stepdown_ms)
    grand.stepdown_ms = t->stepdown_ms; /* the slowest L2 recovery */
}

/* Runs one seed; returns true if every invariant held and liveness did.
 * *safety tells whether a failure was an invariant (not liveness). */
static bool run_seed(uint64_t seed, uint64_t steps, uint32_t bug, int verbose,
                     int force_voters, bool quiet, bool *safety, char *why,
                     size_t why_len) {
  struct sim_opts o;
  sim_opts_for_seed(&o, seed);
  o.test_bugs = bug;
  o.verbose = verbose;
  if (bug && bug != ZAB_TEST_BUG_RECONFIG_NEW_QUORUM_ONLY) {
    /* The other planted bugs and their regression seeds date from before
     * reconfiguration: their worlds are the ones they were found in. */
    o.reconfigs = false;
    o.n_spares = 0;
  }
  if (force_voters)
    o.n_voters = force_voters;
  struct cluster *c = cluster_new(&o);
  while (cluster_steps(c) < steps && cluster_step(c))
    ;
  bool ok = !cluster_failed(c) &&
            cluster_check_liveness(c, LIVENESS_WRITES, LIVENESS_MS,
                                   LIVENESS_STEPDOWN_TICKS);
  /* Invariant and contract failures are safety; "liveness ..." is not. */
  *safety = !ok && strstr(cluster_failure(c), "liveness") == NULL;
  if (!ok)
    snprintf(why, why_len, "%s", cluster_failure(c));
  struct sim_totals t;
  cluster_totals(c, &t);
  add_totals(&t);
  if (verbose || (!quiet && (!ok || count_one)))
    printf("seed %llu: %d voters%s, %llu steps, %llums simulated, %llu/%llu "
           "writes acked, %llu crashes, syncs diff/trunc/snap %llu/%llu/%llu\n",
           (unsigned long long)seed, o.n_voters,
           o.n_observers ? " + observer" : "", (unsigned long long)t.steps,
           (unsigned long long)t.sim_ms, (unsigned long long)t.acked,
           (unsigned long long)t.writes, (unsigned long long)t.crashes,
           (unsigned long long)t.sync_diff, (unsigned long long)t.sync_trunc,
           (unsigned long long)t.sync_snap);
  cluster_free(c);
  return ok;
}

static const char *bug_flag_name(uint32_t flag) {
  for (size_t i = 0; i < sizeof bugs / sizeof bugs[0]; i++)
    if (bugs[i].flag == flag)
      return bugs[i].name;
  return NULL;
}

static void run_seeds(uint64_t first, uint64_t count, uint64_t steps,
                      uint32_t bug, int verbose, int force_voters) {
  for (uint64_t s = first; s < first + count; s++) {
    char why[900];
    bool safety;
    if (run_seed(s, steps, bug, verbose, force_voters, false, &safety, why,
                 sizeof why)) {
      n_passed++;
      continue;
    }
    n_failed++;
    printf("FAIL seed %llu: %s\n  replay: tests/sim/run --seed %llu --steps "
           "%llu%s%s%s\n",
           (unsigned long long)s, why, (unsigned long long)s,
           (unsigned long long)steps, bug ? " --bug " : "",
           bug ? bug_flag_name(bug) : "", verbose ? "" : " -v");
  }
}

/* Whether a failure line names check `expect` ("I5": the line says
 * ": I5 "; "liveness L2": it contains that). */
static bool names_check(const char *why, const char *expect) {
  if (expect[0] == 'I') {
    char pat[16];
    snprintf(pat, sizeof pat, ": %s ", expect);
    return strstr(why, pat) != NULL;
  }
  return strstr(why, expect) != NULL;
}

/* Each planted bug must be caught by the check it names, within its
 * number of seeds, and by nothing else first: a checker that misses a
 * known bug, or trips on something unrelated, proves nothing about the
 * real code.  Every regression seed also runs without its bug: that
 * control must pass, or a real failure would read as "bug caught". */
static void run_bug_checks(uint64_t steps) {
  for (size_t i = 0; i < sizeof bugs / sizeof bugs[0]; i++) {
    const struct bug *b = &bugs[i];
    bool caught = false, wrong = false;
    int n_regress = 0;
    while (n_regress < 4 && b->regress[n_regress])
      n_regress++;
    for (int k = 0; k < n_regress; k++) {
      char why[900];
      bool safety;
      if (!run_seed(b->regress[k], steps, 0, 0, 0, true, &safety, why,
                    sizeof why)) {
        wrong = true;
        printf("FAIL regression seed %llu of %s fails without the bug: %s\n",
               (unsigned long long)b->regress[k], b->name, why);
      }
    }
    for (int k = 0; k < n_regress + b->max_seeds && !caught && !wrong; k++) {
      uint64_t s =
          k < n_regress ? b->regress[k] : (uint64_t)(k - n_regress + 1);
      char why[900];
      bool safety;
      if (run_seed(s, steps, b->flag, 0, 0, true, &safety, why, sizeof why))
        continue;
      if (names_check(why, b->expect)) {
        caught = true;
        printf("ok   planted bug %s caught by %s at %sseed %llu: %s\n", b->name,
               b->expect, k < n_regress ? "regression " : "",
               (unsigned long long)s, why);
      } else {
        wrong = true;
        printf("FAIL planted bug %s tripped another check than %s at seed "
               "%llu: %s\n",
               b->name, b->expect, (unsigned long long)s, why);
      }
    }
    if (caught && !wrong) {
      n_passed++;
    } else {
      n_failed++;
      if (!wrong)
        printf("FAIL planted bug %s NOT caught by %s (%d regression seeds, "
               "seeds 1..%d)\n",
               b->name, b->expect, n_regress, b->max_seeds);
    }
  }
}

static uint32_t parse_bug(const char *name) {
  for (size_t i = 0; i < sizeof bugs / sizeof bugs[0]; i++)
    if (strcmp(bugs[i].name, name) == 0)
      return bugs[i].flag;
  fprintf(stderr, "unknown bug %s; one of:", name);
  for (size_t i = 0; i < sizeof bugs / sizeof bugs[0]; i++)
    fprintf(stderr, " %s", bugs[i].name);
  fprintf(stderr, "\n");
  exit(2);
}

static void usage(void) {
  printf("usage: sim [--seed N | --seeds K [--first F]] [--steps M] "
         "[--bug NAME] [--voters 3|5]\n"
         "           [--fixtures-only [NAME] | --random-only | --bugs-only] "
         "[-v|-vv]\n");
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows up in soak logs */
  uint64_t seed = 0, seeds = DEFAULT_SEEDS, first = 1, steps = DEFAULT_STEPS;
  bool one = false, fixtures_only = false, random_only = false,
       bugs_only = false;
  const char *fixture = NULL;
  uint32_t bug = 0;
  int verbose = 0, voters = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i] ? argv[i] : "";
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--seed") && v) {
      seed = strtoull(v, NULL, 10);
      one = true;
      i++;
    } else if (!strcmp(a, "--seeds") && v) {
      seeds = strtoull(v, NULL, 10);
      random_only = true;
      i++;
    } else if (!strcmp(a, "--first") && v) {
      first = strtoull(v, NULL, 10);
      i++;
    } else if (!strcmp(a, "--steps") && v) {
      steps = strtoull(v, NULL, 10);
      i++;
    } else if (!strcmp(a, "--bug") && v) {
      bug = parse_bug(v);
      i++;
    } else if (!strcmp(a, "--voters") && v) {
      voters = (int)strtol(v, NULL, 10);
      i++;
    } else if (!strcmp(a, "--fixtures-only")) {
      fixtures_only = true;
      if (v && v[0] != '-') {
        fixture = v;
        i++;
      }
    } else if (!strcmp(a, "--random-only")) {
      random_only = true;
    } else if (!strcmp(a, "--bugs-only")) {
      bugs_only = true;
    } else if (!strcmp(a, "-v")) {
      verbose = 1;
    } else if (!strcmp(a, "-vv")) {
      verbose = 2;
    } else if (!strcmp(a, "-vvv")) {
      verbose = 3; /* and zab's own log */
    } else {
      usage();
      return 2;
    }
  }
  clock_t t0 = clock();
  if (one) {
    count_one = true;
    run_seeds(seed, 1, steps, bug, verbose, voters);
  } else if (fixtures_only) {
    run_fixtures(verbose, fixture);
  } else if (bugs_only) {
    run_bug_checks(steps);
  } else {
    if (!random_only)
      run_fixtures(verbose, NULL);
    run_seeds(first, seeds, steps, bug, verbose, voters);
    if (!random_only && !bug)
      run_bug_checks(steps);
  }
  if (!one && (random_only || !fixtures_only))
    printf("totals: %llu steps, %llus simulated, %llu writes (%llu acked, "
           "%llu refused), %llu crashes, %llu partitions, %llu leaders, "
           "syncs diff/trunc/snap %llu/%llu/%llu, %llu messages dropped by "
           "zab, %llu confirmed reads, %llu membership changes (%llu "
           "committed, %llu refused), slowest L2 recovery %llums, %.1fs\n",
           (unsigned long long)grand.steps,
           (unsigned long long)(grand.sim_ms / 1000),
           (unsigned long long)grand.writes, (unsigned long long)grand.acked,
           (unsigned long long)grand.refused, (unsigned long long)grand.crashes,
           (unsigned long long)grand.partitions,
           (unsigned long long)grand.elections_won,
           (unsigned long long)grand.sync_diff,
           (unsigned long long)grand.sync_trunc,
           (unsigned long long)grand.sync_snap,
           (unsigned long long)grand.dropped_msgs,
           (unsigned long long)grand.confirmed_reads,
           (unsigned long long)grand.reconfigs,
           (unsigned long long)grand.reconfigs_committed,
           (unsigned long long)grand.reconfigs_refused,
           (unsigned long long)grand.stepdown_ms,
           (double)(clock() - t0) / CLOCKS_PER_SEC);
  printf("%d passed, %d failed\n", n_passed, n_failed);
  return n_failed ? 1 : 0;
}
