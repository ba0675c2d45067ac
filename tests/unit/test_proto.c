/* Unit tests for proto/: the jute reader and writer, every request record,
 * the §9 hex examples byte for byte, multi rules, path validation, the
 * four-letter words and the code maps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/proto.h"

/* ------------------------------------------------------------------ */
/* Helpers */

/* Parses hex digits, skipping anything else (spaces, newlines). */
static size_t hex_decode(const char *hex, uint8_t *out, size_t cap) {
  size_t n = 0;
  int hi = -1;
  for (const char *p = hex; *p; p++) {
    int v;
    if (*p >= '0' && *p <= '9')
      v = *p - '0';
    else if (*p >= 'a' && *p <= 'f')
      v = *p - 'a' + 10;
    else if (*p >= 'A' && *p <= 'F')
      v = *p - 'A' + 10;
    else
      continue;
    if (hi < 0) {
      hi = v;
    } else {
      assert_true(n < cap);
      out[n++] = (uint8_t)(hi << 4 | v);
      hi = -1;
    }
  }
  assert_int_equal(hi, -1); /* an odd digit count is a typo in a test */
  return n;
}

static void expect_hex(const struct proto_writer *w, const char *hex) {
  uint8_t want[1024];
  size_t n = hex_decode(hex, want, sizeof want);
  assert_int_equal(proto_writer_err(w), PROTO_OK);
  assert_int_equal(w->len, n);
  assert_memory_equal(w->buf, want, n);
}

static struct proto_slice S(const char *s) {
  struct proto_slice sl = {(const uint8_t *)s, (int32_t)strlen(s)};
  return sl;
}

static const struct proto_slice NULL_SLICE = {NULL, -1};

static void assert_slice(struct proto_slice s, const char *want) {
  assert_int_equal(s.len, (int32_t)strlen(want));
  if (s.len > 0)
    assert_memory_equal(s.ptr, want, (size_t)s.len);
}

/* Decodes a request from an exact-size heap copy so ASan sees any read
 * past the end. */
static int decode_copy(const uint8_t *p, size_t len, size_t max_field,
                       struct proto_request *out) {
  uint8_t *copy = malloc(len ? len : 1);
  assert_non_null(copy);
  if (len)
    memcpy(copy, p, len);
  int rc = proto_request_decode(copy, len, max_field, out);
  free(copy);
  return rc;
}

/* Decodes a request given as hex (payload, without the frame length). */
static int decode_hex(const char *hex, uint8_t *keep, size_t cap,
                      size_t max_field, struct proto_request *out) {
  size_t n = hex_decode(hex, keep, cap);
  return proto_request_decode(keep, n, max_field, out);
}

#define MAXF ((size_t)2 * PROTO_DEFAULT_MAX_BUFFER)

/* ------------------------------------------------------------------ */
/* Code maps */

/* Every error code in PROTO_ERR_MAP has a distinct name and a message, and
 * values outside the map give the fallbacks. */
static void test_err_map(void **state) {
  static const int codes[] = {
#define C(name, value, msg) value,
      PROTO_ERR_MAP(C)
#undef C
  };
  static const char *const names[] = {
#define N(name, value, msg) #name,
      PROTO_ERR_MAP(N)
#undef N
  };
  size_t n = sizeof codes / sizeof codes[0];
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(proto_err_name(codes[i]), names[i]);
    assert_string_not_equal(proto_err_name(codes[i]), "UNKNOWN");
    const char *m = proto_strerror(codes[i]);
    assert_true(m[0] != '\0');
    assert_string_not_equal(m, "unknown error");
    for (size_t j = 0; j < i; j++) {
      assert_int_not_equal(codes[i], codes[j]);
      assert_string_not_equal(proto_err_name(codes[i]),
                              proto_err_name(codes[j]));
    }
  }
  assert_string_equal(proto_err_name(PROTO_NONODE), "NONODE");
  assert_string_equal(proto_strerror(PROTO_NONODE), "no node");
  static const int unknown[] = {1, -10, -11, -15, -104, -126, -128, 9999};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    assert_string_equal(proto_err_name(unknown[i]), "UNKNOWN");
    assert_string_equal(proto_strerror(unknown[i]), "unknown error");
  }
}

/* Every opcode in PROTO_OP_MAP has a distinct name and its tag, and values
 * outside the map give the fallbacks. */
static void test_op_map(void **state) {
  static const int ops[] = {
#define C(name, value, tag) value,
      PROTO_OP_MAP(C)
#undef C
  };
  static const char *const tags[] = {
#define T(name, value, tag) tag,
      PROTO_OP_MAP(T)
#undef T
  };
  size_t n = sizeof ops / sizeof ops[0];
  for (size_t i = 0; i < n; i++) {
    const char *name = proto_op_name(ops[i]);
    assert_string_not_equal(name, "unknown");
    assert_string_equal(proto_op_tag(ops[i]), tags[i]);
    assert_int_equal(strlen(proto_op_tag(ops[i])), 4);
    for (size_t j = 0; j < i; j++) {
      assert_int_not_equal(ops[i], ops[j]);
      assert_string_not_equal(name, proto_op_name(ops[j]));
    }
  }
  assert_string_equal(proto_op_name(PROTO_OP_GETDATA), "getData");
  assert_string_equal(proto_op_name(PROTO_OP_CLOSESESSION), "closeSession");
  assert_string_equal(proto_op_tag(PROTO_OP_CHECK), "CKV ");
  static const int unknown[] = {10, 23, 99, 108, -2, -12, 999};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    assert_string_equal(proto_op_name(unknown[i]), "unknown");
    assert_string_equal(proto_op_tag(unknown[i]), "UNKN");
  }
}

/* ------------------------------------------------------------------ */
/* Reader */

/* Ints, longs and bools decode big-endian two's complement; any non-zero
 * byte is true. */
static void test_reader_primitives(void **state) {
  uint8_t b[64];
  size_t n = hex_decode("7fffffff 80000000 ffffffff"
                        "0102030405060708 ffffffffffffffff 8000000000000000"
                        "00 01 02 ff",
                        b, sizeof b);
  struct proto_reader r;
  proto_reader_init(&r, b, n, 16);
  assert_int_equal(proto_read_int(&r), INT32_MAX);
  assert_int_equal(proto_read_int(&r), INT32_MIN);
  assert_int_equal(proto_read_int(&r), -1);
  assert_true(proto_read_long(&r) == 0x0102030405060708LL);
  assert_true(proto_read_long(&r) == -1);
  assert_true(proto_read_long(&r) == INT64_MIN);
  assert_false(proto_read_bool(&r));
  assert_true(proto_read_bool(&r));
  assert_true(proto_read_bool(&r));
  assert_true(proto_read_bool(&r));
  assert_int_equal(proto_reader_err(&r), PROTO_OK);
  assert_int_equal(proto_reader_remaining(&r), 0);
  assert_false(proto_read_bool(&r)); /* past the end */
  assert_int_equal(proto_reader_err(&r), PROTO_MARSHALLINGERROR);
}

/* A short read fails, does not advance, and every later read returns 0
 * even when enough bytes remain for it (sticky error). */
static void test_reader_sticky(void **state) {
  uint8_t b[6] = {0, 0, 0, 7, 1, 2};
  struct proto_reader r;
  proto_reader_init(&r, b, sizeof b, 16);
  assert_true(proto_read_long(&r) == 0);
  assert_int_equal(proto_reader_err(&r), PROTO_MARSHALLINGERROR);
  assert_int_equal(r.pos, 0);
  assert_int_equal(proto_read_int(&r), 0);
  assert_false(proto_read_bool(&r));
  struct proto_slice s = proto_read_buffer(&r);
  assert_null(s.ptr);
  assert_int_equal(s.len, -1);
  assert_int_equal(proto_read_vector_count(&r), 0);
  struct proto_stat st;
  proto_read_stat(&r, &st);
  assert_true(st.czxid == 0 && st.pzxid == 0);
  assert_int_equal(r.pos, 0);
  assert_int_equal(proto_reader_err(&r), PROTO_MARSHALLINGERROR);

  /* Each width truncated by one byte fails. */
  proto_reader_init(&r, b, 3, 16);
  (void)proto_read_int(&r);
  assert_int_equal(proto_reader_err(&r), PROTO_MARSHALLINGERROR);
  proto_reader_init(&r, b, 0, 16);
  (void)proto_read_bool(&r);
  assert_int_equal(proto_reader_err(&r), PROTO_MARSHALLINGERROR);
  /* A NULL buffer is an empty one. */
  proto_reader_init(&r, NULL, 100, 16);
  (void)proto_read_int(&r);
  assert_int_equal(proto_reader_err(&r), PROTO_MARSHALLINGERROR);
}

/* Buffers: -1 is null, 0 is empty, other negatives, lengths above max_field
 * and lengths past the end are errors; exactly max_field is accepted. */
static void test_reader_buffer(void **state) {
  uint8_t b[64];
  struct proto_reader r;
  struct proto_slice s;
  size_t n = hex_decode("ffffffff 00000000 00000003 616263", b, sizeof b);
  proto_reader_init(&r, b, n, 3);
  s = proto_read_buffer(&r);
  assert_null(s.ptr);
  assert_int_equal(s.len, -1);
  s = proto_read_buffer(&r);
  assert_non_null(s.ptr);
  assert_int_equal(s.len, 0);
  s = proto_read_buffer(&r);
  assert_slice(s, "abc");
  assert_int_equal(proto_reader_err(&r), PROTO_OK);

  static const char *const bad[] = {
      "fffffffe",          /* -2 */
      "80000000",          /* INT32_MIN */
      "00000004 61626364", /* 4 > max_field 3 */
      "7fffffff 61",       /* huge */
      "00000003 6162",     /* one byte short */
      "000000",            /* length itself truncated */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    n = hex_decode(bad[i], b, sizeof b);
    proto_reader_init(&r, b, n, 3);
    s = proto_read_buffer(&r);
    assert_null(s.ptr);
    assert_int_equal(s.len, -1);
    assert_int_equal(proto_reader_err(&r), PROTO_MARSHALLINGERROR);
  }
}

/* Vector counts: -1 reads as 0, < -1, > max_field and > bytes left are
 * errors. */
