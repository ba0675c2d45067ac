/* local.c — the replica of a standalone server: an ensemble of one.
 *
 *   request -> tree_prep_pending (zxid = last staged + 1, against the tree
 *   plus every change staged and not yet committed) -> srv_log_stage ->
 *   queued here; at the end of the loop turn one fsync covers the turn's
 *   transactions (persist.c, group commit); when it returns, durable()
 *   commits every queued transaction it covers through srv_commit.
 *
 * So a write is applied, and visible to every session, only once it is
 * durable, as on an ensemble leader; and writes are pipelined: the next
 * ones are prepped and staged while an fsync runs (they go into the next
 * one).  A sync is queued like a transaction and answered when everything
 * queued before it has committed.
 *
 * Failure: a transaction the log refuses (disk full, failed log) is not
 * queued; its client gets -1 (SystemError) in order (srv_answer_error).
 * Its prepped changes are in the pending records though, so they are
 * stale: prepping stops (writes are refused) until everything queued has
 * committed, then the records are cleared. */
#include "server/server_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* A transaction staged and not committed, or a sync to answer.  Owns
 * data. */
struct local_entry {
  int64_t zxid; /* 0: a sync */
  uint8_t *data;
  size_t len;
  uint64_t conn_id; /* sync: the connection and its xid */
  int32_t xid;
};

struct srv_local {
  struct srv *s;
  struct tree_pending *tpend;
  bool tpend_stale;
  struct proto_writer txn; /* scratch for prep */
  int64_t last_staged;     /* zxid of the newest staged txn */
  struct local_entry *q;   /* queue: q[head .. n) */
  size_t head, n, cap;
  uint64_t staged, committed;
};

static struct srv_local *L(const struct srv *s) { return s->rep_state; }

static size_t queued(const struct srv_local *l) { return l->n - l->head; }

static bool q_push(struct srv_local *l, struct local_entry e) {
  if (l->head > 0 && l->head == l->n)
    l->head = l->n = 0;
  if (l->n == l->cap) {
    if (l->head > 0) {
      memmove(l->q, l->q + l->head, queued(l) * sizeof *l->q);
      l->n -= l->head;
      l->head = 0;
    }
    if (l->n == l->cap) {
      size_t nc = l->cap ? 2 * l->cap : 64;
      struct local_entry *q = realloc(l->q, nc * sizeof *q);
      if (q == NULL)
        return false;
      l->q = q;
      l->cap = nc;
    }
  }
  l->q[l->n++] = e;
  return true;
}

/* May a request be prepped now?  Not while the pending records hold the
 * changes of a txn that was never queued (see the top). */
static bool may_prep(struct srv_local *l) {
  if (srv_writes_blocked(l->s))
    return false;
  if (l->tpend_stale) {
    for (size_t i = l->head; i < l->n; i++)
      if (l->q[i].zxid != 0)
        return false;
    tree_pending_clear(l->tpend);
    l->tpend_stale = false;
    l->last_staged = tree_last_zxid(l->s->tree);
  }
  return true;
}

static int64_t next_zxid(const struct srv_local *l) {
  int64_t t = tree_last_zxid(l->s->tree);
  return (l->last_staged > t ? l->last_staged : t) + 1;
}

/* l->txn was prepped for zxid: stage and queue it.  PROTO_OK or
 * PROTO_SYSTEMERROR (nothing queued; the records are stale). */
static int stage(struct srv_local *l, int64_t zxid) {
  struct srv *s = l->s;
  assert(zxid == next_zxid(l));
  if (proto_writer_err(&l->txn) != PROTO_OK) {
    l->tpend_stale = true;
    return PROTO_SYSTEMERROR;
  }
  struct local_entry e = {.zxid = zxid, .len = l->txn.len};
  e.data = malloc(l->txn.len);
  if (e.data == NULL || !q_push(l, e)) {
    free(e.data);
    l->tpend_stale = true;
    return PROTO_SYSTEMERROR;
  }
  if (srv_log_stage(s, l->txn.buf, l->txn.len) != PROTO_OK) {
    l->n--;
    free(e.data);
    l->tpend_stale = true;
    return PROTO_SYSTEMERROR;
  }
  memcpy(e.data, l->txn.buf, l->txn.len);
  l->last_staged = zxid;
  l->staged++;
  return PROTO_OK;
}

static struct tree_auth conn_auth(const struct srv_conn *c) {
  struct tree_auth a = {.ids = c->ids, .n_ids = c->n_ids};
  return a;
}

