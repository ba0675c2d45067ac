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
 * The writer writes everything staged since the last flush, often many
 * transactions in one frame, with one write(2).  A frame's payload is
 * deflated (zlib level cfg.level, raw deflate) when it is at least
 * TXLOG_DEFLATE_MIN bytes and deflate shrinks it; else it is stored.
 * Deflate backs off while it does not pay (TXLOG_DEFLATE_BACKOFF).
 * Zeros after the last frame (preallocation) read as the end.  See
 * docs/storage-format.md. */
#include "snapshot/snap_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ------------------------------------------------------------------ */
/* Writer
 *
 * The log keeps in `pend` a copy of every frame not known durable (for
 * txlog_retry), followed by the open frame that txlog_stage fills:
 *
 *   pend: [frame][frame]...[frame][open frame: header, txn, txn, ...]
 *         |<- in a segment ->|<- staged, not written yet (flush) ->|
 *
 * txlog_flush closes the open frame (header, CRC) and writes everything
 * staged with one write(2).  Staging reserves the room in the segment
 * first (preallocation), so a full disk is reported by txlog_stage, before
 * the caller applies anything; a flush into reserved room can still fail
 * (EIO), and then the log is failed like after an fsync error. */

/* An open frame is closed once its payload would pass this, so frames
 * stay far below the reader's TXLOG_MAX_STORED. */
#define TXLOG_FRAME_SPLIT ((size_t)1 << 20)
/* Bound of one transaction (far above jute.maxbuffer; a frame of one must
 * stay below TXLOG_MAX_STORED). */
#define TXLOG_MAX_TXN ((size_t)16 << 20)
/* Payloads smaller than this are stored: too little to gain. */
#define TXLOG_DEFLATE_MIN ((size_t)256)
/* Deflate is kept up only while it pays: zlib level 1 costs about a
 * third of the server's CPU per write (measured on create and setData of
 * 100-byte random values: 10.4 against 6.7 microseconds per operation),
 * and a log frame is written once, read only by recovery and removed by
 * purge.  So a payload that deflate does not shrink to at most half
 * (random values in 200-byte transactions come to about 58%: only paths
 * and headers repeat) makes the next frames go stored without trying:
 * TXLOG_DEFLATE_BACKOFF of them, doubling after every probe that fails
 * again up to TXLOG_DEFLATE_BACKOFF_MAX, back to the start after a probe
 * that pays.  A probe's output is still kept when it is smaller. */
#define TXLOG_DEFLATE_BACKOFF 16u
#define TXLOG_DEFLATE_BACKOFF_MAX 1024u
/* First preallocation step of a segment (bytes). */
#define TXLOG_PREALLOC_MIN ((uint64_t)64 << 10)

struct pending_frame {
  size_t off; /* in pend */
  size_t len;
  int64_t first_zxid, last_zxid;
};

/* The token of the sync in flight.  One per log, kept between syncs (the
 * fds array keeps its room): a sync a write costs no allocation.  Only
 * txlog_sync_run reads it off the loop thread. */
struct txlog_sync {
  const struct snap_io *io;
  bool force;
  int *fds;
  size_t n_fds, cap_fds;
  bool dir;
  char dirpath[SNAP_PATH_MAX]; /* set only when dir */
  int64_t zxid;
  int rc; /* 0 or -errno of the first failure */
  const char *what;
};

struct txlog {
  struct txlog_config cfg;
  char dir[SNAP_PATH_MAX];
  const struct snap_io *io;

  int fd; /* current segment, -1 = none (next append opens one) */
  char path[SNAP_PATH_MAX];
  uint64_t end;       /* bytes of header + frames written */
  uint64_t alloc_end; /* preallocated size */
  bool no_reserve;    /* no preallocation: txlog_stage writes through */
  bool fd_dirty;      /* written since the last sync began */
  bool dir_dirty;     /* a segment was created since the last sync began */

  int *retired; /* rolled segments, closed once synced */
  int64_t *retired_zxid;
  size_t n_retired, cap_retired;

