/* roost.c — `roost`, a shell for Roost and Apache ZooKeeper trees.
 *
 *   roost [-s HOSTS] [--json] [-k] [-t MS]                interactive
 *   roost [-s HOSTS] [--json] [-t MS] COMMAND ARGS...     one command
 *   ... | roost [-s HOSTS] [--json] [-k] [-t MS]          a script on stdin
 *
 * Exit status: 0 ok, 1 an operation failed, 2 usage.  The commands live in
 * shell_cmd.c; this file picks the mode and runs the line editor (libedit)
 * with history and TAB completion of commands and of paths from the live
 * tree.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <histedit.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "proto/proto.h"
#include "tools/shell_int.h"

/* Bounds: a script line, the completion candidates shown, the history. */
#define SHELL_MAX_LINE_BYTES (1u << 20)
#define SHELL_HISTORY_SIZE 1000

static void usage(FILE *f) {
  fprintf(f,
          "usage: roost [-s HOSTS] [--json] [-k] [-t MS] [COMMAND ARGS...]\n"
          "  -s HOSTS     host:port[,host:port...][/chroot] "
          "(default $ROOST_HOSTS or 127.0.0.1:2181)\n"
          "  --json       print every result as one JSON object per line\n"
          "  -k           with commands on stdin: keep going after an error\n"
          "  -t MS        session timeout and connect wait (default 10000)\n"
          "  --tls        connect with TLS (a secure client port); also\n"
          "               --ca FILE (trusted CAs, PEM or PKCS12; default the\n"
          "               system's), --cert FILE and --key FILE (client\n"
          "               certificate, PEM), --key-password PW,\n"
          "               --no-hostname-verification\n"
          "With COMMAND, run it and exit (0 ok, 1 failed, 2 usage); without,\n"
          "read commands from stdin when it is not a terminal, else start\n"
          "the interactive shell.  Type 'help' for the commands.\n"
          "  --version    print the version and exit\n"
          "The manual: roost(1).\n");
}

/* Runs one line; blank lines and # comments are skipped. */
static int run_line(struct shell *sh, const char *line) {
  const char *p = line;
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p == '\0' || *p == '\n' || *p == '#')
    return SHELL_OK;
  int argc;
  char **argv;
  int st = shell_split(p, &argc, &argv);
  if (st == SHELL_USAGE) {
    if (sh->json)
      printf("{\"error\":\"USAGE\",\"code\":2,\"message\":\"unterminated "
             "quote or more than %d words\"}\n",
             SHELL_MAX_WORDS);
    else
      fprintf(stderr, "unterminated quote or more than %d words\n",
              SHELL_MAX_WORDS);
    fflush(stdout);
    return st;
  }
  if (st != SHELL_OK)
    return st;
  st = shell_run(sh, argc, argv);
  shell_free_words(argc, argv);
  return st;
}

/* ====================================================================== */
/* Script mode: one command per line from a non-terminal stdin. */

static int run_script(struct shell *sh, bool keep_going) {
  char *line = NULL;
  size_t cap = 0;
  int worst = SHELL_OK;
  ssize_t n;
  while ((n = getline(&line, &cap, stdin)) >= 0) {
    int st;
    if ((size_t)n > SHELL_MAX_LINE_BYTES) {
      fprintf(stderr, "line longer than %u bytes\n", SHELL_MAX_LINE_BYTES);
      st = SHELL_USAGE;
    } else {
      st = run_line(sh, line);
    }
    if (st == SHELL_QUIT)
      break;
    if (st != SHELL_OK) {
      worst = st;
      if (!keep_going)
        break;
    }
  }
  free(line);
  return worst;
}

/* ====================================================================== */
/* Interactive mode */

struct repl {
  struct shell *sh;
  EditLine *el;
  History *hist;
  char prompt[320];
  char history_path[4096];
};

static char *prompt_fn(EditLine *el) {
  struct repl *r = NULL;
  el_get(el, EL_CLIENTDATA, &r);
  const char *state = "";
  if (r->sh->client == NULL)
    state = " [not connected]";
  else if (roost_client_state(r->sh->client) != ROOST_STATE_CONNECTED &&
           roost_client_state(r->sh->client) != ROOST_STATE_READ_ONLY)
    state = " [connecting]";
  snprintf(r->prompt, sizeof r->prompt, "roost %.256s%s> ", r->sh->hosts,
           state);
  return r->prompt;
}

struct cands {
  char **v;
  size_t n;
};

static void cands_free(struct cands *c) {
  for (size_t i = 0; i < c->n; i++)
    free(c->v[i]);
  free(c->v);
}

/* Longest common prefix length of all candidates. */
static size_t common_prefix(const struct cands *c) {
  size_t len = strlen(c->v[0]);
  for (size_t i = 1; i < c->n; i++) {
    size_t k = 0;
    while (k < len && c->v[i][k] == c->v[0][k])
      k++;
    len = k;
  }
  return len;
}

/* TAB: the first word completes among the commands, a word starting with
 * '/' completes its last component among the children of its parent (read
 * from the server now, so the list is the live tree). */
