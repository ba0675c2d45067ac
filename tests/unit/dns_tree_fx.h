/* dns_tree_fx.h — a tree with service instances for the dns tests and the
 * dns fuzz target: writes go through tree_prep + tree_apply, as on a
 * server.  Header-only (static functions) so both can include it. */
#ifndef ROOST_DNS_TREE_FX_H
#define ROOST_DNS_TREE_FX_H

#include "proto/proto.h"
#include "tree/tree.h"

#include <stdlib.h>
#include <string.h>

#define FX_SESSION 0x1234

static inline struct proto_slice fx_s(const char *s) {
  struct proto_slice sl = {(const uint8_t *)s, (int32_t)strlen(s)};
  return sl;
}

/* Applies one prepared request; returns the client's error (0 = ok). */
static inline int fx_run(struct tree *t, const struct proto_request *req) {
  struct tree_prep_ctx ctx = {
      FX_SESSION, 1, tree_last_zxid(t) + 1, 1000, {NULL, 0}};
  struct proto_writer w;
  struct tree_out out;
  proto_writer_init(&w);
  tree_out_init(&out);
  int rc = tree_prep(t, &ctx, req, &w);
  if (rc == PROTO_OK)
    rc = tree_apply(t, w.buf, w.len, &out);
  if (rc == PROTO_OK)
    rc = out.err;
  proto_writer_free(&w);
  tree_out_free(&out);
  return rc;
}

static inline struct tree *fx_tree_new(void) {
  struct tree *t = tree_new(NULL);
  if (t == NULL)
    return NULL;
  struct proto_writer w;
  struct tree_out out;
  proto_writer_init(&w);
  tree_out_init(&out);
  struct tree_txn_header h = {FX_SESSION, 0, 1, 1000, 0};
  static const uint8_t passwd[PROTO_PASSWD_LEN] = "dns-fixture-pw.";
  tree_txn_encode_create_session(&w, &h, 30000, passwd);
  if (tree_apply(t, w.buf, w.len, &out) != PROTO_OK) {
    tree_free(t);
    t = NULL;
  }
  proto_writer_free(&w);
  tree_out_free(&out);
  return t;
}

/* Create path (flags 0 persistent, 1 ephemeral) with data, world ACL;
 * data NULL = a node without data. */
static inline int fx_create(struct tree *t, const char *path, const char *data,
                            int32_t flags) {
  struct proto_writer acl;
  proto_writer_init(&acl);
  struct proto_acl a = {31, {fx_s("world"), fx_s("anyone")}};
  proto_write_acl(&acl, &a);
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_CREATE;
  req.u.create.path = fx_s(path);
  if (data != NULL)
    req.u.create.data = fx_s(data);
  else
    req.u.create.data.len = -1;
  req.u.create.acl.raw.ptr = acl.buf;
  req.u.create.acl.raw.len = (int32_t)acl.len;
  req.u.create.acl.count = 1;
  req.u.create.flags = flags;
  int rc = fx_run(t, &req);
  proto_writer_free(&acl);
  return rc;
}

static inline int fx_set(struct tree *t, const char *path, const char *data) {
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_SETDATA;
  req.u.set_data.path = fx_s(path);
  req.u.set_data.data = fx_s(data);
  req.u.set_data.version = -1;
  return fx_run(t, &req);
}

static inline int fx_delete(struct tree *t, const char *path) {
  struct proto_request req;
  memset(&req, 0, sizeof req);
  req.hdr.type = PROTO_OP_DELETE;
  req.u.del.path = fx_s(path);
  req.u.del.version = -1;
  return fx_run(t, &req);
}

#endif /* ROOST_DNS_TREE_FX_H */
