/* proto — the ZooKeeper client wire protocol (jute encoding).
 *
 * Everything a server or client needs to read and write frames: a
 * bounds-checked reader, a growable writer, request/response records,
 * opcodes, error codes, event types and path validation.  Field orders
 * and semantics follow ../shared/docs/zookeeper-wire-protocol.md (§ numbers
 * below refer to it).
 *
 * Memory: decoded records never allocate.  Strings and buffers inside a
 * decoded record are *borrowed* slices of the frame that was decoded and are
 * valid until that frame's memory is freed or reused.  Vectors inside a
 * decoded record (ACL lists, multi ops, setWatches path lists) are kept as a
 * borrowed raw slice plus a count; they were fully validated by the decoder,
 * so iterating them afterwards cannot fail.
 *
 * Thread safety: no global state; every function is reentrant.
 */
#ifndef ROOST_PROTO_H
#define ROOST_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Error codes: ZooKeeper's wire values (§6.1). X(name, value, message) */

#define PROTO_ERR_MAP(X)                                                       \
  X(OK, 0, "ok")                                                               \
  X(SYSTEMERROR, -1, "system error")                                           \
  X(RUNTIMEINCONSISTENCY, -2, "runtime inconsistency")                         \
  X(DATAINCONSISTENCY, -3, "data inconsistency")                               \
  X(CONNECTIONLOSS, -4, "connection loss")                                     \
  X(MARSHALLINGERROR, -5, "marshalling error")                                 \
  X(UNIMPLEMENTED, -6, "unimplemented")                                        \
  X(OPERATIONTIMEOUT, -7, "operation timeout")                                 \
  X(BADARGUMENTS, -8, "bad arguments")                                         \
  X(INVALIDSTATE, -9, "invalid state")                                         \
  X(UNKNOWNSESSION, -12, "unknown session")                                    \
  X(NEWCONFIGNOQUORUM, -13, "new config has no quorum")                        \
  X(RECONFIGINPROGRESS, -14, "reconfig in progress")                           \
  X(APIERROR, -100, "api error")                                               \
  X(NONODE, -101, "no node")                                                   \
  X(NOAUTH, -102, "not authenticated")                                         \
  X(BADVERSION, -103, "bad version")                                           \
  X(NOCHILDRENFOREPHEMERALS, -108, "no children for ephemerals")               \
  X(NODEEXISTS, -110, "node exists")                                           \
  X(NOTEMPTY, -111, "directory not empty")                                     \
  X(SESSIONEXPIRED, -112, "session expired")                                   \
  X(INVALIDCALLBACK, -113, "invalid callback")                                 \
  X(INVALIDACL, -114, "invalid acl")                                           \
  X(AUTHFAILED, -115, "authentication failed")                                 \
  X(CLOSING, -116, "zookeeper is closing")                                     \
  X(NOTHING, -117, "(not error) no server responses to process")               \
  X(SESSIONMOVED, -118, "session moved to another server")                     \
  X(NOTREADONLY, -119, "state-changing request sent to read-only server")      \
  X(EPHEMERALONLOCALSESSION, -120, "ephemeral node on local session")          \
  X(NOWATCHER, -121, "no watcher")                                             \
  X(REQUESTTIMEOUT, -122, "request timeout")                                   \
  X(RECONFIGDISABLED, -123, "reconfig disabled")                               \
  X(SESSIONCLOSEDREQUIRESASLAUTH, -124, "session closed, sasl auth required")  \
  X(QUOTAEXCEEDED, -125, "quota exceeded")                                     \
  X(THROTTLEDOP, -127, "operation throttled")

enum proto_err {
#define PROTO_ERR_ENUM(name, value, msg) PROTO_##name = (value),
  PROTO_ERR_MAP(PROTO_ERR_ENUM)
#undef PROTO_ERR_ENUM
};

/* Human message for a code ("unknown error" for a value not in the map).
 * Returns a static string. */
const char *proto_strerror(int err);
/* Symbolic name ("NONODE"), or "UNKNOWN". Static string. */
const char *proto_err_name(int err);

