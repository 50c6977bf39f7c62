/* Unit tests for opt: options described once in a table (parsing, checks,
 * defaults, --help and --list-options from the same entries). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "opt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct inner {
    double rate;
    size_t depth;
} inner;

typedef struct cfg {
    bool quiet;
    const char *name;
    const char *url;
    int retries;
    size_t size;
    uint64_t seed;
    double cost;
    double wait; /* seconds; --wait-ms */
    int color;
    const char **tags;
    size_t ntags;
    int pair[2]; /* --pair A,B: two fields from one value */
    int pairs_given;
    int pair_resets;
    void *settings; /* --config */
    inner in;
} cfg;

static const char *const colors[] = {"red", "green", "blue", NULL};

/* --pair A,B: sets two fields; counts the values given (by the file or the
 * command line) apart from the default, and the times it was told to forget the
 * settings file's (v NULL). */
static bool set_pair(const opt_entry *e, void *base, const char *v, opt_from from, char *why,
                     size_t whylen)
{
    cfg *c = base;
    if (!v) {
        c->pair_resets++;
        return true;
    }
    int a, b;
    char end;
    if (sscanf(v, "%d,%d%c", &a, &b, &end) != 2 || a > b) {
        snprintf(why, whylen, "'%s' is not A,B with A <= B", v);
        return false;
    }
    c->pair[0] = a;
    c->pair[1] = b;
    c->pairs_given += from != OPT_FROM_DEFAULT;
    return true;
}

static const opt_entry inner_opts[] = {{.name = "rate",
                                        .type = OPT_DOUBLE,
                                        OPT_FIELD(inner, rate),
                                        .dhi = 100,
                                        .def = "2.5",
                                        .arg = "RPS",
                                        .help = "a rate"},
                                       {.name = "depth",
                                        .type = OPT_SIZE,
                                        OPT_FIELD(inner, depth),
                                        .lo = 1,
                                        .hi = 9,
                                        .def = "3",
                                        .arg = "N",
                                        .help = "a depth (default %D, or less)"},
                                       {0}};

static const opt_entry opts[] = {
    {.name = "quiet", .type = OPT_FLAG, OPT_FIELD(cfg, quiet), .help = "say less", .group = "G1:"},
    {.name = "name",
     .type = OPT_STR,
     OPT_FIELD(cfg, name),
     .def = "anon",
     .arg = "NAME",
     .help = "a name",
     .flags = OPT_RELOAD},
    {.name = "url",
     .type = OPT_URL,
     OPT_FIELD(cfg, url),
     .def = "http://127.0.0.1:9/x",
     .arg = "URL",
     .help = "where"},
    {.name = "retries",
     .type = OPT_INT,
     OPT_FIELD(cfg, retries),
     .hi = 100,
     .def = "3",
     .arg = "N",
     .help = "tries"},
    {.name = "size",
     .type = OPT_SIZE,
     OPT_FIELD(cfg, size),
     .lo = 16,
     .hi = 1 << 20,
     .def = "1024",
     .arg = "BYTES",
     .help = "how big",
     .group = "G2:"},
    {.name = "seed",
     .type = OPT_U64,
     OPT_FIELD(cfg, seed),
     .hi = UINT64_MAX,
     .def = "1",
     .arg = "N",
     .help = "a seed"},
    {.name = "cost",
     .type = OPT_DOUBLE,
     OPT_FIELD(cfg, cost),
     .dlo = 0.001,
     .dhi = 10,
     .def = "0.002",
     .arg = "SECONDS",
     .help = "cost (default %D; 0.001 at least)"},
    {.name = "wait-ms",
     .type = OPT_MS,
     OPT_FIELD(cfg, wait),
     .dhi = 60000,
     .def = "250",
     .arg = "MS",
     .help = "a wait"},
    {.name = "color",
     .type = OPT_CHOICE,
     OPT_FIELD(cfg, color),
     .choices = colors,
     .def = "green",
     .arg = "C",
     .help = "%C"},
    {.name = "tag",
     .type = OPT_LIST,
     OPT_FIELD(cfg, tags),
     .count_off = offsetof(cfg, ntags),
     .hi = 3,
     .arg = "T",
     .help = "a tag (repeatable)"},
    {.name = "pair",
     .type = OPT_CUSTOM,
     .set = set_pair,
     .def = "1,2",
     .arg = "A,B",
     .help = "two",
     .flags = OPT_REPEAT},
    {.name = "config",
     .type = OPT_CONFIG,
     OPT_FIELD(cfg, settings),
     .arg = "FILE",
     .help = "settings"},
    {OPT_SUB(cfg, in), .sub = inner_opts, .group = "Inner:", .flags = OPT_RELOAD},
    {0}};

