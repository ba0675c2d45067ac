/* http — a small HTTP/1.1 server on a caller's libuv loop, for the admin
 * port (ZooKeeper's AdminServer commands, Prometheus /metrics, the web
 * console) and the HTTP discovery API.  Requests are parsed by Debian's
 * libhttp-parser (README: "HTTP"); this module owns the sockets, limits,
 * timeouts, routing and response framing.
 *
 * Model: one thread (the loop's).  A connection carries one request at a
 * time; pipelined requests wait in its input until the previous answer is
 * queued.  A handler answers at once (http_respond) or later
 * (http_req_defer, then http_respond from any loop callback: long polls,
 * blocking queries).  Keep-alive follows HTTP/1.1 (HTTP/1.0 only with
 * "Connection: keep-alive").
 *
 * Bounds (struct http_limits): request line + headers, body, open
 * connections, output queued per connection; a connection idle between
 * requests, a request that does not arrive completely in time (slowloris)
 * and a client that does not take its answer are closed.  Violations get
 * a 4xx (400 malformed, 404 no route, 405 method, 408 timeout, 413 body,
 * 414 URI, 431 headers) or 503 (too many connections), then the
 * connection is closed.
 *
 * TLS (http_server_set_tls): every byte of a connection passes through a
 * tls/ engine (struct tls_conn) between the socket and the parser, and
 * every answer through it on the way out, on the same read and write
 * paths as plain HTTP.  A failed handshake closes the connection after
 * the engine's alert; closing a connection whose handshake completed
 * sends close_notify first.
 *
 * Memory: struct http_server is made by http_server_new and freed by
 * http_server_free after http_server_close and a loop run (its handles
 * close asynchronously).  An idle keep-alive connection holds no buffer.
 * Strings returned by http_req_* are borrowed until the request is
 * answered or aborted. */
#ifndef ROOST_HTTP_H
#define ROOST_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define HTTP_ERRMSG_MAX 256

struct http_limits {
  size_t max_header_bytes;     /* request line + header fields, default 8 KiB */
  size_t max_body_bytes;       /* request body, default 64 KiB */
  size_t max_conns;            /* open connections, default 1024 */
  size_t max_out_bytes;        /* queued output before reading stops,
                                  default 8 MiB */
  uint32_t idle_timeout_ms;    /* keep-alive between requests, default 30 s */
  uint32_t request_timeout_ms; /* first byte to complete request (slowloris),
                                  default 10 s */
  uint32_t write_timeout_ms;   /* a queued answer makes no progress,
                                  default 10 s */
};

void http_limits_default(struct http_limits *l);

/* Methods a route accepts (bit mask). */
enum {
  HTTP_ALLOW_GET = 1u << 0, /* also HEAD */
  HTTP_ALLOW_POST = 1u << 1,
};

struct http_server;
struct http_req;

/* A route's handler: answer r with http_respond (now or after
 * http_req_defer).  r is borrowed until answered or aborted. */
typedef void (*http_handler_cb)(void *arg, struct http_req *r);
/* A deferred request's connection went away (or the server closes): r is
 * gone after this call; do not answer it. */
typedef void (*http_abort_cb)(void *arg, struct http_req *r);

struct http_stats {
  uint64_t accepted;      /* connections */
  uint64_t rejected;      /* connections refused with 503 (max_conns) */
  uint64_t requests;      /* complete requests dispatched */
  uint64_t client_errors; /* 4xx answers (parser, limits, routes, handlers) */
  uint64_t timeouts;      /* connections closed by a timeout */
  uint64_t tls_failures;  /* TLS handshakes or records that failed */
  size_t open_conns;
};

/* lim NULL = defaults; copied.  loop borrowed for the server's life. */
struct http_server *http_server_new(uv_loop_t *loop,
                                    const struct http_limits *lim);

struct tls_ctx;
/* Serve HTTPS: connections accepted from now on speak TLS with ctx (a
 * server context; borrowed, must outlive the server; its owner may
 * tls_ctx_reload it between connections).  unify (ZooKeeper's
 * admin.portUnification): a connection whose first byte is not a TLS
 * handshake record (0x16) is served as plain HTTP instead.  Answers over
 * TLS carry Strict-Transport-Security, as ZooKeeper's AdminServer sends. */
void http_server_set_tls(struct http_server *h, struct tls_ctx *ctx,
                         bool unify);

/* Register a handler for `path` (exact) or, when path ends in '/', for
 * every path under it ("/commands/" matches "/commands/ruok").  The
 * longest matching route wins; path is copied; arg borrowed.  A request for
 * a path with no route gets 404, a method the route does not allow 405.
 * Returns 0 or -1 (out of memory / too many routes). */
int http_route(struct http_server *h, const char *path, unsigned allow,
               http_handler_cb fn, void *arg);

/* Listen on host:port (numeric address; port 0 = any free one).  At most
 * 4 listeners.  Returns 0 or -1 with errmsg. */
int http_listen(struct http_server *h, const char *host, int port,
                char errmsg[HTTP_ERRMSG_MAX]);
/* Port of the i-th listener (0 if none). */
int http_bound_port(const struct http_server *h, int i);

/* Close the listeners, every connection (deferred requests get their
 * abort callback) and the timer.  The loop must run afterwards for the
 * close callbacks before http_server_free.  Idempotent. */
void http_server_close(struct http_server *h);
void http_server_free(struct http_server *h);

void http_server_stats(const struct http_server *h, struct http_stats *out);

/* The request.  Method name ("GET", ...).  Path: percent-decoded, without
 * the query.  Query: raw, without '?', "" when none. */
const char *http_req_method(const struct http_req *r);
const char *http_req_path(const struct http_req *r);
const char *http_req_query(const struct http_req *r);
/* Value of query parameter `name`, percent- and '+'-decoded into out
 * (NUL-terminated).  Returns its length, 0 for "?name" without a value,
 * -1 when absent, -2 when it does not fit or is badly encoded. */
int http_req_param(const struct http_req *r, const char *name, char *out,
                   size_t out_len);
/* Header value by case-insensitive name, NULL when absent. */
const char *http_req_header(const struct http_req *r, const char *name);
const uint8_t *http_req_body(const struct http_req *r, size_t *len);
bool http_req_is_head(const struct http_req *r);
/* The client's address as text ("127.0.0.1", "::1"). */
const char *http_req_peer(const struct http_req *r);
/* The request came over TLS. */
bool http_req_secure(const struct http_req *r);

/* Add a response header (copied) before http_respond; at most 8.
 * Returns 0 or -1. */
int http_req_add_header(struct http_req *r, const char *name,
                        const char *value);
/* Answer later: the handler returns without answering; abort (may be
 * NULL) runs if the connection closes first.  While deferred the
 * connection reads no further request. */
void http_req_defer(struct http_req *r, http_abort_cb abort, void *arg);
/* Send the answer (body copied; omitted for HEAD).  r is gone afterwards.
 * A status >= 400 closes the connection after the answer unless the
 * handler asked to keep it (400..499 from routes keep it). */
void http_respond(struct http_req *r, int status, const char *content_type,
                  const void *body, size_t len);
/* A short text/plain error body "<status> <reason>: msg\n". */
void http_respond_error(struct http_req *r, int status, const char *msg);

/* Reason phrase of a status ("Not Found"); "Unknown" for others. */
const char *http_status_reason(int status);

#endif /* ROOST_HTTP_H */
