/* Transaction log: segment writer with group commit, and the reader.
 *
 * Segment = 32-byte header (snap_header_encode, magic "ROOSTLOG", zxid =
 * first zxid of the segment) followed by frames:
 *
 *   0  "TXF1"          4
 *   4  stored_len      u32   bytes of payload after this 40-byte header
 *   8  crc32           u32   over bytes 12..39 and the payload
 *  12  first_zxid      u64
 *  20  last_zxid       u64
 *  28  n_txns          u32
 *  32  raw_len         u32   payload length after inflating
 *  36  method          u8    0 stored, 1 raw deflate (zlib, no wrapper)
 *  37  reserved        3 bytes, zero
 *  40  payload: n_txns x (u32 len, txn bytes), deflated unless method 0
 *
 * A frame is written with one write(2).  Zeros after the last frame
 * (preallocation) read as the end.  See docs/storage-format.md. */
#include "snapshot/snap_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Smallest frame payload worth deflating (bytes). */
#define TXLOG_DEFLATE_MIN_BYTES 4096

/* ------------------------------------------------------------------ */
/* Writer */

struct pending_frame {
  size_t off; /* in pend */
  size_t len;
  int64_t first_zxid, last_zxid;
};

struct txlog {
  struct txlog_config cfg;
  char dir[SNAP_PATH_MAX];
  const struct snap_io *io;

  int fd; /* current segment, -1 = none (next append opens one) */
  char path[SNAP_PATH_MAX];
  uint64_t end;       /* bytes of header + frames written */
  uint64_t alloc_end; /* preallocated size */
  bool fd_dirty;      /* written since the last sync began */
  bool dir_dirty;     /* a segment was created since the last sync began */

  int *retired; /* rolled segments, closed once synced */
  int64_t *retired_zxid;
  size_t n_retired, cap_retired;

  bool in_flight;
  bool failed;
  int64_t last_zxid, durable_zxid;

  z_stream zs;
  bool zs_ok;
  uint8_t *raw, *frame;
  size_t raw_cap, frame_cap;

  /* Copy of every frame not known durable, for txlog_retry. */
  uint8_t *pend;
  size_t pend_len, pend_cap;
  struct pending_frame *pf;
  size_t n_pf, cap_pf;

  uint64_t frames, txns, bytes, syncs;
};

struct txlog_sync {
  const struct snap_io *io;
  bool force;
  int *fds;
  size_t n_fds;
  bool dir;
  char dirpath[SNAP_PATH_MAX];
  int64_t zxid;
  int rc; /* 0 or -errno of the first failure */
  const char *what;
};

static bool grow_buf(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return true;
  size_t nc = *cap ? *cap : 256;
  while (nc < need)
    nc *= 2;
  void *q = realloc(*p, nc * elem);
  if (!q)
    return false;
  *p = q;
  *cap = nc;
  return true;
}

