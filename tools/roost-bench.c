/* roost-bench — a load generator for servers speaking the ZooKeeper client
 * wire protocol (Roost, Apache ZooKeeper).
 *
 * One libuv loop, one thread.  Everything a request needs on the hot path
 * is preallocated: each session owns two reusable write buffers (one being
 * written by the kernel, one collecting the next batch), a read buffer and
 * a fixed ring of in-flight request records; paths are formatted on the
 * stack.  Requests issued during one loop turn leave in one write per
 * session (flushed from a uv_prepare handle), the way a good server
 * batches its replies.
 *
 * A run goes through phases:
 *
 *   CONNECT -> SETUP_DIRS -> SETUP_KEYS -> SETUP_SYNC -> WARMUP -> MEASURE
 *           -> DRAIN -> CLEANUP_KEYS -> CLEANUP_DIRS -> CLOSE -> DONE
 *
 * Setup creates the run's own parent znodes (on session 0 only, so FIFO
 * order makes parents exist before children) and then the key space
 * (spread over every session); neither is timed.  With several hosts
 * (an ensemble) every session then sends a sync, so its server has
 * applied every key before the workload reads them (a follower may
 * otherwise still lag behind the creates made through other members).
 * Only operations issued during MEASURE are measured; DRAIN waits for
 * them.  Cleanup deletes what the run created unless --keep.  Any failure
 * that makes progress impossible (a lost session, a stall, an xid out of
 * order) ends the run at once with the reason in the report and a non-zero
 * exit.
 *
 * Latency is measured from the moment the request was encoded into the
 * session's write buffer until its reply was decoded, so it includes the
 * wait for the batch to be written — the same as a real client sees.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls/tls.h"
#include "tools/bench_int.h"

/* Requests in flight per session during setup and cleanup. */
#define BULK_WINDOW 64
/* Largest reply frame accepted (getChildren of a big key space exceeds
 * jute.maxbuffer; ZooKeeper does not check outgoing sizes). */
#define MAX_REPLY_FRAME (64u << 20)
/* Idle sessions ping after this long without sending anything. */
#define PING_IDLE_NS (UINT64_C(3) * 1000000000u)

enum phase {
  PH_CONNECT,
  PH_SETUP_DIRS,
  PH_SETUP_KEYS,
  PH_SETUP_SYNC,
  PH_WARMUP,
  PH_MEASURE,
  PH_DRAIN,
  PH_CLEANUP_KEYS,
  PH_CLEANUP_DIRS,
  PH_CLOSE,
  PH_DONE,
};

static const char *const phase_names[] = {
    "connect", "setup",   "setup",   "setup", "warmup", "measure",
    "drain",   "cleanup", "cleanup", "close", "done",
};

enum sess_state {
  ST_IDLE,       /* no handle */
  ST_CONNECTING, /* uv_tcp_connect in flight */
  ST_HANDSHAKE,  /* ConnectRequest sent */
  ST_READY,
  ST_CLOSING, /* closeSession sent */
  ST_SHUT,    /* uv_close called, close_cb pending */
};

/* What an in-flight request is for. */
enum req_kind {
  RK_WORK,   /* a workload operation (maybe measured) */
  RK_BULK,   /* setup / cleanup */
  RK_PING,
  RK_ARM,    /* watch-fanout: getData with watch */
  RK_FIRE,   /* watch-fanout: the setData that fires the watches */
  RK_REGISTER, /* churn: the ephemeral sequential create */
  RK_CLOSE,  /* closeSession */
};

struct inflight {
  uint64_t t0_ns;
  int32_t xid;
  int16_t op;
  uint8_t kind;
  uint8_t measured;
};

struct bench;

struct sess {
  struct bench *b;
  uint32_t index;
  bool churn; /* a churn slot: connects and closes once per cycle */
  enum sess_state state;
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t wreq;
  /* wb[wcur] collects requests; the other one may be in the kernel's
   * hands (writing == true) until write_cb. */
  struct proto_writer wb[2];
  int wcur;
  bool writing;
  bool dirty; /* on the bench's flush list */
  struct sess *dirty_next;
  uint8_t *rbuf;
  size_t rlen, rcap;
  struct inflight *q; /* ring, qcap a power of two */
  uint32_t qcap, qhead, qlen;
  uint32_t n_work; /* RK_WORK/ARM/FIRE/REGISTER in flight */
  int32_t next_xid;
  uint64_t last_send_ns;
  /* churn: start of the current cycle, and whether it counts */
  uint64_t cycle_t0;
  bool cycle_measured;
  bool retired;    /* churn slot that stopped after an error */
  bool cycle_done; /* churn: closeSession was answered */
  struct tls_conn *tls; /* --tls-*: this connection's engine (owned) */
};

struct bulk_dir {
  char path[BENCH_PATH_MAX];
  bool ignore_notempty; /* the shared root may hold other runs */
};

struct bench {
  struct bench_opts o;
  struct tls_ctx *tls_ctx; /* --tls-*: NULL = plain */
  uv_loop_t loop;
  uv_timer_t tick;        /* 1 s: progress, pings, stall watchdog */
  uv_timer_t phase_timer; /* end of warmup / of the measured time */
  uv_prepare_t flusher;   /* writes every dirty session once per turn */
  enum phase phase;
  uint64_t run_t0_ns;
  /* The time of the callback being run: read once per callback rather
   * than once per request (clock_gettime showed up in profiles). */
  uint64_t now_ns;

  struct sess *sess; /* persistent sessions; watch-fanout: [0] writes */
  uint32_t n_sess;
  struct sess *slots; /* churn slots */
  uint32_t n_slots;
  uint32_t n_handles_open; /* tcp handles not yet closed */
  struct sess *dirty_head;

  /* Paths and payloads, built once. */
  char base[160]; /* this run's parent: <root>/b<pid>-<n> (root < 100) */
  size_t base_len;
  char wpath[BENCH_PATH_MAX]; /* watch-fanout node */
  char spath[BENCH_PATH_MAX]; /* churn: service dir; ephemerals below */
  char epath[BENCH_PATH_MAX]; /* churn: <spath>/i- */
  uint8_t *value;
  uint64_t value_rng; /* fresh values per write (next_value) */
  uint8_t acl_raw[64]; /* OPEN_ACL_UNSAFE, encoded */
  struct proto_acl_vec acl;

  /* Setup/cleanup work lists. */
  struct bulk_dir dirs[4];
  uint32_t n_dirs;
  uint64_t bulk_next, bulk_end, bulk_done;
  int16_t bulk_op;
  uint64_t setup_t0_ns;
  double setup_s;
  uint64_t setup_items;

  /* Workload state. */
  uint64_t rng;
  uint64_t create_next; /* create: next key index (also what to clean) */
  uint64_t issued_measured;
  /* watch-fanout round */
  bool w_active;
  bool w_measured;
  uint32_t w_armed, w_events;
  uint64_t w_t0_ns;

