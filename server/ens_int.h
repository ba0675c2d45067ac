/* ens_int.h — internals of the zab replica (replica.h), shared by its files
 * and by nothing else:
 *   ens_link.c     peer links: dial, reconnect, HELLO, frames out
 *   ens_frames.c   frames in: HELLO, ZAB, FWD, FAIL, TOUCH, SYNC, SYNCED
 *   ens_driver.c   the zab driver (ens_step, the only place zab is stepped,
 *                  and its actions) and the commit path
 *   ens_disk.c     what the ensemble keeps on disk besides the log: the
 *                  epochs file, the log rebase after TRUNCATE/INSTALL_SNAP
 *   ens_leader.c   the leader's queue: prep against pending, propose
 *   ens_forward.c  the replica's requests: forward to the leader or queue
 *   ens_start.c    start-up (recovery into zab), shutdown, mode, mntr
 *   ens_reconfig.c the reconfig opcode at the leader, zab's config_of, what
 *                  a committed change does (links, dynamicConfigFile)
 *   ens_ro.c       read-only mode (readonlymode.enabled): a member without
 *                  a quorum serves canBeReadOnly clients from its tree
 * roost-server as a member of an ensemble (issue 7): the peer transport,
 * the libuv driver of zab/, and the write path across servers.
 * docs/ensemble.md has the operator's view; this comment the design.
 *
 * Transport.  Every member dials every other member on its quorumPort and
 * sends on that connection only; what it receives comes in on the
 * connections the others dialled.  So each ordered pair has its own TCP
 * link and nobody has to settle which of two crossing connections wins.
 * A link starts with a HELLO frame (magic, version, sender id); then
 * frames are `u32 length | u8 kind | payload`, at most ENS_MAX_FRAME.
 * Anything else (bad magic, unknown sender, oversized or malformed frame)
 * drops that link with a logged reason.  Outgoing links reconnect with
 * exponential backoff (ENS_RETRY_MIN_MS .. ENS_RETRY_MAX_MS) and are
 * dropped when more than ENS_MAX_QUEUED bytes wait to be written (zab
 * recovers from lost messages by resyncing).  The electionPort of a
 * server.N line is parsed but not used: one port carries everything.
 *
 * Driver.  zab is stepped only here (ens_step); its actions are performed
 * in order (zab.h): SEND -> the link; APPEND -> txlog_stage, and the
 * group-commit fsync of persist.c reports DURABLE; PERSIST_EPOCH -> the
 * file "epochs" (tmp, fsync, rename, fsync dir); TRUNCATE and
 * INSTALL_SNAP -> a snapshot of the applied state, then every log segment
 * is removed and the appended-but-uncommitted txns we keep are logged
 * again and synced (rare, so simple beats fast); SEND_SNAP ->
 * tree_serialize; COMMIT -> tree_apply, watch events, the reply to the
 * local client waiting for it; ROLE -> serving or not (a server that
 * stops serving closes its client connections, as ZooKeeper does).
 * Order kept: persist before ACK (zab), apply only at COMMIT.
 *
 * Writes.  Every write (and createSession / closeSession, and the
 * reaper's deleteContainer) becomes a request to the leader: a follower
 * forwards it (FWD), the leader queues its own.  The leader preps queued
 * requests in queue order and proposes each at once, up to
 * ENS_MAX_INFLIGHT proposals (ENS_MAX_INFLIGHT_BYTES) not yet applied
 * locally: prep validates
 * against the tree plus the changes of every prepped-but-unapplied txn
 * (tree_prep_pending and its struct tree_pending, ZooKeeper's outstanding
 * ChangeRecords), which gives the txns one-at-a-time prepping would.
 * Records are dropped as commits are applied (tree_pending_applied) and
 * all of them when the leader stops leading.  A prepped txn that zab
 * refuses (too big, not leader) is never applied, so its records would
 * lie: prepping then stops until everything proposed is applied and the
 * records are cleared.  The reply is built at COMMIT on the server the
 * client is connected to, from the committed txn alone.  A connection
 * with a write (or sync, or session creation) in flight processes no
 * further frame until it is answered: that keeps the session's FIFO order
 * (and the leader proposes in queue order).
 *
 * Sessions.  Ids are chosen by the server the client connects to
 * (server id in the top byte, so unique cluster-wide); every server
 * learns sessions from the committed createSession/closeSession txns.
 * The member a client connects to picks the password (a keyed hash of the
 * id under its own secret) and it travels in the FWD and the createSession
 * txn, so the tree of every member holds it and any member can check a
 * client that resumes there; no shared key is configured.  Followers
 * report the sessions they saw requests for (TOUCH, every tick); only
 * the leader expires sessions, by proposing closeSession.
 *
 * Recovery.  The newest snapshot is loaded as the state; logged txns after
 * it are handed to zab in LOAD, never applied directly (zab commits or
 * truncates them once synced). */
