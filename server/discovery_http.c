/* discovery_http.c — the HTTP discovery API on the admin port (issue 16):
 *
 *   GET /v1/services                 {"name": instance count, ...}
 *   GET /v1/services/<name>          [instance, ...]
 *       ?passing                     only passing instances (as Consul:
 *                                    warning and unparsable ones go too)
 *       ?tag=T                       only instances tagged T
 *   both: ?index=N&wait=30s          a blocking query (Consul's): answered
 *                                    when the index differs from N, or at
 *                                    the end of the wait (default 5 min,
 *                                    at most 10 min) with the same index
 *
 * Every answer carries the index in X-Roost-Index and X-Consul-Index: a
 * zxid that moves when the answer may have changed — for a service the
 * largest of its node's pzxid (instances come and go) and its instances'
 * mzxid (health changes), for the list the roots' and services' pzxid.
 * An unknown service answers 200 [] as Consul's /v1/health/service does.
 *
 * Instances are read from the member's own tree under /services and
 * dns.curatorBasePath, parsed as the DNS interface and the console do
 * (dns_instance_parse), with "meta" and "checks" taken from the node's
 * JSON (the agent writes both).  Reads are those of an unauthenticated
 * client from the peer's address: ACLs hold.
 *
 * Wake-ups come from the tree: an internal watcher id holds a persistent
 * recursive watch on each root, and srv_deliver_events hands its events
 * to srv_discovery_event.  Waiting requests are bounded
 * (DISC_MAX_WAITERS); each owns a timer, freed when it is answered or its
 * connection goes away. */
#include "server/server_int.h"

#include "dns/dns.h"
#include "http/http.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define DISC_MAX_WAITERS 1024
#define DISC_WAIT_DEFAULT_MS ((int64_t)5 * 60 * 1000)
#define DISC_WAIT_MAX_MS ((int64_t)10 * 60 * 1000)
#define DISC_MAX_INSTANCES 10000

struct filter {
  bool passing;
  bool has_tag;
  char tag[256];
};

struct waiter {
  struct waiter *prev, *next;
  struct srv_disc *d;
  struct http_req *r; /* NULL once answered or aborted */
  uv_timer_t timer;
  int64_t index;
  bool list; /* /v1/services, else one service */
  struct filter f;
  char name[256]; /* the service */
};

struct srv_disc {
  struct srv *s;
  struct waiter *head;
  size_t n_waiters;
  struct tree *watched; /* the tree the watches are on */
};

/* ---- reading the tree ---- */

struct roots {
  const char *p[2];
  int n;
};

