/* admin.c — the admin HTTP server on the server's loop (http/): ZooKeeper's
 * AdminServer commands as JSON under admin.commandURL, Prometheus /metrics
 * (metrics.c) and the routes other parts mount.  A second listener
 * serves /metrics on metricsProvider.httpHost:httpPort when zoo.cfg names
 * ZooKeeper's Prometheus provider.
 *
 * JSON field names and types follow ZooKeeper 3.8's AdminServer
 * (observed on Debian's zookeeper, tests/integration/test_admin.py checks
 * both).  The figures come from the same places as the four-letter words:
 * the mntr text (srv_fourlw_text) for the server's counters, so the two
 * interfaces cannot disagree.  Failure to bind is a warning, as in
 * ZooKeeper ("Problem starting AdminServer"): the coordination service
 * runs without it. */
#include "http/http.h"
#include "server/server_int.h"

#include <inttypes.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

struct srv_admin {
  struct srv *s;
  struct http_server *http;    /* admin.serverPort */
  struct http_server *metrics; /* metricsProvider.httpPort, or NULL */
  char url[256];               /* admin.commandURL without a trailing '/' */
};

/* ------------------------------------------------------------------ */
/* The mntr figures as a small key -> value table. */

struct figures {
  struct proto_writer w; /* the text, NUL-separated in place */
  const char *keys[160];
  const char *vals[160];
  size_t n;
};

static void figures_get(struct srv *s, struct figures *f) {
  proto_writer_init(&f->w);
  f->n = 0;
  srv_fourlw_text(s, "mntr", &f->w);
  proto_write_raw(&f->w, "", 1);
  if (f->w.err != 0)
    return;
  char *p = (char *)f->w.buf;
  char *end = p + f->w.len - 1;
  while (p < end && f->n < sizeof f->keys / sizeof f->keys[0]) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL)
      nl = end;
    *nl = '\0';
    char *tab = strchr(p, '\t');
    if (tab != NULL) {
      *tab = '\0';
      f->keys[f->n] = p;
      f->vals[f->n] = tab + 1;
      f->n++;
    }
    p = nl + 1;
  }
}

static void figures_free(struct figures *f) { proto_writer_free(&f->w); }

static const char *fig(const struct figures *f, const char *key) {
  for (size_t i = 0; i < f->n; i++)
    if (strcmp(f->keys[i], key) == 0)
      return f->vals[i];
  return NULL;
}

static json_int_t fig_int(const struct figures *f, const char *key) {
  const char *v = fig(f, key);
  return v != NULL ? (json_int_t)strtoll(v, NULL, 10) : 0;
}

/* A mntr value as JSON: integer, real, or string (as ZooKeeper types
 * them: counters are longs, averages doubles, the rest strings). */
static json_t *fig_json(const char *v) {
  char *end;
  long long i = strtoll(v, &end, 10);
  if (*v != '\0' && *end == '\0')
    return json_integer(i);
  double d = strtod(v, &end);
  if (*v != '\0' && *end == '\0')
    return json_real(d);
  return json_string(v);
}

/* ------------------------------------------------------------------ */
/* Commands.  Each adds its fields to `o`; "command" and "error" are added
 * by the caller unless the command set "error" itself. */

static void set(json_t *o, const char *k, json_t *v) {
  json_object_set_new(o, k, v != NULL ? v : json_null());
}

static void cmd_ruok(struct srv *s, struct http_req *r, json_t *o) {
  (void)s;
  (void)r;
  (void)o;
}

static json_t *resp_sizes(const struct figures *f) {
  json_t *c = json_object();
  set(c, "last_buffer_size",
      json_integer(fig_int(f, "zk_last_client_response_size")));
  set(c, "min_buffer_size",
      json_integer(fig_int(f, "zk_min_client_response_size")));
  set(c, "max_buffer_size",
      json_integer(fig_int(f, "zk_max_client_response_size")));
  return c;
}

