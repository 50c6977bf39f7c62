/* opt: options described once in a table (see opt.h). */
#include "opt.h"

#include "addr.h"
#include "version.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* --help's lines end by this column. */
#define OPT_WIDTH 80
/* getopt_long's value for the table's entry i is OPT_VAL0 + i; the
 * built-in options' are below it, above any single character. */
enum { OPT_HELP_VAL = 0x100, OPT_VERSION_VAL, OPT_LIST_VAL, OPT_VAL0 = 0x200 };

/* ---- values ---- */

bool opt_number(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || isnan(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

bool opt_double(const char *s, double lo, double hi, double *out, char *why, size_t whylen)
{
    if (opt_number(s, lo, hi, out))
        return true;
    snprintf(why, whylen, "'%s' is not a number in [%g, %g]", s, lo, hi);
    return false;
}

bool opt_whole(const char *s, unsigned long long lo, unsigned long long hi, unsigned long long *out,
               char *why, size_t whylen)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi) {
        snprintf(why, whylen, "'%s' is not a whole number in [%llu, %llu]", s, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out, char *why, size_t whylen)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no",
                                                                                "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (strcmp(s, yes[i]) == 0 || strcmp(s, no[i]) == 0) {
            *out = strcmp(s, yes[i]) == 0;
            return true;
        }
    snprintf(why, whylen, "'%s' is not true or false (yes, no, on, off, 1, 0)", s);
    return false;
}

/* "a, b or c" (sep ", " and last " or "), or "a | b | c" (both " | "). */
static void join_choices(const char *const *c, const char *sep, const char *last, char *buf,
                         size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; c[i] && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s",
                               i == 0     ? ""
                               : c[i + 1] ? sep
                                          : last,
                               c[i]);
}

static bool parse_choice(const opt_entry *e, const char *s, int *out, char *why, size_t whylen)
{
    for (int i = 0; e->choices[i]; i++)
        if (strcmp(s, e->choices[i]) == 0) {
            *out = i;
            return true;
        }
    char all[256];
    join_choices(e->choices, ", ", " or ", all, sizeof all);
    snprintf(why, whylen, "'%s' is not %s", s, all);
    return false;
}

static bool list_add(const opt_entry *e, char *base, const char *v, char *why, size_t whylen)
{
    const char ***items = (const char ***)(void *)(base + e->off);
    size_t *n = (size_t *)(void *)(base + e->count_off);
    if (e->hi && *n >= e->hi) {
        snprintf(why, whylen, "at most %llu", e->hi);
        return false;
    }
    const char **grown = realloc(*items, (*n + 1) * sizeof *grown);
    if (!grown) {
        snprintf(why, whylen, "out of memory");
        return false;
    }
    grown[(*n)++] = v;
    *items = grown;
    return true;
}

static bool url_ok(const char *v, char *why, size_t whylen)
{
    addr_url url;
    return addr_parse_url(v, &url, why, whylen);
}

/* Parses v as e says into its field of the struct at base. */
static bool store(const opt_entry *e, char *base, const char *v, opt_from from, char *why,
                  size_t whylen)
{
    void *field = base + e->off;
    unsigned long long u = 0;
    double d = 0;
    if (!v && e->type != OPT_FLAG) {
        snprintf(why, whylen, "needs a value");
        return false;
    }
    switch (e->type) {
    case OPT_FLAG:
        return v ? parse_bool(v, field, why, whylen) : (*(bool *)field = true);
    case OPT_URL:
    case OPT_STR:
        if (e->type == OPT_URL && !url_ok(v, why, whylen))
            return false;
        *(const char **)field = v;
        return true;
    case OPT_INT:
    case OPT_SIZE:
    case OPT_U64:
        if (!opt_whole(v, e->lo, e->hi, &u, why, whylen))
            return false;
        if (e->type == OPT_INT)
            *(int *)field = (int)u;
        else if (e->type == OPT_SIZE)
            *(size_t *)field = (size_t)u;
        else
            *(uint64_t *)field = (uint64_t)u;
        return true;
    case OPT_DOUBLE:
    case OPT_MS:
        if (!opt_double(v, e->dlo, e->dhi, &d, why, whylen))
            return false;
        *(double *)field = e->type == OPT_MS ? d / 1000 : d;
        return true;
    case OPT_CHOICE:
        return parse_choice(e, v, field, why, whylen);
    case OPT_LIST:
        return list_add(e, base, v, why, whylen);
    case OPT_CUSTOM:
        return e->set(e, base, v, from, why, whylen);
    case OPT_CONFIG: /* read by opt_parse before the other options */
        snprintf(why, whylen, "only on the command line");
        return false;
    default:
        snprintf(why, whylen, "not an option");
        return false;
    }
}

