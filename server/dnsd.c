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

#include <errno.h>
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
/* Datagrams per recvmmsg / sendmmsg; libuv gives each a 64 KiB slot of
 * the receive buffer.  DNSD_UDP_ANSWER_MAX is above any UDP answer (at
 * most 1232 bytes, dns.h). */
#define DNSD_MMSG 16
#define DNSD_DGRAM_SLOT ((size_t)64 << 10)
#define DNSD_UDP_ANSWER_MAX 4096

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

/* One UDP answer waiting for the end of its receive batch. */
struct dnsd_out {
  struct sockaddr_storage to;
  socklen_t to_len;
  size_t len;
  uint8_t buf[DNSD_UDP_ANSWER_MAX];
};

struct srv_dns {
  struct srv *s;
  struct dns *dns;
  uv_udp_t udp;
  uv_tcp_t listener;
  bool udp_open, listener_open;
  struct dnsd_conn *conns;
  size_t n_conns;
  uint8_t *rbuf; /* DNSD_MMSG slots of DNSD_DGRAM_SLOT bytes: UDP input */
  struct dnsd_out batch[DNSD_MMSG]; /* UDP answers of one receive batch */
  size_t n_batch;
  uint8_t obuf[DNS_MSG_MAX]; /* one TCP answer */
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
  /* Larger than one 64 KiB slot: libuv reads with recvmmsg, one datagram
   * per slot. */
  buf->base = (char *)d->rbuf;
  buf->len = DNSD_MMSG * DNSD_DGRAM_SLOT;
}

static void udp_sent(uv_udp_send_t *req, int status) {
  (void)status;
  free(req);
}

/* The socket buffer is full: queue a copy, up to a bound; beyond it the
 * answer is dropped, as the network may, and the client retries. */
static void udp_queue(uv_udp_t *h, const struct dnsd_out *o) {
  if (uv_udp_get_send_queue_size(h) > DNSD_UDP_QUEUE_MAX)
    return;
  uv_udp_send_t *req = malloc(sizeof *req + o->len);
  if (req == NULL)
    return;
  memcpy(req + 1, o->buf, o->len);
  uv_buf_t b = uv_buf_init((char *)(req + 1), (unsigned)o->len);
  if (uv_udp_send(req, h, &b, 1, (const struct sockaddr *)&o->to, udp_sent) !=
      0)
    free(req);
}

/* Send the answers of one receive batch with as few sendmmsg calls as the
 * socket takes; what it does not take now is queued. */
static void udp_flush(struct srv_dns *d) {
  size_t n = d->n_batch;
  d->n_batch = 0;
  uv_os_fd_t fd;
  if (n == 0 || uv_fileno((uv_handle_t *)&d->udp, &fd) != 0)
    return;
  struct mmsghdr msgs[DNSD_MMSG];
  struct iovec iov[DNSD_MMSG];
  memset(msgs, 0, sizeof msgs);
  for (size_t i = 0; i < n; i++) {
    iov[i].iov_base = d->batch[i].buf;
    iov[i].iov_len = d->batch[i].len;
    msgs[i].msg_hdr.msg_name = &d->batch[i].to;
    msgs[i].msg_hdr.msg_namelen = d->batch[i].to_len;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  size_t sent = 0;
  while (sent < n) {
    int r = sendmmsg(fd, msgs + sent, (unsigned)(n - sent), MSG_DONTWAIT);
    if (r > 0) {
      sent += (size_t)r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      for (; sent < n; sent++)
        udp_queue(&d->udp, &d->batch[sent]);
    } else {
      sent++; /* this one cannot go (unreachable client ...): the next */
    }
  }
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                     const struct sockaddr *addr, unsigned flags) {
  struct srv_dns *d = h->data;
  if (flags & UV_UDP_MMSG_FREE) {
    udp_flush(d); /* the end of a recvmmsg batch */
    return;
  }
  if (nread <= 0 || addr == NULL)
    return; /* nothing, or a receive error: UDP carries on */
  struct dnsd_out *o = &d->batch[d->n_batch];
  o->len = dns_answer(d->dns, d->s->tree, (const uint8_t *)buf->base,
                      (size_t)nread, false, o->buf, sizeof o->buf);
  if (o->len > 0) {
    o->to_len = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                            : sizeof(struct sockaddr_in);
    memcpy(&o->to, addr, o->to_len);
    d->n_batch++;
  }
  if (!(flags & UV_UDP_MMSG_CHUNK) || d->n_batch == DNSD_MMSG)
    udp_flush(d);
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
  proto_store_be16(p, (uint16_t)len);
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
    size_t mlen = (size_t)proto_load_be16(c->in + off);
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
  d->rbuf = malloc(DNSD_MMSG * DNSD_DGRAM_SLOT);
  if (d->rbuf == NULL) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "dns: out of memory");
    srv_dns_stop(s);
    return -1;
  }
  /* recvmmsg: one system call reads a burst of queries; their answers
   * leave together through sendmmsg (udp_flush). */
  if (uv_udp_init_ex(&s->loop, &d->udp, ss.ss_family | UV_UDP_RECVMMSG) != 0)
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
  free(d->rbuf);
  free(d);
  s->dns = NULL;
}
