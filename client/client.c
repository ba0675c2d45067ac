/* client.c — the libuv adapter around the session core.
 *
 * Threads: application threads only touch the block guarded by c->mu (the
 * inbox, flags, state snapshots).  Everything else — the core, the TCP
 * connection, timers, helpers — belongs to the loop thread.  Requests cross
 * over through the inbox and the uv_async_t `wake`.
 *
 * Connection cycle: resolve host i (uv_getaddrinfo) -> TCP connect ->
 * handshake (core) -> connected -> ... -> drop -> next host.  After a full
 * round of failed hosts we back off 100-500 ms (randomised, so many clients
 * do not reconnect in lock step).
 *
 * Close: CLOSE request -> closeSession (if connected; wait up to 2 s for its
 * reply) -> core shutdown (every request ECLOSED, watchers NOT_WATCHING) ->
 * helpers released -> handles closed; the memory goes when the last close
 * callback ran (own thread: after uv_run returns; app loop: in it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "client/client_int.h"
#include "tls/tls.h"

#define RC_TICK_MS 50
#define RC_CLOSE_WAIT_MS 2000
#define RC_DEFAULT_MAX_PENDING 65536

struct rc_waiter {
  uv_mutex_t mu;
  uv_cond_t cv;
  bool done;
  roost_result *res;
};

struct rc_conn {
  uv_tcp_t tcp;
  uv_connect_t creq;
  roost_client *c;
  bool connected; /* TCP connect completed */
  uint64_t start_ms;
  struct tls_conn *tls; /* owned; NULL without TLS */
};

struct rc_gai {
  uv_getaddrinfo_t req;
  roost_client *c;
  uint16_t port;
};

struct rc_write {
  uv_write_t req;
  uint8_t *mem;
};

/* A read-write probe ("isro") while connected to a read-only server. */
struct rc_probe {
  uv_getaddrinfo_t gai;
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t wreq;
  roost_client *c;
  size_t host;
  uint16_t port;
  bool tcp_open; /* tcp initialised: closing it finishes the probe */
  char ans[4];
  size_t ans_len;
};

struct roost_client {
  /* --- guarded by mu (any thread) --- */
  uv_mutex_t mu;
  uv_cond_t cv;
  struct rc_req *inbox_h, *inbox_t;
  bool closed; /* no more submissions */
  int pending; /* submitted, not completed */
  int max_pending;
  int state; /* enum roost_state snapshot */
  int64_t session_id;
  int32_t timeout_ms;
  /* --- fixed after creation --- */
  roost_options opts;
  roost_auth *auth; /* copies */
  bool own_thread;
  uv_thread_t thread;
  uv_thread_t loop_tid; /* under mu */
  bool loop_tid_set;
  /* --- loop thread only --- */
  uv_loop_t *loop;
  uv_loop_t own_loop;
  uv_async_t wake;
  uv_timer_t timer;
  int open_handles; /* handles and requests whose callbacks are owed */
  struct rc_core core;
  struct rc_connstr cs;
  size_t next_host;
  size_t tried_in_round;
  struct rc_conn *conn;
  struct rc_gai *gai;
  size_t cur_host; /* the host of conn */
  struct rc_probe *probe;
  size_t probe_host;
  uint64_t probe_at_ms;
  int32_t probe_every_ms;
  uint64_t retry_at_ms;
  uint64_t rng;
  bool closing;
  bool torn_down;
  uint64_t close_deadline_ms;
  roost_close_cb close_cb;
  void *close_arg;
  struct rc_hook hooks;    /* list head */
  struct rc_follow follow; /* options.follow_config */
  struct tls_ctx *tls_ctx; /* NULL without TLS; owned */
  char tls_err[256];       /* the last handshake failure; under mu */
  char rbuf[64 * 1024];
};

static void start_close(roost_client *c);

static uint64_t now_ms(roost_client *c) { return uv_now(c->loop); }

/* ------------------------------------------------------------------ */
/* Waiters */

struct rc_waiter *rc_waiter_new(void) {
  struct rc_waiter *w = calloc(1, sizeof *w);
  if (w == NULL)
    return NULL;
  if (uv_mutex_init(&w->mu) != 0) {
    free(w);
    return NULL;
  }
  if (uv_cond_init(&w->cv) != 0) {
    uv_mutex_destroy(&w->mu);
    free(w);
    return NULL;
  }
  return w;
}

void rc_waiter_free(struct rc_waiter *w) {
  if (w == NULL)
    return;
  roost_result_free(w->res);
  uv_cond_destroy(&w->cv);
  uv_mutex_destroy(&w->mu);
  free(w);
}

void rc_waiter_deliver(struct rc_waiter *w, roost_result *res) {
  uv_mutex_lock(&w->mu);
  w->res = res;
  w->done = true;
  uv_cond_signal(&w->cv);
  uv_mutex_unlock(&w->mu);
}

roost_result *rc_waiter_wait(struct rc_waiter *w) {
  uv_mutex_lock(&w->mu);
  while (!w->done)
    uv_cond_wait(&w->cv, &w->mu);
  roost_result *r = w->res;
  w->res = NULL;
  uv_mutex_unlock(&w->mu);
  return r;
}

/* ------------------------------------------------------------------ */
/* Submissions (any thread) */

bool rc_client_on_loop(roost_client *c) {
  uv_thread_t self = uv_thread_self();
  /* Under mu: in mode (a) the I/O thread may run before the creating
   * thread has stored its id. */
  uv_mutex_lock(&c->mu);
  bool on = c->loop_tid_set && uv_thread_equal(&self, &c->loop_tid) != 0;
  uv_mutex_unlock(&c->mu);
  return on;
}

