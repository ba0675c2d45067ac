/* order.c — per-connection order: the one answer to "why is this
 * connection not being read".
 *
 * A session's requests are answered in the order sent (§3.5), and each
 * sees exactly the writes sent before it.  A write (createSession,
 * closeSession, sync) is answered at commit, so while a connection has
 * one unanswered, it waits:
 *   - further writes may follow, up to SRV_CONN_WRITES in the ring (they
 *     are answered in the order committed, which is theirs: the replica
 *     proposes one connection's writes in order);
 *   - so may reads: a read behind unanswered writes takes a slot with a
 *     copy of its frame and is answered when it reaches the head, right
 *     after the commit of the write before it and before the next commit
 *     (commit.c), so it sees that write and not the next;
 *   - anything else (a ping, a sync, closeSession, auth, ...) waits until
 *     the ring is empty: conn.c stops reading, and its frames stay in its
 *     input buffer, bounded by one read chunk plus one frame.
 * A write this server answers itself (refused by a failed log, or whose
 * body does not decode) takes a slot too, with its error, and is answered
 * when it reaches the head.
 *
 * When a wait ends, the connection goes on srv.ready; conn.c reads on
 * from it at the end of the loop turn (srv_flush_all), so no answer ever
 * runs the reading code from inside a commit.
 *
 * Calls no other file of server/: only its own fields change here. */
#include "server/server_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static void check_ring(const struct srv_order *o) {
  /* Invariants of the ring: a WRITE wait has 1..SRV_CONN_WRITES slots and
   * names its head; no other wait has any. */
  assert(o->n <= SRV_CONN_WRITES);
  assert(o->head < SRV_CONN_WRITES);
  assert(o->wait != SRV_WAIT_WRITE || o->n > 0);
  assert(o->wait != SRV_WAIT_WRITE || o->ring[o->head].cxid == o->wait_id);
  assert(o->wait == SRV_WAIT_WRITE || o->n == 0);
}

bool srv_order_may_take(const struct srv_conn *c, bool is_write) {
  const struct srv_order *o = &c->order;
  if (o->wait == SRV_WAIT_NONE)
    return true;
  return is_write && o->wait == SRV_WAIT_WRITE && o->n < SRV_CONN_WRITES;
}

void srv_order_block(struct srv_conn *c, enum srv_wait what, int64_t id) {
  struct srv_order *o = &c->order;
  assert(o->wait == SRV_WAIT_NONE && what != SRV_WAIT_WRITE);
  o->wait = what;
  o->wait_id = id;
  o->sync_zxid = -1;
  o->sync_round = 0;
}

bool srv_order_push_write(struct srv_conn *c, int32_t cxid, int32_t err,
                          uint64_t start_ns) {
  struct srv_order *o = &c->order;
  assert(srv_order_may_take(c, true));
  if (o->ring == NULL) {
    o->ring = malloc(SRV_CONN_WRITES * sizeof *o->ring);
    if (o->ring == NULL)
      return false;
  }
  if (o->wait != SRV_WAIT_WRITE) {
    o->head = 0;
    o->n = 0;
    o->wait = SRV_WAIT_WRITE;
    o->wait_id = cxid;
  }
  o->ring[(o->head + o->n) % SRV_CONN_WRITES] =
      (struct srv_order_slot){.cxid = cxid, .err = err, .start_ns = start_ns};
  o->n++;
  check_ring(o);
  return true;
}

bool srv_order_push_read(struct srv_conn *c, int32_t xid,
                         const uint8_t *payload, size_t len,
                         uint64_t start_ns) {
  struct srv_order *o = &c->order;
  assert(o->wait == SRV_WAIT_WRITE && o->n > 0 && o->n < SRV_CONN_WRITES);
  uint8_t *f = malloc(len ? len : 1);
  if (f == NULL)
    return false;
  memcpy(f, payload, len);
  o->ring[(o->head + o->n) % SRV_CONN_WRITES] = (struct srv_order_slot){
      .cxid = xid, .start_ns = start_ns, .frame = f, .frame_len = len};
  o->n++;
  check_ring(o);
  return true;
}

bool srv_order_waits_for(const struct srv_conn *c, enum srv_wait what,
                         int64_t id) {
  return c->order.wait == what && c->order.wait_id == id;
}

