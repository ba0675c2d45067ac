/* proto/records.c — the handshake and request records (§2, §5): decoding
 * with full validation, and byte-exact encoders for clients and tests. */
#include "proto/proto.h"
#include "proto/proto_int.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* Handshake (§2) */

int proto_connect_request_decode(const void *payload, size_t len,
                                 struct proto_connect_request *out) {
  struct proto_reader r;
  memset(out, 0, sizeof *out);
  /* The passwd may be any length the frame holds (Java tolerates that for a
   * new session), so the frame itself is the only field bound needed. */
  proto_reader_init(&r, payload, len, len);
  out->protocol_version = proto_read_int(&r);
  out->last_zxid_seen = proto_read_long(&r);
  out->timeout_ms = proto_read_int(&r);
  out->session_id = proto_read_long(&r);
  out->passwd = proto_read_buffer(&r);
  if (r.err != PROTO_OK)
    return r.err;
  /* The readOnly byte is optional: 3.3-era clients omit it (§2.1). */
  if (proto_reader_remaining(&r) >= 1) {
    out->has_read_only = true;
    out->read_only = proto_read_bool(&r);
  }
  return PROTO_OK;
}

void proto_connect_request_encode(struct proto_writer *w,
                                  const struct proto_connect_request *c) {
  size_t mark = proto_frame_begin(w);
  proto_write_int(w, c->protocol_version);
  proto_write_long(w, c->last_zxid_seen);
  proto_write_int(w, c->timeout_ms);
  proto_write_long(w, c->session_id);
  proto_write_slice(w, c->passwd);
  if (c->has_read_only)
    proto_write_bool(w, c->read_only);
  proto_frame_end(w, mark);
}

void proto_connect_response_encode_frame(
    struct proto_writer *w, const struct proto_connect_response *c) {
  size_t mark = proto_frame_begin(w);
  proto_write_int(w, c->protocol_version);
  proto_write_int(w, c->timeout_ms);
  proto_write_long(w, c->session_id);
  /* libzookeeper reads exactly 41 (or 40) bytes: always 16 passwd bytes. */
  proto_write_buffer(w, c->passwd, PROTO_PASSWD_LEN);
  if (c->has_read_only)
    proto_write_bool(w, c->read_only);
  proto_frame_end(w, mark);
}

int proto_connect_response_decode(const void *payload, size_t len,
                                  struct proto_connect_response *out) {
  struct proto_reader r;
  memset(out, 0, sizeof *out);
  proto_reader_init(&r, payload, len, PROTO_PASSWD_LEN);
  out->protocol_version = proto_read_int(&r);
  out->timeout_ms = proto_read_int(&r);
  out->session_id = proto_read_long(&r);
  struct proto_slice pw = proto_read_buffer(&r);
  if (r.err != PROTO_OK)
    return r.err;
  if (pw.len != PROTO_PASSWD_LEN) /* the struct holds exactly 16 bytes */
    return PROTO_MARSHALLINGERROR;
  memcpy(out->passwd, pw.ptr, PROTO_PASSWD_LEN);
  if (proto_reader_remaining(&r) >= 1) {
    out->has_read_only = true;
    out->read_only = proto_read_bool(&r);
  }
  return PROTO_OK;
}

/* ------------------------------------------------------------------ */
/* Record readers and writers shared by requests and multi sub-ops. */

static bool is_create_op(int32_t t) {
  return t == PROTO_OP_CREATE || t == PROTO_OP_CREATE2 ||
         t == PROTO_OP_CREATECONTAINER || t == PROTO_OP_CREATETTL;
}

static void read_create(struct proto_reader *r, int32_t type,
                        struct proto_create_req *c) {
  c->path = proto_read_buffer(r);
  c->data = proto_read_buffer(r);
  proto__read_acl_vec(r, &c->acl);
  c->flags = proto_read_int(r);
  c->ttl = type == PROTO_OP_CREATETTL ? proto_read_long(r) : 0;
}

static void write_create(struct proto_writer *w, int32_t type,
                         const struct proto_create_req *c) {
  proto_write_slice(w, c->path);
  proto_write_slice(w, c->data);
  proto__write_acl_vec(w, &c->acl);
  proto_write_int(w, c->flags);
  if (type == PROTO_OP_CREATETTL)
    proto_write_long(w, c->ttl);
}

static void read_path_int(struct proto_reader *r, struct proto_slice *path,
                          int32_t *v) {
  *path = proto_read_buffer(r);
  *v = proto_read_int(r);
}

static void write_path_int(struct proto_writer *w, struct proto_slice path,
                           int32_t v) {
  proto_write_slice(w, path);
  proto_write_int(w, v);
}

static void read_path_watch(struct proto_reader *r,
                            struct proto_path_watch_req *p) {
  p->path = proto_read_buffer(r);
  p->watch = proto_read_bool(r);
}

