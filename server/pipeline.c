/* pipeline.c — the handshake and the request pipeline of a standalone
 * server (an ensemble of one, DESIGN.md):
 *
 *   frame -> decode -> touch session -> handler
 *   write:  tree_prep (zxid = last + 1) -> log (write(2)) -> tree_apply
 *           -> events + reply, held until the zxid is fsynced (persist.c)
 *   read:   tree_* read -> reply (zxid = last applied), queued behind
 *           anything held on the same connection
 *
 * Everything runs to completion before the next frame of any connection is
 * looked at, so a session's requests take effect and are answered in the
 * order they were sent, and watch events caused by a transaction are queued
 * on every connection before the reply to that transaction (§3.5).
 *
 * Opcodes are dispatched through one table (SRV_OP_MAP); a new opcode is a
 * line there plus its handler. */
#include "server/server_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- reply helpers ---- */

/* Starts a reply frame on c: length placeholder + ReplyHeader.  Returns the
 * frame mark for reply_end. */
static size_t reply_begin(struct srv_conn *c, int32_t xid, int64_t zxid,
                          int32_t err) {
  size_t mark = proto_frame_begin(&c->out);
  struct proto_reply_header h = {.xid = xid, .zxid = zxid, .err = err};
  proto_write_reply_header(&c->out, &h);
  return mark;
}

static void patch_be32(struct proto_writer *w, size_t pos, int32_t v) {
  if (proto_writer_err(w) != PROTO_OK || pos + 4 > w->len)
    return;
  uint32_t u = (uint32_t)v;
  w->buf[pos] = (uint8_t)(u >> 24);
  w->buf[pos + 1] = (uint8_t)(u >> 16);
  w->buf[pos + 2] = (uint8_t)(u >> 8);
  w->buf[pos + 3] = (uint8_t)u;
}

/* Reads write their body straight into the output after a header that
 * says OK; on error they write nothing and the header's err is patched
 * (offset: 4-byte frame length, then xid 4 + zxid 8). */
static void reply_set_err(struct srv_conn *c, size_t mark, int32_t err) {
  patch_be32(&c->out, mark + 4 + 12, err);
}

static void reply_end(struct srv_conn *c, size_t mark, int64_t zxid,
                      uint64_t start_ns) {
  struct srv *s = c->srv;
  proto_frame_end(&c->out, mark);
  int64_t size = (int64_t)(c->out.len - mark);
  s->stats.last_resp_size = size;
  if (s->stats.min_resp_size < 0 || size < s->stats.min_resp_size)
    s->stats.min_resp_size = size;
  if (size > s->stats.max_resp_size)
    s->stats.max_resp_size = size;
  s->stats.packets_sent++;
  c->sent++;
  c->last_zxid = zxid;
  c->last_resp_wall_ms = srv_wall_ms();
  if (start_ns != 0) {
    uint64_t us = (uv_hrtime() - start_ns) / 1000u;
    c->lat_last_us = us;
    if (us < c->lat_min_us)
      c->lat_min_us = us;
    if (us > c->lat_max_us)
      c->lat_max_us = us;
    c->lat_sum_us += us;
    c->lat_count++;
    if (s->stats.lat_count == 0 || us < s->stats.lat_min_us)
      s->stats.lat_min_us = us;
    if (us > s->stats.lat_max_us)
      s->stats.lat_max_us = us;
    s->stats.lat_sum_us += us;
    s->stats.lat_count++;
    srv_hist_add(&s->metrics->request_us[srv_metric_op_index(c->last_op)], us);
  }
  srv_conn_mark_dirty(c);
}

static void reply_simple(struct srv_conn *c, int32_t xid, int64_t zxid,
                         int32_t err, uint64_t start_ns) {
  size_t mark = reply_begin(c, xid, zxid, err);
  reply_end(c, mark, zxid, start_ns);
}

static int64_t last_zxid(const struct srv *s) {
  return tree_last_zxid(s->tree);
}

static struct tree_auth conn_auth(const struct srv_conn *c) {
  struct tree_auth a = {.ids = c->ids, .n_ids = c->n_ids};
  return a;
}

/* A path slice as (pointer, length); false for a null string. */
static bool path_of(struct proto_slice p, const char **ptr, size_t *len) {
  if (p.len < 0)
    return false;
  *ptr = p.len > 0 ? (const char *)p.ptr : "";
  *len = (size_t)p.len;
  return true;
}

