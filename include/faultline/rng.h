/* A seeded pseudo-random generator (xoshiro256**, seeded by splitmix64) so
 * that plans are the same bytes for the same seed on every machine and libc.
 * Never use rand() for anything a seed must reproduce. */
#ifndef FAULTLINE_RNG_H
#define FAULTLINE_RNG_H

#include <stdint.h>

struct fl_rng {
	uint64_t s[4];
};

void fl_rng_seed(struct fl_rng *r, uint64_t seed);
uint64_t fl_rng_next(struct fl_rng *r);
/* Uniform in [0, n), without modulo bias; n > 0. */
uint64_t fl_rng_below(struct fl_rng *r, uint64_t n);
/* Fisher–Yates shuffle of n ints. */
void fl_rng_shuffle(struct fl_rng *r, int *v, int n);
/* A fresh seed from the OS, for runs that do not fix one. */
uint64_t fl_rng_fresh_seed(void);

#endif
