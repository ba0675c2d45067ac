/* libroost_watch HOSTS MODE — ZooKeeper 3.6+ calls of libroost end to end.
 *
 *   ops        addWatch (persistent, recursive) event order under a burst of
 *              pipelined creates/sets/deletes in a subtree, removeWatches /
 *              checkWatches for every watcher type (with NoWatcher),
 *              removeWatches racing an event, multiRead, getEphemerals,
 *              getAllChildrenNumber, whoAmI; blocking and async forms.
 *   reconnect  a recursive watch across a server restart: burst 1, "ready",
 *              the harness restarts the server, burst 2; the events must be
 *              exactly the history of both bursts (nothing lost, nothing
 *              twice) — setWatches2 re-armed the watch.
 *
 * Prints FAIL lines and "PASSED" at the end when all checks held; exit 0
 * only then.  Driven by test_libroost.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "client/roost.h"
#include "libroost_check.h"
#include "libroost_sess.h"

/* A log of "TYPE PATH" lines written by callbacks on the I/O thread. */
struct elog {
  uv_mutex_t mu;
  uv_cond_t cv;
  char **items;
  int n, cap;
};

static void elog_init(struct elog *l) {
  memset(l, 0, sizeof *l);
  uv_mutex_init(&l->mu);
  uv_cond_init(&l->cv);
}

static void elog_add(struct elog *l, const char *s) {
  uv_mutex_lock(&l->mu);
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 64;
    l->items = realloc(l->items, (size_t)l->cap * sizeof *l->items);
  }
  l->items[l->n++] = strdup(s);
  uv_cond_broadcast(&l->cv);
  uv_mutex_unlock(&l->mu);
}

static int elog_count(struct elog *l) {
  uv_mutex_lock(&l->mu);
  int n = l->n;
  uv_mutex_unlock(&l->mu);
  return n;
}

static bool elog_wait(struct elog *l, int n, int seconds) {
  uint64_t deadline = uv_hrtime() + (uint64_t)seconds * 1000000000ull;
  uv_mutex_lock(&l->mu);
  while (l->n < n && uv_hrtime() < deadline)
    uv_cond_timedwait(&l->cv, &l->mu, 100000000ull);
  bool ok = l->n >= n;
  uv_mutex_unlock(&l->mu);
  return ok;
}

static void elog_clear(struct elog *l) {
  uv_mutex_lock(&l->mu);
  for (int i = 0; i < l->n; i++)
    free(l->items[i]);
  l->n = 0;
  uv_mutex_unlock(&l->mu);
}

static void elog_free(struct elog *l) {
  elog_clear(l);
  free(l->items);
  uv_cond_destroy(&l->cv);
  uv_mutex_destroy(&l->mu);
}

/* Compares the log with want[0..n); prints the first difference. */
static void elog_expect(struct elog *l, char **want, int n, const char *what) {
  elog_wait(l, n, 20);
  uv_mutex_lock(&l->mu);
  CHECK(l->n == n, "%s: %d events, want %d", what, l->n, n);
  for (int i = 0; i < n && i < l->n; i++)
    if (strcmp(l->items[i], want[i]) != 0) {
      CHECK(0, "%s: event %d is '%s', want '%s'", what, i, l->items[i],
            want[i]);
      break;
    }
  uv_mutex_unlock(&l->mu);
}

static void log_watch(roost_client *c, int type, const char *path, void *arg) {
  (void)c;
  char s[300];
  snprintf(s, sizeof s, "%d %s", type, path);
  elog_add(arg, s);
}

/* Async completion that keeps a copy of what the checks need. */
struct done {
  struct elog log;
  int err;
  int64_t count;
  int n;
};

static void on_done(roost_client *c, const roost_result *res, void *arg) {
  (void)c;
  struct done *d = arg;
  d->err = res->err;
  d->count = res->count;
  d->n = res->n_children + res->n_acl + res->n_ops;
  elog_add(&d->log, "done");
}

static void wait_done(struct done *d) {
  CHECK(elog_wait(&d->log, 1, 20), "async call never completed");
  elog_clear(&d->log);
}

/* ------------------------------------------------------------------ */
/* The burst: pipelined async writes whose order the events must keep. */

struct hist {
  char **ev;
  int n, cap;
};

static void hist_add(struct hist *h, int type, const char *path) {
  if (h->n == h->cap) {
    h->cap = h->cap ? h->cap * 2 : 64;
    h->ev = realloc(h->ev, (size_t)h->cap * sizeof *h->ev);
  }
  char s[300];
  snprintf(s, sizeof s, "%d %s", type, path);
  h->ev[h->n++] = strdup(s);
}

static void hist_free(struct hist *h) {
  for (int i = 0; i < h->n; i++)
    free(h->ev[i]);
  free(h->ev);
  memset(h, 0, sizeof *h);
}

/* Writes `rounds` rounds under dir through w, pipelined; appends what a
 * recursive watch on dir must see to rec and what a persistent watch on
 * dir must see to per. */
