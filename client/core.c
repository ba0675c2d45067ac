/* core.c — the session state machine (no sockets, no clock, no threads).
 *
 *   DISCONNECTED --connected()--> HANDSHAKE --ConnectResponse ok--> CONNECTED
 *        ^                           |  timeout 0 / id 0 / other id  |
 *        |                           v                              |
 *        +------disconnected()--- EXPIRED (until new_session())      |
 *        +-------------------------disconnected()--------------------+
 *   any --shutdown()--> CLOSED;  CONNECTED --closeSession reply--> CLOSED
 *
 * Replies must come in request order (§3.5): the head of the sent queue is
 * the only request a reply may answer; anything else is a protocol error
 * and costs the connection, never the process.  Pings (-2), auth (-4),
 * setWatches (-8) and notifications (-1) are matched out of band.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"

#define RC_SETWATCHES_BATCH_BYTES (128 * 1024)

/* ------------------------------------------------------------------ */
/* Small helpers */

static void set_err(struct rc_core *k, const char *msg) {
  snprintf(k->errmsg, sizeof k->errmsg, "%s", msg);
}

struct rc_req *rc_req_new(int kind) {
  struct rc_req *r = calloc(1, sizeof *r);
  if (r != NULL)
    r->kind = kind;
  return r;
}

void rc_req_free(struct rc_req *r) {
  if (r == NULL)
    return;
  free(r->frame);
  free(r->watch_path);
  free(r->scheme);
  free(r->cred);
  free(r->multi_ops);
  free(r);
}

char *rc_core_server_path(const struct rc_core *k, const char *path) {
  size_t n = strlen(path);
  if (k->chroot == NULL)
    return rc_strndup(path, n);
  if (n == 1) /* "/" under a chroot is the chroot itself */
    return rc_strndup(k->chroot, k->chroot_len);
  char *s = malloc(k->chroot_len + n + 1);
  if (s == NULL)
    return NULL;
  memcpy(s, k->chroot, k->chroot_len);
  memcpy(s + k->chroot_len, path, n + 1);
  return s;
}

char *rc_core_client_path(const struct rc_core *k, const char *p, size_t n) {
  if (k->chroot == NULL)
    return rc_strndup(p, n);
  if (n < k->chroot_len || memcmp(p, k->chroot, k->chroot_len) != 0)
    return NULL;
  if (n == k->chroot_len)
    return rc_strndup("/", 1);
  if (p[k->chroot_len] != '/')
    return NULL;
  return rc_strndup(p + k->chroot_len, n - k->chroot_len);
}

/* ------------------------------------------------------------------ */
/* Delivery queue */

static void dq_push(struct rc_core *k, struct rc_dlv *d) {
  d->next = NULL;
  if (k->dq_t)
    k->dq_t->next = d;
  else
    k->dq_h = d;
  k->dq_t = d;
}

/* Queues the completion of req with res (both owned by the queue now).  A
 * NULL res (out of memory) is replaced by a bare ENOMEM result if
 * possible; if even that fails the request completes without result. */
static void complete(struct rc_core *k, struct rc_req *req, roost_result *res) {
  struct rc_dlv *d = calloc(1, sizeof *d);
  if (d == NULL) {
    /* Nowhere to queue: deliver now rather than lose the callback (the
     * only case where order may be broken, and only under OOM). */
    if (res == NULL)
      res = rc_result_new(req->rop, ROOST_ENOMEM);
    if (k->cfg.on_done)
      k->cfg.on_done(k->cfg.owner);
    if (req->waiter)
      k->cfg.on_waiter(req->waiter, res);
    else {
      if (req->cb && res)
        req->cb(k->cfg.client, res, req->arg);
      roost_result_free(res);
    }
    rc_req_free(req);
    return;
  }
  d->kind = RC_DLV_REPLY;
  d->req = req;
  d->res = res;
  dq_push(k, d);
}

static void complete_err(struct rc_core *k, struct rc_req *req, int err) {
  complete(k, req, rc_result_new(req->rop, err));
}

static void queue_session(struct rc_core *k, int event) {
  struct rc_dlv *d = calloc(1, sizeof *d);
  if (d == NULL) {
    if (k->cfg.on_session)
      k->cfg.on_session(k->cfg.owner, event);
    return;
  }
  d->kind = RC_DLV_SESSION;
  d->type = event;
  dq_push(k, d);
}

static void queue_watch(struct rc_core *k, roost_watch_cb cb, void *arg,
                        int type, const char *server_path, size_t n) {
  struct rc_dlv *d = calloc(1, sizeof *d);
  char *p = server_path ? rc_core_client_path(k, server_path, n) : NULL;
  if (p == NULL && server_path != NULL) /* outside the chroot: getConfig */
    p = rc_strndup(server_path, n);
  if (d == NULL) {
    cb(k->cfg.client, type, p ? p : "", arg);
    free(p);
    return;
  }
  d->kind = RC_DLV_WATCH;
  d->wcb = cb;
  d->warg = arg;
  d->type = type;
  d->path = p;
  dq_push(k, d);
}

void rc_core_drain(struct rc_core *k) {
  struct rc_dlv *d;
  while ((d = k->dq_h) != NULL) {
    k->dq_h = d->next;
    if (k->dq_h == NULL)
      k->dq_t = NULL;
    switch (d->kind) {
    case RC_DLV_REPLY:
      if (d->res == NULL)
        d->res = rc_result_new(d->req->rop, ROOST_ENOMEM);
      if (k->cfg.on_done)
        k->cfg.on_done(k->cfg.owner);
      if (d->req->waiter) {
        k->cfg.on_waiter(d->req->waiter, d->res);
        d->res = NULL;
      } else if (d->req->cb && d->res) {
        d->req->cb(k->cfg.client, d->res, d->req->arg);
      }
      roost_result_free(d->res);
      rc_req_free(d->req);
      break;
    case RC_DLV_WATCH:
      d->wcb(k->cfg.client, d->type, d->path ? d->path : "", d->warg);
      free(d->path);
      break;
    case RC_DLV_SESSION:
      if (k->cfg.on_session)
        k->cfg.on_session(k->cfg.owner, d->type);
      break;
    }
    free(d);
  }
}

/* ------------------------------------------------------------------ */
/* Watch table */

static uint64_t hash_path(int kind, const char *p) {
  uint64_t h = 1469598103934665603ull ^ (uint64_t)kind;
  for (; *p; p++) {
    h ^= (unsigned char)*p;
    h *= 1099511628211ull;
  }
  return h;
}

