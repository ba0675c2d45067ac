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
 * Output and closing are out.c's; decoding and answering dispatch.c's. */
#include "server/server_int.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (s->ready == NULL)
      break;
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
    if (c->state == SRV_CONN_HANDSHAKE)
      srv_handle_connect(c, payload, (size_t)n);
    else
      srv_handle_request(c, payload, (size_t)n, uv_hrtime());
    if (c->state == SRV_CONN_CLOSING)
      return; /* whatever followed is discarded (§7.12 closeSession) */
    if (srv_conn_pending_bytes(c) > SRV_OUT_HIGH_BYTES) {
      c->throttled = true;
      srv_conn_stop_reading(c);
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
    srv_conn_close_handle(c);
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
