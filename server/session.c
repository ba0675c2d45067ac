/* session.c — the session table, session ids and passwords, and expiry.
 *
 * Expiry follows ZooKeeper's ExpiryQueue (§7.12): a touch moves a session's
 * deadline to now + timeout rounded up to the next multiple of tickTime, and
 * the tick timer wakes on each tickTime boundary and expires every session
 * whose deadline has passed.  Deadlines sit on the tick grid, so the sessions
 * of one "bucket" share a deadline; a binary min-heap keyed on the deadline
 * gives the same order without a table sized by maxSessionTimeout/tickTime
 * (which a tiny tickTime would blow up).  A touch that keeps the deadline
 * (the common case: several requests within one tick) costs nothing.
 *
 * Expiry only hands a due session to the replica (replica.h), which
 * closes it through a closeSession transaction; srv_commit removes it.
 *
 * Mass expiry: sessions that share a deadline (thousands of clients lost
 * at once) are closed at most SRV_EXPIRE_PER_TURN, or SRV_EXPIRE_TURN_NS
 * of work, per loop turn; an idle handle brings the loop back for the
 * rest right after it has polled for I/O, so other clients wait for one
 * batch, not for all of them.  A session that is heard from while it
 * waits for its turn lives on, as if heard just before its deadline:
 * nothing of its expiry has happened yet for anyone to observe.
 *
 * Passwords are never stored: password(id) = SipHash-2-4 under a random
 * per-server key, which persist.c keeps in dataDir/session.secret, so a
 * client resumes its session with id and password after a restart. */
#include "server/server_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void srv_sessions_init(struct srv *s) {
  srv_map_init(&s->sessions);
  s->heap = NULL;
  s->heap_len = 0;
  s->heap_cap = 0;
  /* §2.4: (serverId << 56) | ((time_ms << 24) >>> 8); standalone uses
   * serverId 1.  The shift pair keeps the low 40 bits of the time in bits
   * 16..55, leaving 16 bits of per-start sequence.  The time is the wall
   * clock, not a monotonic one: the monotonic clock restarts at boot, and
   * since sessions and their passwords (a keyed hash with a persisted
   * secret) survive restarts, a reused id would let an old client attach
   * to someone else's session. */
  uv_timeval64_t tv;
  uint64_t ms = uv_gettimeofday(&tv) == 0
                    ? (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u
                    : uv_hrtime() / 1000000u;
  uint64_t sid = s->cfg.server_id > 0 ? (uint64_t)s->cfg.server_id : 1u;
  s->next_session_id = (int64_t)((sid << 56) | ((ms << 24) >> 8));
}

void srv_sessions_free(struct srv *s) {
  for (size_t i = 0; i < s->heap_len; i++)
    free(s->heap[i]);
  free(s->heap);
  s->heap = NULL;
  s->heap_len = s->heap_cap = 0;
  srv_map_free(&s->sessions);
}

int64_t srv_session_next_id(struct srv *s) {
  for (;;) {
    int64_t id = s->next_session_id++;
    /* 0 means "new session" on the wire and INT64_MIN marks containers
     * in ephemeralOwner (§7.7): neither may name a session. */
    if (id == 0 || id == INT64_MIN)
      continue;
    if (srv_map_get(&s->sessions, (uint64_t)id) != NULL ||
        tree_session_exists(s->tree, id))
      continue;
    return id;
  }
}

void srv_session_new_password(const struct srv *s, int64_t id,
                              uint8_t out[PROTO_PASSWD_LEN]) {
  /* Two independent 64-bit outputs: the message is the id plus a one-byte
   * domain tag (0 for the first half, 1 for the second). */
  uint8_t msg[9];
  for (int i = 0; i < 8; i++)
    msg[i] = (uint8_t)((uint64_t)id >> (8 * i));
  for (int half = 0; half < 2; half++) {
    msg[8] = (uint8_t)half;
    uint64_t h = srv_siphash24(s->secret, msg, sizeof msg);
    for (int i = 0; i < 8; i++)
      out[8 * half + i] = (uint8_t)(h >> (8 * i));
  }
}

