/* opt: a program's options, each described once in a table that gives its
 * parsing (getopt_long), its checks and its line of --help.
 *
 * An entry names the option (without "--"), the type of its value, the
 * field of the program's config struct it sets (OPT_FIELD), its range, its
 * default and its help text:
 *
 *   static const opt_entry classifyd_opts[] = {
 *       {.name = "max-body", .type = OPT_SIZE, OPT_FIELD(classifyd_config, max_body),
 *        .lo = 16, .hi = 1 << 30, .def = "1048576", .arg = "BYTES",
 *        .help = "largest request body accepted (default %D)"},
 *       ...
 *       {0}};
 *
 * The default is written as on the command line and applied through the
 * same parser (opt_defaults), so it is checked like any value and --help
 * prints it from the table: "%D" in the help text stands for it (without
 * "%D", " (default D)" is appended), "%C" for the choices of an OPT_CHOICE
 * ("a | b | c"). An entry with a group starts a new section of --help under
 * that heading.
 *
 * A table may include another table's entries (OPT_INCLUDE) whose fields
 * lie in a struct inside the program's config: options several programs
 * share (the clients' defaults, the workload flags) are written once.
 *
 * Values are set by name through opt_set, the entry point both the command
 * line parser and the settings file use (from tells where a value comes
 * from). Strings are stored as given (not copied): argv, or the settings
 * file's text that the OPT_CONFIG entry's field keeps. Messages read
 * "--NAME: why"; the command line parser prints them as "PROG: --NAME: why".
 *
 * A table with an OPT_CONFIG entry (--config FILE) reads a settings file:
 * "NAME = VALUE" lines naming the table's options (without "--"; a flag's
 * value is true or false), '#' and ';' comments, the clients file's INI
 * syntax without sections. Defaults come first, then the file, then the
 * command line: a value given on both wins on the command line, and a
 * repeatable option given there replaces the file's values. An unknown name
 * or a bad value is refused with the file's line. */
#ifndef BP_OPT_H
#define BP_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum opt_type {
    OPT_END = 0, /* ends a table: {0} */
    OPT_FLAG,    /* bool: no value on the command line (true); true/false/yes/no/1/0 by opt_set */
    OPT_STR,     /* const char *: any text (a HOST:PORT, a FILE, a NAME) */
    OPT_URL,     /* const char *: an http:// URL addr_parse_url accepts */
    OPT_INT,     /* int: a whole number in [lo, hi] */
    OPT_SIZE,    /* size_t: a whole number in [lo, hi] */
    OPT_U64,     /* uint64_t: a whole number in [lo, hi] */
    OPT_DOUBLE,  /* double: a number in [dlo, dhi] (seconds, rates...) */
    OPT_MS,      /* double seconds, given in milliseconds in [dlo, dhi] */
    OPT_CHOICE,  /* int: the index of the value in choices (an enum) */
    OPT_LIST,    /* repeatable: appended to a malloc'd const char * array at off,
                    its length a size_t at count_off; at most hi items (0: any) */
    OPT_CUSTOM,  /* set() parses and stores it (the field is the whole struct) */
    OPT_CONFIG,  /* --config FILE: read the file's settings first; the field is a
                    void * keeping the file's values (opt_free releases them) */
    OPT_INCLUDE  /* the entries of sub, their struct at off in this one */
} opt_type;

/* Where a value comes from. */
typedef enum opt_from { OPT_FROM_DEFAULT, OPT_FROM_ARGS, OPT_FROM_FILE } opt_from;

enum opt_flags {
    /* SIGHUP applies a change at run time (a file it names is re-read too).
     * Every other option takes a restart. On an OPT_INCLUDE entry, every
     * included entry has it (opt_flags). */
    OPT_RELOAD = 1u << 0,
    /* An OPT_CUSTOM entry that may be given several times: the command
     * line's values replace a settings file's, so before the first one its
     * set() gets value NULL, to forget the values so far. (OPT_LIST always
     * behaves so.) */
    OPT_REPEAT = 1u << 1,
};

