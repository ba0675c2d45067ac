/* Followers and observers: phases 1-3 of ZAB from the learner's side.
 *
 *   Phase 1, discovery: FOLLOWERINFO(acceptedEpoch, last zxid) with a fresh
 *     session id; on LEADERINFO(e): refuse e below our acceptedEpoch, else
 *     persist acceptedEpoch = e and send ACKEPOCH(currentEpoch, last zxid).
 *   Phase 2, synchronisation: one header (DIFF / TRUNC / SNAP) makes our log
 *     a prefix of the leader's; then PROPOSALs (appended, contiguously),
 *     COMMITs and NEWLEADER.  Once the stream is durable we persist
 *     currentEpoch = e and send ACKNEWLEADER; UPTODATE means serve.
 *   Phase 3, broadcast: append PROPOSALs, ACK once durable (never before),
 *     apply COMMITs in order; observers append and apply INFORMs.
 * A learner that does not finish syncing within initLimit ticks, or then
 * hears nothing from its leader for syncLimit ticks, or hears it but is
 * not heard (the leader's PINGs stop echoing ours) for syncLimit ticks,
 * goes back to LOOKING; so does one that gets STEPDOWN in its session.
 *
 * Every message from the leader carries the session id we chose, so a
 * duplicate or a late message from an earlier connection is dropped; inside
 * a session, a proposal that does not directly follow our last zxid means
 * the stream lost something, and we resync rather than log a gap. */
#include <string.h>

#include "zab/zab_int.h"

#include <assert.h>

static uint64_t limit_ms(const struct zab *z, uint32_t ticks) {
  return (uint64_t)ticks * z->cfg.tick_ms;
}

static void send_leader(struct zab *z, enum zab_msg_type type, uint32_t epoch,
                        uint64_t zxid) {
  struct zab_msg m = {.type = type,
                      .epoch = epoch,
                      .zxid = zxid,
                      .session = z->ln.session,
                      .observer = z->i_am_observer};
  zab__push_send(z, z->leader_id, &m);
}

static void send_followerinfo(struct zab *z) {
  send_leader(z, ZAB_MSG_FOLLOWERINFO, z->accepted_epoch, zab__last_zxid(z));
}

void zab__follow(struct zab *z, uint32_t leader) {
  z->role = z->i_am_observer ? ZAB_ROLE_OBSERVING : ZAB_ROLE_FOLLOWING;
  z->leader_id = leader;
  z->epoch = 0;
  z->serving = false;
  memset(&z->ln, 0, sizeof z->ln);
  do
    z->ln.session = zab__rand(z);
  while (z->ln.session == 0);
  z->ln.phase = L_DISCOVERY;
  z->ln.base_zxid = zab__last_zxid(z);
  z->ln.started_ms = z->ln.last_heard_ms = z->ln.last_echo_ms = z->now_ms;
  z->ln.next_ping_ms = z->now_ms + z->cfg.tick_ms;
  zab__announce(z);
  send_followerinfo(z);
}

/* ------------------------------------------------------------------ */
/* Phase 1: discovery */

static void on_leaderinfo(struct zab *z, const struct zab_msg *m) {
  if (z->ln.phase != L_DISCOVERY)
    return; /* a repeat: we already answered */
  uint32_t e = m->epoch;
  if (e == 0) {
    zab__drop(z, z->leader_id, m, "epoch 0 is never led");
    return;
  }
  if (e < z->accepted_epoch) {
    zab__go_looking(z, "leader's epoch is below our acceptedEpoch");
    return;
  }
  if (e > z->accepted_epoch)
    zab__persist_epochs(z, e, z->current_epoch); /* durable before ACK */
  z->epoch = e;
  send_leader(z, ZAB_MSG_ACKEPOCH, z->current_epoch, zab__last_zxid(z));
  z->ln.phase = L_SYNC;
  zab__announce(z);
}

/* ------------------------------------------------------------------ */
/* Phase 2: synchronisation */