void srv_deliver_events(struct srv *s, const struct tree_out *out,
                        int64_t zxid) {
  for (size_t i = 0; i < out->n_events; i++) {
    const struct tree_event *ev = &out->events[i];
    struct srv_conn *w = srv_map_get(&s->conn_by_id, ev->watcher);
    if (w == NULL || w->state != SRV_CONN_OPEN)
      continue; /* its connection closed: the watch died with it */
    struct tree_auth auth = conn_auth(w);
    if (!tree_event_visible(ev, &auth))
      continue; /* no READ on the node: not even its name (CVE-2024-23944) */
    if (s->hold_zxid)
      srv_conn_hold(w, s->hold_zxid);
    proto_write_notification(&w->out, zxid, ev->type, ev->path, ev->path_len);
    w->sent++;
    s->stats.packets_sent++;
    srv_conn_mark_dirty(w);
    if (srv_conn_pending_bytes(w) > SRV_OUT_HARD_BYTES)
      srv_conn_close(w, false, SRV_LOG_WARN,
                     "more than %u bytes of unsent output (watch events); "
                     "client is not reading",
                     SRV_OUT_HARD_BYTES);
  }
}

/* ---- handshake (§2.3) ---- */

static void connect_refuse(struct srv_conn *c, bool has_read_only) {
  /* The "invalid session" answer: timeout 0, id 0, 16 zero bytes. */
  struct proto_connect_response resp;
  memset(&resp, 0, sizeof resp);
  resp.has_read_only = has_read_only;
  proto_connect_response_encode_frame(&c->out, &resp);
  c->sent++;
  c->srv->stats.packets_sent++;
  srv_conn_mark_dirty(c);
}

static bool passwd_ok(const struct srv *s, int64_t id, struct proto_slice p) {
  if (p.len != PROTO_PASSWD_LEN)
    return false;
  uint8_t want[PROTO_PASSWD_LEN];
  srv_session_password(s, id, want);
  /* Compare every byte: the time taken must not tell how many matched. */
  uint8_t diff = 0;
  for (size_t i = 0; i < PROTO_PASSWD_LEN; i++)
    diff |= (uint8_t)(want[i] ^ p.ptr[i]);
  return diff == 0;
}

static struct srv_session *session_create(struct srv_conn *c,
                                          int32_t timeout_ms) {
  struct srv *s = c->srv;
  int64_t id = srv_session_next_id(s);
  struct srv_session *sess = srv_session_add(s, id, timeout_ms);
  if (sess == NULL) {
    srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory creating session");
    return NULL;
  }
  /* createSession is a transaction: it consumes a zxid (§7.11). */
  struct tree_txn_header h = {
      .session_id = id,
      .cxid = 0,
      .zxid = last_zxid(s) + 1,
      .time_ms = srv_wall_ms(),
      .type = PROTO_OP_CREATESESSION,
  };
  uint8_t passwd[PROTO_PASSWD_LEN];
  srv_session_new_password(s, id, passwd);
  proto_writer_reset(&s->txn);
  tree_txn_encode_create_session(&s->txn, &h, timeout_ms, passwd);
  int rc = srv_txn_commit(s);
  if (rc != PROTO_OK) {
    srv_session_remove(s, sess);
    srv_conn_close(c, false, SRV_LOG_ERROR, "createSession txn failed: %s",
                   proto_strerror(rc));
    return NULL;
  }
  srv_log(s, SRV_LOG_INFO,
          "new session 0x%" PRIx64 " (timeout %" PRId32 " ms, zxid 0x%" PRIx64
          ") for %s:%d",
          (uint64_t)id, timeout_ms, (uint64_t)h.zxid, c->ip, c->port);
  return sess;
}

