/* ensemble.c — roost-server as a member of an ensemble (issue 7): the peer
 * transport, the libuv driver of zab/, and the write path across servers.
 * docs/ensemble.md has the operator's view; this comment the design.
 *
 * Transport.  Every member dials every other member on its quorumPort and
 * sends on that connection only; what it receives comes in on the
 * connections the others dialled.  So each ordered pair has its own TCP
 * link and nobody has to settle which of two crossing connections wins.
 * A link starts with a HELLO frame (magic, version, sender id); then
 * frames are `u32 length | u8 kind | payload`, at most ENS_MAX_FRAME.
 * Anything else (bad magic, unknown sender, oversized or malformed frame)
 * drops that link with a logged reason.  Outgoing links reconnect with
 * exponential backoff (ENS_RETRY_MIN_MS .. ENS_RETRY_MAX_MS) and are
 * dropped when more than ENS_MAX_QUEUED bytes wait to be written (zab
 * recovers from lost messages by resyncing).  The electionPort of a
 * server.N line is parsed but not used: one port carries everything.
 *
 * Driver.  zab is stepped only here (ens_step); its actions are performed
 * in order (zab.h): SEND -> the link; APPEND -> txlog_stage, and the
 * group-commit fsync of persist.c reports DURABLE; PERSIST_EPOCH -> the
 * file "epochs" (tmp, fsync, rename, fsync dir); TRUNCATE and
 * INSTALL_SNAP -> a snapshot of the applied state, then every log segment
 * is removed and the appended-but-uncommitted txns we keep are logged
 * again and synced (rare, so simple beats fast); SEND_SNAP ->
 * tree_serialize; COMMIT -> tree_apply, watch events, the reply to the
 * local client waiting for it; ROLE -> serving or not (a server that
 * stops serving closes its client connections, as ZooKeeper does).
 * Order kept: persist before ACK (zab), apply only at COMMIT.
 *
 * Writes.  Every write (and createSession / closeSession, and the
 * reaper's deleteContainer) becomes a request to the leader: a follower
 * forwards it (FWD), the leader queues its own.  The leader preps queued
 * requests in queue order and proposes each at once, up to
 * ENS_MAX_INFLIGHT proposals (ENS_MAX_INFLIGHT_BYTES) not yet applied
 * locally: prep validates
 * against the tree plus the changes of every prepped-but-unapplied txn
 * (tree_prep_pending and its struct tree_pending, ZooKeeper's outstanding
 * ChangeRecords), which gives the txns one-at-a-time prepping would.
 * Records are dropped as commits are applied (tree_pending_applied) and
 * all of them when the leader stops leading.  A prepped txn that zab
 * refuses (too big, not leader) is never applied, so its records would
 * lie: prepping then stops until everything proposed is applied and the
 * records are cleared.  The reply is built at COMMIT on the server the
 * client is connected to, from the committed txn alone.  A connection
 * with a write (or sync, or session creation) in flight processes no
 * further frame until it is answered: that keeps the session's FIFO order
 * (and the leader proposes in queue order).
 *
 * Sessions.  Ids are chosen by the server the client connects to
 * (server id in the top byte, so unique cluster-wide); every server
 * learns sessions from the committed createSession/closeSession txns.
 * The member a client connects to picks the password (a keyed hash of the
 * id under its own secret) and it travels in the FWD and the createSession
 * txn, so the tree of every member holds it and any member can check a
 * client that resumes there; no shared key is configured.  Followers
 * report the sessions they saw requests for (TOUCH, every tick); only
 * the leader expires sessions, by proposing closeSession.
 *
 * Recovery.  The newest snapshot is loaded as the state; logged txns after
 * it are handed to zab in LOAD, never applied directly (zab commits or
 * truncates them once synced). */
#include "server/server_int.h"
#include "zab/zab.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ENS_MAGIC 0x525a4142u /* "RZAB" */
/* 2: createSession carries its password (FWD payload and txn body); a
 * member of version 1 could not apply such txns, so the two refuse each
 * other at HELLO instead of diverging. */
#define ENS_VERSION 2u
#define ENS_MAX_FRAME (256u << 20) /* a SNAP of a large tree */
#define ENS_MAX_QUEUED (64u << 20)
#define ENS_RETRY_MIN_MS 50u
#define ENS_RETRY_MAX_MS 2000u
#define ENS_MAX_QUEUE 10000u   /* requests waiting at the leader */
#define ENS_MAX_INFLIGHT 1000u /* proposed, not applied yet (leader) */
/* ... and their bytes: well below ENS_MAX_QUEUED, so that a follower's
 * link is not dropped for the proposals in flight. */
#define ENS_MAX_INFLIGHT_BYTES (16u << 20)
#define ENS_MAX_TOUCH 4096u    /* session ids per TOUCH frame */
#define ENS_READ_CHUNK (64u << 10)

enum ens_kind {
  ENS_K_HELLO = 0,
  ENS_K_ZAB = 1,    /* a zab message (zab_msg_encode) */
  ENS_K_FWD = 2,    /* follower -> leader: a request to prep and propose */
  ENS_K_FAIL = 3,   /* leader -> origin: the request was not proposed */
  ENS_K_TOUCH = 4,  /* follower -> leader: sessions seen alive */
  ENS_K_SYNC = 5,   /* follower -> leader: what is committed now? */
  ENS_K_SYNCED = 6, /* leader -> follower: committed up to zxid */
};

/* ENS_REQ_REAP is the leader's own (never forwarded): deleteContainer of
 * the path in payload. */
enum ens_req_kind {
  ENS_REQ_WRITE = 0,
  ENS_REQ_CREATE = 1,
  ENS_REQ_CLOSE = 2,
  ENS_REQ_REAP = 3,
};

/* A request queued at the leader (own or forwarded).  Owns its bytes. */
struct ens_req {
  uint32_t origin;
  int32_t kind;
  int64_t session;
  int32_t cxid;
  int32_t timeout_ms;
  uint8_t *payload; /* ENS_REQ_WRITE: the request frame payload */
  size_t len;
  struct tree_identity *ids; /* strings owned */
  size_t n_ids;
};

struct ens_tcp; /* one TCP handle, freed in its close callback */

struct ens_peer {
  struct srv_ens *e;
  uint32_t id;
  bool observer;
  char host[256];
  int port;
  struct ens_tcp *out; /* our outgoing link, NULL when none */
  bool up;             /* HELLO sent: zab was told PEER_UP */
  uint32_t backoff_ms;
  uv_timer_t retry;
  bool retry_open;
};

struct ens_tcp {
  uv_tcp_t h;
  struct srv_ens *e;
  struct ens_peer *peer; /* outgoing: the peer; incoming: NULL */
  struct ens_tcp *next, *prev; /* incoming list */
  uv_connect_t creq;
  uint32_t from; /* incoming: sender id after HELLO, 0 before */
  bool closing;
  size_t queued; /* bytes handed to uv_write and not completed */
  /* Outgoing: frames of this loop turn, handed to libuv in one uv_write
   * by srv_ens_flush (the loop's check phase): one write(2) per link per
   * turn instead of one per message. */
  struct proto_writer obuf;
  uint8_t *in;
  size_t in_len, in_cap;
  struct tls_conn *tls; /* sslQuorum (tlsport.c); NULL: plain */
};

struct ens_wreq {
  uv_write_t req;
  struct ens_tcp *t;
  size_t len;
  uint8_t *data; /* owned */
};

struct srv_ens {
  struct srv *s;
  struct zab *zab;
  uint32_t my_id;
  struct ens_peer peers[SRV_MAX_PEERS];
  size_t n_peers; /* others, not us */
  uv_tcp_t listener;
  bool listener_open;
  uv_timer_t timer;
  bool timer_open;
  struct ens_tcp *incoming;
  bool stopping;

  /* zab state as last announced (ROLE). */
  enum zab_role role;
  uint32_t leader;
  uint32_t epoch;
  bool serving;

  /* Stepping: actions may lead to events (an inline fsync reports
   * DURABLE); those wait until the current drain is done. */
  bool in_step;
  bool tpend_stale;
  bool confirm_wanted; /* see confirm_issued below */
  int64_t durable_pending; /* -1 = none */
  uint64_t down_mask;      /* peers[i] whose PEER_DOWN is due */

  /* Txns appended but not committed yet, in zxid order, owned: they are
   * logged again after a TRUNCATE or INSTALL_SNAP empties the log. */
  struct ens_entry {
    uint64_t zxid;
    uint8_t *data;
    uint32_t len;
  } *pend;
  size_t n_pend, cap_pend;
  size_t pend_bytes; /* sum of their lengths */

  /* Leader: requests waiting to be prepped, a ring. */
  struct ens_req *queue;
  size_t q_head, q_len;
  /* What the txns proposed and not yet applied here will change (prep
   * reads it before the tree); the zxid proposed last in this leadership
   * (0 = none).  tpend_stale (above, for the struct's layout): a prepped
   * txn was not proposed, so tpend must be cleared before the next prep. */
  struct tree_pending *tpend;
  uint64_t last_proposed;

  /* Follower: sessions seen since the last TOUCH. */
  struct srv_map touched;
  /* createSession in flight: session id -> conn id. */
  struct srv_map connecting;
  size_t n_sync_waiting;

  /* Leader: a sync is answered only after a CONFIRM round that started
   * after it arrived was echoed by a quorum (zab): a leader that was
   * replaced without noticing yet (stalled, paused) must not answer a
   * sync from its stale tree.  Rounds of this leadership: the last one
   * started, the last one a quorum confirmed; confirm_wanted: start one
   * at the next ens_step. */
  uint64_t confirm_issued, confirm_done; /* (confirm_wanted: above) */
  /* Followers' SYNCs waiting for a round (the follower's conn id, 8
   * bytes as sent, is echoed in SYNCED). */
  struct ens_fsync {
    uint32_t from;
    uint8_t cid[8];
    uint64_t round;
  } *fsyncs;
  size_t n_fsyncs, cap_fsyncs;

  struct proto_writer w; /* scratch for frames */
  uint64_t forwarded, proposed, n_fail;
};

/* ------------------------------------------------------------------ */
/* helpers */

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static uint64_t now_ms(const struct srv_ens *e) {
  return uv_now(&e->s->loop);
}

static struct ens_peer *peer_of(struct srv_ens *e, uint32_t id) {
  for (size_t i = 0; i < e->n_peers; i++)
    if (e->peers[i].id == id)
      return &e->peers[i];
  return NULL;
}

static void ens_step(struct srv_ens *e, const struct zab_event *ev);
static bool pump_one(struct srv_ens *e);
static void on_timer(uv_timer_t *h);
static void peer_dial(struct ens_peer *p);

/* ------------------------------------------------------------------ */
/* links */

static void on_tcp_closed(uv_handle_t *h) {
  struct ens_tcp *t = h->data;
  proto_writer_free(&t->obuf);
  free(t->in);
  tls_conn_free(t->tls);
  free(t);
}

static void retry_later(struct ens_peer *p);

