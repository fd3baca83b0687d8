/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cn_lb.h: choosing a backend for a new flow.
 *
 * cn_flow_hash() hashes the selected fields of a flow (CN_LB_F_*; 0 means
 * all five). A "hash" translation takes backend = hash % n_backends; a
 * "maglev" one looks the hash up in a Maglev table (Eisenbud et al.,
 * NSDI'16), which moves few flows when backends come and go.
 *
 * cn_maglev_build() fills a table of length m (a prime, greater than the
 * number of backends) from one 64-bit key per backend (a hash of what the
 * backend is, so that the table depends on the backends, not their order).
 */
#ifndef CN_LB_H
#define CN_LB_H

#include <stdint.h>
#include <string.h>

#define CN_LB_F_SRC_ADDR 0x01
#define CN_LB_F_DST_ADDR 0x02
#define CN_LB_F_SRC_PORT 0x04
#define CN_LB_F_DST_PORT 0x08
#define CN_LB_F_PROTO	 0x10
#define CN_LB_F_ALL	 0x1f

#define CN_MAGLEV_MAX_LEN 65521 /* largest prime below 2^16 */

static inline uint64_t
cn_mix64 (uint64_t x)
{
  /* splitmix64 finaliser: cheap, well spread */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

static inline uint64_t
cn_hash_bytes (const void *p, uint32_t n, uint64_t seed)
{
  const uint8_t *b = (const uint8_t *) p;
  uint64_t h = seed ^ (0x9e3779b97f4a7c15ull * (n + 1));
  uint32_t i;
  for (i = 0; i + 8 <= n; i += 8)
    {
      uint64_t w;
      memcpy (&w, b + i, 8);
      h = cn_mix64 (h ^ w);
    }
  if (i < n)
    {
      uint64_t w = 0;
      memcpy (&w, b + i, n - i);
      h = cn_mix64 (h ^ w ^ ((uint64_t) (n - i) << 56));
    }
  return h;
}

/* addr_len is 4 or 16; ports in network order as in the packet. */
static inline uint32_t
cn_flow_hash (uint8_t fields, const uint8_t *src, const uint8_t *dst, uint32_t addr_len,
	      uint16_t sport, uint16_t dport, uint8_t proto)
{
  uint64_t h = 0x5bd1e995ull;
  if (fields == 0)
    fields = CN_LB_F_ALL;
  if (fields & CN_LB_F_SRC_ADDR)
    h = cn_hash_bytes (src, addr_len, h);
  if (fields & CN_LB_F_DST_ADDR)
    h = cn_hash_bytes (dst, addr_len, h ^ 0x1);
  h = cn_mix64 (h ^ ((fields & CN_LB_F_SRC_PORT) ? (uint64_t) sport : 0) ^
		((fields & CN_LB_F_DST_PORT) ? (uint64_t) dport << 16 : 0) ^
		((fields & CN_LB_F_PROTO) ? (uint64_t) proto << 32 : 0));
  return (uint32_t) (h ^ (h >> 32));
}

static inline int
cn_is_prime (uint32_t n)
{
  uint32_t d;
  if (n < 2)
    return 0;
  if (n % 2 == 0)
    return n == 2;
  for (d = 3; (uint64_t) d * d <= n; d += 2)
    if (n % d == 0)
      return 0;
  return 1;
}

/* table: m entries (backend indexes); next: n_backends scratch entries.
   Returns 0, or -1 when the arguments are unusable. */
static inline int
cn_maglev_build (const uint64_t *keys, uint32_t n_backends, uint32_t m, uint8_t *table,
		 uint32_t *next)
{
  uint32_t i, filled = 0;
  if (n_backends == 0 || n_backends > 255 || m < n_backends || m < 2 || !cn_is_prime (m))
    return -1;
  memset (table, 0xff, m);
  memset (next, 0, sizeof (next[0]) * n_backends);
  while (1)
    {
      for (i = 0; i < n_backends; i++)
	{
	  uint64_t h1 = cn_mix64 (keys[i] ^ 0x243f6a8885a308d3ull);
	  uint64_t h2 = cn_mix64 (keys[i] ^ 0x13198a2e03707344ull);
	  uint32_t offset = (uint32_t) (h1 % m);
	  uint32_t skip = (uint32_t) (h2 % (m - 1)) + 1;
	  uint32_t c;
	  /* next preference of backend i that is still free */
	  do
	    {
	      c = (uint32_t) ((offset + (uint64_t) next[i] * skip) % m);
	      next[i]++;
	    }
	  while (table[c] != 0xff);
	  table[c] = (uint8_t) i;
	  if (++filled == m)
	    return 0;
	}
    }
}

#endif /* CN_LB_H */
