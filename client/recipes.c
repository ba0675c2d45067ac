/* recipes.c — leader election and a lock on ephemeral sequential nodes.
 *
 * Both are a queue: each contender owns one node (rc_eph) under dir; the
 * lowest sequence number is first.  Others watch only their immediate
 * predecessor (exists + watch), so a departure wakes exactly one waiter —
 * no herd.  When a predecessor goes we re-read the children rather than
 * assume we are first: the predecessor may have left while someone ahead
 * of it is still there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"

/* ------------------------------------------------------------------ */
/* The shared queue logic */

struct rc_queue {
  struct rc_eph eph; /* first */
  bool checking;
  bool again;
  char *armed_pred; /* predecessor path with our watch on it */
  /* The contender became first (true) or stopped being first (false). */
  void (*on_first)(struct rc_queue *q, bool first);
  bool first;
};

static void q_check(struct rc_queue *q);

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

static void q_set_first(struct rc_queue *q, bool first) {
  if (q->first == first)
    return;
  q->first = first;
  if (!q->eph.detached && q->on_first)
    q->on_first(q, first);
}

static void q_pred_watch(roost_client *c, int type, const char *path,
                         void *arg) {
  (void)c;
  struct rc_queue *q = arg;
  if (q->armed_pred && strcmp(q->armed_pred, path) == 0) {
    free(q->armed_pred);
    q->armed_pred = NULL;
  }
  if (type != ROOST_EVENT_NOT_WATCHING && !q->eph.detached)
    q_check(q);
  rc_eph_unref(&q->eph);
}

struct q_exists {
  struct rc_queue *q;
  bool armed; /* this call set the watch */
};

static void q_exists_done(roost_client *c, const roost_result *res,
                          void *arg) {
  (void)c;
  struct q_exists *x = arg;
  struct rc_queue *q = x->q;
  if (x->armed && res->err != ROOST_OK && res->err != ROOST_NONODE) {
    free(q->armed_pred);
    q->armed_pred = NULL;
    rc_eph_unref(&q->eph); /* watcher never runs */
  }
  if (res->err == ROOST_NONODE && !q->eph.detached)
    q_check(q); /* predecessor left meanwhile: look again */
  free(x);
  rc_eph_unref(&q->eph);
}

static int seq_cmp(const void *a, const void *b) {
  int64_t x = rc_seq_of(*(char *const *)a), y = rc_seq_of(*(char *const *)b);
  return x < y ? -1 : x > y;
}

static void q_children_done(roost_client *c, const roost_result *res,
                            void *arg) {
  struct rc_queue *q = arg;
  q->checking = false;
  if (res->err == ROOST_OK && q->eph.path && !q->eph.detached) {
    const char *me = base_name(q->eph.path);
    char **v = malloc((res->n_children ? (size_t)res->n_children : 1) *
                      sizeof *v);
    size_t n = 0;
    for (int32_t i = 0; v && i < res->n_children; i++)
      v[n++] = res->children[i];
    if (v)
      qsort(v, n, sizeof *v, seq_cmp);
    size_t idx = n;
    for (size_t i = 0; i < n; i++)
      if (strcmp(v[i], me) == 0)
        idx = i;
    if (idx == 0) {
      q_set_first(q, true);
    } else if (idx < n) {
      q_set_first(q, false);
      size_t pl = strlen(q->eph.dir) + strlen(v[idx - 1]) + 2;
      char *pred = malloc(pl);
      struct q_exists *x = calloc(1, sizeof *x);
      if (pred && x) {
        snprintf(pred, pl, "%s/%s", q->eph.dir, v[idx - 1]);
        x->q = q;
        /* One watch per predecessor: the client keeps one entry per
         * (watcher, path), so arming twice would fire once. */
        x->armed = q->armed_pred == NULL || strcmp(q->armed_pred, pred) != 0;
        rc_eph_ref(&q->eph);
        if (x->armed) {
          rc_eph_ref(&q->eph);
          free(q->armed_pred);
          q->armed_pred = pred;
          pred = NULL;
        }
        const char *target = x->armed ? q->armed_pred : pred;
        if (roost_exists_async(c, target, x->armed ? q_pred_watch : NULL, q,
                               q_exists_done, x) != ROOST_OK) {
          rc_eph_unref(&q->eph);
          if (x->armed) {
            rc_eph_unref(&q->eph);
            free(q->armed_pred);
            q->armed_pred = NULL;
          }
          free(x);
        }
      } else {
        free(x);
      }
      free(pred);
    }
    /* idx == n: our node is gone; rc_eph notices and makes a new one. */
    free(v);
  }
  if (q->again && !q->eph.detached) {
    q->again = false;
    q_check(q);
  }
  rc_eph_unref(&q->eph);
}

