/* defs.c — Consul service definitions (JSON, through jansson) into
 * agent_service_def.  Every refusal names the file, the field and why. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "agent/agent.h"

/* Parse context: where we are, for messages. */
struct pctx {
  const char *file;
  agent_notice_cb notice;
  void *notice_arg;
  char *err;
  size_t err_size;
};

static int fail(struct pctx *p, const char *field, const char *fmt, ...) {
  char why[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  if (p->err && p->err_size)
    snprintf(p->err, p->err_size, "%s: %s: %s", p->file, field, why);
  return AGENT_EINVAL;
}

static void note(struct pctx *p, const char *field) {
  if (p->notice == NULL)
    return;
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s: unknown field, ignored", p->file, field);
  p->notice(msg, p->notice_arg);
}

/* Consul accepts "DeregisterCriticalServiceAfter" and
 * "deregister_critical_service_after" alike: compare keys without case
 * and underscores. */
static bool key_is(const char *key, const char *want) {
  while (*key || *want) {
    if (*key == '_') {
      key++;
      continue;
    }
    if (*want == '_') {
      want++;
      continue;
    }
    char a = *key, b = *want;
    if (a >= 'A' && a <= 'Z')
      a = (char)(a - 'A' + 'a');
    if (a != b)
      return false;
    key++;
    want++;
  }
  return true;
}

static bool key_known(const char *key, const char *const *known) {
  for (size_t i = 0; known[i]; i++)
    if (key_is(key, known[i]))
      return true;
  return false;
}

/* The value of the first key matching want, or NULL. */
static json_t *get(json_t *obj, const char *want) {
  const char *k;
  json_t *v;
  json_object_foreach(obj, k, v) {
    if (key_is(k, want))
      return v;
  }
  return NULL;
}

static void field_name(char *buf, size_t n, const char *prefix,
                       const char *key) {
  snprintf(buf, n, "%s.%s", prefix, key);
}

/* Optional string field: 0 (absent or set), AGENT_EINVAL, AGENT_ENOMEM. */
static int get_str(struct pctx *p, json_t *obj, const char *prefix,
                   const char *key, bool nonempty, char **out) {
  json_t *v = get(obj, key);
  if (v == NULL || json_is_null(v))
    return AGENT_OK;
  char f[200];
  field_name(f, sizeof f, prefix, key);
  if (!json_is_string(v))
    return fail(p, f, "must be a string");
  if (nonempty && json_string_length(v) == 0)
    return fail(p, f, "must not be empty");
  if (strlen(json_string_value(v)) != json_string_length(v))
    return fail(p, f, "must not contain NUL");
  free(*out);
  *out = strdup(json_string_value(v));
  return *out ? AGENT_OK : AGENT_ENOMEM;
}

static int get_int(struct pctx *p, json_t *obj, const char *prefix,
                   const char *key, int64_t lo, int64_t hi, int32_t *out) {
  json_t *v = get(obj, key);
  if (v == NULL || json_is_null(v))
    return AGENT_OK;
  char f[200];
  field_name(f, sizeof f, prefix, key);
  if (!json_is_integer(v))
    return fail(p, f, "must be an integer");
  json_int_t x = json_integer_value(v);
  if (x < lo || x > hi)
    return fail(p, f, "%lld is out of range [%lld, %lld]", (long long)x,
                (long long)lo, (long long)hi);
  *out = (int32_t)x;
  return AGENT_OK;
}

static int get_bool(struct pctx *p, json_t *obj, const char *prefix,
                    const char *key, bool *out) {
  json_t *v = get(obj, key);
  if (v == NULL || json_is_null(v))
    return AGENT_OK;
  char f[200];
  field_name(f, sizeof f, prefix, key);
  if (!json_is_boolean(v))
    return fail(p, f, "must be true or false");
  *out = json_is_true(v);
  return AGENT_OK;
}

/* A duration: a string ("10s") or, as Consul also takes, a number of
 * nanoseconds. */
static int get_dur(struct pctx *p, json_t *obj, const char *prefix,
                   const char *key, int64_t *out, bool *present) {
  json_t *v = get(obj, key);
  if (present)
    *present = false;
  if (v == NULL || json_is_null(v))
    return AGENT_OK;
  char f[200];
  field_name(f, sizeof f, prefix, key);
  if (json_is_integer(v)) {
    json_int_t ns = json_integer_value(v);
    if (ns < 0)
      return fail(p, f, "must not be negative");
    *out = (int64_t)((ns + 999999) / 1000000);
  } else if (json_is_string(v)) {
    if (agent_duration_parse(json_string_value(v), out) != AGENT_OK)
      return fail(p, f,
                  "\"%s\" is not a duration (e.g. \"10s\", \"1m30s\", "
                  "\"500ms\")",
                  json_string_value(v));
  } else {
    return fail(p, f, "must be a duration string");
  }
  if (present)
    *present = true;
  return AGENT_OK;
}

/* An array of strings (or, for tags, null). */
static int get_strv(struct pctx *p, json_t *obj, const char *prefix,
                    const char *key, char ***out, size_t *n) {
  json_t *v = get(obj, key);
  if (v == NULL || json_is_null(v))
    return AGENT_OK;
  char f[200];
  field_name(f, sizeof f, prefix, key);
  if (!json_is_array(v))
    return fail(p, f, "must be an array of strings");
  size_t cnt = json_array_size(v);
  char **a = calloc(cnt + 1, sizeof *a);
  if (a == NULL)
    return AGENT_ENOMEM;
  for (size_t i = 0; i < cnt; i++) {
    json_t *e = json_array_get(v, i);
    if (!json_is_string(e) ||
        strlen(json_string_value(e)) != json_string_length(e)) {
      for (size_t j = 0; j < i; j++)
        free(a[j]);
      free(a);
      return fail(p, f, "element %zu is not a string", i);
    }
    a[i] = strdup(json_string_value(e));
    if (a[i] == NULL) {
      for (size_t j = 0; j < i; j++)
        free(a[j]);
      free(a);
      return AGENT_ENOMEM;
    }
  }
  *out = a;
  *n = cnt;
  return AGENT_OK;
}

static void headers_free(struct agent_header *h, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(h[i].name);
    free(h[i].value);
  }
  free(h);
}

