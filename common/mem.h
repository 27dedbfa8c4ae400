/* mem.h: growing heap arrays geometrically, so appending n items costs O(n)
 * copies in all; shared by every builder that collects items one at a time. */
#ifndef PPR_MEM_H
#define PPR_MEM_H

#include <stddef.h>

/* Make the array *p of *cap items of elem bytes hold at least need items:
 * capacity doubles from 64 until it fits. 0, or -1 when out of memory or when
 * the size overflows (then *p and *cap are unchanged and *p stays valid). */
int mem_grow(void **p, size_t *cap, size_t need, size_t elem);

#endif
