/* classifyd: the classification server, faithful to the original cost model.
 *
 * POST /classify {"sequences": [...]} (at most 5) answers {"results": [...]}
 * linear * L + cost * L^2 seconds after the request arrived, L being the
 * longest sequence's length in code points (linear is 0 unless told). It
 * serves one request at a time: any request that arrives while one is
 * being processed gets 429 at once. The wait is a timer on the event loop,
 * so the 429 is immediate mid-batch. With --protocol it speaks the Open
 * Inference Protocol or TEI's /predict instead (proto.h), with the same
 * classifier, cost model and one-at-a-time rule.
 *
 * State: at most one request is "current" (busy). It owns its request
 * until its timer fires and the answer is sent. */
#include "classify.h"
#include "fault.h"
#include "proto.h"
#include "opt.h"
#include "httpd.h"
#include "log.h"
#include "mono.h"
#include "sdnotify.h"
#include "version.h"
#include "wire.h"

#include <event2/event.h>
#include <stdarg.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLASSIFYD_MAX_SEQUENCES 5

typedef struct classifyd_config {
    const char *listen;
    double cost;
    double cost_linear; /* seconds per code point of the longest sequence */
    size_t max_body;
    size_t max_length; /* code points of the longest sequence accepted */
    int io_timeout;
    bool quiet;
    enum log_format log_format;
    fault_config fault;
    proto_config proto; /* the protocol spoken, and what it answers with */
    void *settings;     /* --config FILE's values (opt.h) */
} classifyd_config;

typedef struct classifyd {
    classifyd_config cfg;
    struct event_base *base;
    httpd *http;
    struct event *timer; /* fires when the current request's time is up */
    struct event *sigint, *sigterm;
    bool stopping;
    /* The current request, valid while busy. */
    bool busy;
    httpd_req *req;
    /* One slot more than a request holds: a garbage answer may have one
     * result too many (fault.h). */
    enum wire_label labels[CLASSIFYD_MAX_SEQUENCES + 1];
    double confidence[CLASSIFYD_MAX_SEQUENCES + 1];
    proto_opts opts; /* how the current request wants its answer */
    size_t n, longest;
    double started, due;   /* mono_now() times: arrival, and when the answer is due */
    enum fault_kind fault; /* what the current request gets (fault.h) */
    fault_state faults;
} classifyd;

static void log_request(const classifyd *d, httpd_req *req, const char *path, int status, size_t n,
                        size_t longest, double started)
{
    if (d->cfg.quiet)
        return;
    const char *m = httpd_req_method(req);
    double seconds = mono_now() - started;
    log_fields(LOG_INFO,
               LOG_FIELDS(LOG_STR("method", m), LOG_STR("path", path), LOG_INT("status", status),
                          LOG_INT("sequences", n), LOG_INT("longest", longest),
                          LOG_REAL("seconds", seconds)),
               "%s %s %d sequences=%zu L=%zu time=%.3fs", m, path, status, n, longest, seconds);
}

/* Ends the loop once nothing is left to answer: called after a signal and
 * after each answer while stopping. The grace period lets the last answer's
 * bytes leave the socket. */
static void maybe_exit(classifyd *d)
{
    if (d->stopping && !d->busy) {
        struct timeval grace = {0, 50000};
        event_base_loopexit(d->base, &grace);
    }
}

static void on_done(evutil_socket_t fd, short what, void *arg);

/* Arms the timer for d->due. libevent measures timeouts from its cached
 * loop time (taken before this request was parsed) and, by default, on the
 * coarse clock, so a timer can fire a few milliseconds early: on_done
 * re-arms it until mono_now() reaches the due time. */
static void arm_timer(classifyd *d)
{
    double left = d->due - mono_now();
    if (left <= 0) {
        on_done(-1, 0, d); /* nothing to wait for: answer in this loop turn */
        return;
    }
    struct timeval tv = {(time_t)left, (suseconds_t)((left - floor(left)) * 1e6)};
    evtimer_add(d->timer, &tv);
}

/* Sends the protocol's error. classify's {"detail": ...} goes through
 * httpd_send_error, as it always did, byte for byte. */
static void send_error(const classifyd *d, httpd_req *req, const proto_error *e)
{
    if (d->cfg.proto.kind == PROTO_CLASSIFY)
        httpd_send_error(req, e->status, "%s", e->msg);
    else
        httpd_send_json(req, e->status, proto_error_json(&d->cfg.proto, e));
}

