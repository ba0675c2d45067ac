/* Unit tests of http/: routing, keep-alive and pipelining, deferred
 * answers and their abort, and every limit: header, URI and body size
 * (4xx), malformed requests (400), slow requests (408), idle keep-alive
 * connections, the connection cap (503); HTTPS (plain HTTP refused, port
 * unification, close_notify) with certificates from tests/tls/mkcerts.sh.
 * A real server on a libuv loop in this thread; the client is a plain
 * non-blocking socket, and the loop is stepped while the client waits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/http.h"
#include "tls/tls.h"

struct fx {
  uv_loop_t loop;
  struct http_server *h;
  int port;
  int aborts;
  struct http_req *deferred;
  uv_timer_t later;
};

static void h_hello(void *arg, struct http_req *r) {
  (void)arg;
  char body[256];
  char v[64];
  int n = http_req_param(r, "name", v, sizeof v);
  int len = snprintf(body, sizeof body, "hello %s path=%s q=%s peer=%s",
                     n >= 0 ? v : "-", http_req_path(r), http_req_query(r),
                     http_req_peer(r));
  http_req_add_header(r, "X-Test", "1");
  http_respond(r, 200, "text/plain", body, (size_t)len);
}

static void h_echo(void *arg, struct http_req *r) {
  (void)arg;
  size_t len;
  const uint8_t *b = http_req_body(r, &len);
  http_respond(r, 200, "application/octet-stream", b, len);
}

static void on_abort(void *arg, struct http_req *r) {
  struct fx *f = arg;
  assert_ptr_equal(r, f->deferred);
  f->deferred = NULL;
  f->aborts++;
}

static void on_later(uv_timer_t *t) {
  struct fx *f = t->data;
  if (f->deferred != NULL) {
    struct http_req *r = f->deferred;
    f->deferred = NULL;
    http_respond(r, 200, "text/plain", "late", 4);
  }
}

static void h_wait(void *arg, struct http_req *r) {
  struct fx *f = arg;
  f->deferred = r;
  http_req_defer(r, on_abort, f);
  char v[16];
  if (http_req_param(r, "ms", v, sizeof v) > 0)
    uv_timer_start(&f->later, on_later, strtoull(v, NULL, 10), 0);
}

static struct fx *fx_new(const struct http_limits *lim) {
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  uv_timer_init(&f->loop, &f->later);
  f->later.data = f;
  f->h = http_server_new(&f->loop, lim);
  assert_non_null(f->h);
  assert_int_equal(http_route(f->h, "/hello", HTTP_ALLOW_GET, h_hello, f), 0);
  assert_int_equal(http_route(f->h, "/tree/", HTTP_ALLOW_GET, h_hello, f), 0);
  assert_int_equal(http_route(f->h, "/echo", HTTP_ALLOW_POST, h_echo, f), 0);
  assert_int_equal(http_route(f->h, "/wait", HTTP_ALLOW_GET, h_wait, f), 0);
  char err[HTTP_ERRMSG_MAX];
  assert_int_equal(http_listen(f->h, "127.0.0.1", 0, err), 0);
  f->port = http_bound_port(f->h, 0);
  assert_true(f->port > 0);
  return f;
}

static void fx_free(struct fx *f) {
  http_server_close(f->h);
  uv_close((uv_handle_t *)&f->later, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  http_server_free(f->h);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  free(f);
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cli_connect(struct fx *f) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)f->port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  uv_run(&f->loop, UV_RUN_NOWAIT); /* accept */
  return fd;
}

static void cli_send(struct fx *f, int fd, const char *s, size_t n) {
  size_t off = 0;
  while (off < n) {
    ssize_t k = send(fd, s + off, n - off, MSG_NOSIGNAL);
    if (k > 0)
      off += (size_t)k;
    else
      uv_run(&f->loop, UV_RUN_NOWAIT);
  }
}

/* Step the loop and read until `want` complete answers (by
 * Content-Length) arrived, the peer closed, or timeout_ms passed.
 * Returns the bytes read (NUL-terminated, owned by the caller); *closed
 * tells whether the server closed the connection. */
