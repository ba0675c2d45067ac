/* client_int.h — libroost internals shared by the client/ sources and the unit
 * tests.
 *
 * Layering inside the library:
 *
 *   connstr.c   connect-string parser (pure)
 *   core.c      the session state machine: framing, handshake, xid
 *               matching, watch table, setWatches, pings, expiry.  No
 *               sockets, no clock, no threads: it is fed bytes and the
 *               current time and produces bytes to send (core->out) and an
 *               ordered queue of deliveries (callbacks) that the caller
 *               drains with rc_core_drain().  The unit tests drive it
 *               directly.
 *   client.c    the libuv adapter: own thread or the application's loop,
 *               the submission queue (mutex + uv_async), TCP connections,
 *               server rotation, backoff, the tick timer, close.
 *   ops.c       the public operations: argument checks, encoding, blocking
 *               forms; the multi builder; results.
 *   service.c   service discovery; recipes.c election and lock.
 */
#ifndef ROOST_CLIENT_INT_H
#define ROOST_CLIENT_INT_H

#include <stdint.h>
#include <uv.h>

#include "client/roost.h"
#include "proto/proto.h"

/* ------------------------------------------------------------------ */
/* Connect string */

struct rc_host {
  char *host; /* hostname or address literal (no brackets); owned */
  uint16_t port;
};

struct rc_connstr {
  struct rc_host *hosts; /* owned */
  size_t n_hosts;
  char *chroot; /* NULL or e.g. "/app"; owned */
};

/* Parses "host[:port][,host[:port]...][/chroot]" (port defaults to 2181;
 * "[v6addr]:port" for IPv6).  Returns ROOST_OK (free *out with
 * rc_connstr_free), ROOST_ECONNSTR, ROOST_ENOMEM. */
int rc_connstr_parse(const char *s, struct rc_connstr *out);
void rc_connstr_free(struct rc_connstr *cs);

/* ------------------------------------------------------------------ */
/* Requests */

enum rc_req_kind {
  RC_REQ_OP = 0,      /* a wire request (frame set) */
  RC_REQ_AUTH,        /* add_auth: scheme/cred set */
  RC_REQ_CALL,        /* run fn(client, fn_arg) on the loop thread */
  RC_REQ_CLOSE,       /* close the client */
  RC_REQ_NEW_SESSION, /* start a new session after expiry */
};

enum rc_watch_kind {
  RC_W_DATA = 0,
  RC_W_EXIST = 1,
  RC_W_CHILD = 2,
  RC_W_PERSIST = 3,   /* addWatch PERSISTENT: stays after it fires */
  RC_W_RECURSIVE = 4, /* addWatch PERSISTENT_RECURSIVE: the whole subtree */
  RC_W_NKINDS = 5,
};

struct rc_waiter; /* client.c: a blocking caller waiting for a result */

struct rc_req {
  struct rc_req *next;
  int kind;       /* enum rc_req_kind */
  int32_t op;     /* wire opcode (RC_REQ_OP) */
  int rop;        /* enum roost_op of the result */
  int32_t xid;    /* assigned when written */
  uint8_t *frame; /* owned: the whole frame; xid patched at send */
  size_t frame_len;
  uint64_t submit_ms; /* when it entered the core (unsent timeout) */
  roost_result_cb cb;
  void *arg;
  struct rc_waiter *waiter; /* blocking form: result goes there */
  /* Watch to register when the reply arrives. */
  roost_watch_cb watcher;
  void *watcher_arg;
  char *watch_path; /* server path (chroot included); owned */
  /* RC_REQ_AUTH */
  char *scheme;
  uint8_t *cred;
  size_t cred_len;
  int *multi_ops; /* multi: enum roost_op of each sub-op; owned */
  /* addWatch mode; removeWatches / checkWatches: roost_watcher_type,
   * all watchers (watcher == NULL) or the one (watcher, watcher_arg), and
   * whether to stay local. */
  int32_t wmode;
  int wtype;
  bool wlocal;
  int32_t n_multi_ops;
  /* RC_REQ_CALL */
  void (*fn)(roost_client *c, void *arg);
  void *fn_arg;
};

struct rc_req *rc_req_new(int kind);
void rc_req_free(struct rc_req *r);

/* ------------------------------------------------------------------ */
/* Watch table: (kind, server path) -> list of (watcher, arg). */

