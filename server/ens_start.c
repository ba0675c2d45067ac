/* ens_start.c — start-up (recovery into zab), shutdown, mode and mntr, and
 * the replica table. */
#include "server/ens_int.h"

/* ------------------------------------------------------------------ */
/* four-letter words */

static const char *ens_mode(const struct srv *s) {
  const struct srv_ens *e = s->rep_state;
  if (e->read_only)
    return "read-only"; /* ZooKeeper's ReadOnlyZooKeeperServer.getState */
  switch (e->role) {
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

/* The leader's view of each learner (zab_learners_get), one line per
 * learner and figure: "<figure>_sid_<id>" (metrics.c turns the suffix into
 * a sid label).  Lag: txns it has not acknowledged durable (zab.h). */
static void learners_mntr(const struct srv_ens *e, struct proto_writer *w) {
  struct zab_learner l[ZAB_MAX_MEMBERS];
  size_t n = zab_learners_get(e->zab, l, ZAB_MAX_MEMBERS);
  if (n > ZAB_MAX_MEMBERS)
    n = ZAB_MAX_MEMBERS;
  char b[96];
  for (size_t i = 0; i < n; i++) {
    int k =
        snprintf(b, sizeof b, "roost_learner_lag_zxids_sid_%u\t%" PRIu64 "\n",
                 l[i].id, l[i].lag);
    if (k > 0)
      proto_write_raw(w, b, (size_t)k);
  }
  for (size_t i = 0; i < n; i++) {
    int k =
        snprintf(b, sizeof b, "roost_learner_acked_zxid_sid_%u\t%" PRId64 "\n",
                 l[i].id, (int64_t)l[i].acked_zxid);
    if (k > 0)
      proto_write_raw(w, b, (size_t)k);
  }
}

static void ens_mntr(const struct srv *s, struct proto_writer *w) {
  const struct srv_ens *e = s->rep_state;
  struct zab_status st;
  zab_status_get(e->zab, &st);
  char b[1024];
  int n =
      snprintf(b, sizeof b,
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
               "roost_proposed\t%" PRIu64 "\n"
               "roost_disk_faults\t%" PRIu64 "\n"
               "roost_disk_faulted\t%d\n",
               e->my_id, e->leader, e->epoch, e->serving ? 1 : 0,
               (int64_t)st.commit_zxid, (int64_t)st.last_zxid, st.n_elections,
               st.n_sync_diff, st.n_sync_trunc, st.n_sync_snap, st.n_dropped,
               e->forwarded, e->proposed, e->faults, e->faulted ? 1 : 0);
  if (n > 0)
    proto_write_raw(w, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
  ens_ro_mntr(e, w);
  if (e->role == ZAB_ROLE_LEADING) {
    size_t voters = 0;
    for (size_t i = 0; i < e->n_peers; i++)
      voters += !e->peers[i].observer;
    n = snprintf(b, sizeof b,
                 "zk_learners\t%zu\n"
                 "zk_followers\t%zu\n"
                 "zk_synced_followers\t%u\n"
                 "zk_pending_syncs\t%zu\n"
                 "roost_proposals_in_flight\t%" PRIu64 "\n"
                 "roost_pending_change_records\t%zu\n",
                 e->n_peers, voters, st.n_synced_learners, e->n_fsyncs,
                 ens_inflight(e), tree_pending_count(e->tpend));
    if (n > 0)
      proto_write_raw(w, b, (size_t)n);
    learners_mntr(e, w);
  }
}

/* ------------------------------------------------------------------ */
/* start and stop */

/* Reload the state from the newest snapshot only; the logged txns after
 * it go to zab (LOAD), which commits or truncates them. */
struct loaded {
  struct zab_entry *ents;
  size_t n, cap;
};

static int collect_log(struct srv *s, int64_t base, struct loaded *L,
                       char errmsg[SRV_ERRMSG_MAX]) {
  const char *dir =
      s->cfg.data_log_dir[0] ? s->cfg.data_log_dir : s->cfg.data_dir;
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
        L->ents[L->n++] = (struct zab_entry){(uint64_t)h.zxid, c, (uint32_t)tl};
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

static const struct srv_replica zab_replica;

int ens_zab_start(struct srv_ens *e, uint32_t acc, uint32_t cur, uint64_t base,
                  const struct zab_member *members, size_t n_members,
                  uint64_t config_version, char *errmsg) {
  struct srv *s = e->s;
  struct zab_member mem[SRV_MAX_PEERS];
  for (int i = 0; i < s->cfg.n_peers; i++)
    mem[i] = (struct zab_member){(uint32_t)s->cfg.peers[i].id,
                                 s->cfg.peers[i].observer};
  struct zab_entry *ents = NULL;
  if (e->n_pend > 0 && (ents = calloc(e->n_pend, sizeof *ents)) == NULL) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < e->n_pend; i++)
    ents[i] =
        (struct zab_entry){e->pend[i].zxid, e->pend[i].data, e->pend[i].len};
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
  zc.seed = s->rng ^ ((uint64_t)e->my_id << 32) ^ e->faults;
  if (s->cfg.reconfig_enabled) {
    zc.config_of = ens_config_of;
    zc.config_ctx = e;
  }
  zc.log_cb = zab_log;
  zc.log_ctx = s;
  const char *why = NULL;
  struct zab *z = NULL;
  int zr = zab_create(&zc, &z, &why);
  if (zr != ZAB_OK) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "zab: %s (%s)", zab_strerror(zr),
             why ? why : "");
    free(ents);
    return -1;
  }
  zab_destroy(e->zab);
  e->zab = z;
  e->zab_dead = false;
  e->ep_acc = acc;
  e->ep_cur = cur;
  /* Links that are up now are news to this zab; nothing else is. */
  e->durable_pending = -1;
  e->down_mask = e->up_mask = 0;
  for (size_t i = 0; i < e->n_peers; i++)
    if (e->peers[i].up)
      e->up_mask |= UINT64_C(1) << i;
  struct zab_event ev = {.type = ZAB_EV_LOAD,
                         .load = {.accepted_epoch = acc,
                                  .current_epoch = cur,
                                  .applied_zxid = base,
                                  .base_zxid = base,
                                  .entries = ents,
                                  .n_entries = e->n_pend,
                                  .members = n_members ? members : NULL,
                                  .n_members = n_members,
                                  .config_version = config_version}};
  e->looking_since_ns = uv_hrtime(); /* zab starts LOOKING */
  ens_step(e, &ev);
  free(ents);
  return 0;
}

/* The disk-fault recovery (ens_disk.c, "Disk faults"): leave, then write
 * the state again and start a new zab from it. */
static void on_fault_timer(uv_timer_t *h) {
  struct srv_ens *e = h->data;
  struct srv *s = e->s;
  if (e->fault_pending && !e->stopping) {
    ens_fault_leave(e);
    srv_flush_all(s);
    return;
  }
  if (!e->faulted || e->stopping) {
    uv_timer_stop(h);
    return;
  }
  char err[SNAP_ERRMSG_MAX + 64];
  if (ens_rebase_log(e, err, sizeof err) != 0) {
    srv_log(s, SRV_LOG_WARN, "recovery: %s; retrying", err);
    return;
  }
  /* The epochs last made durable: a write that failed may have left a
   * newer pair (renamed, the directory not synced) that no message of
   * ours ever promised. */
  if (!ens_persist_epochs(e, e->ep_acc, e->ep_cur)) {
    srv_log(s, SRV_LOG_WARN, "recovery: epochs not written; retrying");
    return;
  }
  e->faulted = false;
  char msg[SRV_ERRMSG_MAX];
  if (ens_zab_start(e, e->ep_acc, e->ep_cur, (uint64_t)tree_last_zxid(s->tree),
                    e->fault_conf, e->n_fault_conf, e->fault_conf_version,
                    msg) != 0) {
    e->faulted = true;
    srv_log(s, SRV_LOG_WARN, "recovery: %s; retrying", msg);
    return;
  }
  uv_timer_stop(h);
  e->recoveries++;
  srv_log(s, SRV_LOG_INFO,
          "recovered from the fault: state at 0x%" PRIx64 " and %zu logged "
          "txns after it written again, epochs %u/%u; rejoining the ensemble",
          (uint64_t)tree_last_zxid(s->tree), e->n_pend, e->ep_acc, e->ep_cur);
  srv_flush_all(s);
}

int srv_zab_open(struct srv *s, char *errmsg) {
  bool has_secret = false;
  uint8_t secret[16];
  if (srv_config_member(&s->cfg, secret, &has_secret, errmsg) != 0)
    return -1;
  /* Session ids carry the server id in their top byte (session.c). */
  s->next_session_id =
      (int64_t)(((uint64_t)s->cfg.server_id << 56) |
                ((uint64_t)s->next_session_id & ((UINT64_C(1) << 56) - 1)));
  /* An optional key for the passwords of the sessions this member creates.
   * Not needed for sessions to move between members: every password
   * travels in its createSession txn (docs/ensemble.md). */
  if (has_secret)
    memcpy(s->secret, secret, sizeof secret);
  struct srv_ens *e = calloc(1, sizeof *e);
  if (e == NULL) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "out of memory");
    return -1;
  }
  s->rep = &zab_replica;
  s->rep_state = e;
  e->s = s;
  e->my_id = (uint32_t)s->cfg.server_id;
  e->durable_pending = -1;
  e->wake = ens_on_timer;
  srv_map_init(&e->touched);
  proto_writer_init(&e->w);
  proto_writer_init(&e->txn);
  e->queue = calloc(ENS_MAX_QUEUE, sizeof *e->queue);
  e->tpend = tree_pending_new(s->tree);
  if (e->queue == NULL || e->tpend == NULL) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "out of memory");
    return -1;
  }

  const struct srv_peer_config *me = NULL;
  for (int i = 0; i < s->cfg.n_peers; i++) {
    const struct srv_peer_config *pc = &s->cfg.peers[i];
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
  assert(me != NULL); /* srv_config_member found our server.N line */
  e->my_quorum_port = me->quorum_port;

  /* State: the newest snapshot; the log after it goes to zab. */
  int64_t base = s->recovered.snap_zxid;
  struct tree_config tc = {.extended_types = s->cfg.extended_types,
                           .x509_acls = srv_tls_x509_acls(s)};
  struct tree *t = NULL;
  if (base >= 0) {
    char msg[SNAP_ERRMSG_MAX];
    int64_t z;
    if (snap_read(s->recovered.snap_file, NULL, &tc, &t, &z, msg, sizeof msg) !=
        SNAP_OK) {
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
  /* Without a dynamicConfigFile, one in the dataDir: a member that
   * restarts must start from the last committed membership (the static
   * lines may name servers that are gone). */
  if (s->cfg.reconfig_enabled && s->cfg.dynamic_config_file[0] == '\0')
    snprintf(s->cfg.dynamic_config_file, sizeof s->cfg.dynamic_config_file,
             "%.4000s/zoo.cfg.dynamic", s->cfg.data_dir);
  struct zab_member dyn[ZAB_MAX_MEMBERS];
  size_t n_dyn = 0;
  uint64_t dyn_version = 0;
  bool have_dyn = ens_reconfig_load(e, dyn, &n_dyn, &dyn_version);
  if (!have_dyn && ens_config_node_init(s) != 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "out of memory");
    return -1;
  }
  ens_sessions_reload(s);
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
    oom =
        oom || !ens_pend_add(e, L.ents[i].zxid, L.ents[i].data, L.ents[i].len);
  for (size_t i = 0; i < L.n; i++)
    free((void *)L.ents[i].data);
  free(L.ents);
  if (oom) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "out of memory");
    return -1;
  }

  uint32_t acc, cur;
  if (ens_read_epochs(s, &acc, &cur) != 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "%.400s/epochs is unreadable or malformed",
             s->cfg.data_dir);
    return -1;
  }
  uv_timer_init(&s->loop, &e->timer);
  e->timer.data = e;
  e->timer_open = true;
  ens_fault_open(e, on_fault_timer);
  if (ens_zab_start(e, acc, cur, (uint64_t)base, have_dyn ? dyn : NULL,
                    have_dyn ? n_dyn : 0, dyn_version, errmsg) != 0)
    return -1;
  ens_ro_open(e);
  srv_log(s, SRV_LOG_INFO,
          "ensemble member %u of %d: state at 0x%" PRIx64 " (snapshot), %zu "
          "logged txns after it handed to zab, epochs %u/%u",
          e->my_id, s->cfg.n_peers, (uint64_t)base, e->n_pend, acc, cur);

  struct sockaddr_storage ss;
  if (ens_resolve(me->host, me->quorum_port, &ss) != 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "cannot resolve %.300s", me->host);
    return -1;
  }
  uv_tcp_init(&s->loop, &e->listener);
  e->listener.data = e;
  e->listener_open = true;
  int rc = uv_tcp_bind(&e->listener, (struct sockaddr *)&ss, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&e->listener, 64, ens_on_peer_connection);
  if (rc != 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "cannot listen on %.300s:%d: %s", me->host,
             me->quorum_port, uv_strerror(rc));
    return -1;
  }
  for (size_t i = 0; i < e->n_peers; i++) {
    struct ens_peer *p = &e->peers[i];
    uv_timer_init(&s->loop, &p->retry);
    p->retry.data = p;
    p->retry_open = true;
    ens_peer_dial(p);
  }
  return 0;
}

