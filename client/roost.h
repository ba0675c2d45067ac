/* roost.h — libroost, the C client library for Roost and Apache ZooKeeper.
 *
 * One opaque client (roost_client) holds one ZooKeeper session.  It is made
 * from a connect string "host:port[,host:port...][/chroot]" and an options
 * struct, connects in the background, reconnects across the listed servers
 * within the session timeout keeping the session, re-arms its watches after a
 * reconnect, and reports Disconnected / Connected / Expired to a session
 * callback.  On top of it: service discovery (roost_service_*), leader
 * election (roost_election_*) and a lock (roost_lock_*).
 *
 * ------------------------------------------------------------------------
 * Threads and loops
 *
 *   Mode (a), the default (options.loop == NULL): the client runs its own
 *   I/O thread with its own libuv loop.  Every callback of the client
 *   (completions, watchers, session events, helper callbacks) runs on that
 *   thread.
 *
 *   Mode (b) (options.loop = an application uv_loop_t): the client starts no
 *   thread; it puts its handles on that loop and every callback runs on the
 *   loop's thread while the application runs the loop.  roost_client_new()
 *   must then be called on the loop's thread (libuv handles are initialised
 *   there), and the client must be closed with roost_client_close_async()
 *   (or roost_client_close() from another thread) before the loop is closed.
 *
 *   In both modes every other function may be called from any thread: a
 *   request is encoded in the calling thread, handed to the loop through a
 *   mutex-protected queue and a uv_async_t, and processed there.  So calls
 *   made from the loop thread itself also take that hop; nothing in the
 *   client is touched from two threads at once.
 *
 *   Blocking functions (those without the _async suffix) wait on a condition
 *   variable for the loop to answer.  Called on the client's loop thread —
 *   from inside any callback of the client, or in mode (b) from the loop's
 *   thread — they would wait forever, so they return ROOST_EDEADLK at once.
 *
 * Ordering
 *
 *   Completion callbacks of one client run in the order the requests were
 *   issued (one ordered delivery queue), except roost_add_auth_async, whose
 *   reply the server sends ahead of earlier requests.  A watch event is
 *   delivered before the completion of any request issued after the change
 *   that fired it (the server's order is kept).  Session events are
 *   delivered in the same queue.
 *
 * Memory
 *
 *   Strings and buffers passed in are *copied* before the call returns,
 *   unless a comment says otherwise.  Data handed to a callback is
 *   *borrowed* for the duration of the callback only.  Results returned by
 *   the blocking calls are owned by the caller: free with
 *   roost_result_free().  Objects made by *_new() are freed by the matching
 *   *_free() / *_close() call named next to them.
 *
 * Errors
 *
 *   Every function returning int returns ROOST_OK (0) or a negative
 *   roost_err.  ZooKeeper's codes keep their wire values; the library's own
 *   codes are below -1000.  An asynchronous call that returns an error never
 *   fires its callback; one that returns ROOST_OK fires it exactly once.
 */
#ifndef ROOST_H
#define ROOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(ROOST_BUILDING) && defined(__GNUC__)
#define ROOST_API __attribute__((visibility("default")))
#else
#define ROOST_API
#endif

/* libuv's loop type, forward-declared so that including roost.h does not
 * require <uv.h>.  Pass a uv_loop_t * (uv_loop_t is struct uv_loop_s). */
struct uv_loop_s;

/* ====================================================================== */
/* Errors                                                                 */

/* ZooKeeper's codes (the same values as on the wire). X(name, value, msg) */
#define ROOST_ZK_ERR_MAP(X)                                                    \
  X(OK, 0, "ok")                                                               \
  X(SYSTEMERROR, -1, "system error")                                           \
  X(RUNTIMEINCONSISTENCY, -2, "runtime inconsistency")                         \
  X(DATAINCONSISTENCY, -3, "data inconsistency")                               \
  X(CONNECTIONLOSS, -4, "connection loss")                                     \
  X(MARSHALLINGERROR, -5, "marshalling error")                                 \
  X(UNIMPLEMENTED, -6, "unimplemented")                                        \
  X(OPERATIONTIMEOUT, -7, "operation timeout")                                 \
  X(BADARGUMENTS, -8, "bad arguments")                                         \
  X(INVALIDSTATE, -9, "invalid state")                                         \
  X(UNKNOWNSESSION, -12, "unknown session")                                    \
  X(NEWCONFIGNOQUORUM, -13, "new config has no quorum")                        \
  X(RECONFIGINPROGRESS, -14, "reconfig in progress")                           \
  X(APIERROR, -100, "api error")                                               \
  X(NONODE, -101, "no node")                                                   \
  X(NOAUTH, -102, "not authenticated")                                         \
  X(BADVERSION, -103, "bad version")                                           \
  X(NOCHILDRENFOREPHEMERALS, -108, "no children for ephemerals")               \
  X(NODEEXISTS, -110, "node exists")                                           \
  X(NOTEMPTY, -111, "directory not empty")                                     \
  X(SESSIONEXPIRED, -112, "session expired")                                   \
  X(INVALIDCALLBACK, -113, "invalid callback")                                 \
  X(INVALIDACL, -114, "invalid acl")                                           \
  X(AUTHFAILED, -115, "authentication failed")                                 \
  X(CLOSING, -116, "zookeeper is closing")                                     \
  X(NOTHING, -117, "(not error) no server responses to process")               \
  X(SESSIONMOVED, -118, "session moved to another server")                     \
  X(NOTREADONLY, -119, "state-changing request sent to read-only server")      \
  X(EPHEMERALONLOCALSESSION, -120, "ephemeral node on local session")          \
  X(NOWATCHER, -121, "no watcher")                                             \
  X(REQUESTTIMEOUT, -122, "request timeout")                                   \
  X(RECONFIGDISABLED, -123, "reconfig disabled")                               \
  X(SESSIONCLOSEDREQUIRESASLAUTH, -124, "session closed, sasl auth required")  \
  X(QUOTAEXCEEDED, -125, "quota exceeded")                                     \
  X(THROTTLEDOP, -127, "operation throttled")

