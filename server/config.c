/* config — zoo.cfg parsing for roost-server (the srv_config_* functions of
 * server.h).
 *
 * ZooKeeper reads zoo.cfg with java.util.Properties and then walks the keys
 * in QuorumPeerConfig.parseProperties: a key it knows sets a field, any other
 * key becomes the system property "zookeeper.<key>" (that is how
 * 4lw.commands.whitelist, globalOutstandingLimit or admin.enableServer reach
 * the code that reads them).  Roost follows the same two steps:
 *
 *   file --physical lines--> logical line (continuations joined)
 *        --split + unescape--> key, value (both trimmed)
 *        --cfg_keys table--> a field of struct srv_config, or a notice
 *
 * A file that ZooKeeper 3.8 loads must load here, so every key outside the
 * table is accepted with a notice; only a malformed value of a key Roost
 * uses, or a line that is not a property at all, is an error.  Loading works
 * on a copy so a failed load leaves the caller's config untouched.
 */
#include "server/server.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest logical line (continuations joined) we accept.  The longest value
 * Roost stores is a path of SRV_PATH_MAX bytes; twice that leaves room for
 * escapes and a key while still bounding a hostile file. */
enum { CFG_LINE_MAX = 2 * SRV_PATH_MAX };

/* Values quoted in messages are cut here so the message keeps the key and
 * the expectation, which matter more than the tail of a long value. */
#define CFG_QUOTE_MAX 80

/* Where a key/value pair came from, for messages. */
struct cfg_where {
  const char *path; /* NULL = command line (srv_config_set) */
  unsigned long line;
};

/* Paths longer than this are shown by their tail: the file name and the
 * line number must survive in a SRV_ERRMSG_MAX message. */
#define CFG_WHERE_PATH_MAX 200

/* "path:line: " or "command line: " into buf (size > 0); returns the
 * length written, at most size - 1. */
static size_t cfg_where_format(const struct cfg_where *w, char *buf,
                               size_t size) {
  const char *path = w->path;
  const char *dots = "";
  int n;

  if (path == NULL) {
    n = snprintf(buf, size, "command line: ");
  } else {
    size_t len = strlen(path);
    if (len > CFG_WHERE_PATH_MAX) {
      path += len - CFG_WHERE_PATH_MAX;
      dots = "...";
    }
    n = snprintf(buf, size, "%s%s:%lu: ", dots, path, w->line);
  }
  if (n < 0)
    n = 0;
  return (size_t)n < size ? (size_t)n : size - 1;
}

/* "where: what" into errmsg; where is cut first so the text survives. */
static void cfg_errmsg(char *errmsg, const struct cfg_where *w, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));

static void cfg_errmsg(char *errmsg, const struct cfg_where *w, const char *fmt,
                       ...) {
  size_t used = cfg_where_format(w, errmsg, SRV_ERRMSG_MAX);
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(errmsg + used, SRV_ERRMSG_MAX - used, fmt, ap);
  va_end(ap);
}

/* The notice text is borrowed by the callback for the call only. */
static void cfg_notice(srv_notice_cb notice, void *notice_arg,
                       const struct cfg_where *w, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void cfg_notice(srv_notice_cb notice, void *notice_arg,
                       const struct cfg_where *w, const char *fmt, ...) {
  static const char lead[] = "notice: ";
  char msg[SRV_ERRMSG_MAX];
  size_t used = sizeof(lead) - 1;
  va_list ap;

  if (notice == NULL)
    return;
  memcpy(msg, lead, used);
  used += cfg_where_format(w, msg + used, sizeof(msg) - used);
  va_start(ap, fmt);
  vsnprintf(msg + used, sizeof(msg) - used, fmt, ap);
  va_end(ap);
  notice(notice_arg, msg);
}

/* A value for a message: cut to CFG_QUOTE_MAX bytes with "..." appended. */
static const char *cfg_quote(const char *value, char *buf, size_t size) {
  size_t n = strlen(value);

  if (n <= CFG_QUOTE_MAX)
    return value;
  snprintf(buf, size, "%.*s...", CFG_QUOTE_MAX, value);
  return buf;
}

/* GNU strerror_r returns the message instead of filling buf; the Makefile
 * builds with _GNU_SOURCE.  strerror() itself is not reentrant. */
static const char *cfg_strerror(int err, char *buf, size_t size) {
#if defined(_GNU_SOURCE)
  return strerror_r(err, buf, size);
#else
  if (strerror_r(err, buf, size) != 0)
    snprintf(buf, size, "error %d", err);
  return buf;
#endif
}

/* ------------------------------------------------------------------ */
/* Value parsers.  Each returns 0 and the value, or -1. */

/* Java's String.trim() removes every char <= ' '; do the same so a value
 * means what it means to ZooKeeper. */
static int cfg_is_blank(int ch) { return ch >= 0 && ch <= ' '; }

static char *cfg_trim(char *s) {
  size_t n;

  while (*s != '\0' && cfg_is_blank((unsigned char)*s))
    s++;
  n = strlen(s);
  while (n > 0 && cfg_is_blank((unsigned char)s[n - 1]))
    s[--n] = '\0';
  return s;
}

/* Integer.parseInt: optional sign, decimal digits, int range. */
static int cfg_parse_int(const char *s, long long *out) {
  const char *p = s;
  long long v = 0;
  int neg = 0;

  if (*p == '+' || *p == '-')
    neg = *p++ == '-';
  if (*p == '\0')
    return -1;
  for (; *p != '\0'; p++) {
    if (*p < '0' || *p > '9')
      return -1;
    v = v * 10 + (*p - '0');
    if (v > (long long)INT_MAX + 1)
      return -1;
  }
  v = neg ? -v : v;
  if (v > INT_MAX || v < INT_MIN)
    return -1;
  *out = v;
  return 0;
}

/* Integer.decode, which Integer.getInteger uses for the jute.maxbuffer
 * system property: optional sign, then "0x", "0X" or "#" for hex, a leading
 * "0" for octal, else decimal.  We follow it, octal included, so a value
 * copied from a java command line means the same number here. */
static int cfg_decode_int(const char *s, long long *out) {
  const char *p = s;
  long long v = 0;
  int neg = 0;
  int base = 10;

  if (*p == '+' || *p == '-')
    neg = *p++ == '-';
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    base = 16;
    p += 2;
  } else if (p[0] == '#') {
    base = 16;
    p += 1;
  } else if (p[0] == '0' && p[1] != '\0') {
    base = 8;
    p += 1;
  }
  if (*p == '\0' || *p == '+' || *p == '-')
    return -1;
  for (; *p != '\0'; p++) {
    int d;

    if (*p >= '0' && *p <= '9')
      d = *p - '0';
    else if (*p >= 'a' && *p <= 'f')
      d = *p - 'a' + 10;
    else if (*p >= 'A' && *p <= 'F')
      d = *p - 'A' + 10;
    else
      return -1;
    if (d >= base)
      return -1;
    v = v * base + d;
    if (v > (long long)INT_MAX + 1)
      return -1;
  }
  v = neg ? -v : v;
  if (v > INT_MAX || v < INT_MIN)
    return -1;
  *out = v;
  return 0;
}

/* Strict, unlike Boolean.parseBoolean (anything but "true" is false): a
 * misspelt "ture" silently meaning false is the kind of surprise an operator
 * should hear about at start-up. */
