/* control.c — the TTL control socket (a unix stream socket, mode 0600 by
 * the umask of the agent; only processes of the same user reach it).
 *
 * Protocol, one request per connection:
 *   request  "<passing|warning|critical>\t<check id>\t<note>\n"
 *   answer   "ok\n"  or  "error: <why>\n"
 * A request is at most 8 KiB; a longer one is refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/agent_int.h"

#define CONTROL_MAX 8192

struct conn {
  uv_pipe_t pipe;
  agent *a;
  struct conn *prev, *next; /* a->conns: closed when the agent stops */
  char buf[CONTROL_MAX];
  size_t len;
  bool answered;
  uv_write_t wr;
  char reply[300];
};

static void on_conn_closed(uv_handle_t *h) {
  struct conn *c = h->data;
  if (c->prev)
    c->prev->next = c->next;
  else
    c->a->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  free(c);
}

static void conn_close(struct conn *c) {
  if (!uv_is_closing((uv_handle_t *)&c->pipe))
    uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

static void on_written(uv_write_t *w, int status) {
  (void)status;
  conn_close(w->data);
}

static void answer(struct conn *c, const char *text) {
  c->answered = true;
  uv_read_stop((uv_stream_t *)&c->pipe);
  snprintf(c->reply, sizeof c->reply, "%s\n", text);
  uv_buf_t b = uv_buf_init(c->reply, (unsigned)strlen(c->reply));
  c->wr.data = c;
  if (uv_write(&c->wr, (uv_stream_t *)&c->pipe, &b, 1, on_written) != 0)
    conn_close(c);
}

static void handle(struct conn *c) {
  c->buf[c->len] = '\0';
  char *nl = strchr(c->buf, '\n');
  if (nl)
    *nl = '\0';
  char *st = c->buf;
  char *id = strchr(st, '\t');
  if (id == NULL) {
    answer(c, "error: malformed request");
    return;
  }
  *id++ = '\0';
  char *note = strchr(id, '\t');
  if (note)
    *note++ = '\0';
  int status = agent_status_parse(st);
  if (status < 0) {
    answer(c, "error: status must be passing, warning or critical");
    return;
  }
  char err[256], msg[300];
  if (agent_ttl_set(c->a, id, status, note ? note : "", err, sizeof err) !=
      AGENT_OK) {
    snprintf(msg, sizeof msg, "error: %s", err);
    answer(c, msg);
    return;
  }
  answer(c, "ok");
}

static void on_alloc(uv_handle_t *h, size_t sug, uv_buf_t *buf) {
  (void)sug;
  struct conn *c = h->data;
  buf->base = c->buf + c->len;
  buf->len = CONTROL_MAX - 1 - c->len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  (void)buf;
  struct conn *c = s->data;
  if (c->answered)
    return;
  if (n < 0) {
    if (n == UV_EOF && c->len > 0)
      handle(c);
    else
      conn_close(c);
    return;
  }
  c->len += (size_t)n;
  if (memchr(c->buf, '\n', c->len))
    handle(c);
  else if (c->len >= CONTROL_MAX - 1)
    answer(c, "error: request too long");
}

static void on_connection(uv_stream_t *server, int status) {
  agent *a = server->data;
  if (status != 0)
    return;
  struct conn *c = calloc(1, sizeof *c);
  if (c == NULL)
    return;
  c->a = a;
  uv_pipe_init(a->loop, &c->pipe, 0);
  c->pipe.data = c;
  c->next = a->conns;
  if (a->conns)
    a->conns->prev = c;
  a->conns = c;
  if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0 ||
      uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0)
    conn_close(c);
}

int agent_control_start(agent *a, char *err, size_t err_size) {
  const char *path = a->cfg.socket_path;
  /* A socket left by a dead agent is removed; a live agent keeps it. */
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sa.sun_path) {
    if (fd >= 0)
      close(fd);
    snprintf(err, err_size, "-S %s: path too long", path);
    return AGENT_EINVAL;
  }
  memcpy(sa.sun_path, path, strlen(path) + 1);
  if (fd >= 0) {
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    close(fd);
    if (rc == 0) {
      snprintf(err, err_size, "-S %s: another agent is listening there", path);
      return AGENT_EINVAL;
    }
  }
  unlink(path);
  uv_pipe_init(a->loop, &a->control, 0);
  a->control.data = a;
  a->control_open = true;
  int rc = uv_pipe_bind(&a->control, path);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&a->control, 16, on_connection);
  if (rc != 0) {
    snprintf(err, err_size, "-S %s: %s", path, uv_strerror(rc));
    return AGENT_ESYS;
  }
  return AGENT_OK;
}

void agent_control_close(agent *a) {
  /* a client that connected and never sent must not keep the loop up */
  for (struct conn *c = a->conns; c; c = c->next)
    conn_close(c);
  if (!a->control_open)
    return;
  a->control_open = false;
  uv_close((uv_handle_t *)&a->control, NULL);
  unlink(a->cfg.socket_path);
}

int agent_ttl_update(const char *socket_path, int status, const char *check_id,
                     const char *note, char *err, size_t err_size) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(socket_path) >= sizeof sa.sun_path) {
    snprintf(err, err_size, "%s: path too long", socket_path);
    return AGENT_EINVAL;
  }
  if (strchr(check_id, '\t') || strchr(check_id, '\n')) {
    snprintf(err, err_size, "check id must not contain tabs or newlines");
    return AGENT_EINVAL;
  }
  memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    snprintf(err, err_size, "no agent at %s: %s", socket_path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return AGENT_EIO;
  }
  size_t n = strlen(agent_status_name(status)) + strlen(check_id) +
             (note ? strlen(note) : 0) + 4;
  char *req = malloc(n);
  if (req == NULL) {
    close(fd);
    return AGENT_ENOMEM;
  }
  snprintf(req, n, "%s\t%s\t%s\n", agent_status_name(status), check_id,
           note ? note : "");
  /* the note is one line */
  for (char *p = req; p[0] && p[1]; p++)
    if (*p == '\n')
      *p = ' ';
  if (strlen(req) >= CONTROL_MAX) {
    free(req);
    close(fd);
    snprintf(err, err_size, "note too long");
    return AGENT_EINVAL;
  }
  size_t off = 0, len = strlen(req);
  while (off < len) {
    ssize_t w = write(fd, req + off, len - off);
    if (w <= 0) {
      if (w < 0 && errno == EINTR)
        continue;
      free(req);
      close(fd);
      snprintf(err, err_size, "write to %s failed", socket_path);
      return AGENT_EIO;
    }
    off += (size_t)w;
  }
  free(req);
  char reply[512];
  size_t got = 0;
  for (;;) {
    ssize_t r = read(fd, reply + got, sizeof reply - 1 - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += (size_t)r;
    if (got == sizeof reply - 1)
      break;
  }
  close(fd);
  reply[got] = '\0';
  char *nl = strchr(reply, '\n');
  if (nl)
    *nl = '\0';
  if (strcmp(reply, "ok") == 0)
    return AGENT_OK;
  snprintf(err, err_size, "%s", got ? reply : "the agent closed the socket");
  return got && strncmp(reply, "error: ", 7) == 0 ? AGENT_EINVAL : AGENT_EIO;
}
