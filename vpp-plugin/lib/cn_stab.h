/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cn_stab.h: the session table. A hash table from a flow key to a 32-bit
 * value (session index and direction) that costs one cache line per lookup.
 *
 * Why not clib_bihash: a bihash_16_8 bucket with its key/value pairs is 104
 * bytes and not line aligned, so a lookup touches 2-3 lines before the
 * session record, and every entry repeats the 16-byte (IPv4) or 40-byte
 * (IPv6) key that the session record holds anyway. Here:
 *
 *   - a bucket is exactly one 64-byte line: 10 slots of (16-bit tag, 32-bit
 *     value), a lock byte and the bucket's displacement;
 *   - the key is not stored: the caller checks a candidate value against
 *     the record it names (match callback), so an entry is 6 bytes and the
 *     line that is read next is the record the packet needs anyway;
 *   - a full bucket spills into the next ones (at most CN_STAB_MAX_DISP);
 *     max_disp in the home bucket says how far its entries went, so a
 *     lookup reads one line unless its bucket ever overflowed.
 *
 * Any number of readers run without locks alongside writers. A writer holds
 * the lock of the key's home bucket (which serializes every insert of that
 * key: the duplicate check is exact) and of the bucket it writes into,
 * taken in ascending order (the table has CN_STAB_MAX_DISP spare buckets at
 * its end, so it never wraps). A slot is published by writing its value,
 * then its tag; it is emptied by clearing its tag. A reader that races with
 * a slot being emptied and refilled reads a value whose record does not
 * match and reports a miss, as if it had looked a moment earlier or later;
 * records are never freed while a reader may hold their index (the caller's
 * job: cloudnat keeps freed records in limbo for a second).
 *
 * The table does not grow: it is sized at start (n_buckets x 10 slots,
 * 64 bytes a bucket). An insert that finds no free slot within reach
 * returns CN_STAB_FULL.
 */
#ifndef CN_STAB_H
#define CN_STAB_H

#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "cn_stab.h: the tag scan assumes a little-endian CPU (as VPP does)"
#endif

#define CN_STAB_SLOTS	 10
/* How far a full bucket may spill. Measured on 1M buckets (10M slots) of
   random keys: with 8, inserts start failing at 65% of the slots used;
   with 32, none fail up to 75% and 1 in 8M at 80%, while at the advised
   50% the farthest spill is 5 buckets. A miss in a spilled bucket reads up
   to max_disp + 1 lines, so this is a bound for tables sized too small,
   not an operating point. */
#ifndef CN_STAB_MAX_DISP
#define CN_STAB_MAX_DISP 32
#endif
#define CN_STAB_NONE	 0xffffffffu

/* cn_stab_add results */
#define CN_STAB_ADDED  0
#define CN_STAB_EXISTS (-1) /* the key is in the table already */
#define CN_STAB_FULL   (-2)

typedef struct
{
  uint16_t tag[CN_STAB_SLOTS]; /* 0: empty slot */
  volatile uint8_t lock;
  uint8_t max_disp; /* entries homed here live up to this many buckets on */
  uint16_t spare;
  uint32_t val[CN_STAB_SLOTS];
} __attribute__ ((aligned (64))) cn_stab_bucket_t;

_Static_assert (sizeof (cn_stab_bucket_t) == 64, "a bucket is one cache line");

typedef struct
{
  cn_stab_bucket_t *buckets; /* n_buckets + CN_STAB_MAX_DISP */
  uint32_t n_buckets;
  uint64_t seed;
} cn_stab_t;

/* does value v name a record whose key is the one looked for? */
typedef int (*cn_stab_match_fn) (const void *ctx, uint32_t v);

/* bytes to allocate (64-byte aligned, zeroed) for n buckets */
static inline uint64_t
cn_stab_bytes (uint32_t n_buckets)
{
  return ((uint64_t) n_buckets + CN_STAB_MAX_DISP) * sizeof (cn_stab_bucket_t);
}

static inline void
cn_stab_init (cn_stab_t *t, void *mem, uint32_t n_buckets, uint64_t seed)
{
  memset (mem, 0, cn_stab_bytes (n_buckets));
  t->buckets = (cn_stab_bucket_t *) mem;
  t->n_buckets = n_buckets;
  t->seed = seed;
}

