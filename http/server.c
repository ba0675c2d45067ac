/* server.c — connections, parsing (libhttp-parser), routing and answers.
 *
 * A connection's states:
 *   IDLE     keep-alive, no byte of the next request yet; holds no buffer;
 *            closed after idle_timeout_ms.
 *   READING  a request started: bytes go through the parser into `req`
 *            (url, header fields, body, all in one buffer bounded by
 *            max_header_bytes + max_body_bytes); it must be complete within
 *            request_timeout_ms of its first byte, or 408.
 *   HANDLING the request is with its handler (deferred); bytes that arrive
 *            meanwhile wait in `pend` (bounded; reading stops beyond).
 * Output is queued in `out` and written with one uv_write at a time; a
 * write that makes no progress in write_timeout_ms closes the connection.
 * One sweep timer checks every deadline (no timer per connection).
 *
 * TLS sits between the socket and both paths: on_read feeds ciphertext to
 * the connection's engine and hands the plaintext to on_plain (what a
 * plain connection's bytes go to directly); start_write seals `out` and
 * writes the engine's ciphertext (handshake records included).  Before
 * its handshake completes a TLS connection is IDLE with the request
 * deadline (a stalled handshake is cut like a slow request). */
#include "http/http.h"
#include "tls/tls.h"

#include <assert.h>
#include <ctype.h>
#include <http_parser.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define HTTP_MAX_LISTENERS 4
#define HTTP_MAX_ROUTES 64
#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_RESP_HEADERS 8
#define HTTP_READ_CHUNK (64u << 10)
#define TLS_HANDSHAKE_RECORD 0x16
/* Jetty's SecureRequestCustomizer as ZooKeeper's AdminServer sets it. */
#define HSTS_HEADER                                                            \
  "Strict-Transport-Security: max-age=86400; includeSubDomains\r\n"

enum conn_state { C_IDLE, C_READING, C_HANDLING };

struct span {
  size_t off, len;
};

struct http_req {
  struct hconn *c;
  char *buf; /* url, fields, values, body; NUL after each token */
  size_t len, cap;
  struct span url;
  struct span fields[HTTP_MAX_HEADERS], values[HTTP_MAX_HEADERS];
  size_t n_headers;
  bool in_value;   /* the last token appended was a header value */
  bool field_open; /* a field token is being appended */
  struct span body;
  bool body_started;
  size_t header_bytes;
  int error; /* status to answer instead of dispatching (limits) */
  char method[16];
  char *path;  /* decoded, in `buf` after the tokens */
  char *query; /* raw */
  bool head, keep_alive, deferred;
  http_abort_cb abort;
  void *abort_arg;
  char *resp_headers[HTTP_MAX_RESP_HEADERS]; /* "Name: value" owned */
  size_t n_resp_headers;
};

struct hconn {
  uv_tcp_t tcp;
  struct http_server *h;
  struct hconn *prev, *next;
  http_parser parser;
  enum conn_state state;
  uint64_t deadline_ms;       /* idle or request deadline, 0 = none */
  uint64_t write_deadline_ms; /* while writing */
  struct http_req req;
  uint8_t *pend; /* unparsed input (after a complete request) */
  size_t pend_len, pend_cap;
  char *out; /* queued output */
  size_t out_len, out_cap;
  char *wbuf; /* the write in flight */
  size_t wlen;
  uv_write_t wreq;
  bool writing, reading, closing, close_after_write, in_dispatch;
  struct tls_conn *tls;      /* owned; NULL = plain HTTP */
  bool detect;               /* unify: TLS or not decided by byte one */
  bool resume_queued;        /* on h->resume */
  struct hconn *resume_next; /* h->resume */
  char peer[64];             /* the client's address */
};

struct route {
  char *path;
  size_t len;
  bool prefix;
  unsigned allow;
  http_handler_cb fn;
  void *arg;
};

struct http_server {
  uv_loop_t *loop;
  struct http_limits lim;
  uv_tcp_t listeners[HTTP_MAX_LISTENERS];
  int ports[HTTP_MAX_LISTENERS];
  int n_listeners;
  uv_timer_t sweep;
  uv_timer_t kick; /* runs h->resume on the next loop turn */
  bool sweep_open, kick_open, closed;
  struct hconn *resume; /* answered later: read their next request */
  struct route routes[HTTP_MAX_ROUTES];
  int n_routes;
  struct hconn *conns;
  size_t n_conns;
  int open_handles; /* listeners + timer + connections not yet closed */
  struct http_stats stats;
  char rbuf[HTTP_READ_CHUNK]; /* shared read buffer: consumed in read_cb */
  http_parser_settings settings;
  struct tls_ctx *tls; /* borrowed; NULL = plain HTTP */
  bool unify;          /* plain HTTP too, told apart by byte one */
};

void http_limits_default(struct http_limits *l) {
  l->max_header_bytes = 8u << 10;
  l->max_body_bytes = 64u << 10;
  l->max_conns = 1024;
  l->max_out_bytes = 8u << 20;
  l->idle_timeout_ms = 30000;
  l->request_timeout_ms = 10000;
  l->write_timeout_ms = 10000;
}

