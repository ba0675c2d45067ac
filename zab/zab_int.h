/* zab internals shared by the files of zab/ (not a public interface). */
#ifndef ROOST_ZAB_INT_H
#define ROOST_ZAB_INT_H

#include <stdarg.h>

#include "zab/zab.h"

/* One txn held in memory: the uncommitted tail plus the DIFF window. */
struct zab__entry {
  uint64_t zxid;
  uint8_t *data; /* owned */
  uint32_t len;
  bool config; /* a configuration change (cfg.config_of said so) */
};

/* A membership and its version (the zxid of the txn that set it; 0 for the
 * static configuration). */
struct zab__conf {
  uint64_t version;
  size_t n;
  struct zab_member m[ZAB_MAX_MEMBERS];
};

/* The in-memory log: history up to base is in the driver's snapshot; the
 * entries [head, n) follow base contiguously. */
struct zab__log {
  uint64_t base;
  struct zab__entry *e;
  size_t head, n, cap;
  size_t bytes; /* data bytes held in [head, n) */
};

struct zab__vote {
  uint32_t leader;
  uint64_t zxid;
  uint32_t epoch;
};

/* What this server heard from one peer during an election (FLE). */
struct zab__heard {
  bool valid;
  struct zab__vote vote;
  uint64_t round;
  uint32_t state; /* enum zab_role of the sender */
};

/* Leader side of one learner connection (ZooKeeper's LearnerHandler). */
enum zab__hphase {
  H_NONE = 0,   /* no learner */
  H_INFO,       /* FOLLOWERINFO received, epoch not yet decided */
  H_EPOCH_SENT, /* LEADERINFO sent, waiting for ACKEPOCH */
  H_ACKED,      /* ACKEPOCH received, waiting for the epoch quorum */
  H_SYNCING,    /* sync stream + NEWLEADER sent */
  H_SYNCED,     /* ACKNEWLEADER received: in the broadcast set */
};

struct zab__handler {
  enum zab__hphase phase;
  uint64_t session;
  bool observer;
  uint32_t accepted_epoch;
  uint32_t current_epoch;
  uint64_t last_zxid;      /* from ACKEPOCH */
  uint64_t newleader_zxid; /* what NEWLEADER asked for */
  uint64_t match;          /* durable up to, from ACK/ACKNEWLEADER */
  uint64_t confirmed;      /* highest CONFIRM round it echoed */
  uint64_t ping_seen;      /* newest learner PING counter heard (echoed) */
  uint64_t ping_durable;   /* durable up to, from its newest PING */
  uint64_t last_heard_ms;
  bool uptodate_sent;
};

/* Learner progress (ZooKeeper's Learner/Follower). */
enum zab__lphase {
  L_DISCOVERY = 0, /* FOLLOWERINFO sent, waiting for LEADERINFO */
  L_SYNC,          /* ACKEPOCH sent, receiving the sync stream */
  L_BROADCAST,     /* ACKNEWLEADER sent */
};

enum zab__action_cap { ZAB__QUEUE_MAX = 1 << 22 };

struct zab__qaction {
  struct zab_action a;
  uint8_t *owned; /* copy of a.data / a.msg.data, freed when popped */
};

struct zab {
  struct zab_config cfg;
  /* The peer table: every server id we know (of a configuration, or a
   * joiner that spoke to us), us included.  Indexes are stable (entries
   * are never removed); election and leader state is indexed by them.
   * Only .id is meaningful: roles come from the configurations below. */
  struct zab_member members[ZAB_MAX_MEMBERS];
  size_t n_members;
  size_t my_index;

  /* Membership (config.c).  cur: the committed configuration (as of
   * commit_zxid); next: the newest configuration change in our log above
   * the commit point, if pending_zxid != 0.  While one is pending every
   * quorum decision needs a quorum of both (ZooKeeper's rule); once we
   * know it committed (its version came in a NOTIFICATION),
   * pending_committed makes next alone count.  voter_a/voter_b: which
   * peer indexes vote in the configurations a decision needs. */
  struct zab__conf cur, next;
  uint64_t pending_zxid;
  bool pending_committed;
  bool has_b;
  bool voter_a[ZAB_MAX_MEMBERS], voter_b[ZAB_MAX_MEMBERS];
  bool i_vote;        /* we vote in a needed configuration */
  bool i_stand;       /* we vote in the committed one: we may be elected */
  bool i_am_observer; /* observer in the committed configuration */
  bool was_member;    /* member of the committed configuration we knew */
  bool removed;       /* a committed change removed us: we stop serving
                         and voting until a newer one names us again */
  bool conf_changed;  /* activated during this step: check our role */