static void test_reader_vector_count(void **state) {
  uint8_t b[64];
  struct proto_reader r;
  size_t n = hex_decode("ffffffff 00000002 0000", b, sizeof b);
  proto_reader_init(&r, b, n, 2);
  assert_int_equal(proto_read_vector_count(&r), 0);
  assert_int_equal(proto_read_vector_count(&r), 2);
  assert_int_equal(proto_reader_err(&r), PROTO_OK);

  static const char *const bad[] = {
      "fffffffe",        /* -2 */
      "00000003 000000", /* > max_field 2 */
      "00000002 00",     /* > bytes left */
      "7fffffff",        /* absurd */
      "0000",            /* truncated count */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    n = hex_decode(bad[i], b, sizeof b);
    proto_reader_init(&r, b, n, 2);
    assert_int_equal(proto_read_vector_count(&r), 0);
    assert_int_equal(proto_reader_err(&r), PROTO_MARSHALLINGERROR);
  }
}

/* ------------------------------------------------------------------ */
/* Writer */

/* Many small writes grow the buffer and keep every byte in order. */
static void test_writer_growth(void **state) {
  struct proto_writer w;
  proto_writer_init(&w);
  for (int32_t i = 0; i < 10000; i++)
    proto_write_int(&w, i);
  proto_write_long(&w, INT64_MIN);
  proto_write_bool(&w, true);
  proto_write_bool(&w, false);
  assert_int_equal(proto_writer_err(&w), PROTO_OK);
  assert_int_equal(w.len, 40000 + 8 + 2);
  assert_true(w.cap >= w.len);
  struct proto_reader r;
  proto_reader_init(&r, w.buf, w.len, 0);
  for (int32_t i = 0; i < 10000; i++)
    assert_int_equal(proto_read_int(&r), i);
  assert_true(proto_read_long(&r) == INT64_MIN);
  assert_true(proto_read_bool(&r));
  assert_false(proto_read_bool(&r));
  assert_int_equal(proto_reader_err(&r), PROTO_OK);

  /* reset keeps the allocation, free drops it. */
  uint8_t *buf = w.buf;
  proto_writer_reset(&w);
  assert_int_equal(w.len, 0);
  assert_ptr_equal(w.buf, buf);
  proto_write_raw(&w, "xy", 2);
  proto_write_raw(&w, NULL, 0); /* zero bytes: nothing */
  expect_hex(&w, "7879");
  proto_writer_free(&w);
  assert_null(w.buf);
  assert_int_equal(w.len, 0);
  proto_writer_free(&w); /* twice is harmless */
}

/* Frames patch their length; consecutive frames each count their own
 * bytes; an empty frame has length 0. */
static void test_writer_frames(void **state) {
  struct proto_writer w;
  proto_writer_init(&w);
  size_t m1 = proto_frame_begin(&w);
  assert_int_equal(m1, 0);
  proto_write_int(&w, 7);
  proto_frame_end(&w, m1);
  size_t m2 = proto_frame_begin(&w);
  assert_int_equal(m2, 8);
  proto_frame_end(&w, m2);
  size_t m3 = proto_frame_begin(&w);
  proto_write_string(&w, "/foo", 4);
  proto_frame_end(&w, m3);
  expect_hex(&w, "00000004 00000007  00000000  00000008 00000004 2f666f6f");
  proto_writer_free(&w);
}

/* Null, empty and non-empty buffers and strings encode as jute does. */
static void test_writer_buffers(void **state) {
  struct proto_writer w;
  proto_writer_init(&w);
  proto_write_buffer(&w, NULL, -1);
  proto_write_buffer(&w, "ignored", -1);
  proto_write_buffer(&w, NULL, 0);
  proto_write_buffer(&w, "ab", 2);
  proto_write_string(&w, "", 0);
  proto_write_string(&w, "héllo", strlen("héllo"));
  proto_write_slice(&w, NULL_SLICE);
  proto_write_slice(&w, S("z"));
  expect_hex(&w, "ffffffff ffffffff 00000000 00000002 6162 00000000"
                 "00000006 68c3a96c6c6f ffffffff 00000001 7a");
  proto_writer_free(&w);
}

/* A failed reservation (over the writer's bound, as an allocation failure
 * would) sets a sticky PROTO_SYSTEMERROR; later writes and frame_end are
 * ignored; reset clears it. */
static void test_writer_alloc_failure(void **state) {
  struct proto_writer w;
  proto_writer_init(&w);
  proto_write_int(&w, 1);
  size_t mark = proto_frame_begin(&w);
  assert_null(proto_writer_reserve(&w, SIZE_MAX));
  assert_int_equal(proto_writer_err(&w), PROTO_SYSTEMERROR);
  size_t len = w.len;
  proto_write_int(&w, 2);
  proto_write_long(&w, 3);
  proto_write_bool(&w, true);
  proto_write_buffer(&w, "abc", 3);
  proto_write_string(&w, "abc", 3);
  proto_write_raw(&w, "abc", 3);
  proto_frame_end(&w, mark);
  struct proto_stat st = {0};
  proto_write_stat(&w, &st);
  proto_write_notification(&w, 1, 1, "/a", 2);
  assert_null(proto_writer_reserve(&w, 1));
  assert_int_equal(w.len, len);
  assert_int_equal(proto_writer_err(&w), PROTO_SYSTEMERROR);
  /* The frame length was never patched. */
  assert_memory_equal(w.buf + mark, "\0\0\0\0", 4);
  proto_writer_reset(&w);
  assert_int_equal(proto_writer_err(&w), PROTO_OK);
  proto_write_int(&w, 5);
  expect_hex(&w, "00000005");

  /* Growth that would pass INT32_MAX total fails the same way. */
  assert_null(proto_writer_reserve(&w, (size_t)INT32_MAX));
  assert_int_equal(proto_writer_err(&w), PROTO_SYSTEMERROR);
  proto_writer_free(&w);

  /* A fresh writer that has never allocated fails cleanly too. */
  proto_writer_init(&w);
  assert_null(proto_writer_reserve(&w, (size_t)INT32_MAX + 1));
  proto_write_int(&w, 1);
  assert_int_equal(w.len, 0);
  assert_int_equal(proto_writer_err(&w), PROTO_SYSTEMERROR);
  proto_writer_free(&w);
}

/* Lengths that jute cannot express are refused with PROTO_BADARGUMENTS
 * rather than written wrongly. */
static void test_writer_bad_length(void **state) {
  struct proto_writer w;
  proto_writer_init(&w);
  proto_write_buffer(&w, "x", -2);
  assert_int_equal(proto_writer_err(&w), PROTO_BADARGUMENTS);
  assert_int_equal(w.len, 0);
  proto_write_int(&w, 1);
  assert_int_equal(w.len, 0);
  proto_writer_reset(&w);
  proto_write_string(&w, "x", (size_t)INT32_MAX + 1);
  assert_int_equal(proto_writer_err(&w), PROTO_BADARGUMENTS);
  assert_int_equal(w.len, 0);
  proto_writer_free(&w);
}

/* ------------------------------------------------------------------ */
/* Records */

/* A Stat is 68 bytes in field order and reads back identically; a
 * truncated one fails. */
static void test_stat(void **state) {
  struct proto_stat s = {.czxid = 0x0102030405060708LL,
                         .mzxid = 2,
                         .ctime = 3,
                         .mtime = 4,
                         .version = 5,
                         .cversion = -1,
                         .aversion = 7,
                         .ephemeral_owner = INT64_MIN,
                         .data_length = 9,
                         .num_children = 10,
                         .pzxid = 11};
  struct proto_writer w;
  proto_writer_init(&w);
  proto_write_stat(&w, &s);
  expect_hex(&w, "0102030405060708 0000000000000002 0000000000000003"
                 "0000000000000004 00000005 ffffffff 00000007"
                 "8000000000000000 00000009 0000000a 000000000000000b");
  assert_int_equal(w.len, PROTO_STAT_SIZE);
  struct proto_reader r;
  struct proto_stat t;
  proto_reader_init(&r, w.buf, w.len, 0);
  proto_read_stat(&r, &t);
  assert_int_equal(proto_reader_err(&r), PROTO_OK);
  assert_true(t.czxid == s.czxid && t.mzxid == s.mzxid && t.ctime == s.ctime &&
              t.mtime == s.mtime && t.ephemeral_owner == s.ephemeral_owner &&
              t.pzxid == s.pzxid);
  assert_true(t.version == s.version && t.cversion == s.cversion &&
              t.aversion == s.aversion && t.data_length == s.data_length &&
              t.num_children == s.num_children);
  proto_reader_init(&r, w.buf, w.len - 1, 0);
  proto_read_stat(&r, &t);
  assert_int_equal(proto_reader_err(&r), PROTO_MARSHALLINGERROR);
  proto_writer_free(&w);
}

/* An ACL is perms + scheme + id and reads back; truncation fails. */
static void test_acl(void **state) {
  struct proto_acl a = {PROTO_PERM_ALL, {S("world"), S("anyone")}}, b;
  struct proto_writer w;
  proto_writer_init(&w);
  proto_write_acl(&w, &a);
  expect_hex(&w, "0000001f 00000005 776f726c64 00000006 616e796f6e65");
  struct proto_reader r;
  proto_reader_init(&r, w.buf, w.len, 16);
  proto_read_acl(&r, &b);
  assert_int_equal(proto_reader_err(&r), PROTO_OK);
  assert_int_equal(b.perms, 31);
  assert_slice(b.id.scheme, "world");
  assert_slice(b.id.id, "anyone");
  for (size_t cut = 0; cut < w.len; cut++) {
    proto_reader_init(&r, w.buf, cut, 16);
    proto_read_acl(&r, &b);
    assert_int_equal(proto_reader_err(&r), PROTO_MARSHALLINGERROR);
  }
  proto_writer_free(&w);
}

/* Reply headers and MultiHeaders have the §1.3 layouts. */
static void test_headers(void **state) {
  struct proto_writer w;
  proto_writer_init(&w);
  struct proto_reply_header h = {6, 3, PROTO_NODEEXISTS}, g;
  size_t m = proto_frame_begin(&w);
  proto_write_reply_header(&w, &h);
  proto_frame_end(&w, m);
  /* §9.3: the NodeExists reply. */
  expect_hex(&w, "00000010 00000006 0000000000000003 ffffff92");
  struct proto_reader r;
  proto_reader_init(&r, w.buf + 4, w.len - 4, 0);
  proto_read_reply_header(&r, &g);
  assert_int_equal(proto_reader_err(&r), PROTO_OK);
  assert_int_equal(g.xid, 6);
  assert_true(g.zxid == 3);
  assert_int_equal(g.err, PROTO_NODEEXISTS);
  proto_reader_init(&r, w.buf + 4, 15, 0);
  proto_read_reply_header(&r, &g);
  assert_int_equal(proto_reader_err(&r), PROTO_MARSHALLINGERROR);

  proto_writer_reset(&w);
  proto_write_multi_header(&w, 1, false, -1);
  proto_write_multi_header(&w, -1, true, -1);
  expect_hex(&w, "00000001 00 ffffffff  ffffffff 01 ffffffff");
  proto_writer_free(&w);
}