static int cfg_parse_bool(const char *s, bool *out) {
  if (strcasecmp(s, "true") == 0) {
    *out = true;
    return 0;
  }
  if (strcasecmp(s, "false") == 0) {
    *out = false;
    return 0;
  }
  return -1;
}

/* 4lw.commands.whitelist as FourLetterCommands reads it: split on ',',
 * trim each word, skip empty ones, "*" anywhere allows every word.  The
 * stored form is the trimmed words joined by ',' so srv_config_4lw_allowed
 * and the `conf` output need no second parse. */
static int cfg_parse_whitelist(const char *s, char *list, size_t size,
                               bool *all) {
  size_t used = 0;
  bool star = false;
  const char *p = s;

  list[0] = '\0';
  while (*p != '\0') {
    const char *end = strchr(p, ',');
    size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
    const char *w = p;

    p = end != NULL ? end + 1 : p + n;
    while (n > 0 && cfg_is_blank((unsigned char)*w)) {
      w++;
      n--;
    }
    while (n > 0 && cfg_is_blank((unsigned char)w[n - 1]))
      n--;
    if (n == 0)
      continue;
    if (n == 1 && *w == '*')
      star = true;
    if (used + (used > 0) + n + 1 > size)
      return -1;
    if (used > 0)
      list[used++] = ',';
    memcpy(list + used, w, n);
    used += n;
    list[used] = '\0';
  }
  *all = star;
  return 0;
}

/* ------------------------------------------------------------------ */
/* The keys Roost uses. */

enum cfg_type {
  CFG_INT,        /* Integer.parseInt, min..max */
  CFG_INT_DFLT,   /* Integer.parseInt, -1 (= default) or min..max */
  CFG_INT_DECODE, /* Integer.decode, min..max */
  CFG_BOOL,
  CFG_YESNO, /* ZooKeeper's forceSync: "yes" or "no" */
  CFG_STR,   /* any bytes that fit, "" allowed */
  CFG_STR_NONEMPTY,
  CFG_HOST,      /* non-empty, no blanks */
  CFG_WHITELIST, /* four_letter_whitelist + four_letter_all */
};

struct cfg_key {
  const char *name;
  const char *alias; /* accepted spelling as well, or NULL */
  enum cfg_type type;
  size_t offset;
  size_t size; /* of the field, for strings */
  long long min, max;
  const char *expect; /* "expected ..." in the error message */
};

#define CFG_FIELD(f)                                                           \
  offsetof(struct srv_config, f), sizeof(((struct srv_config *)0)->f)

/* ssl.X, also spelt zookeeper.ssl.X (the system property). */
#define CFG_SSL(key, field, type, expect)                                      \
  { "ssl." key, "zookeeper.ssl." key, type, CFG_FIELD(field), 0, 0, expect }

#define CFG_SSLQ(k, field, type, expect)                                       \
  {                                                                            \
    "ssl.quorum." k, "zookeeper.ssl.quorum." k, type, CFG_FIELD(field), 0, 0,  \
        expect                                                                 \
  }

/* jute.maxbuffer and extendedTypesEnabled are system properties in
 * ZooKeeper, so operators write them both bare (zoo.cfg turns that into
 * zookeeper.<key>) and with the prefix they know from the java command line;
 * both spellings are taken. */