static void tcp_drop(struct ens_tcp *t, const char *why) {
  if (t->closing)
    return;
  t->closing = true;
  struct srv_ens *e = t->e;
  if (t->peer != NULL) {
    struct ens_peer *p = t->peer;
    p->out = NULL;
    if (why != NULL)
      srv_log(e->s, SRV_LOG_INFO, "link to server %u dropped: %s", p->id,
              why);
    if (p->up) {
      /* Told to zab by ens_step, never from here: a send that fails
       * inside an action must not step zab again. */
      p->up = false;
      e->down_mask |= UINT64_C(1) << (size_t)(p - e->peers);
      if (!e->in_step && e->timer_open)
        uv_timer_start(&e->timer, on_timer, 0, 0);
    }
    retry_later(p);
  } else {
    if (why != NULL)
      srv_log(e->s, SRV_LOG_INFO, "link from server %u dropped: %s", t->from,
              why);
    if (t->prev)
      t->prev->next = t->next;
    else
      e->incoming = t->next;
    if (t->next)
      t->next->prev = t->prev;
  }
  uv_close((uv_handle_t *)&t->h, on_tcp_closed);
}

static void on_written(uv_write_t *req, int status) {
  struct ens_wreq *w = (struct ens_wreq *)req;
  struct ens_tcp *t = w->t;
  t->queued -= w->len;
  free(w->data);
  free(w);
  if (status < 0 && status != UV_ECANCELED)
    tcp_drop(t, uv_strerror(status));
}

/* Sends one frame (kind + body) on p's outgoing link, if it is up.
 * Lost otherwise: zab recovers, forwarded requests are failed by the
 * connection close that follows a lost leader. */
static bool peer_send(struct ens_peer *p, uint8_t kind, const uint8_t *body,
                      size_t len) {
  struct ens_tcp *t = p->out;
  if (t == NULL || !p->up || t->closing || len + 1 > ENS_MAX_FRAME)
    return false;
  size_t waiting = t->queued + t->obuf.len;
  if (waiting > 0 && waiting + len > ENS_MAX_QUEUED) {
    tcp_drop(t, "more than 64 MiB queued: peer not reading");
    return false;
  }
  uint8_t hdr[5];
  put32(hdr, (uint32_t)(len + 1));
  hdr[4] = kind;
  proto_write_raw(&t->obuf, hdr, sizeof hdr);
  if (len)
    proto_write_raw(&t->obuf, body, len);
  if (proto_writer_err(&t->obuf) != PROTO_OK) {
    tcp_drop(t, "out of memory");
    return false;
  }
  return true;
}

/* Hands one link's frames of this turn to libuv (one uv_write). */
static void link_flush(struct ens_tcp *t) {
  if (t == NULL || t->closing ||
      (t->obuf.len == 0 && (t->tls == NULL || !tls_conn_pending_out(t->tls))))
    return;
  struct ens_wreq *w = malloc(sizeof *w);
  if (w == NULL) {
    tcp_drop(t, "out of memory");
    return;
  }
  w->t = t;
  if (t->tls != NULL) { /* sslQuorum: the frames go out encrypted */
    if (srv_tls_link_seal(t->tls, &t->obuf, &w->data, &w->len) != 0 ||
        w->data == NULL) {
      free(w);
      tcp_drop(t, "TLS: out of memory");
      return;
    }
  } else {
    w->len = t->obuf.len;
    w->data = t->obuf.buf; /* the buffer moves to the request */
    proto_writer_init(&t->obuf);
  }
  uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
  t->queued += w->len;
  int rc = uv_write(&w->req, (uv_stream_t *)&t->h, &b, 1, on_written);
  if (rc != 0) {
    t->queued -= w->len;
    free(w->data);
    free(w);
    tcp_drop(t, uv_strerror(rc));
  }
}

void srv_ens_flush(struct srv *s) {
  struct srv_ens *e = s->ens;
  if (e == NULL)
    return;
  for (size_t i = 0; i < e->n_peers; i++)
    link_flush(e->peers[i].out);
}

static void on_retry(uv_timer_t *h) { peer_dial(h->data); }

static void retry_later(struct ens_peer *p) {
  if (p->e->stopping || !p->retry_open)
    return;
  uv_timer_start(&p->retry, on_retry, p->backoff_ms, 0);
  p->backoff_ms = p->backoff_ms * 2 > ENS_RETRY_MAX_MS ? ENS_RETRY_MAX_MS
                                                       : p->backoff_ms * 2;
}

/* The peer just dialled us, so it is up again (restarted, or the network
 * healed): dial it back now rather than when our backoff (up to
 * ENS_RETRY_MAX_MS) runs out, which would delay its rejoin by as much. */
static void redial_now(struct ens_peer *p) {
  if (p == NULL || p->out != NULL || !p->retry_open || p->e->stopping)
    return;
  uv_timer_stop(&p->retry);
  p->backoff_ms = ENS_RETRY_MIN_MS;
  peer_dial(p);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct ens_tcp *t = h->data;
  (void)suggested;
  if (t->in_cap - t->in_len < ENS_READ_CHUNK) {
    size_t nc = t->in_cap ? t->in_cap * 2 : (size_t)2 * ENS_READ_CHUNK;
    while (nc - t->in_len < ENS_READ_CHUNK)
      nc *= 2;
    uint8_t *n = realloc(t->in, nc);
    if (n == NULL) {
      *buf = uv_buf_init(NULL, 0);
      return;
    }
    t->in = n;
    t->in_cap = nc;
  }
  *buf = uv_buf_init((char *)t->in + t->in_len,
                     (unsigned)(t->in_cap - t->in_len));
}

/* Outgoing links carry nothing back; reading only tells us when the peer
 * went away. */
static void on_out_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  struct ens_tcp *t = st->data;
  const char *why = NULL;
  size_t before = t->in_len;
  if (n > 0 && t->tls != NULL &&
      srv_tls_link_input(t->tls, buf->base, (size_t)n, &t->in, &t->in_len,
                         &t->in_cap, &why) == 0 &&
      t->in_len == before) {
    if (tls_conn_handshake_done(t->tls))
      t->peer->backoff_ms = ENS_RETRY_MIN_MS;
    link_flush(t); /* TLS handshake records */
    return;
  }
  if (n < 0)
    tcp_drop(t, n == UV_EOF ? "closed by peer" : uv_strerror((int)n));
  else if (n > 0)
    tcp_drop(t, why != NULL ? why : "peer sent data on our outgoing link");
}

static void on_connected(uv_connect_t *req, int status) {
  struct ens_tcp *t = req->data;
  struct ens_peer *p = t->peer;
  if (t->closing)
    return;
  if (status < 0) {
    tcp_drop(t, NULL); /* refused while the peer is down: not news */
    return;
  }
  uv_tcp_nodelay(&t->h, 1);
  if (srv_tls_link_new(p->e->s, p->host, &t->tls) != 0) {
    tcp_drop(t, "out of memory");
    return;
  }
  if (t->tls == NULL) /* TLS: once the handshake is done (on_out_read) */
    p->backoff_ms = ENS_RETRY_MIN_MS;
  p->up = true;
  uint8_t hello[12];
  put32(hello, ENS_MAGIC);
  put32(hello + 4, ENS_VERSION);
  put32(hello + 8, p->e->my_id);
  peer_send(p, ENS_K_HELLO, hello, sizeof hello);
  uv_read_start((uv_stream_t *)&t->h, on_alloc, on_out_read);
  srv_log(p->e->s, SRV_LOG_INFO, "link to server %u (%s:%d) up", p->id,
          p->host, p->port);
  struct zab_event ev = {.type = ZAB_EV_PEER_UP, .peer = {.id = p->id}};
  ens_step(p->e, &ev);
}

static int resolve(const char *host, int port, struct sockaddr_storage *ss) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  char ps[16];
  snprintf(ps, sizeof ps, "%d", port);
  if (getaddrinfo(host, ps, &hints, &res) != 0 || res == NULL)
    return -1;
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

static void peer_dial(struct ens_peer *p) {
  struct srv_ens *e = p->e;
  if (e->stopping || p->out != NULL)
    return;
  struct sockaddr_storage ss;
  if (resolve(p->host, p->port, &ss) != 0) {
    retry_later(p);
    return;
  }
  struct ens_tcp *t = calloc(1, sizeof *t);
  if (t == NULL) {
    retry_later(p);
    return;
  }
  t->e = e;
  t->peer = p;
  uv_tcp_init(&e->s->loop, &t->h);
  t->h.data = t;
  t->creq.data = t;
  p->out = t;
  int rc = uv_tcp_connect(&t->creq, &t->h, (struct sockaddr *)&ss,
                          on_connected);
  if (rc != 0)
    tcp_drop(t, uv_strerror(rc));
}

/* ------------------------------------------------------------------ */
/* incoming frames */

static void on_zab_frame(struct srv_ens *e, uint32_t from, const uint8_t *b,
                         size_t n, struct ens_tcp *t) {
  struct zab_msg m;
  const char *why = NULL;
  if (zab_msg_decode(b, n, ENS_MAX_FRAME, &m, &why) != ZAB_OK) {
    char r[128];
    snprintf(r, sizeof r, "bad zab message: %s", why ? why : "?");
    tcp_drop(t, r);
    return;
  }
  struct zab_event ev = {.type = ZAB_EV_MESSAGE,
                         .message = {.from = from, .msg = &m}};
  ens_step(e, &ev);
}

static void req_free(struct ens_req *r) {
  free(r->payload);
  for (size_t i = 0; i < r->n_ids; i++) {
    free((void *)r->ids[i].scheme);
    free((void *)r->ids[i].id);
  }
  free(r->ids);
  memset(r, 0, sizeof *r);
}

static char *slice_dup(struct proto_slice sl) {
  size_t n = sl.len > 0 ? (size_t)sl.len : 0;
  char *p = malloc(n + 1);
  if (p == NULL)
    return NULL;
  if (n)
    memcpy(p, sl.ptr, n);
  p[n] = 0;
  return p;
}

static void send_fail(struct srv_ens *e, const struct ens_req *r, int32_t err);

/* Takes ownership of *r (freed on failure too). */
static void queue_push(struct srv_ens *e, struct ens_req *r) {
  if (e->role != ZAB_ROLE_LEADING || !e->serving ||
      e->q_len == ENS_MAX_QUEUE) {
    send_fail(e, r, PROTO_CONNECTIONLOSS);
    req_free(r);
    return;
  }
  e->queue[(e->q_head + e->q_len) % ENS_MAX_QUEUE] = *r;
  e->q_len++;
  ens_step(e, NULL); /* prep and propose it unless a step is running */
}

static void on_fwd(struct srv_ens *e, uint32_t from, const uint8_t *b,
                   size_t n, struct ens_tcp *t) {
  struct proto_reader rd;
  proto_reader_init(&rd, b, n, ENS_MAX_FRAME);
  struct ens_req r;
  memset(&r, 0, sizeof r);
  r.origin = from;
  r.kind = proto_read_int(&rd);
  r.session = proto_read_long(&rd);
  r.cxid = proto_read_int(&rd);
  r.timeout_ms = proto_read_int(&rd);
  int32_t nids = proto_read_int(&rd);
  if (proto_reader_err(&rd) != PROTO_OK || nids < 0 ||
      nids > SRV_MAX_IDENTITIES || r.kind < 0 || r.kind > ENS_REQ_CLOSE) {
    tcp_drop(t, "malformed FWD frame");
    return;
  }
  r.ids = calloc((size_t)nids + 1, sizeof *r.ids);
  bool oom = r.ids == NULL;
  for (int32_t i = 0; !oom && i < nids; i++) {
    struct proto_slice sc = proto_read_buffer(&rd);
    struct proto_slice id = proto_read_buffer(&rd);
    if (proto_reader_err(&rd) != PROTO_OK)
      break;
    r.ids[i].scheme = slice_dup(sc);
    r.ids[i].id = slice_dup(id);
    r.n_ids++;
    oom = r.ids[i].scheme == NULL || r.ids[i].id == NULL;
  }
  struct proto_slice pl = proto_read_buffer(&rd);
  if (!oom && proto_reader_err(&rd) == PROTO_OK && pl.len > 0) {
    r.payload = malloc((size_t)pl.len);
    oom = r.payload == NULL;
    if (!oom) {
      memcpy(r.payload, pl.ptr, (size_t)pl.len);
      r.len = (size_t)pl.len;
    }
  }
  if (proto_reader_err(&rd) != PROTO_OK || proto_reader_remaining(&rd) != 0) {
    req_free(&r);
    tcp_drop(t, "malformed FWD frame");
    return;
  }
  if (oom) {
    send_fail(e, &r, PROTO_SYSTEMERROR);
    req_free(&r);
    return;
  }
  queue_push(e, &r);
}