int txlog_open(const struct txlog_config *cfg, struct txlog **out) {
  if (!cfg || !cfg->dir || strlen(cfg->dir) >= SNAP_PATH_MAX - 40)
    return SNAP_EINVAL;
  struct txlog *l = calloc(1, sizeof *l);
  if (!l)
    return SNAP_ENOMEM;
  l->cfg = *cfg;
  snprintf(l->dir, sizeof l->dir, "%s", cfg->dir);
  l->cfg.dir = l->dir;
  l->io = cfg->io ? cfg->io : snap_io_posix();
  if (!l->cfg.max_pending_bytes)
    l->cfg.max_pending_bytes = 64u << 20;
  l->fd = -1;
  int level = cfg->level > 0 && cfg->level <= 9 ? cfg->level : 1;
  if (deflateInit2(&l->zs, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    free(l);
    return SNAP_ENOMEM;
  }
  l->zs_ok = true;
  *out = l;
  return SNAP_OK;
}

void txlog_close(struct txlog *l) {
  if (!l)
    return;
  if (l->fd >= 0)
    l->io->close(l->io->ctx, l->fd);
  for (size_t i = 0; i < l->n_retired; i++)
    l->io->close(l->io->ctx, l->retired[i]);
  if (l->zs_ok)
    deflateEnd(&l->zs);
  free(l->retired);
  free(l->retired_zxid);
  free(l->raw);
  free(l->frame);
  free(l->pend);
  free(l->pf);
  free(l);
}

static bool retire(struct txlog *l, int fd, int64_t zxid) {
  if (!grow_buf((void **)&l->retired, &l->cap_retired, l->n_retired + 1,
                sizeof *l->retired))
    return false;
  size_t cap = l->cap_retired;
  int64_t *z = realloc(l->retired_zxid, cap * sizeof *z);
  if (!z)
    return false;
  l->retired_zxid = z;
  l->retired[l->n_retired] = fd;
  l->retired_zxid[l->n_retired++] = zxid;
  return true;
}

void txlog_roll(struct txlog *l) {
  if (l->fd < 0)
    return;
  if (l->last_zxid <= l->durable_zxid && !l->in_flight) {
    l->io->close(l->io->ctx, l->fd);
  } else if (!retire(l, l->fd, l->last_zxid)) {
    /* Out of memory for the list: keep the segment current (the next
     * append goes on in it) rather than lose track of unsynced data. */
    return;
  }
  l->fd = -1;
  l->fd_dirty = false;
  l->path[0] = 0;
}

/* Create log.<zxid> with its header.  0 or -errno. */
static int segment_create(struct txlog *l, int64_t first_zxid) {
  char name[64];
  snprintf(name, sizeof name, "log.%" PRIx64, (uint64_t)first_zxid);
  snap_path_join(l->path, l->dir, name);
  const struct snap_io *io = l->io;
  int fd = io->open(io->ctx, l->path, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd < 0)
    return fd;
  uint8_t h[SNAP_HEADER_LEN];
  snap_header_encode(h, SNAP_LOG_MAGIC, 0, first_zxid);
  int rc = snap_write_all(io, fd, h, sizeof h);
  if (rc < 0) {
    io->close(io->ctx, fd);
    io->unlink(io->ctx, l->path);
    return rc;
  }
  l->fd = fd;
  l->end = l->alloc_end = SNAP_HEADER_LEN;
  l->dir_dirty = true;
  l->fd_dirty = true;
  return 0;
}

/* Encode txns into l->frame.  SNAP_OK / SNAP_EINVAL / SNAP_ENOMEM. */
static int frame_build(struct txlog *l, const struct txlog_txn *txns,
                       size_t n, int64_t *first, int64_t *last,
                       size_t *frame_len) {
  size_t raw_len = 0;
  int64_t prev = l->last_zxid;
  for (size_t i = 0; i < n; i++) {
    struct tree_txn_header h;
    if (txns[i].len > UINT32_MAX ||
        tree_txn_header_decode(txns[i].buf, txns[i].len, &h) != PROTO_OK ||
        h.zxid <= prev)
      return SNAP_EINVAL;
    if (i == 0)
      *first = h.zxid;
    *last = prev = h.zxid;
    raw_len += 4 + txns[i].len;
  }
  if (raw_len > TXLOG_MAX_RAW / 2)
    return SNAP_EINVAL;
  if (!grow_buf((void **)&l->raw, &l->raw_cap, raw_len, 1))
    return SNAP_ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    snap_put32(l->raw + k, (uint32_t)txns[i].len);
    memcpy(l->raw + k + 4, txns[i].buf, txns[i].len);
    k += 4 + txns[i].len;
  }
  size_t bound = deflateBound(&l->zs, (uLong)raw_len);
  if (!grow_buf((void **)&l->frame, &l->frame_cap, TXLOG_FRAME_HDR + bound,
                1))
    return SNAP_ENOMEM;
  uint8_t *f = l->frame;
  uint8_t method = 1;
  size_t stored;
  /* A frame of one or a few small transactions does not deflate to less
   * than it is (it was stored raw anyway); skipping the attempt halves the
   * CPU of a small write.  Frames of a busy group commit still deflate. */
  bool try_deflate = raw_len >= TXLOG_DEFLATE_MIN_BYTES;
  if (try_deflate)
    deflateReset(&l->zs);
  l->zs.next_in = l->raw;
  l->zs.avail_in = (uInt)raw_len;
  l->zs.next_out = f + TXLOG_FRAME_HDR;
  l->zs.avail_out = (uInt)bound;
  if (try_deflate && deflate(&l->zs, Z_FINISH) == Z_STREAM_END &&
      l->zs.total_out < raw_len) {
    stored = l->zs.total_out;
  } else {
    /* Incompressible (small txns of random data): store as is. */
    method = 0;
    memcpy(f + TXLOG_FRAME_HDR, l->raw, raw_len);
    stored = raw_len;
  }
  memcpy(f, TXLOG_FRAME_MAGIC, 4);
  snap_put32(f + 4, (uint32_t)stored);
  snap_put64(f + 12, (uint64_t)*first);
  snap_put64(f + 20, (uint64_t)*last);
  snap_put32(f + 28, (uint32_t)n);
  snap_put32(f + 32, (uint32_t)raw_len);
  f[36] = method;
  f[37] = f[38] = f[39] = 0;
  uint32_t crc = snap_crc32(0, f + 12, TXLOG_FRAME_HDR - 12);
  crc = snap_crc32(crc, f + TXLOG_FRAME_HDR, stored);
  snap_put32(f + 8, crc);
  *frame_len = TXLOG_FRAME_HDR + stored;
  return SNAP_OK;
}

