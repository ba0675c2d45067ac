/* shell_render.c — buffers, JSON in and out, and how node data is shown. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tools/shell_int.h"

/* ====================================================================== */
/* sbuf */

void sbuf_init(struct sbuf *b) {
  b->p = NULL;
  b->len = 0;
  b->cap = 0;
  b->failed = false;
}

void sbuf_free(struct sbuf *b) {
  free(b->p);
  sbuf_init(b);
}

void sbuf_reset(struct sbuf *b) {
  b->len = 0;
  b->failed = false;
  if (b->p != NULL)
    b->p[0] = '\0';
}

static bool sbuf_reserve(struct sbuf *b, size_t extra) {
  if (b->failed)
    return false;
  if (extra > SHELL_SBUF_MAX_BYTES - b->len - 1) {
    b->failed = true;
    return false;
  }
  size_t need = b->len + extra + 1;
  if (need <= b->cap)
    return true;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need)
    cap *= 2;
  char *p = realloc(b->p, cap);
  if (p == NULL) {
    b->failed = true;
    return false;
  }
  b->p = p;
  b->cap = cap;
  return true;
}

void sbuf_add(struct sbuf *b, const void *s, size_t n) {
  if (!sbuf_reserve(b, n))
    return;
  if (n > 0)
    memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void sbuf_adds(struct sbuf *b, const char *s) { sbuf_add(b, s, strlen(s)); }

void sbuf_addc(struct sbuf *b, char c) { sbuf_add(b, &c, 1); }

void sbuf_printf(struct sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char small[256];
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n < sizeof small) {
    sbuf_add(b, small, (size_t)n);
    return;
  }
  if (!sbuf_reserve(b, (size_t)n))
    return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* ====================================================================== */
/* JSON writer */

void jw_init(struct jw *w, struct sbuf *out) {
  w->out = out;
  w->depth = 0;
  w->after_key = false;
  w->need_comma[0] = false;
}

/* Before any value or key: a comma if a sibling came before. */
static void jw_sep(struct jw *w) {
  if (w->after_key) {
    w->after_key = false;
    return;
  }
  if (w->need_comma[w->depth])
    sbuf_addc(w->out, ',');
  w->need_comma[w->depth] = true;
}

static void jw_open(struct jw *w, char c) {
  jw_sep(w);
  sbuf_addc(w->out, c);
  /* Our own output nests a few levels; the bound only keeps the array
   * index in range. */
  if (w->depth + 1 < JW_MAX_DEPTH)
    w->depth++;
  w->need_comma[w->depth] = false;
}

static void jw_close(struct jw *w, char c) {
  sbuf_addc(w->out, c);
  if (w->depth > 0)
    w->depth--;
}

void jw_obj(struct jw *w) { jw_open(w, '{'); }
void jw_obj_end(struct jw *w) { jw_close(w, '}'); }
void jw_arr(struct jw *w) { jw_open(w, '['); }
void jw_arr_end(struct jw *w) { jw_close(w, ']'); }

static void json_escape(struct sbuf *b, const char *s, size_t n) {
  sbuf_addc(b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '"':
      sbuf_adds(b, "\\\"");
      break;
    case '\\':
      sbuf_adds(b, "\\\\");
      break;
    case '\n':
      sbuf_adds(b, "\\n");
      break;
    case '\r':
      sbuf_adds(b, "\\r");
      break;
    case '\t':
      sbuf_adds(b, "\\t");
      break;
    default:
      if (c < 0x20 || c == 0x7f)
        sbuf_printf(b, "\\u%04x", c);
      else
        sbuf_addc(b, (char)c);
    }
  }
  sbuf_addc(b, '"');
}

void jw_key(struct jw *w, const char *k) {
  jw_sep(w);
  json_escape(w->out, k, strlen(k));
  sbuf_addc(w->out, ':');
  w->after_key = true;
}

void jw_str(struct jw *w, const char *s) { jw_strn(w, s, strlen(s)); }

void jw_strn(struct jw *w, const char *s, size_t n) {
  jw_sep(w);
  json_escape(w->out, s, n);
}

