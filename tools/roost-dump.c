/* roost-dump — inspect and repair Roost's data directory.
 *
 *   roost-dump [--json] log FILE        transactions of a log segment
 *   roost-dump [--json] snapshot FILE   nodes and sessions of a snapshot
 *   roost-dump verify DIR [LOGDIR]      every CRC and the snapshot/log chain
 *   roost-dump truncate [--force] FILE  cut a torn tail off a segment
 *
 * Exit status: 0 when the file / directory is sound (or was repaired), 1
 * when damage was found (the message names the file and the byte offset),
 * 2 on a usage or I/O error. */
#include "proto/proto.h"
#include "snapshot/snapshot.h"
#include "tree/tree.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool json;

static void usage(FILE *f) {
  fprintf(f,
          "usage: roost-dump [--json] log FILE\n"
          "       roost-dump [--json] snapshot FILE\n"
          "       roost-dump verify DATADIR [DATALOGDIR]\n"
          "       roost-dump truncate [--force] FILE\n"
          "\n"
          "  log       one line per transaction: zxid, time, session, type,\n"
          "            path, transaction bytes and data bytes\n"
          "  snapshot  the sessions, then one line per node with its Stat\n"
          "  verify    checks every snapshot and log frame CRC and that the\n"
          "            segments continue the newest good snapshot; exit 1 on\n"
          "            damage, naming file and offset\n"
          "  truncate  cuts a segment at its first bad frame (a torn tail);\n"
          "            refuses when valid frames follow unless --force\n"
          "\n"
          "  --version print the version and exit.  The manual: "
          "roost-dump(1).\n");
}

/* JSON string with escapes. */
static void jstr(const char *p, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20 || c >= 0x7f)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

static void fmt_time(int64_t ms, char *buf, size_t len) {
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  if (!gmtime_r(&s, &tm)) {
    snprintf(buf, len, "%" PRId64, ms);
    return;
  }
  size_t k = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + k, len - k, ".%03dZ", (int)(ms % 1000 + 1000) % 1000);
}

static const char *type_name(int32_t type) {
  switch (type) {
  case PROTO_OP_ERROR:
    return "error";
  case PROTO_OP_CREATESESSION:
    return "createSession";
  case PROTO_OP_CLOSESESSION:
    return "closeSession";
  default:
    return proto_op_name(type);
  }
}

/* Path and data length of a txn body, where the type has them. */
struct txn_info {
  struct proto_slice path;
  int32_t data_len; /* -1 = none */
  int32_t extra;    /* timeout, err, version or multi count */
  const char *extra_name;
};

static void body_info(int32_t type, struct proto_reader *r,
                      struct txn_info *ti) {
  ti->path.ptr = NULL;
  ti->path.len = -1;
  ti->data_len = -1;
  ti->extra_name = NULL;
  switch (type) {
  case PROTO_OP_CREATE:
  case PROTO_OP_CREATE2:
  case PROTO_OP_CREATECONTAINER:
  case PROTO_OP_CREATETTL:
  case PROTO_OP_SETDATA: {
    ti->path = proto_read_buffer(r);
    struct proto_slice d = proto_read_buffer(r);
    ti->data_len = d.len;
    break;
  }
  case PROTO_OP_DELETE:
  case PROTO_OP_DELETECONTAINER:
  case PROTO_OP_SETACL:
  case PROTO_OP_CHECK:
    ti->path = proto_read_buffer(r);
    break;
  case PROTO_OP_CREATESESSION:
    ti->extra = proto_read_int(r);
    ti->extra_name = "timeout_ms";
    break;
  case PROTO_OP_ERROR:
    ti->extra = proto_read_int(r);
    ti->extra_name = "err";
    break;
  case PROTO_OP_MULTI:
    ti->extra = proto_read_vector_count(r);
    ti->extra_name = "ops";
    break;
  default:
    break;
  }
  if (proto_reader_err(r))
    ti->path.len = -1;
}