/* The library's own codes: never on the wire, outside ZooKeeper's range. */
#define ROOST_LIB_ERR_MAP(X)                                                   \
  X(ECLOSED, -1001, "client is closed or closing")                             \
  X(ETIMEDOUT, -1002, "timed out")                                             \
  X(ENOMEM, -1003, "out of memory")                                            \
  X(EINVAL, -1004, "invalid argument")                                         \
  X(EDEADLK, -1005, "blocking call on the client's own loop thread")           \
  X(EBUSY, -1006, "too many outstanding requests")                             \
  X(ECONNSTR, -1007, "malformed connect string")                               \
  X(ESYS, -1008, "system or libuv error")                                      \
  X(EPROTO, -1009, "malformed frame from the server")                          \
  X(ESTATE, -1010, "not allowed in the current state")                         \
  X(ETLS, -1011, "TLS set-up failed (certificate, key or trust store)")

#define ROOST_ERR_MAP(X) ROOST_ZK_ERR_MAP(X) ROOST_LIB_ERR_MAP(X)

typedef enum roost_err {
#define ROOST_ERR_ENUM_(name, value, msg) ROOST_##name = (value),
  ROOST_ERR_MAP(ROOST_ERR_ENUM_)
#undef ROOST_ERR_ENUM_
} roost_err;

/* Message for a code ("unknown error" otherwise).  Static string. */
ROOST_API const char *roost_strerror(int err);
/* Symbolic name without prefix ("NONODE", "ECLOSED"), or "UNKNOWN". */
ROOST_API const char *roost_err_name(int err);

/* ====================================================================== */
/* Session states, events, watches                                        */

/* Session events (values follow ZooKeeper's KeeperState). */
enum roost_session_event {
  ROOST_SESSION_DISCONNECTED = 0, /* connection lost; reconnecting */
  ROOST_SESSION_CONNECTED = 3,    /* (re)connected, session valid */
  ROOST_SESSION_AUTH_FAILED = 4,  /* the server refused an auth packet */
  ROOST_SESSION_CONNECTED_READ_ONLY = 5,
  ROOST_SESSION_CLOSED = 7,     /* roost_client_close finished its work */
  ROOST_SESSION_EXPIRED = -112, /* the session is gone for good */
};

/* Client states (roost_client_state). */
enum roost_state {
  ROOST_STATE_CONNECTING = 1, /* no connection yet / reconnecting */
  ROOST_STATE_CONNECTED = 3,
  /* Terminal (unless options.auth_failed_reconnect): the server refused
   * an identity; every request fails with ROOST_AUTHFAILED from then on. */
  ROOST_STATE_AUTH_FAILED = 4,
  ROOST_STATE_READ_ONLY = 5,
  ROOST_STATE_CLOSED = 7,
  ROOST_STATE_EXPIRED = -112, /* see roost_client_new_session */
};

/* Watch event types (ZooKeeper's EventType values), plus NOT_WATCHING:
 * the watch will never fire because the session expired or the client is
 * closing (so that a watcher's argument can always be released). */
enum roost_event_type {
  ROOST_EVENT_CREATED = 1,
  ROOST_EVENT_DELETED = 2,
  ROOST_EVENT_DATA_CHANGED = 3,
  ROOST_EVENT_CHILDREN_CHANGED = 4,
  /* The watcher's last call after roost_remove_watches took it away. */
  ROOST_EVENT_DATA_WATCH_REMOVED = 5,
  ROOST_EVENT_CHILD_WATCH_REMOVED = 6,
  ROOST_EVENT_PERSISTENT_WATCH_REMOVED = 7,
  ROOST_EVENT_NOT_WATCHING = -2,
};

typedef struct roost_client roost_client;

/* Session callback: event is a roost_session_event.  Runs on the client's
 * loop thread. */
typedef void (*roost_session_cb)(roost_client *c, int event, void *arg);

/* Watcher: one-shot, called exactly once if the request that set it
 * succeeded (for roost_exists also when it answered NONODE), never
 * otherwise.  path is relative to the chroot, borrowed for the call.
 * A persistent watcher (roost_add_watch) is called for every event and
 * finally once with ROOST_EVENT_PERSISTENT_WATCH_REMOVED or
 * ROOST_EVENT_NOT_WATCHING.  A watcher removed by roost_remove_watches
 * gets its *_WATCH_REMOVED call instead of the event. */
typedef void (*roost_watch_cb)(roost_client *c, int type, const char *path,
                               void *arg);

/* ====================================================================== */
/* Results                                                                */

typedef struct roost_stat {
  int64_t czxid;
  int64_t mzxid;
  int64_t ctime;
  int64_t mtime;
  int32_t version;
  int32_t cversion;
  int32_t aversion;
  int64_t ephemeral_owner;
  int32_t data_length;
  int32_t num_children;
  int64_t pzxid;
} roost_stat;

typedef struct roost_acl {
  int32_t perms;      /* ROOST_PERM_* bits */
  const char *scheme; /* "world", "digest", "ip", "auth" */
  const char *id;     /* "anyone", "user:base64hash", ... */
} roost_acl;

enum roost_perm {
  ROOST_PERM_READ = 1,
  ROOST_PERM_WRITE = 2,
  ROOST_PERM_CREATE = 4,
  ROOST_PERM_DELETE = 8,
  ROOST_PERM_ADMIN = 16,
  ROOST_PERM_ALL = 31,
};

