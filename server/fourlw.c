/* fourlw.c — four-letter words (§8): a text answer on a fresh connection,
 * then close.  Formats follow ZooKeeper 3.8 (observed), since tools parse
 * them; gauges we cannot fill honestly are left out of mntr rather than
 * printed as zeros.  The whole answer is queued at once, so it leaves in
 * one write (kazoo's `command` does a single recv). */
#include "server/server_int.h"

#include <dirent.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define SRV_BUILT_ON __DATE__ " " __TIME__
#define SRV_VERSION_LINE SRV_ZK_VERSION ", built on " SRV_BUILT_ON

static void wprintf_(struct proto_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void wprintf_(struct proto_writer *w, const char *fmt, ...) {
  char small[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n < sizeof small) {
    proto_write_raw(w, small, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (big == NULL) {
    proto_write_raw(w, small, sizeof small - 1);
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  proto_write_raw(w, big, (size_t)n);
  free(big);
}

/* Java prints doubles as the shortest form with at least one decimal
 * ("4.0", "0.2857"); ZooKeeper rounds latency averages to 4 places. */
static void fmt_double(char out[48], double v) {
  snprintf(out, 48, "%.4f", v);
  size_t n = strlen(out);
  while (n > 0 && out[n - 1] == '0' && n >= 2 && out[n - 2] != '.')
    out[--n] = '\0';
}

static int64_t us_to_ms(uint64_t us) { return (int64_t)(us / 1000u); }

static size_t live_conns(const struct srv *s) {
  size_t n = 0;
  for (const struct srv_conn *c = s->conns; c != NULL; c = c->next)
    if (!c->handle_closed)
      n++;
  return n;
}

void srv_stats_reset(struct srv *s) {
  s->stats.packets_received = 0;
  s->stats.packets_sent = 0;
  s->stats.lat_min_us = 0;
  s->stats.lat_max_us = 0;
  s->stats.lat_sum_us = 0;
  s->stats.lat_count = 0;
  s->stats.last_resp_size = -1;
  s->stats.min_resp_size = -1;
  s->stats.max_resp_size = -1;
}

static size_t outstanding(const struct srv *s) {
  size_t n = 0;
  for (const struct srv_conn *c = s->conns; c != NULL; c = c->next)
    if (!c->handle_closed)
      n += srv_conn_queued_frames(c);
  return n;
}

static void server_figures(struct srv_conn *c) {
  struct srv *s = c->srv;
  struct proto_writer *w = &c->out;
  struct tree_stats ts;
  tree_stats_get(s->tree, &ts);
  char avg[48];
  fmt_double(avg, s->stats.lat_count ? (double)s->stats.lat_sum_us / 1000.0 /
                                           (double)s->stats.lat_count
                                     : 0.0);
  wprintf_(w, "Latency min/avg/max: %" PRId64 "/%s/%" PRId64 "\n",
           us_to_ms(s->stats.lat_min_us), avg, us_to_ms(s->stats.lat_max_us));
  wprintf_(w, "Received: %" PRIu64 "\n", s->stats.packets_received);
  wprintf_(w, "Sent: %" PRIu64 "\n", s->stats.packets_sent);
  wprintf_(w, "Connections: %zu\n", live_conns(s));
  wprintf_(w, "Outstanding: %zu\n", outstanding(s));
  wprintf_(w, "Zxid: 0x%" PRIx64 "\n", (uint64_t)tree_last_zxid(s->tree));
  wprintf_(w, "Mode: %s\n", s->rep->mode(s));
  wprintf_(w, "Node count: %" PRIu64 "\n", ts.node_count);
}

static unsigned interest_ops(const struct srv_conn *c) {
  /* NIO interest bits as ZooKeeper prints them: 1 read, 4 write. */
  return (c->reading ? 1u : 0u) | (c->writing ? 4u : 0u);
}

static void conn_brief(struct proto_writer *w, const struct srv_conn *c) {
  wprintf_(w, " /%s:%d[%u](queued=%zu,recved=%" PRIu64 ",sent=%" PRIu64, c->ip,
           c->port, interest_ops(c), srv_conn_queued_frames(c), c->recv,
           c->sent);
}

static void fl_srvr(struct srv_conn *c) {
  wprintf_(&c->out, "Zookeeper version: %s\n", SRV_VERSION_LINE);
  server_figures(c);
}

static void fl_stat(struct srv_conn *c) {
  struct proto_writer *w = &c->out;
  wprintf_(w, "Zookeeper version: %s\nClients:\n", SRV_VERSION_LINE);
  for (const struct srv_conn *o = c->srv->conns; o != NULL; o = o->next) {
    if (o->handle_closed)
      continue;
    conn_brief(w, o);
    wprintf_(w, ")\n");
  }
  wprintf_(w, "\n");
  server_figures(c);
}

static void fl_cons(struct srv_conn *c) {
  struct proto_writer *w = &c->out;
  for (const struct srv_conn *o = c->srv->conns; o != NULL; o = o->next) {
    if (o->handle_closed)
      continue;
    conn_brief(w, o);
    if (o->session != NULL) {
      uint64_t avg = o->lat_count ? o->lat_sum_us / o->lat_count : 0;
      wprintf_(w,
               ",sid=0x%" PRIx64 ",lop=%s,est=%" PRId64 ",to=%" PRId32
               ",lcxid=0x%" PRIx64 ",lzxid=0x%" PRIx64 ",lresp=%" PRId64
               ",llat=%" PRId64 ",minlat=%" PRId64 ",avglat=%" PRId64
               ",maxlat=%" PRId64,
               (uint64_t)o->session->id, proto_op_tag(o->last_op),
               o->est_wall_ms, o->session->timeout_ms,
               (uint64_t)(int64_t)o->last_cxid, (uint64_t)o->last_zxid,
               o->last_resp_wall_ms, us_to_ms(o->lat_last_us),
               o->lat_count ? us_to_ms(o->lat_min_us) : 0, us_to_ms(avg),
               us_to_ms(o->lat_max_us));
    }
    wprintf_(w, ")\n");
  }
  wprintf_(w, "\n");
}

static void fl_crst(struct srv_conn *c) {
  for (struct srv_conn *o = c->srv->conns; o != NULL; o = o->next) {
    o->recv = o->sent = 0;
    o->lat_last_us = o->lat_max_us = o->lat_sum_us = o->lat_count = 0;
    o->lat_min_us = UINT64_MAX;
    o->last_cxid = -1;
    o->last_zxid = -1;
    o->last_op = PROTO_OP_NOTIFICATION;
    o->last_resp_wall_ms = 0;
  }
  wprintf_(&c->out, "Connection stats reset.\n");
}

static void fl_srst(struct srv_conn *c) {
  srv_stats_reset(c->srv);
  wprintf_(&c->out, "Server stats reset.\n");
}

static int64_t open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL)
    return -1;
  int64_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* the directory stream's own descriptor */
}

/* ZooKeeper's election_time summary as its mntr prints a summary
 * (avg_, min_, max_, cnt_, sum_; ms); zeros until an election ends, and
 * always zero standalone, as in ZooKeeper. */
static void election_mntr(struct srv *s, struct proto_writer *w) {
  const struct srv_metrics *m = s->metrics;
  const struct srv_hist *h = &m->election_ms;
  char avg[48];
  fmt_double(avg, h->count ? (double)h->sum / (double)h->count : 0.0);
  wprintf_(w, "zk_avg_election_time\t%s\n", avg);
  wprintf_(w, "zk_min_election_time\t%" PRIu64 "\n", m->election_min_ms);
  wprintf_(w, "zk_max_election_time\t%" PRIu64 "\n", m->election_max_ms);
  wprintf_(w, "zk_cnt_election_time\t%" PRIu64 "\n", h->count);
  wprintf_(w, "zk_sum_election_time\t%" PRIu64 "\n", h->sum);
}

static void fl_mntr(struct srv_conn *c) {
  struct srv *s = c->srv;
  struct proto_writer *w = &c->out;
  struct tree_stats ts;
  tree_stats_get(s->tree, &ts);
  char avg[48];
  fmt_double(avg, s->stats.lat_count ? (double)s->stats.lat_sum_us / 1000.0 /
                                           (double)s->stats.lat_count
                                     : 0.0);
  struct rlimit rl;
  int64_t max_fds = -1;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    max_fds = (int64_t)rl.rlim_cur;
  wprintf_(w, "zk_version\t%s\n", SRV_VERSION_LINE);
  wprintf_(w, "zk_server_state\t%s\n", s->rep->mode(s));
  wprintf_(w, "zk_ephemerals_count\t%" PRIu64 "\n", ts.ephemerals_count);
  wprintf_(w, "zk_num_alive_connections\t%zu\n", live_conns(s));
  wprintf_(w, "zk_avg_latency\t%s\n", avg);
  wprintf_(w, "zk_outstanding_requests\t%zu\n", outstanding(s));
  wprintf_(w, "zk_znode_count\t%" PRIu64 "\n", ts.node_count);
  wprintf_(w, "zk_global_sessions\t%zu\n", s->sessions.n);
  wprintf_(w, "zk_local_sessions\t0\n");
  wprintf_(w, "zk_packets_sent\t%" PRIu64 "\n", s->stats.packets_sent);
  wprintf_(w, "zk_packets_received\t%" PRIu64 "\n", s->stats.packets_received);
  wprintf_(w, "zk_watch_count\t%" PRIu64 "\n",
           ts.data_watch_count + ts.child_watch_count);
  wprintf_(w, "zk_approximate_data_size\t%" PRIu64 "\n",
           ts.approximate_data_size);
  wprintf_(w, "zk_open_file_descriptor_count\t%" PRId64 "\n", open_fds());
  wprintf_(w, "zk_max_file_descriptor_count\t%" PRId64 "\n", max_fds);
  wprintf_(w, "zk_min_latency\t%" PRId64 "\n", us_to_ms(s->stats.lat_min_us));
  wprintf_(w, "zk_max_latency\t%" PRId64 "\n", us_to_ms(s->stats.lat_max_us));
  wprintf_(w, "zk_uptime\t%" PRId64 "\n",
           (int64_t)uv_now(&s->loop) - s->start_loop_ms);
  wprintf_(w, "zk_last_client_response_size\t%" PRId64 "\n",
           s->stats.last_resp_size);
  wprintf_(w, "zk_min_client_response_size\t%" PRId64 "\n",
           s->stats.min_resp_size);
  wprintf_(w, "zk_max_client_response_size\t%" PRId64 "\n",
           s->stats.max_resp_size);
  wprintf_(w, "zk_auth_failed_count\t%" PRIu64 "\n", s->stats.auth_failed);
  wprintf_(w, "zk_connection_rejected\t%" PRIu64 "\n",
           s->stats.connection_rejected);
  wprintf_(w, "zk_sessionless_connections_expired\t%" PRIu64 "\n",
           s->stats.sessionless_expired);
  wprintf_(w, "zk_bytes_received_count\t%" PRIu64 "\n",
           s->stats.bytes_received);
  election_mntr(s, w);
  srv_persist_mntr(s, w);
  s->rep->mntr(s, w);
  srv_overload_mntr(s, w);
}

static void fl_conf(struct srv_conn *c) {
  const struct srv_config *cfg = &c->srv->cfg;
  struct proto_writer *w = &c->out;
  wprintf_(w, "clientPort=%d\n", c->srv->bound_port);
  wprintf_(w, "secureClientPort=-1\n");
  wprintf_(w, "dataDir=%s\n", cfg->data_dir);
  wprintf_(w, "dataDirSize=%" PRIu64 "\n", srv_data_dir_bytes(c->srv));
  wprintf_(w, "dataLogDir=%s\n",
           cfg->data_log_dir[0] ? cfg->data_log_dir : cfg->data_dir);
  wprintf_(w, "dataLogSize=%" PRIu64 "\n", srv_log_dir_bytes(c->srv));
  wprintf_(w, "tickTime=%d\n", cfg->tick_time_ms);
  wprintf_(w, "maxClientCnxns=%d\n", cfg->max_client_cnxns);
  wprintf_(w, "minSessionTimeout=%d\n", cfg->min_session_timeout_ms);
  wprintf_(w, "maxSessionTimeout=%d\n", cfg->max_session_timeout_ms);
  wprintf_(w, "clientPortListenBacklog=%d\n", cfg->client_port_listen_backlog);
  wprintf_(w, "serverId=%d\n", cfg->server_id);
}

static void fl_envi(struct srv_conn *c) {
  struct proto_writer *w = &c->out;
  char host[256] = "localhost";
  char cwd[SRV_PATH_MAX] = "";
  struct utsname u;
  gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  if (getcwd(cwd, sizeof cwd) == NULL)
    cwd[0] = '\0';
  wprintf_(w, "Environment:\n");
  wprintf_(w, "zookeeper.version=%s\n", SRV_VERSION_LINE);
  wprintf_(w, "host.name=%s\n", host);
  wprintf_(w, "roost.version=%s\n", SRV_ROOST_VERSION);
  wprintf_(w, "libuv.version=%s\n", uv_version_string());
  if (uname(&u) == 0) {
    wprintf_(w, "os.name=%s\n", u.sysname);
    wprintf_(w, "os.arch=%s\n", u.machine);
    wprintf_(w, "os.version=%s\n", u.release);
  }
  struct passwd pw, *pwp = NULL;
  char pwbuf[1024];
  getpwuid_r(geteuid(), &pw, pwbuf, sizeof pwbuf, &pwp);
  wprintf_(w, "user.name=%s\n", pwp != NULL ? pwp->pw_name : "");
  wprintf_(w, "user.home=%s\n", pwp != NULL ? pwp->pw_dir : "");
  wprintf_(w, "user.dir=%s\n", cwd);
}

static void fl_wchs(struct srv_conn *c) {
  struct tree_stats ts;
  tree_stats_get(c->srv->tree, &ts);
  wprintf_(&c->out,
           "%" PRIu64 " connections watching %" PRIu64
           " paths\nTotal watches:%" PRIu64 "\n",
           ts.data_watchers, ts.data_watch_paths, ts.data_watch_count);
}

/* wchc / wchp: the data-watch table grouped by session or by path. */
struct watch_pair {
  int64_t sid;
  char *path;
};
struct watch_list {
  const struct srv *s;
  struct watch_pair *v;
  size_t n, cap;
  bool oom;
};

static void collect_watch(void *arg, uint64_t watcher, const char *path,
                          size_t len) {
  struct watch_list *l = arg;
  if (l->oom || watcher == SRV_DISC_WATCHER)
    return; /* the discovery API's own watch is no session's */
  if (l->n == l->cap) {
    size_t ncap = l->cap ? l->cap * 2 : 64;
    struct watch_pair *nv = realloc(l->v, ncap * sizeof *nv);
    if (nv == NULL) {
      l->oom = true;
      return;
    }
    l->v = nv;
    l->cap = ncap;
  }
  char *p = malloc(len + 1);
  if (p == NULL) {
    l->oom = true;
    return;
  }
  memcpy(p, path, len);
  p[len] = '\0';
  const struct srv_conn *c = srv_map_get(&l->s->conn_by_id, watcher);
  l->v[l->n].sid = c != NULL && c->session != NULL ? c->session->id : 0;
  l->v[l->n].path = p;
  l->n++;
}

static int by_sid(const void *a, const void *b) {
  const struct watch_pair *x = a, *y = b;
  if (x->sid != y->sid)
    return x->sid < y->sid ? -1 : 1;
  return strcmp(x->path, y->path);
}

static int by_path(const void *a, const void *b) {
  const struct watch_pair *x = a, *y = b;
  int r = strcmp(x->path, y->path);
  if (r != 0)
    return r;
  return x->sid < y->sid ? -1 : x->sid > y->sid;
}

static void fl_watches(struct srv_conn *c, bool by_path_first) {
  struct watch_list l = {.s = c->srv};
  tree_data_watches_each(c->srv->tree, collect_watch, &l);
  qsort(l.v, l.n, sizeof *l.v, by_path_first ? by_path : by_sid);
  for (size_t i = 0; i < l.n; i++) {
    if (by_path_first) {
      if (i == 0 || strcmp(l.v[i].path, l.v[i - 1].path) != 0)
        wprintf_(&c->out, "%s\n", l.v[i].path);
      wprintf_(&c->out, "\t0x%" PRIx64 "\n", (uint64_t)l.v[i].sid);
    } else {
      if (i == 0 || l.v[i].sid != l.v[i - 1].sid)
        wprintf_(&c->out, "0x%" PRIx64 "\n", (uint64_t)l.v[i].sid);
      wprintf_(&c->out, "\t%s\n", l.v[i].path);
    }
  }
  if (l.oom)
    wprintf_(&c->out, "(incomplete: out of memory)\n");
  wprintf_(&c->out, "\n");
  for (size_t i = 0; i < l.n; i++)
    free(l.v[i].path);
  free(l.v);
}

static void fl_wchc(struct srv_conn *c) { fl_watches(c, false); }
static void fl_wchp(struct srv_conn *c) { fl_watches(c, true); }

static int by_deadline(const void *a, const void *b) {
  const struct srv_session *x = *(struct srv_session *const *)a;
  const struct srv_session *y = *(struct srv_session *const *)b;
  if (x->expire_ms != y->expire_ms)
    return x->expire_ms < y->expire_ms ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

struct eph_print {
  struct proto_writer *w;
  size_t n;
};

static void count_eph(void *arg, const char *path, size_t len) {
  (void)path;
  (void)len;
  ((struct eph_print *)arg)->n++;
}

static void print_eph(void *arg, const char *path, size_t len) {
  struct eph_print *e = arg;
  wprintf_(e->w, "\t%.*s\n", (int)len, path);
}

/* ZooKeeper's NIO factory prints its connection expiry queue the way it
 * prints sessions: "Connections Sets (<buckets>)/(<n>):", then per
 * deadline "<n> expire at <date>:" and "\tip: /<ip>:<port> sessionId:
 * 0x<sid>".  A connection's deadline here is its session's, or the
 * handshake timeout for one without a session (the 4lw connection itself
 * among them, as in ZooKeeper). */
static int64_t conn_deadline(const struct srv_conn *o) {
  if (o->session != NULL)
    return o->session->expire_ms;
  return o->accepted_loop_ms + SRV_SESSIONLESS_TIMEOUT_MS;
}

static int by_conn_deadline(const void *a, const void *b) {
  int64_t x = conn_deadline(*(const struct srv_conn *const *)a);
  int64_t y = conn_deadline(*(const struct srv_conn *const *)b);
  return x < y ? -1 : x > y;
}

static void print_date(struct proto_writer *w, int64_t wall_ms) {
  time_t at = (time_t)(wall_ms / 1000);
  struct tm tm;
  char date[64] = "?";
  if (localtime_r(&at, &tm) != NULL)
    strftime(date, sizeof date, "%a %b %d %H:%M:%S %Z %Y", &tm);
  wprintf_(w, "%s", date);
}

static void dump_connections(const struct srv *s, struct proto_writer *w,
                             int64_t now_loop, int64_t now_wall) {
  size_t n = 0;
  for (const struct srv_conn *o = s->conns; o != NULL; o = o->next)
    n += !o->handle_closed;
  const struct srv_conn **v = NULL;
  size_t elem = sizeof(struct srv_conn *); // NOLINT(bugprone-sizeof-expression)
  if (n > 0 && (v = malloc(n * elem)) == NULL) {
    wprintf_(w, "Connections dump:\nout of memory\n");
    return;
  }
  size_t i = 0;
  for (const struct srv_conn *o = s->conns; o != NULL; o = o->next)
    if (!o->handle_closed)
      v[i++] = o;
  if (n > 0)
    qsort(v, n, elem, by_conn_deadline);
  size_t buckets = 0;
  for (i = 0; i < n; i++)
    if (i == 0 || conn_deadline(v[i]) != conn_deadline(v[i - 1]))
      buckets++;
  wprintf_(w, "Connections dump:\nConnections Sets (%zu)/(%zu):\n", buckets, n);
  for (i = 0; i < n;) {
    size_t j = i;
    int64_t at = conn_deadline(v[i]);
    while (j < n && conn_deadline(v[j]) == at)
      j++;
    wprintf_(w, "%zu expire at ", j - i);
    print_date(w, now_wall + (at - now_loop));
    wprintf_(w, ":\n");
    for (; i < j; i++)
      wprintf_(w, "\tip: /%s:%d sessionId: 0x%" PRIx64 "\n", v[i]->ip,
               v[i]->port,
               v[i]->session != NULL ? (uint64_t)v[i]->session->id : 0u);
  }
  free(v);
}

static void fl_dump(struct srv_conn *c) {
  struct srv *s = c->srv;
  struct proto_writer *w = &c->out;
  size_t n = s->heap_len;
  struct srv_session **v = NULL;
  /* An array of pointers, deliberately (clang-tidy cannot tell). */
  size_t elem =
      sizeof(struct srv_session *); // NOLINT(bugprone-sizeof-expression)
  if (n > 0 && (v = malloc(n * elem)) == NULL) {
    wprintf_(w, "out of memory\n");
    return;
  }
  if (n > 0) {
    memcpy(v, s->heap, n * elem);
    qsort(v, n, elem, by_deadline);
  }
  size_t buckets = 0;
  for (size_t i = 0; i < n; i++)
    if (i == 0 || v[i]->expire_ms != v[i - 1]->expire_ms)
      buckets++;
  int64_t now_loop = (int64_t)uv_now(&s->loop), now_wall = srv_wall_ms();
  wprintf_(w, "SessionTracker dump:\nSession Sets (%zu)/(%zu):\n", buckets, n);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && v[j]->expire_ms == v[i]->expire_ms)
      j++;
    wprintf_(w, "%zu expire at ", j - i);
    print_date(w, now_wall + (v[i]->expire_ms - now_loop));
    wprintf_(w, ":\n");
    for (; i < j; i++)
      wprintf_(w, "\t0x%" PRIx64 "\n", (uint64_t)v[i]->id);
  }
  /* Sessions with ephemerals, in id order. */
  size_t with = 0;
  for (size_t i = 0; i < n; i++) {
    struct eph_print e = {.w = w};
    tree_session_ephemerals(s->tree, v[i]->id, count_eph, &e);
    if (e.n > 0)
      with++;
  }
  wprintf_(w, "ephemeral nodes dump:\nSessions with Ephemerals (%zu):\n", with);
  for (size_t i = 0; i < n; i++) {
    struct eph_print e = {.w = w};
    tree_session_ephemerals(s->tree, v[i]->id, count_eph, &e);
    if (e.n == 0)
      continue;
    wprintf_(w, "0x%" PRIx64 ":\n", (uint64_t)v[i]->id);
    tree_session_ephemerals(s->tree, v[i]->id, print_eph, &e);
  }
  dump_connections(s, w, now_loop, now_wall);
  free(v);
}

static void fl_ruok(struct srv_conn *c) { wprintf_(&c->out, "imok"); }
/* As ZooKeeper: "ro" on a member serving read-only (readonlymode.enabled,
 * no quorum), "rw" while serving, else "null" (a member without a leader
 * that is not read-only). */
static void fl_isro(struct srv_conn *c) {
  const struct srv *s = c->srv;
  wprintf_(&c->out, "%s",
           s->rep->read_only(s) ? "ro"
           : s->rep->serving(s) ? "rw"
                                : "null");
}
/* Bytes of our files (snapshots; log segments) in each directory. */
static void fl_dirs(struct srv_conn *c) {
  wprintf_(&c->out, "datadir_size: %" PRIu64 "\nlogdir_size: %" PRIu64 "\n",
           srv_data_dir_bytes(c->srv), srv_log_dir_bytes(c->srv));
}
/* ZooKeeper's trace mask: kept and reported as ZooKeeper does (decimal);
 * Roost has no request tracing for it to switch. */
static void fl_gtmk(struct srv_conn *c) {
  wprintf_(&c->out, "%" PRId64, c->srv->trace_mask);
}
/* ZooKeeper prints its digest log, "<zxid hex>: <digest>" lines.  Roost
 * keeps no log of digests: it prints one line, the digest of the state
 * now (tree_digest: nodes, ACLs, sessions with their passwords; its first
 * 8 bytes as a decimal like ZooKeeper's) at the last applied zxid, so
 * members at the same zxid can be compared.  O(nodes) per call. */
static void fl_hash(struct srv_conn *c) {
  uint8_t d[32];
  tree_digest(c->srv->tree, d);
  uint64_t v = proto_load_be64(d);
  wprintf_(&c->out, "%" PRIx64 ": %" PRIu64 "\n",
           (uint64_t)tree_last_zxid(c->srv->tree), v);
}

struct fourlw_entry {
  const char *word;
  void (*fn)(struct srv_conn *c);
};

static const struct fourlw_entry fourlw_table[] = {
    {"ruok", fl_ruok}, {"srvr", fl_srvr}, {"stat", fl_stat}, {"mntr", fl_mntr},
    {"cons", fl_cons}, {"envi", fl_envi}, {"conf", fl_conf}, {"wchs", fl_wchs},
    {"wchc", fl_wchc}, {"wchp", fl_wchp}, {"dump", fl_dump}, {"isro", fl_isro},
    {"crst", fl_crst}, {"srst", fl_srst}, {"dirs", fl_dirs}, {"gtmk", fl_gtmk},
    {"stmk", fl_gtmk}, /* after srv_fourlw set the mask */
    {"hash", fl_hash},
};

size_t srv_fourlw_arg_len(const char *word) {
  return strcmp(word, "stmk") == 0 ? 8 : 0;
}

void srv_fourlw(struct srv_conn *c, const char *word, const uint8_t *arg,
                size_t arg_len) {
  struct srv *s = c->srv;
  srv_log(s, SRV_LOG_DEBUG, "four-letter word '%s' from %s:%d", word, c->ip,
          c->port);
  if (!srv_config_4lw_allowed(&s->cfg, word)) {
    wprintf_(&c->out,
             "%s is not executed because it is not in the whitelist.\n", word);
  } else {
    if (arg_len == 8 && strcmp(word, "stmk") == 0) {
      s->trace_mask = (int64_t)proto_load_be64(arg);
    }
    bool done = false;
    for (size_t i = 0; i < sizeof fourlw_table / sizeof fourlw_table[0]; i++) {
      if (strcmp(fourlw_table[i].word, word) == 0) {
        fourlw_table[i].fn(c);
        done = true;
        break;
      }
    }
    if (!done)
      wprintf_(&c->out, "Unknown command: %s\n", word);
  }
  /* ZooKeeper counts the command as received but not as a sent packet. */
  srv_conn_mark_dirty(c);
}

void srv_fourlw_text(struct srv *s, const char *word, struct proto_writer *w) {
  /* The formatters write to a connection's output and read its server
   * only: a connection that exists for the call. */
  struct srv_conn tmp;
  memset(&tmp, 0, sizeof tmp);
  tmp.srv = s;
  tmp.out = *w;
  for (size_t i = 0; i < sizeof fourlw_table / sizeof fourlw_table[0]; i++) {
    if (strcmp(fourlw_table[i].word, word) == 0) {
      fourlw_table[i].fn(&tmp);
      break;
    }
  }
  *w = tmp.out;
}