const char *http_status_reason(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 204:
    return "No Content";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 304:
    return "Not Modified";
  case 400:
    return "Bad Request";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 413:
    return "Payload Too Large";
  case 414:
    return "URI Too Long";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 503:
    return "Service Unavailable";
  default:
    return "Unknown";
  }
}

/* ------------------------------------------------------------------ */
/* Connection lifetime. */

static void conn_free(struct hconn *c) {
  struct http_req *r = &c->req;
  free(r->buf);
  for (size_t i = 0; i < r->n_resp_headers; i++)
    free(r->resp_headers[i]);
  free(c->pend);
  free(c->out);
  free(c->wbuf);
  tls_conn_free(c->tls);
  free(c);
}

static void on_conn_closed(uv_handle_t *hd) {
  struct hconn *c = hd->data;
  struct http_server *h = c->h;
  for (struct hconn **pp = &h->resume; *pp != NULL; pp = &(*pp)->resume_next) {
    if (*pp == c) {
      *pp = c->resume_next;
      break;
    }
  }
  if (c->prev != NULL)
    c->prev->next = c->next;
  else
    h->conns = c->next;
  if (c->next != NULL)
    c->next->prev = c->prev;
  h->n_conns--;
  h->open_handles--;
  conn_free(c);
}

/* Ciphertext the engine holds (an alert, close_notify) straight to the
 * socket, best effort, when no write is in flight. */
static void tls_flush_raw(struct hconn *c) {
  char b[1024];
  size_t n;
  while (!c->writing && (n = tls_conn_take_out(c->tls, b, sizeof b)) > 0) {
    uv_buf_t ub = uv_buf_init(b, (unsigned)n);
    if (uv_try_write((uv_stream_t *)&c->tcp, &ub, 1) != (int)n)
      break;
  }
}

static void conn_close(struct hconn *c) {
  if (c->closing)
    return;
  c->closing = true;
  if (c->tls != NULL) {
    tls_conn_shutdown(c->tls); /* close_notify after a handshake */
    tls_flush_raw(c);
  }
  struct http_req *r = &c->req;
  if (c->state == C_HANDLING && r->deferred && r->abort != NULL) {
    http_abort_cb cb = r->abort;
    r->abort = NULL;
    cb(r->abort_arg, r);
  }
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static uint64_t now_ms(const struct http_server *h) { return uv_now(h->loop); }

/* Forget the request; an idle connection keeps no buffer. */
static void req_reset(struct http_req *r) {
  struct hconn *c = r->c;
  free(r->buf);
  for (size_t i = 0; i < r->n_resp_headers; i++)
    free(r->resp_headers[i]);
  memset(r, 0, sizeof *r);
  r->c = c;
}

/* ------------------------------------------------------------------ */
/* Output. */

static void start_write(struct hconn *c);
static void resume_if_drained(struct hconn *c);
static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static bool has_output(const struct hconn *c) {
  return c->out_len > 0 || (c->tls != NULL && tls_conn_pending_out(c->tls) > 0);
}

static void on_written(uv_write_t *w, int status) {
  struct hconn *c = w->data;
  c->writing = false;
  free(c->wbuf);
  c->wbuf = NULL;
  c->wlen = 0;
  c->write_deadline_ms = 0;
  if (status != 0 || c->closing) {
    conn_close(c);
    return;
  }
  if (has_output(c)) {
    start_write(c);
    return;
  }
  if (c->close_after_write) {
    conn_close(c);
    return;
  }
  /* Reading may have stopped on too much output. */
  resume_if_drained(c);
}

/* Move the queued output into wbuf: as it is, or sealed by the TLS
 * engine together with its own records.  Returns 0, or -1. */
static int take_output(struct hconn *c) {
  if (c->tls == NULL) {
    c->wbuf = c->out;
    c->wlen = c->out_len;
    c->out = NULL;
    c->out_len = c->out_cap = 0;
    return 0;
  }
  if (c->out_len > 0 && tls_conn_write(c->tls, c->out, c->out_len) != TLS_OK)
    return -1;
  c->out_len = 0;
  size_t n = tls_conn_pending_out(c->tls);
  c->wbuf = malloc(n);
  if (c->wbuf == NULL)
    return -1;
  c->wlen = tls_conn_take_out(c->tls, c->wbuf, n);
  return 0;
}

static void start_write(struct hconn *c) {
  if (c->writing || c->closing || !has_output(c))
    return;
  if (take_output(c) != 0) {
    conn_close(c);
    return;
  }
  if (c->wlen == 0) {
    free(c->wbuf);
    c->wbuf = NULL;
    return;
  }
  uv_buf_t b = uv_buf_init(c->wbuf, (unsigned)c->wlen);
  c->wreq.data = c;
  if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
    conn_close(c);
    return;
  }
  c->writing = true;
  c->write_deadline_ms = now_ms(c->h) + c->h->lim.write_timeout_ms;
}

