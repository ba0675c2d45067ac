/* commit.c — the one place a transaction is applied, for both replicas
 * (local.c when its fsync covers the txn, ens_driver.c when zab commits it):
 *
 *   tree_apply -> session table (createSession adds, closeSession removes)
 *   -> watch events to every watcher -> the answer to the connection
 *   waiting for this txn (found by session and cxid; a createSession by
 *   its session id in srv.connecting) -> that connection's order moves on.
 *
 * Events go out before the answer, so a client that sees the answer has
 * seen the events the write fired (§3.5).  Answers that are not commits
 * but must keep their place in a connection's order (a write refused or
 * undecodable, a sync) are here too. */
#include "server/server_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>

static int64_t last_zxid(const struct srv *s) {
  return tree_last_zxid(s->tree);
}

/* c's awaited answer went out: its order moves on, answering what waited
 * behind it and is this server's to answer: errors, and reads, now,
 * between the commit just answered and the next. */
static void answered(struct srv_conn *c) {
  const struct srv_order_slot *next;
  while ((next = srv_order_answered(c)) != NULL) {
    if (next->frame == NULL) {
      srv_reply_simple(c, next->cxid, last_zxid(c->srv), next->err,
                       next->start_ns);
      continue;
    }
    /* Ours now: closing c while answering frees its ring. */
    struct srv_order_slot *h = (struct srv_order_slot *)next;
    uint8_t *f = h->frame;
    h->frame = NULL;
    c->srv->read_now(c, f, h->frame_len, h->start_ns);
    free(f);
    if (c->state == SRV_CONN_CLOSING)
      return;
  }
}

static void answer_txn(struct srv_conn *c, const struct tree_txn_header *h,
                       const struct tree_out *out, int64_t zxid) {
  const struct srv_order_slot *head = srv_order_head(c);
  uint64_t start_ns = head != NULL ? head->start_ns : 0;
  size_t mark = srv_reply_begin(c, h->cxid, zxid, out->err);
  if (out->err == PROTO_OK && h->type != PROTO_OP_CLOSESESSION)
    tree_reply_encode(out, &c->out);
  srv_reply_end(c, mark, zxid, start_ns);
  answered(c);
}

static void connect_done(struct srv *s, struct srv_conn *c,
                         struct srv_session *sess, int64_t zxid) {
  if (sess->conn != NULL && sess->conn != c)
    srv_conn_close(sess->conn, false, SRV_LOG_INFO, "session moved");
  sess->conn = c;
  c->session = sess;
  c->state = SRV_CONN_OPEN;
  srv_reply_connect(c, sess, c->order.ro);
  srv_log(s, SRV_LOG_INFO,
          "new session 0x%" PRIx64 " (timeout %" PRId32 " ms, zxid 0x%" PRIx64
          ") for %s:%d",
          (uint64_t)sess->id, sess->timeout_ms, (uint64_t)zxid, c->ip, c->port);
  answered(c);
}

static void commit_create_session(struct srv *s,
                                  const struct tree_txn_header *h) {
  struct srv_session *sess = srv_session_get(s, h->session_id);
  if (sess == NULL)
    sess = srv_session_add(s, h->session_id,
                           tree_session_timeout(s->tree, h->session_id));
  struct srv_conn *c = srv_connecting_take(s, h->session_id);
  if (c == NULL)
    return;
  if (sess == NULL) {
    srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory for a session");
    return;
  }
  connect_done(s, c, sess, h->zxid);
}

/* Returns true when the answer went out (the client's own close). */
static bool commit_close_session(struct srv *s, const struct tree_txn_header *h,
                                 const struct tree_out *out) {
  struct srv_session *sess = srv_session_get(s, h->session_id);
  struct srv_conn *c = sess != NULL ? sess->conn : NULL;
  if (sess != NULL)
    srv_session_remove(s, sess);
  if (c != NULL && srv_order_waits_for(c, SRV_WAIT_CLOSE, h->cxid)) {
    srv_deliver_events(s, out, -1);
    answer_txn(c, h, out, h->zxid);
    srv_conn_close(c, true, SRV_LOG_INFO, "client closed session 0x%" PRIx64,
                   (uint64_t)h->session_id);
    return true;
  }
  if (c != NULL)
    srv_conn_close(c, false, SRV_LOG_INFO, "session 0x%" PRIx64 " expired",
                   (uint64_t)h->session_id);
  return false;
}

