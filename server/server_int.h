/* server_int.h — internals shared by the files of server/ (not a public
 * interface: only the .c files of server/ include it).
 *
 * Threading: everything here runs on the server's one libuv loop thread.
 *
 * Object graph (who owns whom):
 *   struct srv            owns the loop, the listener, the tick timer, the
 *                         flush check handle, the signal handles, the tree,
 *                         every struct srv_conn (list `conns`) and every
 *                         struct srv_session (map `sessions` + `heap`).
 *   struct srv_conn       owns its uv_tcp_t, its input/output buffers and its
 *                         identities; it *borrows* its session.
 *   struct srv_session    borrows the connection that currently holds it
 *                         (NULL when none does); lives until it expires or
 *                         is closed, independent of connections.
 *
 * Standalone processing is synchronous: a frame read from a socket is
 * prepped, logged (write(2) into the transaction log), applied and
 * answered before the next one is looked at, so the "pipeline" of
 * DESIGN.md is a straight call chain here and a session's FIFO order holds
 * by construction.  What is not synchronous is durability: the answer to a
 * write, and the watch events it fired, are *held* in their connections'
 * output (srv_conn_hold) until an fsync that covers the write's zxid has
 * finished on the thread pool (persist.c).  Everything queued on a
 * connection after a held frame waits behind it, so a session's later
 * reads wait for its writes, and a watcher sees an event before any data
 * it reads afterwards.  Order kept: log before apply, fsync before reply.
 */
#ifndef ROOST_SERVER_INT_H
#define ROOST_SERVER_INT_H

#include "proto/proto.h"
#include "server/server.h"
#include "snapshot/snapshot.h"
#include "tree/tree.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* What srvr/envi/mntr report.  Clients parse the leading x.y.z only. */
#define SRV_ZK_VERSION "3.8.0-roost-" PROTO_ROOST_VERSION
#define SRV_ROOST_VERSION PROTO_ROOST_VERSION

/* Limits (every queue has a bound, CONVENTIONS.md). */
#define SRV_SESSIONLESS_TIMEOUT_MS 10000 /* before the ConnectRequest */
#define SRV_CLOSE_FLUSH_TIMEOUT_MS                                             \
  10000                                /* a closing conn that will not         \
                                          take its last bytes */
#define SRV_OUT_HIGH_BYTES (16u << 20) /* stop reading above this */
#define SRV_OUT_LOW_BYTES (4u << 20)   /* resume reading below this */
#define SRV_OUT_HARD_BYTES                                                     \
  (64u << 20) /* notifications for a client                                    \
                 that does not read: close it */
#define SRV_READ_CHUNK (64u << 10)
#define SRV_KEEP_BUF_BYTES                                                     \
  (1u << 20) /* buffers above this are given back                              \
                 once idle */
#define SRV_MAX_IDENTITIES 32

/* ------------------------------------------------------------------ */
/* log.c — one line per message on stderr: time, level, text. */

enum srv_log_level {
  SRV_LOG_ERROR = 0,
  SRV_LOG_WARN = 1,
  SRV_LOG_INFO = 2,
  SRV_LOG_DEBUG = 3,
};

