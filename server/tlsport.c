/* tlsport.c — the secure client port: ZooKeeper's secureClientPort with
 * its ssl.* settings, side by side with the plain clientPort.
 *
 * Its listener is accepted by conn.c like the plain port's (descriptor
 * headroom, zk_connection_rejected).  A connection accepted here is an
 * ordinary struct srv_conn whose bytes
 * pass through a struct tls_conn (tls/): reads land in one ciphertext
 * buffer shared by every TLS connection (libuv calls alloc, read and the
 * read callback back to back on the loop thread) and are decrypted into
 * c->in, where conn.c frames them as usual; out.c's flush passes c->out
 * through the engine and writes the ciphertext as it writes any output
 * (one write in flight, the same back-pressure), and out.c's close frees
 * the engine.
 *
 * A handshake that fails (untrusted or expired certificate, no
 * certificate under clientAuth=need, garbage, a plain client on this
 * port) closes the connection with one WARN line naming peer and reason;
 * no session exists before the handshake completes, because frames only
 * come out of a completed one.  A handshake that stalls is cut by the
 * sessionless timeout like any connection without a ConnectRequest.
 *
 * The store files are checked once a second; a change loads a new
 * context for new connections while established ones keep theirs. */
#include "server/server_int.h"

#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLS_RELOAD_CHECK_MS 1000

struct srv_tls {
  uv_tcp_t listener;
  uv_timer_t reload;
  bool listener_open, reload_open;
  int bound_port;
  struct tls_ctx *ctx;       /* the secure client port's; NULL: none */
  struct tls_ctx *qserver;   /* sslQuorum: accepting peer links */
  struct tls_ctx *qclient;   /* sslQuorum: dialling peer links */
  struct tls_ctx *admin;     /* admin.forceHttps / portUnification */
  char rbuf[SRV_READ_CHUNK]; /* ciphertext of the read in progress */
};

static struct srv_tls *tls_get(struct srv *s, char errmsg[SRV_ERRMSG_MAX]) {
  if (s->tls == NULL)
    s->tls = calloc(1, sizeof *s->tls);
  if (s->tls == NULL)
    snprintf(errmsg, SRV_ERRMSG_MAX, "out of memory");
  return s->tls;
}

static void reload_one(struct srv *s, struct tls_ctx *ctx, const char *what) {
  char err[TLS_ERRMSG_MAX];
  int rc = ctx != NULL ? tls_ctx_reload(ctx, err) : 0;
  if (rc > 0)
    srv_log(s, SRV_LOG_INFO,
            "TLS: the %s key or trust store changed; new connections get "
            "certificate sha256 %s",
            what, tls_ctx_cert_fingerprint(ctx));
  else if (rc < 0)
    srv_log(s, SRV_LOG_WARN,
            "TLS: the changed %s stores could not be loaded (%s); still "
            "using the previous ones",
            what, err);
}

static void on_reload(uv_timer_t *t) {
  struct srv *s = t->data;
  reload_one(s, s->tls->ctx, "ssl.*");
  if (s->cfg.ssl_quorum_reload) {
    reload_one(s, s->tls->qserver, "ssl.quorum.*");
    reload_one(s, s->tls->qclient, "ssl.quorum.*");
  }
  reload_one(s, s->tls->admin, "admin (ssl.quorum.*)");
}

int srv_tls_quorum_open(struct srv *s, char errmsg[SRV_ERRMSG_MAX]) {
  if (!s->cfg.ssl_quorum || s->cfg.n_peers == 0)
    return 0;
  struct srv_tls *t = tls_get(s, errmsg);
  char err[TLS_ERRMSG_MAX];
  if (t == NULL)
    return -1;
  if (tls_ctx_new(&s->cfg.quorum_tls, TLS_ROLE_SERVER, "ssl.quorum.",
                  &t->qserver, err) != 0 ||
      tls_ctx_new(&s->cfg.quorum_tls, TLS_ROLE_CLIENT, "ssl.quorum.",
                  &t->qclient, err) != 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "sslQuorum: %.480s", err);
    return -1;
  }
  srv_log(s, SRV_LOG_INFO,
          "TLS: peer links use TLS (ssl.quorum.*, certificate sha256 %s)",
          tls_ctx_cert_fingerprint(t->qserver));
  return 0;
}

