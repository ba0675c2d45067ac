/* libroost_ops HOSTS — every libroost operation end to end against a live
 * server, blocking and async, plus watch ordering.  Prints one line per
 * check and exits 0 only if all passed.  Driven by test_libroost.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "client/roost.h"
#include "libroost_check.h"

/* An ordered log shared by callbacks (they run on the I/O thread). */
struct order {
  uv_mutex_t mu;
  uv_cond_t cv;
  char items[32][80];
  int n;
};

static void order_add(struct order *o, const char *s) {
  uv_mutex_lock(&o->mu);
  if (o->n < 32)
    snprintf(o->items[o->n++], sizeof o->items[0], "%s", s);
  uv_cond_broadcast(&o->cv);
  uv_mutex_unlock(&o->mu);
}

static void order_wait(struct order *o, int n) {
  uv_mutex_lock(&o->mu);
  uint64_t deadline = uv_hrtime() + 10ull * 1000000000ull;
  while (o->n < n && uv_hrtime() < deadline)
    uv_cond_timedwait(&o->cv, &o->mu, 100000000ull);
  uv_mutex_unlock(&o->mu);
}

static void watcher(roost_client *c, int type, const char *path, void *arg) {
  (void)c;
  char s[80];
  snprintf(s, sizeof s, "watch %d %s", type, path);
  order_add(arg, s);
}

