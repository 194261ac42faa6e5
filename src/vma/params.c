/* params.c: what x_start may be given. Every value comes from the L7R, which passes on what
 * a client sent: each is checked here before any of it reaches nxagent's options, a hook or
 * the user's account, and a bad one refuses the request for good (waiting cannot mend it). */
#include <stdbool.h>
#include <string.h>

#include "err.h"
#include "util.h"
#include "vma.h"

#define GEOMETRY_MIN 64
#define GEOMETRY_MAX 16384
#define KEYBOARD_MAX 64

/* ^[\w/\-+.:]*$ for values, as QVD's check, plus '.' and ':'. Keys: [\w.\-]+. */
static bool
chars_ok(const char *s, const char *extra, bool empty_ok)
{
    if (!*s)
        return empty_ok;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || strchr(extra, *s)))
            return false;
    return true;
}

/* Up to 5 digits at *s (advanced), within GEOMETRY_MIN..GEOMETRY_MAX. */
static bool
dimension(const char **s)
{
    long v = 0;
    int n = 0;
    while (**s >= '0' && **s <= '9' && n < 6) {
        v = v * 10 + (**s - '0');
        (*s)++;
        n++;
    }
    return n > 0 && n <= 5 && v >= GEOMETRY_MIN && v <= GEOMETRY_MAX;
}

/* WIDTHxHEIGHT: nxagent would take +X+Y and more too, and a huge size costs the VM memory. */
static bool
geometry_ok(const char *v)
{
    return dimension(&v) && *v++ == 'x' && dimension(&v) && *v == '\0';
}

/* 0 or 1: qvd.client.fullscreen and the switches of the sound */
static bool
fullscreen_ok(const char *v)
{
    return strcmp(v, "0") == 0 || strcmp(v, "1") == 0;
}

/* MODEL/LAYOUT as XKB names them (pc105/es, macintosh/de, pc105/latam): no ',' (nxagent's
 * option separator), nothing but letters, digits and _-. */
static bool
keyboard_ok(const char *v)
{
    const char *slash = strchr(v, '/');
    if (slash == NULL || slash == v || strlen(v) > KEYBOARD_MAX)
        return false;
    char model[KEYBOARD_MAX + 1];
    memcpy(model, v, (size_t)(slash - v));
    model[slash - v] = '\0';
    return chars_ok(model, "-.", false) && chars_ok(slash + 1, "-", false);
}

static bool
link_ok(const char *v)
{
    static const char *const links[] = {"modem", "isdn", "adsl", "wan", "lan", "local"};
    for (size_t i = 0; i < QVD_ARRAY_LEN(links); i++)
        if (strcmp(v, links[i]) == 0)
            return true;
    return false;
}

static bool
os_ok(const char *v)
{
    return strlen(v) <= 16 && chars_ok(v, "", false);
}

int
vma_check_params(const struct qvd_http_param *params, size_t n)
{
    static const struct {
        const char *key;
        bool (*ok)(const char *);
        const char *want;
    } checks[] = {
        {"qvd.client.geometry", geometry_ok, "WIDTHxHEIGHT, each from 64 to 16384"},
        {"qvd.client.fullscreen", fullscreen_ok, "0 or 1"},
        {"qvd.client.keyboard", keyboard_ok, "MODEL/LAYOUT like pc105/es"},
        {"qvd.client.link", link_ok, "modem, isdn, adsl, wan, lan or local"},
        {"qvd.client.os", os_ok, "a word like linux"},
        {"qvd.client.audio.enable", fullscreen_ok, "0 or 1"},
        {"qvd.client.audio.compression.enable", fullscreen_ok, "0 or 1"},
        {"qvd.client.microphone.enable", fullscreen_ok, "0 or 1"},
        {"qvd.app.command", app_command_ok,
         "an absolute path and arguments separated by spaces, of letters, digits and "
         "_/-+.:=,@%"},
    };
    for (size_t i = 0; i < n; i++) {
        const char *k = params[i].key, *v = params[i].value;
        if (!chars_ok(k, ".-", false) || strlen(k) > 128)
            return qvd_seterr("invalid parameter name %.64s", k);
        /* the application's command line has its own, wider, rule (app.c) */
        if (strcmp(k, "qvd.app.command") != 0 && !chars_ok(v, "/-+.:", true))
            return qvd_seterr("invalid value for parameter %.64s", k);
        for (size_t j = 0; j < QVD_ARRAY_LEN(checks); j++)
            if (strcmp(k, checks[j].key) == 0 && *v && !checks[j].ok(v))
                return qvd_seterr("invalid value for parameter %s (\"%.64s\"; give %s)", k, v,
                                  checks[j].want);
    }
    return 0;
}
