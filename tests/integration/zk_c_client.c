/*
 * zk_c_client — drives a server with the official ZooKeeper C client
 * (libzookeeper_mt) and checks the answers.
 *
 * Usage: zk_c_client HOST:PORT
 *
 * Prints one line per check ("ok - ..." or "not ok - ..."), then
 * "N passed, N failed". Exit status 0 only if every check passed.
 * Everything it creates lives under /zkc-<pid>-<time> and is removed at
 * the end, so it can share a server with other tests.
 */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The synchronous API (zoo_create, zoo_get, ...) is declared only for the
 * multi-threaded library; we link -lzookeeper_mt. */
#ifndef THREADED
#define THREADED
#endif
#include <zookeeper.h>

#include "zkc_check.h"

#define WAIT_MS 10000
#define MAX_EVENTS 256

/* Compare a return code with the expected one and report both. */
static void check_rc(int rc, int want, const char *what) {
  check(rc == want, "%s: rc %d (%s), want %d (%s)", what, rc, zerror(rc), want,
        zerror(want));
}

/* ------------------------------------------------------------------ */
/* Event recording: every watcher appends here; tests wait on the cond. */

struct event {
  int type;
  int state;
  char path[256];
  const char *tag; /* watcher context: which watch fired */
};

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cv = PTHREAD_COND_INITIALIZER;
static struct event events[MAX_EVENTS];
static int n_events;

static void record(int type, int state, const char *path, const char *tag) {
  pthread_mutex_lock(&ev_mu);
  if (n_events < MAX_EVENTS) {
    struct event *e = &events[n_events++];
    e->type = type;
    e->state = state;
    snprintf(e->path, sizeof e->path, "%s", path ? path : "");
    e->tag = tag;
  }
  pthread_cond_broadcast(&ev_cv);
  pthread_mutex_unlock(&ev_mu);
}

static void deadline_in(struct timespec *ts, int ms) {
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

/* Wait for an event with this tag; return its index or -1 on timeout. */
static int wait_event(const char *tag, int from, int ms) {
  struct timespec ts;
  int found = -1;
  deadline_in(&ts, ms);
  pthread_mutex_lock(&ev_mu);
  for (;;) {
    for (int i = from; i < n_events; i++) {
      if (events[i].tag == tag) {
        found = i;
        break;
      }
    }
    if (found >= 0)
      break;
    if (pthread_cond_timedwait(&ev_cv, &ev_mu, &ts) == ETIMEDOUT)
      break;
  }
  pthread_mutex_unlock(&ev_mu);
  return found;
}

static int count_events(const char *tag) {
  int n = 0;
  pthread_mutex_lock(&ev_mu);
  for (int i = 0; i < n_events; i++)
    if (events[i].tag == tag)
      n++;
  pthread_mutex_unlock(&ev_mu);
  return n;
}

static struct event event_at(int i) {
  struct event e;
  pthread_mutex_lock(&ev_mu);
  e = events[i];
  pthread_mutex_unlock(&ev_mu);
  return e;
}

/* Session watcher: remembers the latest session state. */
static int session_state[2];
static const char TAG_SESSION0[] = "session0";
static const char TAG_SESSION1[] = "session1";

static void session_watcher(zhandle_t *zh, int type, int state,
                            const char *path, void *ctx) {
  const char *tag = ctx;
  (void)zh;
  (void)path;
  if (type != ZOO_SESSION_EVENT)
    return;
  pthread_mutex_lock(&ev_mu);
  session_state[tag == TAG_SESSION0 ? 0 : 1] = state;
  pthread_cond_broadcast(&ev_cv);
  pthread_mutex_unlock(&ev_mu);
}

static int wait_connected(int which, int ms) {
  struct timespec ts;
  int ok;
  deadline_in(&ts, ms);
  pthread_mutex_lock(&ev_mu);
  while (session_state[which] != ZOO_CONNECTED_STATE) {
    if (pthread_cond_timedwait(&ev_cv, &ev_mu, &ts) == ETIMEDOUT)
      break;
  }
  ok = session_state[which] == ZOO_CONNECTED_STATE;
  pthread_mutex_unlock(&ev_mu);
  return ok;
}

/* Watcher used for node watches: ctx is the tag string. */
static void node_watcher(zhandle_t *zh, int type, int state, const char *path,
                         void *ctx) {
  (void)zh;
  record(type, state, path, ctx);
}

/* ------------------------------------------------------------------ */
/* Async completions */

struct waiter {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int rc;
  char value[256];
  int versions[16];
  int n_versions;
};

static void waiter_init(struct waiter *w) {
  memset(w, 0, sizeof *w);
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
}

static void waiter_destroy(struct waiter *w) {
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
}

static int waiter_wait(struct waiter *w, int want_done, int ms) {
  struct timespec ts;
  int ok;
  deadline_in(&ts, ms);
  pthread_mutex_lock(&w->mu);
  while (w->done < want_done) {
    if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT)
      break;
  }
  ok = w->done >= want_done;
  pthread_mutex_unlock(&w->mu);
  return ok;
}

