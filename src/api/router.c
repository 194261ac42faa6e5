/* router.c: one request on a worker thread: the body parsed, the path split into
 * /api/v1/RESOURCE[/ID[/ACTION[/KEY]]], authentication, the handler, and the audit record of
 * every change (and every login) whatever its outcome. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "err.h"
#include "log.h"
#include "util.h"

#define MAX_SEGMENTS 6

static bool
parse_id(const char *s, int64_t *id)
{
    long n;

    if (s == NULL || qvd_parse_long(s, &n) < 0 || n < -1)
        return false;
    *id = n;
    return true;
}

/* The request body, arguments for the audit log with secrets removed. */
static void
audit(struct api_ctx *x)
{
    struct qvd_model_audit a = {
        .admin_id = x->authed || x->who.admin_id > 0 ? x->who.admin_id : -1,
        .admin = x->who.name[0] ? x->who.name : x->object_name,
        .tenant_id = x->authed ? x->who.tenant_id : -2,
        .tenant = x->who.tenant,
        .action = x->action,
        .object = x->object,
        .object_id = x->object_id,
        .object_name = x->object_name,
        .status = x->res->status,
        .source = x->req->source && strcasecmp(x->req->source, "cli") == 0 ? "cli" : "api",
        .ip = x->req->peer,
    };
    json_t *args = x->body ? json_deep_copy(x->body) : json_object();
    char *text;

    json_object_del(args, "password");
    text = json_dumps(args, JSON_COMPACT);
    a.arguments = text;
    if (x->res->status >= 400)
        a.message = x->error;
    if (qvd_model_audit(x->db, &a) < 0)
        log_err("audit log: %s", qvd_strerror());
    free(text);
    json_decref(args);
}

static int
route(struct api_ctx *x, char **seg, int nseg)
{
    const char *method = x->req->method;
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    bool patch = strcmp(method, "PATCH") == 0, put = strcmp(method, "PUT") == 0;
    bool del = strcmp(method, "DELETE") == 0;
    int64_t id = -1;

    if (nseg < 3 || strcmp(seg[0], "api") != 0 || strcmp(seg[1], "v1") != 0)
        return api_error(x, 404, "not_found", "no such path: the API lives under /api/v1");
    if (nseg == 3 && strcmp(seg[2], "info") == 0)
        return get ? api_h_info(x)
                   : api_error(x, 405, "method_not_allowed", "%s is not allowed on %s", method,
                               x->req->path);
    if (nseg == 3 && strcmp(seg[2], "login") == 0) {
        if (!post)
            return api_error(x, 405, "method_not_allowed", "log in with POST");
        return api_login(x);
    }
    if (api_auth(x) < 0)
        return -1;
    if (nseg == 3 && strcmp(seg[2], "logout") == 0 && post)
        return api_logout(x);
    if (nseg == 3 && strcmp(seg[2], "events") == 0 && get)
        return api_h_events(x);
    if (nseg == 3 && strcmp(seg[2], "stats") == 0 && get)
        return api_h_stats(x);
    if (nseg == 3 && strcmp(seg[2], "acls") == 0 && get)
        return api_h_acls(x, API_NO_ID);
    if (strcmp(seg[2], "configs") == 0 && nseg == 4 && (put || del))
        return api_h_config(x, seg[3]);
    if (nseg == 3) {
        static const char *const fixed[] = {"logout", "events", "stats", "acls"};
        for (size_t i = 0; i < QVD_ARRAY_LEN(fixed); i++)
            if (strcmp(seg[2], fixed[i]) == 0)
                return api_error(x, 405, "method_not_allowed", "%s is not allowed on %s", method,
                                 x->req->path);
    }
    if (strcmp(seg[2], "configs") == 0 && nseg == 4)
        return api_error(x, 405, "method_not_allowed",
                         "configuration keys are set with PUT and removed with DELETE"
                         " /api/v1/configs/KEY; list them with GET /api/v1/configs?filter=key=KEY");
    if (nseg >= 4 && !parse_id(seg[3], &id))
        return api_error(x, 404, "not_found", "'%s' is not an object id", seg[3]);
    if (nseg == 3) {
        if (get)
            return api_h_list(x, seg[2]);
        if (post)
            return api_h_create(x, seg[2]);
    } else if (nseg == 4) {
        if (get)
            return api_h_get(x, seg[2], id);
        if (patch)
            return api_h_update(x, seg[2], id);
        if (del)
            return api_h_delete(x, seg[2], id);
    } else if (nseg == 5 && strcmp(seg[2], "administrators") == 0 && strcmp(seg[4], "acls") == 0) {
        if (get)
            return api_h_acls(x, id);
    } else if ((nseg == 5 || nseg == 6) && strcmp(seg[4], "properties") == 0) {
        if ((nseg == 5 && get) || (nseg == 6 && (put || del)))
            return api_h_props(x, seg[2], id, nseg == 6 ? seg[5] : NULL);
    } else if (nseg == 5 && post) {
        return api_h_action(x, seg[2], id, seg[4]);
    }
    return api_error(x, 405, "method_not_allowed", "%s is not allowed on %s", method, x->req->path);
}

void
api_handle(struct api_ctx *x)
{
    const struct api_request *r = x->req;
    char *path = qvd_xstrdup(r->path), *seg[MAX_SEGMENTS + 1], *save = NULL;
    int nseg = 0;
    bool change = strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0;

    for (char *s = strtok_r(path, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
        if (nseg == MAX_SEGMENTS) {
            api_error(x, 404, "not_found", "no such path");
            goto out;
        }
        seg[nseg++] = s;
    }
    if (r->body_len > 0) {
        json_error_t e;
        if (r->content_type == NULL || strncasecmp(r->content_type, "application/json", 16) != 0) {
            api_error(x, 415, "bad_json", "send bodies as Content-Type: application/json");
            goto out;
        }
        x->body = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &e);
        if (x->body == NULL) {
            api_error(x, 400, "bad_json", "the body is not valid JSON: %s (line %d, column %d)",
                      e.text, e.line, e.column);
            goto out;
        }
        if (!json_is_object(x->body)) {
            api_error(x, 400, "bad_json", "the body must be a JSON object");
            goto out;
        }
    }
    route(x, seg, nseg);
    if (x->res->status == 0)
        api_error(x, 500, "internal", "no answer");
    if ((change && x->action != NULL) || (change && x->authed && !x->res->stream))
        audit(x);
out:
    log_info("%s %s %s -> %d", r->peer, r->method, r->path, x->res->status);
    json_decref(x->body);
    free(path);
}
