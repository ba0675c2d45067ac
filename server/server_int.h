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
 * docs/architecture.md draws the chain of files:
 *
 *   conn.c -> dispatch.c -> replica (local.c | ens_*.c) -> commit.c
 *          -> reply.c, order.c, session.c, out.c
 *
 * A request is read and decoded once (conn.c, dispatch.c).  A read is
 * answered at once from the tree.  A write (and createSession,
 * closeSession, the reaper's deleteContainer, an expiry) goes to the
 * replica behind struct srv_replica (replica.h): the local one (a
 * standalone server is an ensemble of one) preps it against the tree plus
 * the writes still in flight, stages it in the log and commits it when its
 * own fsync covers it; the zab one proposes it through the leader and
 * commits it when zab says so.  srv_commit (commit.c) is the only place a
 * transaction is applied: tree, session table, watch events, the answer
 * to the connection that waits for it.  So no session sees a write before
 * it is durable, and a session's requests are answered in the order sent
 * (order.c keeps what each connection waits for).
 */
#ifndef ROOST_SERVER_INT_H
#define ROOST_SERVER_INT_H

#include "proto/proto.h"
#include "server/replica.h"
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
/* Output budget (roost.outputBudgetMB, conn.c): while the unsent replies of
 * all connections exceed it, a connection holding more than this much is
 * not read; lighter ones (a client whose replies leave as fast as they are
 * made) go on. */
#define SRV_OUT_BUDGET_FLOOR (64u << 10)
/* accept(2) out of descriptors: at most one log line per interval. */
#define SRV_ACCEPT_LOG_INTERVAL_MS 10000
/* Descriptors clients may not take: kept for the server's own files (log
 * segments, the directory fsync, snapshots, peers), which would otherwise
 * fail once clients hold every descriptor. */
#define SRV_FD_HEADROOM 32
/* Session expiry: due sessions handed to the replica's expire per loop
 * turn at most (session.c), and the time a turn may spend on them; the
 * rest waits for the next turn. */
#define SRV_EXPIRE_PER_TURN 256
#define SRV_EXPIRE_TURN_NS UINT64_C(2000000)

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
  /* Made by a member in read-only mode: known to it alone, in no tree and
   * no log (ZooKeeper's local session); its connection is read-only. */
  bool read_only;
};

/* What a connection waits for before its next frame that is not a write
 * may be handled (order.c): a session's requests are answered in order. */
enum srv_wait {
  SRV_WAIT_NONE = 0,
  SRV_WAIT_CONNECT, /* createSession committed */
  SRV_WAIT_WRITE,   /* the writes in the ring committed (the first:
                       wait_id); more writes may follow them */
  SRV_WAIT_CLOSE,   /* closeSession committed */
  SRV_WAIT_SYNC,    /* applied up to the leader's commit point */
};

/* Writes one connection may have unanswered at once. */
#define SRV_CONN_WRITES 128u

/* One connection's order (order.c).  Owned by the connection; the ring is
 * allocated at the first write and freed by srv_order_forget. */
struct srv_order {
  enum srv_wait wait;
  int64_t wait_id; /* cxid (WRITE: the oldest), or the session id */
  /* WRITE: the unanswered writes in request order; err != 0 marks one this
   * server answers itself (a refused or undecodable write) when it reaches
   * the head, frame != NULL a read that waits for the writes before it
   * (handled when it reaches the head, between the commits of the writes
   * before and after it). */
  struct srv_order_slot {
    int32_t cxid;
    int32_t err;
    uint64_t start_ns; /* when it was read (latency figures) */
    uint8_t *frame;    /* a waiting read's payload (owned), or NULL */
    size_t frame_len;
  } * ring;
  uint32_t head, n;
  int64_t sync_zxid;   /* SYNC: the leader's commit point, -1 unknown */
  uint64_t sync_round; /* SYNC on a zab leader: the confirm round, or 0 */
  char *path;          /* SYNC: the path to echo (owned) */
  size_t path_len;
  bool ro;                     /* CONNECT: the request's readOnly flag */
  bool ready;                  /* on srv.ready: its wait ended */
  struct srv_conn *ready_next; /* srv.ready */
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
  bool budget_paused;   /* throttled by the server-wide output budget */
  bool drained;         /* bytes left for the peer since the last tick */