/* Writes the line when level <= max_level. */
void srv_log_emit(int max_level, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define srv_log(s, lvl, ...)                                                   \
  srv_log_emit((s)->cfg.log_level, (lvl), __VA_ARGS__)

/* Wall clock in ms since the epoch. */
int64_t srv_wall_ms(void);

/* ------------------------------------------------------------------ */
/* map.c — open-addressing hash map from a non-zero uint64 key to a
 * borrowed pointer.  Grows by doubling; never shrinks. */

struct srv_map {
  uint64_t *keys; /* 0 = empty slot */
  void **vals;
  size_t cap; /* power of two, or 0 */
  size_t n;
};

void srv_map_init(struct srv_map *m);
void srv_map_free(struct srv_map *m);
/* Returns the value or NULL. */
void *srv_map_get(const struct srv_map *m, uint64_t key);
/* Inserts or replaces.  Returns 0, or -1 on allocation failure (the map is
 * unchanged then).  key must not be 0. */
int srv_map_put(struct srv_map *m, uint64_t key, void *val);
/* Removes key if present. */
void srv_map_del(struct srv_map *m, uint64_t key);
/* Iterate: i from 0 while srv_map_next returns true. */
bool srv_map_next(const struct srv_map *m, size_t *i, uint64_t *key,
                  void **val);

/* ------------------------------------------------------------------ */
/* crypto.c — written from the specifications (FIPS 180-4, RFC 4648, the
 * SipHash paper by Aumasson and Bernstein). */

void srv_sha1(const void *data, size_t len, uint8_t out[20]);
/* Standard alphabet, '=' padding, NUL-terminated; out must hold
 * 4 * ((len + 2) / 3) + 1 bytes.  Returns the length written. */
size_t srv_base64(const void *data, size_t len, char *out);
uint64_t srv_siphash24(const uint8_t key[16], const void *data, size_t len);

/* ------------------------------------------------------------------ */
/* Sessions (session.c). */

struct srv_conn;

struct srv_session {
  int64_t id;
  int32_t timeout_ms;
  int64_t expire_ms;     /* deadline in loop time, a multiple of tickTime */
  size_t heap_index;     /* position in srv.heap */
  struct srv_conn *conn; /* borrowed; NULL when no connection holds it */
  bool closing;          /* ensemble leader: closeSession proposed */
};

/* What an ensemble connection waits for before it reads its next frame
 * (ensemble.c): a session's requests are answered in order. */
enum srv_ens_wait {
  SRV_ENS_WAIT_NONE = 0,
  SRV_ENS_WAIT_CONNECT, /* createSession committed */
  SRV_ENS_WAIT_WRITE,   /* the writes in ens_cxids committed (the first:
                           ens_wait_id); more writes may follow them */
  SRV_ENS_WAIT_CLOSE,   /* closeSession committed */
  SRV_ENS_WAIT_SYNC,    /* applied up to the leader's commit point */
};

/* ------------------------------------------------------------------ */
/* Connections (conn.c). */

enum srv_conn_state {
  SRV_CONN_HANDSHAKE, /* accepted, waiting for ConnectRequest or a 4lw */
  SRV_CONN_OPEN,      /* session established */
  SRV_CONN_CLOSING,   /* flushing its last bytes, or uv_close called */
};

struct srv_conn {
  uv_tcp_t tcp; /* tcp.data = this */
  struct srv *srv;
  uint64_t id;                  /* watcher id for the tree; never 0 */
  struct srv_conn *prev, *next; /* srv.conns */
  struct srv_conn *dirty_next;  /* srv.dirty, when dirty */
  bool dirty;
  enum srv_conn_state state;
  bool handle_closed; /* uv_close was called */
  bool reading;       /* uv_read_start is in effect */
  bool throttled;     /* reading stopped because output is too large */
  bool close_after_flush;
  bool first4_checked;  /* the 4lw test on the first bytes was done */
  bool throttle_logged; /* the first throttle was logged at INFO */
  bool processing;      /* inside process_input (conn.c) */

  char ip[64]; /* textual peer address */
  int port;
  int64_t accepted_loop_ms;
  int64_t closing_loop_ms;

  /* Input: bytes read, not yet consumed.  Bounded by one frame
   * (jute.maxbuffer + 4) plus one read chunk. */
  uint8_t *in;
  size_t in_len, in_cap;

  /* Output: `out` collects this loop turn's frames; `wbuf` holds the bytes
   * of the one uv_write in flight. */
  struct proto_writer out;
  struct proto_writer wbuf;
  uv_write_t wreq;
  bool writing;

  struct srv_session *session; /* borrowed */

  struct tls_conn *tls; /* owned; NULL on the plain port (tlsport.c) */

  /* Ensemble (ensemble.c): the request(s) in flight, if any.  Writes are
   * pipelined: while only writes are unanswered, further writes are
   * forwarded at once (up to SRV_ENS_CONN_WRITES); any other request waits
   * until they are all answered, so replies stay in request order. */
  enum srv_ens_wait ens_wait;
  int64_t ens_wait_id; /* cxid (WRITE: the oldest), or the session id */
  int32_t *ens_cxids;  /* WRITE: ring of unanswered cxids (owned) */
  uint32_t ens_cx_head, ens_cx_n;
  int64_t ens_sync_zxid; /* SYNC: the leader's commit point, -1 unknown */
  uint64_t ens_sync_round; /* SYNC on the leader: the confirm round, or 0 */
  char *ens_path;        /* SYNC: the path to echo (owned) */
  size_t ens_path_len;
  bool ens_ro;           /* CONNECT: the request's readOnly flag */

  /* Held output (persist.c): bytes of `out` from holds[i].off on wait for
   * zxid holds[i].zxid to be durable.  Offsets and zxids increase. */
  struct srv_hold {
    size_t off;
    int64_t zxid;
  } *holds;
  size_t n_holds, cap_holds;

  /* Identities for ACL checks; ids[0] is always ("ip", ip).  Strings are
   * owned (malloc'd). */
  struct tree_identity ids[SRV_MAX_IDENTITIES];
  size_t n_ids;

  /* Figures for cons/stat. */
  uint64_t recv, sent;
  int64_t est_wall_ms;
  int32_t last_op;
  int32_t last_cxid;
  int64_t last_zxid;
  int64_t last_resp_wall_ms;
  uint64_t lat_last_us, lat_min_us, lat_max_us, lat_sum_us, lat_count;
};

/* ------------------------------------------------------------------ */
/* The server. */

struct srv_stats {
  uint64_t packets_received;
  uint64_t packets_sent;
  uint64_t bytes_received;
  uint64_t lat_min_us, lat_max_us, lat_sum_us, lat_count;
  int64_t last_resp_size, min_resp_size, max_resp_size;
  uint64_t auth_failed;
  uint64_t connection_rejected;
  uint64_t sessionless_expired;
};

struct srv {
  struct srv_config cfg;
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_timer_t tick;
  uv_timer_t reap; /* container / TTL reaper */
  uv_check_t flush;
  uv_signal_t sigint, sigterm;
  /* Which handles are initialised and not yet closed (grouped to keep the
   * struct tight). */
  bool loop_ready;
  bool listener_open;
  bool tick_open;
  bool reap_open;
  bool flush_open;
  bool signals_open;
  bool stopping;
  int bound_port;
  int64_t start_wall_ms;
  int64_t trace_mask; /* gtmk/stmk: ZooKeeper's, kept and shown (no tracing) */
  int64_t start_loop_ms;

  struct tree *tree;

  struct srv_conn *conns; /* all connections, until their close_cb */
  size_t n_conns;
  struct srv_conn *dirty;    /* connections with output to flush */
  struct srv_map conn_by_id; /* open connections only (watch delivery) */
  uint64_t next_conn_id;

  struct srv_map sessions;   /* id -> struct srv_session */
  struct srv_session **heap; /* min-heap on expire_ms */
  size_t heap_len, heap_cap;
  int64_t next_session_id;
  uint8_t secret[16]; /* session password key, from /dev/urandom */

  /* Durability (persist.c). */
  struct txlog *log;
  struct txlog_sync *sync_tok;
  int64_t durable_zxid; /* every zxid <= this is on disk */
  uint64_t append_failures;
  uint64_t rng;           /* per-server RNG (snapshot randomisation) */
  uint64_t snap_txns;     /* logged since the last snapshot started */
  uint64_t snap_at;       /* threshold: snapCount/2 + random share */
  int64_t snap_zxid;      /* of the snapshot being written */
  uint64_t snap_start_ns;
  int64_t snap_roll_zxid; /* the log was rolled after this zxid */
  uint64_t snaps_taken, snaps_failed;
  int64_t last_snap_zxid;
  uint64_t last_snap_bytes, last_snap_ms;
  uint64_t fsyncs, fsync_max_us, fsync_sum_us;
  uint64_t sync_start_ns;
  uint64_t recovery_ms;
  int64_t hold_zxid; /* srv_deliver_events holds each event for it */
  struct srv_syncer *syncer; /* the fsync thread (persist.c) */
  uv_timer_t retry;
  uv_timer_t purge;
  uv_signal_t sigchld;
  struct snap_recover_info recovered;
  int snap_pid;      /* forked snapshot child, 0 = none */
  bool sync_running; /* a txlog sync is on the fsync thread */
  bool sync_wanted;  /* logged since the last sync began: srv_flush_all
                        starts one */
  bool log_failed;   /* an fsync failed: writes refused until txlog_retry
                        succeeds (retry timer) */
  bool disk_full;    /* the last append failed with ENOSPC */
  bool retry_open;
  bool sigchld_open;
  bool purge_open;

  /* Scratch reused by the pipeline. */
  struct proto_writer txn;
  struct tree_out tout;

  struct srv_stats stats;

  struct srv_ens *ens;       /* ensemble member (ensemble.c); NULL
                                standalone */
  struct txlog *sync_log;    /* the log the sync in flight belongs to */
  const uint8_t *cur_payload; /* the request being handled (borrowed) */
  size_t cur_len;

  struct srv_dns *dns; /* DNS interface (dnsd.c); NULL when dns.port=0 */
  struct srv_tls *tls; /* secure client port (tlsport.c); NULL when none */
};

/* tlsport.c — the secure client port (secureClientPort): its listener,
 * the TLS context (reloaded when the store files change) and the
 * transport of a TLS connection, which conn.c calls where it reads and
 * writes the socket.  A verified client certificate gives the connection
 * the identity ("x509", subject DN), and ("super", DN) when the DN is
 * zookeeper.X509AuthenticationProvider.superUser.
 * srv_tls_open binds when secureClientPort is set (0, or -1 with errmsg);
 * srv_tls_stop closes its handles; srv_tls_free frees the rest after the
 * loop ran the close callbacks. */
int srv_tls_open(struct srv *s, char errmsg[SRV_ERRMSG_MAX]);
void srv_tls_stop(struct srv *s);
void srv_tls_free(struct srv *s);
/* The bound secure port, or -1. */
int srv_tls_bound_port(const struct srv *s);
/* A connection accepted on `listener`: make it a TLS one when that is the
 * secure listener.  0, or -1 when out of memory (the caller closes c). */
int srv_tls_conn_attach(struct srv_conn *c, uv_stream_t *listener);
/* conn.c's transport hooks for a connection with c->tls set: the read
 * buffer (ciphertext), what was read (decrypted into c->in; returns -1
 * when it closed c), and flushing c->out (encrypted and written). */
void srv_tls_alloc(struct srv_conn *c, uv_buf_t *buf);
int srv_tls_on_read(struct srv_conn *c, const char *data, size_t n);
void srv_tls_flush(struct srv_conn *c);
/* on_close: frees c->tls. */
void srv_tls_conn_free(struct srv_conn *c);
/* sslQuorum: the contexts of both ends of the peer links (srv_new, before
 * srv_ens_open; 0 or -1 with errmsg), and the ensemble's transport: a
 * link's engine (*out NULL when sslQuorum is off; the dialler passes the
 * peer's host, checked against its certificate, the acceptor NULL; -1
 * out of memory), ciphertext in with its plaintext appended to the
 * growable (*buf, *len, *cap) (-1 with *why: the link must go), and the
 * link's frames w sealed into one malloc'd block (*out, *n; NULL when
 * nothing is to be sent; -1 when the link failed). */
int srv_tls_quorum_open(struct srv *s, char errmsg[SRV_ERRMSG_MAX]);
int srv_tls_link_new(struct srv *s, const char *host, struct tls_conn **out);
int srv_tls_link_input(struct tls_conn *tls, const void *data, size_t n,
                       uint8_t **buf, size_t *len, size_t *cap,
                       const char **why);
int srv_tls_link_seal(struct tls_conn *tls, struct proto_writer *w,
                      uint8_t **out, size_t *n);

/* dnsd.c — the DNS interface's sockets (dns.port).  srv_dns_open binds
 * UDP and TCP when dns.port != 0 (0 or -1 with errmsg); srv_dns_stop
 * closes its handles (srv_stop); srv_dns_free frees the rest after the
 * loop ran the close callbacks (free_parts). */
int srv_dns_open(struct srv *s, char errmsg[SRV_ERRMSG_MAX]);
void srv_dns_stop(struct srv *s);
void srv_dns_free(struct srv *s);

/* session.c */
void srv_sessions_init(struct srv *s);
void srv_sessions_free(struct srv *s);
/* Make a fresh id (never 0, never in use). */
int64_t srv_session_next_id(struct srv *s);
/* The password a new session gets: a keyed hash of its id under s->secret.
 * It travels in the createSession txn, so every member stores it. */
void srv_session_new_password(const struct srv *s, int64_t id,
                              uint8_t out[PROTO_PASSWD_LEN]);
/* The password of an existing session: the one its createSession txn
 * recorded in the tree, or (a session from an older log) this member's
 * keyed hash of its id. */
void srv_session_password(const struct srv *s, int64_t id,
                          uint8_t out[PROTO_PASSWD_LEN]);
/* Adds a session to the table and the expiry heap.  Returns NULL on
 * allocation failure. */
struct srv_session *srv_session_add(struct srv *s, int64_t id,
                                    int32_t timeout_ms);
struct srv_session *srv_session_get(const struct srv *s, int64_t id);
/* Refresh the deadline: now + timeout, rounded up to the tick grid. */
void srv_session_touch(struct srv *s, struct srv_session *sess);
/* Forget a session (after its closeSession txn); detaches its conn. */
void srv_session_remove(struct srv *s, struct srv_session *sess);
/* Expire every session whose deadline is <= now (loop time). */
void srv_sessions_expire(struct srv *s, int64_t now_loop_ms);
/* Run a closeSession transaction for sess (expiry or the client's
 * request) and deliver its events; removes the session.  cxid is the
 * request's xid (0 for expiry).  Returns the txn's zxid, or -1 if the
 * transaction could not be applied (logged; the session is still
 * removed). */
int64_t srv_session_close_txn(struct srv *s, struct srv_session *sess,
                              int32_t cxid);

/* conn.c */
void srv_on_connection(uv_stream_t *listener, int status);
/* Close a connection.  flush=true: send what is queued, then close (as
 * ZooKeeper does); flush=false: drop the output, close now.  reason
 * (printf-style) is logged at `level` when not NULL.  Idempotent. */
void srv_conn_close(struct srv_conn *c, bool flush, int level, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));
/* Queue this connection's output for the next flush. */
void srv_conn_mark_dirty(struct srv_conn *c);
/* End of a loop turn's work: start the sync of what this turn logged
 * (srv_sync_kick_pending), then write every dirty connection's output
 * (one write each). */
