/* mirror — keep a local copy of a whole registry (default /services) with
 * one persistent recursive watch, and print every change.
 *
 *   mirror HOSTS [ROOT]
 *
 * Output, one line per change of the mirrored tree:
 *   + PATH DATA     a node appeared (or was first loaded)
 *   ~ PATH DATA     its data changed
 *   - PATH          it was deleted
 *   synced N        the initial load (or a reload after a reconnect) is
 *                   complete: N nodes mirrored
 *
 * How it stays exact: every callback of a client runs on its I/O thread in
 * the server's order, so the replies of our reads and the watch's events
 * interleave exactly as the changes happened.  The watch keeps firing
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

struct mirror {
  roost_client *c;
  const char *root;
  struct entry *nodes; /* I/O thread only */
  size_t n;
  int loading; /* reads of the current load still out */
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
    printf("+ %s %s\n", path, data);
  } else if (strcmp(e->data, data) != 0) {
    free(e->data);
    e->data = strdup(data);
    printf("~ %s %s\n", path, data);
  }
  e->seen = true;
  fflush(stdout);
}

static void drop(struct mirror *m, const char *path) {
  for (struct entry **pp = &m->nodes; *pp; pp = &(*pp)->next)
    if (strcmp((*pp)->path, path) == 0) {
      struct entry *e = *pp;
      *pp = e->next;
      printf("- %s\n", e->path);
      fflush(stdout);
      free(e->path);
      free(e->data);
      free(e);
      m->n--;
      return;
    }
}

static void load_node(struct mirror *m, const char *path);

/* The current load is complete: after a reload, what it did not see is
 * gone. */
static void load_step_done(struct mirror *m) {
  if (--m->loading > 0)
    return;
  if (m->reload) {
    struct entry *e = m->nodes;
    while (e) {
      struct entry *next = e->next;
      if (!e->seen)
        drop(m, e->path);
      e = next;
    }
    m->reload = false;
  }
  printf("synced %zu\n", m->n);
  fflush(stdout);
}

struct read_ctx {
  struct mirror *m;
  char *path;
  bool counted; /* part of a load */
};

static void on_get(roost_client *c, const roost_result *res, void *arg) {
  (void)c;
  struct read_ctx *r = arg;
  /* NONODE: deleted meanwhile; its DELETED event comes (or came). */
  if (res->err == ROOST_OK)
    put(r->m, r->path, res->data_len > 0 ? res->data : "");
  if (r->counted)
    load_step_done(r->m);
  free(r->path);
  free(r);
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
    load_node(r->m, child);
    free(child);
  }
  if (r->counted)
    load_step_done(r->m);
  free(r->path);
  free(r);
}

static struct read_ctx *ctx(struct mirror *m, const char *path) {
  struct read_ctx *r = calloc(1, sizeof *r);
  if (r == NULL)
    return NULL;
  r->m = m;
  r->path = strdup(path);
  r->counted = true;
  m->loading++;
  return r;
}

/* Reads a node's data and, through its children, its subtree. */
static void load_node(struct mirror *m, const char *path) {
  struct read_ctx *g = ctx(m, path), *k = ctx(m, path);
  if (g && roost_get_async(m->c, path, NULL, NULL, on_get, g) != ROOST_OK)
    m->loading--, free(g->path), free(g);
  if (k && roost_get_children_async(m->c, path, NULL, NULL, on_children, k) !=
               ROOST_OK)
    m->loading--, free(k->path), free(k);
}

static void load_tree(struct mirror *m, bool reload) {
  m->reload = reload;
  for (struct entry *e = m->nodes; e; e = e->next)
    e->seen = false;
  m->loading++; /* held while the first reads are issued */
  struct read_ctx *k = ctx(m, m->root);
  if (k && roost_get_children_async(m->c, m->root, NULL, NULL, on_children,
                                    k) != ROOST_OK)
    m->loading--, free(k->path), free(k);
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
  case ROOST_EVENT_DATA_CHANGED: {
    struct read_ctx *r = calloc(1, sizeof *r);
    if (r == NULL)
      return;
    r->m = m;
    r->path = strdup(path);
    if (roost_get_async(m->c, path, NULL, NULL, on_get, r) != ROOST_OK) {
      free(r->path);
      free(r);
    }
    break;
  }
  case ROOST_EVENT_DELETED:
    drop(m, path);
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
  roost_client_close(m.c);
  while (m.nodes) {
    struct entry *e = m.nodes;
    m.nodes = e->next;
    free(e->path);
    free(e->data);
    free(e);
  }
  printf("bye\n");
  return 0;
}
