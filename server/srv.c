/* srv.c — the server object: its loop, the listening socket, the tick
 * timer that drives session expiry, the flush hook, signals and an orderly
 * shutdown.
 *
 * Shutdown: srv_stop closes every handle (listener, connections, timer,
 * check, signals); uv_run then returns by itself because nothing is active.
 * srv_free runs the loop once more for the close callbacks, frees the rest
 * and insists that uv_loop_close succeeds. */
#include "server/server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void on_tick(uv_timer_t *t);

static void arm_tick(struct srv *s) {
  /* Wake on the next multiple of tickTime (loop clock), where session
   * deadlines lie (§7.12). */
  uint64_t tick = (uint64_t)s->cfg.tick_time_ms;
  uint64_t now = uv_now(&s->loop);
  uint64_t next = (now / tick + 1) * tick;
  uv_timer_start(&s->tick, on_tick, next - now, 0);
}

static void on_tick(uv_timer_t *t) {
  struct srv *s = t->data;
  uv_update_time(&s->loop);
  int64_t now = (int64_t)uv_now(&s->loop);
  /* Connections first: a paused one that drained counts as heard from
   * before its session's deadline is looked at. */
  srv_conns_paused_tick(s);
  srv_conns_tick(s, now);
  srv_sessions_expire(s, now);
  s->rep->tick(s);
  /* The check handle runs after the poll phase; output made here must
   * not wait for the next I/O event. */
  srv_flush_all(s);
  if (!s->stopping)
    arm_tick(s);
}

static void on_check(uv_check_t *h) { srv_flush_all(h->data); }

static void on_reap(uv_timer_t *t) {
  struct srv *s = t->data;
  srv_reap(s);
  srv_flush_all(s); /* as in on_tick: timers run before the poll phase */
}

static void on_signal(uv_signal_t *h, int signum) {
  struct srv *s = h->data;
  srv_log(s, SRV_LOG_INFO, "received signal %d (%s), shutting down", signum,
          signum == SIGTERM  ? "SIGTERM"
          : signum == SIGINT ? "SIGINT"
                             : "?");
  srv_stop(s);
}

static int resolve(const char *host, int port, struct sockaddr_storage *ss,
                   char errmsg[SRV_ERRMSG_MAX]) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  int rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
  if (rc != 0 || res == NULL) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "clientPortAddress '%s': %s", host,
             rc != 0 ? gai_strerror(rc) : "no address");
    return -1;
  }
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

static void free_parts(struct srv *s) {
  srv_admin_free(s);
  free(s->metrics);
  s->metrics = NULL;
  srv_dns_free(s);
  srv_tls_free(s);
  srv_persist_free(s);
  if (s->rep != NULL)
    s->rep->free(s);
  if (s->tree != NULL)
    tree_free(s->tree);
  s->tree = NULL;
  srv_sessions_free(s);
  srv_map_free(&s->conn_by_id);
  srv_map_free(&s->connecting);
  tree_out_free(&s->commit_out);
}