/* Which operation a result answers. */
enum roost_op {
  ROOST_OP_CREATE = 1,
  ROOST_OP_DELETE = 2,
  ROOST_OP_EXISTS = 3,
  ROOST_OP_GET = 4,
  ROOST_OP_SET = 5,
  ROOST_OP_GET_ACL = 6,
  ROOST_OP_SET_ACL = 7,
  ROOST_OP_GET_CHILDREN = 12,
  ROOST_OP_SYNC = 9,
  ROOST_OP_CHECK = 13,
  ROOST_OP_MULTI = 14,
  ROOST_OP_CHECK_WATCHES = 17,
  ROOST_OP_REMOVE_WATCHES = 18,
  ROOST_OP_MULTI_READ = 22,
  ROOST_OP_GET_EPHEMERALS = 103,
  ROOST_OP_GET_ALL_CHILDREN_NUMBER = 104,
  ROOST_OP_ADD_WATCH = 106,
  ROOST_OP_WHOAMI = 107,
  ROOST_OP_RECONFIG = 16,
  ROOST_OP_AUTH = 100,
  ROOST_OP_CLOSE = -11,
};

/* One result.  Which fields are filled depends on op (all others are
 * zero / NULL):
 *   CREATE        path (the created path, chroot stripped; with the
 *                 sequence suffix), stat
 *   DELETE, CHECK, AUTH, CLOSE   nothing
 *   EXISTS        stat (err NONODE if the node is missing)
 *   GET           data, data_len (-1: the node's data is null), stat
 *   SET, SET_ACL  stat
 *   GET_CHILDREN  children (names, not paths; unordered), stat
 *   GET_ACL       acl, n_acl, stat
 *   SYNC          path
 *   MULTI         ops[n_ops]: one result per sub-op, in order; ops[i].err
 *                 is that sub-op's code (RUNTIMEINCONSISTENCY for ops after
 *                 the one that failed); err is the first failing code.
 *   MULTI_READ    ops[n_ops]: GET (data, data_len, stat) or GET_CHILDREN
 *                 (children, no stat) results, each with its own err; err
 *                 is OK (the reads are independent).
 *   GET_EPHEMERALS  children: the session's ephemeral node *paths*
 *   GET_ALL_CHILDREN_NUMBER  count: number of all descendants
 *   WHOAMI        acl[n_acl]: one (scheme, id) per identity, perms 0
 *   ADD_WATCH, REMOVE_WATCHES, CHECK_WATCHES   nothing
 * data is always followed by a NUL byte (not counted in data_len) so text
 * can be printed directly.  Every pointer inside is owned by the result. */
typedef struct roost_result {
  int err;      /* ROOST_OK or the error of this operation */
  int op;       /* enum roost_op */
  int64_t zxid; /* the reply header's zxid (0 for local errors) */
  char *path;
  char *data;
  int32_t data_len;
  bool has_stat;
  roost_stat stat;
  char **children;
  int32_t n_children;
  roost_acl *acl;
  int32_t n_acl;
  struct roost_result *ops;
  int32_t n_ops;
  int64_t count; /* GET_ALL_CHILDREN_NUMBER */
} roost_result;

/* Frees a result returned by a blocking call (NULL is fine).  Never call it
 * on the borrowed result handed to a callback. */
ROOST_API void roost_result_free(roost_result *r);

/* Completion callback.  res is borrowed for the call (never NULL); res->err
 * says whether the operation succeeded.  ROOST_CONNECTIONLOSS means the
 * connection broke after the request was sent (it may or may not have been
 * applied) or no connection came within the session timeout;
 * ROOST_SESSIONEXPIRED and ROOST_ECLOSED mean it was never sent. */
typedef void (*roost_result_cb)(roost_client *c, const roost_result *res,
                                void *arg);

/* ====================================================================== */
/* Client                                                                 */

typedef struct roost_auth {
  const char *scheme;      /* e.g. "digest"; copied */
  const void *credentials; /* e.g. "user:password"; copied */
  size_t credentials_len;
} roost_auth;

typedef struct roost_options {
  int32_t session_timeout_ms;  /* requested; the server clamps it. 10000 */
  roost_session_cb session_cb; /* may be NULL */
  void *session_arg;
  const roost_auth *auth; /* sent (in order) on every connect; copied */
  size_t n_auth;
  /* Accept read-only servers (canBeReadOnly in the ConnectRequest):
   * ROOST_SESSION_CONNECTED_READ_ONLY / ROOST_STATE_READ_ONLY while on
   * one (writes fail with ROOST_NOTREADONLY), the other hosts are asked
   * "isro" (rw_probe_ms below) and the client moves to one that answers
   * "rw".  A session made by a read-only server is not offered to a
   * read-write one (it gets a new session), as in ZooKeeper's client. */
  bool read_only;
  struct uv_loop_s *loop; /* NULL: own I/O thread (mode a); else mode b */
  /* After ROOST_SESSION_EXPIRED, start a new session at once instead of
   * waiting for roost_client_new_session().  Off by default: an expired
   * session usually means the application must rebuild its state. */
  bool renew_session_on_expiry;
  uint64_t seed;           /* server shuffle / backoff RNG; 0: from clock */
  int32_t max_pending;     /* outstanding requests bound. 0: 65536 */
  int32_t max_frame_bytes; /* largest server frame accepted. 0: 16 MiB */
  /* Off (the default, as the official C client and kazoo): an identity
   * the server refuses moves the client to the terminal
   * ROOST_STATE_AUTH_FAILED (event ROOST_SESSION_AUTH_FAILED, then no
   * reconnect; requests fail with ROOST_AUTHFAILED; watchers get
   * NOT_WATCHING).  On: the event is still delivered, the identity is
   * dropped and the client reconnects without it (an interactive shell
   * wants this: a typo in addauth should not end the session). */
  bool auth_failed_reconnect;
  bool tls;                          /* TLS: see tls_ca below */
  bool tls_no_hostname_verification; /* TLS: see tls_ca below */
  /* read_only mode: while on a read-only server, look for a read-write
   * one ("isro") every this many ms, doubling up to 60 s. 0: 500. */
  int32_t rw_probe_ms;
  /* TLS to secure client ports (secureClientPort; README.md "TLS").
   * tls_ca: the trust store (PEM or PKCS12 file; NULL: the system's CAs);
   * tls_cert: the client certificate (PEM, with tls_key its key in a PEM
   * file of its own; or a PEM or PKCS12 key store holding both, tls_key
   * NULL); tls_key_password: for an encrypted key or a PKCS12 store.
   * The server's certificate must match the connect string's host (name
   * or address) unless tls_no_hostname_verification.  tls_certs: the
   * official C client's zookeeper_init_ssl form "ca,cert,key[,password]"
   * instead of the four fields.  Any of them set turns TLS on.  Files
   * are read by roost_client_new (ROOST_ETLS when they cannot be used:
   * roost_tls_check says why); strings are copied.  (The two flags,
   * tls and tls_no_hostname_verification, sit with the other bools.) */
  const char *tls_ca;
  const char *tls_cert;
  const char *tls_key;
  const char *tls_key_password;
  const char *tls_certs;
  /* Follow the ensemble's membership (enum roost_follow_config): read
   * /zookeeper/config (ignoring the chroot) with a watch on every new
   * session, and when its version changes replace the server list with
   * the client addresses of its server.N lines, moving the session with
   * the probabilities of roost_update_server_list.  The version read
   * first is the baseline (the connect string stays until a change).
   * (Curator's EnsembleTracker does the same; ZooKeeper's own clients
   * leave it to the application.)
   * Default (AUTO): on when the connect string names more than one server
   * (a single address is often a load balancer or a tunnel, whose clients
   * cannot reach the members' own addresses).  Servers without a dynamic
   * configuration (no node, empty data) leave the list alone. */
  int follow_config;
} roost_options;

