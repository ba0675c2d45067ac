/* curl.c — http and grpc checks through libcurl's multi interface, driven
 * by the agent's loop (CURLMOPT_SOCKETFUNCTION -> uv_poll per socket,
 * CURLMOPT_TIMERFUNCTION -> one uv_timer).
 *
 * gRPC: the standard grpc.health.v1.Health/Check call over HTTP/2 (h2c
 * with prior knowledge, or TLS with grpc_use_tls).  The request is the
 * 5-byte gRPC frame header (compressed flag, big-endian length) and a
 * HealthCheckRequest protobuf (field 1, string service); the answer is a
 * HealthCheckResponse (field 1, enum status: 1 = SERVING).  Both are small
 * enough to write and read by hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "agent/agent_int.h"

struct curl_run {
  struct agent_run base; /* first */
  CURL *easy;
  struct curl_slist *headers;
  char *url;
  char *req_body; /* grpc frame / http body */
  size_t req_len;
  char *body; /* response, at most cap bytes kept */
  size_t len, cap, total;
  int grpc_status; /* -1: no grpc-status header seen */
  char grpc_message[256];
};

struct sock_ctx {
  uv_poll_t poll;
  curl_socket_t fd;
  agent *a;
};

static void check_done(agent *a);

static void curl_run_free(struct curl_run *r) {
  if (r->easy) {
    curl_multi_remove_handle(r->base.a->curl.multi, r->easy);
    curl_easy_cleanup(r->easy);
  }
  curl_slist_free_all(r->headers);
  free(r->url);
  free(r->req_body);
  free(r->body);
  free(r);
}

static void curl_cancel(struct agent_run *base) {
  curl_run_free((struct curl_run *)base);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  struct sock_ctx *s = p->data;
  int flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE)
    flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE)
    flags |= CURL_CSELECT_OUT;
  agent *a = s->a;
  curl_multi_socket_action(a->curl.multi, s->fd, flags, &a->curl.running);
  check_done(a);
}

static void on_poll_closed(uv_handle_t *h) { free(h->data); }

static int sock_cb(CURL *e, curl_socket_t fd, int what, void *userp,
                   void *socketp) {
  (void)e;
  agent *a = userp;
  struct sock_ctx *s = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      uv_poll_stop(&s->poll);
      uv_close((uv_handle_t *)&s->poll, on_poll_closed);
      curl_multi_assign(a->curl.multi, fd, NULL);
    }
    return 0;
  }
  if (s == NULL) {
    s = calloc(1, sizeof *s);
    if (s == NULL)
      return -1;
    s->fd = fd;
    s->a = a;
    if (uv_poll_init_socket(a->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    s->poll.data = s;
    curl_multi_assign(a->curl.multi, fd, s);
  }
  int ev = 0;
  if (what & CURL_POLL_IN)
    ev |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    ev |= UV_WRITABLE;
  uv_poll_start(&s->poll, ev, on_poll);
  return 0;
}

static void on_timeout(uv_timer_t *t) {
  agent *a = t->data;
  curl_multi_socket_action(a->curl.multi, CURL_SOCKET_TIMEOUT, 0,
                           &a->curl.running);
  check_done(a);
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp) {
  (void)m;
  agent *a = userp;
  if (timeout_ms < 0)
    uv_timer_stop(&a->curl.timer);
  else
    uv_timer_start(&a->curl.timer, on_timeout, (uint64_t)timeout_ms, 0);
  return 0;
}

int agent_curl_init(agent *a) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return -1;
  a->curl.multi = curl_multi_init();
  if (a->curl.multi == NULL) {
    curl_global_cleanup();
    return -1;
  }
  uv_timer_init(a->loop, &a->curl.timer);
  a->curl.timer.data = a;
  curl_multi_setopt(a->curl.multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
  curl_multi_setopt(a->curl.multi, CURLMOPT_SOCKETDATA, a);
  curl_multi_setopt(a->curl.multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(a->curl.multi, CURLMOPT_TIMERDATA, a);
  return 0;
}

void agent_curl_close(agent *a) {
  if (a->curl.multi == NULL)
    return;
  /* Runs were cancelled with their instances; cleanup closes sockets
   * (CURL_POLL_REMOVE closes their polls). */
  curl_multi_cleanup(a->curl.multi);
  a->curl.multi = NULL;
  uv_close((uv_handle_t *)&a->curl.timer, NULL);
  curl_global_cleanup();
}

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
  struct curl_run *r = arg;
  size_t got = size * n;
  r->total += got;
  /* Past the cap the bytes are read and dropped: the transfer must end
   * normally for the status code to count. */
  if (r->len < r->cap) {
    size_t take = got < r->cap - r->len ? got : r->cap - r->len;
    memcpy(r->body + r->len, p, take);
    r->len += take;
  }
  return got;
}

/* A header value as a non-negative int; -1 if it is not one.  The
 * buffer curl hands over is not NUL-terminated. */
static int header_int(const char *v, size_t n) {
  size_t i = 0;
  while (i < n && (v[i] == ' ' || v[i] == '\t'))
    i++;
  if (i == n || v[i] < '0' || v[i] > '9')
    return -1;
  long x = 0;
  for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
    x = x * 10 + (v[i] - '0');
    if (x > 1000000)
      return -1;
  }
  return (int)x;
}