static void conn_fail(struct srv *s, int64_t session, int32_t kind,
                      int32_t cxid, int32_t err);

static void on_fail(struct srv_ens *e, const uint8_t *b, size_t n,
                    struct ens_tcp *t) {
  struct proto_reader rd;
  proto_reader_init(&rd, b, n, 0);
  int32_t kind = proto_read_int(&rd);
  int64_t session = proto_read_long(&rd);
  int32_t cxid = proto_read_int(&rd);
  int32_t err = proto_read_int(&rd);
  if (proto_reader_err(&rd) != PROTO_OK) {
    tcp_drop(t, "malformed FAIL frame");
    return;
  }
  conn_fail(e->s, session, kind, cxid, err);
}

static void on_touch(struct srv_ens *e, const uint8_t *b, size_t n,
                     struct ens_tcp *t) {
  if (n % 8 != 0) {
    tcp_drop(t, "malformed TOUCH frame");
    return;
  }
  if (e->role != ZAB_ROLE_LEADING)
    return;
  for (size_t i = 0; i < n; i += 8) {
    int64_t id = (int64_t)((uint64_t)get32(b + i) << 32 | get32(b + i + 4));
    struct srv_session *sess = srv_session_get(e->s, id);
    if (sess != NULL)
      srv_session_touch(e->s, sess);
  }
}

static void sync_check(struct srv_ens *e);

static void on_sync(struct srv_ens *e, uint32_t from, const uint8_t *b,
                    size_t n, struct ens_tcp *t) {
  if (n != 8) {
    tcp_drop(t, "malformed SYNC frame");
    return;
  }
  /* Not (or no longer) the serving leader: no answer; the follower drops
   * its clients when it learns who leads. */
  if (e->role != ZAB_ROLE_LEADING || !e->serving)
    return;
  if (e->n_fsyncs == e->cap_fsyncs) {
    size_t nc = e->cap_fsyncs ? 2 * e->cap_fsyncs : 16;
    struct ens_fsync *v = realloc(e->fsyncs, nc * sizeof *v);
    if (v == NULL)
      return; /* the follower's client times out and retries */
    e->fsyncs = v;
    e->cap_fsyncs = nc;
  }
  struct ens_fsync *f = &e->fsyncs[e->n_fsyncs++];
  f->from = from;
  memcpy(f->cid, b, 8);
  f->round = e->confirm_issued + 1;
  e->confirm_wanted = true;
  ens_step(e, NULL);
}

/* Leader: rounds up to e->confirm_done are confirmed; answer the syncs
 * that waited for them, local and forwarded. */
static void confirmed(struct srv_ens *e) {
  struct zab_status st;
  zab_status_get(e->zab, &st);
  size_t k = 0;
  for (size_t i = 0; i < e->n_fsyncs; i++) {
    struct ens_fsync *f = &e->fsyncs[i];
    if (f->round > e->confirm_done) {
      e->fsyncs[k++] = *f;
      continue;
    }
    uint8_t out[16];
    memcpy(out, f->cid, 8); /* the follower's connection id, echoed */
    put32(out + 8, (uint32_t)(st.commit_zxid >> 32));
    put32(out + 12, (uint32_t)st.commit_zxid);
    struct ens_peer *p = peer_of(e, f->from);
    if (p != NULL)
      peer_send(p, ENS_K_SYNCED, out, sizeof out);
  }
  e->n_fsyncs = k;
  sync_check(e); /* our own clients' syncs */
}

static void on_synced(struct srv_ens *e, const uint8_t *b, size_t n,
                      struct ens_tcp *t) {
  if (n != 16) {
    tcp_drop(t, "malformed SYNCED frame");
    return;
  }
  uint64_t cid = (uint64_t)get32(b) << 32 | get32(b + 4);
  int64_t z = (int64_t)((uint64_t)get32(b + 8) << 32 | get32(b + 12));
  struct srv_conn *c = srv_map_get(&e->s->conn_by_id, cid);
  if (c == NULL || c->ens_wait != SRV_ENS_WAIT_SYNC || c->ens_sync_zxid >= 0)
    return;
  c->ens_sync_zxid = z;
  sync_check(e);
}

/* Incoming link: HELLO first, then frames. */
static void in_frames(struct ens_tcp *t) {
  struct srv_ens *e = t->e;
  size_t pos = 0;
  while (!t->closing) {
    size_t avail = t->in_len - pos;
    if (avail < 4)
      break;
    uint32_t n = get32(t->in + pos);
    if (n < 1 || n > ENS_MAX_FRAME) {
      tcp_drop(t, "frame length out of range");
      return;
    }
    if (avail - 4 < n)
      break;
    const uint8_t *b = t->in + pos + 5;
    uint8_t kind = t->in[pos + 4];
    size_t len = n - 1;
    pos += 4 + n;
    if (t->from == 0) {
      uint32_t id = len == 12 ? get32(b + 8) : 0;
      if (kind != ENS_K_HELLO || len != 12 || get32(b) != ENS_MAGIC ||
          get32(b + 4) != ENS_VERSION) {
        char r[128];
        snprintf(r, sizeof r,
                 "no valid HELLO (not a Roost peer, or peer protocol version "
                 "%u where this server speaks %u)",
                 len == 12 && get32(b) == ENS_MAGIC ? get32(b + 4) : 0,
                 ENS_VERSION);
        tcp_drop(t, r);
        return;
      }
      if (id == e->my_id || peer_of(e, id) == NULL) {
        char r[96];
        snprintf(r, sizeof r, "HELLO from unknown server id %u", id);
        tcp_drop(t, r);
        return;
      }
      t->from = id;
      srv_log(e->s, SRV_LOG_INFO, "link from server %u up", id);
      redial_now(peer_of(e, id));
      continue;
    }
    switch (kind) {
    case ENS_K_ZAB:
      on_zab_frame(e, t->from, b, len, t);
      break;
    case ENS_K_FWD:
      on_fwd(e, t->from, b, len, t);
      break;
    case ENS_K_FAIL:
      on_fail(e, b, len, t);
      break;
    case ENS_K_TOUCH:
      on_touch(e, b, len, t);
      break;
    case ENS_K_SYNC:
      on_sync(e, t->from, b, len, t);
      break;
    case ENS_K_SYNCED:
      on_synced(e, b, len, t);
      break;
    default:
      tcp_drop(t, "unknown frame kind");
      return;
    }
  }
  if (t->closing)
    return;
  if (pos > 0) {
    memmove(t->in, t->in + pos, t->in_len - pos);
    t->in_len -= pos;
  }
}

static void on_in_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  struct ens_tcp *t = st->data;
  (void)buf;
  if (n < 0) {
    tcp_drop(t, n == UV_EOF ? NULL : uv_strerror((int)n));
    return;
  }
  if (n == 0)
    return;
  const char *why;
  if (t->tls == NULL)
    t->in_len += (size_t)n;
  else if (srv_tls_link_input(t->tls, buf->base, (size_t)n, &t->in,
                              &t->in_len, &t->in_cap, &why) != 0) {
    tcp_drop(t, why);
    return;
  } else
    link_flush(t); /* TLS handshake records */
  in_frames(t);
  srv_flush_all(t->e->s);
}

static void on_peer_connection(uv_stream_t *l, int status) {
  struct srv_ens *e = l->data;
  if (status < 0)
    return;
  struct ens_tcp *t = calloc(1, sizeof *t);
  if (t == NULL)
    return;
  t->e = e;
  uv_tcp_init(&e->s->loop, &t->h);
  t->h.data = t;
  if (uv_accept(l, (uv_stream_t *)&t->h) != 0 ||
      srv_tls_link_new(e->s, NULL, &t->tls) != 0) {
    uv_close((uv_handle_t *)&t->h, on_tcp_closed);
    return;
  }
  t->next = e->incoming;
  if (e->incoming)
    e->incoming->prev = t;
  e->incoming = t;
  uv_read_start((uv_stream_t *)&t->h, on_alloc, on_in_read);
}

/* ------------------------------------------------------------------ */
/* persistence of the ensemble */

static int write_file_durably(const char *dir, const char *name,
                              const void *buf, size_t len) {
  char path[SRV_PATH_MAX + 64], tmp[SRV_PATH_MAX + 72];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -errno;
  int rc = 0;
  if (write(fd, buf, len) != (ssize_t)len || fsync(fd) < 0)
    rc = -errno;
  close(fd);
  if (rc == 0 && rename(tmp, path) < 0)
    rc = -errno;
  if (rc != 0) {
    unlink(tmp);
    return rc;
  }
  snap_io_posix()->fsync_dir(NULL, dir);
  return 0;
}

static void persist_epochs(struct srv_ens *e, uint32_t acc, uint32_t cur) {
  char b[64];
  int n = snprintf(b, sizeof b, "%u %u\n", acc, cur);
  int rc = write_file_durably(e->s->cfg.data_dir, "epochs", b, (size_t)n);
  if (rc != 0) {
    /* zab's contract says durable before the next action: we cannot go
     * on without breaking a promise made to the leader. */
    srv_log(e->s, SRV_LOG_ERROR, "cannot persist epochs: %s; stopping",
            strerror(-rc));
    abort();
  }
}

/* Reads a small text file into buf (NUL-terminated).  Returns the bytes
 * read, or -1 with errno. */
static ssize_t read_small(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, buf, size - 1);
  int saved = errno;
  close(fd);
  errno = saved;
  if (n >= 0)
    buf[n] = 0;
  return n;
}

/* "accepted current\n"; a missing file is a fresh server (0 0). */
static int read_epochs(const struct srv *s, uint32_t *acc, uint32_t *cur) {
  char path[SRV_PATH_MAX + 16], b[64];
  snprintf(path, sizeof path, "%s/epochs", s->cfg.data_dir);
  *acc = *cur = 0;
  if (read_small(path, b, sizeof b) < 0)
    return errno == ENOENT ? 0 : -1;
  char *end;
  errno = 0;
  unsigned long a = strtoul(b, &end, 10);
  unsigned long c = strtoul(end, &end, 10);
  if (errno != 0 || a > UINT32_MAX || c > a)
    return -1;
  *acc = (uint32_t)a;
  *cur = (uint32_t)c;
  return 0;
}

static bool pend_add(struct srv_ens *e, uint64_t zxid, const uint8_t *d,
                     uint32_t len) {
  if (e->n_pend == e->cap_pend) {
    size_t nc = e->cap_pend ? e->cap_pend * 2 : 64;
    struct ens_entry *n = realloc(e->pend, nc * sizeof *n);
    if (n == NULL)
      return false;
    e->pend = n;
    e->cap_pend = nc;
  }
  uint8_t *c = malloc(len ? len : 1);
  if (c == NULL)
    return false;
  memcpy(c, d, len);
  struct ens_entry *x = &e->pend[e->n_pend++];
  x->zxid = zxid;
  x->data = c;
  x->len = len;
  e->pend_bytes += len;
  return true;
}

