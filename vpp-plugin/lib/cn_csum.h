/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cn_csum.h: Internet checksum arithmetic (RFC 1071, RFC 1624).
 *
 * All words are taken as they lie in memory (network order). One's
 * complement sums are byte-order independent as long as every word is read
 * the same way, so nothing here swaps bytes: a checksum field loaded with a
 * plain 16-bit load can be updated with deltas built from plain loads.
 *
 * A "delta" is sum(~old words) + sum(new words), folded to 16 bits; it turns
 * a header checksum into the checksum of the rewritten header (RFC 1624
 * eqn. 3: HC' = ~(~HC + ~m + m')).
 */
#ifndef CN_CSUM_H
#define CN_CSUM_H

#include <stdint.h>
#include <string.h>

static inline uint16_t
cn_ld16 (const void *p)
{
  uint16_t v;
  memcpy (&v, p, 2);
  return v;
}

static inline void
cn_st16 (void *p, uint16_t v)
{
  memcpy (p, &v, 2);
}

static inline uint32_t
cn_ld32 (const void *p)
{
  uint32_t v;
  memcpy (&v, p, 4);
  return v;
}

static inline void
cn_st32 (void *p, uint32_t v)
{
  memcpy (p, &v, 4);
}

static inline uint16_t
cn_csum_fold (uint64_t sum)
{
  sum = (sum & 0xffffffffull) + (sum >> 32);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t) sum;
}

/* Sum of the 16-bit words of an even-length memory area (not folded). */
static inline uint64_t
cn_csum_words (const void *p, uint32_t n_bytes)
{
  const uint8_t *b = (const uint8_t *) p;
  uint64_t sum = 0;
  uint32_t i;
  for (i = 0; i + 1 < n_bytes; i += 2)
    sum += cn_ld16 (b + i);
  if (n_bytes & 1)
    {
      /* A trailing odd byte is padded with a zero byte (RFC 1071). */
      uint8_t last[2] = { b[n_bytes - 1], 0 };
      sum += cn_ld16 (last);
    }
  return sum;
}

/* Delta for replacing n_bytes (even) of old words with new words. */
static inline uint16_t
cn_csum_delta (const void *old_words, const void *new_words, uint32_t n_bytes)
{
  const uint8_t *o = (const uint8_t *) old_words;
  const uint8_t *n = (const uint8_t *) new_words;
  uint64_t sum = 0;
  uint32_t i;
  for (i = 0; i + 1 < n_bytes; i += 2)
    sum += (uint16_t) ~cn_ld16 (o + i) + (uint64_t) cn_ld16 (n + i);
  return cn_csum_fold (sum);
}

/* Delta of one 16-bit word. */
static inline uint16_t
cn_csum_delta16 (uint16_t old_w, uint16_t new_w)
{
  return cn_csum_fold ((uint64_t) (uint16_t) ~old_w + new_w);
}

static inline uint16_t
cn_csum_add_delta (uint16_t d1, uint16_t d2)
{
  return cn_csum_fold ((uint64_t) d1 + d2);
}

/* Apply a delta to a (complemented) checksum field. */
static inline uint16_t
cn_csum_update (uint16_t csum, uint16_t delta)
{
  return (uint16_t) ~cn_csum_fold ((uint64_t) (uint16_t) ~csum + delta);
}

/* Same for UDP over IPv4 where 0 means "no checksum": keep 0, and never
   produce 0 (RFC 768: a computed 0 is sent as all ones). */
static inline uint16_t
cn_csum_update_udp (uint16_t csum, uint16_t delta, int is_ip6)
{
  uint16_t r;
  /* IPv4 UDP may carry no checksum (0): keep it absent. In IPv6 it is
     mandatory (RFC 8200 8.1). In both, a computed 0 is sent as 0xffff. */
  if (csum == 0 && !is_ip6)
    return 0;
  r = cn_csum_update (csum, delta);
  return r ? r : 0xffff;
}

/* Apply a delta to a checksum field that holds a partial (not complemented)
   pseudo-header sum, as with transmit checksum offload. */
static inline uint16_t
cn_csum_update_partial (uint16_t field, uint16_t delta)
{
  return cn_csum_fold ((uint64_t) field + delta);
}

/* Full checksum of an area (complemented, ready to store). */
static inline uint16_t
cn_csum_compute (const void *p, uint32_t n_bytes, uint64_t initial)
{
  return (uint16_t) ~cn_csum_fold (initial + cn_csum_words (p, n_bytes));
}

#endif /* CN_CSUM_H */
