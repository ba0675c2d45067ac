/* zab — atomic broadcast for Roost, as a pure state machine.
 *
 * A ZAB-like protocol (ZooKeeper's shape): fast leader election with votes
 * (epoch, last zxid, server id), discovery (a quorum agrees on a new epoch),
 * synchronisation (DIFF / TRUNC / SNAP, then NEWLEADER acked by a quorum),
 * broadcast (PROPOSAL / ACK / COMMIT, INFORM for observers), heartbeats both
 * ways.  The state machine diagram and the message table are in docs/zab.md.
 *
 * Purity: no sockets, files, threads, clock or global state.  Time comes in
 * with events, randomness from a generator seeded by zab_config.seed, and
 * everything zab wants done comes out as a queue of actions that the driver
 * (server/ over TCP, tests/sim over a virtual world) performs IN ORDER.
 *
 * Driving loop:
 *
 *     zab_step(z, &event);                 // one input
 *     while (zab_action_next(z, &a))       // drain every output, in order
 *         perform(a);
 *     arm_timer(zab_next_timeout_ms(z));   // then TICK when it fires
 *
 * Ordering contract (the guarantees depend on it):
 *   - Actions are performed in queue order.
 *   - ZAB_ACT_PERSIST_EPOCH, ZAB_ACT_TRUNCATE and ZAB_ACT_INSTALL_SNAP must be
 *     durable before the driver performs any later action (they are rare).
 *   - ZAB_ACT_APPEND may complete asynchronously (group commit); the driver
 *     reports durability with a ZAB_EV_DURABLE event.  zab never sends an ACK
 *     for a txn before that event covers it.
 *   - ZAB_ACT_COMMIT must be applied in the order given; ZAB_ACT_SEND_SNAP
 *     must serialise the state exactly as of the commits performed before it.
 *   - Sends may be dropped by the transport (a broken connection); zab
 *     recovers through its timeouts and the PEER_DOWN / PEER_UP events.
 *
 * Memory: zab copies what it keeps.  Pointers inside an action are borrowed
 * until the next call on the same zab object.  Pointers in an event are
 * borrowed for the duration of zab_step.
 *
 * Thread safety: none needed; one object is driven by one thread at a time.
 */
#ifndef ROOST_ZAB_H
#define ROOST_ZAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct proto_writer;

/* ------------------------------------------------------------------ */
/* zxid = epoch << 32 | counter.  Counters start at 1 in each epoch. */

static inline uint64_t zab_zxid(uint32_t epoch, uint32_t counter) {
  return ((uint64_t)epoch << 32) | counter;
}
static inline uint32_t zab_zxid_epoch(uint64_t zxid) {
  return (uint32_t)(zxid >> 32);
}
static inline uint32_t zab_zxid_counter(uint64_t zxid) {
  return (uint32_t)zxid;
}

/* ------------------------------------------------------------------ */
/* Errors.  X(name, value, message). */

#define ZAB_ERR_MAP(X)                                                         \
  X(OK, 0, "ok")                                                               \
  X(EINVAL, -1, "invalid argument")                                            \
  X(ENOMEM, -2, "out of memory")                                               \
  X(NOTLEADER, -3, "not the established leader")                               \
  X(BUSY, -4, "too many outstanding proposals")                                \
  X(BADMSG, -5, "malformed peer message")                                      \
  X(TOOBIG, -6, "transaction or message too large")                            \
  X(STATE, -7, "not valid in the current state")                               \
  X(EPOCHEND, -8, "zxid counter exhausted in this epoch")                      \
  X(RECONFIG_BUSY, -9, "a reconfiguration is already in progress")             \
  X(NOQUORUM, -10, "the new configuration has no synced quorum")               \
  X(BADCONFIG, -11, "invalid configuration")

enum zab_err {
#define ZAB_ERR_ENUM(name, value, msg) ZAB_##name = (value),
  ZAB_ERR_MAP(ZAB_ERR_ENUM)
#undef ZAB_ERR_ENUM
};

/* Static strings; "unknown error" / "UNKNOWN" for values outside the map. */
const char *zab_strerror(int err);
const char *zab_err_name(int err);

