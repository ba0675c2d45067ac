/* ens_link.c — peer links: one outgoing TCP link per other member, dialled
 * with backoff; frames of a loop turn go out in one write per link.
 *
 * sslQuorum: every link (both directions) carries TLS through tlsport.c's
 * engine (t->tls): a turn's frames are sealed into one ciphertext write,
 * what is read is decrypted in place into t->in, and the handshake's own
 * records go out as they appear.  The dialler checks the peer's host
 * against its certificate; both ends require a certificate. */
#include "server/ens_int.h"

/* ------------------------------------------------------------------ */
/* links */

void ens_on_tcp_closed(uv_handle_t *h) {
  struct ens_tcp *t = h->data;
  proto_writer_free(&t->obuf);
  free(t->in);
  tls_conn_free(t->tls);
  free(t);
}

static void retry_later(struct ens_peer *p);

void ens_tcp_drop(struct ens_tcp *t, const char *why) {
  if (t->closing)
    return;
  t->closing = true;
  struct srv_ens *e = t->e;
  if (t->peer != NULL) {
    struct ens_peer *p = t->peer;
    p->out = NULL;
    if (why != NULL)
      srv_log(e->s, SRV_LOG_INFO, "link to server %u dropped: %s", p->id, why);
    if (p->up) {
      /* Told to zab by ens_step, never from here: a send that fails
       * inside an action must not step zab again. */
      p->up = false;
      e->down_mask |= UINT64_C(1) << (size_t)(p - e->peers);
      if (!e->in_step && e->timer_open)
        uv_timer_start(&e->timer, e->wake, 0, 0);
    }
    retry_later(p);
  } else {
    if (why != NULL)
      srv_log(e->s, SRV_LOG_INFO, "link from server %u dropped: %s", t->from,
              why);
    if (t->prev)
      t->prev->next = t->next;
    else
      e->incoming = t->next;
    if (t->next)
      t->next->prev = t->prev;
  }
  if (t->tls != NULL)
    srv_tls_send_close(t->tls, (uv_stream_t *)&t->h);
  uv_close((uv_handle_t *)&t->h, ens_on_tcp_closed);
}

static void on_written(uv_write_t *req, int status) {
  struct ens_wreq *w = (struct ens_wreq *)req;
  struct ens_tcp *t = w->t;
  t->queued -= w->len;
  free(w->data);
  free(w);
  if (status < 0 && status != UV_ECANCELED)
    ens_tcp_drop(t, uv_strerror(status));
}

/* Sends one frame (kind + body) on p's outgoing link, if it is up.
 * Lost otherwise: zab recovers, forwarded requests are failed by the
 * connection close that follows a lost leader. */
bool ens_peer_send(struct ens_peer *p, uint8_t kind, const uint8_t *body,
                   size_t len) {
  struct ens_tcp *t = p->out;
  if (t == NULL || !p->up || t->closing || len + 1 > ENS_MAX_FRAME)
    return false;
  size_t waiting = t->queued + t->obuf.len;
  if (waiting > 0 && waiting + len > ENS_MAX_QUEUED) {
    ens_tcp_drop(t, "more than 64 MiB queued: peer not reading");
    return false;
  }
  uint8_t hdr[5];
  proto_store_be32(hdr, (uint32_t)(len + 1));
  hdr[4] = kind;
  proto_write_raw(&t->obuf, hdr, sizeof hdr);
  if (len)
    proto_write_raw(&t->obuf, body, len);
  if (proto_writer_err(&t->obuf) != PROTO_OK) {
    ens_tcp_drop(t, "out of memory");
    return false;
  }
  return true;
}

/* Hands one link's frames of this turn to libuv (one uv_write). */
static void link_flush(struct ens_tcp *t) {
  if (t == NULL || t->closing ||
      (t->obuf.len == 0 && (t->tls == NULL || !tls_conn_pending_out(t->tls))))
    return;
  struct ens_wreq *w = malloc(sizeof *w);
  if (w == NULL) {
    ens_tcp_drop(t, "out of memory");
    return;
  }
  w->t = t;
  if (t->tls != NULL) { /* sslQuorum: the frames go out encrypted */
    if (srv_tls_link_seal(t->tls, &t->obuf, &w->data, &w->len) != 0) {
      free(w);
      ens_tcp_drop(t, "TLS: out of memory");
      return;
    }
    if (w->data == NULL) {
      /* Frames written before the handshake completed wait inside the
       * engine (the driver may send votes before the peer's answer to
       * our ClientHello came): nothing to send yet. */
      free(w);
      return;
    }
  } else {
    w->len = t->obuf.len;
    w->data = t->obuf.buf; /* the buffer moves to the request */
    proto_writer_init(&t->obuf);
  }
  uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
  t->queued += w->len;
  int rc = uv_write(&w->req, (uv_stream_t *)&t->h, &b, 1, on_written);
  if (rc != 0) {
    t->queued -= w->len;
    free(w->data);
    free(w);
    ens_tcp_drop(t, uv_strerror(rc));
  }
}

void ens_flush(struct srv *s) {
  struct srv_ens *e = s->rep_state;
  if (e == NULL)
    return;
  for (size_t i = 0; i < e->n_peers; i++)
    link_flush(e->peers[i].out);
}

static void on_retry(uv_timer_t *h) { ens_peer_dial(h->data); }

