/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cn_port.h: choosing the source port (or echo id) of a source-NAT flow.
 *
 * The original port is kept when it is free. Otherwise ports of the same
 * parity are tried first (RTP/RTCP-style pairs keep their parity), starting
 * at a flow-dependent place, then any port. Freedom is endpoint dependent:
 * the caller's is_free() checks whether the reply tuple (remote address,
 * remote port -> NAT address, candidate) is taken, so the same NAT port can
 * serve different destinations.
 *
 * Reallocated ports come from [lo, hi] (1024..65535 for TCP/UDP,
 * 1..65535 for echo ids). Returns 0 when no free port was found within
 * the bounded search (exhaustion, or a space used to more than ~99%).
 * Ports are in host order here.
 */
#ifndef CN_PORT_H
#define CN_PORT_H

#include <stdint.h>

typedef int (*cn_port_is_free_fn) (uint16_t port, void *ctx);

/* The search is bounded so that a packet of a flow that finds the space
   (nearly) exhausted costs a few hundred lookups, not 64K: a worker must
   never stall for long (it would miss the barrier). Random probes find a
   free port fast while the space is below ~99% use; the final window
   sweep catches dense tails. */
#define CN_PORT_RANDOM_TRIES 32
#define CN_PORT_SWEEP	     512

static inline uint16_t
cn_port_choose (uint16_t orig, uint16_t lo, uint16_t hi, uint32_t seed, cn_port_is_free_fn is_free,
		void *ctx)
{
  uint32_t n = (uint32_t) hi - lo + 1, i, start, w;
  uint16_t p;
  int pass;

  if (orig != 0 && is_free (orig, ctx))
    return orig;
  if (hi < lo)
    return 0;

  /* pseudo-random probes of the same parity */
  for (i = 0; i < CN_PORT_RANDOM_TRIES; i++)
    {
      seed = seed * 1103515245u + 12345u;
      p = (uint16_t) (lo + ((seed >> 8) % n));
      if ((p & 1) != (orig & 1))
	p = (p < hi) ? (uint16_t) (p + 1) : (uint16_t) (p - 1);
      if (p != orig && is_free (p, ctx))
	return p;
    }

  /* then a window after a random start: same parity first, then the
     other one */
  w = n < CN_PORT_SWEEP ? n : CN_PORT_SWEEP;
  start = (seed >> 8) % n;
  for (pass = 0; pass < 2; pass++)
    for (i = 0; i < w; i++)
      {
	p = (uint16_t) (lo + (start + i) % n);
	if (((p & 1) == (orig & 1)) != (pass == 0))
	  continue;
	if (p != orig && is_free (p, ctx))
	  return p;
      }
  return 0;
}

#endif /* CN_PORT_H */
