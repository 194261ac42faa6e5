/* http.c: HTTP/1.1 parsing on libhttp-parser with hard limits, plus message writers. */
#include "http.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <http_parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

struct qvd_http_parser {
    http_parser hp; /* first: callbacks cast back from it */
    enum qvd_http_kind kind;
    struct qvd_http_msg msg;
    struct qvd_buf url, reason, field, value;
    bool in_value; /* the last header callback was a value */
    bool done;     /* a message completed; the next feed starts another */
    size_t head_bytes;
    size_t max_body; /* QVD_HTTP_MAX_BODY unless set */
    int err_status;  /* status for a callback-detected error */
};

static void
msg_clear(struct qvd_http_msg *m)
{
    free(m->method);
    free(m->url);
    free(m->path);
    free(m->reason);
    for (size_t i = 0; i < m->nparams; i++) {
        free(m->params[i].key);
        free(m->params[i].value);
    }
    free(m->params);
    for (size_t i = 0; i < m->nheaders; i++) {
        free(m->headers[i].name);
        free(m->headers[i].value);
    }
    free(m->headers);
    qvd_buf_free(&m->body);
    memset(m, 0, sizeof(*m));
}

static void
parser_restart(struct qvd_http_parser *p)
{
    msg_clear(&p->msg);
    qvd_buf_reset(&p->url);
    qvd_buf_reset(&p->reason);
    qvd_buf_reset(&p->field);
    qvd_buf_reset(&p->value);
    p->in_value = false;
    p->done = false;
    p->head_bytes = 0;
    p->err_status = 0;
    http_parser_init(&p->hp, p->kind == QVD_HTTP_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE);
}

/* Fails the parse from a callback with an HTTP status for the answer. */
static int
cb_fail(struct qvd_http_parser *p, int status, const char *why)
{
    p->err_status = status;
    qvd_seterr("%s", why);
    return -1;
}

/* Counts head bytes against the limit. */
static int
head_add(struct qvd_http_parser *p, size_t len)
{
    p->head_bytes += len;
    if (p->head_bytes > QVD_HTTP_MAX_HEAD)
        return cb_fail(p, 431, "request head too large");
    return 0;
}

static int
flush_header(struct qvd_http_parser *p)
{
    struct qvd_http_msg *m = &p->msg;
    if (p->field.len == 0 && !p->in_value)
        return 0;
    if (m->nheaders >= QVD_HTTP_MAX_HEADERS)
        return cb_fail(p, 431, "too many headers");
    m->headers = qvd_xrealloc(m->headers, (m->nheaders + 1) * sizeof(*m->headers));
    m->headers[m->nheaders].name = qvd_buf_steal(&p->field);
    m->headers[m->nheaders].value = qvd_buf_steal(&p->value);
    m->nheaders++;
    p->in_value = false;
    return 0;
}

static int
on_url(http_parser *hp, const char *at, size_t len)
{
    struct qvd_http_parser *p = (struct qvd_http_parser *)hp;
    if (head_add(p, len) < 0)
        return -1;
    qvd_buf_add(&p->url, at, len);
    return 0;
}

static int
on_status(http_parser *hp, const char *at, size_t len)
{
    struct qvd_http_parser *p = (struct qvd_http_parser *)hp;
    if (head_add(p, len) < 0)
        return -1;
    qvd_buf_add(&p->reason, at, len);
    return 0;
}

static int
on_header_field(http_parser *hp, const char *at, size_t len)
{
    struct qvd_http_parser *p = (struct qvd_http_parser *)hp;
    if (head_add(p, len) < 0)
        return -1;
    if (p->in_value && flush_header(p) < 0)
        return -1;
    qvd_buf_add(&p->field, at, len);
    return 0;
}

static int
on_header_value(http_parser *hp, const char *at, size_t len)
{
    struct qvd_http_parser *p = (struct qvd_http_parser *)hp;
    if (head_add(p, len) < 0)
        return -1;
    p->in_value = true;
    qvd_buf_add(&p->value, at, len);
    return 0;
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

char *
qvd_http_urldecode(const char *s, size_t len, bool plus)
{
    struct qvd_buf b = QVD_BUF_INIT;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < len ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                qvd_buf_free(&b);
                return NULL;
            }
            qvd_buf_addc(&b, (char)(hi * 16 + lo));
            i += 2;
        } else if (c == '+' && plus) {
            qvd_buf_addc(&b, ' ');
        } else if (c == '\0') {
            qvd_buf_free(&b);
            return NULL;
        } else {
            qvd_buf_addc(&b, (char)c);
        }
    }
    return qvd_buf_steal(&b);
}

