/* The leader: phases 1-3 of ZAB from the leader's side.
 *
 *   Phase 1, discovery:  collect FOLLOWERINFO (acceptedEpoch) from a quorum,
 *     choose e = max(acceptedEpoch) + 1, persist it as acceptedEpoch, send
 *     LEADERINFO(e); collect ACKEPOCH (currentEpoch, last zxid) from a
 *     quorum -- stepping down if one of them has a more recent history than
 *     ours -- then, once our own log is durable, persist currentEpoch = e.
 *   Phase 2, synchronisation: per learner, DIFF / TRUNC / SNAP + the missing
 *     txns + NEWLEADER; once a quorum (us included, with our log durable)
 *     sent ACKNEWLEADER, our whole log is committed and we are established:
 *     UPTODATE to the synced learners.
 *   Phase 3, broadcast: PROPOSAL to the voters, ACK after their fsync,
 *     COMMIT in zxid order once a quorum (our own durable log counts)
 *     acknowledged, INFORM to observers.
 * Heartbeats: PING every tick (echoing the learner's newest PING); a
 * learner silent for syncLimit ticks is dropped, and a leader left without
 * a quorum of fresh voters steps down -- telling its learners (STEPDOWN),
 * so that they do not wait for their own timers. */
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "zab/zab_int.h"

#include <assert.h>

static void try_decide_epoch(struct zab *z);
static void on_followerinfo(struct zab *z, size_t i, const struct zab_msg *m);

static uint64_t limit_ms(const struct zab *z, uint32_t ticks) {
  return (uint64_t)ticks * z->cfg.tick_ms;
}

static void send_to(struct zab *z, size_t i, enum zab_msg_type type,
                    uint64_t zxid) {
  struct zab_msg m = {.type = type,
                      .epoch = z->epoch,
                      .zxid = zxid,
                      .session = z->ld.h[i].session};
  zab__push_send(z, z->members[i].id, &m);
}

/* Sends log entry k (with the zxid before it, so that the learner can
 * tell a complete stream from one with a hole). */
static void send_entry(struct zab *z, size_t i, size_t k,
                       enum zab_msg_type type) {
  const struct zab__entry *e = zab__log_at(&z->log, k);
  struct zab_msg m = {.type = type,
                      .epoch = z->epoch,
                      .zxid = e->zxid,
                      .session = z->ld.h[i].session,
                      .prev_zxid =
                          k ? zab__log_at(&z->log, k - 1)->zxid : z->log.base,
                      .data = e->data,
                      .len = e->len};
  zab__push_send(z, z->members[i].id, &m);
}

void zab__lead(struct zab *z) {
  z->role = ZAB_ROLE_LEADING;
  z->leader_id = z->cfg.my_id;
  z->epoch = 0; /* not decided yet */
  z->serving = false;
  memset(&z->ld, 0, sizeof z->ld);
  z->ld.started_ms = z->now_ms;
  z->ld.next_ping_ms = z->now_ms + z->cfg.tick_ms;
  zab__announce(z);
  zab__log_msg(z, 0, "zab %u: leading (discovery)", z->cfg.my_id);
  if (z->cfg.config_of)
    /* Members of a pending change that did not vote for us (joiners,
     * observers being promoted) follow only a leader that says it leads:
     * say so now rather than when their backed-off re-send comes. */
    for (size_t i = 0; i < z->n_members; i++)
      if (i != z->my_index && zab__is_voter_index(z, i))
        zab__send_vote(z, z->members[i].id);
  /* Learners that decided before us already said hello. */
  struct zab_msg early[ZAB_MAX_MEMBERS];
  memcpy(early, z->el.early, sizeof early);
  memset(z->el.early, 0, sizeof z->el.early);
  for (size_t i = 0; i < z->n_members && z->role == ZAB_ROLE_LEADING; i++)
    if (early[i].type == ZAB_MSG_FOLLOWERINFO)
      on_followerinfo(z, i, &early[i]);
  if (z->role != ZAB_ROLE_LEADING)
    return;
  /* Phase 1 needs a quorum of FOLLOWERINFO; ours counts, and in an
   * ensemble of one it is the quorum. */
  try_decide_epoch(z);
}