static const struct cfg_key cfg_keys[] = {
    {"tickTime", NULL, CFG_INT, CFG_FIELD(tick_time_ms), 1, INT_MAX,
     "a positive integer"},
    {"dataDir", NULL, CFG_STR_NONEMPTY, CFG_FIELD(data_dir), 0, 0,
     "a non-empty path shorter than 4096 bytes"},
    {"dataLogDir", NULL, CFG_STR, CFG_FIELD(data_log_dir), 0, 0,
     "a path shorter than 4096 bytes"},
    {"clientPort", NULL, CFG_INT, CFG_FIELD(client_port), 0, 65535,
     "an integer from 0 to 65535"},
    {"clientPortAddress", NULL, CFG_HOST, CFG_FIELD(client_port_address), 0, 0,
     "a host name or address without blanks, shorter than 256 bytes"},
    {"maxClientCnxns", NULL, CFG_INT, CFG_FIELD(max_client_cnxns), 0, INT_MAX,
     "a non-negative integer (0 = no limit)"},
    {"minSessionTimeout", NULL, CFG_INT_DFLT, CFG_FIELD(min_session_timeout_ms),
     1, INT_MAX, "-1 or a positive integer"},
    {"maxSessionTimeout", NULL, CFG_INT_DFLT, CFG_FIELD(max_session_timeout_ms),
     1, INT_MAX, "-1 or a positive integer"},
    {"jute.maxbuffer", "zookeeper.jute.maxbuffer", CFG_INT_DECODE,
     CFG_FIELD(jute_max_buffer), 1, INT_MAX,
     "a positive integer (decimal, 0x hex or 0-prefixed octal)"},
    {"4lw.commands.whitelist", NULL, CFG_WHITELIST,
     CFG_FIELD(four_letter_whitelist), 0, 0,
     "a comma-separated list shorter than 1024 bytes"},
    {"clientPortListenBacklog", NULL, CFG_INT_DFLT,
     CFG_FIELD(client_port_listen_backlog), 1, INT_MAX,
     "-1 or a positive integer"},
    {"globalOutstandingLimit", NULL, CFG_INT,
     CFG_FIELD(global_outstanding_limit), 1, INT_MAX, "a positive integer"},
    {"reconfigEnabled", NULL, CFG_BOOL, CFG_FIELD(reconfig_enabled), 0, 0,
     "true or false"},
    {"dynamicConfigFile", NULL, CFG_STR, CFG_FIELD(dynamic_config_file), 0, 0,
     "a path shorter than 4096 bytes"},
    {"extendedTypesEnabled", "zookeeper.extendedTypesEnabled", CFG_BOOL,
     CFG_FIELD(extended_types), 0, 0, "true or false"},
    /* A system property in ZooKeeper (-Dzookeeper.DigestAuthenticationProvider
     * .superDigest=...); not checked there either: a value no digest can
     * equal simply never grants "super". */
    {"DigestAuthenticationProvider.superDigest",
     "zookeeper.DigestAuthenticationProvider.superDigest", CFG_STR,
     CFG_FIELD(super_digest), 0, 0, "a string shorter than 256 bytes"},
    /* The container manager's JVM properties (Integer.getInteger and
     * Long.getLong: Integer.decode syntax), taken from zoo.cfg here. */
    {"znode.container.checkIntervalMs", NULL, CFG_INT_DECODE,
     CFG_FIELD(reap_interval_ms), 1, INT_MAX, "a positive integer"},
    {"znode.container.maxPerMinute", NULL, CFG_INT_DECODE,
     CFG_FIELD(reap_max_per_minute), 1, INT_MAX, "a positive integer"},
    {"znode.container.maxNeverUsedIntervalMs", NULL, CFG_INT_DECODE,
     CFG_FIELD(reap_max_never_used_ms), 0, INT_MAX,
     "a non-negative integer (0 = never)"},
    /* Persistence (snapshot/, server/persist.c). */
    {"snapCount", "zookeeper.snapCount", CFG_INT, CFG_FIELD(snap_count), 2,
     INT_MAX, "an integer of at least 2"},
    {"forceSync", "zookeeper.forceSync", CFG_YESNO, CFG_FIELD(force_sync), 0, 0,
     "yes or no"},
    {"roost.fsyncOnLoop", NULL, CFG_YESNO, CFG_FIELD(fsync_on_loop), 0, 0,
     "yes or no"},
    {"preAllocSize", "zookeeper.preAllocSize", CFG_INT, CFG_FIELD(pre_alloc_kb),
     0, INT_MAX, "a size in KiB (0 = no preallocation)"},
    {"autopurge.snapRetainCount", NULL, CFG_INT,
     CFG_FIELD(autopurge_snap_retain_count), 1, INT_MAX,
     "a positive integer (values below 3 count as 3)"},
    {"autopurge.purgeInterval", NULL, CFG_INT,
     CFG_FIELD(autopurge_purge_interval_h), 0, INT_MAX,
     "a number of hours (0 = no purge)"},
    /* Ensemble (server/ens_*.c). */
    {"initLimit", NULL, CFG_INT, CFG_FIELD(init_limit), 1, INT_MAX,
     "a positive integer"},
    {"syncLimit", NULL, CFG_INT, CFG_FIELD(sync_limit), 1, INT_MAX,
     "a positive integer"},
    {"roost.syncDiffWindow", NULL, CFG_INT, CFG_FIELD(sync_diff_window), 1,
     INT_MAX, "a positive integer"},
    /* ZooKeeper reads it only as the JVM property -Dreadonlymode.enabled
     * (in its zoo.cfg the key would become zookeeper.readonlymode.enabled,
     * which nothing reads); Roost has no JVM, so zoo.cfg carries it. */
    {"readonlymode.enabled", NULL, CFG_BOOL, CFG_FIELD(read_only_mode), 0, 0,
     "true or false"},
    {"roost.sessionSecret", NULL, CFG_STR, CFG_FIELD(session_secret), 0, 0,
     "32 hexadecimal digits"},
    {"roost.outputBudgetMB", NULL, CFG_INT, CFG_FIELD(output_budget_mb), 1,
     1 << 20, "a number of MiB from 1 to 1048576"},
    /* TLS on the secure client port (server/tlsport.c, tls/).  The ssl.*
     * keys are system properties in ZooKeeper; both spellings work. */
    {"secureClientPort", NULL, CFG_INT, CFG_FIELD(secure_client_port), 0, 65535,
     "an integer from 0 to 65535"},
    {"secureClientPortAddress", NULL, CFG_HOST,
     CFG_FIELD(secure_client_port_address), 0, 0,
     "a host name or address without blanks, shorter than 256 bytes"},
    CFG_SSL("keyStore.location", tls.key_store_location, CFG_STR,
            "a path shorter than 4096 bytes"),
    CFG_SSL("keyStore.password", tls.key_store_password, CFG_STR,
            "a password shorter than 256 bytes"),
    CFG_SSL("keyStore.type", tls.key_store_type, CFG_STR,
            "PEM or PKCS12 (or empty: from the file)"),
    CFG_SSL("trustStore.location", tls.trust_store_location, CFG_STR,
            "a path shorter than 4096 bytes"),
    CFG_SSL("trustStore.password", tls.trust_store_password, CFG_STR,
            "a password shorter than 256 bytes"),
    CFG_SSL("trustStore.type", tls.trust_store_type, CFG_STR,
            "PEM or PKCS12 (or empty: from the file)"),
    CFG_SSL("clientAuth", tls.client_auth, CFG_STR, "need, want or none"),
    CFG_SSL("protocol", tls.protocol, CFG_STR, "TLSv1.2, TLSv1.3 or TLS"),
    CFG_SSL("enabledProtocols", tls.enabled_protocols, CFG_STR,
            "a comma-separated list shorter than 128 bytes"),
    CFG_SSL("ciphersuites", tls.ciphersuites, CFG_STR,
            "a comma-separated list shorter than 2048 bytes"),
    CFG_SSL("hostnameVerification", tls.hostname_verification, CFG_BOOL,
            "true or false"),
    /* ZooKeeper's Netty factory: TLS and plain clients on clientPort,
     * told apart by the first byte (conn.c, tlsport.c). */
    {"client.portUnification", "zookeeper.client.portUnification", CFG_BOOL,
     CFG_FIELD(client_port_unification), 0, 0, "true or false"},
    /* Quorum TLS (the peer links of server/ens_link.c through tlsport.c). */
    {"sslQuorum", NULL, CFG_BOOL, CFG_FIELD(ssl_quorum), 0, 0, "true or false"},
    {"sslQuorumReloadCertFiles", NULL, CFG_BOOL, CFG_FIELD(ssl_quorum_reload),
     0, 0, "true or false"},
    CFG_SSLQ("keyStore.location", quorum_tls.key_store_location, CFG_STR,
             "a path shorter than 4096 bytes"),
    CFG_SSLQ("keyStore.password", quorum_tls.key_store_password, CFG_STR,
             "a password shorter than 256 bytes"),
    CFG_SSLQ("keyStore.type", quorum_tls.key_store_type, CFG_STR,
             "PEM or PKCS12 (or empty: from the file)"),
    CFG_SSLQ("trustStore.location", quorum_tls.trust_store_location, CFG_STR,
             "a path shorter than 4096 bytes"),
    CFG_SSLQ("trustStore.password", quorum_tls.trust_store_password, CFG_STR,
             "a password shorter than 256 bytes"),
    CFG_SSLQ("trustStore.type", quorum_tls.trust_store_type, CFG_STR,
             "PEM or PKCS12 (or empty: from the file)"),
    CFG_SSLQ("clientAuth", quorum_tls.client_auth, CFG_STR,
             "need, want or none"),
    CFG_SSLQ("protocol", quorum_tls.protocol, CFG_STR,
             "TLSv1.2, TLSv1.3 or TLS"),
    CFG_SSLQ("enabledProtocols", quorum_tls.enabled_protocols, CFG_STR,
             "a comma-separated list shorter than 128 bytes"),
    CFG_SSLQ("ciphersuites", quorum_tls.ciphersuites, CFG_STR,
             "a comma-separated list shorter than 2048 bytes"),
    CFG_SSLQ("hostnameVerification", quorum_tls.hostname_verification, CFG_BOOL,
             "true or false"),
    {"X509AuthenticationProvider.superUser",
     "zookeeper.X509AuthenticationProvider.superUser", CFG_STR,
     CFG_FIELD(x509_super_user), 0, 0,
     "a distinguished name shorter than 1024 bytes"},
    /* DNS interface (server/dnsd.c, docs/dns.md). */
    {"dns.port", NULL, CFG_INT, CFG_FIELD(dns_port), 0, 65535,
     "an integer from 0 (off) to 65535"},
    {"dns.address", NULL, CFG_STR, CFG_FIELD(dns_address), 0, 0,
     "a host name or address shorter than 256 bytes (empty = "
     "clientPortAddress)"},
    {"dns.domain", NULL, CFG_STR_NONEMPTY, CFG_FIELD(dns_domain), 0, 0,
     "a domain name shorter than 256 bytes"},
    {"dns.ttl", NULL, CFG_INT, CFG_FIELD(dns_ttl_s), 0, INT_MAX,
     "a number of seconds (0 or more)"},
    {"dns.curatorBasePath", NULL, CFG_STR_NONEMPTY,
     CFG_FIELD(dns_curator_base_path), 0, 0,
     "an absolute znode path shorter than 256 bytes"},
    /* Admin HTTP server (server/admin.c): ZooKeeper's AdminServer keys
     * (system properties there, hence the zookeeper. spelling too) and
     * its Prometheus metrics provider. */
    {"admin.enableServer", "zookeeper.admin.enableServer", CFG_BOOL,
     CFG_FIELD(admin_enable), 0, 0, "true or false"},
    {"admin.serverAddress", "zookeeper.admin.serverAddress", CFG_STR,
     CFG_FIELD(admin_address), 0, 0,
     "an address shorter than 256 bytes (empty = clientPortAddress)"},
    {"admin.serverPort", "zookeeper.admin.serverPort", CFG_INT,
     CFG_FIELD(admin_port), 0, 65535, "an integer from 0 to 65535"},
    {"admin.commandURL", "zookeeper.admin.commandURL", CFG_STR_NONEMPTY,
     CFG_FIELD(admin_command_url), 0, 0,
     "a URL path starting with '/', shorter than 256 bytes"},
    {"admin.idleTimeout", "zookeeper.admin.idleTimeout", CFG_INT,
     CFG_FIELD(admin_idle_timeout_ms), 1, INT_MAX,
     "a positive number of milliseconds"},
    /* HTTPS on the admin port with the ssl.quorum.* key and trust stores,
     * as ZooKeeper's JettyAdminServer reads them (server/admin.c). */
    {"admin.forceHttps", "zookeeper.admin.forceHttps", CFG_BOOL,
     CFG_FIELD(admin_force_https), 0, 0, "true or false"},
    {"admin.portUnification", "zookeeper.admin.portUnification", CFG_BOOL,
     CFG_FIELD(admin_unify), 0, 0, "true or false"},
    {"admin.needClientAuth", "zookeeper.admin.needClientAuth", CFG_BOOL,
     CFG_FIELD(admin_need_client_auth), 0, 0, "true or false"},
    {"metricsProvider.className", NULL, CFG_STR, CFG_FIELD(metrics_class), 0, 0,
     "a class name shorter than 256 bytes"},
    {"metricsProvider.httpHost", NULL, CFG_STR, CFG_FIELD(metrics_host), 0, 0,
     "an address shorter than 256 bytes"},
    {"metricsProvider.httpPort", NULL, CFG_INT, CFG_FIELD(metrics_port), 0,
     65535, "an integer from 0 to 65535"},
};