/* Splits the request target into a decoded path and the ordered query parameters. */
static int
parse_target(struct qvd_http_parser *p)
{
    struct qvd_http_msg *m = &p->msg;
    struct http_parser_url u;
    http_parser_url_init(&u);
    const char *url = m->url;
    if (http_parser_parse_url(url, strlen(url), 0, &u) != 0 || !(u.field_set & (1 << UF_PATH)))
        return cb_fail(p, 400, "bad request target");
    m->path = qvd_http_urldecode(url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len, false);
    if (!m->path)
        return cb_fail(p, 400, "bad escape in path");
    if (!(u.field_set & (1 << UF_QUERY)))
        return 0;
    const char *q = url + u.field_data[UF_QUERY].off;
    const char *end = q + u.field_data[UF_QUERY].len;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pe = amp ? amp : end;
        if (pe > q) {
            const char *eq = memchr(q, '=', (size_t)(pe - q));
            const char *ke = eq ? eq : pe;
            char *k = qvd_http_urldecode(q, (size_t)(ke - q), true);
            char *v =
                eq ? qvd_http_urldecode(eq + 1, (size_t)(pe - eq - 1), true) : qvd_xstrdup("");
            if (!k || !v) {
                free(k);
                free(v);
                return cb_fail(p, 400, "bad escape in query");
            }
            m->params = qvd_xrealloc(m->params, (m->nparams + 1) * sizeof(*m->params));
            m->params[m->nparams].key = k;
            m->params[m->nparams].value = v;
            m->nparams++;
        }
        q = pe + 1;
    }
    return 0;
}

static int
on_headers_complete(http_parser *hp)
{
    struct qvd_http_parser *p = (struct qvd_http_parser *)hp;
    struct qvd_http_msg *m = &p->msg;
    if (flush_header(p) < 0)
        return -1;
    m->http_major = hp->http_major;
    m->http_minor = hp->http_minor;
    m->keep_alive = http_should_keep_alive(hp) != 0;
    if (p->kind == QVD_HTTP_REQUEST) {
        m->method = qvd_xstrdup(http_method_str((enum http_method)hp->method));
        m->url = qvd_buf_steal(&p->url);
        if (parse_target(p) < 0)
            return -1;
    } else {
        m->status = hp->status_code;
        m->reason = qvd_buf_steal(&p->reason);
    }
    if (hp->content_length != UINT64_MAX && hp->content_length > p->max_body)
        return cb_fail(p, 413, "body too large");
    return 0;
}

static int
on_body(http_parser *hp, const char *at, size_t len)
{
    struct qvd_http_parser *p = (struct qvd_http_parser *)hp;
    if (p->msg.body.len + len > p->max_body)
        return cb_fail(p, 413, "body too large");
    qvd_buf_add(&p->msg.body, at, len);
    return 0;
}

static int
on_message_complete(http_parser *hp)
{
    struct qvd_http_parser *p = (struct qvd_http_parser *)hp;
    p->done = true;
    /* Stop right after this message: what follows is the next message or an upgraded
     * stream, which the caller must see through *consumed. */
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

struct qvd_http_parser *
qvd_http_parser_new(enum qvd_http_kind kind)
{
    struct qvd_http_parser *p = qvd_xcalloc(1, sizeof(*p));
    p->kind = kind;
    p->max_body = QVD_HTTP_MAX_BODY;
    parser_restart(p);
    return p;
}

void
qvd_http_parser_set_max_body(struct qvd_http_parser *p, size_t max)
{
    p->max_body = max;
}

void
qvd_http_parser_free(struct qvd_http_parser *p)
{
    if (!p)
        return;
    msg_clear(&p->msg);
    qvd_buf_free(&p->url);
    qvd_buf_free(&p->reason);
    qvd_buf_free(&p->field);
    qvd_buf_free(&p->value);
    free(p);
}

static enum qvd_http_result
finish(struct qvd_http_parser *p)
{
    struct qvd_http_msg *m = &p->msg;
    if (p->kind == QVD_HTTP_REQUEST) {
        /* http_parser sets upgrade only for Connection: Upgrade + an Upgrade header. */
        m->upgrade = p->hp.upgrade && p->hp.method != HTTP_CONNECT;
        return QVD_HTTP_COMPLETE;
    }
    m->upgrade = m->status == 101;
    if (m->status >= 100 && m->status < 200 && m->status != 101)
        return QVD_HTTP_INTERIM;
    return QVD_HTTP_COMPLETE;
}

static enum qvd_http_result
check(struct qvd_http_parser *p, size_t n, size_t len, size_t *consumed)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
    if (consumed)
        *consumed = n;
    if (p->done && (e == HPE_PAUSED || e == HPE_OK))
        return finish(p);
    if (e == HPE_OK && n == len)
        return QVD_HTTP_NEED_MORE;
    if (p->err_status == 0) {
        p->err_status = e == HPE_HEADER_OVERFLOW ? 431 : 400;
        qvd_seterr("bad HTTP message: %s", http_errno_description(e));
    }
    p->hp.http_errno = HPE_UNKNOWN; /* stay failed */
    return QVD_HTTP_ERROR;
}

