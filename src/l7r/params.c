/* params.c: the parameters of connect_to_vm: which ones a client may give, and the x_start
 * parameters the L7R makes of them for the VMA (kept apart so that tests/fuzz can drive
 * them without an L7R). */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "err.h"
#include "http.h"
#include "l7r.h"
#include "log.h"
#include "util.h"

bool
l7r_connect_param_allowed(const char *key)
{
    /* as QVD's L7R: the VM, the client's own settings and custom ones; anything else (the
     * parameters the L7R adds itself, qvd.vm.user.name above all) is refused */
    return strcmp(key, "id") == 0 || strncmp(key, "qvd.client.", 11) == 0 ||
           strncmp(key, "custom.", 7) == 0;
}

char **
l7r_x_start_params(const struct qvd_http_msg *m, const char *login, int64_t user_id,
                   const char *slave_key, size_t *n)
{
    char **p = qvd_xcalloc(2 * m->nparams + 7, sizeof(*p));
    char id[24];
    size_t k = 0;

    for (size_t i = 0; i < m->nparams; i++) {
        if (strcmp(m->params[i].key, "id") == 0)
            continue;
        p[k++] = qvd_xstrdup(m->params[i].key);
        p[k++] = qvd_xstrdup(m->params[i].value);
    }
    p[k++] = qvd_xstrdup("qvd.vm.user.name");
    p[k++] = qvd_xstrdup(login);
    /* the VMA derives the session user's uid from it: the same uid in every VM of the user */
    snprintf(id, sizeof(id), "%lld", (long long)user_id);
    p[k++] = qvd_xstrdup("qvd.vm.user.id");
    p[k++] = qvd_xstrdup(id);
    p[k++] = qvd_xstrdup("qvd.slave.key");
    p[k++] = qvd_xstrdup(slave_key);
    *n = k;
    return p;
}

void
l7r_x_start_params_add(char ***p, size_t *n, const char *key, const char *value)
{
    *p = qvd_xrealloc(*p, (*n + 3) * sizeof(**p));
    (*p)[(*n)++] = qvd_xstrdup(key);
    (*p)[(*n)++] = qvd_xstrdup(value);
    (*p)[*n] = NULL;
}

/* The server switches of the desktop features, in X-QVD-Features' names. */
static const struct {
    const char *name, *key;
} features[] = {
    {"audio", "vma.audio.enable"},
    {"printing", "vma.printing.enable"},
    {"slave", "vma.slave.enable"},
};

void
l7r_features_of(struct qvd_config *cfg, char *out, size_t len)
{
    size_t k = 0;

    out[0] = '\0';
    for (size_t i = 0; i < QVD_ARRAY_LEN(features); i++) {
        if (!qvd_config_bool(cfg, features[i].key))
            continue;
        int n = snprintf(out + k, len - k, "%s%s", k > 0 ? "," : "", features[i].name);
        if (n < 0 || (size_t)n >= len - k) { /* never with the table above and out[64] */
            out[k] = '\0';
            return;
        }
        k += (size_t)n;
    }
}

void
l7r_features(struct qvd_config *cfg, struct qvd_db *db, int64_t tenant_id, char *out, size_t len)
{
    /* the tenant's rows over the global ones over the file: the configuration the VM's
     * tenant sees (qvd-admin config get --tenant) */
    struct qvd_config *view = qvd_config_dup(cfg);

    if (qvd_config_load_db(view, db, (long long)tenant_id) < 0)
        log_warn("features of tenant %lld from the file only: %s", (long long)tenant_id,
                 qvd_strerror());
    l7r_features_of(view, out, len);
    qvd_config_free(view);
}
