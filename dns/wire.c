/* wire.c — the DNS message codec: names (with compression pointers),
 * query parsing, the response builder and a whole-message checker.
 *
 * Every read is bounds-checked against the message length; compression
 * pointers must point backwards, which bounds the work per name without a
 * hop counter being the only defence. */
#include "dns/dns_int.h"
#include "proto/proto.h"

#include <stdio.h>
#include <string.h>

static uint8_t lower(uint8_t c) {
  return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* ------------------------------------------------------------------ */
/* Names. */

static int name_decode(const uint8_t *msg, size_t msg_len, size_t *off,
                       uint8_t out[DNS_NAME_MAX], size_t *out_len, bool fold) {
  size_t pos = *off;
  size_t end_after = 0; /* where the name ends in msg, once known */
  bool jumped = false;
  size_t n = 0;
  for (;;) {
    if (pos >= msg_len)
      return -1;
    uint8_t c = msg[pos];
    if ((c & 0xC0) == 0xC0) {
      if (pos + 1 >= msg_len)
        return -1;
      size_t target = (size_t)(c & 0x3F) << 8 | msg[pos + 1];
      /* Strictly backwards: every hop lowers pos, so no loop. */
      if (target >= pos)
        return -1;
      if (!jumped)
        end_after = pos + 2;
      jumped = true;
      pos = target;
      continue;
    }
    if ((c & 0xC0) != 0)
      return -1; /* 0x40 / 0x80: extended / reserved label types */
    if (c == 0) {
      if (n + 1 > DNS_NAME_MAX)
        return -1;
      out[n++] = 0;
      if (!jumped)
        end_after = pos + 1;
      break;
    }
    /* c <= 63 here (top bits clear). */
    if (pos + 1 + c > msg_len || n + 1 + c + 1 > DNS_NAME_MAX)
      return -1;
    out[n++] = c;
    for (size_t i = 0; i < c; i++)
      out[n++] = fold ? lower(msg[pos + 1 + i]) : msg[pos + 1 + i];
    pos += 1 + (size_t)c;
  }
  *off = end_after;
  *out_len = n;
  return 0;
}

int dns_name_decode(const uint8_t *msg, size_t msg_len, size_t *off,
                    uint8_t out[DNS_NAME_MAX], size_t *out_len) {
  return name_decode(msg, msg_len, off, out, out_len, true);
}

int dns_name_to_text(const uint8_t *name, size_t len, char *buf, size_t cap) {
  size_t o = 0, i = 0;
  if (cap == 0)
    return -1;
#define PUT(ch)                                                                \
  do {                                                                         \
    if (o + 1 < cap)                                                           \
      buf[o] = (char)(ch);                                                     \
    o++;                                                                       \
  } while (0)
  if (len == 1 && name[0] == 0) {
    PUT('.');
  }
  while (i < len && name[i] != 0) {
    size_t l = name[i];
    if (l > DNS_LABEL_MAX || i + 1 + l >= len)
      return -1;
    for (size_t k = 0; k < l; k++) {
      uint8_t ch = name[i + 1 + k];
      if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '-' || ch == '_') {
        PUT(ch);
      } else {
        PUT('\\');
        PUT('0' + ch / 100);
        PUT('0' + ch / 10 % 10);
        PUT('0' + ch % 10);
      }
    }
    PUT('.');
    i += 1 + l;
  }
#undef PUT
  if (i >= len)
    return -1;
  buf[o < cap ? o : cap - 1] = '\0';
  return (int)(o < cap ? o : cap - 1);
}

int dns_name_from_text(const char *text, uint8_t out[DNS_NAME_MAX]) {
  size_t n = 0;
  const char *p = text;
  if (p[0] == '.' && p[1] == '\0')
    p++;
  while (*p != '\0') {
    const char *dot = strchr(p, '.');
    size_t l = dot != NULL ? (size_t)(dot - p) : strlen(p);
    if (l == 0 || l > DNS_LABEL_MAX || n + 1 + l + 1 > DNS_NAME_MAX)
      return -1;
    out[n++] = (uint8_t)l;
    for (size_t i = 0; i < l; i++)
      out[n++] = lower((uint8_t)p[i]);
    p += l;
    if (*p == '.')
      p++;
  }
  out[n++] = 0;
  return (int)n;
}