static void send_errorf(const classifyd *d, httpd_req *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void send_errorf(const classifyd *d, httpd_req *req, int status, const char *fmt, ...)
{
    proto_error e = {.status = status};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    send_error(d, req, &e);
}

/* True if the request uses `method`; otherwise answers 405 with Allow, in
 * the protocol's error shape. HEAD goes wherever GET does. */
static bool require_method(const classifyd *d, httpd_req *req, const char *method)
{
    if (d->cfg.proto.kind == PROTO_CLASSIFY)
        return httpd_require_method(req, method);
    if (httpd_req_is(req, method))
        return true;
    bool get = strcmp(method, "GET") == 0;
    httpd_set_header(req, "Allow", get ? "GET, HEAD" : method);
    send_errorf(d, req, 405, "method %s not allowed; use %s", httpd_req_method(req),
                get ? "GET or HEAD" : method);
    return false;
}

/* The current request's answer, right or wrong as shape says: the
 * fault_answer_fn fault_garbage builds its garbage with. */
static char *build_answer(const void *ctx, const enum wire_label *labels, size_t n,
                          enum proto_shape shape)
{
    const classifyd *d = ctx;
    return proto_answer(&d->cfg.proto, &d->opts, labels, d->confidence, n, shape);
}

/* Answers the current request, or misbehaves as its fault says. The log
 * line comes first: a dropped request is freed with its connection. */
static void answer_or_fault(classifyd *d)
{
    int failed = proto_failure_status(&d->cfg.proto);
    int status = d->fault == FAULT_FAIL                             ? failed
                 : d->fault == FAULT_DROP || d->fault == FAULT_HANG ? 0
                                                                    : 200;
    log_request(d, d->req, httpd_req_path(d->req), status, d->n, d->longest, d->started);
    switch (d->fault) {
    case FAULT_FAIL:
        send_errorf(d, d->req, failed, "injected fault");
        break;
    case FAULT_DROP:
        httpd_req_close(d->req);
        break;
    case FAULT_HANG:
        fault_hold_request(d->req);
        break;
    case FAULT_GARBAGE:
        httpd_send_json(d->req, 200, fault_garbage(&d->faults, build_answer, d, d->labels, d->n));
        break;
    default:
        httpd_send_json(d->req, 200, build_answer(d, d->labels, d->n, PROTO_RIGHT));
    }
}

static void end_current(classifyd *d)
{
    d->req = NULL;
    d->busy = false;
    free(d->opts.id);
    memset(&d->opts, 0, sizeof d->opts);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    classifyd *d = arg;
    if (mono_now() < d->due) {
        arm_timer(d);
        return;
    }
    answer_or_fault(d);
    end_current(d);
    maybe_exit(d);
}

/* Takes the server's one slot for the parsed request r (released here):
 * labels it, and sets the timer for its answer. */
static void start_current(classifyd *d, httpd_req *req, proto_request *r, double started)
{
    d->busy = true;
    d->req = req;
    d->n = r->req.n;
    d->longest = 0;
    d->started = started;
    for (size_t i = 0; i < r->req.n; i++) {
        const wire_text *t = &r->req.items[i];
        d->labels[i] = classify_text_scored(t->s, t->bytes, &d->confidence[i]);
        if (t->len > d->longest)
            d->longest = t->len;
    }
    d->opts = r->opts; /* the id moves with it */
    r->opts.id = NULL;
    proto_request_free(r);

    /* The answer is due linear * L + cost * L^2 after arrival; time
     * already spent parsing counts towards it. */
    double L = (double)d->longest;
    d->due = started + d->cfg.cost_linear * L + d->cfg.cost * L * L;
    d->fault = fault_decide(&d->faults);
    if (d->fault != FAULT_NONE && !d->cfg.quiet)
        log_info("fault %s for this request", fault_name(d->fault));
    if (d->fault == FAULT_SLOW)
        d->due = started + (d->due - started) * d->cfg.fault.slow_factor;
    arm_timer(d);
}

/* Refuses r with e (r released), and logs it. */
static void refuse(classifyd *d, httpd_req *req, proto_request *r, const proto_error *e,
                   double started)
{
    const char *path = httpd_req_path(req);
    size_t n = r->req.n;
    send_error(d, req, e);
    log_request(d, req, path, e->status, n, 0, started);
    proto_request_free(r);
}

static void handle_infer(classifyd *d, httpd_req *req, double started)
{
    const char *path = httpd_req_path(req);
    size_t len;
    const char *body = httpd_req_body(req, &len);
    if (!require_method(d, req, "POST")) {
        log_request(d, req, path, httpd_req_status(req), 0, 0, started);
        return;
    }
    proto_request r;
    proto_error e;
    if (!proto_parse(&d->cfg.proto, body, len, &r, &e)) {
        send_error(d, req, &e);
        log_request(d, req, path, e.status, 0, 0, started);
        return;
    }
    /* After a signal the loop ends once the last batch is answered: a new
     * batch started in that grace period would be cut off unanswered. */
    if (d->stopping) {
        proto_fail(&e, 503, NULL, "server is shutting down");
        refuse(d, req, &r, &e, started);
        return;
    }
    if (r.req.n == 0) {
        httpd_send_json(req, 200, proto_answer(&d->cfg.proto, &r.opts, NULL, NULL, 0, PROTO_RIGHT));
        log_request(d, req, path, 200, 0, 0, started);
        proto_request_free(&r);
        return;
    }
    if (d->busy) {
        proto_fail(&e, 429, NULL, "server is busy processing another request");
        refuse(d, req, &r, &e, started);
        return;
    }
    if (!proto_admit(&d->cfg.proto, &r, &e)) {
        refuse(d, req, &r, &e, started);
        return;
    }
    start_current(d, req, &r, started);
}

/* A health or metadata endpoint. */
static void handle_info(classifyd *d, httpd_req *req)
{
    if (!require_method(d, req, "GET"))
        return;
    char *body;
    proto_error e;
    if (!proto_info(&d->cfg.proto, httpd_req_path(req), d->stopping, &body, &e))
        send_error(d, req, &e);
    else if (body && !body[0]) /* an answer without a body */
        httpd_send_text(req, 200, "text/plain", body, 0), free(body);
    else
        httpd_send_json(req, 200, body);
}

static void on_request(httpd_req *req, void *arg)
{
    classifyd *d = arg;
    double started = mono_now();
    const char *path = httpd_req_path(req);
    proto_error e;

    switch (proto_route(&d->cfg.proto, path, &e)) {
    case PROTO_ROUTE_INFER:
        handle_infer(d, req, started);
        return;
    case PROTO_ROUTE_INFO:
        handle_info(d, req);
        break;
    default:
        send_error(d, req, &e);
    }
    log_request(d, req, path, httpd_req_status(req), 0, 0, started);
}

/* The first SIGINT/SIGTERM lets the request in progress finish; a second
 * one answers it 503 and exits at once. */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    classifyd *d = arg;
    if (d->stopping && d->busy) {
        if (!d->cfg.quiet)
            log_info("signal %d again: answering the current request 503 and exiting", (int)sig);
        evtimer_del(d->timer);
        const char *path = httpd_req_path(d->req);
        send_errorf(d, d->req, 503, "server stopped before this request was done");
        log_request(d, d->req, path, 503, d->n, d->longest, d->started);
        end_current(d);
    } else if (!d->stopping && !d->cfg.quiet) {
        log_info("signal %d: finishing the current request, then exiting (again: at once)",
                 (int)sig);
    }
    if (!d->stopping)
        sdnotify_stopping();
    d->stopping = true;
    maybe_exit(d);
}

