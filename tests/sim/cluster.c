/* The virtual world of tests/sim (see cluster.h for what it models and the
 * invariants it checks).  Everything here is driven by one seeded
 * generator and one event queue ordered by (time, sequence number), so a
 * seed replays exactly. */
#include "tests/sim/cluster.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "zab/zab.h"

/* ------------------------------------------------------------------ */
/* Randomness and hashing */

struct rng {
  uint64_t s;
};

static uint64_t rng_next(struct rng *r) {
  uint64_t x = (r->s += 0x9e3779b97f4a7c15ull);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* Uniform in [lo, hi]. */
static uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi) {
  return lo + rng_next(r) % (hi - lo + 1);
}

/* True with probability ppm / 1e6. */
static bool rng_ppm(struct rng *r, uint32_t ppm) {
  return rng_next(r) % 1000000u < ppm;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

static uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t x = a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  return x ^ (x >> 31);
}

/* ------------------------------------------------------------------ */
/* The world */

/* The model state machine: where in the history a node is, and a digest
 * of everything applied so far. */
struct model {
  uint64_t pos; /* txns applied */
  uint64_t zxid;
  uint64_t digest;
  /* the committed configuration the state holds (masks of node indexes) */
  uint64_t conf_version;
  uint32_t voters, observers;
};

struct ventry {
  uint64_t zxid;
  uint8_t *data;
  uint32_t len;
};

struct vdisk {
  uint32_t accepted, current;
  struct model snap; /* durable snapshot */
  uint64_t log_base; /* zxid right before log[0] */
  struct ventry *log;
  size_t n, cap, n_synced;
};

struct pending_write {
  uint64_t zxid;
  uint64_t wid;
};

struct node {
  int idx;
  uint32_t id;
  bool observer;
  bool up;
  uint64_t incarnation;
  struct zab *z;
  struct vdisk disk;
  struct model st;
  bool fsync_scheduled;
  bool slow_disk;
  uint64_t timer_at, timer_gen;
  uint64_t ticks_at_same_ms, last_tick_ms;
  int role;
  uint32_t leader, epoch;
  bool serving;
  struct pending_write *pend;
  size_t n_pend, cap_pend;
  /* Leader: CONFIRM rounds started, each with the newest zxid any client
   * had been acknowledged when it started (a read confirmed by the round
   * must see it: I7). */
  struct {
    uint64_t round, need;
  } conf[32];
  int n_conf;
  uint64_t applies_since_snap;
  bool ever_started;
  bool names_self; /* its static configuration names it (a joiner's) */
  /* zab counters of earlier incarnations, for the totals */
  uint64_t old_diff, old_trunc, old_snap, old_dropped;
};

struct link {
  bool up;
  bool connecting;
  uint64_t gen;
  uint64_t last_at[2]; /* FIFO clamp per direction (0: low->high) */
  uint64_t cut_until;
};

enum ev_kind {
  EV_DELIVER,
  EV_TICK,
  EV_FSYNC,
  EV_PEER,
  EV_CONNECT,
  EV_CRASH,
  EV_RESTART,
  EV_PARTITION,
  EV_HEAL,
  EV_CUT,
  EV_UNCUT,
  EV_WRITE,
  EV_FORWARD,
  EV_SLOWDISK,
  EV_ONEWAY, /* a one-way partition: one node deaf or unheard */
  EV_ONEWAY_HEAL,
  EV_STEPDOWN, /* the serving leader resigns; its STEPDOWNs are lost */
  EV_RECONFIG, /* a membership change at the serving leader */
};

struct sim_ev {
  uint64_t at, seq;
  enum ev_kind kind;
  int node, peer;
  uint64_t gen; /* link gen, timer gen or incarnation, by kind */
  uint64_t arg;
  uint8_t *bytes; /* owned */
  size_t len;
};

/* gov_old/gov_new: the voters whose quorum must hold the txn -- the
 * configuration in force at its position, and for a configuration change
 * also the new one. */
struct hist {
  uint64_t zxid, txn_hash, digest;
  uint32_t gov_old, gov_new;
};

struct acked {
  uint64_t wid, zxid, txn_hash, pos;
  uint32_t gov_old, gov_new;
};

struct epoch_owner {
  uint32_t epoch;
  int node;
  uint64_t incarnation;
};

struct cluster {
  struct sim_opts o;
  struct rng rng;
  int n;
  struct node nodes[SIM_MAX_NODES];
  struct zab_member members[SIM_MAX_NODES]; /* the static configuration */
  int n_static;
  /* the configuration committed last in the common history */
  uint64_t g_version;
  uint32_t g_voters, g_observers;
  struct link links[SIM_MAX_NODES][SIM_MAX_NODES];
  int side[SIM_MAX_NODES];
  bool partitioned;
  /* One-way partitions: deaf[to][from] = what from sends to never
   * arrives, while the connection stays up (a firewall that drops one
   * direction's packets, as the issue 14 test did with iptables). */
  bool deaf[SIM_MAX_NODES][SIM_MAX_NODES];
  bool oneway;
  /* While set, STEPDOWN messages are lost ("nobody told"). */
  bool muzzle_stepdown;
  bool faults, writes;
  uint64_t now, seq, steps;

  struct sim_ev *heap;
  size_t n_heap, cap_heap;

  struct hist *h;
  size_t n_h, cap_h;
  struct acked *ack;
  size_t n_ack, cap_ack;
  struct epoch_owner *owners;
  size_t n_owners, cap_owners;

  uint64_t next_wid;
  uint64_t max_acked_zxid; /* newest zxid acknowledged to a client */
  uint64_t stepdown_ms;    /* L2: resign to the next commit */

  struct sim_totals tot;
  bool failed;
  char failure[800];
  struct proto_writer w;
};

/* ------------------------------------------------------------------ */
/* Small containers */

static void *grow(void *p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap)
    return p;
  size_t nc = *cap ? *cap * 2 : 16;
  while (nc < need)
    nc *= 2;
  void *np = realloc(p, nc * size);
  if (!np) {
    fprintf(stderr, "sim: out of memory\n");
    abort();
  }
  *cap = nc;
  return np;
}

static void fail(struct cluster *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(struct cluster *c, const char *fmt, ...) {
  if (c->failed)
    return;
  c->failed = true;
  char msg[700];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(c->failure, sizeof c->failure, "step %llu, t=%llums: %s",
           (unsigned long long)c->steps, (unsigned long long)c->now, msg);
}

static void trace(struct cluster *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void trace(struct cluster *c, int level, const char *fmt, ...) {
  if (c->o.verbose < level)
    return;
  va_list ap;
  va_start(ap, fmt);
  printf("[%6llu %7llums] ", (unsigned long long)c->steps,
         (unsigned long long)c->now);
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Event queue: a binary heap on (at, seq) */

static bool ev_before(const struct sim_ev *a, const struct sim_ev *b) {
  return a->at != b->at ? a->at < b->at : a->seq < b->seq;
}

static void schedule(struct cluster *c, struct sim_ev ev) {
  ev.seq = c->seq++;
  if (ev.at < c->now)
    ev.at = c->now;
  c->heap = grow(c->heap, &c->cap_heap, c->n_heap + 1, sizeof *c->heap);
  size_t i = c->n_heap++;
  c->heap[i] = ev;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!ev_before(&c->heap[i], &c->heap[p]))
      break;
    struct sim_ev t = c->heap[i];
    c->heap[i] = c->heap[p];
    c->heap[p] = t;
    i = p;
  }
}

static struct sim_ev pop_event(struct cluster *c) {
  struct sim_ev top = c->heap[0];
  c->heap[0] = c->heap[--c->n_heap];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < c->n_heap && ev_before(&c->heap[l], &c->heap[m]))
      m = l;
    if (r < c->n_heap && ev_before(&c->heap[r], &c->heap[m]))
      m = r;
    if (m == i)
      break;
    struct sim_ev t = c->heap[i];
    c->heap[i] = c->heap[m];
    c->heap[m] = t;
    i = m;
  }
  return top;
}

static struct sim_ev mkev(enum ev_kind kind, uint64_t at, int node, int peer) {
  struct sim_ev ev;
  memset(&ev, 0, sizeof ev);
  ev.kind = kind;
  ev.at = at;
  ev.node = node;
  ev.peer = peer;
  return ev;
}

/* ------------------------------------------------------------------ */
/* The common history and the model (I2, I3, I4) */

/* The sim's configuration txns: 'C' then zab_conf_encode's bytes. */
static bool sim_config_of(void *ctx, const uint8_t *txn, uint32_t len,
                          struct zab_member *out, size_t *n_out) {
  (void)ctx;
  if (len < 1 || txn[0] != 'C')
    return false;
  if (zab_conf_decode(txn + 1, len - 1, out, n_out) != ZAB_OK)
    *n_out = 0; /* a change, but no valid configuration: refused */
  return true;
}

static void conf_masks(const struct zab_member *m, size_t n, uint32_t *voters,
                       uint32_t *observers) {
  *voters = *observers = 0;
  for (size_t i = 0; i < n; i++) {
    if (m[i].id == 0 || m[i].id > SIM_MAX_NODES)
      continue;
    if (m[i].observer)
      *observers |= 1u << (m[i].id - 1);
    else
      *voters |= 1u << (m[i].id - 1);
  }
}

static size_t masks_members(uint32_t voters, uint32_t observers,
                            struct zab_member *out) {
  size_t n = 0;
  for (uint32_t i = 0; i < SIM_MAX_NODES; i++)
    if ((voters | observers) & (1u << i))
      out[n++] = (struct zab_member){i + 1, (observers >> i) & 1u};
  return n;
}

