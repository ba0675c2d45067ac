/* conn.c — client connections: accept, per-address limit, reading and
 * framing; the top of the chain (docs/architecture.md).
 *
 * A frame is handled as soon as it is complete, unless the connection
 * must not take it yet:
 *   - its order (order.c) waits for an answer and the frame may not
 *     overtake it (only writes may, up to SRV_CONN_WRITES unanswered);
 *   - back-pressure: its unsent output exceeds SRV_OUT_HIGH_BYTES, until
 *     it drains below SRV_OUT_LOW_BYTES (out.c).
 * Then reading stops, and the frames already read wait in the input
 * buffer, bounded by one frame of at most jute.maxbuffer plus one read
 * chunk: that is our bound on pipelined requests, in bytes rather than
 * the count that globalOutstandingLimit gives ZooKeeper.  When the wait
 * ends the connection is on srv.ready, and srv_flush_all reads on from it
 * at the end of the loop turn.
 *
 * Output budget (roost.outputBudgetMB): the cap above is per connection,
 * so many slow consumers could still hold gigabytes.  out.c sums every
 * connection's unsent bytes in srv.ov.out_bytes; while the sum exceeds
 * the budget, a connection holding more than SRV_OUT_BUDGET_FLOOR is
 * paused like a throttled one after its current frame, so the heaviest
 * stop first and a client whose replies leave at once is never paused.
 * The total stays below the budget plus, per connection, the floor and
 * one reply.
 *
 * A paused connection's pings are not read, so the tick counts a paused
 * connection whose output drained since the last tick as heard from
 * (srv_conns_paused_tick): a live client that reads slowly keeps its
 * session; a dead one drains nothing and expires.
 *
 * Accepting: the listeners (client port, secure client port) are polled
 * and accepted by hand rather than with uv_listen, because libuv, out of
 * descriptors, accepts and closes the pending connections itself without
 * telling the server.  Here the same spare-descriptor trick counts them
 * (zk_connection_rejected) and logs once per SRV_ACCEPT_LOG_INTERVAL_MS.
 *
 * Output and closing are out.c's; decoding and answering dispatch.c's. */
#include "server/server_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void process_input(struct srv_conn *c);

static void start_reading(struct srv_conn *c) {
  if (c->reading || c->handle_closed || c->state == SRV_CONN_CLOSING)
    return;
  int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (rc != 0) {
    srv_conn_close(c, false, SRV_LOG_WARN, "read start failed: %s",
                   uv_strerror(rc));
    return;
  }
  c->reading = true;
}

/* Who is sending (persist.c runs the fsync of a client alone on the
 * loop): every frame, handshakes included, but pings: one waiting out a
 * sync costs its client nothing. */
static void note_sender(struct srv_conn *c, const uint8_t *payload, size_t n,
                        uint64_t now_ns) {
  struct srv *s = c->srv;
  if (!s->cfg.fsync_on_loop) /* off by default: nothing to track */
    return;
  if (s->lone_conn == c->id ||
      (c->state != SRV_CONN_HANDSHAKE && n >= 4 &&
       (int32_t)proto_load_be32(payload) == PROTO_XID_PING))
    return;
  s->lone_conn = c->id;
  s->lone_since_ns = now_ns;
}

/* Its wait ended, or its output drained: process the frames that
 * waited, read again. */
static void conn_resume(struct srv_conn *c) {
  if (c->state == SRV_CONN_CLOSING || c->handle_closed || c->processing)
    return;
  process_input(c);
}

void srv_flush_all(struct srv *s) {
  s->rep->flush(s);
  for (;;) {
    srv_sync_kick_pending(s);
    /* Connections whose wait ended read on: their buffered requests may
     * log writes, which need their sync too (the loop goes round). */
    struct srv_conn *c = srv_order_ready_pop(s);
    if (c != NULL) {
      conn_resume(c);
      continue;
    }
    srv_out_flush_dirty(s);
    if (s->ready == NULL && !srv_persist_turn_end(s))
      break;
  }
}

/* ---- back-pressure ---- */

static bool over_budget(const struct srv *s) {
  return s->ov.out_budget > 0 && s->ov.out_bytes > s->ov.out_budget;
}

/* Bytes handed to libuv or the kernel that the peer has not acknowledged
 * yet.  It shrinks only as the peer takes them (a new uv_write that makes
 * it grow completes a previous one first, which sets c->drained).  The
 * write queue alone is not enough: libuv refills the socket only when the
 * kernel reports room, which with a large send buffer and a slow reader
 * can be longer than a session timeout. */