/* ------------------------------------------------------------------ */
/* Queries. */

/* One resource record's fixed part after its owner name at *off. */
struct rr_head {
  uint16_t type, klass;
  uint32_t ttl;
  uint16_t rdlen;
  size_t rdata; /* offset */
};

static int rr_read(const uint8_t *msg, size_t len, size_t *off,
                   uint8_t name[DNS_NAME_MAX], size_t *name_len,
                   struct rr_head *h) {
  if (dns_name_decode(msg, len, off, name, name_len) != 0)
    return -1;
  if (*off + 10 > len)
    return -1;
  const uint8_t *p = msg + *off;
  h->type = proto_load_be16(p);
  h->klass = proto_load_be16(p + 2);
  h->ttl = proto_load_be32(p + 4);
  h->rdlen = proto_load_be16(p + 8);
  h->rdata = *off + 10;
  if (h->rdata + h->rdlen > len)
    return -1;
  *off = h->rdata + h->rdlen;
  return 0;
}

enum dns_parse_result dns_query_parse(const uint8_t *pkt, size_t len,
                                      struct dns_query *q) {
  memset(q, 0, sizeof *q);
  if (len < DNS_HEADER_LEN)
    return DNS_PARSE_DROP;
  uint16_t flags = proto_load_be16(pkt + 2);
  if (flags & 0x8000)
    return DNS_PARSE_DROP; /* QR: a response */
  q->id = proto_load_be16(pkt);
  q->opcode = (uint8_t)(flags >> 11 & 0xF);
  q->rd = (flags & 0x0100) != 0;
  q->cd = (flags & 0x0010) != 0;
  if (q->opcode != 0)
    return DNS_PARSE_NOTIMP;
  uint16_t qd = proto_load_be16(pkt + 4), an = proto_load_be16(pkt + 6), ns = proto_load_be16(pkt + 8),
           ar = proto_load_be16(pkt + 10);
  if (qd != 1 || an != 0 || ns != 0)
    return DNS_PARSE_FORMERR;
  size_t off = DNS_HEADER_LEN;
  if (name_decode(pkt, len, &off, q->qname_orig, &q->qname_len, false) != 0)
    return DNS_PARSE_FORMERR;
  for (size_t i = 0; i < q->qname_len; i++)
    q->qname[i] = lower(q->qname_orig[i]); /* length bytes are < 64 */
  if (off + 4 > len)
    return DNS_PARSE_FORMERR;
  q->qtype = proto_load_be16(pkt + off);
  q->qclass = proto_load_be16(pkt + off + 2);
  off += 4;
  q->question_end = off;
  for (uint16_t i = 0; i < ar; i++) {
    uint8_t name[DNS_NAME_MAX];
    size_t name_len;
    struct rr_head h;
    if (rr_read(pkt, len, &off, name, &name_len, &h) != 0)
      return DNS_PARSE_FORMERR;
    if (h.type != DNS_TYPE_OPT)
      continue; /* TSIG and friends: not supported, not an error */
    /* RFC 6891 6.1.1: one OPT, owned by the root. */
    if (q->edns || name_len != 1)
      return DNS_PARSE_FORMERR;
    q->edns = true;
    q->edns_payload = h.klass < DNS_UDP_MIN ? DNS_UDP_MIN : h.klass;
    q->edns_version = (uint8_t)(h.ttl >> 16);
    q->edns_do = (h.ttl & 0x8000) != 0;
    /* Options: each {code, len, data} must fit the rdata exactly. */
    size_t o = h.rdata, oend = h.rdata + h.rdlen;
    while (o < oend) {
      if (o + 4 > oend || o + 4 + proto_load_be16(pkt + o + 2) > oend)
        return DNS_PARSE_FORMERR;
      o += 4 + (size_t)proto_load_be16(pkt + o + 2);
    }
  }
  if (off != len)
    return DNS_PARSE_FORMERR; /* trailing bytes */
  return DNS_PARSE_OK;
}

/* ------------------------------------------------------------------ */
/* Builder. */

