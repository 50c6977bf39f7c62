/* health: consecutive-failure ejection with growing periods (see health.h). */
#include "health.h"

#include <math.h>

void health_init(health *h, const health_config *cfg)
{
    *h = (health){.cfg = *cfg, .readmitted = -1};
}

void health_success(health *h)
{
    h->failures = 0;
}

bool health_failure(health *h, double now, bool may_eject)
{
    h->failures++;
    if (h->ejected || h->cfg.failures <= 0 || h->failures < h->cfg.failures || !may_eject)
        return false;
    /* Healthy for a long while since the last re-admission: forgive. */
    if (h->readmitted >= 0 && now - h->readmitted >= h->cfg.max)
        h->ejections_in_row = 0;
    h->ejections_in_row++;
    double period = h->cfg.base * pow(2, h->ejections_in_row - 1);
    h->ejected = true;
    h->until = now + (period < h->cfg.max ? period : h->cfg.max);
    h->ejections++;
    return true;
}

bool health_probe(health *h, double now, bool ok)
{
    if (!h->ejected || !ok || now < h->until)
        return false;
    h->ejected = false;
    h->failures = 0;
    h->readmitted = now;
    return true;
}

bool health_usable(const health *h)
{
    return !h->ejected;
}
