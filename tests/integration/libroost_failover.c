/* libroost_failover HOSTS PREFIX ROUNDS — libroost across ensemble
 * fail-overs.  Connects with the full connect string HOSTS, creates PREFIX,
 * an ephemeral PREFIX-eph, an exists watch on the missing PREFIX-w and a
 * data watch on PREFIX, prints "ready <session id in hex>", then creates
 * PREFIX/n<k> in a loop, printing "ok n<k>" for every create the ensemble
 * acknowledged.  The test kills servers under it (-9); each time the
 * connection drops and comes back the client prints "reconnected <ms>".
 * The loop goes on until ROUNDS reconnects happened and 20 more writes were
 * acknowledged after the last.  Then it checks the session id is
 * unchanged, the ephemeral is still there, and both watches (set before
 * the first kill) fire for changes a second client makes now.  Prints
 * "PASSED" and exits 0 on success.  Driven by test_libroost_ensemble.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "client/roost.h"
#include "libroost_sess.h"

#define AFTER_RECONNECT 20
#define RUN_SECONDS 60

struct state {
  struct lr_sess sess; /* its mu also guards the fields below */
  int reconnects;      /* connects that followed a disconnect */
  uint64_t down_ns;    /* when the connection dropped; 0 while connected */
  int created;         /* exists watch on PREFIX-w fired with CREATED */
  int changed;         /* data watch on PREFIX fired with DATA_CHANGED */
};

/* lr_on_session's counting, plus the time each reconnect took. */
static void on_session(roost_client *c, int event, void *arg) {
  (void)c;
  struct state *s = arg;
  uv_mutex_lock(&s->sess.mu);
  printf("session %d\n", event);
  lr_sess_count(&s->sess, event);
  if (event == ROOST_SESSION_CONNECTED && s->down_ns != 0) {
    s->reconnects++;
    printf("reconnected %.0f ms after the disconnect\n",
           (double)(uv_hrtime() - s->down_ns) / 1e6);
    s->down_ns = 0;
  } else if (event == ROOST_SESSION_DISCONNECTED && s->down_ns == 0) {
    s->down_ns = uv_hrtime();
  }
  fflush(stdout);
  uv_cond_broadcast(&s->sess.cv);
  uv_mutex_unlock(&s->sess.mu);
}

static void on_watch(roost_client *c, int type, const char *path, void *arg) {
  (void)c;
  struct state *s = arg;
  uv_mutex_lock(&s->sess.mu);
  if (type == ROOST_EVENT_CREATED)
    s->created++;
  if (type == ROOST_EVENT_DATA_CHANGED)
    s->changed++;
  printf("watch %d %s\n", type, path);
  fflush(stdout);
  uv_cond_broadcast(&s->sess.cv);
  uv_mutex_unlock(&s->sess.mu);
}

static int reconnects(struct state *s) {
  uv_mutex_lock(&s->sess.mu);
  int r = s->reconnects;
  uv_mutex_unlock(&s->sess.mu);
  return r;
}

/* Creates PREFIX/n<k> until the ensemble acknowledges it.  A retry that
 * finds the node means an earlier attempt committed.  Returns false on a
 * session error or when the run's deadline passed. */
static bool write_one(roost_client *c, const char *prefix, int k,
                      uint64_t deadline) {
  char path[256];
  snprintf(path, sizeof path, "%s/n%06d", prefix, k);
  bool retried = false;
  while (uv_hrtime() < deadline) {
    int rc = roost_create(c, path, "x", 1, NULL, NULL);
    if (rc == ROOST_OK || (rc == ROOST_NODEEXISTS && retried)) {
      printf("ok n%06d\n", k);
      fflush(stdout);
      return true;
    }
    if (rc != ROOST_CONNECTIONLOSS && rc != ROOST_OPERATIONTIMEOUT &&
        rc != ROOST_ETIMEDOUT) {
      printf("FAIL create %s: %s\n", path, roost_err_name(rc));
      return false;
    }
    printf("err n%06d %s\n", k, roost_err_name(rc));
    fflush(stdout);
    retried = true;
    uv_sleep(20);
  }
  printf("FAIL create %s: out of time\n", path);
  return false;
}

/* The load: writes until `rounds` reconnects happened, plus
 * AFTER_RECONNECT more. */
