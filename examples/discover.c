/* discover — follow the instances of a service as they come and go.
 *
 *   discover HOSTS SERVICE [rr|random|weighted]
 *
 * Prints the instance list every time it changes (and whether it is stale:
 * served from cache while the servers are unreachable) with each
 * instance's health, address and weight as the library parsed them from
 * its JSON payload (critical instances are left out), then, once a
 * second, the instance a client would pick with the given policy.  Stops
 * on SIGINT/SIGTERM.
 *
 * Build against an installed libroost:
 *   cc discover.c $(pkg-config --cflags --libs roost) -o discover
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <roost.h>

static void on_change(roost_service_watch *w, void *arg) {
  (void)arg;
  roost_instance *v;
  size_t n;
  bool stale;
  if (roost_service_instances(w, &v, &n, &stale) != ROOST_OK)
    return;
  static const char *const health[] = {"passing", "warning", "critical"};
  printf("instances %zu%s\n", n, stale ? " (stale)" : "");
  /* Critical instances are left out; the payload is parsed for us. */
  for (size_t i = 0; i < n; i++)
    printf("  %s %s %s:%d weight %g %s\n", v[i].name,
           health[v[i].status % 3], v[i].address ? v[i].address : "?",
           (int)v[i].port, v[i].weight, v[i].data);
  fflush(stdout);
  roost_instances_free(v, n);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s HOSTS SERVICE [rr|random|weighted]\n",
            argv[0]);
    return 2;
  }
  int policy = ROOST_PICK_ROUND_ROBIN;
  if (argc > 3 && strcmp(argv[3], "random") == 0)
    policy = ROOST_PICK_RANDOM;
  else if (argc > 3 && strcmp(argv[3], "weighted") == 0)
    policy = ROOST_PICK_WEIGHTED;

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  roost_options opts;
  roost_options_init(&opts);
  opts.session_timeout_ms = 6000;
  opts.renew_session_on_expiry = true;
  roost_client *c;
  int rc = roost_client_new(argv[1], &opts, &c);
  if (rc != ROOST_OK) {
    fprintf(stderr, "roost_client_new: %s\n", roost_strerror(rc));
    return 1;
  }
  roost_service_watch *w;
  rc = roost_service_watch_new(c, argv[2], on_change, NULL, &w);
  if (rc != ROOST_OK) {
    fprintf(stderr, "roost_service_watch_new: %s\n", roost_strerror(rc));
    roost_client_close(c);
    return 1;
  }
  for (;;) {
    struct timespec ts = {1, 0};
    int sig = sigtimedwait(&set, NULL, &ts);
    if (sig == SIGINT || sig == SIGTERM)
      break;
    roost_instance inst;
    if (roost_service_pick(w, policy, &inst) == ROOST_OK) {
      printf("pick %s %s\n", inst.name, inst.data);
      fflush(stdout);
      roost_instance_clear(&inst);
    }
  }
  roost_service_watch_free(w);
  roost_client_close(c);
  printf("bye\n");
  return 0;
}