/* ---- the table ---- */

static bool each(const opt_entry *t, size_t base, opt_visit_fn fn, void *arg)
{
    for (; t->type != OPT_END; t++) {
        bool more =
            t->type == OPT_INCLUDE ? each(t->sub, base + t->off, fn, arg) : fn(t, base, arg);
        if (!more)
            return false;
    }
    return true;
}

bool opt_each(const opt_entry *table, opt_visit_fn fn, void *arg)
{
    return each(table, 0, fn, arg);
}

/* Finds e in t; *flags gets its flags with those of the includes above. */
static bool flags_under(const opt_entry *t, const opt_entry *e, unsigned above, unsigned *flags)
{
    for (; t->type != OPT_END; t++) {
        if (t == e) {
            *flags = above | t->flags;
            return true;
        }
        if (t->type == OPT_INCLUDE && flags_under(t->sub, e, above | t->flags, flags))
            return true;
    }
    return false;
}

unsigned opt_flags(const opt_entry *table, const opt_entry *e)
{
    unsigned flags = e->flags;
    flags_under(table, e, 0, &flags);
    return flags;
}

static bool same_text(const char *x, const char *y)
{
    return x == y || (x && y && strcmp(x, y) == 0);
}

/* Whether the entry's value is the same in the structs at a and b. */
static bool same_value(const opt_entry *e, const char *a, const char *b)
{
    switch (e->type) {
    case OPT_STR:
    case OPT_URL:
        return same_text(*(const char *const *)(const void *)(a + e->off),
                         *(const char *const *)(const void *)(b + e->off));
    case OPT_LIST: {
        size_t n = *(const size_t *)(const void *)(a + e->count_off);
        const char *const *x = *(const char *const *const *)(const void *)(a + e->off);
        const char *const *y = *(const char *const *const *)(const void *)(b + e->off);
        if (n != *(const size_t *)(const void *)(b + e->count_off))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!same_text(x[i], y[i]))
                return false;
        return true;
    }
    case OPT_CONFIG: /* the file's values, compared as the options they set */
        return true;
    case OPT_CUSTOM:
        if (e->same)
            return e->same(e, a, b);
        if (e->size == 0)
            return true; /* can't tell (opt.h) */
        return memcmp(a + e->off, b + e->off, e->size) == 0;
    default:
        return memcmp(a + e->off, b + e->off, e->size) == 0;
    }
}

typedef struct differ {
    const opt_entry *table;
    const char *a, *b;
    opt_change_fn fn;
    void *arg;
} differ;

static bool diff_entry(const opt_entry *e, size_t base, void *arg)
{
    differ *d = arg;
    if (!same_value(e, d->a + base, d->b + base))
        d->fn(e, opt_flags(d->table, e), d->arg);
    return true;
}

void opt_changes(const opt_entry *table, const void *a, const void *b, opt_change_fn fn, void *arg)
{
    differ d = {table, a, b, fn, arg};
    opt_each(table, diff_entry, &d);
}

typedef struct finder {
    const char *name;
    const opt_entry *found;
    size_t base;
} finder;

static bool find_one(const opt_entry *e, size_t base, void *arg)
{
    finder *f = arg;
    if (strcmp(e->name, f->name) != 0)
        return true;
    f->found = e;
    f->base = base;
    return false;
}

const opt_entry *opt_find(const opt_entry *table, const char *name, size_t *base)
{
    finder f = {.name = name};
    opt_each(table, find_one, &f);
    if (base)
        *base = f.base;
    return f.found;
}