static void q_check(struct rc_queue *q) {
  if (q->eph.path == NULL || q->eph.detached)
    return;
  if (q->checking) {
    q->again = true;
    return;
  }
  q->checking = true;
  rc_eph_ref(&q->eph);
  if (roost_get_children_async(q->eph.c, q->eph.dir, NULL, NULL,
                               q_children_done, q) != ROOST_OK) {
    q->checking = false;
    rc_eph_unref(&q->eph);
  }
}

static void q_created(struct rc_eph *e, int err) {
  if (err == ROOST_OK)
    q_check((struct rc_queue *)e);
}

static void q_lost(struct rc_eph *e) {
  q_set_first((struct rc_queue *)e, false);
}

static void q_session(struct rc_eph *e, int event) {
  struct rc_queue *q = (struct rc_queue *)e;
  if (event == ROOST_SESSION_DISCONNECTED)
    q_set_first(q, false); /* cannot know while cut off */
  else if (event == ROOST_SESSION_CONNECTED && e->path)
    q_check(q);
}

static int q_init(struct rc_queue *q, roost_client *c, const char *dir,
                  const char *prefix, const char *data,
                  void (*destroy)(struct rc_eph *)) {
  if (c == NULL || dir == NULL)
    return ROOST_EINVAL;
  if (proto_path_validate(dir, strlen(dir)) != PROTO_OK || strcmp(dir, "/") == 0)
    return ROOST_BADARGUMENTS;
  uint64_t seed = (uint64_t)(uintptr_t)q ^ uv_hrtime();
  size_t dl = data ? strlen(data) : 0;
  if (dl > INT32_MAX)
    return ROOST_EINVAL;
  int rc = rc_eph_init(&q->eph, c, dir, prefix, data, (int32_t)dl, &seed);
  if (rc != ROOST_OK)
    return rc;
  q->eph.destroy = destroy;
  q->eph.on_created = q_created;
  q->eph.on_lost = q_lost;
  q->eph.on_session = q_session;
  return ROOST_OK;
}

static void q_free_fields(struct rc_queue *q) {
  free(q->armed_pred);
  rc_eph_free_fields(&q->eph);
}

/* ------------------------------------------------------------------ */
/* Election */

struct roost_election {
  struct rc_queue q; /* first */
  roost_election_cb cb;
  void *arg;
  bool leader; /* snapshot, under q.eph.mu */
};

static void el_destroy(struct rc_eph *e) {
  q_free_fields((struct rc_queue *)e);
  free(e);
}

static void el_first(struct rc_queue *q, bool first) {
  roost_election *el = (roost_election *)q;
  uv_mutex_lock(&q->eph.mu);
  el->leader = first;
  uv_mutex_unlock(&q->eph.mu);
  if (el->cb)
    el->cb(el, first, el->arg);
}

static void el_start(roost_client *c, void *arg) {
  roost_election *el = arg;
  rc_client_hook_add(c, &el->q.eph.hook);
  rc_eph_start(&el->q.eph);
}