static void read_set_data(struct proto_reader *r,
                          struct proto_set_data_req *s) {
  s->path = proto_read_buffer(r);
  s->data = proto_read_buffer(r);
  s->version = proto_read_int(r);
}

/* ------------------------------------------------------------------ */
/* multi / multiRead (§5.4) */

enum { MULTI_ANY = 0 }; /* iterator: the body was validated already */

static bool multi_op_allowed(int32_t multi_type, int32_t op) {
  bool write = is_create_op(op) || op == PROTO_OP_DELETE ||
               op == PROTO_OP_SETDATA || op == PROTO_OP_CHECK;
  bool read = op == PROTO_OP_GETDATA || op == PROTO_OP_GETCHILDREN;
  if (multi_type == PROTO_OP_MULTI)
    return write;
  if (multi_type == PROTO_OP_MULTIREAD)
    return read;
  return write || read;
}

/* Reads one MultiHeader and, unless it is the terminator, its record.
 * Returns 1 for an op, 0 for the terminator, -1 on error (sticky in r). */
static int read_multi_op(struct proto_reader *r, int32_t multi_type,
                         struct proto_multi_op *op) {
  memset(op, 0, sizeof *op);
  op->type = proto_read_int(r);
  bool done = proto_read_bool(r);
  (void)proto_read_int(r); /* err: ignored in requests (§5.4) */
  if (r->err != PROTO_OK)
    return -1;
  if (done) /* Java stops at done whatever the type; so do we */
    return 0;
  if (!multi_op_allowed(multi_type, op->type)) {
    proto__fail(r);
    return -1;
  }
  switch (op->type) {
  case PROTO_OP_CREATE:
  case PROTO_OP_CREATE2:
  case PROTO_OP_CREATECONTAINER:
  case PROTO_OP_CREATETTL:
    read_create(r, op->type, &op->u.create);
    /* 3.8.2+: bad flags inside a multi fail the whole request (§5.4). */
    if (op->u.create.flags < PROTO_CREATE_PERSISTENT ||
        op->u.create.flags > PROTO_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL)
      proto__fail(r);
    break;
  case PROTO_OP_DELETE:
    read_path_int(r, &op->u.del.path, &op->u.del.version);
    break;
  case PROTO_OP_SETDATA:
    read_set_data(r, &op->u.set_data);
    break;
  case PROTO_OP_CHECK:
    read_path_int(r, &op->u.check.path, &op->u.check.version);
    break;
  default: /* GETDATA, GETCHILDREN: the only others multi_op_allowed lets by */
    read_path_watch(r, &op->u.read);
    break;
  }
  return r->err == PROTO_OK ? 1 : -1;
}

static void read_multi(struct proto_reader *r, int32_t multi_type,
                       struct proto_multi_req *m) {
  size_t start = r->pos;
  int32_t n = 0;
  struct proto_multi_op op;
  int rc;
  while ((rc = read_multi_op(r, multi_type, &op)) == 1) {
    if (n == INT32_MAX) { /* cannot happen below 2^31 * 9 bytes; be sure */
      proto__fail(r);
      return;
    }
    n++;
  }
  if (rc < 0)
    return;
  if (r->pos - start > (size_t)INT32_MAX) {
    proto__fail(r);
    return;
  }
  m->raw.ptr = r->buf + start;
  m->raw.len = (int32_t)(r->pos - start);
  m->count = n;
}

void proto_multi_iter_init(struct proto_multi_iter *it,
                           const struct proto_multi_req *m) {
  proto_reader_init(&it->r, m->raw.ptr, m->raw.len > 0 ? (size_t)m->raw.len : 0,
                    SIZE_MAX);
  it->left = m->count > 0 ? m->count : 0;
}

bool proto_multi_iter_next(struct proto_multi_iter *it,
                           struct proto_multi_op *op) {
  if (it->left <= 0)
    return false;
  if (read_multi_op(&it->r, MULTI_ANY, op) != 1) { /* not from decode */
    it->left = 0;
    return false;
  }
  it->left--;
  return true;
}

static void write_multi_body(struct proto_writer *w,
                             const struct proto_multi_op *op) {
  switch (op->type) {
  case PROTO_OP_CREATE:
  case PROTO_OP_CREATE2:
  case PROTO_OP_CREATECONTAINER:
  case PROTO_OP_CREATETTL:
    write_create(w, op->type, &op->u.create);
    break;
  case PROTO_OP_DELETE:
    write_path_int(w, op->u.del.path, op->u.del.version);
    break;
  case PROTO_OP_SETDATA:
    proto_write_slice(w, op->u.set_data.path);
    proto_write_slice(w, op->u.set_data.data);
    proto_write_int(w, op->u.set_data.version);
    break;
  case PROTO_OP_CHECK:
    write_path_int(w, op->u.check.path, op->u.check.version);
    break;
  case PROTO_OP_GETDATA:
  case PROTO_OP_GETCHILDREN:
    proto_write_slice(w, op->u.read.path);
    proto_write_bool(w, op->u.read.watch);
    break;
  default: /* unknown sub-op: header only, so tests can build bad multis */
    break;
  }
}