  char ip[64]; /* textual peer address */
  int port;
  int64_t accepted_loop_ms;
  int64_t closing_loop_ms;
  size_t acct;    /* bytes of its output counted in srv.ov.out_bytes */
  size_t wq_mark; /* unacknowledged output at the last tick (conn.c) */

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
  bool detect; /* client.portUnification: TLS or not, by the first byte */

  /* What it waits for, its unanswered writes (order.c). */
  struct srv_order order;

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

/* Overload protection: the output budget (counted in out.c, enforced in
 * conn.c), accepting without descriptors (conn.c), and spreading mass
 * expiry over loop turns (session.c). */
/* One listener accepted by hand (conn.c). */
struct srv_acceptor {
  struct srv *s;
  uv_poll_t poll;
  uv_timer_t retry;
  bool poll_open;
  bool retry_open;
  bool secure; /* its connections speak TLS (tlsport.c) */
  int fd;
};

struct srv_overload {
  size_t out_bytes;  /* unsent reply bytes of all connections */
  size_t out_peak;   /* the most out_bytes has been */
  size_t out_budget; /* roost.outputBudgetMB in bytes */
  uint64_t pauses;   /* connections paused (per-connection cap or budget) */
  uint64_t budget_pauses; /* of those, by the budget */
  uint64_t drain_touches; /* session touches of paused connections that
                             drained */
  /* The listeners are polled and accepted by hand (libuv closes
   * connections it cannot accept without telling us): [0] clientPort,
   * [1] secureClientPort; one spare descriptor for both. */
  struct srv_acceptor acc[2];
  int reserve_fd;       /* spare descriptor, -1 when spent */
  uint64_t fd_rejected; /* closed at once for lack of descriptors */
  uint64_t fd_unlogged; /* of those, not yet in a log line */
  int64_t fd_logged_ms; /* loop time of the last such line, -1 never */
  /* Mass expiry. */
  uv_idle_t expire_idle; /* runs while due sessions remain */
  bool expire_idle_open;
  uint64_t expired;                /* due sessions handed to rep->expire */
  uint64_t expire_turns;           /* loop turns that expired at least one */
  size_t expire_max_turn;          /* the most sessions one turn expired */
  uint64_t expire_max_turn_ns;     /* the longest a turn spent expiring */
  uint64_t expire_max_turn_cpu_ns; /* of CPU time (without preemption) */
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
  struct srv_map connecting; /* createSession in flight: session -> conn id */
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
  uint64_t rng;       /* per-server RNG (snapshot randomisation) */
  uint64_t snap_txns; /* logged since the last snapshot started */
  uint64_t snap_at;   /* threshold: snapCount/2 + random share */
  int64_t snap_zxid;  /* of the snapshot being written */
  uint64_t snap_start_ns;
  int64_t snap_roll_zxid; /* the log was rolled after this zxid */
  uint64_t snaps_taken, snaps_failed;
  int64_t last_snap_zxid;
  uint64_t last_snap_bytes, last_snap_ms;
  uint64_t fsyncs, fsync_max_us, fsync_sum_us;
  uint64_t fsyncs_on_loop, last_fsync_us;
  uint64_t sync_start_ns;
  /* The connection that sent the last frame (not a ping), and since when
   * no other did (conn.c): persist.c runs the fsync of a client writing
   * alone on the loop itself. */
  uint64_t lone_conn, lone_since_ns;
  uint64_t recovery_ms;
  struct srv_syncer *syncer; /* the fsync thread (persist.c) */
  uv_timer_t retry;
  uv_timer_t purge;
  uv_signal_t sigchld;
  struct snap_recover_info recovered;
  int snap_pid;       /* forked snapshot child, 0 = none */
  bool sync_running;  /* a txlog sync is begun and not ended */
  bool sync_wanted;   /* logged since the last sync began: srv_flush_all
                         starts one */
  bool sync_deferred; /* begun, fsync not started yet: srv_persist_turn_end
                         runs it on the loop or hands it to the thread */
  bool log_failed;    /* an fsync failed: writes refused until txlog_retry
                         succeeds (retry timer) */
  bool disk_full;     /* the last append failed with ENOSPC */
  bool retry_open;
  bool sigchld_open;
  bool purge_open;

  /* commit.c's scratch: what applying one transaction changed. */
  struct tree_out commit_out;

