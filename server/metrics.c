/* metrics.c — the Prometheus text exposition (format 0.0.4) for /metrics.
 *
 * Names: every numeric mntr figure under ZooKeeper's Prometheus name (the
 * mntr key without "zk_"; ZooKeeper registers the same quantities as
 * gauges under those names, so its Grafana dashboard reads them), Roost's
 * own mntr figures keep their roost_ names (a learner's, on the leader,
 * labelled sid); ZooKeeper's summaries fsynctime, snapshottime and
 * election_time (ms) from Roost's histograms; quorum_size; and Roost's
 * histograms (struct srv_metrics, counted where the figure arises) in
 * base units: seconds and bytes. */
#include "http/http.h"
#include "server/server_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out(struct proto_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void out(struct proto_writer *w, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0)
    proto_write_raw(w, buf,
                    (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static bool numeric(const char *v, double *d) {
  char *end;
  *d = strtod(v, &end);
  return *v != '\0' && *end == '\0';
}

/* mntr's lines of a ZooKeeper summary (avg_x, min_x, ... cnt_x): the
 * exposition has the summary itself instead (ZooKeeper's Prometheus
 * provider exports election_time, not avg_election_time). */
static bool summary_line(const char *k) {
  static const char *const parts[] = {"avg_", "min_", "max_", "cnt_", "sum_"};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    if (strncmp(k, parts[i], 4) == 0 && strcmp(k + 4, "election_time") == 0)
      return true;
  return false;
}

/* One mntr figure as a gauge.  "<name>_sid_<id>" (a learner's figure on
 * the leader) is <name>{sid="<id>"}; lines of one name come together, so
 * *family remembers the last TYPE written. */
static void gauge(struct proto_writer *w, const char *k, const char *v,
                  char family[128]) {
  const char *sid = strstr(k, "_sid_");
  char name[128];
  size_t n = sid != NULL ? (size_t)(sid - k) : strlen(k);
  if (n >= sizeof name)
    return;
  memcpy(name, k, n);
  name[n] = '\0';
  if (strcmp(name, family) != 0) {
    out(w, "# TYPE %s gauge\n", name);
    memcpy(family, name, n + 1);
  }
  if (sid != NULL)
    out(w, "%s{sid=\"%s\"} %s\n", name, sid + 5, v);
  else
    out(w, "%s %s\n", name, v);
}

/* The mntr figures as gauges. */
static void mntr_gauges(struct srv *s, struct proto_writer *w) {
  struct proto_writer t;
  proto_writer_init(&t);
  srv_fourlw_text(s, "mntr", &t);
  proto_write_raw(&t, "", 1);
  if (t.err != 0) {
    proto_writer_free(&t);
    return;
  }
  char *p = (char *)t.buf, *end = p + t.len - 1;
  char family[128] = "";
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL)
      nl = end;
    *nl = '\0';
    char *tab = strchr(p, '\t');
    double d;
    if (tab != NULL) {
      *tab = '\0';
      const char *k = strncmp(p, "zk_", 3) == 0 ? p + 3 : p;
      if (numeric(tab + 1, &d) && !summary_line(k))
        gauge(w, k, tab + 1, family);
    }
    p = nl + 1;
  }
  proto_writer_free(&t);
}

/* A histogram of values in `unit_scale` units per base unit (1e6 for
 * microseconds -> seconds). */
static void hist(struct proto_writer *w, const char *name, const char *labels,
                 const struct srv_hist *h, double unit_scale, bool type) {
  if (type)
    out(w, "# TYPE %s histogram\n", name);
  const char *sep = labels[0] ? "," : "";
  uint64_t cum = 0;
  for (unsigned i = 0; i < SRV_HIST_BUCKETS; i++) {
    cum += h->b[i];
    out(w, "%s_bucket{%s%sle=\"%.9g\"} %" PRIu64 "\n", name, labels, sep,
        (double)((uint64_t)1 << i) / unit_scale, cum);
  }
  cum += h->b[SRV_HIST_BUCKETS];
  out(w, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, cum);
  const char *lb = labels[0] ? "{" : "";
  const char *le = labels[0] ? "}" : "";
  out(w, "%s_sum%s%s%s %.9g\n", name, lb, labels, le,
      (double)h->sum / unit_scale);
  out(w, "%s_count%s%s%s %" PRIu64 "\n", name, lb, labels, le, h->count);
}

