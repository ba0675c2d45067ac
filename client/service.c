/* service.c — ephemeral sequential members (rc_eph), service registration
 * and service watches.
 *
 * Everything here runs on the client's loop thread, chained through the
 * async API.  Objects are reference counted (owner + each operation in
 * flight + each armed watch) because ZooKeeper offers no way to cancel a
 * watch: an object the application freed lives on until its last watch
 * fires or the client closes (then every watcher gets NOT_WATCHING).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"

#define RC_SERVICES_ROOT "/services"

/* ------------------------------------------------------------------ */
/* rc_eph */

static void eph_try_create(struct rc_eph *e);

int64_t rc_seq_of(const char *name) {
  size_t n = strlen(name);
  if (n < 10)
    return -1;
  return strtoll(name + n - 10, NULL, 10);
}

void rc_eph_ref(struct rc_eph *e) { e->refs++; }

void rc_eph_unref(struct rc_eph *e) {
  if (--e->refs == 0)
    e->destroy(e);
}

void rc_eph_free_fields(struct rc_eph *e) {
  free(e->dir);
  free(e->prefix);
  free(e->data);
  free(e->path);
  uv_mutex_destroy(&e->mu);
}

static void eph_set_path(struct rc_eph *e, const char *path) {
  char *p = path ? rc_strndup(path, strlen(path)) : NULL;
  uv_mutex_lock(&e->mu);
  free(e->path);
  e->path = p;
  uv_mutex_unlock(&e->mu);
}

static void eph_lost(struct rc_eph *e) {
  if (e->path == NULL)
    return;
  eph_set_path(e, NULL);
  if (!e->detached && e->on_lost)
    e->on_lost(e);
}

static void eph_node_watch(roost_client *c, int type, const char *path,
                           void *arg);

static void eph_watch_done(roost_client *c, const roost_result *res,
                           void *arg) {
  (void)c;
  struct rc_eph *e = arg;
  if (res->err != ROOST_OK && res->err != ROOST_NONODE)
    rc_eph_unref(e); /* the watcher will never run */
  if (res->err == ROOST_NONODE && !e->detached) {
    /* Gone already (deleted by someone): the exists watch stays armed for
     * a creation that will not come; just make a new node. */
    eph_lost(e);
    if (e->want && !e->creating && e->connected)
      eph_try_create(e);
  }
  rc_eph_unref(e); /* the operation */
}

static void eph_arm_watch(struct rc_eph *e) {
  rc_eph_ref(e); /* operation */
  rc_eph_ref(e); /* watcher */
  if (roost_exists_async(e->c, e->path, eph_node_watch, e, eph_watch_done, e) !=
      ROOST_OK) {
    rc_eph_unref(e);
    rc_eph_unref(e);
  }
}

static void eph_node_watch(roost_client *c, int type, const char *path,
                           void *arg) {
  (void)c;
  struct rc_eph *e = arg;
  if (!e->detached && e->path && strcmp(path, e->path) == 0) {
    if (type == ROOST_EVENT_DELETED) {
      eph_lost(e);
      if (e->want && !e->creating && e->connected)
        eph_try_create(e);
    } else if (type != ROOST_EVENT_NOT_WATCHING) {
      eph_arm_watch(e);
    }
  }
  rc_eph_unref(e);
}

static void eph_created(struct rc_eph *e, const char *path) {
  e->creating = false;
  e->uncertain = false;
  e->session = rc_client_core(e->c)->session_id;
  eph_set_path(e, path);
  if (!e->want) { /* released while the create ran */
    rc_eph_remove(e);
    return;
  }
  eph_arm_watch(e);
  if (!e->detached && e->on_created)
    e->on_created(e, ROOST_OK);
}

static void eph_failed(struct rc_eph *e, int err) {
  e->creating = false;
  if (err == ROOST_CONNECTIONLOSS)
    e->uncertain = true; /* resolved on the next CONNECTED */
  if (!e->detached && e->on_created && err != ROOST_CONNECTIONLOSS &&
      err != ROOST_SESSIONEXPIRED && err != ROOST_ECLOSED)
    e->on_created(e, err);
}

static void eph_parent_done(roost_client *c, const roost_result *res,
                            void *arg);
static void eph_do_create(struct rc_eph *e);

/* Creates the next ancestor of the node (persistent).  parent_step: 0 =
 * the node was tried without parents; k > 0 = k ancestors done; -1 = all
 * ancestors exist. */
