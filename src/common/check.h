/* check: invariants that run.
 *
 * BP_ASSERT(cond) guards an invariant whose breaking would otherwise
 * corrupt state silently (a double free, a count going below zero, an
 * index out of bounds, a forbidden state change). It is active in every
 * build, release included, so its condition must be cheap; when it fails
 * it prints file:line, the function and the condition on stderr and
 * aborts: a core at the first wrong step is easier to debug than a
 * process that keeps serving from corrupt state.
 *
 * BP_INVARIANTS(why) runs only when BP_CHECK_INVARIANTS is defined (CMake
 * sets it for Debug, sanitizer and fuzz builds, never for the RelWithDebInfo
 * build the benchmarks use): `why` is a module's full consistency check
 * (sched_check, jobs_check, ...), which returns NULL when every invariant
 * holds, else a sentence naming the one broken; then it aborts with that
 * sentence. Header-only, so the pure scheduler core needs no library. */
#ifndef BP_CHECK_H
#define BP_CHECK_H

#include <stdio.h>
#include <stdlib.h>

__attribute__((cold, noreturn, unused)) static void
bp_check_fail(const char *file, int line, const char *func, const char *what, const char *detail)
{
    fprintf(stderr, "%s:%d: %s: %s%s\n", file, line, func, what, detail);
    fflush(stderr);
    abort();
}

#define BP_ASSERT(cond)                                                                            \
    ((cond) ? (void)0 : bp_check_fail(__FILE__, __LINE__, __func__, "assertion failed: ", #cond))

#ifdef BP_CHECK_INVARIANTS
#define BP_INVARIANTS(why)                                                                         \
    do {                                                                                           \
        const char *bp_why_ = (why);                                                               \
        if (bp_why_)                                                                               \
            bp_check_fail(__FILE__, __LINE__, __func__, "invariant broken: ", bp_why_);            \
    } while (0)
#else
#define BP_INVARIANTS(why) ((void)0)
#endif

#endif
