/* htab: an intrusive hash table keyed by byte strings, used by the proxy's
 * result cache and its table of queued/in-flight sequences.
 *
 * Nodes are embedded in the caller's structs; the table never allocates or
 * frees them, only its slot array. The key bytes must stay valid and
 * unchanged while the node is in the table. Hashes are seeded per table at
 * random, so clients can't aim many keys at one slot.
 *
 * Invariants (htab_check): nslots is a power of two; each node is on the
 * chain of slot hash & (nslots - 1), its hash is its key's, and no two
 * nodes have the same key; `count` is the number of nodes. */
#ifndef BP_HTAB_H
#define BP_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct htab_node {
    struct htab_node *next;
    uint64_t hash;
    const char *key;
    size_t klen;
} htab_node;

typedef struct htab {
    htab_node **slots;
    size_t nslots; /* a power of two */
    size_t count;
    uint64_t seed;
} htab;

bool htab_init(htab *t, size_t initial_slots);
/* Frees the slot array only; the nodes are the caller's. */
void htab_fini(htab *t);
uint64_t htab_hash(const htab *t, const char *key, size_t klen);
htab_node *htab_find(const htab *t, const char *key, size_t klen, uint64_t hash);
/* Adds a node whose key, klen and hash are set; the key must not be present.
 * Grows the table when it gets full (a failed grow only costs speed). */
void htab_insert(htab *t, htab_node *n);
/* Takes a node out; returns false, changing nothing, when it is not in
 * the table (for an owner about to be freed, that is a double free). */
bool htab_remove(htab *t, htab_node *n);

/* NULL when the invariants above hold, else a sentence naming the one
 * broken. O(nodes × chain + key bytes). */
const char *htab_check(const htab *t);

#endif
