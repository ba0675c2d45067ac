/* roost-agent — the sidecar that registers service instances in Roost
 * from Consul service definitions and keeps their health (see --help). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "agent/agent.h"
#include "proto/proto.h"

static const char usage[] =
    "NAME\n"
    "    roost-agent - register service instances in Roost and check their "
    "health\n"
    "\n"
    "SYNOPSIS\n"
    "    roost-agent -s HOSTS -c PATH [-S SOCKET] [-a ADDRESS] [-t MS] [-j N]\n"
    "    roost-agent [-S SOCKET] pass|warn|fail CHECK_ID [NOTE...]\n"
    "    roost-agent -c PATH --check-config\n"
    "\n"
    "DESCRIPTION\n"
    "    Reads Consul service definitions from PATH (a .json file, or a\n"
    "    directory whose *.json files are read in name order): {\"service\":\n"
    "    {...}} or {\"services\": [...]} with name, id, address, port, tags,\n"
    "    meta, weights and check / checks.  Each instance becomes one\n"
    "    ephemeral sequential node /services/<name>/i-... holding JSON with\n"
    "    its address, port, tags, meta, weight, status (the worst of its\n"
    "    checks: passing, warning, critical) and each check's status and\n"
    "    output (docs/agent.md).  The node is written only when a status\n"
    "    changes.\n"
    "\n"
    "    Checks (Consul's fields): http (method, header, body, "
    "tls_skip_verify;\n"
    "    2xx passing, 429 warning, else critical), tcp (\"host:port\"), grpc\n"
    "    (\"host:port[/service]\", grpc.health.v1 over h2c; grpc_use_tls),\n"
    "    args (a program: exit 0 passing, 1 warning, else critical; killed\n"
    "    at timeout) and ttl (pushed with `roost-agent pass|warn|fail`).\n"
    "    Each takes interval, timeout, success_before_passing,\n"
    "    failures_before_warning, failures_before_critical, output_max_size,\n"
    "    status (initial, default critical) and\n"
    "    deregister_critical_service_after (the node is removed after that\n"
    "    long in critical, and comes back when the check leaves critical).\n"
    "    Durations are Go's: \"10s\", \"1m30s\", \"500ms\".  Unknown fields "
    "are\n"
    "    accepted with a notice; an invalid field stops the start with the\n"
    "    file, the field and the reason.\n"
    "\n"
    "OPTIONS\n"
    "    -s, --servers HOSTS     connect string, host:port[,host:port...]\n"
    "    -c, --config PATH       definition file or directory\n"
    "    -S, --socket PATH       TTL control socket (default\n"
    "                            $ROOST_AGENT_SOCKET, else\n"
    "                            /tmp/roost-agent-<uid>.sock)\n"
    "    -a, --address ADDR      address of instances without one\n"
    "                            (default 127.0.0.1)\n"
    "    -t, --session-timeout MS  session timeout asked for (default 10000)\n"
    "    -j, --max-concurrent N  checks in flight at once (default 32)\n"
    "        --check-config      load PATH, report, exit (0 if valid)\n"
    "    -h, --help              this text\n"
    "\n"
    "COMMANDS (TTL checks)\n"
    "    pass|warn|fail CHECK_ID [NOTE...]\n"
    "        set the TTL check CHECK_ID of the running agent (through its\n"
    "        control socket) to passing, warning or critical with NOTE as\n"
    "        its output; the check turns critical if not set again within\n"
    "        its ttl.  Exit 0 on success, 1 if refused, 2 if no agent.\n"
    "\n"
    "SIGNALS\n"
    "    SIGHUP   reload PATH: new instances are registered, vanished ones\n"
    "             removed, changed ones replaced; unchanged ones keep their\n"
    "             node and check state.  An invalid PATH changes nothing.\n"
    "    SIGTERM, SIGINT  close the session (the nodes go at once) and exit.\n"
    "    If the agent dies, its session expires and the nodes vanish.\n"
    "\n"
    "EXAMPLE\n"
    "    roost-agent -s 127.0.0.1:2181 -c /etc/roost/payment-service.json\n";

static void print_notice(const char *msg, void *arg) {
  (void)arg;
  fprintf(stderr, "roost-agent: notice: %s\n", msg);
}

static char *default_socket(void) {
  const char *env = getenv("ROOST_AGENT_SOCKET");
  char buf[256];
  if (env && *env)
    snprintf(buf, sizeof buf, "%s", env);
  else
    snprintf(buf, sizeof buf, "/tmp/roost-agent-%u.sock", (unsigned)getuid());
  return strdup(buf);
}

static int ttl_command(const char *sock, const char *verb, int argc,
                       char **argv) {
  int status = strcmp(verb, "pass") == 0   ? 0
               : strcmp(verb, "warn") == 0 ? 1
                                           : 2;
  if (argc < 1) {
    fprintf(stderr, "usage: roost-agent %s CHECK_ID [NOTE...]\n", verb);
    return 2;
  }
  size_t n = 1;
  for (int i = 1; i < argc; i++)
    n += strlen(argv[i]) + 1;
  char *note = calloc(1, n);
  if (note == NULL)
    return 2;
  size_t at = 0;
  for (int i = 1; i < argc; i++) {
    if (i > 1)
      note[at++] = ' ';
    size_t l = strlen(argv[i]);
    memcpy(note + at, argv[i], l);
    at += l;
  }
  char err[512];
  int rc = agent_ttl_update(sock, status, argv[0], note, err, sizeof err);
  free(note);
  if (rc == AGENT_OK)
    return 0;
  fprintf(stderr, "roost-agent %s: %s\n", verb, err);
  return rc == AGENT_EINVAL ? 1 : 2;
}

/* A whole decimal number in [lo, hi]; anything else is a usage error
 * (atoi would read "-j x" as 0 and "-t 5s" as 5). */