static void eph_create_parents(struct rc_eph *e) {
  const char *p = e->dir;
  for (int i = 0; i <= e->parent_step && p; i++)
    p = strchr(p + 1, '/');
  size_t n = p ? (size_t)(p - e->dir) : strlen(e->dir);
  char *sub = rc_strndup(e->dir, n);
  if (sub == NULL) {
    eph_failed(e, ROOST_ENOMEM);
    return;
  }
  e->parent_step = p ? e->parent_step + 1 : -1;
  rc_eph_ref(e);
  int rc = roost_create_async(e->c, sub, NULL, 0, NULL, eph_parent_done, e);
  free(sub);
  if (rc != ROOST_OK) {
    rc_eph_unref(e);
    eph_failed(e, rc);
  }
}

static void eph_parent_done(roost_client *c, const roost_result *res,
                            void *arg) {
  (void)c;
  struct rc_eph *e = arg;
  if (res->err != ROOST_OK && res->err != ROOST_NODEEXISTS)
    eph_failed(e, res->err);
  else if (e->parent_step == -1)
    eph_do_create(e);
  else
    eph_create_parents(e);
  rc_eph_unref(e);
}

static void eph_create_done(roost_client *c, const roost_result *res,
                            void *arg) {
  (void)c;
  struct rc_eph *e = arg;
  if (res->err == ROOST_OK) {
    eph_created(e, res->path);
  } else if (res->err == ROOST_NONODE && e->parent_step == 0) {
    eph_create_parents(e);
  } else {
    eph_failed(e, res->err);
  }
  rc_eph_unref(e);
}

static void eph_do_create(struct rc_eph *e) {
  size_t n = strlen(e->dir) + strlen(e->prefix) + 2;
  char *p = malloc(n);
  if (p == NULL) {
    eph_failed(e, ROOST_ENOMEM);
    return;
  }
  snprintf(p, n, "%s/%s", e->dir, e->prefix);
  roost_create_opts o = {ROOST_EPHEMERAL | ROOST_SEQUENTIAL, 0, NULL, 0};
  rc_eph_ref(e);
  int rc =
      roost_create_async(e->c, p, e->data, e->data_len, &o, eph_create_done, e);
  free(p);
  if (rc != ROOST_OK) {
    rc_eph_unref(e);
    eph_failed(e, rc);
  }
}

/* After a lost create reply: look for our token among the children. */
static void eph_recover_done(roost_client *c, const roost_result *res,
                             void *arg) {
  (void)c;
  struct rc_eph *e = arg;
  if (res->err == ROOST_OK) {
    for (int32_t i = 0; i < res->n_children; i++) {
      if (strstr(res->children[i], e->token) != NULL) {
        size_t n = strlen(e->dir) + strlen(res->children[i]) + 2;
        char *p = malloc(n);
        if (p) {
          snprintf(p, n, "%s/%s", e->dir, res->children[i]);
          eph_created(e, p);
          free(p);
          rc_eph_unref(e);
          return;
        }
      }
    }
    e->uncertain = false;
    e->parent_step = 0;
    eph_do_create(e);
  } else if (res->err == ROOST_NONODE) {
    e->uncertain = false;
    e->parent_step = 0;
    eph_do_create(e);
  } else {
    eph_failed(e, res->err);
  }
  rc_eph_unref(e);
}

static void eph_try_create(struct rc_eph *e) {
  if (e->creating || e->path != NULL || !e->want)
    return;
  e->creating = true;
  if (e->uncertain) {
    rc_eph_ref(e);
    if (roost_get_children_async(e->c, e->dir, NULL, NULL, eph_recover_done,
                                 e) != ROOST_OK) {
      rc_eph_unref(e);
      e->creating = false;
    }
    return;
  }
  e->parent_step = 0;
  eph_do_create(e);
}

static void eph_hook_session(struct rc_hook *h, int event) {
  struct rc_eph *e = (struct rc_eph *)h;
  switch (event) {
  case ROOST_SESSION_CONNECTED:
  case ROOST_SESSION_CONNECTED_READ_ONLY: {
    e->connected = true;
    int64_t sid = rc_client_core(e->c)->session_id;
    if (e->path && e->session != sid)
      eph_lost(e); /* a new session: the old node went with the old one */
    break;
  }
  case ROOST_SESSION_DISCONNECTED:
    e->connected = false;
    break;
  case ROOST_SESSION_EXPIRED:
    e->connected = false;
    e->uncertain = false; /* the node, if any, went with the session */
    eph_lost(e);
    break;
  default:
    break;
  }
  if (!e->detached && e->on_session)
    e->on_session(e, event);
  if ((event == ROOST_SESSION_CONNECTED ||
       event == ROOST_SESSION_CONNECTED_READ_ONLY) &&
      e->want && !e->detached)
    eph_try_create(e);
}

