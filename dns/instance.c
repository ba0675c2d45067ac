/* instance.c — what a node under a services path says about one instance:
 * Roost's JSON, Curator's ServiceInstance JSON, or a plain "host:port".
 * JSON goes through jansson; nothing here trusts the bytes it reads. */
#include "dns/dns_int.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void dns_instance_clear(struct dns_instance *in) {
  for (size_t i = 0; i < in->n_tags; i++)
    free(in->tags[i]);
  memset(in, 0, sizeof *in);
}

/* A host name an SRV target may carry: labels of letters, digits, '-'
 * and '_', 1..63 bytes each, 253 bytes in all, an optional final dot. */
static bool host_name_ok(const char *h) {
  size_t n = strlen(h), label = 0;
  if (n == 0 || n > 254 || (n == 254 && h[253] != '.'))
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = h[i];
    if (c == '.') {
      if (label == 0)
        return false;
      label = 0;
      continue;
    }
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
    if (++label > DNS_LABEL_MAX)
      return false;
  }
  return true;
}

/* Fill host/family/addr.  Returns 0, or -1 for an unusable host. */
static int set_host(struct dns_instance *in, const char *h, size_t n) {
  if (n == 0 || n >= sizeof in->host)
    return -1;
  memcpy(in->host, h, n);
  in->host[n] = '\0';
  if (inet_pton(AF_INET, in->host, in->addr) == 1)
    in->family = 4;
  else if (inet_pton(AF_INET6, in->host, in->addr) == 1)
    in->family = 6;
  else if (host_name_ok(in->host))
    in->family = 0;
  else
    return -1;
  return 0;
}

static bool int_in(json_t *v, json_int_t lo, json_int_t hi, json_int_t *out) {
  if (!json_is_integer(v))
    return false;
  json_int_t x = json_integer_value(v);
  if (x < lo || x > hi)
    return false;
  *out = x;
  return true;
}

/* weights.passing / weights.warning by status, else weight, else 1. */
static uint16_t weight_of(json_t *o, enum dns_status st) {
  json_int_t w;
  json_t *ws = json_object_get(o, "weights");
  if (json_is_object(ws) &&
      int_in(
          json_object_get(ws, st == DNS_STATUS_WARNING ? "warning" : "passing"),
          0, 65535, &w))
    return (uint16_t)w;
  if (int_in(json_object_get(o, "weight"), 0, 65535, &w))
    return (uint16_t)w;
  return 1;
}

static enum dns_status status_of(json_t *o) {
  json_t *e = json_object_get(o, "enabled"); /* Curator 5 */
  if (json_is_false(e))
    return DNS_STATUS_CRITICAL;
  json_t *s = json_object_get(o, "status");
  if (s == NULL || json_is_null(s))
    return DNS_STATUS_PASSING; /* no health data */
  const char *v = json_string_value(s);
  if (v != NULL && strcmp(v, "passing") == 0)
    return DNS_STATUS_PASSING;
  if (v != NULL && strcmp(v, "warning") == 0)
    return DNS_STATUS_WARNING;
  return DNS_STATUS_CRITICAL; /* "critical" or anything we do not know */
}

static int parse_json(const uint8_t *data, size_t len,
                      struct dns_instance *in) {
  json_error_t err;
  json_t *o = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &err);
  if (o == NULL)
    return -1;
  int rc = -1;
  if (!json_is_object(o))
    goto out;
  /* Roost writes "address" (and may write "host"); Curator "address". */
  const char *h = json_string_value(json_object_get(o, "address"));
  if (h == NULL || h[0] == '\0')
    h = json_string_value(json_object_get(o, "host"));
  if (h == NULL || set_host(in, h, strlen(h)) != 0)
    goto out;
  json_int_t v;
  if (int_in(json_object_get(o, "port"), 1, 65535, &v) ||
      int_in(json_object_get(o, "sslPort"), 1, 65535, &v))
    in->port = (uint16_t)v;
  in->priority = 1;
  if (int_in(json_object_get(o, "priority"), 0, 65535, &v))
    in->priority = (uint16_t)v;
  in->status = status_of(o);
  in->weight = weight_of(o, in->status);
  json_t *tags = json_object_get(o, "tags");
  size_t i;
  json_t *t;
  if (json_is_array(tags)) {
    json_array_foreach(tags, i, t) {
      const char *s = json_string_value(t);
      if (s == NULL || s[0] == '\0' || in->n_tags == DNS_TAGS_MAX)
        continue;
      char *c = strdup(s);
      if (c == NULL)
        goto out;
      in->tags[in->n_tags++] = c;
    }
  }
  rc = 0;
out:
  json_decref(o);
  if (rc != 0)
    dns_instance_clear(in);
  return rc;
}

/* "host:port" or "[v6]:port", nothing else. */
static int parse_plain(const uint8_t *data, size_t len,
                       struct dns_instance *in) {
  const char *s = (const char *)data;
  size_t colon = len;
  while (colon > 0 && s[colon - 1] != ':')
    colon--;
  if (colon < 2 || colon == len || len - colon > 5)
    return -1;
  unsigned port = 0;
  for (size_t i = colon; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    port = port * 10 + (unsigned)(s[i] - '0');
  }
  if (port == 0 || port > 65535)
    return -1;
  size_t hs = 0, he = colon - 1;
  if (s[0] == '[') {
    if (he < 2 || s[he - 1] != ']')
      return -1;
    hs = 1;
    he--;
    if (set_host(in, s + hs, he - hs) != 0 || in->family != 6)
      goto bad;
  } else if (memchr(s, ':', he) != NULL || set_host(in, s, he) != 0) {
    goto bad;
  }
  in->port = (uint16_t)port;
  in->priority = 1;
  in->weight = 1;
  in->status = DNS_STATUS_PASSING;
  return 0;
bad:
  memset(in, 0, sizeof *in);
  return -1;
}

int dns_instance_parse(const uint8_t *data, size_t len,
                       struct dns_instance *out) {
  memset(out, 0, sizeof *out);
  while (len > 0 && (data[0] == ' ' || data[0] == '\t' || data[0] == '\n' ||
                     data[0] == '\r')) {
    data++;
    len--;
  }
  while (len > 0 && (data[len - 1] == ' ' || data[len - 1] == '\t' ||
                     data[len - 1] == '\n' || data[len - 1] == '\r'))
    len--;
  if (len == 0 || memchr(data, '\0', len) != NULL)
    return -1;
  if (data[0] == '{')
    return parse_json(data, len, out);
  return parse_plain(data, len, out);
}