static void print_txn(const uint8_t *txn, size_t len, uint64_t frame_off,
                      bool *first_json) {
  struct tree_txn_header h;
  if (tree_txn_header_decode(txn, len, &h) != PROTO_OK) {
    printf(json ? "%s{\"error\":\"undecodable transaction\"}"
                : "%s?? undecodable transaction\n",
           json && !*first_json ? ",\n" : "");
    *first_json = false;
    return;
  }
  struct proto_reader r;
  proto_reader_init(&r, txn, len, len);
  proto_read_long(&r);
  proto_read_int(&r);
  proto_read_long(&r);
  proto_read_long(&r);
  proto_read_int(&r);
  struct txn_info ti;
  body_info(h.type, &r, &ti);
  char tbuf[64];
  fmt_time(h.time_ms, tbuf, sizeof tbuf);
  if (json) {
    printf("%s  {\"zxid\":\"0x%" PRIx64 "\",\"time_ms\":%" PRId64
           ",\"time\":\"%s\",\"session\":\"0x%" PRIx64
           "\",\"cxid\":%d,\"type\":\"%s\",\"frame_offset\":%" PRIu64,
           *first_json ? "" : ",\n", (uint64_t)h.zxid, h.time_ms, tbuf,
           (uint64_t)h.session_id, (int)h.cxid, type_name(h.type), frame_off);
    if (ti.path.len >= 0) {
      printf(",\"path\":");
      jstr((const char *)ti.path.ptr, (size_t)ti.path.len);
    }
    printf(",\"txn_bytes\":%zu", len);
    if (ti.data_len >= -1 && (h.type == PROTO_OP_CREATE ||
                              h.type == PROTO_OP_CREATE2 ||
                              h.type == PROTO_OP_CREATECONTAINER ||
                              h.type == PROTO_OP_CREATETTL ||
                              h.type == PROTO_OP_SETDATA))
      printf(",\"data_bytes\":%d", (int)ti.data_len);
    if (ti.extra_name)
      printf(",\"%s\":%d", ti.extra_name, (int)ti.extra);
    printf("}");
    *first_json = false;
    return;
  }
  printf("0x%-10" PRIx64 " %s  session 0x%-16" PRIx64 " %-15s", (uint64_t)h.zxid,
         tbuf, (uint64_t)h.session_id, type_name(h.type));
  if (ti.path.len >= 0)
    printf(" %.*s", (int)ti.path.len, (const char *)ti.path.ptr);
  printf("  txn %zuB", len);
  if (ti.data_len >= 0)
    printf(" data %dB", (int)ti.data_len);
  else if (ti.data_len == -1 && (h.type == PROTO_OP_CREATE ||
                                 h.type == PROTO_OP_CREATE2 ||
                                 h.type == PROTO_OP_SETDATA))
    printf(" data null");
  if (ti.extra_name)
    printf(" %s=%d", ti.extra_name, (int)ti.extra);
  printf("\n");
}

static int cmd_log(const char *path) {
  struct txlog_reader *r;
  int64_t first;
  char err[SNAP_ERRMSG_MAX];
  int rc = txlog_reader_open(path, NULL, &r, &first, err, sizeof err);
  if (rc != SNAP_OK) {
    fprintf(stderr, "roost-dump: %s\n", err);
    return rc == SNAP_EIO || rc == SNAP_ENOENT ? 2 : 1;
  }
  if (json)
    printf("{\"file\":\"%s\",\"first_zxid\":\"0x%" PRIx64
           "\",\"transactions\":[\n",
           path, (uint64_t)first);
  else
    printf("# %s: log segment from zxid 0x%" PRIx64 "\n", path,
           (uint64_t)first);
  bool first_json = true;
  uint64_t frames = 0, txns = 0, bytes = 0;
  int k, status = 0;
  struct txlog_frame f;
  uint64_t bad = 0;
  while ((k = txlog_reader_next(r, &f, &bad, err, sizeof err)) == 1) {
    frames++;
    bytes += 40 + f.stored_len;
    if (!json)
      printf("# frame at offset %" PRIu64 ": %u txns, %u bytes stored "
             "(%s), %u raw\n",
             f.offset, f.n_txns, f.stored_len,
             f.method ? "deflate" : "stored", f.raw_len);
    size_t pos = 0;
    const uint8_t *txn;
    size_t len;
    while (txlog_frame_next_txn(&f, &pos, &txn, &len)) {
      print_txn(txn, len, f.offset, &first_json);
      txns++;
    }
  }
  if (k < 0)
    status = k == SNAP_EIO || k == SNAP_ENOMEM ? 2 : 1;
  if (json) {
    printf("\n],\"frames\":%" PRIu64 ",\"transactions_count\":%" PRIu64
           ",\"frame_bytes\":%" PRIu64,
           frames, txns, bytes);
    if (k < 0) {
      printf(",\"error\":");
      jstr(err, strlen(err));
      printf(",\"error_offset\":%" PRIu64, bad);
    }
    printf("}\n");
  } else {
    printf("# %" PRIu64 " frames, %" PRIu64 " transactions, %" PRIu64
           " bytes in frames\n",
           frames, txns, bytes);
  }
  if (k < 0)
    fprintf(stderr, "roost-dump: %s\n", err);
  txlog_reader_close(r);
  return status;
}

