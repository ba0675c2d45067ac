/* zab core: the object, its in-memory log, the action queue, event
 * dispatch and the phase-independent parts (commit, window, role changes).
 * The phases live in election.c (fast leader election), leader.c
 * (discovery, synchronisation and broadcast as leader) and learner.c (the
 * same phases as follower or observer).  See docs/zab.md. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zab/zab_int.h"

/* ------------------------------------------------------------------ */
/* Names */

const char *zab_strerror(int err) {
  switch (err) {
#define ZAB_ERR_MSG(name, value, msg)                                          \
  case value:                                                                  \
    return msg;
    ZAB_ERR_MAP(ZAB_ERR_MSG)
#undef ZAB_ERR_MSG
  }
  return "unknown error";
}

const char *zab_err_name(int err) {
  switch (err) {
#define ZAB_ERR_NAME(name, value, msg)                                         \
  case value:                                                                  \
    return #name;
    ZAB_ERR_MAP(ZAB_ERR_NAME)
#undef ZAB_ERR_NAME
  }
  return "UNKNOWN";
}

const char *zab_role_name(enum zab_role role) {
  switch (role) {
  case ZAB_ROLE_LOOKING:
    return "looking";
  case ZAB_ROLE_FOLLOWING:
    return "following";
  case ZAB_ROLE_LEADING:
    return "leading";
  case ZAB_ROLE_OBSERVING:
    return "observing";
  }
  return "unknown";
}

const char *zab_action_name(enum zab_action_type t) {
  switch (t) {
  case ZAB_ACT_SEND:
    return "SEND";
  case ZAB_ACT_SEND_SNAP:
    return "SEND_SNAP";
  case ZAB_ACT_APPEND:
    return "APPEND";
  case ZAB_ACT_TRUNCATE:
    return "TRUNCATE";
  case ZAB_ACT_INSTALL_SNAP:
    return "INSTALL_SNAP";
  case ZAB_ACT_PERSIST_EPOCH:
    return "PERSIST_EPOCH";
  case ZAB_ACT_COMMIT:
    return "COMMIT";
  case ZAB_ACT_ROLE:
    return "ROLE";
  case ZAB_ACT_CONFIRMED:
    return "CONFIRMED";
  }
  return "UNKNOWN";
}

/* ------------------------------------------------------------------ */
/* Small helpers */

void zab__log_msg(struct zab *z, int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(z->errmsg, sizeof z->errmsg, fmt, ap);
  va_end(ap);
  if (z->cfg.log_cb)
    z->cfg.log_cb(z->cfg.log_ctx, level, z->errmsg);
}

void zab__drop(struct zab *z, uint32_t from, const struct zab_msg *m,
               const char *reason) {
  z->stats.n_dropped++;
  zab__log_msg(z, 1, "zab %u: dropped %s from %u (epoch %u zxid %llx): %s",
               z->cfg.my_id, zab_msg_type_name((int)m->type), from, m->epoch,
               (unsigned long long)m->zxid, reason);
}