int roost_election_new(roost_client *c, const char *dir, const char *data,
                       roost_election_cb cb, void *arg, roost_election **out) {
  if (out == NULL)
    return ROOST_EINVAL;
  *out = NULL;
  roost_election *el = calloc(1, sizeof *el);
  if (el == NULL)
    return ROOST_ENOMEM;
  int rc = q_init(&el->q, c, dir, "n_", data, el_destroy);
  if (rc != ROOST_OK) {
    free(el);
    return rc;
  }
  el->q.on_first = el_first;
  el->cb = cb;
  el->arg = arg;
  rc = rc_client_call(c, el_start, el);
  if (rc != ROOST_OK) {
    q_free_fields(&el->q);
    free(el);
    return rc;
  }
  *out = el;
  return ROOST_OK;
}

bool roost_election_is_leader(roost_election *e) {
  uv_mutex_lock(&e->q.eph.mu);
  bool l = e->leader;
  uv_mutex_unlock(&e->q.eph.mu);
  return l;
}

static void el_stop(roost_client *c, void *arg) {
  (void)c;
  roost_election *el = arg;
  rc_eph_remove(&el->q.eph);
  q_set_first(&el->q, false); /* resigning is losing leadership */
  rc_eph_detach(&el->q.eph);
}

int roost_election_free(roost_election *e) {
  if (e == NULL)
    return ROOST_EINVAL;
  return rc_client_call_wait(e->q.eph.c, el_stop, e);
}

/* ------------------------------------------------------------------ */
/* Lock */

enum { LK_IDLE, LK_ACQUIRING, LK_HELD };
#define LK_PENDING 1 /* result not known yet (errors are negative) */

struct roost_lock {
  struct rc_queue q; /* first */
  uv_cond_t cv;      /* with q.eph.mu */
  int state;         /* under q.eph.mu */
  int result;        /* acquire outcome, under q.eph.mu */
  bool connected;    /* under q.eph.mu */
};

static void lk_destroy(struct rc_eph *e) {
  roost_lock *l = (roost_lock *)e;
  uv_cond_destroy(&l->cv);
  q_free_fields(&l->q);
  free(l);
}

static void lk_finish(roost_lock *l, int result, int state) {
  uv_mutex_lock(&l->q.eph.mu);
  if (l->result == LK_PENDING)
    l->result = result;
  l->state = state;
  uv_cond_broadcast(&l->cv);
  uv_mutex_unlock(&l->q.eph.mu);
}

static void lk_first(struct rc_queue *q, bool first) {
  roost_lock *l = (roost_lock *)q;
  uv_mutex_lock(&q->eph.mu);
  int st = l->state;
  uv_mutex_unlock(&q->eph.mu);
  if (first && st == LK_ACQUIRING)
    lk_finish(l, ROOST_OK, LK_HELD);
}

static void lk_session(struct rc_eph *e, int event) {
  roost_lock *l = (roost_lock *)e;
  q_session(e, event);
  uv_mutex_lock(&e->mu);
  if (event == ROOST_SESSION_DISCONNECTED)
    l->connected = false;
  else if (event == ROOST_SESSION_CONNECTED)
    l->connected = true;
  bool acquiring = l->state == LK_ACQUIRING;
  bool held = l->state == LK_HELD;
  uv_mutex_unlock(&e->mu);
  if (event == ROOST_SESSION_EXPIRED) {
    e->want = false; /* the lock (or our place in line) went with it */
    if (acquiring)
      lk_finish(l, ROOST_SESSIONEXPIRED, LK_IDLE);
    else if (held)
      lk_finish(l, ROOST_OK, LK_IDLE);
  }
}

/* Attached from the start so that roost_client_close releases it. */
static void lk_attach(roost_client *c, void *arg) {
  roost_lock *l = arg;
  rc_client_hook_add(c, &l->q.eph.hook);
}

