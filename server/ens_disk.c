/* ens_disk.c — what the ensemble keeps on disk besides the log: the epochs
 * file, the txns appended but not committed, and the log rebase after a
 * TRUNCATE or INSTALL_SNAP. */
#include "server/ens_int.h"

/* ------------------------------------------------------------------ */
/* persistence of the ensemble */

void ens_persist_epochs(struct srv_ens *e, uint32_t acc, uint32_t cur) {
  char b[64];
  int n = snprintf(b, sizeof b, "%u %u\n", acc, cur);
  char err[SNAP_ERRMSG_MAX];
  if (snap_state_write(e->s->cfg.data_dir, "epochs", NULL, b, (size_t)n, err,
                       sizeof err) != SNAP_OK) {
    /* zab's contract says durable before the next action: we cannot go
     * on without breaking a promise made to the leader. */
    srv_log(e->s, SRV_LOG_ERROR, "cannot persist epochs: %s; stopping", err);
    abort();
  }
}

/* "accepted current\n"; a missing file is a fresh server (0 0). */
int ens_read_epochs(const struct srv *s, uint32_t *acc, uint32_t *cur) {
  char b[64], err[SNAP_ERRMSG_MAX];
  size_t len;
  *acc = *cur = 0;
  int rc = snap_state_read(s->cfg.data_dir, "epochs", NULL, b, sizeof b, &len,
                           err, sizeof err);
  if (rc != SNAP_OK)
    return rc == SNAP_ENOENT ? 0 : -1;
  char *end;
  errno = 0;
  unsigned long a = strtoul(b, &end, 10);
  unsigned long c = strtoul(end, &end, 10);
  if (errno != 0 || a > UINT32_MAX || c > a)
    return -1;
  *acc = (uint32_t)a;
  *cur = (uint32_t)c;
  return 0;
}

bool ens_pend_add(struct srv_ens *e, uint64_t zxid, const uint8_t *d,
                  uint32_t len) {
  if (e->n_pend == e->cap_pend) {
    size_t nc = e->cap_pend ? e->cap_pend * 2 : 64;
    struct ens_entry *n = realloc(e->pend, nc * sizeof *n);
    if (n == NULL)
      return false;
    e->pend = n;
    e->cap_pend = nc;
  }
  uint8_t *c = malloc(len ? len : 1);
  if (c == NULL)
    return false;
  memcpy(c, d, len);
  struct ens_entry *x = &e->pend[e->n_pend++];
  x->zxid = zxid;
  x->data = c;
  x->len = len;
  e->pend_bytes += len;
  return true;
}

/* Forget pending entries with zxid <= upto (committed) or > above
 * (truncated). */
void ens_pend_drop_upto(struct srv_ens *e, uint64_t upto) {
  size_t k = 0;
  while (k < e->n_pend && e->pend[k].zxid <= upto) {
    e->pend_bytes -= e->pend[k].len;
    free(e->pend[k++].data);
  }
  if (k == 0)
    return; /* also keeps memmove away from a never-allocated (NULL) pend */
  memmove(e->pend, e->pend + k, (e->n_pend - k) * sizeof *e->pend);
  e->n_pend -= k;
}

void ens_pend_drop_above(struct srv_ens *e, uint64_t above) {
  while (e->n_pend > 0 && e->pend[e->n_pend - 1].zxid > above) {
    e->n_pend--;
    e->pend_bytes -= e->pend[e->n_pend].len;
    free(e->pend[e->n_pend].data);
  }
}

/* After TRUNCATE / INSTALL_SNAP: the applied tree goes to a snapshot, the
 * log is emptied and what is still pending (appended, not committed,
 * kept) is logged again; all durably before the next action. */
