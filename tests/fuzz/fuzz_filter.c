/* fuzz_filter.c: libFuzzer target for the list parameters: the first two bytes pick the
 * resource, the hidden fields and the query's options; the rest, split at newlines, is the
 * filter, the order and the fields. Checks that whatever comes in never reaches the SQL text:
 * the text is printable ASCII with exactly one `?` per parameter. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "filter.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Hides the fields whose index has its bit set in *(uint8_t *)arg. */
static bool
visible(void *arg, const struct qvd_resource *r, const struct qvd_field *f)
{
    size_t i = (size_t)(f - r->fields);
    return ((*(const uint8_t *)arg >> (i % 8)) & 1) == 0;
}

static void
check(const struct qvd_filter_sql *s)
{
    size_t marks = 0;

    for (size_t i = 0; i < s->text.len; i++) {
        unsigned char c = (unsigned char)s->text.data[i];
        if (c < 0x20 || c > 0x7e)
            __builtin_trap();
        marks += c == '?';
    }
    if (marks != s->nparams)
        __builtin_trap();
    for (size_t i = 0; i < s->nparams; i++)
        if (s->params[i].type != 'i' && s->params[i].type != 's')
            __builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t tenants[] = {1, -1};
    size_t nres = 0;
    char *text, *parts[3] = {NULL, NULL, NULL};
    uint8_t hidden;
    int64_t id = 7;

    if (size < 2)
        return 0;
    while (qvd_resources[nres] != NULL)
        nres++;
    const struct qvd_resource *r = qvd_resources[data[0] % nres];
    hidden = data[1] & 0x3e; /* the id (and name) of most resources stay visible */
    text = malloc(size - 1);
    memcpy(text, data + 2, size - 2);
    text[size - 2] = '\0';
    parts[0] = text;
    for (int k = 1; k < 3 && parts[k - 1] != NULL; k++) {
        char *nl = strchr(parts[k - 1], '\n');
        if (nl != NULL) {
            *nl = '\0';
            parts[k] = nl + 1;
        }
    }
    struct qvd_list_query q = {
        .filter = parts[0],
        .order = parts[1],
        .fields = parts[2],
        .offset = (data[0] & 0x80) ? 1000 : 0,
        .limit = (data[0] & 0x40) ? 1000 : 10,
        .count = (data[1] & 0x01) != 0,
        .tenants = (data[1] & 0x40) ? tenants : NULL,
        .ntenants = (data[1] & 0x80) ? 2 : 0,
        .visible = hidden ? visible : NULL,
        .visible_arg = &hidden,
    };
    struct qvd_filter_list l;
    bool get = (data[0] & 0x20) != 0;

    if (qvd_filter_list_build(r, &q, "group_concat", get ? &id : NULL, &l) == 0) {
        check(&l.page);
        check(&l.count);
        qvd_filter_list_free(&l);
    } else {
        enum qvd_model_errkind k = qvd_model_errkind();
        if ((k != QVD_MODEL_INVALID && k != QVD_MODEL_FORBIDDEN) || *qvd_strerror() == '\0' ||
            l.page.nparams != 0 || l.fields != NULL)
            __builtin_trap();
    }
    free(text);
    return 0;
}