/* Grow the preallocated region so [end, end+need) lies inside it. */
static int prealloc(struct txlog *l, size_t need) {
  if (!l->cfg.prealloc_bytes || !l->io->allocate)
    return 0;
  if (l->end + need <= l->alloc_end)
    return 0;
  uint64_t step = l->cfg.prealloc_bytes;
  uint64_t target = l->alloc_end;
  while (target < l->end + need)
    target += step;
  int rc = l->io->allocate(l->io->ctx, l->fd, l->alloc_end,
                           target - l->alloc_end);
  if (rc < 0)
    return rc;
  l->alloc_end = target;
  return 0;
}

static int pending_add(struct txlog *l, const uint8_t *f, size_t len,
                       int64_t first, int64_t last) {
  if (!grow_buf((void **)&l->pend, &l->pend_cap, l->pend_len + len, 1) ||
      !grow_buf((void **)&l->pf, &l->cap_pf, l->n_pf + 1, sizeof *l->pf))
    return SNAP_ENOMEM;
  memcpy(l->pend + l->pend_len, f, len);
  l->pf[l->n_pf++] = (struct pending_frame){l->pend_len, len, first, last};
  l->pend_len += len;
  return SNAP_OK;
}

/* Forget the copies of frames now durable (last_zxid <= z). */
static void pending_trim(struct txlog *l, int64_t z) {
  size_t k = 0;
  while (k < l->n_pf && l->pf[k].last_zxid <= z)
    k++;
  if (!k)
    return;
  size_t cut = k < l->n_pf ? l->pf[k].off : l->pend_len;
  memmove(l->pend, l->pend + cut, l->pend_len - cut);
  l->pend_len -= cut;
  memmove(l->pf, l->pf + k, (l->n_pf - k) * sizeof *l->pf);
  l->n_pf -= k;
  for (size_t i = 0; i < l->n_pf; i++)
    l->pf[i].off -= cut;
}

