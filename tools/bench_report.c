/* roost-bench: option parsing, error table, CPU sampling and the report.
 * The event-driven part lives in roost-bench.c. */
#include "tools/bench_int.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const workload_names[] = {
    [WL_CREATE] = "create", [WL_SET] = "set",
    [WL_GET] = "get",       [WL_EXISTS] = "exists",
    [WL_CHILDREN] = "children", [WL_MIXED] = "mixed",
    [WL_WATCH] = "watch-fanout", [WL_CHURN] = "churn",
};

const char *bench_workload_name(enum bench_workload w) {
  return workload_names[w];
}

static void usage(FILE *f) {
  fprintf(f,
"usage: roost-bench [options]\n"
"Load generator for any server speaking the ZooKeeper client protocol.\n"
"\n"
"  --hosts H:P[,H:P...]  servers (numeric IPv4/IPv6 or localhost); sessions\n"
"                        are spread over them round-robin [127.0.0.1:2181]\n"
"  --workload W          create | set | get | exists | children | mixed |\n"
"                        watch-fanout | churn                        [get]\n"
"  --sessions N          sessions (watch-fanout: watchers, plus one writer;\n"
"                        churn: concurrent open/register/close loops)  [8]\n"
"  --outstanding N       requests in flight per session               [16]\n"
"  --value-size BYTES    znode data size                              [100]\n"
"  --tls-ca FILE         connect with TLS, trusting these CAs (PEM/PKCS12)\n"
"  --tls-cert FILE       client certificate (PEM; with --tls-key its key)\n"
"  --tls-key FILE\n"
"  --fixed-value         send one value with every write instead of fresh\n"
"                        random bytes per write (compresses unrealistically)\n"
"  --keys N              key space; children: number of children;\n"
"                        create: stop after N creates       [10000; create: no bound]\n"
"  --duration SECONDS    measured time                                 [10]\n"
"  --ops N               measured operations instead of a duration\n"
"  --warmup SECONDS      load before measuring, not counted             [0]\n"
"  --read-pct P          mixed: percentage of getData, rest setData    [90]\n"
"  --seed N              key choice and value bytes                     [1]\n"
"  --server-pid PID[,PID...]\n"
"                        report the CPU time per operation of that process\n"
"                        (summed over all of them: an ensemble's members)\n"
"  --root PATH           parent of this run's znodes        [/roost-bench]\n"
"  --keep                do not delete what the run created\n"
"  --acl-ip ADDR         create znodes with ACL ip:ADDR (all perms) instead\n"
"                        of world:anyone: every read and watch event then\n"
"                        passes a real ACL check          [world:anyone]\n"
"  --timeout SECONDS     give up when no reply arrives for this long   [30]\n"
"  --session-timeout MS  requested session timeout                  [30000]\n"
"  --allow-errors        exit 0 even when operations failed\n"
"  --json                one JSON object with all figures on stdout\n"
"  --quiet               no progress line on stderr\n"
"\n"
"  --version             print the version and exit\n"
"\n"
"Exit status: 0 ok, 1 errors or an incomplete run, 2 bad usage.\n"
"The manual: roost-bench(1).\n");
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi))
    return -1;
  *out = v;
  return 0;
}

