/* instance.c — the JSON an instance node holds (docs/agent.md). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent.h"

static const char *const status_names[] = {"passing", "warning", "critical"};

const char *agent_status_name(int status) {
  if (status < AGENT_PASSING || status > AGENT_CRITICAL)
    return "critical";
  return status_names[status];
}

int agent_status_parse(const char *s) {
  for (int i = 0; s && i < 3; i++)
    if (strcmp(s, status_names[i]) == 0)
      return i;
  return -1;
}

int agent_status_worst(const struct agent_check_state *st, size_t n) {
  int w = AGENT_PASSING;
  for (size_t i = 0; i < n; i++)
    if (st[i].status > w)
      w = st[i].status;
  return w;
}

static const char *kind_name(int kind) {
  switch (kind) {
  case AGENT_CHECK_HTTP:
    return "http";
  case AGENT_CHECK_TCP:
    return "tcp";
  case AGENT_CHECK_GRPC:
    return "grpc";
  case AGENT_CHECK_ARGS:
    return "args";
  default:
    return "ttl";
  }
}

/* json_stringn_nocheck would keep invalid UTF-8 (from a script); jansson
 * refuses it in json_string, so such output is replaced byte by byte. */
static json_t *safe_string(const char *s) {
  if (s == NULL)
    s = "";
  json_t *j = json_string(s);
  if (j)
    return j;
  size_t n = strlen(s);
  char *c = malloc(n + 1);
  if (c == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++)
    c[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
  c[n] = '\0';
  j = json_string(c);
  free(c);
  return j;
}

char *agent_instance_json(const struct agent_service_def *def,
                          const char *default_address,
                          const struct agent_check_state *st) {
  const char *addr =
      def->address ? def->address : (default_address ? default_address : "");
  int status = agent_status_worst(st, def->n_checks);
  json_t *o = json_object();
  json_t *tags = json_array();
  json_t *meta = json_object();
  json_t *weights = json_object();
  json_t *checks = json_array();
  char *out = NULL;
  if (!o || !tags || !meta || !weights || !checks)
    goto done;
  for (size_t i = 0; i < def->n_tags; i++)
    json_array_append_new(tags, safe_string(def->tags[i]));
  for (size_t i = 0; i < def->n_meta; i++)
    json_object_set_new(meta, def->meta[i].name,
                        safe_string(def->meta[i].value));
  json_object_set_new(weights, "passing", json_integer(def->weight_passing));
  json_object_set_new(weights, "warning", json_integer(def->weight_warning));
  for (size_t i = 0; i < def->n_checks; i++) {
    const struct agent_check_def *c = &def->checks[i];
    json_t *co = json_object();
    if (co == NULL)
      goto done;
    json_object_set_new(co, "id", safe_string(c->id));
    json_object_set_new(co, "name", safe_string(c->name));
    json_object_set_new(co, "type", json_string(kind_name(c->kind)));
    json_object_set_new(co, "status",
                        json_string(agent_status_name(st[i].status)));
    json_object_set_new(co, "output", safe_string(st[i].output));
    json_array_append_new(checks, co);
  }
  json_object_set_new(o, "name", safe_string(def->name));
  json_object_set_new(o, "id", safe_string(def->id));
  json_object_set_new(o, "address", safe_string(addr));
  json_object_set_new(o, "host", safe_string(addr));
  json_object_set_new(o, "port", json_integer(def->port));
  json_object_set(o, "tags", tags);
  json_object_set(o, "meta", meta);
  json_object_set_new(o, "weight", json_integer(def->weight_passing));
  json_object_set(o, "weights", weights);
  json_object_set_new(o, "status", json_string(agent_status_name(status)));
  json_object_set(o, "checks", checks);
  out = json_dumps(o, JSON_COMPACT);
done:
  json_decref(tags);
  json_decref(meta);
  json_decref(weights);
  json_decref(checks);
  json_decref(o);
  return out;
}
