/* tree — the znode tree, its transactions and its watch registry.
 *
 * The tree is a deterministic state machine: transactions go in (as bytes,
 * in the format written by tree_prep / tree_txn_encode_*), the same
 * transactions in the same order give byte-identical trees (compare with
 * tree_digest).  It does no I/O and reads no clock: the time of a change is
 * in its transaction.
 *
 * Pipeline (DESIGN.md): the leader (or standalone server) calls tree_prep to
 * validate a client write and turn it into a transaction; the transaction
 * gets a zxid, is logged/replicated, then every replica calls tree_apply in
 * zxid order.  tree_apply returns the result the client's reply is built
 * from and the watch events the change fired.
 *
 * tree_prep validates against the tree as it is now: the standalone server
 * applies each prepared transaction before prepping the next.  An ensemble
 * leader keeps many transactions in flight between prep and apply, so it
 * preps with tree_prep_pending against "the tree plus every prepped but
 * not yet applied change", kept in a caller-owned struct tree_pending
 * (ZooKeeper's outstanding ChangeRecords).  Both give byte-identical
 * transactions for the same requests in the same order.
 *
 * Watches belong to a watcher: a non-zero 64-bit id chosen by the caller
 * (the server uses its connection id).  They are not part of the
 * replicated state and are excluded from tree_digest.
 *
 * Memory: struct tree is opaque; tree_new returns an owned object freed
 * with tree_free.  Paths passed in are borrowed for the duration of the
 * call.  Output objects (struct tree_out) are owned by the caller.
 *
 * Thread safety: none; one thread (the server's loop) drives a tree.
 */
#ifndef ROOST_TREE_H
#define ROOST_TREE_H

#include "proto/proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tree;

struct tree_config {
  /* TTL nodes (createTTL, modes 5/6) allowed; ZooKeeper's
   * zookeeper.extendedTypesEnabled.  Default false -> Unimplemented. */
  bool extended_types;
  /* Largest data buffer accepted in a create/setData (bytes); 0 = no
   * limit beyond the frame size. */
  size_t max_data_bytes;
  /* checkWatches / removeWatches with ZooKeeper 3.9's WatcherType rules
   * (ZOOKEEPER-4472): types 1/2 match only standard watches, 4/5 select
   * persistent / recursive watches.  Default false = 3.8.0 as observed:
   * types 1/2 match every watch of that table (incl. the persistent and
   * recursive ones), 4/5 are MarshallingError.  See tree_remove_watches. */
  bool watcher_types_3_9;
  /* The x509 auth provider exists (the server has a TLS port): ACL
   * entries x509:<subject DN> are valid and match a connection's
   * ("x509", DN) identity exactly.  Default false = InvalidACL, as
   * ZooKeeper without authProvider.x509. */
  bool x509_acls;
};

/* Creates the initial tree of §7.15: "/", "/zookeeper",
 * "/zookeeper/quota", "/zookeeper/config".  cfg may be NULL (defaults).
 * Returns NULL on allocation failure. */
struct tree *tree_new(const struct tree_config *cfg);
void tree_free(struct tree *t);

/* ------------------------------------------------------------------ */
/* Identities of the caller, for ACL checks (§7.13).  A connection has
 * an "ip" identity always, "digest" ones after addauth, "super" with the
 * super digest, "x509" (subject DN) with a verified TLS client
 * certificate. */

struct tree_identity {
  const char *scheme; /* borrowed */
  const char *id;     /* borrowed */
};
struct tree_auth {
  const struct tree_identity *ids; /* borrowed for the call */
  size_t n_ids;
};

/* ------------------------------------------------------------------ */
/* Transactions.
 *
 * Encoding (big-endian, jute primitives; the format is documented in
 * docs/txn-format.md): TxnHeader {long session_id, int cxid, long zxid,
 * long time_ms, int type} followed by the body of that type, as in
 * ZooKeeper's txn records: create/create2 (CreateTxn {path, data, acl,
 * ephemeral, parentCVersion}), createContainer, createTTL, delete,
 * deleteContainer, setData, setACL, check, createSession {timeout},
 * closeSession, error {err}, multi {vector of (type, txn body)}.
 * The header's type keeps the request's opcode (create vs create2), so a
 * reply can be built from the transaction alone on any replica. */