  uint64_t rng;
  uint64_t now_ms;
  bool loaded;

  /* persisted (as far as zab knows: the driver has been told) */
  uint32_t accepted_epoch;
  uint32_t current_epoch;

  /* log and its positions */
  struct zab__log log;
  uint64_t commit_zxid;  /* COMMIT actions emitted up to here */
  uint64_t durable_zxid; /* driver reported durable up to here */

  /* role */
  enum zab_role role;
  uint32_t leader_id;
  uint32_t epoch; /* epoch led / followed (0 while unknown) */
  bool serving;
  enum zab_role announced_role;
  uint32_t announced_leader, announced_epoch;
  bool announced_serving, announced_any;

  /* election (Fast Leader Election) */
  struct {
    uint64_t round;
    struct zab__vote vote; /* current proposal, or the decided vote */
    struct zab__heard recv[ZAB_MAX_MEMBERS];  /* this round */
    struct zab__heard outof[ZAB_MAX_MEMBERS]; /* from settled peers */
    uint64_t next_send_ms;
    uint64_t interval_ms;
    uint64_t finalize_at_ms; /* 0 = no quorum yet */
    /* FOLLOWERINFO that came while we were LOOKING (its sender decided
     * before us): handled if we then lead, so that the learner need not
     * wait a tick for its re-send. */
    struct zab_msg early[ZAB_MAX_MEMBERS];
  } el;

  /* learner */
  struct {
    enum zab__lphase phase;
    uint64_t session;
    bool synced; /* sync header (DIFF/TRUNC/SNAP) seen: log is a prefix */
    bool newleader_pending;
    uint64_t newleader_zxid;
    bool uptodate;
    uint64_t acked_zxid;
    /* Our last zxid when we began following: txns up to it are our own
     * logged history, not proposals this leader sent (flow control). */
    uint64_t base_zxid;
    uint64_t started_ms;
    uint64_t last_heard_ms;
    uint64_t next_ping_ms;
    /* One-way partitions: our PINGs are numbered and the leader echoes
     * the newest it heard; last_echo_ms is when the echo last advanced
     * (a leader that cannot hear us stops advancing it). */
    uint64_t ping_seq;
    uint64_t echo_seen;
    uint64_t last_echo_ms;
    /* CONFIG received before a SNAP in this session */
    bool have_snap_conf;
    struct zab__conf snap_conf;
  } ln;

  /* leader */
  struct {
    bool epoch_decided;
    bool epoch_acked;       /* quorum ACKEPOCH: syncing */
    bool current_persisted; /* currentEpoch = epoch, our log durable */
    bool established;
    uint64_t established_zxid; /* history committed by establishment */
    uint64_t started_ms;
    uint64_t next_ping_ms;
    uint32_t next_counter;
    uint64_t confirm_round;   /* last CONFIRM round started */
    uint64_t confirmed_round; /* last round a quorum echoed (announced) */
    struct zab__handler h[ZAB_MAX_MEMBERS];
  } ld;

  /* Quiet: we stepped down because no learner was heard for syncLimit;
   * we may be deaf (a one-way partition: our votes are heard, theirs not),
   * and a deaf member with the best vote would be elected again and again
   * by the others.  Until we hear anyone, our vote goes out only every
   * initLimit ticks. */
  bool quiet;

  /* output queue */
  struct zab__qaction *q;
  size_t q_head, q_n, q_cap;
  uint8_t *popped_owned; /* data of the last popped action */
  bool oom; /* an allocation failed: the object is dead, see zab_step */

  struct zab_status stats; /* counters only (n_*) */
  char errmsg[256];
};

/* config.c */
int zab__peer_index(struct zab *z, uint32_t id, bool add);
void zab__conf_refresh(struct zab *z);
bool zab__quorum_in(const struct zab *z, const bool *set);
/* the effective committed configuration (next once known committed) */
const struct zab__conf *zab__conf_eff(const struct zab *z);
bool zab__conf_member(const struct zab__conf *c, uint32_t id, bool *observer);
bool zab__conf_parse(struct zab *z, const uint8_t *data, uint32_t len,
                     struct zab__conf *out, uint64_t version);
void zab__conf_appended(struct zab *z, struct zab__entry *e);
void zab__conf_rescan(struct zab *z);
void zab__conf_committed(struct zab *z, const struct zab__entry *e);
void zab__conf_after_step(struct zab *z);
void zab__conf_heard_version(struct zab *z, uint64_t version);
void zab__conf_heard_config(struct zab *z, uint64_t version,
                            const uint8_t *data, uint32_t len);