static void eph_hook_close(struct rc_hook *h) {
  struct rc_eph *e = (struct rc_eph *)h;
  if (!e->detached) {
    e->detached = true;
    rc_eph_unref(e); /* the owner's reference */
  }
}

int rc_eph_init(struct rc_eph *e, roost_client *c, const char *dir,
                const char *prefix, const void *data, int32_t data_len,
                uint64_t *rng) {
  memset(e, 0, sizeof *e);
  e->c = c;
  e->refs = 1;
  e->hook.on_session = eph_hook_session;
  e->hook.on_close = eph_hook_close;
  e->dir = rc_strndup(dir, strlen(dir));
  size_t pn = strlen(prefix) + 18;
  e->prefix = malloc(pn);
  if (e->dir == NULL || e->prefix == NULL)
    goto nomem;
  snprintf(e->prefix, pn, "%s%016llx-", prefix,
           (unsigned long long)rc_rand(rng));
  e->token = e->prefix + strlen(prefix);
  e->data_len = data ? data_len : -1;
  if (data && data_len > 0) {
    e->data = malloc((size_t)data_len);
    if (e->data == NULL)
      goto nomem;
    memcpy(e->data, data, (size_t)data_len);
  }
  if (uv_mutex_init(&e->mu) != 0)
    goto nomem;
  return ROOST_OK;
nomem:
  free(e->dir);
  free(e->prefix);
  free(e->data);
  return ROOST_ENOMEM;
}

void rc_eph_start(struct rc_eph *e) {
  e->want = true;
  struct rc_core *k = rc_client_core(e->c);
  e->connected = k->state == RC_ST_CONNECTED;
  if (e->connected)
    eph_try_create(e);
  /* otherwise the CONNECTED hook starts it */
}

static void eph_delete_done(roost_client *c, const roost_result *res,
                            void *arg) {
  (void)c;
  (void)res;
  rc_eph_unref(arg);
}

void rc_eph_remove(struct rc_eph *e) {
  e->want = false;
  if (e->path == NULL)
    return;
  rc_eph_ref(e);
  if (roost_delete_async(e->c, e->path, -1, eph_delete_done, e) != ROOST_OK)
    rc_eph_unref(e);
  eph_set_path(e, NULL);
}

void rc_eph_detach(struct rc_eph *e) {
  rc_client_hook_remove(e->c, &e->hook);
  if (!e->detached) {
    e->detached = true;
    rc_eph_unref(e);
  }
}

/* ------------------------------------------------------------------ */
/* Service registration */

struct roost_service_reg {
  struct rc_eph eph; /* first: the hook and eph casts rely on it */
  roost_service_reg_cb cb;
  void *arg;
};

static void reg_destroy(struct rc_eph *e) {
  rc_eph_free_fields(e);
  free(e);
}

static void reg_created(struct rc_eph *e, int err) {
  roost_service_reg *reg = (roost_service_reg *)e;
  if (reg->cb)
    reg->cb(reg, err, err == ROOST_OK ? e->path : NULL, reg->arg);
}

static bool name_ok(const char *name) {
  return name && *name && strchr(name, '/') == NULL && strcmp(name, ".") != 0 &&
         strcmp(name, "..") != 0 && strlen(name) < 256;
}

static void reg_start(roost_client *c, void *arg) {
  roost_service_reg *reg = arg;
  rc_client_hook_add(c, &reg->eph.hook);
  rc_eph_start(&reg->eph);
}

int roost_service_register(roost_client *c, const char *name, const char *json,
                           roost_service_reg_cb cb, void *arg,
                           roost_service_reg **out) {
  if (c == NULL || out == NULL || !name_ok(name) || json == NULL)
    return ROOST_EINVAL;
  *out = NULL;
  roost_service_reg *reg = calloc(1, sizeof *reg);
  if (reg == NULL)
    return ROOST_ENOMEM;
  char dir[300];
  snprintf(dir, sizeof dir, RC_SERVICES_ROOT "/%s", name);
  uint64_t seed = (uint64_t)(uintptr_t)reg ^ uv_hrtime();
  size_t jl = strlen(json);
  if (jl > INT32_MAX || rc_eph_init(&reg->eph, c, dir, "i-", json, (int32_t)jl,
                                    &seed) != ROOST_OK) {
    free(reg);
    return ROOST_ENOMEM;
  }
  reg->eph.destroy = reg_destroy;
  reg->eph.on_created = reg_created;
  reg->cb = cb;
  reg->arg = arg;
  int rc = rc_client_call(c, reg_start, reg);
  if (rc != ROOST_OK) {
    rc_eph_free_fields(&reg->eph);
    free(reg);
    return rc;
  }
  *out = reg;
  return ROOST_OK;
}

