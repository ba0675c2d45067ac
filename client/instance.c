/* instance.c — what a service instance's payload says: address, port,
 * tags, health status and weight.
 *
 * The payload is JSON parsed with jansson (roost-agent's Consul-like
 * object, or Curator's ServiceInstance), or a bare "host:port".  Bad input
 * never fails the caller: the instance stays listed with empty fields, as
 * a payload the application may still read itself. */
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"

void rc_instance_clear_parsed(roost_instance *inst) {
  free(inst->service);
  free(inst->id);
  free(inst->address);
  for (size_t i = 0; i < inst->n_tags; i++)
    free(inst->tags[i]);
  free(inst->tags);
  inst->service = inst->id = inst->address = NULL;
  inst->tags = NULL;
  inst->n_tags = 0;
  inst->port = inst->ssl_port = 0;
  inst->parsed = false;
  inst->status = ROOST_HEALTH_PASSING;
  inst->weight = 1.0;
}

static char *dup_str(const char *s) {
  return s ? rc_strndup(s, strlen(s)) : NULL;
}

int rc_instance_copy_parsed(roost_instance *d, const roost_instance *s) {
  d->parsed = s->parsed;
  d->status = s->status;
  d->weight = s->weight;
  d->port = s->port;
  d->ssl_port = s->ssl_port;
  d->service = dup_str(s->service);
  d->id = dup_str(s->id);
  d->address = dup_str(s->address);
  d->n_tags = 0;
  d->tags = s->n_tags ? calloc(s->n_tags, sizeof *d->tags) : NULL;
  bool ok = (!s->service || d->service) && (!s->id || d->id) &&
            (!s->address || d->address) && (!s->n_tags || d->tags);
  for (size_t i = 0; ok && i < s->n_tags; i++) {
    d->tags[i] = dup_str(s->tags[i]);
    ok = d->tags[i] != NULL;
    d->n_tags = i + 1;
  }
  if (!ok) {
    rc_instance_clear_parsed(d);
    return ROOST_ENOMEM;
  }
  return ROOST_OK;
}

/* A non-negative finite JSON number, or -1. */
static double json_weight(const json_t *v) {
  if (!json_is_number(v))
    return -1;
  double d = json_number_value(v);
  return isfinite(d) && d >= 0 ? d : -1;
}

static int32_t json_port(const json_t *v) {
  if (!json_is_integer(v))
    return 0;
  json_int_t p = json_integer_value(v);
  return p > 0 && p <= 65535 ? (int32_t)p : 0;
}

static int parse_status(const json_t *v) {
  if (v == NULL || json_is_null(v))
    return ROOST_HEALTH_PASSING;
  const char *s = json_string_value(v);
  if (s && strcmp(s, "passing") == 0)
    return ROOST_HEALTH_PASSING;
  if (s && strcmp(s, "warning") == 0)
    return ROOST_HEALTH_WARNING;
  /* "critical", Consul's "maintenance", anything unknown: no traffic. */
  return ROOST_HEALTH_CRITICAL;
}

static bool take_str(char **dst, const json_t *v) {
  const char *s = json_string_value(v);
  if (s == NULL)
    return true;
  *dst = dup_str(s);
  return *dst != NULL;
}