void srv_handle_connect(struct srv_conn *c, const uint8_t *payload,
                        size_t len) {
  struct srv *s = c->srv;
  struct proto_connect_request req;
  if (proto_connect_request_decode(payload, len, &req) != PROTO_OK) {
    srv_conn_close(c, false, SRV_LOG_WARN,
                   "malformed ConnectRequest (%zu bytes)", len);
    return;
  }
  if (!srv_ens_serving(s)) {
    /* Not synced with a leader: the client tries another server. */
    srv_conn_close(c, false, SRV_LOG_INFO,
                   "not serving clients (no leader yet)");
    return;
  }
  int64_t last = last_zxid(s);
  if (req.last_zxid_seen > last) {
    /* §2.3 step 3: the client has seen a newer state than ours; it must
     * not go back in time, so it gets no answer and tries elsewhere. */
    srv_conn_close(c, false, SRV_LOG_WARN,
                   "client has seen zxid 0x%" PRIx64
                   ", newer than our last zxid 0x%" PRIx64,
                   (uint64_t)req.last_zxid_seen, (uint64_t)last);
    return;
  }
  int32_t t = req.timeout_ms;
  if (t > s->cfg.max_session_timeout_ms)
    t = s->cfg.max_session_timeout_ms;
  if (t < s->cfg.min_session_timeout_ms)
    t = s->cfg.min_session_timeout_ms;

  struct srv_session *sess;
  if (req.session_id == 0 && s->ens != NULL) {
    /* createSession goes through the leader; the answer is sent when it
     * commits here (srv_connect_done). */
    c->ens_ro = req.has_read_only;
    if (!srv_ens_create_session(c, srv_session_next_id(s), t))
      srv_conn_close(c, false, SRV_LOG_INFO,
                     "no leader to create a session with");
    return;
  }
  if (req.session_id == 0) {
    sess = session_create(c, t);
    if (sess == NULL)
      return;
  } else {
    sess = srv_session_get(s, req.session_id);
    const char *why = NULL;
    if (sess == NULL || !tree_session_exists(s->tree, req.session_id))
      why = "unknown or expired session";
    else if (!passwd_ok(s, req.session_id, req.passwd))
      why = "wrong password";
    if (why != NULL) {
      connect_refuse(c, req.has_read_only);
      srv_conn_close(c, true, SRV_LOG_INFO,
                     "cannot resume session 0x%" PRIx64 ": %s",
                     (uint64_t)req.session_id, why);
      return;
    }
    /* Checked before kicking the old connection, unlike ZooKeeper 3.8
     * (§2.3): a wrong guess must not cost the real client its socket. */
    if (sess->conn != NULL && sess->conn != c)
      srv_conn_close(sess->conn, false, SRV_LOG_INFO,
                     "session 0x%" PRIx64 " resumed on %s:%d",
                     (uint64_t)sess->id, c->ip, c->port);
    sess->timeout_ms = t;
    srv_session_touch(s, sess);
    srv_log(s, SRV_LOG_INFO,
            "session 0x%" PRIx64 " resumed (timeout %" PRId32 " ms) by %s:%d",
            (uint64_t)sess->id, t, c->ip, c->port);
  }
  sess->conn = c;
  c->session = sess;
  c->state = SRV_CONN_OPEN;
  /* A new session's createSession must be durable before its answer. */
  if (req.session_id == 0)
    srv_conn_hold(c, last_zxid(s));

  struct proto_connect_response resp;
  memset(&resp, 0, sizeof resp);
  resp.protocol_version = 0;
  resp.timeout_ms = t;
  resp.session_id = sess->id;
  srv_session_password(s, sess->id, resp.passwd);
  resp.has_read_only = req.has_read_only;
  resp.read_only = false;
  proto_connect_response_encode_frame(&c->out, &resp);
  c->sent++;
  c->last_op = PROTO_OP_CREATESESSION;
  c->last_resp_wall_ms = srv_wall_ms();
  s->stats.packets_sent++;
  srv_conn_mark_dirty(c);
}

/* ---- answers of an ensemble member, at commit (ensemble.c) ---- */

static void ens_done(struct srv_conn *c) {
  if (c->ens_wait != SRV_ENS_WAIT_WRITE || srv_ens_write_answered(c))
    c->ens_wait = SRV_ENS_WAIT_NONE;
  srv_conn_resume(c);
}

void srv_connect_done(struct srv_conn *c, struct srv_session *sess,
                      int64_t zxid) {
  struct srv *s = c->srv;
  (void)zxid;
  if (sess->conn != NULL && sess->conn != c)
    srv_conn_close(sess->conn, false, SRV_LOG_INFO, "session moved");
  sess->conn = c;
  c->session = sess;
  c->state = SRV_CONN_OPEN;
  struct proto_connect_response resp;
  memset(&resp, 0, sizeof resp);
  resp.timeout_ms = sess->timeout_ms;
  resp.session_id = sess->id;
  srv_session_password(s, sess->id, resp.passwd);
  resp.has_read_only = c->ens_ro;
  proto_connect_response_encode_frame(&c->out, &resp);
  c->sent++;
  c->last_op = PROTO_OP_CREATESESSION;
  c->last_resp_wall_ms = srv_wall_ms();
  s->stats.packets_sent++;
  srv_conn_mark_dirty(c);
  srv_log(s, SRV_LOG_INFO, "new session 0x%" PRIx64 " for %s:%d",
          (uint64_t)sess->id, c->ip, c->port);
  ens_done(c);
}

void srv_reply_write(struct srv_conn *c, const struct tree_txn_header *h,
                     const struct tree_out *out, int64_t zxid) {
  size_t mark = reply_begin(c, h->cxid, zxid, out->err);
  if (out->err == PROTO_OK && h->type != PROTO_OP_CLOSESESSION)
    tree_reply_encode(out, &c->out);
  reply_end(c, mark, zxid, 0);
  ens_done(c);
}