/* ------------------------------------------------------------------ */
/* Roles. */

enum zab_role {
  ZAB_ROLE_LOOKING = 0,
  ZAB_ROLE_FOLLOWING = 1,
  ZAB_ROLE_LEADING = 2,
  ZAB_ROLE_OBSERVING = 3,
};
const char *zab_role_name(enum zab_role role); /* static string */

/* ------------------------------------------------------------------ */
/* Peer messages.  X(name, wire value). */

#define ZAB_MSG_MAP(X)                                                         \
  X(NOTIFICATION, 1)  /* election: a vote                           */         \
  X(FOLLOWERINFO, 2)  /* discovery: learner -> leader               */         \
  X(LEADERINFO, 3)    /* discovery: leader -> learner, new epoch    */         \
  X(ACKEPOCH, 4)      /* discovery: learner -> leader               */         \
  X(DIFF, 5)          /* sync: your log is my prefix up to zxid     */         \
  X(TRUNC, 6)         /* sync: cut your log after zxid              */         \
  X(SNAP, 7)          /* sync: my state as of zxid (opaque bytes)   */         \
  X(PROPOSAL, 8)      /* sync/broadcast: a txn                      */         \
  X(COMMIT, 9)        /* broadcast: committed up to zxid            */         \
  X(INFORM, 10)       /* broadcast to observers: a committed txn    */         \
  X(NEWLEADER, 11)    /* sync: end of the sync stream               */         \
  X(ACKNEWLEADER, 12) /* sync: learner has the stream durably       */         \
  X(UPTODATE, 13)     /* sync: start serving                        */         \
  X(ACK, 14)          /* broadcast: durable up to zxid              */         \
  X(PING, 15)         /* heartbeat, both ways                       */         \
  X(CONFIRM, 16)      /* leader -> voter: still my follower? (round) */        \
  X(CONFIRMED, 17)    /* voter -> leader: yes, for that round        */        \
  X(STEPDOWN, 18)     /* either way: I am not (any more) in session  */        \
  X(CONFIG, 19)       /* sync: the membership a SNAP's state holds   */

enum zab_msg_type {
#define ZAB_MSG_ENUM(name, value) ZAB_MSG_##name = (value),
  ZAB_MSG_MAP(ZAB_MSG_ENUM)
#undef ZAB_MSG_ENUM
};
const char *zab_msg_type_name(int type); /* "PROPOSAL", or "UNKNOWN" */

/* One decoded message.  Field use by type (unused fields are zero):
 *   all        epoch, zxid, session (session is 0 for NOTIFICATION)
 *   NOTIFICATION  epoch = the vote's epoch, zxid = the vote's last zxid,
 *                 leader = the vote's server id, round = election round,
 *                 state = the sender's enum zab_role
 *   FOLLOWERINFO  epoch = acceptedEpoch, zxid = last logged, observer
 *   LEADERINFO    epoch = the new epoch
 *   ACKEPOCH      epoch = currentEpoch, zxid = last logged
 *   DIFF/TRUNC    zxid = the point the learner's log agrees with mine
 *   SNAP          zxid = what the state covers, data = the state,
 *                 prev_zxid = the version of the configuration it holds
 *                 (with reconfiguration; its CONFIG came right before)
 *   PROPOSAL/INFORM  zxid, data = the txn, prev_zxid = the zxid right
 *                 before it in the leader's log (the learner appends only
 *                 onto exactly that: a lost message becomes a detected gap)
 *   COMMIT/UPTODATE/PING (from leader)  zxid = commit point
 *   NEWLEADER     zxid = last zxid of the sync stream
 *   ACKNEWLEADER/ACK/PING (from learner) zxid = durable up to
 *   CONFIRM/CONFIRMED  zxid = the leader's confirmation round (echoed)
 *   PING (from learner)  round = the learner's ping counter
 *   PING (from leader)   round = the newest learner ping counter the
 *                 leader heard in this session (the echo that tells a
 *                 learner its messages still arrive); prev_zxid = the last
 *                 zxid sent to it before this PING (its commit point for
 *                 an observer): a learner holding less lost something
 *   STEPDOWN      session = the learner session the sender leaves or does
 *                 not hold: a leader that stops leading, a learner that
 *                 stops following, or anyone answering a message of a
 *                 session it does not hold (never a FOLLOWERINFO)
 *   NOTIFICATION  prev_zxid = the version of the sender's committed
 *                 configuration (the zxid of the txn that made it, 0 for
 *                 the static one); data = that configuration
 *                 (zab_conf_encode) when its version is not 0, else none
 *   CONFIG        zxid = the configuration's version, data = its members
 *                 (zab_conf_encode); sent right before a SNAP, whose state
 *                 holds exactly that configuration
 * For sync and broadcast messages, epoch is the leader's epoch.
 * data is *borrowed* (from the decoded buffer or the sender's memory). */