int roost_service_reg_path(roost_service_reg *reg, char *buf, size_t buf_size) {
  if (reg == NULL || buf == NULL)
    return ROOST_EINVAL;
  int rc;
  uv_mutex_lock(&reg->eph.mu);
  if (reg->eph.path == NULL)
    rc = ROOST_ESTATE;
  else if (strlen(reg->eph.path) >= buf_size)
    rc = ROOST_EINVAL;
  else {
    memcpy(buf, reg->eph.path, strlen(reg->eph.path) + 1);
    rc = ROOST_OK;
  }
  uv_mutex_unlock(&reg->eph.mu);
  return rc;
}

struct unreg_ctx {
  struct rc_eph *e;
  char *path; /* the node to delete, taken from e */
};

static void eph_stop_fn(roost_client *c, void *arg) {
  (void)c;
  struct unreg_ctx *u = arg;
  struct rc_eph *e = u->e;
  e->want = false;
  uv_mutex_lock(&e->mu);
  u->path = e->path;
  e->path = NULL;
  uv_mutex_unlock(&e->mu);
  rc_eph_detach(e);
}

int roost_service_unregister(roost_service_reg *reg) {
  if (reg == NULL)
    return ROOST_EINVAL;
  roost_client *c = reg->eph.c;
  struct unreg_ctx u = {&reg->eph, NULL};
  int rc = rc_client_call_wait(c, eph_stop_fn, &u);
  if (rc != ROOST_OK)
    return rc;
  if (u.path) {
    /* The node goes now rather than at session end, so discoverers stop
     * sending traffic at once. */
    int drc = roost_delete(c, u.path, -1);
    (void)drc; /* gone already or connection lost: the session ends it */
    free(u.path);
  }
  return ROOST_OK;
}

/* ------------------------------------------------------------------ */
/* Service watch
 *
 * Against 3.6+ servers one persistent recursive watch on the directory
 * says when to re-read: membership (CREATED/DELETED of a child) and
 * payloads (DATA_CHANGED of a child: its health).  A refresh lists the
 * children and reads only the payloads that are new or changed.  Servers
 * without addWatch get the older scheme: a re-armed child watch (plus an
 * exists watch while the directory is missing). */

enum { SW_MODE_UNKNOWN = 0, SW_MODE_RECURSIVE, SW_MODE_CHILD };

struct roost_service_watch {
  struct rc_hook hook; /* first */
  roost_client *c;
  char *dir;
  roost_service_watch_cb cb;
  void *arg;
  uv_mutex_t mu; /* guards v, n, stale, loaded, rr, rng */
  roost_instance *v;
  size_t n;
  bool stale;
  bool loaded;
  uint64_t rr;
  uint64_t rng;
  /* loop thread */
  int refs;
  bool detached;
  bool connected;
  bool refreshing;
  bool again;
  int mode;
  bool rec_armed;   /* the recursive watch is registered (or being added) */
  bool child_armed; /* a child watch is registered */
  bool exist_armed; /* an exists watch on dir is registered */
  bool arming;      /* the getChildren in flight sets the child watch */
  bool reload_all;  /* the next refresh re-reads every payload */
  char **dirty;     /* children whose payload changed since the last list */
  size_t n_dirty;
  /* refresh in progress */
  roost_instance *nv;
  size_t nn;
  size_t waiting;
};

static void sw_refresh(roost_service_watch *w);

static void inst_free(roost_instance *v, size_t n) {
  for (size_t i = 0; v && i < n; i++)
    roost_instance_clear(&v[i]);
  free(v);
}

static void dirty_clear(roost_service_watch *w) {
  for (size_t i = 0; i < w->n_dirty; i++)
    free(w->dirty[i]);
  free(w->dirty);
  w->dirty = NULL;
  w->n_dirty = 0;
}

static void dirty_add(roost_service_watch *w, const char *name) {
  for (size_t i = 0; i < w->n_dirty; i++)
    if (strcmp(w->dirty[i], name) == 0)
      return;
  char **nv = realloc(w->dirty, (w->n_dirty + 1) * sizeof *nv);
  char *s = rc_strndup(name, strlen(name));
  if (nv == NULL || s == NULL) {
    free(s);
    if (nv)
      w->dirty = nv;
    w->reload_all = true; /* cannot remember which: re-read them all */
    return;
  }
  w->dirty = nv;
  w->dirty[w->n_dirty++] = s;
}