static int push_header(struct agent_header **v, size_t *n, const char *k,
                       const char *val) {
  struct agent_header *nv = realloc(*v, (*n + 1) * sizeof *nv);
  if (nv == NULL)
    return AGENT_ENOMEM;
  *v = nv;
  nv[*n].name = strdup(k);
  nv[*n].value = strdup(val);
  if (nv[*n].name == NULL || nv[*n].value == NULL) {
    free(nv[*n].name);
    free(nv[*n].value);
    return AGENT_ENOMEM;
  }
  (*n)++;
  return AGENT_OK;
}

/* meta: {"k": "v"}; header: {"k": ["v1", "v2"]} (Consul's form) or
 * {"k": "v"}. */
static int get_map(struct pctx *p, json_t *obj, const char *prefix,
                   const char *key, bool multi, struct agent_header **out,
                   size_t *n) {
  json_t *v = get(obj, key);
  if (v == NULL || json_is_null(v))
    return AGENT_OK;
  char f[300];
  field_name(f, sizeof f, prefix, key);
  if (!json_is_object(v))
    return fail(p, f, "must be an object");
  const char *k;
  json_t *e;
  int rc = AGENT_OK;
  json_object_foreach(v, k, e) {
    char sub[400];
    snprintf(sub, sizeof sub, "%s.%s", f, k);
    if (json_is_string(e)) {
      rc = push_header(out, n, k, json_string_value(e));
    } else if (multi && json_is_array(e)) {
      size_t i;
      json_t *s;
      json_array_foreach(e, i, s) {
        if (!json_is_string(s)) {
          rc = fail(p, sub, "element %zu is not a string", i);
          break;
        }
        if ((rc = push_header(out, n, k, json_string_value(s))) != 0)
          break;
      }
    } else {
      rc = fail(p, sub,
                multi ? "must be a string or an array of strings"
                      : "must be a string");
    }
    if (rc != AGENT_OK)
      break;
  }
  if (rc != AGENT_OK) {
    headers_free(*out, *n);
    *out = NULL;
    *n = 0;
  }
  return rc;
}