static void burst(roost_client *w, const char *dir, const char *tag, int rounds,
                  struct hist *rec, struct hist *per) {
  struct done d;
  memset(&d, 0, sizeof d);
  elog_init(&d.log);
  int issued = 0;
  char a[200], b[200];
  for (int i = 0; i < rounds; i++) {
    snprintf(a, sizeof a, "%s/%s%d", dir, tag, i);
    snprintf(b, sizeof b, "%s/%s%d/k", dir, tag, i);
    CHECK_RC(roost_create_async(w, a, "x", 1, NULL, on_done, &d), ROOST_OK);
    hist_add(rec, ROOST_EVENT_CREATED, a);
    hist_add(per, ROOST_EVENT_CHILDREN_CHANGED, dir);
    CHECK_RC(roost_create_async(w, b, NULL, 0, NULL, on_done, &d), ROOST_OK);
    hist_add(rec, ROOST_EVENT_CREATED, b);
    CHECK_RC(roost_set_async(w, b, "y", 1, -1, on_done, &d), ROOST_OK);
    hist_add(rec, ROOST_EVENT_DATA_CHANGED, b);
    CHECK_RC(roost_set_async(w, dir, "z", 1, -1, on_done, &d), ROOST_OK);
    hist_add(rec, ROOST_EVENT_DATA_CHANGED, dir);
    hist_add(per, ROOST_EVENT_DATA_CHANGED, dir);
    CHECK_RC(roost_delete_async(w, b, -1, on_done, &d), ROOST_OK);
    hist_add(rec, ROOST_EVENT_DELETED, b);
    issued += 5;
    if (i % 2 == 1) { /* every other round the parent goes as well */
      CHECK_RC(roost_delete_async(w, a, -1, on_done, &d), ROOST_OK);
      hist_add(rec, ROOST_EVENT_DELETED, a);
      hist_add(per, ROOST_EVENT_CHILDREN_CHANGED, dir);
      issued++;
    }
  }
  CHECK(elog_wait(&d.log, issued, 30), "burst: %d of %d replies",
        elog_count(&d.log), issued);
  elog_free(&d.log);
}

/* ------------------------------------------------------------------ */

static void test_burst(roost_client *r, roost_client *w, const char *base) {
  char dir[200];
  snprintf(dir, sizeof dir, "%s/t", base);
  CHECK_RC(roost_create(w, dir, NULL, 0, NULL, NULL), ROOST_OK);
  struct elog rec, per;
  elog_init(&rec);
  elog_init(&per);
  CHECK_RC(roost_add_watch(r, dir, ROOST_WATCH_PERSISTENT_RECURSIVE, log_watch,
                           &rec),
           ROOST_OK);
  struct done d;
  memset(&d, 0, sizeof d);
  elog_init(&d.log);
  /* The persistent watch is the writer's: ZooKeeper 3.8.0 replaces the
   * mode of a second registration on the same path and connection
   * (ZOOKEEPER-4466). */
  CHECK_RC(roost_add_watch_async(w, dir, ROOST_WATCH_PERSISTENT, log_watch,
                                 &per, on_done, &d),
           ROOST_OK);
  wait_done(&d);
  CHECK(d.err == ROOST_OK, "add_watch_async %s", roost_err_name(d.err));
  CHECK_RC(roost_add_watch(r, dir, 7, log_watch, &per), ROOST_EINVAL);
  CHECK_RC(roost_add_watch(r, dir, 0, NULL, NULL), ROOST_EINVAL);
  struct hist hr = {0}, hp = {0};
  burst(w, dir, "n", 40, &hr, &hp);
  elog_expect(&rec, hr.ev, hr.n, "recursive burst");
  elog_expect(&per, hp.ev, hp.n, "persistent burst");
  CHECK_RC(roost_check_watches(r, dir, ROOST_WATCHER_PERSISTENT_RECURSIVE, NULL,
                               NULL, false),
           ROOST_OK);
  /* Removing one kind leaves the other; each watcher hears of its end. */
  elog_clear(&rec);
  elog_clear(&per);
  CHECK_RC(roost_remove_watches(r, dir, ROOST_WATCHER_PERSISTENT_RECURSIVE,
                                NULL, NULL, false),
           ROOST_OK);
  char want[300];
  snprintf(want, sizeof want, "%d %s", ROOST_EVENT_PERSISTENT_WATCH_REMOVED,
           dir);
  char *w1[] = {want};
  elog_expect(&rec, w1, 1, "recursive removed");
  CHECK_RC(roost_check_watches(r, dir, ROOST_WATCHER_PERSISTENT_RECURSIVE, NULL,
                               NULL, false),
           ROOST_NOWATCHER);
  CHECK_RC(roost_set(w, dir, "q", 1, -1, NULL), ROOST_OK);
  char ev[300];
  snprintf(ev, sizeof ev, "%d %s", ROOST_EVENT_DATA_CHANGED, dir);
  char *w2[] = {ev};
  elog_expect(&per, w2, 1, "persistent still there");
  CHECK_RC(roost_remove_watches_async(w, dir, ROOST_WATCHER_PERSISTENT, NULL,
                                      NULL, false, on_done, &d),
           ROOST_OK);
  wait_done(&d);
  CHECK(d.err == ROOST_OK, "remove persistent %s", roost_err_name(d.err));
  CHECK_RC(
      roost_remove_watches(w, dir, ROOST_WATCHER_PERSISTENT, NULL, NULL, false),
      ROOST_NOWATCHER);
  CHECK_RC(roost_set(w, dir, "q2", 2, -1, NULL), ROOST_OK);
  snprintf(want, sizeof want, "%d %s", ROOST_EVENT_PERSISTENT_WATCH_REMOVED,
           dir);
  char *w3[] = {ev, want};
  elog_expect(&per, w3, 2, "persistent removed, no more events");
  elog_free(&d.log);
  elog_free(&rec);
  elog_free(&per);
  hist_free(&hr);
  hist_free(&hp);
}

/* One-shot watchers: every watcher type, NoWatcher, one of two watchers,
 * local removal. */
