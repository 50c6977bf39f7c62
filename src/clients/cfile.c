/* cfile: the clients file, a small INI format (see cfile.h). */
#include "cfile.h"

#include "opt.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFILE_MAX_CLIENTS 100000

bool cfile_valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > CFILE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return strcmp(s, "-") != 0 && strcmp(s, "_other") != 0 && strcmp(s, CFILE_UNLISTED) != 0;
}

static bool valid_key(const char *s)
{
    size_t n = strlen(s);
    if (n < 16 || n > CFILE_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return false;
    return true;
}

/* Applies `key = value` to c; returns NULL or what is wrong. */
static const char *set_field(cfile_client *c, const char *key, const char *v)
{
    double d;
    if (strcmp(key, "weight") == 0) {
        if (!opt_number(v, 1e-6, 1e6, &d))
            return "weight must be a number in (0, 1000000]";
        c->weight = d;
    } else if (strcmp(key, "rate") == 0) {
        if (!opt_number(v, 0, 1e9, &d))
            return "rate must be requests per second, 0 (unlimited) or more";
        c->rate = d;
    } else if (strcmp(key, "burst") == 0) {
        if (!opt_number(v, 1, 1e9, &d))
            return "burst must be 1 or more";
        c->burst = d;
    } else if (strcmp(key, "max_queued") == 0) {
        if (!opt_number(v, 1, 1e9, &d) || d != floor(d))
            return "max_queued must be a whole number, 1 or more";
        c->max_queued = (size_t)d;
    } else if (strcmp(key, "timeout_ms") == 0) {
        if (!opt_number(v, 1, 3600000, &d))
            return "timeout_ms must be in 1..3600000";
        c->timeout = d / 1000;
    } else if (strcmp(key, "key") == 0) {
        if (!valid_key(v))
            return "key must be 16-128 printable ASCII characters without spaces";
        snprintf(c->key, sizeof c->key, "%s", v);
    } else {
        return "unknown setting (weight, rate, burst, max_queued, timeout_ms, key)";
    }
    return NULL;
}

/* Reading a clients file: the clients so far and the section being read. */
typedef struct cfile_reader {
    cfile f;
    const cfile_client *defaults;
    cfile_client *cur; /* NULL before the first section */
    size_t cap;
    bool unlisted_seen;
} cfile_reader;

/* A "[NAME]" line: a new section. Returns NULL or what is wrong. */
static const char *read_section(cfile_reader *rd, const char *name)
{
    if (strcmp(name, CFILE_UNLISTED) == 0) {
        if (rd->unlisted_seen)
            return "the [" CFILE_UNLISTED "] pool is already configured";
        rd->unlisted_seen = true;
        rd->cur = &rd->f.unlisted;
        return NULL;
    }
    if (!cfile_valid_name(name))
        return "a client name is 1-64 of [A-Za-z0-9._-], not '-' or '_other'";
    if (cfile_find(&rd->f, name))
        return "this client is already listed";
    if (rd->f.n == rd->cap) {
        size_t cap = rd->cap ? rd->cap * 2 : 16;
        cfile_client *nc =
            cap <= CFILE_MAX_CLIENTS ? realloc(rd->f.clients, cap * sizeof *nc) : NULL;
        if (!nc)
            return "too many clients";
        rd->f.clients = nc;
        rd->cap = cap;
    }
    rd->cur = &rd->f.clients[rd->f.n++];
    *rd->cur = *rd->defaults;
    rd->cur->key[0] = '\0';
    snprintf(rd->cur->name, sizeof rd->cur->name, "%s", name);
    return NULL;
}

/* One line of the file, split (opt_ini_fn). Returns NULL or what is wrong. */
static const char *read_line(void *arg, opt_ini kind, char *key, char *value)
{
    cfile_reader *rd = arg;
    switch (kind) {
    case OPT_INI_NONE:
        return NULL;
    case OPT_INI_SECTION:
        return read_section(rd, key);
    case OPT_INI_BAD_SECTION:
        return "a section is [NAME] alone on its line";
    case OPT_INI_BAD:
        return "expected KEY = VALUE or [NAME]";
    case OPT_INI_PAIR:
        break;
    }
    if (!rd->cur)
        return "a setting before any [NAME] section";
    if (rd->cur == &rd->f.unlisted && strcmp(key, "key") == 0)
        return "the [" CFILE_UNLISTED "] pool has no key (its clients are the ones without)";
    return set_field(rd->cur, key, value);
}

/* Keys must be unique: a key names exactly one client. Sets f->keys. */
static bool keys_unique(cfile *f, const char *path, char *err, size_t errlen)
{
    for (size_t i = 0; i < f->n; i++) {
        if (!f->clients[i].key[0])
            continue;
        f->keys = true;
        for (size_t j = i + 1; j < f->n; j++)
            if (strcmp(f->clients[i].key, f->clients[j].key) == 0) {
                snprintf(err, errlen, "%s: clients %s and %s have the same key", path,
                         f->clients[i].name, f->clients[j].name);
                return false;
            }
    }
    return true;
}

bool cfile_load(const char *path, const cfile_client *defaults, cfile *out, char *err,
                size_t errlen)
{
    cfile_reader rd = {.f = {.unlisted = *defaults}, .defaults = defaults};
    snprintf(rd.f.unlisted.name, sizeof rd.f.unlisted.name, "%s", CFILE_UNLISTED);
    rd.f.unlisted.key[0] = '\0';
    /* A read error (a directory, say) fails too: an empty file would drop
     * every client's settings and keys, and with them authentication. */
    bool ok =
        opt_ini_read(path, read_line, &rd, err, errlen) && keys_unique(&rd.f, path, err, errlen);
    if (ok)
        *out = rd.f;
    else
        free(rd.f.clients);
    return ok;
}

void cfile_free(cfile *f)
{
    free(f->clients);
    f->clients = NULL;
    f->n = 0;
    f->keys = false;
}

const cfile_client *cfile_find(const cfile *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->clients[i].name, name) == 0)
            return &f->clients[i];
    return NULL;
}

const cfile_client *cfile_by_key(const cfile *f, const char *key)
{
    /* Compared in full whatever the mismatch, so timing says nothing about
     * how much of a guessed key was right. */
    size_t kl = strlen(key);
    const cfile_client *found = NULL;
    for (size_t i = 0; i < f->n; i++) {
        const char *k = f->clients[i].key;
        size_t n = strlen(k);
        if (!n)
            continue;
        unsigned diff = (unsigned)(n ^ kl);
        for (size_t j = 0; j < n; j++)
            diff |= (unsigned)(k[j] ^ (j < kl ? key[j] : 0));
        if (diff == 0)
            found = &f->clients[i];
    }
    return found;
}

const opt_entry cfile_default_opts[] = {
    {.name = "rate-limit",
     .type = OPT_DOUBLE,
     OPT_FIELD(cfile_client, rate),
     .dhi = 1e9,
     .def = "0",
     .arg = "RPS",
     .help = "default requests/s per client (default %D: none)"},
    {.name = "rate-burst",
     .type = OPT_DOUBLE,
     OPT_FIELD(cfile_client, burst),
     .dlo = 1,
     .dhi = 1e9,
     .def = "20",
     .arg = "N",
     .help = "default burst above the rate"},
    {.name = "client-max-queue",
     .type = OPT_SIZE,
     OPT_FIELD(cfile_client, max_queued),
     .lo = 1,
     .hi = 10000000,
     .def = "1000",
     .arg = "N",
     .help = "default sequences one client may have queued (default %D; more get 429)"},
    {0}};