/* ------------------------------------------------------------------ */
/* Opcodes (§5.1). X(name, value, tag) — tag is the 4-letter `cons` tag. */

#define PROTO_OP_MAP(X)                                                        \
  X(NOTIFICATION, 0, "NOTI")                                                   \
  X(CREATE, 1, "CREA")                                                         \
  X(DELETE, 2, "DELE")                                                         \
  X(EXISTS, 3, "EXIS")                                                         \
  X(GETDATA, 4, "GETD")                                                        \
  X(SETDATA, 5, "SETD")                                                        \
  X(GETACL, 6, "GETA")                                                         \
  X(SETACL, 7, "SETA")                                                         \
  X(GETCHILDREN, 8, "GETC")                                                    \
  X(SYNC, 9, "SYNC")                                                           \
  X(PING, 11, "PING")                                                          \
  X(GETCHILDREN2, 12, "GETC")                                                  \
  X(CHECK, 13, "CKV ")                                                         \
  X(MULTI, 14, "MULT")                                                         \
  X(CREATE2, 15, "CREA")                                                       \
  X(RECONFIG, 16, "RECO")                                                      \
  X(CHECKWATCHES, 17, "CHKW")                                                  \
  X(REMOVEWATCHES, 18, "REMW")                                                 \
  X(CREATECONTAINER, 19, "CCON")                                               \
  X(DELETECONTAINER, 20, "DCON")                                               \
  X(CREATETTL, 21, "CTTL")                                                     \
  X(MULTIREAD, 22, "MLTR")                                                     \
  X(AUTH, 100, "AUTH")                                                         \
  X(SETWATCHES, 101, "SETW")                                                   \
  X(SASL, 102, "SASL")                                                         \
  X(GETEPHEMERALS, 103, "GETE")                                                \
  X(GETALLCHILDRENNUMBER, 104, "GETA")                                         \
  X(SETWATCHES2, 105, "STW2")                                                  \
  X(ADDWATCH, 106, "ADDW")                                                     \
  X(WHOAMI, 107, "WHAM")                                                       \
  X(CREATESESSION, -10, "SESS")                                                \
  X(CLOSESESSION, -11, "CLOS")                                                 \
  X(ERROR, -1, "ERR ")

enum proto_op {
#define PROTO_OP_ENUM(name, value, tag) PROTO_OP_##name = (value),
  PROTO_OP_MAP(PROTO_OP_ENUM)
#undef PROTO_OP_ENUM
};

/* "create", "getData", ... (ZooKeeper's names); "unknown" otherwise. */
const char *proto_op_name(int op);
/* 4-letter tag for `cons` (lop=...); "UNKN" otherwise. */
const char *proto_op_tag(int op);

/* Special xids (§3.2). */
enum {
  PROTO_XID_NOTIFICATION = -1,
  PROTO_XID_PING = -2,
  PROTO_XID_AUTH = -4,
  PROTO_XID_SET_WATCHES = -8,
};

/* Event types (§6.2), keeper states (§6.3). */
enum proto_event_type {
  PROTO_EVENT_NONE = -1,
  PROTO_EVENT_NODE_CREATED = 1,
  PROTO_EVENT_NODE_DELETED = 2,
  PROTO_EVENT_NODE_DATA_CHANGED = 3,
  PROTO_EVENT_NODE_CHILDREN_CHANGED = 4,
  PROTO_EVENT_DATA_WATCH_REMOVED = 5,
  PROTO_EVENT_CHILD_WATCH_REMOVED = 6,
  PROTO_EVENT_PERSISTENT_WATCH_REMOVED = 7,
};
enum proto_keeper_state {
  PROTO_STATE_DISCONNECTED = 0,
  PROTO_STATE_SYNC_CONNECTED = 3,
  PROTO_STATE_AUTH_FAILED = 4,
  PROTO_STATE_CONNECTED_READ_ONLY = 5,
  PROTO_STATE_EXPIRED = -112,
};