static void model_apply(struct model *m, uint64_t zxid, const uint8_t *data,
                        uint32_t len) {
  m->pos++;
  m->zxid = zxid;
  m->digest = mix(m->digest, mix(zxid, hash_bytes(data, len)));
  struct zab_member mem[ZAB_MAX_MEMBERS];
  size_t n = 0;
  if (sim_config_of(NULL, data, len, mem, &n) && n > 0) {
    conf_masks(mem, n, &m->voters, &m->observers);
    m->conf_version = zxid;
  }
}

/* I4: a node at position pos must have the digest the history has there. */
static void check_model(struct cluster *c, const struct node *nd,
                        const struct model *m, const char *what) {
  if (m->pos == 0) {
    if (m->zxid != 0 || m->digest != 0)
      fail(c, "node %d %s: empty state with zxid %llx", nd->idx, what,
           (unsigned long long)m->zxid);
    return;
  }
  if (m->pos > c->n_h) {
    fail(c, "node %d %s: position %llu beyond the common history (%zu)",
         nd->idx, what, (unsigned long long)m->pos, c->n_h);
    return;
  }
  const struct hist *h = &c->h[m->pos - 1];
  if (h->zxid != m->zxid || h->digest != m->digest)
    fail(c,
         "I4 node %d %s: at position %llu zxid %llx digest %016llx, the "
         "common history has zxid %llx digest %016llx",
         nd->idx, what, (unsigned long long)m->pos, (unsigned long long)m->zxid,
         (unsigned long long)m->digest, (unsigned long long)h->zxid,
         (unsigned long long)h->digest);
}

static void apply_commit(struct cluster *c, struct node *nd, uint64_t zxid,
                         const uint8_t *data, uint32_t len) {
  if (zxid <= nd->st.zxid) {
    fail(c, "I3 node %d applied %llx after %llx", nd->idx,
         (unsigned long long)zxid, (unsigned long long)nd->st.zxid);
    return;
  }
  uint64_t th = hash_bytes(data, len);
  uint64_t pos = nd->st.pos;
  uint32_t gov_old = nd->st.voters;
  model_apply(&nd->st, zxid, data, len);
  if (pos < c->n_h) {
    const struct hist *h = &c->h[pos];
    if (h->zxid != zxid || h->txn_hash != th) {
      fail(c,
           "I2 node %d applied zxid %llx at position %llu, the common "
           "history has zxid %llx there%s",
           nd->idx, (unsigned long long)zxid, (unsigned long long)pos,
           (unsigned long long)h->zxid,
           h->zxid == zxid ? " with other bytes" : "");
      return;
    }
  } else {
    c->h = grow(c->h, &c->cap_h, c->n_h + 1, sizeof *c->h);
    c->h[c->n_h++] =
        (struct hist){zxid, th, nd->st.digest, gov_old, nd->st.voters};
    if (nd->st.conf_version == zxid) {
      c->g_version = zxid;
      c->g_voters = nd->st.voters;
      c->g_observers = nd->st.observers;
      c->tot.reconfigs_committed++;
      trace(c, 1, "configuration %llx committed: voters %x observers %x",
            (unsigned long long)zxid, nd->st.voters, nd->st.observers);
    }
  }
  check_model(c, nd, &nd->st, "after apply");
}

/* ------------------------------------------------------------------ */
/* Disks */

static struct ventry *disk_find(const struct vdisk *d, uint64_t zxid,
                                size_t *idx) {
  size_t lo = 0, hi = d->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (d->log[mid].zxid < zxid)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < d->n && d->log[lo].zxid == zxid) {
    if (idx)
      *idx = lo;
    return &d->log[lo];
  }
  return NULL;
}

static uint64_t disk_last(const struct vdisk *d) {
  return d->n ? d->log[d->n - 1].zxid : d->log_base;
}

static void disk_cut(struct vdisk *d, size_t keep) {
  while (d->n > keep) {
    free(d->log[--d->n].data);
    d->log[d->n].data = NULL;
  }
  if (d->n_synced > d->n)
    d->n_synced = d->n;
}

/* Drops log entries <= zxid (they are in the snapshot). */
static void disk_purge(struct vdisk *d, uint64_t zxid) {
  size_t k = 0;
  while (k < d->n && d->log[k].zxid <= zxid)
    k++;
  if (k == 0)
    return;
  for (size_t i = 0; i < k; i++)
    free(d->log[i].data);
  d->log_base = d->log[k - 1].zxid;
  memmove(d->log, d->log + k, (d->n - k) * sizeof *d->log);
  d->n -= k;
  d->n_synced = d->n_synced > k ? d->n_synced - k : 0;
}

/* I5 for one acknowledged write: durable on a quorum of voters. */
static bool durable_on(const struct node *nd, const struct acked *a) {
  if (a->pos < nd->disk.snap.pos)
    return true;
  size_t i;
  const struct ventry *e = disk_find(&nd->disk, a->zxid, &i);
  return e && i < nd->disk.n_synced &&
         hash_bytes(e->data, e->len) == a->txn_hash;
}

static int durable_among(const struct cluster *c, const struct acked *a,
                         uint32_t voters) {
  int n = 0;
  for (int i = 0; i < c->n; i++)
    if ((voters >> i) & 1u && durable_on(&c->nodes[i], a))
      n++;
  return n;
}

static int popcount(uint32_t x) { return __builtin_popcount(x); }

/* I5 (I8 for the old configuration of a change): durable on a quorum of
 * every configuration that governs it. */
static void check_acked_durable(struct cluster *c, const struct acked *a) {
  int q_old = popcount(a->gov_old) / 2 + 1,
      q_new = popcount(a->gov_new) / 2 + 1;
  int n_old = durable_among(c, a, a->gov_old);
  int n_new = durable_among(c, a, a->gov_new);
  bool change = a->gov_old != a->gov_new;
  if (n_old < q_old)
    fail(c,
         "%s acknowledged %s %llu (zxid %llx) is durable on %d voters of the "
         "%sconfiguration (%x), a quorum is %d",
         change ? "I8" : "I5", change ? "configuration change" : "write",
         (unsigned long long)a->wid, (unsigned long long)a->zxid, n_old,
         change ? "old " : "", a->gov_old, q_old);
  else if (n_new < q_new)
    fail(c,
         "%s acknowledged %s %llu (zxid %llx) is durable on %d voters of the "
         "new configuration (%x), a quorum is %d",
         change ? "I8" : "I5", change ? "configuration change" : "write",
         (unsigned long long)a->wid, (unsigned long long)a->zxid, n_new,
         a->gov_new, q_new);
}

static void check_all_acked_durable(struct cluster *c) {
  for (size_t k = 0; k < c->n_ack && !c->failed; k++)
    check_acked_durable(c, &c->ack[k]);
}

/* ------------------------------------------------------------------ */
/* Network */

static struct link *link_of(struct cluster *c, int a, int b) {
  return a < b ? &c->links[a][b] : &c->links[b][a];
}

static bool link_ok(const struct cluster *c, int a, int b) {
  const struct link *l = a < b ? &c->links[a][b] : &c->links[b][a];
  return c->nodes[a].up && c->nodes[b].up && c->side[a] == c->side[b] &&
         l->cut_until <= c->now;
}

/* Brings connections in line with who is up and who can reach whom. */
static void links_update(struct cluster *c) {
  for (int a = 0; a < c->n; a++) {
    for (int b = a + 1; b < c->n; b++) {
      struct link *l = &c->links[a][b];
      bool ok = link_ok(c, a, b);
      if (l->up && !ok) {
        l->up = false;
        l->gen++; /* in-flight messages die with the connection */
        int ends[2] = {a, b};
        for (int k = 0; k < 2; k++) {
          int me = ends[k], other = ends[1 - k];
          if (!c->nodes[me].up)
            continue;
          struct sim_ev ev =
              mkev(EV_PEER, c->now + rng_range(&c->rng, 0, 3), me, other);
          ev.gen = c->nodes[me].incarnation;
          ev.arg = 0;
          schedule(c, ev);
        }
      } else if (!l->up && ok && !l->connecting) {
        l->connecting = true;
        schedule(c, mkev(EV_CONNECT, c->now + rng_range(&c->rng, 5, 40), a, b));
      }
    }
  }
}

static void on_connect(struct cluster *c, int a, int b) {
  struct link *l = link_of(c, a, b);
  l->connecting = false;
  if (l->up || !link_ok(c, a, b)) {
    links_update(c);
    return;
  }
  l->up = true;
  l->gen++;
  l->last_at[0] = l->last_at[1] = c->now;
  int ends[2] = {a, b};
  for (int k = 0; k < 2; k++) {
    struct sim_ev ev = mkev(EV_PEER, c->now, ends[k], ends[1 - k]);
    ev.gen = c->nodes[ends[k]].incarnation;
    ev.arg = 1;
    schedule(c, ev);
  }
}

static uint64_t net_delay(struct cluster *c) {
  if (c->faults && rng_ppm(&c->rng, 20000))
    return rng_range(&c->rng, 30, 150); /* a slow path now and then */
  return rng_range(&c->rng, 1, 8);
}

