/* The synthetic interpreter the unit tests share: a few tasks of every
 * kind (see world.c), and the walk of it. */
#ifndef PYAG_TEST_WORLD_H
#define PYAG_TEST_WORLD_H

#include "fake.h"

struct world {
	struct fake_py py;
	uint64_t parent, child1, child2, fut, running;
	uint64_t code_main, code_leaf, code_sleep, code_block;
};

/* The world for an interpreter of the given PY_VERSION_HEX. */
void build_world(struct world *w, uint64_t version);
/* The first column of the layout table whose interpreters keep task lists
 * (3.14 and later): the synthetic world is one of those. */
#define WORLD_FIRST_COLUMN world_first_column()
int world_first_column(void);
/* The version the API tests use. */
#define WORLD_VERSION 0x030e0af0ull

struct snapshot;
/* Walk w into snap (the unit tests of the core). */
void walk_world(struct world *w, struct snapshot *snap);

/* Run a Check suite (CK_ENV verbosity); the exit status of main(). */
struct Suite;
int run_suite(struct Suite *s);

#endif
