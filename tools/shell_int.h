/* shell_int.h — internals of `roost`, the interactive shell (tools/).
 *
 * roost.c         main: options, the three modes (one-shot, script from
 *                 stdin, interactive with libedit), TAB completion
 * shell_cmd.c     the command table and every command
 * shell_render.c  growable buffer, JSON writer, JSON pretty-printer and
 *                 member lookup, data rendering (text / JSON / hexdump)
 *
 * Threads: every command runs on the main thread and uses libroost's
 * blocking calls.  Watch callbacks run on the client's I/O thread; they
 * either print at once (get -w, ls -w: stdout is locked per event) or hand
 * the event to the main thread through a bounded queue and a pipe (watch).
 */
#ifndef ROOST_SHELL_INT_H
#define ROOST_SHELL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client/roost.h"

/* Exit / command statuses (the one-shot exit codes). */
enum shell_status {
  SHELL_OK = 0,
  SHELL_ERR = 1,   /* the operation failed */
  SHELL_USAGE = 2, /* the command line was wrong */
  SHELL_QUIT = 3,  /* `quit`: stop reading commands (exit 0) */
};

/* ---------------------------------------------------------------------- */
/* Growable byte buffer, always NUL-terminated.  Growth is bounded so that
 * a runaway listing fails with an error instead of eating the machine. */

#define SHELL_SBUF_MAX_BYTES ((size_t)256 << 20)

struct sbuf {
  char *p;
  size_t len;
  size_t cap;
  bool failed; /* out of memory or over the bound: contents truncated */
};

void sbuf_init(struct sbuf *b);
void sbuf_free(struct sbuf *b);
void sbuf_reset(struct sbuf *b);
void sbuf_add(struct sbuf *b, const void *s, size_t n);
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_addc(struct sbuf *b, char c);
void sbuf_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------------- */
/* JSON writer: one value, compact, into an sbuf.  Keys and values are
 * copied; the writer keeps only nesting state. */

#define JW_MAX_DEPTH 256

struct jw {
  struct sbuf *out; /* borrowed */
  int depth;
  bool after_key;
  bool need_comma[JW_MAX_DEPTH];
};

