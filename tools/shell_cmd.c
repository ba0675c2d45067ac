/* shell_cmd.c — the commands of `roost`, one table, one function each. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/shell_int.h"

/* Bound on the nodes a recursive command (ls -R, tree, deleteall) visits:
 * past it the command fails instead of exhausting memory. */
#define SHELL_MAX_WALK_NODES 1000000
#define SHELL_MAX_ACL 64

struct cmd;

struct args {
  const struct cmd *cmd; /* the command being run, for usage messages */
  bool flag[128];
  const char *val[128];
  int n_pos;
  char **pos;
};

typedef int (*cmd_fn)(struct shell *sh, struct args *a);

struct cmd {
  const char *name;
  cmd_fn fn;
  const char *flags;  /* boolean one-letter options */
  const char *valued; /* one-letter options taking a value */
  int min_pos, max_pos;
  bool needs_client;
  const char *usage;
  const char *help;
};

/* ====================================================================== */
/* Output helpers */

static void emit_line(const struct sbuf *b) {
  flockfile(stdout);
  if (b->p != NULL)
    fwrite(b->p, 1, b->len, stdout);
  if (b->len == 0 || b->p[b->len - 1] != '\n')
    fputc('\n', stdout);
  fflush(stdout);
  funlockfile(stdout);
}

static void emit_text(const struct sbuf *b) {
  if (b->len == 0)
    return;
  flockfile(stdout);
  fwrite(b->p, 1, b->len, stdout);
  fflush(stdout);
  funlockfile(stdout);
}

void shell_print_error(struct shell *sh, int err, const char *path,
                       const char *detail) {
  const char *msg = detail != NULL ? detail : roost_strerror(err);
  if (sh->json) {
    struct sbuf b;
    struct jw w;
    sbuf_init(&b);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_key(&w, "error");
    jw_str(&w, roost_err_name(err));
    jw_key(&w, "code");
    jw_i64(&w, err);
    jw_key(&w, "message");
    jw_str(&w, msg);
    if (path != NULL) {
      jw_key(&w, "path");
      jw_str(&w, path);
    }
    jw_obj_end(&w);
    emit_line(&b);
    sbuf_free(&b);
    return;
  }
  fflush(stdout);
  if (path != NULL)
    fprintf(stderr, "error: %s: %s: %s\n", path, roost_err_name(err), msg);
  else
    fprintf(stderr, "error: %s: %s\n", roost_err_name(err), msg);
}

static int usage_error(struct shell *sh, const struct cmd *c, const char *why) {
  if (sh->json) {
    struct sbuf b, m;
    struct jw w;
    sbuf_init(&b);
    sbuf_init(&m);
    sbuf_printf(&m, "%s%susage: %s", why ? why : "", why ? "; " : "",
                c ? c->usage : "roost COMMAND ARGS (see help)");
    jw_init(&w, &b);
    jw_obj(&w);
    jw_key(&w, "error");
    jw_str(&w, "USAGE");
    jw_key(&w, "code");
    jw_i64(&w, SHELL_USAGE);
    jw_key(&w, "message");
    jw_str(&w, m.p);
    jw_obj_end(&w);
    emit_line(&b);
    sbuf_free(&b);
    sbuf_free(&m);
  } else {
    fflush(stdout);
    if (why != NULL)
      fprintf(stderr, "%s\n", why);
    fprintf(stderr, "usage: %s\n",
            c ? c->usage : "roost COMMAND ARGS (type help)");
  }
  return SHELL_USAGE;
}

/* Result of an operation: prints the error if any, returns the status. */
static int op_status(struct shell *sh, int rc, const char *path) {
  if (rc == ROOST_OK)
    return SHELL_OK;
  shell_print_error(sh, rc, path, NULL);
  return SHELL_ERR;
}

static void fmt_time(char *buf, size_t n, int64_t ms) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (gmtime_r(&t, &tm) == NULL) {
    snprintf(buf, n, "%" PRId64, ms);
    return;
  }
  char tmp[32];
  strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, n, "%s.%03dZ", tmp, (int)(ms % 1000));
}

static void stat_text(struct sbuf *b, const roost_stat *s) {
  char ct[48], mt[48];
  fmt_time(ct, sizeof ct, s->ctime);
  fmt_time(mt, sizeof mt, s->mtime);
  sbuf_printf(b,
              "cZxid = 0x%" PRIx64 "\nctime = %s\nmZxid = 0x%" PRIx64
              "\nmtime = %s\npZxid = 0x%" PRIx64 "\ncversion = %" PRId32
              "\ndataVersion = %" PRId32 "\naclVersion = %" PRId32
              "\nephemeralOwner = 0x%" PRIx64 "\ndataLength = %" PRId32
              "\nnumChildren = %" PRId32 "\n",
              (uint64_t)s->czxid, ct, (uint64_t)s->mzxid, mt,
              (uint64_t)s->pzxid, s->cversion, s->version, s->aversion,
              (uint64_t)s->ephemeral_owner, s->data_length, s->num_children);
}

static void stat_json(struct jw *w, const roost_stat *s) {
  jw_key(w, "stat");
  jw_obj(w);
  jw_key(w, "czxid");
  jw_i64(w, s->czxid);
  jw_key(w, "mzxid");
  jw_i64(w, s->mzxid);
  jw_key(w, "pzxid");
  jw_i64(w, s->pzxid);
  jw_key(w, "ctime");
  jw_i64(w, s->ctime);
  jw_key(w, "mtime");
  jw_i64(w, s->mtime);
  jw_key(w, "version");
  jw_i64(w, s->version);
  jw_key(w, "cversion");
  jw_i64(w, s->cversion);
  jw_key(w, "aversion");
  jw_i64(w, s->aversion);
  jw_key(w, "ephemeralOwner");
  jw_i64(w, s->ephemeral_owner);
  jw_key(w, "dataLength");
  jw_i64(w, s->data_length);
  jw_key(w, "numChildren");
  jw_i64(w, s->num_children);
  jw_obj_end(w);
}

/* Starts the one JSON object of a command: {"command":NAME ... */
static void json_begin(struct jw *w, struct sbuf *b, const char *cmd) {
  sbuf_init(b);
  jw_init(w, b);
  jw_obj(w);
  jw_key(w, "command");
  jw_str(w, cmd);
}

static void json_end(struct jw *w, struct sbuf *b) {
  jw_obj_end(w);
  emit_line(b);
  sbuf_free(b);
}

static const char *event_name(int type) {
  switch (type) {
  case ROOST_EVENT_CREATED:
    return "NodeCreated";
  case ROOST_EVENT_DELETED:
    return "NodeDeleted";
  case ROOST_EVENT_DATA_CHANGED:
    return "NodeDataChanged";
  case ROOST_EVENT_CHILDREN_CHANGED:
    return "NodeChildrenChanged";
  case ROOST_EVENT_DATA_WATCH_REMOVED:
    return "DataWatchRemoved";
  case ROOST_EVENT_CHILD_WATCH_REMOVED:
    return "ChildWatchRemoved";
  case ROOST_EVENT_PERSISTENT_WATCH_REMOVED:
    return "PersistentWatchRemoved";
  default:
    return "NotWatching";
  }
}

static void print_event(struct shell *sh, const char *prefix, int type,
                        const char *path) {
  struct sbuf b;
  sbuf_init(&b);
  if (sh->json) {
    struct jw w;
    jw_init(&w, &b);
    jw_obj(&w);
    jw_key(&w, "event");
    jw_str(&w, event_name(type));
    jw_key(&w, "path");
    jw_str(&w, path);
    jw_obj_end(&w);
  } else {
    sbuf_printf(&b, "%s%s %s\n", prefix, event_name(type), path);
  }
  emit_line(&b);
  sbuf_free(&b);
}

/* get -w / ls -w / stat -w: the event is printed when it comes, from the
 * I/O thread (stdout is locked per line).  NOT_WATCHING only says the
 * client is closing: nothing to show. */
static void print_watch_cb(roost_client *c, int type, const char *path,
                           void *arg) {
  (void)c;
  if (type == ROOST_EVENT_NOT_WATCHING)
    return;
  struct shell *sh = arg;
  /* At the prompt, start below the line being edited. */
  print_event(sh,
              sh->interactive && !sh->json ? "\nWATCHER: " : "WATCHER: ", type,
              path);
}

/* ====================================================================== */
/* Helpers */

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void shell_sort_names(char **names, size_t n) {
  if (n > 1)
    qsort(names, n, sizeof *names, cmp_names);
}

static char *path_join(const char *parent, const char *name) {
  size_t pn = strlen(parent), nn = strlen(name);
  bool root = pn == 1 && parent[0] == '/';
  char *p = malloc(pn + nn + 2);
  if (p == NULL)
    return NULL;
  memcpy(p, parent, pn);
  size_t o = pn;
  if (!root)
    p[o++] = '/';
  memcpy(p + o, name, nn + 1);
  return p;
}

static bool parse_i64(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0')
    return false;
  *out = v;
  return true;
}

static int parse_version(struct shell *sh, const struct cmd *c, const char *s,
                         int32_t *out) {
  int64_t v;
  if (s == NULL) {
    *out = -1;
    return SHELL_OK;
  }
  if (!parse_i64(s, &v) || v < -1 || v > INT32_MAX)
    return usage_error(sh, c, "VERSION must be an integer >= -1");
  *out = (int32_t)v;
  return SHELL_OK;
}

