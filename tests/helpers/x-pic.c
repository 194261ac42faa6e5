/* x-pic.c: the picture checks of tests/integration/picture.sh and bench/picture.sh.
 *
 *   x-pic snap [-n NAME] OUT.ppm   writes what the screen of $DISPLAY shows of the window
 *                                  named NAME (the root window without -n) as a PPM
 *   x-pic snap -i ID OUT.ppm       writes the contents of the drawable ID (a pixmap of
 *                                  another client: nxagent's on the client's X server)
 *   x-pic diff [-t TOL] A B        compares two snaps: prints "differ N of M px (P %) in
 *                                  WxH+X+Y", exit 0 when equal, 1 when not, 2 on error;
 *                                  with -t, pixels whose channels differ by at most TOL
 *                                  count as equal (what lossy image encoding changes)
 *   x-pic scene                    an X client of $DISPLAY driven by lines on stdin:
 *     win NAME X Y W H KIND [bs]   a top-level window; KIND is solid:RRGGBB (drawn by the
 *                                  server from the background), photo (a pattern put with
 *                                  XPutImage on each Expose, no background, as image
 *                                  viewers do) or text (lines drawn on each Expose);
 *                                  bs asks for backing store (WhenMapped)
 *     raise NAME | lower NAME      restacks one of its windows, or any top-level window
 *     move NAME X Y                of $DISPLAY whose WM_NAME or WM_CLASS instance is NAME
 *     unmap NAME | map NAME
 *     sync                         prints "ok" once the X server has done all before
 *     wait NAME                    prints "ok" once a window named NAME exists (60 s at
 *                                  most; "missing" then)
 *   It keeps answering Expose events until stdin ends.
 *
 * snap reads the window's pixels from the root window (what the screen shows), over one
 * X connection per call, after the session is up (see x-colour.c on clients that connect
 * while nxproxy is opening its display). */
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_WINS 32
#define MAX_SIDE 8192

static int
ignore_errors(Display *d, XErrorEvent *e)
{
    (void)d;
    (void)e;
    return 0; /* a window that vanishes between two calls is not fatal */
}

/* Depth-first search for a window whose WM_NAME or WM_CLASS instance is name (an xterm's
 * shell may retitle it; its -name stays). */
static Window
find_named(Display *d, Window w, const char *name)
{
    char *wm = NULL;
    XClassHint ch = {0};
    bool match = false;
    if (XFetchName(d, w, &wm) && wm != NULL) {
        match = strcmp(wm, name) == 0;
        XFree(wm);
    }
    if (!match && XGetClassHint(d, w, &ch)) {
        match = ch.res_name && strcmp(ch.res_name, name) == 0;
        XFree(ch.res_name);
        XFree(ch.res_class);
    }
    if (match)
        return w;
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

/* The channel of pixel px selected by mask, scaled to 0..255. */
static unsigned
channel(unsigned long px, unsigned long mask)
{
    if (mask == 0)
        return 0;
    int shift = 0;
    while (!(mask & 1)) {
        mask >>= 1;
        shift++;
    }
    return (unsigned)(((px >> shift) & mask) * 255 / mask);
}

/* Writes img (w x h) to out as a PPM. */
static int
write_ppm(XImage *img, int w, int h, const char *out)
{
    FILE *f = fopen(out, "wb");
    if (f == NULL) {
        fprintf(stderr, "x-pic: %s: %s\n", out, strerror(errno));
        return 2;
    }
    fprintf(f, "P6\n%d %d\n255\n", w, h);
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            unsigned long px = XGetPixel(img, i, j);
            fputc((int)channel(px, img->red_mask), f);
            fputc((int)channel(px, img->green_mask), f);
            fputc((int)channel(px, img->blue_mask), f);
        }
    return fclose(f) == 0 ? 0 : 2;
}

