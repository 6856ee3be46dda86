// SPDX-License-Identifier: MIT
/*
 * A program that must not survive: `make test` runs it before the tests and
 * passes only if the sanitizers stop it, so a build that lost
 * -fsanitize (a changed CFLAGS, another compiler) cannot pass silently.
 *
 *   sanitizer_canary asan    writes one byte past a heap block
 *   sanitizer_canary ubsan   overflows a signed int
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The compiler loses track of the block here: it can neither remove the
 * allocation nor let UBSan's object-size check report the overflow first. */
static char *hide(void *p)
{
	__asm__ volatile("" : "+r"(p));
	return p;
}

int main(int argc, char **argv)
{
	/* volatile: the compiler may not prove the bug away */
	volatile int index = 16, big = INT_MAX;

	if (argc == 2 && !strcmp(argv[1], "asan")) {
		char *block = hide(malloc(16));

		block[index] = 1;
		printf("survived a heap overflow: AddressSanitizer is not live\n");
		free(block);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "ubsan")) {
		int sum = big + 1;

		printf("survived a signed overflow (%d): UndefinedBehaviorSanitizer is not live\n", sum);
		return 0;
	}
	fprintf(stderr, "usage: sanitizer_canary asan|ubsan\n");
	return 2;
}