/* ------------------------------------------------------------------ */
/* §9 hex examples */

static const char HEX_9_1[] =
    "0000002d 00000000 0000000000000000 00007530 0000000000000000"
    "00000010 00000000000000000000000000000000 00";

/* §9.1: the 45-byte ConnectRequest encodes byte for byte and decodes back;
 * without the readOnly byte it is 44 bytes and has_read_only is false. */
static void test_9_1_connect_request(void **state) {
  static const uint8_t zeros[16] = {0};
  struct proto_connect_request c = {.protocol_version = 0,
                                    .last_zxid_seen = 0,
                                    .timeout_ms = 30000,
                                    .session_id = 0,
                                    .passwd = {zeros, 16},
                                    .has_read_only = true,
                                    .read_only = false};
  struct proto_writer w;
  proto_writer_init(&w);
  proto_connect_request_encode(&w, &c);
  expect_hex(&w, HEX_9_1);
  assert_int_equal(w.len, 49);

  struct proto_connect_request d;
  assert_int_equal(proto_connect_request_decode(w.buf + 4, 45, &d), PROTO_OK);
  assert_int_equal(d.timeout_ms, 30000);
  assert_true(d.session_id == 0 && d.last_zxid_seen == 0);
  assert_int_equal(d.passwd.len, 16);
  assert_ptr_equal(d.passwd.ptr, w.buf + 4 + 28); /* borrowed, not copied */
  assert_true(d.has_read_only);
  assert_false(d.read_only);

  /* The 44-byte (3.3-era) variant. */
  assert_int_equal(proto_connect_request_decode(w.buf + 4, 44, &d), PROTO_OK);
  assert_false(d.has_read_only);
  c.has_read_only = false;
  proto_writer_reset(&w);
  proto_connect_request_encode(&w, &c);
  assert_int_equal(w.len, 48);
  assert_memory_equal(w.buf, "\0\0\0\x2c", 4);

  /* Every shorter prefix fails: each field truncated. */
  for (size_t cut = 0; cut < 44; cut++) {
    uint8_t *copy = malloc(cut ? cut : 1);
    memcpy(copy, w.buf + 4, cut);
    assert_int_equal(proto_connect_request_decode(copy, cut, &d),
                     PROTO_MARSHALLINGERROR);
    free(copy);
  }

  /* A resume with a real id, read-only wanted, and a null password. */
  uint8_t b[64];
  size_t n = hex_decode("00000000 0000000000000005 00001770 0100000000000001"
                        "ffffffff 01",
                        b, sizeof b);
  assert_int_equal(proto_connect_request_decode(b, n, &d), PROTO_OK);
  assert_true(d.last_zxid_seen == 5);
  assert_true(d.session_id == 0x0100000000000001LL);
  assert_int_equal(d.passwd.len, -1);
  assert_true(d.has_read_only && d.read_only);
  /* A lying passwd length. */
  n = hex_decode("00000000 0000000000000000 00007530 0000000000000000"
                 "00000011 00000000000000000000000000000000",
                 b, sizeof b);
  assert_int_equal(proto_connect_request_decode(b, n, &d),
                   PROTO_MARSHALLINGERROR);
  n = hex_decode("00000000 0000000000000000 00007530 0000000000000000 fffffffe",
                 b, sizeof b);
  assert_int_equal(proto_connect_request_decode(b, n, &d),
                   PROTO_MARSHALLINGERROR);
  proto_writer_free(&w);
}

static const char HEX_9_2[] = "00000025 00000000 00007530 01000005bb1d0000"
                              "00000010 3993f591d216f6ba 3f2fe1806b000af6 00";

/* §9.2: the ConnectResponse is exactly 41 bytes with the readOnly byte and
 * 40 (length 0x24) without; the expired form matches too; decode inverts. */
static void test_9_2_connect_response(void **state) {
  struct proto_connect_response c = {.protocol_version = 0,
                                     .timeout_ms = 30000,
                                     .session_id = 0x01000005bb1d0000LL,
                                     .has_read_only = true,
                                     .read_only = false};
  hex_decode("3993f591d216f6ba3f2fe1806b000af6", c.passwd, 16);
  struct proto_writer w;
  proto_writer_init(&w);
  proto_connect_response_encode_frame(&w, &c);
  expect_hex(&w, HEX_9_2);
  assert_int_equal(w.len, 41);

  struct proto_connect_response d;
  assert_int_equal(proto_connect_response_decode(w.buf + 4, 37, &d), PROTO_OK);
  assert_int_equal(d.timeout_ms, 30000);
  assert_true(d.session_id == c.session_id);
  assert_memory_equal(d.passwd, c.passwd, 16);
  assert_true(d.has_read_only);
  assert_false(d.read_only);
  assert_int_equal(proto_connect_response_decode(w.buf + 4, 36, &d), PROTO_OK);
  assert_false(d.has_read_only);
  for (size_t cut = 0; cut < 36; cut++)
    assert_int_equal(proto_connect_response_decode(w.buf + 4, cut, &d),
                     PROTO_MARSHALLINGERROR);

  /* Without the byte: 36-byte payload. */
  c.has_read_only = false;
  proto_writer_reset(&w);
  proto_connect_response_encode_frame(&w, &c);
  expect_hex(&w, "00000024 00000000 00007530 01000005bb1d0000"
                 "00000010 3993f591d216f6ba 3f2fe1806b000af6");

  /* Expired / bad password. */
  struct proto_connect_response x = {.has_read_only = true};
  proto_writer_reset(&w);
  proto_connect_response_encode_frame(&w, &x);
  expect_hex(&w, "00000025 00000000 00000000 0000000000000000"
                 "00000010 00000000000000000000000000000000 00");

  /* A password that is not 16 bytes cannot fill the struct. */
  uint8_t b[64];
  size_t n = hex_decode("00000000 00007530 0000000000000001 0000000f"
                        "000000000000000000000000000000",
                        b, sizeof b);
  assert_int_equal(proto_connect_response_decode(b, n, &d),
                   PROTO_MARSHALLINGERROR);
  n = hex_decode("00000000 00007530 0000000000000001 ffffffff", b, sizeof b);
  assert_int_equal(proto_connect_response_decode(b, n, &d),
                   PROTO_MARSHALLINGERROR);
  proto_writer_free(&w);
}

/* Writes `count` world:anyone ALL ACLs into *scratch and points *v at them. */
static void make_acls(struct proto_writer *scratch, int32_t count,
                      struct proto_acl_vec *v) {
  proto_writer_init(scratch);
  for (int32_t i = 0; i < count; i++) {
    struct proto_acl a = {PROTO_PERM_ALL, {S("world"), S("anyone")}};
    proto_write_acl(scratch, &a);
  }
  v->raw.ptr = scratch->buf;
  v->raw.len = (int32_t)scratch->len;
  v->count = count;
}

static const char HEX_9_3[] =
    "00000036 00000001 00000001 00000004 2f666f6f 00000003 626172"
    "00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65 00000000";

/* §9.3: create /foo "bar" OPEN_ACL_UNSAFE encodes to the 58 observed bytes,
 * decodes to the same fields, and the reply bytes match. */
static void test_9_3_create(void **state) {
  struct proto_writer acls, w;
  struct proto_request req = {.hdr = {1, PROTO_OP_CREATE}};
  req.u.create.path = S("/foo");
  req.u.create.data = S("bar");
  make_acls(&acls, 1, &req.u.create.acl);
  proto_writer_init(&w);
  proto_request_encode(&w, &req);
  expect_hex(&w, HEX_9_3);
  assert_int_equal(w.len, 58);

  struct proto_request d;
  assert_int_equal(proto_request_decode(w.buf + 4, w.len - 4, MAXF, &d),
                   PROTO_OK);
  assert_int_equal(d.hdr.xid, 1);
  assert_int_equal(d.hdr.type, PROTO_OP_CREATE);
  assert_slice(d.u.create.path, "/foo");
  assert_slice(d.u.create.data, "bar");
  assert_int_equal(d.u.create.flags, 0);
  assert_true(d.u.create.ttl == 0);
  assert_int_equal(d.u.create.acl.count, 1);
  struct proto_acl_iter it;
  struct proto_acl a;
  proto_acl_iter_init(&it, &d.u.create.acl);
  assert_true(proto_acl_iter_next(&it, &a));
  assert_int_equal(a.perms, 31);
  assert_slice(a.id.scheme, "world");
  assert_slice(a.id.id, "anyone");
  assert_false(proto_acl_iter_next(&it, &a));
  assert_false(proto_acl_iter_next(&it, &a));

  /* Reply: header + CreateResponse. */
  proto_writer_reset(&w);
  size_t m = proto_frame_begin(&w);
  struct proto_reply_header h = {1, 2, 0};
  proto_write_reply_header(&w, &h);
  proto_write_string(&w, "/foo", 4);
  proto_frame_end(&w, m);
  expect_hex(&w,
             "00000018 00000001 0000000000000002 00000000 00000004 2f666f6f");
  proto_writer_free(&w);
  proto_writer_free(&acls);
}

/* §9.4: getData /foo with watch, xid 2. */
static void test_9_4_get_data(void **state) {
  struct proto_request req = {.hdr = {2, PROTO_OP_GETDATA}};
  req.u.path_watch.path = S("/foo");
  req.u.path_watch.watch = true;
  struct proto_writer w;
  proto_writer_init(&w);
  proto_request_encode(&w, &req);
  expect_hex(&w, "00000011 00000002 00000004 00000004 2f666f6f 01");
  struct proto_request d;
  assert_int_equal(proto_request_decode(w.buf + 4, w.len - 4, MAXF, &d),
                   PROTO_OK);
  assert_int_equal(d.hdr.type, PROTO_OP_GETDATA);
  assert_slice(d.u.path_watch.path, "/foo");
  assert_true(d.u.path_watch.watch);
  proto_writer_free(&w);
}

