/* server — roost-server: configuration, the libuv loop, client
 * connections, sessions and their expiry, the request pipeline and the
 * four-letter words.
 *
 * Order the server keeps (DESIGN.md, standalone = ensemble of one):
 *   read frame -> prep (tree_prep) -> zxid -> apply (tree_apply) ->
 *   watch events -> reply, per session in request order.  A read waits
 *   behind its session's earlier writes.  Until the durability issue lands
 *   the tree lives in memory only.
 *
 * Memory: struct srv is opaque, made by srv_new and freed by srv_free.
 * struct srv_config is filled by the caller (srv_config_defaults +
 * srv_config_load / srv_config_set) and copied by srv_new.
 */
#ifndef ROOST_SERVER_H
#define ROOST_SERVER_H

#include "tls/tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Configuration: zoo.cfg keys (java properties syntax: key=value lines,
 * '#' or '!' comments, surrounding blanks trimmed). */

#define SRV_PATH_MAX 4096
#define SRV_ERRMSG_MAX 512
#define SRV_MAX_PEERS 64 /* = ZAB_MAX_MEMBERS */

/* One server.N line: host:quorumPort:electionPort[:participant|:observer]
 * [;[clientAddr:]clientPort].  Roost runs every peer message (election
 * included) over quorumPort; electionPort is parsed and checked but not
 * bound (docs/ensemble.md).  The client part is accepted and ignored: the
 * client port comes from clientPort/clientPortAddress as in 3.4 files. */
struct srv_peer_config {
  int id;
  char host[256];
  int quorum_port;
  int election_port;
  bool observer;
  int client_port;         /* ";[clientAddr:]clientPort" part, 0 = none */
  char client_address[256]; /* its clientAddr, "" = none */
};

