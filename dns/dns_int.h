/* dns_int.h — helpers shared inside dns/ (not part of its interface). */
#ifndef ROOST_DNS_INT_H
#define ROOST_DNS_INT_H

#include "dns/dns.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a query name means inside our zone (zone.c). */
enum dns_qkind {
  DNS_Q_OUTSIDE = 0, /* not under the domain: REFUSED */
  DNS_Q_NONE,        /* under the domain, no such name: NXDOMAIN */
  DNS_Q_APEX,        /* the domain itself */
  DNS_Q_EMPTY,       /* service.D, addr.D, _tcp.D: names without records */
  DNS_Q_SERVICE,     /* service (and tag) filled */
  DNS_Q_ADDR,        /* addr filled */
};

struct dns_qname_info {
  enum dns_qkind kind;
  const uint8_t *service; /* label bytes, borrowed from the name */
  size_t service_len;
  const uint8_t *tag; /* NULL = no tag filter */
  size_t tag_len;
  uint8_t family; /* DNS_Q_ADDR: 4 or 6 */
  uint8_t addr[16];
};

/* Classify a lowercased wire name against the zone (lowercased wire
 * form).  Label pointers in info borrow from name. */
void dns_qname_classify(const uint8_t *name, size_t name_len,
                        const uint8_t *zone, size_t zone_len,
                        struct dns_qname_info *info);

/* The SRV target of an IP address: <hex>.addr.<zone> (Consul's form). */
size_t dns_addr_name(uint8_t family, const uint8_t *addr, const uint8_t *zone,
                     size_t zone_len, uint8_t out[DNS_NAME_MAX]);

#endif /* ROOST_DNS_INT_H */
