/* snapshot — persistence: the transaction log (txlog_), snapshots,
 * recovery, verification and purge (snap_).
 *
 * Files in a data directory (formats in docs/storage-format.md):
 *   log.<first-zxid-hex>       transaction log segments (in dataLogDir)
 *   snapshot.<last-zxid-hex>   snapshots of the tree (in dataDir)
 * Both start with a header carrying magic, format version and a CRC.
 *
 * Order the caller keeps (DESIGN.md): a transaction is appended to the
 * log (txlog_append, or txlog_stage: room reserved, written at the next
 * flush) before it is applied to the tree, and its reply is sent only
 * once a txlog sync that started after the append has finished.  A snapshot is
 * written from a tree whose every applied transaction is in the log (a forked
 * child fsyncs the log first; see docs/snapshots.md).
 *
 * Disk access goes through struct snap_io so tests can put a simulated
 * disk underneath (crashes that keep, drop or garble unsynced writes).
 *
 * No libuv here, no threads of its own, no clock, no stderr: warnings go
 * to a callback, errors come back as values with a message in a caller
 * buffer.  Dependencies: tree, proto, zlib, lz4, libc.
 *
 * Memory: every object is opaque, made by *_open / *_new and freed by the
 * matching close/free; strings passed in are copied unless said otherwise.
 */
#ifndef ROOST_SNAPSHOT_H
#define ROOST_SNAPSHOT_H

#include "tree/tree.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Errors. */

#define SNAP_ERRNO_MAP(X)                                                      \
  X(OK, 0, "success")                                                          \
  X(EIO, -1, "I/O error")                                                      \
  X(ENOMEM, -2, "out of memory")                                               \
  X(EINVAL, -3, "invalid argument")                                            \
  X(ECORRUPT, -4, "corrupt data")                                              \
  X(ETORN, -5, "torn tail")                                                    \
  X(EBUSY, -6, "a sync is already in flight")                                  \
  X(ENOSPC, -7, "no space left on device")                                     \
  X(ENOENT, -8, "not found")                                                   \
  X(EGAP, -9, "log chain broken (transactions missing)")                       \
  X(EVERSION, -10, "unsupported format version")                               \
  X(EFAILED, -11, "log failed: an earlier sync failed, retry first")

enum snap_err {
#define SNAP_ERR_ENUM(name, value, text) SNAP_##name = (value),
  SNAP_ERRNO_MAP(SNAP_ERR_ENUM)
#undef SNAP_ERR_ENUM
};

/* Text and name ("EIO") of a code; "unknown error" / "UNKNOWN" else. */
const char *snap_strerror(int err);
const char *snap_err_name(int err);

#define SNAP_ERRMSG_MAX 512
#define SNAP_PATH_MAX 4096

/* ------------------------------------------------------------------ */
/* Disk access.  Every function returns >= 0 on success or -errno.  The
 * loop thread calls write/open/close while a worker thread calls fsync
 * (txlog_sync_run) on the same fds: implementations must allow that (the
 * POSIX one does; fsync flushes at least what was written before it was
 * called). */

typedef void (*snap_name_cb)(void *arg, const char *name);

struct snap_io {
  void *ctx;
  int (*open)(void *ctx, const char *path, int flags, int mode); /* fd */
  long (*read)(void *ctx, int fd, void *buf, size_t len);        /* 0 = EOF */
  long (*write)(void *ctx, int fd, const void *buf, size_t len);
  int (*fsync)(void *ctx, int fd);
  int (*close)(void *ctx, int fd);
  int (*truncate)(void *ctx, int fd, uint64_t len);
  int64_t (*size)(void *ctx, int fd);
  int (*seek)(void *ctx, int fd, uint64_t off); /* absolute */
  int (*rename)(void *ctx, const char *from, const char *to);
  int (*unlink)(void *ctx, const char *path);
  int (*fsync_dir)(void *ctx, const char *dir);
  /* Calls cb for each entry name of dir ("." and ".." excluded). */
  int (*list_dir)(void *ctx, const char *dir, snap_name_cb cb, void *arg);
  /* Reserve [off, off+len) as zeros, growing the file (may be NULL:
   * preallocation off), without moving the fd's position.  The POSIX one
   * writes zeros (pwrite).  -ENOSPC when they do not fit; -EOPNOTSUPP
   * turns preallocation off. */
  int (*allocate)(void *ctx, int fd, uint64_t off, uint64_t len);
};

/* The real file system (open(2), write(2), fdatasync(2), ...). */
const struct snap_io *snap_io_posix(void);

