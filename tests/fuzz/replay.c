/* replay.c — a main for a libFuzzer harness without libFuzzer: runs
 * LLVMFuzzerTestOneInput on every file of the checked-in corpus, so that
 * `make unit` (and so `make test`) replays each corpus on every run with
 * the sanitizers of the build.  A finding aborts (the harness's own
 * checks) or trips a sanitizer, which fails the run.
 *
 * Built with -DREPLAY_NAME="fuzz_x" -DREPLAY_CORPUS="tests/fuzz/corpus_x";
 * the corpus is found under $ROOST_SRCDIR (make unit sets it) or the
 * current directory.  Arguments, if given, replace the corpus: files or
 * directories.  Ends with "<name>: N passed, 0 failed". */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* A harness may define it to free what it keeps between inputs (so the
 * leak check at exit stays clean); called once after the last input. */
void replay_cleanup(void) __attribute__((weak));

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    perror(path);
    return -1;
  }
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) {
      cap = cap ? 2 * cap : 4096;
      uint8_t *nb = realloc(buf, cap);
      if (nb == NULL) {
        free(buf);
        fclose(f);
        return -1;
      }
      buf = nb;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (n == 0)
      break;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(buf);
    fprintf(stderr, "%s: read error\n", path);
    return -1;
  }
  LLVMFuzzerTestOneInput(buf, len);
  free(buf);
  return 0;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir, in name order (a reproducible run). */
static int run_dir(const char *dir, unsigned *n) {
  DIR *d = opendir(dir);
  if (d == NULL) {
    perror(dir);
    return -1;
  }
  char **names = NULL;
  size_t cnt = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    if (cnt == cap) {
      cap = cap ? 2 * cap : 64;
      char **nn = realloc(names, cap * sizeof *nn);
      if (nn == NULL)
        break;
      names = nn;
    }
    names[cnt] = strdup(e->d_name);
    if (names[cnt] != NULL)
      cnt++;
  }
  closedir(d);
  qsort(names, cnt, sizeof *names, cmp_names);
  int rc = 0;
  for (size_t i = 0; i < cnt; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    struct stat st;
    if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
      if (run_file(path) != 0)
        rc = -1;
      else
        (*n)++;
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

static int run_arg(const char *p, unsigned *n) {
  struct stat st;
  if (stat(p, &st) != 0) {
    perror(p);
    return -1;
  }
  if (S_ISDIR(st.st_mode))
    return run_dir(p, n);
  if (run_file(p) != 0)
    return -1;
  (*n)++;
  return 0;
}

int main(int argc, char **argv) {
  unsigned n = 0;
  int rc = 0;
  if (argc > 1) {
    for (int i = 1; i < argc && rc == 0; i++)
      rc = run_arg(argv[i], &n);
  } else {
    const char *src = getenv("ROOST_SRCDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", src && *src ? src : ".", REPLAY_CORPUS);
    rc = run_arg(dir, &n);
    if (rc == 0 && n == 0) {
      fprintf(stderr, "%s: the corpus %s is empty\n", REPLAY_NAME, dir);
      rc = -1;
    }
  }
  if (replay_cleanup)
    replay_cleanup();
  printf("%s: %u passed, %d failed\n", REPLAY_NAME, n, rc == 0 ? 0 : 1);
  return rc == 0 ? 0 : 1;
}