/* ------------------------------------------------------------------ */
/* Phase 1: discovery */

/* Whether we and the learners past `phase` on a follower stream are a
 * quorum (of every configuration a decision needs; config.c). */
static bool quorum_at_least(const struct zab *z, enum zab__hphase phase) {
  bool set[ZAB_MAX_MEMBERS] = {false};
  for (size_t i = 0; i < z->n_members; i++)
    set[i] =
        i == z->my_index || (z->ld.h[i].phase >= phase && !z->ld.h[i].observer);
  return zab__quorum_in(z, set);
}

/* Voting learners holding a session with us (quiet rule). */
static size_t count_voter_learners(const struct zab *z) {
  size_t n = 0;
  for (size_t i = 0; i < z->n_members; i++)
    if (i != z->my_index && zab__is_voter_index(z, i) &&
        z->ld.h[i].phase >= H_INFO)
      n++;
  return n;
}

static void start_sync(struct zab *z, size_t i);
static void try_epoch_quorum(struct zab *z);

static void try_decide_epoch(struct zab *z) {
  if (z->ld.epoch_decided || !quorum_at_least(z, H_INFO))
    return;
  uint32_t max = z->accepted_epoch;
  for (size_t i = 0; i < z->n_members; i++)
    if (z->ld.h[i].phase >= H_INFO && z->ld.h[i].accepted_epoch > max)
      max = z->ld.h[i].accepted_epoch;
  if (max == UINT32_MAX) {
    zab__go_looking(z, "epoch space exhausted");
    return;
  }
  uint32_t e = max + 1;
  if ((z->cfg.test_bugs & ZAB_TEST_BUG_EPOCH_REUSE) && max > 0)
    e = max; /* planted bug: an epoch another leader may already own */
  z->ld.epoch_decided = true;
  z->epoch = e;
  /* acceptedEpoch must be durable before anyone hears of e (ordering
   * contract: PERSIST_EPOCH is durable before the sends after it). */
  zab__persist_epochs(z, e, z->current_epoch);
  zab__announce(z);
  for (size_t i = 0; i < z->n_members; i++) {
    if (z->ld.h[i].phase == H_INFO) {
      send_to(z, i, ZAB_MSG_LEADERINFO, 0);
      z->ld.h[i].phase = H_EPOCH_SENT;
    }
  }
  try_epoch_quorum(z);
}

static void try_establish(struct zab *z);

/* currentEpoch = e claims "my log is the history epoch e starts from", and
 * elections and discovery trust that claim.  Persisting it before our own
 * log is durable would let a crash leave a high currentEpoch over a log
 * that lost its tail -- and such a server could then win an election and
 * truncate a committed txn from the others.  So: only once durable. */
static void try_persist_current(struct zab *z) {
  bool bug = (z->cfg.test_bugs & ZAB_TEST_BUG_EARLY_CURRENT_EPOCH) != 0;
  if (!z->ld.epoch_acked || z->ld.current_persisted ||
      (z->durable_zxid < z->ld.established_zxid && !bug))
    return;
  z->ld.current_persisted = true;
  zab__persist_epochs(z, z->accepted_epoch, z->epoch);
}

static void try_epoch_quorum(struct zab *z) {
  if (!z->ld.epoch_decided || z->ld.epoch_acked || !quorum_at_least(z, H_ACKED))
    return;
  z->ld.epoch_acked = true;
  /* Everything in our log now is the history this epoch starts from; it is
   * committed once a quorum has it (NEWLEADER acked). */
  z->ld.established_zxid = zab__last_zxid(z);
  try_persist_current(z);
  z->ld.next_counter = 1;
  zab__log_msg(z, 0, "zab %u: epoch %u agreed, syncing from %llx", z->cfg.my_id,
               z->epoch, (unsigned long long)z->ld.established_zxid);
  for (size_t i = 0; i < z->n_members; i++)
    if (z->ld.h[i].phase == H_ACKED && !z->ld.h[i].observer)
      start_sync(z, i);
  try_establish(z);
}