/* Warnings (a torn tail cut, a snapshot skipped, a file purged): msg is
 * borrowed for the call. */
typedef void (*snap_warn_cb)(void *arg, const char *msg);

/* ------------------------------------------------------------------ */
/* Transaction log: writer. */

struct txlog;

struct txlog_config {
  const char *dir;            /* dataLogDir; copied */
  const struct snap_io *io;   /* NULL = snap_io_posix(); borrowed for the
                                 life of the log */
  uint64_t prealloc_bytes;    /* preAllocSize: grow segments in steps of
                                 this many zero bytes; 0 = off (then
                                 txlog_stage writes through) */
  bool force_sync;            /* false (forceSync=no): syncs skip fsync —
                                 for tests only, acknowledged writes can be
                                 lost on power loss or kernel crash */
  int level;                  /* zlib level for frame payloads (raw
                                 deflate, kept only when it shrinks the
                                 payload); 0 = store every frame */
  uint64_t max_pending_bytes; /* bound of the copy kept of frames not yet
                                 synced (txlog_retry rewrites them); 0 =
                                 64 MiB.  Appends past it: SNAP_EBUSY */
  const char *segment_suffix; /* NULL: segments are log.<zxid>; else
                                 log.<zxid><suffix>, a name recovery does
                                 not read (snap_rebase's staging) */
};

/* Open a writer on dir.  Nothing is created until the first append: the
 * first segment is named after the first appended zxid.  Existing
 * segments are never appended to (recovery runs first; a new segment
 * starts at every open).  Returns SNAP_OK, SNAP_ENOMEM or SNAP_EINVAL. */
int txlog_open(const struct txlog_config *cfg, struct txlog **out);

/* Write what is staged and close every fd (no sync).  Safe with NULL.
 * No sync may be in flight. */
void txlog_close(struct txlog *l);

/* One transaction as tree_prep / tree_txn_encode_* wrote it; the zxid is
 * read from its header.  buf is borrowed for the call. */
struct txlog_txn {
  const void *buf;
  size_t len;
};

/* Write one frame holding txns[0..n) now (write(2), no fsync), after
 * writing whatever txlog_stage staged.  Their zxids must increase and be
 * greater than every zxid appended before.
 * Opens a segment first when there is none (after open or txlog_roll).
 * On failure nothing of the frame remains in the segment (it is cut back
 * to its previous end) and the transactions are not logged: the caller
 * must not apply them.  Returns SNAP_OK; SNAP_ENOSPC (disk full);
 * SNAP_EIO (other write error; errmsg says which); SNAP_EINVAL (zxids not
 * increasing, a txn without a header, n == 0); SNAP_EFAILED (an earlier
 * sync failed and txlog_retry has not succeeded yet); SNAP_EBUSY (the
 * unsynced copy is at max_pending_bytes); SNAP_ENOMEM.  (A failure to
 * write what was staged before fails the log, as txlog_flush says.) */
int txlog_append(struct txlog *l, const struct txlog_txn *txns, size_t n,
                 char *errmsg, size_t errmsg_len);

/* Append one transaction without writing it yet: it joins the open frame
 * in memory, and txlog_flush (called by txlog_sync_begin, txlog_roll and
 * txlog_close) writes all staged transactions with one write(2), so a
 * loop turn's writes cost one frame and one system call.  The room is
 * reserved first: the segment is preallocated (prealloc_bytes at a time,
 * or just what this transaction needs when the disk is nearly full), so
 * a full disk is reported here.  Without preallocation (prealloc_bytes
 * 0, or a file system that cannot) the transaction is written at once,
 * as txlog_append does.  Same returns as txlog_append; on any error
 * nothing is staged and the caller must not apply the transaction; on
 * SNAP_OK it is logged as far as the caller is concerned (apply it). */
int txlog_stage(struct txlog *l, const struct txlog_txn *txn, char *errmsg,
                size_t errmsg_len);

/* Write everything staged (one write(2), no fsync).  Returns SNAP_OK; or
 * SNAP_EIO / SNAP_ENOSPC with errmsg — the partial write is cut and the
 * log is failed exactly as after a failed sync (the staged transactions
 * were applied by the caller: txlog_retry writes them again); or
 * SNAP_EFAILED (already failed). */
int txlog_flush(struct txlog *l, char *errmsg, size_t errmsg_len);

/* End the current segment: the next append starts log.<its zxid>.  Called
 * by the server when it starts a snapshot.  Writes what is staged first
 * (a failure fails the log, see txlog_flush) and gives back the
 * preallocated rest of the segment.  Unsynced data of the old segment is
 * still covered by the next sync.  Never fails. */
