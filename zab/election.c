/* Phase 0: Fast Leader Election (ZooKeeper's FastLeaderElection).
 *
 * A LOOKING voter proposes a vote (leader id, last zxid, epoch), sends it
 * to every voter, adopts any better vote it hears in its round (better =
 * higher epoch, then higher zxid, then higher id) and re-broadcasts.  When
 * a quorum of the votes it holds for the round equals its own, it waits
 * finalize_wait_ms for a better one, then decides.  A LOOKING server that
 * hears from servers already FOLLOWING/LEADING joins their leader once a
 * quorum of them name it and the leader itself says LEADING.
 *
 * Election only chooses a candidate: safety comes from discovery (a quorum
 * must accept the new epoch, and the leader steps down if a quorum member
 * has a more recent history) and the epochs, so a wrong or stale decision
 * here costs time, never data. */
#include <string.h>

#include "proto/proto.h"
#include "zab/zab_int.h"

#include <assert.h>

static struct zab__vote self_vote(const struct zab *z) {
  return (struct zab__vote){z->cfg.my_id, zab__last_zxid(z), z->current_epoch};
}

/* ZooKeeper's totalOrderPredicate: is a better than b? */
static bool vote_better(const struct zab__vote *a, const struct zab__vote *b) {
  if (a->epoch != b->epoch)
    return a->epoch > b->epoch;
  if (a->zxid != b->zxid)
    return a->zxid > b->zxid;
  return a->leader > b->leader;
}

static bool vote_equal(const struct zab__vote *a, const struct zab__vote *b) {
  return a->leader == b->leader && a->zxid == b->zxid && a->epoch == b->epoch;
}

void zab__send_vote(struct zab *z, uint32_t to) {
  const struct zab__conf *c = zab__conf_eff(z);
  struct zab_msg m = {.type = ZAB_MSG_NOTIFICATION,
                      .epoch = z->el.vote.epoch,
                      .zxid = z->el.vote.zxid,
                      .leader = z->el.vote.leader,
                      .round = z->el.round,
                      .state = z->role,
                      .prev_zxid = c->version};
  /* Our committed configuration goes with the vote, as ZooKeeper's
   * notifications carry theirs: a server that missed changes learns the
   * membership from anyone (its own voters may all be gone). */
  struct proto_writer w;
  proto_writer_init(&w);
  if (z->cfg.config_of && c->version != 0) {
    if (zab_conf_encode(c->m, c->n, &w) != ZAB_OK)
      z->oom = true;
    m.data = w.buf;
    m.len = (uint32_t)w.len;
  }
  zab__push_send(z, to, &m);
  proto_writer_free(&w);
}

static void send_all(struct zab *z) {
  for (size_t i = 0; i < z->n_members; i++)
    if (i != z->my_index && zab__is_voter_index(z, i))
      zab__send_vote(z, z->members[i].id);
}

static void set_proposal(struct zab *z, const struct zab__vote *v) {
  z->el.vote = *v;
  if (z->i_vote)
    z->el.recv[z->my_index] =
        (struct zab__heard){true, *v, z->el.round, ZAB_ROLE_LOOKING};
}

static void decide(struct zab *z, const struct zab__vote *v);

static uint64_t jitter(struct zab *z, uint64_t interval) {
  /* 75%..125% of the interval, so that servers started together do not
   * keep re-sending in lock step. */
  return interval * 3 / 4 + zab__rand(z) % (interval / 2 + 1);
}