void srv_reply_error(struct srv_conn *c, int32_t xid, int32_t err) {
  reply_simple(c, xid, last_zxid(c->srv), err, 0);
  ens_done(c);
}

void srv_reply_sync(struct srv_conn *c) {
  int64_t zxid = last_zxid(c->srv);
  size_t mark = reply_begin(c, (int32_t)c->ens_wait_id, zxid, PROTO_OK);
  proto_write_string(&c->out, c->ens_path ? c->ens_path : "", c->ens_path_len);
  reply_end(c, mark, zxid, 0);
  free(c->ens_path);
  c->ens_path = NULL;
  c->ens_path_len = 0;
  ens_done(c);
}

/* ---- handlers ---- */

typedef void (*op_fn)(struct srv_conn *c, const struct proto_request *req,
                      uint64_t start_ns);

/* Writes: create, create2, createContainer, createTTL, delete, setData,
 * setACL, multi.  A failed validation is still a transaction (an error
 * txn) with its own zxid. */
static void op_write(struct srv_conn *c, const struct proto_request *req,
                     uint64_t start_ns) {
  struct srv *s = c->srv;
  int32_t xid = req->hdr.xid;
  if (s->ens != NULL) {
    /* Prepped by the leader; answered at commit (srv_reply_write). */
    srv_ens_write(c, xid, s->cur_payload, s->cur_len);
    return;
  }
  if (srv_writes_blocked(s)) {
    /* The log failed (fsync error): nothing is prepped, logged or
     * applied.  -1 (SystemError): clients treat it as a failed write. */
    reply_simple(c, xid, last_zxid(s), PROTO_SYSTEMERROR, start_ns);
    return;
  }
  int64_t zxid = last_zxid(s) + 1;
  struct tree_prep_ctx ctx = {
      .session_id = c->session->id,
      .cxid = xid,
      .zxid = zxid,
      .time_ms = srv_wall_ms(),
      .auth = conn_auth(c),
  };
  proto_writer_reset(&s->txn);
  int rc = tree_prep(s->tree, &ctx, req, &s->txn);
  if (rc == PROTO_OK && proto_writer_err(&s->txn) != PROTO_OK)
    rc = PROTO_SYSTEMERROR;
  bool prepped = rc == PROTO_OK;
  if (rc == PROTO_OK)
    rc = srv_txn_commit(s); /* log, then apply */
  if (rc != PROTO_OK) {
    /* A log refusal (disk full) is logged by persist.c, once. */
    if (!prepped)
      srv_log(s, SRV_LOG_ERROR, "%s from session 0x%" PRIx64 " failed: %s",
              proto_op_name(req->hdr.type), (uint64_t)c->session->id,
              proto_strerror(rc));
    reply_simple(c, xid, last_zxid(s),
                 rc == PROTO_UNIMPLEMENTED ? PROTO_UNIMPLEMENTED
                                           : PROTO_SYSTEMERROR,
                 start_ns);
    return;
  }
  srv_deliver_events_held(s, &s->tout, zxid);
  if (c->state != SRV_CONN_OPEN)
    return; /* closed by the delivery above (output over the hard limit) */
  srv_conn_hold(c, zxid); /* the reply waits for the fsync */
  size_t mark = reply_begin(c, xid, zxid, s->tout.err);
  if (s->tout.err == PROTO_OK)
    tree_reply_encode(&s->tout, &c->out);
  reply_end(c, mark, zxid, start_ns);
}

static void op_exists(struct srv_conn *c, const struct proto_request *req,
                      uint64_t start_ns) {
  struct srv *s = c->srv;
  int64_t zxid = last_zxid(s);
  const char *p;
  size_t n;
  if (!path_of(req->u.path_watch.path, &p, &n)) {
    reply_simple(c, req->hdr.xid, zxid, PROTO_BADARGUMENTS, start_ns);
    return;
  }
  struct tree_auth auth = conn_auth(c);
  uint64_t watcher = req->u.path_watch.watch ? c->id : 0;
  size_t mark = reply_begin(c, req->hdr.xid, zxid, PROTO_OK);
  int rc;
  switch (req->hdr.type) {
  case PROTO_OP_EXISTS:
    rc = tree_exists(s->tree, p, n, watcher, &auth, &c->out);
    break;
  case PROTO_OP_GETDATA:
    rc = tree_get_data(s->tree, p, n, watcher, &auth, &c->out);
    break;
  default: /* getChildren, getChildren2 */
    rc = tree_get_children(s->tree, p, n, watcher,
                           req->hdr.type == PROTO_OP_GETCHILDREN2, &auth,
                           &c->out);
    break;
  }
  if (rc != PROTO_OK)
    reply_set_err(c, mark, rc);
  reply_end(c, mark, zxid, start_ns);
}

