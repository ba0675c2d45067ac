/* register — announce one service instance and keep it registered.
 *
 *   register HOSTS SERVICE HOST PORT [WEIGHT]
 *
 * Creates /services/SERVICE/i-...-NNNNNNNNNN (ephemeral, sequential) with
 * {"host":HOST,"port":PORT,"weight":WEIGHT} and keeps it there until
 * SIGINT/SIGTERM, re-registering after a session expiry.  When the process
 * dies, the node goes away with its session.
 *
 * Build against an installed libroost:
 *   cc register.c $(pkg-config --cflags --libs roost) -o register
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <roost.h>

static void on_session(roost_client *c, int event, void *arg) {
  (void)c;
  (void)arg;
  const char *what = event == ROOST_SESSION_CONNECTED      ? "connected"
                     : event == ROOST_SESSION_DISCONNECTED ? "disconnected"
                     : event == ROOST_SESSION_EXPIRED      ? "expired"
                                                           : NULL;
  if (what)
    printf("session %s\n", what);
  fflush(stdout);
}

static void on_registered(roost_service_reg *reg, int err, const char *path,
                          void *arg) {
  (void)reg;
  (void)arg;
  if (err == ROOST_OK)
    printf("registered %s\n", path);
  else
    printf("registration failed: %s\n", roost_strerror(err));
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s HOSTS SERVICE HOST PORT [WEIGHT]\n", argv[0]);
    return 2;
  }
  /* Block the signals before the client starts its I/O thread, so that
   * only sigwait below receives them. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  roost_options opts;
  roost_options_init(&opts);
  opts.session_timeout_ms = 6000;
  opts.session_cb = on_session;
  opts.renew_session_on_expiry = true;
  roost_client *c;
  int rc = roost_client_new(argv[1], &opts, &c);
  if (rc != ROOST_OK) {
    fprintf(stderr, "roost_client_new: %s\n", roost_strerror(rc));
    return 1;
  }
  char json[512];
  snprintf(json, sizeof json, "{\"host\":\"%s\",\"port\":%d,\"weight\":%s}",
           argv[3], atoi(argv[4]), argc > 5 ? argv[5] : "1");
  roost_service_reg *reg;
  rc = roost_service_register(c, argv[2], json, on_registered, NULL, &reg);
  if (rc != ROOST_OK) {
    fprintf(stderr, "roost_service_register: %s\n", roost_strerror(rc));
    roost_client_close(c);
    return 1;
  }
  int sig;
  sigwait(&set, &sig);
  roost_service_unregister(reg);
  roost_client_close(c);
  printf("bye\n");
  return 0;
}
