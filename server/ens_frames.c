/* ens_frames.c — frames from the other members (incoming links): HELLO,
 * then ZAB messages for the driver, FWD requests for the leader's queue,
 * FAIL answers, TOUCH, SYNC and SYNCED. */
#include "server/ens_int.h"

/* ------------------------------------------------------------------ */
/* incoming frames */

static void on_zab_frame(struct srv_ens *e, uint32_t from, const uint8_t *b,
                         size_t n, struct ens_tcp *t) {
  struct zab_msg m;
  const char *why = NULL;
  if (zab_msg_decode(b, n, ENS_MAX_FRAME, &m, &why) != ZAB_OK) {
    char r[128];
    snprintf(r, sizeof r, "bad zab message: %s", why ? why : "?");
    ens_tcp_drop(t, r);
    return;
  }
  struct zab_event ev = {.type = ZAB_EV_MESSAGE,
                         .message = {.from = from, .msg = &m}};
  ens_step(e, &ev);
}

static char *slice_dup(struct proto_slice sl) {
  size_t n = sl.len > 0 ? (size_t)sl.len : 0;
  char *p = malloc(n + 1);
  if (p == NULL)
    return NULL;
  if (n)
    memcpy(p, sl.ptr, n);
  p[n] = 0;
  return p;
}

/* Takes ownership of *r (freed on failure too). */
void ens_queue_push(struct srv_ens *e, struct ens_req *r) {
  if (e->role != ZAB_ROLE_LEADING || !e->serving || e->q_len == ENS_MAX_QUEUE) {
    ens_send_fail(e, r, PROTO_CONNECTIONLOSS);
    ens_req_free(r);
    return;
  }
  e->queue[(e->q_head + e->q_len) % ENS_MAX_QUEUE] = *r;
  e->q_len++;
  ens_step(e, NULL); /* prep and propose it unless a step is running */
}

static void on_fwd(struct srv_ens *e, uint32_t from, const uint8_t *b, size_t n,
                   struct ens_tcp *t) {
  struct proto_reader rd;
  proto_reader_init(&rd, b, n, ENS_MAX_FRAME);
  struct ens_req r;
  memset(&r, 0, sizeof r);
  r.origin = from;
  r.kind = proto_read_int(&rd);
  r.session = proto_read_long(&rd);
  r.cxid = proto_read_int(&rd);
  r.timeout_ms = proto_read_int(&rd);
  int32_t nids = proto_read_int(&rd);
  if (proto_reader_err(&rd) != PROTO_OK || nids < 0 ||
      nids > SRV_MAX_IDENTITIES || r.kind < 0 || r.kind > ENS_REQ_CLOSE) {
    ens_tcp_drop(t, "malformed FWD frame");
    return;
  }
  r.ids = calloc((size_t)nids + 1, sizeof *r.ids);
  bool oom = r.ids == NULL;
  for (int32_t i = 0; !oom && i < nids; i++) {
    struct proto_slice sc = proto_read_buffer(&rd);
    struct proto_slice id = proto_read_buffer(&rd);
    if (proto_reader_err(&rd) != PROTO_OK)
      break;
    r.ids[i].scheme = slice_dup(sc);
    r.ids[i].id = slice_dup(id);
    r.n_ids++;
    oom = r.ids[i].scheme == NULL || r.ids[i].id == NULL;
  }
  struct proto_slice pl = proto_read_buffer(&rd);
  if (!oom && proto_reader_err(&rd) == PROTO_OK && pl.len > 0) {
    r.payload = malloc((size_t)pl.len);
    oom = r.payload == NULL;
    if (!oom) {
      memcpy(r.payload, pl.ptr, (size_t)pl.len);
      r.len = (size_t)pl.len;
    }
  }
  if (proto_reader_err(&rd) != PROTO_OK || proto_reader_remaining(&rd) != 0) {
    ens_req_free(&r);
    ens_tcp_drop(t, "malformed FWD frame");
    return;
  }
  if (oom) {
    ens_send_fail(e, &r, PROTO_SYSTEMERROR);
    ens_req_free(&r);
    return;
  }
  ens_queue_push(e, &r);
}

static void on_fail(struct srv_ens *e, const uint8_t *b, size_t n,
                    struct ens_tcp *t) {
  struct proto_reader rd;
  proto_reader_init(&rd, b, n, 0);
  int32_t kind = proto_read_int(&rd);
  int64_t session = proto_read_long(&rd);
  int32_t cxid = proto_read_int(&rd);
  int32_t err = proto_read_int(&rd);
  if (proto_reader_err(&rd) != PROTO_OK) {
    ens_tcp_drop(t, "malformed FAIL frame");
    return;
  }
  ens_conn_fail(e->s, session, kind, cxid, err);
}

