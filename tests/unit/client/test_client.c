/* Unit tests for libroost: error table, connect-string parser, and the
 * session core (client/core.c) driven without sockets — bytes in, bytes
 * and callbacks out — plus one end-to-end run of the libuv adapter against
 * a fake in-process server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "client/client_int.h"

/* ------------------------------------------------------------------ */
/* Recording callbacks */

#define LOG_MAX 64
struct rec {
  char log[LOG_MAX][96];
  int n;
};

static void rec_add(struct rec *r, const char *fmt, ...) {
  if (r->n >= LOG_MAX)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->log[r->n++], sizeof r->log[0], fmt, ap);
  va_end(ap);
}

static struct rec *g_unused; /* never used: callbacks get their rec by arg */

static void on_result(roost_client *c, const roost_result *res, void *arg) {
  (void)c;
  struct rec *r = arg;
  rec_add(r, "reply op=%d err=%d", res->op, res->err);
}

static void on_watch(roost_client *c, int type, const char *path, void *arg) {
  (void)c;
  rec_add(arg, "watch type=%d path=%s", type, path);
}

static void on_session_rec(void *owner, int event) {
  rec_add(owner, "session %d", event);
}

static void on_waiter_unused(struct rc_waiter *w, roost_result *res) {
  (void)w;
  roost_result_free(res);
}

/* ------------------------------------------------------------------ */
/* Core fixture */

struct fx {
  struct rc_core k;
  struct rec rec;
  uint64_t now;
};

static void fx_init(struct fx *f, const char *chroot) {
  memset(f, 0, sizeof *f);
  struct rc_core_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.chroot = chroot;
  cfg.timeout_ms = 6000;
  cfg.on_session = on_session_rec;
  cfg.owner = &f->rec;
  cfg.on_waiter = on_waiter_unused;
  assert_int_equal(rc_core_init(&f->k, &cfg), ROOST_OK);
  f->now = 1000;
}

static void fx_free(struct fx *f) {
  rc_core_shutdown(&f->k, ROOST_ECLOSED);
  rc_core_drain(&f->k);
  rc_core_free(&f->k);
}

/* Takes what the core wrote. */
static void out_take(struct fx *f, struct proto_writer *dst) {
  proto_writer_init(dst);
  proto_write_raw(dst, f->k.out.buf, f->k.out.len);
  proto_writer_reset(&f->k.out);
}

/* Server frames */
static void feed(struct fx *f, struct proto_writer *w) {
  int rc = rc_core_input(&f->k, w->buf, w->len, f->now);
  assert_int_equal(rc, ROOST_OK);
  proto_writer_free(w);
}

static void srv_connect_response(struct proto_writer *w, int32_t timeout,
                                 int64_t sid, uint8_t fill) {
  struct proto_connect_response cr;
  memset(&cr, 0, sizeof cr);
  cr.timeout_ms = timeout;
  cr.session_id = sid;
  memset(cr.passwd, fill, sizeof cr.passwd);
  cr.has_read_only = true;
  proto_connect_response_encode_frame(w, &cr);
}

static size_t srv_reply_begin(struct proto_writer *w, int32_t xid, int64_t zxid,
                              int32_t err) {
  size_t m = proto_frame_begin(w);
  struct proto_reply_header h = {xid, zxid, err};
  proto_write_reply_header(w, &h);
  return m;
}

static void srv_stat(struct proto_writer *w, int32_t version) {
  struct proto_stat st;
  memset(&st, 0, sizeof st);
  st.version = version;
  st.czxid = 5;
  proto_write_stat(w, &st);
}

/* getData reply: data + stat. */
static void srv_get_reply(struct proto_writer *w, int32_t xid, int64_t zxid,
                          const char *data) {
  size_t m = srv_reply_begin(w, xid, zxid, 0);
  proto_write_buffer(w, data, (int32_t)strlen(data));
  srv_stat(w, 1);
  proto_frame_end(w, m);
}

static void srv_err_reply(struct proto_writer *w, int32_t xid, int64_t zxid,
                          int32_t err) {
  size_t m = srv_reply_begin(w, xid, zxid, err);
  proto_frame_end(w, m);
}

/* Connects the fixture: connected() + a valid ConnectResponse. */
static void fx_connect(struct fx *f, int64_t sid) {
  rc_core_connected(&f->k, f->now);
  proto_writer_reset(&f->k.out); /* the ConnectRequest */
  struct proto_writer w;
  proto_writer_init(&w);
  srv_connect_response(&w, 6000, sid, 0xAB);
  feed(f, &w);
}

/* A request as ops.c would build it. */
static struct rc_req *mkreq(struct fx *f, int32_t op, const char *path,
                            roost_watch_cb watcher) {
  struct rc_req *r = rc_req_new(RC_REQ_OP);
  assert_non_null(r);
  r->op = op;
  r->rop = op == PROTO_OP_GETCHILDREN2 ? ROOST_OP_GET_CHILDREN : op;
  r->cb = on_result;
  r->arg = &f->rec;
  char *sp = rc_core_server_path(&f->k, path);
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = op;
  req.u.path_watch.path.ptr = (const uint8_t *)sp;
  req.u.path_watch.path.len = (int32_t)strlen(sp);
  req.u.path_watch.watch = watcher != NULL;
  struct proto_writer w;
  proto_writer_init(&w);
  proto_request_encode(&w, &req);
  r->frame = w.buf;
  r->frame_len = w.len;
  if (watcher) {
    r->watcher = watcher;
    r->watcher_arg = &f->rec;
    r->watch_path = sp;
  } else {
    free(sp);
  }
  return r;
}