static bool fits(const struct dns_builder *b, size_t n) {
  return b->len + n <= b->limit;
}

/* The name written at msg offset o equals suffix s (both as wire names;
 * the one in msg may use pointers, all of which point backwards). */
static bool name_at_equals(const uint8_t *msg, size_t msg_len, size_t o,
                           const uint8_t *s, size_t s_len) {
  /* Walk the name in msg (pointers go backwards: this ends) and compare
   * as we go, so a mismatch costs only the bytes up to it. */
  size_t i = 0;
  for (;;) {
    if (o >= msg_len || i >= s_len)
      return false;
    uint8_t c = msg[o];
    if ((c & 0xC0) == 0xC0) {
      if (o + 1 >= msg_len)
        return false;
      size_t target = (size_t)(c & 0x3F) << 8 | msg[o + 1];
      if (target >= o)
        return false;
      o = target;
      continue;
    }
    if ((c & 0xC0) != 0 || c != s[i] || o + 1 + c > msg_len ||
        i + 1 + c > s_len)
      return false;
    if (c == 0)
      return i + 1 == s_len;
    for (size_t k = 1; k <= c; k++)
      if (lower(msg[o + k]) != lower(s[i + k]))
        return false;
    o += 1 + (size_t)c;
    i += 1 + (size_t)c;
  }
}

/* Write name with compression; the name's uncompressed label starts are
 * remembered for later names.  Returns 0 or -1 (did not fit: b->len
 * unchanged). */
static int put_name(struct dns_builder *b, const uint8_t *name, size_t len) {
  size_t start = b->len;
  size_t i = 0;
  while (name[i] != 0) {
    /* Longest suffix already in the message: a pointer to it. */
    for (size_t k = 0; k < b->n_comp; k++) {
      /* The suffix lengths must agree before the bytes are worth
       * decoding: most candidates stop here. */
      if (b->comp_len[k] == len - i &&
          name_at_equals(b->buf, b->len, b->comp_off[k], name + i, len - i)) {
        if (!fits(b, 2)) {
          b->len = start;
          return -1;
        }
        proto_store_be16(b->buf + b->len, (uint16_t)(0xC000 | b->comp_off[k]));
        b->len += 2;
        goto done;
      }
    }
    size_t l = name[i];
    if (!fits(b, 1 + l)) {
      b->len = start;
      return -1;
    }
    /* Offsets above 0x3FFF cannot be pointed at. */
    if (b->len <= 0x3FFF && b->n_comp < DNS_COMPRESS_MAX) {
      b->comp_len[b->n_comp] = (uint8_t)(len - i);
      b->comp_off[b->n_comp++] = (uint16_t)b->len;
    }
    memcpy(b->buf + b->len, name + i, 1 + l);
    b->len += 1 + l;
    i += 1 + l;
  }
  if (!fits(b, 1)) {
    b->len = start;
    return -1;
  }
  b->buf[b->len++] = 0;
done:
  return 0;
}

int dns_builder_init(struct dns_builder *b, uint8_t *buf, size_t cap,
                     size_t limit, const struct dns_query *q, bool aa,
                     int rcode, bool with_question) {
  memset(b, 0, sizeof *b);
  b->buf = buf;
  b->cap = cap;
  b->limit = limit < cap ? limit : cap;
  if (b->limit < DNS_HEADER_LEN)
    return -1;
  uint16_t flags = 0x8000 | (uint16_t)((q->opcode & 0xF) << 11);
  if (aa)
    flags |= 0x0400;
  if (q->rd)
    flags |= 0x0100;
  if (q->cd)
    flags |= 0x0010;
  flags |= (uint16_t)(rcode & 0xF);
  memset(buf, 0, DNS_HEADER_LEN);
  proto_store_be16(buf, q->id);
  proto_store_be16(buf + 2, flags);
  b->len = DNS_HEADER_LEN;
  if (with_question) {
    /* The question as asked: resolvers that randomise the case of a
     * name (draft-vixie-dnsext-dns0x20) check that it comes back. */
    if (put_name(b, q->qname_orig, q->qname_len) != 0 || !fits(b, 4))
      return -1;
    proto_store_be16(b->buf + b->len, q->qtype);
    proto_store_be16(b->buf + b->len + 2, q->qclass);
    b->len += 4;
    b->counts[0] = 1;
    proto_store_be16(buf + 4, 1);
  }
  b->section = 1;
  return 0;
}