/* --------------------------------------------------------------------- */
/* Subtree walk: pre-order, children sorted, with an explicit stack so that
 * depth costs heap, not C stack. */

struct walk_node {
  char *path;
  int depth;
};

struct walk {
  struct walk_node *v;
  size_t n, cap;
};

static void walk_free(struct walk *w) {
  for (size_t i = 0; i < w->n; i++)
    free(w->v[i].path);
  free(w->v);
  w->v = NULL;
  w->n = w->cap = 0;
}

static bool walk_push(struct walk *w, char *path, int depth) {
  if (w->n == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 64;
    struct walk_node *v = realloc(w->v, cap * sizeof *v);
    if (v == NULL)
      return false;
    w->v = v;
    w->cap = cap;
  }
  w->v[w->n].path = path;
  w->v[w->n].depth = depth;
  w->n++;
  return true;
}

/* Fills out with root and every descendant.  A node that vanishes while we
 * walk is left out; the root missing is an error.  Returns a roost_err;
 * *err_path (borrowed from out or root) names the node that failed. */
static int walk_subtree(struct shell *sh, const char *root, struct walk *out,
                        const char **err_path) {
  struct walk stack = {0};
  int rc = ROOST_OK;
  char *r = strdup(root);
  if (r == NULL || !walk_push(&stack, r, 0)) {
    free(r);
    return ROOST_ENOMEM;
  }
  *err_path = root;
  while (stack.n > 0) {
    struct walk_node nd = stack.v[--stack.n];
    roost_result *res = NULL;
    rc = roost_get_children(sh->client, nd.path, NULL, NULL, &res);
    if (rc == ROOST_NONODE && nd.depth > 0) {
      free(nd.path);
      rc = ROOST_OK;
      continue;
    }
    if (rc != ROOST_OK) {
      /* Keep the failing path alive in out so *err_path stays valid. */
      if (walk_push(out, nd.path, nd.depth))
        *err_path = nd.path;
      else
        free(nd.path);
      break;
    }
    if (out->n >= SHELL_MAX_WALK_NODES) {
      free(nd.path);
      roost_result_free(res);
      rc = ROOST_EBUSY;
      break;
    }
    if (!walk_push(out, nd.path, nd.depth)) {
      free(nd.path);
      roost_result_free(res);
      rc = ROOST_ENOMEM;
      break;
    }
    shell_sort_names(res->children, (size_t)res->n_children);
    for (int32_t i = res->n_children; i-- > 0;) {
      char *cp = path_join(nd.path, res->children[i]);
      if (cp == NULL || !walk_push(&stack, cp, nd.depth + 1)) {
        free(cp);
        rc = ROOST_ENOMEM;
        break;
      }
    }
    roost_result_free(res);
    if (rc != ROOST_OK)
      break;
  }
  walk_free(&stack);
  return rc;
}

static int walk_status(struct shell *sh, int rc, const char *err_path) {
  if (rc == ROOST_EBUSY)
    shell_print_error(sh, rc, err_path,
                      "subtree larger than the shell's bound of 1000000 nodes");
  else
    shell_print_error(sh, rc, err_path, NULL);
  return SHELL_ERR;
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s != NULL && s[1] != '\0' ? s + 1 : path;
}

/* ====================================================================== */
/* Commands */

static int cmd_connect(struct shell *sh, struct args *a) {
  return shell_connect(sh, a->pos[0], false);
}

static int cmd_ls(struct shell *sh, struct args *a) {
  const char *path = a->pos[0];
  bool recursive = a->flag['R'], with_stat = a->flag['s'];
  if (recursive) {
    if (a->flag['w'])
      return usage_error(sh, a->cmd, "-R and -w do not combine");
    struct walk w = {0};
    const char *ep;
    int rc = walk_subtree(sh, path, &w, &ep);
    if (rc != ROOST_OK) {
      int st = walk_status(sh, rc, ep);
      walk_free(&w);
      return st;
    }
    struct sbuf b;
    if (sh->json) {
      struct jw j;
      json_begin(&j, &b, "ls");
      jw_key(&j, "path");
      jw_str(&j, path);
      jw_key(&j, "paths");
      jw_arr(&j);
      for (size_t i = 0; i < w.n; i++)
        jw_str(&j, w.v[i].path);
      jw_arr_end(&j);
      json_end(&j, &b);
    } else {
      sbuf_init(&b);
      for (size_t i = 0; i < w.n; i++)
        sbuf_printf(&b, "%s\n", w.v[i].path);
      emit_text(&b);
      sbuf_free(&b);
    }
    walk_free(&w);
    return SHELL_OK;
  }
  roost_result *res = NULL;
  int rc = roost_get_children(sh->client, path,
                              a->flag['w'] ? print_watch_cb : NULL, sh, &res);
  if (rc != ROOST_OK)
    return op_status(sh, rc, path);
  shell_sort_names(res->children, (size_t)res->n_children);
  struct sbuf b;
  if (sh->json) {
    struct jw j;
    json_begin(&j, &b, "ls");
    jw_key(&j, "path");
    jw_str(&j, path);
    jw_key(&j, "children");
    jw_arr(&j);
    for (int32_t i = 0; i < res->n_children; i++)
      jw_str(&j, res->children[i]);
    jw_arr_end(&j);
    if (with_stat)
      stat_json(&j, &res->stat);
    json_end(&j, &b);
  } else {
    sbuf_init(&b);
    for (int32_t i = 0; i < res->n_children; i++)
      sbuf_printf(&b, "%s\n", res->children[i]);
    if (with_stat)
      stat_text(&b, &res->stat);
    emit_text(&b);
    sbuf_free(&b);
  }
  roost_result_free(res);
  return SHELL_OK;
}

static int cmd_tree(struct shell *sh, struct args *a) {
  const char *path = a->pos[0];
  struct walk w = {0};
  const char *ep;
  int rc = walk_subtree(sh, path, &w, &ep);
  if (rc != ROOST_OK) {
    int st = walk_status(sh, rc, ep);
    walk_free(&w);
    return st;
  }
  struct sbuf b;
  if (sh->json) {
    /* Nested {"name","path","children":[...]} rebuilt from the pre-order
     * list: a node at depth d closes the open nodes deeper than d-1. */
    struct jw j;
    json_begin(&j, &b, "tree");
    jw_key(&j, "tree");
    int open = -1; /* depth of the innermost open node */
    for (size_t i = 0; i < w.n; i++) {
      int d = w.v[i].depth;
      for (; open >= d; open--) {
        jw_arr_end(&j);
        jw_obj_end(&j);
      }
      jw_obj(&j);
      jw_key(&j, "name");
      jw_str(&j, d == 0 ? w.v[i].path : base_name(w.v[i].path));
      jw_key(&j, "path");
      jw_str(&j, w.v[i].path);
      jw_key(&j, "children");
      jw_arr(&j);
      open = d;
    }
    for (; open >= 0; open--) {
      jw_arr_end(&j);
      jw_obj_end(&j);
    }
    json_end(&j, &b);
  } else {
    sbuf_init(&b);
    for (size_t i = 0; i < w.n; i++) {
      for (int k = 0; k < w.v[i].depth; k++)
        sbuf_adds(&b, "  ");
      sbuf_printf(&b, "%s\n",
                  w.v[i].depth == 0 ? w.v[i].path : base_name(w.v[i].path));
    }
    emit_text(&b);
    sbuf_free(&b);
  }
  walk_free(&w);
  return SHELL_OK;
}

static int cmd_get(struct shell *sh, struct args *a) {
  const char *path = a->pos[0];
  roost_result *res = NULL;
  int rc = roost_get(sh->client, path, a->flag['w'] ? print_watch_cb : NULL, sh,
                     &res);
  if (rc != ROOST_OK)
    return op_status(sh, rc, path);
  struct sbuf b;
  if (sh->json) {
    struct jw j;
    json_begin(&j, &b, "get");
    jw_key(&j, "path");
    jw_str(&j, path);
    data_render_json(&j, res->data, res->data_len);
    if (a->flag['s'])
      stat_json(&j, &res->stat);
    json_end(&j, &b);
  } else {
    sbuf_init(&b);
    data_render_text(&b, res->data, res->data_len);
    if (a->flag['s'])
      stat_text(&b, &res->stat);
    emit_text(&b);
    sbuf_free(&b);
  }
  roost_result_free(res);
  return SHELL_OK;
}

static int cmd_stat(struct shell *sh, struct args *a) {
  const char *path = a->pos[0];
  roost_result *res = NULL;
  int rc = roost_exists(sh->client, path, a->flag['w'] ? print_watch_cb : NULL,
                        sh, &res);
  if (rc != ROOST_OK)
    return op_status(sh, rc, path);
  struct sbuf b;
  if (sh->json) {
    struct jw j;
    json_begin(&j, &b, "stat");
    jw_key(&j, "path");
    jw_str(&j, path);
    stat_json(&j, &res->stat);
    json_end(&j, &b);
  } else {
    sbuf_init(&b);
    stat_text(&b, &res->stat);
    emit_text(&b);
    sbuf_free(&b);
  }
  roost_result_free(res);
  return SHELL_OK;
}

