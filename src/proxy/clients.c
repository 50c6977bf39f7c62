/* clients: identity, per-client settings, rate limits, reload (see clients.h). */
#include "clients.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool clients_init(clients *c, const char *path, const cfile_client *defaults, char *err,
                  size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->path = path;
    c->defaults = *defaults;
    return !path || cfile_load(path, defaults, &c->file, err, errlen);
}

void clients_fini(clients *c)
{
    for (size_t i = 0; i < METRICS_MAX_CLIENTS; i++)
        free(c->state[i]);
    cfile_free(&c->file);
}

/* The settings a client gets: its section of the file, else the defaults. */
static cfile_client settings_for(const clients *c, const char *name, int id)
{
    const cfile_client *listed = id > 0 ? cfile_find(&c->file, name) : NULL;
    cfile_client cfg = listed ? *listed : c->defaults;
    snprintf(cfg.name, sizeof cfg.name, "%s", name);
    return cfg;
}

static void apply(client_state *st, const cfile_client *cfg, int id, sched *s, double now)
{
    st->cfg = *cfg;
    tb_configure(&st->bucket, cfg->rate, cfg->burst, now);
    sched_set_weight(s, id, cfg->weight);
}

bool clients_reload(clients *c, metrics *m, sched *s, double now, char *err, size_t errlen)
{
    if (!c->path) {
        snprintf(err, errlen, "no clients file to reload (--clients not given)");
        return false;
    }
    cfile fresh;
    if (!cfile_load(c->path, &c->defaults, &fresh, err, errlen))
        return false;
    cfile_free(&c->file);
    c->file = fresh;
    for (int id = 0; id < METRICS_MAX_CLIENTS; id++) {
        client_state *st = c->state[id];
        if (st) {
            cfile_client cfg = settings_for(c, st->cfg.name, id);
            apply(st, &cfg, id, s, now);
            metrics_client_listed(m, id, id > 0 && cfile_find(&c->file, st->cfg.name));
        }
    }
    return true;
}

int clients_identify(clients *c, metrics *m, const char *authorization, const char *client_id,
                     int *status, const char **why)
{
    if (c->file.keys) {
        static const char bearer[] = "Bearer ";
        const cfile_client *who = NULL;
        if (authorization && strncmp(authorization, bearer, sizeof bearer - 1) == 0)
            who = cfile_by_key(&c->file, authorization + sizeof bearer - 1);
        if (!who) {
            *status = 401;
            *why = authorization ? "unknown API key"
                                 : "an API key is required "
                                   "(Authorization: Bearer KEY)";
            return -1;
        }
        return metrics_client_id(m, who->name, true);
    }
    if (client_id && !cfile_valid_name(client_id)) {
        *status = 400;
        *why = "X-Client-Id must be 1-64 characters of [A-Za-z0-9._-], and not '-' (the "
               "anonymous client) or '_other' (the overflow)";
        return -1;
    }
    /* The file is searched only for a name without an id yet: not on the
     * path of every request. */
    int id = metrics_client_find(m, client_id);
    return id >= 0 ? id : metrics_client_id(m, client_id, cfile_find(&c->file, client_id) != NULL);
}

client_state *clients_get(clients *c, int id, metrics *m, sched *s, double now)
{
    if (id < 0 || id >= METRICS_MAX_CLIENTS)
        id = 0;
    if (!c->state[id]) {
        client_state *st = calloc(1, sizeof *st);
        if (!st)
            return NULL;
        cfile_client cfg = settings_for(c, metrics_client_name(m, id), id);
        tb_init(&st->bucket, cfg.rate, cfg.burst, now);
        apply(st, &cfg, id, s, now);
        c->state[id] = st;
    }
    return c->state[id];
}

bool clients_take(client_state *st, double now, double *retry_after)
{
    return tb_take(&st->bucket, now, retry_after);
}
