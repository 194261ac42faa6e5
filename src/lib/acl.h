/* acl.h: the ACL catalogue (every name an administrator may hold, derived from the
 * resources and the actions) and operative ACL sets (roles that inherit roles, grants that
 * are positive or negative). */
#ifndef QVD_ACL_H
#define QVD_ACL_H

#include <stdbool.h>
#include <stdint.h>

struct qvd_db;

#define QVD_ACL_MAX 512

/* A set of catalogue entries, one bit per ACL. */
struct qvd_acl_set {
    uint64_t w[QVD_ACL_MAX / 64];
};

/* The catalogue: names like "vm.see", "vm.see.ip", "vm.create", "vm.start", sorted. */
int qvd_acl_count(void);
const char *qvd_acl_name(int i);
const char *qvd_acl_description(int i);
/* Index of an exact name, -1 if not in the catalogue. */
int qvd_acl_index(const char *name);

/* The ACLs matched by a pattern (a name, or a glob with '*': "vm.*", "*.see", "*"): the
 * number matched; 0 means the pattern names nothing (refuse it). */
int qvd_acl_match(const char *pattern, struct qvd_acl_set *out);

bool qvd_acl_has(const struct qvd_acl_set *s, const char *name);
void qvd_acl_add(struct qvd_acl_set *s, const struct qvd_acl_set *t);
void qvd_acl_remove(struct qvd_acl_set *s, const struct qvd_acl_set *t);
/* true when every ACL of `sub` is in `s` */
bool qvd_acl_contains(const struct qvd_acl_set *s, const struct qvd_acl_set *sub);
int qvd_acl_size(const struct qvd_acl_set *s);

/* A role's operative ACLs: the union of the operative ACLs of the roles it inherits and its
 * positive grants, minus its negative grants. 0, or -1 with qvd_strerror(). */
int qvd_acl_role(struct qvd_db *db, int64_t role_id, struct qvd_acl_set *out);
/* An administrator's operative ACLs: the union over its roles. */
int qvd_acl_admin(struct qvd_db *db, int64_t admin_id, struct qvd_acl_set *out);

#endif
