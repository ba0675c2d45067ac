/* ens_reconfig.c — the reconfig opcode (16) in an ensemble (issue 20):
 * the leader's checks and the change's txn, zab's config_of, and what a
 * member does when a change commits (links to the servers the new
 * configuration names, the dynamicConfigFile).  zab/ does the safe part
 * (old AND new quorum, one change at a time, joiners synced first: see
 * docs/zab.md, "Reconfiguration"); this file is only glue. */
#include "server/ens_int.h"

/* The configuration /zookeeper/config holds now (the tree's: the leader
 * preps a change only while nothing else is in flight that could change
 * it, since zab refuses a second uncommitted change).  PROTO_OK or
 * PROTO_SYSTEMERROR. */
static int current_config(struct srv *s, struct proto_zkconfig *out) {
  struct proto_writer w;
  proto_writer_init(&w);
  int rc = tree_get_data(s->tree, TREE_CONFIG_PATH, strlen(TREE_CONFIG_PATH), 0,
                         NULL, &w);
  if (rc == PROTO_OK && proto_writer_err(&w) != PROTO_OK)
    rc = PROTO_SYSTEMERROR;
  if (rc == PROTO_OK) {
    struct proto_reader r;
    proto_reader_init(&r, w.buf, w.len, w.len);
    struct proto_slice d = proto_read_buffer(&r);
    const char *why = NULL;
    if (proto_reader_err(&r) || d.len < 0 ||
        proto_zkconfig_parse((const char *)d.ptr, (size_t)d.len, out, &why) !=
            PROTO_OK)
      rc = PROTO_SYSTEMERROR;
  }
  proto_writer_free(&w);
  return rc;
}

int ens_reconfig_prep(struct srv_ens *e, const struct proto_request *req,
                      const struct tree_auth *auth,
                      const struct tree_txn_header *h,
                      struct proto_writer *txn) {
  struct srv *s = e->s;
  /* ZooKeeper's ReconfigAuthorization: the super user, or WRITE on
   * /zookeeper/config (world READ only by default). */
  int rc = tree_check_perm(s->tree, TREE_CONFIG_PATH, strlen(TREE_CONFIG_PATH),
                           PROTO_PERM_WRITE, auth);
  if (rc != PROTO_OK)
    return rc == PROTO_NOAUTH ? PROTO_NOAUTH : PROTO_SYSTEMERROR;
  struct proto_zkconfig *cur = calloc(1, sizeof *cur);
  struct proto_zkconfig *next = calloc(1, sizeof *next);
  char *text = NULL;
  rc = cur && next ? current_config(s, cur) : PROTO_SYSTEMERROR;
  const struct proto_reconfig_req *rq = &req->u.reconfig;
  if (rc == PROTO_OK && rq->cur_config_id != -1 &&
      (uint64_t)rq->cur_config_id != cur->version)
    rc = PROTO_BADVERSION;
  const char *why = NULL;
  if (rc == PROTO_OK) {
    rc = proto_zkconfig_reconfig(cur, rq, 2, next, &why);
    if (rc != PROTO_OK)
      srv_log(s, SRV_LOG_INFO, "reconfig refused: %s", why ? why : "");
  }
  if (rc == PROTO_OK) {
    next->version = (uint64_t)h->zxid;
    next->has_version = true;
    size_t need = proto_zkconfig_format(next, NULL, 0);
    text = malloc(need + 1);
    if (text == NULL)
      rc = PROTO_SYSTEMERROR;
    else {
      proto_zkconfig_format(next, text, need + 1);
      tree_txn_encode_reconfig(txn, h, text, need);
    }
  }
  free(text);
  free(next);
  free(cur);
  return rc;
}

/* zab's config_of: pure, reads only the txn. */
bool ens_config_of(void *ctx, const uint8_t *txn, uint32_t len,
                   struct zab_member *out, size_t *n_out) {
  (void)ctx;
  const char *d;
  size_t n;
  if (!tree_txn_reconfig_data(txn, len, &d, &n))
    return false;
  struct proto_zkconfig *c = calloc(1, sizeof *c);
  if (c == NULL)
    return false; /* cannot happen on the sizes at hand; see header */
  bool ok = proto_zkconfig_parse(d, n, c, NULL) == PROTO_OK &&
            c->n <= ZAB_MAX_MEMBERS;
  if (ok) {
    for (size_t i = 0; i < c->n; i++)
      out[i] = (struct zab_member){c->s[i].id, c->s[i].observer};
    *n_out = c->n;
  }
  free(c);
  return ok;
}

/* A server we had no link to (named by a committed configuration, or a
 * joiner that said HELLO with its port): dial it.  Known: its role and
 * address are updated (a member replaced on a new port). */
