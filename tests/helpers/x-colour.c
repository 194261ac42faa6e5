/* x-colour.c: waits until the centre of the window named NAME on $DISPLAY (or the point
 * X,Y of it with -p X,Y, from its top-left corner) has the colour RRGGBB (exit 0), or the
 * time runs out (exit 1, the last colour seen on stderr). With -e it
 * prints, on success, the wall-clock time it saw the colour (epoch microseconds) and the
 * number of polls (bench/session.sh times the first frame with it); -i sets the poll
 * interval in milliseconds (100).
 *
 * It polls over one X connection. Polling with a new client each time (xwininfo, xwd)
 * is not harmless: the X server (xorg-server 21.1) closes a connection that has not sent
 * its set-up yet whenever another client connects, and nxproxy opens its connection to
 * the X server a few milliseconds before the set-up bytes arrive from nxagent, so the
 * session being tested would fail to open its display. */
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
ignore_errors(Display *d, XErrorEvent *e)
{
    (void)d;
    (void)e;
    return 0; /* a window that vanishes between two calls is not fatal */
}

/* Depth-first search for a window whose WM_NAME is name. */
static Window
find_named(Display *d, Window w, const char *name)
{
    char *wm = NULL;
    if (XFetchName(d, w, &wm) && wm != NULL) {
        bool match = strcmp(wm, name) == 0;
        XFree(wm);
        if (match)
            return w;
    }
    Window root, parent, *kids = NULL;
    unsigned n = 0;
    if (!XQueryTree(d, w, &root, &parent, &kids, &n))
        return None;
    Window found = None;
    for (unsigned i = 0; i < n && found == None; i++)
        found = find_named(d, kids[i], name);
    if (kids)
        XFree(kids);
    return found;
}

/* The colour at px,py of w (its centre when px < 0) as 0xRRGGBB, read from the root window
 * (what is on the screen); -1 if w is not viewable or the point is outside it. */
static long
point_colour(Display *d, Window w, int px, int py)
{
    XWindowAttributes a;
    if (!XGetWindowAttributes(d, w, &a) || a.map_state != IsViewable)
        return -1;
    if (px < 0) {
        px = a.width / 2;
        py = a.height / 2;
    }
    if (px >= a.width || py >= a.height)
        return -1;
    Window root = DefaultRootWindow(d), child;
    int x, y;
    if (!XTranslateCoordinates(d, w, root, px, py, &x, &y, &child))
        return -1;
    XImage *img = XGetImage(d, root, x, y, 1, 1, AllPlanes, ZPixmap);
    if (img == NULL)
        return -1;
    unsigned long pixel = XGetPixel(img, 0, 0);
    XDestroyImage(img);
    XColor c = {.pixel = pixel};
    XQueryColor(d, DefaultColormap(d, DefaultScreen(d)), &c);
    return (long)(((c.red >> 8) << 16) | ((c.green >> 8) << 8) | (c.blue >> 8));
}

int
main(int argc, char **argv)
{
    const char *name = "QVD";
    double timeout = 30;
    long interval_ms = 100, polls = 0;
    bool epoch = false;
    int opt, px = -1, py = -1;
    while ((opt = getopt(argc, argv, "n:t:i:ep:")) != -1) {
        if (opt == 'n')
            name = optarg;
        else if (opt == 'p') {
            if (sscanf(optarg, "%d,%d", &px, &py) != 2 || px < 0 || py < 0)
                goto usage;
        } else if (opt == 't')
            timeout = atof(optarg);
        else if (opt == 'i')
            interval_ms = atol(optarg);
        else if (opt == 'e')
            epoch = true;
        else
            goto usage;
    }
    if (optind != argc - 1)
        goto usage;
    char *end;
    long want = strtol(argv[optind], &end, 16);
    if (*end != '\0' || strlen(argv[optind]) != 6)
        goto usage;
    /* an X server that is resetting (its last client just left) refuses a connection for
     * a moment: the display is tried again until the deadline, as a user's session would be */
    double deadline = now_s() + timeout;
    Display *d;
    while ((d = XOpenDisplay(NULL)) == NULL && now_s() < deadline)
        usleep(100000);
    if (d == NULL) {
        fprintf(stderr, "x-colour: cannot open display %s\n", XDisplayName(NULL));
        return 2;
    }
    XSetErrorHandler(ignore_errors);
    long seen = -1;
    for (;;) {
        polls++;
        Window w = find_named(d, DefaultRootWindow(d), name);
        if (w != None) {
            seen = point_colour(d, w, px, py);
            if (seen == want) {
                if (epoch) {
                    struct timeval tv;
                    gettimeofday(&tv, NULL);
                    printf("%lld %ld\n", (long long)tv.tv_sec * 1000000 + tv.tv_usec, polls);
                }
                XCloseDisplay(d);
                return 0;
            }
        }
        if (now_s() >= deadline)
            break;
        usleep((useconds_t)(interval_ms * 1000));
    }
    if (seen < 0)
        fprintf(stderr, "x-colour: no viewable window named '%s'\n", name);
    else
        fprintf(stderr, "x-colour: the %s of '%s' is #%06lx, not #%06lx\n",
                px < 0 ? "centre" : "point", name, seen, want);
    XCloseDisplay(d);
    return 1;
usage:
    fprintf(stderr, "usage: x-colour [-n WINDOW-NAME] [-p X,Y] [-t SECONDS] [-i MS] [-e] RRGGBB\n");
    return 2;
}
