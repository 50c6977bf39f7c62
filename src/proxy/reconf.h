/* reconf: what SIGHUP changes in a running batchproxy.
 *
 * main re-reads the settings (opt_reparse: the defaults, the --config file
 * as it is now, then the command line over it) into a fresh config, and
 * reconf_apply compares it with the one in force:
 * - the options marked OPT_RELOAD take their new values, each pushed to the
 *   module that holds it (the clients' defaults and deadline to the clients
 *   and the scheduler, the deadline's gauge to the front, the retries and
 *   the backoff to the dispatcher, the cache's ttl, the metrics'
 *   exposition, the log level; the drain timeout is read from the config
 *   where it is used);
 * - every other changed option is logged at warn, named, as needing a
 *   restart, and the value in force stays;
 * - the backends file and the clients file are re-read (a path changed
 *   from one file to another is followed; adding or removing one takes a
 *   restart). A clients file with an error keeps the clients' settings as
 *   they were, the defaults from the flags too.
 * Requests in flight are untouched.
 *
 * It sits beside proxy, above the modules it configures (main -> reconf ->
 * proxy, front, disp...): no module below includes it.
 *
 * Ownership: the fresh config is the caller's; the file paths taken from it
 * are copied into the reconf, which keeps them while the config in force
 * points to them (until reconf_free). */
#ifndef BP_RECONF_H
#define BP_RECONF_H

#include "opt.h"
#include "proxy.h"

typedef struct reconf {
    char *clients_file, *backends_file; /* copies px->cfg points to, or NULL */
} reconf;

/* Applies fresh to px as described above; logs what changed. */
void reconf_apply(reconf *rc, proxy *px, const opt_entry *table, const proxy_config *fresh);

void reconf_free(reconf *rc);

#endif