static int out_append(struct hconn *c, const void *p, size_t n) {
  if (c->out_len + n > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 1024;
    while (cap < c->out_len + n)
      cap *= 2;
    char *nb = realloc(c->out, cap);
    if (nb == NULL)
      return -1;
    c->out = nb;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, p, n);
  c->out_len += n;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Parser callbacks: append tokens to the request buffer, within limits. */

static int req_append(struct http_req *r, const char *at, size_t n,
                      size_t limit) {
  if (r->len + n + 1 > limit)
    return -1;
  if (r->len + n + 1 > r->cap) {
    size_t cap = r->cap ? r->cap : 512;
    while (cap < r->len + n + 1)
      cap *= 2;
    if (cap > limit)
      cap = limit;
    char *nb = realloc(r->buf, cap);
    if (nb == NULL)
      return -1;
    r->buf = nb;
    r->cap = cap;
  }
  memcpy(r->buf + r->len, at, n);
  r->len += n;
  r->buf[r->len] = '\0';
  return 0;
}

/* Ends the current token: a NUL after it, so it reads as a C string. */
static int req_terminate(struct http_req *r, size_t limit) {
  if (req_append(r, "", 0, limit) != 0)
    return -1;
  r->len++; /* keep the NUL req_append wrote */
  return 0;
}

static struct http_req *parser_req(http_parser *p) {
  struct hconn *c = p->data;
  return &c->req;
}

static int on_message_begin(http_parser *p) {
  (void)p;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
  struct http_req *r = parser_req(p);
  struct hconn *c = p->data;
  if (r->url.len == 0)
    r->url.off = r->len;
  if (req_append(r, at, n, c->h->lim.max_header_bytes) != 0) {
    r->error = 414;
    return -1;
  }
  r->url.len += n;
  r->header_bytes += n;
  return 0;
}

static int header_token(http_parser *p, const char *at, size_t n, bool value) {
  struct http_req *r = parser_req(p);
  struct hconn *c = p->data;
  size_t limit = c->h->lim.max_header_bytes;
  if (r->header_bytes == r->url.len && r->n_headers == 0 && !r->field_open) {
    /* the first header: end the url token */
    if (req_terminate(r, limit) != 0) {
      r->error = 431;
      return -1;
    }
  }
  bool new_token = value ? !r->in_value : (r->in_value || !r->field_open);
  if (new_token) {
    if (r->field_open || r->in_value) {
      if (req_terminate(r, limit) != 0) {
        r->error = 431;
        return -1;
      }
    }
    if (!value) {
      if (r->n_headers == HTTP_MAX_HEADERS) {
        r->error = 431;
        return -1;
      }
      r->fields[r->n_headers].off = r->len;
      r->fields[r->n_headers].len = 0;
      r->values[r->n_headers].off = r->len;
      r->values[r->n_headers].len = 0;
      r->n_headers++;
      r->field_open = true;
      r->in_value = false;
    } else {
      r->values[r->n_headers - 1].off = r->len;
      r->in_value = true;
    }
  }
  r->header_bytes += n;
  if (r->header_bytes > limit || req_append(r, at, n, limit) != 0) {
    r->error = 431;
    return -1;
  }
  if (value)
    r->values[r->n_headers - 1].len += n;
  else
    r->fields[r->n_headers - 1].len += n;
  return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
  return header_token(p, at, n, false);
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
  return header_token(p, at, n, true);
}

static int on_headers_complete(http_parser *p) {
  struct http_req *r = parser_req(p);
  struct hconn *c = p->data;
  size_t limit = c->h->lim.max_header_bytes;
  if (req_terminate(r, limit) != 0) {
    r->error = 431;
    return -1;
  }
  r->field_open = r->in_value = false;
  if (p->content_length != ULLONG_MAX &&
      p->content_length > c->h->lim.max_body_bytes) {
    r->error = 413;
    return -1;
  }
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
  struct http_req *r = parser_req(p);
  struct hconn *c = p->data;
  if (!r->body_started) {
    r->body_started = true;
    r->body.off = r->len;
  }
  if (r->body.len + n > c->h->lim.max_body_bytes ||
      req_append(r, at, n,
                 c->h->lim.max_header_bytes + c->h->lim.max_body_bytes + 2) !=
          0) {
    r->error = 413;
    return -1;
  }
  r->body.len += n;
  return 0;
}

static int on_message_complete(http_parser *p) {
  /* Stop here: the request is dispatched outside the parser. */
  http_parser_pause(p, 1);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Answers. */

static void respond_raw(struct hconn *c, int status, const char *ctype,
                        const void *body, size_t len, bool head,
                        bool keep_alive, char *const *extra, size_t n_extra) {
  char hdr[512];
  int n = snprintf(hdr, sizeof hdr,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: "
                   "%zu\r\nCache-Control: no-store\r\nConnection: %s\r\n",
                   status, http_status_reason(status), ctype, len,
                   keep_alive ? "keep-alive" : "close");
  if (n < 0 || (size_t)n >= sizeof hdr)
    n = 0;
  int rc = out_append(c, hdr, (size_t)n);
  if (rc == 0 && c->tls != NULL)
    rc = out_append(c, HSTS_HEADER, sizeof HSTS_HEADER - 1);
  for (size_t i = 0; rc == 0 && i < n_extra; i++) {
    rc = out_append(c, extra[i], strlen(extra[i]));
    if (rc == 0)
      rc = out_append(c, "\r\n", 2);
  }
  if (rc == 0)
    rc = out_append(c, "\r\n", 2);
  if (rc == 0 && !head && len > 0)
    rc = out_append(c, body, len);
  if (rc != 0) {
    conn_close(c);
    return;
  }
  if (status >= 400 && status < 500)
    c->h->stats.client_errors++;
  if (!keep_alive)
    c->close_after_write = true;
  start_write(c);
}

/* A protocol or limit error: answer and close; nothing more is read. */
static void fail_conn(struct hconn *c, int status) {
  char body[128];
  int n = snprintf(body, sizeof body, "%d %s\n", status,
                   http_status_reason(status));
  if (c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
  }
  respond_raw(c, status, "text/plain; charset=utf-8", body, (size_t)n, false,
              false, NULL, 0);
  c->state = C_IDLE;
  c->deadline_ms = 0;
}

static void conn_process(struct hconn *c);

/* A deferred answer went out: read the connection's next request on the
 * next loop turn, not inside the handler that answered. */
static void on_kick(uv_timer_t *t) {
  struct http_server *h = t->data;
  while (h->resume != NULL) {
    struct hconn *c = h->resume;
    h->resume = c->resume_next;
    c->resume_queued = false;
    c->resume_next = NULL;
    if (!c->closing)
      conn_process(c);
  }
}

static void resume_later(struct hconn *c) {
  struct http_server *h = c->h;
  if (c->resume_queued || !h->kick_open)
    return;
  c->resume_queued = true;
  c->resume_next = h->resume;
  h->resume = c;
  uv_timer_start(&h->kick, on_kick, 0, 0);
}

static void req_done(struct hconn *c) {
  struct http_req *r = &c->req;
  bool keep = r->keep_alive;
  req_reset(r);
  c->state = C_IDLE;
  if (!keep) {
    c->close_after_write = true;
    if (!c->writing && !has_output(c))
      conn_close(c);
    return;
  }
  c->deadline_ms = now_ms(c->h) + c->h->lim.idle_timeout_ms;
  http_parser_pause(&c->parser, 0);
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  if (!c->in_dispatch)
    resume_later(c);
}

void http_respond(struct http_req *r, int status, const char *content_type,
                  const void *body, size_t len) {
  struct hconn *c = r->c;
  assert(c->state == C_HANDLING);
  respond_raw(c, status, content_type ? content_type : "text/plain", body, len,
              r->head, r->keep_alive, r->resp_headers, r->n_resp_headers);
  req_done(c);
}

void http_respond_error(struct http_req *r, int status, const char *msg) {
  char body[512];
  int n = snprintf(body, sizeof body, "%d %s%s%s\n", status,
                   http_status_reason(status), msg ? ": " : "", msg ? msg : "");
  if (n < 0)
    n = 0;
  if ((size_t)n >= sizeof body)
    n = (int)sizeof body - 1;
  http_respond(r, status, "text/plain; charset=utf-8", body, (size_t)n);
}

int http_req_add_header(struct http_req *r, const char *name,
                        const char *value) {
  if (r->n_resp_headers == HTTP_MAX_RESP_HEADERS ||
      strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL)
    return -1;
  size_t n = strlen(name) + strlen(value) + 3;
  char *s = malloc(n);
  if (s == NULL)
    return -1;
  snprintf(s, n, "%s: %s", name, value);
  r->resp_headers[r->n_resp_headers++] = s;
  return 0;
}

void http_req_defer(struct http_req *r, http_abort_cb abort, void *arg) {
  r->deferred = true;
  r->abort = abort;
  r->abort_arg = arg;
}

/* ------------------------------------------------------------------ */
/* Dispatch. */

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* Percent-decode src[0..n) into dst (room for n + 1).  plus: '+' is a
 * space (query).  Returns the length, or -1 on a bad escape or %00. */
static int pct_decode(const char *src, size_t n, char *dst, bool plus) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char ch = src[i];
    if (ch == '%') {
      if (i + 2 >= n)
        return -1;
      int a = hexval((unsigned char)src[i + 1]);
      int b = hexval((unsigned char)src[i + 2]);
      if (a < 0 || b < 0 || (a == 0 && b == 0))
        return -1;
      dst[o++] = (char)(a * 16 + b);
      i += 2;
    } else if (ch == '+' && plus) {
      dst[o++] = ' ';
    } else {
      dst[o++] = ch;
    }
  }
  dst[o] = '\0';
  return (int)o;
}