/* --model NAME: the name must go in a path unescaped (proto.h). */
static bool set_model(const opt_entry *e, void *base, const char *value, opt_from from, char *why,
                      size_t whylen)
{
    (void)e;
    (void)from;
    if (!proto_model_name_valid(value)) {
        snprintf(why, whylen, "'%s' is not 1-64 of A-Z a-z 0-9 _ . -", value);
        return false;
    }
    ((classifyd_config *)base)->proto.model = value;
    return true;
}

/* The options; their defaults are here alone. */
static const opt_entry classifyd_opts[] = {
    {.name = "listen",
     .type = OPT_STR,
     OPT_FIELD(classifyd_config, listen),
     .def = "127.0.0.1:8001",
     .arg = "HOST:PORT",
     .help = "address to listen on (default %D; port 0 picks a free one, printed as 'listening "
             "on HOST:PORT')"},
    {.name = "cost",
     .type = OPT_DOUBLE,
     OPT_FIELD(classifyd_config, cost),
     .dhi = 10,
     .def = "0.002",
     .arg = "SECONDS",
     .help = "seconds per squared code point of the longest sequence (default %D; 0 answers at "
             "once)"},
    {.name = "cost-linear",
     .type = OPT_DOUBLE,
     OPT_FIELD(classifyd_config, cost_linear),
     .dhi = 10,
     .def = "0",
     .arg = "SECONDS",
     .help = "seconds per code point of the longest sequence, added to the above (default %D), "
             "as a backend that pads every text to the longest would cost"},
    {.name = "protocol",
     .type = OPT_CHOICE,
     OPT_FIELD(classifyd_config, proto.kind),
     .choices = proto_kind_names,
     .def = "classify",
     .arg = "NAME",
     .help = "the API spoken: %C (default %D; see 'Protocols' below)"},
    {.name = "model",
     .type = OPT_CUSTOM,
     .set = set_model,
     .def = "classifier",
     .arg = "NAME",
     .help = "oip: the model's name, served at /v2/models/NAME (default %D; 1-64 of A-Z a-z "
             "0-9 _ . -)"},
    {.name = "max-body",
     .type = OPT_SIZE,
     OPT_FIELD(classifyd_config, max_body),
     .lo = 16,
     .hi = 1 << 30,
     .def = "1048576",
     .arg = "BYTES",
     .help = "largest request body accepted"},
    {.name = "max-length",
     .type = OPT_SIZE,
     OPT_FIELD(classifyd_config, max_length),
     .lo = 1,
     .hi = 1000000,
     .def = "1000",
     .arg = "N",
     .help = "longest sequence in code points (default %D; longer get 413: at cost 0.002, 1000 "
             "is 2000 s)"},
    {.name = "io-timeout",
     .type = OPT_INT,
     OPT_FIELD(classifyd_config, io_timeout),
     .lo = 1,
     .hi = 3600,
     .def = "10",
     .arg = "SECONDS",
     .help = "client read/write timeout"},
    {.name = "quiet",
     .type = OPT_FLAG,
     OPT_FIELD(classifyd_config, quiet),
     .help = "no per-request log lines"},
    {.name = "log-format",
     .type = OPT_CHOICE,
     OPT_FIELD(classifyd_config, log_format),
     .choices = log_formats,
     .def = "text",
     .arg = "FORMAT",
     .help = "%C (default %D): json writes one JSON object a line (time, level, program, "
             "message and the line's fields), for log shippers"},
    {.name = "config",
     .type = OPT_CONFIG,
     OPT_FIELD(classifyd_config, settings),
     .arg = "FILE",
     .help = "read settings from FILE first: NAME = VALUE lines, NAME an option of this "
             "list without \"--\" (a flag's VALUE true or false), '#' comments; the command "
             "line overrides them (see README, 'Settings file')"},
    {.name = "fault-seed",
     .type = OPT_U64,
     OPT_FIELD(classifyd_config, fault.seed),
     .hi = UINT64_MAX,
     .def = "1",
     .arg = "N",
     .help = "PRNG seed for the faults",
     .group = "Fault injection (for chaos tests; each accepted request draws one fate, "
              "reproducibly from the seed; rates are fractions and add up to at most 1; every "
              "fault takes effect once the modelled cost has elapsed):"},
    {.name = "fail-rate",
     .type = OPT_DOUBLE,
     OPT_FIELD(classifyd_config, fault.fail_rate),
     .dhi = 1,
     .def = "0",
     .arg = "R",
     .help = "answer 500 (tei: 424) in the protocol's error shape"},
    {.name = "drop-rate",
     .type = OPT_DOUBLE,
     OPT_FIELD(classifyd_config, fault.drop_rate),
     .dhi = 1,
     .def = "0",
     .arg = "R",
     .help = "close the connection without answering"},
    {.name = "hang-rate",
     .type = OPT_DOUBLE,
     OPT_FIELD(classifyd_config, fault.hang_rate),
     .dhi = 1,
     .def = "0",
     .arg = "R",
     .help = "never answer (the server is free again after the modelled cost; the connection "
             "closes when the client hangs up)"},
    {.name = "slow-rate",
     .type = OPT_DOUBLE,
     OPT_FIELD(classifyd_config, fault.slow_rate),
     .dhi = 1,
     .def = "0",
     .arg = "R",
     .help = "answer correctly but --slow-factor times slower"},
    {.name = "slow-factor",
     .type = OPT_DOUBLE,
     OPT_FIELD(classifyd_config, fault.slow_factor),
     .dlo = 1,
     .dhi = 1000,
     .def = "10",
     .arg = "F",
     .help = "how many times the modelled cost a slow answer takes"},
    {.name = "garbage-rate",
     .type = OPT_DOUBLE,
     OPT_FIELD(classifyd_config, fault.garbage_rate),
     .dhi = 1,
     .def = "0",
     .arg = "R",
     .help = "answer 200 with malformed JSON, the wrong number of results, an unknown label or "
             "the wrong shape (in the protocol's answer)"},
    {0}};