int txlog_append(struct txlog *l, const struct txlog_txn *txns, size_t n,
                 char *errmsg, size_t errmsg_len) {
  if (l->failed) {
    snap_errf(errmsg, errmsg_len, "log failed after a sync error");
    return SNAP_EFAILED;
  }
  if (!n) {
    snap_errf(errmsg, errmsg_len, "empty append");
    return SNAP_EINVAL;
  }
  if (l->pend_len > l->cfg.max_pending_bytes) {
    snap_errf(errmsg, errmsg_len, "%zu bytes appended but not yet synced",
              l->pend_len);
    return SNAP_EBUSY;
  }
  int64_t first = 0, last = 0;
  size_t flen = 0;
  int rc = frame_build(l, txns, n, &first, &last, &flen);
  if (rc != SNAP_OK) {
    snap_errf(errmsg, errmsg_len, "%s",
              rc == SNAP_EINVAL ? "transaction without a valid header or "
                                  "zxid not above the last appended"
                                : "out of memory");
    return rc;
  }
  const struct snap_io *io = l->io;
  if (l->fd < 0) {
    int e = segment_create(l, first);
    if (e < 0) {
      snap_errf(errmsg, errmsg_len, "cannot create %s: %s", l->path,
                strerror(-e));
      l->path[0] = 0;
      return snap_errno_code(e);
    }
  }
  int e = prealloc(l, flen);
  if (e == 0)
    e = snap_write_all(io, l->fd, l->frame, flen);
  if (e < 0) {
    /* Cut the partial frame so a later frame does not follow garbage. */
    int t = io->truncate(io->ctx, l->fd, l->end);
    if (t == 0)
      t = io->seek(io->ctx, l->fd, l->end);
    snap_errf(errmsg, errmsg_len, "write to %s at offset %" PRIu64 ": %s%s",
              l->path, l->end, strerror(-e),
              t == 0 ? "" : " (and the partial frame could not be cut)");
    if (t != 0)
      l->failed = true; /* txlog_retry starts a new segment */
    l->alloc_end = l->end;
    return snap_errno_code(e);
  }
  rc = pending_add(l, l->frame, flen, first, last);
  if (rc != SNAP_OK) {
    /* Without the copy a failed sync could not be repaired: take the
     * frame back. */
    io->truncate(io->ctx, l->fd, l->end);
    io->seek(io->ctx, l->fd, l->end);
    snap_errf(errmsg, errmsg_len, "out of memory");
    return rc;
  }
  l->end += flen;
  if (l->alloc_end < l->end)
    l->alloc_end = l->end;
  l->fd_dirty = true;
  l->last_zxid = last;
  l->frames++;
  l->txns += n;
  l->bytes += flen;
  return SNAP_OK;
}

int txlog_sync_begin(struct txlog *l, struct txlog_sync **out) {
  *out = NULL;
  if (l->in_flight)
    return SNAP_EBUSY;
  if (l->failed)
    return SNAP_EFAILED;
  if (l->last_zxid <= l->durable_zxid && !l->dir_dirty)
    return SNAP_OK;
  struct txlog_sync *s = calloc(1, sizeof *s);
  size_t n = l->n_retired + 1;
  if (!s || !(s->fds = malloc(n * sizeof *s->fds))) {
    free(s);
    return SNAP_ENOMEM;
  }
  s->io = l->io;
  s->force = l->cfg.force_sync;
  for (size_t i = 0; i < l->n_retired; i++)
    s->fds[s->n_fds++] = l->retired[i];
  if (l->fd >= 0 && l->fd_dirty)
    s->fds[s->n_fds++] = l->fd;
  s->dir = l->dir_dirty;
  snprintf(s->dirpath, sizeof s->dirpath, "%s", l->dir);
  s->zxid = l->last_zxid;
  l->fd_dirty = false;
  l->dir_dirty = false;
  l->in_flight = true;
  *out = s;
  return SNAP_OK;
}

void txlog_sync_run(struct txlog_sync *s) {
  if (!s->force)
    return;
  for (size_t i = 0; i < s->n_fds && !s->rc; i++) {
    s->rc = s->io->fsync(s->io->ctx, s->fds[i]);
    s->what = "fsync of a log segment";
  }
  if (!s->rc && s->dir) {
    s->rc = s->io->fsync_dir(s->io->ctx, s->dirpath);
    s->what = "fsync of the log directory";
  }
}

int txlog_sync_end(struct txlog *l, struct txlog_sync *s,
                   int64_t *durable_zxid, char *errmsg, size_t errmsg_len) {
  l->in_flight = false;
  int rc = SNAP_OK;
  if (s->rc) {
    snap_errf(errmsg, errmsg_len, "%s in %s: %s", s->what, l->dir,
              strerror(-s->rc));
    l->failed = true;
    rc = SNAP_EIO;
  } else {
    if (s->zxid > l->durable_zxid)
      l->durable_zxid = s->zxid;
    l->syncs++;
    pending_trim(l, l->durable_zxid);
    /* Close rolled segments whose every frame is now durable. */
    size_t k = 0;
    for (size_t i = 0; i < l->n_retired; i++) {
      if (l->retired_zxid[i] <= l->durable_zxid) {
        l->io->close(l->io->ctx, l->retired[i]);
      } else {
        l->retired[k] = l->retired[i];
        l->retired_zxid[k++] = l->retired_zxid[i];
      }
    }
    l->n_retired = k;
  }
  if (durable_zxid)
    *durable_zxid = l->durable_zxid;
  free(s->fds);
  free(s);
  return rc;
}

