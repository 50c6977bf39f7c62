/* wl, the workload: client specs, trace planning, text generation and trace CSV (see wl.h). */
#include "wl.h"

#include "opt.h"

#include "errbuf.h"
#include "utf8.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- PRNG ---- */

uint64_t wl_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void wl_rng_seed(wl_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15ULL;
        r->s[i] = wl_mix(seed);
    }
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t wl_rng_next(wl_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double wl_rng_unit(wl_rng *r)
{
    return (double)(wl_rng_next(r) >> 11) * 0x1.0p-53;
}

double wl_rng_uniform(wl_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * wl_rng_unit(r);
}

uint64_t wl_rng_below(wl_rng *r, uint64_t n)
{
    /* Rejection avoids modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = wl_rng_next(r);
    } while (x >= limit);
    return x % n;
}

/* ---- SPEC parsing ---- */

static bool parse_num(const char *s, const char **end, double *out)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (e == s || errno || !isfinite(v) || v < 0 || !(isdigit((unsigned char)*s) || *s == '.'))
        return false;
    *out = v;
    *end = e;
    return true;
}

/* "X" or "X-Y", seconds in [0, WL_MAX_SECONDS]. */
static bool parse_range(const char *s, wl_range *r)
{
    const char *e;
    if (!parse_num(s, &e, &r->lo))
        return false;
    r->hi = r->lo;
    if (*e == '-' && !parse_num(e + 1, &e, &r->hi))
        return false;
    return *e == '\0' && r->lo <= r->hi && r->hi <= WL_MAX_SECONDS;
}

static bool parse_whole(const char *s, const char **end, size_t min, size_t max, size_t *out)
{
    char *e;
    if (!isdigit((unsigned char)*s))
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 10);
    if (errno || v < min || v > max)
        return false;
    *out = (size_t)v;
    *end = e;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "1")) {
        *out = true;
        return true;
    }
    if (!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "0")) {
        *out = false;
        return true;
    }
    return false;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > WL_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
            return false;
    return true;
}

static bool parse_arrival(const char *v, wl_client *c, char *err, size_t errlen)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    char *save = NULL;
    char *kind = strtok_r(buf, ":", &save);
    if (kind && !strcmp(kind, "burst")) {
        char *k = strtok_r(NULL, ":", &save), *in = strtok_r(NULL, ":", &save),
             *between = strtok_r(NULL, ":", &save), *extra = strtok_r(NULL, ":", &save);
        const char *e;
        if (!k || !in || !between || extra)
            return errbuf_set(err, errlen, "arrival=burst needs burst:K:IN:BETWEEN, got '%s'", v);
        if (!parse_whole(k, &e, 1, 1000000, &c->burst) || *e)
            return errbuf_set(err, errlen, "arrival=burst: K '%s' is not a whole number >= 1", k);
        if (!parse_range(in, &c->gap) || !parse_range(between, &c->between))
            return errbuf_set(
                err, errlen,
                "arrival=burst: gaps must be seconds, X or X-Y with X <= Y <= %g, got '%s'",
                WL_MAX_SECONDS, v);
        c->arrival = WL_ARR_BURST;
        return true;
    }
    if (kind && !strcmp(kind, "steady")) {
        char *gap = strtok_r(NULL, "", &save);
        if (!gap || !parse_range(gap, &c->gap))
            return errbuf_set(
                err, errlen,
                "arrival=steady needs steady:GAP (seconds, X or X-Y, at most %g), got '%s'",
                WL_MAX_SECONDS, v);
        c->arrival = WL_ARR_STEADY;
        return true;
    }
    if (kind && !strcmp(kind, "poisson")) {
        char *rate = strtok_r(NULL, "", &save);
        const char *e;
        if (!rate || !parse_num(rate, &e, &c->rate) || *e || c->rate < 1 / WL_MAX_SECONDS ||
            c->rate > 1e6)
            return errbuf_set(
                err, errlen,
                "arrival=poisson needs poisson:RATE (requests/s in [1e-6, 1e6]), got '%s'", v);
        c->arrival = WL_ARR_POISSON;
        return true;
    }
    return errbuf_set(err, errlen,
                      "arrival '%s' is not burst:K:IN:BETWEEN, steady:GAP or poisson:RATE", v);
}

