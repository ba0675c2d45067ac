/* agent.h — roost-agent: registers the service instances of Consul-style
 * service definitions in Roost and keeps their health up to date.
 *
 * Three layers, usable on their own (the unit tests drive the first two):
 *
 *   definitions  agent_duration_parse, agent_defs_load / agent_defs_parse:
 *                Consul's service-definition JSON (files or a directory of
 *                them) into agent_service_def structs.  Pure, no I/O except
 *                reading the files.
 *   instance     agent_instance_json: the JSON an instance node holds
 *                (docs/agent.md).  Pure.
 *   runtime      agent_new / agent_run: one libuv loop running the checks
 *                (HTTP and gRPC through libcurl's multi interface, TCP with
 *                libuv, scripts with uv_spawn, TTL pushed through a unix
 *                socket) and one libroost client holding the instances'
 *                ephemeral nodes.
 *
 * Threads (runtime).  libroost runs in its mode (a): its own I/O thread,
 * where every callback of the client runs (registration callbacks, session
 * events, completions).  The agent's loop never touches agent state from
 * those callbacks: they only append a small event to a mutex-protected
 * queue and wake the agent's loop with a uv_async_t; the loop drains the
 * queue.  Events name a registration by a 64-bit id, never by pointer, so
 * an event about an instance removed meanwhile is dropped safely.  The
 * agent calls libroost's non-blocking functions (roost_set_async,
 * roost_service_register, roost_service_reg_path) from its loop; the one
 * blocking call it needs while running, roost_service_unregister, runs on
 * libuv's thread pool (uv_queue_work) so the checks never stall.
 *
 * Errors are values: functions returning int return 0 or a negative code
 * (AGENT_E*), with a message in the caller's err buffer where one is given.
 */
#ifndef AGENT_H
#define AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;

enum agent_err {
  AGENT_OK = 0,
  AGENT_EINVAL = -1, /* invalid definition / argument (see err text) */
  AGENT_EIO = -2,    /* a file or directory could not be read */
  AGENT_ENOMEM = -3,
  AGENT_ESYS = -4, /* libuv, libcurl or libroost refused */
};

/* ---------------------------------------------------------------------- */
/* Durations */

/* Parses a Consul (Go) duration: one or more <number><unit> with units
 * "ns", "us", "µs", "ms", "s", "m", "h", decimals allowed ("1.5s"), e.g.
 * "10s", "1m30s", "500ms"; a bare "0" is zero.  Negative durations and
 * anything else are refused.  *out_ms gets the value in milliseconds,
 * rounded up (a non-zero duration is never 0 ms).  Returns AGENT_OK or
 * AGENT_EINVAL (also on overflow beyond ~292 years). */
int agent_duration_parse(const char *s, int64_t *out_ms);

/* ---------------------------------------------------------------------- */
/* Definitions */

enum agent_check_kind {
  AGENT_CHECK_HTTP = 1,
  AGENT_CHECK_TCP,
  AGENT_CHECK_GRPC,
  AGENT_CHECK_ARGS,
  AGENT_CHECK_TTL,
};

/* Health states, ordered: the worst (largest) wins. */
enum agent_status {
  AGENT_PASSING = 0,
  AGENT_WARNING = 1,
  AGENT_CRITICAL = 2,
};

/* "passing" / "warning" / "critical" (static). */
const char *agent_status_name(int status);
/* Inverse of agent_status_name; -1 if s is none of them. */
int agent_status_parse(const char *s);

struct agent_header {
  char *name;  /* owned */
  char *value; /* owned */
};

struct agent_check_def {
  char *id;   /* owned; default "service:<service id>[:<n>]" as Consul */
  char *name; /* owned; default "Service '<name>' check" */
  int kind;   /* enum agent_check_kind */
  /* http: url; tcp: "host:port"; grpc: "host:port[/service]"; ttl: NULL */
  char *target;                 /* owned */
  char *method;                 /* http: owned, default "GET" */
  char *body;                   /* http: request body, owned, or NULL */
  struct agent_header *headers; /* http: owned array */
  size_t n_headers;
  bool tls_skip_verify; /* http, grpc */
  bool grpc_use_tls;    /* grpc: https instead of h2c */
  char **args;          /* args: owned, NULL-terminated */
  size_t n_args;
  int64_t interval_ms;              /* 0 for ttl */
  int64_t timeout_ms;               /* default 10 s (args: 30 s) */
  int64_t ttl_ms;                   /* ttl only */
  int64_t deregister_after_ms;      /* 0: never */
  int32_t success_before_passing;   /* consecutive; 0 and 1 mean at once */
  int32_t failures_before_warning;  /* default = failures_before_critical */
  int32_t failures_before_critical; /* consecutive; 0 and 1 mean at once */
  int32_t output_max_size;          /* bytes of output kept; default 4096 */
  int initial_status;               /* enum agent_status; default critical */
};