static void roots_get(const struct srv *s, struct roots *r) {
  const char *cur = s->cfg.dns_curator_base_path;
  r->p[0] = "/services";
  r->n = 1;
  if (cur[0] && strcmp(cur, "/services") != 0 &&
      proto_path_validate(cur, strlen(cur)) == PROTO_OK)
    r->p[r->n++] = cur;
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* A service's index: its node's pzxid and its instances' mzxid, over the
 * roots; where it does not exist, the root's pzxid (moves when it comes). */
static int64_t service_index(struct srv *s, const char *name) {
  struct roots rs;
  roots_get(s, &rs);
  int64_t idx = 1;
  for (int i = 0; i < rs.n; i++) {
    char sp[SRV_PATH_MAX];
    struct proto_stat st;
    if (!srv_path_join(sp, sizeof sp, rs.p[i], name))
      continue;
    if (tree_stat(s->tree, sp, strlen(sp), &st) != PROTO_OK) {
      if (tree_stat(s->tree, rs.p[i], strlen(rs.p[i]), &st) == PROTO_OK)
        idx = max64(idx, st.pzxid);
      continue;
    }
    idx = max64(idx, st.pzxid);
    int32_t n;
    char **ids = srv_children_names(s, sp, NULL, false, &n);
    for (int32_t j = 0; j < n; j++) {
      char ip[SRV_PATH_MAX];
      if (srv_path_join(ip, sizeof ip, sp, ids[j]) &&
          tree_stat(s->tree, ip, strlen(ip), &st) == PROTO_OK)
        idx = max64(idx, st.mzxid);
    }
    srv_names_free(ids, n);
  }
  return idx;
}

/* The list's index: the roots' and the services' pzxid. */
static int64_t list_index(struct srv *s) {
  struct roots rs;
  roots_get(s, &rs);
  int64_t idx = 1;
  for (int i = 0; i < rs.n; i++) {
    struct proto_stat st;
    if (tree_stat(s->tree, rs.p[i], strlen(rs.p[i]), &st) != PROTO_OK)
      continue;
    idx = max64(idx, st.pzxid);
    int32_t n;
    char **names = srv_children_names(s, rs.p[i], NULL, false, &n);
    for (int32_t j = 0; j < n; j++) {
      char sp[SRV_PATH_MAX];
      if (srv_path_join(sp, sizeof sp, rs.p[i], names[j]) &&
          tree_stat(s->tree, sp, strlen(sp), &st) == PROTO_OK)
        idx = max64(idx, st.pzxid);
    }
    srv_names_free(names, n);
  }
  return idx;
}

static const char *status_name(enum dns_status st) {
  return st == DNS_STATUS_PASSING   ? "passing"
         : st == DNS_STATUS_WARNING ? "warning"
                                    : "critical";
}

/* One instance as JSON, or NULL when the filter drops it. */
static json_t *instance(struct srv *s, const char *service, const char *path,
                        const char *id, const struct tree_auth *auth,
                        const struct filter *f) {
  struct proto_writer w;
  proto_writer_init(&w);
  if (tree_get_data(s->tree, path, strlen(path), 0, auth, &w) != PROTO_OK) {
    proto_writer_free(&w);
    return NULL; /* gone or not readable by this client */
  }
  struct proto_reader rd;
  proto_reader_init(&rd, w.buf, w.len, w.len);
  struct proto_slice data = proto_read_buffer(&rd);
  size_t dl = data.len > 0 ? (size_t)data.len : 0;
  struct dns_instance in;
  bool parsed = dl > 0 && dns_instance_parse(data.ptr, dl, &in) == 0;
  bool keep = !f->passing || (parsed && in.status == DNS_STATUS_PASSING);
  if (keep && f->has_tag) {
    keep = false;
    for (size_t i = 0; parsed && i < in.n_tags; i++)
      keep = keep || strcmp(in.tags[i], f->tag) == 0;
  }
  json_t *o = NULL;
  if (keep) {
    o = json_object();
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "service", json_string(service));
    json_object_set_new(o, "path", json_string(path));
    json_t *tags = json_array();
    if (parsed) {
      json_object_set_new(o, "address", json_string(in.host));
      json_object_set_new(o, "port", json_integer(in.port));
      json_object_set_new(o, "weight", json_integer(in.weight));
      json_object_set_new(o, "status", json_string(status_name(in.status)));
      for (size_t i = 0; i < in.n_tags; i++)
        json_array_append_new(tags, json_string(in.tags[i]));
    } else {
      json_object_set_new(o, "status", json_string("unknown"));
    }
    json_object_set_new(o, "tags", tags);
    json_t *raw =
        dl > 0 ? json_loadb((const char *)data.ptr, dl, 0, NULL) : NULL;
    json_t *meta = json_is_object(raw) ? json_object_get(raw, "meta") : NULL;
    json_t *checks =
        json_is_object(raw) ? json_object_get(raw, "checks") : NULL;
    json_object_set_new(
        o, "meta", json_is_object(meta) ? json_incref(meta) : json_object());
    json_object_set_new(o, "checks",
                        json_is_array(checks) ? json_incref(checks)
                                              : json_array());
    json_decref(raw);
  }
  if (parsed)
    dns_instance_clear(&in);
  proto_writer_free(&w);
  return o;
}

static json_t *service_json(struct srv *s, const char *name,
                            const struct tree_auth *auth,
                            const struct filter *f) {
  struct roots rs;
  roots_get(s, &rs);
  json_t *a = json_array();
  for (int i = 0; i < rs.n; i++) {
    char sp[SRV_PATH_MAX];
    if (!srv_path_join(sp, sizeof sp, rs.p[i], name))
      continue;
    int32_t n;
    char **ids = srv_children_names(s, sp, auth, false, &n);
    for (int32_t j = 0; j < n && json_array_size(a) < DISC_MAX_INSTANCES; j++) {
      char ip[SRV_PATH_MAX];
      json_t *o = srv_path_join(ip, sizeof ip, sp, ids[j])
                      ? instance(s, name, ip, ids[j], auth, f)
                      : NULL;
      if (o != NULL)
        json_array_append_new(a, o);
    }
    srv_names_free(ids, n);
  }
  return a;
}