#ifndef ROOST_SERVER_ENS_INT_H
#define ROOST_SERVER_ENS_INT_H

#include "server/server_int.h"
#include "zab/zab.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ENS_MAGIC 0x525a4142u /* "RZAB" */
/* 2: createSession carries its password (FWD payload and txn body); a
 * member of version 1 could not apply such txns, so the two refuse each
 * other at HELLO instead of diverging. */
#define ENS_VERSION 2u
#define ENS_MAX_FRAME (256u << 20) /* a SNAP of a large tree */
#define ENS_MAX_QUEUED (64u << 20)
#define ENS_RETRY_MIN_MS 50u
#define ENS_RETRY_MAX_MS 2000u
#define ENS_MAX_QUEUE 10000u   /* requests waiting at the leader */
#define ENS_MAX_INFLIGHT 1000u /* proposed, not applied yet (leader) */
/* ... and their bytes: well below ENS_MAX_QUEUED, so that a follower's
 * link is not dropped for the proposals in flight. */
#define ENS_MAX_INFLIGHT_BYTES (16u << 20)
#define ENS_MAX_TOUCH 4096u /* session ids per TOUCH frame */
#define ENS_READ_CHUNK (64u << 10)

enum ens_kind {
  ENS_K_HELLO = 0,
  ENS_K_ZAB = 1,    /* a zab message (zab_msg_encode) */
  ENS_K_FWD = 2,    /* follower -> leader: a request to prep and propose */
  ENS_K_FAIL = 3,   /* leader -> origin: the request was not proposed */
  ENS_K_TOUCH = 4,  /* follower -> leader: sessions seen alive */
  ENS_K_SYNC = 5,   /* follower -> leader: what is committed now? */
  ENS_K_SYNCED = 6, /* leader -> follower: committed up to zxid */
};

/* ENS_REQ_REAP is the leader's own (never forwarded): deleteContainer of
 * the path in payload. */
enum ens_req_kind {
  ENS_REQ_WRITE = 0,
  ENS_REQ_CREATE = 1,
  ENS_REQ_CLOSE = 2,
  ENS_REQ_REAP = 3,
};

/* A request queued at the leader (own or forwarded).  Owns its bytes. */
struct ens_req {
  uint32_t origin;
  int32_t kind;
  int64_t session;
  int32_t cxid;
  int32_t timeout_ms;
  uint8_t *payload; /* ENS_REQ_WRITE: the request frame payload */
  size_t len;
  struct tree_identity *ids; /* strings owned */
  size_t n_ids;
};

struct ens_tcp; /* one TCP handle, freed in its close callback */

struct ens_peer {
  struct srv_ens *e;
  uint32_t id;
  bool observer;
  char host[256];
  int port;
  struct ens_tcp *out; /* our outgoing link, NULL when none */
  bool up;             /* HELLO sent: zab was told PEER_UP */
  uint32_t backoff_ms;
  uv_timer_t retry;
  bool retry_open;
};

struct ens_tcp {
  uv_tcp_t h;
  struct srv_ens *e;
  struct ens_peer *peer;       /* outgoing: the peer; incoming: NULL */
  struct ens_tcp *next, *prev; /* incoming list */
  uv_connect_t creq;
  uint32_t from; /* incoming: sender id after HELLO, 0 before */
  bool closing;
  size_t queued; /* bytes handed to uv_write and not completed */
  /* Outgoing: frames of this loop turn, handed to libuv in one uv_write
   * by ens_flush (the loop's check phase): one write(2) per link per
   * turn instead of one per message. */
  struct proto_writer obuf;
  uint8_t *in;
  size_t in_len, in_cap;
  struct tls_conn *tls; /* sslQuorum (tlsport.c), owned; NULL: plain */
};