  /* Figures. */
  struct bench_hist hist;
  struct bench_errs errs;
  uint64_t ops;
  uint64_t events;
  uint64_t measure_t0_ns, last_done_ns;
  struct bench_cpu cpu_start, cpu_end;
  bool measure_closed;
  uint64_t last_progress_ns, last_progress_ops;
  uint64_t last_reply_ns;
  bool failed;
  char errmsg[256];
};

static void advance(struct bench *b);
static void sess_start_connect(struct sess *s);
static void sess_shut(struct sess *s);
static void churn_cycle_start(struct sess *s);

/* ------------------------------------------------------------------ */
/* Small helpers. */

static uint64_t rng_next(uint64_t *state) {
  /* splitmix64: tiny, seeded, good enough to pick keys uniformly. */
  uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static uint64_t clock_now(struct bench *b) {
  b->now_ns = uv_hrtime();
  return b->now_ns;
}

static struct proto_slice slice_of(const char *p, size_t n) {
  struct proto_slice s = {(const uint8_t *)p, (int32_t)n};
  return s;
}

/* "<base>/k<index>" into buf (BENCH_PATH_MAX); returns its length.  Written
 * by hand because it runs once per request. */
static size_t key_path(const struct bench *b, uint64_t key, char *buf) {
  size_t n = b->base_len;
  memcpy(buf, b->base, n);
  buf[n++] = '/';
  buf[n++] = 'k';
  char digits[24];
  int d = 0;
  do {
    digits[d++] = (char)('0' + key % 10);
    key /= 10;
  } while (key);
  while (d)
    buf[n++] = digits[--d];
  buf[n] = 0;
  return n;
}

/* The first error that ends a run wins the message. */
static void bench_fail(struct bench *b, int code, const char *msg) {
  bench_errs_add(&b->errs, code, 1);
  if (!b->failed) {
    b->failed = true;
    snprintf(b->errmsg, sizeof b->errmsg, "%s", msg);
  }
  /* Tear everything down; the loop ends when the handles are closed. */
  for (uint32_t i = 0; i < b->n_sess; i++)
    sess_shut(&b->sess[i]);
  for (uint32_t i = 0; i < b->n_slots; i++)
    sess_shut(&b->slots[i]);
  b->phase = PH_DONE;
  advance(b);
}

/* ------------------------------------------------------------------ */
/* Writing. */

static void mark_dirty(struct sess *s) {
  if (!s->dirty) {
    s->dirty = true;
    s->dirty_next = s->b->dirty_head;
    s->b->dirty_head = s;
  }
}

static void on_write(uv_write_t *req, int status);

/* TLS: the collected requests become ciphertext in the same buffer
 * (with any handshake records the engine has to send). */
static int tls_seal(struct sess *s, struct proto_writer *w) {
  if (w->len > 0 && tls_conn_write(s->tls, w->buf, w->len) != TLS_OK)
    return -1;
  proto_writer_reset(w);
  size_t n = tls_conn_pending_out(s->tls);
  uint8_t *dst = n > 0 ? proto_writer_reserve(w, n) : NULL;
  if (n > 0 && dst == NULL)
    return -1;
  w->len = n > 0 ? tls_conn_take_out(s->tls, dst, n) : 0;
  return 0;
}

static void sess_flush(struct sess *s) {
  struct proto_writer *w = &s->wb[s->wcur];
  if (s->writing || s->state == ST_SHUT || s->state == ST_IDLE ||
      s->state == ST_CONNECTING)
    return;
  if (s->tls != NULL && tls_seal(s, w) != 0) {
    bench_fail(s->b, BENCH_ERR_CONN_LOST, tls_conn_errmsg(s->tls));
    return;
  }
  if (w->len == 0)
    return;
  if (proto_writer_err(w) != PROTO_OK) {
    bench_fail(s->b, BENCH_ERR_BAD_REPLY, "out of memory encoding a request");
    return;
  }
  /* The socket first: a uv_write that completes at once still costs an
   * epoll_ctl to arm POLLOUT and one to disarm it, which would make the
   * load generator pay three syscalls per batch instead of one. */
  uv_buf_t tb = uv_buf_init((char *)w->buf, (unsigned)w->len);
  int n = uv_try_write((uv_stream_t *)&s->tcp, &tb, 1);
  if (n > 0) {
    size_t sent = (size_t)n;
    if (sent == w->len) {
      proto_writer_reset(w);
      return;
    }
    memmove(w->buf, w->buf + sent, w->len - sent);
    w->len -= sent;
  }
  uv_buf_t buf = uv_buf_init((char *)w->buf, (unsigned)w->len);
  int rc = uv_write(&s->wreq, (uv_stream_t *)&s->tcp, &buf, 1, on_write);
  if (rc != 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "write to server: %s", uv_strerror(rc));
    bench_fail(s->b, BENCH_ERR_CONN_LOST, msg);
    return;
  }
  s->writing = true;
  s->wcur ^= 1;
}

static void on_flush(uv_prepare_t *h) {
  struct bench *b = h->data;
  while (b->dirty_head) {
    struct sess *s = b->dirty_head;
    b->dirty_head = s->dirty_next;
    s->dirty = false;
    s->dirty_next = NULL;
    sess_flush(s);
  }
}

static void sess_lost(struct sess *s, const char *what, int status);

static void on_write(uv_write_t *req, int status) {
  struct sess *s = req->data;
  s->writing = false;
  proto_writer_reset(&s->wb[s->wcur ^ 1]);
  if (s->state == ST_SHUT)
    return; /* cancelled by our own close */
  if (status < 0) {
    sess_lost(s, "write", status);
    return;
  }
  if (s->wb[s->wcur].len)
    mark_dirty(s);
}

/* Encodes one request into the collecting buffer and remembers it.  The
 * ring is sized for the largest window, so a full ring is our bug. */
static void sess_send(struct sess *s, enum req_kind kind, bool measured,
                      struct proto_request *req) {
  assert(s->qlen < s->qcap);
  uint64_t now = s->b->now_ns;
  if (req->hdr.type == PROTO_OP_PING)
    req->hdr.xid = PROTO_XID_PING;
  else
    req->hdr.xid = s->next_xid++;
  struct inflight *f = &s->q[(s->qhead + s->qlen) & (s->qcap - 1)];
  f->t0_ns = now;
  f->xid = req->hdr.xid;
  f->op = (int16_t)req->hdr.type;
  f->kind = (uint8_t)kind;
  f->measured = measured;
  s->qlen++;
  if (kind == RK_WORK || kind == RK_ARM || kind == RK_FIRE ||
      kind == RK_REGISTER)
    s->n_work++;
  proto_request_encode(&s->wb[s->wcur], req);
  s->last_send_ns = now;
  mark_dirty(s);
}

/* The value of the next write: fresh random bytes unless --fixed-value
 * (b->value is encoded into the frame before the next call). */
static const uint8_t *next_value(struct bench *b) {
  if (!b->o.fixed_value) {
    for (uint32_t i = 0; i < b->o.value_size; i += 8) {
      uint64_t v = rng_next(&b->value_rng);
      uint32_t n = b->o.value_size - i < 8 ? b->o.value_size - i : 8;
      memcpy(b->value + i, &v, n);
    }
  }
  return b->value;
}

