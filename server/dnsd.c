/* dnsd.c — the DNS interface's sockets on the server's loop (dns.port):
 * one UDP socket and one TCP listener on dns.address, answering from this
 * member's own tree through dns/ (docs/dns.md).  Nothing here decides
 * anything about DNS; it moves bytes and bounds resources.
 *
 * TCP (RFC 7766): 2-byte length-prefixed messages, several per
 * connection, answered in order; a connection idle for
 * DNSD_TCP_IDLE_MS is closed, at most DNSD_TCP_MAX_CONNS are open, and a
 * client that does not read its answers is closed once
 * DNSD_TCP_OUT_MAX bytes wait for it. */
#include "dns/dns.h"
#include "server/server_int.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define DNSD_TCP_MAX_CONNS 256
#define DNSD_TCP_IDLE_MS 10000
#define DNSD_TCP_OUT_MAX (1u << 20)
#define DNSD_IN_MAX (2 + DNS_MSG_MAX)
#define DNSD_UDP_QUEUE_MAX (1u << 20)
#define DNSD_UDP_SOCKBUF (4 << 20)

struct dnsd_conn {
  uv_tcp_t tcp;
  uv_timer_t idle;
  struct srv_dns *owner;
  struct dnsd_conn *prev, *next;
  uint8_t *in; /* DNSD_IN_MAX bytes */
  size_t in_len;
  int open_handles; /* freed when both close callbacks ran */
  bool closing;
};

struct srv_dns {
  struct srv *s;
  struct dns *dns;
  uv_udp_t udp;
  uv_tcp_t listener;
  bool udp_open, listener_open;
  struct dnsd_conn *conns;
  size_t n_conns;
  uint8_t rbuf[DNS_MSG_MAX];     /* UDP datagrams land here */
  uint8_t obuf[2 + DNS_MSG_MAX]; /* one answer, TCP length in front */
};

static int resolve(const char *host, int port, struct sockaddr_storage *ss) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  int rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
  if (rc != 0 || res == NULL)
    return rc != 0 ? rc : EAI_NONAME;
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

/* ------------------------------------------------------------------ */
/* UDP. */

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct srv_dns *d = h->data;
  (void)suggested;
  buf->base = (char *)d->rbuf;
  buf->len = sizeof d->rbuf;
}

static void udp_sent(uv_udp_send_t *req, int status) {
  (void)status;
  free(req);
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                     const struct sockaddr *addr, unsigned flags) {
  struct srv_dns *d = h->data;
  (void)flags;
  if (nread <= 0 || addr == NULL)
    return; /* nothing, or a receive error: UDP carries on */
  size_t n = dns_answer(d->dns, d->s->tree, (const uint8_t *)buf->base,
                        (size_t)nread, false, d->obuf, sizeof d->obuf);
  if (n == 0)
    return;
  uv_buf_t out = uv_buf_init((char *)d->obuf, (unsigned)n);
  int rc = uv_udp_try_send(h, &out, 1, addr);
  if (rc != UV_EAGAIN)
    return; /* sent, or an error the client will retry past */
  /* The socket buffer is full: queue a copy, up to a bound; beyond it
   * the answer is dropped, as the network may, and the client retries. */
  if (uv_udp_get_send_queue_size(h) > DNSD_UDP_QUEUE_MAX)
    return;
  uv_udp_send_t *req = malloc(sizeof *req + n);
  if (req == NULL)
    return;
  memcpy(req + 1, d->obuf, n);
  out = uv_buf_init((char *)(req + 1), (unsigned)n);
  if (uv_udp_send(req, h, &out, 1, addr, udp_sent) != 0)
    free(req);
}

/* A burst of queries from many clients queues in the socket: the
 * default receive buffer (rmem_default, ~200 KiB) holds only a few hundred
 * datagrams and drops the rest before the loop sees them.  Ask for more;
 * the FORCE variant passes rmem_max when we may (CAP_NET_ADMIN), else the
 * kernel clamps the plain request to rmem_max. */
static void udp_buffers(uv_udp_t *h) {
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)h, &fd) != 0)
    return;
  int size = DNSD_UDP_SOCKBUF;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

/* ------------------------------------------------------------------ */
/* TCP. */

static void conn_handle_closed(uv_handle_t *h) {
  struct dnsd_conn *c = h->data;
  if (--c->open_handles > 0)
    return;
  free(c->in);
  free(c);
}

static void conn_close(struct dnsd_conn *c) {
  if (c->closing)
    return;
  c->closing = true;
  struct srv_dns *d = c->owner;
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    d->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  d->n_conns--;
  uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
  uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
}

static void conn_idle(uv_timer_t *t) { conn_close(t->data); }

static void write_done(uv_write_t *req, int status) {
  (void)status;
  free(req);
}

static int conn_send(struct dnsd_conn *c, const uint8_t *msg, size_t len) {
  if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > DNSD_TCP_OUT_MAX)
    return -1;
  uv_write_t *req = malloc(sizeof *req + 2 + len);
  if (req == NULL)
    return -1;
  uint8_t *p = (uint8_t *)(req + 1);
  p[0] = (uint8_t)(len >> 8);
  p[1] = (uint8_t)len;
  memcpy(p + 2, msg, len);
  uv_buf_t b = uv_buf_init((char *)p, (unsigned)(2 + len));
  if (uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, write_done) != 0) {
    free(req);
    return -1;
  }
  return 0;
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct dnsd_conn *c = h->data;
  (void)suggested;
  buf->base = (char *)c->in + c->in_len;
  buf->len = DNSD_IN_MAX - c->in_len;
}