static const opt_program classifyd_program = {
    .name = "classifyd",
    .usage = "Usage: classifyd [OPTIONS]\n"
             "A text classification server (\"code\" / \"not code\") with the original\n"
             "challenge's cost model: one request at a time, cost * L^2 seconds each\n"
             "(plus cost-linear * L), L the longest text's length in code points.\n"
             "\n",
    .epilog = "Protocols (docs/backends.md); in each, a request during another gets 429 at\n"
              "once, in the protocol's error shape:\n"
              "  classify  POST /classify {\"sequences\": [up to 5 strings]}\n"
              "              -> {\"results\": [...]}; GET /healthz -> 200\n"
              "  oip       the Open Inference Protocol (KServe v2, Triton):\n"
              "            POST /v2/models/NAME[/versions/1]/infer with the BYTES input\n"
              "              'text' (shape [n] or [n, 1]) -> outputs 'label' (BYTES) and\n"
              "              'score' (FP32); GET /v2/health/live, /v2/health/ready,\n"
              "              /v2/models/NAME[/versions/1][/ready], /v2\n"
              "  tei       Text Embeddings Inference: POST /predict {\"inputs\": \"text\"}\n"
              "              or {\"inputs\": [[\"a\"], [\"b\"]]} -> [{\"score\", \"label\"}, ...]\n"
              "              per text; GET /health, /info\n"
              "Signals: SIGINT/SIGTERM finish the request in progress (new requests and\n"
              "the readiness checks, /healthz, oip's ready endpoints and tei's /health, get\n"
              "503 meanwhile), then exit; a second one answers it 503 and exits at once.\n",
    .table = classifyd_opts,
    .column = 23};