static void on_touch(struct srv_ens *e, const uint8_t *b, size_t n,
                     struct ens_tcp *t) {
  if (n % 8 != 0) {
    ens_tcp_drop(t, "malformed TOUCH frame");
    return;
  }
  if (e->role != ZAB_ROLE_LEADING)
    return;
  for (size_t i = 0; i < n; i += 8) {
    int64_t id = (int64_t)((uint64_t)proto_load_be32(b + i) << 32 |
                           proto_load_be32(b + i + 4));
    struct srv_session *sess = srv_session_get(e->s, id);
    if (sess != NULL)
      srv_session_touch(e->s, sess);
  }
}

static void on_sync(struct srv_ens *e, uint32_t from, const uint8_t *b,
                    size_t n, struct ens_tcp *t) {
  if (n != 8) {
    ens_tcp_drop(t, "malformed SYNC frame");
    return;
  }
  /* Not (or no longer) the serving leader: no answer; the follower drops
   * its clients when it learns who leads. */
  if (e->role != ZAB_ROLE_LEADING || !e->serving)
    return;
  if (e->n_fsyncs == e->cap_fsyncs) {
    size_t nc = e->cap_fsyncs ? 2 * e->cap_fsyncs : 16;
    struct ens_fsync *v = realloc(e->fsyncs, nc * sizeof *v);
    if (v == NULL)
      return; /* the follower's client times out and retries */
    e->fsyncs = v;
    e->cap_fsyncs = nc;
  }
  struct ens_fsync *f = &e->fsyncs[e->n_fsyncs++];
  f->from = from;
  memcpy(f->cid, b, 8);
  f->round = e->confirm_issued + 1;
  e->confirm_wanted = true;
  ens_step(e, NULL);
}

static void on_synced(struct srv_ens *e, const uint8_t *b, size_t n,
                      struct ens_tcp *t) {
  if (n != 16) {
    ens_tcp_drop(t, "malformed SYNCED frame");
    return;
  }
  uint64_t cid = (uint64_t)proto_load_be32(b) << 32 | proto_load_be32(b + 4);
  int64_t z = (int64_t)((uint64_t)proto_load_be32(b + 8) << 32 |
                        proto_load_be32(b + 12));
  struct srv_conn *c = srv_map_get(&e->s->conn_by_id, cid);
  if (c == NULL || c->order.wait != SRV_WAIT_SYNC || c->order.sync_zxid >= 0)
    return;
  c->order.sync_zxid = z;
  ens_sync_check(e);
}

/* A server we do not know said HELLO with its quorum port: with
 * reconfiguration it may be a joiner (ZooKeeper's joiners connect to the
 * leader before a change names them), so dial it back at the address it
 * came from; zab decides what it may do (a non-voting learner).  A member
 * we know that says another quorum port, while our link to it is down,
 * was restarted on new ports under its id: dial it there (only the link
 * moves; its role is kept), else it could not catch up before the change
 * that names its new addresses, and a change moving a quorum of the
 * members could never commit.  While the configured address works (a
 * port forward in front of the member) it is kept. */
static void join_hello(struct ens_tcp *t, uint32_t id, uint16_t port) {
  struct sockaddr_storage ss;
  int n = sizeof ss;
  char host[INET6_ADDRSTRLEN] = "";
  if (port == 0 || uv_tcp_getpeername(&t->h, (struct sockaddr *)&ss, &n) != 0)
    return;
  if (ss.ss_family == AF_INET)
    uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof host);
  else
    uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof host);
  struct ens_peer *p = ens_peer_of(t->e, id);
  if (p != NULL) {
    srv_log(t->e->s, SRV_LOG_INFO,
            "server %u says HELLO from %s:%u, not port %d: it moved", id, host,
            port, p->port);
    ens_peer_add(t->e, id, host, port, p->observer);
    return;
  }
  srv_log(t->e->s, SRV_LOG_INFO, "server %u (%s:%u) says HELLO: a joiner", id,
          host, port);
  ens_peer_add(t->e, id, host, port, false);
}