enum qvd_http_result
qvd_http_parser_feed(struct qvd_http_parser *p, const char *data, size_t len, size_t *consumed)
{
    if (consumed)
        *consumed = 0;
    if (p->err_status || (HTTP_PARSER_ERRNO(&p->hp) != HPE_OK && !p->done)) {
        if (!p->err_status)
            p->err_status = 400;
        return QVD_HTTP_ERROR;
    }
    if (p->done)
        parser_restart(p);
    if (len == 0)
        return QVD_HTTP_NEED_MORE;
    size_t n = http_parser_execute(&p->hp, &settings, data, len);
    return check(p, n, len, consumed);
}

enum qvd_http_result
qvd_http_parser_eof(struct qvd_http_parser *p)
{
    if (p->done || p->err_status)
        return p->err_status ? QVD_HTTP_ERROR : finish(p);
    http_parser_execute(&p->hp, &settings, NULL, 0);
    if (p->done)
        return finish(p);
    if (!p->err_status) {
        p->err_status = 400;
        qvd_seterr("connection closed in the middle of an HTTP message");
    }
    return QVD_HTTP_ERROR;
}

const struct qvd_http_msg *
qvd_http_parser_msg(const struct qvd_http_parser *p)
{
    return &p->msg;
}

int
qvd_http_parser_error_status(const struct qvd_http_parser *p)
{
    return p->err_status ? p->err_status : 400;
}

const char *
qvd_http_msg_header(const struct qvd_http_msg *m, const char *name)
{
    for (size_t i = 0; i < m->nheaders; i++)
        if (strcasecmp(m->headers[i].name, name) == 0)
            return m->headers[i].value;
    return NULL;
}

const char *
qvd_http_msg_param(const struct qvd_http_msg *m, const char *key)
{
    for (size_t i = 0; i < m->nparams; i++)
        if (strcmp(m->params[i].key, key) == 0)
            return m->params[i].value;
    return NULL;
}

const char *
qvd_http_reason(int status)
{
    static const struct {
        int code;
        const char *text;
    } reasons[] = {
        {100, "Continue"},
        {101, "Switching Protocols"},
        {102, "Processing"},
        {200, "OK"},
        {201, "Created"},
        {204, "No Content"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {304, "Not Modified"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {413, "Payload Too Large"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
    };
    for (size_t i = 0; i < QVD_ARRAY_LEN(reasons); i++)
        if (reasons[i].code == status)
            return reasons[i].text;
    return "Unknown";
}

static void
add_headers(struct qvd_buf *b, const char *const *headers)
{
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        qvd_buf_printf(b, "%s: %s\r\n", headers[i], headers[i + 1]);
}

void
qvd_http_write_response(struct qvd_buf *b, int status, const char *const *headers,
                        const char *ctype, const void *body, size_t len)
{
    qvd_buf_printf(b, "HTTP/1.1 %d %s\r\n", status, qvd_http_reason(status));
    add_headers(b, headers);
    if (ctype)
        qvd_buf_printf(b, "Content-Type: %s\r\n", ctype);
    if (status >= 200 && status != 204 && status != 304)
        qvd_buf_printf(b, "Content-Length: %zu\r\n", len);
    qvd_buf_adds(b, "\r\n");
    if (len)
        qvd_buf_add(b, body, len);
}

void
qvd_http_evbuffer_response(struct evbuffer *out, int status, const char *const *headers,
                           const char *ctype, const void *body, size_t len)
{
    struct qvd_buf b = QVD_BUF_INIT;
    qvd_http_write_response(&b, status, headers, ctype, body, len);
    evbuffer_add(out, b.data, b.len);
    qvd_buf_free(&b);
}

void
qvd_http_write_request(struct qvd_buf *b, const char *method, const char *target,
                       const char *const *headers)
{
    qvd_buf_printf(b, "%s %s HTTP/1.1\r\n", method, target);
    add_headers(b, headers);
    qvd_buf_adds(b, "\r\n");
}

void
qvd_http_urlencode(struct qvd_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            qvd_buf_addc(b, (char)c);
        } else {
            qvd_buf_addc(b, '%');
            qvd_buf_addc(b, hex[c >> 4]);
            qvd_buf_addc(b, hex[c & 15]);
        }
    }
}

void
qvd_http_append_query(struct qvd_buf *b, const char *const *params)
{
    for (size_t i = 0; params && params[i] && params[i + 1]; i += 2) {
        qvd_buf_addc(b, i == 0 ? '?' : '&');
        qvd_http_urlencode(b, params[i]);
        qvd_buf_addc(b, '=');
        qvd_http_urlencode(b, params[i + 1]);
    }
}
