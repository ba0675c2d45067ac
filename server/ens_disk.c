/* ens_disk.c — what the ensemble keeps on disk besides the log: the epochs
 * file, the txns appended but not committed, and the log rebase after a
 * TRUNCATE or INSTALL_SNAP. */
#include "server/ens_int.h"

/* ------------------------------------------------------------------ */
/* persistence of the ensemble */

/* zab's contract: durable before the next action.  false: not durable
 * (the caller faults; the actions after it are never performed). */
bool ens_persist_epochs(struct srv_ens *e, uint32_t acc, uint32_t cur) {
  char b[64];
  int n = snprintf(b, sizeof b, "%u %u\n", acc, cur);
  char err[SNAP_ERRMSG_MAX];
  if (snap_state_write(e->s->cfg.data_dir, "epochs", NULL, b, (size_t)n, err,
                       sizeof err) != SNAP_OK) {
    srv_log(e->s, SRV_LOG_ERROR, "cannot persist epochs %u/%u: %s", acc, cur,
            err);
    return false;
  }
  e->ep_acc = acc;
  e->ep_cur = cur;
  return true;
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

/* After TRUNCATE / INSTALL_SNAP, and as the fault recovery: the applied
 * tree goes to a snapshot, the log is emptied and what is still pending
 * (appended, not committed, kept) is logged again; all durably before the
 * next action.  0, or -1 with err: the disk does not hold the state yet
 * (the caller faults; the recovery runs this again from the state in
 * memory, so a step left half done is redone, never built on). */
int ens_rebase_log(struct srv_ens *e, char *err, size_t err_len) {
  struct srv *s = e->s;
  char m[SNAP_ERRMSG_MAX];
  if (s->snap_pid) {
    int st;
    while (waitpid(s->snap_pid, &st, 0) < 0 && errno == EINTR)
      ;
    s->snap_pid = 0;
  }
  /* A sync in flight on the fsync thread holds a token of the old log:
   * that log is closed when the sync comes back (persist.c sync_done). */
  if (s->log != NULL && !s->sync_running)
    txlog_close(s->log);
  s->log = NULL;
  s->log_failed = false;
  struct txlog_txn *v = NULL;
  if (e->n_pend > 0 && (v = calloc(e->n_pend, sizeof *v)) == NULL) {
    snprintf(err, err_len, "out of memory for a log rebase");
    return -1;
  }
  for (size_t i = 0; i < e->n_pend; i++)
    v[i] = (struct txlog_txn){e->pend[i].data, e->pend[i].len};
  const char *ldir =
      s->cfg.data_log_dir[0] ? s->cfg.data_log_dir : s->cfg.data_dir;
  struct txlog_config lc = {
      .dir = ldir, .io = NULL, .force_sync = s->cfg.force_sync, .level = 1};
  int rc =
      snap_rebase(s->cfg.data_dir, &lc, s->tree, v, e->n_pend, m, sizeof m);
  free(v);
  if (rc != SNAP_OK) {
    snprintf(err, err_len, "log rebase failed: %s", m);
    return -1;
  }
  /* New appends go to a new segment after the rebased one. */
  if (srv_persist_reopen_log(s) != 0) {
    snprintf(err, err_len, "cannot reopen the log in %s", ldir);
    s->log = NULL;
    return -1;
  }
  s->durable_zxid = e->n_pend ? (int64_t)e->pend[e->n_pend - 1].zxid
                              : tree_last_zxid(s->tree);
  if (e->n_pend && s->durable_zxid > e->durable_pending)
    e->durable_pending = s->durable_zxid; /* told to zab after this drain */
  s->snap_roll_zxid = tree_last_zxid(s->tree);
  return 0;
}

/* ------------------------------------------------------------------ */
/* faults
 *
 * A member whose disk write failed (a log write or fsync, the epochs
 * file, any step of a rebase) cannot keep zab's promises: what it would
 * acknowledge next might not be durable.  ZooKeeper stops the process;
 * a standalone Roost refuses writes and retries (persist.c).  A member
 * does what a member that lost its quorum does, plus a retry:
 *   1. it acknowledges nothing more: the actions zab queued after the
 *      failed one are dropped (never sent), the old zab is no longer
 *      stepped (no ACK for a txn its failed fsync covered), it resigns
 *      out loud (STEPDOWN: a leader's followers elect at once);
 *   2. it stops serving: client connections are closed (their requests in
 *      flight end in ConnectionLoss, their clients move to another
 *      member) and new ones are refused until it serves again; writes
 *      waiting at it as a leader are failed;
 *   3. every second it tries to make the disk hold exactly the state in
 *      memory (the applied tree, the txns appended and not committed: the
 *      very rebase of a TRUNCATE) and the epochs last made durable; once
 *      that succeeds a new zab is loaded from that state, as at a restart,
 *      and the member rejoins through an election and the leader's sync
 *      (DIFF / TRUNC / SNAP).
 * In-process, one path for every cause; the rest of the ensemble keeps
 * committing if a quorum of it remains.  Nothing acknowledged is lost:
 * acknowledged txns were durable in the old log and are in memory
 * (tree or pend); the recovery writes them again before the new zab can
 * acknowledge anything. */

void ens_fault(struct srv_ens *e, const char *why) {
  struct srv *s = e->s;
  if (e->stopping || (e->faulted && !e->fault_pending))
    return; /* out already (an fsync in flight may fail after) */
  if (!e->faulted) {
    e->faults++;
    srv_log(s, SRV_LOG_ERROR,
            "%s: leaving the ensemble (no more acknowledgements, clients "
            "closed, writes refused) and retrying every %d ms to write the "
            "state again and rejoin",
            why, ENS_FAULT_RETRY_MS);
  }
  e->faulted = true;
  e->fault_pending = true;
  if (!e->fault_timer_open)
    return;
  /* Inside a step, ens_step leaves once it unwinds.  Elsewhere (persist.c
   * in the middle of a sync or of srv_flush_all) the timer leaves at the
   * next loop turn: nothing steps zab meanwhile (ens_step sees faulted). */
  uv_timer_start(&e->fault_timer, e->fault_retry,
                 e->in_step ? ENS_FAULT_RETRY_MS : 0, ENS_FAULT_RETRY_MS);
}

void ens_log_failed(struct srv *s, const char *why) {
  char b[SNAP_ERRMSG_MAX + 32];
  snprintf(b, sizeof b, "transaction log failed: %s", why);
  ens_fault(s->rep_state, b);
}

void ens_fault_open(struct srv_ens *e, uv_timer_cb retry) {
  e->fault_retry = retry;
  uv_timer_init(&e->s->loop, &e->fault_timer);
  e->fault_timer.data = e;
  e->fault_timer_open = true;
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
    /* zab believes it installed: only leaving and loading zab again from
     * the state we do have (the old one) keeps the two in step. */
    char why[300];
    snprintf(why, sizeof why, "SNAP from the leader does not load: %s", msg);
    ens_fault(e, why);
    return;
  }
  /* Client connections are closed while not serving, so no watch or
   * session state of a connection points into the old tree. */
  srv_conns_close_all_clients(s);
  tree_free(s->tree);
  s->tree = t;
  tree_pending_clear(e->tpend); /* (empty: only a leader has records) */
  ens_pend_drop_upto(e, UINT64_MAX);
  char rerr[SNAP_ERRMSG_MAX + 64];
  bool logged = ens_rebase_log(e, rerr, sizeof rerr) == 0;
  ens_sessions_reload(s); /* they follow the tree either way */
  if (!logged) {
    ens_fault(e, rerr);
    return;
  }
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