static unsigned char complete_fn(EditLine *el, wint_t ch) {
  (void)ch;
  struct repl *r = NULL;
  el_get(el, EL_CLIENTDATA, &r);
  struct shell *sh = r->sh;
  const LineInfo *li = el_line(el);
  const char *start = li->cursor;
  while (start > li->buffer && !isspace((unsigned char)start[-1]))
    start--;
  bool first_word = true;
  for (const char *p = li->buffer; p < start; p++)
    if (!isspace((unsigned char)*p))
      first_word = false;
  size_t wlen = (size_t)(li->cursor - start);
  char word[1024];
  if (wlen >= sizeof word)
    return CC_ERROR;
  memcpy(word, start, wlen);
  word[wlen] = '\0';

  struct cands c = {0};
  const char *prefix = word; /* the part the candidates must start with */
  char parent[1024] = "";
  roost_result *res = NULL;
  if (first_word) {
    const char *const *names = shell_command_names();
    size_t total = 0;
    while (names[total] != NULL)
      total++;
    c.v = calloc(total, sizeof *c.v);
    for (size_t i = 0; c.v != NULL && i < total; i++)
      if (strncmp(names[i], word, wlen) == 0)
        c.v[c.n++] = strdup(names[i]);
  } else if (word[0] == '/' && sh->client != NULL) {
    char *slash = strrchr(word, '/');
    size_t plen = (size_t)(slash - word);
    if (plen == 0) {
      strcpy(parent, "/");
    } else {
      memcpy(parent, word, plen);
      parent[plen] = '\0';
    }
    prefix = slash + 1;
    if (roost_get_children(sh->client, parent, NULL, NULL, &res) != ROOST_OK)
      goto none;
    shell_sort_names(res->children, (size_t)res->n_children);
    c.v = calloc((size_t)res->n_children + 1, sizeof *c.v);
    size_t pl = strlen(prefix);
    for (int32_t i = 0; c.v != NULL && i < res->n_children; i++)
      if (strncmp(res->children[i], prefix, pl) == 0)
        c.v[c.n++] = strdup(res->children[i]);
    roost_result_free(res);
  } else {
    goto none;
  }
  for (size_t i = 0; i < c.n; i++)
    if (c.v[i] == NULL) /* out of memory: offer nothing */
      goto none;
  if (c.n == 0)
    goto none;
  size_t have = strlen(prefix);
  size_t common = common_prefix(&c);
  unsigned char ret = CC_REFRESH;
  if (common > have) {
    char add[1024];
    size_t k = common - have;
    if (k >= sizeof add)
      k = sizeof add - 1;
    memcpy(add, c.v[0] + have, k);
    add[k] = '\0';
    el_insertstr(el, add);
  }
  if (c.n == 1) {
    /* One match: finish the word.  A node with children gets a '/' so the
     * next TAB goes on into it; the shell accepts the trailing '/'. */
    const char *tail = " ";
    if (!first_word) {
      char full[2100];
      snprintf(full, sizeof full, "%s%s%s",
               strcmp(parent, "/") == 0 ? "" : parent, "/", c.v[0]);
      roost_result *st = NULL;
      if (roost_exists(sh->client, full, NULL, NULL, &st) == ROOST_OK &&
          st->stat.num_children > 0)
        tail = "/";
      roost_result_free(st);
    }
    el_insertstr(el, tail);
  } else if (common == have) {
    /* Nothing more to add: show the choices under the line. */
    fputc('\n', stdout);
    for (size_t i = 0; i < c.n; i++)
      fprintf(stdout, "%s%s", c.v[i], i + 1 < c.n ? "  " : "\n");
    fflush(stdout);
    ret = CC_REDISPLAY;
  }
  cands_free(&c);
  return ret;
none:
  cands_free(&c);
  return CC_ERROR;
}

