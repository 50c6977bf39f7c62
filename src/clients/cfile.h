/* cfile: the clients file: per-client weight, rate limit, queue limit,
 * deadline and API key, in a small INI format.
 *
 *   # comments start with '#' or ';', on their own line or after a space
 *   [alice]                 a client, named as in X-Client-Id
 *   weight = 3              its share of the backend relative to others (> 0)
 *   rate = 50               requests per second, 0 = unlimited
 *   burst = 100             requests allowed at once above the rate
 *   max_queued = 500        sequences it may have queued at once
 *   timeout_ms = 10000      its default deadline
 *   key = 8f1c...           an API key (Authorization: Bearer KEY)
 *
 *   [_unlisted]             the pool of every client NOT listed (no key)
 *   weight = 1              the pool's share, competing as one client
 *   rate = 20 ...           rate, burst, max_queued: the pool's, together;
 *                           timeout_ms: each unlisted client's deadline
 *
 * Every key is optional; what a section doesn't set comes from the
 * defaults given to cfile_load (batchproxy's flags). Names are 1-64 of
 * [A-Za-z0-9._-] other than the reserved ones (cfile_valid_name); keys are
 * 16-128 printable ASCII characters without spaces and must be unique. If
 * any client has a key, the proxy runs with authentication. */
#ifndef BP_CFILE_H
#define BP_CFILE_H

#include "opt.h"

#include <stdbool.h>
#include <stddef.h>

#define CFILE_NAME_MAX 64
#define CFILE_KEY_MAX 128

typedef struct cfile_client {
    char name[CFILE_NAME_MAX + 1];
    double weight;
    double rate, burst;
    size_t max_queued;
    double timeout;              /* seconds */
    char key[CFILE_KEY_MAX + 1]; /* "" for none */
} cfile_client;

/* The section that configures the pool of unlisted clients: a name no
 * client may take. */
#define CFILE_UNLISTED "_unlisted"

typedef struct cfile {
    cfile_client *clients;
    size_t n;
    bool keys;             /* some client has a key */
    cfile_client unlisted; /* [_unlisted], or the defaults; its name is CFILE_UNLISTED */
} cfile;

/* Reads path; sections start from *defaults. Returns false with a message
 * naming the line in err (and *out untouched) on any error. */
bool cfile_load(const char *path, const cfile_client *defaults, cfile *out, char *err,
                size_t errlen);
void cfile_free(cfile *f);

/* The client of that name or key, or NULL (never the [_unlisted] pool). */
const cfile_client *cfile_find(const cfile *f, const char *name);
const cfile_client *cfile_by_key(const cfile *f, const char *key);

/* The flags that set the defaults of unlisted clients, shared by batchproxy
 * and schedsim (--rate-limit, --rate-burst, --client-max-queue): option
 * entries (opt.h) of a cfile_client, for a program's table to include. */
extern const opt_entry cfile_default_opts[];

/* True for 1-64 of [A-Za-z0-9._-] other than "-", "_other" and
 * "_unlisted" (the proxy's anonymous client, its overflow, and the pool of
 * unlisted clients): a client name as X-Client-Id carries it. */
bool cfile_valid_name(const char *s);

#endif