static char *cli_recv(struct fx *f, int fd, int want, int timeout_ms,
                      bool *closed) {
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap + 1);
  assert_non_null(buf);
  *closed = false;
  int64_t end = mono_ms() + timeout_ms;
  while (mono_ms() < end) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    ssize_t k = recv(fd, buf + len, cap - len, 0);
    if (k == 0) {
      *closed = true;
      break;
    }
    if (k < 0) {
      if (errno == ECONNRESET) {
        *closed = true;
        break;
      }
      usleep(1000);
      continue;
    }
    len += (size_t)k;
    buf[len] = '\0';
    /* count complete answers */
    int done = 0;
    const char *p = buf;
    for (;;) {
      const char *hend = strstr(p, "\r\n\r\n");
      if (hend == NULL)
        break;
      const char *cl = strstr(p, "Content-Length: ");
      if (cl == NULL || cl > hend)
        break;
      size_t blen = (size_t)strtoul(cl + 16, NULL, 10);
      if ((size_t)(hend + 4 - buf) + blen > len)
        break;
      done++;
      p = hend + 4 + blen;
    }
    if (done >= want && want > 0)
      break;
  }
  buf[len] = '\0';
  return buf;
}

static char *exchange(struct fx *f, const char *req, bool *closed) {
  int fd = cli_connect(f);
  cli_send(f, fd, req, strlen(req));
  char *r = cli_recv(f, fd, 1, 3000, closed);
  if (!*closed) {
    /* see whether the server closes after the answer */
    free(cli_recv(f, fd, 0, 100, closed));
  }
  close(fd);
  return r;
}

/* ------------------------------------------------------------------ */

static void test_get_and_keepalive(void **state) {
  (void)state;
  struct fx *f = fx_new(NULL);
  int fd = cli_connect(f);
  const char *req = "GET /hello?name=a%20b+c HTTP/1.1\r\nHost: x\r\n\r\n";
  bool closed;
  for (int i = 0; i < 3; i++) {
    cli_send(f, fd, req, strlen(req));
    char *r = cli_recv(f, fd, 1, 3000, &closed);
    assert_false(closed);
    assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(r, "Connection: keep-alive"));
    assert_non_null(strstr(r, "X-Test: 1\r\n"));
    assert_non_null(
        strstr(r, "hello a b c path=/hello q=name=a%20b+c peer=127.0.0.1"));
    free(r);
  }
  struct http_stats st;
  http_server_stats(f->h, &st);
  assert_int_equal(st.accepted, 1);
  assert_int_equal(st.requests, 3);
  close(fd);
  fx_free(f);
}

static void test_pipelined(void **state) {
  (void)state;
  struct fx *f = fx_new(NULL);
  int fd = cli_connect(f);
  const char *req =
      "GET /hello HTTP/1.1\r\n\r\nGET /tree/a%2Fb HTTP/1.1\r\n\r\n"
      "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz";
  cli_send(f, fd, req, strlen(req));
  bool closed;
  char *r = cli_recv(f, fd, 3, 3000, &closed);
  const char *a = strstr(r, "path=/hello");
  const char *b = strstr(r, "path=/tree/a/b");
  const char *c = strstr(r, "\r\n\r\nxyz");
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(c);
  assert_true(a < b && b < c);
  free(r);
  close(fd);
  fx_free(f);
}

