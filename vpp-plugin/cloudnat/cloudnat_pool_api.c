/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_pool_api.c: binary API handlers of pools, bindings,
 * subscribers, the block log (cloudnat_pool.h) and the fragment tracker's
 * settings (cloudnat_frag.h). As in cloudnat_api.c, every field is decoded
 * and checked before the control API is called; a bad request gets a
 * precise VNET_API_ERROR_* and changes nothing:
 *
 *   name empty, too long or not [a-zA-Z0-9._-] ... INVALID_VALUE
 *   address of an unknown family, or a range of
 *   two families, or not the pool's family ...... INVALID_ADDRESS_FAMILY
 *   outside / inside table missing .............. NO_SUCH_FIB
 *   the rest: see cloudnat_pool.h
 */

#include <vnet/vnet.h>
#include <vnet/ip/ip.h>
#include <vnet/ip/ip_types_api.h>
#include <vnet/interface.h>

#include <vlibapi/api.h>
#include <vlibmemory/api.h>

#include <cloudnat/cloudnat.h>
#include <cloudnat/cloudnat_pool.h>
#include <cloudnat/cloudnat_frag.h>

#include <vnet/format_fns.h>
#include <cloudnat/cloudnat.api_enum.h>
#include <cloudnat/cloudnat.api_types.h>
#include <cloudnat/cloudnat_api.h>

#define REPLY_MSG_ID_BASE cloudnat_main.msg_id_base
#include <vlibapi/api_helper_macros.h>

STATIC_ASSERT ((int) CLOUDNAT_FILTER_ADDRESS_PORT == CN_FILTER_ADDRESS_PORT, "filtering");
STATIC_ASSERT ((int) CLOUDNAT_FILTER_ADDRESS == CN_FILTER_ADDRESS, "filtering");
STATIC_ASSERT ((int) CLOUDNAT_FILTER_ENDPOINT == CN_FILTER_ENDPOINT, "filtering");

/* A fixed-size API string as a vec (no NUL); -1 if it fills the field
   without a terminator. */
static int
cn_api_name_decode (const u8 *in, u32 size, u8 **out)
{
  u32 n = strnlen ((const char *) in, size);
  if (n == size)
    return -1;
  vec_add (*out, in, n);
  return 0;
}

static void
cn_api_name_encode (const u8 *name, u8 *out, u32 size)
{
  u32 n = clib_min (vec_len (name), size - 1);
  clib_memcpy (out, name, n);
  out[n] = 0;
}

/* ------------------------------------------------------------------ */
/* fragments                                                           */
/* ------------------------------------------------------------------ */

void
vl_api_cloudnat_fragments_set_t_handler (vl_api_cloudnat_fragments_set_t *mp)
{
  vl_api_cloudnat_fragments_set_reply_t *rmp;
  int rv = cn_frag_config (clib_net_to_host_u32 (mp->timeout_ms),
			   clib_net_to_host_u32 (mp->max_in_flight),
			   clib_net_to_host_u32 (mp->max_per_datagram),
			   clib_net_to_host_u32 (mp->max_held));
  REPLY_MACRO (VL_API_CLOUDNAT_FRAGMENTS_SET_REPLY);
}

void
vl_api_cloudnat_fragments_get_t_handler (vl_api_cloudnat_fragments_get_t *mp)
{
  vl_api_cloudnat_fragments_get_reply_t *rmp;
  cn_frag_main_t *fm = &cn_frag_main;
  int rv = 0;
  REPLY_MACRO2 (VL_API_CLOUDNAT_FRAGMENTS_GET_REPLY, ({
		  rmp->timeout_ms = clib_host_to_net_u32 (fm->timeout_ms);
		  rmp->max_in_flight = clib_host_to_net_u32 (fm->max_in_flight);
		  rmp->max_per_datagram = clib_host_to_net_u32 (fm->max_per_datagram);
		  rmp->max_held = clib_host_to_net_u32 (fm->max_held);
		  rmp->n_in_flight = clib_host_to_net_u32 (fm->n);
		  rmp->n_held = clib_host_to_net_u32 (fm->n_held_total);
		  rmp->n_timeouts = clib_host_to_net_u64 (fm->n_timeouts);
		}));
}

/* ------------------------------------------------------------------ */
/* pools                                                               */
/* ------------------------------------------------------------------ */