struct zab_msg {
  enum zab_msg_type type;
  uint32_t epoch;
  uint64_t zxid;
  uint64_t session; /* learner's connection identity; see docs/zab.md */
  uint64_t prev_zxid;
  uint32_t leader;
  uint64_t round;
  uint32_t state;
  bool observer;
  const uint8_t *data;
  uint32_t len;
};

#define ZAB_MSG_VERSION 1
/* Bytes of a message without its data (fixed layout, see docs/zab.md). */
#define ZAB_MSG_HEADER_SIZE 57

/* Appends the encoding of m to w (no length prefix: framing is the
 * transport's).  Returns ZAB_OK, ZAB_EINVAL for an unknown type or data on
 * a type without data, ZAB_ENOMEM if the writer failed. */
int zab_msg_encode(const struct zab_msg *m, struct proto_writer *w);

/* Decodes exactly [buf, buf+len) into *out.  Never trusts the input:
 * version, type, every length (data at most max_data bytes), the role in a
 * NOTIFICATION, and no trailing bytes.  out->data borrows from buf.
 * Returns ZAB_OK, or ZAB_BADMSG with *reason (static string) set. */
int zab_msg_decode(const void *buf, size_t len, size_t max_data,
                   struct zab_msg *out, const char **reason);

/* ------------------------------------------------------------------ */
/* Configuration. */

/* Planted bugs, for proving that the simulator's checker catches them.
 * Never set outside tests. */
enum zab_test_bug {
  ZAB_TEST_BUG_COMMIT_BEFORE_QUORUM = 1u << 0, /* leader commits at once  */
  ZAB_TEST_BUG_SKIP_TRUNC = 1u << 1,  /* TRUNC not passed to the driver */
  ZAB_TEST_BUG_EPOCH_REUSE = 1u << 2, /* new epoch = max, not max+1   */
  ZAB_TEST_BUG_ACK_BEFORE_DURABLE = 1u << 3, /* follower ACKs at append   */
  /* a new leader persists currentEpoch before its own log is durable */
  ZAB_TEST_BUG_EARLY_CURRENT_EPOCH = 1u << 4,
  /* a CONFIRM round counts as confirmed without any echo */
  ZAB_TEST_BUG_CONFIRM_WITHOUT_QUORUM = 1u << 5,
  /* nobody ever sends STEPDOWN: a leader that stops leading tells nobody,
   * a message of a session its receiver does not hold goes unanswered */
  ZAB_TEST_BUG_SILENT_STEPDOWN = 1u << 6,
  /* a configuration change commits with a quorum of the new configuration
   * only (ZooKeeper's rule needs the old one's too) */
  ZAB_TEST_BUG_RECONFIG_NEW_QUORUM_ONLY = 1u << 7,
};

struct zab_member {
  uint32_t id; /* > 0, unique */
  bool observer;
};

/* Reconfiguration (ZooKeeper 3.5's dynamic reconfiguration).  The
 * membership is replicated: a configuration change is an ordinary txn of
 * the driver's own format that this callback recognises.  It must be pure
 * (no I/O): given a txn's bytes, return true and fill out[0..*n_out) (at
 * most ZAB_MAX_MEMBERS) if the txn sets a new membership, false otherwise.
 * The configuration's version is the zxid of that txn.  NULL: the
 * membership is fixed.  See docs/zab.md, "Reconfiguration". */
typedef bool (*zab_config_of_cb)(void *ctx, const uint8_t *txn, uint32_t len,
                                 struct zab_member *out, size_t *n_out);