struct tree_txn_header {
  int64_t session_id;
  int32_t cxid;
  int64_t zxid;
  int64_t time_ms;
  int32_t type; /* enum proto_op value, or PROTO_OP_ERROR */
};

/* Context of a prep: who asks, and the header fields of the txn. */
struct tree_prep_ctx {
  int64_t session_id;
  int32_t cxid;
  int64_t zxid;    /* the zxid this transaction will get */
  int64_t time_ms; /* wall clock of the leader */
  struct tree_auth auth;
};

/* Validate a client write request (create, create2, createContainer,
 * createTTL, delete, setData, setACL, multi) against the tree and write
 * the transaction into txn_out (appended; the caller resets it).
 *
 * A request that fails validation still yields a transaction — an error
 * txn (a multi of error results for multi), which consumes a zxid like in
 * ZooKeeper (§3.4, §5.4); the client's error comes back from tree_apply.
 * Validation order and codes are those of §7.2.
 *
 * ctx->session_id must be in the tree's session table (its createSession
 * txn applied), else the write fails with SessionExpired (-112) at §7.2's
 * "session" step (ephemeral creates need it to own the node).  Also
 * accepted: deleteContainer (20, path in req->u.path; for the server's
 * container/TTL reaper; no session or ACL check).
 *
 * Returns PROTO_OK when a transaction was written; PROTO_UNIMPLEMENTED if
 * req is not a write this function handles; PROTO_SYSTEMERROR on
 * allocation failure (nothing usable in txn_out). */
int tree_prep(struct tree *t, const struct tree_prep_ctx *ctx,
              const struct proto_request *req, struct proto_writer *txn_out);

/* ------------------------------------------------------------------ */
/* Pipelined prep: pending changes.
 *
 * struct tree_pending records, per path, what the transactions prepped
 * through it and not yet applied will have done to what prep looks at
 * (existence, version, aversion, stored cversion, child count, owner and
 * ACL of a node) and, per session, whether it will exist.  Prep reads it
 * before the tree.  Lookups are hash-map lookups; tree_pending_applied
 * costs O(changes it drops).
 *
 * Use: prep each write with tree_prep_pending (session txns with
 * tree_prep_create_session / tree_prep_close_session) in zxid order; after
 * tree_apply of txn Z, call tree_pending_applied(pend, Z).  If a prepped
 * txn is never applied (its proposal failed, leadership was lost), the
 * records are wrong from then on: wait until the tree has applied every
 * other txn prepped through pend, or stop, and tree_pending_clear it.
 * Then for any sequence of requests, prepping each against tree + pending
 * and applying the txns in order gives exactly the txns (and tree) that
 * prepping and applying them one at a time gives.
 *
 * Memory: tree_pending_new returns an owned object (free with
 * tree_pending_free); t is used for allocation only and not kept, so the
 * object survives the tree being replaced (clear it then).  Records own
 * copies of everything they hold (paths and ACL lists): nothing points
 * into the tree or into a request. */
struct tree_pending;
/* NULL on allocation failure. */
struct tree_pending *tree_pending_new(struct tree *t);
void tree_pending_free(struct tree_pending *pend);

/* Like tree_prep, validating against the tree plus pend; a txn that is
 * not an error txn (for a multi: one whose sub-ops all passed) has its
 * effects recorded in pend tagged with ctx->zxid.  Error txns record
 * nothing.  A pending closeSession of ctx->session_id makes this fail
 * with SessionExpired, as it would once applied.  Returns as tree_prep;
 * on PROTO_SYSTEMERROR pend is unchanged. */
int tree_prep_pending(struct tree *t, struct tree_pending *pend,
                      const struct tree_prep_ctx *ctx,
                      const struct proto_request *req,
                      struct proto_writer *txn_out);