static void string_done(int rc, const char *value, const void *data) {
  struct waiter *w = (struct waiter *)data;
  pthread_mutex_lock(&w->mu);
  w->rc = rc;
  snprintf(w->value, sizeof w->value, "%s", value ? value : "");
  w->done++;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

static void stat_done(int rc, const struct Stat *stat, const void *data) {
  struct waiter *w = (struct waiter *)data;
  pthread_mutex_lock(&w->mu);
  if (rc != ZOK)
    w->rc = rc;
  if (w->n_versions < 16)
    w->versions[w->n_versions++] = (rc == ZOK && stat) ? stat->version : -1;
  w->done++;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* ------------------------------------------------------------------ */

static char base[128];

static const char *P(const char *suffix) {
  static char bufs[8][256];
  static int next;
  char *b = bufs[next++ % 8];
  snprintf(b, 256, "%s%s", base, suffix);
  return b;
}

/* Compare two Stats field by field (not memcmp: the struct has padding).
 * Returns the number of differing fields and describes them in out. */
static int stat_diff(const struct Stat *a, const struct Stat *b, char *out,
                     size_t n) {
  int diffs = 0;
  size_t used = 0;
  out[0] = '\0';
#define STAT_FIELD(f)                                                          \
  do {                                                                         \
    if (a->f != b->f) {                                                        \
      diffs++;                                                                 \
      if (used < n)                                                            \
        used += (size_t)snprintf(out + used, n - used,                         \
                                 " (%s %" PRId64 " != %" PRId64 ")", #f,       \
                                 (int64_t)a->f, (int64_t)b->f);                \
    }                                                                          \
  } while (0)
  STAT_FIELD(czxid);
  STAT_FIELD(mzxid);
  STAT_FIELD(ctime);
  STAT_FIELD(mtime);
  STAT_FIELD(version);
  STAT_FIELD(cversion);
  STAT_FIELD(aversion);
  STAT_FIELD(ephemeralOwner);
  STAT_FIELD(dataLength);
  STAT_FIELD(numChildren);
  STAT_FIELD(pzxid);
#undef STAT_FIELD
  return diffs;
}

static int ends_with_seq(const char *s, const char *prefix) {
  size_t lp = strlen(prefix);
  if (strncmp(s, prefix, lp) != 0 || strlen(s) != lp + 10)
    return 0;
  for (size_t i = lp; i < lp + 10; i++)
    if (s[i] < '0' || s[i] > '9')
      return 0;
  return 1;
}

static void delete_tree(zhandle_t *zh, const char *path) {
  struct String_vector kids;
  if (zoo_get_children(zh, path, 0, &kids) == ZOK) {
    for (int i = 0; i < kids.count; i++) {
      char child[512];
      snprintf(child, sizeof child, "%s/%s", path, kids.data[i]);
      delete_tree(zh, child);
    }
    deallocate_String_vector(&kids);
  }
  zoo_delete(zh, path, -1);
}

static const char TAG_GET[] = "wget";
static const char TAG_EXISTS[] = "wexists";
static const char TAG_CHILD[] = "wchildren";
static const char TAG_EPH[] = "eph-deleted";

int main(int argc, char **argv) {
  zhandle_t *zh, *zh2;
  char buf[512];
  char pbuf[256], pbuf2[256], seq1[256];
  struct Stat st, st2;
  int rc, len, i;

  if (argc != 2) {
    fprintf(stderr, "usage: %s HOST:PORT\n", argv[0]);
    return 2;
  }
  zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
  zoo_deterministic_conn_order(1);
  snprintf(base, sizeof base, "/zkc-%ld-%ld", (long)getpid(), (long)time(NULL));

  /* -- sessions ---------------------------------------------------- */
  zh = zookeeper_init(argv[1], session_watcher, 10000, NULL,
                      (void *)TAG_SESSION0, 0);
  check(zh != NULL, "zookeeper_init returned a handle");
  if (!zh)
    goto out;
  check(wait_connected(0, WAIT_MS), "session 1 reached ZOO_CONNECTED_STATE");
  if (zoo_state(zh) != ZOO_CONNECTED_STATE)
    goto out;
  const clientid_t *cid = zoo_client_id(zh);
  check(cid->client_id != 0, "session id is non-zero (0x%" PRIx64 ")",
        (uint64_t)cid->client_id);
  check(zoo_recv_timeout(zh) == 10000, "negotiated timeout %d == 10000",
        zoo_recv_timeout(zh));
  int64_t sid1 = cid->client_id;

  zh2 = zookeeper_init(argv[1], session_watcher, 10000, NULL,
                       (void *)TAG_SESSION1, 0);
  check(zh2 != NULL && wait_connected(1, WAIT_MS),
        "session 2 reached ZOO_CONNECTED_STATE");
  if (!zh2 || zoo_state(zh2) != ZOO_CONNECTED_STATE)
    goto out;
  check(zoo_client_id(zh2)->client_id != sid1,
        "two sessions have different ids");

  /* -- zoo_create ------------------------------------------------- */
  rc = zoo_create(zh, base, "root", 4, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
                  pbuf, sizeof pbuf);
  check_rc(rc, ZOK, "zoo_create persistent base");
  check(rc == ZOK && strcmp(pbuf, base) == 0, "created path '%s' == '%s'", pbuf,
        base);
  rc = zoo_create(zh, base, "x", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL,
                  0);
  check_rc(rc, ZNODEEXISTS, "zoo_create existing node");
  rc = zoo_create(zh, P("/missing/child"), "", 0, &ZOO_OPEN_ACL_UNSAFE,
                  ZOO_PERSISTENT, NULL, 0);
  check_rc(rc, ZNONODE, "zoo_create under a missing parent");

  rc = zoo_create(zh, P("/eph"), "e", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL,
                  pbuf, sizeof pbuf);
  check_rc(rc, ZOK, "zoo_create ephemeral");
  rc = zoo_exists(zh2, P("/eph"), 0, &st);
  check_rc(rc, ZOK, "zoo_exists ephemeral from session 2");
  check(rc == ZOK && st.ephemeralOwner == sid1,
        "ephemeralOwner 0x%" PRIx64 " == session 1 id",
        (uint64_t)st.ephemeralOwner);
  rc = zoo_create(zh, P("/eph/kid"), "", 0, &ZOO_OPEN_ACL_UNSAFE,
                  ZOO_PERSISTENT, NULL, 0);
  check_rc(rc, ZNOCHILDRENFOREPHEMERALS, "zoo_create child of ephemeral");

  rc = zoo_create(zh, P("/seq-"), "s", 1, &ZOO_OPEN_ACL_UNSAFE,
                  ZOO_PERSISTENT_SEQUENTIAL, pbuf, sizeof pbuf);
  check_rc(rc, ZOK, "zoo_create persistent sequential");
  check(rc == ZOK && ends_with_seq(pbuf, P("/seq-")),
        "sequential name '%s' has a 10-digit suffix", pbuf);
  rc = zoo_create(zh, P("/seq-"), "s", 1, &ZOO_OPEN_ACL_UNSAFE,
                  ZOO_EPHEMERAL_SEQUENTIAL, pbuf2, sizeof pbuf2);
  check_rc(rc, ZOK, "zoo_create ephemeral sequential");
  check(rc == ZOK && ends_with_seq(pbuf2, P("/seq-")) &&
            strcmp(pbuf2, pbuf) > 0,
        "second sequential name '%s' sorts after '%s'", pbuf2, pbuf);
  /* base had /eph (1 child created) before: suffixes 1 and 2 */
  check(strcmp(pbuf, P("/seq-0000000001")) == 0 &&
            strcmp(pbuf2, P("/seq-0000000002")) == 0,
        "sequence suffixes follow the parent's child count");
  snprintf(seq1, sizeof seq1, "%s", pbuf);

  /* -- zoo_create2 ------------------------------------------------- */
  memset(&st, 0xff, sizeof st);
  rc = zoo_create2(zh, P("/c2"), "hello", 5, &ZOO_OPEN_ACL_UNSAFE,
                   ZOO_PERSISTENT, pbuf, sizeof pbuf, &st);
  check_rc(rc, ZOK, "zoo_create2");
  check(rc == ZOK && st.version == 0 && st.cversion == 0 && st.aversion == 0 &&
            st.czxid == st.mzxid && st.czxid == st.pzxid &&
            st.dataLength == 5 && st.numChildren == 0 &&
            st.ephemeralOwner == 0 && st.ctime == st.mtime && st.ctime > 0,
        "zoo_create2 stat: version %d dataLength %d czxid %" PRId64
        " mzxid %" PRId64,
        st.version, st.dataLength, st.czxid, st.mzxid);
  rc = zoo_exists(zh, P("/c2"), 0, &st2);
  check(rc == ZOK && stat_diff(&st, &st2, buf, sizeof buf) == 0,
        "zoo_exists stat equals zoo_create2 stat%s", rc == ZOK ? buf : "");

  /* -- zoo_wget + zoo_set -> ZOO_CHANGED_EVENT ---------------------- */
  len = sizeof buf;
  rc = zoo_wget(zh, P("/c2"), node_watcher, (void *)TAG_GET, buf, &len, &st);
  check_rc(rc, ZOK, "zoo_wget");
  check(rc == ZOK && len == 5 && memcmp(buf, "hello", 5) == 0,
        "zoo_wget data is 'hello' (len %d)", len);
  rc = zoo_set(zh2, P("/c2"), "world!", 6, 0);
  check_rc(rc, ZOK, "zoo_set version 0 from session 2");
  i = wait_event(TAG_GET, 0, WAIT_MS);
  check(i >= 0, "data watch fired");
  if (i >= 0) {
    struct event e = event_at(i);
    check(e.type == ZOO_CHANGED_EVENT && strcmp(e.path, P("/c2")) == 0 &&
              e.state == ZOO_CONNECTED_STATE,
          "event is ZOO_CHANGED_EVENT on %s (type %d path %s)", P("/c2"),
          e.type, e.path);
  }
  rc = zoo_set(zh, P("/c2"), "again", 5, 0);
  check_rc(rc, ZBADVERSION, "zoo_set with a stale version");
  rc = zoo_set2(zh, P("/c2"), "again", 5, 1, &st);
  check(rc == ZOK && st.version == 2 && st.dataLength == 5,
        "zoo_set2 version 1 -> stat version %d", st.version);
  len = sizeof buf;
  rc = zoo_get(zh, P("/c2"), 0, buf, &len, &st);
  check(rc == ZOK && len == 5 && memcmp(buf, "again", 5) == 0 &&
            st.version == 2,
        "zoo_get sees the new data and version 2");
  check(count_events(TAG_GET) == 1, "one-shot: the data watch fired once");
  len = sizeof buf;
  rc = zoo_get(zh, P("/nope"), 0, buf, &len, &st);
  check_rc(rc, ZNONODE, "zoo_get missing node");

  /* -- zoo_wexists on a missing node, then create ------------------- */
  rc = zoo_wexists(zh, P("/later"), node_watcher, (void *)TAG_EXISTS, &st);
  check_rc(rc, ZNONODE, "zoo_wexists on a missing node");
  rc = zoo_create(zh2, P("/later"), "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
                  NULL, 0);
  check_rc(rc, ZOK, "create the watched node from session 2");
  i = wait_event(TAG_EXISTS, 0, WAIT_MS);
  check(i >= 0 && event_at(i).type == ZOO_CREATED_EVENT &&
            strcmp(event_at(i).path, P("/later")) == 0,
        "exists watch fired ZOO_CREATED_EVENT");

  /* -- children ----------------------------------------------------- */
  struct String_vector kids;
  rc = zoo_wget_children(zh, base, node_watcher, (void *)TAG_CHILD, &kids);
  check_rc(rc, ZOK, "zoo_wget_children");
  if (rc == ZOK)
    deallocate_String_vector(&kids);
  rc = zoo_get_children2(zh, base, 0, &kids, &st);
  check_rc(rc, ZOK, "zoo_get_children2");
  if (rc == ZOK) {
    /* eph, seq-1, seq-2, c2, later */
    int has_eph = 0, has_c2 = 0;
    for (i = 0; i < kids.count; i++) {
      has_eph |= strcmp(kids.data[i], "eph") == 0;
      has_c2 |= strcmp(kids.data[i], "c2") == 0;
    }
    check(kids.count == 5 && st.numChildren == 5 && has_eph && has_c2,
          "zoo_get_children2: %d children, numChildren %d", kids.count,
          st.numChildren);
    check(st.pzxid >= st.mzxid && st.dataLength == 4,
          "zoo_get_children2 returns the parent's stat");
    deallocate_String_vector(&kids);
  }
  rc = zoo_create(zh2, P("/kid"), "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
                  NULL, 0);
  i = wait_event(TAG_CHILD, 0, WAIT_MS);
  check(rc == ZOK && i >= 0 && event_at(i).type == ZOO_CHILD_EVENT &&
            strcmp(event_at(i).path, base) == 0,
        "child watch fired ZOO_CHILD_EVENT on the parent");
  rc = zoo_get_children(zh, P("/nope"), 0, &kids);
  check_rc(rc, ZNONODE, "zoo_get_children of a missing node");

  /* -- zoo_delete ----------------------------------------------------- */
  rc = zoo_delete(zh, P("/c2"), 0);
  check_rc(rc, ZBADVERSION, "zoo_delete with a wrong version");
  rc = zoo_delete(zh, P("/nope"), -1);
  check_rc(rc, ZNONODE, "zoo_delete missing node");
  rc = zoo_create(zh, P("/c2/x"), "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
                  NULL, 0);
  rc = zoo_delete(zh, P("/c2"), 2);
  check_rc(rc, ZNOTEMPTY, "zoo_delete node with children");
  zoo_delete(zh, P("/c2/x"), -1);
  rc = zoo_delete(zh, P("/c2"), 2);
  check_rc(rc, ZOK, "zoo_delete with the right version");
  rc = zoo_exists(zh, P("/c2"), 0, &st);
  check_rc(rc, ZNONODE, "deleted node is gone");

  /* -- zoo_multi success ---------------------------------------------- */
  {
    zoo_op_t ops[4];
    zoo_op_result_t res[4];
    struct Stat mst;
    char mpath[256];
    memset(res, 0, sizeof res);
    zoo_create_op_init(&ops[0], P("/m"), "m0", 2, &ZOO_OPEN_ACL_UNSAFE,
                       ZOO_PERSISTENT, mpath, sizeof mpath);
    zoo_check_op_init(&ops[1], P("/m"), 0);
    zoo_set_op_init(&ops[2], P("/m"), "m1", 2, 0, &mst);
    zoo_delete_op_init(&ops[3], P("/later"), 0);
    rc = zoo_multi(zh, 4, ops, res);
    check_rc(rc, ZOK, "zoo_multi create+check+set+delete");
    check(res[0].err == ZOK && res[1].err == ZOK && res[2].err == ZOK &&
              res[3].err == ZOK,
          "zoo_multi per-op results all ZOK (%d %d %d %d)", res[0].err,
          res[1].err, res[2].err, res[3].err);
    check(rc == ZOK && strcmp(mpath, P("/m")) == 0 && mst.version == 1,
          "zoo_multi results: created path and set stat (version %d)",
          mst.version);
    len = sizeof buf;
    rc = zoo_get(zh, P("/m"), 0, buf, &len, &st);
    check(rc == ZOK && len == 2 && memcmp(buf, "m1", 2) == 0,
          "zoo_multi effects visible");
    check(zoo_exists(zh, P("/later"), 0, &st) == ZNONODE,
          "zoo_multi delete applied");
  }

  /* -- zoo_multi failure ---------------------------------------------- */
  {
    zoo_op_t ops[3];
    zoo_op_result_t res[3];
    char mpath[256];
    memset(res, 0, sizeof res);
    zoo_create_op_init(&ops[0], P("/m2"), "", 0, &ZOO_OPEN_ACL_UNSAFE,
                       ZOO_PERSISTENT, mpath, sizeof mpath);
    zoo_check_op_init(&ops[1], P("/m"), 7);
    zoo_set_op_init(&ops[2], P("/m"), "zz", 2, -1, NULL);
    rc = zoo_multi(zh, 3, ops, res);
    check_rc(rc, ZBADVERSION, "zoo_multi with a failing check");
    check(res[0].err == ZOK && res[1].err == ZBADVERSION &&
              res[2].err == ZRUNTIMEINCONSISTENCY,
          "zoo_multi failure per-op results (%d %d %d), want (0 %d %d)",
          res[0].err, res[1].err, res[2].err, ZBADVERSION,
          ZRUNTIMEINCONSISTENCY);
    check(zoo_exists(zh, P("/m2"), 0, &st) == ZNONODE,
          "failed zoo_multi created nothing");
    len = sizeof buf;
    rc = zoo_get(zh, P("/m"), 0, buf, &len, &st);
    check(rc == ZOK && len == 2 && memcmp(buf, "m1", 2) == 0 && st.version == 1,
          "failed zoo_multi changed nothing");
  }

  /* -- zoo_async (sync) and pipelined async writes -------------------- */
  {
    struct waiter w;
    waiter_init(&w);
    rc = zoo_async(zh, P("/m"), string_done, &w);
    check_rc(rc, ZOK, "zoo_async submitted");
    check(waiter_wait(&w, 1, WAIT_MS) && w.rc == ZOK,
          "zoo_async (sync) completed with ZOK (rc %d, path '%s')", w.rc,
          w.value);
    waiter_destroy(&w);

    waiter_init(&w);
    for (i = 0; i < 5; i++) {
      char v[16];
      snprintf(v, sizeof v, "v%d", i);
      rc = zoo_aset(zh, P("/m"), v, (int)strlen(v), -1, stat_done, &w);
      if (rc != ZOK)
        break;
    }
    check_rc(rc, ZOK, "five zoo_aset submitted");
    check(waiter_wait(&w, 5, WAIT_MS) && w.rc == ZOK,
          "five zoo_aset completed with ZOK");
    check(w.n_versions == 5 && w.versions[0] == 2 && w.versions[1] == 3 &&
              w.versions[2] == 4 && w.versions[3] == 5 && w.versions[4] == 6,
          "async completions arrive in order (versions %d %d %d %d %d)",
          w.versions[0], w.versions[1], w.versions[2], w.versions[3],
          w.versions[4]);
    waiter_destroy(&w);
  }

  /* -- ACLs ------------------------------------------------------------ */
  {
    struct ACL_vector acl;
    rc = zoo_get_acl(zh, P("/m"), &acl, &st);
    check_rc(rc, ZOK, "zoo_get_acl");
    if (rc == ZOK) {
      check(acl.count == 1 && acl.data[0].perms == ZOO_PERM_ALL &&
                strcmp(acl.data[0].id.scheme, "world") == 0 &&
                strcmp(acl.data[0].id.id, "anyone") == 0 && st.aversion == 0,
            "zoo_get_acl: world:anyone ALL, aversion 0");
      deallocate_ACL_vector(&acl);
    }
    rc = zoo_set_acl(zh, P("/m"), 1, &ZOO_READ_ACL_UNSAFE);
    check_rc(rc, ZBADVERSION, "zoo_set_acl with a wrong aversion");
    rc = zoo_set_acl(zh, P("/m"), 0, &ZOO_READ_ACL_UNSAFE);
    check_rc(rc, ZOK, "zoo_set_acl read-only");
    rc = zoo_get_acl(zh, P("/m"), &acl, &st);
    if (rc == ZOK) {
      check(acl.count == 1 && acl.data[0].perms == ZOO_PERM_READ &&
                st.aversion == 1 && st.version == 6,
            "zoo_get_acl after set: perms %d aversion %d", acl.data[0].perms,
            st.aversion);
      deallocate_ACL_vector(&acl);
    } else {
      check_rc(rc, ZOK, "zoo_get_acl after set");
    }
    rc = zoo_set(zh, P("/m"), "no", 2, -1);
    check_rc(rc, ZNOAUTH, "zoo_set on a read-only node");
    len = sizeof buf;
    rc = zoo_get(zh, P("/m"), 0, buf, &len, &st);
    check_rc(rc, ZOK, "zoo_get on a read-only node");
    rc = zoo_set_acl(zh, P("/nope"), -1, &ZOO_OPEN_ACL_UNSAFE);
    check_rc(rc, ZNONODE, "zoo_set_acl on a missing node");
  }

  /* -- session close removes ephemerals and fires watches ------------ */
  rc = zoo_wexists(zh2, P("/eph"), node_watcher, (void *)TAG_EPH, &st);
  check_rc(rc, ZOK, "session 2 watches session 1's ephemeral");
  rc = zookeeper_close(zh);
  zh = NULL;
  check_rc(rc, ZOK, "zookeeper_close session 1");
  i = wait_event(TAG_EPH, 0, WAIT_MS);
  check(i >= 0 && event_at(i).type == ZOO_DELETED_EVENT,
        "closing session 1 fired ZOO_DELETED_EVENT for its ephemeral");
  check(zoo_exists(zh2, P("/eph"), 0, &st) == ZNONODE &&
            zoo_exists(zh2, pbuf2, 0, &st) == ZNONODE,
        "session 1's ephemerals are gone");
  check(zoo_exists(zh2, seq1, 0, &st) == ZOK,
        "session 1's persistent sequential node remains");

  delete_tree(zh2, base);
  check(zoo_exists(zh2, base, 0, &st) == ZNONODE, "cleaned up %s", base);
  rc = zookeeper_close(zh2);
  check_rc(rc, ZOK, "zookeeper_close session 2");

out:
  if (zh)
    zookeeper_close(zh);
  return check_summary();
}