void srv_flush_all(struct srv *s);
/* Bytes queued and in flight. */
size_t srv_conn_pending_bytes(const struct srv_conn *c);
/* Complete request frames read but not yet processed (only a throttled
 * connection has any). */
size_t srv_conn_queued_frames(const struct srv_conn *c);
/* Everything queued has left: close a closing connection, resume a
 * throttled one (the end of every write, plain or TLS). */
void srv_conn_output_drained(struct srv_conn *c);
/* Close every connection (shutdown). */
void srv_conns_close_all(struct srv *s);
/* Tick work: sessionless timeouts and stuck closing connections. */
void srv_conns_tick(struct srv *s, int64_t now_loop_ms);

/* pipeline.c */
/* Handle one complete frame payload (without its length prefix).  The
 * payload is borrowed for the call. */
void srv_handle_connect(struct srv_conn *c, const uint8_t *payload, size_t len);
void srv_handle_request(struct srv_conn *c, const uint8_t *payload, size_t len,
                        uint64_t start_ns);
/* Deliver the events in s->tout to their watchers' connections with the
 * given notification zxid. */
void srv_deliver_events(struct srv *s, const struct tree_out *out,
                        int64_t zxid);

/* persist.c */
/* Recover the tree from dataDir (snapshot + log), load or create the
 * session secret, open the log.  Sets s->tree.  Returns 0, or -1 with
 * errmsg (a corrupt log names file, offset and the roost-dump command). */
