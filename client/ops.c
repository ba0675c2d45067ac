/* ops.c — the public operations: checks, encoding (proto/), blocking forms,
 * the multi builder, results.
 *
 * Requests are encoded in the calling thread (proto/ is reentrant) so that
 * argument errors come back synchronously and the loop only patches the
 * xid in; the chroot they read is fixed at creation. */
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"

char *rc_strndup(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d == NULL)
    return NULL;
  if (n)
    memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

roost_result *rc_result_new(int op, int err) {
  roost_result *r = calloc(1, sizeof *r);
  if (r == NULL)
    return NULL;
  r->op = op;
  r->err = err;
  return r;
}

static void result_clear(roost_result *r) {
  free(r->path);
  free(r->data);
  for (int32_t i = 0; i < r->n_children; i++)
    free(r->children[i]);
  free(r->children);
  for (int32_t i = 0; i < r->n_acl; i++) {
    free((void *)r->acl[i].scheme);
    free((void *)r->acl[i].id);
  }
  free(r->acl);
  for (int32_t i = 0; i < r->n_ops; i++)
    result_clear(&r->ops[i]);
  free(r->ops);
}

void roost_result_free(roost_result *r) {
  if (r == NULL)
    return;
  result_clear(r);
  free(r);
}

/* ------------------------------------------------------------------ */
/* Encoding helpers */

static int check_path(const char *path, bool sequential) {
  if (path == NULL)
    return ROOST_EINVAL;
  size_t n = strlen(path);
  if (!sequential)
    return proto_path_validate(path, n) == PROTO_OK ? ROOST_OK
                                                    : ROOST_BADARGUMENTS;
  /* A sequential create may end in '/' ("/q/" -> "/q/0000000001"): check
   * the name the server will make. */
  char *p = malloc(n + 11);
  if (p == NULL)
    return ROOST_ENOMEM;
  memcpy(p, path, n);
  memcpy(p + n, "0000000000", 11);
  int rc = proto_path_validate(p, n + 10) == PROTO_OK ? ROOST_OK
                                                      : ROOST_BADARGUMENTS;
  free(p);
  return rc;
}

static struct proto_slice slice_str(const char *s) {
  struct proto_slice sl = {(const uint8_t *)s, (int32_t)strlen(s)};
  return sl;
}

/* Encodes an ACL list (NULL: world:anyone ALL) into w as raw elements. */
static int encode_acl(struct proto_writer *w, const roost_acl *acl,
                      int32_t n_acl, struct proto_acl_vec *out) {
  static const roost_acl open_acl = {ROOST_PERM_ALL, "world", "anyone"};
  if (acl == NULL) {
    acl = &open_acl;
    n_acl = 1;
  }
  if (n_acl <= 0)
    return ROOST_EINVAL;
  for (int32_t i = 0; i < n_acl; i++) {
    if (acl[i].scheme == NULL || acl[i].id == NULL)
      return ROOST_EINVAL;
    struct proto_acl a;
    a.perms = acl[i].perms;
    a.id.scheme = slice_str(acl[i].scheme);
    a.id.id = slice_str(acl[i].id);
    proto_write_acl(w, &a);
  }
  if (proto_writer_err(w))
    return ROOST_ENOMEM;
  out->raw.ptr = w->buf;
  out->raw.len = (int32_t)w->len;
  out->count = n_acl;
  return ROOST_OK;
}

/* Maps create flags to (opcode, wire flags). */
static int create_mode(const roost_create_opts *o, int32_t *op,
                       int32_t *flags) {
  int f = o ? o->flags : 0;
  bool eph = f & ROOST_EPHEMERAL, seq = f & ROOST_SEQUENTIAL;
  bool con = f & ROOST_CONTAINER, ttl = f & ROOST_TTL;
  if (f & ~(ROOST_EPHEMERAL | ROOST_SEQUENTIAL | ROOST_CONTAINER | ROOST_TTL))
    return ROOST_EINVAL;
  if (con) {
    if (eph || seq || ttl)
      return ROOST_EINVAL;
    *op = PROTO_OP_CREATECONTAINER;
    *flags = PROTO_CREATE_CONTAINER;
    return ROOST_OK;
  }
  if (ttl) {
    if (eph || o->ttl_ms <= 0 || o->ttl_ms > 0xFFFFFFFFFFll)
      return ROOST_EINVAL;
    *op = PROTO_OP_CREATETTL;
    *flags = seq ? PROTO_CREATE_PERSISTENT_SEQUENTIAL_WITH_TTL
                 : PROTO_CREATE_PERSISTENT_WITH_TTL;
    return ROOST_OK;
  }
  *op = PROTO_OP_CREATE2;
  *flags = (eph ? 1 : 0) | (seq ? 2 : 0);
  return ROOST_OK;
}

/* Takes the writer's bytes as the request frame. */
static int req_take_frame(struct rc_req *r, struct proto_writer *w) {
  if (proto_writer_err(w)) {
    int e =
        proto_writer_err(w) == PROTO_BADARGUMENTS ? ROOST_EINVAL : ROOST_ENOMEM;
    proto_writer_free(w);
    return e;
  }
  r->frame = w->buf;
  r->frame_len = w->len;
  w->buf = NULL;
  return ROOST_OK;
}