bool opt_set(const opt_entry *table, void *cfg, const char *name, const char *value, opt_from from,
             char *err, size_t errlen)
{
    size_t base;
    const opt_entry *e = opt_find(table, name, &base);
    if (!e) {
        snprintf(err, errlen, "unknown option '%s'", name);
        return false;
    }
    char why[400];
    if (store(e, (char *)cfg + base, value, from, why, sizeof why))
        return true;
    snprintf(err, errlen, "--%s: %s", name, why);
    return false;
}

/* What is wrong with an entry's description, or NULL: the field's size
 * must be its type's, so a table can't write past or short of a field. */
static const char *entry_fault(const opt_entry *e)
{
    static const size_t sizes[] = {
        [OPT_FLAG] = sizeof(bool),     [OPT_STR] = sizeof(char *),   [OPT_URL] = sizeof(char *),
        [OPT_INT] = sizeof(int),       [OPT_SIZE] = sizeof(size_t),  [OPT_U64] = sizeof(uint64_t),
        [OPT_DOUBLE] = sizeof(double), [OPT_MS] = sizeof(double),    [OPT_CHOICE] = sizeof(int),
        [OPT_LIST] = sizeof(char **),  [OPT_CONFIG] = sizeof(void *)};
    if (!e->name || !e->name[0] || e->type == OPT_END || e->type >= OPT_INCLUDE)
        return "an entry without a name or type";
    if (e->type != OPT_CUSTOM && e->size != sizes[e->type])
        return "its field's size is not its type's";
    if (e->type == OPT_INT && e->hi > INT_MAX)
        return "its range exceeds an int";
    if ((e->type == OPT_CHOICE && !e->choices) || (e->type == OPT_CUSTOM && !e->set))
        return "no choices or no parser";
    if (!e->help)
        return "no help text";
    return NULL;
}

typedef struct defaulter {
    char *cfg;
    char *err;
    size_t errlen;
} defaulter;

static bool apply_default(const opt_entry *e, size_t base, void *arg)
{
    defaulter *d = arg;
    const char *fault = entry_fault(e);
    if (fault) {
        snprintf(d->err, d->errlen, "option table: --%s: %s", e->name ? e->name : "?", fault);
        return false;
    }
    if (!e->def)
        return true;
    char why[400];
    if (store(e, d->cfg + base, e->def, OPT_FROM_DEFAULT, why, sizeof why))
        return true;
    snprintf(d->err, d->errlen, "option table: --%s: the default: %s", e->name, why);
    return false;
}

bool opt_defaults(const opt_entry *table, void *cfg, char *err, size_t errlen)
{
    defaulter d = {cfg, err, errlen};
    return opt_each(table, apply_default, &d);
}

/* A value of the settings file, kept for as long as options point to it;
 * the OPT_CONFIG field holds the chain of them. */
typedef struct opt_kept {
    struct opt_kept *next;
    char s[];
} opt_kept;

static void free_list(const opt_entry *e, char *base)
{
    const char ***items = (const char ***)(void *)(base + e->off);
    free(*items);
    *items = NULL;
    *(size_t *)(void *)(base + e->count_off) = 0;
}

static bool free_entry(const opt_entry *e, size_t base, void *arg)
{
    char *b = (char *)arg + base;
    if (e->type == OPT_LIST)
        free_list(e, b);
    if (e->type == OPT_CONFIG) {
        opt_kept **kept = (opt_kept **)(void *)(b + e->off);
        while (*kept) {
            opt_kept *next = (*kept)->next;
            free(*kept);
            *kept = next;
        }
    }
    return true;
}

void opt_free(const opt_entry *table, void *cfg)
{
    opt_each(table, free_entry, cfg);
}

/* ---- the settings file ---- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Cuts a trailing comment: ';' or '#' after a space or tab. No value has a
 * space in it (names, numbers, keys, paths without spaces), so one can't be
 * cut short; a value may hold ';' or '#' itself. */