static void ens_stop(struct srv *s) {
  struct srv_ens *e = s->rep_state;
  if (e == NULL || e->stopping)
    return;
  /* Leave every zab session out loud (STEPDOWN): a leader's followers
   * elect now rather than when the closed links or syncLimit tell them. */
  struct zab_event bye = {.type = ZAB_EV_RESIGN};
  ens_step(e, &bye);
  ens_flush(s);
  e->stopping = true;
  if (e->listener_open)
    uv_close((uv_handle_t *)&e->listener, NULL);
  e->listener_open = false;
  if (e->timer_open)
    uv_close((uv_handle_t *)&e->timer, NULL);
  e->timer_open = false;
  if (e->fault_timer_open)
    uv_close((uv_handle_t *)&e->fault_timer, NULL);
  e->fault_timer_open = false;
  ens_ro_stop(e);
  for (size_t i = 0; i < e->n_peers; i++) {
    struct ens_peer *p = &e->peers[i];
    if (p->retry_open)
      uv_close((uv_handle_t *)&p->retry, NULL);
    p->retry_open = false;
    p->up = false; /* no PEER_DOWN into zab while stopping */
    if (p->out != NULL)
      ens_tcp_drop(p->out, NULL);
  }
  while (e->incoming != NULL)
    ens_tcp_drop(e->incoming, NULL);
}