static int
cn_api_pool_decode (const vl_api_cloudnat_pool_t *in, cloudnat_pool_spec_t *sp)
{
  u32 i, n = clib_net_to_host_u32 (in->n_ranges);
  ip_address_family_t af, af2;
  int rv;

  clib_memset (sp, 0, sizeof (*sp));
  if (cn_api_name_decode (in->name, sizeof (in->name), &sp->name))
    return VNET_API_ERROR_INVALID_VALUE;
  sp->outside_table_id = clib_net_to_host_u32 (in->outside_table_id);
  sp->port_min = clib_net_to_host_u16 (in->port_min);
  sp->port_max = clib_net_to_host_u16 (in->port_max);
  sp->block_size = clib_net_to_host_u16 (in->block_size);
  sp->max_blocks = clib_net_to_host_u16 (in->max_blocks_per_subscriber);
  sp->max_sessions = clib_net_to_host_u32 (in->max_sessions_per_subscriber);
  sp->reuse_delay = clib_net_to_host_u32 (in->reuse_delay);
  sp->filtering = in->filtering;
  if (sp->filtering > CN_FILTER_ENDPOINT)
    return VNET_API_ERROR_INVALID_ARGUMENT;
  sp->sw_if_index = clib_net_to_host_u32 (in->sw_if_index);
  sp->static_only = in->static_blocks_only;
  if (in->af != ADDRESS_IP4 && in->af != ADDRESS_IP6)
    return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
  sp->af = in->af == ADDRESS_IP6 ? AF_IP6 : AF_IP4;
  for (i = 0; i < n; i++)
    {
      cloudnat_range_t r;
      if ((rv = cn_api_address_decode (&in->ranges[i].first, &r.first, &af)) ||
	  (rv = cn_api_address_decode (&in->ranges[i].last, &r.last, &af2)))
	return rv;
      if (af != af2 || af != sp->af)
	return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
      vec_add1 (sp->ranges, r);
    }
  return 0;
}

static void
cn_api_pool_spec_free (cloudnat_pool_spec_t *sp)
{
  vec_free (sp->name);
  vec_free (sp->ranges);
}

void
vl_api_cloudnat_pool_add_update_t_handler (vl_api_cloudnat_pool_add_update_t *mp)
{
  vl_api_cloudnat_pool_add_update_reply_t *rmp;
  cloudnat_pool_spec_t sp;
  u32 index = ~0;
  int rv;

  if (!(rv = cn_api_pool_decode (&mp->pool, &sp)))
    rv = cloudnat_pool_add_update (&sp, &index);
  cn_api_pool_spec_free (&sp);
  REPLY_MACRO2 (VL_API_CLOUDNAT_POOL_ADD_UPDATE_REPLY,
		({ rmp->pool_index = clib_host_to_net_u32 (index); }));
}

void
vl_api_cloudnat_pool_del_t_handler (vl_api_cloudnat_pool_del_t *mp)
{
  vl_api_cloudnat_pool_del_reply_t *rmp;
  u8 *name = 0;
  int rv = VNET_API_ERROR_INVALID_VALUE;

  if (!cn_api_name_decode (mp->name, sizeof (mp->name), &name))
    rv = cloudnat_pool_del (name);
  vec_free (name);
  REPLY_MACRO (VL_API_CLOUDNAT_POOL_DEL_REPLY);
}

static walk_rc_t
cn_api_pool_send_details (const cloudnat_pool_info_t *info, void *arg)
{
  cn_api_dump_ctx_t *ctx = arg;
  const cloudnat_pool_spec_t *sp = info->spec;
  vl_api_cloudnat_pool_details_t *mp;
  u32 i, n = vec_len (sp->ranges);

  mp = cn_api_details_alloc (ctx, sizeof (*mp) + n * sizeof (mp->pool.ranges[0]),
			     VL_API_CLOUDNAT_POOL_DETAILS);
  cn_api_name_encode (sp->name, mp->pool.name, sizeof (mp->pool.name));
  mp->pool.outside_table_id = clib_host_to_net_u32 (sp->outside_table_id);
  mp->pool.port_min = clib_host_to_net_u16 (sp->port_min);
  mp->pool.port_max = clib_host_to_net_u16 (sp->port_max);
  mp->pool.block_size = clib_host_to_net_u16 (sp->block_size);
  mp->pool.max_blocks_per_subscriber = clib_host_to_net_u16 (sp->max_blocks);
  mp->pool.max_sessions_per_subscriber = clib_host_to_net_u32 (sp->max_sessions);
  mp->pool.reuse_delay = clib_host_to_net_u32 (sp->reuse_delay);
  mp->pool.filtering = sp->filtering;
  mp->pool.sw_if_index = clib_host_to_net_u32 (sp->sw_if_index);
  mp->pool.af = sp->af == AF_IP6 ? ADDRESS_IP6 : ADDRESS_IP4;
  mp->pool.static_blocks_only = sp->static_only;
  mp->pool.n_ranges = clib_host_to_net_u32 (n);
  for (i = 0; i < n; i++)
    {
      cn_api_address_encode (&sp->ranges[i].first, sp->af, &mp->pool.ranges[i].first);
      cn_api_address_encode (&sp->ranges[i].last, sp->af, &mp->pool.ranges[i].last);
    }
  mp->n_subscribers = clib_host_to_net_u32 (info->n_subscribers);
  mp->n_blocks = clib_host_to_net_u32 (info->n_blocks);
  mp->n_blocks_used = clib_host_to_net_u32 (info->n_blocks_used);
  mp->n_blocks_cooling = clib_host_to_net_u32 (info->n_blocks_cooling);
  mp->n_sessions = clib_host_to_net_u64 (info->n_sessions);
  mp->n_exhausted = clib_host_to_net_u64 (info->n_exhausted);
  vl_api_send_msg (ctx->rp, (u8 *) mp);
  return WALK_CONTINUE;
}

