/* libFuzzer harness for roost-agent's definition parser and duration
 * parser: arbitrary bytes as a definition file must be accepted or
 * refused with a "file: field: why" message, never crash or leak; an
 * accepted definition must render to instance JSON.  Also every input as
 * a duration string.
 *
 *   make fuzz-agent FUZZ_SECONDS=60
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (text == NULL)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  int64_t ms;
  (void)agent_duration_parse(text, &ms);
  struct agent_defs d = {0};
  char err[512] = "";
  int rc = agent_defs_parse(text, "fuzz.json", &d, NULL, NULL, err, sizeof err);
  if (rc == AGENT_EINVAL && strncmp(err, "fuzz.json: ", 11) != 0)
    abort(); /* a refusal always names the file */
  if (rc == AGENT_OK) {
    for (size_t i = 0; i < d.n; i++) {
      struct agent_check_state st[64];
      size_t n = d.v[i].n_checks < 64 ? d.v[i].n_checks : 64;
      for (size_t k = 0; k < n; k++) {
        st[k].status = (int)(k % 3);
        st[k].output = d.v[i].checks[k].id;
      }
      if (d.v[i].n_checks <= 64) {
        char *js = agent_instance_json(&d.v[i], "127.0.0.1", st);
        if (js == NULL)
          abort();
        free(js);
      }
    }
  }
  agent_defs_free(&d);
  free(text);
  return 0;
}
