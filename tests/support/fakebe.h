/* fakebe: a scriptable fake classification backend for process tests.
 *
 * It listens on a free 127.0.0.1 port (ready as soon as fakebe_start
 * returns: the socket listens before it does) and serves every connection
 * in a thread of its own, so a hung or trickling answer on one connection
 * never holds up another (the proxy's health probes use their own).
 *
 * Every POST, whatever its path, takes the next step of the script, in the
 * order the requests arrive over all connections; once the script is used
 * up, every POST follows `rest`. Every GET of the health path (`/healthz`,
 * or the script's `health_path`: a backend of another protocol has its
 * own) follows `health`; any other GET gets 404. A step is declarative, in the spirit of HAProxy's
 * reg-tests
 * (`server s1 { rxreq; txresp ... }`):
 *
 *     static const fakebe_step script[] = {
 *         {.act = FAKEBE_STATUS, .status = 400, .body = "{\"detail\":\"too long\"}"},
 *         {.act = FAKEBE_NORMAL, .then = FAKEBE_THEN_EXTRA},
 *         {.act = FAKEBE_NORMAL, .trickle = 0.5},
 *     };
 *     fakebe_start(&fb, &(fakebe_script){script, 3});
 *
 * A zeroed step answers like a correct server: a POST {"sequences": [...]}
 * gets 200 {"results": [...]} with one label per text, "code" when the text
 * contains FAKEBE_CODE_MARK and "not code" otherwise (so tests know every
 * true label), and GET /healthz gets 200. Answers use Content-Length and
 * keep the connection open unless the step says otherwise. */
#ifndef BP_FAKEBE_H
#define BP_FAKEBE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* A text holding this is labelled "code"; any other "not code". */
#define FAKEBE_CODE_MARK "[code]"

enum fakebe_act {
    FAKEBE_NORMAL = 0,  /* the true answer (above) */
    FAKEBE_WRONG_COUNT, /* 200 with one result more than the texts sent */
    FAKEBE_STATUS,      /* `status` with `body` (JSON content type) */
    FAKEBE_RAW,         /* `body`'s bytes as they are, no HTTP framing: garbage */
    FAKEBE_CLOSE,       /* close the connection without answering */
    FAKEBE_SILENT,      /* never answer; the connection stays open until the peer or
                           fakebe_stop closes it */
};

/* What follows the answer on the same connection. A repeated answer or an
 * extra response goes out in the same write as the answer, so the peer
 * reads them together. */
enum fakebe_then {
    FAKEBE_THEN_KEEP = 0, /* nothing: wait for the next request */
    FAKEBE_THEN_CLOSE,    /* close the connection */
    FAKEBE_THEN_REPEAT,   /* the same answer once more (answering twice) */
    FAKEBE_THEN_EXTRA,    /* an unsolicited well-formed 200 with `extra` as its body
                             ({"results":["code"]} when NULL) */
};

typedef struct fakebe_step {
    enum fakebe_act act;
    int status;       /* FAKEBE_STATUS */
    const char *body; /* FAKEBE_STATUS and FAKEBE_RAW; NUL-terminated */
    size_t pad;       /* spaces appended to the body up to this many bytes (a body over a limit;
                         a padded JSON answer is still valid JSON) */
    double delay;     /* seconds before the answer starts */
    double trickle;   /* > 0: the answer goes out one header line or one body byte at a time,
                         this many seconds apart */
    bool chunked;     /* Transfer-Encoding: chunked (7-byte chunks) instead of Content-Length */
    enum fakebe_then then;
    const char *extra; /* FAKEBE_THEN_EXTRA's body */
} fakebe_step;

typedef struct fakebe_script {
    const fakebe_step *steps; /* the POSTs, in arrival order (copied by fakebe_start, but
                                 the strings they point to must outlive the fake) */
    size_t n;
    fakebe_step rest;   /* every POST after the script */
    fakebe_step health; /* every GET of the health path; FAKEBE_NORMAL is 200 {"status":"ok"} */
    const char *health_path; /* that path, exactly; NULL: "/healthz" (must outlive the fake) */
} fakebe_script;

typedef struct fakebe_conn fakebe_conn;

typedef struct fakebe {
    int port; /* where it listens, on 127.0.0.1 */
    /* The rest is fakebe.c's. */
    int lfd, stop_pipe[2];
    fakebe_step *steps;
    fakebe_script script;
    pthread_t acceptor;
    pthread_mutex_t mu;
    fakebe_conn *conns;
    int posts, answered, health_checks, accepted, post_conns_closed;
    bool running;
} fakebe;

/* Parses a step from its text form (for scripts and the fakebe program):
 * comma-separated fields, any of
 *   act=normal|wrong_count|status|raw|close|silent   status=N   body=TEXT
 *   pad=BYTES   delay=SECONDS   trickle=SECONDS   chunked
 *   then=keep|close|repeat|extra   extra=TEXT
 * "" is a normal step. TEXT may hold \xHH escapes (a comma is \x2c).
 * Works in place: spec is cut up and decoded, and the step's strings point
 * into it. False, with why in err, on an unknown field or a bad value. */
bool fakebe_parse_step(char *spec, fakebe_step *st, char *err, size_t errlen);

/* Starts the fake on a free port with a copy of `script` (NULL: answer
 * everything correctly). False (and nothing running) if it can't. */
bool fakebe_start(fakebe *fb, const fakebe_script *script);

/* Closes every connection, stops every thread, frees everything. Safe on a
 * fake that was never started or is already stopped. */
void fakebe_stop(fakebe *fb);

/* POSTs received so far (each took a step). */
int fakebe_posts(fakebe *fb);

/* POSTs whose step has been carried out in full (the answer and its
 * `then` sent; FAKEBE_SILENT never counts). */
int fakebe_answered(fakebe *fb);

/* GETs of the health path received so far. */
int fakebe_health_checks(fakebe *fb);

/* Connections accepted so far. */
int fakebe_connections(fakebe *fb);

/* Connections that carried at least one POST and were then closed by the
 * peer (not by the fake). */
int fakebe_closed_by_peer(fakebe *fb);

/* Waits up to `limit` seconds until counter(fb) >= want; returns the last
 * value read. */
int fakebe_await(fakebe *fb, int (*counter)(fakebe *), int want, double limit);

#endif
