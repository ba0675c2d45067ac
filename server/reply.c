/* reply.c — answers and notifications as frames on a connection's output
 * (out.c sends them).  Used by dispatch.c for reads and by commit.c for
 * what a commit answers. */
#include "server/server_int.h"

#include <string.h>

size_t srv_reply_begin(struct srv_conn *c, int32_t xid, int64_t zxid,
                       int32_t err) {
  size_t mark = proto_frame_begin(&c->out);
  struct proto_reply_header h = {.xid = xid, .zxid = zxid, .err = err};
  proto_write_reply_header(&c->out, &h);
  return mark;
}

/* Reads write their body straight into the output after a header that
 * says OK; on error they write nothing and the header's err is patched
 * (offset: 4-byte frame length, then xid 4 + zxid 8). */
void srv_reply_set_err(struct srv_conn *c, size_t mark, int32_t err) {
  struct proto_writer *w = &c->out;
  size_t pos = mark + 4 + 12;
  if (proto_writer_err(w) != PROTO_OK || pos + 4 > w->len)
    return;
  proto_store_be32(w->buf + pos, (uint32_t)err);
}

static void count_latency(struct srv_conn *c, uint64_t start_ns) {
  struct srv *s = c->srv;
  uint64_t us = (uv_hrtime() - start_ns) / 1000u;
  c->lat_last_us = us;
  if (us < c->lat_min_us)
    c->lat_min_us = us;
  if (us > c->lat_max_us)
    c->lat_max_us = us;
  c->lat_sum_us += us;
  c->lat_count++;
  if (s->stats.lat_count == 0 || us < s->stats.lat_min_us)
    s->stats.lat_min_us = us;
  if (us > s->stats.lat_max_us)
    s->stats.lat_max_us = us;
  s->stats.lat_sum_us += us;
  s->stats.lat_count++;
}

void srv_reply_end(struct srv_conn *c, size_t mark, int64_t zxid,
                   uint64_t start_ns) {
  struct srv *s = c->srv;
  proto_frame_end(&c->out, mark);
  int64_t size = (int64_t)(c->out.len - mark);
  s->stats.last_resp_size = size;
  if (s->stats.min_resp_size < 0 || size < s->stats.min_resp_size)
    s->stats.min_resp_size = size;
  if (size > s->stats.max_resp_size)
    s->stats.max_resp_size = size;
  s->stats.packets_sent++;
  c->sent++;
  c->last_zxid = zxid;
  c->last_resp_wall_ms = srv_wall_ms();
  if (start_ns != 0)
    count_latency(c, start_ns);
  srv_conn_mark_dirty(c);
}

void srv_reply_simple(struct srv_conn *c, int32_t xid, int64_t zxid,
                      int32_t err, uint64_t start_ns) {
  size_t mark = srv_reply_begin(c, xid, zxid, err);
  srv_reply_end(c, mark, zxid, start_ns);
}

void srv_reply_connect(struct srv_conn *c, const struct srv_session *sess,
                       bool has_read_only) {
  struct srv *s = c->srv;
  struct proto_connect_response resp;
  memset(&resp, 0, sizeof resp);
  resp.protocol_version = 0;
  resp.timeout_ms = sess->timeout_ms;
  resp.session_id = sess->id;
  srv_session_password(s, sess->id, resp.passwd);
  resp.has_read_only = has_read_only;
  /* Only a read-only member makes such sessions, and it drops them all
   * (and their connections) when it leaves read-only mode. */
  resp.read_only = sess->read_only;
  proto_connect_response_encode_frame(&c->out, &resp);
  c->sent++;
  c->last_op = PROTO_OP_CREATESESSION;
  c->last_resp_wall_ms = srv_wall_ms();
  s->stats.packets_sent++;
  srv_conn_mark_dirty(c);
}

static struct tree_auth conn_auth(const struct srv_conn *c) {
  struct tree_auth a = {.ids = c->ids, .n_ids = c->n_ids};
  return a;
}

void srv_deliver_events(struct srv *s, const struct tree_out *out,
                        int64_t zxid) {
  for (size_t i = 0; i < out->n_events; i++) {
    const struct tree_event *ev = &out->events[i];
    struct srv_conn *w = srv_map_get(&s->conn_by_id, ev->watcher);
    if (w == NULL || w->state != SRV_CONN_OPEN)
      continue; /* its connection closed: the watch died with it */
    struct tree_auth auth = conn_auth(w);
    if (!tree_event_visible(ev, &auth))
      continue; /* no READ on the node: not even its name (CVE-2024-23944) */
    proto_write_notification(&w->out, zxid, ev->type, ev->path, ev->path_len);
    w->sent++;
    s->stats.packets_sent++;
    srv_conn_mark_dirty(w);
    if (srv_conn_pending_bytes(w) > SRV_OUT_HARD_BYTES)
      srv_conn_close(w, false, SRV_LOG_WARN,
                     "more than %u bytes of unsent output (watch events); "
                     "client is not reading",
                     SRV_OUT_HARD_BYTES);
  }
}
