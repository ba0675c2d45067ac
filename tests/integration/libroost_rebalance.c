/* libroost_rebalance HOSTS N SUPER_AUTH: N libroost clients on HOSTS with
 * the default options (follow_config on: more than one host), seeds 1..N,
 * each with an ephemeral node /rb-<i>.  Prints "sid <i> <hex>" for each
 * and "ready", then reads commands on stdin, one a line:
 *   join <server.N=spec,...>  roost_reconfig_async joining (client 0, the
 *                             super user), retried on NewConfigNoQuorum
 *   leave <ids>               the same, leaving
 *       -> "reconfig OK <version hex>" or "reconfig ERR <error>"
 *   check   every client still has its session and its ephemeral node
 *           (owner = its session) -> "check OK" or "check FAIL ..."
 *   cfgwatch  the watch that one more client, with a chroot ("/rbroot")
 *           and follow_config off, set at start with roost_get_config:
 *           waits up to 20 s -> "cfgwatch <event type> <path>" or
 *           "cfgwatch none" (its first read's text must hold "server.")
 *   quit
 * The clients move by themselves: nothing here calls
 * roost_update_server_list. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "client/roost.h"

#define MAXC 64

/* The chrooted getConfig watcher's event. */
static uv_mutex_t ev_mu;
static uv_cond_t ev_cv;
static int ev_type;
static char ev_path[64];

static void cfg_watch(roost_client *c, int type, const char *path, void *arg) {
  (void)c;
  (void)arg;
  uv_mutex_lock(&ev_mu);
  ev_type = type;
  snprintf(ev_path, sizeof ev_path, "%s", path);
  uv_cond_signal(&ev_cv);
  uv_mutex_unlock(&ev_mu);
}

static void cfgwatch(void) {
  uv_mutex_lock(&ev_mu);
  for (int i = 0; i < 200 && ev_type == 0; i++)
    (void)uv_cond_timedwait(&ev_cv, &ev_mu, 100 * 1000000ull);
  if (ev_type)
    printf("cfgwatch %d %s\n", ev_type, ev_path);
  else
    printf("cfgwatch none\n");
  uv_mutex_unlock(&ev_mu);
  fflush(stdout);
}

struct done {
  uv_mutex_t mu;
  uv_cond_t cv;
  bool fired;
  int err;
  char text[4096];
};

static void reconfig_cb(roost_client *c, const roost_result *res, void *arg) {
  (void)c;
  struct done *d = arg;
  uv_mutex_lock(&d->mu);
  d->err = res->err;
  if (res->err == ROOST_OK && res->op == ROOST_OP_RECONFIG && res->data)
    snprintf(d->text, sizeof d->text, "%s", res->data);
  d->fired = true;
  uv_cond_signal(&d->cv);
  uv_mutex_unlock(&d->mu);
}

/* One async reconfig; the error (and the text into d->text). */
static int reconfig_once(roost_client *c, const char *joining,
                         const char *leaving, struct done *d) {
  d->fired = false;
  d->text[0] = 0;
  int rc = roost_reconfig_async(c, joining, leaving, NULL, -1, reconfig_cb, d);
  if (rc != ROOST_OK)
    return rc;
  uv_mutex_lock(&d->mu);
  while (!d->fired)
    uv_cond_wait(&d->cv, &d->mu);
  rc = d->err;
  uv_mutex_unlock(&d->mu);
  return rc;
}

static void do_reconfig(roost_client *c, const char *joining,
                        const char *leaving) {
  struct done d;
  memset(&d, 0, sizeof d);
  uv_mutex_init(&d.mu);
  uv_cond_init(&d.cv);
  int rc = ROOST_NEWCONFIGNOQUORUM;
  /* joiners may not have caught up yet; the connection may move */
  for (int i = 0; i < 300; i++) {
    rc = reconfig_once(c, joining, leaving, &d);
    if (rc != ROOST_NEWCONFIGNOQUORUM && rc != ROOST_CONNECTIONLOSS)
      break;
    roost_client_wait_connected(c, 1000);
    uv_sleep(200);
  }
  const char *v = strstr(d.text, "version=");
  if (rc == ROOST_OK && v)
    printf("reconfig OK %s\n", v + strlen("version="));
  else
    printf("reconfig ERR %s\n", roost_strerror(rc));
  fflush(stdout);
  uv_cond_destroy(&d.cv);
  uv_mutex_destroy(&d.mu);
}

