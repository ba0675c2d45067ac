/* persist.c — the log of either replica: recovery at start, the
 * transaction log with group commit on an fsync thread, background
 * snapshots by fork(), autopurge, and what happens when the disk fills up
 * or an fsync fails.
 *
 * Write path (one transaction, all on the loop thread):
 *   the replica preps it -> srv_log_stage (copied into the open log frame,
 *   room reserved in the preallocated segment); at the end of the loop
 *   turn (srv_flush_all) one sync is kicked for all the turn's
 *   transactions: txlog_flush writes them as one frame with one write(2),
 *   then txlog_sync_begin on the loop, fsync on the fsync thread
 *   (syncer_main), txlog_sync_end back on the loop; then the replica hears
 *   the new durable point (its durable, replica.h) and commits what it
 *   covers.  Transactions staged while an fsync runs wait for the next
 *   one: that is the group commit.  With forceSync=no the sync skips
 *   fsync and runs inline.
 *
 * With roost.fsyncOnLoop=yes (default no: measured on a shared 2-core VM,
 * an fdatasync called on the loop took longer than the same call on the
 * fsync thread, eating the two wake-ups it saved; docs/snapshots.md), one
 * client writing alone (the only connection that sent a frame for
 * SRV_LONE_MS; the replica allows it) has its fsync run on the loop
 * itself at the very end of the turn, once the turn's output is out and
 * only if no other event is ready (srv_persist_turn_end): the hand-off to
 * the thread and the wake-up back cost two scheduler wake-ups, which on a
 * busy machine were the tail of a lone write's latency.  While it runs the
 * loop serves nobody else, so a request from another client waits for at
 * most that one fsync (ZooKeeper's reads wait behind every unflushed write
 * in its SyncRequestProcessor; etcd's raft loop blocks on its WAL fsync);
 * the first one moves the next syncs back to the thread.  A disk that
 * stalls must not stall the loop: after an fsync slower than
 * SRV_LOOP_SYNC_MAX_US the next ones go to the thread until one is fast
 * again, so a stall blocks the loop at most once in a row.
 *
 * Failure: an append that fails (ENOSPC when reserving room, EIO) leaves
 * nothing in the log and the transaction is not queued; the client gets
 * -1 (SystemError).  A flush (the write of staged transactions) that fails
 * is handled as a failed fsync, below.
 * An fsync that fails makes the log "failed": every write is refused at
 * once with -1 and a timer calls txlog_retry every second, which rewrites
 * the unsynced frames into a new segment; when that succeeds, what they
 * hold commits and writes resume.  Nothing is acknowledged before an
 * fsync covering it returned success.
 *
 * Snapshots: every snapCount/2 + rand(snapCount/2) transactions the loop
 * forks; the child (copy-on-write image of the tree) fsyncs the log
 * segment, writes snapshot.<zxid> and _exits; the parent rolls the log and
 * reaps the child on SIGCHLD.  docs/snapshots.md says why fork. */
#include "server/server_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SECRET_FILE "session.secret"
#define RETRY_MS 1000
/* How long one connection must have been the only sender before its
 * fsyncs run on the loop: a second client sending even 10 requests a
 * second keeps them on the thread. */
#define SRV_LONE_MS 100
/* An fsync slower than this sends the next ones to the thread. */
#define SRV_LOOP_SYNC_MAX_US 10000

/* Messages that name paths: truncation is fine, the warning is not. */
__attribute__((format(printf, 2, 3))) static void
errf(char errmsg[SRV_ERRMSG_MAX], const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errmsg, SRV_ERRMSG_MAX, fmt, ap);
  va_end(ap);
}

static const char *log_dir(const struct srv *s) {
  return s->cfg.data_log_dir[0] ? s->cfg.data_log_dir : s->cfg.data_dir;
}

/* xorshift64*: the server's own generator, seeded from /dev/urandom. */
static uint64_t rng_next(struct srv *s) {
  uint64_t x = s->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  s->rng = x;
  return x * UINT64_C(2685821657736338717);
}

/* ZooKeeper's SyncRequestProcessor: snapshot once more than
 * snapCount/2 + randRoll transactions were logged, randRoll uniform in
 * [0, snapCount/2), drawn again after each snapshot. */