/* "127.0.0.1:2181,[::1]:2182,localhost:2183" */
static int parse_hosts(struct bench_opts *o, const char *text, char *err,
                       size_t errlen) {
  if (strlen(text) >= sizeof o->hosts_text) {
    snprintf(err, errlen, "--hosts is too long");
    return -1;
  }
  strcpy(o->hosts_text, text);
  o->n_hosts = 0;
  const char *p = text;
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    char item[128], host[100];
    if (n == 0 || n >= sizeof item) {
      snprintf(err, errlen, "bad --hosts entry in '%s'", text);
      return -1;
    }
    memcpy(item, p, n);
    item[n] = 0;
    char *colon = strrchr(item, ':');
    uint64_t port;
    if (!colon || parse_u64(colon + 1, 1, 65535, &port) != 0) {
      snprintf(err, errlen, "--hosts entry '%s' needs host:port", item);
      return -1;
    }
    *colon = 0;
    const char *h = item;
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
      memcpy(host, h + 1, hl - 2);
      host[hl - 2] = 0;
    } else {
      snprintf(host, sizeof host, "%.99s", h);
    }
    if (strcmp(host, "localhost") == 0)
      strcpy(host, "127.0.0.1");
    if (o->n_hosts == BENCH_MAX_HOSTS) {
      snprintf(err, errlen, "at most %d hosts", BENCH_MAX_HOSTS);
      return -1;
    }
    struct sockaddr_storage *ss = &o->hosts[o->n_hosts];
    memset(ss, 0, sizeof *ss);
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) != 0 &&
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) != 0) {
      snprintf(err, errlen, "'%s' is not a numeric address", host);
      return -1;
    }
    o->n_hosts++;
    p += n;
    if (*p == ',')
      p++;
  }
  if (o->n_hosts == 0) {
    snprintf(err, errlen, "--hosts is empty");
    return -1;
  }
  return 0;
}

/* "1234" or "1234,1235,1236"; an empty entry is an error. */
static int parse_pids(struct bench_opts *o, const char *text, char *err,
                      size_t errlen) {
  o->n_server_pids = 0;
  const char *p = text;
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    char item[16];
    uint64_t u;
    snprintf(item, sizeof item, "%.*s", (int)(n < 15 ? n : 15), p);
    if (n == 0 || n >= sizeof item || parse_u64(item, 1, 1u << 30, &u) != 0) {
      snprintf(err, errlen, "bad pid list '%s' for --server-pid", text);
      return -1;
    }
    if (o->n_server_pids == BENCH_MAX_PIDS) {
      snprintf(err, errlen, "at most %d pids for --server-pid", BENCH_MAX_PIDS);
      return -1;
    }
    o->server_pids[o->n_server_pids++] = (int)u;
    if (!comma)
      return 0;
    p = comma + 1;
  }
}

enum {
  OPT_HOSTS = 256, OPT_WORKLOAD, OPT_SESSIONS, OPT_OUTSTANDING, OPT_VALUE,
  OPT_KEYS, OPT_DURATION, OPT_OPS, OPT_WARMUP, OPT_READPCT, OPT_SEED,
  OPT_JSON, OPT_QUIET, OPT_KEEP, OPT_ALLOW, OPT_PID, OPT_TIMEOUT,
  OPT_STIMEOUT, OPT_ROOT, OPT_ACLIP, OPT_FIXED, OPT_HELP, OPT_VERSION,
  OPT_TLS_CA, OPT_TLS_CERT, OPT_TLS_KEY,
};

