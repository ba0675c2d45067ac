/* console.c — the web console on the admin port: static assets compiled
 * into the binary (server/console/, embedded by tools/scripts/embed.sh;
 * no network fetch, no CDN) and the read-only JSON the pages load:
 *
 *   GET /api/children?path=P   P's stat and its children with their stats
 *                              (sorted, at most CONSOLE_MAX_CHILDREN)
 *   GET /api/node?path=P       P's stat, data (base64) and ACL
 *   GET /api/services          the instances under the services roots
 *                              (dns.curatorBasePath and /services), parsed
 *                              as the DNS interface parses them
 *
 * The rest comes from the AdminServer commands and /metrics.  Reads go
 * through the same tree functions as a client's getData/getChildren/
 * getACL, as an unauthenticated client from the HTTP peer's address
 * (identity ip:<addr>): a node whose ACL refuses READ is refused here
 * too (403).  Nothing here writes to the tree. */
#include "dns/dns.h"
#include "http/http.h"
#include "server/server_int.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONSOLE_MAX_CHILDREN 1000
#define CONSOLE_MAX_INSTANCES 2000

/* tools/scripts/embed.sh generates these from server/console/. */
extern const char *const srv_console_names[];
extern const unsigned char *const srv_console_data[];
extern const size_t srv_console_sizes[];
extern const size_t srv_console_count;

static const char *mime(const char *name) {
  const char *dot = strrchr(name, '.');
  if (dot == NULL)
    return "application/octet-stream";
  if (strcmp(dot, ".html") == 0)
    return "text/html; charset=utf-8";
  if (strcmp(dot, ".js") == 0)
    return "text/javascript; charset=utf-8";
  if (strcmp(dot, ".css") == 0)
    return "text/css; charset=utf-8";
  if (strcmp(dot, ".svg") == 0)
    return "image/svg+xml";
  return "application/octet-stream";
}

static void on_asset(void *arg, struct http_req *r) {
  (void)arg;
  const char *path = http_req_path(r);
  const char *name = strcmp(path, "/") == 0 ? "index.html" : path + 1;
  for (size_t i = 0; i < srv_console_count; i++) {
    if (strcmp(srv_console_names[i], name) == 0) {
      http_respond(r, 200, mime(name), srv_console_data[i],
                   srv_console_sizes[i]);
      return;
    }
  }
  http_respond_error(r, 404, NULL);
}

static void respond_json(struct http_req *r, int status, json_t *o) {
  char *txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (txt == NULL) {
    http_respond_error(r, 500, "out of memory");
    return;
  }
  http_respond(r, status, "application/json", txt, strlen(txt));
  free(txt);
}

static void respond_err(struct http_req *r, int status, const char *msg) {
  json_t *o = json_object();
  json_object_set_new(o, "error", json_string(msg));
  respond_json(r, status, o);
}

static json_t *stat_json(const struct proto_stat *st) {
  json_t *o = json_object();
  json_object_set_new(o, "czxid", json_integer(st->czxid));
  json_object_set_new(o, "mzxid", json_integer(st->mzxid));
  json_object_set_new(o, "pzxid", json_integer(st->pzxid));
  json_object_set_new(o, "ctime", json_integer(st->ctime));
  json_object_set_new(o, "mtime", json_integer(st->mtime));
  json_object_set_new(o, "version", json_integer(st->version));
  json_object_set_new(o, "cversion", json_integer(st->cversion));
  json_object_set_new(o, "aversion", json_integer(st->aversion));
  json_object_set_new(o, "ephemeralOwner", json_integer(st->ephemeral_owner));
  json_object_set_new(o, "dataLength", json_integer(st->data_length));
  json_object_set_new(o, "numChildren", json_integer(st->num_children));
  return o;
}

/* The ?path= parameter, checked as a client's path is.  Returns its
 * length, or -1 after answering 400. */
static int req_path(struct http_req *r, char *out, size_t cap) {
  int n = http_req_param(r, "path", out, cap);
  if (n == -1) {
    snprintf(out, cap, "/");
    return 1;
  }
  if (n <= 0 || proto_path_validate(out, (size_t)n) != PROTO_OK) {
    respond_err(r, 400, "path: not a valid znode path");
    return -1;
  }
  return n;
}