  bool in_flight; /* tok is out (txlog_sync_begin .. txlog_sync_end) */
  bool failed;
  struct txlog_sync tok;
  int64_t last_zxid;    /* last appended (staged or written) */
  int64_t written_zxid; /* last in a segment */
  int64_t durable_zxid;

  /* Copy of every frame not known durable, then the open frame. */
  uint8_t *pend;
  size_t pend_len, pend_cap;
  size_t pend_written;      /* pend[0, pend_written) is in a segment */
  struct pending_frame *pf; /* closed frames */
  size_t n_pf, cap_pf;
  bool open; /* a frame is being staged at pend[open_off] */
  bool zs_ready;
  size_t open_off;
  uint32_t open_n;
  uint32_t deflate_skip;    /* frames to store before trying deflate again */
  uint32_t deflate_backoff; /* the next skip after a probe that fails */
  int64_t open_first;
  uint64_t staged_frames, staged_txns; /* since the last flush */

  /* Deflate state, made at the first frame worth deflating (zs_ready
   * and deflate_skip sit above, for the struct's layout). */
  z_stream zs;
  uint8_t *zbuf;
  size_t zbuf_cap;

  uint64_t frames, txns, bytes, syncs;
  uint64_t deflate_tries; /* frames deflate was run on */
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
  l->no_reserve = !l->cfg.prealloc_bytes || !l->io->allocate;
  l->fd = -1;
  *out = l;
  return SNAP_OK;
}

static int flush(struct txlog *l, bool rollback, char *errmsg,
                 size_t errmsg_len);