static void local_write(struct srv_conn *c, const struct proto_request *req,
                        const uint8_t *payload, size_t len, uint64_t start_ns) {
  (void)payload;
  (void)len;
  struct srv *s = c->srv;
  struct srv_local *l = L(s);
  int32_t xid = req->hdr.xid;
  if (!may_prep(l)) {
    /* The log failed (fsync error) or a refused txn is still in the
     * records: nothing is prepped.  -1 (SystemError): a failed write. */
    srv_answer_error(c, xid, PROTO_SYSTEMERROR, start_ns);
    return;
  }
  int64_t zxid = next_zxid(l);
  struct tree_prep_ctx ctx = {
      .session_id = c->session->id,
      .cxid = xid,
      .zxid = zxid,
      .time_ms = srv_wall_ms(),
      .auth = conn_auth(c),
  };
  proto_writer_reset(&l->txn);
  int rc = tree_prep_pending(s->tree, l->tpend, &ctx, req, &l->txn);
  if (rc == PROTO_OK)
    rc = stage(l, zxid);
  else
    srv_log(s, SRV_LOG_ERROR, "%s from session 0x%" PRIx64 " failed: %s",
            proto_op_name(req->hdr.type), (uint64_t)c->session->id,
            proto_strerror(rc));
  if (rc != PROTO_OK) {
    srv_answer_error(c, xid,
                     rc == PROTO_UNIMPLEMENTED ? PROTO_UNIMPLEMENTED
                                               : PROTO_SYSTEMERROR,
                     start_ns);
    return;
  }
  if (!srv_order_push_write(c, xid, 0, start_ns))
    srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory for a write");
}

static bool local_create_session(struct srv_conn *c, int64_t id,
                                 int32_t timeout_ms) {
  struct srv *s = c->srv;
  struct srv_local *l = L(s);
  if (!may_prep(l))
    return false;
  struct tree_txn_header h = {
      .session_id = id,
      .cxid = 0,
      .zxid = next_zxid(l),
      .time_ms = srv_wall_ms(),
      .type = PROTO_OP_CREATESESSION,
  };
  uint8_t passwd[PROTO_PASSWD_LEN];
  srv_session_new_password(s, id, passwd);
  proto_writer_reset(&l->txn);
  int rc = tree_prep_create_session(s->tree, l->tpend, &h, timeout_ms, passwd,
                                    &l->txn);
  if (rc == PROTO_OK)
    rc = stage(l, h.zxid);
  return rc == PROTO_OK;
}

/* closeSession of sess (cxid 0: expiry).  PROTO_OK when queued. */
static int propose_close(struct srv_local *l, int64_t session, int32_t cxid) {
  struct srv *s = l->s;
  if (!may_prep(l))
    return PROTO_SYSTEMERROR;
  struct tree_txn_header h = {
      .session_id = session,
      .cxid = cxid,
      .zxid = next_zxid(l),
      .time_ms = srv_wall_ms(),
      .type = PROTO_OP_CLOSESESSION,
  };
  proto_writer_reset(&l->txn);
  int rc = tree_prep_close_session(s->tree, l->tpend, &h, &l->txn);
  if (rc == PROTO_OK)
    rc = stage(l, h.zxid);
  return rc;
}

static void local_close_session(struct srv_conn *c, int32_t xid) {
  struct srv *s = c->srv;
  int rc = propose_close(L(s), c->session->id, xid);
  if (rc != PROTO_OK)
    /* Not logged (disk full): the session stays; the client may retry. */
    srv_commit_fail(s, SRV_WAIT_CLOSE, c->session->id, xid, PROTO_SYSTEMERROR);
}

static void local_expire(struct srv *s, struct srv_session *sess) {
  /* Out of the heap's head either way; the session goes when its
   * closeSession commits. */
  srv_session_touch(s, sess);
  if (sess->closing)
    return;
  if (propose_close(L(s), sess->id, 0) != PROTO_OK) {
    /* Not logged (disk full, failed log): the session stays, in the tree
     * and here; expiry tries again when its new deadline passes. */
    srv_log(s, SRV_LOG_WARN,
            "closeSession of session 0x%" PRIx64 " not logged; will retry",
            (uint64_t)sess->id);
    return;
  }
  sess->closing = true;
  srv_log(s, SRV_LOG_INFO,
          "session 0x%" PRIx64 " expired (timeout %" PRId32 " ms)",
          (uint64_t)sess->id, sess->timeout_ms);
  /* §7.12: the expired session's connection is closed with no message;
   * closed first, so none of the txn's events reach it. */
  if (sess->conn != NULL)
    srv_conn_close(sess->conn, false, SRV_LOG_INFO,
                   "session 0x%" PRIx64 " expired", (uint64_t)sess->id);
}

