/*
 * The order in which CPython iterates a set of objects that hash by
 * address (tasks and futures), computed from the addresses and the order
 * they were added: what Objects/setobject.c does (3.11 to 3.14 alike), for
 * the awaited-by sets 3.14 builds and 3.11-3.13 do not keep.
 */
#include <stdlib.h>
#include <string.h>

#include "walker.h"

#define SET_MINSIZE 8           /* PySet_MINSIZE */
#define LINEAR_PROBES 9
#define PERTURB_SHIFT 5

uint64_t pyset_pointer_hash(uint64_t addr)
{
	/* Python/pyhash.c, _Py_HashPointer: the low bits of an address are
	 * mostly 0, so it is rotated right by 4; -1 (an error) becomes -2 */
	uint64_t h = (addr >> 4) | (addr << 60);
	return h == UINT64_MAX ? UINT64_MAX - 1 : h;
}

/* The slot set_add_entry() and set_insert_clean() give key in table
 * (empty slots hold 0; the table always keeps one); SIZE_MAX: key is
 * there already. */
static size_t set_slot(const uint64_t *table, size_t mask, uint64_t key)
{
	uint64_t hash = pyset_pointer_hash(key);
	size_t perturb = (size_t)hash, i = (size_t)hash & mask;
	for (;;) {
		size_t probes = i + LINEAR_PROBES <= mask ? LINEAR_PROBES : 0;
		for (size_t j = 0; j <= probes; j++) {
			if (!table[i + j])
				return i + j;
			if (table[i + j] == key)
				return SIZE_MAX;
		}
		perturb >>= PERTURB_SHIFT;
		i = (i * 5 + 1 + perturb) & mask;
	}
}

/* set_table_resize(): the smallest power of two above minused, from 8 */
static size_t set_table_size(size_t minused)
{
	size_t size = SET_MINSIZE;
	while (size <= minused)
		size <<= 1;
	return size;
}

/* A new table of size slots holding the keys of from, inserted in from's
 * slot order (set_table_resize() and set_merge() into an empty set). */
static uint64_t *set_rebuild(const uint64_t *from, size_t from_slots, size_t size)
{
	uint64_t *to = calloc(size, sizeof(*to));
	if (!to)
		return NULL;
	for (size_t i = 0; i < from_slots; i++)
		if (from[i])
			to[set_slot(to, size - 1, from[i])] = from[i];
	return to;
}

bool pyset_iteration_order(uint64_t *keys, size_t *n)
{
	if (*n > PYSET_MAX_KEYS)
		return false;
	size_t mask = SET_MINSIZE - 1, fill = 0;
	uint64_t *table = calloc(SET_MINSIZE, sizeof(*table)), *t;
	if (!table)
		return false;
	/* set.add() of each key: a new key takes the first free slot of its
	 * probe sequence; the table grows once it is 3/5 full */
	for (size_t k = 0; k < *n; k++) {
		size_t slot = keys[k] ? set_slot(table, mask, keys[k]) : SIZE_MAX;
		if (slot == SIZE_MAX)
			continue;
		table[slot] = keys[k];
		if (++fill * 5 < mask * 3)
			continue;
		size_t size = set_table_size(fill > 50000 ? fill * 2 : fill * 4);
		if (!(t = set_rebuild(table, mask + 1, size)))
			goto nomem;
		free(table);
		table = t;
		mask = size - 1;
	}
	/* frozenset(set): sized for twice the keys once they fill 3/5 of 8
	 * slots; a table of the same size is copied slot for slot, another
	 * one filled in the set's slot order */
	size_t fsize = fill * 5 >= (SET_MINSIZE - 1) * 3 ? set_table_size(fill * 2)
							 : SET_MINSIZE;
	if (fsize != mask + 1) {
		if (!(t = set_rebuild(table, mask + 1, fsize)))
			goto nomem;
		free(table);
		table = t;
		mask = fsize - 1;
	}
	size_t out = 0;
	for (size_t i = 0; i <= mask; i++)
		if (table[i])
			keys[out++] = table[i];
	*n = out;
	free(table);
	return true;
nomem:
	free(table);
	return false;
}