/* A read of one node whose body tree/ writes: getACL, getAllChildrenNumber.
 * Both take (path, identities) and share the reply handling. */
typedef int (*path_read_fn)(struct tree *t, const char *path, size_t len,
                            const struct tree_auth *auth,
                            struct proto_writer *reply);

static void op_path_read(struct srv_conn *c, const struct proto_request *req,
                         uint64_t start_ns, path_read_fn read) {
  struct srv *s = c->srv;
  int64_t zxid = last_zxid(s);
  const char *p;
  size_t n;
  if (!path_of(req->u.path.path, &p, &n)) {
    reply_simple(c, req->hdr.xid, zxid, PROTO_BADARGUMENTS, start_ns);
    return;
  }
  struct tree_auth auth = conn_auth(c);
  size_t mark = reply_begin(c, req->hdr.xid, zxid, PROTO_OK);
  int rc = read(s->tree, p, n, &auth, &c->out);
  if (rc != PROTO_OK)
    reply_set_err(c, mark, rc);
  reply_end(c, mark, zxid, start_ns);
}

/* getACL: READ or ADMIN; digest ids masked without ADMIN (tree/). */
static void op_get_acl(struct srv_conn *c, const struct proto_request *req,
                       uint64_t start_ns) {
  op_path_read(c, req, start_ns, tree_get_acl);
}

/* sync: standalone has nothing to catch up with; answered in pipeline
 * order with the path echoed (§7.11).  Never a null string (§1.2). */
static void op_sync(struct srv_conn *c, const struct proto_request *req,
                    uint64_t start_ns) {
  if (c->srv->ens != NULL) {
    /* §7.11: answered once this server has applied what the leader had
     * committed when it saw the sync (srv_reply_sync). */
    struct proto_slice p = req->u.path.path;
    size_t n = p.len > 0 ? (size_t)p.len : 0;
    free(c->ens_path);
    c->ens_path = malloc(n + 1);
    if (c->ens_path == NULL) {
      srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory (sync)");
      return;
    }
    if (n)
      memcpy(c->ens_path, p.ptr, n);
    c->ens_path_len = n;
    srv_ens_sync(c, req->hdr.xid);
    return;
  }
  int64_t zxid = last_zxid(c->srv);
  size_t mark = reply_begin(c, req->hdr.xid, zxid, PROTO_OK);
  struct proto_slice p = req->u.path.path;
  proto_write_string(&c->out, p.len > 0 ? (const char *)p.ptr : "",
                     p.len > 0 ? (size_t)p.len : 0);
  reply_end(c, mark, zxid, start_ns);
}

static void op_ping(struct srv_conn *c, const struct proto_request *req,
                    uint64_t start_ns) {
  (void)req; /* the reply xid is always -2, whatever the client sent */
  reply_simple(c, PROTO_XID_PING, last_zxid(c->srv), PROTO_OK, start_ns);
}

static void op_close_session(struct srv_conn *c,
                             const struct proto_request *req,
                             uint64_t start_ns) {
  struct srv *s = c->srv;
  int64_t sid = c->session->id;
  if (s->ens != NULL) {
    srv_ens_close_session(c, req->hdr.xid);
    return;
  }
  int64_t zxid = srv_session_close_txn(s, c->session, req->hdr.xid);
  if (zxid < 0) {
    /* Not logged (disk full): the session stays; the client may retry. */
    reply_simple(c, req->hdr.xid, last_zxid(s), PROTO_SYSTEMERROR, start_ns);
    return;
  }
  srv_conn_hold(c, zxid);
  reply_simple(c, req->hdr.xid, zxid, PROTO_OK, start_ns);
  srv_conn_close(c, true, SRV_LOG_INFO, "client closed session 0x%" PRIx64,
                 (uint64_t)sid);
}

static void op_set_watches(struct srv_conn *c, const struct proto_request *req,
                           uint64_t start_ns) {
  struct srv *s = c->srv;
  tree_out_reset(&s->tout);
  int rc = tree_set_watches(s->tree, c->id, &req->u.set_watches, &s->tout);
  /* Events fired at once go out before the reply, with zxid -1 (§7.10). */
  srv_deliver_events(s, &s->tout, -1);
  if (c->state != SRV_CONN_OPEN)
    return;
  reply_simple(c, req->hdr.xid, last_zxid(s), rc, start_ns);
}