static int inbox_push(roost_client *c, struct rc_req *req, bool counts,
                      bool closing) {
  uv_mutex_lock(&c->mu);
  if (c->closed) {
    uv_mutex_unlock(&c->mu);
    rc_req_free(req);
    return ROOST_ECLOSED;
  }
  if (counts && c->pending >= c->max_pending) {
    uv_mutex_unlock(&c->mu);
    rc_req_free(req);
    return ROOST_EBUSY;
  }
  if (counts)
    c->pending++;
  if (closing)
    c->closed = true;
  req->next = NULL;
  if (c->inbox_t)
    c->inbox_t->next = req;
  else
    c->inbox_h = req;
  c->inbox_t = req;
  uv_mutex_unlock(&c->mu);
  uv_async_send(&c->wake);
  return ROOST_OK;
}

int rc_client_submit(roost_client *c, struct rc_req *req) {
  bool counts = req->kind == RC_REQ_OP || req->kind == RC_REQ_AUTH;
  return inbox_push(c, req, counts, false);
}

int rc_client_call(roost_client *c, void (*fn)(roost_client *, void *),
                   void *arg) {
  struct rc_req *r = rc_req_new(RC_REQ_CALL);
  if (r == NULL)
    return ROOST_ENOMEM;
  r->fn = fn;
  r->fn_arg = arg;
  return inbox_push(c, r, false, false);
}

struct call_wait {
  void (*fn)(roost_client *, void *);
  void *arg;
  struct rc_waiter *w;
};

static void call_wait_fn(roost_client *c, void *arg) {
  struct call_wait *cw = arg;
  cw->fn(c, cw->arg);
  rc_waiter_deliver(cw->w, NULL);
}

int rc_client_call_wait(roost_client *c, void (*fn)(roost_client *, void *),
                        void *arg) {
  if (rc_client_on_loop(c))
    return ROOST_EDEADLK;
  struct call_wait cw = {fn, arg, rc_waiter_new()};
  if (cw.w == NULL)
    return ROOST_ENOMEM;
  int rc = rc_client_call(c, call_wait_fn, &cw);
  if (rc == ROOST_OK)
    (void)rc_waiter_wait(cw.w);
  rc_waiter_free(cw.w);
  return rc;
}

struct rc_core *rc_client_core(roost_client *c) {
  return &c->core;
}

void rc_client_hook_add(roost_client *c, struct rc_hook *h) {
  h->next = c->hooks.next;
  h->prev = &c->hooks;
  c->hooks.next->prev = h;
  c->hooks.next = h;
}

void rc_client_hook_remove(roost_client *c, struct rc_hook *h) {
  (void)c;
  if (h->next == NULL)
    return;
  h->prev->next = h->next;
  h->next->prev = h->prev;
  h->next = h->prev = NULL;
}

/* ------------------------------------------------------------------ */
/* Core callbacks (loop thread) */

static void on_done(void *owner) {
  roost_client *c = owner;
  uv_mutex_lock(&c->mu);
  c->pending--;
  uv_mutex_unlock(&c->mu);
}

static void on_session(void *owner, int event) {
  roost_client *c = owner;
  uv_mutex_lock(&c->mu);
  switch (event) {
  case ROOST_SESSION_CONNECTED:
    c->state = ROOST_STATE_CONNECTED;
    break;
  case ROOST_SESSION_CONNECTED_READ_ONLY:
    c->state = ROOST_STATE_READ_ONLY;
    break;
  case ROOST_SESSION_DISCONNECTED:
    c->state = ROOST_STATE_CONNECTING;
    break;
  case ROOST_SESSION_EXPIRED:
    c->state = ROOST_STATE_EXPIRED;
    break;
  case ROOST_SESSION_CLOSED:
    c->state = ROOST_STATE_CLOSED;
    break;
  case ROOST_SESSION_AUTH_FAILED:
    if (c->core.state == RC_ST_AUTH_FAILED)
      c->state = ROOST_STATE_AUTH_FAILED;
    break;
  default:
    break;
  }
  c->session_id = c->core.session_id;
  c->timeout_ms = c->core.timeout_ms;
  uv_cond_broadcast(&c->cv);
  uv_mutex_unlock(&c->mu);
  /* Helpers first, so their state is current when the application hears
   * of the event; a hook may remove itself, so take next first. */
  for (struct rc_hook *h = c->hooks.next, *n; h != &c->hooks; h = n) {
    n = h->next;
    if (h->on_session)
      h->on_session(h, event);
  }
  if (c->opts.session_cb)
    c->opts.session_cb(c, event, c->opts.session_arg);
  if (event == ROOST_SESSION_EXPIRED && c->opts.renew_session_on_expiry &&
      !c->closing && c->core.state == RC_ST_EXPIRED) {
    rc_core_new_session(&c->core);
    uv_mutex_lock(&c->mu);
    c->state = ROOST_STATE_CONNECTING;
    uv_mutex_unlock(&c->mu);
  }
}

static void on_waiter(struct rc_waiter *w, roost_result *res) {
  rc_waiter_deliver(w, res);
}

/* ------------------------------------------------------------------ */
/* I/O */

static void on_write(uv_write_t *req, int status) {
  (void)status; /* a failed write shows up as a read error / EOF */
  struct rc_write *wr = (struct rc_write *)req;
  free(wr->mem);
  free(wr);
}

/* One uv_write of n bytes from mem (taken). */
static void write_mem(roost_client *c, uint8_t *mem, size_t n) {
  struct rc_write *wr = malloc(sizeof *wr);
  uv_buf_t b = uv_buf_init((char *)mem, (unsigned)n);
  if (wr == NULL) {
    free(mem);
    return; /* the connection will time out */
  }
  wr->mem = mem;
  if (uv_write(&wr->req, (uv_stream_t *)&c->conn->tcp, &b, 1, on_write) != 0) {
    free(wr->mem);
    free(wr);
  }
}

/* TLS: the core's bytes go through the engine; what it produced
 * (handshake records too) goes out. */