static void net_send(struct cluster *c, int from, int to,
                     const struct zab_msg *m) {
  struct link *l = link_of(c, from, to);
  if (!l->up)
    return; /* no connection: the bytes go nowhere */
  if (c->deaf[to][from] ||
      (c->muzzle_stepdown && m->type == ZAB_MSG_STEPDOWN)) {
    trace(c, 2, "lost %d->%d %s (one-way / nobody told)", from, to,
          zab_msg_type_name((int)m->type));
    return;
  }
  proto_writer_reset(&c->w);
  int rc = zab_msg_encode(m, &c->w);
  if (rc != ZAB_OK) {
    fail(c, "I6 node %d: zab_msg_encode(%s) = %s", from,
         zab_msg_type_name((int)m->type), zab_err_name(rc));
    return;
  }
  bool notif = m->type == ZAB_MSG_NOTIFICATION;
  int copies = 1;
  bool fifo = true;
  size_t len = c->w.len;
  if (c->faults) {
    /* Election traffic is treated as unreliable datagrams; the quorum
     * channel as TCP that very rarely misbehaves (which zab must survive
     * by resyncing, never by accepting a gap). */
    if (rng_ppm(&c->rng, notif ? 50000 : 2000))
      return;
    if (rng_ppm(&c->rng, notif ? 20000 : 3000))
      copies = 2;
    if (rng_ppm(&c->rng, notif ? 50000 : 3000))
      fifo = false;
    if (rng_ppm(&c->rng, 2000))
      len = (size_t)rng_range(&c->rng, 0, len - 1); /* garbled: cut short */
    if (!notif && rng_ppm(&c->rng, 1500)) {
      /* TCP reset: the connection breaks for a while. */
      l->cut_until = c->now + rng_range(&c->rng, 20, 400);
      schedule(c, mkev(EV_UNCUT, l->cut_until, from, to));
      links_update(c);
      return;
    }
  }
  int dir = from < to ? 0 : 1;
  for (int k = 0; k < copies; k++) {
    uint64_t at = c->now + net_delay(c);
    if (fifo) {
      if (at < l->last_at[dir])
        at = l->last_at[dir];
      l->last_at[dir] = at;
    }
    struct sim_ev ev = mkev(EV_DELIVER, at, to, from);
    ev.gen = l->gen;
    ev.bytes = malloc(len ? len : 1);
    if (!ev.bytes)
      abort();
    memcpy(ev.bytes, c->w.buf, len);
    ev.len = len;
    schedule(c, ev);
  }
  trace(c, 2, "send %d->%d %s e=%u z=%llx", from, to,
        zab_msg_type_name((int)m->type), m->epoch, (unsigned long long)m->zxid);
}

/* ------------------------------------------------------------------ */
/* Driving one zab: feed an event, perform every action */

static void schedule_fsync(struct cluster *c, struct node *nd) {
  if (nd->fsync_scheduled)
    return;
  nd->fsync_scheduled = true;
  uint64_t d =
      nd->slow_disk ? rng_range(&c->rng, 40, 250) : rng_range(&c->rng, 1, 6);
  struct sim_ev ev = mkev(EV_FSYNC, c->now + d, nd->idx, -1);
  ev.gen = nd->incarnation;
  schedule(c, ev);
}

static void leader_lost(struct cluster *c, struct node *nd) {
  /* Writes in flight at a leader that stops leading have an unknown
   * outcome for their clients (connection loss); they may still commit. */
  (void)c;
  nd->n_pend = 0;
}

static void on_role(struct cluster *c, struct node *nd,
                    const struct zab_action *a) {
  bool was_leading = nd->role == ZAB_ROLE_LEADING && nd->serving;
  nd->role = (int)a->role;
  nd->leader = a->leader;
  nd->epoch = a->epoch;
  nd->serving = a->serving;
  trace(c, 1, "node %d: %s leader=%u epoch=%u%s", nd->idx,
        zab_role_name(a->role), a->leader, a->epoch,
        a->serving ? " serving" : "");
  bool leading = a->role == ZAB_ROLE_LEADING && a->serving;
  if (was_leading && !leading)
    leader_lost(c, nd);
  if (!leading)
    nd->n_conf = 0; /* rounds belong to one leadership */
  if (!leading || was_leading)
    return;
  /* I1: one establishment per epoch, ever. */
  for (size_t k = 0; k < c->n_owners; k++) {
    if (c->owners[k].epoch == a->epoch) {
      fail(c,
           "I1 epoch %u established twice: node %d (incarnation %llu) and "
           "node %d (incarnation %llu)",
           a->epoch, c->owners[k].node,
           (unsigned long long)c->owners[k].incarnation, nd->idx,
           (unsigned long long)nd->incarnation);
      return;
    }
  }
  c->owners =
      grow(c->owners, &c->cap_owners, c->n_owners + 1, sizeof *c->owners);
  c->owners[c->n_owners++] =
      (struct epoch_owner){a->epoch, nd->idx, nd->incarnation};
  c->tot.elections_won++;
  /* I5: the new leader's log or snapshot holds every acknowledged write
   * of the epochs before its own.  (A leader whose last ACKNEWLEADER was
   * slow on the way may establish an epoch after a newer one committed
   * writes -- its learner moved on after acking -- and it then lacks
   * those, rightly: it commits nothing the newer epoch lacks, and can
   * commit nothing new, as that learner no longer acknowledges it.) */
  for (size_t k = 0; k < c->n_ack; k++) {
    const struct acked *w = &c->ack[k];
    if (w->pos < nd->disk.snap.pos || zab_zxid_epoch(w->zxid) >= a->epoch)
      continue;
    const struct ventry *e = disk_find(&nd->disk, w->zxid, NULL);
    if (!e || hash_bytes(e->data, e->len) != w->txn_hash) {
      fail(c,
           "I5 node %d leads epoch %u without acknowledged write %llu "
           "(zxid %llx)",
           nd->idx, a->epoch, (unsigned long long)w->wid,
           (unsigned long long)w->zxid);
      return;
    }
  }
}

static void on_commit_action(struct cluster *c, struct node *nd,
                             const struct zab_action *a) {
  /* The driver applies what it logged: the txn must be in its log. */
  const struct ventry *e = disk_find(&nd->disk, a->zxid, NULL);
  if (!e || e->len != a->len || memcmp(e->data, a->data, a->len) != 0) {
    fail(c, "I6 node %d: COMMIT %llx of a txn not in its log", nd->idx,
         (unsigned long long)a->zxid);
    return;
  }
  apply_commit(c, nd, a->zxid, a->data, a->len);
  if (c->failed)
    return;
  /* A client waiting on this write gets "ok" now. */
  for (size_t k = 0; k < nd->n_pend; k++) {
    if (nd->pend[k].zxid != a->zxid)
      continue;
    c->ack = grow(c->ack, &c->cap_ack, c->n_ack + 1, sizeof *c->ack);
    struct acked *w = &c->ack[c->n_ack++];
    const struct hist *hh = &c->h[nd->st.pos - 1];
    *w = (struct acked){
        nd->pend[k].wid, a->zxid,     hash_bytes(a->data, a->len),
        nd->st.pos - 1,  hh->gov_old, hh->gov_new};
    c->tot.acked++;
    if (a->zxid > c->max_acked_zxid)
      c->max_acked_zxid = a->zxid;
    nd->pend[k] = nd->pend[--nd->n_pend];
    check_acked_durable(c, w);
    trace(c, 1, "node %d: write %llu acked at %llx", nd->idx,
          (unsigned long long)w->wid, (unsigned long long)w->zxid);
    break;
  }
  /* Now and then a durable snapshot of the model, purging the log
   * (after an fsync of the log, as a real driver would order it). */
  if (++nd->applies_since_snap >= 40 && rng_ppm(&c->rng, 100000)) {
    nd->applies_since_snap = 0;
    nd->disk.n_synced = nd->disk.n;
    nd->disk.snap = nd->st;
    if (rng_ppm(&c->rng, 500000))
      disk_purge(&nd->disk, nd->st.zxid);
  }
}

static void node_drain(struct cluster *c, struct node *nd);

/* I7: a leader's read confirmed by a quorum round (a sync) sees every
 * write acknowledged to any client before the round began. */
static void on_confirmed(struct cluster *c, struct node *nd, uint64_t round) {
  int k = 0;
  for (int i = 0; i < nd->n_conf; i++) {
    if (nd->conf[i].round > round) {
      nd->conf[k++] = nd->conf[i];
      continue;
    }
    if (nd->st.zxid < nd->conf[i].need) {
      fail(c,
           "I7 node %d: a read confirmed by round %llu sees %llx, but %llx "
           "was acknowledged before the round began",
           nd->idx, (unsigned long long)nd->conf[i].round,
           (unsigned long long)nd->st.zxid,
           (unsigned long long)nd->conf[i].need);
      return;
    }
    c->tot.confirmed_reads++;
  }
  nd->n_conf = k;
}

/* A linearizable read at a leader: start a CONFIRM round. */
static void confirm_at(struct cluster *c, struct node *nd) {
  if (!nd->up || nd->role != ZAB_ROLE_LEADING || !nd->serving ||
      nd->n_conf == (int)(sizeof nd->conf / sizeof nd->conf[0]))
    return;
  uint64_t round = 0;
  struct zab_event ev = {.type = ZAB_EV_CONFIRM, .now_ms = c->now};
  ev.confirm.round_out = &round;
  if (zab_step(nd->z, &ev) != ZAB_OK)
    return;
  nd->conf[nd->n_conf].round = round;
  nd->conf[nd->n_conf].need = c->max_acked_zxid;
  nd->n_conf++;
  node_drain(c, nd);
}