struct ens_wreq {
  uv_write_t req;
  struct ens_tcp *t;
  size_t len;
  uint8_t *data; /* owned */
};

#define ENS_PROP_TIMES 4096

struct srv_ens {
  struct srv *s;
  struct zab *zab;
  struct ens_peer peers[SRV_MAX_PEERS];
  size_t n_peers; /* others, not us */
  uv_tcp_t listener;
  uv_timer_t timer;
  struct ens_tcp *incoming;

  /* zab state as last announced (ROLE). */

  /* Stepping: actions may lead to events (an inline fsync reports
   * DURABLE); those wait until the current drain is done. */
  int64_t durable_pending; /* -1 = none */
  uint64_t down_mask;      /* peers[i] whose PEER_DOWN is due */
  uint64_t up_mask;        /* peers[i] whose PEER_UP is due */
  /* The driver's timer callback (ens_on_timer): the links start the timer
   * at 0 ms to have ens_step tell zab what they saw. */
  uv_timer_cb wake;

  /* Txns appended but not committed yet, in zxid order, owned: they are
   * logged again after a TRUNCATE or INSTALL_SNAP empties the log. */
  struct ens_entry {
    uint64_t zxid;
    uint8_t *data;
    uint32_t len;
  } * pend;
  size_t n_pend, cap_pend;
  size_t pend_bytes; /* sum of their lengths */

  /* Leader: requests waiting to be prepped, a ring. */
  struct ens_req *queue;
  size_t q_head, q_len;
  /* What the txns proposed and not yet applied here will change (prep
   * reads it before the tree); the zxid proposed last in this leadership
   * (0 = none).  tpend_stale (below, with the small fields): a prepped
   * txn was not proposed, so tpend must be cleared before the next prep. */
  struct tree_pending *tpend;
  uint64_t last_proposed;
  /* Leader: when each proposal in flight was made, oldest first, for
   * the commit latency histogram (propose -> quorum).  Full: the oldest
   * is dropped unmeasured. */
  struct ens_prop_time {
    uint64_t zxid, ns;
  } prop_times[ENS_PROP_TIMES];
  size_t pt_head, pt_len;

  /* Follower: sessions seen since the last TOUCH. */
  struct srv_map touched;
  size_t n_sync_waiting;

  /* Leader: a sync is answered only after a CONFIRM round that started
   * after it arrived was echoed by a quorum (zab): a leader that was
   * replaced without noticing yet (stalled, paused) must not answer a
   * sync from its stale tree.  Rounds of this leadership: the last one
   * started, the last one a quorum confirmed; confirm_wanted: start one
   * at the next ens_step. */
  uint64_t confirm_issued, confirm_done; /* (confirm_wanted: below) */
  /* Followers' SYNCs waiting for a round (the follower's conn id, 8
   * bytes as sent, is echoed in SYNCED). */
  struct ens_fsync {
    uint32_t from;
    uint8_t cid[8];
    uint64_t round;
  } * fsyncs;
  size_t n_fsyncs, cap_fsyncs;

  /* Read-only mode (ens_ro.c): on while LOOKING, from ENS_RO_GRACE_MS
   * after the election began until it ends. */
  uv_timer_t ro_timer;
  uint64_t ro_entered; /* times read-only mode began (mntr) */
  /* When this member last began LOOKING (uv_hrtime), for ZooKeeper's
   * election_time: looking -> leading/following. */
  uint64_t looking_since_ns;

  /* Fault (ens_disk.c): a disk write of the member failed (log, epochs,
   * rebase) or zab ran out of memory.  The member left the ensemble; the
   * old zab is kept only for status and no longer stepped; fault_timer
   * retries the recovery.  The epochs last made durable (what the
   * recovery writes again), and the committed configuration as the old
   * zab knew it (what the new one loads). */
  uv_timer_t fault_timer;
  uv_timer_cb fault_retry; /* ens_start.c's recovery (ens_fault_open) */
  uint64_t faults, recoveries;
  struct zab_member fault_conf[ZAB_MAX_MEMBERS];
  size_t n_fault_conf;
  uint64_t fault_conf_version;
  uint32_t ep_acc, ep_cur;

