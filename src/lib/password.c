/* password.c: argon2id password hashes through libargon2 (the reference implementation). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <argon2.h>

#include "config.h"
#include "err.h"
#include "password.h"
#include "util.h"

#define SALT_LEN 16
#define HASH_LEN 32
#define MAX_PASSWORD 1024

int
qvd_password_hash(struct qvd_config *cfg, const char *password, char **out)
{
    uint8_t salt[SALT_LEN];
    long t = qvd_config_int(cfg, "password.argon2.t_cost");
    long m = qvd_config_int(cfg, "password.argon2.m_cost");
    long p = qvd_config_int(cfg, "password.argon2.parallelism");
    size_t len;
    char *enc;
    int rc;

    *out = NULL;
    if (password == NULL || *password == '\0')
        return qvd_seterr("empty password");
    if (strlen(password) > MAX_PASSWORD)
        return qvd_seterr("password longer than %d bytes", MAX_PASSWORD);
    if (t < 1 || t > 100 || m < 8 || m > 4 * 1024 * 1024 || p < 1 || p > 64 || m < 8 * p)
        return qvd_seterr("bad password.argon2.* cost (t_cost %ld, m_cost %ld KiB, "
                          "parallelism %ld)",
                          t, m, p);
    if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
        return qvd_seterr("getrandom: %s", strerror(errno));
    len = argon2_encodedlen((uint32_t)t, (uint32_t)m, (uint32_t)p, SALT_LEN, HASH_LEN, Argon2_id);
    enc = qvd_xcalloc(1, len);
    rc = argon2id_hash_encoded((uint32_t)t, (uint32_t)m, (uint32_t)p, password, strlen(password),
                               salt, SALT_LEN, HASH_LEN, enc, len);
    qvd_wipe(salt, sizeof(salt));
    if (rc != ARGON2_OK) {
        free(enc);
        return qvd_seterr("argon2id: %s", argon2_error_message(rc));
    }
    *out = enc;
    return 0;
}

int
qvd_password_verify(const char *encoded, const char *password)
{
    int rc;

    if (encoded == NULL || password == NULL || strncmp(encoded, "$argon2id$", 10) != 0 ||
        strlen(password) > MAX_PASSWORD)
        return 0;
    rc = argon2id_verify(encoded, password, strlen(password));
    if (rc == ARGON2_OK)
        return 1;
    if (rc == ARGON2_VERIFY_MISMATCH || rc == ARGON2_DECODING_FAIL || rc == ARGON2_SALT_TOO_SHORT ||
        rc == ARGON2_PWD_TOO_SHORT)
        return 0;
    if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
        return qvd_seterr("argon2id: %s", argon2_error_message(rc));
    return 0;
}

const char *
qvd_password_dummy(struct qvd_config *cfg)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char *dummy;
    uint8_t r[16];
    char pw[33];
    const char *out;

    pthread_mutex_lock(&lock);
    if (dummy == NULL) {
        /* a password nobody knows, so that the hash can never say yes */
        if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
            qvd_seterr("getrandom: %s", strerror(errno));
        } else {
            for (size_t i = 0; i < sizeof(r); i++)
                snprintf(pw + 2 * i, 3, "%02x", r[i]);
            qvd_password_hash(cfg, pw, &dummy);
            qvd_wipe(pw, sizeof(pw));
        }
        qvd_wipe(r, sizeof(r));
    }
    out = dummy;
    pthread_mutex_unlock(&lock);
    return out;
}

void
qvd_password_refuse(struct qvd_config *cfg, const char *password)
{
    const char *dummy = qvd_password_dummy(cfg);

    if (dummy != NULL && password != NULL)
        qvd_password_verify(dummy, password);
}