void
vl_api_cloudnat_pool_dump_t_handler (vl_api_cloudnat_pool_dump_t *mp)
{
  cn_api_dump_ctx_t ctx;
  if (cn_api_dump_ctx_init (&ctx, mp->client_index, mp->context))
    cloudnat_pool_walk (cn_api_pool_send_details, &ctx);
}

void
vl_api_cloudnat_pool_bind_add_del_t_handler (vl_api_cloudnat_pool_bind_add_del_t *mp)
{
  vl_api_cloudnat_pool_bind_add_del_reply_t *rmp;
  u32 table_id = clib_net_to_host_u32 (mp->table_id);
  ip46_address_t pfx;
  ip_address_family_t af;
  u8 len, *pool = 0;
  int rv;

  if ((rv = cn_api_prefix_decode (&mp->prefix, &pfx, &len, &af, 1 /* strict */)))
    goto done;
  if ((rv = cn_api_check_table (table_id, af)))
    goto done;
  if (cn_api_name_decode (mp->pool, sizeof (mp->pool), &pool) || (mp->is_add && !vec_len (pool)))
    {
      rv = VNET_API_ERROR_INVALID_VALUE;
      goto done;
    }
  rv = cloudnat_pool_bind (table_id, &pfx, len, af, pool, mp->is_add);
done:
  vec_free (pool);
  REPLY_MACRO (VL_API_CLOUDNAT_POOL_BIND_ADD_DEL_REPLY);
}

static walk_rc_t
cn_api_bind_send_details (u32 table_id, const ip46_address_t *pfx, u8 len, ip_address_family_t af,
			  const u8 *pool, void *arg)
{
  cn_api_dump_ctx_t *ctx = arg;
  vl_api_cloudnat_pool_bind_details_t *mp;

  mp = cn_api_details_alloc (ctx, sizeof (*mp), VL_API_CLOUDNAT_POOL_BIND_DETAILS);
  mp->table_id = clib_host_to_net_u32 (table_id);
  cn_api_prefix_encode (pfx, len, af, &mp->prefix);
  cn_api_name_encode (pool, mp->pool, sizeof (mp->pool));
  vl_api_send_msg (ctx->rp, (u8 *) mp);
  return WALK_CONTINUE;
}

void
vl_api_cloudnat_pool_bind_dump_t_handler (vl_api_cloudnat_pool_bind_dump_t *mp)
{
  cn_api_dump_ctx_t ctx;
  if (cn_api_dump_ctx_init (&ctx, mp->client_index, mp->context))
    cloudnat_pool_bind_walk (cn_api_bind_send_details, &ctx);
}

void
vl_api_cloudnat_subscriber_block_add_del_t_handler (vl_api_cloudnat_subscriber_block_add_del_t *mp)
{
  vl_api_cloudnat_subscriber_block_add_del_reply_t *rmp;
  u32 table_id = clib_net_to_host_u32 (mp->table_id);
  ip46_address_t in, out;
  ip_address_family_t af, af2;
  u8 *pool = 0;
  int rv;

  if ((rv = cn_api_address_decode (&mp->inside_addr, &in, &af)) ||
      (rv = cn_api_address_decode (&mp->outside_addr, &out, &af2)))
    goto done;
  if (af != af2)
    {
      rv = VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
      goto done;
    }
  if ((rv = cn_api_check_table (table_id, af)))
    goto done;
  if (cn_api_name_decode (mp->pool, sizeof (mp->pool), &pool) || !vec_len (pool))
    {
      rv = VNET_API_ERROR_INVALID_VALUE;
      goto done;
    }
  rv = cloudnat_subscriber_block_add_del (pool, table_id, &in, &out, af,
					  clib_net_to_host_u16 (mp->port_start), mp->is_add);
done:
  vec_free (pool);
  REPLY_MACRO (VL_API_CLOUDNAT_SUBSCRIBER_BLOCK_ADD_DEL_REPLY);
}