static void test_remove_types(roost_client *r, roost_client *w,
                              const char *base) {
  char n[200];
  snprintf(n, sizeof n, "%s/rm", base);
  CHECK_RC(roost_create(w, n, NULL, 0, NULL, NULL), ROOST_OK);
  struct elog a, b;
  elog_init(&a);
  elog_init(&b);
  char want[300];
  /* data */
  CHECK_RC(roost_get(r, n, log_watch, &a, NULL), ROOST_OK);
  CHECK_RC(roost_check_watches(r, n, ROOST_WATCHER_DATA, NULL, NULL, false),
           ROOST_OK);
  CHECK_RC(roost_check_watches(r, n, ROOST_WATCHER_CHILDREN, NULL, NULL, false),
           ROOST_NOWATCHER);
  CHECK_RC(
      roost_remove_watches(r, n, ROOST_WATCHER_CHILDREN, NULL, NULL, false),
      ROOST_NOWATCHER);
  CHECK_RC(roost_remove_watches(r, n, ROOST_WATCHER_DATA, log_watch, &a, false),
           ROOST_OK);
  snprintf(want, sizeof want, "%d %s", ROOST_EVENT_DATA_WATCH_REMOVED, n);
  char *wd[] = {want};
  elog_expect(&a, wd, 1, "data watch removed");
  CHECK_RC(roost_remove_watches(r, n, ROOST_WATCHER_DATA, NULL, NULL, false),
           ROOST_NOWATCHER);
  elog_clear(&a);
  /* exists on a missing node counts as data */
  char m[220];
  snprintf(m, sizeof m, "%s/missing", n);
  CHECK_RC(roost_exists(r, m, log_watch, &a, NULL), ROOST_NONODE);
  CHECK_RC(roost_remove_watches(r, m, ROOST_WATCHER_ANY, NULL, NULL, false),
           ROOST_OK);
  snprintf(want, sizeof want, "%d %s", ROOST_EVENT_DATA_WATCH_REMOVED, m);
  elog_expect(&a, wd, 1, "exists watch removed");
  elog_clear(&a);
  /* child */
  CHECK_RC(roost_get_children(r, n, log_watch, &a, NULL), ROOST_OK);
  CHECK_RC(roost_check_watches(r, n, ROOST_WATCHER_CHILDREN, NULL, NULL, false),
           ROOST_OK);
  CHECK_RC(
      roost_remove_watches(r, n, ROOST_WATCHER_CHILDREN, NULL, NULL, false),
      ROOST_OK);
  snprintf(want, sizeof want, "%d %s", ROOST_EVENT_CHILD_WATCH_REMOVED, n);
  elog_expect(&a, wd, 1, "child watch removed");
  elog_clear(&a);
  /* any: data and child at once */
  CHECK_RC(roost_get(r, n, log_watch, &a, NULL), ROOST_OK);
  CHECK_RC(roost_get_children(r, n, log_watch, &a, NULL), ROOST_OK);
  CHECK_RC(roost_remove_watches(r, n, ROOST_WATCHER_ANY, NULL, NULL, false),
           ROOST_OK);
  CHECK(elog_wait(&a, 2, 10) && elog_count(&a) == 2, "any: %d calls",
        elog_count(&a));
  elog_clear(&a);
  /* two watchers on one path: removing one leaves the other armed */
  CHECK_RC(roost_get(r, n, log_watch, &a, NULL), ROOST_OK);
  CHECK_RC(roost_get(r, n, log_watch, &b, NULL), ROOST_OK);
  CHECK_RC(roost_remove_watches(r, n, ROOST_WATCHER_DATA, log_watch, &a, false),
           ROOST_OK);
  snprintf(want, sizeof want, "%d %s", ROOST_EVENT_DATA_WATCH_REMOVED, n);
  elog_expect(&a, wd, 1, "first of two removed");
  CHECK_RC(roost_set(w, n, "v", 1, -1, NULL), ROOST_OK);
  char ev[300];
  snprintf(ev, sizeof ev, "%d %s", ROOST_EVENT_DATA_CHANGED, n);
  char *we[] = {ev};
  elog_expect(&b, we, 1, "second of two still fires");
  elog_clear(&a);
  elog_clear(&b);
  /* local: removed here even though the server keeps its watch */
  CHECK_RC(roost_get(r, n, log_watch, &a, NULL), ROOST_OK);
  CHECK_RC(roost_check_watches(r, n, ROOST_WATCHER_DATA, NULL, NULL, true),
           ROOST_OK);
  CHECK_RC(roost_remove_watches(r, n, ROOST_WATCHER_DATA, NULL, NULL, true),
           ROOST_OK);
  CHECK_RC(roost_set(w, n, "v2", 2, -1, NULL), ROOST_OK);
  CHECK_RC(roost_sync(r, n), ROOST_OK);
  CHECK_RC(roost_get(r, n, NULL, NULL, NULL), ROOST_OK);
  elog_expect(&a, wd, 1, "local removal, event dropped");
  CHECK_RC(roost_remove_watches(r, n, 9, NULL, NULL, false), ROOST_EINVAL);
  elog_free(&a);
  elog_free(&b);
}

/* removeWatches racing the event it would prevent: each watcher is called
 * exactly once, with the event when the removal answered NOWATCHER and
 * with DATA_WATCH_REMOVED when it answered OK. */
struct race {
  struct elog calls;
  struct elog replies;
};

static void race_watch(roost_client *c, int type, const char *path, void *arg) {
  (void)c;
  char s[300];
  snprintf(s, sizeof s, "%d %s", type, path);
  elog_add(&((struct race *)arg)->calls, s);
}

static void race_reply(roost_client *c, const roost_result *res, void *arg) {
  (void)c;
  elog_add(&((struct race *)arg)->replies, roost_err_name(res->err));
}

