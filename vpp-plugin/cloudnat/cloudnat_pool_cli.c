/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_pool_cli.c: vppctl commands of pools (cloudnat_pool.h).
 *
 *   cnat pool add <name> [outside-table <id>]
 *        (range <a>[-<b>] | prefix <p/len> | interface <if>)...
 *        [ports <lo>-<hi>] [block-size <n>] [max-blocks <n>]
 *        [max-sessions <n>] [reuse-delay <s>]
 *        [filtering address-port|address|endpoint]
 *   cnat pool del <name>
 *   cnat pool bind <name> table <id> <prefix> [del]
 *   cnat pool block <name> table <id> inside <addr> outside <addr>
 *        port <start> [del]
 *   cnat show pool
 *   cnat show subscribers [table <id>] [pool <name>]
 *   cnat show pool log
 */

#include <vnet/vnet.h>
#include <vnet/ip/ip.h>
#include <cloudnat/cloudnat.h>
#include <cloudnat/cloudnat_pool.h>

static clib_error_t *
cn_pool_error (int rv, const char *what)
{
  switch (rv)
    {
    case 0:
      return 0;
    case VNET_API_ERROR_NO_SUCH_FIB:
      return clib_error_return (0, "%s: no such table", what);
    case VNET_API_ERROR_NO_SUCH_ENTRY:
      return clib_error_return (0, "%s: no such pool (or bound to another pool)", what);
    case VNET_API_ERROR_INSTANCE_IN_USE:
      return clib_error_return (0, "%s: the pool is still bound (cnat pool bind ... del first)",
				what);
    case VNET_API_ERROR_ENTRY_ALREADY_EXISTS:
      return clib_error_return (0, "%s: overlaps another binding of the table", what);
    case VNET_API_ERROR_INVALID_VALUE:
      return clib_error_return (0, "%s: bad name ([a-zA-Z0-9._-], 1-%u) or value", what,
				CN_POOL_NAME_MAX);
    case VNET_API_ERROR_INVALID_VALUE_2:
      return clib_error_return (0, "%s: bad port range", what);
    case VNET_API_ERROR_INVALID_VALUE_3:
      return clib_error_return (
	0, "%s: block size must be a power of two no larger than the port range", what);
    case VNET_API_ERROR_INVALID_VALUE_4:
      return clib_error_return (0, "%s: max-blocks above %u or reuse-delay too long", what,
				CN_SUB_MAX_BLOCKS);
    case VNET_API_ERROR_INVALID_ADDRESS_FAMILY:
      return clib_error_return (0, "%s: addresses of another family", what);
    case VNET_API_ERROR_INVALID_SRC_ADDRESS:
      return clib_error_return (0, "%s: no usable address (zero, multicast or none)", what);
    case VNET_API_ERROR_UNIMPLEMENTED:
      return clib_error_return (0, "%s: unknown filtering", what);
    case VNET_API_ERROR_ADDRESS_IN_USE:
      if (!strcmp (what, "cnat pool block"))
	return clib_error_return (0, "%s: that block belongs to another subscriber", what);
      return clib_error_return (0, "%s: an address is a static mapping's (one mode per address)",
				what);
    default:
      return clib_error_return (0, "%s: %U", what, format_vnet_api_errno, rv);
    }
}

static int
cn_cli_addr_af (const ip46_address_t *a)
{
  return ip46_address_is_ip4 (a) ? AF_IP4 : AF_IP6;
}