void srv_commit(struct srv *s, int64_t zxid, const uint8_t *d, size_t len) {
  /* Ours to keep: commits come in zxid order, each applied once. */
  assert(d != NULL && len > 0);
  assert(zxid > last_zxid(s));
  struct tree_txn_header h;
  if (tree_txn_header_decode(d, len, &h) != PROTO_OK || h.zxid != zxid) {
    srv_log(s, SRV_LOG_ERROR, "committed txn 0x%" PRIx64 " does not decode",
            (uint64_t)zxid);
    abort();
  }
  struct tree_out *out = &s->commit_out;
  tree_out_reset(out);
  int rc = tree_apply(s->tree, d, len, out);
  if (rc != PROTO_OK) {
    /* The log has a transaction the tree refused (out of memory): going
     * on would answer from a tree that a restart would not rebuild. */
    srv_log(s, SRV_LOG_ERROR,
            "committed txn 0x%" PRIx64 " does not apply (%s): stopping so "
            "that the log and the tree cannot diverge; a restart replays it",
            (uint64_t)zxid, proto_strerror(rc));
    abort();
  }
  assert(last_zxid(s) == zxid);
  srv_txn_applied(s); /* snapshot cadence */
  if (h.type == PROTO_OP_CREATESESSION) {
    commit_create_session(s, &h);
  } else if (h.type == PROTO_OP_CLOSESESSION) {
    if (commit_close_session(s, &h, out))
      return;
  }
  /* 3.8: notifications carry zxid -1. */
  srv_deliver_events(s, out, -1);
  if (h.type == PROTO_OP_CREATESESSION || h.type == PROTO_OP_CLOSESESSION)
    return;
  struct srv_session *sess = srv_session_get(s, h.session_id);
  struct srv_conn *c = sess != NULL ? sess->conn : NULL;
  if (c != NULL && srv_order_waits_for(c, SRV_WAIT_WRITE, h.cxid))
    answer_txn(c, &h, out, zxid);
}

void srv_answer_error(struct srv_conn *c, int32_t xid, int32_t err,
                      uint64_t start_ns) {
  if (c->order.wait != SRV_WAIT_WRITE) {
    srv_reply_simple(c, xid, last_zxid(c->srv), err, start_ns);
    return;
  }
  /* Writes of c are ahead of it: its turn comes after theirs. */
  if (!srv_order_push_write(c, xid, err, start_ns))
    srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory for a write");
}

void srv_commit_fail(struct srv *s, enum srv_wait kind, int64_t session,
                     int32_t cxid, int32_t err) {
  if (kind == SRV_WAIT_CONNECT) {
    struct srv_conn *c = srv_connecting_take(s, session);
    if (c != NULL)
      srv_conn_close(c, false, SRV_LOG_INFO, "createSession not committed");
    return;
  }
  struct srv_session *sess = srv_session_get(s, session);
  struct srv_conn *c = sess != NULL ? sess->conn : NULL;
  if (c == NULL ||
      (c->order.wait != SRV_WAIT_WRITE && c->order.wait != SRV_WAIT_CLOSE))
    return;
  if (c->order.wait_id != cxid) {
    /* A later write of c failed while earlier ones are still on their
     * way: answering now would answer out of order, so the client loses
     * the connection instead (and learns the outcome on reconnect). */
    if (srv_order_has_write(c, cxid))
      srv_conn_close(c, false, SRV_LOG_INFO,
                     "a pipelined write failed behind others in flight");
    return;
  }
  if (err == PROTO_CONNECTIONLOSS) {
    srv_conn_close(c, false, SRV_LOG_INFO,
                   "leader lost with a request in flight");
    return;
  }
  const struct srv_order_slot *head = srv_order_head(c);
  srv_reply_simple(c, cxid, last_zxid(s), err,
                   head != NULL ? head->start_ns : 0);
  answered(c);
}

void srv_commit_sync_done(struct srv_conn *c) {
  struct srv_order *o = &c->order;
  int64_t zxid = last_zxid(c->srv);
  size_t mark = srv_reply_begin(c, (int32_t)o->wait_id, zxid, PROTO_OK);
  proto_write_string(&c->out, o->path ? o->path : "", o->path_len);
  srv_reply_end(c, mark, zxid, 0);
  free(o->path);
  o->path = NULL;
  o->path_len = 0;
  answered(c);
}

void srv_commit_sync_refused(struct srv_conn *c, int32_t err) {
  struct srv_order *o = &c->order;
  srv_reply_simple(c, (int32_t)o->wait_id, last_zxid(c->srv), err, 0);
  free(o->path);
  o->path = NULL;
  o->path_len = 0;
  answered(c);
}

bool srv_commit_local_open(struct srv *s, int64_t id, int32_t timeout_ms) {
  struct srv_conn *c = srv_connecting_take(s, id);
  if (c == NULL)
    return true;
  struct srv_session *sess = srv_session_add(s, id, timeout_ms);
  if (sess == NULL) {
    srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory for a session");
    return false;
  }
  sess->read_only = true;
  connect_done(s, c, sess, last_zxid(s));
  return true;
}

void srv_commit_local_end(struct srv *s, struct srv_session *sess,
                          const char *why) {
  struct srv_conn *c = sess->conn;
  int64_t id = sess->id;
  srv_session_remove(s, sess);
  if (c == NULL)
    return;
  if (c->order.wait == SRV_WAIT_CLOSE) {
    srv_reply_simple(c, (int32_t)c->order.wait_id, last_zxid(s), PROTO_OK, 0);
    answered(c);
    srv_conn_close(c, true, SRV_LOG_INFO,
                   "client closed read-only session 0x%" PRIx64, (uint64_t)id);
    return;
  }
  srv_conn_close(c, false, SRV_LOG_INFO, "read-only session 0x%" PRIx64 ": %s",
                 (uint64_t)id, why);
}
