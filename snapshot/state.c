/* state.c — small files replaced atomically and durably (an ensemble
 * member's epochs), and emptying a log directory of its segments (an
 * ensemble member's log rebase), through struct snap_io like every other
 * file the server writes, so that the simulated disk of the unit tests
 * reaches them. */
#include "snapshot/snap_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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
