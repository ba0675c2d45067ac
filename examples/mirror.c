/* mirror — keep a local copy of a whole registry (default /services) with
 * one persistent recursive watch, and print every change.
 *
 *   mirror HOSTS [ROOT]
 *
 * Output, one line per change of the mirrored tree, in the order the
 * changes happened:
 *   + PATH DATA     a node appeared (or was first loaded)
 *   ~ PATH DATA     its data changed
 *   - PATH          it was deleted
 *   synced N        the initial load (or a reload after a reconnect) is
 *                   complete: N nodes mirrored
 * DATA is what a read right after the event found (a node deleted before
 * that read shows "+ PATH" then "- PATH").
 *
 * How it stays exact: every callback of a client runs on its I/O thread in
 * the server's order.  Each event (and each read of a load) takes a place
 * in one queue when it arrives; the read it needs fills it in; the queue
 * is applied strictly from its head.  So the copy never goes back in time
 * and the lines come in the order of the events.  The watch keeps firing
 * across reconnects, but changes made while we had no connection fire
 * nothing: after a reconnect the tree is read again and the difference
 * printed.  Stops on SIGINT/SIGTERM.
 *
 * Build against an installed libroost:
 *   cc mirror.c $(pkg-config --cflags --libs roost) -o mirror
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <roost.h>

struct entry {
  struct entry *next;
  char *path;
  char *data;
  bool seen; /* read again by the current load */
};

enum { P_PUT, P_DEL, P_SYNC };

/* One step to apply, in arrival order. */
struct pend {
  struct pend *next;
  int kind;
  char *path;
  char *data; /* P_PUT: filled by its read; NULL while waiting */
  bool ready;
  bool gone;   /* P_PUT: the node was deleted before the read */
  bool skip;   /* P_PUT: the read failed (connection lost, closing) */
  bool reload; /* P_SYNC: end of a reload */
};

struct mirror {
  roost_client *c;
  const char *root;
  /* I/O thread only */
  struct entry *nodes;
  size_t n;
  struct pend *q_head, *q_tail;
  int loading; /* children reads of the current load still out */
  bool reload; /* the current load replaces the whole mirror */
  bool was_disconnected;
};

static struct entry *find(struct mirror *m, const char *path) {
  for (struct entry *e = m->nodes; e; e = e->next)
    if (strcmp(e->path, path) == 0)
      return e;
  return NULL;
}

static void put(struct mirror *m, const char *path, const char *data) {
  struct entry *e = find(m, path);
  if (e == NULL) {
    e = calloc(1, sizeof *e);
    if (e == NULL)
      return;
    e->path = strdup(path);
    e->data = strdup(data);
    e->next = m->nodes;
    m->nodes = e;
    m->n++;
    printf("+ %s%s%s\n", path, *data ? " " : "", data);
  } else if (strcmp(e->data, data) != 0) {
    free(e->data);
    e->data = strdup(data);
    printf("~ %s %s\n", path, data);
  }
  e->seen = true;
}

static void drop(struct mirror *m, const char *path) {
  for (struct entry **pp = &m->nodes; *pp; pp = &(*pp)->next)
    if (strcmp((*pp)->path, path) == 0) {
      struct entry *e = *pp;
      *pp = e->next;
      printf("- %s\n", e->path);
      free(e->path);
      free(e->data);
      free(e);
      m->n--;
      return;
    }
}

static void apply(struct mirror *m, struct pend *p) {
  switch (p->kind) {
  case P_PUT:
    if (p->skip) /* a reload after the reconnect covers it */
      break;
    put(m, p->path, p->gone ? "" : p->data);
    if (p->gone && find(m, p->path)) /* its DELETED event follows */
      find(m, p->path)->seen = false;
    break;
  case P_DEL:
    drop(m, p->path);
    break;
  case P_SYNC:
    if (p->reload) { /* what the reload did not see is gone */
      struct entry *e = m->nodes;
      while (e) {
        struct entry *next = e->next;
        if (!e->seen)
          drop(m, e->path);
        e = next;
      }
    }
    printf("synced %zu\n", m->n);
    break;
  }
}

static void flush(struct mirror *m) {
  while (m->q_head && m->q_head->ready) {
    struct pend *p = m->q_head;
    m->q_head = p->next;
    if (m->q_head == NULL)
      m->q_tail = NULL;
    apply(m, p);
    free(p->path);
    free(p->data);
    free(p);
  }
  fflush(stdout);
}

static struct pend *push(struct mirror *m, int kind, const char *path) {
  struct pend *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  p->kind = kind;
  p->path = path ? strdup(path) : NULL;
  p->ready = kind != P_PUT;
  if (m->q_tail)
    m->q_tail->next = p;
  else
    m->q_head = p;
  m->q_tail = p;
  return p;
}

struct read_ctx {
  struct mirror *m;
  struct pend *p; /* P_PUT to fill (data reads) */
  char *path;     /* children reads */
};

static void on_get(roost_client *c, const roost_result *res, void *arg) {
  (void)c;
  struct read_ctx *r = arg;
  r->p->ready = true;
  if (res->err == ROOST_OK)
    r->p->data = strdup(res->data_len > 0 ? res->data : "");
  if (res->err == ROOST_NONODE)
    r->p->gone = true; /* deleted meanwhile */
  else if (r->p->data == NULL)
    r->p->skip = true;
  flush(r->m);
  free(r);
}

