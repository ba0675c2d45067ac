/* libroost_session HOSTS — survives a server restart within the session
 * timeout: creates an ephemeral node and an exists watch, prints "ready",
 * waits for the connection to drop and come back, checks the session id is
 * unchanged and the ephemeral still there, creates the watched node from a
 * second client and expects the first client's watch to fire.  Exit 0 on
 * success.  Driven by test_libroost.py. */
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "client/roost.h"
#include "libroost_sess.h"

struct state {
  struct lr_sess sess; /* its mu also guards the fields below */
  int events;
  char event_path[128];
};

static void on_watch(roost_client *c, int type, const char *path, void *arg) {
  (void)c;
  struct state *s = arg;
  uv_mutex_lock(&s->sess.mu);
  s->events++;
  snprintf(s->event_path, sizeof s->event_path, "%s", path);
  printf("watch %d %s\n", type, path);
  fflush(stdout);
  uv_cond_broadcast(&s->sess.cv);
  uv_mutex_unlock(&s->sess.mu);
}

int main(int argc, char **argv) {
  if (argc < 2)
    return 2;
  struct state s;
  memset(&s, 0, sizeof s);
  lr_sess_init(&s.sess);
  roost_options o;
  lr_sess_options(&o, &s.sess);
  o.session_timeout_ms = 30000;
  roost_client *c;
  if (roost_client_new(argv[1], &o, &c) != ROOST_OK ||
      roost_client_wait_connected(c, 10000) != ROOST_OK) {
    printf("FAIL connect\n");
    return 1;
  }
  char eph[64], watched[64];
  snprintf(eph, sizeof eph, "/lr-sess-%d", (int)uv_os_getpid());
  snprintf(watched, sizeof watched, "/lr-sess-%d-w", (int)uv_os_getpid());
  roost_create_opts e = {ROOST_EPHEMERAL, 0, NULL, 0};
  int rc1 = roost_create(c, eph, NULL, 0, &e, NULL);
  int rc2 = roost_exists(c, watched, on_watch, &s, NULL);
  int64_t sid = roost_client_session_id(c);
  if (rc1 != ROOST_OK || rc2 != ROOST_NONODE) {
    printf("FAIL setup %s %s\n", roost_err_name(rc1), roost_err_name(rc2));
    return 1;
  }
  printf("ready %llx\n", (unsigned long long)sid);
  fflush(stdout);
  int status = 0;
  if (!lr_sess_wait(&s.sess, &s.sess.disconnects, 1, 60) ||
      !lr_sess_wait(&s.sess, &s.sess.connects, 2, 60)) {
    printf("FAIL no disconnect/reconnect\n");
    status = 1;
  }
  if (roost_client_session_id(c) != sid) {
    printf("FAIL session changed\n");
    status = 1;
  }
  if (roost_exists(c, eph, NULL, NULL, NULL) != ROOST_OK) {
    printf("FAIL ephemeral gone\n");
    status = 1;
  }
  roost_client *c2;
  roost_options o2;
  roost_options_init(&o2);
  if (roost_client_new(argv[1], &o2, &c2) != ROOST_OK ||
      roost_client_wait_connected(c2, 10000) != ROOST_OK ||
      roost_create(c2, watched, NULL, 0, &e, NULL) != ROOST_OK) {
    printf("FAIL second client\n");
    status = 1;
  }
  if (!lr_sess_wait(&s.sess, &s.events, 1, 10) ||
      strcmp(s.event_path, watched) != 0) {
    printf("FAIL watch did not fire after reconnect\n");
    status = 1;
  }
  roost_client_close(c2);
  roost_client_close(c);
  lr_sess_destroy(&s.sess);
  printf("%s\n", status ? "FAILED" : "PASSED");
  return status;
}