void jw_init(struct jw *w, struct sbuf *out);
void jw_obj(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr(struct jw *w);
void jw_arr_end(struct jw *w);
void jw_key(struct jw *w, const char *k);
void jw_str(struct jw *w, const char *s);
void jw_strn(struct jw *w, const char *s, size_t n);
void jw_i64(struct jw *w, int64_t v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/* s[0..n) must already be one valid compact JSON value. */
void jw_raw(struct jw *w, const char *s, size_t n);

/* ---------------------------------------------------------------------- */
/* JSON reading. */

/* Validates s[0..n) as one JSON value (RFC 8259, surrounding whitespace
 * allowed, nesting up to JSON_MAX_DEPTH) and re-emits it into out:
 * indent > 0 pretty with that many spaces per level, indent == 0 compact.
 * out may be NULL (validate only).  Returns false if it is not JSON (out
 * then holds garbage the caller discards). */
#define JSON_MAX_DEPTH 128
bool json_format(const char *s, size_t n, int indent, struct sbuf *out);

/* Top-level object member lookup.  On success *val / *val_len span the raw
 * value text inside s (a string keeps its quotes).  False when s is not a
 * JSON object or has no such key. */
bool json_member(const char *s, size_t n, const char *key, const char **val,
                 size_t *val_len);

/* Copies a member as plain text into buf (strings unquoted and unescaped
 * for the common escapes, numbers and literals as written).  False when
 * absent, an object/array, or too long for buf. */
bool json_member_text(const char *s, size_t n, const char *key, char *buf,
                      size_t buf_size);

/* ---------------------------------------------------------------------- */
/* Data rendering. */

enum data_kind {
  DATA_NULL,   /* the node's data is null */
  DATA_TEXT,   /* printable UTF-8 (tabs and newlines allowed), or empty */
  DATA_JSON,   /* a JSON object or array */
  DATA_BINARY, /* anything else */
};

enum data_kind data_classify(const char *d, int32_t len);
/* Human form: text as is, JSON pretty, binary as a hexdump; ends with a
 * newline unless empty. */
void data_render_text(struct sbuf *out, const char *d, int32_t len);
/* "encoding" and "data" members for --json output: text as a string, JSON
 * embedded as a value, binary as base64, null as null. */
void data_render_json(struct jw *w, const char *d, int32_t len);
void hexdump(struct sbuf *out, const unsigned char *d, size_t len);

/* ---------------------------------------------------------------------- */
/* The shell. */

/* Watch events handed from the I/O thread to `watch` (bounded). */
#define SHELL_EVQ_MAX 4096

struct shell_event {
  uint32_t gen; /* which `watch` command armed it */
  int kind;     /* WATCH_KIND_DATA / WATCH_KIND_CHILD */
  bool reply;   /* the reply to an arm request, not an event */
  int type;     /* event: enum roost_event_type */
  char *path;   /* event: owned */
  int err;      /* reply: the request's roost_err */
  roost_stat stat; /* reply: the node's stat (when err is ROOST_OK) */
};

struct shell {
  roost_client *client; /* NULL until connected */
  char *hosts;          /* the connect string of client (owned) */
  bool json;            /* --json */
  bool interactive;     /* prompt + libedit */
  bool one_shot;        /* roost -s HOSTS COMMAND ... */
  bool script;          /* commands from a non-terminal stdin */
  int32_t timeout_ms;   /* session timeout asked for, and connect wait */
  /* --tls, --ca, --cert, --key, --key-password, --no-hostname-verification
   * (strings borrowed from argv). */
  bool tls;
  bool tls_no_verify;
  const char *tls_ca, *tls_cert, *tls_key, *tls_key_password;
  int sig_fd[2];        /* self-pipe: SIGINT wakes `watch` */

  pthread_mutex_t evq_mu;
  struct shell_event evq[SHELL_EVQ_MAX]; /* ring, guarded by evq_mu */
  size_t evq_head, evq_len;
  size_t evq_dropped;
  int ev_fd[2];      /* a byte per queued event */
  uint32_t watch_gen; /* main thread only */
};

enum { WATCH_KIND_DATA = 1, WATCH_KIND_CHILD = 2 };

int shell_init(struct shell *sh);
void shell_destroy(struct shell *sh);

/* Runs one command (argv[0] is its name).  Returns an enum shell_status.
 * Prints its result on stdout and errors on stderr (--json: everything as
 * one JSON object on stdout). */
int shell_run(struct shell *sh, int argc, char **argv);

/* Splits a command line into words: blanks separate, '...' is literal,
 * "..." knows \" \\ \n \t, a backslash outside quotes escapes the next
 * byte.  *argv (free with shell_free_words) gets *argc words.  Returns
 * SHELL_OK or SHELL_USAGE (unterminated quote, too many words). */
#define SHELL_MAX_WORDS 64
int shell_split(const char *line, int *argc, char ***argv);
void shell_free_words(int argc, char **argv);

/* (Re)connects to hosts.  Prints the outcome unless quiet. */
int shell_connect(struct shell *sh, const char *hosts, bool quiet);

/* Interactive mode keeps one SIGINT handler for the whole session: Ctrl-C
 * at the prompt clears the line instead of killing the shell, and stops a
 * running `watch`. */
void shell_install_sigint(struct shell *sh);

/* Names of the commands, NULL-terminated (for completion and help). */
const char *const *shell_command_names(void);

/* Prints an error result: text "error: [PATH: ]NAME: message" on stderr,
 * or {"error":NAME,"code":N,"message":...,"path":...} on stdout. */
void shell_print_error(struct shell *sh, int err, const char *path,
                       const char *detail);

/* Sorting helper for children names. */
void shell_sort_names(char **names, size_t n);

#endif /* ROOST_SHELL_INT_H */