static void done(roost_client *c, const roost_result *res, void *arg) {
  (void)c;
  char s[80];
  snprintf(s, sizeof s, "reply %d %s", res->op, roost_err_name(res->err));
  order_add(arg, s);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s HOSTS[/chroot]\n", argv[0]);
    return 2;
  }
  char base[64];
  snprintf(base, sizeof base, "/lr-ops-%d", (int)uv_os_getpid());
  roost_client *c;
  roost_options o;
  roost_options_init(&o);
  /* With a chroot in HOSTS, make the chroot node first (through a client
   * without it): a chroot must exist for anything to be created under it. */
  const char *slash = strchr(argv[1], '/');
  if (slash) {
    char plain[256];
    snprintf(plain, sizeof plain, "%.*s", (int)(slash - argv[1]), argv[1]);
    CHECK_RC(roost_client_new(plain, NULL, &c), ROOST_OK);
    int rc = roost_create(c, slash, NULL, 0, NULL, NULL);
    CHECK(rc == ROOST_OK || rc == ROOST_NODEEXISTS, "chroot create %s",
          roost_err_name(rc));
    CHECK_RC(roost_client_close(c), ROOST_OK);
  }
  o.session_timeout_ms = 8000;
  CHECK_RC(roost_client_new(argv[1], &o, &c), ROOST_OK);
  CHECK_RC(roost_client_wait_connected(c, 10000), ROOST_OK);
  CHECK(roost_client_session_id(c) != 0, "no session id");
  CHECK(roost_client_session_timeout(c) > 0, "no timeout");

  /* create / get / set / exists / delete */
  roost_result *r = NULL;
  CHECK_RC(roost_create(c, base, "root", 4, NULL, &r), ROOST_OK);
  CHECK(r && strcmp(r->path, base) == 0, "created path %s", r ? r->path : "-");
  CHECK(r && r->has_stat && r->stat.version == 0, "create stat");
  roost_result_free(r);
  CHECK_RC(roost_create(c, base, "x", 1, NULL, NULL), ROOST_NODEEXISTS);
  CHECK_RC(roost_get(c, base, NULL, NULL, &r), ROOST_OK);
  CHECK(r && r->data_len == 4 && strcmp(r->data, "root") == 0, "get data");
  roost_result_free(r);
  CHECK_RC(roost_set(c, base, "v2", 2, 0, &r), ROOST_OK);
  CHECK(r && r->stat.version == 1, "set stat version");
  roost_result_free(r);
  CHECK_RC(roost_set(c, base, "v3", 2, 0, NULL), ROOST_BADVERSION);
  char p[128];
  snprintf(p, sizeof p, "%s/missing", base);
  CHECK_RC(roost_exists(c, p, NULL, NULL, &r), ROOST_NONODE);
  CHECK(r == NULL, "no result on error");
  CHECK_RC(roost_get(c, "bad//path", NULL, NULL, NULL), ROOST_BADARGUMENTS);

  /* sequential, ephemeral, children */
  snprintf(p, sizeof p, "%s/s-", base);
  roost_create_opts seq = {ROOST_SEQUENTIAL | ROOST_EPHEMERAL, 0, NULL, 0};
  CHECK_RC(roost_create(c, p, NULL, 0, &seq, &r), ROOST_OK);
  CHECK(r && strlen(r->path) == strlen(p) + 10, "sequential name %s",
        r ? r->path : "-");
  CHECK(r && r->stat.ephemeral_owner == roost_client_session_id(c),
        "ephemeral owner");
  roost_result_free(r);
  CHECK_RC(roost_create(c, p, NULL, 0, &seq, NULL), ROOST_OK);
  CHECK_RC(roost_get_children(c, base, NULL, NULL, &r), ROOST_OK);
  CHECK(r && r->n_children == 2 && r->has_stat && r->stat.num_children == 2,
        "children");
  roost_result_free(r);

  /* container, ACLs */
  snprintf(p, sizeof p, "%s/cont", base);
  roost_create_opts cont = {ROOST_CONTAINER, 0, NULL, 0};
  CHECK_RC(roost_create(c, p, NULL, -1, &cont, NULL), ROOST_OK);
  CHECK_RC(roost_get_acl(c, p, &r), ROOST_OK);
  CHECK(r && r->n_acl == 1 && strcmp(r->acl[0].scheme, "world") == 0 &&
            r->acl[0].perms == ROOST_PERM_ALL,
        "acl");
  roost_result_free(r);
  roost_acl ro = {ROOST_PERM_READ | ROOST_PERM_ADMIN, "world", "anyone"};
  CHECK_RC(roost_set_acl(c, p, &ro, 1, 0, &r), ROOST_OK);
  CHECK(r && r->stat.aversion == 1, "aversion");
  roost_result_free(r);
  snprintf(p, sizeof p, "%s/cont/child", base);
  CHECK_RC(roost_create(c, p, NULL, 0, NULL, NULL), ROOST_NOAUTH);
  CHECK_RC(roost_add_auth(c, "digest", "u:p", 3), ROOST_OK);
  CHECK_RC(roost_sync(c, base), ROOST_OK);

  /* multi */
  roost_multi *m = roost_multi_new();
  snprintf(p, sizeof p, "%s/m1", base);
  CHECK_RC(roost_multi_add_create(m, p, "a", 1, NULL), ROOST_OK);
  CHECK_RC(roost_multi_add_set(m, p, "b", 1, 0), ROOST_OK);
  CHECK_RC(roost_multi_add_check(m, base, 1), ROOST_OK);
  CHECK_RC(roost_multi_commit(c, m, &r), ROOST_OK);
  CHECK(r && r->n_ops == 3 && r->ops[0].op == ROOST_OP_CREATE &&
            r->ops[1].stat.version == 1,
        "multi results");
  roost_result_free(r);
  roost_multi_free(m);
  m = roost_multi_new();
  snprintf(p, sizeof p, "%s/m2", base);
  CHECK_RC(roost_multi_add_create(m, p, NULL, 0, NULL), ROOST_OK);
  snprintf(p, sizeof p, "%s/nope", base);
  CHECK_RC(roost_multi_add_delete(m, p, -1), ROOST_OK);
  CHECK_RC(roost_multi_commit(c, m, &r), ROOST_NONODE);
  CHECK(r && r->n_ops == 2 && r->ops[0].err == 0 &&
            r->ops[1].err == ROOST_NONODE,
        "failed multi results");
  roost_result_free(r);
  roost_multi_free(m);
  snprintf(p, sizeof p, "%s/m2", base);
  CHECK_RC(roost_exists(c, p, NULL, NULL, NULL), ROOST_NONODE);

  /* Watch ordering: a data watch on W, then async set of W and a get
   * after it: the event must come before the set's reply. */
  struct order ord;
  memset(&ord, 0, sizeof ord);
  uv_mutex_init(&ord.mu);
  uv_cond_init(&ord.cv);
  snprintf(p, sizeof p, "%s/w", base);
  CHECK_RC(roost_create(c, p, NULL, 0, NULL, NULL), ROOST_OK);
  CHECK_RC(roost_get(c, p, watcher, &ord, NULL), ROOST_OK);
  CHECK_RC(roost_get_children(c, p, watcher, &ord, NULL), ROOST_OK);
  char child[140];
  snprintf(child, sizeof child, "%s/c", p);
  char nonexist[140];
  snprintf(nonexist, sizeof nonexist, "%s/later", p);
  CHECK_RC(roost_exists(c, nonexist, watcher, &ord, NULL), ROOST_NONODE);
  CHECK_RC(roost_set_async(c, p, "x", 1, -1, done, &ord), ROOST_OK);
  CHECK_RC(roost_create_async(c, child, NULL, 0, NULL, done, &ord), ROOST_OK);
  CHECK_RC(roost_create_async(c, nonexist, NULL, 0, NULL, done, &ord),
           ROOST_OK);
  CHECK_RC(roost_get_async(c, p, NULL, NULL, done, &ord), ROOST_OK);
  order_wait(&ord, 7);
  const char *want[] = {
      "watch 3 ", "reply 5 OK", "watch 4 ",   "reply 1 OK",
      "watch 1 ", "reply 1 OK", "reply 4 OK",
  };
  CHECK(ord.n == 7, "got %d events", ord.n);
  for (int i = 0; i < 7 && i < ord.n; i++)
    CHECK(strncmp(ord.items[i], want[i], strlen(want[i])) == 0,
          "order[%d] = '%s', want '%s...'", i, ord.items[i], want[i]);
  for (int i = 0; i < ord.n; i++)
    printf("order %s\n", ord.items[i]);

  /* Watcher on a node deleted by a multi-level cleanup; then clean up. */
  CHECK_RC(roost_delete(c, child, -1), ROOST_OK);
  CHECK_RC(roost_delete(c, nonexist, -1), ROOST_OK);
  CHECK_RC(roost_delete(c, p, -1), ROOST_OK);
  CHECK_RC(roost_delete(c, base, -1), ROOST_NOTEMPTY);

  CHECK_RC(roost_client_close(c), ROOST_OK);
  uv_cond_destroy(&ord.cv);
  uv_mutex_destroy(&ord.mu);
  printf("%s (%d failures)\n", failures ? "FAILED" : "PASSED", failures);
  return failures ? 1 : 0;
}