/* Log callback: level 0 = info, 1 = warning (e.g. a dropped message, with
 * the reason).  msg is borrowed for the call. */
typedef void (*zab_log_cb)(void *ctx, int level, const char *msg);

struct zab_config {
  uint32_t my_id;
  /* The static configuration (version 0), copied.  my_id need not be in
   * it: such a server is a joiner that follows as a non-voting learner
   * until a committed configuration names it. */
  const struct zab_member *members;
  size_t n_members;          /* 1 .. ZAB_MAX_MEMBERS */
  uint32_t tick_ms;          /* heartbeat period */
  uint32_t init_limit;       /* ticks allowed for discovery + sync */
  uint32_t sync_limit;       /* ticks of silence tolerated after */
  uint32_t election_min_ms;  /* first notification re-send */
  uint32_t election_max_ms;  /* re-send interval cap (doubles) */
  uint32_t finalize_wait_ms; /* wait for a better vote */
  uint32_t diff_window_txns; /* committed txns kept for DIFF */
  size_t diff_window_bytes;  /* and their bytes, whichever is less */
  uint32_t max_outstanding;  /* uncommitted proposals at a leader */
  uint32_t max_txn_bytes;    /* largest txn accepted */
  uint64_t seed;             /* election jitter, session ids */
  uint32_t test_bugs;        /* enum zab_test_bug bits; 0 */
  zab_log_cb log_cb;         /* may be NULL */
  void *log_ctx;
  zab_config_of_cb config_of; /* may be NULL: no reconfiguration */
  void *config_ctx;
};

#define ZAB_MAX_MEMBERS 64

/* Fills c with defaults (tick 2000 ms, initLimit 10, syncLimit 5 as
 * ZooKeeper; election 200..60000 ms, finalize 200 ms, window 500 txns /
 * 16 MiB, 1000 outstanding, 1 MiB txns); my_id and members left empty. */
void zab_config_defaults(struct zab_config *c);

struct zab;

/* Creates a zab in role LOOKING with an empty history; the driver should
 * then send ZAB_EV_LOAD.  Returns ZAB_OK, ZAB_EINVAL (bad config: see
 * zab_config fields; message in *why if why != NULL, static), ZAB_ENOMEM.
 * Free with zab_destroy. */
int zab_create(const struct zab_config *c, struct zab **out, const char **why);
void zab_destroy(struct zab *z);

/* ------------------------------------------------------------------ */
/* Events (inputs). */

enum zab_event_type {
  ZAB_EV_LOAD,      /* persisted state after (re)start; once, first */
  ZAB_EV_TICK,      /* time passes: timeouts, heartbeats, re-sends */
  ZAB_EV_MESSAGE,   /* a decoded message from peer `from` */
  ZAB_EV_PROPOSE,   /* a local write to broadcast (leader only) */
  ZAB_EV_DURABLE,   /* the log is durable up to zxid */
  ZAB_EV_PEER_UP,   /* the connection to peer came up */
  ZAB_EV_PEER_DOWN, /* the connection to peer went down */
  ZAB_EV_CONFIRM,   /* leader: start a round that proves we still lead */
  ZAB_EV_RESIGN,    /* leave the current role at once (shutting down, or
                       told to): tell the other end of every session
                       (STEPDOWN), then LOOKING */
};

/* One logged txn handed to zab at load. */
struct zab_entry {
  uint64_t zxid;
  const uint8_t *data; /* borrowed for the call; copied */
  uint32_t len;
};