/* ---- hashing ---- */

/* One 64-bit hash per key: the bucket comes from its high half (multiply
   and shift, so any bucket count works), the tag from its low 16 bits.

   With SSE4.2 (every x86 VPP supports) the high half is CRC32-C of the key
   words, as clib_bihash_16_8/40_8 hash, and the tag is a multiplicative
   hash of the words' xor. CRC has a 3-cycle latency per word; the
   portable mix below has 4-5 per word, and the lookup's prefetch waits for
   the hash: measured on the same build, CRC gave 43-44 clocks/packet
   instead of 45-48 at 1k flows and 81-90 instead of 100-110 at 1M (source
   NAT). Like bihash's, a CRC bucket can be aimed at by someone who controls
   many source addresses and ports (CRC is linear); the spill cap and the
   no_memory counter bound what that costs, and the seed only moves the
   buckets. Without SSE4.2 (and in the unit tests' plain build) each word is
   folded in with a 64x64->128-bit multiply whose halves are xored (as in
   wyhash): a bit of the input reaches every bit of the output in both
   directions, which matters because flow keys vary in a few bits only
   (the low byte of an address, a port), often at the top of their word. */
static inline uint64_t
cn_stab_mix (uint64_t a, uint64_t b)
{
  __uint128_t p = (__uint128_t) a * b;
  return (uint64_t) p ^ (uint64_t) (p >> 64);
}

#if defined(__SSE4_2__) && !defined(CN_STAB_PORTABLE_HASH)
#include <x86intrin.h>
static inline uint64_t
cn_stab_hash (uint64_t seed, const uint64_t *w, int n_words)
{
  uint64_t c = (uint32_t) seed, f = seed;
  int i;
  for (i = 0; i < n_words; i++)
    {
      c = _mm_crc32_u64 (c, w[i]);
      f ^= w[i];
    }
  return c << 32 | ((f * 0x9e3779b97f4a7c15ull) >> 48);
}
#else
static inline uint64_t
cn_stab_hash (uint64_t seed, const uint64_t *w, int n_words)
{
  uint64_t x = seed;
  int i;
  for (i = 0; i < n_words; i++)
    x = cn_stab_mix (x ^ w[i], 0x9e3779b97f4a7c15ull);
  return cn_stab_mix (x, 0xc4ceb9fe1a85ec53ull);
}
#endif

static inline uint32_t
cn_stab_home (const cn_stab_t *t, uint64_t h)
{
  return (uint32_t) (((h >> 32) * (uint64_t) t->n_buckets) >> 32);
}

static inline uint16_t
cn_stab_tag (uint64_t h)
{
  uint16_t tag = (uint16_t) h;
  return tag ? tag : 1;
}

static inline cn_stab_bucket_t *
cn_stab_bucket (const cn_stab_t *t, uint64_t h)
{
  return &t->buckets[cn_stab_home (t, h)];
}

/* ---- reading (any thread, no lock) ---- */

/* First slot of bucket b from `from` on whose tag is `tag`, or -1. The
   tags are read as plain loads (the compiler may compare several at once);
   the acquire fence then orders the value read after the tag read, the
   other half of the writer's value-then-tag publication. */
static inline __attribute__ ((__always_inline__)) int
cn_stab_scan (const cn_stab_bucket_t *b, uint16_t tag, int from)
{
  const volatile uint16_t *tags = b->tag;
  int i;
  for (i = from; i < CN_STAB_SLOTS; i++)
    if (tags[i] == tag)
      {
	__atomic_thread_fence (__ATOMIC_ACQUIRE);
	return i;
      }
  return -1;
}