static void send_create(struct sess *s, enum req_kind kind, bool measured,
                        const char *path, size_t path_len, int32_t flags,
                        uint32_t value_len) {
  struct proto_request r;
  memset(&r, 0, sizeof r);
  r.hdr.type = PROTO_OP_CREATE;
  r.u.create.path = slice_of(path, path_len);
  r.u.create.data.ptr = value_len ? next_value(s->b) : s->b->value;
  r.u.create.data.len = (int32_t)value_len;
  r.u.create.acl = s->b->acl;
  r.u.create.flags = flags;
  sess_send(s, kind, measured, &r);
}

static void send_path_op(struct sess *s, enum req_kind kind, bool measured,
                         int32_t op, const char *path, size_t path_len,
                         bool watch) {
  struct proto_request r;
  memset(&r, 0, sizeof r);
  r.hdr.type = op;
  if (op == PROTO_OP_DELETE) {
    r.u.del.path = slice_of(path, path_len);
    r.u.del.version = -1;
  } else {
    r.u.path_watch.path = slice_of(path, path_len);
    r.u.path_watch.watch = watch;
  }
  sess_send(s, kind, measured, &r);
}

static void send_set(struct sess *s, enum req_kind kind, bool measured,
                     const char *path, size_t path_len) {
  struct proto_request r;
  memset(&r, 0, sizeof r);
  r.hdr.type = PROTO_OP_SETDATA;
  r.u.set_data.path = slice_of(path, path_len);
  r.u.set_data.data.ptr = next_value(s->b);
  r.u.set_data.data.len = (int32_t)s->b->o.value_size;
  r.u.set_data.version = -1;
  sess_send(s, kind, measured, &r);
}

static void send_bodyless(struct sess *s, enum req_kind kind, int32_t op) {
  struct proto_request r;
  memset(&r, 0, sizeof r);
  r.hdr.type = op;
  sess_send(s, kind, false, &r);
}

/* ------------------------------------------------------------------ */
/* Workloads: what to send next. */

static bool measuring_open(const struct bench *b) {
  if (b->phase == PH_WARMUP)
    return true;
  if (b->phase != PH_MEASURE)
    return false;
  return b->o.ops == 0 || b->issued_measured < b->o.ops;
}

/* May one more workload operation (round, cycle) start now? */
static bool can_issue(const struct bench *b) {
  if (!measuring_open(b))
    return false;
  if (b->o.workload == WL_CREATE && b->create_next >= b->o.keys)
    return false;
  return true;
}

/* Claims one operation; returns whether it is measured. */
static bool claim_op(struct bench *b) {
  if (b->phase == PH_MEASURE) {
    b->issued_measured++;
    return true;
  }
  return false;
}

static void issue_work(struct sess *s) {
  struct bench *b = s->b;
  char path[BENCH_PATH_MAX];
  bool measured = claim_op(b);
  switch (b->o.workload) {
  case WL_CREATE: {
    size_t n = key_path(b, b->create_next++, path);
    send_create(s, RK_WORK, measured, path, n, PROTO_CREATE_PERSISTENT,
                b->o.value_size);
    break;
  }
  case WL_SET: {
    size_t n = key_path(b, rng_next(&b->rng) % b->o.keys, path);
    send_set(s, RK_WORK, measured, path, n);
    break;
  }
  case WL_GET:
  case WL_EXISTS: {
    size_t n = key_path(b, rng_next(&b->rng) % b->o.keys, path);
    send_path_op(s, RK_WORK, measured,
                 b->o.workload == WL_GET ? PROTO_OP_GETDATA : PROTO_OP_EXISTS,
                 path, n, false);
    break;
  }
  case WL_CHILDREN:
    send_path_op(s, RK_WORK, measured, PROTO_OP_GETCHILDREN, b->base,
                 strlen(b->base), false);
    break;
  case WL_MIXED: {
    uint64_t r = rng_next(&b->rng);
    size_t n = key_path(b, (r >> 8) % b->o.keys, path);
    if ((r & 0xff) % 100 < b->o.read_pct)
      send_path_op(s, RK_WORK, measured, PROTO_OP_GETDATA, path, n, false);
    else
      send_set(s, RK_WORK, measured, path, n);
    break;
  }
  case WL_WATCH:
  case WL_CHURN:
    assert(0 && "driven elsewhere");
    break;
  }
}

/* watch-fanout: every watcher arms a data watch on wpath; when all are
 * armed, session 0 sets the node and the clock runs until every watcher
 * has its event. */
static void watch_round_start(struct bench *b) {
  if (b->w_active || !can_issue(b))
    return;
  b->w_active = true;
  b->w_measured = claim_op(b);
  b->w_armed = 0;
  b->w_events = 0;
  size_t n = strlen(b->wpath);
  for (uint32_t i = 1; i < b->n_sess; i++)
    send_path_op(&b->sess[i], RK_ARM, false, PROTO_OP_GETDATA, b->wpath, n,
                 true);
}

static void watch_fire(struct bench *b) {
  b->w_t0_ns = b->now_ns;
  send_set(&b->sess[0], RK_FIRE, false, b->wpath, strlen(b->wpath));
  /* The round's clock starts at the encode above, like any request. */
}

/* Keeps a session busy: workload operations up to --outstanding, or bulk
 * setup/cleanup requests up to BULK_WINDOW. */
static void pump(struct sess *s) {
  struct bench *b = s->b;
  if (s->state != ST_READY || s->churn)
    return;
  if (b->phase == PH_SETUP_KEYS || b->phase == PH_CLEANUP_KEYS) {
    char path[BENCH_PATH_MAX];
    while (s->qlen < BULK_WINDOW && b->bulk_next < b->bulk_end) {
      size_t n = key_path(b, b->bulk_next++, path);
      if (b->bulk_op == PROTO_OP_CREATE)
        send_create(s, RK_BULK, false, path, n, PROTO_CREATE_PERSISTENT,
                    b->o.value_size);
      else
        send_path_op(s, RK_BULK, false, PROTO_OP_DELETE, path, n, false);
    }
    return;
  }
  if (b->o.workload == WL_WATCH || b->o.workload == WL_CHURN)
    return;
  while (s->n_work < b->o.outstanding && can_issue(b))
    issue_work(s);
}

static void pump_all(struct bench *b) {
  for (uint32_t i = 0; i < b->n_sess; i++)
    pump(&b->sess[i]);
  if (b->o.workload == WL_WATCH)
    watch_round_start(b);
  if (b->o.workload == WL_CHURN)
    for (uint32_t i = 0; i < b->n_slots; i++)
      if (b->slots[i].state == ST_IDLE && !b->slots[i].retired &&
          can_issue(b))
        churn_cycle_start(&b->slots[i]);
}

/* ------------------------------------------------------------------ */
/* Replies. */

/* Checks that a successful reply's body decodes as its opcode says, so a
 * server sending garbage shows up as errors rather than as speed. */