struct zab_event {
  enum zab_event_type type;
  uint64_t now_ms; /* current time for every event (monotonic) */
  union {
    struct {
      uint32_t accepted_epoch;
      uint32_t current_epoch;
      /* The state (tree) the driver has covers exactly the history up to
       * applied_zxid; everything at or below it is committed. */
      uint64_t applied_zxid;
      /* The zxid right before entries[0] (the snapshot the log continues),
       * base_zxid <= applied_zxid.  entries: the logged txns after it, in
       * order and contiguous; zab keeps the uncommitted ones and up to the
       * DIFF window of the committed ones. */
      uint64_t base_zxid;
      const struct zab_entry *entries;
      size_t n_entries;
      /* The committed configuration the state holds (as of
       * applied_zxid) and its version -- or a newer committed one (an
       * operator's dynamic configuration file for a server that missed
       * changes); n_members 0: none was ever committed, the static one
       * of zab_config applies. */
      const struct zab_member *members;
      size_t n_members;
      uint64_t config_version;
    } load;
    struct {
      uint32_t from;
      const struct zab_msg *msg; /* borrowed for the call */
    } message;
    struct {
      const uint8_t *data; /* copied */
      uint32_t len;
      uint64_t *zxid_out; /* receives the zxid assigned; may be NULL */
    } propose;
    struct {
      uint64_t zxid; /* every logged txn <= zxid is durable */
    } durable;
    struct {
      uint32_t id;
    } peer;
    struct {
      /* Receives the round; ZAB_ACT_CONFIRMED with zxid >= it says that a
       * quorum of voters still followed us after this event, so no other
       * leader can have committed anything our state lacks: a read
       * answered then (e.g. a sync) is linearizable. */
      uint64_t *round_out;
    } confirm;
  };
};

/* Feeds one event.  Returns ZAB_OK, or for the event's own validity:
 *   ZAB_EINVAL  malformed event (unknown type, load out of order or not
 *               contiguous, unknown peer id)
 *   ZAB_STATE   LOAD twice, or any event before LOAD
 *   CONFIRM:    ZAB_NOTLEADER (not the established leader)
 *   PROPOSE:    ZAB_NOTLEADER (not the established leader), ZAB_BUSY
 *               (max_outstanding reached), ZAB_TOOBIG, ZAB_EPOCHEND (the
 *               leader steps down so a new epoch starts), ZAB_ENOMEM;
 *               for a configuration change (config_of says so):
 *               ZAB_RECONFIG_BUSY (another change is not committed yet),
 *               ZAB_BADCONFIG (no voter, id 0, duplicate ids),
 *               ZAB_NOQUORUM (the voters of the new configuration synced
 *               with this leader, itself included, are not a quorum of
 *               it: new members must have caught up before they count)
 * A bad or unexpected peer message is not an error of the call: it is
 * dropped, counted and logged with its reason (ZAB_OK is returned).
 * ZAB_ENOMEM from any event means the object is dead: perform the actions
 * already queued (a consistent prefix), destroy it, and create a new one
 * from the persisted state. */
int zab_step(struct zab *z, const struct zab_event *ev);

/* ------------------------------------------------------------------ */
/* Actions (outputs). */

enum zab_action_type {
  ZAB_ACT_SEND,          /* send msg to peer */
  ZAB_ACT_SEND_SNAP,     /* send msg (a SNAP) to peer with data = state */
  ZAB_ACT_APPEND,        /* append txn (zxid, data) to the log */
  ZAB_ACT_TRUNCATE,      /* drop every logged txn > zxid; durable first */
  ZAB_ACT_INSTALL_SNAP,  /* state := data (history up to zxid), empty the
                            log; durable first */
  ZAB_ACT_PERSIST_EPOCH, /* store accepted/current epoch; durable first */
  ZAB_ACT_COMMIT,        /* apply txn (zxid, data), in this order */
  ZAB_ACT_ROLE,          /* role/leader/epoch/serving changed */
  ZAB_ACT_CONFIRMED,     /* leader: a quorum confirmed rounds <= zxid */
};
const char *zab_action_name(enum zab_action_type t);

struct zab_action {
  enum zab_action_type type;
  uint32_t peer;       /* SEND, SEND_SNAP */
  struct zab_msg msg;  /* SEND, SEND_SNAP (data left empty for the driver) */
  uint64_t zxid;       /* APPEND, TRUNCATE, INSTALL_SNAP, COMMIT;
                          CONFIRMED: the round */
  const uint8_t *data; /* APPEND, INSTALL_SNAP, COMMIT: borrowed */
  uint32_t len;
  uint32_t accepted_epoch; /* PERSIST_EPOCH */
  uint32_t current_epoch;  /* PERSIST_EPOCH */
  enum zab_role role;      /* ROLE */
  uint32_t leader;         /* ROLE: the leader's id, 0 while LOOKING */
  uint32_t epoch;          /* ROLE: the epoch being led/followed */
  bool serving;            /* ROLE: leader established / learner UPTODATE */
};