struct rc_watcher {
  struct rc_watcher *next;
  roost_watch_cb cb;
  void *arg;
};

struct rc_wentry {
  struct rc_wentry *next; /* bucket chain */
  int kind;
  char *path;
  struct rc_watcher *watchers;
};

struct rc_wtable {
  struct rc_wentry **buckets;
  size_t n_buckets;
  size_t n_entries;
  size_t n_kind[RC_W_NKINDS]; /* entries per kind */
};

/* ------------------------------------------------------------------ */
/* Deliveries: the one ordered queue of callbacks. */

enum rc_dlv_kind { RC_DLV_REPLY, RC_DLV_WATCH, RC_DLV_SESSION };

struct rc_dlv {
  struct rc_dlv *next;
  int kind;
  struct rc_req *req; /* REPLY: owned */
  roost_result *res;  /* REPLY: owned */
  roost_watch_cb wcb; /* WATCH */
  void *warg;
  int type;   /* WATCH: event type; SESSION: event */
  char *path; /* WATCH: client path; owned */
};

/* ------------------------------------------------------------------ */
/* The session core. */

enum rc_core_state {
  RC_ST_DISCONNECTED = 0, /* no connection (connecting) */
  RC_ST_HANDSHAKE,        /* ConnectRequest written, awaiting response */
  RC_ST_CONNECTED,
  RC_ST_EXPIRED,
  RC_ST_CLOSED,
  RC_ST_AUTH_FAILED, /* terminal unless cfg.auth_failed_reconnect */
};

struct rc_auth {
  struct rc_auth *next;
  char *scheme;
  uint8_t *cred;
  size_t cred_len;
  struct rc_req *pending; /* add_auth call awaiting this auth's reply */
  int inflight;           /* packets sent and not yet answered */
};

struct rc_authq { /* FIFO of auth packets on the wire */
  struct rc_authq *next;
  struct rc_auth *auth;
};

struct rc_core_config {
  const char *chroot; /* copied; NULL for none */
  int32_t timeout_ms; /* requested session timeout */
  bool read_only;
  bool auth_failed_reconnect;
  size_t max_frame;
  roost_client *client; /* passed to callbacks (may be NULL in tests) */
  /* Session events go here (the client mirrors its state, runs helper
   * hooks, then the application's callback). */
  void (*on_session)(void *owner, int event);
  void *owner;
  /* After every completion (the client counts outstanding requests). */
  void (*on_done)(void *owner);
  /* Blocking callers: hands over the result (ownership transferred). */
  void (*on_waiter)(struct rc_waiter *w, roost_result *res);
};

struct rc_core {
  struct rc_core_config cfg;
  char *chroot;
  size_t chroot_len;
  int state;
  bool announced; /* CONNECTED was delivered; DISCONNECTED owed on loss */
  bool ro;
  bool seen_rw;     /* a read-write server accepted this session once */
  int64_t sent_sid; /* the session id of the last ConnectRequest */
  int64_t session_id;
  uint8_t passwd[PROTO_PASSWD_LEN];
  int32_t timeout_ms; /* negotiated; the request's until the first one */
  int64_t last_zxid;
  int32_t next_xid;
  bool close_sent;
  bool shut_down; /* CLOSED was queued */
  /* Requests: waiting for a connection; written, awaiting reply. */
  struct rc_req *unsent_h, *unsent_t;
  struct rc_req *sent_h, *sent_t;
  size_t n_sent;
  struct rc_auth *auths; /* remembered identities, in order */
  struct rc_authq *authq_h, *authq_t;
  struct rc_wtable wt;
  /* I/O */
  struct proto_writer out; /* bytes to write (the adapter takes them) */
  uint8_t *in;
  size_t in_len, in_cap;
  uint64_t now_ms, last_send_ms, last_recv_ms, conn_start_ms;
  /* Deliveries */
  struct rc_dlv *dq_h, *dq_t;
  char errmsg[256]; /* why the last connection was dropped by the core */
};

int rc_core_init(struct rc_core *k, const struct rc_core_config *cfg);
/* Frees everything without running callbacks (call rc_core_shutdown and
 * rc_core_drain first). */
void rc_core_free(struct rc_core *k);