enum roost_follow_config {
  ROOST_FOLLOW_CONFIG_AUTO = 0, /* on with two or more servers */
  ROOST_FOLLOW_CONFIG_ON = 1,
  ROOST_FOLLOW_CONFIG_OFF = -1,
};

/* Loads the TLS files of *o as roost_client_new would.  Returns ROOST_OK
 * (also when o asks for no TLS), or ROOST_ETLS / ROOST_EINVAL with the
 * reason in errbuf (NUL-terminated, cut to errbuf_len). */
ROOST_API int roost_tls_check(const roost_options *o, char *errbuf,
                              size_t errbuf_len);

/* Fills *o with the defaults above (all zero / NULL, timeout 10000). */
ROOST_API void roost_options_init(roost_options *o);

/* Creates a client and starts connecting in the background.
 * connect_string: "host:port[,host:port...][/chroot]"; copied.  Hosts are
 *   IPv4 literals, hostnames, or [IPv6] in brackets; the chroot is a valid
 *   absolute path other than "/".
 * opts: copied (NULL: defaults).
 * *out: the client, free with roost_client_close() / _close_async().
 * Returns ROOST_OK, ROOST_ECONNSTR, ROOST_EINVAL, ROOST_ENOMEM, ROOST_ESYS. */
ROOST_API int roost_client_new(const char *connect_string,
                               const roost_options *opts, roost_client **out);

/* Closes the session (closeSession, waiting for its reply up to 2 s),
 * fails every outstanding request with ROOST_ECLOSED, fires every watcher
 * with ROOST_EVENT_NOT_WATCHING, delivers ROOST_SESSION_CLOSED, releases
 * the helpers still attached (service registrations, watches, elections,
 * locks — their handles become invalid) and frees the client.  Blocking:
 * in mode (a) it joins the I/O thread.  Returns ROOST_OK or ROOST_EDEADLK
 * (called on the loop thread; nothing was done). */
ROOST_API int roost_client_close(roost_client *c);

typedef void (*roost_close_cb)(void *arg);
/* Mode (b) only: the same as roost_client_close without blocking; cb (may
 * be NULL) runs on the loop thread once the client's memory is freed.
 * Returns ROOST_OK or ROOST_EINVAL (mode a: use roost_client_close). */
ROOST_API int roost_client_close_async(roost_client *c, roost_close_cb cb,
                                       void *arg);

/* Waits until the client is connected (ROOST_OK; read-only counts),
 * expired (ROOST_SESSIONEXPIRED), in the terminal AUTH_FAILED state
 * (ROOST_AUTHFAILED), or timeout_ms passed (ROOST_ETIMEDOUT; < 0 waits
 * forever).  Also ROOST_EDEADLK, ROOST_ECLOSED. */
ROOST_API int roost_client_wait_connected(roost_client *c, int32_t timeout_ms);

/* After ROOST_SESSION_EXPIRED: start a new session (new id, no watches).
 * Returns ROOST_OK, ROOST_ESTATE (not expired), ROOST_ECLOSED. */
ROOST_API int roost_client_new_session(roost_client *c);

/* Snapshot of the state (enum roost_state), session id (0 if none), the
 * negotiated timeout (0 before the first connect).  Any thread. */
ROOST_API int roost_client_state(roost_client *c);

/* ZooKeeper's updateServerList: hosts ("host:port,...", no chroot: the
 * client's stays) replaces the server list, e.g. from /zookeeper/config
 * after a reconfiguration.  The session is kept, and clients rebalance
 * with the probabilities of ZooKeeper's client (StaticHostProvider,
 * ZOOKEEPER-1355) so that each server ends with about the same share:
 * when the list grows from n to m servers, a client whose server stays
 * moves to one of the added servers with probability 1 - n/m; a client
 * whose server is gone always moves (to an added server when the list
 * grew, else to a kept or added one with the odds that even the load);
 * otherwise it stays.  Moving drops the connection (requests in flight
 * get ROOST_CONNECTIONLOSS) and reconnects at once, session and
 * ephemeral nodes intact.  Servers are compared by their written address
 * and port ("localhost" is not "127.0.0.1").  The application does not
 * need to call this when options.follow_config is on.  Not from a
 * callback (ROOST_EDEADLK).  ROOST_OK, ROOST_ECONNSTR, ROOST_ENOMEM. */
