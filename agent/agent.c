/* agent.c — instances and their checks on one libuv loop.
 *
 * A check runs when its timer fires, or waits in a FIFO when
 * max_concurrent runs are in flight.  A raw result goes through the
 * thresholds (success_before_passing, failures_before_warning/critical);
 * only a change of a check's status rebuilds the instance JSON and writes
 * it (zk.c), so a steady instance costs no writes.  The reaper timer
 * applies deregister_critical_service_after both ways (remove the node
 * after the time in critical, register it again when the check leaves
 * critical).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent_int.h"

#define REAPER_MS 250

void agent_log(const char *fmt, ...) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%02d:%02d:%02d.%03ld roost-agent: %s\n", tm.tm_hour,
          tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, buf);
}

uint64_t agent_now_ms(agent *a) { return uv_now(a->loop); }

char *agent_truncate(const char *s, size_t len, size_t max) {
  char tail[80] = "";
  size_t keep = len;
  if (len > max) {
    keep = max;
    snprintf(tail, sizeof tail, " ... (output truncated: %zu of %zu bytes)",
             max, len);
  }
  char *o = malloc(keep + strlen(tail) + 1);
  if (o == NULL)
    return NULL;
  memcpy(o, s, keep);
  memcpy(o + keep, tail, strlen(tail) + 1);
  /* A NUL inside would cut the JSON string short: make it visible. */
  for (size_t i = 0; i < keep; i++)
    if (o[i] == '\0')
      o[i] = ' ';
  return o;
}

/* ------------------------------------------------------------------ */
/* Scheduling */

static void check_start(struct agent_check *c);

static void run_finish(struct agent_run *r, int status, const char *output);

static void on_check_timer(uv_timer_t *t);

static void check_schedule(struct agent_check *c, uint64_t ms) {
  if (c->inst->removing || c->inst->a->stopping)
    return;
  uv_timer_start(&c->timer, on_check_timer, ms, 0);
}

static void queue_next(agent *a) {
  while (a->q_h && a->inflight < a->cfg.max_concurrent) {
    struct agent_check *c = a->q_h;
    a->q_h = c->qnext;
    if (a->q_h == NULL)
      a->q_t = NULL;
    c->qnext = NULL;
    c->queued = false;
    check_start(c);
  }
}

static void dequeue(agent *a, struct agent_check *c) {
  if (!c->queued)
    return;
  struct agent_check **pp = &a->q_h, *prev = NULL;
  while (*pp && *pp != c) {
    prev = *pp;
    pp = &(*pp)->qnext;
  }
  if (*pp) {
    *pp = c->qnext;
    if (a->q_t == c)
      a->q_t = prev;
  }
  c->qnext = NULL;
  c->queued = false;
}

static void check_start(struct agent_check *c) {
  agent *a = c->inst->a;
  if (c->run)
    return; /* still running: the next run follows this one */
  if (a->inflight >= a->cfg.max_concurrent) {
    if (!c->queued) {
      c->queued = true;
      if (a->q_t)
        a->q_t->qnext = c;
      else
        a->q_h = c;
      a->q_t = c;
    }
    return;
  }
  int rc;
  struct agent_run *r = NULL;
  switch (c->def->kind) {
  case AGENT_CHECK_HTTP:
  case AGENT_CHECK_GRPC:
    rc = agent_curl_start(c, &r);
    break;
  case AGENT_CHECK_TCP:
    rc = agent_tcp_start(c, &r);
    break;
  case AGENT_CHECK_ARGS:
    rc = agent_script_start(c, &r);
    break;
  default:
    return;
  }
  if (rc != 0 || r == NULL) {
    struct agent_run tmp = {c, a, NULL};
    a->inflight++;
    /* agent_run_done clears c->run before it returns. */
    // cppcheck-suppress autoVariables
    c->run = &tmp;
    /* Not agent_run_done: no slot was freed, so the queue need not be
     * drained, and draining from here would recurse into check_start. */
    run_finish(&tmp, AGENT_CRITICAL, "the check could not be started");
    return;
  }
  a->inflight++;
  c->run = r;
}

static void on_check_timer(uv_timer_t *t) {
  struct agent_check *c = t->data;
  if (c->def->kind == AGENT_CHECK_TTL) {
    struct agent_run tmp = {c, c->inst->a, NULL};
    c->inst->a->inflight++;
    c->run = &tmp;
    run_finish(&tmp, AGENT_CRITICAL, "TTL expired");
    return;
  }
  check_start(c);
}

/* ------------------------------------------------------------------ */
/* Results, thresholds, publication */

static bool should_be_registered(struct agent_inst *in, uint64_t now) {
  for (size_t i = 0; i < in->def.n_checks; i++) {
    struct agent_check *c = &in->checks[i];
    if (c->def->deregister_after_ms > 0 && c->status == AGENT_CRITICAL &&
        c->critical_since_ms &&
        now - c->critical_since_ms >= (uint64_t)c->def->deregister_after_ms)
      return false;
  }
  return true;
}