  struct proto_writer w;   /* scratch for frames */
  struct proto_writer txn; /* scratch for the leader's prep */
  uint64_t forwarded, proposed, n_fail;

  /* The small fields, together: no padding between the large ones. */
  uint32_t my_id;
  int my_quorum_port; /* told in HELLO, so a joiner can be dialled back */
  enum zab_role role;
  uint32_t leader;
  uint32_t epoch;
  bool listener_open;
  bool timer_open;
  bool stopping;
  bool serving;
  bool in_step;
  bool tpend_stale;
  bool confirm_wanted; /* see confirm_issued above */
  bool read_only;
  bool ro_timer_open;
  bool fault_timer_open;
  bool faulted;       /* out of the ensemble until the recovery succeeds */
  bool fault_pending; /* faulted inside a step: leave once it unwinds */
  bool zab_dead;      /* the fault was zab's ENOMEM: do not step it again */
};

/* The member's loop clock, and a peer by id (NULL: not a member). */
static inline uint64_t ens_now_ms(const struct srv_ens *e) {
  return uv_now(&e->s->loop);
}

static inline struct ens_peer *ens_peer_of(struct srv_ens *e, uint32_t id) {
  for (size_t i = 0; i < e->n_peers; i++)
    if (e->peers[i].id == id)
      return &e->peers[i];
  return NULL;
}

/* ens_link.c */
void ens_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void ens_on_tcp_closed(uv_handle_t *h);
void ens_peer_dial(struct ens_peer *p);
bool ens_peer_send(struct ens_peer *p, uint8_t kind, const uint8_t *body,
                   size_t len);
void ens_redial_now(struct ens_peer *p);
int ens_resolve(const char *host, int port, struct sockaddr_storage *ss);
void ens_tcp_drop(struct ens_tcp *t, const char *why);
void ens_flush(struct srv *s);
/* sslQuorum: n bytes of ciphertext read (they lie at t->in + t->in_len);
 * their plaintext is appended to t->in in their place and the engine's
 * own records (handshake) are sent.  0, or -1 with *why: drop the link. */
int ens_link_tls_input(struct ens_tcp *t, const char *data, size_t n,
                       const char **why);

/* ens_frames.c */
void ens_on_peer_connection(uv_stream_t *l, int status);
void ens_queue_push(struct srv_ens *e, struct ens_req *r);

/* ens_disk.c */
void ens_install_snap(struct srv_ens *e, uint64_t zxid, const uint8_t *d,
                      uint32_t len);
bool ens_pend_add(struct srv_ens *e, uint64_t zxid, const uint8_t *d,
                  uint32_t len);
void ens_pend_drop_above(struct srv_ens *e, uint64_t above);
void ens_pend_drop_upto(struct srv_ens *e, uint64_t upto);
bool ens_persist_epochs(struct srv_ens *e, uint32_t acc, uint32_t cur);
int ens_read_epochs(const struct srv *s, uint32_t *acc, uint32_t *cur);
int ens_rebase_log(struct srv_ens *e, char *err, size_t err_len);
/* The member's one answer to a failed disk write (or zab out of memory):
 * see ens_disk.c.  Safe inside a step (the leaving waits until it
 * unwinds). */
void ens_fault(struct srv_ens *e, const char *why);
void ens_log_failed(struct srv *s, const char *why);
#define ENS_FAULT_RETRY_MS 1000

/* retry: the recovery (ens_start.c), run by the fault timer every
 * ENS_FAULT_RETRY_MS while faulted; set here so that the disk code does
 * not call up into the files that restart zab. */
void ens_fault_open(struct srv_ens *e, uv_timer_cb retry);
bool ens_ser_cb(void *arg, const void *buf, size_t len);
void ens_sessions_reload(struct srv *s);

/* ens_driver.c */
void ens_confirmed(struct srv_ens *e);
/* Leaves the ensemble after ens_fault (ens_step calls it once the step
 * unwound): the old zab's queued actions are dropped, it resigns out
 * loud, and the member stops serving as a member that lost its leader. */