static void sw_unref(roost_service_watch *w) {
  if (--w->refs > 0)
    return;
  inst_free(w->v, w->n);
  inst_free(w->nv, w->nn);
  dirty_clear(w);
  free(w->dir);
  uv_mutex_destroy(&w->mu);
  free(w);
}

static void sw_notify(roost_service_watch *w) {
  if (!w->detached && w->cb)
    w->cb(w, w->arg);
}

static int inst_cmp(const void *a, const void *b) {
  return strcmp(((const roost_instance *)a)->name,
                ((const roost_instance *)b)->name);
}

static void sw_finish(roost_service_watch *w) {
  /* Drop entries whose data read failed (gone meanwhile). */
  size_t j = 0;
  for (size_t i = 0; i < w->nn; i++) {
    if (w->nv[i].data == NULL) {
      roost_instance_clear(&w->nv[i]);
      continue;
    }
    w->nv[j++] = w->nv[i];
  }
  w->nn = j;
  if (w->nn > 1)
    qsort(w->nv, w->nn, sizeof *w->nv, inst_cmp);
  uv_mutex_lock(&w->mu);
  roost_instance *old = w->v;
  size_t old_n = w->n;
  w->v = w->nv;
  w->n = w->nn;
  w->loaded = true;
  w->stale = !w->connected;
  uv_mutex_unlock(&w->mu);
  inst_free(old, old_n);
  w->nv = NULL;
  w->nn = 0;
  w->refreshing = false;
  sw_notify(w);
  if (w->again && !w->detached) {
    w->again = false;
    sw_refresh(w);
  }
}

struct sw_get {
  roost_service_watch *w;
  size_t index;
};

static void sw_get_done(roost_client *c, const roost_result *res, void *arg) {
  (void)c;
  struct sw_get *g = arg;
  roost_service_watch *w = g->w;
  if (res->err == ROOST_OK && g->index < w->nn) {
    roost_instance *in = &w->nv[g->index];
    size_t len = res->data_len > 0 ? (size_t)res->data_len : 0;
    in->data = rc_strndup(res->data ? res->data : "", len);
    in->data_len = (int32_t)len;
    if (in->data)
      (void)rc_instance_parse(in, in->data, len); /* OOM: fields empty */
  }
  free(g);
  if (--w->waiting == 0)
    sw_finish(w);
  sw_unref(w);
}

static void sw_child_watch(roost_client *c, int type, const char *path,
                           void *arg);
static void sw_exist_watch(roost_client *c, int type, const char *path,
                           void *arg);

static void sw_exists_done(roost_client *c, const roost_result *res,
                           void *arg) {
  (void)c;
  roost_service_watch *w = arg;
  if (res->err != ROOST_OK && res->err != ROOST_NONODE) {
    w->exist_armed = false;
    sw_unref(w); /* watcher */
  }
  if (res->err == ROOST_OK && !w->detached)
    sw_refresh(w); /* created between our two reads */
  sw_unref(w);
}

static bool name_in(char **v, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i], name) == 0)
      return true;
  return false;
}

/* Fills w->nv from the children names, reusing cached payloads that did
 * not change and reading the others. */
static void sw_load(roost_service_watch *w, roost_client *c,
                    const roost_result *res) {
  bool reload = w->reload_all;
  char **dirty = w->dirty;
  size_t n_dirty = w->n_dirty;
  w->reload_all = false;
  w->dirty = NULL;
  w->n_dirty = 0;
  w->nv = calloc(res->n_children ? (size_t)res->n_children : 1, sizeof *w->nv);
  w->nn = 0;
  w->waiting = 1; /* held until every get was issued */
  uv_mutex_lock(&w->mu);
  for (int32_t i = 0; w->nv && i < res->n_children; i++) {
    roost_instance *in = &w->nv[w->nn];
    in->name = rc_strndup(res->children[i], strlen(res->children[i]));
    if (in->name == NULL)
      continue;
    w->nn++;
    bool cached = false;
    if (!reload && !name_in(dirty, n_dirty, in->name))
      for (size_t j = 0; j < w->n; j++)
        if (strcmp(w->v[j].name, in->name) == 0) {
          in->data = rc_strndup(w->v[j].data, (size_t)w->v[j].data_len);
          in->data_len = w->v[j].data_len;
          cached = in->data != NULL &&
                   rc_instance_copy_parsed(in, &w->v[j]) == ROOST_OK;
          break;
        }
    if (cached)
      continue;
    free(in->data);
    in->data = NULL;
    size_t pl = strlen(w->dir) + strlen(in->name) + 2;
    char *p = malloc(pl);
    struct sw_get *g = malloc(sizeof *g);
    if (p == NULL || g == NULL) {
      free(p);
      free(g);
      continue;
    }
    snprintf(p, pl, "%s/%s", w->dir, in->name);
    g->w = w;
    g->index = w->nn - 1;
    w->refs++;
    w->waiting++;
    if (roost_get_async(c, p, NULL, NULL, sw_get_done, g) != ROOST_OK) {
      w->refs--;
      w->waiting--;
      free(g);
    }
    free(p);
  }
  uv_mutex_unlock(&w->mu);
  for (size_t i = 0; i < n_dirty; i++)
    free(dirty[i]);
  free(dirty);
  if (--w->waiting == 0)
    sw_finish(w);
}