/* Decodes the frames the core wrote into requests (payloads kept in w). */
static int decode_frames(struct proto_writer *w, struct proto_request *out,
                         int max) {
  size_t pos = 0;
  int n = 0;
  while (pos + 4 <= w->len && n < max) {
    uint32_t len = ((uint32_t)w->buf[pos] << 24) |
                   ((uint32_t)w->buf[pos + 1] << 16) |
                   ((uint32_t)w->buf[pos + 2] << 8) | w->buf[pos + 3];
    assert_true(pos + 4 + len <= w->len);
    assert_int_equal(
        proto_request_decode(w->buf + pos + 4, len, 1 << 20, &out[n]),
        PROTO_OK);
    n++;
    pos += 4 + len;
  }
  return n;
}

/* ------------------------------------------------------------------ */
/* Errors and connect strings */

/* Proves every error code has a name and a message, that ZooKeeper's codes
 * are exactly proto's (both ways), and that unknown codes are reported. */
static void test_error_table(void **state) {
  (void)state;
  int n = 0;
#define CHECK_ONE(name, value, msg)                                            \
  assert_string_equal(roost_err_name(value), #name);                           \
  assert_string_equal(roost_strerror(value), msg);                             \
  n++;
  ROOST_ERR_MAP(CHECK_ONE)
#undef CHECK_ONE
  assert_true(n > 40);
#define CHECK_PROTO(name, value, msg)                                          \
  assert_string_equal(roost_err_name(value), proto_err_name(value));
  PROTO_ERR_MAP(CHECK_PROTO)
#undef CHECK_PROTO
  /* Library codes lie outside ZooKeeper's range. */
#define CHECK_LIB(name, value, msg) assert_true((value) < -1000);
  ROOST_LIB_ERR_MAP(CHECK_LIB)
#undef CHECK_LIB
  assert_string_equal(roost_err_name(-9999), "UNKNOWN");
  assert_string_equal(roost_strerror(12345), "unknown error");
}

/* Proves the parser accepts hosts, IPv4, [IPv6], default ports and a
 * chroot, and rejects every malformed string with ECONNSTR. */
static void test_connstr(void **state) {
  (void)state;
  struct rc_connstr cs;
  assert_int_equal(rc_connstr_parse("127.0.0.1:2181", &cs), ROOST_OK);
  assert_int_equal(cs.n_hosts, 1);
  assert_string_equal(cs.hosts[0].host, "127.0.0.1");
  assert_int_equal(cs.hosts[0].port, 2181);
  assert_null(cs.chroot);
  rc_connstr_free(&cs);

  assert_int_equal(
      rc_connstr_parse("zk1.example.com:2181,zk-2:2182,[::1]:2183/app/x", &cs),
      ROOST_OK);
  assert_int_equal(cs.n_hosts, 3);
  assert_string_equal(cs.hosts[0].host, "zk1.example.com");
  assert_string_equal(cs.hosts[1].host, "zk-2");
  assert_int_equal(cs.hosts[1].port, 2182);
  assert_string_equal(cs.hosts[2].host, "::1");
  assert_int_equal(cs.hosts[2].port, 2183);
  assert_string_equal(cs.chroot, "/app/x");
  rc_connstr_free(&cs);

  assert_int_equal(rc_connstr_parse("localhost/", &cs), ROOST_OK);
  assert_int_equal(cs.hosts[0].port, 2181); /* default port */
  assert_null(cs.chroot);                   /* "/" is no chroot */
  rc_connstr_free(&cs);

  static const char *bad[] = {
      "",        ":2181", "h:",     "h:0",       "h:65536",    "h:12a",
      "a,,b",    "a,",    "h:1/a/", "h:1//a",    "h:1/a/../b", "h:1/a/./b",
      "ho st:1", "[::1",  "[]:1",   "h:1234567", "[zz]:1",     "h:1:2",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = rc_connstr_parse(bad[i], &cs);
    if (rc != ROOST_ECONNSTR)
      fail_msg("accepted bad connect string '%s' (%d)", bad[i], rc);
  }
  assert_int_equal(rc_connstr_parse(NULL, &cs), ROOST_ECONNSTR);
}

/* ------------------------------------------------------------------ */
/* Core */

/* Proves the first frame is a 45-byte ConnectRequest for a new session with
 * the requested timeout and 16 zero password bytes, and that a valid
 * response yields one CONNECTED event. */
static void test_handshake(void **state) {
  (void)state;
  struct fx f;
  fx_init(&f, NULL);
  rc_core_connected(&f.k, f.now);
  assert_int_equal(f.k.out.len, 4 + 45);
  struct proto_connect_request cr;
  assert_int_equal(proto_connect_request_decode(f.k.out.buf + 4, 45, &cr),
                   PROTO_OK);
  assert_int_equal(cr.session_id, 0);
  assert_int_equal(cr.timeout_ms, 6000);
  assert_int_equal(cr.passwd.len, 16);
  assert_true(cr.has_read_only);
  proto_writer_reset(&f.k.out);
  struct proto_writer w;
  proto_writer_init(&w);
  srv_connect_response(&w, 4000, 0x1234, 7);
  feed(&f, &w);
  rc_core_drain(&f.k);
  assert_int_equal(f.k.state, RC_ST_CONNECTED);
  assert_int_equal(f.k.timeout_ms, 4000);
  assert_int_equal(f.k.session_id, 0x1234);
  assert_int_equal(f.rec.n, 1);
  assert_string_equal(f.rec.log[0], "session 3");
  fx_free(&f);
}

/* Proves replies are matched to requests by xid in order, results carry
 * the decoded body, and a reply with an unexpected xid is a protocol error
 * after which the outstanding requests fail with CONNECTIONLOSS in order. */
static void test_xid_matching(void **state) {
  (void)state;
  struct fx f;
  fx_init(&f, NULL);
  fx_connect(&f, 0x77);
  rc_core_drain(&f.k);
  f.rec.n = 0;
  for (int i = 0; i < 3; i++)
    rc_core_submit(&f.k, mkreq(&f, PROTO_OP_GETDATA, "/a", NULL), f.now);
  struct proto_writer sent;
  out_take(&f, &sent);
  struct proto_request reqs[8];
  assert_int_equal(decode_frames(&sent, reqs, 8), 3);
  int32_t x0 = reqs[0].hdr.xid;
  assert_int_equal(reqs[1].hdr.xid, x0 + 1);
  assert_int_equal(reqs[2].hdr.xid, x0 + 2);
  proto_writer_free(&sent);

  struct proto_writer w;
  proto_writer_init(&w);
  srv_get_reply(&w, x0, 0x10, "hello");
  feed(&f, &w);
  rc_core_drain(&f.k);
  assert_int_equal(f.rec.n, 1);
  assert_string_equal(f.rec.log[0], "reply op=4 err=0");
  assert_int_equal(f.k.last_zxid, 0x10);

  /* Out of order: x0+2 before x0+1. */
  proto_writer_init(&w);
  srv_get_reply(&w, x0 + 2, 0x11, "x");
  assert_int_equal(rc_core_input(&f.k, w.buf, w.len, f.now), ROOST_EPROTO);
  proto_writer_free(&w);
  assert_non_null(strstr(f.k.errmsg, "does not match"));
  rc_core_disconnected(&f.k, f.now);
  rc_core_drain(&f.k);
  assert_int_equal(f.rec.n, 4);
  assert_string_equal(f.rec.log[1], "reply op=4 err=-4");
  assert_string_equal(f.rec.log[2], "reply op=4 err=-4");
  assert_string_equal(f.rec.log[3], "session 0");
  fx_free(&f);
}

/* Proves a watch notification that arrives before a reply is delivered
 * before that reply, that the event reaches only the matching watchers
 * (data watch fires on DATA_CHANGED, the child watch does not), and that
 * a fired watch is gone (one-shot). */
static void test_event_before_reply(void **state) {
  (void)state;
  struct fx f;
  fx_init(&f, NULL);
  fx_connect(&f, 0x77);
  rc_core_drain(&f.k);
  f.rec.n = 0;
  rc_core_submit(&f.k, mkreq(&f, PROTO_OP_GETDATA, "/w", on_watch), f.now);
  rc_core_submit(&f.k, mkreq(&f, PROTO_OP_GETCHILDREN2, "/w", on_watch), f.now);
  struct proto_writer sent;
  out_take(&f, &sent);
  struct proto_request reqs[4];
  assert_int_equal(decode_frames(&sent, reqs, 4), 2);
  assert_true(reqs[0].u.path_watch.watch);
  int32_t x0 = reqs[0].hdr.xid;
  proto_writer_free(&sent);

  struct proto_writer w;
  proto_writer_init(&w);
  srv_get_reply(&w, x0, 0x20, "v1");
  size_t m = srv_reply_begin(&w, x0 + 1, 0x20, 0); /* children reply */
  proto_write_int(&w, 1);
  proto_write_string(&w, "c", 1);
  srv_stat(&w, 0);
  proto_frame_end(&w, m);
  feed(&f, &w);
  /* Later request, then the event, then its reply. */
  rc_core_submit(&f.k, mkreq(&f, PROTO_OP_EXISTS, "/w", NULL), f.now);
  proto_writer_reset(&f.k.out);
  proto_writer_init(&w);
  proto_write_notification(&w, -1, PROTO_EVENT_NODE_DATA_CHANGED, "/w", 2);
  m = srv_reply_begin(&w, x0 + 2, 0x21, 0);
  srv_stat(&w, 2);
  proto_frame_end(&w, m);
  /* Fed one byte at a time: framing must not depend on read sizes. */
  for (size_t i = 0; i < w.len; i++)
    assert_int_equal(rc_core_input(&f.k, w.buf + i, 1, f.now), ROOST_OK);
  proto_writer_free(&w);
  rc_core_drain(&f.k);
  assert_int_equal(f.rec.n, 4);
  assert_string_equal(f.rec.log[0], "reply op=4 err=0");
  assert_string_equal(f.rec.log[1], "reply op=12 err=0");
  assert_string_equal(f.rec.log[2], "watch type=3 path=/w");
  assert_string_equal(f.rec.log[3], "reply op=3 err=0");
  /* The same event again: the data watch was one-shot. */
  proto_writer_init(&w);
  proto_write_notification(&w, -1, PROTO_EVENT_NODE_DATA_CHANGED, "/w", 2);
  feed(&f, &w);
  rc_core_drain(&f.k);
  assert_int_equal(f.rec.n, 4);
  /* Deleted fires the remaining child watch. */
  proto_writer_init(&w);
  proto_write_notification(&w, -1, PROTO_EVENT_NODE_DELETED, "/w", 2);
  feed(&f, &w);
  rc_core_drain(&f.k);
  assert_int_equal(f.rec.n, 5);
  assert_string_equal(f.rec.log[4], "watch type=2 path=/w");
  fx_free(&f);
}

/* Proves a reconnect resumes the session (same id and password, lastZxid =
 * highest reply zxid), re-arms watches with setWatches(relativeZxid = that
 * zxid) before any queued request, and reports DISCONNECTED then
 * CONNECTED; requests issued while disconnected wait and are sent after. */
static void test_reconnect_keeps_session(void **state) {
  (void)state;
  struct fx f;
  fx_init(&f, "/app");
  fx_connect(&f, 0x4242);
  rc_core_drain(&f.k);
  f.rec.n = 0;
  rc_core_submit(&f.k, mkreq(&f, PROTO_OP_EXISTS, "/missing", on_watch), f.now);
  rc_core_submit(&f.k, mkreq(&f, PROTO_OP_GETDATA, "/d", on_watch), f.now);
  rc_core_submit(&f.k, mkreq(&f, PROTO_OP_GETCHILDREN2, "/", on_watch), f.now);
  struct proto_writer sent;
  out_take(&f, &sent);
  struct proto_request reqs[8];
  assert_int_equal(decode_frames(&sent, reqs, 8), 3);
  /* The chroot is prepended on the wire. */
  assert_memory_equal(reqs[0].u.path_watch.path.ptr, "/app/missing", 12);
  assert_int_equal(reqs[2].u.path_watch.path.len, 4); /* "/app" */
  int32_t x0 = reqs[0].hdr.xid;
  proto_writer_free(&sent);
  struct proto_writer w;
  proto_writer_init(&w);
  srv_err_reply(&w, x0, 0x30, ROOST_NONODE);
  srv_get_reply(&w, x0 + 1, 0x31, "d");
  size_t m = srv_reply_begin(&w, x0 + 2, 0x2f, 0);
  proto_write_int(&w, 0);
  srv_stat(&w, 0);
  proto_frame_end(&w, m);
  feed(&f, &w);
  rc_core_drain(&f.k);
  assert_int_equal(f.k.last_zxid, 0x31);

  f.now += 100;
  rc_core_disconnected(&f.k, f.now);
  rc_core_submit(&f.k, mkreq(&f, PROTO_OP_GETDATA, "/later", NULL), f.now);
  assert_int_equal(f.k.out.len, 0); /* nothing written while disconnected */
  rc_core_connected(&f.k, f.now);
  struct proto_connect_request cr;
  assert_int_equal(
      proto_connect_request_decode(f.k.out.buf + 4, f.k.out.len - 4, &cr),
      PROTO_OK);
  assert_int_equal(cr.session_id, 0x4242);
  assert_int_equal(cr.last_zxid_seen, 0x31);
  assert_int_equal(cr.passwd.ptr[0], 0xAB);
  proto_writer_reset(&f.k.out);
  proto_writer_init(&w);
  srv_connect_response(&w, 6000, 0x4242, 0xAB);
  feed(&f, &w);
  rc_core_drain(&f.k);
  out_take(&f, &sent);
  assert_int_equal(decode_frames(&sent, reqs, 8), 2);
  assert_int_equal(reqs[0].hdr.xid, PROTO_XID_SET_WATCHES);
  assert_int_equal(reqs[0].hdr.type, PROTO_OP_SETWATCHES);
  assert_int_equal(reqs[0].u.set_watches.relative_zxid, 0x31);
  assert_int_equal(reqs[0].u.set_watches.data_watches.count, 1);
  assert_int_equal(reqs[0].u.set_watches.exist_watches.count, 1);
  assert_int_equal(reqs[0].u.set_watches.child_watches.count, 1);
  struct proto_str_iter it;
  struct proto_slice s;
  proto_str_iter_init(&it, &reqs[0].u.set_watches.exist_watches);
  assert_true(proto_str_iter_next(&it, &s));
  assert_int_equal(s.len, 12);
  assert_memory_equal(s.ptr, "/app/missing", 12);
  assert_int_equal(reqs[1].hdr.type, PROTO_OP_GETDATA);
  proto_writer_free(&sent);
  assert_string_equal(f.rec.log[f.rec.n - 2], "session 0");
  assert_string_equal(f.rec.log[f.rec.n - 1], "session 3");

  /* A NodeCreated for the exists watch arrives (chroot stripped). */
  proto_writer_init(&w);
  proto_write_notification(&w, -1, PROTO_EVENT_NODE_CREATED, "/app/missing",
                           12);
  feed(&f, &w);
  rc_core_drain(&f.k);
  assert_string_equal(f.rec.log[f.rec.n - 1], "watch type=1 path=/missing");
  fx_free(&f);
}

/* Proves the expiry handshake (timeout 0, session 0) gives EXPIRED once,
 * fails queued requests with SESSIONEXPIRED, releases every watcher with
 * NOT_WATCHING, refuses new requests, and that new_session starts over
 * with session id 0. */
static void test_expiry(void **state) {
  (void)state;
  struct fx f;
  fx_init(&f, NULL);
  fx_connect(&f, 0x99);
  rc_core_submit(&f.k, mkreq(&f, PROTO_OP_GETDATA, "/x", on_watch), f.now);
  struct proto_writer sent;
  out_take(&f, &sent);
  struct proto_request reqs[2];
  assert_int_equal(decode_frames(&sent, reqs, 2), 1);
  proto_writer_free(&sent);
  struct proto_writer w;
  proto_writer_init(&w);
  srv_get_reply(&w, reqs[0].hdr.xid, 0x5, "x");
  feed(&f, &w);
  rc_core_drain(&f.k);
  rc_core_disconnected(&f.k, f.now);
  rc_core_submit(&f.k, mkreq(&f, PROTO_OP_GETDATA, "/y", NULL), f.now);
  rc_core_drain(&f.k);
  f.rec.n = 0;
  rc_core_connected(&f.k, f.now);
  proto_writer_reset(&f.k.out);
  proto_writer_init(&w);
  srv_connect_response(&w, 0, 0, 0);
  feed(&f, &w);
  rc_core_drain(&f.k);
  assert_int_equal(f.k.state, RC_ST_EXPIRED);
  assert_int_equal(f.rec.n, 3);
  assert_string_equal(f.rec.log[0], "reply op=4 err=-112");
  assert_string_equal(f.rec.log[1], "watch type=-2 path=/x");
  assert_string_equal(f.rec.log[2], "session -112");
  rc_core_submit(&f.k, mkreq(&f, PROTO_OP_GETDATA, "/z", NULL), f.now);
  rc_core_drain(&f.k);
  assert_string_equal(f.rec.log[3], "reply op=4 err=-112");
  /* The C client's rule: a different id than the one sent is expiry too. */
  rc_core_new_session(&f.k);
  rc_core_connected(&f.k, f.now);
  struct proto_connect_request cr;
  assert_int_equal(
      proto_connect_request_decode(f.k.out.buf + 4, f.k.out.len - 4, &cr),
      PROTO_OK);
  assert_int_equal(cr.session_id, 0);
  assert_int_equal(cr.last_zxid_seen, 0);
  proto_writer_reset(&f.k.out);
  proto_writer_init(&w);
  srv_connect_response(&w, 6000, 0x100, 1);
  feed(&f, &w);
  rc_core_disconnected(&f.k, f.now);
  rc_core_connected(&f.k, f.now);
  proto_writer_init(&w);
  srv_connect_response(&w, 6000, 0x101, 1);
  feed(&f, &w);
  assert_int_equal(f.k.state, RC_ST_EXPIRED);
  fx_free(&f);
}

/* Proves that malformed server input — bad frame lengths, truncated
 * bodies, bad notifications, short handshakes — makes the core ask for
 * the connection to be dropped and fail the affected request cleanly,
 * never crash (run under ASan). */
static void test_malformed_frames(void **state) {
  (void)state;
  struct {
    const char *what;
    uint8_t bytes[32];
    size_t len;
  } cases[] = {
      {"negative length", {0xff, 0xff, 0xff, 0xf0}, 4},
      {"huge length", {0x7f, 0, 0, 0}, 4},
      {"short header", {0, 0, 0, 3, 1, 2, 3}, 7},
      {"reply to nothing",
       {0, 0, 0, 16, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0},
       20},
      {"bad notification",
       {0, 0, 0, 24, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0,    0, 0, 0,
        0, 0, 0, 0,  0,    0,    0,    1,    0, 0, 0, 3, 0x7f, 0, 0, 0},
       32},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct fx f;
    fx_init(&f, NULL);
    fx_connect(&f, 1);
    int rc = rc_core_input(&f.k, cases[i].bytes, cases[i].len, f.now);
    if (rc != ROOST_EPROTO)
      fail_msg("%s: got %d", cases[i].what, rc);
    rc_core_disconnected(&f.k, f.now);
    fx_free(&f);
  }
  /* A truncated getData body: the request fails with CONNECTIONLOSS. */
  struct fx f;
  fx_init(&f, NULL);
  fx_connect(&f, 1);
  rc_core_drain(&f.k);
  f.rec.n = 0;
  rc_core_submit(&f.k, mkreq(&f, PROTO_OP_GETDATA, "/t", on_watch), f.now);
  struct proto_writer sent;
  out_take(&f, &sent);
  struct proto_request reqs[2];
  assert_int_equal(decode_frames(&sent, reqs, 2), 1);
  proto_writer_free(&sent);
  struct proto_writer w;
  proto_writer_init(&w);
  size_t m = srv_reply_begin(&w, reqs[0].hdr.xid, 1, 0);
  proto_write_buffer(&w, "abc", 3); /* stat missing */
  proto_frame_end(&w, m);
  assert_int_equal(rc_core_input(&f.k, w.buf, w.len, f.now), ROOST_EPROTO);
  proto_writer_free(&w);
  rc_core_disconnected(&f.k, f.now);
  rc_core_drain(&f.k);
  assert_string_equal(f.rec.log[0], "reply op=4 err=-4");
  fx_free(&f);
  /* A short ConnectResponse. */
  fx_init(&f, NULL);
  rc_core_connected(&f.k, f.now);
  uint8_t shortcr[] = {0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x10, 0};
  assert_int_equal(rc_core_input(&f.k, shortcr, sizeof shortcr, f.now),
                   ROOST_EPROTO);
  rc_core_disconnected(&f.k, f.now);
  fx_free(&f);
}

/* Proves pings go out after a third of the negotiated timeout of send
 * silence, and the connection is declared dead after two thirds without
 * anything received. */
static void test_ping_and_dead_connection(void **state) {
  (void)state;
  struct fx f;
  fx_init(&f, NULL);
  fx_connect(&f, 1); /* negotiated 6000 */
  assert_int_equal(rc_core_tick(&f.k, f.now + 1000), RC_TICK_OK);
  assert_int_equal(f.k.out.len, 0);
  assert_int_equal(rc_core_tick(&f.k, f.now + 2000), RC_TICK_OK);
  struct proto_writer sent;
  out_take(&f, &sent);
  struct proto_request reqs[2];
  assert_int_equal(decode_frames(&sent, reqs, 2), 1);
  assert_int_equal(reqs[0].hdr.xid, PROTO_XID_PING);
  assert_int_equal(reqs[0].hdr.type, PROTO_OP_PING);
  proto_writer_free(&sent);
  assert_int_equal(rc_core_tick(&f.k, f.now + 4000), RC_TICK_DROP);
  fx_free(&f);
}

/* Proves a multi reply is decoded per sub-op, with the first real error as
 * the overall code and the builder's op kinds attached. */
static void test_multi_result(void **state) {
  (void)state;
  struct fx f;
  fx_init(&f, NULL);
  fx_connect(&f, 1);
  rc_core_drain(&f.k);
  f.rec.n = 0;
  struct rc_req *r = mkreq(&f, PROTO_OP_GETDATA, "/m", NULL);
  r->op = PROTO_OP_MULTI;
  r->rop = ROOST_OP_MULTI;
  r->multi_ops = calloc(2, sizeof(int));
  r->multi_ops[0] = ROOST_OP_CREATE;
  r->multi_ops[1] = ROOST_OP_DELETE;
  r->n_multi_ops = 2;
  rc_core_submit(&f.k, r, f.now);
  struct proto_writer sent;
  out_take(&f, &sent);
  struct proto_request reqs[2];
  assert_int_equal(decode_frames(&sent, reqs, 2), 1);
  proto_writer_free(&sent);
  struct proto_writer w;
  proto_writer_init(&w);
  size_t m = srv_reply_begin(&w, reqs[0].hdr.xid, 9, 0);
  proto_write_multi_header(&w, -1, false, 0);
  proto_write_int(&w, 0);
  proto_write_multi_header(&w, -1, false, ROOST_NONODE);
  proto_write_int(&w, ROOST_NONODE);
  proto_write_multi_header(&w, -1, true, -1);
  proto_frame_end(&w, m);
  feed(&f, &w);
  rc_core_drain(&f.k);
  assert_string_equal(f.rec.log[0], "reply op=14 err=-101");
  fx_free(&f);
}

/* ------------------------------------------------------------------ */
/* The adapter against a fake server (mode b: the test's loop). */

struct fake {
  uv_tcp_t listener;
  uv_tcp_t conn;
  bool have_conn;
  uint8_t buf[4096];
  size_t len;
  bool handshaken;
  int port;
  struct proto_writer out;
};

static void fake_write_done(uv_write_t *w, int status) {
  (void)status;
  free(w->data);
  free(w);
}

static void fake_send(struct fake *fk, struct proto_writer *w) {
  uv_write_t *req = malloc(sizeof *req);
  req->data = w->buf;
  uv_buf_t b = uv_buf_init((char *)w->buf, (unsigned)w->len);
  assert_int_equal(
      uv_write(req, (uv_stream_t *)&fk->conn, &b, 1, fake_write_done), 0);
  w->buf = NULL;
}

static void fake_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  (void)s;
  struct fake *fk = h->data;
  *b = uv_buf_init((char *)fk->buf + fk->len,
                   (unsigned)(sizeof fk->buf - fk->len));
}