static json_t *list_json(struct srv *s, const struct tree_auth *auth) {
  struct roots rs;
  roots_get(s, &rs);
  json_t *o = json_object();
  for (int i = 0; i < rs.n; i++) {
    int32_t n;
    char **names = srv_children_names(s, rs.p[i], auth, false, &n);
    for (int32_t j = 0; j < n; j++) {
      char sp[SRV_PATH_MAX];
      struct proto_stat st;
      if (!srv_path_join(sp, sizeof sp, rs.p[i], names[j]) ||
          tree_stat(s->tree, sp, strlen(sp), &st) != PROTO_OK)
        continue;
      json_int_t had = json_integer_value(json_object_get(o, names[j]));
      json_object_set_new(o, names[j], json_integer(had + st.num_children));
    }
    srv_names_free(names, n);
  }
  return o;
}

/* ---- answering ---- */

/* Reads ?passing and ?tag=; false after answering 400. */
static bool filter_get(struct http_req *r, struct filter *f) {
  char v[16];
  memset(f, 0, sizeof *f);
  int n = http_req_param(r, "passing", v, sizeof v);
  /* Consul: ?passing, ?passing=true|1; ?passing=false turns it off. */
  f->passing =
      n == 0 || (n > 0 && strcmp(v, "false") != 0 && strcmp(v, "0") != 0);
  n = http_req_param(r, "tag", f->tag, sizeof f->tag);
  if (n == -2 || n == 0) {
    http_respond_error(r, 400, "tag: empty or too long");
    return false;
  }
  f->has_tag = n > 0;
  return true;
}

static void answer(struct srv *s, struct http_req *r, bool list,
                   const char *name, const struct filter *f, int64_t idx) {
  struct tree_identity id;
  struct tree_auth auth = srv_http_peer_auth(r, &id);
  json_t *o = list ? list_json(s, &auth) : service_json(s, name, &auth, f);
  char *txt =
      json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
  json_decref(o);
  if (txt == NULL) {
    http_respond_error(r, 500, "out of memory");
    return;
  }
  char ix[32];
  snprintf(ix, sizeof ix, "%" PRId64, idx);
  http_req_add_header(r, "X-Roost-Index", ix);
  http_req_add_header(r, "X-Consul-Index", ix);
  http_respond(r, 200, "application/json", txt, strlen(txt));
  free(txt);
}

static int64_t index_of(struct srv *s, bool list, const char *name) {
  return list ? list_index(s) : service_index(s, name);
}

/* "30s", "500ms", "5m", "1h" (Go's durations as Consul takes them, whole
 * numbers); -1 when malformed. */
static int64_t parse_wait(const char *v) {
  char *end;
  if (v[0] < '0' || v[0] > '9')
    return -1;
  unsigned long long n = strtoull(v, &end, 10);
  if (n > 100000000ull)
    return -1;
  if (strcmp(end, "ms") == 0)
    return (int64_t)n;
  if (strcmp(end, "s") == 0)
    return (int64_t)n * 1000;
  if (strcmp(end, "m") == 0)
    return (int64_t)n * 60000;
  if (strcmp(end, "h") == 0)
    return (int64_t)n * 3600000;
  return -1;
}

static void timer_closed(uv_handle_t *h) { free(h->data); }

static void waiter_end(struct waiter *w) {
  struct srv_disc *d = w->d;
  if (w->prev != NULL)
    w->prev->next = w->next;
  else
    d->head = w->next;
  if (w->next != NULL)
    w->next->prev = w->prev;
  d->n_waiters--;
  w->r = NULL;
  uv_timer_stop(&w->timer);
  uv_close((uv_handle_t *)&w->timer, timer_closed);
}

static void waiter_answer(struct waiter *w, int64_t idx) {
  struct http_req *r = w->r;
  struct srv *s = w->d->s;
  bool list = w->list;
  char name[sizeof w->name];
  struct filter f = w->f;
  memcpy(name, w->name, sizeof name);
  waiter_end(w);
  answer(s, r, list, name, &f, idx);
}

static void on_timeout(uv_timer_t *t) {
  struct waiter *w = t->data;
  waiter_answer(w, index_of(w->d->s, w->list, w->name));
}

static void on_abort(void *arg, struct http_req *r) {
  (void)r;
  waiter_end(arg);
}

/* The roots' persistent recursive watches, on the tree in use (an
 * ensemble resync replaces the tree). */
static void watch_roots(struct srv_disc *d) {
  if (d->watched == d->s->tree)
    return;
  struct roots rs;
  roots_get(d->s, &rs);
  bool ok = true;
  for (int i = 0; i < rs.n; i++)
    ok = ok &&
         tree_add_watch(d->s->tree, rs.p[i], strlen(rs.p[i]), SRV_DISC_WATCHER,
                        PROTO_ADD_WATCH_PERSISTENT_RECURSIVE) == PROTO_OK;
  d->watched = ok ? d->s->tree : NULL;
}