/* Create flags (§4.4). */
enum proto_create_mode {
  PROTO_CREATE_PERSISTENT = 0,
  PROTO_CREATE_EPHEMERAL = 1,
  PROTO_CREATE_PERSISTENT_SEQUENTIAL = 2,
  PROTO_CREATE_EPHEMERAL_SEQUENTIAL = 3,
  PROTO_CREATE_CONTAINER = 4,
  PROTO_CREATE_PERSISTENT_WITH_TTL = 5,
  PROTO_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL = 6,
};

/* Permission bits (§6.4). */
enum proto_perm {
  PROTO_PERM_READ = 1,
  PROTO_PERM_WRITE = 2,
  PROTO_PERM_CREATE = 4,
  PROTO_PERM_DELETE = 8,
  PROTO_PERM_ADMIN = 16,
  PROTO_PERM_ALL = 31,
};

/* WatcherType for checkWatches/removeWatches, AddWatchMode (§6.5). */
enum proto_watcher_type {
  PROTO_WATCHER_CHILDREN = 1,
  PROTO_WATCHER_DATA = 2,
  PROTO_WATCHER_ANY = 3,
  PROTO_WATCHER_PERSISTENT = 4,
  PROTO_WATCHER_PERSISTENT_RECURSIVE = 5,
};
enum proto_add_watch_mode {
  PROTO_ADD_WATCH_PERSISTENT = 0,
  PROTO_ADD_WATCH_PERSISTENT_RECURSIVE = 1,
};

/* Defaults (§1.5). */
#define PROTO_DEFAULT_MAX_BUFFER 0xfffff
#define PROTO_PASSWD_LEN 16

/* Roost's release, the one version string of every program, man page and
 * package (the Makefile reads it from here). */
#define PROTO_ROOST_VERSION "0.1.0"
#define PROTO_STAT_SIZE 68

/* ------------------------------------------------------------------ */
/* Bounds-checked reader.
 *
 * The error is sticky: after the first failure every read returns 0 /
 * an empty slice and proto_reader_err() returns PROTO_MARSHALLINGERROR.
 * A reader never touches memory outside [buf, buf+len). */

struct proto_reader {
  const uint8_t *buf; /* borrowed */
  size_t len;
  size_t pos;
  size_t max_field; /* largest buffer/string/vector count accepted */
  int err;          /* PROTO_OK or PROTO_MARSHALLINGERROR */
};

/* A borrowed byte slice.  len == -1 means null (ptr is NULL then). */
struct proto_slice {
  const uint8_t *ptr;
  int32_t len;
};

/* max_field bounds every length field (buffer, ustring, vector count);
 * ZooKeeper uses 2 * jute.maxbuffer for fields. */
void proto_reader_init(struct proto_reader *r, const void *buf, size_t len,
                       size_t max_field);
int32_t proto_read_int(struct proto_reader *r);
int64_t proto_read_long(struct proto_reader *r);
bool proto_read_bool(struct proto_reader *r);
/* buffer and ustring have the same encoding; -1 gives a null slice, any
 * other negative length or a length past the end is an error. */
struct proto_slice proto_read_buffer(struct proto_reader *r);
/* Vector count: -1 (null) is returned as 0; < -1 or > max_field errors. */
int32_t proto_read_vector_count(struct proto_reader *r);
/* Big-endian loads and stores: the one pair for the whole tree (the wire,
 * the log and snapshot formats, the peer frames are all big-endian). */
static inline uint16_t proto_load_be16(const uint8_t *p) {
  return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t proto_load_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}
static inline uint64_t proto_load_be64(const uint8_t *p) {
  return (uint64_t)proto_load_be32(p) << 32 | proto_load_be32(p + 4);
}
static inline void proto_store_be16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void proto_store_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static inline void proto_store_be64(uint8_t *p, uint64_t v) {
  proto_store_be32(p, (uint32_t)(v >> 32));
  proto_store_be32(p + 4, (uint32_t)v);
}

static inline int proto_reader_err(const struct proto_reader *r) {
  return r->err;
}
static inline size_t proto_reader_remaining(const struct proto_reader *r) {
  return r->len - r->pos;
}

