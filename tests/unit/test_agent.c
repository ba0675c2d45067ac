/* test_agent.c — the agent's pure layers: Go duration strings, Consul
 * service definitions (accepted forms, defaults, every refusal naming
 * file, field and reason), directory loading, and the instance JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/agent.h"

/* ------------------------------------------------------------------ */
/* Durations */

static void test_duration_valid(void **state) {
  (void)state;
  static const struct {
    const char *s;
    int64_t ms;
  } ok[] = {
      {"10s", 10000}, {"1m30s", 90000},   {"500ms", 500},
      {"1.5s", 1500}, {"1h", 3600000},    {"2h45m", 9900000},
      {"0", 0},       {"0s", 0},          {"100us", 1},
      {"1ns", 1},     {"1µs", 1},         {"+5s", 5000},
      {".5s", 500},   {"1m0.25s", 60250}, {"1h1m1s1ms", 3661001},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    int64_t v = -1;
    assert_int_equal(agent_duration_parse(ok[i].s, &v), AGENT_OK);
    assert_int_equal(v, ok[i].ms);
  }
}

static void test_duration_invalid(void **state) {
  (void)state;
  static const char *const bad[] = {"",      "10",   "10x",          "-1s",
                                    "s",     "1e3s", " 10s",         "10s ",
                                    "1m-3s", ".s",   "99999999999h", "1d"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t v = 42;
    assert_int_equal(agent_duration_parse(bad[i], &v), AGENT_EINVAL);
    assert_int_equal(v, 42); /* untouched on failure */
  }
  int64_t v;
  assert_int_equal(agent_duration_parse(NULL, &v), AGENT_EINVAL);
}

/* ------------------------------------------------------------------ */
/* Definitions */

struct notices {
  int n;
  char last[512];
};

static void on_notice(const char *msg, void *arg) {
  struct notices *n = arg;
  n->n++;
  snprintf(n->last, sizeof n->last, "%s", msg);
}

static void test_defs_full(void **state) {
  (void)state;
  const char *text =
      "{\"service\": {\"name\": \"payment\", \"id\": \"pay-1\","
      " \"address\": \"10.0.0.7\", \"port\": 8080, \"tags\": [\"v1\", \"eu\"],"
      " \"meta\": {\"team\": \"pay\"}, \"weights\": {\"passing\": 5,"
      " \"warning\": 2},"
      " \"checks\": ["
      "  {\"http\": \"http://127.0.0.1:8080/health\", \"method\": \"POST\","
      "   \"header\": {\"X-A\": [\"1\", \"2\"], \"X-B\": \"3\"},"
      "   \"interval\": \"10s\", \"timeout\": \"1s\","
      "   \"tls_skip_verify\": true, \"failures_before_critical\": 3,"
      "   \"success_before_passing\": 2, \"output_max_size\": 100},"
      "  {\"tcp\": \"127.0.0.1:8080\", \"interval\": \"5s\"},"
      "  {\"grpc\": \"127.0.0.1:9090/my.Svc\", \"interval\": \"5s\"},"
      "  {\"args\": [\"/bin/true\", \"-x\"], \"interval\": \"1m\"},"
      "  {\"id\": \"beat\", \"name\": \"heartbeat\", \"ttl\": \"30s\","
      "   \"deregister_critical_service_after\": \"90m\","
      "   \"status\": \"passing\"}"
      " ]}}";
  struct agent_defs d = {0};
  char err[256] = "";
  struct notices n = {0};
  assert_int_equal(
      agent_defs_parse(text, "f.json", &d, on_notice, &n, err, sizeof err),
      AGENT_OK);
  assert_int_equal(n.n, 0);
  assert_int_equal(d.n, 1);
  struct agent_service_def *s = &d.v[0];
  assert_string_equal(s->file, "f.json");
  assert_string_equal(s->name, "payment");
  assert_string_equal(s->id, "pay-1");
  assert_string_equal(s->address, "10.0.0.7");
  assert_int_equal(s->port, 8080);
  assert_int_equal(s->n_tags, 2);
  assert_string_equal(s->tags[1], "eu");
  assert_int_equal(s->n_meta, 1);
  assert_string_equal(s->meta[0].name, "team");
  assert_int_equal(s->weight_passing, 5);
  assert_int_equal(s->weight_warning, 2);
  assert_int_equal(s->n_checks, 5);
  struct agent_check_def *h = &s->checks[0];
  assert_int_equal(h->kind, AGENT_CHECK_HTTP);
  assert_string_equal(h->id, "service:pay-1:1"); /* Consul's default */
  assert_string_equal(h->name, "Service 'payment' check");
  assert_string_equal(h->method, "POST");
  assert_int_equal(h->n_headers, 3);
  assert_string_equal(h->headers[1].value, "2");
  assert_int_equal(h->interval_ms, 10000);
  assert_int_equal(h->timeout_ms, 1000);
  assert_true(h->tls_skip_verify);
  assert_int_equal(h->failures_before_critical, 3);
  assert_int_equal(h->failures_before_warning, 3); /* follows critical */
  assert_int_equal(h->success_before_passing, 2);
  assert_int_equal(h->output_max_size, 100);
  assert_int_equal(h->initial_status, AGENT_CRITICAL);
  assert_int_equal(s->checks[1].kind, AGENT_CHECK_TCP);
  assert_int_equal(s->checks[1].timeout_ms, 10000);
  assert_int_equal(s->checks[2].kind, AGENT_CHECK_GRPC);
  assert_string_equal(s->checks[2].target, "127.0.0.1:9090/my.Svc");
  struct agent_check_def *a = &s->checks[3];
  assert_int_equal(a->kind, AGENT_CHECK_ARGS);
  assert_int_equal(a->n_args, 2);
  assert_null(a->args[2]);
  assert_int_equal(a->timeout_ms, 30000); /* scripts: 30 s */
  struct agent_check_def *t = &s->checks[4];
  assert_int_equal(t->kind, AGENT_CHECK_TTL);
  assert_string_equal(t->id, "beat");
  assert_string_equal(t->name, "heartbeat");
  assert_int_equal(t->ttl_ms, 30000);
  assert_int_equal(t->deregister_after_ms, 90 * 60000);
  assert_int_equal(t->initial_status, AGENT_PASSING);
  agent_defs_free(&d);
}

