/* ens_ro.c — read-only mode (readonlymode.enabled), as ZooKeeper's
 * ReadOnlyZooKeeperServer.
 *
 * When.  A member whose election has gone on for max(2 s, tickTime)
 * without a leader (ZooKeeper's grace period before it decides it is cut
 * off) turns read-only.  As soon as zab announces any other role (an
 * election ended: follower, leader or observer) it leaves read-only mode:
 * every client connection is closed and the read-only sessions forgotten,
 * so that clients reconnect to a read-write member, as ZooKeeper shuts its
 * read-only server down (closeAllConnections).  The tree does not change
 * while read-only: only a leader's COMMIT changes it, and zab announces
 * the new role before any sync with one.
 *
 * Clients.  Only those that sent canBeReadOnly are let in; the others are
 * closed without an answer and try another server.  The ConnectResponse
 * has readOnly set.  Reads, watches, auth and pings are served from the
 * tree as it was when the quorum was lost (possibly stale); every write
 * and sync is answered NotReadOnly (-119), in the connection's order
 * (ZooKeeper's ReadOnlyRequestProcessor).
 *
 * Sessions (ZooKeeper 3.8, ZOOKEEPER-3863).  A new session is a local
 * one: known to this member alone, made and ended without a transaction,
 * expired by this member on its own timeout, forgotten when read-only mode
 * ends.  A client that never saw a read-write server sends session id 0
 * when it reconnects and gets a new global session from a read-write
 * member (kazoo sends the local id back: the member answers "expired" and
 * kazoo makes a new session).  A global session (in the tree: made through
 * a quorum) is refused in read-only mode, the connection closed without an
 * answer, so its client keeps looking for a read-write member.  While no
 * member leads no global session expires (only a leader expires sessions),
 * and a new leader gives every session a full timeout from its start
 * (ens_driver.c set_role), so a client back within its timeout keeps its
 * session and ephemerals.  ZooKeeper 3.8 makes local sessions only with
 * localSessionsEnabled=true (without it a read-only member refuses every
 * new session); Roost refuses that key (its read-write sessions are all
 * global) and makes read-only sessions local regardless. */
#include "server/ens_int.h"

#define ENS_RO_GRACE_MIN_MS 2000u

static uint64_t grace_ms(const struct srv_ens *e) {
  uint64_t tick = (uint64_t)e->s->cfg.tick_time_ms;
  return tick > ENS_RO_GRACE_MIN_MS ? tick : ENS_RO_GRACE_MIN_MS;
}

static void ro_enter(uv_timer_t *h) {
  struct srv_ens *e = h->data;
  if (e->stopping || e->read_only || e->role != ZAB_ROLE_LOOKING)
    return;
  e->read_only = true;
  e->ro_entered++;
  srv_log(e->s, SRV_LOG_INFO,
          "read-only mode: no leader for %" PRIu64
          " ms; serving read-only clients",
          grace_ms(e));
}

/* Looking and not read-only yet: the grace period runs (once). */
static void arm(struct srv_ens *e) {
  if (e->role == ZAB_ROLE_LOOKING && !e->read_only &&
      !uv_is_active((uv_handle_t *)&e->ro_timer))
    uv_timer_start(&e->ro_timer, ro_enter, grace_ms(e), 0);
}

void ens_ro_open(struct srv_ens *e) {
  if (!e->s->cfg.read_only_mode)
    return;
  uv_timer_init(&e->s->loop, &e->ro_timer);
  e->ro_timer.data = e;
  e->ro_timer_open = true;
  arm(e);
}

void ens_ro_stop(struct srv_ens *e) {
  if (e->ro_timer_open)
    uv_close((uv_handle_t *)&e->ro_timer, NULL);
  e->ro_timer_open = false;
}

/* zab announced a role (set_role, after e->role changed from was). */
void ens_ro_role(struct srv_ens *e, enum zab_role was) {
  if (!e->ro_timer_open)
    return;
  if (e->role == ZAB_ROLE_LOOKING) {
    arm(e);
    return;
  }
  uv_timer_stop(&e->ro_timer);
  if (!e->read_only)
    return;
  e->read_only = false;
  srv_log(e->s, SRV_LOG_INFO,
          "read-only mode ends (%s after %s, leader %u): closing the "
          "read-only clients so that they reconnect read-write",
          zab_role_name(e->role), zab_role_name(was), e->leader);
  srv_conns_close_all_clients(e->s);
  srv_sessions_remove_read_only(e->s);
}

void ens_ro_mntr(const struct srv_ens *e, struct proto_writer *w) {
  char b[128];
  int n = snprintf(b, sizeof b,
                   "roost_read_only\t%d\n"
                   "roost_read_only_entered\t%" PRIu64 "\n",
                   e->read_only ? 1 : 0, e->ro_entered);
  if (n > 0 && (size_t)n < sizeof b)
    proto_write_raw(w, b, (size_t)n);
}

bool ens_read_only(const struct srv *s) {
  const struct srv_ens *e = s->rep_state;
  return e->read_only;
}

/* New client connections too are taken only while healthy (see
 * refuse_unhealthy in ens_forward.c): a client whose write was refused
 * must not be let straight back in to be refused again, but try another
 * member. */
bool ens_serving(const struct srv *s) {
  const struct srv_ens *e = s->rep_state;
  struct zab_status st;
  zab_status_get(e->zab, &st);
  return e->serving && st.healthy;
}

const char *ens_admit(const struct srv *s, int64_t session_id, bool can_ro) {
  const struct srv_ens *e = s->rep_state;
  if (!e->read_only)
    return ens_serving(s) ? NULL : "not serving clients (no leader yet)";
  if (!can_ro)
    return "not a read-only client, and this member is read-only (no "
           "quorum)";
  if (session_id != 0 && tree_session_exists(s->tree, session_id))
    return "refusing a global session in read-only mode";
  return NULL;
}

bool ens_ro_create_session(struct srv_conn *c, int64_t id, int32_t timeout_ms) {
  return srv_commit_local_open(c->srv, id, timeout_ms);
}
