/* wl, the workload: simulated clients, their planned requests (a trace) and the trace CSV.
 *
 * Everything here is pure and deterministic: a list of clients plus a seed
 * always gives the same trace, with no clock and no I/O except the CSV
 * reader/writer. loadgen sends a trace over HTTP; schedsim replays one
 * against a model of the proxy. Both report through report.h.
 *
 * A client is described by a SPEC, comma-separated KEY=VALUE fields:
 *
 *   name=A,arrival=burst:5:0.05-0.1:0.5-1.0,len=5-12,count=15,distinct=yes,id=no
 *
 *   name=NAME        1-64 of [A-Za-z0-9._-] (also its X-Client-Id)   required
 *   arrival=burst:K:IN:BETWEEN   bursts of K requests, IN seconds apart
 *                    inside a burst, BETWEEN seconds from a burst's last
 *                    request to the next burst's first             } one is
 *   arrival=steady:GAP           one request every GAP seconds     } required
 *   arrival=poisson:RATE         a Poisson process, RATE requests/s}
 *   len=A-B | uniform:A-B        uniform integer length in [A, B]  } one is
 *   len=N | fixed:N              always N                          } required
 *   len=list:A/B/C               uniform choice among the listed   }
 *   count=N          stop after N requests          } at least one; with both,
 *   duration=S       stop before S seconds          } whichever comes first
 *   start=S          first request's offset in seconds (default 0)
 *   distinct=yes|no  all texts distinct in the whole run (default yes), or
 *                    drawn from a pool of WL_POOL texts per length
 *   id=yes|no        send X-Client-Id: NAME (default yes)
 *
 * GAP, IN and BETWEEN are seconds, either fixed ("0.25") or a uniform range
 * ("0.2-0.5"). Lengths are Unicode code points. */
#ifndef BP_WL_H
#define BP_WL_H

#include "opt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define WL_NAME_MAX 64
#define WL_LEN_LIST_MAX 32
#define WL_MAX_LENGTH 100000
/* Every time in a plan or trace (gaps, start, duration, send times) is at
 * most this many seconds, and a Poisson rate at least its inverse. */
#define WL_MAX_SECONDS 1e6
/* Texts per (client, length) in distinct=no mode. */
#define WL_POOL 4
/* A run (all clients, all rounds) may plan at most this many requests. */
#define WL_MAX_REQUESTS 10000000

/* Result codes kept with each request besides real HTTP statuses. */
#define WL_STATUS_NONE (-2)    /* not sent (yet): a plan */
#define WL_STATUS_TIMEOUT (-1) /* no answer within the timeout */
#define WL_STATUS_CONN 0       /* connection failed or closed without an answer */

/* xoshiro256** seeded through splitmix64: fast, good, and the same on every
 * platform (rand() is none of these). */
typedef struct wl_rng {
    uint64_t s[4];
} wl_rng;

void wl_rng_seed(wl_rng *r, uint64_t seed);
uint64_t wl_rng_next(wl_rng *r);
/* Uniform in [0, 1). */
double wl_rng_unit(wl_rng *r);
/* Uniform in [lo, hi] (lo when equal). */
double wl_rng_uniform(wl_rng *r, double lo, double hi);
/* Uniform integer in [0, n); n > 0. */
uint64_t wl_rng_below(wl_rng *r, uint64_t n);
/* One splitmix64 step of x: a strong 64-bit mixer to derive seeds. */
uint64_t wl_mix(uint64_t x);

typedef struct wl_range {
    double lo, hi;
} wl_range;

enum wl_arrival { WL_ARR_BURST, WL_ARR_STEADY, WL_ARR_POISSON };
enum wl_len { WL_LEN_UNIFORM, WL_LEN_FIXED, WL_LEN_LIST };

typedef struct wl_client {
    char name[WL_NAME_MAX + 1];
    enum wl_arrival arrival;
    size_t burst;     /* requests per burst (burst) */
    wl_range gap;     /* gap inside a burst (burst) or between requests (steady) */
    wl_range between; /* gap between bursts (burst) */
    double rate;      /* requests per second (poisson) */
    enum wl_len len_kind;
    size_t len_lo, len_hi; /* uniform range; fixed uses len_lo */
    size_t lens[WL_LEN_LIST_MAX];
    size_t nlens;
    size_t count;    /* 0: limited by duration only */
    double duration; /* 0: limited by count only */
    double start;
    bool distinct;
    bool send_id;
} wl_client;

/* Parses one SPEC (see above). Returns false with a message in err. */
bool wl_parse_client(const char *spec, wl_client *out, char *err, size_t errlen);

/* Formats a client back into a SPEC that wl_parse_client accepts. */
void wl_format_client(const wl_client *c, char *buf, size_t len);

