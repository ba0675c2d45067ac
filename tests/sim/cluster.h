/* tests/sim — a deterministic virtual world for zab.
 *
 * One seeded scheduler drives N zab instances (3 or 5 voters, optionally
 * an observer) over
 *   - a virtual network: a connection per pair of nodes carrying encoded
 *     messages in order (TCP), with per-message delay; connections break
 *     and reconnect; partitions split the nodes and heal; election
 *     notifications are also dropped, duplicated and reordered, and quorum
 *     messages occasionally duplicated, reordered, lost or garbled;
 *   - virtual disks: a log with a synced prefix and an unsynced tail (a
 *     crash keeps the synced part and maybe a torn prefix of the rest),
 *     epochs and a snapshot that are written durably, periodic snapshots
 *     that purge the log;
 *   - a virtual clock, late timers, slow fsyncs;
 *   - crashes and restarts (a restarted node reloads its disk);
 *   - clients writing at random nodes (followers forward to their leader,
 *     otherwise the write fails as "not leader").
 * Every node applies committed txns to a tiny model: a running digest of
 * the applied history.
 *
 * Invariants, checked as each step happens and after every step:
 *   I1 at most one leader is ever established per epoch;
 *   I2 every node's applied history is a prefix of one common history
 *      (zxid and txn bytes, position by position);
 *   I3 applied zxids strictly increase on each node (across SNAP too);
 *   I4 two nodes at the same point of the history have the same digest;
 *   I5 a write acknowledged to a client is durable on a quorum of voters,
 *      stays so, and is in the log or snapshot of every later leader;
 *   I6 epochs never go back on a disk, currentEpoch <= acceptedEpoch;
 *      nothing is truncated below what a node applied; zab's actions are
 *      well-formed (appends in order, SEND_SNAP at the applied point).
 *   I8 a configuration change acknowledged to its client is durable on a
 *      quorum of the old configuration AND of the new one (and stays so):
 *      any decision under the old one and any under the new one share a
 *      server, so no two quorums can decide different values across the
 *      change (I5 checks every other write against the configuration in
 *      force at its position in the history).
 * Liveness: after the faults stop (heal, restart all), a leader is
 * established, every node serves, and fresh writes commit everywhere
 * within a bounded simulated time (L1); then the leader resigns without
 * telling anyone and a new leader commits within a few ticks (L2).
 * Faults also include one-way partitions (a node deaf, or unheard, while
 * its connections stay up) and a leader resigning with nobody told.
 */
#ifndef ROOST_SIM_CLUSTER_H
#define ROOST_SIM_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_MAX_NODES 8
#define SIM_TICK_MS 50   /* every node's zab tick */
#define SIM_SYNC_LIMIT 5 /* and syncLimit, in ticks */

struct sim_opts {
  uint64_t seed;
  int n_voters;       /* 3 or 5 */
  int n_observers;    /* 0 or 1 */
  uint32_t test_bugs; /* enum zab_test_bug bits, passed to every zab */
  bool faults;        /* random crashes, partitions, message faults */
  bool writes;        /* random client writes */
  uint32_t diff_window_txns;
  /* Leaders get random CONFIRM rounds (syncs) and I7 checks them.  On for
   * a third of the seeds (seed % 3 == 0): the others keep the exact
   * trajectories they had before rounds existed, which the regression
   * seeds of the planted bugs depend on. */
  bool confirms;
  /* Dynamic reconfiguration: spare nodes outside the initial
   * configuration, and random membership changes at the leader (add,
   * remove -- the leader too --, replace, voter <-> observer) among the
   * other faults.  On for seeds that are 4 or 6 mod 7, which leaves the
   * trajectories of every regression seed as they were. */
  bool reconfigs;
  int n_spares;
  int verbose; /* 1: events; 2: every message */
};

/* Fills o with the defaults and a world shape derived from the seed. */
void sim_opts_for_seed(struct sim_opts *o, uint64_t seed);

struct cluster;

struct cluster *cluster_new(const struct sim_opts *o);
void cluster_free(struct cluster *c);

/* One scheduler step (one event).  Returns false once an invariant failed
 * (see cluster_failure) or nothing is left to do. */