/* A transport connection is up: writes the ConnectRequest. */
void rc_core_connected(struct rc_core *k, uint64_t now_ms);
/* Bytes arrived.  Returns ROOST_OK, or ROOST_EPROTO / ROOST_ENOMEM /
 * ROOST_AUTHFAILED: the adapter must drop the connection (and then call
 * rc_core_disconnected).  After it, check k->state: EXPIRED or CLOSED
 * means drop the connection and do not reconnect. */
int rc_core_input(struct rc_core *k, const void *data, size_t len,
                  uint64_t now_ms);
/* The connection is gone (for whatever reason). */
void rc_core_disconnected(struct rc_core *k, uint64_t now_ms);

enum { RC_TICK_OK = 0, RC_TICK_DROP = 1 };
/* Time passed: writes a ping when idle, fails unsent requests older than
 * the session timeout while disconnected.  RC_TICK_DROP: nothing was
 * received for 2/3 of the timeout (or the handshake took that long): drop
 * the connection. */
int rc_core_tick(struct rc_core *k, uint64_t now_ms);

/* Takes ownership of req (RC_REQ_OP or RC_REQ_AUTH). */
void rc_core_submit(struct rc_core *k, struct rc_req *req, uint64_t now_ms);
/* Queues a closeSession (only when connected; returns false otherwise). */
bool rc_core_close_session(struct rc_core *k, uint64_t now_ms);
/* After expiry: forget the session so the next connect makes a new one. */
void rc_core_new_session(struct rc_core *k);
/* Fails every request with err, every watcher with NOT_WATCHING, state
 * CLOSED, and queues ROOST_SESSION_CLOSED. */
void rc_core_shutdown(struct rc_core *k, int err);
/* Runs the queued deliveries in order. */
void rc_core_drain(struct rc_core *k);

/* Helpers for ops.c: "/a" -> chroot + "/a" (malloc'd), and back. */
char *rc_core_server_path(const struct rc_core *k, const char *path);
/* Returns a malloc'd client path, or NULL (ENOMEM, or not under chroot). */
char *rc_core_client_path(const struct rc_core *k, const char *p, size_t n);

/* ------------------------------------------------------------------ */
/* client.c internals used by ops.c and the helpers. */

/* Hands a request to the loop.  Takes ownership of req in every case
 * (frees it on error).  Returns ROOST_OK, ROOST_ECLOSED, ROOST_EBUSY. */
int rc_client_submit(roost_client *c, struct rc_req *req);
/* True when called on the client's loop thread. */
bool rc_client_on_loop(roost_client *c);
/* Runs fn(c, arg) on the loop thread (asynchronously; fn runs once unless
 * the client is already closed: returns ROOST_ECLOSED then). */
int rc_client_call(roost_client *c, void (*fn)(roost_client *, void *),
                   void *arg);
/* Blocking: runs fn on the loop and waits for it to return. */
int rc_client_call_wait(roost_client *c, void (*fn)(roost_client *, void *),
                        void *arg);
struct rc_core *rc_client_core(roost_client *c); /* loop thread only */

/* Helper objects (service registrations, watches, elections, locks) hook
 * into session events and the client's close.  Loop thread only. */
struct rc_hook {
  struct rc_hook *next, *prev;
  void (*on_session)(struct rc_hook *h, int event);
  void (*on_close)(struct rc_hook *h); /* client closing: release */
};
void rc_client_hook_add(roost_client *c, struct rc_hook *h);
void rc_client_hook_remove(roost_client *c, struct rc_hook *h);

/* rebalance.c: ZooKeeper's client rebalancing after a server-list change
 * (StaticHostProvider.updateServerList).  old[n_old]: the list before;
 * cur: the server connected to, or else the last one tried (NULL: none);
 * hosts[n]: the new list, shuffled in place with *rng.  Returns false when
 * the client stays where it is (*keep: cur's index in hosts, SIZE_MAX when
 * not there) and true when it must move: hosts[] is then the order in
 * which to try the servers (*keep SIZE_MAX).  Hosts are equal when their
 * strings and ports are (no name resolution). */
bool rc_rebalance(const struct rc_host *old, size_t n_old,
                  const struct rc_host *cur, struct rc_host *hosts, size_t n,
                  uint64_t *rng, size_t *keep);

/* rebalance.c: options.follow_config.  Embedded in the client; loop
 * thread only (rc_follow_start before the loop runs). */
