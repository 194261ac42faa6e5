/* certs.c: what to do with a certificate that does not verify: the accepted-fingerprint
 * store (~/.qvd/accepted_certs), --fingerprint, --accept-cert and the terminal prompt. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "err.h"
#include "log.h"

#define FP_FILE_MAX (1024 * 1024)

/* ---- fingerprints ---- */

int
client_fp_normalize(const char *in, char out[65])
{
    size_t n = 0;
    for (const char *s = in; s && *s; s++) {
        if (*s == ':')
            continue;
        if (!isxdigit((unsigned char)*s) || n == 64)
            return qvd_seterr("The fingerprint \"%.100s\" is not valid: give the 64 hex digits "
                              "of the SHA-256 fingerprint (colons allowed).",
                              in);
        out[n++] = (char)tolower((unsigned char)*s);
    }
    out[n] = '\0';
    if (n != 64)
        return qvd_seterr("The fingerprint \"%.100s\" is not valid: give the 64 hex digits of "
                          "the SHA-256 fingerprint (colons allowed).",
                          in ? in : "");
    return 0;
}

void
client_fp_pretty(const char *fp, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; fp[i] && fp[i + 1] && o + 3 < outlen; i += 2) {
        if (o > 0)
            out[o++] = ':';
        out[o++] = (char)toupper((unsigned char)fp[i]);
        out[o++] = (char)toupper((unsigned char)fp[i + 1]);
    }
    out[o] = '\0';
}

enum client_fp_match
client_fp_lookup(const char *file, const char *hostport, const char *fp, char *stored)
{
    char *data = NULL;
    size_t len = 0;
    enum client_fp_match r = CLIENT_FP_UNKNOWN;
    if (qvd_read_file(file, FP_FILE_MAX, &data, &len) < 0)
        return CLIENT_FP_UNKNOWN;
    size_t hl = strlen(hostport);
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char norm[65];
        if (strncmp(line, hostport, hl) != 0 || (line[hl] != ' ' && line[hl] != '\t'))
            continue;
        char *v = line + hl;
        v += strspn(v, " \t");
        v[strcspn(v, " \t\r")] = '\0';
        if (client_fp_normalize(v, norm) < 0)
            continue;
        if (strcmp(norm, fp) == 0) {
            r = CLIENT_FP_MATCH;
            break;
        }
        r = CLIENT_FP_CHANGED;
        if (stored != NULL)
            memcpy(stored, norm, 65);
    }
    free(data);
    return r;
}

int
client_fp_store(const char *file, const char *hostport, const char *fp)
{
    char *dir = qvd_xstrdup(file);
    char *slash = strrchr(dir, '/');
    int rc = -1;
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        if (qvd_mkdir_p(dir, 0700) < 0) {
            qvd_seterr("Cannot create %s: %s.", dir, strerror(errno));
            goto out;
        }
        chmod(dir, 0700);
    }
    int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        qvd_seterr("Cannot write %s: %s.", file, strerror(errno));
        goto out;
    }
    fchmod(fd, 0600);
    char line[512];
    int n = snprintf(line, sizeof(line), "%s %s\n", hostport, fp);
    if (n < 0 || (size_t)n >= sizeof(line) || write(fd, line, (size_t)n) != n) {
        qvd_seterr("Cannot write %s: %s.", file, strerror(errno));
        close(fd);
        goto out;
    }
    rc = close(fd) == 0 ? 0 : qvd_seterr("Cannot write %s: %s.", file, strerror(errno));
out:
    free(dir);
    return rc;
}

/* Asks on the terminal what to do with an untrusted certificate: 'o', 'a' or 'n'. */
static char
ask_accept(const char *hostport, const char *reason, const char *pretty)
{
    char prompt[512], answer[16];
    snprintf(prompt, sizeof(prompt),
             "The certificate of %s is not trusted (%s). SHA-256 fingerprint: %s\n"
             "Accept it (o)nce, (a)lways, or (n)o? ",
             hostport, reason, pretty);
    for (int i = 0; i < 3; i++) {
        if (client_tty_prompt(prompt, true, answer, sizeof(answer)) < 0)
            return 'n';
        char c = (char)tolower((unsigned char)answer[0]);
        if (c == 'o' || c == 'a' || c == 'n')
            return c;
    }
    return 'n';
}