static bool write_through_failover(roost_client *c, struct state *s,
                                   const char *prefix, long rounds) {
  uint64_t deadline = uv_hrtime() + (uint64_t)RUN_SECONDS * 1000000000ull;
  int after = 0;
  for (int k = 0; after < AFTER_RECONNECT; k++) {
    if (!write_one(c, prefix, k, deadline))
      return false;
    if (reconnects(s) >= rounds)
      after++;
  }
  return true;
}

/* A second client changes what the first one watches. */
static bool poke_watches(const char *hosts, const char *prefix,
                         const char *watched) {
  roost_options o;
  roost_options_init(&o);
  roost_client *c2;
  if (roost_client_new(hosts, &o, &c2) != ROOST_OK)
    return false;
  bool ok = roost_client_wait_connected(c2, 20000) == ROOST_OK &&
            roost_create(c2, watched, NULL, 0, NULL, NULL) == ROOST_OK &&
            roost_set(c2, prefix, "changed", 7, -1, NULL) == ROOST_OK;
  roost_client_close(c2);
  return ok;
}

static int check_after(roost_client *c, struct state *s, const char *hosts,
                       const char *prefix, int64_t sid) {
  char eph[256], watched[256];
  snprintf(eph, sizeof eph, "%s-eph", prefix);
  snprintf(watched, sizeof watched, "%s-w", prefix);
  int status = 0;
  if (s->sess.expired || roost_client_session_id(c) != sid) {
    printf("FAIL session changed or expired\n");
    status = 1;
  }
  roost_result *r = NULL;
  if (roost_exists(c, eph, NULL, NULL, &r) != ROOST_OK ||
      r->stat.ephemeral_owner != sid) {
    printf("FAIL ephemeral gone or not ours\n");
    status = 1;
  }
  roost_result_free(r);
  if (!poke_watches(hosts, prefix, watched)) {
    printf("FAIL second client\n");
    status = 1;
  }
  if (!lr_sess_wait(&s->sess, &s->created, 1, 20) ||
      !lr_sess_wait(&s->sess, &s->changed, 1, 20)) {
    printf("FAIL watches set before the kill did not fire\n");
    status = 1;
  }
  return status;
}

static int setup(roost_client *c, struct state *s, const char *prefix) {
  char eph[256], watched[256];
  snprintf(eph, sizeof eph, "%s-eph", prefix);
  snprintf(watched, sizeof watched, "%s-w", prefix);
  roost_create_opts e = {ROOST_EPHEMERAL, 0, NULL, 0};
  int rc1 = roost_create(c, prefix, NULL, 0, NULL, NULL);
  int rc2 = roost_create(c, eph, NULL, 0, &e, NULL);
  int rc3 = roost_exists(c, watched, on_watch, s, NULL);
  int rc4 = roost_get(c, prefix, on_watch, s, NULL);
  if (rc1 != ROOST_OK || rc2 != ROOST_OK || rc3 != ROOST_NONODE ||
      rc4 != ROOST_OK) {
    printf("FAIL setup %s %s %s %s\n", roost_err_name(rc1), roost_err_name(rc2),
           roost_err_name(rc3), roost_err_name(rc4));
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4)
    return 2;
  const char *hosts = argv[1], *prefix = argv[2];
  char *end;
  long rounds = strtol(argv[3], &end, 10);
  if (*end != '\0' || rounds < 1 || rounds > 10)
    return 2;
  struct state s;
  memset(&s, 0, sizeof s);
  lr_sess_init(&s.sess);
  roost_options o;
  roost_options_init(&o);
  o.session_timeout_ms = 10000;
  o.session_cb = on_session;
  o.session_arg = &s;
  roost_client *c;
  if (roost_client_new(hosts, &o, &c) != ROOST_OK)
    return 1;
  int status = 1;
  if (roost_client_wait_connected(c, 20000) != ROOST_OK) {
    printf("FAIL connect\n");
  } else if (setup(c, &s, prefix) == 0) {
    int64_t sid = roost_client_session_id(c);
    printf("ready %llx\n", (unsigned long long)sid);
    fflush(stdout);
    if (write_through_failover(c, &s, prefix, rounds))
      status = check_after(c, &s, hosts, prefix, sid);
  }
  roost_client_close(c);
  lr_sess_destroy(&s.sess);
  printf("%s\n", status ? "FAILED" : "PASSED");
  return status;
}