/* §9.5: a ping is a bare header both ways. */
static void test_9_5_ping(void **state) {
  struct proto_request req = {.hdr = {PROTO_XID_PING, PROTO_OP_PING}};
  struct proto_writer w;
  proto_writer_init(&w);
  proto_request_encode(&w, &req);
  expect_hex(&w, "00000008 fffffffe 0000000b");
  struct proto_request d;
  assert_int_equal(proto_request_decode(w.buf + 4, w.len - 4, MAXF, &d),
                   PROTO_OK);
  assert_int_equal(d.hdr.xid, -2);
  assert_int_equal(d.hdr.type, PROTO_OP_PING);
  proto_writer_reset(&w);
  size_t m = proto_frame_begin(&w);
  struct proto_reply_header h = {PROTO_XID_PING, 3, 0};
  proto_write_reply_header(&w, &h);
  proto_frame_end(&w, m);
  expect_hex(&w, "00000010 fffffffe 0000000000000003 00000000");
  proto_writer_free(&w);
}

/* §9.6: a NodeCreated notification is a whole 36-byte frame and reads back
 * as ReplyHeader + WatcherEvent. */
static void test_9_6_notification(void **state) {
  struct proto_writer w;
  proto_writer_init(&w);
  proto_write_notification(&w, 0x3f, PROTO_EVENT_NODE_CREATED, "/w/x", 4);
  expect_hex(&w, "00000020 ffffffff 000000000000003f 00000000"
                 "00000001 00000003 00000004 2f772f78");
  struct proto_reader r;
  struct proto_reply_header h;
  struct proto_watcher_event e;
  proto_reader_init(&r, w.buf + 4, w.len - 4, 100);
  proto_read_reply_header(&r, &h);
  proto_read_watcher_event(&r, &e);
  assert_int_equal(proto_reader_err(&r), PROTO_OK);
  assert_int_equal(h.xid, -1);
  assert_true(h.zxid == 0x3f);
  assert_int_equal(e.type, 1);
  assert_int_equal(e.state, PROTO_STATE_SYNC_CONNECTED);
  assert_slice(e.path, "/w/x");
  proto_reader_init(&r, w.buf + 4 + 16, 11, 100);
  proto_read_watcher_event(&r, &e);
  assert_int_equal(proto_reader_err(&r), PROTO_MARSHALLINGERROR);
  proto_writer_free(&w);
}

static const char HEX_9_7[] =
    "00000056 00000007 0000000e"
    "00000001 00 ffffffff"
    "00000002 2f61 00000000 00000001"
    "0000001f 00000005 776f726c64 00000006 616e796f6e65"
    "00000000"
    "00000002 00 ffffffff"
    "00000002 2f62 00000003"
    "ffffffff 01 ffffffff";

/* §9.7: the multi request built with proto_multi_encode_* matches the 90
 * observed bytes, decodes to two sub-ops, re-encodes identically, and the
 * reply bytes match. */
static void test_9_7_multi(void **state) {
  struct proto_writer acls, w, w2;
  struct proto_multi_op op1 = {.type = PROTO_OP_CREATE};
  op1.u.create.path = S("/a");
  op1.u.create.data = S("");
  make_acls(&acls, 1, &op1.u.create.acl);
  struct proto_multi_op op2 = {.type = PROTO_OP_DELETE};
  op2.u.del.path = S("/b");
  op2.u.del.version = 3;
  proto_writer_init(&w);
  size_t m = proto_multi_encode_begin(&w, 7, PROTO_OP_MULTI);
  proto_multi_encode_op(&w, &op1);
  proto_multi_encode_op(&w, &op2);
  proto_multi_encode_end(&w, m);
  expect_hex(&w, HEX_9_7);
  assert_int_equal(w.len, 90);

  struct proto_request d;
  assert_int_equal(proto_request_decode(w.buf + 4, w.len - 4, MAXF, &d),
                   PROTO_OK);
  assert_int_equal(d.hdr.xid, 7);
  assert_int_equal(d.hdr.type, PROTO_OP_MULTI);
  assert_int_equal(d.u.multi.count, 2);
  struct proto_multi_iter it;
  struct proto_multi_op op;
  proto_multi_iter_init(&it, &d.u.multi);
  assert_true(proto_multi_iter_next(&it, &op));
  assert_int_equal(op.type, PROTO_OP_CREATE);
  assert_slice(op.u.create.path, "/a");
  assert_int_equal(op.u.create.data.len, 0);
  assert_int_equal(op.u.create.acl.count, 1);
  assert_int_equal(op.u.create.flags, 0);
  assert_true(proto_multi_iter_next(&it, &op));
  assert_int_equal(op.type, PROTO_OP_DELETE);
  assert_slice(op.u.del.path, "/b");
  assert_int_equal(op.u.del.version, 3);
  assert_false(proto_multi_iter_next(&it, &op));
  assert_false(proto_multi_iter_next(&it, &op));

  proto_writer_init(&w2);
  proto_request_encode(&w2, &d);
  assert_int_equal(w2.len, w.len);
  assert_memory_equal(w2.buf, w.buf, w.len);

  /* The observed reply. */
  proto_writer_reset(&w2);
  m = proto_frame_begin(&w2);
  struct proto_reply_header h = {7, 0x85, 0};
  proto_write_reply_header(&w2, &h);
  proto_write_multi_header(&w2, -1, false, 0);
  proto_write_int(&w2, 0);
  proto_write_multi_header(&w2, -1, false, PROTO_NONODE);
  proto_write_int(&w2, PROTO_NONODE);
  proto_write_multi_header(&w2, -1, true, -1);
  proto_frame_end(&w2, m);
  expect_hex(&w2, "00000033 00000007 0000000000000085 00000000"
                  "ffffffff 00 00000000 00000000"
                  "ffffffff 00 ffffff9b ffffff9b"
                  "ffffffff 01 ffffffff");
  proto_writer_free(&w);
  proto_writer_free(&w2);
  proto_writer_free(&acls);
}

/* ------------------------------------------------------------------ */
/* Every client opcode */

static const int32_t k_client_ops[] = {
    PROTO_OP_CREATE,
    PROTO_OP_CREATE2,
    PROTO_OP_CREATECONTAINER,
    PROTO_OP_CREATETTL,
    PROTO_OP_DELETE,
    PROTO_OP_EXISTS,
    PROTO_OP_GETDATA,
    PROTO_OP_SETDATA,
    PROTO_OP_GETACL,
    PROTO_OP_SETACL,
    PROTO_OP_GETCHILDREN,
    PROTO_OP_SYNC,
    PROTO_OP_PING,
    PROTO_OP_GETCHILDREN2,
    PROTO_OP_CHECK,
    PROTO_OP_MULTI,
    PROTO_OP_MULTIREAD,
    PROTO_OP_RECONFIG,
    PROTO_OP_CHECKWATCHES,
    PROTO_OP_REMOVEWATCHES,
    PROTO_OP_AUTH,
    PROTO_OP_SETWATCHES,
    PROTO_OP_SASL,
    PROTO_OP_GETEPHEMERALS,
    PROTO_OP_GETALLCHILDRENNUMBER,
    PROTO_OP_SETWATCHES2,
    PROTO_OP_ADDWATCH,
    PROTO_OP_WHOAMI,
    PROTO_OP_CLOSESESSION,
};
#define N_CLIENT_OPS (sizeof k_client_ops / sizeof k_client_ops[0])

static bool op_has_body(int32_t t) {
  return t != PROTO_OP_PING && t != PROTO_OP_WHOAMI &&
         t != PROTO_OP_CLOSESESSION;
}

/* Scratch space for vectors a sample request borrows. */
struct sample {
  struct proto_writer acls;
  struct proto_writer strs[5];
  struct proto_writer frame;
};

static void str_vec(struct proto_writer *scratch, struct proto_str_vec *v,
                    const char *const *items, int32_t count) {
  proto_writer_init(scratch);
  for (int32_t i = 0; i < count; i++)
    proto_write_string(scratch, items[i], strlen(items[i]));
  v->raw.ptr = scratch->buf;
  v->raw.len = (int32_t)scratch->len;
  v->count = count;
}