static void sw_children_done(roost_client *c, const roost_result *res,
                             void *arg) {
  roost_service_watch *w = arg;
  bool set_watch = w->arming;
  w->arming = false;
  if (set_watch && res->err != ROOST_OK) {
    w->child_armed = false;
    sw_unref(w);
  }
  if (res->err == ROOST_NONODE) {
    /* No such service yet: empty list, wait for the directory (the
     * recursive watch sees its creation by itself). */
    if (w->mode == SW_MODE_CHILD && !w->exist_armed && !w->detached) {
      w->exist_armed = true;
      w->refs += 2;
      if (roost_exists_async(c, w->dir, sw_exist_watch, w, sw_exists_done, w) !=
          ROOST_OK) {
        w->exist_armed = false;
        w->refs -= 2;
      }
    }
    w->nn = 0;
    sw_finish(w);
  } else if (res->err != ROOST_OK) {
    w->refreshing = false; /* retried on the next CONNECTED */
    w->reload_all = true;
    if (res->err != ROOST_CONNECTIONLOSS && !w->detached)
      sw_notify(w);
  } else {
    sw_load(w, c, res);
  }
  sw_unref(w);
}

static void sw_refresh(roost_service_watch *w) {
  if (w->detached)
    return;
  if (w->refreshing) {
    w->again = true;
    return;
  }
  w->refreshing = true;
  bool arm = w->mode == SW_MODE_CHILD && !w->child_armed;
  w->refs++;
  if (arm) {
    w->child_armed = true;
    w->refs++;
  }
  w->arming = arm;
  if (roost_get_children_async(w->c, w->dir, arm ? sw_child_watch : NULL, w,
                               sw_children_done, w) != ROOST_OK) {
    w->arming = false;
    w->refreshing = false;
    w->refs--;
    if (arm) {
      w->child_armed = false;
      w->refs--;
    }
  }
}

static void sw_child_watch(roost_client *c, int type, const char *path,
                           void *arg) {
  (void)c;
  (void)path;
  roost_service_watch *w = arg;
  w->child_armed = false;
  if (type != ROOST_EVENT_NOT_WATCHING)
    sw_refresh(w);
  sw_unref(w);
}

static void sw_exist_watch(roost_client *c, int type, const char *path,
                           void *arg) {
  (void)c;
  (void)path;
  roost_service_watch *w = arg;
  w->exist_armed = false;
  if (type != ROOST_EVENT_NOT_WATCHING)
    sw_refresh(w);
  sw_unref(w);
}

/* The recursive watch: every change under the directory, in order. */
static void sw_rec_watch(roost_client *c, int type, const char *path,
                         void *arg) {
  (void)c;
  roost_service_watch *w = arg;
  if (type == ROOST_EVENT_NOT_WATCHING ||
      type == ROOST_EVENT_PERSISTENT_WATCH_REMOVED) {
    w->rec_armed = false;
    sw_unref(w);
    return;
  }
  if (w->detached)
    return;
  size_t dl = strlen(w->dir);
  if (strncmp(path, w->dir, dl) != 0)
    return;
  const char *name = path[dl] == '/' ? path + dl + 1 : NULL;
  if (path[dl] != '\0' && (name == NULL || strchr(name, '/') != NULL))
    return; /* deeper than an instance node: not ours */
  if (name && type == ROOST_EVENT_DATA_CHANGED)
    dirty_add(w, name);
  sw_refresh(w);
}

