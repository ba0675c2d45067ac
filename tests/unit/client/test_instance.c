/* test_instance.c — the service instance payload parser (client/instance.c):
 * roost-agent's JSON, Curator's ServiceInstance JSON, "host:port", and
 * malformed input, which must never fail or crash the caller. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client/client_int.h"

static void parse(roost_instance *in, const char *s) {
  memset(in, 0, sizeof *in);
  assert_int_equal(rc_instance_parse(in, s, s ? strlen(s) : 0), ROOST_OK);
}

static void test_agent_format(void **state) {
  (void)state;
  roost_instance in;
  parse(&in, "{\"name\":\"web\",\"id\":\"web-1\",\"address\":\"10.0.0.7\","
             "\"host\":\"10.0.0.7\",\"port\":8080,\"tags\":[\"v2\",\"blue\"],"
             "\"meta\":{\"zone\":\"a\"},\"weight\":3,"
             "\"weights\":{\"passing\":5,\"warning\":1},\"status\":\"passing\","
             "\"checks\":[{\"id\":\"c1\",\"name\":\"http\",\"type\":\"http\","
             "\"status\":\"passing\",\"output\":\"200 OK\"}]}");
  assert_true(in.parsed);
  assert_string_equal(in.service, "web");
  assert_string_equal(in.id, "web-1");
  assert_string_equal(in.address, "10.0.0.7");
  assert_int_equal(in.port, 8080);
  assert_int_equal(in.n_tags, 2);
  assert_string_equal(in.tags[0], "v2");
  assert_string_equal(in.tags[1], "blue");
  assert_int_equal(in.status, ROOST_HEALTH_PASSING);
  assert_true(in.weight == 5.0); /* weights.passing wins over weight */
  rc_instance_clear_parsed(&in);
}

static void test_status_and_weights(void **state) {
  (void)state;
  roost_instance in;
  parse(&in, "{\"host\":\"h\",\"port\":1,\"status\":\"warning\","
             "\"weights\":{\"passing\":5,\"warning\":2}}");
  assert_int_equal(in.status, ROOST_HEALTH_WARNING);
  assert_true(in.weight == 2.0);
  rc_instance_clear_parsed(&in);
  parse(&in, "{\"host\":\"h\",\"status\":\"critical\",\"weight\":9}");
  assert_int_equal(in.status, ROOST_HEALTH_CRITICAL);
  assert_true(in.weight == 0.0);
  rc_instance_clear_parsed(&in);
  /* absent status is passing; a plain weight */
  parse(&in, "{\"host\":\"h\",\"port\":2,\"weight\":2.5}");
  assert_int_equal(in.status, ROOST_HEALTH_PASSING);
  assert_true(in.weight == 2.5);
  assert_string_equal(in.address, "h"); /* host when no address */
  rc_instance_clear_parsed(&in);
  /* unknown status (Consul's maintenance): no traffic */
  parse(&in, "{\"status\":\"maintenance\"}");
  assert_int_equal(in.status, ROOST_HEALTH_CRITICAL);
  rc_instance_clear_parsed(&in);
  /* weights without the needed key: Consul's default 1 */
  parse(&in, "{\"status\":\"warning\",\"weights\":{\"passing\":7}}");
  assert_true(in.weight == 1.0);
  rc_instance_clear_parsed(&in);
  /* invalid weights fall back */
  parse(&in, "{\"weight\":-4}");
  assert_true(in.weight == 1.0);
  rc_instance_clear_parsed(&in);
  parse(&in, "{\"weight\":\"7\"}");
  assert_true(in.weight == 1.0);
  rc_instance_clear_parsed(&in);
}

static void test_curator_format(void **state) {
  (void)state;
  roost_instance in;
  parse(&in,
        "{\"name\":\"api\",\"id\":\"6a1b\",\"address\":\"192.168.1.2\","
        "\"port\":8443,\"sslPort\":9443,\"payload\":null,"
        "\"registrationTimeUTC\":1700000000000,\"serviceType\":\"DYNAMIC\","
        "\"uriSpec\":null}");
  assert_true(in.parsed);
  assert_string_equal(in.service, "api");
  assert_string_equal(in.address, "192.168.1.2");
  assert_int_equal(in.port, 8443);
  assert_int_equal(in.ssl_port, 9443);
  assert_int_equal(in.status, ROOST_HEALTH_PASSING);
  assert_true(in.weight == 1.0);
  assert_int_equal(in.n_tags, 0);
  rc_instance_clear_parsed(&in);
}