static const opt_program prog = {.name = "t",
                                 .usage = "Usage: t [OPTIONS]\n\n",
                                 .epilog = "The end.\n",
                                 .table = opts,
                                 .column = 20};

static cfg defaults(void)
{
    cfg c = {0};
    char err[256];
    assert_true(opt_defaults(opts, &c, err, sizeof err));
    return c;
}

/* Sets name=value on a fresh struct with the defaults; returns its error or
 * "" (static). */
static const char *set(cfg *c, const char *name, const char *value)
{
    static char err[512];
    err[0] = '\0';
    opt_set(opts, c, name, value, OPT_FROM_ARGS, err, sizeof err);
    return err;
}

static void expect_err(const char *name, const char *value, const char *want)
{
    cfg c = defaults();
    const char *got = set(&c, name, value);
    if (strcmp(got, want) != 0)
        fail_msg("--%s %s: got '%s', want '%s'", name, value ? value : "(none)", got, want);
    opt_free(opts, &c);
}

static void test_defaults(void **state)
{
    (void)state;
    cfg c = defaults();
    assert_false(c.quiet);
    assert_string_equal(c.name, "anon");
    assert_string_equal(c.url, "http://127.0.0.1:9/x");
    assert_int_equal(c.retries, 3);
    assert_int_equal(c.size, 1024);
    assert_int_equal(c.seed, 1);
    assert_true(c.cost == 0.002);
    assert_true(c.wait == 0.25);
    assert_int_equal(c.color, 1);
    assert_null(c.tags);
    assert_int_equal(c.ntags, 0);
    assert_int_equal(c.pair[0], 1);
    assert_int_equal(c.pair[1], 2);
    assert_int_equal(c.pairs_given, 0); /* the default is no value given */
    assert_true(c.in.rate == 2.5);
    assert_int_equal(c.in.depth, 3);
}

static void test_each_type(void **state)
{
    (void)state;
    cfg c = defaults();
    assert_string_equal(set(&c, "quiet", NULL), "");
    assert_true(c.quiet);
    assert_string_equal(set(&c, "quiet", "no"), "");
    assert_false(c.quiet);
    assert_string_equal(set(&c, "name", "bob"), "");
    assert_string_equal(c.name, "bob");
    assert_string_equal(set(&c, "url", "http://[::1]:8/y"), "");
    assert_string_equal(c.url, "http://[::1]:8/y");
    assert_string_equal(set(&c, "retries", "100"), "");
    assert_int_equal(c.retries, 100);
    assert_string_equal(set(&c, "size", "16"), "");
    assert_int_equal(c.size, 16);
    assert_string_equal(set(&c, "seed", "18446744073709551615"), "");
    assert_true(c.seed == UINT64_MAX);
    assert_string_equal(set(&c, "cost", "1e-3"), "");
    assert_true(c.cost == 0.001);
    assert_string_equal(set(&c, "wait-ms", "1500"), "");
    assert_true(c.wait == 1.5);
    assert_string_equal(set(&c, "color", "blue"), "");
    assert_int_equal(c.color, 2);
    assert_string_equal(set(&c, "pair", "4,7"), "");
    assert_int_equal(c.pair[0], 4);
    assert_int_equal(c.pair[1], 7);
    assert_int_equal(c.pairs_given, 1);
    /* An included table's fields lie in its struct. */
    assert_string_equal(set(&c, "rate", "100"), "");
    assert_true(c.in.rate == 100);
    assert_string_equal(set(&c, "depth", "9"), "");
    assert_int_equal(c.in.depth, 9);
    opt_free(opts, &c);
}

