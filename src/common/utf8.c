/* utf8: strict UTF-8 validation and code-point counting (see utf8.h). */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

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

/* Width of the valid sequence at p[i..n), 0 if it is not one. */
static size_t valid_width(const uint8_t *p, size_t n, size_t i)
{
    uint8_t b = p[i];
    int w = lead_width(b);
    if (w == 0 || n - i < (size_t)w)
        return 0;
    if (w == 1)
        return 1;
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
        return 0;
    for (int k = 2; k < w; k++)
        if ((p[i + k] & 0xC0) != 0x80)
            return 0;
    return (size_t)w;
}

bool utf8_length(const char *s, size_t n, size_t *len)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0, count = 0;

    while (i < n) {
        if (p[i] < 0x80) { /* fast path for ASCII */
            i++;
            count++;
            continue;
        }
        size_t w = valid_width(p, n, i);
        if (w == 0)
            return false;
        i += w;
        count++;
    }
    if (len)
        *len = count;
    return true;
}

bool utf8_next(const char *s, size_t n, size_t *i, uint32_t *cp)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t w = valid_width(p, n, *i);
    if (w == 0)
        return false;
    static const uint8_t lead_mask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t c = p[*i] & lead_mask[w];
    for (size_t k = 1; k < w; k++)
        c = (c << 6) | (p[*i + k] & 0x3F);
    *i += w;
    *cp = c;
    return true;
}

static bool is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

size_t utf8_printable(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    /* Invariant: o <= i, so copying in place never overwrites unread input. */
    for (size_t i = 0; i < n;) {
        size_t at = i;
        uint32_t cp;
        bool valid = utf8_next(s, n, &i, &cp);
        if (!valid)
            i = at + 1; /* one '?' for each byte of an invalid sequence */
        bool keep = valid && !is_control(cp);
        size_t w = keep ? i - at : 1;
        if (o + w + 1 > cap)
            break;
        if (keep)
            memmove(dst + o, s + at, w);
        else
            dst[o] = '?';
        o += w;
    }
    dst[o] = '\0';
    return o;
}