/* Runs r: asynchronously (cb) or blocking (out != NULL or want_block). */
static int run(roost_client *c, struct rc_req *r, bool block,
               roost_result **out, roost_result_cb cb, void *arg) {
  if (out)
    *out = NULL;
  if (!block) {
    r->cb = cb;
    r->arg = arg;
    return rc_client_submit(c, r);
  }
  if (rc_client_on_loop(c)) {
    rc_req_free(r);
    return ROOST_EDEADLK;
  }
  struct rc_waiter *w = rc_waiter_new();
  if (w == NULL) {
    rc_req_free(r);
    return ROOST_ENOMEM;
  }
  r->waiter = w;
  bool multi = r->op == PROTO_OP_MULTI || r->op == PROTO_OP_MULTIREAD;
  int rc = rc_client_submit(c, r);
  if (rc != ROOST_OK) {
    rc_waiter_free(w);
    return rc;
  }
  roost_result *res = rc_waiter_wait(w);
  rc_waiter_free(w);
  if (res == NULL)
    return ROOST_ENOMEM;
  rc = res->err;
  if (out && (rc == ROOST_OK || (multi && res->n_ops > 0)))
    *out = res;
  else
    roost_result_free(res);
  return rc;
}

static struct rc_req *new_op(int32_t op, int rop) {
  struct rc_req *r = rc_req_new(RC_REQ_OP);
  if (r) {
    r->op = op;
    r->rop = rop;
  }
  return r;
}

/* The start every path operation shares: the path checked and turned
 * into the server's path (chroot), a request object for op, and a request
 * record with its type set.  On ROOST_OK the caller owns *sp and *r; on an
 * error both are NULL. */
static int op_begin(roost_client *c, const char *path, bool sequential,
                    int32_t op, int rop, char **sp, struct rc_req **r,
                    struct proto_request *req) {
  *sp = NULL;
  *r = NULL;
  int rc = check_path(path, sequential);
  if (rc != ROOST_OK)
    return rc;
  *sp = rc_core_server_path(rc_client_core(c), path);
  *r = new_op(op, rop);
  if (*sp == NULL || *r == NULL) {
    free(*sp);
    rc_req_free(*r);
    *sp = NULL;
    *r = NULL;
    return ROOST_ENOMEM;
  }
  memset(req, 0, sizeof *req);
  req->hdr.type = op;
  return ROOST_OK;
}

/* ------------------------------------------------------------------ */
/* create */

static int do_create(roost_client *c, const char *path, const void *data,
                     int32_t data_len, const roost_create_opts *opts,
                     bool block, roost_result **out, roost_result_cb cb,
                     void *arg) {
  if (out)
    *out = NULL;
  if (c == NULL || data_len < -1 || (data == NULL && data_len > 0))
    return ROOST_EINVAL;
  int32_t op, flags;
  int rc = create_mode(opts, &op, &flags);
  if (rc != ROOST_OK)
    return rc;
  char *sp;
  struct rc_req *r;
  struct proto_request req;
  rc = op_begin(c, path, opts && (opts->flags & ROOST_SEQUENTIAL), op,
                ROOST_OP_CREATE, &sp, &r, &req);
  if (rc != ROOST_OK)
    return rc;
  struct proto_writer aw, w;
  proto_writer_init(&aw);
  proto_writer_init(&w);
  req.u.create.path = slice_str(sp);
  req.u.create.data.ptr = data;
  req.u.create.data.len = data_len;
  req.u.create.flags = flags;
  req.u.create.ttl = opts ? opts->ttl_ms : 0;
  rc = encode_acl(&aw, opts ? opts->acl : NULL, opts ? opts->n_acl : 0,
                  &req.u.create.acl);
  if (rc != ROOST_OK)
    goto out;
  proto_request_encode(&w, &req);
  rc = req_take_frame(r, &w);
  if (rc != ROOST_OK)
    goto out;
  proto_writer_free(&aw);
  free(sp);
  return run(c, r, block, out, cb, arg);
out:
  proto_writer_free(&aw);
  proto_writer_free(&w);
  free(sp);
  rc_req_free(r);
  return rc;
}

int roost_create(roost_client *c, const char *path, const void *data,
                 int32_t data_len, const roost_create_opts *opts,
                 roost_result **out) {
  return do_create(c, path, data, data_len, opts, true, out, NULL, NULL);
}

int roost_create_async(roost_client *c, const char *path, const void *data,
                       int32_t data_len, const roost_create_opts *opts,
                       roost_result_cb cb, void *arg) {
  return do_create(c, path, data, data_len, opts, false, NULL, cb, arg);
}

/* ------------------------------------------------------------------ */
/* Path-only operations */

enum { PATH_INT, PATH_WATCH, PATH_ONLY };

/* Encode req into r, hand the watch (if any) its path sp, and send.  sp
 * (owned) is the path req names: kept by r for the watch, else freed. */