static clib_error_t *
cn_pool_add_cli (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  cloudnat_pool_spec_t sp = { .sw_if_index = ~0, .af = N_AF,
			      .reuse_delay = CN_POOL_DEFAULT_REUSE };
  vnet_main_t *vnm = vnet_get_main ();
  clib_error_t *err = 0;
  u32 lo, hi, v, len;
  ip46_address_t a, b;
  int rv;

  if (!unformat (input, "%s", &sp.name))
    return clib_error_return (0, "give the pool a name");
  vec_del1 (sp.name, vec_len (sp.name) - 1); /* %s NUL-terminates */
  while (unformat_check_input (input) != UNFORMAT_END_OF_INPUT)
    {
      cloudnat_range_t r;
      if (unformat (input, "outside-table %u", &sp.outside_table_id))
	;
      else if (unformat (input, "range %U-%U", unformat_ip46_address, &a, IP46_TYPE_ANY,
			 unformat_ip46_address, &b, IP46_TYPE_ANY) ||
	       (unformat (input, "range %U", unformat_ip46_address, &a, IP46_TYPE_ANY) &&
		(b = a, 1)))
	{
	  r.first = a;
	  r.last = b;
	  sp.af = cn_cli_addr_af (&a);
	  vec_add1 (sp.ranges, r);
	}
      else if (unformat (input, "prefix %U/%u", unformat_ip46_address, &a, IP46_TYPE_ANY, &len))
	{
	  sp.af = cn_cli_addr_af (&a);
	  if (sp.af == AF_IP4 && len <= 32 && len >= 16)
	    {
	      u32 m = len ? ~0u << (32 - len) : 0, x = clib_net_to_host_u32 (a.ip4.as_u32) & m;
	      r.first = r.last = a;
	      r.first.ip4.as_u32 = clib_host_to_net_u32 (x);
	      r.last.ip4.as_u32 = clib_host_to_net_u32 (x | ~m);
	      vec_add1 (sp.ranges, r);
	    }
	  else
	    {
	      err = clib_error_return (0, "prefix: IPv4 /16 to /32 (use ranges for IPv6)");
	      goto done;
	    }
	}
      else if (unformat (input, "interface %U", unformat_vnet_sw_interface, vnm, &sp.sw_if_index))
	;
      else if (unformat (input, "ip6"))
	sp.af = AF_IP6;
      else if (unformat (input, "ports %u-%u", &lo, &hi))
	{
	  if (lo > 65535 || hi > 65535)
	    {
	      err = clib_error_return (0, "ports: 1-65535");
	      goto done;
	    }
	  sp.port_min = lo;
	  sp.port_max = hi;
	}
      else if (unformat (input, "block-size %u", &v) && v <= 65535)
	sp.block_size = v;
      else if (unformat (input, "max-blocks %u", &v) && v <= 65535)
	sp.max_blocks = v;
      else if (unformat (input, "max-sessions %u", &sp.max_sessions))
	;
      else if (unformat (input, "reuse-delay %u", &sp.reuse_delay))
	;
      else if (unformat (input, "static-only"))
	sp.static_only = 1;
      else if (unformat (input, "filtering address-port"))
	sp.filtering = CN_FILTER_ADDRESS_PORT;
      else if (unformat (input, "filtering address"))
	sp.filtering = CN_FILTER_ADDRESS;
      else if (unformat (input, "filtering endpoint"))
	sp.filtering = CN_FILTER_ENDPOINT;
      else
	{
	  err = clib_error_return (0, "unknown input '%U'", format_unformat_error, input);
	  goto done;
	}
    }
  if (sp.af == N_AF)
    sp.af = AF_IP4;
  rv = cloudnat_pool_add_update (&sp, 0);
  err = cn_pool_error (rv, "cnat pool add");
done:
  vec_free (sp.name);
  vec_free (sp.ranges);
  return err;
}

CLOUDNAT_CLI_COMMAND (cn_pool_add_command) = {
  .path = "cnat pool add",
  .short_help = "cnat pool add <name> [outside-table <id>] (range <a>[-<b>] | prefix <p/len> | "
		"interface <if> [ip6])... [ports <lo>-<hi>] [block-size <n>] [max-blocks <n>] "
		"[max-sessions <n>] [reuse-delay <s>] [static-only] [filtering address-port|address|endpoint]",
  .function = cn_pool_add_cli,
};

static clib_error_t *
cn_pool_del_cli (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  u8 *name = 0;
  clib_error_t *err;
  if (!unformat (input, "%s", &name))
    return clib_error_return (0, "which pool?");
  vec_del1 (name, vec_len (name) - 1);
  err = cn_pool_error (cloudnat_pool_del (name), "cnat pool del");
  vec_free (name);
  return err;
}

CLOUDNAT_CLI_COMMAND (cn_pool_del_command) = {
  .path = "cnat pool del",
  .short_help = "cnat pool del <name>",
  .function = cn_pool_del_cli,
};