/* ------------------------------------------------------------------ */
/* Growable writer.
 *
 * Owns its buffer (free with proto_writer_free).  On allocation failure
 * the error is sticky (err = PROTO_SYSTEMERROR) and later writes are
 * ignored; check proto_writer_err() before using the bytes.  Growing past
 * INT32_MAX bytes is refused the same way (PROTO_SYSTEMERROR); a length
 * jute cannot express (buffer len < -1, string > INT32_MAX bytes) sets
 * err = PROTO_BADARGUMENTS. */

struct proto_writer {
  uint8_t *buf; /* owned */
  size_t len;
  size_t cap;
  int err;
};

void proto_writer_init(struct proto_writer *w);
void proto_writer_free(struct proto_writer *w);
/* Forget the content, keep the allocation. */
static inline void proto_writer_reset(struct proto_writer *w) {
  w->len = 0;
  w->err = 0;
}
static inline int proto_writer_err(const struct proto_writer *w) {
  return w->err;
}
/* Make room for n more bytes; returns a pointer to them (or NULL on OOM). */
uint8_t *proto_writer_reserve(struct proto_writer *w, size_t n);
void proto_write_raw(struct proto_writer *w, const void *p, size_t n);
void proto_write_int(struct proto_writer *w, int32_t v);
void proto_write_long(struct proto_writer *w, int64_t v);
void proto_write_bool(struct proto_writer *w, bool v);
/* len == -1 writes a null buffer (p ignored). */
void proto_write_buffer(struct proto_writer *w, const void *p, int32_t len);
/* A non-null ustring of n bytes. */
void proto_write_string(struct proto_writer *w, const char *s, size_t n);
static inline void proto_write_slice(struct proto_writer *w,
                                     struct proto_slice s) {
  proto_write_buffer(w, s.ptr, s.len);
}
/* Frames: begin reserves the 4-byte length and returns its offset; end
 * patches it with the number of bytes written since. */
size_t proto_frame_begin(struct proto_writer *w);
void proto_frame_end(struct proto_writer *w, size_t mark);

/* ------------------------------------------------------------------ */
/* Data records (§4). */

struct proto_stat {
  int64_t czxid;
  int64_t mzxid;
  int64_t ctime;
  int64_t mtime;
  int32_t version;
  int32_t cversion;
  int32_t aversion;
  int64_t ephemeral_owner;
  int32_t data_length;
  int32_t num_children;
  int64_t pzxid;
};

struct proto_id {
  struct proto_slice scheme;
  struct proto_slice id;
};

struct proto_acl {
  int32_t perms;
  struct proto_id id;
};

void proto_write_stat(struct proto_writer *w, const struct proto_stat *s);
void proto_read_stat(struct proto_reader *r, struct proto_stat *s);
void proto_write_acl(struct proto_writer *w, const struct proto_acl *a);
void proto_read_acl(struct proto_reader *r, struct proto_acl *a);

/* A validated, borrowed vector<ACL>. */
struct proto_acl_vec {
  struct proto_slice raw; /* the encoded elements, after the count */
  int32_t count;          /* -1 for a null vector */
};
/* Iterate: set up once, then call next `count` times. */
struct proto_acl_iter {
  struct proto_reader r;
  int32_t left;
};
void proto_acl_iter_init(struct proto_acl_iter *it,
                         const struct proto_acl_vec *v);
/* Returns true and fills *a while elements remain. */
bool proto_acl_iter_next(struct proto_acl_iter *it, struct proto_acl *a);

/* A validated, borrowed vector<ustring>. */
struct proto_str_vec {
  struct proto_slice raw;
  int32_t count; /* -1 for a null vector */
};
struct proto_str_iter {
  struct proto_reader r;
  int32_t left;
};
void proto_str_iter_init(struct proto_str_iter *it,
                         const struct proto_str_vec *v);
bool proto_str_iter_next(struct proto_str_iter *it, struct proto_slice *s);

/* ------------------------------------------------------------------ */
/* Handshake (§2). */

struct proto_connect_request {
  int32_t protocol_version;
  int64_t last_zxid_seen;
  int32_t timeout_ms;
  int64_t session_id;
  struct proto_slice passwd;
  bool has_read_only; /* the optional trailing byte was present */
  bool read_only;
};