#define SNAP_BYTES 40

static void perform(struct cluster *c, struct node *nd,
                    const struct zab_action *a) {
  struct vdisk *d = &nd->disk;
  switch (a->type) {
  case ZAB_ACT_SEND: {
    int to = (int)a->peer - 1;
    if (to < 0 || to >= c->n || to == nd->idx) {
      fail(c, "I6 node %d: SEND to unknown peer %u", nd->idx, a->peer);
      return;
    }
    net_send(c, nd->idx, to, &a->msg);
    return;
  }
  case ZAB_ACT_SEND_SNAP: {
    int to = (int)a->peer - 1;
    if (to < 0 || to >= c->n || a->msg.type != ZAB_MSG_SNAP) {
      fail(c, "I6 node %d: bad SEND_SNAP", nd->idx);
      return;
    }
    if (a->msg.zxid != nd->st.zxid) {
      fail(c, "I6 node %d: SEND_SNAP at %llx but its state is at %llx", nd->idx,
           (unsigned long long)a->msg.zxid, (unsigned long long)nd->st.zxid);
      return;
    }
    /* The state, padded so that snapshots are not all tiny. */
    uint8_t buf[SNAP_BYTES + 64];
    memset(buf, 0xab, sizeof buf);
    memcpy(buf, &nd->st.pos, 8);
    memcpy(buf + 8, &nd->st.zxid, 8);
    memcpy(buf + 16, &nd->st.digest, 8);
    memcpy(buf + 24, &nd->st.conf_version, 8);
    memcpy(buf + 32, &nd->st.voters, 4);
    memcpy(buf + 36, &nd->st.observers, 4);
    struct zab_msg m = a->msg;
    m.data = buf;
    m.len = (uint32_t)(SNAP_BYTES + nd->st.pos % 64);
    net_send(c, nd->idx, to, &m);
    return;
  }
  case ZAB_ACT_APPEND: {
    if (a->zxid <= disk_last(d)) {
      fail(c, "I6 node %d: APPEND %llx after %llx", nd->idx,
           (unsigned long long)a->zxid, (unsigned long long)disk_last(d));
      return;
    }
    d->log = grow(d->log, &d->cap, d->n + 1, sizeof *d->log);
    uint8_t *copy = malloc(a->len ? a->len : 1);
    if (!copy)
      abort();
    memcpy(copy, a->data, a->len);
    d->log[d->n++] = (struct ventry){a->zxid, copy, a->len};
    schedule_fsync(c, nd);
    return;
  }
  case ZAB_ACT_TRUNCATE: {
    if (a->zxid < nd->st.zxid || a->zxid < d->snap.zxid) {
      fail(c, "I6 node %d: TRUNCATE to %llx below applied %llx", nd->idx,
           (unsigned long long)a->zxid, (unsigned long long)nd->st.zxid);
      return;
    }
    size_t keep = 0;
    while (keep < d->n && d->log[keep].zxid <= a->zxid)
      keep++;
    trace(c, 1, "node %d: TRUNCATE to %llx (drops %zu)", nd->idx,
          (unsigned long long)a->zxid, d->n - keep);
    disk_cut(d, keep);
    check_all_acked_durable(c);
    return;
  }
  case ZAB_ACT_INSTALL_SNAP: {
    struct model m;
    if (a->len < SNAP_BYTES) {
      fail(c, "I6 node %d: INSTALL_SNAP of %u bytes", nd->idx, a->len);
      return;
    }
    memcpy(&m.pos, a->data, 8);
    memcpy(&m.zxid, a->data + 8, 8);
    memcpy(&m.digest, a->data + 16, 8);
    memcpy(&m.conf_version, a->data + 24, 8);
    memcpy(&m.voters, a->data + 32, 4);
    memcpy(&m.observers, a->data + 36, 4);
    if (m.zxid != a->zxid) {
      fail(c, "I6 node %d: INSTALL_SNAP zxid %llx, state says %llx", nd->idx,
           (unsigned long long)a->zxid, (unsigned long long)m.zxid);
      return;
    }
    if (m.zxid < nd->st.zxid) {
      fail(c, "I3 node %d: SNAP goes back from %llx to %llx", nd->idx,
           (unsigned long long)nd->st.zxid, (unsigned long long)m.zxid);
      return;
    }
    check_model(c, nd, &m, "snapshot received");
    trace(c, 1, "node %d: INSTALL_SNAP at %llx", nd->idx,
          (unsigned long long)m.zxid);
    nd->st = m;
    d->snap = m;
    disk_cut(d, 0);
    d->log_base = m.zxid;
    check_all_acked_durable(c);
    return;
  }
  case ZAB_ACT_PERSIST_EPOCH:
    if (a->accepted_epoch < d->accepted || a->current_epoch < d->current ||
        a->current_epoch > a->accepted_epoch) {
      fail(c, "I6 node %d: epochs %u/%u -> %u/%u", nd->idx, d->accepted,
           d->current, a->accepted_epoch, a->current_epoch);
      return;
    }
    d->accepted = a->accepted_epoch;
    d->current = a->current_epoch;
    return;
  case ZAB_ACT_COMMIT:
    on_commit_action(c, nd, a);
    return;
  case ZAB_ACT_ROLE:
    on_role(c, nd, a);
    return;
  case ZAB_ACT_CONFIRMED:
    on_confirmed(c, nd, a->zxid);
    return;
  }
  fail(c, "I6 node %d: unknown action %d", nd->idx, (int)a->type);
}

static void rearm_timer(struct cluster *c, struct node *nd) {
  uint64_t t = zab_next_timeout_ms(nd->z);
  if (t == nd->timer_at)
    return;
  nd->timer_at = t;
  nd->timer_gen++;
  /* Timers fire a little late, as they do on a loaded machine. */
  uint64_t late = c->faults ? rng_range(&c->rng, 0, 3) : 0;
  struct sim_ev ev = mkev(EV_TICK, t + late, nd->idx, -1);
  ev.gen = nd->timer_gen;
  ev.arg = nd->incarnation;
  schedule(c, ev);
}

static void node_drain(struct cluster *c, struct node *nd) {
  struct zab_action a;
  while (zab_action_next(nd->z, &a)) {
    if (!c->failed)
      perform(c, nd, &a);
  }
  if (nd->up)
    rearm_timer(c, nd);
}

static void node_step(struct cluster *c, struct node *nd,
                      const struct zab_event *ev, int *rc_out) {
  int rc = zab_step(nd->z, ev);
  if (rc_out)
    *rc_out = rc;
  else if (rc != ZAB_OK)
    fail(c, "I6 node %d: zab_step(%d) = %s", nd->idx, (int)ev->type,
         zab_err_name(rc));
  if (rc == ZAB_ENOMEM)
    fail(c, "node %d: out of memory", nd->idx);
  node_drain(c, nd);
}

/* ------------------------------------------------------------------ */
/* Node lifecycle */

static void zab_trace(void *ctx, int level, const char *msg) {
  trace(ctx, 3, "%s%s", level ? "(warn) " : "", msg);
}

/* operator: the node is given the configuration committed last (what an
 * operator writes into a server's dynamic configuration file when it adds
 * it, or restarts one that missed changes). */
static void node_start(struct cluster *c, struct node *nd, bool operator) {
  struct zab_config cfg;
  zab_config_defaults(&cfg);
  cfg.my_id = nd->id;
  cfg.members = c->members;
  cfg.n_members = (size_t)c->n_static;
  struct zab_member named[SIM_MAX_NODES + 1];
  if (nd->names_self) {
    /* ZooKeeper's procedure: the ensemble's server.N lines plus its own */
    memcpy(named, c->members, (size_t)c->n_static * sizeof *named);
    named[c->n_static] = (struct zab_member){nd->id, false};
    cfg.members = named;
    cfg.n_members = (size_t)c->n_static + 1;
  }
  cfg.config_of = c->o.reconfigs ? sim_config_of : NULL;
  if (c->o.verbose >= 3) {
    cfg.log_cb = zab_trace;
    cfg.log_ctx = c;
  }
  cfg.tick_ms = SIM_TICK_MS;
  cfg.init_limit = 10;
  cfg.sync_limit = SIM_SYNC_LIMIT;
  cfg.election_min_ms = 50;
  cfg.election_max_ms = 800;
  cfg.finalize_wait_ms = 30;
  cfg.diff_window_txns = c->o.diff_window_txns;
  cfg.max_outstanding = 200;
  cfg.seed = rng_next(&c->rng);
  cfg.test_bugs = c->o.test_bugs;
  const char *why;
  int rc = zab_create(&cfg, &nd->z, &why);
  if (rc != ZAB_OK) {
    fail(c, "zab_create: %s (%s)", zab_err_name(rc), why);
    return;
  }
  nd->up = true;
  nd->ever_started = true;
  nd->incarnation++;
  nd->timer_at = 0;
  nd->fsync_scheduled = false;
  nd->role = ZAB_ROLE_LOOKING;
  nd->serving = false;
  nd->leader = nd->epoch = 0;
  nd->n_pend = 0;
  nd->st = nd->disk.snap;
  struct zab_entry *es = calloc(nd->disk.n + 1, sizeof *es);
  if (!es)
    abort();
  for (size_t i = 0; i < nd->disk.n; i++)
    es[i] = (struct zab_entry){nd->disk.log[i].zxid, nd->disk.log[i].data,
                               nd->disk.log[i].len};
  struct zab_event ev = {.type = ZAB_EV_LOAD, .now_ms = c->now};
  ev.load.accepted_epoch = nd->disk.accepted;
  ev.load.current_epoch = nd->disk.current;
  ev.load.applied_zxid = nd->disk.snap.zxid;
  ev.load.base_zxid = nd->disk.log_base;
  ev.load.entries = es;
  ev.load.n_entries = nd->disk.n;
  struct zab_member mem[SIM_MAX_NODES];
  const struct model *sm = &nd->disk.snap;
  if (operator&& c->g_version> sm->conf_version) {
    ev.load.n_members = masks_members(c->g_voters, c->g_observers, mem);
    ev.load.config_version = c->g_version;
  } else if (sm->conf_version != 0) {
    ev.load.n_members = masks_members(sm->voters, sm->observers, mem);
    ev.load.config_version = sm->conf_version;
  }
  ev.load.members = ev.load.n_members ? mem : NULL;
  node_step(c, nd, &ev, NULL);
  free(es);
  links_update(c);
}

