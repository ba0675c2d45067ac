/* conn.c — client connections: accept, per-address limit, framing, output
 * batching, back-pressure and closing.
 *
 * Output: handlers append whole frames to c->out and mark the connection
 * dirty; srv_flush_all (run from the loop's check phase and at the end of
 * the tick) hands each dirty connection's bytes to libuv in one uv_write.
 * At most one write is in flight per connection: what accumulates meanwhile
 * goes out when it completes, so frames keep their order.
 *
 * Back-pressure: when a connection's unsent output exceeds
 * SRV_OUT_HIGH_BYTES we stop reading from it (and stop processing frames
 * already buffered) until it drains below SRV_OUT_LOW_BYTES.  Frames are
 * processed as soon as they are complete, so the only frames ever waiting
 * are those of a throttled connection, and they are bounded by its input
 * buffer (one frame of at most jute.maxbuffer plus one read chunk): that is
 * our bound on pipelined requests, in bytes rather than the count that
 * globalOutstandingLimit gives ZooKeeper (whose requests wait in queues
 * while ours are answered as soon as they are read).
 * Output produced *for* a connection by others (watch events) cannot be
 * throttled that way; past SRV_OUT_HARD_BYTES the connection is closed.
 *
 * Closing: srv_conn_close detaches the connection from its session and from
 * watch delivery at once, then either flushes and closes or closes now.  The
 * memory is freed in the uv_close callback. */
#include "server/server_int.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_close(uv_handle_t *h);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void process_input(struct srv_conn *c);

size_t srv_conn_pending_bytes(const struct srv_conn *c) {
  return c->out.len + (c->writing ? c->wbuf.len : 0);
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}

size_t srv_conn_queued_frames(const struct srv_conn *c) {
  if (c->state != SRV_CONN_OPEN)
    return 0;
  size_t n = 0;
  for (size_t pos = 0; c->in_len - pos >= 4;) {
    uint32_t len = be32(c->in + pos);
    if (len > (uint32_t)c->srv->cfg.jute_max_buffer ||
        c->in_len - pos - 4 < len)
      break;
    pos += 4 + (size_t)len;
    n++;
  }
  return n;
}

void srv_conn_mark_dirty(struct srv_conn *c) {
  if (c->dirty || c->handle_closed)
    return;
  c->dirty = true;
  c->dirty_next = c->srv->dirty;
  c->srv->dirty = c;
}

static void dirty_unlink(struct srv_conn *c) {
  if (!c->dirty)
    return;
  for (struct srv_conn **pp = &c->srv->dirty; *pp != NULL;
       pp = &(*pp)->dirty_next) {
    if (*pp == c) {
      *pp = c->dirty_next;
      break;
    }
  }
  c->dirty = false;
  c->dirty_next = NULL;
}

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

static void close_handle(struct srv_conn *c) {
  if (c->handle_closed)
    return;
  c->handle_closed = true;
  dirty_unlink(c);
  uv_close((uv_handle_t *)&c->tcp, on_close);
}

/* ---- closing ---- */

void srv_conn_close(struct srv_conn *c, bool flush, int level, const char *fmt,
                    ...) {
  struct srv *s = c->srv;
  if (fmt != NULL && level <= s->cfg.log_level) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    srv_log(s, level, "closing connection %s:%d (id %" PRIu64 "): %s", c->ip,
            c->port, c->id, msg);
  }
  if (c->state != SRV_CONN_CLOSING) {
    c->state = SRV_CONN_CLOSING;
    c->closing_loop_ms = (int64_t)uv_now(&s->loop);
    if (c->reading) {
      uv_read_stop((uv_stream_t *)&c->tcp);
      c->reading = false;
    }
    c->in_len = 0;
    srv_ens_conn_gone(c);
    free(c->ens_path);
    c->ens_path = NULL;
    /* §7.12 / §2.3: the session outlives its connection; only this
     * connection's watches go. */
    if (c->session != NULL && c->session->conn == c)
      c->session->conn = NULL;
    c->session = NULL;
    srv_map_del(&s->conn_by_id, c->id);
    tree_watches_drop(s->tree, c->id);
  }
  if (!flush) {
    proto_writer_reset(&c->out);
    srv_conn_holds_clear(c);
    close_handle(c);
    return;
  }
  c->close_after_flush = true;
  if (!c->writing && c->out.len == 0)
    close_handle(c);
  else
    srv_conn_mark_dirty(c);
}