static void cut_comment(char *s)
{
    for (char *p = s; *p; p++)
        if ((*p == ' ' || *p == '\t') && (p[1] == ';' || p[1] == '#')) {
            *p = '\0';
            return;
        }
}

opt_ini opt_ini_line(char *line, char **key, char **value)
{
    char *s = trim(line);
    if (*s == '\0' || *s == '#' || *s == ';')
        return OPT_INI_NONE;
    cut_comment(s);
    if (*s == '[') {
        char *close = strchr(s, ']');
        if (!close || trim(close + 1)[0] != '\0')
            return OPT_INI_BAD_SECTION;
        *close = '\0';
        *key = trim(s + 1);
        return OPT_INI_SECTION;
    }
    char *eq = strchr(s, '=');
    if (!eq)
        return OPT_INI_BAD;
    *eq = '\0';
    *key = trim(s);
    *value = trim(eq + 1);
    return OPT_INI_PAIR;
}

bool opt_ini_read(const char *path, opt_ini_fn fn, void *arg, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    char line[1024];
    int lineno = 0;
    const char *why = NULL;
    while (!why && fgets(line, sizeof line, fp)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(fp)) {
            why = "line too long";
            break;
        }
        char *key = NULL, *value = NULL;
        opt_ini kind = opt_ini_line(line, &key, &value); /* before fn reads key, value */
        why = fn(arg, kind, key, value);
    }
    bool ok = true;
    if (why) {
        snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
        ok = false;
    } else if (ferror(fp)) {
        /* A read error (a directory, say) must not pass for an empty file. */
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        ok = false;
    }
    fclose(fp);
    return ok;
}

typedef struct loader {
    const opt_entry *table;
    char *cfg;
    opt_kept **kept;
    char why[512];
} loader;

static const char *load_line(void *arg, opt_ini kind, char *key, char *value)
{
    loader *l = arg;
    if (kind == OPT_INI_NONE)
        return NULL;
    if (kind == OPT_INI_SECTION || kind == OPT_INI_BAD_SECTION)
        return "a settings file has no [sections]";
    if (kind == OPT_INI_BAD)
        return "expected NAME = VALUE";
    size_t n = strlen(value) + 1;
    opt_kept *k = malloc(sizeof *k + n);
    if (!k)
        return "out of memory";
    memcpy(k->s, value, n);
    k->next = *l->kept;
    *l->kept = k;
    return opt_set(l->table, l->cfg, key, k->s, OPT_FROM_FILE, l->why, sizeof l->why) ? NULL
                                                                                      : l->why;
}

static bool find_config(const opt_entry *e, size_t base, void *arg)
{
    if (e->type != OPT_CONFIG)
        return true;
    *(size_t *)arg = base + e->off;
    return false;
}

bool opt_load(const opt_entry *table, void *cfg, const char *path, char *err, size_t errlen)
{
    size_t off = SIZE_MAX;
    opt_each(table, find_config, &off);
    if (off == SIZE_MAX) {
        snprintf(err, errlen, "%s: this program reads no settings file", path);
        return false;
    }
    loader l = {.table = table, .cfg = cfg, .kept = (opt_kept **)(void *)((char *)cfg + off)};
    return opt_ini_read(path, load_line, &l, err, errlen);
}

/* ---- --help and --list-options ---- */

/* Writes text from column col, wrapping at OPT_WIDTH to column indent
 * after `lead` ("" for --help, "#" for a settings file's comments). */
static void wrap(FILE *out, const char *text, int col, int indent, const char *lead)
{
    bool line_start = true;
    for (const char *p = text; *p;) {
        while (*p == ' ')
            p++;
        int w = (int)strcspn(p, " ");
        if (w == 0)
            break;
        if (!line_start && col + 1 + w > OPT_WIDTH) {
            col = fprintf(out, "\n%s%*s", lead, indent, "") - 1;
            line_start = true;
        }
        col += fprintf(out, "%s%.*s", line_start ? "" : " ", w, p);
        line_start = false;
        p += w;
    }
    fputc('\n', out);
}

