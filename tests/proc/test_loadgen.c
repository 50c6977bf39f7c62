/* End-to-end tests of loadgen against real classifyd + batchproxy, and its flag handling. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tproc.h"
#include "wl.h"

#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct servers {
    tproc classifyd, proxy;
} servers;

static int setup(void **state)
{
    servers *s = calloc(1, sizeof *s);
    const char *cargs[] = {"--cost", "0.0005", "--quiet", NULL};
    if (!s || !tproc_start(&s->classifyd, "classifyd", cargs)) {
        free(s);
        return -1;
    }
    char backend[64];
    snprintf(backend, sizeof backend, "http://127.0.0.1:%d", s->classifyd.port);
    const char *pargs[] = {"--backend", backend, NULL};
    if (!tproc_start(&s->proxy, "batchproxy", pargs)) {
        tproc_stop(&s->classifyd, 5);
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    servers *s = *state;
    if (s) {
        tproc_stop(&s->proxy, 5);
        tproc_stop(&s->classifyd, 5);
        free(s);
    }
    return 0;
}

/* Runs loadgen with args, stdout to out_path, stderr to err_path; waits at
 * most `limit` seconds. Returns its exit status, or -1. */
static int run_loadgen(const char *const *args, const char *out_path, const char *err_path,
                       double limit)
{
    return tproc_run("loadgen", args, out_path, err_path, limit);
}

static void paths(const char *tag, char *out, char *err, char *trace, size_t len)
{
    mkdir(BP_BUILD_DIR "/tests/logs", 0755);
    snprintf(out, len, "%s/tests/logs/loadgen-%s-%d.out", BP_BUILD_DIR, tag, (int)getpid());
    snprintf(err, len, "%s/tests/logs/loadgen-%s-%d.err", BP_BUILD_DIR, tag, (int)getpid());
    snprintf(trace, len, "%s/tests/logs/loadgen-%s-%d.csv", BP_BUILD_DIR, tag, (int)getpid());
}

static json_int_t jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static json_t *load_json(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        fail_msg("%s is not JSON: %s", path, je.text);
    return j;
}

static void test_seed_profile_end_to_end(void **state)
{
    servers *s = *state;
    char url[128], out[300], err[300], trace[300];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/proxy_classify", s->proxy.port);
    paths("seed", out, err, trace, sizeof out);
    const char *args[] = {"--url",  url, "--profile", "seed", "--rounds",  "1",  "--json",
                          "--seed", "1", "--trace",   trace,  "--timeout", "30", NULL};
    int rc = run_loadgen(args, out, err, 90);
    assert_int_equal(rc, 0);

    json_t *j = load_json(out);
    const json_t *o = json_object_get(j, "overall");
    assert_int_equal(jint(j, "sent"), 27);
    assert_int_equal(jint(o, "requests"), 27);
    assert_int_equal(jint(o, "successes") + jint(o, "errors"), 27);
    assert_int_equal(jint(o, "successes"), 27);
    const json_t *clients = json_object_get(j, "clients");
    assert_int_equal(json_array_size(clients), 2);
    assert_int_equal(jint(json_array_get(clients, 0), "requests"), 15);
    assert_int_equal(jint(json_array_get(clients, 1), "requests"), 12);
    const json_t *fair = json_object_get(j, "fairness");
    assert_true(json_is_number(json_object_get(fair, "jain")));
    double jain = json_number_value(json_object_get(fair, "jain"));
    assert_true(jain > 0.5 - 1e-9 && jain <= 1 + 1e-9);
    json_decref(j);

    wl_trace t;
    wl_client *cs = NULL;
    size_t n = 0;
    char why[256];
    assert_true(wl_trace_read(trace, false, &t, &cs, &n, why, sizeof why));
    assert_int_equal(t.n, 27);
    wl_trace_free(&t);
    free(cs);
    /* And by lines: a header plus one line per request. */
    FILE *f = fopen(trace, "r");
    assert_non_null(f);
    int lines = 0, c;
    while ((c = fgetc(f)) != EOF)
        lines += c == '\n';
    fclose(f);
    assert_int_equal(lines, 28);

    /* The proxy saw no client ids and the run left it healthy. */
    thttp_resp r;
    assert_true(thttp_request(s->proxy.port, "GET", "/healthz", NULL, NULL, &r, 5));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
}

static void test_custom_clients_with_ids(void **state)
{
    servers *s = *state;
    char url[128], out[300], err[300], trace[300];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/proxy_classify", s->proxy.port);
    paths("custom", out, err, trace, sizeof out);
    const char *args[] = {"--url",    url,
                          "--client", "name=fast,arrival=poisson:50,len=list:3/6,count=10,id=yes",
                          "--client", "name=steady,arrival=steady:0.01,len=4,count=5,distinct=no",
                          "--json",   "--seed",
                          "9",        NULL};
    assert_int_equal(run_loadgen(args, out, err, 60), 0);
    json_t *j = load_json(out);
    const json_t *o = json_object_get(j, "overall");
    assert_int_equal(jint(o, "requests"), 15);
    assert_int_equal(jint(o, "successes") + jint(o, "errors"), 15);
    json_decref(j);
}