static void server_stats(struct srv *s, json_t *o) {
  struct figures f;
  figures_get(s, &f);
  set(o, "version",
      json_string(fig(&f, "zk_version") ? fig(&f, "zk_version") : ""));
  set(o, "read_only", json_false());
  json_t *st = json_object();
  set(st, "packets_sent", json_integer(fig_int(&f, "zk_packets_sent")));
  set(st, "packets_received", json_integer(fig_int(&f, "zk_packets_received")));
  set(st, "fsync_threshold_exceed_count", json_integer(0));
  set(st, "client_response_stats", resp_sizes(&f));
  set(st, "data_dir_size", json_integer((json_int_t)srv_data_dir_bytes(s)));
  set(st, "log_dir_size", json_integer((json_int_t)srv_log_dir_bytes(s)));
  set(st, "provider_null", json_false());
  set(st, "server_state", json_string(s->rep->mode(s)));
  set(st, "last_processed_zxid", json_integer(tree_last_zxid(s->tree)));
  set(st, "outstanding_requests",
      json_integer(fig_int(&f, "zk_outstanding_requests")));
  const char *avg = fig(&f, "zk_avg_latency");
  set(st, "avg_latency", json_real(avg ? strtod(avg, NULL) : 0.0));
  set(st, "max_latency", json_integer(fig_int(&f, "zk_max_latency")));
  set(st, "min_latency", json_integer(fig_int(&f, "zk_min_latency")));
  set(st, "num_alive_client_connections",
      json_integer(fig_int(&f, "zk_num_alive_connections")));
  set(st, "auth_failed_count",
      json_integer(fig_int(&f, "zk_auth_failed_count")));
  set(st, "non_mtlsremote_conn_count", json_integer(0));
  set(st, "non_mtlslocal_conn_count", json_integer(0));
  set(st, "uptime", json_integer(fig_int(&f, "zk_uptime")));
  set(o, "server_stats", st);
  set(o, "client_response", resp_sizes(&f));
  set(o, "node_count", json_integer(fig_int(&f, "zk_znode_count")));
  figures_free(&f);
}

static void cmd_server_stats(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  server_stats(s, o);
}

static json_t *conn_json(const struct srv_conn *c, bool brief) {
  json_t *j = json_object();
  char addr[96];
  snprintf(addr, sizeof addr, "%s:%d", c->ip, c->port);
  set(j, "remote_socket_address", json_string(addr));
  set(j, "interest_ops",
      json_integer((c->reading ? 1 : 0) | (c->writing ? 4 : 0)));
  set(j, "outstanding_requests",
      json_integer((json_int_t)srv_conn_queued_frames(c)));
  set(j, "packets_received", json_integer((json_int_t)c->recv));
  set(j, "packets_sent", json_integer((json_int_t)c->sent));
  if (brief)
    return j;
  set(j, "session_id", json_integer(c->session ? c->session->id : 0));
  set(j, "last_operation",
      json_string(c->lat_count ? proto_op_tag(c->last_op) : "NA"));
  set(j, "established", json_integer(c->est_wall_ms));
  set(j, "session_timeout",
      json_integer(c->session ? c->session->timeout_ms : 0));
  set(j, "last_cxid", json_integer(c->last_cxid));
  set(j, "last_zxid", json_integer(c->last_zxid));
  set(j, "last_response_time", json_integer(c->last_resp_wall_ms));
  set(j, "last_latency", json_integer((json_int_t)(c->lat_last_us / 1000u)));
  set(j, "min_latency",
      json_integer(c->lat_count ? (json_int_t)(c->lat_min_us / 1000u) : 0));
  set(j, "avg_latency",
      json_integer(c->lat_count
                       ? (json_int_t)(c->lat_sum_us / c->lat_count / 1000u)
                       : 0));
  set(j, "max_latency", json_integer((json_int_t)(c->lat_max_us / 1000u)));
  return j;
}

static json_t *conns_json(const struct srv *s, bool brief) {
  json_t *a = json_array();
  for (const struct srv_conn *c = s->conns; c != NULL; c = c->next)
    if (!c->handle_closed && c->state == SRV_CONN_OPEN)
      json_array_append_new(a, conn_json(c, brief));
  return a;
}