static void check_clear(struct agent_check_def *c) {
  free(c->id);
  free(c->name);
  free(c->target);
  free(c->method);
  free(c->body);
  headers_free(c->headers, c->n_headers);
  for (size_t i = 0; c->args && c->args[i]; i++)
    free(c->args[i]);
  free(c->args);
  memset(c, 0, sizeof *c);
}

void agent_service_def_clear(struct agent_service_def *s) {
  free(s->file);
  free(s->name);
  free(s->id);
  free(s->address);
  for (size_t i = 0; i < s->n_tags; i++)
    free(s->tags[i]);
  free(s->tags);
  headers_free(s->meta, s->n_meta);
  for (size_t i = 0; i < s->n_checks; i++)
    check_clear(&s->checks[i]);
  free(s->checks);
  free(s->canon);
  memset(s, 0, sizeof *s);
}

void agent_defs_free(struct agent_defs *defs) {
  for (size_t i = 0; i < defs->n; i++)
    agent_service_def_clear(&defs->v[i]);
  free(defs->v);
  defs->v = NULL;
  defs->n = 0;
}

static const char *const check_keys[] = {"id",
                                         "checkid",
                                         "name",
                                         "notes",
                                         "http",
                                         "method",
                                         "header",
                                         "body",
                                         "tlsskipverify",
                                         "tcp",
                                         "grpc",
                                         "grpcusetls",
                                         "args",
                                         "scriptargs",
                                         "ttl",
                                         "interval",
                                         "timeout",
                                         "deregistercriticalserviceafter",
                                         "successbeforepassing",
                                         "failuresbeforewarning",
                                         "failuresbeforecritical",
                                         "outputmaxsize",
                                         "status",
                                         "serviceid",
                                         NULL};

/* Check kinds Consul has and the agent does not run. */
static const char *const other_kinds[] = {"h2ping",
                                          "dockercontainerid",
                                          "aliasservice",
                                          "aliasnode",
                                          "udp",
                                          "osservice",
                                          NULL};

static int parse_kind(struct pctx *p, json_t *o, const char *pre,
                      struct agent_check_def *c) {
  static const struct {
    const char *key;
    int kind;
  } kinds[] = {{"http", AGENT_CHECK_HTTP},       {"tcp", AGENT_CHECK_TCP},
               {"grpc", AGENT_CHECK_GRPC},       {"args", AGENT_CHECK_ARGS},
               {"scriptargs", AGENT_CHECK_ARGS}, {"ttl", AGENT_CHECK_TTL}};
  int found = 0;
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    json_t *v = get(o, kinds[i].key);
    if (v == NULL || json_is_null(v))
      continue;
    if (found && found != kinds[i].kind)
      return fail(p, pre, "more than one kind of check (%s and another)",
                  kinds[i].key);
    found = kinds[i].kind;
  }
  for (size_t i = 0; !found && other_kinds[i]; i++)
    if (get(o, other_kinds[i]))
      return fail(p, pre,
                  "check kind \"%s\" is not supported (http, tcp, "
                  "grpc, args, ttl are)",
                  other_kinds[i]);
  if (!found)
    return fail(p, pre, "no check kind: one of http, tcp, grpc, args, ttl");
  c->kind = found;
  return AGENT_OK;
}