static int run_interactive(struct shell *sh) {
  struct repl r = {.sh = sh};
  HistEvent ev;
  r.el = el_init("roost", stdin, stdout, stderr);
  r.hist = history_init();
  if (r.el == NULL || r.hist == NULL) {
    fprintf(stderr, "cannot start the line editor\n");
    if (r.el)
      el_end(r.el);
    if (r.hist)
      history_end(r.hist);
    return SHELL_ERR;
  }
  history(r.hist, &ev, H_SETSIZE, SHELL_HISTORY_SIZE);
  history(r.hist, &ev, H_SETUNIQUE, 1);
  const char *home = getenv("HOME");
  if (home != NULL && home[0] != '\0') {
    snprintf(r.history_path, sizeof r.history_path, "%s/.roost_history",
             home);
    history(r.hist, &ev, H_LOAD, r.history_path); /* absent the first time */
  }
  el_set(r.el, EL_CLIENTDATA, &r);
  el_set(r.el, EL_EDITOR, "emacs");
  el_set(r.el, EL_PROMPT, prompt_fn);
  el_set(r.el, EL_HIST, history, r.hist);
  /* The wide form with static strings: the narrow el_set copies the name
   * and help text and el_end never frees those copies. */
  el_wset(r.el, EL_ADDFN, L"roost-complete", L"complete a command or path",
          complete_fn);
  el_set(r.el, EL_BIND, "^I", "roost-complete", NULL);
  el_source(r.el, NULL); /* ~/.editrc, if the user has one */
  shell_install_sigint(sh);

  fprintf(stderr, "roost shell: 'help' lists the commands, TAB completes, "
                  "Ctrl-D leaves\n");
  if (shell_connect(sh, sh->hosts, false) != SHELL_OK)
    fprintf(stderr, "use 'connect HOSTS' to try another server\n");

  for (;;) {
    int count = 0;
    errno = 0;
    const char *line = el_gets(r.el, &count);
    if (line == NULL) {
      if (count < 0 && errno == EINTR) { /* Ctrl-C: a fresh prompt */
        fputc('\n', stdout);
        el_reset(r.el);
        continue;
      }
      fputc('\n', stdout); /* Ctrl-D */
      break;
    }
    const char *p = line;
    while (isspace((unsigned char)*p))
      p++;
    if (*p == '\0')
      continue;
    /* el_gets' buffer is reused by the next call; commands may run long. */
    char *copy = strdup(line);
    if (copy == NULL)
      break;
    size_t len = strlen(copy);
    while (len > 0 && (copy[len - 1] == '\n' || copy[len - 1] == '\r'))
      copy[--len] = '\0';
    history(r.hist, &ev, H_ENTER, copy);
    if (r.history_path[0] != '\0')
      history(r.hist, &ev, H_SAVE, r.history_path);
    int st = run_line(sh, copy);
    free(copy);
    if (st == SHELL_QUIT)
      break;
  }
  el_end(r.el);
  history_end(r.hist);
  return SHELL_OK;
}

/* ====================================================================== */

int main(int argc, char **argv) {
  struct shell sh;
  if (shell_init(&sh) != SHELL_OK) {
    fprintf(stderr, "roost: cannot initialise (out of memory or fds)\n");
    return SHELL_ERR;
  }
  const char *env_hosts = getenv("ROOST_HOSTS");
  if (env_hosts != NULL && env_hosts[0] != '\0') {
    char *h = strdup(env_hosts);
    if (h != NULL) {
      free(sh.hosts);
      sh.hosts = h;
    }
  }
  bool keep_going = false;
  static const struct option longopts[] = {
      {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {"timeout", required_argument, NULL, 't'},
      {"server", required_argument, NULL, 's'},
      {"version", no_argument, NULL, 'V'},
      {"tls", no_argument, NULL, 'T'},
      {"ca", required_argument, NULL, 'A'},
      {"cert", required_argument, NULL, 'C'},
      {"key", required_argument, NULL, 'K'},
      {"key-password", required_argument, NULL, 'P'},
      {"no-hostname-verification", no_argument, NULL, 'N'},
      {NULL, 0, NULL, 0},
  };
  int o;
  /* '+': stop at the first non-option, the COMMAND, so that its own
   * options (ls -R) are not taken for ours. */
  while ((o = getopt_long(argc, argv, "+s:kt:h", longopts, NULL)) != -1) {
    switch (o) {
    case 's': {
      char *h = strdup(optarg);
      if (h == NULL) {
        shell_destroy(&sh);
        return SHELL_ERR;
      }
      free(sh.hosts);
      sh.hosts = h;
      break;
    }
    case 'j':
      sh.json = true;
      break;
    case 'T':
      sh.tls = true;
      break;
    case 'A':
      sh.tls = true;
      sh.tls_ca = optarg;
      break;
    case 'C':
      sh.tls = true;
      sh.tls_cert = optarg;
      break;
    case 'K':
      sh.tls = true;
      sh.tls_key = optarg;
      break;
    case 'P':
      sh.tls_key_password = optarg;
      break;
    case 'N':
      sh.tls_no_verify = true;
      break;
    case 'k':
      keep_going = true;
      break;
    case 't': {
      char *end;
      long v = strtol(optarg, &end, 10);
      if (*end != '\0' || v < 100 || v > 600000) {
        fprintf(stderr, "roost: -t takes milliseconds, 100..600000\n");
        shell_destroy(&sh);
        return SHELL_USAGE;
      }
      sh.timeout_ms = (int32_t)v;
      break;
    }
    case 'h':
      usage(stdout);
      shell_destroy(&sh);
      return SHELL_OK;
    case 'V':
      printf("roost %s (ZooKeeper 3.8 client protocol)\n", PROTO_ROOST_VERSION);
      shell_destroy(&sh);
      return SHELL_OK;
    default:
      usage(stderr);
      shell_destroy(&sh);
      return SHELL_USAGE;
    }
  }

  int st;
  if (optind < argc) {
    sh.one_shot = true;
    st = shell_run(&sh, argc - optind, argv + optind);
  } else if (!isatty(STDIN_FILENO)) {
    sh.script = true;
    st = run_script(&sh, keep_going);
  } else {
    sh.interactive = true;
    st = run_interactive(&sh);
  }
  if (st == SHELL_QUIT)
    st = SHELL_OK;
  fflush(stdout);
  shell_destroy(&sh);
  return st;
}
