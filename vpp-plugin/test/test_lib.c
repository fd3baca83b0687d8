/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of vpp-plugin/lib (no VPP needed). One runner; prints
 * "N passed, N failed" and exits non-zero on failure.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <pthread.h>

#include "cn_csum.h"
#include "cn_pkt.h"
#include "cn_rewrite.h"
#include "cn_lb.h"
#include "cn_port.h"
#include "cn_tcp.h"
#include "cn_timer.h"
#include "cn_stab.h"

static int n_pass, n_fail;

#define CHECK(c)                                                                                   \
  do                                                                                               \
    {                                                                                              \
      if (c)                                                                                       \
	n_pass++;                                                                                  \
      else                                                                                         \
	{                                                                                          \
	  n_fail++;                                                                                \
	  fprintf (stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__, #c);                           \
	}                                                                                          \
    }                                                                                              \
  while (0)

/* ---- packet builders: compute every checksum from scratch ---- */

static uint32_t
ip4 (const char *s)
{
  struct in_addr a;
  inet_pton (AF_INET, s, &a);
  return a.s_addr;
}

static void
ip6 (const char *s, uint8_t *out)
{
  inet_pton (AF_INET6, s, out);
}

static uint64_t
pseudo4 (const uint8_t *ip, uint8_t proto, uint16_t l4len)
{
  uint8_t ph[12];
  memcpy (ph, ip + 12, 8);
  ph[8] = 0;
  ph[9] = proto;
  ph[10] = l4len >> 8;
  ph[11] = l4len & 0xff;
  return cn_csum_words (ph, 12);
}

static uint64_t
pseudo6 (const uint8_t *ip, uint8_t proto, uint32_t l4len)
{
  uint8_t ph[40];
  memcpy (ph, ip + 8, 32);
  ph[32] = l4len >> 24;
  ph[33] = (l4len >> 16) & 0xff;
  ph[34] = (l4len >> 8) & 0xff;
  ph[35] = l4len & 0xff;
  ph[36] = ph[37] = ph[38] = 0;
  ph[39] = proto;
  return cn_csum_words (ph, 40);
}

/* Verify every checksum of an IPv4 packet of len bytes (full l4). */
static int
ip4_csums_ok (const uint8_t *ip, uint32_t len)
{
  uint32_t ihl = (ip[0] & 0xf) * 4;
  const uint8_t *l4 = ip + ihl;
  uint32_t l4len = len - ihl;
  if (cn_csum_fold (cn_csum_words (ip, ihl)) != 0xffff)
    return 0;
  switch (ip[9])
    {
    case CN_IPPROTO_TCP:
      return cn_csum_fold (pseudo4 (ip, 6, l4len) + cn_csum_words (l4, l4len)) == 0xffff;
    case CN_IPPROTO_UDP:
      if (cn_ld16 (l4 + 6) == 0)
	return 1;
      return cn_csum_fold (pseudo4 (ip, 17, l4len) + cn_csum_words (l4, l4len)) == 0xffff;
    case CN_IPPROTO_ICMP:
      return cn_csum_fold (cn_csum_words (l4, l4len)) == 0xffff;
    }
  return 1;
}

static int
ip6_csums_ok (const uint8_t *ip, uint32_t len)
{
  const uint8_t *l4 = ip + 40;
  uint32_t l4len = len - 40;
  return cn_csum_fold (pseudo6 (ip, ip[6], l4len) + cn_csum_words (l4, l4len)) == 0xffff;
}

static void
fix4 (uint8_t *ip, uint32_t len)
{
  uint32_t ihl = (ip[0] & 0xf) * 4;
  uint8_t *l4 = ip + ihl;
  uint32_t l4len = len - ihl;
  cn_st16 (ip + 10, 0);
  cn_st16 (ip + 10, cn_csum_compute (ip, ihl, 0));
  switch (ip[9])
    {
    case CN_IPPROTO_TCP:
      cn_st16 (l4 + 16, 0);
      cn_st16 (l4 + 16, cn_csum_compute (l4, l4len, pseudo4 (ip, 6, l4len)));
      break;
    case CN_IPPROTO_UDP:
      cn_st16 (l4 + 6, 0);
      cn_st16 (l4 + 6, cn_csum_compute (l4, l4len, pseudo4 (ip, 17, l4len)));
      break;
    case CN_IPPROTO_ICMP:
      cn_st16 (l4 + 2, 0);
      cn_st16 (l4 + 2, cn_csum_compute (l4, l4len, 0));
      break;
    }
}

static void
fix6 (uint8_t *ip, uint32_t len)
{
  uint8_t *l4 = ip + 40;
  uint32_t l4len = len - 40;
  int off = ip[6] == CN_IPPROTO_TCP ? 16 : ip[6] == CN_IPPROTO_UDP ? 6 : 2;
  cn_st16 (l4 + off, 0);
  cn_st16 (l4 + off, cn_csum_compute (l4, l4len, pseudo6 (ip, ip[6], l4len)));
}

static uint32_t
mk4 (uint8_t *b, uint8_t proto, const char *s, const char *d, uint16_t sp, uint16_t dp,
     uint32_t payload)
{
  uint32_t l4len = proto == CN_IPPROTO_TCP ? 20 : 8;
  uint32_t len = 20 + l4len + payload, i;
  memset (b, 0, len);
  b[0] = 0x45;
  b[2] = len >> 8;
  b[3] = len & 0xff;
  b[8] = 64;
  b[9] = proto;
  cn_st32 (b + 12, ip4 (s));
  cn_st32 (b + 16, ip4 (d));
  for (i = 0; i < payload; i++)
    b[20 + l4len + i] = (uint8_t) (i * 7 + 3);
  if (proto == CN_IPPROTO_ICMP)
    {
      b[20] = 8; /* echo request, id = sp */
      cn_st16 (b + 24, htons (sp));
      cn_st16 (b + 26, htons (1));
    }
  else
    {
      cn_st16 (b + 20, htons (sp));
      cn_st16 (b + 22, htons (dp));
      if (proto == CN_IPPROTO_TCP)
	{
	  b[32] = 5 << 4;
	  b[33] = CN_TCP_F_SYN;
	}
      else
	cn_st16 (b + 24, htons (l4len + payload));
    }
  fix4 (b, len);
  return len;
}

static uint32_t
mk6 (uint8_t *b, uint8_t proto, const char *s, const char *d, uint16_t sp, uint16_t dp,
     uint32_t payload)
{
  uint32_t l4len = proto == CN_IPPROTO_TCP ? 20 : 8;
  uint32_t len = 40 + l4len + payload, i;
  memset (b, 0, len);
  b[0] = 0x60;
  b[4] = (len - 40) >> 8;
  b[5] = (len - 40) & 0xff;
  b[6] = proto;
  b[7] = 64;
  ip6 (s, b + 8);
  ip6 (d, b + 24);
  for (i = 0; i < payload; i++)
    b[40 + l4len + i] = (uint8_t) (i * 5 + 1);
  if (proto == CN_IPPROTO_ICMP6)
    {
      b[40] = 128;
      cn_st16 (b + 44, htons (sp));
    }
  else
    {
      cn_st16 (b + 40, htons (sp));
      cn_st16 (b + 42, htons (dp));
      if (proto == CN_IPPROTO_TCP)
	{
	  b[52] = 5 << 4;
	  b[53] = CN_TCP_F_SYN | CN_TCP_F_ACK;
	}
      else
	cn_st16 (b + 44, htons (l4len + payload));
    }
  fix6 (b, len);
  return len;
}

/* ICMPv4 error from router r to the source of the quoted packet q. */
static uint32_t
mk4_err (uint8_t *b, const char *r, uint8_t type, const uint8_t *q, uint32_t qlen)
{
  uint32_t len = 20 + 8 + qlen;
  memset (b, 0, 28);
  b[0] = 0x45;
  b[2] = len >> 8;
  b[3] = len & 0xff;
  b[8] = 64;
  b[9] = CN_IPPROTO_ICMP;
  cn_st32 (b + 12, ip4 (r));
  memcpy (b + 16, q + 12, 4);
  b[20] = type;
  memcpy (b + 28, q, qlen);
  fix4 (b, len);
  return len;
}

static uint32_t
mk6_err (uint8_t *b, const char *r, uint8_t type, const uint8_t *q, uint32_t qlen)
{
  uint32_t len = 40 + 8 + qlen;
  memset (b, 0, 48);
  b[0] = 0x60;
  b[4] = (len - 40) >> 8;
  b[5] = (len - 40) & 0xff;
  b[6] = CN_IPPROTO_ICMP6;
  b[7] = 64;
  ip6 (r, b + 8);
  memcpy (b + 24, q + 8, 16);
  b[40] = type;
  memcpy (b + 48, q, qlen);
  fix6 (b, len);
  return len;
}

/* ---- tests ---- */

static void
test_csum (void)
{
  uint8_t buf[64];
  uint16_t old, neww, d;
  /* RFC 1071 example words: 0001 f203 f4f5 f6f7 -> sum ddf2, csum 220d */
  uint8_t ex[8] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
  CHECK (ntohs (cn_csum_fold (cn_csum_words (ex, 8))) == 0xddf2);
  CHECK (ntohs (cn_csum_compute (ex, 8, 0)) == 0x220d);
  /* odd length pads with zero */
  CHECK (
    cn_csum_fold (cn_csum_words (ex, 7)) ==
    cn_csum_fold (cn_csum_words ((uint8_t[8]){ 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0 }, 8)));
  /* incremental update equals a recompute */
  memset (buf, 0, sizeof (buf));
  for (int i = 0; i < 40; i++)
    buf[i] = (uint8_t) (i * 37 + 11);
  cn_st16 (buf + 10, 0);
  cn_st16 (buf + 10, cn_csum_compute (buf, 40, 0));
  old = cn_ld16 (buf + 20);
  neww = 0xbeef;
  d = cn_csum_delta16 (old, neww);
  cn_st16 (buf + 20, neww);
  cn_st16 (buf + 10, cn_csum_update (cn_ld16 (buf + 10), d));
  CHECK (cn_csum_fold (cn_csum_words (buf, 40)) == 0xffff);
  /* IPv4 UDP without checksum (0) stays without; IPv6 has no such case */
  CHECK (cn_csum_update_udp (0, 0x1234, 0) == 0);
  CHECK (cn_csum_update_udp (0x1234, 0, 0) == 0x1234);
  CHECK (cn_csum_update_udp (0x1234, 0, 1) == 0x1234);
  /* an update whose result is 0 is sent as 0xffff, in both families */
  {
    uint16_t c = 0x1234, zd = 0;
    for (uint32_t dd = 0; dd <= 0xffff; dd++)
      if (cn_csum_update (c, (uint16_t) dd) == 0)
	{
	  zd = (uint16_t) dd;
	  break;
	}
    CHECK (cn_csum_update (c, zd) == 0);
    CHECK (cn_csum_update_udp (c, zd, 0) == 0xffff);
    CHECK (cn_csum_update_udp (c, zd, 1) == 0xffff);
  }
  /* partial update = pseudo sum moved by the delta */
  CHECK (cn_csum_update_partial (0x1000, 0x0234) == 0x1234);
}

static void
test_parse (void)
{
  uint8_t b[256], e[512];
  cn_pkt_info_t pi;
  uint32_t len, elen;

  len = mk4 (b, CN_IPPROTO_TCP, "10.0.0.1", "30.0.0.2", 1234, 80, 10);
  CHECK (cn_pkt_parse (b, len, 0, &pi) == CN_PKT_L4);
  CHECK (pi.proto == 6 && ntohs (pi.sport) == 1234 && ntohs (pi.dport) == 80);
  CHECK (pi.l4_offset == 20 && pi.tcp_flags == CN_TCP_F_SYN);
  CHECK (cn_pkt_parse (b, 30, 0, &pi) == CN_PKT_TRUNCATED);
  CHECK (cn_pkt_parse (b, 10, 0, &pi) == CN_PKT_TRUNCATED);

  len = mk4 (b, CN_IPPROTO_UDP, "10.0.0.1", "30.0.0.2", 53, 5353, 0);
  CHECK (cn_pkt_parse (b, len, 0, &pi) == CN_PKT_L4);
  CHECK (ntohs (pi.sport) == 53 && ntohs (pi.dport) == 5353);

  len = mk4 (b, CN_IPPROTO_ICMP, "10.0.0.1", "30.0.0.2", 77, 0, 4);
  CHECK (cn_pkt_parse (b, len, 0, &pi) == CN_PKT_ECHO_REQUEST);
  CHECK (ntohs (pi.sport) == 77 && ntohs (pi.dport) == 77);
  b[20] = 0;
  CHECK (cn_pkt_parse (b, len, 0, &pi) == CN_PKT_ECHO_REPLY);
  b[20] = 5; /* redirect: not handled */
  CHECK (cn_pkt_parse (b, len, 0, &pi) == CN_PKT_ICMP_OTHER);

  /* fragments */
  len = mk4 (b, CN_IPPROTO_UDP, "10.0.0.1", "30.0.0.2", 53, 5353, 0);
  b[6] = 0x20; /* MF, offset 0 */
  CHECK (cn_pkt_parse (b, len, 0, &pi) == CN_PKT_FRAGMENT);
  b[6] = 0x00;
  b[7] = 0x10; /* offset 16 */
  CHECK (cn_pkt_parse (b, len, 0, &pi) == CN_PKT_FRAGMENT);
  b[7] = 0;
  b[6] = 0x40; /* DF is fine */
  CHECK (cn_pkt_parse (b, len, 0, &pi) == CN_PKT_L4);

  /* ICMPv4 errors, full and truncated quotes */
  len = mk4 (b, CN_IPPROTO_TCP, "20.0.0.1", "8.8.8.8", 40000, 443, 0);
  elen = mk4_err (e, "1.1.1.1", 11, b, len);
  CHECK (cn_pkt_parse (e, elen, 0, &pi) == CN_PKT_ICMP_ERROR);
  CHECK (pi.inner_proto == 6 && pi.inner_offset == 28 && pi.inner_l4_offset == 48);
  CHECK (ntohs (pi.inner_sport) == 40000 && ntohs (pi.inner_dport) == 443);
  CHECK (pi.inner_has_l4csum == 1);
  elen = mk4_err (e, "1.1.1.1", 3, b, 28); /* ip + 8 bytes */
  CHECK (cn_pkt_parse (e, elen, 0, &pi) == CN_PKT_ICMP_ERROR);
  CHECK (pi.inner_has_l4csum == 0);
  elen = mk4_err (e, "1.1.1.1", 3, b, 22); /* not even the ports */
  CHECK (cn_pkt_parse (e, elen, 0, &pi) == CN_PKT_ICMP_OTHER);
  len = mk4 (b, CN_IPPROTO_ICMP, "20.0.0.1", "8.8.8.8", 99, 0, 0);
  elen = mk4_err (e, "1.1.1.1", 12, b, len);
  CHECK (cn_pkt_parse (e, elen, 0, &pi) == CN_PKT_ICMP_ERROR);
  CHECK (pi.inner_proto == 1 && ntohs (pi.inner_sport) == 99);

  /* IPv6 */
  len = mk6 (b, CN_IPPROTO_UDP, "2001::1", "30::1", 1000, 2000, 3);
  CHECK (cn_pkt_parse (b, len, 1, &pi) == CN_PKT_L4);
  CHECK (pi.l4_offset == 40 && ntohs (pi.dport) == 2000);
  len = mk6 (b, CN_IPPROTO_ICMP6, "2001::1", "30::1", 4321, 0, 8);
  CHECK (cn_pkt_parse (b, len, 1, &pi) == CN_PKT_ECHO_REQUEST);
  CHECK (ntohs (pi.sport) == 4321);
  CHECK (cn_pkt_parse (b, len, 0, &pi) == CN_PKT_TRUNCATED); /* wrong af */
  elen = mk6_err (e, "2002::9", 2, b, len);		     /* packet too big */
  CHECK (cn_pkt_parse (e, elen, 1, &pi) == CN_PKT_ICMP_ERROR);
  CHECK (pi.inner_proto == CN_IPPROTO_ICMP6 && pi.inner_offset == 48);
  elen = mk6_err (e, "2002::9", 1, b, len);
  CHECK (cn_pkt_parse (e, elen, 1, &pi) == CN_PKT_ICMP_ERROR);
  elen = mk6_err (e, "2002::9", 4, b, len);
  CHECK (cn_pkt_parse (e, elen, 1, &pi) == CN_PKT_ICMP_ERROR);
  elen = mk6_err (e, "2002::9", 3, b, len);
  CHECK (cn_pkt_parse (e, elen, 1, &pi) == CN_PKT_ICMP_ERROR);
  elen = mk6_err (e, "2002::9", 135, b, len); /* ND: not an error */
  CHECK (cn_pkt_parse (e, elen, 1, &pi) == CN_PKT_ICMP_OTHER);

  /* v6 extension header (destination options, 8 bytes) before UDP */
  len = mk6 (b, CN_IPPROTO_UDP, "2001::1", "30::1", 1000, 2000, 0);
  memmove (b + 48, b + 40, len - 40);
  memset (b + 40, 0, 8);
  b[40] = CN_IPPROTO_UDP;
  b[6] = 60;
  CHECK (cn_pkt_parse (b, len + 8, 1, &pi) == CN_PKT_L4);
  CHECK (pi.l4_offset == 48 && ntohs (pi.sport) == 1000);
  b[6] = 44; /* a fragment header instead, offset 8 */
  b[40] = CN_IPPROTO_UDP;
  b[42] = 0;
  b[43] = 8;
  CHECK (cn_pkt_parse (b, len + 8, 1, &pi) == CN_PKT_FRAGMENT);
}

/* Fragments: the fields the tracker keys on, and a first fragment parsed
   as a whole packet; a later fragment rewritten in its IP header only. */
static void
test_fragments (void)
{
  uint8_t b[256], o[256];
  cn_pkt_info_t pi;
  cn_frag_info_t fi;
  cn_rw4_t rw;
  uint32_t len;

  len = mk4 (b, CN_IPPROTO_UDP, "10.0.0.1", "30.0.0.2", 53, 5353, 0);
  b[4] = 0x12, b[5] = 0x34; /* id */
  b[6] = 0x20;		    /* MF, offset 0: a first fragment */
  CHECK (cn_pkt_parse (b, len, 0, &pi) == CN_PKT_FRAGMENT);
  CHECK (cn_frag_parse (b, len, 0, &fi) == 0);
  CHECK (ntohs ((uint16_t) fi.id) == 0x1234 && fi.offset == 0 && fi.more && fi.proto == 17);
  CHECK (cn_pkt_parse_x (b, len, 0, &pi, 1) == CN_PKT_L4);
  CHECK (pi.frag == CN_FRAG_FIRST && ntohs (pi.sport) == 53 && ntohs (pi.dport) == 5353);
  CHECK (cn_pkt_parse_x (b, 24, 0, &pi, 1) == CN_PKT_TRUNCATED); /* tiny */
  b[6] = 0x00, b[7] = 0xb9;					 /* last, offset 1480 */
  CHECK (cn_frag_parse (b, len, 0, &fi) == 0);
  CHECK (fi.offset == 1480 && !fi.more);
  CHECK (cn_pkt_parse_x (b, len, 0, &pi, 1) == CN_PKT_FRAGMENT); /* never first */
  CHECK (cn_frag_parse (b, 19, 0, &fi) == -1);

  /* a later fragment: only the IP header changes, checksum stays right */
  cn_pkt_info_later_fragment (&pi, 0, CN_PKT_L4, CN_IPPROTO_UDP, htons (53), htons (5353));
  CHECK (pi.frag == CN_FRAG_LATER && pi.kind == CN_PKT_L4);
  b[10] = b[11] = 0;
  cn_st16 (b + 10, cn_csum_compute (b, 20, 0));
  memcpy (o, b, len);
  cn_rw4_init (&rw, CN_IPPROTO_UDP, cn_ld32 (b + 12), cn_ld32 (b + 16), htons (53), htons (5353),
	       cn_ld32 (b + 12) ^ htonl (0x01010101), cn_ld32 (b + 16), htons (4000), htons (5353));
  cn_rw4_apply_l3 (b, &rw);
  CHECK (cn_ld32 (b + 12) == (cn_ld32 (o + 12) ^ htonl (0x01010101)));
  CHECK (cn_csum_fold (cn_csum_words (b, 20)) == 0xffff);
  CHECK (memcmp (b + 20, o + 20, len - 20) == 0); /* payload untouched */

  /* IPv6: a fragment header after a destination options header */
  len = mk6 (b, CN_IPPROTO_UDP, "2001::1", "30::1", 1000, 2000, 0);
  memmove (b + 56, b + 40, len - 40);
  memset (b + 40, 0, 16);
  b[6] = 60;		     /* dest options */
  b[40] = 44;		     /* -> fragment header */
  b[48] = CN_IPPROTO_UDP;    /* fragment header's next header */
  b[50] = 0, b[51] = 1;	     /* offset 0, M */
  b[52] = 0xde, b[55] = 0xad; /* id */
  CHECK (cn_pkt_parse (b, len + 16, 1, &pi) == CN_PKT_FRAGMENT);
  CHECK (cn_frag_parse (b, len + 16, 1, &fi) == 0);
  CHECK (fi.offset == 0 && fi.more && fi.proto == CN_IPPROTO_UDP);
  CHECK (cn_pkt_parse_x (b, len + 16, 1, &pi, 1) == CN_PKT_L4);
  CHECK (pi.l4_offset == 56 && ntohs (pi.sport) == 1000);
  b[50] = 0x05, b[51] = 0xc8; /* offset 1480, last */
  CHECK (cn_frag_parse (b, len + 16, 1, &fi) == 0);
  CHECK (fi.offset == 1480 && !fi.more);
  CHECK (cn_frag_parse (b, 50, 1, &fi) == -1);
}

static void
test_rewrite4 (void)
{
  static const uint8_t protos[] = { CN_IPPROTO_TCP, CN_IPPROTO_UDP, CN_IPPROTO_ICMP };
  uint8_t b[256], e[512];
  cn_pkt_info_t pi;
  cn_rw4_t fwd, rev;
  uint32_t len, elen;
  int i, partial_ok;

  for (i = 0; i < 3; i++)
    {
      uint8_t p = protos[i];
      uint16_t sp = htons (40000), dp = htons (80), nsp = htons (1025), ndp = htons (8080);
      if (p == CN_IPPROTO_ICMP)
	dp = sp, ndp = nsp;
      /* forward: 10.0.0.1:40000 -> 30.0.0.2:80 becomes
	 1.2.3.4:1025 -> 20.0.0.1:8080 */
      cn_rw4_init (&fwd, p, ip4 ("10.0.0.1"), ip4 ("30.0.0.2"), sp, dp, ip4 ("1.2.3.4"),
		   ip4 ("20.0.0.1"), nsp, ndp);
      /* reply: 20.0.0.1:8080 -> 1.2.3.4:1025 becomes
	 30.0.0.2:80 -> 10.0.0.1:40000 */
      cn_rw4_init (&rev, p, ip4 ("20.0.0.1"), ip4 ("1.2.3.4"), ndp, nsp, ip4 ("30.0.0.2"),
		   ip4 ("10.0.0.1"), dp, sp);
      len = mk4 (b, p, "10.0.0.1", "30.0.0.2", 40000, 80, 17);
      CHECK (cn_pkt_parse (b, len, 0, &pi) != CN_PKT_OTHER);
      cn_rw4_apply (b, pi.l4_offset, p, &fwd, 0);
      CHECK (ip4_csums_ok (b, len));
      CHECK (cn_ld32 (b + 12) == ip4 ("1.2.3.4") && cn_ld32 (b + 16) == ip4 ("20.0.0.1"));
      cn_pkt_parse (b, len, 0, &pi);
      CHECK (pi.sport == nsp && pi.dport == ndp);

      /* TTL exceeded from router 9.9.9.9 about the translated packet,
	 full quote and a minimal 8-byte one */
      for (int q = 0; q < 2; q++)
	{
	  uint32_t qlen = q ? 28 : len;
	  elen = mk4_err (e, "9.9.9.9", 11, b, qlen);
	  CHECK (cn_pkt_parse (e, elen, 0, &pi) == CN_PKT_ICMP_ERROR);
	  /* the reversed quote is the reply tuple: matches rev */
	  cn_icmp_error_rewrite4 (e, &pi, &rev);
	  CHECK (ip4_csums_ok (e, elen));
	  CHECK (cn_csum_fold (cn_csum_words (e + 28, 20)) == 0xffff);
	  CHECK (cn_ld32 (e + 12) == ip4 ("9.9.9.9"));
	  CHECK (cn_ld32 (e + 16) == ip4 ("10.0.0.1"));
	  CHECK (cn_ld32 (e + 28 + 12) == ip4 ("10.0.0.1"));
	  CHECK (cn_ld32 (e + 28 + 16) == ip4 ("30.0.0.2"));
	  CHECK (cn_ld16 (e + 48 + (p == CN_IPPROTO_ICMP ? 4 : 0)) == sp);
	  if (p != CN_IPPROTO_ICMP)
	    CHECK (cn_ld16 (e + 50) == dp);
	  if (!q)
	    {
	      /* the full quote is the original packet again, checksums and
		 all */
	      uint8_t orig[256];
	      mk4 (orig, p, "10.0.0.1", "30.0.0.2", 40000, 80, 17);
	      CHECK (memcmp (e + 28, orig, len) == 0);
	    }
	}

      /* port unreachable sent by the backend itself: outer src is the
	 quoted destination and becomes the VIP */
      elen = mk4_err (e, "20.0.0.1", 3, b, len);
      cn_pkt_parse (e, elen, 0, &pi);
      cn_icmp_error_rewrite4 (e, &pi, &rev);
      CHECK (ip4_csums_ok (e, elen));
      CHECK (cn_ld32 (e + 12) == ip4 ("30.0.0.2"));

      /* reply direction */
      len = mk4 (b, p, "20.0.0.1", "1.2.3.4", p == CN_IPPROTO_ICMP ? 1025 : 8080, 1025, 5);
      if (p == CN_IPPROTO_ICMP)
	{
	  b[20] = 0; /* echo reply, id 1025 */
	  fix4 (b, len);
	}
      cn_pkt_parse (b, len, 0, &pi);
      cn_rw4_apply (b, pi.l4_offset, p, &rev, 0);
      CHECK (ip4_csums_ok (b, len));
      CHECK (cn_ld32 (b + 12) == ip4 ("30.0.0.2") && cn_ld32 (b + 16) == ip4 ("10.0.0.1"));
    }

  /* UDP without checksum stays without */
  len = mk4 (b, CN_IPPROTO_UDP, "10.0.0.1", "30.0.0.2", 40000, 80, 3);
  cn_st16 (b + 26, 0);
  cn_rw4_init (&fwd, CN_IPPROTO_UDP, ip4 ("10.0.0.1"), ip4 ("30.0.0.2"), htons (40000), htons (80),
	       ip4 ("10.0.0.1"), ip4 ("20.0.0.1"), htons (40000), htons (80));
  cn_rw4_apply (b, 20, CN_IPPROTO_UDP, &fwd, 0);
  CHECK (cn_ld16 (b + 26) == 0 && ip4_csums_ok (b, len));

  /* tx-offload partial checksum: the field holds the pseudo-header sum */
  len = mk4 (b, CN_IPPROTO_TCP, "10.0.0.1", "30.0.0.2", 40000, 80, 3);
  cn_st16 (b + 36, cn_csum_fold (pseudo4 (b, 6, len - 20)));
  cn_rw4_init (&fwd, CN_IPPROTO_TCP, ip4 ("10.0.0.1"), ip4 ("30.0.0.2"), htons (40000), htons (80),
	       ip4 ("5.6.7.8"), ip4 ("20.0.0.1"), htons (1), htons (2));
  cn_rw4_apply (b, 20, CN_IPPROTO_TCP, &fwd, 1);
  partial_ok = cn_ld16 (b + 36) == cn_csum_fold (pseudo4 (b, 6, len - 20));
  CHECK (partial_ok);
}

static void
test_rewrite6 (void)
{
  static const uint8_t protos[] = { CN_IPPROTO_TCP, CN_IPPROTO_UDP, CN_IPPROTO_ICMP6 };
  uint8_t b[256], e[512], a[4][16];
  cn_pkt_info_t pi;
  cn_rw6_t fwd, rev;
  uint32_t len, elen;
  int i;

  ip6 ("2001:db8::1", a[0]);	/* inside client */
  ip6 ("2001:db8:ff::9", a[1]); /* far server */
  ip6 ("30::1", a[2]);		/* SNAT address */
  for (i = 0; i < 3; i++)
    {
      uint8_t p = protos[i];
      uint16_t sp = htons (5555), dp = htons (443), nsp = htons (6000);
      if (p == CN_IPPROTO_ICMP6)
	dp = sp;
      uint16_t ndp = p == CN_IPPROTO_ICMP6 ? nsp : dp;
      /* SNAT: client -> server becomes 30::1:6000 -> server */
      cn_rw6_init (&fwd, p, a[0], a[1], sp, dp, a[2], a[1], nsp, ndp);
      cn_rw6_init (&rev, p, a[1], a[2], ndp, nsp, a[1], a[0], dp, sp);
      len = mk6 (b, p, "2001:db8::1", "2001:db8:ff::9", 5555, 443, 11);
      cn_pkt_parse (b, len, 1, &pi);
      cn_rw6_apply (b, pi.l4_offset, p, &fwd, 0);
      CHECK (ip6_csums_ok (b, len));
      CHECK (memcmp (b + 8, a[2], 16) == 0);

      /* traceroute: time exceeded from a router, full and truncated */
      for (int q = 0; q < 2; q++)
	{
	  uint32_t qlen = q ? 48 : len;
	  elen = mk6_err (e, "2002::7", 3, b, qlen);
	  CHECK (cn_pkt_parse (e, elen, 1, &pi) == CN_PKT_ICMP_ERROR);
	  cn_icmp_error_rewrite6 (e, &pi, &rev);
	  CHECK (ip6_csums_ok (e, elen));
	  CHECK (memcmp (e + 24, a[0], 16) == 0);
	  CHECK (memcmp (e + 48 + 8, a[0], 16) == 0);
	  CHECK (cn_ld16 (e + 88 + (p == CN_IPPROTO_ICMP6 ? 4 : 0)) == sp);
	  if (!q)
	    {
	      uint8_t orig[256];
	      mk6 (orig, p, "2001:db8::1", "2001:db8:ff::9", 5555, 443, 11);
	      CHECK (memcmp (e + 48, orig, len) == 0);
	    }
	}
      /* reply restored */
      len = mk6 (b, p, "2001:db8:ff::9", "30::1", 443, 6000, 2);
      if (p == CN_IPPROTO_ICMP6)
	{
	  b[40] = 129;
	  cn_st16 (b + 44, nsp);
	  fix6 (b, len);
	}
      cn_pkt_parse (b, len, 1, &pi);
      cn_rw6_apply (b, pi.l4_offset, p, &rev, 0);
      CHECK (ip6_csums_ok (b, len));
      CHECK (memcmp (b + 24, a[0], 16) == 0);
    }
  (void) a[3];
}

static uint64_t
lb_key (int i)
{
  return cn_mix64 (0x1234 + (uint64_t) i * 7919);
}

static void
test_lb (void)
{
  uint8_t t[1009], t2[1009];
  uint32_t next[8], counts[8] = { 0 };
  uint64_t keys[8];
  uint8_t s4[4] = { 10, 0, 0, 1 }, d4[4] = { 30, 0, 0, 2 };
  int i, moved = 0, ok;

  CHECK (cn_is_prime (1009) && cn_is_prime (65521) && !cn_is_prime (1000));
  CHECK (!cn_is_prime (1) && cn_is_prime (2) && !cn_is_prime (9));
  for (i = 0; i < 8; i++)
    keys[i] = lb_key (i);
  CHECK (cn_maglev_build (keys, 4, 1009, t, next) == 0);
  for (i = 0; i < 1009; i++)
    if (t[i] < 4)
      counts[t[i]]++;
  ok = 1;
  for (i = 0; i < 4; i++)
    ok &= counts[i] >= 1009 / 4 - 1 && counts[i] <= 1009 / 4 + 2;
  CHECK (ok); /* maglev is nearly perfectly balanced */
  /* removing the last backend moves only its own entries (plus few) */
  CHECK (cn_maglev_build (keys, 3, 1009, t2, next) == 0);
  for (i = 0; i < 1009; i++)
    if (t[i] != 3 && t[i] != t2[i])
      moved++;
  CHECK (moved < 1009 / 10);
  CHECK (cn_maglev_build (keys, 4, 1000, t, next) == -1); /* not prime */
  CHECK (cn_maglev_build (keys, 0, 1009, t, next) == -1);
  CHECK (cn_maglev_build (keys, 8, 7, t, next) == -1); /* too short */
  CHECK (cn_maglev_build (keys, 7, 7, t, next) == 0);

  /* the flow hash depends only on the selected fields */
  uint32_t h1 = cn_flow_hash (CN_LB_F_SRC_ADDR, s4, d4, 4, 1, 2, 6);
  uint32_t h2 = cn_flow_hash (CN_LB_F_SRC_ADDR, s4, s4, 4, 9, 8, 17);
  CHECK (h1 == h2);
  CHECK (cn_flow_hash (0, s4, d4, 4, 1, 2, 6) != cn_flow_hash (0, s4, d4, 4, 1, 3, 6));
  CHECK (cn_flow_hash (0, s4, d4, 4, 1, 2, 6) == cn_flow_hash (CN_LB_F_ALL, s4, d4, 4, 1, 2, 6));
  /* spread over backends */
  memset (counts, 0, sizeof (counts));
  for (i = 0; i < 4000; i++)
    counts[cn_flow_hash (0, s4, d4, 4, (uint16_t) i, 80, 6) % 4]++;
  ok = 1;
  for (i = 0; i < 4; i++)
    ok &= counts[i] > 800 && counts[i] < 1200;
  CHECK (ok);
}

typedef struct
{
  uint8_t used[65536];
} port_ctx_t;

static int
port_free (uint16_t p, void *ctx)
{
  return !((port_ctx_t *) ctx)->used[p];
}

static int n_probes;

static int
port_free_counting (uint16_t p, void *ctx)
{
  n_probes++;
  return !((port_ctx_t *) ctx)->used[p];
}

static void
test_port_bounded (void)
{
  static port_ctx_t c;
  memset (&c, 1, sizeof (c));
  n_probes = 0;
  CHECK (cn_port_choose (2000, 1024, 65535, 9, port_free_counting, &c) == 0);
  CHECK (n_probes <= 1 + CN_PORT_RANDOM_TRIES + 2 * CN_PORT_SWEEP);
  /* a small range is swept completely */
  memset (&c, 1, sizeof (c));
  c.used[17] = 0;
  CHECK (cn_port_choose (3, 1, 100, 9, port_free_counting, &c) == 17);
}

static void
test_port (void)
{
  static port_ctx_t c;
  uint16_t p;
  int i, n;

  memset (&c, 0, sizeof (c));
  CHECK (cn_port_choose (5000, 1024, 65535, 1, port_free, &c) == 5000);
  c.used[5000] = 1;
  p = cn_port_choose (5000, 1024, 65535, 1, port_free, &c);
  CHECK (p >= 1024 && p != 5000 && (p & 1) == 0);
  c.used[5001] = 1;
  p = cn_port_choose (5001, 1024, 65535, 7, port_free, &c);
  CHECK (p >= 1024 && (p & 1) == 1);
  /* low ports are kept when free, but never reallocated below lo */
  CHECK (cn_port_choose (53, 1024, 65535, 3, port_free, &c) == 53);
  c.used[53] = 1;
  p = cn_port_choose (53, 1024, 65535, 3, port_free, &c);
  CHECK (p >= 1024 && (p & 1) == 1);
  /* only odd ports left: an even original still gets one */
  memset (&c, 0, sizeof (c));
  for (i = 1024; i <= 65535; i += 2)
    c.used[i] = 1;
  p = cn_port_choose (2000, 1024, 65535, 5, port_free, &c);
  CHECK (p != 0 && (p & 1) == 1);
  /* exhaustion */
  memset (&c, 1, sizeof (c));
  CHECK (cn_port_choose (2000, 1024, 65535, 5, port_free, &c) == 0);
  /* the search is bounded: a lone free port far away is not hunted down,
     but one inside the swept window is */
  {
    c.used[40001] = 0;
    p = cn_port_choose (2000, 1024, 65535, 5, port_free, &c);
    CHECK (p == 0 || p == 40001);
    memset (&c, 1, sizeof (c));
    for (i = 0; i < 1000; i++) /* a dense tail: 1 in 100 free */
      c.used[1024 + i * 64] = 0;
    p = cn_port_choose (2000, 1024, 65535, 5, port_free, &c);
    CHECK (p != 0 && !c.used[p]);
  }
  /* many allocations stay distinct */
  memset (&c, 0, sizeof (c));
  c.used[1111] = 1;
  n = 0;
  for (i = 0; i < 1000; i++)
    {
      p = cn_port_choose (1111, 1024, 65535, (uint32_t) i * 31, port_free, &c);
      if (p && !c.used[p])
	n++;
      c.used[p] = 1;
    }
  CHECK (n == 1000);
}

static void
test_tcp (void)
{
  uint8_t s;
  s = cn_tcp_new (CN_TCP_F_SYN);
  CHECK (cn_tcp_state (s) == CN_TCPS_SYN_SENT);
  s = cn_tcp_update (s, CN_TCP_F_ACK, 0); /* no SYN-ACK yet */
  CHECK (cn_tcp_state (s) == CN_TCPS_SYN_SENT);
  s = cn_tcp_update (s, CN_TCP_F_SYN | CN_TCP_F_ACK, 1);
  CHECK (cn_tcp_state (s) == CN_TCPS_SYN_SENT);
  s = cn_tcp_update (s, CN_TCP_F_ACK, 0);
  CHECK (cn_tcp_state (s) == CN_TCPS_ESTABLISHED && cn_tcp_is_established (s));
  s = cn_tcp_update (s, CN_TCP_F_ACK, 1);
  CHECK (cn_tcp_state (s) == CN_TCPS_ESTABLISHED);
  s = cn_tcp_update (s, CN_TCP_F_FIN | CN_TCP_F_ACK, 0);
  CHECK (cn_tcp_state (s) == CN_TCPS_FIN_WAIT);
  s = cn_tcp_update (s, CN_TCP_F_ACK, 1);
  CHECK (cn_tcp_state (s) == CN_TCPS_FIN_WAIT);
  s = cn_tcp_update (s, CN_TCP_F_FIN | CN_TCP_F_ACK, 1);
  CHECK (cn_tcp_state (s) == CN_TCPS_CLOSED);
  /* reuse of the tuple */
  s = cn_tcp_update (s, CN_TCP_F_SYN, 0);
  CHECK (s == CN_TCPS_SYN_SENT);
  /* RST from anywhere closes */
  s = cn_tcp_update (CN_TCPS_ESTABLISHED, CN_TCP_F_RST, 1);
  CHECK (cn_tcp_state (s) == CN_TCPS_CLOSED);
  CHECK (cn_tcp_state (cn_tcp_new (CN_TCP_F_RST)) == CN_TCPS_CLOSED);
  /* mid-stream pickup */
  CHECK (cn_tcp_state (cn_tcp_new (CN_TCP_F_ACK)) == CN_TCPS_ESTABLISHED);
  CHECK (cn_tcp_state (cn_tcp_new (CN_TCP_F_FIN | CN_TCP_F_ACK)) == CN_TCPS_FIN_WAIT);
  /* a SYN in established does not reset */
  CHECK (cn_tcp_state (cn_tcp_update (CN_TCPS_ESTABLISHED, CN_TCP_F_SYN, 0)) ==
	 CN_TCPS_ESTABLISHED);
}

static void
test_timer (void)
{
  uint32_t t0 = cn_ticks_from_seconds (1000.5);
  CHECK (t0 == 256128);
  CHECK (!cn_expired (t0 + 299 * 256, t0, 300));
  CHECK (cn_expired (t0 + 300 * 256, t0, 300));
  CHECK (cn_expires_in (t0, t0, 300) == 300);
  CHECK (cn_expires_in (t0 + 1, t0, 300) == 300);
  CHECK (cn_expires_in (t0 + 256, t0, 300) == 299);
  CHECK (cn_expires_in (t0 + 300 * 256, t0, 300) == 0);
  /* wrap of the tick counter */
  CHECK (cn_expired (5u, 0xffffff00u, 1));
  CHECK (!cn_expired (5u, 0xffffff00u, 2));
  /* "last" in the future (another thread's clock): not expired */
  CHECK (!cn_expired (t0, t0 + 10, 0 + 1));
  CHECK (cn_ticks_since (t0, t0 + 10) == 0);
  CHECK (cn_scan_budget (1000000, 0.1, 10, 256) == 10001);
  CHECK (cn_scan_budget (10, 0.1, 10, 256) == 256);
}

/* ---- session table ---- */

/* keys of the test: one 64-bit word, value = index into keys[] */
typedef struct
{
  uint64_t key;
} stab_ctx_t;

static uint64_t stab_keys[200000];

static int
stab_match (const void *ctx, uint32_t v)
{
  return stab_keys[v] == ((const stab_ctx_t *) ctx)->key;
}

static uint64_t
stab_h (const cn_stab_t *t, uint64_t key)
{
  return cn_stab_hash (t->seed, &key, 1);
}

/* the branch-free first match agrees with the plain scan, whatever the
   tags (duplicates, none, the tag in the lock/max_disp lanes) */
static void
test_stab_first_match (void)
{
  cn_stab_bucket_t b;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  int r, i, n_bad = 0, n_none = 0;
  uint16_t tag;

  for (r = 0; r < 200000; r++)
    {
      memset (&b, 0, sizeof (b));
      for (i = 0; i < CN_STAB_SLOTS; i++)
	{
	  x = x * 6364136223846793005ull + 1442695040888963407ull;
	  /* few distinct tags, so that matches, repeats and misses all occur */
	  b.tag[i] = (x >> 60) & 7;
	}
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      tag = 1 + ((x >> 60) & 7);
      b.lock = tag;
      b.max_disp = tag;
      b.spare = tag;
      i = cn_stab_scan (&b, tag, 0);
      n_none += i < 0;
      n_bad += cn_stab_first_match (&b, tag) != (i < 0 ? CN_STAB_SLOTS : (uint32_t) i);
      b.val[i < 0 ? 0 : i] = 77;
      n_bad += cn_stab_guess (&b, tag) != (i < 0 ? CN_STAB_NONE : 77u);
    }
  CHECK (n_bad == 0);
  CHECK (n_none > 1000 && n_none < 199000);
}

static void
test_stab (void)
{
  cn_stab_t t;
  stab_ctx_t c;
  uint32_t nb = 1000, i, n = 0, v, found, n_miss = 0;
  void *mem = aligned_alloc (64, cn_stab_bytes (nb));
  cn_stab_stats_t st;
  int rv, full = 0;

  cn_stab_init (&t, mem, nb, 0x1234);
  /* 4 entries a bucket (40% of the slots): every key goes in and is
     found; the same key twice is refused with the first value */
  for (i = 0; i < 4 * nb; i++)
    {
      stab_keys[i] = 0xa000000000000000ull + i * 7919;
      c.key = stab_keys[i];
      n += cn_stab_add (&t, stab_h (&t, c.key), i, stab_match, &c, 0) == CN_STAB_ADDED;
    }
  CHECK (n == 4 * nb);
  for (i = 0, n = 0; i < 4 * nb; i++)
    {
      c.key = stab_keys[i];
      n += cn_stab_find (&t, stab_h (&t, c.key), stab_match, &c) == i;
    }
  CHECK (n == 4 * nb);
  c.key = stab_keys[17];
  found = 0;
  stab_keys[4 * nb] = c.key;
  CHECK (cn_stab_add (&t, stab_h (&t, c.key), 4 * nb, stab_match, &c, &found) == CN_STAB_EXISTS);
  CHECK (found == 17);
  /* a key that is not there is a miss */
  c.key = 42;
  CHECK (cn_stab_find (&t, stab_h (&t, c.key), stab_match, &c) == CN_STAB_NONE);
  /* the fast path guess is the value for nearly every key */
  for (i = 0, n = 0; i < 4 * nb; i++)
    n += cn_stab_guess (cn_stab_bucket (&t, stab_h (&t, stab_keys[i])), stab_h (&t, stab_keys[i])) == i;
  CHECK (n > 4 * nb * 95 / 100);
  cn_stab_stats (&t, &st);
  CHECK (st.n_entries == 4 * nb);

  /* delete every other key: gone, the rest stay; deleting twice fails */
  for (i = 0; i < 4 * nb; i += 2)
    CHECK (cn_stab_del (&t, stab_h (&t, stab_keys[i]), i) == 0);
  CHECK (cn_stab_del (&t, stab_h (&t, stab_keys[0]), 0) == -1);
  for (i = 0, n = 0, n_miss = 0; i < 4 * nb; i++)
    {
      c.key = stab_keys[i];
      v = cn_stab_find (&t, stab_h (&t, c.key), stab_match, &c);
      n += (i & 1) ? v == i : 0;
      n_miss += !(i & 1) && v == CN_STAB_NONE;
    }
  CHECK (n == 2 * nb && n_miss == 2 * nb);

  /* overfill: buckets spill into their neighbours, every added key stays
     findable, and the table reports full rather than losing entries */
  cn_stab_init (&t, mem, nb, 99);
  for (i = 0, n = 0; i < 12 * nb && i < 200000; i++)
    {
      stab_keys[i] = 0xb000000000000000ull ^ ((uint64_t) i << 20);
      c.key = stab_keys[i];
      rv = cn_stab_add (&t, stab_h (&t, c.key), i, stab_match, &c, 0);
      if (rv == CN_STAB_FULL)
	{
	  full++;
	  stab_keys[i] = ~0ull; /* not in */
	}
      else
	n++;
    }
  CHECK (full > 0);
  CHECK (n > 9 * nb);
  cn_stab_stats (&t, &st);
  CHECK (st.n_entries == n && st.n_spilled_buckets > 0 && st.max_disp <= CN_STAB_MAX_DISP);
  for (i = 0, v = 0; i < 12 * nb; i++)
    if (stab_keys[i] != ~0ull)
      {
	c.key = stab_keys[i];
	v += cn_stab_find (&t, stab_h (&t, c.key), stab_match, &c) == i;
      }
  CHECK (v == n);
  /* bucket choice covers the whole table, whatever its size */
  CHECK (cn_stab_home (&t, ~0ull) == nb - 1 && cn_stab_home (&t, 0) == 0);
  free (mem);
}

/* Two writers add the same keys at once, in opposite orders, while a
   reader looks them up: every key is added exactly once (the home bucket
   lock makes the duplicate check exact), and nothing is lost. */
#define STAB_MT_KEYS 60000
static cn_stab_t stab_mt;
static volatile int stab_mt_added[2], stab_mt_seen;

static void *
stab_mt_writer (void *arg)
{
  int w = (int) (intptr_t) arg, i, k;
  stab_ctx_t c;
  for (i = 0; i < STAB_MT_KEYS; i++)
    {
      k = w ? STAB_MT_KEYS - 1 - i : i;
      c.key = stab_keys[k];
      if (cn_stab_add (&stab_mt, stab_h (&stab_mt, c.key), k, stab_match, &c, 0) ==
	  CN_STAB_ADDED)
	stab_mt_added[w]++;
    }
  return 0;
}

static void *
stab_mt_reader (void *arg)
{
  int i, round, seen = 0;
  stab_ctx_t c;
  (void) arg;
  for (round = 0; round < 4; round++)
    for (i = 0; i < STAB_MT_KEYS; i += 7)
      {
	c.key = stab_keys[i];
	seen += cn_stab_find (&stab_mt, stab_h (&stab_mt, c.key), stab_match, &c) == (uint32_t) i;
      }
  stab_mt_seen = seen;
  return 0;
}

static void
test_stab_threads (void)
{
  uint32_t nb = STAB_MT_KEYS / 4, i, n; /* 40% of the slots */
  void *mem = aligned_alloc (64, cn_stab_bytes (nb));
  pthread_t t[3];
  stab_ctx_t c;

  cn_stab_init (&stab_mt, mem, nb, 7);
  for (i = 0; i < STAB_MT_KEYS; i++)
    stab_keys[i] = 0xc000000000000000ull + i * 104729ull;
  pthread_create (&t[0], 0, stab_mt_writer, (void *) 0);
  pthread_create (&t[1], 0, stab_mt_writer, (void *) 1);
  pthread_create (&t[2], 0, stab_mt_reader, 0);
  for (i = 0; i < 3; i++)
    pthread_join (t[i], 0);
  CHECK (stab_mt_added[0] + stab_mt_added[1] == STAB_MT_KEYS);
  for (i = 0, n = 0; i < STAB_MT_KEYS; i++)
    {
      c.key = stab_keys[i];
      n += cn_stab_find (&stab_mt, stab_h (&stab_mt, c.key), stab_match, &c) == i;
    }
  CHECK (n == STAB_MT_KEYS);
  free (mem);
}

int
main (void)
{
  test_csum ();
  test_parse ();
  test_fragments ();
  test_rewrite4 ();
  test_rewrite6 ();
  test_lb ();
  test_port ();
  test_port_bounded ();
  test_tcp ();
  test_timer ();
  test_stab_first_match ();
  test_stab ();
  test_stab_threads ();
  printf ("%d passed, %d failed\n", n_pass, n_fail);
  return n_fail ? 1 : 0;
}