static int wt_init(struct rc_wtable *t) {
  t->n_buckets = 64;
  t->n_entries = 0;
  t->buckets = calloc(t->n_buckets, sizeof *t->buckets);
  return t->buckets ? ROOST_OK : ROOST_ENOMEM;
}

static void wt_grow(struct rc_wtable *t) {
  size_t nb = t->n_buckets * 2;
  struct rc_wentry **b = calloc(nb, sizeof *b);
  if (b == NULL)
    return; /* keep the old table: slower, still correct */
  for (size_t i = 0; i < t->n_buckets; i++) {
    struct rc_wentry *e = t->buckets[i];
    while (e) {
      struct rc_wentry *next = e->next;
      size_t j = hash_path(e->kind, e->path) & (nb - 1);
      e->next = b[j];
      b[j] = e;
      e = next;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->n_buckets = nb;
}

/* Adds (cb, arg) unless that exact pair is already there (ZooKeeper keeps
 * a set per path, so a watcher registered twice fires once). */
static int wt_add(struct rc_wtable *t, int kind, const char *path,
                  roost_watch_cb cb, void *arg) {
  size_t i = hash_path(kind, path) & (t->n_buckets - 1);
  struct rc_wentry *e = t->buckets[i];
  while (e && !(e->kind == kind && strcmp(e->path, path) == 0))
    e = e->next;
  if (e == NULL) {
    e = calloc(1, sizeof *e);
    if (e == NULL)
      return ROOST_ENOMEM;
    e->path = rc_strndup(path, strlen(path));
    if (e->path == NULL) {
      free(e);
      return ROOST_ENOMEM;
    }
    e->kind = kind;
    e->next = t->buckets[i];
    t->buckets[i] = e;
    t->n_entries++;
    t->n_kind[kind]++;
  }
  for (struct rc_watcher *w = e->watchers; w; w = w->next)
    if (w->cb == cb && w->arg == arg)
      return ROOST_OK;
  struct rc_watcher *w = calloc(1, sizeof *w);
  if (w == NULL)
    return ROOST_ENOMEM;
  w->cb = cb;
  w->arg = arg;
  /* Append so that watchers fire in registration order. */
  struct rc_watcher **pp = &e->watchers;
  while (*pp)
    pp = &(*pp)->next;
  *pp = w;
  if (t->n_entries > t->n_buckets * 2)
    wt_grow(t);
  return ROOST_OK;
}

/* Unlinks the entry and returns its watcher list (caller frees). */
static struct rc_watcher *wt_take(struct rc_wtable *t, int kind,
                                  const char *path) {
  size_t i = hash_path(kind, path) & (t->n_buckets - 1);
  struct rc_wentry **pp = &t->buckets[i];
  while (*pp && !((*pp)->kind == kind && strcmp((*pp)->path, path) == 0))
    pp = &(*pp)->next;
  struct rc_wentry *e = *pp;
  if (e == NULL)
    return NULL;
  *pp = e->next;
  t->n_entries--;
  t->n_kind[e->kind]--;
  struct rc_watcher *w = e->watchers;
  free(e->path);
  free(e);
  return w;
}

/* Fires every watcher in the table with type (used at expiry/close). */
static void wt_fire_all(struct rc_core *k, int type) {
  struct rc_wtable *t = &k->wt;
  for (size_t i = 0; i < t->n_buckets; i++) {
    struct rc_wentry *e = t->buckets[i];
    t->buckets[i] = NULL;
    while (e) {
      struct rc_wentry *next = e->next;
      struct rc_watcher *w = e->watchers;
      while (w) {
        struct rc_watcher *wn = w->next;
        queue_watch(k, w->cb, w->arg, type, e->path, strlen(e->path));
        free(w);
        w = wn;
      }
      free(e->path);
      free(e);
      e = next;
    }
  }
  t->n_entries = 0;
  memset(t->n_kind, 0, sizeof t->n_kind);
}

static struct rc_wentry *wt_find(struct rc_wtable *t, int kind,
                                 const char *path) {
  size_t i = hash_path(kind, path) & (t->n_buckets - 1);
  struct rc_wentry *e = t->buckets[i];
  while (e && !(e->kind == kind && strcmp(e->path, path) == 0))
    e = e->next;
  return e;
}

/* --- removeWatches / checkWatches (client side of §5.3) ---
 * Local kinds a roost_watcher_type names, the wire type sent for it (3.8.0
 * servers know 1-3 only; a persistent watch sits in both of their tables),
 * and the local kinds a wire type reaches on the server. */
#define KB(k) (1u << (k))
static unsigned type_kinds(int type) {
  switch (type) {
  case ROOST_WATCHER_CHILDREN:
    return KB(RC_W_CHILD);
  case ROOST_WATCHER_DATA:
    return KB(RC_W_DATA) | KB(RC_W_EXIST);
  case ROOST_WATCHER_ANY:
    return KB(RC_W_NKINDS) - 1;
  case ROOST_WATCHER_PERSISTENT:
    return KB(RC_W_PERSIST);
  case ROOST_WATCHER_PERSISTENT_RECURSIVE:
    return KB(RC_W_RECURSIVE);
  default:
    return 0;
  }
}

static unsigned wire_kinds(int type) {
  unsigned pers = KB(RC_W_PERSIST) | KB(RC_W_RECURSIVE);
  switch (type) {
  case ROOST_WATCHER_CHILDREN:
    return KB(RC_W_CHILD) | pers;
  case ROOST_WATCHER_DATA:
    return KB(RC_W_DATA) | KB(RC_W_EXIST) | pers;
  default:
    return KB(RC_W_NKINDS) - 1;
  }
}

static bool watcher_matches(const struct rc_watcher *w,
                            const struct rc_req *req) {
  return req->watcher == NULL ||
         (w->cb == req->watcher && w->arg == req->watcher_arg);
}

/* Watchers on path in `kinds`; only those req names when `match`. */
static size_t wt_count(struct rc_core *k, const char *path, unsigned kinds,
                       const struct rc_req *req, bool match) {
  size_t n = 0;
  for (int kind = 0; kind < RC_W_NKINDS; kind++) {
    if (!(kinds & KB(kind)))
      continue;
    struct rc_wentry *e = wt_find(&k->wt, kind, path);
    for (struct rc_watcher *w = e ? e->watchers : NULL; w; w = w->next)
      n += !match || watcher_matches(w, req);
  }
  return n;
}

static int removed_event(int kind) {
  switch (kind) {
  case RC_W_CHILD:
    return ROOST_EVENT_CHILD_WATCH_REMOVED;
  case RC_W_PERSIST:
  case RC_W_RECURSIVE:
    return ROOST_EVENT_PERSISTENT_WATCH_REMOVED;
  default:
    return ROOST_EVENT_DATA_WATCH_REMOVED;
  }
}

/* Takes the watchers req names out of the table and queues their final
 * *_WATCH_REMOVED call.  Returns how many there were. */
static size_t wt_remove(struct rc_core *k, const char *path, unsigned kinds,
                        const struct rc_req *req) {
  size_t n = 0;
  for (int kind = 0; kind < RC_W_NKINDS; kind++) {
    if (!(kinds & KB(kind)))
      continue;
    struct rc_wentry *e = wt_find(&k->wt, kind, path);
    if (e == NULL)
      continue;
    struct rc_watcher **pp = &e->watchers;
    while (*pp) {
      struct rc_watcher *w = *pp;
      if (!watcher_matches(w, req)) {
        pp = &w->next;
        continue;
      }
      *pp = w->next;
      queue_watch(k, w->cb, w->arg, removed_event(kind), path, strlen(path));
      free(w);
      n++;
    }
    if (e->watchers == NULL)
      (void)wt_take(&k->wt, kind, path);
  }
  return n;
}

/* ------------------------------------------------------------------ */
/* Init / free */

int rc_core_init(struct rc_core *k, const struct rc_core_config *cfg) {
  memset(k, 0, sizeof *k);
  k->cfg = *cfg;
  k->cfg.chroot = NULL;
  if (cfg->chroot) {
    k->chroot_len = strlen(cfg->chroot);
    k->chroot = rc_strndup(cfg->chroot, k->chroot_len);
    if (k->chroot == NULL)
      return ROOST_ENOMEM;
  }
  if (k->cfg.max_frame == 0)
    k->cfg.max_frame = 16u << 20;
  k->timeout_ms = cfg->timeout_ms;
  k->next_xid = 1;
  k->state = RC_ST_DISCONNECTED;
  proto_writer_init(&k->out);
  if (wt_init(&k->wt) != ROOST_OK) {
    free(k->chroot);
    return ROOST_ENOMEM;
  }
  return ROOST_OK;
}

static void free_req_list(struct rc_req *r) {
  while (r) {
    struct rc_req *n = r->next;
    rc_req_free(r);
    r = n;
  }
}

void rc_core_free(struct rc_core *k) {
  free_req_list(k->unsent_h);
  free_req_list(k->sent_h);
  while (k->authq_h) {
    struct rc_authq *q = k->authq_h;
    k->authq_h = q->next;
    free(q);
  }
  while (k->auths) {
    struct rc_auth *a = k->auths;
    k->auths = a->next;
    rc_req_free(a->pending);
    free(a->scheme);
    free(a->cred);
    free(a);
  }
  wt_fire_all(k, ROOST_EVENT_NOT_WATCHING); /* frees; deliveries dropped: */
  while (k->dq_h) {
    struct rc_dlv *d = k->dq_h;
    k->dq_h = d->next;
    roost_result_free(d->res);
    rc_req_free(d->req);
    free(d->path);
    free(d);
  }
  k->dq_t = NULL;
  free(k->wt.buckets);
  free(k->in);
  free(k->chroot);
  proto_writer_free(&k->out);
}

/* ------------------------------------------------------------------ */
/* Writing */

static int32_t take_xid(struct rc_core *k) {
  int32_t x = k->next_xid;
  k->next_xid = (x == INT32_MAX) ? 1 : x + 1;
  return x;
}

static void write_req(struct rc_core *k, struct rc_req *r) {
  r->xid = take_xid(k);
  proto_store_be32(r->frame + 4, (uint32_t)r->xid);
  proto_write_raw(&k->out, r->frame, r->frame_len);
  k->last_send_ms = k->now_ms;
  r->next = NULL;
  if (k->sent_t)
    k->sent_t->next = r;
  else
    k->sent_h = r;
  k->sent_t = r;
  k->n_sent++;
}

static void write_auth(struct rc_core *k, struct rc_auth *a) {
  struct rc_authq *q = calloc(1, sizeof *q);
  if (q == NULL)
    return; /* the identity is re-sent on the next connect */
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.xid = PROTO_XID_AUTH;
  req.hdr.type = PROTO_OP_AUTH;
  req.u.auth.type = 0;
  req.u.auth.scheme.ptr = (const uint8_t *)a->scheme;
  req.u.auth.scheme.len = (int32_t)strlen(a->scheme);
  req.u.auth.auth.ptr = a->cred;
  req.u.auth.auth.len = (int32_t)a->cred_len;
  proto_request_encode(&k->out, &req);
  k->last_send_ms = k->now_ms;
  q->auth = a;
  a->inflight++;
  if (k->authq_t)
    k->authq_t->next = q;
  else
    k->authq_h = q;
  k->authq_t = q;
}

/* Re-arms every watch we hold (§2.5 C client behaviour, §7.10 server rule),
 * in batches so no frame gets near the server's jute.maxbuffer. */
static void write_set_watches(struct rc_core *k) {
  if (k->wt.n_entries == 0)
    return;
  struct rc_wtable *t = &k->wt;
  /* Collect entries per kind; one pass per batch. */
  size_t n = t->n_entries;
  struct rc_wentry **all = malloc(n * sizeof *all);
  if (all == NULL)
    return; /* watches stay local; they fire on NOT_WATCHING at the end */
  size_t m = 0;
  for (size_t i = 0; i < t->n_buckets; i++)
    for (struct rc_wentry *e = t->buckets[i]; e; e = e->next)
      all[m++] = e;
  /* setWatches2 (3.6+) only when persistent watches need it, so that
   * older servers keep working for the rest. */
  bool v2 = t->n_kind[RC_W_PERSIST] + t->n_kind[RC_W_RECURSIVE] > 0;
  int last = v2 ? RC_W_RECURSIVE : RC_W_CHILD;
  size_t start = 0;
  while (start < m) {
    size_t end = start, bytes = 0;
    while (end < m && (end == start || bytes < RC_SETWATCHES_BATCH_BYTES)) {
      bytes += strlen(all[end]->path) + 4;
      end++;
    }
    size_t mark = proto_frame_begin(&k->out);
    proto_write_int(&k->out, PROTO_XID_SET_WATCHES);
    proto_write_int(&k->out, v2 ? PROTO_OP_SETWATCHES2 : PROTO_OP_SETWATCHES);
    proto_write_long(&k->out, k->last_zxid);
    for (int kind = RC_W_DATA; kind <= last; kind++) {
      int32_t cnt = 0;
      for (size_t i = start; i < end; i++)
        cnt += all[i]->kind == kind;
      proto_write_int(&k->out, cnt);
      for (size_t i = start; i < end; i++)
        if (all[i]->kind == kind)
          proto_write_string(&k->out, all[i]->path, strlen(all[i]->path));
    }
    proto_frame_end(&k->out, mark);
    start = end;
  }
  free(all);
  k->last_send_ms = k->now_ms;
}

static void flush_unsent(struct rc_core *k) {
  while (k->unsent_h) {
    struct rc_req *r = k->unsent_h;
    k->unsent_h = r->next;
    if (k->unsent_h == NULL)
      k->unsent_t = NULL;
    write_req(k, r);
  }
}

/* ------------------------------------------------------------------ */
/* Connection events */

void rc_core_connected(struct rc_core *k, uint64_t now_ms) {
  k->now_ms = now_ms;
  if (k->state != RC_ST_DISCONNECTED)
    return;
  proto_writer_reset(&k->out);
  k->in_len = 0;
  struct proto_connect_request cr;
  memset(&cr, 0, sizeof cr);
  cr.protocol_version = 0;
  cr.last_zxid_seen = k->last_zxid;
  cr.timeout_ms = k->cfg.timeout_ms;
  /* Like the Java client: a session made by a read-only server is not
   * offered to others until a read-write server accepted one (it only
   * exists on the read-only server). */
  cr.session_id = k->seen_rw ? k->session_id : 0;
  k->sent_sid = cr.session_id;
  cr.passwd.ptr = k->passwd;
  cr.passwd.len = PROTO_PASSWD_LEN;
  cr.has_read_only = true;
  cr.read_only = k->cfg.read_only;
  proto_connect_request_encode(&k->out, &cr);
  k->state = RC_ST_HANDSHAKE;
  k->conn_start_ms = now_ms;
  k->last_send_ms = now_ms;
  k->last_recv_ms = now_ms;
}

static void fail_queue(struct rc_core *k, struct rc_req **h, struct rc_req **t,
                       int err) {
  struct rc_req *r = *h;
  *h = *t = NULL;
  while (r) {
    struct rc_req *n = r->next;
    r->next = NULL;
    complete_err(k, r, err);
    r = n;
  }
}

static void fail_auth_pending(struct rc_core *k, int err) {
  for (struct rc_auth *a = k->auths; a; a = a->next)
    if (a->pending) {
      complete_err(k, a->pending, err);
      a->pending = NULL;
    }
}

static void clear_authq(struct rc_core *k) {
  while (k->authq_h) {
    struct rc_authq *q = k->authq_h;
    k->authq_h = q->next;
    q->auth->inflight--;
    free(q);
  }
  k->authq_t = NULL;
}

void rc_core_disconnected(struct rc_core *k, uint64_t now_ms) {
  k->now_ms = now_ms;
  k->in_len = 0;
  proto_writer_reset(&k->out);
  clear_authq(k);
  /* Sent requests may or may not have been applied: CONNECTIONLOSS, in
   * order.  Unsent ones wait for the next connection. */
  fail_queue(k, &k->sent_h, &k->sent_t, ROOST_CONNECTIONLOSS);
  k->n_sent = 0;
  if (k->state == RC_ST_HANDSHAKE || k->state == RC_ST_CONNECTED)
    k->state = RC_ST_DISCONNECTED;
  if (k->announced) {
    k->announced = false;
    queue_session(k, ROOST_SESSION_DISCONNECTED);
  }
  k->conn_start_ms = now_ms; /* start of the disconnected period */
  k->close_sent = false;
}

static void expire(struct rc_core *k) {
  k->state = RC_ST_EXPIRED;
  k->announced = false;
  k->session_id = 0;
  memset(k->passwd, 0, sizeof k->passwd);
  k->last_zxid = 0;
  fail_queue(k, &k->sent_h, &k->sent_t, ROOST_SESSIONEXPIRED);
  fail_queue(k, &k->unsent_h, &k->unsent_t, ROOST_SESSIONEXPIRED);
  k->n_sent = 0;
  fail_auth_pending(k, ROOST_SESSIONEXPIRED);
  wt_fire_all(k, ROOST_EVENT_NOT_WATCHING);
  queue_session(k, ROOST_SESSION_EXPIRED);
}

void rc_core_new_session(struct rc_core *k) {
  if (k->state != RC_ST_EXPIRED)
    return;
  k->state = RC_ST_DISCONNECTED;
  k->session_id = 0;
  memset(k->passwd, 0, sizeof k->passwd);
  k->last_zxid = 0;
}

void rc_core_shutdown(struct rc_core *k, int err) {
  clear_authq(k);
  fail_queue(k, &k->sent_h, &k->sent_t, err);
  fail_queue(k, &k->unsent_h, &k->unsent_t, err);
  k->n_sent = 0;
  fail_auth_pending(k, err);
  wt_fire_all(k, ROOST_EVENT_NOT_WATCHING);
  k->state = RC_ST_CLOSED;
  if (!k->shut_down) {
    k->shut_down = true;
    queue_session(k, ROOST_SESSION_CLOSED);
  }
  k->announced = false;
}

/* ------------------------------------------------------------------ */
/* Submitting */

/* removeWatches / checkWatches look at the local table first, as the Java
 * client does: nothing matching is NOWATCHER without a round trip; a
 * removal that would also take the server's watch away from watchers that
 * stay (or one asked to be local) is done here only.  Returns true when the
 * request must still go to the server. */
static bool watches_precheck(struct rc_core *k, struct rc_req *req) {
  unsigned kinds = type_kinds(req->wtype);
  size_t mine = wt_count(k, req->watch_path, kinds, req, true);
  if (mine == 0) {
    complete_err(k, req, ROOST_NOWATCHER);
    return false;
  }
  if (req->op == PROTO_OP_CHECKWATCHES) {
    if (req->wlocal)
      complete_err(k, req, ROOST_OK);
    return !req->wlocal;
  }
  size_t reach =
      wt_count(k, req->watch_path, wire_kinds(req->wtype), req, false);
  if (req->wlocal || reach > mine) {
    (void)wt_remove(k, req->watch_path, kinds, req);
    complete_err(k, req, ROOST_OK);
    return false;
  }
  return true;
}

void rc_core_submit(struct rc_core *k, struct rc_req *req, uint64_t now_ms) {
  k->now_ms = now_ms;
  req->submit_ms = now_ms;
  req->next = NULL;
  if (k->state == RC_ST_CLOSED) {
    complete_err(k, req, ROOST_ECLOSED);
    return;
  }
  if (k->state == RC_ST_EXPIRED) {
    complete_err(k, req, ROOST_SESSIONEXPIRED);
    return;
  }
  if (k->state == RC_ST_AUTH_FAILED) {
    complete_err(k, req, ROOST_AUTHFAILED);
    return;
  }
  if (req->kind == RC_REQ_AUTH) {
    struct rc_auth *a = calloc(1, sizeof *a);
    if (a == NULL) {
      complete_err(k, req, ROOST_ENOMEM);
      return;
    }
    a->scheme = req->scheme;
    a->cred = req->cred;
    a->cred_len = req->cred_len;
    req->scheme = NULL;
    req->cred = NULL;
    a->pending = req;
    struct rc_auth **pp = &k->auths;
    while (*pp)
      pp = &(*pp)->next;
    *pp = a;
    if (k->state == RC_ST_CONNECTED)
      write_auth(k, a);
    return;
  }
  if (req->op == PROTO_OP_REMOVEWATCHES || req->op == PROTO_OP_CHECKWATCHES) {
    if (!watches_precheck(k, req))
      return;
  }
  if (k->state == RC_ST_CONNECTED && !k->close_sent) {
    write_req(k, req);
    return;
  }
  if (k->unsent_t)
    k->unsent_t->next = req;
  else
    k->unsent_h = req;
  k->unsent_t = req;
}

bool rc_core_close_session(struct rc_core *k, uint64_t now_ms) {
  if (k->state != RC_ST_CONNECTED || k->close_sent)
    return false;
  struct rc_req *r = rc_req_new(RC_REQ_OP);
  if (r == NULL)
    return false;
  struct proto_writer w;
  proto_writer_init(&w);
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_CLOSESESSION;
  proto_request_encode(&w, &req);
  if (proto_writer_err(&w)) {
    proto_writer_free(&w);
    rc_req_free(r);
    return false;
  }
  r->frame = w.buf;
  r->frame_len = w.len;
  r->op = PROTO_OP_CLOSESESSION;
  r->rop = ROOST_OP_CLOSE;
  k->now_ms = now_ms;
  /* Unsent requests would be discarded by the server after the close:
   * fail them now, in order, ahead of the close itself. */
  flush_unsent(k);
  write_req(k, r);
  k->close_sent = true;
  return true;
}

/* ------------------------------------------------------------------ */
/* Ticks */

int rc_core_tick(struct rc_core *k, uint64_t now_ms) {
  k->now_ms = now_ms;
  int32_t t = k->timeout_ms > 0 ? k->timeout_ms : k->cfg.timeout_ms;
  if (t <= 0)
    t = 10000;
  if (k->state == RC_ST_DISCONNECTED || k->state == RC_ST_HANDSHAKE) {
    /* Requests that found no connection within the session timeout fail
     * (the session is likely gone anyway; the application decides). */
    while (k->unsent_h && now_ms - k->unsent_h->submit_ms >= (uint64_t)t) {
      struct rc_req *r = k->unsent_h;
      k->unsent_h = r->next;
      if (k->unsent_h == NULL)
        k->unsent_t = NULL;
      r->next = NULL;
      complete_err(k, r, ROOST_CONNECTIONLOSS);
    }
  }
  if (k->state == RC_ST_HANDSHAKE) {
    if (now_ms - k->conn_start_ms >= (uint64_t)t * 2 / 3) {
      set_err(k, "handshake timed out");
      return RC_TICK_DROP;
    }
    return RC_TICK_OK;
  }
  if (k->state != RC_ST_CONNECTED)
    return RC_TICK_OK;
  if (now_ms - k->last_recv_ms >= (uint64_t)t * 2 / 3) {
    set_err(k, "nothing received for 2/3 of the session timeout");
    return RC_TICK_DROP;
  }
  if (now_ms - k->last_send_ms >= (uint64_t)t / 3) {
    struct proto_request req;
    memset(&req, 0, sizeof req);
    req.hdr.xid = PROTO_XID_PING;
    req.hdr.type = PROTO_OP_PING;
    proto_request_encode(&k->out, &req);
    k->last_send_ms = now_ms;
  }
  return RC_TICK_OK;
}

/* ------------------------------------------------------------------ */
/* Reading replies */

static void copy_stat(roost_stat *d, const struct proto_stat *s) {
  d->czxid = s->czxid;
  d->mzxid = s->mzxid;
  d->ctime = s->ctime;
  d->mtime = s->mtime;
  d->version = s->version;
  d->cversion = s->cversion;
  d->aversion = s->aversion;
  d->ephemeral_owner = s->ephemeral_owner;
  d->data_length = s->data_length;
  d->num_children = s->num_children;
  d->pzxid = s->pzxid;
}

static void read_stat_into(struct proto_reader *r, roost_result *res) {
  struct proto_stat st;
  proto_read_stat(r, &st);
  copy_stat(&res->stat, &st);
  res->has_stat = true;
}

/* Reads a path ustring and strips the chroot (a path outside the chroot,
 * which a sane server never sends, is kept whole).  Returns false on OOM;
 * a decode error is left in the reader for the caller's final check. */
static bool read_path_into(struct rc_core *k, struct proto_reader *r,
                           char **out) {
  struct proto_slice s = proto_read_buffer(r);
  *out = NULL;
  if (proto_reader_err(r) || s.len < 0)
    return true;
  *out = rc_core_client_path(k, (const char *)s.ptr, (size_t)s.len);
  if (*out == NULL)
    *out = rc_strndup((const char *)s.ptr, (size_t)s.len);
  return *out != NULL;
}

/* Decodes a success body for op into res.  Returns ROOST_OK,
 * ROOST_EPROTO (malformed: drop the connection) or ROOST_ENOMEM. */
static int decode_body(struct rc_core *k, int32_t op, struct proto_reader *r,
                       roost_result *res) {
  switch (op) {
  case PROTO_OP_CREATE:
  case PROTO_OP_CREATE2:
  case PROTO_OP_CREATECONTAINER:
  case PROTO_OP_CREATETTL:
    if (!read_path_into(k, r, &res->path))
      return ROOST_ENOMEM;
    if (op != PROTO_OP_CREATE)
      read_stat_into(r, res);
    break;
  case PROTO_OP_EXISTS:
  case PROTO_OP_SETDATA:
  case PROTO_OP_SETACL:
    read_stat_into(r, res);
    break;
  case PROTO_OP_GETDATA:
  case PROTO_OP_RECONFIG: { /* ZooKeeper answers it as a getData */
    struct proto_slice d = proto_read_buffer(r);
    read_stat_into(r, res);
    if (proto_reader_err(r))
      break;
    res->data_len = d.len;
    res->data = malloc(d.len > 0 ? (size_t)d.len + 1 : 1);
    if (res->data == NULL)
      return ROOST_ENOMEM;
    if (d.len > 0)
      memcpy(res->data, d.ptr, (size_t)d.len);
    res->data[d.len > 0 ? d.len : 0] = '\0';
    break;
  }
  case PROTO_OP_GETCHILDREN:
  case PROTO_OP_GETCHILDREN2: {
    int32_t n = proto_read_vector_count(r);
    if (proto_reader_err(r))
      break;
    res->children = calloc(n > 0 ? (size_t)n : 1, sizeof *res->children);
    if (res->children == NULL)
      return ROOST_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
      struct proto_slice s = proto_read_buffer(r);
      if (proto_reader_err(r) || s.len < 0)
        return ROOST_EPROTO;
      res->children[i] = rc_strndup((const char *)s.ptr, (size_t)s.len);
      if (res->children[i] == NULL)
        return ROOST_ENOMEM;
      res->n_children = i + 1;
    }
    if (op == PROTO_OP_GETCHILDREN2)
      read_stat_into(r, res);
    break;
  }
  case PROTO_OP_GETACL: {
    int32_t n = proto_read_vector_count(r);
    if (proto_reader_err(r))
      break;
    res->acl = calloc(n > 0 ? (size_t)n : 1, sizeof *res->acl);
    if (res->acl == NULL)
      return ROOST_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
      struct proto_acl a;
      proto_read_acl(r, &a);
      if (proto_reader_err(r) || a.id.scheme.len < 0 || a.id.id.len < 0)
        return ROOST_EPROTO;
      res->acl[i].perms = a.perms;
      res->acl[i].scheme =
          rc_strndup((const char *)a.id.scheme.ptr, (size_t)a.id.scheme.len);
      res->acl[i].id =
          rc_strndup((const char *)a.id.id.ptr, (size_t)a.id.id.len);
      res->n_acl = i + 1;
      if (!res->acl[i].scheme || !res->acl[i].id)
        return ROOST_ENOMEM;
    }
    read_stat_into(r, res);
    break;
  }
  case PROTO_OP_SYNC:
    if (!read_path_into(k, r, &res->path))
      return ROOST_ENOMEM;
    break;
  case PROTO_OP_GETEPHEMERALS: {
    int32_t n = proto_read_vector_count(r);
    if (proto_reader_err(r))
      break;
    res->children = calloc(n > 0 ? (size_t)n : 1, sizeof *res->children);
    if (res->children == NULL)
      return ROOST_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
      if (!read_path_into(k, r, &res->children[i]))
        return ROOST_ENOMEM;
      if (res->children[i] == NULL)
        return ROOST_EPROTO;
      res->n_children = i + 1;
    }
    break;
  }
  case PROTO_OP_GETALLCHILDRENNUMBER:
    res->count = proto_read_int(r);
    break;
  case PROTO_OP_WHOAMI: {
    int32_t n = proto_read_vector_count(r);
    if (proto_reader_err(r))
      break;
    res->acl = calloc(n > 0 ? (size_t)n : 1, sizeof *res->acl);
    if (res->acl == NULL)
      return ROOST_ENOMEM;
    for (int32_t i = 0; i < n; i++) {
      struct proto_slice sc = proto_read_buffer(r);
      struct proto_slice us = proto_read_buffer(r);
      if (proto_reader_err(r))
        return ROOST_EPROTO;
      res->acl[i].scheme = rc_strndup(sc.ptr ? (const char *)sc.ptr : "",
                                      sc.len > 0 ? (size_t)sc.len : 0);
      res->acl[i].id = rc_strndup(us.ptr ? (const char *)us.ptr : "",
                                  us.len > 0 ? (size_t)us.len : 0);
      res->n_acl = i + 1;
      if (!res->acl[i].scheme || !res->acl[i].id)
        return ROOST_ENOMEM;
    }
    break;
  }
  case PROTO_OP_MULTIREAD:
  case PROTO_OP_MULTI: {
    /* Count first (bounded by the frame), then fill. */
    size_t cap = 8;
    res->ops = calloc(cap, sizeof *res->ops);
    if (res->ops == NULL)
      return ROOST_ENOMEM;
    for (;;) {
      int32_t type = proto_read_int(r);
      bool done = proto_read_bool(r);
      int32_t err = proto_read_int(r);
      if (proto_reader_err(r))
        return ROOST_EPROTO;
      if (done)
        break;
      if ((size_t)res->n_ops == cap) {
        roost_result *nv = realloc(res->ops, cap * 2 * sizeof *nv);
        if (nv == NULL)
          return ROOST_ENOMEM;
        memset(nv + cap, 0, cap * sizeof *nv);
        res->ops = nv;
        cap *= 2;
      }
      roost_result *sub = &res->ops[res->n_ops++];
      sub->zxid = res->zxid;
      if (type == -1) {
        sub->err = proto_read_int(r); /* ErrorResponse repeats err */
        (void)err;
        /* multiRead's sub-ops are independent: no overall error. */
        if (op == PROTO_OP_MULTI && sub->err != ROOST_OK &&
            sub->err != ROOST_RUNTIMEINCONSISTENCY && res->err == ROOST_OK)
          res->err = sub->err;
        continue;
      }
      if ((op == PROTO_OP_MULTIREAD) !=
          (type == PROTO_OP_GETDATA || type == PROTO_OP_GETCHILDREN))
        return ROOST_EPROTO;
      switch (type) {
      case PROTO_OP_GETDATA:
        sub->op = ROOST_OP_GET;
        break;
      case PROTO_OP_GETCHILDREN:
        sub->op = ROOST_OP_GET_CHILDREN;
        break;
      case PROTO_OP_CREATE:
      case PROTO_OP_CREATE2:
        sub->op = ROOST_OP_CREATE;
        break;
      case PROTO_OP_DELETE:
        sub->op = ROOST_OP_DELETE;
        break;
      case PROTO_OP_SETDATA:
        sub->op = ROOST_OP_SET;
        break;
      case PROTO_OP_CHECK:
        sub->op = ROOST_OP_CHECK;
        break;
      default:
        return ROOST_EPROTO;
      }
      int rc = type == PROTO_OP_DELETE || type == PROTO_OP_CHECK
                   ? ROOST_OK
                   : decode_body(k, type, r, sub);
      if (rc != ROOST_OK)
        return rc;
    }
    break;
  }
  default:
    break;
  }
  return proto_reader_err(r) ? ROOST_EPROTO : ROOST_OK;
}

