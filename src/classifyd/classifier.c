/* classifier: labels a text "code" or "not code" with a scored heuristic (see classifier.h). */

/* How it decides.
 *
 * The text is split into tokens: words (runs of letters, digits, '_' and
 * non-ASCII bytes) and single punctuation characters, each remembering
 * whether whitespace came before it and whether it starts a line. Every
 * token adds evidence to one integer score: positive points for code,
 * negative points for prose. The text is code when the score reaches
 * CODE_THRESHOLD, so a text with no evidence either way (a lone word like
 * "cool") is prose.
 *
 * Code evidence, and why:
 *  - Braces, a ';' that ends a line, and multi-character operators (==, !=,
 *    +=, ->, =>, ::, &&, ++, <<, </ ...) almost never appear in prose.
 *  - Call and index syntax, `name(` and `name[` with no space, is how code
 *    writes them; prose puts a space before a parenthesis.
 *  - An assignment `x = y`, a member access `a.b`, a path `/tmp` or `./x`, a
 *    shell variable `$HOME`, a flag `-la` / `--force`, a pipe `| grep`, a
 *    preprocessor line `#include`, a decorator `@property`.
 *  - Keywords and names that are not English words (def, elif, fn, struct,
 *    printf, NULL, self, std, sudo, grep ...) count anywhere, case-sensitive.
 *  - Keywords that are also English words (return, import, for, select ...)
 *    and shell commands count only when they open a line in lower case and
 *    are not followed by an English function word: "return x" is code,
 *    "Return the book" and "return the book" are not.
 *  - SELECT ... FROM in capitals, and `select a, b from` in any case.
 *  - snake_case and camelCase identifiers, hex literals, a ':' that ends a
 *    line (more when the line opened with def/if/for/class ...), indented
 *    lines, and string escapes like \n.
 *
 * Prose evidence, and why:
 *  - Common English function words (the, you, to, my, is ...) are what prose
 *    is made of; the ones that double as keywords (in, for, if, not ...)
 *    count less.
 *  - Two words separated only by a space: prose is mostly that, code mostly
 *    separates names with symbols.
 *  - Sentence punctuation: '.', '!' or '?' ending the text or followed by a
 *    capitalised word, an apostrophe inside a word (don't, I'm), a
 *    capitalised first word.
 *
 * A line that ends in ';', '{' or '}', or opens a block ("if x:"), is code
 * context: English words on it (if a and not b:) cost little there.
 *
 * Quoted text ("...", '...') and comments (#, //, C block comments) are skipped after
 * their markers are scored: a string literal or a comment says nothing about
 * whether its surroundings are code. Everything is one pass over the tokens
 * with a bounded look-ahead (and one look to the end of each line), so the
 * cost is linear in the length, and nothing is allocated. */
#include "classifier.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum { CODE_THRESHOLD = 2 };

enum token_kind { TOK_END, TOK_WORD, TOK_PUNCT };

typedef struct token {
    enum token_kind kind;
    const char *p;
    size_t len;
    bool space_before; /* whitespace (or a line break) separates it from the previous token */
    bool line_start;   /* first token on its line */
    bool indented;     /* line_start, and the line begins with whitespace */
} token;

typedef struct scanner {
    const char *s;
    size_t n;
    size_t pos;
} scanner;

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0;
}

