/* tls.c: the TLS server context of the L7R and qvd-api: TLS 1.2+, QVD's cipher list,
 * certificate and private key from files; a key that others can read is refused. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"
#include "err.h"
#include "tls.h"
#include "log.h"

#define QVD_TLS_CIPHERS "HIGH:!aNULL:!MD5:!RC4:!3DES:!DES:!MEDIUM:!LOW:!EXPORT"

static int
ssl_fail(const char *what, const char *path)
{
    char buf[256];

    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    ERR_clear_error();
    return qvd_seterr("%s %s: %s", what, path, buf);
}

SSL_CTX *
qvd_tls_server_ctx(struct qvd_config *cfg, const char *prog)
{
    char k_cert[64], k_key[64], k_ciphers[64];
    snprintf(k_cert, sizeof(k_cert), "path.%s.ssl.cert", prog);
    snprintf(k_key, sizeof(k_key), "path.%s.ssl.key", prog);
    snprintf(k_ciphers, sizeof(k_ciphers), "%s.ssl.ciphers", prog);
    const char *cert = qvd_config_get(cfg, k_cert);
    const char *key = qvd_config_get(cfg, k_key);
    const char *ciphers = qvd_config_get(cfg, k_ciphers);
    struct stat sb;
    SSL_CTX *ctx;

    if (cert == NULL || key == NULL) {
        qvd_seterr("%s and %s must be set", k_cert, k_key);
        return NULL;
    }
    if (stat(key, &sb) < 0) {
        qvd_seterr("private key %s: %s", key, strerror(errno));
        return NULL;
    }
    if (sb.st_mode & 0007) {
        qvd_seterr("private key %s is accessible by others (mode %04o): chmod 600 %s", key,
                   (unsigned)(sb.st_mode & 07777), key);
        return NULL;
    }
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ssl_fail("cannot create the TLS context for", cert);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx, ciphers && *ciphers ? ciphers : QVD_TLS_CIPHERS) != 1) {
        ssl_fail("bad cipher list", ciphers ? ciphers : QVD_TLS_CIPHERS);
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        ssl_fail("cannot load the certificate", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        ssl_fail("cannot load the private key", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_fail("the private key does not match the certificate", cert);
        goto fail;
    }
    log_info("TLS certificate %s loaded", cert);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

const char *
qvd_tls_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();

    if (e == 0)
        snprintf(buf, len, "%s", errno ? strerror(errno) : "the connection was closed");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

struct bufferevent *
qvd_tls_accept_bev(struct event_base *base, int fd, SSL_CTX *ctx)
{
    const int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    struct bufferevent *bev;
    SSL *ssl;

    if (ctx == NULL)
        return bufferevent_socket_new(base, fd, opts);
    if ((ssl = SSL_new(ctx)) == NULL)
        return NULL;
    bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, opts);
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

void
qvd_tls_bev_free(struct bufferevent *bev)
{
    SSL *ssl;

    if (bev == NULL)
        return;
    ssl = bufferevent_openssl_get_ssl(bev);
    if (ssl && SSL_is_init_finished(ssl))
        SSL_shutdown(ssl); /* close_notify, best effort */
    bufferevent_free(bev);
}
