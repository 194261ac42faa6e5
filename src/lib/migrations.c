/* migrations.c: the numbered schema migrations, compiled in; one SQL text for every
 * back-end (@ID@ is the back-end's auto-increment primary key). Never edit a released
 * migration: add the next one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "log.h"
#include "util.h"

struct migration {
    int version;
    const char *what;
    const char *sql;
};

static const struct migration migrations[] = {
    {1, "core schema",
     "CREATE TABLE tenants (id @ID@, name TEXT NOT NULL UNIQUE,"
     " description TEXT NOT NULL DEFAULT '',"
     " blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0,1)));\n"
     "INSERT INTO tenants (id, name, description) VALUES (-1, '-', 'common to every tenant'),"
     " (0, '*', 'superadministrators'), (1, 'default', 'default tenant');\n"

     "CREATE TABLE users (id @ID@,"
     " tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
     " login TEXT NOT NULL CHECK (length(login) BETWEEN 1 AND 64),"
     " password TEXT NOT NULL, blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0,1)),"
     " description TEXT NOT NULL DEFAULT '',"
     " language TEXT NOT NULL DEFAULT 'default' CHECK (language IN ('es','en','auto','default')),"
     " created_ts INTEGER NOT NULL DEFAULT 0,"
     " UNIQUE (tenant_id, login));\n"

     "CREATE TABLE osfs (id @ID@,"
     " tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
     " name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),"
     " memory INTEGER NOT NULL DEFAULT 256 CHECK (memory > 0),"
     " use_overlay INTEGER NOT NULL DEFAULT 1 CHECK (use_overlay IN (0,1)),"
     " is_application INTEGER NOT NULL DEFAULT 0 CHECK (is_application IN (0,1)),"
     " user_storage_size INTEGER NOT NULL DEFAULT 0 CHECK (user_storage_size >= 0),"
     " description TEXT NOT NULL DEFAULT '',"
     " UNIQUE (tenant_id, name));\n"

     "CREATE TABLE dis (id @ID@,"
     " osf_id INTEGER NOT NULL REFERENCES osfs(id),"
     " path TEXT NOT NULL, version TEXT NOT NULL CHECK (length(version) BETWEEN 1 AND 64),"
     " blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0,1)),"
     " description TEXT NOT NULL DEFAULT '', created_ts INTEGER NOT NULL DEFAULT 0,"
     " UNIQUE (osf_id, version), UNIQUE (id, osf_id));\n"

     "CREATE TABLE di_runtimes (di_id INTEGER PRIMARY KEY REFERENCES dis(id) ON DELETE CASCADE,"
     " state TEXT NOT NULL DEFAULT 'published' CHECK (state IN ('new','generating','fail',"
     "'uploading','upload_stalled','verifying','ready','published','retired')),"
     " state_ts INTEGER NOT NULL DEFAULT 0, status_message TEXT NOT NULL DEFAULT '');\n"

     /* osf_id is carried so that a tag is unique per OSF in the database itself; the
      * composite key keeps it equal to the DI's OSF */
     "CREATE TABLE di_tags (id @ID@,"
     " di_id INTEGER NOT NULL, osf_id INTEGER NOT NULL,"
     " tag TEXT NOT NULL CHECK (length(tag) BETWEEN 1 AND 128),"
     " fixed INTEGER NOT NULL DEFAULT 0 CHECK (fixed IN (0,1)),"
     " FOREIGN KEY (di_id, osf_id) REFERENCES dis(id, osf_id) ON DELETE CASCADE,"
     " UNIQUE (osf_id, tag));\n"
     "CREATE INDEX di_tags_di ON di_tags(di_id);\n"

     "CREATE TABLE hosts (id @ID@, name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),"
     " address TEXT NOT NULL UNIQUE,"
     " frontend INTEGER NOT NULL DEFAULT 1 CHECK (frontend IN (0,1)),"
     " backend INTEGER NOT NULL DEFAULT 1 CHECK (backend IN (0,1)),"
     " description TEXT NOT NULL DEFAULT '');\n"

     "CREATE TABLE host_runtimes (host_id INTEGER PRIMARY KEY REFERENCES hosts(id) ON DELETE "
     "CASCADE,"
     " pid INTEGER, ok_ts INTEGER, usable_ram INTEGER NOT NULL DEFAULT 0,"
     " usable_cpu INTEGER NOT NULL DEFAULT 0,"
     " state TEXT NOT NULL DEFAULT 'stopped'"
     " CHECK (state IN ('stopped','starting','running','stopping','lost')),"
     " state_ts INTEGER NOT NULL DEFAULT 0,"
     " blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0,1)),"
     " cmd TEXT CHECK (cmd IN ('stop')));\n"

     "CREATE TABLE host_counters (host_id INTEGER PRIMARY KEY REFERENCES hosts(id) ON DELETE "
     "CASCADE,"
     " http_requests INTEGER NOT NULL DEFAULT 0, auth_attempts INTEGER NOT NULL DEFAULT 0,"
     " auth_ok INTEGER NOT NULL DEFAULT 0, nx_attempts INTEGER NOT NULL DEFAULT 0,"
     " nx_ok INTEGER NOT NULL DEFAULT 0, short_sessions INTEGER NOT NULL DEFAULT 0);\n"

     "CREATE TABLE vms (id @ID@, name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),"
     " user_id INTEGER NOT NULL REFERENCES users(id),"
     " osf_id INTEGER NOT NULL REFERENCES osfs(id),"
     " di_tag TEXT NOT NULL DEFAULT 'default',"
     " ip TEXT NOT NULL UNIQUE, mac TEXT NOT NULL UNIQUE,"
     " description TEXT NOT NULL DEFAULT '', created_ts INTEGER NOT NULL DEFAULT 0,"
     " UNIQUE (user_id, name));\n"
     "CREATE INDEX vms_osf ON vms(osf_id);\n"

     "CREATE TABLE vm_runtimes (vm_id INTEGER PRIMARY KEY REFERENCES vms(id) ON DELETE CASCADE,"
     " host_id INTEGER REFERENCES hosts(id),"
     " current_osf_id INTEGER, current_di_id INTEGER REFERENCES dis(id),"
     " user_ip TEXT, real_user_id INTEGER,"
     " vm_state TEXT NOT NULL DEFAULT 'stopped' CHECK (vm_state IN"
     " ('stopped','starting','running','stopping','zombie','debugging')),"
     " vm_state_ts INTEGER NOT NULL DEFAULT 0,"
     " vm_cmd TEXT CHECK (vm_cmd IN ('start','stop','busy')),"
     " vm_pid INTEGER,"
     " user_state TEXT NOT NULL DEFAULT 'disconnected'"
     " CHECK (user_state IN ('disconnected','connecting','connected')),"
     " user_state_ts INTEGER NOT NULL DEFAULT 0,"
     " user_cmd TEXT CHECK (user_cmd IN ('abort')),"
     " vma_ok_ts INTEGER, l7r_host_id INTEGER REFERENCES hosts(id), l7r_pid INTEGER,"
     " vm_address TEXT, vm_vma_port INTEGER, vm_x_port INTEGER, vma_secret TEXT,"
     " blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0,1)),"
     " vm_expiration_soft INTEGER, vm_expiration_hard INTEGER);\n"
     "CREATE INDEX vm_runtimes_host ON vm_runtimes(host_id);\n"

     "CREATE TABLE vm_counters (vm_id INTEGER PRIMARY KEY REFERENCES vms(id) ON DELETE CASCADE,"
     " run_attempts INTEGER NOT NULL DEFAULT 0, run_ok INTEGER NOT NULL DEFAULT 0);\n"

     "CREATE TABLE configs (tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
     " key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (tenant_id, key));\n"

     "CREATE TABLE properties (id @ID@,"
     " object TEXT NOT NULL CHECK (object IN ('user','vm','host','osf','di','tenant')),"
     " object_id INTEGER NOT NULL, key TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 128),"
     " value TEXT NOT NULL DEFAULT '', UNIQUE (object, object_id, key));\n"

     "CREATE TABLE user_tokens (token TEXT PRIMARY KEY,"
     " user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " vm_id INTEGER REFERENCES vms(id) ON DELETE CASCADE,"
     " expiration INTEGER NOT NULL, multi_use INTEGER NOT NULL DEFAULT 0);\n"},
    {2, "administrators, roles, ACLs, sessions, audit log",
     "CREATE TABLE administrators (id @ID@,"
     " tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
     " name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64), password TEXT NOT NULL,"
     " blocked INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0,1)),"
     " description TEXT NOT NULL DEFAULT '', created_ts INTEGER NOT NULL DEFAULT 0,"
     " UNIQUE (tenant_id, name));\n"

     "CREATE TABLE roles (id @ID@, tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
     " name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),"
     " fixed INTEGER NOT NULL DEFAULT 0 CHECK (fixed IN (0,1)),"
     " description TEXT NOT NULL DEFAULT '', UNIQUE (tenant_id, name));\n"

     /* acl: an ACL name or pattern (acl.h); positive 0 is an explicit negation */
     "CREATE TABLE role_acls (role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,"
     " acl TEXT NOT NULL CHECK (length(acl) BETWEEN 1 AND 128),"
     " positive INTEGER NOT NULL DEFAULT 1 CHECK (positive IN (0,1)),"
     " PRIMARY KEY (role_id, acl));\n"
     "CREATE TABLE role_roles ("
     " inheritor_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,"
     " inherited_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,"
     " CHECK (inheritor_id <> inherited_id), PRIMARY KEY (inheritor_id, inherited_id));\n"
     "CREATE TABLE administrator_roles ("
     " administrator_id INTEGER NOT NULL REFERENCES administrators(id) ON DELETE CASCADE,"
     " role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,"
     " PRIMARY KEY (administrator_id, role_id));\n"

     /* only the SHA-256 of a session token is stored */
     "CREATE TABLE admin_sessions (token_hash TEXT PRIMARY KEY,"
     " administrator_id INTEGER NOT NULL REFERENCES administrators(id) ON DELETE CASCADE,"
     " created_ts INTEGER NOT NULL, expires_ts INTEGER NOT NULL,"
     " ip TEXT NOT NULL DEFAULT '');\n"
     "CREATE INDEX admin_sessions_expires ON admin_sessions(expires_ts);\n"

     "CREATE TABLE audit_log (id @ID@, time INTEGER NOT NULL,"
     " administrator_id INTEGER, administrator TEXT NOT NULL DEFAULT '',"
     " tenant_id INTEGER, tenant TEXT NOT NULL DEFAULT '',"
     " action TEXT NOT NULL, object TEXT NOT NULL DEFAULT '', object_id INTEGER,"
     " object_name TEXT NOT NULL DEFAULT '', arguments TEXT NOT NULL DEFAULT '{}',"
     " status INTEGER NOT NULL, message TEXT NOT NULL DEFAULT '',"
     " source TEXT NOT NULL DEFAULT '', ip TEXT NOT NULL DEFAULT '');\n"
     "CREATE INDEX audit_log_tenant ON audit_log(tenant_id, id);\n"

     /* the live feed looks for recent state changes */
     "CREATE INDEX vm_runtimes_state_ts ON vm_runtimes(vm_state_ts);\n"
     "CREATE INDEX vm_runtimes_user_state_ts ON vm_runtimes(user_state_ts);\n"

     "INSERT INTO roles (tenant_id, name, fixed, description) VALUES"
     " (-1, 'master', 1, 'every ACL'),"
     " (-1, 'reader', 1, 'sees every object and field'),"
     " (-1, 'operator', 1, 'a reader that starts, stops, disconnects and blocks');\n"
     "INSERT INTO role_acls (role_id, acl, positive)"
     " SELECT id, '*', 1 FROM roles WHERE tenant_id = -1 AND name = 'master';\n"
     "INSERT INTO role_acls (role_id, acl, positive)"
     " SELECT id, '*.see', 1 FROM roles WHERE tenant_id = -1 AND name = 'reader';\n"
     "INSERT INTO role_acls (role_id, acl, positive)"
     " SELECT id, '*.see.*', 1 FROM roles WHERE tenant_id = -1 AND name = 'reader';\n"
     "INSERT INTO role_roles (inheritor_id, inherited_id)"
     " SELECT o.id, r.id FROM roles o, roles r WHERE o.tenant_id = -1 AND o.name = 'operator'"
     " AND r.tenant_id = -1 AND r.name = 'reader';\n"
     "INSERT INTO role_acls (role_id, acl, positive)"
     " SELECT r.id, a.acl, 1 FROM roles r, (SELECT 'vm.start' AS acl UNION ALL SELECT 'vm.stop'"
     " UNION ALL SELECT 'vm.disconnect' UNION ALL SELECT 'vm.block' UNION ALL SELECT 'user.block'"
     " UNION ALL SELECT 'host.block') a WHERE r.tenant_id = -1 AND r.name = 'operator';\n"},
    /* lists filter VMs and users by name across users and tenants (the unique keys lead with
     * the user and the tenant), and the log by time and by object */
    {3, "indexes for the lists of the admin API",
     "CREATE INDEX vms_name ON vms(name);\n"
     "CREATE INDEX users_login ON users(login);\n"
     "CREATE INDEX audit_log_time ON audit_log(time);\n"
     "CREATE INDEX audit_log_object ON audit_log(object, object_id);\n"},
    /* why a user's session ended, readable by any L7R of the cluster (docs/l7r.md); who
     * asked for user_cmd 'abort': 'takeover' or 'admin' (NULL: QVD's tools, an admin) */
    {4, "session endings",
     "ALTER TABLE vm_runtimes ADD COLUMN user_cmd_by TEXT"
     " CHECK (user_cmd_by IN ('takeover','admin'));\n"
     "CREATE TABLE session_ends (id TEXT PRIMARY KEY CHECK (length(id) BETWEEN 16 AND 64),"
     " user_id INTEGER NOT NULL, vm_id INTEGER NOT NULL, started_ts INTEGER NOT NULL,"
     " ended_ts INTEGER, reason TEXT CHECK (length(reason) <= 32),"
     " detail TEXT NOT NULL DEFAULT '' CHECK (length(detail) <= 200));\n"
     "CREATE INDEX session_ends_started ON session_ends(started_ts);\n"},
    /* a cluster (docs/cluster.md): each node's VM subnet (CIDR; '' = the one VM network of
     * a single node), and when and by which node a lost node was declared lost */
    {5, "cluster nodes",
     "ALTER TABLE hosts ADD COLUMN vm_subnet TEXT NOT NULL DEFAULT ''"
     " CHECK (length(vm_subnet) <= 18);\n"
     "ALTER TABLE host_runtimes ADD COLUMN lost_ts INTEGER;\n"
     "ALTER TABLE host_runtimes ADD COLUMN lost_by INTEGER;\n"},
    /* `host evacuate` (docs/admin.md) is the operator's, like `host block` */
    {6, "host.evacuate for operators",
     "INSERT INTO role_acls (role_id, acl, positive)"
     " SELECT id, 'host.evacuate', 1 FROM roles WHERE tenant_id = -1 AND name = 'operator';\n"},
    /* the user slots an L7R holds, looked up by every L7R's abort check and every HKD's
     * heartbeat: a whole-table scan of vm_runtimes each time without it (bench/
     * cluster_scale.sh: the costliest statement at 20 nodes) */
    {7, "index of the user slots by L7R",
     "CREATE INDEX vm_runtimes_l7r ON vm_runtimes(l7r_host_id, l7r_pid);\n"},
};

