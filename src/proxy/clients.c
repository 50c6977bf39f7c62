/* clients: identity, per-client settings, rate limits, reload (see clients.h). */
#include "clients.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One interned name: its id is its index in clients.name. */
struct client_name {
    htab_node node;
    char name[CFILE_NAME_MAX + 1];
    int id;
};

/* A new id for name (not known yet), told to the metrics; -1 when out of
 * memory. */
static int add_name(clients *c, const char *name, bool listed)
{
    client_name *cn = malloc(sizeof *cn);
    if (!cn)
        return -1;
    snprintf(cn->name, sizeof cn->name, "%s", name);
    int id = cn->id = c->nnames;
    if (!metrics_client_add(c->meter, id, cn->name, listed)) {
        free(cn);
        return -1;
    }
    cn->node.key = cn->name;
    cn->node.klen = strlen(cn->name);
    cn->node.hash = htab_hash(&c->names, cn->name, cn->node.klen);
    htab_insert(&c->names, &cn->node);
    c->name[c->nnames++] = cn;
    return id;
}

bool clients_init(clients *c, const char *path, const cfile_client *defaults, metrics *m, char *err,
                  size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->path = path;
    c->defaults = *defaults;
    c->meter = m;
    /* Ids 0 and 1 always exist: the anonymous client and the overflow. */
    if (!htab_init(&c->names, 64) || add_name(c, "-", false) != 0 ||
        add_name(c, "_other", false) != 1) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    if (path && !cfile_load(path, defaults, &c->file, err, errlen))
        return false;
    c->pool.cfg = c->file.unlisted;
    tb_init(&c->pool.bucket, c->pool.cfg.rate, c->pool.cfg.burst, 0);
    return true;
}

void clients_fini(clients *c)
{
    for (size_t i = 0; i < METRICS_MAX_CLIENTS; i++)
        free(c->state[i]);
    for (int i = 0; i < c->nnames; i++)
        free(c->name[i]);
    c->nnames = 0;
    if (c->names.slots)
        htab_fini(&c->names);
    cfile_free(&c->file);
}

int clients_find(const clients *c, const char *name)
{
    if (!name || !*name)
        return 0;
    size_t len = strlen(name);
    const client_name *cn =
        (const client_name *)htab_find(&c->names, name, len, htab_hash(&c->names, name, len));
    return cn ? cn->id : -1;
}

int clients_id(clients *c, const char *name, bool listed)
{
    int id = clients_find(c, name);
    if (id >= 0)
        return id;
    if (c->nnames >= (listed ? METRICS_MAX_CLIENTS : METRICS_MAX_CLIENTS / 2))
        return 1;
    id = add_name(c, name, listed);
    return id >= 0 ? id : 1;
}

const char *clients_name(const clients *c, int id)
{
    return id >= 0 && id < c->nnames ? c->name[id]->name : "-";
}

/* The settings a client gets: its section of the file, else the defaults
 * (with the pool's deadline when pooled); and whether it is pooled. */
static cfile_client settings_for(const clients *c, const char *name, int id, bool *pooled)
{
    const cfile_client *listed = id > 0 ? cfile_find(&c->file, name) : NULL;
    cfile_client cfg = listed ? *listed : c->defaults;
    *pooled = c->path && id > 0 && !listed;
    if (*pooled)
        cfg.timeout = c->file.unlisted.timeout;
    snprintf(cfg.name, sizeof cfg.name, "%s", name);
    return cfg;
}

static void apply(client_state *st, const cfile_client *cfg, bool pooled, int id, sched *s,
                  double now)
{
    st->cfg = *cfg;
    st->pooled = pooled;
    tb_configure(&st->bucket, cfg->rate, cfg->burst, now);
    sched_set_weight(s, id, cfg->weight);
    sched_set_group(s, id, pooled ? CLIENTS_POOL_ID : 0);
}

/* The pool's settings, as the file says now, to its bucket and the scheduler. */
static void apply_pool(clients *c, sched *s, double now)
{
    c->pool.cfg = c->file.unlisted;
    tb_configure(&c->pool.bucket, c->pool.cfg.rate, c->pool.cfg.burst, now);
    c->pool_set = sched_set_weight(s, CLIENTS_POOL_ID, c->pool.cfg.weight) &&
                  sched_set_group_limit(s, CLIENTS_POOL_ID, c->pool.cfg.max_queued);
}