#define CFG_N_KEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))

/* Keys ZooKeeper 3.8 reads (QuorumPeerConfig fields, and system properties
 * that zoo.cfg reaches through the "zookeeper." prefix) that Roost does not
 * use yet.  Listed so the notice can say "accepted" rather than "unknown":
 * the difference tells an operator whether a key was misspelt. */
static const char *const cfg_zk_exact[] = {
    "electionAlg",
    "peerType",
    "connectToLearnerMasterLimit",
    "quorumListenOnAllIPs",
    "localSessionsEnabled",
    "localSessionsUpgradingEnabled",
    "standaloneEnabled",
    "observerMasterPort",
    "portUnification",
    "oraclePath",
    "snapSizeLimitInKb",
    "commitLogCount",
    "txnLogSizeLimitInKb",
    "maxCnxns",
    "leaderServes",
    "cnxTimeout",
    "electionPortBindRetry",
    "syncEnabled",
    "skipACL",
    "fsync.warningthresholdms",
    "audit.enable",
    "serverCnxnFactory",
    "superUser",
    "digest.enabled",
    "closeSessionTxn.enabled",
    "flushDelay",
    "maxWriteQueuePollTime",
    "maxBatchSize",
    "requestThrottleLimit",
    "requestThrottleStallTime",
    "requestThrottleDropStale",
    "requestStaleLatencyCheck",
    "requestStaleConnectionCheck",
    "largeRequestMaxBytes",
    "largeRequestThreshold",
    "outstandingHandshake.limit",
    "throttledOpWaitTime",
    "watchManagerName",
    "watcherCleanThreshold",
    "watcherCleanIntervalInSeconds",
    "watcherCleanThreadsNum",
    "maxResponseCacheSize",
    "maxGetChildrenResponseCacheSize",
    "enforceQuota",
    "sessionRequireClientSASLAuth",
    "requireClientAuthScheme",
    "clientCnxnSocket",
    "client.secure",
    "minClientCnxns",
};

static const char *const cfg_zk_prefix[] = {
    "admin.",
    "autopurge.",
    "metricsProvider.",
    "ssl.",
    "jvm",
    "authProvider.",
    "DigestAuthenticationProvider.",
    "zookeeper.",
    "snapshot.",
    "multiAddress.",
    "quorum.",
    "learner.",
    "leader.",
    "fastleader.",
    "nio.",
    "netty.",
    "kerberos.",
    "enforce.auth.",
    "connection_throttle_",
    "X509AuthenticationProvider.",
};

/* server.N, group.N, weight.N: QuorumPeerConfig parses N with
 * Long.parseLong and refuses the file if that fails. */
static const char *const cfg_zk_indexed[] = {"server.", "group.", "weight."};

#define CFG_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct cfg_key *cfg_key_find(const char *key) {
  for (size_t i = 0; i < CFG_N_KEYS; i++) {
    if (strcmp(cfg_keys[i].name, key) == 0 ||
        (cfg_keys[i].alias != NULL && strcmp(cfg_keys[i].alias, key) == 0))
      return &cfg_keys[i];
  }
  return NULL;
}

static bool cfg_is_zk_key(const char *key) {
  for (size_t i = 0; i < CFG_COUNT(cfg_zk_exact); i++)
    if (strcmp(cfg_zk_exact[i], key) == 0)
      return true;
  for (size_t i = 0; i < CFG_COUNT(cfg_zk_prefix); i++)
    if (strncmp(cfg_zk_prefix[i], key, strlen(cfg_zk_prefix[i])) == 0)
      return true;
  return false;
}

/* ZooKeeper keys whose non-default values change what clients see (or
 * weaken security) in ways Roost does not implement.  Accepting such a
 * value with only a notice would change behaviour silently for a user
 * coming from ZooKeeper, so the start stops instead; ZooKeeper's default
 * (or leaving the key out) is accepted.  `refused` is compared without
 * case; "!0" means any integer but 0. */
struct cfg_behaviour_key {
  const char *name;
  const char *refused;
  const char *consequence;
};

static const struct cfg_behaviour_key cfg_behaviour_keys[] = {
    {"skipACL", "yes", "ACL checks would be skipped"},
    {"zookeeper.skipACL", "yes", "ACL checks would be skipped"},
    {"leaderServes", "no", "the leader would refuse client connections"},
    {"zookeeper.leaderServes", "no",
     "the leader would refuse client connections"},
    {"syncEnabled", "false", "observers would not log transactions to disk"},
    {"zookeeper.observer.syncEnabled", "false",
     "observers would not log transactions to disk"},
    {"localSessionsEnabled", "true",
     "new sessions would be local to one server"},
    {"enforceQuota", "true", "quota limits would be enforced"},
    {"zookeeper.enforceQuota", "true", "quota limits would be enforced"},
    {"sessionRequireClientSASLAuth", "true",
     "clients would have to authenticate with SASL"},
    {"enforce.auth.enabled", "true", "clients would have to authenticate"},
    {"maxCnxns", "!0", "the total of client connections would be capped"},
    {"portUnification", "true",
     "a TLS member would also take plain peer connections (Roost: all "
     "members or none use TLS)"},
    {"ssl.crl", "true", "revocation lists would be checked"},
    {"zookeeper.ssl.crl", "true", "revocation lists would be checked"},
    {"ssl.ocsp", "true", "OCSP would be checked"},
    {"zookeeper.ssl.ocsp", "true", "OCSP would be checked"},
};