static bool parse_len(const char *v, wl_client *c, char *err, size_t errlen)
{
    const char *e;
    const char *s = v;
    if (!strncmp(v, "list:", 5)) {
        s = v + 5;
        c->nlens = 0;
        for (;;) {
            if (c->nlens == WL_LEN_LIST_MAX)
                return errbuf_set(err, errlen, "len=list: at most %d lengths", WL_LEN_LIST_MAX);
            if (!parse_whole(s, &e, 1, WL_MAX_LENGTH, &c->lens[c->nlens++]))
                return errbuf_set(err, errlen,
                                  "len=list: '%s' is not lengths 1-%d separated by '/'", v,
                                  WL_MAX_LENGTH);
            if (*e == '\0')
                break;
            if (*e != '/')
                return errbuf_set(err, errlen, "len=list: '%s' is not lengths separated by '/'", v);
            s = e + 1;
        }
        c->len_kind = WL_LEN_LIST;
        return true;
    }
    bool fixed = !strncmp(v, "fixed:", 6);
    if (fixed)
        s = v + 6;
    else if (!strncmp(v, "uniform:", 8))
        s = v + 8;
    if (!parse_whole(s, &e, 1, WL_MAX_LENGTH, &c->len_lo))
        goto bad;
    c->len_hi = c->len_lo;
    if (*e == '-' && !fixed) {
        if (!parse_whole(e + 1, &e, 1, WL_MAX_LENGTH, &c->len_hi) || c->len_hi < c->len_lo)
            goto bad;
    }
    if (*e)
        goto bad;
    c->len_kind = c->len_lo == c->len_hi ? WL_LEN_FIXED : WL_LEN_UNIFORM;
    return true;
bad:
    return errbuf_set(err, errlen,
                      "len '%s' is not A-B, N, fixed:N or list:A/B/C (code points, 1-%d, A <= B)",
                      v, WL_MAX_LENGTH);
}

bool wl_parse_client(const char *spec, wl_client *out, char *err, size_t errlen)
{
    wl_client c = {.distinct = true, .send_id = true};
    bool have_arrival = false, have_len = false, have_count = false, have_duration = false;
    unsigned seen = 0;
    static const char *const keys[] = {"name",     "arrival", "len",      "count",
                                       "duration", "start",   "distinct", "id"};
    enum { NKEYS = sizeof keys / sizeof keys[0] };

    size_t n = strlen(spec);
    if (n > 4000)
        return errbuf_set(err, errlen, "client spec is too long");
    char buf[4096];
    memcpy(buf, spec, n + 1);
    char *save = NULL;
    for (char *f = strtok_r(buf, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*f))
            f++;
        char *eq = strchr(f, '=');
        if (!eq)
            return errbuf_set(err, errlen, "'%s' is not KEY=VALUE", f);
        *eq = '\0';
        char *v = eq + 1;
        size_t vl = strlen(v);
        while (vl && isspace((unsigned char)v[vl - 1]))
            v[--vl] = '\0';
        int k = -1;
        for (int i = 0; i < NKEYS; i++)
            if (!strcmp(f, keys[i]))
                k = i;
        if (k < 0)
            return errbuf_set(
                err, errlen,
                "unknown field '%s' (fields: name, arrival, len, count, duration, start, "
                "distinct, id)",
                f);
        if (seen & (1u << k))
            return errbuf_set(err, errlen, "field '%s' given twice", f);
        seen |= 1u << k;
        const char *e;
        switch (k) {
        case 0:
            if (!valid_name(v))
                return errbuf_set(err, errlen, "name '%s' is not 1-%d of [A-Za-z0-9._-]", v,
                                  WL_NAME_MAX);
            snprintf(c.name, sizeof c.name, "%s", v);
            break;
        case 1:
            if (!parse_arrival(v, &c, err, errlen))
                return false;
            have_arrival = true;
            break;
        case 2:
            if (!parse_len(v, &c, err, errlen))
                return false;
            have_len = true;
            break;
        case 3:
            if (!parse_whole(v, &e, 1, WL_MAX_REQUESTS, &c.count) || *e)
                return errbuf_set(err, errlen, "count '%s' is not a whole number in [1, %d]", v,
                                  WL_MAX_REQUESTS);
            have_count = true;
            break;
        case 4:
            if (!parse_num(v, &e, &c.duration) || *e || c.duration <= 0 ||
                c.duration > WL_MAX_SECONDS)
                return errbuf_set(err, errlen, "duration '%s' is not seconds in (0, %g]", v,
                                  WL_MAX_SECONDS);
            have_duration = true;
            break;
        case 5:
            if (!parse_num(v, &e, &c.start) || *e || c.start > WL_MAX_SECONDS)
                return errbuf_set(err, errlen, "start '%s' is not seconds in [0, %g]", v,
                                  WL_MAX_SECONDS);
            break;
        case 6:
            if (!parse_bool(v, &c.distinct))
                return errbuf_set(err, errlen, "distinct '%s' is not yes or no", v);
            break;
        case 7:
            if (!parse_bool(v, &c.send_id))
                return errbuf_set(err, errlen, "id '%s' is not yes or no", v);
            break;
        }
    }
    if (!c.name[0])
        return errbuf_set(err, errlen, "client spec '%s' has no name=", spec);
    if (!have_arrival)
        return errbuf_set(err, errlen, "client %s has no arrival=", c.name);
    if (!have_len)
        return errbuf_set(err, errlen, "client %s has no len=", c.name);
    if (!have_count && !have_duration)
        return errbuf_set(err, errlen, "client %s needs count= or duration=", c.name);
    *out = c;
    return true;
}

