/* snapshot internals shared by the files of snapshot/ (and its tests). */
#ifndef ROOST_SNAP_INT_H
#define ROOST_SNAP_INT_H

#include "proto/proto.h"
#include "snapshot/snapshot.h"

#include <stdarg.h>
#include <stdint.h>

/* File headers (docs/storage-format.md). */
#define SNAP_LOG_MAGIC "ROOSTLOG"
#define SNAP_SNAP_MAGIC "ROOSTSNP"
#define SNAP_FORMAT_VERSION 1
#define SNAP_HEADER_LEN 32
#define TXLOG_FRAME_MAGIC "TXF1"
#define TXLOG_FRAME_HDR 40
/* Bounds a reader enforces (a writer never exceeds them). */
#define TXLOG_MAX_STORED (64u << 20)
#define TXLOG_MAX_RAW (256u << 20)

uint32_t snap_crc32(uint32_t crc, const void *p, size_t n);

/* 32-byte file header: magic[8], version, flags, zxid, reserved, crc. */
void snap_header_encode(uint8_t b[SNAP_HEADER_LEN], const char *magic,
                        uint32_t flags, int64_t zxid);
/* SNAP_OK, SNAP_ECORRUPT (magic/CRC), SNAP_EVERSION. */
int snap_header_decode(const uint8_t b[SNAP_HEADER_LEN], const char *magic,
                       uint32_t *flags, int64_t *zxid);

/* "dir/name" into out (SNAP_PATH_MAX). */
void snap_path_join(char *out, const char *dir, const char *name);

/* printf into a caller buffer (may be NULL / 0). */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void snap_errf(char *buf, size_t len, const char *fmt, ...);

/* Map -errno to a code: ENOSPC/EDQUOT -> SNAP_ENOSPC, ENOENT ->
 * SNAP_ENOENT, ENOMEM -> SNAP_ENOMEM, else SNAP_EIO. */
int snap_errno_code(int neg_errno);

/* Write all of buf (retrying short writes).  0 or -errno. */
int snap_write_all(const struct snap_io *io, int fd, const void *buf,
                   size_t len);
/* Read exactly len bytes unless EOF comes first; returns bytes read or
 * -errno. */
long snap_read_full(const struct snap_io *io, int fd, void *buf, size_t len);

/* Directory entries of one kind, sorted by zxid ascending. */
struct snap_dirent {
  int64_t zxid;
  enum snap_file_kind kind;
  char name[64];
};
/* Returns the count (>= 0, *out owned: free()) or a negative SNAP_ code. */
long snap_dir_list(const struct snap_io *io, const char *dir,
                   enum snap_file_kind kind, struct snap_dirent **out);

#endif /* ROOST_SNAP_INT_H */
