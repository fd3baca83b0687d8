/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cn_rewrite.h: rewriting a packet for one direction of a session.
 *
 * A session stores, for each direction, the new addresses and ports and two
 * checksum deltas computed once when the session is made (the old values are
 * the direction's lookup key, so they never change). The fast path then
 * writes the new fields and applies the cached deltas: no checksum is ever
 * recomputed over data.
 *
 *   addr_delta  change of the two addresses: IPv4 header checksum, and the
 *               pseudo header of TCP/UDP/ICMPv6 (also used as is for
 *               transmit-offload partial checksums, which hold only the
 *               pseudo-header sum)
 *   l4_delta    TCP/UDP/ICMPv6: addr_delta + ports (id); ICMPv4: id only
 *
 * ICMP errors: cn_icmp_error_rewrite{4,6} rewrite an error matched through
 * its quoted packet. The quoted packet is the translated packet of the
 * opposite direction, so it is restored by applying the matched direction's
 * rewrite "mirrored": inner src <- new dst, inner dst <- new src, inner sport
 * <- new dport, inner dport <- new sport. The outer destination gets the new
 * destination; the outer source is rewritten only when the error comes from
 * the flow's own peer (it equals the quoted destination). Every checksum
 * touched is updated incrementally: outer IPv4 header, inner IPv4 header,
 * inner L4 (only when the quote holds it), and the ICMP checksum, which
 * covers the whole quote (and, for ICMPv6, the outer pseudo header).
 */
#ifndef CN_REWRITE_H
#define CN_REWRITE_H

#include <stdint.h>
#include <string.h>
#include "cn_csum.h"
#include "cn_pkt.h"

typedef struct
{
  uint32_t src, dst;	 /* new addresses, network order */
  uint16_t sport, dport; /* new ports (echo: both the id), network order */
  uint16_t addr_delta;
  uint16_t l4_delta;
} cn_rw4_t;

typedef struct
{
  uint8_t src[16], dst[16];
  uint16_t sport, dport;
  uint16_t addr_delta;
  uint16_t l4_delta;
} cn_rw6_t;

static inline int
cn_proto_is_icmp (uint8_t proto)
{
  return proto == CN_IPPROTO_ICMP || proto == CN_IPPROTO_ICMP6;
}

/* Fill rw for packets whose current fields are (osrc, odst, osport,
   odport) and must become (nsrc, ndst, nsport, ndport). */
static inline void
cn_rw4_init (cn_rw4_t *rw, uint8_t proto, uint32_t osrc, uint32_t odst, uint16_t osport,
	     uint16_t odport, uint32_t nsrc, uint32_t ndst, uint16_t nsport, uint16_t ndport)
{
  uint32_t o[2] = { osrc, odst }, n[2] = { nsrc, ndst };
  uint16_t pd;
  rw->src = nsrc;
  rw->dst = ndst;
  rw->sport = nsport;
  rw->dport = ndport;
  rw->addr_delta = cn_csum_delta (o, n, 8);
  if (proto == CN_IPPROTO_ICMP)
    rw->l4_delta = cn_csum_delta16 (osport, nsport); /* id only */
  else
    {
      pd = (proto == CN_IPPROTO_ICMP6) ?
	     cn_csum_delta16 (osport, nsport) :
	     cn_csum_add_delta (cn_csum_delta16 (osport, nsport), cn_csum_delta16 (odport, ndport));
      rw->l4_delta = cn_csum_add_delta (rw->addr_delta, pd);
    }
}

static inline void
cn_rw6_init (cn_rw6_t *rw, uint8_t proto, const uint8_t *osrc, const uint8_t *odst, uint16_t osport,
	     uint16_t odport, const uint8_t *nsrc, const uint8_t *ndst, uint16_t nsport,
	     uint16_t ndport)
{
  uint16_t pd;
  memcpy (rw->src, nsrc, 16);
  memcpy (rw->dst, ndst, 16);
  rw->sport = nsport;
  rw->dport = ndport;
  rw->addr_delta =
    cn_csum_add_delta (cn_csum_delta (osrc, nsrc, 16), cn_csum_delta (odst, ndst, 16));
  pd = cn_proto_is_icmp (proto) ?
	 cn_csum_delta16 (osport, nsport) :
	 cn_csum_add_delta (cn_csum_delta16 (osport, nsport), cn_csum_delta16 (odport, ndport));
  rw->l4_delta = cn_csum_add_delta (rw->addr_delta, pd);
}

/* L4 part shared by both families. l4 points at the L4 header; partial
   says the L4 checksum field holds a pseudo-header sum (tx offload). */
static inline void
cn_rw_apply_l4 (uint8_t *l4, uint8_t proto, uint16_t sport, uint16_t dport, uint16_t l4_delta,
		uint16_t addr_delta, int partial, int is_ip6)
{
  switch (proto)
    {
    case CN_IPPROTO_TCP:
      cn_st16 (l4, sport);
      cn_st16 (l4 + 2, dport);
      if (partial)
	cn_st16 (l4 + 16, cn_csum_update_partial (cn_ld16 (l4 + 16), addr_delta));
      else
	cn_st16 (l4 + 16, cn_csum_update (cn_ld16 (l4 + 16), l4_delta));
      break;
    case CN_IPPROTO_UDP:
      cn_st16 (l4, sport);
      cn_st16 (l4 + 2, dport);
      if (partial)
	cn_st16 (l4 + 6, cn_csum_update_partial (cn_ld16 (l4 + 6), addr_delta));
      else
	cn_st16 (l4 + 6,
		 cn_csum_update_udp (cn_ld16 (l4 + 6), l4_delta, is_ip6));
      break;
    case CN_IPPROTO_ICMP:
    case CN_IPPROTO_ICMP6:
      /* echo: the id; both "ports" carry it */
      cn_st16 (l4 + 4, sport);
      cn_st16 (l4 + 2, cn_csum_update (cn_ld16 (l4 + 2), l4_delta));
      break;
    }
}

/* Rewrite an IPv4 packet (TCP/UDP/echo) matching the direction of rw. */
/* The IP header part alone: all a fragment after the first needs (its
   L4 checksum lives in the first fragment, which the full rewrite
   updated for the new addresses and ports). */
static inline void
cn_rw4_apply_l3 (uint8_t *ip, const cn_rw4_t *rw)
{
  cn_st32 (ip + CN_IP4_SRC_OFF, rw->src);
  cn_st32 (ip + CN_IP4_DST_OFF, rw->dst);
  cn_st16 (ip + 10, cn_csum_update (cn_ld16 (ip + 10), rw->addr_delta));
}

static inline void
cn_rw6_apply_l3 (uint8_t *ip, const cn_rw6_t *rw)
{
  memcpy (ip + CN_IP6_SRC_OFF, rw->src, 16);
  memcpy (ip + CN_IP6_DST_OFF, rw->dst, 16);
}

static inline void
cn_rw4_apply (uint8_t *ip, uint16_t l4_off, uint8_t proto, const cn_rw4_t *rw, int partial)
{
  cn_rw4_apply_l3 (ip, rw);
  cn_rw_apply_l4 (ip + l4_off, proto, rw->sport, rw->dport, rw->l4_delta, rw->addr_delta, partial,
		  0);
}

static inline void
cn_rw6_apply (uint8_t *ip, uint16_t l4_off, uint8_t proto, const cn_rw6_t *rw, int partial)
{
  cn_rw6_apply_l3 (ip, rw);
  cn_rw_apply_l4 (ip + l4_off, proto, rw->sport, rw->dport, rw->l4_delta, rw->addr_delta, partial,
		  1);
}

/* Rewrite the inner L4 header of a quote; returns the delta of the quoted
   bytes for the ICMP checksum. ia_delta is the inner address delta
   (pseudo header of the inner L4 checksum). */
static inline uint16_t
cn_icmp_error_inner_l4 (uint8_t *il4, const cn_pkt_info_t *pi, int is_ip6, uint16_t new_sport,
			uint16_t new_dport, uint16_t ia_delta)
{
  uint16_t d = 0, o, n, dp;
  switch (pi->inner_proto)
    {
    case CN_IPPROTO_TCP:
    case CN_IPPROTO_UDP:
      dp = cn_csum_add_delta (cn_csum_delta16 (cn_ld16 (il4), new_sport),
			      cn_csum_delta16 (cn_ld16 (il4 + 2), new_dport));
      cn_st16 (il4, new_sport);
      cn_st16 (il4 + 2, new_dport);
      d = dp;
      if (pi->inner_has_l4csum)
	{
	  int off = pi->inner_proto == CN_IPPROTO_TCP ? 16 : 6;
	  o = cn_ld16 (il4 + off);
	  if (pi->inner_proto == CN_IPPROTO_UDP)
	    n = cn_csum_update_udp (o, cn_csum_add_delta (ia_delta, dp),
				    is_ip6);
	  else
	    n = cn_csum_update (o, cn_csum_add_delta (ia_delta, dp));
	  cn_st16 (il4 + off, n);
	  d = cn_csum_add_delta (d, cn_csum_delta16 (o, n));
	}
      break;
    case CN_IPPROTO_ICMP:
    case CN_IPPROTO_ICMP6:
      dp = cn_csum_delta16 (cn_ld16 (il4 + 4), new_sport);
      cn_st16 (il4 + 4, new_sport);
      d = dp;
      if (pi->inner_has_l4csum)
	{
	  o = cn_ld16 (il4 + 2);
	  n = cn_csum_update (o, is_ip6 ? cn_csum_add_delta (ia_delta, dp) : dp);
	  cn_st16 (il4 + 2, n);
	  d = cn_csum_add_delta (d, cn_csum_delta16 (o, n));
	}
      break;
    }
  return d;
}

/* Rewrite an IPv4 ICMP error whose reversed quote matched the direction
   of rw (see the top of this file). */
static inline void
cn_icmp_error_rewrite4 (uint8_t *ip, const cn_pkt_info_t *pi, const cn_rw4_t *rw)
{
  uint8_t *in = ip + pi->inner_offset;
  uint8_t *icmp = ip + pi->l4_offset;
  uint32_t o_in[2], n_in[2], o_out[2], n_out[2];
  uint16_t ia, d_icmp, oc, nc, oa;

  /* inner addresses and inner IPv4 header checksum */
  o_in[0] = cn_ld32 (in + CN_IP4_SRC_OFF);
  o_in[1] = cn_ld32 (in + CN_IP4_DST_OFF);
  n_in[0] = rw->dst;
  n_in[1] = rw->src;
  ia = cn_csum_delta (o_in, n_in, 8);
  cn_st32 (in + CN_IP4_SRC_OFF, n_in[0]);
  cn_st32 (in + CN_IP4_DST_OFF, n_in[1]);
  oc = cn_ld16 (in + 10);
  nc = cn_csum_update (oc, ia);
  cn_st16 (in + 10, nc);
  d_icmp = cn_csum_add_delta (ia, cn_csum_delta16 (oc, nc));

  /* inner ports / id and inner L4 checksum */
  d_icmp = cn_csum_add_delta (
    d_icmp, cn_icmp_error_inner_l4 (ip + pi->inner_l4_offset, pi, 0, rw->dport, rw->sport, ia));

  /* outer addresses and header checksum */
  o_out[0] = cn_ld32 (ip + CN_IP4_SRC_OFF);
  o_out[1] = cn_ld32 (ip + CN_IP4_DST_OFF);
  n_out[0] = (o_out[0] == o_in[1]) ? rw->src : o_out[0];
  n_out[1] = rw->dst;
  oa = cn_csum_delta (o_out, n_out, 8);
  cn_st32 (ip + CN_IP4_SRC_OFF, n_out[0]);
  cn_st32 (ip + CN_IP4_DST_OFF, n_out[1]);
  cn_st16 (ip + 10, cn_csum_update (cn_ld16 (ip + 10), oa));

  /* ICMPv4 checksum: no pseudo header */
  cn_st16 (icmp + 2, cn_csum_update (cn_ld16 (icmp + 2), d_icmp));
}

static inline void
cn_icmp_error_rewrite6 (uint8_t *ip, const cn_pkt_info_t *pi, const cn_rw6_t *rw)
{
  uint8_t *in = ip + pi->inner_offset;
  uint8_t *icmp = ip + pi->l4_offset;
  uint8_t o_isrc[16], o_idst[16], o_osrc[16], n_osrc[16];
  uint16_t ia, d_icmp, oa;

  memcpy (o_isrc, in + CN_IP6_SRC_OFF, 16);
  memcpy (o_idst, in + CN_IP6_DST_OFF, 16);
  ia = cn_csum_add_delta (cn_csum_delta (o_isrc, rw->dst, 16), cn_csum_delta (o_idst, rw->src, 16));
  memcpy (in + CN_IP6_SRC_OFF, rw->dst, 16);
  memcpy (in + CN_IP6_DST_OFF, rw->src, 16);
  d_icmp = ia;

  d_icmp = cn_csum_add_delta (
    d_icmp, cn_icmp_error_inner_l4 (ip + pi->inner_l4_offset, pi, 1, rw->dport, rw->sport, ia));

  memcpy (o_osrc, ip + CN_IP6_SRC_OFF, 16);
  if (memcmp (o_osrc, o_idst, 16) == 0)
    memcpy (n_osrc, rw->src, 16);
  else
    memcpy (n_osrc, o_osrc, 16);
  oa = cn_csum_add_delta (cn_csum_delta (o_osrc, n_osrc, 16),
			  cn_csum_delta (ip + CN_IP6_DST_OFF, rw->dst, 16));
  memcpy (ip + CN_IP6_SRC_OFF, n_osrc, 16);
  memcpy (ip + CN_IP6_DST_OFF, rw->dst, 16);

  /* ICMPv6 checksum covers the outer pseudo header too */
  d_icmp = cn_csum_add_delta (d_icmp, oa);
  cn_st16 (icmp + 2, cn_csum_update (cn_ld16 (icmp + 2), d_icmp));
}

#endif /* CN_REWRITE_H */