size_t proto_multi_encode_begin(struct proto_writer *w, int32_t xid,
                                int32_t type) {
  size_t mark = proto_frame_begin(w);
  proto_write_int(w, xid);
  proto_write_int(w, type);
  return mark;
}

void proto_multi_encode_op(struct proto_writer *w,
                           const struct proto_multi_op *op) {
  proto_write_multi_header(w, op->type, false, -1);
  write_multi_body(w, op);
}

void proto_multi_encode_end(struct proto_writer *w, size_t mark) {
  proto_write_multi_header(w, -1, true, -1);
  proto_frame_end(w, mark);
}

/* ------------------------------------------------------------------ */
/* Requests (§5.2) */

static void read_set_watches(struct proto_reader *r, bool v2,
                             struct proto_set_watches_req *s) {
  s->relative_zxid = proto_read_long(r);
  proto__read_str_vec(r, &s->data_watches);
  proto__read_str_vec(r, &s->exist_watches);
  proto__read_str_vec(r, &s->child_watches);
  if (v2) {
    proto__read_str_vec(r, &s->persistent_watches);
    proto__read_str_vec(r, &s->persistent_recursive_watches);
  }
}

int proto_request_decode(const void *payload, size_t len, size_t max_field,
                         struct proto_request *out) {
  memset(out, 0, sizeof *out);
  if (payload == NULL || len < 8)
    return PROTO_BADARGUMENTS;
  struct proto_reader rd;
  struct proto_reader *r = &rd;
  proto_reader_init(r, payload, len, max_field);
  out->hdr.xid = proto_read_int(r);
  out->hdr.type = proto_read_int(r);

  switch (out->hdr.type) {
  case PROTO_OP_CREATE:
  case PROTO_OP_CREATE2:
  case PROTO_OP_CREATECONTAINER:
  case PROTO_OP_CREATETTL:
    /* flags are checked by the tree (BadArguments), not here (§4.4). */
    read_create(r, out->hdr.type, &out->u.create);
    break;
  case PROTO_OP_DELETE:
    read_path_int(r, &out->u.del.path, &out->u.del.version);
    break;
  case PROTO_OP_EXISTS:
  case PROTO_OP_GETDATA:
  case PROTO_OP_GETCHILDREN:
  case PROTO_OP_GETCHILDREN2:
    read_path_watch(r, &out->u.path_watch);
    break;
  case PROTO_OP_SETDATA:
    read_set_data(r, &out->u.set_data);
    break;
  case PROTO_OP_GETACL:
  case PROTO_OP_SYNC:
  case PROTO_OP_GETEPHEMERALS:
  case PROTO_OP_GETALLCHILDRENNUMBER:
    out->u.path.path = proto_read_buffer(r);
    break;
  case PROTO_OP_SETACL:
    out->u.set_acl.path = proto_read_buffer(r);
    proto__read_acl_vec(r, &out->u.set_acl.acl);
    out->u.set_acl.version = proto_read_int(r);
    break;
  case PROTO_OP_CHECK:
    read_path_int(r, &out->u.check.path, &out->u.check.version);
    break;
  case PROTO_OP_MULTI:
  case PROTO_OP_MULTIREAD:
    read_multi(r, out->hdr.type, &out->u.multi);
    break;
  case PROTO_OP_RECONFIG:
    out->u.reconfig.joining = proto_read_buffer(r);
    out->u.reconfig.leaving = proto_read_buffer(r);
    out->u.reconfig.new_members = proto_read_buffer(r);
    out->u.reconfig.cur_config_id = proto_read_long(r);
    break;
  case PROTO_OP_CHECKWATCHES:
  case PROTO_OP_REMOVEWATCHES:
    read_path_int(r, &out->u.watches.path, &out->u.watches.type);
    break;
  case PROTO_OP_ADDWATCH:
    read_path_int(r, &out->u.add_watch.path, &out->u.add_watch.mode);
    break;
  case PROTO_OP_AUTH:
    out->u.auth.type = proto_read_int(r);
    out->u.auth.scheme = proto_read_buffer(r);
    out->u.auth.auth = proto_read_buffer(r);
    break;
  case PROTO_OP_SETWATCHES:
  case PROTO_OP_SETWATCHES2:
    read_set_watches(r, out->hdr.type == PROTO_OP_SETWATCHES2,
                     &out->u.set_watches);
    break;
  case PROTO_OP_SASL:
    out->u.sasl.token = proto_read_buffer(r);
    break;
  case PROTO_OP_PING:
  case PROTO_OP_WHOAMI:
  case PROTO_OP_CLOSESESSION:
    break; /* no body */
  default:
    /* notification, createSession, deleteContainer, error and anything
     * else: clients never legitimately send these (§7.14). */
    return PROTO_UNIMPLEMENTED;
  }
  if (r->err != PROTO_OK) {
    struct proto_request_header hdr = out->hdr;
    memset(out, 0, sizeof *out); /* no half-decoded body escapes */
    out->hdr = hdr;
    return PROTO_MARSHALLINGERROR;
  }
  return PROTO_OK;
}

