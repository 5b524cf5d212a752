/*
 * All of the library's internal interfaces, for the unit tests and fuzz
 * targets. The library's own sources include only the header of their
 * layer, each of which includes the layers below it:
 *
 *   base.h -> reader.h -> elf.h -> target.h -> (layout.h, dwarf_query.h,
 *   text.h) -> snapshot.h -> graph.h -> format.h
 *
 * (tests/unit/layers.test checks that no header reaches up.)
 */
#ifndef PYAG_INTERNAL_H
#define PYAG_INTERNAL_H

#include "format.h"
#include "walker.h"

#endif /* PYAG_INTERNAL_H */
