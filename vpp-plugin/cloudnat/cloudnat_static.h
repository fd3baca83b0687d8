/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_static.h: stateless 1:1 static NAT (cloudnat_static.c).
 *
 * A mapping joins an inside prefix of an inside table and an outside
 * prefix of the same length of an outside table (the same table is fine),
 * optionally for one TCP/UDP port pair. Packets leaving the inside (the
 * source-NAT feature on the inside table's interfaces) get their source
 * mapped to the outside prefix, host bits kept; packets entering to an
 * outside address (captured in the outside table) get their destination
 * mapped back and are forwarded in the inside table. No session is made:
 * every packet is rewritten from the mapping, ICMP errors through their
 * quoted packet too.
 *
 * Precedence, the same on both dataplanes (docs/design.md): a session
 * first (replies of stateful flows), then a translation (VIP, port
 * forward) of the destination, then a static mapping, then a pool or the
 * table's source NAT.
 */
#ifndef __included_cloudnat_static_h__
#define __included_cloudnat_static_h__

#include <vnet/vnet.h>
#include <vnet/ip/ip.h>

/* the addresses of an outside prefix are captured one by one */
#define CN_STATIC_MAX_HOSTS 4096

typedef struct
{
  u32 in_table_id, out_table_id;
  ip_address_family_t af;
  ip46_address_t in_pfx, out_pfx;
  u8 len;
  u8 proto;		 /* 0: all of TCP, UDP, ICMP; else IP_PROTOCOL_TCP/UDP */
  u16 in_port, out_port; /* host order; both 0 unless proto is set */
} cloudnat_static_spec_t;

/*
 * Add (or delete: by inside table, inside prefix, proto, in_port) a
 * mapping. Refused, nothing changed:
 *  - a table missing .............................. VNET_API_ERROR_NO_SUCH_FIB
 *  - family mismatch ............................... VNET_API_ERROR_INVALID_ADDRESS_FAMILY
 *  - length beyond the family, or more than
 *    CN_STATIC_MAX_HOSTS addresses ................. VNET_API_ERROR_INVALID_VALUE
 *  - host bits set ................................. VNET_API_ERROR_IP_PREFIX_INVALID
 *  - proto other than 0/TCP/UDP, ports without
 *    proto, proto without both ports ............... VNET_API_ERROR_INVALID_VALUE_2
 *  - an address claimed by another mode: an outside
 *    address already a static outside address, a pool
 *    address or a VIP of that table; an inside prefix
 *    overlapping a pool binding or another static
 *    mapping of the inside table ................... VNET_API_ERROR_ADDRESS_IN_USE
 * *conflict (may be NULL) receives a one-line description of the conflict.
 */
int cloudnat_static_add_del (const cloudnat_static_spec_t *s, int is_add, u8 **conflict);

typedef walk_rc_t (*cloudnat_static_walk_cb_t) (const cloudnat_static_spec_t *s, u64 packets,
						void *ctx);
void cloudnat_static_walk (cloudnat_static_walk_cb_t cb, void *ctx);

#endif /* __included_cloudnat_static_h__ */