/* Session txns through pend: write the createSession / closeSession txn
 * (as tree_txn_encode_*, header h) into txn_out and record it.  A
 * pending createSession makes the session alive for later preps (a client
 * learns its session only after the commit, so a server does not see
 * writes from it earlier; recording it keeps the equivalence above exact
 * for any order).  A pending closeSession makes the session's later
 * writes fail with SessionExpired and deletes, in the view, every
 * ephemeral the session owns in the tree or in pending records (their
 * parents lose a child), as applying it will.  PROTO_OK, or
 * PROTO_SYSTEMERROR (pend unchanged, nothing written). */
int tree_prep_create_session(struct tree *t, struct tree_pending *pend,
                             const struct tree_txn_header *h,
                             int32_t timeout_ms,
                             const uint8_t passwd[PROTO_PASSWD_LEN],
                             struct proto_writer *txn_out);
int tree_prep_close_session(struct tree *t, struct tree_pending *pend,
                            const struct tree_txn_header *h,
                            struct proto_writer *txn_out);

/* The tree has applied every txn up to zxid: drop the records whose latest
 * change is <= zxid (the tree now says the same). */
void tree_pending_applied(struct tree_pending *pend, int64_t zxid);
/* Drop every record (leadership lost, or the tree was replaced). */
void tree_pending_clear(struct tree_pending *pend);
/* Records held (paths + sessions), for figures and tests. */
size_t tree_pending_count(const struct tree_pending *pend);

/* Transactions the server makes itself (session lifecycle, reaping).
 * createSession carries the session's password (borrowed, 16 bytes): it is
 * replicated state, so every member can check a client that resumes the
 * session there (docs/ensemble.md).  The body is {int timeout, buffer
 * passwd}; a body of the timeout alone (written before passwords were
 * replicated) still applies, and leaves the session without a stored
 * password. */
void tree_txn_encode_create_session(struct proto_writer *w,
                                    const struct tree_txn_header *h,
                                    int32_t timeout_ms,
                                    const uint8_t passwd[PROTO_PASSWD_LEN]);
void tree_txn_encode_close_session(struct proto_writer *w,
                                   const struct tree_txn_header *h);

/* Dynamic reconfiguration (ZooKeeper 3.5+): a committed membership change
 * is a txn of type PROTO_OP_RECONFIG whose body is a SetDataTxn on
 * /zookeeper/config (data: the configuration's text, proto_zkconfig_format,
 * whose "version=" is the zxid of this txn; version -1, as ZooKeeper
 * writes it).  Applying it sets the node's data, mzxid, mtime and version
 * (-1) and fires its data watches, like a setData. */
#define TREE_CONFIG_PATH "/zookeeper/config"
void tree_txn_encode_reconfig(struct proto_writer *w,
                              const struct tree_txn_header *h,
                              const char *config, size_t len);
/* What a member writes into /zookeeper/config when it starts (ZooKeeper's
 * initConfigInZKDatabase: local, not a txn): its configuration's text,
 * version -1, mzxid = the configuration's version.  mtime is 0, not the
 * wall clock ZooKeeper uses, so that every replica's tree stays the same.
 * No watch fires.  Returns PROTO_OK or PROTO_SYSTEMERROR. */
int tree_config_init(struct tree *t, const char *text, size_t len,
                     int64_t version);
/* Whether txn is a reconfig txn; if so *data and *data_len borrow its
 * configuration text (for zab's config_of callback: pure). */
bool tree_txn_reconfig_data(const void *txn, size_t len, const char **data,
                            size_t *data_len);

/* Read just the header of an encoded transaction.  Returns PROTO_OK or
 * PROTO_MARSHALLINGERROR. */
int tree_txn_header_decode(const void *txn, size_t len,
                           struct tree_txn_header *h);

/* ------------------------------------------------------------------ */
/* Results of applying a transaction. */