/* Answers the handshake and every getData with "v" (closeSession too). */
static void fake_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)b;
  struct fake *fk = s->data;
  if (n < 0) {
    uv_close((uv_handle_t *)&fk->conn, NULL);
    fk->have_conn = false;
    return;
  }
  fk->len += (size_t)n;
  while (fk->len >= 4) {
    uint32_t flen = ((uint32_t)fk->buf[0] << 24) |
                    ((uint32_t)fk->buf[1] << 16) | ((uint32_t)fk->buf[2] << 8) |
                    fk->buf[3];
    if (fk->len < 4 + flen)
      break;
    struct proto_writer w;
    proto_writer_init(&w);
    if (!fk->handshaken) {
      fk->handshaken = true;
      srv_connect_response(&w, 5000, 0x55, 3);
    } else {
      struct proto_request req;
      assert_int_equal(proto_request_decode(fk->buf + 4, flen, 1 << 20, &req),
                       PROTO_OK);
      if (req.hdr.type == PROTO_OP_GETDATA)
        srv_get_reply(&w, req.hdr.xid, 7, "v");
      else
        srv_err_reply(&w, req.hdr.xid, 7, 0);
    }
    fake_send(fk, &w);
    memmove(fk->buf, fk->buf + 4 + flen, fk->len - 4 - flen);
    fk->len -= 4 + flen;
  }
}