static const struct route *find_route(const struct http_server *h,
                                      const char *path) {
  const struct route *best = NULL;
  for (int i = 0; i < h->n_routes; i++) {
    const struct route *rt = &h->routes[i];
    bool match = rt->prefix ? strncmp(path, rt->path, rt->len) == 0 ||
                                  (strlen(path) + 1 == rt->len &&
                                   strncmp(path, rt->path, rt->len - 1) == 0)
                            : strcmp(path, rt->path) == 0;
    if (match && (best == NULL || rt->len > best->len))
      best = rt;
  }
  return best;
}

/* Split the url into decoded path and raw query (libhttp-parser's URL
 * parser); both go at the end of the request buffer.  Returns 0 or a
 * status. */
static int req_prepare(struct hconn *c) {
  struct http_req *r = &c->req;
  struct http_parser_url u;
  http_parser_url_init(&u);
  const char *url = r->buf + r->url.off;
  if (r->url.len == 0 || http_parser_parse_url(url, r->url.len, 0, &u) != 0 ||
      !(u.field_set & (1 << UF_PATH)))
    return 400;
  size_t plen = u.field_data[UF_PATH].len;
  size_t qlen =
      (u.field_set & (1 << UF_QUERY)) ? u.field_data[UF_QUERY].len : 0;
  size_t need = r->len + plen + qlen + 2;
  if (need > r->cap) {
    char *nb = realloc(r->buf, need);
    if (nb == NULL)
      return 503;
    r->buf = nb;
    r->cap = need;
    url = r->buf + r->url.off;
  }
  size_t poff = r->len;
  int n =
      pct_decode(url + u.field_data[UF_PATH].off, plen, r->buf + poff, false);
  if (n < 0 || r->buf[poff] != '/')
    return 400;
  size_t qoff = poff + (size_t)n + 1;
  if (qlen > 0)
    memcpy(r->buf + qoff, url + u.field_data[UF_QUERY].off, qlen);
  r->buf[qoff + qlen] = '\0';
  r->len = qoff + qlen + 1;
  r->path = r->buf + poff;
  r->query = r->buf + qoff;
  return 0;
}