static void on_followerinfo(struct zab *z, size_t i, const struct zab_msg *m) {
  struct zab__handler *h = &z->ld.h[i];
  /* The learner says which stream it wants (observers: committed txns
   * only; followers, voting or not: proposals, and they ACK).  Only a
   * follower stream counts toward a quorum, and only for a voter.  A
   * voter of ours asking for an observer stream has not seen the change
   * that made it one: it learns it from the stream and joins again. */
  if (m->session == 0) {
    zab__drop(z, z->members[i].id, m, "session 0 is reserved");
    return;
  }
  if (h->phase != H_NONE && h->session == m->session) {
    /* A repeat of the same connection's hello. */
    h->last_heard_ms = z->now_ms;
    if (h->phase == H_EPOCH_SENT)
      send_to(z, i, ZAB_MSG_LEADERINFO, 0);
    return;
  }
  memset(h, 0, sizeof *h);
  h->phase = H_INFO;
  h->session = m->session;
  h->observer = m->observer;
  h->accepted_epoch = m->epoch;
  h->last_heard_ms = z->now_ms;
  if (!z->ld.epoch_decided) {
    try_decide_epoch(z);
    return;
  }
  if (m->epoch > z->epoch) {
    /* The learner promised a newer epoch to someone else and will refuse
     * ours; ZooKeeper would keep it out forever.  Step down so that the
     * next election picks an epoch above every promise. */
    zab__go_looking(z, "a learner has accepted a newer epoch");
    return;
  }
  send_to(z, i, ZAB_MSG_LEADERINFO, 0);
  h->phase = H_EPOCH_SENT;
}

static void on_ackepoch(struct zab *z, size_t i, const struct zab_msg *m) {
  struct zab__handler *h = &z->ld.h[i];
  if (h->phase != H_EPOCH_SENT) {
    zab__drop(z, z->members[i].id, m, "ACKEPOCH not expected now");
    return;
  }
  h->current_epoch = m->epoch;
  h->last_zxid = m->zxid;
  h->phase = H_ACKED;
  if (!z->ld.epoch_acked) {
    /* Our history must be at least as recent as every member of the
     * quorum that agrees on the epoch, or we could lose a committed txn
     * that only they have. */
    uint64_t last = zab__last_zxid(z);
    if (!h->observer && (m->epoch > z->current_epoch ||
                         (m->epoch == z->current_epoch && m->zxid > last))) {
      zab__go_looking(z, "a learner has a more recent history");
      return;
    }
    try_epoch_quorum(z);
    return;
  }
  if (!h->observer || z->ld.established)
    start_sync(z, i);
}

/* ------------------------------------------------------------------ */
/* Phase 2: synchronisation */

/* Before the sync header: our committed configuration (as of our commit
 * point).  A SNAP's state holds it and the learner cannot read it from
 * opaque state: the SNAP names its version (prev_zxid), so that a SNAP
 * whose CONFIG was lost is refused rather than installed under the wrong
 * membership.  After a DIFF or TRUNC the learner adopts it too when it is
 * not older than its own (learner.c, adopt_leader_conf). */
static void send_config(struct zab *z, size_t i) {
  if (!z->cfg.config_of)
    return;
  struct proto_writer w;
  proto_writer_init(&w);
  if (zab_conf_encode(z->cur.m, z->cur.n, &w) != ZAB_OK) {
    z->oom = true;
    proto_writer_free(&w);
    return;
  }
  struct zab_msg m = {.type = ZAB_MSG_CONFIG,
                      .epoch = z->epoch,
                      .zxid = z->cur.version,
                      .session = z->ld.h[i].session,
                      .data = w.buf,
                      .len = (uint32_t)w.len};
  zab__push_send(z, z->members[i].id, &m);
  proto_writer_free(&w);
}

/* Sends the learner what makes its log a prefix of ours: DIFF when its last
 * zxid is in our log, TRUNC to the newest zxid of ours below it when it has
 * txns we lack, SNAP when it is behind our window; then our txns after that
 * point, the commit point, and NEWLEADER.  Observers get only committed
 * txns (they never see a proposal that might not commit). */