static void test_remove_race(roost_client *r, roost_client *w,
                             const char *base) {
  enum { ROUNDS = 60 };
  char n[200];
  snprintf(n, sizeof n, "%s/race", base);
  CHECK_RC(roost_create(w, n, NULL, 0, NULL, NULL), ROOST_OK);
  struct race rs[ROUNDS];
  int removed = 0, fired = 0;
  for (int i = 0; i < ROUNDS; i++) {
    struct race *x = &rs[i];
    elog_init(&x->calls);
    elog_init(&x->replies);
    CHECK_RC(roost_get(r, n, race_watch, x, NULL), ROOST_OK);
    CHECK_RC(roost_set_async(w, n, "r", 1, -1, NULL, NULL), ROOST_OK);
    CHECK_RC(roost_remove_watches_async(r, n, ROOST_WATCHER_DATA, race_watch, x,
                                        false, race_reply, x),
             ROOST_OK);
    CHECK(elog_wait(&x->replies, 1, 20), "race %d: no reply", i);
    CHECK(elog_wait(&x->calls, 1, 20), "race %d: watcher never called", i);
    CHECK_RC(roost_sync(w, n), ROOST_OK);
    CHECK_RC(roost_sync(r, n), ROOST_OK);
    uv_mutex_lock(&x->calls.mu);
    bool ok = x->calls.n == 1 && x->replies.n == 1;
    if (ok) {
      int type = atoi(x->calls.items[0]);
      const char *rep = x->replies.items[0];
      if (strcmp(rep, "OK") == 0) {
        ok = type == ROOST_EVENT_DATA_WATCH_REMOVED;
        removed++;
      } else {
        ok = strcmp(rep, "NOWATCHER") == 0 && type == ROOST_EVENT_DATA_CHANGED;
        fired++;
      }
    }
    CHECK(ok, "race %d: %d calls (%s), %d replies (%s)", i, x->calls.n,
          x->calls.n ? x->calls.items[0] : "-", x->replies.n,
          x->replies.n ? x->replies.items[0] : "-");
    uv_mutex_unlock(&x->calls.mu);
  }
  printf("race: %d removed first, %d fired first\n", removed, fired);
  for (int i = 0; i < ROUNDS; i++) {
    elog_free(&rs[i].calls);
    elog_free(&rs[i].replies);
  }
}

static bool has_str(char **v, int n, const char *s) {
  for (int i = 0; i < n; i++)
    if (strcmp(v[i], s) == 0)
      return true;
  return false;
}

static void test_reads(roost_client *r, roost_client *w, const char *base) {
  char d[200], x[220], e1[220], e2[220], miss[220], pre[260];
  snprintf(d, sizeof d, "%s/rd", base);
  snprintf(x, sizeof x, "%s/x", d);
  snprintf(e1, sizeof e1, "%s/e1", d);
  snprintf(e2, sizeof e2, "%s/e2", d);
  snprintf(miss, sizeof miss, "%s/missing", d);
  CHECK_RC(roost_create(w, d, NULL, 0, NULL, NULL), ROOST_OK);
  CHECK_RC(roost_create(w, x, "hello", 5, NULL, NULL), ROOST_OK);
  roost_create_opts eph = {ROOST_EPHEMERAL, 0, NULL, 0};
  CHECK_RC(roost_create(r, e1, NULL, 0, &eph, NULL), ROOST_OK);
  CHECK_RC(roost_create(r, e2, NULL, 0, &eph, NULL), ROOST_OK);
  /* multiRead */
  roost_multi *m = roost_multi_new();
  CHECK_RC(roost_multi_add_get(m, x), ROOST_OK);
  CHECK_RC(roost_multi_add_get_children(m, d), ROOST_OK);
  CHECK_RC(roost_multi_add_get(m, miss), ROOST_OK);
  roost_result *res = NULL;
  CHECK_RC(roost_multi_read(r, m, &res), ROOST_OK);
  CHECK(res && res->op == ROOST_OP_MULTI_READ && res->n_ops == 3,
        "multiRead results");
  if (res && res->n_ops == 3) {
    CHECK(res->ops[0].err == ROOST_OK && res->ops[0].op == ROOST_OP_GET &&
              res->ops[0].data_len == 5 &&
              strcmp(res->ops[0].data, "hello") == 0 && res->ops[0].has_stat,
          "multiRead get");
    CHECK(res->ops[1].err == ROOST_OK &&
              res->ops[1].op == ROOST_OP_GET_CHILDREN &&
              res->ops[1].n_children == 3,
          "multiRead children (%d)", res->ops[1].n_children);
    CHECK(res->ops[2].err == ROOST_NONODE, "multiRead missing: %s",
          roost_err_name(res->ops[2].err));
  }
  roost_result_free(res);
  struct done dn;
  memset(&dn, 0, sizeof dn);
  elog_init(&dn.log);
  CHECK_RC(roost_multi_read_async(r, m, on_done, &dn), ROOST_OK);
  wait_done(&dn);
  CHECK(dn.err == ROOST_OK && dn.n == 3, "multiRead async");
  CHECK_RC(roost_multi_commit(r, m, NULL), ROOST_EINVAL);
  CHECK_RC(roost_multi_add_check(m, x, -1), ROOST_OK);
  CHECK_RC(roost_multi_read(r, m, NULL), ROOST_EINVAL);
  roost_multi_free(m);
  /* getEphemerals: this session's, by string prefix */
  snprintf(pre, sizeof pre, "%s/e", d);
  CHECK_RC(roost_get_ephemerals(r, pre, &res), ROOST_OK);
  CHECK(res && res->n_children == 2 &&
            has_str(res->children, res->n_children, e1) &&
            has_str(res->children, res->n_children, e2),
        "getEphemerals %d", res ? res->n_children : -1);
  roost_result_free(res);
  CHECK_RC(roost_get_ephemerals(w, pre, &res), ROOST_OK);
  CHECK(res && res->n_children == 0, "other session's ephemerals");
  roost_result_free(res);
  CHECK_RC(roost_get_ephemerals_async(r, "/", on_done, &dn), ROOST_OK);
  wait_done(&dn);
  CHECK(dn.err == ROOST_OK && dn.n >= 2, "getEphemerals / async: %d", dn.n);
  /* getAllChildrenNumber */
  CHECK_RC(roost_create(w, miss, NULL, 0, NULL, NULL), ROOST_OK);
  snprintf(pre, sizeof pre, "%s/k", miss);
  CHECK_RC(roost_create(w, pre, NULL, 0, NULL, NULL), ROOST_OK);
  CHECK_RC(roost_get_all_children_number(r, d, &res), ROOST_OK);
  CHECK(res && res->count == 5, "getAllChildrenNumber %lld",
        res ? (long long)res->count : -1ll);
  roost_result_free(res);
  CHECK_RC(roost_get_all_children_number_async(r, miss, on_done, &dn),
           ROOST_OK);
  wait_done(&dn);
  CHECK(dn.err == ROOST_OK && dn.count == 1, "getAllChildrenNumber async");
  snprintf(pre, sizeof pre, "%s/none", d);
  CHECK_RC(roost_get_all_children_number(r, pre, NULL), ROOST_NONODE);
  /* whoAmI */
  CHECK_RC(roost_whoami(r, &res), ROOST_OK);
  CHECK(res && res->n_acl >= 1 && strcmp(res->acl[0].scheme, "ip") == 0,
        "whoami ip");
  roost_result_free(res);
  CHECK_RC(roost_add_auth(r, "digest", "wu:wp", 5), ROOST_OK);
  CHECK_RC(roost_whoami(r, &res), ROOST_OK);
  bool digest = false;
  for (int32_t i = 0; res && i < res->n_acl; i++)
    digest |= strcmp(res->acl[i].scheme, "digest") == 0 &&
              strcmp(res->acl[i].id, "wu") == 0;
  CHECK(digest, "whoami digest wu");
  roost_result_free(res);
  CHECK_RC(roost_whoami_async(r, on_done, &dn), ROOST_OK);
  wait_done(&dn);
  CHECK(dn.err == ROOST_OK && dn.n >= 2, "whoami async");
  elog_free(&dn.log);
}