static void pump_tls(roost_client *c) {
  struct proto_writer *o = &c->core.out;
  struct rc_conn *conn = c->conn;
  if (o->len > 0 && proto_writer_err(o) == 0)
    (void)tls_conn_write(conn->tls, o->buf, o->len); /* errors: on read */
  proto_writer_reset(o);
  size_t n = tls_conn_pending_out(conn->tls);
  if (n == 0)
    return;
  uint8_t *mem = malloc(n);
  if (mem != NULL)
    write_mem(c, mem, tls_conn_take_out(conn->tls, mem, n));
}

/* Sends whatever the core produced, then runs the deliveries. */
static void pump(roost_client *c) {
  struct proto_writer *o = &c->core.out;
  if (c->conn && c->conn->connected && c->conn->tls) {
    pump_tls(c);
  } else if (o->len > 0) {
    if (c->conn && c->conn->connected && proto_writer_err(o) == 0) {
      struct rc_write *wr = malloc(sizeof *wr);
      if (wr) {
        wr->mem = o->buf;
        uv_buf_t b = uv_buf_init((char *)o->buf, (unsigned)o->len);
        proto_writer_init(o); /* the write owns the old buffer now */
        if (uv_write(&wr->req, (uv_stream_t *)&c->conn->tcp, &b, 1, on_write) !=
            0) {
          free(wr->mem);
          free(wr);
        }
      } else {
        proto_writer_reset(o);
      }
    } else {
      proto_writer_reset(o);
    }
  }
  rc_core_drain(&c->core);
}

static void handle_done(roost_client *c);

static void on_conn_closed(uv_handle_t *h) {
  struct rc_conn *conn = h->data;
  roost_client *c = conn->c;
  tls_conn_free(conn->tls);
  free(conn);
  handle_done(c);
}

static void schedule_retry(roost_client *c) {
  c->tried_in_round++;
  if (c->tried_in_round >= c->cs.n_hosts) {
    c->tried_in_round = 0;
    c->retry_at_ms = now_ms(c) + 100 + rc_rand(&c->rng) % 400;
  } else {
    c->retry_at_ms = now_ms(c);
  }
}

/* Drops the current connection (if any) and tells the core. */
static void drop_conn(roost_client *c) {
  struct rc_conn *conn = c->conn;
  if (conn == NULL)
    return;
  c->conn = NULL;
  uv_close((uv_handle_t *)&conn->tcp, on_conn_closed);
  int st = c->core.state;
  if (st == RC_ST_HANDSHAKE || st == RC_ST_CONNECTED)
    rc_core_disconnected(&c->core, now_ms(c));
  if (st == RC_ST_CONNECTED)
    c->tried_in_round = 0; /* a working server: start a fresh round */
  schedule_retry(c);
}

static void after_input(roost_client *c) {
  int st = c->core.state;
  if (st == RC_ST_EXPIRED) {
    drop_conn(c);
  } else if (st == RC_ST_CLOSED && c->closing) {
    drop_conn(c);
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  struct rc_conn *conn = h->data;
  *buf = uv_buf_init(conn->c->rbuf, sizeof conn->c->rbuf);
}

static void tls_failed(roost_client *c, struct rc_conn *conn) {
  uv_mutex_lock(&c->mu);
  snprintf(c->tls_err, sizeof c->tls_err, "%s", tls_conn_errmsg(conn->tls));
  uv_mutex_unlock(&c->mu);
}

/* Ciphertext in; the plaintext it yields goes to the core.  rbuf (which
 * held the ciphertext, now inside the engine) takes the plaintext. */
static int tls_input(roost_client *c, struct rc_conn *conn, const char *data,
                     size_t n) {
  if (tls_conn_feed(conn->tls, data, n) != TLS_OK) {
    tls_failed(c, conn);
    return ROOST_ETLS;
  }
  for (;;) {
    ssize_t r = tls_conn_read(conn->tls, c->rbuf, sizeof c->rbuf);
    if (r == 0)
      return ROOST_OK;
    if (r < 0) {
      if (r == TLS_ERROR)
        tls_failed(c, conn);
      return ROOST_ETLS;
    }
    int rc = rc_core_input(&c->core, c->rbuf, (size_t)r, now_ms(c));
    if (rc != ROOST_OK)
      return rc;
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  struct rc_conn *conn = s->data;
  roost_client *c = conn->c;
  if (conn != c->conn)
    return;
  if (nread < 0) {
    drop_conn(c);
    pump(c);
    if (c->closing && !c->torn_down)
      start_close(c);
    return;
  }
  if (nread == 0)
    return;
  int rc = conn->tls
               ? tls_input(c, conn, buf->base, (size_t)nread)
               : rc_core_input(&c->core, buf->base, (size_t)nread, now_ms(c));
  if (rc != ROOST_OK)
    drop_conn(c); /* malformed input costs the connection, nothing else */
  else
    after_input(c);
  pump(c);
  if (c->closing && !c->torn_down && c->core.state == RC_ST_CLOSED)
    start_close(c);
}

static void on_connect(uv_connect_t *req, int status) {
  struct rc_conn *conn = req->data;
  roost_client *c = conn->c;
  if (conn != c->conn)
    return; /* dropped (timeout, close) while connecting */
  if (status < 0 ||
      uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read) != 0) {
    drop_conn(c);
    pump(c);
    return;
  }
  if (c->tls_ctx != NULL) {
    conn->tls = tls_conn_new(c->tls_ctx, c->cs.hosts[c->cur_host].host);
    if (conn->tls == NULL) {
      drop_conn(c);
      pump(c);
      return;
    }
  }
  conn->connected = true;
  uv_tcp_nodelay(&conn->tcp, 1);
  rc_core_connected(&c->core, now_ms(c));
  pump(c);
}

static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res) {
  struct rc_gai *g = (struct rc_gai *)req;
  roost_client *c = g->c;
  bool current = c->gai == g;
  if (c->torn_down) {
    if (res)
      uv_freeaddrinfo(res);
    free(g);
    handle_done(c);
    return;
  }
  c->open_handles--;
  if (current)
    c->gai = NULL;
  if (!current || c->closing || status < 0 || res == NULL) {
    if (res)
      uv_freeaddrinfo(res);
    free(g);
    if (current && !c->closing)
      schedule_retry(c);
    return;
  }
  struct rc_conn *conn = calloc(1, sizeof *conn);
  if (conn == NULL || uv_tcp_init(c->loop, &conn->tcp) != 0) {
    free(conn);
    uv_freeaddrinfo(res);
    free(g);
    schedule_retry(c);
    return;
  }
  c->open_handles++;
  conn->c = c;
  conn->tcp.data = conn;
  conn->creq.data = conn;
  conn->start_ms = now_ms(c);
  c->conn = conn;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  memcpy(&ss, res->ai_addr, res->ai_addrlen);
  if (ss.ss_family == AF_INET)
    ((struct sockaddr_in *)&ss)->sin_port = htons(g->port);
  else
    ((struct sockaddr_in6 *)&ss)->sin6_port = htons(g->port);
  uv_freeaddrinfo(res);
  free(g);
  if (uv_tcp_connect(&conn->creq, &conn->tcp, (struct sockaddr *)&ss,
                     on_connect) != 0) {
    c->conn = NULL;
    uv_close((uv_handle_t *)&conn->tcp, on_conn_closed);
    schedule_retry(c);
  }
}

