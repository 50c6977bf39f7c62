/* htab: an intrusive, seeded hash table of byte-string keys (see htab.h). */
#include "htab.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

bool htab_init(htab *t, size_t initial_slots)
{
    size_t n = 16;
    while (n < initial_slots)
        n <<= 1;
    t->slots = calloc(n, sizeof *t->slots);
    t->nslots = n;
    t->count = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    t->seed = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^
              (uint64_t)(uintptr_t)t;
    return t->slots != NULL;
}

void htab_fini(htab *t)
{
    free(t->slots);
    t->slots = NULL;
    t->nslots = t->count = 0;
}

/* FNV-1a over the key, started from the table's seed, with a final mix so
 * the low bits used for the slot depend on every input byte. */
uint64_t htab_hash(const htab *t, const char *key, size_t klen)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ t->seed;
    for (size_t i = 0; i < klen; i++) {
        h ^= (unsigned char)key[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

htab_node *htab_find(const htab *t, const char *key, size_t klen, uint64_t hash)
{
    for (htab_node *n = t->slots[hash & (t->nslots - 1)]; n; n = n->next)
        if (n->hash == hash && n->klen == klen && memcmp(n->key, key, klen) == 0)
            return n;
    return NULL;
}

static void grow(htab *t)
{
    size_t nn = t->nslots * 2;
    htab_node **ns = calloc(nn, sizeof *ns);
    if (!ns)
        return;
    for (size_t i = 0; i < t->nslots; i++) {
        htab_node *n = t->slots[i];
        while (n) {
            htab_node *next = n->next;
            n->next = ns[n->hash & (nn - 1)];
            ns[n->hash & (nn - 1)] = n;
            n = next;
        }
    }
    free(t->slots);
    t->slots = ns;
    t->nslots = nn;
}

void htab_insert(htab *t, htab_node *n)
{
    if (t->count >= t->nslots)
        grow(t);
    htab_node **slot = &t->slots[n->hash & (t->nslots - 1)];
    n->next = *slot;
    *slot = n;
    t->count++;
}

bool htab_remove(htab *t, htab_node *n)
{
    for (htab_node **p = &t->slots[n->hash & (t->nslots - 1)]; *p; p = &(*p)->next) {
        if (*p == n) {
            *p = n->next;
            n->next = NULL;
            t->count--;
            return true;
        }
    }
    return false;
}

/* One chain's nodes: in the right slot, hashed right, keys unique. */
static const char *check_chain(const htab *t, size_t slot, size_t *count)
{
    for (const htab_node *n = t->slots[slot]; n; n = n->next) {
        if (++*count > t->count)
            return "htab: count is the number of nodes";
        if ((n->hash & (t->nslots - 1)) != slot)
            return "htab: each node is on the chain of its hash's slot";
        if (n->hash != htab_hash(t, n->key, n->klen))
            return "htab: each node's hash is its key's";
        if (htab_find(t, n->key, n->klen, n->hash) != n)
            return "htab: no two nodes have the same key";
    }
    return NULL;
}

const char *htab_check(const htab *t)
{
    if (!t->slots || t->nslots < 16 || (t->nslots & (t->nslots - 1)))
        return "htab: the slot array exists and nslots is a power of two >= 16";
    size_t count = 0;
    for (size_t i = 0; i < t->nslots; i++) {
        const char *why = check_chain(t, i, &count);
        if (why)
            return why;
    }
    return count == t->count ? NULL : "htab: count is the number of nodes";
}