static void node_crash(struct cluster *c, struct node *nd) {
  if (!nd->up)
    return;
  struct zab_status st;
  zab_status_get(nd->z, &st);
  nd->old_diff += st.n_sync_diff;
  nd->old_trunc += st.n_sync_trunc;
  nd->old_snap += st.n_sync_snap;
  nd->old_dropped += st.n_dropped;
  zab_destroy(nd->z);
  nd->z = NULL;
  nd->up = false;
  nd->incarnation++; /* invalidates its timers and fsyncs */
  nd->n_pend = 0;
  /* Unsynced writes are lost, except perhaps a torn prefix of them. */
  struct vdisk *d = &nd->disk;
  size_t keep = d->n_synced;
  if (d->n > d->n_synced && rng_ppm(&c->rng, 400000))
    keep += (size_t)rng_range(&c->rng, 0, d->n - d->n_synced);
  disk_cut(d, keep);
  d->n_synced = d->n;
  c->tot.crashes++;
  trace(c, 1, "node %d: CRASH (log keeps %zu)", nd->idx, d->n);
  links_update(c);
}

/* ------------------------------------------------------------------ */
/* Clients */

static bool propose_bytes(struct cluster *c, struct node *nd, uint64_t wid,
                          const uint8_t *buf, uint32_t len, int *rc_out);

static bool propose_at(struct cluster *c, struct node *nd, uint64_t wid) {
  if (!nd->up || nd->role != ZAB_ROLE_LEADING || !nd->serving)
    return false;
  uint8_t buf[2048];
  uint32_t len = (uint32_t)snprintf((char *)buf, sizeof buf,
                                    "w%llu:", (unsigned long long)wid);
  uint32_t extra = rng_ppm(&c->rng, 20000)
                       ? (uint32_t)rng_range(&c->rng, 100, 1500)
                       : (uint32_t)rng_range(&c->rng, 0, 40);
  for (uint32_t i = 0; i < extra; i++)
    buf[len++] = (uint8_t)rng_next(&c->rng);
  return propose_bytes(c, nd, wid, buf, len, NULL);
}

static bool propose_bytes(struct cluster *c, struct node *nd, uint64_t wid,
                          const uint8_t *buf, uint32_t len, int *rc_out) {
  uint64_t zxid = 0;
  struct zab_event ev = {.type = ZAB_EV_PROPOSE, .now_ms = c->now};
  ev.propose.data = buf;
  ev.propose.len = len;
  ev.propose.zxid_out = &zxid;
  int rc = zab_step(nd->z, &ev);
  if (rc == ZAB_OK) {
    /* Registered before the actions run: the commit may be among them. */
    nd->pend = grow(nd->pend, &nd->cap_pend, nd->n_pend + 1, sizeof *nd->pend);
    nd->pend[nd->n_pend++] = (struct pending_write){zxid, wid};
    trace(c, 1, "node %d: write %llu proposed as %llx", nd->idx,
          (unsigned long long)wid, (unsigned long long)zxid);
  } else if (rc == ZAB_ENOMEM) {
    fail(c, "node %d: out of memory", nd->idx);
  }
  if (rc_out)
    *rc_out = rc;
  node_drain(c, nd);
  return rc == ZAB_OK;
}

uint64_t cluster_write(struct cluster *c, int node) {
  struct node *nd = &c->nodes[node];
  /* Now and then a sync at whoever thinks it leads (maybe a deposed
   * leader that has not noticed yet: its round must never confirm). */
  for (int i = 0; c->o.confirms && i < c->n; i++)
    if (rng_ppm(&c->rng, 150000))
      confirm_at(c, &c->nodes[i]);
  uint64_t wid = ++c->next_wid;
  c->tot.writes++;
  if (!nd->up || !nd->serving) {
    c->tot.refused++;
    return 0;
  }
  if (nd->role == ZAB_ROLE_LEADING) {
    if (propose_at(c, nd, wid))
      return wid;
    c->tot.refused++;
    return 0;
  }
  /* A follower forwards the write to its leader, as the server will. */
  int l = (int)nd->leader - 1;
  if (l < 0 || l >= c->n || !link_of(c, node, l)->up) {
    c->tot.refused++;
    return 0;
  }
  if (c->deaf[l][node])
    return wid; /* forwarded into a one-way partition: never heard of */
  struct sim_ev ev = mkev(EV_FORWARD, c->now + net_delay(c), l, node);
  ev.gen = link_of(c, node, l)->gen;
  ev.arg = wid;
  schedule(c, ev);
  return wid;
}

/* ------------------------------------------------------------------ */
/* Membership changes */

static bool node_removed(const struct node *nd) {
  if (!nd->up)
    return false;
  struct zab_status st;
  zab_status_get(nd->z, &st);
  return st.removed;
}

uint64_t cluster_reconfig(struct cluster *c, int node, uint32_t voters,
                          uint32_t observers, int *rc) {
  struct node *nd = &c->nodes[node];
  uint64_t wid = ++c->next_wid;
  c->tot.reconfigs++;
  *rc = ZAB_NOTLEADER;
  uint8_t buf[1 + 4 + 5 * SIM_MAX_NODES];
  struct zab_member mem[SIM_MAX_NODES];
  size_t n = masks_members(voters, observers & ~voters, mem);
  proto_writer_reset(&c->w);
  buf[0] = 'C';
  if (zab_conf_encode(mem, n, &c->w) != ZAB_OK || c->w.len + 1 > sizeof buf)
    abort();
  memcpy(buf + 1, c->w.buf, c->w.len);
  uint32_t len = (uint32_t)c->w.len + 1;
  if (nd->up && nd->role == ZAB_ROLE_LEADING && nd->serving &&
      propose_bytes(c, nd, wid, buf, len, rc)) {
    trace(c, 1, "node %d: reconfig %llu proposed: voters %x observers %x", node,
          (unsigned long long)wid, voters, observers);
    return wid;
  }
  c->tot.reconfigs_refused++;
  trace(c, 1, "node %d: reconfig refused: %s", node, zab_err_name(*rc));
  return 0;
}

void cluster_start_joiner(struct cluster *c, int node) {
  struct node *nd = &c->nodes[node];
  if (nd->up)
    return;
  trace(c, 1, "node %d: START (joiner, told configuration %llx)", node,
        (unsigned long long)c->g_version);
  node_start(c, nd, true);
}

void cluster_start_joiner_named(struct cluster *c, int node) {
  struct node *nd = &c->nodes[node];
  if (nd->up)
    return;
  nd->names_self = true;
  trace(c, 1, "node %d: START (joiner naming itself a voter)", node);
  node_start(c, nd, false);
}

void cluster_config(const struct cluster *c, uint32_t *voters,
                    uint32_t *observers, uint64_t *version) {
  *voters = c->g_voters;
  *observers = c->g_observers;
  *version = c->g_version;
}

static int pick_bit(struct cluster *c, uint32_t mask) {
  int n = popcount(mask);
  if (n == 0)
    return -1;
  int k = (int)rng_range(&c->rng, 0, (uint64_t)n - 1);
  for (int i = 0; i < SIM_MAX_NODES; i++)
    if ((mask >> i) & 1u && k-- == 0)
      return i;
  return -1;
}

/* A random change at the serving leader: add a server that follows as a
 * joiner (starting one first if none does), remove one (the leader too),
 * replace one (a non-incremental change), or turn a voter into an observer
 * or back.  Voters stay between 2 and 5. */