static void start_connect(roost_client *c) {
  if (c->conn || c->gai || c->closing || c->cs.n_hosts == 0)
    return;
  c->cur_host = c->next_host % c->cs.n_hosts;
  struct rc_host *h = &c->cs.hosts[c->cur_host];
  c->next_host++;
  struct rc_gai *g = calloc(1, sizeof *g);
  if (g == NULL) {
    schedule_retry(c);
    return;
  }
  g->c = c;
  g->port = h->port;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  c->gai = g;
  c->open_handles++;
  if (uv_getaddrinfo(c->loop, &g->req, on_resolved, h->host, NULL, &hints) !=
      0) {
    c->open_handles--;
    c->gai = NULL;
    free(g);
    schedule_retry(c);
  }
}

/* ------------------------------------------------------------------ */
/* Read-only mode: look for a read-write server as ZooKeeper's client does
 * (ClientCnxn's pingRwServer): while on a read-only one, ask the other
 * hosts "isro" in turn, backing off up to 60 s; one that answers "rw"
 * gets the next connection. */

#define RC_PROBE_MAX_MS 60000

static void probe_closed(uv_handle_t *h) {
  struct rc_probe *p = h->data;
  roost_client *c = p->c;
  free(p);
  handle_done(c);
}

static void probe_finish(struct rc_probe *p, bool rw) {
  roost_client *c = p->c;
  if (c->probe == p) {
    c->probe = NULL;
    uint64_t now = now_ms(c);
    if (rw && c->conn && c->core.state == RC_ST_CONNECTED && c->core.ro) {
      c->next_host = p->host;
      drop_conn(c); /* reconnects to p->host at once */
      c->retry_at_ms = now;
      pump(c);
    } else {
      c->probe_at_ms = now + (uint64_t)c->probe_every_ms;
      c->probe_every_ms = c->probe_every_ms * 2 > RC_PROBE_MAX_MS
                              ? RC_PROBE_MAX_MS
                              : c->probe_every_ms * 2;
    }
  }
  if (p->tcp_open) {
    if (!uv_is_closing((uv_handle_t *)&p->tcp))
      uv_close((uv_handle_t *)&p->tcp, probe_closed);
  } else {
    free(p);
    handle_done(c);
  }
}

static void probe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  struct rc_probe *p = h->data;
  *buf = uv_buf_init(p->ans + p->ans_len, (unsigned)(2 - p->ans_len));
}

static void probe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  struct rc_probe *p = s->data;
  if (n > 0)
    p->ans_len += (size_t)n;
  if (n < 0 || p->ans_len >= 2) {
    uv_read_stop(s);
    probe_finish(p, p->ans_len >= 2 && memcmp(p->ans, "rw", 2) == 0 &&
                        !p->c->torn_down);
  }
}

static void probe_written(uv_write_t *w, int status) { (void)w, (void)status; }

static void probe_connected(uv_connect_t *req, int status) {
  struct rc_probe *p = req->data;
  static char isro[] = "isro";
  uv_buf_t b = uv_buf_init(isro, 4);
  if (status < 0 || p->c->torn_down ||
      uv_write(&p->wreq, (uv_stream_t *)&p->tcp, &b, 1, probe_written) != 0 ||
      uv_read_start((uv_stream_t *)&p->tcp, probe_alloc, probe_read) != 0)
    probe_finish(p, false);
}

static void probe_resolved(uv_getaddrinfo_t *req, int status,
                           struct addrinfo *res) {
  struct rc_probe *p = (struct rc_probe *)req;
  roost_client *c = p->c;
  if (status < 0 || res == NULL || c->torn_down || c->probe != p ||
      uv_tcp_init(c->loop, &p->tcp) != 0) {
    if (res)
      uv_freeaddrinfo(res);
    probe_finish(p, false);
    return;
  }
  p->tcp_open = true;
  p->tcp.data = p;
  p->creq.data = p;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  memcpy(&ss, res->ai_addr, res->ai_addrlen);
  if (ss.ss_family == AF_INET)
    ((struct sockaddr_in *)&ss)->sin_port = htons(p->port);
  else
    ((struct sockaddr_in6 *)&ss)->sin6_port = htons(p->port);
  uv_freeaddrinfo(res);
  if (uv_tcp_connect(&p->creq, &p->tcp, (struct sockaddr *)&ss,
                     probe_connected) != 0)
    probe_finish(p, false);
}

