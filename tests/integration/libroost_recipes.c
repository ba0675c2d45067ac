/* libroost_recipes HOSTS election DIR ID
 *   joins an election under DIR; prints "leader ID" / "follower ID" on
 *   every change; SIGTERM resigns and exits 0.
 * libroost_recipes HOSTS lock DIR ID ROUNDS
 *   takes the lock ROUNDS times; while holding it, creates and deletes the
 *   ephemeral DIR-holder (NODEEXISTS there means two holders at once:
 *   prints VIOLATION and exits 1).  Driven by test_libroost.py. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/roost.h"

static const char *g_id;

static void on_leader(roost_election *e, bool leader, void *arg) {
  (void)e;
  (void)arg;
  printf("%s %s\n", leader ? "leader" : "follower", g_id);
  fflush(stdout);
}

static int run_election(roost_client *c, const char *dir, sigset_t *set) {
  roost_election *e;
  int rc = roost_election_new(c, dir, g_id, on_leader, NULL, &e);
  if (rc != ROOST_OK) {
    printf("election_new %s\n", roost_err_name(rc));
    return 1;
  }
  printf("joined %s\n", g_id);
  fflush(stdout);
  int sig;
  sigwait(set, &sig);
  rc = roost_election_free(e);
  printf("resigned %s %s\n", g_id, roost_err_name(rc));
  return rc == ROOST_OK ? 0 : 1;
}

static int run_lock(roost_client *c, const char *dir, int rounds) {
  roost_lock *l;
  int rc = roost_lock_new(c, dir, &l);
  if (rc != ROOST_OK) {
    printf("lock_new %s\n", roost_err_name(rc));
    return 1;
  }
  char holder[256];
  snprintf(holder, sizeof holder, "%s-holder", dir);
  roost_create_opts eph = {ROOST_EPHEMERAL, 0, NULL, 0};
  int bad = 0;
  for (int i = 0; i < rounds && !bad; i++) {
    rc = roost_lock_acquire(l, 30000);
    if (rc != ROOST_OK) {
      printf("acquire %s\n", roost_err_name(rc));
      bad = 1;
      break;
    }
    if (!roost_lock_is_held(l))
      bad = 1;
    printf("acquired %s %d\n", g_id, i);
    fflush(stdout);
    rc = roost_create(c, holder, g_id, (int32_t)strlen(g_id), &eph, NULL);
    if (rc != ROOST_OK) {
      printf("VIOLATION %s\n", roost_err_name(rc));
      bad = 1;
    }
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (rc == ROOST_OK)
      roost_delete(c, holder, -1);
    rc = roost_lock_release(l);
    if (rc != ROOST_OK) {
      printf("release %s\n", roost_err_name(rc));
      bad = 1;
    }
    printf("released %s %d\n", g_id, i);
    fflush(stdout);
  }
  roost_lock_free(l);
  return bad;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s HOSTS election|lock DIR ID [ROUNDS]\n",
            argv[0]);
    return 2;
  }
  g_id = argv[4];
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  roost_options o;
  roost_options_init(&o);
  o.session_timeout_ms = 6000;
  roost_client *c;
  int rc = roost_client_new(argv[1], &o, &c);
  if (rc != ROOST_OK || roost_client_wait_connected(c, 10000) != ROOST_OK) {
    printf("connect failed\n");
    return 1;
  }
  int status;
  if (strcmp(argv[2], "election") == 0)
    status = run_election(c, argv[3], &set);
  else
    status = run_lock(c, argv[3], argc > 5 ? atoi(argv[5]) : 3);
  roost_client_close(c);
  printf("exit %d\n", status);
  return status;
}
