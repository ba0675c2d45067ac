/* libFuzzer harness for the request decoders: arbitrary bytes go to
 * proto_connect_request_decode and proto_request_decode (with the default
 * and a tiny field bound), then everything decoded is iterated, every
 * borrowed slice is checked to lie inside the input, and a decoded request
 * must re-encode to a frame that decodes again to the same bytes.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. \
 *       tests/fuzz/fuzz_request.c proto/[a-z]*.c -o /tmp/fuzz_request
 *   /tmp/fuzz_request -max_total_time=60 tests/fuzz/corpus_request
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless s is null or lies inside [base, base+size). */
static void check_slice(struct proto_slice s, const uint8_t *base,
                        size_t size) {
  if (s.len == -1) {
    if (s.ptr != NULL)
      abort();
    return;
  }
  if (s.len < 0 || (s.len > 0 && s.ptr == NULL))
    abort();
  if (s.len == 0)
    return;
  if (s.ptr < base || (size_t)(s.ptr - base) > size ||
      (size_t)s.len > size - (size_t)(s.ptr - base))
    abort();
  /* Touch every byte so ASan checks the range too. */
  volatile uint8_t sink = 0;
  for (int32_t i = 0; i < s.len; i++)
    sink ^= s.ptr[i];
  (void)sink;
  (void)proto_path_validate((const char *)s.ptr, (size_t)s.len);
}

static void walk_acls(const struct proto_acl_vec *v, const uint8_t *b,
                      size_t n) {
  if (v->count < -1)
    abort();
  check_slice(v->raw, b, n);
  struct proto_acl_iter it;
  struct proto_acl a;
  int32_t seen = 0;
  proto_acl_iter_init(&it, v);
  while (proto_acl_iter_next(&it, &a)) {
    check_slice(a.id.scheme, b, n);
    check_slice(a.id.id, b, n);
    seen++;
  }
  /* Validated at decode time: iteration must yield exactly count. */
  if (seen != (v->count < 0 ? 0 : v->count))
    abort();
}

static void walk_strs(const struct proto_str_vec *v, const uint8_t *b,
                      size_t n) {
  if (v->count < -1)
    abort();
  check_slice(v->raw, b, n);
  struct proto_str_iter it;
  struct proto_slice s;
  int32_t seen = 0;
  proto_str_iter_init(&it, v);
  while (proto_str_iter_next(&it, &s)) {
    check_slice(s, b, n);
    seen++;
  }
  if (seen != (v->count < 0 ? 0 : v->count))
    abort();
}

static void walk_create(const struct proto_create_req *c, const uint8_t *b,
                        size_t n) {
  check_slice(c->path, b, n);
  check_slice(c->data, b, n);
  walk_acls(&c->acl, b, n);
}