void txlog_close(struct txlog *l) {
  if (!l)
    return;
  /* Written, not synced: what a crash now could lose anyway, but a clean
   * stop that skipped the final sync keeps it. */
  if (!l->failed && !l->in_flight)
    flush(l, false, NULL, 0);
  if (l->fd >= 0)
    l->io->close(l->io->ctx, l->fd);
  for (size_t i = 0; i < l->n_retired; i++)
    l->io->close(l->io->ctx, l->retired[i]);
  free(l->retired);
  free(l->retired_zxid);
  free(l->tok.fds);
  free(l->pend);
  free(l->pf);
  if (l->zs_ready)
    deflateEnd(&l->zs);
  free(l->zbuf);
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
  /* What is staged belongs to this segment.  A failed write fails the
   * log; txlog_retry then rewrites it into a new segment. */
  if (!l->failed)
    flush(l, false, NULL, 0);
  /* The preallocated rest of a finished segment is only wasted space:
   * give it back (the next sync of the segment makes that durable too). */
  if (!l->failed && l->alloc_end > l->end &&
      l->io->truncate(l->io->ctx, l->fd, l->end) == 0)
    l->alloc_end = l->end;
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
  char name[96];
  snprintf(name, sizeof name, "log.%" PRIx64 "%.24s", (uint64_t)first_zxid,
           l->cfg.segment_suffix ? l->cfg.segment_suffix : "");
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

/* The zxid of a transaction, which must follow `prev`.  SNAP_OK or
 * SNAP_EINVAL. */
static int txn_zxid(const struct txlog_txn *t, int64_t prev, int64_t *zxid) {
  struct tree_txn_header h;
  if (t->len > TXLOG_MAX_TXN ||
      tree_txn_header_decode(t->buf, t->len, &h) != PROTO_OK || h.zxid <= prev)
    return SNAP_EINVAL;
  *zxid = h.zxid;
  return SNAP_OK;
}

/* Bytes the segment holds once everything staged is written. */
static uint64_t staged_end(const struct txlog *l) {
  return l->end + (l->pend_len - l->pend_written);
}

/* Make sure `need` more bytes after everything staged lie inside the
 * preallocated (reserved) part of the segment.  Returns 0, 1 when the
 * file system cannot preallocate (the caller writes through), or
 * -errno (ENOSPC: the disk is full even for just these bytes). */
static int reserve(struct txlog *l, size_t need) {
  if (l->no_reserve)
    return 1;
  uint64_t want = staged_end(l) + need;
  if (want <= l->alloc_end)
    return 0;
  /* Steps grow with the segment up to prealloc_bytes: the zeros are
   * written to disk once more by the next fsync, which a short segment
   * (small snapCount) should not pay a whole step of. */
  uint64_t step =
      l->alloc_end > TXLOG_PREALLOC_MIN ? l->alloc_end : TXLOG_PREALLOC_MIN;
  if (step > l->cfg.prealloc_bytes)
    step = l->cfg.prealloc_bytes;
  uint64_t target = l->alloc_end;
  while (target < want)
    target += step;
  const struct snap_io *io = l->io;
  int rc = io->allocate(io->ctx, l->fd, l->alloc_end, target - l->alloc_end);
  if ((rc == -ENOSPC || rc == -EDQUOT) && target > want) {
    /* Nearly full: a whole step does not fit, these bytes may. */
    target = want;
    rc = io->allocate(io->ctx, l->fd, l->alloc_end, target - l->alloc_end);
  }
  if (rc == -EOPNOTSUPP || rc == -ENOSYS || rc == -EINVAL) {
    l->no_reserve = true;
    return 1;
  }
  if (rc < 0)
    return rc;
  l->alloc_end = target;
  return 0;
}

/* Deflates the raw payload p[0, raw) in place when that shrinks it.
 * Returns the stored length (raw when stored).  Never fails: without
 * memory the payload is simply stored. */
static size_t frame_deflate(struct txlog *l, uint8_t *p, size_t raw) {
  if (l->cfg.level <= 0 || raw < TXLOG_DEFLATE_MIN)
    return raw;
  if (l->deflate_skip > 0) {
    l->deflate_skip--;
    return raw;
  }
  l->deflate_tries++;
  if (!l->zs_ready) {
    int lvl = l->cfg.level > 9 ? 9 : l->cfg.level;
    if (deflateInit2(&l->zs, lvl, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
      return raw;
    l->zs_ready = true;
  }
  size_t bound = deflateBound(&l->zs, (uLong)raw);
  if (!grow_buf((void **)&l->zbuf, &l->zbuf_cap, bound, 1))
    return raw;
  deflateReset(&l->zs);
  l->zs.next_in = p;
  l->zs.avail_in = (uInt)raw;
  l->zs.next_out = l->zbuf;
  l->zs.avail_out = (uInt)bound;
  size_t out =
      deflate(&l->zs, Z_FINISH) == Z_STREAM_END ? l->zs.total_out : raw;
  if (out > raw / 2) {
    if (l->deflate_backoff < TXLOG_DEFLATE_BACKOFF)
      l->deflate_backoff = TXLOG_DEFLATE_BACKOFF;
    l->deflate_skip = l->deflate_backoff;
    if (l->deflate_backoff < TXLOG_DEFLATE_BACKOFF_MAX)
      l->deflate_backoff *= 2;
  } else {
    l->deflate_backoff = TXLOG_DEFLATE_BACKOFF;
  }
  if (out >= raw)
    return raw;
  memcpy(p, l->zbuf, out);
  return out;
}

/* Header and CRC of the open frame; it joins the closed frames (their
 * slot was reserved when it opened, for the raw size: a deflated payload
 * only shrinks it). */
static void frame_close(struct txlog *l) {
  if (!l->open)
    return;
  uint8_t *f = l->pend + l->open_off;
  size_t raw = l->pend_len - l->open_off - TXLOG_FRAME_HDR;
  size_t stored = frame_deflate(l, f + TXLOG_FRAME_HDR, raw);
  l->pend_len = l->open_off + TXLOG_FRAME_HDR + stored;
  memcpy(f, TXLOG_FRAME_MAGIC, 4);
  proto_store_be32(f + 4, (uint32_t)stored);
  proto_store_be64(f + 12, (uint64_t)l->open_first);
  proto_store_be64(f + 20, (uint64_t)l->last_zxid);
  proto_store_be32(f + 28, l->open_n);
  proto_store_be32(f + 32, (uint32_t)raw);
  f[36] = stored < raw ? 1 : 0; /* 1: raw deflate */
  f[37] = f[38] = f[39] = 0;
  uint32_t crc = snap_crc32(0, f + 12, TXLOG_FRAME_HDR - 12);
  crc = snap_crc32(crc, f + TXLOG_FRAME_HDR, stored);
  proto_store_be32(f + 8, crc);
  l->pf[l->n_pf++] = (struct pending_frame){
      l->open_off, l->pend_len - l->open_off, l->open_first, l->last_zxid};
  l->open = false;
}

/* Copy one transaction into the open frame (opening one if needed).
 * SNAP_OK or SNAP_ENOMEM (nothing changed). */
static int frame_add(struct txlog *l, const struct txlog_txn *t, int64_t zxid,
                     bool split) {
  if (split && l->open &&
      l->pend_len - l->open_off - TXLOG_FRAME_HDR + 4 + t->len >
          TXLOG_FRAME_SPLIT)
    frame_close(l);
  size_t need = (l->open ? 0 : TXLOG_FRAME_HDR) + 4 + t->len;
  if (!grow_buf((void **)&l->pend, &l->pend_cap, l->pend_len + need, 1) ||
      !grow_buf((void **)&l->pf, &l->cap_pf, l->n_pf + 1, sizeof *l->pf))
    return SNAP_ENOMEM;
  if (!l->open) {
    l->open = true;
    l->open_off = l->pend_len;
    l->open_n = 0;
    l->open_first = zxid;
    l->pend_len += TXLOG_FRAME_HDR;
    l->staged_frames++;
  }
  proto_store_be32(l->pend + l->pend_len, (uint32_t)t->len);
  memcpy(l->pend + l->pend_len + 4, t->buf, t->len);
  l->pend_len += 4 + t->len;
  l->open_n++;
  l->last_zxid = zxid;
  l->staged_txns++;
  return SNAP_OK;
}

/* Forget what was staged since the last flush. */
static void unstage(struct txlog *l) {
  l->pend_len = l->pend_written;
  l->n_pf -= l->staged_frames; /* flush closed the open frame */
  l->staged_frames = l->staged_txns = 0;
  l->last_zxid = l->written_zxid;
}

/* Write everything staged (one write).  On failure the partial write is
 * cut; then with `rollback` the staged transactions are dropped (the
 * caller has not applied them), else the log is failed (they are kept for
 * txlog_retry).  SNAP_OK, or the error with errmsg. */
static int flush(struct txlog *l, bool rollback, char *errmsg,
                 size_t errmsg_len) {
  frame_close(l);
  size_t n = l->pend_len - l->pend_written;
  if (!n)
    return SNAP_OK;
  const struct snap_io *io = l->io;
  int e = snap_write_all(io, l->fd, l->pend + l->pend_written, n);
  if (e < 0) {
    /* Cut the partial write so a later frame does not follow garbage. */
    int t = io->truncate(io->ctx, l->fd, l->end);
    if (t == 0)
      t = io->seek(io->ctx, l->fd, l->end);
    l->alloc_end = l->end;
    snap_errf(errmsg, errmsg_len, "write to %s at offset %" PRIu64 ": %s%s",
              l->path, l->end, strerror(-e),
              t == 0 ? "" : " (and the partial write could not be cut)");
    if (rollback)
      unstage(l);
    if (!rollback || t != 0)
      l->failed = true; /* txlog_retry starts a new segment */
    return snap_errno_code(e);
  }
  l->end += n;
  if (l->alloc_end < l->end)
    l->alloc_end = l->end;
  l->pend_written = l->pend_len;
  l->fd_dirty = true;
  l->written_zxid = l->last_zxid;
  l->frames += l->staged_frames;
  l->txns += l->staged_txns;
  l->bytes += n;
  l->staged_frames = l->staged_txns = 0;
  return SNAP_OK;
}

/* Checks shared by the append functions.  SNAP_OK or the refusal. */
static int append_check(struct txlog *l, char *errmsg, size_t errmsg_len) {
  if (l->failed) {
    snap_errf(errmsg, errmsg_len, "log failed after a sync error");
    return SNAP_EFAILED;
  }
  if (l->pend_len > l->cfg.max_pending_bytes) {
    snap_errf(errmsg, errmsg_len, "%zu bytes appended but not yet synced",
              l->pend_len);
    return SNAP_EBUSY;
  }
  return SNAP_OK;
}

static int open_segment(struct txlog *l, int64_t first, char *errmsg,
                        size_t errmsg_len) {
  if (l->fd >= 0)
    return SNAP_OK;
  int e = segment_create(l, first);
  if (e < 0) {
    snap_errf(errmsg, errmsg_len, "cannot create %s: %s", l->path,
              strerror(-e));
    l->path[0] = 0;
    return snap_errno_code(e);
  }
  return SNAP_OK;
}

static int reserve_or_fail(struct txlog *l, size_t need, char *errmsg,
                           size_t errmsg_len) {
  int e = reserve(l, need);
  if (e < 0)
    snap_errf(errmsg, errmsg_len,
              "preallocating %zu bytes in %s at offset %" PRIu64 ": %s", need,
              l->path, l->alloc_end, strerror(-e));
  return e;
}

/* The log's own invariants, at the entry of staging: what is written
 * lies in the copy kept, the durable point is behind the written one,
 * which is behind the last staged, and the written end of a segment
 * within its preallocated size. */
static void check_log(const struct txlog *l) {
  assert(l->pend_written <= l->pend_len && l->pend_len <= l->pend_cap);
  assert(l->durable_zxid <= l->written_zxid || l->written_zxid == 0);
  assert(l->written_zxid <= l->last_zxid);
  assert(!l->open || l->open_off <= l->pend_len);
  assert(l->fd < 0 || l->no_reserve || l->end <= l->alloc_end);
  (void)l;
}

int txlog_stage(struct txlog *l, const struct txlog_txn *txn, char *errmsg,
                size_t errmsg_len) {
  assert(l != NULL && txn != NULL);
  check_log(l);
  int rc = append_check(l, errmsg, errmsg_len);
  if (rc != SNAP_OK)
    return rc;
  int64_t zxid = 0;
  if (txn_zxid(txn, l->last_zxid, &zxid) != SNAP_OK) {
    snap_errf(errmsg, errmsg_len,
              "transaction without a valid header or "
              "zxid not above the last appended");
    return SNAP_EINVAL;
  }
  rc = open_segment(l, zxid, errmsg, errmsg_len);
  if (rc != SNAP_OK)
    return rc;
  /* At most a new frame header and the transaction. */
  int e =
      reserve_or_fail(l, TXLOG_FRAME_HDR + 4 + txn->len, errmsg, errmsg_len);
  if (e < 0)
    return snap_errno_code(e);
  if (e == 1 && l->pend_len > l->pend_written) {
    /* Staged while there was room reserved: the caller applied those,
     * so a failure to write them fails the log (not a rollback). */
    rc = flush(l, false, errmsg, errmsg_len);
    if (rc != SNAP_OK)
      return rc;
  }
  if (frame_add(l, txn, zxid, true) != SNAP_OK) {
    snap_errf(errmsg, errmsg_len, "out of memory");
    return SNAP_ENOMEM;
  }
  /* Without reserved room a later write could hit a full disk after the
   * caller applied the transaction: write it now. */
  return e == 1 ? flush(l, true, errmsg, errmsg_len) : SNAP_OK;
}

int txlog_flush(struct txlog *l, char *errmsg, size_t errmsg_len) {
  if (l->failed) {
    snap_errf(errmsg, errmsg_len, "log failed after a sync error");
    return SNAP_EFAILED;
  }
  return flush(l, false, errmsg, errmsg_len);
}

int txlog_append(struct txlog *l, const struct txlog_txn *txns, size_t n,
                 char *errmsg, size_t errmsg_len) {
  int rc = append_check(l, errmsg, errmsg_len);
  if (rc != SNAP_OK)
    return rc;
  if (!n) {
    snap_errf(errmsg, errmsg_len, "empty append");
    return SNAP_EINVAL;
  }
  size_t raw = 0;
  int64_t prev = l->last_zxid, first = 0;
  for (size_t i = 0; i < n; i++) {
    if (txn_zxid(&txns[i], prev, &prev) != SNAP_OK ||
        (raw += 4 + txns[i].len) > TXLOG_MAX_STORED) {
      snap_errf(errmsg, errmsg_len,
                "transaction without a valid header or "
                "zxid not above the last appended");
      return SNAP_EINVAL;
    }
    if (i == 0)
      first = prev;
  }
  /* Staged transactions go first, in their own frame. */
  rc = flush(l, false, errmsg, errmsg_len);
  if (rc == SNAP_OK)
    rc = open_segment(l, first, errmsg, errmsg_len);
  if (rc != SNAP_OK)
    return rc;
  int e = reserve_or_fail(l, TXLOG_FRAME_HDR + raw, errmsg, errmsg_len);
  if (e < 0)
    return snap_errno_code(e);
  /* One frame, whatever its size. */
  if (!grow_buf((void **)&l->pend, &l->pend_cap,
                l->pend_len + TXLOG_FRAME_HDR + raw, 1) ||
      !grow_buf((void **)&l->pf, &l->cap_pf, l->n_pf + 1, sizeof *l->pf)) {
    snap_errf(errmsg, errmsg_len, "out of memory");
    return SNAP_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    int64_t z = 0;
    (void)txn_zxid(&txns[i], l->last_zxid, &z);
    (void)frame_add(l, &txns[i], z, false); /* room grown above */
  }
  return flush(l, true, errmsg, errmsg_len);
}

/* Forget the copies of frames now durable (last_zxid <= z). */
static void pending_trim(struct txlog *l, int64_t z) {
  size_t k = 0;
  while (k < l->n_pf && l->pf[k].last_zxid <= z)
    k++;
  if (!k)
    return;
  size_t cut = k < l->n_pf ? l->pf[k].off : l->open ? l->open_off : l->pend_len;
  memmove(l->pend, l->pend + cut, l->pend_len - cut);
  l->pend_len -= cut;
  l->pend_written -= cut; /* durable frames were written */
  if (l->open)
    l->open_off -= cut;
  memmove(l->pf, l->pf + k, (l->n_pf - k) * sizeof *l->pf);
  l->n_pf -= k;
  for (size_t i = 0; i < l->n_pf; i++)
    l->pf[i].off -= cut;
}

int txlog_sync_begin(struct txlog *l, struct txlog_sync **out) {
  *out = NULL;
  if (l->in_flight)
    return SNAP_EBUSY;
  if (l->failed)
    return SNAP_EFAILED;
  int rc = flush(l, false, NULL, 0);
  if (rc != SNAP_OK)
    return rc;
  if (l->last_zxid <= l->durable_zxid && !l->dir_dirty)
    return SNAP_OK;
  struct txlog_sync *s = &l->tok;
  if (!grow_buf((void **)&s->fds, &s->cap_fds, l->n_retired + 1,
                sizeof *s->fds))
    return SNAP_ENOMEM;
  s->io = l->io;
  s->force = l->cfg.force_sync;
  s->n_fds = 0;
  for (size_t i = 0; i < l->n_retired; i++)
    s->fds[s->n_fds++] = l->retired[i];
  if (l->fd >= 0 && l->fd_dirty)
    s->fds[s->n_fds++] = l->fd;
  s->dir = l->dir_dirty;
  if (s->dir)
    snprintf(s->dirpath, sizeof s->dirpath, "%s", l->dir);
  s->zxid = l->last_zxid;
  s->rc = 0;
  s->what = NULL;
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

int txlog_sync_end(struct txlog *l, struct txlog_sync *s, int64_t *durable_zxid,
                   char *errmsg, size_t errmsg_len) {
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
  return rc;
}

int txlog_sync(struct txlog *l, int64_t *durable_zxid, char *errmsg,
               size_t errmsg_len) {
  struct txlog_sync *s;
  int rc =
      l->failed || l->in_flight ? SNAP_OK : flush(l, false, errmsg, errmsg_len);
  if (rc != SNAP_OK) {
    if (durable_zxid)
      *durable_zxid = l->durable_zxid;
    return rc;
  }
  rc = txlog_sync_begin(l, &s);
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
  frame_close(l);
  /* Everything not known durable goes again, staged or not. */
  l->pend_written = 0;
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
    if (e == 0) {
      e = reserve(l, 0);
      e = e > 0 ? 0 : e;
    }
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
  l->pend_written = l->pend_len;
  l->written_zxid = l->last_zxid;
  l->frames += l->staged_frames;
  l->txns += l->staged_txns;
  l->staged_frames = l->staged_txns = 0;
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
  s->deflate_tries = l->deflate_tries;
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
    snap_errf(errmsg, errmsg_len, "cannot read %s: %s", path,
              strerror((int)-k));
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
  uint32_t stored = proto_load_be32(b + 4);
  if (stored > TXLOG_MAX_STORED || stored > avail - TXLOG_FRAME_HDR)
    return false;
  uint32_t crc = snap_crc32(0, b + 12, TXLOG_FRAME_HDR - 12);
  crc = snap_crc32(crc, b + TXLOG_FRAME_HDR, stored);
  return crc == proto_load_be32(b + 8);
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
                        uint64_t *bad_offset, char *errmsg, size_t errmsg_len) {
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
  size_t want =
      r->size - at < TXLOG_FRAME_HDR ? (size_t)(r->size - at) : TXLOG_FRAME_HDR;
  long k = snap_read_full(io, r->fd, h, want);
  if (k != (long)want) {
    snap_errf(errmsg, errmsg_len, "%s: read failed at offset %" PRIu64, r->path,
              at);
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
  uint32_t stored = proto_load_be32(h + 4);
  if (stored > TXLOG_MAX_STORED)
    return classify_bad(r, at, "frame length out of range", bad_offset, errmsg,
                        errmsg_len);
  if (stored > r->size - at - TXLOG_FRAME_HDR)
    return classify_bad(r, at, "frame extends past the end of the file",
                        bad_offset, errmsg, errmsg_len);
  if (!grow_buf((void **)&r->stored, &r->stored_cap, stored ? stored : 1, 1)) {
    snap_errf(errmsg, errmsg_len, "out of memory");
    return r->state = SNAP_ENOMEM;
  }
  k = snap_read_full(io, r->fd, r->stored, stored);
  if (k != (long)stored) {
    snap_errf(errmsg, errmsg_len, "%s: read failed at offset %" PRIu64, r->path,
              at);
    return r->state = SNAP_EIO;
  }
  uint32_t crc = snap_crc32(0, h + 12, TXLOG_FRAME_HDR - 12);
  crc = snap_crc32(crc, r->stored, stored);
  if (crc != proto_load_be32(h + 8))
    return classify_bad(r, at, "CRC mismatch", bad_offset, errmsg, errmsg_len);

  /* The CRC holds: anything wrong from here on was written that way. */
  memset(f, 0, sizeof *f);
  f->offset = at;
  f->stored_len = stored;
  f->first_zxid = (int64_t)proto_load_be64(h + 12);
  f->last_zxid = (int64_t)proto_load_be64(h + 20);
  f->n_txns = proto_load_be32(h + 28);
  f->raw_len = proto_load_be32(h + 32);
  f->method = h[36];
  const char *why = NULL;
  if (f->raw_len > TXLOG_MAX_RAW || f->method > 1 ||
      (f->method == 0 && f->raw_len != stored) || f->n_txns == 0 ||
      f->n_txns > f->raw_len / 4)
    why = "bad frame fields";
  else if (!grow_buf((void **)&r->raw, &r->raw_cap, f->raw_len ? f->raw_len : 1,
                     1)) {
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
    if (!why &&
        (pos != f->raw_len || count != f->n_txns || prev != f->last_zxid))
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
  uint32_t n = proto_load_be32(f->raw + *pos);
  if (n > f->raw_len - *pos - 4)
    return false;
  *txn = f->raw + *pos + 4;
  *len = n;
  *pos += 4 + n;
  return true;
}

int txlog_truncate(const char *path, const struct snap_io *io, uint64_t offset,
                   char *errmsg, size_t errmsg_len) {
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