static void sw_addwatch_done(roost_client *c, const roost_result *res,
                             void *arg) {
  (void)c;
  roost_service_watch *w = arg;
  if (res->err != ROOST_OK) {
    w->rec_armed = false;
    sw_unref(w); /* the watcher will never run */
  }
  if (res->err == ROOST_UNIMPLEMENTED) {
    w->mode = SW_MODE_CHILD; /* a server before 3.6 */
    sw_refresh(w);
  } else if (res->err == ROOST_OK) {
    w->mode = SW_MODE_RECURSIVE;
    sw_refresh(w);
  }
  /* Other errors (connection loss): the next CONNECTED tries again. */
  sw_unref(w);
}

static void sw_connected(roost_service_watch *w) {
  /* Changes made while we had no connection fired nothing: re-read every
   * payload, not only the list. */
  w->reload_all = true;
  if (w->mode == SW_MODE_CHILD || w->rec_armed || w->detached) {
    sw_refresh(w);
    return;
  }
  w->rec_armed = true;
  w->refs += 2; /* the watcher and the operation */
  if (roost_add_watch_async(w->c, w->dir, ROOST_WATCH_PERSISTENT_RECURSIVE,
                            sw_rec_watch, w, sw_addwatch_done, w) != ROOST_OK) {
    w->rec_armed = false;
    w->refs -= 2;
    sw_refresh(w);
  }
}

static void sw_hook_session(struct rc_hook *h, int event) {
  roost_service_watch *w = (roost_service_watch *)h;
  if (event == ROOST_SESSION_DISCONNECTED || event == ROOST_SESSION_EXPIRED ||
      event == ROOST_SESSION_AUTH_FAILED) {
    w->connected = false;
    uv_mutex_lock(&w->mu);
    bool was = w->stale;
    w->stale = true;
    uv_mutex_unlock(&w->mu);
    if (!was)
      sw_notify(w);
  } else if (event == ROOST_SESSION_CONNECTED ||
             event == ROOST_SESSION_CONNECTED_READ_ONLY) {
    w->connected = true;
    sw_connected(w);
  }
}

static void sw_hook_close(struct rc_hook *h) {
  roost_service_watch *w = (roost_service_watch *)h;
  if (!w->detached) {
    w->detached = true;
    sw_unref(w);
  }
}

static void sw_start(roost_client *c, void *arg) {
  roost_service_watch *w = arg;
  rc_client_hook_add(c, &w->hook);
  w->connected = rc_client_core(c)->state == RC_ST_CONNECTED;
  if (w->connected)
    sw_connected(w);
}

int roost_service_watch_new(roost_client *c, const char *name,
                            roost_service_watch_cb cb, void *arg,
                            roost_service_watch **out) {
  if (c == NULL || out == NULL || !name_ok(name))
    return ROOST_EINVAL;
  *out = NULL;
  roost_service_watch *w = calloc(1, sizeof *w);
  if (w == NULL)
    return ROOST_ENOMEM;
  char dir[300];
  snprintf(dir, sizeof dir, RC_SERVICES_ROOT "/%s", name);
  w->dir = rc_strndup(dir, strlen(dir));
  if (w->dir == NULL || uv_mutex_init(&w->mu) != 0) {
    free(w->dir);
    free(w);
    return ROOST_ENOMEM;
  }
  w->c = c;
  w->cb = cb;
  w->arg = arg;
  w->refs = 1;
  w->stale = true;
  w->rng = (uint64_t)(uintptr_t)w ^ uv_hrtime();
  w->hook.on_session = sw_hook_session;
  w->hook.on_close = sw_hook_close;
  int rc = rc_client_call(c, sw_start, w);
  if (rc != ROOST_OK) {
    free(w->dir);
    uv_mutex_destroy(&w->mu);
    free(w);
    return rc;
  }
  *out = w;
  return ROOST_OK;
}

static void sw_stop(roost_client *c, void *arg) {
  roost_service_watch *w = arg;
  rc_client_hook_remove(c, &w->hook);
  if (w->rec_armed) {
    /* Its PERSISTENT_WATCH_REMOVED call drops the watcher's reference;
     * without a connection only our table forgets it (the server's copy
     * goes with the session or is dropped as unknown). */
    bool local = rc_client_core(c)->state != RC_ST_CONNECTED;
    (void)roost_remove_watches_async(c, w->dir,
                                     ROOST_WATCHER_PERSISTENT_RECURSIVE,
                                     sw_rec_watch, w, local, NULL, NULL);
  }
  if (!w->detached) {
    w->detached = true;
    sw_unref(w);
  }
}

int roost_service_watch_free(roost_service_watch *w) {
  if (w == NULL)
    return ROOST_EINVAL;
  return rc_client_call_wait(w->c, sw_stop, w);
}