static size_t unacked(const struct srv_conn *c) {
  size_t n = uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
#ifdef SIOCOUTQ
  uv_os_fd_t fd;
  int q = 0;
  if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) == 0 &&
      ioctl(fd, SIOCOUTQ, &q) == 0 && q > 0)
    n += (size_t)q;
#endif
  return n;
}

/* A paused connection whose peer took bytes since the last tick is alive
 * though its pings wait unread: count it as heard from. */
static void paused_alive(struct srv_conn *c) {
  if (!c->throttled) {
    c->drained = false;
    return;
  }
  size_t q = unacked(c);
  bool progress = c->drained || q < c->wq_mark;
  c->drained = false;
  c->wq_mark = q;
  if (!progress || c->state != SRV_CONN_OPEN || c->session == NULL)
    return;
  c->srv->ov.drain_touches++;
  srv_session_touch(c->srv, c->session);
  c->srv->rep->touch(c->srv, c->session->id);
}

void srv_conns_paused_tick(struct srv *s) {
  for (struct srv_conn *c = s->conns; c != NULL; c = c->next)
    if (!c->handle_closed)
      paused_alive(c);
}

/* ---- reading and framing ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  struct srv_conn *c = h->data;
  if (c->tls != NULL) {
    srv_tls_alloc(c, buf); /* ciphertext; decrypted into c->in */
    return;
  }
  if (c->in_cap - c->in_len < SRV_READ_CHUNK) {
    size_t ncap = c->in_len + SRV_READ_CHUNK;
    uint8_t *n = realloc(c->in, ncap);
    if (n == NULL) {
      *buf = uv_buf_init(NULL, 0); /* on_read gets UV_ENOBUFS */
      return;
    }
    c->in = n;
    c->in_cap = ncap;
  }
  *buf =
      uv_buf_init((char *)c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  struct srv_conn *c = stream->data;
  if (nread == 0)
    return;
  if (nread < 0) {
    if (nread == UV_EOF)
      srv_conn_close(c, false, SRV_LOG_DEBUG, "client closed the connection");
    else
      srv_conn_close(c, false, SRV_LOG_INFO, "read failed: %s",
                     uv_strerror((int)nread));
    return;
  }
  if (c->state == SRV_CONN_CLOSING)
    return;
  if (c->detect) {
    /* client.portUnification: a TLS handshake record starts with 0x16,
     * a ConnectRequest with the high byte of a small length (0). */
    c->detect = false;
    if ((uint8_t)buf->base[0] == 0x16) {
      if (srv_tls_conn_attach(c) != 0) {
        srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory for TLS");
        return;
      }
      /* buf points into c->in; the engine copies it before c->in is
       * written. */
    }
  }
  if (c->tls != NULL) {
    if (srv_tls_on_read(c, buf->base, (size_t)nread) == 0)
      process_input(c);
    return;
  }
  /* buf points into c->in */
  c->in_len += (size_t)nread;
  c->srv->stats.bytes_received += (uint64_t)nread;
  process_input(c);
}

/* Consume every complete frame in c->in, unless the connection closes or
 * becomes throttled; keep the rest for later. */
static void process_frames(struct srv_conn *c);

static void process_input(struct srv_conn *c) {
  c->processing = true;
  process_frames(c);
  c->processing = false;
  if (srv_order_may_take(c, true) && !c->throttled && !c->reading &&
      c->state != SRV_CONN_CLOSING)
    start_reading(c);
}

/* May the frame at payload (n bytes) be handled now (order.c)?  Only its
 * opcode is looked at here; it is decoded once, in dispatch.c. */
static bool may_take(const struct srv_conn *c, const uint8_t *payload,
                     size_t n) {
  if (c->order.wait == SRV_WAIT_NONE || c->state != SRV_CONN_OPEN)
    return true;
  int32_t op = n >= 8 ? (int32_t)proto_load_be32(payload + 4) : 0;
  /* A read may wait in the ring behind writes (dispatch.c). */
  bool ringed = n >= 8 && (srv_op_is_write(op) || srv_op_is_read(op));
  return srv_order_may_take(c, ringed);
}

/* After each frame: stop reading a connection whose unsent output passed
 * its own cap, or that holds more than the floor while all connections
 * together are over the budget. */