/* Forget pending entries with zxid <= upto (committed) or > above
 * (truncated). */
static void pend_drop_upto(struct srv_ens *e, uint64_t upto) {
  size_t k = 0;
  while (k < e->n_pend && e->pend[k].zxid <= upto) {
    e->pend_bytes -= e->pend[k].len;
    free(e->pend[k++].data);
  }
  if (k == 0)
    return; /* also keeps memmove away from a never-allocated (NULL) pend */
  memmove(e->pend, e->pend + k, (e->n_pend - k) * sizeof *e->pend);
  e->n_pend -= k;
}

static void pend_drop_above(struct srv_ens *e, uint64_t above) {
  while (e->n_pend > 0 && e->pend[e->n_pend - 1].zxid > above) {
    e->n_pend--;
    e->pend_bytes -= e->pend[e->n_pend].len;
    free(e->pend[e->n_pend].data);
  }
}

static void log_dir_clear(struct srv *s) {
  const char *dir = s->cfg.data_log_dir[0] ? s->cfg.data_log_dir
                                           : s->cfg.data_dir;
  DIR *d = opendir(dir);
  if (d == NULL)
    return;
  struct dirent *de;
  char p[SRV_PATH_MAX + 300];
  while ((de = readdir(d)) != NULL) {
    enum snap_file_kind k;
    int64_t z;
    if (snap_name_parse(de->d_name, &k, &z) && k == SNAP_FILE_LOG) {
      snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
      unlink(p);
    }
  }
  closedir(d);
  snap_io_posix()->fsync_dir(NULL, dir);
}

/* After TRUNCATE / INSTALL_SNAP: the applied tree goes to a snapshot, the
 * log is emptied and what is still pending (appended, not committed,
 * kept) is logged again; all durably before the next action. */
static void rebase_log(struct srv_ens *e) {
  struct srv *s = e->s;
  char err[SNAP_ERRMSG_MAX];
  if (s->snap_pid) {
    int st;
    while (waitpid(s->snap_pid, &st, 0) < 0 && errno == EINTR)
      ;
    s->snap_pid = 0;
  }
  if (snap_write(s->cfg.data_dir, NULL, s->tree, -1, NULL, err, sizeof err) !=
      SNAP_OK) {
    srv_log(s, SRV_LOG_ERROR, "snapshot for a resync failed: %s; stopping",
            err);
    abort();
  }
  /* A sync in flight on the pool holds a token of the old log: that log
   * is closed when the sync comes back (persist.c sync_done). */
  if (!s->sync_running)
    txlog_close(s->log);
  s->log = NULL;
  s->log_failed = false;
  log_dir_clear(s);
  if (srv_persist_reopen_log(s) != 0) {
    srv_log(s, SRV_LOG_ERROR, "cannot reopen the log; stopping");
    abort();
  }
  for (size_t i = 0; i < e->n_pend; i++) {
    struct txlog_txn t = {e->pend[i].data, e->pend[i].len};
    if (txlog_append(s->log, &t, 1, err, sizeof err) != SNAP_OK) {
      srv_log(s, SRV_LOG_ERROR, "re-logging after a resync failed: %s", err);
      abort();
    }
  }
  int64_t d = 0;
  if (txlog_sync(s->log, &d, err, sizeof err) != SNAP_OK) {
    srv_log(s, SRV_LOG_ERROR, "sync after a resync failed: %s", err);
    abort();
  }
  s->durable_zxid = e->n_pend ? (int64_t)e->pend[e->n_pend - 1].zxid
                              : tree_last_zxid(s->tree);
  if (e->n_pend && s->durable_zxid > e->durable_pending)
    e->durable_pending = s->durable_zxid; /* told to zab after this drain */
  s->snap_roll_zxid = tree_last_zxid(s->tree);
}

static bool ser_cb(void *arg, const void *buf, size_t len) {
  struct proto_writer *w = arg;
  proto_write_raw(w, buf, len);
  return proto_writer_err(w) == PROTO_OK;
}

struct rbuf {
  const uint8_t *p;
  size_t len, pos;
};

static long rd_cb(void *arg, void *buf, size_t cap) {
  struct rbuf *r = arg;
  size_t n = r->len - r->pos;
  if (n > cap)
    n = cap;
  memcpy(buf, r->p + r->pos, n);
  r->pos += n;
  return (long)n;
}

static void sessions_reload(struct srv *s);

static void install_snap(struct srv_ens *e, uint64_t zxid, const uint8_t *d,
                         uint32_t len) {
  struct srv *s = e->s;
  struct tree_config tc = {.extended_types = s->cfg.extended_types,
                           .x509_acls = s->cfg.secure_client_port >= 0};
  struct rbuf r = {d, len, 0};
  int err = 0;
  char msg[256];
  struct tree *t = tree_load(&tc, rd_cb, &r, &err, msg, sizeof msg);
  if (t == NULL) {
    srv_log(s, SRV_LOG_ERROR, "SNAP from the leader does not load: %s", msg);
    abort(); /* zab checked it came from the leader; nothing to go on with */
  }
  /* Client connections are closed while not serving, so no watch or
   * session state of a connection points into the old tree. */
  srv_conns_close_all_clients(s);
  tree_free(s->tree);
  s->tree = t;
  tree_pending_clear(e->tpend); /* (empty: only a leader has records) */
  pend_drop_upto(e, UINT64_MAX);
  rebase_log(e);
  sessions_reload(s);
  srv_log(s, SRV_LOG_INFO, "installed SNAP at zxid 0x%" PRIx64, zxid);
}

/* The sessions table follows the tree (after a SNAP). */
static void sess_add_cb(void *arg, int64_t id, int32_t timeout_ms) {
  struct srv *s = arg;
  if (srv_session_get(s, id) == NULL)
    srv_session_add(s, id, timeout_ms);
}

static void sessions_reload(struct srv *s) {
  srv_sessions_free(s);
  srv_sessions_init(s);
  tree_sessions_each(s->tree, sess_add_cb, s);
}

/* ------------------------------------------------------------------ */
/* commit path */

static void sync_check(struct srv_ens *e) {
  struct srv *s = e->s;
  if (e->n_sync_waiting == 0)
    return;
  int64_t applied = tree_last_zxid(s->tree);
  for (struct srv_conn *c = s->conns; c != NULL; c = c->next) {
    if (c->ens_wait != SRV_ENS_WAIT_SYNC)
      continue;
    /* On the leader: its round confirmed, everything committed is
     * applied here. */
    if (c->ens_sync_round != 0 && c->ens_sync_round <= e->confirm_done)
      c->ens_sync_zxid = 0;
    if (c->ens_sync_zxid < 0 || c->ens_sync_zxid > applied)
      continue;
    e->n_sync_waiting--;
    srv_reply_sync(c);
  }
}

static void commit(struct srv_ens *e, uint64_t zxid, const uint8_t *d,
                   uint32_t len) {
  struct srv *s = e->s;
  struct tree_txn_header h;
  if (tree_txn_header_decode(d, len, &h) != PROTO_OK) {
    srv_log(s, SRV_LOG_ERROR, "committed txn 0x%" PRIx64 " does not decode",
            zxid);
    abort();
  }
  tree_out_reset(&s->tout);
  int rc = tree_apply(s->tree, d, len, &s->tout);
  if (rc != PROTO_OK) {
    srv_log(s, SRV_LOG_ERROR,
            "committed txn 0x%" PRIx64 " does not apply (%s): stopping so "
            "that this replica cannot diverge",
            zxid, proto_strerror(rc));
    abort();
  }
  pend_drop_upto(e, zxid);
  tree_pending_applied(e->tpend, (int64_t)zxid);
  srv_txn_logged(s); /* snapshot cadence */
  if (h.type == PROTO_OP_CREATESESSION) {
    struct srv_session *sess = srv_session_get(s, h.session_id);
    if (sess == NULL)
      sess = srv_session_add(s, h.session_id,
                             tree_session_timeout(s->tree, h.session_id));
    void *v = srv_map_get(&e->connecting, (uint64_t)h.session_id);
    if (v != NULL) {
      srv_map_del(&e->connecting, (uint64_t)h.session_id);
      struct srv_conn *c = srv_map_get(&s->conn_by_id, (uint64_t)(uintptr_t)v);
      if (c != NULL && sess != NULL && c->ens_wait == SRV_ENS_WAIT_CONNECT &&
          c->ens_wait_id == h.session_id)
        srv_connect_done(c, sess, (int64_t)zxid);
    }
  } else if (h.type == PROTO_OP_CLOSESESSION) {
    struct srv_session *sess = srv_session_get(s, h.session_id);
    struct srv_conn *c = sess != NULL ? sess->conn : NULL;
    if (sess != NULL)
      srv_session_remove(s, sess);
    if (c != NULL && c->ens_wait == SRV_ENS_WAIT_CLOSE &&
        c->ens_wait_id == h.cxid) {
      srv_deliver_events(s, &s->tout, -1);
      srv_reply_write(c, &h, &s->tout, (int64_t)zxid);
      srv_conn_close(c, true, SRV_LOG_INFO, "client closed session 0x%" PRIx64,
                     (uint64_t)h.session_id);
      return;
    }
    if (c != NULL)
      srv_conn_close(c, false, SRV_LOG_INFO, "session 0x%" PRIx64 " expired",
                     (uint64_t)h.session_id);
  }
  srv_deliver_events(s, &s->tout, -1);
  if (h.type != PROTO_OP_CREATESESSION && h.type != PROTO_OP_CLOSESESSION) {
    struct srv_session *sess = srv_session_get(s, h.session_id);
    struct srv_conn *c = sess != NULL ? sess->conn : NULL;
    if (c != NULL && c->ens_wait == SRV_ENS_WAIT_WRITE &&
        c->ens_wait_id == h.cxid)
      srv_reply_write(c, &h, &s->tout, (int64_t)zxid);
  }
  sync_check(e);
}

/* ------------------------------------------------------------------ */
/* zab driver */

static void send_zab(struct srv_ens *e, uint32_t to, const struct zab_msg *m) {
  struct ens_peer *p = peer_of(e, to);
  if (p == NULL)
    return;
  proto_writer_reset(&e->w);
  if (zab_msg_encode(m, &e->w) != ZAB_OK ||
      proto_writer_err(&e->w) != PROTO_OK)
    return;
  peer_send(p, ENS_K_ZAB, e->w.buf, e->w.len);
}