static void random_reconfig(struct cluster *c) {
  int l = -1;
  for (int i = 0; i < c->n; i++)
    if (c->nodes[i].up && c->nodes[i].role == ZAB_ROLE_LEADING &&
        c->nodes[i].serving)
      l = i;
  if (l < 0)
    return;
  struct zab_member mem[ZAB_MAX_MEMBERS];
  uint64_t version;
  size_t n = zab_config_get(c->nodes[l].z, mem, ZAB_MAX_MEMBERS, &version);
  uint32_t v, o;
  conf_masks(mem, n, &v, &o);
  uint32_t all = (1u << c->n) - 1, outside = all & ~(v | o), joiners = 0;
  for (int i = 0; i < c->n; i++)
    if ((outside >> i) & 1u && c->nodes[i].up && !node_removed(&c->nodes[i]))
      joiners |= 1u << i;
  int op = (int)rng_range(&c->rng, 0, 4);
  if ((op == 0 || op == 3) && joiners == 0) {
    int s = pick_bit(c, outside & ~joiners);
    if (s >= 0 && !c->nodes[s].up)
      cluster_start_joiner(c, s); /* added by a later change */
    return;
  }
  int a = -1, r = -1;
  switch (op) {
  case 0: /* add a voter or an observer */
    a = pick_bit(c, joiners);
    if (popcount(v) < 5 && rng_ppm(&c->rng, 700000))
      v |= 1u << a;
    else
      o |= 1u << a;
    break;
  case 1: /* remove a voter or an observer, maybe the leader */
    r = pick_bit(c, popcount(v) > 2 ? v | o : o);
    if (r < 0)
      return;
    v &= ~(1u << r);
    o &= ~(1u << r);
    break;
  case 2: /* voter <-> observer */
    r = pick_bit(c, popcount(v) > 2 ? v | o : o);
    if (r < 0 || (((o >> r) & 1u) && popcount(v) >= 5))
      return;
    v ^= 1u << r;
    o ^= 1u << r;
    break;
  case 3: /* replace a voter by a joiner, in one change */
    a = pick_bit(c, joiners);
    r = pick_bit(c, v);
    v = (v & ~(1u << r)) | 1u << a;
    break;
  default: /* re-propose the same membership (a no-op change) */
    break;
  }
  int rc;
  cluster_reconfig(c, l, v, o, &rc);
}

/* ------------------------------------------------------------------ */
/* Faults */

static void schedule_fault(struct cluster *c, enum ev_kind k, uint64_t mean) {
  schedule(c, mkev(k, c->now + rng_range(&c->rng, mean / 4, mean * 2), -1, -1));
}

static void random_partition(struct cluster *c) {
  for (int i = 0; i < c->n; i++)
    c->side[i] = (int)rng_range(&c->rng, 0, 1);
  c->partitioned = true;
  c->tot.partitions++;
  trace(c, 1, "PARTITION");
  links_update(c);
}

void cluster_heal(struct cluster *c) {
  memset(c->deaf, 0, sizeof c->deaf);
  c->oneway = false;
  for (int i = 0; i < c->n; i++)
    c->side[i] = 0;
  for (int a = 0; a < c->n; a++)
    for (int b = a + 1; b < c->n; b++)
      c->links[a][b].cut_until = 0;
  c->partitioned = false;
  trace(c, 1, "HEAL");
  links_update(c);
}

void cluster_partition(struct cluster *c, const char *groups) {
  /* Every node alone unless listed in a group. */
  for (int i = 0; i < c->n; i++)
    c->side[i] = 100 + i;
  int g = 0;
  for (const char *p = groups; *p; p++) {
    if (*p == '{')
      g++;
    else if (*p >= '0' && *p <= '9') {
      int node = (int)strtol(p, (char **)&p, 10);
      p--;
      if (node < c->n)
        c->side[node] = g;
    }
  }
  c->partitioned = true;
  trace(c, 1, "PARTITION %s", groups);
  links_update(c);
}

void cluster_oneway(struct cluster *c, int node, bool inbound) {
  for (int i = 0; i < c->n; i++) {
    if (i == node)
      continue;
    if (inbound)
      c->deaf[node][i] = true; /* node hears nobody */
    else
      c->deaf[i][node] = true; /* nobody hears node */
  }
  c->oneway = true;
  c->tot.partitions++;
  trace(c, 1, "ONE-WAY: node %d %s", node,
        inbound ? "hears nobody" : "is heard by nobody");
}

bool cluster_resign(struct cluster *c, int node, bool told) {
  struct node *nd = &c->nodes[node];
  if (!nd->up)
    return false;
  trace(c, 1, "node %d: RESIGN%s", node, told ? "" : " (nobody told)");
  struct zab_event ev = {.type = ZAB_EV_RESIGN, .now_ms = c->now};
  c->muzzle_stepdown = !told;
  node_step(c, nd, &ev, NULL);
  c->muzzle_stepdown = false;
  return true;
}

void cluster_kill(struct cluster *c, int node) {
  node_crash(c, &c->nodes[node]);
}

void cluster_restart(struct cluster *c, int node) {
  if (!c->nodes[node].up) {
    trace(c, 1, "node %d: RESTART", node);
    node_start(c, &c->nodes[node], false);
  }
}

/* ------------------------------------------------------------------ */
/* One step */

static int serving_leader(const struct cluster *c);

static void deliver(struct cluster *c, struct sim_ev *ev) {
  struct node *nd = &c->nodes[ev->node];
  struct link *l = link_of(c, ev->node, ev->peer);
  if (!nd->up || !l->up || l->gen != ev->gen)
    return;
  struct zab_msg m;
  const char *why;
  if (zab_msg_decode(ev->bytes, ev->len, 1u << 20, &m, &why) != ZAB_OK) {
    /* What the server will do with an undecodable frame: drop it and say
     * why (here the garbling was ours, so only trace it). */
    trace(c, 2, "node %d: undecodable message from %d: %s", ev->node, ev->peer,
          why);
    return;
  }
  trace(c, 2, "recv %d->%d %s e=%u z=%llx", ev->peer, ev->node,
        zab_msg_type_name((int)m.type), m.epoch, (unsigned long long)m.zxid);
  struct zab_event zev = {.type = ZAB_EV_MESSAGE, .now_ms = c->now};
  zev.message.from = c->nodes[ev->peer].id;
  zev.message.msg = &m;
  node_step(c, nd, &zev, NULL);
}

static void handle(struct cluster *c, struct sim_ev *ev) {
  /* Cluster-wide events (node -1) do not use nd. */
  struct node *nd = &c->nodes[ev->node >= 0 ? ev->node : 0];
  switch (ev->kind) {
  case EV_DELIVER:
    deliver(c, ev);
    break;
  case EV_TICK: {
    if (!nd->up || ev->arg != nd->incarnation || ev->gen != nd->timer_gen)
      break;
    if (c->now == nd->last_tick_ms) {
      if (++nd->ticks_at_same_ms > 1000) {
        fail(c, "I6 node %d: timer does not advance (%llu)", nd->idx,
             (unsigned long long)zab_next_timeout_ms(nd->z));
        break;
      }
    } else {
      nd->ticks_at_same_ms = 0;
      nd->last_tick_ms = c->now;
    }
    nd->timer_at = 0;
    struct zab_event zev = {.type = ZAB_EV_TICK, .now_ms = c->now};
    node_step(c, nd, &zev, NULL);
    break;
  }
  case EV_FSYNC: {
    if (!nd->up || ev->gen != nd->incarnation)
      break;
    nd->fsync_scheduled = false;
    nd->disk.n_synced = nd->disk.n;
    struct zab_event zev = {.type = ZAB_EV_DURABLE, .now_ms = c->now};
    zev.durable.zxid = disk_last(&nd->disk);
    node_step(c, nd, &zev, NULL);
    break;
  }
  case EV_PEER: {
    if (!nd->up || ev->gen != nd->incarnation)
      break;
    struct zab_event zev = {.type = ev->arg ? ZAB_EV_PEER_UP : ZAB_EV_PEER_DOWN,
                            .now_ms = c->now};
    zev.peer.id = c->nodes[ev->peer].id;
    node_step(c, nd, &zev, NULL);
    break;
  }
  case EV_CONNECT:
    on_connect(c, ev->node, ev->peer);
    break;
  case EV_CRASH:
    if (!c->faults)
      break;
    {
      struct node *v = &c->nodes[rng_range(&c->rng, 0, (uint64_t)c->n - 1)];
      if (v->up) {
        node_crash(c, v);
        struct sim_ev r =
            mkev(EV_RESTART, c->now + rng_range(&c->rng, 50, 2500), v->idx, -1);
        r.gen = v->incarnation;
        schedule(c, r);
      }
      schedule_fault(c, EV_CRASH, 1500);
    }
    break;
  case EV_RESTART:
    if (nd->up || ev->gen != nd->incarnation)
      break;
    cluster_restart(c, nd->idx);
    break;
  case EV_PARTITION:
    if (!c->faults)
      break;
    if (!c->partitioned) {
      random_partition(c);
      schedule(c,
               mkev(EV_HEAL, c->now + rng_range(&c->rng, 100, 2500), -1, -1));
    }
    schedule_fault(c, EV_PARTITION, 3000);
    break;
  case EV_HEAL:
    cluster_heal(c);
    break;
  case EV_CUT:
    if (!c->faults)
      break;
    {
      int a = (int)rng_range(&c->rng, 0, (uint64_t)c->n - 1);
      int b = (int)rng_range(&c->rng, 0, (uint64_t)c->n - 1);
      if (a != b) {
        struct link *l = link_of(c, a, b);
        l->cut_until = c->now + rng_range(&c->rng, 30, 800);
        schedule(c, mkev(EV_UNCUT, l->cut_until, a, b));
        links_update(c);
      }
      schedule_fault(c, EV_CUT, 1000);
    }
    break;
  case EV_UNCUT:
    links_update(c);
    break;
  case EV_ONEWAY:
    if (!c->faults)
      break;
    if (!c->oneway) {
      /* Usually the leader (the case that matters), else anyone. */
      int l = serving_leader(c);
      int v = l >= 0 && rng_ppm(&c->rng, 700000)
                  ? l
                  : (int)rng_range(&c->rng, 0, (uint64_t)c->n - 1);
      cluster_oneway(c, v, rng_ppm(&c->rng, 500000));
      schedule(c, mkev(EV_ONEWAY_HEAL, c->now + rng_range(&c->rng, 100, 2500),
                       -1, -1));
    }
    schedule_fault(c, EV_ONEWAY, 3000);
    break;
  case EV_ONEWAY_HEAL:
    memset(c->deaf, 0, sizeof c->deaf);
    c->oneway = false;
    trace(c, 1, "ONE-WAY healed");
    break;
  case EV_STEPDOWN:
    if (!c->faults)
      break;
    {
      int l = serving_leader(c);
      if (l >= 0)
        cluster_resign(c, l, false);
      schedule_fault(c, EV_STEPDOWN, 4000);
    }
    break;
  case EV_RECONFIG:
    if (!c->faults)
      break;
    random_reconfig(c);
    schedule_fault(c, EV_RECONFIG, 1200);
    break;
  case EV_WRITE:
    if (!c->writes)
      break;
    cluster_write(c, (int)rng_range(&c->rng, 0, (uint64_t)c->n - 1));
    schedule(c, mkev(EV_WRITE, c->now + rng_range(&c->rng, 2, 40), -1, -1));
    break;
  case EV_FORWARD: {
    struct link *l = link_of(c, ev->node, ev->peer);
    if (!l->up || l->gen != ev->gen || !propose_at(c, nd, ev->arg))
      c->tot.refused++;
    break;
  }
  case EV_SLOWDISK:
    if (!c->faults)
      break;
    {
      struct node *v = &c->nodes[rng_range(&c->rng, 0, (uint64_t)c->n - 1)];
      v->slow_disk = !v->slow_disk;
      schedule_fault(c, EV_SLOWDISK, 1500);
    }
    break;
  }
}

