/* dns — the DNS interface of roost-server: query parsing and answer
 * building (pure: no I/O, no clock), and the mapping from service
 * instances under /services to SRV/A/AAAA records (docs/dns.md).
 *
 * The server hands dns_answer the bytes of one query and the tree to answer
 * from; dns reads the tree through tree/'s public read API (as an anonymous
 * client with no watcher: nothing in the tree changes) and writes the
 * response into a caller buffer.  dns never calls back into the server.
 *
 * Names answered (D = the configured domain, "roost." by default):
 *   <service>.service.D          SRV, A, AAAA (ANY = SRV)
 *   <tag>.<service>.service.D    the same, instances with that tag only
 *   _<service>._tcp.D            RFC 2782 form (also ..._tcp.service.D)
 *   _<service>._<tag>.D          RFC 2782 form filtered by tag
 *   <hex address>.addr.D         A/AAAA of an SRV target that is an IP
 *   D                            SOA
 * Anything else under D is NXDOMAIN; names outside D are REFUSED.
 *
 * Memory: struct dns is opaque, made by dns_new, freed by dns_free.  It
 * holds a bounded cache of parsed instances, checked against the tree's
 * Stat fields on every use, so a change is visible on the next query.
 * Thread safety: none; one thread drives a struct dns.
 */
#ifndef ROOST_DNS_H
#define ROOST_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tree;

/* ------------------------------------------------------------------ */
/* Wire constants (RFC 1035, 2782, 3596, 6891). */

enum dns_rcode {
  DNS_RCODE_NOERROR = 0,
  DNS_RCODE_FORMERR = 1,
  DNS_RCODE_SERVFAIL = 2,
  DNS_RCODE_NXDOMAIN = 3,
  DNS_RCODE_NOTIMP = 4,
  DNS_RCODE_REFUSED = 5,
  DNS_RCODE_BADVERS = 16, /* extended: only through an OPT record */
};

enum dns_type {
  DNS_TYPE_A = 1,
  DNS_TYPE_NS = 2,
  DNS_TYPE_CNAME = 5,
  DNS_TYPE_SOA = 6,
  DNS_TYPE_TXT = 16,
  DNS_TYPE_AAAA = 28,
  DNS_TYPE_SRV = 33,
  DNS_TYPE_OPT = 41,
  DNS_TYPE_IXFR = 251,
  DNS_TYPE_AXFR = 252,
  DNS_TYPE_ANY = 255,
};

#define DNS_CLASS_IN 1
#define DNS_CLASS_ANY 255
#define DNS_HEADER_LEN 12
#define DNS_NAME_MAX 255 /* wire length of a name, root label included */
#define DNS_LABEL_MAX 63
#define DNS_UDP_MIN 512   /* RFC 1035 UDP size without EDNS */
#define DNS_MSG_MAX 65535 /* TCP */

/* ------------------------------------------------------------------ */
/* Names. */

/* Decode the (possibly compressed) name at msg[*off] into wire form
 * without pointers, lowercased (ASCII), in out (DNS_NAME_MAX bytes).
 * Pointers must point strictly before the label that holds them, so no
 * loop can be built; a label > 63, a name > 255 bytes, a reserved label
 * type (0x40, 0x80) or running off the end fail.  On success *off is past
 * the name as it sits in msg (after the first pointer, if any) and
 * *out_len is the wire length (>= 1).  Returns 0 or -1. */
int dns_name_decode(const uint8_t *msg, size_t msg_len, size_t *off,
                    uint8_t out[DNS_NAME_MAX], size_t *out_len);

/* Text form ("a.b.", "." for the root) of a wire name (no pointers) into
 * buf; bytes other than letters, digits, '-' and '_' are written \DDD.
 * Returns the length written (buf is NUL-terminated and truncated to
 * cap), or -1 if the wire name is malformed. */
int dns_name_to_text(const uint8_t *name, size_t len, char *buf, size_t cap);

/* Wire form of a text name ("a.b" or "a.b."; "." or "" = root), no
 * escapes; labels 1..63 bytes, total <= 255.  Returns the wire length or
 * -1. */
int dns_name_from_text(const char *text, uint8_t out[DNS_NAME_MAX]);