static size_t fmt_range(char *buf, size_t len, wl_range r)
{
    if (r.lo == r.hi)
        return (size_t)snprintf(buf, len, "%g", r.lo);
    return (size_t)snprintf(buf, len, "%g-%g", r.lo, r.hi);
}

void wl_format_client(const wl_client *c, char *buf, size_t len)
{
    char arr[128], g[48], b[48], ln[WL_LEN_LIST_MAX * 8 + 16], lim[64];
    switch (c->arrival) {
    case WL_ARR_BURST:
        fmt_range(g, sizeof g, c->gap);
        fmt_range(b, sizeof b, c->between);
        snprintf(arr, sizeof arr, "burst:%zu:%s:%s", c->burst, g, b);
        break;
    case WL_ARR_STEADY:
        fmt_range(g, sizeof g, c->gap);
        snprintf(arr, sizeof arr, "steady:%s", g);
        break;
    case WL_ARR_POISSON:
        snprintf(arr, sizeof arr, "poisson:%g", c->rate);
        break;
    }
    if (c->len_kind == WL_LEN_LIST) {
        size_t o = (size_t)snprintf(ln, sizeof ln, "list:");
        for (size_t i = 0; i < c->nlens && o < sizeof ln; i++)
            o += (size_t)snprintf(ln + o, sizeof ln - o, "%s%zu", i ? "/" : "", c->lens[i]);
    } else if (c->len_kind == WL_LEN_FIXED) {
        snprintf(ln, sizeof ln, "fixed:%zu", c->len_lo);
    } else {
        snprintf(ln, sizeof ln, "%zu-%zu", c->len_lo, c->len_hi);
    }
    if (c->count && c->duration > 0)
        snprintf(lim, sizeof lim, "count=%zu,duration=%g", c->count, c->duration);
    else if (c->count)
        snprintf(lim, sizeof lim, "count=%zu", c->count);
    else
        snprintf(lim, sizeof lim, "duration=%g", c->duration);
    snprintf(buf, len, "name=%s,arrival=%s,len=%s,%s,start=%g,distinct=%s,id=%s", c->name, arr, ln,
             lim, c->start, c->distinct ? "yes" : "no", c->send_id ? "yes" : "no");
}

/* The original challenge's two clients. */
static const char *const seed_specs[] = {
    "name=A,arrival=burst:5:0.05-0.1:0.5-1.0,len=5-12,count=15,distinct=yes,id=no",
    "name=B,arrival=steady:0.2-0.5,len=10-25,count=12,distinct=yes,id=no", NULL};

const char *const *wl_profile_specs(const char *name)
{
    if (!strcmp(name, "seed"))
        return seed_specs;
    return NULL;
}

bool wl_add_client(const char *spec, wl_client **clients, size_t *n, char *err, size_t errlen)
{
    wl_client c;
    if (!wl_parse_client(spec, &c, err, errlen))
        return false;
    wl_client *grown = realloc(*clients, (*n + 1) * sizeof **clients);
    if (!grown)
        return errbuf_set(err, errlen, "out of memory");
    grown[(*n)++] = c;
    *clients = grown;
    return true;
}

bool wl_profile(const char *name, wl_client **clients, size_t *n, char *err, size_t errlen)
{
    const char *const *specs = wl_profile_specs(name);
    if (!specs)
        return errbuf_set(err, errlen, "unknown profile '%s' (known: seed)", name);
    for (; *specs; specs++)
        if (!wl_add_client(*specs, clients, n, err, errlen))
            return false;
    return true;
}

