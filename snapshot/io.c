/* The POSIX snap_io, error texts, and small helpers shared by snapshot/. */
#include "snapshot/snap_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ------------------------------------------------------------------ */
/* Errors */

const char *snap_strerror(int err) {
  switch (err) {
#define SNAP_ERR_TEXT(name, value, text)                                       \
  case value:                                                                  \
    return text;
    SNAP_ERRNO_MAP(SNAP_ERR_TEXT)
#undef SNAP_ERR_TEXT
  default:
    return "unknown error";
  }
}

const char *snap_err_name(int err) {
  switch (err) {
#define SNAP_ERR_NAME(name, value, text)                                       \
  case value:                                                                  \
    return #name;
    SNAP_ERRNO_MAP(SNAP_ERR_NAME)
#undef SNAP_ERR_NAME
  default:
    return "UNKNOWN";
  }
}

int snap_errno_code(int neg_errno) {
  switch (-neg_errno) {
  case ENOSPC:
  case EDQUOT:
    return SNAP_ENOSPC;
  case ENOENT:
    return SNAP_ENOENT;
  case ENOMEM:
    return SNAP_ENOMEM;
  default:
    return SNAP_EIO;
  }
}

void snap_errf(char *buf, size_t len, const char *fmt, ...) {
  if (!buf || !len)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, len, fmt, ap);
  va_end(ap);
}

uint32_t snap_crc32(uint32_t crc, const void *p, size_t n) {
  /* zlib's crc32 takes uInt lengths: feed large buffers in pieces. */
  const uint8_t *b = p;
  while (n) {
    uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
    crc = (uint32_t)crc32(crc, b, k);
    b += k;
    n -= k;
  }
  return crc;
}

void snap_header_encode(uint8_t b[SNAP_HEADER_LEN], const char *magic,
                        uint32_t flags, int64_t zxid) {
  memcpy(b, magic, 8);
  proto_store_be32(b + 8, SNAP_FORMAT_VERSION);
  proto_store_be32(b + 12, flags);
  proto_store_be64(b + 16, (uint64_t)zxid);
  proto_store_be32(b + 24, 0);
  proto_store_be32(b + 28, snap_crc32(0, b, 28));
}

int snap_header_decode(const uint8_t b[SNAP_HEADER_LEN], const char *magic,
                       uint32_t *flags, int64_t *zxid) {
  if (memcmp(b, magic, 8) != 0)
    return SNAP_ECORRUPT;
  if (proto_load_be32(b + 28) != snap_crc32(0, b, 28))
    return SNAP_ECORRUPT;
  if (proto_load_be32(b + 8) != SNAP_FORMAT_VERSION)
    return SNAP_EVERSION;
  *flags = proto_load_be32(b + 12);
  *zxid = (int64_t)proto_load_be64(b + 16);
  return SNAP_OK;
}

void snap_path_join(char *out, const char *dir, const char *name) {
  size_t n = strlen(dir);
  if (n && dir[n - 1] == '/')
    snprintf(out, SNAP_PATH_MAX, "%s%s", dir, name);
  else
    snprintf(out, SNAP_PATH_MAX, "%s/%s", dir, name);
}

int snap_write_all(const struct snap_io *io, int fd, const void *buf,
                   size_t len) {
  const uint8_t *p = buf;
  while (len) {
    long k = io->write(io->ctx, fd, p, len);
    if (k < 0)
      return (int)k;
    if (k == 0)
      return -EIO;
    p += k;
    len -= (size_t)k;
  }
  return 0;
}

long snap_read_full(const struct snap_io *io, int fd, void *buf, size_t len) {
  uint8_t *p = buf;
  size_t got = 0;
  while (got < len) {
    long k = io->read(io->ctx, fd, p + got, len - got);
    if (k < 0)
      return k;
    if (k == 0)
      break;
    got += (size_t)k;
  }
  return (long)got;
}

/* ------------------------------------------------------------------ */
/* File names */

