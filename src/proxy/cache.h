/* cache: an LRU cache of classification results with a time to live.
 *
 * The classifier is deterministic, so a result may be reused for the same
 * text. The cache owns copies of the texts; at most `capacity` entries are
 * kept (the least recently used goes first); an entry older than `ttl`
 * seconds is not returned. Capacity 0 disables it.
 *
 * Invariants (cache_check): the table and the LRU list hold the same
 * entries, at most `capacity` (none when it is 0); the list is circular
 * and doubly linked, `newest` NULL iff it is empty; each entry's key is its
 * own copy of its text and holds a reference to its result. */
#ifndef BP_CACHE_H
#define BP_CACHE_H

#include "htab.h"
#include "result.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct cache_entry cache_entry;

typedef struct cache {
    htab table;
    size_t capacity;
    double ttl;          /* seconds; <= 0 means no expiry */
    cache_entry *newest; /* LRU list, circular through prev/next */
    size_t check_skip;   /* BP_CHECK_INVARIANTS: operations until the next check */
} cache;

bool cache_init(cache *c, size_t capacity, double ttl);
void cache_fini(cache *c);
size_t cache_size(const cache *c);

/* A new ttl (SIGHUP): entries kept are judged by it from now on, by the
 * time they were stored. */
void cache_set_ttl(cache *c, double ttl);

/* Looks text up at time now: its result when a fresh entry exists (the
 * cache's reference: take one of your own to keep it), else NULL. */
result *cache_get(cache *c, const char *text, size_t bytes, double now);

/* Stores (or refreshes) the result for text at time now; the cache takes a
 * reference of its own. */
void cache_put(cache *c, const char *text, size_t bytes, result *value, double now);

/* NULL when the invariants above hold, the table's (htab_check) included,
 * else a sentence naming the one broken. O(entries + slots). Builds with
 * BP_CHECK_INVARIANTS run it inside cache_get and cache_put, amortised:
 * once (entries + slots) / 8 of them have passed since the last time. */
const char *cache_check(const cache *c);

#endif
