/* zab peer message codec.
 *
 * One fixed layout for every type (docs/zab.md, "Wire format"), jute
 * encoded (big-endian ints and longs, a length-prefixed buffer):
 *
 *   int version | int type | int epoch | long zxid | long session |
 *   long prev_zxid | int leader | long round | int state | bool observer |
 *   buffer data
 *
 * A fixed layout costs a few bytes per message but gives the decoder one
 * path to validate, and the fuzzer one path to cover.  The data buffer is
 * null (-1) for types that carry none and present (>= 0) for those that
 * do; anything else is rejected, as are trailing bytes. */
#include <string.h>

#include "proto/proto.h"
#include "zab/zab_int.h"

const char *zab_msg_type_name(int type) {
  switch (type) {
#define ZAB_MSG_NAME(name, value)                                              \
  case value:                                                                  \
    return #name;
    ZAB_MSG_MAP(ZAB_MSG_NAME)
#undef ZAB_MSG_NAME
  }
  return "UNKNOWN";
}

/* Known iff the map names it: one list of types, no second to drift. */
static bool type_known(int32_t t) {
  return strcmp(zab_msg_type_name(t), "UNKNOWN") != 0;
}

static bool type_has_data(int32_t t) {
  return t == ZAB_MSG_SNAP || t == ZAB_MSG_PROPOSAL || t == ZAB_MSG_INFORM ||
         t == ZAB_MSG_CONFIG;
}

/* A NOTIFICATION carries its sender's committed configuration when it
 * has one other than the static (reconfiguration); none otherwise. */
static bool type_may_have_data(int32_t t) {
  return type_has_data(t) || t == ZAB_MSG_NOTIFICATION;
}

int zab_msg_encode(const struct zab_msg *m, struct proto_writer *w) {
  if (!type_known((int32_t)m->type))
    return ZAB_EINVAL;
  if (!type_may_have_data((int32_t)m->type) && m->len != 0)
    return ZAB_EINVAL;
  if (m->len > (uint32_t)INT32_MAX || (m->len > 0 && m->data == NULL))
    return ZAB_EINVAL;
  proto_write_int(w, ZAB_MSG_VERSION);
  proto_write_int(w, (int32_t)m->type);
  proto_write_int(w, (int32_t)m->epoch);
  proto_write_long(w, (int64_t)m->zxid);
  proto_write_long(w, (int64_t)m->session);
  proto_write_long(w, (int64_t)m->prev_zxid);
  proto_write_int(w, (int32_t)m->leader);
  proto_write_long(w, (int64_t)m->round);
  proto_write_int(w, (int32_t)m->state);
  proto_write_bool(w, m->observer);
  if (type_has_data((int32_t)m->type) || m->len > 0)
    proto_write_buffer(w, m->data, (int32_t)m->len);
  else
    proto_write_buffer(w, NULL, -1);
  return proto_writer_err(w) == PROTO_OK ? ZAB_OK : ZAB_ENOMEM;
}

static int bad(const char **reason, const char *why) {
  if (reason)
    *reason = why;
  return ZAB_BADMSG;
}

int zab_msg_decode(const void *buf, size_t len, size_t max_data,
                   struct zab_msg *out, const char **reason) {
  memset(out, 0, sizeof *out);
  if (reason)
    *reason = "ok";
  if (buf == NULL && len != 0)
    return bad(reason, "null buffer");
  if (len < ZAB_MSG_HEADER_SIZE)
    return bad(reason, "shorter than the fixed header");
  if (max_data > (size_t)INT32_MAX)
    max_data = (size_t)INT32_MAX;
  struct proto_reader r;
  proto_reader_init(&r, buf, len, max_data);
  int32_t version = proto_read_int(&r);
  int32_t type = proto_read_int(&r);
  uint32_t epoch = (uint32_t)proto_read_int(&r);
  uint64_t zxid = (uint64_t)proto_read_long(&r);
  uint64_t session = (uint64_t)proto_read_long(&r);
  uint64_t prev_zxid = (uint64_t)proto_read_long(&r);
  uint32_t leader = (uint32_t)proto_read_int(&r);
  uint64_t round = (uint64_t)proto_read_long(&r);
  int32_t state = proto_read_int(&r);
  /* proto_read_bool maps any non-zero byte to true; be strict instead so
   * that one message has one encoding. */
  if (proto_reader_remaining(&r) < 1)
    return bad(reason, "truncated header");
  uint8_t obs = ((const uint8_t *)buf)[r.pos];
  r.pos++;
  if (proto_reader_err(&r) != PROTO_OK)
    return bad(reason, "truncated header");
  if (version != ZAB_MSG_VERSION)
    return bad(reason, "unsupported version");
  if (!type_known(type))
    return bad(reason, "unknown message type");
  if (state < 0 || state > ZAB_ROLE_OBSERVING)
    return bad(reason, "role out of range");
  if (obs > 1)
    return bad(reason, "observer flag not 0 or 1");
  if (proto_reader_remaining(&r) < 4)
    return bad(reason, "truncated data length");
  struct proto_slice d = proto_read_buffer(&r);
  if (proto_reader_err(&r) != PROTO_OK)
    return bad(reason, "data length out of bounds");
  if (type_has_data(type) && d.len < 0)
    return bad(reason, "missing data");
  if (!type_may_have_data(type) && d.len != -1)
    return bad(reason, "data on a type without data");
  if (!type_has_data(type) && d.len == 0)
    return bad(reason, "empty optional data (absent is -1)");
  if (proto_reader_remaining(&r) != 0)
    return bad(reason, "trailing bytes");
  out->type = (enum zab_msg_type)type;
  out->epoch = epoch;
  out->zxid = zxid;
  out->session = session;
  out->prev_zxid = prev_zxid;
  out->leader = leader;
  out->round = round;
  out->state = (uint32_t)state;
  out->observer = obs == 1;
  out->data = d.len > 0 ? d.ptr : NULL;
  out->len = d.len > 0 ? (uint32_t)d.len : 0;
  return ZAB_OK;
}