static void test_defs_consul_spellings_and_defaults(void **state) {
  (void)state;
  /* Consul's API casing, "services" arrays, a lone check's id, an empty
   * address, Consul-only fields noticed and ignored. */
  const char *text =
      "{\"services\": [{\"Name\": \"web\", \"Port\": 80, \"Address\": \"\","
      " \"EnableTagOverride\": true,"
      " \"Check\": {\"HTTP\": \"https://x/\", \"Interval\": \"1s\","
      "  \"DeregisterCriticalServiceAfter\": \"1m\", \"Notes\": \"n\"}},"
      " {\"name\": \"db\"}], \"extra\": 1}";
  struct agent_defs d = {0};
  char err[256];
  struct notices n = {0};
  assert_int_equal(
      agent_defs_parse(text, "g.json", &d, on_notice, &n, err, sizeof err),
      AGENT_OK);
  assert_int_equal(n.n, 2); /* EnableTagOverride, extra (Notes is known) */
  assert_non_null(strstr(n.last, "services[0].EnableTagOverride"));
  assert_int_equal(d.n, 2);
  assert_string_equal(d.v[0].id, "web"); /* id defaults to the name */
  assert_null(d.v[0].address);
  assert_int_equal(d.v[0].weight_passing, 1);
  assert_int_equal(d.v[0].weight_warning, 1);
  assert_string_equal(d.v[0].checks[0].id, "service:web");
  assert_int_equal(d.v[0].checks[0].deregister_after_ms, 60000);
  assert_string_equal(d.v[0].checks[0].method, "GET");
  assert_int_equal(d.v[1].n_checks, 0);
  assert_int_equal(d.v[1].port, 0);
  /* parsing again appends */
  assert_int_equal(agent_defs_parse("{\"service\": {\"name\": \"z\"}}", "h", &d,
                                    NULL, NULL, err, sizeof err),
                   AGENT_OK);
  assert_int_equal(d.n, 3);
  agent_defs_free(&d);
  assert_int_equal(d.n, 0);
}