/* ------------------------------------------------------------------ */

static void run_reconnect(const char *hosts, const char *base) {
  struct lr_sess s;
  lr_sess_init(&s);
  roost_options o;
  lr_sess_options(&o, &s);
  o.session_timeout_ms = 30000;
  roost_client *r, *w;
  CHECK_RC(roost_client_new(hosts, &o, &r), ROOST_OK);
  roost_options ow;
  roost_options_init(&ow);
  ow.session_timeout_ms = 30000;
  CHECK_RC(roost_client_new(hosts, &ow, &w), ROOST_OK);
  CHECK_RC(roost_client_wait_connected(r, 10000), ROOST_OK);
  CHECK_RC(roost_client_wait_connected(w, 10000), ROOST_OK);
  int64_t sid = roost_client_session_id(r);
  CHECK_RC(roost_create(w, base, NULL, 0, NULL, NULL), ROOST_OK);
  struct elog rec;
  elog_init(&rec);
  CHECK_RC(roost_add_watch(r, base, ROOST_WATCH_PERSISTENT_RECURSIVE, log_watch,
                           &rec),
           ROOST_OK);
  struct hist hr = {0}, hp = {0};
  burst(w, base, "a", 20, &hr, &hp);
  CHECK(elog_wait(&rec, hr.n, 20), "burst 1: %d of %d events", elog_count(&rec),
        hr.n);
  /* Notifications carry no zxid (ZooKeeper sends -1), so r's last zxid
   * seen predates burst 1.  A read answered after the events brings it up
   * to them: the next member then refuses r until it has applied burst 1
   * and cannot fire its events again on the re-armed watch, in Roost or
   * ZooKeeper.  Without the read, a lagging member may legally do so. */
  CHECK_RC(roost_exists(r, base, NULL, NULL, NULL), ROOST_OK);
  printf("ready %llx\n", (unsigned long long)sid);
  fflush(stdout);
  CHECK(lr_sess_wait(&s, &s.disconnects, 1, 60), "no disconnect");
  CHECK(lr_sess_wait(&s, &s.connects, 2, 60), "no reconnect");
  CHECK_RC(roost_client_wait_connected(w, 30000), ROOST_OK);
  CHECK(roost_client_session_id(r) == sid, "session changed");
  /* The server applies our setWatches2 before this read: from here on
   * nothing can slip past the watch. */
  CHECK_RC(roost_get(r, base, NULL, NULL, NULL), ROOST_OK);
  printf("reconnected\n");
  fflush(stdout);
  burst(w, base, "b", 20, &hr, &hp);
  elog_expect(&rec, hr.ev, hr.n, "recursive watch across a reconnect");
  CHECK_RC(roost_client_close(r), ROOST_OK);
  CHECK_RC(roost_client_close(w), ROOST_OK);
  elog_free(&rec);
  hist_free(&hr);
  hist_free(&hp);
  lr_sess_destroy(&s);
}

/* ------------------------------------------------------------------ */
/* Health-aware discovery on the recursive watch. */

static void sw_changed(roost_service_watch *w, void *arg) {
  (void)w;
  elog_add(arg, "changed");
}

/* Waits until the (non-critical) list has n instances. */
static bool wait_list(roost_service_watch *sw, struct elog *log, size_t n,
                      int flags) {
  uint64_t deadline = uv_hrtime() + 20ull * 1000000000ull;
  for (;;) {
    roost_instance *v;
    size_t got;
    bool stale;
    if (roost_service_list(sw, flags, &v, &got, &stale) == ROOST_OK) {
      roost_instances_free(v, got);
      if (got == n && !stale)
        return true;
    }
    if (uv_hrtime() > deadline)
      return false;
    elog_wait(log, elog_count(log) + 1, 1);
  }
}