/* One watch event to deliver: path is borrowed from the tree_out that
 * holds it (valid until tree_out_reset/free).
 *
 * The tree fires watches but does not know who the watchers are, so an
 * event is only a candidate: the caller delivers it only when
 * tree_event_visible says the watcher's session may READ the node it is
 * about (CVE-2024-23944, as ZooKeeper since ZOOKEEPER-4799).  acl is the
 * ACL that node had when the event fired — for NodeChildrenChanged the
 * node whose children changed, for NodeDeleted the list the deleted node
 * had — as a jute vector<ACL> (count + elements) borrowed from the
 * tree_out like path; NULL (acl_len 0) when anyone may read it (the list
 * gives READ to world:anyone, or is empty) or there is no node
 * (setWatches' catch-up NodeDeleted).  A standard watch is consumed when
 * it fires whether or not the event is then delivered (as ZooKeeper). */
struct tree_event {
  uint64_t watcher;
  int32_t type; /* enum proto_event_type */
  const char *path;
  size_t path_len;
  const uint8_t *acl;
  size_t acl_len;
};

/* True if a session with identities `auth` (NULL: none) may receive e:
 * READ on e->acl per §7.13, a "super" identity sees everything.  No
 * allocation; cost linear in the ACL's size. */
bool tree_event_visible(const struct tree_event *e,
                        const struct tree_auth *auth);

/* The outcome of one operation (a multi has one per sub-op). */
struct tree_op_result {
  int32_t type; /* opcode of the op (1, 15, 19, 21, 2, 5, 7, 13, ...) or
                   PROTO_OP_ERROR for a failed multi sub-op; in a multi
                   reply 19 and 21 are sent as 15 (tree_reply_encode) */
  int32_t err;
  const char *path; /* created path (creates), borrowed from tree_out */
  size_t path_len;
  struct proto_stat stat; /* creates (2/TTL/container), setData, setACL */
};

/* Caller-owned output buffer, reused across calls. */
struct tree_out {
  int32_t err;      /* the error for the reply header (0 for a multi that
                       was applied or failed: per-op errors are inside) */
  int32_t txn_type; /* header type of the applied transaction */
  struct tree_op_result *results; /* owned */
  size_t n_results;
  size_t cap_results;
  struct tree_event *events; /* owned, in delivery order */
  size_t n_events;
  size_t cap_events;
  char *arena; /* owned storage for paths in results and events */
  size_t arena_len;
  size_t arena_cap;
  /* Sessions whose ephemerals this txn removed (closeSession): the server
   * forgets them.  Set for closeSession only. */
  int64_t closed_session;
};
void tree_out_init(struct tree_out *o);
void tree_out_reset(struct tree_out *o);
void tree_out_free(struct tree_out *o);

/* Apply one transaction.  Deterministic; fires (and consumes) the watches
 * the change triggers, appending events to out in the order of §7.8, one
 * event per watcher per (type, path).  Transactions must be applied in
 * zxid order; a zxid not greater than the last applied one is refused.
 *
 * Returns PROTO_OK (out filled; out->err is the reply error);
 * PROTO_MARSHALLINGERROR for a transaction that does not decode or whose
 * zxid is out of order (the tree is unchanged); PROTO_SYSTEMERROR on
 * allocation failure (the tree is unchanged). */
int tree_apply(struct tree *t, const void *txn, size_t len,
               struct tree_out *out);

/* Encode the reply body of a successful write from out (create ->
 * CreateResponse, create2/container/TTL -> Create2Response, setData and
 * setACL -> Stat, delete -> nothing, multi -> MultiResponse incl. the
 * terminator).  Writes nothing when out->err != 0. */
void tree_reply_encode(const struct tree_out *out, struct proto_writer *w);

/* Last applied zxid (0 for a fresh tree). */
int64_t tree_last_zxid(const struct tree *t);

/* ------------------------------------------------------------------ */
/* Reads.  Each writes the success response body into `reply` (appended)
 * and returns PROTO_OK, or returns an error code and writes nothing.  A
 * non-zero watcher registers a watch per §7.8 (getData/getChildren only
 * when the node exists; exists also on NoNode).  auth may be NULL (no
 * identities). */

