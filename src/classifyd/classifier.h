/* classify: decides whether a text is source code ("code") or prose ("not code").
 *
 * Deterministic: the same text always gets the same label, which is what
 * lets batchproxy cache and coalesce results. */
#ifndef BP_CLASSIFIER_H
#define BP_CLASSIFIER_H

#include "wire.h"

#include <stddef.h>

/* Labels s[0..bytes) (valid UTF-8, may contain NUL). Pure: no state, no I/O. */
enum wire_label classify_text(const char *s, size_t bytes);

#endif
