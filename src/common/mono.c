/* mono: the monotonic clock (see mono.h). */
#include "mono.h"

#include <time.h>

static double read_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double mono_now(void)
{
    return read_clock(CLOCK_MONOTONIC);
}

double mono_wall(void)
{
    return read_clock(CLOCK_REALTIME);
}