static bool is_word_byte(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

static bool is_lower(uint8_t c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_upper(uint8_t c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_letter(uint8_t c)
{
    return is_lower(c) || is_upper(c);
}

/* Reads the token at sc->pos and advances past it; a TOK_END token at the end. */
static token scan_token(scanner *sc)
{
    const uint8_t *s = (const uint8_t *)sc->s;
    size_t i = sc->pos;
    bool newline = i == 0, indent = false, space = false;

    while (i < sc->n && is_space(s[i])) {
        if (s[i] == '\n') {
            newline = true;
            indent = false;
        } else if (newline) {
            indent = true;
        }
        space = true;
        i++;
    }
    token t = {.kind = TOK_END, .p = sc->s + i, .len = 0};
    t.space_before = space;
    t.line_start = newline;
    t.indented = newline && indent;
    if (i < sc->n) {
        size_t start = i;
        if (is_word_byte(s[i])) {
            while (i < sc->n && is_word_byte(s[i]))
                i++;
            t.kind = TOK_WORD;
        } else {
            i++;
            t.kind = TOK_PUNCT;
        }
        t.len = i - start;
    }
    sc->pos = i;
    return t;
}

static bool is_punct(const token *t, char c)
{
    return t->kind == TOK_PUNCT && t->p[0] == c;
}

/* The token directly touches the one before it. */
static bool glued(const token *t)
{
    return t->kind != TOK_END && !t->space_before;
}

static bool line_ends_after(const token *next)
{
    return next->kind == TOK_END || next->line_start;
}

static bool word_is(const token *t, const char *w)
{
    size_t n = strlen(w);
    return t->kind == TOK_WORD && t->len == n && memcmp(t->p, w, n) == 0;
}

static bool word_is_nocase(const token *t, const char *w)
{
    size_t n = strlen(w);
    if (t->kind != TOK_WORD || t->len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)t->p[i];
        if (is_upper(c))
            c = (uint8_t)(c - 'A' + 'a');
        if (c != (uint8_t)w[i])
            return false;
    }
    return true;
}

/* t's bytes against w, in strcmp order. */
static int word_cmp(const char *p, size_t len, const char *w)
{
    size_t n = strlen(w);
    int r = memcmp(p, w, len < n ? len : n);
    return r ? r : (len > n) - (len < n);
}

/* Whether t is one of list[0..n), which is in strcmp order; sentence_case
 * also accepts a capitalised first letter. A binary search: these lookups
 * are most of the classifier's work, and the classifier is on the path of
 * every batch. */
static bool word_in_list(const token *t, const char *const *list, size_t n, bool sentence_case)
{
    if (t->kind != TOK_WORD || t->len > 16)
        return false;
    char lowered[16];
    const char *p = t->p;
    if (sentence_case && is_upper((uint8_t)p[0])) {
        memcpy(lowered, p, t->len);
        lowered[0] = (char)(p[0] - 'A' + 'a');
        p = lowered;
    }
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = word_cmp(p, t->len, list[mid]);
        if (r == 0)
            return true;
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}

#define word_in(t, list, sentence_case)                                                            \
    word_in_list((t), (list), sizeof(list) / sizeof *(list), (sentence_case))

/* The word lists are in strcmp order (word_in searches them by halves).
 *
 * Names and keywords that are (nearly) never English words. */
static const char *const code_words[] = {
    "HashMap", "NULL",     "Vec",       "apt",     "argc",       "args",     "argv",
    "async",   "attr",     "await",     "awk",     "bash",       "baz",      "bool",
    "boolean", "brew",     "buf",       "calloc",  "cd",         "cerr",     "chan",
    "char",    "chmod",    "chown",     "cmake",   "console",    "const",    "constexpr",
    "cout",    "cp",       "ctx",       "curl",    "def",        "defer",    "dict",
    "echo",    "elif",     "elsif",     "endl",    "enum",       "eval",     "extern",
    "f32",     "f64",      "float",     "fmt",     "fn",         "foo",      "fprintf",
    "func",    "gcc",      "git",       "goto",    "grep",       "i16",      "i32",
    "i64",     "i8",       "idx",       "impl",    "instanceof", "int",      "isinstance",
    "isize",   "javac",    "json",      "kubectl", "kwargs",     "lambda",   "len",
    "ls",      "malloc",   "memcpy",    "mkdir",   "mut",        "mv",       "namespace",
    "nil",     "npm",      "npx",       "null",    "nullptr",    "obj",      "pip",
    "pip3",    "printf",   "println",   "ps",      "ptr",        "pub",      "pwd",
    "python3", "readonly", "realloc",   "repr",    "rm",         "rmdir",    "rustc",
    "scp",     "sed",      "self",      "sizeof",  "sprintf",    "src",      "ssh",
    "std",     "stderr",   "stdin",     "stdout",  "str",        "strcmp",   "strlen",
    "struct",  "sudo",     "systemctl", "tmp",     "typedef",    "typename", "typeof",
    "u16",     "u32",      "u64",       "u8",      "uint",       "unsigned", "useState",
    "usize",   "utf8",     "var",       "vec",     "vim",        "void",     "wc",
    "wget",    "xargs",    "xs",
};

/* Keywords that are English words too: code only when they open a line in
 * lower case and an English function word does not follow. */
static const char *const line_keywords[] = {
    "alias",  "alter",   "assert",  "begin",    "break",   "cargo",     "case",     "cat",
    "catch",  "clang",   "class",   "continue", "create",  "default",   "del",      "delete",
    "do",     "docker",  "done",    "drop",     "else",    "end",       "except",   "exit",
    "export", "fi",      "finally", "find",     "for",     "from",      "function", "global",
    "head",   "if",      "import",  "include",  "insert",  "interface", "java",     "kill",
    "let",    "local",   "loop",    "make",     "match",   "mod",       "module",   "new",
    "node",   "package", "pass",    "perl",     "php",     "print",     "private",  "protected",
    "public", "puts",    "python",  "raise",    "require", "rescue",    "return",   "ruby",
    "select", "set",     "source",  "static",   "switch",  "tail",      "tar",      "then",
    "throw",  "touch",   "trait",   "try",      "type",    "unless",    "unset",    "until",
    "update", "use",     "using",   "val",      "while",   "with",      "yarn",     "yield",
};

/* Subcommands of the go tool: "go build" is code, "go home" is not. */
static const char *const go_commands[] = {
    "build", "env", "fmt", "generate", "get", "install", "mod", "run", "test", "vet",
};

/* Keywords after which a ':' ending the line opens a block. */
static const char *const block_keywords[] = {
    "async",   "case", "class", "def",   "default", "elif",  "else", "except",
    "finally", "for",  "if",    "match", "try",     "while", "with",
};

static const char *const sql_words[] = {
    "ALTER",    "AND",   "AS",     "ASC",    "BY",      "COUNT",   "CREATE", "DELETE", "DESC",
    "DISTINCT", "DROP",  "EXISTS", "FROM",   "GROUP",   "HAVING",  "IN",     "INDEX",  "INNER",
    "INSERT",   "INT",   "INTO",   "IS",     "JOIN",    "KEY",     "LEFT",   "LIKE",   "LIMIT",
    "NOT",      "NULL",  "ON",     "OR",     "ORDER",   "PRIMARY", "SELECT", "SET",    "TABLE",
    "TEXT",     "UNION", "UPDATE", "VALUES", "VARCHAR", "WHERE",
};

/* English function words that are not keywords anywhere. */
static const char *const stopwords[] = {
    "a",     "about", "after",  "again",    "all",    "also",  "am",     "an",    "any",   "are",
    "at",    "be",    "been",   "before",   "being",  "but",   "by",     "can",   "could", "did",
    "does",  "every", "going",  "had",      "has",    "have",  "he",     "hello", "her",   "here",
    "hi",    "his",   "how",    "i",        "into",   "it",    "its",    "just",  "later", "me",
    "more",  "much",  "my",     "no",       "now",    "of",    "off",    "on",    "one",   "only",
    "our",   "out",   "over",   "please",   "really", "she",   "should", "so",    "some",  "soon",
    "still", "than",  "thanks", "that",     "the",    "their", "them",   "there", "these", "they",
    "those", "to",    "today",  "tomorrow", "too",    "up",    "us",     "very",  "was",   "we",
    "were",  "what",  "when",   "where",    "which",  "who",   "why",    "will",  "would", "yes",
    "you",   "your",
};

/* English words that are also keywords: weaker prose evidence. */
static const char *const weak_stopwords[] = {
    "and", "as", "do", "for", "from", "if", "in", "is", "not", "or", "then", "this", "with",
};

/* Preprocessor directives after a '#' that opens a line. */
static const char *const directives[] = {"define", "elif",   "else",    "endif",  "error", "if",
                                         "ifdef",  "ifndef", "include", "pragma", "undef"};

#ifndef NDEBUG
static bool in_strcmp_order(const char *const *list, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (strcmp(list[i - 1], list[i]) >= 0)
            return false;
    return true;
}

#define ORDERED(list) in_strcmp_order((list), sizeof(list) / sizeof *(list))

/* The invariant word_in's binary search relies on (checked in debug builds). */
static bool word_lists_ordered(void)
{
    return ORDERED(code_words) && ORDERED(line_keywords) && ORDERED(go_commands) &&
           ORDERED(block_keywords) && ORDERED(sql_words) && ORDERED(stopwords) &&
           ORDERED(weak_stopwords) && ORDERED(directives);
}
#endif

static bool is_snake_case(const token *t)
{
    return t->len > 1 && memchr(t->p, '_', t->len) != NULL;
}

static bool is_camel_case(const token *t)
{
    for (size_t i = 1; i < t->len; i++)
        if (is_lower((uint8_t)t->p[i - 1]) && is_upper((uint8_t)t->p[i]))
            return true;
    return false;
}

static bool is_hex_literal(const token *t)
{
    return t->len > 2 && t->p[0] == '0' && (t->p[1] == 'x' || t->p[1] == 'X');
}

static bool is_all_digits(const token *t)
{
    for (size_t i = 0; i < t->len; i++)
        if (!is_digit((uint8_t)t->p[i]))
            return false;
    return t->kind == TOK_WORD;
}

static bool is_all_lower(const token *t)
{
    for (size_t i = 0; i < t->len; i++)
        if (!is_lower((uint8_t)t->p[i]) && !is_digit((uint8_t)t->p[i]) && t->p[i] != '_')
            return false;
    return t->kind == TOK_WORD;
}

/* "Word" with a capital first letter and lower-case letters after it. */
static bool is_capitalised(const token *t)
{
    if (t->kind != TOK_WORD || t->len < 2 || !is_upper((uint8_t)t->p[0]))
        return false;
    for (size_t i = 1; i < t->len; i++)
        if (!is_lower((uint8_t)t->p[i]) && (uint8_t)t->p[i] < 0x80)
            return false;
    return true;
}

static bool has_non_ascii(const token *t)
{
    for (size_t i = 0; i < t->len; i++)
        if ((uint8_t)t->p[i] >= 0x80)
            return true;
    return false;
}

/* A letter followed by a digit inside one word: u32, x1, utf8. */
static bool mixes_letters_then_digits(const token *t)
{
    if (t->len < 2 || !is_letter((uint8_t)t->p[0]))
        return false;
    for (size_t i = 1; i < t->len; i++)
        if (is_digit((uint8_t)t->p[i]))
            return true;
    return false;
}

/* Lower-case words ending like English inflections: dismissed, rising, quickly. */
static bool has_english_suffix(const token *t)
{
    if (t->len < 5 || !is_all_lower(t) || memchr(t->p, '_', t->len))
        return false;
    const char *end = t->p + t->len;
    return memcmp(end - 2, "ed", 2) == 0 || memcmp(end - 2, "ly", 2) == 0 ||
           memcmp(end - 3, "ing", 3) == 0;
}

/* Lower-case "i" is more often a loop variable than the pronoun. */
static bool is_stopword(const token *t)
{
    return !word_is(t, "i") && word_in(t, stopwords, true);
}

static token peek(const scanner *sc)
{
    scanner copy = *sc;
    return scan_token(&copy);
}

static token peek2(const scanner *sc)
{
    scanner copy = *sc;
    scan_token(&copy);
    return scan_token(&copy);
}

/* `select a, b from`, `select * from`, `SELECT name FROM`: cur is "select". */
static bool starts_sql_select(const scanner *sc)
{
    scanner copy = *sc;
    token first = scan_token(&copy);
    if (is_punct(&first, '*'))
        return true;
    if (first.kind != TOK_WORD || is_stopword(&first))
        return false;
    token second = scan_token(&copy);
    return is_punct(&second, ',') || word_is_nocase(&second, "from");
}

/* Length of the two- or three-character operator starting at t (which is
 * punctuation), or 0 when none starts there. */
static int operator_length(const char *s, size_t n, const token *t)
{
    static const char *const ops3[] = {"===", "!==", "<<=", ">>=", "||=", "&&=", "**=", NULL};
    static const char *const ops2[] = {"==", "!=", "<=", ">=", "&&", "||", "+=", "-=", "*=", "/=",
                                       "%=", "|=", "&=", "^=", "->", "=>", "::", "++", "<<", ">>",
                                       ":=", "</", "/>", "<?", "?>", "**", "?.", NULL};
    size_t left = n - (size_t)(t->p - s);
    if (left < 2 || is_space((uint8_t)t->p[1]) || is_word_byte((uint8_t)t->p[1]))
        return 0;
    for (size_t i = 0; ops3[i]; i++)
        if (left >= 3 && memcmp(t->p, ops3[i], 3) == 0)
            return 3;
    for (size_t i = 0; ops2[i]; i++)
        if (left >= 2 && memcmp(t->p, ops2[i], 2) == 0)
            return 2;
    return 0;
}

/* cur sits between two operands with a space on each side: a + b, x < y. */
static bool binary(const token *prev, const token *cur, const token *next)
{
    bool left = prev->kind == TOK_WORD || is_punct(prev, ')') || is_punct(prev, ']');
    bool right = next->kind == TOK_WORD || is_punct(next, '(');
    return left && right && cur->space_before && next->space_before && !cur->line_start;
}

typedef struct state {
    int64_t score;
    size_t depth;          /* ( [ { opened and not yet closed */
    bool line_is_code;     /* the line opened with a keyword, command or assignment */
    bool line_ends_code;   /* the line ends like code: ; { } or "if ...:" */
    char quote;            /* the quote of the string literal we are in, or 0 */
    bool in_comment;       /* after a line comment marker, until the line ends */
    bool in_block_comment; /* inside a C block comment */
    bool line_block_kw;    /* the current line opened with def/if/for/... */
} state;

static void score_punct(state *st, const scanner *sc, const token *prev, const token *cur,
                        const token *next, int *skip)
{
    char c = cur->p[0];
    int op = operator_length(sc->s, sc->n, cur);

    if (op > 0) {
        st->score += 4;
        *skip = op - 1;
        return;
    }
    switch (c) {
    case '{':
    case '}':
        st->score += 3;
        break;
    case ';':
        st->score += line_ends_after(next) || is_punct(next, '}') ? 4 : 2;
        break;
    case '(':
        if (glued(cur) && (prev->kind == TOK_WORD || is_punct(prev, ')') || is_punct(prev, ']')))
            st->score += 3;
        if (is_punct(next, ')') && glued(next))
            st->score += 1;
        break;
    case '[':
        st->score += glued(cur) && (prev->kind == TOK_WORD || is_punct(prev, ']')) ? 3 : 1;
        break;
    case ']':
        st->score += 1;
        break;
    case '=':
        st->score += prev->kind == TOK_WORD || is_punct(prev, ')') || is_punct(prev, ']') ? 3 : 1;
        if (prev->kind == TOK_WORD && prev->line_start)
            st->line_is_code = true; /* name = ... */
        break;
    case '<':
        st->score += (next->kind == TOK_WORD && glued(next)) || binary(prev, cur, next) ? 2 : 1;
        break;
    case '>':
        st->score += binary(prev, cur, next) ? 2 : 1;
        break;
    case '$':
        if (glued(next) && ((next->kind == TOK_WORD && !is_digit((uint8_t)next->p[0])) ||
                            is_punct(next, '{') || is_punct(next, '(') || is_punct(next, '@')))
            st->score += 3;
        break;
    case '|':
        st->score += 2;
        break;
    case '&':
        if (next->kind == TOK_WORD && glued(next) && (cur->space_before || is_punct(prev, '(')))
            st->score += 2;
        break;
    case '@':
        if (cur->line_start && next->kind == TOK_WORD && glued(next))
            st->score += 3;
        break;
    case '\\':
        st->score += next->kind == TOK_WORD && glued(next) && strchr("ntr0xu", next->p[0]) ? 2 : 1;
        break;
    case '`':
        st->score += 2;
        break;
    case '%':
        if ((next->kind == TOK_WORD && glued(next) && next->len == 1 &&
             strchr("dsfiuxlcp", next->p[0])) ||
            binary(prev, cur, next))
            st->score += 2; /* "%d", n % 2 */
        break;
    case '*':
        if (glued(next) && (next->kind == TOK_WORD || is_punct(next, '(') || is_punct(next, '.')) &&
            (cur->space_before || is_punct(prev, '(')))
            st->score += 1; /* *p */
        else if (binary(prev, cur, next))
            st->score += 1;
        break;
    case '/':
        if (next->kind == TOK_WORD && glued(next) &&
            (cur->space_before || prev->kind == TOK_END || is_punct(prev, '.') ||
             is_punct(prev, '~')))
            st->score += 2;
        else if ((prev->kind == TOK_WORD && glued(cur) && !glued(next)) || binary(prev, cur, next))
            st->score += 1;
        break;
    case '~':
        if (is_punct(next, '/') && glued(next))
            st->score += 2;
        break;
    case '-':
        if (is_punct(next, '-') && glued(next)) {
            token after = peek2(sc);
            if (after.kind == TOK_WORD && glued(&after))
                st->score += 3; /* --flag */
            else if (prev->kind == TOK_WORD && glued(cur))
                st->score += 3; /* n-- */
            *skip = 1;
        } else if ((cur->space_before || prev->kind == TOK_END) && next->kind == TOK_WORD &&
                   glued(next) && is_letter((uint8_t)next->p[0])) {
            st->score += 2; /* -la */
        } else if (binary(prev, cur, next)) {
            st->score += 1; /* a - b */
        }
        break;
    case '+':
        if (binary(prev, cur, next))
            st->score += 1;
        break;
    case '.':
        if (prev->kind == TOK_WORD && glued(cur) && next->kind == TOK_WORD && glued(next)) {
            if (!is_all_digits(prev) && !(prev->len == 1 && next->len == 1))
                st->score += 2; /* obj.field, file.txt */
        } else if (cur->line_start && next->kind == TOK_WORD && glued(next)) {
            st->score += 2; /* .class in CSS */
        } else if ((prev->kind == TOK_WORD || is_punct(prev, ')') || is_punct(prev, '"')) &&
                   glued(cur) &&
                   (line_ends_after(next) ||
                    (next->kind == TOK_WORD && is_upper((uint8_t)next->p[0])))) {
            st->score -= 2; /* end of a sentence */
        }
        break;
    case ':':
        if (line_ends_after(next)) {
            st->score += st->line_block_kw ? 5 : 2;
        } else if (st->line_block_kw && next->space_before) {
            st->score += 2; /* def f(): pass */
        } else if (cur->space_before && next->space_before) {
            st->score += 1; /* a ? b : c */
        } else if (prev->kind == TOK_WORD && prev->line_start && is_all_lower(prev)) {
            st->score += 1; /* yaml key */
        }
        break;
    case '!':
        if (glued(next) && (next->kind == TOK_WORD || is_punct(next, '(')) &&
            (cur->space_before || prev->kind == TOK_END || is_punct(prev, '(')))
            st->score += 2;
        else if (glued(cur) && !glued(next))
            st->score -= 2;
        break;
    case '?':
        if (cur->space_before && next->space_before)
            st->score += 2;
        else if (glued(cur) && !glued(next))
            st->score -= 2;
        break;
    case '\'':
        if (prev->kind == TOK_WORD && glued(cur) && next->kind == TOK_WORD && glued(next) &&
            is_letter((uint8_t)prev->p[prev->len - 1]))
            st->score -= 3; /* don't, I'm */
        break;
    case '#':
        if (cur->line_start && next->kind == TOK_WORD && glued(next)) {
            if (word_in(next, directives, false))
                st->score += 5;
        } else if (is_punct(next, '!') && glued(next) && prev->kind == TOK_END) {
            st->score += 5; /* #! */
        } else if (is_punct(next, '[') && glued(next)) {
            st->score += 3; /* #[attribute] */
        }
        break;
    default:
        break;
    }
}

static void score_word(state *st, const scanner *sc, const token *prev, const token *cur,
                       const token *next)
{
    bool line_opener = cur->line_start ||
                       (prev->kind == TOK_PUNCT && (is_punct(prev, '{') || is_punct(prev, ';')));
    bool followed_by_prose = is_stopword(next) && !st->line_ends_code;
    bool keyword = false;

    if (word_in(cur, code_words, false))
        keyword = true;
    else if (is_all_lower(cur) && line_opener && !followed_by_prose &&
             word_in(cur, line_keywords, false))
        keyword = true;
    else if (cur->line_start && word_is(cur, "go") && word_in(next, go_commands, false))
        keyword = true;
    if (keyword) {
        st->score += 4;
        if (cur->line_start)
            st->line_is_code = true;
    } else if ((word_is(cur, "None") || word_is(cur, "True") || word_is(cur, "False")) &&
               !cur->line_start)
        st->score += 3;
    else if (word_in(cur, sql_words, false))
        st->score += 2;

    if (word_is_nocase(cur, "select") && starts_sql_select(sc))
        st->score += 4;

    if (is_snake_case(cur))
        st->score += 3;
    else if (is_camel_case(cur))
        st->score += 2;
    if (is_hex_literal(cur) || mixes_letters_then_digits(cur))
        st->score += 1;

    bool prose_position =
        (next->kind == TOK_WORD && next->space_before) || next->kind == TOK_END ||
        (next->kind == TOK_PUNCT && glued(next) && strchr(".!?'", next->p[0]) != NULL);
    bool code_context = st->line_is_code || st->line_ends_code || st->depth > 0;
    if (prose_position && is_stopword(cur))
        st->score -= st->line_ends_code || st->depth > 0 ? 1 : 2;
    else if (prose_position && !code_context && word_in(cur, weak_stopwords, true))
        st->score -= 1;

    if (prev->kind == TOK_WORD && cur->space_before && !cur->line_start && !code_context)
        st->score -= 1;
    if (prev->kind == TOK_END && is_capitalised(cur) && !word_in(cur, code_words, false))
        st->score -= 1;
    if (has_non_ascii(cur) || has_english_suffix(cur))
        st->score -= 1;
}

/* The last non-blank character of the line that t starts, or 0. */
static char line_last_char(const scanner *sc, const token *t)
{
    char last = 0;
    for (const char *p = t->p; p < sc->s + sc->n && *p != '\n'; p++)
        if (!is_space((uint8_t)*p))
            last = *p;
    return last;
}

/* A line that ends in ';', '{' or '}', or opens a block with "if ...:", is
 * code whatever words it holds. */
static void start_line(state *st, const scanner *sc, const token *cur)
{
    st->quote = 0;
    st->in_comment = false;

    st->line_block_kw = is_all_lower(cur) && word_in(cur, block_keywords, false);
    char last = line_last_char(sc, cur);
    st->line_is_code = false;
    st->line_ends_code =
        last == ';' || last == '{' || last == '}' || (last == ':' && st->line_block_kw);
    if (cur->indented)
        st->score += 1;
}

/* A ' that opens a quotation rather than sitting inside a word (don't). */
static bool opens_single_quote(const token *prev, const token *cur)
{
    return cur->space_before || prev->kind == TOK_END ||
           (prev->kind == TOK_PUNCT && strchr("([{=,:", prev->p[0]) != NULL);
}

/* Comments and string literals: returns true when cur is consumed by them. */
static bool skip_quoted(state *st, const token *prev, const token *cur, const token *next)
{
    if (st->in_block_comment) {
        if (is_punct(cur, '/') && is_punct(prev, '*') && glued(cur))
            st->in_block_comment = false;
        return true;
    }
    if (st->in_comment)
        return true;
    if (st->quote) {
        if (is_punct(cur, st->quote) && !(is_punct(prev, '\\') && glued(cur)))
            st->quote = 0;
        return true;
    }
    if (is_punct(cur, '"') || (is_punct(cur, '\'') && opens_single_quote(prev, cur))) {
        st->quote = cur->p[0];
        return true;
    }
    if (cur->line_start && is_punct(cur, '#') && !(next->kind == TOK_WORD && glued(next)) &&
        !((is_punct(next, '!') || is_punct(next, '[')) && glued(next))) {
        st->in_comment = true;
        return true;
    }
    if (is_punct(cur, '/') && is_punct(next, '*') && glued(next)) {
        st->score += 3;
        st->in_block_comment = true;
        return true;
    }
    if (is_punct(cur, '#') && cur->space_before && !cur->line_start && !glued(next)) {
        st->in_comment = true; /* x = 1  # note */
        return true;
    }
    if (is_punct(cur, '/') && is_punct(next, '/') && glued(next) && !is_punct(prev, ':')) {
        st->score += 2;
        st->in_comment = true;
        return true;
    }
    return false;
}

/* The evidence score of s (CODE_THRESHOLD or more: code). */
static int64_t evidence(const char *s, size_t bytes)
{
    assert(word_lists_ordered());
    if (!s || bytes == 0)
        return 0;

    scanner sc = {.s = s, .n = bytes, .pos = 0};
    state st = {0};
    token prev = {.kind = TOK_END, .p = s};
    token cur = scan_token(&sc);

    while (cur.kind != TOK_END) {
        token next = peek(&sc);
        int skip = 0;

        if (cur.line_start)
            start_line(&st, &sc, &cur);
        if (!skip_quoted(&st, &prev, &cur, &next)) {
            if (cur.kind == TOK_WORD) {
                score_word(&st, &sc, &prev, &cur, &next);
            } else {
                score_punct(&st, &sc, &prev, &cur, &next, &skip);
                if (strchr("([{", cur.p[0]))
                    st.depth++;
                else if (strchr(")]}", cur.p[0]) && st.depth > 0)
                    st.depth--;
            }
        }
        prev = cur;
        cur = scan_token(&sc);
        while (skip-- > 0 && cur.kind != TOK_END) {
            prev = cur;
            cur = scan_token(&sc);
        }
    }
    return st.score;
}

/* How many points of evidence move the confidence by a factor e in odds:
 * a text just past the threshold is a coin toss (0.53), one with a dozen
 * points of margin is sure (0.95). */
#define CONFIDENCE_SCALE 4.0

enum wire_label classify_text_scored(const char *s, size_t bytes, double *confidence)
{
    int64_t score = evidence(s, bytes);
    enum wire_label label = score >= CODE_THRESHOLD ? WIRE_CODE : WIRE_NOT_CODE;
    if (confidence) {
        /* Half a point keeps the margin off zero: the label's own
         * confidence is always above 0.5, so label and score agree. */
        double margin = fabs((double)(score - CODE_THRESHOLD) + 0.5);
        *confidence = 1.0 / (1.0 + exp(-margin / CONFIDENCE_SCALE));
    }
    return label;
}

enum wire_label classify_text(const char *s, size_t bytes)
{
    return classify_text_scored(s, bytes, NULL);
}