static void register_watch(struct rc_core *k, struct rc_req *req, int err) {
  if (req->watcher == NULL || req->watch_path == NULL)
    return;
  int kind = -1;
  switch (req->op) {
  case PROTO_OP_EXISTS:
    if (err == ROOST_OK)
      kind = RC_W_DATA;
    else if (err == ROOST_NONODE)
      kind = RC_W_EXIST;
    break;
  case PROTO_OP_GETDATA:
    kind = err == ROOST_OK ? RC_W_DATA : -1;
    break;
  case PROTO_OP_GETCHILDREN:
  case PROTO_OP_GETCHILDREN2:
    kind = err == ROOST_OK ? RC_W_CHILD : -1;
    break;
  case PROTO_OP_ADDWATCH:
    if (err == ROOST_OK)
      kind = req->wmode == ROOST_WATCH_PERSISTENT_RECURSIVE ? RC_W_RECURSIVE
                                                            : RC_W_PERSIST;
    break;
  default:
    break;
  }
  if (kind >= 0)
    (void)wt_add(&k->wt, kind, req->watch_path, req->watcher, req->watcher_arg);
}

static void fire_watchers(struct rc_core *k, int kind, int type,
                          const char *path, size_t n) {
  struct rc_watcher *w = wt_take(&k->wt, kind, path);
  while (w) {
    struct rc_watcher *next = w->next;
    queue_watch(k, w->cb, w->arg, type, path, n);
    free(w);
    w = next;
  }
}