static void cmd_stats(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  server_stats(s, o);
  set(o, "connections", conns_json(s, true));
  set(o, "secure_connections", json_array());
}

static void cmd_connections(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  set(o, "connections", conns_json(s, false));
  set(o, "secure_connections", json_array());
}

static void cmd_configuration(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  const struct srv_config *c = &s->cfg;
  set(o, "client_port", json_integer(s->bound_port));
  set(o, "data_dir", json_string(c->data_dir));
  set(o, "data_log_dir",
      json_string(c->data_log_dir[0] ? c->data_log_dir : c->data_dir));
  set(o, "tick_time", json_integer(c->tick_time_ms));
  set(o, "max_client_cnxns", json_integer(c->max_client_cnxns));
  set(o, "min_session_timeout", json_integer(c->min_session_timeout_ms));
  set(o, "max_session_timeout", json_integer(c->max_session_timeout_ms));
  set(o, "server_id", json_integer(c->server_id));
  set(o, "client_port_listen_backlog",
      json_integer(c->client_port_listen_backlog));
}

static void sys_facts(json_t *o, bool java_names) {
  char host[256] = "localhost", cwd[SRV_PATH_MAX] = "";
  gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  if (getcwd(cwd, sizeof cwd) == NULL)
    cwd[0] = '\0';
  if (!java_names) {
    set(o, "zookeeper.version", json_string(SRV_ZK_VERSION));
    set(o, "host.name", json_string(host));
  }
  set(o, "roost.version", json_string(SRV_ROOST_VERSION));
  set(o, "libuv.version", json_string(uv_version_string()));
  struct utsname u;
  if (uname(&u) == 0) {
    set(o, "os.name", json_string(u.sysname));
    set(o, "os.arch", json_string(u.machine));
    set(o, "os.version", json_string(u.release));
  }
  struct passwd pw, *pwp = NULL;
  char pwbuf[1024];
  getpwuid_r(geteuid(), &pw, pwbuf, sizeof pwbuf, &pwp);
  set(o, "user.name", json_string(pwp ? pwp->pw_name : ""));
  set(o, "user.home", json_string(pwp ? pwp->pw_dir : ""));
  set(o, "user.dir", json_string(cwd));
  if (java_names) {
    set(o, "file.separator", json_string("/"));
    set(o, "line.separator", json_string("\n"));
    set(o, "path.separator", json_string(":"));
  }
}

static void cmd_environment(struct srv *s, struct http_req *r, json_t *o) {
  (void)s;
  (void)r;
  sys_facts(o, false);
}

/* ZooKeeper lists JVM properties; Roost has none, so the process facts
 * with the same names where one exists (os.*, user.*, separators). */
static void cmd_system_properties(struct srv *s, struct http_req *r,
                                  json_t *o) {
  (void)s;
  (void)r;
  sys_facts(o, true);
}

static void cmd_monitor(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  struct figures f;
  figures_get(s, &f);
  for (size_t i = 0; i < f.n; i++) {
    const char *k = f.keys[i];
    if (strncmp(k, "zk_", 3) == 0)
      k += 3;
    set(o, k, fig_json(f.vals[i]));
  }
  figures_free(&f);
  if (s->cfg.n_peers > 0) {
    int voters = 0;
    for (int i = 0; i < s->cfg.n_peers; i++)
      voters += !s->cfg.peers[i].observer;
    set(o, "quorum_size", json_integer(voters));
  }
}

static void cmd_watch_summary(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  struct tree_stats ts;
  tree_stats_get(s->tree, &ts);
  set(o, "num_connections", json_integer((json_int_t)ts.data_watchers));
  set(o, "num_paths", json_integer((json_int_t)ts.data_watch_paths));
  set(o, "num_total_watches", json_integer((json_int_t)ts.data_watch_count));
}

struct watch_collect {
  const struct srv *s;
  json_t *by; /* object: key -> array */
  bool by_path;
};