static bool tree_err(struct http_req *r, int rc) {
  if (rc == PROTO_OK)
    return false;
  if (rc == PROTO_NONODE)
    respond_err(r, 404, "no such node");
  else if (rc == PROTO_NOAUTH)
    respond_err(r, 403, "the node's ACL does not grant READ to this client");
  else
    respond_err(r, 500, "read failed");
  return true;
}

struct tree_auth srv_http_peer_auth(struct http_req *r,
                                    struct tree_identity *id) {
  id->scheme = "ip";
  id->id = http_req_peer(r);
  struct tree_auth a = {.ids = id, .n_ids = 1};
  return a;
}

bool srv_path_join(char *out, size_t cap, const char *parent,
                   const char *name) {
  int n =
      snprintf(out, cap, "%s/%s", strcmp(parent, "/") == 0 ? "" : parent, name);
  return n >= 0 && (size_t)n < cap;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The vector of names at rd (a getChildren body) as owned strings; *got
 * says how many were read (fewer on a short body or out of memory).  NULL
 * when out of memory. */
static char **read_names(struct proto_reader *rd, int32_t *got) {
  int32_t n = proto_read_vector_count(rd);
  char **v = calloc(n > 0 ? (size_t)n : 1, sizeof *v);
  int32_t k = 0;
  for (; v != NULL && k < n && proto_reader_err(rd) == PROTO_OK; k++) {
    struct proto_slice sl = proto_read_buffer(rd);
    v[k] = strndup(sl.ptr ? (const char *)sl.ptr : "",
                   sl.len > 0 ? (size_t)sl.len : 0);
    if (v[k] == NULL)
      break;
  }
  *got = k;
  return v;
}

static void on_children(void *arg, struct http_req *r) {
  struct srv *s = arg;
  char path[SRV_PATH_MAX];
  int plen = req_path(r, path, sizeof path);
  if (plen < 0)
    return;
  struct tree_identity id;
  struct tree_auth auth = srv_http_peer_auth(r, &id);
  struct proto_writer w;
  proto_writer_init(&w);
  int rc = tree_get_children(s->tree, path, (size_t)plen, 0, true, &auth, &w);
  if (tree_err(r, rc)) {
    proto_writer_free(&w);
    return;
  }
  struct proto_reader rd;
  proto_reader_init(&rd, w.buf, w.len, w.len);
  int32_t got;
  char **names = read_names(&rd, &got);
  if (names == NULL) {
    proto_writer_free(&w);
    respond_err(r, 500, "read failed");
    return;
  }
  struct proto_stat st;
  proto_read_stat(&rd, &st);
  json_t *o = json_object();
  json_object_set_new(o, "path", json_string(path));
  json_object_set_new(o, "stat", stat_json(&st));
  qsort(names, (size_t)got, sizeof *names, cmp_str);
  json_t *a = json_array();
  for (int32_t i = 0; i < got && i < CONSOLE_MAX_CHILDREN; i++) {
    char child[SRV_PATH_MAX];
    struct proto_stat cs;
    json_t *c = json_object();
    json_object_set_new(c, "name", json_string(names[i]));
    if (srv_path_join(child, sizeof child, path, names[i]) &&
        tree_stat(s->tree, child, strlen(child), &cs) == PROTO_OK)
      json_object_set_new(c, "stat", stat_json(&cs));
    json_array_append_new(a, c);
  }
  json_object_set_new(o, "children", a);
  json_object_set_new(o, "truncated", json_boolean(got > CONSOLE_MAX_CHILDREN));
  srv_names_free(names, got);
  bool bad = proto_reader_err(&rd) != PROTO_OK;
  proto_writer_free(&w);
  if (bad) {
    json_decref(o);
    respond_err(r, 500, "read failed");
    return;
  }
  respond_json(r, 200, o);
}

static void on_node(void *arg, struct http_req *r) {
  struct srv *s = arg;
  char path[SRV_PATH_MAX];
  int plen = req_path(r, path, sizeof path);
  if (plen < 0)
    return;
  struct tree_identity id;
  struct tree_auth auth = srv_http_peer_auth(r, &id);
  struct proto_writer w;
  proto_writer_init(&w);
  int rc = tree_get_data(s->tree, path, (size_t)plen, 0, &auth, &w);
  if (tree_err(r, rc)) {
    proto_writer_free(&w);
    return;
  }
  struct proto_reader rd;
  proto_reader_init(&rd, w.buf, w.len, w.len);
  struct proto_slice data = proto_read_buffer(&rd);
  struct proto_stat st;
  proto_read_stat(&rd, &st);
  json_t *o = json_object();
  json_object_set_new(o, "path", json_string(path));
  json_object_set_new(o, "stat", stat_json(&st));
  size_t dl = data.len > 0 ? (size_t)data.len : 0;
  char *b64 = malloc(4 * ((dl + 2) / 3) + 1);
  if (b64 != NULL)
    srv_base64(data.ptr ? data.ptr : (const uint8_t *)"", dl, b64);
  json_object_set_new(o, "data_base64", b64 ? json_string(b64) : json_null());
  json_object_set_new(o, "data_null", json_boolean(data.len < 0));
  free(b64);
  struct proto_writer aw;
  proto_writer_init(&aw);
  json_t *acl = json_array();
  if (tree_get_acl(s->tree, path, (size_t)plen, &auth, &aw) == PROTO_OK) {
    struct proto_reader ar;
    proto_reader_init(&ar, aw.buf, aw.len, aw.len);
    int32_t n = proto_read_vector_count(&ar);
    for (int32_t i = 0; i < n && proto_reader_err(&ar) == PROTO_OK; i++) {
      struct proto_acl a;
      proto_read_acl(&ar, &a);
      if (proto_reader_err(&ar) != PROTO_OK)
        break;
      json_t *e = json_object();
      json_object_set_new(e, "perms", json_integer(a.perms));
      json_object_set_new(
          e, "scheme",
          json_stringn((const char *)a.id.scheme.ptr,
                       a.id.scheme.len > 0 ? (size_t)a.id.scheme.len : 0));
      json_object_set_new(
          e, "id",
          json_stringn((const char *)a.id.id.ptr,
                       a.id.id.len > 0 ? (size_t)a.id.id.len : 0));
      json_array_append_new(acl, e);
    }
  }
  proto_writer_free(&aw);
  json_object_set_new(o, "acl", acl);
  bool bad = proto_reader_err(&rd) != PROTO_OK || b64 == NULL;
  proto_writer_free(&w);
  if (bad) {
    json_decref(o);
    respond_err(r, 500, "read failed");
    return;
  }
  respond_json(r, 200, o);
}

char **srv_children_names(struct srv *s, const char *path,
                          const struct tree_auth *auth, bool sorted,
                          int32_t *count) {
  struct proto_writer w;
  proto_writer_init(&w);
  *count = 0;
  if (tree_get_children(s->tree, path, strlen(path), 0, false, auth, &w) !=
      PROTO_OK) {
    proto_writer_free(&w);
    return NULL;
  }
  struct proto_reader rd;
  proto_reader_init(&rd, w.buf, w.len, w.len);
  int32_t got;
  char **v = read_names(&rd, &got);
  proto_writer_free(&w);
  if (v != NULL && sorted)
    qsort(v, (size_t)got, sizeof *v, cmp_str);
  *count = got;
  return v;
}

void srv_names_free(char **v, int32_t n) {
  if (v == NULL)
    return;
  for (int32_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

static const char *status_name(enum dns_status st) {
  return st == DNS_STATUS_PASSING   ? "passing"
         : st == DNS_STATUS_WARNING ? "warning"
                                    : "critical";
}

static json_t *instance_json(struct srv *s, const char *path, const char *id,
                             const struct tree_auth *auth) {
  struct proto_writer w;
  proto_writer_init(&w);
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(id));
  json_object_set_new(o, "path", json_string(path));
  if (tree_get_data(s->tree, path, strlen(path), 0, auth, &w) != PROTO_OK) {
    json_object_set_new(o, "error", json_string("not readable"));
    proto_writer_free(&w);
    return o;
  }
  struct proto_reader rd;
  proto_reader_init(&rd, w.buf, w.len, w.len);
  struct proto_slice data = proto_read_buffer(&rd);
  struct proto_stat st;
  proto_read_stat(&rd, &st);
  size_t dl = data.len > 0 ? (size_t)data.len : 0;
  struct dns_instance in;
  if (dl > 0 && dns_instance_parse(data.ptr, dl, &in) == 0) {
    json_object_set_new(o, "address", json_string(in.host));
    json_object_set_new(o, "port", json_integer(in.port));
    json_object_set_new(o, "weight", json_integer(in.weight));
    json_object_set_new(o, "status", json_string(status_name(in.status)));
    json_t *tags = json_array();
    for (size_t i = 0; i < in.n_tags; i++)
      json_array_append_new(tags, json_string(in.tags[i]));
    json_object_set_new(o, "tags", tags);
    dns_instance_clear(&in);
  } else {
    json_object_set_new(o, "status", json_string("unknown"));
  }
  /* The raw payload for the checks' output (the agent's JSON). */
  json_t *raw = dl > 0 ? json_loadb((const char *)data.ptr, dl, 0, NULL) : NULL;
  if (raw != NULL)
    json_object_set_new(o, "data", raw);
  json_object_set_new(o, "ephemeralOwner", json_integer(st.ephemeral_owner));
  proto_writer_free(&w);
  return o;
}

static void add_root(struct srv *s, const char *root, json_t *services,
                     const struct tree_auth *auth, size_t *budget) {
  int32_t n;
  char **names = srv_children_names(s, root, auth, true, &n);
  for (int32_t i = 0; names != NULL && i<n && * budget> 0; i++) {
    char spath[SRV_PATH_MAX];
    if (!srv_path_join(spath, sizeof spath, root, names[i]))
      continue;
    int32_t m;
    char **ids = srv_children_names(s, spath, auth, true, &m);
    json_t *svc = json_object();
    json_object_set_new(svc, "name", json_string(names[i]));
    json_object_set_new(svc, "path", json_string(spath));
    json_t *inst = json_array();
    for (int32_t j = 0; ids != NULL && j<m && * budget> 0; j++) {
      char ipath[SRV_PATH_MAX];
      if (!srv_path_join(ipath, sizeof ipath, spath, ids[j]))
        continue;
      json_array_append_new(inst, instance_json(s, ipath, ids[j], auth));
      (*budget)--;
    }
    srv_names_free(ids, m);
    json_object_set_new(svc, "instances", inst);
    json_array_append_new(services, svc);
  }
  srv_names_free(names, n);
}

static void on_services(void *arg, struct http_req *r) {
  struct srv *s = arg;
  struct tree_identity id;
  struct tree_auth auth = srv_http_peer_auth(r, &id);
  json_t *o = json_object();
  json_t *roots = json_array(), *services = json_array();
  size_t budget = CONSOLE_MAX_INSTANCES;
  const char *curator = s->cfg.dns_curator_base_path;
  add_root(s, "/services", services, &auth, &budget);
  json_array_append_new(roots, json_string("/services"));
  if (curator[0] && strcmp(curator, "/services") != 0 &&
      proto_path_validate(curator, strlen(curator)) == PROTO_OK) {
    add_root(s, curator, services, &auth, &budget);
    json_array_append_new(roots, json_string(curator));
  }
  json_object_set_new(o, "roots", roots);
  json_object_set_new(o, "services", services);
  json_object_set_new(o, "truncated", json_boolean(budget == 0));
  respond_json(r, 200, o);
}

void srv_console_routes(struct srv *s, struct http_server *h) {
  http_route(h, "/", HTTP_ALLOW_GET, on_asset, s);
  for (size_t i = 0; i < srv_console_count; i++) {
    char p[256];
    snprintf(p, sizeof p, "/%s", srv_console_names[i]);
    if (strcmp(srv_console_names[i], "index.html") != 0)
      http_route(h, p, HTTP_ALLOW_GET, on_asset, s);
  }
  http_route(h, "/api/children", HTTP_ALLOW_GET, on_children, s);
  http_route(h, "/api/node", HTTP_ALLOW_GET, on_node, s);
  http_route(h, "/api/services", HTTP_ALLOW_GET, on_services, s);
}