int bench_opts_parse(struct bench_opts *o, int argc, char **argv, char *err,
                     size_t errlen) {
  static const struct option longopts[] = {
      {"hosts", required_argument, NULL, OPT_HOSTS},
      {"workload", required_argument, NULL, OPT_WORKLOAD},
      {"sessions", required_argument, NULL, OPT_SESSIONS},
      {"outstanding", required_argument, NULL, OPT_OUTSTANDING},
      {"value-size", required_argument, NULL, OPT_VALUE},
      {"keys", required_argument, NULL, OPT_KEYS},
      {"duration", required_argument, NULL, OPT_DURATION},
      {"ops", required_argument, NULL, OPT_OPS},
      {"warmup", required_argument, NULL, OPT_WARMUP},
      {"read-pct", required_argument, NULL, OPT_READPCT},
      {"seed", required_argument, NULL, OPT_SEED},
      {"json", no_argument, NULL, OPT_JSON},
      {"quiet", no_argument, NULL, OPT_QUIET},
      {"keep", no_argument, NULL, OPT_KEEP},
      {"allow-errors", no_argument, NULL, OPT_ALLOW},
      {"server-pid", required_argument, NULL, OPT_PID},
      {"timeout", required_argument, NULL, OPT_TIMEOUT},
      {"session-timeout", required_argument, NULL, OPT_STIMEOUT},
      {"root", required_argument, NULL, OPT_ROOT},
      {"acl-ip", required_argument, NULL, OPT_ACLIP},
      {"fixed-value", no_argument, NULL, OPT_FIXED},
      {"tls-ca", required_argument, NULL, OPT_TLS_CA},
      {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
      {"tls-key", required_argument, NULL, OPT_TLS_KEY},
      {"help", no_argument, NULL, OPT_HELP},
      {"version", no_argument, NULL, OPT_VERSION},
      {NULL, 0, NULL, 0},
  };
  memset(o, 0, sizeof *o);
  o->workload = WL_GET;
  o->sessions = 8;
  o->outstanding = 16;
  o->value_size = 100;
  o->keys = 10000;
  o->read_pct = 90;
  o->seed = 1;
  o->timeout_s = 30;
  o->session_timeout_ms = 30000;
  strcpy(o->root, "/roost-bench");
  bool hosts_given = false, duration_given = false;

  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    uint64_t u = 0;
    int bad = 0;
    switch (c) {
    case OPT_HOSTS:
      if (parse_hosts(o, optarg, err, errlen) != 0)
        return -1;
      hosts_given = true;
      break;
    case OPT_WORKLOAD: {
      bool found = false;
      for (int w = WL_CREATE; w <= WL_CHURN; w++)
        if (strcmp(optarg, workload_names[w]) == 0) {
          o->workload = (enum bench_workload)w;
          found = true;
        }
      if (strcmp(optarg, "watch") == 0) {
        o->workload = WL_WATCH;
        found = true;
      }
      if (!found) {
        snprintf(err, errlen, "unknown workload '%s'", optarg);
        return -1;
      }
      break;
    }
    case OPT_SESSIONS:
      bad = parse_u64(optarg, 1, 20000, &u);
      o->sessions = (uint32_t)u;
      break;
    case OPT_OUTSTANDING:
      bad = parse_u64(optarg, 1, 4096, &u);
      o->outstanding = (uint32_t)u;
      break;
    case OPT_VALUE:
      /* Leave room for header and path inside jute.maxbuffer. */
      bad = parse_u64(optarg, 0, PROTO_DEFAULT_MAX_BUFFER - 4096, &u);
      o->value_size = (uint32_t)u;
      break;
    case OPT_KEYS:
      bad = parse_u64(optarg, 1, 1000000000, &u);
      o->keys = (uint32_t)u;
      o->keys_given = true;
      break;
    case OPT_DURATION:
      bad = parse_double(optarg, 0.01, 86400, &o->duration_s);
      duration_given = true;
      break;
    case OPT_OPS:
      bad = parse_u64(optarg, 1, UINT64_C(1) << 40, &o->ops);
      break;
    case OPT_WARMUP:
      bad = parse_double(optarg, 0, 3600, &o->warmup_s);
      break;
    case OPT_READPCT:
      bad = parse_u64(optarg, 0, 100, &u);
      o->read_pct = (uint32_t)u;
      break;
    case OPT_SEED:
      bad = parse_u64(optarg, 0, UINT64_MAX, &o->seed);
      break;
    case OPT_JSON:
      o->json = true;
      break;
    case OPT_QUIET:
      o->quiet = true;
      break;
    case OPT_KEEP:
      o->keep = true;
      break;
    case OPT_ALLOW:
      o->allow_errors = true;
      break;
    case OPT_PID:
      if (parse_pids(o, optarg, err, errlen) != 0)
        return -1;
      break;
    case OPT_TIMEOUT:
      bad = parse_double(optarg, 0.1, 3600, &o->timeout_s);
      break;
    case OPT_STIMEOUT:
      bad = parse_u64(optarg, 100, 3600000, &u);
      o->session_timeout_ms = (uint32_t)u;
      break;
    case OPT_ROOT: {
      size_t n = strlen(optarg);
      if (n == 0 || n >= 100 || optarg[0] != '/' ||
          (n > 1 && optarg[n - 1] == '/') ||
          proto_path_validate(optarg, n) != PROTO_OK) {
        snprintf(err, errlen, "--root must be a valid absolute znode path "
                              "under 100 bytes");
        return -1;
      }
      strcpy(o->root, n == 1 ? "" : optarg); /* "/" -> children of / */
      break;
    }
    case OPT_ACLIP:
      if (strlen(optarg) >= sizeof o->acl_ip) {
        snprintf(err, errlen, "--acl-ip: address too long");
        return -1;
      }
      strcpy(o->acl_ip, optarg);
      break;
    case OPT_FIXED:
      o->fixed_value = true;
      break;
    case OPT_TLS_CA:
    case OPT_TLS_CERT:
    case OPT_TLS_KEY: {
      char *dst = c == OPT_TLS_CA     ? o->tls_ca
                  : c == OPT_TLS_CERT ? o->tls_cert
                                      : o->tls_key;
      if (strlen(optarg) >= sizeof o->tls_ca) {
        snprintf(err, errlen, "--tls-*: path too long");
        return -1;
      }
      strcpy(dst, optarg);
      break;
    }
    case OPT_VERSION:
      printf("roost-bench %s\n", PROTO_ROOST_VERSION);
      return 1;
    case OPT_HELP:
      usage(stdout);
      return 1;
    default:
      snprintf(err, errlen, "unknown or incomplete option '%s' (see --help)",
               argv[optind - 1]);
      return -1;
    }
    if (bad) {
      snprintf(err, errlen, "bad value '%s' for %s", optarg,
               argv[optind - 1]);
      return -1;
    }
  }
  if (optind < argc) {
    snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
    return -1;
  }
  if (!hosts_given && parse_hosts(o, "127.0.0.1:2181", err, errlen) != 0)
    return -1;
  if (duration_given && o->ops) {
    snprintf(err, errlen, "give --duration or --ops, not both");
    return -1;
  }
  if (!duration_given && !o->ops)
    o->duration_s = 10;
  if (o->workload == WL_CREATE && !o->keys_given)
    o->keys = UINT32_MAX; /* no bound: as many as the time allows */
  return 0;
}