struct srv *srv_new(const struct srv_config *cfg, char errmsg[SRV_ERRMSG_MAX]) {
  errmsg[0] = '\0';
  if (cfg->tick_time_ms <= 0 || cfg->jute_max_buffer <= 0 ||
      cfg->min_session_timeout_ms <= 0 ||
      cfg->max_session_timeout_ms < cfg->min_session_timeout_ms) {
    snprintf(errmsg, SRV_ERRMSG_MAX,
             "configuration not finished (tickTime, jute.maxbuffer, session "
             "timeouts): call srv_config_finish");
    return NULL;
  }
  struct srv *s = calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "out of memory");
    return NULL;
  }
  s->cfg = *cfg;
  s->metrics = calloc(1, sizeof *s->metrics);
  if (s->metrics == NULL) {
    free(s);
    snprintf(errmsg, SRV_ERRMSG_MAX, "out of memory");
    return NULL;
  }
  s->turn_end = srv_flush_all;
  s->read_now = srv_dispatch_now;
  srv_map_init(&s->conn_by_id);
  srv_map_init(&s->connecting);
  tree_out_init(&s->commit_out);
  srv_stats_reset(s);
  /* ZooTrace's default mask: client requests, server packets, sessions,
   * warnings. */
  s->trace_mask = 306;
  /* The tree comes from dataDir (snapshot + log), with the session
   * password key (persist.c). */
  if (srv_persist_open(s, errmsg) != 0)
    goto fail;
  int rc = uv_loop_init(&s->loop);
  if (rc != 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "uv_loop_init: %s", uv_strerror(rc));
    goto fail;
  }
  s->loop_ready = true;
  srv_sessions_init(s); /* after the loop: ids use the monotonic clock */
  srv_sessions_start(s);
  if (srv_persist_start(s, errmsg) != 0)
    goto fail_loop;
  /* The replica: server.N lines make an ensemble member (ens_start.c),
   * else a standalone server is an ensemble of one (local.c).  sslQuorum's
   * contexts (tlsport.c) come first: the peer links need them. */
  if (srv_tls_quorum_open(s, errmsg) != 0 ||
      (s->cfg.n_peers > 0 ? srv_zab_open(s, errmsg)
                          : srv_local_open(s, errmsg)) != 0)
    goto fail_loop;
  s->start_wall_ms = srv_wall_ms();
  s->start_loop_ms = (int64_t)uv_now(&s->loop);

  struct sockaddr_storage ss;
  if (resolve(s->cfg.client_port_address, s->cfg.client_port, &ss, errmsg) != 0)
    goto fail_loop;
  uv_tcp_init(&s->loop, &s->listener);
  s->listener.data = s;
  s->listener_open = true;
  rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
  int backlog = cfg->client_port_listen_backlog > 0
                    ? cfg->client_port_listen_backlog
                    : SOMAXCONN;
  if (rc == 0)
    rc = srv_listen(s, &s->listener, backlog, false); /* conn.c */
  if (rc != 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "cannot listen on %s:%d: %s",
             s->cfg.client_port_address, s->cfg.client_port, uv_strerror(rc));
    goto fail_loop;
  }
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  s->bound_port = s->cfg.client_port;
  if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen) == 0) {
    if (bound.ss_family == AF_INET)
      s->bound_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    else if (bound.ss_family == AF_INET6)
      s->bound_port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
  }
  if (srv_dns_open(s, errmsg) != 0)
    goto fail_loop;
  if (srv_tls_open(s, errmsg) != 0)
    goto fail_loop;
  uv_tcp_t *secure = srv_tls_listener(s);
  if (secure != NULL && (rc = srv_listen(s, secure, backlog, true)) != 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX,
             "cannot listen on the secure client port %d: %s",
             srv_tls_bound_port(s), uv_strerror(rc));
    goto fail_loop;
  }
  if (srv_admin_open(s, errmsg) != 0)
    goto fail_loop;

  uv_timer_init(&s->loop, &s->tick);
  s->tick.data = s;
  s->tick_open = true;
  arm_tick(s);
  uv_timer_init(&s->loop, &s->reap);
  s->reap.data = s;
  s->reap_open = true;
  /* A config not made by srv_config_defaults may hold 0: ZooKeeper's
   * default then. */
  uint64_t reap_ms =
      cfg->reap_interval_ms > 0 ? (uint64_t)cfg->reap_interval_ms : 60000u;
  uv_timer_start(&s->reap, on_reap, reap_ms, reap_ms);
  uv_check_init(&s->loop, &s->flush);
  s->flush.data = s;
  s->flush_open = true;
  uv_check_start(&s->flush, on_check);
  uv_signal_init(&s->loop, &s->sigint);
  uv_signal_init(&s->loop, &s->sigterm);
  s->sigint.data = s;
  s->sigterm.data = s;
  s->signals_open = true;
  /* Signal handles stay inactive until srv_install_signals; unreferenced
   * so an embedding test never waits on them. */
  uv_unref((uv_handle_t *)&s->sigint);
  uv_unref((uv_handle_t *)&s->sigterm);
  return s;

fail_loop:
  srv_stop(s);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  uv_loop_close(&s->loop);
  s->loop_ready = false;
fail:
  free_parts(s);
  free(s);
  return NULL;
}

void srv_install_signals(struct srv *s) {
  if (!s->signals_open || s->stopping)
    return;
  uv_signal_start(&s->sigint, on_signal, SIGINT);
  uv_signal_start(&s->sigterm, on_signal, SIGTERM);
}

int srv_run(struct srv *s) {
  uv_run(&s->loop, UV_RUN_DEFAULT);
  return 0;
}

int srv_bound_port(const struct srv *s) { return s->bound_port; }

const char *srv_client_address(const struct srv *s) {
  return s->cfg.client_port_address;
}

static void close_if_open(uv_handle_t *h, bool *open) {
  if (*open && !uv_is_closing(h))
    uv_close(h, NULL); /* embedded in struct srv: nothing to free */
  *open = false;
}

void srv_stop(struct srv *s) {
  if (s->stopping)
    return;
  s->stopping = true;
  srv_listen_stop(s); /* its poll first: it watches the listener's fd */
  close_if_open((uv_handle_t *)&s->listener, &s->listener_open);
  srv_dns_stop(s);
  srv_admin_stop(s);
  srv_tls_stop(s);
  srv_conns_close_all(s);
  close_if_open((uv_handle_t *)&s->tick, &s->tick_open);
  srv_sessions_stop(s);
  close_if_open((uv_handle_t *)&s->reap, &s->reap_open);
  close_if_open((uv_handle_t *)&s->flush, &s->flush_open);
  srv_persist_stop(s);
  if (s->rep != NULL)
    s->rep->stop(s);
  if (s->signals_open) {
    bool a = true, b = true;
    close_if_open((uv_handle_t *)&s->sigint, &a);
    close_if_open((uv_handle_t *)&s->sigterm, &b);
    s->signals_open = false;
  }
}

void srv_free(struct srv *s) {
  if (s == NULL)
    return;
  srv_stop(s);
  /* Let every close callback run (connections free themselves there). */
  uv_run(&s->loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&s->loop);
  if (rc != 0)
    srv_log(s, SRV_LOG_ERROR, "uv_loop_close: %s (a handle leaked)",
            uv_strerror(rc));
  free_parts(s);
  free(s);
}