static void try_ack_newleader(struct zab *z) {
  if (!z->ln.newleader_pending || zab__last_zxid(z) < z->ln.newleader_zxid)
    return;
  bool bug = (z->cfg.test_bugs & ZAB_TEST_BUG_ACK_BEFORE_DURABLE) != 0;
  if (z->durable_zxid < z->ln.newleader_zxid && !bug)
    return; /* the stream must be on disk first */
  uint64_t upto = bug ? zab__last_zxid(z) : z->durable_zxid;
  z->ln.newleader_pending = false;
  /* currentEpoch = e says "my log is epoch e's history"; it becomes true,
   * and is persisted, only now that the log is durable. */
  zab__persist_epochs(z, z->accepted_epoch, z->epoch);
  send_leader(z, ZAB_MSG_ACKNEWLEADER, z->epoch, upto);
  z->ln.acked_zxid = upto;
  z->ln.phase = L_BROADCAST;
}

static bool same_members(const struct zab__conf *a, const struct zab__conf *b) {
  if (a->n != b->n)
    return false;
  for (size_t i = 0; i < a->n; i++)
    if (a->m[i].id != b->m[i].id || a->m[i].observer != b->m[i].observer)
      return false;
  return true;
}

/* After the sync header: the leader's committed configuration (its CONFIG
 * came first) is ours unless ours is newer.  At the same version the two
 * differ only when both are static files (version 0): a joiner's names
 * the joiner, the ensemble's does not.  Kept, the joiner would stand in
 * elections as a voter nobody else counts, and while a change that adds
 * it is pending it votes for itself, which the others drop as a vote for
 * a non-voter: no quorum of the change, no leader (found by
 * test_reconfig_faults.py, kill9join).  A joiner adopting the leader's
 * membership was never a member of it: not a removal. */
static void adopt_leader_conf(struct zab *z) {
  const struct zab__conf *c = &z->ln.snap_conf;
  if (z->cfg.config_of && z->ln.have_snap_conf &&
      c->version >= z->cur.version && !same_members(c, &z->cur)) {
    if (c->version == z->cur.version)
      z->was_member = zab__conf_member(c, z->cfg.my_id, NULL);
    z->cur = *c;
    z->conf_changed = true;
  }
  zab__conf_rescan(z);
  zab__conf_refresh(z);
}

static void on_diff(struct zab *z, const struct zab_msg *m) {
  if (m->zxid != zab__last_zxid(z)) {
    zab__go_looking(z, "DIFF from a point that is not our last zxid");
    return;
  }
  z->stats.n_sync_diff++;
  z->ln.synced = true;
  adopt_leader_conf(z);
}

static void on_trunc(struct zab *z, const struct zab_msg *m) {
  uint64_t t = m->zxid;
  if (t > zab__last_zxid(z) ||
      (t != z->log.base && !zab__log_find(&z->log, t, NULL))) {
    zab__go_looking(z, "TRUNC to a zxid we do not have");
    return;
  }
  if (t < z->commit_zxid) {
    /* Never undo a committed txn, whoever asks. */
    zab__go_looking(z, "TRUNC below our commit point");
    return;
  }
  z->stats.n_sync_trunc++;
  z->ln.synced = true;
  struct zab_action a = {.type = ZAB_ACT_TRUNCATE, .zxid = t};
  /* Planted bug: forget to tell the driver, so the txns that did not
   * survive stay in the log on disk (and come back at the next load). */
  if (!(z->cfg.test_bugs & ZAB_TEST_BUG_SKIP_TRUNC))
    zab__push(z, &a, NULL, 0);
  zab__log_truncate(&z->log, t);
  if (z->durable_zxid > t)
    z->durable_zxid = t;
  adopt_leader_conf(z); /* a change that did not survive is not pending */
}