static void probe_tick(roost_client *c, uint64_t now) {
  if (!c->opts.read_only || c->cs.n_hosts < 2 || c->probe ||
      c->core.state != RC_ST_CONNECTED || !c->core.ro) {
    if (!(c->core.state == RC_ST_CONNECTED && c->core.ro)) {
      c->probe_every_ms = c->opts.rw_probe_ms > 0 ? c->opts.rw_probe_ms : 500;
      c->probe_at_ms = now + (uint64_t)c->probe_every_ms;
    }
    return;
  }
  if (now < c->probe_at_ms)
    return;
  size_t h = c->probe_host++ % c->cs.n_hosts;
  if (h == c->cur_host)
    h = c->probe_host++ % c->cs.n_hosts;
  struct rc_probe *p = calloc(1, sizeof *p);
  if (p == NULL)
    return;
  p->c = c;
  p->host = h;
  p->port = c->cs.hosts[h].port;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  c->probe = p;
  c->open_handles++;
  if (uv_getaddrinfo(c->loop, &p->gai, probe_resolved, c->cs.hosts[h].host,
                     NULL, &hints) != 0) {
    c->probe = NULL;
    c->open_handles--;
    free(p);
    c->probe_at_ms = now + (uint64_t)c->probe_every_ms;
  }
}

/* ------------------------------------------------------------------ */
/* Loop callbacks */

static void on_tick(uv_timer_t *t) {
  roost_client *c = t->data;
  uint64_t now = now_ms(c);
  if (c->closing) {
    if (now >= c->close_deadline_ms && !c->torn_down)
      start_close(c);
    return;
  }
  if (rc_core_tick(&c->core, now) == RC_TICK_DROP)
    drop_conn(c);
  /* A TCP connect that hangs (e.g. a black-holed address) counts against
   * the same budget as the handshake. */
  int32_t to = c->core.timeout_ms > 0 ? c->core.timeout_ms : 10000;
  if (c->conn && !c->conn->connected &&
      now - c->conn->start_ms >= (uint64_t)to * 2 / 3)
    drop_conn(c);
  if (c->conn == NULL && c->gai == NULL &&
      c->core.state == RC_ST_DISCONNECTED && now >= c->retry_at_ms)
    start_connect(c);
  probe_tick(c, now);
  pump(c);
}

static void handle_inbox(roost_client *c) {
  uv_mutex_lock(&c->mu);
  struct rc_req *r = c->inbox_h;
  c->inbox_h = c->inbox_t = NULL;
  uv_mutex_unlock(&c->mu);
  while (r) {
    struct rc_req *next = r->next;
    r->next = NULL;
    switch (r->kind) {
    case RC_REQ_OP:
    case RC_REQ_AUTH:
      rc_core_submit(&c->core, r, now_ms(c));
      break;
    case RC_REQ_CALL:
      r->fn(c, r->fn_arg);
      rc_req_free(r);
      break;
    case RC_REQ_NEW_SESSION:
      if (c->core.state == RC_ST_EXPIRED) {
        rc_core_new_session(&c->core);
        uv_mutex_lock(&c->mu);
        c->state = ROOST_STATE_CONNECTING;
        uv_mutex_unlock(&c->mu);
        c->retry_at_ms = 0;
      }
      rc_req_free(r);
      break;
    case RC_REQ_CLOSE:
      rc_req_free(r);
      if (!c->closing) {
        c->closing = true;
        c->close_deadline_ms = now_ms(c) + RC_CLOSE_WAIT_MS;
        if (!rc_core_close_session(&c->core, now_ms(c)))
          c->close_deadline_ms = 0; /* not connected: tear down now */
      }
      break;
    default:
      rc_req_free(r);
      break;
    }
    r = next;
  }
}

static void on_wake(uv_async_t *a) {
  roost_client *c = a->data;
  if (c->torn_down)
    return;
  handle_inbox(c);
  pump(c);
  if (c->closing && !c->torn_down &&
      (c->close_deadline_ms == 0 || c->core.state == RC_ST_CLOSED))
    start_close(c);
}

static void free_client(roost_client *c) {
  tls_ctx_free(c->tls_ctx);
  rc_core_free(&c->core);
  rc_connstr_free(&c->cs);
  for (size_t i = 0; i < c->opts.n_auth; i++) {
    free((void *)c->auth[i].scheme);
    free((void *)c->auth[i].credentials);
  }
  free(c->auth);
  uv_cond_destroy(&c->cv);
  uv_mutex_destroy(&c->mu);
  free(c);
}

/* One handle or request of the client finished; the last one of a torn
 * down client frees it (in mode b; in mode a the thread's uv_run returns
 * and roost_client_close frees it). */
static void handle_done(roost_client *c) {
  c->open_handles--;
  if (c->open_handles == 0 && c->torn_down && !c->own_thread) {
    roost_close_cb cb = c->close_cb;
    void *arg = c->close_arg;
    free_client(c);
    if (cb)
      cb(arg);
  }
}

static void on_handle_closed(uv_handle_t *h) { handle_done(h->data); }

/* Final teardown on the loop thread (idempotent). */
static void start_close(roost_client *c) {
  if (c->torn_down)
    return;
  c->torn_down = true;
  /* Work handed over before the close still runs, in order: calls run,
   * requests fail with ECLOSED below. */
  handle_inbox(c);
  drop_conn(c);
  rc_core_shutdown(&c->core, ROOST_ECLOSED);
  rc_core_drain(&c->core);
  /* Helpers the application did not free are released now. */
  while (c->hooks.next != &c->hooks) {
    struct rc_hook *h = c->hooks.next;
    rc_client_hook_remove(c, h);
    if (h->on_close)
      h->on_close(h);
  }
  handle_inbox(c); /* anything a helper queued while going away */
  rc_core_drain(&c->core);
  if (c->gai)
    uv_cancel((uv_req_t *)&c->gai->req);
  c->gai = NULL; /* its callback frees it */
  if (c->probe) {
    struct rc_probe *p = c->probe;
    c->probe = NULL; /* its callbacks see torn_down and finish it */
    if (p->tcp_open) {
      if (!uv_is_closing((uv_handle_t *)&p->tcp))
        uv_close((uv_handle_t *)&p->tcp, probe_closed);
    } else {
      uv_cancel((uv_req_t *)&p->gai);
    }
  }
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  uv_close((uv_handle_t *)&c->wake, on_handle_closed);
}