/* Incoming link: HELLO first, then frames. */
static void in_frames(struct ens_tcp *t) {
  struct srv_ens *e = t->e;
  size_t pos = 0;
  while (!t->closing) {
    size_t avail = t->in_len - pos;
    if (avail < 4)
      break;
    uint32_t n = proto_load_be32(t->in + pos);
    if (n < 1 || n > ENS_MAX_FRAME) {
      ens_tcp_drop(t, "frame length out of range");
      return;
    }
    if (avail - 4 < n)
      break;
    const uint8_t *b = t->in + pos + 5;
    uint8_t kind = t->in[pos + 4];
    size_t len = n - 1;
    pos += 4 + n;
    if (t->from == 0) {
      bool ok_len = len == 12 || len == 14;
      uint32_t id = ok_len ? proto_load_be32(b + 8) : 0;
      if (kind != ENS_K_HELLO || !ok_len || proto_load_be32(b) != ENS_MAGIC ||
          proto_load_be32(b + 4) != ENS_VERSION) {
        char r[128];
        snprintf(r, sizeof r,
                 "no valid HELLO (not a Roost peer, or peer protocol version "
                 "%u where this server speaks %u)",
                 ok_len && proto_load_be32(b) == ENS_MAGIC
                     ? proto_load_be32(b + 4)
                     : 0,
                 ENS_VERSION);
        ens_tcp_drop(t, r);
        return;
      }
      struct ens_peer *known = ens_peer_of(e, id);
      uint16_t qport = len == 14 ? proto_load_be16(b + 12) : 0;
      if (id != e->my_id && id != 0 && len == 14 &&
          e->s->cfg.reconfig_enabled &&
          (known == NULL || ((int)qport != known->port && !known->up)))
        join_hello(t, id, qport);
      if (id == e->my_id || ens_peer_of(e, id) == NULL) {
        char r[96];
        snprintf(r, sizeof r, "HELLO from unknown server id %u", id);
        ens_tcp_drop(t, r);
        return;
      }
      t->from = id;
      srv_log(e->s, SRV_LOG_INFO, "link from server %u up", id);
      ens_redial_now(ens_peer_of(e, id));
      continue;
    }
    switch (kind) {
    case ENS_K_ZAB:
      on_zab_frame(e, t->from, b, len, t);
      break;
    case ENS_K_FWD:
      on_fwd(e, t->from, b, len, t);
      break;
    case ENS_K_FAIL:
      on_fail(e, b, len, t);
      break;
    case ENS_K_TOUCH:
      on_touch(e, b, len, t);
      break;
    case ENS_K_SYNC:
      on_sync(e, t->from, b, len, t);
      break;
    case ENS_K_SYNCED:
      on_synced(e, b, len, t);
      break;
    default:
      ens_tcp_drop(t, "unknown frame kind");
      return;
    }
  }
  if (t->closing)
    return;
  if (pos > 0) {
    memmove(t->in, t->in + pos, t->in_len - pos);
    t->in_len -= pos;
  }
}

static void on_in_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  struct ens_tcp *t = st->data;
  if (n < 0) {
    ens_tcp_drop(t, n == UV_EOF ? NULL : uv_strerror((int)n));
    return;
  }
  if (n == 0)
    return;
  const char *why;
  if (t->tls == NULL)
    t->in_len += (size_t)n; /* read in place */
  else if (ens_link_tls_input(t, buf->base, (size_t)n, &why) != 0) {
    ens_tcp_drop(t, why);
    return;
  }
  in_frames(t);
  t->e->s->turn_end(t->e->s);
}

/* The address a link came from, as text (sslQuorum checks the dialler's
 * certificate against it); NULL when the socket has none (already
 * gone). */
static const char *peer_ip(const uv_tcp_t *h, char *buf, size_t cap) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(h, (struct sockaddr *)&ss, &len) != 0)
    return NULL;
  int rc = ss.ss_family == AF_INET6
               ? uv_ip6_name((const struct sockaddr_in6 *)&ss, buf, cap)
               : uv_ip4_name((const struct sockaddr_in *)&ss, buf, cap);
  return rc == 0 ? buf : NULL;
}

void ens_on_peer_connection(uv_stream_t *l, int status) {
  struct srv_ens *e = l->data;
  if (status < 0)
    return;
  struct ens_tcp *t = calloc(1, sizeof *t);
  if (t == NULL)
    return;
  t->e = e;
  uv_tcp_init(&e->s->loop, &t->h);
  t->h.data = t;
  char buf[64];
  const char *ip = NULL;
  if (uv_accept(l, (uv_stream_t *)&t->h) != 0 ||
      (ip = peer_ip(&t->h, buf, sizeof buf)) == NULL ||
      srv_tls_link_new(e->s, false, ip, &t->tls) != 0) {
    uv_close((uv_handle_t *)&t->h, ens_on_tcp_closed);
    return;
  }
  t->next = e->incoming;
  if (e->incoming)
    e->incoming->prev = t;
  e->incoming = t;
  uv_read_start((uv_stream_t *)&t->h, ens_on_alloc, on_in_read);
}
