/* utf8: strict UTF-8 validation and code-point counting (see utf8.h). */
#include "utf8.h"

#include <stdint.h>

/* Length of the sequence a lead byte announces, 0 for a byte that can't lead.
 * C0/C1 would only start overlong 2-byte forms; F5..FF would exceed U+10FFFF. */
static int lead_width(uint8_t b)
{
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        return 2;
    if (b >= 0xE0 && b <= 0xEF)
        return 3;
    if (b >= 0xF0 && b <= 0xF4)
        return 4;
    return 0;
}

bool utf8_length(const char *s, size_t n, size_t *len)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0, count = 0;

    while (i < n) {
        uint8_t b = p[i];
        if (b < 0x80) { /* fast path for ASCII */
            i++;
            count++;
            continue;
        }
        int w = lead_width(b);
        if (w == 0 || n - i < (size_t)w)
            return false;
        /* The second byte's range is narrowed for the leads where the plain
         * 80..BF range would admit overlongs (E0, F0), surrogates (ED) or
         * values above U+10FFFF (F4). */
        uint8_t lo = 0x80, hi = 0xBF;
        if (b == 0xE0)
            lo = 0xA0;
        else if (b == 0xED)
            hi = 0x9F;
        else if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return false;
        for (int k = 2; k < w; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
        i += (size_t)w;
        count++;
    }
    if (len)
        *len = count;
    return true;
}