/* ------------------------------------------------------------------ */
/* Public */

void roost_options_init(roost_options *o) {
  memset(o, 0, sizeof *o);
  o->session_timeout_ms = 10000;
}

static void io_thread(void *arg) {
  roost_client *c = arg;
  uv_mutex_lock(&c->mu);
  c->loop_tid = uv_thread_self();
  c->loop_tid_set = true;
  uv_mutex_unlock(&c->mu);
  uv_run(c->loop, UV_RUN_DEFAULT);
}

static uint64_t default_seed(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
         ((uint64_t)getpid() << 40);
}

int roost_client_new(const char *connect_string, const roost_options *opts,
                     roost_client **out) {
  if (out == NULL)
    return ROOST_EINVAL;
  *out = NULL;
  roost_options defaults;
  roost_options_init(&defaults);
  if (opts == NULL)
    opts = &defaults;
  if (opts->session_timeout_ms < 0 || opts->max_pending < 0 ||
      opts->max_frame_bytes < 0 || (opts->n_auth > 0 && opts->auth == NULL))
    return ROOST_EINVAL;
  roost_client *c = calloc(1, sizeof *c);
  if (c == NULL)
    return ROOST_ENOMEM;
  int rc = rc_connstr_parse(connect_string, &c->cs);
  if (rc != ROOST_OK) {
    free(c);
    return rc;
  }
  c->opts = *opts;
  /* The option strings are read here and not kept. */
  c->opts.tls_ca = c->opts.tls_cert = c->opts.tls_key = NULL;
  c->opts.tls_key_password = c->opts.tls_certs = NULL;
  {
    struct tls_options *t = malloc(sizeof *t);
    char err[TLS_ERRMSG_MAX];
    bool on = false;
    rc = t != NULL ? rc_tls_options(opts, t, &on, err, sizeof err)
                   : ROOST_ENOMEM;
    if (rc == ROOST_OK && on &&
        tls_ctx_new(t, TLS_ROLE_CLIENT, "tls ", &c->tls_ctx, err) != 0)
      rc = ROOST_ETLS;
    free(t);
    if (rc != ROOST_OK) {
      rc_connstr_free(&c->cs);
      free(c);
      return rc;
    }
  }
  if (c->opts.session_timeout_ms == 0)
    c->opts.session_timeout_ms = 10000;
  c->max_pending =
      opts->max_pending ? opts->max_pending : RC_DEFAULT_MAX_PENDING;
  c->rng = opts->seed ? opts->seed : default_seed();
  c->hooks.next = c->hooks.prev = &c->hooks;
  c->state = ROOST_STATE_CONNECTING;
  /* Shuffle the servers so that clients spread over an ensemble. */
  for (size_t i = c->cs.n_hosts; i > 1; i--) {
    size_t j = (size_t)(rc_rand(&c->rng) % i);
    struct rc_host t = c->cs.hosts[i - 1];
    c->cs.hosts[i - 1] = c->cs.hosts[j];
    c->cs.hosts[j] = t;
  }
  c->opts.auth = NULL;
  c->opts.n_auth = 0;
  if (opts->n_auth > 0) {
    c->auth = calloc(opts->n_auth, sizeof *c->auth);
    if (c->auth == NULL)
      goto nomem;
    c->opts.n_auth = opts->n_auth;
    for (size_t i = 0; i < opts->n_auth; i++) {
      const roost_auth *a = &opts->auth[i];
      if (a->scheme == NULL || (a->credentials == NULL && a->credentials_len))
        goto inval;
      c->auth[i].scheme = rc_strndup(a->scheme, strlen(a->scheme));
      void *cred = malloc(a->credentials_len ? a->credentials_len : 1);
      if (cred && a->credentials_len)
        memcpy(cred, a->credentials, a->credentials_len);
      c->auth[i].credentials = cred;
      c->auth[i].credentials_len = a->credentials_len;
      if (c->auth[i].scheme == NULL || cred == NULL)
        goto nomem;
    }
  }
  struct rc_core_config kc;
  memset(&kc, 0, sizeof kc);
  kc.chroot = c->cs.chroot;
  kc.timeout_ms = c->opts.session_timeout_ms;
  kc.read_only = opts->read_only;
  kc.auth_failed_reconnect = opts->auth_failed_reconnect;
  kc.max_frame = opts->max_frame_bytes ? (size_t)opts->max_frame_bytes : 0;
  kc.client = c;
  kc.on_session = on_session;
  kc.owner = c;
  kc.on_done = on_done;
  kc.on_waiter = on_waiter;
  if (uv_mutex_init(&c->mu) != 0)
    goto sys_nomutex;
  if (uv_cond_init(&c->cv) != 0) {
    uv_mutex_destroy(&c->mu);
    goto sys_nomutex;
  }
  if (rc_core_init(&c->core, &kc) != ROOST_OK) {
    uv_cond_destroy(&c->cv);
    uv_mutex_destroy(&c->mu);
    goto nomem;
  }
  /* The configured identities go first, as if added by add_auth. */
  for (size_t i = 0; i < c->opts.n_auth; i++) {
    struct rc_req *r = rc_req_new(RC_REQ_AUTH);
    if (r == NULL)
      goto nomem_core;
    r->rop = ROOST_OP_AUTH;
    r->scheme = rc_strndup(c->auth[i].scheme, strlen(c->auth[i].scheme));
    r->cred = malloc(c->auth[i].credentials_len + 1);
    if (r->scheme == NULL || r->cred == NULL) {
      rc_req_free(r);
      goto nomem_core;
    }
    memcpy(r->cred, c->auth[i].credentials, c->auth[i].credentials_len);
    r->cred_len = c->auth[i].credentials_len;
    c->pending++;
    rc_core_submit(&c->core, r, 0);
  }
  /* Follow /zookeeper/config: by default when there is a list to keep. */
  if (opts->follow_config > 0 ||
      (opts->follow_config == 0 && c->cs.n_hosts > 1))
    rc_follow_start(&c->follow, c);
  c->own_thread = opts->loop == NULL;
  if (c->own_thread) {
    c->loop = &c->own_loop;
    if (uv_loop_init(c->loop) != 0)
      goto sys_core;
  } else {
    c->loop = (uv_loop_t *)opts->loop;
  }
  uv_async_init(c->loop, &c->wake, on_wake);
  c->wake.data = c;
  uv_timer_init(c->loop, &c->timer);
  c->timer.data = c;
  c->open_handles = 2;
  uv_timer_start(&c->timer, on_tick, 0, RC_TICK_MS);
  if (c->own_thread) {
    if (uv_thread_create(&c->thread, io_thread, c) != 0) {
      uv_close((uv_handle_t *)&c->timer, NULL);
      uv_close((uv_handle_t *)&c->wake, NULL);
      uv_run(c->loop, UV_RUN_DEFAULT);
      uv_loop_close(c->loop);
      goto sys_core;
    }
  } else {
    c->loop_tid = uv_thread_self(); /* no other thread knows c yet */
    c->loop_tid_set = true;
  }
  *out = c;
  return ROOST_OK;

sys_core:
  rc = ROOST_ESYS;
  goto fail_core;
nomem_core:
  rc = ROOST_ENOMEM;
fail_core:
  rc_core_free(&c->core);
  uv_cond_destroy(&c->cv);
  uv_mutex_destroy(&c->mu);
  goto fail;
sys_nomutex:
  rc = ROOST_ESYS;
  goto fail;
inval:
  rc = ROOST_EINVAL;
  goto fail;
nomem:
  rc = ROOST_ENOMEM;
fail:
  tls_ctx_free(c->tls_ctx);
  rc_connstr_free(&c->cs);
  if (c->auth) {
    for (size_t i = 0; i < c->opts.n_auth; i++) {
      free((void *)c->auth[i].scheme);
      free((void *)c->auth[i].credentials);
    }
    free(c->auth);
  }
  free(c);
  return rc;
}