/* The entry's help text with "%D" and "%C" filled in. */
static void help_text(const opt_entry *e, char *buf, size_t len)
{
    size_t at = 0;
    bool has_def = false;
    for (const char *p = e->help; *p && at + 1 < len; p++) {
        char sub[256] = "";
        if (p[0] == '%' && (p[1] == 'D' || p[1] == 'C')) {
            if (p[1] == 'D')
                snprintf(sub, sizeof sub, "%s", e->def ? e->def : "none");
            else if (e->choices)
                join_choices(e->choices, " | ", " | ", sub, sizeof sub);
            has_def |= p[1] == 'D';
            p++;
        } else {
            sub[0] = *p;
            sub[1] = '\0';
        }
        at += (size_t)snprintf(buf + at, len - at, "%s", sub);
    }
    if (e->def && !has_def && at < len)
        snprintf(buf + at, len - at, " (default %s)", e->def);
}

typedef struct helper {
    FILE *out;
    int column;
} helper;

/* Each entry's lines, and a heading where a group starts (an included
 * table's group heads its entries). */
static void help_table(const helper *h, const opt_entry *t)
{
    for (; t->type != OPT_END; t++) {
        if (t->group)
            wrap(h->out, t->group, 0, 0, "");
        if (t->type == OPT_INCLUDE) {
            help_table(h, t->sub);
            continue;
        }
        int n = fprintf(h->out, "  --%s%s%s", t->name, t->arg ? " " : "", t->arg ? t->arg : "");
        if (n + 1 > h->column) { /* too long: the text starts on the next line */
            fputc('\n', h->out);
            n = 0;
        }
        fprintf(h->out, "%*s", h->column - n, "");
        char text[2048];
        help_text(t, text, sizeof text);
        wrap(h->out, text, h->column, h->column, "");
    }
}

/* opt_each's visitor that stops at the OPT_CONFIG entry. */
static bool has_config(const opt_entry *e, size_t base, void *arg)
{
    return e->type != OPT_CONFIG;
}

void opt_help(const opt_program *p, FILE *out)
{
    fputs(p->usage, out);
    helper h = {out, p->column};
    help_table(&h, p->table);
    fprintf(out, "  --help, --version, --list-options\n%*s", p->column, "");
    wrap(out,
         opt_each(p->table, has_config, NULL)
             ? "this text; the version; every option, one per line: --NAME, its type, its "
               "value's name, its default, and whether SIGHUP applies a change (sighup) or it "
               "takes a restart"
             : "this text; the version; every option, one per line: --NAME, its type, its "
               "value's name, its default, and whether SIGHUP applies a change (sighup) or it "
               "takes a restart (--list-options=ini: every option as a commented settings file "
               "line after its help text)",
         p->column, p->column, "");
    if (p->epilog)
        fprintf(out, "\n%s", p->epilog);
}

typedef struct lister {
    const opt_entry *table;
    FILE *out;
} lister;

static bool list_entry(const opt_entry *e, size_t base, void *arg)
{
    const lister *l = arg;
    static const char *const types[] = {
        [OPT_FLAG] = "flag",     [OPT_STR] = "string",    [OPT_URL] = "url",
        [OPT_INT] = "int",       [OPT_SIZE] = "size",     [OPT_U64] = "u64",
        [OPT_DOUBLE] = "double", [OPT_MS] = "ms",         [OPT_CHOICE] = "choice",
        [OPT_LIST] = "list",     [OPT_CUSTOM] = "custom", [OPT_CONFIG] = "config"};
    fprintf(l->out, "--%s\t%s\t%s\t%s\t%s\n", e->name, types[e->type], e->arg ? e->arg : "-",
            e->def ? e->def : "-", opt_flags(l->table, e) & OPT_RELOAD ? "sighup" : "restart");
    return true;
}

void opt_list(const opt_entry *table, FILE *out)
{
    lister l = {table, out};
    opt_each(table, list_entry, &l);
}

/* The entries of t as commented settings, under the flags of the
 * includes above them. */