/* Persistent watchers on `wpath` see the event on `path` and stay. */
static void fire_persistent(struct rc_core *k, int kind, int type,
                            const char *wpath, const char *path, size_t n) {
  struct rc_wentry *e = wt_find(&k->wt, kind, wpath);
  for (struct rc_watcher *w = e ? e->watchers : NULL; w; w = w->next)
    queue_watch(k, w->cb, w->arg, type, path, n);
}

/* §7.8 "How clients map events". */
static int handle_notification(struct rc_core *k, struct proto_reader *r) {
  struct proto_watcher_event ev;
  proto_read_watcher_event(r, &ev);
  if (proto_reader_err(r) || ev.path.len < 0) {
    set_err(k, "malformed watch notification");
    return ROOST_EPROTO;
  }
  char *path = rc_strndup((const char *)ev.path.ptr, (size_t)ev.path.len);
  if (path == NULL)
    return ROOST_ENOMEM;
  size_t n = (size_t)ev.path.len;
  switch (ev.type) {
  case PROTO_EVENT_NODE_CREATED:
  case PROTO_EVENT_NODE_DATA_CHANGED:
    fire_watchers(k, RC_W_DATA, ev.type, path, n);
    fire_watchers(k, RC_W_EXIST, ev.type, path, n);
    break;
  case PROTO_EVENT_NODE_CHILDREN_CHANGED:
    fire_watchers(k, RC_W_CHILD, ev.type, path, n);
    break;
  case PROTO_EVENT_NODE_DELETED:
    fire_watchers(k, RC_W_DATA, ev.type, path, n);
    fire_watchers(k, RC_W_EXIST, ev.type, path, n);
    fire_watchers(k, RC_W_CHILD, ev.type, path, n);
    break;
  default:
    free(path);
    return ROOST_OK; /* unknown or client-local types: nothing for them */
  }
  fire_persistent(k, RC_W_PERSIST, ev.type, path, path, n);
  /* Recursive watches on the path or any ancestor; they get no
   * CHILDREN_CHANGED (a child's CREATED/DELETED says it). */
  if (k->wt.n_kind[RC_W_RECURSIVE] > 0 &&
      ev.type != PROTO_EVENT_NODE_CHILDREN_CHANGED) {
    char *pre = rc_strndup(path, n);
    if (pre == NULL) {
      free(path);
      return ROOST_ENOMEM;
    }
    fire_persistent(k, RC_W_RECURSIVE, ev.type, "/", path, n);
    for (size_t i = 2; i <= n; i++) /* i = 1 would be "/" again */
      if (i == n || path[i] == '/') {
        pre[i] = '\0';
        fire_persistent(k, RC_W_RECURSIVE, ev.type, pre, path, n);
        pre[i] = path[i];
      }
    free(pre);
  }
  free(path);
  return ROOST_OK;
}