static void conn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  struct dnsd_conn *c = st->data;
  struct srv_dns *d = c->owner;
  (void)buf;
  if (nread < 0) {
    conn_close(c);
    return;
  }
  c->in_len += (size_t)nread;
  uv_timer_start(&c->idle, conn_idle, DNSD_TCP_IDLE_MS, 0);
  size_t off = 0;
  while (c->in_len - off >= 2) {
    size_t mlen = (size_t)c->in[off] << 8 | c->in[off + 1];
    if (c->in_len - off - 2 < mlen)
      break;
    size_t n = dns_answer(d->dns, d->s->tree, c->in + off + 2, mlen, true,
                          d->obuf, sizeof d->obuf);
    off += 2 + mlen;
    if (n > 0 && conn_send(c, d->obuf, n) != 0) {
      conn_close(c);
      return;
    }
  }
  memmove(c->in, c->in + off, c->in_len - off);
  c->in_len -= off;
}

static void on_tcp_connection(uv_stream_t *ls, int status) {
  struct srv_dns *d = ls->data;
  if (status != 0)
    return;
  struct dnsd_conn *c = calloc(1, sizeof *c);
  if (c == NULL || (c->in = malloc(DNSD_IN_MAX)) == NULL) {
    free(c);
    return; /* the pending connection stays in the backlog */
  }
  c->owner = d;
  uv_tcp_init(&d->s->loop, &c->tcp);
  uv_timer_init(&d->s->loop, &c->idle);
  c->tcp.data = c;
  c->idle.data = c;
  c->open_handles = 2;
  c->next = d->conns;
  if (d->conns != NULL)
    d->conns->prev = c;
  d->conns = c;
  d->n_conns++;
  if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0 ||
      d->n_conns > DNSD_TCP_MAX_CONNS ||
      uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) != 0) {
    conn_close(c);
    return;
  }
  uv_timer_start(&c->idle, conn_idle, DNSD_TCP_IDLE_MS, 0);
}

/* ------------------------------------------------------------------ */

static int dns_fail(struct srv *s, char errmsg[SRV_ERRMSG_MAX], int rc,
                    const char *host, int port, const char *what) {
  snprintf(errmsg, SRV_ERRMSG_MAX, "dns: cannot %s %s:%d: %s", what, host, port,
           uv_strerror(rc));
  srv_dns_stop(s);
  return -1;
}

int srv_dns_open(struct srv *s, char errmsg[SRV_ERRMSG_MAX]) {
  const struct srv_config *cfg = &s->cfg;
  if (cfg->dns_port == 0)
    return 0;
  struct srv_dns *d = calloc(1, sizeof *d);
  if (d == NULL) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "dns: out of memory");
    return -1;
  }
  d->s = s;
  s->dns = d;
  struct dns_config dc;
  dns_config_defaults(&dc);
  dc.domain = cfg->dns_domain;
  dc.ttl_s = (uint32_t)cfg->dns_ttl_s;
  dc.curator_base_path = cfg->dns_curator_base_path;
  char em[256];
  d->dns = dns_new(&dc, em, sizeof em);
  if (d->dns == NULL) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "dns: %s", em);
    srv_dns_stop(s);
    return -1;
  }
  const char *host =
      cfg->dns_address[0] ? cfg->dns_address : cfg->client_port_address;
  struct sockaddr_storage ss;
  int rc = resolve(host, cfg->dns_port, &ss);
  if (rc != 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "dns.address '%s': %s", host,
             gai_strerror(rc));
    srv_dns_stop(s);
    return -1;
  }
  uv_udp_init(&s->loop, &d->udp);
  d->udp.data = d;
  d->udp_open = true;
  rc = uv_udp_bind(&d->udp, (const struct sockaddr *)&ss, 0);
  if (rc == 0) {
    udp_buffers(&d->udp);
    rc = uv_udp_recv_start(&d->udp, udp_alloc, udp_recv);
  }
  if (rc != 0)
    return dns_fail(s, errmsg, rc, host, cfg->dns_port, "bind UDP");
  uv_tcp_init(&s->loop, &d->listener);
  d->listener.data = d;
  d->listener_open = true;
  rc = uv_tcp_bind(&d->listener, (const struct sockaddr *)&ss, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&d->listener, 128, on_tcp_connection);
  if (rc != 0)
    return dns_fail(s, errmsg, rc, host, cfg->dns_port, "listen on TCP");
  srv_log(s, SRV_LOG_INFO, "dns: serving %s on %s:%d (udp, tcp)",
          cfg->dns_domain, host, cfg->dns_port);
  return 0;
}

static void owner_closed(uv_handle_t *h) { (void)h; }

void srv_dns_stop(struct srv *s) {
  struct srv_dns *d = s->dns;
  if (d == NULL)
    return;
  while (d->conns != NULL)
    conn_close(d->conns);
  if (d->udp_open)
    uv_close((uv_handle_t *)&d->udp, owner_closed);
  if (d->listener_open)
    uv_close((uv_handle_t *)&d->listener, owner_closed);
  d->udp_open = d->listener_open = false;
}

void srv_dns_free(struct srv *s) {
  struct srv_dns *d = s->dns;
  if (d == NULL)
    return;
  /* srv_stop closed the handles and the loop ran their callbacks. */
  dns_free(d->dns);
  free(d);
  s->dns = NULL;
}