static int send_path_req(roost_client *c, struct rc_req *r,
                         const struct proto_request *req, char *sp,
                         roost_watch_cb watcher, void *warg, bool block,
                         roost_result **out, roost_result_cb cb, void *arg) {
  struct proto_writer w;
  proto_writer_init(&w);
  proto_request_encode(&w, req);
  int rc = req_take_frame(r, &w);
  if (rc != ROOST_OK) {
    free(sp);
    rc_req_free(r);
    return rc;
  }
  if (watcher) {
    r->watcher = watcher;
    r->watcher_arg = warg;
    r->watch_path = sp;
  } else {
    free(sp);
  }
  return run(c, r, block, out, cb, arg);
}

static int do_path_op(roost_client *c, int32_t op, int rop, const char *path,
                      int32_t ival, roost_watch_cb watcher, void *warg,
                      bool block, roost_result **out, roost_result_cb cb,
                      void *arg) {
  if (out)
    *out = NULL;
  if (c == NULL)
    return ROOST_EINVAL;
  char *sp;
  struct rc_req *r;
  struct proto_request req;
  int rc = op_begin(c, path, false, op, rop, &sp, &r, &req);
  if (rc != ROOST_OK)
    return rc;
  switch (op) {
  case PROTO_OP_DELETE:
    req.u.del.path = slice_str(sp);
    req.u.del.version = ival;
    break;
  case PROTO_OP_EXISTS:
  case PROTO_OP_GETDATA:
  case PROTO_OP_GETCHILDREN2:
    req.u.path_watch.path = slice_str(sp);
    req.u.path_watch.watch = watcher != NULL;
    break;
  default: /* getACL, sync */
    req.u.path.path = slice_str(sp);
    break;
  }
  return send_path_req(c, r, &req, sp, watcher, warg, block, out, cb, arg);
}

int roost_delete(roost_client *c, const char *path, int32_t version) {
  return do_path_op(c, PROTO_OP_DELETE, ROOST_OP_DELETE, path, version, NULL,
                    NULL, true, NULL, NULL, NULL);
}
int roost_delete_async(roost_client *c, const char *path, int32_t version,
                       roost_result_cb cb, void *arg) {
  return do_path_op(c, PROTO_OP_DELETE, ROOST_OP_DELETE, path, version, NULL,
                    NULL, false, NULL, cb, arg);
}
int roost_exists(roost_client *c, const char *path, roost_watch_cb watcher,
                 void *watcher_arg, roost_result **out) {
  return do_path_op(c, PROTO_OP_EXISTS, ROOST_OP_EXISTS, path, 0, watcher,
                    watcher_arg, true, out, NULL, NULL);
}
int roost_exists_async(roost_client *c, const char *path,
                       roost_watch_cb watcher, void *watcher_arg,
                       roost_result_cb cb, void *arg) {
  return do_path_op(c, PROTO_OP_EXISTS, ROOST_OP_EXISTS, path, 0, watcher,
                    watcher_arg, false, NULL, cb, arg);
}
int roost_get(roost_client *c, const char *path, roost_watch_cb watcher,
              void *watcher_arg, roost_result **out) {
  return do_path_op(c, PROTO_OP_GETDATA, ROOST_OP_GET, path, 0, watcher,
                    watcher_arg, true, out, NULL, NULL);
}
int roost_get_async(roost_client *c, const char *path, roost_watch_cb watcher,
                    void *watcher_arg, roost_result_cb cb, void *arg) {
  return do_path_op(c, PROTO_OP_GETDATA, ROOST_OP_GET, path, 0, watcher,
                    watcher_arg, false, NULL, cb, arg);
}
int roost_get_children(roost_client *c, const char *path,
                       roost_watch_cb watcher, void *watcher_arg,
                       roost_result **out) {
  return do_path_op(c, PROTO_OP_GETCHILDREN2, ROOST_OP_GET_CHILDREN, path, 0,
                    watcher, watcher_arg, true, out, NULL, NULL);
}
int roost_get_children_async(roost_client *c, const char *path,
                             roost_watch_cb watcher, void *watcher_arg,
                             roost_result_cb cb, void *arg) {
  return do_path_op(c, PROTO_OP_GETCHILDREN2, ROOST_OP_GET_CHILDREN, path, 0,
                    watcher, watcher_arg, false, NULL, cb, arg);
}
int roost_get_acl(roost_client *c, const char *path, roost_result **out) {
  return do_path_op(c, PROTO_OP_GETACL, ROOST_OP_GET_ACL, path, 0, NULL, NULL,
                    true, out, NULL, NULL);
}
int roost_get_acl_async(roost_client *c, const char *path, roost_result_cb cb,
                        void *arg) {
  return do_path_op(c, PROTO_OP_GETACL, ROOST_OP_GET_ACL, path, 0, NULL, NULL,
                    false, NULL, cb, arg);
}
int roost_get_ephemerals(roost_client *c, const char *prefix,
                         roost_result **out) {
  return do_path_op(c, PROTO_OP_GETEPHEMERALS, ROOST_OP_GET_EPHEMERALS, prefix,
                    0, NULL, NULL, true, out, NULL, NULL);
}
int roost_get_ephemerals_async(roost_client *c, const char *prefix,
                               roost_result_cb cb, void *arg) {
  return do_path_op(c, PROTO_OP_GETEPHEMERALS, ROOST_OP_GET_EPHEMERALS, prefix,
                    0, NULL, NULL, false, NULL, cb, arg);
}
int roost_get_all_children_number(roost_client *c, const char *path,
                                  roost_result **out) {
  return do_path_op(c, PROTO_OP_GETALLCHILDRENNUMBER,
                    ROOST_OP_GET_ALL_CHILDREN_NUMBER, path, 0, NULL, NULL, true,
                    out, NULL, NULL);
}
int roost_get_all_children_number_async(roost_client *c, const char *path,
                                        roost_result_cb cb, void *arg) {
  return do_path_op(c, PROTO_OP_GETALLCHILDRENNUMBER,
                    ROOST_OP_GET_ALL_CHILDREN_NUMBER, path, 0, NULL, NULL,
                    false, NULL, cb, arg);
}