/* Snapshot printing through the scan visitor. */
struct snap_print {
  bool first;
  uint64_t nodes;
  uint32_t n_sessions_seen;
};

static bool sp_header(void *arg, int64_t last_zxid, uint32_t n_acls,
                      uint32_t n_sessions) {
  if (json)
    printf("\"last_zxid\":\"0x%" PRIx64 "\",\"acl_lists\":%u,\"sessions\":[",
           (uint64_t)last_zxid, n_acls);
  else
    printf("# last zxid 0x%" PRIx64 ", %u ACL lists, %u sessions\n",
           (uint64_t)last_zxid, n_acls, n_sessions);
  return true;
}

static bool sp_acl(void *arg, uint32_t index, const uint8_t *blob,
                   size_t len) {
  if (json)
    return true;
  struct proto_reader r;
  proto_reader_init(&r, blob, len, len);
  int32_t n = proto_read_vector_count(&r);
  printf("# acl %u:", index);
  for (int32_t i = 0; i < n && !proto_reader_err(&r); i++) {
    struct proto_acl a;
    proto_read_acl(&r, &a);
    if (proto_reader_err(&r))
      break;
    printf(" %.*s:%.*s:%d", (int)a.id.scheme.len,
           (const char *)a.id.scheme.ptr, (int)a.id.id.len,
           (const char *)a.id.id.ptr, (int)a.perms);
  }
  printf("\n");
  return true;
}

static bool sp_session(void *arg, int64_t id, int32_t timeout_ms) {
  struct snap_print *p = arg;
  if (json)
    printf("%s{\"id\":\"0x%" PRIx64 "\",\"timeout_ms\":%d}",
           p->n_sessions_seen++ ? "," : "", (uint64_t)id, (int)timeout_ms);
  else
    printf("session 0x%" PRIx64 " timeout %d ms\n", (uint64_t)id,
           (int)timeout_ms);
  return true;
}

static bool sp_node(void *arg, const struct tree_serial_node *n) {
  struct snap_print *p = arg;
  char owner[64];
  if (n->owner == 0)
    snprintf(owner, sizeof owner, "persistent");
  else if (n->owner == INT64_MIN)
    snprintf(owner, sizeof owner, "container");
  else if (((uint64_t)n->owner & UINT64_C(0xFF00000000000000)) ==
           UINT64_C(0xFF00000000000000))
    snprintf(owner, sizeof owner, "ttl=%" PRIu64,
             (uint64_t)n->owner & UINT64_C(0xFFFFFFFFFF));
  else
    snprintf(owner, sizeof owner, "ephemeral=0x%" PRIx64, (uint64_t)n->owner);
  if (json) {
    if (p->first)
      printf("],\"nodes\":[\n");
    printf("%s  {\"path\":", p->first ? "" : ",\n");
    jstr(n->path, n->path_len);
    printf(",\"czxid\":\"0x%" PRIx64 "\",\"mzxid\":\"0x%" PRIx64
           "\",\"pzxid\":\"0x%" PRIx64 "\",\"ctime\":%" PRId64
           ",\"mtime\":%" PRId64 ",\"version\":%d,\"cversion\":%d,"
           "\"aversion\":%d,\"owner\":\"%s\",\"data_length\":%d,"
           "\"acl\":%u,\"children\":%u}",
           (uint64_t)n->czxid, (uint64_t)n->mzxid, (uint64_t)n->pzxid,
           n->ctime, n->mtime, (int)n->version, (int)n->cversion,
           (int)n->aversion, owner, (int)n->data_len, n->acl, n->n_children);
  } else {
    printf("%.*s  czxid 0x%" PRIx64 " mzxid 0x%" PRIx64 " pzxid 0x%" PRIx64
           " version %d cversion %d aversion %d %s data %d%s acl %u "
           "children %u\n",
           (int)n->path_len, n->path, (uint64_t)n->czxid, (uint64_t)n->mzxid,
           (uint64_t)n->pzxid, (int)n->version, (int)n->cversion,
           (int)n->aversion, owner, n->data_len < 0 ? 0 : (int)n->data_len,
           n->data_len < 0 ? " (null)" : "B", n->acl, n->n_children);
  }
  p->first = false;
  p->nodes++;
  return true;
}