static uint64_t next_threshold(struct srv *s) {
  uint64_t half = (uint64_t)(s->cfg.snap_count > 1 ? s->cfg.snap_count : 2) / 2;
  return half + rng_next(s) % half;
}

static int read_random(void *out, size_t n) {
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  size_t got = 0;
  while (got < n) {
    ssize_t k = read(fd, (uint8_t *)out + got, n - got);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      int e = k < 0 ? errno : EIO;
      close(fd);
      return -e;
    }
    got += (size_t)k;
  }
  close(fd);
  return 0;
}

static int mkdirs(const char *dir) {
  char p[SRV_PATH_MAX];
  snprintf(p, sizeof p, "%s", dir);
  for (char *q = p + 1; *q; q++) {
    if (*q != '/')
      continue;
    *q = 0;
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
      return -errno;
    *q = '/';
  }
  if (mkdir(p, 0755) < 0 && errno != EEXIST)
    return -errno;
  return 0;
}

/* The key of the session passwords lives in dataDir so that passwords
 * survive a restart.  Created once: temporary name, fsync, rename, fsync
 * of the directory, mode 0600. */
static int load_secret(struct srv *s, char errmsg[SRV_ERRMSG_MAX]) {
  char path[SRV_PATH_MAX + 32], tmp[SRV_PATH_MAX + 40];
  snprintf(path, sizeof path, "%s/" SECRET_FILE, s->cfg.data_dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    uint8_t b[17];
    ssize_t k = read(fd, b, sizeof b);
    close(fd);
    if (k != 16) {
      errf(errmsg,
           "%s: %zd bytes, expected 16 (remove it to make a new one; "
           "clients then cannot resume their sessions)",
           path, k);
      return -1;
    }
    memcpy(s->secret, b, 16);
    return 0;
  }
  if (errno != ENOENT) {
    errf(errmsg, "cannot open %s: %s", path, strerror(errno));
    return -1;
  }
  int e = read_random(s->secret, 16);
  if (e < 0) {
    errf(errmsg, "cannot read /dev/urandom: %s", strerror(-e));
    return -1;
  }
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || write(fd, s->secret, 16) != 16 || fsync(fd) < 0 ||
      close(fd) < 0 || rename(tmp, path) < 0) {
    errf(errmsg, "cannot write %s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    unlink(tmp);
    return -1;
  }
  snap_io_posix()->fsync_dir(NULL, s->cfg.data_dir);
  return 0;
}

static void on_recover_warn(void *arg, const char *msg) {
  struct srv *s = arg;
  srv_log(s, SRV_LOG_WARN, "recovery: %s", msg);
}

int srv_persist_open(struct srv *s, char errmsg[SRV_ERRMSG_MAX]) {
  const char *ddir = s->cfg.data_dir, *ldir = log_dir(s);
  int e = mkdirs(ddir);
  if (e == 0)
    e = mkdirs(ldir);
  if (e < 0) {
    errf(errmsg, "cannot create %s: %s", mkdirs(ddir) < 0 ? ddir : ldir,
         strerror(-e));
    return -1;
  }
  struct tree_config tc = {.extended_types = s->cfg.extended_types,
                           .max_data_bytes = 0,
                           .x509_acls = srv_tls_x509_acls(s)};
  struct snap_recover_config rc = {.data_dir = ddir,
                                   .log_dir = ldir,
                                   .io = NULL,
                                   .tree_cfg = &tc,
                                   .repair = true,
                                   .warn = on_recover_warn,
                                   .warn_arg = s};
  char msg[SNAP_ERRMSG_MAX];
  uint64_t t0 = uv_hrtime();
  int r = snap_recover(&rc, &s->tree, &s->recovered, msg, sizeof msg);
  s->recovery_ms = (uv_hrtime() - t0) / 1000000u;
  if (r != SNAP_OK) {
    errf(errmsg, "recovery of %s failed (%s): %s", ddir, snap_err_name(r), msg);
    return -1;
  }
  const struct snap_recover_info *ri = &s->recovered;
  char snapdesc[64];
  if (ri->snap_zxid >= 0)
    snprintf(snapdesc, sizeof snapdesc, "snapshot 0x%" PRIx64,
             (uint64_t)ri->snap_zxid);
  else
    snprintf(snapdesc, sizeof snapdesc, "no snapshot");
  srv_log(s, SRV_LOG_INFO,
          "recovered %s: %s, %" PRIu64 " log frames (%" PRIu64
          " transactions) from %" PRIu64
          " segments replayed, last zxid 0x%" PRIx64 ", %" PRIu64 " ms%s",
          ddir, snapdesc, ri->frames, ri->txns, ri->segments,
          (uint64_t)ri->last_zxid, s->recovery_ms,
          ri->truncated_bytes ? " (a torn tail was cut: see the warning)" : "");
  if (load_secret(s, errmsg) != 0)
    return -1;
  if (read_random(&s->rng, sizeof s->rng) < 0 || s->rng == 0)
    s->rng =
        uv_hrtime() ^ ((uint64_t)s->cfg.server_id << 32) ^ 0x9e3779b97f4a7c15u;
  struct txlog_config lc = {
      .dir = ldir,
      .io = NULL,
      .prealloc_bytes = (uint64_t)s->cfg.pre_alloc_kb * 1024u,
      .force_sync = s->cfg.force_sync,
      .level = 1,
  };
  if (txlog_open(&lc, &s->log) != SNAP_OK) {
    errf(errmsg, "cannot open the log in %s", ldir);
    return -1;
  }
  s->durable_zxid = tree_last_zxid(s->tree);
  s->snap_roll_zxid = s->durable_zxid;
  s->last_snap_zxid = ri->snap_zxid;
  s->snap_at = next_threshold(s);
  return 0;
}

