/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_pkt.c: a deterministic fuzzer of lib/cn_pkt.h's parsers
 * (cn_pkt_parse, cn_pkt_parse_x for first fragments, cn_frag_parse).
 *
 *   cloudnat_pkt_fuzz [iterations] [seed]     (default 300000, 1)
 *
 * Every input is placed so that its last byte is the last byte of a page
 * whose next page is PROT_NONE: a read past the packet faults at once
 * (no sanitizer needed). After each parse the offsets and ports it
 * reports are checked against the input's length. Inputs are random but
 * shaped like packets most of the time: IPv4 with options and lying
 * lengths, IPv6 behind chains of extension headers and fragment headers,
 * TCP/UDP/ICMP headers cut anywhere, ICMP errors quoting (errors of)
 * packets.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "cn_pkt.h"

static uint64_t rs;

static uint32_t
rnd (void)
{
  /* xorshift64* */
  rs ^= rs >> 12;
  rs ^= rs << 25;
  rs ^= rs >> 27;
  return (uint32_t) ((rs * 0x2545F4914F6CDD1DULL) >> 32);
}

static uint32_t
pick (uint32_t n)
{
  return n ? rnd () % n : 0;
}

/* L4 header (and a quoted packet for ICMP errors) at p; returns bytes. */
static uint32_t gen_ip (uint8_t *p, uint32_t room, int is_ip6, int depth);

static uint32_t
gen_l4 (uint8_t *p, uint32_t room, int is_ip6, uint8_t proto, int depth)
{
  uint32_t n = 0, i;
  if (room < 64)
    return 0;
  switch (proto)
    {
    case CN_IPPROTO_TCP:
      n = 20 + 4 * pick (3);
      break;
    case CN_IPPROTO_UDP:
      n = 8 + pick (16);
      break;
    case CN_IPPROTO_ICMP:
    case CN_IPPROTO_ICMP6:
      n = 8;
      break;
    default:
      n = pick (32);
    }
  for (i = 0; i < n; i++)
    p[i] = (uint8_t) rnd ();
  if (proto == CN_IPPROTO_ICMP || proto == CN_IPPROTO_ICMP6)
    {
      static const uint8_t t4[] = { 0, 8, 3, 11, 12, 5, 13 }, t6[] = { 128, 129, 1, 2, 3, 4, 135 };
      p[0] = is_ip6 ? t6[pick (7)] : t4[pick (7)];
      if (cn_icmp_is_error (is_ip6, p[0]) && depth < 3)
	n += gen_ip (p + 8, room - 8, is_ip6, depth + 1);
    }
  return n;
}

static uint8_t
rnd_proto (int is_ip6)
{
  static const uint8_t c[] = { 6, 17, 1, 58, 0, 43, 60, 44, 47, 50 };
  if (pick (8) == 0)
    return (uint8_t) rnd ();
  (void) is_ip6;
  return c[pick (10)];
}

static uint32_t
gen_ip (uint8_t *p, uint32_t room, int is_ip6, int depth)
{
  uint32_t n, i;
  if (room < 200)
    return 0;
  if (!is_ip6)
    {
      uint32_t ihl = pick (6) == 0 ? pick (16) : 5 + (pick (4) == 0 ? pick (11) : 0);
      p[0] = (uint8_t) ((pick (20) ? 4 : pick (16)) << 4 | ihl);
      for (i = 1; i < 20; i++)
	p[i] = (uint8_t) rnd ();
      p[6] = pick (3) ? 0 : (uint8_t) rnd ();
      p[7] = pick (3) ? 0 : (uint8_t) rnd ();
      p[9] = rnd_proto (0);
      n = ihl < 5 ? 20 : ihl * 4;
      for (i = 20; i < n; i++)
	p[i] = pick (2) ? 1 : (uint8_t) rnd ();
      n += gen_l4 (p + n, room - n, 0, p[9], depth);
    }
  else
    {
      uint8_t *nhp = p + 6;
      int k = pick (4) ? 0 : (int) pick (10);
      p[0] = (uint8_t) ((pick (20) ? 6 : pick (16)) << 4);
      for (i = 1; i < 40; i++)
	p[i] = (uint8_t) rnd ();
      n = 40;
      while (k-- > 0 && n + 80 < room)
	{
	  static const uint8_t ext[] = { 0, 43, 60, 44 };
	  uint8_t t = ext[pick (4)];
	  uint32_t len = t == 44 ? 8 : 8 * (1 + pick (4));
	  *nhp = t;
	  for (i = 0; i < len; i++)
	    p[n + i] = (uint8_t) rnd ();
	  if (t != 44)
	    p[n + 1] = (uint8_t) (pick (8) ? len / 8 - 1 : rnd ());
	  else if (pick (2))
	    p[n + 2] = p[n + 3] = 0;
	  nhp = p + n;
	  n += len;
	}
      *nhp = rnd_proto (1);
      n += gen_l4 (p + n, room - n, 1, *nhp, depth);
    }
  /* lying total length / payload length half of the time */
  if (pick (2))
    {
      if (!is_ip6)
	p[2] = (uint8_t) (n >> 8), p[3] = (uint8_t) n;
      else
	p[4] = (uint8_t) ((n - 40) >> 8), p[5] = (uint8_t) (n - 40);
    }
  return n;
}

