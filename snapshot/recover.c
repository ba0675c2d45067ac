/* Recovery (newest good snapshot + the log after it), verification of a
 * data directory, and purge. */
#include "snapshot/snap_int.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
warnf(snap_warn_cb cb, void *arg, const char *fmt, ...) {
  if (!cb)
    return;
  char msg[SNAP_ERRMSG_MAX + 128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  cb(arg, msg);
}

/* Same epoch (high 32 bits): zxids there are consecutive. */
static bool same_epoch(int64_t a, int64_t b) {
  return ((uint64_t)a >> 32) == ((uint64_t)b >> 32);
}

/* Does a transaction with zxid z continue a history ending at last? */
static bool continues(int64_t last, int64_t z) {
  return z == last + 1 || (!same_epoch(last, z) && z > last);
}

struct replay {
  const struct snap_recover_config *cfg;
  const struct snap_io *io;
  struct tree *t; /* NULL: check only (verify) */
  int64_t last;   /* last zxid of the history so far */
  struct tree_out out;
  struct snap_recover_info *info;
  snap_warn_cb report; /* verify: one line per segment */
  void *report_arg;
};

/* Replay one segment.  is_last: no later segment exists. */
static int replay_segment(struct replay *rp, const char *path, bool is_last,
                          bool *removed, char *errmsg, size_t errmsg_len) {
  const struct snap_io *io = rp->io;
  const struct snap_recover_config *c = rp->cfg;
  struct txlog_reader *r = NULL;
  int64_t first = 0;
  *removed = false;
  int rc = txlog_reader_open(path, io, &r, &first, errmsg, errmsg_len);
  if (rc == SNAP_ETORN || (rc == SNAP_ECORRUPT && is_last)) {
    /* A segment whose header never made it to disk: nothing in it was
     * ever synced (the directory entry and header are synced first). */
    if (!c->repair) {
      snap_errf(errmsg, errmsg_len,
                "%s: torn segment header; roost-dump truncate cannot fix "
                "this, the file holds no transaction: remove it",
                path);
      rp->info->bad_offset = 0;
      snprintf(rp->info->bad_file, sizeof rp->info->bad_file, "%s", path);
      return SNAP_ETORN;
    }
    warnf(c->warn, c->warn_arg,
          "warning: removing %s: torn segment header, no transaction in it",
          path);
    io->unlink(io->ctx, path);
    *removed = true;
    return SNAP_OK;
  }
  if (rc != SNAP_OK) {
    snprintf(rp->info->bad_file, sizeof rp->info->bad_file, "%s", path);
    rp->info->bad_offset = 0;
    return rc;
  }
  uint64_t frames = 0, applied = 0;
  for (;;) {
    struct txlog_frame f;
    uint64_t bad = 0;
    char emsg[SNAP_ERRMSG_MAX];
    int k = txlog_reader_next(r, &f, &bad, emsg, sizeof emsg);
    if (k == 0)
      break;
    if (k == SNAP_ETORN) {
      /* Valid frames in a later segment are fine only if that segment
       * continues the chain: the caller checks the gap. */
      if (!c->repair) {
        snap_errf(errmsg, errmsg_len, "%s", emsg);
        snprintf(rp->info->bad_file, sizeof rp->info->bad_file, "%s", path);
        rp->info->bad_offset = bad;
        txlog_reader_close(r);
        return SNAP_ETORN;
      }
      char tmsg[SNAP_ERRMSG_MAX];
      txlog_reader_close(r);
      int64_t sz = 0;
      int fd = io->open(io->ctx, path, O_RDONLY, 0);
      if (fd >= 0) {
        sz = io->size(io->ctx, fd);
        io->close(io->ctx, fd);
      }
      int trc = txlog_truncate(path, io, bad, tmsg, sizeof tmsg);
      if (trc != SNAP_OK) {
        snap_errf(errmsg, errmsg_len, "%s; %s", emsg, tmsg);
        return trc;
      }
      warnf(c->warn, c->warn_arg, "warning: %s; cut at offset %" PRIu64,
            emsg, bad);
      if (sz > 0 && (uint64_t)sz > bad)
        rp->info->truncated_bytes += (uint64_t)sz - bad;
      if (frames == 0) {
        warnf(c->warn, c->warn_arg,
              "warning: removing %s: no frame left after the cut", path);
        io->unlink(io->ctx, path);
        *removed = true;
      }
      goto done;
    }
    if (k < 0) {
      snap_errf(errmsg, errmsg_len, "%s", emsg);
      snprintf(rp->info->bad_file, sizeof rp->info->bad_file, "%s", path);
      rp->info->bad_offset = bad;
      txlog_reader_close(r);
      return k;
    }
    frames++;
    size_t pos = 0;
    const uint8_t *txn;
    size_t len;
    while (txlog_frame_next_txn(&f, &pos, &txn, &len)) {
      struct tree_txn_header h;
      tree_txn_header_decode(txn, len, &h); /* checked by the reader */
      if (h.zxid <= rp->last)
        continue; /* in the snapshot already, or a retry's duplicate */
      if (!continues(rp->last, h.zxid)) {
        snap_errf(errmsg, errmsg_len,
                  "%s: transaction 0x%" PRIx64
                  " in the frame at offset %" PRIu64
                  " does not follow 0x%" PRIx64
                  " (transactions missing); inspect with: roost-dump log %s",
                  path, (uint64_t)h.zxid, f.offset, (uint64_t)rp->last, path);
        snprintf(rp->info->bad_file, sizeof rp->info->bad_file, "%s", path);
        rp->info->bad_offset = f.offset;
        txlog_reader_close(r);
        return SNAP_EGAP;
      }
      if (rp->t) {
        tree_out_reset(&rp->out);
        int arc = tree_apply(rp->t, txn, len, &rp->out);
        if (arc != PROTO_OK) {
          snap_errf(errmsg, errmsg_len,
                    "%s: transaction 0x%" PRIx64
                    " in the frame at offset %" PRIu64
                    " does not apply (%s); inspect with: roost-dump log %s",
                    path, (uint64_t)h.zxid, f.offset,
                    arc == PROTO_SYSTEMERROR ? "out of memory" : "malformed",
                    path);
          snprintf(rp->info->bad_file, sizeof rp->info->bad_file, "%s", path);
          rp->info->bad_offset = f.offset;
          txlog_reader_close(r);
          return arc == PROTO_SYSTEMERROR ? SNAP_ENOMEM : SNAP_ECORRUPT;
        }
      }
      rp->last = h.zxid;
      applied++;
    }
  }
  txlog_reader_close(r);
  if (frames == 0 && is_last && c->repair) {
    /* Killed after the segment's header was written and before its first
     * frame: it holds nothing, and the next append would create a segment
     * of the same name (its first zxid is last + 1). */
    warnf(c->warn, c->warn_arg,
          "warning: removing %s: no frame in it (stopped right after the "
          "segment was started)",
          path);
    io->unlink(io->ctx, path);
    *removed = true;
  }
done:
  rp->info->segments++;
  rp->info->frames += frames;
  rp->info->txns += applied;
  if (rp->report)
    warnf(rp->report, rp->report_arg,
          "ok: %s: %" PRIu64 " frames, %" PRIu64 " transactions replayed",
          path, frames, applied);
  return SNAP_OK;
}

/* Replay the segments that follow zxid rp->last.  v: segments sorted. */
static int replay_log(struct replay *rp, const char *log_dir,
                      const struct snap_dirent *v, long n, char *errmsg,
                      size_t errmsg_len) {
  /* The segment holding last + 1 is the last one starting at or before
   * it; every later one follows. */
  long start = 0;
  for (long i = 0; i < n; i++)
    if (v[i].zxid <= rp->last + 1)
      start = i;
  for (long i = start; i < n; i++) {
    char path[SNAP_PATH_MAX];
    snap_path_join(path, log_dir, v[i].name);
    if (v[i].zxid > rp->last + 1 && !continues(rp->last, v[i].zxid)) {
      snap_errf(errmsg, errmsg_len,
                "%s starts at zxid 0x%" PRIx64
                " but the history before it ends at 0x%" PRIx64
                " (transactions missing: a segment was lost or cut); "
                "inspect with: roost-dump verify %s",
                path, (uint64_t)v[i].zxid, (uint64_t)rp->last, log_dir);
      snprintf(rp->info->bad_file, sizeof rp->info->bad_file, "%s", path);
      rp->info->bad_offset = 0;
      return SNAP_EGAP;
    }
    bool removed;
    int rc = replay_segment(rp, path, i == n - 1, &removed, errmsg,
                            errmsg_len);
    if (rc != SNAP_OK)
      return rc;
  }
  return SNAP_OK;
}

int snap_recover(const struct snap_recover_config *cfg, struct tree **out,
                 struct snap_recover_info *info, char *errmsg,
                 size_t errmsg_len) {
  const struct snap_io *io = cfg->io ? cfg->io : snap_io_posix();
  const char *log_dir = cfg->log_dir ? cfg->log_dir : cfg->data_dir;
  memset(info, 0, sizeof *info);
  info->snap_zxid = -1;
  *out = NULL;
  struct snap_dirent *snaps = NULL, *logs = NULL, *tmps = NULL;
  long ns = snap_dir_list(io, cfg->data_dir, SNAP_FILE_SNAPSHOT, &snaps);
  long nl = ns < 0 ? 0 : snap_dir_list(io, log_dir, SNAP_FILE_LOG, &logs);
  if (ns < 0 || nl < 0) {
    int rc = (int)(ns < 0 ? ns : nl);
    snap_errf(errmsg, errmsg_len, "cannot list %s: %s",
              ns < 0 ? cfg->data_dir : log_dir, snap_strerror(rc));
    free(snaps);
    free(logs);
    return rc;
  }
  long nt = cfg->repair
                ? snap_dir_list(io, cfg->data_dir, SNAP_FILE_TEMP, &tmps)
                : 0;
  /* A snapshot that never reached its rename: the child died. */
  for (long i = 0; i < nt; i++) {
    char p[SNAP_PATH_MAX];
    snap_path_join(p, cfg->data_dir, tmps[i].name);
    io->unlink(io->ctx, p);
    warnf(cfg->warn, cfg->warn_arg,
          "warning: removed %s (unfinished snapshot)", p);
  }
  free(tmps);

  struct replay rp = {.cfg = cfg, .io = io, .info = info};
  tree_out_init(&rp.out);
  int rc = SNAP_OK;
  struct tree *t = NULL;
  for (long i = ns - 1; i >= 0 && !t; i--) {
    char p[SNAP_PATH_MAX], emsg[SNAP_ERRMSG_MAX];
    snap_path_join(p, cfg->data_dir, snaps[i].name);
    int64_t z = 0;
    int src = snap_read(p, io, cfg->tree_cfg, &t, &z, emsg, sizeof emsg);
    if (src == SNAP_ENOMEM) {
      snap_errf(errmsg, errmsg_len, "%s", emsg);
      rc = src;
      goto out;
    }
    if (src != SNAP_OK) {
      warnf(cfg->warn, cfg->warn_arg,
            "warning: skipping snapshot %s: %s; falling back to the one "
            "before it",
            p, emsg);
      info->snaps_skipped++;
      continue;
    }
    info->snap_zxid = z;
    snprintf(info->snap_file, sizeof info->snap_file, "%s", p);
  }
  if (!t) {
    if (ns > 0 && nl > 0 && logs[0].zxid > 1) {
      snap_errf(errmsg, errmsg_len,
                "no snapshot in %s verifies and the log starts at zxid "
                "0x%" PRIx64 ", not at the beginning; inspect with: "
                "roost-dump verify %s",
                cfg->data_dir, (uint64_t)logs[0].zxid, cfg->data_dir);
      snprintf(info->bad_file, sizeof info->bad_file, "%s", cfg->data_dir);
      rc = SNAP_EGAP;
      goto out;
    }
    t = tree_new(cfg->tree_cfg);
    if (!t) {
      snap_errf(errmsg, errmsg_len, "out of memory");
      rc = SNAP_ENOMEM;
      goto out;
    }
  }
  rp.t = t;
  rp.last = tree_last_zxid(t);
  rc = replay_log(&rp, log_dir, logs, nl, errmsg, errmsg_len);
  if (rc == SNAP_OK && cfg->repair && (nl > 0 || info->truncated_bytes))
    io->fsync_dir(io->ctx, log_dir);
out:
  tree_out_free(&rp.out);
  free(snaps);
  free(logs);
  if (rc != SNAP_OK) {
    tree_free(t);
    return rc;
  }
  info->last_zxid = tree_last_zxid(t);
  *out = t;
  return SNAP_OK;
}

/* ------------------------------------------------------------------ */
/* Verify */

int snap_verify(const char *data_dir, const char *log_dir,
                const struct snap_io *io, snap_warn_cb report, void *arg) {
  if (!io)
    io = snap_io_posix();
  if (!log_dir)
    log_dir = data_dir;
  struct snap_dirent *snaps = NULL, *logs = NULL;
  long ns = snap_dir_list(io, data_dir, SNAP_FILE_SNAPSHOT, &snaps);
  long nl = ns < 0 ? 0 : snap_dir_list(io, log_dir, SNAP_FILE_LOG, &logs);
  if (ns < 0 || nl < 0) {
    warnf(report, arg, "error: cannot list %s",
          ns < 0 ? data_dir : log_dir);
    free(snaps);
    free(logs);
    return (int)(ns < 0 ? ns : nl);
  }
  int first_err = SNAP_OK;
  int64_t good_zxid = -1;
  for (long i = 0; i < ns; i++) {
    char p[SNAP_PATH_MAX], emsg[SNAP_ERRMSG_MAX];
    snap_path_join(p, data_dir, snaps[i].name);
    int64_t z = 0;
    int rc = snap_scan(p, io, NULL, &z, emsg, sizeof emsg);
    if (rc == SNAP_OK && z != snaps[i].zxid) {
      rc = SNAP_ECORRUPT;
      snap_errf(emsg, sizeof emsg, "%s: header zxid 0x%" PRIx64
               " does not match its name", p, (uint64_t)z);
    }
    if (rc != SNAP_OK) {
      warnf(report, arg, "error: %s", emsg);
      if (first_err == SNAP_OK)
        first_err = rc;
    } else {
      warnf(report, arg, "ok: %s: snapshot at zxid 0x%" PRIx64, p,
            (uint64_t)z);
      good_zxid = z;
    }
  }
  /* Every frame of every segment, without applying. */
  struct snap_recover_info info;
  memset(&info, 0, sizeof info);
  struct snap_recover_config cfg = {.data_dir = data_dir, .log_dir = log_dir,
                                    .io = io, .repair = false};
  for (long i = 0; i < nl; i++) {
    char p[SNAP_PATH_MAX];
    snap_path_join(p, log_dir, logs[i].name);
    struct txlog_reader *r = NULL;
    char emsg[SNAP_ERRMSG_MAX];
    int64_t first;
    int rc = txlog_reader_open(p, io, &r, &first, emsg, sizeof emsg);
    if (rc == SNAP_OK && first != logs[i].zxid) {
      rc = SNAP_ECORRUPT;
      snap_errf(emsg, sizeof emsg, "%s: header zxid 0x%" PRIx64
               " does not match its name", p, (uint64_t)first);
    }
    uint64_t frames = 0, txns = 0;
    int64_t last = 0;
    while (rc == SNAP_OK) {
      struct txlog_frame f;
      uint64_t bad = 0;
      int k = txlog_reader_next(r, &f, &bad, emsg, sizeof emsg);
      if (k == 0)
        break;
      if (k < 0) {
        rc = k;
        if (k == SNAP_ETORN) {
          size_t m = strlen(emsg);
          snap_errf(emsg + m, sizeof emsg - m,
                   "; repair with: roost-dump truncate %s", p);
        }
        break;
      }
      frames++;
      txns += f.n_txns;
      last = f.last_zxid;
    }
    txlog_reader_close(r);
    if (rc != SNAP_OK) {
      warnf(report, arg, "error: %s", emsg);
      if (first_err == SNAP_OK)
        first_err = rc;
    } else {
      warnf(report, arg,
            "ok: %s: %" PRIu64 " frames, %" PRIu64
            " transactions, zxids 0x%" PRIx64 "..0x%" PRIx64,
            p, frames, txns, (uint64_t)logs[i].zxid, (uint64_t)last);
    }
  }
  /* The chain: from the newest good snapshot through the segments. */
  if (first_err == SNAP_OK || first_err == SNAP_ECORRUPT) {
    struct replay rp = {.cfg = &cfg, .io = io, .info = &info};
    rp.last = good_zxid < 0 ? 0 : good_zxid;
    char emsg[SNAP_ERRMSG_MAX];
    if (good_zxid < 0 && ns > 0 && nl > 0 && logs[0].zxid > 1) {
      warnf(report, arg,
            "error: no snapshot verifies and the log starts at 0x%" PRIx64,
            (uint64_t)logs[0].zxid);
      if (first_err == SNAP_OK)
        first_err = SNAP_EGAP;
    } else {
      int rc = replay_log(&rp, log_dir, logs, nl, emsg, sizeof emsg);
      if (rc != SNAP_OK) {
        warnf(report, arg, "error: %s", emsg);
        if (first_err == SNAP_OK)
          first_err = rc;
      } else {
        char from[64];
        if (good_zxid < 0)
          snprintf(from, sizeof from, "the empty tree");
        else
          snprintf(from, sizeof from, "snapshot 0x%" PRIx64,
                   (uint64_t)good_zxid);
        warnf(report, arg, "ok: chain from %s through the log to zxid 0x%" PRIx64,
              from, (uint64_t)rp.last);
      }
    }
  }
  free(snaps);
  free(logs);
  return first_err;
}

/* ------------------------------------------------------------------ */
/* Purge */

int snap_purge(const char *data_dir, const char *log_dir,
               const struct snap_io *io, unsigned retain, unsigned *n_snaps,
               unsigned *n_logs, snap_warn_cb warn, void *warn_arg) {
  if (!io)
    io = snap_io_posix();
  if (!log_dir)
    log_dir = data_dir;
  if (retain < 3)
    retain = 3;
  unsigned rs = 0, rl = 0;
  int first_err = SNAP_OK;
  struct snap_dirent *snaps = NULL, *logs = NULL;
  long ns = snap_dir_list(io, data_dir, SNAP_FILE_SNAPSHOT, &snaps);
  long nl = ns < 0 ? 0 : snap_dir_list(io, log_dir, SNAP_FILE_LOG, &logs);
  if (ns < 0 || nl < 0) {
    free(snaps);
    free(logs);
    return (int)(ns < 0 ? ns : nl);
  }
  if ((unsigned long)ns > retain) {
    long oldest_kept = ns - (long)retain;
    int64_t keep_from = snaps[oldest_kept].zxid;
    for (long i = 0; i < oldest_kept; i++) {
      char p[SNAP_PATH_MAX];
      snap_path_join(p, data_dir, snaps[i].name);
      int e = io->unlink(io->ctx, p);
      if (e < 0 && first_err == SNAP_OK)
        first_err = snap_errno_code(e);
      else if (e == 0)
        rs++;
    }
    /* Keep the segment holding keep_from + 1 and every later one. */
    long keep_log = 0;
    for (long i = 0; i < nl; i++)
      if (logs[i].zxid <= keep_from + 1)
        keep_log = i;
    for (long i = 0; i < keep_log; i++) {
      char p[SNAP_PATH_MAX];
      snap_path_join(p, log_dir, logs[i].name);
      int e = io->unlink(io->ctx, p);
      if (e < 0 && first_err == SNAP_OK)
        first_err = snap_errno_code(e);
      else if (e == 0)
        rl++;
    }
    if (rs || rl)
      warnf(warn, warn_arg,
            "purge: removed %u snapshots and %u log segments older than "
            "zxid 0x%" PRIx64,
            rs, rl, (uint64_t)keep_from);
  }
  free(snaps);
  free(logs);
  if (n_snaps)
    *n_snaps = rs;
  if (n_logs)
    *n_logs = rl;
  return first_err;
}