static int cmd_create(struct shell *sh, struct args *a) {
  const struct cmd *c = a->cmd;
  const char *path = a->pos[0];
  const char *data = a->n_pos > 1 ? a->pos[1] : "";
  roost_create_opts o = {0};
  if (a->flag['e'])
    o.flags |= ROOST_EPHEMERAL;
  if (a->flag['s'])
    o.flags |= ROOST_SEQUENTIAL;
  if (a->flag['c']) {
    if (o.flags != 0)
      return usage_error(sh, c, "-c (container) does not combine with -e/-s");
    o.flags = ROOST_CONTAINER;
  }
  if (a->val['t'] != NULL) {
    if (!parse_i64(a->val['t'], &o.ttl_ms) || o.ttl_ms <= 0)
      return usage_error(sh, c, "TTL must be a positive number of ms");
    if (o.flags & (ROOST_EPHEMERAL | ROOST_CONTAINER))
      return usage_error(sh, c, "-t (TTL) is for persistent nodes only");
    o.flags |= ROOST_TTL;
  }
  roost_result *res = NULL;
  int rc =
      roost_create(sh->client, path, data, (int32_t)strlen(data), &o, &res);
  if (rc != ROOST_OK)
    return op_status(sh, rc, path);
  struct sbuf b;
  if (sh->json) {
    struct jw j;
    json_begin(&j, &b, "create");
    jw_key(&j, "path");
    jw_str(&j, res->path);
    json_end(&j, &b);
  } else {
    sbuf_init(&b);
    sbuf_printf(&b, "Created %s\n", res->path);
    emit_text(&b);
    sbuf_free(&b);
  }
  roost_result_free(res);
  return SHELL_OK;
}

static int cmd_set(struct shell *sh, struct args *a) {
  const char *path = a->pos[0], *data = a->pos[1];
  int32_t version = -1;
  int st = parse_version(sh, a->cmd, a->val['v'], &version);
  if (st != SHELL_OK)
    return st;
  roost_result *res = NULL;
  int rc =
      roost_set(sh->client, path, data, (int32_t)strlen(data), version, &res);
  if (rc != ROOST_OK)
    return op_status(sh, rc, path);
  struct sbuf b;
  if (sh->json) {
    struct jw j;
    json_begin(&j, &b, "set");
    jw_key(&j, "path");
    jw_str(&j, path);
    stat_json(&j, &res->stat);
    json_end(&j, &b);
  } else if (a->flag['s']) {
    sbuf_init(&b);
    stat_text(&b, &res->stat);
    emit_text(&b);
    sbuf_free(&b);
  }
  roost_result_free(res);
  return SHELL_OK;
}

/* Commands that succeed silently in text mode still answer in --json. */
static int ok_json(struct shell *sh, const char *cmd, const char *path) {
  if (sh->json) {
    struct sbuf b;
    struct jw j;
    json_begin(&j, &b, cmd);
    if (path != NULL) {
      jw_key(&j, "path");
      jw_str(&j, path);
    }
    jw_key(&j, "ok");
    jw_bool(&j, true);
    json_end(&j, &b);
  }
  return SHELL_OK;
}

static int cmd_delete(struct shell *sh, struct args *a) {
  const char *path = a->pos[0];
  int32_t version = -1;
  int st = parse_version(sh, a->cmd, a->val['v'], &version);
  if (st != SHELL_OK)
    return st;
  int rc = roost_delete(sh->client, path, version);
  if (rc != ROOST_OK)
    return op_status(sh, rc, path);
  return ok_json(sh, "delete", path);
}

static int cmd_deleteall(struct shell *sh, struct args *a) {
  const char *path = a->pos[0];
  if (strcmp(path, "/") == 0)
    return usage_error(sh, a->cmd, "refusing to delete the root");
  struct walk w = {0};
  const char *ep;
  int rc = walk_subtree(sh, path, &w, &ep);
  if (rc != ROOST_OK) {
    int st = walk_status(sh, rc, ep);
    walk_free(&w);
    return st;
  }
  /* Reverse pre-order deletes every child before its parent. */
  size_t deleted = 0;
  for (size_t i = w.n; i-- > 0;) {
    rc = roost_delete(sh->client, w.v[i].path, -1);
    if (rc == ROOST_NONODE) /* someone else deleted it meanwhile */
      continue;
    if (rc != ROOST_OK) {
      shell_print_error(sh, rc, w.v[i].path, NULL);
      walk_free(&w);
      return SHELL_ERR;
    }
    deleted++;
  }
  walk_free(&w);
  if (sh->json) {
    struct sbuf b;
    struct jw j;
    json_begin(&j, &b, "deleteall");
    jw_key(&j, "path");
    jw_str(&j, path);
    jw_key(&j, "deleted");
    jw_i64(&j, (int64_t)deleted);
    json_end(&j, &b);
  }
  return SHELL_OK;
}

static int cmd_sync(struct shell *sh, struct args *a) {
  int rc = roost_sync(sh->client, a->pos[0]);
  if (rc != ROOST_OK)
    return op_status(sh, rc, a->pos[0]);
  return ok_json(sh, "sync", a->pos[0]);
}

static void perms_text(char *buf, int32_t perms) {
  /* zkCli's letter order, so that getacl output pastes into setacl. */
  size_t o = 0;
  if (perms & ROOST_PERM_CREATE)
    buf[o++] = 'c';
  if (perms & ROOST_PERM_DELETE)
    buf[o++] = 'd';
  if (perms & ROOST_PERM_READ)
    buf[o++] = 'r';
  if (perms & ROOST_PERM_WRITE)
    buf[o++] = 'w';
  if (perms & ROOST_PERM_ADMIN)
    buf[o++] = 'a';
  buf[o] = '\0';
}

static int cmd_getacl(struct shell *sh, struct args *a) {
  const char *path = a->pos[0];
  roost_result *res = NULL;
  int rc = roost_get_acl(sh->client, path, &res);
  if (rc != ROOST_OK)
    return op_status(sh, rc, path);
  struct sbuf b;
  char perms[8];
  if (sh->json) {
    struct jw j;
    json_begin(&j, &b, "getacl");
    jw_key(&j, "path");
    jw_str(&j, path);
    jw_key(&j, "acl");
    jw_arr(&j);
    for (int32_t i = 0; i < res->n_acl; i++) {
      perms_text(perms, res->acl[i].perms);
      jw_obj(&j);
      jw_key(&j, "scheme");
      jw_str(&j, res->acl[i].scheme);
      jw_key(&j, "id");
      jw_str(&j, res->acl[i].id);
      jw_key(&j, "perms");
      jw_str(&j, perms);
      jw_obj_end(&j);
    }
    jw_arr_end(&j);
    if (a->flag['s'])
      stat_json(&j, &res->stat);
    json_end(&j, &b);
  } else {
    sbuf_init(&b);
    for (int32_t i = 0; i < res->n_acl; i++) {
      perms_text(perms, res->acl[i].perms);
      sbuf_printf(&b, "%s:%s:%s\n", res->acl[i].scheme, res->acl[i].id, perms);
    }
    if (a->flag['s'])
      stat_text(&b, &res->stat);
    emit_text(&b);
    sbuf_free(&b);
  }
  roost_result_free(res);
  return SHELL_OK;
}

/* "scheme:id:perms[,...]" as zkCli writes it; the id may itself hold
 * colons (digest:user:hash, ip v6), so the scheme ends at the first colon
 * and the perms start after the last.  Splits text in place. */
static bool parse_acl(char *text, roost_acl *acl, int32_t *n_acl,
                      const char **why) {
  int32_t n = 0;
  char *save = NULL;
  for (char *e = strtok_r(text, ",", &save); e != NULL;
       e = strtok_r(NULL, ",", &save)) {
    char *c1 = strchr(e, ':'), *c2 = strrchr(e, ':');
    if (c1 == NULL || c1 == c2) {
      *why = "each ACL entry is scheme:id:perms";
      return false;
    }
    if (n >= SHELL_MAX_ACL) {
      *why = "too many ACL entries";
      return false;
    }
    *c1 = '\0';
    *c2 = '\0';
    int32_t perms = 0;
    for (const char *p = c2 + 1; *p; p++) {
      switch (*p) {
      case 'c':
        perms |= ROOST_PERM_CREATE;
        break;
      case 'd':
        perms |= ROOST_PERM_DELETE;
        break;
      case 'r':
        perms |= ROOST_PERM_READ;
        break;
      case 'w':
        perms |= ROOST_PERM_WRITE;
        break;
      case 'a':
        perms |= ROOST_PERM_ADMIN;
        break;
      default:
        *why = "perms are letters among c d r w a";
        return false;
      }
    }
    if (e[0] == '\0') {
      *why = "ACL scheme is empty";
      return false;
    }
    acl[n].scheme = e;
    acl[n].id = c1 + 1;
    acl[n].perms = perms;
    n++;
  }
  if (n == 0) {
    *why = "empty ACL";
    return false;
  }
  *n_acl = n;
  return true;
}