static void start_reload_timer(struct srv *s) {
  struct srv_tls *t = s->tls;
  if (t == NULL || t->reload_open)
    return;
  uv_timer_init(&s->loop, &t->reload);
  t->reload.data = s;
  t->reload_open = true;
  uv_timer_start(&t->reload, on_reload, TLS_RELOAD_CHECK_MS,
                 TLS_RELOAD_CHECK_MS);
}

/* ZooKeeper's JettyAdminServer (3.8) builds its HTTPS context from the
 * ssl.quorum.* key and trust stores alone (QuorumX509Util's property
 * names), with Jetty's protocol defaults and no client certificate
 * requested; admin.needClientAuth (3.9) requests and requires one. */
struct tls_ctx *srv_tls_admin_ctx(struct srv *s, char errmsg[SRV_ERRMSG_MAX]) {
  struct srv_tls *t = tls_get(s, errmsg);
  if (t == NULL)
    return NULL;
  if (t->admin != NULL)
    return t->admin;
  const struct tls_options *q = &s->cfg.quorum_tls;
  struct tls_options o;
  tls_options_defaults(&o);
  memcpy(o.key_store_location, q->key_store_location,
         sizeof o.key_store_location);
  memcpy(o.key_store_password, q->key_store_password,
         sizeof o.key_store_password);
  memcpy(o.key_store_type, q->key_store_type, sizeof o.key_store_type);
  memcpy(o.trust_store_location, q->trust_store_location,
         sizeof o.trust_store_location);
  memcpy(o.trust_store_password, q->trust_store_password,
         sizeof o.trust_store_password);
  memcpy(o.trust_store_type, q->trust_store_type, sizeof o.trust_store_type);
  snprintf(o.client_auth, sizeof o.client_auth, "%s",
           s->cfg.admin_need_client_auth ? "need" : "none");
  char err[TLS_ERRMSG_MAX];
  if (tls_ctx_new(&o, TLS_ROLE_SERVER, "ssl.quorum.", &t->admin, err) != 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "%.480s", err);
    return NULL;
  }
  start_reload_timer(s);
  return t->admin;
}

int srv_tls_open(struct srv *s, char errmsg[SRV_ERRMSG_MAX]) {
  const struct srv_config *cfg = &s->cfg;
  if (cfg->secure_client_port < 0 && !cfg->client_port_unification) {
    start_reload_timer(s); /* sslQuorum alone */
    return 0;
  }
  struct srv_tls *t = tls_get(s, errmsg);
  if (t == NULL)
    return -1;
  char err[TLS_ERRMSG_MAX];
  if (tls_ctx_new(&cfg->tls, TLS_ROLE_SERVER, "ssl.", &t->ctx, err) != 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "%s: %.480s",
             cfg->secure_client_port >= 0 ? "secureClientPort"
                                          : "client.portUnification",
             err);
    return -1;
  }
  if (cfg->secure_client_port < 0) {
    start_reload_timer(s);
    srv_log(s, SRV_LOG_INFO,
            "TLS: client.portUnification: TLS clients on the client port "
            "too (clientAuth=%s, certificate sha256 %s)",
            cfg->tls.client_auth[0] ? cfg->tls.client_auth : "need",
            tls_ctx_cert_fingerprint(t->ctx));
    return 0;
  }
  const char *host = cfg->secure_client_port_address[0] != '\0'
                         ? cfg->secure_client_port_address
                         : cfg->client_port_address;
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  char port[16];
  snprintf(port, sizeof port, "%d", cfg->secure_client_port);
  int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
  if (rc != 0 || res == NULL) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "secureClientPortAddress '%s': %s", host,
             rc != 0 ? gai_strerror(rc) : "no address");
    return -1;
  }
  uv_tcp_init(&s->loop, &t->listener);
  t->listener.data = s;
  t->listener_open = true;
  rc = uv_tcp_bind(&t->listener, res->ai_addr, 0);
  freeaddrinfo(res);
  /* srv.c calls srv_listen on it (conn.c accepts for both ports). */
  if (rc != 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "cannot listen on %s:%d: %s", host,
             cfg->secure_client_port, uv_strerror(rc));
    return -1;
  }
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  t->bound_port = cfg->secure_client_port;
  if (uv_tcp_getsockname(&t->listener, (struct sockaddr *)&bound, &blen) == 0) {
    if (bound.ss_family == AF_INET)
      t->bound_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    else if (bound.ss_family == AF_INET6)
      t->bound_port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
  }
  start_reload_timer(s);
  srv_log(s, SRV_LOG_INFO,
          "TLS: secure client port %s:%d (clientAuth=%s, certificate sha256 "
          "%s)",
          host, t->bound_port,
          cfg->tls.client_auth[0] ? cfg->tls.client_auth : "need",
          tls_ctx_cert_fingerprint(t->ctx));
  return 0;
}