static void collect_watch(void *arg, uint64_t watcher, const char *path,
                          size_t len) {
  struct watch_collect *w = arg;
  const struct srv_conn *c = srv_map_get(&w->s->conn_by_id, watcher);
  int64_t sid = c != NULL && c->session != NULL ? c->session->id : 0;
  char key[64];
  char *p = strndup(path, len);
  if (p == NULL)
    return;
  if (!w->by_path)
    snprintf(key, sizeof key, "%" PRId64, sid);
  const char *k = w->by_path ? p : key;
  json_t *a = json_object_get(w->by, k);
  if (a == NULL) {
    a = json_array();
    json_object_set_new(w->by, k, a);
  }
  json_array_append_new(a, w->by_path ? json_integer(sid) : json_string(p));
  free(p);
}

static void watches(struct srv *s, json_t *o, bool by_path) {
  struct watch_collect w = {.s = s, .by = json_object(), .by_path = by_path};
  tree_data_watches_each(s->tree, collect_watch, &w);
  set(o, by_path ? "path_to_session_ids" : "session_id_to_watched_paths", w.by);
}

static void cmd_watches(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  watches(s, o, false);
}

static void cmd_watches_by_path(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  watches(s, o, true);
}

static void add_eph(void *arg, const char *path, size_t len) {
  json_t *a = arg;
  json_array_append_new(a, json_stringn(path, len));
}

static void cmd_dump(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  json_t *exp = json_object(), *eph = json_object();
  int64_t now_loop = (int64_t)uv_now(&s->loop), now_wall = srv_wall_ms();
  for (size_t i = 0; i < s->heap_len; i++) {
    const struct srv_session *ss = s->heap[i];
    char key[32];
    snprintf(key, sizeof key, "%" PRId64,
             now_wall + (ss->expire_ms - now_loop));
    json_t *a = json_object_get(exp, key);
    if (a == NULL) {
      a = json_array();
      json_object_set_new(exp, key, a);
    }
    json_array_append_new(a, json_integer(ss->id));
    json_t *paths = json_array();
    tree_session_ephemerals(s->tree, ss->id, add_eph, paths);
    if (json_array_size(paths) > 0) {
      snprintf(key, sizeof key, "%" PRId64, ss->id);
      json_object_set_new(eph, key, paths);
    } else {
      json_decref(paths);
    }
  }
  set(o, "expiry_time_to_session_ids", exp);
  set(o, "session_id_to_ephemeral_paths", eph);
}

static void cmd_dirs(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  set(o, "datadir_size", json_integer((json_int_t)srv_data_dir_bytes(s)));
  set(o, "logdir_size", json_integer((json_int_t)srv_log_dir_bytes(s)));
}

static void cmd_is_read_only(struct srv *s, struct http_req *r, json_t *o) {
  (void)s;
  (void)r;
  set(o, "read_only", json_false());
}

static const struct srv_peer_config *peer(const struct srv *s, int id) {
  for (int i = 0; i < s->cfg.n_peers; i++)
    if (s->cfg.peers[i].id == id)
      return &s->cfg.peers[i];
  return NULL;
}

static void cmd_leader(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  if (s->cfg.n_peers == 0 || !s->rep->serving(s)) {
    set(o, "error", json_string("server is not initialized"));
    return;
  }
  struct figures f;
  figures_get(s, &f);
  int leader = (int)fig_int(&f, "roost_leader_id");
  figures_free(&f);
  const struct srv_peer_config *p = peer(s, leader);
  set(o, "is_leader", json_boolean(strcmp(s->rep->mode(s), "leader") == 0));
  set(o, "leader_id", json_integer(leader));
  set(o, "leader_ip", json_string(p ? p->host : ""));
}

/* A member's client address as ZooKeeper shows it: its own is known;
 * another's only from the ";[addr:]port" part of its server.N line. */
static void client_addr(const struct srv *s, const struct srv_peer_config *p,
                        char *out, size_t cap) {
  if (p->id == s->cfg.server_id)
    snprintf(out, cap, "%s:%d", s->cfg.client_port_address, s->bound_port);
  else if (p->client_port)
    snprintf(out, cap, "%s:%d",
             p->client_address[0] ? p->client_address : "0.0.0.0",
             p->client_port);
  else
    out[0] = '\0';
}