/* -1 with errmsg when key=value is one of the refused settings above. */
static int cfg_behaviour_check(const char *key, const char *value,
                               const struct cfg_where *w, char *errmsg) {
  for (size_t i = 0; i < CFG_COUNT(cfg_behaviour_keys); i++) {
    const struct cfg_behaviour_key *b = &cfg_behaviour_keys[i];
    if (strcmp(b->name, key) != 0)
      continue;
    long long v = 0;
    bool refused = strcmp(b->refused, "!0") == 0
                       ? cfg_parse_int(value, &v) != 0 || v != 0
                       : strcasecmp(value, b->refused) == 0;
    if (!refused)
      return 0;
    char q[CFG_QUOTE_MAX + 4];
    cfg_errmsg(errmsg, w,
               "key '%s' = '%s' is not supported by Roost (in ZooKeeper %s); "
               "remove the line to keep ZooKeeper's default",
               key, cfg_quote(value, q, sizeof q), b->consequence);
    return -1;
  }
  return 0;
}

/* For "unknown key" notices: ZooKeeper's keys are case-sensitive, so
 * "ticktime" is silently ignored there; pointing at the real spelling is
 * the cheapest help we can give. */
static const char *cfg_key_casefold_match(const char *key) {
  for (size_t i = 0; i < CFG_N_KEYS; i++)
    if (strcasecmp(cfg_keys[i].name, key) == 0)
      return cfg_keys[i].name;
  for (size_t i = 0; i < CFG_COUNT(cfg_zk_exact); i++)
    if (strcasecmp(cfg_zk_exact[i], key) == 0)
      return cfg_zk_exact[i];
  return NULL;
}

static int cfg_apply_known(struct srv_config *c, const struct cfg_key *k,
                           const char *key, const char *value,
                           const struct cfg_where *w, char *errmsg) {
  char *field = (char *)c + k->offset;
  char qbuf[CFG_QUOTE_MAX + 4];
  char list[sizeof(c->four_letter_whitelist)];
  long long v = 0;
  bool b = false;
  size_t n = strlen(value);
  int bad = 0;

  switch (k->type) {
  case CFG_INT:
    bad = cfg_parse_int(value, &v) != 0 || v < k->min || v > k->max;
    break;
  case CFG_INT_DFLT:
    bad = cfg_parse_int(value, &v) != 0 ||
          (v != -1 && (v < k->min || v > k->max));
    break;
  case CFG_INT_DECODE:
    bad = cfg_decode_int(value, &v) != 0 || v < k->min || v > k->max;
    break;
  case CFG_BOOL:
    bad = cfg_parse_bool(value, &b) != 0;
    break;
  case CFG_YESNO:
    b = strcasecmp(value, "yes") == 0;
    bad = !b && strcasecmp(value, "no") != 0;
    break;
  case CFG_STR:
    bad = n >= k->size;
    break;
  case CFG_STR_NONEMPTY:
    bad = n == 0 || n >= k->size;
    break;
  case CFG_HOST:
    bad = n == 0 || n >= k->size;
    for (size_t i = 0; i < n && !bad; i++)
      bad = cfg_is_blank((unsigned char)value[i]);
    break;
  case CFG_WHITELIST:
    bad = cfg_parse_whitelist(value, list, sizeof(list), &b);
    break;
  }
  if (bad) {
    cfg_errmsg(errmsg, w, "invalid value '%s' for key '%s': expected %s",
               cfg_quote(value, qbuf, sizeof(qbuf)), key, k->expect);
    return -1;
  }
  switch (k->type) {
  case CFG_INT:
  case CFG_INT_DFLT:
  case CFG_INT_DECODE: {
    int iv = (int)v;
    memcpy(field, &iv, sizeof(iv));
    break;
  }
  case CFG_BOOL:
  case CFG_YESNO:
    memcpy(field, &b, sizeof(b));
    break;
  case CFG_STR:
  case CFG_STR_NONEMPTY:
  case CFG_HOST:
    memcpy(field, value, n + 1);
    break;
  case CFG_WHITELIST:
    /* Stored only now, so a failed srv_config_set leaves c as it was. */
    memcpy(field, list, sizeof(list));
    c->four_letter_all = b;
    break;
  }
  return 0;
}

static int cfg_port(const char *s, size_t n) {
  if (n == 0 || n > 5 || strspn(s, "0123456789") < n)
    return -1;
  int v = 0;
  for (size_t i = 0; i < n; i++)
    v = v * 10 + (s[i] - '0');
  return v >= 1 && v <= 65535 ? v : -1;
}

/* The client part of a server.N line after ';': [clientAddr:]clientPort
 * (the address may be an IPv6 literal in brackets).  Returns 0 or -1. */
static int cfg_parse_client_part(const char *s, struct srv_peer_config *p) {
  const char *colon = strrchr(s, ':');
  const char *port = colon ? colon + 1 : s;
  p->client_port = cfg_port(port, strlen(port));
  if (p->client_port < 0)
    return -1;
  if (colon != NULL) {
    size_t n = (size_t)(colon - s);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
      s++;
      n -= 2;
    }
    if (n == 0 || n >= sizeof p->client_address)
      return -1;
    memcpy(p->client_address, s, n);
    p->client_address[n] = '\0';
  }
  return 0;
}

/* server.N=host:quorumPort:electionPort[:participant|:observer]
 *          [;[clientAddr:]clientPort]
 * (QuorumPeerConfig's syntax).  The client part of this member's own line
 * gives its client port and address when clientPort / clientPortAddress
 * are not set (srv_config_member checks they agree when both are).  A repeated
 * id replaces the earlier line. */
static int cfg_parse_server(struct srv_config *c, const char *key,
                            const char *idstr, const char *value,
                            const struct cfg_where *w, char *errmsg) {
  const char *expect = "host:quorumPort:electionPort[:participant|:observer]"
                       "[;[clientAddr:]clientPort]";
  long long id = 0;
  if (cfg_parse_int(idstr, &id) != 0 || id < 1 || id > 255) {
    cfg_errmsg(errmsg, w, "invalid key '%s': server ids are 1..255 in Roost",
               key);
    return -1;
  }
  struct srv_peer_config p;
  memset(&p, 0, sizeof p);
  p.id = (int)id;
  size_t vlen = strcspn(value, ";");
  const char *f[4];
  size_t fl[4];
  size_t nf = 0, pos = 0;
  while (nf < 4) {
    size_t k = strcspn(value + pos, ":;");
    if (pos + k > vlen)
      k = vlen - pos;
    f[nf] = value + pos;
    fl[nf++] = k;
    pos += k;
    if (pos >= vlen || value[pos] != ':')
      break;
    pos++;
  }
  bool ok = pos >= vlen && nf >= 3 && fl[0] > 0 && fl[0] < sizeof p.host;
  if (ok) {
    memcpy(p.host, f[0], fl[0]);
    p.quorum_port = cfg_port(f[1], fl[1]);
    p.election_port = cfg_port(f[2], fl[2]);
    ok = p.quorum_port > 0 && p.election_port > 0;
  }
  if (ok && nf == 4) {
    if (fl[3] == 8 && strncmp(f[3], "observer", 8) == 0)
      p.observer = true;
    else if (!(fl[3] == 11 && strncmp(f[3], "participant", 11) == 0))
      ok = false;
  }
  if (ok && value[vlen] == ';')
    ok = cfg_parse_client_part(value + vlen + 1, &p) == 0;
  if (!ok) {
    char q[CFG_QUOTE_MAX + 4];
    cfg_errmsg(errmsg, w, "invalid value '%s' for key '%s': expected %s",
               cfg_quote(value, q, sizeof q), key, expect);
    return -1;
  }
  for (int i = 0; i < c->n_peers; i++) {
    if (c->peers[i].id == p.id) {
      c->peers[i] = p;
      return 0;
    }
  }
  if (c->n_peers == SRV_MAX_PEERS) {
    cfg_errmsg(errmsg, w, "more than %d server.N lines", SRV_MAX_PEERS);
    return -1;
  }
  c->peers[c->n_peers++] = p;
  return 0;
}

