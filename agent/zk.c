/* zk.c — the instances' nodes through libroost.
 *
 * libroost runs its own I/O thread (mode a).  Its callbacks only queue an
 * agent_event under a->mu and uv_async_send; agent_zk_drain, on the
 * agent's loop, applies them.  A registration is named in events by its
 * reg_id (never by pointer): an event for an instance removed meanwhile
 * finds no match and is dropped.
 *
 * roost_service_register re-creates the node with the JSON it was given
 * (after a new session or a deletion); the instance's status may have
 * moved since, so on every (re)creation event the current JSON is written
 * over it unless the node already holds it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_int.h"

struct agent_regctx {
  struct agent_regctx *next; /* a->orphans */
  agent *a;
  uint64_t id;
};

static void push(agent *a, struct agent_event *e) {
  uv_mutex_lock(&a->mu);
  if (a->ev_t)
    a->ev_t->next = e;
  else
    a->ev_h = e;
  a->ev_t = e;
  uv_mutex_unlock(&a->mu);
  uv_async_send(&a->async);
}

/* libroost thread */
static void on_reg(roost_service_reg *reg, int err, const char *path,
                   void *arg) {
  (void)reg;
  struct agent_regctx *ctx = arg;
  struct agent_event *e = calloc(1, sizeof *e);
  if (e == NULL)
    return;
  e->kind = 0;
  e->reg_id = ctx->id;
  e->err = err;
  e->path = path ? strdup(path) : NULL;
  push(ctx->a, e);
}

/* libroost thread */
static void on_session(roost_client *c, int event, void *arg) {
  (void)c;
  agent *a = arg;
  struct agent_event *e = calloc(1, sizeof *e);
  if (e == NULL)
    return;
  e->kind = 1;
  e->session_event = event;
  push(a, e);
}

static struct agent_inst *find_reg(agent *a, uint64_t id) {
  for (struct agent_inst *in = a->insts; in; in = in->next)
    if (in->reg && in->reg_id == id)
      return in;
  return NULL;
}

static void set_synced(struct agent_inst *in, const char *path) {
  free(in->synced_path);
  in->synced_path = path ? strdup(path) : NULL;
}

static void write_json(struct agent_inst *in, const char *path) {
  size_t n = strlen(in->json);
  int rc =
      roost_set_async(in->a->zk, path, in->json, (int32_t)n, -1, NULL, NULL);
  if (rc == ROOST_OK)
    set_synced(in, path);
  else
    agent_log("%s: cannot write %s: %s", in->def.id, path, roost_strerror(rc));
}

static void apply(agent *a, struct agent_event *e) {
  if (e->kind == 1) {
    const char *what = "?";
    switch (e->session_event) {
    case ROOST_SESSION_CONNECTED:
      what = "connected";
      break;
    case ROOST_SESSION_DISCONNECTED:
      what = "disconnected, reconnecting";
      break;
    case ROOST_SESSION_EXPIRED:
      what = "expired; a new session re-registers the instances";
      break;
    case ROOST_SESSION_CLOSED:
      what = "closed";
      break;
    default:
      break;
    }
    agent_log("session 0x%llx %s",
              (unsigned long long)roost_client_session_id(a->zk), what);
    return;
  }
  struct agent_inst *in = find_reg(a, e->reg_id);
  if (in == NULL)
    return;
  if (e->err != ROOST_OK) {
    agent_log("%s: registration failed: %s (retried on reconnect)", in->def.id,
              roost_strerror(e->err));
    return;
  }
  agent_log("%s: registered %s", in->def.id, e->path);
  if (strcmp(in->reg_json, in->json) == 0)
    set_synced(in, e->path);
  else if (in->synced_path == NULL || strcmp(in->synced_path, e->path) != 0)
    write_json(in, e->path);
}

void agent_zk_drain(agent *a) {
  uv_mutex_lock(&a->mu);
  struct agent_event *e = a->ev_h;
  a->ev_h = a->ev_t = NULL;
  uv_mutex_unlock(&a->mu);
  while (e) {
    struct agent_event *next = e->next;
    if (!a->stopped)
      apply(a, e);
    free(e->path);
    free(e);
    e = next;
  }
}

static void on_async(uv_async_t *h) { agent_zk_drain(h->data); }

