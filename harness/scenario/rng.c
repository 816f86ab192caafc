/* xoshiro256** by Blackman and Vigna (public domain algorithm), seeded with
 * splitmix64. Deterministic on every platform: plans depend on it. */
#include "faultline/rng.h"

#include <fcntl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void fl_rng_seed(struct fl_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

uint64_t fl_rng_next(struct fl_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t fl_rng_below(struct fl_rng *r, uint64_t n)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;

	do
		v = fl_rng_next(r);
	while (v >= limit);
	return v % n;
}

void fl_rng_shuffle(struct fl_rng *r, int *v, int n)
{
	for (int i = n - 1; i > 0; i--) {
		int j = (int)fl_rng_below(r, (uint64_t)i + 1), t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
}

uint64_t fl_rng_fresh_seed(void)
{
	uint64_t s = 0;
	struct timespec ts;

	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
		return s & 0x7fffffffffffffffULL;
	clock_gettime(CLOCK_REALTIME, &ts);
	s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
	return splitmix64(&s) & 0x7fffffffffffffffULL;
}
