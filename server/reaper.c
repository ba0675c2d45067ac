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
 * In an ensemble a deletion is a write like the others: only the leader
 * reaps, and each candidate becomes a request in its queue, prepped
 * against the tree plus the writes in flight and proposed through zab
 * (srv_ens_reap), never applied here directly. */
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

static void reap_one(struct srv *s, const char *path, size_t len) {
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_DELETECONTAINER;
  req.u.path.path.ptr = (const uint8_t *)path;
  req.u.path.path.len = (int32_t)len;
  struct tree_prep_ctx ctx = {
      .session_id = 0, /* the server itself: no session, no ACL check */
      .cxid = 0,
      .zxid = tree_last_zxid(s->tree) + 1,
      .time_ms = srv_wall_ms(),
      .auth = {.ids = NULL, .n_ids = 0},
  };
  proto_writer_reset(&s->txn);
  int rc = tree_prep(s->tree, &ctx, &req, &s->txn);
  if (rc == PROTO_OK && proto_writer_err(&s->txn) != PROTO_OK)
    rc = PROTO_SYSTEMERROR;
  if (rc == PROTO_OK)
    rc = srv_txn_commit(s); /* log, then apply */
  if (rc != PROTO_OK) {
    srv_log(s, SRV_LOG_ERROR, "reaping %s failed: %s", path,
            proto_strerror(rc));
    return;
  }
  if (s->tout.err == PROTO_OK)
    srv_log(s, SRV_LOG_INFO, "reaped %s (zxid 0x%llx)", path,
            (unsigned long long)ctx.zxid);
  else
    srv_log(s, SRV_LOG_DEBUG, "not reaping %s: %s", path,
            proto_strerror(s->tout.err));
  srv_deliver_events_held(s, &s->tout, ctx.zxid);
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
    if (s->ens != NULL)
      srv_ens_reap(s, l.paths[i], l.lens[i]);
    else
      reap_one(s, l.paths[i], l.lens[i]);
    free(l.paths[i]);
  }
  free(l.paths);
  free(l.lens);
}
