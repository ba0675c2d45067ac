/* agent_int.h — roost-agent internals shared by the agent/ sources.
 *
 *   agent.c    instances, check scheduling (bounded concurrency),
 *              thresholds, status publication, SIGHUP/SIGTERM
 *   zk.c       libroost: registrations and the event queue that carries
 *              libroost-thread callbacks to the agent's loop
 *   curl.c     libcurl multi on the loop; http and grpc checks
 *   tcp.c      tcp checks;  script.c  args checks;  control.c  TTL socket
 */
#ifndef AGENT_INT_H
#define AGENT_INT_H

#include <stdint.h>
#include <uv.h>

#include "agent/agent.h"
#include "client/roost.h"

struct agent_inst;
struct agent_run;

struct agent_check {
  struct agent_inst *inst;
  const struct agent_check_def *def; /* borrowed from inst->def */
  int status;                        /* after thresholds */
  char *output;                      /* last output, owned */
  int32_t successes, failures;       /* consecutive raw results */
  uint64_t critical_since_ms;        /* 0 unless critical */
  uv_timer_t timer;                  /* next run / TTL expiry */
  bool queued;                       /* waiting for a free slot */
  bool ran;                          /* a result came in */
  struct agent_check *qnext;
  struct agent_run *run; /* in flight or NULL */
};

/* One check execution; kinds embed it first.  run->check is NULL once the
 * check went away (the run then only tears itself down). */
struct agent_run {
  struct agent_check *check;
  agent *a;
  void (*cancel)(struct agent_run *r);
};

struct agent_regctx; /* zk.c */

struct agent_inst {
  struct agent_inst *next;
  agent *a;
  struct agent_service_def def; /* owned */
  struct agent_check *checks;   /* def.n_checks, owned */
  int open_handles;             /* check timers still open */
  bool removing;
  char *json; /* what the node should hold; owned */
  /* Registration (zk.c) */
  roost_service_reg *reg;
  struct agent_regctx *ctx;
  uint64_t reg_id;
  char *reg_json;    /* the JSON reg was made with; owned */
  char *synced_path; /* node known to hold json (set issued); owned */
};

struct agent_event {
  struct agent_event *next;
  int kind; /* 0: registration callback, 1: session event */
  uint64_t reg_id;
  int err;
  int session_event;
  char *path; /* owned */
};

struct agent_curl {
  void *multi; /* CURLM * */
  uv_timer_t timer;
  int running;
};

struct agent {
  uv_loop_t *loop;
  struct agent_config cfg; /* strings owned */
  struct agent_inst *insts;
  roost_client *zk;
  uint64_t next_reg_id;
  /* libroost thread -> loop */
  uv_async_t async;
  uv_mutex_t mu;
  struct agent_event *ev_h, *ev_t;
  /* scheduling */
  int32_t inflight;
  struct agent_check *q_h, *q_t;
  uv_timer_t reaper;
  struct agent_curl curl;
  uv_pipe_t control;
  bool control_open;
  struct conn *conns; /* control.c: open control connections */
  uv_signal_t sig_hup, sig_term, sig_int;
  bool async_open;
  struct agent_regctx *orphans; /* contexts freed after the client */
  int jobs;                     /* unregister jobs on the thread pool */
  bool stopping, stopped;
};

/* logging (agent.c) */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t agent_now_ms(agent *a);

/* A run finished: raw status and output (copied).  Frees nothing of r;
 * the kind frees r itself after the call. */
void agent_run_done(struct agent_run *r, int status, const char *output);
/* TTL push. */
int agent_ttl_set(agent *a, const char *check_id, int status, const char *note,
                  char *err, size_t err_size);

/* zk.c */
int agent_zk_start(agent *a, char *err, size_t err_size);
void agent_zk_register(struct agent_inst *in);
void agent_zk_unregister(struct agent_inst *in);
/* Drops in's registration without deleting (the closing session will). */
void agent_zk_forget(struct agent_inst *in);
void agent_job_done(agent *a);
void agent_zk_publish(struct agent_inst *in);
void agent_zk_drain(agent *a);
void agent_zk_close(agent *a);

/* curl.c */
int agent_curl_init(agent *a);
void agent_curl_close(agent *a);
int agent_curl_start(struct agent_check *c, struct agent_run **out);

/* tcp.c, script.c */
int agent_tcp_start(struct agent_check *c, struct agent_run **out);
int agent_script_start(struct agent_check *c, struct agent_run **out);

/* control.c */
int agent_control_start(agent *a, char *err, size_t err_size);
void agent_control_close(agent *a);

/* Keeps the first max bytes of s with a note of how much was dropped;
 * returns a malloc'd string or NULL. */
char *agent_truncate(const char *s, size_t len, size_t max);

#endif /* AGENT_INT_H */