static int handle_connect_response(struct rc_core *k, const uint8_t *p,
                                   size_t n) {
  struct proto_connect_response cr;
  if (proto_connect_response_decode(p, n, &cr) != PROTO_OK) {
    set_err(k, "malformed ConnectResponse");
    return ROOST_EPROTO;
  }
  /* §2.5: Java treats timeout <= 0 as expired, C a session id other than
   * the non-zero one it sent; the server sends both zeros. */
  if (cr.timeout_ms <= 0 || cr.session_id == 0 ||
      (k->sent_sid != 0 && cr.session_id != k->sent_sid)) {
    expire(k);
    return ROOST_OK;
  }
  k->session_id = cr.session_id;
  memcpy(k->passwd, cr.passwd, sizeof k->passwd);
  k->timeout_ms = cr.timeout_ms;
  k->ro = cr.has_read_only && cr.read_only;
  if (!k->ro)
    k->seen_rw = true;
  k->state = RC_ST_CONNECTED;
  k->announced = true;
  /* What the C client sends after the handshake, in its order: auth
   * packets, one setWatches, then requests. */
  for (struct rc_auth *a = k->auths; a; a = a->next)
    write_auth(k, a);
  write_set_watches(k);
  queue_session(k, k->ro ? ROOST_SESSION_CONNECTED_READ_ONLY
                         : ROOST_SESSION_CONNECTED);
  flush_unsent(k);
  return ROOST_OK;
}