static void set_role(struct srv_ens *e, const struct zab_action *a) {
  struct srv *s = e->s;
  bool was_serving = e->serving;
  bool was_leader = e->role == ZAB_ROLE_LEADING;
  /* Pending records describe proposals of one serving leadership. */
  bool same_leadership = was_leader && was_serving &&
                         a->role == ZAB_ROLE_LEADING && a->serving &&
                         a->epoch == e->epoch;
  e->role = a->role;
  e->leader = a->leader;
  e->epoch = a->epoch;
  e->serving = a->serving;
  srv_log(s, SRV_LOG_INFO, "role %s, leader %u, epoch %u, %s",
          zab_role_name(a->role), a->leader, a->epoch,
          a->serving ? "serving" : "not serving");
  if (was_serving && (!a->serving || (was_leader && a->role != ZAB_ROLE_LEADING)))
    srv_conns_close_all_clients(s);
  if (!a->serving || a->role != ZAB_ROLE_LEADING) {
    while (e->q_len > 0) {
      struct ens_req *r = &e->queue[e->q_head];
      send_fail(e, r, PROTO_CONNECTIONLOSS);
      req_free(r);
      e->q_head = (e->q_head + 1) % ENS_MAX_QUEUE;
      e->q_len--;
    }
  }
  if (!same_leadership) {
    /* Confirmation rounds belong to one leadership; syncs still waiting
     * lose their connection (clients) or get no answer (followers). */
    e->confirm_issued = e->confirm_done = 0;
    e->confirm_wanted = false;
    e->n_fsyncs = 0;
    tree_pending_clear(e->tpend);
    e->last_proposed = 0;
    e->tpend_stale = false;
  }
  if (a->serving && a->role == ZAB_ROLE_LEADING && !was_serving)
    srv_sessions_touch_all(s); /* deadlines start now, on the new leader */
}

static void perform(struct srv_ens *e, const struct zab_action *a) {
  struct srv *s = e->s;
  char err[SNAP_ERRMSG_MAX];
  switch (a->type) {
  case ZAB_ACT_SEND:
    send_zab(e, a->peer, &a->msg);
    break;
  case ZAB_ACT_SEND_SNAP: {
    struct proto_writer w;
    proto_writer_init(&w);
    if (tree_serialize(s->tree, ser_cb, &w) == PROTO_OK &&
        w.len <= ENS_MAX_FRAME - 1024) {
      struct zab_msg m = a->msg;
      m.data = w.buf;
      m.len = (uint32_t)w.len;
      send_zab(e, a->peer, &m);
    } else {
      srv_log(s, SRV_LOG_ERROR, "cannot serialise a SNAP for server %u",
              a->peer);
    }
    proto_writer_free(&w);
    break;
  }
  case ZAB_ACT_APPEND: {
    struct txlog_txn t = {a->data, a->len};
    if (!pend_add(e, a->zxid, a->data, a->len)) {
      srv_log(s, SRV_LOG_ERROR, "out of memory keeping txn 0x%" PRIx64,
              a->zxid);
      abort();
    }
    /* Staged: the turn's appends go out as one frame and one write when
     * the sync that srv_persist_kick starts flushes them. */
    if (s->log_failed ||
        txlog_stage(s->log, &t, err, sizeof err) != SNAP_OK) {
      /* Never reported durable: zab never ACKs it; as a leader it will
       * lose its quorum and step down. */
      srv_log(s, SRV_LOG_ERROR, "log append of 0x%" PRIx64 " failed: %s",
              a->zxid, s->log_failed ? "log failed" : err);
      break;
    }
    srv_persist_kick(s);
    break;
  }
  case ZAB_ACT_TRUNCATE:
    pend_drop_above(e, a->zxid);
    srv_log(s, SRV_LOG_INFO, "truncating the log after 0x%" PRIx64, a->zxid);
    rebase_log(e);
    break;
  case ZAB_ACT_INSTALL_SNAP:
    install_snap(e, a->zxid, a->data, a->len);
    break;
  case ZAB_ACT_PERSIST_EPOCH:
    persist_epochs(e, a->accepted_epoch, a->current_epoch);
    break;
  case ZAB_ACT_COMMIT:
    commit(e, a->zxid, a->data, a->len);
    break;
  case ZAB_ACT_ROLE:
    set_role(e, a);
    break;
  case ZAB_ACT_CONFIRMED:
    if (a->zxid > e->confirm_done) {
      e->confirm_done = a->zxid;
      confirmed(e);
    }
    break;
  }
}

static void on_timer(uv_timer_t *h);

static void arm_timer(struct srv_ens *e) {
  if (e->stopping || !e->timer_open)
    return;
  uint64_t at = zab_next_timeout_ms(e->zab), now = now_ms(e);
  if (at == UINT64_MAX)
    return;
  uv_timer_start(&e->timer, on_timer, at > now ? at - now : 0, 0);
}

static void drain(struct srv_ens *e) {
  struct zab_action a;
  while (zab_action_next(e->zab, &a))
    perform(e, &a);
}

/* The only place zab is stepped.  ev may be NULL: just do the pending
 * work.  Events that arise while actions are performed (an inline fsync's
 * DURABLE, a link that broke during a send, requests queued by a commit)
 * are recorded and handled by the loop here, after the current drain, so
 * that nothing steps zab from inside one of its actions. */
static void ens_step(struct srv_ens *e, const struct zab_event *ev) {
  if (e->zab == NULL)
    return;
  if (e->in_step) {
    if (ev != NULL && ev->type == ZAB_EV_DURABLE &&
        (int64_t)ev->durable.zxid > e->durable_pending)
      e->durable_pending = (int64_t)ev->durable.zxid;
    return;
  }
  e->in_step = true;
  struct zab_event cur;
  bool have = ev != NULL;
  if (have)
    cur = *ev;
  for (;;) {
    if (have) {
      cur.now_ms = now_ms(e);
      if (zab_step(e->zab, &cur) == ZAB_ENOMEM) {
        srv_log(e->s, SRV_LOG_ERROR, "zab out of memory; stopping");
        abort();
      }
      drain(e);
    }
    have = true;
    if (e->durable_pending >= 0) {
      cur = (struct zab_event){
          .type = ZAB_EV_DURABLE,
          .durable = {.zxid = (uint64_t)e->durable_pending}};
      e->durable_pending = -1;
      continue;
    }
    if (e->confirm_wanted) {
      e->confirm_wanted = false;
      if (e->role == ZAB_ROLE_LEADING && e->serving) {
        cur = (struct zab_event){.type = ZAB_EV_CONFIRM,
                                 .confirm = {.round_out = &e->confirm_issued}};
        continue;
      }
    }
    if (e->down_mask != 0) {
      size_t i = (size_t)__builtin_ctzll(e->down_mask);
      e->down_mask &= e->down_mask - 1;
      cur = (struct zab_event){.type = ZAB_EV_PEER_DOWN,
                               .peer = {.id = e->peers[i].id}};
      continue;
    }
    if (pump_one(e)) {
      have = false;
      continue;
    }
    break;
  }
  e->in_step = false;
  arm_timer(e);
}

static void send_touches(struct srv_ens *e) {
  if (e->touched.n == 0)
    return;
  struct ens_peer *p = peer_of(e, e->leader);
  if (p != NULL && e->role != ZAB_ROLE_LEADING) {
    uint8_t *b = malloc((size_t)8 * ENS_MAX_TOUCH);
    if (b != NULL) {
      size_t i = 0, n = 0;
      uint64_t k;
      void *v;
      while (srv_map_next(&e->touched, &i, &k, &v)) {
        put32(b + 8 * n, (uint32_t)(k >> 32));
        put32(b + 8 * n + 4, (uint32_t)k);
        if (++n == ENS_MAX_TOUCH) {
          peer_send(p, ENS_K_TOUCH, b, (size_t)8 * n);
          n = 0;
        }
      }
      if (n)
        peer_send(p, ENS_K_TOUCH, b, (size_t)8 * n);
      free(b);
    }
  }
  srv_map_free(&e->touched);
  srv_map_init(&e->touched);
}

static void on_timer(uv_timer_t *h) {
  struct srv_ens *e = h->data;
  struct zab_event ev = {.type = ZAB_EV_TICK};
  ens_step(e, &ev);
  srv_flush_all(e->s);
}

/* ------------------------------------------------------------------ */
/* leader: prep and propose (many in flight, see may_prep) */

static void send_fail(struct srv_ens *e, const struct ens_req *r,
                      int32_t err) {
  e->n_fail++;
  if (r->origin == e->my_id) {
    conn_fail(e->s, r->session, r->kind, r->cxid, err);
    return;
  }
  struct ens_peer *p = peer_of(e, r->origin);
  if (p == NULL)
    return;
  uint8_t b[20];
  put32(b, (uint32_t)r->kind);
  put32(b + 4, (uint32_t)((uint64_t)r->session >> 32));
  put32(b + 8, (uint32_t)r->session);
  put32(b + 12, (uint32_t)r->cxid);
  put32(b + 16, (uint32_t)err);
  peer_send(p, ENS_K_FAIL, b, sizeof b);
}

/* Proposals of this leadership not applied here yet.  zab numbers them
 * with consecutive counters of the epoch (starting at 1), and commits
 * apply in zxid order. */
static uint64_t inflight(const struct srv_ens *e) {
  uint64_t applied = (uint64_t)tree_last_zxid(e->s->tree);
  if (e->last_proposed == 0 || applied >= e->last_proposed)
    return 0;
  uint64_t top = zab_zxid_counter(e->last_proposed);
  if (zab_zxid_epoch(applied) != zab_zxid_epoch(e->last_proposed))
    return top;
  return top - zab_zxid_counter(applied);
}

/* May the leader prep another request now?  Prep reads the tree plus the
 * pending records, which is right only when the tree holds every txn in
 * zab's log that is not one of ours in flight: after an election zab
 * commits the whole history before it reports serving, so this holds;
 * it is checked all the same, and prepping waits if it does not. */
static bool may_prep(struct srv_ens *e, const struct zab_status *st) {
  if (e->tpend_stale) {
    if (inflight(e) != 0)
      return false;
    tree_pending_clear(e->tpend);
    e->tpend_stale = false;
    e->last_proposed = 0;
  }
  uint64_t top = e->last_proposed != 0 ? e->last_proposed
                                       : (uint64_t)tree_last_zxid(e->s->tree);
  return st->last_zxid == top && inflight(e) < ENS_MAX_INFLIGHT &&
         e->pend_bytes < ENS_MAX_INFLIGHT_BYTES;
}

/* The txn of request r at header h into s->txn, through the pending
 * records.  PROTO_OK or the error to send back. */
static int prep_req(struct srv_ens *e, const struct ens_req *r,
                    struct tree_txn_header *h) {
  struct srv *s = e->s;
  if (r->kind == ENS_REQ_CREATE) {
    /* The origin chose the password; it travels in the payload. */
    if (r->len != PROTO_PASSWD_LEN)
      return PROTO_MARSHALLINGERROR;
    h->type = PROTO_OP_CREATESESSION;
    return tree_prep_create_session(s->tree, e->tpend, h, r->timeout_ms,
                                    r->payload, &s->txn);
  }
  if (r->kind == ENS_REQ_CLOSE) {
    h->type = PROTO_OP_CLOSESESSION;
    return tree_prep_close_session(s->tree, e->tpend, h, &s->txn);
  }
  struct proto_request req;
  int rc;
  if (r->kind == ENS_REQ_REAP) {
    memset(&req, 0, sizeof req);
    req.hdr.type = PROTO_OP_DELETECONTAINER;
    req.u.path.path.ptr = r->payload;
    req.u.path.path.len = (int32_t)r->len;
    rc = PROTO_OK;
  } else {
    rc = proto_request_decode(r->payload, r->len,
                              2 * (size_t)s->cfg.jute_max_buffer, &req);
  }
  if (rc != PROTO_OK)
    return rc;
  struct tree_prep_ctx ctx = {
      .session_id = h->session_id,
      .cxid = h->cxid,
      .zxid = h->zxid,
      .time_ms = h->time_ms,
      .auth = {.ids = r->ids, .n_ids = r->n_ids},
  };
  return tree_prep_pending(s->tree, e->tpend, &ctx, &req, &s->txn);
}

/* Leader: prep the next queued request against the tree plus the pending
 * records and propose it, without waiting for earlier proposals to
 * commit.  Runs inside ens_step.  Returns true when it took a request. */