static json_t *one_addr(const char *host, int port) {
  char a[300];
  snprintf(a, sizeof a, "%s:%d", host, port);
  json_t *v = json_array();
  json_array_append_new(v, json_string(a));
  return v;
}

static void cmd_voting_view(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  json_t *cfg = json_object();
  for (int i = 0; i < s->cfg.n_peers; i++) {
    const struct srv_peer_config *p = &s->cfg.peers[i];
    if (p->observer)
      continue;
    char id[16], c[300];
    snprintf(id, sizeof id, "%d", p->id);
    client_addr(s, p, c, sizeof c);
    json_t *m = json_object();
    set(m, "server_addresses", one_addr(p->host, p->quorum_port));
    set(m, "election_addresses", one_addr(p->host, p->election_port));
    set(m, "client_address", json_string(c));
    set(m, "learner_type", json_string("participant"));
    json_object_set_new(cfg, id, m);
  }
  set(o, "current_config", cfg);
}

static void cmd_observers(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  json_t *a = json_array();
  for (int i = 0; i < s->cfg.n_peers; i++)
    if (s->cfg.peers[i].observer)
      json_array_append_new(a, json_integer(s->cfg.peers[i].id));
  set(o, "synced_observers", json_integer((json_int_t)json_array_size(a)));
  set(o, "observers", a);
}

/* ZooKeeper's MultipleAddresses object, for one address. */
static json_t *multi_addr(const char *host, int port) {
  char a[300], w[64];
  snprintf(a, sizeof a, "%s:%d", host, port);
  snprintf(w, sizeof w, "0.0.0.0:%d", port);
  json_t *m = json_object();
  json_t *ports = json_array(), *hosts = json_array(), *wild = json_array();
  json_array_append_new(ports, json_integer(port));
  json_array_append_new(hosts, json_string(host));
  json_array_append_new(wild, json_string(w));
  set(m, "empty", json_false());
  set(m, "all_addresses", one_addr(host, port));
  set(m, "all_reachable_addresses", one_addr(host, port));
  set(m, "one", json_string(a));
  set(m, "reachable_address", json_string(a));
  set(m, "wildcard_addresses", wild);
  set(m, "all_ports", ports);
  set(m, "all_host_strings", hosts);
  set(m, "all_reachable_addresses_or_all", one_addr(host, port));
  set(m, "reachable_or_one", json_string(a));
  return m;
}

static void cmd_zabstate(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  const struct srv_peer_config *me = peer(s, s->cfg.server_id);
  if (s->cfg.n_peers == 0 || me == NULL) {
    set(o, "voting", json_false());
    set(o, "zabstate", json_string(""));
    return;
  }
  int64_t z = tree_last_zxid(s->tree);
  char hex[32], c[300];
  snprintf(hex, sizeof hex, "0x%" PRIx64, (uint64_t)z);
  client_addr(s, me, c, sizeof c);
  set(o, "myid", json_integer(me->id));
  set(o, "is_leader", json_boolean(strcmp(s->rep->mode(s), "leader") == 0));
  set(o, "quorum_address", multi_addr(me->host, me->quorum_port));
  set(o, "election_address", multi_addr(me->host, me->election_port));
  set(o, "client_address", json_string(c));
  set(o, "voting", json_boolean(!me->observer));
  set(o, "last_zxid", json_string(hex));
  set(o, "zab_epoch", json_integer((json_int_t)((uint64_t)z >> 32)));
  set(o, "zab_counter", json_integer((json_int_t)((uint64_t)z & 0xffffffffu)));
  set(o, "zabstate",
      json_string(s->rep->serving(s) ? "broadcast" : "election"));
}

static void cmd_crst(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  (void)o;
  struct proto_writer w;
  proto_writer_init(&w);
  srv_fourlw_text(s, "crst", &w);
  proto_writer_free(&w);
}

static void cmd_srst(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  (void)o;
  srv_stats_reset(s);
}

