/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_node_mtu.h: the egress MTU check of inbound translations.
 *
 * A packet from outside that cloudnat rewrites to an inside address and
 * that is larger than the inside link's MTU (IPv6; IPv4 with DF) would get
 * VPP's own Packet Too Big / fragmentation needed from ip4/6-rewrite,
 * quoting the translated packet: the inside address would leave in the
 * quote. The node therefore checks the MTU of the adjacency it forwards to
 * and, when it is too small, answers the error itself about the packet as
 * it arrived (untranslated). Only packets above the smallest MTU a link
 * may have pay for the check (a copy of their headers before the rewrite).
 */
#ifndef __included_cloudnat_node_mtu_h__
#define __included_cloudnat_node_mtu_h__

#include <vnet/adj/adj.h>
#include <vnet/dpo/load_balance.h>
#include <cloudnat/cloudnat_priv.h>

/* enough for IPv4 with options or IPv6 plus the TCP header's checksum */
#define CN_MTU_SAVE 128

/* The packet's IP length when it may be too big for some link (IPv6 over
   1280, IPv4 with DF over 576), else 0. */
static_always_inline u32
cn_mtu_candidate (const u8 *ip, int is_ip6)
{
  if (is_ip6)
    {
      u32 len = 40 + clib_net_to_host_u16 (*(u16 *) (ip + 4));
      return len > 1280 ? len : 0;
    }
  if (!(ip[6] & 0x40)) /* DF */
    return 0;
  u32 len = clib_net_to_host_u16 (*(u16 *) (ip + 2));
  return len > 576 ? len : 0;
}

/* The MTU of the adjacency a load-balance forwards to when len exceeds it
   (0: it fits, or the next hop is no adjacency). The first bucket stands
   for the others: their links normally share the MTU. */
static_always_inline u32
cn_egress_mtu_short (index_t lbi, u32 len)
{
  const load_balance_t *lb = load_balance_get (lbi);
  const dpo_id_t *d0 = load_balance_get_bucket_i (lb, 0);
  u32 mtu;
  if (!dpo_is_adj (d0))
    return 0;
  mtu = adj_get (d0->dpoi_index)->rewrite_header.max_l3_packet_bytes;
  return mtu && len > mtu ? mtu : 0;
}

/* Put the saved headers back and make b the ICMP error about itself. */
static_always_inline void
cn_mtu_answer (vlib_buffer_t *b, u8 *ip, const u8 *saved, u32 n_saved, int is_ip6, u32 mtu)
{
  clib_memcpy_fast (ip, saved, n_saved);
  if (is_ip6)
    icmp6_error_set_vnet_buffer (b, ICMP6_packet_too_big, 0, mtu);
  else
    icmp4_error_set_vnet_buffer (
      b, ICMP4_destination_unreachable,
      ICMP4_destination_unreachable_fragmentation_needed_and_dont_fragment_set, mtu);
}

#endif /* __included_cloudnat_node_mtu_h__ */