static void retry_later(struct ens_peer *p) {
  if (p->e->stopping || !p->retry_open)
    return;
  uv_timer_start(&p->retry, on_retry, p->backoff_ms, 0);
  p->backoff_ms = p->backoff_ms * 2 > ENS_RETRY_MAX_MS ? ENS_RETRY_MAX_MS
                                                       : p->backoff_ms * 2;
}

/* The peer just dialled us, so it is up again (restarted, or the network
 * healed): dial it back now rather than when our backoff (up to
 * ENS_RETRY_MAX_MS) runs out, which would delay its rejoin by as much. */
void ens_redial_now(struct ens_peer *p) {
  if (p == NULL || p->out != NULL || !p->retry_open || p->e->stopping)
    return;
  uv_timer_stop(&p->retry);
  p->backoff_ms = ENS_RETRY_MIN_MS;
  ens_peer_dial(p);
}

void ens_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct ens_tcp *t = h->data;
  (void)suggested;
  if (t->in_cap - t->in_len < ENS_READ_CHUNK) {
    size_t nc = t->in_cap ? t->in_cap * 2 : (size_t)2 * ENS_READ_CHUNK;
    while (nc - t->in_len < ENS_READ_CHUNK)
      nc *= 2;
    uint8_t *n = realloc(t->in, nc);
    if (n == NULL) {
      *buf = uv_buf_init(NULL, 0);
      return;
    }
    t->in = n;
    t->in_cap = nc;
  }
  *buf =
      uv_buf_init((char *)t->in + t->in_len, (unsigned)(t->in_cap - t->in_len));
}

int ens_link_tls_input(struct ens_tcp *t, const char *data, size_t n,
                       const char **why) {
  if (srv_tls_link_input(t->tls, data, n, &t->in, &t->in_len, &t->in_cap,
                         why) != 0)
    return -1;
  link_flush(t); /* TLS handshake records */
  return 0;
}

/* Outgoing links carry nothing back (but TLS handshake records); reading
 * only tells us when the peer went away. */
static void on_out_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  struct ens_tcp *t = st->data;
  const char *why = NULL;
  size_t before = t->in_len;
  if (n > 0 && t->tls != NULL &&
      ens_link_tls_input(t, buf->base, (size_t)n, &why) == 0 &&
      t->in_len == before) {
    if (tls_conn_handshake_done(t->tls))
      t->peer->backoff_ms = ENS_RETRY_MIN_MS;
    return;
  }
  if (n < 0)
    ens_tcp_drop(t, n == UV_EOF ? "closed by peer" : uv_strerror((int)n));
  else if (n > 0)
    ens_tcp_drop(t, why != NULL ? why : "peer sent data on our outgoing link");
}

static void on_connected(uv_connect_t *req, int status) {
  struct ens_tcp *t = req->data;
  struct ens_peer *p = t->peer;
  if (t->closing)
    return;
  if (status < 0) {
    ens_tcp_drop(t, NULL); /* refused while the peer is down: not news */
    return;
  }
  uv_tcp_nodelay(&t->h, 1);
  if (srv_tls_link_new(p->e->s, true, p->host, &t->tls) != 0) {
    ens_tcp_drop(t, "out of memory");
    return;
  }
  if (t->tls == NULL) /* TLS: once the handshake is done (on_out_read) */
    p->backoff_ms = ENS_RETRY_MIN_MS;
  p->up = true;
  /* With reconfiguration, HELLO also names our quorum port: a member that
   * does not know us yet (we are joining) can dial us back. */
  uint8_t hello[14];
  proto_store_be32(hello, ENS_MAGIC);
  proto_store_be32(hello + 4, ENS_VERSION);
  proto_store_be32(hello + 8, p->e->my_id);
  proto_store_be16(hello + 12, (uint16_t)p->e->my_quorum_port);
  ens_peer_send(p, ENS_K_HELLO, hello, p->e->s->cfg.reconfig_enabled ? 14 : 12);
  uv_read_start((uv_stream_t *)&t->h, ens_on_alloc, on_out_read);
  srv_log(p->e->s, SRV_LOG_INFO, "link to server %u (%s:%d) up", p->id, p->host,
          p->port);
  /* Told to zab by ens_step (the driver), at once: the links never step
   * zab themselves. */
  struct srv_ens *e = p->e;
  e->up_mask |= UINT64_C(1) << (size_t)(p - e->peers);
  if (!e->in_step && e->timer_open)
    uv_timer_start(&e->timer, e->wake, 0, 0);
}

int ens_resolve(const char *host, int port, struct sockaddr_storage *ss) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  char ps[16];
  snprintf(ps, sizeof ps, "%d", port);
  if (getaddrinfo(host, ps, &hints, &res) != 0 || res == NULL)
    return -1;
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

void ens_peer_dial(struct ens_peer *p) {
  struct srv_ens *e = p->e;
  if (e->stopping || p->out != NULL)
    return;
  struct sockaddr_storage ss;
  if (ens_resolve(p->host, p->port, &ss) != 0) {
    retry_later(p);
    return;
  }
  struct ens_tcp *t = calloc(1, sizeof *t);
  if (t == NULL) {
    retry_later(p);
    return;
  }
  t->e = e;
  t->peer = p;
  uv_tcp_init(&e->s->loop, &t->h);
  t->h.data = t;
  t->creq.data = t;
  p->out = t;
  int rc =
      uv_tcp_connect(&t->creq, &t->h, (struct sockaddr *)&ss, on_connected);
  if (rc != 0)
    ens_tcp_drop(t, uv_strerror(rc));
}