struct opt_entry;
/* An OPT_CUSTOM entry's comparison, for one whose value is not the one
 * field at off: whether the structs at a and b hold the same value. */
typedef bool (*opt_same_fn)(const struct opt_entry *e, const void *a, const void *b);
/* An OPT_CUSTOM entry's parser: applies value to the struct at base, or
 * writes why not into why (without the option's name) and returns false. */
typedef bool (*opt_set_fn)(const struct opt_entry *e, void *base, const char *value, opt_from from,
                           char *why, size_t whylen);

typedef struct opt_entry {
    const char *name; /* without "--"; NULL for OPT_INCLUDE */
    opt_type type;
    size_t off, size;            /* the field (OPT_FIELD); OPT_INCLUDE: its struct's offset */
    size_t count_off;            /* OPT_LIST: its length's field */
    unsigned long long lo, hi;   /* whole numbers' range; OPT_LIST: hi = most items */
    double dlo, dhi;             /* OPT_DOUBLE, OPT_MS range (in milliseconds) */
    const char *def;             /* the default as typed, or NULL (none) */
    const char *arg;             /* the value's name in --help ("N", "SECONDS") */
    const char *help;            /* one paragraph; "%D" default, "%C" choices */
    const char *group;           /* starts a section of --help with this heading */
    const char *const *choices;  /* OPT_CHOICE: NULL-terminated */
    opt_set_fn set;              /* OPT_CUSTOM */
    opt_same_fn same;            /* OPT_CUSTOM without a field (OPT_FIELD): see opt_changes */
    const struct opt_entry *sub; /* OPT_INCLUDE */
    unsigned flags;              /* enum opt_flags */
} opt_entry;

/* The field `f` of the struct type T, for an entry. */
#define OPT_FIELD(T, f) .off = offsetof(T, f), .size = sizeof(((T *)0)->f)
/* The struct type T's field `f` holding an included table's struct. */
#define OPT_SUB(T, f) .type = OPT_INCLUDE, .off = offsetof(T, f)
/* A macro's value as a default: .def = OPT_STR_OF(HTTPD_DEFAULT_MAX_CONNECTIONS). */
#define OPT_STR_OF(x) OPT_STR_OF_(x)
#define OPT_STR_OF_(x) #x

typedef struct opt_program {
    const char *name;   /* in messages: "NAME: --flag: ..."; --version: "NAME VERSION" */
    const char *usage;  /* --help's text before the options */
    const char *epilog; /* and after them (NULL: none) */
    const opt_entry *table;
    int column; /* where help texts start */
} opt_program;

/* opt_parse's answer when it printed --help, --version or --list-options:
 * the program exits 0. */
#define OPT_EXIT (-1)

/* Applies every default, then the command line, to cfg. Returns 0, 2 on a
 * bad or unknown option or value (the message is on stderr), or OPT_EXIT.
 * Operands (arguments that are no option) are refused unless `operands` is
 * given: it gets the index of the first. --help, --version and
 * --list-options (every option, one per line: --NAME, its type, its
 * default, "sighup" or "restart") come with every program;
 * --list-options=ini with one that reads a settings file (opt_ini_defaults). */
int opt_parse(const opt_program *p, void *cfg, int argc, char **argv, int *operands);

/* opt_parse again, for a reload (SIGHUP): every default, the settings file
 * of --config as it is now, then the same command line, into cfg (a fresh
 * struct; opt_free releases it). Prints nothing: false with "--NAME: why"
 * or "--config: PATH:LINE: why" in err. */
bool opt_reparse(const opt_program *p, void *cfg, int argc, char **argv, char *err, size_t errlen);

/* Calls fn for every entry whose value differs between the structs a and
 * b, with its flags (opt_flags). Values are compared as their type says
 * (strings and lists by their text); an OPT_CUSTOM entry by its field when
 * it has one (OPT_FIELD), else by its same(); one with neither counts as
 * unchanged, so a program that reloads gives each one a field or same(). */