int agent_zk_start(agent *a, char *err, size_t err_size) {
  if (uv_async_init(a->loop, &a->async, on_async) != 0) {
    snprintf(err, err_size, "uv_async_init failed");
    return AGENT_ESYS;
  }
  a->async.data = a;
  a->async_open = true;
  roost_options o;
  roost_options_init(&o);
  if (a->cfg.session_timeout_ms > 0)
    o.session_timeout_ms = a->cfg.session_timeout_ms;
  o.session_cb = on_session;
  o.session_arg = a;
  /* Instances must come back after an expiry without a restart. */
  o.renew_session_on_expiry = true;
  int rc = roost_client_new(a->cfg.hosts, &o, &a->zk);
  if (rc != ROOST_OK) {
    snprintf(err, err_size, "-s %s: %s", a->cfg.hosts, roost_strerror(rc));
    a->zk = NULL;
    return rc == ROOST_ECONNSTR ? AGENT_EINVAL : AGENT_ESYS;
  }
  return AGENT_OK;
}

void agent_zk_register(struct agent_inst *in) {
  agent *a = in->a;
  if (a->zk == NULL || in->reg != NULL)
    return;
  struct agent_regctx *ctx = calloc(1, sizeof *ctx);
  char *rj = strdup(in->json);
  if (ctx == NULL || rj == NULL) {
    free(ctx);
    free(rj);
    agent_log("%s: out of memory", in->def.id);
    return;
  }
  ctx->a = a;
  ctx->id = ++a->next_reg_id;
  int rc = roost_service_register(a->zk, in->def.name, in->json, on_reg, ctx,
                                  &in->reg);
  if (rc != ROOST_OK) {
    agent_log("%s: cannot register: %s", in->def.id, roost_strerror(rc));
    in->reg = NULL;
    free(ctx);
    free(rj);
    return;
  }
  in->ctx = ctx;
  in->reg_id = ctx->id;
  free(in->reg_json);
  in->reg_json = rj;
  set_synced(in, NULL);
}

struct unreg_job {
  uv_work_t req;
  agent *a;
  roost_service_reg *reg;
  struct agent_regctx *ctx;
};

/* thread pool: blocks until the delete is answered */
static void unreg_work(uv_work_t *req) {
  struct unreg_job *j = req->data;
  int rc = roost_service_unregister(j->reg);
  if (rc != ROOST_OK)
    agent_log("unregister: %s", roost_strerror(rc));
}

static void unreg_after(uv_work_t *req, int status) {
  (void)status;
  struct unreg_job *j = req->data;
  agent *a = j->a;
  free(j->ctx); /* no callback can name it any more */
  free(j);
  agent_job_done(a);
}

void agent_zk_unregister(struct agent_inst *in) {
  agent *a = in->a;
  if (in->reg == NULL)
    return;
  struct unreg_job *j = calloc(1, sizeof *j);
  if (j == NULL) {
    agent_zk_forget(in);
    return;
  }
  j->a = a;
  j->reg = in->reg;
  j->ctx = in->ctx;
  j->req.data = j;
  in->reg = NULL;
  in->ctx = NULL;
  set_synced(in, NULL);
  a->jobs++;
  if (uv_queue_work(a->loop, &j->req, unreg_work, unreg_after) != 0) {
    a->jobs--;
    j->ctx->next = a->orphans;
    a->orphans = j->ctx;
    free(j);
  }
}

void agent_zk_forget(struct agent_inst *in) {
  if (in->ctx) {
    in->ctx->next = in->a->orphans;
    in->a->orphans = in->ctx;
  }
  in->ctx = NULL;
  in->reg = NULL;
}

void agent_zk_publish(struct agent_inst *in) {
  if (in->reg == NULL)
    return; /* registered later with the current JSON */
  if (in->synced_path)
    set_synced(in, NULL);
  char path[512];
  int rc = roost_service_reg_path(in->reg, path, sizeof path);
  if (rc == ROOST_OK)
    write_json(in, path);
  /* else not created right now: the creation event writes it */
}

static void on_async_closed(uv_handle_t *h) {
  agent *a = h->data;
  agent_zk_drain(a); /* frees what came in meanwhile */
}

void agent_zk_close(agent *a) {
  if (a->zk) {
    /* Blocking (up to 2 s for closeSession's reply): the agent is
     * stopping, nothing else runs.  Ephemeral nodes go with the
     * session. */
    roost_client_close(a->zk);
    a->zk = NULL;
  }
  while (a->orphans) {
    struct agent_regctx *c = a->orphans;
    a->orphans = c->next;
    free(c);
  }
  if (a->async_open) {
    a->async_open = false;
    uv_close((uv_handle_t *)&a->async, on_async_closed);
  }
}