bool wl_load_clients(const char *path, wl_client **clients, size_t *n, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
    char line[4096];
    int lineno = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        size_t l = strlen(s);
        while (l && isspace((unsigned char)s[l - 1]))
            s[--l] = '\0';
        if (!*s)
            continue;
        char why[512];
        if (!wl_add_client(s, clients, n, why, sizeof why))
            ok = errbuf_set(err, errlen, "%s:%d: %s", path, lineno, why);
    }
    fclose(f);
    return ok;
}

bool wl_check_clients(const wl_client *clients, size_t n, char *err, size_t errlen)
{
    if (n == 0)
        return errbuf_set(err, errlen, "no clients");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(clients[i].name, clients[j].name))
                return errbuf_set(err, errlen, "two clients are named '%s'", clients[i].name);
    return true;
}

/* ---- planning ---- */

typedef struct plan {
    wl_request *reqs;
    size_t n, cap;
} plan;

static bool plan_push(plan *p, size_t client, double t, size_t len)
{
    if (p->n == WL_MAX_REQUESTS)
        return false;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        wl_request *r = realloc(p->reqs, cap * sizeof *r);
        if (!r)
            return false;
        p->reqs = r;
        p->cap = cap;
    }
    p->reqs[p->n++] = (wl_request){
        .client = client, .t = t, .len = len, .status = WL_STATUS_NONE, .sent = -1, .latency = -1};
    return true;
}

static size_t draw_len(const wl_client *c, wl_rng *r)
{
    switch (c->len_kind) {
    case WL_LEN_LIST:
        return c->lens[wl_rng_below(r, c->nlens)];
    case WL_LEN_UNIFORM:
        return c->len_lo + (size_t)wl_rng_below(r, c->len_hi - c->len_lo + 1);
    case WL_LEN_FIXED:
    default:
        return c->len_lo;
    }
}

/* Plans one round of client ci starting at `base`; returns its last time. */
static bool plan_client(plan *p, const wl_client *c, size_t ci, double base, wl_rng *r,
                        double *last)
{
    double t = c->start;
    for (size_t i = 0; c->count == 0 || i < c->count; i++) {
        if (c->arrival == WL_ARR_POISSON) {
            /* Exponential gaps, the first one included: a Poisson process
             * started at `start`. 1 - unit is in (0, 1], so log is finite. */
            t += -log(1.0 - wl_rng_unit(r)) / c->rate;
        } else if (i > 0) {
            bool new_burst = c->arrival == WL_ARR_BURST && i % c->burst == 0;
            wl_range g = new_burst ? c->between : c->gap;
            t += wl_rng_uniform(r, g.lo, g.hi);
        }
        if (c->duration > 0 && t >= c->start + c->duration)
            break;
        if (c->count == 0 && c->arrival != WL_ARR_POISSON && i > 0 && c->gap.hi == 0 &&
            (c->arrival != WL_ARR_BURST || c->between.hi == 0))
            return false; /* zero gaps and no count: would never end */
        if (!plan_push(p, ci, base + t, draw_len(c, r)))
            return false;
        if (base + t > *last)
            *last = base + t;
    }
    return true;
}

static int cmp_req(const void *a, const void *b)
{
    const wl_request *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->client != y->client)
        return x->client < y->client ? -1 : 1;
    /* Plan order within a client: stash it in `sent` until sorted. */
    return x->sent < y->sent ? -1 : x->sent > y->sent;
}

static void sort_trace(wl_request *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        reqs[i].sent = (double)i;
    if (n > 1)
        qsort(reqs, n, sizeof *reqs, cmp_req);
    for (size_t i = 0; i < n; i++)
        reqs[i].sent = -1;
}