static bool body_ok(const struct bench *b, const struct inflight *f,
                    struct proto_reader *r) {
  int16_t op = f->op;
  struct proto_stat st;
  switch (op) {
  case PROTO_OP_CREATE:
    (void)proto_read_buffer(r);
    break;
  case PROTO_OP_EXISTS:
  case PROTO_OP_SETDATA:
    proto_read_stat(r, &st);
    break;
  case PROTO_OP_GETDATA: {
    struct proto_slice d = proto_read_buffer(r);
    proto_read_stat(r, &st);
    /* Every key this run reads was written with --value-size bytes. */
    if (f->kind == RK_WORK && proto_reader_err(r) == PROTO_OK &&
        (uint32_t)(d.len < 0 ? 0 : d.len) != b->o.value_size)
      return false;
    break;
  }
  case PROTO_OP_GETCHILDREN: {
    int32_t n = proto_read_vector_count(r);
    for (int32_t i = 0; i < n && proto_reader_err(r) == PROTO_OK; i++)
      (void)proto_read_buffer(r);
    break;
  }
  default:
    break;
  }
  return proto_reader_err(r) == PROTO_OK;
}

static void count_error(struct bench *b, int code) {
  bench_errs_add(&b->errs, code, 1);
}

static void on_reply(struct sess *s, const struct inflight *f, int err,
                     struct proto_reader *r) {
  struct bench *b = s->b;
  uint64_t now = b->now_ns;
  if (f->kind == RK_WORK || f->kind == RK_ARM || f->kind == RK_FIRE ||
      f->kind == RK_REGISTER)
    s->n_work--;
  if (err == PROTO_OK && !body_ok(b, f, r))
    err = BENCH_ERR_BAD_REPLY;

  switch ((enum req_kind)f->kind) {
  case RK_WORK:
    if (err != PROTO_OK) {
      count_error(b, err);
    } else if (f->measured) {
      bench_hist_record(&b->hist, now - f->t0_ns);
      b->ops++;
      b->last_done_ns = now;
    }
    break;
  case RK_BULK:
    /* Setup and cleanup are idempotent: what already exists (a key left by
     * an earlier --keep run in the shared root) or is already gone is
     * fine; NOTEMPTY only for the shared root, which other runs use. */
    if (err != PROTO_OK &&
        !(f->op == PROTO_OP_CREATE && err == PROTO_NODEEXISTS) &&
        !(f->op == PROTO_OP_DELETE && err == PROTO_NONODE) &&
        !(f->op == PROTO_OP_DELETE && err == PROTO_NOTEMPTY &&
          b->phase == PH_CLEANUP_DIRS && b->dirs[0].ignore_notempty &&
          b->bulk_done == b->n_dirs - 1)) /* the root is deleted last */
      count_error(b, err);
    b->bulk_done++;
    break;
  case RK_PING:
    break;
  case RK_ARM:
    if (err != PROTO_OK) {
      bench_fail(b, err, "watch-fanout: getData with watch failed");
      return;
    }
    if (++b->w_armed == b->n_sess - 1)
      watch_fire(b);
    break;
  case RK_FIRE:
    if (err != PROTO_OK) {
      bench_fail(b, err, "watch-fanout: setData failed");
      return;
    }
    break;
  case RK_REGISTER:
    if (err != PROTO_OK) {
      count_error(b, err);
      s->retired = true; /* do not hammer a server that refuses */
    }
    send_bodyless(s, RK_CLOSE, PROTO_OP_CLOSESESSION);
    s->state = ST_CLOSING;
    break;
  case RK_CLOSE:
    if (err != PROTO_OK)
      count_error(b, err);
    s->cycle_done = err == PROTO_OK;
    sess_shut(s);
    break;
  }
}

/* A notification (xid -1). */
static void on_event(struct sess *s, struct proto_reader *r) {
  struct bench *b = s->b;
  struct proto_watcher_event ev;
  proto_read_watcher_event(r, &ev);
  if (proto_reader_err(r) != PROTO_OK) {
    bench_fail(b, BENCH_ERR_BAD_REPLY, "undecodable watch event");
    return;
  }
  if (b->o.workload != WL_WATCH || !b->w_active ||
      ev.type != PROTO_EVENT_NODE_DATA_CHANGED ||
      ev.path.len != (int32_t)strlen(b->wpath) ||
      memcmp(ev.path.ptr, b->wpath, (size_t)ev.path.len) != 0)
    return;
  b->w_events++;
  if (b->w_events == b->n_sess - 1) {
    uint64_t now = b->now_ns;
    if (b->w_measured) {
      bench_hist_record(&b->hist, now - b->w_t0_ns);
      b->ops++;
      b->events += b->w_events;
      b->last_done_ns = now;
    }
    b->w_active = false;
    watch_round_start(b);
  }
}

static void on_handshake(struct sess *s, const uint8_t *p, size_t n) {
  struct proto_connect_response cr;
  if (proto_connect_response_decode(p, n, &cr) != PROTO_OK) {
    if (s->churn) {
      count_error(s->b, BENCH_ERR_BAD_REPLY);
      s->retired = true;
      sess_shut(s);
      return;
    }
    bench_fail(s->b, BENCH_ERR_BAD_REPLY, "undecodable ConnectResponse");
    return;
  }
  if (cr.timeout_ms <= 0 || cr.session_id == 0) {
    if (s->churn) {
      count_error(s->b, BENCH_ERR_EXPIRED);
      s->retired = true;
      sess_shut(s);
      return;
    }
    bench_fail(s->b, BENCH_ERR_EXPIRED, "server refused the session");
    return;
  }
  s->state = ST_READY;
  if (s->churn) {
    send_create(s, RK_REGISTER, false, s->b->epath, strlen(s->b->epath),
                PROTO_CREATE_EPHEMERAL_SEQUENTIAL, s->b->o.value_size);
    return;
  }
  pump(s);
}

/* One complete frame (payload without the length). */
static void on_frame(struct sess *s, const uint8_t *p, size_t n) {
  struct bench *b = s->b;
  b->last_reply_ns = b->now_ns;
  if (s->state == ST_HANDSHAKE) {
    on_handshake(s, p, n);
    return;
  }
  struct proto_reader r;
  proto_reader_init(&r, p, n, MAX_REPLY_FRAME);
  struct proto_reply_header h;
  proto_read_reply_header(&r, &h);
  if (proto_reader_err(&r) != PROTO_OK) {
    bench_fail(b, BENCH_ERR_BAD_REPLY, "reply shorter than a ReplyHeader");
    return;
  }
  if (h.xid == PROTO_XID_NOTIFICATION) {
    on_event(s, &r);
    return;
  }
  if (s->qlen == 0 || s->q[s->qhead].xid != h.xid) {
    char msg[128];
    snprintf(msg, sizeof msg, "reply xid %d out of order (expected %d)",
             h.xid, s->qlen ? s->q[s->qhead].xid : 0);
    bench_fail(b, BENCH_ERR_BAD_REPLY, msg);
    return;
  }
  struct inflight f = s->q[s->qhead];
  s->qhead = (s->qhead + 1) & (s->qcap - 1);
  s->qlen--;
  on_reply(s, &f, h.err, &r);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct sess *s = h->data;
  (void)suggested;
  /* on_read keeps at least 4 KiB free (it grows the buffer to the size of
   * a frame it has seen the length of), so this never allocates. */
  *buf = uv_buf_init((char *)s->rbuf + s->rlen, (unsigned)(s->rcap - s->rlen));
}