static void on_snap(struct zab *z, const struct zab_msg *m) {
  if (m->zxid < z->commit_zxid) {
    zab__go_looking(z, "SNAP older than our commit point");
    return;
  }
  if (z->cfg.config_of &&
      (!z->ln.have_snap_conf || z->ln.snap_conf.version != m->prev_zxid ||
       m->prev_zxid > m->zxid)) {
    zab__go_looking(z, "SNAP without the configuration its state holds");
    return;
  }
  struct zab_action a = {.type = ZAB_ACT_INSTALL_SNAP, .zxid = m->zxid};
  zab__push(z, &a, m->data, m->len);
  zab__log_reset(&z->log, m->zxid);
  z->commit_zxid = m->zxid;
  z->durable_zxid = m->zxid;
  z->stats.n_sync_snap++;
  z->ln.synced = true;
  /* The state holds the configuration the leader sent before it. */
  adopt_leader_conf(z);
}

static void on_config(struct zab *z, const struct zab_msg *m) {
  struct zab__conf *c = &z->ln.snap_conf;
  if (z->ln.phase != L_SYNC || z->ln.synced ||
      zab_conf_decode(m->data, m->len, c->m, &c->n) != ZAB_OK) {
    zab__drop(z, z->leader_id, m, "CONFIG not expected now, or invalid");
    return;
  }
  c->version = m->zxid;
  z->ln.have_snap_conf = true;
}

/* ------------------------------------------------------------------ */
/* Phase 3: broadcast (and the txns of the sync stream) */

/* The leader committed up to zxid.  Everything we hold up to there is the
 * leader's history, so apply it.  On an in-order channel the txns always
 * arrive before the commit point that covers them; a commit point beyond
 * our log means the stream lost something, and nothing later would reveal
 * the hole if the leader went quiet: resync now. */
static bool commit_known(struct zab *z, uint64_t zxid) {
  if (zxid > zab__last_zxid(z)) {
    zab__go_looking(z, "leader committed txns we never received");
    return false;
  }
  zab__commit_to(z, zxid);
  return true;
}

static bool append(struct zab *z, const struct zab_msg *m) {
  uint64_t last = zab__last_zxid(z);
  if (m->prev_zxid != last || !zab__zxid_follows(last, m->zxid)) {
    zab__go_looking(z, "gap in the txn stream");
    return false;
  }
  if (zab_zxid_epoch(m->zxid) > z->epoch) {
    zab__go_looking(z, "txn from an epoch after the leader's");
    return false;
  }
  /* Uncommitted txns this leader sent us: those above both the commit
   * point and what we logged before following it. */
  uint64_t floor =
      z->commit_zxid > z->ln.base_zxid ? z->commit_zxid : z->ln.base_zxid;
  size_t pending = zab__log_count(&z->log) - zab__log_upper(&z->log, floor);
  if (pending >= 2 * (size_t)z->cfg.max_outstanding) {
    zab__go_looking(z, "too many uncommitted txns from the leader");
    return false;
  }
  if (zab__log_append(&z->log, m->zxid, m->data, m->len) != ZAB_OK) {
    z->oom = true;
    return false;
  }
  struct zab_action a = {.type = ZAB_ACT_APPEND, .zxid = m->zxid};
  zab__push(z, &a, m->data, m->len);
  zab__conf_appended(z, zab__log_at(&z->log, zab__log_count(&z->log) - 1));
  return true;
}

static void on_proposal(struct zab *z, const struct zab_msg *m) {
  if (m->zxid <= zab__last_zxid(z))
    return; /* a duplicate of what we hold */
  if (!append(z, m))
    return;
  if ((z->cfg.test_bugs & ZAB_TEST_BUG_ACK_BEFORE_DURABLE) &&
      z->ln.phase == L_BROADCAST && !z->i_am_observer) {
    send_leader(z, ZAB_MSG_ACK, z->epoch, m->zxid); /* planted bug */
    z->ln.acked_zxid = m->zxid;
  }
}

static void on_inform(struct zab *z, const struct zab_msg *m) {
  if (m->zxid > zab__last_zxid(z) && !append(z, m))
    return;
  commit_known(z, m->zxid);
}

