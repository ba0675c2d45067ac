/* Membership as a replicated, versioned configuration (ZooKeeper 3.5's
 * dynamic reconfiguration), and the quorum rule that makes it safe.
 *
 * A configuration change is a txn in the log (the driver's format; the
 * config_of callback recognises it); its zxid is the new configuration's
 * version.  It takes effect when it commits.  Between its proposal and its
 * commit, every quorum decision -- commit, election, discovery,
 * establishment, confirmation rounds, the leader's own health -- needs a
 * quorum of the old configuration AND one of the new: so any decision
 * taken under the old one and any taken under the new one intersect, and
 * no two quorums can decide different values across the change.  The
 * leader proposes one change at a time (ZAB_RECONFIG_BUSY) and only when a
 * quorum of the new configuration is synced with it (ZAB_NOQUORUM: new
 * members catch up by DIFF/SNAP as non-voting learners before they count).
 *
 * After a change commits, each server checks its own place: a removed
 * member stops for good (and tells its sessions), a leader that no longer
 * votes hands over (it steps down; the others elect at once), a learner
 * whose kind of stream changes (observer <-> follower) joins again. */
#include <string.h>

#include "proto/proto.h"
#include "zab/zab_int.h"

/* ------------------------------------------------------------------ */
/* Member lists */

int zab_conf_encode(const struct zab_member *m, size_t n,
                    struct proto_writer *w) {
  proto_write_int(w, (int32_t)n);
  for (size_t i = 0; i < n; i++) {
    proto_write_int(w, (int32_t)m[i].id);
    proto_write_bool(w, m[i].observer);
  }
  return proto_writer_err(w) == PROTO_OK ? ZAB_OK : ZAB_ENOMEM;
}

/* Checks what every configuration must be: 1..MAX members, ids > 0 and
 * unique, at least one voter. */
static bool conf_valid(const struct zab_member *m, size_t n) {
  if (n == 0 || n > ZAB_MAX_MEMBERS)
    return false;
  size_t voters = 0;
  for (size_t i = 0; i < n; i++) {
    if (m[i].id == 0)
      return false;
    for (size_t j = 0; j < i; j++)
      if (m[j].id == m[i].id)
        return false;
    voters += !m[i].observer;
  }
  return voters > 0;
}

int zab_conf_decode(const uint8_t *buf, size_t len, struct zab_member *out,
                    size_t *n_out) {
  *n_out = 0;
  if (len < 4)
    return ZAB_BADCONFIG;
  uint32_t n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
               (uint32_t)buf[2] << 8 | buf[3];
  if (n == 0 || n > ZAB_MAX_MEMBERS || len != 4 + (size_t)n * 5)
    return ZAB_BADCONFIG;
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *p = buf + 4 + i * 5;
    out[i].id = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                (uint32_t)p[2] << 8 | p[3];
    if (p[4] > 1)
      return ZAB_BADCONFIG;
    out[i].observer = p[4] == 1;
  }
  if (!conf_valid(out, n))
    return ZAB_BADCONFIG;
  *n_out = n;
  return ZAB_OK;
}

bool zab__conf_member(const struct zab__conf *c, uint32_t id, bool *observer) {
  for (size_t i = 0; i < c->n; i++) {
    if (c->m[i].id == id) {
      if (observer)
        *observer = c->m[i].observer;
      return true;
    }
  }
  return false;
}

static bool conf_votes(const struct zab__conf *c, uint32_t id) {
  bool obs;
  return zab__conf_member(c, id, &obs) && !obs;
}

bool zab__conf_parse(struct zab *z, const uint8_t *data, uint32_t len,
                     struct zab__conf *out, uint64_t version) {
  if (!z->cfg.config_of)
    return false;
  size_t n = 0;
  if (!z->cfg.config_of(z->cfg.config_ctx, data, len, out->m, &n))
    return false;
  if (n > ZAB_MAX_MEMBERS)
    n = 0; /* a broken callback: treated as invalid below */
  out->n = n;
  out->version = version;
  return true;
}

/* ------------------------------------------------------------------ */
/* The peer table */

int zab__peer_index(struct zab *z, uint32_t id, bool add) {
  for (size_t i = 0; i < z->n_members; i++)
    if (z->members[i].id == id)
      return (int)i;
  if (!add || id == 0 || z->n_members == ZAB_MAX_MEMBERS)
    return -1;
  z->members[z->n_members] = (struct zab_member){id, false};
  return (int)z->n_members++;
}

const struct zab__conf *zab__conf_eff(const struct zab *z) {
  return z->pending_zxid && z->pending_committed ? &z->next : &z->cur;
}