void txlog_roll(struct txlog *l);

/* Group commit.  A sync is three calls:
 *   txlog_sync_begin (loop thread) writes what is staged (txlog_flush),
 *     notes every fd with unsynced data and the last appended zxid Z;
 *     returns SNAP_OK with *out set, SNAP_OK with *out = NULL when
 *     everything is already durable, SNAP_EBUSY if a sync is in flight
 *     (one at a time), SNAP_EFAILED after a failed sync (call
 *     txlog_retry), the txlog_flush error when that write failed,
 *     SNAP_ENOMEM;
 *   txlog_sync_run (any thread, e.g. the server's fsync thread) fsyncs them
 * (and the directory when a segment was created), touching nothing else of the
 * log, so txlog_append and txlog_roll may run concurrently on the loop thread;
 *   txlog_sync_end (loop thread) ends the token and returns the result:
 *     SNAP_OK — every transaction appended before txlog_sync_begin, i.e.
 *     every zxid <= Z, is durable; *durable_zxid = Z; or SNAP_EIO with
 *     errmsg — nothing new is known durable, and the log is failed:
 *     appends and syncs return SNAP_EFAILED until txlog_retry succeeds.
 * Appends (and stages) made after begin are covered by the next sync.
 * The token belongs to the log (one in flight at a time, reused): it is
 * valid from begin to end, and the log must stay open until end. */
struct txlog_sync;
int txlog_sync_begin(struct txlog *l, struct txlog_sync **out);
void txlog_sync_run(struct txlog_sync *s);
int txlog_sync_end(struct txlog *l, struct txlog_sync *s, int64_t *durable_zxid,
                   char *errmsg, size_t errmsg_len);

/* begin + run + end in the calling thread.  *durable_zxid may be NULL. */
int txlog_sync(struct txlog *l, int64_t *durable_zxid, char *errmsg,
               size_t errmsg_len);

/* After a failed sync (fsync error: what reached the disk is unknown):
 * starts a new segment, writes into it again every frame not known
 * durable (from the copy the log keeps), and fsyncs it and the directory.
 * The old segment may end in a torn copy of those frames; recovery cuts
 * it (the new segment continues the zxid chain) and skips duplicates.
 * Returns SNAP_OK (the log works again; *durable_zxid = last appended),
 * or an error with errmsg (still failed; call again later). */
int txlog_retry(struct txlog *l, int64_t *durable_zxid, char *errmsg,
                size_t errmsg_len);

/* Figures. */
struct txlog_stats {
  int64_t last_appended_zxid; /* 0 = none */
  int64_t durable_zxid;
  uint64_t frames, txns, bytes; /* appended since open */
  uint64_t syncs;
  uint64_t deflate_tries; /* frames deflate was run on (it backs off while
                             payloads do not shrink to half) */
  bool failed;
  char segment[SNAP_PATH_MAX]; /* current segment file, "" = none */
};
void txlog_stats_get(const struct txlog *l, struct txlog_stats *s);

/* The fd of the current segment, or -1: a forked snapshot child fsyncs it
 * (with io->fsync) so the log is durable up to the snapshot's zxid before
 * the snapshot file appears. */
int txlog_current_fd(const struct txlog *l);

/* ------------------------------------------------------------------ */
/* Transaction log: reader (recovery, roost-dump, fuzzing). */

/* One frame as read.  raw (n_txns x (u32 len, txn)) is owned by the
 * reader and valid until the next call. */
struct txlog_frame {
  uint64_t offset;     /* of the frame header in the file */
  uint32_t stored_len; /* bytes after the 40-byte frame header */
  uint32_t raw_len;
  uint8_t method; /* 0 stored, 1 deflate */
  int64_t first_zxid, last_zxid;
  uint32_t n_txns;
  const uint8_t *raw;
};

/* Walk the transactions of a frame: returns true with txn/len set, false
 * at the end.  *pos starts at 0. */
bool txlog_frame_next_txn(const struct txlog_frame *f, size_t *pos,
                          const uint8_t **txn, size_t *len);

struct txlog_reader;

/* Open a segment and check its header.  Returns SNAP_OK; SNAP_ETORN (the
 * file is shorter than a header: a segment torn at creation);
 * SNAP_ECORRUPT (bad magic or header CRC); SNAP_EVERSION; SNAP_EIO;
 * SNAP_ENOMEM; errmsg says which, naming the file.  On success
 * *first_zxid is the header's. */
