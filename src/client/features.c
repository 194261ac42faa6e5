/* features.c: which desktop features the server has on (X-QVD-Features of the L7R's 101),
 * and the one sentence for a feature the user asked for that the server has off. QVD's own
 * L7R sends no such header: then every feature is taken as on, as QVD's client does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "log.h"

/* Longer headers are not ours: nothing is taken from them. */
#define FEATURES_MAX 256

static const struct {
    const char *name;
    unsigned bit;
    const char *sentence;
} features[] = {
    {"audio", CLIENT_FEATURE_AUDIO,
     "Sound is turned off on this server (vma.audio.enable); the session goes on without it."},
    {"printing", CLIENT_FEATURE_PRINTING,
     "Printing is turned off on this server (vma.printing.enable); the session goes on without "
     "it."},
    {"slave", CLIENT_FEATURE_SLAVE,
     "Shared folders, tunnels and opening files are turned off on this server "
     "(vma.slave.enable); the session goes on without them."},
};

/* The features whose sentence this run printed (once per run, reconnections included). */
static unsigned told;

static int
feature_index(const char *name)
{
    for (size_t i = 0; i < QVD_ARRAY_LEN(features); i++)
        if (strcmp(features[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* One comma-separated name of [a-z_] (blanks around it allowed) into bits; anything else,
 * an unknown name included (a newer server's feature), adds nothing. */
static unsigned
parse_one(const char *s, size_t n)
{
    char name[32];
    int i;

    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof(name))
        return 0;
    for (size_t k = 0; k < n; k++)
        if (!((s[k] >= 'a' && s[k] <= 'z') || s[k] == '_'))
            return 0;
    memcpy(name, s, n);
    name[n] = '\0';
    i = feature_index(name);
    return i < 0 ? 0 : features[i].bit;
}

unsigned
client_features_parse(const char *header)
{
    unsigned bits = 0;

    if (header == NULL)
        return CLIENT_FEATURES_ALL;
    if (strlen(header) > FEATURES_MAX) {
        log_warn("X-QVD-Features of %zu bytes ignored: taken as no feature on", strlen(header));
        return 0;
    }
    for (const char *p = header;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        bits |= parse_one(p, n);
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return bits;
}

/* A name not in the table is this program's mistake, not the server's. */
static int
known(const char *name)
{
    int i = feature_index(name);

    if (i < 0) {
        fprintf(stderr, "qvd-client: internal error: unknown feature '%s'\n", name);
        abort();
    }
    return i;
}

bool
client_server_has(const struct client_opts *o, const char *name)
{
    return (o->server_features & features[known(name)].bit) != 0;
}

bool
client_feature_use(const struct client_opts *o, const char *name, bool asked)
{
    int i = known(name);

    if (!asked)
        return false;
    if (o->server_features & features[i].bit)
        return true;
    if (!(told & features[i].bit)) {
        told |= features[i].bit;
        fprintf(stderr, "qvd-client: %s\n", features[i].sentence);
    }
    return false;
}