static bool rbuf_reserve(struct sess *s, size_t need) {
  if (need <= s->rcap)
    return true;
  size_t cap = s->rcap * 2;
  while (cap < need)
    cap *= 2;
  uint8_t *nb = realloc(s->rbuf, cap);
  if (!nb)
    return false;
  s->rbuf = nb;
  s->rcap = cap;
  return true;
}

/* TLS: the n bytes of ciphertext just read at rbuf + rlen go into the
 * engine, and its plaintext is appended at rlen instead. */
static int tls_open(struct sess *s, size_t n) {
  if (tls_conn_feed(s->tls, s->rbuf + s->rlen, n) != TLS_OK) {
    bench_fail(s->b, BENCH_ERR_CONN_LOST, tls_conn_errmsg(s->tls));
    return -1;
  }
  for (;;) {
    if (s->rcap - s->rlen < 4096 && !rbuf_reserve(s, s->rcap + 16384)) {
      bench_fail(s->b, BENCH_ERR_BAD_REPLY, "out of memory for a reply");
      return -1;
    }
    ssize_t r = tls_conn_read(s->tls, s->rbuf + s->rlen, s->rcap - s->rlen);
    if (r == 0 || r == TLS_EOF) /* close_notify: the TCP EOF follows */
      break;
    if (r < 0) {
      bench_fail(s->b, BENCH_ERR_CONN_LOST, tls_conn_errmsg(s->tls));
      return -1;
    }
    s->rlen += (size_t)r;
  }
  if (tls_conn_pending_out(s->tls) > 0)
    mark_dirty(s);
  return 0;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  struct sess *s = stream->data;
  (void)buf;
  if (nread == 0)
    return;
  clock_now(s->b); /* when these replies arrived */
  if (nread < 0) {
    if (s->state == ST_CLOSING) {
      /* The server closes after answering closeSession; closing before
       * the answer loses it. */
      if (s->qlen)
        bench_errs_add(&s->b->errs, BENCH_ERR_CONN_LOST, 1);
      sess_shut(s);
      return;
    }
    sess_lost(s, "read", (int)nread);
    return;
  }
  if (s->tls != NULL) {
    if (tls_open(s, (size_t)nread) != 0)
      return;
  } else
    s->rlen += (size_t)nread;
  size_t off = 0;
  while (s->rlen - off >= 4 && s->state != ST_SHUT) {
    uint32_t len = proto_load_be32(s->rbuf + off);
    if (len > MAX_REPLY_FRAME) {
      bench_fail(s->b, BENCH_ERR_BAD_REPLY, "reply frame length out of range");
      return;
    }
    if (s->rlen - off - 4 < len) {
      if (!rbuf_reserve(s, (size_t)len + 4 + 4096)) {
        bench_fail(s->b, BENCH_ERR_BAD_REPLY, "out of memory for a reply");
        return;
      }
      break;
    }
    on_frame(s, s->rbuf + off + 4, len);
    off += 4 + (size_t)len;
    if (s->b->phase == PH_DONE && s->b->failed)
      return; /* bench_fail tore everything down */
  }
  if (off) {
    memmove(s->rbuf, s->rbuf + off, s->rlen - off);
    s->rlen -= off;
  }
  if (s->rcap - s->rlen < 4096 && !rbuf_reserve(s, s->rcap + 4096)) {
    bench_fail(s->b, BENCH_ERR_BAD_REPLY, "out of memory for a reply");
    return;
  }
  /* Refill the window once for the whole batch, stamped after the batch
   * was handled, so the new requests' clocks start when they are sent. */
  clock_now(s->b);
  pump(s);
  advance(s->b);
}

/* ------------------------------------------------------------------ */
/* Connections. */

static void on_close(uv_handle_t *h) {
  struct sess *s = h->data;
  struct bench *b = s->b;
  s->state = ST_IDLE;
  tls_conn_free(s->tls);
  s->tls = NULL;
  b->n_handles_open--;
  if (s->churn && b->phase != PH_DONE) {
    if (!s->retired && s->cycle_done && s->cycle_measured) {
      /* The cycle ends when the connection is gone: that is when a
       * service instance would be fully deregistered. */
      uint64_t now = clock_now(b);
      bench_hist_record(&b->hist, now - s->cycle_t0);
      b->ops++;
      b->last_done_ns = now;
    }
    b->last_reply_ns = clock_now(b);
    if (!s->retired && can_issue(b))
      churn_cycle_start(s);
  }
  advance(b);
}

/* Closes the handle (idempotent).  In-flight requests are forgotten. */
static void sess_shut(struct sess *s) {
  if (s->state == ST_IDLE || s->state == ST_SHUT)
    return;
  s->state = ST_SHUT;
  s->n_work = 0;
  s->qlen = 0;
  uv_close((uv_handle_t *)&s->tcp, on_close);
}

static void sess_lost(struct sess *s, const char *what, int status) {
  struct bench *b = s->b;
  char msg[200];
  snprintf(msg, sizeof msg, "session %u: %s: %s (%u requests in flight)",
           s->index, what, uv_strerror(status), s->qlen);
  if (s->churn) {
    /* One lost cycle is an error, not the end of the run; the slot stops
     * so a dead server cannot turn this into a busy loop. */
    bench_errs_add(&b->errs, BENCH_ERR_CONN_LOST, 1);
    if (!b->failed)
      snprintf(b->errmsg, sizeof b->errmsg, "%s", msg);
    s->retired = true;
    sess_shut(s);
    return;
  }
  bench_fail(b, BENCH_ERR_CONN_LOST, msg);
}

static void on_connect(uv_connect_t *req, int status) {
  struct sess *s = req->data;
  if (s->state == ST_SHUT)
    return;
  if (status < 0) {
    char msg[200];
    snprintf(msg, sizeof msg, "connect: %s", uv_strerror(status));
    if (s->churn) {
      bench_errs_add(&s->b->errs, BENCH_ERR_CONNECT, 1);
      s->retired = true;
      sess_shut(s);
      return;
    }
    bench_fail(s->b, BENCH_ERR_CONNECT, msg);
    return;
  }
  uv_tcp_nodelay(&s->tcp, 1);
  if (s->b->tls_ctx != NULL &&
      (s->tls = tls_conn_new(s->b->tls_ctx, NULL)) == NULL) {
    bench_fail(s->b, BENCH_ERR_CONNECT, "out of memory for TLS");
    return;
  }
  int rc = uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
  if (rc != 0) {
    sess_lost(s, "read_start", rc);
    return;
  }
  static const uint8_t zero_passwd[PROTO_PASSWD_LEN];
  struct proto_connect_request cr;
  memset(&cr, 0, sizeof cr);
  cr.timeout_ms = (int32_t)s->b->o.session_timeout_ms;
  cr.passwd.ptr = zero_passwd;
  cr.passwd.len = PROTO_PASSWD_LEN;
  cr.has_read_only = true;
  s->state = ST_HANDSHAKE;
  proto_connect_request_encode(&s->wb[s->wcur], &cr);
  s->last_send_ns = clock_now(s->b);
  mark_dirty(s);
}

