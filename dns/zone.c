/* zone.c — what a query name means inside the zone (docs/dns.md). */
#include "dns/dns_int.h"

#include <string.h>

#define MAX_LABELS 128

static bool label_is(const uint8_t *l, const char *s) {
  size_t n = strlen(s);
  return l[0] == n && memcmp(l + 1, s, n) == 0;
}

static int hexval(uint8_t c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* <hex>.addr: 8 hex digits = IPv4, 32 = IPv6. */
static bool parse_addr_label(const uint8_t *l, struct dns_qname_info *info) {
  size_t n = l[0];
  if (n != 8 && n != 32)
    return false;
  for (size_t i = 0; i < n; i += 2) {
    int hi = hexval(l[1 + i]), lo = hexval(l[2 + i]);
    if (hi < 0 || lo < 0)
      return false;
    info->addr[i / 2] = (uint8_t)(hi << 4 | lo);
  }
  info->family = n == 8 ? 4 : 6;
  return true;
}

static void set_service(struct dns_qname_info *info, const uint8_t *svc,
                        const uint8_t *tag) {
  info->kind = DNS_Q_SERVICE;
  info->service = svc + 1;
  info->service_len = svc[0];
  if (tag != NULL) {
    info->tag = tag + 1;
    info->tag_len = tag[0];
  }
}

/* _<service>._<tag>: "_tcp" means no tag (as Consul). */
static void set_rfc2782(struct dns_qname_info *info, const uint8_t *svc,
                        const uint8_t *proto) {
  if (svc[0] < 2 || proto[0] < 2) {
    info->kind = DNS_Q_NONE;
    return;
  }
  info->kind = DNS_Q_SERVICE;
  info->service = svc + 2;
  info->service_len = svc[0] - 1u;
  if (!(proto[0] == 4 && memcmp(proto + 1, "_tcp", 4) == 0)) {
    info->tag = proto + 2;
    info->tag_len = proto[0] - 1u;
  }
}

static bool under(const uint8_t *l) { return l[0] > 0 && l[1] == '_'; }

void dns_qname_classify(const uint8_t *name, size_t name_len,
                        const uint8_t *zone, size_t zone_len,
                        struct dns_qname_info *info) {
  memset(info, 0, sizeof *info);
  info->kind = DNS_Q_OUTSIDE;
  if (name_len < zone_len ||
      memcmp(name + name_len - zone_len, zone, zone_len) != 0)
    return;
  /* The zone must start at a label boundary of name. */
  const uint8_t *lab[MAX_LABELS];
  size_t k = 0, i = 0, prefix = name_len - zone_len;
  while (i < prefix && k < MAX_LABELS) {
    lab[k++] = name + i;
    i += 1 + (size_t)name[i];
  }
  if (i != prefix)
    return;
  info->kind = DNS_Q_NONE;
  if (k == 0) {
    info->kind = DNS_Q_APEX;
  } else if (k == 1) {
    if (label_is(lab[0], "service") || label_is(lab[0], "addr"))
      info->kind = DNS_Q_EMPTY;
  } else if (k == 2) {
    if (label_is(lab[1], "service"))
      set_service(info, lab[0], NULL);
    else if (label_is(lab[1], "addr")) {
      if (parse_addr_label(lab[0], info))
        info->kind = DNS_Q_ADDR;
    } else if (under(lab[0]) && under(lab[1]))
      set_rfc2782(info, lab[0], lab[1]);
  } else if (k == 3 && label_is(lab[2], "service")) {
    if (under(lab[0]) && under(lab[1]))
      set_rfc2782(info, lab[0], lab[1]);
    else
      set_service(info, lab[1], lab[0]);
  }
}

size_t dns_addr_name(uint8_t family, const uint8_t *addr, const uint8_t *zone,
                     size_t zone_len, uint8_t out[DNS_NAME_MAX]) {
  static const char hex[] = "0123456789abcdef";
  size_t nbytes = family == 4 ? 4 : 16, n = 0;
  if (1 + 2 * nbytes + 5 + zone_len > DNS_NAME_MAX)
    return 0;
  out[n++] = (uint8_t)(2 * nbytes);
  for (size_t i = 0; i < nbytes; i++) {
    out[n++] = (uint8_t)hex[addr[i] >> 4];
    out[n++] = (uint8_t)hex[addr[i] & 0xF];
  }
  static const uint8_t addr_label[5] = {4, 'a', 'd', 'd', 'r'};
  memcpy(out + n, addr_label, sizeof addr_label);
  n += sizeof addr_label;
  memcpy(out + n, zone, zone_len);
  return n + zone_len;
}