/* ---- sync ---- */

/* ---- the fsync thread ----
 *
 * One thread of our own runs the fsyncs, not the libuv pool: a pool
 * job's completion goes through uv_async_send, and the loop that wakes
 * up for it spins (then sched_yields) until the pool thread has left
 * uv_async_send.  The profile of a write benchmark on 2 shared cores
 * showed ~5% of the server's CPU in that spin, on the path of every
 * write's reply.  Here the thread writes an eventfd that the loop polls:
 * nothing to wait for.  Hand-over is under the mutex (tok, go, done). */
struct srv_syncer {
  uv_thread_t th;
  uv_mutex_t mu;
  uv_cond_t cv;
  int efd;
  uv_poll_t poll;
  bool poll_open, thread_started;
  bool go, done, quit; /* under mu */
  struct txlog_sync *tok;
};

static void syncer_main(void *arg) {
  struct srv_syncer *y = arg;
  uv_mutex_lock(&y->mu);
  for (;;) {
    while (!y->go && !y->quit)
      uv_cond_wait(&y->cv, &y->mu);
    if (!y->go)
      break; /* quit, nothing left to do */
    y->go = false;
    struct txlog_sync *tok = y->tok;
    uv_mutex_unlock(&y->mu);
    /* Touches only the token (snapshot.h: txlog_sync_run). */
    txlog_sync_run(tok);
    uv_mutex_lock(&y->mu);
    y->done = true;
    uv_mutex_unlock(&y->mu);
    /* Outside the lock: the loop that wakes takes it at once. */
    uint64_t one = 1;
    while (write(y->efd, &one, sizeof one) < 0 && errno == EINTR)
      ;
    uv_mutex_lock(&y->mu);
  }
  uv_mutex_unlock(&y->mu);
}

static void on_retry(uv_timer_t *t);

static void fail_log(struct srv *s, const char *why) {
  if (s->rep->log_failed != NULL) {
    s->log_failed = true;
    s->rep->log_failed(s, why); /* the ensemble's own recovery */
    return;
  }
  if (!s->log_failed)
    srv_log(s, SRV_LOG_ERROR,
            "transaction log failed: %s; refusing writes (clients get -1, "
            "SystemError) until the unsynced transactions are rewritten "
            "(retrying every %d ms)",
            why, RETRY_MS);
  s->log_failed = true;
  if (s->retry_open && !s->stopping)
    uv_timer_start(&s->retry, on_retry, RETRY_MS, RETRY_MS);
}

static void sync_kick(struct srv *s, bool may_defer);

/* A sync finished (its fsync ran): the durable point for the replica, or
 * failure. */