static void reconcile(struct agent_inst *in) {
  if (in->removing || in->a->stopping)
    return;
  bool want = should_be_registered(in, agent_now_ms(in->a));
  if (want && in->reg == NULL) {
    agent_log("%s: registering again (out of critical)", in->def.id);
    agent_zk_register(in);
  } else if (!want && in->reg != NULL) {
    agent_log("%s: critical for deregister_critical_service_after: "
              "removing its node",
              in->def.id);
    agent_zk_unregister(in);
  }
}

static void inst_publish(struct agent_inst *in) {
  struct agent_check_state *st =
      calloc(in->def.n_checks ? in->def.n_checks : 1, sizeof *st);
  if (st == NULL)
    return;
  for (size_t i = 0; i < in->def.n_checks; i++) {
    st[i].status = in->checks[i].status;
    st[i].output = in->checks[i].output;
  }
  char *json = agent_instance_json(&in->def, in->a->cfg.address, st);
  free(st);
  if (json == NULL)
    return;
  free(in->json);
  in->json = json;
  agent_zk_publish(in);
}

static void check_set_status(struct agent_check *c, int status,
                             const char *output) {
  char *o = strdup(output ? output : "");
  if (o) {
    free(c->output);
    c->output = o;
  }
  bool first = !c->ran;
  c->ran = true;
  if (status == c->status) {
    /* The first result is published even without a change: until then
     * the node shows the initial status without any output. */
    if (first)
      inst_publish(c->inst);
    return;
  }
  agent *a = c->inst->a;
  agent_log("%s: check %s: %s -> %s", c->inst->def.id, c->def->id,
            agent_status_name(c->status), agent_status_name(status));
  c->status = status;
  c->critical_since_ms = status == AGENT_CRITICAL ? agent_now_ms(a) : 0;
  inst_publish(c->inst);
  reconcile(c->inst);
}

/* Consul's counters: a run of successes resets the failures and vice
 * versa; the status moves only when a counter reaches its threshold. */
static void check_result(struct agent_check *c, int status,
                         const char *output) {
  const struct agent_check_def *d = c->def;
  if (d->kind == AGENT_CHECK_TTL) {
    check_set_status(c, status, output);
    return;
  }
  if (status == AGENT_PASSING) {
    c->failures = 0;
    if (c->successes < INT32_MAX)
      c->successes++;
    if (c->successes >= d->success_before_passing)
      check_set_status(c, AGENT_PASSING, output);
    else
      check_set_status(c, c->status, output);
  } else {
    c->successes = 0;
    if (c->failures < INT32_MAX)
      c->failures++;
    if (status == AGENT_CRITICAL && c->failures >= d->failures_before_critical)
      check_set_status(c, AGENT_CRITICAL, output);
    else if (c->failures >= d->failures_before_warning)
      check_set_status(c, AGENT_WARNING, output);
    else
      check_set_status(c, c->status, output);
  }
}

/* Records a finished run; frees its concurrency slot but starts nothing. */
static void run_finish(struct agent_run *r, int status, const char *output) {
  agent *a = r->a;
  struct agent_check *c = r->check;
  a->inflight--;
  if (c != NULL) {
    c->run = NULL;
    r->check = NULL;
    check_result(c, status, output);
    if (c->def->kind == AGENT_CHECK_TTL)
      check_schedule(c, (uint64_t)c->def->ttl_ms);
    else
      check_schedule(c, (uint64_t)c->def->interval_ms);
  }
}

void agent_run_done(struct agent_run *r, int status, const char *output) {
  agent *a = r->a;
  run_finish(r, status, output);
  queue_next(a);
}

int agent_ttl_set(agent *a, const char *check_id, int status, const char *note,
                  char *err, size_t err_size) {
  for (struct agent_inst *in = a->insts; in; in = in->next) {
    if (in->removing)
      continue;
    for (size_t i = 0; i < in->def.n_checks; i++) {
      struct agent_check *c = &in->checks[i];
      if (strcmp(c->def->id, check_id) != 0)
        continue;
      if (c->def->kind != AGENT_CHECK_TTL) {
        snprintf(err, err_size, "check \"%s\" is not a TTL check", check_id);
        return AGENT_EINVAL;
      }
      check_result(c, status, note);
      check_schedule(c, (uint64_t)c->def->ttl_ms);
      return AGENT_OK;
    }
  }
  snprintf(err, err_size, "no check \"%s\"", check_id);
  return AGENT_EINVAL;
}

/* ------------------------------------------------------------------ */
/* Instances */