/* Recomputes who votes in the configurations a decision needs. */
void zab__conf_refresh(struct zab *z) {
  const struct zab__conf *a = zab__conf_eff(z);
  const struct zab__conf *b =
      z->pending_zxid && !z->pending_committed ? &z->next : NULL;
  for (size_t i = 0; i < a->n; i++)
    (void)zab__peer_index(z, a->m[i].id, true);
  for (size_t i = 0; b && i < b->n; i++)
    (void)zab__peer_index(z, b->m[i].id, true);
  z->has_b = b != NULL;
  for (size_t i = 0; i < z->n_members; i++) {
    z->voter_a[i] = conf_votes(a, z->members[i].id);
    z->voter_b[i] = b && conf_votes(b, z->members[i].id);
  }
  z->i_vote = z->voter_a[z->my_index] || z->voter_b[z->my_index];
  /* Like ZooKeeper, only voters of the committed configuration are
   * candidates: a member of a pending change that others have not seen
   * would get votes from nobody but those who saw it. */
  z->i_stand = z->voter_a[z->my_index];
  bool obs = false;
  z->i_am_observer = zab__conf_member(a, z->cfg.my_id, &obs) && obs &&
                     !z->voter_b[z->my_index];
}

bool zab__is_voter_index(const struct zab *z, size_t i) {
  return z->voter_a[i] || z->voter_b[i];
}

static bool quorum_of(const struct zab *z, const bool *voter, const bool *set) {
  size_t voters = 0, have = 0;
  for (size_t i = 0; i < z->n_members; i++) {
    if (!voter[i])
      continue;
    voters++;
    have += set[i];
  }
  return voters > 0 && have >= voters / 2 + 1;
}

/* set[i]: peer index i agrees.  A quorum of every needed configuration. */
bool zab__quorum_in(const struct zab *z, const bool *set) {
  if (!quorum_of(z, z->voter_a, set))
    return false;
  return !z->has_b || quorum_of(z, z->voter_b, set);
}

/* ------------------------------------------------------------------ */
/* Changes in the log */

static void set_pending(struct zab *z, const struct zab__entry *e) {
  struct zab__conf c;
  if (e->zxid <= z->cur.version)
    return; /* older than what we know committed (given at load) */
  if (!zab__conf_parse(z, e->data, e->len, &c, e->zxid) ||
      !conf_valid(c.m, c.n))
    return; /* the leader refuses those; nothing to follow */
  z->next = c;
  z->pending_zxid = e->zxid;
  z->pending_committed = false;
  zab__conf_refresh(z);
}

void zab__conf_appended(struct zab *z, struct zab__entry *e) {
  struct zab__conf c;
  e->config = zab__conf_parse(z, e->data, e->len, &c, e->zxid);
  if (e->config && e->zxid > z->commit_zxid)
    set_pending(z, e);
}

/* After a truncation or a reset: the pending change is the newest one
 * still in the log above the commit point. */
void zab__conf_rescan(struct zab *z) {
  bool had = z->pending_zxid != 0;
  z->pending_zxid = 0;
  z->pending_committed = false;
  size_t n = zab__log_count(&z->log);
  for (size_t i = n; i > zab__log_upper(&z->log, z->commit_zxid); i--) {
    const struct zab__entry *e = zab__log_at(&z->log, i - 1);
    if (e->config) {
      set_pending(z, e);
      return;
    }
  }
  if (had)
    zab__conf_refresh(z);
}

/* A txn was committed: a configuration change takes effect now. */
void zab__conf_committed(struct zab *z, const struct zab__entry *e) {
  if (!e->config || e->zxid <= z->cur.version)
    return;
  struct zab__conf c;
  if (e->zxid == z->pending_zxid)
    c = z->next;
  else if (!zab__conf_parse(z, e->data, e->len, &c, e->zxid))
    return;
  if (!conf_valid(c.m, c.n))
    return;
  z->cur = c;
  if (z->pending_zxid <= e->zxid) {
    z->pending_zxid = 0;
    z->pending_committed = false;
  }
  zab__conf_refresh(z);
  z->conf_changed = true;
  zab__log_msg(z, 0, "zab %u: configuration %llx committed (%zu members)",
               z->cfg.my_id, (unsigned long long)c.version, c.n);
}

/* A NOTIFICATION says its sender committed configuration `version`: if it
 * is our pending change, it is committed (a zxid names one txn), and the
 * new configuration alone counts from now on -- the old one's members
 * may be gone. */
