/* libroost_sess.h — the session events of the libroost test programs
 * (libroost_session, libroost_failover, libroost_watch): counters that the
 * session callback bumps on the I/O thread and the main thread waits on.
 * A program may keep counters of its own (watch events) under the same mu
 * and wait on them with lr_sess_wait.  Static inline: a program uses what
 * it needs. */
#ifndef ROOST_LIBROOST_SESS_H
#define ROOST_LIBROOST_SESS_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "client/roost.h"

struct lr_sess {
  uv_mutex_t mu;
  uv_cond_t cv;
  /* Session events seen, by kind; guarded by mu. */
  int connects, disconnects, ro_connects, auth_failed, expired;
};

static inline void lr_sess_init(struct lr_sess *s) {
  memset(s, 0, sizeof *s);
  uv_mutex_init(&s->mu);
  uv_cond_init(&s->cv);
}

static inline void lr_sess_destroy(struct lr_sess *s) {
  uv_cond_destroy(&s->cv);
  uv_mutex_destroy(&s->mu);
}

/* Counts the event (caller holds s->mu). */
static inline void lr_sess_count(struct lr_sess *s, int event) {
  if (event == ROOST_SESSION_CONNECTED)
    s->connects++;
  if (event == ROOST_SESSION_DISCONNECTED)
    s->disconnects++;
  if (event == ROOST_SESSION_CONNECTED_READ_ONLY)
    s->ro_connects++;
  if (event == ROOST_SESSION_AUTH_FAILED)
    s->auth_failed++;
  if (event == ROOST_SESSION_EXPIRED)
    s->expired++;
}

/* The session callback; arg is the struct lr_sess.  Prints
 * "session EVENT" for the test's log. */
static inline void lr_on_session(roost_client *c, int event, void *arg) {
  (void)c;
  struct lr_sess *s = arg;
  uv_mutex_lock(&s->mu);
  lr_sess_count(s, event);
  printf("session %d\n", event);
  fflush(stdout);
  uv_cond_broadcast(&s->cv);
  uv_mutex_unlock(&s->mu);
}

/* Default options but for lr_on_session reporting to s. */
static inline void lr_sess_options(roost_options *o, struct lr_sess *s) {
  roost_options_init(o);
  o->session_cb = lr_on_session;
  o->session_arg = s;
}

/* Waits until *field (guarded by s->mu) >= n; false after seconds. */
static inline bool lr_sess_wait(struct lr_sess *s, const int *field, int n,
                                int seconds) {
  uint64_t deadline = uv_hrtime() + (uint64_t)seconds * 1000000000ull;
  uv_mutex_lock(&s->mu);
  while (*field < n && uv_hrtime() < deadline)
    uv_cond_timedwait(&s->cv, &s->mu, 100000000ull);
  bool ok = *field >= n;
  uv_mutex_unlock(&s->mu);
  return ok;
}

#endif
