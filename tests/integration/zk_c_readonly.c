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

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef THREADED
#define THREADED
#endif
#include <zookeeper.h>

#include "zkc_check.h"
#include "zkc_session.h"

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
  if (zh == NULL || !zkc_wait(&ro_connected, 60000)) {
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

  check(zkc_wait(&connected, 120000) > 0, "connected read-write again");
  check(zoo_state(zh) == ZOO_CONNECTED_STATE, "state is ZOO_CONNECTED_STATE");
  check(zoo_client_id(zh)->client_id != ro_sid,
        "a new session from a read-write member");
  rc = zoo_create(zh, mine, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  check(rc == ZOK, "create read-write: %s", zerror(rc));
  zoo_delete(zh, mine, -1);
  zookeeper_close(zh);
  return check_summary();
}