static void test_ranges_and_errors(void **state)
{
    (void)state;
    expect_err("retries", "101", "--retries: '101' is not a whole number in [0, 100]");
    expect_err("retries", "-1", "--retries: '-1' is not a whole number in [0, 100]");
    expect_err("retries", "1e1", "--retries: '1e1' is not a whole number in [0, 100]");
    expect_err("retries", "", "--retries: '' is not a whole number in [0, 100]");
    expect_err("size", "15", "--size: '15' is not a whole number in [16, 1048576]");
    expect_err("seed", "18446744073709551616",
               "--seed: '18446744073709551616' is not a whole number in [0, "
               "18446744073709551615]");
    expect_err("cost", "0", "--cost: '0' is not a number in [0.001, 10]");
    expect_err("cost", "nan", "--cost: 'nan' is not a number in [0.001, 10]");
    expect_err("cost", "2x", "--cost: '2x' is not a number in [0.001, 10]");
    expect_err("wait-ms", "60001", "--wait-ms: '60001' is not a number in [0, 60000]");
    expect_err("color", "pink", "--color: 'pink' is not red, green or blue");
    expect_err("quiet", "maybe", "--quiet: 'maybe' is not true or false (yes, no, on, off, 1, 0)");
    expect_err("url", "ftp://x", "--url: 'ftp://x': only http:// URLs are supported");
    expect_err("pair", "3,1", "--pair: '3,1' is not A,B with A <= B");
    expect_err("depth", "0", "--depth: '0' is not a whole number in [1, 9]");
    expect_err("name", NULL, "--name: needs a value");
    expect_err("nope", "1", "unknown option 'nope'");
    /* A refused value leaves the field as it was. */
    cfg c = defaults();
    set(&c, "retries", "x");
    set(&c, "cost", "-1");
    assert_int_equal(c.retries, 3);
    assert_true(c.cost == 0.002);
}

static void test_repeatable(void **state)
{
    (void)state;
    cfg c = defaults();
    assert_string_equal(set(&c, "tag", "a"), "");
    assert_string_equal(set(&c, "tag", "b"), "");
    assert_string_equal(set(&c, "tag", "a"), "");
    assert_int_equal(c.ntags, 3);
    assert_string_equal(c.tags[0], "a");
    assert_string_equal(c.tags[1], "b");
    assert_string_equal(c.tags[2], "a");
    assert_string_equal(set(&c, "tag", "d"), "--tag: at most 3");
    assert_int_equal(c.ntags, 3);
    opt_free(opts, &c);
    assert_null(c.tags);
    assert_int_equal(c.ntags, 0);
}

static int parse(cfg *c, int *operands, ...)
{
    char *argv[32] = {"t"};
    int argc = 1;
    va_list ap;
    va_start(ap, operands);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
        argv[argc++] = a;
    va_end(ap);
    memset(c, 0, sizeof *c);
    return opt_parse(&prog, c, argc, argv, operands);
}

static void test_parse_command_line(void **state)
{
    (void)state;
    cfg c;
    assert_int_equal(parse(&c, NULL, "--quiet", "--tag", "x", "--retries=7", "--wait-ms", "5",
                           "--tag", "y", "--depth", "2", NULL),
                     0);
    assert_true(c.quiet);
    assert_int_equal(c.retries, 7);
    assert_true(c.wait == 0.005);
    assert_int_equal(c.ntags, 2);
    assert_string_equal(c.tags[1], "y");
    assert_int_equal(c.in.depth, 2);
    assert_string_equal(c.name, "anon"); /* defaults for the rest */
    opt_free(opts, &c);

    assert_int_equal(parse(&c, NULL, "--retries", "x", NULL), 2);
    assert_int_equal(parse(&c, NULL, "--bogus", NULL), 2);
    assert_int_equal(parse(&c, NULL, "--retries", NULL), 2);   /* its value is missing */
    assert_int_equal(parse(&c, NULL, "--quiet=yes", NULL), 2); /* a flag takes none */
    assert_int_equal(parse(&c, NULL, "-q", NULL), 2);
    /* Operands: refused, or handed over. */
    assert_int_equal(parse(&c, NULL, "--quiet", "extra", NULL), 2);
    int first = -1;
    assert_int_equal(parse(&c, &first, "a", "--quiet", "b", NULL), 0);
    assert_int_equal(first, 2); /* getopt moved them behind the options */
    assert_true(c.quiet);
    /* --version prints and asks to exit. */
    assert_int_equal(parse(&c, NULL, "--version", "--bogus", NULL), OPT_EXIT);
    opt_free(opts, &c);
}