static void test_defs_canon_detects_change(void **state) {
  (void)state;
  struct agent_defs d = {0};
  char err[256];
  assert_int_equal(
      agent_defs_parse("{\"service\": {\"name\": \"a\", \"port\": 1,"
                       " \"tags\": [\"x\"]}}",
                       "1", &d, NULL, NULL, err, sizeof err),
      AGENT_OK);
  assert_int_equal(
      agent_defs_parse("{\"service\": {\"tags\": [\"x\"], \"port\": 1,"
                       " \"name\": \"a\"}}",
                       "2", &d, NULL, NULL, err, sizeof err),
      AGENT_OK);
  assert_int_equal(
      agent_defs_parse("{\"service\": {\"name\": \"a\", \"port\": 2,"
                       " \"tags\": [\"x\"]}}",
                       "3", &d, NULL, NULL, err, sizeof err),
      AGENT_OK);
  assert_string_equal(d.v[0].canon, d.v[1].canon); /* key order is moot */
  assert_string_not_equal(d.v[0].canon, d.v[2].canon);
  agent_defs_free(&d);
}

/* Each invalid definition is refused with "file: field: why"; the
 * output list is left as it was. */
static void test_defs_invalid(void **state) {
  (void)state;
  static const struct {
    const char *json;
    const char *field;
    const char *why;
  } bad[] = {
      {"not json", "(json)", "line 1"},
      {"[1]", "(top)", "must be an object"},
      {"{\"x\": 1}", "(top)", "no \"service\""},
      {"{\"services\": 3}", "services", "array"},
      {"{\"service\": 3}", "service", "object"},
      {"{\"service\": {}}", "service.name", "required"},
      {"{\"service\": {\"name\": \"\"}}", "service.name", "empty"},
      {"{\"service\": {\"name\": \"a/b\"}}", "service.name", "not a valid"},
      {"{\"service\": {\"name\": \"..\"}}", "service.name", "not a valid"},
      {"{\"service\": {\"name\": 5}}", "service.name", "string"},
      {"{\"service\": {\"name\": \"a\", \"port\": 65536}}", "service.port",
       "out of range"},
      {"{\"service\": {\"name\": \"a\", \"port\": \"80\"}}", "service.port",
       "integer"},
      {"{\"service\": {\"name\": \"a\", \"tags\": [1]}}", "service.tags",
       "element 0"},
      {"{\"service\": {\"name\": \"a\", \"tags\": \"x\"}}", "service.tags",
       "array"},
      {"{\"service\": {\"name\": \"a\", \"meta\": {\"k\": 1}}}",
       "service.meta.k", "string"},
      {"{\"service\": {\"name\": \"a\", \"weights\": {\"passing\": 0}}}",
       "service.weights.passing", "out of range"},
      {"{\"service\": {\"name\": \"a\", \"weights\": []}}", "service.weights",
       "object"},
      {"{\"service\": {\"name\": \"a\", \"check\": {}}}", "service.check",
       "no check kind"},
      {"{\"service\": {\"name\": \"a\", \"check\": {\"ttl\": \"1s\","
       " \"tcp\": \"a:1\", \"interval\": \"1s\"}}}",
       "service.check", "more than one kind"},
      {"{\"service\": {\"name\": \"a\", \"check\": {\"udp\": \"a:1\"}}}",
       "service.check", "not supported"},
      {"{\"service\": {\"name\": \"a\", \"check\": {\"tcp\": \"a:1\"}}}",
       "service.check.interval", "required"},
      {"{\"service\": {\"name\": \"a\", \"check\": {\"tcp\": \"a:1\","
       " \"interval\": \"0s\"}}}",
       "service.check.interval", "greater than 0"},
      {"{\"service\": {\"name\": \"a\", \"check\": {\"tcp\": \"a:1\","
       " \"interval\": \"1s\", \"timeout\": \"soon\"}}}",
       "service.check.timeout", "not a duration"},
      {"{\"service\": {\"name\": \"a\", \"check\": {\"tcp\": \"a\","
       " \"interval\": \"1s\"}}}",
       "service.check.tcp", "host:port"},
      {"{\"service\": {\"name\": \"a\", \"check\": {\"tcp\": \"a:0\","
       " \"interval\": \"1s\"}}}",
       "service.check.tcp", "host:port"},
      {"{\"service\": {\"name\": \"a\", \"check\": {\"grpc\": \"a/svc\","
       " \"interval\": \"1s\"}}}",
       "service.check.grpc", "host:port"},
      {"{\"service\": {\"name\": \"a\", \"check\": {\"http\": \"ftp://x\","
       " \"interval\": \"1s\"}}}",
       "service.check.http", "URL"},
      {"{\"service\": {\"name\": \"a\", \"check\": {\"args\": [],"
       " \"interval\": \"1s\"}}}",
       "service.check.args", "program"},
      {"{\"service\": {\"name\": \"a\", \"check\": {\"ttl\": \"0s\"}}}",
       "service.check.ttl", "greater than 0"},
      {"{\"service\": {\"name\": \"a\", \"check\": {\"ttl\": \"1s\","
       " \"status\": \"ok\"}}}",
       "service.check.status", "passing"},
      {"{\"service\": {\"name\": \"a\", \"check\": {\"ttl\": \"1s\","
       " \"header\": {\"a\": [1]}}}}",
       "service.check.header.a", "element 0"},
      {"{\"service\": {\"name\": \"a\", \"check\": {\"ttl\": \"1s\","
       " \"tls_skip_verify\": \"yes\"}}}",
       "service.check.tls_skip_verify", "true or false"},
      {"{\"service\": {\"name\": \"a\", \"checks\": [{\"ttl\": \"1s\","
       " \"id\": \"x\"}, {\"ttl\": \"1s\", \"id\": \"x\"}]}}",
       "service.checks[1].id", "used twice"},
      {"{\"service\": {\"name\": \"a\", \"checks\": {}}}", "service.checks",
       "array"},
      {"{\"services\": [{\"name\": \"a\"}, {\"name\": \"b\", \"check\":"
       " {\"ttl\": \"1s\", \"deregister_critical_service_after\": \"x\"}}]}",
       "services[1].check.deregister_critical_service_after", "not a duration"},
      {"{\"service\": {\"name\": \"a\", \"name\": \"b\"}}", "(json)",
       "duplicate"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct agent_defs d = {0};
    char err[512] = "";
    int rc = agent_defs_parse(bad[i].json, "bad.json", &d, NULL, NULL, err,
                              sizeof err);
    if (rc != AGENT_EINVAL || strncmp(err, "bad.json: ", 10) != 0 ||
        strstr(err, bad[i].field) == NULL || strstr(err, bad[i].why) == NULL)
      fail_msg("case %zu (%s): rc %d, err \"%s\"", i, bad[i].json, rc, err);
    assert_int_equal(d.n, 0);
    assert_null(d.v);
  }
}

static char *write_tmp(const char *dir, const char *name, const char *text) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  assert_non_null(p);
  snprintf(p, n, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  return p;
}

static void test_defs_load_dir(void **state) {
  (void)state;
  char dir[] = "/tmp/roost-agent-unit-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char *f1 = write_tmp(dir, "b.json", "{\"service\": {\"name\": \"b\"}}");
  char *f2 = write_tmp(dir, "a.json", "{\"service\": {\"name\": \"a\"}}");
  char *f3 = write_tmp(dir, "notes.txt", "not a definition");
  struct agent_defs d;
  char err[512];
  assert_int_equal(agent_defs_load(dir, &d, NULL, NULL, err, sizeof err),
                   AGENT_OK);
  assert_int_equal(d.n, 2);
  assert_string_equal(d.v[0].name, "a"); /* name order */
  assert_non_null(strstr(d.v[1].file, "b.json"));
  agent_defs_free(&d);

  /* the same id in two files */
  char *f4 = write_tmp(dir, "c.json",
                       "{\"service\": {\"name\": \"x\", \"id\": \"a\"}}");
  assert_int_equal(agent_defs_load(dir, &d, NULL, NULL, err, sizeof err),
                   AGENT_EINVAL);
  assert_non_null(strstr(err, "c.json"));
  assert_non_null(strstr(err, "already used in"));
  assert_int_equal(d.n, 0);
  unlink(f4);
  /* the same check id in two services */
  free(f4);
  f4 = write_tmp(dir, "c.json",
                 "{\"services\": [{\"name\": \"c\", \"check\": "
                 "{\"id\": \"k\", \"ttl\": \"1s\"}}, {\"name\": "
                 "\"d\", \"check\": {\"id\": \"k\", \"ttl\": "
                 "\"1s\"}}]}");
  assert_int_equal(agent_defs_load(dir, &d, NULL, NULL, err, sizeof err),
                   AGENT_EINVAL);
  assert_non_null(strstr(err, "check id"));
  /* a broken file names itself */
  unlink(f4);
  free(f4);
  f4 = write_tmp(dir, "c.json",
                 "{\"service\": {\"name\": \"c\", \"port\": -1}}");
  assert_int_equal(agent_defs_load(dir, &d, NULL, NULL, err, sizeof err),
                   AGENT_EINVAL);
  assert_non_null(strstr(err, "c.json: service.port"));
  /* a single file */
  assert_int_equal(agent_defs_load(f1, &d, NULL, NULL, err, sizeof err),
                   AGENT_OK);
  assert_int_equal(d.n, 1);
  agent_defs_free(&d);
  /* missing path */
  unlink(f1);
  assert_int_equal(agent_defs_load(f1, &d, NULL, NULL, err, sizeof err),
                   AGENT_EIO);
  assert_non_null(strstr(err, "b.json"));
  unlink(f2);
  unlink(f3);
  unlink(f4);
  rmdir(dir);
  free(f1);
  free(f2);
  free(f3);
  free(f4);
}

/* ------------------------------------------------------------------ */
/* Instance JSON */

static void test_instance_json(void **state) {
  (void)state;
  struct agent_defs d = {0};
  char err[256];
  assert_int_equal(
      agent_defs_parse(
          "{\"service\": {\"name\": \"pay\", \"id\": \"p1\", \"port\": 81,"
          " \"tags\": [\"t\"], \"meta\": {\"k\": \"v\"},"
          " \"weights\": {\"passing\": 4, \"warning\": 2},"
          " \"checks\": [{\"id\": \"c1\", \"ttl\": \"1s\"},"
          " {\"id\": \"c2\", \"tcp\": \"h:1\", \"interval\": \"1s\"}]}}",
          "f", &d, NULL, NULL, err, sizeof err),
      AGENT_OK);
  struct agent_check_state st[2] = {{AGENT_WARNING, "slow"},
                                    {AGENT_PASSING, NULL}};
  assert_int_equal(agent_status_worst(st, 2), AGENT_WARNING);
  assert_int_equal(agent_status_worst(st, 0), AGENT_PASSING);
  char *js = agent_instance_json(&d.v[0], "127.0.0.9", st);
  assert_non_null(js);
  json_error_t je;
  json_t *o = json_loads(js, 0, &je);
  assert_non_null(o);
  static const char *const keys[] = {"name",    "id",     "address", "host",
                                     "port",    "tags",   "meta",    "weight",
                                     "weights", "status", "checks"};
  size_t i = 0;
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) {
    assert_true(i < 11);
    assert_string_equal(k, keys[i]);
    i++;
  }
  assert_int_equal(i, 11);
  assert_string_equal(json_string_value(json_object_get(o, "address")),
                      "127.0.0.9");
  assert_string_equal(json_string_value(json_object_get(o, "host")),
                      "127.0.0.9");
  assert_int_equal(json_integer_value(json_object_get(o, "port")), 81);
  assert_int_equal(json_integer_value(json_object_get(o, "weight")), 4);
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(o, "weights"), "warning")),
                   2);
  assert_string_equal(json_string_value(json_object_get(o, "status")),
                      "warning");
  json_t *c = json_array_get(json_object_get(o, "checks"), 0);
  assert_string_equal(json_string_value(json_object_get(c, "id")), "c1");
  assert_string_equal(json_string_value(json_object_get(c, "type")), "ttl");
  assert_string_equal(json_string_value(json_object_get(c, "output")), "slow");
  c = json_array_get(json_object_get(o, "checks"), 1);
  assert_string_equal(json_string_value(json_object_get(c, "type")), "tcp");
  assert_string_equal(json_string_value(json_object_get(c, "output")), "");
  json_decref(o);
  free(js);
  /* invalid UTF-8 in an output is replaced, not dropped */
  st[1].output = "bad \xff byte";
  st[1].status = AGENT_CRITICAL;
  js = agent_instance_json(&d.v[0], "x", st);
  assert_non_null(js);
  assert_non_null(strstr(js, "bad ? byte"));
  assert_non_null(strstr(js, "\"status\":\"critical\",\"checks\""));
  free(js);
  agent_defs_free(&d);
  assert_int_equal(agent_status_parse("warning"), AGENT_WARNING);
  assert_int_equal(agent_status_parse("ok"), -1);
  assert_string_equal(agent_status_name(AGENT_CRITICAL), "critical");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_duration_valid),
      cmocka_unit_test(test_duration_invalid),
      cmocka_unit_test(test_defs_full),
      cmocka_unit_test(test_defs_consul_spellings_and_defaults),
      cmocka_unit_test(test_defs_canon_detects_change),
      cmocka_unit_test(test_defs_invalid),
      cmocka_unit_test(test_defs_load_dir),
      cmocka_unit_test(test_instance_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