/* Encodes a distinctive sample request of opcode t into s->frame. */
static void sample_encode(struct sample *s, int32_t t) {
  struct proto_request req;
  memset(&req, 0, sizeof req);
  memset(s, 0, sizeof *s);
  proto_writer_init(&s->frame);
  req.hdr.xid = 1000 + t;
  req.hdr.type = t;
  switch (t) {
  case PROTO_OP_CREATE:
  case PROTO_OP_CREATE2:
  case PROTO_OP_CREATECONTAINER:
  case PROTO_OP_CREATETTL:
    req.u.create.path = S("/c/d");
    req.u.create.data = S("payload");
    make_acls(&s->acls, 2, &req.u.create.acl);
    req.u.create.flags = t == PROTO_OP_CREATETTL ? 5 : 3;
    req.u.create.ttl = t == PROTO_OP_CREATETTL ? 123456 : 0;
    break;
  case PROTO_OP_DELETE:
    req.u.del.path = S("/del");
    req.u.del.version = -1;
    break;
  case PROTO_OP_EXISTS:
  case PROTO_OP_GETDATA:
  case PROTO_OP_GETCHILDREN:
  case PROTO_OP_GETCHILDREN2:
    req.u.path_watch.path = S("/pw");
    req.u.path_watch.watch = true;
    break;
  case PROTO_OP_SETDATA:
    req.u.set_data.path = S("/sd");
    req.u.set_data.data = NULL_SLICE;
    req.u.set_data.version = 42;
    break;
  case PROTO_OP_GETACL:
  case PROTO_OP_SYNC:
  case PROTO_OP_GETEPHEMERALS:
  case PROTO_OP_GETALLCHILDRENNUMBER:
    req.u.path.path = S("/p");
    break;
  case PROTO_OP_SETACL:
    req.u.set_acl.path = S("/sa");
    make_acls(&s->acls, 3, &req.u.set_acl.acl);
    req.u.set_acl.version = 9;
    break;
  case PROTO_OP_CHECK:
    req.u.check.path = S("/ck");
    req.u.check.version = 17;
    break;
  case PROTO_OP_MULTI:
  case PROTO_OP_MULTIREAD: {
    size_t m = proto_multi_encode_begin(&s->frame, req.hdr.xid, t);
    struct proto_multi_op op;
    memset(&op, 0, sizeof op);
    if (t == PROTO_OP_MULTI) {
      static const int32_t sub[] = {1, 15, 19, 21, 2, 5, 13};
      make_acls(&s->acls, 1, &op.u.create.acl);
      for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
        struct proto_acl_vec acl = op.u.create.acl;
        memset(&op, 0, sizeof op);
        op.type = sub[i];
        switch (sub[i]) {
        case 2:
          op.u.del.path = S("/x");
          op.u.del.version = 1;
          break;
        case 5:
          op.u.set_data.path = S("/x");
          op.u.set_data.data = S("d");
          op.u.set_data.version = 2;
          break;
        case 13:
          op.u.check.path = S("/x");
          op.u.check.version = 3;
          break;
        default:
          op.u.create.path = S("/x");
          op.u.create.data = S("");
          op.u.create.acl = acl;
          op.u.create.flags = sub[i] == 21 ? 6 : 0;
          op.u.create.ttl = sub[i] == 21 ? 99 : 0;
          break;
        }
        proto_multi_encode_op(&s->frame, &op);
      }
    } else {
      op.type = PROTO_OP_GETDATA;
      op.u.read.path = S("/r1");
      proto_multi_encode_op(&s->frame, &op);
      op.type = PROTO_OP_GETCHILDREN;
      op.u.read.path = S("/r2");
      op.u.read.watch = true;
      proto_multi_encode_op(&s->frame, &op);
    }
    proto_multi_encode_end(&s->frame, m);
    return;
  }
  case PROTO_OP_RECONFIG:
    req.u.reconfig.joining = S("server.4=h:1:2;3");
    req.u.reconfig.leaving = S("");
    req.u.reconfig.new_members = NULL_SLICE;
    req.u.reconfig.cur_config_id = -1;
    break;
  case PROTO_OP_CHECKWATCHES:
  case PROTO_OP_REMOVEWATCHES:
    req.u.watches.path = S("/wt");
    req.u.watches.type = PROTO_WATCHER_ANY;
    break;
  case PROTO_OP_ADDWATCH:
    req.u.add_watch.path = S("/aw");
    req.u.add_watch.mode = PROTO_ADD_WATCH_PERSISTENT_RECURSIVE;
    break;
  case PROTO_OP_AUTH:
    req.hdr.xid = PROTO_XID_AUTH;
    req.u.auth.type = 0;
    req.u.auth.scheme = S("digest");
    req.u.auth.auth = S("user:pass");
    break;
  case PROTO_OP_SETWATCHES:
  case PROTO_OP_SETWATCHES2: {
    static const char *const a[] = {"/a", "/b"};
    static const char *const b[] = {"/c"};
    static const char *const c[] = {"/d", "/e", "/f"};
    req.hdr.xid = PROTO_XID_SET_WATCHES;
    req.u.set_watches.relative_zxid = 0x123456789LL;
    str_vec(&s->strs[0], &req.u.set_watches.data_watches, a, 2);
    str_vec(&s->strs[1], &req.u.set_watches.exist_watches, b, 1);
    str_vec(&s->strs[2], &req.u.set_watches.child_watches, c, 0);
    if (t == PROTO_OP_SETWATCHES2) {
      str_vec(&s->strs[3], &req.u.set_watches.persistent_watches, c, 3);
      str_vec(&s->strs[4], &req.u.set_watches.persistent_recursive_watches, b,
              1);
    }
    break;
  }
  case PROTO_OP_SASL:
    req.u.sasl.token = S("\x01\x02\x03");
    break;
  default:
    break; /* no body */
  }
  proto_request_encode(&s->frame, &req);
}

static void sample_free(struct sample *s) {
  proto_writer_free(&s->acls);
  for (size_t i = 0; i < 5; i++)
    proto_writer_free(&s->strs[i]);
  proto_writer_free(&s->frame);
}

static void check_str_vec(const struct proto_str_vec *v,
                          const char *const *want, int32_t n) {
  struct proto_str_iter it;
  struct proto_slice s;
  assert_int_equal(v->count, n);
  proto_str_iter_init(&it, v);
  for (int32_t i = 0; i < n; i++) {
    assert_true(proto_str_iter_next(&it, &s));
    assert_slice(s, want[i]);
  }
  assert_false(proto_str_iter_next(&it, &s));
}

/* Checks the distinctive fields sample_encode put in. */
static void sample_check(int32_t t, const struct proto_request *d) {
  assert_int_equal(d->hdr.type, t);
  switch (t) {
  case PROTO_OP_CREATE:
  case PROTO_OP_CREATE2:
  case PROTO_OP_CREATECONTAINER:
  case PROTO_OP_CREATETTL:
    assert_slice(d->u.create.path, "/c/d");
    assert_slice(d->u.create.data, "payload");
    assert_int_equal(d->u.create.acl.count, 2);
    assert_int_equal(d->u.create.flags, t == PROTO_OP_CREATETTL ? 5 : 3);
    assert_true(d->u.create.ttl == (t == PROTO_OP_CREATETTL ? 123456 : 0));
    break;
  case PROTO_OP_DELETE:
    assert_slice(d->u.del.path, "/del");
    assert_int_equal(d->u.del.version, -1);
    break;
  case PROTO_OP_EXISTS:
  case PROTO_OP_GETDATA:
  case PROTO_OP_GETCHILDREN:
  case PROTO_OP_GETCHILDREN2:
    assert_slice(d->u.path_watch.path, "/pw");
    assert_true(d->u.path_watch.watch);
    break;
  case PROTO_OP_SETDATA:
    assert_slice(d->u.set_data.path, "/sd");
    assert_null(d->u.set_data.data.ptr);
    assert_int_equal(d->u.set_data.data.len, -1);
    assert_int_equal(d->u.set_data.version, 42);
    break;
  case PROTO_OP_GETACL:
  case PROTO_OP_SYNC:
  case PROTO_OP_GETEPHEMERALS:
  case PROTO_OP_GETALLCHILDRENNUMBER:
    assert_slice(d->u.path.path, "/p");
    break;
  case PROTO_OP_SETACL: {
    assert_slice(d->u.set_acl.path, "/sa");
    assert_int_equal(d->u.set_acl.version, 9);
    struct proto_acl_iter it;
    struct proto_acl a;
    int n = 0;
    proto_acl_iter_init(&it, &d->u.set_acl.acl);
    while (proto_acl_iter_next(&it, &a)) {
      assert_int_equal(a.perms, 31);
      n++;
    }
    assert_int_equal(n, 3);
    break;
  }
  case PROTO_OP_CHECK:
    assert_slice(d->u.check.path, "/ck");
    assert_int_equal(d->u.check.version, 17);
    break;
  case PROTO_OP_MULTI:
  case PROTO_OP_MULTIREAD: {
    struct proto_multi_iter it;
    struct proto_multi_op op;
    int32_t n = 0;
    proto_multi_iter_init(&it, &d->u.multi);
    while (proto_multi_iter_next(&it, &op)) {
      if (t == PROTO_OP_MULTIREAD) {
        assert_slice(op.u.read.path, n == 0 ? "/r1" : "/r2");
        assert_int_equal(op.type, n == 0 ? 4 : 8);
      } else if (op.type == PROTO_OP_CREATETTL) {
        assert_int_equal(op.u.create.flags, 6);
        assert_true(op.u.create.ttl == 99);
      } else if (op.type == PROTO_OP_SETDATA) {
        assert_slice(op.u.set_data.data, "d");
        assert_int_equal(op.u.set_data.version, 2);
      } else if (op.type == PROTO_OP_CHECK) {
        assert_int_equal(op.u.check.version, 3);
      }
      n++;
    }
    assert_int_equal(n, d->u.multi.count);
    assert_int_equal(n, t == PROTO_OP_MULTI ? 7 : 2);
    break;
  }
  case PROTO_OP_RECONFIG:
    assert_slice(d->u.reconfig.joining, "server.4=h:1:2;3");
    assert_slice(d->u.reconfig.leaving, "");
    assert_int_equal(d->u.reconfig.new_members.len, -1);
    assert_true(d->u.reconfig.cur_config_id == -1);
    break;
  case PROTO_OP_CHECKWATCHES:
  case PROTO_OP_REMOVEWATCHES:
    assert_slice(d->u.watches.path, "/wt");
    assert_int_equal(d->u.watches.type, 3);
    break;
  case PROTO_OP_ADDWATCH:
    assert_slice(d->u.add_watch.path, "/aw");
    assert_int_equal(d->u.add_watch.mode, 1);
    break;
  case PROTO_OP_AUTH:
    assert_int_equal(d->hdr.xid, -4);
    assert_slice(d->u.auth.scheme, "digest");
    assert_slice(d->u.auth.auth, "user:pass");
    break;
  case PROTO_OP_SETWATCHES:
  case PROTO_OP_SETWATCHES2: {
    static const char *const a[] = {"/a", "/b"};
    static const char *const b[] = {"/c"};
    static const char *const c[] = {"/d", "/e", "/f"};
    assert_true(d->u.set_watches.relative_zxid == 0x123456789LL);
    check_str_vec(&d->u.set_watches.data_watches, a, 2);
    check_str_vec(&d->u.set_watches.exist_watches, b, 1);
    check_str_vec(&d->u.set_watches.child_watches, c, 0);
    if (t == PROTO_OP_SETWATCHES2) {
      check_str_vec(&d->u.set_watches.persistent_watches, c, 3);
      check_str_vec(&d->u.set_watches.persistent_recursive_watches, b, 1);
    } else {
      assert_int_equal(d->u.set_watches.persistent_watches.count, 0);
    }
    break;
  }
  case PROTO_OP_SASL:
    assert_slice(d->u.sasl.token, "\x01\x02\x03");
    break;
  default:
    break;
  }
}

/* Every opcode a client can send encodes, decodes to the same fields, and
 * re-encodes to the same bytes. */
