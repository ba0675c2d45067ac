/*
 * zk_c_client_acl — ACLs, auth, containers, TTL and watch removal through
 * the official ZooKeeper C client (libzookeeper_mt 3.8), issue 3.
 *
 * Usage: zk_c_client_acl HOST:PORT
 *
 * Expects a server with default settings (extended types off, no super
 * digest).  Prints one line per check ("ok - ..." / "not ok - ..."), then
 * "N passed, N failed"; exit status 0 only if every check passed.  Its
 * nodes live under /zkacl-<pid>-<time>; the ones it can still reach are
 * removed at the end.
 */

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef THREADED
#define THREADED
#endif
#include <zookeeper.h>

#include "zkc_check.h"

#define WAIT_MS 10000

static void check_rc(int rc, int want, const char *what) {
  check(rc == want, "%s: rc %d (%s), want %d (%s)", what, rc, zerror(rc), want,
        zerror(want));
}

/* ---- waiting for the session and for completions ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void deadline_in(struct timespec *ts, int ms) {
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

/* Session watcher: context points to an int that gets the last state. */
static void session_watcher(zhandle_t *zh, int type, int state,
                            const char *path, void *ctx) {
  (void)zh;
  (void)path;
  if (type != ZOO_SESSION_EVENT)
    return;
  pthread_mutex_lock(&mu);
  *(int *)ctx = state;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static int wait_state(const int *state, int want, int ms) {
  struct timespec ts;
  deadline_in(&ts, ms);
  pthread_mutex_lock(&mu);
  while (*state != want)
    if (pthread_cond_timedwait(&cv, &mu, &ts) != 0)
      break;
  int ok = *state == want;
  pthread_mutex_unlock(&mu);
  return ok;
}

struct done {
  int finished;
  int rc;
};

static void void_done(int rc, const void *data) {
  struct done *d = (struct done *)data;
  pthread_mutex_lock(&mu);
  d->rc = rc;
  d->finished = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static int wait_done(struct done *d, int ms) {
  struct timespec ts;
  deadline_in(&ts, ms);
  pthread_mutex_lock(&mu);
  while (!d->finished)
    if (pthread_cond_timedwait(&cv, &mu, &ts) != 0)
      break;
  int rc = d->finished ? d->rc : -999;
  pthread_mutex_unlock(&mu);
  return rc;
}

/* Data watcher; it is removed before it could fire. */
static void quiet_watcher(zhandle_t *zh, int type, int state, const char *path,
                          void *ctx) {
  (void)zh;
  (void)type;
  (void)state;
  (void)path;
  (void)ctx;
}

static char base[128];
static const char *P(const char *suffix) {
  static char buf[8][256];
  static int i;
  char *b = buf[i++ % 8];
  snprintf(b, 256, "%s%s", base, suffix);
  return b;
}

static zhandle_t *open_handle(const char *hosts, int *state) {
  zhandle_t *zh = zookeeper_init(hosts, session_watcher, 10000, NULL, state, 0);
  if (zh == NULL || !wait_state(state, ZOO_CONNECTED_STATE, WAIT_MS)) {
    check(0, "connect to %s", hosts);
    return NULL;
  }
  return zh;
}

static int add_auth_sync(zhandle_t *zh, const char *scheme, const char *cred) {
  struct done d = {0, 0};
  int rc = zoo_add_auth(zh, scheme, cred, (int)strlen(cred), void_done, &d);
  if (rc != ZOK)
    return rc;
  return wait_done(&d, WAIT_MS);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s HOST:PORT\n", argv[0]);
    return 2;
  }
  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
  snprintf(base, sizeof base, "/zkacl-%d-%ld", (int)getpid(), (long)time(NULL));
  int st_owner = 0, st_other = 0, st_bad = 0;
  zhandle_t *owner = open_handle(argv[1], &st_owner);
  zhandle_t *other = open_handle(argv[1], &st_other);
  if (owner == NULL || other == NULL)
    return 1;
  int rc = zoo_create(owner, base, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  check_rc(rc, ZOK, "create base");

  /* -- digest auth and a creator-only node ------------------------- */
  check_rc(add_auth_sync(owner, "digest", "alice:pw1"), ZOK,
           "zoo_add_auth digest alice:pw1");
  rc =
      zoo_create(owner, P("/secret"), "s", 1, &ZOO_CREATOR_ALL_ACL, 0, NULL, 0);
  check_rc(rc, ZOK, "zoo_create with ZOO_CREATOR_ALL_ACL");
  struct ACL_vector acl;
  struct Stat st;
  rc = zoo_get_acl(owner, P("/secret"), &acl, &st);
  check_rc(rc, ZOK, "zoo_get_acl by the owner");
  if (rc == ZOK) {
    /* base64(sha1("alice:pw1")) */
    check(acl.count == 1 && acl.data[0].perms == ZOO_PERM_ALL &&
              strcmp(acl.data[0].id.scheme, "digest") == 0 &&
              strcmp(acl.data[0].id.id, "alice:0H3LR71td7bmv+FwKgVasiS36rc=") ==
                  0 &&
              st.aversion == 0,
          "auth ACL expanded to digest:alice:<sha1> ALL (got %s:%s perms %d)",
          acl.count ? acl.data[0].id.scheme : "-",
          acl.count ? acl.data[0].id.id : "-",
          acl.count ? acl.data[0].perms : -1);
    deallocate_ACL_vector(&acl);
  }
  char buf[64];
  int len = sizeof buf;
  check_rc(zoo_get(other, P("/secret"), 0, buf, &len, &st), ZNOAUTH,
           "zoo_get without the digest");
  check_rc(zoo_set(other, P("/secret"), "x", 1, -1), ZNOAUTH,
           "zoo_set without the digest");
  check_rc(zoo_get_acl(other, P("/secret"), &acl, &st), ZNOAUTH,
           "zoo_get_acl without the digest");
  check_rc(zoo_set_acl(other, P("/secret"), -1, &ZOO_OPEN_ACL_UNSAFE), ZNOAUTH,
           "zoo_set_acl without the digest");
  check_rc(zoo_create(other, P("/secret/kid"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0,
                      NULL, 0),
           ZNOAUTH, "zoo_create below it without the digest");
  len = sizeof buf;
  rc = zoo_get(owner, P("/secret"), 0, buf, &len, &st);
  check(rc == ZOK && len == 1 && buf[0] == 's', "owner reads it: rc %d", rc);
  check_rc(zoo_set_acl(owner, P("/secret"), 3, &ZOO_OPEN_ACL_UNSAFE),
           ZBADVERSION, "zoo_set_acl with a stale aversion");
  check_rc(zoo_set_acl(owner, P("/secret"), 0, &ZOO_OPEN_ACL_UNSAFE), ZOK,
           "zoo_set_acl with aversion 0");
  len = sizeof buf;
  check_rc(zoo_get(other, P("/secret"), 0, buf, &len, &st), ZOK,
           "zoo_get by the other session after the ACL was opened");
  check(st.aversion == 1, "aversion is 1 after setACL (got %d)", st.aversion);

  /* -- InvalidACL ---------------------------------------------------- */
  struct Id bad_id = {"world", "nobody"};
  struct ACL bad_entry = {ZOO_PERM_ALL, bad_id};
  struct ACL_vector bad = {1, &bad_entry};
  check_rc(zoo_create(owner, P("/bad"), "", 0, &bad, 0, NULL, 0), ZINVALIDACL,
           "zoo_create with world:nobody");
  check_rc(
      zoo_create(other, P("/bad"), "", 0, &ZOO_CREATOR_ALL_ACL, 0, NULL, 0),
      ZINVALIDACL, "ZOO_CREATOR_ALL_ACL without credentials");

  /* -- ip ACLs with CIDR masks -------------------------------------- */
  struct Id in_id = {"ip", "127.0.0.0/8"}, out_id = {"ip", "10.0.0.0/8"};
  struct ACL in_entry = {ZOO_PERM_ALL, in_id},
             out_entry = {ZOO_PERM_ALL, out_id};
  struct ACL_vector in_acl = {1, &in_entry}, out_acl = {1, &out_entry};
  check_rc(zoo_create(owner, P("/ip-in"), "i", 1, &in_acl, 0, NULL, 0), ZOK,
           "zoo_create with ip:127.0.0.0/8");
  check_rc(zoo_create(owner, P("/ip-out"), "o", 1, &out_acl, 0, NULL, 0), ZOK,
           "zoo_create with ip:10.0.0.0/8");
  len = sizeof buf;
  check_rc(zoo_get(other, P("/ip-in"), 0, buf, &len, &st), ZOK,
           "loopback client reads an ip:127.0.0.0/8 node");
  len = sizeof buf;
  check_rc(zoo_get(other, P("/ip-out"), 0, buf, &len, &st), ZNOAUTH,
           "loopback client may not read an ip:10.0.0.0/8 node");

  /* -- create2 of a container; TTL disabled ------------------------- */
  char path[256];
  memset(&st, 0, sizeof st);
  rc = zoo_create2(owner, P("/box"), "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_CONTAINER,
                   path, sizeof path, &st);
  check_rc(rc, ZOK, "zoo_create2 ZOO_CONTAINER");
  check(rc == ZOK && strcmp(path, P("/box")) == 0 && st.czxid > 0 &&
            st.czxid == st.mzxid && st.ephemeralOwner == 0 && st.version == 0,
        "container create2 path and Stat (czxid %lld, ephemeralOwner %lld)",
        (long long)st.czxid, (long long)st.ephemeralOwner);
  rc = zoo_create_ttl(owner, P("/ttl"), "", 0, &ZOO_OPEN_ACL_UNSAFE,
                      ZOO_PERSISTENT_WITH_TTL, 1000, path, sizeof path);
  check_rc(rc, ZUNIMPLEMENTED, "zoo_create_ttl with extended types off");

  /* -- watch removal ------------------------------------------------ */
  check_rc(zoo_wexists(other, P("/box"), quiet_watcher, NULL, &st), ZOK,
           "zoo_wexists sets a data watch");
  check_rc(zoo_remove_watches(other, P("/box"), ZWATCHTYPE_CHILD, quiet_watcher,
                              NULL, 0),
           ZNOWATCHER, "zoo_remove_watches CHILD finds no child watch");
  check_rc(zoo_remove_watches(other, P("/box"), ZWATCHTYPE_DATA, quiet_watcher,
                              NULL, 0),
           ZOK, "zoo_remove_watches DATA of one watcher");
  /* Removing one watcher object may leave the server's watch (the 3.8 C
   * client then sends checkWatches); ANY without a watcher sends
   * removeWatches, which the server answers OK. */
  check_rc(zoo_remove_watches(other, P("/box"), ZWATCHTYPE_ANY, NULL, NULL, 0),
           ZOK, "zoo_remove_watches ANY");

  /* -- a bad auth scheme -------------------------------------------- */
  zhandle_t *badh = open_handle(argv[1], &st_bad);
  if (badh != NULL) {
    check_rc(add_auth_sync(badh, "nosuch", "x"), ZAUTHFAILED,
             "zoo_add_auth with an unknown scheme");
    check(wait_state(&st_bad, ZOO_AUTH_FAILED_STATE, WAIT_MS),
          "handle reaches ZOO_AUTH_FAILED_STATE (state %d)", zoo_state(badh));
    check_rc(zoo_exists(badh, base, 0, &st), ZINVALIDSTATE,
             "calls on the failed handle: ZINVALIDSTATE");
    zookeeper_close(badh);
  }

  /* -- clean up what is reachable ----------------------------------- */
  const char *rm[] = {"/secret", "/ip-in", "/box"};
  for (size_t i = 0; i < sizeof rm / sizeof rm[0]; i++)
    zoo_delete(owner, P(rm[i]), -1);
  zoo_delete(other, P("/ip-out"), -1); /* DELETE on base: allowed */
  zoo_delete(owner, base, -1);
  zookeeper_close(other);
  zookeeper_close(owner);
  return check_summary();
}
