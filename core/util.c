/* Small containers: a bump arena, a u64 -> u32 hash map, a string interner. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"


#define ARENA_CHUNK (64u * 1024u)

void *arena_alloc(struct arena *a, size_t size)
{
	size = (size + 7) & ~(size_t)7;
	if (!a->head || a->head->used + size > a->head->size) {
		size_t csize = size > ARENA_CHUNK ? size : ARENA_CHUNK;
		struct arena_chunk *c = malloc(sizeof(*c) + csize);
		if (!c)
			return NULL;
		c->size = csize;
		c->used = 0;
		c->next = a->head;
		a->head = c;
		a->bytes += csize;
	}
	void *p = a->head->data + a->head->used;
	a->head->used += size;
	return p;
}

void arena_deinit(struct arena *a)
{
	struct arena_chunk *c = a->head;
	while (c) {
		struct arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	memset(a, 0, sizeof(*a));
}

static size_t hash_u64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return (size_t)k;
}

bool u64map_get(const struct u64map *m, uint64_t key, uint32_t *val)
{
	if (!m->cap)
		return false;
	size_t i = hash_u64(key) & (m->cap - 1);
	for (;;) {
		if (!m->used[i])
			return false;
		if (m->keys[i] == key) {
			*val = m->vals[i];
			return true;
		}
		i = (i + 1) & (m->cap - 1);
	}
}

static bool u64map_grow(struct u64map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 256;
	uint64_t *keys = malloc(cap * sizeof(*keys));
	uint32_t *vals = malloc(cap * sizeof(*vals));
	uint8_t *used = calloc(cap, 1);
	if (!keys || !vals || !used) {
		free(keys);
		free(vals);
		free(used);
		return false;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->used[i])
			continue;
		size_t j = hash_u64(m->keys[i]) & (cap - 1);
		while (used[j])
			j = (j + 1) & (cap - 1);
		used[j] = 1;
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	free(m->used);
	m->keys = keys;
	m->vals = vals;
	m->used = used;
	m->cap = cap;
	return true;
}

bool u64map_put(struct u64map *m, uint64_t key, uint32_t val)
{
	if ((m->count + 1) * 4 > m->cap * 3 && !u64map_grow(m))
		return false;
	size_t i = hash_u64(key) & (m->cap - 1);
	while (m->used[i]) {
		if (m->keys[i] == key) {
			m->vals[i] = val;
			return true;
		}
		i = (i + 1) & (m->cap - 1);
	}
	m->used[i] = 1;
	m->keys[i] = key;
	m->vals[i] = val;
	m->count++;
	return true;
}

void u64map_deinit(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	free(m->used);
	memset(m, 0, sizeof(*m));
}

static size_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return (size_t)h;
}

const char *intern_get(struct intern *in, const char *s, size_t n)
{
	if ((in->count + 1) * 2 > in->cap) {
		size_t cap = in->cap ? in->cap * 2 : 256;
		const char **slots = calloc(cap, sizeof(*slots));
		if (!slots)
			return NULL;
		for (size_t i = 0; i < in->cap; i++) {
			if (!in->slots[i])
				continue;
			size_t j = hash_bytes(in->slots[i], strlen(in->slots[i])) & (cap - 1);
			while (slots[j])
				j = (j + 1) & (cap - 1);
			slots[j] = in->slots[i];
		}
		free(in->slots);
		in->slots = slots;
		in->cap = cap;
	}
	size_t i = hash_bytes(s, n) & (in->cap - 1);
	while (in->slots[i]) {
		if (strncmp(in->slots[i], s, n) == 0 && in->slots[i][n] == '\0')
			return in->slots[i];
		i = (i + 1) & (in->cap - 1);
	}
	char *copy = arena_alloc(&in->arena, n + 1);
	if (!copy)
		return NULL;
	memcpy(copy, s, n);
	copy[n] = '\0';
	in->slots[i] = copy;
	in->count++;
	return copy;
}

void intern_deinit(struct intern *in)
{
	free(in->slots);
	arena_deinit(&in->arena);
	memset(in, 0, sizeof(*in));
}