void ens_fault_leave(struct srv_ens *e);
/* ens_leader.c: the commit latency clock (struct srv_ens.prop_times). */
void ens_prop_time_push(struct srv_ens *e, uint64_t zxid);
void ens_prop_time_commit(struct srv_ens *e, uint64_t zxid);
void ens_commit(struct srv_ens *e, uint64_t zxid, const uint8_t *d,
                uint32_t len);
void ens_drain(struct srv_ens *e);
void ens_step(struct srv_ens *e, const struct zab_event *ev);
void ens_on_timer(uv_timer_t *h);
void ens_send_touches(struct srv_ens *e);
void ens_sync_check(struct srv_ens *e);

/* ens_leader.c */
void ens_conn_fail(struct srv *s, int64_t session, int32_t kind, int32_t cxid,
                   int32_t err);
void ens_req_free(struct ens_req *r);
uint64_t ens_inflight(const struct srv_ens *e);
bool ens_pump_one(struct srv_ens *e);
void ens_send_fail(struct srv_ens *e, const struct ens_req *r, int32_t err);

/* ens_ro.c */
void ens_ro_role(struct srv_ens *e, enum zab_role was);
void ens_ro_open(struct srv_ens *e);
void ens_ro_stop(struct srv_ens *e);
void ens_ro_mntr(const struct srv_ens *e, struct proto_writer *w);
bool ens_read_only(const struct srv *s);
const char *ens_admit(const struct srv *s, int64_t session_id, bool can_ro);
bool ens_ro_create_session(struct srv_conn *c, int64_t id, int32_t timeout_ms);

/* ens_forward.c */
void ens_close_session(struct srv_conn *c, int32_t xid);
void ens_conn_gone(struct srv_conn *c);
bool ens_create_session(struct srv_conn *c, int64_t id, int32_t timeout_ms);
void ens_durable(struct srv *s, int64_t zxid);
void ens_expire(struct srv *s, struct srv_session *sess);
void ens_reap(struct srv *s, const char *path, size_t len);
bool ens_serving(const struct srv *s);
void ens_sync(struct srv_conn *c, int32_t xid);
void ens_tick(struct srv *s);
void ens_touch(struct srv *s, int64_t session_id);
void ens_write(struct srv_conn *c, const struct proto_request *req,
               const uint8_t *payload, size_t len, uint64_t start_ns);

/* ens_start.c: a new zab, loaded with the state in memory (tree applied,
 * e->pend logged after it, the epochs acc/cur, the committed
 * configuration members (n 0: the static one)), replaces e->zab: at start
 * and by the fault recovery; base: the applied state's zxid.  0, or -1 with
 * errmsg (e->zab unchanged). */
int ens_zab_start(struct srv_ens *e, uint32_t acc, uint32_t cur, uint64_t base,
                  const struct zab_member *members, size_t n_members,
                  uint64_t config_version, char *errmsg);

/* ens_config.c: writes the member's configuration into /zookeeper/config
 * of s->tree (ZooKeeper's text, version=0).  0, or -1 out of memory. */
int ens_config_node_init(struct srv *s);

/* ens_reconfig.c: the leader's prep of a reconfig request (auth, fromConfig,
 * the next configuration) into txn at header h: PROTO_OK, or the error to
 * answer (NOAUTH, BADVERSION, BADARGUMENTS, SYSTEMERROR).  zab's
 * config_of.  After a commit: links to new servers, dynamicConfigFile. */
int ens_reconfig_prep(struct srv_ens *e, const struct proto_request *req,
                      const struct tree_auth *auth,
                      const struct tree_txn_header *h,
                      struct proto_writer *txn);
void ens_peer_add(struct srv_ens *e, uint32_t id, const char *host, int port,
                  bool observer);
bool ens_config_of(void *ctx, const uint8_t *txn, uint32_t len,
                   struct zab_member *out, size_t *n_out);
/* At start: the newest committed configuration this member knows (its
 * state's /zookeeper/config, else the dynamicConfigFile), into out (at
 * most ZAB_MAX_MEMBERS) with links added for its servers.  false: none
 * but the static one (or reconfigEnabled is off). */
bool ens_reconfig_load(struct srv_ens *e, struct zab_member *out, size_t *n,
                       uint64_t *version);
void ens_reconfig_committed(struct srv_ens *e, const uint8_t *txn,
                            uint32_t len);

#endif /* ROOST_SERVER_ENS_INT_H */