struct srv_config {
  int tick_time_ms;                /* tickTime, default 2000 (zoo.cfg) */
  char data_dir[SRV_PATH_MAX];     /* dataDir, required by ZooKeeper; we
                                      default to "./data" */
  char data_log_dir[SRV_PATH_MAX]; /* dataLogDir, "" = data_dir */
  int client_port;                 /* clientPort, default 2181 */
  bool client_port_given;          /* clientPort was in the file or flags */
  bool client_port_address_given;  /* clientPortAddress likewise */
  char client_port_address[256];   /* clientPortAddress, default "0.0.0.0"
                                      (ZooKeeper binds all addresses) */
  int max_client_cnxns;       /* maxClientCnxns, default 60, 0 = no limit */
  int min_session_timeout_ms; /* minSessionTimeout, default -1 = 2*tick */
  int max_session_timeout_ms; /* maxSessionTimeout, default -1 = 20*tick */
  int jute_max_buffer;        /* jute.maxbuffer, default 0xfffff */
  char four_letter_whitelist[1024]; /* 4lw.commands.whitelist, default
                                       "srvr" */
  bool four_letter_all;             /* whitelist was "*" */
  int client_port_listen_backlog;   /* clientPortListenBacklog, default -1
                                       (the OS default) */
  int global_outstanding_limit;     /* globalOutstandingLimit, default 1000 */
  int output_budget_mb;             /* roost.outputBudgetMB: unsent replies
                                       of all connections together, default
                                       128 (conn.c) */
  bool extended_types;              /* zookeeper.extendedTypesEnabled /
                                       extendedTypesEnabled, default false */
  char super_digest[256];           /* zookeeper.DigestAuthenticationProvider
                                       .superDigest ("super:<base64 sha1>"),
                                       "" = none: an addauth digest whose
                                       identity equals it also gets "super",
                                       which passes every ACL check */
  int reap_interval_ms;             /* znode.container.checkIntervalMs,
                                       default 60000 */
  int reap_max_per_minute;          /* znode.container.maxPerMinute, default
                                       10000 */
  int reap_max_never_used_ms;       /* znode.container.maxNeverUsedIntervalMs,
                                       default 0 = never (3.8) */
  int snap_count;                   /* snapCount, default 100000: a snapshot
                                       after snapCount/2 + a random share of
                                       snapCount/2 transactions */
  bool force_sync;                  /* forceSync, default yes; "no" skips
                                       fsync (tests only: a power loss or
                                       kernel crash loses acknowledged
                                       writes) */
  bool fsync_on_loop;               /* roost.fsyncOnLoop, default no: a
                                       client writing alone has its fsync
                                       run on the loop (persist.c) */
  int pre_alloc_kb;                 /* preAllocSize (KiB), default 1024; 0 = off
                                       (ZooKeeper: 65536) */
  int autopurge_snap_retain_count;  /* autopurge.snapRetainCount, default 3
                                       (at least 3 are kept) */
  int autopurge_purge_interval_h;   /* autopurge.purgeInterval (hours),
                                       default 0 = never */
  int server_id;                    /* from dataDir/myid (ensemble); 0
                                       standalone */
  struct srv_peer_config peers[SRV_MAX_PEERS]; /* server.N lines, in file
                                                  order; none = standalone */
  int n_peers;
  int init_limit;                   /* initLimit (ticks), default 10 */
  int sync_limit;                   /* syncLimit (ticks), default 5 */
  int sync_diff_window;             /* roost.syncDiffWindow: committed txns
                                       a leader keeps for DIFF, default 500 */
  /* readonlymode.enabled (a JVM property in ZooKeeper), default false: a
   * member without a quorum serves canBeReadOnly clients read-only. */
  bool read_only_mode;
  char session_secret[80];          /* roost.sessionSecret, optional: 32
                                       hex digits, the key of the passwords
                                       of sessions this member creates;
                                       "" = the dataDir/session.secret key.
                                       Passwords are replicated, so members
                                       need not share it. */
  char config_path[SRV_PATH_MAX];   /* the file loaded, "" if none */
  int log_level;                    /* 0 error, 1 warn, 2 info, 3 debug;
                                       default 2 */
  /* TLS (server/tlsport.c, tls/, README.md "TLS"). */
  int secure_client_port;           /* secureClientPort, -1 = none
                                       (default), 0 = any free port */
  char secure_client_port_address[256]; /* secureClientPortAddress, "" =
                                           clientPortAddress */
  struct tls_options tls;           /* ssl.* */
  bool client_port_unification;     /* client.portUnification: clientPort
                                       also takes TLS clients (ssl.*) */
  bool ssl_quorum;                  /* sslQuorum: peer links use TLS with
                                       ssl.quorum.* (both ends verified) */
  bool ssl_quorum_reload;           /* sslQuorumReloadCertFiles */
  struct tls_options quorum_tls;    /* ssl.quorum.* */
  char x509_super_user[1024];       /* zookeeper.X509AuthenticationProvider
                                       .superUser: a client certificate's
                                       subject DN that also gets "super" */
  /* DNS interface (server/dnsd.c, docs/dns.md). */
  int dns_port;                     /* dns.port, UDP and TCP; 0 = off
                                       (default) */
  char dns_address[256];            /* dns.address, "" = clientPortAddress */
  char dns_domain[256];             /* dns.domain, default "roost." */
  int dns_ttl_s;                    /* dns.ttl, default 0 */
  char dns_curator_base_path[256];  /* dns.curatorBasePath: Curator's
                                       ServiceDiscovery base path, default
                                       "/services" (Roost's own root) */

  /* Admin HTTP server (server/admin.c, http/): ZooKeeper's AdminServer
   * commands, Prometheus /metrics and the console. */
  bool admin_enable;           /* admin.enableServer, default true */
  char admin_address[256];     /* admin.serverAddress, "" = the client
                                  address (ZooKeeper: 0.0.0.0) */
  int admin_port;              /* admin.serverPort, default 8080 */
  char admin_command_url[256]; /* admin.commandURL, default
                                  "/commands" */
  int admin_idle_timeout_ms;   /* admin.idleTimeout, default 30000 */
  bool admin_force_https;      /* admin.forceHttps: HTTPS only */
  bool admin_unify;            /* admin.portUnification: HTTPS and HTTP
                                  on the admin port (forceHttps wins) */
  bool admin_need_client_auth; /* admin.needClientAuth (ZooKeeper 3.9):
                                  HTTPS clients need a certificate the
                                  ssl.quorum trust store accepts */
  char metrics_class[256];     /* metricsProvider.className; "" = none.
                                  ZooKeeper's Prometheus provider class
                                  turns on /metrics on httpHost:httpPort
                                  as well */
  char metrics_host[256];      /* metricsProvider.httpHost, "" = the
                                  client address */
  int metrics_port;            /* metricsProvider.httpPort, default
                                  7000 */
  /* reconfigEnabled, default false: the reconfig opcode answers
   * ReconfigDisabled.  dynamicConfigFile ("" = none): rewritten in
   * ZooKeeper's text when a reconfiguration commits. */
  bool reconfig_enabled;
  char dynamic_config_file[SRV_PATH_MAX];
};

