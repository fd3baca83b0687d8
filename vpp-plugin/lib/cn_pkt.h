/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cn_pkt.h: what cloudnat needs to know of a packet, from its bytes.
 *
 * cn_pkt_parse() looks at an IPv4 or IPv6 packet (starting at the IP
 * header) and finds its L4 protocol, ports (echo id for ICMP echo: both
 * "ports" are the id, so that a request and its reply have mirrored keys),
 * TCP flags, and for an ICMP error the quoted inner packet: its offsets,
 * protocol, ports and whether its L4 checksum is inside the quote.
 * Ports are kept as they lie in the packet (network order).
 */
#ifndef CN_PKT_H
#define CN_PKT_H

#include <stdint.h>
#include "cn_csum.h"

#define CN_IPPROTO_ICMP	 1
#define CN_IPPROTO_TCP	 6
#define CN_IPPROTO_UDP	 17
#define CN_IPPROTO_ICMP6 58

#define CN_TCP_F_FIN 0x01
#define CN_TCP_F_SYN 0x02
#define CN_TCP_F_RST 0x04
#define CN_TCP_F_ACK 0x10

typedef enum
{
  CN_PKT_OTHER = 0,    /* not translatable: passes or is dropped */
  CN_PKT_L4,	       /* TCP or UDP with ports */
  CN_PKT_ECHO_REQUEST, /* ICMP(v6) echo request, id in ports */
  CN_PKT_ECHO_REPLY,   /* ICMP(v6) echo reply, id in ports */
  CN_PKT_ICMP_ERROR,   /* quotes a packet whose tuple we know */
  CN_PKT_ICMP_OTHER,   /* other ICMP (unknown type, bad quote) */
  CN_PKT_FRAGMENT,     /* a fragment: no ports here */
  CN_PKT_TRUNCATED,    /* shorter than its headers */
  CN_PKT_DONE,	       /* node-internal: the packet was taken care of
			  (held or dropped as a fragment) */
} cn_pkt_kind_t;

/* Where a packet stands among the fragments of its datagram. */
#define CN_FRAG_NONE  0 /* a whole datagram */
#define CN_FRAG_FIRST 1 /* offset 0, more to come: its L4 header is here */
#define CN_FRAG_LATER 2 /* no L4 header: ports come from the first (cn_frag_*) */

typedef struct
{
  uint8_t kind; /* cn_pkt_kind_t */
  uint8_t is_ip6;
  uint8_t proto; /* L4 protocol of the packet (for errors: ICMP/ICMP6) */
  uint8_t tcp_flags;
  uint8_t frag;	      /* CN_FRAG_*: only CN_FRAG_LATER changes the rewrite */
  uint16_t l4_offset; /* from the IP header */
  uint16_t sport;     /* network order; echo: id */
  uint16_t dport;     /* network order; echo: id */

  /* ICMP errors only: the quoted packet. */
  uint8_t inner_proto;
  uint8_t inner_has_l4csum; /* the inner L4 checksum field is quoted */
  uint16_t inner_offset;    /* inner IP header, from the outer IP header */
  uint16_t inner_l4_offset; /* inner L4 header, from the outer IP header */
  uint16_t inner_sport;	    /* network order */
  uint16_t inner_dport;
} cn_pkt_info_t;

/* Address field offsets inside the IP header. */
#define CN_IP4_SRC_OFF 12
#define CN_IP4_DST_OFF 16
#define CN_IP6_SRC_OFF 8
#define CN_IP6_DST_OFF 24

static inline int
cn_ipv6_is_ext_header (uint8_t nh)
{
  /* hop-by-hop, routing, destination options, (fragment handled apart) */
  return nh == 0 || nh == 43 || nh == 60;
}

/* Find the L4 header of an IP header at ip (len bytes available).
   Returns 0 on success and sets *proto, *l4_off; -1 truncated/bad,
   1 fragment (a non-first one; a first one too unless first_ok: the quote
   of an ICMP error, or a first fragment the fragment tracker has seen). */