/* "host:port" with a numeric port in range. */
static bool host_port_ok(const char *s) {
  const char *colon = strrchr(s, ':');
  if (colon == NULL || colon == s)
    return false;
  char *end;
  long port = strtol(colon + 1, &end, 10);
  return end != colon + 1 && *end == '\0' && port > 0 && port <= 65535;
}

static int parse_check(struct pctx *p, json_t *o, const char *pre,
                       struct agent_check_def *c) {
  char f[200];
  int rc;
  if (!json_is_object(o))
    return fail(p, pre, "must be an object");
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) {
    if (!key_known(k, check_keys)) {
      field_name(f, sizeof f, pre, k);
      bool other = key_known(k, other_kinds);
      if (!other)
        note(p, f);
    }
  }
  c->timeout_ms = 10000;
  c->output_max_size = 4096;
  c->initial_status = AGENT_CRITICAL;
  c->failures_before_warning = -1;
  if ((rc = parse_kind(p, o, pre, c)) != 0)
    return rc;
  if ((rc = get_str(p, o, pre, "id", true, &c->id)) != 0 ||
      (rc = get_str(p, o, pre, "checkid", true, &c->id)) != 0 ||
      (rc = get_str(p, o, pre, "name", true, &c->name)) != 0 ||
      (rc = get_str(p, o, pre, "method", true, &c->method)) != 0 ||
      (rc = get_str(p, o, pre, "body", false, &c->body)) != 0 ||
      (rc = get_bool(p, o, pre, "tls_skip_verify", &c->tls_skip_verify)) != 0 ||
      (rc = get_bool(p, o, pre, "grpc_use_tls", &c->grpc_use_tls)) != 0 ||
      (rc = get_map(p, o, pre, "header", true, &c->headers, &c->n_headers)) !=
          0 ||
      (rc = get_int(p, o, pre, "success_before_passing", 0, 1000000,
                    &c->success_before_passing)) != 0 ||
      (rc = get_int(p, o, pre, "failures_before_critical", 0, 1000000,
                    &c->failures_before_critical)) != 0 ||
      (rc = get_int(p, o, pre, "failures_before_warning", 0, 1000000,
                    &c->failures_before_warning)) != 0 ||
      (rc = get_int(p, o, pre, "output_max_size", 1, 1 << 20,
                    &c->output_max_size)) != 0)
    return rc;
  if (c->failures_before_warning < 0)
    c->failures_before_warning = c->failures_before_critical;
  char *status = NULL;
  if ((rc = get_str(p, o, pre, "status", true, &status)) != 0)
    return rc;
  if (status) {
    int st = agent_status_parse(status);
    free(status);
    if (st < 0) {
      field_name(f, sizeof f, pre, "status");
      return fail(p, f, "must be \"passing\", \"warning\" or \"critical\"");
    }
    c->initial_status = st;
  }
  bool has_interval, has_timeout, has_ttl;
  if ((rc = get_dur(p, o, pre, "interval", &c->interval_ms, &has_interval)) !=
          0 ||
      (rc = get_dur(p, o, pre, "timeout", &c->timeout_ms, &has_timeout)) != 0 ||
      (rc = get_dur(p, o, pre, "ttl", &c->ttl_ms, &has_ttl)) != 0 ||
      (rc = get_dur(p, o, pre, "deregister_critical_service_after",
                    &c->deregister_after_ms, NULL)) != 0)
    return rc;
  if (c->kind == AGENT_CHECK_ARGS && !has_timeout)
    c->timeout_ms = 30000; /* Consul's default for scripts */
  if (c->kind != AGENT_CHECK_TTL) {
    field_name(f, sizeof f, pre, "interval");
    if (!has_interval)
      return fail(p, f, "required for this kind of check");
    if (c->interval_ms <= 0)
      return fail(p, f, "must be greater than 0");
    if (c->timeout_ms <= 0) {
      field_name(f, sizeof f, pre, "timeout");
      return fail(p, f, "must be greater than 0");
    }
  } else if (c->ttl_ms <= 0) {
    field_name(f, sizeof f, pre, "ttl");
    return fail(p, f, "must be greater than 0");
  }
  switch (c->kind) {
  case AGENT_CHECK_HTTP:
    if ((rc = get_str(p, o, pre, "http", true, &c->target)) != 0)
      return rc;
    if (strncmp(c->target, "http://", 7) != 0 &&
        strncmp(c->target, "https://", 8) != 0) {
      field_name(f, sizeof f, pre, "http");
      return fail(p, f, "\"%s\" is not an http:// or https:// URL", c->target);
    }
    if (c->method == NULL && (c->method = strdup("GET")) == NULL)
      return AGENT_ENOMEM;
    break;
  case AGENT_CHECK_TCP:
  case AGENT_CHECK_GRPC: {
    const char *key = c->kind == AGENT_CHECK_TCP ? "tcp" : "grpc";
    if ((rc = get_str(p, o, pre, key, true, &c->target)) != 0)
      return rc;
    /* grpc: "host:port[/service]" */
    char *hp = strdup(c->target);
    if (hp == NULL)
      return AGENT_ENOMEM;
    char *slash = c->kind == AGENT_CHECK_GRPC ? strchr(hp, '/') : NULL;
    if (slash)
      *slash = '\0';
    bool ok = host_port_ok(hp);
    free(hp);
    if (!ok) {
      field_name(f, sizeof f, pre, key);
      return fail(p, f, "\"%s\" is not host:port%s", c->target,
                  c->kind == AGENT_CHECK_GRPC ? "[/service]" : "");
    }
    break;
  }
  case AGENT_CHECK_ARGS: {
    const char *key = get(o, "args") ? "args" : "scriptargs";
    if ((rc = get_strv(p, o, pre, key, &c->args, &c->n_args)) != 0)
      return rc;
    if (c->n_args == 0) {
      field_name(f, sizeof f, pre, key);
      return fail(p, f, "must name a program");
    }
    break;
  }
  default:
    break;
  }
  return AGENT_OK;
}