bool clients_reload(clients *c, const char *path, const cfile_client *defaults, sched *s,
                    double now, char *err, size_t errlen)
{
    if (!c->path != !path) {
        snprintf(err, errlen, "%s a clients file takes a restart", path ? "adding" : "removing");
        return false;
    }
    cfile fresh = {0};
    if (path && !cfile_load(path, defaults, &fresh, err, errlen))
        return false;
    /* A file that gives no key where the old one did would turn
     * authentication off: that is what a half-written or emptied file looks
     * like, so it takes a restart, never a reload. */
    if (c->file.keys && !fresh.keys) {
        snprintf(err, errlen,
                 "%s gives no API key, which would turn authentication off (that takes a "
                 "restart)",
                 path);
        cfile_free(&fresh);
        return false;
    }
    cfile_free(&c->file);
    c->file = fresh;
    c->path = path;
    c->defaults = *defaults;
    if (path)
        apply_pool(c, s, now);
    for (int id = 0; id < METRICS_MAX_CLIENTS; id++) {
        client_state *st = c->state[id];
        if (st) {
            bool pooled;
            cfile_client cfg = settings_for(c, st->cfg.name, id, &pooled);
            apply(st, &cfg, pooled, id, s, now);
            metrics_client_listed(c->meter, id, id > 0 && cfile_find(&c->file, st->cfg.name));
        }
    }
    return true;
}

/* The token of "Bearer TOKEN", or NULL. The scheme is case-insensitive and
 * followed by one or more spaces (RFC 9110, 11.4 and 11.6.2). */
static const char *bearer_token(const char *authorization)
{
    static const char bearer[] = "Bearer";
    if (!authorization || strncasecmp(authorization, bearer, sizeof bearer - 1) != 0 ||
        authorization[sizeof bearer - 1] != ' ')
        return NULL;
    const char *t = authorization + sizeof bearer - 1;
    while (*t == ' ')
        t++;
    return t;
}

int clients_identify(clients *c, const char *authorization, const char *client_id, int *status,
                     const char **why)
{
    if (c->file.keys) {
        const char *key = bearer_token(authorization);
        const cfile_client *who = key ? cfile_by_key(&c->file, key) : NULL;
        if (!who) {
            *status = 401;
            *why = authorization ? "unknown API key"
                                 : "an API key is required "
                                   "(Authorization: Bearer KEY)";
            return -1;
        }
        return clients_id(c, who->name, true);
    }
    if (client_id && !cfile_valid_name(client_id)) {
        *status = 400;
        *why = "X-Client-Id must be 1-64 characters of [A-Za-z0-9._-], and not '-' (the "
               "anonymous client), '_other' (the overflow) or '_unlisted' (the pool of clients "
               "not in the clients file)";
        return -1;
    }
    /* The file is searched only for a name without an id yet: not on the
     * path of every request. */
    int id = clients_find(c, client_id);
    return id >= 0 ? id : clients_id(c, client_id, cfile_find(&c->file, client_id) != NULL);
}

client_state *clients_get(clients *c, int id, sched *s, double now)
{
    if (id < 0 || id >= METRICS_MAX_CLIENTS)
        id = 0;
    if (!c->state[id]) {
        if (c->path && !c->pool_set)
            apply_pool(c, s, now);
        client_state *st = calloc(1, sizeof *st);
        if (!st)
            return NULL;
        bool pooled;
        cfile_client cfg = settings_for(c, clients_name(c, id), id, &pooled);
        tb_init(&st->bucket, cfg.rate, cfg.burst, now);
        apply(st, &cfg, pooled, id, s, now);
        c->state[id] = st;
    }
    return c->state[id];
}

bool clients_take(clients *c, client_state *st, double now, double *retry_after,
                  const cfile_client **limit)
{
    const tb *refused;
    if (tb_take_both(&st->bucket, st->pooled ? &c->pool.bucket : NULL, now, retry_after, &refused))
        return true;
    *limit = refused == &st->bucket ? &st->cfg : &c->pool.cfg;
    return false;
}
