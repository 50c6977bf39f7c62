/* Every program's --help and its option table (--list-options) name the same
 * options, and --help shows each default the table holds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_OPTS 128

/* The whole output of `prog arg` (malloc'd). */
static char *output(const char *prog, const char *arg)
{
    char out[300], err[300];
    mkdir(BP_BUILD_DIR "/tests/logs", 0755);
    snprintf(out, sizeof out, "%s/tests/logs/options-%s-%d.out", BP_BUILD_DIR, prog, (int)getpid());
    snprintf(err, sizeof err, "%s/tests/logs/options-%s-%d.err", BP_BUILD_DIR, prog, (int)getpid());
    const char *args[] = {arg, NULL};
    assert_int_equal(tproc_run(prog, args, out, err, 10), 0);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 16);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    assert_true(n > 0 && n < (1 << 16) - 1);
    return buf;
}

/* The options --help describes: each "  --NAME" at the start of a line (the
 * built-in line "  --help, --version, --list-options" gives three), with the
 * text of its description, whitespace squeezed. */
typedef struct described {
    char name[64];
    char text[2048];
} described;

static size_t parse_help(char *help, described *d)
{
    size_t n = 0;
    for (char *line = strtok(help, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "  --", 4) == 0) {
            for (char *p = line + 2; p && strncmp(p, "--", 2) == 0 && n < MAX_OPTS; n++) {
                size_t len = strcspn(p, " ,");
                snprintf(d[n].name, sizeof d[n].name, "%.*s", (int)len, p);
                snprintf(d[n].text, sizeof d[n].text, "%s", p + len);
                p = p[len] == ',' ? p + len + 2 : NULL;
            }
        } else if (n > 0 && line[0] == ' ') { /* a description goes on */
            size_t at = strlen(d[n - 1].text);
            char *s = line + strspn(line, " ");
            snprintf(d[n - 1].text + at, sizeof d[n - 1].text - at, " %s", s);
        }
    }
    return n;
}

static const described *find(const described *d, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].name, name) == 0)
            return &d[i];
    return NULL;
}

static void check_program(const char *prog)
{
    char *help = output(prog, "--help");
    char *list = output(prog, "--list-options");
    static described d[MAX_OPTS];
    size_t nd = parse_help(help, d);
    assert_true(nd > 3);
    /* Every listed option is described, with its default. */
    size_t listed = 0;
    for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n"), listed++) {
        char name[64], type[16], arg[64], def[256], reload[16];
        if (sscanf(line, "%63[^\t]\t%15[^\t]\t%63[^\t]\t%255[^\t]\t%15s", name, type, arg, def,
                   reload) != 5)
            fail_msg("%s --list-options: a malformed line '%s'", prog, line);
        const described *e = find(d, nd, name);
        if (!e)
            fail_msg("%s: %s is in the table but not in --help", prog, name);
        char want[300];
        snprintf(want, sizeof want, "default %s", def);
        if (strcmp(def, "-") != 0 && !strstr(e->text, want))
            fail_msg("%s --help: %s doesn't say '%s': %s", prog, name, want, e->text);
        if (strcmp(arg, "-") != 0 &&
            (e->text[0] != ' ' || strncmp(e->text + 1, arg, strlen(arg)) != 0))
            fail_msg("%s --help: %s lacks its value's name %s", prog, name, arg);
        if (strcmp(reload, "sighup") != 0 && strcmp(reload, "restart") != 0)
            fail_msg("%s: %s: '%s'", prog, name, reload);
    }
    /* And --help describes nothing else but the built-in options. */
    assert_int_equal(nd, listed + 3);
    assert_non_null(find(d, nd, "--help"));
    assert_non_null(find(d, nd, "--version"));
    assert_non_null(find(d, nd, "--list-options"));
    free(help);
    free(list);
}

static void test_batchproxy(void **state)
{
    (void)state;
    check_program("batchproxy");
}

static void test_classifyd(void **state)
{
    (void)state;
    check_program("classifyd");
}

static void test_loadgen(void **state)
{
    (void)state;
    check_program("loadgen");
}

static void test_schedsim(void **state)
{
    (void)state;
    check_program("schedsim");
}

/* SIGHUP applies these and no other (src/proxy/reconf.c takes each to the
 * module that holds it); loadgen and schedsim, which don't reload, say
 * restart for all, the clients' defaults they share with batchproxy too. */
static void test_reloadable_options(void **state)
{
    (void)state;
    static const char *const reloadable[] = {
        "--backends-file", "--timeout",         "--retries",
        "--backoff-base",  "--backoff-cap",     "--clients",
        "--rate-limit",    "--rate-burst",      "--client-max-queue",
        "--cache-ttl",     "--metrics-clients", "--metrics-cache-ms",
        "--drain-timeout", "--log-level",       NULL};
    char *list = output("batchproxy", "--list-options");
    size_t n = 0, k;
    for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n"))
        if (strstr(line, "\tsighup")) {
            n++;
            for (k = 0; reloadable[k]; k++)
                if (strncmp(line, reloadable[k], strlen(reloadable[k])) == 0 &&
                    line[strlen(reloadable[k])] == '\t')
                    break;
            if (!reloadable[k])
                fail_msg("batchproxy --list-options: %s is not one SIGHUP applies", line);
        }
    assert_int_equal(n, sizeof reloadable / sizeof *reloadable - 1);
    free(list);
    const char *others[] = {"classifyd", "loadgen", "schedsim"};
    for (size_t i = 0; i < 3; i++) {
        list = output(others[i], "--list-options");
        if (strstr(list, "\tsighup"))
            fail_msg("%s --list-options: an option marked sighup:\n%s", others[i], list);
        free(list);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batchproxy),
        cmocka_unit_test(test_classifyd),
        cmocka_unit_test(test_loadgen),
        cmocka_unit_test(test_schedsim),
        cmocka_unit_test(test_reloadable_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