static roost_instance *by_port(roost_instance *v, size_t n, int port) {
  for (size_t i = 0; i < n; i++)
    if (v[i].port == port)
      return &v[i];
  return NULL;
}

static void run_discovery(const char *hosts) {
  roost_client *c;
  CHECK_RC(roost_client_new(hosts, NULL, &c), ROOST_OK);
  CHECK_RC(roost_client_wait_connected(c, 10000), ROOST_OK);
  char dir[128], pfx[160];
  snprintf(dir, sizeof dir, "/services/lrw-disc-%d", (int)uv_os_getpid());
  snprintf(pfx, sizeof pfx, "%s/i-", dir);
  int rc = roost_create(c, "/services", NULL, 0, NULL, NULL);
  CHECK(rc == ROOST_OK || rc == ROOST_NODEEXISTS, "/services: %s",
        roost_err_name(rc));
  CHECK_RC(roost_create(c, dir, NULL, 0, NULL, NULL), ROOST_OK);
  const char *payloads[] = {
      /* A: passing, Consul weights */
      "{\"name\":\"web\",\"id\":\"a\",\"address\":\"10.0.0.1\","
      "\"host\":\"10.0.0.1\",\"port\":8001,\"tags\":[\"blue\",\"v2\"],"
      "\"meta\":{\"zone\":\"z1\"},\"weight\":1,"
      "\"weights\":{\"passing\":9,\"warning\":1},\"status\":\"passing\","
      "\"checks\":[{\"id\":\"c\",\"name\":\"tcp\",\"type\":\"tcp\","
      "\"status\":\"passing\",\"output\":\"\"}]}",
      /* B: warning: its warning weight */
      "{\"name\":\"web\",\"id\":\"b\",\"address\":\"10.0.0.2\","
      "\"port\":8002,\"weights\":{\"passing\":9,\"warning\":1},"
      "\"status\":\"warning\"}",
      /* C: critical */
      "{\"name\":\"web\",\"id\":\"c\",\"address\":\"10.0.0.3\","
      "\"port\":8003,\"status\":\"critical\"}",
      /* D: Curator's ServiceInstance */
      "{\"name\":\"web\",\"id\":\"d\",\"address\":\"10.0.0.4\","
      "\"port\":8004,\"sslPort\":9004,\"payload\":null,"
      "\"registrationTimeUTC\":1700000000000,\"serviceType\":\"DYNAMIC\"}",
      /* E: host:port */
      "10.0.0.5:8005",
  };
  char paths[5][200];
  roost_create_opts es = {ROOST_EPHEMERAL | ROOST_SEQUENTIAL, 0, NULL, 0};
  for (int i = 0; i < 5; i++) {
    roost_result *r = NULL;
    CHECK_RC(roost_create(c, pfx, payloads[i], (int32_t)strlen(payloads[i]),
                          &es, &r),
             ROOST_OK);
    snprintf(paths[i], sizeof paths[i], "%s", r ? r->path : "");
    roost_result_free(r);
  }
  struct elog log;
  elog_init(&log);
  roost_service_watch *sw;
  CHECK_RC(roost_service_watch_new(c, dir + strlen("/services/"), sw_changed,
                                   &log, &sw),
           ROOST_OK);
  CHECK(wait_list(sw, &log, 4, 0), "4 non-critical instances");
  CHECK(wait_list(sw, &log, 5, ROOST_INCLUDE_CRITICAL), "5 in all");
  roost_instance *v = NULL;
  size_t n = 0;
  CHECK_RC(roost_service_instances(sw, &v, &n, NULL), ROOST_OK);
  roost_instance *a = by_port(v, n, 8001), *b = by_port(v, n, 8002),
                 *d = by_port(v, n, 8004), *e = by_port(v, n, 8005);
  CHECK(a && b && d && e && by_port(v, n, 8003) == NULL, "instances");
  if (a && b && d && e) {
    CHECK(a->parsed && a->status == ROOST_HEALTH_PASSING && a->weight == 9.0 &&
              strcmp(a->address, "10.0.0.1") == 0 && a->n_tags == 2 &&
              strcmp(a->tags[0], "blue") == 0 && strcmp(a->id, "a") == 0 &&
              strcmp(a->service, "web") == 0,
          "agent instance fields");
    CHECK(b->status == ROOST_HEALTH_WARNING && b->weight == 1.0,
          "warning instance weight %g", b->weight);
    CHECK(d->parsed && d->ssl_port == 9004 && d->weight == 1.0 &&
              strcmp(d->address, "10.0.0.4") == 0,
          "curator instance");
    CHECK(e->parsed && strcmp(e->address, "10.0.0.5") == 0,
          "host:port instance");
  }
  roost_instances_free(v, n);
  /* Weighted: A has 9 of 12 weight units; C (critical) never comes. */
  int hits[6] = {0};
  for (int i = 0; i < 2400; i++) {
    roost_instance x;
    if (roost_service_pick(sw, ROOST_PICK_WEIGHTED, &x) == ROOST_OK) {
      if (x.port >= 8001 && x.port <= 8005)
        hits[x.port - 8000]++;
      roost_instance_clear(&x);
    }
  }
  printf("weighted picks: A %d B %d C %d D %d E %d\n", hits[1], hits[2],
         hits[3], hits[4], hits[5]);
  CHECK(hits[3] == 0, "critical instance picked");
  CHECK(hits[1] > 1500 && hits[1] < 2050, "A picked %d of 2400 (want ~1800)",
        hits[1]);
  CHECK(hits[2] > 50 && hits[4] > 50 && hits[5] > 50, "light ones picked");
  /* Round robin including critical ones walks all five. */
  int seen = 0;
  for (int i = 0; i < 5; i++) {
    roost_instance x;
    if (roost_service_pick(sw, ROOST_PICK_ROUND_ROBIN | ROOST_INCLUDE_CRITICAL,
                           &x) == ROOST_OK) {
      seen |= 1 << (x.port - 8000);
      roost_instance_clear(&x);
    }
  }
  CHECK(seen == 0x3e, "round robin with critical: mask %x", seen);
  /* A payload change (no membership change) is seen through the recursive
   * watch: C recovers, A fails. */
  const char *c_ok = "{\"address\":\"10.0.0.3\",\"port\":8003,"
                     "\"status\":\"passing\"}";
  CHECK_RC(roost_set(c, paths[2], c_ok, (int32_t)strlen(c_ok), -1, NULL),
           ROOST_OK);
  CHECK(wait_list(sw, &log, 5, 0), "C back to passing");
  const char *a_bad = "{\"address\":\"10.0.0.1\",\"port\":8001,"
                      "\"status\":\"critical\"}";
  CHECK_RC(roost_set(c, paths[0], a_bad, (int32_t)strlen(a_bad), -1, NULL),
           ROOST_OK);
  CHECK(wait_list(sw, &log, 4, 0), "A now critical");
  roost_instance x;
  for (int i = 0; i < 50; i++)
    if (roost_service_pick(sw, ROOST_PICK_RANDOM, &x) == ROOST_OK) {
      CHECK(x.port != 8001, "critical A picked");
      roost_instance_clear(&x);
    }
  /* Membership: one goes. */
  CHECK_RC(roost_delete(c, paths[4], -1), ROOST_OK);
  CHECK(wait_list(sw, &log, 3, 0), "E deleted");
  CHECK_RC(roost_service_watch_free(sw), ROOST_OK);
  CHECK_RC(roost_client_close(c), ROOST_OK);
  elog_free(&log);
}

