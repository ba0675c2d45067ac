/* ZooKeeper's dynamic configuration text: the data of /zookeeper/config,
 * the member lists of the reconfig request (opcode 16), and how a
 * reconfig request turns the current configuration into the next one.
 *
 * Formats as ZooKeeper 3.5+ writes them (QuorumMaj / QuorumServer):
 *
 *   server.<id>=<host>:<quorum port>:<election port>[:participant|:observer]
 *               [;[<client host>:]<client port>]
 *   ...one line per server, '\n' after each...
 *   version=<hex zxid of the change>       (no newline after it)
 *
 * A request's joining list and newMembers separate servers with ',' (or
 * '\n'); its leaving list is decimal ids separated by ','.  IPv6 hosts are
 * bracketed.  ZooKeeper 3.6's multiple addresses per server ('|') and its
 * weights and groups are not supported (BadArguments). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

static int bad(const char **why, const char *msg) {
  if (why)
    *why = msg;
  return PROTO_BADARGUMENTS;
}

static bool parse_u64(const char *p, size_t n, unsigned base, uint64_t max,
                      uint64_t *out) {
  if (n == 0 || n > 20)
    return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned d;
    char ch = p[i];
    if (ch >= '0' && ch <= '9')
      d = (unsigned)(ch - '0');
    else if (base == 16 && ch >= 'a' && ch <= 'f')
      d = (unsigned)(ch - 'a' + 10);
    else if (base == 16 && ch >= 'A' && ch <= 'F')
      d = (unsigned)(ch - 'A' + 10);
    else
      return false;
    if (v > (max - d) / base)
      return false;
    v = v * base + d;
  }
  *out = v;
  return true;
}

static bool parse_port(const char *p, size_t n, uint16_t *out) {
  uint64_t v;
  if (!parse_u64(p, n, 10, 65535, &v) || v == 0)
    return false;
  *out = (uint16_t)v;
  return true;
}

/* Trims spaces and tabs at both ends. */
static void trim(const char **p, size_t *n) {
  while (*n > 0 && (**p == ' ' || **p == '\t' || **p == '\r')) {
    (*p)++;
    (*n)--;
  }
  while (*n > 0 &&
         ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t' || (*p)[*n - 1] == '\r'))
    (*n)--;
}

/* "host:port" (host may be "[v6]"); host copied unbracketed. */
static bool parse_hostport(const char *p, size_t n, char *host, size_t cap,
                           uint16_t *port) {
  const char *h = p, *colon;
  size_t hl;
  if (n > 0 && p[0] == '[') {
    const char *close = memchr(p, ']', n);
    if (!close || close + 1 >= p + n || close[1] != ':')
      return false;
    h = p + 1;
    hl = (size_t)(close - p) - 1;
    colon = close + 1;
  } else {
    colon = memchr(p, ':', n);
    if (!colon)
      return false;
    hl = (size_t)(colon - p);
  }
  if (hl == 0 || hl >= cap)
    return false;
  memcpy(host, h, hl);
  host[hl] = '\0';
  return parse_port(colon + 1, n - (size_t)(colon + 1 - p), port);
}

int proto_zkserver_parse(uint32_t id, const char *spec, size_t n,
                         struct proto_zkserver *out, const char **why) {
  memset(out, 0, sizeof *out);
  out->id = id;
  trim(&spec, &n);
  if (memchr(spec, '|', n))
    return bad(why, "multiple addresses per server are not supported");
  const char *semi = memchr(spec, ';', n);
  size_t sn = semi ? (size_t)(semi - spec) : n;
  /* server part: host:qport:eport[:role], the host possibly "[v6]" */
  const char *p = spec, *end = spec + sn;
  const char *after_host;
  if (p < end && *p == '[') {
    const char *close = memchr(p, ']', sn);
    if (!close)
      return bad(why, "unclosed '[' in a host");
    after_host = close + 1;
  } else {
    after_host = memchr(p, ':', sn);
    if (!after_host)
      return bad(why, "server spec needs host:port:port");
  }
  /* fields after the host, split on ':' */
  const char *f[4];
  size_t fl[4], nf = 0;
  const char *q = after_host;
  while (q < end && nf < 4) {
    if (*q != ':')
      return bad(why, "server spec needs host:port:port");
    q++;
    const char *c = memchr(q, ':', (size_t)(end - q));
    const char *e = c ? c : end;
    f[nf] = q;
    fl[nf++] = (size_t)(e - q);
    q = e;
  }
  if (q < end || nf < 2 || nf > 3)
    return bad(why, "server spec needs host:port:port[:role]");
  size_t hl = (size_t)(after_host - p);
  if (p[0] == '[') {
    p++;
    hl -= 2;
  }
  if (hl == 0 || hl >= sizeof out->host)
    return bad(why, "bad host in server spec");
  memcpy(out->host, p, hl);
  out->host[hl] = '\0';
  if (!parse_port(f[0], fl[0], &out->quorum_port) ||
      !parse_port(f[1], fl[1], &out->election_port))
    return bad(why, "bad port in server spec");
  if (nf == 3) {
    if (fl[2] == 8 && memcmp(f[2], "observer", 8) == 0)
      out->observer = true;
    else if (!(fl[2] == 11 && memcmp(f[2], "participant", 11) == 0))
      return bad(why, "role must be participant or observer");
  }
  if (!semi)
    return PROTO_OK;
  const char *c = semi + 1;
  size_t cn = n - sn - 1;
  trim(&c, &cn);
  out->has_client = true;
  if (memchr(c, ':', cn) == NULL) {
    /* just a port: ZooKeeper binds the wildcard address */
    strcpy(out->client_host, "0.0.0.0");
    if (!parse_port(c, cn, &out->client_port))
      return bad(why, "bad client port");
    return PROTO_OK;
  }
  if (!parse_hostport(c, cn, out->client_host, sizeof out->client_host,
                      &out->client_port))
    return bad(why, "bad client address");
  return PROTO_OK;
}

/* "server.<id>=<spec>" with spaces allowed around '='. */
static int parse_server_line(const char *p, size_t n, struct proto_zkserver *s,
                             const char **why) {
  const char *eq = memchr(p, '=', n);
  if (!eq)
    return bad(why, "expected key=value");
  const char *k = p;
  size_t kn = (size_t)(eq - p);
  trim(&k, &kn);
  uint64_t id;
  if (kn <= 7 || memcmp(k, "server.", 7) != 0 ||
      !parse_u64(k + 7, kn - 7, 10, UINT32_MAX, &id) || id == 0)
    return bad(why, "expected server.<id>=");
  return proto_zkserver_parse((uint32_t)id, eq + 1, n - (size_t)(eq + 1 - p), s,
                              why);
}

static int add_server(struct proto_zkconfig *c, const struct proto_zkserver *s,
                      bool replace, const char **why) {
  for (size_t i = 0; i < c->n; i++) {
    if (c->s[i].id == s->id) {
      if (!replace)
        return bad(why, "a server id appears twice");
      c->s[i] = *s;
      return PROTO_OK;
    }
  }
  if (c->n == PROTO_ZKCONFIG_MAX)
    return bad(why, "too many servers");
  /* kept sorted by id, as ZooKeeper prints them */
  size_t k = c->n;
  while (k > 0 && c->s[k - 1].id > s->id) {
    c->s[k] = c->s[k - 1];
    k--;
  }
  c->s[k] = *s;
  c->n++;
  return PROTO_OK;
}

int proto_zkconfig_parse(const char *text, size_t len,
                         struct proto_zkconfig *out, const char **why) {
  memset(out, 0, sizeof *out);
  if (why)
    *why = "ok";
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && text[j] != '\n' && text[j] != ',')
      j++;
    const char *line = text + i;
    size_t n = j - i;
    i = j + 1;
    trim(&line, &n);
    if (n == 0 || line[0] == '#')
      continue;
    if (n > 8 && memcmp(line, "version=", 8) == 0) {
      uint64_t v;
      if (!parse_u64(line + 8, n - 8, 16, UINT64_MAX, &v))
        return bad(why, "bad version");
      out->version = v;
      out->has_version = true;
      continue;
    }
    struct proto_zkserver s;
    int rc = parse_server_line(line, n, &s, why);
    if (rc == PROTO_OK)
      rc = add_server(out, &s, false, why);
    if (rc != PROTO_OK)
      return rc;
  }
  return PROTO_OK;
}