static bool parse_hex(const char *s, size_t n, int64_t *out) {
  if (n == 0 || n > 16)
    return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    unsigned d;
    if (c >= '0' && c <= '9')
      d = (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      d = (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      d = (unsigned)(c - 'A' + 10);
    else
      return false;
    v = v << 4 | d;
  }
  *out = (int64_t)v;
  return true;
}

bool snap_name_parse(const char *name, enum snap_file_kind *kind,
                     int64_t *zxid) {
  size_t n = strlen(name);
  if (n > 4 && memcmp(name, "log.", 4) == 0) {
    *kind = SNAP_FILE_LOG;
    return parse_hex(name + 4, n - 4, zxid);
  }
  if (n > 9 && memcmp(name, "snapshot.", 9) == 0) {
    const char *h = name + 9;
    size_t hn = n - 9;
    if (hn > 4 && memcmp(h + hn - 4, ".tmp", 4) == 0) {
      *kind = SNAP_FILE_TEMP;
      return parse_hex(h, hn - 4, zxid);
    }
    *kind = SNAP_FILE_SNAPSHOT;
    return parse_hex(h, hn, zxid);
  }
  return false;
}

struct list_ctx {
  enum snap_file_kind kind;
  struct snap_dirent *v;
  size_t n, cap;
  bool oom;
};

static void list_one(void *arg, const char *name) {
  struct list_ctx *c = arg;
  enum snap_file_kind k;
  int64_t z;
  if (c->oom || !snap_name_parse(name, &k, &z) || k != c->kind ||
      strlen(name) >= sizeof c->v[0].name)
    return;
  if (c->n == c->cap) {
    size_t nc = c->cap ? c->cap * 2 : 16;
    struct snap_dirent *v = realloc(c->v, nc * sizeof *v);
    if (!v) {
      c->oom = true;
      return;
    }
    c->v = v;
    c->cap = nc;
  }
  struct snap_dirent *e = &c->v[c->n++];
  e->zxid = z;
  e->kind = k;
  snprintf(e->name, sizeof e->name, "%s", name);
}

static int dirent_cmp(const void *x, const void *y) {
  const struct snap_dirent *a = x, *b = y;
  if ((uint64_t)a->zxid != (uint64_t)b->zxid)
    return (uint64_t)a->zxid < (uint64_t)b->zxid ? -1 : 1;
  return strcmp(a->name, b->name);
}

long snap_dir_list(const struct snap_io *io, const char *dir,
                   enum snap_file_kind kind, struct snap_dirent **out) {
  struct list_ctx c = {.kind = kind};
  int rc = io->list_dir(io->ctx, dir, list_one, &c);
  if (rc < 0 || c.oom) {
    free(c.v);
    return c.oom ? SNAP_ENOMEM : snap_errno_code(rc);
  }
  if (c.n > 1)
    qsort(c.v, c.n, sizeof *c.v, dirent_cmp);
  *out = c.v;
  return (long)c.n;
}

/* ------------------------------------------------------------------ */
/* POSIX */

#ifdef ROOST_TEST_HOOKS
/* Test builds only: with ROOST_TEST_IO_FAIL_FILE=PATH, a call fails with
 * EIO while PATH holds a line "OP PREFIX" whose PREFIX starts the path of
 * the file the call is on (OP: open (for writing), write, fsync, rename,
 * unlink, fsync_dir, or any), read again at each call: a test breaks one
 * member's disk, or only its epochs file, at a moment it chooses and
 * repairs it by emptying PATH. */
static bool test_io_fail(const char *op, const char *path) {
  const char *cfg = getenv("ROOST_TEST_IO_FAIL_FILE");
  if (cfg == NULL || path == NULL)
    return false;
  FILE *f = fopen(cfg, "r");
  if (f == NULL)
    return false;
  char line[1100];
  bool hit = false;
  while (!hit && fgets(line, sizeof line, f) != NULL) {
    char o[16], pre[1024];
    if (sscanf(line, "%15s %1023s", o, pre) == 2 &&
        (strcmp(o, op) == 0 || strcmp(o, "any") == 0) &&
        strncmp(path, pre, strlen(pre)) == 0)
      hit = true;
  }
  fclose(f);
  return hit;
}

static bool test_fd_fail(const char *op, int fd) {
  if (getenv("ROOST_TEST_IO_FAIL_FILE") == NULL)
    return false;
  char link[64], path[1024];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0)
    return false;
  path[n] = '\0';
  return test_io_fail(op, path);
}
#define TEST_FAIL(op, path) test_io_fail(op, path)
#define TEST_FD_FAIL(op, fd) test_fd_fail(op, fd)
#else
#define TEST_FAIL(op, path) false
#define TEST_FD_FAIL(op, fd) false
#endif

static int px_open(void *ctx, const char *path, int flags, int mode) {
  if ((flags & (O_WRONLY | O_RDWR | O_CREAT)) && TEST_FAIL("open", path))
    return -EIO;
  int fd = open(path, flags | O_CLOEXEC, mode);
  return fd < 0 ? -errno : fd;
}
static long px_read(void *ctx, int fd, void *buf, size_t len) {
  for (;;) {
    ssize_t k = read(fd, buf, len);
    if (k >= 0)
      return (long)k;
    if (errno != EINTR)
      return -errno;
  }
}
static long px_write(void *ctx, int fd, const void *buf, size_t len) {
  if (TEST_FD_FAIL("write", fd))
    return -EIO;
  for (;;) {
    ssize_t k = write(fd, buf, len);
    if (k >= 0)
      return (long)k;
    if (errno != EINTR)
      return -errno;
  }
}
#ifdef ROOST_TEST_HOOKS
/* Test builds only (make SAN=1 defines ROOST_TEST_HOOKS; release builds
 * cannot reach this): with ROOST_TEST_FSYNC_DELAY_FILE=PATH, every
 * fdatasync returns N ms late, N read from PATH at each call (absent or
 * empty: 0), so a test can slow one member's disk at a moment it chooses
 * and tell whether anything (a reply, a read by another session) leaves
 * before the fsync that covers it returned. */