void ens_rebase_log(struct srv_ens *e) {
  struct srv *s = e->s;
  char err[SNAP_ERRMSG_MAX];
  if (s->snap_pid) {
    int st;
    while (waitpid(s->snap_pid, &st, 0) < 0 && errno == EINTR)
      ;
    s->snap_pid = 0;
  }
  if (snap_write(s->cfg.data_dir, NULL, s->tree, -1, NULL, err, sizeof err) !=
      SNAP_OK) {
    srv_log(s, SRV_LOG_ERROR, "snapshot for a resync failed: %s; stopping",
            err);
    abort();
  }
  /* A sync in flight on the pool holds a token of the old log: that log
   * is closed when the sync comes back (persist.c sync_done). */
  if (!s->sync_running)
    txlog_close(s->log);
  s->log = NULL;
  s->log_failed = false;
  const char *ldir =
      s->cfg.data_log_dir[0] ? s->cfg.data_log_dir : s->cfg.data_dir;
  if (snap_logs_remove(ldir, NULL, err, sizeof err) != SNAP_OK) {
    /* A segment left behind would be replayed at the next start over
     * the snapshot just written: going on could diverge. */
    srv_log(s, SRV_LOG_ERROR, "%s; stopping", err);
    abort();
  }
  if (srv_persist_reopen_log(s) != 0) {
    srv_log(s, SRV_LOG_ERROR, "cannot reopen the log; stopping");
    abort();
  }
  for (size_t i = 0; i < e->n_pend; i++) {
    struct txlog_txn t = {e->pend[i].data, e->pend[i].len};
    if (txlog_append(s->log, &t, 1, err, sizeof err) != SNAP_OK) {
      srv_log(s, SRV_LOG_ERROR, "re-logging after a resync failed: %s", err);
      abort();
    }
  }
  int64_t d = 0;
  if (txlog_sync(s->log, &d, err, sizeof err) != SNAP_OK) {
    srv_log(s, SRV_LOG_ERROR, "sync after a resync failed: %s", err);
    abort();
  }
  s->durable_zxid = e->n_pend ? (int64_t)e->pend[e->n_pend - 1].zxid
                              : tree_last_zxid(s->tree);
  if (e->n_pend && s->durable_zxid > e->durable_pending)
    e->durable_pending = s->durable_zxid; /* told to zab after this drain */
  s->snap_roll_zxid = tree_last_zxid(s->tree);
}

bool ens_ser_cb(void *arg, const void *buf, size_t len) {
  struct proto_writer *w = arg;
  proto_write_raw(w, buf, len);
  return proto_writer_err(w) == PROTO_OK;
}

struct rbuf {
  const uint8_t *p;
  size_t len, pos;
};

static long rd_cb(void *arg, void *buf, size_t cap) {
  struct rbuf *r = arg;
  size_t n = r->len - r->pos;
  if (n > cap)
    n = cap;
  memcpy(buf, r->p + r->pos, n);
  r->pos += n;
  return (long)n;
}

void ens_install_snap(struct srv_ens *e, uint64_t zxid, const uint8_t *d,
                      uint32_t len) {
  struct srv *s = e->s;
  struct tree_config tc = {.extended_types = s->cfg.extended_types,
                           .x509_acls = srv_tls_x509_acls(s)};
  struct rbuf r = {d, len, 0};
  int err = 0;
  char msg[256];
  struct tree *t = tree_load(&tc, rd_cb, &r, &err, msg, sizeof msg);
  if (t == NULL) {
    srv_log(s, SRV_LOG_ERROR, "SNAP from the leader does not load: %s", msg);
    abort(); /* zab checked it came from the leader; nothing to go on with */
  }
  /* Client connections are closed while not serving, so no watch or
   * session state of a connection points into the old tree. */
  srv_conns_close_all_clients(s);
  tree_free(s->tree);
  s->tree = t;
  tree_pending_clear(e->tpend); /* (empty: only a leader has records) */
  ens_pend_drop_upto(e, UINT64_MAX);
  ens_rebase_log(e);
  ens_sessions_reload(s);
  srv_log(s, SRV_LOG_INFO, "installed SNAP at zxid 0x%" PRIx64, zxid);
}

/* The sessions table follows the tree (after a SNAP). */
static void sess_add_cb(void *arg, int64_t id, int32_t timeout_ms) {
  struct srv *s = arg;
  if (srv_session_get(s, id) == NULL)
    srv_session_add(s, id, timeout_ms);
}

void ens_sessions_reload(struct srv *s) {
  srv_sessions_free(s);
  srv_sessions_init(s);
  tree_sessions_each(s->tree, sess_add_cb, s);
}