static void sess_start_connect(struct sess *s) {
  struct bench *b = s->b;
  int rc = uv_tcp_init(&b->loop, &s->tcp);
  if (rc != 0) {
    bench_fail(b, BENCH_ERR_CONNECT, "uv_tcp_init failed");
    return;
  }
  s->tcp.data = s;
  b->n_handles_open++;
  s->state = ST_CONNECTING;
  s->rlen = 0;
  s->qlen = 0;
  s->n_work = 0;
  s->next_xid = 1;
  proto_writer_reset(&s->wb[0]);
  proto_writer_reset(&s->wb[1]);
  const struct sockaddr *addr =
      (const struct sockaddr *)&b->o.hosts[s->index % b->o.n_hosts];
  rc = uv_tcp_connect(&s->creq, &s->tcp, addr, on_connect);
  if (rc != 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "connect: %s", uv_strerror(rc));
    if (s->churn) {
      bench_errs_add(&b->errs, BENCH_ERR_CONNECT, 1);
      s->retired = true;
      sess_shut(s);
      return;
    }
    bench_fail(b, BENCH_ERR_CONNECT, msg);
  }
}

static void churn_cycle_start(struct sess *s) {
  struct bench *b = s->b;
  s->cycle_measured = claim_op(b);
  s->cycle_t0 = clock_now(b);
  s->cycle_done = false;
  sess_start_connect(s);
}

/* ------------------------------------------------------------------ */
/* Phases. */

static bool all_ready(const struct bench *b) {
  for (uint32_t i = 0; i < b->n_sess; i++)
    if (b->sess[i].state != ST_READY)
      return false;
  return true;
}

static bool all_queues_empty(const struct bench *b) {
  for (uint32_t i = 0; i < b->n_sess; i++)
    if (b->sess[i].qlen != 0)
      return false;
  return true;
}

static bool work_in_flight(const struct bench *b) {
  for (uint32_t i = 0; i < b->n_sess; i++)
    if (b->sess[i].n_work != 0)
      return true;
  for (uint32_t i = 0; i < b->n_slots; i++)
    if (b->slots[i].state != ST_IDLE)
      return true;
  return b->w_active;
}

static void on_phase_timer(uv_timer_t *t);

static void start_phase_timer(struct bench *b, double seconds) {
  uint64_t ms = (uint64_t)(seconds * 1000.0 + 0.5);
  uv_timer_start(&b->phase_timer, on_phase_timer, ms, 0);
}

static void enter_measure(struct bench *b) {
  b->phase = PH_MEASURE;
  b->measure_t0_ns = clock_now(b);
  b->last_done_ns = b->measure_t0_ns;
  b->last_progress_ns = b->measure_t0_ns;
  b->last_progress_ops = 0;
  bench_cpu_sample(&b->cpu_start, &b->o);
  if (b->o.duration_s > 0)
    start_phase_timer(b, b->o.duration_s);
}

static void enter_workload(struct bench *b) {
  b->setup_s = (double)(clock_now(b) - b->setup_t0_ns) / 1e9;
  if (b->o.warmup_s > 0) {
    b->phase = PH_WARMUP;
    start_phase_timer(b, b->o.warmup_s);
  } else {
    enter_measure(b);
  }
}

static void on_phase_timer(uv_timer_t *t) {
  struct bench *b = t->data;
  clock_now(b);
  if (b->phase == PH_WARMUP)
    enter_measure(b);
  else if (b->phase == PH_MEASURE)
    b->phase = PH_DRAIN;
  advance(b);
}

static void start_dirs(struct bench *b, enum phase ph) {
  b->phase = ph;
  b->bulk_done = 0;
  struct sess *s0 = &b->sess[0];
  /* All on session 0, pipelined: FIFO order makes each parent exist (or
   * be gone) before the next request is looked at. */
  for (uint32_t i = 0; i < b->n_dirs; i++) {
    uint32_t d = ph == PH_SETUP_DIRS ? i : b->n_dirs - 1 - i;
    const char *p = b->dirs[d].path;
    if (ph == PH_SETUP_DIRS)
      send_create(s0, RK_BULK, false, p, strlen(p), PROTO_CREATE_PERSISTENT,
                  0);
    else
      send_path_op(s0, RK_BULK, false, PROTO_OP_DELETE, p, strlen(p), false);
  }
}

static void start_keys(struct bench *b, enum phase ph, uint64_t n,
                       int16_t op) {
  b->phase = ph;
  b->bulk_next = 0;
  b->bulk_end = n;
  b->bulk_done = 0;
  b->bulk_op = op;
  if (ph == PH_SETUP_KEYS)
    b->setup_items += n;
}

/* Every session syncs the run's parent: its server then has applied all
 * that the leader had committed, the whole key space included. */
static void start_sync(struct bench *b) {
  b->phase = PH_SETUP_SYNC;
  for (uint32_t i = 0; i < b->n_sess; i++) {
    struct proto_request r;
    memset(&r, 0, sizeof r);
    r.hdr.type = PROTO_OP_SYNC;
    r.u.path.path = slice_of(b->base, b->base_len);
    sess_send(&b->sess[i], RK_BULK, false, &r);
  }
}

static void start_close(struct bench *b) {
  b->phase = PH_CLOSE;
  for (uint32_t i = 0; i < b->n_sess; i++) {
    struct sess *s = &b->sess[i];
    if (s->state == ST_READY) {
      send_bodyless(s, RK_CLOSE, PROTO_OP_CLOSESESSION);
      s->state = ST_CLOSING;
    }
  }
}

static void finish_measure(struct bench *b) {
  if (b->measure_closed)
    return;
  b->measure_closed = true;
  bench_cpu_sample(&b->cpu_end, &b->o);
  uv_timer_stop(&b->phase_timer);
}

/* The phase machine: called after every batch of replies and every timer,
 * it moves on as far as the current state allows. */