void zab__learner_durable(struct zab *z) {
  zab__check(z);
  assert(z->role == ZAB_ROLE_FOLLOWING || z->role == ZAB_ROLE_OBSERVING);
  try_ack_newleader(z);
  if (z->ln.phase == L_BROADCAST && !z->i_am_observer &&
      z->durable_zxid > z->ln.acked_zxid) {
    send_leader(z, ZAB_MSG_ACK, z->epoch, z->durable_zxid);
    z->ln.acked_zxid = z->durable_zxid;
  }
}

/* ------------------------------------------------------------------ */
/* Dispatch, heartbeats, timeouts */

void zab__learner_on_msg(struct zab *z, uint32_t from,
                         const struct zab_msg *m) {
  zab__check(z);
  assert(z->role == ZAB_ROLE_FOLLOWING || z->role == ZAB_ROLE_OBSERVING);
  if (m->type == ZAB_MSG_STEPDOWN &&
      (from != z->leader_id || m->session != z->ln.session))
    return; /* of a session we no longer hold (late, or a refusal of our
               old messages): nothing to undo */
  if (from != z->leader_id) {
    zab__drop(z, from, m, "not from the leader we follow");
    zab__refuse(z, from, m);
    return;
  }
  if (m->session != z->ln.session) {
    zab__drop(z, from, m, "from another session with the leader");
    zab__refuse(z, from, m);
    return;
  }
  if (m->type == ZAB_MSG_STEPDOWN) {
    /* It stopped leading, or does not hold our session (restarted,
     * dropped us): waiting for syncLimit would only delay the election. */
    zab__go_looking(z, "the leader stepped down or refused our session");
    return;
  }
  z->ln.last_heard_ms = z->now_ms;
  if (m->type == ZAB_MSG_LEADERINFO) {
    on_leaderinfo(z, m);
    return;
  }
  if (z->ln.phase == L_DISCOVERY || m->epoch != z->epoch) {
    zab__drop(z, from, m, "before LEADERINFO or from another epoch");
    return;
  }
  if (m->type == ZAB_MSG_CONFIG) {
    on_config(z, m);
    return;
  }
  bool header = m->type == ZAB_MSG_DIFF || m->type == ZAB_MSG_TRUNC ||
                m->type == ZAB_MSG_SNAP;
  if (header) {
    if (z->ln.synced || z->ln.phase != L_SYNC) {
      zab__drop(z, from, m, "second sync header in one session");
      return;
    }
    if (m->type == ZAB_MSG_DIFF)
      on_diff(z, m);
    else if (m->type == ZAB_MSG_TRUNC)
      on_trunc(z, m);
    else
      on_snap(z, m);
    return;
  }
  if (!z->ln.synced) {
    /* Before the header our log may hold txns that will be truncated:
     * nothing may be appended or committed yet. */
    zab__drop(z, from, m, "before the sync header");
    return;
  }
  switch (m->type) {
  case ZAB_MSG_PROPOSAL:
    on_proposal(z, m);
    return;
  case ZAB_MSG_INFORM:
    if (!z->i_am_observer) {
      zab__drop(z, from, m, "INFORM to a follower");
      return;
    }
    on_inform(z, m);
    return;
  case ZAB_MSG_PING:
    if (m->prev_zxid > zab__last_zxid(z)) {
      /* The leader sent txns before this PING that never came. */
      zab__go_looking(z, "leader holds txns we never received");
      return;
    }
    if (m->round > z->ln.echo_seen && m->round <= z->ln.ping_seq) {
      z->ln.echo_seen = m->round; /* it still hears us */
      z->ln.last_echo_ms = z->now_ms;
    }
    commit_known(z, m->zxid);
    return;
  case ZAB_MSG_COMMIT:
    commit_known(z, m->zxid);
    return;
  case ZAB_MSG_CONFIRM:
    /* Still following this leader in this epoch: say so for its round.
     * (Observers do not vote, so they are never asked.) */
    if (z->ln.phase != L_BROADCAST || z->i_am_observer) {
      zab__drop(z, from, m, "CONFIRM before our ACKNEWLEADER");
      return;
    }
    send_leader(z, ZAB_MSG_CONFIRMED, z->epoch, m->zxid);
    return;
  case ZAB_MSG_NEWLEADER:
    if (z->ln.phase != L_SYNC) {
      zab__drop(z, from, m, "NEWLEADER after the sync");
      return;
    }
    z->ln.newleader_pending = true;
    z->ln.newleader_zxid = m->zxid;
    try_ack_newleader(z);
    return;
  case ZAB_MSG_UPTODATE:
    if (z->ln.phase != L_BROADCAST) {
      zab__drop(z, from, m, "UPTODATE before our ACKNEWLEADER");
      return;
    }
    if (!commit_known(z, m->zxid))
      return;
    if (!z->ln.uptodate) {
      z->ln.uptodate = true;
      z->ln.last_echo_ms = z->now_ms; /* the echo rule starts now */
      z->serving = true;
      zab__announce(z);
    }
    return;
  default:
    zab__drop(z, from, m, "not a leader-to-learner message");
    return;
  }
}