  /* Connections whose wait ended (order.c): conn.c reads on from them at
   * the end of the loop turn. */
  struct srv_conn *ready;
  /* srv_flush_all, set by srv_new: for a lower file's timer callback,
   * whose output would otherwise wait for the next poll. */
  void (*turn_end)(struct srv *s);
  /* srv_dispatch_now, set by srv_new: commit.c answers a read that waited
   * in a connection's ring when its turn comes. */
  void (*read_now)(struct srv_conn *c, const uint8_t *payload, size_t len,
                   uint64_t start_ns);

  /* The replication seam (replica.h): the local replica or the zab one,
   * chosen at start.  rep_state is the backend's own. */
  const struct srv_replica *rep;
  void *rep_state;
  struct srv_stats stats;

  struct txlog *sync_log; /* the log the sync in flight belongs to */

  struct srv_dns *dns; /* DNS interface (dnsd.c); NULL when dns.port=0 */
  struct srv_tls *tls; /* secure client port (tlsport.c); NULL when none */

  struct srv_admin *admin;     /* admin HTTP server (admin.c); NULL = off */
  struct srv_disc *disc;       /* discovery API (discovery_http.c) */
  struct srv_metrics *metrics; /* histograms (metrics.c), owned */
  struct srv_overload ov;
};

/* tlsport.c — the secure client port (secureClientPort): its listener,
 * the TLS context (reloaded when the store files change) and the
 * transport of a TLS connection, which conn.c calls where it reads the
 * socket (out.c seals the output with tls/ itself).  A verified client
 * certificate gives the connection the identity ("x509", subject DN), and
 * ("super", DN) when the DN is zookeeper.X509AuthenticationProvider.superUser.
 * srv_tls_open binds when secureClientPort is set (0, or -1 with errmsg);
 * srv_tls_stop closes its handles; srv_tls_free frees the rest after the
 * loop ran the close callbacks. */
int srv_tls_open(struct srv *s, char errmsg[SRV_ERRMSG_MAX]);
void srv_tls_stop(struct srv *s);
void srv_tls_free(struct srv *s);
/* The bound secure port, or -1. */
int srv_tls_bound_port(const struct srv *s);
/* The secure client port's listener, bound by srv_tls_open (srv.c starts
 * listening on it); NULL without one. */
uv_tcp_t *srv_tls_listener(struct srv *s);
/* A connection accepted on the secure listener (conn.c's accept path,
 * shared with the plain port): give it its TLS engine.  0, or -1 when out
 * of memory (the caller closes c). */
int srv_tls_conn_attach(struct srv_conn *c);
/* Clients may hold certificate identities (a secure port, or TLS on the
 * client port): ACLs may name the x509 scheme. */
static inline bool srv_tls_x509_acls(const struct srv *s) {
  return s->cfg.secure_client_port >= 0 || s->cfg.client_port_unification;
}
/* Closing a TLS connection or link without flushing: close_notify (or,
 * after a failure, the engine's alert) and whatever else the engine holds
 * straight to the socket, best effort (nothing when a write is queued). */
void srv_tls_send_close(struct tls_conn *tls, uv_stream_t *st);
/* conn.c's transport hooks for a connection with c->tls set: the read
 * buffer (ciphertext), and what was read (decrypted into c->in; returns
 * -1 when it closed c). */
void srv_tls_alloc(struct srv_conn *c, uv_buf_t *buf);
int srv_tls_on_read(struct srv_conn *c, const char *data, size_t n);
/* sslQuorum: the contexts of both ends of the peer links (srv_new, before
 * srv_zab_open; 0 or -1 with errmsg), and the peer links' transport
 * (ens_link.c, ens_frames.c): a
 * link's engine (*out NULL when sslQuorum is off; dial: the dialler,
 * host the peer's server.N host; else the acceptor, host the address the
 * link came from; either is checked against the peer's certificate with
 * ssl.quorum.hostnameVerification; -1 out of memory), ciphertext in with its
 * plaintext appended to the growable (*buf, *len, *cap) (-1 with *why: the link
 * must go), and the link's frames w sealed into one malloc'd block (*out, *n;
 * NULL when nothing is to be sent; -1 when the link failed). */
int srv_tls_quorum_open(struct srv *s, char errmsg[SRV_ERRMSG_MAX]);
int srv_tls_link_new(struct srv *s, bool dial, const char *host,
                     struct tls_conn **out);
int srv_tls_link_input(struct tls_conn *tls, const void *data, size_t n,
                       uint8_t **buf, size_t *len, size_t *cap,
                       const char **why);
int srv_tls_link_seal(struct tls_conn *tls, struct proto_writer *w,
                      uint8_t **out, size_t *n);
/* The admin port's HTTPS context (admin.c), made on first use from the
 * ssl.quorum.* stores and reloaded with the others; owned by s->tls.
 * NULL with errmsg when the stores cannot be loaded. */
struct tls_ctx *srv_tls_admin_ctx(struct srv *s, char errmsg[SRV_ERRMSG_MAX]);

/* dnsd.c — the DNS interface's sockets (dns.port).  srv_dns_open binds
 * UDP and TCP when dns.port != 0 (0 or -1 with errmsg); srv_dns_stop
 * closes its handles (srv_stop); srv_dns_free frees the rest after the
 * loop ran the close callbacks (free_parts). */
int srv_dns_open(struct srv *s, char errmsg[SRV_ERRMSG_MAX]);
void srv_dns_stop(struct srv *s);
void srv_dns_free(struct srv *s);
/* The DNS interface's counters in Prometheus text (nothing when off). */
void srv_dns_metrics(const struct srv *s, struct proto_writer *w);

/* session.c: the session table and the expiry heap.  Nothing here
 * writes a transaction: expiry hands due sessions to the replica. */
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
/* Expire the sessions whose deadline is <= now (loop time): each is
 * handed to the replica's expire (replica.h), at most SRV_EXPIRE_PER_TURN
 * of them per loop turn; the rest go on the following turns. */
void srv_sessions_expire(struct srv *s, int64_t now_loop_ms);
/* The handle that continues a mass expiry (srv_new / srv_stop). */
void srv_sessions_start(struct srv *s);
void srv_sessions_stop(struct srv *s);
/* Every deadline starts again from now (a new leader). */
void srv_sessions_touch_all(struct srv *s);
/* Forget every read-only session (a member leaving read-only mode). */
void srv_sessions_remove_read_only(struct srv *s);

/* out.c: a connection's output and its closing.  Calls nothing above
 * it: a connection that drained after back-pressure goes on srv.ready
 * (order.c) for conn.c to read on from. */
/* Close a connection.  flush=true: send what is queued, then close (as
 * ZooKeeper does); flush=false: drop the output, close now.  reason
 * (printf-style) is logged at `level` when not NULL.  Idempotent. */
void srv_conn_close(struct srv_conn *c, bool flush, int level, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));
/* Queue this connection's output for the next flush. */
void srv_conn_mark_dirty(struct srv_conn *c);
/* Bytes queued and in flight. */
size_t srv_conn_pending_bytes(const struct srv_conn *c);
/* Bring c's share of srv.ov.out_bytes (the output budget) up to date. */
void srv_out_account(struct srv_conn *c);
/* Write every dirty connection's output (one write each). */
void srv_out_flush_dirty(struct srv *s);
/* Stop reading (back-pressure, a wait, closing). */
void srv_conn_stop_reading(struct srv_conn *c);
/* Close the handle now (no flush); on_close frees the connection. */
void srv_conn_close_handle(struct srv_conn *c);
/* Close every connection (shutdown), or every client's (leader change). */
void srv_conns_close_all(struct srv *s);
void srv_conns_close_all_clients(struct srv *s);
/* Tick work: sessionless timeouts and stuck closing connections. */
void srv_conns_tick(struct srv *s, int64_t now_loop_ms);