int txlog_sync(struct txlog *l, int64_t *durable_zxid, char *errmsg,
               size_t errmsg_len) {
  struct txlog_sync *s;
  int rc = txlog_sync_begin(l, &s);
  if (rc != SNAP_OK || !s) {
    if (rc != SNAP_OK)
      snap_errf(errmsg, errmsg_len, "%s", snap_strerror(rc));
    if (durable_zxid)
      *durable_zxid = l->durable_zxid;
    return rc;
  }
  txlog_sync_run(s);
  return txlog_sync_end(l, s, durable_zxid, errmsg, errmsg_len);
}

int txlog_retry(struct txlog *l, int64_t *durable_zxid, char *errmsg,
                size_t errmsg_len) {
  if (l->in_flight) {
    snap_errf(errmsg, errmsg_len, "a sync is in flight");
    return SNAP_EBUSY;
  }
  const struct snap_io *io = l->io;
  /* The segments written so far are in doubt past their durable part:
   * leave them (recovery cuts a torn tail that the next segment
   * continues) and close them. */
  if (l->fd >= 0)
    io->close(io->ctx, l->fd);
  l->fd = -1;
  for (size_t i = 0; i < l->n_retired; i++)
    io->close(io->ctx, l->retired[i]);
  l->n_retired = 0;
  l->failed = false;
  if (l->n_pf) {
    int64_t first = l->pf[0].first_zxid;
    char name[64];
    snprintf(name, sizeof name, "log.%" PRIx64, (uint64_t)first);
    char p[SNAP_PATH_MAX];
    snap_path_join(p, l->dir, name);
    /* A segment that began with the first frame in doubt holds nothing
     * durable: replace it. */
    io->unlink(io->ctx, p);
    int e = segment_create(l, first);
    if (e == 0)
      e = prealloc(l, l->pend_len);
    if (e == 0)
      e = snap_write_all(io, l->fd, l->pend, l->pend_len);
    if (e < 0) {
      snap_errf(errmsg, errmsg_len, "rewriting %zu unsynced bytes to %s: %s",
                l->pend_len, p, strerror(-e));
      if (l->fd >= 0) {
        io->close(io->ctx, l->fd);
        io->unlink(io->ctx, p);
      }
      l->fd = -1;
      l->failed = true;
      return snap_errno_code(e);
    }
    l->end += l->pend_len;
    if (l->alloc_end < l->end)
      l->alloc_end = l->end;
  }
  int rc = txlog_sync(l, durable_zxid, errmsg, errmsg_len);
  if (rc != SNAP_OK)
    l->failed = true;
  return rc;
}

void txlog_stats_get(const struct txlog *l, struct txlog_stats *s) {
  memset(s, 0, sizeof *s);
  s->last_appended_zxid = l->last_zxid;
  s->durable_zxid = l->durable_zxid;
  s->frames = l->frames;
  s->txns = l->txns;
  s->bytes = l->bytes;
  s->syncs = l->syncs;
  s->failed = l->failed;
  snprintf(s->segment, sizeof s->segment, "%s", l->fd >= 0 ? l->path : "");
}

int txlog_current_fd(const struct txlog *l) { return l->fd; }

/* ------------------------------------------------------------------ */
/* Reader */

struct txlog_reader {
  const struct snap_io *io;
  int fd;
  char path[SNAP_PATH_MAX];
  uint64_t off, size;
  int64_t last_zxid;
  int state; /* 0, or the sticky error */
  uint8_t *stored, *raw;
  size_t stored_cap, raw_cap;
  z_stream zs;
  bool zs_ok;
};