void dns_builder_section(struct dns_builder *b, int section) {
  if (section > b->section && section <= 3)
    b->section = section;
}

static void count_rr(struct dns_builder *b) {
  b->counts[b->section]++;
  proto_store_be16(b->buf + 4 + 2 * (size_t)b->section, b->counts[b->section]);
}

/* Owner name + fixed fields; returns the offset of RDLENGTH or 0. */
static size_t put_rr_head(struct dns_builder *b, const uint8_t *name,
                          size_t name_len, uint16_t type, uint16_t klass,
                          uint32_t ttl) {
  size_t start = b->len;
  if (put_name(b, name, name_len) != 0)
    return 0;
  if (!fits(b, 10)) {
    b->len = start;
    return 0;
  }
  uint8_t *p = b->buf + b->len;
  proto_store_be16(p, type);
  proto_store_be16(p + 2, klass);
  proto_store_be32(p + 4, ttl);
  proto_store_be16(p + 8, 0);
  b->len += 10;
  return b->len - 2;
}

int dns_builder_rr(struct dns_builder *b, const uint8_t *name, size_t name_len,
                   uint16_t type, uint32_t ttl, const uint8_t *rdata,
                   size_t rdlen) {
  size_t start = b->len, n_comp = b->n_comp;
  size_t rdl = put_rr_head(b, name, name_len, type, DNS_CLASS_IN, ttl);
  if (rdl == 0 || !fits(b, rdlen)) {
    b->len = start;
    b->n_comp = n_comp;
    return -1;
  }
  memcpy(b->buf + b->len, rdata, rdlen);
  b->len += rdlen;
  proto_store_be16(b->buf + rdl, (uint16_t)rdlen);
  count_rr(b);
  return 0;
}

int dns_builder_srv(struct dns_builder *b, const uint8_t *name, size_t name_len,
                    uint32_t ttl, uint16_t priority, uint16_t weight,
                    uint16_t port, const uint8_t *target, size_t target_len) {
  size_t start = b->len, n_comp = b->n_comp;
  size_t rdl = put_rr_head(b, name, name_len, DNS_TYPE_SRV, DNS_CLASS_IN, ttl);
  if (rdl == 0 || !fits(b, 6))
    goto undo;
  proto_store_be16(b->buf + b->len, priority);
  proto_store_be16(b->buf + b->len + 2, weight);
  proto_store_be16(b->buf + b->len + 4, port);
  b->len += 6;
  /* RFC 2782 says the target is not compressed; RFC 3597 4 lets a
   * receiver accept it anyway.  We write it uncompressed. */
  if (!fits(b, target_len))
    goto undo;
  memcpy(b->buf + b->len, target, target_len);
  if (b->len <= 0x3FFF && b->n_comp < DNS_COMPRESS_MAX) {
    b->comp_len[b->n_comp] = (uint8_t)target_len;
    b->comp_off[b->n_comp++] = (uint16_t)b->len;
  }
  b->len += target_len;
  proto_store_be16(b->buf + rdl, (uint16_t)(b->len - rdl - 2));
  count_rr(b);
  return 0;
undo:
  b->len = start;
  b->n_comp = n_comp;
  return -1;
}

