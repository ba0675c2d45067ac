/* zkc_session.h — the session watcher and the waiting of the official-C-
 * client test programs that follow one session's states (zk_c_failover,
 * zk_c_readonly).  The watcher counts the session events the programs
 * look for; a program waits on a counter with zkc_wait.  Each program
 * includes it once; the counters are its own.  Needs THREADED and
 * <zookeeper.h> included first. */
#ifndef ROOST_ZKC_SESSION_H
#define ROOST_ZKC_SESSION_H

#include <errno.h>
#include <pthread.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
/* Session events seen, by state; guarded by mu. */
static int connected, ro_connected, expired;

/* One more on *v, and wake the waiters. */
static void zkc_count(int *v) {
  pthread_mutex_lock(&mu);
  (*v)++;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static void session_watcher(zhandle_t *zh, int type, int state,
                            const char *path, void *ctx) {
  (void)zh;
  (void)path;
  (void)ctx;
  if (type != ZOO_SESSION_EVENT)
    return;
  if (state == ZOO_CONNECTED_STATE)
    zkc_count(&connected);
  else if (state == ZOO_READONLY_STATE)
    zkc_count(&ro_connected);
  else if (state == ZOO_EXPIRED_SESSION_STATE)
    zkc_count(&expired);
}

/* Wait until *v > 0 or ms passed; returns *v. */
static int zkc_wait(const int *v, int ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  pthread_mutex_lock(&mu);
  while (*v == 0)
    if (pthread_cond_timedwait(&cv, &mu, &ts) == ETIMEDOUT)
      break;
  int r = *v;
  pthread_mutex_unlock(&mu);
  return r;
}

#endif