static int parse_count(const char *s, const char *flag, long lo, long hi,
                       int32_t *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
    fprintf(stderr,
            "roost-agent: %s %s: expected a whole number from %ld to %ld\n",
            flag, s, lo, hi);
    return -1;
  }
  *out = (int32_t)v;
  return 0;
}

int main(int argc, char **argv) {
  static const struct option longs[] = {
      {"servers", required_argument, NULL, 's'},
      {"config", required_argument, NULL, 'c'},
      {"socket", required_argument, NULL, 'S'},
      {"address", required_argument, NULL, 'a'},
      {"session-timeout", required_argument, NULL, 't'},
      {"max-concurrent", required_argument, NULL, 'j'},
      {"check-config", no_argument, NULL, 'C'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0}};
  struct agent_config cfg = {0};
  cfg.session_timeout_ms = 10000;
  cfg.max_concurrent = 32;
  bool check_only = false;
  const char *sock_opt = NULL;
  int opt;
  /* "+": stop at the first non-option (the pass/warn/fail command) */
  while ((opt = getopt_long(argc, argv, "+s:c:S:a:t:j:h", longs, NULL)) != -1) {
    switch (opt) {
    case 's':
      cfg.hosts = optarg;
      break;
    case 'c':
      cfg.defs_path = optarg;
      break;
    case 'S':
      sock_opt = optarg;
      break;
    case 'a':
      cfg.address = optarg;
      break;
    case 't':
      if (parse_count(optarg, "-t", 1, 86400000, &cfg.session_timeout_ms) != 0)
        return 2;
      break;
    case 'j':
      if (parse_count(optarg, "-j", 1, 100000, &cfg.max_concurrent) != 0)
        return 2;
      break;
    case 'C':
      check_only = true;
      break;
    case 'h':
      fputs(usage, stdout);
      return 0;
    case 'V':
      printf("roost-agent %s\n", PROTO_ROOST_VERSION);
      return 0;
    default:
      fputs("try roost-agent --help\n", stderr);
      return 2;
    }
  }
  char *sock = sock_opt ? strdup(sock_opt) : default_socket();
  int ret = 0;
  if (optind < argc) {
    const char *verb = argv[optind];
    if (strcmp(verb, "pass") == 0 || strcmp(verb, "warn") == 0 ||
        strcmp(verb, "fail") == 0) {
      ret = ttl_command(sock, verb, argc - optind - 1, argv + optind + 1);
    } else {
      fprintf(stderr, "roost-agent: unknown command \"%s\" (try --help)\n",
              verb);
      ret = 2;
    }
    free(sock);
    return ret;
  }
  char err[1024] = "";
  if (check_only) {
    struct agent_defs defs;
    int rc = agent_defs_load(cfg.defs_path, &defs, print_notice, NULL, err,
                             sizeof err);
    if (rc != AGENT_OK) {
      fprintf(stderr, "roost-agent: %s\n", err);
      free(sock);
      return 1;
    }
    printf("%zu service%s ok\n", defs.n, defs.n == 1 ? "" : "s");
    agent_defs_free(&defs);
    free(sock);
    return 0;
  }
  if (cfg.hosts == NULL || cfg.defs_path == NULL) {
    fputs("roost-agent: -s HOSTS and -c PATH are required (try --help)\n",
          stderr);
    free(sock);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  cfg.socket_path = sock;
  uv_loop_t loop;
  uv_loop_init(&loop);
  agent *a = NULL;
  int rc = agent_new(&loop, &cfg, &a, err, sizeof err);
  if (rc != AGENT_OK) {
    fprintf(stderr, "roost-agent: %s\n", err);
    ret = 1;
  } else {
    uv_run(&loop, UV_RUN_DEFAULT);
    agent_free(a);
    fprintf(stderr, "roost-agent: stopped\n");
  }
  if (uv_loop_close(&loop) != 0)
    fprintf(stderr, "roost-agent: handles left open at exit\n");
  free(sock);
  return ret;
}
