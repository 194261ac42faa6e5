/* fuzz_config.c: libFuzzer target for the Java-properties parser and ${key} expansion. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static void
touch(const char *key, const char *value, void *arg)
{
    (void)key;
    (void)value;
    (void)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the defaults once; each input gets a copy, as a daemon's config starts from them */
    static struct qvd_config *defaults;
    if (defaults == NULL)
        defaults = qvd_config_new();
    struct qvd_config *cfg = qvd_config_dup(defaults);
    char *text = malloc(size + 1);

    memcpy(text, data, size);
    text[size] = '\0';
    if (qvd_config_load_string(cfg, text, "fuzz") == 0)
        qvd_config_foreach(cfg, touch, NULL); /* expands every value */
    free(text);
    qvd_config_free(cfg);
    return 0;
}