static void local_reap(struct srv *s, const char *path, size_t len) {
  struct srv_local *l = L(s);
  if (!may_prep(l))
    return;
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_DELETECONTAINER;
  req.u.path.path.ptr = (const uint8_t *)path;
  req.u.path.path.len = (int32_t)len;
  struct tree_prep_ctx ctx = {
      .session_id = 0, /* the server itself: no session, no ACL check */
      .zxid = next_zxid(l),
      .time_ms = srv_wall_ms(),
  };
  proto_writer_reset(&l->txn);
  int rc = tree_prep_pending(s->tree, l->tpend, &ctx, &req, &l->txn);
  if (rc == PROTO_OK)
    rc = stage(l, ctx.zxid);
  if (rc != PROTO_OK)
    srv_log(s, SRV_LOG_ERROR, "reaping %.*s failed: %s", (int)len, path,
            proto_strerror(rc));
  else
    srv_log(s, SRV_LOG_DEBUG, "deleteContainer of %.*s (zxid 0x%" PRIx64 ")",
            (int)len, path, (uint64_t)ctx.zxid);
}

static void local_sync(struct srv_conn *c, int32_t xid) {
  struct srv_local *l = L(c->srv);
  /* Answered once everything queued before it has committed. */
  if (queued(l) == 0) {
    srv_commit_sync_done(c);
    return;
  }
  struct local_entry e = {.zxid = 0, .conn_id = c->id, .xid = xid};
  if (!q_push(l, e))
    srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory (sync)");
}

static void local_durable(struct srv *s, int64_t zxid) {
  struct srv_local *l = L(s);
  while (l->head < l->n) {
    struct local_entry *e = &l->q[l->head];
    if (e->zxid == 0) {
      struct srv_conn *c = srv_map_get(&s->conn_by_id, e->conn_id);
      l->head++;
      if (c != NULL && srv_order_waits_for(c, SRV_WAIT_SYNC, e->xid))
        srv_commit_sync_done(c);
      continue;
    }
    if (e->zxid > zxid)
      break;
    l->head++;
    srv_commit(s, e->zxid, e->data, e->len);
    tree_pending_applied(l->tpend, e->zxid);
    free(e->data);
    l->committed++;
  }
  if (l->head == l->n)
    l->head = l->n = 0;
}

static void local_touch(struct srv *s, int64_t session_id) {
  (void)s;
  (void)session_id;
}

static void local_tick(struct srv *s) { (void)s; }

static bool local_serving(const struct srv *s) {
  (void)s;
  return true;
}

/* A standalone server is never read-only (ZooKeeper's neither). */
static bool local_read_only(const struct srv *s) {
  (void)s;
  return false;
}

static const char *local_admit(const struct srv *s, int64_t session_id,
                               bool can_ro) {
  (void)s, (void)session_id, (void)can_ro;
  return NULL;
}

static const char *local_mode(const struct srv *s) {
  (void)s;
  return "standalone";
}

static void local_mntr(const struct srv *s, struct proto_writer *w) {
  const struct srv_local *l = L(s);
  char b[256];
  int n = snprintf(b, sizeof b,
                   "roost_txns_in_flight\t%zu\n"
                   "roost_pending_change_records\t%zu\n",
                   queued(l), tree_pending_count(l->tpend));
  if (n > 0)
    proto_write_raw(w, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
}

static void local_conn_gone(struct srv_conn *c) { (void)c; }

static void local_flush(struct srv *s) { (void)s; }

static void local_stop(struct srv *s) { (void)s; }

static void local_free(struct srv *s) {
  struct srv_local *l = L(s);
  if (l == NULL)
    return;
  for (size_t i = l->head; i < l->n; i++)
    free(l->q[i].data);
  free(l->q);
  tree_pending_free(l->tpend);
  proto_writer_free(&l->txn);
  free(l);
  s->rep_state = NULL;
}

static const struct srv_replica local_replica = {
    .name = "local",
    .sync_on_loop = true,
    .write = local_write,
    .create_session = local_create_session,
    .close_session = local_close_session,
    .expire = local_expire,
    .reap = local_reap,
    .sync = local_sync,
    .touch = local_touch,
    .tick = local_tick,
    .durable = local_durable,
    .serving = local_serving,
    .read_only = local_read_only,
    .admit = local_admit,
    .mode = local_mode,
    .mntr = local_mntr,
    .conn_gone = local_conn_gone,
    .flush = local_flush,
    .stop = local_stop,
    .free = local_free,
};

int srv_local_open(struct srv *s, char *errmsg) {
  struct srv_local *l = calloc(1, sizeof *l);
  if (l == NULL || (l->tpend = tree_pending_new(s->tree)) == NULL) {
    free(l);
    snprintf(errmsg, SRV_ERRMSG_MAX, "out of memory");
    return -1;
  }
  l->s = s;
  proto_writer_init(&l->txn);
  l->last_staged = tree_last_zxid(s->tree);
  s->rep = &local_replica;
  s->rep_state = l;
  return 0;
}