/* ------------------------------------------------------------------ */
/* addWatch, removeWatches, checkWatches, whoAmI */

/* op: ADDWATCH (ival = mode) or REMOVE/CHECKWATCHES (ival = type). */
static int do_watch_op(roost_client *c, int32_t op, int rop, const char *path,
                       int32_t ival, roost_watch_cb watcher, void *warg,
                       bool local, bool block, roost_result_cb cb, void *arg) {
  if (c == NULL)
    return ROOST_EINVAL;
  if (op == PROTO_OP_ADDWATCH
          ? (watcher == NULL || (ival != ROOST_WATCH_PERSISTENT &&
                                 ival != ROOST_WATCH_PERSISTENT_RECURSIVE))
          : (ival < ROOST_WATCHER_CHILDREN ||
             ival > ROOST_WATCHER_PERSISTENT_RECURSIVE))
    return ROOST_EINVAL;
  char *sp;
  struct rc_req *r;
  struct proto_request req;
  int rc = op_begin(c, path, false, op, rop, &sp, &r, &req);
  if (rc != ROOST_OK)
    return rc;
  if (op == PROTO_OP_ADDWATCH) {
    req.u.add_watch.path = slice_str(sp);
    req.u.add_watch.mode = ival;
    r->wmode = ival;
  } else {
    req.u.watches.path = slice_str(sp);
    /* 3.8 servers know types 1-3; a persistent watch is in both of their
     * tables, so "any" is what reaches it (core.c decides when to send). */
    req.u.watches.type = ival > ROOST_WATCHER_ANY ? ROOST_WATCHER_ANY : ival;
    r->wtype = ival;
    r->wlocal = local;
  }
  struct proto_writer w;
  proto_writer_init(&w);
  proto_request_encode(&w, &req);
  rc = req_take_frame(r, &w);
  if (rc != ROOST_OK) {
    free(sp);
    rc_req_free(r);
    return rc;
  }
  r->watcher = watcher;
  r->watcher_arg = warg;
  r->watch_path = sp;
  return run(c, r, block, NULL, cb, arg);
}

int roost_add_watch(roost_client *c, const char *path, int mode,
                    roost_watch_cb watcher, void *watcher_arg) {
  return do_watch_op(c, PROTO_OP_ADDWATCH, ROOST_OP_ADD_WATCH, path, mode,
                     watcher, watcher_arg, false, true, NULL, NULL);
}
int roost_add_watch_async(roost_client *c, const char *path, int mode,
                          roost_watch_cb watcher, void *watcher_arg,
                          roost_result_cb cb, void *arg) {
  return do_watch_op(c, PROTO_OP_ADDWATCH, ROOST_OP_ADD_WATCH, path, mode,
                     watcher, watcher_arg, false, false, cb, arg);
}
int roost_remove_watches(roost_client *c, const char *path, int type,
                         roost_watch_cb watcher, void *watcher_arg,
                         bool local) {
  return do_watch_op(c, PROTO_OP_REMOVEWATCHES, ROOST_OP_REMOVE_WATCHES, path,
                     type, watcher, watcher_arg, local, true, NULL, NULL);
}
int roost_remove_watches_async(roost_client *c, const char *path, int type,
                               roost_watch_cb watcher, void *watcher_arg,
                               bool local, roost_result_cb cb, void *arg) {
  return do_watch_op(c, PROTO_OP_REMOVEWATCHES, ROOST_OP_REMOVE_WATCHES, path,
                     type, watcher, watcher_arg, local, false, cb, arg);
}
int roost_check_watches(roost_client *c, const char *path, int type,
                        roost_watch_cb watcher, void *watcher_arg, bool local) {
  return do_watch_op(c, PROTO_OP_CHECKWATCHES, ROOST_OP_CHECK_WATCHES, path,
                     type, watcher, watcher_arg, local, true, NULL, NULL);
}
int roost_check_watches_async(roost_client *c, const char *path, int type,
                              roost_watch_cb watcher, void *watcher_arg,
                              bool local, roost_result_cb cb, void *arg) {
  return do_watch_op(c, PROTO_OP_CHECKWATCHES, ROOST_OP_CHECK_WATCHES, path,
                     type, watcher, watcher_arg, local, false, cb, arg);
}

