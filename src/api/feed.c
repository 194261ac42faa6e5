/* feed.c: the live feed (GET /api/v1/events, Server-Sent Events). While someone listens,
 * a worker of the pool looks every api.events.interval ms for VMs whose state or user state
 * changed since the last look (indexed timestamps), at the hosts, and for what the nodes
 * wrote to the audit log since (a node lost, a VM restarted elsewhere); back on the loop, the
 * rows are compared with what was sent last, and each listener gets the changes its tenant
 * and ACLs let it see. The loop never waits on the database: one look at a time, and a
 * slow look only delays the next. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "api.h"
#include "config.h"
#include "err.h"
#include "log.h"
#include "model_cluster.h"
#include "model_stats.h"

#define VM_BUCKETS 4096
#define KEEPALIVE_S 15

struct vm_seen {
    struct vm_seen *next;
    int64_t id, host_id;
    char state[16], user_state[16];
};

struct host_seen {
    int64_t id;
    char state[16];
    int blocked;
};

struct listener {
    struct listener *next;
    struct api_conn *conn;
    bool superadmin;
    int64_t tenant_id;
    struct qvd_acl_set acls;
};

struct api_feed {
    struct api *api;
    struct event *tick;
    long interval_ms;
    struct listener *listeners;
    struct vm_seen *vms[VM_BUCKETS];
    struct host_seen *hosts;
    size_t nhosts;
    int64_t since;          /* epoch second of the last look */
    int64_t audit_after;    /* the newest audit log id seen (-1: none yet) */
    int64_t last_keepalive; /* epoch second */
    bool primed;            /* hosts: the first look only records them */
    bool looking;           /* a look is queued or running on a worker */
};

/* One look, filled on a worker: copies of the rows, read on the loop. */
struct look {
    struct api_feed *f;
    int64_t since, now;
    int rc;
    char err[256];
    struct vm_row {
        int64_t id, tenant_id, host_id;
        char state[16], user_state[16];
    } * vms;
    size_t nvms;
    struct host_row {
        int64_t id;
        char state[16];
        bool blocked;
    } * hosts;
    size_t nhosts;
    int64_t audit_after, audit_last;
    struct event_row {
        int64_t id, time, object_id;
        char node[80], action[32], object[16], message[512];
    } * events;
    size_t nevents;
};

/* Sends data to the listeners that see `object` (and of its fields the ones they may see,
 * unless all_fields). */
static void
send_to(struct api_feed *f, const char *event, int64_t tenant_id, json_t *data, const char *object,
        bool all_fields)
{
    char acl[96];
    struct listener *l, *next;

    for (l = f->listeners; l; l = next) {
        next = l->next; /* a slow listener is removed while we go */
        snprintf(acl, sizeof(acl), "%s.see", object);
        if (!qvd_acl_has(&l->acls, acl))
            continue;
        if (!l->superadmin && tenant_id != -2 && tenant_id != l->tenant_id)
            continue;
        /* field-level ACLs: only the fields this listener may see */
        json_t *d = json_object();
        const char *key;
        json_t *v;
        json_object_foreach(data, key, v)
        {
            snprintf(acl, sizeof(acl), "%s.see.%s", object, key);
            if (all_fields || strcmp(key, "id") == 0 || qvd_acl_has(&l->acls, acl))
                json_object_set(d, key, v);
        }
        char *text = json_dumps(d, JSON_COMPACT);
        struct qvd_buf b = QVD_BUF_INIT;
        qvd_buf_printf(&b, "event: %s\ndata: %s\n\n", event, text);
        api_conn_stream(l->conn, b.data, b.len);
        qvd_buf_free(&b);
        free(text);
        json_decref(d);
    }
}

static void
send_all(struct api_feed *f, const char *event, int64_t tenant_id, json_t *data, const char *object)
{
    send_to(f, event, tenant_id, data, object, false);
}

/* What a node did to the cluster, as the audit log says it: to whoever sees the hosts. */
static void
put_event(struct api_feed *f, const struct event_row *e)
{
    json_t *d =
        json_pack("{s:I,s:I,s:s,s:s,s:s,s:s}", "id", (json_int_t)e->id, "time", (json_int_t)e->time,
                  "node", e->node, "action", e->action, "object", e->object, "message", e->message);

    json_object_set_new(d, "object_id",
                        e->object_id >= 0 ? json_integer(e->object_id) : json_null());
    send_to(f, "cluster", -2, d, "host", true);
    json_decref(d);
}