static int cmd_setacl(struct shell *sh, struct args *a) {
  const struct cmd *c = a->cmd;
  const char *path = a->pos[0];
  int32_t version = -1;
  int st = parse_version(sh, c, a->val['v'], &version);
  if (st != SHELL_OK)
    return st;
  char *text = strdup(a->pos[1]);
  if (text == NULL)
    return op_status(sh, ROOST_ENOMEM, path);
  roost_acl acl[SHELL_MAX_ACL];
  int32_t n_acl = 0;
  const char *why = NULL;
  if (!parse_acl(text, acl, &n_acl, &why)) {
    free(text);
    return usage_error(sh, c, why);
  }
  roost_result *res = NULL;
  int rc = roost_set_acl(sh->client, path, acl, n_acl, version, &res);
  free(text);
  if (rc != ROOST_OK)
    return op_status(sh, rc, path);
  if (sh->json) {
    struct sbuf b;
    struct jw j;
    json_begin(&j, &b, "setacl");
    jw_key(&j, "path");
    jw_str(&j, path);
    stat_json(&j, &res->stat);
    json_end(&j, &b);
  }
  roost_result_free(res);
  return SHELL_OK;
}

static int cmd_addauth(struct shell *sh, struct args *a) {
  int rc = roost_add_auth(sh->client, a->pos[0], a->pos[1], strlen(a->pos[1]));
  if (rc != ROOST_OK)
    return op_status(sh, rc, NULL);
  return ok_json(sh, "addauth", NULL);
}

/* --------------------------------------------------------------------- */
/* watch: ZooKeeper watches are one-shot, and a change that lands between
 * an event and the re-arm fires nothing.  So the re-arm is asynchronous
 * and its reply (with the node's stat) goes through the same ordered queue
 * as the events: the main thread applies events and replies in server
 * order, keeps what it has shown (exists, czxid, version, cversion), and
 * when a reply's stat is ahead of that, prints the change it missed.
 *
 *   I/O thread                         main thread (cmd_watch)
 *   queue_watch_cb  -- event -->  \
 *                                  evq --> apply: print, mark un-armed
 *   queue_reply_cb  -- reply -->  /        reconcile(stat), mark armed
 */

struct watch_arg {
  struct shell *sh;
  uint32_t gen;
  int kind;
};

/* Replies may use the last few slots so that a flood of events can never
 * leave a re-arm waiting forever for a dropped reply. */
#define SHELL_EVQ_RESERVED 8

static void evq_push(struct shell *sh, const struct shell_event *e) {
  size_t limit = e->reply ? SHELL_EVQ_MAX : SHELL_EVQ_MAX - SHELL_EVQ_RESERVED;
  bool queued = false;
  pthread_mutex_lock(&sh->evq_mu);
  if (sh->evq_len < limit) {
    sh->evq[(sh->evq_head + sh->evq_len) % SHELL_EVQ_MAX] = *e;
    sh->evq_len++;
    queued = true;
  } else {
    sh->evq_dropped++;
  }
  pthread_mutex_unlock(&sh->evq_mu);
  if (!queued)
    free(e->path);
  /* Wake the main thread; a full pipe already means "look". */
  ssize_t wr = write(sh->ev_fd[1], "e", 1);
  (void)wr;
}

static void queue_watch_cb(roost_client *c, int type, const char *path,
                           void *arg) {
  (void)c;
  struct watch_arg *wa = arg;
  if (type != ROOST_EVENT_NOT_WATCHING) {
    struct shell_event e = {.gen = wa->gen, .kind = wa->kind, .type = type};
    e.path = strdup(path);
    if (e.path != NULL)
      evq_push(wa->sh, &e);
  }
  free(wa);
}

/* Whether the request left a watch behind (exists also watches a missing
 * node; getChildren does not). */
static bool watch_was_set(int kind, int err) {
  return err == ROOST_OK || (kind == WATCH_KIND_DATA && err == ROOST_NONODE);
}

static void queue_reply_cb(roost_client *c, const roost_result *res,
                           void *arg) {
  (void)c;
  struct watch_arg *wa = arg;
  struct shell_event e = {
      .gen = wa->gen, .kind = wa->kind, .reply = true, .err = res->err};
  if (res->has_stat)
    e.stat = res->stat;
  struct shell *sh = wa->sh;
  /* Without a watch its callback never runs: release its argument here.
   * With one, the watcher frees it later (it runs after this reply). */
  if (!watch_was_set(wa->kind, res->err))
    free(wa);
  evq_push(sh, &e);
}

/* The SIGINT handler can only reach the shell through a global: it writes
 * one byte to the self-pipe whose write end this holds. */
static volatile sig_atomic_t sigint_fd = -1;

static void on_sigint(int sig) {
  (void)sig;
  int saved = errno;
  if (sigint_fd >= 0) {
    ssize_t wr = write(sigint_fd, "i", 1);
    (void)wr;
  }
  errno = saved;
}

static void drain(int fd) {
  char buf[256];
  while (read(fd, buf, sizeof buf) > 0) {
  }
}

/* Sends one asynchronous arm request; its reply comes through the queue. */
static int arm_watch(struct shell *sh, const char *path, uint32_t gen,
                     int kind) {
  struct watch_arg *wa = malloc(sizeof *wa);
  if (wa == NULL)
    return ROOST_ENOMEM;
  wa->sh = sh;
  wa->gen = gen;
  wa->kind = kind;
  int rc = kind == WATCH_KIND_DATA
               ? roost_exists_async(sh->client, path, queue_watch_cb, wa,
                                    queue_reply_cb, wa)
               : roost_get_children_async(sh->client, path, queue_watch_cb, wa,
                                          queue_reply_cb, wa);
  if (rc != ROOST_OK)
    free(wa); /* neither callback will run */
  return rc;
}

enum { ARM_IDLE, ARM_PENDING, ARM_ARMED };

/* What the user has been shown about the node. */
struct watch_view {
  bool valid; /* false until the first reply */
  bool exists;
  int64_t czxid; /* 0: created, czxid not read yet */
  int32_t version, cversion;
};

struct watch_state {
  struct shell *sh;
  const char *path;
  int data, child; /* ARM_* */
  struct watch_view v;
  int64_t seen, limit;
  bool announced, poll_stdin;
};

static void watch_show(struct watch_state *w, int type) {
  print_event(w->sh, "", type, w->path);
  w->seen++;
}

/* A reply's stat against what was shown: print what happened unseen. */
static void watch_reconcile(struct watch_state *w, bool exists,
                            const roost_stat *st) {
  struct watch_view *v = &w->v;
  if (!v->valid) {
    v->valid = true;
    v->exists = exists;
    if (exists) {
      v->czxid = st->czxid;
      v->version = st->version;
      v->cversion = st->cversion;
    }
    return;
  }
  if (!exists) {
    if (v->exists)
      watch_show(w, ROOST_EVENT_DELETED);
    v->exists = false;
    return;
  }
  bool recreated = v->exists && v->czxid != 0 && v->czxid != st->czxid;
  if (recreated)
    watch_show(w, ROOST_EVENT_DELETED);
  if (!v->exists || recreated) {
    watch_show(w, ROOST_EVENT_CREATED);
    v->exists = true;
    v->version = 0;
    v->cversion = 0;
  }
  v->czxid = st->czxid;
  if (st->version > v->version) {
    watch_show(w, ROOST_EVENT_DATA_CHANGED);
    v->version = st->version;
  }
  if (st->cversion > v->cversion) {
    watch_show(w, ROOST_EVENT_CHILDREN_CHANGED);
    v->cversion = st->cversion;
  }
}

/* Applies one queue entry; returns a roost_err (a failed re-arm). */
static int watch_apply(struct watch_state *w, const struct shell_event *e) {
  struct watch_view *v = &w->v;
  if (e->reply) {
    bool set = watch_was_set(e->kind, e->err);
    if (!set && !(e->kind == WATCH_KIND_CHILD && e->err == ROOST_NONODE))
      return e->err;
    if (e->kind == WATCH_KIND_DATA) {
      w->data = ARM_ARMED;
      if (!w->announced) {
        /* Only now: a script may wait for this line before changing
         * PATH, and the watch is in place. */
        fflush(stdout);
        fprintf(stderr, "watching %s (Ctrl-C%s to stop)\n", w->path,
                w->poll_stdin ? " or end of input" : "");
        w->announced = true;
      }
    } else {
      w->child = set ? ARM_ARMED : ARM_IDLE;
    }
    watch_reconcile(w, e->err == ROOST_OK, &e->stat);
    return ROOST_OK;
  }
  if (e->kind == WATCH_KIND_DATA) {
    w->data = ARM_IDLE;
    switch (e->type) {
    case ROOST_EVENT_CREATED:
      v->exists = true;
      v->czxid = 0;
      v->version = v->cversion = 0;
      break;
    case ROOST_EVENT_DELETED:
      v->exists = false;
      break;
    case ROOST_EVENT_DATA_CHANGED:
      v->version++;
      break;
    default:
      break;
    }
    watch_show(w, e->type);
  } else {
    w->child = ARM_IDLE;
    /* A deletion fires both watches; the data one reports it. */
    if (e->type == ROOST_EVENT_CHILDREN_CHANGED) {
      v->cversion++;
      watch_show(w, e->type);
    }
  }
  return ROOST_OK;
}