/* A client in read-only mode on hosts, connected read-only (checked,
 * within wait_s); the caller closes it. */
static roost_client *ro_connect(const char *hosts, struct lr_sess *s,
                                int session_timeout_ms, int wait_s) {
  roost_options o;
  lr_sess_options(&o, s);
  o.session_timeout_ms = session_timeout_ms;
  o.read_only = true;
  o.rw_probe_ms = 200;
  roost_client *c;
  CHECK_RC(roost_client_new(hosts, &o, &c), ROOST_OK);
  CHECK(lr_sess_wait(s, &s->ro_connects, 1, wait_s), "no read-only connection");
  CHECK(roost_client_state(c) == ROOST_STATE_READ_ONLY, "state %d",
        roost_client_state(c));
  return c;
}

/* Checks that c moves (within wait_s) to a read-write server with a new
 * session: one made by a read-only server is not offered to others. */
static void ro_wait_rw(roost_client *c, struct lr_sess *s, int64_t ro_sid,
                       int wait_s, const char *what) {
  CHECK(lr_sess_wait(s, &s->connects, 1, wait_s), "%s", what);
  CHECK(roost_client_state(c) == ROOST_STATE_CONNECTED, "state %d",
        roost_client_state(c));
  CHECK(roost_client_session_id(c) != ro_sid, "kept the read-only session");
}

/* Read-only mode: HOSTS lists a read-only server (the harness's) and a
 * read-write one that is down at first.  The client must report
 * CONNECTED_READ_ONLY, keep asking the other host "isro", and move to it
 * with a new session once it answers "rw". */
static void run_readonly(const char *hosts) {
  struct lr_sess s;
  lr_sess_init(&s);
  roost_client *c = ro_connect(hosts, &s, 30000, 30);
  int64_t ro_sid = roost_client_session_id(c);
  printf("read-only %llx\n", (unsigned long long)ro_sid);
  ro_wait_rw(c, &s, ro_sid, 90, "never moved to a r/w server");
  char p[64];
  snprintf(p, sizeof p, "/lr-ro-%d", (int)uv_os_getpid());
  roost_create_opts e = {ROOST_EPHEMERAL, 0, NULL, 0};
  CHECK_RC(roost_create(c, p, NULL, 0, &e, NULL), ROOST_OK);
  CHECK_RC(roost_client_close(c), ROOST_OK);
  lr_sess_destroy(&s);
}

/* Read-only mode against a real ensemble (test_read_only.py): HOSTS are
 * its members, all but one down and that one read-only.  The client must
 * connect read-only, read PATH ("one"), get NOTREADONLY for a create, a
 * set and a sync, print "read-only <session>", then (once the test brought
 * the quorum back) end up read-write with a new session and create. */
static void run_readonly_ensemble(const char *hosts, const char *path) {
  struct lr_sess s;
  lr_sess_init(&s);
  roost_client *c = ro_connect(hosts, &s, 15000, 60);
  roost_result *r = NULL;
  CHECK_RC(roost_get(c, path, NULL, NULL, &r), ROOST_OK);
  CHECK(r->data_len == 3 && memcmp(r->data, "one", 3) == 0, "data of %s", path);
  roost_result_free(r);
  char p[128];
  snprintf(p, sizeof p, "%s-lr-%d", path, (int)uv_os_getpid());
  CHECK_RC(roost_create(c, p, "x", 1, NULL, NULL), ROOST_NOTREADONLY);
  CHECK_RC(roost_set(c, path, "y", 1, -1, NULL), ROOST_NOTREADONLY);
  CHECK_RC(roost_sync(c, path), ROOST_NOTREADONLY);
  int64_t ro_sid = roost_client_session_id(c);
  printf("read-only %llx\n", (unsigned long long)ro_sid);
  ro_wait_rw(c, &s, ro_sid, 120, "never read-write again");
  CHECK_RC(roost_create(c, p, "x", 1, NULL, NULL), ROOST_OK);
  CHECK_RC(roost_delete(c, p, -1), ROOST_OK);
  CHECK_RC(roost_client_close(c), ROOST_OK);
  lr_sess_destroy(&s);
}

