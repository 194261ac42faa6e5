/* cluster.c: this node's share of watching the others (docs/cluster.md, model_cluster.h).
 * After each heartbeat the node looks for nodes whose heartbeat is older than
 * hkd.cluster.node.timeout, and takes over what they ran (slots released, VMs restarted
 * elsewhere). Every node looks; a PostgreSQL advisory lock lets one act at a time, and the
 * lost node's row, changed in the same transaction, keeps the next one from acting again.
 *
 * The look runs on the database worker (dbq.c), never on the loop. A node looks only once
 * its own heartbeats have succeeded one after the other for hkd.cluster.node.timeout: when
 * the database itself was away, every node's heartbeat is old, and the first node back must
 * not declare all the others lost before they had the time to heartbeat again. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "hkd.h"
#include "log.h"
#include "model_cluster.h"
#include "util.h"

/* On the worker: the look; what it did goes to j->text, one line each. */
static void
said(void *arg, const char *line)
{
    struct hkd_job *j = arg;

    qvd_buf_adds(&j->text, line);
    qvd_buf_addc(&j->text, '\n');
}

static int
run_check(struct qvd_db *db, struct hkd_job *j)
{
    int rc = qvd_model_cluster_check(db, j->cfg, j->host_id, j->name, said, j);

    if (rc >= 0)
        j->value = rc;
    return rc < 0 ? -1 : 0;
}

static void
checked(struct hkd *hkd, struct hkd_job *j)
{
    char *text = (char *)qvd_buf_str(&j->text), *line, *save = NULL;

    hkd->cluster_busy = false;
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
        log_warn("cluster: %s", line);
    if (j->rc < 0)
        log_warn("cluster: the look for lost nodes failed: %s", j->err);
}

void
hkd_cluster_ticked(struct hkd *hkd, bool ok)
{
    int64_t now = qvd_mono_ms(),
            gap = 1000 * (2 * qvd_config_int(hkd->cfg, "hkd.ticker.delay") + 1);
    struct hkd_job *j;

    /* a failed heartbeat, or one that came late (the database was slow or away), starts
     * the count again */
    if (!ok) {
        hkd->cluster_ok_since_ms = 0;
        return;
    }
    if (hkd->cluster_ok_since_ms == 0 || now - hkd->cluster_last_ok_ms > gap)
        hkd->cluster_ok_since_ms = now;
    hkd->cluster_last_ok_ms = now;
    if (hkd->stopping || hkd->cluster_busy ||
        now - hkd->cluster_ok_since_ms <
            1000 * qvd_config_int(hkd->cfg, "hkd.cluster.node.timeout"))
        return;
    j = hkd_job_new(run_check, checked, NULL);
    j->cfg = hkd->cfg;
    j->name = hkd->nodename;
    hkd->cluster_busy = true;
    hkd_db_submit(hkd, j);
}
