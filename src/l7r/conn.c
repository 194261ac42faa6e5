/* conn.c: one client connection: accepted, then its requests read by libqvd's HTTP
 * connection core (hconn.c); here: what the connection holds, answers and errors. */
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "err.h"
#include "http.h"
#include "l7r.h"
#include "log.h"
#include "util.h"

static void
conn_free(struct l7r_conn *c)
{
    struct l7r *l = c->l7r;

    TAILQ_REMOVE(&l->conns, c, entry);
    l->nconns--;
    if (c->job)
        c->job->conn = NULL; /* the job only cleans up when it comes back */
    if (c->sess)
        l7r_session_free(c->sess);
    c->sess = NULL;
    l7r_relay_free(c);
    if (c->wait_ev)
        event_free(c->wait_ev);
    qvd_hconn_release(&c->h);
    qvd_wipe(c->auth_hash, sizeof(c->auth_hash));
    free(c);
}

void
l7r_conn_close(struct l7r_conn *c, const char *why)
{
    log_debug("connection %llu from %s closed: %s", (unsigned long long)c->h.id, c->h.peer, why);
    conn_free(c);
}

void
l7r_conn_close_all(struct l7r *l)
{
    while (!TAILQ_EMPTY(&l->conns))
        l7r_conn_close(TAILQ_FIRST(&l->conns), "shutting down");
}

static struct l7r_conn *
conn_of(struct qvd_hconn *h)
{
    return QVD_CONTAINER_OF(h, struct l7r_conn, h);
}

/* A complete request head: check the version, then hand it to the endpoints. */
static void
conn_request(struct qvd_hconn *h, const struct qvd_http_msg *m)
{
    struct l7r_conn *c = conn_of(h);

    l7r_counter(c->l7r, "http_requests");
    log_info("%s %s %s", h->peer, m->method, m->path);
    if (m->http_major != 1 || m->http_minor != 1) {
        l7r_conn_error(c, 505, NULL, "Only HTTP/1.1 is supported");
        return;
    }
    l7r_api_dispatch(c, m);
}

static void
conn_bad_request(struct qvd_hconn *h, int status, const char *msg)
{
    l7r_conn_error(conn_of(h), status, NULL, "%s", msg);
}

static void
conn_closed(struct qvd_hconn *h, const char *why)
{
    l7r_conn_close(conn_of(h), why);
}

static const struct qvd_hconn_ops conn_ops = {conn_request, conn_bad_request, conn_closed};

void
l7r_conn_accept(struct l7r *l, int fd, const struct sockaddr *sa, int salen)
{
    char host[64] = "?";
    struct l7r_conn *c;

    if ((long)l->nconns >= l->max_conns) {
        log_warn("refusing a connection: too many connections");
        evutil_closesocket(fd);
        return;
    }
    getnameinfo(sa, (socklen_t)salen, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int)); /* NX is interactive */
    c = qvd_xcalloc(1, sizeof(*c));
    c->l7r = l;
    c->h.id = ++l->next_conn_id;
    memcpy(c->h.peer, strncmp(host, "::ffff:", 7) == 0 ? host + 7 : host, sizeof(c->h.peer) - 8);
    if (qvd_hconn_start(&c->h, &conn_ops, l->base, fd, l->ssl_ctx, l->t_request, l->t_idle) < 0) {
        log_err("%s", qvd_strerror());
        evutil_closesocket(fd);
        free(c);
        return;
    }
    TAILQ_INSERT_TAIL(&l->conns, c, entry);
    l->nconns++;
    log_debug("connection %llu from %s", (unsigned long long)c->h.id, c->h.peer);
}

static void
send_response(struct l7r_conn *c, int status, const char *const *headers, bool close,
              const char *ctype, const char *body, size_t len)
{
    const char *hdrs[24];
    size_t n = 0;

    for (size_t i = 0; headers && headers[i] && headers[i + 1] && n + 4 < QVD_ARRAY_LEN(hdrs);
         i += 2) {
        hdrs[n++] = headers[i];
        hdrs[n++] = headers[i + 1];
    }
    if (close) {
        hdrs[n++] = "Connection";
        hdrs[n++] = "close";
    }
    hdrs[n] = NULL;
    qvd_http_evbuffer_response(bufferevent_get_output(c->h.bev), status, hdrs, ctype, body, len);
}

void
l7r_conn_reply(struct l7r_conn *c, int status, const char *const *headers, const char *ctype,
               const char *body, size_t len)
{
    bool close = !c->h.keep_alive || c->l7r->stopping;

    send_response(c, status, headers, close, ctype, body, len);
    qvd_hconn_done(&c->h, close);
}

void
l7r_conn_error(struct l7r_conn *c, int status, const char *const *headers, const char *fmt, ...)
{
    struct qvd_buf b = QVD_BUF_INIT;
    char *msg;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        qvd_fatal("out of memory");
    /* one line: a message never carries the client's line breaks */
    for (char *p = msg; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    log_info("%s: %d %s", c->h.peer, status, msg);
    qvd_buf_printf(&b, "%s\r\n", msg);
    free(msg);
    send_response(c, status, headers, true, "text/plain", b.data, b.len);
    qvd_buf_free(&b);
    qvd_hconn_done(&c->h, true);
}

void
l7r_conn_interim(struct l7r_conn *c, const char *info)
{
    const char *hdrs[] = {"X-QVD-VM-Info", info, NULL};

    qvd_http_evbuffer_response(bufferevent_get_output(c->h.bev), 102, hdrs, NULL, NULL, 0);
}