struct agent_service_def {
  char *file;    /* owned: the file it came from */
  char *name;    /* owned */
  char *id;      /* owned; default = name */
  char *address; /* owned or NULL (the agent's -a address is used) */
  int32_t port;  /* 0..65535 */
  char **tags;   /* owned array of owned strings */
  size_t n_tags;
  struct agent_header *meta; /* owned key/value pairs */
  size_t n_meta;
  int32_t weight_passing;         /* weights.passing, default 1 */
  int32_t weight_warning;         /* weights.warning, default 1 */
  struct agent_check_def *checks; /* owned array */
  size_t n_checks;
  /* Canonical JSON of the whole definition (owned): two definitions are
   * the same instance iff these strings are equal (SIGHUP's test). */
  char *canon;
};

struct agent_defs {
  struct agent_service_def *v; /* owned array */
  size_t n;
};

/* Called for each notice (an unknown field, accepted and ignored).  msg is
 * borrowed for the call. */
typedef void (*agent_notice_cb)(const char *msg, void *arg);

/* Parses one file's text (name used in messages only) and appends its
 * services to *defs (which must be zeroed or hold earlier results).
 * Accepts {"service": {...}}, {"services": [{...}, ...]}, and Consul's
 * capitalised spellings of every key ("Name", "ID", "DeregisterCritical-
 * ServiceAfter": keys compare without case and without underscores).
 * On AGENT_EINVAL err holds "FILE: FIELD: why" and *defs is unchanged.
 * notice may be NULL. */
int agent_defs_parse(const char *text, const char *file,
                     struct agent_defs *defs, agent_notice_cb notice,
                     void *notice_arg, char *err, size_t err_size);

/* Loads path: a file, or a directory whose *.json files are read in name
 * order.  Service ids must be unique across all of them.  Returns
 * AGENT_OK (*defs filled, free with agent_defs_free), AGENT_EINVAL,
 * AGENT_EIO, AGENT_ENOMEM, with err set on failure (then *defs is
 * empty). */
int agent_defs_load(const char *path, struct agent_defs *defs,
                    agent_notice_cb notice, void *notice_arg, char *err,
                    size_t err_size);

void agent_defs_free(struct agent_defs *defs);
void agent_service_def_clear(struct agent_service_def *s);

/* ---------------------------------------------------------------------- */
/* Instance JSON */

/* The state of one check as published. */
struct agent_check_state {
  int status;         /* enum agent_status */
  const char *output; /* borrowed; NULL as "" */
};

/* The worst of n statuses (passing when n == 0). */
int agent_status_worst(const struct agent_check_state *st, size_t n);

/* The node JSON of an instance (docs/agent.md): name, id, address and host
 * (def->address, else default_address), port, tags, meta, weight,
 * weights, status (the worst check), checks[{id,name,type,status,output}].
 * st has def->n_checks entries.  Returns a malloc'd string (free()) or
 * NULL on out of memory. */
char *agent_instance_json(const struct agent_service_def *def,
                          const char *default_address,
                          const struct agent_check_state *st);

/* ---------------------------------------------------------------------- */
/* Runtime */

struct agent_config {
  const char *hosts;       /* connect string; copied */
  const char *defs_path;   /* file or directory; copied */
  const char *socket_path; /* TTL control socket; copied */
  const char *address;     /* default instance address; copied */
  int32_t session_timeout_ms;
  int32_t max_concurrent; /* checks in flight at once (>= 1) */
};

typedef struct agent agent;

/* Loads the definitions (a failure returns AGENT_EINVAL/AGENT_EIO with
 * err set; nothing started), starts the libroost client, the control
 * socket and the checks on loop, and registers every instance.  SIGHUP
 * reloads the definitions; SIGTERM and SIGINT stop the agent (the loop
 * then ends).  *out: free with agent_free after uv_run returned. */
int agent_new(struct uv_loop_s *loop, const struct agent_config *cfg,
              agent **out, char *err, size_t err_size);

/* Reloads the definitions: new ids are registered, vanished ones removed,
 * changed ones replaced; unchanged ones keep their node and check state.
 * On an invalid definition nothing changes (the error is logged).
 * Loop thread. */
void agent_reload(agent *a);

/* Stops checks and handles; the loop ends once they are closed.  Loop
 * thread. */
void agent_stop(agent *a);

/* After uv_run returned: closes the session (the instances' ephemeral
 * nodes go with it at once) and frees everything. */
void agent_free(agent *a);

/* ---------------------------------------------------------------------- */
/* TTL control (the `roost-agent pass|warn|fail` side) */

/* Sends "<status> <check_id> <note>" to the agent listening on
 * socket_path and waits for its answer.  note may be NULL.  Returns
 * AGENT_OK, AGENT_EINVAL (the agent refused: unknown check, not a TTL
 * check; reason in err) or AGENT_EIO (no agent there). */
int agent_ttl_update(const char *socket_path, int status, const char *check_id,
                     const char *note, char *err, size_t err_size);

#endif /* AGENT_H */