static const char *const service_keys[] = {"name",   "id",   "address", "port",
                                           "tags",   "meta", "weights", "check",
                                           "checks", NULL};

static bool name_ok(const char *s) {
  return s && *s && strchr(s, '/') == NULL && strcmp(s, ".") != 0 &&
         strcmp(s, "..") != 0 && strlen(s) < 256;
}

static int parse_checks(struct pctx *p, json_t *o, const char *pre,
                        struct agent_service_def *s) {
  json_t *one = get(o, "check");
  json_t *many = get(o, "checks");
  char f[200];
  size_t n = 0;
  if (one && !json_is_null(one))
    n++;
  if (many && !json_is_null(many)) {
    if (!json_is_array(many)) {
      field_name(f, sizeof f, pre, "checks");
      return fail(p, f, "must be an array of checks");
    }
    n += json_array_size(many);
  }
  if (n == 0)
    return AGENT_OK;
  s->checks = calloc(n, sizeof *s->checks);
  if (s->checks == NULL)
    return AGENT_ENOMEM;
  size_t idx = 0;
  int rc = AGENT_OK;
  if (one && !json_is_null(one)) {
    field_name(f, sizeof f, pre, "check");
    rc = parse_check(p, one, f, &s->checks[idx]);
    s->n_checks = ++idx;
  }
  for (size_t i = 0; rc == AGENT_OK && many && i < json_array_size(many); i++) {
    snprintf(f, sizeof f, "%s.checks[%zu]", pre, i);
    rc = parse_check(p, json_array_get(many, i), f, &s->checks[idx]);
    s->n_checks = ++idx;
  }
  if (rc != AGENT_OK)
    return rc;
  /* Consul's defaults: "service:<id>" for a lone check, else
   * "service:<id>:<n>" counting from 1. */
  for (size_t i = 0; i < s->n_checks; i++) {
    struct agent_check_def *c = &s->checks[i];
    char buf[600];
    if (c->id == NULL) {
      if (n == 1)
        snprintf(buf, sizeof buf, "service:%s", s->id);
      else
        snprintf(buf, sizeof buf, "service:%s:%zu", s->id, i + 1);
      if ((c->id = strdup(buf)) == NULL)
        return AGENT_ENOMEM;
    }
    if (c->name == NULL) {
      snprintf(buf, sizeof buf, "Service '%s' check", s->name);
      if ((c->name = strdup(buf)) == NULL)
        return AGENT_ENOMEM;
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(s->checks[j].id, c->id) == 0) {
        snprintf(f, sizeof f, "%s.checks[%zu].id", pre, i);
        return fail(p, f, "\"%s\" is used twice", c->id);
      }
  }
  return AGENT_OK;
}