int srv_persist_open(struct srv *s, char errmsg[SRV_ERRMSG_MAX]);
/* After the loop exists: timers, SIGCHLD, sessions restored from the tree
 * (each gets a fresh deadline of its timeout). */
int srv_persist_start(struct srv *s, char errmsg[SRV_ERRMSG_MAX]);
/* srv_stop: close the handles (the final sync happens in srv_persist_free,
 * after the loop has run the pool's callbacks). */
void srv_persist_stop(struct srv *s);
/* srv_free: wait for a snapshot child, final fsync, close the log. */
void srv_persist_free(struct srv *s);
/* Append s->txn (one transaction, zxid = last applied + 1) to the log
 * before it is applied.  Returns PROTO_OK, or PROTO_SYSTEMERROR when the
 * log refused it (disk full, failed fsync earlier, I/O error; logged):
 * the caller must not apply it and answers the client with -1
 * (SystemError). */
int srv_txn_log(struct srv *s);
/* After applying a logged transaction: counts it toward the next
 * snapshot and makes sure a sync will cover it (the next
 * srv_sync_kick_pending, at the end of this loop turn). */
void srv_txn_logged(struct srv *s);
/* Starts the sync of every transaction logged so far unless one is
 * running (its completion starts the next).  Called by srv_flush_all, so
 * that all writes of a loop turn share one fsync.  With forceSync=no it
 * syncs inline and releases the holds it covers. */