static void on_close(uv_handle_t *h) {
  struct srv_conn *c = h->data;
  struct srv *s = c->srv;
  dirty_unlink(c);
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  s->n_conns--;
  /* Still registered if the handle was closed without srv_conn_close
   * (accept failures). */
  if (srv_map_get(&s->conn_by_id, c->id) == c) {
    srv_map_del(&s->conn_by_id, c->id);
    tree_watches_drop(s->tree, c->id);
  }
  srv_tls_conn_free(c);
  for (size_t i = 0; i < c->n_ids; i++) {
    free((char *)c->ids[i].scheme);
    free((char *)c->ids[i].id);
  }
  free(c->in);
  free(c->holds);
  proto_writer_free(&c->out);
  proto_writer_free(&c->wbuf);
  free(c);
}

void srv_conn_resume(struct srv_conn *c) {
  /* Answered while its own frame is being handled: the loop of
   * process_input goes on by itself. */
  if (c->state == SRV_CONN_CLOSING || c->handle_closed || c->processing)
    return;
  process_input(c);
  if (!c->throttled &&
      (c->ens_wait == SRV_ENS_WAIT_NONE || srv_ens_more_writes_ok(c)))
    start_reading(c);
}

void srv_conns_close_all_clients(struct srv *s) {
  for (struct srv_conn *c = s->conns; c != NULL; c = c->next)
    if (c->state != SRV_CONN_CLOSING)
      srv_conn_close(c, false, SRV_LOG_INFO,
                     "this server stopped serving (leader change)");
}

void srv_conns_close_all(struct srv *s) {
  for (struct srv_conn *c = s->conns; c != NULL; c = c->next)
    if (!c->handle_closed)
      srv_conn_close(c, false, SRV_LOG_DEBUG, "server shutting down");
}

void srv_conns_tick(struct srv *s, int64_t now) {
  struct srv_conn *next;
  for (struct srv_conn *c = s->conns; c != NULL; c = next) {
    next = c->next; /* closing never unlinks before on_close */
    if (c->handle_closed)
      continue;
    if (c->state == SRV_CONN_HANDSHAKE &&
        now - c->accepted_loop_ms >= SRV_SESSIONLESS_TIMEOUT_MS) {
      s->stats.sessionless_expired++;
      srv_conn_close(c, false, SRV_LOG_INFO, "no ConnectRequest within %d ms",
                     SRV_SESSIONLESS_TIMEOUT_MS);
    } else if (c->state == SRV_CONN_CLOSING &&
               now - c->closing_loop_ms >= SRV_CLOSE_FLUSH_TIMEOUT_MS) {
      srv_conn_close(c, false, SRV_LOG_INFO,
                     "peer did not take its last %zu bytes within %d ms",
                     srv_conn_pending_bytes(c), SRV_CLOSE_FLUSH_TIMEOUT_MS);
    }
  }
}

/* ---- writing ---- */

static void conn_flush(struct srv_conn *c);
static void output_drained(struct srv_conn *c);

static void on_write(uv_write_t *req, int status) {
  struct srv_conn *c = req->data;
  c->writing = false;
  proto_writer_reset(&c->wbuf);
  /* A burst (a big getData, a throttled bulk reader) must not pin its
   * peak allocation for the life of the connection. */
  if (c->wbuf.cap > SRV_KEEP_BUF_BYTES) {
    proto_writer_free(&c->wbuf);
    proto_writer_init(&c->wbuf);
  }
  if (status == UV_ECANCELED || c->handle_closed)
    return; /* the handle is closing; on_close frees */
  if (status < 0) {
    srv_conn_close(c, false, SRV_LOG_INFO, "write failed: %s",
                   uv_strerror(status));
    return;
  }
  if (c->out.len > 0) {
    conn_flush(c);
    return;
  }
  output_drained(c);
}

/* Everything queued so far has left: close if that was all we waited for,
 * or resume a connection that its output had throttled. */
static void output_drained(struct srv_conn *c) { srv_conn_output_drained(c); }