static int parse_service(struct pctx *p, json_t *o, const char *pre,
                         struct agent_service_def *s) {
  char f[200];
  int rc;
  if (!json_is_object(o))
    return fail(p, pre, "must be an object");
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) {
    if (!key_known(k, service_keys)) {
      field_name(f, sizeof f, pre, k);
      note(p, f);
    }
  }
  s->weight_passing = 1;
  s->weight_warning = 1;
  if ((s->file = strdup(p->file)) == NULL)
    return AGENT_ENOMEM;
  if ((rc = get_str(p, o, pre, "name", true, &s->name)) != 0)
    return rc;
  field_name(f, sizeof f, pre, "name");
  if (s->name == NULL)
    return fail(p, f, "required");
  if (!name_ok(s->name))
    return fail(p, f,
                "\"%s\" is not a valid name (no '/', not . or .., "
                "under 256 bytes)",
                s->name);
  if ((rc = get_str(p, o, pre, "id", true, &s->id)) != 0 ||
      (rc = get_str(p, o, pre, "address", false, &s->address)) != 0 ||
      (rc = get_int(p, o, pre, "port", 0, 65535, &s->port)) != 0 ||
      (rc = get_strv(p, o, pre, "tags", &s->tags, &s->n_tags)) != 0 ||
      (rc = get_map(p, o, pre, "meta", false, &s->meta, &s->n_meta)) != 0)
    return rc;
  if (s->address && s->address[0] == '\0') {
    free(s->address); /* Consul: empty means the agent's address */
    s->address = NULL;
  }
  if (s->id == NULL && (s->id = strdup(s->name)) == NULL)
    return AGENT_ENOMEM;
  json_t *w = get(o, "weights");
  if (w && !json_is_null(w)) {
    field_name(f, sizeof f, pre, "weights");
    if (!json_is_object(w))
      return fail(p, f, "must be an object {\"passing\": N, \"warning\": N}");
    json_object_foreach(w, k, v) {
      if (!key_is(k, "passing") && !key_is(k, "warning")) {
        char sub[300];
        field_name(sub, sizeof sub, f, k);
        note(p, sub);
      }
    }
    if ((rc = get_int(p, w, f, "passing", 1, 65535, &s->weight_passing)) != 0 ||
        (rc = get_int(p, w, f, "warning", 0, 65535, &s->weight_warning)) != 0)
      return rc;
  }
  if ((rc = parse_checks(p, o, pre, s)) != 0)
    return rc;
  s->canon = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
  return s->canon ? AGENT_OK : AGENT_ENOMEM;
}

static int append(struct agent_defs *d, struct agent_service_def *tmp,
                  size_t n) {
  struct agent_service_def *nv = realloc(d->v, (d->n + n) * sizeof *nv);
  if (nv == NULL)
    return AGENT_ENOMEM;
  memcpy(nv + d->n, tmp, n * sizeof *tmp);
  d->v = nv;
  d->n += n;
  return AGENT_OK;
}