static void pause_if_heavy(struct srv_conn *c) {
  struct srv *s = c->srv;
  srv_out_account(c);
  size_t pending = srv_conn_pending_bytes(c);
  bool own = pending > SRV_OUT_HIGH_BYTES;
  if (!own && !(pending > SRV_OUT_BUDGET_FLOOR && over_budget(s)))
    return;
  c->throttled = true;
  c->budget_paused = !own;
  c->drained = false; /* progress is judged from here on (paused_alive) */
  c->wq_mark = unacked(c);
  s->ov.pauses++;
  if (!own)
    s->ov.budget_pauses++;
  srv_conn_stop_reading(c);
  /* Once at INFO per connection: a bulk reader cycles through this on
   * every drain. */
  if (own)
    srv_log(s, c->throttle_logged ? SRV_LOG_DEBUG : SRV_LOG_INFO,
            "connection %s:%d has %zu bytes of unsent output; not reading "
            "until it drains",
            c->ip, c->port, pending);
  else
    srv_log(s, c->throttle_logged ? SRV_LOG_DEBUG : SRV_LOG_INFO,
            "connection %s:%d has %zu bytes of unsent output and all "
            "connections %zu (roost.outputBudgetMB=%d); not reading until "
            "it drains",
            c->ip, c->port, pending, s->ov.out_bytes, s->cfg.output_budget_mb);
  c->throttle_logged = true;
}

static void process_frames(struct srv_conn *c) {
  struct srv *s = c->srv;
  size_t pos = 0;
  uint32_t max = (uint32_t)s->cfg.jute_max_buffer;
  while (c->state != SRV_CONN_CLOSING && !c->throttled) {
    if (!srv_order_may_take(c, true)) {
      /* Waiting for an answer, and not even a write may overtake it: the
       * rest waits, unread (bounded: no reading meanwhile). */
      srv_conn_stop_reading(c);
      break;
    }
    size_t avail = c->in_len - pos;
    if (avail < 4)
      break;
    uint32_t raw = proto_load_be32(c->in + pos);
    if (!c->first4_checked) {
      /* §8: the first four bytes of a new connection may be a command. */
      const char *word = proto_four_letter_word((int32_t)raw);
      size_t need = word != NULL ? srv_fourlw_arg_len(word) : 0;
      if (avail - 4 < need)
        break; /* stmk: its mask is still on the way */
      c->first4_checked = true;
      if (word != NULL) {
        s->stats.packets_received++;
        c->recv++;
        srv_fourlw(c, word, c->in + pos + 4, need);
        if (c->state != SRV_CONN_CLOSING)
          srv_conn_close(c, true, SRV_LOG_DEBUG, "four-letter word done");
        return;
      }
    }
    int32_t n = (int32_t)raw;
    if (n < 0 || (uint32_t)n > max) {
      srv_conn_close(c, false, SRV_LOG_WARN,
                     "frame length %" PRId32 " outside [0, %" PRIu32
                     "] (jute.maxbuffer)",
                     n, max);
      return;
    }
    if (avail - 4 < (size_t)n)
      break;
    const uint8_t *payload = c->in + pos + 4;
    if (!may_take(c, payload, (size_t)n)) {
      /* Only a write may overtake the wait: anything else is answered by
       * this server, and must not be answered before the writes are. */
      srv_conn_stop_reading(c);
      break;
    }
    pos += 4 + (size_t)n;
    s->stats.packets_received++;
    c->recv++;
    uint64_t now_ns = uv_hrtime();
    note_sender(c, payload, (size_t)n, now_ns);
    if (c->state == SRV_CONN_HANDSHAKE)
      srv_handle_connect(c, payload, (size_t)n);
    else
      srv_handle_request(c, payload, (size_t)n, now_ns);
    if (c->state == SRV_CONN_CLOSING)
      return; /* whatever followed is discarded (§7.12 closeSession) */
    pause_if_heavy(c);
  }
  if (pos > 0) {
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
  }
  if (c->in_cap > SRV_KEEP_BUF_BYTES && c->in_len <= SRV_READ_CHUNK) {
    /* Give back what a large frame made us grow to (see on_write). */
    uint8_t *n = realloc(c->in, 2 * (size_t)SRV_READ_CHUNK);
    if (n != NULL) {
      c->in = n;
      c->in_cap = 2 * (size_t)SRV_READ_CHUNK;
    }
  }
}

/* ---- accepting ---- */

static void peer_address(struct srv_conn *c) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  snprintf(c->ip, sizeof c->ip, "?");
  c->port = 0;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
    return;
  if (ss.ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
    uv_ip4_name(a, c->ip, sizeof c->ip);
    c->port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
    uv_ip6_name(a, c->ip, sizeof c->ip);
    c->port = ntohs(a->sin6_port);
  }
}