bool wl_generate(const wl_client *clients, size_t nclients, size_t rounds, uint64_t seed,
                 wl_trace *out, char *err, size_t errlen)
{
    plan p = {0};
    wl_rng *rng = calloc(nclients ? nclients : 1, sizeof *rng);
    if (!rng)
        return errbuf_set(err, errlen, "out of memory");
    /* One stream per client, so adding a client does not change the others. */
    for (size_t i = 0; i < nclients; i++)
        wl_rng_seed(&rng[i], wl_mix(seed) ^ wl_mix(0x5eed0000ULL + i));
    double base = 0;
    for (size_t k = 0; k < rounds; k++) {
        double last = base;
        for (size_t i = 0; i < nclients; i++) {
            if (!plan_client(&p, &clients[i], i, base, &rng[i], &last)) {
                free(rng);
                free(p.reqs);
                return errbuf_set(err, errlen,
                                  "client %s: the plan is too large (more than %d requests, a "
                                  "duration with zero gaps, or out of memory)",
                                  clients[i].name, WL_MAX_REQUESTS);
            }
        }
        base = last;
    }
    free(rng);
    sort_trace(p.reqs, p.n);
    out->reqs = p.reqs;
    out->n = p.n;
    if (!wl_assign_texts(out, clients, seed, err, errlen)) {
        wl_trace_free(out);
        return false;
    }
    return true;
}

void wl_trace_free(wl_trace *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->reqs[i].text);
    free(t->reqs);
    t->reqs = NULL;
    t->n = 0;
}

double wl_trace_end(const wl_trace *t)
{
    double end = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->reqs[i].t > end)
            end = t->reqs[i].t;
    return end;
}

/* ---- texts ---- */

/* Snippets that read as source code and as prose, so that both labels
 * occur. Prose includes non-ASCII letters: lengths are code points. */
static const char *const code_bits[] = {
    "x = f(y);",   "if (n > 0) {", "return a[i];", "i++;",      "}",         "def g(x):",
    "int k = 0;",  "for (;;) {",   "p->next = q;", "y += 2*x;", "#include",  "print(x)",
    "while (x) {", "let v = [];",  "fn main() {",  "} else {",  "s = s[1:]", "x == y &&"};
static const char *const prose_bits[] = {
    "the cat sat on the mat", "we went to the café",   "it was a lovely day",
    "please call me later",   "thanks for the note",   "see you next week",
    "a naïve question here",  "the rain kept falling", "she read the letter",
    "over the hills",         "and then we left",      "what a strange idea"};
#define NBITS(a) (sizeof(a) / sizeof(a[0]))

/* A text of exactly len code points from snippets chosen by key, with the
 * last `tagw` code points replaced by `tag` in base 62 (tagw may be 0). */
static char *make_text(uint64_t key, size_t len, size_t tagw, uint64_t tag)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    wl_rng r;
    wl_rng_seed(&r, key);
    bool code = wl_rng_below(&r, 2) == 0;
    size_t body = len - tagw;
    /* At most 4 bytes per code point, plus one snippet of slack. */
    size_t cap = 4 * len + 64;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    size_t bytes = 0, cps = 0;
    while (cps < body) {
        const char *bit = code ? code_bits[wl_rng_below(&r, NBITS(code_bits))]
                               : prose_bits[wl_rng_below(&r, NBITS(prose_bits))];
        const char *sep = cps ? " " : "";
        for (const char *q = sep; *q && cps < body; q++, cps++)
            s[bytes++] = *q;
        for (const char *q = bit; *q && cps < body;) {
            /* Copy one whole code point. */
            do {
                s[bytes++] = *q++;
            } while (((unsigned char)*q & 0xC0) == 0x80);
            cps++;
        }
    }
    for (size_t i = tagw; i > 0; i--) {
        s[bytes + i - 1] = digits[tag % 62];
        tag /= 62;
    }
    s[bytes + tagw] = '\0';
    return s;
}

bool wl_assign_texts(wl_trace *t, const wl_client *clients, uint64_t seed, char *err, size_t errlen)
{
    /* Distinct texts carry a per-length counter in a fixed-width base-62
     * tag, so two distinct requests of the same length differ in the tag
     * and requests of different lengths differ anyway. The width is fixed
     * per length (from how many there are) so a longer tag can never
     * reproduce a shorter one's text. */
    size_t maxlen = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->reqs[i].len > maxlen)
            maxlen = t->reqs[i].len;
    uint64_t *need = calloc(maxlen + 1, sizeof *need);
    uint64_t *next = calloc(maxlen + 1, sizeof *next);
    if (!need || !next) {
        free(need);
        free(next);
        return errbuf_set(err, errlen, "out of memory");
    }
    for (size_t i = 0; i < t->n; i++) {
        const wl_request *q = &t->reqs[i];
        if (!q->text && (!clients || clients[q->client].distinct))
            need[q->len]++;
    }
    bool ok = true;
    for (size_t i = 0; ok && i < t->n; i++) {
        wl_request *q = &t->reqs[i];
        if (q->text)
            continue;
        if (q->len == 0) {
            q->text = calloc(1, 1);
        } else if (!clients || clients[q->client].distinct) {
            size_t w = 1;
            for (uint64_t cap = 62; cap < need[q->len] && w < 11; cap *= 62)
                w++;
            if (w > q->len) {
                ok = errbuf_set(err, errlen,
                                "%llu distinct texts of length %zu are too many to tell apart",
                                (unsigned long long)need[q->len], q->len);
                break;
            }
            q->text = make_text(wl_mix(seed ^ wl_mix(i + 1)), q->len, w, next[q->len]++);
        } else {
            /* The pool: WL_POOL texts per (client, length), the slot drawn
             * per request. */
            uint64_t slot = wl_mix(seed ^ wl_mix(0x9001ULL + i)) % WL_POOL;
            uint64_t key = wl_mix(seed ^ wl_mix((q->client << 20) ^ (q->len << 3) ^ slot));
            q->text = make_text(key, q->len, 0, 0);
        }
        if (!q->text)
            ok = errbuf_set(err, errlen, "out of memory");
    }
    free(need);
    free(next);
    return ok;
}