/* Writes the contents of the drawable id (a pixmap of another client, say) to out. */
static int
snap_id(const char *id, const char *out)
{
    Display *d = XOpenDisplay(NULL);
    if (d == NULL)
        return 2;
    XSetErrorHandler(ignore_errors);
    Window root;
    int x, y;
    unsigned w, h, bw, depth;
    Drawable dr = (Drawable)strtoul(id, NULL, 0);
    if (!XGetGeometry(d, dr, &root, &x, &y, &w, &h, &bw, &depth))
        return 2;
    XImage *img = XGetImage(d, dr, 0, 0, w, h, AllPlanes, ZPixmap);
    if (img == NULL)
        return 2;
    int rc = write_ppm(img, (int)w, (int)h, out);
    XDestroyImage(img);
    XCloseDisplay(d);
    return rc;
}

static int
snap(const char *name, const char *out)
{
    Display *d = XOpenDisplay(NULL);
    if (d == NULL) {
        fprintf(stderr, "x-pic: cannot open display %s\n", XDisplayName(NULL));
        return 2;
    }
    XSetErrorHandler(ignore_errors);
    Window root = DefaultRootWindow(d), w = name ? find_named(d, root, name) : root, child;
    XWindowAttributes a;
    int x = 0, y = 0;
    if (w == None || !XGetWindowAttributes(d, w, &a) || a.map_state != IsViewable ||
        !XTranslateCoordinates(d, w, root, 0, 0, &x, &y, &child)) {
        fprintf(stderr, "x-pic: no viewable window named '%s'\n", name ? name : "root");
        return 2;
    }
    XImage *img =
        XGetImage(d, root, x, y, (unsigned)a.width, (unsigned)a.height, AllPlanes, ZPixmap);
    if (img == NULL) {
        fprintf(stderr, "x-pic: cannot read the window's pixels\n");
        return 2;
    }
    int rc = write_ppm(img, a.width, a.height, out);
    XDestroyImage(img);
    XCloseDisplay(d);
    return rc;
}

struct ppm {
    int w, h;
    unsigned char *px;
};

/* Reads a P6 PPM as snap writes it (maxval 255, no comments), at most MAX_SIDE a side. */
static int
ppm_read(const char *path, struct ppm *p)
{
    FILE *f = fopen(path, "rb");
    int max = 0;
    if (f == NULL || fscanf(f, "P6 %d %d %d", &p->w, &p->h, &max) != 3 || max != 255 ||
        fgetc(f) == EOF || p->w <= 0 || p->h <= 0 || p->w > MAX_SIDE || p->h > MAX_SIDE) {
        fprintf(stderr, "x-pic: %s is not a picture of x-pic snap\n", path);
        if (f)
            fclose(f);
        return -1;
    }
    size_t n = (size_t)p->w * (size_t)p->h * 3;
    p->px = malloc(n);
    int rc = p->px && fread(p->px, 1, n, f) == n ? 0 : -1;
    fclose(f);
    if (rc < 0)
        fprintf(stderr, "x-pic: %s is cut short\n", path);
    return rc;
}

/* Whether two RGB pixels differ by more than tol in a channel. */
static bool
px_differ(const unsigned char *a, const unsigned char *b, int tol)
{
    for (int c = 0; c < 3; c++)
        if (abs((int)a[c] - (int)b[c]) > tol)
            return true;
    return false;
}

static int
diff(const char *pa, const char *pb, int tol)
{
    struct ppm a = {0}, b = {0};
    if (ppm_read(pa, &a) < 0 || ppm_read(pb, &b) < 0)
        return 2;
    if (a.w != b.w || a.h != b.h) {
        printf("sizes differ: %dx%d and %dx%d\n", a.w, a.h, b.w, b.h);
        return 1;
    }
    long n = 0;
    int x1 = a.w, y1 = a.h, x2 = -1, y2 = -1;
    for (int j = 0; j < a.h; j++)
        for (int i = 0; i < a.w; i++) {
            size_t o = ((size_t)j * (size_t)a.w + (size_t)i) * 3;
            if (!px_differ(a.px + o, b.px + o, tol))
                continue;
            n++;
            x1 = i < x1 ? i : x1, x2 = i > x2 ? i : x2;
            y1 = j < y1 ? j : y1, y2 = j > y2 ? j : y2;
        }
    long all = (long)a.w * a.h;
    if (n == 0)
        printf("differ 0 of %ld px (0.00 %%)\n", all);
    else
        printf("differ %ld of %ld px (%.2f %%) in %dx%d+%d+%d\n", n, all, 100.0 * n / all,
               x2 - x1 + 1, y2 - y1 + 1, x1, y1);
    free(a.px);
    free(b.px);
    return n == 0 ? 0 : 1;
}

