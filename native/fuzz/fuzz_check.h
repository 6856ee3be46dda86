/* SPDX-License-Identifier: MIT */
/*
 * The fuzz targets' one assertion: a broken invariant aborts with file:line
 * so that libFuzzer records the input as a crash (a plain exit would not be).
 */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                              \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__,    \
				__LINE__, #cond);                                     \
			abort();                                                      \
		}                                                                     \
	} while (0)

#endif /* FUZZ_CHECK_H */