/* conn.c: accepting, reading, framing. */
/* listen(2) on a bound listener (borrowed; the client port's first, then
 * the secure client port's with secure: its connections get TLS) and
 * accept on the loop, both with the same descriptor headroom and
 * rejected-connection counting.  Returns 0 or a libuv error. */
int srv_listen(struct srv *s, uv_tcp_t *listener, int backlog, bool secure);
/* srv_stop: stop accepting on both (before the listeners close). */
void srv_listen_stop(struct srv *s);
/* Tick work: a paused connection whose peer took bytes since the last
 * tick touches its session (before expiry looks at the deadlines). */
void srv_conns_paused_tick(struct srv *s);
/* The overload lines of mntr (output budget, pauses, accept, expiry). */
void srv_overload_mntr(struct srv *s, struct proto_writer *w);
/* End of a loop turn's work: the replica's peer frames, the sync of what
 * this turn logged, the connections whose wait ended read on, then every
 * dirty connection's output is written. */
void srv_flush_all(struct srv *s);

/* order.c: what a connection waits for, its ring of unanswered writes,
 * and the list of connections whose wait ended.  Pure bookkeeping: calls
 * no other file of server/. */
/* May the next frame, of this kind, be handled now?  A write, or a read
 * (which then waits in the ring, srv_order_push_read), may follow
 * unanswered writes while the ring has room; nothing else may overtake a
 * wait. */
