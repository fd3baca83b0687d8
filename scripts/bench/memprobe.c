/* SPDX-License-Identifier: Apache-2.0 */
/*
 * memprobe: what one random 64-byte read from a table of a given size costs
 * on this machine, as the TSC counts (the clocks of VPP's show runtime).
 * make bench runs it on a table the size of the 16M point's session buckets:
 * a packet of that point reads one such random line, so its clocks over the
 * 1k point cannot go below the "in flight" figure here.
 *
 *   memprobe <bytes> <hugepages 0|1>
 *
 * prints "latency <clocks> line <clocks> huge <0|1>":
 *   latency  one dependent read after another (a pointer chase), nothing
 *            overlapped: the latency of a miss;
 *   line     batches of 256 reads whose addresses are known up front, all
 *            prefetched before any is read (what the node does for a frame):
 *            the throughput bound set by how many misses a core keeps in
 *            flight.
 * With hugepages=1 it uses 2 MiB pages (as VPP's main heap in the bench) and
 * falls back to 4 KiB pages when none are free ("huge 0").
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <x86intrin.h>

#define BATCH 256

static uint64_t
rng (uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

int
main (int argc, char **argv)
{
  size_t bytes, n, i, j;
  int huge;
  uint64_t s = 88172645463325252ull, t0, t1, sum = 0, reads;
  uint32_t *next, idx[BATCH];
  char *p;

  if (argc != 3 || (bytes = strtoull (argv[1], 0, 0)) < (1 << 20))
    {
      fprintf (stderr, "usage: memprobe <bytes, at least 1 MiB> <hugepages 0|1>\n");
      return 2;
    }
  huge = atoi (argv[2]);
  bytes = (bytes + (2 << 20) - 1) & ~(size_t) ((2 << 20) - 1);
  p = huge ? mmap (0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
		   -1, 0) :
	     MAP_FAILED;
  if (p == MAP_FAILED)
    {
      huge = 0;
      p = mmap (0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED)
	{
	  perror ("memprobe: mmap");
	  return 1;
	}
      madvise (p, bytes, MADV_NOHUGEPAGE);
    }
  n = bytes / 64;

  /* one cycle through every line in random order (Sattolo) */
  next = malloc (n * sizeof (*next));
  if (!next)
    {
      perror ("memprobe: malloc");
      return 1;
    }
  for (i = 0; i < n; i++)
    next[i] = i;
  for (i = n - 1; i > 0; i--)
    {
      uint32_t t;
      j = rng (&s) % i;
      t = next[i];
      next[i] = next[j];
      next[j] = t;
    }
  for (i = 0; i < n; i++)
    *(uint64_t *) (p + (size_t) i * 64) = next[i];
  free (next);

  /* latency: a chase, each read's address is the previous read's value */
  reads = 1 << 20;
  j = 0;
  t0 = __rdtsc ();
  for (i = 0; i < reads; i++)
    j = *(volatile uint64_t *) (p + j * 64);
  t1 = __rdtsc ();
  sum += j;
  printf ("latency %.1f ", (double) (t1 - t0) / reads);

  /* throughput: a frame's worth of prefetches, then the reads */
  reads = 1 << 24;
  t0 = __rdtsc ();
  for (i = 0; i < reads; i += BATCH)
    {
      for (j = 0; j < BATCH; j++)
	{
	  idx[j] = rng (&s) % n;
	  _mm_prefetch (p + (size_t) idx[j] * 64, _MM_HINT_T0);
	}
      for (j = 0; j < BATCH; j++)
	sum += *(volatile uint64_t *) (p + (size_t) idx[j] * 64);
    }
  t1 = __rdtsc ();
  printf ("line %.1f huge %d\n", (double) (t1 - t0) / reads, huge);
  return sum == 42; /* keep the reads */
}
