/* main.c — roost-server: parse the command line, load the configuration,
 * run the server until SIGTERM/SIGINT.
 *
 *   roost-server [--key=value ...] PATH/TO/roost.cfg
 *
 * The file is read first, then each --key=value overrides the key of the
 * same name (zoo.cfg spelling).  Exit codes: 0 after a clean shutdown,
 * 2 for any error before serving (usage, configuration, port in use...),
 * 1 if the loop itself fails. */
#include "server/server_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f, const char *prog) {
  fprintf(f,
          "usage: %s [--key=value ...] PATH/TO/roost.cfg\n"
          "\n"
          "Runs a Roost server (ZooKeeper %s wire protocol) configured by a\n"
          "zoo.cfg-style file.  Each --key=value sets a zoo.cfg key after\n"
          "the file is loaded, e.g. --clientPort=2182 --tickTime=1000.\n"
          "\n"
          "  -h, --help   print this help and exit\n"
          "  --version    print the version and exit\n"
          "\n"
          "The manual: roost-server(8).\n",
          prog, "3.8");
}

static void on_notice(void *arg, const char *msg) {
  const int *level = arg;
  srv_log_emit(*level, SRV_LOG_INFO, "%s", msg);
}

int main(int argc, char **argv) {
  const char *prog = argc > 0 ? argv[0] : "roost-server";
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout, prog);
      return 0;
    }
    if (strcmp(argv[i], "--version") == 0) {
      printf("roost-server %s (ZooKeeper %s protocol)\n", SRV_ROOST_VERSION,
             SRV_ZK_VERSION);
      return 0;
    }
    if (strncmp(argv[i], "--", 2) == 0)
      continue; /* overrides: applied after the file */
    if (path != NULL) {
      fprintf(stderr, "%s: more than one configuration file ('%s', '%s')\n",
              prog, path, argv[i]);
      usage(stderr, prog);
      return 2;
    }
    path = argv[i];
  }
  if (path == NULL) {
    fprintf(stderr, "%s: missing configuration file\n", prog);
    usage(stderr, prog);
    return 2;
  }

  struct srv_config cfg;
  char err[SRV_ERRMSG_MAX];
  int notice_level = SRV_LOG_INFO;
  srv_config_defaults(&cfg);
  if (srv_config_load(&cfg, path, on_notice, &notice_level, err) != 0) {
    fprintf(stderr, "%s: %s\n", prog, err);
    return 2;
  }
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--", 2) != 0)
      continue;
    char key[256];
    const char *kv = argv[i] + 2;
    const char *eq = strchr(kv, '=');
    if (eq == NULL || eq == kv || (size_t)(eq - kv) >= sizeof key) {
      fprintf(stderr, "%s: bad option '%s' (expected --key=value)\n", prog,
              argv[i]);
      return 2;
    }
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = '\0';
    if (srv_config_set(&cfg, key, eq + 1, on_notice, &notice_level, err) != 0) {
      fprintf(stderr, "%s: %s\n", prog, err);
      return 2;
    }
  }
  if (srv_config_finish(&cfg, err) != 0) {
    fprintf(stderr, "%s: %s\n", prog, err);
    return 2;
  }

  /* A peer that vanishes mid-write must cost us an EPIPE, not the
   * process. */
  signal(SIGPIPE, SIG_IGN);

  struct srv *s = srv_new(&cfg, err);
  if (s == NULL) {
    srv_log_emit(cfg.log_level, SRV_LOG_ERROR, "cannot start: %s", err);
    return 2;
  }
  srv_log_emit(cfg.log_level, SRV_LOG_INFO,
               "roost-server %s (ZooKeeper %s protocol) on %s:%d, dataDir %s, "
               "dataLogDir %s, %s%s",
               SRV_ROOST_VERSION, SRV_ZK_VERSION, srv_client_address(s),
               srv_bound_port(s), cfg.data_dir,
               cfg.data_log_dir[0] ? cfg.data_log_dir : cfg.data_dir,
               cfg.n_peers > 0 ? "ensemble member" : "standalone",
               cfg.force_sync ? ""
                              : ", forceSync=no (no fsync: a power loss or "
                                "kernel crash loses acknowledged writes)");
  srv_install_signals(s);
  int rc = srv_run(s);
  srv_free(s);
  srv_log_emit(cfg.log_level, SRV_LOG_INFO, "stopped");
  return rc == 0 ? 0 : 1;
}