/* splitmix64: small, seedable, good enough for jitter and session ids. */
uint64_t zab__rand(struct zab *z) {
  uint64_t x = (z->rng += 0x9e3779b97f4a7c15ull);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

int zab__member_index(const struct zab *z, uint32_t id) {
  for (size_t i = 0; i < z->n_members; i++)
    if (z->members[i].id == id)
      return (int)i;
  return -1;
}

bool zab__is_voter_index(const struct zab *z, size_t i) {
  return !z->members[i].observer;
}

size_t zab__quorum(const struct zab *z) { return z->n_voters / 2 + 1; }

/* A txn log is a history: counters are consecutive inside an epoch and a
 * new epoch starts at counter 1.  Checking this on every append is what
 * turns a lost, duplicated or reordered message into a detected gap. */
bool zab__zxid_follows(uint64_t prev, uint64_t next) {
  uint32_t pe = zab_zxid_epoch(prev), ne = zab_zxid_epoch(next);
  uint32_t pc = zab_zxid_counter(prev), nc = zab_zxid_counter(next);
  if (ne == pe)
    return pc != UINT32_MAX && nc == pc + 1;
  return ne > pe && nc == 1;
}

/* ------------------------------------------------------------------ */
/* In-memory log */

size_t zab__log_count(const struct zab__log *l) { return l->n - l->head; }

struct zab__entry *zab__log_at(const struct zab__log *l, size_t i) {
  return &l->e[l->head + i];
}

/* Index of the first entry with zxid > zxid (binary search). */
size_t zab__log_upper(const struct zab__log *l, uint64_t zxid) {
  size_t lo = 0, hi = zab__log_count(l);
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (zab__log_at(l, mid)->zxid <= zxid)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

bool zab__log_find(const struct zab__log *l, uint64_t zxid, size_t *index) {
  size_t u = zab__log_upper(l, zxid);
  if (u == 0 || zab__log_at(l, u - 1)->zxid != zxid)
    return false;
  if (index)
    *index = u - 1;
  return true;
}

int zab__log_append(struct zab__log *l, uint64_t zxid, const uint8_t *data,
                    uint32_t len) {
  if (l->n == l->cap) {
    if (l->head > 0) {
      /* Reuse the space freed at the front before growing. */
      memmove(l->e, l->e + l->head, (l->n - l->head) * sizeof *l->e);
      l->n -= l->head;
      l->head = 0;
    }
    if (l->n == l->cap) {
      size_t cap = l->cap ? l->cap * 2 : 64;
      struct zab__entry *ne = realloc(l->e, cap * sizeof *ne);
      if (!ne)
        return ZAB_ENOMEM;
      l->e = ne;
      l->cap = cap;
    }
  }
  uint8_t *copy = NULL;
  if (len > 0) {
    copy = malloc(len);
    if (!copy)
      return ZAB_ENOMEM;
    memcpy(copy, data, len);
  }
  l->e[l->n++] = (struct zab__entry){zxid, copy, len};
  l->bytes += len;
  return ZAB_OK;
}

static void log_pop_front(struct zab__log *l) {
  struct zab__entry *e = &l->e[l->head++];
  l->base = e->zxid;
  l->bytes -= e->len;
  free(e->data);
  e->data = NULL;
}

void zab__log_truncate(struct zab__log *l, uint64_t zxid) {
  size_t keep = zab__log_upper(l, zxid);
  while (zab__log_count(l) > keep) {
    struct zab__entry *e = &l->e[--l->n];
    l->bytes -= e->len;
    free(e->data);
    e->data = NULL;
  }
}

void zab__log_reset(struct zab__log *l, uint64_t base) {
  zab__log_truncate(l, 0);
  l->head = l->n = 0;
  l->base = base;
}

static void log_free(struct zab__log *l) {
  zab__log_reset(l, 0);
  free(l->e);
  l->e = NULL;
  l->cap = 0;
}

uint64_t zab__last_zxid(const struct zab *z) {
  size_t n = zab__log_count(&z->log);
  return n ? zab__log_at(&z->log, n - 1)->zxid : z->log.base;
}

/* ------------------------------------------------------------------ */
/* Action queue */

void zab__push(struct zab *z, const struct zab_action *a, const uint8_t *data,
               uint32_t len) {
  if (z->oom)
    return; /* keep the queue a prefix of the output; see zab_step */
  if (z->q_n == z->q_cap) {
    if (z->q_head > 0) {
      memmove(z->q, z->q + z->q_head, (z->q_n - z->q_head) * sizeof *z->q);
      z->q_n -= z->q_head;
      z->q_head = 0;
    }
    if (z->q_n == z->q_cap) {
      /* The driver drains after every step, so the queue holds one step's
       * output; the cap only guards against a driver that never drains. */
      size_t cap = z->q_cap ? z->q_cap * 2 : 64;
      struct zab__qaction *nq =
          cap <= ZAB__QUEUE_MAX ? realloc(z->q, cap * sizeof *nq) : NULL;
      if (!nq) {
        z->oom = true;
        return;
      }
      z->q = nq;
      z->q_cap = cap;
    }
  }
  struct zab__qaction *qa = &z->q[z->q_n];
  qa->a = *a;
  qa->owned = NULL;
  if (len > 0) {
    qa->owned = malloc(len);
    if (!qa->owned) {
      z->oom = true;
      return;
    }
    memcpy(qa->owned, data, len);
  }
  if (a->type == ZAB_ACT_SEND || a->type == ZAB_ACT_SEND_SNAP) {
    qa->a.msg.data = qa->owned;
    qa->a.msg.len = len;
  } else {
    qa->a.data = qa->owned;
    qa->a.len = len;
  }
  z->q_n++;
}

void zab__push_send(struct zab *z, uint32_t to, const struct zab_msg *m) {
  struct zab_action a = {.type = ZAB_ACT_SEND, .peer = to, .msg = *m};
  zab__push(z, &a, m->data, m->len);
}

void zab__push_send_snap(struct zab *z, uint32_t to, const struct zab_msg *m) {
  struct zab_action a = {.type = ZAB_ACT_SEND_SNAP, .peer = to, .msg = *m};
  a.msg.data = NULL;
  a.msg.len = 0;
  zab__push(z, &a, NULL, 0);
}

void zab__persist_epochs(struct zab *z, uint32_t accepted, uint32_t current) {
  z->accepted_epoch = accepted;
  z->current_epoch = current;
  struct zab_action a = {.type = ZAB_ACT_PERSIST_EPOCH,
                         .accepted_epoch = accepted,
                         .current_epoch = current};
  zab__push(z, &a, NULL, 0);
}

void zab__announce(struct zab *z) {
  if (z->announced_any && z->announced_role == z->role &&
      z->announced_leader == z->leader_id && z->announced_epoch == z->epoch &&
      z->announced_serving == z->serving)
    return;
  z->announced_any = true;
  z->announced_role = z->role;
  z->announced_leader = z->leader_id;
  z->announced_epoch = z->epoch;
  z->announced_serving = z->serving;
  struct zab_action a = {.type = ZAB_ACT_ROLE,
                         .role = z->role,
                         .leader = z->leader_id,
                         .epoch = z->epoch,
                         .serving = z->serving};
  zab__push(z, &a, NULL, 0);
}

bool zab_action_next(struct zab *z, struct zab_action *a) {
  free(z->popped_owned);
  z->popped_owned = NULL;
  if (z->q_head == z->q_n) {
    z->q_head = z->q_n = 0;
    return false;
  }
  struct zab__qaction *qa = &z->q[z->q_head++];
  *a = qa->a;
  z->popped_owned = qa->owned;
  return true;
}

/* ------------------------------------------------------------------ */
/* Commit and the DIFF window (every role) */

/* Emits COMMIT for every txn in (commit_zxid, zxid], in zxid order.  The
 * caller has established that they are committed. */
void zab__commit_to(struct zab *z, uint64_t zxid) {
  if (zxid <= z->commit_zxid)
    return;
  assert(zxid <= zab__last_zxid(z));
  size_t i = zab__log_upper(&z->log, z->commit_zxid);
  size_t n = zab__log_count(&z->log);
  for (; i < n; i++) {
    struct zab__entry *e = zab__log_at(&z->log, i);
    if (e->zxid > zxid)
      break;
    struct zab_action a = {.type = ZAB_ACT_COMMIT, .zxid = e->zxid};
    zab__push(z, &a, e->data, e->len);
  }
  z->commit_zxid = zxid;
  zab__trim_window(z);
}

/* Keeps at most diff_window_txns committed txns and diff_window_bytes in
 * memory; older history is served by SNAP.  Uncommitted txns are never
 * dropped: they are what a new leader must still propagate. */
void zab__trim_window(struct zab *z) {
  struct zab__log *l = &z->log;
  size_t committed = zab__log_upper(l, z->commit_zxid);
  while (committed > 0 && (committed > z->cfg.diff_window_txns ||
                           l->bytes > z->cfg.diff_window_bytes)) {
    log_pop_front(l);
    committed--;
  }
}

/* ------------------------------------------------------------------ */
/* Role change to LOOKING, from any phase. */

void zab__send_stepdown(struct zab *z, uint32_t to, uint64_t session) {
  if (z->cfg.test_bugs & ZAB_TEST_BUG_SILENT_STEPDOWN)
    return; /* planted bug: everyone finds out by their timers */
  struct zab_msg m = {
      .type = ZAB_MSG_STEPDOWN, .epoch = z->epoch, .session = session};
  zab__push_send(z, to, &m);
}

/* Tells the other end of every session we hold that it ends now, so that
 * nobody waits for a timer to find out (ZooKeeper's leader closes its
 * learner connections when it stops leading; a follower its socket). */
static void leave_sessions(struct zab *z) {
  if (z->role == ZAB_ROLE_LEADING) {
    for (size_t i = 0; i < z->n_members; i++)
      if (i != z->my_index && z->ld.h[i].phase != H_NONE)
        zab__send_stepdown(z, z->members[i].id, z->ld.h[i].session);
  } else if (z->role != ZAB_ROLE_LOOKING && z->ln.session != 0) {
    zab__send_stepdown(z, z->leader_id, z->ln.session);
  }
}

void zab__refuse(struct zab *z, uint32_t from, const struct zab_msg *m) {
  /* A FOLLOWERINFO may reach a LOOKING member just before it decides to
   * lead (the learner decided first): that one waits for the re-send.
   * One that reaches a member settled on another leader is refused, so
   * that the learner elects again rather than wait for initLimit. */
  if ((m->type == ZAB_MSG_FOLLOWERINFO && z->role == ZAB_ROLE_LOOKING) ||
      m->type == ZAB_MSG_NOTIFICATION || m->type == ZAB_MSG_STEPDOWN ||
      m->session == 0)
    return;
  zab__send_stepdown(z, from, m->session);
}

uint64_t zab__health_ms(const struct zab *z) {
  uint32_t ticks = (z->cfg.sync_limit + 1) / 2;
  return (uint64_t)(ticks < 2 ? 2 : ticks) * z->cfg.tick_ms;
}

void zab__go_looking(struct zab *z, const char *reason) {
  zab__log_msg(z, 1, "zab %u: %s -> looking: %s", z->cfg.my_id,
               zab_role_name(z->role), reason);
  leave_sessions(z);
  memset(&z->ld, 0, sizeof z->ld);
  memset(&z->ln, 0, sizeof z->ln);
  zab__election_start(z);
}

/* ------------------------------------------------------------------ */
/* Object */

void zab_config_defaults(struct zab_config *c) {
  memset(c, 0, sizeof *c);
  c->tick_ms = 2000;
  c->init_limit = 10;
  c->sync_limit = 5;
  c->election_min_ms = 200;
  c->election_max_ms = 60000;
  c->finalize_wait_ms = 200;
  c->diff_window_txns = 500;
  c->diff_window_bytes = 16u << 20;
  c->max_outstanding = 1000;
  c->max_txn_bytes = 1u << 20;
}

static int config_bad(const char **why, const char *msg) {
  if (why)
    *why = msg;
  return ZAB_EINVAL;
}

int zab_create(const struct zab_config *c, struct zab **out, const char **why) {
  *out = NULL;
  if (why)
    *why = "ok";
  if (c->n_members == 0 || c->n_members > ZAB_MAX_MEMBERS || !c->members)
    return config_bad(why, "members: 1 to ZAB_MAX_MEMBERS needed");
  if (c->tick_ms == 0 || c->init_limit == 0 || c->sync_limit == 0)
    return config_bad(why, "tick_ms, init_limit and sync_limit must be > 0");
  if (c->election_min_ms == 0 || c->election_max_ms < c->election_min_ms)
    return config_bad(why, "election_min_ms > 0 and <= election_max_ms");
  if (c->max_outstanding == 0 || c->max_txn_bytes == 0)
    return config_bad(why, "max_outstanding and max_txn_bytes must be > 0");
  size_t voters = 0;
  int me = -1;
  for (size_t i = 0; i < c->n_members; i++) {
    if (c->members[i].id == 0)
      return config_bad(why, "member id 0 is reserved");
    for (size_t j = 0; j < i; j++)
      if (c->members[j].id == c->members[i].id)
        return config_bad(why, "duplicate member id");
    if (!c->members[i].observer)
      voters++;
    if (c->members[i].id == c->my_id)
      me = (int)i;
  }
  if (me < 0)
    return config_bad(why, "my_id is not a member");
  if (voters == 0)
    return config_bad(why, "no voting member");

  struct zab *z = calloc(1, sizeof *z);
  if (!z)
    return ZAB_ENOMEM;
  z->cfg = *c;
  memcpy(z->members, c->members, c->n_members * sizeof *c->members);
  z->cfg.members = z->members;
  z->n_members = c->n_members;
  z->my_index = (size_t)me;
  z->n_voters = voters;
  z->i_am_observer = c->members[me].observer;
  z->rng = c->seed ^ ((uint64_t)c->my_id << 32);
  z->role = ZAB_ROLE_LOOKING;
  snprintf(z->errmsg, sizeof z->errmsg, "ok");
  *out = z;
  return ZAB_OK;
}

void zab_destroy(struct zab *z) {
  if (!z)
    return;
  log_free(&z->log);
  for (size_t i = z->q_head; i < z->q_n; i++)
    free(z->q[i].owned);
  free(z->q);
  free(z->popped_owned);
  free(z);
}

static int on_load(struct zab *z, const struct zab_event *ev) {
  if (z->loaded)
    return ZAB_STATE;
  const uint64_t base = ev->load.base_zxid;
  const uint64_t applied = ev->load.applied_zxid;
  if (ev->load.accepted_epoch < ev->load.current_epoch || applied < base)
    return ZAB_EINVAL;
  if (ev->load.n_entries > 0 && !ev->load.entries)
    return ZAB_EINVAL;
  uint64_t prev = base;
  for (size_t i = 0; i < ev->load.n_entries; i++) {
    const struct zab_entry *e = &ev->load.entries[i];
    if (!zab__zxid_follows(prev, e->zxid) || e->len > z->cfg.max_txn_bytes ||
        (e->len > 0 && !e->data))
      return ZAB_EINVAL;
    prev = e->zxid;
  }
  if (applied > prev)
    return ZAB_EINVAL;
  zab__log_reset(&z->log, base);
  for (size_t i = 0; i < ev->load.n_entries; i++) {
    const struct zab_entry *e = &ev->load.entries[i];
    if (zab__log_append(&z->log, e->zxid, e->data, e->len) != ZAB_OK) {
      zab__log_reset(&z->log, 0);
      return ZAB_ENOMEM;
    }
  }
  z->accepted_epoch = ev->load.accepted_epoch;
  z->current_epoch = ev->load.current_epoch;
  z->commit_zxid = applied;
  z->durable_zxid = prev; /* what was loaded is on disk */
  z->loaded = true;
  zab__trim_window(z);
  zab__election_start(z);
  return ZAB_OK;
}

static void on_message(struct zab *z, uint32_t from, const struct zab_msg *m) {
  int fi = zab__member_index(z, from);
  if (fi < 0 || (size_t)fi == z->my_index) {
    zab__drop(z, from, m, "sender is not another member");
    return;
  }
  zab__election_heard(z); /* we are not deaf */
  if (m->type == ZAB_MSG_NOTIFICATION) {
    zab__election_on_msg(z, from, m);
    return;
  }
  if ((m->type == ZAB_MSG_PROPOSAL || m->type == ZAB_MSG_INFORM) &&
      m->len > z->cfg.max_txn_bytes) {
    zab__drop(z, from, m, "txn larger than max_txn_bytes");
    return;
  }
  switch (z->role) {
  case ZAB_ROLE_LEADING:
    zab__leader_on_msg(z, from, m);
    return;
  case ZAB_ROLE_FOLLOWING:
  case ZAB_ROLE_OBSERVING:
    zab__learner_on_msg(z, from, m);
    return;
  case ZAB_ROLE_LOOKING:
    break;
  }
  if (m->type == ZAB_MSG_FOLLOWERINFO) {
    z->el.early[fi] = *m; /* see zab__lead */
    z->el.early[fi].data = NULL;
    z->el.early[fi].len = 0;
    return;
  }
  if (m->type == ZAB_MSG_STEPDOWN)
    return; /* of a session we no longer hold: nothing to undo */
  zab__drop(z, from, m, "not in a quorum phase (looking)");
  zab__refuse(z, from, m);
}

void zab__check(const struct zab *z) {
  uint64_t last = zab__last_zxid(z);
  (void)last;
  assert(z->my_index < z->n_members);
  assert(z->current_epoch <= z->accepted_epoch);
  assert(z->commit_zxid <= last);
  assert(z->durable_zxid <= last);
  /* Only a voter leads, and a leader is led by itself. */
  assert(z->role != ZAB_ROLE_LEADING ||
         (!z->i_am_observer && z->leader_id == z->cfg.my_id));
  assert(z->role != ZAB_ROLE_LOOKING || !z->serving);
}

int zab_step(struct zab *z, const struct zab_event *ev) {
  assert(z != NULL && ev != NULL);
  if (ev->now_ms > z->now_ms)
    z->now_ms = ev->now_ms;
  if (ev->type == ZAB_EV_LOAD)
    return on_load(z, ev);
  if (!z->loaded)
    return ZAB_STATE;
  if (z->oom)
    return ZAB_ENOMEM;
  zab__check(z);
  int rc = ZAB_OK;
  switch (ev->type) {
  case ZAB_EV_LOAD:
    break;
  case ZAB_EV_TICK:
    if (z->role == ZAB_ROLE_LOOKING)
      zab__election_tick(z);
    else if (z->role == ZAB_ROLE_LEADING)
      zab__leader_tick(z);
    else
      zab__learner_tick(z);
    break;
  case ZAB_EV_MESSAGE:
    if (!ev->message.msg)
      return ZAB_EINVAL;
    on_message(z, ev->message.from, ev->message.msg);
    break;
  case ZAB_EV_PROPOSE:
    if (ev->propose.len > 0 && !ev->propose.data)
      return ZAB_EINVAL;
    rc = zab__leader_propose(z, ev->propose.data, ev->propose.len,
                             ev->propose.zxid_out);
    break;
  case ZAB_EV_CONFIRM:
    rc = zab__leader_confirm(z, ev->confirm.round_out);
    break;
  case ZAB_EV_RESIGN:
    if (z->role != ZAB_ROLE_LOOKING)
      zab__go_looking(z, "resigned (shutting down, or told to)");
    break;
  case ZAB_EV_DURABLE: {
    uint64_t last = zab__last_zxid(z);
    uint64_t d = ev->durable.zxid < last ? ev->durable.zxid : last;
    if (d > z->durable_zxid)
      z->durable_zxid = d;
    if (z->role == ZAB_ROLE_LEADING)
      zab__leader_durable(z);
    else if (z->role != ZAB_ROLE_LOOKING)
      zab__learner_durable(z);
    break;
  }
  case ZAB_EV_PEER_UP:
  case ZAB_EV_PEER_DOWN: {
    int pi = zab__member_index(z, ev->peer.id);
    if (pi < 0 || (size_t)pi == z->my_index)
      return ZAB_EINVAL;
    bool up = ev->type == ZAB_EV_PEER_UP;
    if (up)
      zab__election_heard(z);
    if (z->role == ZAB_ROLE_LOOKING) {
      if (up)
        zab__election_peer_up(z, ev->peer.id);
    } else if (z->role == ZAB_ROLE_LEADING) {
      if (!up)
        zab__leader_peer_down(z, ev->peer.id);
    } else {
      zab__learner_peer(z, ev->peer.id, up);
    }
    break;
  }
  default:
    return ZAB_EINVAL;
  }
  zab__announce(z);
  if (z->oom) {
    /* Something could not be queued or kept: the actions queued so far are
     * a consistent prefix of the output, but the object's memory no longer
     * matches what the driver will have done.  It is dead from here on; the
     * driver recreates it from the persisted state (ZAB_EV_LOAD). */
    zab__log_msg(z, 1, "zab %u: out of memory; recreate from disk",
                 z->cfg.my_id);
    return ZAB_ENOMEM;
  }
  return rc;
}

uint64_t zab_next_timeout_ms(const struct zab *z) {
  if (!z->loaded)
    return UINT64_MAX;
  switch (z->role) {
  case ZAB_ROLE_LOOKING:
    return zab__election_timeout(z);
  case ZAB_ROLE_LEADING:
    return zab__leader_timeout(z);
  case ZAB_ROLE_FOLLOWING:
  case ZAB_ROLE_OBSERVING:
    return zab__learner_timeout(z);
  }
  return UINT64_MAX;
}

void zab_status_get(const struct zab *z, struct zab_status *st) {
  *st = z->stats;
  st->role = z->role;
  st->leader = z->leader_id;
  st->epoch = z->epoch;
  st->serving = z->serving;
  st->accepted_epoch = z->accepted_epoch;
  st->current_epoch = z->current_epoch;
  st->last_zxid = zab__last_zxid(z);
  st->commit_zxid = z->commit_zxid;
  st->durable_zxid = z->durable_zxid;
  st->base_zxid = z->log.base;
  st->n_synced_learners = 0;
  if (z->role == ZAB_ROLE_LEADING)
    for (size_t i = 0; i < z->n_members; i++)
      if (z->ld.h[i].phase == H_SYNCED)
        st->n_synced_learners++;
  uint64_t h = zab__health_ms(z), now = z->now_ms;
  if (z->role == ZAB_ROLE_LEADING)
    st->healthy =
        z->ld.established && zab__leader_healthy_voters(z, h) >= zab__quorum(z);
  else if (z->role != ZAB_ROLE_LOOKING)
    st->healthy = z->serving && now - z->ln.last_heard_ms <= h &&
                  now - z->ln.last_echo_ms <= h;
  else
    st->healthy = false;
}

const char *zab_errmsg(const struct zab *z) { return z->errmsg; }