/* By default a refused identity ends the client for good, as the
 * official client's AUTH_FAILED_STATE: the event, the state, every
 * request failing with AUTHFAILED, watchers released, no reconnect. */
static void run_authfail(const char *hosts) {
  struct lr_sess s;
  lr_sess_init(&s);
  roost_options o;
  lr_sess_options(&o, &s);
  roost_client *c;
  CHECK_RC(roost_client_new(hosts, &o, &c), ROOST_OK);
  CHECK_RC(roost_client_wait_connected(c, 10000), ROOST_OK);
  struct elog log;
  elog_init(&log);
  CHECK_RC(roost_exists(c, "/lr-authfail-none", log_watch, &log, NULL),
           ROOST_NONODE);
  CHECK_RC(roost_add_auth(c, "nosuchscheme", "x", 1), ROOST_AUTHFAILED);
  CHECK(lr_sess_wait(&s, &s.auth_failed, 1, 10), "no AUTH_FAILED event");
  CHECK(roost_client_state(c) == ROOST_STATE_AUTH_FAILED, "state %d",
        roost_client_state(c));
  CHECK_RC(roost_get(c, "/", NULL, NULL, NULL), ROOST_AUTHFAILED);
  CHECK_RC(roost_client_wait_connected(c, 1000), ROOST_AUTHFAILED);
  char want[64];
  snprintf(want, sizeof want, "%d /lr-authfail-none", ROOST_EVENT_NOT_WATCHING);
  char *w1[] = {want};
  elog_expect(&log, w1, 1, "watcher released");
  uv_sleep(1500); /* no reconnect happens meanwhile */
  CHECK(s.connects == 1 && s.disconnects == 0, "connects %d disconnects %d",
        s.connects, s.disconnects);
  CHECK(roost_client_state(c) == ROOST_STATE_AUTH_FAILED, "still failed");
  CHECK_RC(roost_client_close(c), ROOST_OK);
  elog_free(&log);
  lr_sess_destroy(&s);
}

/* auth_failed_reconnect: the event still comes, the server drops the
 * connection, and the client comes back on the same session without the
 * refused identity; an ephemeral made before is still there. */
static void run_authfail_reconnect(const char *hosts) {
  struct lr_sess s;
  lr_sess_init(&s);
  roost_options o;
  lr_sess_options(&o, &s);
  o.auth_failed_reconnect = true;
  roost_client *c;
  CHECK_RC(roost_client_new(hosts, &o, &c), ROOST_OK);
  CHECK_RC(roost_client_wait_connected(c, 10000), ROOST_OK);
  char p[64];
  snprintf(p, sizeof p, "/lr-authre-%d", (int)uv_os_getpid());
  roost_create_opts e = {ROOST_EPHEMERAL, 0, NULL, 0};
  CHECK_RC(roost_create(c, p, NULL, 0, &e, NULL), ROOST_OK);
  int64_t sid = roost_client_session_id(c);
  CHECK_RC(roost_add_auth(c, "nosuchscheme", "x", 1), ROOST_AUTHFAILED);
  CHECK(lr_sess_wait(&s, &s.auth_failed, 1, 10), "no AUTH_FAILED event");
  CHECK(lr_sess_wait(&s, &s.connects, 2, 20), "no reconnect (connects %d)",
        s.connects);
  CHECK_RC(roost_client_wait_connected(c, 10000), ROOST_OK);
  CHECK(roost_client_state(c) == ROOST_STATE_CONNECTED, "state %d",
        roost_client_state(c));
  CHECK(roost_client_session_id(c) == sid, "session changed");
  CHECK_RC(roost_exists(c, p, NULL, NULL, NULL), ROOST_OK);
  CHECK_RC(roost_client_close(c), ROOST_OK);
  lr_sess_destroy(&s);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s HOSTS ops|reconnect\n", argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  char base[64];
  snprintf(base, sizeof base, "/lr-watch-%d", (int)uv_os_getpid());
  if (strcmp(argv[2], "reconnect") == 0) {
    run_reconnect(argv[1], base);
  } else if (strcmp(argv[2], "authfail") == 0) {
    run_authfail(argv[1]);
  } else if (strcmp(argv[2], "authfail-reconnect") == 0) {
    run_authfail_reconnect(argv[1]);
  } else if (strcmp(argv[2], "readonly") == 0) {
    run_readonly(argv[1]);
  } else if (strcmp(argv[2], "readonly-ensemble") == 0 && argc > 3) {
    run_readonly_ensemble(argv[1], argv[3]);
  } else if (strcmp(argv[2], "discovery") == 0) {
    run_discovery(argv[1]);
  } else {
    roost_client *r, *w;
    roost_options o;
    roost_options_init(&o);
    o.session_timeout_ms = 10000;
    CHECK_RC(roost_client_new(argv[1], &o, &r), ROOST_OK);
    CHECK_RC(roost_client_new(argv[1], &o, &w), ROOST_OK);
    CHECK_RC(roost_client_wait_connected(r, 10000), ROOST_OK);
    CHECK_RC(roost_client_wait_connected(w, 10000), ROOST_OK);
    CHECK_RC(roost_create(w, base, NULL, 0, NULL, NULL), ROOST_OK);
    test_burst(r, w, base);
    test_remove_types(r, w, base);
    test_remove_race(r, w, base);
    test_reads(r, w, base);
    CHECK_RC(roost_client_close(r), ROOST_OK);
    CHECK_RC(roost_client_close(w), ROOST_OK);
  }
  if (failures == 0)
    printf("PASSED\n");
  return failures == 0 ? 0 : 1;
}