bool srv_order_may_take(const struct srv_conn *c, bool is_write);
/* A read behind c's unanswered writes: its payload is copied into the
 * ring; false when out of memory. */
bool srv_order_push_read(struct srv_conn *c, int32_t xid,
                         const uint8_t *payload, size_t len, uint64_t start_ns);
/* Wait for one answer (CONNECT, CLOSE, SYNC) with this id. */
void srv_order_block(struct srv_conn *c, enum srv_wait what, int64_t id);
/* Records a write of c (err != 0: answered by this server when it reaches
 * the head); false when out of memory. */
bool srv_order_push_write(struct srv_conn *c, int32_t cxid, int32_t err,
                          uint64_t start_ns);
/* Does c wait for the answer to (what, id)?  WRITE: is cxid the oldest
 * unanswered write. */
bool srv_order_waits_for(const struct srv_conn *c, enum srv_wait what,
                         int64_t id);
/* Is cxid one of c's unanswered writes? */
bool srv_order_has_write(const struct srv_conn *c, int32_t cxid);
/* WRITE: the oldest unanswered write (NULL when none). */
const struct srv_order_slot *srv_order_head(const struct srv_conn *c);
/* The awaited answer was sent: drop it (WRITE: the oldest write) and end
 * the wait when nothing is left; the connection goes on srv.ready.
 * Returns the next slot when it is one this server answers itself (an
 * error, or a waiting read: take its frame, answer it, call again), else
 * NULL. */
const struct srv_order_slot *srv_order_answered(struct srv_conn *c);
/* Put c on srv.ready (it may read on); srv_order_ready_pop takes one. */
void srv_order_ready(struct srv_conn *c);
struct srv_conn *srv_order_ready_pop(struct srv *s);
/* Complete request frames read but not yet processed (a throttled or
 * waiting connection has some). */
size_t srv_conn_queued_frames(const struct srv_conn *c);
/* Forget c's order (closing): frees the ring and the sync path. */
void srv_order_forget(struct srv_conn *c);
/* createSession in flight: session id -> conn id, so that the commit
 * finds the connection to answer.  take: the connection still waiting for
 * it, or NULL; the entry is gone either way. */
int srv_connecting_put(struct srv *s, int64_t session, uint64_t conn_id);
struct srv_conn *srv_connecting_take(struct srv *s, int64_t session);

/* reply.c: frames of answers, on the connection's output. */
/* Starts a reply frame: length placeholder + ReplyHeader; returns the
 * mark for srv_reply_end. */
size_t srv_reply_begin(struct srv_conn *c, int32_t xid, int64_t zxid,
                       int32_t err);
/* Patch the header's err (a read that wrote no body). */
void srv_reply_set_err(struct srv_conn *c, size_t mark, int32_t err);
/* Ends the frame, counts it (start_ns != 0: its latency). */
void srv_reply_end(struct srv_conn *c, size_t mark, int64_t zxid,
                   uint64_t start_ns);
void srv_reply_simple(struct srv_conn *c, int32_t xid, int64_t zxid,
                      int32_t err, uint64_t start_ns);
/* The ConnectResponse of an established session. */
void srv_reply_connect(struct srv_conn *c, const struct srv_session *sess,
                       bool has_read_only);
/* Deliver the events in out to their watchers' connections with the
 * given notification zxid. */
void srv_deliver_events(struct srv *s, const struct tree_out *out,
                        int64_t zxid);

/* commit.c: the only place a transaction is applied. */
/* Apply committed txn (zxid, d, len): tree, session table, watch events,
 * and the answer to the connection waiting for it, found by its session
 * and cxid (createSession: by the session id in srv.connecting).  A txn
 * that does not decode or apply ends the process: log and tree would
 * disagree. */
void srv_commit(struct srv *s, int64_t zxid, const uint8_t *d, size_t len);
/* The request (session, cxid) was not committed: answer err in order, or
 * close the connection where an answer now would be out of order.  kind:
 * the wait it was (WRITE, CLOSE, CONNECT). */
void srv_commit_fail(struct srv *s, enum srv_wait kind, int64_t session,
                     int32_t cxid, int32_t err);