/* ---- CSV ---- */

const char *wl_status_name(int status, char *buf, size_t len)
{
    if (status == WL_STATUS_CONN)
        snprintf(buf, len, "conn");
    else if (status == WL_STATUS_TIMEOUT)
        snprintf(buf, len, "timeout");
    else if (status == WL_STATUS_NONE)
        snprintf(buf, len, "%s", "");
    else
        snprintf(buf, len, "%d", status);
    return buf;
}

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

bool wl_trace_write(FILE *f, const wl_trace *t, const wl_client *clients, bool with_text)
{
    fprintf(f, "client,send_s,length,status,latency_s%s\n", with_text ? ",text" : "");
    for (size_t i = 0; i < t->n; i++) {
        const wl_request *q = &t->reqs[i];
        char st[16];
        csv_field(f, clients[q->client].name);
        fprintf(f, ",%.6f,%zu,%s,", q->t, q->len, wl_status_name(q->status, st, sizeof st));
        if (q->status != WL_STATUS_NONE)
            fprintf(f, "%.6f", q->latency);
        if (with_text) {
            fputc(',', f);
            csv_field(f, q->text ? q->text : "");
        }
        fputc('\n', f);
    }
    return fflush(f) == 0 && !ferror(f);
}

/* One CSV record: fields are NUL-terminated in *buf, pointers in fields.
 * Returns the number of fields, 0 at end of file, -1 on a bad record. */
#define CSV_MAX_FIELDS 32
typedef struct csv_reader {
    FILE *f;
    char *buf;
    size_t cap;
    int line; /* line where the current record started */
    int next_line;
} csv_reader;

static bool csv_put(csv_reader *r, size_t *n, char c)
{
    if (*n + 1 >= r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        char *b = realloc(r->buf, cap);
        if (!b)
            return false;
        r->buf = b;
        r->cap = cap;
    }
    r->buf[(*n)++] = c;
    return true;
}

static int csv_record(csv_reader *r, size_t offs[CSV_MAX_FIELDS])
{
    size_t n = 0;
    int nf = 0;
    bool quoted = false, any = false;
    r->line = r->next_line;
    offs[nf++] = 0;
    for (;;) {
        int c = fgetc(r->f);
        if (c == EOF) {
            if (quoted)
                return -1;
            if (!any)
                return 0;
            break;
        }
        any = true;
        if (quoted) {
            if (c == '"') {
                int d = fgetc(r->f);
                if (d != '"') {
                    quoted = false;
                    if (d != EOF)
                        ungetc(d, r->f);
                    continue;
                }
            }
            if (c == '\n')
                r->next_line++;
            if (!csv_put(r, &n, (char)c))
                return -1;
            continue;
        }
        if (c == '\n') {
            r->next_line++;
            break;
        }
        if (c == '\r')
            continue;
        if (c == '"') {
            quoted = true;
            continue;
        }
        if (c == ',') {
            if (nf == CSV_MAX_FIELDS || !csv_put(r, &n, '\0'))
                return -1;
            offs[nf++] = n;
            continue;
        }
        if (!csv_put(r, &n, (char)c))
            return -1;
    }
    if (!csv_put(r, &n, '\0'))
        return -1;
    return nf;
}

