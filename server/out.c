/* out.c — a client connection's output and its closing.
 *
 * Output: handlers append whole frames to c->out and mark the connection
 * dirty; srv_out_flush_dirty (from srv_flush_all, at the loop's check
 * phase and at the end of the tick) hands each dirty connection's bytes
 * to libuv in one uv_write.  At most one write is in flight per
 * connection: what accumulates meanwhile goes out when it completes, so
 * frames keep their order.  Nothing is held back here: a write is answered
 * only after it committed (commit.c), which is after its fsync.
 *
 * Back-pressure (conn.c stops reading above SRV_OUT_HIGH_BYTES): when the
 * output drains below SRV_OUT_LOW_BYTES the connection goes on srv.ready
 * (order.c) and conn.c reads on from it.  Output produced *for* a
 * connection by others (watch events) cannot be throttled that way; past
 * SRV_OUT_HARD_BYTES the connection is closed (reply.c).
 *
 * TLS (secureClientPort, tlsport.c): a connection with c->tls set passes
 * its output through the engine when it is flushed: c->out's plaintext
 * goes in and c->out takes the ciphertext (with any handshake records),
 * which then leaves as any connection's bytes do.  That happens only with
 * no write in flight, so c->out never mixes the two, and back-pressure
 * counts ciphertext once it is sealed.
 *
 * Output budget (roost.outputBudgetMB): the cap above is per connection,
 * so many slow consumers could still hold gigabytes.  Every connection's
 * unsent bytes are summed in srv.ov.out_bytes (srv_out_account, here
 * wherever the output shrinks or grows, and in conn.c after each frame);
 * conn.c pauses the heaviest while the sum is over the budget.  A write
 * that completes, or bytes the socket takes at once, set c->drained:
 * conn.c's tick counts a paused connection whose peer takes bytes as
 * heard from.
 *
 * Closing: srv_conn_close detaches the connection from its session, its
 * order and watch delivery at once, then either flushes and closes or
 * closes now.  The memory is freed in the uv_close callback.
 *
 * Calls nothing above it (order.c, the replica's conn_gone through the
 * seam, the tree, tls/). */
#include "server/server_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_close(uv_handle_t *h);

size_t srv_conn_pending_bytes(const struct srv_conn *c) {
  return c->out.len + (c->writing ? c->wbuf.len : 0);
}

/* Output others append (answers, events) is counted when it is flushed,
 * within the loop turn. */
void srv_out_account(struct srv_conn *c) {
  struct srv_overload *ov = &c->srv->ov;
  size_t now = c->handle_closed ? 0 : srv_conn_pending_bytes(c);
  assert(ov->out_bytes >= c->acct);
  ov->out_bytes = ov->out_bytes - c->acct + now;
  c->acct = now;
  if (ov->out_bytes > ov->out_peak)
    ov->out_peak = ov->out_bytes;
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

void srv_conn_close_handle(struct srv_conn *c) {
  if (c->handle_closed)
    return;
  c->handle_closed = true;
  srv_out_account(c); /* to zero: a closed connection's bytes are no one's
                         load */
  dirty_unlink(c);
  uv_close((uv_handle_t *)&c->tcp, on_close);
}

/* ---- closing ---- */

/* Closing after the output: the plaintext still queued goes into the
 * engine, then close_notify after it; the flush sends both. */
static void tls_close_after(struct srv_conn *c) {
  if (c->out.len > 0 &&
      tls_conn_write(c->tls, c->out.buf, c->out.len) != TLS_OK)
    return;
  proto_writer_reset(&c->out);
  tls_conn_shutdown(c->tls);
}

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
    c->srv->rep->conn_gone(c);
    srv_order_forget(c);
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
    if (c->tls != NULL && !c->handle_closed)
      srv_tls_send_close(c->tls, (uv_stream_t *)&c->tcp);
    srv_conn_close_handle(c);
    return;
  }
  if (c->tls != NULL && !c->close_after_flush && !c->handle_closed)
    tls_close_after(c);
  c->close_after_flush = true;
  if (!c->writing && c->out.len == 0 &&
      (c->tls == NULL || tls_conn_pending_out(c->tls) == 0))
    srv_conn_close_handle(c);
  else
    srv_conn_mark_dirty(c);
}

static void on_close(uv_handle_t *h) {
  struct srv_conn *c = h->data;
  struct srv *s = c->srv;
  dirty_unlink(c);
  srv_out_account(c);
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
  tls_conn_free(c->tls);
  for (size_t i = 0; i < c->n_ids; i++) {
    free((char *)c->ids[i].scheme);
    free((char *)c->ids[i].id);
  }
  free(c->in);
  proto_writer_free(&c->out);
  proto_writer_free(&c->wbuf);
  free(c);
}