void zab__election_start(struct zab *z) {
  z->role = ZAB_ROLE_LOOKING;
  z->leader_id = 0;
  z->epoch = 0;
  z->serving = false;
  zab__announce(z);
  if (z->removed) {
    /* Stopped: we neither vote nor follow; we only ask, every initLimit,
     * so that a newer configuration that names us again reaches us. */
    z->el.vote = (struct zab__vote){0, 0, 0};
    z->el.interval_ms = (uint64_t)z->cfg.init_limit * z->cfg.tick_ms;
    z->el.next_send_ms = z->now_ms + z->el.interval_ms;
    z->el.finalize_at_ms = 0;
    return;
  }
  z->stats.n_elections++;
  z->el.round++;
  memset(z->el.recv, 0, sizeof z->el.recv);
  memset(z->el.outof, 0, sizeof z->el.outof);
  memset(z->el.early, 0, sizeof z->el.early);
  z->el.finalize_at_ms = 0;
  struct zab__vote none = {0, 0, 0};
  if (!z->i_stand) {
    /* Observers and joiners never stand; they ask who leads. */
    z->el.vote = none;
  } else {
    struct zab__vote v = self_vote(z);
    set_proposal(z, &v);
  }
  if (z->quiet) {
    zab__log_msg(z, 1,
                 "zab %u: heard no learner for syncLimit: our vote goes out "
                 "only every initLimit until someone is heard",
                 z->cfg.my_id);
    z->el.interval_ms = (uint64_t)z->cfg.init_limit * z->cfg.tick_ms;
    z->el.next_send_ms = z->now_ms + z->el.interval_ms;
  } else {
    send_all(z);
    z->el.interval_ms = z->cfg.election_min_ms;
    z->el.next_send_ms = z->now_ms + jitter(z, z->el.interval_ms);
  }
  bool alone[ZAB_MAX_MEMBERS] = {false};
  alone[z->my_index] = true;
  if (z->i_stand && zab__quorum_in(z, alone)) {
    /* An ensemble of one (standalone): nobody can send a better vote. */
    struct zab__vote v = z->el.vote;
    decide(z, &v);
  }
}

/* Whether the votes in `set` equal to v are a quorum (of every
 * configuration a decision needs, see config.c). */
static bool quorum_equal(const struct zab *z, const struct zab__heard *set,
                         const struct zab__vote *v) {
  bool agree[ZAB_MAX_MEMBERS] = {false};
  for (size_t i = 0; i < z->n_members; i++)
    agree[i] = set[i].valid && vote_equal(&set[i].vote, v);
  return zab__quorum_in(z, agree);
}

/* Whether the voters settled (FOLLOWING/LEADING) on leader id L are a
 * quorum.  (A member that missed a change learns it from the versions in
 * the notifications instead: zab__conf_heard_version and the rule for a
 * leader under a newer configuration.)  With a change pending we count
 * ourselves too: the change may be one that did not survive (the others
 * elected a leader without it), and its members other than us may never
 * settle on anyone; joining lets the leader truncate it.  Safe: the
 * election only picks a candidate. */
static bool quorum_settled_on(const struct zab *z, uint32_t leader) {
  bool agree[ZAB_MAX_MEMBERS] = {false};
  for (size_t i = 0; i < z->n_members; i++) {
    const struct zab__heard *h = &z->el.outof[i];
    agree[i] = h->valid && h->vote.leader == leader &&
               (h->state == ZAB_ROLE_FOLLOWING || h->state == ZAB_ROLE_LEADING);
  }
  if (z->has_b)
    agree[z->my_index] = true;
  return zab__quorum_in(z, agree);
}

/* ZooKeeper's checkLeader: never follow a leader that has not said it
 * leads; become leader from others' say-so only within our own round. */
static bool check_leader(const struct zab *z, uint32_t leader, uint64_t round) {
  if (leader == z->cfg.my_id)
    return round == z->el.round;
  int li = zab__member_index(z, leader);
  return li >= 0 && z->el.outof[li].valid &&
         z->el.outof[li].state == ZAB_ROLE_LEADING;
}

static void decide(struct zab *z, const struct zab__vote *v) {
  z->el.vote = *v;
  z->el.finalize_at_ms = 0;
  if (v->leader == z->cfg.my_id)
    zab__lead(z);
  else
    zab__follow(z, v->leader);
}

/* With reconfiguration, a server that does not vote in its own view (a
 * joiner, an observer) may vote in a change it has not seen yet: a leader
 * with that change pending needs its vote, and it cannot know.  So it
 * supports the best candidate it hears of in the current round, as a
 * voter would (never itself); its vote counts only where it votes. */