static int do_whoami(roost_client *c, bool block, roost_result **out,
                     roost_result_cb cb, void *arg) {
  if (out)
    *out = NULL;
  if (c == NULL)
    return ROOST_EINVAL;
  struct rc_req *r = new_op(PROTO_OP_WHOAMI, ROOST_OP_WHOAMI);
  if (r == NULL)
    return ROOST_ENOMEM;
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_WHOAMI;
  struct proto_writer w;
  proto_writer_init(&w);
  proto_request_encode(&w, &req);
  int rc = req_take_frame(r, &w);
  if (rc != ROOST_OK) {
    rc_req_free(r);
    return rc;
  }
  return run(c, r, block, out, cb, arg);
}
int roost_whoami(roost_client *c, roost_result **out) {
  return do_whoami(c, true, out, NULL, NULL);
}
int roost_whoami_async(roost_client *c, roost_result_cb cb, void *arg) {
  return do_whoami(c, false, NULL, cb, arg);
}

static struct proto_slice opt_slice(const char *s) {
  struct proto_slice v = {.ptr = (const uint8_t *)s,
                          .len = s ? (int32_t)strlen(s) : -1};
  return v;
}

static int do_reconfig(roost_client *c, const char *joining,
                       const char *leaving, const char *new_members,
                       int64_t from_config, bool block, roost_result **out,
                       roost_result_cb cb, void *arg) {
  if (out)
    *out = NULL;
  if (c == NULL)
    return ROOST_EINVAL;
  struct rc_req *r = new_op(PROTO_OP_RECONFIG, ROOST_OP_RECONFIG);
  if (r == NULL)
    return ROOST_ENOMEM;
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_RECONFIG;
  req.u.reconfig.joining = opt_slice(joining);
  req.u.reconfig.leaving = opt_slice(leaving);
  req.u.reconfig.new_members = opt_slice(new_members);
  req.u.reconfig.cur_config_id = from_config;
  struct proto_writer w;
  proto_writer_init(&w);
  proto_request_encode(&w, &req);
  int rc = req_take_frame(r, &w);
  if (rc != ROOST_OK) {
    rc_req_free(r);
    return rc;
  }
  return run(c, r, block, out, cb, arg);
}

int roost_reconfig(roost_client *c, const char *joining, const char *leaving,
                   const char *new_members, int64_t from_config,
                   roost_result **out) {
  return do_reconfig(c, joining, leaving, new_members, from_config, true, out,
                     NULL, NULL);
}

int roost_reconfig_async(roost_client *c, const char *joining,
                         const char *leaving, const char *new_members,
                         int64_t from_config, roost_result_cb cb, void *arg) {
  return do_reconfig(c, joining, leaving, new_members, from_config, false, NULL,
                     cb, arg);
}

/* getConfig: a getData of /zookeeper/config that, as ZooKeeper's clients
 * do, ignores the chroot (the watch is kept under the server's path). */
static int do_get_config(roost_client *c, roost_watch_cb watcher, void *warg,
                         bool block, roost_result **out, roost_result_cb cb,
                         void *arg) {
  if (out)
    *out = NULL;
  if (c == NULL)
    return ROOST_EINVAL;
  static const char cfg_path[] = "/zookeeper/config";
  struct rc_req *r = new_op(PROTO_OP_GETDATA, ROOST_OP_GET);
  char *sp = rc_strndup(cfg_path, sizeof cfg_path - 1);
  if (r == NULL || sp == NULL) {
    rc_req_free(r);
    free(sp);
    return ROOST_ENOMEM;
  }
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_GETDATA;
  req.u.path_watch.path = slice_str(sp);
  req.u.path_watch.watch = watcher != NULL;
  return send_path_req(c, r, &req, sp, watcher, warg, block, out, cb, arg);
}

int roost_get_config(roost_client *c, roost_watch_cb watcher, void *watcher_arg,
                     roost_result **out) {
  return do_get_config(c, watcher, watcher_arg, true, out, NULL, NULL);
}

int roost_get_config_async(roost_client *c, roost_watch_cb watcher,
                           void *watcher_arg, roost_result_cb cb, void *arg) {
  return do_get_config(c, watcher, watcher_arg, false, NULL, cb, arg);
}

int roost_sync(roost_client *c, const char *path) {
  return do_path_op(c, PROTO_OP_SYNC, ROOST_OP_SYNC, path, 0, NULL, NULL, true,
                    NULL, NULL, NULL);
}
int roost_sync_async(roost_client *c, const char *path, roost_result_cb cb,
                     void *arg) {
  return do_path_op(c, PROTO_OP_SYNC, ROOST_OP_SYNC, path, 0, NULL, NULL, false,
                    NULL, cb, arg);
}

/* ------------------------------------------------------------------ */
/* set, set_acl */

