/* state.c — small files replaced atomically and durably (an ensemble
 * member's epochs), and an ensemble member's log rebase (snap_rebase) and
 * the emptying of a log directory, through struct snap_io like every other
 * file the server writes, so that the simulated disk of the unit tests
 * reaches them. */
#include "snapshot/snap_int.h"

#include "tree/tree.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int snap_state_write(const char *dir, const char *name,
                     const struct snap_io *io, const void *buf, size_t len,
                     char *errmsg, size_t errmsg_len) {
  if (io == NULL)
    io = snap_io_posix();
  char path[SNAP_PATH_MAX], tmp[SNAP_PATH_MAX + 8];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd =
      io->open(io->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    snap_errf(errmsg, errmsg_len, "cannot create %s: %s", tmp, strerror(-fd));
    return snap_errno_code(fd);
  }
  long w = io->write(io->ctx, fd, buf, len);
  int rc = w < 0 ? (int)w : w != (long)len ? -EIO : io->fsync(io->ctx, fd);
  int rc2 = io->close(io->ctx, fd);
  if (rc >= 0)
    rc = rc2;
  /* The new content is durable under the temporary name before it
   * replaces the old: a crash leaves one or the other, whole. */
  if (rc >= 0)
    rc = io->rename(io->ctx, tmp, path);
  if (rc < 0) {
    snap_errf(errmsg, errmsg_len, "cannot write %s: %s", path, strerror(-rc));
    io->unlink(io->ctx, tmp);
    return snap_errno_code(rc);
  }
  rc = io->fsync_dir(io->ctx, dir);
  if (rc < 0) {
    snap_errf(errmsg, errmsg_len, "cannot sync %s: %s", dir, strerror(-rc));
    return snap_errno_code(rc);
  }
  return SNAP_OK;
}