static void test_connection_refused_is_counted(void **state)
{
    /* A port nobody listens on: bind one, then close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    char url[128], out[300], err[300], trace[300];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/proxy_classify", ntohs(a.sin_port));
    paths("refused", out, err, trace, sizeof out);
    const char *args[] = {
        "--url",  url,         "--client", "name=x,arrival=steady:0.005,len=5,count=8",
        "--json", "--timeout", "5",        NULL};
    assert_int_equal(run_loadgen(args, out, err, 60), 0);
    json_t *j = load_json(out);
    const json_t *o = json_object_get(j, "overall");
    assert_int_equal(jint(o, "requests"), 8);
    assert_int_equal(jint(o, "successes"), 0);
    assert_int_equal(jint(o, "errors"), 8);
    const json_t *by = json_object_get(o, "errors_by_status");
    /* Refused at once, or (unlikely) no answer: never lost. */
    json_int_t conn = json_integer_value(json_object_get(by, "conn"));
    json_int_t tmo = json_integer_value(json_object_get(by, "timeout"));
    assert_int_equal(conn + tmo, 8);
    json_decref(j);
}

static void test_flags(void **state)
{
    char out[300], err[300], trace[300];
    paths("flags", out, err, trace, sizeof out);
    const char *help[] = {"--help", NULL};
    assert_int_equal(run_loadgen(help, out, err, 10), 0);
    const char *version[] = {"--version", NULL};
    assert_int_equal(run_loadgen(version, out, err, 10), 0);
    const char *bad_spec[] = {"--client", "name=x,arrival=nope,len=5,count=1", NULL};
    assert_int_equal(run_loadgen(bad_spec, out, err, 10), 2);
    const char *bad_flag[] = {"--frobnicate", NULL};
    assert_int_equal(run_loadgen(bad_flag, out, err, 10), 2);
    const char *bad_url[] = {"--url", "https://example.com/", NULL};
    assert_int_equal(run_loadgen(bad_url, out, err, 10), 2);
    const char *bad_rounds[] = {"--rounds", "0", NULL};
    assert_int_equal(run_loadgen(bad_rounds, out, err, 10), 2);
    /* A dry run prints the planned trace and sends nothing. */
    const char *dry[] = {"--dry-run", "--rounds", "2", NULL};
    assert_int_equal(run_loadgen(dry, out, err, 10), 0);
    wl_trace t;
    wl_client *cs = NULL;
    size_t n = 0;
    char why[256];
    assert_true(wl_trace_read(out, false, &t, &cs, &n, why, sizeof why));
    assert_int_equal(t.n, 54);
    wl_trace_free(&t);
    free(cs);
}

/* Mistakes found before anything is sent, each exit 2 with a message
 * naming it; and a report that can't be written is exit 1, not 0. */
static void test_refused_before_the_run(void **state)
{
    char out[300], err[300], trace[300];
    paths("refused", out, err, trace, sizeof out);
    static const struct {
        const char *args[7];
        const char *says;
    } bad[] = {
        {{"--client", "name=x,arrival=steady:1e300,len=5,count=2", "--dry-run", NULL}, "at most"},
        {{"--client", "name=x,arrival=poisson:1e-300,len=5,count=2", "--dry-run", NULL}, "poisson"},
        {{"--dry-run", "--json", NULL}, "--dry-run"},
        {{"--url", "http://127.0.0.1:1/", "--trace", "/nonexistent/t.csv", NULL}, "/nonexistent"},
        {{"--url", "http://u:p@127.0.0.1:1/", NULL}, "user:password"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (run_loadgen(bad[i].args, out, err, 10) != 2 || !tfile_contains(err, bad[i].says))
            fail_msg("case %zu: expected exit 2 and a message naming '%s'", i, bad[i].says);
    /* A replayed trace: at least one request, and played once. */
    FILE *f = fopen(trace, "w");
    assert_non_null(f);
    fputs("client,send_s,length\n", f);
    fclose(f);
    const char *empty[] = {"--replay", trace, "--dry-run", NULL};
    assert_int_equal(run_loadgen(empty, out, err, 10), 2);
    assert_true(tfile_contains(err, "no requests"));
    const char *rounds[] = {"--replay", trace, "--rounds", "3", "--dry-run", NULL};
    assert_int_equal(run_loadgen(rounds, out, err, 10), 2);
    assert_true(tfile_contains(err, "--rounds"));
    unlink(trace);
    /* Standard output on a full disk. */
    const char *dry[] = {"--dry-run", NULL};
    assert_int_equal(tproc_run("loadgen", dry, "/dev/full", err, 10), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seed_profile_end_to_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_custom_clients_with_ids, setup, teardown),
        cmocka_unit_test(test_connection_refused_is_counted),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_refused_before_the_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
