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
  struct zab_msg m = {.type = ZAB_MSG_NOTIFICATION,
                      .epoch = z->el.vote.epoch,
                      .zxid = z->el.vote.zxid,
                      .leader = z->el.vote.leader,
                      .round = z->el.round,
                      .state = z->role};
  zab__push_send(z, to, &m);
}

static void send_all(struct zab *z) {
  for (size_t i = 0; i < z->n_members; i++)
    if (i != z->my_index && zab__is_voter_index(z, i))
      zab__send_vote(z, z->members[i].id);
}

static void set_proposal(struct zab *z, const struct zab__vote *v) {
  z->el.vote = *v;
  if (!z->i_am_observer)
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
  z->stats.n_elections++;
  z->el.round++;
  memset(z->el.recv, 0, sizeof z->el.recv);
  memset(z->el.outof, 0, sizeof z->el.outof);
  memset(z->el.early, 0, sizeof z->el.early);
  z->el.finalize_at_ms = 0;
  struct zab__vote none = {0, 0, 0};
  if (z->i_am_observer) {
    z->el.vote = none; /* observers never stand; they ask who leads */
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
  if (!z->i_am_observer && z->n_voters == 1) {
    /* An ensemble of one (standalone): nobody can send a better vote. */
    struct zab__vote v = z->el.vote;
    decide(z, &v);
  }
}

static size_t count_equal(const struct zab *z, const struct zab__heard *set,
                          const struct zab__vote *v) {
  size_t n = 0;
  for (size_t i = 0; i < z->n_members; i++)
    if (set[i].valid && zab__is_voter_index(z, i) &&
        vote_equal(&set[i].vote, v))
      n++;
  return n;
}

/* Voters that settled (FOLLOWING/LEADING) on leader id L. */
static size_t count_settled_on(const struct zab *z, uint32_t leader) {
  size_t n = 0;
  for (size_t i = 0; i < z->n_members; i++) {
    const struct zab__heard *h = &z->el.outof[i];
    if (h->valid && zab__is_voter_index(z, i) && h->vote.leader == leader &&
        (h->state == ZAB_ROLE_FOLLOWING || h->state == ZAB_ROLE_LEADING))
      n++;
  }
  return n;
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

void zab__election_on_msg(struct zab *z, uint32_t from,
                          const struct zab_msg *m) {
  zab__check(z);
  int pi = zab__member_index(z, from);
  if (!zab__is_voter_index(z, (size_t)pi)) {
    /* An observer asks who leads: a voter answers with where it stands. */
    if (!z->i_am_observer)
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
  if (li < 0 || !zab__is_voter_index(z, (size_t)li)) {
    /* A LOOKING observer-less vote (leader 0) is never sent by a voter. */
    zab__drop(z, from, m, "vote for a non-voter");
    return;
  }
  struct zab__vote v = {m->leader, m->zxid, m->epoch};

  if (z->i_am_observer) {
    if (!settled)
      return;
    z->el.outof[pi] = (struct zab__heard){true, v, m->round, m->state};
    if (count_settled_on(z, v.leader) >= zab__quorum(z) &&
        check_leader(z, v.leader, m->round))
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
    if (count_equal(z, z->el.recv, &z->el.vote) >= zab__quorum(z)) {
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
    if (count_equal(z, z->el.recv, &v) >= zab__quorum(z) &&
        check_leader(z, v.leader, m->round)) {
      decide(z, &v);
      return;
    }
  }
  z->el.outof[pi] = (struct zab__heard){true, v, m->round, m->state};
  if (count_settled_on(z, v.leader) >= zab__quorum(z) &&
      check_leader(z, v.leader, m->round)) {
    z->el.round = m->round;
    decide(z, &v);
  }
}

void zab__election_tick(struct zab *z) {
  zab__check(z);
  assert(z->role == ZAB_ROLE_LOOKING);
  if (z->el.finalize_at_ms && z->now_ms >= z->el.finalize_at_ms) {
    /* No better vote arrived while we waited: the quorum stands. */
    z->el.finalize_at_ms = 0;
    if (count_equal(z, z->el.recv, &z->el.vote) >= zab__quorum(z)) {
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
