/* ens_leader.c — the leader's queue: prep each request against the tree plus
 * the pending records and propose it, many in flight. */
#include "server/ens_int.h"

void ens_req_free(struct ens_req *r) {
  free(r->payload);
  for (size_t i = 0; i < r->n_ids; i++) {
    free((void *)r->ids[i].scheme);
    free((void *)r->ids[i].id);
  }
  free(r->ids);
  memset(r, 0, sizeof *r);
}

void ens_conn_fail(struct srv *s, int64_t session, int32_t kind, int32_t cxid,
                   int32_t err) {
  srv_commit_fail(s,
                  kind == ENS_REQ_CREATE  ? SRV_WAIT_CONNECT
                  : kind == ENS_REQ_CLOSE ? SRV_WAIT_CLOSE
                                          : SRV_WAIT_WRITE,
                  session, cxid, err);
}

/* ------------------------------------------------------------------ */
void ens_prop_time_push(struct srv_ens *e, uint64_t zxid) {
  if (e->pt_len == ENS_PROP_TIMES) {
    e->pt_head = (e->pt_head + 1) % ENS_PROP_TIMES;
    e->pt_len--;
  }
  struct ens_prop_time *p =
      &e->prop_times[(e->pt_head + e->pt_len) % ENS_PROP_TIMES];
  p->zxid = zxid;
  p->ns = uv_hrtime();
  e->pt_len++;
}

void ens_prop_time_commit(struct srv_ens *e, uint64_t zxid) {
  while (e->pt_len > 0 && e->prop_times[e->pt_head].zxid <= zxid) {
    const struct ens_prop_time *p = &e->prop_times[e->pt_head];
    if (p->zxid == zxid && e->s->metrics != NULL)
      srv_hist_add(&e->s->metrics->commit_us, (uv_hrtime() - p->ns) / 1000);
    e->pt_head = (e->pt_head + 1) % ENS_PROP_TIMES;
    e->pt_len--;
  }
}

/* leader: prep and propose (many in flight, see may_prep) */

void ens_send_fail(struct srv_ens *e, const struct ens_req *r, int32_t err) {
  e->n_fail++;
  if (r->origin == e->my_id) {
    ens_conn_fail(e->s, r->session, r->kind, r->cxid, err);
    return;
  }
  struct ens_peer *p = ens_peer_of(e, r->origin);
  if (p == NULL)
    return;
  uint8_t b[20];
  proto_store_be32(b, (uint32_t)r->kind);
  proto_store_be32(b + 4, (uint32_t)((uint64_t)r->session >> 32));
  proto_store_be32(b + 8, (uint32_t)r->session);
  proto_store_be32(b + 12, (uint32_t)r->cxid);
  proto_store_be32(b + 16, (uint32_t)err);
  ens_peer_send(p, ENS_K_FAIL, b, sizeof b);
}

/* Proposals of this leadership not applied here yet.  zab numbers them
 * with consecutive counters of the epoch (starting at 1), and commits
 * apply in zxid order. */
uint64_t ens_inflight(const struct srv_ens *e) {
  uint64_t applied = (uint64_t)tree_last_zxid(e->s->tree);
  if (e->last_proposed == 0 || applied >= e->last_proposed)
    return 0;
  uint64_t top = zab_zxid_counter(e->last_proposed);
  if (zab_zxid_epoch(applied) != zab_zxid_epoch(e->last_proposed))
    return top;
  return top - zab_zxid_counter(applied);
}

/* May the leader prep another request now?  Prep reads the tree plus the
 * pending records, which is right only when the tree holds every txn in
 * zab's log that is not one of ours in flight: after an election zab
 * commits the whole history before it reports serving, so this holds;
 * it is checked all the same, and prepping waits if it does not. */
static bool may_prep(struct srv_ens *e, const struct zab_status *st) {
  if (e->tpend_stale) {
    if (ens_inflight(e) != 0)
      return false;
    tree_pending_clear(e->tpend);
    e->tpend_stale = false;
    e->last_proposed = 0;
  }
  uint64_t top = e->last_proposed != 0 ? e->last_proposed
                                       : (uint64_t)tree_last_zxid(e->s->tree);
  return st->last_zxid == top && ens_inflight(e) < ENS_MAX_INFLIGHT &&
         e->pend_bytes < ENS_MAX_INFLIGHT_BYTES;
}

/* The txn of request r at header h into s->txn, through the pending
 * records.  PROTO_OK or the error to send back. */