struct rc_follow {
  struct rc_hook hook; /* first: the hook is the follower */
  roost_client *c;
  bool armed;       /* a read (and so the watch) was issued this session */
  bool has_version; /* version: the last configuration version seen */
  uint64_t version;
};
void rc_follow_start(struct rc_follow *f, roost_client *c);

/* client.c, loop thread: the server list becomes the client addresses of
 * z, rebalanced as roost_update_server_list does.  ROOST_OK,
 * ROOST_ECONNSTR (no client address), ROOST_ENOMEM. */
int rc_client_apply_config(roost_client *c, const struct proto_zkconfig *z);

/* Blocking waiter */
struct rc_waiter *rc_waiter_new(void);
void rc_waiter_free(struct rc_waiter *w);
/* Waits for the result; returns it (ownership to the caller). */
roost_result *rc_waiter_wait(struct rc_waiter *w);
void rc_waiter_deliver(struct rc_waiter *w, roost_result *res);

/* A simple seeded RNG (xorshift64*), state kept by its owner. */
static inline uint64_t rc_rand(uint64_t *s) {
  uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* ------------------------------------------------------------------ */
/* An ephemeral sequential node kept alive across sessions (service.c):
 * the base of service registration, election and lock.  Loop thread only,
 * except `mu`-guarded path.  The node name is <prefix><token>-<seq>: the
 * random token lets a create whose reply was lost (CONNECTIONLOSS) be
 * found again instead of leaving an orphan. */
struct rc_eph {
  struct rc_hook hook;
  roost_client *c;
  char *dir;    /* client path of the parent directory */
  char *prefix; /* "<prefix><token>-" */
  char *token;  /* points into prefix */
  uint8_t *data;
  int32_t data_len;
  uv_mutex_t mu;
  char *path; /* current node or NULL (guarded by mu for other threads) */
  int64_t session;
  bool want;      /* the node should exist */
  bool creating;  /* a create chain is running */
  bool uncertain; /* the last create's outcome is unknown */
  bool connected;
  bool detached; /* owner gone: no more callbacks */
  int refs;      /* owner + operations in flight + armed watches */
  int parent_step;
  void *owner;
  /* Owner hooks (may be NULL), never called after detach. */
  void (*on_created)(struct rc_eph *e, int err);
  void (*on_lost)(struct rc_eph *e); /* the node is gone */
  void (*on_session)(struct rc_eph *e, int event);
  void (*destroy)(struct rc_eph *e); /* last reference dropped */
};

int rc_eph_init(struct rc_eph *e, roost_client *c, const char *dir,
                const char *prefix, const void *data, int32_t data_len,
                uint64_t *rng);
void rc_eph_start(struct rc_eph *e);  /* want = true, create if none */
void rc_eph_remove(struct rc_eph *e); /* want = false, delete node */
void rc_eph_detach(struct rc_eph *e); /* owner lets go (drops its ref) */
void rc_eph_ref(struct rc_eph *e);
void rc_eph_unref(struct rc_eph *e);
void rc_eph_free_fields(struct rc_eph *e);
/* Sequence number of a child name (its last 10 characters). */
int64_t rc_seq_of(const char *name);

/* Instance payload parser (instance.c): fills the parsed fields and the
 * weight of *inst from data[0..len) (data need not be NUL-terminated).
 * Never fails on bad input (parsed = false then); returns ROOST_ENOMEM
 * only.  Frees whatever parsed fields *inst held before. */
int rc_instance_parse(roost_instance *inst, const char *data, size_t len);
/* Frees the parsed fields only. */
void rc_instance_clear_parsed(roost_instance *inst);
/* Deep copy of the parsed fields and the weight (d's are overwritten,
 * not freed). */
int rc_instance_copy_parsed(roost_instance *d, const roost_instance *s);

/* TLS settings (tlsopt.c): the tls/ options that *o asks for.  *on is
 * false when o asks for no TLS.  ROOST_OK, or ROOST_EINVAL with errbuf
 * (a field too long, a malformed tls_certs). */
struct tls_options;
int rc_tls_options(const roost_options *o, struct tls_options *out, bool *on,
                   char *errbuf, size_t errbuf_len);

/* Result helpers (ops.c). */
roost_result *rc_result_new(int op, int err);
char *rc_strndup(const char *s, size_t n);

#endif /* ROOST_CLIENT_INT_H */