int
qvd_db_latest_schema_version(void)
{
    return migrations[QVD_ARRAY_LEN(migrations) - 1].version;
}

int
qvd_db_schema_version(struct qvd_db *db)
{
    int64_t v = 0;
    int rc;

    /* the one statement every back-end runs before any migration */
    if (db->ops->exec_script(db, "CREATE TABLE IF NOT EXISTS versions"
                                 " (component TEXT PRIMARY KEY, version TEXT NOT NULL)") < 0)
        return -1;
    rc = qvd_db_get_int(
        db, &v, "SELECT CAST(version AS INTEGER) FROM versions WHERE component = 'schema'", NULL);
    if (rc < 0)
        return -1;
    return rc == 0 ? 0 : (int)v;
}

/* The migration text for this back-end: @ID@ and, where the back-end's INTEGER is narrower
 * than SQLite's 64 bits, the INTEGER type name (migrations write types in capitals). */
static char *
dialect(struct qvd_db *db, const char *sql)
{
    struct qvd_buf b = QVD_BUF_INIT;

    for (const char *p = sql; *p;) {
        if (strncmp(p, "@ID@", 4) == 0) {
            qvd_buf_adds(&b, db->ops->id_column);
            p += 4;
        } else if (db->ops->int_column != NULL && strncmp(p, "INTEGER", 7) == 0) {
            qvd_buf_adds(&b, db->ops->int_column);
            p += 7;
        } else {
            qvd_buf_addc(&b, *p++);
        }
    }
    return qvd_buf_steal(&b);
}

