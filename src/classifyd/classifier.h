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

/* The same label, and in *confidence (if not NULL) how sure the classifier
 * is of it: a probability in (0.5, 1), deterministic, growing with the
 * margin of the heuristic's evidence over its threshold. */
enum wire_label classify_text_scored(const char *s, size_t bytes, double *confidence);

#endif