ROOST_API int roost_update_server_list(roost_client *c, const char *hosts);
/* The same from a configuration's text (the data of /zookeeper/config or
 * of roost_reconfig's result): the client address of each server.N line.
 * ROOST_ECONNSTR when it does not parse or names no client address. */
ROOST_API int roost_update_server_list_from_config(roost_client *c,
                                                   const char *config,
                                                   size_t len);
ROOST_API int64_t roost_client_session_id(roost_client *c);
ROOST_API int32_t roost_client_session_timeout(roost_client *c);
/* Why the last TLS handshake failed ("certificate verify failed: hostname
 * mismatch"), into buf (NUL-terminated, cut to len); returns its length,
 * 0 when no handshake failed.  Any thread. */
ROOST_API size_t roost_client_tls_error(roost_client *c, char *buf, size_t len);

/* ====================================================================== */
/* Operations.  Paths are relative to the chroot and copied.  Each has a
 * blocking form (returns res->err; *out, if out is not NULL, receives the
 * result to free with roost_result_free when the return is ROOST_OK — and
 * for roost_multi_commit also when a sub-op failed — else NULL) and an
 * _async form (returns ROOST_OK and later calls cb once, or returns an
 * error and never calls it; cb may be NULL).  Local errors of both forms:
 * ROOST_BADARGUMENTS (invalid path), ROOST_EINVAL, ROOST_ECLOSED,
 * ROOST_EBUSY, ROOST_ENOMEM; blocking forms also ROOST_EDEADLK. */

/* Create mode bits. */
enum roost_create_flags {
  ROOST_PERSISTENT = 0,
  ROOST_EPHEMERAL = 1,
  ROOST_SEQUENTIAL = 2,
  ROOST_CONTAINER = 4, /* alone */
  ROOST_TTL = 8,       /* persistent only, ttl_ms > 0; server must enable */
};

typedef struct roost_create_opts {
  int flags;            /* roost_create_flags */
  int64_t ttl_ms;       /* with ROOST_TTL */
  const roost_acl *acl; /* NULL: world:anyone ALL; copied */
  int32_t n_acl;
} roost_create_opts;

/* data may be NULL with data_len 0 (empty) or -1 (null data). */
ROOST_API int roost_create(roost_client *c, const char *path, const void *data,
                           int32_t data_len, const roost_create_opts *opts,
                           roost_result **out);
ROOST_API int roost_create_async(roost_client *c, const char *path,
                                 const void *data, int32_t data_len,
                                 const roost_create_opts *opts,
                                 roost_result_cb cb, void *arg);

/* version -1 matches any version. */
ROOST_API int roost_delete(roost_client *c, const char *path, int32_t version);
ROOST_API int roost_delete_async(roost_client *c, const char *path,
                                 int32_t version, roost_result_cb cb,
                                 void *arg);

/* watcher (may be NULL) is set when the node exists (fires on
 * DATA_CHANGED / DELETED) and also when it does not (fires on CREATED). */
ROOST_API int roost_exists(roost_client *c, const char *path,
                           roost_watch_cb watcher, void *watcher_arg,
                           roost_result **out);
ROOST_API int roost_exists_async(roost_client *c, const char *path,
                                 roost_watch_cb watcher, void *watcher_arg,
                                 roost_result_cb cb, void *arg);

ROOST_API int roost_get(roost_client *c, const char *path,
                        roost_watch_cb watcher, void *watcher_arg,
                        roost_result **out);
ROOST_API int roost_get_async(roost_client *c, const char *path,
                              roost_watch_cb watcher, void *watcher_arg,
                              roost_result_cb cb, void *arg);

ROOST_API int roost_set(roost_client *c, const char *path, const void *data,
                        int32_t data_len, int32_t version, roost_result **out);
ROOST_API int roost_set_async(roost_client *c, const char *path,
                              const void *data, int32_t data_len,
                              int32_t version, roost_result_cb cb, void *arg);

/* Children names plus the parent's stat; watcher fires on
 * CHILDREN_CHANGED or DELETED. */
ROOST_API int roost_get_children(roost_client *c, const char *path,
                                 roost_watch_cb watcher, void *watcher_arg,
                                 roost_result **out);
ROOST_API int roost_get_children_async(roost_client *c, const char *path,
                                       roost_watch_cb watcher,
                                       void *watcher_arg, roost_result_cb cb,
                                       void *arg);

ROOST_API int roost_get_acl(roost_client *c, const char *path,
                            roost_result **out);
ROOST_API int roost_get_acl_async(roost_client *c, const char *path,
                                  roost_result_cb cb, void *arg);

/* acl: n_acl >= 1 entries, copied.  version: expected aversion or -1. */
ROOST_API int roost_set_acl(roost_client *c, const char *path,
                            const roost_acl *acl, int32_t n_acl,
                            int32_t version, roost_result **out);
ROOST_API int roost_set_acl_async(roost_client *c, const char *path,
                                  const roost_acl *acl, int32_t n_acl,
                                  int32_t version, roost_result_cb cb,
                                  void *arg);

/* Brings the connected server up to the leader's commit point. */
ROOST_API int roost_sync(roost_client *c, const char *path);
ROOST_API int roost_sync_async(roost_client *c, const char *path,
                               roost_result_cb cb, void *arg);

/* Adds an identity to this connection and remembers it so that it is sent
 * again after every reconnect.  AUTHFAILED: the server refused it (and
 * dropped the connection; the client reconnects without it). */
