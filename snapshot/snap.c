/* Snapshot files: header (magic "ROOSTSNP", version, flags, zxid, CRC),
 * then the tree stream (tree_serialize) in one lz4 frame with block
 * checksums and a content checksum, ending exactly at the end of the
 * file.  Written to snapshot.<zxid>.tmp, fsynced, renamed, directory
 * fsynced. */
#include "snapshot/snap_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAP_FLAG_LZ4 1u
#define SNAP_IO_CHUNK (1u << 20)

/* ------------------------------------------------------------------ */
/* Writer */

struct snap_writer {
  const struct snap_io *io;
  int fd;
  LZ4F_cctx *cctx;
  uint8_t *out;
  size_t out_cap;
  uint64_t bytes;
  int err; /* -errno of the first failure */
  bool lz4_failed;
};

static bool sw_out(struct snap_writer *w, size_t n) {
  if (!n)
    return true;
  int e = snap_write_all(w->io, w->fd, w->out, n);
  if (e < 0) {
    w->err = e;
    return false;
  }
  w->bytes += n;
  return true;
}

static bool sw_feed(void *arg, const void *buf, size_t len) {
  struct snap_writer *w = arg;
  const uint8_t *p = buf;
  while (len) {
    /* Feed at most 64 KiB per call so out_cap (bound of 64 KiB) holds. */
    size_t k = len > 65536 ? 65536 : len;
    size_t n = LZ4F_compressUpdate(w->cctx, w->out, w->out_cap, p, k, NULL);
    if (LZ4F_isError(n)) {
      w->lz4_failed = true;
      return false;
    }
    if (!sw_out(w, n))
      return false;
    p += k;
    len -= k;
  }
  return true;
}