/* A write of c answered by this server (refused, undecodable), in order:
 * at once when nothing is ahead of it, else when its turn comes. */
void srv_answer_error(struct srv_conn *c, int32_t xid, int32_t err,
                      uint64_t start_ns);
/* The sync c waits for is answered. */
void srv_commit_sync_done(struct srv_conn *c);
/* The sync c waits for is refused with err (NotReadOnly). */
void srv_commit_sync_refused(struct srv_conn *c, int32_t err);
/* Sessions that no transaction makes or ends: a read-only member's
 * (replica.h, ZooKeeper's local sessions).  open: session id, which a
 * connection waits CONNECT for, is made and that connection answered;
 * false when out of memory (the connection is closed).  end: sess is
 * forgotten; its connection gets the answer to its closeSession when it
 * asked for the end, else is closed (why: logged). */
bool srv_commit_local_open(struct srv *s, int64_t id, int32_t timeout_ms);
void srv_commit_local_end(struct srv *s, struct srv_session *sess,
                          const char *why);

/* dispatch.c: the handshake and the requests of an open session, decoded
 * once; the op table says whether an op is a read, a write or local. */
void srv_handle_connect(struct srv_conn *c, const uint8_t *payload, size_t len);
void srv_handle_request(struct srv_conn *c, const uint8_t *payload, size_t len,
                        uint64_t start_ns);
/* Is this opcode a write (goes to the replica)?  A read (may wait in the
 * ring behind writes)? */
bool srv_op_is_write(int32_t op);
bool srv_op_is_read(int32_t op);
/* Handle a request that waited in the ring, now: it is at the head. */
void srv_dispatch_now(struct srv_conn *c, const uint8_t *payload, size_t len,
                      uint64_t start_ns);
/* Adds (scheme, id) to the connection's identities (copies; freed with the
 * connection) unless it has it already (auth, TLS certificates); false
 * when out of memory or at SRV_MAX_IDENTITIES. */
bool srv_conn_add_identity(struct srv_conn *c, const char *scheme,
                           const char *id);

/* persist.c: the log, its fsync thread, snapshots, recovery. */
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
/* Stage one transaction in the log (written and synced with the rest of
 * the loop turn's).  Returns PROTO_OK, or PROTO_SYSTEMERROR when the log
 * refused it (disk full, failed fsync earlier, I/O error; logged). */
int srv_log_stage(struct srv *s, const uint8_t *d, size_t len);
/* A transaction was applied: counts it toward the next snapshot. */
void srv_txn_applied(struct srv *s);
/* Starts the sync of every transaction staged so far unless one is
 * running (its completion starts the next).  Called by srv_flush_all, so
 * that all writes of a loop turn share one fsync; the replica's durable
 * (replica.h) hears the result. */
void srv_sync_kick_pending(struct srv *s);
/* The last thing of a loop turn (srv_flush_all), once the turn's output
 * is handed out: a sync that srv_sync_kick_pending began for a client
 * writing alone runs here on the loop (no hand-off to the fsync thread
 * and back) if nothing else is waiting for the loop; else it goes to the
 * thread.  true: it ran here, so commits may have made output and ready
 * connections (the caller goes round once more). */
bool srv_persist_turn_end(struct srv *s);
/* Writes refused right now (log failed after an fsync error)? */
bool srv_writes_blocked(const struct srv *s);
/* Sizes of dataDir and dataLogDir (dirs, conf). */
uint64_t srv_data_dir_bytes(const struct srv *s);
uint64_t srv_log_dir_bytes(const struct srv *s);
/* Figures for mntr. */
void srv_persist_mntr(struct srv *s, struct proto_writer *w);
/* Ensemble resync: a new empty log (the old one was closed). */
int srv_persist_reopen_log(struct srv *s);
/* Start a sync now (the ensemble's appends, not waiting for the turn's
 * end). */
void srv_persist_kick(struct srv *s);

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

/* ------------------------------------------------------------------ */
/* metrics.c — Roost's histograms for Prometheus, counted on the loop
 * thread where the figure arises: an array increment, no lock, no
 * allocation.  Bucket i counts values <= 2^i (i < SRV_HIST_BUCKETS);
 * the last slot counts the rest. */

#define SRV_HIST_BUCKETS 26
#define SRV_METRIC_OPS 43 /* -11..22, 100..107, other */

struct srv_hist {
  uint64_t b[SRV_HIST_BUCKETS + 1];
  uint64_t count, sum;
};