static void sync_done(struct srv *s) {
  s->sync_running = false;
  char err[SNAP_ERRMSG_MAX];
  int64_t d = 0;
  struct txlog *l = s->sync_log;
  int rc = txlog_sync_end(l, s->sync_tok, &d, err, sizeof err);
  s->sync_tok = NULL;
  s->sync_log = NULL;
  if (l != s->log) {
    /* An ensemble resync replaced the log while this fsync ran
     * (ens_disk.c ens_rebase_log): what it made durable is gone. */
    txlog_close(l);
    return;
  }
  uint64_t us = (uv_hrtime() - s->sync_start_ns) / 1000u;
  s->fsyncs++;
  s->fsync_sum_us += us;
  if (us > s->fsync_max_us)
    s->fsync_max_us = us;
  srv_hist_add(&s->metrics->fsync_us, us);
  s->last_fsync_us = us;
  if (rc == SNAP_OK) {
    /* Within an epoch zxids count transactions. */
    if (d > s->durable_zxid && (d >> 32) == (s->durable_zxid >> 32))
      srv_hist_add(&s->metrics->fsync_txns, (uint64_t)(d - s->durable_zxid));
    s->durable_zxid = d;
    /* Stopping: no client is left to answer; what is durable replays at
     * the next start. */
    if (!s->stopping)
      s->rep->durable(s, d);
  } else {
    fail_log(s, err);
  }
}

static void close_syncer_poll(struct srv *s) {
  struct srv_syncer *y = s->syncer;
  if (y != NULL && y->poll_open && !uv_is_closing((uv_handle_t *)&y->poll))
    uv_close((uv_handle_t *)&y->poll, NULL);
  if (y != NULL)
    y->poll_open = false;
}

/* The fsync thread finished (eventfd readable). */
static void on_sync_poll(uv_poll_t *h, int status, int events) {
  struct srv *s = h->data;
  struct srv_syncer *y = s->syncer;
  (void)status;
  (void)events;
  uint64_t v;
  while (read(y->efd, &v, sizeof v) < 0 && errno == EINTR)
    ;
  uv_mutex_lock(&y->mu);
  bool done = y->done;
  y->done = false;
  uv_mutex_unlock(&y->mu);
  if (!done || !s->sync_running)
    return;
  uv_unref((uv_handle_t *)&y->poll); /* idle again: no reason to live */
  sync_done(s);
  /* What was appended while this fsync ran goes into the next one. */
  if (!s->stopping) {
    s->sync_wanted = false;
    sync_kick(s, false);
  } else {
    close_syncer_poll(s);
  }
  /* What the commits answered goes out at this turn's check phase
   * (srv_flush_all), right after the poll phase that ran us. */
}

/* Hand a token to the fsync thread.  false: no thread (run it inline). */
static bool syncer_post(struct srv *s, struct txlog_sync *tok) {
  struct srv_syncer *y = s->syncer;
  if (y == NULL || !y->poll_open)
    return false;
  uv_mutex_lock(&y->mu);
  y->tok = tok;
  y->go = true;
  uv_mutex_unlock(&y->mu);
  /* After the unlock: signalled under the lock, the thread woke only to
   * sleep again on the mutex (seen with strace: two more futex calls and
   * a second wake-up per write). */
  uv_cond_signal(&y->cv);
  uv_ref((uv_handle_t *)&y->poll); /* keeps the loop until it is back */
  return true;
}

static int syncer_start(struct srv *s, char errmsg[SRV_ERRMSG_MAX]) {
  struct srv_syncer *y = calloc(1, sizeof *y);
  if (y == NULL) {
    errf(errmsg, "out of memory");
    return -1;
  }
  s->syncer = y;
  y->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (y->efd < 0) {
    errf(errmsg, "eventfd: %s", strerror(errno));
    return -1;
  }
  if (uv_mutex_init(&y->mu) != 0 || uv_cond_init(&y->cv) != 0) {
    errf(errmsg, "cannot create the fsync thread's lock");
    return -1;
  }
  if (uv_poll_init(&s->loop, &y->poll, y->efd) != 0) {
    errf(errmsg, "cannot poll the fsync thread's eventfd");
    return -1;
  }
  y->poll.data = s;
  y->poll_open = true;
  uv_poll_start(&y->poll, UV_READABLE, on_sync_poll);
  uv_unref((uv_handle_t *)&y->poll);
  if (uv_thread_create(&y->th, syncer_main, y) != 0) {
    errf(errmsg, "cannot start the fsync thread");
    return -1;
  }
  y->thread_started = true;
  return 0;
}