void srv_conns_close_all_clients(struct srv *s) {
  for (struct srv_conn *c = s->conns; c != NULL; c = c->next)
    if (c->state != SRV_CONN_CLOSING)
      /* flush: replies of txns committed just before (the commit of a
       * reconfiguration that removed the leader) still reach clients */
      srv_conn_close(c, true, SRV_LOG_INFO,
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
  c->drained = true;
  srv_out_account(c);
  /* A TLS engine may hold records of its own (a session ticket) that
   * were produced while this write was in flight. */
  if (c->out.len > 0 || (c->tls != NULL && tls_conn_pending_out(c->tls) > 0)) {
    conn_flush(c);
    return;
  }
  output_drained(c);
}

/* Everything queued so far has left: close if that was all we waited for,
 * or resume a connection that its output had throttled. */
static void output_drained(struct srv_conn *c) {
  if (c->close_after_flush) {
    srv_conn_close_handle(c);
    return;
  }
  if (c->throttled && srv_conn_pending_bytes(c) < SRV_OUT_LOW_BYTES) {
    c->throttled = false;
    c->budget_paused = false;
    srv_log(c->srv, SRV_LOG_DEBUG,
            "connection %s:%d drained its output; reading again", c->ip,
            c->port);
    srv_order_ready(c);
  }
}

/* A TLS connection: c->out's plaintext into the engine, its ciphertext
 * back into c->out.  0, or -1 when it closed the connection. */
static int tls_seal(struct srv_conn *c) {
  if (c->out.len > 0 &&
      tls_conn_write(c->tls, c->out.buf, c->out.len) != TLS_OK) {
    srv_conn_close(c, false, SRV_LOG_WARN, "TLS write failed: %s",
                   tls_conn_errmsg(c->tls));
    return -1;
  }
  proto_writer_reset(&c->out);
  size_t n = tls_conn_pending_out(c->tls);
  if (n == 0)
    return 0;
  uint8_t *dst = proto_writer_reserve(&c->out, n);
  if (dst == NULL) {
    srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory for its output");
    return -1;
  }
  c->out.len = tls_conn_take_out(c->tls, dst, n);
  return 0;
}

static void conn_flush(struct srv_conn *c) {
  srv_out_account(c);
  if (c->writing || c->handle_closed)
    return;
  if (proto_writer_err(&c->out) != PROTO_OK) {
    srv_conn_close(c, false, SRV_LOG_ERROR, "out of memory for its output");
    return;
  }
  if (c->tls != NULL) {
    if (tls_seal(c) != 0)
      return;
    srv_out_account(c); /* what waits now is ciphertext */
  }
  if (c->out.len == 0)
    return;
  size_t rel = c->out.len;
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
    rel -= sent;
    c->drained = true;
    srv_out_account(c);
    if (rel == 0) {
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
  srv_out_account(c);
}

void srv_out_flush_dirty(struct srv *s) {
  while (s->dirty != NULL) {
    struct srv_conn *c = s->dirty;
    s->dirty = c->dirty_next;
    c->dirty = false;
    c->dirty_next = NULL;
    if (c->handle_closed)
      continue;
    if (c->close_after_flush && !c->writing && c->out.len == 0)
      srv_conn_close_handle(c);
    else
      conn_flush(c);
  }
}

void srv_conn_stop_reading(struct srv_conn *c) {
  if (c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
  }
}

void srv_tls_send_close(struct tls_conn *tls, uv_stream_t *st) {
  tls_conn_shutdown(tls); /* nothing after a failure: its alert is queued */
  char b[1024];
  size_t n;
  /* uv_try_write refuses while a write is queued: order is kept. */
  while ((n = tls_conn_take_out(tls, b, sizeof b)) > 0) {
    uv_buf_t ub = uv_buf_init(b, (unsigned)n);
    if (uv_try_write(st, &ub, 1) != (int)n)
      break;
  }
}

void srv_overload_mntr(struct srv *s, struct proto_writer *w) {
  struct srv_overload *ov = &s->ov;
  size_t paused = 0, budget_paused = 0;
  for (const struct srv_conn *c = s->conns; c != NULL; c = c->next) {
    if (c->handle_closed || !c->throttled)
      continue;
    paused++;
    if (c->budget_paused)
      budget_paused++;
  }
  char line[1024];
  int n = snprintf(
      line, sizeof line,
      "roost_output_budget_bytes\t%zu\n"
      "roost_unsent_bytes\t%zu\n"
      "roost_unsent_bytes_peak\t%zu\n"
      "roost_paused_connections\t%zu\n"
      "roost_budget_paused_connections\t%zu\n"
      "roost_output_pauses\t%" PRIu64 "\n"
      "roost_output_budget_pauses\t%" PRIu64 "\n"
      "roost_paused_drain_touches\t%" PRIu64 "\n"
      "roost_connection_rejected_no_fd\t%" PRIu64 "\n"
      "roost_expiry_handled\t%" PRIu64 "\n"
      "roost_expiry_turns\t%" PRIu64 "\n"
      "roost_expiry_max_per_turn\t%zu\n"
      "roost_expiry_max_turn_us\t%" PRIu64 "\n"
      "roost_expiry_max_turn_cpu_us\t%" PRIu64 "\n",
      ov->out_budget, ov->out_bytes, ov->out_peak, paused, budget_paused,
      ov->pauses, ov->budget_pauses, ov->drain_touches, ov->fd_rejected,
      ov->expired, ov->expire_turns, ov->expire_max_turn,
      ov->expire_max_turn_ns / 1000u, ov->expire_max_turn_cpu_ns / 1000u);
  if (n > 0)
    proto_write_raw(w, (const uint8_t *)line,
                    (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}
