/* libroost_check.h — the CHECK lines of the libroost test programs
 * (libroost_ops, libroost_watch): "FAIL file:line: ..." for a check that
 * did not hold, counted in `failures`.  Each program includes it once; the
 * counter is its own. */
#ifndef ROOST_LIBROOST_CHECK_H
#define ROOST_LIBROOST_CHECK_H

#include <stdio.h>

#include "client/roost.h"

static int failures;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);                              \
      printf(__VA_ARGS__);                                                     \
      printf("\n");                                                            \
      fflush(stdout);                                                          \
      failures++;                                                              \
    }                                                                          \
  } while (0)

#define CHECK_RC(expr, want)                                                   \
  do {                                                                         \
    int rc_ = (expr);                                                          \
    CHECK(rc_ == (want), "%s = %s, want %s", #expr, roost_err_name(rc_),       \
          roost_err_name(want));                                               \
  } while (0)

#endif