static int cmd_watch(struct shell *sh, struct args *a) {
  const char *path = a->pos[0];
  int64_t limit = 0;
  if (a->val['n'] != NULL && (!parse_i64(a->val['n'], &limit) || limit <= 0))
    return usage_error(sh, a->cmd, "COUNT must be a positive number");
  uint32_t gen = ++sh->watch_gen;
  struct watch_state w = {.sh = sh, .path = path, .limit = limit};
  int status = SHELL_OK;

  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  drain(sh->sig_fd[0]);
  sigint_fd = sh->sig_fd[1];
  sigaction(SIGINT, &sa, &old);
  /* The end of stdin stops the watch, unless stdin is the command source
   * (a script) or a COUNT says when to stop. */
  w.poll_stdin = !sh->script && limit == 0;

  for (;;) {
    int rc = ROOST_OK;
    if (w.data == ARM_IDLE) {
      rc = arm_watch(sh, path, gen, WATCH_KIND_DATA);
      w.data = ARM_PENDING;
    }
    /* Children only of a node known to exist, after the first reply. */
    if (rc == ROOST_OK && w.child == ARM_IDLE && w.v.valid && w.v.exists) {
      rc = arm_watch(sh, path, gen, WATCH_KIND_CHILD);
      w.child = ARM_PENDING;
    }
    if (rc != ROOST_OK) {
      status = op_status(sh, rc, path);
      break;
    }
    struct pollfd pf[3] = {{.fd = sh->ev_fd[0], .events = POLLIN},
                           {.fd = sh->sig_fd[0], .events = POLLIN},
                           {.fd = STDIN_FILENO, .events = POLLIN}};
    int n = poll(pf, w.poll_stdin ? 3 : 2, -1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      status = op_status(sh, ROOST_ESYS, path);
      break;
    }
    if (pf[1].revents) {
      drain(sh->sig_fd[0]);
      if (sh->interactive) /* the prompt goes below the echoed ^C */
        fputc('\n', stdout);
      break;
    }
    if (w.poll_stdin && pf[2].revents) {
      char buf[256];
      ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
      if (r <= 0 && !(r < 0 && errno == EINTR))
        break; /* end of input */
    }
    if (!pf[0].revents)
      continue;
    drain(sh->ev_fd[0]);
    bool done = false;
    for (;;) {
      struct shell_event e;
      size_t dropped;
      pthread_mutex_lock(&sh->evq_mu);
      bool have = sh->evq_len > 0;
      if (have) {
        e = sh->evq[sh->evq_head];
        sh->evq_head = (sh->evq_head + 1) % SHELL_EVQ_MAX;
        sh->evq_len--;
      }
      dropped = sh->evq_dropped;
      sh->evq_dropped = 0;
      pthread_mutex_unlock(&sh->evq_mu);
      if (dropped > 0)
        fprintf(stderr, "warning: %zu watch events dropped\n", dropped);
      if (!have)
        break;
      /* Entries of an earlier watch command are stale: skip them. */
      if (e.gen == gen && !done && status == SHELL_OK) {
        rc = watch_apply(&w, &e);
        if (rc != ROOST_OK)
          status = op_status(sh, rc, path);
        if (limit > 0 && w.seen >= limit)
          done = true;
      }
      free(e.path);
    }
    if (done || status != SHELL_OK)
      break;
  }
  sigaction(SIGINT, &old, NULL);
  return status;
}

/* --------------------------------------------------------------------- */
/* addwatch: a persistent (-r: recursive) watch, events printed as they come
 * through the same queue as `watch`, in the server's order. */

enum { WATCH_KIND_PERSIST = 3 };

static void persist_watch_cb(roost_client *c, int type, const char *path,
                             void *arg) {
  (void)c;
  struct watch_arg *wa = arg;
  if (type == ROOST_EVENT_NOT_WATCHING ||
      type == ROOST_EVENT_PERSISTENT_WATCH_REMOVED) {
    free(wa); /* its last call */
    return;
  }
  struct shell_event e = {.gen = wa->gen, .kind = wa->kind, .type = type};
  e.path = strdup(path);
  if (e.path != NULL)
    evq_push(wa->sh, &e);
}

/* Waits for queued events of `gen` and prints them until Ctrl-C, the end
 * of input or `limit` events.  Returns the shell status. */
static int print_events_loop(struct shell *sh, uint32_t gen, int64_t limit,
                             bool poll_stdin) {
  int64_t seen = 0;
  for (;;) {
    struct pollfd pf[3] = {{.fd = sh->ev_fd[0], .events = POLLIN},
                           {.fd = sh->sig_fd[0], .events = POLLIN},
                           {.fd = STDIN_FILENO, .events = POLLIN}};
    int n = poll(pf, poll_stdin ? 3 : 2, -1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return op_status(sh, ROOST_ESYS, NULL);
    if (pf[1].revents) {
      drain(sh->sig_fd[0]);
      if (sh->interactive)
        fputc('\n', stdout);
      return SHELL_OK;
    }
    if (poll_stdin && pf[2].revents) {
      char buf[256];
      ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
      if (r <= 0 && !(r < 0 && errno == EINTR))
        return SHELL_OK;
    }
    if (!pf[0].revents)
      continue;
    drain(sh->ev_fd[0]);
    for (;;) {
      struct shell_event e;
      pthread_mutex_lock(&sh->evq_mu);
      bool have = sh->evq_len > 0;
      if (have) {
        e = sh->evq[sh->evq_head];
        sh->evq_head = (sh->evq_head + 1) % SHELL_EVQ_MAX;
        sh->evq_len--;
      }
      size_t dropped = sh->evq_dropped;
      sh->evq_dropped = 0;
      pthread_mutex_unlock(&sh->evq_mu);
      if (dropped > 0)
        fprintf(stderr, "warning: %zu watch events dropped\n", dropped);
      if (!have)
        break;
      bool mine = e.gen == gen && !e.reply && (limit == 0 || seen < limit);
      if (mine) {
        print_event(sh, "", e.type, e.path);
        seen++;
      }
      free(e.path);
    }
    if (limit > 0 && seen >= limit)
      return SHELL_OK;
  }
}

static int cmd_addwatch(struct shell *sh, struct args *a) {
  const char *path = a->pos[0];
  bool rec = a->flag['r'];
  int64_t limit = 0;
  if (a->val['n'] != NULL && (!parse_i64(a->val['n'], &limit) || limit <= 0))
    return usage_error(sh, a->cmd, "COUNT must be a positive number");
  struct watch_arg *wa = malloc(sizeof *wa);
  if (wa == NULL)
    return op_status(sh, ROOST_ENOMEM, path);
  uint32_t gen = ++sh->watch_gen;
  wa->sh = sh;
  wa->gen = gen;
  wa->kind = WATCH_KIND_PERSIST;
  int mode = rec ? ROOST_WATCH_PERSISTENT_RECURSIVE : ROOST_WATCH_PERSISTENT;
  int rc = roost_add_watch(sh->client, path, mode, persist_watch_cb, wa);
  if (rc != ROOST_OK) {
    free(wa); /* never registered: no call will come */
    return op_status(sh, rc, path);
  }
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  drain(sh->sig_fd[0]);
  sigint_fd = sh->sig_fd[1];
  sigaction(SIGINT, &sa, &old);
  bool poll_stdin = !sh->script && limit == 0;
  fflush(stdout);
  fprintf(stderr, "watching %s%s (Ctrl-C%s to stop)\n", path,
          rec ? " and its subtree" : "", poll_stdin ? " or end of input" : "");
  int status = print_events_loop(sh, gen, limit, poll_stdin);
  sigaction(SIGINT, &old, NULL);
  /* The watch ends with the command; without a connection only locally. */
  int type =
      rec ? ROOST_WATCHER_PERSISTENT_RECURSIVE : ROOST_WATCHER_PERSISTENT;
  rc =
      roost_remove_watches(sh->client, path, type, persist_watch_cb, wa, false);
  if (rc != ROOST_OK && rc != ROOST_NOWATCHER)
    (void)roost_remove_watches(sh->client, path, type, persist_watch_cb, wa,
                               true);
  return status;
}

static int parse_watcher_type(const char *s) {
  static const struct {
    const char *name;
    int type;
  } t[] = {{"children", ROOST_WATCHER_CHILDREN},
           {"data", ROOST_WATCHER_DATA},
           {"any", ROOST_WATCHER_ANY},
           {"persistent", ROOST_WATCHER_PERSISTENT},
           {"recursive", ROOST_WATCHER_PERSISTENT_RECURSIVE}};
  if (s == NULL)
    return ROOST_WATCHER_ANY;
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (strcmp(s, t[i].name) == 0)
      return t[i].type;
  return -1;
}

static int cmd_removewatches(struct shell *sh, struct args *a) {
  const char *path = a->pos[0];
  int type = parse_watcher_type(a->val['t']);
  if (type < 0)
    return usage_error(sh, a->cmd,
                       "TYPE is children, data, any, persistent or recursive");
  int rc =
      roost_remove_watches(sh->client, path, type, NULL, NULL, a->flag['l']);
  if (rc != ROOST_OK)
    return op_status(sh, rc, path);
  return ok_json(sh, "removewatches", path);
}

static int cmd_getephemerals(struct shell *sh, struct args *a) {
  const char *prefix = a->n_pos > 0 ? a->pos[0] : "/";
  roost_result *res = NULL;
  int rc = roost_get_ephemerals(sh->client, prefix, &res);
  if (rc != ROOST_OK)
    return op_status(sh, rc, prefix);
  shell_sort_names(res->children, (size_t)res->n_children);
  struct sbuf b;
  if (sh->json) {
    struct jw j;
    json_begin(&j, &b, "getephemerals");
    jw_key(&j, "prefix");
    jw_str(&j, prefix);
    jw_key(&j, "paths");
    jw_arr(&j);
    for (int32_t i = 0; i < res->n_children; i++)
      jw_str(&j, res->children[i]);
    jw_arr_end(&j);
    json_end(&j, &b);
  } else {
    sbuf_init(&b);
    for (int32_t i = 0; i < res->n_children; i++)
      sbuf_printf(&b, "%s\n", res->children[i]);
    emit_text(&b);
    sbuf_free(&b);
  }
  roost_result_free(res);
  return SHELL_OK;
}

/* reconfig: ZooKeeper's dynamic reconfiguration (zkCli's -add/-remove/
 * -members/-v as -a/-r/-m/-v); prints the new configuration. */
static int cmd_reconfig(struct shell *sh, struct args *a) {
  const char *add = a->val['a'], *rm = a->val['r'], *mem = a->val['m'];
  if (!add && !rm && !mem)
    return usage_error(sh, a->cmd, "reconfig: -a, -r or -m is needed");
  int64_t from = -1;
  if (a->val['v']) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(a->val['v'], &end, 16);
    if (errno || end == a->val['v'] || *end)
      return usage_error(sh, a->cmd, "reconfig: -v takes a hex version");
    from = (int64_t)v;
  }
  roost_result *res = NULL;
  int rc = roost_reconfig(sh->client, add, rm, mem, from, &res);
  if (rc != ROOST_OK)
    return op_status(sh, rc, "/zookeeper/config");
  struct sbuf b;
  if (sh->json) {
    struct jw j;
    json_begin(&j, &b, "reconfig");
    data_render_json(&j, res->data, res->data_len);
    stat_json(&j, &res->stat);
    json_end(&j, &b);
  } else {
    sbuf_init(&b);
    sbuf_printf(&b, "Committed new configuration:\n");
    data_render_text(&b, res->data, res->data_len);
    emit_text(&b);
    sbuf_free(&b);
  }
  roost_result_free(res);
  return SHELL_OK;
}