static void cmd_last_snapshot(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  int64_t z = s->snaps_taken > 0 ? s->last_snap_zxid : s->recovered.snap_zxid;
  if (z < 0)
    z = 0;
  char hex[32], p[SRV_PATH_MAX + 64];
  snprintf(hex, sizeof hex, "%" PRIx64, (uint64_t)z);
  snprintf(p, sizeof p, "%s/snapshot.%s", s->cfg.data_dir, hex);
  struct stat sb;
  set(o, "zxid", json_string(hex));
  set(o, "timestamp",
      json_integer(stat(p, &sb) == 0 ? (json_int_t)sb.st_mtime
                                     : (json_int_t)(s->start_wall_ms / 1000)));
}

/* The key=value lines the server was started with (comments and blank
 * lines left out), as ZooKeeper shows its parsed properties. */
static void cmd_initial_configuration(struct srv *s, struct http_req *r,
                                      json_t *o) {
  (void)r;
  FILE *fp = s->cfg.config_path[0] ? fopen(s->cfg.config_path, "r") : NULL;
  struct proto_writer w;
  proto_writer_init(&w);
  char line[4096];
  while (fp != NULL && fgets(line, sizeof line, fp) != NULL) {
    const char *p = line + strspn(line, " \t");
    if (*p == '#' || *p == '!' || *p == '\n' || *p == '\0')
      continue;
    proto_write_raw(&w, p, strlen(p));
  }
  if (fp != NULL)
    fclose(fp);
  set(o, "initial_configuration", json_stringn((const char *)w.buf, w.len));
  proto_writer_free(&w);
}

static void cmd_get_trace_mask(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  set(o, "tracemask", json_integer(s->trace_mask));
}

static void cmd_set_trace_mask(struct srv *s, struct http_req *r, json_t *o) {
  char v[32];
  char *end;
  if (http_req_param(r, "traceMask", v, sizeof v) <= 0) {
    set(o, "error",
        json_string("setTraceMask requires long traceMask argument"));
    return;
  }
  long long m = strtoll(v, &end, 10);
  if (*end != '\0') {
    set(o, "error",
        json_string("setTraceMask requires long traceMask argument"));
    return;
  }
  s->trace_mask = m;
  set(o, "tracemask", json_integer(m));
}

static void cmd_hash(struct srv *s, struct http_req *r, json_t *o) {
  (void)r;
  uint8_t d[32];
  tree_digest(s->tree, d);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | d[i];
  json_t *a = json_array(), *e = json_object();
  set(e, "zxid", json_integer(tree_last_zxid(s->tree)));
  set(e, "digest", json_integer((json_int_t)(v >> 1))); /* a positive long */
  json_array_append_new(a, e);
  set(o, "digests", a);
}

struct admin_cmd {
  const char *name;
  const char *alias; /* the four-letter word, or NULL */
  void (*fn)(struct srv *s, struct http_req *r, json_t *o);
};

/* ZooKeeper's command names (Commands.java), sorted as its list is. */
static const struct admin_cmd admin_cmds[] = {
    {"configuration", "conf", cmd_configuration},
    {"connection_stat_reset", "crst", cmd_crst},
    {"connections", "cons", cmd_connections},
    {"dirs", NULL, cmd_dirs},
    {"dump", NULL, cmd_dump},
    {"environment", "envi", cmd_environment},
    {"get_trace_mask", "gtmk", cmd_get_trace_mask},
    {"hash", NULL, cmd_hash},
    {"initial_configuration", "icfg", cmd_initial_configuration},
    {"is_read_only", "isro", cmd_is_read_only},
    {"last_snapshot", "lsnp", cmd_last_snapshot},
    {"leader", "lead", cmd_leader},
    {"monitor", "mntr", cmd_monitor},
    {"observer_connection_stat_reset", "orst", cmd_ruok},
    {"observers", "obsr", cmd_observers},
    {"ruok", NULL, cmd_ruok},
    {"server_stats", "srvr", cmd_server_stats},
    {"set_trace_mask", "stmk", cmd_set_trace_mask},
    {"stat_reset", "srst", cmd_srst},
    {"stats", "stat", cmd_stats},
    {"system_properties", "sysp", cmd_system_properties},
    {"voting_view", NULL, cmd_voting_view},
    {"watch_summary", "wchs", cmd_watch_summary},
    {"watches", "wchc", cmd_watches},
    {"watches_by_path", "wchp", cmd_watches_by_path},
    {"zabstate", NULL, cmd_zabstate},
};

