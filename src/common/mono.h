/* mono: the monotonic clock, in seconds as a double.
 *
 * Only the programs' event-loop code reads the clock; the scheduler core
 * (src/sched) never does: time is passed to it. */
#ifndef BP_MONO_H
#define BP_MONO_H

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double mono_now(void);

/* Wall-clock seconds since the Unix epoch (CLOCK_REALTIME), for logs. */
double mono_wall(void);

#endif