typedef void (*opt_change_fn)(const opt_entry *e, unsigned flags, void *arg);
void opt_changes(const opt_entry *table, const void *a, const void *b, opt_change_fn fn, void *arg);

/* The entry's flags with those of the OPT_INCLUDE entries it is under. */
unsigned opt_flags(const opt_entry *table, const opt_entry *e);

/* Applies every entry's default to cfg. False (with why) only for a table
 * whose default its own parser refuses. */
bool opt_defaults(const opt_entry *table, void *cfg, char *err, size_t errlen);

/* Sets the option `name` (without "--") from value (NULL for an OPT_FLAG
 * given without one). False with "--NAME: why" or "unknown option 'NAME'"
 * in err. */
bool opt_set(const opt_entry *table, void *cfg, const char *name, const char *value, opt_from from,
             char *err, size_t errlen);

/* The entry named `name` and its struct's offset in cfg (*base), or NULL. */
const opt_entry *opt_find(const opt_entry *table, const char *name, size_t *base);

/* Calls fn for every entry (includes flattened, in --help's order) with the
 * offset of its struct; stops at the first false and returns it. */
typedef bool (*opt_visit_fn)(const opt_entry *e, size_t base, void *arg);
bool opt_each(const opt_entry *table, opt_visit_fn fn, void *arg);

/* Writes --help, and the --list-options listing. */
void opt_help(const opt_program *p, FILE *out);
void opt_list(const opt_entry *table, FILE *out);

/* Writes --list-options=ini: the table as a settings file whose every
 * setting is commented out, each after its help text as comment lines:
 * "# NAME = DEFAULT" ("# NAME = ARG" for one without a default), the
 * groups as headings; the OPT_CONFIG entry is left out. A packaged
 * settings file is checked against it, so it documents every option. */
void opt_ini_defaults(const opt_entry *table, FILE *out);

/* Applies the settings file at path to cfg (the table must have an
 * OPT_CONFIG entry, whose field keeps the values). False with
 * "PATH:LINE: why" in err on the first bad line, or an unreadable file. */
bool opt_load(const opt_entry *table, void *cfg, const char *path, char *err, size_t errlen);

/* Frees what opt_set and opt_load allocated in cfg (the OPT_LIST arrays,
 * the settings file's values). */
void opt_free(const opt_entry *table, void *cfg);

/* The INI syntax the settings file and the clients file share, a line at a
 * time: blank lines and comments ('#' or ';' first, or after a space or a
 * tab), "[NAME]" sections, "KEY = VALUE" settings. */
typedef enum opt_ini {
    OPT_INI_NONE,        /* blank or a comment */
    OPT_INI_SECTION,     /* [key] */
    OPT_INI_PAIR,        /* key = value */
    OPT_INI_BAD_SECTION, /* '[' without "NAME]" alone on its line */
    OPT_INI_BAD          /* none of these */
} opt_ini;

/* Splits one line in place, its parts trimmed. */
opt_ini opt_ini_line(char *line, char **key, char **value);

/* Reads path a line at a time (at most 1023 characters each): fn gets each
 * line split, and returns NULL or what is wrong with it (which stops the
 * reading). False with "PATH:LINE: why", or "PATH: why" when the file
 * can't be read, in err. */
typedef const char *(*opt_ini_fn)(void *arg, opt_ini kind, char *key, char *value);
bool opt_ini_read(const char *path, opt_ini_fn fn, void *arg, char *err, size_t errlen);

/* The parsers behind the types, for OPT_CUSTOM entries: false with why
 * ("'S' is not a number in [LO, HI]") when s is not, in full, a number
 * (opt_double; NaN is none) or a whole decimal number (opt_whole) in the
 * range. opt_number says the same without a message. */
bool opt_number(const char *s, double lo, double hi, double *out);
bool opt_double(const char *s, double lo, double hi, double *out, char *why, size_t whylen);
bool opt_whole(const char *s, unsigned long long lo, unsigned long long hi, unsigned long long *out,
               char *why, size_t whylen);

#endif