static void inst_free(struct agent_inst *in) {
  for (size_t i = 0; i < in->def.n_checks; i++)
    free(in->checks[i].output);
  free(in->checks);
  agent_service_def_clear(&in->def);
  free(in->json);
  free(in->reg_json);
  free(in->synced_path);
  free(in);
}

static void on_check_timer_closed(uv_handle_t *h) {
  struct agent_check *c = h->data;
  struct agent_inst *in = c->inst;
  if (--in->open_handles == 0 && in->removing)
    inst_free(in); /* unlinked from a->insts when removal began */
}

/* Takes def (moved into the instance). */
static struct agent_inst *inst_add(agent *a, struct agent_service_def *def) {
  struct agent_inst *in = calloc(1, sizeof *in);
  if (in == NULL)
    return NULL;
  in->a = a;
  in->def = *def;
  memset(def, 0, sizeof *def);
  in->checks =
      calloc(in->def.n_checks ? in->def.n_checks : 1, sizeof *in->checks);
  if (in->checks == NULL) {
    agent_service_def_clear(&in->def);
    free(in);
    return NULL;
  }
  for (size_t i = 0; i < in->def.n_checks; i++) {
    struct agent_check *c = &in->checks[i];
    c->inst = in;
    c->def = &in->def.checks[i];
    c->status = c->def->initial_status;
    c->critical_since_ms = c->status == AGENT_CRITICAL ? agent_now_ms(a) : 0;
    uv_timer_init(a->loop, &c->timer);
    c->timer.data = c;
    in->open_handles++;
  }
  in->next = a->insts;
  a->insts = in;
  inst_publish(in); /* sets in->json; no reg yet, so no write */
  agent_zk_register(in);
  agent_log("%s: added (service %s, %zu check%s)", in->def.id, in->def.name,
            in->def.n_checks, in->def.n_checks == 1 ? "" : "s");
  for (size_t i = 0; i < in->def.n_checks; i++) {
    struct agent_check *c = &in->checks[i];
    /* Checks run at once (a fresh instance is critical until then); a TTL
     * check waits for its first push for one TTL. */
    check_schedule(c, c->def->kind == AGENT_CHECK_TTL ? (uint64_t)c->def->ttl_ms
                                                      : 0);
  }
  return in;
}

/* Stops the checks, removes the node; frees in once its handles closed
 * and the unregistration was handed off. */
static void inst_remove(agent *a, struct agent_inst *in, bool unregister) {
  for (struct agent_inst **pp = &a->insts; *pp; pp = &(*pp)->next)
    if (*pp == in) {
      *pp = in->next;
      break;
    }
  in->removing = true;
  if (unregister && in->reg)
    agent_zk_unregister(in);
  else
    agent_zk_forget(in);
  for (size_t i = 0; i < in->def.n_checks; i++) {
    struct agent_check *c = &in->checks[i];
    dequeue(a, c);
    if (c->run) {
      struct agent_run *r = c->run;
      r->check = NULL;
      c->run = NULL;
      a->inflight--;
      r->cancel(r);
    }
    uv_close((uv_handle_t *)&c->timer, on_check_timer_closed);
  }
  if (in->def.n_checks == 0)
    inst_free(in);
  queue_next(a);
}

/* ------------------------------------------------------------------ */
/* Reload, signals, reaper */

static void notice_cb(const char *msg, void *arg) {
  (void)arg;
  agent_log("notice: %s", msg);
}

void agent_reload(agent *a) {
  struct agent_defs defs;
  char err[512];
  int rc = agent_defs_load(a->cfg.defs_path, &defs, notice_cb, NULL, err,
                           sizeof err);
  if (rc != AGENT_OK) {
    agent_log("reload refused, definitions unchanged: %s", err);
    return;
  }
  size_t kept = 0, added = 0, removed = 0, changed = 0;
  /* Removed and changed instances go first: a changed one is replaced. */
  struct agent_inst *in = a->insts;
  while (in) {
    struct agent_inst *next = in->next;
    struct agent_service_def *nd = NULL;
    for (size_t i = 0; i < defs.n; i++)
      if (defs.v[i].id && strcmp(defs.v[i].id, in->def.id) == 0)
        nd = &defs.v[i];
    if (nd == NULL) {
      agent_log("%s: removed by reload", in->def.id);
      inst_remove(a, in, true);
      removed++;
    } else if (strcmp(nd->canon, in->def.canon) != 0) {
      agent_log("%s: changed by reload: replaced", in->def.id);
      inst_remove(a, in, true);
      changed++;
    } else {
      agent_service_def_clear(nd); /* unchanged: keep node and state */
      kept++;
    }
    in = next;
  }
  for (size_t i = 0; i < defs.n; i++) {
    if (defs.v[i].id == NULL)
      continue;
    bool is_new = true;
    for (struct agent_inst *x = a->insts; x; x = x->next)
      if (strcmp(x->def.id, defs.v[i].id) == 0)
        is_new = false;
    if (inst_add(a, &defs.v[i]) == NULL)
      agent_log("%s: out of memory", defs.v[i].id);
    if (is_new)
      added++;
  }
  added -= changed;
  agent_defs_free(&defs);
  agent_log("reload: %zu kept, %zu added, %zu changed, %zu removed", kept,
            added, changed, removed);
}

