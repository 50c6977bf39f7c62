/* reconf: SIGHUP's settings (see reconf.h). */
#include "reconf.h"

#include "mono.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The values of the OPT_RELOAD options (batchproxy's table) from f into c;
 * a file's path only when both name one (adding or removing the file takes
 * a restart), pointing into f until keep_path copies it. Whatever is left
 * different takes a restart (opt_changes tells reconf_apply). */
static void take_reloadable(proxy_config *c, const proxy_config *f)
{
    c->timeout = f->timeout;
    c->client_defaults.timeout = f->client_defaults.timeout;
    c->client_defaults.rate = f->client_defaults.rate;
    c->client_defaults.burst = f->client_defaults.burst;
    c->client_defaults.max_queued = f->client_defaults.max_queued;
    c->retries = f->retries;
    c->backoff_base = f->backoff_base;
    c->backoff_cap = f->backoff_cap;
    c->cache_ttl = f->cache_ttl;
    c->metrics_clients = f->metrics_clients;
    c->metrics_cache = f->metrics_cache;
    c->drain_timeout = f->drain_timeout;
    c->log_level = f->log_level;
    if (c->backends_file && f->backends_file)
        c->backends_file = f->backends_file;
    if (c->clients_file && f->clients_file)
        c->clients_file = f->clients_file;
}

/* The path p (taken from the fresh config) as the config in force keeps
 * it: `now` when it is the same text, else a copy the reconf owns (*owned),
 * the copy it replaces handed over in *drop, to be freed once nothing
 * points to it. */
static const char *keep_path(char **owned, const char *now, const char *p, char **drop)
{
    if (!p || !now || strcmp(p, now) == 0)
        return now;
    char *copy = strdup(p);
    if (!copy) {
        log_error("reload: out of memory; %s stays", now);
        return now;
    }
    *drop = *owned;
    return *owned = copy;
}

static void warn_restart(const opt_entry *e, unsigned flags, void *arg)
{
    log_warn("reload: --%s changed: it needs a restart; the value in force stays", e->name);
}

/* The names of the options that changed, for one log line. */
typedef struct names {
    char s[1024];
    size_t at;
} names;

static void note(const opt_entry *e, unsigned flags, void *arg)
{
    names *n = arg;
    if (n->at < sizeof n->s)
        n->at += (size_t)snprintf(n->s + n->at, sizeof n->s - n->at, " --%s", e->name);
}

/* The clients file at path with the clients' defaults in force; on error
 * the clients' settings in force go back to old's. */
static bool reload_clients(proxy *px, const char *path, const proxy_config *old)
{
    proxy_config *c = &px->cfg;
    char err[300];
    if (!clients_reload(&px->callers, path, &c->client_defaults, px->queue, mono_now(), err,
                        sizeof err)) {
        log_error("reload: %s; keeping the settings in force for the clients", err);
        c->timeout = old->timeout;
        c->client_defaults = old->client_defaults;
        px->api.cfg.default_deadline = c->timeout;
        return false;
    }
    c->clients_file = path;
    if (path)
        log_info("reload: clients file %s: %zu clients%s", path, px->callers.file.n,
                 px->callers.file.keys ? ", API keys required" : "");
    return true;
}

void reconf_apply(reconf *rc, proxy *px, const opt_entry *table, const proxy_config *fresh)
{
    proxy_config old = px->cfg;
    char *drop[2] = {NULL, NULL}; /* copies no longer in force */
    take_reloadable(&px->cfg, fresh);
    opt_changes(table, &px->cfg, fresh, warn_restart, NULL);
    px->cfg.backends_file =
        keep_path(&rc->backends_file, old.backends_file, px->cfg.backends_file, &drop[0]);
    const char *cpath =
        keep_path(&rc->clients_file, old.clients_file, px->cfg.clients_file, &drop[1]);
    px->cfg.clients_file = old.clients_file; /* until the file is read */

    /* The format stays (--log-format takes a restart): log_init sets the
     * level alone. */
    log_init("batchproxy", px->cfg.log_level);
    cache_set_ttl(&px->answers, px->cfg.cache_ttl);
    metrics_set_exposition(px->meter, px->cfg.metrics_clients, px->cfg.metrics_cache);
    disp_set_retries(px->pool, px->cfg.retries, px->cfg.backoff_base, px->cfg.backoff_cap);
    px->api.cfg.default_deadline = px->cfg.timeout; /* the gauge */
    proxy_reload_backends(px);
    if (!reload_clients(px, cpath, &old) && cpath != old.clients_file) {
        free(rc->clients_file); /* the copy of the path refused */
        rc->clients_file = drop[1];
        drop[1] = NULL;
    }

    names applied = {.at = 0};
    opt_changes(table, &old, &px->cfg, note, &applied);
    if (applied.at)
        log_info("reload: applied%s", applied.s);
    else
        log_info("reload: no setting changed");
    free(drop[0]);
    free(drop[1]);
}

void reconf_free(reconf *rc)
{
    free(rc->clients_file);
    free(rc->backends_file);
    rc->clients_file = rc->backends_file = NULL;
}