/* After the loop has stopped: the thread ends (finishing a sync it was
 * given), and a token it ran is ended here. */
static void syncer_free(struct srv *s) {
  struct srv_syncer *y = s->syncer;
  if (y == NULL)
    return;
  if (y->thread_started) {
    uv_mutex_lock(&y->mu);
    y->quit = true;
    uv_cond_signal(&y->cv);
    uv_mutex_unlock(&y->mu);
    uv_thread_join(&y->th);
    uv_mutex_destroy(&y->mu);
    uv_cond_destroy(&y->cv);
  }
  if (y->efd >= 0)
    close(y->efd);
  free(y);
  s->syncer = NULL;
  if (s->sync_running)
    sync_done(s);
}

/* Has one connection been the only sender for SRV_LONE_MS (and may the
 * replica's fsync run on the loop at all)? */
static bool lone_writer(const struct srv *s) {
  return s->cfg.fsync_on_loop && s->rep->sync_on_loop && s->lone_conn != 0 &&
         s->last_fsync_us < SRV_LOOP_SYNC_MAX_US &&
         uv_hrtime() - s->lone_since_ns >= (uint64_t)SRV_LONE_MS * 1000000u;
}

/* Nothing is ready for the loop: no descriptor readable or writable in
 * its epoll set (a zero-timeout look at the backend's own descriptor),
 * no connection on the ready list. */
static bool loop_idle(struct srv *s) {
  if (s->ready != NULL)
    return false;
  struct pollfd p = {.fd = uv_backend_fd(&s->loop), .events = POLLIN};
  return poll(&p, 1, 0) == 0;
}

/* may_defer: the caller is srv_flush_all, whose srv_persist_turn_end
 * decides where a lone writer's fsync runs. */
static void sync_kick(struct srv *s, bool may_defer) {
  if (s->sync_running || s->log_failed || s->log == NULL)
    return;
  /* One write(2) for everything staged since the last sync.  Those
   * transactions are applied already: a failed write fails the log like a
   * failed fsync (held replies wait, txlog_retry writes them again). */
  char err[SNAP_ERRMSG_MAX];
  if (txlog_flush(s->log, err, sizeof err) != SNAP_OK) {
    fail_log(s, err);
    return;
  }
  struct txlog_sync *tok = NULL;
  int rc = txlog_sync_begin(s->log, &tok);
  if (rc != SNAP_OK || tok == NULL)
    return;
  s->sync_tok = tok;
  s->sync_log = s->log;
  s->sync_running = true;
  s->sync_start_ns = uv_hrtime();
  if (s->cfg.force_sync && !s->stopping && may_defer && lone_writer(s)) {
    s->sync_deferred = true;
    return;
  }
  if (!s->cfg.force_sync || s->stopping || !syncer_post(s, tok)) {
    /* Nothing to wait for (forceSync=no), or no thread: inline; it
     * covers everything appended so far. */
    txlog_sync_run(tok);
    sync_done(s);
  }
}

bool srv_persist_turn_end(struct srv *s) {
  if (!s->sync_deferred)
    return false;
  s->sync_deferred = false;
  if (!s->stopping && !loop_idle(s) && syncer_post(s, s->sync_tok))
    return false;
  s->fsyncs_on_loop++;
  txlog_sync_run(s->sync_tok);
  sync_done(s);
  return true;
}

static void on_retry(uv_timer_t *t) {
  struct srv *s = t->data;
  if (s->sync_running)
    return;
  char err[SNAP_ERRMSG_MAX];
  int64_t d = 0;
  int rc = txlog_retry(s->log, &d, err, sizeof err);
  if (rc != SNAP_OK) {
    srv_log(s, SRV_LOG_WARN, "log retry failed: %s", err);
    return;
  }
  uv_timer_stop(&s->retry);
  s->log_failed = false;
  s->durable_zxid = d;
  srv_log(s, SRV_LOG_INFO,
          "transaction log rewritten and synced up to zxid 0x%" PRIx64
          "; writes accepted again",
          (uint64_t)d);
  s->rep->durable(s, d);
  s->turn_end(s); /* a timer: the check phase comes only after a poll */
}

