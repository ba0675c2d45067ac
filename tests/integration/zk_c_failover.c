/*
 * zk_c_failover — a session of the official ZooKeeper C client
 * (libzookeeper_mt) rides out the death of the member it is connected to.
 *
 * Usage: zk_c_failover HOSTS PATH
 *
 * Connects to HOSTS in the given order (the first is the member the test
 * will kill), creates the ephemeral PATH and the persistent PATH-w, sets a
 * data watch on PATH-w, then prints "READY <session id hex>" and waits for
 * a line on stdin.  The test kills the first member and changes PATH-w's
 * data, then sends a line.  The program then checks that the session was
 * never expired and is the same, that the watch (set again by the client
 * on its new connection) fired for PATH-w, and that PATH is still its
 * ephemeral.  Prints "ok - ..." / "not ok - ..." lines and
 * "N passed, N failed"; closes the session (deleting PATH) and exits 0
 * only if every check passed.
 */

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifndef THREADED
#define THREADED
#endif
#include <zookeeper.h>

#include "zkc_check.h"
#include "zkc_session.h"

#define WAIT_MS 30000

static int changed;

static void data_watcher(zhandle_t *zh, int type, int state, const char *path,
                         void *ctx) {
  (void)zh;
  (void)state;
  const char *want = ctx;
  if (type != ZOO_CHANGED_EVENT || strcmp(path, want) != 0)
    return;
  zkc_count(&changed);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s HOSTS PATH\n", argv[0]);
    return 2;
  }
  const char *path = argv[2];
  char wpath[512];
  snprintf(wpath, sizeof wpath, "%s-w", path);
  zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
  zoo_deterministic_conn_order(1);
  zhandle_t *zh =
      zookeeper_init(argv[1], session_watcher, 15000, NULL, NULL, 0);
  if (zh == NULL || !zkc_wait(&connected, WAIT_MS)) {
    check(0, "connected to %s", argv[1]);
    return check_summary();
  }
  int64_t sid = zoo_client_id(zh)->client_id;
  int rc = zoo_create(zh, path, "up", 2, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL,
                      NULL, 0);
  check(rc == ZOK, "create ephemeral %s: %s", path, zerror(rc));
  rc = zoo_create(zh, wpath, "0", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL,
                  0);
  check(rc == ZOK, "create %s: %s", wpath, zerror(rc));
  char buf[64];
  int len = sizeof buf;
  struct Stat st;
  rc = zoo_wget(zh, wpath, data_watcher, wpath, buf, &len, &st);
  check(rc == ZOK, "wget %s: %s", wpath, zerror(rc));
  printf("READY %" PRIx64 "\n", (uint64_t)sid);
  fflush(stdout);

  char line[64];
  if (fgets(line, sizeof line, stdin) == NULL)
    check(0, "a line from the test on stdin");

  check(zkc_wait(&changed, WAIT_MS) == 1,
        "the data watch on %s fired once after the fail-over", wpath);
  pthread_mutex_lock(&mu);
  int exp = expired;
  pthread_mutex_unlock(&mu);
  check(exp == 0, "the session was never expired");
  check(zoo_state(zh) == ZOO_CONNECTED_STATE, "connected again (state %d)",
        zoo_state(zh));
  check(zoo_client_id(zh)->client_id == sid,
        "same session 0x%" PRIx64 " after the fail-over",
        (uint64_t)zoo_client_id(zh)->client_id);
  rc = zoo_exists(zh, path, 0, &st);
  check(rc == ZOK && st.ephemeralOwner == sid,
        "%s is still the session's ephemeral (%s, owner 0x%" PRIx64 ")", path,
        zerror(rc), (uint64_t)st.ephemeralOwner);
  zoo_delete(zh, wpath, -1);
  zookeeper_close(zh);
  return check_summary();
}