uv_tcp_t *srv_tls_listener(struct srv *s) {
  return s->tls != NULL && s->tls->listener_open ? &s->tls->listener : NULL;
}

int srv_tls_bound_port(const struct srv *s) {
  return s->tls != NULL && s->tls->listener_open ? s->tls->bound_port : -1;
}

void srv_tls_stop(struct srv *s) {
  struct srv_tls *t = s->tls;
  if (t == NULL)
    return;
  if (t->listener_open && !uv_is_closing((uv_handle_t *)&t->listener))
    uv_close((uv_handle_t *)&t->listener, NULL);
  t->listener_open = false;
  if (t->reload_open && !uv_is_closing((uv_handle_t *)&t->reload))
    uv_close((uv_handle_t *)&t->reload, NULL);
  t->reload_open = false;
}

void srv_tls_free(struct srv *s) {
  if (s->tls == NULL)
    return;
  tls_ctx_free(s->tls->ctx);
  tls_ctx_free(s->tls->qserver);
  tls_ctx_free(s->tls->qclient);
  tls_ctx_free(s->tls->admin);
  free(s->tls);
  s->tls = NULL;
}

int srv_tls_conn_attach(struct srv_conn *c) {
  struct srv_tls *t = c->srv->tls;
  if (t == NULL || t->ctx == NULL)
    return -1;
  c->tls = tls_conn_new(t->ctx, NULL);
  return c->tls != NULL ? 0 : -1;
}

void srv_tls_alloc(struct srv_conn *c, uv_buf_t *buf) {
  *buf = uv_buf_init(c->srv->tls->rbuf, sizeof c->srv->tls->rbuf);
}

static void send_alert(struct srv_conn *c) {
  srv_tls_send_close(c->tls, (uv_stream_t *)&c->tcp);
}

/* The handshake just completed: the certificate's identity. */
static int handshake_done(struct srv_conn *c) {
  struct srv *s = c->srv;
  char dn[1024];
  int n = tls_conn_peer_dn(c->tls, dn, sizeof dn);
  if (n > 0) {
    const char *su = s->cfg.x509_super_user;
    if (!srv_conn_add_identity(c, "x509", dn) ||
        (su[0] != '\0' && strcmp(dn, su) == 0 &&
         !srv_conn_add_identity(c, "super", dn))) {
      srv_conn_close(c, false, SRV_LOG_ERROR,
                     "out of memory for its certificate identity");
      return -1;
    }
  }
  srv_log(s, SRV_LOG_DEBUG,
          "TLS connection %s:%d (id %" PRIu64 "): %s %s, client certificate %s",
          c->ip, c->port, c->id, tls_conn_protocol(c->tls),
          tls_conn_cipher(c->tls), n > 0 ? dn : "none");
  return 0;
}

