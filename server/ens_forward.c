/* ens_forward.c — the replica's requests (replica.h): forward to the leader, or
 * queue them when this member leads. */
#include "server/ens_int.h"

/* ------------------------------------------------------------------ */
/* client side: forward to the leader, or queue locally */

static bool forward(struct srv_ens *e, const struct ens_req *r) {
  if (e->role == ZAB_ROLE_LEADING) {
    struct ens_req q = *r;
    /* queue_push takes ownership: copy what the caller owns */
    q.payload = NULL;
    q.ids = NULL;
    q.n_ids = 0;
    if (r->len) {
      q.payload = malloc(r->len);
      if (q.payload == NULL)
        return false;
      memcpy(q.payload, r->payload, r->len);
    }
    q.ids = calloc(r->n_ids + 1, sizeof *q.ids);
    if (q.ids == NULL) {
      free(q.payload);
      return false;
    }
    for (size_t i = 0; i < r->n_ids; i++) {
      q.ids[i].scheme = strdup(r->ids[i].scheme);
      q.ids[i].id = strdup(r->ids[i].id);
      q.n_ids++;
      if (q.ids[i].scheme == NULL || q.ids[i].id == NULL) {
        ens_req_free(&q);
        return false;
      }
    }
    ens_queue_push(e, &q);
    return true;
  }
  struct ens_peer *p = ens_peer_of(e, e->leader);
  if (p == NULL || !p->up)
    return false;
  struct proto_writer *w = &e->w;
  proto_writer_reset(w);
  proto_write_int(w, r->kind);
  proto_write_long(w, r->session);
  proto_write_int(w, r->cxid);
  proto_write_int(w, r->timeout_ms);
  proto_write_int(w, (int32_t)r->n_ids);
  for (size_t i = 0; i < r->n_ids; i++) {
    proto_write_buffer(w, (const uint8_t *)r->ids[i].scheme,
                       (int32_t)strlen(r->ids[i].scheme));
    proto_write_buffer(w, (const uint8_t *)r->ids[i].id,
                       (int32_t)strlen(r->ids[i].id));
  }
  proto_write_buffer(w, r->payload, r->payload ? (int32_t)r->len : -1);
  if (proto_writer_err(w) != PROTO_OK)
    return false;
  e->forwarded++;
  return ens_peer_send(p, ENS_K_FWD, w->buf, w->len);
}

/* Issue 14: a write is taken only by a member that can see it through --
 * a leader that heard a quorum lately, a follower whose leader both speaks
 * and hears it (zab_status.healthy).  Otherwise the connection is closed
 * before the request is accepted (ConnectionLoss, as ZooKeeper does), so
 * that the client moves on now instead of when the request fails. */
static bool refuse_unhealthy(struct srv_conn *c) {
  struct srv_ens *e = c->srv->rep_state;
  struct zab_status st;
  zab_status_get(e->zab, &st);
  if (st.healthy)
    return false;
  srv_conn_close(c, false, SRV_LOG_INFO,
                 "write refused: not a healthy %s (leader %u out of reach "
                 "or without a quorum)",
                 c->srv->rep->mode(c->srv), e->leader);
  return true;
}

void ens_write(struct srv_conn *c, const struct proto_request *req,
               const uint8_t *payload, size_t len, uint64_t start_ns) {
  struct srv_ens *e = c->srv->rep_state;
  int32_t xid = req->hdr.xid;
  struct ens_req r = {.origin = e->my_id,
                      .kind = ENS_REQ_WRITE,
                      .session = c->session->id,
                      .cxid = xid,
                      .payload = (uint8_t *)payload,
                      .len = len,
                      .ids = c->ids,
                      .n_ids = c->n_ids};
  if (e->read_only) { /* ens_ro.c */
    srv_answer_error(c, xid, PROTO_NOTREADONLY, start_ns);
    return;
  }
  if (refuse_unhealthy(c))
    return;
  if (!srv_order_push_write(c, xid, 0, start_ns)) {
    srv_conn_close(c, false, SRV_LOG_WARN, "out of memory for a write");
    return;
  }
  if (!forward(e, &r))
    srv_conn_close(c, false, SRV_LOG_INFO, "no leader to forward a write to");
}

void ens_close_session(struct srv_conn *c, int32_t xid) {
  struct srv_ens *e = c->srv->rep_state;
  struct ens_req r = {.origin = e->my_id,
                      .kind = ENS_REQ_CLOSE,
                      .session = c->session->id,
                      .cxid = xid};
  if (e->read_only) { /* ens_ro.c: only read-only sessions get in */
    if (c->session->read_only)
      srv_commit_local_end(c->srv, c->session, "closed");
    else
      srv_commit_fail(c->srv, SRV_WAIT_CLOSE, r.session, xid,
                      PROTO_NOTREADONLY);
    return;
  }
  if (refuse_unhealthy(c))
    return;
  if (!forward(e, &r))
    srv_conn_close(c, false, SRV_LOG_INFO, "no leader to close a session");
}