static bool pump_one(struct srv_ens *e) {
  struct srv *s = e->s;
  if (e->role != ZAB_ROLE_LEADING || !e->serving || e->q_len == 0)
    return false;
  struct zab_status st;
  zab_status_get(e->zab, &st);
  if (!may_prep(e, &st))
    return false;
  struct ens_req r = e->queue[e->q_head];
  e->q_head = (e->q_head + 1) % ENS_MAX_QUEUE;
  e->q_len--;
  uint64_t zxid = zab_zxid_epoch(st.last_zxid) == st.epoch
                      ? st.last_zxid + 1
                      : zab_zxid(st.epoch, 1);
  proto_writer_reset(&s->txn);
  struct tree_txn_header h = {.session_id = r.session,
                              .cxid = r.cxid,
                              .zxid = (int64_t)zxid,
                              .time_ms = srv_wall_ms()};
  int rc = prep_req(e, &r, &h);
  if (rc == PROTO_OK && proto_writer_err(&s->txn) != PROTO_OK) {
    rc = PROTO_SYSTEMERROR;
    e->tpend_stale = true; /* recorded, but it will not be proposed */
  }
  if (rc == PROTO_OK) {
    uint64_t got = 0;
    struct zab_event ev = {.type = ZAB_EV_PROPOSE,
                           .now_ms = now_ms(e),
                           .propose = {.data = s->txn.buf,
                                       .len = (uint32_t)s->txn.len,
                                       .zxid_out = &got}};
    int zr = zab_step(e->zab, &ev);
    if (zr == ZAB_OK && got != zxid) {
      srv_log(s, SRV_LOG_ERROR,
              "zab assigned 0x%" PRIx64 ", prepped for 0x%" PRIx64, got, zxid);
      abort();
    }
    if (zr == ZAB_OK) {
      e->proposed++;
      e->last_proposed = got;
    } else {
      e->tpend_stale = true;
    }
    drain(e);
    if (zr == ZAB_ENOMEM) {
      srv_log(s, SRV_LOG_ERROR, "zab out of memory; stopping");
      abort();
    }
    if (zr != ZAB_OK) {
      srv_log(s, SRV_LOG_WARN, "propose failed: %s", zab_strerror(zr));
      rc = PROTO_CONNECTIONLOSS;
    }
  }
  if (rc != PROTO_OK)
    send_fail(e, &r, rc == PROTO_UNIMPLEMENTED     ? PROTO_UNIMPLEMENTED
                     : rc == PROTO_CONNECTIONLOSS ? PROTO_CONNECTIONLOSS
                                                  : PROTO_SYSTEMERROR);
  req_free(&r);
  return true;
}

/* ------------------------------------------------------------------ */
/* client side: forward to the leader, or queue locally */

static bool conn_has_cxid(const struct srv_conn *c, int32_t cxid);

static void conn_fail(struct srv *s, int64_t session, int32_t kind,
                      int32_t cxid, int32_t err) {
  struct srv_ens *e = s->ens;
  struct srv_conn *c = NULL;
  if (kind == ENS_REQ_CREATE) {
    void *v = srv_map_get(&e->connecting, (uint64_t)session);
    if (v != NULL) {
      srv_map_del(&e->connecting, (uint64_t)session);
      c = srv_map_get(&s->conn_by_id, (uint64_t)(uintptr_t)v);
    }
    if (c != NULL)
      srv_conn_close(c, false, SRV_LOG_INFO,
                     "createSession not committed (leader lost)");
    return;
  }
  struct srv_session *sess = srv_session_get(s, session);
  c = sess != NULL ? sess->conn : NULL;
  if (c == NULL ||
      (c->ens_wait != SRV_ENS_WAIT_WRITE && c->ens_wait != SRV_ENS_WAIT_CLOSE))
    return;
  if (c->ens_wait_id != cxid) {
    /* A later write of c failed while earlier ones are still on their
     * way: answering now would answer out of order, so the client loses
     * the connection instead (and learns the outcome on reconnect). */
    if (c->ens_wait == SRV_ENS_WAIT_WRITE && conn_has_cxid(c, cxid))
      srv_conn_close(c, false, SRV_LOG_INFO,
                     "a pipelined write failed behind others in flight");
    return;
  }
  if (err == PROTO_CONNECTIONLOSS) {
    srv_conn_close(c, false, SRV_LOG_INFO,
                   "leader lost with a request in flight");
    return;
  }
  srv_reply_error(c, cxid, err);
}

static bool forward(struct srv_ens *e, const struct ens_req *r) {
  if (e->role == ZAB_ROLE_LEADING) {
    struct ens_req q = *r;
    /* queue_push takes ownership: copy what the caller owns */
    q.payload = NULL;
    q.ids = NULL;
    q.n_ids = 0;
    if (r->len) {
      q.payload = malloc(r->len);
      if (q.payload == NULL)
        return false;
      memcpy(q.payload, r->payload, r->len);
    }
    q.ids = calloc(r->n_ids + 1, sizeof *q.ids);
    if (q.ids == NULL) {
      free(q.payload);
      return false;
    }
    for (size_t i = 0; i < r->n_ids; i++) {
      q.ids[i].scheme = strdup(r->ids[i].scheme);
      q.ids[i].id = strdup(r->ids[i].id);
      q.n_ids++;
      if (q.ids[i].scheme == NULL || q.ids[i].id == NULL) {
        req_free(&q);
        return false;
      }
    }
    queue_push(e, &q);
    return true;
  }
  struct ens_peer *p = peer_of(e, e->leader);
  if (p == NULL || !p->up)
    return false;
  struct proto_writer *w = &e->w;
  proto_writer_reset(w);
  proto_write_int(w, r->kind);
  proto_write_long(w, r->session);
  proto_write_int(w, r->cxid);
  proto_write_int(w, r->timeout_ms);
  proto_write_int(w, (int32_t)r->n_ids);
  for (size_t i = 0; i < r->n_ids; i++) {
    proto_write_buffer(w, (const uint8_t *)r->ids[i].scheme,
                       (int32_t)strlen(r->ids[i].scheme));
    proto_write_buffer(w, (const uint8_t *)r->ids[i].id,
                       (int32_t)strlen(r->ids[i].id));
  }
  proto_write_buffer(w, r->payload, r->payload ? (int32_t)r->len : -1);
  if (proto_writer_err(w) != PROTO_OK)
    return false;
  e->forwarded++;
  return peer_send(p, ENS_K_FWD, w->buf, w->len);
}

static void conn_block(struct srv_conn *c, enum srv_ens_wait what,
                       int64_t id) {
  c->ens_wait = what;
  c->ens_wait_id = id;
  c->ens_sync_zxid = -1;
}

static bool conn_has_cxid(const struct srv_conn *c, int32_t cxid) {
  for (uint32_t i = 0; i < c->ens_cx_n; i++)
    if (c->ens_cxids[(c->ens_cx_head + i) % SRV_ENS_CONN_WRITES] == cxid)
      return true;
  return false;
}

/* Records a forwarded write of c; false when out of memory. */
static bool conn_push_write(struct srv_conn *c, int32_t xid) {
  if (c->ens_cxids == NULL) {
    c->ens_cxids = malloc(SRV_ENS_CONN_WRITES * sizeof *c->ens_cxids);
    if (c->ens_cxids == NULL)
      return false;
  }
  if (c->ens_wait != SRV_ENS_WAIT_WRITE) {
    c->ens_cx_head = 0;
    c->ens_cx_n = 0;
    conn_block(c, SRV_ENS_WAIT_WRITE, xid);
  }
  assert(c->ens_cx_n < SRV_ENS_CONN_WRITES);
  c->ens_cxids[(c->ens_cx_head + c->ens_cx_n) % SRV_ENS_CONN_WRITES] = xid;
  c->ens_cx_n++;
  return true;
}

bool srv_ens_more_writes_ok(const struct srv_conn *c) {
  return c->ens_wait == SRV_ENS_WAIT_WRITE && c->ens_cx_n < SRV_ENS_CONN_WRITES;
}

bool srv_ens_write_answered(struct srv_conn *c) {
  if (c->ens_cx_n > 0) {
    c->ens_cx_head = (c->ens_cx_head + 1) % SRV_ENS_CONN_WRITES;
    c->ens_cx_n--;
  }
  if (c->ens_cx_n == 0)
    return true;
  c->ens_wait_id = c->ens_cxids[c->ens_cx_head];
  return false;
}

/* New client connections too are taken only while healthy (see
 * refuse_unhealthy): a client whose write was refused must not be let
 * straight back in to be refused again, but try another member. */
bool srv_ens_serving(const struct srv *s) {
  if (s->ens == NULL)
    return true;
  struct zab_status st;
  zab_status_get(s->ens->zab, &st);
  return s->ens->serving && st.healthy;
}

/* Issue 14: a write is taken only by a member that can see it through --
 * a leader that heard a quorum lately, a follower whose leader both speaks
 * and hears it (zab_status.healthy).  Otherwise the connection is closed
 * before the request is accepted (ConnectionLoss, as ZooKeeper does), so
 * that the client moves on now instead of when the request fails. */
static bool refuse_unhealthy(struct srv_conn *c) {
  struct srv_ens *e = c->srv->ens;
  struct zab_status st;
  zab_status_get(e->zab, &st);
  if (st.healthy)
    return false;
  srv_conn_close(c, false, SRV_LOG_INFO,
                 "write refused: not a healthy %s (leader %u out of reach "
                 "or without a quorum)",
                 srv_ens_mode(c->srv), e->leader);
  return true;
}

void srv_ens_write(struct srv_conn *c, int32_t xid, const uint8_t *payload,
                   size_t len) {
  struct srv_ens *e = c->srv->ens;
  struct ens_req r = {.origin = e->my_id,
                      .kind = ENS_REQ_WRITE,
                      .session = c->session->id,
                      .cxid = xid,
                      .payload = (uint8_t *)payload,
                      .len = len,
                      .ids = c->ids,
                      .n_ids = c->n_ids};
  if (refuse_unhealthy(c))
    return;
  if (!conn_push_write(c, xid)) {
    srv_conn_close(c, false, SRV_LOG_WARN, "out of memory for a write");
    return;
  }
  if (!forward(e, &r))
    srv_conn_close(c, false, SRV_LOG_INFO, "no leader to forward a write to");
}

void srv_ens_close_session(struct srv_conn *c, int32_t xid) {
  struct srv_ens *e = c->srv->ens;
  struct ens_req r = {.origin = e->my_id,
                      .kind = ENS_REQ_CLOSE,
                      .session = c->session->id,
                      .cxid = xid};
  if (refuse_unhealthy(c))
    return;
  conn_block(c, SRV_ENS_WAIT_CLOSE, xid);
  if (!forward(e, &r))
    srv_conn_close(c, false, SRV_LOG_INFO, "no leader to close a session");
}

bool srv_ens_create_session(struct srv_conn *c, int64_t id,
                            int32_t timeout_ms) {
  struct srv_ens *e = c->srv->ens;
  struct zab_status st;
  zab_status_get(e->zab, &st);
  if (!st.healthy)
    return false; /* refused at once, as writes are (refuse_unhealthy) */
  if (srv_map_put(&e->connecting, (uint64_t)id, (void *)(uintptr_t)c->id) !=
      0)
    return false;
  uint8_t passwd[PROTO_PASSWD_LEN];
  srv_session_new_password(c->srv, id, passwd);
  struct ens_req r = {.origin = e->my_id,
                      .kind = ENS_REQ_CREATE,
                      .session = id,
                      .timeout_ms = timeout_ms,
                      .payload = passwd,
                      .len = sizeof passwd};
  conn_block(c, SRV_ENS_WAIT_CONNECT, id);
  if (!forward(e, &r)) {
    srv_map_del(&e->connecting, (uint64_t)id);
    return false;
  }
  return true;
}