/* check (13) alone, and opcodes a client must not send: ZooKeeper 3.8.5+
 * answers Unimplemented with zxid -1 and closes (§7.14). */
static void op_refuse(struct srv_conn *c, const struct proto_request *req,
                      uint64_t start_ns) {
  reply_simple(c, req->hdr.xid, -1, PROTO_UNIMPLEMENTED, start_ns);
  srv_conn_close(c, true, SRV_LOG_INFO, "opcode %" PRId32 " not accepted",
                 req->hdr.type);
}

static void op_reconfig(struct srv_conn *c, const struct proto_request *req,
                        uint64_t start_ns) {
  reply_simple(c, req->hdr.xid, last_zxid(c->srv), PROTO_RECONFIGDISABLED,
               start_ns);
}

/* addWatch (§7.9): never fails on a missing node; the success body is an
 * ErrorResponse with err 0. */
static void op_add_watch(struct srv_conn *c, const struct proto_request *req,
                         uint64_t start_ns) {
  struct srv *s = c->srv;
  int64_t zxid = last_zxid(s);
  const char *p;
  size_t n;
  int rc = PROTO_BADARGUMENTS;
  if (path_of(req->u.add_watch.path, &p, &n))
    rc = tree_add_watch(s->tree, p, n, c->id, req->u.add_watch.mode);
  size_t mark = reply_begin(c, req->hdr.xid, zxid, rc);
  if (rc == PROTO_OK)
    proto_write_int(&c->out, 0);
  reply_end(c, mark, zxid, start_ns);
}

/* checkWatches (17) and removeWatches (18): header only, OK or NoWatcher
 * (§5.3); the client makes the *WatchRemoved events itself. */
static void op_watches(struct srv_conn *c, const struct proto_request *req,
                       uint64_t start_ns) {
  struct srv *s = c->srv;
  const char *p;
  size_t n;
  int rc = PROTO_BADARGUMENTS;
  if (path_of(req->u.watches.path, &p, &n))
    rc = tree_remove_watches(s->tree, p, n, c->id, req->u.watches.type,
                             req->hdr.type == PROTO_OP_REMOVEWATCHES);
  reply_simple(c, req->hdr.xid, last_zxid(s), rc, start_ns);
}

/* No SASL configured: ZooKeeper 3.8.0 answers OK with a null token. */
static void op_sasl(struct srv_conn *c, const struct proto_request *req,
                    uint64_t start_ns) {
  size_t mark = reply_begin(c, req->hdr.xid, 0, PROTO_OK);
  proto_write_buffer(&c->out, NULL, -1);
  reply_end(c, mark, 0, start_ns);
}

static bool add_identity(struct srv_conn *c, const char *scheme,
                         const char *id) {
  for (size_t i = 0; i < c->n_ids; i++)
    if (strcmp(c->ids[i].scheme, scheme) == 0 && strcmp(c->ids[i].id, id) == 0)
      return true;
  if (c->n_ids == SRV_MAX_IDENTITIES)
    return false;
  char *sc = strdup(scheme);
  char *i2 = strdup(id);
  if (sc == NULL || i2 == NULL) {
    free(sc);
    free(i2);
    return false;
  }
  c->ids[c->n_ids].scheme = sc;
  c->ids[c->n_ids].id = i2;
  c->n_ids++;
  return true;
}

/* auth (100), ZooKeeper's two built-in providers (§5.5):
 *   digest: identity "user:base64(sha1(user:password))"; when it equals
 *           the configured super digest the connection also gets
 *           ("super", ""), which passes every ACL check (§7.13);
 *   ip:     always succeeds and (re)adds the peer address, as 3.8.0 does
 *           (observed: OK, the connection stays).
 * Any other scheme, or null digest credentials, fail: AuthFailed, then the
 * connection is closed (the session lives on).  Answered at once with
 * zxid 0, as the Java server does. */
static const char *auth_digest(struct srv_conn *c,
                               const struct proto_auth_req *a) {
  if (a->auth.len < 0 ||
      (a->auth.len > 0 && memchr(a->auth.ptr, 0, (size_t)a->auth.len)))
    return "null or NUL-containing credentials";
  char ident[1024];
  size_t alen = (size_t)a->auth.len;
  const char *data = alen > 0 ? (const char *)a->auth.ptr : "";
  const char *colon = memchr(data, ':', alen);
  size_t ulen = colon != NULL ? (size_t)(colon - data) : alen;
  uint8_t digest[20];
  char b64[32];
  srv_sha1(data, alen, digest);
  srv_base64(digest, sizeof digest, b64);
  if (ulen + 1 + strlen(b64) + 1 > sizeof ident)
    return "user name too long";
  memcpy(ident, data, ulen);
  ident[ulen] = ':';
  memcpy(ident + ulen + 1, b64, strlen(b64) + 1);
  const char *super = c->srv->cfg.super_digest;
  if (super[0] != '\0' && strcmp(ident, super) == 0 &&
      !add_identity(c, "super", ""))
    return "too many identities on this connection";
  if (!add_identity(c, "digest", ident))
    return "too many identities on this connection";
  return NULL;
}

