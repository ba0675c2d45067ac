/*
 * zk_c_readonly — the official ZooKeeper C client (libzookeeper_mt) in
 * read-only mode (ZOO_READONLY) against an ensemble that lost its quorum.
 *
 * Usage: zk_c_readonly HOSTS PATH
 *
 * HOSTS are the members; all but one are down and that one serves
 * read-only.  Connects with ZOO_READONLY, checks the state is
 * ZOO_READONLY_STATE, that PATH reads "one" and that create, set and
 * delete get ZNOTREADONLY, then prints "READONLY <session id hex>" and
 * waits (up to 120 s) until the client is connected read-write again (the
 * test brings the quorum back), with a session made by a read-write
 * member, where a create succeeds.  Prints "ok - ..." / "not ok - ..."
 * lines and "N passed, N failed"; exits 0 only if every check passed.
 */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef THREADED
#define THREADED
#endif
#include <zookeeper.h>

#include "zkc_check.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int ro_connected, rw_connected;

static void session_watcher(zhandle_t *zh, int type, int state,
                            const char *path, void *ctx) {
  (void)zh;
  (void)path;
  (void)ctx;
  if (type != ZOO_SESSION_EVENT)
    return;
  pthread_mutex_lock(&mu);
  if (state == ZOO_READONLY_STATE)
    ro_connected++;
  if (state == ZOO_CONNECTED_STATE)
    rw_connected++;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

/* Wait until *v > 0 or ms passed; returns *v. */
static int wait_for(const int *v, int ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  pthread_mutex_lock(&mu);
  while (*v == 0)
    if (pthread_cond_timedwait(&cv, &mu, &ts) == ETIMEDOUT)
      break;
  int r = *v;
  pthread_mutex_unlock(&mu);
  return r;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s HOSTS PATH\n", argv[0]);
    return 2;
  }
  const char *path = argv[2];
  char mine[512];
  snprintf(mine, sizeof mine, "%s-c-%d", path, (int)getpid());
  zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
  zhandle_t *zh =
      zookeeper_init(argv[1], session_watcher, 15000, NULL, NULL, ZOO_READONLY);
  if (zh == NULL || !wait_for(&ro_connected, 60000)) {
    check(0, "connected read-only to %s", argv[1]);
    return check_summary();
  }
  check(zoo_state(zh) == ZOO_READONLY_STATE, "state is ZOO_READONLY_STATE");
  int64_t ro_sid = zoo_client_id(zh)->client_id;
  char buf[64];
  int len = sizeof buf;
  struct Stat st;
  int rc = zoo_get(zh, path, 0, buf, &len, &st);
  check(rc == ZOK && len == 3 && memcmp(buf, "one", 3) == 0,
        "get %s read-only: %s", path, zerror(rc));
  rc = zoo_create(zh, mine, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  check(rc == ZNOTREADONLY, "create is refused: %s", zerror(rc));
  rc = zoo_set(zh, path, "y", 1, -1);
  check(rc == ZNOTREADONLY, "set is refused: %s", zerror(rc));
  rc = zoo_delete(zh, path, -1);
  check(rc == ZNOTREADONLY, "delete is refused: %s", zerror(rc));
  printf("READONLY %" PRIx64 "\n", (uint64_t)ro_sid);
  fflush(stdout);

  check(wait_for(&rw_connected, 120000) > 0, "connected read-write again");
  check(zoo_state(zh) == ZOO_CONNECTED_STATE, "state is ZOO_CONNECTED_STATE");
  check(zoo_client_id(zh)->client_id != ro_sid,
        "a new session from a read-write member");
  rc = zoo_create(zh, mine, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  check(rc == ZOK, "create read-write: %s", zerror(rc));
  zoo_delete(zh, mine, -1);
  zookeeper_close(zh);
  return check_summary();
}