/* Appends the clients of a built-in profile ("seed") to *clients (a malloc'd
 * array of *n, grown with realloc). Returns false with a message if the name
 * is unknown. */
bool wl_profile(const char *name, wl_client **clients, size_t *n, char *err, size_t errlen);

/* The SPEC lines of a profile, NULL-terminated, or NULL if unknown. */
const char *const *wl_profile_specs(const char *name);

/* Appends the clients of a file with one SPEC per line ('#' starts a
 * comment, blank lines are skipped). Messages name the file and line. */
bool wl_load_clients(const char *path, wl_client **clients, size_t *n, char *err, size_t errlen);

/* Appends one parsed SPEC. */
bool wl_add_client(const char *spec, wl_client **clients, size_t *n, char *err, size_t errlen);

/* Checks that names are unique. */
bool wl_check_clients(const wl_client *clients, size_t n, char *err, size_t errlen);

/* One planned request, and its outcome once sent. */
typedef struct wl_request {
    size_t client; /* index into the client array */
    double t;      /* planned send time, seconds after the run's start */
    size_t len;    /* code points */
    char *text;    /* UTF-8, exactly len code points; owned by the trace */
    /* Outcome (filled by whoever runs the trace). */
    int status;     /* HTTP status, or WL_STATUS_* */
    double sent;    /* actual send time, seconds after the run's start */
    double latency; /* seconds from sending to the answer (or to giving up) */
} wl_request;

typedef struct wl_trace {
    wl_request *reqs; /* sorted by t (ties: client index, then plan order) */
    size_t n;
} wl_trace;

/* Plans `rounds` rounds of traffic from the clients for a seed. Round k
 * starts when round k-1's last planned request leaves. Texts follow each
 * client's distinct/pool mode. Returns false with a message (too many
 * requests, or too many distinct texts for a short length). */
bool wl_generate(const wl_client *clients, size_t nclients, size_t rounds, uint64_t seed,
                 wl_trace *out, char *err, size_t errlen);

/* Fills every request whose text is NULL with a generated text of its
 * length: distinct across the run when the client's distinct flag is set
 * (or clients is NULL), else from the client's pool. */
bool wl_assign_texts(wl_trace *t, const wl_client *clients, uint64_t seed, char *err,
                     size_t errlen);

void wl_trace_free(wl_trace *t);

/* The time of the last planned request (0 for an empty trace). */
double wl_trace_end(const wl_trace *t);

/* Trace CSV (RFC 4180 quoting), one header row then one row per request:
 *
 *   client,send_s,length,status,latency_s,text
 *
 * send_s is the planned offset; status is the HTTP status, "conn",
 * "timeout" or empty (not sent); latency_s is empty when not sent. The
 * writer includes text only if with_text. */
bool wl_trace_write(FILE *f, const wl_trace *t, const wl_client *clients, bool with_text);

/* Reads a trace CSV. Columns are found by header name: client, send_s and
 * length are required; status, latency_s and text are optional (others are
 * ignored). Clients are created in order of first appearance, with
 * send_id = ids, distinct = yes; texts missing or empty are left NULL (call
 * wl_assign_texts). A given text must have exactly `length` code points.
 * Rows are sorted by send_s. Returns false with a message naming the line. */
bool wl_trace_read(const char *path, bool ids, wl_trace *out, wl_client **clients, size_t *n,
                   char *err, size_t errlen);

/* Where a run's traffic comes from: the workload flags that loadgen and
 * schedsim share (--profile, --client, --clients-file, --client-ids,
 * --replay, --rounds, --seed). */
typedef struct wl_source {
    const char *profile; /* NULL: "seed" unless specs or a file are given */
    const char **specs;  /* --client SPECs, in order */
    size_t nspecs;
    const char *clients_file;
    const char *replay; /* a trace CSV instead of a plan */
    bool client_ids;    /* every client sends X-Client-Id */
    size_t rounds;
    uint64_t seed;
} wl_source;

/* The workload flags loadgen and schedsim share (--profile, --client,
 * --clients-file, --client-ids, --replay, --rounds, --seed): option entries
 * (opt.h) of a wl_source, for a program's table to include. --client's
 * SPECs are a malloc'd array: opt_free releases it. */
extern const opt_entry wl_source_opts[];

/* Builds the clients (a malloc'd array) and the trace of a source, so that
 * the same flags and seed give the same requests in every program. Returns
 * false with a message naming the flag at fault. */
bool wl_plan(const wl_source *src, wl_client **clients, size_t *n, wl_trace *t, char *err,
             size_t errlen);

/* "conn", "timeout", "" (none) or the number, into buf. */
const char *wl_status_name(int status, char *buf, size_t len);

#endif