/* --- scene */

struct win {
    char name[64];
    Window w;
    int kind; /* 0 solid, 1 photo, 2 text */
    int width, height;
    XImage *img;
};

static struct win wins[MAX_WINS];
static int nwins;

/* A pattern with many colours, as a photo has: smooth gradients, kept away from black and
 * white, so that lossy encoding changes each pixel only a little and a window left on
 * the screen in its place (black, white, solid) differs by much more. */
static XImage *
photo_image(Display *d, int w, int h)
{
    int scr = DefaultScreen(d);
    XImage *img = XCreateImage(d, DefaultVisual(d, scr), (unsigned)DefaultDepth(d, scr), ZPixmap, 0,
                               NULL, (unsigned)w, (unsigned)h, 32, 0);
    if (img == NULL)
        return NULL;
    img->data = malloc((size_t)img->bytes_per_line * (size_t)h);
    if (img->data == NULL)
        return NULL;
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
            unsigned r = 60 + (unsigned)(i * 140 / w), g = 60 + (unsigned)(j * 140 / h);
            unsigned b = 200 - (unsigned)((i + j) * 140 / (w + h));
            XPutPixel(img, i, j, (r << 16) | (g << 8) | b);
        }
    return img;
}

static struct win *
win_by_name(const char *name)
{
    for (int i = 0; i < nwins; i++)
        if (strcmp(wins[i].name, name) == 0)
            return &wins[i];
    return NULL;
}

static void
draw(Display *d, struct win *w, XExposeEvent *e)
{
    GC gc = DefaultGC(d, DefaultScreen(d));
    if (w->kind == 1 && w->img)
        XPutImage(d, w->w, gc, w->img, e->x, e->y, e->x, e->y, (unsigned)e->width,
                  (unsigned)e->height);
    if (w->kind == 2 && e->count == 0)
        for (int y = 16; y < w->height; y += 16)
            XDrawString(d, w->w, gc, 4, y, "The picture is right: line of text", 34);
}

static int
scene_win(Display *d, const char *name, int x, int y, int w, int h, const char *kind,
          const char *bs)
{
    if (nwins == MAX_WINS || w <= 0 || h <= 0 || w > MAX_SIDE || h > MAX_SIDE)
        return -1;
    struct win *v = &wins[nwins];
    int scr = DefaultScreen(d);
    XSetWindowAttributes at = {.event_mask = ExposureMask,
                               .backing_store =
                                   bs && strcmp(bs, "bs") == 0 ? WhenMapped : NotUseful};
    unsigned long mask = CWEventMask | CWBackingStore;
    if (strncmp(kind, "solid:", 6) == 0) {
        at.background_pixel = strtoul(kind + 6, NULL, 16);
        mask |= CWBackPixel;
        v->kind = 0;
    } else if (strcmp(kind, "photo") == 0) {
        at.background_pixmap = None;
        mask |= CWBackPixmap;
        v->kind = 1;
        v->img = photo_image(d, w, h);
    } else if (strcmp(kind, "text") == 0) {
        at.background_pixel = WhitePixel(d, scr);
        mask |= CWBackPixel;
        v->kind = 2;
    } else {
        return -1;
    }
    v->w = XCreateWindow(d, RootWindow(d, scr), x, y, (unsigned)w, (unsigned)h, 0, CopyFromParent,
                         InputOutput, CopyFromParent, mask, &at);
    snprintf(v->name, sizeof(v->name), "%s", name);
    v->width = w, v->height = h;
    XStoreName(d, v->w, name);
    XMapWindow(d, v->w);
    nwins++;
    return 0;
}

