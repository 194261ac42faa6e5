/* hconn.h: the server side of one HTTP/1.1 connection on an event loop, shared by qvd-l7r
 * and qvd-api. It accepts (TLS or plain), reads requests through the bounded HTTP parser,
 * keeps a deadline for each request and one for idling between requests, goes on with the
 * next request after a keep-alive answer, and closes once an answer has been flushed.
 *
 * The owner embeds a struct qvd_hconn in its own connection, answers the complete requests
 * it is given (writing into bufferevent_get_output(h->bev), then qvd_hconn_done), and frees
 * its part when told the connection ends. It may take the connection over for good (an
 * upgrade, an event stream) by setting state QVD_HCONN_OWNED. */
#ifndef QVD_HCONN_H
#define QVD_HCONN_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct bufferevent;
struct event;
struct event_base;
struct qvd_http_msg;
struct qvd_http_parser;
struct qvd_hconn;

enum qvd_hconn_state {
    QVD_HCONN_HEAD,    /* reading a request */
    QVD_HCONN_BUSY,    /* the owner works on a request; what comes next waits (bounded) */
    QVD_HCONN_CLOSING, /* an answer is being flushed before the close */
    QVD_HCONN_OWNED,   /* taken over by the owner; unless it sets its own callbacks, what the
                        * client sends is dropped and its close or error ends the connection */
};

struct qvd_hconn_ops {
    /* A complete request (state BUSY). The message lives until the next request. The owner
     * may answer (and even close the connection) before it returns. */
    void (*request)(struct qvd_hconn *h, const struct qvd_http_msg *m);
    /* A request the parser refused: the owner writes its error answer and calls
     * qvd_hconn_done(h, true). `msg` says what is wrong. */
    void (*bad_request)(struct qvd_hconn *h, int status, const char *msg);
    /* The connection ends: the owner frees what it holds, then calls qvd_hconn_release. */
    void (*closed)(struct qvd_hconn *h, const char *why);
};

struct qvd_hconn {
    const struct qvd_hconn_ops *ops;
    struct bufferevent *bev;
    struct qvd_http_parser *parser;
    struct event *timer; /* the request or idle deadline */
    uint64_t id;
    char peer[64]; /* the client's address, for the logs */
    enum qvd_hconn_state state;
    bool head_started;      /* the request deadline runs for the request being read */
    bool keep_alive;        /* the current request allows another after it */
    long t_request, t_idle; /* seconds */
};

/* Sets up the connection on `fd` (TLS with `ctx`, plain with NULL) and starts reading its
 * first request, with the TLS handshake counted against the request deadline. The caller
 * has set h->id and h->peer. On error (message in qvd_strerror()) nothing is left to free
 * but fd, which stays open. */
int qvd_hconn_start(struct qvd_hconn *h, const struct qvd_hconn_ops *ops, struct event_base *base,
                    int fd, SSL_CTX *ctx, long t_request, long t_idle);
/* After the owner wrote a final answer: with `close` (or when the request did not allow
 * keep-alive) the connection closes once the answer is flushed, else it waits for the next
 * request. */
void qvd_hconn_done(struct qvd_hconn *h, bool close);
/* Frees the core's part (the socket included). */
void qvd_hconn_release(struct qvd_hconn *h);

#endif
