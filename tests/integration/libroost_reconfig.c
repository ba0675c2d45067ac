/* libroost_reconfig HOSTS SUPER_AUTH LEAVE_ID: connects to HOSTS, creates
 * an ephemeral node, removes server LEAVE_ID (the one it is connected to)
 * with roost_reconfig as the super user, hands the reply's configuration
 * to roost_update_server_list_from_config, and checks that the session
 * moved to another server: same session id, the ephemeral node still
 * there, a write accepted.  Prints "OK <session id hex>" or "FAIL ...". */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/roost.h"

static int fail(const char *what, int rc) {
  printf("FAIL %s: %s\n", what, roost_strerror(rc));
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s HOSTS SUPER_AUTH LEAVE_ID\n", argv[0]);
    return 2;
  }
  roost_options o;
  roost_options_init(&o);
  o.session_timeout_ms = 20000;
  roost_client *c = NULL;
  int rc = roost_client_new(argv[1], &o, &c);
  if (rc != ROOST_OK)
    return fail("client_new", rc);
  int ret = 1;
  roost_result *res = NULL;
  if ((rc = roost_client_wait_connected(c, 20000)) != ROOST_OK) {
    fail("connect", rc);
    goto out;
  }
  int64_t sid = roost_client_session_id(c);
  if ((rc = roost_add_auth(c, "digest", argv[2], strlen(argv[2]))) !=
      ROOST_OK) {
    fail("add_auth", rc);
    goto out;
  }
  roost_create_opts eph = {.flags = ROOST_EPHEMERAL};
  if ((rc = roost_create(c, "/rc-eph", "x", 1, &eph, NULL)) != ROOST_OK) {
    fail("create", rc);
    goto out;
  }
  if ((rc = roost_reconfig(c, NULL, argv[3], NULL, -1, &res)) != ROOST_OK) {
    fail("reconfig", rc);
    goto out;
  }
  if (strstr(res->data, "version=") == NULL) {
    printf("FAIL reply %s\n", res->data);
    goto out;
  }
  if ((rc = roost_update_server_list_from_config(
           c, res->data, (size_t)res->data_len)) != ROOST_OK) {
    fail("update_server_list", rc);
    goto out;
  }
  /* the removed server stops serving; the client moves on */
  if ((rc = roost_client_wait_connected(c, 30000)) != ROOST_OK) {
    fail("reconnect", rc);
    goto out;
  }
  for (int i = 0; i < 100; i++) {
    roost_result *e = NULL;
    rc = roost_exists(c, "/rc-eph", NULL, NULL, &e);
    roost_result_free(e);
    if (rc != ROOST_CONNECTIONLOSS)
      break;
    roost_client_wait_connected(c, 1000);
  }
  if (rc != ROOST_OK) {
    fail("exists after the move", rc);
    goto out;
  }
  if (roost_client_session_id(c) != sid) {
    printf("FAIL session changed\n");
    goto out;
  }
  if ((rc = roost_create(c, "/rc-after", "y", 1, NULL, NULL)) != ROOST_OK) {
    fail("create after the move", rc);
    goto out;
  }
  printf("OK %" PRIx64 "\n", (uint64_t)sid);
  ret = 0;
out:
  roost_result_free(res);
  roost_client_close(c);
  return ret;
}