void srv_conn_output_drained(struct srv_conn *c) {
  if (c->close_after_flush) {
    close_handle(c);
    return;
  }
  if (c->throttled && srv_conn_pending_bytes(c) < SRV_OUT_LOW_BYTES) {
    c->throttled = false;
    srv_log(c->srv, SRV_LOG_DEBUG,
            "connection %s:%d drained its output; reading again", c->ip,
            c->port);
    process_input(c);
    if (!c->throttled)
      start_reading(c);
  }
}

static void conn_flush(struct srv_conn *c) {
  if (c->tls != NULL) {
    srv_tls_flush(c); /* tlsport.c: encrypts, then writes */
    return;
  }
  if (c->writing || c->handle_closed || c->out.len == 0)
    return;
  if (proto_writer_err(&c->out) != PROTO_OK) {
    srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory for its output");
    return;
  }
  /* Only the part before the first hold (a reply or event waiting for
   * its fsync, persist.c) may go. */
  size_t rel = srv_conn_releasable(c);
  if (rel == 0)
    return;
  /* Try the socket first: it nearly always takes the whole batch, and a
   * uv_write that completes at once still costs an epoll_ctl to arm and
   * one to disarm POLLOUT, as many syscalls as the write itself (the
   * watch fan-out profile).  Only what the socket refuses goes through
   * uv_write.  No write is in flight here, so order is kept. */
  uv_buf_t tb = uv_buf_init((char *)c->out.buf, (unsigned)rel);
  int n = uv_try_write((uv_stream_t *)&c->tcp, &tb, 1);
  if (n == UV_EAGAIN || n == UV_ENOSYS)
    n = 0;
  if (n < 0) {
    srv_conn_close(c, false, SRV_LOG_INFO, "write failed: %s", uv_strerror(n));
    return;
  }
  if (n > 0) {
    size_t sent = (size_t)n;
    memmove(c->out.buf, c->out.buf + sent, c->out.len - sent);
    c->out.len -= sent;
    for (size_t i = 0; i < c->n_holds; i++)
      c->holds[i].off -= sent;
    rel -= sent;
    if (rel == 0) {
      if (c->out.len > 0)
        return; /* the rest waits for its fsync */
      /* As on_write: a burst must not pin its peak allocation, and only a
       * fully drained output may close or resume the connection. */
      if (c->out.cap > SRV_KEEP_BUF_BYTES) {
        proto_writer_free(&c->out);
        proto_writer_init(&c->out);
      }
      output_drained(c);
      return;
    }
  }
  if (rel < c->out.len) {
    proto_writer_reset(&c->wbuf);
    proto_write_raw(&c->wbuf, c->out.buf, rel);
    if (proto_writer_err(&c->wbuf) != PROTO_OK) {
      srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory for its output");
      return;
    }
    memmove(c->out.buf, c->out.buf + rel, c->out.len - rel);
    c->out.len -= rel;
    for (size_t i = 0; i < c->n_holds; i++)
      c->holds[i].off -= rel;
  } else {
    /* Swap: the collected bytes become the in-flight buffer, and the old
     * in-flight allocation collects the next batch. */
    struct proto_writer tmp = c->wbuf;
    c->wbuf = c->out;
    c->out = tmp;
    proto_writer_reset(&c->out);
  }
  uv_buf_t b = uv_buf_init((char *)c->wbuf.buf, (unsigned)c->wbuf.len);
  c->wreq.data = c;
  int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (rc != 0) {
    proto_writer_reset(&c->wbuf);
    srv_conn_close(c, false, SRV_LOG_INFO, "write failed: %s", uv_strerror(rc));
    return;
  }
  c->writing = true;
}

void srv_flush_all(struct srv *s) {
  srv_ens_flush(s);
  srv_sync_kick_pending(s);
  while (s->dirty != NULL) {
    struct srv_conn *c = s->dirty;
    s->dirty = c->dirty_next;
    c->dirty = false;
    c->dirty_next = NULL;
    if (c->handle_closed)
      continue;
    if (c->close_after_flush && !c->writing && c->out.len == 0)
      close_handle(c);
    else
      conn_flush(c);
    /* A connection that drained may have resumed reading its buffered
     * requests, and logged writes: they need their sync too. */
    if (s->dirty == NULL)
      srv_sync_kick_pending(s);
  }
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
  (void)buf; /* it points into c->in */
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
  if (c->tls != NULL) {
    if (srv_tls_on_read(c, buf->base, (size_t)nread) == 0)
      process_input(c);
    return;
  }
  c->in_len += (size_t)nread;
  c->srv->stats.bytes_received += (uint64_t)nread;
  process_input(c);
}