/* Every entry's line in --help, its default from the table, and nothing
 * past the width. */
static void test_help(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    opt_help(&prog, f);
    fclose(f);
    static const char *const want[] = {"Usage: t [OPTIONS]\n\nG1:\n  --quiet           say less\n",
                                       "  --name NAME       a name (default anon)\n",
                                       "  --cost SECONDS    cost (default 0.002; 0.001 at least)\n",
                                       "  --wait-ms MS      a wait (default 250)\n",
                                       "  --color C         red | green | blue (default green)\n",
                                       "  --tag T           a tag (repeatable)\n",
                                       "G2:\n  --size BYTES",
                                       "Inner:\n  --rate RPS        a rate (default 2.5)\n",
                                       "  --depth N         a depth (default 3, or less)\n",
                                       "--help, --version, --list-options",
                                       "\nThe end.\n"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(buf, want[i]))
            fail_msg("--help lacks '%s':\n%s", want[i], buf);
    for (char *line = buf; *line;) {
        size_t n = strcspn(line, "\n");
        if (n > 80)
            fail_msg("a line of %zu characters: %.*s", n, (int)n, line);
        line += n + (line[n] == '\n');
    }
    free(buf);
}

/* --list-options: every entry, with its type, default and reload flag. */
static void test_list(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    opt_list(opts, f);
    fclose(f);
    assert_string_equal(buf, "--quiet\tflag\t-\t-\trestart\n"
                             "--name\tstring\tNAME\tanon\tsighup\n"
                             "--url\turl\tURL\thttp://127.0.0.1:9/x\trestart\n"
                             "--retries\tint\tN\t3\trestart\n"
                             "--size\tsize\tBYTES\t1024\trestart\n"
                             "--seed\tu64\tN\t1\trestart\n"
                             "--cost\tdouble\tSECONDS\t0.002\trestart\n"
                             "--wait-ms\tms\tMS\t250\trestart\n"
                             "--color\tchoice\tC\tgreen\trestart\n"
                             "--tag\tlist\tT\t-\trestart\n"
                             "--pair\tcustom\tA,B\t1,2\trestart\n"
                             "--config\tconfig\tFILE\t-\trestart\n"
                             "--rate\tdouble\tRPS\t2.5\tsighup\n" /* the include's flag */
                             "--depth\tsize\tN\t3\tsighup\n");
    free(buf);
    size_t base = 0;
    const opt_entry *e = opt_find(opts, "depth", &base);
    assert_non_null(e);
    assert_int_equal(base, offsetof(cfg, in));
    assert_null(opt_find(opts, "help", NULL)); /* built in, not in the table */
}

/* A faulty table is refused before it can write anything. */
static void test_faulty_tables(void **state)
{
    (void)state;
    char err[256];
    cfg c = {0};
    const opt_entry wrong_size[] = {
        {.name = "n", .type = OPT_SIZE, OPT_FIELD(cfg, retries), .hi = 5, .help = "x"}, {0}};
    assert_false(opt_defaults(wrong_size, &c, err, sizeof err));
    assert_non_null(strstr(err, "--n: its field's size is not its type's"));
    const opt_entry bad_default[] = {
        {.name = "n", .type = OPT_INT, OPT_FIELD(cfg, retries), .hi = 5, .def = "6", .help = "x"},
        {0}};
    assert_false(opt_defaults(bad_default, &c, err, sizeof err));
    assert_non_null(strstr(err, "--n: the default: '6' is not a whole number in [0, 5]"));
    const opt_entry twice[] = {
        {.name = "n", .type = OPT_INT, OPT_FIELD(cfg, retries), .hi = 5, .help = "x"},
        {.name = "n", .type = OPT_INT, OPT_FIELD(cfg, retries), .hi = 5, .help = "x"},
        {0}};
    const opt_entry builtin[] = {
        {.name = "help", .type = OPT_FLAG, OPT_FIELD(cfg, quiet), .help = "x"}, {0}};
    opt_program p = prog;
    char *argv[] = {"t", NULL};
    p.table = twice;
    assert_int_equal(opt_parse(&p, &c, 1, argv, NULL), 2);
    p.table = builtin;
    assert_int_equal(opt_parse(&p, &c, 1, argv, NULL), 2);
}

