/* tls.h: TLS server contexts for the daemons that face the network. */
#ifndef QVD_TLS_H
#define QVD_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

struct qvd_config;

/* The context of program `prog` ("l7r", "api"): certificate chain and key from
 * path.PROG.ssl.cert / path.PROG.ssl.key, ciphers from PROG.ssl.ciphers. NULL with
 * qvd_strerror() when a file is missing, unreadable, readable by others or mismatched. */
SSL_CTX *qvd_tls_server_ctx(struct qvd_config *cfg, const char *prog);

/* The last OpenSSL error (or errno) as one short text in buf; clears the error queue. */
const char *qvd_tls_reason(char *buf, size_t len);

#endif
