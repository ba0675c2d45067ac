/* rebalance.c — following the ensemble's membership.
 *
 * rc_rebalance: what a client does when its server list changes, with the
 * probabilities of ZooKeeper's client (StaticHostProvider.updateServerList,
 * ZOOKEEPER-1355), so that after a change the expected number of clients
 * on each server is the same: when the ensemble grows, a client whose
 * server stays moves to one of the added servers with probability
 * 1 - old/new; a client whose server was removed always moves, to an added
 * server when the ensemble grew, otherwise to a kept one with the
 * probability that evens the kept servers' load.  Pure: the caller's RNG.
 *
 * The follower (options.follow_config): reads /zookeeper/config with a
 * watch on every new session and hands each new version to the client's
 * server list. */
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"

static bool host_eq(const struct rc_host *a, const struct rc_host *b) {
  return a->port == b->port && strcmp(a->host, b->host) == 0;
}

static bool host_in(const struct rc_host *h, const struct rc_host *list,
                    size_t n) {
  for (size_t i = 0; i < n; i++)
    if (host_eq(h, &list[i]))
      return true;
  return false;
}

/* A uniform number in [0, 1), as Java's nextFloat (24 bits). */
static double unit_draw(uint64_t *rng) {
  return (double)(rc_rand(rng) >> 40) / (double)(1u << 24);
}

bool rc_rebalance(const struct rc_host *old, size_t n_old,
                  const struct rc_host *cur, struct rc_host *hosts, size_t n,
                  uint64_t *rng, size_t *keep) {
  *keep = SIZE_MAX;
  if (n == 0)
    return false;
  for (size_t i = n; i > 1; i--) { /* ZooKeeper shuffles the new list too */
    size_t j = (size_t)(rc_rand(rng) % i);
    struct rc_host t = hosts[i - 1];
    hosts[i - 1] = hosts[j];
    hosts[j] = t;
  }
  bool mine_stays = false;
  for (size_t i = 0; cur != NULL && i < n; i++)
    if (host_eq(cur, &hosts[i])) {
      mine_stays = true;
      *keep = i;
    }
  size_t n_kept = 0; /* servers of the new list that were in the old one */
  for (size_t i = 0; i < n; i++)
    n_kept += host_in(&hosts[i], old, n_old);
  size_t n_added = n - n_kept;
  double p_added; /* a move goes to an added server with this probability */
  if (n > n_old) {
    /* Growing: a server that stays sheds old/new of its load. */
    if (mine_stays && unit_draw(rng) > 1.0 - (double)n_old / (double)n)
      return false;
    p_added = 1.0;
  } else {
    if (mine_stays)
      return false; /* the same size or smaller: stay */
    /* Removed: a kept server takes (n_old - n) / (n_old - n_kept) of the
     * moving clients' share, the rest go to the added servers. */
    double den = (double)n * (double)(n_old - n_kept);
    double p_kept = den > 0 ? (double)n_kept * (double)(n_old - n) / den : 1.0;
    p_added = 1.0 - p_kept;
  }
  /* The order to try: each draw picks an added or a kept server with those
   * odds (the other kind once one kind is used up), each kind in the
   * shuffled order; hosts[] is rewritten in that order. */
  struct rc_host *tmp = malloc(n * sizeof *tmp);
  if (tmp == NULL) { /* keep the shuffled order: still a valid choice */
    *keep = SIZE_MAX;
    return true;
  }
  size_t ia = 0, ik = 0, out = 0;
  while (out < n) {
    bool take_added = unit_draw(rng) <= p_added;
    bool added_left = ia < n_added, kept_left = ik < n_kept;
    bool want_added = added_left && (take_added || !kept_left);
    /* the next server of the wanted kind in the shuffled list */
    size_t *idx = want_added ? &ia : &ik;
    size_t seen = 0;
    for (size_t i = 0; i < n; i++) {
      if (host_in(&hosts[i], old, n_old) == want_added)
        continue;
      if (seen++ == *idx) {
        tmp[out++] = hosts[i];
        break;
      }
    }
    (*idx)++;
  }
  memcpy(hosts, tmp, n * sizeof *tmp);
  free(tmp);
  *keep = SIZE_MAX;
  return true;
}

/* ------------------------------------------------------------------ */
/* Following /zookeeper/config */

static void follow_read(struct rc_follow *f);

static void follow_watch(roost_client *c, int type, const char *path,
                         void *arg) {
  (void)c;
  (void)path;
  struct rc_follow *f = arg;
  if (type == ROOST_EVENT_DATA_CHANGED || type == ROOST_EVENT_CREATED)
    follow_read(f);
}

static void follow_done(roost_client *c, const roost_result *res, void *arg) {
  struct rc_follow *f = arg;
  if (res->err == ROOST_CONNECTIONLOSS) {
    f->armed = false; /* the watch may not be set: read again on connect */
    return;
  }
  if (res->err != ROOST_OK || res->data_len <= 0)
    return; /* no dynamic configuration here (or the client is closing) */
  struct proto_zkconfig *z = calloc(1, sizeof *z);
  if (z == NULL)
    return;
  if (proto_zkconfig_parse(res->data, (size_t)res->data_len, z, NULL) ==
          PROTO_OK &&
      z->has_version) {
    /* The first version seen is where the connect string came from: only
     * a later change moves clients (a client keeps its connect string's
     * spelling of the addresses until the membership really changes). */
    if (f->has_version && z->version != f->version)
      (void)rc_client_apply_config(c, z);
    f->version = z->version;
    f->has_version = true;
  }
  free(z);
}

static void follow_read(struct rc_follow *f) {
  if (roost_get_config_async(f->c, follow_watch, f, follow_done, f) != ROOST_OK)
    f->armed = false;
}

static void follow_session(struct rc_hook *h, int event) {
  struct rc_follow *f = (struct rc_follow *)h;
  if (event == ROOST_SESSION_EXPIRED) {
    f->armed = false; /* a new session has no watches */
  } else if ((event == ROOST_SESSION_CONNECTED ||
              event == ROOST_SESSION_CONNECTED_READ_ONLY) &&
             !f->armed) {
    f->armed = true;
    follow_read(f);
  }
}

void rc_follow_start(struct rc_follow *f, roost_client *c) {
  memset(f, 0, sizeof *f);
  f->c = c;
  f->hook.on_session = follow_session;
  rc_client_hook_add(c, &f->hook);
}
