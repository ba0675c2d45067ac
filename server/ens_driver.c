/* ens_driver.c — the zab driver: ens_step is the only place zab is stepped;
 * its actions are performed in order here, and COMMIT goes to srv_commit. */
#include "server/ens_int.h"

/* ------------------------------------------------------------------ */
/* commit path */

void ens_sync_check(struct srv_ens *e) {
  struct srv *s = e->s;
  if (e->n_sync_waiting == 0)
    return;
  int64_t applied = tree_last_zxid(s->tree);
  for (struct srv_conn *c = s->conns; c != NULL; c = c->next) {
    struct srv_order *o = &c->order;
    if (o->wait != SRV_WAIT_SYNC)
      continue;
    /* On the leader: its round confirmed, everything committed is
     * applied here. */
    if (o->sync_round != 0 && o->sync_round <= e->confirm_done)
      o->sync_zxid = 0;
    if (o->sync_zxid < 0 || o->sync_zxid > applied)
      continue;
    e->n_sync_waiting--;
    srv_commit_sync_done(c);
  }
}

/* Leader: rounds up to e->confirm_done are confirmed; answer the syncs
 * that waited for them, local and forwarded. */
void ens_confirmed(struct srv_ens *e) {
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
    proto_store_be32(out + 8, (uint32_t)(st.commit_zxid >> 32));
    proto_store_be32(out + 12, (uint32_t)st.commit_zxid);
    struct ens_peer *p = ens_peer_of(e, f->from);
    if (p != NULL)
      ens_peer_send(p, ENS_K_SYNCED, out, sizeof out);
  }
  e->n_fsyncs = k;
  ens_sync_check(e); /* our own clients' syncs */
}

/* zab committed zxid: srv_commit applies and answers; then this
 * member's own bookkeeping. */
void ens_commit(struct srv_ens *e, uint64_t zxid, const uint8_t *d,
                uint32_t len) {
  srv_commit(e->s, (int64_t)zxid, d, len);
  ens_reconfig_committed(e, d, len);
  ens_pend_drop_upto(e, zxid);
  tree_pending_applied(e->tpend, (int64_t)zxid);
  ens_sync_check(e);
}

/* ------------------------------------------------------------------ */
/* zab driver */

static void send_zab(struct srv_ens *e, uint32_t to, const struct zab_msg *m) {
  struct ens_peer *p = ens_peer_of(e, to);
  if (p == NULL)
    return;
  proto_writer_reset(&e->w);
  if (zab_msg_encode(m, &e->w) != ZAB_OK || proto_writer_err(&e->w) != PROTO_OK)
    return;
  ens_peer_send(p, ENS_K_ZAB, e->w.buf, e->w.len);
}

/* ZooKeeper's election_time: from LOOKING to leading or following (its
 * Leader.lead / Follower.followLeader; an observer counts none), in ms. */
static void election_timed(struct srv_ens *e, enum zab_role from,
                           enum zab_role to) {
  uint64_t now = uv_hrtime();
  if (to == ZAB_ROLE_LOOKING) {
    e->looking_since_ns = now;
    return;
  }
  if (from != ZAB_ROLE_LOOKING ||
      (to != ZAB_ROLE_LEADING && to != ZAB_ROLE_FOLLOWING))
    return;
  struct srv_metrics *m = e->s->metrics;
  if (m == NULL)
    return;
  uint64_t ms = (now - e->looking_since_ns) / 1000000u;
  if (m->election_ms.count == 0 || ms < m->election_min_ms)
    m->election_min_ms = ms;
  if (ms > m->election_max_ms)
    m->election_max_ms = ms;
  srv_hist_add(&m->election_ms, ms);
}

