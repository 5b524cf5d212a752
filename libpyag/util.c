/* Small containers: a bump arena, a u64 -> u32 hash map, a string interner. */
#include <stdlib.h>
#include <string.h>

#include "base.h"


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
		const struct u64map_entry *e = &m->e[i];
		if (!e->used)
			return false;
		if (e->key == key) {
			*val = e->val;
			return true;
		}
		i = (i + 1) & (m->cap - 1);
	}
}

static bool u64map_grow(struct u64map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 256;
	struct u64map_entry *e = calloc(cap, sizeof(*e));
	if (!e)
		return false;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->e[i].used)
			continue;
		size_t j = hash_u64(m->e[i].key) & (cap - 1);
		while (e[j].used)
			j = (j + 1) & (cap - 1);
		e[j] = m->e[i];
	}
	free(m->e);
	m->e = e;
	m->cap = cap;
	return true;
}

bool u64map_put(struct u64map *m, uint64_t key, uint32_t val)
{
	if ((m->count + 1) * 4 > m->cap * 3 && !u64map_grow(m))
		return false;
	size_t i = hash_u64(key) & (m->cap - 1);
	while (m->e[i].used) {
		if (m->e[i].key == key) {
			m->e[i].val = val;
			return true;
		}
		i = (i + 1) & (m->cap - 1);
	}
	m->e[i] = (struct u64map_entry){ .key = key, .val = val, .used = 1 };
	m->count++;
	return true;
}

void u64map_deinit(struct u64map *m)
{
	free(m->e);
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
	if (n > UINT32_MAX)
		return NULL;
	if ((in->count + 1) * 2 > in->cap) {
		size_t cap = in->cap ? in->cap * 2 : 256;
		struct intern_slot *slots = calloc(cap, sizeof(*slots));
		if (!slots)
			return NULL;
		for (size_t i = 0; i < in->cap; i++) {
			if (!in->slots[i].s)
				continue;
			size_t j = in->slots[i].hash & (cap - 1);
			while (slots[j].s)
				j = (j + 1) & (cap - 1);
			slots[j] = in->slots[i];
		}
		free(in->slots);
		in->slots = slots;
		in->cap = cap;
	}
	uint32_t h = (uint32_t)hash_bytes(s, n);
	size_t i = h & (in->cap - 1);
	for (; in->slots[i].s; i = (i + 1) & (in->cap - 1)) {
		const struct intern_slot *sl = &in->slots[i];
		if (sl->hash == h && sl->len == n && memcmp(sl->s, s, n) == 0)
			return sl->s;
	}
	char *copy = arena_alloc(&in->arena, n + 1);
	if (!copy)
		return NULL;
	memcpy(copy, s, n);
	copy[n] = '\0';
	in->slots[i] = (struct intern_slot){ .s = copy, .hash = h, .len = (uint32_t)n };
	in->count++;
	return copy;
}

void intern_deinit(struct intern *in)
{
	free(in->slots);
	arena_deinit(&in->arena);
	memset(in, 0, sizeof(*in));
}