#define N_ADMIN_CMDS (sizeof admin_cmds / sizeof admin_cmds[0])

static void respond_json(struct http_req *r, json_t *o) {
  char *txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (txt == NULL) {
    http_respond_error(r, 500, "out of memory");
    return;
  }
  http_respond(r, 200, "application/json", txt, strlen(txt));
  free(txt);
}

/* GET <commandURL>: the links, as ZooKeeper 3.8 answers. */
static void on_list(struct srv_admin *a, struct http_req *r) {
  struct proto_writer w;
  proto_writer_init(&w);
  for (size_t i = 0; i < N_ADMIN_CMDS; i++) {
    char line[640];
    int n = snprintf(line, sizeof line, "<a href=\"%s/%s\">%s</a>\n<br/>\n",
                     a->url, admin_cmds[i].name, admin_cmds[i].name);
    if (n > 0 && (size_t)n < sizeof line)
      proto_write_raw(&w, line, (size_t)n);
  }
  if (w.err != 0)
    http_respond_error(r, 500, "out of memory");
  else
    http_respond(r, 200, "text/html; charset=utf-8", w.buf, w.len);
  proto_writer_free(&w);
}

static void on_commands(void *arg, struct http_req *r) {
  struct srv_admin *a = arg;
  const char *path = http_req_path(r);
  size_t ul = strlen(a->url);
  const char *name = path + ul;
  if (*name == '/')
    name++;
  if (*name == '\0') {
    on_list(a, r);
    return;
  }
  const struct admin_cmd *cmd = NULL;
  for (size_t i = 0; i < N_ADMIN_CMDS && cmd == NULL; i++)
    if (strcmp(admin_cmds[i].name, name) == 0 ||
        (admin_cmds[i].alias && strcmp(admin_cmds[i].alias, name) == 0))
      cmd = &admin_cmds[i];
  json_t *o = json_object();
  if (cmd == NULL) {
    /* ZooKeeper answers 200 with the error in the body. */
    set(o, "command", json_string(name));
    char msg[300];
    snprintf(msg, sizeof msg, "Unknown command: %s", name);
    set(o, "error", json_string(msg));
    respond_json(r, o);
    return;
  }
  cmd->fn(a->s, r, o);
  set(o, "command", json_string(cmd->name));
  if (json_object_get(o, "error") == NULL)
    set(o, "error", json_null());
  respond_json(r, o);
}

static void on_metrics(void *arg, struct http_req *r) {
  struct srv_admin *a = arg;
  struct proto_writer w;
  proto_writer_init(&w);
  srv_metrics_text(a->s, a->http, &w);
  if (w.err != 0)
    http_respond_error(r, 500, "out of memory");
  else
    http_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", w.buf,
                 w.len);
  proto_writer_free(&w);
}

/* ------------------------------------------------------------------ */
/* Lifecycle. */

/* tls NULL: plain HTTP. */
static struct http_server *start_http(struct srv *s, const char *host, int port,
                                      const char *what, struct tls_ctx *tls,
                                      bool unify) {
  struct http_limits lim;
  http_limits_default(&lim);
  lim.idle_timeout_ms = (uint32_t)s->cfg.admin_idle_timeout_ms;
  /* A request must arrive whole within the idle timeout, 10 s at most
   * (slowloris). */
  if (lim.request_timeout_ms > lim.idle_timeout_ms)
    lim.request_timeout_ms = lim.idle_timeout_ms;
  struct http_server *h = http_server_new(&s->loop, &lim);
  if (h == NULL) {
    srv_log(s, SRV_LOG_WARN, "%s: out of memory, not started", what);
    return NULL;
  }
  http_server_set_tls(h, tls, unify);
  char err[HTTP_ERRMSG_MAX];
  if (http_listen(h, host, port, err) != 0) {
    srv_log(s, SRV_LOG_WARN, "%s not started: %s", what, err);
    http_server_close(h);
    /* freed in srv_admin_free after the loop closed its handles */
    return h;
  }
  srv_log(s, SRV_LOG_INFO, "%s on %s://%s:%d%s", what,
          tls != NULL ? "https" : "http", host, http_bound_port(h, 0),
          tls != NULL && unify ? " (and http: admin.portUnification)" : "");
  return h;
}