int tree_exists(struct tree *t, const char *path, size_t len, uint64_t watcher,
                const struct tree_auth *auth, struct proto_writer *reply);
int tree_get_data(struct tree *t, const char *path, size_t len,
                  uint64_t watcher, const struct tree_auth *auth,
                  struct proto_writer *reply);
/* with_stat: getChildren2 (children + Stat) vs getChildren. */
int tree_get_children(struct tree *t, const char *path, size_t len,
                      uint64_t watcher, bool with_stat,
                      const struct tree_auth *auth, struct proto_writer *reply);
int tree_get_acl(struct tree *t, const char *path, size_t len,
                 const struct tree_auth *auth, struct proto_writer *reply);
/* Whether auth holds perm on path's ACL (a "super" identity always
 * does): PROTO_OK, PROTO_NOAUTH or PROTO_NONODE.  For the reconfig
 * opcode's authorization (WRITE on /zookeeper/config). */
int tree_check_perm(struct tree *t, const char *path, size_t len, int32_t perm,
                    const struct tree_auth *auth);
/* getAllChildrenNumber (104): GetAllChildrenNumberResponse {int}, the
 * number of descendants of the node (recursively).  For "/" this is
 * ZooKeeper's "node map size minus 2": every node but the root, so the
 * built-in /zookeeper, /zookeeper/quota and /zookeeper/config count
 * (observed on 3.8.0: 3 on a fresh server).  Lookup only, no path
 * validation.  PROTO_NONODE, PROTO_NOAUTH (READ on the node), PROTO_OK.
 * Cost: the size of the subtree (the root's count is kept). */
int tree_get_all_children_number(struct tree *t, const char *path, size_t len,
                                 const struct tree_auth *auth,
                                 struct proto_writer *reply);
/* getEphemerals (103): GetEphemeralsResponse {vector<ustring>} of the
 * full paths of the session's ephemeral nodes that start with `prefix`
 * (a plain byte prefix, not a path prefix: "/a" matches "/ab").  A NULL
 * prefix, or one that is empty, "/" or blank after trimming bytes
 * <= ' ' at both ends (Java's String.trim), selects all.  Order
 * unspecified.  No ACL check.  An unknown session gives an empty vector.
 * Returns PROTO_OK (an allocation failure shows in proto_writer_err). */
int tree_get_ephemerals(struct tree *t, int64_t session_id, const char *prefix,
                        size_t prefix_len, struct proto_writer *reply);
/* multiRead (22): MultiResponse (§5.4).  Each sub-op is evaluated on its
 * own against the current tree, in order; getData -> MultiHeader{4, 0} +
 * GetDataResponse, getChildren -> MultiHeader{8, 0} +
 * GetChildrenResponse, a failing sub-op -> MultiHeader{-1, err} +
 * ErrorResponse{err}; then the terminator {-1, true, -1}.  The watch flags
 * of the sub-ops are ignored (no watch is set).  m is borrowed for the
 * call (as decoded by proto_request_decode).  Returns PROTO_OK (the
 * reply's err is 0), or PROTO_MARSHALLINGERROR if a sub-op is not 4 or 8
 * (nothing written; the decoder already refuses that). */
int tree_multi_read(struct tree *t, const struct proto_multi_req *m,
                    const struct tree_auth *auth, struct proto_writer *reply);
/* Fills *stat; PROTO_OK or PROTO_NONODE.  No watch, no ACL check. */
int tree_stat(struct tree *t, const char *path, size_t len,
              struct proto_stat *stat);

/* ------------------------------------------------------------------ */
/* Watches. */

/* setWatches / setWatches2 on reconnect (§7.10): events fired at once go
 * into out->events (the caller sends them with zxid -1 before the reply);
 * the rest are registered for `watcher`.  out is reset first.  The
 * persistent and persistentRecursive lists of setWatches2 are registered
 * as by tree_add_watch, without catch-up events (null vectors, as decoded
 * from a plain setWatches, are empty).
 * Returns PROTO_OK or PROTO_SYSTEMERROR (some watches may be registered). */