static int cmd_whoami(struct shell *sh, struct args *a) {
  (void)a;
  roost_result *res = NULL;
  int rc = roost_whoami(sh->client, &res);
  if (rc != ROOST_OK)
    return op_status(sh, rc, NULL);
  struct sbuf b;
  if (sh->json) {
    struct jw j;
    json_begin(&j, &b, "whoami");
    jw_key(&j, "identities");
    jw_arr(&j);
    for (int32_t i = 0; i < res->n_acl; i++) {
      jw_obj(&j);
      jw_key(&j, "scheme");
      jw_str(&j, res->acl[i].scheme);
      jw_key(&j, "id");
      jw_str(&j, res->acl[i].id);
      jw_obj_end(&j);
    }
    jw_arr_end(&j);
    json_end(&j, &b);
  } else {
    sbuf_init(&b);
    for (int32_t i = 0; i < res->n_acl; i++)
      sbuf_printf(&b, "%s %s\n", res->acl[i].scheme, res->acl[i].id);
    emit_text(&b);
    sbuf_free(&b);
  }
  roost_result_free(res);
  return SHELL_OK;
}

/* --------------------------------------------------------------------- */
/* services: /services/<name>/<instance>, each payload read by libroost's
 * instance parser (roost_instance_parse: roost-agent's JSON with health,
 * Curator's ServiceInstance, libroost's {"host","port"}, or "host:port");
 * an instance without health data is passing while its node lives. */

struct inst_row {
  char service[256];
  char instance[256];
  char address[320];
  char status[16];
  char tags[256];
};

/* host, port (decimal text, "" if none) and tags ("a,b", "" if none). */
static void instance_fields(const roost_instance *in, char *host,
                            size_t host_n, char *port, size_t port_n,
                            char *tags, size_t tags_n) {
  snprintf(host, host_n, "%s", in->address ? in->address : "");
  if (in->port > 0)
    snprintf(port, port_n, "%d", (int)in->port);
  else
    port[0] = '\0';
  size_t used = 0;
  tags[0] = '\0';
  for (size_t t = 0; t < in->n_tags && used + 1 < tags_n; t++) {
    int k = snprintf(tags + used, tags_n - used, "%s%s", t ? "," : "",
                     in->tags[t]);
    if (k < 0)
      break;
    used += (size_t)k;
  }
}

static int cmd_services(struct shell *sh, struct args *a) {
  (void)a;
  const char *root = "/services";
  roost_result *svc = NULL;
  int rc = roost_get_children(sh->client, root, NULL, NULL, &svc);
  if (rc != ROOST_OK && rc != ROOST_NONODE)
    return op_status(sh, rc, root);
  int32_t n_svc = svc ? svc->n_children : 0;
  if (svc)
    shell_sort_names(svc->children, (size_t)n_svc);

  struct sbuf b;
  struct jw j;
  struct inst_row *rows = NULL;
  size_t n_rows = 0, cap_rows = 0;
  int status = SHELL_OK;
  if (sh->json) {
    json_begin(&j, &b, "services");
    jw_key(&j, "services");
    jw_arr(&j);
  }
  for (int32_t s = 0; s < n_svc && status == SHELL_OK; s++) {
    const char *name = svc->children[s];
    char *spath = path_join(root, name);
    roost_result *ins = NULL;
    rc = spath ? roost_get_children(sh->client, spath, NULL, NULL, &ins)
               : ROOST_ENOMEM;
    if (rc == ROOST_NONODE) { /* removed while we looked */
      free(spath);
      continue;
    }
    if (rc != ROOST_OK) {
      status = op_status(sh, rc, spath);
      free(spath);
      break;
    }
    shell_sort_names(ins->children, (size_t)ins->n_children);
    if (sh->json) {
      jw_obj(&j);
      jw_key(&j, "name");
      jw_str(&j, name);
      jw_key(&j, "instances");
      jw_arr(&j);
    }
    int32_t shown = 0;
    for (int32_t i = 0; i < ins->n_children; i++) {
      char *ipath = path_join(spath, ins->children[i]);
      roost_result *d = NULL;
      rc = ipath ? roost_get(sh->client, ipath, NULL, NULL, &d) : ROOST_ENOMEM;
      if (rc == ROOST_NONODE) { /* an instance went away meanwhile */
        free(ipath);
        continue;
      }
      if (rc != ROOST_OK) {
        status = op_status(sh, rc, ipath);
        free(ipath);
        break;
      }
      roost_instance in;
      memset(&in, 0, sizeof in);
      if (roost_instance_parse(d->data, d->data_len > 0 ? (size_t)d->data_len
                                                         : 0,
                               &in) != ROOST_OK) {
        status = op_status(sh, ROOST_ENOMEM, ipath);
        roost_result_free(d);
        free(ipath);
        break;
      }
      char host[256], port[32], tags[256];
      instance_fields(&in, host, sizeof host, port, sizeof port, tags,
                      sizeof tags);
      const char *health = roost_health_name(in.status);
      if (sh->json) {
        jw_obj(&j);
        jw_key(&j, "instance");
        jw_str(&j, ins->children[i]);
        jw_key(&j, "path");
        jw_str(&j, ipath);
        jw_key(&j, "host");
        host[0] ? jw_str(&j, host) : jw_null(&j);
        jw_key(&j, "port");
        int64_t pv;
        if (port[0] && parse_i64(port, &pv))
          jw_i64(&j, pv);
        else
          port[0] ? jw_str(&j, port) : jw_null(&j);
        jw_key(&j, "status");
        jw_str(&j, health);
        jw_key(&j, "tags");
        jw_arr(&j);
        for (size_t t = 0; t < in.n_tags; t++)
          jw_str(&j, in.tags[t]);
        jw_arr_end(&j);
        data_render_json(&j, d->data, d->data_len);
        jw_obj_end(&j);
      } else {
        if (n_rows == cap_rows) {
          size_t nc = cap_rows ? cap_rows * 2 : 16;
          struct inst_row *nr = realloc(rows, nc * sizeof *nr);
          if (nr == NULL) {
            status = op_status(sh, ROOST_ENOMEM, ipath);
            roost_instance_clear(&in);
            roost_result_free(d);
            free(ipath);
            break;
          }
          rows = nr;
          cap_rows = nc;
        }
        struct inst_row *r = &rows[n_rows++];
        snprintf(r->service, sizeof r->service, "%s", name);
        snprintf(r->instance, sizeof r->instance, "%s", ins->children[i]);
        /* An IPv6 literal gets brackets so the port stays readable. */
        bool v6 = strchr(host, ':') != NULL;
        if (host[0] || port[0])
          snprintf(r->address, sizeof r->address, "%s%s%s:%s", v6 ? "[" : "",
                   host[0] ? host : "?", v6 ? "]" : "", port[0] ? port : "?");
        else
          snprintf(r->address, sizeof r->address, "-");
        snprintf(r->status, sizeof r->status, "%s", health);
        snprintf(r->tags, sizeof r->tags, "%s", tags[0] ? tags : "-");
      }
      shown++;
      roost_instance_clear(&in);
      roost_result_free(d);
      free(ipath);
    }
    if (sh->json) {
      jw_arr_end(&j);
      jw_obj_end(&j);
    } else if (shown == 0 && status == SHELL_OK) {
      /* A service with no live instance still gets a row. */
      if (n_rows == cap_rows) {
        size_t nc = cap_rows ? cap_rows * 2 : 16;
        struct inst_row *nr = realloc(rows, nc * sizeof *nr);
        if (nr != NULL) {
          rows = nr;
          cap_rows = nc;
        }
      }
      if (n_rows < cap_rows) {
        struct inst_row *r = &rows[n_rows++];
        snprintf(r->service, sizeof r->service, "%s", name);
        snprintf(r->instance, sizeof r->instance, "(none)");
        snprintf(r->address, sizeof r->address, "-");
        snprintf(r->status, sizeof r->status, "-");
        snprintf(r->tags, sizeof r->tags, "-");
      }
    }
    roost_result_free(ins);
    free(spath);
  }
  roost_result_free(svc);
  if (sh->json) {
    if (status == SHELL_OK) {
      jw_arr_end(&j);
      json_end(&j, &b);
    } else {
      sbuf_free(&b);
    }
    return status;
  }
  if (status == SHELL_OK) {
    int ws = 7, wi = 8, wa = 7, wh = 6;
    for (size_t i = 0; i < n_rows; i++) {
      int l = (int)strlen(rows[i].service);
      ws = l > ws ? l : ws;
      l = (int)strlen(rows[i].instance);
      wi = l > wi ? l : wi;
      l = (int)strlen(rows[i].address);
      wa = l > wa ? l : wa;
      l = (int)strlen(rows[i].status);
      wh = l > wh ? l : wh;
    }
    sbuf_init(&b);
    if (n_rows == 0) {
      sbuf_adds(&b, "no services under /services\n");
    } else {
      sbuf_printf(&b, "%-*s  %-*s  %-*s  %-*s  %s\n", ws, "SERVICE", wi,
                  "INSTANCE", wa, "ADDRESS", wh, "STATUS", "TAGS");
      for (size_t i = 0; i < n_rows; i++)
        sbuf_printf(&b, "%-*s  %-*s  %-*s  %-*s  %s\n", ws, rows[i].service,
                    wi, rows[i].instance, wa, rows[i].address, wh,
                    rows[i].status, rows[i].tags);
    }
    emit_text(&b);
    sbuf_free(&b);
  }
  free(rows);
  return status;
}

