/* describe: the description of every object (src/lib/resource.c) as one JSON document on
 * stdout: its fields, their types, limits, who may write them, and the verbs it has. The
 * OpenAPI check and the invalid-values test read the description through it. */
#include <stdio.h>

#include <jansson.h>

#include "resource.h"

int
main(void)
{
    json_t *doc = qvd_resource_describe();

    if (doc == NULL || json_dumpf(doc, stdout, JSON_INDENT(1) | JSON_SORT_KEYS) < 0)
        return 1;
    putchar('\n');
    json_decref(doc);
    return 0;
}
