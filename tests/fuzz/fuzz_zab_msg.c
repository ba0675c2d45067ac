/* libFuzzer harness for the zab peer message decoder, and for what zab
 * does with whatever decodes.
 *
 * 1. The whole input goes to zab_msg_decode (with a large and a tiny data
 *    bound).  A decoded message must borrow its data from inside the input
 *    and re-encode to exactly the input bytes (the layout is canonical).
 * 2. The input is also read as a script of messages: [u8 sender][u16 len]
 *    [len bytes]...; each chunk that decodes is fed to a zab object (member
 *    1 of 3, loaded with a short log) as a message from member 2 or 3,
 *    with a tick between chunks, and every action is drained.  Nothing may
 *    crash, leak or trip a sanitizer whatever the peers say.
 *
 *   make fuzz-zab FUZZ_SECONDS=60      (clang, see tools/zab.mk)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "zab/zab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_decode(const uint8_t *data, size_t size, size_t max_data) {
  struct zab_msg m;
  const char *why = NULL;
  if (zab_msg_decode(data, size, max_data, &m, &why) != ZAB_OK) {
    if (why == NULL)
      abort(); /* a refusal always says why */
    return;
  }
  if (m.len > max_data)
    abort();
  if (m.len > 0 && (m.data < data || m.data + m.len > data + size))
    abort();
  struct proto_writer w;
  proto_writer_init(&w);
  if (zab_msg_encode(&m, &w) != ZAB_OK || w.len != size ||
      memcmp(w.buf, data, size) != 0)
    abort();
  proto_writer_free(&w);
}

static void drain(struct zab *z) {
  struct zab_action a;
  while (zab_action_next(z, &a)) {
    if ((a.type == ZAB_ACT_APPEND || a.type == ZAB_ACT_COMMIT ||
         a.type == ZAB_ACT_INSTALL_SNAP) &&
        a.len > 0 && a.data == NULL)
      abort();
  }
}

static void run_script(const uint8_t *data, size_t size) {
  static const struct zab_member members[3] = {
      {1, false}, {2, false}, {3, false}};
  struct zab_config c;
  zab_config_defaults(&c);
  c.my_id = 1;
  c.members = members;
  c.n_members = 3;
  c.tick_ms = 10;
  c.max_txn_bytes = 4096;
  c.diff_window_txns = 4;
  struct zab *z;
  if (zab_create(&c, &z, NULL) != ZAB_OK)
    abort();
  static const uint8_t t[] = "txn";
  struct zab_entry es[3] = {
      {zab_zxid(1, 1), t, 3}, {zab_zxid(1, 2), t, 3}, {zab_zxid(1, 3), t, 3}};
  struct zab_event ev = {.type = ZAB_EV_LOAD, .now_ms = 0};
  ev.load.accepted_epoch = 1;
  ev.load.current_epoch = 1;
  ev.load.applied_zxid = zab_zxid(1, 2);
  ev.load.entries = es;
  ev.load.n_entries = 3;
  if (zab_step(z, &ev) != ZAB_OK)
    abort();
  drain(z);
  uint64_t now = 0;
  size_t pos = 0;
  while (pos + 3 <= size) {
    uint8_t sender = data[pos];
    size_t len = (size_t)data[pos + 1] << 8 | data[pos + 2];
    pos += 3;
    if (len > size - pos)
      len = size - pos;
    struct zab_msg m;
    if (zab_msg_decode(data + pos, len, 1 << 16, &m, NULL) == ZAB_OK) {
      struct zab_event me = {.type = ZAB_EV_MESSAGE, .now_ms = now};
      me.message.from = 2 + (sender & 1);
      me.message.msg = &m;
      if (zab_step(z, &me) != ZAB_OK)
        abort(); /* peer input is never the caller's error */
      drain(z);
    }
    pos += len;
    /* Time, durability and the local side move along too. */
    now += sender >> 4;
    struct zab_event te = {.type = ZAB_EV_TICK, .now_ms = now};
    zab_step(z, &te);
    drain(z);
    if (sender & 2) {
      struct zab_status st;
      zab_status_get(z, &st);
      struct zab_event de = {.type = ZAB_EV_DURABLE, .now_ms = now};
      de.durable.zxid = st.last_zxid;
      zab_step(z, &de);
      drain(z);
    }
    if (sender & 4) {
      struct zab_event pe = {.type = ZAB_EV_PROPOSE, .now_ms = now};
      pe.propose.data = t;
      pe.propose.len = 3;
      zab_step(z, &pe);
      drain(z);
    }
  }
  zab_destroy(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_decode(data, size, 1 << 20);
  check_decode(data, size, 16);
  run_script(data, size);
  return 0;
}