static int cmd_help(struct shell *sh, struct args *a);

static int cmd_quit(struct shell *sh, struct args *a) {
  (void)a;
  ok_json(sh, "quit", NULL);
  return SHELL_QUIT;
}

/* ====================================================================== */
/* The table */

static const struct cmd commands[] = {
    {"connect", cmd_connect, "", "", 1, 1, false, "connect HOSTS",
     "connect to host:port[,host:port...][/chroot]"},
    {"ls", cmd_ls, "Rws", "", 1, 1, true, "ls [-R] [-w] [-s] PATH",
     "list children (-R: the whole subtree, -w: watch, -s: stat)"},
    {"tree", cmd_tree, "", "", 1, 1, true, "tree PATH",
     "print the subtree, indented"},
    {"get", cmd_get, "sw", "", 1, 1, true, "get [-s] [-w] PATH",
     "print the data (text, pretty JSON or hexdump)"},
    {"stat", cmd_stat, "w", "", 1, 1, true, "stat [-w] PATH",
     "print the node's stat"},
    {"create", cmd_create, "esc", "t", 1, 2, true,
     "create [-e] [-s] [-c] [-t TTL] PATH [DATA]",
     "create a node (-e ephemeral, -s sequential, -c container, -t TTL ms)"},
    {"set", cmd_set, "s", "v", 2, 2, true, "set [-s] [-v VERSION] PATH DATA",
     "replace the data (-v: only at that version)"},
    {"delete", cmd_delete, "", "v", 1, 1, true, "delete [-v VERSION] PATH",
     "delete a node without children"},
    {"deleteall", cmd_deleteall, "", "", 1, 1, true, "deleteall PATH",
     "delete a node and its whole subtree"},
    {"sync", cmd_sync, "", "", 1, 1, true, "sync PATH",
     "bring the server up to date with the leader"},
    {"getacl", cmd_getacl, "s", "", 1, 1, true, "getacl [-s] PATH",
     "print the ACL as scheme:id:perms lines"},
    {"setacl", cmd_setacl, "", "v", 2, 2, true, "setacl [-v VERSION] PATH ACL",
     "set the ACL, e.g. world:anyone:r,digest:user:hash:cdrwa,auth::cdrwa"},
    {"addauth", cmd_addauth, "", "", 2, 2, true, "addauth SCHEME AUTH",
     "add an identity, e.g. addauth digest user:password"},
    {"watch", cmd_watch, "", "n", 1, 1, true, "watch [-n COUNT] PATH",
     "print events on PATH as they come (Ctrl-C stops)"},
    {"addwatch", cmd_addwatch, "r", "n", 1, 1, true,
     "addwatch [-r] [-n COUNT] PATH",
     "persistent watch (-r: PATH and its subtree): print every event"},
    {"removewatches", cmd_removewatches, "l", "t", 1, 1, true,
     "removewatches [-t TYPE] [-l] PATH",
     "remove this shell's watches on PATH (TYPE: children, data, any, "
     "persistent, recursive; -l: locally only)"},
    {"getephemerals", cmd_getephemerals, "", "", 0, 1, true,
     "getephemerals [PREFIX]", "this session's ephemeral nodes"},
    {"whoami", cmd_whoami, "", "", 0, 0, true, "whoami",
     "the identities of this connection"},
    {"reconfig", cmd_reconfig, "", "armv", 0, 0, true,
     "reconfig [-a SERVERS] [-r IDS] [-m SERVERS] [-v VERSION]",
     "change the ensemble's membership (-a add server.N=..., -r remove ids, "
     "-m the whole new list, -v only from that hex config version)"},
    {"services", cmd_services, "", "", 0, 0, true, "services",
     "list every service under /services with its instances"},
    {"help", cmd_help, "", "", 0, 1, false, "help [COMMAND]", "this list"},
    {"quit", cmd_quit, "", "", 0, 0, false, "quit", "leave the shell"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

const char *const *shell_command_names(void) {
  static const char *names[N_COMMANDS + 2];
  if (names[0] == NULL) {
    for (size_t i = 0; i < N_COMMANDS; i++)
      names[i] = commands[i].name;
    names[N_COMMANDS] = "exit"; /* alias of quit */
  }
  return names;
}

static int cmd_help(struct shell *sh, struct args *a) {
  const char *only = a->n_pos > 0 ? a->pos[0] : NULL;
  struct sbuf b;
  struct jw j;
  bool found = only == NULL;
  if (sh->json) {
    json_begin(&j, &b, "help");
    jw_key(&j, "commands");
    jw_arr(&j);
  } else {
    sbuf_init(&b);
  }
  for (size_t i = 0; i < N_COMMANDS; i++) {
    const struct cmd *c = &commands[i];
    if (only != NULL && strcmp(only, c->name) != 0)
      continue;
    found = true;
    if (sh->json) {
      jw_obj(&j);
      jw_key(&j, "name");
      jw_str(&j, c->name);
      jw_key(&j, "usage");
      jw_str(&j, c->usage);
      jw_key(&j, "help");
      jw_str(&j, c->help);
      jw_obj_end(&j);
    } else {
      sbuf_printf(&b, "  %-44s %s\n", c->usage, c->help);
    }
  }
  if (!found) {
    sbuf_free(&b);
    return usage_error(sh, NULL, "no such command");
  }
  if (sh->json) {
    jw_arr_end(&j);
    json_end(&j, &b);
  } else {
    if (only == NULL)
      sbuf_adds(&b, "Data shows as text, pretty JSON, or a hexdump. "
                    "Paths complete with TAB.\n"
                    "Each server also serves, on admin.serverPort (8080): "
                    "a web console at /,\nZooKeeper's AdminServer "
                    "commands at /commands and Prometheus metrics at\n"
                    "/metrics (docs/admin.md).\n");
    emit_text(&b);
    sbuf_free(&b);
  }
  return SHELL_OK;
}

/* Options come first; the first word that is not an option (or "--")
 * starts the positional arguments, so DATA may begin with '-'. */
static int parse_args(struct shell *sh, const struct cmd *c, int argc,
                      char **argv, struct args *a) {
  memset(a, 0, sizeof *a);
  a->cmd = c;
  int i = 1;
  for (; i < argc; i++) {
    const char *w = argv[i];
    if (strcmp(w, "--") == 0) {
      i++;
      break;
    }
    if (w[0] != '-' || w[1] == '\0')
      break;
    for (const char *p = w + 1; *p; p++) {
      unsigned char o = (unsigned char)*p;
      if (o < 128 && strchr(c->flags, o) != NULL) {
        a->flag[o] = true;
      } else if (o < 128 && strchr(c->valued, o) != NULL) {
        if (p[1] != '\0') {
          a->val[o] = p + 1;
        } else if (i + 1 < argc) {
          a->val[o] = argv[++i];
        } else {
          char why[64];
          snprintf(why, sizeof why, "option -%c needs a value", o);
          return usage_error(sh, c, why);
        }
        break;
      } else {
        char why[64];
        snprintf(why, sizeof why, "unknown option -%c", o);
        return usage_error(sh, c, why);
      }
    }
  }
  a->pos = argv + i;
  a->n_pos = argc - i;
  if (a->n_pos < c->min_pos)
    return usage_error(sh, c, "missing argument");
  if (a->n_pos > c->max_pos)
    return usage_error(sh, c, "too many arguments (quote DATA with spaces)");
  return SHELL_OK;
}

int shell_run(struct shell *sh, int argc, char **argv) {
  if (argc == 0)
    return SHELL_OK;
  const char *name = argv[0];
  if (strcmp(name, "exit") == 0)
    name = "quit";
  const struct cmd *c = NULL;
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0)
      c = &commands[i];
  if (c == NULL) {
    char why[128];
    snprintf(why, sizeof why, "unknown command '%.64s'", argv[0]);
    return usage_error(sh, NULL, why);
  }
  struct args a;
  int st = parse_args(sh, c, argc, argv, &a);
  if (st != SHELL_OK)
    return st;
  /* Path commands accept a trailing '/' (what TAB completion leaves after
   * a node with children); ZooKeeper itself would reject it. */
  if (c->needs_client && c->min_pos > 0 && a.n_pos > 0 &&
      strcmp(c->name, "addauth") != 0) {
    char *p = a.pos[0];
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
      p[--n] = '\0';
  }
  if (c->needs_client && sh->client == NULL) {
    st = shell_connect(sh, sh->hosts, true);
    if (st != SHELL_OK)
      return st;
  }
  return c->fn(sh, &a);
}

/* ====================================================================== */
/* Words */

int shell_split(const char *line, int *argc, char ***argv) {
  char **v = calloc(SHELL_MAX_WORDS + 1, sizeof *v);
  if (v == NULL)
    return SHELL_ERR;
  int n = 0;
  const char *p = line;
  struct sbuf w;
  sbuf_init(&w);
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
      p++;
    if (*p == '\0')
      break;
    if (n == SHELL_MAX_WORDS)
      goto bad;
    sbuf_reset(&w);
    sbuf_add(&w, "", 0); /* an empty '' word is still a word */
    while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
      if (*p == '\'') {
        const char *e = strchr(p + 1, '\'');
        if (e == NULL)
          goto bad;
        sbuf_add(&w, p + 1, (size_t)(e - p - 1));
        p = e + 1;
      } else if (*p == '"') {
        p++;
        while (*p != '"') {
          if (*p == '\0')
            goto bad;
          if (*p == '\\' && p[1] != '\0') {
            p++;
            sbuf_addc(&w, *p == 'n' ? '\n' : *p == 't' ? '\t' : *p);
          } else {
            sbuf_addc(&w, *p);
          }
          p++;
        }
        p++;
      } else if (*p == '\\' && p[1] != '\0') {
        sbuf_addc(&w, p[1]);
        p += 2;
      } else {
        sbuf_addc(&w, *p++);
      }
    }
    if (w.failed)
      goto bad;
    v[n] = strdup(w.p);
    if (v[n] == NULL)
      goto bad;
    n++;
  }
  sbuf_free(&w);
  *argc = n;
  *argv = v;
  return SHELL_OK;