void jw_i64(struct jw *w, int64_t v) {
  jw_sep(w);
  sbuf_printf(w->out, "%lld", (long long)v);
}

void jw_bool(struct jw *w, bool v) {
  jw_sep(w);
  sbuf_adds(w->out, v ? "true" : "false");
}

void jw_null(struct jw *w) {
  jw_sep(w);
  sbuf_adds(w->out, "null");
}

void jw_raw(struct jw *w, const char *s, size_t n) {
  jw_sep(w);
  sbuf_add(w->out, s, n);
}

/* ====================================================================== */
/* JSON reader / pretty-printer: recursive descent over the RFC 8259
 * grammar.  Tokens are copied verbatim (strings keep their escapes,
 * numbers their spelling), only whitespace is rewritten. */

struct jp {
  const char *s;
  size_t n, i;
  int indent; /* 0: compact */
  struct sbuf *out; /* NULL: validate only */
};

static void jp_ws(struct jp *p) {
  while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
                         p->s[p->i] == '\n' || p->s[p->i] == '\r'))
    p->i++;
}

static void jp_emit(struct jp *p, const char *s, size_t n) {
  if (p->out != NULL)
    sbuf_add(p->out, s, n);
}

static void jp_newline(struct jp *p, int level) {
  if (p->out == NULL || p->indent == 0)
    return;
  sbuf_addc(p->out, '\n');
  for (int k = 0; k < level * p->indent; k++)
    sbuf_addc(p->out, ' ');
}

static bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

static bool jp_string(struct jp *p) {
  size_t start = p->i;
  if (p->i >= p->n || p->s[p->i] != '"')
    return false;
  p->i++;
  while (p->i < p->n) {
    unsigned char c = (unsigned char)p->s[p->i];
    if (c == '"') {
      p->i++;
      jp_emit(p, p->s + start, p->i - start);
      return true;
    }
    if (c < 0x20)
      return false;
    if (c == '\\') {
      if (p->i + 1 >= p->n)
        return false;
      char e = p->s[p->i + 1];
      if (e == 'u') {
        if (p->i + 5 >= p->n)
          return false;
        for (int k = 2; k < 6; k++)
          if (!is_hex(p->s[p->i + (size_t)k]))
            return false;
        p->i += 6;
        continue;
      }
      if (strchr("\"\\/bfnrt", e) == NULL || e == '\0')
        return false;
      p->i += 2;
      continue;
    }
    p->i++;
  }
  return false;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool jp_number(struct jp *p) {
  size_t start = p->i;
  if (p->i < p->n && p->s[p->i] == '-')
    p->i++;
  if (p->i >= p->n)
    return false;
  if (p->s[p->i] == '0') {
    p->i++;
  } else if (is_digit(p->s[p->i])) {
    while (p->i < p->n && is_digit(p->s[p->i]))
      p->i++;
  } else {
    return false;
  }
  if (p->i < p->n && p->s[p->i] == '.') {
    p->i++;
    if (p->i >= p->n || !is_digit(p->s[p->i]))
      return false;
    while (p->i < p->n && is_digit(p->s[p->i]))
      p->i++;
  }
  if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
    p->i++;
    if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
      p->i++;
    if (p->i >= p->n || !is_digit(p->s[p->i]))
      return false;
    while (p->i < p->n && is_digit(p->s[p->i]))
      p->i++;
  }
  jp_emit(p, p->s + start, p->i - start);
  return true;
}

static bool jp_literal(struct jp *p, const char *lit) {
  size_t k = strlen(lit);
  if (p->n - p->i < k || memcmp(p->s + p->i, lit, k) != 0)
    return false;
  p->i += k;
  jp_emit(p, lit, k);
  return true;
}

static bool jp_value(struct jp *p, int level);