struct proto_connect_response {
  int32_t protocol_version;
  int32_t timeout_ms;
  int64_t session_id;
  uint8_t passwd[PROTO_PASSWD_LEN];
  bool has_read_only; /* echo the request's has_read_only */
  bool read_only;
};

/* Decode a ConnectRequest payload (frame without its length prefix).
 * Returns PROTO_OK or PROTO_MARSHALLINGERROR. */
int proto_connect_request_decode(const void *payload, size_t len,
                                 struct proto_connect_request *out);
/* Writes a whole frame (length prefix included), like the request
 * encoders: 45 payload bytes for a 16-byte passwd with has_read_only, 44
 * without. */
void proto_connect_request_encode(struct proto_writer *w,
                                  const struct proto_connect_request *c);
/* Writes a whole frame (length prefix included): 37 or 36 payload bytes. */
void proto_connect_response_encode_frame(
    struct proto_writer *w, const struct proto_connect_response *c);
int proto_connect_response_decode(const void *payload, size_t len,
                                  struct proto_connect_response *out);

/* ------------------------------------------------------------------ */
/* Headers (§3). */

struct proto_request_header {
  int32_t xid;
  int32_t type;
};

struct proto_reply_header {
  int32_t xid;
  int64_t zxid;
  int32_t err;
};

void proto_write_reply_header(struct proto_writer *w,
                              const struct proto_reply_header *h);
void proto_read_reply_header(struct proto_reader *r,
                             struct proto_reply_header *h);

/* ------------------------------------------------------------------ */
/* Requests (§5.2).  One struct per record; proto_request is the union the
 * server dispatches on. */

struct proto_create_req { /* ops 1, 15, 19, 21 */
  struct proto_slice path;
  struct proto_slice data;
  struct proto_acl_vec acl;
  int32_t flags;
  int64_t ttl; /* op 21 only, else 0 */
};
struct proto_delete_req {
  struct proto_slice path;
  int32_t version;
};
struct proto_path_watch_req { /* exists, getData, getChildren(2) */
  struct proto_slice path;
  bool watch;
};
struct proto_set_data_req {
  struct proto_slice path;
  struct proto_slice data;
  int32_t version;
};
struct proto_path_req { /* getACL, sync, getEphemerals,
                           getAllChildrenNumber */
  struct proto_slice path;
};
struct proto_set_acl_req {
  struct proto_slice path;
  struct proto_acl_vec acl;
  int32_t version;
};
struct proto_check_req {
  struct proto_slice path;
  int32_t version;
};
struct proto_watches_req { /* checkWatches, removeWatches */
  struct proto_slice path;
  int32_t type;
};
struct proto_add_watch_req {
  struct proto_slice path;
  int32_t mode;
};
struct proto_auth_req {
  int32_t type;
  struct proto_slice scheme;
  struct proto_slice auth;
};
struct proto_set_watches_req { /* setWatches and setWatches2 */
  int64_t relative_zxid;
  struct proto_str_vec data_watches;
  struct proto_str_vec exist_watches;
  struct proto_str_vec child_watches;
  struct proto_str_vec persistent_watches;           /* setWatches2 only */
  struct proto_str_vec persistent_recursive_watches; /* setWatches2 only */
};
struct proto_reconfig_req {
  struct proto_slice joining;
  struct proto_slice leaving;
  struct proto_slice new_members;
  int64_t cur_config_id;
};
struct proto_sasl_req {
  struct proto_slice token;
};

/* A multi / multiRead body: validated, iterate with proto_multi_iter. */
struct proto_multi_req {
  struct proto_slice raw; /* from the first MultiHeader to the terminator */
  int32_t count;          /* number of sub-ops (terminator excluded) */
};

/* One sub-op of a multi. type is the sub-op's opcode; exactly one of the
 * union members is meaningful for it. */