void zab__conf_heard_version(struct zab *z, uint64_t version) {
  if (!z->pending_zxid || z->pending_committed || version != z->pending_zxid)
    return;
  z->pending_committed = true;
  zab__conf_refresh(z);
  z->conf_changed = true;
}

/* A NOTIFICATION brought its sender's committed configuration: if newer
 * than ours, it is in force (committed somewhere means committed).  Our
 * commit point may be behind it; the txn that made it, if in our log, is
 * simply not pending. */
void zab__conf_heard_config(struct zab *z, uint64_t version,
                            const uint8_t *data, uint32_t len) {
  if (!z->cfg.config_of || len == 0 || version <= zab__conf_eff(z)->version)
    return;
  struct zab__conf c;
  if (zab_conf_decode(data, len, c.m, &c.n) != ZAB_OK)
    return;
  c.version = version;
  z->cur = c;
  if (z->pending_zxid <= version) {
    z->pending_zxid = 0;
    z->pending_committed = false;
  }
  zab__conf_refresh(z);
  z->conf_changed = true;
  zab__log_msg(z, 0, "zab %u: learned configuration %llx from a vote",
               z->cfg.my_id, (unsigned long long)version);
}

/* The leader's checks before it proposes a txn. */
int zab__conf_check_proposal(struct zab *z, const uint8_t *data, uint32_t len,
                             bool *is_config, struct zab__conf *out) {
  *is_config = zab__conf_parse(z, data, len, out, 0);
  if (!*is_config)
    return ZAB_OK;
  if (z->pending_zxid)
    return ZAB_RECONFIG_BUSY;
  if (!conf_valid(out->m, out->n))
    return ZAB_BADCONFIG;
  /* A quorum of the new configuration must hold our log already (synced
   * followers; us if we vote in it), or the change could not commit. */
  size_t voters = 0, synced = 0;
  for (size_t k = 0; k < out->n; k++) {
    if (out->m[k].observer)
      continue;
    voters++;
    int i = zab__peer_index(z, out->m[k].id, false);
    if (i < 0)
      continue;
    if ((size_t)i == z->my_index ||
        (z->ld.h[i].phase == H_SYNCED && !z->ld.h[i].observer))
      synced++;
  }
  if (synced < voters / 2 + 1)
    return ZAB_NOQUORUM;
  return ZAB_OK;
}

/* ------------------------------------------------------------------ */
/* Our own place, after a change took effect */

void zab__conf_after_step(struct zab *z) {
  if (!z->conf_changed || z->removed)
    return;
  z->conf_changed = false;
  const struct zab__conf *c = zab__conf_eff(z);
  bool obs = false;
  bool member = zab__conf_member(c, z->cfg.my_id, &obs);
  if (!member && z->was_member) {
    /* Removed: stop serving, and say so to every session. */
    z->removed = true;
    zab__go_looking(z, "removed from the configuration");
    zab__log_msg(z, 1, "zab %u: removed by configuration %llx; stopped",
                 z->cfg.my_id, (unsigned long long)c->version);
    return;
  }
  z->was_member = member;
  if (z->role == ZAB_ROLE_LEADING && !z->i_vote)
    /* Hand over: the voters elect among themselves at once (our
     * STEPDOWN tells them now rather than after syncLimit). */
    zab__go_looking(z, "no longer a voter: handing over leadership");
  else if ((z->role == ZAB_ROLE_OBSERVING && !z->i_am_observer) ||
           (z->role == ZAB_ROLE_FOLLOWING && z->i_am_observer))
    zab__go_looking(z, "role changed: joining again");
  else if (z->role == ZAB_ROLE_LOOKING && z->el.vote.leader != 0 &&
           (zab__member_index(z, z->el.vote.leader) < 0 ||
            !z->voter_a[zab__member_index(z, z->el.vote.leader)]))
    /* Our candidate (maybe we) no longer votes: the others would drop
     * our notifications and never see our round.  Start again. */
    zab__go_looking(z, "our candidate is no longer a voter");
  else if (z->role == ZAB_ROLE_LOOKING && z->i_stand && z->el.vote.leader == 0)
    /* We became a voter while looking (a change we held turned out
     * committed): stand, or a quorum may lack our vote. */
    zab__go_looking(z, "now a voter: standing");
}

size_t zab_config_get(const struct zab *z, struct zab_member *out, size_t max,
                      uint64_t *version) {
  const struct zab__conf *c = &z->cur;
  for (size_t i = 0; i < c->n && i < max; i++)
    out[i] = c->m[i];
  if (version)
    *version = c->version;
  return c->n;
}