/* Consume every complete frame in c->in, unless the connection closes or
 * becomes throttled; keep the rest for later. */
static void process_frames(struct srv_conn *c);

static void conn_stop_reading(struct srv_conn *c) {
  if (c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
  }
}

static void process_input(struct srv_conn *c) {
  /* An ensemble answer may arrive while c's own frame is handled
   * (srv_conn_resume): the loop below then simply goes on. */
  c->processing = true;
  process_frames(c);
  c->processing = false;
  if ((c->ens_wait == SRV_ENS_WAIT_NONE || srv_ens_more_writes_ok(c)) &&
      !c->throttled && !c->reading && c->state != SRV_CONN_CLOSING &&
      c->srv->ens != NULL)
    start_reading(c);
}

static void process_frames(struct srv_conn *c) {
  struct srv *s = c->srv;
  size_t pos = 0;
  uint32_t max = (uint32_t)s->cfg.jute_max_buffer;
  while (c->state != SRV_CONN_CLOSING && !c->throttled) {
    if (c->ens_wait != SRV_ENS_WAIT_NONE && !srv_ens_more_writes_ok(c)) {
      /* Ensemble: the previous request is not answered yet; the rest
       * waits (bounded: no reading meanwhile). */
      conn_stop_reading(c);
      break;
    }
    size_t avail = c->in_len - pos;
    if (avail < 4)
      break;
    uint32_t raw = be32(c->in + pos);
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
    if (c->ens_wait != SRV_ENS_WAIT_NONE && c->state == SRV_CONN_OPEN &&
        !srv_request_is_pipelined_write(s, payload, (size_t)n)) {
      /* Only a write may overtake the wait: anything else is answered by
       * this server, and must not be answered before the writes are. */
      conn_stop_reading(c);
      break;
    }
    pos += 4 + (size_t)n;
    s->stats.packets_received++;
    c->recv++;
    if (c->state == SRV_CONN_HANDSHAKE)
      srv_handle_connect(c, payload, (size_t)n);
    else
      srv_handle_request(c, payload, (size_t)n, uv_hrtime());
    if (c->state == SRV_CONN_CLOSING)
      return; /* whatever followed is discarded (§7.12 closeSession) */
    if (srv_conn_pending_bytes(c) > SRV_OUT_HIGH_BYTES) {
      c->throttled = true;
      if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
      }
      /* Once at INFO per connection: a bulk reader cycles through this
       * on every drain. */
      srv_log(s, c->throttle_logged ? SRV_LOG_DEBUG : SRV_LOG_INFO,
              "connection %s:%d has %zu bytes of unsent output; not reading "
              "until it drains",
              c->ip, c->port, srv_conn_pending_bytes(c));
      c->throttle_logged = true;
    }
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

void srv_on_connection(uv_stream_t *listener, int status) {
  struct srv *s = listener->data;
  if (status < 0) {
    srv_log(s, SRV_LOG_WARN, "accept failed: %s", uv_strerror(status));
    return;
  }
  struct srv_conn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    srv_log(s, SRV_LOG_ERROR, "out of memory accepting a connection");
    return; /* the pending connection stays in the backlog */
  }
  c->srv = s;
  proto_writer_init(&c->out);
  proto_writer_init(&c->wbuf);
  if (uv_tcp_init(&s->loop, &c->tcp) != 0) {
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

  int rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
  if (rc != 0) {
    srv_log(s, SRV_LOG_WARN, "accept failed: %s", uv_strerror(rc));
    c->state = SRV_CONN_CLOSING;
    close_handle(c);
    return;
  }
  peer_address(c);
  uv_tcp_nodelay(&c->tcp, 1);
  if (srv_tls_conn_attach(c, listener) != 0) {
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