static walk_rc_t
cn_api_sub_send_details (const cloudnat_subscriber_info_t *s, void *arg)
{
  cn_api_dump_ctx_t *ctx = arg;
  vl_api_cloudnat_subscriber_details_t *mp;
  u32 i;

  mp = cn_api_details_alloc (ctx, sizeof (*mp) + s->n_blocks * sizeof (mp->blocks[0]),
			     VL_API_CLOUDNAT_SUBSCRIBER_DETAILS);
  cn_api_name_encode (s->pool, mp->pool, sizeof (mp->pool));
  mp->table_id = clib_host_to_net_u32 (s->table_id);
  cn_api_address_encode (&s->inside, s->af, &mp->inside_addr);
  cn_api_address_encode (&s->outside, s->af, &mp->outside_addr);
  mp->n_sessions = clib_host_to_net_u32 (s->n_sessions);
  mp->n_ports_in_use = clib_host_to_net_u32 (s->n_sessions);
  mp->n_blocks = s->n_blocks;
  for (i = 0; i < s->n_blocks; i++)
    {
      mp->blocks[i].port_start = clib_host_to_net_u16 (s->block_start[i]);
      mp->blocks[i].port_end = clib_host_to_net_u16 (s->block_end[i]);
      mp->blocks[i].is_static = s->block_static[i];
    }
  vl_api_send_msg (ctx->rp, (u8 *) mp);
  return WALK_CONTINUE;
}

void
vl_api_cloudnat_subscriber_dump_t_handler (vl_api_cloudnat_subscriber_dump_t *mp)
{
  cn_api_dump_ctx_t ctx;
  u8 *pool = 0;
  if (cn_api_name_decode (mp->pool, sizeof (mp->pool), &pool))
    return;
  if (cn_api_dump_ctx_init (&ctx, mp->client_index, mp->context))
    cloudnat_subscriber_walk (clib_net_to_host_u32 (mp->table_id), pool, cn_api_sub_send_details,
			      &ctx);
  vec_free (pool);
}

/* ------------------------------------------------------------------ */
/* block log                                                           */
/* ------------------------------------------------------------------ */

/* one consumer at a time (the agent) */
static struct
{
  u32 client_index; /* ~0: none */
  u32 pid;
} cn_log_consumer = { .client_index = ~0 };

void
vl_api_cloudnat_want_block_log_t_handler (vl_api_cloudnat_want_block_log_t *mp)
{
  vl_api_cloudnat_want_block_log_reply_t *rmp;
  int rv = 0;

  if (mp->enable)
    {
      cn_log_consumer.client_index = mp->client_index;
      cn_log_consumer.pid = clib_net_to_host_u32 (mp->pid);
    }
  else if (cn_log_consumer.client_index == mp->client_index)
    cn_log_consumer.client_index = ~0;
  REPLY_MACRO (VL_API_CLOUDNAT_WANT_BLOCK_LOG_REPLY);
}

int
cn_pool_log_deliver (const cloudnat_block_log_t *r, u64 n_lost)
{
  vl_api_registration_t *reg;
  vl_api_cloudnat_block_log_event_t *mp;

  if (cn_log_consumer.client_index == ~0)
    return 0;
  reg = vl_api_client_index_to_registration (cn_log_consumer.client_index);
  if (!reg)
    {
      /* the consumer went away */
      cn_log_consumer.client_index = ~0;
      return 0;
    }
  if (!vl_api_can_send_msg (reg))
    return -1;
  mp = vl_msg_api_alloc_zero (sizeof (*mp));
  mp->_vl_msg_id = clib_host_to_net_u16 (VL_API_CLOUDNAT_BLOCK_LOG_EVENT + cloudnat_main.msg_id_base);
  mp->client_index = cn_log_consumer.client_index;
  mp->pid = clib_host_to_net_u32 (cn_log_consumer.pid);
  mp->time_us = clib_host_to_net_u64 ((u64) (r->unix_time * 1e6));
  mp->is_alloc = r->is_alloc;
  mp->is_exhausted = r->is_exhausted;
  cn_api_name_encode (cloudnat_pool_name (r->pool_index), mp->pool, sizeof (mp->pool));
  mp->table_id = clib_host_to_net_u32 (r->table_id);
  cn_api_address_encode (&r->inside, r->af, &mp->inside_addr);
  cn_api_address_encode (&r->outside, r->af, &mp->outside_addr);
  mp->port_start = clib_host_to_net_u16 (r->port_start);
  mp->port_end = clib_host_to_net_u16 (r->port_end);
  mp->n_lost = clib_host_to_net_u64 (n_lost);
  vl_api_send_msg (reg, (u8 *) mp);
  return 1;
}
