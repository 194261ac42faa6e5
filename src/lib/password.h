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

#endif