static inline void srv_hist_add(struct srv_hist *h, uint64_t v) {
  unsigned i = v <= 1 ? 0u : 64u - (unsigned)__builtin_clzll(v - 1);
  h->b[i < SRV_HIST_BUCKETS ? i : SRV_HIST_BUCKETS]++;
  h->count++;
  h->sum += v;
}

static inline unsigned srv_metric_op_index(int32_t op) {
  if (op >= -11 && op <= 22)
    return (unsigned)(op + 11);
  if (op >= 100 && op <= 107)
    return (unsigned)(34 + op - 100);
  return SRV_METRIC_OPS - 1;
}

struct srv_metrics {
  struct srv_hist request_us[SRV_METRIC_OPS]; /* per opcode, to the reply */
  struct srv_hist fsync_us;                   /* each txlog sync */
  struct srv_hist fsync_txns;                 /* transactions per sync */
  struct srv_hist snapshot_ms;                /* snapshot child's run */
  struct srv_hist snapshot_bytes;
  struct srv_hist commit_us; /* ensemble leader: propose -> commit */
  /* ZooKeeper's election_time (ms, looking -> leading or following): its
   * summary's count and sum, and mntr's min and max. */
  struct srv_hist election_ms;
  uint64_t election_min_ms, election_max_ms;
};

struct http_server;
/* The Prometheus text exposition (format 0.0.4) of s: every numeric mntr
 * figure under ZooKeeper's name (without "zk_"), ZooKeeper's summaries
 * fsynctime and snapshottime, and Roost's histograms, and the counters of
 * the HTTP server h that serves them (NULL: none).  Appends to w. */
void srv_metrics_text(struct srv *s, struct http_server *h,
                      struct proto_writer *w);

/* ------------------------------------------------------------------ */
/* admin.c — the admin HTTP server (http/): AdminServer commands under
 * admin.commandURL, /metrics, the console (console.c); and /metrics on
 * metricsProvider.httpPort.  srv_admin_open never fails the server: a
 * port it cannot bind is a warning (as in ZooKeeper).  srv_admin_stop
 * closes its handles (srv_stop), srv_admin_free frees it (free_parts). */
struct srv_admin;
int srv_admin_open(struct srv *s, char errmsg[SRV_ERRMSG_MAX]);
void srv_admin_stop(struct srv *s);
void srv_admin_free(struct srv *s);
/* Bound port of the admin (metrics=false) or metrics listener, 0 = none. */
int srv_admin_port(const struct srv *s, bool metrics);
/* console.c: the names of path's children as owned strings (sorted if
 * asked), read with auth's rights; NULL (count 0) when unreadable.  Free
 * with srv_names_free.  The console and the discovery API both list. */
char **srv_children_names(struct srv *s, const char *path,
                          const struct tree_auth *auth, bool sorted,
                          int32_t *count);
void srv_names_free(char **v, int32_t n);
/* console.c: parent + "/" + name into out; false when it does not fit. */
bool srv_path_join(char *out, size_t cap, const char *parent, const char *name);
/* console.c: the rights of an unauthenticated HTTP client, by the peer's
 * address (scheme "ip"); id is filled in and borrowed by the result, the
 * address by r. */
struct http_req;
struct tree_auth srv_http_peer_auth(struct http_req *r,
                                    struct tree_identity *id);

/* console.c — the web console's routes (assets compiled in) on h. */
void srv_console_routes(struct srv *s, struct http_server *h);

/* discovery_http.c — the HTTP discovery API (/v1/services) on h, with
 * blocking queries woken by the tree: its watcher id holds persistent
 * recursive watches on the services roots, and srv_deliver_events hands
 * it that watcher's events (srv_discovery_event).  srv_discovery_free
 * after the admin server closed (its waiters were aborted then). */
#define SRV_DISC_WATCHER UINT64_MAX /* connection ids count up from 1 */
struct srv_disc;
struct tree_event;
void srv_discovery_routes(struct srv *s, struct http_server *h);
void srv_discovery_event(struct srv *s, const struct tree_event *ev);
void srv_discovery_free(struct srv *s);

/* fourlw.c: the text of a four-letter word into w (no whitelist check,
 * no connection): the admin commands and /metrics read the same figures. */
void srv_fourlw_text(struct srv *s, const char *word, struct proto_writer *w);

#endif /* ROOST_SERVER_INT_H */