static void remove_auth(struct rc_core *k, struct rc_auth *a) {
  for (struct rc_auth **pp = &k->auths; *pp; pp = &(*pp)->next)
    if (*pp == a) {
      *pp = a->next;
      free(a->scheme);
      free(a->cred);
      free(a);
      return;
    }
}

static int handle_auth_reply(struct rc_core *k, int32_t err) {
  struct rc_authq *q = k->authq_h;
  if (q == NULL) {
    set_err(k, "auth reply without an auth request");
    return ROOST_EPROTO;
  }
  k->authq_h = q->next;
  if (k->authq_h == NULL)
    k->authq_t = NULL;
  struct rc_auth *a = q->auth;
  free(q);
  a->inflight--;
  if (a->pending) {
    complete_err(k, a->pending, err);
    a->pending = NULL;
  }
  if (err != ROOST_OK && !k->cfg.auth_failed_reconnect) {
    /* The official client's AUTH_FAILED_STATE: nothing more is sent. */
    k->state = RC_ST_AUTH_FAILED;
    k->announced = false;
    fail_queue(k, &k->sent_h, &k->sent_t, ROOST_AUTHFAILED);
    fail_queue(k, &k->unsent_h, &k->unsent_t, ROOST_AUTHFAILED);
    k->n_sent = 0;
    fail_auth_pending(k, ROOST_AUTHFAILED);
    wt_fire_all(k, ROOST_EVENT_NOT_WATCHING);
    queue_session(k, ROOST_SESSION_AUTH_FAILED);
    set_err(k, "authentication failed (terminal)");
    return ROOST_AUTHFAILED;
  }
  if (err != ROOST_OK) {
    /* The server drops the connection after a failed auth (§5.5); forget
     * the identity so the reconnect does not fail the same way. */
    if (a->inflight == 0)
      remove_auth(k, a);
    queue_session(k, ROOST_SESSION_AUTH_FAILED);
    set_err(k, "authentication failed");
    return ROOST_AUTHFAILED;
  }
  return ROOST_OK;
}