static int cmd_snapshot(const char *path) {
  struct snap_print p = {.first = true};
  struct tree_serial_visitor v = {&p, sp_header, sp_acl, sp_session, sp_node};
  char err[SNAP_ERRMSG_MAX];
  int64_t zxid = 0;
  if (json)
    printf("{\"file\":\"%s\",", path);
  else
    printf("# %s\n", path);
  int rc = snap_scan(path, NULL, &v, &zxid, err, sizeof err);
  if (json) {
    if (p.first)
      printf("],\"nodes\":[");
    printf("\n],\"node_count\":%" PRIu64, p.nodes);
    if (rc != SNAP_OK) {
      printf(",\"error\":");
      jstr(err, strlen(err));
    }
    printf("}\n");
  } else {
    printf("# %" PRIu64 " nodes\n", p.nodes);
  }
  if (rc != SNAP_OK) {
    fprintf(stderr, "roost-dump: %s\n", err);
    return rc == SNAP_EIO || rc == SNAP_ENOENT ? 2 : 1;
  }
  return 0;
}

static void report(void *arg, const char *msg) { printf("%s\n", msg); }

static int cmd_verify(const char *dir, const char *log_dir) {
  int rc = snap_verify(dir, log_dir, NULL, report, NULL);
  if (rc == SNAP_OK) {
    printf("verify: %s is sound\n", dir);
    return 0;
  }
  printf("verify: damage found (%s)\n", snap_strerror(rc));
  return rc == SNAP_EIO || rc == SNAP_ENOENT ? 2 : 1;
}

static int cmd_truncate(const char *path, bool force) {
  struct txlog_reader *r;
  int64_t first;
  char err[SNAP_ERRMSG_MAX];
  int rc = txlog_reader_open(path, NULL, &r, &first, err, sizeof err);
  if (rc != SNAP_OK) {
    fprintf(stderr, "roost-dump: %s\n", err);
    return 2;
  }
  struct txlog_frame f;
  uint64_t bad = 0, frames = 0;
  int64_t last = 0;
  int k;
  while ((k = txlog_reader_next(r, &f, &bad, err, sizeof err)) == 1) {
    frames++;
    last = f.last_zxid;
  }
  txlog_reader_close(r);
  if (k == 0) {
    printf("%s: no torn tail (%" PRIu64 " frames); nothing cut\n", path,
           frames);
    return 0;
  }
  if (k == SNAP_ECORRUPT && !force) {
    fprintf(stderr,
            "roost-dump: %s\nroost-dump: not cutting: valid frames follow "
            "the bad one (corruption in the middle); --force cuts at offset "
            "%" PRIu64 " and loses them\n",
            err, bad);
    return 1;
  }
  if (k != SNAP_ETORN && k != SNAP_ECORRUPT) {
    fprintf(stderr, "roost-dump: %s\n", err);
    return 2;
  }
  rc = txlog_truncate(path, NULL, bad, err, sizeof err);
  if (rc != SNAP_OK) {
    fprintf(stderr, "roost-dump: %s\n", err);
    return 2;
  }
  printf("%s: cut at offset %" PRIu64 " after %" PRIu64
         " good frames (last zxid 0x%" PRIx64 ")\n",
         path, bad, frames, (uint64_t)last);
  return 0;
}

int main(int argc, char **argv) {
  int i = 1;
  bool force = false;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (strcmp(argv[i], "--json") == 0)
      json = true;
    else if (strcmp(argv[i], "--force") == 0)
      force = true;
    else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "--version") == 0) {
      printf("roost-dump %s\n", PROTO_ROOST_VERSION);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (i + 1 < argc && strcmp(argv[i], "truncate") == 0 &&
      strcmp(argv[i + 1], "--force") == 0) {
    force = true;
    argv[i + 1] = argv[i];
    i++;
  }
  if (argc - i < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[i], *arg = argv[i + 1];
  if (strcmp(cmd, "log") == 0)
    return cmd_log(arg);
  if (strcmp(cmd, "snapshot") == 0)
    return cmd_snapshot(arg);
  if (strcmp(cmd, "verify") == 0)
    return cmd_verify(arg, argc - i > 2 ? argv[i + 2] : NULL);
  if (strcmp(cmd, "truncate") == 0)
    return cmd_truncate(arg, force);
  usage(stderr);
  return 2;
}