void srv_sync_kick_pending(struct srv *s);
/* srv_txn_log, then tree_apply into s->tout, then srv_txn_logged.
 * Returns PROTO_OK, or PROTO_SYSTEMERROR when the log refused the
 * transaction (nothing applied).  A logged transaction that does not
 * apply (out of memory) ends the process: log and tree would disagree. */
int srv_txn_commit(struct srv *s);
/* srv_deliver_events for the events of transaction zxid, each held on
 * its connection until zxid is durable. */
void srv_deliver_events_held(struct srv *s, const struct tree_out *out,
                             int64_t txn_zxid);
/* Writes refused right now (log failed after an fsync error)? */
bool srv_writes_blocked(const struct srv *s);
/* Hold what is queued on c from now on until zxid is durable. */
void srv_conn_hold(struct srv_conn *c, int64_t zxid);
/* Bytes of c->out that may be written now (not held). */
size_t srv_conn_releasable(struct srv_conn *c);
/* Forget c's holds (its output was dropped). */
void srv_conn_holds_clear(struct srv_conn *c);
/* Sizes of dataDir and dataLogDir (dirs, conf). */
uint64_t srv_data_dir_bytes(const struct srv *s);
uint64_t srv_log_dir_bytes(const struct srv *s);
/* Figures for mntr. */
void srv_persist_mntr(struct srv *s, struct proto_writer *w);