static void support_best(struct zab *z, const struct zab_msg *m,
                         const struct zab__vote *v) {
  /* Our rounds mean nothing (we never decide from LOOKING votes): take
   * the voters' round, or theirs would never meet ours. */
  if (m->round == z->el.round && z->el.vote.leader != 0 &&
      !vote_better(v, &z->el.vote))
    return;
  /* No immediate send: voters answer a non-voter's every notification,
   * and an answer in another round would start a storm.  Our periodic
   * re-send carries it. */
  z->el.round = m->round;
  z->el.vote = *v;
}

void zab__election_on_msg(struct zab *z, uint32_t from,
                          const struct zab_msg *m) {
  zab__check(z);
  int pi = zab__member_index(z, from);
  zab__conf_heard_version(z, m->prev_zxid);
  if (z->role == ZAB_ROLE_LOOKING)
    zab__conf_heard_config(z, m->prev_zxid, m->data, m->len);
  if (z->role == ZAB_ROLE_LOOKING &&
      (m->state == ZAB_ROLE_LEADING || m->state == ZAB_ROLE_FOLLOWING) &&
      m->leader != 0 && m->leader != z->cfg.my_id &&
      m->prev_zxid > zab__conf_eff(z)->version) {
    /* A server settled under a configuration newer than ours (we missed
     * the change, or joined before it): follow its leader and learn --
     * we may not even know the voters of that configuration.  Safe, as
     * every choice of the election is: discovery decides. */
    struct zab__vote v = {m->leader, m->zxid, m->epoch};
    z->el.round = m->round > z->el.round ? m->round : z->el.round;
    decide(z, &v);
    return;
  }
  if (!zab__is_voter_index(z, (size_t)pi)) {
    /* An observer or a joiner asks who leads: a voter answers with where
     * it stands; with reconfiguration, so does any settled server (the
     * asker may be a member that missed changes, whose voters are gone). */
    if (z->i_vote || (z->cfg.config_of && z->role != ZAB_ROLE_LOOKING &&
                      m->state == ZAB_ROLE_LOOKING))
      zab__send_vote(z, from);
    return;
  }
  if (z->role != ZAB_ROLE_LOOKING) {
    /* Settled: tell a LOOKING voter who leads, so it can join. */
    if (m->state == ZAB_ROLE_LOOKING)
      zab__send_vote(z, from);
    return;
  }
  if (m->state == ZAB_ROLE_OBSERVING) {
    zab__drop(z, from, m, "voter claims to be observing");
    return;
  }
  int li = zab__member_index(z, m->leader);
  bool settled = m->state != ZAB_ROLE_LOOKING;
  if (li < 0 || !z->voter_a[li]) {
    /* A LOOKING observer-less vote (leader 0) is never sent by a voter. */
    zab__drop(z, from, m, "vote for a non-voter");
    return;
  }
  struct zab__vote v = {m->leader, m->zxid, m->epoch};

  if (!z->i_stand) {
    if (!settled) {
      if (z->cfg.config_of)
        support_best(z, m, &v);
      return;
    }
    z->el.outof[pi] = (struct zab__heard){true, v, m->round, m->state};
    /* With reconfiguration a non-voter follows a server that says it
     * leads at once: that leader may need us for a pending change and
     * cannot wait for a quorum of settled voters to tell us (it has an
     * initLimit; the election only picks a candidate either way). */
    if ((z->cfg.config_of && m->state == ZAB_ROLE_LEADING &&
         m->leader == from) ||
        (quorum_settled_on(z, v.leader) && check_leader(z, v.leader, m->round)))
      decide(z, &v);
    return;
  }

  if (!settled) {
    if (m->round > z->el.round) {
      /* A newer round: forget this round's votes and start from the
       * better of the sender's vote and our own. */
      z->el.round = m->round;
      memset(z->el.recv, 0, sizeof z->el.recv);
      struct zab__vote mine = self_vote(z);
      set_proposal(z, vote_better(&v, &mine) ? &v : &mine);
      z->el.finalize_at_ms = 0;
      send_all(z);
    } else if (m->round < z->el.round) {
      zab__send_vote(z, from); /* help the laggard catch up */
      return;
    } else if (vote_better(&v, &z->el.vote)) {
      set_proposal(z, &v);
      z->el.finalize_at_ms = 0;
      send_all(z);
    }
    z->el.recv[pi] = (struct zab__heard){true, v, m->round, m->state};
    if (quorum_equal(z, z->el.recv, &z->el.vote)) {
      if (z->el.finalize_at_ms == 0)
        z->el.finalize_at_ms = z->now_ms + z->cfg.finalize_wait_ms;
    } else {
      z->el.finalize_at_ms = 0;
    }
    return;
  }

  /* The sender is FOLLOWING or LEADING. */
  if (m->round == z->el.round) {
    z->el.recv[pi] = (struct zab__heard){true, v, m->round, m->state};
    z->el.outof[pi] = z->el.recv[pi];
    if (quorum_equal(z, z->el.recv, &v) &&
        check_leader(z, v.leader, m->round)) {
      decide(z, &v);
      return;
    }
  }
  z->el.outof[pi] = (struct zab__heard){true, v, m->round, m->state};
  if (quorum_settled_on(z, v.leader) && check_leader(z, v.leader, m->round)) {
    z->el.round = m->round;
    decide(z, &v);
  }
}