static inline int
cn_ip_find_l4 (const uint8_t *ip, uint32_t len, int is_ip6, uint8_t *proto, uint16_t *l4_off,
	       int first_ok)
{
  if (!is_ip6)
    {
      uint32_t ihl;
      uint16_t frag;
      if (len < 20 || (ip[0] >> 4) != 4)
	return -1;
      ihl = (ip[0] & 0xf) * 4;
      if (ihl < 20 || ihl > len)
	return -1;
      frag = (uint16_t) ((ip[6] << 8) | ip[7]);
      /* Non-first fragments have no L4 header. A first fragment (MF set,
	 offset 0) is fine for the quote of an ICMP error, not otherwise. */
      if ((frag & 0x1fff) != 0)
	return 1;
      if ((frag & 0x2000) && !first_ok)
	return 1;
      *proto = ip[9];
      *l4_off = (uint16_t) ihl;
      return 0;
    }
  else
    {
      uint32_t off = 40;
      uint8_t nh;
      int n_ext = 0;
      if (len < 40 || (ip[0] >> 4) != 6)
	return -1;
      nh = ip[6];
      while (cn_ipv6_is_ext_header (nh) || nh == 44)
	{
	  if (nh == 44)
	    {
	      /* fragment header: offset 0 and M=0 is an atomic fragment */
	      uint16_t fo;
	      if (off + 8 > len)
		return -1;
	      fo = (uint16_t) ((ip[off + 2] << 8) | ip[off + 3]);
	      if ((fo & 0xfff8) != 0 || ((fo & 1) && !first_ok))
		return 1;
	      nh = ip[off];
	      off += 8;
	    }
	  else
	    {
	      if (off + 8 > len)
		return -1;
	      nh = ip[off];
	      off += (uint32_t) (ip[off + 1] + 1) * 8;
	    }
	  if (++n_ext > 8 || off > len)
	    return -1;
	}
      *proto = nh;
      *l4_off = (uint16_t) off;
      return 0;
    }
}

static inline int
cn_icmp_is_error (int is_ip6, uint8_t type)
{
  if (!is_ip6)
    return type == 3 || type == 11 || type == 12;
  return type == 1 || type == 2 || type == 3 || type == 4;
}

static inline int
cn_icmp_echo_kind (int is_ip6, uint8_t type)
{
  if (!is_ip6)
    return type == 8 ? CN_PKT_ECHO_REQUEST : type == 0 ? CN_PKT_ECHO_REPLY : 0;
  return type == 128 ? CN_PKT_ECHO_REQUEST : type == 129 ? CN_PKT_ECHO_REPLY : 0;
}

/* Parse the quoted packet of an ICMP error whose ICMP header is at
   ip + l4_off. Sets the inner_* fields; returns the packet kind. */
static inline int
cn_pkt_parse_inner (const uint8_t *ip, uint32_t len, int is_ip6, cn_pkt_info_t *pi)
{
  uint32_t in_off = (uint32_t) pi->l4_offset + 8;
  uint16_t in_l4 = 0;
  uint8_t in_proto = 0;
  uint32_t avail, l4;
  int rv;

  if (in_off >= len)
    return CN_PKT_ICMP_OTHER;
  rv = cn_ip_find_l4 (ip + in_off, len - in_off, is_ip6, &in_proto, &in_l4, 1 /* inner */);
  if (rv != 0)
    return CN_PKT_ICMP_OTHER;
  l4 = in_off + in_l4;
  avail = len > l4 ? len - l4 : 0;
  pi->inner_offset = (uint16_t) in_off;
  pi->inner_l4_offset = (uint16_t) l4;
  pi->inner_proto = in_proto;
  pi->inner_has_l4csum = 0;
  switch (in_proto)
    {
    case CN_IPPROTO_TCP:
      if (avail < 4)
	return CN_PKT_ICMP_OTHER;
      pi->inner_sport = cn_ld16 (ip + l4);
      pi->inner_dport = cn_ld16 (ip + l4 + 2);
      pi->inner_has_l4csum = avail >= 18;
      break;
    case CN_IPPROTO_UDP:
      if (avail < 4)
	return CN_PKT_ICMP_OTHER;
      pi->inner_sport = cn_ld16 (ip + l4);
      pi->inner_dport = cn_ld16 (ip + l4 + 2);
      pi->inner_has_l4csum = avail >= 8;
      break;
    case CN_IPPROTO_ICMP:
    case CN_IPPROTO_ICMP6:
      if ((in_proto == CN_IPPROTO_ICMP) == !!is_ip6)
	return CN_PKT_ICMP_OTHER;
      /* only a quoted echo can belong to a session (no errors of errors) */
      if (avail < 6 || !cn_icmp_echo_kind (is_ip6, ip[l4]))
	return CN_PKT_ICMP_OTHER;
      pi->inner_sport = pi->inner_dport = cn_ld16 (ip + l4 + 4);
      pi->inner_has_l4csum = avail >= 4;
      break;
    default:
      return CN_PKT_ICMP_OTHER;
    }
  return CN_PKT_ICMP_ERROR;
}