static void dispatch(struct hconn *c) {
  struct http_server *h = c->h;
  struct http_req *r = &c->req;
  h->stats.requests++;
  c->state = C_HANDLING;
  c->deadline_ms = 0;
  snprintf(r->method, sizeof r->method, "%s",
           http_method_str((enum http_method)c->parser.method));
  r->head = c->parser.method == HTTP_HEAD;
  /* An Upgrade is ignored (allowed by RFC 9110): answer, then close,
   * since the parser treats what follows as the other protocol. */
  r->keep_alive = http_should_keep_alive(&c->parser) != 0 && !c->parser.upgrade;
  int st = req_prepare(c);
  if (st != 0) {
    r->keep_alive = false;
    http_respond_error(r, st, NULL);
    return;
  }
  const struct route *rt = find_route(h, r->path);
  if (rt == NULL) {
    http_respond_error(r, 404, NULL);
    return;
  }
  unsigned m = c->parser.method == HTTP_GET || c->parser.method == HTTP_HEAD
                   ? HTTP_ALLOW_GET
               : c->parser.method == HTTP_POST ? HTTP_ALLOW_POST
                                               : 0;
  if ((rt->allow & m) == 0) {
    http_req_add_header(
        r, "Allow",
        (rt->allow & HTTP_ALLOW_POST)
            ? ((rt->allow & HTTP_ALLOW_GET) ? "GET, HEAD, POST" : "POST")
            : "GET, HEAD");
    http_respond_error(r, 405, NULL);
    return;
  }
  c->in_dispatch = true;
  rt->fn(rt->arg, r);
  c->in_dispatch = false;
  if (c->state == C_HANDLING && !r->deferred) {
    /* A handler must answer or defer: treat silence as a server bug. */
    http_respond_error(r, 500, "handler did not answer");
  }
}

/* Keep bytes the parser has not consumed for later (bounded). */
static int pend_keep(struct hconn *c, const uint8_t *p, size_t n) {
  if (n == 0)
    return 0;
  size_t limit = c->h->lim.max_header_bytes + c->h->lim.max_body_bytes;
  if (c->pend_len + n > limit)
    return -1;
  if (c->pend_len + n > c->pend_cap) {
    size_t cap = c->pend_len + n;
    uint8_t *nb = realloc(c->pend, cap);
    if (nb == NULL)
      return -1;
    c->pend = nb;
    c->pend_cap = cap;
  }
  memcpy(c->pend + c->pend_len, p, n);
  c->pend_len += n;
  return 0;
}

/* Feed bytes to the parser; dispatch each complete request.  Returns the
 * bytes consumed (the rest waits while a request is being handled). */
