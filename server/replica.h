/* replica.h — the replication seam of server/ (internal to server/).
 *
 * A server holds one replica, chosen at start: the local one (local.c; a
 * standalone server is an ensemble of one) or the zab one (ens_*.c).
 * Both take the same requests and both commit through srv_commit
 * (commit.c), the only place a transaction is applied; nothing outside
 * the two backends asks which one it is.
 *
 * Requests that change state: write, create_session, close_session,
 * expire, reap.  Each is answered later, through srv_commit (or
 * srv_commit_fail when it was not committed); the caller has told the
 * connection's order (order.c) what it waits for, except where said.
 *
 * Threading: the loop thread only.  Memory: payload and req are borrowed
 * for the call; a backend copies what it keeps. */
#ifndef ROOST_SERVER_REPLICA_H
#define ROOST_SERVER_REPLICA_H

#include "proto/proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct srv;
struct srv_conn;
struct srv_session;

struct srv_replica {
  const char *name;
  /* May the log's fsync run on the loop thread while one client writes
   * alone (persist.c)?  Not where peers wait on the loop for frames. */
  bool sync_on_loop;
  /* A client's write; req is its decoded frame (payload).  The backend
   * records it in c's order (srv_order_push_write), or answers an error
   * in order (srv_answer_error). */
  void (*write)(struct srv_conn *c, const struct proto_request *req,
                const uint8_t *payload, size_t len, uint64_t start_ns);
  /* createSession of id for c (c's order waits CONNECT).  false: refused
   * at once (no leader, out of memory); the caller closes c. */
  bool (*create_session)(struct srv_conn *c, int64_t id, int32_t timeout_ms);
  /* closeSession asked by c's client (c's order waits CLOSE). */
  void (*close_session)(struct srv_conn *c, int32_t xid);
  /* A session's deadline passed. */
  void (*expire)(struct srv *s, struct srv_session *sess);
  /* The reaper's deleteContainer of path (borrowed). */
  void (*reap)(struct srv *s, const char *path, size_t len);
  /* sync from c (c's order waits SYNC, path set). */
  void (*sync)(struct srv_conn *c, int32_t xid);
  /* A request of this session was seen. */
  void (*touch)(struct srv *s, int64_t session_id);
  /* Every tickTime. */
  void (*tick)(struct srv *s);
  /* The log is durable up to zxid (persist.c, after an fsync). */
  void (*durable)(struct srv *s, int64_t zxid);
  /* A write or fsync of the log failed (persist.c; why borrowed for the
   * call).  NULL: persist.c refuses writes and rewrites the unsynced
   * frames every second (txlog_retry) itself; else the backend owns the
   * recovery and clears s->log_failed when it is done. */
  void (*log_failed)(struct srv *s, const char *why);
  /* Serving read-write clients now? */
  bool (*serving)(const struct srv *s);
  /* Serving read-only (readonlymode.enabled, a member without a quorum:
   * reads answered from its tree, writes and sync NotReadOnly)? */
  bool (*read_only)(const struct srv *s);
  /* A ConnectRequest: may the handshake go on?  session_id: 0 for a new
   * session, else the one resumed; can_ro: the client's canBeReadOnly.
   * NULL: yes; else why not (the caller closes c without an answer, as
   * ZooKeeper does, and the client tries another server). */
  const char *(*admit)(const struct srv *s, int64_t session_id, bool can_ro);
  /* srvr/mntr's Mode. */
  const char *(*mode)(const struct srv *s);
  /* The backend's lines for mntr. */
  void (*mntr)(const struct srv *s, struct proto_writer *w);
  /* c is closing: forget what the backend keeps for it. */
  void (*conn_gone)(struct srv_conn *c);
  /* End of a loop turn: hand frames to libuv (peers). */
  void (*flush)(struct srv *s);
  /* srv_stop, srv_free. */
  void (*stop)(struct srv *s);
  void (*free)(struct srv *s);
};

/* local.c: the replica of a standalone server.  Both openers: 0, or -1
 * with errmsg (SRV_ERRMSG_MAX bytes). */
int srv_local_open(struct srv *s, char *errmsg);
/* ens_start.c: a member of an ensemble (server.N lines). */
int srv_zab_open(struct srv *s, char *errmsg);

#endif /* ROOST_SERVER_REPLICA_H */