static void op_auth(struct srv_conn *c, const struct proto_request *req,
                    uint64_t start_ns) {
  struct srv *s = c->srv;
  const struct proto_auth_req *a = &req->u.auth;
  const char *why;
  if (a->scheme.len == 6 && memcmp(a->scheme.ptr, "digest", 6) == 0)
    why = auth_digest(c, a);
  else if (a->scheme.len == 2 && memcmp(a->scheme.ptr, "ip", 2) == 0)
    why = add_identity(c, "ip", c->ip)
              ? NULL
              : "too many identities on this connection";
  else
    why = "scheme not supported";
  if (why == NULL) {
    reply_simple(c, req->hdr.xid, 0, PROTO_OK, start_ns);
    return;
  }
  s->stats.auth_failed++;
  reply_simple(c, req->hdr.xid, 0, PROTO_AUTHFAILED, start_ns);
  int slen = a->scheme.len > 0 ? (a->scheme.len > 32 ? 32 : a->scheme.len) : 0;
  srv_conn_close(c, true, SRV_LOG_INFO, "auth failed (scheme '%.*s'): %s", slen,
                 slen > 0 ? (const char *)a->scheme.ptr : "", why);
}

/* whoAmI: one ClientInfo per identity in the order gained: (ip, address)
 * first, then (super, "") and (digest, user).  (ZooKeeper keeps them in a
 * hash set, so its order is arbitrary; clients must not rely on one.) */
static void op_who_am_i(struct srv_conn *c, const struct proto_request *req,
                        uint64_t start_ns) {
  int64_t zxid = last_zxid(c->srv);
  size_t mark = reply_begin(c, req->hdr.xid, zxid, PROTO_OK);
  proto_write_int(&c->out, (int32_t)c->n_ids);
  for (size_t i = 0; i < c->n_ids; i++) {
    const char *sc = c->ids[i].scheme, *id = c->ids[i].id;
    size_t idlen = strlen(id);
    if (strcmp(sc, "digest") == 0) {
      const char *colon = strchr(id, ':');
      if (colon != NULL)
        idlen = (size_t)(colon - id);
    }
    proto_write_string(&c->out, sc, strlen(sc));
    proto_write_string(&c->out, id, idlen);
  }
  reply_end(c, mark, zxid, start_ns);
}

/* getEphemerals: the caller's own ephemerals under a plain string prefix;
 * null, blank or "/" means all (§5.3).  No ACL check. */
static void op_get_ephemerals(struct srv_conn *c,
                              const struct proto_request *req,
                              uint64_t start_ns) {
  struct srv *s = c->srv;
  int64_t zxid = last_zxid(s);
  struct proto_slice p = req->u.path.path;
  size_t mark = reply_begin(c, req->hdr.xid, zxid, PROTO_OK);
  int rc = tree_get_ephemerals(s->tree, c->session->id,
                               p.len > 0 ? (const char *)p.ptr : NULL,
                               p.len > 0 ? (size_t)p.len : 0, &c->out);
  if (rc != PROTO_OK)
    reply_set_err(c, mark, rc);
  reply_end(c, mark, zxid, start_ns);
}

/* getAllChildrenNumber: READ on the node, count of all its descendants. */
static void op_all_children(struct srv_conn *c, const struct proto_request *req,
                            uint64_t start_ns) {
  op_path_read(c, req, start_ns, tree_get_all_children_number);
}

/* multiRead: each sub-op on its own, no zxid, no watches (§5.4). */
static void op_multi_read(struct srv_conn *c, const struct proto_request *req,
                          uint64_t start_ns) {
  struct srv *s = c->srv;
  int64_t zxid = last_zxid(s);
  struct tree_auth auth = conn_auth(c);
  size_t mark = reply_begin(c, req->hdr.xid, zxid, PROTO_OK);
  int rc = tree_multi_read(s->tree, &req->u.multi, &auth, &c->out);
  if (rc != PROTO_OK)
    reply_set_err(c, mark, rc);
  reply_end(c, mark, zxid, start_ns);
}

/* ---- dispatch ---- */

/* X(opcode name, handler).  Opcodes not listed (notification 0,
 * createSession -10, deleteContainer 20, error -1, anything unknown) are
 * refused like check-alone: Unimplemented, then close. */
