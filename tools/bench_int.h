/* roost-bench internals shared by tools/roost-bench.c (driver, workloads)
 * and tools/bench_report.c (option parsing, results, /proc readers).
 *
 * One `struct bench` owns everything of a run: the libuv loop, the
 * sessions, the histogram and the counters.  There is no global state, so
 * the pieces could be driven from a test.
 */
#ifndef ROOST_BENCH_INT_H
#define ROOST_BENCH_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <uv.h>

#include "proto/proto.h"
#include "tools/bench_hist.h"

#define BENCH_MAX_HOSTS 16
#define BENCH_MAX_PIDS 16
#define BENCH_MAX_ERR_KINDS 64
#define BENCH_PATH_MAX 256

enum bench_workload {
  WL_CREATE,
  WL_SET,
  WL_GET,
  WL_EXISTS,
  WL_CHILDREN,
  WL_MIXED,
  WL_WATCH,
  WL_CHURN,
};

/* Errors that are not a server's reply code.  Kept outside the range of
 * ZooKeeper's codes (which are all <= 0) so one table holds both. */
enum bench_local_err {
  BENCH_ERR_CONNECT = 1001,   /* connect() or handshake failed */
  BENCH_ERR_CONN_LOST = 1002, /* the server closed or reset a session */
  BENCH_ERR_BAD_REPLY = 1003, /* a reply did not decode or was unexpected */
  BENCH_ERR_STALLED = 1004,   /* no reply within --timeout */
  BENCH_ERR_EXPIRED = 1005,   /* handshake answered "session invalid" */
};

struct bench_opts {
  char hosts_text[512];
  struct sockaddr_storage hosts[BENCH_MAX_HOSTS];
  uint32_t n_hosts;
  enum bench_workload workload;
  uint32_t sessions;
  uint32_t outstanding;
  uint32_t value_size;
  uint32_t keys;
  bool keys_given;
  double duration_s; /* 0 when --ops bounds the run */
  uint64_t ops;      /* 0 when --duration bounds the run */
  double warmup_s;
  uint32_t read_pct;
  uint64_t seed;
  bool json;
  bool quiet;
  bool keep;
  bool allow_errors;
  /* Server processes whose CPU time is summed (an ensemble's members). */
  int server_pids[BENCH_MAX_PIDS];
  uint32_t n_server_pids; /* 0: none */
  double timeout_s;
  uint32_t session_timeout_ms;
  char root[128];
  char acl_ip[48]; /* "" = world:anyone */
  /* Every create/setData sends the same value (the old behaviour) instead
   * of fresh random bytes: a log that compresses whole frames would then
   * measure redundancy between transactions that real data lacks. */
  bool fixed_value;
  /* TLS (--tls-ca, --tls-cert, --tls-key): "" = plain.  The server's
   * certificate chain is verified; its name is not (hosts are numeric). */
  char tls_ca[512];
  char tls_cert[512];
  char tls_key[512];
};

/* Parses argv into *o.  Returns 0, or 1 after --help (printed to stdout),
 * or -1 with a message in errmsg. */
int bench_opts_parse(struct bench_opts *o, int argc, char **argv,
                     char *errmsg, size_t errmsg_len);
const char *bench_workload_name(enum bench_workload w);

/* Counted errors, by code (server codes and enum bench_local_err). */
struct bench_errs {
  struct {
    int code;
    uint64_t n;
  } kind[BENCH_MAX_ERR_KINDS];
  uint32_t n_kinds;
  uint64_t total;
  uint64_t overflow; /* codes that did not fit the table (never expected) */
};
void bench_errs_add(struct bench_errs *e, int code, uint64_t n);
const char *bench_err_name(int code);

/* CPU time, microseconds (user + system). */
struct bench_cpu {
  uint64_t self_us;   /* getrusage(RUSAGE_SELF) */
  uint64_t server_us; /* /proc/PID/stat utime+stime summed over the
                         server pids; 0 when unknown */
  bool server_ok;     /* every server pid could be read */
};
void bench_cpu_sample(struct bench_cpu *c, const struct bench_opts *o);

/* The figures of one run, filled by the driver, printed by bench_report. */
struct bench_result {
  const struct bench_opts *o;
  uint64_t ops;    /* successful measured operations (rounds, cycles) */
  uint64_t events; /* watch-fanout: notifications received, measured */
  double elapsed_s;
  double setup_s;
  uint64_t setup_items;
  const struct bench_hist *hist; /* nanoseconds */
  const struct bench_errs *errs;
  struct bench_cpu cpu_start, cpu_end;
  bool failed; /* the run could not complete */
  char errmsg[256];
};

/* Human report (stdout) or, with --json, one JSON object on stdout. */
void bench_report_print(const struct bench_result *r, FILE *out);

#endif /* ROOST_BENCH_INT_H */
