/* proto/errors.c — names and messages generated from the X-macro maps. */
#include "proto/proto.h"

const char *proto_strerror(int err) {
  switch (err) {
#define PROTO_ERR_MSG(name, value, msg)                                        \
  case value:                                                                  \
    return msg;
    PROTO_ERR_MAP(PROTO_ERR_MSG)
#undef PROTO_ERR_MSG
  default:
    return "unknown error";
  }
}

const char *proto_err_name(int err) {
  switch (err) {
#define PROTO_ERR_NAME(name, value, msg)                                       \
  case value:                                                                  \
    return #name;
    PROTO_ERR_MAP(PROTO_ERR_NAME)
#undef PROTO_ERR_NAME
  default:
    return "UNKNOWN";
  }
}

const char *proto_op_tag(int op) {
  switch (op) {
#define PROTO_OP_TAG(name, value, tag)                                         \
  case value:                                                                  \
    return tag;
    PROTO_OP_MAP(PROTO_OP_TAG)
#undef PROTO_OP_TAG
  default:
    return "UNKN";
  }
}

/* ZooKeeper's camelCase names are not derivable from the macro's upper-case
 * identifiers, so they live here; the unit test walks PROTO_OP_MAP to prove
 * every opcode has one. */
const char *proto_op_name(int op) {
  switch (op) {
  case PROTO_OP_NOTIFICATION:
    return "notification";
  case PROTO_OP_CREATE:
    return "create";
  case PROTO_OP_DELETE:
    return "delete";
  case PROTO_OP_EXISTS:
    return "exists";
  case PROTO_OP_GETDATA:
    return "getData";
  case PROTO_OP_SETDATA:
    return "setData";
  case PROTO_OP_GETACL:
    return "getACL";
  case PROTO_OP_SETACL:
    return "setACL";
  case PROTO_OP_GETCHILDREN:
    return "getChildren";
  case PROTO_OP_SYNC:
    return "sync";
  case PROTO_OP_PING:
    return "ping";
  case PROTO_OP_GETCHILDREN2:
    return "getChildren2";
  case PROTO_OP_CHECK:
    return "check";
  case PROTO_OP_MULTI:
    return "multi";
  case PROTO_OP_CREATE2:
    return "create2";
  case PROTO_OP_RECONFIG:
    return "reconfig";
  case PROTO_OP_CHECKWATCHES:
    return "checkWatches";
  case PROTO_OP_REMOVEWATCHES:
    return "removeWatches";
  case PROTO_OP_CREATECONTAINER:
    return "createContainer";
  case PROTO_OP_DELETECONTAINER:
    return "deleteContainer";
  case PROTO_OP_CREATETTL:
    return "createTTL";
  case PROTO_OP_MULTIREAD:
    return "multiRead";
  case PROTO_OP_AUTH:
    return "auth";
  case PROTO_OP_SETWATCHES:
    return "setWatches";
  case PROTO_OP_SASL:
    return "sasl";
  case PROTO_OP_GETEPHEMERALS:
    return "getEphemerals";
  case PROTO_OP_GETALLCHILDRENNUMBER:
    return "getAllChildrenNumber";
  case PROTO_OP_SETWATCHES2:
    return "setWatches2";
  case PROTO_OP_ADDWATCH:
    return "addWatch";
  case PROTO_OP_WHOAMI:
    return "whoAmI";
  case PROTO_OP_CREATESESSION:
    return "createSession";
  case PROTO_OP_CLOSESESSION:
    return "closeSession";
  case PROTO_OP_ERROR:
    return "error";
  default:
    return "unknown";
  }
}