int
qvd_db_migrate(struct qvd_db *db)
{
    int current;

    if (qvd_db_begin(db) < 0)
        return -1;
    current = qvd_db_schema_version(db);
    if (current < 0)
        goto fail;
    if (current > qvd_db_latest_schema_version()) {
        qvd_seterr("the database schema (version %d) is newer than this program (version %d):"
                   " upgrade the program",
                   current, qvd_db_latest_schema_version());
        goto fail;
    }
    for (size_t i = 0; i < QVD_ARRAY_LEN(migrations); i++) {
        const struct migration *m = &migrations[i];
        char *sql, ver[16];
        int rc;

        if (m->version <= current)
            continue;
        sql = dialect(db, m->sql);
        rc = db->ops->exec_script(db, sql);
        free(sql);
        snprintf(ver, sizeof(ver), "%d", m->version);
        if (rc < 0 ||
            qvd_db_exec(db,
                        "INSERT INTO versions (component, version) VALUES ('schema', ?)"
                        " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                        "s", ver) < 0) {
            qvd_seterr("migration %d (%s) failed: %s", m->version, m->what, qvd_strerror());
            goto fail;
        }
        log_info("database migrated to schema version %d (%s)", m->version, m->what);
    }
    if (db->ops->migrated != NULL && db->ops->migrated(db) < 0)
        goto fail;
    return qvd_db_commit(db);
fail:
    qvd_db_rollback(db);
    return -1;
}