int agent_defs_parse(const char *text, const char *file,
                     struct agent_defs *defs, agent_notice_cb notice,
                     void *notice_arg, char *err, size_t err_size) {
  struct pctx p = {file ? file : "(definition)", notice, notice_arg, err,
                   err_size};
  if (text == NULL || defs == NULL)
    return AGENT_EINVAL;
  json_error_t je;
  json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
  if (root == NULL)
    return fail(&p, "(json)", "line %d column %d: %s", je.line, je.column,
                je.text);
  int rc = AGENT_OK;
  struct agent_service_def *tmp = NULL;
  size_t n = 0;
  if (!json_is_object(root)) {
    rc = fail(&p, "(top)",
              "must be an object with \"service\" or "
              "\"services\"");
    goto out;
  }
  json_t *one = get(root, "service");
  json_t *many = get(root, "services");
  const char *k;
  json_t *v;
  json_object_foreach(root, k, v) {
    if (!key_is(k, "service") && !key_is(k, "services"))
      note(&p, k);
  }
  if ((one == NULL || json_is_null(one)) &&
      (many == NULL || json_is_null(many))) {
    rc = fail(&p, "(top)", "no \"service\" or \"services\" key");
    goto out;
  }
  if (many && !json_is_null(many) && !json_is_array(many)) {
    rc = fail(&p, "services", "must be an array of services");
    goto out;
  }
  /* json_is_* test for NULL themselves. */
  bool has_one = one != NULL && json_typeof(one) != JSON_NULL;
  bool has_many = json_is_array(many);
  size_t total = (has_one ? 1 : 0) + (has_many ? json_array_size(many) : 0);
  tmp = calloc(total ? total : 1, sizeof *tmp);
  if (tmp == NULL) {
    rc = AGENT_ENOMEM;
    goto out;
  }
  if (has_one) {
    rc = parse_service(&p, one, "service", &tmp[n++]);
  }
  for (size_t i = 0; rc == AGENT_OK && has_many && i < json_array_size(many);
       i++) {
    char pre[64];
    snprintf(pre, sizeof pre, "services[%zu]", i);
    rc = parse_service(&p, json_array_get(many, i), pre, &tmp[n++]);
  }
  if (rc == AGENT_OK)
    rc = append(defs, tmp, n);
  if (rc == AGENT_ENOMEM && err && err_size)
    snprintf(err, err_size, "%s: out of memory", p.file);
  if (rc != AGENT_OK)
    for (size_t i = 0; i < n; i++)
      agent_service_def_clear(&tmp[i]);
out:
  free(tmp);
  json_decref(root);
  return rc;
}

static int load_file(const char *path, struct agent_defs *defs,
                     agent_notice_cb notice, void *notice_arg, char *err,
                     size_t err_size) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
    return AGENT_EIO;
  }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  int rc = AGENT_OK;
  while (buf) {
    if (len + 1 >= cap) {
      if (cap >= (16u << 20)) {
        snprintf(err, err_size, "%s: larger than 16 MiB", path);
        rc = AGENT_EINVAL;
        break;
      }
      char *nb = realloc(buf, cap * 2);
      if (nb == NULL)
        break;
      buf = nb;
      cap *= 2;
    }
    /* buf is not NULL here: the loop runs while it is not, and a failed
     * realloc leaves it. */
    // cppcheck-suppress nullPointerArithmeticRedundantCheck
    size_t got = fread(buf + len, 1, cap - len - 1, f);
    len += got;
    if (got == 0) {
      if (ferror(f)) {
        snprintf(err, err_size, "%s: read error: %s", path, strerror(errno));
        rc = AGENT_EIO;
      }
      break;
    }
  }
  fclose(f);
  if (buf == NULL) {
    snprintf(err, err_size, "%s: out of memory", path);
    return AGENT_ENOMEM;
  }
  if (rc == AGENT_OK) {
    buf[len] = '\0';
    if (strlen(buf) != len) {
      snprintf(err, err_size, "%s: (json): contains a NUL byte", path);
      rc = AGENT_EINVAL;
    } else {
      rc = agent_defs_parse(buf, path, defs, notice, notice_arg, err, err_size);
    }
  }
  free(buf);
  return rc;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *suf) {
  size_t n = strlen(s), m = strlen(suf);
  return n >= m && strcmp(s + n - m, suf) == 0;
}