/* ensemble.c — see the comment at its top.  All no-ops or "standalone"
 * answers when s->ens is NULL unless said otherwise. */
struct srv_ens;
int srv_ens_open(struct srv *s, char errmsg[SRV_ERRMSG_MAX]);
void srv_ens_stop(struct srv *s);
void srv_ens_free(struct srv *s);
bool srv_ens_serving(const struct srv *s);
/* These need s->ens: they block c until the answer (ensemble.c). */
void srv_ens_write(struct srv_conn *c, int32_t xid, const uint8_t *payload,
                   size_t len);
void srv_ens_close_session(struct srv_conn *c, int32_t xid);
bool srv_ens_create_session(struct srv_conn *c, int64_t id,
                            int32_t timeout_ms);
void srv_ens_sync(struct srv_conn *c, int32_t xid);
/* The leader proposes closeSession; others only push the deadline. */
bool srv_ens_expire(struct srv *s, struct srv_session *sess);
/* The leader queues a deleteContainer of path (copied); others ignore it:
 * in an ensemble the reaper runs on the leader, through zab. */
void srv_ens_reap(struct srv *s, const char *path, size_t len);
void srv_ens_conn_gone(struct srv_conn *c);
/* Hands the peer frames of this loop turn to libuv (srv_flush_all). */
void srv_ens_flush(struct srv *s);
/* Writes one connection may have forwarded and unanswered at once. */
#define SRV_ENS_CONN_WRITES 128u
/* c may take another write now (WRITE wait with room in its ring). */
bool srv_ens_more_writes_ok(const struct srv_conn *c);
/* The oldest unanswered write of c was answered: drop it from the ring.
 * Returns true when none is left (the wait is over). */