static void advance(struct bench *b) {
  enum phase entered = b->phase;
  for (int guard = 0; guard < 16; guard++) {
    enum phase before = b->phase;
    switch (b->phase) {
    case PH_CONNECT:
      if (all_ready(b))
        start_dirs(b, PH_SETUP_DIRS);
      break;
    case PH_SETUP_DIRS:
      if (all_queues_empty(b)) {
        uint64_t keys = 0;
        if (b->o.workload == WL_SET || b->o.workload == WL_GET ||
            b->o.workload == WL_EXISTS || b->o.workload == WL_CHILDREN ||
            b->o.workload == WL_MIXED)
          keys = b->o.keys;
        start_keys(b, PH_SETUP_KEYS, keys, PROTO_OP_CREATE);
      }
      break;
    case PH_SETUP_KEYS:
      if (b->bulk_next == b->bulk_end && all_queues_empty(b)) {
        if (b->o.n_hosts > 1)
          start_sync(b);
        else
          enter_workload(b);
      }
      break;
    case PH_SETUP_SYNC:
      if (all_queues_empty(b))
        enter_workload(b);
      break;
    case PH_WARMUP:
      break;
    case PH_MEASURE:
      if (!can_issue(b))
        b->phase = PH_DRAIN;
      break;
    case PH_DRAIN:
      if (!work_in_flight(b)) {
        finish_measure(b);
        if (b->o.keep) {
          start_close(b);
        } else {
          uint64_t n = b->o.workload == WL_CREATE ? b->create_next
                       : b->setup_items;
          start_keys(b, PH_CLEANUP_KEYS, n, PROTO_OP_DELETE);
        }
      }
      break;
    case PH_CLEANUP_KEYS:
      if (b->bulk_next == b->bulk_end && all_queues_empty(b))
        start_dirs(b, PH_CLEANUP_DIRS);
      break;
    case PH_CLEANUP_DIRS:
      if (all_queues_empty(b))
        start_close(b);
      break;
    case PH_CLOSE:
      if (b->n_handles_open == 0)
        b->phase = PH_DONE;
      break;
    case PH_DONE:
      if (b->n_handles_open == 0 && !uv_is_closing((uv_handle_t *)&b->tick)) {
        uv_close((uv_handle_t *)&b->tick, NULL);
        uv_close((uv_handle_t *)&b->phase_timer, NULL);
        uv_close((uv_handle_t *)&b->flusher, NULL);
      }
      return;
    }
    if (b->phase == before)
      break;
  }
  /* A new phase may give every session work; otherwise each session
   * refills itself when its replies arrive (pumping all of them on every
   * read would cost O(sessions) per batch). */
  if (b->phase != PH_DONE && b->phase != entered)
    pump_all(b);
}

/* ------------------------------------------------------------------ */
/* Once a second: progress, keep-alive pings, and the stall watchdog. */

static void on_tick(uv_timer_t *t) {
  struct bench *b = t->data;
  uint64_t now = clock_now(b);
  if (b->phase == PH_DONE)
    return;

  bool waiting = work_in_flight(b) || !all_queues_empty(b) ||
                 b->phase == PH_CONNECT;
  if (waiting &&
      (double)(now - b->last_reply_ns) / 1e9 > b->o.timeout_s) {
    char msg[160];
    snprintf(msg, sizeof msg, "no reply for %.1f s during %s (--timeout)",
             b->o.timeout_s, phase_names[b->phase]);
    bench_fail(b, BENCH_ERR_STALLED, msg);
    return;
  }

  for (uint32_t i = 0; i < b->n_sess; i++) {
    struct sess *s = &b->sess[i];
    if (s->state == ST_READY && now - s->last_send_ns > PING_IDLE_NS &&
        s->qlen < s->qcap)
      send_bodyless(s, RK_PING, PROTO_OP_PING);
  }

  if (b->o.quiet)
    return;
  double at = (double)(now - b->run_t0_ns) / 1e9;
  if (b->phase == PH_SETUP_KEYS || b->phase == PH_CLEANUP_KEYS) {
    fprintf(stderr, "[%6.1fs] %-7s %llu/%llu znodes  errors %llu\n", at,
            phase_names[b->phase], (unsigned long long)b->bulk_done,
            (unsigned long long)b->bulk_end,
            (unsigned long long)b->errs.total);
  } else if (b->phase == PH_MEASURE || b->phase == PH_DRAIN) {
    double dt = (double)(now - b->last_progress_ns) / 1e9;
    double rate = dt > 0 ? (double)(b->ops - b->last_progress_ops) / dt : 0;
    fprintf(stderr,
            "[%6.1fs] %-7s %10.0f ops/s  p99 %9.1f us  ops %llu  errors "
            "%llu\n",
            at, phase_names[b->phase], rate,
            (double)bench_hist_percentile(&b->hist, 99) / 1000.0,
            (unsigned long long)b->ops, (unsigned long long)b->errs.total);
    b->last_progress_ns = now;
    b->last_progress_ops = b->ops;
  } else {
    fprintf(stderr, "[%6.1fs] %-7s errors %llu\n", at, phase_names[b->phase],
            (unsigned long long)b->errs.total);
  }
}

/* ------------------------------------------------------------------ */
/* Set-up and tear-down of the bench object. */

static uint32_t pow2_at_least(uint32_t n) {
  uint32_t p = 1;
  while (p < n)
    p <<= 1;
  return p;
}

static int sess_init(struct bench *b, struct sess *s, uint32_t index,
                     bool churn) {
  memset(s, 0, sizeof *s);
  s->b = b;
  s->index = index;
  s->churn = churn;
  s->wreq.data = s;
  s->creq.data = s;
  proto_writer_init(&s->wb[0]);
  proto_writer_init(&s->wb[1]);
  uint32_t window = b->o.outstanding > BULK_WINDOW ? b->o.outstanding
                                                   : BULK_WINDOW;
  s->qcap = churn ? 8 : pow2_at_least(window + 8);
  s->q = calloc(s->qcap, sizeof *s->q);
  /* Room for a batch of replies carrying the value; grows if a frame
   * needs more. */
  s->rcap = churn ? 4096 : 65536;
  if (!churn && s->rcap < 4u * (b->o.value_size + 512))
    s->rcap = 4u * (b->o.value_size + 512);
  s->rbuf = malloc(s->rcap);
  /* Pre-grow the write buffers for a full window so the hot path does not
   * reallocate them. */
  size_t wcap = (size_t)(churn ? 2 : window) * (b->o.value_size + 160);
  if (!s->q || !s->rbuf || !proto_writer_reserve(&s->wb[0], wcap) ||
      !proto_writer_reserve(&s->wb[1], wcap))
    return -1;
  return 0;
}

static void sess_free(struct sess *s) {
  free(s->q);
  free(s->rbuf);
  proto_writer_free(&s->wb[0]);
  proto_writer_free(&s->wb[1]);
}