static void ens_free(struct srv *s) {
  struct srv_ens *e = s->rep_state;
  if (e == NULL)
    return;
  while (e->q_len > 0) {
    ens_req_free(&e->queue[e->q_head]);
    e->q_head = (e->q_head + 1) % ENS_MAX_QUEUE;
    e->q_len--;
  }
  free(e->queue);
  free(e->fsyncs);
  tree_pending_free(e->tpend);
  ens_pend_drop_upto(e, UINT64_MAX);
  free(e->pend);
  srv_map_free(&e->touched);
  proto_writer_free(&e->w);
  proto_writer_free(&e->txn);
  zab_destroy(e->zab);
  free(e);
  s->rep_state = NULL;
}

static const struct srv_replica zab_replica = {
    .name = "zab",
    .sync_on_loop = false,
    .write = ens_write,
    .create_session = ens_create_session,
    .close_session = ens_close_session,
    .expire = ens_expire,
    .reap = ens_reap,
    .sync = ens_sync,
    .touch = ens_touch,
    .tick = ens_tick,
    .durable = ens_durable,
    .log_failed = ens_log_failed,
    .serving = ens_serving,
    .read_only = ens_read_only,
    .admit = ens_admit,
    .mode = ens_mode,
    .mntr = ens_mntr,
    .conn_gone = ens_conn_gone,
    .flush = ens_flush,
    .stop = ens_stop,
    .free = ens_free,
};