void srv_session_password(const struct srv *s, int64_t id,
                          uint8_t out[PROTO_PASSWD_LEN]) {
  /* A session created before passwords were replicated has none in the
   * tree: it was this member's keyed hash then. */
  if (!tree_session_passwd(s->tree, id, out))
    srv_session_new_password(s, id, out);
}

/* ---- heap ---- */

static void heap_set(struct srv *s, size_t i, struct srv_session *x) {
  s->heap[i] = x;
  x->heap_index = i;
}

static void heap_up(struct srv *s, size_t i) {
  struct srv_session *x = s->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (s->heap[parent]->expire_ms <= x->expire_ms)
      break;
    heap_set(s, i, s->heap[parent]);
    i = parent;
  }
  heap_set(s, i, x);
}

static void heap_down(struct srv *s, size_t i) {
  struct srv_session *x = s->heap[i];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    int64_t best = x->expire_ms;
    if (l < s->heap_len && s->heap[l]->expire_ms < best) {
      m = l;
      best = s->heap[l]->expire_ms;
    }
    if (r < s->heap_len && s->heap[r]->expire_ms < best)
      m = r;
    if (m == i)
      break;
    heap_set(s, i, s->heap[m]);
    i = m;
  }
  heap_set(s, i, x);
}

static void heap_remove(struct srv *s, struct srv_session *x) {
  size_t i = x->heap_index;
  s->heap_len--;
  if (i == s->heap_len)
    return;
  heap_set(s, i, s->heap[s->heap_len]);
  heap_up(s, i);
  heap_down(s, s->heap[i]->heap_index);
}

static int64_t deadline_of(const struct srv *s, int64_t now,
                           int32_t timeout_ms) {
  int64_t tick = s->cfg.tick_time_ms > 0 ? s->cfg.tick_time_ms : 1;
  return ((now + timeout_ms) / tick + 1) * tick;
}

struct srv_session *srv_session_add(struct srv *s, int64_t id,
                                    int32_t timeout_ms) {
  if (s->heap_len == s->heap_cap) {
    size_t ncap = s->heap_cap ? s->heap_cap * 2 : 64;
    /* An array of pointers, deliberately. */
    size_t elem =
        sizeof(struct srv_session *); // NOLINT(bugprone-sizeof-expression)
    struct srv_session **nh = realloc(s->heap, ncap * elem);
    if (nh == NULL)
      return NULL;
    s->heap = nh;
    s->heap_cap = ncap;
  }
  struct srv_session *sess = calloc(1, sizeof *sess);
  if (sess == NULL)
    return NULL;
  if (srv_map_put(&s->sessions, (uint64_t)id, sess) != 0) {
    free(sess);
    return NULL;
  }
  sess->id = id;
  sess->timeout_ms = timeout_ms;
  sess->expire_ms = deadline_of(s, (int64_t)uv_now(&s->loop), timeout_ms);
  s->heap_len++;
  heap_set(s, s->heap_len - 1, sess);
  heap_up(s, s->heap_len - 1);
  return sess;
}

struct srv_session *srv_session_get(const struct srv *s, int64_t id) {
  return srv_map_get(&s->sessions, (uint64_t)id);
}

void srv_session_touch(struct srv *s, struct srv_session *sess) {
  int64_t d = deadline_of(s, (int64_t)uv_now(&s->loop), sess->timeout_ms);
  if (d == sess->expire_ms)
    return;
  int64_t old = sess->expire_ms;
  sess->expire_ms = d;
  /* A shorter re-negotiated timeout can move the deadline earlier. */
  if (d < old)
    heap_up(s, sess->heap_index);
  else
    heap_down(s, sess->heap_index);
}