/* One command line; -1 when it is not understood. */
static int
scene_line(Display *d, char *line)
{
    char cmd[16], name[64], kind[32], bs[8] = "";
    int x, y, w, h;
    if (sscanf(line, "%15s", cmd) != 1)
        return 0;
    if (strcmp(cmd, "sync") == 0) {
        XSync(d, False);
        printf("ok\n");
        fflush(stdout);
        return 0;
    }
    if (strcmp(cmd, "win") == 0) {
        if (sscanf(line, "win %63s %d %d %d %d %31s %7s", name, &x, &y, &w, &h, kind, bs) < 6)
            return -1;
        return scene_win(d, name, x, y, w, h, kind, bs);
    }
    if (sscanf(line, "%15s %63s", cmd, name) != 2)
        return -1;
    if (strcmp(cmd, "wait") == 0) { /* another client's window: up to 60 s */
        for (int i = 0; i < 600 && find_named(d, DefaultRootWindow(d), name) == None; i++)
            usleep(100000);
        printf("%s\n", find_named(d, DefaultRootWindow(d), name) != None ? "ok" : "missing");
        fflush(stdout);
        return 0;
    }
    struct win *v = win_by_name(name);
    Window t = v ? v->w : find_named(d, DefaultRootWindow(d), name);
    if (t == None)
        return -1;
    if (strcmp(cmd, "raise") == 0)
        XRaiseWindow(d, t);
    else if (strcmp(cmd, "lower") == 0)
        XLowerWindow(d, t);
    else if (strcmp(cmd, "unmap") == 0)
        XUnmapWindow(d, t);
    else if (strcmp(cmd, "map") == 0)
        XMapWindow(d, t);
    else if (strcmp(cmd, "move") == 0 && sscanf(line, "move %*s %d %d", &x, &y) == 2)
        XMoveWindow(d, t, x, y);
    else
        return -1;
    XFlush(d);
    return 0;
}

static void
scene_events(Display *d)
{
    while (XPending(d)) {
        XEvent e;
        XNextEvent(d, &e);
        if (e.type != Expose)
            continue;
        for (int i = 0; i < nwins; i++)
            if (wins[i].w == e.xexpose.window)
                draw(d, &wins[i], &e.xexpose);
    }
    XFlush(d);
}

static int
scene(void)
{
    Display *d = XOpenDisplay(NULL);
    if (d == NULL) {
        fprintf(stderr, "x-pic: cannot open display %s\n", XDisplayName(NULL));
        return 2;
    }
    XSetErrorHandler(ignore_errors);
    char line[256];
    size_t len = 0;
    for (;;) {
        scene_events(d);
        struct pollfd p[2] = {{.fd = 0, .events = POLLIN},
                              {.fd = ConnectionNumber(d), .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return 2;
        if (p[1].revents & (POLLHUP | POLLERR))
            return 1;
        if (!(p[0].revents & (POLLIN | POLLHUP)))
            continue;
        ssize_t n = read(0, line + len, sizeof(line) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        line[len] = '\0';
        char *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            if (scene_line(d, line) < 0)
                fprintf(stderr, "x-pic: cannot do: %s\n", line);
            len -= (size_t)(nl + 1 - line);
            memmove(line, nl + 1, len + 1);
        }
        if (len == sizeof(line) - 1)
            len = 0; /* a line without end: dropped */
    }
    XCloseDisplay(d);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "snap") == 0) {
        if (argc == 5 && strcmp(argv[2], "-n") == 0)
            return snap(argv[3], argv[4]);
        if (argc == 5 && strcmp(argv[2], "-i") == 0)
            return snap_id(argv[3], argv[4]);
        if (argc == 3)
            return snap(NULL, argv[2]);
    } else if (argc == 4 && strcmp(argv[1], "diff") == 0) {
        return diff(argv[2], argv[3], 0);
    } else if (argc == 6 && strcmp(argv[1], "diff") == 0 && strcmp(argv[2], "-t") == 0) {
        return diff(argv[4], argv[5], atoi(argv[3]));
    } else if (argc == 2 && strcmp(argv[1], "scene") == 0) {
        return scene();
    }
    fprintf(stderr, "usage: x-pic snap [-n NAME] OUT.ppm | diff [-t TOL] A.ppm B.ppm | scene\n");
    return 2;
}