int tree_set_watches(struct tree *t, uint64_t watcher,
                     const struct proto_set_watches_req *req,
                     struct tree_out *out);

/* Drop every watch of a watcher (its connection closed), persistent and
 * recursive ones included. */
void tree_watches_drop(struct tree *t, uint64_t watcher);

/* addWatch (106, §7.9): mode PROTO_ADD_WATCH_PERSISTENT (0) or
 * PROTO_ADD_WATCH_PERSISTENT_RECURSIVE (1) for (path, watcher).  No
 * existence, path or ACL check (the node need not exist).  Modes of a
 * (path, watcher) accumulate: standard, persistent and recursive watches
 * coexist, and firing clears only the standard ones.  (ZooKeeper 3.8.0
 * instead keeps one mode per (path, watcher) per table, the last one set
 * — ZOOKEEPER-4466, fixed in 3.9; Roost follows §7.9.)
 *
 * What fires, per transaction (tree_apply): a persistent watch on P gets
 * NodeCreated / NodeDataChanged / NodeDeleted of P and NodeChildrenChanged
 * of P; a recursive watch on P gets NodeCreated / NodeDataChanged /
 * NodeDeleted of P and of every descendant, never NodeChildrenChanged.
 * Each trigger reaches a watcher at most once, and a transaction (a multi
 * that changes one path twice) gives at most one event per watcher per
 * (type, path).  (3.8.0 sends one per sub-op.)  Ancestors are only looked
 * at while some recursive watch exists.
 *
 * Returns PROTO_OK (the reply is ErrorResponse{0}), PROTO_MARSHALLINGERROR
 * for another mode (as 3.8.0), PROTO_SYSTEMERROR on allocation failure
 * (nothing registered). */
int tree_add_watch(struct tree *t, const char *path, size_t len,
                   uint64_t watcher, int32_t mode);

/* removeWatches (18, remove = true) and checkWatches (17, remove =
 * false): the watches of `watcher` on exactly `path` selected by type
 * (enum proto_watcher_type, §6.5):
 *   1 Children — with cfg.watcher_types_3_9: the standard child watch;
 *                without (3.8.0): every watch in the child table, i.e. also
 *                the child half of persistent and recursive watches;
 *   2 Data     — the same for data watches (getData and exists);
 *   3 Any      — every watch on the path, every mode;
 *   4 Persistent, 5 PersistentRecursive — that mode only (both tables);
 *                only with cfg.watcher_types_3_9, else MarshallingError.
 * Returns PROTO_OK (something matched; removed if `remove`),
 * PROTO_NOWATCHER (nothing matched; nothing changed), or
 * PROTO_MARSHALLINGERROR (type not valid, as 3.8.0 answers). */
int tree_remove_watches(struct tree *t, const char *path, size_t len,
                        uint64_t watcher, int32_t type, bool remove);
/* Same as tree_remove_watches(..., false). */
int tree_check_watches(struct tree *t, const char *path, size_t len,
                       uint64_t watcher, int32_t type);

/* ------------------------------------------------------------------ */
/* Sessions and ephemerals (replicated state, changed by txns only). */

bool tree_session_exists(const struct tree *t, int64_t session_id);
/* Timeout recorded by the session's createSession txn, or -1. */
int32_t tree_session_timeout(const struct tree *t, int64_t session_id);
/* The password recorded by the session's createSession txn: copies it to
 * out and returns true; false when the session does not exist or was
 * created by a txn that carried none (an older log or snapshot). */
bool tree_session_passwd(const struct tree *t, int64_t session_id,
                         uint8_t out[PROTO_PASSWD_LEN]);

/* Call fn for each ephemeral path of a session (dump, getEphemerals). */
typedef void (*tree_path_cb)(void *arg, const char *path, size_t len);
void tree_session_ephemerals(const struct tree *t, int64_t session_id,
                             tree_path_cb cb, void *arg);

