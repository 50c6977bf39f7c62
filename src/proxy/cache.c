/* cache: LRU cache of results with a time to live (see cache.h). */
#include "cache.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>

struct cache_entry {
    htab_node node; /* key = text (the bytes after the struct) */
    cache_entry *prev, *next;
    double stored;
    result *value; /* a reference of the cache's own */
    char text[];
};

/* With BP_CHECK_INVARIANTS, cache_check after an operation, amortised
 * (see cache.h). */
static void debug_check(cache *c)
{
#ifdef BP_CHECK_INVARIANTS
    if (c->check_skip > 0) {
        c->check_skip--;
        return;
    }
    BP_INVARIANTS(cache_check(c));
    c->check_skip = (c->table.count + c->table.nslots) / 8;
#else
    (void)c;
#endif
}

bool cache_init(cache *c, size_t capacity, double ttl)
{
    memset(c, 0, sizeof *c);
    c->capacity = capacity;
    c->ttl = ttl;
    return htab_init(&c->table, capacity < 65536 ? capacity : 65536);
}

void cache_set_ttl(cache *c, double ttl)
{
    c->ttl = ttl;
}

static void lru_unlink(cache *c, cache_entry *e)
{
    if (e->next == e) {
        c->newest = NULL;
    } else {
        e->prev->next = e->next;
        e->next->prev = e->prev;
        if (c->newest == e)
            c->newest = e->next;
    }
}

/* Makes e the newest. `newest->next` is the oldest (the list is circular). */
static void lru_push(cache *c, cache_entry *e)
{
    if (!c->newest) {
        e->prev = e->next = e;
    } else {
        e->next = c->newest->next;
        e->prev = c->newest;
        c->newest->next->prev = e;
        c->newest->next = e;
    }
    c->newest = e;
}

static void drop(cache *c, cache_entry *e)
{
    lru_unlink(c, e);
    bool was_in = htab_remove(&c->table, &e->node);
    BP_ASSERT(was_in); /* else the entry is being freed twice */
    result_unref(e->value);
    free(e);
}

void cache_fini(cache *c)
{
    while (c->newest)
        drop(c, c->newest);
    htab_fini(&c->table);
}

size_t cache_size(const cache *c)
{
    return c->table.count;
}

result *cache_get(cache *c, const char *text, size_t bytes, double now)
{
    if (c->capacity == 0)
        return NULL;
    cache_entry *e =
        (cache_entry *)htab_find(&c->table, text, bytes, htab_hash(&c->table, text, bytes));
    if (!e)
        return NULL;
    if (c->ttl > 0 && now - e->stored > c->ttl) {
        drop(c, e);
        debug_check(c);
        return NULL;
    }
    lru_unlink(c, e);
    lru_push(c, e);
    debug_check(c);
    return e->value;
}

void cache_put(cache *c, const char *text, size_t bytes, result *value, double now)
{
    if (c->capacity == 0)
        return;
    uint64_t h = htab_hash(&c->table, text, bytes);
    cache_entry *e = (cache_entry *)htab_find(&c->table, text, bytes, h);
    if (e) {
        lru_unlink(c, e);
        result_unref(e->value);
    } else {
        if (c->table.count >= c->capacity)
            drop(c, c->newest->next);
        e = malloc(sizeof *e + (bytes ? bytes : 1));
        if (!e)
            return;
        memcpy(e->text, text, bytes);
        e->node.key = e->text;
        e->node.klen = bytes;
        e->node.hash = h;
        htab_insert(&c->table, &e->node);
    }
    e->value = result_ref(value);
    e->stored = now;
    lru_push(c, e);
    debug_check(c);
}

const char *cache_check(const cache *c)
{
    const char *why = htab_check(&c->table);
    if (why)
        return why;
    if (c->table.count > c->capacity)
        return "cache: at most `capacity` entries";
    if (!c->newest != (c->table.count == 0))
        return "cache: newest is NULL iff the cache is empty";
    size_t n = 0;
    const cache_entry *e = c->newest;
    do {
        if (!e)
            break;
        if (++n > c->table.count)
            return "cache: the LRU list holds the table's entries (no more)";
        if (e->next->prev != e || e->prev->next != e)
            return "cache: the LRU list is circular and doubly linked";
        if (!e->value || e->value->refs == 0)
            return "cache: each entry holds a reference to its result";
        if (e->node.key != e->text)
            return "cache: an entry's key is its own copy of its text";
        if (htab_find(&c->table, e->text, e->node.klen, e->node.hash) != &e->node)
            return "cache: every entry on the LRU list is in the table";
        e = e->next;
    } while (e != c->newest);
    return n == c->table.count ? NULL : "cache: the LRU list holds the table's entries";
}