/* The options, then what ties several together: 0, 2 (bad) or OPT_EXIT. */
static int parse_args(int argc, char **argv, classifyd_config *cfg)
{
    int rc = opt_parse(&classifyd_program, cfg, argc, argv, NULL);
    char why[128];
    if (rc == 0 && !fault_config_valid(&cfg->fault, why, sizeof why)) {
        fprintf(stderr, "classifyd: %s\n", why);
        rc = 2;
    }
    cfg->proto.max_items = CLASSIFYD_MAX_SEQUENCES;
    cfg->proto.max_length = cfg->max_length;
    return rc;
}

int main(int argc, char **argv)
{
    httpd_global_init();
    classifyd d = {0};
    int rc = parse_args(argc, argv, &d.cfg);
    if (rc) {
        opt_free(classifyd_opts, &d.cfg);
        return rc == OPT_EXIT ? 0 : rc;
    }
    fault_init(&d.faults, &d.cfg.fault);
    httpd_raise_fd_limit();
    log_init("classifyd", LOG_INFO);
    log_set_format(d.cfg.log_format);
    signal(SIGPIPE, SIG_IGN);

    /* Precise timers: the answer times are the whole point of this server. */
    struct event_config *ecfg = event_config_new();
    if (ecfg) {
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
        d.base = event_base_new_with_config(ecfg);
        event_config_free(ecfg);
    }
    if (!d.base) {
        log_error("cannot create the event loop");
        opt_free(classifyd_opts, &d.cfg);
        return 1;
    }
    /* The signal events exist before "listening on" is printed: a signal
     * sent the moment a supervisor sees that line is a clean stop. */
    d.sigint = evsignal_new(d.base, SIGINT, on_signal, &d);
    d.sigterm = evsignal_new(d.base, SIGTERM, on_signal, &d);
    evsignal_add(d.sigint, NULL);
    evsignal_add(d.sigterm, NULL);
    httpd_limits lim = {
        .max_body = d.cfg.max_body, .max_headers = 16384, .io_timeout_s = d.cfg.io_timeout};
    char err[256];
    httpd_handlers h = {.on_request = on_request, .arg = &d};
    d.http = httpd_listen(d.base, d.cfg.listen, &lim, &h, err, sizeof err);
    if (!d.http) {
        log_error("%s", err);
        event_free(d.sigint);
        event_free(d.sigterm);
        event_base_free(d.base);
        opt_free(classifyd_opts, &d.cfg);
        return 1;
    }
    d.timer = evtimer_new(d.base, on_done, &d);
    sdnotify_ready(); /* the service manager's cue, as "listening on" is a test's */

    event_base_dispatch(d.base);

    httpd_free(d.http); /* tells the held requests first */
    event_free(d.timer);
    event_free(d.sigint);
    event_free(d.sigterm);
    event_base_free(d.base);
    opt_free(classifyd_opts, &d.cfg);
    return 0;
}