/* ------------------------------------------------------------------ */
/* Queries. */

struct dns_query {
  uint16_t id;
  uint8_t opcode;
  bool rd;                          /* recursion desired: echoed */
  bool cd;                          /* checking disabled: echoed */
  uint8_t qname[DNS_NAME_MAX];      /* wire form, lowercased, no pointers */
  uint8_t qname_orig[DNS_NAME_MAX]; /* the same with the case as sent */
  size_t qname_len;
  size_t question_end; /* offset just past the question in the packet */
  uint16_t qtype;
  uint16_t qclass;
  bool edns;             /* an OPT record was present */
  uint8_t edns_version;  /* of that OPT */
  bool edns_do;          /* DNSSEC OK bit (we sign nothing) */
  uint16_t edns_payload; /* advertised UDP size, >= 512 when edns */
};

enum dns_parse_result {
  DNS_PARSE_OK = 0,  /* q fully filled */
  DNS_PARSE_DROP,    /* no answer at all: shorter than a header, or QR set
                        (a response: answering responses makes loops) */
  DNS_PARSE_FORMERR, /* header fields in q valid (id, opcode, rd) */
  DNS_PARSE_NOTIMP,  /* opcode other than QUERY; header fields valid */
};

/* Parse one query message.  Checks: QDCOUNT == 1, ANCOUNT == NSCOUNT == 0
 * (a QUERY carries no answers), the question name, type and class, and
 * every additional record (at most one OPT, owner the root; other records
 * such as TSIG are skipped after their bounds are checked).  Bytes after
 * the last record are refused (FORMERR).  Never reads outside pkt. */
enum dns_parse_result dns_query_parse(const uint8_t *pkt, size_t len,
                                      struct dns_query *q);

/* ------------------------------------------------------------------ */
/* Response builder: records into a caller buffer, with name compression
 * and a size limit.  A record that does not fit is not written and the
 * call returns -1 (the message stays valid); the caller decides about TC. */

#define DNS_COMPRESS_MAX 64

struct dns_builder {
  uint8_t *buf; /* borrowed */
  size_t cap;   /* bytes available in buf */
  size_t limit; /* <= cap: records must end at or before this */
  size_t len;
  uint16_t counts[4];                  /* QD, AN, NS, AR */
  int section;                         /* 0..3: where records go now */
  uint16_t comp_off[DNS_COMPRESS_MAX]; /* names written, for pointers */
  uint8_t comp_len[DNS_COMPRESS_MAX];  /* their uncompressed wire lengths */
  size_t n_comp;
};

/* Start a response: header from q (id, opcode, rd, cd), QR set, flags and
 * rcode as given (aa: authoritative answer); writes the question when
 * with_question.  limit is the largest message allowed (UDP: 512 or the
 * EDNS size; TCP: 65535), clamped to cap.  Returns 0, or -1 if not even
 * the header and question fit. */
int dns_builder_init(struct dns_builder *b, uint8_t *buf, size_t cap,
                     size_t limit, const struct dns_query *q, bool aa,
                     int rcode, bool with_question);
/* Records after this go to section s (1 answer, 2 authority, 3 additional);
 * sections only move forward. */
void dns_builder_section(struct dns_builder *b, int section);
/* One record: name (wire form, no pointers) + type/class/ttl + rdata
 * already in wire form (no names inside).  Returns 0 or -1 (did not fit). */
int dns_builder_rr(struct dns_builder *b, const uint8_t *name, size_t name_len,
                   uint16_t type, uint32_t ttl, const uint8_t *rdata,
                   size_t rdlen);
/* An SRV record (its target name is compressed too). */
int dns_builder_srv(struct dns_builder *b, const uint8_t *name, size_t name_len,
                    uint32_t ttl, uint16_t priority, uint16_t weight,
                    uint16_t port, const uint8_t *target, size_t target_len);
/* A SOA record for zone apex `zone` (names derived from it). */
int dns_builder_soa(struct dns_builder *b, const uint8_t *zone, size_t zone_len,
                    uint32_t ttl, uint32_t serial);
/* The OPT pseudo-record (always in the additional section): our UDP
 * payload size and the upper 8 bits of an extended rcode. */