/* ------------------------------------------------------------------ */

void bench_errs_add(struct bench_errs *e, int code, uint64_t n) {
  e->total += n;
  for (uint32_t i = 0; i < e->n_kinds; i++)
    if (e->kind[i].code == code) {
      e->kind[i].n += n;
      return;
    }
  if (e->n_kinds == BENCH_MAX_ERR_KINDS) {
    e->overflow += n;
    return;
  }
  e->kind[e->n_kinds].code = code;
  e->kind[e->n_kinds].n = n;
  e->n_kinds++;
}

const char *bench_err_name(int code) {
  switch (code) {
  case BENCH_ERR_CONNECT:
    return "CONNECT_FAILED";
  case BENCH_ERR_CONN_LOST:
    return "CONNECTION_LOST";
  case BENCH_ERR_BAD_REPLY:
    return "BAD_REPLY";
  case BENCH_ERR_STALLED:
    return "STALLED";
  case BENCH_ERR_EXPIRED:
    return "SESSION_REFUSED";
  default:
    return proto_err_name(code);
  }
}

/* ------------------------------------------------------------------ */

static uint64_t tv_us(struct timeval tv) {
  return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

/* Fields 14 and 15 of /proc/PID/stat, in clock ticks.  The command name
 * (field 2) may hold spaces and parentheses, so parse after the last ')'. */
static bool proc_cpu_us(int pid, uint64_t *us) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return false;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p)
    return false;
  p++;
  unsigned long long ut = 0, st = 0;
  /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
   * utime stime */
  if (sscanf(p, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
             &st) != 2)
    return false;
  long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0)
    return false;
  *us = (ut + st) * 1000000ull / (unsigned long long)hz;
  return true;
}