static void test_host_port(void **state) {
  (void)state;
  roost_instance in;
  parse(&in, "10.1.2.3:9000\n");
  assert_true(in.parsed);
  assert_string_equal(in.address, "10.1.2.3");
  assert_int_equal(in.port, 9000);
  assert_int_equal(in.status, ROOST_HEALTH_PASSING);
  rc_instance_clear_parsed(&in);
  parse(&in, "[::1]:2181");
  assert_true(in.parsed);
  assert_string_equal(in.address, "::1");
  assert_int_equal(in.port, 2181);
  rc_instance_clear_parsed(&in);
  const char *bad[] = {"host",    "host:",    ":80",    "h:0",
                       "h:65536", "h:8x",     "::1:80", "[::1]80",
                       "a b:80",  "h:123456", "[::1]:", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    parse(&in, bad[i]);
    assert_false(in.parsed);
    assert_null(in.address);
    assert_int_equal(in.port, 0);
    assert_true(in.weight == 1.0);
    rc_instance_clear_parsed(&in);
  }
}

static void test_malformed_json(void **state) {
  (void)state;
  const char *bad[] = {
      "{",
      "{\"host\":",
      "{\"host\":\"h\",}",
      "{\"port\":80 \"host\":\"h\"}",
      "[1,2,3]",
      "{\"host\":\"h\"} trailing",
      "{\"host\":\"\\ud800\"}",
      "{\"a\":\"\x01\"}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    roost_instance in;
    parse(&in, bad[i]);
    assert_false(in.parsed);
    assert_null(in.address);
    assert_int_equal(in.status, ROOST_HEALTH_PASSING);
    assert_true(in.weight == 1.0);
    rc_instance_clear_parsed(&in);
  }
  /* wrong types inside a valid object are ignored field by field */
  roost_instance in;
  parse(&in, "{\"address\":5,\"host\":\"h2\",\"port\":\"80\",\"tags\":"
             "[1,\"ok\",null],\"id\":[],\"name\":{}}");
  assert_true(in.parsed);
  assert_string_equal(in.address, "h2");
  assert_int_equal(in.port, 0);
  assert_int_equal(in.n_tags, 1);
  assert_string_equal(in.tags[0], "ok");
  assert_null(in.id);
  assert_null(in.service);
  rc_instance_clear_parsed(&in);
  /* NUL inside the buffer, not NUL-terminated input */
  memset(&in, 0, sizeof in);
  const char raw[] = {'{', '"', 'h', 'o', 's', 't', '"', ':',
                      '"', 'x', '"', '}', 'J', 'U', 'N', 'K'};
  assert_int_equal(rc_instance_parse(&in, raw, 12), ROOST_OK);
  assert_true(in.parsed);
  assert_string_equal(in.address, "x");
  rc_instance_clear_parsed(&in);
  parse(&in, NULL);
  assert_false(in.parsed);
}

static void test_copy(void **state) {
  (void)state;
  roost_instance a, b;
  parse(&a, "{\"id\":\"i\",\"address\":\"h\",\"port\":5,\"tags\":[\"t\"],"
            "\"status\":\"warning\",\"weight\":4}");
  memset(&b, 0, sizeof b);
  assert_int_equal(rc_instance_copy_parsed(&b, &a), ROOST_OK);
  rc_instance_clear_parsed(&a);
  assert_string_equal(b.id, "i");
  assert_string_equal(b.address, "h");
  assert_string_equal(b.tags[0], "t");
  assert_int_equal(b.status, ROOST_HEALTH_WARNING);
  assert_true(b.weight == 4.0);
  rc_instance_clear_parsed(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_agent_format),
      cmocka_unit_test(test_status_and_weights),
      cmocka_unit_test(test_curator_format),
      cmocka_unit_test(test_host_port),
      cmocka_unit_test(test_malformed_json),
      cmocka_unit_test(test_copy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
