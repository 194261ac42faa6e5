/* config_db.c: overlays a configuration with the `configs` table (global row, then tenant). */
#include <stddef.h>

#include "config.h"
#include "db.h"
#include "err.h"

/* Applies the global rows (tenant -1) and then, if tenant_id >= 0, that tenant's rows. */
int
qvd_config_load_db(struct qvd_config *cfg, struct qvd_db *db, long long tenant_id)
{
    struct qvd_stmt *st = qvd_db_query(db,
                                       "SELECT key, value FROM configs WHERE tenant_id = -1"
                                       " OR tenant_id = ? ORDER BY tenant_id = -1 DESC",
                                       "i", (int64_t)tenant_id);
    int rc;

    if (st == NULL)
        return -1;
    while ((rc = qvd_db_step(st)) == 1)
        if (qvd_config_set(cfg, qvd_db_text(st, 0), qvd_db_text(st, 1)) < 0) {
            rc = -1;
            break;
        }
    qvd_db_done(st);
    return rc;
}