int txlog_reader_open(const char *path, const struct snap_io *io,
                      struct txlog_reader **out, int64_t *first_zxid,
                      char *errmsg, size_t errmsg_len);
void txlog_reader_close(struct txlog_reader *r);

/* Next frame.  Returns 1 with *f filled; 0 at the clean end of the file
 * (end of file, or only zeros of preallocation left); SNAP_ETORN — the
 * frame at *bad_offset is incomplete or fails its CRC and nothing valid
 * follows it in the file (a torn tail: cut at *bad_offset); SNAP_ECORRUPT
 * — same but a valid frame follows (corruption in the middle, at
 * *bad_offset), or the frame is well formed but does not decode (zxids
 * out of order, bad inflate); SNAP_EIO / SNAP_ENOMEM.  errmsg names the
 * file and offset.  After an error the reader stays at the error. */
int txlog_reader_next(struct txlog_reader *r, struct txlog_frame *f,
                      uint64_t *bad_offset, char *errmsg, size_t errmsg_len);

/* Cut a segment at `offset` (ftruncate + fsync).  SNAP_OK / SNAP_EIO. */
int txlog_truncate(const char *path, const struct snap_io *io, uint64_t offset,
                   char *errmsg, size_t errmsg_len);

/* ------------------------------------------------------------------ */
/* Snapshots. */

/* Write snapshot.<zxid-hex> of t into dir: header, then tree_serialize
 * through an lz4 frame with content checksum, to "snapshot.<zxid>.tmp",
 * fsync, rename, fsync of the directory.  With log_fd >= 0 that fd is
 * fsynced first (with io->fsync) so the log holds every transaction the
 * snapshot contains before the snapshot exists.  *bytes (may be NULL)
 * gets the file size.  Returns SNAP_OK, SNAP_ENOSPC, SNAP_EIO (errmsg),
 * SNAP_ENOMEM.  On failure the temporary file is removed. */
int snap_write(const char *dir, const struct snap_io *io, const struct tree *t,
               int log_fd, uint64_t *bytes, char *errmsg, size_t errmsg_len);

/* Load a snapshot file, verifying header, lz4 checksums and the tree
 * stream.  Returns SNAP_OK with *out (free with tree_free) and *zxid;
 * SNAP_ECORRUPT / SNAP_EVERSION / SNAP_EIO / SNAP_ENOMEM with errmsg. */
int snap_read(const char *path, const struct snap_io *io,
              const struct tree_config *cfg, struct tree **out, int64_t *zxid,
              char *errmsg, size_t errmsg_len);

/* Decode a snapshot without building a tree (roost-dump, verify): the
 * visitor's callbacks get the stream (tree_serial_scan).  v may be NULL
 * (checks only).  Same returns as snap_read (SNAP_EINVAL when a callback
 * stopped the scan). */
int snap_scan(const char *path, const struct snap_io *io,
              const struct tree_serial_visitor *v, int64_t *zxid, char *errmsg,
              size_t errmsg_len);

/* ------------------------------------------------------------------ */
/* Directory: listing, recovery, verification, purge. */

/* Kinds of files in a data directory. */
enum snap_file_kind { SNAP_FILE_LOG, SNAP_FILE_SNAPSHOT, SNAP_FILE_TEMP };

/* Parse a file name: "log.<hex>", "snapshot.<hex>" (kind and zxid set) or
 * "snapshot.<hex>.tmp".  Returns false for anything else. */
bool snap_name_parse(const char *name, enum snap_file_kind *kind,
                     int64_t *zxid);

/* ------------------------------------------------------------------ */
/* Small state files and the log directory (state.c). */

/* Replace dir/name with buf atomically and durably: written to
 * name.tmp, fsynced, renamed over name, the directory fsynced.  A crash
 * leaves the old content or the new, whole.  SNAP_OK, or SNAP_EIO /
 * SNAP_ENOSPC with errmsg (the old content is still there then; the
 * caller must not act as if the new one were durable).  io NULL = posix. */
int snap_state_write(const char *dir, const char *name,
                     const struct snap_io *io, const void *buf, size_t len,
                     char *errmsg, size_t errmsg_len);
/* Read dir/name into buf (at most cap - 1 bytes, NUL-terminated; *len).
 * SNAP_OK, SNAP_ENOENT (no such file), SNAP_EIO (errmsg). */
int snap_state_read(const char *dir, const char *name, const struct snap_io *io,
                    char *buf, size_t cap, size_t *len, char *errmsg,
                    size_t errmsg_len);