static void start_sync(struct zab *z, size_t i) {
  struct zab__handler *h = &z->ld.h[i];
  const struct zab__log *l = &z->log;
  uint64_t upper = h->observer ? z->commit_zxid : zab__last_zxid(z);
  uint64_t peer = h->last_zxid;
  uint64_t marker;
  /* Our committed configuration first, whatever the header: a SNAP's
   * state holds it, and a joiner whose static file names itself (the
   * same version 0 as ours) must learn that it does not vote. */
  send_config(z, i);
  if (peer > upper) {
    marker = upper;
    send_to(z, i, ZAB_MSG_TRUNC, marker);
  } else if (peer >= l->base) {
    size_t idx;
    if (peer == l->base || zab__log_find(l, peer, &idx)) {
      marker = peer;
      send_to(z, i, ZAB_MSG_DIFF, marker);
    } else {
      /* peer is inside our range but not in our log: it has txns of an
       * epoch that did not survive.  Cut back to our newest zxid below. */
      size_t u = zab__log_upper(l, peer);
      marker = u == 0 ? l->base : zab__log_at(l, u - 1)->zxid;
      send_to(z, i, ZAB_MSG_TRUNC, marker);
    }
  } else {
    marker = z->commit_zxid;
    struct zab_msg m = {.type = ZAB_MSG_SNAP,
                        .epoch = z->epoch,
                        .zxid = marker,
                        .session = h->session,
                        .prev_zxid = z->cfg.config_of ? z->cur.version : 0};
    zab__push_send_snap(z, z->members[i].id, &m);
  }
  for (size_t k = zab__log_upper(l, marker); k < zab__log_count(l); k++) {
    if (zab__log_at(l, k)->zxid > upper)
      break;
    send_entry(z, i, k, ZAB_MSG_PROPOSAL);
  }
  if (z->commit_zxid > marker)
    send_to(z, i, ZAB_MSG_COMMIT,
            z->commit_zxid < upper ? z->commit_zxid : upper);
  send_to(z, i, ZAB_MSG_NEWLEADER, upper);
  h->newleader_zxid = upper;
  h->phase = H_SYNCING;
  h->match = 0;
  h->ping_durable = 0;
  h->last_heard_ms = z->now_ms;
}

static void try_commit(struct zab *z);

static void try_establish(struct zab *z) {
  if (!z->ld.epoch_acked || z->ld.established)
    return;
  if (!z->ld.current_persisted || z->durable_zxid < z->ld.established_zxid)
    return; /* our own log must be durable to count */
  if (!quorum_at_least(z, H_SYNCED))
    return;
  z->ld.established = true;
  z->serving = true;
  zab__log_msg(z, 0, "zab %u: established in epoch %u", z->cfg.my_id, z->epoch);
  /* A quorum has our whole history durably: all of it is committed. */
  zab__commit_to(z, z->ld.established_zxid);
  for (size_t i = 0; i < z->n_members; i++) {
    struct zab__handler *h = &z->ld.h[i];
    if (h->phase == H_SYNCED) {
      send_to(z, i, ZAB_MSG_UPTODATE, z->commit_zxid);
      h->uptodate_sent = true;
    } else if (h->phase == H_ACKED && h->observer) {
      start_sync(z, i);
    }
  }
  zab__announce(z);
  try_commit(z);
}

static void on_acknewleader(struct zab *z, size_t i, const struct zab_msg *m) {
  struct zab__handler *h = &z->ld.h[i];
  if (h->phase != H_SYNCING || m->epoch != z->epoch) {
    zab__drop(z, z->members[i].id, m, "ACKNEWLEADER not expected now");
    return;
  }
  if (m->zxid < h->newleader_zxid || m->zxid > zab__last_zxid(z)) {
    zab__drop(z, z->members[i].id, m, "ACKNEWLEADER outside the sync range");
    return;
  }
  h->phase = H_SYNCED;
  h->match = m->zxid;
  if (z->ld.established) {
    send_to(z, i, ZAB_MSG_UPTODATE, z->commit_zxid);
    h->uptodate_sent = true;
    try_commit(z);
  } else {
    try_establish(z);
  }
}