static clib_error_t *
cn_pool_bind_cli (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  u8 *name = 0;
  u32 table_id = ~0, len = ~0;
  ip46_address_t pfx;
  int is_add = 1;
  clib_error_t *err;

  if (!unformat (input, "%s", &name))
    return clib_error_return (0, "which pool?");
  vec_del1 (name, vec_len (name) - 1);
  while (unformat_check_input (input) != UNFORMAT_END_OF_INPUT)
    {
      if (unformat (input, "table %u", &table_id))
	;
      else if (unformat (input, "%U/%u", unformat_ip46_address, &pfx, IP46_TYPE_ANY, &len))
	;
      else if (unformat (input, "del"))
	is_add = 0;
      else
	{
	  vec_free (name);
	  return clib_error_return (0, "unknown input '%U'", format_unformat_error, input);
	}
    }
  if (table_id == ~0 || len == ~0 || len > 128)
    err = clib_error_return (0, "usage: cnat pool bind <name> table <id> <prefix> [del]");
  else
    err = cn_pool_error (cloudnat_pool_bind (table_id, &pfx, len, cn_cli_addr_af (&pfx), name,
					     is_add),
			 "cnat pool bind");
  vec_free (name);
  return err;
}

CLOUDNAT_CLI_COMMAND (cn_pool_bind_command) = {
  .path = "cnat pool bind",
  .short_help = "cnat pool bind <name> table <id> <prefix> [del]",
  .function = cn_pool_bind_cli,
};

static clib_error_t *
cn_pool_block_cli (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  u8 *name = 0;
  u32 table_id = ~0, port = ~0;
  ip46_address_t in = { 0 }, out = { 0 };
  int is_add = 1, have_in = 0, have_out = 0;
  clib_error_t *err;

  if (!unformat (input, "%s", &name))
    return clib_error_return (0, "which pool?");
  vec_del1 (name, vec_len (name) - 1);
  while (unformat_check_input (input) != UNFORMAT_END_OF_INPUT)
    {
      if (unformat (input, "table %u", &table_id))
	;
      else if (unformat (input, "inside %U", unformat_ip46_address, &in, IP46_TYPE_ANY))
	have_in = 1;
      else if (unformat (input, "outside %U", unformat_ip46_address, &out, IP46_TYPE_ANY))
	have_out = 1;
      else if (unformat (input, "port %u", &port))
	;
      else if (unformat (input, "del"))
	is_add = 0;
      else
	{
	  vec_free (name);
	  return clib_error_return (0, "unknown input '%U'", format_unformat_error, input);
	}
    }
  if (table_id == ~0 || !have_in || !have_out || port > 65535)
    err = clib_error_return (
      0, "usage: cnat pool block <name> table <id> inside <addr> outside <addr> port <start> [del]");
  else
    err = cn_pool_error (cloudnat_subscriber_block_add_del (name, table_id, &in, &out,
							     cn_cli_addr_af (&in), port, is_add),
			 "cnat pool block");
  vec_free (name);
  return err;
}

CLOUDNAT_CLI_COMMAND (cn_pool_block_command) = {
  .path = "cnat pool block",
  .short_help =
    "cnat pool block <name> table <id> inside <addr> outside <addr> port <start> [del]",
  .function = cn_pool_block_cli,
};

static walk_rc_t
cn_pool_show_one (const cloudnat_pool_info_t *in, void *arg)
{
  vlib_main_t *vm = arg;
  const cloudnat_pool_spec_t *sp = in->spec;
  cloudnat_range_t *r;
  ip46_type_t t = sp->af == AF_IP6 ? IP46_TYPE_IP6 : IP46_TYPE_IP4;

  vlib_cli_output (vm,
		   "[%u] %v: outside table %u, ports %u-%u, block %u, max-blocks %u, "
		   "max-sessions %u, reuse-delay %us, filtering %s%s",
		   in->index, sp->name, sp->outside_table_id, sp->port_min, sp->port_max,
		   sp->block_size, sp->max_blocks, sp->max_sessions, sp->reuse_delay,
		   sp->filtering == CN_FILTER_ENDPOINT ? "endpoint" :
		   sp->filtering == CN_FILTER_ADDRESS  ? "address" :
							 "address-port",
		   sp->static_only ? ", static blocks only" : "");
  if (sp->sw_if_index != ~0)
    vlib_cli_output (vm, "  addresses of %U", format_vnet_sw_if_index_name, vnet_get_main (),
		     sp->sw_if_index);
  vec_foreach (r, sp->ranges)
    vlib_cli_output (vm, "  range %U - %U", format_ip46_address, &r->first, t,
		     format_ip46_address, &r->last, t);
  vlib_cli_output (vm,
		   "  %u addresses, %u blocks: %u used, %u cooling; %u subscribers, %lu "
		   "sessions, %lu exhausted",
		   in->n_addrs, in->n_blocks, in->n_blocks_used, in->n_blocks_cooling,
		   in->n_subscribers, in->n_sessions, in->n_exhausted);
  return WALK_CONTINUE;
}