static int handle_frame(struct rc_core *k, const uint8_t *p, size_t n) {
  if (k->state == RC_ST_HANDSHAKE)
    return handle_connect_response(k, p, n);
  if (k->state != RC_ST_CONNECTED) {
    set_err(k, "frame in a state that expects none");
    return ROOST_EPROTO;
  }
  struct proto_reader r;
  proto_reader_init(&r, p, n, k->cfg.max_frame);
  struct proto_reply_header h;
  proto_read_reply_header(&r, &h);
  if (proto_reader_err(&r)) {
    set_err(k, "frame shorter than a reply header");
    return ROOST_EPROTO;
  }
  switch (h.xid) {
  case PROTO_XID_NOTIFICATION:
    return handle_notification(k, &r);
  case PROTO_XID_PING:
  case PROTO_XID_SET_WATCHES:
    return ROOST_OK;
  case PROTO_XID_AUTH:
    return handle_auth_reply(k, h.err);
  default:
    break;
  }
  struct rc_req *req = k->sent_h;
  if (req == NULL || req->xid != h.xid) {
    snprintf(k->errmsg, sizeof k->errmsg,
             "reply xid %d does not match the oldest request (xid %d)",
             (int)h.xid, req ? (int)req->xid : 0);
    return ROOST_EPROTO;
  }
  roost_result *res = rc_result_new(req->rop, h.err);
  if (res == NULL)
    return ROOST_ENOMEM; /* the request fails with CONNECTIONLOSS */
  res->zxid = h.zxid;
  if (h.err == ROOST_OK) {
    int rc = decode_body(k, req->op, &r, res);
    if (rc == ROOST_EPROTO) {
      roost_result_free(res);
      snprintf(k->errmsg, sizeof k->errmsg, "malformed %s reply",
               proto_op_name(req->op));
      return ROOST_EPROTO;
    }
    if (rc != ROOST_OK)
      res->err = rc;
  }
  /* A multi's header err is 0 even when a sub-op failed (§5.4); the kind
   * of each sub-op comes from the request (error results do not say). */
  if (req->op == PROTO_OP_MULTI || req->op == PROTO_OP_MULTIREAD)
    for (int32_t i = 0; i < res->n_ops && i < req->n_multi_ops; i++)
      res->ops[i].op = req->multi_ops[i];
  k->sent_h = req->next;
  if (k->sent_h == NULL)
    k->sent_t = NULL;
  k->n_sent--;
  req->next = NULL;
  /* Java and C track the highest zxid of normal replies only (§3.4). */
  if (h.zxid > k->last_zxid)
    k->last_zxid = h.zxid;
  register_watch(k, req, res->err);
  /* Local watchers go when the server let go of its watch (NOWATCHER: it
   * had none left, e.g. the event fired just before: then nothing is left
   * here either, the event was delivered first). */
  if (req->op == PROTO_OP_REMOVEWATCHES &&
      (res->err == ROOST_OK || res->err == ROOST_NOWATCHER))
    res->err = wt_remove(k, req->watch_path, type_kinds(req->wtype), req) > 0
                   ? ROOST_OK
                   : ROOST_NOWATCHER;
  bool was_close = req->op == PROTO_OP_CLOSESESSION;
  complete(k, req, res);
  if (was_close) {
    k->state = RC_ST_CLOSED;
    k->announced = false;
  }
  return ROOST_OK;
}