static int put(char *buf, size_t cap, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int put(char *buf, size_t cap, size_t *off, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(*off < cap ? buf + *off : NULL, *off < cap ? cap - *off : 0,
                    fmt, ap);
  va_end(ap);
  if (n > 0)
    *off += (size_t)n;
  return n;
}

static void put_host(char *buf, size_t cap, size_t *off, const char *host) {
  if (strchr(host, ':'))
    put(buf, cap, off, "[%s]", host);
  else
    put(buf, cap, off, "%s", host);
}

size_t proto_zkconfig_format(const struct proto_zkconfig *c, char *buf,
                             size_t cap) {
  size_t off = 0;
  if (cap > 0)
    buf[0] = '\0';
  for (size_t i = 0; i < c->n; i++) {
    const struct proto_zkserver *s = &c->s[i];
    put(buf, cap, &off, "server.%u=", s->id);
    put_host(buf, cap, &off, s->host);
    put(buf, cap, &off, ":%u:%u:%s", s->quorum_port, s->election_port,
        s->observer ? "observer" : "participant");
    if (s->has_client) {
      put(buf, cap, &off, ";");
      put_host(buf, cap, &off, s->client_host);
      put(buf, cap, &off, ":%u", s->client_port);
    }
    put(buf, cap, &off, "\n");
  }
  put(buf, cap, &off, "version=%llx", (unsigned long long)c->version);
  return off;
}

static bool slice_present(struct proto_slice s) { return s.len >= 0; }

int proto_zkconfig_reconfig(const struct proto_zkconfig *cur,
                            const struct proto_reconfig_req *req,
                            size_t min_voters, struct proto_zkconfig *out,
                            const char **why) {
  if (why)
    *why = "ok";
  if (slice_present(req->new_members)) {
    /* non-incremental: the list is the next configuration */
    int rc = proto_zkconfig_parse((const char *)req->new_members.ptr,
                                  (size_t)req->new_members.len, out, why);
    if (rc != PROTO_OK)
      return rc;
    out->version = 0;
    out->has_version = false;
  } else {
    *out = *cur;
    out->version = 0;
    out->has_version = false;
    const char *p = (const char *)req->leaving.ptr;
    size_t n = slice_present(req->leaving) ? (size_t)req->leaving.len : 0;
    size_t i = 0;
    while (i < n) {
      size_t j = i;
      while (j < n && p[j] != ',')
        j++;
      const char *tok = p + i;
      size_t tn = j - i;
      i = j + 1;
      trim(&tok, &tn);
      uint64_t id;
      if (tn == 0)
        continue;
      if (!parse_u64(tok, tn, 10, UINT32_MAX, &id))
        return bad(why, "leaving servers must be ids");
      for (size_t k = 0; k < out->n; k++) {
        if (out->s[k].id == id) {
          memmove(&out->s[k], &out->s[k + 1],
                  (out->n - k - 1) * sizeof out->s[0]);
          out->n--;
          break;
        }
      }
    }
    p = (const char *)req->joining.ptr;
    n = slice_present(req->joining) ? (size_t)req->joining.len : 0;
    i = 0;
    while (i < n) {
      size_t j = i;
      while (j < n && p[j] != ',' && p[j] != '\n')
        j++;
      const char *tok = p + i;
      size_t tn = j - i;
      i = j + 1;
      trim(&tok, &tn);
      if (tn == 0)
        continue;
      struct proto_zkserver s;
      int rc = parse_server_line(tok, tn, &s, why);
      if (rc != PROTO_OK)
        return rc;
      if (!s.has_client)
        return bad(why, "each joining server needs 3 ports (client too)");
      rc = add_server(out, &s, true, why);
      if (rc != PROTO_OK)
        return rc;
    }
  }
  size_t voters = 0;
  for (size_t k = 0; k < out->n; k++)
    voters += !out->s[k].observer;
  if (voters < min_voters)
    return bad(why, min_voters > 1 ? "the new configuration needs at least "
                                     "2 voters (standaloneEnabled)"
                                   : "the new configuration needs a voter");
  return PROTO_OK;
}