int txlog_reader_open(const char *path, const struct snap_io *io,
                      struct txlog_reader **out, int64_t *first_zxid,
                      char *errmsg, size_t errmsg_len) {
  if (!io)
    io = snap_io_posix();
  int fd = io->open(io->ctx, path, O_RDONLY, 0);
  if (fd < 0) {
    snap_errf(errmsg, errmsg_len, "cannot open %s: %s", path, strerror(-fd));
    return snap_errno_code(fd);
  }
  int64_t size = io->size(io->ctx, fd);
  uint8_t h[SNAP_HEADER_LEN];
  long k = size < 0 ? size : snap_read_full(io, fd, h, sizeof h);
  if (k < 0) {
    io->close(io->ctx, fd);
    snap_errf(errmsg, errmsg_len, "cannot read %s: %s", path, strerror((int)-k));
    return SNAP_EIO;
  }
  if (k < SNAP_HEADER_LEN) {
    io->close(io->ctx, fd);
    snap_errf(errmsg, errmsg_len,
              "%s: %ld bytes, shorter than the %d-byte header (torn at "
              "creation)",
              path, k, SNAP_HEADER_LEN);
    return SNAP_ETORN;
  }
  uint32_t flags;
  int64_t z;
  int rc = snap_header_decode(h, SNAP_LOG_MAGIC, &flags, &z);
  if (rc != SNAP_OK) {
    io->close(io->ctx, fd);
    snap_errf(errmsg, errmsg_len, "%s: %s at offset 0 (file header)", path,
              rc == SNAP_EVERSION ? "unsupported log format version"
                                  : "not a Roost log segment or bad header "
                                    "CRC");
    return rc;
  }
  struct txlog_reader *r = calloc(1, sizeof *r);
  if (!r || inflateInit2(&r->zs, -15) != Z_OK) {
    free(r);
    io->close(io->ctx, fd);
    snap_errf(errmsg, errmsg_len, "out of memory");
    return SNAP_ENOMEM;
  }
  r->zs_ok = true;
  r->io = io;
  r->fd = fd;
  snprintf(r->path, sizeof r->path, "%s", path);
  r->off = SNAP_HEADER_LEN;
  r->size = (uint64_t)size;
  r->last_zxid = z - 1;
  if (first_zxid)
    *first_zxid = z;
  *out = r;
  return SNAP_OK;
}

void txlog_reader_close(struct txlog_reader *r) {
  if (!r)
    return;
  r->io->close(r->io->ctx, r->fd);
  if (r->zs_ok)
    inflateEnd(&r->zs);
  free(r->stored);
  free(r->raw);
  free(r);
}

/* Does a frame with a valid header and CRC start at buf[0]? */
static bool frame_valid_at(const uint8_t *b, size_t avail) {
  if (avail < TXLOG_FRAME_HDR || memcmp(b, TXLOG_FRAME_MAGIC, 4) != 0)
    return false;
  uint32_t stored = snap_get32(b + 4);
  if (stored > TXLOG_MAX_STORED || stored > avail - TXLOG_FRAME_HDR)
    return false;
  uint32_t crc = snap_crc32(0, b + 12, TXLOG_FRAME_HDR - 12);
  crc = snap_crc32(crc, b + TXLOG_FRAME_HDR, stored);
  return crc == snap_get32(b + 8);
}

/* Read [from, size) into a new buffer (error paths only). */
static uint8_t *read_rest(struct txlog_reader *r, uint64_t from, size_t *len) {
  size_t n = (size_t)(r->size - from);
  uint8_t *b = malloc(n ? n : 1);
  if (!b)
    return NULL;
  if (r->io->seek(r->io->ctx, r->fd, from) < 0 ||
      snap_read_full(r->io, r->fd, b, n) != (long)n) {
    free(b);
    return NULL;
  }
  *len = n;
  return b;
}