/* Object or array; open is '{' or '['.  Empty ones stay on one line. */
static bool jp_container(struct jp *p, int level, char open) {
  char close = open == '{' ? '}' : ']';
  if (level >= JSON_MAX_DEPTH)
    return false;
  p->i++;
  jp_emit(p, &open, 1);
  jp_ws(p);
  if (p->i < p->n && p->s[p->i] == close) {
    p->i++;
    jp_emit(p, &close, 1);
    return true;
  }
  for (;;) {
    jp_newline(p, level + 1);
    if (open == '{') {
      jp_ws(p);
      if (!jp_string(p))
        return false;
      jp_ws(p);
      if (p->i >= p->n || p->s[p->i] != ':')
        return false;
      p->i++;
      jp_emit(p, p->indent ? ": " : ":", p->indent ? 2 : 1);
    }
    if (!jp_value(p, level + 1))
      return false;
    jp_ws(p);
    if (p->i >= p->n)
      return false;
    if (p->s[p->i] == ',') {
      p->i++;
      jp_emit(p, ",", 1);
      continue;
    }
    if (p->s[p->i] != close)
      return false;
    p->i++;
    jp_newline(p, level);
    jp_emit(p, &close, 1);
    return true;
  }
}

static bool jp_value(struct jp *p, int level) {
  jp_ws(p);
  if (p->i >= p->n)
    return false;
  switch (p->s[p->i]) {
  case '{':
  case '[':
    return jp_container(p, level, p->s[p->i]);
  case '"':
    return jp_string(p);
  case 't':
    return jp_literal(p, "true");
  case 'f':
    return jp_literal(p, "false");
  case 'n':
    return jp_literal(p, "null");
  default:
    return jp_number(p);
  }
}

bool json_format(const char *s, size_t n, int indent, struct sbuf *out) {
  struct jp p = {.s = s, .n = n, .i = 0, .indent = indent, .out = out};
  if (!jp_value(&p, 0))
    return false;
  jp_ws(&p);
  return p.i == n;
}

bool json_member(const char *s, size_t n, const char *key, const char **val,
                 size_t *val_len) {
  struct jp p = {.s = s, .n = n, .i = 0, .indent = 0, .out = NULL};
  size_t klen = strlen(key);
  jp_ws(&p);
  if (p.i >= n || s[p.i] != '{')
    return false;
  p.i++;
  jp_ws(&p);
  if (p.i < n && s[p.i] == '}')
    return false;
  for (;;) {
    jp_ws(&p);
    size_t ks = p.i;
    if (!jp_string(&p))
      return false;
    /* Keys are compared as written: a key spelled with escapes does not
     * match, which is fine for the plain ASCII keys we look up. */
    bool match = p.i - ks - 2 == klen && memcmp(s + ks + 1, key, klen) == 0;
    jp_ws(&p);
    if (p.i >= n || s[p.i] != ':')
      return false;
    p.i++;
    jp_ws(&p);
    size_t vs = p.i;
    if (!jp_value(&p, 1))
      return false;
    if (match) {
      *val = s + vs;
      *val_len = p.i - vs;
      return true;
    }
    jp_ws(&p);
    if (p.i >= n)
      return false;
    if (s[p.i] == ',') {
      p.i++;
      continue;
    }
    return false;
  }
}

bool json_member_text(const char *s, size_t n, const char *key, char *buf,
                      size_t buf_size) {
  const char *v;
  size_t vn;
  if (buf_size == 0 || !json_member(s, n, key, &v, &vn))
    return false;
  if (v[0] == '{' || v[0] == '[')
    return false;
  size_t o = 0;
  if (v[0] != '"') {
    if (vn >= buf_size)
      return false;
    memcpy(buf, v, vn);
    buf[vn] = '\0';
    return true;
  }
  for (size_t i = 1; i + 1 < vn; i++) {
    char c = v[i];
    if (c == '\\' && i + 2 < vn) {
      char e = v[++i];
      c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'u' ? '?' : e;
      if (e == 'u')
        i += 4; /* \uXXXX: shown as '?', enough for a summary line */
    }
    if (o + 1 >= buf_size)
      return false;
    buf[o++] = c;
  }
  buf[o] = '\0';
  return true;
}

/* ====================================================================== */
/* Data */

/* Valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF) without control
 * characters other than tab, newline and carriage return. */
static bool printable_utf8(const unsigned char *d, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = d[i];
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
        return false;
      i++;
      continue;
    }
    size_t k;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      k = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      k = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      k = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i <= k)
      return false;
    for (size_t j = 1; j <= k; j++) {
      if ((d[i + j] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (d[i + j] & 0x3f);
    }
    if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
        (cp >= 0x80 && cp <= 0x9f))
      return false;
    i += k + 1;
  }
  return true;
}