void srv_ens_sync(struct srv_conn *c, int32_t xid) {
  struct srv_ens *e = c->srv->ens;
  conn_block(c, SRV_ENS_WAIT_SYNC, xid);
  e->n_sync_waiting++;
  c->ens_sync_round = 0;
  if (e->role == ZAB_ROLE_LEADING) {
    /* Everything committed is applied here already, but answer only once
     * a quorum confirmed (after now) that we still lead. */
    c->ens_sync_round = e->confirm_issued + 1;
    e->confirm_wanted = true;
    ens_step(e, NULL);
    return;
  }
#ifdef ROOST_TEST_HOOKS
  /* A planted bug for the linearizability run to catch (test builds only,
   * ROOST_TEST_PLANT=sync-local): a follower answers a sync from its own
   * state without asking the leader, so sync + read can be stale. */
  const char *plant = getenv("ROOST_TEST_PLANT");
  if (plant != NULL && strcmp(plant, "sync-local") == 0) {
    c->ens_sync_zxid = 0;
    sync_check(e);
    return;
  }
#endif
  struct ens_peer *p = peer_of(e, e->leader);
  uint8_t b[8];
  put32(b, (uint32_t)(c->id >> 32));
  put32(b + 4, (uint32_t)c->id);
  if (p == NULL || !peer_send(p, ENS_K_SYNC, b, sizeof b)) {
    e->n_sync_waiting--;
    srv_conn_close(c, false, SRV_LOG_INFO, "no leader to sync with");
  }
}

void srv_ens_conn_gone(struct srv_conn *c) {
  struct srv_ens *e = c->srv->ens;
  free(c->ens_cxids);
  c->ens_cxids = NULL;
  c->ens_cx_n = 0;
  if (e == NULL)
    return;
  if (c->ens_wait == SRV_ENS_WAIT_SYNC && e->n_sync_waiting > 0)
    e->n_sync_waiting--;
  if (c->ens_wait == SRV_ENS_WAIT_CONNECT)
    srv_map_del(&e->connecting, (uint64_t)c->ens_wait_id);
  c->ens_wait = SRV_ENS_WAIT_NONE;
}

void srv_ens_touch(struct srv *s, int64_t session_id) {
  struct srv_ens *e = s->ens;
  if (e != NULL && e->role != ZAB_ROLE_LEADING && session_id != 0)
    srv_map_put(&e->touched, (uint64_t)session_id, (void *)1);
}

bool srv_ens_expire(struct srv *s, struct srv_session *sess) {
  struct srv_ens *e = s->ens;
  /* Keep it out of the heap's head either way; a leader re-checks it
   * when the closeSession commits (it is removed then). */
  srv_session_touch(s, sess);
  if (e->role != ZAB_ROLE_LEADING || !e->serving || sess->closing)
    return true;
  sess->closing = true;
  srv_log(s, SRV_LOG_INFO, "session 0x%" PRIx64 " expired (timeout %" PRId32
          " ms): proposing closeSession",
          (uint64_t)sess->id, sess->timeout_ms);
  if (sess->conn != NULL)
    srv_conn_close(sess->conn, false, SRV_LOG_INFO,
                   "session 0x%" PRIx64 " expired", (uint64_t)sess->id);
  struct ens_req r = {.origin = e->my_id,
                      .kind = ENS_REQ_CLOSE,
                      .session = sess->id,
                      .cxid = 0};
  forward(e, &r);
  return true;
}

void srv_ens_reap(struct srv *s, const char *path, size_t len) {
  struct srv_ens *e = s->ens;
  if (e->role != ZAB_ROLE_LEADING || !e->serving)
    return;
  struct ens_req r = {.origin = e->my_id, .kind = ENS_REQ_REAP};
  r.payload = malloc(len ? len : 1);
  if (r.payload == NULL)
    return;
  memcpy(r.payload, path, len);
  r.len = len;
  srv_log(s, SRV_LOG_DEBUG, "proposing deleteContainer of %.*s", (int)len,
          path);
  queue_push(e, &r);
}

void srv_ens_tick(struct srv *s) {
  if (s->ens != NULL)
    send_touches(s->ens);
}

void srv_ens_durable(struct srv *s, int64_t zxid) {
  if (s->ens == NULL)
    return;
  struct zab_event ev = {.type = ZAB_EV_DURABLE,
                         .durable = {.zxid = (uint64_t)zxid}};
  ens_step(s->ens, &ev);
}

/* ------------------------------------------------------------------ */
/* four-letter words */

const char *srv_ens_mode(const struct srv *s) {
  if (s->ens == NULL)
    return "standalone";
  switch (s->ens->role) {
  case ZAB_ROLE_LEADING:
    return "leader";
  case ZAB_ROLE_FOLLOWING:
    return "follower";
  case ZAB_ROLE_OBSERVING:
    return "observer";
  default:
    return "looking";
  }
}

void srv_ens_mntr(const struct srv *s, struct proto_writer *w) {
  struct srv_ens *e = s->ens;
  if (e == NULL)
    return;
  struct zab_status st;
  zab_status_get(e->zab, &st);
  char b[1024];
  int n = snprintf(b, sizeof b,
                   "roost_server_id\t%u\n"
                   "roost_leader_id\t%u\n"
                   "roost_epoch\t%u\n"
                   "roost_serving\t%d\n"
                   "roost_commit_zxid\t%" PRId64 "\n"
                   "roost_last_logged_zxid\t%" PRId64 "\n"
                   "roost_elections\t%" PRIu64 "\n"
                   "roost_sync_diff\t%" PRIu64 "\n"
                   "roost_sync_trunc\t%" PRIu64 "\n"
                   "roost_sync_snap\t%" PRIu64 "\n"
                   "roost_peer_msgs_dropped\t%" PRIu64 "\n"
                   "roost_forwarded\t%" PRIu64 "\n"
                   "roost_proposed\t%" PRIu64 "\n",
                   e->my_id, e->leader, e->epoch, e->serving ? 1 : 0,
                   (int64_t)st.commit_zxid, (int64_t)st.last_zxid,
                   st.n_elections, st.n_sync_diff, st.n_sync_trunc,
                   st.n_sync_snap, st.n_dropped, e->forwarded, e->proposed);
  if (n > 0)
    proto_write_raw(w, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
  if (e->role == ZAB_ROLE_LEADING) {
    size_t voters = 0;
    for (size_t i = 0; i < e->n_peers; i++)
      voters += !e->peers[i].observer;
    n = snprintf(b, sizeof b,
                 "zk_learners\t%zu\n"
                 "zk_followers\t%zu\n"
                 "zk_synced_followers\t%u\n"
                 "roost_proposals_in_flight\t%" PRIu64 "\n"
                 "roost_pending_change_records\t%zu\n",
                 e->n_peers, voters, st.n_synced_learners, inflight(e),
                 tree_pending_count(e->tpend));
    if (n > 0)
      proto_write_raw(w, b, (size_t)n);
  }
}

void srv_ens_status(const struct srv *s, uint32_t *epoch, int64_t *zxid) {
  *epoch = 0;
  *zxid = tree_last_zxid(s->tree);
  if (s->ens != NULL)
    *epoch = s->ens->epoch;
}

/* ------------------------------------------------------------------ */
/* start and stop */

/* ZooKeeper 3.5+ configs may give a member's client port (and address) on
 * its server.N line, `;[clientAddr:]clientPort`, instead of clientPort /
 * clientPortAddress; where both are set they must agree, as ZooKeeper
 * requires. */
static int client_addr_from_line(struct srv *s,
                                 const struct srv_peer_config *me,
                                 char errmsg[SRV_ERRMSG_MAX]) {
  struct srv_config *c = &s->cfg;
  if (me->client_port == 0)
    return 0;
  if (c->client_port_given && c->client_port != me->client_port) {
    snprintf(errmsg, SRV_ERRMSG_MAX,
             "clientPort=%d disagrees with the client port %d on this "
             "member's server.%d line: set one, or make them equal",
             c->client_port, me->client_port, me->id);
    return -1;
  }
  c->client_port = me->client_port;
  if (me->client_address[0] == '\0')
    return 0;
  if (c->client_port_address_given &&
      strcmp(c->client_port_address, me->client_address) != 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX,
             "clientPortAddress=%.200s disagrees with the client address "
             "%.200s on this member's server.%d line",
             c->client_port_address, me->client_address, me->id);
    return -1;
  }
  snprintf(c->client_port_address, sizeof c->client_port_address, "%s",
           me->client_address);
  return 0;
}

static int read_myid(struct srv *s, char errmsg[SRV_ERRMSG_MAX]) {
  char path[SRV_PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/myid", s->cfg.data_dir);
  char b[32];
  if (read_small(path, b, sizeof b) < 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX,
             "server.N lines but no myid file: cannot open '%.400s': %s",
             path, strerror(errno));
    return -1;
  }
  char *end;
  long v = strtol(b, &end, 10);
  while (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t')
    end++;
  if (end == b || *end != 0 || v < 1 || v > 255) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "'%.400s' must hold a number 1..255",
             path);
    return -1;
  }
  s->cfg.server_id = (int)v;
  /* Session ids carry the server id in their top byte (session.c). */
  s->next_session_id = (int64_t)(((uint64_t)v << 56) |
                                 ((uint64_t)s->next_session_id &
                                  ((UINT64_C(1) << 56) - 1)));
  return 0;
}

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* Reload the state from the newest snapshot only; the logged txns after
 * it go to zab (LOAD), which commits or truncates them. */
struct loaded {
  struct zab_entry *ents;
  size_t n, cap;
};