/* A leader's view of its learners (zab_learners_get, for the server's
 * lag metric) never claims more than it has: nobody acknowledged a zxid
 * beyond the leader's log, and the lag is within the current counter. */
static void check_learners(struct cluster *c, const struct node *nd) {
  struct zab_learner l[ZAB_MAX_MEMBERS];
  size_t n = zab_learners_get(nd->z, l, ZAB_MAX_MEMBERS);
  if (n == 0)
    return;
  struct zab_status st;
  zab_status_get(nd->z, &st);
  for (size_t k = 0; k < n && k < ZAB_MAX_MEMBERS; k++) {
    uint64_t ref = l[k].observer ? st.commit_zxid : st.last_zxid;
    if (l[k].acked_zxid > st.last_zxid || l[k].lag > zab_zxid_counter(ref) ||
        (l[k].acked_zxid >= ref && l[k].lag != 0) ||
        (!l[k].synced && l[k].acked_zxid != 0))
      fail(c,
           "node %d: learner %u acked %llx lag %llu, leader last %llx "
           "commit %llx",
           nd->idx, l[k].id, (unsigned long long)l[k].acked_zxid,
           (unsigned long long)l[k].lag, (unsigned long long)st.last_zxid,
           (unsigned long long)st.commit_zxid);
  }
}

static void check_step(struct cluster *c) {
  for (int i = 0; i < c->n && !c->failed; i++) {
    const struct node *nd = &c->nodes[i];
    if (nd->up) {
      check_model(c, nd, &nd->st, "state");
      check_learners(c, nd);
    }
    check_model(c, nd, &nd->disk.snap, "snapshot on disk");
  }
}

bool cluster_step(struct cluster *c) {
  if (c->failed || c->n_heap == 0)
    return false;
  struct sim_ev ev = pop_event(c);
  c->now = ev.at;
  c->steps++;
  handle(c, &ev);
  free(ev.bytes);
  if (!c->failed)
    check_step(c);
  return !c->failed;
}

bool cluster_run_for(struct cluster *c, uint64_t ms) {
  uint64_t end = c->now + ms;
  while (!c->failed && c->n_heap > 0 && c->heap[0].at <= end)
    cluster_step(c);
  if (!c->failed && c->now < end)
    c->now = end;
  return !c->failed;
}

/* ------------------------------------------------------------------ */
/* Fixture helpers and liveness */

static int serving_leader(const struct cluster *c) {
  int best = -1;
  for (int i = 0; i < c->n; i++) {
    const struct node *nd = &c->nodes[i];
    if (nd->up && nd->role == ZAB_ROLE_LEADING && nd->serving &&
        (best < 0 || nd->epoch > c->nodes[best].epoch))
      best = i;
  }
  return best;
}

int cluster_wait_leader(struct cluster *c, uint64_t limit_ms) {
  uint64_t end = c->now + limit_ms;
  while (!c->failed) {
    int l = serving_leader(c);
    if (l >= 0)
      return l;
    if (c->n_heap == 0 || c->heap[0].at > end)
      break;
    cluster_step(c);
  }
  return -1;
}

bool cluster_write_acked(const struct cluster *c, uint64_t id) {
  for (size_t k = 0; k < c->n_ack; k++)
    if (c->ack[k].wid == id)
      return true;
  return false;
}

bool cluster_wait_acked(struct cluster *c, const uint64_t *ids, int n,
                        uint64_t limit_ms) {
  uint64_t end = c->now + limit_ms;
  for (;;) {
    bool all = true;
    for (int i = 0; i < n && all; i++)
      all = ids[i] != 0 && cluster_write_acked(c, ids[i]);
    if (all)
      return true;
    if (c->failed || c->n_heap == 0 || c->heap[0].at > end)
      return false;
    cluster_step(c);
  }
}

static bool converged(const struct cluster *c) {
  int l = serving_leader(c);
  if (l < 0)
    return false;
  uint64_t target = c->nodes[l].st.zxid;
  struct zab_status st;
  zab_status_get(c->nodes[l].z, &st);
  if (st.commit_zxid != target || st.last_zxid != target)
    return false; /* leader still has something in flight */
  struct zab_member mem[ZAB_MAX_MEMBERS];
  uint32_t v = ~0u, o = 0;
  if (c->o.reconfigs) {
    size_t n = zab_config_get(c->nodes[l].z, mem, ZAB_MAX_MEMBERS, NULL);
    conf_masks(mem, n, &v, &o);
  }
  for (int i = 0; i < c->n; i++) {
    const struct node *nd = &c->nodes[i];
    if (!nd->up || !(((v | o) >> i) & 1u))
      continue; /* a server outside the configuration need not serve */
    if (!nd->serving || nd->st.zxid != target ||
        (i != l && nd->leader != c->nodes[l].id))
      return false;
  }
  return true;
}

bool cluster_wait_converged(struct cluster *c, uint64_t limit_ms) {
  uint64_t end = c->now + limit_ms;
  while (!c->failed) {
    if (converged(c))
      return true;
    if (c->n_heap == 0 || c->heap[0].at > end)
      break;
    cluster_step(c);
  }
  return false;
}

/* L2: the serving leader resigns and the STEPDOWNs it sends are lost
 * (nobody told).  Its followers must still find out within a tick (their
 * next PING is refused) -- followers left to their own syncLimit timer
 * (the planted bug SILENT_STEPDOWN) take syncLimit ticks -- and a new
 * leader must commit a write within `ticks` ticks. */
static bool still_follows(const struct cluster *c, int i, uint32_t leader,
                          uint32_t epoch) {
  const struct node *nd = &c->nodes[i];
  return nd->up && nd->leader == leader && nd->epoch == epoch &&
         (nd->role == ZAB_ROLE_FOLLOWING || nd->role == ZAB_ROLE_OBSERVING);
}

static bool check_stepdown_found_out(struct cluster *c, uint32_t ticks) {
  int l = serving_leader(c);
  if (l < 0) {
    fail(c, "liveness L2: no serving leader to resign");
    return false;
  }
  uint32_t old_epoch = c->nodes[l].epoch, old_id = c->nodes[l].id;
  /* One tick for the next PING, and the refusal's round trip. */
  uint64_t start = c->now, told_by = start + SIM_TICK_MS + 20;
  uint64_t end = start + (uint64_t)ticks * SIM_TICK_MS;
  cluster_resign(c, l, false);
  uint64_t inflight = 0, inflight_until = 0, next_try = start;
  while (!c->failed) {
    if (c->now > told_by) {
      for (int i = 0; i < c->n; i++) {
        if (i != l && still_follows(c, i, old_id, old_epoch)) {
          fail(c,
               "liveness L2 (a leader that steps down is found out within a "
               "tick): node %d still follows node %d in epoch %u %llums "
               "after it resigned, nobody told",
               i, l, old_epoch, (unsigned long long)(c->now - start));
          return false;
        }
      }
      told_by = UINT64_MAX; /* checked once */
    }
    if (inflight && cluster_write_acked(c, inflight)) {
      for (size_t k = 0; k < c->n_ack; k++) {
        if (c->ack[k].wid == inflight &&
            zab_zxid_epoch(c->ack[k].zxid) <= old_epoch) {
          fail(c, "liveness L2: write acked in epoch %u, not after %u",
               zab_zxid_epoch(c->ack[k].zxid), old_epoch);
          return false;
        }
      }
      c->stepdown_ms = c->now - start;
      trace(c, 1, "L2: a new leader committed %llums after the resign",
            (unsigned long long)c->stepdown_ms);
      return true;
    }
    if (inflight && c->now > inflight_until)
      inflight = 0;
    if (!inflight && c->now >= next_try) {
      next_try = c->now + 5;
      inflight =
          cluster_write(c, (int)rng_range(&c->rng, 0, (uint64_t)c->n - 1));
      inflight_until = c->now + 100;
      if (inflight)
        continue;
    }
    if (c->n_heap == 0 || c->heap[0].at > end)
      break;
    cluster_step(c);
  }
  if (c->failed)
    return false;
  fail(c,
       "liveness L2 (after a leader steps down, a new leader commits within "
       "%u ticks = %llums): no write committed %llums after node %d "
       "resigned, nobody told",
       ticks, (unsigned long long)ticks * SIM_TICK_MS,
       (unsigned long long)(c->now - start), l);
  return false;
}