/* The frame at `at` is bad: torn tail or corruption in the middle? */
static int classify_bad(struct txlog_reader *r, uint64_t at, const char *why,
                        uint64_t *bad_offset, char *errmsg,
                        size_t errmsg_len) {
  size_t n = 0;
  uint8_t *b = read_rest(r, at, &n);
  if (!b) {
    snap_errf(errmsg, errmsg_len, "%s: cannot re-read after offset %" PRIu64,
              r->path, at);
    return r->state = SNAP_EIO;
  }
  uint64_t valid_at = 0;
  for (size_t i = 1; i + TXLOG_FRAME_HDR <= n; i++) {
    const uint8_t *p = memchr(b + i, 'T', n - i);
    if (!p)
      break;
    i = (size_t)(p - b);
    if (frame_valid_at(p, n - i)) {
      valid_at = at + i;
      break;
    }
  }
  free(b);
  *bad_offset = at;
  if (valid_at) {
    snap_errf(errmsg, errmsg_len,
              "%s: corrupt frame at offset %" PRIu64
              " (%s) with a valid frame after it at offset %" PRIu64
              "; inspect with: roost-dump log %s",
              r->path, at, why, valid_at, r->path);
    return r->state = SNAP_ECORRUPT;
  }
  snap_errf(errmsg, errmsg_len,
            "%s: torn tail at offset %" PRIu64 " (%s), %" PRIu64
            " bytes to cut",
            r->path, at, why, r->size - at);
  return r->state = SNAP_ETORN;
}

static bool all_zero(const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (b[i])
      return false;
  return true;
}