static int do_set(roost_client *c, const char *path, const void *data,
                  int32_t data_len, int32_t version, bool block,
                  roost_result **out, roost_result_cb cb, void *arg) {
  if (out)
    *out = NULL;
  if (c == NULL || data_len < -1 || (data == NULL && data_len > 0))
    return ROOST_EINVAL;
  char *sp;
  struct rc_req *r;
  struct proto_request req;
  int rc =
      op_begin(c, path, false, PROTO_OP_SETDATA, ROOST_OP_SET, &sp, &r, &req);
  if (rc != ROOST_OK)
    return rc;
  req.u.set_data.path = slice_str(sp);
  req.u.set_data.data.ptr = data;
  req.u.set_data.data.len = data_len;
  req.u.set_data.version = version;
  struct proto_writer w;
  proto_writer_init(&w);
  proto_request_encode(&w, &req);
  free(sp);
  rc = req_take_frame(r, &w);
  if (rc != ROOST_OK) {
    rc_req_free(r);
    return rc;
  }
  return run(c, r, block, out, cb, arg);
}

int roost_set(roost_client *c, const char *path, const void *data,
              int32_t data_len, int32_t version, roost_result **out) {
  return do_set(c, path, data, data_len, version, true, out, NULL, NULL);
}
int roost_set_async(roost_client *c, const char *path, const void *data,
                    int32_t data_len, int32_t version, roost_result_cb cb,
                    void *arg) {
  return do_set(c, path, data, data_len, version, false, NULL, cb, arg);
}

static int do_set_acl(roost_client *c, const char *path, const roost_acl *acl,
                      int32_t n_acl, int32_t version, bool block,
                      roost_result **out, roost_result_cb cb, void *arg) {
  if (out)
    *out = NULL;
  if (c == NULL || acl == NULL || n_acl <= 0)
    return ROOST_EINVAL;
  char *sp;
  struct rc_req *r;
  struct proto_request req;
  int rc = op_begin(c, path, false, PROTO_OP_SETACL, ROOST_OP_SET_ACL, &sp, &r,
                    &req);
  if (rc != ROOST_OK)
    return rc;
  struct proto_writer aw, w;
  proto_writer_init(&aw);
  proto_writer_init(&w);
  req.u.set_acl.path = slice_str(sp);
  req.u.set_acl.version = version;
  rc = encode_acl(&aw, acl, n_acl, &req.u.set_acl.acl);
  if (rc != ROOST_OK)
    goto out;
  proto_request_encode(&w, &req);
  rc = req_take_frame(r, &w);
  if (rc != ROOST_OK)
    goto out;
  proto_writer_free(&aw);
  free(sp);
  return run(c, r, block, out, cb, arg);
out:
  proto_writer_free(&aw);
  proto_writer_free(&w);
  free(sp);
  rc_req_free(r);
  return rc;
}

int roost_set_acl(roost_client *c, const char *path, const roost_acl *acl,
                  int32_t n_acl, int32_t version, roost_result **out) {
  return do_set_acl(c, path, acl, n_acl, version, true, out, NULL, NULL);
}
int roost_set_acl_async(roost_client *c, const char *path, const roost_acl *acl,
                        int32_t n_acl, int32_t version, roost_result_cb cb,
                        void *arg) {
  return do_set_acl(c, path, acl, n_acl, version, false, NULL, cb, arg);
}

/* ------------------------------------------------------------------ */
/* auth */

static int do_auth(roost_client *c, const char *scheme, const void *cred,
                   size_t cred_len, bool block, roost_result_cb cb, void *arg) {
  if (c == NULL || scheme == NULL || (cred == NULL && cred_len > 0) ||
      cred_len > INT32_MAX)
    return ROOST_EINVAL;
  struct rc_req *r = rc_req_new(RC_REQ_AUTH);
  if (r == NULL)
    return ROOST_ENOMEM;
  r->rop = ROOST_OP_AUTH;
  r->scheme = rc_strndup(scheme, strlen(scheme));
  r->cred = malloc(cred_len + 1);
  if (r->scheme == NULL || r->cred == NULL) {
    rc_req_free(r);
    return ROOST_ENOMEM;
  }
  if (cred_len)
    memcpy(r->cred, cred, cred_len);
  r->cred_len = cred_len;
  return run(c, r, block, NULL, cb, arg);
}

int roost_add_auth(roost_client *c, const char *scheme, const void *credentials,
                   size_t credentials_len) {
  return do_auth(c, scheme, credentials, credentials_len, true, NULL, NULL);
}
int roost_add_auth_async(roost_client *c, const char *scheme,
                         const void *credentials, size_t credentials_len,
                         roost_result_cb cb, void *arg) {
  return do_auth(c, scheme, credentials, credentials_len, false, cb, arg);
}

/* ------------------------------------------------------------------ */
/* multi */

struct rc_mop {
  int32_t type; /* opcode */
  int rop;
  char *path;
  uint8_t *data;
  int32_t data_len;
  int32_t version;
  roost_create_opts copts; /* acl copied into acl_copy */
  roost_acl *acl_copy;
};

struct roost_multi {
  struct rc_mop *ops;
  size_t n, cap;
};

