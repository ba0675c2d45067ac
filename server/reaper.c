/* reaper.c — container and TTL node reaping (§7.7), in the manner of
 * ZooKeeper's ContainerManager: every cfg.reap_interval_ms
 * (znode.container.checkIntervalMs, default 60 s) ask the tree for
 * candidates and delete each with a deleteContainer transaction.  Each
 * deletion is a write like any other: it gets the next zxid, and its watch
 * events go out before anything processed after it.
 *
 * Rate: ZooKeeper spaces its deletions 60000 / maxPerMinute ms apart
 * (sleeping in its own thread).  The loop must not sleep, so a run deletes
 * at most maxPerMinute * interval / 60000 nodes (at least one) at once
 * and leaves the rest to the next run: the same bound per minute.
 *
 * Candidates are copied out first because the tree's callback must not
 * change the tree; prep re-checks each one against the tree as it is, so
 * a container that got a child meanwhile yields an error txn, not a loss.
 *
 * Each candidate goes to the replica (replica.h), which preps it against
 * the tree plus the writes in flight and commits it like any write (in an
 * ensemble only the leader reaps, through zab); nothing is applied here
 * directly. */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

struct reap_list {
  size_t max; /* per run */
  char **paths;
  size_t *lens;
  size_t n, cap;
  bool oom;
};

static bool collect(void *arg, const char *path, size_t len) {
  struct reap_list *l = arg;
  if (l->n == l->cap) {
    size_t ncap = l->cap ? l->cap * 2 : 16;
    char **np = realloc(
        l->paths, ncap * sizeof(char *)); // NOLINT(bugprone-sizeof-expression)
    if (np == NULL) {
      l->oom = true;
      return false;
    }
    l->paths = np;
    size_t *nl = realloc(l->lens, ncap * sizeof *nl);
    if (nl == NULL) {
      l->oom = true;
      return false;
    }
    l->lens = nl;
    l->cap = ncap;
  }
  char *p = malloc(len + 1);
  if (p == NULL) {
    l->oom = true;
    return false;
  }
  memcpy(p, path, len);
  p[len] = '\0';
  l->paths[l->n] = p;
  l->lens[l->n] = len;
  l->n++;
  return l->n < l->max;
}

void srv_reap(struct srv *s) {
  struct reap_list l;
  memset(&l, 0, sizeof l);
  int64_t per_run =
      (int64_t)s->cfg.reap_max_per_minute *
      (int64_t)(s->cfg.reap_interval_ms > 0 ? s->cfg.reap_interval_ms : 60000) /
      60000;
  l.max = per_run < 1 ? 1 : (size_t)per_run;
  tree_reap_candidates(s->tree, srv_wall_ms(), s->cfg.reap_max_never_used_ms,
                       collect, &l);
  if (l.oom)
    srv_log(s, SRV_LOG_WARN, "reaper: out of memory; %zu candidates this run",
            l.n);
  for (size_t i = 0; i < l.n; i++) {
    s->rep->reap(s, l.paths[i], l.lens[i]);
    free(l.paths[i]);
  }
  free(l.paths);
  free(l.lens);
}