void ens_peer_add(struct srv_ens *e, uint32_t id, const char *host, int port,
                  bool observer) {
  struct ens_peer *p = ens_peer_of(e, id);
  if (p != NULL) {
    p->observer = observer;
    if (port != p->port || strcmp(host, p->host) != 0) {
      snprintf(p->host, sizeof p->host, "%s", host);
      p->port = port;
      if (p->out != NULL)
        ens_tcp_drop(p->out, "the server moved");
    }
    return;
  }
  if (id == e->my_id || e->n_peers >= SRV_MAX_PEERS) {
    srv_log(e->s, SRV_LOG_WARN, "no room for a link to server %u", id);
    return;
  }
  p = &e->peers[e->n_peers++];
  memset(p, 0, sizeof *p);
  p->e = e;
  p->id = id;
  p->observer = observer;
  snprintf(p->host, sizeof p->host, "%s", host);
  p->port = port;
  p->backoff_ms = ENS_RETRY_MIN_MS;
  if (!e->listener_open)
    return; /* still starting: srv_zab_open dials every peer at its end */
  uv_timer_init(&e->s->loop, &p->retry);
  p->retry.data = p;
  p->retry_open = true;
  srv_log(e->s, SRV_LOG_INFO, "server %u (%s:%d) joins: dialling it", p->id,
          p->host, p->port);
  ens_peer_dial(p);
}

/* Writes the dynamicConfigFile (tmp, fsync, rename): the server.N lines
 * and version=, ZooKeeper's text.  A failure is logged, not fatal: the
 * configuration is in the replicated state. */
static void write_dynamic_file(struct srv *s, const char *d, size_t n) {
  const char *path = s->cfg.dynamic_config_file;
  if (path[0] == '\0')
    return;
  char tmp[SRV_PATH_MAX + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  bool ok = f != NULL && fwrite(d, 1, n, f) == n && fflush(f) == 0 &&
            fsync(fileno(f)) == 0;
  if (f != NULL && fclose(f) != 0)
    ok = false;
  if (ok && rename(tmp, path) != 0)
    ok = false;
  if (!ok)
    srv_log(s, SRV_LOG_WARN, "dynamicConfigFile %s not written: %s", path,
            strerror(errno));
}

void ens_reconfig_committed(struct srv_ens *e, const uint8_t *txn,
                            uint32_t len) {
  const char *d;
  size_t n;
  if (!tree_txn_reconfig_data(txn, len, &d, &n))
    return;
  struct proto_zkconfig *c = calloc(1, sizeof *c);
  if (c == NULL || proto_zkconfig_parse(d, n, c, NULL) != PROTO_OK) {
    free(c);
    return;
  }
  srv_log(e->s, SRV_LOG_INFO,
          "configuration 0x%" PRIx64 " committed (%zu servers)", c->version,
          c->n);
  for (size_t i = 0; i < c->n; i++)
    if (c->s[i].id != e->my_id)
      ens_peer_add(e, c->s[i].id, c->s[i].host, c->s[i].quorum_port,
                   c->s[i].observer);
  /* Links to removed servers stay: zab sends them nothing but a removed
   * server may be named again later, and a link costs little. */
  write_dynamic_file(e->s, d, n);
  free(c);
}

/* The text of the dynamicConfigFile (malloc'd, *n bytes), NULL if none. */
static char *read_dynamic_file(const char *path, size_t *n) {
  FILE *f = path[0] ? fopen(path, "r") : NULL;
  if (f == NULL)
    return NULL;
  char *buf = malloc((size_t)64 * 1024);
  size_t got = buf ? fread(buf, 1, (size_t)64 * 1024 - 1, f) : 0;
  fclose(f);
  if (buf)
    buf[got] = '\0';
  *n = got;
  return buf;
}

bool ens_reconfig_load(struct srv_ens *e, struct zab_member *out, size_t *n,
                       uint64_t *version) {
  struct srv *s = e->s;
  if (!s->cfg.reconfig_enabled)
    return false;
  struct proto_zkconfig *c = calloc(1, sizeof *c);
  if (c == NULL)
    return false;
  /* the state's own (a snapshot taken after a change), else the file */
  bool found = current_config(s, c) == PROTO_OK && c->version > 0;
  if (!found) {
    size_t len = 0;
    char *text = read_dynamic_file(s->cfg.dynamic_config_file, &len);
    while (text && len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
      len--;
    found =
        text && proto_zkconfig_parse(text, len, c, NULL) == PROTO_OK &&
        c->version > 0 &&
        tree_config_init(s->tree, text, len, (int64_t)c->version) == PROTO_OK;
    free(text);
  }
  if (found) {
    srv_log(s, SRV_LOG_INFO,
            "configuration 0x%" PRIx64 " (%zu servers) from the %s", c->version,
            c->n,
            s->cfg.dynamic_config_file[0] ? "state or dynamicConfigFile"
                                          : "state");
    for (size_t i = 0; i < c->n && i < ZAB_MAX_MEMBERS; i++) {
      out[i] = (struct zab_member){c->s[i].id, c->s[i].observer};
      if (c->s[i].id != e->my_id)
        ens_peer_add(e, c->s[i].id, c->s[i].host, c->s[i].quorum_port,
                     c->s[i].observer);
    }
    *n = c->n < ZAB_MAX_MEMBERS ? c->n : ZAB_MAX_MEMBERS;
    *version = c->version;
  }
  free(c);
  return found;
}