#define SRV_OP_MAP(X)                                                          \
  X(CREATE, op_write)                                                          \
  X(CREATE2, op_write)                                                         \
  X(CREATECONTAINER, op_write)                                                 \
  X(CREATETTL, op_write)                                                       \
  X(DELETE, op_write)                                                          \
  X(SETDATA, op_write)                                                         \
  X(SETACL, op_write)                                                          \
  X(MULTI, op_write)                                                           \
  X(EXISTS, op_exists)                                                         \
  X(GETDATA, op_exists)                                                        \
  X(GETCHILDREN, op_exists)                                                    \
  X(GETCHILDREN2, op_exists)                                                   \
  X(GETACL, op_get_acl)                                                        \
  X(SYNC, op_sync)                                                             \
  X(PING, op_ping)                                                             \
  X(CLOSESESSION, op_close_session)                                            \
  X(SETWATCHES, op_set_watches)                                                \
  X(SETWATCHES2, op_set_watches)                                               \
  X(CHECK, op_refuse)                                                          \
  X(RECONFIG, op_reconfig)                                                     \
  X(CHECKWATCHES, op_watches)                                                  \
  X(REMOVEWATCHES, op_watches)                                                 \
  X(ADDWATCH, op_add_watch)                                                    \
  X(SASL, op_sasl)                                                             \
  X(AUTH, op_auth)                                                             \
  X(WHOAMI, op_who_am_i)                                                       \
  X(GETEPHEMERALS, op_get_ephemerals)                                          \
  X(GETALLCHILDRENNUMBER, op_all_children)                                     \
  X(MULTIREAD, op_multi_read)

struct op_entry {
  int32_t op;
  op_fn fn;
};

static const struct op_entry op_table[] = {
#define SRV_OP_ENTRY(name, fn) {PROTO_OP_##name, fn},
    SRV_OP_MAP(SRV_OP_ENTRY)
#undef SRV_OP_ENTRY
};

static op_fn op_lookup(int32_t op) {
  for (size_t i = 0; i < sizeof op_table / sizeof op_table[0]; i++)
    if (op_table[i].op == op)
      return op_table[i].fn;
  return NULL;
}

bool srv_request_is_pipelined_write(const struct srv *s, const uint8_t *payload,
                                    size_t len) {
  struct proto_request req;
  if (len < 8 ||
      proto_request_decode(payload, len, 2 * (size_t)s->cfg.jute_max_buffer,
                           &req) != PROTO_OK)
    return false;
  return op_lookup(req.hdr.type) == op_write;
}

void srv_handle_request(struct srv_conn *c, const uint8_t *payload, size_t len,
                        uint64_t start_ns) {
  struct srv *s = c->srv;
  if (len < 8) {
    srv_conn_close(c, false, SRV_LOG_WARN,
                   "frame of %zu bytes is shorter than a RequestHeader", len);
    return;
  }
  struct proto_request req;
  size_t max_field = 2 * (size_t)s->cfg.jute_max_buffer;
  int rc = proto_request_decode(payload, len, max_field, &req);
  if (rc == PROTO_BADARGUMENTS) {
    srv_conn_close(c, false, SRV_LOG_WARN, "undecodable request header");
    return;
  }
  if (c->session == NULL) {
    /* §7.12: requests for a session that is gone are dropped unanswered. */
    srv_log(s, SRV_LOG_DEBUG, "dropping %s on %s:%d: no session",
            proto_op_name(req.hdr.type), c->ip, c->port);
    return;
  }
  srv_session_touch(s, c->session); /* every request, pings included */
  srv_ens_touch(s, c->session->id);
  s->cur_payload = payload;
  s->cur_len = len;
  c->last_op = req.hdr.type;
  c->last_cxid = req.hdr.xid;
  op_fn fn = rc == PROTO_UNIMPLEMENTED ? NULL : op_lookup(req.hdr.type);
  if (fn == NULL || fn == op_refuse) { /* whatever the body holds */
    op_refuse(c, &req, start_ns);
    return;
  }
  if (rc != PROTO_OK) {
    /* Known opcode, body does not decode: -5, the connection stays. */
    /* DEBUG: the connection stays, and a broken client could flood. */
    srv_log(s, SRV_LOG_DEBUG, "malformed %s (xid %" PRId32 ") from %s:%d",
            proto_op_name(req.hdr.type), req.hdr.xid, c->ip, c->port);
    reply_simple(c, req.hdr.xid, last_zxid(s), PROTO_MARSHALLINGERROR,
                 start_ns);
    return;
  }
  fn(c, &req, start_ns);
}