static int find_client(wl_client **clients, size_t *n, const char *name, bool ids)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*clients)[i].name, name))
            return (int)i;
    if (!valid_name(name))
        return -1;
    wl_client *grown = realloc(*clients, (*n + 1) * sizeof **clients);
    if (!grown)
        return -1;
    *clients = grown;
    wl_client c = {
        .arrival = WL_ARR_STEADY, .len_kind = WL_LEN_FIXED, .distinct = true, .send_id = ids};
    snprintf(c.name, sizeof c.name, "%s", name);
    grown[*n] = c;
    return (int)(*n)++;
}

/* Reading a trace CSV: the file, its columns (by header name; -1: absent)
 * and what its rows have given so far. */
typedef struct trace_reader {
    const char *path;
    csv_reader r;
    size_t offs[CSV_MAX_FIELDS];
    int col_client, col_t, col_len, col_text, nheader;
    bool ids;
    wl_client **clients;
    size_t *n;
    plan p;
} trace_reader;

static bool read_header(trace_reader *tr, char *err, size_t errlen)
{
    int nf = csv_record(&tr->r, tr->offs);
    if (nf <= 0)
        return errbuf_set(err, errlen, "%s: empty or unreadable (expected a header row)", tr->path);
    tr->nheader = nf;
    tr->col_client = tr->col_t = tr->col_len = tr->col_text = -1;
    for (int i = 0; i < nf; i++) {
        const char *h = tr->r.buf + tr->offs[i];
        if (!strcmp(h, "client"))
            tr->col_client = i;
        else if (!strcmp(h, "send_s"))
            tr->col_t = i;
        else if (!strcmp(h, "length"))
            tr->col_len = i;
        else if (!strcmp(h, "text"))
            tr->col_text = i;
    }
    if (tr->col_client < 0 || tr->col_t < 0 || tr->col_len < 0)
        return errbuf_set(err, errlen,
                          "%s:1: the header needs the columns client, send_s and length", tr->path);
    return true;
}

/* The current record (nf fields), a request, into the plan. */
static bool read_row(trace_reader *tr, int nf, char *err, size_t errlen)
{
    const char *path = tr->path, *buf = tr->r.buf;
    int line = tr->r.line;
    if (nf != tr->nheader)
        return errbuf_set(err, errlen, "%s:%d: %d fields, the header has %d", path, line, nf,
                          tr->nheader);
    const char *name = buf + tr->offs[tr->col_client];
    int ci = find_client(tr->clients, tr->n, name, tr->ids);
    if (ci < 0)
        return errbuf_set(err, errlen, "%s:%d: client '%s' is not 1-%d of [A-Za-z0-9._-]", path,
                          line, name, WL_NAME_MAX);
    const char *e, *ts = buf + tr->offs[tr->col_t], *ls = buf + tr->offs[tr->col_len];
    double t;
    size_t len;
    if (!parse_num(ts, &e, &t) || *e || t > WL_MAX_SECONDS)
        return errbuf_set(err, errlen, "%s:%d: send_s '%s' is not seconds in [0, %g]", path, line,
                          ts, WL_MAX_SECONDS);
    if (!parse_whole(ls, &e, 1, WL_MAX_LENGTH, &len) || *e)
        return errbuf_set(err, errlen, "%s:%d: length '%s' is not a whole number in [1, %d]", path,
                          line, ls, WL_MAX_LENGTH);
    if (!plan_push(&tr->p, (size_t)ci, t, len))
        return errbuf_set(err, errlen, "%s:%d: too many rows", path, line);
    const char *text = tr->col_text >= 0 ? buf + tr->offs[tr->col_text] : "";
    if (!*text)
        return true; /* generated later (wl_assign_texts) */
    size_t cps;
    if (!utf8_length(text, strlen(text), &cps) || cps != len)
        return errbuf_set(err, errlen, "%s:%d: text is not valid UTF-8 of exactly %zu code points",
                          path, line, len);
    tr->p.reqs[tr->p.n - 1].text = strdup(text);
    return tr->p.reqs[tr->p.n - 1].text ? true : errbuf_set(err, errlen, "out of memory");
}