static void fake_accept(uv_stream_t *l, int status) {
  struct fake *fk = l->data;
  assert_int_equal(status, 0);
  uv_tcp_init(l->loop, &fk->conn);
  fk->conn.data = fk;
  assert_int_equal(uv_accept(l, (uv_stream_t *)&fk->conn), 0);
  fk->have_conn = true;
  uv_read_start((uv_stream_t *)&fk->conn, fake_alloc, fake_read);
}

static void fake_start(struct fake *fk, uv_loop_t *loop) {
  memset(fk, 0, sizeof *fk);
  uv_tcp_init(loop, &fk->listener);
  fk->listener.data = fk;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  assert_int_equal(uv_tcp_bind(&fk->listener, (struct sockaddr *)&a, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&fk->listener, 4, fake_accept), 0);
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  uv_tcp_getsockname(&fk->listener, (struct sockaddr *)&ss, &sl);
  fk->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

struct loop_test {
  struct fake fk;
  roost_client *c;
  struct rec rec;
  bool closed;
};

static void lt_session(roost_client *c, int event, void *arg) {
  (void)c;
  rec_add(arg, "session %d", event);
}

static void lt_closed(void *arg) {
  struct loop_test *lt = arg;
  lt->closed = true;
  uv_close((uv_handle_t *)&lt->fk.listener, NULL);
  if (lt->fk.have_conn)
    uv_close((uv_handle_t *)&lt->fk.conn, NULL);
}

static void lt_get_done(roost_client *c, const roost_result *res, void *arg) {
  struct loop_test *lt = arg;
  rec_add(&lt->rec, "get err=%d data=%s", res->err, res->data ? res->data : "");
  /* A blocking call on the loop thread is refused, not a deadlock. */
  assert_int_equal(roost_sync(c, "/"), ROOST_EDEADLK);
  assert_int_equal(roost_client_close_async(c, lt_closed, lt), ROOST_OK);
}

/* Proves the adapter in application-loop mode: it connects, runs an async
 * getData through the real TCP path, refuses a blocking call from its own
 * loop thread with EDEADLK, closes (closeSession, CLOSED event) and leaves
 * the loop with nothing open: uv_loop_close() == 0. */
static void test_adapter_on_app_loop(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  struct loop_test lt;
  memset(&lt, 0, sizeof lt);
  fake_start(&lt.fk, &loop);
  char cs[64];
  snprintf(cs, sizeof cs, "127.0.0.1:%d", lt.fk.port);
  roost_options o;
  roost_options_init(&o);
  o.loop = &loop;
  o.session_cb = lt_session;
  o.session_arg = &lt.rec;
  assert_int_equal(roost_client_new(cs, &o, &lt.c), ROOST_OK);
  assert_int_equal(roost_get_async(lt.c, "/k", NULL, NULL, lt_get_done, &lt),
                   ROOST_OK);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_true(lt.closed);
  assert_int_equal(lt.rec.n, 3);
  assert_string_equal(lt.rec.log[0], "session 3");
  assert_string_equal(lt.rec.log[1], "get err=0 data=v");
  assert_string_equal(lt.rec.log[2], "session 7");
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* addWatch / removeWatches requests as ops.c builds them. */
static struct rc_req *mkwreq(struct fx *f, int32_t op, const char *path,
                             int32_t mode_or_type, roost_watch_cb watcher) {
  struct rc_req *r = rc_req_new(RC_REQ_OP);
  assert_non_null(r);
  r->op = op;
  r->rop = op;
  r->cb = on_result;
  r->arg = &f->rec;
  char *sp = rc_core_server_path(&f->k, path);
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = op;
  if (op == PROTO_OP_ADDWATCH) {
    req.u.add_watch.path.ptr = (const uint8_t *)sp;
    req.u.add_watch.path.len = (int32_t)strlen(sp);
    req.u.add_watch.mode = mode_or_type;
    r->wmode = mode_or_type;
  } else {
    req.u.watches.path.ptr = (const uint8_t *)sp;
    req.u.watches.path.len = (int32_t)strlen(sp);
    req.u.watches.type = mode_or_type > 3 ? 3 : mode_or_type;
    r->wtype = mode_or_type;
  }
  struct proto_writer w;
  proto_writer_init(&w);
  proto_request_encode(&w, &req);
  r->frame = w.buf;
  r->frame_len = w.len;
  r->watcher = watcher;
  r->watcher_arg = &f->rec;
  r->watch_path = sp;
  return r;
}

/* Answers the oldest request written with an empty OK body. */
static void reply_ok_next(struct fx *f, int32_t err) {
  struct proto_writer sent;
  out_take(f, &sent);
  struct proto_request reqs[4];
  assert_int_equal(decode_frames(&sent, reqs, 4), 1);
  int32_t xid = reqs[0].hdr.xid;
  proto_writer_free(&sent);
  struct proto_writer w;
  proto_writer_init(&w);
  srv_err_reply(&w, xid, 0x50, err);
  feed(f, &w);
}

static void notify(struct fx *f, int32_t type, const char *path) {
  struct proto_writer w;
  proto_writer_init(&w);
  proto_write_notification(&w, -1, type, path, strlen(path));
  feed(f, &w);
  rc_core_drain(&f->k);
}

/* Proves persistent watches stay after firing, recursive ones see every
 * descendant (never a sibling sharing a name prefix, never
 * CHILDREN_CHANGED), setWatches2 re-arms both kinds after a reconnect, and
 * removeWatches is NOWATCHER locally when nothing matches, and otherwise
 * ends the watcher with PERSISTENT_WATCH_REMOVED before its reply. */
static void test_persistent_and_recursive_watches(void **state) {
  (void)state;
  struct fx f;
  fx_init(&f, NULL);
  fx_connect(&f, 0x99);
  rc_core_drain(&f.k);
  f.rec.n = 0;
  rc_core_submit(&f.k,
                 mkwreq(&f, PROTO_OP_ADDWATCH, "/a",
                        ROOST_WATCH_PERSISTENT_RECURSIVE, on_watch),
                 f.now);
  reply_ok_next(&f, 0);
  rc_core_submit(
      &f.k,
      mkwreq(&f, PROTO_OP_ADDWATCH, "/a/b", ROOST_WATCH_PERSISTENT, on_watch),
      f.now);
  reply_ok_next(&f, 0);
  rc_core_drain(&f.k);
  assert_int_equal(f.rec.n, 2);
  f.rec.n = 0;
  notify(&f, PROTO_EVENT_NODE_CREATED, "/a/b/c");        /* recursive only */
  notify(&f, PROTO_EVENT_NODE_DATA_CHANGED, "/a/b");     /* both */
  notify(&f, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/a/b"); /* persistent */
  notify(&f, PROTO_EVENT_NODE_CHILDREN_CHANGED, "/a");   /* nobody */
  notify(&f, PROTO_EVENT_NODE_CREATED, "/ab");           /* nobody */
  notify(&f, PROTO_EVENT_NODE_DELETED, "/a");            /* recursive */
  assert_int_equal(f.rec.n, 5);
  assert_string_equal(f.rec.log[0], "watch type=1 path=/a/b/c");
  assert_string_equal(f.rec.log[1], "watch type=3 path=/a/b");
  assert_string_equal(f.rec.log[2], "watch type=3 path=/a/b");
  assert_string_equal(f.rec.log[3], "watch type=4 path=/a/b");
  assert_string_equal(f.rec.log[4], "watch type=2 path=/a");

  /* Reconnect: one setWatches2 with both lists, relativeZxid kept. */
  f.now += 100;
  rc_core_disconnected(&f.k, f.now);
  rc_core_connected(&f.k, f.now);
  proto_writer_reset(&f.k.out);
  struct proto_writer w;
  proto_writer_init(&w);
  srv_connect_response(&w, 6000, 0x99, 0xAB);
  feed(&f, &w);
  rc_core_drain(&f.k);
  struct proto_writer sent;
  out_take(&f, &sent);
  struct proto_request reqs[4];
  assert_int_equal(decode_frames(&sent, reqs, 4), 1);
  assert_int_equal(reqs[0].hdr.type, PROTO_OP_SETWATCHES2);
  assert_int_equal(reqs[0].u.set_watches.relative_zxid, 0x50);
  assert_int_equal(reqs[0].u.set_watches.persistent_watches.count, 1);
  assert_int_equal(reqs[0].u.set_watches.persistent_recursive_watches.count, 1);
  assert_int_equal(reqs[0].u.set_watches.data_watches.count, 0);
  proto_writer_free(&sent);

  /* Nothing of that type: NOWATCHER without a round trip. */
  f.rec.n = 0;
  rc_core_submit(
      &f.k,
      mkwreq(&f, PROTO_OP_REMOVEWATCHES, "/a", ROOST_WATCHER_PERSISTENT, NULL),
      f.now);
  assert_int_equal(f.k.out.len, 0);
  rc_core_drain(&f.k);
  assert_string_equal(f.rec.log[0], "reply op=18 err=-121");
  /* The recursive one: the watcher's last call, then the reply. */
  rc_core_submit(&f.k,
                 mkwreq(&f, PROTO_OP_REMOVEWATCHES, "/a",
                        ROOST_WATCHER_PERSISTENT_RECURSIVE, NULL),
                 f.now);
  reply_ok_next(&f, 0);
  rc_core_drain(&f.k);
  assert_int_equal(f.rec.n, 3);
  assert_string_equal(f.rec.log[1], "watch type=7 path=/a");
  assert_string_equal(f.rec.log[2], "reply op=18 err=0");
  notify(&f, PROTO_EVENT_NODE_CREATED, "/a/x");
  assert_int_equal(f.rec.n, 3);
  fx_free(&f); /* the persistent one on /a/b: NOT_WATCHING */
  assert_string_equal(f.rec.log[f.rec.n - 2], "watch type=-2 path=/a/b");
}

int main(void) {
  (void)g_unused;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_table),
      cmocka_unit_test(test_connstr),
      cmocka_unit_test(test_handshake),
      cmocka_unit_test(test_xid_matching),
      cmocka_unit_test(test_event_before_reply),
      cmocka_unit_test(test_reconnect_keeps_session),
      cmocka_unit_test(test_expiry),
      cmocka_unit_test(test_malformed_frames),
      cmocka_unit_test(test_ping_and_dead_connection),
      cmocka_unit_test(test_multi_result),
      cmocka_unit_test(test_persistent_and_recursive_watches),
      cmocka_unit_test(test_adapter_on_app_loop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