int snap_state_read(const char *dir, const char *name, const struct snap_io *io,
                    char *buf, size_t cap, size_t *len, char *errmsg,
                    size_t errmsg_len) {
  if (io == NULL)
    io = snap_io_posix();
  char path[SNAP_PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  *len = 0;
  if (cap == 0)
    return SNAP_EINVAL;
  buf[0] = '\0';
  int fd = io->open(io->ctx, path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    snap_errf(errmsg, errmsg_len, "cannot open %s: %s", path, strerror(-fd));
    return snap_errno_code(fd);
  }
  size_t got = 0;
  while (got < cap - 1) {
    long n = io->read(io->ctx, fd, buf + got, cap - 1 - got);
    if (n < 0) {
      io->close(io->ctx, fd);
      snap_errf(errmsg, errmsg_len, "cannot read %s: %s", path,
                strerror((int)-n));
      return SNAP_EIO;
    }
    if (n == 0)
      break;
    got += (size_t)n;
  }
  io->close(io->ctx, fd);
  buf[got] = '\0';
  *len = got;
  return SNAP_OK;
}

struct clear_ctx {
  const struct snap_io *io;
  const char *dir;
  int rc;
};

static void clear_one(void *arg, const char *name) {
  struct clear_ctx *x = arg;
  enum snap_file_kind k;
  int64_t z;
  if (!snap_name_parse(name, &k, &z) || k != SNAP_FILE_LOG)
    return;
  char p[SNAP_PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", x->dir, name);
  int rc = x->io->unlink(x->io->ctx, p);
  if (rc < 0 && rc != -ENOENT && x->rc == 0)
    x->rc = rc;
}

int snap_logs_remove(const char *dir, const struct snap_io *io, char *errmsg,
                     size_t errmsg_len) {
  if (io == NULL)
    io = snap_io_posix();
  struct clear_ctx x = {.io = io, .dir = dir, .rc = 0};
  int rc = io->list_dir(io->ctx, dir, clear_one, &x);
  if (rc >= 0)
    rc = x.rc;
  if (rc >= 0)
    rc = io->fsync_dir(io->ctx, dir);
  if (rc < 0) {
    snap_errf(errmsg, errmsg_len, "cannot empty the log directory %s: %s", dir,
              strerror(-rc));
    return snap_errno_code(rc);
  }
  return SNAP_OK;
}

/* Remove the log segments of dir named above `above` (all: INT64_MIN) but
 * `keep` (-1: none), newest first, so that what a crash leaves is a
 * prefix of the chain: never a gap.  Then fsync dir. */
static int logs_remove_from_top(const struct snap_io *io, const char *dir,
                                int64_t above, int64_t keep) {
  struct snap_dirent *v = NULL;
  long n = snap_dir_list(io, dir, SNAP_FILE_LOG, &v);
  if (n < 0)
    return n == SNAP_ENOMEM ? -ENOMEM : -EIO;
  int rc = 0;
  for (long i = n - 1; i >= 0 && rc == 0; i--) {
    if (v[i].zxid <= above || v[i].zxid == keep)
      continue;
    char p[SNAP_PATH_MAX];
    snap_path_join(p, dir, v[i].name);
    rc = io->unlink(io->ctx, p);
    if (rc == -ENOENT)
      rc = 0;
  }
  free(v);
  return rc < 0 ? rc : io->fsync_dir(io->ctx, dir);
}

/* Sync txns into log.<first><SUFFIX> (a name recovery skips) and rename
 * it to log.<first>, replacing an old segment of that name. */
#define REBASE_SUFFIX ".rebase"
static int stage_segment(const struct txlog_config *lc, int64_t first,
                         const struct txlog_txn *txns, size_t n, char *errmsg,
                         size_t errmsg_len) {
  const struct snap_io *io = lc->io ? lc->io : snap_io_posix();
  char name[64], tmp[SNAP_PATH_MAX + 8], path[SNAP_PATH_MAX];
  snprintf(name, sizeof name, "log.%" PRIx64, (uint64_t)first);
  snap_path_join(path, lc->dir, name);
  snprintf(tmp, sizeof tmp, "%s" REBASE_SUFFIX, path);
  io->unlink(io->ctx, tmp); /* a failed attempt's; O_EXCL below */
  struct txlog_config c = *lc;
  c.segment_suffix = REBASE_SUFFIX;
  c.prealloc_bytes = 0;
  struct txlog *l = NULL;
  int rc = txlog_open(&c, &l);
  for (size_t i = 0; rc == SNAP_OK && i < n; i++)
    rc = txlog_append(l, &txns[i], 1, errmsg, errmsg_len);
  int64_t d = 0;
  if (rc == SNAP_OK)
    rc = txlog_sync(l, &d, errmsg, errmsg_len);
  txlog_close(l);
  if (rc != SNAP_OK) {
    io->unlink(io->ctx, tmp);
    return rc;
  }
  int e = io->rename(io->ctx, tmp, path);
  if (e == 0)
    e = io->fsync_dir(io->ctx, lc->dir);
  if (e < 0) {
    snap_errf(errmsg, errmsg_len, "cannot rename %s: %s", tmp, strerror(-e));
    return snap_errno_code(e);
  }
  return SNAP_OK;
}

int snap_rebase(const char *data_dir, const struct txlog_config *lc,
                const struct tree *t, const struct txlog_txn *txns, size_t n,
                char *errmsg, size_t errmsg_len) {
  const struct snap_io *io = lc->io ? lc->io : snap_io_posix();
  int rc = snap_write(data_dir, io, t, -1, NULL, errmsg, errmsg_len);
  if (rc != SNAP_OK)
    return rc;
  int64_t first = -1, last = INT64_MIN;
  if (n > 0) {
    struct tree_txn_header h0, h1;
    if (tree_txn_header_decode(txns[0].buf, txns[0].len, &h0) != PROTO_OK ||
        tree_txn_header_decode(txns[n - 1].buf, txns[n - 1].len, &h1) !=
            PROTO_OK) {
      snap_errf(errmsg, errmsg_len, "a txn to log again does not decode");
      return SNAP_EINVAL;
    }
    first = h0.zxid;
    last = h1.zxid;
  }
  /* Segments that start after the last txn kept hold only txns dropped
   * (a TRUNC's): they go first, so that the rename below cannot leave
   * one behind a gap. */
  int e = n > 0 ? logs_remove_from_top(io, lc->dir, last, -1) : 0;
  if (e == 0 && n > 0) {
    rc = stage_segment(lc, first, txns, n, errmsg, errmsg_len);
    if (rc != SNAP_OK)
      return rc;
  }
  /* The snapshot (and the segment of txns) cover everything else. */
  if (e == 0)
    e = logs_remove_from_top(io, lc->dir, INT64_MIN, first);
  if (e < 0) {
    snap_errf(errmsg, errmsg_len, "cannot empty the log directory %s: %s",
              lc->dir, strerror(-e));
    return snap_errno_code(e);
  }
  return SNAP_OK;
}