/* Index of the first slot of bucket b whose tag is `tag`, or CN_STAB_SLOTS
   when none, without a branch. The fast path scans a bucket right after
   it arrives from memory; a loop that stops at the match ends at a
   different slot for every packet, and that mispredicted exit, taken only
   once the bucket's line is in, stops the core from running ahead to the
   next packets' loads. A standalone loop of the node's passes over a table
   of 16.7M flows (430 MB of buckets) took 69 clocks a lookup with the
   loop and 38 without it (28 and 13 at 1k flows); in the node, 16M flows
   went from 113-132 to 86-90 clocks/packet (docs/performance.md). SSE2 compares the ten tags in two
   loads; elsewhere a SWAR zero-lane test does, whose lowest hit is exact
   (false hits can only sit above a true one). */
static inline __attribute__ ((__always_inline__)) uint32_t
cn_stab_first_match (const cn_stab_bucket_t *b, uint16_t tag)
{
#if defined(__SSE2__) && !defined(CN_STAB_PORTABLE_SCAN)
  __m128i t = _mm_set1_epi16 ((short) tag);
  __m128i lo = _mm_load_si128 ((const __m128i *) b->tag);	 /* tags 0-7 */
  __m128i hi = _mm_loadl_epi64 ((const __m128i *) (b->tag + 8)); /* 8, 9, lock.. */
  uint32_t m = (uint32_t) _mm_movemask_epi8 (_mm_cmpeq_epi16 (lo, t)) |
	       ((uint32_t) _mm_movemask_epi8 (_mm_cmpeq_epi16 (hi, t)) & 0xf) << 16;
  return (uint32_t) __builtin_ctz (m | 1u << (2 * CN_STAB_SLOTS)) >> 1;
#else
  const uint64_t ones = 0x0001000100010001ull, highs = 0x8000800080008000ull;
  uint64_t w[3], tt = tag * ones, z;
  uint32_t m = 0;
  int i, l;
  /* little-endian: lane l of word i is tag 4i+l, so "lowest" is "first" */
  memcpy (w, b->tag, sizeof (w)); /* tags 0-9, lock, max_disp, spare */
  for (i = 0; i < 3; i++)
    {
      z = w[i] ^ tt;
      z = (z - ones) & ~z & highs;
      for (l = 0; l < 4; l++)
	m |= (uint32_t) (z >> (16 * l + 15) & 1) << (4 * i + l);
    }
  return (uint32_t) __builtin_ctz ((m & ((1u << CN_STAB_SLOTS) - 1)) | 1u << CN_STAB_SLOTS);
#endif
}

/* The fast path's first guess: the value of the first tag match in the
   home bucket (cn_stab_bucket of h, which the caller has prefetched;
   CN_STAB_NONE if none). The caller checks it against its
   record and falls back to cn_stab_find when it does not match or when
   there is none but the bucket has spilled (cn_stab_spilled). */
static inline __attribute__ ((__always_inline__)) uint32_t
cn_stab_guess (const cn_stab_bucket_t *home, uint64_t h)
{
  uint32_t i = cn_stab_first_match (home, cn_stab_tag (h)), v;
  /* the value is read after the tag (the writer's value-then-tag
     publication); both are selected, not branched on */
  __atomic_thread_fence (__ATOMIC_ACQUIRE);
  v = home->val[i < CN_STAB_SLOTS ? i : 0];
  return i < CN_STAB_SLOTS ? v : CN_STAB_NONE;
}

static inline int
cn_stab_spilled (const cn_stab_t *t, uint64_t h)
{
  return cn_stab_bucket (t, h)->max_disp != 0;
}

static inline __attribute__ ((__always_inline__)) uint32_t
cn_stab_find (const cn_stab_t *t, uint64_t h, cn_stab_match_fn match, const void *ctx)
{
  const cn_stab_bucket_t *home = cn_stab_bucket (t, h), *b;
  uint16_t tag = cn_stab_tag (h);
  int d, i;
  uint32_t v;

  for (d = 0; d <= home->max_disp; d++)
    {
      b = home + d;
      for (i = cn_stab_scan (b, tag, 0); i >= 0; i = cn_stab_scan (b, tag, i + 1))
	{
	  v = b->val[i];
	  if (match (ctx, v))
	    return v;
	}
    }
  return CN_STAB_NONE;
}

/* ---- writing (any thread) ---- */

static inline void
cn_stab_lock (cn_stab_bucket_t *b)
{
  while (__atomic_test_and_set (&b->lock, __ATOMIC_ACQUIRE))
    while (b->lock)
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause ();
#else
      __asm__ volatile ("" ::: "memory");
#endif
}