/* Fill with the defaults above. */
void srv_config_defaults(struct srv_config *c);

/* Load a zoo.cfg-style file on top of the current values.  Keys that
 * ZooKeeper accepts but Roost does not use (admin.*,
 * metricsProvider.*, initLimit, syncLimit, server.N, ...) are accepted with
 * one notice per line ("notice: PATH:LINE: key 'K' is accepted but not used
 * by Roost"); so is a key no ZooKeeper knows, as ZooKeeper turns it into a
 * system property ("... unknown key 'K' ignored").  `notice` may be NULL;
 * its msg is borrowed for the call.  A malformed value of a key Roost uses
 * ("PATH:LINE: invalid value 'V' for key 'K': expected ..."), a line that
 * is a lone word, a non-numeric server.N/group.N/weight.N, an unreadable
 * file ("cannot open 'PATH': <errno text>") fail with errmsg filled.
 * Returns 0, or -1 leaving c unchanged.  path is copied into
 * c->config_path on success; errmsg must not be NULL. */
typedef void (*srv_notice_cb)(void *arg, const char *msg);
int srv_config_load(struct srv_config *c, const char *path,
                    srv_notice_cb notice, void *notice_arg,
                    char errmsg[SRV_ERRMSG_MAX]);

/* Set one key (as if read from a file, line 0 = command line).  Same
 * rules and return value as srv_config_load; key and value are trimmed and
 * messages start "command line: ".  Returns 0, or -1 leaving c unchanged. */
int srv_config_set(struct srv_config *c, const char *key, const char *value,
                   srv_notice_cb notice, void *notice_arg,
                   char errmsg[SRV_ERRMSG_MAX]);

/* Derived values after loading: fills min/max session timeouts from
 * tickTime when they are -1 (2 and 20 ticks), checks tickTime > 0, that
 * they fit an int and min <= max, and copies data_dir into an empty
 * data_log_dir.  Idempotent.  Returns 0 or -1 with errmsg. */
int srv_config_finish(struct srv_config *c, char errmsg[SRV_ERRMSG_MAX]);

/* Does metricsProvider.className name ZooKeeper's Prometheus provider? */
bool srv_config_prometheus(const struct srv_config *c);

/* Is this four-letter word allowed by the whitelist? ("srvr" always is;
 * with "*" every word is; matching is exact and case-sensitive.) */
bool srv_config_4lw_allowed(const struct srv_config *c, const char *word);

/* An ensemble member's own part of the configuration (server.N lines
 * present), read at start: dataDir/myid (1..255) into c->server_id; this
 * member's server.N line's `;[clientAddr:]clientPort` into clientPort /
 * clientPortAddress (they must agree where both are set, as ZooKeeper
 * requires); roost.sessionSecret (32 hex digits) into secret, with
 * *has_secret.  Returns 0, or -1 with errmsg. */
int srv_config_member(struct srv_config *c, uint8_t secret[16],
                      bool *has_secret, char errmsg[SRV_ERRMSG_MAX]);

/* ------------------------------------------------------------------ */
/* The server. */

struct srv;

/* Make a server on its own uv loop; binds the client port.  Returns NULL
 * with errmsg filled on failure (port in use, bad address, ...). */
struct srv *srv_new(const struct srv_config *cfg, char errmsg[SRV_ERRMSG_MAX]);

/* Run until srv_stop (or SIGTERM/SIGINT when install_signals was called).
 * Returns 0 after a clean shutdown. */
int srv_run(struct srv *s);

/* Handle SIGTERM and SIGINT by stopping the loop cleanly. */
void srv_install_signals(struct srv *s);

/* Ask the loop to stop (safe from the loop's own thread). */
void srv_stop(struct srv *s);

/* Close every handle, free every byte; uv_loop_close must succeed. */
void srv_free(struct srv *s);

/* Port actually bound (useful with clientPort=0). */
int srv_bound_port(const struct srv *s);
/* The client address listened on (clientPortAddress, or the client part
 * of this member's server.N line).  Borrowed; lives as long as s. */
const char *srv_client_address(const struct srv *s);

#endif /* ROOST_SERVER_H */