/* ZooKeeper's Summary (ms, no quantiles Roost could state honestly). */
static void summary(struct proto_writer *w, const char *name,
                    const struct srv_hist *h, double to_ms) {
  out(w, "# TYPE %s summary\n%s_sum %.9g\n%s_count %" PRIu64 "\n", name, name,
      (double)h->sum * to_ms, name, h->count);
}

static int32_t op_of_index(unsigned i) {
  return i < 34 ? (int32_t)i - 11 : (int32_t)(i - 34 + 100);
}

/* The admin HTTP server's own counters (hostile or idle clients show
 * here before anywhere else). */
static void http_counters(struct http_server *h, struct proto_writer *w) {
  if (h == NULL)
    return;
  struct http_stats st;
  http_server_stats(h, &st);
  out(w,
      "# TYPE roost_http_requests_total counter\nroost_http_requests_total "
      "%" PRIu64 "\n",
      st.requests);
  out(w,
      "# TYPE roost_http_client_errors_total counter\n"
      "roost_http_client_errors_total %" PRIu64 "\n",
      st.client_errors);
  out(w,
      "# TYPE roost_http_connections_rejected_total counter\n"
      "roost_http_connections_rejected_total %" PRIu64 "\n",
      st.rejected);
  out(w,
      "# TYPE roost_http_timeouts_total counter\nroost_http_timeouts_total "
      "%" PRIu64 "\n",
      st.timeouts);
  out(w,
      "# TYPE roost_http_open_connections gauge\n"
      "roost_http_open_connections %zu\n",
      st.open_conns);
}

void srv_metrics_text(struct srv *s, struct http_server *h,
                      struct proto_writer *w) {
  mntr_gauges(s, w);
  const struct srv_metrics *m = s->metrics;
  int voters = 0;
  for (int i = 0; i < s->cfg.n_peers; i++)
    voters += !s->cfg.peers[i].observer;
  out(w, "# TYPE quorum_size gauge\nquorum_size %d\n", voters ? voters : 1);
  summary(w, "fsynctime", &m->fsync_us, 1e-3);
  summary(w, "snapshottime", &m->snapshot_ms, 1.0);
  summary(w, "election_time", &m->election_ms, 1.0);
  bool first = true;
  for (unsigned i = 0; i < SRV_METRIC_OPS; i++) {
    if (m->request_us[i].count == 0)
      continue;
    char lab[64];
    snprintf(lab, sizeof lab, "op=\"%s\"",
             i == SRV_METRIC_OPS - 1 ? "other" : proto_op_name(op_of_index(i)));
    hist(w, "roost_request_latency_seconds", lab, &m->request_us[i], 1e6,
         first);
    first = false;
  }
  hist(w, "roost_fsync_latency_seconds", "", &m->fsync_us, 1e6, true);
  if (s->cfg.n_peers > 0)
    hist(w, "roost_commit_latency_seconds", "", &m->commit_us, 1e6, true);
  hist(w, "roost_fsync_batch_txns", "", &m->fsync_txns, 1.0, true);
  hist(w, "roost_snapshot_duration_seconds", "", &m->snapshot_ms, 1e3, true);
  hist(w, "roost_snapshot_size_bytes", "", &m->snapshot_bytes, 1.0, true);
  size_t conns = 0, with_session = 0;
  for (const struct srv_conn *c = s->conns; c != NULL; c = c->next) {
    if (c->handle_closed)
      continue;
    conns++;
    with_session += c->session != NULL;
  }
  out(w, "# TYPE roost_sessions gauge\nroost_sessions %zu\n", s->sessions.n);
  out(w,
      "# TYPE roost_sessions_connected gauge\nroost_sessions_connected %zu\n",
      with_session);
  out(w,
      "# TYPE roost_client_connections gauge\nroost_client_connections %zu\n",
      conns);
  srv_dns_metrics(s, w);
  http_counters(h, w);
}