roost_multi *roost_multi_new(void) { return calloc(1, sizeof(roost_multi)); }

static void mop_clear(struct rc_mop *o) {
  free(o->path);
  free(o->data);
  for (int32_t i = 0; o->acl_copy && i < o->copts.n_acl; i++) {
    free((void *)o->acl_copy[i].scheme);
    free((void *)o->acl_copy[i].id);
  }
  free(o->acl_copy);
}

void roost_multi_free(roost_multi *m) {
  if (m == NULL)
    return;
  for (size_t i = 0; i < m->n; i++)
    mop_clear(&m->ops[i]);
  free(m->ops);
  free(m);
}

static struct rc_mop *mop_add(roost_multi *m, const char *path, bool sequential,
                              int *rc) {
  *rc = check_path(path, sequential);
  if (*rc != ROOST_OK)
    return NULL;
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 4;
    struct rc_mop *v = realloc(m->ops, cap * sizeof *v);
    if (v == NULL) {
      *rc = ROOST_ENOMEM;
      return NULL;
    }
    m->ops = v;
    m->cap = cap;
  }
  struct rc_mop *o = &m->ops[m->n];
  memset(o, 0, sizeof *o);
  o->path = rc_strndup(path, strlen(path));
  if (o->path == NULL) {
    *rc = ROOST_ENOMEM;
    return NULL;
  }
  return o;
}

static int mop_data(struct rc_mop *o, const void *data, int32_t len) {
  o->data_len = len;
  if (len <= 0)
    return ROOST_OK;
  o->data = malloc((size_t)len);
  if (o->data == NULL)
    return ROOST_ENOMEM;
  memcpy(o->data, data, (size_t)len);
  return ROOST_OK;
}

int roost_multi_add_create(roost_multi *m, const char *path, const void *data,
                           int32_t data_len, const roost_create_opts *opts) {
  if (m == NULL || data_len < -1 || (data == NULL && data_len > 0))
    return ROOST_EINVAL;
  int32_t op, flags;
  int rc = create_mode(opts, &op, &flags);
  if (rc != ROOST_OK)
    return rc;
  struct rc_mop *o =
      mop_add(m, path, opts && (opts->flags & ROOST_SEQUENTIAL), &rc);
  if (o == NULL)
    return rc;
  o->type = op;
  o->rop = ROOST_OP_CREATE;
  if (opts)
    o->copts = *opts;
  o->copts.acl = NULL;
  o->copts.n_acl = 0;
  if (opts && opts->acl && opts->n_acl > 0) {
    o->acl_copy = calloc((size_t)opts->n_acl, sizeof *o->acl_copy);
    if (o->acl_copy == NULL)
      goto nomem;
    o->copts.n_acl = opts->n_acl;
    for (int32_t i = 0; i < opts->n_acl; i++) {
      if (!opts->acl[i].scheme || !opts->acl[i].id) {
        mop_clear(o);
        return ROOST_EINVAL;
      }
      o->acl_copy[i].perms = opts->acl[i].perms;
      o->acl_copy[i].scheme =
          rc_strndup(opts->acl[i].scheme, strlen(opts->acl[i].scheme));
      o->acl_copy[i].id = rc_strndup(opts->acl[i].id, strlen(opts->acl[i].id));
      if (!o->acl_copy[i].scheme || !o->acl_copy[i].id)
        goto nomem;
    }
    o->copts.acl = o->acl_copy;
  }
  if (mop_data(o, data, data_len) != ROOST_OK)
    goto nomem;
  m->n++;
  return ROOST_OK;
nomem:
  mop_clear(o);
  return ROOST_ENOMEM;
}

int roost_multi_add_delete(roost_multi *m, const char *path, int32_t version) {
  if (m == NULL)
    return ROOST_EINVAL;
  int rc;
  struct rc_mop *o = mop_add(m, path, false, &rc);
  if (o == NULL)
    return rc;
  o->type = PROTO_OP_DELETE;
  o->rop = ROOST_OP_DELETE;
  o->version = version;
  m->n++;
  return ROOST_OK;
}

int roost_multi_add_set(roost_multi *m, const char *path, const void *data,
                        int32_t data_len, int32_t version) {
  if (m == NULL || data_len < -1 || (data == NULL && data_len > 0))
    return ROOST_EINVAL;
  int rc;
  struct rc_mop *o = mop_add(m, path, false, &rc);
  if (o == NULL)
    return rc;
  o->type = PROTO_OP_SETDATA;
  o->rop = ROOST_OP_SET;
  o->version = version;
  if (mop_data(o, data, data_len) != ROOST_OK) {
    mop_clear(o);
    return ROOST_ENOMEM;
  }
  m->n++;
  return ROOST_OK;
}

static int multi_add_read(roost_multi *m, const char *path, int32_t type,
                          int rop) {
  if (m == NULL)
    return ROOST_EINVAL;
  int rc;
  struct rc_mop *o = mop_add(m, path, false, &rc);
  if (o == NULL)
    return rc;
  o->type = type;
  o->rop = rop;
  m->n++;
  return ROOST_OK;
}
int roost_multi_add_get(roost_multi *m, const char *path) {
  return multi_add_read(m, path, PROTO_OP_GETDATA, ROOST_OP_GET);
}
int roost_multi_add_get_children(roost_multi *m, const char *path) {
  return multi_add_read(m, path, PROTO_OP_GETCHILDREN, ROOST_OP_GET_CHILDREN);
}

