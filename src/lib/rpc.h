/* rpc.h: client of QVD's SimpleRPC (GET /vma/<method>?k=v, Bearer secret, JSON answers):
 * asynchronous on libevent, blocking with a timeout, and the upgrade call (101 + stream). */
#ifndef QVD_RPC_H
#define QVD_RPC_H

#include <jansson.h>

#include "util.h"

struct event_base;
struct bufferevent;

enum qvd_rpc_status {
    QVD_RPC_OK = 0,    /* the method succeeded: result set */
    QVD_RPC_ERROR = 1, /* the server answered with an error string */
    QVD_RPC_FAIL = -1, /* transport, timeout, HTTP status or malformed answer */
};

/* Where and how to call. `host` is a name or address; `secret` may be NULL (no header). */
struct qvd_rpc_target {
    const char *host;
    int port;
    const char *secret;
    int timeout_ms; /* whole call: connect, send, answer */
};

/* Decodes a SimpleRPC body: `[` body `]` with one element (result) or two (error). On
 * QVD_RPC_OK *result is a new reference; on ERROR/FAIL *error is a new string. */
enum qvd_rpc_status qvd_rpc_decode(const char *body, size_t len, json_t **result, char **error);
/* Encodes a SimpleRPC answer body (with the trailing CRLF) into b: the result if err is
 * NULL, else the error form "",<json string>. */
void qvd_rpc_encode(struct qvd_buf *b, const json_t *result, const char *err);

/* Called once per asynchronous call with the status, the result (borrowed, valid during
 * the callback, NULL unless OK) and an error text (NULL when OK). */
typedef void (*qvd_rpc_cb)(enum qvd_rpc_status st, json_t *result, const char *error, void *arg);
struct qvd_rpc_call;
/* Starts `method` with a NULL-terminated key, value, ... list of params (may be NULL).
 * Returns a handle (valid until the callback returns) or NULL with qvd_strerror() set (no
 * callback then). The callback is never called from inside this function. */
struct qvd_rpc_call *qvd_rpc_call_async(struct event_base *base, const struct qvd_rpc_target *t,
                                        const char *method, const char *const *params,
                                        qvd_rpc_cb cb, void *arg);
/* Abandons a pending call: no callback will come. */
void qvd_rpc_call_cancel(struct qvd_rpc_call *c);

/* Blocking call. OK: *result is a new reference (caller json_decref). ERROR/FAIL: the
 * message is in qvd_strerror(). `result` may be NULL. */
enum qvd_rpc_status qvd_rpc_call(const struct qvd_rpc_target *t, const char *method,
                                 const char *const *params, json_t **result);

/* Blocking upgrade: sends `GET <target>` with Connection: Upgrade, Upgrade: `proto` and
 * the Bearer secret plus `headers` (name, value, ..., NULL; may be NULL), skips 1xx
 * interim answers, and on 101 returns 0 with the connected socket in *fd (blocking mode)
 * and the bytes that followed the 101 head in `leftover`. Any other answer: -1 with the
 * status and body in qvd_strerror(). */
int qvd_rpc_upgrade(const struct qvd_rpc_target *t, const char *target, const char *proto,
                    const char *const *headers, int *fd, struct qvd_buf *leftover);

/* Called once per asynchronous upgrade. On success (rc 0) `bev` is the connected stream,
 * now owned by the callee (callbacks unset, reading and writing enabled), with any bytes
 * that followed the 101 head still in its input buffer. On failure (rc -1) bev is NULL and
 * `error` says why (the status and body of a refusal, or the transport error). */
typedef void (*qvd_rpc_upgrade_cb)(int rc, struct bufferevent *bev, const char *error, void *arg);
/* Non-blocking form of qvd_rpc_upgrade on `base`, bounded by t->timeout_ms until the 101.
 * Returns a handle to cancel with qvd_rpc_call_cancel (valid until the callback returns),
 * or NULL with qvd_strerror() set (no callback then). Never calls back from inside. */
struct qvd_rpc_call *qvd_rpc_upgrade_async(struct event_base *base, const struct qvd_rpc_target *t,
                                           const char *target, const char *proto,
                                           const char *const *headers, qvd_rpc_upgrade_cb cb,
                                           void *arg);

/* Connects a TCP socket to host:port within timeout_ms (blocking mode on return). */
int qvd_rpc_connect(const char *host, int port, int timeout_ms);

#endif
