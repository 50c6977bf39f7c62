/* cache: LRU cache of results with a time to live (see cache.h). */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

struct cache_entry {
    htab_node node; /* key = text (the bytes after the struct) */
    cache_entry *prev, *next;
    double stored;
    enum wire_label label;
    char text[];
};

bool cache_init(cache *c, size_t capacity, double ttl)
{
    memset(c, 0, sizeof *c);
    c->capacity = capacity;
    c->ttl = ttl;
    return htab_init(&c->table, capacity < 65536 ? capacity : 65536);
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
    htab_remove(&c->table, &e->node);
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

bool cache_get(cache *c, const char *text, size_t bytes, double now, enum wire_label *label)
{
    if (c->capacity == 0)
        return false;
    cache_entry *e =
        (cache_entry *)htab_find(&c->table, text, bytes, htab_hash(&c->table, text, bytes));
    if (!e)
        return false;
    if (c->ttl > 0 && now - e->stored > c->ttl) {
        drop(c, e);
        return false;
    }
    lru_unlink(c, e);
    lru_push(c, e);
    *label = e->label;
    return true;
}

void cache_put(cache *c, const char *text, size_t bytes, enum wire_label label, double now)
{
    if (c->capacity == 0)
        return;
    uint64_t h = htab_hash(&c->table, text, bytes);
    cache_entry *e = (cache_entry *)htab_find(&c->table, text, bytes, h);
    if (e) {
        lru_unlink(c, e);
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
    e->label = label;
    e->stored = now;
    lru_push(c, e);
}