static size_t feed(struct hconn *c, const uint8_t *data, size_t n) {
  size_t used = 0;
  while (used < n && !c->closing && c->state != C_HANDLING &&
         !c->close_after_write) {
    if (c->state == C_IDLE) {
      c->state = C_READING;
      c->deadline_ms = now_ms(c->h) + c->h->lim.request_timeout_ms;
    }
    size_t k = http_parser_execute(&c->parser, &c->h->settings,
                                   (const char *)data + used, n - used);
    used += k;
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_PAUSED) {
      dispatch(c);
      continue;
    }
    if (e != HPE_OK) {
      int st = c->req.error ? c->req.error : 400;
      if (e == HPE_HEADER_OVERFLOW)
        st = 431;
      fail_conn(c, st);
      return n;
    }
    if (c->parser.upgrade) {
      fail_conn(c, 400); /* no protocol switch here */
      return n;
    }
    if (k == 0)
      break;
  }
  return used;
}

static void conn_process(struct hconn *c) {
  if (c->pend_len > 0) {
    uint8_t *p = c->pend;
    size_t n = c->pend_len;
    c->pend = NULL;
    c->pend_len = c->pend_cap = 0;
    size_t used = feed(c, p, n);
    if (used < n && !c->closing && pend_keep(c, p + used, n - used) != 0)
      conn_close(c);
    free(p);
  }
  if (c->closing || c->close_after_write)
    return;
  if (c->state != C_HANDLING &&
      c->out_len + c->wlen <= c->h->lim.max_out_bytes && !c->reading) {
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
      c->reading = true;
  }
}

static void on_alloc(uv_handle_t *hd, size_t suggested, uv_buf_t *buf) {
  struct hconn *c = hd->data;
  (void)suggested;
  buf->base = c->h->rbuf;
  buf->len = sizeof c->h->rbuf;
}

/* Plaintext from the socket or out of the TLS engine. */
static void on_plain(struct hconn *c, const uint8_t *p, size_t n) {
  uv_stream_t *st = (uv_stream_t *)&c->tcp;
  size_t used = 0;
  if (c->pend_len == 0 && c->state != C_HANDLING)
    used = feed(c, p, n);
  if (c->closing || c->close_after_write)
    return;
  if (used < n && pend_keep(c, p + used, n - used) != 0) {
    /* a client that floods a connection whose request is not answered */
    uv_read_stop(st);
    c->reading = false;
    return;
  }
  if (c->state != C_HANDLING && c->pend_len > 0) {
    conn_process(c);
    return;
  }
  if (c->reading && c->out_len + c->wlen > c->h->lim.max_out_bytes) {
    uv_read_stop(st);
    c->reading = false;
  }
}

static void tls_failed(struct hconn *c) {
  c->h->stats.tls_failures++;
  conn_close(c); /* sends the engine's alert, if it made one */
}

/* Ciphertext in: every plaintext byte comes out now, since no later read
 * would fetch what stayed inside the engine.  The shared read buffer
 * takes the plaintext (the engine copied the ciphertext). */
static void on_tls_input(struct hconn *c, const uint8_t *p, size_t n) {
  bool was_done = tls_conn_handshake_done(c->tls);
  if (tls_conn_feed(c->tls, p, n) != TLS_OK) {
    tls_failed(c);
    return;
  }
  if (!was_done && tls_conn_handshake_done(c->tls) && c->state == C_IDLE)
    c->deadline_ms = now_ms(c->h) + c->h->lim.idle_timeout_ms;
  uint8_t *buf = (uint8_t *)c->h->rbuf;
  for (;;) {
    ssize_t r = tls_conn_read(c->tls, buf, sizeof c->h->rbuf);
    if (r == 0)
      break;
    if (r == TLS_EOF) {
      conn_close(c); /* answered with our close_notify */
      return;
    }
    if (r < 0) {
      tls_failed(c);
      return;
    }
    on_plain(c, buf, (size_t)r);
    if (c->closing)
      return;
  }
  start_write(c); /* handshake records, session tickets */
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  struct hconn *c = st->data;
  if (nread < 0) {
    conn_close(c);
    return;
  }
  if (nread == 0)
    return;
  const uint8_t *p = (const uint8_t *)buf->base;
  if (c->detect) {
    c->detect = false;
    if (p[0] == TLS_HANDSHAKE_RECORD &&
        (c->tls = tls_conn_new(c->h->tls, NULL)) == NULL) {
      conn_close(c);
      return;
    }
  }
  if (c->tls != NULL)
    on_tls_input(c, p, (size_t)nread);
  else
    on_plain(c, p, (size_t)nread);
}

/* Restart reading once output drains (on_written) — done lazily here. */
static void resume_if_drained(struct hconn *c) {
  if (!c->reading && !c->closing && !c->close_after_write &&
      c->state != C_HANDLING && c->out_len + c->wlen <= c->h->lim.max_out_bytes)
    conn_process(c);
}

/* ------------------------------------------------------------------ */
/* Accepting and the sweep. */

