/* fuzz_api_body.c: libFuzzer target for the strict JSON bodies of qvd-api: the input is a
 * request body, loaded as the router does and checked by api_body against one of a few
 * member lists (the first byte picks it). A body it accepts holds only known members of
 * the right types with the required ones present; a body it refuses gets a 400 whose JSON
 * answer says which rule failed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Shaped like the handlers' lists: a create, an update (nothing required), an action. */
static const struct api_member create[] = {{"name", API_STR, true},
                                           {"password", API_STR, true},
                                           {"tenant_id", API_INT, false},
                                           {"blocked", API_BOOL, false},
                                           {0}};
static const struct api_member update[] = {{"name", API_STR, false},
                                           {"osf_id", API_INT, false},
                                           {"blocked", API_BOOL, false},
                                           {"description", API_STR, false},
                                           {0}};
static const struct api_member none[] = {{0}};
static const struct api_member *const lists[] = {create, update, none};

static const struct api_member *
member(const struct api_member *m, const char *name)
{
    for (; m->name; m++)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

/* What a handler reads after api_body accepted the body. */
static void
check_accepted(struct api_ctx *x, const struct api_member *m)
{
    const char *key;
    json_t *v;
    int64_t i;

    if (x->res->status != 0)
        __builtin_trap();
    json_object_foreach(x->body, key, v)
    {
        const struct api_member *f = member(m, key);
        if (f == NULL)
            __builtin_trap();
        if (f->type == API_STR &&
            (api_str(x, key) == NULL || strlen(api_str(x, key)) != json_string_length(v)))
            __builtin_trap();
        if (f->type == API_INT && !api_int(x, key, &i))
            __builtin_trap();
        if (f->type == API_BOOL && api_bool(x, key) != 0 && api_bool(x, key) != 1)
            __builtin_trap();
    }
    for (; m->name; m++)
        if (m->required && json_object_get(x->body, m->name) == NULL)
            __builtin_trap();
}

/* The refusal: 400 and {"error": {"code": one of the body codes, "message": "..."}}. */
static void
check_refused(struct api_ctx *x)
{
    json_t *answer, *code, *msg;

    if (x->res->status != 400 || x->res->body == NULL || x->error[0] == '\0')
        __builtin_trap();
    answer = json_loads(x->res->body, 0, NULL);
    code = json_object_get(json_object_get(answer, "error"), "code");
    msg = json_object_get(json_object_get(answer, "error"), "message");
    if (!json_is_string(code) || !json_is_string(msg) || json_string_length(msg) == 0 ||
        (strcmp(json_string_value(code), "unknown_field") != 0 &&
         strcmp(json_string_value(code), "wrong_type") != 0 &&
         strcmp(json_string_value(code), "missing_field") != 0))
        __builtin_trap();
    json_decref(answer);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct api_response res = {0};
    struct api_ctx x = {.res = &res};
    const struct api_member *m;

    if (size < 1)
        return 0;
    m = lists[data[0] % (sizeof(lists) / sizeof(lists[0]))];
    x.body = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
    if (x.body != NULL && json_is_object(x.body)) { /* the router refuses anything else */
        if (api_body(&x, m) == 0)
            check_accepted(&x, m);
        else
            check_refused(&x);
    }
    json_decref(x.body);
    free(res.body);
    return 0;
}
