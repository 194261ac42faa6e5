/* tls.h: TLS server contexts for the daemons that face the network. */
#ifndef QVD_TLS_H
#define QVD_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

struct bufferevent;
struct event_base;
struct qvd_config;

/* The context of program `prog` ("l7r", "api"): certificate chain and key from
 * path.PROG.ssl.cert / path.PROG.ssl.key, ciphers from PROG.ssl.ciphers. NULL with
 * qvd_strerror() when a file is missing, unreadable, readable by others or mismatched. */
SSL_CTX *qvd_tls_server_ctx(struct qvd_config *cfg, const char *prog);

/* The last OpenSSL error (or errno) as one short text in buf; clears the error queue. */
const char *qvd_tls_reason(char *buf, size_t len);

/* A bufferevent that owns an accepted client socket: TLS (server side, the handshake to
 * come) with ctx, plain without; dirty TLS shutdowns are allowed. NULL on failure (fd is
 * then still the caller's). */
struct bufferevent *qvd_tls_accept_bev(struct event_base *base, int fd, SSL_CTX *ctx);
/* Sends TLS close_notify when the handshake had finished (best effort), then frees. */
void qvd_tls_bev_free(struct bufferevent *bev);

#endif