ROOST_API int roost_add_auth(roost_client *c, const char *scheme,
                             const void *credentials, size_t credentials_len);
ROOST_API int roost_add_auth_async(roost_client *c, const char *scheme,
                                   const void *credentials,
                                   size_t credentials_len, roost_result_cb cb,
                                   void *arg);

/* ---------------------------------------------------------------------- */
/* ZooKeeper 3.6+ operations. */

enum roost_watch_mode {
  ROOST_WATCH_PERSISTENT = 0,           /* the node: every event, kept */
  ROOST_WATCH_PERSISTENT_RECURSIVE = 1, /* the node and every descendant:
                                           CREATED, DELETED, DATA_CHANGED
                                           with the path that changed */
};

/* addWatch: a persistent watch that stays armed after it fires; it never
 * fails on a missing node.  It is re-armed after a reconnect (setWatches2)
 * and a move to another server; changes made while the client had no
 * connection produce no events (ZooKeeper's rule): re-read after a
 * ROOST_SESSION_CONNECTED if you keep a cache.  Events on one client come
 * in the server's order.  Servers older than 3.6 answer UNIMPLEMENTED. */
ROOST_API int roost_add_watch(roost_client *c, const char *path, int mode,
                              roost_watch_cb watcher, void *watcher_arg);
ROOST_API int roost_add_watch_async(roost_client *c, const char *path, int mode,
                                    roost_watch_cb watcher, void *watcher_arg,
                                    roost_result_cb cb, void *arg);

/* ZooKeeper's WatcherType. */
enum roost_watcher_type {
  ROOST_WATCHER_CHILDREN = 1,
  ROOST_WATCHER_DATA = 2, /* data and exists watches */
  ROOST_WATCHER_ANY = 3,
  ROOST_WATCHER_PERSISTENT = 4,
  ROOST_WATCHER_PERSISTENT_RECURSIVE = 5,
};

/* removeWatches: removes the watchers of `type` on path — all of them
 * (watcher NULL) or those registered as (watcher, watcher_arg).  Each gets
 * its final *_WATCH_REMOVED call before the completion.  ROOST_NOWATCHER:
 * none matched (decided locally, or the event fired first: then the
 * watcher got the event).  The server's watch is removed only when no
 * other watcher of this client still needs it; local = true never asks
 * the server (works while disconnected). */
ROOST_API int roost_remove_watches(roost_client *c, const char *path, int type,
                                   roost_watch_cb watcher, void *watcher_arg,
                                   bool local);
ROOST_API int roost_remove_watches_async(roost_client *c, const char *path,
                                         int type, roost_watch_cb watcher,
                                         void *watcher_arg, bool local,
                                         roost_result_cb cb, void *arg);
/* checkWatches: OK if such a watcher is set (and, unless local, the server
 * still has the watch), else ROOST_NOWATCHER.  Removes nothing. */
ROOST_API int roost_check_watches(roost_client *c, const char *path, int type,
                                  roost_watch_cb watcher, void *watcher_arg,
                                  bool local);
ROOST_API int roost_check_watches_async(roost_client *c, const char *path,
                                        int type, roost_watch_cb watcher,
                                        void *watcher_arg, bool local,
                                        roost_result_cb cb, void *arg);

/* getEphemerals: this session's ephemeral nodes whose path starts with
 * prefix (a plain string prefix; "/" for all).  Result: children = paths. */
ROOST_API int roost_get_ephemerals(roost_client *c, const char *prefix,
                                   roost_result **out);
ROOST_API int roost_get_ephemerals_async(roost_client *c, const char *prefix,
                                         roost_result_cb cb, void *arg);

/* getAllChildrenNumber: result count = number of descendants. */
ROOST_API int roost_get_all_children_number(roost_client *c, const char *path,
                                            roost_result **out);
ROOST_API int roost_get_all_children_number_async(roost_client *c,
                                                  const char *path,
                                                  roost_result_cb cb,
                                                  void *arg);

/* whoAmI: the identities of this connection (result acl, perms 0). */
ROOST_API int roost_whoami(roost_client *c, roost_result **out);
ROOST_API int roost_whoami_async(roost_client *c, roost_result_cb cb,
                                 void *arg);

/* reconfig (ZooKeeper 3.5+ dynamic reconfiguration; the server needs
 * reconfigEnabled=true and the caller the super user or WRITE on
 * /zookeeper/config).  Incremental: joining ("server.N=host:port:port
 * [:role];[host:]port", comma-separated) and/or leaving (ids, comma-
 * separated); or non-incremental: new_members (the whole list).  NULL
 * for an absent part.  from_config: the configuration version the change
 * applies to (BADVERSION otherwise), -1 for any.  The result (op
 * ROOST_OP_RECONFIG) has data = the new configuration's text and stat =
 * /zookeeper/config's.  Errors as ZooKeeper's: RECONFIGDISABLED, NOAUTH,
 * BADVERSION, NEWCONFIGNOQUORUM, RECONFIGINPROGRESS, BADARGUMENTS. */
ROOST_API int roost_reconfig(roost_client *c, const char *joining,
                             const char *leaving, const char *new_members,
                             int64_t from_config, roost_result **out);
ROOST_API int roost_reconfig_async(roost_client *c, const char *joining,
                                   const char *leaving, const char *new_members,
                                   int64_t from_config, roost_result_cb cb,
                                   void *arg);

/* getConfig: the data of /zookeeper/config (the ensemble's configuration
 * as ZooKeeper writes it: server.N lines and version=<hex>) and its stat,
 * read outside the chroot as ZooKeeper's clients do; the watcher (may be
 * NULL) fires with DATA_CHANGED when a reconfiguration commits.  Result
 * op ROOST_OP_GET. */