int srv_tls_on_read(struct srv_conn *c, const char *data, size_t n) {
  c->srv->stats.bytes_received += (uint64_t)n;
  bool was_done = tls_conn_handshake_done(c->tls);
  if (tls_conn_feed(c->tls, data, n) != TLS_OK) {
    send_alert(c);
    srv_conn_close(c, false, SRV_LOG_WARN, "TLS handshake failed: %s",
                   tls_conn_errmsg(c->tls));
    return -1;
  }
  if (!was_done && tls_conn_handshake_done(c->tls) && handshake_done(c) != 0)
    return -1;
  /* Drain every plaintext byte: nothing may wait inside the engine while
   * the connection is throttled, since no read would come to fetch it.
   * At most one read's worth (SRV_READ_CHUNK of ciphertext) comes out. */
  for (;;) {
    if (c->in_cap - c->in_len < SRV_READ_CHUNK) {
      size_t ncap = c->in_len + SRV_READ_CHUNK;
      uint8_t *nb = realloc(c->in, ncap);
      if (nb == NULL) {
        srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory reading");
        return -1;
      }
      c->in = nb;
      c->in_cap = ncap;
    }
    ssize_t r = tls_conn_read(c->tls, c->in + c->in_len, c->in_cap - c->in_len);
    if (r > 0) {
      c->in_len += (size_t)r;
      continue;
    }
    if (r == TLS_EOF) {
      srv_conn_close(c, false, SRV_LOG_DEBUG, "client closed the TLS session");
      return -1;
    }
    if (r < 0) {
      send_alert(c);
      srv_conn_close(c, false, SRV_LOG_WARN, "TLS %s failed: %s",
                     was_done ? "read" : "handshake", tls_conn_errmsg(c->tls));
      return -1;
    }
    break;
  }
  if (tls_conn_pending_out(c->tls) > 0)
    srv_conn_mark_dirty(c); /* handshake records, session tickets */
  return 0;
}

/* ---- peer links (sslQuorum) ---- */

int srv_tls_link_new(struct srv *s, bool dial, const char *host,
                     struct tls_conn **out) {
  *out = NULL;
  if (s->tls == NULL || s->tls->qserver == NULL)
    return 0;
  *out = tls_conn_new(dial ? s->tls->qclient : s->tls->qserver, host);
  return *out != NULL ? 0 : -1;
}

int srv_tls_link_input(struct tls_conn *tls, const void *data, size_t n,
                       uint8_t **buf, size_t *len, size_t *cap,
                       const char **why) {
  if (tls_conn_feed(tls, data, n) != TLS_OK) {
    *why = tls_conn_errmsg(tls);
    return -1;
  }
  for (;;) {
    if (*cap - *len < 16384) {
      size_t ncap = *cap * 2 > *len + 16384 ? *cap * 2 : *len + 16384;
      uint8_t *nb = realloc(*buf, ncap);
      if (nb == NULL) {
        *why = "out of memory";
        return -1;
      }
      *buf = nb;
      *cap = ncap;
    }
    ssize_t r = tls_conn_read(tls, *buf + *len, *cap - *len);
    if (r == 0)
      return 0;
    if (r < 0) {
      *why = r == TLS_EOF ? "closed by peer (TLS)" : tls_conn_errmsg(tls);
      return -1;
    }
    *len += (size_t)r;
  }
}

int srv_tls_link_seal(struct tls_conn *tls, struct proto_writer *w,
                      uint8_t **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (w->len > 0 && tls_conn_write(tls, w->buf, w->len) != TLS_OK)
    return -1;
  proto_writer_reset(w);
  size_t k = tls_conn_pending_out(tls);
  if (k == 0)
    return 0;
  *out = malloc(k);
  if (*out == NULL)
    return -1;
  *n = tls_conn_take_out(tls, *out, k);
  return 0;
}
