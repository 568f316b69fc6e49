/* Helpers shared by the analysis tests: where models and fixtures are (meson
 * passes FC_MODELS and FC_FIXTURES), reading files, reference tensors. */
#ifndef FC_TESTS_ANALYSIS_COMMON_H
#define FC_TESTS_ANALYSIS_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *test_path(const char *env, const char *name)
{
    const char *dir = getenv(env);
    if (!dir) {
        fprintf(stderr, "%s is not set (run the tests through meson)\n", env);
        exit(1);
    }
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) exit(1);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* The tests need the real models; a missing one is a failure, never a skip. */
static char *require_model(const char *name)
{
    char *p = test_path("FC_MODELS", name);
    if (access(p, R_OK) != 0) {
        fprintf(stderr, "FAIL: model %s is missing; run scripts/fetch-models (make test does)\n",
                p);
        exit(1);
    }
    return p;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Binary PPM written by `framecast detect --save-input`. */
static uint8_t *read_ppm(const char *path, int *w, int *h)
{
    size_t len;
    uint8_t *buf = read_file(path, &len);
    int off = 0;
    if (!buf || sscanf((char *)buf, "P6 %d %d 255%n", w, h, &off) != 2 ||
        len != (size_t)off + 1 + (size_t)*w * (size_t)*h * 3) {
        free(buf);
        return NULL;
    }
    memmove(buf, buf + off + 1, (size_t)*w * (size_t)*h * 3);
    return buf;
}

#endif