static int push_close(roost_client *c) {
  struct rc_req *r = rc_req_new(RC_REQ_CLOSE);
  if (r == NULL)
    return ROOST_ENOMEM;
  return inbox_push(c, r, false, true);
}

static void close_done_signal(void *arg) { rc_waiter_deliver(arg, NULL); }

int roost_client_close(roost_client *c) {
  if (c == NULL)
    return ROOST_EINVAL;
  if (rc_client_on_loop(c))
    return ROOST_EDEADLK;
  if (!c->own_thread) {
    struct rc_waiter *w = rc_waiter_new();
    if (w == NULL)
      return ROOST_ENOMEM;
    int rc = roost_client_close_async(c, close_done_signal, w);
    if (rc == ROOST_OK)
      (void)rc_waiter_wait(w);
    rc_waiter_free(w);
    return rc;
  }
  int rc = push_close(c);
  if (rc != ROOST_OK)
    return rc;
  uv_thread_join(&c->thread);
  int lrc = uv_loop_close(c->loop);
  (void)lrc; /* every handle of ours is closed by now */
  free_client(c);
  return ROOST_OK;
}

int roost_client_close_async(roost_client *c, roost_close_cb cb, void *arg) {
  if (c == NULL || c->own_thread)
    return ROOST_EINVAL;
  uv_mutex_lock(&c->mu);
  bool already = c->closed;
  if (!already) {
    c->close_cb = cb;
    c->close_arg = arg;
  }
  uv_mutex_unlock(&c->mu);
  if (already)
    return ROOST_ECLOSED;
  return push_close(c);
}

int roost_client_wait_connected(roost_client *c, int32_t timeout_ms) {
  if (c == NULL)
    return ROOST_EINVAL;
  if (rc_client_on_loop(c))
    return ROOST_EDEADLK;
  uint64_t deadline =
      uv_hrtime() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000ull;
  int rc;
  uv_mutex_lock(&c->mu);
  for (;;) {
    if (c->state == ROOST_STATE_CONNECTED ||
        c->state == ROOST_STATE_READ_ONLY) {
      rc = ROOST_OK;
      break;
    }
    if (c->state == ROOST_STATE_EXPIRED) {
      rc = ROOST_SESSIONEXPIRED;
      break;
    }
    if (c->state == ROOST_STATE_AUTH_FAILED) {
      rc = ROOST_AUTHFAILED;
      break;
    }
    if (c->state == ROOST_STATE_CLOSED || c->closed) {
      rc = ROOST_ECLOSED;
      break;
    }
    if (timeout_ms < 0) {
      uv_cond_wait(&c->cv, &c->mu);
      continue;
    }
    uint64_t now = uv_hrtime();
    if (now >= deadline) {
      rc = ROOST_ETIMEDOUT;
      break;
    }
    (void)uv_cond_timedwait(&c->cv, &c->mu, deadline - now);
  }
  uv_mutex_unlock(&c->mu);
  return rc;
}

