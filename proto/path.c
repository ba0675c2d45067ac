/* proto/path.c — path validation (§7.1) and four-letter words (§8). */
#include "proto/proto.h"

/* Decodes one UTF-8 sequence at s[*i] (strict: no overlongs, no encoded
 * surrogates, nothing past U+10FFFF).  Returns the code point and advances
 * *i, or returns -1 for a malformed sequence. */
static int32_t utf8_next(const unsigned char *s, size_t len, size_t *i) {
  unsigned char b = s[*i];
  uint32_t cp, min;
  size_t n;
  if (b < 0x80) {
    *i += 1;
    return b;
  } else if (b >= 0xc2 && b <= 0xdf) {
    cp = b & 0x1f;
    n = 1;
    min = 0x80;
  } else if (b >= 0xe0 && b <= 0xef) {
    cp = b & 0x0f;
    n = 2;
    min = 0x800;
  } else if (b >= 0xf0 && b <= 0xf4) {
    cp = b & 0x07;
    n = 3;
    min = 0x10000;
  } else {
    return -1; /* continuation byte, C0/C1 overlong lead, or F5..FF */
  }
  if (n > len - *i - 1)
    return -1; /* truncated */
  for (size_t k = 1; k <= n; k++) {
    unsigned char c = s[*i + k];
    if ((c & 0xc0) != 0x80)
      return -1;
    cp = cp << 6 | (c & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return -1;
  *i += n + 1;
  return (int32_t)cp;
}

/* Rule 5: the code points ZooKeeper's PathUtils refuses.  D800-F8FF covers
 * surrogates, so with the > U+FFFF rule no supplementary character passes
 * (Java sees those as surrogate pairs). */
static bool code_point_ok(int32_t cp) {
  if (cp <= 0x1f)
    return false;
  if (cp >= 0x7f && cp <= 0x9f)
    return false;
  if (cp >= 0xd800 && cp <= 0xf8ff)
    return false;
  if (cp >= 0xfff0)
    return false;
  return true;
}

int proto_path_validate(const char *path, size_t len) {
  const unsigned char *s = (const unsigned char *)path;
  if (path == NULL || len == 0 || s[0] != '/') /* rule 1 */
    return PROTO_BADARGUMENTS;
  if (len == 1)
    return PROTO_OK;     /* the root */
  if (s[len - 1] == '/') /* rule 2 */
    return PROTO_BADARGUMENTS;

  size_t comp_start = 1; /* index of the current component's first byte */
  size_t i = 1;
  while (i < len) {
    if (s[i] == '/') {
      size_t clen = i - comp_start;
      if (clen == 0) /* rule 3 */
        return PROTO_BADARGUMENTS;
      i++;
      comp_start = i;
      continue;
    }
    int32_t cp = utf8_next(s, len, &i);
    if (cp < 0 || !code_point_ok(cp)) /* rule 5 */
      return PROTO_BADARGUMENTS;
    /* Rule 4 at each component end ('.' and '/' are single bytes in valid
     * UTF-8, so byte comparisons are exact). */
    if (i == len || s[i] == '/') {
      size_t clen = i - comp_start;
      if ((clen == 1 && s[comp_start] == '.') ||
          (clen == 2 && s[comp_start] == '.' && s[comp_start + 1] == '.'))
        return PROTO_BADARGUMENTS;
    }
  }
  return PROTO_OK;
}

#define FLW(a, b, c, d)                                                        \
  ((int32_t)((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |  \
             (uint32_t)(d)))

const char *proto_four_letter_word(int32_t code) {
  /* A table rather than a switch so the words are spelled once. */
  static const char *const words[] = {
      "ruok", "srvr", "stat", "cons", "crst", "srst", "wchs", "wchc", "wchp",
      "dump", "conf", "envi", "isro", "mntr", "dirs", "gtmk", "stmk", "hash",
  };
  for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
    const char *w = words[k];
    if (FLW(w[0], w[1], w[2], w[3]) == code)
      return w;
  }
  return NULL;
}