static void serve(struct srv_disc *d, struct http_req *r, bool list,
                  const char *name) {
  struct srv *s = d->s;
  struct filter f;
  if (!filter_get(r, &f))
    return;
  char v[32];
  int64_t want = -1;
  int n = http_req_param(r, "index", v, sizeof v);
  if (n != -1) {
    char *end;
    if (n <= 0 || v[0] < '0' || v[0] > '9' ||
        (want = (int64_t)strtoll(v, &end, 10)) < 0 || *end != '\0') {
      http_respond_error(r, 400, "index: a whole number");
      return;
    }
  }
  int64_t wait_ms = DISC_WAIT_DEFAULT_MS;
  n = http_req_param(r, "wait", v, sizeof v);
  if (n != -1 && (n <= 0 || (wait_ms = parse_wait(v)) < 0)) {
    http_respond_error(r, 400, "wait: a duration such as 30s, 500ms or 5m");
    return;
  }
  if (wait_ms > DISC_WAIT_MAX_MS)
    wait_ms = DISC_WAIT_MAX_MS;
  int64_t idx = index_of(s, list, name);
  /* No index, index 0, or already different: answer now (Consul also
   * answers at once when the index went backwards). */
  if (want <= 0 || want != idx || wait_ms == 0) {
    answer(s, r, list, name, &f, idx);
    return;
  }
  if (d->n_waiters >= DISC_MAX_WAITERS) {
    http_respond_error(r, 503, "too many blocking queries");
    return;
  }
  struct waiter *w = calloc(1, sizeof *w);
  if (w == NULL || uv_timer_init(&s->loop, &w->timer) != 0) {
    free(w);
    http_respond_error(r, 500, "out of memory");
    return;
  }
  watch_roots(d);
  w->d = d;
  w->r = r;
  w->index = want;
  w->list = list;
  w->f = f;
  snprintf(w->name, sizeof w->name, "%s", name);
  w->timer.data = w;
  w->next = d->head;
  if (d->head != NULL)
    d->head->prev = w;
  d->head = w;
  d->n_waiters++;
  uv_timer_start(&w->timer, on_timeout, (uint64_t)wait_ms, 0);
  http_req_defer(r, on_abort, w);
}

/* The route "/v1/services/" takes "/v1/services" too (http.c). */
static void on_service(void *arg, struct http_req *r) {
  const char *path = http_req_path(r);
  if (strcmp(path, "/v1/services") == 0 || strcmp(path, "/v1/services/") == 0) {
    serve(arg, r, true, "");
    return;
  }
  const char *name = path + strlen("/v1/services/");
  size_t len = strlen(name);
  if (len == 0 || len >= 256 || strchr(name, '/') != NULL ||
      strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
    http_respond_error(r, 400, "service: one znode name");
    return;
  }
  serve(arg, r, false, name);
}

/* ---- the server's side ---- */

void srv_discovery_routes(struct srv *s, struct http_server *h) {
  struct srv_disc *d = calloc(1, sizeof *d);
  if (d == NULL) {
    srv_log(s, SRV_LOG_WARN, "discovery API: out of memory; not mounted");
    return;
  }
  d->s = s;
  s->disc = d;
  http_route(h, "/v1/services/", HTTP_ALLOW_GET, on_service, d);
}

/* Might ev (under a root) change w's answer?  A service's waiters look
 * at <root>/<name> and below; the list's at everything down to a
 * service's instances. */
static bool affects(const struct waiter *w, const struct tree_event *ev) {
  if (w->list)
    return true;
  size_t nl = strlen(w->name);
  for (const char *p = ev->path;
       (p = memchr(p, '/', (size_t)(ev->path + ev->path_len - p))) != NULL;
       p++) {
    size_t rest = (size_t)(ev->path + ev->path_len - p - 1);
    if (rest >= nl && memcmp(p + 1, w->name, nl) == 0 &&
        (rest == nl || p[1 + nl] == '/'))
      return true;
  }
  return false;
}

void srv_discovery_event(struct srv *s, const struct tree_event *ev) {
  struct srv_disc *d = s->disc;
  if (d == NULL)
    return;
  struct waiter *w = d->head;
  while (w != NULL) {
    struct waiter *next = w->next;
    if (affects(w, ev)) {
      int64_t idx = index_of(s, w->list, w->name);
      if (idx != w->index)
        waiter_answer(w, idx);
    }
    w = next;
  }
}

void srv_discovery_free(struct srv *s) {
  /* The waiters went with their connections (http_server_close). */
  free(s->disc);
  s->disc = NULL;
}