/* Headers and (HTTP/2) trailers: grpc-status / grpc-message. */
static size_t on_header(char *p, size_t size, size_t n, void *arg) {
  struct curl_run *r = arg;
  size_t len = size * n;
  if (len > 12 && strncasecmp(p, "grpc-status:", 12) == 0) {
    r->grpc_status = header_int(p + 12, len - 12);
  } else if (len > 13 && strncasecmp(p, "grpc-message:", 13) == 0) {
    size_t m = len - 13;
    const char *v = p + 13;
    while (m && (*v == ' '))
      v++, m--;
    while (m && (v[m - 1] == '\r' || v[m - 1] == '\n'))
      m--;
    if (m >= sizeof r->grpc_message)
      m = sizeof r->grpc_message - 1;
    memcpy(r->grpc_message, v, m);
    r->grpc_message[m] = '\0';
  }
  return len;
}

/* HealthCheckRequest{service} in a gRPC frame. */
static char *grpc_request(const char *service, size_t *out_len) {
  size_t sl = strlen(service);
  size_t msg = 0;
  uint8_t varint[10];
  size_t vn = 0;
  if (sl > 0) {
    size_t v = sl;
    do {
      varint[vn++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
      v >>= 7;
    } while (v);
    msg = 1 + vn + sl;
  }
  char *b = malloc(5 + msg);
  if (b == NULL)
    return NULL;
  b[0] = 0; /* not compressed */
  b[1] = (char)((msg >> 24) & 0xff);
  b[2] = (char)((msg >> 16) & 0xff);
  b[3] = (char)((msg >> 8) & 0xff);
  b[4] = (char)(msg & 0xff);
  if (sl > 0) {
    b[5] = 0x0a; /* field 1, length-delimited */
    memcpy(b + 6, varint, vn);
    memcpy(b + 6 + vn, service, sl);
  }
  *out_len = 5 + msg;
  return b;
}

/* The status field of a framed HealthCheckResponse; -1 if malformed.  An
 * empty message means status 0 (UNKNOWN), proto3's default. */
static int grpc_response_status(const uint8_t *b, size_t n) {
  if (n < 5 || b[0] != 0)
    return -1;
  size_t len =
      ((size_t)b[1] << 24) | ((size_t)b[2] << 16) | ((size_t)b[3] << 8) | b[4];
  if (len > n - 5)
    return -1;
  const uint8_t *p = b + 5, *end = b + 5 + len;
  int status = 0;
  while (p < end) {
    uint8_t tag = *p++;
    int wire = tag & 7;
    uint64_t v = 0;
    int shift = 0;
    if (wire == 0 || wire == 2) {
      while (p < end && shift < 64) {
        v |= (uint64_t)(*p & 0x7f) << shift;
        shift += 7;
        if (!(*p++ & 0x80))
          break;
      }
      if (wire == 2) {
        if (v > (uint64_t)(end - p))
          return -1;
        p += v;
        continue;
      }
      if ((tag >> 3) == 1)
        status = (int)v;
    } else {
      return -1; /* no other wire types in this message */
    }
  }
  return status;
}

static const char *serving_name(int s) {
  static const char *const names[] = {"UNKNOWN", "SERVING", "NOT_SERVING",
                                      "SERVICE_UNKNOWN"};
  return s >= 0 && s <= 3 ? names[s] : "(invalid)";
}

static void finish_http(struct curl_run *r, CURLcode rc) {
  const struct agent_check_def *d = r->base.check ? r->base.check->def : NULL;
  char head[1024];
  int status;
  long code = 0;
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
  if (rc != CURLE_OK) {
    snprintf(head, sizeof head, "%s %s: %s", d ? d->method : "GET", r->url,
             curl_easy_strerror(rc));
    status = AGENT_CRITICAL;
    r->len = 0;
  } else {
    /* Consul: 2xx passing, 429 Too Many Requests warning, else critical */
    status = code >= 200 && code < 300 ? AGENT_PASSING
             : code == 429             ? AGENT_WARNING
                                       : AGENT_CRITICAL;
    snprintf(head, sizeof head,
             "HTTP %s %s: %ld Output: ", d ? d->method : "GET", r->url, code);
  }
  size_t hl = strlen(head);
  char *all = malloc(hl + r->len + 1);
  char *out = NULL;
  if (all) {
    memcpy(all, head, hl);
    memcpy(all + hl, r->body, r->len);
    all[hl + r->len] = '\0';
    size_t max = d ? (size_t)d->output_max_size : 4096;
    out = agent_truncate(all, hl + r->len, max + hl);
    if (out && r->total > r->len) {
      /* the body itself was cut while reading */
      char *o2 = malloc(strlen(out) + 64);
      if (o2) {
        sprintf(o2, "%s ... (body truncated: %zu of %zu bytes)", out, r->len,
                r->total);
        free(out);
        out = o2;
      }
    }
    free(all);
  }
  agent_run_done(&r->base, status, out ? out : head);
  free(out);
}

static void finish_grpc(struct curl_run *r, CURLcode rc) {
  const struct agent_check_def *d = r->base.check ? r->base.check->def : NULL;
  char out[600];
  int status = AGENT_CRITICAL;
  const char *target = d ? d->target : "";
  if (rc != CURLE_OK) {
    snprintf(out, sizeof out, "gRPC check %s: %s", target,
             curl_easy_strerror(rc));
  } else if (r->grpc_status > 0) {
    snprintf(out, sizeof out, "gRPC check %s: grpc-status %d: %s", target,
             r->grpc_status, r->grpc_message);
  } else {
    int s = grpc_response_status((const uint8_t *)r->body, r->len);
    long code = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200 || s < 0)
      snprintf(out, sizeof out,
               "gRPC check %s: not a gRPC answer (HTTP "
               "%ld, %zu bytes)",
               target, code, r->len);
    else {
      status = s == 1 ? AGENT_PASSING : AGENT_CRITICAL;
      snprintf(out, sizeof out, "gRPC check %s: %s", target, serving_name(s));
    }
  }
  agent_run_done(&r->base, status, out);
}