int dns_builder_soa(struct dns_builder *b, const uint8_t *zone, size_t zone_len,
                    uint32_t ttl, uint32_t serial) {
  size_t start = b->len, n_comp = b->n_comp;
  uint8_t mname[DNS_NAME_MAX], rname[DNS_NAME_MAX];
  static const uint8_t ns[] = {2, 'n', 's'};
  static const uint8_t hm[] = {10,  'h', 'o', 's', 't', 'm',
                               'a', 's', 't', 'e', 'r'};
  if (zone_len + sizeof hm > DNS_NAME_MAX)
    return -1;
  memcpy(mname, ns, sizeof ns);
  memcpy(mname + sizeof ns, zone, zone_len);
  memcpy(rname, hm, sizeof hm);
  memcpy(rname + sizeof hm, zone, zone_len);
  size_t rdl = put_rr_head(b, zone, zone_len, DNS_TYPE_SOA, DNS_CLASS_IN, ttl);
  if (rdl == 0)
    goto undo;
  if (put_name(b, mname, zone_len + sizeof ns) != 0 ||
      put_name(b, rname, zone_len + sizeof hm) != 0 || !fits(b, 20))
    goto undo;
  uint8_t *p = b->buf + b->len;
  proto_store_be32(p, serial);
  proto_store_be32(p + 4, 3600);   /* refresh */
  proto_store_be32(p + 8, 600);    /* retry */
  proto_store_be32(p + 12, 86400); /* expire */
  proto_store_be32(p + 16, ttl);   /* minimum = negative-answer TTL (RFC 2308) */
  b->len += 20;
  proto_store_be16(b->buf + rdl, (uint16_t)(b->len - rdl - 2));
  count_rr(b);
  return 0;
undo:
  b->len = start;
  b->n_comp = n_comp;
  return -1;
}

int dns_builder_opt(struct dns_builder *b, uint16_t payload,
                    uint8_t ext_rcode) {
  if (!fits(b, 11))
    return -1;
  uint8_t *p = b->buf + b->len;
  p[0] = 0; /* root */
  proto_store_be16(p + 1, DNS_TYPE_OPT);
  proto_store_be16(p + 3, payload);
  proto_store_be32(p + 5, (uint32_t)ext_rcode << 24); /* version 0, DO clear */
  proto_store_be16(p + 9, 0);
  b->len += 11;
  b->section = 3;
  count_rr(b);
  return 0;
}

void dns_builder_set_tc(struct dns_builder *b) { b->buf[2] |= 0x02; }

void dns_builder_set_rcode(struct dns_builder *b, int rcode) {
  b->buf[3] = (uint8_t)((b->buf[3] & 0xF0) | (rcode & 0xF));
}

/* ------------------------------------------------------------------ */
/* Whole-message check. */

static int check_rdata(const uint8_t *msg, size_t len,
                       const struct rr_head *h) {
  uint8_t name[DNS_NAME_MAX];
  size_t nl, o = h->rdata, end = h->rdata + h->rdlen;
  switch (h->type) {
  case DNS_TYPE_A:
    return h->rdlen == 4 ? 0 : -1;
  case DNS_TYPE_AAAA:
    return h->rdlen == 16 ? 0 : -1;
  case DNS_TYPE_NS:
  case DNS_TYPE_CNAME:
    if (dns_name_decode(msg, len, &o, name, &nl) != 0)
      return -1;
    return o == end ? 0 : -1;
  case DNS_TYPE_SRV:
    if (h->rdlen < 7)
      return -1;
    o += 6;
    if (dns_name_decode(msg, len, &o, name, &nl) != 0)
      return -1;
    return o == end ? 0 : -1;
  case DNS_TYPE_SOA:
    /* MNAME then RNAME: the same call twice, o moving on. */
    for (int k = 0; k < 2; k++)
      if (dns_name_decode(msg, len, &o, name, &nl) != 0)
        return -1;
    return o + 20 == end ? 0 : -1;
  default:
    return 0;
  }
}

int dns_msg_check(const uint8_t *msg, size_t len, uint16_t counts[4]) {
  if (len < DNS_HEADER_LEN)
    return -1;
  size_t off = DNS_HEADER_LEN;
  uint8_t name[DNS_NAME_MAX];
  size_t nl;
  for (int s = 0; s < 4; s++)
    counts[s] = proto_load_be16(msg + 4 + 2 * (size_t)s);
  for (uint16_t i = 0; i < counts[0]; i++) {
    if (dns_name_decode(msg, len, &off, name, &nl) != 0 || off + 4 > len)
      return -1;
    off += 4;
  }
  for (int s = 1; s < 4; s++) {
    for (uint16_t i = 0; i < counts[s]; i++) {
      struct rr_head h;
      if (rr_read(msg, len, &off, name, &nl, &h) != 0 ||
          check_rdata(msg, len, &h) != 0)
        return -1;
    }
  }
  return off == len ? 0 : -1;
}