void srv_session_remove(struct srv *s, struct srv_session *sess) {
  heap_remove(s, sess);
  srv_map_del(&s->sessions, (uint64_t)sess->id);
  if (sess->conn != NULL && sess->conn->session == sess)
    sess->conn->session = NULL;
  free(sess);
}

/* The loop thread's CPU time: a turn's work without the time the machine
 * gave to others meanwhile (for mntr). */
static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
    return 0;
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool expiry_due(const struct srv *s, int64_t now_loop_ms) {
  return s->heap_len > 0 && s->heap[0]->expire_ms <= now_loop_ms;
}

static void on_expire_idle(uv_idle_t *h) {
  struct srv *s = h->data;
  srv_sessions_expire(s, (int64_t)uv_now(&s->loop));
  /* The check handle flushes after this turn's poll. */
}

void srv_sessions_start(struct srv *s) {
  uv_idle_init(&s->loop, &s->ov.expire_idle);
  s->ov.expire_idle.data = s;
  s->ov.expire_idle_open = true;
}

void srv_sessions_stop(struct srv *s) {
  if (s->ov.expire_idle_open)
    uv_close((uv_handle_t *)&s->ov.expire_idle, NULL);
  s->ov.expire_idle_open = false;
}

void srv_sessions_expire(struct srv *s, int64_t now_loop_ms) {
  size_t n = 0;
  uint64_t t0 = uv_hrtime();
  uint64_t cpu0 = thread_cpu_ns();
  while (expiry_due(s, now_loop_ms)) {
    if (n == SRV_EXPIRE_PER_TURN ||
        (n % 16 == 15 && uv_hrtime() - t0 > SRV_EXPIRE_TURN_NS))
      break;
    n++;
    /* The replica moves its deadline (or removes it): the heap's head
     * changes every round. */
    s->rep->expire(s, s->heap[0]);
  }
  if (n > 0) {
    uint64_t took = uv_hrtime() - t0;
    if (took > s->ov.expire_max_turn_ns)
      s->ov.expire_max_turn_ns = took;
    uint64_t cpu = thread_cpu_ns() - cpu0;
    if (cpu > s->ov.expire_max_turn_cpu_ns)
      s->ov.expire_max_turn_cpu_ns = cpu;
    s->ov.expired += n;
    s->ov.expire_turns++;
    if (n > s->ov.expire_max_turn)
      s->ov.expire_max_turn = n;
  }
  if (!s->ov.expire_idle_open || s->stopping)
    return;
  if (expiry_due(s, now_loop_ms))
    uv_idle_start(&s->ov.expire_idle, on_expire_idle);
  else
    uv_idle_stop(&s->ov.expire_idle);
}

void srv_sessions_touch_all(struct srv *s) {
  size_t i = 0;
  uint64_t k;
  void *v;
  while (srv_map_next(&s->sessions, &i, &k, &v)) {
    struct srv_session *sess = v;
    sess->closing = false;
    srv_session_touch(s, sess);
  }
}

void srv_sessions_remove_read_only(struct srv *s) {
  /* Removing changes the map: collect first (out of memory: one at a
   * time, each found by a search from the start). */
  for (;;) {
    size_t n = 0, m = 0, i = 0;
    uint64_t k;
    void *v;
    while (srv_map_next(&s->sessions, &i, &k, &v))
      n += ((struct srv_session *)v)->read_only;
    if (n == 0)
      return;
    struct srv_session **ro = calloc(n, sizeof(struct srv_session *));
    for (i = 0; srv_map_next(&s->sessions, &i, &k, &v) && m < n;)
      if (((struct srv_session *)v)->read_only) {
        if (ro == NULL) {
          srv_session_remove(s, v);
          break;
        }
        ro[m++] = v;
      }
    for (i = 0; i < m; i++)
      srv_session_remove(s, ro[i]);
    free(ro);
  }
}