int
client_cert_accept(const struct client_opts *o, X509 *cert, long vres, int *exit_code)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char fp[65], pretty[100], stored[65], stored_pretty[100];
    char *hostport = qvd_xasprintf("%s:%d", o->host, o->port);
    char *file = qvd_xasprintf("%s/accepted_certs", o->qvd_dir);
    const char *reason = X509_verify_cert_error_string(vres);
    int rc = -1;

    *exit_code = CLIENT_EXIT_CERT;
    if (X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32) {
        client_fail(CLIENT_EXIT_CERT, "Cannot compute the fingerprint of the certificate of %s.",
                    hostport);
        goto out;
    }
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(fp + 2 * i, 3, "%02x", md[i]);
    client_fp_pretty(fp, pretty, sizeof(pretty));
    log_debug("certificate of %s not trusted (%s), SHA-256 %s", hostport, reason, pretty);

    bool exact = o->fingerprint != NULL && strcmp(o->fingerprint, fp) == 0;
    if (o->fingerprint != NULL && !exact) {
        client_fail(CLIENT_EXIT_CERT,
                    "The certificate of %s does not have the fingerprint given "
                    "with --fingerprint: its SHA-256 fingerprint is %s.",
                    hostport, pretty);
        goto out;
    }
    enum client_fp_match m = client_fp_lookup(file, hostport, fp, stored);
    if (m == CLIENT_FP_MATCH) {
        log_debug("certificate of %s accepted earlier (%s)", hostport, file);
        rc = 0;
        goto out;
    }
    if (m == CLIENT_FP_CHANGED && !exact) {
        client_fp_pretty(stored, stored_pretty, sizeof(stored_pretty));
        client_fail(CLIENT_EXIT_CERT,
                    "WARNING: the certificate of %s changed (accepted "
                    "SHA-256 fingerprint %s, now %s): someone may be impersonating the server; "
                    "if the change is expected, remove the line of %s from %s.",
                    hostport, stored_pretty, pretty, hostport, file);
        goto out;
    }
    if (o->once_hostport != NULL && strcmp(o->once_hostport, hostport) == 0 &&
        strcmp(o->once_fp, fp) == 0) {
        /* reconnecting to the server accepted earlier in this run: nobody to ask again */
        log_debug("certificate of %s accepted earlier in this run", hostport);
        rc = 0;
        goto out;
    }
    char choice;
    if (exact)
        choice = o->accept_cert == CLIENT_ACCEPT_ALWAYS ? 'a' : 'o';
    else if (o->accept_cert == CLIENT_ACCEPT_ONCE)
        choice = 'o';
    else if (o->accept_cert == CLIENT_ACCEPT_ALWAYS)
        choice = 'a';
    else if (client_tty_available())
        choice = ask_accept(hostport, reason, pretty);
    else {
        client_fail(CLIENT_EXIT_CERT,
                    "The certificate of %s is not trusted (%s) and there is no "
                    "terminal to ask: its SHA-256 fingerprint is %s; if that is the server's, "
                    "run again with --accept-cert once, --accept-cert always or --fingerprint %s.",
                    hostport, reason, pretty, fp);
        goto out;
    }
    if (choice == 'n') {
        client_fail(CLIENT_EXIT_CERT, "The certificate of %s was not accepted.", hostport);
        goto out;
    }
    if (choice == 'a') {
        if (client_fp_store(file, hostport, fp) < 0) {
            client_fail(CLIENT_EXIT_CERT, "%s", qvd_strerror());
            goto out;
        }
        fprintf(stderr, "qvd-client: Accepted the certificate of %s for good (in %s).\n", hostport,
                file);
    } else {
        log_info("accepted the certificate of %s for this connection only", hostport);
    }
    rc = 0;
out:
    free(hostport);
    free(file);
    return rc;
}