/* One trimmed key/value pair, from a file line or srv_config_set. */
static int cfg_apply(struct srv_config *c, const char *key, const char *value,
                     const struct cfg_where *w, srv_notice_cb notice,
                     void *notice_arg, char *errmsg) {
  const struct cfg_key *k;
  const char *hint;

  if (key[0] == '\0') {
    cfg_errmsg(errmsg, w, "empty key");
    return -1;
  }
  k = cfg_key_find(key);
  if (k != NULL) {
    /* A ZooKeeper 3.5+ config may give the client port on the server.N
     * line instead: srv_config_member needs to know which one the user set. */
    if (strcmp(k->name, "clientPort") == 0)
      c->client_port_given = true;
    if (strcmp(k->name, "clientPortAddress") == 0)
      c->client_port_address_given = true;
    return cfg_apply_known(c, k, key, value, w, errmsg);
  }

  for (size_t i = 0; i < CFG_COUNT(cfg_zk_indexed); i++) {
    size_t plen = strlen(cfg_zk_indexed[i]);
    const char *id = key + plen;

    if (strncmp(key, cfg_zk_indexed[i], plen) != 0)
      continue;
    if (*id == '+' || *id == '-')
      id++;
    if (*id == '\0' || strspn(id, "0123456789") != strlen(id)) {
      cfg_errmsg(errmsg, w, "invalid key '%s': expected %sN with a numeric id",
                 key, cfg_zk_indexed[i]);
      return -1;
    }
    if (i == 0)
      return cfg_parse_server(c, key, id, value, w, errmsg);
    cfg_notice(notice, notice_arg, w,
               "key '%s' is accepted but not used by Roost", key);
    return 0;
  }
  if (cfg_is_zk_key(key)) {
    if (cfg_behaviour_check(key, value, w, errmsg) != 0)
      return -1;
    cfg_notice(notice, notice_arg, w,
               "key '%s' is accepted but not used by Roost", key);
    return 0;
  }
  hint = cfg_key_casefold_match(key);
  if (hint != NULL)
    cfg_notice(notice, notice_arg, w,
               "unknown key '%s' ignored (keys are case-sensitive: did you "
               "mean '%s'?)",
               key, hint);
  else
    cfg_notice(notice, notice_arg, w, "unknown key '%s' ignored", key);
  return 0;
}

/* ------------------------------------------------------------------ */
/* java.util.Properties line syntax. */

enum cfg_read { CFG_READ_LINE, CFG_READ_EOF, CFG_READ_LONG, CFG_READ_NUL };

/* One physical line without its terminator.  Properties ends a line at
 * "\n", "\r" or "\r\n"; zoo.cfg files edited on Windows depend on that. */
static enum cfg_read cfg_read_physical(FILE *f, char *buf, size_t size,
                                       size_t *len) {
  size_t n = 0;
  int ch = getc(f);

  if (ch == EOF)
    return CFG_READ_EOF;
  for (; ch != EOF && ch != '\n'; ch = getc(f)) {
    if (ch == '\r') {
      ch = getc(f);
      if (ch != '\n' && ch != EOF)
        ungetc(ch, f);
      break;
    }
    if (ch == '\0')
      return CFG_READ_NUL;
    if (n + 1 >= size)
      return CFG_READ_LONG;
    buf[n++] = (char)ch;
  }
  buf[n] = '\0';
  *len = n;
  return CFG_READ_LINE;
}

/* An odd number of trailing backslashes continues the line (an even number
 * is escaped backslashes). */
static bool cfg_continues(const char *s, size_t n) {
  size_t k = 0;

  while (k < n && s[n - 1 - k] == '\\')
    k++;
  return (k % 2) == 1;
}