static void walk_request(const struct proto_request *r, const uint8_t *b,
                         size_t n) {
  switch (r->hdr.type) {
  case PROTO_OP_CREATE:
  case PROTO_OP_CREATE2:
  case PROTO_OP_CREATECONTAINER:
  case PROTO_OP_CREATETTL:
    walk_create(&r->u.create, b, n);
    break;
  case PROTO_OP_DELETE:
    check_slice(r->u.del.path, b, n);
    break;
  case PROTO_OP_EXISTS:
  case PROTO_OP_GETDATA:
  case PROTO_OP_GETCHILDREN:
  case PROTO_OP_GETCHILDREN2:
    check_slice(r->u.path_watch.path, b, n);
    break;
  case PROTO_OP_SETDATA:
    check_slice(r->u.set_data.path, b, n);
    check_slice(r->u.set_data.data, b, n);
    break;
  case PROTO_OP_GETACL:
  case PROTO_OP_SYNC:
  case PROTO_OP_GETEPHEMERALS:
  case PROTO_OP_GETALLCHILDRENNUMBER:
    check_slice(r->u.path.path, b, n);
    break;
  case PROTO_OP_SETACL:
    check_slice(r->u.set_acl.path, b, n);
    walk_acls(&r->u.set_acl.acl, b, n);
    break;
  case PROTO_OP_CHECK:
    check_slice(r->u.check.path, b, n);
    break;
  case PROTO_OP_MULTI:
  case PROTO_OP_MULTIREAD: {
    check_slice(r->u.multi.raw, b, n);
    struct proto_multi_iter it;
    struct proto_multi_op op;
    int32_t seen = 0;
    proto_multi_iter_init(&it, &r->u.multi);
    while (proto_multi_iter_next(&it, &op)) {
      switch (op.type) {
      case PROTO_OP_CREATE:
      case PROTO_OP_CREATE2:
      case PROTO_OP_CREATECONTAINER:
      case PROTO_OP_CREATETTL:
        if (r->hdr.type != PROTO_OP_MULTI || op.u.create.flags < 0 ||
            op.u.create.flags > 6)
          abort();
        walk_create(&op.u.create, b, n);
        break;
      case PROTO_OP_DELETE:
      case PROTO_OP_CHECK:
        if (r->hdr.type != PROTO_OP_MULTI)
          abort();
        check_slice(op.u.del.path, b, n);
        break;
      case PROTO_OP_SETDATA:
        if (r->hdr.type != PROTO_OP_MULTI)
          abort();
        check_slice(op.u.set_data.path, b, n);
        check_slice(op.u.set_data.data, b, n);
        break;
      case PROTO_OP_GETDATA:
      case PROTO_OP_GETCHILDREN:
        if (r->hdr.type != PROTO_OP_MULTIREAD)
          abort();
        check_slice(op.u.read.path, b, n);
        break;
      default:
        abort(); /* the decoder let an unknown sub-op through */
      }
      seen++;
    }
    if (seen != r->u.multi.count)
      abort();
    break;
  }
  case PROTO_OP_RECONFIG:
    check_slice(r->u.reconfig.joining, b, n);
    check_slice(r->u.reconfig.leaving, b, n);
    check_slice(r->u.reconfig.new_members, b, n);
    break;
  case PROTO_OP_CHECKWATCHES:
  case PROTO_OP_REMOVEWATCHES:
    check_slice(r->u.watches.path, b, n);
    break;
  case PROTO_OP_ADDWATCH:
    check_slice(r->u.add_watch.path, b, n);
    break;
  case PROTO_OP_AUTH:
    check_slice(r->u.auth.scheme, b, n);
    check_slice(r->u.auth.auth, b, n);
    break;
  case PROTO_OP_SETWATCHES:
  case PROTO_OP_SETWATCHES2:
    walk_strs(&r->u.set_watches.data_watches, b, n);
    walk_strs(&r->u.set_watches.exist_watches, b, n);
    walk_strs(&r->u.set_watches.child_watches, b, n);
    walk_strs(&r->u.set_watches.persistent_watches, b, n);
    walk_strs(&r->u.set_watches.persistent_recursive_watches, b, n);
    break;
  case PROTO_OP_SASL:
    check_slice(r->u.sasl.token, b, n);
    break;
  case PROTO_OP_PING:
  case PROTO_OP_WHOAMI:
  case PROTO_OP_CLOSESESSION:
    break;
  default:
    abort(); /* PROTO_OK for an opcode the decoder should refuse */
  }
}

/* A decoded request re-encodes to a frame that decodes to a request that
 * re-encodes to the very same bytes (the encoding is canonical). */
static void check_roundtrip(const struct proto_request *r) {
  struct proto_writer w1, w2;
  proto_writer_init(&w1);
  proto_writer_init(&w2);
  proto_request_encode(&w1, r);
  if (proto_writer_err(&w1) != PROTO_OK || w1.len < 12)
    abort();
  struct proto_request again;
  if (proto_request_decode(w1.buf + 4, w1.len - 4, (size_t)-1, &again) !=
      PROTO_OK)
    abort();
  proto_request_encode(&w2, &again);
  if (w2.len != w1.len || memcmp(w1.buf, w2.buf, w1.len) != 0)
    abort();
  proto_writer_free(&w1);
  proto_writer_free(&w2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* An exact-size copy so any read past the end is an ASan report even
   * when libFuzzer's own buffer happens to be larger. */
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf)
    return 0;
  if (size)
    memcpy(buf, data, size);

  struct proto_connect_request c;
  if (proto_connect_request_decode(buf, size, &c) == PROTO_OK) {
    check_slice(c.passwd, buf, size);
    struct proto_writer w;
    proto_writer_init(&w);
    proto_connect_request_encode(&w, &c);
    struct proto_connect_request c2;
    if (proto_connect_request_decode(w.buf + 4, w.len - 4, &c2) != PROTO_OK ||
        c2.has_read_only != c.has_read_only || c2.passwd.len != c.passwd.len)
      abort();
    proto_writer_free(&w);
  }
  struct proto_connect_response cr;
  (void)proto_connect_response_decode(buf, size, &cr);

  static const size_t bounds[] = {2 * PROTO_DEFAULT_MAX_BUFFER, 8};
  for (size_t k = 0; k < sizeof bounds / sizeof bounds[0]; k++) {
    struct proto_request r;
    int rc = proto_request_decode(buf, size, bounds[k], &r);
    switch (rc) {
    case PROTO_OK:
      walk_request(&r, buf, size);
      check_roundtrip(&r);
      break;
    case PROTO_BADARGUMENTS:
      if (size >= 8)
        abort();
      break;
    case PROTO_UNIMPLEMENTED:
    case PROTO_MARSHALLINGERROR:
      if (size < 8)
        abort();
      break;
    default:
      abort();
    }
  }
  (void)proto_four_letter_word(
      size >= 4 ? (int32_t)((uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
                            (uint32_t)buf[2] << 8 | buf[3])
                : 0);
  free(buf);
  return 0;
}