static struct vm_seen *
vm_find(struct api_feed *f, int64_t id, bool create)
{
    struct vm_seen **head = &f->vms[(uint64_t)id % VM_BUCKETS], *v;

    for (v = *head; v; v = v->next)
        if (v->id == id)
            return v;
    if (!create)
        return NULL;
    v = qvd_xcalloc(1, sizeof(*v));
    v->id = id;
    v->host_id = -2;
    v->next = *head;
    *head = v;
    return v;
}

static void
put_vm(void *arg, const struct qvd_model_vm_seen *s)
{
    struct api_feed *f = arg;
    struct vm_seen *v = vm_find(f, s->id, true);

    if (v->host_id == s->host_id && strcmp(v->state, s->state) == 0 &&
        strcmp(v->user_state, s->user_state) == 0)
        return;
    snprintf(v->state, sizeof(v->state), "%s", s->state);
    snprintf(v->user_state, sizeof(v->user_state), "%s", s->user_state);
    v->host_id = s->host_id;
    json_t *d = json_pack("{s:I,s:I,s:s,s:s}", "id", (json_int_t)s->id, "tenant_id",
                          (json_int_t)s->tenant_id, "state", s->state, "user_state", s->user_state);
    json_object_set_new(d, "host_id", s->host_id >= 0 ? json_integer(s->host_id) : json_null());
    send_all(f, "vm", s->tenant_id, d, "vm");
    json_decref(d);
}

static void
put_host(void *arg, const struct qvd_model_host_seen *s)
{
    struct api_feed *f = arg;
    struct host_seen *h = NULL;

    for (size_t i = 0; i < f->nhosts; i++)
        if (f->hosts[i].id == s->id)
            h = &f->hosts[i];
    if (h == NULL) {
        f->hosts = qvd_xrealloc(f->hosts, (f->nhosts + 1) * sizeof(*f->hosts));
        h = &f->hosts[f->nhosts++];
        memset(h, 0, sizeof(*h));
        h->id = s->id;
        h->blocked = -1;
    }
    if (strcmp(h->state, s->state) == 0 && h->blocked == (int)s->blocked)
        return;
    snprintf(h->state, sizeof(h->state), "%s", s->state);
    h->blocked = s->blocked;
    if (!f->primed)
        return;
    json_t *d = json_pack("{s:I,s:s,s:b}", "id", (json_int_t)s->id, "state", s->state, "blocked",
                          (int)s->blocked);
    send_all(f, "host", -2, d, "host");
    json_decref(d);
}

/* On a worker: copies of the rows (the model's strings live during its call only). */
static void
keep_vm(void *arg, const struct qvd_model_vm_seen *s)
{
    struct look *k = arg;
    struct vm_row *r;

    k->vms = qvd_xrealloc(k->vms, (k->nvms + 1) * sizeof(*k->vms));
    r = &k->vms[k->nvms++];
    r->id = s->id;
    r->tenant_id = s->tenant_id;
    r->host_id = s->host_id;
    snprintf(r->state, sizeof(r->state), "%s", s->state);
    snprintf(r->user_state, sizeof(r->user_state), "%s", s->user_state);
}

static void
keep_host(void *arg, const struct qvd_model_host_seen *s)
{
    struct look *k = arg;
    struct host_row *r;

    k->hosts = qvd_xrealloc(k->hosts, (k->nhosts + 1) * sizeof(*k->hosts));
    r = &k->hosts[k->nhosts++];
    r->id = s->id;
    r->blocked = s->blocked;
    snprintf(r->state, sizeof(r->state), "%s", s->state);
}

static void
keep_event(void *arg, const struct qvd_model_cluster_event *e)
{
    struct look *k = arg;
    struct event_row *r;

    k->events = qvd_xrealloc(k->events, (k->nevents + 1) * sizeof(*k->events));
    r = &k->events[k->nevents++];
    r->id = e->id;
    r->time = e->time;
    r->object_id = e->object_id;
    snprintf(r->node, sizeof(r->node), "%s", e->node ? e->node : "");
    snprintf(r->action, sizeof(r->action), "%s", e->action ? e->action : "");
    snprintf(r->object, sizeof(r->object), "%s", e->object ? e->object : "");
    snprintf(r->message, sizeof(r->message), "%s", e->message ? e->message : "");
}

static void
look_work(void *data, struct qvd_db *db)
{
    struct look *k = data;

    k->rc = qvd_model_vm_changes(db, k->since, keep_vm, k);
    if (k->rc == 0)
        k->rc = qvd_model_host_states(db, keep_host, k);
    if (k->rc == 0)
        k->rc = qvd_model_cluster_events(db, k->audit_after, keep_event, k, &k->audit_last);
    if (k->rc < 0)
        snprintf(k->err, sizeof(k->err), "%s", qvd_strerror());
}