bool srv_writes_blocked(const struct srv *s) { return s->log_failed; }

void srv_persist_kick(struct srv *s) { sync_kick(s, false); }

int srv_persist_reopen_log(struct srv *s) {
  struct txlog_config lc = {
      .dir = log_dir(s),
      .io = NULL,
      .prealloc_bytes = (uint64_t)s->cfg.pre_alloc_kb * 1024u,
      .force_sync = s->cfg.force_sync,
      .level = 1,
  };
  return txlog_open(&lc, &s->log) == SNAP_OK ? 0 : -1;
}

int srv_log_stage(struct srv *s, const uint8_t *d, size_t len) {
  if (s->log_failed)
    return PROTO_SYSTEMERROR;
  struct txlog_txn t = {d, len};
  char err[SNAP_ERRMSG_MAX];
  /* Staged: written with the rest of the loop turn's transactions as one
   * frame when the sync starts (sync_kick).  The room is reserved now, so
   * a full disk is refused before anything is queued. */
  int rc = txlog_stage(s->log, &t, err, sizeof err);
  if (rc == SNAP_OK) {
    /* Not sync_kick here: a sync started now would cover only this
     * transaction, and the rest of this loop turn's writes (the other
     * connections' requests read in the same poll) would wait for a
     * second fsync.  srv_flush_all starts it once the turn's work is
     * done. */
    s->sync_wanted = true;
    if (s->disk_full) {
      s->disk_full = false;
      srv_log(s, SRV_LOG_INFO, "log appends succeed again; writes resumed");
    }
    return PROTO_OK;
  }
  s->append_failures++;
  if (rc == SNAP_ENOSPC) {
    if (!s->disk_full)
      srv_log(s, SRV_LOG_ERROR,
              "disk full: %s; refusing writes (clients get -1, SystemError) "
              "until space is freed",
              err);
    s->disk_full = true;
  } else if (s->append_failures < 10 || s->append_failures % 1000 == 0) {
    srv_log(s, SRV_LOG_ERROR, "log append failed (%s): %s", snap_err_name(rc),
            err);
  }
  struct txlog_stats st;
  txlog_stats_get(s->log, &st);
  if (st.failed)
    fail_log(s, err);
  return PROTO_SYSTEMERROR;
}

/* ---- snapshots ---- */

static void snapshot_child(struct srv *s, int log_fd, pid_t parent) {
  /* Only this thread exists here: touch no libuv state, only the tree
   * (a copy-on-write image of the parent's) and files. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent)
    _exit(3);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  /* Let go of the listener and the clients' sockets so a closed
   * connection or a restarted server does not wait for us. */
  if (log_fd > 3)
    close_range(3, (unsigned)log_fd - 1, 0);
  close_range(log_fd >= 3 ? (unsigned)log_fd + 1 : 3, ~0u, 0);
  char err[SNAP_ERRMSG_MAX];
  uint64_t bytes = 0;
  int rc = snap_write(s->cfg.data_dir, NULL, s->tree,
                      s->cfg.force_sync ? log_fd : -1, &bytes, err, sizeof err);
  if (rc != SNAP_OK) {
    srv_log_emit(s->cfg.log_level, SRV_LOG_ERROR, "snapshot child: %s", err);
    _exit(1);
  }
  _exit(0);
}

static void start_snapshot(struct srv *s) {
  /* The child fsyncs the segment: everything in the tree must be written
   * to it first. */
  char err[SNAP_ERRMSG_MAX];
  if (txlog_flush(s->log, err, sizeof err) != SNAP_OK) {
    fail_log(s, err);
    return;
  }
  int64_t z = tree_last_zxid(s->tree);
  int log_fd = txlog_current_fd(s->log);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    srv_log(s, SRV_LOG_WARN, "cannot fork for a snapshot: %s; trying later",
            strerror(errno));
    s->snap_txns = 0;
    return;
  }
  if (pid == 0)
    snapshot_child(s, log_fd, parent);
  s->snap_pid = pid;
  s->snap_zxid = z;
  s->snap_start_ns = uv_hrtime();
  /* The next transaction starts log.<z+1>: a segment per snapshot. */
  txlog_roll(s->log);
  s->snap_roll_zxid = z;
  s->snap_txns = 0;
  s->snap_at = next_threshold(s);
  srv_log(s, SRV_LOG_INFO, "snapshot of zxid 0x%" PRIx64 " started (pid %d)",
          (uint64_t)z, (int)pid);
}

