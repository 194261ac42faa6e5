/* password.h: user password hashing with argon2id (PHC encoded strings with a random salt). */
#ifndef QVD_PASSWORD_H
#define QVD_PASSWORD_H

struct qvd_config;

/* Hashes `password` with argon2id and a 16-byte random salt, with the cost from
 * password.argon2.{t_cost,m_cost,parallelism}. *out is a malloc'd "$argon2id$v=19$..."
 * string. Returns 0, or -1 with qvd_strerror() set. */
int qvd_password_hash(struct qvd_config *cfg, const char *password, char **out);

/* Checks `password` against an encoded hash: 1 it matches, 0 it does not (or the hash is not
 * an argon2id string), -1 on an internal error. Takes the same time for any mismatch. */
int qvd_password_verify(const char *encoded, const char *password);

/* A hash of a random password (never known) made once with the configured costs, for refusals
 * to take as long as a wrong password: an unknown or blocked login then tells nothing by its
 * answer time. NULL (qvd_strerror() set) if it cannot be made. Thread-safe. */
const char *qvd_password_dummy(struct qvd_config *cfg);
/* Spends the time of a password check (against the dummy) and refuses: for every login
 * refused before its password is checked. */
void qvd_password_refuse(struct qvd_config *cfg, const char *password);

#endif