static void
look_drop(void *data)
{
    struct look *k = data;

    free(k->vms);
    free(k->hosts);
    free(k->events);
    free(k);
}

static void on_tick(evutil_socket_t fd, short what, void *arg);

/* Back on the loop: what changed goes to the listeners; the next look is timed. */
static void
look_back(void *data)
{
    struct look *k = data;
    struct api_feed *f = k->f;

    f->looking = false;
    if (k->rc < 0) {
        log_warn("live feed: %s", k->err);
    } else if (f->listeners != NULL) {
        for (size_t i = 0; i < k->nvms; i++) {
            struct vm_row *r = &k->vms[i];
            struct qvd_model_vm_seen s = {r->id, r->tenant_id, r->host_id, r->state, r->user_state};
            put_vm(f, &s);
        }
        for (size_t i = 0; i < k->nhosts; i++) {
            struct host_row *r = &k->hosts[i];
            struct qvd_model_host_seen s = {r->id, r->state, r->blocked};
            put_host(f, &s);
        }
        for (size_t i = 0; i < k->nevents; i++)
            put_event(f, &k->events[i]);
        f->primed = true; /* hosts: the first look records them */
        f->since = k->now;
        f->audit_after = k->audit_last;
    }
    look_drop(k);
    if (f->listeners != NULL) {
        struct timeval tv = {f->interval_ms / 1000, (f->interval_ms % 1000) * 1000};
        evtimer_add(f->tick, &tv);
    }
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct api_feed *f = arg;
    int64_t now = time(NULL);

    if (f->listeners == NULL || f->looking)
        return; /* a look under way times the next one when it comes back */
    if (now - f->last_keepalive >= KEEPALIVE_S) {
        struct listener *l, *next;
        for (l = f->listeners; l; l = next) {
            next = l->next;
            api_conn_stream(l->conn, ": keep-alive\n\n", 14);
        }
        f->last_keepalive = now;
    }
    struct look *k = qvd_xcalloc(1, sizeof(*k));
    k->f = f;
    k->since = f->since - 1;
    k->now = now;
    k->audit_after = f->audit_after;
    f->looking = true;
    api_pool_run(f->api, look_work, look_back, look_drop, k);
}

int
api_feed_start(struct api *a)
{
    struct api_feed *f = qvd_xcalloc(1, sizeof(*f));

    f->api = a;
    f->interval_ms = qvd_config_int(a->cfg, "api.events.interval");
    if (f->interval_ms < 10)
        f->interval_ms = 10;
    f->tick = evtimer_new(a->base, on_tick, f);
    a->feed = f;
    return 0;
}

void
api_feed_add(struct api *a, struct api_conn *c, const struct api_response *who)
{
    struct api_feed *f = a->feed;
    struct listener *l = qvd_xcalloc(1, sizeof(*l));

    l->conn = c;
    l->superadmin = who->superadmin;
    l->tenant_id = who->tenant_id;
    l->acls = who->acls;
    if (f->listeners == NULL) {
        /* the first listener: changes from now on (what was sent before is forgotten; a VM
         * seen for the first time counts as changed) */
        for (int i = 0; i < VM_BUCKETS; i++)
            while (f->vms[i]) {
                struct vm_seen *v = f->vms[i];
                f->vms[i] = v->next;
                free(v);
            }
        f->since = time(NULL);
        f->audit_after = -1; /* the first look only finds where the log ends */
        f->last_keepalive = f->since;
        f->primed = f->nhosts > 0;
        l->next = NULL;
        f->listeners = l;
        on_tick(-1, 0, f);
        return;
    }
    l->next = f->listeners;
    f->listeners = l;
}

void
api_feed_remove(struct api *a, struct api_conn *c)
{
    struct api_feed *f = a->feed;

    for (struct listener **p = &f->listeners; *p; p = &(*p)->next)
        if ((*p)->conn == c) {
            struct listener *l = *p;
            *p = l->next;
            free(l);
            return;
        }
}

void
api_feed_stop(struct api *a)
{
    struct api_feed *f = a->feed;

    if (f == NULL)
        return;
    while (f->listeners)
        api_feed_remove(a, f->listeners->conn);
    for (int i = 0; i < VM_BUCKETS; i++)
        while (f->vms[i]) {
            struct vm_seen *v = f->vms[i];
            f->vms[i] = v->next;
            free(v);
        }
    free(f->hosts);
    event_free(f->tick);
    free(f);
    a->feed = NULL;
}
