/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_static_api.c: binary API handlers of static 1:1 NAT
 * (cloudnat_static.h). Decoding errors: an address family other than
 * IPv4/IPv6 or two families in one mapping ... INVALID_ADDRESS_FAMILY;
 * prefix lengths that differ ................. INVALID_VALUE;
 * protocol other than 0/TCP/UDP .............. INVALID_PROTOCOL;
 * the rest: see cloudnat_static.h.
 */

#include <vnet/vnet.h>
#include <vnet/ip/ip.h>
#include <vnet/ip/ip_types_api.h>

#include <vlibapi/api.h>
#include <vlibmemory/api.h>

#include <cloudnat/cloudnat.h>
#include <cloudnat/cloudnat_static.h>

#include <vnet/format_fns.h>
#include <cloudnat/cloudnat.api_enum.h>
#include <cloudnat/cloudnat.api_types.h>
#include <cloudnat/cloudnat_api.h>

#define REPLY_MSG_ID_BASE cloudnat_main.msg_id_base
#include <vlibapi/api_helper_macros.h>

static int
cn_api_static_decode (const vl_api_cloudnat_static_t *in, cloudnat_static_spec_t *s, int is_add)
{
  ip_address_family_t af2;
  u8 len2;
  int rv;

  clib_memset (s, 0, sizeof (*s));
  s->in_table_id = clib_net_to_host_u32 (in->inside_table_id);
  s->out_table_id = clib_net_to_host_u32 (in->outside_table_id);
  if ((rv = cn_api_prefix_decode (&in->inside, &s->in_pfx, &s->len, &s->af, 1)))
    return rv;
  if (is_add)
    {
      if ((rv = cn_api_prefix_decode (&in->outside, &s->out_pfx, &len2, &af2, 1)))
	return rv;
      if (af2 != s->af)
	return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
      if (len2 != s->len)
	return VNET_API_ERROR_INVALID_VALUE;
    }
  switch ((u8) in->proto)
    {
    case 0:
      break;
    case IP_API_PROTO_TCP:
      s->proto = IP_PROTOCOL_TCP;
      break;
    case IP_API_PROTO_UDP:
      s->proto = IP_PROTOCOL_UDP;
      break;
    default:
      return VNET_API_ERROR_INVALID_PROTOCOL;
    }
  s->in_port = clib_net_to_host_u16 (in->inside_port);
  s->out_port = clib_net_to_host_u16 (in->outside_port);
  return 0;
}

void
vl_api_cloudnat_static_add_del_t_handler (vl_api_cloudnat_static_add_del_t *mp)
{
  vl_api_cloudnat_static_add_del_reply_t *rmp;
  cloudnat_static_spec_t s;
  int rv;

  if (!(rv = cn_api_static_decode (&mp->mapping, &s, mp->is_add)))
    rv = cloudnat_static_add_del (&s, mp->is_add, 0);
  REPLY_MACRO (VL_API_CLOUDNAT_STATIC_ADD_DEL_REPLY);
}

static walk_rc_t
cn_api_static_send_details (const cloudnat_static_spec_t *s, u64 packets, void *arg)
{
  cn_api_dump_ctx_t *ctx = arg;
  vl_api_cloudnat_static_details_t *mp;

  mp = cn_api_details_alloc (ctx, sizeof (*mp), VL_API_CLOUDNAT_STATIC_DETAILS);
  mp->packets = clib_host_to_net_u64 (packets);
  mp->mapping.inside_table_id = clib_host_to_net_u32 (s->in_table_id);
  mp->mapping.outside_table_id = clib_host_to_net_u32 (s->out_table_id);
  cn_api_prefix_encode (&s->in_pfx, s->len, s->af, &mp->mapping.inside);
  cn_api_prefix_encode (&s->out_pfx, s->len, s->af, &mp->mapping.outside);
  mp->mapping.proto = s->proto == IP_PROTOCOL_TCP ? IP_API_PROTO_TCP :
		      s->proto == IP_PROTOCOL_UDP ? IP_API_PROTO_UDP :
						    0;
  mp->mapping.inside_port = clib_host_to_net_u16 (s->in_port);
  mp->mapping.outside_port = clib_host_to_net_u16 (s->out_port);
  vl_api_send_msg (ctx->rp, (u8 *) mp);
  return WALK_CONTINUE;
}

void
vl_api_cloudnat_static_dump_t_handler (vl_api_cloudnat_static_dump_t *mp)
{
  cn_api_dump_ctx_t ctx;
  if (cn_api_dump_ctx_init (&ctx, mp->client_index, mp->context))
    cloudnat_static_walk (cn_api_static_send_details, &ctx);
}