/* Queues the node's data: a P_PUT filled by a read issued now. */
static void read_data(struct mirror *m, const char *path) {
  struct read_ctx *r = calloc(1, sizeof *r);
  struct pend *p = push(m, P_PUT, path);
  if (r == NULL || p == NULL) {
    free(r);
    if (p)
      p->ready = p->skip = true;
    return;
  }
  r->m = m;
  r->p = p;
  if (roost_get_async(m->c, path, NULL, NULL, on_get, r) != ROOST_OK) {
    p->ready = p->skip = true;
    free(r);
  }
}

static void load_children(struct mirror *m, const char *path);

static void load_step_done(struct mirror *m) {
  if (--m->loading > 0)
    return;
  struct pend *p = push(m, P_SYNC, NULL);
  if (p)
    p->reload = m->reload;
  m->reload = false;
  flush(m);
}

static void on_children(roost_client *c, const roost_result *res, void *arg) {
  (void)c;
  struct read_ctx *r = arg;
  for (int32_t i = 0; res->err == ROOST_OK && i < res->n_children; i++) {
    size_t n = strlen(r->path) + strlen(res->children[i]) + 2;
    char *child = malloc(n);
    if (child == NULL)
      continue;
    snprintf(child, n, "%s%s%s", r->path, strcmp(r->path, "/") == 0 ? "" : "/",
             res->children[i]);
    read_data(r->m, child);
    load_children(r->m, child);
    free(child);
  }
  load_step_done(r->m);
  free(r->path);
  free(r);
}

static void load_children(struct mirror *m, const char *path) {
  struct read_ctx *r = calloc(1, sizeof *r);
  if (r == NULL)
    return;
  r->m = m;
  r->path = strdup(path);
  m->loading++;
  if (r->path == NULL || roost_get_children_async(m->c, path, NULL, NULL,
                                                  on_children, r) != ROOST_OK) {
    m->loading--;
    free(r->path);
    free(r);
  }
}

/* Reads the whole tree (again); ends with a "synced" step. */
static void load_tree(struct mirror *m, bool reload) {
  m->reload = reload;
  for (struct entry *e = m->nodes; e; e = e->next)
    e->seen = false;
  m->loading++; /* held while the first read is issued */
  load_children(m, m->root);
  load_step_done(m);
}

/* The one watch: the path that changed comes with each event. */
static void on_event(roost_client *c, int type, const char *path, void *arg) {
  (void)c;
  struct mirror *m = arg;
  if (strcmp(path, m->root) == 0)
    return; /* the root itself is not mirrored */
  switch (type) {
  case ROOST_EVENT_CREATED:
  case ROOST_EVENT_DATA_CHANGED:
    read_data(m, path);
    break;
  case ROOST_EVENT_DELETED:
    push(m, P_DEL, path);
    flush(m);
    break;
  default: /* NOT_WATCHING / PERSISTENT_WATCH_REMOVED: the end */
    break;
  }
}

static void on_session(roost_client *c, int event, void *arg) {
  (void)c;
  struct mirror *m = arg;
  if (event == ROOST_SESSION_DISCONNECTED) {
    m->was_disconnected = true;
  } else if (event == ROOST_SESSION_CONNECTED && m->was_disconnected) {
    m->was_disconnected = false;
    load_tree(m, true); /* what changed while we were away */
  }
}

/* Runs on the client's thread (any completion does): the first load. */
static void start_load(roost_client *c, const roost_result *res, void *arg) {
  (void)c;
  (void)res;
  load_tree(arg, false);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s HOSTS [ROOT]\n", argv[0]);
    return 2;
  }
  struct mirror m;
  memset(&m, 0, sizeof m);
  m.root = argc > 2 ? argv[2] : "/services";

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  roost_options opts;
  roost_options_init(&opts);
  opts.session_timeout_ms = 10000;
  opts.session_cb = on_session;
  opts.session_arg = &m;
  int rc = roost_client_new(argv[1], &opts, &m.c);
  if (rc != ROOST_OK) {
    fprintf(stderr, "roost_client_new: %s\n", roost_strerror(rc));
    return 1;
  }
  if ((rc = roost_client_wait_connected(m.c, 15000)) != ROOST_OK ||
      (rc = roost_add_watch(m.c, m.root, ROOST_WATCH_PERSISTENT_RECURSIVE,
                            on_event, &m)) != ROOST_OK) {
    fprintf(stderr, "watch %s: %s\n", m.root, roost_strerror(rc));
    roost_client_close(m.c);
    return 1;
  }
  printf("watching %s\n", m.root);
  fflush(stdout);
  /* The first load runs on the client's thread, where its replies and
   * every event are handled in the server's order; it is issued after the
   * watch was set, so no change can fall between the two. */
  rc = roost_sync_async(m.c, m.root, start_load, &m);
  if (rc != ROOST_OK) {
    fprintf(stderr, "load: %s\n", roost_strerror(rc));
    roost_client_close(m.c);
    return 1;
  }
  int sig;
  sigwait(&set, &sig);
  roost_client_close(m.c); /* every callback has run when it returns */
  while (m.nodes) {
    struct entry *e = m.nodes;
    m.nodes = e->next;
    free(e->path);
    free(e->data);
    free(e);
  }
  while (m.q_head) {
    struct pend *p = m.q_head;
    m.q_head = p->next;
    free(p->path);
    free(p->data);
    free(p);
  }
  printf("bye\n");
  return 0;
}