static int cfg_hex(int ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* Decode one escape at s (just after the backslash) into out.  Returns the
 * bytes consumed from s and sets *out_len, or 0 on a malformed \uXXXX. */
static size_t cfg_unescape(const char *s, char *out, size_t *out_len) {
  unsigned cp = 0;

  switch (*s) {
  case 't':
    out[0] = '\t';
    break;
  case 'n':
    out[0] = '\n';
    break;
  case 'r':
    out[0] = '\r';
    break;
  case 'f':
    out[0] = '\f';
    break;
  case 'u':
    for (int i = 1; i <= 4; i++) {
      int d = cfg_hex((unsigned char)s[i]);
      if (d < 0)
        return 0;
      cp = cp * 16 + (unsigned)d;
    }
    /* Properties yields UTF-16 units; write them as UTF-8 since our
     * strings are bytes.  \u0000 cannot live in a C string. */
    if (cp == 0)
      return 0;
    if (cp < 0x80) {
      out[0] = (char)cp;
      *out_len = 1;
    } else if (cp < 0x800) {
      out[0] = (char)(0xc0 | (cp >> 6));
      out[1] = (char)(0x80 | (cp & 0x3f));
      *out_len = 2;
    } else {
      out[0] = (char)(0xe0 | (cp >> 12));
      out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
      out[2] = (char)(0x80 | (cp & 0x3f));
      *out_len = 3;
    }
    return 5;
  default:
    out[0] = *s; /* "\=" is '=', "\\" is '\', "\q" is 'q' */
    break;
  }
  *out_len = 1;
  return 1;
}

/* Split a logical line (leading blanks already skipped, not a comment) into
 * key and value, decoding escapes, as Properties.load does: the key ends at
 * the first unescaped '=', ':' or blank; blanks, then one '=' or ':', then
 * blanks separate it from the value.  The output buffers are as large as
 * the line, and unescaping never grows text ("\uXXXX" is 6 bytes, its UTF-8
 * at most 3).  Returns 1 for a property, 0 for a lone key (no '=' or ':'
 * and no value), -1 on a malformed escape. */
static int cfg_split(const char *line, char *key, char *value) {
  const char *p = line;
  char *out = key;
  size_t used;
  int sep = 0;

  while (*p != '\0') {
    if (*p == '\\') {
      size_t adv;
      if (p[1] == '\0')
        break; /* a lone trailing backslash: Properties drops it */
      adv = cfg_unescape(p + 1, out, &used);
      if (adv == 0)
        return -1;
      out += used;
      p += 1 + adv;
      continue;
    }
    if (*p == '=' || *p == ':' || *p == ' ' || *p == '\t' || *p == '\f')
      break;
    *out++ = *p++;
  }
  *out = '\0';

  while (*p == ' ' || *p == '\t' || *p == '\f')
    p++;
  if (*p == '=' || *p == ':') {
    p++;
    sep = 1;
  }
  while (*p == ' ' || *p == '\t' || *p == '\f')
    p++;

  out = value;
  while (*p != '\0') {
    if (*p == '\\') {
      size_t adv;
      if (p[1] == '\0')
        break;
      adv = cfg_unescape(p + 1, out, &used);
      if (adv == 0)
        return -1;
      out += used;
      p += 1 + adv;
      continue;
    }
    *out++ = *p++;
  }
  *out = '\0';
  /* "key   " is a key with an empty value to Properties, but a zoo.cfg line
   * that is only a word is a mistake worth stopping for. */
  return sep || value[0] != '\0';
}

/* Everything a load needs, on the heap: the config copy and the line
 * buffers are several KiB each. */
struct cfg_load {
  struct srv_config tmp;
  char physical[CFG_LINE_MAX + 1];
  char logical[CFG_LINE_MAX + 1];
  char key[CFG_LINE_MAX + 1];
  char value[CFG_LINE_MAX + 1];
};

static int cfg_load_file(struct cfg_load *ld, FILE *f, const char *path,
                         srv_notice_cb notice, void *notice_arg, char *errmsg) {
  unsigned long line_no = 0;
  struct cfg_where w = {path, 0};

  for (;;) {
    size_t len = 0, plen = 0;
    enum cfg_read r;
    char *start;
    int sep;

    r = cfg_read_physical(f, ld->physical, sizeof(ld->physical), &plen);
    line_no++;
    w.line = line_no;
    if (r == CFG_READ_EOF)
      return 0;
    if (r == CFG_READ_LONG) {
      cfg_errmsg(errmsg, &w, "line longer than %d bytes", CFG_LINE_MAX);
      return -1;
    }
    if (r == CFG_READ_NUL) {
      cfg_errmsg(errmsg, &w, "NUL byte in line");
      return -1;
    }
    start = ld->physical;
    while (*start == ' ' || *start == '\t' || *start == '\f')
      start++;
    /* Comment and blank lines never continue, even ending in '\'. */
    if (*start == '\0' || *start == '#' || *start == '!')
      continue;

    len = strlen(start);
    memmove(ld->logical, start, len + 1);
    while (cfg_continues(ld->logical, len)) {
      char *next;
      size_t nlen;

      len--; /* drop the continuation backslash */
      ld->logical[len] = '\0';
      r = cfg_read_physical(f, ld->physical, sizeof(ld->physical), &plen);
      if (r == CFG_READ_EOF)
        break;
      line_no++;
      if (r != CFG_READ_LINE) {
        struct cfg_where wc = {path, line_no};
        cfg_errmsg(errmsg, &wc,
                   r == CFG_READ_NUL ? "NUL byte in line" : "line too long");
        return -1;
      }
      next = ld->physical;
      while (*next == ' ' || *next == '\t' || *next == '\f')
        next++;
      nlen = strlen(next);
      if (len + nlen > CFG_LINE_MAX) {
        cfg_errmsg(errmsg, &w, "line longer than %d bytes", CFG_LINE_MAX);
        return -1;
      }
      memcpy(ld->logical + len, next, nlen + 1);
      len += nlen;
    }

    sep = cfg_split(ld->logical, ld->key, ld->value);
    if (sep < 0) {
      cfg_errmsg(errmsg, &w, "malformed \\uXXXX escape");
      return -1;
    }
    if (sep == 0) {
      char qbuf[CFG_QUOTE_MAX + 4];
      cfg_errmsg(errmsg, &w,
                 "'%s' is not a property: expected key=value, key:value "
                 "or key value",
                 cfg_quote(ld->key, qbuf, sizeof(qbuf)));
      return -1;
    }
    if (cfg_apply(&ld->tmp, cfg_trim(ld->key), cfg_trim(ld->value), &w, notice,
                  notice_arg, errmsg) != 0)
      return -1;
  }
}

/* ------------------------------------------------------------------ */
/* Public functions. */

void srv_config_defaults(struct srv_config *c) {
  memset(c, 0, sizeof(*c));
  c->tick_time_ms = 2000;
  snprintf(c->data_dir, sizeof(c->data_dir), "./data");
  c->data_log_dir[0] = '\0';
  c->client_port = 2181;
  snprintf(c->client_port_address, sizeof(c->client_port_address), "0.0.0.0");
  c->max_client_cnxns = 60;
  c->min_session_timeout_ms = -1;
  c->max_session_timeout_ms = -1;
  c->jute_max_buffer = 0xfffff;
  snprintf(c->four_letter_whitelist, sizeof(c->four_letter_whitelist), "srvr");
  c->four_letter_all = false;
  c->client_port_listen_backlog = -1;
  c->global_outstanding_limit = 1000;
  c->output_budget_mb = 128;
  c->extended_types = false;
  c->super_digest[0] = '\0';
  c->reap_interval_ms = 60000;
  c->reap_max_per_minute = 10000;
  c->reap_max_never_used_ms = 0;
  c->snap_count = 100000;
  c->force_sync = true;
  c->pre_alloc_kb = 1024;
  c->autopurge_snap_retain_count = 3;
  c->autopurge_purge_interval_h = 0;
  c->server_id = 0;
  c->n_peers = 0;
  c->init_limit = 10;
  c->sync_limit = 5;
  c->sync_diff_window = 500;
  c->read_only_mode = false;
  c->session_secret[0] = '\0';
  c->config_path[0] = '\0';
  c->log_level = 2;
  c->secure_client_port = -1;
  c->secure_client_port_address[0] = '\0';
  tls_options_defaults(&c->tls);
  c->ssl_quorum = false;
  c->client_port_unification = false;
  c->ssl_quorum_reload = false;
  tls_options_defaults(&c->quorum_tls);
  c->x509_super_user[0] = '\0';
  c->dns_port = 0;
  c->admin_enable = true;
  c->admin_address[0] = '\0';
  c->admin_port = 8080;
  snprintf(c->admin_command_url, sizeof(c->admin_command_url), "/commands");
  c->admin_idle_timeout_ms = 30000;
  c->admin_force_https = false;
  c->admin_unify = false;
  c->admin_need_client_auth = false;
  c->metrics_class[0] = '\0';
  c->metrics_host[0] = '\0';
  c->metrics_port = 7000;
  c->dns_address[0] = '\0';
  snprintf(c->dns_domain, sizeof(c->dns_domain), "roost.");
  c->dns_ttl_s = 0;
  snprintf(c->dns_curator_base_path, sizeof(c->dns_curator_base_path),
           "/services");
}

int srv_config_load(struct srv_config *c, const char *path,
                    srv_notice_cb notice, void *notice_arg,
                    char errmsg[SRV_ERRMSG_MAX]) {
  char ebuf[128];
  struct cfg_load *ld;
  FILE *f;
  int rc;

  if (strlen(path) >= sizeof(c->config_path)) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "config path longer than %d bytes",
             SRV_PATH_MAX - 1);
    return -1;
  }
  f = fopen(path, "r");
  if (f == NULL) {
    int err = errno;
    snprintf(errmsg, SRV_ERRMSG_MAX, "cannot open '%s': %s", path,
             cfg_strerror(err, ebuf, sizeof(ebuf)));
    return -1;
  }
  ld = malloc(sizeof(*ld));
  if (ld == NULL) {
    fclose(f);
    snprintf(errmsg, SRV_ERRMSG_MAX, "loading '%s': out of memory", path);
    return -1;
  }
  ld->tmp = *c;
  rc = cfg_load_file(ld, f, path, notice, notice_arg, errmsg);
  if (rc == 0 && ferror(f)) {
    int err = errno;
    snprintf(errmsg, SRV_ERRMSG_MAX, "error reading '%s': %s", path,
             cfg_strerror(err, ebuf, sizeof(ebuf)));
    rc = -1;
  }
  fclose(f);
  if (rc == 0) {
    *c = ld->tmp;
    snprintf(c->config_path, sizeof(c->config_path), "%s", path);
  }
  free(ld);
  return rc;
}