static int prep_req(struct srv_ens *e, const struct ens_req *r,
                    struct tree_txn_header *h) {
  struct srv *s = e->s;
  if (r->kind == ENS_REQ_CREATE) {
    /* The origin chose the password; it travels in the payload. */
    if (r->len != PROTO_PASSWD_LEN)
      return PROTO_MARSHALLINGERROR;
    h->type = PROTO_OP_CREATESESSION;
    return tree_prep_create_session(s->tree, e->tpend, h, r->timeout_ms,
                                    r->payload, &e->txn);
  }
  if (r->kind == ENS_REQ_CLOSE) {
    h->type = PROTO_OP_CLOSESESSION;
    return tree_prep_close_session(s->tree, e->tpend, h, &e->txn);
  }
  struct proto_request req;
  int rc;
  if (r->kind == ENS_REQ_REAP) {
    memset(&req, 0, sizeof req);
    req.hdr.type = PROTO_OP_DELETECONTAINER;
    req.u.path.path.ptr = r->payload;
    req.u.path.path.len = (int32_t)r->len;
    rc = PROTO_OK;
  } else {
    rc = proto_request_decode(r->payload, r->len,
                              2 * (size_t)s->cfg.jute_max_buffer, &req);
  }
  if (rc != PROTO_OK)
    return rc;
  if (req.hdr.type == PROTO_OP_RECONFIG) {
    struct tree_auth auth = {.ids = r->ids, .n_ids = r->n_ids};
    h->type = PROTO_OP_RECONFIG;
    return ens_reconfig_prep(e, &req, &auth, h, &e->txn);
  }
  struct tree_prep_ctx ctx = {
      .session_id = h->session_id,
      .cxid = h->cxid,
      .zxid = h->zxid,
      .time_ms = h->time_ms,
      .auth = {.ids = r->ids, .n_ids = r->n_ids},
  };
  return tree_prep_pending(s->tree, e->tpend, &ctx, &req, &e->txn);
}

/* Leader: prep the next queued request against the tree plus the pending
 * records and propose it, without waiting for earlier proposals to
 * commit.  Runs inside ens_step.  Returns true when it took a request. */
bool ens_pump_one(struct srv_ens *e) {
  struct srv *s = e->s;
  if (e->role != ZAB_ROLE_LEADING || !e->serving || e->q_len == 0)
    return false;
  struct zab_status st;
  zab_status_get(e->zab, &st);
  if (!may_prep(e, &st))
    return false;
  struct ens_req r = e->queue[e->q_head];
  e->q_head = (e->q_head + 1) % ENS_MAX_QUEUE;
  e->q_len--;
  uint64_t zxid = zab_zxid_epoch(st.last_zxid) == st.epoch
                      ? st.last_zxid + 1
                      : zab_zxid(st.epoch, 1);
  proto_writer_reset(&e->txn);
  struct tree_txn_header h = {.session_id = r.session,
                              .cxid = r.cxid,
                              .zxid = (int64_t)zxid,
                              .time_ms = srv_wall_ms()};
  int rc = prep_req(e, &r, &h);
  if (rc == PROTO_OK && proto_writer_err(&e->txn) != PROTO_OK) {
    rc = PROTO_SYSTEMERROR;
    e->tpend_stale = true; /* recorded, but it will not be proposed */
  }
  if (rc == PROTO_OK) {
    uint64_t got = 0;
    struct zab_event ev = {.type = ZAB_EV_PROPOSE,
                           .now_ms = ens_now_ms(e),
                           .propose = {.data = e->txn.buf,
                                       .len = (uint32_t)e->txn.len,
                                       .zxid_out = &got}};
    int zr = zab_step(e->zab, &ev);
    if (zr == ZAB_OK && got != zxid) {
      srv_log(s, SRV_LOG_ERROR,
              "zab assigned 0x%" PRIx64 ", prepped for 0x%" PRIx64, got, zxid);
      abort();
    }
    if (zr == ZAB_OK) {
      e->proposed++;
      e->last_proposed = got;
      ens_prop_time_push(e, got);
    } else {
      e->tpend_stale = true;
    }
    /* ens_step drains what the proposal made zab do (a consistent
     * prefix, zab.h), then leaves and reloads zab (ens_disk.c). */
    if (zr == ZAB_ENOMEM) {
      e->zab_dead = true;
      ens_fault(e, "zab out of memory");
    }
    if (zr != ZAB_OK) {
      srv_log(s, SRV_LOG_WARN, "propose failed: %s", zab_strerror(zr));
      /* a reconfiguration zab refused: ZooKeeper's answers */
      rc = zr == ZAB_RECONFIG_BUSY ? PROTO_RECONFIGINPROGRESS
           : zr == ZAB_NOQUORUM    ? PROTO_NEWCONFIGNOQUORUM
           : zr == ZAB_BADCONFIG   ? PROTO_BADARGUMENTS
                                   : PROTO_CONNECTIONLOSS;
    }
  }
  if (rc != PROTO_OK)
    ens_send_fail(e, &r,
                  rc == PROTO_UNIMPLEMENTED || rc == PROTO_CONNECTIONLOSS ||
                          rc == PROTO_RECONFIGINPROGRESS ||
                          rc == PROTO_NEWCONFIGNOQUORUM ||
                          rc == PROTO_BADARGUMENTS || rc == PROTO_NOAUTH ||
                          rc == PROTO_BADVERSION
                      ? rc
                      : PROTO_SYSTEMERROR);
  ens_req_free(&r);
  return true;
}