int roost_lock_new(roost_client *c, const char *dir, roost_lock **out) {
  if (out == NULL)
    return ROOST_EINVAL;
  *out = NULL;
  roost_lock *l = calloc(1, sizeof *l);
  if (l == NULL)
    return ROOST_ENOMEM;
  int rc = q_init(&l->q, c, dir, "lock-", NULL, lk_destroy);
  if (rc != ROOST_OK) {
    free(l);
    return rc;
  }
  if (uv_cond_init(&l->cv) != 0) {
    q_free_fields(&l->q);
    free(l);
    return ROOST_ENOMEM;
  }
  l->q.on_first = lk_first;
  l->q.eph.on_session = lk_session;
  l->state = LK_IDLE;
  rc = rc_client_call(c, lk_attach, l);
  if (rc != ROOST_OK) {
    uv_cond_destroy(&l->cv);
    q_free_fields(&l->q);
    free(l);
    return rc;
  }
  *out = l;
  return ROOST_OK;
}

static void lk_start(roost_client *c, void *arg) {
  roost_lock *l = arg;
  uv_mutex_lock(&l->q.eph.mu);
  l->connected = rc_client_core(c)->state == RC_ST_CONNECTED;
  uv_mutex_unlock(&l->q.eph.mu);
  l->q.first = false;
  rc_eph_start(&l->q.eph);
}

static void lk_stop(roost_client *c, void *arg) {
  (void)c;
  roost_lock *l = arg;
  rc_eph_remove(&l->q.eph);
  l->q.first = false;
  uv_mutex_lock(&l->q.eph.mu);
  l->state = LK_IDLE;
  uv_mutex_unlock(&l->q.eph.mu);
}

int roost_lock_acquire(roost_lock *l, int32_t timeout_ms) {
  if (l == NULL)
    return ROOST_EINVAL;
  roost_client *c = l->q.eph.c;
  if (rc_client_on_loop(c))
    return ROOST_EDEADLK;
  uv_mutex_lock(&l->q.eph.mu);
  if (l->state != LK_IDLE) {
    uv_mutex_unlock(&l->q.eph.mu);
    return ROOST_ESTATE;
  }
  l->state = LK_ACQUIRING;
  l->result = LK_PENDING;
  uv_mutex_unlock(&l->q.eph.mu);
  int rc = rc_client_call(c, lk_start, l);
  if (rc != ROOST_OK) {
    uv_mutex_lock(&l->q.eph.mu);
    l->state = LK_IDLE;
    uv_mutex_unlock(&l->q.eph.mu);
    return rc;
  }
  uint64_t deadline = uv_hrtime() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000ull;
  uv_mutex_lock(&l->q.eph.mu);
  while (l->result == LK_PENDING) {
    if (timeout_ms < 0) {
      uv_cond_wait(&l->cv, &l->q.eph.mu);
      continue;
    }
    uint64_t now = uv_hrtime();
    if (now >= deadline)
      break;
    (void)uv_cond_timedwait(&l->cv, &l->q.eph.mu, deadline - now);
  }
  rc = l->result == LK_PENDING ? ROOST_ETIMEDOUT : l->result;
  uv_mutex_unlock(&l->q.eph.mu);
  if (rc != ROOST_OK)
    (void)rc_client_call_wait(c, lk_stop, l); /* leave the line */
  return rc;
}

bool roost_lock_is_held(roost_lock *l) {
  uv_mutex_lock(&l->q.eph.mu);
  bool h = l->state == LK_HELD && l->connected;
  uv_mutex_unlock(&l->q.eph.mu);
  return h;
}

int roost_lock_release(roost_lock *l) {
  if (l == NULL)
    return ROOST_EINVAL;
  uv_mutex_lock(&l->q.eph.mu);
  bool held = l->state == LK_HELD;
  uv_mutex_unlock(&l->q.eph.mu);
  if (!held)
    return ROOST_ESTATE;
  return rc_client_call_wait(l->q.eph.c, lk_stop, l);
}

static void lk_free(roost_client *c, void *arg) {
  roost_lock *l = arg;
  lk_stop(c, l);
  rc_eph_detach(&l->q.eph);
}

int roost_lock_free(roost_lock *l) {
  if (l == NULL)
    return ROOST_EINVAL;
  return rc_client_call_wait(l->q.eph.c, lk_free, l);
}