bad:
  sbuf_free(&w);
  shell_free_words(n, v);
  return SHELL_USAGE;
}

void shell_free_words(int argc, char **argv) {
  if (argv == NULL)
    return;
  for (int i = 0; i < argc; i++)
    free(argv[i]);
  free(argv);
}

/* ====================================================================== */
/* Connection and lifetime */

/* Session events arrive on the I/O thread; only the ones a user must know
 * about are shown (a new session means ephemerals and watches are gone). */
static void on_session(roost_client *c, int event, void *arg) {
  (void)c;
  struct shell *sh = arg;
  if (event == ROOST_SESSION_EXPIRED)
    fprintf(stderr, "session expired: starting a new session "
                    "(ephemeral nodes and watches are gone)\n");
  else if (event == ROOST_SESSION_AUTH_FAILED)
    fprintf(stderr, "authentication failed: the server refused the "
                    "identity\n");
  else if (event == ROOST_SESSION_DISCONNECTED && sh->interactive)
    fprintf(stderr, "disconnected; reconnecting\n");
}

int shell_connect(struct shell *sh, const char *hosts, bool quiet) {
  roost_options o;
  roost_options_init(&o);
  o.session_timeout_ms = sh->timeout_ms;
  o.session_cb = on_session;
  o.session_arg = sh;
  /* A shell should keep working after an expiry; it says so on stderr. */
  o.renew_session_on_expiry = true;
  /* ...and after a refused addauth (zkCli's session would be dead). */
  o.auth_failed_reconnect = true;
  o.tls = sh->tls;
  o.tls_ca = sh->tls_ca;
  o.tls_cert = sh->tls_cert;
  o.tls_key = sh->tls_key;
  o.tls_key_password = sh->tls_key_password;
  o.tls_no_hostname_verification = sh->tls_no_verify;
  roost_client *c = NULL;
  int rc = roost_client_new(hosts, &o, &c);
  if (rc != ROOST_OK) {
    char why[512];
    if ((rc == ROOST_ETLS || rc == ROOST_EINVAL) &&
        roost_tls_check(&o, why, sizeof why) != ROOST_OK) {
      shell_print_error(sh, rc, NULL, why);
      return SHELL_USAGE;
    }
    shell_print_error(sh, rc, NULL, NULL);
    return rc == ROOST_ECONNSTR ? SHELL_USAGE : SHELL_ERR;
  }
  char *h = strdup(hosts);
  if (h == NULL) {
    roost_client_close(c);
    return op_status(sh, ROOST_ENOMEM, NULL);
  }
  rc = roost_client_wait_connected(c, sh->timeout_ms);
  if (rc != ROOST_OK && !sh->interactive) {
    char msg[768], tls[256];
    size_t tl = roost_client_tls_error(c, tls, sizeof tls);
    snprintf(msg, sizeof msg, "could not connect to %.400s (%s%s%s)", hosts,
             roost_strerror(rc), tl > 0 ? "; TLS: " : "", tl > 0 ? tls : "");
    shell_print_error(sh, rc, NULL, msg);
    roost_client_close(c);
    free(h);
    return SHELL_ERR;
  }
  if (sh->client != NULL)
    roost_client_close(sh->client);
  sh->client = c;
  free(sh->hosts); /* may be what hosts points to: use h from here on */
  sh->hosts = h;
  hosts = h;
  if (rc != ROOST_OK) {
    /* Interactive: keep the client, it keeps trying in the background. */
    fprintf(stderr, "not connected to %s yet (%s); still trying\n", hosts,
            roost_strerror(rc));
    return SHELL_OK;
  }
  if (quiet)
    return SHELL_OK;
  if (sh->json) {
    struct sbuf b;
    struct jw j;
    char sid[32];
    snprintf(sid, sizeof sid, "0x%" PRIx64,
             (uint64_t)roost_client_session_id(c));
    json_begin(&j, &b, "connect");
    jw_key(&j, "hosts");
    jw_str(&j, hosts);
    jw_key(&j, "session_id");
    jw_str(&j, sid);
    jw_key(&j, "timeout_ms");
    jw_i64(&j, roost_client_session_timeout(c));
    json_end(&j, &b);
  } else {
    fprintf(stderr, "connected to %s, session 0x%" PRIx64 ", timeout %d ms\n",
            hosts, (uint64_t)roost_client_session_id(c),
            (int)roost_client_session_timeout(c));
  }
  return SHELL_OK;
}

int shell_init(struct shell *sh) {
  memset(sh, 0, sizeof *sh);
  sh->timeout_ms = 10000;
  sh->sig_fd[0] = sh->sig_fd[1] = sh->ev_fd[0] = sh->ev_fd[1] = -1;
  if (pipe2(sh->sig_fd, O_CLOEXEC | O_NONBLOCK) != 0)
    return SHELL_ERR;
  if (pipe2(sh->ev_fd, O_CLOEXEC | O_NONBLOCK) != 0) {
    close(sh->sig_fd[0]);
    close(sh->sig_fd[1]);
    return SHELL_ERR;
  }
  pthread_mutex_init(&sh->evq_mu, NULL);
  sh->hosts = strdup("127.0.0.1:2181");
  return sh->hosts != NULL ? SHELL_OK : SHELL_ERR;
}

void shell_destroy(struct shell *sh) {
  /* Close first: pending watchers run (NOT_WATCHING) and free their
   * arguments while the queue still exists. */
  if (sh->client != NULL)
    roost_client_close(sh->client);
  sh->client = NULL;
  for (size_t i = 0; i < sh->evq_len; i++)
    free(sh->evq[(sh->evq_head + i) % SHELL_EVQ_MAX].path);
  sh->evq_len = 0;
  pthread_mutex_destroy(&sh->evq_mu);
  sigint_fd = -1;
  for (int i = 0; i < 2; i++) {
    if (sh->sig_fd[i] >= 0)
      close(sh->sig_fd[i]);
    if (sh->ev_fd[i] >= 0)
      close(sh->ev_fd[i]);
  }
  free(sh->hosts);
}

void shell_install_sigint(struct shell *sh) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigint_fd = sh->sig_fd[1];
  sigaction(SIGINT, &sa, NULL);
}