static int load_dir(const char *path, struct agent_defs *defs,
                    agent_notice_cb notice, void *notice_arg, char *err,
                    size_t err_size) {
  DIR *d = opendir(path);
  if (d == NULL) {
    snprintf(err, err_size, "%s: cannot open directory: %s", path,
             strerror(errno));
    return AGENT_EIO;
  }
  char **names = NULL;
  size_t n = 0;
  int rc = AGENT_OK;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || !ends_with(e->d_name, ".json"))
      continue;
    char **nn = realloc(names, (n + 1) * sizeof *nn);
    if (nn == NULL || (nn[n] = strdup(e->d_name)) == NULL) {
      names = nn ? nn : names;
      rc = AGENT_ENOMEM;
      snprintf(err, err_size, "%s: out of memory", path);
      break;
    }
    names = nn;
    n++;
  }
  closedir(d);
  if (rc == AGENT_OK && n > 0)
    qsort(names, n, sizeof *names, cmp_str);
  for (size_t i = 0; rc == AGENT_OK && i < n; i++) {
    size_t l = strlen(path) + strlen(names[i]) + 2;
    char *full = malloc(l);
    if (full == NULL) {
      rc = AGENT_ENOMEM;
      break;
    }
    snprintf(full, l, "%s/%s", path, names[i]);
    rc = load_file(full, defs, notice, notice_arg, err, err_size);
    free(full);
  }
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  return rc;
}

int agent_defs_load(const char *path, struct agent_defs *defs,
                    agent_notice_cb notice, void *notice_arg, char *err,
                    size_t err_size) {
  char dummy[8];
  if (err == NULL || err_size == 0) {
    err = dummy;
    err_size = sizeof dummy;
  }
  err[0] = '\0';
  memset(defs, 0, sizeof *defs);
  if (path == NULL) {
    snprintf(err, err_size, "no definition path");
    return AGENT_EINVAL;
  }
  struct stat st;
  if (stat(path, &st) != 0) {
    snprintf(err, err_size, "%s: %s", path, strerror(errno));
    return AGENT_EIO;
  }
  int rc = S_ISDIR(st.st_mode)
               ? load_dir(path, defs, notice, notice_arg, err, err_size)
               : load_file(path, defs, notice, notice_arg, err, err_size);
  /* Ids name instances (and check ids TTL updates) across all files. */
  for (size_t i = 0; rc == AGENT_OK && i < defs->n; i++) {
    for (size_t j = 0; rc == AGENT_OK && j < i; j++) {
      if (strcmp(defs->v[i].id, defs->v[j].id) == 0) {
        snprintf(err, err_size, "%s: service.id: \"%s\" is already used in %s",
                 defs->v[i].file, defs->v[i].id, defs->v[j].file);
        rc = AGENT_EINVAL;
      }
      for (size_t x = 0; rc == AGENT_OK && x < defs->v[i].n_checks; x++)
        for (size_t y = 0; rc == AGENT_OK && y < defs->v[j].n_checks; y++)
          if (strcmp(defs->v[i].checks[x].id, defs->v[j].checks[y].id) == 0) {
            snprintf(err, err_size,
                     "%s: check id: \"%s\" is already used in %s",
                     defs->v[i].file, defs->v[i].checks[x].id, defs->v[j].file);
            rc = AGENT_EINVAL;
          }
    }
  }
  if (rc != AGENT_OK)
    agent_defs_free(defs);
  return rc;
}