static void check_done(agent *a) {
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(a->curl.multi, &left)) != NULL) {
    if (m->msg != CURLMSG_DONE)
      continue;
    struct curl_run *r = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    CURLcode rc = m->data.result;
    if (r == NULL)
      continue;
    if (r->base.check && r->base.check->def->kind == AGENT_CHECK_GRPC)
      finish_grpc(r, rc);
    else
      finish_http(r, rc);
    curl_run_free(r); /* m is invalid from here */
  }
}

int agent_curl_start(struct agent_check *c, struct agent_run **out) {
  agent *a = c->inst->a;
  const struct agent_check_def *d = c->def;
  struct curl_run *r = calloc(1, sizeof *r);
  if (r == NULL)
    return -1;
  r->base.check = c;
  r->base.a = a;
  r->base.cancel = curl_cancel;
  r->grpc_status = -1;
  bool grpc = d->kind == AGENT_CHECK_GRPC;
  r->cap = grpc ? (size_t)64 * 1024 : (size_t)d->output_max_size;
  r->body = malloc(r->cap ? r->cap : 1);
  r->easy = curl_easy_init();
  if (r->body == NULL || r->easy == NULL)
    goto fail;
  CURL *e = r->easy;
  if (grpc) {
    /* "host:port[/service]" */
    const char *slash = strchr(d->target, '/');
    size_t hl = slash ? (size_t)(slash - d->target) : strlen(d->target);
    const char *service = slash ? slash + 1 : "";
    size_t ul = hl + 64;
    r->url = malloc(ul);
    if (r->url == NULL)
      goto fail;
    snprintf(r->url, ul, "%s://%.*s/grpc.health.v1.Health/Check",
             d->grpc_use_tls ? "https" : "http", (int)hl, d->target);
    r->req_body = grpc_request(service, &r->req_len);
    if (r->req_body == NULL)
      goto fail;
    r->headers =
        curl_slist_append(r->headers, "Content-Type: application/grpc");
    r->headers = curl_slist_append(r->headers, "TE: trailers");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     d->grpc_use_tls
                         ? (long)CURL_HTTP_VERSION_2TLS
                         : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->req_body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->req_len);
    /* A fresh connection per run: libcurl 7.88 stalls or reports framing
     * errors on a reused h2c connection to grpcio servers, and a new
     * connection also proves the server still accepts them. */
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  } else {
    r->url = strdup(d->target);
    if (r->url == NULL)
      goto fail;
    r->headers = curl_slist_append(NULL, "Accept: text/plain, text/*, */*");
    for (size_t i = 0; i < d->n_headers; i++) {
      size_t hl = strlen(d->headers[i].name) + strlen(d->headers[i].value) + 3;
      char *h = malloc(hl);
      if (h == NULL)
        goto fail;
      snprintf(h, hl, "%s: %s", d->headers[i].name, d->headers[i].value);
      struct curl_slist *nl = curl_slist_append(r->headers, h);
      free(h);
      if (nl == NULL)
        goto fail;
      r->headers = nl;
    }
    if (strcmp(d->method, "HEAD") == 0)
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(d->method, "GET") != 0)
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, d->method);
    if (d->body) {
      r->req_body = strdup(d->body);
      if (r->req_body == NULL)
        goto fail;
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->req_body);
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(d->body));
      if (strcmp(d->method, "POST") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, d->method);
    }
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
  }
  if (r->headers == NULL)
    goto fail;
  curl_easy_setopt(e, CURLOPT_URL, r->url);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "roost-agent health check");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)d->timeout_ms);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (d->tls_skip_verify) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (curl_multi_add_handle(a->curl.multi, e) != CURLM_OK)
    goto fail;
  *out = &r->base;
  return 0;
fail:
  if (r->easy) {
    curl_easy_cleanup(r->easy);
    r->easy = NULL;
  }
  curl_slist_free_all(r->headers);
  free(r->url);
  free(r->req_body);
  free(r->body);
  free(r);
  return -1;
}