bool srv_order_has_write(const struct srv_conn *c, int32_t cxid) {
  const struct srv_order *o = &c->order;
  if (o->wait != SRV_WAIT_WRITE)
    return false;
  for (uint32_t i = 0; i < o->n; i++)
    if (o->ring[(o->head + i) % SRV_CONN_WRITES].cxid == cxid)
      return true;
  return false;
}

void srv_order_ready(struct srv_conn *c) {
  struct srv_order *o = &c->order;
  if (o->ready)
    return;
  o->ready = true;
  o->ready_next = c->srv->ready;
  c->srv->ready = c;
}

struct srv_conn *srv_order_ready_pop(struct srv *s) {
  struct srv_conn *c = s->ready;
  if (c == NULL)
    return NULL;
  s->ready = c->order.ready_next;
  c->order.ready = false;
  c->order.ready_next = NULL;
  return c;
}

const struct srv_order_slot *srv_order_head(const struct srv_conn *c) {
  const struct srv_order *o = &c->order;
  return o->wait == SRV_WAIT_WRITE && o->n > 0 ? &o->ring[o->head] : NULL;
}

const struct srv_order_slot *srv_order_answered(struct srv_conn *c) {
  struct srv_order *o = &c->order;
  check_ring(o);
  if (o->wait == SRV_WAIT_WRITE) {
    assert(o->n > 0);
    free(o->ring[o->head].frame); /* a read's copy, unless taken */
    o->ring[o->head].frame = NULL;
    o->head = (o->head + 1) % SRV_CONN_WRITES;
    o->n--;
    if (o->n > 0) {
      struct srv_order_slot *h = &o->ring[o->head];
      o->wait_id = h->cxid;
      /* Room again in the ring: a write may be read. */
      srv_order_ready(c);
      return h->err != 0 || h->frame != NULL ? h : NULL;
    }
  }
  o->wait = SRV_WAIT_NONE;
  o->n = 0;
  srv_order_ready(c);
  return NULL;
}

int srv_connecting_put(struct srv *s, int64_t session, uint64_t conn_id) {
  return srv_map_put(&s->connecting, (uint64_t)session,
                     (void *)(uintptr_t)conn_id);
}

struct srv_conn *srv_connecting_take(struct srv *s, int64_t session) {
  void *v = srv_map_get(&s->connecting, (uint64_t)session);
  if (v == NULL)
    return NULL;
  srv_map_del(&s->connecting, (uint64_t)session);
  struct srv_conn *c = srv_map_get(&s->conn_by_id, (uint64_t)(uintptr_t)v);
  return c != NULL && srv_order_waits_for(c, SRV_WAIT_CONNECT, session) ? c
                                                                        : NULL;
}

size_t srv_conn_queued_frames(const struct srv_conn *c) {
  if (c->state != SRV_CONN_OPEN)
    return 0;
  size_t n = 0;
  for (size_t pos = 0; c->in_len - pos >= 4;) {
    uint32_t len = proto_load_be32(c->in + pos);
    if (len > (uint32_t)c->srv->cfg.jute_max_buffer ||
        c->in_len - pos - 4 < len)
      break;
    pos += 4 + (size_t)len;
    n++;
  }
  return n;
}

void srv_order_forget(struct srv_conn *c) {
  struct srv_order *o = &c->order;
  struct srv *s = c->srv;
  if (o->wait == SRV_WAIT_CONNECT)
    srv_map_del(&s->connecting, (uint64_t)o->wait_id);
  for (uint32_t i = 0; o->ring != NULL && i < o->n; i++)
    free(o->ring[(o->head + i) % SRV_CONN_WRITES].frame);
  free(o->ring);
  o->ring = NULL;
  o->n = 0;
  free(o->path);
  o->path = NULL;
  o->path_len = 0;
  o->wait = SRV_WAIT_NONE;
  if (o->ready) {
    /* Unlink: a closed connection must not be read on. */
    for (struct srv_conn **pp = &s->ready; *pp != NULL;
         pp = &(*pp)->order.ready_next) {
      if (*pp == c) {
        *pp = o->ready_next;
        break;
      }
    }
    o->ready = false;
    o->ready_next = NULL;
  }
}