static void test_chunked_body(void **state) {
  (void)state;
  struct fx *f = fx_new(NULL);
  bool closed;
  char *r = exchange(f,
                     "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                     &closed);
  assert_non_null(strstr(r, "200 OK"));
  assert_non_null(strstr(r, "\r\n\r\nabcde"));
  free(r);
  fx_free(f);
}

static void expect_status(struct fx *f, const char *req, const char *status,
                          bool want_closed) {
  bool closed;
  char *r = exchange(f, req, &closed);
  if (strncmp(r, status, strlen(status)) != 0)
    fail_msg("%s: expected '%s', got '%.80s'", req, status, r);
  assert_int_equal(closed, want_closed);
  free(r);
}

static void test_routes_4xx(void **state) {
  (void)state;
  struct fx *f = fx_new(NULL);
  expect_status(f, "GET /nope HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found",
                false);
  expect_status(f, "POST /hello HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                "HTTP/1.1 405 Method Not Allowed", false);
  expect_status(f, "GET /echo HTTP/1.1\r\n\r\n",
                "HTTP/1.1 405 Method Not Allowed", false);
  expect_status(f, "HEAD /hello HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK", false);
  /* HTTP/1.0 closes unless asked to keep */
  expect_status(f, "GET /hello HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK", true);
  fx_free(f);
}

static void test_malformed_400(void **state) {
  (void)state;
  struct fx *f = fx_new(NULL);
  expect_status(f, "GARBAGE\r\n\r\n", "HTTP/1.1 400", true);
  expect_status(f, "GET / HTTP/9.x\r\n\r\n", "HTTP/1.1 400", true);
  expect_status(f, "GET /hello HTTP/1.1\r\nBad Header\r\n\r\n", "HTTP/1.1 400",
                true);
  expect_status(f, "GET /tree/%zz HTTP/1.1\r\n\r\n", "HTTP/1.1 400", true);
  expect_status(f, "GET /tree/a%00b HTTP/1.1\r\n\r\n", "HTTP/1.1 400", true);
  expect_status(f, "GET * HTTP/1.1\r\n\r\n", "HTTP/1.1 400", true);
  expect_status(f,
                "POST /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: "
                "2\r\n\r\nab",
                "HTTP/1.1 400", true);
  /* an Upgrade is ignored: answered, then closed */
  expect_status(f,
                "GET /hello HTTP/1.1\r\nUpgrade: h2c\r\nConnection: "
                "Upgrade\r\n\r\n",
                "HTTP/1.1 200", true);
  fx_free(f);
}

static void test_size_limits(void **state) {
  (void)state;
  struct http_limits lim;
  http_limits_default(&lim);
  lim.max_header_bytes = 1024;
  lim.max_body_bytes = 100;
  struct fx *f = fx_new(&lim);
  char req[4096];
  /* long URI */
  int n = snprintf(req, sizeof req, "GET /hello?");
  memset(req + n, 'a', 2000);
  snprintf(req + n + 2000, sizeof req - (size_t)n - 2000, " HTTP/1.1\r\n\r\n");
  expect_status(f, req, "HTTP/1.1 414", true);
  /* big header */
  n = snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nX-Big: ");
  memset(req + n, 'b', 2000);
  snprintf(req + n + 2000, sizeof req - (size_t)n - 2000, "\r\n\r\n");
  expect_status(f, req, "HTTP/1.1 431", true);
  /* many small headers */
  n = snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\n");
  for (int i = 0; i < 100; i++)
    n += snprintf(req + n, sizeof req - (size_t)n, "X-%d: v\r\n", i);
  snprintf(req + n, sizeof req - (size_t)n, "\r\n");
  expect_status(f, req, "HTTP/1.1 431", true);
  /* declared body too big: refused before it is read */
  expect_status(f, "POST /echo HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n",
                "HTTP/1.1 413", true);
  /* chunked body over the limit */
  n = snprintf(req, sizeof req,
               "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 10; i++)
    n += snprintf(req + n, sizeof req - (size_t)n, "14\r\n%020d\r\n", i);
  snprintf(req + n, sizeof req - (size_t)n, "0\r\n\r\n");
  expect_status(f, req, "HTTP/1.1 413", true);
  struct http_stats st;
  http_server_stats(f->h, &st);
  assert_int_equal(st.client_errors, 5);
  fx_free(f);
}

static void test_slow_request_408(void **state) {
  (void)state;
  struct http_limits lim;
  http_limits_default(&lim);
  lim.request_timeout_ms = 150;
  struct fx *f = fx_new(&lim);
  int fd = cli_connect(f);
  /* slowloris: a byte at a time, never finishing */
  const char *part = "GET /hello HTTP/1.1\r\nX-A: ";
  int64_t t0 = mono_ms();
  bool closed = false;
  char *r = NULL;
  for (size_t i = 0; i < strlen(part) && !closed; i++) {
    cli_send(f, fd, part + i, 1);
    free(r);
    r = cli_recv(f, fd, 1, 20, &closed);
    if (r[0] != '\0')
      break;
  }
  while (!closed && mono_ms() - t0 < 3000) {
    if (send(fd, "x", 1, MSG_NOSIGNAL) < 0)
      break;
    char *more = cli_recv(f, fd, 1, 30, &closed);
    if (more[0] != '\0') {
      free(r);
      r = more;
      break;
    }
    free(more);
  }
  assert_non_null(r);
  assert_non_null(strstr(r, "HTTP/1.1 408 Request Timeout"));
  assert_true(mono_ms() - t0 < 2000);
  free(r);
  close(fd);
  struct http_stats st;
  http_server_stats(f->h, &st);
  assert_int_equal(st.timeouts, 1);
  fx_free(f);
}

static void test_idle_timeout(void **state) {
  (void)state;
  struct http_limits lim;
  http_limits_default(&lim);
  lim.idle_timeout_ms = 100;
  struct fx *f = fx_new(&lim);
  int fd = cli_connect(f);
  bool closed;
  char *r = cli_recv(f, fd, 0, 2000, &closed);
  assert_true(closed);
  assert_string_equal(r, ""); /* idle close: nothing said */
  free(r);
  close(fd);
  /* keep-alive after an answer also ends */
  fd = cli_connect(f);
  cli_send(f, fd, "GET /hello HTTP/1.1\r\n\r\n", 23);
  r = cli_recv(f, fd, 1, 2000, &closed);
  assert_non_null(strstr(r, "200 OK"));
  free(r);
  r = cli_recv(f, fd, 0, 2000, &closed);
  assert_true(closed);
  free(r);
  close(fd);
  fx_free(f);
}

static void test_conn_cap_503(void **state) {
  (void)state;
  struct http_limits lim;
  http_limits_default(&lim);
  lim.max_conns = 2;
  struct fx *f = fx_new(&lim);
  int a = cli_connect(f), b = cli_connect(f);
  bool closed;
  char *r = exchange(f, "GET /hello HTTP/1.1\r\n\r\n", &closed);
  assert_non_null(strstr(r, "HTTP/1.1 503"));
  assert_true(closed);
  free(r);
  /* the two held connections still work */
  cli_send(f, a, "GET /hello HTTP/1.1\r\n\r\n", 23);
  r = cli_recv(f, a, 1, 2000, &closed);
  assert_non_null(strstr(r, "200 OK"));
  free(r);
  close(a);
  close(b);
  /* once they are gone, new ones are served */
  for (int i = 0; i < 50; i++)
    uv_run(&f->loop, UV_RUN_NOWAIT);
  r = exchange(f, "GET /hello HTTP/1.1\r\n\r\n", &closed);
  assert_non_null(strstr(r, "200 OK"));
  free(r);
  struct http_stats st;
  http_server_stats(f->h, &st);
  assert_int_equal(st.rejected, 1);
  fx_free(f);
}

static void test_deferred(void **state) {
  (void)state;
  struct fx *f = fx_new(NULL);
  int fd = cli_connect(f);
  /* answered later by a timer; the pipelined second request waits */
  const char *req =
      "GET /wait?ms=50 HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\n";
  int64_t t0 = mono_ms();
  cli_send(f, fd, req, strlen(req));
  bool closed;
  char *r = cli_recv(f, fd, 2, 3000, &closed);
  assert_true(mono_ms() - t0 >= 45);
  const char *a = strstr(r, "\r\n\r\nlate");
  const char *b = strstr(r, "path=/hello");
  assert_non_null(a);
  assert_non_null(b);
  assert_true(a < b);
  free(r);
  /* a deferred request whose client leaves is aborted */
  cli_send(f, fd, "GET /wait HTTP/1.1\r\n\r\n", 22);
  for (int i = 0; i < 20 && f->deferred == NULL; i++)
    uv_run(&f->loop, UV_RUN_NOWAIT);
  assert_non_null(f->deferred);
  close(fd);
  for (int i = 0; i < 200 && f->aborts == 0; i++) {
    uv_run(&f->loop, UV_RUN_NOWAIT);
    usleep(1000);
  }
  assert_int_equal(f->aborts, 1);
  assert_null(f->deferred);
  /* a deferred request still open at shutdown is aborted too */
  fd = cli_connect(f);
  cli_send(f, fd, "GET /wait HTTP/1.1\r\n\r\n", 22);
  for (int i = 0; i < 20 && f->deferred == NULL; i++)
    uv_run(&f->loop, UV_RUN_NOWAIT);
  assert_non_null(f->deferred);
  http_server_close(f->h);
  assert_int_equal(f->aborts, 2);
  close(fd);
  fx_free(f);
}

static void test_route_table(void **state) {
  (void)state;
  struct fx *f = fx_new(NULL);
  assert_int_equal(http_route(f->h, "nope", HTTP_ALLOW_GET, h_hello, f), -1);
  char err[HTTP_ERRMSG_MAX];
  assert_int_equal(http_listen(f->h, "not-an-address", 0, err), -1);
  assert_non_null(strstr(err, "not-an-address"));
  /* "/tree/" also answers "/tree" */
  expect_status(f, "GET /tree HTTP/1.1\r\n\r\n", "HTTP/1.1 200", false);
  assert_string_equal(http_status_reason(431),
                      "Request Header Fields Too Large");
  assert_string_equal(http_status_reason(299), "Unknown");
  fx_free(f);
}

/* ---- HTTPS ---- */

static char cert_dir[256];

static void cert_path(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s", cert_dir, name);
}

static int make_certs(void) {
  const char *src = getenv("ROOST_SRCDIR");
  snprintf(cert_dir, sizeof cert_dir, "/tmp/roost-http-unit-XXXXXX");
  if (mkdtemp(cert_dir) == NULL)
    return -1;
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "sh %s/tests/tls/mkcerts.sh %s >/dev/null",
           src != NULL ? src : ".", cert_dir);
  return system(cmd) == 0 ? 0 : -1;
}

static struct tls_ctx *ctx_for(enum tls_role role) {
  struct tls_options o;
  tls_options_defaults(&o);
  if (role == TLS_ROLE_SERVER) {
    cert_path(o.key_store_location, sizeof o.key_store_location,
              "server-keystore.pem");
    snprintf(o.client_auth, sizeof o.client_auth, "none");
  }
  cert_path(o.trust_store_location, sizeof o.trust_store_location, "ca.pem");
  struct tls_ctx *c = NULL;
  char err[TLS_ERRMSG_MAX];
  assert_int_equal(tls_ctx_new(&o, role, "ssl.", &c, err), 0);
  return c;
}

/* One HTTPS request; returns the plaintext answer (owned by the caller);
 * *eof tells whether the server ended the session with close_notify. */
static char *https_exchange(struct fx *f, struct tls_ctx *cctx, const char *req,
                            bool *eof) {
  struct tls_conn *t = tls_conn_new(cctx, "127.0.0.1");
  assert_non_null(t);
  assert_int_equal(tls_conn_write(t, req, strlen(req)), TLS_OK);
  int fd = cli_connect(f);
  size_t cap = 1 << 16, len = 0;
  char *out = calloc(1, cap + 1);
  assert_non_null(out);
  *eof = false;
  int64_t end = mono_ms() + 5000;
  while (mono_ms() < end && !*eof) {
    char b[16384];
    size_t n;
    while ((n = tls_conn_take_out(t, b, sizeof b)) > 0)
      cli_send(f, fd, b, n);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    ssize_t k = recv(fd, b, sizeof b, 0);
    if (k == 0)
      break;
    if (k < 0) {
      usleep(1000);
      continue;
    }
    if (tls_conn_feed(t, b, (size_t)k) != TLS_OK)
      break;
    ssize_t r;
    while ((r = tls_conn_read(t, out + len, cap - len)) > 0)
      len += (size_t)r;
    if (r == TLS_EOF)
      *eof = true;
  }
  close(fd);
  tls_conn_free(t);
  return out;
}

static void test_https(void **state) {
  (void)state;
  assert_int_equal(make_certs(), 0);
  struct tls_ctx *sctx = ctx_for(TLS_ROLE_SERVER);
  struct tls_ctx *cctx = ctx_for(TLS_ROLE_CLIENT);
  static const char get[] = "GET /hello?name=tls HTTP/1.1\r\n"
                            "Connection: close\r\n\r\n";
  struct fx *f = fx_new(NULL);
  http_server_set_tls(f->h, sctx, false);
  bool eof, closed;
  char *r = https_exchange(f, cctx, get, &eof);
  assert_non_null(strstr(r, "HTTP/1.1 200"));
  assert_non_null(strstr(r, "hello tls"));
  assert_non_null(strstr(r, "Strict-Transport-Security: max-age=86400"));
  assert_true(eof); /* close_notify, not a bare TCP close */
  free(r);
  /* Plain HTTP: no HTTP answer, a failed handshake counted. */
  r = exchange(f, "GET /hello HTTP/1.1\r\n\r\n", &closed);
  assert_true(closed);
  assert_null(strstr(r, "HTTP/1.1"));
  free(r);
  struct http_stats st;
  http_server_stats(f->h, &st);
  assert_int_equal(st.tls_failures, 1);
  fx_free(f);

  /* Port unification: both on one port; only TLS answers carry HSTS. */
  f = fx_new(NULL);
  http_server_set_tls(f->h, sctx, true);
  r = https_exchange(f, cctx, get, &eof);
  assert_non_null(strstr(r, "HTTP/1.1 200"));
  assert_true(eof);
  free(r);
  r = exchange(f, get, &closed);
  assert_non_null(strstr(r, "HTTP/1.1 200"));
  assert_null(strstr(r, "Strict-Transport-Security"));
  free(r);
  fx_free(f);
  tls_ctx_free(sctx);
  tls_ctx_free(cctx);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf %s", cert_dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_get_and_keepalive),
      cmocka_unit_test(test_pipelined),
      cmocka_unit_test(test_chunked_body),
      cmocka_unit_test(test_routes_4xx),
      cmocka_unit_test(test_malformed_400),
      cmocka_unit_test(test_size_limits),
      cmocka_unit_test(test_slow_request_408),
      cmocka_unit_test(test_idle_timeout),
      cmocka_unit_test(test_conn_cap_503),
      cmocka_unit_test(test_deferred),
      cmocka_unit_test(test_route_table),
      cmocka_unit_test(test_https),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
