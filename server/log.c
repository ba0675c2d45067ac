/* log.c — the server's log lines: one line each on stderr, UTC time with
 * milliseconds, then the level, then the text.  The level threshold comes
 * from the caller (the server's config), so nothing here is global. */
#include "server/server_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t srv_wall_ms(void) {
  uv_timeval64_t tv;
  if (uv_gettimeofday(&tv) != 0)
    return 0;
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static const char *level_name(int level) {
  switch (level) {
  case SRV_LOG_ERROR:
    return "ERROR";
  case SRV_LOG_WARN:
    return "WARN";
  case SRV_LOG_INFO:
    return "INFO";
  default:
    return "DEBUG";
  }
}

void srv_log_emit(int max_level, int level, const char *fmt, ...) {
  if (level > max_level)
    return;
  int64_t now = srv_wall_ms();
  time_t secs = (time_t)(now / 1000);
  struct tm tm;
  char stamp[32] = "?";
  if (gmtime_r(&secs, &tm) != NULL)
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

  /* Build the whole line first so concurrent writers to stderr (tests
   * running several servers into one pipe) never interleave mid-line. */
  char line[1024];
  int n = snprintf(line, sizeof line, "%s.%03dZ %-5s ", stamp,
                   (int)(now % 1000), level_name(level));
  if (n < 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2)
    len = sizeof line - 2;
  /* A message never spans lines: control characters (a peer's bytes may
   * end up in a message) become '?'. */
  for (size_t i = (size_t)n; i < len; i++)
    if ((unsigned char)line[i] < 0x20)
      line[i] = '?';
  line[len++] = '\n';
  fwrite(line, 1, len, stderr);
  fflush(stderr);
}