static int n_fail;

#define CHECK(c, ...)                                                                              \
  do                                                                                               \
    {                                                                                              \
      if (!(c))                                                                                    \
	{                                                                                          \
	  if (n_fail++ < 10)                                                                       \
	    {                                                                                      \
	      fprintf (stderr, "iteration %lu: %s: ", it, #c);                                     \
	      fprintf (stderr, __VA_ARGS__);                                                       \
	      fprintf (stderr, "\n");                                                              \
	    }                                                                                      \
	}                                                                                          \
    }                                                                                              \
  while (0)

int
main (int argc, char **argv)
{
  unsigned long iters = argc > 1 ? strtoul (argv[1], 0, 10) : 300000, it;
  unsigned long seed = argc > 2 ? strtoul (argv[2], 0, 10) : 1;
  long pg = sysconf (_SC_PAGESIZE);
  uint8_t *map, *end, gen[4096];
  unsigned long kinds[16] = { 0 };

  map = mmap (0, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED || mprotect (map + 3 * pg, pg, PROT_NONE))
    {
      perror ("mmap");
      return 2;
    }
  end = map + 3 * pg; /* first byte that faults */
  rs = seed * 0x9E3779B97F4A7C15ULL + 1;

  for (it = 0; it < iters; it++)
    {
      int is_ip6 = (int) pick (2);
      uint32_t n = gen_ip (gen, sizeof (gen), is_ip6, 0), len;
      cn_pkt_info_t pi;
      cn_frag_info_t fi;
      const uint8_t *ip;
      int k;

      if (pick (10) == 0)
	for (len = 0; len < n; len++)
	  gen[pick (n)] ^= (uint8_t) rnd (); /* flip bytes anywhere */
      len = pick (3) ? n : pick (n + 1); /* cut anywhere */
      if (len > (uint32_t) (3 * pg))
	len = (uint32_t) (3 * pg);
      ip = end - len;
      memcpy ((uint8_t *) ip, gen, len);

      for (int first_ok = 0; first_ok < 2; first_ok++)
	{
	  memset (&pi, 0xa5, sizeof (pi));
	  k = cn_pkt_parse_x (ip, len, is_ip6, &pi, first_ok);
	  kinds[k & 15]++;
	  CHECK (k == pi.kind && k <= CN_PKT_TRUNCATED, "kind %d", k);
	  switch (k)
	    {
	    case CN_PKT_L4:
	      CHECK (pi.l4_offset + (pi.proto == CN_IPPROTO_TCP ? 20u : 8u) <= len,
		     "L4 %u at %u of %u", pi.proto, pi.l4_offset, len);
	      break;
	    case CN_PKT_ECHO_REQUEST:
	    case CN_PKT_ECHO_REPLY:
	      CHECK (pi.l4_offset + 8u <= len, "echo at %u of %u", pi.l4_offset, len);
	      break;
	    case CN_PKT_ICMP_ERROR:
	      CHECK (pi.l4_offset + 8u <= len && pi.inner_offset == pi.l4_offset + 8u &&
		       pi.inner_offset < len && pi.inner_l4_offset + 4u <= len &&
		       pi.inner_l4_offset > pi.inner_offset,
		     "error at %u, inner %u, inner L4 %u of %u", pi.l4_offset, pi.inner_offset,
		     pi.inner_l4_offset, len);
	      break;
	    case CN_PKT_FRAGMENT:
	      if (cn_frag_parse (ip, len, is_ip6, &fi) == 0)
		CHECK (fi.offset % 8 == 0, "fragment offset %u", fi.offset);
	      break;
	    default:
	      break;
	    }
	}
    }
  munmap (map, 4 * pg);
  printf ("cn_pkt fuzz: %lu inputs (seed %lu), no read past a packet; kinds: other %lu, l4 %lu, "
	  "echo %lu/%lu, icmp-error %lu, icmp-other %lu, fragment %lu, truncated %lu; %d check "
	  "failures\n",
	  iters, seed, kinds[CN_PKT_OTHER], kinds[CN_PKT_L4], kinds[CN_PKT_ECHO_REQUEST],
	  kinds[CN_PKT_ECHO_REPLY], kinds[CN_PKT_ICMP_ERROR], kinds[CN_PKT_ICMP_OTHER],
	  kinds[CN_PKT_FRAGMENT], kinds[CN_PKT_TRUNCATED], n_fail);
  return n_fail ? 1 : 0;
}