static size_t conns_from(const struct srv *s, const char *ip) {
  size_t n = 0;
  for (const struct srv_conn *c = s->conns; c != NULL; c = c->next)
    if (!c->handle_closed && strcmp(c->ip, ip) == 0)
      n++;
  return n;
}

/* Takes an accepted descriptor (closes it on failure); secure: from the
 * secure client port, the connection speaks TLS. */
static void accept_conn(struct srv *s, int fd, bool secure) {
  struct srv_conn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    srv_log(s, SRV_LOG_ERROR, "out of memory accepting a connection");
    close(fd);
    return;
  }
  c->srv = s;
  proto_writer_init(&c->out);
  proto_writer_init(&c->wbuf);
  if (uv_tcp_init(&s->loop, &c->tcp) != 0) {
    close(fd);
    free(c);
    return;
  }
  c->tcp.data = c;
  c->id = ++s->next_conn_id;
  c->state = SRV_CONN_HANDSHAKE;
  c->accepted_loop_ms = (int64_t)uv_now(&s->loop);
  c->est_wall_ms = srv_wall_ms();
  c->last_op = PROTO_OP_NOTIFICATION;
  c->last_cxid = -1;
  c->last_zxid = -1;
  c->lat_min_us = UINT64_MAX;
  /* On the list from here on, so on_close can always unlink it. */
  c->next = s->conns;
  if (s->conns != NULL)
    s->conns->prev = c;
  s->conns = c;
  s->n_conns++;

  int rc = uv_tcp_open(&c->tcp, fd);
  if (rc != 0) {
    srv_log(s, SRV_LOG_WARN, "accept failed: %s", uv_strerror(rc));
    close(fd);
    c->state = SRV_CONN_CLOSING;
    srv_conn_close_handle(c);
    return;
  }
  peer_address(c);
  uv_tcp_nodelay(&c->tcp, 1);
  c->detect = !secure && s->cfg.client_port_unification;
  if (secure && srv_tls_conn_attach(c) != 0) {
    srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory for TLS");
    return;
  }

  if (s->stopping) {
    srv_conn_close(c, false, SRV_LOG_INFO, "server shutting down");
    return;
  }
  int max = s->cfg.max_client_cnxns;
  /* conns_from counts this connection too. */
  if (max > 0 && conns_from(s, c->ip) > (size_t)max) {
    s->stats.connection_rejected++;
    srv_conn_close(c, false, SRV_LOG_WARN,
                   "too many connections from %s (maxClientCnxns=%d)", c->ip,
                   max);
    return;
  }
  char *scheme = strdup("ip");
  char *ip = strdup(c->ip);
  if (scheme == NULL || ip == NULL ||
      srv_map_put(&s->conn_by_id, c->id, c) != 0) {
    free(scheme);
    free(ip);
    srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory");
    return;
  }
  c->ids[0].scheme = scheme;
  c->ids[0].id = ip;
  c->n_ids = 1;
  srv_log(s, SRV_LOG_DEBUG, "accepted connection %s:%d (id %" PRIu64 ")", c->ip,
          c->port, c->id);
  rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (rc != 0) {
    srv_conn_close(c, false, SRV_LOG_WARN, "read start failed: %s",
                   uv_strerror(rc));
    return;
  }
  c->reading = true;
}

/* Count n connections closed at once for lack of descriptors; log at most
 * once per SRV_ACCEPT_LOG_INTERVAL_MS. */
static void note_fd_rejects(struct srv *s, uint64_t n, const char *why) {
  struct srv_overload *ov = &s->ov;
  ov->fd_rejected += n;
  ov->fd_unlogged += n;
  s->stats.connection_rejected += n;
  int64_t now = (int64_t)uv_now(&s->loop);
  if (ov->fd_logged_ms >= 0 &&
      now - ov->fd_logged_ms < SRV_ACCEPT_LOG_INTERVAL_MS)
    return;
  srv_log(s, SRV_LOG_WARN,
          "accept: %s; %" PRIu64 " new connection(s) closed at once since "
          "the last report (%" PRIu64 " since start; next report in %d s "
          "at the earliest)",
          why, ov->fd_unlogged, ov->fd_rejected,
          SRV_ACCEPT_LOG_INTERVAL_MS / 1000);
  ov->fd_unlogged = 0;
  ov->fd_logged_ms = now;
}

/* accept(2) gives the lowest free descriptor, so fd >= limit - headroom
 * means fewer than SRV_FD_HEADROOM are left for the server's own files. */
static bool fd_in_headroom(int fd) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
    return false;
  return (rlim_t)fd + SRV_FD_HEADROOM >= rl.rlim_cur;
}