int dns_builder_opt(struct dns_builder *b, uint16_t payload, uint8_t ext_rcode);
/* Set the TC bit / the 4-bit rcode in the header. */
void dns_builder_set_tc(struct dns_builder *b);
void dns_builder_set_rcode(struct dns_builder *b, int rcode);

/* ------------------------------------------------------------------ */
/* Whole-message check (tests, fuzzing): walk header, questions and every
 * record of a message, decoding each owner name and the names inside
 * SRV/SOA/NS/CNAME rdata; rdata lengths must match the type (A 4, AAAA
 * 16).  Counts of records per section are returned in counts[4].
 * Returns 0 if the message is well-formed, else -1. */
int dns_msg_check(const uint8_t *msg, size_t len, uint16_t counts[4]);

/* ------------------------------------------------------------------ */
/* Instances: what a node under a services path says about one instance. */

enum dns_status {
  DNS_STATUS_PASSING = 0, /* also: no health data at all */
  DNS_STATUS_WARNING,
  DNS_STATUS_CRITICAL, /* also: unknown status, Curator enabled=false */
};

#define DNS_TAGS_MAX 32

struct dns_instance {
  char host[256]; /* address or host name, "" = none (not answerable) */
  uint8_t family; /* 4, 6, or 0 = host name */
  uint8_t addr[16];
  uint16_t port; /* 0 = none (no SRV record) */
  uint16_t priority;
  uint16_t weight;
  enum dns_status status;
  size_t n_tags;
  char *tags[DNS_TAGS_MAX]; /* owned, free with dns_instance_clear */
};

/* Parse a node's data: Roost's JSON ({"address"|"host", "port", "tags",
 * "weight", "weights", "priority", "status", ...}), Curator's
 * ServiceInstance JSON ({"address", "port", "sslPort", "enabled", ...}) or
 * a plain "host:port" ("[v6]:port").  Returns 0 with *out filled (clear it
 * with dns_instance_clear), or -1 (not an instance we understand; *out
 * holds nothing to free). */
int dns_instance_parse(const uint8_t *data, size_t len,
                       struct dns_instance *out);
void dns_instance_clear(struct dns_instance *in);

/* ------------------------------------------------------------------ */
/* The answering object. */

struct dns_config {
  const char *domain; /* "roost." or "roost"; copied */
  uint32_t ttl_s;     /* TTL of every answer record, default 0 */
  /* Services roots to read (Roost's layout, Curator's base path); copied.
   * Equal roots are read once. */
  const char *services_path;     /* default "/services" */
  const char *curator_base_path; /* default "/services" */
  uint16_t udp_payload;          /* our EDNS UDP size, default 1232 */
  size_t cache_services;         /* bound of the instance cache, 1024 */
};

void dns_config_defaults(struct dns_config *c);

struct dns;

/* Returns NULL with errmsg (errmsg_len bytes) filled when the domain or a
 * path is invalid or on allocation failure. */
struct dns *dns_new(const struct dns_config *cfg, char *errmsg,
                    size_t errmsg_len);
void dns_free(struct dns *d);

/* Answer one query read from UDP (tcp = false: the response is limited
 * to 512 bytes or the client's EDNS size, with TC set when the answer
 * does not fit) or TCP (up to 65535 bytes).  t may be NULL (no tree yet:
 * SERVFAIL).  The response goes to out (cap bytes, at least 512; 65535
 * is always enough).  Returns its length, or 0 when nothing must be sent
 * (see DNS_PARSE_DROP).  t is read only (no watch, no change). */
size_t dns_answer(struct dns *d, struct tree *t, const uint8_t *req,
                  size_t req_len, bool tcp, uint8_t *out, size_t cap);

/* Counters for figures and tests. */
struct dns_stats {
  uint64_t queries; /* answered (not dropped) */
  uint64_t dropped;
  uint64_t by_rcode[6]; /* NOERROR..REFUSED */
  uint64_t truncated;
  uint64_t cache_hits, cache_misses;
};
void dns_stats_get(const struct dns *d, struct dns_stats *s);

#endif /* ROOST_DNS_H */