int zab__conf_check_proposal(struct zab *z, const uint8_t *data, uint32_t len,
                             bool *is_config, struct zab__conf *out);

/* zab.c */
void zab__log_msg(struct zab *z, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void zab__drop(struct zab *z, uint32_t from, const struct zab_msg *m,
               const char *reason);
uint64_t zab__rand(struct zab *z);
int zab__member_index(const struct zab *z, uint32_t id);
bool zab__is_voter_index(const struct zab *z, size_t i);
void zab__push_send(struct zab *z, uint32_t to, const struct zab_msg *m);
void zab__push_send_snap(struct zab *z, uint32_t to, const struct zab_msg *m);
void zab__push(struct zab *z, const struct zab_action *a, const uint8_t *data,
               uint32_t len);
void zab__persist_epochs(struct zab *z, uint32_t accepted, uint32_t current);
void zab__announce(struct zab *z);
void zab__commit_to(struct zab *z, uint64_t zxid);
void zab__trim_window(struct zab *z);
uint64_t zab__last_zxid(const struct zab *z);
/* Asserts zab's own invariants (not the peers' messages: those are
 * checked and refused).  At the entry of every step function. */
void zab__check(const struct zab *z);

/* log (zab.c) */
size_t zab__log_count(const struct zab__log *l);
struct zab__entry *zab__log_at(const struct zab__log *l, size_t i);
bool zab__log_find(const struct zab__log *l, uint64_t zxid, size_t *index);
size_t zab__log_upper(const struct zab__log *l, uint64_t zxid);
int zab__log_append(struct zab__log *l, uint64_t zxid, const uint8_t *data,
                    uint32_t len);
void zab__log_truncate(struct zab__log *l, uint64_t zxid);
void zab__log_reset(struct zab__log *l, uint64_t base);
bool zab__zxid_follows(uint64_t prev, uint64_t next);

/* election.c */
void zab__election_start(struct zab *z);
void zab__election_on_msg(struct zab *z, uint32_t from,
                          const struct zab_msg *m);
void zab__election_tick(struct zab *z);
void zab__election_removed_tick(struct zab *z);
void zab__election_removed_msg(struct zab *z, const struct zab_msg *m);
void zab__election_peer_up(struct zab *z, uint32_t peer);
void zab__election_heard(struct zab *z); /* ends quiet */
void zab__send_vote(struct zab *z, uint32_t to);
uint64_t zab__election_timeout(const struct zab *z);

/* leader.c */
void zab__lead(struct zab *z);
void zab__leader_on_msg(struct zab *z, uint32_t from, const struct zab_msg *m);
void zab__leader_tick(struct zab *z);
void zab__leader_durable(struct zab *z);
void zab__leader_peer_down(struct zab *z, uint32_t peer);
void zab__leader_check_quorum(struct zab *z);
bool zab__leader_healthy(const struct zab *z, uint64_t within_ms);
int zab__leader_confirm(struct zab *z, uint64_t *round_out);
int zab__leader_propose(struct zab *z, const uint8_t *data, uint32_t len,
                        uint64_t *zxid_out);
uint64_t zab__leader_timeout(const struct zab *z);

/* learner.c */
void zab__follow(struct zab *z, uint32_t leader);
void zab__learner_on_msg(struct zab *z, uint32_t from, const struct zab_msg *m);
void zab__learner_tick(struct zab *z);
void zab__learner_durable(struct zab *z);
void zab__learner_peer(struct zab *z, uint32_t peer, bool up);
uint64_t zab__learner_timeout(const struct zab *z);

/* Back to LOOKING (from any role), with the reason logged; the other end
 * of every session we held is told (STEPDOWN) first. */
void zab__go_looking(struct zab *z, const char *reason);
/* Answers a message of a session we do not hold with STEPDOWN, so that
 * its sender stops waiting on us (never a NOTIFICATION or a STEPDOWN,
 * which need no answer, nor a FOLLOWERINFO while we are LOOKING: it may
 * just be early). */
void zab__refuse(struct zab *z, uint32_t from, const struct zab_msg *m);
/* STEPDOWN in session to `to` (none under the planted SILENT_STEPDOWN). */
void zab__send_stepdown(struct zab *z, uint32_t to, uint64_t session);
uint64_t zab__health_ms(const struct zab *z);

#endif