int roost_client_new_session(roost_client *c) {
  if (c == NULL)
    return ROOST_EINVAL;
  uv_mutex_lock(&c->mu);
  int st = c->state;
  uv_mutex_unlock(&c->mu);
  if (st != ROOST_STATE_EXPIRED)
    return ROOST_ESTATE;
  struct rc_req *r = rc_req_new(RC_REQ_NEW_SESSION);
  if (r == NULL)
    return ROOST_ENOMEM;
  return inbox_push(c, r, false, false);
}

int roost_client_state(roost_client *c) {
  uv_mutex_lock(&c->mu);
  int st = c->state;
  uv_mutex_unlock(&c->mu);
  return st;
}

int64_t roost_client_session_id(roost_client *c) {
  uv_mutex_lock(&c->mu);
  int64_t v = c->session_id;
  uv_mutex_unlock(&c->mu);
  return v;
}

int32_t roost_client_session_timeout(roost_client *c) {
  uv_mutex_lock(&c->mu);
  int32_t v = c->timeout_ms;
  uv_mutex_unlock(&c->mu);
  return v;
}

/* ------------------------------------------------------------------ */
/* updateServerList */

/* Loop thread: ns's hosts replace the list (the chroot stays), and the
 * client stays or moves as rc_rebalance decides; moving drops the
 * connection (the session goes along: it is the same ensemble).  Takes
 * the hosts of ns. */
static void apply_hosts(roost_client *c, struct rc_connstr *ns) {
  const struct rc_host *cur =
      c->cs.n_hosts > 0 ? &c->cs.hosts[c->cur_host % c->cs.n_hosts] : NULL;
  size_t keep;
  bool move = rc_rebalance(c->cs.hosts, c->cs.n_hosts, cur, ns->hosts,
                           ns->n_hosts, &c->rng, &keep);
  for (size_t i = 0; i < c->cs.n_hosts; i++)
    free(c->cs.hosts[i].host);
  free(c->cs.hosts);
  c->cs.hosts = ns->hosts;
  c->cs.n_hosts = ns->n_hosts;
  ns->hosts = NULL;
  ns->n_hosts = 0;
  c->tried_in_round = 0;
  c->probe_host = 0;
  if (!move && keep != SIZE_MAX) {
    c->cur_host = keep;
    c->next_host = keep + 1;
    return;
  }
  /* hosts[] is now the order to try, from the first */
  c->cur_host = 0;
  c->next_host = 0;
  if (move && c->conn != NULL) {
    drop_conn(c);
    c->tried_in_round = 0;
    c->retry_at_ms = now_ms(c); /* a planned move: no backoff */
  }
}

struct upd_hosts {
  const char *hosts;
  int rc;
};

static void update_hosts(roost_client *c, void *arg) {
  struct upd_hosts *u = arg;
  struct rc_connstr ns;
  u->rc = rc_connstr_parse(u->hosts, &ns);
  if (u->rc != ROOST_OK)
    return;
  apply_hosts(c, &ns);
  rc_connstr_free(&ns);
}

int roost_update_server_list(roost_client *c, const char *hosts) {
  if (c == NULL || hosts == NULL)
    return ROOST_EINVAL;
  struct upd_hosts u = {hosts, ROOST_OK};
  int rc = rc_client_call_wait(c, update_hosts, &u);
  return rc != ROOST_OK ? rc : u.rc;
}

/* The client address of each server.N line of z. */
static int hosts_of_config(const struct proto_zkconfig *z,
                           struct rc_connstr *ns) {
  memset(ns, 0, sizeof *ns);
  ns->hosts = calloc(z->n ? z->n : 1, sizeof *ns->hosts);
  if (ns->hosts == NULL)
    return ROOST_ENOMEM;
  for (size_t i = 0; i < z->n; i++) {
    const struct proto_zkserver *s = &z->s[i];
    if (!s->has_client)
      continue;
    /* a wildcard client address means "the server's own host" */
    const char *h =
        strcmp(s->client_host, "0.0.0.0") == 0 ? s->host : s->client_host;
    struct rc_host *d = &ns->hosts[ns->n_hosts];
    d->host = rc_strndup(h, strlen(h));
    d->port = (uint16_t)s->client_port;
    if (d->host == NULL) {
      rc_connstr_free(ns);
      return ROOST_ENOMEM;
    }
    ns->n_hosts++;
  }
  if (ns->n_hosts == 0) {
    rc_connstr_free(ns);
    return ROOST_ECONNSTR; /* no client addresses in the configuration */
  }
  return ROOST_OK;
}

int rc_client_apply_config(roost_client *c, const struct proto_zkconfig *z) {
  struct rc_connstr ns;
  int rc = hosts_of_config(z, &ns);
  if (rc != ROOST_OK)
    return rc;
  apply_hosts(c, &ns);
  rc_connstr_free(&ns);
  return ROOST_OK;
}

struct upd_config {
  const struct proto_zkconfig *z;
  int rc;
};

static void update_config(roost_client *c, void *arg) {
  struct upd_config *u = arg;
  u->rc = rc_client_apply_config(c, u->z);
}

int roost_update_server_list_from_config(roost_client *c, const char *config,
                                         size_t len) {
  if (c == NULL || config == NULL)
    return ROOST_EINVAL;
  struct proto_zkconfig *z = calloc(1, sizeof *z);
  if (z == NULL)
    return ROOST_ENOMEM;
  struct upd_config u = {z, ROOST_ECONNSTR};
  int rc = ROOST_ECONNSTR;
  if (proto_zkconfig_parse(config, len, z, NULL) == PROTO_OK) {
    rc = rc_client_call_wait(c, update_config, &u);
    if (rc == ROOST_OK)
      rc = u.rc;
  }
  free(z);
  return rc;
}

size_t roost_client_tls_error(roost_client *c, char *buf, size_t len) {
  if (c == NULL || buf == NULL || len == 0)
    return 0;
  uv_mutex_lock(&c->mu);
  snprintf(buf, len, "%s", c->tls_err);
  uv_mutex_unlock(&c->mu);
  return strlen(buf);
}