bool wl_trace_read(const char *path, bool ids, wl_trace *out, wl_client **clients, size_t *n,
                   char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
    trace_reader tr = {
        .path = path, .r = {.f = f, .next_line = 1}, .ids = ids, .clients = clients, .n = n};
    bool ok = read_header(&tr, err, errlen);
    int nf;
    while (ok && (nf = csv_record(&tr.r, tr.offs)) != 0) {
        if (nf < 0)
            ok = errbuf_set(err, errlen, "%s:%d: malformed CSV record", path, tr.r.line);
        else if (!(nf == 1 && tr.r.buf[0] == '\0')) /* not a blank line */
            ok = read_row(&tr, nf, err, errlen);
    }
    if (ok && tr.p.n == 0)
        ok = errbuf_set(err, errlen, "%s: no requests after the header", path);
    if (ok) {
        sort_trace(tr.p.reqs, tr.p.n);
        out->reqs = tr.p.reqs;
        out->n = tr.p.n;
    } else {
        for (size_t i = 0; i < tr.p.n; i++)
            free(tr.p.reqs[i].text);
        free(tr.p.reqs);
    }
    free(tr.r.buf);
    fclose(f);
    return ok;
}

const opt_entry wl_source_opts[] = {
    {.name = "profile",
     .type = OPT_STR,
     OPT_FIELD(wl_source, profile),
     .arg = "NAME",
     .help = "built-in clients: seed = the original challenge's A (3 bursts of 5, len 5-12) "
             "and B (12 steady, len 10-25); seed is the default without --client, "
             "--clients-file or --replay"},
    {.name = "client",
     .type = OPT_LIST,
     OPT_FIELD(wl_source, specs),
     .count_off = offsetof(wl_source, nspecs),
     .arg = "SPEC",
     .help = "add a client (repeatable; SPEC: see loadgen --help)"},
    {.name = "clients-file",
     .type = OPT_STR,
     OPT_FIELD(wl_source, clients_file),
     .arg = "FILE",
     .help = "add clients, one SPEC per line, '#' comments"},
    {.name = "client-ids",
     .type = OPT_FLAG,
     OPT_FIELD(wl_source, client_ids),
     .help = "every client sends X-Client-Id (the seed profile and --replay send none unless "
             "this is given)"},
    {.name = "rounds",
     .type = OPT_SIZE,
     OPT_FIELD(wl_source, rounds),
     .lo = 1,
     .hi = 100000,
     .def = "1",
     .arg = "N",
     .help = "repeat the plan N times, each round starting when the previous round's last "
             "request leaves"},
    {.name = "seed",
     .type = OPT_U64,
     OPT_FIELD(wl_source, seed),
     .hi = UINT64_MAX,
     .def = "1",
     .arg = "N",
     .help = "PRNG seed; the same seed plans the same trace"},
    {.name = "replay",
     .type = OPT_STR,
     OPT_FIELD(wl_source, replay),
     .arg = "FILE",
     .help = "a trace CSV instead of a plan (columns client, send_s, length required; text "
             "optional, else generated from the seed and row), played once: not with "
             "--rounds, --profile, --client or --clients-file"},
    {0}};

bool wl_plan(const wl_source *src, wl_client **clients, size_t *n, wl_trace *t, char *err,
             size_t errlen)
{
    char why[400];
    if (src->replay) {
        if (src->profile || src->nspecs || src->clients_file || src->rounds > 1) {
            snprintf(err, errlen,
                     "--replay can't be combined with --profile, --client, --clients-file or "
                     "--rounds (a trace is played as recorded)");
            return false;
        }
        if (!wl_trace_read(src->replay, src->client_ids, t, clients, n, why, sizeof why) ||
            !wl_assign_texts(t, NULL, src->seed, why, sizeof why)) {
            snprintf(err, errlen, "--replay: %s", why);
            return false;
        }
        return true;
    }
    const char *profile = src->profile;
    if (!profile && !src->nspecs && !src->clients_file)
        profile = "seed";
    if (profile && !wl_profile(profile, clients, n, why, sizeof why)) {
        snprintf(err, errlen, "--profile: %s", why);
        return false;
    }
    for (size_t i = 0; i < src->nspecs; i++)
        if (!wl_add_client(src->specs[i], clients, n, why, sizeof why)) {
            snprintf(err, errlen, "--client: %s", why);
            return false;
        }
    if (src->clients_file && !wl_load_clients(src->clients_file, clients, n, why, sizeof why)) {
        snprintf(err, errlen, "--clients-file: %s", why);
        return false;
    }
    if (!wl_check_clients(*clients, *n, err, errlen))
        return false;
    if (src->client_ids)
        for (size_t i = 0; i < *n; i++)
            (*clients)[i].send_id = true;
    return wl_generate(*clients, *n, src->rounds, src->seed, t, err, errlen);
}