enum data_kind data_classify(const char *d, int32_t len) {
  if (len < 0 || d == NULL)
    return DATA_NULL;
  size_t n = (size_t)len;
  if (!printable_utf8((const unsigned char *)d, n))
    return DATA_BINARY;
  /* Only objects and arrays count as JSON: "42" or "true" are shown as
   * the text they are. */
  size_t i = 0;
  while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r'))
    i++;
  if (i < n && (d[i] == '{' || d[i] == '[') && json_format(d, n, 0, NULL))
    return DATA_JSON;
  return DATA_TEXT;
}

void hexdump(struct sbuf *out, const unsigned char *d, size_t len) {
  for (size_t off = 0; off < len; off += 16) {
    sbuf_printf(out, "%08zx  ", off);
    for (size_t j = 0; j < 16; j++) {
      if (off + j < len)
        sbuf_printf(out, "%02x ", d[off + j]);
      else
        sbuf_adds(out, "   ");
      if (j == 7)
        sbuf_addc(out, ' ');
    }
    sbuf_adds(out, " |");
    for (size_t j = 0; j < 16 && off + j < len; j++) {
      unsigned char c = d[off + j];
      sbuf_addc(out, c >= 0x20 && c < 0x7f ? (char)c : '.');
    }
    sbuf_adds(out, "|\n");
  }
}

void data_render_text(struct sbuf *out, const char *d, int32_t len) {
  switch (data_classify(d, len)) {
  case DATA_NULL:
    sbuf_adds(out, "(null)\n");
    return;
  case DATA_JSON: {
    struct sbuf tmp;
    sbuf_init(&tmp);
    json_format(d, (size_t)len, 2, &tmp);
    sbuf_add(out, tmp.p, tmp.len);
    sbuf_addc(out, '\n');
    sbuf_free(&tmp);
    return;
  }
  case DATA_TEXT:
    sbuf_add(out, d, (size_t)len);
    if (len > 0 && d[len - 1] != '\n')
      sbuf_addc(out, '\n');
    return;
  case DATA_BINARY:
    hexdump(out, (const unsigned char *)d, (size_t)len);
    return;
  }
}

static void base64(struct sbuf *out, const unsigned char *d, size_t n) {
  static const char tbl[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)d[i] << 16;
    if (i + 1 < n)
      v |= (uint32_t)d[i + 1] << 8;
    if (i + 2 < n)
      v |= d[i + 2];
    sbuf_addc(out, tbl[(v >> 18) & 63]);
    sbuf_addc(out, tbl[(v >> 12) & 63]);
    sbuf_addc(out, i + 1 < n ? tbl[(v >> 6) & 63] : '=');
    sbuf_addc(out, i + 2 < n ? tbl[v & 63] : '=');
  }
}

void data_render_json(struct jw *w, const char *d, int32_t len) {
  switch (data_classify(d, len)) {
  case DATA_NULL:
    jw_key(w, "encoding");
    jw_str(w, "null");
    jw_key(w, "data");
    jw_null(w);
    return;
  case DATA_TEXT:
    jw_key(w, "encoding");
    jw_str(w, "text");
    jw_key(w, "data");
    jw_strn(w, d, (size_t)len);
    return;
  case DATA_JSON: {
    struct sbuf tmp;
    sbuf_init(&tmp);
    json_format(d, (size_t)len, 0, &tmp);
    jw_key(w, "encoding");
    jw_str(w, "json");
    jw_key(w, "data");
    jw_raw(w, tmp.p, tmp.len);
    sbuf_free(&tmp);
    return;
  }
  case DATA_BINARY: {
    struct sbuf tmp;
    sbuf_init(&tmp);
    base64(&tmp, (const unsigned char *)d, (size_t)len);
    jw_key(w, "encoding");
    jw_str(w, "base64");
    jw_key(w, "data");
    jw_strn(w, tmp.p ? tmp.p : "", tmp.len);
    sbuf_free(&tmp);
    return;
  }
  }
}