static inline void
cn_stab_unlock (cn_stab_bucket_t *b)
{
  __atomic_clear (&b->lock, __ATOMIC_RELEASE);
}

static inline int
cn_stab_free_slot (const cn_stab_bucket_t *b)
{
  return cn_stab_scan (b, 0, 0);
}

/* Insert v for the key hashed to h unless the key is there already
   (match finds it: CN_STAB_EXISTS, and *found is its value when found is
   given). The record v names must be complete before this is called. */
static inline __attribute__ ((__always_inline__)) int
cn_stab_add (cn_stab_t *t, uint64_t h, uint32_t v, cn_stab_match_fn match, const void *ctx,
	     uint32_t *found)
{
  cn_stab_bucket_t *home = cn_stab_bucket (t, h), *b;
  uint16_t tag = cn_stab_tag (h);
  uint32_t old;
  int d, i, rv = CN_STAB_FULL;

  cn_stab_lock (home);
  if ((old = cn_stab_find (t, h, match, ctx)) != CN_STAB_NONE)
    {
      if (found)
	*found = old;
      rv = CN_STAB_EXISTS;
      goto done;
    }
  for (d = 0; d <= CN_STAB_MAX_DISP; d++)
    {
      b = home + d;
      if (d)
	cn_stab_lock (b);
      i = cn_stab_free_slot (b);
      if (i >= 0)
	{
	  if (d > home->max_disp)
	    __atomic_store_n (&home->max_disp, (uint8_t) d, __ATOMIC_RELEASE);
	  b->val[i] = v;
	  __atomic_store_n (&b->tag[i], tag, __ATOMIC_RELEASE);
	  rv = CN_STAB_ADDED;
	}
      if (d)
	cn_stab_unlock (b);
      if (rv == CN_STAB_ADDED)
	break;
    }
done:
  cn_stab_unlock (home);
  return rv;
}

/* Remove the entry of value v for the key hashed to h; 0, or -1 when it is
   not there. max_disp is left as it is (it only bounds the search). */
static inline int
cn_stab_del (cn_stab_t *t, uint64_t h, uint32_t v)
{
  cn_stab_bucket_t *home = cn_stab_bucket (t, h), *b;
  uint16_t tag = cn_stab_tag (h);
  int d, i, rv = -1;

  cn_stab_lock (home);
  for (d = 0; d <= home->max_disp && rv; d++)
    {
      b = home + d;
      if (d)
	cn_stab_lock (b);
      for (i = cn_stab_scan (b, tag, 0); i >= 0; i = cn_stab_scan (b, tag, i + 1))
	if (b->val[i] == v)
	  {
	    __atomic_store_n (&b->tag[i], 0, __ATOMIC_RELEASE);
	    rv = 0;
	    break;
	  }
      if (d)
	cn_stab_unlock (b);
    }
  cn_stab_unlock (home);
  return rv;
}

/* ---- statistics (a walk; main thread) ---- */

typedef struct
{
  uint64_t n_entries;
  uint64_t n_spilled_buckets; /* buckets whose entries reach further */
  uint32_t max_disp;
  uint32_t fill_hist[CN_STAB_SLOTS + 1]; /* buckets by used slots */
} cn_stab_stats_t;

static inline void
cn_stab_stats (const cn_stab_t *t, cn_stab_stats_t *s)
{
  uint32_t bi;
  int i, n;

  memset (s, 0, sizeof (*s));
  for (bi = 0; bi < t->n_buckets + CN_STAB_MAX_DISP; bi++)
    {
      const cn_stab_bucket_t *b = &t->buckets[bi];
      for (n = 0, i = 0; i < CN_STAB_SLOTS; i++)
	n += b->tag[i] != 0;
      s->n_entries += n;
      s->fill_hist[n]++;
      if (b->max_disp)
	{
	  s->n_spilled_buckets++;
	  if (b->max_disp > s->max_disp)
	    s->max_disp = b->max_disp;
	}
    }
}

#endif /* CN_STAB_H */