int rc_core_input(struct rc_core *k, const void *data, size_t len,
                  uint64_t now_ms) {
  k->now_ms = now_ms;
  if (k->state != RC_ST_HANDSHAKE && k->state != RC_ST_CONNECTED)
    return ROOST_OK; /* late bytes after we gave up on the connection */
  k->last_recv_ms = now_ms;
  if (k->in_len + len > k->in_cap) {
    size_t cap = k->in_cap ? k->in_cap : 4096;
    while (cap < k->in_len + len)
      cap *= 2;
    uint8_t *nb = realloc(k->in, cap);
    if (nb == NULL)
      return ROOST_ENOMEM;
    k->in = nb;
    k->in_cap = cap;
  }
  memcpy(k->in + k->in_len, data, len);
  k->in_len += len;
  size_t pos = 0;
  int rc = ROOST_OK;
  while (k->in_len - pos >= 4) {
    int32_t flen = (int32_t)proto_load_be32(k->in + pos);
    if (flen < 0 || (size_t)flen > k->cfg.max_frame) {
      snprintf(k->errmsg, sizeof k->errmsg, "frame length %d out of range",
               (int)flen);
      rc = ROOST_EPROTO;
      break;
    }
    if (k->in_len - pos - 4 < (size_t)flen)
      break;
    rc = handle_frame(k, k->in + pos + 4, (size_t)flen);
    pos += 4 + (size_t)flen;
    if (rc != ROOST_OK || k->state == RC_ST_EXPIRED || k->state == RC_ST_CLOSED)
      break;
  }
  memmove(k->in, k->in + pos, k->in_len - pos);
  k->in_len -= pos;
  return rc;
}