static void test_fsync_delay(void) {
  const char *path = getenv("ROOST_TEST_FSYNC_DELAY_FILE");
  if (path == NULL)
    return;
  FILE *f = fopen(path, "r");
  long ms = 0;
  if (f != NULL) {
    if (fscanf(f, "%ld", &ms) != 1)
      ms = 0;
    fclose(f);
  }
  if (ms > 0)
    usleep((useconds_t)ms * 1000u);
}
#endif

static int px_fsync(void *ctx, int fd) {
  /* fdatasync: the size changes of appends are data for it (POSIX
   * requires the metadata needed to read the data back). */
  int rc = fdatasync(fd) < 0 ? -errno : 0;
#ifdef ROOST_TEST_HOOKS
  test_fsync_delay();
  if (rc == 0 && test_fd_fail("fsync", fd))
    rc = -EIO;
#endif
  return rc;
}
static int px_close(void *ctx, int fd) { return close(fd) < 0 ? -errno : 0; }
static int px_truncate(void *ctx, int fd, uint64_t len) {
  return ftruncate(fd, (off_t)len) < 0 ? -errno : 0;
}
static int64_t px_size(void *ctx, int fd) {
  struct stat st;
  return fstat(fd, &st) < 0 ? -errno : (int64_t)st.st_size;
}
static int px_seek(void *ctx, int fd, uint64_t off) {
  return lseek(fd, (off_t)off, SEEK_SET) < 0 ? -errno : 0;
}
static int px_rename(void *ctx, const char *from, const char *to) {
  if (TEST_FAIL("rename", from))
    return -EIO;
  return rename(from, to) < 0 ? -errno : 0;
}
static int px_unlink(void *ctx, const char *path) {
  if (TEST_FAIL("unlink", path))
    return -EIO;
  return unlink(path) < 0 ? -errno : 0;
}
static int px_fsync_dir(void *ctx, const char *dir) {
  if (TEST_FAIL("fsync_dir", dir))
    return -EIO;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  int rc = fsync(fd) < 0 ? -errno : 0;
  close(fd);
  return rc;
}
static int px_list_dir(void *ctx, const char *dir, snap_name_cb cb, void *arg) {
  DIR *d = opendir(dir);
  if (!d)
    return -errno;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    cb(arg, e->d_name);
  }
  closedir(d);
  return 0;
}
/* Real zeros, not posix_fallocate: ext4 hands out unwritten extents, and
 * converting them as the log is written makes every fdatasync write the
 * inode too (measured: half again the CPU and latency of an fdatasync of
 * overwritten blocks).  Zeros cost one more write of the region, once.
 * pwrite: the fd's position stays at the end of the data. */
static int px_allocate(void *ctx, int fd, uint64_t off, uint64_t len) {
  static const uint8_t zeros[64 * 1024];
  struct stat st;
  if (fstat(fd, &st) < 0)
    return -errno;
  while (len) {
    size_t k = len < sizeof zeros ? (size_t)len : sizeof zeros;
    ssize_t w = pwrite(fd, zeros, k, (off_t)off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      int e = w < 0 ? errno : EIO;
      /* Give back what a step that did not fit took: on a full disk the
       * caller retries with less, and a restart needs room for a new
       * segment. */
      if (ftruncate(fd, st.st_size) < 0) {
        /* the zeros stay; they read as the end of the log */
      }
      return -e;
    }
    off += (uint64_t)w;
    len -= (uint64_t)w;
  }
  return 0;
}

static const struct snap_io posix_io = {
    .ctx = NULL,
    .open = px_open,
    .read = px_read,
    .write = px_write,
    .fsync = px_fsync,
    .close = px_close,
    .truncate = px_truncate,
    .size = px_size,
    .seek = px_seek,
    .rename = px_rename,
    .unlink = px_unlink,
    .fsync_dir = px_fsync_dir,
    .list_dir = px_list_dir,
    .allocate = px_allocate,
};

const struct snap_io *snap_io_posix(void) { return &posix_io; }

uint64_t snap_dir_size(const char *dir, const struct snap_io *io) {
  if (!io)
    io = snap_io_posix();
  uint64_t total = 0;
  enum snap_file_kind kinds[] = {SNAP_FILE_LOG, SNAP_FILE_SNAPSHOT};
  for (size_t k = 0; k < 2; k++) {
    struct snap_dirent *v = NULL;
    long n = snap_dir_list(io, dir, kinds[k], &v);
    for (long i = 0; i < n; i++) {
      char p[SNAP_PATH_MAX];
      snap_path_join(p, dir, v[i].name);
      int fd = io->open(io->ctx, p, O_RDONLY, 0);
      if (fd < 0)
        continue;
      int64_t sz = io->size(io->ctx, fd);
      if (sz > 0)
        total += (uint64_t)sz;
      io->close(io->ctx, fd);
    }
    free(v);
  }
  return total;
}
