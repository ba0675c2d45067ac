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
 * Prep validates against the tree as it is now.  Until durability lands the
 * standalone server applies each prepared transaction before prepping the
 * next, so "the tree plus writes in flight" is just the tree.  (A later
 * pipeline with transactions in flight between prep and apply must add an
 * overlay of pending changes; see ZooKeeper's outstanding ChangeRecords.)
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
};

/* Creates the initial tree of §7.15: "/", "/zookeeper",
 * "/zookeeper/quota", "/zookeeper/config".  cfg may be NULL (defaults).
 * Returns NULL on allocation failure. */
struct tree *tree_new(const struct tree_config *cfg);
void tree_free(struct tree *t);

/* ------------------------------------------------------------------ */
/* Identities of the caller, for ACL checks (§7.13).  A connection has
 * an "ip" identity always, "digest" ones after addauth, "super" with the
 * super digest. */

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

/* Transactions the server makes itself (session lifecycle, reaping). */
void tree_txn_encode_create_session(struct proto_writer *w,
                                    const struct tree_txn_header *h,
                                    int32_t timeout_ms);
void tree_txn_encode_close_session(struct proto_writer *w,
                                   const struct tree_txn_header *h);

/* Read just the header of an encoded transaction.  Returns PROTO_OK or
 * PROTO_MARSHALLINGERROR. */
int tree_txn_header_decode(const void *txn, size_t len,
                           struct tree_txn_header *h);

/* ------------------------------------------------------------------ */
/* Results of applying a transaction. */

/* One watch event to deliver: path is borrowed from the tree_out that
 * holds it (valid until tree_out_reset/free). */
struct tree_event {
  uint64_t watcher;
  int32_t type; /* enum proto_event_type */
  const char *path;
  size_t path_len;
};

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

int tree_exists(struct tree *t, const char *path, size_t len,
                uint64_t watcher, const struct tree_auth *auth,
                struct proto_writer *reply);
int tree_get_data(struct tree *t, const char *path, size_t len,
                  uint64_t watcher, const struct tree_auth *auth,
                  struct proto_writer *reply);
/* with_stat: getChildren2 (children + Stat) vs getChildren. */
int tree_get_children(struct tree *t, const char *path, size_t len,
                      uint64_t watcher, bool with_stat,
                      const struct tree_auth *auth,
                      struct proto_writer *reply);
int tree_get_acl(struct tree *t, const char *path, size_t len,
                 const struct tree_auth *auth, struct proto_writer *reply);
/* Fills *stat; PROTO_OK or PROTO_NONODE.  No watch, no ACL check. */
int tree_stat(struct tree *t, const char *path, size_t len,
              struct proto_stat *stat);

/* ------------------------------------------------------------------ */
/* Watches. */

/* setWatches / setWatches2 on reconnect (§7.10): events fired at once go
 * into out->events (the caller sends them with zxid -1 before the reply);
 * the rest are registered for `watcher`.  out is reset first.  The
 * persistent lists of setWatches2 are ignored until addWatch lands.
 * Returns PROTO_OK or PROTO_SYSTEMERROR (some watches may be registered). */
int tree_set_watches(struct tree *t, uint64_t watcher,
                     const struct proto_set_watches_req *req,
                     struct tree_out *out);

/* Drop every watch of a watcher (its connection closed). */
void tree_watches_drop(struct tree *t, uint64_t watcher);

/* ------------------------------------------------------------------ */
/* Sessions and ephemerals (replicated state, changed by txns only). */

bool tree_session_exists(const struct tree *t, int64_t session_id);
/* Timeout recorded by the session's createSession txn, or -1. */
int32_t tree_session_timeout(const struct tree *t, int64_t session_id);

/* Call fn for each ephemeral path of a session (dump, getEphemerals). */
typedef void (*tree_path_cb)(void *arg, const char *path, size_t len);
void tree_session_ephemerals(const struct tree *t, int64_t session_id,
                             tree_path_cb cb, void *arg);

/* ------------------------------------------------------------------ */
/* Figures for srvr/mntr/wchs. */

struct tree_stats {
  uint64_t node_count;         /* as ZooKeeper counts (root twice, §7.15) */
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
void tree_data_watches_each(const struct tree *t, tree_watch_cb cb,
                            void *arg);

/* A digest of the replicated state (nodes with all Stat fields, data and
 * ACLs; sessions), independent of hash-table order.  Equal digests <=>
 * equal trees (up to hash collisions).  Writes 32 bytes. */
void tree_digest(const struct tree *t, uint8_t out[32]);

#endif /* ROOST_TREE_H */