static void maybe_snapshot(struct srv *s) {
  if (s->snap_pid || s->stopping || s->snap_txns < s->snap_at)
    return;
  /* The child fsyncs the current segment only: the one rolled at the
   * previous snapshot must be durable already. */
  if (s->durable_zxid < s->snap_roll_zxid)
    return;
  start_snapshot(s);
}

static void on_sigchld(uv_signal_t *h, int signum) {
  struct srv *s = h->data;
  (void)signum;
  if (!s->snap_pid)
    return;
  int st = 0;
  pid_t r = waitpid(s->snap_pid, &st, WNOHANG);
  if (r == 0)
    return;
  uint64_t ms = (uv_hrtime() - s->snap_start_ns) / 1000000u;
  if (r == s->snap_pid && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
    char p[SRV_PATH_MAX + 64];
    struct stat sb;
    snprintf(p, sizeof p, "%s/snapshot.%" PRIx64, s->cfg.data_dir,
             (uint64_t)s->snap_zxid);
    s->last_snap_bytes = stat(p, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    s->last_snap_zxid = s->snap_zxid;
    s->last_snap_ms = ms;
    s->snaps_taken++;
    srv_hist_add(&s->metrics->snapshot_ms, ms);
    srv_hist_add(&s->metrics->snapshot_bytes, s->last_snap_bytes);
    srv_log(s, SRV_LOG_INFO,
            "snapshot %s written: %" PRIu64 " bytes in %" PRIu64 " ms", p,
            s->last_snap_bytes, ms);
  } else {
    s->snaps_failed++;
    srv_log(
        s, SRV_LOG_ERROR, "snapshot of zxid 0x%" PRIx64 " failed (child %s %d)",
        (uint64_t)s->snap_zxid,
        r == s->snap_pid && WIFSIGNALED(st) ? "killed by signal"
                                            : "exit status",
        r == s->snap_pid && WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
  }
  s->snap_pid = 0;
}

void srv_txn_applied(struct srv *s) {
  s->snap_txns++;
  maybe_snapshot(s);
}

void srv_sync_kick_pending(struct srv *s) {
  if (!s->sync_wanted || s->sync_running)
    return; /* nothing new, or sync_after starts the next one */
  s->sync_wanted = false;
  sync_kick(s, true);
}

/* ---- purge ---- */

static void on_purge_warn(void *arg, const char *msg) {
  srv_log((struct srv *)arg, SRV_LOG_INFO, "%s", msg);
}

static void on_purge(uv_timer_t *t) {
  struct srv *s = t->data;
  unsigned ns = 0, nl = 0;
  int rc = snap_purge(s->cfg.data_dir, log_dir(s), NULL,
                      (unsigned)s->cfg.autopurge_snap_retain_count, &ns, &nl,
                      on_purge_warn, s);
  if (rc != SNAP_OK)
    srv_log(s, SRV_LOG_WARN, "autopurge: %s", snap_strerror(rc));
}

/* ---- start / stop ---- */

struct restore_ctx {
  struct srv *s;
  size_t n;
  bool oom;
};

static void restore_session(void *arg, int64_t id, int32_t timeout_ms) {
  struct restore_ctx *r = arg;
  if (srv_session_get(r->s, id) != NULL)
    return;
  if (srv_session_add(r->s, id, timeout_ms) == NULL)
    r->oom = true;
  else
    r->n++;
}

int srv_persist_start(struct srv *s, char errmsg[SRV_ERRMSG_MAX]) {
  if (syncer_start(s, errmsg) != 0)
    return -1;
  uv_timer_init(&s->loop, &s->retry);
  s->retry.data = s;
  s->retry_open = true;
  uv_signal_init(&s->loop, &s->sigchld);
  s->sigchld.data = s;
  s->sigchld_open = true;
  uv_signal_start(&s->sigchld, on_sigchld, SIGCHLD);
  uv_unref((uv_handle_t *)&s->sigchld);
  uv_timer_init(&s->loop, &s->purge);
  s->purge.data = s;
  s->purge_open = true;
  if (s->cfg.autopurge_purge_interval_h > 0) {
    uint64_t ms = (uint64_t)s->cfg.autopurge_purge_interval_h * 3600000u;
    uv_timer_start(&s->purge, on_purge, ms, ms);
  }
  /* Sessions from the snapshot and log: each gets its timeout from now
   * to reconnect (id + password), else it expires and its ephemerals go
   * in closeSession transactions like any expiry. */
  struct restore_ctx r = {.s = s};
  tree_sessions_each(s->tree, restore_session, &r);
  if (r.oom) {
    errf(errmsg, "out of memory restoring sessions");
    return -1;
  }
  if (r.n)
    srv_log(s, SRV_LOG_INFO,
            "%zu sessions restored; each expires unless its client "
            "reconnects within its timeout",
            r.n);
  return 0;
}

static void close_handle_if(uv_handle_t *h, bool *open) {
  if (*open && !uv_is_closing(h))
    uv_close(h, NULL);
  *open = false;
}

void srv_persist_stop(struct srv *s) {
  if (!s->sync_running)
    close_syncer_poll(s); /* else on_sync_poll does, once it is back */
  close_handle_if((uv_handle_t *)&s->retry, &s->retry_open);
  close_handle_if((uv_handle_t *)&s->purge, &s->purge_open);
  close_handle_if((uv_handle_t *)&s->sigchld, &s->sigchld_open);
}

void srv_persist_free(struct srv *s) {
  syncer_free(s);
  if (s->snap_pid) {
    /* Let the snapshot finish: it is consistent and saves the next
     * start a longer replay. */
    int st;
    while (waitpid(s->snap_pid, &st, 0) < 0 && errno == EINTR)
      ;
    s->snap_pid = 0;
  }
  if (s->log) {
    char err[SNAP_ERRMSG_MAX];
    if (!s->log_failed && !s->sync_running &&
        txlog_sync(s->log, NULL, err, sizeof err) != SNAP_OK)
      srv_log(s, SRV_LOG_ERROR, "final log sync failed: %s", err);
    txlog_close(s->log);
    s->log = NULL;
  }
}

/* ---- figures ---- */

uint64_t srv_data_dir_bytes(const struct srv *s) {
  return snap_dir_size(s->cfg.data_dir, NULL);
}

uint64_t srv_log_dir_bytes(const struct srv *s) {
  return snap_dir_size(log_dir(s), NULL);
}

void srv_persist_mntr(struct srv *s, struct proto_writer *w) {
  struct txlog_stats st;
  memset(&st, 0, sizeof st);
  if (s->log)
    txlog_stats_get(s->log, &st);
  char buf[1024];
  int n =
      snprintf(buf, sizeof buf,
               "roost_log_durable_zxid\t%" PRId64 "\n"
               "roost_log_frames\t%" PRIu64 "\n"
               "roost_log_bytes\t%" PRIu64 "\n"
               "roost_fsync_count\t%" PRIu64 "\n"
               "roost_fsync_avg_us\t%" PRIu64 "\n"
               "roost_fsync_max_us\t%" PRIu64 "\n"
               "roost_fsync_on_loop_count\t%" PRIu64 "\n"
               "roost_log_failed\t%d\n"
               "roost_disk_full\t%d\n"
               "roost_snapshots_taken\t%" PRIu64 "\n"
               "roost_snapshots_failed\t%" PRIu64 "\n"
               "roost_snapshot_in_progress\t%d\n"
               "roost_last_snapshot_zxid\t%" PRId64 "\n"
               "roost_last_snapshot_bytes\t%" PRIu64 "\n"
               "roost_recovery_ms\t%" PRIu64 "\n",
               s->durable_zxid, st.frames, st.bytes, s->fsyncs,
               s->fsyncs ? s->fsync_sum_us / s->fsyncs : 0, s->fsync_max_us,
               s->fsyncs_on_loop, s->log_failed ? 1 : 0, s->disk_full ? 1 : 0,
               s->snaps_taken, s->snaps_failed, s->snap_pid ? 1 : 0,
               s->last_snap_zxid, s->last_snap_bytes, s->recovery_ms);
  if (n > 0)
    proto_write_raw(w, buf,
                    (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}