static const char k503[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
    "Content-Length: 24\r\nConnection: close\r\n\r\n503 too many connections\n";

static void on_reject_closed(uv_handle_t *hd) { free(hd); }

static void on_accept(uv_stream_t *ls, int status) {
  struct http_server *h = ls->data;
  if (status != 0 || h->closed)
    return;
  if (h->n_conns >= h->lim.max_conns) {
    uv_tcp_t *t = malloc(sizeof *t);
    if (t == NULL)
      return;
    uv_tcp_init(h->loop, t);
    /* A TLS client could not read a plain answer: it just sees EOF. */
    if (uv_accept(ls, (uv_stream_t *)t) == 0 && h->tls == NULL) {
      uv_buf_t b = uv_buf_init((char *)k503, sizeof k503 - 1);
      (void)uv_try_write((uv_stream_t *)t, &b, 1);
    }
    h->stats.rejected++;
    uv_close((uv_handle_t *)t, on_reject_closed);
    return;
  }
  struct hconn *c = calloc(1, sizeof *c);
  if (c == NULL)
    return;
  c->h = h;
  c->req.c = c;
  uv_tcp_init(h->loop, &c->tcp);
  c->tcp.data = c;
  h->open_handles++;
  c->next = h->conns;
  if (h->conns != NULL)
    h->conns->prev = c;
  h->conns = c;
  h->n_conns++;
  if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  h->stats.accepted++;
  uv_tcp_nodelay(&c->tcp, 1);
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
    if (ss.ss_family == AF_INET6)
      uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof c->peer);
    else
      uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof c->peer);
  }
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  c->state = C_IDLE;
  c->deadline_ms = now_ms(h) + h->lim.idle_timeout_ms;
  if (h->tls != NULL) {
    /* the handshake must be done within the request deadline */
    uint32_t hs = h->lim.request_timeout_ms < h->lim.idle_timeout_ms
                      ? h->lim.request_timeout_ms
                      : h->lim.idle_timeout_ms;
    c->deadline_ms = now_ms(h) + hs;
    c->detect = h->unify;
    if (!h->unify && (c->tls = tls_conn_new(h->tls, NULL)) == NULL) {
      conn_close(c);
      return;
    }
  }
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
    conn_close(c);
    return;
  }
  c->reading = true;
}

static void on_sweep(uv_timer_t *t) {
  struct http_server *h = t->data;
  uint64_t now = now_ms(h);
  for (struct hconn *c = h->conns, *next; c != NULL; c = next) {
    next = c->next;
    if (c->closing)
      continue;
    if (c->writing && c->write_deadline_ms != 0 &&
        now >= c->write_deadline_ms) {
      h->stats.timeouts++;
      conn_close(c);
      continue;
    }
    if (c->deadline_ms == 0 || now < c->deadline_ms || c->writing ||
        c->close_after_write)
      continue;
    if (c->state == C_READING) {
      h->stats.timeouts++;
      fail_conn(c, 408);
    } else if (c->state == C_IDLE) {
      h->stats.timeouts++;
      conn_close(c);
    }
  }
}

/* ------------------------------------------------------------------ */
/* The server object. */

struct http_server *http_server_new(uv_loop_t *loop,
                                    const struct http_limits *lim) {
  struct http_server *h = calloc(1, sizeof *h);
  if (h == NULL)
    return NULL;
  h->loop = loop;
  if (lim != NULL)
    h->lim = *lim;
  else
    http_limits_default(&h->lim);
  http_parser_settings_init(&h->settings);
  h->settings.on_message_begin = on_message_begin;
  h->settings.on_url = on_url;
  h->settings.on_header_field = on_header_field;
  h->settings.on_header_value = on_header_value;
  h->settings.on_headers_complete = on_headers_complete;
  h->settings.on_body = on_body;
  h->settings.on_message_complete = on_message_complete;
  uv_timer_init(loop, &h->sweep);
  h->sweep.data = h;
  h->sweep_open = true;
  h->open_handles++;
  uint32_t m = h->lim.idle_timeout_ms;
  if (h->lim.request_timeout_ms < m)
    m = h->lim.request_timeout_ms;
  if (h->lim.write_timeout_ms < m)
    m = h->lim.write_timeout_ms;
  uint64_t period = m / 4;
  period = period < 10 ? 10 : period > 1000 ? 1000 : period;
  uv_timer_start(&h->sweep, on_sweep, period, period);
  uv_timer_init(loop, &h->kick);
  h->kick.data = h;
  h->kick_open = true;
  h->open_handles++;
  /* The sweep alone must not keep a loop alive. */
  uv_unref((uv_handle_t *)&h->sweep);
  return h;
}

void http_server_set_tls(struct http_server *h, struct tls_ctx *ctx,
                         bool unify) {
  h->tls = ctx;
  h->unify = ctx != NULL && unify;
}

