/* clients: who sent a request, and what that client may do: identity (API
 * key or X-Client-Id), per-client settings from the clients file (or the
 * flags' defaults), token-bucket rate limits, weights handed to the
 * scheduler, and reloading the file on SIGHUP.
 *
 * Identity rules:
 * - when the clients file gives any client a key, every request must carry
 *   "Authorization: Bearer KEY" (the scheme in any case) naming a listed
 *   client (else 401), and
 *   X-Client-Id is ignored: a header alone proves nothing;
 * - otherwise a valid X-Client-Id names the client, and a request with
 *   neither is anonymous (client id 0): it
 *   gets the defaults, one rate bucket shared by all anonymous traffic, and
 *   the scheduler treats short and long anonymous sequences as two tenants
 *   of their own (see src/sched/share.h).
 *
 * The unlisted pool: X-Client-Id proves nothing, and anyone can invent
 * names, so when there is a clients file the names NOT in it (the overflow
 * "_other" included) are "pooled": together they are one client to the
 * others, with one weight, one rate bucket and one queue limit (the file's
 * [_unlisted] section, else the defaults; the scheduler's group
 * CLIENTS_POOL_ID), and inside the pool each name gets the defaults and a
 * fair share of the pool's. However many names a sender rotates through,
 * the listed clients keep their shares. Without a clients file nothing is
 * pooled: each name is a client of its own with the defaults.
 *
 * Client ids: each distinct name gets a small integer id, the same for the
 * scheduler and the metrics (told each new name: metrics_client_add). Id 0
 * is the anonymous client "-", id 1 the overflow "_other". At most
 * METRICS_MAX_CLIENTS names get ids; later ones share "_other"'s, so a
 * client can't grow the proxy's memory without bound. Names not in the
 * clients file get ids only while the table is less than half full, so
 * arbitrary X-Client-Id values can't take the places of the configured
 * clients (nor their settings, given per id).
 *
 * Ownership: the names and the state of each id seen live until
 * clients_fini; the state is created on first use. A reload replaces the
 * settings of every known client in place (buckets keep their tokens), so
 * nothing in flight is touched. */
#ifndef BP_CLIENTS_H
#define BP_CLIENTS_H

#include "cfile.h"
#include "htab.h"
#include "metrics.h"
#include "sched.h"
#include "tb.h"

#include <stdbool.h>
#include <stddef.h>

/* The scheduler's client id for the unlisted pool: past every client id,
 * so no name ever gets it. */
#define CLIENTS_POOL_ID METRICS_MAX_CLIENTS

typedef struct client_state {
    cfile_client cfg; /* its settings now */
    tb bucket;
    bool pooled; /* a member of the unlisted pool */
} client_state;

typedef struct client_name client_name;

typedef struct clients {
    const char *path;                       /* NULL: no clients file */
    metrics *meter;                         /* told every new id and whether it is listed */
    htab names;                             /* name -> client_name */
    client_name *name[METRICS_MAX_CLIENTS]; /* by client id */
    int nnames;
    cfile file;
    cfile_client defaults;
    client_state *state[METRICS_MAX_CLIENTS]; /* by client id; NULL until seen */
    client_state pool;                        /* the unlisted pool's settings and bucket */
    bool pool_set;                            /* the scheduler has the pool's weight and limit */
} clients;

/* Loads the clients file at path (NULL for none) and gives ids 0 and 1 to
 * the anonymous client and the overflow. Returns false with a message in
 * err (clients_fini frees what was built). */
bool clients_init(clients *c, const char *path, const cfile_client *defaults, metrics *m, char *err,
                  size_t errlen);
void clients_fini(clients *c);

/* Reads the clients file at path again (NULL: none, as before) with the
 * clients' defaults given (SIGHUP: the flags' values may have changed too):
 * on success every known client's settings and weight are replaced (and
 * whether it is listed, told to the metrics); on error nothing changes, the
 * defaults neither, and err says why. Adding or removing the file takes a
 * restart, and so does a file without API keys when the settings in force
 * have keys: that would turn authentication off. */
bool clients_reload(clients *c, const char *path, const cfile_client *defaults, sched *s,
                    double now, char *err, size_t errlen);

/* Finds who sent a request from its Authorization and X-Client-Id headers
 * (either may be NULL). Returns the client id (>= 0), or -1 with the
 * status to answer (400 or 401) and a message in why. */
int clients_identify(clients *c, const char *authorization, const char *client_id, int *status,
                     const char **why);

/* The id of a client name already known ("" or NULL: anonymous = 0), or
 * -1 for a name never given an id. */
int clients_find(const clients *c, const char *name);
/* The id for a client name, given one if new (see "Client ids" above;
 * `listed`: the name is in the clients file). */
int clients_id(clients *c, const char *name, bool listed);
/* The name of client id ("-" for an id never given). */
const char *clients_name(const clients *c, int id);

/* The state of client id (created with its settings on first use, its
 * weight given to the scheduler); NULL when out of memory. */
client_state *clients_get(clients *c, int id, sched *s, double now);

/* Takes one request from the client's rate, and from the pool's for a
 * pooled client. Returns true if allowed; otherwise *retry_after is the
 * wait in seconds and *limit the settings whose rate refused it (the
 * client's or the pool's). */
bool clients_take(clients *c, client_state *st, double now, double *retry_after,
                  const cfile_client **limit);

#endif