static void ini_table(FILE *out, const opt_entry *t, unsigned above)
{
    for (; t->type != OPT_END; t++) {
        if (t->group) {
            fputs("\n# ", out);
            wrap(out, t->group, 2, 1, "#");
        }
        if (t->type == OPT_INCLUDE) {
            ini_table(out, t->sub, above | t->flags);
            continue;
        }
        if (t->type == OPT_CONFIG)
            continue; /* a settings file names no other */
        char text[2048];
        help_text(t, text, sizeof text);
        size_t at = strlen(text);
        if (((above | t->flags) & OPT_RELOAD) && !strstr(text, "SIGHUP"))
            snprintf(text + at, sizeof text - at, "; SIGHUP applies a change");
        fputs("\n# ", out);
        wrap(out, text, 2, 1, "#");
        fprintf(out, "# %s = %s\n", t->name,
                t->def                ? t->def
                : t->type == OPT_FLAG ? "false"
                : t->arg              ? t->arg
                                      : "VALUE");
    }
}

void opt_ini_defaults(const opt_entry *table, FILE *out)
{
    ini_table(out, table, 0);
}

/* ---- the command line ---- */

/* The table flattened, for getopt_long: entry i is OPT_VAL0 + i. */
typedef struct flat {
    const opt_entry **e;
    size_t *base;
    bool *seen; /* given on the command line */
    struct option *lo;
    size_t n, cap;
    const char *dup; /* a name given twice */
} flat;

static bool flat_add(const opt_entry *e, size_t base, void *arg)
{
    flat *f = arg;
    for (size_t i = 0; i < f->n + 3; i++)
        if (strcmp(f->lo[i].name, e->name) == 0) {
            f->dup = e->name;
            return false;
        }
    if (f->n + 3 >= f->cap - 1)
        return false; /* counted before: never */
    f->e[f->n] = e;
    f->base[f->n] = base;
    f->lo[f->n + 3] = (struct option){
        e->name, e->type == OPT_FLAG ? no_argument : required_argument, NULL, OPT_VAL0 + (int)f->n};
    f->n++;
    return true;
}

static bool count_entry(const opt_entry *e, size_t base, void *arg)
{
    (*(size_t *)arg)++;
    return true;
}

/* The built-in options first, then the table's; false on a name given twice
 * (a faulty table) or out of memory. */
static bool flatten(const opt_entry *table, flat *f)
{
    size_t n = 0;
    opt_each(table, count_entry, &n);
    f->cap = n + 4;
    f->e = malloc(f->cap * sizeof *f->e);
    f->base = malloc(f->cap * sizeof *f->base);
    f->lo = calloc(f->cap, sizeof *f->lo);
    f->seen = calloc(f->cap, sizeof *f->seen);
    if (!f->e || !f->base || !f->lo || !f->seen)
        return false;
    f->lo[0] = (struct option){"help", no_argument, NULL, OPT_HELP_VAL};
    f->lo[1] = (struct option){"version", no_argument, NULL, OPT_VERSION_VAL};
    f->lo[2] = (struct option){"list-options", optional_argument, NULL, OPT_LIST_VAL};
    return opt_each(table, flat_add, f);
}

/* The settings file of --config, if the table has one and it is given,
 * before every other option wherever --config is. 0, or 2 with the reason
 * in err. */
static int load_config(const opt_program *p, const flat *f, void *cfg, int argc, char **argv,
                       char *err, size_t errlen)
{
    const char *path = NULL;
    opterr = 0; /* the options' errors are for the second pass */
    optind = 0;
    int o;
    while ((o = getopt_long(argc, argv, "", f->lo, NULL)) != -1)
        if (o >= OPT_VAL0 && o < OPT_VAL0 + (int)f->n && f->e[o - OPT_VAL0]->type == OPT_CONFIG)
            path = optarg;
    char why[800];
    if (!path || opt_load(p->table, cfg, path, why, sizeof why))
        return 0;
    snprintf(err, errlen, "--config: %s", why);
    return 2;
}

/* The first command-line value of a repeatable option replaces what the
 * settings file gave it. */
