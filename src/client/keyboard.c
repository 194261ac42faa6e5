/* keyboard.c: the keyboard the session gets when the user names none: the one of the X
 * server the session shows on (its XKB rules names, as QVD's GUI client detects it), else
 * what setxkbmap -query says, else the locale's country, else pc105/us. */
#include <X11/Xatom.h>
#include <X11/Xlib.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "log.h"

#define DEFAULT_KEYBOARD "pc105/us"

/* "MODEL/LAYOUT" from XKB names: the first layout of a list ("us,es"), no variant (the VMA
 * takes letters, digits, '_' and '-' only). NULL if the result is not a valid keyboard. */
static char *
keyboard_from(const char *model, const char *layouts)
{
    if (model == NULL || *model == '\0')
        model = "pc105";
    if (layouts == NULL)
        return NULL;
    size_t n = strcspn(layouts, ",(");
    char *k = qvd_xasprintf("%s/%.*s", model, (int)n, layouts);
    if (n == 0 || client_check_keyboard(k) < 0) {
        free(k);
        return NULL;
    }
    return k;
}

/* The _XKB_RULES_NAMES property of the root window: rules, model, layout, variant, options
 * as NUL-separated strings (set by the X server and by setxkbmap). */
static char *
from_x_server(void)
{
    Display *d = XOpenDisplay(NULL);
    if (d == NULL)
        return NULL;
    char *k = NULL;
    Atom names = XInternAtom(d, "_XKB_RULES_NAMES", True);
    Atom type;
    int format;
    unsigned long n = 0, after;
    unsigned char *data = NULL;
    if (names != None &&
        XGetWindowProperty(d, DefaultRootWindow(d), names, 0, 1024, False, XA_STRING, &type,
                           &format, &n, &after, &data) == Success &&
        type == XA_STRING && format == 8 && data != NULL) {
        char *buf = qvd_xcalloc(1, n + 1); /* NUL-terminated whatever the server sent */
        memcpy(buf, data, n);
        const char *f[3]; /* rules, model, layout */
        size_t at = 0;
        for (int i = 0; i < 3; i++) {
            f[i] = at <= n ? buf + at : "";
            at += strlen(f[i]) + 1;
        }
        k = keyboard_from(f[1], f[2]);
        free(buf);
    }
    if (data != NULL)
        XFree(data);
    XCloseDisplay(d);
    return k;
}

/* The "model:" and "layout:" lines of setxkbmap -query. */
static char *
from_setxkbmap(void)
{
    FILE *p = popen("setxkbmap -query 2>/dev/null", "r");
    if (p == NULL)
        return NULL;
    char line[256], model[128] = "", layout[128] = "";
    while (fgets(line, sizeof(line), p) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "model:", 6) == 0)
            snprintf(model, sizeof(model), "%s", line + 6 + strspn(line + 6, " \t"));
        else if (strncmp(line, "layout:", 7) == 0)
            snprintf(layout, sizeof(layout), "%s", line + 7 + strspn(line + 7, " \t"));
    }
    pclose(p);
    return *layout ? keyboard_from(model, layout) : NULL;
}

/* The country of the locale (es_ES.UTF-8 -> es; en_GB -> gb; en_US -> us), as XKB names
 * most layouts; C and POSIX say nothing. */
static char *
from_locale(void)
{
    const char *vars[] = {"LC_ALL", "LC_CTYPE", "LANG"};
    for (size_t i = 0; i < QVD_ARRAY_LEN(vars); i++) {
        const char *v = getenv(vars[i]);
        if (v == NULL || *v == '\0')
            continue;
        const char *u = strchr(v, '_');
        if (u == NULL || !isalpha((unsigned char)u[1]) || !isalpha((unsigned char)u[2]))
            return NULL;
        char layout[3] = {(char)tolower((unsigned char)u[1]), (char)tolower((unsigned char)u[2]),
                          '\0'};
        return keyboard_from("pc105", layout);
    }
    return NULL;
}

char *
client_keyboard_detect(void)
{
    static const struct {
        const char *how;
        char *(*fn)(void);
    } ways[] = {
        {"the X server's keyboard", from_x_server},
        {"setxkbmap -query", from_setxkbmap},
        {"the locale", from_locale},
    };
    for (size_t i = 0; i < QVD_ARRAY_LEN(ways); i++) {
        char *k = ways[i].fn();
        if (k != NULL) {
            log_debug("keyboard %s (from %s)", k, ways[i].how);
            return k;
        }
    }
    log_debug("keyboard %s (nothing detected)", DEFAULT_KEYBOARD);
    return qvd_xstrdup(DEFAULT_KEYBOARD);
}
