/* cache: an LRU cache of classification results with a time to live.
 *
 * The classifier is deterministic, so a result may be reused for the same
 * text. The cache owns copies of the texts; at most `capacity` entries are
 * kept (the least recently used goes first); an entry older than `ttl`
 * seconds is not returned. Capacity 0 disables it. */
#ifndef BP_CACHE_H
#define BP_CACHE_H

#include "htab.h"
#include "wire.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct cache_entry cache_entry;

typedef struct cache {
    htab table;
    size_t capacity;
    double ttl;          /* seconds; <= 0 means no expiry */
    cache_entry *newest; /* LRU list, circular through prev/next */
} cache;

bool cache_init(cache *c, size_t capacity, double ttl);
void cache_fini(cache *c);
size_t cache_size(const cache *c);

/* Looks text up at time now; true and *label when a fresh entry exists. */
bool cache_get(cache *c, const char *text, size_t bytes, double now, enum wire_label *label);

/* Stores (or refreshes) the result for text at time now. */
void cache_put(cache *c, const char *text, size_t bytes, enum wire_label label, double now);

#endif