static bool forget_file_values(const opt_entry *e, char *base, char *why, size_t whylen)
{
    if (e->type == OPT_LIST)
        free_list(e, base);
    if (e->type == OPT_CUSTOM && (e->flags & OPT_REPEAT))
        return e->set(e, base, NULL, OPT_FROM_ARGS, why, whylen);
    return true;
}

/* --list-options and --list-options=ini. */
static int list_options(const opt_program *p, const char *arg, char *err, size_t errlen)
{
    if (!arg) {
        opt_list(p->table, stdout);
        return OPT_EXIT;
    }
    if (strcmp(arg, "ini") != 0) {
        snprintf(err, errlen, "--list-options: '%s' is not ini", arg);
        return 2;
    }
    if (opt_each(p->table, has_config, NULL)) {
        snprintf(err, errlen, "--list-options=ini: %s reads no settings file", p->name);
        return 2;
    }
    opt_ini_defaults(p->table, stdout);
    return OPT_EXIT;
}

/* Handles getopt_long's answer o; 0 to go on, else opt_parse's answer
 * (with the reason in err, "" when getopt_long printed it). */
static int apply(const opt_program *p, flat *f, void *cfg, int o, const char *arg, char *err,
                 size_t errlen)
{
    if (o == OPT_HELP_VAL) {
        opt_help(p, stdout);
        return OPT_EXIT;
    }
    if (o == OPT_VERSION_VAL) {
        version_print(p->name);
        return OPT_EXIT;
    }
    if (o == OPT_LIST_VAL)
        return list_options(p, arg, err, errlen);
    if (o < OPT_VAL0 || o >= OPT_VAL0 + (int)f->n) {
        snprintf(err, errlen, "%s", opterr ? "" : "a bad command line"); /* getopt_long said why */
        return 2;
    }
    size_t i = (size_t)(o - OPT_VAL0);
    const opt_entry *e = f->e[i];
    char *base = (char *)cfg + f->base[i], why[400];
    if (e->type == OPT_CONFIG)
        return 0; /* read first (load_config) */
    bool ok = f->seen[i] || forget_file_values(e, base, why, sizeof why);
    f->seen[i] = true;
    if (ok && store(e, base, arg, OPT_FROM_ARGS, why, sizeof why))
        return 0;
    snprintf(err, errlen, "--%s: %s", e->name, why);
    return 2;
}

/* opt_parse and opt_reparse: 0, OPT_EXIT, or 2 with the reason in err.
 * getopt_long prints what it finds wrong when `loud`. */
static int parse(const opt_program *p, void *cfg, int argc, char **argv, int *operands, bool loud,
                 char *err, size_t errlen)
{
    if (!opt_defaults(p->table, cfg, err, errlen))
        return 2;
    flat f = {0};
    int rc = 0;
    if (!flatten(p->table, &f)) {
        if (f.dup)
            snprintf(err, errlen, "option table: --%s twice", f.dup);
        else
            snprintf(err, errlen, "out of memory");
        rc = 2;
    }
    if (rc == 0)
        rc = load_config(p, &f, cfg, argc, argv, err, errlen);
    optind = 0; /* from the start, even when called again (tests, reloads) */
    opterr = loud;
    int o;
    while (rc == 0 && (o = getopt_long(argc, argv, "", f.lo, NULL)) != -1)
        rc = apply(p, &f, cfg, o, optarg, err, errlen);
    if (rc == 0 && operands)
        *operands = optind;
    else if (rc == 0 && optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
        rc = 2;
    }
    opterr = 1;
    free(f.e);
    free(f.base);
    free(f.seen);
    free(f.lo);
    return rc;
}

int opt_parse(const opt_program *p, void *cfg, int argc, char **argv, int *operands)
{
    char err[1024] = "";
    int rc = parse(p, cfg, argc, argv, operands, true, err, sizeof err);
    if (rc == 2)
        fprintf(stderr, "%s: %s\n", p->name, err[0] ? err : "try --help");
    return rc;
}

bool opt_reparse(const opt_program *p, void *cfg, int argc, char **argv, char *err, size_t errlen)
{
    snprintf(err, errlen, "a bad command line");
    return parse(p, cfg, argc, argv, NULL, false, err, errlen) == 0;
}