static void check(roost_client **cs, const int64_t *sids, int n) {
  for (int i = 0; i < n; i++) {
    char path[32];
    snprintf(path, sizeof path, "/rb-%d", i);
    roost_result *r = NULL;
    int rc = ROOST_CONNECTIONLOSS;
    for (int t = 0; t < 60 && rc == ROOST_CONNECTIONLOSS; t++) {
      roost_client_wait_connected(cs[i], 1000);
      rc = roost_exists(cs[i], path, NULL, NULL, &r);
    }
    if (rc != ROOST_OK || r->stat.ephemeral_owner != sids[i] ||
        roost_client_session_id(cs[i]) != sids[i]) {
      printf("check FAIL client %d: %s\n", i, roost_strerror(rc));
      fflush(stdout);
      roost_result_free(r);
      return;
    }
    roost_result_free(r);
  }
  printf("check OK\n");
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s HOSTS N SUPER_AUTH\n", argv[0]);
    return 2;
  }
  int n = atoi(argv[2]);
  if (n < 1 || n > MAXC)
    return 2;
  roost_client *cs[MAXC] = {0};
  int64_t sids[MAXC];
  int ret = 1;
  roost_auth su = {"digest", argv[3], strlen(argv[3])};
  for (int i = 0; i < n; i++) {
    roost_options o;
    roost_options_init(&o);
    o.session_timeout_ms = 30000;
    o.seed = (uint64_t)i + 1;
    if (i == 0) {
      o.auth = &su;
      o.n_auth = 1;
    }
    int rc = roost_client_new(argv[1], &o, &cs[i]);
    if (rc == ROOST_OK)
      rc = roost_client_wait_connected(cs[i], 30000);
    char path[32];
    snprintf(path, sizeof path, "/rb-%d", i);
    roost_create_opts eph = {.flags = ROOST_EPHEMERAL};
    if (rc == ROOST_OK)
      rc = roost_create(cs[i], path, "x", 1, &eph, NULL);
    if (rc != ROOST_OK) {
      printf("FAIL client %d: %s\n", i, roost_strerror(rc));
      goto out;
    }
    sids[i] = roost_client_session_id(cs[i]);
    printf("sid %d %" PRIx64 "\n", i, (uint64_t)sids[i]);
  }
  uv_mutex_init(&ev_mu);
  uv_cond_init(&ev_cv);
  char cs_root[4096];
  snprintf(cs_root, sizeof cs_root, "%s/rbroot", argv[1]);
  roost_options ro;
  roost_options_init(&ro);
  ro.follow_config = ROOST_FOLLOW_CONFIG_OFF;
  roost_client *rooted = NULL;
  roost_result *cfg = NULL;
  int rc = roost_client_new(cs_root, &ro, &rooted);
  if (rc == ROOST_OK)
    rc = roost_client_wait_connected(rooted, 30000);
  if (rc == ROOST_OK)
    rc = roost_get_config(rooted, cfg_watch, NULL, &cfg);
  if (rc != ROOST_OK || strstr(cfg->data, "server.") == NULL) {
    printf("FAIL getConfig under a chroot: %s\n", roost_strerror(rc));
    roost_result_free(cfg);
    if (rooted)
      roost_client_close(rooted);
    goto out;
  }
  roost_result_free(cfg);
  printf("ready\n");
  fflush(stdout);
  char line[8192];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\r\n")] = 0;
    if (strncmp(line, "join ", 5) == 0)
      do_reconfig(cs[0], line + 5, NULL);
    else if (strncmp(line, "leave ", 6) == 0)
      do_reconfig(cs[0], NULL, line + 6);
    else if (strcmp(line, "check") == 0)
      check(cs, sids, n);
    else if (strcmp(line, "cfgwatch") == 0)
      cfgwatch();
    else if (strcmp(line, "quit") == 0)
      break;
  }
  roost_client_close(rooted);
  uv_cond_destroy(&ev_cv);
  uv_mutex_destroy(&ev_mu);
  ret = 0;
out:
  for (int i = 0; i < n; i++)
    if (cs[i])
      roost_client_close(cs[i]);
  return ret;
}