static int parse_json(roost_instance *inst, const char *data, size_t len) {
  json_error_t jerr;
  json_t *root = json_loadb(data, len, 0, &jerr);
  if (root == NULL)
    return ROOST_OK; /* malformed: parsed stays false */
  if (!json_is_object(root)) {
    json_decref(root);
    return ROOST_OK;
  }
  bool ok = take_str(&inst->service, json_object_get(root, "name")) &&
            take_str(&inst->id, json_object_get(root, "id"));
  json_t *addr = json_object_get(root, "address");
  if (!json_is_string(addr) || json_string_length(addr) == 0)
    addr = json_object_get(root, "host");
  ok = ok && take_str(&inst->address, addr);
  inst->port = json_port(json_object_get(root, "port"));
  inst->ssl_port = json_port(json_object_get(root, "sslPort"));
  json_t *tags = json_object_get(root, "tags");
  if (ok && json_is_array(tags) && json_array_size(tags) > 0) {
    inst->tags = calloc(json_array_size(tags), sizeof *inst->tags);
    ok = inst->tags != NULL;
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t) {
      if (!ok || !json_is_string(t))
        continue;
      inst->tags[inst->n_tags] = dup_str(json_string_value(t));
      ok = inst->tags[inst->n_tags] != NULL;
      inst->n_tags += ok;
    }
  }
  inst->status = parse_status(json_object_get(root, "status"));
  double w = json_weight(json_object_get(root, "weight"));
  if (w < 0)
    w = 1.0;
  json_t *ws = json_object_get(root, "weights");
  if (json_is_object(ws)) {
    /* Consul: the passing weight serves passing instances, the warning
     * weight warning ones; each defaults to 1 there. */
    double pw = json_weight(json_object_get(ws, "passing"));
    double ww = json_weight(json_object_get(ws, "warning"));
    if (inst->status == ROOST_HEALTH_PASSING)
      w = pw >= 0 ? pw : 1.0;
    else if (inst->status == ROOST_HEALTH_WARNING)
      w = ww >= 0 ? ww : 1.0;
  }
  inst->weight = inst->status == ROOST_HEALTH_CRITICAL ? 0.0 : w;
  inst->parsed = true;
  json_decref(root);
  if (!ok) {
    rc_instance_clear_parsed(inst);
    return ROOST_ENOMEM;
  }
  return ROOST_OK;
}

/* "host:port" or "[v6]:port", nothing else around it but blanks. */
static int parse_host_port(roost_instance *inst, const char *s, size_t n) {
  while (n > 0 && isspace((unsigned char)s[n - 1]))
    n--;
  const char *colon = NULL;
  const char *host = s;
  size_t hlen;
  if (n > 0 && s[0] == '[') {
    const char *close = memchr(s, ']', n);
    if (close == NULL || close + 1 >= s + n || close[1] != ':')
      return ROOST_OK;
    host = s + 1;
    hlen = (size_t)(close - host);
    colon = close + 1;
  } else {
    for (size_t i = 0; i < n; i++)
      if (s[i] == ':')
        colon = s + i; /* the last one: a bare v6 address has no port */
    if (colon == NULL)
      return ROOST_OK;
    hlen = (size_t)(colon - s);
    if (memchr(s, ':', hlen) != NULL)
      return ROOST_OK; /* unbracketed IPv6 is ambiguous */
  }
  size_t plen = (size_t)(s + n - colon - 1);
  if (hlen == 0 || plen == 0 || plen > 5)
    return ROOST_OK;
  for (size_t i = 0; i < hlen; i++)
    if (isspace((unsigned char)host[i]) || host[i] == '/' || host[i] == '"' ||
        host[i] == '{')
      return ROOST_OK;
  long port = 0;
  for (size_t i = 0; i < plen; i++) {
    if (!isdigit((unsigned char)colon[1 + i]))
      return ROOST_OK;
    port = port * 10 + (colon[1 + i] - '0');
  }
  if (port < 1 || port > 65535)
    return ROOST_OK;
  inst->address = rc_strndup(host, hlen);
  if (inst->address == NULL)
    return ROOST_ENOMEM;
  inst->port = (int32_t)port;
  inst->parsed = true;
  return ROOST_OK;
}

int rc_instance_parse(roost_instance *inst, const char *data, size_t len) {
  rc_instance_clear_parsed(inst);
  if (data == NULL)
    return ROOST_OK;
  while (len > 0 && isspace((unsigned char)*data)) {
    data++;
    len--;
  }
  if (len == 0)
    return ROOST_OK;
  if (data[0] == '{')
    return parse_json(inst, data, len);
  return parse_host_port(inst, data, len);
}