int roost_multi_add_check(roost_multi *m, const char *path, int32_t version) {
  if (m == NULL)
    return ROOST_EINVAL;
  int rc;
  struct rc_mop *o = mop_add(m, path, false, &rc);
  if (o == NULL)
    return rc;
  o->type = PROTO_OP_CHECK;
  o->rop = ROOST_OP_CHECK;
  o->version = version;
  m->n++;
  return ROOST_OK;
}

static bool mop_is_read(const struct rc_mop *o) {
  return o->type == PROTO_OP_GETDATA || o->type == PROTO_OP_GETCHILDREN;
}

static int do_multi(roost_client *c, const roost_multi *m, bool read,
                    bool block, roost_result **out, roost_result_cb cb,
                    void *arg) {
  if (out)
    *out = NULL;
  if (c == NULL || m == NULL || m->n > INT32_MAX)
    return ROOST_EINVAL;
  for (size_t i = 0; i < m->n; i++)
    if (mop_is_read(&m->ops[i]) != read)
      return ROOST_EINVAL;
  int32_t mop = read ? PROTO_OP_MULTIREAD : PROTO_OP_MULTI;
  struct rc_req *r = new_op(mop, read ? ROOST_OP_MULTI_READ : ROOST_OP_MULTI);
  if (r == NULL)
    return ROOST_ENOMEM;
  r->multi_ops = calloc(m->n ? m->n : 1, sizeof *r->multi_ops);
  if (r->multi_ops == NULL) {
    rc_req_free(r);
    return ROOST_ENOMEM;
  }
  r->n_multi_ops = (int32_t)m->n;
  struct rc_core *k = rc_client_core(c);
  struct proto_writer w;
  proto_writer_init(&w);
  size_t mark = proto_multi_encode_begin(&w, 0, mop);
  int rc = ROOST_OK;
  for (size_t i = 0; i < m->n && rc == ROOST_OK; i++) {
    const struct rc_mop *o = &m->ops[i];
    r->multi_ops[i] = o->rop;
    char *sp = rc_core_server_path(k, o->path);
    if (sp == NULL) {
      rc = ROOST_ENOMEM;
      break;
    }
    struct proto_multi_op mo;
    memset(&mo, 0, sizeof mo);
    mo.type = o->type;
    struct proto_writer aw;
    proto_writer_init(&aw);
    switch (o->type) {
    case PROTO_OP_DELETE:
      mo.u.del.path = slice_str(sp);
      mo.u.del.version = o->version;
      break;
    case PROTO_OP_CHECK:
      mo.u.check.path = slice_str(sp);
      mo.u.check.version = o->version;
      break;
    case PROTO_OP_SETDATA:
      mo.u.set_data.path = slice_str(sp);
      mo.u.set_data.data.ptr = o->data;
      mo.u.set_data.data.len = o->data_len;
      mo.u.set_data.version = o->version;
      break;
    case PROTO_OP_GETDATA:
    case PROTO_OP_GETCHILDREN:
      mo.u.read.path = slice_str(sp);
      mo.u.read.watch = false;
      break;
    default: { /* creates */
      int32_t op, flags;
      (void)create_mode(&o->copts, &op, &flags);
      mo.u.create.path = slice_str(sp);
      mo.u.create.data.ptr = o->data;
      mo.u.create.data.len = o->data_len;
      mo.u.create.flags = flags;
      mo.u.create.ttl = o->copts.ttl_ms;
      rc = encode_acl(&aw, o->copts.acl, o->copts.n_acl, &mo.u.create.acl);
      break;
    }
    }
    if (rc == ROOST_OK)
      proto_multi_encode_op(&w, &mo);
    proto_writer_free(&aw);
    free(sp);
  }
  if (rc != ROOST_OK) {
    proto_writer_free(&w);
    rc_req_free(r);
    return rc;
  }
  proto_multi_encode_end(&w, mark);
  rc = req_take_frame(r, &w);
  if (rc != ROOST_OK) {
    rc_req_free(r);
    return rc;
  }
  return run(c, r, block, out, cb, arg);
}

int roost_multi_commit(roost_client *c, const roost_multi *m,
                       roost_result **out) {
  return do_multi(c, m, false, true, out, NULL, NULL);
}
int roost_multi_commit_async(roost_client *c, const roost_multi *m,
                             roost_result_cb cb, void *arg) {
  return do_multi(c, m, false, false, NULL, cb, arg);
}
int roost_multi_read(roost_client *c, const roost_multi *m,
                     roost_result **out) {
  return do_multi(c, m, true, true, out, NULL, NULL);
}
int roost_multi_read_async(roost_client *c, const roost_multi *m,
                           roost_result_cb cb, void *arg) {
  return do_multi(c, m, true, false, NULL, cb, arg);
}