/* ------------------------------------------------------------------ */
/* Phase 3: broadcast */

static int cmp_desc(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* Commits, in zxid order, up to the highest zxid a quorum of voters holds
 * durably (ZooKeeper counts ACKs per proposal; a learner's log is a prefix
 * of ours, so "durable up to Z" acknowledges every proposal <= Z). */
static void commit_upto(struct zab *z, uint64_t c) {
  if (c <= z->commit_zxid)
    return;
  const struct zab__log *l = &z->log;
  for (size_t i = 0; i < z->n_members; i++) {
    const struct zab__handler *h = &z->ld.h[i];
    if (h->phase < H_SYNCING)
      continue;
    if (h->observer) {
      /* Observers hear only committed txns, one INFORM each. */
      for (size_t k = zab__log_upper(l, z->commit_zxid); k < zab__log_count(l);
           k++) {
        if (zab__log_at(l, k)->zxid > c)
          break;
        send_entry(z, i, k, ZAB_MSG_INFORM);
      }
    } else {
      send_to(z, i, ZAB_MSG_COMMIT, c);
    }
  }
  zab__commit_to(z, c);
}

/* The highest zxid a quorum of one configuration's voters holds. */
static uint64_t quorum_point(const struct zab *z, const bool *voter) {
  uint64_t v[ZAB_MAX_MEMBERS] = {0};
  size_t n = 0;
  for (size_t i = 0; i < z->n_members; i++) {
    if (!voter[i])
      continue;
    if (i == z->my_index)
      v[n++] = z->durable_zxid;
    else
      v[n++] = z->ld.h[i].phase == H_SYNCED && !z->ld.h[i].observer
                   ? z->ld.h[i].match
                   : 0;
  }
  if (n == 0)
    return 0;
  qsort(v, n, sizeof v[0], cmp_desc);
  return v[n / 2];
}

/* The zxid right before the pending change in our log. */
static uint64_t before_pending(const struct zab *z) {
  size_t k;
  if (!zab__log_find(&z->log, z->pending_zxid, &k))
    return UINT64_MAX;
  return k ? zab__log_at(&z->log, k - 1)->zxid : z->log.base;
}

/* Commits what a quorum of every needed configuration holds: while a
 * change is pending, the old configuration's AND the new one's; once it
 * committed, the new one's alone (hence the loop). */
static void try_commit(struct zab *z) {
  while (z->ld.established && z->role == ZAB_ROLE_LEADING) {
    uint64_t c = quorum_point(z, z->voter_a);
    if (z->has_b) {
      uint64_t b = quorum_point(z, z->voter_b);
      if (b < c)
        c = b;
      if ((z->cfg.test_bugs & ZAB_TEST_BUG_RECONFIG_NEW_QUORUM_ONLY) &&
          b >= z->pending_zxid && c >= before_pending(z))
        c = b; /* planted bug: the change needs only the new quorum */
    }
    uint64_t last = zab__last_zxid(z);
    if (c > last)
      c = last;
    if (c <= z->commit_zxid)
      return;
    uint64_t version = z->cur.version;
    commit_upto(z, c);
    if (z->cur.version == version)
      return; /* no change took effect: nothing more can commit */
  }
}

int zab__leader_propose(struct zab *z, const uint8_t *data, uint32_t len,
                        uint64_t *zxid_out) {
  zab__check(z);
  if (z->role != ZAB_ROLE_LEADING || !z->ld.established)
    return ZAB_NOTLEADER;
  if (len > z->cfg.max_txn_bytes)
    return ZAB_TOOBIG;
  bool is_config = false;
  struct zab__conf nc;
  int crc = zab__conf_check_proposal(z, data, len, &is_config, &nc);
  if (crc != ZAB_OK)
    return crc;
  size_t outstanding =
      zab__log_count(&z->log) - zab__log_upper(&z->log, z->commit_zxid);
  if (outstanding >= z->cfg.max_outstanding)
    return ZAB_BUSY;
  if (z->ld.next_counter == UINT32_MAX) {
    /* ZooKeeper does the same: a new epoch restarts the counter. */
    zab__go_looking(z, "zxid counter exhausted; a new epoch is needed");
    return ZAB_EPOCHEND;
  }
  uint64_t zxid = zab_zxid(z->epoch, z->ld.next_counter);
  if (zab__log_append(&z->log, zxid, data, len) != ZAB_OK) {
    z->oom = true;
    return ZAB_ENOMEM;
  }
  z->ld.next_counter++;
  struct zab_action a = {.type = ZAB_ACT_APPEND, .zxid = zxid};
  zab__push(z, &a, data, len);
  size_t k = zab__log_count(&z->log) - 1;
  zab__conf_appended(z, zab__log_at(&z->log, k));
  for (size_t i = 0; i < z->n_members; i++)
    if (z->ld.h[i].phase >= H_SYNCING && !z->ld.h[i].observer)
      send_entry(z, i, k, ZAB_MSG_PROPOSAL);
  if (zxid_out)
    *zxid_out = zxid;
  if (z->cfg.test_bugs & ZAB_TEST_BUG_COMMIT_BEFORE_QUORUM)
    commit_upto(z, zxid); /* planted bug: nobody has it durably yet */
  return ZAB_OK;
}

/* The highest round that a quorum of voters (us included: we are at
 * confirm_round) has echoed; announced once. */
static void try_confirmed(struct zab *z) {
  uint64_t best = 0;
  for (size_t c = 0; c < z->n_members; c++) {
    /* candidate round: each voter's echo (ours is confirm_round) */
    uint64_t r = c == z->my_index ? z->ld.confirm_round : z->ld.h[c].confirmed;
    if ((c != z->my_index &&
         (!zab__is_voter_index(z, c) || z->ld.h[c].phase != H_SYNCED)) ||
        r <= best)
      continue;
    bool set[ZAB_MAX_MEMBERS] = {false};
    for (size_t i = 0; i < z->n_members; i++)
      set[i] = i == z->my_index ||
               (z->ld.h[i].phase == H_SYNCED && !z->ld.h[i].observer &&
                z->ld.h[i].confirmed >= r);
    if (zab__quorum_in(z, set) ||
        (z->cfg.test_bugs & ZAB_TEST_BUG_CONFIRM_WITHOUT_QUORUM))
      best = r; /* (the planted bug: our own round is enough) */
  }
  if (best > z->ld.confirmed_round) {
    z->ld.confirmed_round = best;
    struct zab_action a = {.type = ZAB_ACT_CONFIRMED, .zxid = best};
    zab__push(z, &a, NULL, 0);
  }
}

int zab__leader_confirm(struct zab *z, uint64_t *round_out) {
  if (z->role != ZAB_ROLE_LEADING || !z->ld.established)
    return ZAB_NOTLEADER;
  uint64_t r = ++z->ld.confirm_round;
  for (size_t i = 0; i < z->n_members; i++)
    if (z->ld.h[i].phase == H_SYNCED && zab__is_voter_index(z, i))
      send_to(z, i, ZAB_MSG_CONFIRM, r);
  if (round_out)
    *round_out = r;
  try_confirmed(z); /* a quorum of one: at once */
  return ZAB_OK;
}

static void on_confirmed(struct zab *z, size_t i, const struct zab_msg *m) {
  struct zab__handler *h = &z->ld.h[i];
  if (h->phase != H_SYNCED || h->observer || m->epoch != z->epoch ||
      m->zxid > z->ld.confirm_round) {
    zab__drop(z, z->members[i].id, m, "CONFIRMED not expected now");
    return;
  }
  if (m->zxid > h->confirmed)
    h->confirmed = m->zxid;
  try_confirmed(z);
}

static void on_ack(struct zab *z, size_t i, const struct zab_msg *m) {
  struct zab__handler *h = &z->ld.h[i];
  if (h->phase != H_SYNCED || h->observer || m->epoch != z->epoch) {
    zab__drop(z, z->members[i].id, m, "ACK not expected now");
    return;
  }
  if (m->zxid > zab__last_zxid(z)) {
    zab__drop(z, z->members[i].id, m, "ACK beyond our log");
    return;
  }
  if (m->zxid > h->match)
    h->match = m->zxid;
  try_commit(z);
}

void zab__leader_durable(struct zab *z) {
  zab__check(z);
  assert(z->role == ZAB_ROLE_LEADING);
  try_persist_current(z);
  try_establish(z);
  try_commit(z);
}

/* ------------------------------------------------------------------ */
/* Dispatch, heartbeats, timeouts */

void zab__leader_on_msg(struct zab *z, uint32_t from, const struct zab_msg *m) {
  zab__check(z);
  assert(z->role == ZAB_ROLE_LEADING);
  size_t i = (size_t)zab__member_index(z, from);
  struct zab__handler *h = &z->ld.h[i];
  if (m->type == ZAB_MSG_FOLLOWERINFO) {
    on_followerinfo(z, i, m);
    return;
  }
  if (h->phase == H_NONE || m->session != h->session) {
    if (m->type == ZAB_MSG_STEPDOWN)
      return; /* a session we no longer hold: nothing to undo */
    zab__drop(z, from, m, "no learner connection with that session");
    zab__refuse(z, from, m);
    return;
  }
  if (m->type == ZAB_MSG_STEPDOWN) {
    /* The learner left (went looking, or refused our messages). */
    zab__log_msg(z, 1, "zab %u: learner %u left the session", z->cfg.my_id,
                 from);
    memset(h, 0, sizeof *h); /* a lost quorum: at the next tick */
    return;
  }
  h->last_heard_ms = z->now_ms;
  switch (m->type) {
  case ZAB_MSG_ACKEPOCH:
    on_ackepoch(z, i, m);
    return;
  case ZAB_MSG_ACKNEWLEADER:
    on_acknewleader(z, i, m);
    return;
  case ZAB_MSG_ACK:
    on_ack(z, i, m);
    return;
  case ZAB_MSG_CONFIRMED:
    on_confirmed(z, i, m);
    return;
  case ZAB_MSG_PING:
    if (m->round > h->ping_seen)
      h->ping_seen = m->round; /* echoed in our next PING */
    /* An observer's progress (it sends no ACK).  Only once synced: before
     * ACKNEWLEADER its log may still hold a tail that sync cuts. */
    if (h->phase == H_SYNCED && m->zxid > h->ping_durable &&
        m->zxid <= zab__last_zxid(z))
      h->ping_durable = m->zxid;
    return;
  default:
    zab__drop(z, from, m, "not a learner-to-leader message");
    return;
  }
}

void zab__leader_peer_down(struct zab *z, uint32_t peer) {
  int i = zab__member_index(z, peer);
  memset(&z->ld.h[i], 0, sizeof z->ld.h[i]);
  /* Losing the quorum is noticed at the next tick: a learner still
   * syncing may complete it by then. */
}

/* An established leader without a quorum of synced voters cannot commit:
 * it steps down at once (and says so, zab__go_looking). */
void zab__leader_check_quorum(struct zab *z) {
  if (z->ld.established && !quorum_at_least(z, H_SYNCED))
    zab__go_looking(z, "lost the quorum of synced followers");
}

/* Whether the learners synced and heard within the last within_ms, with
 * us, are a quorum. */
bool zab__leader_healthy(const struct zab *z, uint64_t within_ms) {
  bool set[ZAB_MAX_MEMBERS] = {false};
  for (size_t i = 0; i < z->n_members; i++) {
    const struct zab__handler *h = &z->ld.h[i];
    set[i] = i == z->my_index || (h->phase == H_SYNCED && !h->observer &&
                                  z->now_ms - h->last_heard_ms <= within_ms);
  }
  return zab__quorum_in(z, set);
}

void zab__leader_tick(struct zab *z) {
  zab__check(z);
  assert(z->role == ZAB_ROLE_LEADING);
  uint64_t now = z->now_ms;
  if (!z->ld.established &&
      now - z->ld.started_ms > limit_ms(z, z->cfg.init_limit)) {
    zab__go_looking(z, "no quorum synced within initLimit");
    return;
  }
  bool dropped = false;
  for (size_t i = 0; i < z->n_members; i++) {
    struct zab__handler *h = &z->ld.h[i];
    if (h->phase == H_NONE)
      continue;
    uint64_t lim = limit_ms(z, h->phase == H_SYNCED ? z->cfg.sync_limit
                                                    : z->cfg.init_limit);
    if (now - h->last_heard_ms > lim) {
      dropped = true;
      zab__log_msg(z, 1, "zab %u: learner %u silent, dropped", z->cfg.my_id,
                   z->members[i].id);
      /* It may still hear us (a one-way partition): say so. */
      zab__send_stepdown(z, z->members[i].id, h->session);
      memset(h, 0, sizeof *h);
    }
  }
  /* Every learner silent, none left: we may be the deaf one. */
  z->quiet = dropped && z->ld.established && count_voter_learners(z) == 0;
  zab__leader_check_quorum(z);
  z->quiet = z->quiet && z->role == ZAB_ROLE_LOOKING;
  if (z->role != ZAB_ROLE_LEADING)
    return;
  if (now >= z->ld.next_ping_ms) {
    for (size_t i = 0; i < z->n_members; i++) {
      const struct zab__handler *h = &z->ld.h[i];
      if (h->phase < H_SYNCING)
        continue;
      /* The echo of the learner's newest PING tells it that we still
       * hear it: a learner we cannot hear gives us up (one-way). */
      /* prev_zxid: the end of what we sent it (an observer gets only
       * committed txns), so that a learner whose stream lost its tail
       * on a connection that stayed up finds out without a next txn. */
      struct zab_msg m = {.type = ZAB_MSG_PING,
                          .epoch = z->epoch,
                          .zxid = z->commit_zxid,
                          .session = h->session,
                          .prev_zxid =
                              h->observer ? z->commit_zxid : zab__last_zxid(z),
                          .round = h->ping_seen};
      zab__push_send(z, z->members[i].id, &m);
    }
    z->ld.next_ping_ms = now + z->cfg.tick_ms;
  }
}

uint64_t zab__leader_timeout(const struct zab *z) {
  uint64_t t = z->ld.next_ping_ms;
  if (!z->ld.established) {
    uint64_t d = z->ld.started_ms + limit_ms(z, z->cfg.init_limit) + 1;
    if (d < t)
      t = d;
  }
  return t;
}

/* ------------------------------------------------------------------ */
/* Observation */

/* Counters of ref the learner has not acknowledged (see zab.h). */
static uint64_t lag_of(uint64_t ref, uint64_t acked) {
  if (acked >= ref)
    return 0;
  if (zab_zxid_epoch(acked) != zab_zxid_epoch(ref))
    return zab_zxid_counter(ref);
  return zab_zxid_counter(ref) - zab_zxid_counter(acked);
}

size_t zab_learners_get(const struct zab *z, struct zab_learner *out,
                        size_t max) {
  if (z->role != ZAB_ROLE_LEADING)
    return 0;
  size_t n = 0;
  for (size_t i = 0; i < z->n_members; i++) {
    const struct zab__handler *h = &z->ld.h[i];
    if (i == z->my_index || h->phase < H_SYNCING)
      continue;
    if (n < max) {
      struct zab_learner *l = &out[n];
      l->id = z->members[i].id;
      l->observer = h->observer;
      l->synced = h->phase == H_SYNCED;
      if (!l->synced)
        l->acked_zxid = 0;
      else if (h->observer)
        l->acked_zxid = h->ping_durable > h->match ? h->ping_durable : h->match;
      else
        l->acked_zxid = h->match;
      l->lag = lag_of(h->observer ? z->commit_zxid : zab__last_zxid(z),
                      l->acked_zxid);
    }
    n++;
  }
  return n;
}