static int inst_copy(roost_instance *d, const roost_instance *s) {
  memset(d, 0, sizeof *d);
  d->name = rc_strndup(s->name, strlen(s->name));
  d->data = rc_strndup(s->data, (size_t)s->data_len);
  d->data_len = s->data_len;
  if (d->name == NULL || d->data == NULL ||
      rc_instance_copy_parsed(d, s) != ROOST_OK) {
    roost_instance_clear(d);
    return ROOST_ENOMEM;
  }
  return ROOST_OK;
}

void roost_instance_clear(roost_instance *inst) {
  if (inst == NULL)
    return;
  free(inst->name);
  free(inst->data);
  rc_instance_clear_parsed(inst);
  memset(inst, 0, sizeof *inst);
}

void roost_instances_free(roost_instance *v, size_t n) { inst_free(v, n); }

int roost_instance_parse(const char *data, size_t len, roost_instance *out) {
  return rc_instance_parse(out, data, len);
}

const char *roost_health_name(int status) {
  switch (status) {
  case ROOST_HEALTH_PASSING:
    return "passing";
  case ROOST_HEALTH_WARNING:
    return "warning";
  default:
    return "critical";
  }
}

static bool eligible(const roost_instance *in, int flags) {
  return (flags & ROOST_INCLUDE_CRITICAL) ||
         in->status != ROOST_HEALTH_CRITICAL;
}

int roost_service_list(roost_service_watch *w, int flags, roost_instance **out,
                       size_t *n, bool *stale) {
  if (w == NULL || out == NULL || n == NULL ||
      (flags & ~ROOST_INCLUDE_CRITICAL))
    return ROOST_EINVAL;
  *out = NULL;
  *n = 0;
  int rc = ROOST_OK;
  uv_mutex_lock(&w->mu);
  if (stale)
    *stale = w->stale || !w->loaded;
  roost_instance *v = calloc(w->n ? w->n : 1, sizeof *v);
  size_t count = 0;
  if (v == NULL)
    rc = ROOST_ENOMEM;
  for (size_t i = 0; v && i < w->n; i++) {
    if (!eligible(&w->v[i], flags))
      continue;
    if ((rc = inst_copy(&v[count], &w->v[i])) != ROOST_OK)
      break;
    count++;
  }
  uv_mutex_unlock(&w->mu);
  if (rc != ROOST_OK) {
    roost_instances_free(v, count);
    return rc;
  }
  *out = v;
  *n = count;
  return ROOST_OK;
}

int roost_service_instances(roost_service_watch *w, roost_instance **out,
                            size_t *n, bool *stale) {
  return roost_service_list(w, 0, out, n, stale);
}

int roost_service_pick(roost_service_watch *w, int policy,
                       roost_instance *out) {
  int flags = policy & ROOST_INCLUDE_CRITICAL;
  policy &= ~ROOST_INCLUDE_CRITICAL;
  if (w == NULL || out == NULL || policy < ROOST_PICK_ROUND_ROBIN ||
      policy > ROOST_PICK_WEIGHTED)
    return ROOST_EINVAL;
  memset(out, 0, sizeof *out);
  uv_mutex_lock(&w->mu);
  size_t *idx = malloc((w->n ? w->n : 1) * sizeof *idx);
  size_t m = 0;
  double total = 0;
  for (size_t i = 0; idx && i < w->n; i++)
    if (eligible(&w->v[i], flags)) {
      idx[m++] = i;
      total += w->v[i].weight;
    }
  if (idx == NULL || m == 0) {
    uv_mutex_unlock(&w->mu);
    free(idx);
    return idx == NULL ? ROOST_ENOMEM : ROOST_NONODE;
  }
  size_t k = 0;
  if (policy == ROOST_PICK_ROUND_ROBIN) {
    k = (size_t)(w->rr++ % m);
  } else {
    /* 53 random bits -> [0, 1) */
    double u = (double)(rc_rand(&w->rng) >> 11) / 9007199254740992.0;
    if (policy == ROOST_PICK_RANDOM || total <= 0) {
      k = (size_t)(u * (double)m);
    } else {
      double x = u * total;
      for (k = 0; k + 1 < m; k++) {
        if (x < w->v[idx[k]].weight)
          break;
        x -= w->v[idx[k]].weight;
      }
      while (k > 0 && w->v[idx[k]].weight <= 0) /* rounding at the end */
        k--;
    }
    if (k >= m)
      k = m - 1;
  }
  int rc = inst_copy(out, &w->v[idx[k]]);
  uv_mutex_unlock(&w->mu);
  free(idx);
  return rc;
}