static int collect_log(struct srv *s, int64_t base, struct loaded *L,
                       char errmsg[SRV_ERRMSG_MAX]) {
  const char *dir = s->cfg.data_log_dir[0] ? s->cfg.data_log_dir
                                           : s->cfg.data_dir;
  struct dirent **names = NULL;
  int nn = scandir(dir, &names, NULL, alphasort);
  if (nn < 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "cannot list %.400s", dir);
    return -1;
  }
  /* Segments in zxid order (names are hex of different lengths). */
  int64_t *zs = calloc((size_t)nn + 1, sizeof *zs);
  int *idx = calloc((size_t)nn + 1, sizeof *idx);
  int nseg = 0;
  for (int i = 0; zs && idx && i < nn; i++) {
    enum snap_file_kind k;
    int64_t z;
    if (snap_name_parse(names[i]->d_name, &k, &z) && k == SNAP_FILE_LOG) {
      int j = nseg++;
      while (j > 0 && zs[j - 1] > z) {
        zs[j] = zs[j - 1];
        idx[j] = idx[j - 1];
        j--;
      }
      zs[j] = z;
      idx[j] = i;
    }
  }
  int rc = 0;
  uint64_t last = (uint64_t)base;
  for (int si = 0; rc == 0 && zs && idx && si < nseg; si++) {
    /* Every txn of a segment is below the next one's first zxid (or, after
     * txlog_retry, copied again into the next one): a segment followed by
     * one that starts at or before base + 1 holds nothing after base. */
    if (si + 1 < nseg && zs[si + 1] <= base + 1)
      continue;
    char path[SRV_PATH_MAX + 300], msg[SNAP_ERRMSG_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, names[idx[si]]->d_name);
    struct txlog_reader *r = NULL;
    int64_t first;
    if (txlog_reader_open(path, NULL, &r, &first, msg, sizeof msg) != SNAP_OK)
      continue; /* recovery already cut or reported it */
    struct txlog_frame f;
    uint64_t bad;
    while (txlog_reader_next(r, &f, &bad, msg, sizeof msg) == 1) {
      size_t pos = 0;
      const uint8_t *tx;
      size_t tl;
      while (txlog_frame_next_txn(&f, &pos, &tx, &tl)) {
        struct tree_txn_header h;
        if (tree_txn_header_decode(tx, tl, &h) != PROTO_OK ||
            (uint64_t)h.zxid <= last)
          continue;
        if (L->n == L->cap) {
          size_t nc = L->cap ? L->cap * 2 : 256;
          struct zab_entry *ne = realloc(L->ents, nc * sizeof *ne);
          if (ne == NULL) {
            rc = -1;
            break;
          }
          L->ents = ne;
          L->cap = nc;
        }
        uint8_t *c = malloc(tl ? tl : 1);
        if (c == NULL) {
          rc = -1;
          break;
        }
        memcpy(c, tx, tl);
        L->ents[L->n++] = (struct zab_entry){(uint64_t)h.zxid, c,
                                             (uint32_t)tl};
        last = (uint64_t)h.zxid;
      }
      if (rc != 0)
        break;
    }
    txlog_reader_close(r);
  }
  if (zs == NULL || idx == NULL)
    rc = -1;
  if (rc != 0)
    snprintf(errmsg, SRV_ERRMSG_MAX, "out of memory reading the log");
  free(zs);
  free(idx);
  for (int i = 0; i < nn; i++)
    free(names[i]);
  free(names);
  return rc;
}

static void zab_log(void *ctx, int level, const char *msg) {
  struct srv *s = ctx;
  srv_log(s, level ? SRV_LOG_WARN : SRV_LOG_INFO, "zab: %s", msg);
}

int srv_ens_open(struct srv *s, char errmsg[SRV_ERRMSG_MAX]) {
  if (s->cfg.n_peers == 0)
    return 0;
  if (read_myid(s, errmsg) != 0)
    return -1;
  struct srv_ens *e = calloc(1, sizeof *e);
  if (e == NULL) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "out of memory");
    return -1;
  }
  s->ens = e;
  e->s = s;
  e->my_id = (uint32_t)s->cfg.server_id;
  e->durable_pending = -1;
  srv_map_init(&e->touched);
  srv_map_init(&e->connecting);
  proto_writer_init(&e->w);
  e->queue = calloc(ENS_MAX_QUEUE, sizeof *e->queue);
  e->tpend = tree_pending_new(s->tree);
  if (e->queue == NULL || e->tpend == NULL) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "out of memory");
    return -1;
  }

  /* An optional key for the passwords of the sessions this member creates.
   * Not needed for sessions to move between members: every password
   * travels in its createSession txn (docs/ensemble.md). */
  const char *sec = s->cfg.session_secret;
  if (sec[0] != '\0') {
    if (strlen(sec) != 32) {
      snprintf(errmsg, SRV_ERRMSG_MAX,
               "roost.sessionSecret must be 32 hex digits");
      return -1;
    }
    for (int i = 0; i < 16; i++) {
      int hi = hexval(sec[(size_t)2 * i]), lo = hexval(sec[(size_t)2 * i + 1]);
      if (hi < 0 || lo < 0) {
        snprintf(errmsg, SRV_ERRMSG_MAX,
                 "roost.sessionSecret must be 32 hex digits");
        return -1;
      }
      s->secret[i] = (uint8_t)(hi << 4 | lo);
    }
  }

  struct zab_member mem[SRV_MAX_PEERS];
  const struct srv_peer_config *me = NULL;
  for (int i = 0; i < s->cfg.n_peers; i++) {
    const struct srv_peer_config *pc = &s->cfg.peers[i];
    mem[i] = (struct zab_member){(uint32_t)pc->id, pc->observer};
    if ((uint32_t)pc->id == e->my_id) {
      me = pc;
      continue;
    }
    struct ens_peer *p = &e->peers[e->n_peers++];
    p->e = e;
    p->id = (uint32_t)pc->id;
    p->observer = pc->observer;
    snprintf(p->host, sizeof p->host, "%s", pc->host);
    p->port = pc->quorum_port;
    p->backoff_ms = ENS_RETRY_MIN_MS;
  }
  if (me == NULL) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "myid %u has no server.%u line",
             e->my_id, e->my_id);
    return -1;
  }
  if (client_addr_from_line(s, me, errmsg) != 0)
    return -1;

  /* State: the newest snapshot; the log after it goes to zab. */
  int64_t base = s->recovered.snap_zxid;
  struct tree_config tc = {.extended_types = s->cfg.extended_types,
                           .x509_acls = s->cfg.secure_client_port >= 0};
  struct tree *t = NULL;
  if (base >= 0) {
    char msg[SNAP_ERRMSG_MAX];
    int64_t z;
    if (snap_read(s->recovered.snap_file, NULL, &tc, &t, &z, msg,
                  sizeof msg) != SNAP_OK) {
      snprintf(errmsg, SRV_ERRMSG_MAX, "%.400s", msg);
      return -1;
    }
  } else {
    t = tree_new(&tc);
    base = 0;
    if (t == NULL) {
      snprintf(errmsg, SRV_ERRMSG_MAX, "out of memory");
      return -1;
    }
  }
  tree_free(s->tree);
  s->tree = t;
  sessions_reload(s);
  struct loaded L = {0};
  if (collect_log(s, base, &L, errmsg) != 0) {
    for (size_t i = 0; i < L.n; i++)
      free((void *)L.ents[i].data);
    free(L.ents);
    return -1;
  }
  s->durable_zxid = L.n ? (int64_t)L.ents[L.n - 1].zxid : base;
  s->snap_roll_zxid = s->durable_zxid;
  bool oom = false;
  for (size_t i = 0; i < L.n; i++)
    oom = oom || !pend_add(e, L.ents[i].zxid, L.ents[i].data, L.ents[i].len);
  if (oom) {
    for (size_t i = 0; i < L.n; i++)
      free((void *)L.ents[i].data);
    free(L.ents);
    snprintf(errmsg, SRV_ERRMSG_MAX, "out of memory");
    return -1;
  }

  struct zab_config zc;
  zab_config_defaults(&zc);
  zc.my_id = e->my_id;
  zc.members = mem;
  zc.n_members = (size_t)s->cfg.n_peers;
  zc.tick_ms = (uint32_t)s->cfg.tick_time_ms;
  zc.init_limit = (uint32_t)s->cfg.init_limit;
  zc.sync_limit = (uint32_t)s->cfg.sync_limit;
  zc.diff_window_txns = (uint32_t)s->cfg.sync_diff_window;
  zc.max_txn_bytes = (uint32_t)s->cfg.jute_max_buffer + 4096u;
  zc.max_outstanding = ENS_MAX_INFLIGHT; /* pump_one stays below it */
  zc.election_min_ms = 50;
  zc.election_max_ms = 2000;
  zc.finalize_wait_ms = 100;
  zc.seed = s->rng ^ ((uint64_t)e->my_id << 32);
  zc.log_cb = zab_log;
  zc.log_ctx = s;
  const char *why = NULL;
  int zr = zab_create(&zc, &e->zab, &why);
  if (zr != ZAB_OK) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "zab: %s (%s)", zab_strerror(zr),
             why ? why : "");
    for (size_t i = 0; i < L.n; i++)
      free((void *)L.ents[i].data);
    free(L.ents);
    return -1;
  }
  uint32_t acc, cur;
  if (read_epochs(s, &acc, &cur) != 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX,
             "%.400s/epochs is unreadable or malformed", s->cfg.data_dir);
    return -1;
  }
  struct zab_event ev = {.type = ZAB_EV_LOAD,
                         .load = {.accepted_epoch = acc,
                                  .current_epoch = cur,
                                  .applied_zxid = (uint64_t)base,
                                  .base_zxid = (uint64_t)base,
                                  .entries = L.ents,
                                  .n_entries = L.n}};
  uv_timer_init(&s->loop, &e->timer);
  e->timer.data = e;
  e->timer_open = true;
  ens_step(e, &ev);
  for (size_t i = 0; i < L.n; i++)
    free((void *)L.ents[i].data);
  free(L.ents);
  srv_log(s, SRV_LOG_INFO,
          "ensemble member %u of %d: state at 0x%" PRIx64 " (snapshot), %zu "
          "logged txns after it handed to zab, epochs %u/%u",
          e->my_id, s->cfg.n_peers, (uint64_t)base, e->n_pend, acc, cur);

  struct sockaddr_storage ss;
  if (resolve(me->host, me->quorum_port, &ss) != 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "cannot resolve %.300s", me->host);
    return -1;
  }
  uv_tcp_init(&s->loop, &e->listener);
  e->listener.data = e;
  e->listener_open = true;
  int rc = uv_tcp_bind(&e->listener, (struct sockaddr *)&ss, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&e->listener, 64, on_peer_connection);
  if (rc != 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "cannot listen on %.300s:%d: %s",
             me->host, me->quorum_port, uv_strerror(rc));
    return -1;
  }
  for (size_t i = 0; i < e->n_peers; i++) {
    struct ens_peer *p = &e->peers[i];
    uv_timer_init(&s->loop, &p->retry);
    p->retry.data = p;
    p->retry_open = true;
    peer_dial(p);
  }
  return 0;
}

void srv_ens_stop(struct srv *s) {
  struct srv_ens *e = s->ens;
  if (e == NULL || e->stopping)
    return;
  /* Leave every zab session out loud (STEPDOWN): a leader's followers
   * elect now rather than when the closed links or syncLimit tell them. */
  struct zab_event bye = {.type = ZAB_EV_RESIGN};
  ens_step(e, &bye);
  srv_ens_flush(s);
  e->stopping = true;
  if (e->listener_open)
    uv_close((uv_handle_t *)&e->listener, NULL);
  e->listener_open = false;
  if (e->timer_open)
    uv_close((uv_handle_t *)&e->timer, NULL);
  e->timer_open = false;
  for (size_t i = 0; i < e->n_peers; i++) {
    struct ens_peer *p = &e->peers[i];
    if (p->retry_open)
      uv_close((uv_handle_t *)&p->retry, NULL);
    p->retry_open = false;
    p->up = false; /* no PEER_DOWN into zab while stopping */
    if (p->out != NULL)
      tcp_drop(p->out, NULL);
  }
  while (e->incoming != NULL)
    tcp_drop(e->incoming, NULL);
}

void srv_ens_free(struct srv *s) {
  struct srv_ens *e = s->ens;
  if (e == NULL)
    return;
  while (e->q_len > 0) {
    req_free(&e->queue[e->q_head]);
    e->q_head = (e->q_head + 1) % ENS_MAX_QUEUE;
    e->q_len--;
  }
  free(e->queue);
  free(e->fsyncs);
  tree_pending_free(e->tpend);
  pend_drop_upto(e, UINT64_MAX);
  free(e->pend);
  srv_map_free(&e->touched);
  srv_map_free(&e->connecting);
  proto_writer_free(&e->w);
  zab_destroy(e->zab);
  free(e);
  s->ens = NULL;
}