void zab__election_removed_tick(struct zab *z) {
  if (z->now_ms < z->el.next_send_ms)
    return;
  send_all(z);
  z->el.next_send_ms = z->now_ms + z->el.interval_ms;
}

/* A removed server heard a vote: a newer configuration naming it makes
 * it a member again (re-added without a restart, as ZooKeeper allows). */
void zab__election_removed_msg(struct zab *z, const struct zab_msg *m) {
  zab__conf_heard_config(z, m->prev_zxid, m->data, m->len);
  z->conf_changed = false;
  if (!zab__conf_member(zab__conf_eff(z), z->cfg.my_id, NULL))
    return;
  z->removed = false;
  z->was_member = true;
  zab__log_msg(z, 1, "zab %u: added again by configuration %llx", z->cfg.my_id,
               (unsigned long long)zab__conf_eff(z)->version);
  zab__election_start(z);
}

void zab__election_tick(struct zab *z) {
  zab__check(z);
  assert(z->role == ZAB_ROLE_LOOKING);
  if (z->el.finalize_at_ms && z->now_ms >= z->el.finalize_at_ms) {
    /* No better vote arrived while we waited: the quorum stands. */
    z->el.finalize_at_ms = 0;
    if (quorum_equal(z, z->el.recv, &z->el.vote)) {
      struct zab__vote v = z->el.vote;
      decide(z, &v);
      return;
    }
  }
  if (z->now_ms >= z->el.next_send_ms) {
    send_all(z);
    if (z->quiet) {
      z->el.next_send_ms = z->now_ms + z->el.interval_ms;
      return;
    }
    uint64_t next = z->el.interval_ms * 2;
    z->el.interval_ms =
        next > z->cfg.election_max_ms ? z->cfg.election_max_ms : next;
    z->el.next_send_ms = z->now_ms + jitter(z, z->el.interval_ms);
  }
}

void zab__election_heard(struct zab *z) {
  if (!z->quiet)
    return;
  z->quiet = false;
  if (z->role != ZAB_ROLE_LOOKING)
    return;
  send_all(z);
  z->el.interval_ms = z->cfg.election_min_ms;
  z->el.next_send_ms = z->now_ms + jitter(z, z->el.interval_ms);
}

void zab__election_peer_up(struct zab *z, uint32_t peer) {
  int pi = zab__member_index(z, peer);
  if (zab__is_voter_index(z, (size_t)pi))
    zab__send_vote(z, peer);
}

uint64_t zab__election_timeout(const struct zab *z) {
  uint64_t t = z->el.next_send_ms;
  if (z->el.finalize_at_ms && z->el.finalize_at_ms < t)
    t = z->el.finalize_at_ms;
  return t;
}