static void test_every_opcode_roundtrip(void **state) {
  for (size_t i = 0; i < N_CLIENT_OPS; i++) {
    int32_t t = k_client_ops[i];
    struct sample s;
    sample_encode(&s, t);
    assert_int_equal(proto_writer_err(&s.frame), PROTO_OK);
    struct proto_reader r;
    proto_reader_init(&r, s.frame.buf, 4, 0);
    assert_int_equal(proto_read_int(&r), (int32_t)s.frame.len - 4);

    /* Decode from an exact-size heap copy (so ASan sees any over-read)
     * that stays alive while the borrowed record is used. */
    size_t plen = s.frame.len - 4;
    uint8_t *copy = malloc(plen);
    assert_non_null(copy);
    memcpy(copy, s.frame.buf + 4, plen);
    struct proto_request d;
    int rc = proto_request_decode(copy, plen, MAXF, &d);
    if (rc != PROTO_OK)
      fail_msg("op %d (%s) decode -> %d", t, proto_op_name(t), rc);
    sample_check(t, &d);
    struct proto_writer w2;
    proto_writer_init(&w2);
    proto_request_encode(&w2, &d);
    assert_int_equal(w2.len, s.frame.len);
    assert_memory_equal(w2.buf, s.frame.buf, s.frame.len);
    proto_writer_free(&w2);
    free(copy);
    sample_free(&s);
  }
}

/* Every proper prefix of every sample request fails: shorter than the
 * header gives BADARGUMENTS, a truncated body MARSHALLINGERROR with the
 * header filled; bodiless ops ignore trailing bytes. */
static void test_every_opcode_truncated(void **state) {
  for (size_t i = 0; i < N_CLIENT_OPS; i++) {
    int32_t t = k_client_ops[i];
    struct sample s;
    sample_encode(&s, t);
    const uint8_t *p = s.frame.buf + 4;
    size_t full = s.frame.len - 4;
    for (size_t cut = 0; cut < full; cut++) {
      struct proto_request d;
      int rc = decode_copy(p, cut, MAXF, &d);
      if (cut < 8) {
        assert_int_equal(rc, PROTO_BADARGUMENTS);
        continue;
      }
      if (rc != PROTO_MARSHALLINGERROR)
        fail_msg("op %d cut %zu -> %d", t, cut, rc);
      assert_int_equal(d.hdr.type, t);
      struct proto_reader xr;
      proto_reader_init(&xr, s.frame.buf + 4, 4, 0);
      assert_int_equal(d.hdr.xid, proto_read_int(&xr));
    }
    assert_false(op_has_body(t) && full == 8);
    sample_free(&s);
  }
}

/* Trailing bytes after a record are ignored (§1.2). */
static void test_trailing_bytes(void **state) {
  uint8_t b[64];
  struct proto_request d;
  assert_int_equal(
      decode_hex("00000001 0000000b deadbeef", b, sizeof b, MAXF, &d),
      PROTO_OK);
  assert_int_equal(d.hdr.type, PROTO_OP_PING);
  assert_int_equal(decode_hex("00000001 00000002 00000002 2f61 00000001 ff", b,
                              sizeof b, MAXF, &d),
                   PROTO_OK);
  assert_slice(d.u.del.path, "/a");
  assert_int_equal(d.u.del.version, 1);
}

/* Opcodes a client may not send give UNIMPLEMENTED with the header kept;
 * fewer than 8 bytes give BADARGUMENTS. */
static void test_unknown_and_short(void **state) {
  static const int32_t bad[] = {0,   -10, 20, -1,  10,        23,       99,
                                108, 999, -2, -12, INT32_MIN, INT32_MAX};
  uint8_t b[16];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct proto_request req = {.hdr = {55, bad[i]}}, d;
    struct proto_writer w;
    proto_writer_init(&w);
    proto_request_encode(&w, &req); /* header only for unknown ops */
    assert_int_equal(w.len, 12);
    assert_int_equal(decode_copy(w.buf + 4, 8, MAXF, &d), PROTO_UNIMPLEMENTED);
    assert_int_equal(d.hdr.xid, 55);
    assert_int_equal(d.hdr.type, bad[i]);
    proto_writer_free(&w);
  }
  struct proto_request d;
  memset(b, 0xab, sizeof b);
  for (size_t n = 0; n < 8; n++)
    assert_int_equal(decode_copy(b, n, MAXF, &d), PROTO_BADARGUMENTS);
  assert_int_equal(proto_request_decode(NULL, 100, MAXF, &d),
                   PROTO_BADARGUMENTS);
}

/* Lengths inside a request body: < -1, > max_field and past the end are
 * MARSHALLINGERROR; -1 (null) and exactly max_field are accepted. */
static void test_request_lengths(void **state) {
  uint8_t b[128];
  struct proto_request d;
  static const char *const bad[] = {
      /* getData path length -2 */
      "00000001 00000004 fffffffe 01",
      /* getData path INT32_MIN */
      "00000001 00000004 80000000 01",
      /* getData path longer than the frame */
      "00000001 00000004 00000010 2f61 01",
      /* setData data length -5 */
      "00000001 00000005 00000002 2f61 fffffffb 00000000",
      /* create path ok, data lies */
      "00000001 00000001 00000002 2f61 7fffffff 00",
      /* auth auth buffer truncated */
      "00000001 00000064 00000000 00000006 646967657374 00000005 7573",
      /* sasl token -2 */
      "00000001 00000066 fffffffe",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = decode_hex(bad[i], b, sizeof b, MAXF, &d);
    if (rc != PROTO_MARSHALLINGERROR)
      fail_msg("case %zu -> %d", i, rc);
  }
  /* max_field: a 4-byte path passes at 4 and fails at 3. */
  const char *gd = "00000001 00000004 00000004 2f666f6f 00";
  assert_int_equal(decode_hex(gd, b, sizeof b, 4, &d), PROTO_OK);
  assert_int_equal(decode_hex(gd, b, sizeof b, 3, &d), PROTO_MARSHALLINGERROR);
  assert_int_equal(d.hdr.type, PROTO_OP_GETDATA);
  assert_null(d.u.path_watch.path.ptr); /* nothing half-decoded escapes */
  /* A null path decodes as a null slice: the consumer decides (getEphemerals
   * treats null as "all"). */
  assert_int_equal(
      decode_hex("00000001 00000067 ffffffff", b, sizeof b, MAXF, &d),
      PROTO_OK);
  assert_null(d.u.path.path.ptr);
  assert_int_equal(d.u.path.path.len, -1);
}

/* Create flags are not the decoder's business outside multi: op 1 with
 * flags 7 or -1 decodes. */
static void test_create_flags_not_checked(void **state) {
  uint8_t b[128];
  struct proto_request d;
  assert_int_equal(decode_hex("00000001 00000001 00000002 2f61 ffffffff"
                              "00000000 00000007",
                              b, sizeof b, MAXF, &d),
                   PROTO_OK);
  assert_int_equal(d.u.create.flags, 7);
  assert_int_equal(d.u.create.data.len, -1);
  assert_int_equal(d.u.create.acl.count, 0);
  assert_int_equal(decode_hex("00000001 00000013 00000002 2f61 ffffffff"
                              "ffffffff ffffffff",
                              b, sizeof b, MAXF, &d),
                   PROTO_OK);
  assert_int_equal(d.u.create.flags, -1);
  assert_int_equal(d.u.create.acl.count, -1); /* a null vector stays -1 */
  struct proto_acl_iter it;
  struct proto_acl a;
  proto_acl_iter_init(&it, &d.u.create.acl);
  assert_false(proto_acl_iter_next(&it, &a));
  /* createTTL without its ttl is truncated. */
  assert_int_equal(decode_hex("00000001 00000015 00000002 2f61 ffffffff"
                              "00000000 00000005",
                              b, sizeof b, MAXF, &d),
                   PROTO_MARSHALLINGERROR);
}

/* Vector counts inside requests: < -1, absurd, > max_field, more elements
 * claimed than present, and a bad element anywhere are all errors. */
static void test_request_vectors(void **state) {
  uint8_t b[256];
  struct proto_request d;
  static const char *const bad[] = {
      /* setACL count -2 */
      "00000001 00000007 00000002 2f61 fffffffe 00000000",
      /* setACL count INT32_MAX */
      "00000001 00000007 00000002 2f61 7fffffff 00000000",
      /* setACL count 2, one ACL present, then version */
      "00000001 00000007 00000002 2f61 00000002"
      "0000001f 00000005 776f726c64 00000006 616e796f6e65 00000000",
      /* setACL with an ACL whose id length lies */
      "00000001 00000007 00000002 2f61 00000001"
      "0000001f 00000005 776f726c64 00000060 616e796f6e65 00000000",
      /* create with an ACL scheme length -2 */
      "00000001 00000001 00000002 2f61 00000000 00000001"
      "0000001f fffffffe 00000000 00000000",
      /* setWatches: bad string in the third vector */
      "fffffff8 00000065 0000000000000000 00000000 00000000"
      " 00000001 fffffffe",
      /* setWatches: count -7 */
      "fffffff8 00000065 0000000000000000 fffffff9 00000000 00000000",
      /* setWatches2 without its last two vectors */
      "fffffff8 00000069 0000000000000000 00000000 00000000 00000000",
      /* setWatches absurd count */
      "fffffff8 00000065 0000000000000000 40000000 00000000 00000000",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = decode_hex(bad[i], b, sizeof b, MAXF, &d);
    if (rc != PROTO_MARSHALLINGERROR)
      fail_msg("case %zu -> %d", i, rc);
  }
  /* count > max_field even when the bytes are there. */
  const char *two = "fffffff8 00000065 0000000000000000"
                    "00000002 00000002 2f61 00000002 2f62"
                    "ffffffff 00000000";
  assert_int_equal(decode_hex(two, b, sizeof b, 2, &d), PROTO_OK);
  assert_int_equal(d.u.set_watches.data_watches.count, 2);
  assert_int_equal(d.u.set_watches.exist_watches.count, -1);
  assert_int_equal(d.u.set_watches.child_watches.count, 0);
  assert_int_equal(decode_hex(two, b, sizeof b, 1, &d), PROTO_MARSHALLINGERROR);
}

/* Iterators over vectors that did not come from the decoder (count larger
 * than the bytes) stop instead of reading past the slice. */
