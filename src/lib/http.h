/* http.h: HTTP/1.1 messages on libhttp-parser: bounded incremental parsing of requests and
 * responses (1xx interim, Upgrade/101), response and request writers, URL encoding. */
#ifndef QVD_HTTP_H
#define QVD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

struct evbuffer;

/* Hard limits on what one message may hold (bytes of the head, headers, body). */
#define QVD_HTTP_MAX_HEAD 16384
#define QVD_HTTP_MAX_HEADERS 64
#define QVD_HTTP_MAX_BODY 65536

struct qvd_http_header {
    char *name, *value;
};
/* One query parameter, URL-decoded; repeated keys stay as separate entries, in order. */
struct qvd_http_param {
    char *key, *value;
};

/* A parsed message. Request fields are NULL/empty in responses and vice versa. */
struct qvd_http_msg {
    char *method; /* "GET" ... */
    char *url;    /* raw request target */
    char *path;   /* URL-decoded path of the target */
    struct qvd_http_param *params;
    size_t nparams;
    int status; /* response status code */
    char *reason;
    struct qvd_http_header *headers;
    size_t nheaders;
    struct qvd_buf body;
    int http_major, http_minor;
    bool keep_alive;
    bool upgrade; /* request: Connection: Upgrade + Upgrade; response: 101 */
};

enum qvd_http_kind { QVD_HTTP_REQUEST, QVD_HTTP_RESPONSE };
enum qvd_http_result {
    QVD_HTTP_NEED_MORE, /* everything consumed, message incomplete */
    QVD_HTTP_COMPLETE,  /* a whole message; bytes after it were not consumed */
    QVD_HTTP_INTERIM,   /* a 1xx response other than 101 (e.g. 102 Processing) */
    QVD_HTTP_ERROR,     /* malformed or over a limit: see qvd_http_parser_error_status */
};

struct qvd_http_parser;

struct qvd_http_parser *qvd_http_parser_new(enum qvd_http_kind kind);
void qvd_http_parser_free(struct qvd_http_parser *p);
/* Raises (or lowers) the body limit of this parser from QVD_HTTP_MAX_BODY: a client that
 * reads long listings from a server it chose. */
void qvd_http_parser_set_max_body(struct qvd_http_parser *p, size_t max);
/* Feeds bytes. *consumed tells how many were used: after COMPLETE or INTERIM the rest
 * belongs to the next message (or, after an upgrade, to the upgraded stream). After
 * COMPLETE/INTERIM the next feed starts a new message (the previous one is discarded). */
enum qvd_http_result qvd_http_parser_feed(struct qvd_http_parser *p, const char *data, size_t len,
                                          size_t *consumed);
/* Tells a response parser that the peer closed: completes a body delimited by EOF. */
enum qvd_http_result qvd_http_parser_eof(struct qvd_http_parser *p);
/* The message being parsed or just completed. */
const struct qvd_http_msg *qvd_http_parser_msg(const struct qvd_http_parser *p);
/* After ERROR: the status to answer with (400, 413 or 431) and a reason in qvd_strerror(). */
int qvd_http_parser_error_status(const struct qvd_http_parser *p);

/* Case-insensitive header lookup: the first value or NULL. */
const char *qvd_http_msg_header(const struct qvd_http_msg *m, const char *name);
/* The first value of a query parameter or NULL. */
const char *qvd_http_msg_param(const struct qvd_http_msg *m, const char *key);

/* Standard reason phrase ("OK", "Switching Protocols", ...; "Unknown" otherwise). */
const char *qvd_http_reason(int status);
/* Appends a full response: status line, `headers` (NULL-terminated name, value, ... list,
 * may be NULL), Content-Type (if ctype) and Content-Length (unless status is 1xx/101),
 * blank line and body. */
void qvd_http_write_response(struct qvd_buf *b, int status, const char *const *headers,
                             const char *ctype, const void *body, size_t len);
/* Same into a libevent buffer. */
void qvd_http_evbuffer_response(struct evbuffer *out, int status, const char *const *headers,
                                const char *ctype, const void *body, size_t len);
/* Appends a request without body: "METHOD target HTTP/1.1" + headers + blank line. */
void qvd_http_write_request(struct qvd_buf *b, const char *method, const char *target,
                            const char *const *headers);

/* Appends `s` percent-encoded (all but A-Z a-z 0-9 - . _ ~). */
void qvd_http_urlencode(struct qvd_buf *b, const char *s);
/* Appends "?k=v&k=v" (or nothing) from a NULL-terminated key, value, ... list. */
void qvd_http_append_query(struct qvd_buf *b, const char *const *params);
/* Decodes %XX (and '+' as space when `plus`) into a new string; NULL on bad escapes or NUL. */
char *qvd_http_urldecode(const char *s, size_t len, bool plus);

#endif