bool ens_create_session(struct srv_conn *c, int64_t id, int32_t timeout_ms) {
  struct srv_ens *e = c->srv->rep_state;
  if (e->read_only)
    return ens_ro_create_session(c, id, timeout_ms);
  struct zab_status st;
  zab_status_get(e->zab, &st);
  if (!st.healthy)
    return false; /* refused at once, as writes are (refuse_unhealthy) */
  uint8_t passwd[PROTO_PASSWD_LEN];
  srv_session_new_password(c->srv, id, passwd);
  struct ens_req r = {.origin = e->my_id,
                      .kind = ENS_REQ_CREATE,
                      .session = id,
                      .timeout_ms = timeout_ms,
                      .payload = passwd,
                      .len = sizeof passwd};
  return forward(e, &r);
}

void ens_sync(struct srv_conn *c, int32_t xid) {
  struct srv_ens *e = c->srv->rep_state;
  (void)xid;
  if (e->read_only) { /* ens_ro.c */
    srv_commit_sync_refused(c, PROTO_NOTREADONLY);
    return;
  }
  e->n_sync_waiting++;
  c->order.sync_round = 0;
  if (e->role == ZAB_ROLE_LEADING) {
    /* Everything committed is applied here already, but answer only once
     * a quorum confirmed (after now) that we still lead. */
    c->order.sync_round = e->confirm_issued + 1;
    e->confirm_wanted = true;
    ens_step(e, NULL);
    return;
  }
#ifdef ROOST_TEST_HOOKS
  /* A planted bug for the linearizability run to catch (test builds only,
   * ROOST_TEST_PLANT=sync-local): a follower answers a sync from its own
   * state without asking the leader, so sync + read can be stale. */
  const char *plant = getenv("ROOST_TEST_PLANT");
  if (plant != NULL && strcmp(plant, "sync-local") == 0) {
    c->order.sync_zxid = 0;
    ens_sync_check(e);
    return;
  }
#endif
  struct ens_peer *p = ens_peer_of(e, e->leader);
  uint8_t b[8];
  proto_store_be32(b, (uint32_t)(c->id >> 32));
  proto_store_be32(b + 4, (uint32_t)c->id);
  if (p == NULL || !ens_peer_send(p, ENS_K_SYNC, b, sizeof b)) {
    e->n_sync_waiting--;
    srv_conn_close(c, false, SRV_LOG_INFO, "no leader to sync with");
  }
}

void ens_conn_gone(struct srv_conn *c) {
  struct srv_ens *e = c->srv->rep_state;
  if (c->order.wait == SRV_WAIT_SYNC && e->n_sync_waiting > 0)
    e->n_sync_waiting--;
}

void ens_touch(struct srv *s, int64_t session_id) {
  struct srv_ens *e = s->rep_state;
  /* Read-only: every session here is this member's own (ens_ro.c). */
  if (e->role != ZAB_ROLE_LEADING && session_id != 0 && !e->read_only)
    srv_map_put(&e->touched, (uint64_t)session_id, (void *)1);
}

void ens_expire(struct srv *s, struct srv_session *sess) {
  struct srv_ens *e = s->rep_state;
  if (sess->read_only) { /* ens_ro.c: this member's own, no txn */
    srv_commit_local_end(s, sess, "expired");
    return;
  }
  /* Keep it out of the heap's head either way; a leader re-checks it
   * when the closeSession commits (it is removed then). */
  srv_session_touch(s, sess);
  if (e->role != ZAB_ROLE_LEADING || !e->serving || sess->closing)
    return;
  sess->closing = true;
  srv_log(s, SRV_LOG_INFO,
          "session 0x%" PRIx64 " expired (timeout %" PRId32
          " ms): proposing closeSession",
          (uint64_t)sess->id, sess->timeout_ms);
  if (sess->conn != NULL)
    srv_conn_close(sess->conn, false, SRV_LOG_INFO,
                   "session 0x%" PRIx64 " expired", (uint64_t)sess->id);
  struct ens_req r = {.origin = e->my_id,
                      .kind = ENS_REQ_CLOSE,
                      .session = sess->id,
                      .cxid = 0};
  forward(e, &r);
}

void ens_reap(struct srv *s, const char *path, size_t len) {
  struct srv_ens *e = s->rep_state;
  if (e->role != ZAB_ROLE_LEADING || !e->serving)
    return;
  struct ens_req r = {.origin = e->my_id, .kind = ENS_REQ_REAP};
  r.payload = malloc(len ? len : 1);
  if (r.payload == NULL)
    return;
  memcpy(r.payload, path, len);
  r.len = len;
  srv_log(s, SRV_LOG_DEBUG, "proposing deleteContainer of %.*s", (int)len,
          path);
  ens_queue_push(e, &r);
}

void ens_tick(struct srv *s) { ens_send_touches(s->rep_state); }

void ens_durable(struct srv *s, int64_t zxid) {
  struct zab_event ev = {.type = ZAB_EV_DURABLE,
                         .durable = {.zxid = (uint64_t)zxid}};
  ens_step(s->rep_state, &ev);
}