bool cluster_check_liveness(struct cluster *c, int n_writes, uint64_t limit_ms,
                            uint32_t stepdown_ticks) {
  if (c->failed)
    return false;
  c->faults = false;
  c->writes = false;
  for (int i = 0; i < c->n; i++)
    c->nodes[i].slow_disk = false;
  cluster_heal(c);
  /* Removed servers stopped for good; the operator restarts them, and
   * gives every server it restarts the current configuration. */
  for (int i = 0; c->o.reconfigs && i < c->n; i++)
    if (node_removed(&c->nodes[i]))
      node_crash(c, &c->nodes[i]);
  for (int i = 0; i < c->n; i++)
    if (!c->o.reconfigs)
      cluster_restart(c, i);
    else if (c->nodes[i].ever_started)
      cluster_start_joiner(c, i);
  uint64_t start = c->now, end = c->now + limit_ms;
  int done = 0;
  uint64_t inflight = 0, inflight_until = 0;
  while (!c->failed && c->now <= end) {
    bool conv = converged(c);
    if (conv && done == n_writes)
      break;
    if (inflight && cluster_write_acked(c, inflight)) {
      done++;
      inflight = 0;
      continue;
    }
    if (inflight && c->now > inflight_until)
      inflight = 0; /* refused on the way (forwarding); write again */
    if (conv && !inflight && done < n_writes) {
      /* A fresh write through a random node. */
      inflight =
          cluster_write(c, (int)rng_range(&c->rng, 0, (uint64_t)c->n - 1));
      inflight_until = c->now + 1000;
      if (inflight)
        continue;
    }
    if (c->n_heap == 0 || c->heap[0].at > end)
      break;
    cluster_step(c);
  }
  if (c->failed)
    return false;
  if (done < n_writes || !converged(c)) {
    int l = serving_leader(c);
    char roles[400];
    size_t off = 0;
    for (int i = 0; i < c->n && off < sizeof roles - 60; i++) {
      struct sim_node_info ni;
      cluster_node_info(c, i, &ni);
      off +=
          (size_t)snprintf(roles + off, sizeof roles - off, " %d:%s/%u/%s@%llx",
                           i, zab_role_name((enum zab_role)c->nodes[i].role),
                           c->nodes[i].epoch, c->nodes[i].serving ? "s" : "-",
                           (unsigned long long)c->nodes[i].st.zxid);
      if (c->o.reconfigs)
        off += (size_t)snprintf(roles + off, sizeof roles - off, "/c%llx%s",
                                (unsigned long long)ni.config_version,
                                ni.removed  ? "R"
                                : ni.voter  ? "v"
                                : ni.member ? "o"
                                            : "-");
    }
    fail(c,
         "liveness L1 (after the faults stop, a leader serves and writes "
         "commit everywhere): %d of %d writes committed and %s converged "
         "%llums after the faults stopped (leader %d;%s)",
         done, n_writes, converged(c) ? "" : "not",
         (unsigned long long)(c->now - start), l, roles);
    return false;
  }
  /* With an even number of voters (only reconfiguration makes one), the
   * followers can split 2-2 between two candidates that both look best
   * to someone (the resigned leader stands again), and a split is only
   * resolved when the learners' initLimit (10 ticks) runs out. */
  if (c->o.reconfigs && popcount(c->g_voters) % 2 == 0)
    stepdown_ticks += 10;
  return check_stepdown_found_out(c, stepdown_ticks);
}

/* ------------------------------------------------------------------ */
/* Construction */

void sim_opts_for_seed(struct sim_opts *o, uint64_t seed) {
  memset(o, 0, sizeof *o);
  struct rng r = {seed * 0x2545f4914f6cdd1dull + 1};
  o->seed = seed;
  o->n_voters = rng_ppm(&r, 300000) ? 5 : 3;
  o->n_observers = rng_ppm(&r, 250000) ? 1 : 0;
  o->faults = true;
  o->writes = true;
  /* Small windows make SNAP common; large ones make DIFF common. */
  o->diff_window_txns = rng_ppm(&r, 500000) ? 8 : 200;
  o->confirms = seed % 3 == 0;
  o->reconfigs = seed % 7 == 4 || seed % 7 == 6;
  o->n_spares = o->reconfigs ? 2 : 0;
}

struct cluster *cluster_new(const struct sim_opts *o) {
  struct cluster *c = calloc(1, sizeof *c);
  if (!c)
    abort();
  c->o = *o;
  c->rng.s = o->seed;
  c->n_static = o->n_voters + o->n_observers;
  if (c->n_static > SIM_MAX_NODES)
    c->n_static = SIM_MAX_NODES;
  c->n = c->n_static + o->n_spares;
  if (c->n > SIM_MAX_NODES)
    c->n = SIM_MAX_NODES;
  c->faults = o->faults;
  c->writes = o->writes;
  proto_writer_init(&c->w);
  for (int i = 0; i < c->n; i++) {
    c->members[i].id = (uint32_t)i + 1;
    c->members[i].observer = i >= o->n_voters;
    c->nodes[i].idx = i;
    c->nodes[i].id = (uint32_t)i + 1;
    c->nodes[i].observer = c->members[i].observer;
  }
  for (int i = 0; i < c->n_static; i++)
    if (c->members[i].observer)
      c->g_observers |= 1u << i;
    else
      c->g_voters |= 1u << i;
  for (int i = 0; i < c->n; i++) {
    c->nodes[i].disk.snap.voters = c->g_voters;
    c->nodes[i].disk.snap.observers = c->g_observers;
  }
  /* Nodes boot within the first 100 ms, not all at once; spares only
   * when a change adds them. */
  for (int i = 0; i < c->n_static; i++) {
    struct sim_ev ev = mkev(EV_RESTART, rng_range(&c->rng, 0, 100), i, -1);
    ev.gen = c->nodes[i].incarnation;
    schedule(c, ev);
  }
  if (c->writes)
    schedule(c, mkev(EV_WRITE, 150, -1, -1));
  if (c->faults) {
    schedule_fault(c, EV_CRASH, 1500);
    schedule_fault(c, EV_PARTITION, 3000);
    schedule_fault(c, EV_CUT, 1000);
    schedule_fault(c, EV_SLOWDISK, 1500);
    schedule_fault(c, EV_ONEWAY, 3000);
    schedule_fault(c, EV_STEPDOWN, 4000);
    if (o->reconfigs)
      schedule_fault(c, EV_RECONFIG, 1200);
  }
  return c;
}

void cluster_free(struct cluster *c) {
  if (!c)
    return;
  for (int i = 0; i < c->n; i++) {
    struct node *nd = &c->nodes[i];
    zab_destroy(nd->z);
    disk_cut(&nd->disk, 0);
    free(nd->disk.log);
    free(nd->pend);
  }
  for (size_t i = 0; i < c->n_heap; i++)
    free(c->heap[i].bytes);
  free(c->heap);
  free(c->h);
  free(c->ack);
  free(c->owners);
  proto_writer_free(&c->w);
  free(c);
}

bool cluster_failed(const struct cluster *c) { return c->failed; }
const char *cluster_failure(const struct cluster *c) { return c->failure; }
uint64_t cluster_steps(const struct cluster *c) { return c->steps; }
uint64_t cluster_now(const struct cluster *c) { return c->now; }
int cluster_n_nodes(const struct cluster *c) { return c->n; }
uint64_t cluster_history_len(const struct cluster *c) { return c->n_h; }

void cluster_node_info(const struct cluster *c, int node,
                       struct sim_node_info *out) {
  const struct node *nd = &c->nodes[node];
  memset(out, 0, sizeof *out);
  out->up = nd->up;
  out->role = nd->role;
  out->epoch = nd->epoch;
  out->serving = nd->serving;
  out->applied_zxid = nd->st.zxid;
  out->applied_count = nd->st.pos;
  out->log_len = nd->disk.n;
  out->config_version = nd->st.conf_version;
  out->n_sync_diff = nd->old_diff;
  out->n_sync_trunc = nd->old_trunc;
  out->n_sync_snap = nd->old_snap;
  if (nd->up) {
    struct zab_status st;
    zab_status_get(nd->z, &st);
    out->n_sync_diff += st.n_sync_diff;
    out->n_sync_trunc += st.n_sync_trunc;
    out->n_sync_snap += st.n_sync_snap;
    out->member = st.member;
    out->voter = st.voter;
    out->removed = st.removed;
    out->config_version = st.config_version;
  }
}

void cluster_totals(const struct cluster *c, struct sim_totals *t) {
  *t = c->tot;
  t->steps = c->steps;
  t->stepdown_ms = c->stepdown_ms;
  t->sim_ms = c->now;
  for (int i = 0; i < c->n; i++) {
    struct sim_node_info ni;
    cluster_node_info(c, i, &ni);
    t->sync_diff += ni.n_sync_diff;
    t->sync_trunc += ni.n_sync_trunc;
    t->sync_snap += ni.n_sync_snap;
    t->dropped_msgs += c->nodes[i].old_dropped;
    if (c->nodes[i].up) {
      struct zab_status st;
      zab_status_get(c->nodes[i].z, &st);
      t->dropped_msgs += st.n_dropped;
    }
  }
}