/* Parse a packet starting at its IP header, len bytes available; a first
   fragment is parsed as a whole packet when first_ok. */
static inline int
cn_pkt_parse_x (const uint8_t *ip, uint32_t len, int is_ip6, cn_pkt_info_t *pi, int first_ok)
{
  uint16_t l4;
  uint8_t proto;
  uint32_t avail;
  int rv, ek;

  pi->is_ip6 = (uint8_t) is_ip6;
  pi->tcp_flags = 0;
  pi->frag = first_ok ? CN_FRAG_FIRST : CN_FRAG_NONE;
  pi->sport = pi->dport = 0;
  pi->proto = 0;
  pi->l4_offset = 0;
  rv = cn_ip_find_l4 (ip, len, is_ip6, &proto, &l4, first_ok);
  if (rv < 0)
    return pi->kind = CN_PKT_TRUNCATED;
  if (rv > 0)
    {
      pi->proto = is_ip6 ? 0 : ip[9];
      return pi->kind = CN_PKT_FRAGMENT;
    }
  pi->proto = proto;
  pi->l4_offset = l4;
  avail = len > l4 ? len - l4 : 0;
  switch (proto)
    {
    case CN_IPPROTO_TCP:
      if (avail < 20)
	return pi->kind = CN_PKT_TRUNCATED;
      pi->sport = cn_ld16 (ip + l4);
      pi->dport = cn_ld16 (ip + l4 + 2);
      pi->tcp_flags = ip[l4 + 13];
      return pi->kind = CN_PKT_L4;
    case CN_IPPROTO_UDP:
      if (avail < 8)
	return pi->kind = CN_PKT_TRUNCATED;
      pi->sport = cn_ld16 (ip + l4);
      pi->dport = cn_ld16 (ip + l4 + 2);
      return pi->kind = CN_PKT_L4;
    case CN_IPPROTO_ICMP:
    case CN_IPPROTO_ICMP6:
      if ((proto == CN_IPPROTO_ICMP) == !!is_ip6)
	return pi->kind = CN_PKT_OTHER;
      if (avail < 8)
	return pi->kind = CN_PKT_TRUNCATED;
      ek = cn_icmp_echo_kind (is_ip6, ip[l4]);
      if (ek)
	{
	  pi->sport = pi->dport = cn_ld16 (ip + l4 + 4);
	  return pi->kind = (uint8_t) ek;
	}
      if (cn_icmp_is_error (is_ip6, ip[l4]))
	return pi->kind = (uint8_t) cn_pkt_parse_inner (ip, len, is_ip6, pi);
      return pi->kind = CN_PKT_ICMP_OTHER;
    default:
      return pi->kind = CN_PKT_OTHER;
    }
}

static inline int
cn_pkt_parse (const uint8_t *ip, uint32_t len, int is_ip6, cn_pkt_info_t *pi)
{
  return cn_pkt_parse_x (ip, len, is_ip6, pi, 0);
}

/* The length of the IP packet as its header says, at most len (a short
   frame may be padded). */
static inline uint32_t
cn_ip_len (const uint8_t *ip, uint32_t len, int is_ip6)
{
  uint32_t l;
  if (is_ip6)
    l = len >= 40 ? 40u + (uint32_t) ((ip[4] << 8) | ip[5]) : len;
  else
    l = len >= 20 ? (uint32_t) ((ip[2] << 8) | ip[3]) : len;
  return l < len ? l : len;
}