static void test_forged_vectors(void **state) {
  uint8_t raw[8] = {0, 0, 0, 1, 'x', 0, 0, 0};
  struct proto_str_vec sv = {{raw, 5}, 3};
  struct proto_str_iter si;
  struct proto_slice s;
  proto_str_iter_init(&si, &sv);
  assert_true(proto_str_iter_next(&si, &s));
  assert_slice(s, "x");
  assert_false(proto_str_iter_next(&si, &s));
  assert_false(proto_str_iter_next(&si, &s));

  struct proto_acl_vec av = {{raw, 5}, 1};
  struct proto_acl_iter ai;
  struct proto_acl a;
  proto_acl_iter_init(&ai, &av);
  assert_false(proto_acl_iter_next(&ai, &a));
  struct proto_acl_vec empty = {{NULL, 0}, 0};
  proto_acl_iter_init(&ai, &empty);
  assert_false(proto_acl_iter_next(&ai, &a));

  struct proto_multi_req m = {{raw, 5}, 2};
  struct proto_multi_iter mi;
  struct proto_multi_op op;
  proto_multi_iter_init(&mi, &m);
  assert_false(proto_multi_iter_next(&mi, &op));
  struct proto_multi_req none = {{NULL, 0}, 0};
  proto_multi_iter_init(&mi, &none);
  assert_false(proto_multi_iter_next(&mi, &op));
}

/* ------------------------------------------------------------------ */
/* multi rules (§5.4) */

#define MH(t) t " 00 ffffffff"
#define TERM "ffffffff 01 ffffffff"
#define CREATE_BODY(flags)                                                     \
  "00000002 2f61 00000000 00000001"                                            \
  "0000001f 00000005 776f726c64 00000006 616e796f6e65 " flags

/* The terminator alone is a valid empty multi, for both kinds. */
static void test_multi_empty(void **state) {
  uint8_t b[64];
  struct proto_request d;
  assert_int_equal(decode_hex("00000009 0000000e " TERM, b, sizeof b, MAXF, &d),
                   PROTO_OK);
  assert_int_equal(d.u.multi.count, 0);
  assert_int_equal(d.u.multi.raw.len, 9);
  struct proto_multi_iter it;
  struct proto_multi_op op;
  proto_multi_iter_init(&it, &d.u.multi);
  assert_false(proto_multi_iter_next(&it, &op));
  assert_int_equal(decode_hex("00000009 00000016 " TERM, b, sizeof b, MAXF, &d),
                   PROTO_OK);
  assert_int_equal(d.u.multi.count, 0);

  /* Encoders: begin + end alone, and a zeroed multi request. */
  struct proto_writer w;
  proto_writer_init(&w);
  size_t m = proto_multi_encode_begin(&w, 9, PROTO_OP_MULTI);
  proto_multi_encode_end(&w, m);
  expect_hex(&w, "00000011 00000009 0000000e " TERM);
  proto_writer_reset(&w);
  struct proto_request z = {.hdr = {9, PROTO_OP_MULTI}};
  proto_request_encode(&w, &z);
  expect_hex(&w, "00000011 00000009 0000000e " TERM);
  proto_writer_free(&w);

  /* done = true ends the list whatever its type (as Java's reader). */
  assert_int_equal(decode_hex("00000009 0000000e 00000001 01 00000000", b,
                              sizeof b, MAXF, &d),
                   PROTO_OK);
  assert_int_equal(d.u.multi.count, 0);
}

/* Malformed multis: no terminator, truncated headers and bodies, unknown
 * sub-op types, reads in multi, writes in multiRead, invalid create flags. */
static void test_multi_rules(void **state) {
  uint8_t b[256];
  struct proto_request d;
  static const char *const bad[] = {
      /* empty body: no terminator */
      "00000009 0000000e",
      /* one delete, no terminator */
      "00000009 0000000e " MH("00000002") " 00000002 2f62 00000003",
      /* terminator truncated */
      "00000009 0000000e ffffffff 01 ffff",
      /* header truncated after done */
      "00000009 0000000e 00000002 00",
      /* delete body truncated */
      "00000009 0000000e " MH("00000002") " 00000002 2f62 0000 " TERM,
      /* unknown sub-op types: exists, sync, multi, 99, -1 not done */
      "00000009 0000000e " MH("00000003") " 00000002 2f62 00 " TERM,
      "00000009 0000000e " MH("00000009") " 00000002 2f62 " TERM,
      "00000009 0000000e " MH("0000000e") " " TERM " " TERM,
      "00000009 0000000e " MH("00000063") " " TERM,
      "00000009 0000000e " MH("ffffffff") " " TERM,
      /* read op in multi */
      "00000009 0000000e " MH("00000004") " 00000002 2f62 00 " TERM,
      "00000009 0000000e " MH("00000008") " 00000002 2f62 00 " TERM,
      /* mixing: a delete then a getData in multi */
      "00000009 0000000e " MH("00000002") " 00000002 2f62 00000003 " MH(
          "00000004") " 00000002 2f62 00 " TERM,
      /* write ops in multiRead */
      "00000009 00000016 " MH("00000002") " 00000002 2f62 00000003 " TERM,
      "00000009 00000016 " MH("00000004") " 00000002 2f62 00 " MH(
          "0000000d") " 00000002 2f62 00000003 " TERM,
      "00000009 00000016 " MH("00000001") " " CREATE_BODY("00000000") " " TERM,
      /* invalid create flags inside multi (3.8.2+) */
      "00000009 0000000e " MH("00000001") " " CREATE_BODY("00000007") " " TERM,
      "00000009 0000000e " MH("0000000f") " " CREATE_BODY("ffffffff") " " TERM,
      "00000009 0000000e " MH("00000013") " " CREATE_BODY("80000000") " " TERM,
      "00000009 0000000e " MH("00000015") " " CREATE_BODY(
          "00000007") " 0000000000000001 " TERM,
      /* a create's ACL vector lies */
      "00000009 0000000e " MH(
          "00000001") " 00000002 2f61 00000000 00000005 0000001f " TERM,
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = decode_hex(bad[i], b, sizeof b, MAXF, &d);
    if (rc != PROTO_MARSHALLINGERROR)
      fail_msg("case %zu -> %d", i, rc);
    assert_int_equal(d.hdr.xid, 9);
    assert_int_equal(d.u.multi.count, 0);
    assert_null(d.u.multi.raw.ptr);
  }
  /* Every valid flag value passes inside multi. */
  for (int f = 0; f <= 6; f++) {
    char hex[256];
    char flags[9];
    snprintf(flags, sizeof flags, "%08x", f);
    snprintf(hex, sizeof hex,
             "00000009 0000000e " MH("00000001") " 00000002 2f61 00000000"
                                                 " 00000000 %s " TERM,
             flags);
    assert_int_equal(decode_hex(hex, b, sizeof b, MAXF, &d), PROTO_OK);
    assert_int_equal(d.u.multi.count, 1);
  }
  /* The err field of request MultiHeaders is ignored. */
  assert_int_equal(decode_hex("00000009 0000000e 00000002 00 12345678"
                              " 00000002 2f62 00000003 " TERM,
                              b, sizeof b, MAXF, &d),
                   PROTO_OK);
  assert_int_equal(d.u.multi.count, 1);
  /* The sub-op's field lengths obey max_field too. */
  assert_int_equal(
      decode_hex("00000009 0000000e " MH(
                     "00000002") " 00000004 2f626262 00000003 " TERM,
                 b, sizeof b, 3, &d),
      PROTO_MARSHALLINGERROR);
}

/* A sub-op type the encoder does not know is written header-only (so tests
 * can build bad multis) and the decoder rejects it. */
static void test_multi_encode_unknown_subop(void **state) {
  struct proto_writer w;
  proto_writer_init(&w);
  size_t m = proto_multi_encode_begin(&w, 1, PROTO_OP_MULTI);
  struct proto_multi_op op = {.type = 99};
  proto_multi_encode_op(&w, &op);
  proto_multi_encode_end(&w, m);
  expect_hex(&w, "0000001a 00000001 0000000e 00000063 00 ffffffff " TERM);
  struct proto_request d;
  assert_int_equal(proto_request_decode(w.buf + 4, w.len - 4, MAXF, &d),
                   PROTO_MARSHALLINGERROR);
  proto_writer_free(&w);
}

/* ------------------------------------------------------------------ */
/* Paths (§7.1) */

/* The table of good and bad paths, including every UTF-8 failure class. */
static void test_path_validate(void **state) {
  static const char *const good[] = {
      "/",
      "/a",
      "/a/b",
      "/\xc3\xa9" /* é */,
      "/...",
      "/.a",
      "/a.",
      "/..a",
      "/a/.b/c..",
      "/zookeeper/quota",
      "/ ",
      "/\x7e",
      "/\xc2\xa0" /* U+00A0, first after the C1 range */,
      "/\xe0\xa0\x80" /* U+0800 */,
      "/\xed\x9f\xbf" /* U+D7FF */,
      "/\xef\xbf\xaf" /* U+FFEF */,
      "/p/0000000001",
      "/\xe4\xb8\xad\xe6\x96\x87" /* 中文 */,
  };
  static const char *const bad[] = {
      "",
      "a",
      "/a/",
      "//",
      "/a//b",
      "/.",
      "/..",
      "/a/..",
      "/a/.",
      "/a/./b",
      "/a/../b",
      "./a",
      "/\xff\xfe",
      "/\xf0\x9f\x98\x80" /* 😀 */,
      "/a\x01",
      "/a\x1f",
      "/a\x7f",
      "/\xc2\x80" /* U+0080 */,
      "/\xc2\x9f" /* U+009F */,
      "/\xc0\xaf" /* overlong '/' */,
      "/\xc1\xbf",
      "/\xe0\x80\xaf" /* overlong 3-byte */,
      "/\xf0\x80\x80\xaf" /* overlong 4-byte */,
      "/\xed\xa0\x80" /* U+D800 surrogate */,
      "/\xed\xa0\xbd\xed\xb8\x80" /* CESU-8 😀 */,
      "/\xee\x80\x80" /* U+E000 private use */,
      "/\xef\xa3\xbf" /* U+F8FF */,
      "/\xef\xbf\xb0" /* U+FFF0 */,
      "/\xef\xbf\xbf" /* U+FFFF */,
      "/\xf4\x8f\xbf\xbf" /* U+10FFFF */,
      "/\xf4\x90\x80\x80" /* > U+10FFFF */,
      "/\xf8\x88\x80\x80\x80",
      "/\x80" /* lone continuation */,
      "/\xc3" /* truncated 2-byte */,
      "/\xe4\xb8" /* truncated 3-byte */,
      "/\xc3\x28" /* bad continuation */,
      "/\xe4\x28\xad",
      "/a/\xc3",
      "/\xc3/a",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    if (proto_path_validate(good[i], strlen(good[i])) != PROTO_OK)
      fail_msg("good path %zu rejected", i);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (proto_path_validate(bad[i], strlen(bad[i])) != PROTO_BADARGUMENTS)
      fail_msg("bad path %zu accepted", i);
  }
  /* NUL inside, with an explicit length. */
  assert_int_equal(proto_path_validate("/a\0b", 4), PROTO_BADARGUMENTS);
  assert_int_equal(proto_path_validate("/\0", 2), PROTO_BADARGUMENTS);
  /* The length is honoured: "/a/" cut to "/a" is fine. */
  assert_int_equal(proto_path_validate("/a/", 2), PROTO_OK);
  assert_int_equal(proto_path_validate(NULL, 0), PROTO_BADARGUMENTS);
  assert_int_equal(proto_path_validate(NULL, 3), PROTO_BADARGUMENTS);
}