void bench_cpu_sample(struct bench_cpu *c, const struct bench_opts *o) {
  struct rusage ru;
  memset(c, 0, sizeof *c);
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    c->self_us = tv_us(ru.ru_utime) + tv_us(ru.ru_stime);
  c->server_ok = o->n_server_pids > 0;
  for (uint32_t i = 0; i < o->n_server_pids; i++) {
    uint64_t us = 0;
    if (!proc_cpu_us(o->server_pids[i], &us))
      c->server_ok = false;
    c->server_us += us;
  }
}

/* "pid" or "pid,pid,pid" for the report. */
static void print_pids(FILE *f, const struct bench_opts *o) {
  for (uint32_t i = 0; i < o->n_server_pids; i++)
    fprintf(f, "%s%d", i ? "," : "", o->server_pids[i]);
}

/* ------------------------------------------------------------------ */

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(f, "\\u%04x", ch);
    else
      fputc(ch, f);
  }
  fputc('"', f);
}

static double ns_to_us(uint64_t ns) { return (double)ns / 1000.0; }

void bench_report_print(const struct bench_result *r, FILE *f) {
  const struct bench_opts *o = r->o;
  const struct bench_hist *h = r->hist;
  double secs = r->elapsed_s > 0 ? r->elapsed_s : 0;
  double tput = secs > 0 ? (double)r->ops / secs : 0;
  uint64_t self_us = r->cpu_end.self_us - r->cpu_start.self_us;
  bool srv = r->cpu_start.server_ok && r->cpu_end.server_ok;
  uint64_t srv_us = srv ? r->cpu_end.server_us - r->cpu_start.server_us : 0;
  double per = r->ops ? 1.0 / (double)r->ops : 0;
  double pcts[] = {50, 90, 99, 99.9};
  const char *pnames[] = {"p50", "p90", "p99", "p99_9"};
  const char *plabels[] = {"p50", "p90", "p99", "p99.9"};
  const char *lat_what =
      o->workload == WL_WATCH   ? "setData until every watcher had its event"
      : o->workload == WL_CHURN ? "connect, handshake, ephemeral create, close"
                                : "request sent until reply read";

  if (o->json) {
    fprintf(f, "{\"workload\":");
    json_str(f, bench_workload_name(o->workload));
    fprintf(f, ",\"hosts\":");
    json_str(f, o->hosts_text);
    fprintf(f,
            ",\"sessions\":%u,\"outstanding\":%u,\"value_size\":%u,"
            "\"values\":\"%s\","
            "\"keys\":%u,\"read_pct\":%u,\"seed\":%llu,\"warmup_s\":%.3f,"
            "\"ops\":%llu,\"elapsed_s\":%.6f,\"throughput_ops_s\":%.1f,",
            o->sessions, o->outstanding, o->value_size,
            o->fixed_value ? "fixed" : "random", o->keys, o->read_pct,
            (unsigned long long)o->seed, o->warmup_s,
            (unsigned long long)r->ops, secs, tput);
    if (o->workload == WL_WATCH)
      fprintf(f, "\"events\":%llu,\"events_per_s\":%.1f,",
              (unsigned long long)r->events,
              secs > 0 ? (double)r->events / secs : 0);
    fprintf(f, "\"latency_us\":{");
    for (int i = 0; i < 4; i++)
      fprintf(f, "\"%s\":%.1f,", pnames[i],
              ns_to_us(bench_hist_percentile(h, pcts[i])));
    fprintf(f, "\"max\":%.1f,\"min\":%.1f,\"mean\":%.1f,\"count\":%llu},",
            ns_to_us(h->count ? h->max : 0), ns_to_us(h->count ? h->min : 0),
            h->count ? ns_to_us(h->sum / h->count) : 0.0,
            (unsigned long long)h->count);
    fprintf(f, "\"latency_measures\":");
    json_str(f, lat_what);
    fprintf(f, ",\"errors\":%llu,\"errors_by_code\":{",
            (unsigned long long)r->errs->total);
    for (uint32_t i = 0; i < r->errs->n_kinds; i++)
      fprintf(f, "%s\"%s\":%llu", i ? "," : "",
              bench_err_name(r->errs->kind[i].code),
              (unsigned long long)r->errs->kind[i].n);
    fprintf(f, "},\"bench_cpu_us\":%llu,\"bench_cpu_us_per_op\":%.3f,",
            (unsigned long long)self_us, (double)self_us * per);
    /* server_pid: the first one (0: none), as before lists were
     * accepted; server_pids: all of them. */
    fprintf(f, "\"server_pid\":%d,\"server_pids\":[",
            o->n_server_pids ? o->server_pids[0] : 0);
    print_pids(f, o);
    fprintf(f, "],");
    if (srv)
      fprintf(f, "\"server_cpu_us\":%llu,\"server_cpu_us_per_op\":%.3f,",
              (unsigned long long)srv_us, (double)srv_us * per);
    else
      fprintf(f, "\"server_cpu_us\":null,\"server_cpu_us_per_op\":null,");
    fprintf(f, "\"setup_s\":%.3f,\"setup_items\":%llu,\"failed\":%s,"
               "\"message\":",
            r->setup_s, (unsigned long long)r->setup_items,
            r->failed ? "true" : "false");
    json_str(f, r->errmsg);
    fprintf(f, "}\n");
    fflush(f);
    return;
  }

  fprintf(f,
          "roost-bench %s on %s: %u sessions x %u outstanding, value %u B "
          "(%s)",
          bench_workload_name(o->workload), o->hosts_text, o->sessions,
          o->outstanding, o->value_size,
          o->fixed_value ? "one fixed value" : "random per write");
  if (o->workload != WL_WATCH && o->workload != WL_CHURN &&
      o->keys != UINT32_MAX)
    fprintf(f, ", %u keys", o->keys);
  if (o->workload == WL_MIXED)
    fprintf(f, ", %u%% reads", o->read_pct);
  fprintf(f, "\n");
  if (r->setup_items)
    fprintf(f, "  setup         %llu znodes in %.2f s (not measured)\n",
            (unsigned long long)r->setup_items, r->setup_s);
  fprintf(f, "  operations    %llu in %.3f s = %.0f ops/s\n",
          (unsigned long long)r->ops, secs, tput);
  if (o->workload == WL_WATCH)
    fprintf(f, "  events        %llu = %.0f events/s\n",
            (unsigned long long)r->events,
            secs > 0 ? (double)r->events / secs : 0);
  fprintf(f, "  latency (us)  ");
  for (int i = 0; i < 4; i++)
    fprintf(f, "%s %.1f  ", plabels[i],
            ns_to_us(bench_hist_percentile(h, pcts[i])));
  fprintf(f, "max %.1f  mean %.1f\n", ns_to_us(h->count ? h->max : 0),
          h->count ? ns_to_us(h->sum / h->count) : 0.0);
  fprintf(f, "                (%s)\n", lat_what);
  fprintf(f, "  errors        %llu", (unsigned long long)r->errs->total);
  for (uint32_t i = 0; i < r->errs->n_kinds; i++)
    fprintf(f, "%s%s %llu", i ? ", " : "  (",
            bench_err_name(r->errs->kind[i].code),
            (unsigned long long)r->errs->kind[i].n);
  fprintf(f, "%s\n", r->errs->n_kinds ? ")" : "");
  fprintf(f, "  bench cpu     %.2f us/op (%.3f s)\n", (double)self_us * per,
          (double)self_us / 1e6);
  if (o->n_server_pids) {
    if (srv)
      fprintf(f, "  server cpu    %.2f us/op (%.3f s, pid ",
              (double)srv_us * per, (double)srv_us / 1e6);
    else
      fprintf(f, "  server cpu    unknown (cannot read /proc/PID/stat of pid ");
    print_pids(f, o);
    fprintf(f, ")\n");
  }
  if (r->failed)
    fprintf(f, "  RUN FAILED: %s\n", r->errmsg);
  else if (r->errs->total)
    fprintf(f, "  THE RUN HAD ERRORS%s\n",
            o->allow_errors ? " (allowed by --allow-errors)" : "");
}