bool cluster_step(struct cluster *c);
/* Steps until simulated time passes ms more, or failure. */
bool cluster_run_for(struct cluster *c, uint64_t ms);
/* Stops the faults, heals, restarts every node, then requires
 *   L1: a leader, every node serving, and n_writes fresh writes committed
 *       everywhere within limit_ms;
 *   L2: then the leader resigns and its STEPDOWNs are lost (nobody told),
 *       and a new leader must commit a write within stepdown_ticks ticks.
 * Returns false (with a failure message naming L1 or L2) otherwise. */
bool cluster_check_liveness(struct cluster *c, int n_writes, uint64_t limit_ms,
                            uint32_t stepdown_ticks);

bool cluster_failed(const struct cluster *c);
const char *cluster_failure(const struct cluster *c);
uint64_t cluster_steps(const struct cluster *c);
uint64_t cluster_now(const struct cluster *c);

/* Fixture verbs. */
void cluster_kill(struct cluster *c, int node);
/* A one-way partition: inbound = node hears nobody (what the others send
 * it is lost, connections stay up); else nobody hears node.  Lasts until
 * cluster_heal. */
void cluster_oneway(struct cluster *c, int node, bool inbound);
/* The node leaves its role at once (ZAB_EV_RESIGN); unless told, the
 * STEPDOWNs it sends are lost: nobody is told. */
bool cluster_resign(struct cluster *c, int node, bool told);
void cluster_restart(struct cluster *c, int node);
/* "{0,1},{2}": nodes in different groups cannot talk; unlisted nodes are
 * alone. */
void cluster_partition(struct cluster *c, const char *groups);
void cluster_heal(struct cluster *c);
/* Runs until a leader is established and serving, up to limit_ms; returns
 * its index or -1. */
int cluster_wait_leader(struct cluster *c, uint64_t limit_ms);
/* A client write at node (forwarded if it follows).  Returns its write id
 * (> 0), or 0 if it was refused at once (not leader, busy). */
uint64_t cluster_write(struct cluster *c, int node);
/* Runs until every given write id is acknowledged, up to limit_ms. */
bool cluster_wait_acked(struct cluster *c, const uint64_t *ids, int n,
                        uint64_t limit_ms);
bool cluster_write_acked(const struct cluster *c, uint64_t id);
/* Runs until every up node has applied everything the leader committed. */
bool cluster_wait_converged(struct cluster *c, uint64_t limit_ms);

/* Membership changes.  Masks are over node indexes (bit i = node i, whose
 * zab id is i + 1).  cluster_reconfig proposes the configuration at node
 * (the serving leader) as a client's request; returns its write id (> 0)
 * or 0 with *rc the zab error (RECONFIG_BUSY, NOQUORUM, NOTLEADER...). */
uint64_t cluster_reconfig(struct cluster *c, int node, uint32_t voters,
                          uint32_t observers, int *rc);
/* Starts a node that is down as a fresh joiner that knows the current
 * committed configuration (what an operator does when adding a server). */
void cluster_start_joiner(struct cluster *c, int node);
/* A joiner started as ZooKeeper's procedure has it: its static
 * configuration is the ensemble's plus itself as a voter (version 0, as
 * the ensemble's own), not the committed one. */
void cluster_start_joiner_named(struct cluster *c, int node);
/* The configuration committed last in the common history. */
void cluster_config(const struct cluster *c, uint32_t *voters,
                    uint32_t *observers, uint64_t *version);

struct sim_node_info {
  bool up;
  bool member, voter, removed;
  uint64_t config_version;
  int role; /* enum zab_role */
  uint32_t epoch;
  bool serving;
  uint64_t applied_zxid;
  uint64_t applied_count;
  uint64_t n_sync_diff, n_sync_trunc, n_sync_snap;
  uint64_t log_len;
};
void cluster_node_info(const struct cluster *c, int node,
                       struct sim_node_info *out);
int cluster_n_nodes(const struct cluster *c);
uint64_t cluster_history_len(const struct cluster *c);

struct sim_totals {
  uint64_t steps, sim_ms, writes, acked, refused, crashes, partitions,
      elections_won, sync_diff, sync_trunc, sync_snap, dropped_msgs,
      confirmed_reads, reconfigs, reconfigs_committed, reconfigs_refused;
  uint64_t stepdown_ms; /* L2: from the resign to the next commit */
};
void cluster_totals(const struct cluster *c, struct sim_totals *t);

#endif