/* Pops the next action into *a.  Returns false when the queue is empty.
 * a's pointers are borrowed until the next call on z. */
bool zab_action_next(struct zab *z, struct zab_action *a);

/* When (absolute ms, the clock of the events) the driver should send
 * ZAB_EV_TICK next. */
uint64_t zab_next_timeout_ms(const struct zab *z);

/* ------------------------------------------------------------------ */
/* Observation, for the server's four-letter words and for tests. */

struct zab_status {
  enum zab_role role;
  uint32_t leader;
  uint32_t epoch;
  bool serving;
  uint32_t accepted_epoch;
  uint32_t current_epoch;
  uint64_t last_zxid;
  uint64_t commit_zxid;
  uint64_t durable_zxid;
  uint64_t base_zxid;         /* oldest point DIFF can start from */
  uint32_t n_synced_learners; /* leader: learners past NEWLEADER */
  uint64_t n_dropped;         /* peer messages dropped (bad/unexpected) */
  /* Fit to take writes now: a leader that is established and heard a
   * quorum of voters (itself included) within the last health_ms; a
   * learner that is serving and whose leader both spoke and echoed our
   * PINGs within health_ms.  health_ms = tick * max(2, syncLimit / 2):
   * well before syncLimit gives up on the other side, so that a member
   * about to lose its leader or quorum refuses writes instead of taking
   * ones it can only fail later (time as of the last event). */
  bool healthy;
  uint64_t n_elections;
  uint64_t n_sync_diff, n_sync_trunc, n_sync_snap; /* as learner */
  /* Reconfiguration */
  uint64_t config_version; /* of the committed configuration */
  uint64_t pending_config; /* zxid of an uncommitted change in the log */
  bool voter;              /* in the committed configuration */
  bool member;             /* voter or observer in it */
  bool removed; /* a committed change removed us: we stopped for good */
};
void zab_status_get(const struct zab *z, struct zab_status *st);

/* One learner as the leader sees it (zab_learners_get). */
struct zab_learner {
  uint32_t id;
  bool observer;
  bool synced; /* ACKNEWLEADER received: in the broadcast set */
  /* Durable up to, as it told us: a follower's highest ACK (or
   * ACKNEWLEADER); an observer (it sends no ACK) reports in its PINGs,
   * one a tick.  0 while it syncs. */
  uint64_t acked_zxid;
  /* Txns it lacks: of the leader's last proposed zxid (a follower) or
   * commit point (an observer: it gets committed txns only), how many
   * the learner has not acknowledged.  Counted in zxid counters of that
   * zxid's epoch: a learner acked in an older epoch lags by the whole
   * counter (sync brings older epochs in before it counts as synced). */
  uint64_t lag;
};

/* Leader only: the learners it holds a session with that are syncing or
 * synced (a learner silent for syncLimit is dropped, and leaves the list),
 * in peer-table order.  Copies up to max into out; returns how many there
 * are (0 when not leading). */
size_t zab_learners_get(const struct zab *z, struct zab_learner *out,
                        size_t max);

/* The committed configuration: copies up to max members into out, returns
 * how many it has (may be > max) and its version in *version. */
size_t zab_config_get(const struct zab *z, struct zab_member *out, size_t max,
                      uint64_t *version);

/* zab's own encoding of a member list (CONFIG messages; a driver may use it
 * inside its txns too): per member, int id and byte observer, big-endian.
 * encode returns ZAB_OK or ZAB_ENOMEM; decode returns ZAB_OK or
 * ZAB_BADCONFIG (length, id 0, duplicates, no voter, too many). */
int zab_conf_encode(const struct zab_member *m, size_t n,
                    struct proto_writer *w);
int zab_conf_decode(const uint8_t *buf, size_t len, struct zab_member *out,
                    size_t *n_out);

/* The reason for the last dropped message or step-down (never NULL). */
const char *zab_errmsg(const struct zab *z);

#endif