ROOST_API int roost_get_config(roost_client *c, roost_watch_cb watcher,
                               void *watcher_arg, roost_result **out);
ROOST_API int roost_get_config_async(roost_client *c, roost_watch_cb watcher,
                                     void *watcher_arg, roost_result_cb cb,
                                     void *arg);

/* ---------------------------------------------------------------------- */
/* Multi: a small builder, committed atomically. */

typedef struct roost_multi roost_multi;

/* Returns NULL on out of memory.  Free with roost_multi_free. */
ROOST_API roost_multi *roost_multi_new(void);
ROOST_API void roost_multi_free(roost_multi *m);
/* Each add copies its arguments; returns ROOST_OK, ROOST_EINVAL,
 * ROOST_ENOMEM. */
ROOST_API int roost_multi_add_create(roost_multi *m, const char *path,
                                     const void *data, int32_t data_len,
                                     const roost_create_opts *opts);
ROOST_API int roost_multi_add_delete(roost_multi *m, const char *path,
                                     int32_t version);
ROOST_API int roost_multi_add_set(roost_multi *m, const char *path,
                                  const void *data, int32_t data_len,
                                  int32_t version);
ROOST_API int roost_multi_add_check(roost_multi *m, const char *path,
                                    int32_t version);
/* Reads for roost_multi_read (a builder holds writes or reads, not both:
 * the other call answers ROOST_EINVAL). */
ROOST_API int roost_multi_add_get(roost_multi *m, const char *path);
ROOST_API int roost_multi_add_get_children(roost_multi *m, const char *path);
/* m is borrowed for the call only (it may be freed or reused after). */
ROOST_API int roost_multi_commit(roost_client *c, const roost_multi *m,
                                 roost_result **out);
ROOST_API int roost_multi_commit_async(roost_client *c, const roost_multi *m,
                                       roost_result_cb cb, void *arg);
/* multiRead: each read on its own (no atomicity, no watches); *out on
 * ROOST_OK holds one sub-result per read. */
ROOST_API int roost_multi_read(roost_client *c, const roost_multi *m,
                               roost_result **out);
ROOST_API int roost_multi_read_async(roost_client *c, const roost_multi *m,
                                     roost_result_cb cb, void *arg);

/* ====================================================================== */
/* Service discovery.
 *
 * Layout: /services/<name>/i-<sequence>, an ephemeral sequential node per
 * instance holding the application's JSON payload, e.g.
 * {"host":"10.0.0.7","port":8080,"weight":2}.  name: one path component
 * (no '/').  All handles below belong to their client: free them before
 * closing it, or let roost_client_close release them. */

typedef struct roost_service_reg roost_service_reg;

/* Called on the loop thread each time the instance node is (re)created
 * (err ROOST_OK, path = the node, borrowed) or a creation failed (err). */
typedef void (*roost_service_reg_cb)(roost_service_reg *reg, int err,
                                     const char *path, void *arg);

/* Registers an instance: creates /services and /services/<name> as needed,
 * then the ephemeral sequential instance node with json (copied).  It is
 * re-created after a new session (after expiry, see
 * roost_options.renew_session_on_expiry) and if someone deletes it.
 * Returns ROOST_OK (*out set, cb may be NULL), ROOST_EINVAL, ROOST_ENOMEM,
 * ROOST_ECLOSED. */
ROOST_API int roost_service_register(roost_client *c, const char *name,
                                     const char *json, roost_service_reg_cb cb,
                                     void *arg, roost_service_reg **out);
/* Copies the current node path (relative to the chroot) into buf; returns
 * ROOST_OK, ROOST_ESTATE (not registered right now), ROOST_EINVAL (buf too
 * small). */
ROOST_API int roost_service_reg_path(roost_service_reg *reg, char *buf,
                                     size_t buf_size);
/* Deletes the node (best effort, blocking up to the delete's reply) and
 * frees reg.  ROOST_EDEADLK on the loop thread (then nothing is done). */
ROOST_API int roost_service_unregister(roost_service_reg *reg);

typedef struct roost_service_watch roost_service_watch;

/* Called on the loop thread after the cached list changed or its staleness
 * changed.  Read the list with roost_service_instances / _pick. */
typedef void (*roost_service_watch_cb)(roost_service_watch *w, void *arg);

/* Watches /services/<name> (which may not exist yet): keeps a cached list
 * of instances with their data.  It uses one persistent recursive watch
 * on the directory (so a changed payload — a new health status — is seen
 * too) and falls back to re-armed child watches on servers that answer
 * addWatch with UNIMPLEMENTED (before 3.6; there payload changes are seen
 * on the next membership change or reconnect).  The cache
 * survives a loss of the servers: while disconnected it is served as is
 * and flagged stale.  Returns ROOST_OK (*out set), ROOST_EINVAL,
 * ROOST_ENOMEM, ROOST_ECLOSED. */
ROOST_API int roost_service_watch_new(roost_client *c, const char *name,
                                      roost_service_watch_cb cb, void *arg,
                                      roost_service_watch **out);
/* Frees w (blocking until the loop has let go of it); ROOST_EDEADLK on the
 * loop thread. */
ROOST_API int roost_service_watch_free(roost_service_watch *w);

/* Health of an instance (its payload's "status"; absent: passing). */
enum roost_health {
  ROOST_HEALTH_PASSING = 0,
  ROOST_HEALTH_WARNING = 1,
  ROOST_HEALTH_CRITICAL = 2,
};

/* One instance.  The payload is parsed (with jansson) when it is read:
 *   roost-agent / Consul-like JSON: "name", "id", "address" and/or "host",
 *     "port", "tags" [strings], "weight", "weights" {"passing","warning"},
 *     "status", "meta", "checks";
 *   Curator ServiceDiscovery JSON: "name", "id", "address", "port",
 *     "sslPort" (passing);
 *   plain "host:port" or "[v6]:port" text (passing).
 * Anything else (malformed JSON included) leaves the parsed fields empty,
 * status passing, weight 1 and parsed = false.  Every pointer is owned by
 * the instance (roost_instance_clear / roost_instances_free). */