int http_route(struct http_server *h, const char *path, unsigned allow,
               http_handler_cb fn, void *arg) {
  if (h->n_routes == HTTP_MAX_ROUTES || path[0] != '/')
    return -1;
  char *p = strdup(path);
  if (p == NULL)
    return -1;
  struct route *rt = &h->routes[h->n_routes++];
  rt->path = p;
  rt->len = strlen(p);
  rt->prefix = rt->len > 1 && p[rt->len - 1] == '/';
  rt->allow = allow;
  rt->fn = fn;
  rt->arg = arg;
  return 0;
}

static void on_handle_closed(uv_handle_t *hd) {
  struct http_server *h = hd->data;
  h->open_handles--;
}

int http_listen(struct http_server *h, const char *host, int port,
                char errmsg[HTTP_ERRMSG_MAX]) {
  if (h->n_listeners == HTTP_MAX_LISTENERS || h->closed) {
    snprintf(errmsg, HTTP_ERRMSG_MAX, "too many listeners");
    return -1;
  }
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  char portstr[16];
  snprintf(portstr, sizeof portstr, "%d", port);
  int rc = getaddrinfo(host && host[0] ? host : NULL, portstr, &hints, &res);
  if (rc != 0 || res == NULL) {
    snprintf(errmsg, HTTP_ERRMSG_MAX, "address '%s': %s", host ? host : "",
             rc != 0 ? gai_strerror(rc) : "no address");
    return -1;
  }
  uv_tcp_t *t = &h->listeners[h->n_listeners];
  uv_tcp_init(h->loop, t);
  t->data = h;
  h->n_listeners++;
  h->open_handles++;
  rc = uv_tcp_bind(t, res->ai_addr, 0);
  freeaddrinfo(res);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)t, SOMAXCONN, on_accept);
  if (rc != 0) {
    snprintf(errmsg, HTTP_ERRMSG_MAX, "cannot listen on %s:%d: %s",
             host ? host : "", port, uv_strerror(rc));
    return -1;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  int bound = port;
  if (uv_tcp_getsockname(t, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET)
      bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
      bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  }
  h->ports[h->n_listeners - 1] = bound;
  return 0;
}

int http_bound_port(const struct http_server *h, int i) {
  return i >= 0 && i < h->n_listeners ? h->ports[i] : 0;
}

void http_server_close(struct http_server *h) {
  if (h == NULL || h->closed)
    return;
  h->closed = true;
  for (int i = 0; i < h->n_listeners; i++)
    uv_close((uv_handle_t *)&h->listeners[i], on_handle_closed);
  if (h->sweep_open) {
    uv_close((uv_handle_t *)&h->sweep, on_handle_closed);
    h->sweep_open = false;
  }
  if (h->kick_open) {
    uv_close((uv_handle_t *)&h->kick, on_handle_closed);
    h->kick_open = false;
  }
  for (struct hconn *c = h->conns; c != NULL; c = c->next)
    conn_close(c);
}

void http_server_free(struct http_server *h) {
  if (h == NULL)
    return;
  assert(h->closed && h->open_handles == 0);
  for (int i = 0; i < h->n_routes; i++)
    free(h->routes[i].path);
  free(h);
}

void http_server_stats(const struct http_server *h, struct http_stats *out) {
  *out = h->stats;
  out->open_conns = h->n_conns;
}

/* ------------------------------------------------------------------ */
/* Request accessors. */

const char *http_req_method(const struct http_req *r) { return r->method; }
const char *http_req_path(const struct http_req *r) { return r->path; }
const char *http_req_query(const struct http_req *r) {
  return r->query ? r->query : "";
}
bool http_req_is_head(const struct http_req *r) { return r->head; }
const char *http_req_peer(const struct http_req *r) { return r->c->peer; }
bool http_req_secure(const struct http_req *r) { return r->c->tls != NULL; }

const char *http_req_header(const struct http_req *r, const char *name) {
  for (size_t i = 0; i < r->n_headers; i++)
    if (strcasecmp(r->buf + r->fields[i].off, name) == 0)
      return r->buf + r->values[i].off;
  return NULL;
}

const uint8_t *http_req_body(const struct http_req *r, size_t *len) {
  *len = r->body.len;
  return r->body.len ? (const uint8_t *)r->buf + r->body.off
                     : (const uint8_t *)"";
}

int http_req_param(const struct http_req *r, const char *name, char *out,
                   size_t out_len) {
  const char *q = http_req_query(r);
  size_t nlen = strlen(name);
  while (*q) {
    const char *end = strchr(q, '&');
    size_t len = end ? (size_t)(end - q) : strlen(q);
    const char *eq = memchr(q, '=', len);
    size_t klen = eq ? (size_t)(eq - q) : len;
    if (klen == nlen && memcmp(q, name, nlen) == 0) {
      size_t vlen = eq ? len - klen - 1 : 0;
      if (vlen + 1 > out_len)
        return -2;
      int n = eq ? pct_decode(eq + 1, vlen, out, true) : 0;
      if (!eq && out_len > 0)
        out[0] = '\0';
      return n < 0 ? -2 : n;
    }
    q += len;
    if (*q == '&')
      q++;
  }
  return -1;
}