/* ------------------------------------------------------------------ */
/* Container and TTL reaping (§7.7).
 *
 * Calls cb for each node the reaper should delete now:
 *   - a container with no children whose stored cversion > 0 (it had a
 *     child once), or, when max_never_used_ms > 0, a container that never
 *     had a child and whose now_ms - mtime > max_never_used_ms
 *     (znode.container.maxNeverUsedIntervalMs; 0 = never, as 3.8);
 *   - a TTL node with no children and now_ms - mtime > its ttl, only when
 *     cfg.extended_types is set.
 * now_ms is the leader's wall clock (the tree reads no clock).  Only
 * container and TTL nodes are visited (the tree keeps an index of them).
 * Order unspecified.  path is borrowed for the call; cb must not change
 * the tree; it returns false to stop early (the caller's per-run bound,
 * znode.container.maxPerMinute).  Returns the number of calls made.
 *
 * For each candidate the server makes the deleteContainer transaction with
 * tree_prep (an ensemble leader: tree_prep_pending): req.hdr.type =
 * PROTO_OP_DELETECONTAINER, req.u.path.path = the path, ctx.session_id = 0
 * (no session or ACL check), and proposes it like any write.  Prep gives
 * an error txn (NoNode, NotEmpty, BadVersion for a normal ephemeral) if
 * the node changed since; apply checks again (a child created in between
 * -> NotEmpty, tree unchanged) and, on success, removes the node and fires
 * watches as a delete. */
typedef bool (*tree_reap_cb)(void *arg, const char *path, size_t len);
size_t tree_reap_candidates(const struct tree *t, int64_t now_ms,
                            int64_t max_never_used_ms, tree_reap_cb cb,
                            void *arg);

/* ------------------------------------------------------------------ */
/* Figures for srvr/mntr/wchs. */

struct tree_stats {
  uint64_t node_count; /* as ZooKeeper counts (root twice, §7.15) */
  uint64_t ephemerals_count;
  uint64_t approximate_data_size; /* sum of path lengths + data lengths */
  uint64_t data_watch_count;      /* (path, watcher) pairs, data table */
  uint64_t child_watch_count;     /* (path, watcher) pairs, child table */
  uint64_t data_watch_paths;      /* distinct paths in the data table */
  uint64_t data_watchers;         /* distinct watchers in the data table */
  uint64_t session_count;
};
void tree_stats_get(const struct tree *t, struct tree_stats *s);

/* For wchc/wchp: call fn(arg, watcher, path) for each data watch. */
typedef void (*tree_watch_cb)(void *arg, uint64_t watcher, const char *path,
                              size_t len);
void tree_data_watches_each(const struct tree *t, tree_watch_cb cb, void *arg);

/* A digest of the replicated state (nodes with all Stat fields, data and
 * ACLs; sessions), independent of hash-table order.  Equal digests <=>
 * equal trees (up to hash collisions).  Writes 32 bytes. */
void tree_digest(const struct tree *t, uint8_t out[32]);

/* ------------------------------------------------------------------ */
/* Serialisation of the replicated state (tree/serial.c): the encoder that
 * writes snapshots (and later sends a follower its SNAP), and the loader.
 *
 * What is kept: every node with every stored Stat field (czxid, mzxid,
 * pzxid, ctime, mtime, version, the *stored* cversion, aversion and the
 * stored owner incl. the container and TTL encodings), its data (null and
 * empty stay distinct), its ACL list (the distinct lists are written once
 * and nodes refer to them by index), the sessions table (id, timeout,
 * password) and
 * the last applied zxid.  Watches are not replicated state and are not
 * written.  The byte stream is a function of the state alone (children in
 * byte order of their names, ACL lists and sessions sorted), so two
 * replicas with equal tree_digest write identical bytes.  The format is in
 * docs/storage-format.md.
 *
 * Streaming: the encoder hands out chunks of at most ~64 KiB (node data
 * larger than that is handed out as is, borrowed from the tree) and keeps
 * no copy of the tree: the extra memory is one array of child pointers per
 * level of the path being walked. */