/* ------------------------------------------------------------------ */
/* Four-letter words (§8) */

/* Each word maps from the integer code in §8 back to itself; other values
 * give NULL. */
static void test_four_letter_words(void **state) {
  static const struct {
    uint32_t code;
    const char *word;
  } words[] = {
      {0x72756f6b, "ruok"}, {0x73727672, "srvr"}, {0x73746174, "stat"},
      {0x636f6e73, "cons"}, {0x63727374, "crst"}, {0x73727374, "srst"},
      {0x77636873, "wchs"}, {0x77636863, "wchc"}, {0x77636870, "wchp"},
      {0x64756d70, "dump"}, {0x636f6e66, "conf"}, {0x656e7669, "envi"},
      {0x6973726f, "isro"}, {0x6d6e7472, "mntr"}, {0x64697273, "dirs"},
      {0x67746d6b, "gtmk"}, {0x73746d6b, "stmk"}, {0x68617368, "hash"},
  };
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
    const char *w = proto_four_letter_word((int32_t)words[i].code);
    assert_non_null(w);
    assert_string_equal(w, words[i].word);
  }
  static const uint32_t no[] = {0,
                                45,
                                0xfffff,
                                0x72756f6c /* ruol */,
                                0x52554f4b /* RUOK */,
                                0xffffffff,
                                0x6b6f7572 /* kour: byte order */};
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
    assert_null(proto_four_letter_word((int32_t)no[i]));
}

/* ------------------------------------------------------------------ */
/* ZooKeeper's dynamic configuration text */

static struct proto_slice sl(const char *s) {
  struct proto_slice x = {(const uint8_t *)s, s ? (int32_t)strlen(s) : -1};
  return x;
}

/* The text ZooKeeper 3.5+ puts in /zookeeper/config parses and formats
 * back byte for byte (servers by id, IPv6 bracketed, no newline after the
 * version). */
static void test_zkconfig_roundtrip(void **state) {
  (void)state;
  static const char text[] =
      "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n"
      "server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n"
      "server.3=[::1]:2890:3890:observer;[::1]:2183\n"
      "version=100000000";
  struct proto_zkconfig *c = malloc(sizeof *c);
  assert_non_null(c);
  const char *why;
  assert_int_equal(proto_zkconfig_parse(text, strlen(text), c, &why), PROTO_OK);
  assert_int_equal(c->n, 3);
  assert_true(c->has_version && c->version == 0x100000000ull);
  assert_string_equal(c->s[2].host, "::1");
  assert_true(c->s[2].observer && !c->s[0].observer);
  assert_int_equal(c->s[1].client_port, 2182);
  char buf[1024];
  size_t n = proto_zkconfig_format(c, buf, sizeof buf);
  assert_int_equal(n, strlen(text));
  assert_string_equal(buf, text);
  /* Too small a buffer: the length it needs, truncated text. */
  char small[8];
  assert_int_equal(proto_zkconfig_format(c, small, sizeof small), n);
  assert_int_equal(strlen(small), 7);
  /* Shorthands: no role is a participant, a bare client port binds the
   * wildcard address; entries may be ','-separated, out of order. */
  static const char loose[] =
      " server.2 = h2:1:2;2182 , server.1=h1:3:4:observer";
  assert_int_equal(proto_zkconfig_parse(loose, strlen(loose), c, &why),
                   PROTO_OK);
  assert_int_equal(c->n, 2);
  assert_int_equal(c->s[0].id, 1);
  proto_zkconfig_format(c, buf, sizeof buf);
  assert_string_equal(buf, "server.1=h1:3:4:observer\n"
                           "server.2=h2:1:2:participant;0.0.0.0:2182\n"
                           "version=0");
  free(c);
}

static void test_zkconfig_rejects(void **state) {
  (void)state;
  static const char *const bad[] = {
      "server.1=h:1",                   /* one port */
      "server.1=h:1:2:leader",          /* role */
      "server.1=h:0:2",                 /* port 0 */
      "server.1=h:1:70000",             /* port range */
      "server.1=h1:1:2|h2:1:2",         /* multiple addresses */
      "server.1=h:1:2\nserver.1=h:3:4", /* duplicate id */
      "server.0=h:1:2",                 /* id 0 */
      "group.1=1:2:3",                  /* hierarchical quorums */
      "server.x=h:1:2",                 /* id */
      "version=xyz",                    /* hex */
      "server.1=[::1:1:2",              /* unclosed bracket */
      "server.1=h:1:2;h:",              /* client port */
      "server.1=:1:2",                  /* empty host */
  };
  struct proto_zkconfig *c = malloc(sizeof *c);
  assert_non_null(c);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *why = NULL;
    assert_int_equal(proto_zkconfig_parse(bad[i], strlen(bad[i]), c, &why),
                     PROTO_BADARGUMENTS);
    assert_non_null(why);
  }
  free(c);
}

/* reconfig: incremental (leaving ids, joining specs that need a client
 * address; an id that joins again is replaced) and non-incremental
 * (newMembers is the next configuration), with the voter minimum. */
static void test_zkconfig_reconfig(void **state) {
  (void)state;
  static const char text[] = "server.1=a:1:2;11\nserver.2=b:1:2;12\n"
                             "server.3=c:1:2;13\nversion=5";
  struct proto_zkconfig *cur = malloc(sizeof *cur), *nx = malloc(sizeof *nx);
  assert_non_null(cur);
  assert_non_null(nx);
  const char *why;
  assert_int_equal(proto_zkconfig_parse(text, strlen(text), cur, &why),
                   PROTO_OK);
  struct proto_reconfig_req r = {sl("server.4=d:1:2:observer;14"), sl("3"),
                                 sl(NULL), -1};
  assert_int_equal(proto_zkconfig_reconfig(cur, &r, 2, nx, &why), PROTO_OK);
  assert_int_equal(nx->n, 3);
  assert_true(nx->s[2].id == 4 && nx->s[2].observer && nx->version == 0);
  r = (struct proto_reconfig_req){sl("server.2=b:1:2:observer;12"), sl(NULL),
                                  sl(NULL), -1};
  assert_int_equal(proto_zkconfig_reconfig(cur, &r, 1, nx, &why), PROTO_OK);
  assert_true(nx->n == 3 && nx->s[1].observer);
  r = (struct proto_reconfig_req){sl("server.4=d:1:2"), sl(NULL), sl(NULL), -1};
  assert_int_equal(proto_zkconfig_reconfig(cur, &r, 1, nx, &why),
                   PROTO_BADARGUMENTS); /* no client address */
  r = (struct proto_reconfig_req){sl(NULL), sl("two"), sl(NULL), -1};
  assert_int_equal(proto_zkconfig_reconfig(cur, &r, 1, nx, &why),
                   PROTO_BADARGUMENTS);
  r = (struct proto_reconfig_req){sl(NULL), sl("1,2"), sl(NULL), -1};
  assert_int_equal(proto_zkconfig_reconfig(cur, &r, 2, nx, &why),
                   PROTO_BADARGUMENTS); /* one voter left, 2 required */
  assert_int_equal(proto_zkconfig_reconfig(cur, &r, 1, nx, &why), PROTO_OK);
  assert_int_equal(nx->n, 1);
  r = (struct proto_reconfig_req){
      sl(NULL), sl(NULL), sl("server.7=g:1:2;17,server.8=h:1:2;18"), -1};
  assert_int_equal(proto_zkconfig_reconfig(cur, &r, 2, nx, &why), PROTO_OK);
  assert_true(nx->n == 2 && nx->s[0].id == 7 && nx->s[1].id == 8);
  /* No list at all: the same membership again. */
  r = (struct proto_reconfig_req){sl(NULL), sl(NULL), sl(NULL), -1};
  assert_int_equal(proto_zkconfig_reconfig(cur, &r, 2, nx, &why), PROTO_OK);
  assert_int_equal(nx->n, 3);
  free(cur);
  free(nx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_err_map),
      cmocka_unit_test(test_op_map),
      cmocka_unit_test(test_reader_primitives),
      cmocka_unit_test(test_reader_sticky),
      cmocka_unit_test(test_reader_buffer),
      cmocka_unit_test(test_reader_vector_count),
      cmocka_unit_test(test_writer_growth),
      cmocka_unit_test(test_writer_frames),
      cmocka_unit_test(test_writer_buffers),
      cmocka_unit_test(test_writer_alloc_failure),
      cmocka_unit_test(test_writer_bad_length),
      cmocka_unit_test(test_stat),
      cmocka_unit_test(test_acl),
      cmocka_unit_test(test_headers),
      cmocka_unit_test(test_9_1_connect_request),
      cmocka_unit_test(test_9_2_connect_response),
      cmocka_unit_test(test_9_3_create),
      cmocka_unit_test(test_9_4_get_data),
      cmocka_unit_test(test_9_5_ping),
      cmocka_unit_test(test_9_6_notification),
      cmocka_unit_test(test_9_7_multi),
      cmocka_unit_test(test_every_opcode_roundtrip),
      cmocka_unit_test(test_every_opcode_truncated),
      cmocka_unit_test(test_trailing_bytes),
      cmocka_unit_test(test_unknown_and_short),
      cmocka_unit_test(test_request_lengths),
      cmocka_unit_test(test_create_flags_not_checked),
      cmocka_unit_test(test_request_vectors),
      cmocka_unit_test(test_forged_vectors),
      cmocka_unit_test(test_multi_empty),
      cmocka_unit_test(test_multi_rules),
      cmocka_unit_test(test_multi_encode_unknown_subop),
      cmocka_unit_test(test_path_validate),
      cmocka_unit_test(test_four_letter_words),
      cmocka_unit_test(test_zkconfig_roundtrip),
      cmocka_unit_test(test_zkconfig_rejects),
      cmocka_unit_test(test_zkconfig_reconfig),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