static walk_rc_t
cn_pool_show_bind (u32 table_id, const ip46_address_t *pfx, u8 len, ip_address_family_t af,
		   const u8 *pool, void *arg)
{
  vlib_main_t *vm = arg;
  vlib_cli_output (vm, "  bind table %u %U/%u -> %v", table_id, format_ip46_address, pfx,
		   af == AF_IP6 ? IP46_TYPE_IP6 : IP46_TYPE_IP4, len, pool);
  return WALK_CONTINUE;
}

static clib_error_t *
cn_pool_show_cli (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  if (unformat (input, "log"))
    {
      cloudnat_block_log_t *recs = 0, *r;
      cloudnat_block_log_history (&recs);
      vec_foreach (r, recs)
	{
	  ip46_type_t t = r->af == AF_IP6 ? IP46_TYPE_IP6 : IP46_TYPE_IP4;
	  vlib_cli_output (vm, "%.6f %s pool %v table %u %U -> %U ports %u-%u", r->unix_time,
			   r->is_exhausted ? "exhausted" :
			   r->is_alloc	   ? "alloc" :
					     "release",
			   cloudnat_pool_name (r->pool_index),
			   r->table_id, format_ip46_address, &r->inside, t, format_ip46_address,
			   &r->outside, t, r->port_start, r->port_end);
	}
      vlib_cli_output (vm, "%u records shown, %lu lost", vec_len (recs),
		       cloudnat_block_log_lost ());
      vec_free (recs);
      return 0;
    }
  cloudnat_pool_walk (cn_pool_show_one, vm);
  cloudnat_pool_bind_walk (cn_pool_show_bind, vm);
  return 0;
}

CLOUDNAT_CLI_COMMAND (cn_pool_show_command) = {
  .path = "cnat show pool",
  .short_help = "cnat show pool [log]",
  .function = cn_pool_show_cli,
};

static walk_rc_t
cn_sub_show_one (const cloudnat_subscriber_info_t *s, void *arg)
{
  vlib_main_t *vm = arg;
  ip46_type_t t = s->af == AF_IP6 ? IP46_TYPE_IP6 : IP46_TYPE_IP4;
  u8 *blocks = 0;
  u32 i;
  for (i = 0; i < s->n_blocks; i++)
    blocks = format (blocks, "%s%u-%u%s", i ? ", " : "", s->block_start[i], s->block_end[i],
		     s->block_static[i] ? " (static)" : "");
  vlib_cli_output (vm, "%v table %u %U -> %U: %u sessions, blocks %v", s->pool, s->table_id,
		   format_ip46_address, &s->inside, t, format_ip46_address, &s->outside, t,
		   s->n_sessions, blocks);
  vec_free (blocks);
  return WALK_CONTINUE;
}

static clib_error_t *
cn_sub_show_cli (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  u32 table_id = ~0;
  u8 *pool = 0;
  while (unformat_check_input (input) != UNFORMAT_END_OF_INPUT)
    {
      if (unformat (input, "table %u", &table_id))
	;
      else if (unformat (input, "pool %s", &pool))
	vec_del1 (pool, vec_len (pool) - 1);
      else
	return clib_error_return (0, "unknown input '%U'", format_unformat_error, input);
    }
  cloudnat_subscriber_walk (table_id, pool, cn_sub_show_one, vm);
  vec_free (pool);
  return 0;
}

CLOUDNAT_CLI_COMMAND (cn_sub_show_command) = {
  .path = "cnat show subscribers",
  .short_help = "cnat show subscribers [table <id>] [pool <name>]",
  .function = cn_sub_show_cli,
};