/* Out of descriptors: the pending connection cannot be accepted, and left
 * in the backlog it would wake the poll forever.  Give back the spare
 * descriptor, accept and close what waits, take the spare again. */
static void on_accept_retry(uv_timer_t *t);

static void reject_for_fds(struct srv_acceptor *a, int err) {
  struct srv *s = a->s;
  struct srv_overload *ov = &s->ov;
  uint64_t n = 0;
  if (ov->reserve_fd >= 0) {
    close(ov->reserve_fd);
    ov->reserve_fd = -1;
    for (;;) {
      int fd = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED)
          continue;
        break;
      }
      close(fd);
      n++;
    }
    ov->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  note_fd_rejects(s, n, strerror(err));
  if (ov->reserve_fd < 0 && a->poll_open) {
    /* No spare: the backlog stays; look again a little later rather than
     * spin on a listener that is always readable. */
    uv_poll_stop(&a->poll);
    uv_timer_start(&a->retry, on_accept_retry, 100, 0);
  }
}

static void on_listener(uv_poll_t *h, int status, int events);

static void on_accept_retry(uv_timer_t *t) {
  struct srv_acceptor *a = t->data;
  struct srv *s = a->s;
  struct srv_overload *ov = &s->ov;
  if (ov->reserve_fd < 0)
    ov->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (a->poll_open && !s->stopping)
    uv_poll_start(&a->poll, UV_READABLE, on_listener);
}

static void on_listener(uv_poll_t *h, int status, int events) {
  (void)events;
  struct srv_acceptor *a = h->data;
  struct srv *s = a->s;
  if (status < 0) {
    srv_log(s, SRV_LOG_WARN, "listener: %s", uv_strerror(status));
    return;
  }
  /* A bounded batch per wake-up: the poll is level-triggered, and the
   * connections already open get their turn in between. */
  for (int i = 0; i < 64 && !s->stopping; i++) {
    int fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0 && fd_in_headroom(fd)) {
      close(fd);
      char why[128];
      snprintf(why, sizeof why,
               "descriptors nearly exhausted (the last %d of RLIMIT_NOFILE "
               "are kept for the server's files)",
               SRV_FD_HEADROOM);
      note_fd_rejects(s, 1, why);
      continue;
    }
    if (fd >= 0) {
      accept_conn(s, fd, a->secure);
      continue;
    }
    int err = errno;
    if (err == EINTR || err == ECONNABORTED)
      continue;
    if (err == EAGAIN || err == EWOULDBLOCK)
      return;
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
      reject_for_fds(a, err);
      return;
    }
    srv_log(s, SRV_LOG_WARN, "accept failed: %s", strerror(err));
    return;
  }
}

int srv_listen(struct srv *s, uv_tcp_t *listener, int backlog, bool secure) {
  struct srv_overload *ov = &s->ov;
  struct srv_acceptor *a = &ov->acc[secure ? 1 : 0];
  uv_os_fd_t fd;
  int rc = uv_fileno((const uv_handle_t *)listener, &fd);
  if (rc != 0)
    return rc;
  if (listen(fd, backlog) != 0)
    return uv_translate_sys_error(errno);
  if (!secure) { /* the first listener: the shared parts */
    ov->out_budget = s->cfg.output_budget_mb > 0
                         ? (size_t)s->cfg.output_budget_mb << 20
                         : 0; /* a config not from srv_config_defaults */
    ov->fd_logged_ms = -1;
    ov->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  a->s = s;
  a->fd = fd;
  a->secure = secure;
  uv_timer_init(&s->loop, &a->retry);
  a->retry.data = a;
  a->retry_open = true; /* from here on srv_listen_stop closes it */
  rc = uv_poll_init_socket(&s->loop, &a->poll, fd);
  if (rc != 0)
    return rc;
  a->poll.data = a;
  a->poll_open = true;
  return uv_poll_start(&a->poll, UV_READABLE, on_listener);
}

void srv_listen_stop(struct srv *s) {
  struct srv_overload *ov = &s->ov;
  bool had = ov->acc[0].retry_open;
  for (size_t i = 0; i < 2; i++) {
    struct srv_acceptor *a = &ov->acc[i];
    if (a->poll_open)
      uv_close((uv_handle_t *)&a->poll, NULL);
    a->poll_open = false;
    if (a->retry_open)
      uv_close((uv_handle_t *)&a->retry, NULL);
    a->retry_open = false;
  }
  if (had && ov->reserve_fd >= 0)
    close(ov->reserve_fd);
  if (had)
    ov->reserve_fd = -1;
}