/* Receives the next len bytes of the stream (borrowed for the call).
 * Returns true to go on, false to stop (the caller keeps its own reason,
 * e.g. errno, in arg). */
typedef bool (*tree_write_cb)(void *arg, const void *buf, size_t len);
/* Fills up to cap bytes into buf.  Returns the number of bytes (> 0), 0
 * at the end of the stream, or -1 on a read error (the caller keeps its
 * reason in arg). */
typedef long (*tree_read_cb)(void *arg, void *buf, size_t cap);

/* Write the whole state.  Returns PROTO_OK, PROTO_SYSTEMERROR on
 * allocation failure, or PROTO_APIERROR when cb returned false (the
 * stream is then incomplete).  The tree is not changed. */
int tree_serialize(const struct tree *t, tree_write_cb cb, void *arg);

/* One node as the stream holds it, for tree_serial_scan.  Everything is
 * borrowed for the duration of the callback. */
struct tree_serial_node {
  const char *path; /* full path, not NUL-terminated */
  size_t path_len;
  size_t depth; /* "/" = 0 */
  int64_t czxid, mzxid, pzxid, ctime, mtime;
  int64_t owner; /* stored: session id, INT64_MIN = container,
                    0xFF00000000000000 | ttl = TTL node, 0 = none */
  int32_t version, cversion /* stored */, aversion;
  int32_t data_len; /* -1 = null */
  const uint8_t *data;
  uint32_t acl; /* index into the stream's ACL lists */
  uint32_t n_children;
};

/* Callbacks of tree_serial_scan; any may be NULL.  Returning false stops
 * the scan (it then returns PROTO_APIERROR). */
struct tree_serial_visitor {
  void *arg;
  bool (*header)(void *arg, int64_t last_zxid, uint32_t n_acls,
                 uint32_t n_sessions);
  bool (*acl)(void *arg, uint32_t index, const uint8_t *blob, size_t len);
  bool (*session)(void *arg, int64_t id, int32_t timeout_ms);
  bool (*node)(void *arg, const struct tree_serial_node *n);
};

/* Decode a stream without building a tree (roost-dump, verification),
 * checking its structure: magic and version, bounds of every length,
 * names (non-empty, no '/' or NUL), ACL indices, child counts, and the
 * trailer with the node count.  Returns PROTO_OK, PROTO_MARSHALLINGERROR
 * (malformed; errmsg says what and at which byte of the stream),
 * PROTO_SYSTEMERROR (allocation failure or read_cb returned -1) or
 * PROTO_APIERROR (a callback returned false).  errmsg may be NULL. */
int tree_serial_scan(tree_read_cb read_cb, void *read_arg,
                     const struct tree_serial_visitor *v, char *errmsg,
                     size_t errmsg_len);

/* Build a tree from a stream: nodes, ACL interning, the sessions table,
 * each session's ephemerals, the container/TTL reap index, the counters
 * of tree_stats_get and the last zxid, so that tree_digest of the result
 * equals the digest of the tree that was written.  Beyond the checks of
 * tree_serial_scan it refuses siblings out of name order (the encoder
 * sorts them; this also catches duplicates), duplicate sessions, an
 * ephemeral whose owner session is not in the table, and children of an
 * ephemeral.  cfg may be NULL (defaults).  Returns the tree (free with
 * tree_free) with *err = PROTO_OK, or NULL with *err =
 * PROTO_MARSHALLINGERROR / PROTO_SYSTEMERROR and errmsg filled. */
struct tree *tree_load(const struct tree_config *cfg, tree_read_cb read_cb,
                       void *read_arg, int *err, char *errmsg,
                       size_t errmsg_len);

/* Call cb for each session of the table (order unspecified).  cb must not
 * change the tree. */
typedef void (*tree_session_cb)(void *arg, int64_t id, int32_t timeout_ms);
void tree_sessions_each(const struct tree *t, tree_session_cb cb, void *arg);

#endif /* ROOST_TREE_H */