static void test_value_parsers(void **state)
{
    (void)state;
    char why[128];
    double d;
    unsigned long long u;
    assert_true(opt_number(" 5", 0, 10, &d)); /* strtod's leading space */
    assert_false(opt_number("5 ", 0, 10, &d));
    assert_false(opt_number("inf", 0, 10, &d));
    assert_true(opt_double("10", 0, 10, &d, why, sizeof why));
    assert_false(opt_double("10.5", 0, 10, &d, why, sizeof why));
    assert_string_equal(why, "'10.5' is not a number in [0, 10]");
    assert_true(opt_whole("0", 0, 0, &u, why, sizeof why));
    assert_false(opt_whole("+-1", 0, 5, &u, why, sizeof why));
    assert_false(opt_whole("0x10", 0, 100, &u, why, sizeof why));
}

/* The settings files written, removed at the end (remove_files). */
static char written[32][64];
static int nwritten;

/* A settings file with `text`, at a fresh path each time. */
static const char *settings_file(const char *text)
{
    assert_true(nwritten < 32);
    char *path = written[nwritten];
    snprintf(path, sizeof written[0], "/tmp/bp-opt-%d-%d.ini", (int)getpid(), nwritten++);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_ini_lines(void **state)
{
    (void)state;
    char *k = NULL, *v = NULL;
    char l1[] = "  # a comment\n", l2[] = " name = bob ; said so\n", l3[] = "[ sec ]  # x\n",
         l4[] = "[sec] x\n", l5[] = "just words\n", l6[] = "key = a;b#c\n", l7[] = "\n";
    assert_int_equal(opt_ini_line(l1, &k, &v), OPT_INI_NONE);
    assert_int_equal(opt_ini_line(l2, &k, &v), OPT_INI_PAIR);
    assert_string_equal(k, "name");
    assert_string_equal(v, "bob");
    assert_int_equal(opt_ini_line(l3, &k, &v), OPT_INI_SECTION);
    assert_string_equal(k, "sec");
    assert_int_equal(opt_ini_line(l4, &k, &v), OPT_INI_BAD_SECTION);
    assert_int_equal(opt_ini_line(l5, &k, &v), OPT_INI_BAD);
    assert_int_equal(opt_ini_line(l6, &k, &v), OPT_INI_PAIR);
    assert_string_equal(v, "a;b#c"); /* a comment starts after a space only */
    assert_int_equal(opt_ini_line(l7, &k, &v), OPT_INI_NONE);
}

static void test_settings_file(void **state)
{
    (void)state;
    cfg c = defaults();
    char err[600];
    const char *path = settings_file("# settings\n"
                                     "retries = 9\n"
                                     "quiet = yes   ; a flag\n"
                                     "\n"
                                     "wait-ms=40\n"
                                     "tag = one\n"
                                     "tag = two\n"
                                     "depth = 5\n");
    assert_true(opt_load(opts, &c, path, err, sizeof err));
    assert_int_equal(c.retries, 9);
    assert_true(c.quiet);
    assert_true(c.wait == 0.04);
    assert_int_equal(c.ntags, 2);
    assert_string_equal(c.tags[1], "two");
    assert_int_equal(c.in.depth, 5);
    opt_free(opts, &c);
    assert_null(c.settings);

    static const struct {
        const char *text, *says;
    } bad[] = {
        {"retries = 1\nbogus = 2\n", ":2: unknown option 'bogus'"},
        {"size = 5\n", ":1: --size: '5' is not a whole number in [16, 1048576]"},
        {"[main]\n", ":1: a settings file has no [sections]"},
        {"retries\n", ":1: expected NAME = VALUE"},
        {"config = other.ini\n", ":1: --config: only on the command line"},
        {"quiet = maybe\n", ":1: --quiet: 'maybe' is not true or false"},
        {"--retries = 2\n", ":1: unknown option '--retries'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        c = defaults();
        path = settings_file(bad[i].text);
        err[0] = '\0';
        if (opt_load(opts, &c, path, err, sizeof err) || !strstr(err, bad[i].says) ||
            strncmp(err, path, strlen(path)) != 0)
            fail_msg("'%s': got '%s', want '%s%s'", bad[i].text, err, path, bad[i].says);
        opt_free(opts, &c);
    }
    c = defaults();
    assert_false(opt_load(opts, &c, "/nonexistent/x.ini", err, sizeof err));
    assert_string_equal(err, "/nonexistent/x.ini: No such file or directory");
    assert_false(opt_load(inner_opts, &c.in, path, err, sizeof err)); /* no OPT_CONFIG */
}

/* Defaults, then the file, then the command line; a repeatable option on
 * the command line replaces the file's values. */
static void test_command_line_overrides_settings(void **state)
{
    (void)state;
    const char *path = settings_file("retries = 9\nname = filed\ntag = f1\ntag = f2\n"
                                     "pair = 5,6\ncost = 0.5\n");
    char arg[300];
    snprintf(arg, sizeof arg, "--config=%s", path);
    cfg c;
    assert_int_equal(parse(&c, NULL, "--retries", "4", arg, "--tag", "a", "--pair", "7,8", "--pair",
                           "9,9", NULL),
                     0);
    assert_int_equal(c.retries, 4);       /* the command line wins, wherever --config is */
    assert_string_equal(c.name, "filed"); /* the file over the default */
    assert_true(c.cost == 0.5);
    assert_int_equal(c.ntags, 1); /* replaced, not added to */
    assert_string_equal(c.tags[0], "a");
    assert_int_equal(c.pair[0], 9);
    assert_int_equal(c.pair_resets, 1); /* told once to forget the file's */
    assert_int_equal(c.pairs_given, 3); /* the file's, then two */
    opt_free(opts, &c);
    /* Without the command line's, the file's values stay. */
    assert_int_equal(parse(&c, NULL, "--config", path, NULL), 0);
    assert_int_equal(c.ntags, 2);
    assert_int_equal(c.pair_resets, 0);
    opt_free(opts, &c);
    /* A bad file stops the parse. */
    snprintf(arg, sizeof arg, "--config=%s", settings_file("retries = lots\n"));
    assert_int_equal(parse(&c, NULL, arg, NULL), 2);
    opt_free(opts, &c);
    assert_int_equal(parse(&c, NULL, "--config", "/nonexistent/x.ini", NULL), 2);
    opt_free(opts, &c);
}

/* The names opt_changes reports, with "*" after those SIGHUP applies. */
static void note_change(const opt_entry *e, unsigned flags, void *arg)
{
    char *s = arg;
    size_t at = strlen(s);
    snprintf(s + at, 256 - at, " %s%s", e->name, flags & OPT_RELOAD ? "*" : "");
}

/* --list-options=ini: every entry but --config as a commented setting
 * after its help text; uncommented, the lines give the defaults back. */
static void test_ini_defaults(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    opt_ini_defaults(opts, f);
    fclose(f);
    assert_non_null(strstr(buf, "\n# G1:\n\n# say less\n# quiet = false\n"));
    assert_non_null(strstr(buf, "\n# a name (default anon); SIGHUP applies a change\n"
                                "# name = anon\n"));
    assert_non_null(strstr(buf, "\n# a depth (default 3, or less); SIGHUP applies a change\n"
                                "# depth = 3\n"));
    assert_non_null(strstr(buf, "\n# tag = T\n")); /* no default: the value's name */
    assert_null(strstr(buf, "config ="));
    /* Every line is a comment or blank, and at most 80 columns. */
    for (char *line = buf, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        assert_non_null(end);
        assert_true(end - line <= 80);
        assert_true(end == line || line[0] == '#');
    }
    /* Uncommented: the defaults, and the one tag named T. */
    char *text = calloc(1, len + 1), *out = text;
    for (const char *p = buf; *p; p++)
        if (!(p[0] == '#' && p[1] == ' ' && (p == buf || p[-1] == '\n') && strstr(p, " = ") &&
              strstr(p, " = ") < strchr(p, '\n')))
            *out++ = *p;
        else
            p++; /* "# " */
    cfg a = defaults(), b = defaults();
    char err[512], changed[256] = "";
    assert_true(opt_load(opts, &b, settings_file(text), err, sizeof err));
    opt_changes(opts, &a, &b, note_change, changed);
    assert_string_equal(changed, " tag");
    opt_free(opts, &a);
    opt_free(opts, &b);
    free(text);
    free(buf);
}

/* opt_changes compares values, not pointers; flags come from includes. */
static void test_changes(void **state)
{
    (void)state;
    cfg a = defaults(), b = defaults();
    char anon[] = "anon", changed[256] = "";
    b.name = anon; /* the same text elsewhere */
    opt_changes(opts, &a, &b, note_change, changed);
    assert_string_equal(changed, "");
    assert_string_equal(set(&b, "retries", "8"), "");
    assert_string_equal(set(&b, "depth", "4"), "");
    assert_string_equal(set(&b, "name", "other"), "");
    assert_string_equal(set(&b, "tag", "x"), "");
    opt_changes(opts, &a, &b, note_change, changed);
    assert_string_equal(changed, " name* retries tag depth*");
    assert_int_equal(opt_flags(opts, opt_find(opts, "rate", NULL)), OPT_RELOAD);
    assert_int_equal(opt_flags(opts, opt_find(opts, "pair", NULL)), OPT_REPEAT);
    opt_free(opts, &a);
    opt_free(opts, &b);
}

/* opt_reparse reads the settings file as it is now, the same command line
 * over it; a bad file is an error in err, and nothing is printed. */
static void test_reparse(void **state)
{
    (void)state;
    const char *path = settings_file("retries = 9\nname = first\n");
    char *argv[] = {"t", "--name", "cli", "--config", (char *)path, NULL};
    char err[600];
    cfg c = {0};
    assert_true(opt_reparse(&prog, &c, 5, argv, err, sizeof err));
    assert_int_equal(c.retries, 9);
    assert_string_equal(c.name, "cli");
    opt_free(opts, &c);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("retries = 2\nname = second\n", f);
    fclose(f);
    memset(&c, 0, sizeof c);
    assert_true(opt_reparse(&prog, &c, 5, argv, err, sizeof err));
    assert_int_equal(c.retries, 2);
    assert_string_equal(c.name, "cli"); /* the command line still wins */
    opt_free(opts, &c);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("retries = 2\nretries = many\n", f);
    fclose(f);
    memset(&c, 0, sizeof c);
    assert_false(opt_reparse(&prog, &c, 5, argv, err, sizeof err));
    char want[300];
    snprintf(want, sizeof want, "--config: %s:2: --retries: 'many' is not a whole number", path);
    assert_true(strncmp(err, want, strlen(want)) == 0);
    opt_free(opts, &c);
}

static int remove_files(void **state)
{
    (void)state;
    for (int i = 0; i < nwritten; i++)
        unlink(written[i]);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_each_type),
        cmocka_unit_test(test_ranges_and_errors),
        cmocka_unit_test(test_repeatable),
        cmocka_unit_test(test_parse_command_line),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_faulty_tables),
        cmocka_unit_test(test_value_parsers),
        cmocka_unit_test(test_ini_lines),
        cmocka_unit_test(test_settings_file),
        cmocka_unit_test(test_command_line_overrides_settings),
        cmocka_unit_test(test_ini_defaults),
        cmocka_unit_test(test_changes),
        cmocka_unit_test(test_reparse),
    };
    return cmocka_run_group_tests(tests, NULL, remove_files);
}
