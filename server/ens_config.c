/* ens_config.c — the /zookeeper/config node of an ensemble member (issue
 * 20): at start each member writes its configuration there, in ZooKeeper
 * 3.5+'s text ("server.N=host:port:port:participant[;host:port]" lines,
 * then "version=0" for a static configuration), so that any client can
 * read and watch the membership -- as ZooKeeper's initConfigInZKDatabase
 * does.  A member that knows a newer committed configuration (its state,
 * its dynamicConfigFile) starts from that instead (ens_reconfig.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "server/ens_int.h"
#include "tree/tree.h"

int ens_config_node_init(struct srv *s) {
  struct proto_zkconfig *c = calloc(1, sizeof *c);
  if (!c)
    return -1;
  for (int i = 0; i < s->cfg.n_peers && c->n < PROTO_ZKCONFIG_MAX; i++) {
    const struct srv_peer_config *pc = &s->cfg.peers[i];
    struct proto_zkserver *z = &c->s[c->n++];
    z->id = (uint32_t)pc->id;
    snprintf(z->host, sizeof z->host, "%s", pc->host);
    z->quorum_port = (uint16_t)pc->quorum_port;
    z->election_port = (uint16_t)pc->election_port;
    z->observer = pc->observer;
    /* ZooKeeper prints a client address only when the line had one */
    z->has_client = pc->client_port != 0;
    if (z->has_client) {
      snprintf(z->client_host, sizeof z->client_host, "%s",
               pc->client_address[0] ? pc->client_address : "0.0.0.0");
      z->client_port = (uint16_t)pc->client_port;
    }
  }
  /* by id, as ZooKeeper prints them */
  for (size_t i = 1; i < c->n; i++)
    for (size_t j = i; j > 0 && c->s[j - 1].id > c->s[j].id; j--) {
      struct proto_zkserver t = c->s[j];
      c->s[j] = c->s[j - 1];
      c->s[j - 1] = t;
    }
  size_t need = proto_zkconfig_format(c, NULL, 0);
  char *text = malloc(need + 1);
  int rc = -1;
  if (text) {
    proto_zkconfig_format(c, text, need + 1);
    rc = tree_config_init(s->tree, text, need, 0) == PROTO_OK ? 0 : -1;
  }
  free(text);
  free(c);
  return rc;
}