typedef struct roost_instance {
  char *name; /* child name, e.g. "i-0000000007" */
  char *data; /* payload, NUL-terminated */
  int32_t data_len;
  /* Weight for ROOST_PICK_WEIGHTED: "weights".passing / .warning for a
   * passing / warning instance when "weights" is there, else "weight";
   * 1 if absent or invalid, 0 for a critical instance. */
  double weight;
  /* --- parsed from data --- */
  bool parsed;      /* data was understood (JSON object or host:port) */
  int status;       /* enum roost_health */
  char *service;    /* "name", or NULL */
  char *id;         /* "id", or NULL */
  char *address;    /* "address", else "host", else NULL */
  int32_t port;     /* "port"; 0 if absent */
  int32_t ssl_port; /* Curator "sslPort"; 0 if absent */
  char **tags;      /* "tags" strings */
  size_t n_tags;
} roost_instance;

/* Copies the cached list (sorted by name), critical instances left out,
 * into *out (free with roost_instances_free(*out, *n)); *stale tells
 * whether the client is disconnected from the servers (or the list was
 * never loaded).  Any thread.  Returns ROOST_OK or ROOST_ENOMEM. */
ROOST_API int roost_service_instances(roost_service_watch *w,
                                      roost_instance **out, size_t *n,
                                      bool *stale);
/* Flag for roost_service_list and roost_service_pick's policy. */
#define ROOST_INCLUDE_CRITICAL 0x100
/* The same with flags: ROOST_INCLUDE_CRITICAL lists every instance. */
ROOST_API int roost_service_list(roost_service_watch *w, int flags,
                                 roost_instance **out, size_t *n, bool *stale);
ROOST_API void roost_instances_free(roost_instance *v, size_t n);

enum roost_pick_policy {
  ROOST_PICK_ROUND_ROBIN = 0,
  ROOST_PICK_RANDOM = 1,
  ROOST_PICK_WEIGHTED = 2, /* probability proportional to "weight" (> 0) */
};
/* Picks one cached instance that is not critical (policy may be OR-ed
 * with ROOST_INCLUDE_CRITICAL to consider every instance) and copies it
 * into *out (free its fields with roost_instance_clear).  Returns
 * ROOST_OK, ROOST_NONODE (no instance), ROOST_EINVAL, ROOST_ENOMEM.  Any
 * thread. */
ROOST_API int roost_service_pick(roost_service_watch *w, int policy,
                                 roost_instance *out);
ROOST_API void roost_instance_clear(roost_instance *inst);
/* Parses a payload someone read themselves (a shell, a tool) into the
 * parsed fields and weight of *out, which must be zeroed or cleared
 * before; name and data are left NULL.  data need not be NUL-terminated.
 * Bad input is not an error (out->parsed = false).  ROOST_OK or
 * ROOST_ENOMEM.  Free with roost_instance_clear. */
ROOST_API int roost_instance_parse(const char *data, size_t len,
                                   roost_instance *out);
/* "passing", "warning" or "critical" for an enum roost_health. */
ROOST_API const char *roost_health_name(int status);

/* ====================================================================== */
/* Recipes: leader election and a lock, on ephemeral sequential children of
 * a directory.  Each contender watches only its predecessor (no herd). */

typedef struct roost_election roost_election;

/* leader true: this contender became the leader; false: it lost leadership
 * (connection lost, session expired, or resigned).  Loop thread. */
typedef void (*roost_election_cb)(roost_election *e, bool leader, void *arg);

/* Joins the election under dir (created as needed), node data = data
 * (copied; may be NULL).  Rejoins after a new session.  Returns ROOST_OK
 * (*out set), ROOST_BADARGUMENTS, ROOST_EINVAL, ROOST_ENOMEM, ROOST_ECLOSED. */
ROOST_API int roost_election_new(roost_client *c, const char *dir,
                                 const char *data, roost_election_cb cb,
                                 void *arg, roost_election **out);
/* Snapshot, any thread. */
ROOST_API bool roost_election_is_leader(roost_election *e);
/* Leaves (deletes the node; the callback reports false if it was leader)
 * and frees e.  Blocking; ROOST_EDEADLK on the loop thread. */
ROOST_API int roost_election_free(roost_election *e);

typedef struct roost_lock roost_lock;

/* A lock on dir (created as needed).  Returns ROOST_OK (*out set),
 * ROOST_BADARGUMENTS, ROOST_EINVAL, ROOST_ENOMEM. */
ROOST_API int roost_lock_new(roost_client *c, const char *dir,
                             roost_lock **out);
/* Blocks until held (ROOST_OK), timeout_ms passed (ROOST_ETIMEDOUT; < 0
 * waits forever; the waiting node is removed), or the session was lost
 * (ROOST_CONNECTIONLOSS / ROOST_SESSIONEXPIRED).  ROOST_ESTATE if already
 * held or acquiring, ROOST_EDEADLK on the loop thread. */
ROOST_API int roost_lock_acquire(roost_lock *l, int32_t timeout_ms);
/* True while held and the connection is up (a lost connection means
 * another client may hold it once the session expires). */
ROOST_API bool roost_lock_is_held(roost_lock *l);
/* Releases (deletes the node).  ROOST_OK, ROOST_ESTATE (not held),
 * ROOST_EDEADLK. */
ROOST_API int roost_lock_release(roost_lock *l);
/* Releases if held and frees l; ROOST_EDEADLK on the loop thread. */
ROOST_API int roost_lock_free(roost_lock *l);

#ifdef __cplusplus
}
#endif

#endif /* ROOST_H */
