/* zkc_check.h — the "ok - ... / not ok - ..." lines and the closing
 * "N passed, N failed" line of the official-C-client test programs
 * (zk_c_client, zk_c_client_acl, zk_c_failover).  Each program includes
 * it once; the counters are its own. */
#ifndef ROOST_ZKC_CHECK_H
#define ROOST_ZKC_CHECK_H

#include <stdarg.h>
#include <stdio.h>

static int n_pass;
static int n_fail;

static void check(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void check(int cond, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs(cond ? "ok - " : "not ok - ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  fflush(stdout);
  va_end(ap);
  if (cond)
    n_pass++;
  else
    n_fail++;
}

/* The closing line; returns the exit status (0: something passed and
 * nothing failed). */
static int check_summary(void) {
  printf("%d passed, %d failed\n", n_pass, n_fail);
  return n_fail == 0 && n_pass > 0 ? 0 : 1;
}

#endif