static void set_role(struct srv_ens *e, const struct zab_action *a) {
  struct srv *s = e->s;
  bool was_serving = e->serving;
  bool was_leader = e->role == ZAB_ROLE_LEADING;
  enum zab_role was_role = e->role;
  /* Pending records describe proposals of one serving leadership. */
  bool same_leadership = was_leader && was_serving &&
                         a->role == ZAB_ROLE_LEADING && a->serving &&
                         a->epoch == e->epoch;
  if (!same_leadership)
    e->pt_len = 0; /* proposals of another leadership: not ours to time */
  if (a->role != was_role)
    election_timed(e, was_role, a->role);
  e->role = a->role;
  e->leader = a->leader;
  e->epoch = a->epoch;
  e->serving = a->serving;
  srv_log(s, SRV_LOG_INFO, "role %s, leader %u, epoch %u, %s",
          zab_role_name(a->role), a->leader, a->epoch,
          a->serving ? "serving" : "not serving");
  if (was_serving &&
      (!a->serving || (was_leader && a->role != ZAB_ROLE_LEADING)))
    srv_conns_close_all_clients(s);
  if (!a->serving || a->role != ZAB_ROLE_LEADING) {
    while (e->q_len > 0) {
      struct ens_req *r = &e->queue[e->q_head];
      ens_send_fail(e, r, PROTO_CONNECTIONLOSS);
      ens_req_free(r);
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
  ens_ro_role(e, was_role);
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
    if (tree_serialize(s->tree, ens_ser_cb, &w) == PROTO_OK &&
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
    if (!ens_pend_add(e, a->zxid, a->data, a->len)) {
      char why[96];
      snprintf(why, sizeof why, "out of memory keeping txn 0x%" PRIx64,
               a->zxid);
      ens_fault(e, why);
      break;
    }
    /* Staged: the turn's appends go out as one frame and one write when
     * the sync that srv_persist_kick starts flushes them. */
    if (s->log == NULL || s->log_failed ||
        txlog_stage(s->log, &t, err, sizeof err) != SNAP_OK) {
      /* Never reported durable, so never ACKed; and a later txn's fsync
       * must not cover it either: leave (ens_disk.c). */
      char why[SNAP_ERRMSG_MAX + 64];
      snprintf(why, sizeof why, "log append of 0x%" PRIx64 " failed: %s",
               a->zxid, s->log == NULL || s->log_failed ? "log failed" : err);
      ens_fault(e, why);
      break;
    }
    srv_persist_kick(s);
    break;
  }
  case ZAB_ACT_TRUNCATE:
    ens_pend_drop_above(e, a->zxid);
    srv_log(s, SRV_LOG_INFO, "truncating the log after 0x%" PRIx64, a->zxid);
    if (ens_rebase_log(e, err, sizeof err) != 0)
      ens_fault(e, err);
    break;
  case ZAB_ACT_INSTALL_SNAP:
    ens_install_snap(e, a->zxid, a->data, a->len);
    break;
  case ZAB_ACT_PERSIST_EPOCH:
    if (!ens_persist_epochs(e, a->accepted_epoch, a->current_epoch))
      ens_fault(e, "the epochs file was not written");
    break;
  case ZAB_ACT_COMMIT:
    ens_prop_time_commit(e, a->zxid);
    ens_commit(e, a->zxid, a->data, a->len);
    break;
  case ZAB_ACT_ROLE:
    set_role(e, a);
    break;
  case ZAB_ACT_CONFIRMED:
    if (a->zxid > e->confirm_done) {
      e->confirm_done = a->zxid;
      ens_confirmed(e);
    }
    break;
  }
}

static void arm_timer(struct srv_ens *e) {
  if (e->stopping || !e->timer_open)
    return;
  uint64_t at = zab_next_timeout_ms(e->zab), now = ens_now_ms(e);
  if (at == UINT64_MAX)
    return;
  uv_timer_start(&e->timer, ens_on_timer, at > now ? at - now : 0, 0);
}

/* A fault stops the drain: what zab queued after the failed action is
 * never performed (ens_fault_leave drops it). */
void ens_drain(struct srv_ens *e) {
  struct zab_action a;
  while (!e->fault_pending && zab_action_next(e->zab, &a))
    perform(e, &a);
}

void ens_fault_leave(struct srv_ens *e) {
  e->fault_pending = false;
  struct zab_action a;
  while (zab_action_next(e->zab, &a))
    ; /* dropped: some depend on what failed */
  size_t n = zab_config_get(e->zab, e->fault_conf, ZAB_MAX_MEMBERS,
                            &e->fault_conf_version);
  e->n_fault_conf = n < ZAB_MAX_MEMBERS ? n : ZAB_MAX_MEMBERS;
  if (!e->zab_dead) {
    /* STEPDOWN to the other end of every session, and no more: not the
     * votes of the election it starts (others would wait for us). */
    struct zab_event bye = {.type = ZAB_EV_RESIGN, .now_ms = ens_now_ms(e)};
    if (zab_step(e->zab, &bye) == ZAB_OK)
      while (zab_action_next(e->zab, &a))
        if (a.type == ZAB_ACT_SEND && a.msg.type == ZAB_MSG_STEPDOWN)
          send_zab(e, a.peer, &a.msg);
  }
  /* What a member that lost its leader does: stop serving. */
  struct zab_action role = {.type = ZAB_ACT_ROLE, .role = ZAB_ROLE_LOOKING};
  set_role(e, &role);
  e->durable_pending = -1;
  e->confirm_wanted = false;
  if (e->timer_open)
    uv_timer_stop(&e->timer);
}

/* The only place zab is stepped.  ev may be NULL: just do the pending
 * work.  Events that arise while actions are performed (an inline fsync's
 * DURABLE, a link that broke during a send, requests queued by a commit)
 * are recorded and handled by the loop here, after the current drain, so
 * that nothing steps zab from inside one of its actions. */
void ens_step(struct srv_ens *e, const struct zab_event *ev) {
  if (e->zab == NULL || e->faulted)
    return; /* out of the ensemble (ens_disk.c): the old zab stays still */
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
    if (e->fault_pending)
      break;
    if (have) {
      cur.now_ms = ens_now_ms(e);
      if (zab_step(e->zab, &cur) == ZAB_ENOMEM) {
        /* zab.h: perform the consistent prefix queued, then a new one
         * from the persisted state: the fault path does both. */
        ens_drain(e);
        e->zab_dead = true;
        ens_fault(e, "zab out of memory");
        break;
      }
      ens_drain(e);
    }
    have = true;
    if (e->durable_pending >= 0) {
      cur =
          (struct zab_event){.type = ZAB_EV_DURABLE,
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
    if (e->up_mask != 0) {
      size_t i = (size_t)__builtin_ctzll(e->up_mask);
      e->up_mask &= e->up_mask - 1;
      cur = (struct zab_event){.type = ZAB_EV_PEER_UP,
                               .peer = {.id = e->peers[i].id}};
      continue;
    }
    if (e->down_mask != 0) {
      size_t i = (size_t)__builtin_ctzll(e->down_mask);
      e->down_mask &= e->down_mask - 1;
      cur = (struct zab_event){.type = ZAB_EV_PEER_DOWN,
                               .peer = {.id = e->peers[i].id}};
      continue;
    }
    if (ens_pump_one(e)) {
      ens_drain(e); /* what the proposal made zab do */
      have = false;
      continue;
    }
    break;
  }
  e->in_step = false;
  if (e->fault_pending)
    ens_fault_leave(e);
  else
    arm_timer(e);
}

void ens_send_touches(struct srv_ens *e) {
  if (e->touched.n == 0)
    return;
  struct ens_peer *p = ens_peer_of(e, e->leader);
  if (p != NULL && e->role != ZAB_ROLE_LEADING) {
    uint8_t *b = malloc((size_t)8 * ENS_MAX_TOUCH);
    if (b != NULL) {
      size_t i = 0, n = 0;
      uint64_t k;
      void *v;
      while (srv_map_next(&e->touched, &i, &k, &v)) {
        proto_store_be32(b + 8 * n, (uint32_t)(k >> 32));
        proto_store_be32(b + 8 * n + 4, (uint32_t)k);
        if (++n == ENS_MAX_TOUCH) {
          ens_peer_send(p, ENS_K_TOUCH, b, (size_t)8 * n);
          n = 0;
        }
      }
      if (n)
        ens_peer_send(p, ENS_K_TOUCH, b, (size_t)8 * n);
      free(b);
    }
  }
  srv_map_free(&e->touched);
  srv_map_init(&e->touched);
}

void ens_on_timer(uv_timer_t *h) {
  struct srv_ens *e = h->data;
  struct zab_event ev = {.type = ZAB_EV_TICK};
  ens_step(e, &ev);
  e->s->turn_end(e->s);
}