static int bench_init(struct bench *b) {
  const struct bench_opts *o = &b->o;
  b->rng = o->seed;
  bench_hist_reset(&b->hist);

  /* A name of its own per run, so concurrent runs do not collide. */
  snprintf(b->base, sizeof b->base, "%s/b%d-%llu", o->root, (int)getpid(),
           (unsigned long long)(uv_hrtime() / 1000 % 1000000000));
  snprintf(b->wpath, sizeof b->wpath, "%.159s/w", b->base);
  snprintf(b->spath, sizeof b->spath, "%.159s/svc", b->base);
  snprintf(b->epath, sizeof b->epath, "%.200s/i-", b->spath);
  b->base_len = strlen(b->base);
  if (o->root[0]) {
    snprintf(b->dirs[b->n_dirs].path, BENCH_PATH_MAX, "%s", o->root);
    b->dirs[b->n_dirs++].ignore_notempty = true;
  }
  snprintf(b->dirs[b->n_dirs++].path, BENCH_PATH_MAX, "%s", b->base);
  if (o->workload == WL_WATCH)
    snprintf(b->dirs[b->n_dirs++].path, BENCH_PATH_MAX, "%s", b->wpath);
  if (o->workload == WL_CHURN)
    snprintf(b->dirs[b->n_dirs++].path, BENCH_PATH_MAX, "%s", b->spath);

  b->value = malloc(o->value_size ? o->value_size : 1);
  if (!b->value)
    return -1;
  uint64_t vr = o->seed ^ UINT64_C(0x5eed);
  for (uint32_t i = 0; i < o->value_size; i++)
    b->value[i] = (uint8_t)('a' + rng_next(&vr) % 26);
  b->value_rng = vr;

  /* OPEN_ACL_UNSAFE = [(ALL, world, anyone)], or [(ALL, ip, --acl-ip)],
   * encoded once. */
  struct proto_writer w;
  proto_writer_init(&w);
  struct proto_acl a = {PROTO_PERM_ALL,
                        {slice_of("world", 5), slice_of("anyone", 6)}};
  if (o->acl_ip[0]) {
    a.id.scheme = slice_of("ip", 2);
    a.id.id = slice_of(o->acl_ip, strlen(o->acl_ip));
  }
  proto_write_acl(&w, &a);
  if (proto_writer_err(&w) != PROTO_OK || w.len > sizeof b->acl_raw) {
    proto_writer_free(&w);
    return -1;
  }
  memcpy(b->acl_raw, w.buf, w.len);
  b->acl.raw.ptr = b->acl_raw;
  b->acl.raw.len = (int32_t)w.len;
  b->acl.count = 1;
  proto_writer_free(&w);

  /* watch-fanout: one writer plus the watchers; churn: one session for
   * setup and cleanup, plus the slots that cycle. */
  b->n_sess = o->workload == WL_WATCH   ? o->sessions + 1
              : o->workload == WL_CHURN ? 1
                                        : o->sessions;
  b->n_slots = o->workload == WL_CHURN ? o->sessions : 0;
  b->sess = calloc(b->n_sess, sizeof *b->sess);
  b->slots = b->n_slots ? calloc(b->n_slots, sizeof *b->slots) : NULL;
  if (!b->sess || (b->n_slots && !b->slots))
    return -1;
  for (uint32_t i = 0; i < b->n_sess; i++)
    if (sess_init(b, &b->sess[i], i, false) != 0)
      return -1;
  for (uint32_t i = 0; i < b->n_slots; i++)
    if (sess_init(b, &b->slots[i], i, true) != 0)
      return -1;
  return 0;
}

static void bench_free(struct bench *b) {
  if (b->sess)
    for (uint32_t i = 0; i < b->n_sess; i++)
      sess_free(&b->sess[i]);
  if (b->slots)
    for (uint32_t i = 0; i < b->n_slots; i++)
      sess_free(&b->slots[i]);
  free(b->sess);
  free(b->slots);
  free(b->value);
}

/* Many sessions need many descriptors; take what the hard limit allows. */
static void raise_fd_limit(uint32_t want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return;
  rlim_t need = (rlim_t)want + 64;
  if (rl.rlim_cur >= need)
    return;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need
                    ? need
                    : rl.rlim_max;
  (void)setrlimit(RLIMIT_NOFILE, &rl);
}

int main(int argc, char **argv) {
  struct bench *b = calloc(1, sizeof *b);
  if (!b) {
    fprintf(stderr, "roost-bench: out of memory\n");
    return 1;
  }
  char err[256] = "";
  int rc = bench_opts_parse(&b->o, argc, argv, err, sizeof err);
  if (rc != 0) {
    free(b);
    if (rc > 0)
      return 0;
    fprintf(stderr, "roost-bench: %s\n", err);
    return 2;
  }
  if (b->o.tls_ca[0] || b->o.tls_cert[0]) {
    struct tls_options t;
    char terr[TLS_ERRMSG_MAX];
    tls_options_defaults(&t);
    snprintf(t.trust_store_location, sizeof t.trust_store_location, "%s",
             b->o.tls_ca);
    snprintf(t.key_store_location, sizeof t.key_store_location, "%s",
             b->o.tls_cert);
    snprintf(t.key_location, sizeof t.key_location, "%s", b->o.tls_key);
    if (tls_ctx_new(&t, TLS_ROLE_CLIENT, "--tls ", &b->tls_ctx, terr) != 0) {
      fprintf(stderr, "roost-bench: %s\n", terr);
      free(b);
      return 2;
    }
  }
  raise_fd_limit(b->o.sessions + 1);
  if (bench_init(b) != 0) {
    fprintf(stderr, "roost-bench: out of memory setting up %u sessions\n",
                    b->o.sessions);
    tls_ctx_free(b->tls_ctx);
    bench_free(b);
    free(b);
    return 1;
  }
  if (uv_loop_init(&b->loop) != 0) {
    fprintf(stderr, "roost-bench: uv_loop_init failed\n");
    tls_ctx_free(b->tls_ctx);
    bench_free(b);
    free(b);
    return 1;
  }
  uv_timer_init(&b->loop, &b->tick);
  uv_timer_init(&b->loop, &b->phase_timer);
  uv_prepare_init(&b->loop, &b->flusher);
  b->tick.data = b->phase_timer.data = b->flusher.data = b;
  uv_prepare_start(&b->flusher, on_flush);
  uv_timer_start(&b->tick, on_tick, 1000, 1000);

  b->run_t0_ns = b->setup_t0_ns = b->last_reply_ns = clock_now(b);
  b->phase = PH_CONNECT;
  for (uint32_t i = 0; i < b->n_sess && !b->failed; i++)
    sess_start_connect(&b->sess[i]);

  uv_run(&b->loop, UV_RUN_DEFAULT);
  int close_rc = uv_loop_close(&b->loop);
  assert(close_rc == 0); /* every handle is closed by the phase machine */
  (void)close_rc;

  if (!b->measure_closed) /* a failed run: figures up to the failure */
    bench_cpu_sample(&b->cpu_end, &b->o);
  if (b->measure_t0_ns == 0)
    b->cpu_start = b->cpu_end;

  struct bench_result res;
  memset(&res, 0, sizeof res);
  res.o = &b->o;
  res.ops = b->ops;
  res.events = b->events;
  res.elapsed_s = b->measure_t0_ns && b->last_done_ns > b->measure_t0_ns
                      ? (double)(b->last_done_ns - b->measure_t0_ns) / 1e9
                      : 0;
  res.setup_s = b->setup_s;
  res.setup_items = b->setup_items;
  res.hist = &b->hist;
  res.errs = &b->errs;
  res.cpu_start = b->cpu_start;
  res.cpu_end = b->cpu_end;
  res.failed = b->failed;
  snprintf(res.errmsg, sizeof res.errmsg, "%s", b->errmsg);
  bench_report_print(&res, stdout);
  if (b->failed || b->errs.total)
    fprintf(stderr, "roost-bench: %s%s\n",
            b->failed ? "run failed: " : "operations failed; see errors",
            b->failed ? b->errmsg : "");

  int status = 0;
  if (b->failed || (b->errs.total && !b->o.allow_errors))
    status = 1;
  tls_ctx_free(b->tls_ctx);
  bench_free(b);
  free(b);
  return status;
}