int srv_config_set(struct srv_config *c, const char *key, const char *value,
                   srv_notice_cb notice, void *notice_arg,
                   char errmsg[SRV_ERRMSG_MAX]) {
  struct cfg_where w = {NULL, 0};
  size_t klen = strlen(key), vlen = strlen(value);
  char *buf;
  int rc;

  /* Trimming needs writable copies; one allocation holds both. */
  if (klen > CFG_LINE_MAX || vlen > CFG_LINE_MAX) {
    cfg_errmsg(errmsg, &w, "key or value longer than %d bytes", CFG_LINE_MAX);
    return -1;
  }
  buf = malloc(klen + vlen + 2);
  if (buf == NULL) {
    cfg_errmsg(errmsg, &w, "out of memory");
    return -1;
  }
  memcpy(buf, key, klen + 1);
  memcpy(buf + klen + 1, value, vlen + 1);
  rc = cfg_apply(c, cfg_trim(buf), cfg_trim(buf + klen + 1), &w, notice,
                 notice_arg, errmsg);
  free(buf);
  return rc;
}

int srv_config_finish(struct srv_config *c, char errmsg[SRV_ERRMSG_MAX]) {
  /* Session timeouts are derived in 64 bits: 20 * a large tickTime does not
   * fit an int, and that must be an error, not a wrapped timeout. */
  long long min = c->min_session_timeout_ms;
  long long max = c->max_session_timeout_ms;

  if (c->tick_time_ms <= 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX,
             "tickTime must be a positive integer, not %d", c->tick_time_ms);
    return -1;
  }
  if (min == -1)
    min = 2LL * c->tick_time_ms;
  if (max == -1)
    max = 20LL * c->tick_time_ms;
  if (min <= 0 || min > INT_MAX || max <= 0 || max > INT_MAX) {
    snprintf(errmsg, SRV_ERRMSG_MAX,
             "session timeouts out of range: minSessionTimeout %lld, "
             "maxSessionTimeout %lld (tickTime %d)",
             min, max, c->tick_time_ms);
    return -1;
  }
  if (min > max) {
    snprintf(errmsg, SRV_ERRMSG_MAX,
             "minSessionTimeout (%lld) must not be larger than "
             "maxSessionTimeout (%lld)",
             min, max);
    return -1;
  }
  c->min_session_timeout_ms = (int)min;
  c->max_session_timeout_ms = (int)max;
  if (c->data_log_dir[0] == '\0')
    memcpy(c->data_log_dir, c->data_dir, sizeof(c->data_log_dir));
  return 0;
}

bool srv_config_4lw_allowed(const struct srv_config *c, const char *word) {
  const char *p = c->four_letter_whitelist;
  size_t n;

  if (word == NULL || word[0] == '\0')
    return false;
  /* zkServer.sh status depends on srvr, so ZooKeeper always allows it. */
  if (strcmp(word, "srvr") == 0 || c->four_letter_all)
    return true;
  n = strlen(word);
  while (*p != '\0') {
    const char *end = strchr(p, ',');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

    if (len == n && memcmp(p, word, n) == 0)
      return true;
    if (end == NULL)
      break;
    p = end + 1;
  }
  return false;
}

bool srv_config_prometheus(const struct srv_config *c) {
  /* org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider */
  return strstr(c->metrics_class, "PrometheusMetricsProvider") != NULL;
}

/* ---- an ensemble member's own part (srv_config_member) ---- */

/* ZooKeeper 3.5+ configs may give a member's client port (and address) on
 * its server.N line, `;[clientAddr:]clientPort`, instead of clientPort /
 * clientPortAddress; where both are set they must agree, as ZooKeeper
 * requires. */
static int client_addr_from_line(struct srv_config *c,
                                 const struct srv_peer_config *me,
                                 char errmsg[SRV_ERRMSG_MAX]) {
  if (me->client_port == 0)
    return 0;
  if (c->client_port_given && c->client_port != me->client_port) {
    snprintf(errmsg, SRV_ERRMSG_MAX,
             "clientPort=%d disagrees with the client port %d on this "
             "member's server.%d line: set one, or make them equal",
             c->client_port, me->client_port, me->id);
    return -1;
  }
  c->client_port = me->client_port;
  if (me->client_address[0] == '\0')
    return 0;
  if (c->client_port_address_given &&
      strcmp(c->client_port_address, me->client_address) != 0) {
    snprintf(errmsg, SRV_ERRMSG_MAX,
             "clientPortAddress=%.200s disagrees with the client address "
             "%.200s on this member's server.%d line",
             c->client_port_address, me->client_address, me->id);
    return -1;
  }
  snprintf(c->client_port_address, sizeof c->client_port_address, "%s",
           me->client_address);
  return 0;
}

static int read_myid(struct srv_config *c, char errmsg[SRV_ERRMSG_MAX]) {
  char path[SRV_PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/myid", c->data_dir);
  char b[32];
  FILE *f = fopen(path, "r");
  size_t n = f != NULL ? fread(b, 1, sizeof b - 1, f) : 0;
  if (f == NULL) {
    snprintf(errmsg, SRV_ERRMSG_MAX,
             "server.N lines but no myid file: cannot open '%.400s': %s", path,
             strerror(errno));
    return -1;
  }
  fclose(f);
  b[n] = '\0';
  char *end;
  long v = strtol(b, &end, 10);
  while (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t')
    end++;
  if (end == b || *end != 0 || v < 1 || v > 255) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "'%.400s' must hold a number 1..255",
             path);
    return -1;
  }
  c->server_id = (int)v;
  return 0;
}

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

static int session_secret(const struct srv_config *c, uint8_t secret[16],
                          bool *has, char errmsg[SRV_ERRMSG_MAX]) {
  const char *sec = c->session_secret;
  *has = false;
  if (sec[0] == '\0')
    return 0;
  if (strlen(sec) != 32) {
    snprintf(errmsg, SRV_ERRMSG_MAX,
             "roost.sessionSecret must be 32 hex digits");
    return -1;
  }
  for (int i = 0; i < 16; i++) {
    int hi = hexval(sec[(size_t)2 * i]), lo = hexval(sec[(size_t)2 * i + 1]);
    if (hi < 0 || lo < 0) {
      snprintf(errmsg, SRV_ERRMSG_MAX,
               "roost.sessionSecret must be 32 hex digits");
      return -1;
    }
    secret[i] = (uint8_t)(hi << 4 | lo);
  }
  *has = true;
  return 0;
}

int srv_config_member(struct srv_config *c, uint8_t secret[16],
                      bool *has_secret, char errmsg[SRV_ERRMSG_MAX]) {
  if (read_myid(c, errmsg) != 0)
    return -1;
  const struct srv_peer_config *me = NULL;
  for (int i = 0; i < c->n_peers; i++)
    if (c->peers[i].id == c->server_id)
      me = &c->peers[i];
  if (me == NULL) {
    snprintf(errmsg, SRV_ERRMSG_MAX, "myid %d has no server.%d line",
             c->server_id, c->server_id);
    return -1;
  }
  if (client_addr_from_line(c, me, errmsg) != 0)
    return -1;
  return session_secret(c, secret, has_secret, errmsg);
}
