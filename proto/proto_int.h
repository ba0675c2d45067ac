/* proto_int.h — helpers shared between the .c files of proto/ only. */
#ifndef ROOST_PROTO_INT_H
#define ROOST_PROTO_INT_H

#include "proto/proto.h"

/* Next n bytes of the frame, or NULL with the sticky error set. */
const uint8_t *proto__take(struct proto_reader *r, size_t n);
/* Set the sticky error (keeps an earlier one). */
void proto__fail(struct proto_reader *r);
/* Vector count keeping -1 for null; rejects < -1, > max_field and counts
 * larger than the bytes left. */
int32_t proto__read_count_raw(struct proto_reader *r);

/* Read and fully validate a vector, recording it as a borrowed slice. */
void proto__read_acl_vec(struct proto_reader *r, struct proto_acl_vec *v);
void proto__read_str_vec(struct proto_reader *r, struct proto_str_vec *v);
void proto__write_acl_vec(struct proto_writer *w,
                          const struct proto_acl_vec *v);
void proto__write_str_vec(struct proto_writer *w,
                          const struct proto_str_vec *v);

#endif