struct proto_multi_op {
  int32_t type;
  union {
    struct proto_create_req create;     /* 1, 15, 19, 21 */
    struct proto_delete_req del;        /* 2 */
    struct proto_set_data_req set_data; /* 5 */
    struct proto_check_req check;       /* 13 */
    struct proto_path_watch_req read;   /* 4, 8 (multiRead) */
  } u;
};
struct proto_multi_iter {
  struct proto_reader r;
  int32_t left;
};
void proto_multi_iter_init(struct proto_multi_iter *it,
                           const struct proto_multi_req *m);
bool proto_multi_iter_next(struct proto_multi_iter *it,
                           struct proto_multi_op *op);

struct proto_request {
  struct proto_request_header hdr;
  union {
    struct proto_create_req create;
    struct proto_delete_req del;
    struct proto_path_watch_req path_watch;
    struct proto_set_data_req set_data;
    struct proto_path_req path;
    struct proto_set_acl_req set_acl;
    struct proto_check_req check;
    struct proto_watches_req watches;
    struct proto_add_watch_req add_watch;
    struct proto_auth_req auth;
    struct proto_set_watches_req set_watches;
    struct proto_reconfig_req reconfig;
    struct proto_sasl_req sasl;
    struct proto_multi_req multi;
  } u;
};

/* Decode one request frame payload (RequestHeader + body, without the
 * 4-byte length).  max_field bounds every length field inside.
 *
 * Returns:
 *   PROTO_OK               — *out is filled (borrowing from payload);
 *   PROTO_UNIMPLEMENTED    — hdr was read but the opcode is unknown
 *                             (out->hdr is valid: reply -6 and close);
 *   PROTO_MARSHALLINGERROR — hdr was read (out->hdr valid) but the body
 *                             does not decode, or for multi: a sub-op type
 *                             not allowed, read and write ops mixed, or a
 *                             create with invalid flags (§5.4);
 *   PROTO_BADARGUMENTS     — payload shorter than a RequestHeader
 *                             (out->hdr not valid: close the connection).
 * Trailing bytes after the record are ignored (§1.2).  A null ustring
 * (length -1) in a path field decodes as a null slice (len -1, ptr NULL):
 * check before using it as a C string.  On an error return the body (out->u)
 * is all zero. */
int proto_request_decode(const void *payload, size_t len, size_t max_field,
                         struct proto_request *out);

/* Request encoders (for clients and tests).  Each writes a whole frame,
 * length prefix included. */
void proto_request_encode(struct proto_writer *w,
                          const struct proto_request *req);
/* Multi building: begin, add sub-ops, end.  Writes a whole frame. */
size_t proto_multi_encode_begin(struct proto_writer *w, int32_t xid,
                                int32_t type /* 14 or 22 */);
void proto_multi_encode_op(struct proto_writer *w,
                           const struct proto_multi_op *op);
void proto_multi_encode_end(struct proto_writer *w, size_t mark);

/* ------------------------------------------------------------------ */
/* Responses and events.  The server writes reply bodies with the
 * primitives and these helpers; see §5.2 for each record. */

/* Writes a whole notification frame: ReplyHeader(-1, zxid, 0) +
 * WatcherEvent(type, state 3, path). */
void proto_write_notification(struct proto_writer *w, int64_t zxid,
                              int32_t type, const char *path, size_t path_len);
struct proto_watcher_event {
  int32_t type;
  int32_t state;
  struct proto_slice path;
};
void proto_read_watcher_event(struct proto_reader *r,
                              struct proto_watcher_event *e);

/* MultiHeader (§4.6). */
void proto_write_multi_header(struct proto_writer *w, int32_t type, bool done,
                              int32_t err);

/* ------------------------------------------------------------------ */
/* Paths (§7.1). */

/* Full validation: returns PROTO_OK or PROTO_BADARGUMENTS. Rules: not
 * empty, starts with '/', no trailing '/' (except the root), no empty,
 * "." or ".." component, valid UTF-8 with no code point in U+0000-U+001F,
 * U+007F-U+009F, U+D800-U+F8FF, U+FFF0-U+FFFF and nothing above U+FFFF. */
int proto_path_validate(const char *path, size_t len);

/* Text for a 4-letter word code, or NULL if the 4 bytes are not one. */
const char *proto_four_letter_word(int32_t code);

#endif /* ROOST_PROTO_H */