static void write_set_watches(struct proto_writer *w, bool v2,
                              const struct proto_set_watches_req *s) {
  proto_write_long(w, s->relative_zxid);
  proto__write_str_vec(w, &s->data_watches);
  proto__write_str_vec(w, &s->exist_watches);
  proto__write_str_vec(w, &s->child_watches);
  if (v2) {
    proto__write_str_vec(w, &s->persistent_watches);
    proto__write_str_vec(w, &s->persistent_recursive_watches);
  }
}

void proto_request_encode(struct proto_writer *w,
                          const struct proto_request *req) {
  const int32_t t = req->hdr.type;
  size_t mark = proto_frame_begin(w);
  proto_write_int(w, req->hdr.xid);
  proto_write_int(w, t);
  switch (t) {
  case PROTO_OP_CREATE:
  case PROTO_OP_CREATE2:
  case PROTO_OP_CREATECONTAINER:
  case PROTO_OP_CREATETTL:
    write_create(w, t, &req->u.create);
    break;
  case PROTO_OP_DELETE:
    write_path_int(w, req->u.del.path, req->u.del.version);
    break;
  case PROTO_OP_EXISTS:
  case PROTO_OP_GETDATA:
  case PROTO_OP_GETCHILDREN:
  case PROTO_OP_GETCHILDREN2:
    proto_write_slice(w, req->u.path_watch.path);
    proto_write_bool(w, req->u.path_watch.watch);
    break;
  case PROTO_OP_SETDATA:
    proto_write_slice(w, req->u.set_data.path);
    proto_write_slice(w, req->u.set_data.data);
    proto_write_int(w, req->u.set_data.version);
    break;
  case PROTO_OP_GETACL:
  case PROTO_OP_SYNC:
  case PROTO_OP_GETEPHEMERALS:
  case PROTO_OP_GETALLCHILDRENNUMBER:
    proto_write_slice(w, req->u.path.path);
    break;
  case PROTO_OP_SETACL:
    proto_write_slice(w, req->u.set_acl.path);
    proto__write_acl_vec(w, &req->u.set_acl.acl);
    proto_write_int(w, req->u.set_acl.version);
    break;
  case PROTO_OP_CHECK:
    write_path_int(w, req->u.check.path, req->u.check.version);
    break;
  case PROTO_OP_MULTI:
  case PROTO_OP_MULTIREAD:
    /* raw holds the sub-ops and the terminator exactly as decoded; an
     * all-zero proto_multi_req still needs its terminator. */
    if (req->u.multi.raw.len > 0)
      proto_write_raw(w, req->u.multi.raw.ptr, (size_t)req->u.multi.raw.len);
    else
      proto_write_multi_header(w, -1, true, -1);
    break;
  case PROTO_OP_RECONFIG:
    proto_write_slice(w, req->u.reconfig.joining);
    proto_write_slice(w, req->u.reconfig.leaving);
    proto_write_slice(w, req->u.reconfig.new_members);
    proto_write_long(w, req->u.reconfig.cur_config_id);
    break;
  case PROTO_OP_CHECKWATCHES:
  case PROTO_OP_REMOVEWATCHES:
    write_path_int(w, req->u.watches.path, req->u.watches.type);
    break;
  case PROTO_OP_ADDWATCH:
    write_path_int(w, req->u.add_watch.path, req->u.add_watch.mode);
    break;
  case PROTO_OP_AUTH:
    proto_write_int(w, req->u.auth.type);
    proto_write_slice(w, req->u.auth.scheme);
    proto_write_slice(w, req->u.auth.auth);
    break;
  case PROTO_OP_SETWATCHES:
  case PROTO_OP_SETWATCHES2:
    write_set_watches(w, t == PROTO_OP_SETWATCHES2, &req->u.set_watches);
    break;
  case PROTO_OP_SASL:
    proto_write_slice(w, req->u.sasl.token);
    break;
  default:
    /* ping, whoAmI, closeSession have no body; unknown opcodes are written
     * header-only so tests can send them. */
    break;
  }
  proto_frame_end(w, mark);
}
