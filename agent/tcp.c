/* tcp.c — tcp checks: resolve host:port, connect, close.  Connected is
 * passing, anything else (refused, unreachable, timeout) critical. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_int.h"

struct tcp_run {
  struct agent_run base; /* first */
  uv_getaddrinfo_t gai;
  uv_tcp_t tcp;
  uv_connect_t conn;
  uv_timer_t timer;
  int open;        /* handles open (timer, tcp) */
  bool resolving;  /* gai in flight */
  bool connecting; /* conn in flight */
  bool done;       /* result reported or cancelled */
  char host[256];
  char port[8];
  char msg[512];
  int status;
};

static void maybe_free(struct tcp_run *r) {
  if (r->open == 0 && !r->resolving && !r->connecting)
    free(r);
}

static void on_closed(uv_handle_t *h) {
  struct tcp_run *r = h->data;
  r->open--;
  maybe_free(r);
}

/* Reports once; closes the handles (the run frees itself after). */
static void finish(struct tcp_run *r, int status, const char *msg) {
  if (r->done)
    return;
  r->done = true;
  uv_timer_stop(&r->timer);
  if (r->resolving)
    uv_cancel((uv_req_t *)&r->gai);
  uv_close((uv_handle_t *)&r->timer, on_closed);
  if (r->tcp.loop && !uv_is_closing((uv_handle_t *)&r->tcp))
    uv_close((uv_handle_t *)&r->tcp, on_closed);
  if (r->base.check)
    agent_run_done(&r->base, status, msg);
}

static void tcp_cancel(struct agent_run *base) {
  struct tcp_run *r = (struct tcp_run *)base;
  r->base.check = NULL;
  finish(r, AGENT_CRITICAL, "");
  maybe_free(r);
}

static void on_connect(uv_connect_t *req, int status) {
  struct tcp_run *r = req->data;
  r->connecting = false;
  char msg[600];
  if (status == 0)
    snprintf(msg, sizeof msg, "TCP connect %s:%s: Success", r->host, r->port);
  else
    snprintf(msg, sizeof msg, "dial tcp %s:%s: %s", r->host, r->port,
             uv_strerror(status));
  finish(r, status == 0 ? AGENT_PASSING : AGENT_CRITICAL, msg);
  maybe_free(r);
}

static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res) {
  struct tcp_run *r = req->data;
  r->resolving = false;
  if (r->done) {
    uv_freeaddrinfo(res);
    maybe_free(r);
    return;
  }
  char msg[600];
  if (status != 0 || res == NULL) {
    snprintf(msg, sizeof msg, "dial tcp %s:%s: lookup: %s", r->host, r->port,
             uv_strerror(status));
    uv_freeaddrinfo(res);
    finish(r, AGENT_CRITICAL, msg);
    maybe_free(r);
    return;
  }
  uv_tcp_init(r->base.a->loop, &r->tcp);
  r->tcp.data = r;
  r->open++;
  r->conn.data = r;
  int rc = uv_tcp_connect(&r->conn, &r->tcp, res->ai_addr, on_connect);
  uv_freeaddrinfo(res);
  if (rc != 0) {
    snprintf(msg, sizeof msg, "dial tcp %s:%s: %s", r->host, r->port,
             uv_strerror(rc));
    finish(r, AGENT_CRITICAL, msg);
    maybe_free(r);
    return;
  }
  r->connecting = true;
}

static void on_timeout(uv_timer_t *t) {
  struct tcp_run *r = t->data;
  char msg[600];
  snprintf(msg, sizeof msg, "dial tcp %s:%s: i/o timeout", r->host, r->port);
  finish(r, AGENT_CRITICAL, msg); /* closing tcp cancels the connect */
  maybe_free(r);
}

int agent_tcp_start(struct agent_check *c, struct agent_run **out) {
  agent *a = c->inst->a;
  struct tcp_run *r = calloc(1, sizeof *r);
  if (r == NULL)
    return -1;
  r->base.check = c;
  r->base.a = a;
  r->base.cancel = tcp_cancel;
  const char *t = c->def->target;
  const char *colon = strrchr(t, ':');
  size_t hl = (size_t)(colon - t);
  /* "[::1]:80" */
  if (hl >= 2 && t[0] == '[' && t[hl - 1] == ']') {
    t++;
    hl -= 2;
  }
  if (hl >= sizeof r->host || strlen(colon + 1) >= sizeof r->port) {
    free(r);
    return -1;
  }
  memcpy(r->host, t, hl);
  r->host[hl] = '\0';
  memcpy(r->port, colon + 1, strlen(colon + 1) + 1);
  uv_timer_init(a->loop, &r->timer);
  r->timer.data = r;
  r->open = 1;
  r->gai.data = r;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (uv_getaddrinfo(a->loop, &r->gai, on_resolved, r->host, r->port, &hints) !=
      0) {
    r->done = true;
    uv_close((uv_handle_t *)&r->timer, on_closed);
    return -1; /* freed by on_closed */
  }
  r->resolving = true;
  uv_timer_start(&r->timer, on_timeout, (uint64_t)c->def->timeout_ms, 0);
  *out = &r->base;
  return 0;
}