/* RFC 5508: an ICMP error whose own checksum (over the whole message; for
   ICMPv6 with its pseudo header) or whose quoted IPv4 header checksum is
   wrong is dropped, not translated. len: bytes of the packet from its IP
   header. The quote's L4 checksum is not checked (quotes are often cut). */
static inline int
cn_icmp_error_csum_ok (const uint8_t *ip, uint32_t len, const cn_pkt_info_t *pi, int is_ip6)
{
  uint32_t l4 = pi->l4_offset, n;
  uint64_t sum;

  len = cn_ip_len (ip, len, is_ip6);
  if (len <= l4)
    return 0;
  n = len - l4;
  sum = cn_csum_words (ip + l4, n);
  if (is_ip6)
    {
      uint8_t ph[8] = { (uint8_t) (n >> 24), (uint8_t) (n >> 16), (uint8_t) (n >> 8), (uint8_t) n,
			0, 0, 0, CN_IPPROTO_ICMP6 };
      sum += cn_csum_words (ip + CN_IP6_SRC_OFF, 32) + cn_csum_words (ph, 8);
    }
  else
    {
      uint32_t in = pi->inner_offset, ihl = (uint32_t) (ip[in] & 0xf) * 4;
      if (in + ihl <= len && cn_csum_fold (cn_csum_words (ip + in, ihl)) != 0xffff)
	return 0;
    }
  return cn_csum_fold (sum) == 0xffff;
}

/* ---- fragments ---- */

/* What identifies the datagram a fragment belongs to, besides its
   addresses and table: the identification and the protocol field that
   every fragment carries (IPv4 protocol; IPv6 the fragment header's next
   header, the first header of the fragmentable part). */
typedef struct
{
  uint32_t id;	   /* IPv4: 16 bits; IPv6: 32 bits (network order) */
  uint16_t offset; /* in bytes */
  uint8_t more;	   /* MF / M flag */
  uint8_t proto;
  uint16_t id_off; /* where the identification is (IPv4 4, IPv6 in the
		      fragment header) */
} cn_frag_info_t;

/* Read the fragment fields of a packet cn_pkt_parse found to be a
   fragment; -1 when they cannot be read (truncated extension headers). */
static inline int
cn_frag_parse (const uint8_t *ip, uint32_t len, int is_ip6, cn_frag_info_t *fi)
{
  if (!is_ip6)
    {
      uint16_t f;
      if (len < 20)
	return -1;
      f = (uint16_t) ((ip[6] << 8) | ip[7]);
      fi->id = cn_ld16 (ip + 4);
      fi->offset = (uint16_t) ((f & 0x1fff) * 8);
      fi->more = (f & 0x2000) != 0;
      fi->proto = ip[9];
      fi->id_off = 4;
      return 0;
    }
  else
    {
      uint32_t off = 40;
      uint8_t nh;
      int n_ext = 0;
      if (len < 40)
	return -1;
      nh = ip[6];
      while (cn_ipv6_is_ext_header (nh))
	{
	  if (off + 8 > len || ++n_ext > 8)
	    return -1;
	  nh = ip[off];
	  off += (uint32_t) (ip[off + 1] + 1) * 8;
	}
      if (nh != 44 || off + 8 > len)
	return -1;
      fi->proto = ip[off];
      fi->offset = (uint16_t) (((ip[off + 2] << 8) | ip[off + 3]) & 0xfff8);
      fi->more = ip[off + 3] & 1;
      fi->id = cn_ld32 (ip + off + 4);
      fi->id_off = (uint16_t) (off + 4);
      return 0;
    }
}

/* The packet info of a fragment after the first, from what its first
   fragment said (kind, L4 protocol, ports): the rewrite then touches only
   the IP header. */
static inline void
cn_pkt_info_later_fragment (cn_pkt_info_t *pi, int is_ip6, uint8_t kind, uint8_t proto,
			    uint16_t sport, uint16_t dport)
{
  pi->is_ip6 = (uint8_t) is_ip6;
  pi->kind = kind;
  pi->proto = proto;
  pi->sport = sport;
  pi->dport = dport;
  pi->tcp_flags = 0;
  pi->frag = CN_FRAG_LATER;
  pi->l4_offset = 0;
}

#endif /* CN_PKT_H */