static void on_reaper(uv_timer_t *t) {
  agent *a = t->data;
  for (struct agent_inst *in = a->insts; in; in = in->next)
    reconcile(in);
}

static void on_signal(uv_signal_t *s, int signum) {
  agent *a = s->data;
  if (signum == SIGHUP) {
    agent_log("SIGHUP: reloading %s", a->cfg.defs_path);
    agent_reload(a);
  } else {
    agent_log("signal %d: stopping", signum);
    agent_stop(a);
  }
}

static char *sdup(const char *s) { return s ? strdup(s) : NULL; }

int agent_new(uv_loop_t *loop, const struct agent_config *cfg, agent **out,
              char *err, size_t err_size) {
  *out = NULL;
  struct agent_defs defs;
  int rc =
      agent_defs_load(cfg->defs_path, &defs, notice_cb, NULL, err, err_size);
  if (rc != AGENT_OK)
    return rc;
  agent *a = calloc(1, sizeof *a);
  if (a == NULL) {
    agent_defs_free(&defs);
    return AGENT_ENOMEM;
  }
  a->loop = loop;
  a->cfg = *cfg;
  a->cfg.hosts = sdup(cfg->hosts);
  a->cfg.defs_path = sdup(cfg->defs_path);
  a->cfg.socket_path = sdup(cfg->socket_path);
  a->cfg.address = sdup(cfg->address ? cfg->address : "127.0.0.1");
  if (a->cfg.max_concurrent < 1)
    a->cfg.max_concurrent = 1;
  uv_mutex_init(&a->mu);
  if ((rc = agent_zk_start(a, err, err_size)) != AGENT_OK)
    goto fail;
  if (agent_curl_init(a) != 0) {
    snprintf(err, err_size, "libcurl could not be initialised");
    rc = AGENT_ESYS;
    goto fail;
  }
  if (a->cfg.socket_path &&
      (rc = agent_control_start(a, err, err_size)) != AGENT_OK)
    goto fail;
  uv_signal_init(loop, &a->sig_hup);
  uv_signal_init(loop, &a->sig_term);
  uv_signal_init(loop, &a->sig_int);
  a->sig_hup.data = a->sig_term.data = a->sig_int.data = a;
  uv_signal_start(&a->sig_hup, on_signal, SIGHUP);
  uv_signal_start(&a->sig_term, on_signal, SIGTERM);
  uv_signal_start(&a->sig_int, on_signal, SIGINT);
  uv_timer_init(loop, &a->reaper);
  a->reaper.data = a;
  uv_timer_start(&a->reaper, on_reaper, REAPER_MS, REAPER_MS);
  for (size_t i = 0; i < defs.n; i++)
    if (inst_add(a, &defs.v[i]) == NULL)
      agent_log("%s: out of memory", defs.v[i].id);
  agent_defs_free(&defs);
  *out = a;
  return AGENT_OK;
fail:
  agent_defs_free(&defs);
  agent_stop(a);
  uv_run(loop, UV_RUN_DEFAULT);
  agent_free(a);
  return rc;
}

static void finish_stop(agent *a) {
  if (a->stopped || a->jobs > 0)
    return;
  a->stopped = true;
  /* closeSession removes every instance node at once */
  agent_zk_close(a);
  agent_curl_close(a);
  agent_control_close(a);
}

void agent_stop(agent *a) {
  if (a->stopping)
    return;
  a->stopping = true;
  while (a->insts)
    inst_remove(a, a->insts, false);
  if (a->sig_hup.loop != NULL) {
    uv_close((uv_handle_t *)&a->sig_hup, NULL);
    uv_close((uv_handle_t *)&a->sig_term, NULL);
    uv_close((uv_handle_t *)&a->sig_int, NULL);
    uv_close((uv_handle_t *)&a->reaper, NULL);
  }
  finish_stop(a);
}

/* zk.c calls this when an unregister job ends. */
void agent_job_done(agent *a) {
  a->jobs--;
  if (a->stopping)
    finish_stop(a);
}

void agent_free(agent *a) {
  if (a == NULL)
    return;
  while (a->insts) { /* only when start failed half-way */
    struct agent_inst *in = a->insts;
    a->insts = in->next;
    inst_free(in);
  }
  uv_mutex_destroy(&a->mu);
  free((char *)a->cfg.hosts);
  free((char *)a->cfg.defs_path);
  free((char *)a->cfg.socket_path);
  free((char *)a->cfg.address);
  free(a);
}