void zab__learner_peer(struct zab *z, uint32_t peer, bool up) {
  if (peer != z->leader_id)
    return;
  if (!up) {
    zab__go_looking(z, "connection to the leader lost");
    return;
  }
  if (z->ln.phase == L_DISCOVERY)
    send_followerinfo(z);
}

void zab__learner_tick(struct zab *z) {
  zab__check(z);
  assert(z->role == ZAB_ROLE_FOLLOWING || z->role == ZAB_ROLE_OBSERVING);
  uint64_t now = z->now_ms;
  if (!z->ln.uptodate &&
      now - z->ln.started_ms > limit_ms(z, z->cfg.init_limit)) {
    zab__go_looking(z, "not synced within initLimit");
    return;
  }
  if (z->ln.uptodate &&
      now - z->ln.last_heard_ms > limit_ms(z, z->cfg.sync_limit)) {
    zab__go_looking(z, "leader silent for syncLimit");
    return;
  }
  if (z->ln.uptodate &&
      now - z->ln.last_echo_ms > limit_ms(z, z->cfg.sync_limit)) {
    /* We hear the leader but it does not hear us (a one-way partition):
     * it cannot count our ACKs, and nothing would end this but us. */
    zab__go_looking(z, "the leader has not heard us for syncLimit");
    return;
  }
  if (now >= z->ln.next_ping_ms) {
    if (z->ln.phase == L_DISCOVERY) {
      send_followerinfo(z); /* the first may have met a closed link */
    } else {
      if (z->ln.phase == L_BROADCAST && !z->i_am_observer &&
          z->ln.acked_zxid > z->commit_zxid)
        /* Not committed a tick later: our ACK may have been lost on a
         * connection that stayed up (a one-way partition), and the
         * leader waits for it with nothing else to come.  Again. */
        send_leader(z, ZAB_MSG_ACK, z->epoch, z->ln.acked_zxid);
      struct zab_msg m = {.type = ZAB_MSG_PING,
                          .epoch = z->epoch,
                          .zxid = z->durable_zxid,
                          .session = z->ln.session,
                          .round = ++z->ln.ping_seq};
      zab__push_send(z, z->leader_id, &m);
    }
    z->ln.next_ping_ms = now + z->cfg.tick_ms;
  }
}

uint64_t zab__learner_timeout(const struct zab *z) {
  uint64_t t = z->ln.next_ping_ms;
  uint64_t heard = z->ln.last_heard_ms < z->ln.last_echo_ms
                       ? z->ln.last_heard_ms
                       : z->ln.last_echo_ms;
  uint64_t d = z->ln.uptodate
                   ? heard + limit_ms(z, z->cfg.sync_limit) + 1
                   : z->ln.started_ms + limit_ms(z, z->cfg.init_limit) + 1;
  return d < t ? d : t;
}