int txlog_reader_next(struct txlog_reader *r, struct txlog_frame *f,
                      uint64_t *bad_offset, char *errmsg, size_t errmsg_len) {
  uint64_t dummy;
  if (!bad_offset)
    bad_offset = &dummy;
  if (r->state) {
    snap_errf(errmsg, errmsg_len, "%s: reader stopped at an error", r->path);
    return r->state;
  }
  uint64_t at = r->off;
  if (at >= r->size)
    return 0;
  const struct snap_io *io = r->io;
  if (io->seek(io->ctx, r->fd, at) < 0) {
    snap_errf(errmsg, errmsg_len, "%s: seek failed", r->path);
    return r->state = SNAP_EIO;
  }
  uint8_t h[TXLOG_FRAME_HDR];
  size_t want = r->size - at < TXLOG_FRAME_HDR ? (size_t)(r->size - at)
                                               : TXLOG_FRAME_HDR;
  long k = snap_read_full(io, r->fd, h, want);
  if (k != (long)want) {
    snap_errf(errmsg, errmsg_len, "%s: read failed at offset %" PRIu64,
              r->path, at);
    return r->state = SNAP_EIO;
  }
  if (want >= 4 && all_zero(h, 4)) {
    /* Preallocated zeros end the data if nothing but zeros follows. */
    size_t n = 0;
    uint8_t *b = read_rest(r, at, &n);
    if (!b) {
      snap_errf(errmsg, errmsg_len, "%s: read failed at offset %" PRIu64,
                r->path, at);
      return r->state = SNAP_EIO;
    }
    bool z = all_zero(b, n);
    free(b);
    if (z) {
      r->off = r->size;
      return 0;
    }
    return classify_bad(r, at, "zeros, then data", bad_offset, errmsg,
                        errmsg_len);
  }
  if (want < TXLOG_FRAME_HDR)
    return classify_bad(r, at, "incomplete frame header", bad_offset, errmsg,
                        errmsg_len);
  if (memcmp(h, TXLOG_FRAME_MAGIC, 4) != 0)
    return classify_bad(r, at, "bad frame magic", bad_offset, errmsg,
                        errmsg_len);
  uint32_t stored = snap_get32(h + 4);
  if (stored > TXLOG_MAX_STORED)
    return classify_bad(r, at, "frame length out of range", bad_offset,
                        errmsg, errmsg_len);
  if (stored > r->size - at - TXLOG_FRAME_HDR)
    return classify_bad(r, at, "frame extends past the end of the file",
                        bad_offset, errmsg, errmsg_len);
  if (!grow_buf((void **)&r->stored, &r->stored_cap, stored ? stored : 1, 1)) {
    snap_errf(errmsg, errmsg_len, "out of memory");
    return r->state = SNAP_ENOMEM;
  }
  k = snap_read_full(io, r->fd, r->stored, stored);
  if (k != (long)stored) {
    snap_errf(errmsg, errmsg_len, "%s: read failed at offset %" PRIu64,
              r->path, at);
    return r->state = SNAP_EIO;
  }
  uint32_t crc = snap_crc32(0, h + 12, TXLOG_FRAME_HDR - 12);
  crc = snap_crc32(crc, r->stored, stored);
  if (crc != snap_get32(h + 8))
    return classify_bad(r, at, "CRC mismatch", bad_offset, errmsg,
                        errmsg_len);

  /* The CRC holds: anything wrong from here on was written that way. */
  memset(f, 0, sizeof *f);
  f->offset = at;
  f->stored_len = stored;
  f->first_zxid = (int64_t)snap_get64(h + 12);
  f->last_zxid = (int64_t)snap_get64(h + 20);
  f->n_txns = snap_get32(h + 28);
  f->raw_len = snap_get32(h + 32);
  f->method = h[36];
  const char *why = NULL;
  if (f->raw_len > TXLOG_MAX_RAW || f->method > 1 ||
      (f->method == 0 && f->raw_len != stored) || f->n_txns == 0 ||
      f->n_txns > f->raw_len / 4)
    why = "bad frame fields";
  else if (!grow_buf((void **)&r->raw, &r->raw_cap,
                     f->raw_len ? f->raw_len : 1, 1)) {
    snap_errf(errmsg, errmsg_len, "out of memory");
    return r->state = SNAP_ENOMEM;
  }
  if (!why && f->method == 0) {
    memcpy(r->raw, r->stored, stored);
  } else if (!why) {
    inflateReset(&r->zs);
    r->zs.next_in = r->stored;
    r->zs.avail_in = stored;
    r->zs.next_out = r->raw;
    r->zs.avail_out = f->raw_len;
    int zr = inflate(&r->zs, Z_FINISH);
    if (zr != Z_STREAM_END || r->zs.total_out != f->raw_len ||
        r->zs.avail_in != 0)
      why = "payload does not inflate to its length";
  }
  f->raw = r->raw;
  /* Transactions: lengths add up, zxids increase from first to last. */
  if (!why) {
    size_t pos = 0, count = 0;
    const uint8_t *txn;
    size_t len;
    int64_t prev = r->last_zxid;
    while (txlog_frame_next_txn(f, &pos, &txn, &len)) {
      struct tree_txn_header th;
      if (tree_txn_header_decode(txn, len, &th) != PROTO_OK) {
        why = "a transaction without a valid header";
        break;
      }
      if (th.zxid <= prev || (count == 0 && th.zxid != f->first_zxid)) {
        why = "transaction zxids out of order";
        break;
      }
      prev = th.zxid;
      count++;
    }
    if (!why && (pos != f->raw_len || count != f->n_txns ||
                 prev != f->last_zxid))
      why = "transactions do not fill the frame";
  }
  if (why) {
    *bad_offset = at;
    snap_errf(errmsg, errmsg_len,
              "%s: corrupt frame at offset %" PRIu64
              " (%s, CRC valid); inspect with: roost-dump log %s",
              r->path, at, why, r->path);
    return r->state = SNAP_ECORRUPT;
  }
  r->last_zxid = f->last_zxid;
  r->off = at + TXLOG_FRAME_HDR + stored;
  return 1;
}

bool txlog_frame_next_txn(const struct txlog_frame *f, size_t *pos,
                          const uint8_t **txn, size_t *len) {
  if (*pos + 4 > f->raw_len)
    return false;
  uint32_t n = snap_get32(f->raw + *pos);
  if (n > f->raw_len - *pos - 4)
    return false;
  *txn = f->raw + *pos + 4;
  *len = n;
  *pos += 4 + n;
  return true;
}

int txlog_truncate(const char *path, const struct snap_io *io,
                   uint64_t offset, char *errmsg, size_t errmsg_len) {
  if (!io)
    io = snap_io_posix();
  int fd = io->open(io->ctx, path, O_WRONLY, 0);
  if (fd < 0) {
    snap_errf(errmsg, errmsg_len, "cannot open %s: %s", path, strerror(-fd));
    return snap_errno_code(fd);
  }
  int rc = io->truncate(io->ctx, fd, offset);
  if (rc == 0)
    rc = io->fsync(io->ctx, fd);
  io->close(io->ctx, fd);
  if (rc < 0) {
    snap_errf(errmsg, errmsg_len, "cannot truncate %s: %s", path,
              strerror(-rc));
    return SNAP_EIO;
  }
  return SNAP_OK;
}
