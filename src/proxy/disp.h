/* disp: the dispatcher. It asks the scheduler for the next batch whenever
 * the backend is free, sends it, retries failures with exponential backoff
 * and full jitter within the members' deadlines, and resolves the jobs.
 *
 * Runs on events only: disp_kick() after anything that may allow a batch to
 * leave (a request queued, the backend answered); a timer the policy chose
 * (its bounded wait) and the retry timer re-enter the same path.
 *
 * Invariant: at most one batch is outstanding (sent, or waiting to be
 * retried); its jobs are JOB_INFLIGHT and belong to the dispatcher, which
 * destroys each once resolved, failed, or unwanted. */
#ifndef BP_DISP_H
#define BP_DISP_H

#include "proxy.h"

#include <stdbool.h>

typedef struct disp disp;

disp *disp_new(proxy *px);
/* Frees the dispatcher; an outstanding batch's jobs stay in px->jobs. */
void disp_free(disp *d);

/* Looks for work on the next loop turn (requests read in the same turn
 * join the same batch at no extra wait). */
void disp_kick(disp *d);

/* True if no batch is outstanding. */
bool disp_idle(const disp *d);

#endif