/* admin.forceHttps (HTTPS only) overrides admin.portUnification (HTTPS
 * and HTTP), as in ZooKeeper.  Stores that cannot be loaded leave the
 * admin server off with a warning: ZooKeeper's AdminServerFactory falls
 * back to no admin server then, and the rest keeps serving. */
static struct http_server *start_admin_http(struct srv *s, const char *host) {
  const struct srv_config *cfg = &s->cfg;
  struct tls_ctx *tls = NULL;
  if (cfg->admin_force_https || cfg->admin_unify) {
    char err[SRV_ERRMSG_MAX];
    tls = srv_tls_admin_ctx(s, err);
    if (tls == NULL) {
      srv_log(s, SRV_LOG_WARN, "AdminServer not started: admin.%s: %s",
              cfg->admin_force_https ? "forceHttps" : "portUnification", err);
      return NULL;
    }
  }
  return start_http(s, host, cfg->admin_port, "AdminServer", tls,
                    !cfg->admin_force_https);
}

int srv_admin_open(struct srv *s, char errmsg[SRV_ERRMSG_MAX]) {
  (void)errmsg;
  bool prom = srv_config_prometheus(&s->cfg);
  if (!s->cfg.admin_enable && !prom)
    return 0;
  struct srv_admin *a = calloc(1, sizeof *a);
  if (a == NULL)
    return 0; /* not started: warned below would need memory too */
  a->s = s;
  s->admin = a;
  snprintf(a->url, sizeof a->url, "%s", s->cfg.admin_command_url);
  size_t ul = strlen(a->url);
  while (ul > 1 && a->url[ul - 1] == '/')
    a->url[--ul] = '\0';
  if (a->url[0] != '/') {
    srv_log(s, SRV_LOG_WARN,
            "admin.commandURL '%s' does not start with '/': "
            "using /commands",
            a->url);
    snprintf(a->url, sizeof a->url, "/commands");
  }
  const char *client = s->cfg.client_port_address;
  if (s->cfg.admin_enable) {
    const char *host = s->cfg.admin_address[0] ? s->cfg.admin_address : client;
    a->http = start_admin_http(s, host);
    if (a->http != NULL) {
      char prefix[260];
      snprintf(prefix, sizeof prefix, "%s/", a->url);
      http_route(a->http, prefix, HTTP_ALLOW_GET, on_commands, a);
      http_route(a->http, "/metrics", HTTP_ALLOW_GET, on_metrics, a);
      srv_console_routes(s, a->http);
      srv_discovery_routes(s, a->http);
    }
  }
  if (prom) {
    const char *host = s->cfg.metrics_host[0] ? s->cfg.metrics_host : client;
    a->metrics = start_http(s, host, s->cfg.metrics_port, "Prometheus metrics",
                            NULL, false);
    if (a->metrics != NULL)
      http_route(a->metrics, "/metrics", HTTP_ALLOW_GET, on_metrics, a);
  }
  return 0;
}

int srv_admin_port(const struct srv *s, bool metrics) {
  if (s->admin == NULL)
    return 0;
  const struct http_server *h = metrics ? s->admin->metrics : s->admin->http;
  return h != NULL ? http_bound_port(h, 0) : 0;
}

void srv_admin_stop(struct srv *s) {
  if (s->admin == NULL)
    return;
  http_server_close(s->admin->http);
  http_server_close(s->admin->metrics);
}

void srv_admin_free(struct srv *s) {
  if (s->admin == NULL)
    return;
  http_server_free(s->admin->http);
  http_server_free(s->admin->metrics);
  srv_discovery_free(s);
  free(s->admin);
  s->admin = NULL;
}