/* Remove every log segment (log.<zxid>) of dir, then fsync dir.  SNAP_OK,
 * or SNAP_EIO with errmsg (some may be left). */
int snap_logs_remove(const char *dir, const struct snap_io *io, char *errmsg,
                     size_t errmsg_len);

/* The ensemble's log rebase (after a TRUNC or a SNAP from the leader, and
 * a member's fault recovery): t, the applied state, goes to a snapshot in
 * data_dir, and the log directory lc->dir ends with one segment holding
 * exactly txns (the appended-but-uncommitted txns kept, in zxid order,
 * the first one right after t's zxid; n may be 0) and no other segment.
 * At every step a crash leaves what recovery reads as t followed by txns
 * (and perhaps by more of the old log: as if the rebase had not begun),
 * never t without txns nor a gap: the txns are synced under a name
 * recovery does not read, then renamed into place, and the old segments
 * go from the newest down.  SNAP_OK, or an error with errmsg: the disk
 * may not hold it yet, so nothing may rely on it until a later call
 * succeeds (which may simply be the same call again). */
int snap_rebase(const char *data_dir, const struct txlog_config *lc,
                const struct tree *t, const struct txlog_txn *txns, size_t n,
                char *errmsg, size_t errmsg_len);

struct snap_recover_config {
  const char *data_dir;               /* snapshots */
  const char *log_dir;                /* log segments; NULL = data_dir */
  const struct snap_io *io;           /* NULL = posix */
  const struct tree_config *tree_cfg; /* may be NULL */
  /* true (the server): cut torn tails, remove segments with no frame
   * left and stale snapshot temp files.  false (verify): change nothing,
   * a torn tail is reported as SNAP_ETORN. */
  bool repair;
  snap_warn_cb warn;
  void *warn_arg;
};

struct snap_recover_info {
  int64_t snap_zxid; /* snapshot loaded, -1 = none (empty tree) */
  char snap_file[SNAP_PATH_MAX];
  unsigned snaps_skipped;          /* newer snapshots that did not verify */
  uint64_t segments, frames, txns; /* replayed (txns applied) */
  int64_t last_zxid;               /* of the tree after replay */
  uint64_t truncated_bytes;
  /* Where recovery stopped with an error (SNAP_ECORRUPT, SNAP_EGAP): */
  char bad_file[SNAP_PATH_MAX];
  uint64_t bad_offset;
};

/* Rebuild the tree from the newest snapshot that verifies plus every log
 * frame after it, in zxid order across segments (transactions at or below
 * the snapshot's zxid are skipped; so are duplicates left by
 * txlog_retry).  A torn tail (see txlog_reader_next) is cut with a
 * warning when repair is set.  Returns SNAP_OK with *out (free with
 * tree_free); or SNAP_ECORRUPT — a frame in the middle of the log is bad,
 * or a logged transaction does not apply; SNAP_EGAP — the segments do
 * not continue each other (or the snapshot) without a hole; SNAP_ETORN
 * (repair off); SNAP_EIO; SNAP_ENOMEM.  errmsg is one line naming the
 * file, the byte offset and the command `roost-dump log FILE` that shows
 * it; info->bad_file / bad_offset say the same. */
int snap_recover(const struct snap_recover_config *cfg, struct tree **out,
                 struct snap_recover_info *info, char *errmsg,
                 size_t errmsg_len);

/* Check a data directory without changing it: every snapshot (header,
 * lz4 checksums, tree stream), every frame CRC of every segment, and the
 * chain from the newest good snapshot through the segments.  report gets
 * one line per file and per problem.  Returns SNAP_OK when everything
 * verifies, else the first problem's code (SNAP_ECORRUPT, SNAP_ETORN,
 * SNAP_EGAP, ...). */
int snap_verify(const char *data_dir, const char *log_dir,
                const struct snap_io *io, snap_warn_cb report, void *arg);

/* Keep the newest `retain` snapshots (at least 3, as ZooKeeper's
 * autopurge.snapRetainCount) and the log segments needed to replay from
 * the oldest of them; remove older ones.  Counts what it removed.
 * Returns SNAP_OK or the first SNAP_EIO (it goes on with the rest). */
int snap_purge(const char *data_dir, const char *log_dir,
               const struct snap_io *io, unsigned retain, unsigned *n_snaps,
               unsigned *n_logs, snap_warn_cb warn, void *warn_arg);

/* Bytes of the files of one directory (srvr/dirs). */
uint64_t snap_dir_size(const char *dir, const struct snap_io *io);

#endif /* ROOST_SNAPSHOT_H */
