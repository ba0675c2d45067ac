/* connstr.c — "host[:port][,host[:port]...][/chroot]". */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"

#define RC_DEFAULT_PORT 2181
/* A bound on the list keeps a pasted garbage string from allocating much. */
#define RC_MAX_HOSTS 256

void rc_connstr_free(struct rc_connstr *cs) {
  if (cs == NULL)
    return;
  for (size_t i = 0; i < cs->n_hosts; i++)
    free(cs->hosts[i].host);
  free(cs->hosts);
  free(cs->chroot);
  memset(cs, 0, sizeof *cs);
}

static bool host_char_ok(char ch) {
  return isalnum((unsigned char)ch) || ch == '-' || ch == '.' || ch == '_';
}

/* Parses one "host[:port]" of n bytes. */
static int parse_one(const char *s, size_t n, struct rc_host *out) {
  const char *host;
  size_t host_len;
  const char *rest;
  if (n == 0)
    return ROOST_ECONNSTR;
  if (s[0] == '[') { /* [v6]:port */
    const char *close = memchr(s, ']', n);
    if (close == NULL || close == s + 1)
      return ROOST_ECONNSTR;
    host = s + 1;
    host_len = (size_t)(close - host);
    for (size_t i = 0; i < host_len; i++)
      if (!isxdigit((unsigned char)host[i]) && host[i] != ':' &&
          host[i] != '.')
        return ROOST_ECONNSTR;
    rest = close + 1;
  } else {
    const char *colon = memchr(s, ':', n);
    host = s;
    host_len = colon ? (size_t)(colon - s) : n;
    if (host_len == 0)
      return ROOST_ECONNSTR;
    for (size_t i = 0; i < host_len; i++)
      if (!host_char_ok(host[i]))
        return ROOST_ECONNSTR;
    rest = s + host_len;
  }
  size_t rest_len = n - (size_t)(rest - s);
  long port = RC_DEFAULT_PORT;
  if (rest_len > 0) {
    if (rest[0] != ':' || rest_len < 2 || rest_len > 6)
      return ROOST_ECONNSTR;
    port = 0;
    for (size_t i = 1; i < rest_len; i++) {
      if (!isdigit((unsigned char)rest[i]))
        return ROOST_ECONNSTR;
      port = port * 10 + (rest[i] - '0');
    }
    if (port < 1 || port > 65535)
      return ROOST_ECONNSTR;
  }
  out->host = rc_strndup(host, host_len);
  if (out->host == NULL)
    return ROOST_ENOMEM;
  out->port = (uint16_t)port;
  return ROOST_OK;
}

int rc_connstr_parse(const char *s, struct rc_connstr *out) {
  memset(out, 0, sizeof *out);
  if (s == NULL || *s == '\0')
    return ROOST_ECONNSTR;
  size_t len = strlen(s);
  const char *slash = strchr(s, '/');
  size_t hosts_len = slash ? (size_t)(slash - s) : len;
  int rc = ROOST_OK;
  if (slash != NULL) {
    size_t clen = len - hosts_len;
    if (proto_path_validate(slash, clen) != PROTO_OK)
      return ROOST_ECONNSTR;
    /* "/" alone means no chroot, as in ZooKeeper's clients. */
    if (clen > 1) {
      out->chroot = rc_strndup(slash, clen);
      if (out->chroot == NULL)
        return ROOST_ENOMEM;
    }
  }
  size_t n = 1;
  for (size_t i = 0; i < hosts_len; i++)
    n += s[i] == ',';
  if (n > RC_MAX_HOSTS) {
    rc = ROOST_ECONNSTR;
    goto fail;
  }
  out->hosts = calloc(n, sizeof *out->hosts);
  if (out->hosts == NULL) {
    rc = ROOST_ENOMEM;
    goto fail;
  }
  const char *p = s;
  const char *end = s + hosts_len;
  while (p <= end) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *e = comma ? comma : end;
    rc = parse_one(p, (size_t)(e - p), &out->hosts[out->n_hosts]);
    if (rc != ROOST_OK)
      goto fail;
    out->n_hosts++;
    p = e + 1;
  }
  return ROOST_OK;
fail:
  rc_connstr_free(out);
  return rc;
}