bool srv_ens_write_answered(struct srv_conn *c);
void srv_ens_touch(struct srv *s, int64_t session_id);
void srv_ens_tick(struct srv *s);
void srv_ens_durable(struct srv *s, int64_t zxid);
const char *srv_ens_mode(const struct srv *s);
void srv_ens_mntr(const struct srv *s, struct proto_writer *w);
void srv_ens_status(const struct srv *s, uint32_t *epoch, int64_t *zxid);

/* pipeline.c, for ensemble.c: answers that arrive after a commit.  Each
 * ends c's wait and resumes reading its frames. */
void srv_connect_done(struct srv_conn *c, struct srv_session *sess,
                      int64_t zxid);
void srv_reply_write(struct srv_conn *c, const struct tree_txn_header *h,
                     const struct tree_out *out, int64_t zxid);
void srv_reply_error(struct srv_conn *c, int32_t xid, int32_t err);
void srv_reply_sync(struct srv_conn *c);
/* True when payload is a write (op_write's opcodes) whose body decodes:
 * one that can be forwarded behind other unanswered writes, because its
 * answer will come from the leader in order. */
bool srv_request_is_pipelined_write(const struct srv *s, const uint8_t *payload,
                                    size_t len);
/* conn.c: process the frames that waited, read again. */
void srv_conn_resume(struct srv_conn *c);
/* session.c: every deadline starts again from now (a new leader). */
void srv_sessions_touch_all(struct srv *s);
/* persist.c */
void srv_persist_kick(struct srv *s);
int srv_persist_reopen_log(struct srv *s);
void srv_conns_close_all_clients(struct srv *s);

/* fourlw.c */
/* Answer a four-letter word on c (text, no framing) and close after
 * flushing. word is the command's 4-letter name. */
/* arg: the bytes after the word (stmk's 8-byte mask), borrowed. */
void srv_fourlw(struct srv_conn *c, const char *word, const uint8_t *arg,
                size_t arg_len);
/* Bytes a word needs after its four letters before it can run. */
size_t srv_fourlw_arg_len(const char *word);

/* reaper.c: one run of the container/TTL reaper. */
void srv_reap(struct srv *s);

/* Figures shared by srvr/mntr. */
void srv_stats_reset(struct srv *s);

#endif /* ROOST_SERVER_INT_H */
