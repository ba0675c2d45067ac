/* errors.c — roost_strerror / roost_err_name from the X-macro in roost.h. */
#include "client/client_int.h"

/* ZooKeeper's codes must keep the wire values proto/ uses: a drift between
 * the two lists fails the build here rather than on the wire. */
#define RC_CHECK_SAME(name, value, msg)                                        \
  _Static_assert((int)ROOST_##name == (int)PROTO_##name,                       \
                 "roost and proto disagree on " #name);
ROOST_ZK_ERR_MAP(RC_CHECK_SAME)
#undef RC_CHECK_SAME

const char *roost_strerror(int err) {
  switch (err) {
#define RC_MSG(name, value, msg)                                               \
  case ROOST_##name:                                                           \
    return msg;
    ROOST_ERR_MAP(RC_MSG)
#undef RC_MSG
  default:
    return "unknown error";
  }
}

const char *roost_err_name(int err) {
  switch (err) {
#define RC_NAME(name, value, msg)                                              \
  case ROOST_##name:                                                           \
    return #name;
    ROOST_ERR_MAP(RC_NAME)
#undef RC_NAME
  default:
    return "UNKNOWN";
  }
}