int snap_write(const char *dir, const struct snap_io *io, const struct tree *t,
               int log_fd, uint64_t *bytes, char *errmsg, size_t errmsg_len) {
  if (!io)
    io = snap_io_posix();
  if (log_fd >= 0) {
    int e = io->fsync(io->ctx, log_fd);
    if (e < 0) {
      snap_errf(errmsg, errmsg_len, "fsync of the log before a snapshot: %s",
                strerror(-e));
      return snap_errno_code(e);
    }
  }
  int64_t zxid = tree_last_zxid(t);
  char name[64], tmp[SNAP_PATH_MAX], final[SNAP_PATH_MAX];
  snprintf(name, sizeof name, "snapshot.%" PRIx64 ".tmp", (uint64_t)zxid);
  snap_path_join(tmp, dir, name);
  snprintf(name, sizeof name, "snapshot.%" PRIx64, (uint64_t)zxid);
  snap_path_join(final, dir, name);

  struct snap_writer w = {.io = io, .fd = -1};
  LZ4F_preferences_t prefs;
  memset(&prefs, 0, sizeof prefs);
  prefs.frameInfo.blockSizeID = LZ4F_max4MB;
  prefs.frameInfo.blockMode = LZ4F_blockLinked;
  prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
  prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
  prefs.compressionLevel = 0; /* fast */
  int rc = SNAP_ENOMEM;
  if (LZ4F_isError(LZ4F_createCompressionContext(&w.cctx, LZ4F_VERSION))) {
    w.cctx = NULL;
    snap_errf(errmsg, errmsg_len, "out of memory");
    goto out;
  }
  w.out_cap = LZ4F_compressBound(65536, &prefs);
  if (w.out_cap < LZ4F_HEADER_SIZE_MAX)
    w.out_cap = LZ4F_HEADER_SIZE_MAX;
  w.out = malloc(w.out_cap);
  if (!w.out) {
    snap_errf(errmsg, errmsg_len, "out of memory");
    goto out;
  }
  io->unlink(io->ctx, tmp); /* a stale one from a crash */
  w.fd = io->open(io->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (w.fd < 0) {
    rc = snap_errno_code(w.fd);
    snap_errf(errmsg, errmsg_len, "cannot create %s: %s", tmp,
              strerror(-w.fd));
    w.fd = -1;
    goto out;
  }
  uint8_t h[SNAP_HEADER_LEN];
  snap_header_encode(h, SNAP_SNAP_MAGIC, SNAP_FLAG_LZ4, zxid);
  memcpy(w.out, h, sizeof h);
  if (!sw_out(&w, sizeof h))
    goto io_fail;
  size_t n = LZ4F_compressBegin(w.cctx, w.out, w.out_cap, &prefs);
  if (LZ4F_isError(n)) {
    w.lz4_failed = true;
    goto io_fail;
  }
  if (!sw_out(&w, n))
    goto io_fail;
  int trc = tree_serialize(t, sw_feed, &w);
  if (trc == PROTO_SYSTEMERROR) {
    rc = SNAP_ENOMEM;
    snap_errf(errmsg, errmsg_len, "out of memory serialising the tree");
    goto fail;
  }
  if (trc != PROTO_OK)
    goto io_fail;
  n = LZ4F_compressEnd(w.cctx, w.out, w.out_cap, NULL);
  if (LZ4F_isError(n)) {
    w.lz4_failed = true;
    goto io_fail;
  }
  if (!sw_out(&w, n))
    goto io_fail;
  int e = io->fsync(io->ctx, w.fd);
  if (e < 0) {
    w.err = e;
    goto io_fail;
  }
  io->close(io->ctx, w.fd);
  w.fd = -1;
  e = io->rename(io->ctx, tmp, final);
  if (e == 0)
    e = io->fsync_dir(io->ctx, dir);
  if (e < 0) {
    w.err = e;
    goto io_fail;
  }
  if (bytes)
    *bytes = w.bytes;
  rc = SNAP_OK;
  goto out;
io_fail:
  if (w.lz4_failed) {
    rc = SNAP_EIO;
    snap_errf(errmsg, errmsg_len, "lz4 compression failed writing %s", tmp);
  } else {
    rc = snap_errno_code(w.err);
    snap_errf(errmsg, errmsg_len, "writing %s: %s", tmp, strerror(-w.err));
  }
fail:
  if (w.fd >= 0)
    io->close(io->ctx, w.fd);
  w.fd = -1;
  io->unlink(io->ctx, tmp);
out:
  if (w.fd >= 0)
    io->close(io->ctx, w.fd);
  if (w.cctx)
    LZ4F_freeCompressionContext(w.cctx);
  free(w.out);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Reader: an lz4-decompressing tree_read_cb over the file. */

struct snap_reader {
  const struct snap_io *io;
  int fd;
  const char *path;
  LZ4F_dctx *dctx;
  uint8_t *in;
  size_t in_pos, in_len;
  uint64_t in_off; /* file offset of in[0] */
  bool eof;        /* file fully read */
  bool frame_done; /* lz4 said the frame ended */
  int err;         /* SNAP_ code of a failure */
  char msg[256];
};

static long sr_read_cb(void *arg, void *buf, size_t cap) {
  struct snap_reader *r = arg;
  uint8_t *out = buf;
  size_t produced = 0;
  while (produced == 0 && !r->frame_done) {
    if (r->in_pos == r->in_len && !r->eof) {
      r->in_off += r->in_len;
      long k = snap_read_full(r->io, r->fd, r->in, SNAP_IO_CHUNK);
      if (k < 0) {
        r->err = SNAP_EIO;
        snprintf(r->msg, sizeof r->msg, "read error: %s", strerror((int)-k));
        return -1;
      }
      r->in_pos = 0;
      r->in_len = (size_t)k;
      if ((size_t)k < SNAP_IO_CHUNK)
        r->eof = true;
    }
    size_t src = r->in_len - r->in_pos;
    size_t dst = cap - produced;
    size_t hint = LZ4F_decompress(r->dctx, out + produced, &dst,
                                  r->in + r->in_pos, &src, NULL);
    if (LZ4F_isError(hint)) {
      r->err = SNAP_ECORRUPT;
      snprintf(r->msg, sizeof r->msg,
               "lz4 frame: %s near file offset %" PRIu64,
               LZ4F_getErrorName(hint), r->in_off + r->in_pos);
      return -1;
    }
    r->in_pos += src;
    produced += dst;
    if (hint == 0) {
      r->frame_done = true;
      break;
    }
    if (src == 0 && dst == 0 && r->in_pos == r->in_len && r->eof) {
      r->err = SNAP_ECORRUPT;
      snprintf(r->msg, sizeof r->msg,
               "file ends inside the lz4 frame (truncated snapshot)");
      return -1;
    }
  }
  return (long)produced;
}

static int reader_open(struct snap_reader *r, const char *path,
                       const struct snap_io *io, int64_t *zxid, char *errmsg,
                       size_t errmsg_len) {
  memset(r, 0, sizeof *r);
  r->io = io;
  r->path = path;
  r->fd = io->open(io->ctx, path, O_RDONLY, 0);
  if (r->fd < 0) {
    snap_errf(errmsg, errmsg_len, "cannot open %s: %s", path,
              strerror(-r->fd));
    return snap_errno_code(r->fd);
  }
  uint8_t h[SNAP_HEADER_LEN];
  long k = snap_read_full(io, r->fd, h, sizeof h);
  if (k != SNAP_HEADER_LEN) {
    snap_errf(errmsg, errmsg_len, "%s: shorter than its header", path);
    return k < 0 ? SNAP_EIO : SNAP_ECORRUPT;
  }
  uint32_t flags;
  int rc = snap_header_decode(h, SNAP_SNAP_MAGIC, &flags, zxid);
  if (rc == SNAP_OK && flags != SNAP_FLAG_LZ4)
    rc = SNAP_EVERSION;
  if (rc != SNAP_OK) {
    snap_errf(errmsg, errmsg_len, "%s: %s at offset 0 (file header)", path,
              rc == SNAP_EVERSION ? "unsupported snapshot format"
                                  : "not a Roost snapshot or bad header CRC");
    return rc;
  }
  r->in_off = SNAP_HEADER_LEN;
  r->in = malloc(SNAP_IO_CHUNK);
  if (!r->in ||
      LZ4F_isError(LZ4F_createDecompressionContext(&r->dctx, LZ4F_VERSION))) {
    r->dctx = NULL;
    snap_errf(errmsg, errmsg_len, "out of memory");
    return SNAP_ENOMEM;
  }
  return SNAP_OK;
}

static void reader_close(struct snap_reader *r) {
  if (r->fd >= 0)
    r->io->close(r->io->ctx, r->fd);
  if (r->dctx)
    LZ4F_freeDecompressionContext(r->dctx);
  free(r->in);
}

/* After the tree stream: the lz4 frame must be complete (content checksum
 * checked) and be the last thing in the file. */
static int reader_finish(struct snap_reader *r, char *errmsg,
                         size_t errmsg_len) {
  uint8_t extra[16];
  if (!r->frame_done) {
    long k = sr_read_cb(r, extra, sizeof extra);
    if (k < 0) {
      snap_errf(errmsg, errmsg_len, "%s: %s", r->path, r->msg);
      return r->err;
    }
    if (k > 0 || !r->frame_done) {
      snap_errf(errmsg, errmsg_len, "%s: data after the tree stream", r->path);
      return SNAP_ECORRUPT;
    }
  }
  if (r->in_pos != r->in_len ||
      (!r->eof && snap_read_full(r->io, r->fd, extra, 1) != 0)) {
    snap_errf(errmsg, errmsg_len, "%s: bytes after the lz4 frame", r->path);
    return SNAP_ECORRUPT;
  }
  return SNAP_OK;
}

static int map_tree_err(struct snap_reader *r, int prc, const char *tmsg,
                        char *errmsg, size_t errmsg_len) {
  if (r->err) {
    snap_errf(errmsg, errmsg_len, "%s: %s", r->path, r->msg);
    return r->err;
  }
  if (prc == PROTO_SYSTEMERROR) {
    snap_errf(errmsg, errmsg_len, "%s: out of memory", r->path);
    return SNAP_ENOMEM;
  }
  if (prc == PROTO_APIERROR) {
    snap_errf(errmsg, errmsg_len, "%s: scan stopped", r->path);
    return SNAP_EINVAL;
  }
  snap_errf(errmsg, errmsg_len, "%s: %s", r->path, tmsg);
  return SNAP_ECORRUPT;
}

int snap_read(const char *path, const struct snap_io *io,
              const struct tree_config *cfg, struct tree **out, int64_t *zxid,
              char *errmsg, size_t errmsg_len) {
  if (!io)
    io = snap_io_posix();
  struct snap_reader r;
  int64_t hz = 0;
  *out = NULL;
  int rc = reader_open(&r, path, io, &hz, errmsg, errmsg_len);
  if (rc == SNAP_OK) {
    char tmsg[256];
    int err = PROTO_OK;
    struct tree *t = tree_load(cfg, sr_read_cb, &r, &err, tmsg, sizeof tmsg);
    if (!t)
      rc = map_tree_err(&r, err, tmsg, errmsg, errmsg_len);
    else
      rc = reader_finish(&r, errmsg, errmsg_len);
    if (rc == SNAP_OK && tree_last_zxid(t) != hz) {
      snap_errf(errmsg, errmsg_len,
                "%s: header zxid 0x%" PRIx64 " but tree zxid 0x%" PRIx64,
                path, (uint64_t)hz, (uint64_t)tree_last_zxid(t));
      rc = SNAP_ECORRUPT;
    }
    if (rc == SNAP_OK) {
      *out = t;
      if (zxid)
        *zxid = hz;
    } else {
      tree_free(t);
    }
  }
  reader_close(&r);
  return rc;
}

int snap_scan(const char *path, const struct snap_io *io,
              const struct tree_serial_visitor *v, int64_t *zxid,
              char *errmsg, size_t errmsg_len) {
  if (!io)
    io = snap_io_posix();
  struct snap_reader r;
  int64_t hz = 0;
  int rc = reader_open(&r, path, io, &hz, errmsg, errmsg_len);
  if (rc == SNAP_OK) {
    char tmsg[256];
    int prc = tree_serial_scan(sr_read_cb, &r, v, tmsg, sizeof tmsg);
    if (prc != PROTO_OK)
      rc = map_tree_err(&r, prc, tmsg, errmsg, errmsg_len);
    else
      rc = reader_finish(&r, errmsg, errmsg_len);
    if (zxid)
      *zxid = hz;
  }
  reader_close(&r);
  return rc;
}
