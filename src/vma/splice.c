/* splice.c: the NX relay once the upgrade is done: bytes move between the client's socket
 * and nxagent's with splice(2) through a pipe per direction, so they never enter the VMA's
 * memory. A direction stops reading while its pipe holds bytes the other socket cannot
 * take, and resumes once they went: memory stays bounded (one pipe) whichever side is slow.
 * When either side closes, what its pipe still holds is passed on, then both close. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"
#include "util.h"
#include "vma.h"

#define PIPE_SIZE (1024 * 1024)
#define CHUNK (1024 * 1024)

struct srelay;

struct direction {
    struct srelay *r;
    int from, to;
    int pipe[2];
    size_t queued; /* bytes in the pipe */
    bool eof;
    struct event *rd, *wr;
};

struct srelay {
    int fd[2];
    struct direction d[2];
    struct srelay *prev, *next;
};

static struct srelay *srelays;

static void
srelay_free(struct srelay *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        srelays = r->next;
    if (r->next)
        r->next->prev = r->prev;
    for (int i = 0; i < 2; i++) {
        struct direction *d = &r->d[i];
        if (d->rd)
            event_free(d->rd);
        if (d->wr)
            event_free(d->wr);
        if (d->pipe[0] >= 0)
            close(d->pipe[0]);
        if (d->pipe[1] >= 0)
            close(d->pipe[1]);
        close(r->fd[i]);
    }
    free(r);
}

/* Moves what the pipe holds to `to`; -1 when the relay must end. */
static int
flush(struct direction *d)
{
    while (d->queued > 0) {
        ssize_t n =
            splice(d->pipe[0], NULL, d->to, NULL, d->queued, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (n > 0) {
            d->queued -= (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        return -1;
    }
    return 0;
}

/* After a flush: wait for `to` when bytes are left, else read again (or end at EOF). */
static void
rearm(struct direction *d)
{
    if (d->queued > 0) {
        event_del(d->rd);
        event_add(d->wr, NULL);
        return;
    }
    event_del(d->wr);
    if (d->eof) {
        log_debug("relay: a side closed");
        srelay_free(d->r);
        return;
    }
    event_add(d->rd, NULL);
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
    struct direction *d = arg;
    ssize_t n = splice(d->from, NULL, d->pipe[1], NULL, CHUNK, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);

    if (n > 0)
        d->queued += (size_t)n;
    else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        d->eof = true; /* closed, or an error: pass on what is queued, then end */
    if (flush(d) < 0) {
        srelay_free(d->r);
        return;
    }
    rearm(d);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
    struct direction *d = arg;

    if (flush(d) < 0) {
        srelay_free(d->r);
        return;
    }
    rearm(d);
}

/* Writes all of buf to a non-blocking socket, waiting at most a second in all. */
static int
write_now(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    int64_t deadline = qvd_mono_ms() + 1000;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            if (qvd_wait_fd(fd, POLLOUT, deadline) < 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* What the bufferevents still hold: each side's unsent output to its socket, each side's
 * unread input to the peer's socket. */
static int
hand_over(struct bufferevent *bev[2], int fd[2])
{
    for (int i = 0; i < 2; i++) {
        struct evbuffer *out = bufferevent_get_output(bev[i]);
        size_t len = evbuffer_get_length(out);
        if (len > 0 && write_now(fd[i], evbuffer_pullup(out, -1), len) < 0)
            return -1;
        evbuffer_drain(out, len);
    }
    for (int i = 0; i < 2; i++) {
        struct evbuffer *in = bufferevent_get_input(bev[i]);
        size_t len = evbuffer_get_length(in);
        if (len > 0 && write_now(fd[1 - i], evbuffer_pullup(in, -1), len) < 0)
            return -1;
        evbuffer_drain(in, len);
    }
    return 0;
}

static void
undo(struct srelay *r)
{
    for (int i = 0; i < 2; i++) {
        if (r->fd[i] >= 0)
            close(r->fd[i]);
        for (int k = 0; k < 2; k++)
            if (r->d[i].pipe[k] >= 0)
                close(r->d[i].pipe[k]);
    }
    free(r);
}

int
splice_relay_start(struct event_base *base, struct bufferevent *a, struct bufferevent *b)
{
    struct bufferevent *bev[2] = {a, b};
    struct srelay *r = qvd_xcalloc(1, sizeof(*r));
    int fd[2];

    for (int i = 0; i < 2; i++) {
        fd[i] = bufferevent_getfd(bev[i]);
        r->d[i].pipe[0] = r->d[i].pipe[1] = -1;
        r->fd[i] = -1;
    }
    for (int i = 0; i < 2; i++) {
        /* the sockets outlive their bufferevents */
        if ((r->fd[i] = dup(fd[i])) < 0 || pipe2(r->d[i].pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
            log_warn("relay: %s: copying through the VMA instead", strerror(errno));
            undo(r);
            return -1;
        }
        fcntl(r->d[i].pipe[1], F_SETPIPE_SZ, PIPE_SIZE); /* best effort: 64 KiB otherwise */
    }
    if (hand_over(bev, fd) < 0) {
        /* a side is gone or stuck: part may have been written, so the relay ends here */
        log_info("relay: a side is gone before the relay started");
        undo(r);
        bufferevent_free(a);
        bufferevent_free(b);
        return 0;
    }
    bufferevent_free(a);
    bufferevent_free(b);
    for (int i = 0; i < 2; i++) {
        struct direction *d = &r->d[i];
        d->r = r;
        d->from = r->fd[i];
        d->to = r->fd[1 - i];
        d->rd = event_new(base, d->from, EV_READ | EV_PERSIST, on_read, d);
        d->wr = event_new(base, d->to, EV_WRITE | EV_PERSIST, on_write, d);
        event_add(d->rd, NULL);
    }
    r->next = srelays;
    if (srelays)
        srelays->prev = r;
    srelays = r;
    log_debug("relay: with splice(2)");
    return 0;
}

int
splice_relay_drop_all(void)
{
    int n = 0;

    while (srelays != NULL) {
        srelay_free(srelays);
        n++;
    }
    return n;
}
