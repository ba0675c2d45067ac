/* script.c — args checks: uv_spawn the program in its own process group
 * with stdout and stderr captured (both into one buffer, capped);
 * exit 0 passing, 1 warning, anything else critical.  On timeout the
 * whole group gets SIGKILL (a shell's children too).  The result is
 * reported once the process exited and both pipes reached EOF, or at the
 * timeout. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_int.h"

struct script_run {
  struct agent_run base; /* first */
  uv_process_t proc;
  uv_pipe_t out, err;
  uv_timer_t timer;
  int open; /* handles open */
  int eofs; /* pipes at EOF */
  bool exited, done, timed_out;
  int64_t exit_status;
  int term_signal;
  char *buf;
  size_t len, cap, total;
};

static void on_closed(uv_handle_t *h) {
  struct script_run *r = h->data;
  if (--r->open == 0) {
    free(r->buf);
    free(r);
  }
}

static void close_all(struct script_run *r) {
  uv_handle_t *hs[] = {(uv_handle_t *)&r->proc, (uv_handle_t *)&r->out,
                       (uv_handle_t *)&r->err, (uv_handle_t *)&r->timer};
  for (size_t i = 0; i < 4; i++)
    if (hs[i]->loop && !uv_is_closing(hs[i]))
      uv_close(hs[i], on_closed);
}

static void report(struct script_run *r) {
  if (r->done)
    return;
  r->done = true;
  int status;
  char head[128] = "";
  if (r->timed_out) {
    status = AGENT_CRITICAL;
    snprintf(head, sizeof head, "Timed out (killed)%s", r->len ? ": " : "");
  } else if (r->term_signal) {
    status = AGENT_CRITICAL;
    snprintf(head, sizeof head, "killed by signal %d%s", r->term_signal,
             r->len ? ": " : "");
  } else {
    status = r->exit_status == 0   ? AGENT_PASSING
             : r->exit_status == 1 ? AGENT_WARNING
                                   : AGENT_CRITICAL;
    if (r->exit_status > 1)
      snprintf(head, sizeof head,
               "exit status %lld: ", (long long)r->exit_status);
  }
  size_t max =
      r->base.check ? (size_t)r->base.check->def->output_max_size : 4096;
  char *body = agent_truncate(r->buf ? r->buf : "", r->len, max);
  size_t n = strlen(head) + (body ? strlen(body) : 0) + 80;
  char *msg = malloc(n);
  if (msg) {
    snprintf(msg, n, "%s%s", head, body ? body : "");
    if (r->total > r->len)
      snprintf(msg + strlen(msg), n - strlen(msg),
               " ... (output truncated: %zu of %zu bytes)", r->len, r->total);
  }
  free(body);
  if (r->base.check)
    agent_run_done(&r->base, status, msg ? msg : head);
  free(msg);
  if (r->exited)
    close_all(r);
  /* else: the process was killed; on_exit closes */
}

static void maybe_report(struct script_run *r) {
  if (r->exited && r->eofs == 2)
    report(r);
}

static void on_alloc(uv_handle_t *h, size_t sug, uv_buf_t *buf) {
  (void)h;
  (void)sug;
  static char scratch[4096]; /* the loop's thread only: copied at once */
  buf->base = scratch;
  buf->len = sizeof scratch;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  struct script_run *r = s->data;
  if (n > 0) {
    r->total += (size_t)n;
    size_t take = (size_t)n;
    if (take > r->cap - r->len)
      take = r->cap - r->len;
    memcpy(r->buf + r->len, buf->base, take);
    r->len += take;
  } else if (n < 0) {
    uv_read_stop(s);
    r->eofs++;
    maybe_report(r);
  }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig) {
  struct script_run *r = p->data;
  r->exited = true;
  r->exit_status = status;
  r->term_signal = r->timed_out ? 0 : sig;
  if (r->done) {
    close_all(r);
    return;
  }
  maybe_report(r);
}

static void kill_group(struct script_run *r) {
  if (!r->exited && r->proc.pid > 0)
    uv_kill(-r->proc.pid, SIGKILL); /* the group (UV_PROCESS_DETACHED) */
}

static void on_timeout(uv_timer_t *t) {
  struct script_run *r = t->data;
  if (!r->exited) {
    r->timed_out = true;
    kill_group(r);
    report(r); /* on_exit closes the handles */
  } else {
    /* exited, but a child holds the pipes open: report what we have */
    kill_group(r);
    report(r);
  }
}

static void script_cancel(struct agent_run *base) {
  struct script_run *r = (struct script_run *)base;
  r->base.check = NULL;
  kill_group(r);
  r->done = true;
  if (r->exited)
    close_all(r);
}

int agent_script_start(struct agent_check *c, struct agent_run **out) {
  agent *a = c->inst->a;
  struct script_run *r = calloc(1, sizeof *r);
  if (r == NULL)
    return -1;
  r->cap = (size_t)c->def->output_max_size;
  r->buf = malloc(r->cap + 1);
  if (r->buf == NULL) {
    free(r);
    return -1;
  }
  r->base.check = c;
  r->base.a = a;
  r->base.cancel = script_cancel;
  uv_pipe_init(a->loop, &r->out, 0);
  uv_pipe_init(a->loop, &r->err, 0);
  uv_timer_init(a->loop, &r->timer);
  r->out.data = r->err.data = r->timer.data = r->proc.data = r;
  r->open = 3;
  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&r->out;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&r->err;
  uv_process_options_t o;
  memset(&o, 0, sizeof o);
  o.file = c->def->args[0];
  o.args = c->def->args;
  o.exit_cb = on_exit_cb;
  o.stdio = stdio;
  o.stdio_count = 3;
  o.flags = UV_PROCESS_DETACHED; /* own process group: killable as one */
  int rc = uv_spawn(a->loop, &r->proc, &o);
  if (rc != 0) {
    /* Report as a result rather than a start failure: the message says
     * why (a missing program is the usual cause). */
    uv_close((uv_handle_t *)&r->proc, on_closed);
    r->open++;
    r->exited = true;
    r->eofs = 2;
    r->exit_status = 127;
    snprintf(r->buf, r->cap, "cannot run %s: %s", o.file, uv_strerror(rc));
    r->len = strlen(r->buf);
    r->total = r->len;
    *out = &r->base;
    /* The caller counts the run in flight after we return: report on the
     * next loop turn through the timer. */
    uv_timer_start(&r->timer, on_timeout, 0, 0);
    return 0;
  }
  r->open++;
  uv_read_start((uv_stream_t *)&r->out, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&r->err, on_alloc, on_read);
  uv_timer_start(&r->timer, on_timeout, (uint64_t)c->def->timeout_ms, 0);
  *out = &r->base;
  return 0;
}
