/* duration.c — Go/Consul duration strings ("10s", "1m30s", "500ms"). */
#include <string.h>

#include "agent/agent.h"

/* Nanoseconds per unit; longest spellings first so "ms" wins over "m". */
static const struct {
  const char *name;
  double ns;
} units[] = {
    {"ns", 1.0},        {"us", 1e3},
    {"\xc2\xb5s", 1e3}, /* µs */
    {"\xce\xbcs", 1e3}, /* μs (Greek mu) */ {"ms", 1e6},
    {"s", 1e9},         {"m", 60e9},
    {"h", 3600e9},
};

/* One "<number><unit>" term; advances *p.  Returns the nanoseconds or -1. */
static double term(const char **p) {
  const char *s = *p;
  double v = 0;
  bool digits = false;
  while (*s >= '0' && *s <= '9') {
    v = v * 10 + (*s++ - '0');
    digits = true;
  }
  if (*s == '.') {
    s++;
    double scale = 0.1;
    while (*s >= '0' && *s <= '9') {
      v += (*s++ - '0') * scale;
      scale /= 10;
      digits = true;
    }
  }
  if (!digits)
    return -1;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    size_t n = strlen(units[i].name);
    if (strncmp(s, units[i].name, n) == 0) {
      /* "m" must not eat the "m" of "ms" (covered by order) */
      *p = s + n;
      return v * units[i].ns;
    }
  }
  return -1;
}

int agent_duration_parse(const char *s, int64_t *out_ms) {
  if (s == NULL || out_ms == NULL || *s == '\0')
    return AGENT_EINVAL;
  if (*s == '+')
    s++;
  if (strcmp(s, "0") == 0) {
    *out_ms = 0;
    return AGENT_OK;
  }
  double ns = 0;
  while (*s) {
    double t = term(&s);
    if (t < 0)
      return AGENT_EINVAL;
    ns += t;
    if (ns > 9.2e18) /* Go's limit: int64 nanoseconds */
      return AGENT_EINVAL;
  }
  double ms = ns / 1e6;
  int64_t whole = (int64_t)ms;
  if ((double)whole < ms)
    whole++; /* round up: 100us must not become "no timeout" */
  *out_ms = whole;
  return AGENT_OK;
}
