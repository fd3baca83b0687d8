/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_snat_cli.c: vppctl commands for per-table source NAT ("cnat
 * snat with/del/exclude", "cnat show snat"), the simple case of the pool
 * machinery (docs/design.md). Same rules as cloudnat_cli.c.
 */

#include <strings.h>

#include <vnet/vnet.h>
#include <vnet/ip/ip.h>
#include <vnet/ip/ip_types.h>
#include <vnet/fib/fib_table.h>
#include <cloudnat/cloudnat.h>
#include <cloudnat/cloudnat_cli.h>
#include <cloudnat/cloudnat_pool.h> /* CN_FILTER_* */

/* ------------------------------------------------------------------ */
/* snat                                                                */
/* ------------------------------------------------------------------ */

static clib_error_t *
cn_cli_snat_with (vlib_main_t *vm, unformat_input_t *main_input, vlib_cli_command_t *cmd)
{
  const char *missing = "missing address: cnat snat with <addr> [<addr>...] [table <id>]";
  unformat_input_t _line, *line = &_line;
  clib_error_t *error = 0;
  ip_address_t ip, *addrs = 0, *a;
  u32 table_id = 0, n_done = 0, i;
  int rv;

  if (!unformat_user (main_input, unformat_line_input, line))
    return clib_error_return (0, "%s", missing);

  while (unformat_check_input (line) != UNFORMAT_END_OF_INPUT)
    {
      if (unformat (line, "table"))
	{
	  if ((error = cn_cli_unformat_u32 (line, "table", &table_id)))
	    goto done;
	}
      else if (unformat (line, "%U", unformat_ip_address, &ip))
	vec_add1 (addrs, ip);
      else
	{
	  error = clib_error_return (0, "expected an IPv4 or IPv6 address, got %U",
				     format_cn_cli_rest, line);
	  goto done;
	}
    }
  if (vec_len (addrs) == 0)
    {
      error = clib_error_return (0, "%s", missing);
      goto done;
    }
  vec_foreach (a, addrs)
    {
      ip46_address_t a46;
      ip_address_family_t af;

      cn_cli_ip_to_46 (a, &a46, &af);
      if ((error = cn_cli_check_table (table_id, af)))
	goto done;
      if (cn_cli_ip46_is_zero (&a46) || cn_cli_ip46_is_multicast (&a46, af) ||
	  (af == AF_IP4 && a46.ip4.as_u32 == 0xffffffff))
	{
	  error = clib_error_return (0,
				     "%U cannot be a source-NAT address (unspecified, "
				     "multicast or broadcast)",
				     format_ip_address, a);
	  goto done;
	}
    }
  vec_foreach (a, addrs)
    {
      ip46_address_t a46;
      ip_address_family_t af;

      cn_cli_ip_to_46 (a, &a46, &af);
      rv = cloudnat_snat_address_add_del (table_id, &a46, af, 1);
      if (rv)
	{
	  error = clib_error_return (0, "cnat snat with %U failed: %U (%d)", format_ip_address, a,
				     format_vnet_api_errno, rv, rv);
	  /* undo what this command added */
	  for (i = 0; i < n_done; i++)
	    {
	      cn_cli_ip_to_46 (&addrs[i], &a46, &af);
	      cloudnat_snat_address_add_del (table_id, &a46, af, 0);
	    }
	  goto done;
	}
      n_done++;
    }

done:
  vec_free (addrs);
  unformat_free (line);
  return error;
}

CLOUDNAT_CLI_COMMAND (cn_cli_snat_with_cmd) = {
  .path = "cnat snat with",
  .short_help = "cnat snat with <addr> [<addr>...] [table <id>]   (adds to the table's SNAT pool)",
  .function = cn_cli_snat_with,
};

static clib_error_t *
cn_cli_snat_del (vlib_main_t *vm, unformat_input_t *main_input, vlib_cli_command_t *cmd)
{
  const char *missing = "missing address: cnat snat del <addr> [table <id>]";
  unformat_input_t _line, *line = &_line;
  clib_error_t *error = 0;
  ip_address_t ip;
  ip46_address_t a46;
  ip_address_family_t af;
  u32 table_id = 0;
  u8 have_addr = 0;
  int rv;

  if (!unformat_user (main_input, unformat_line_input, line))
    return clib_error_return (0, "%s", missing);

  while (unformat_check_input (line) != UNFORMAT_END_OF_INPUT)
    {
      if (unformat (line, "table"))
	{
	  if ((error = cn_cli_unformat_u32 (line, "table", &table_id)))
	    goto done;
	}
      else if (!have_addr && unformat (line, "%U", unformat_ip_address, &ip))
	have_addr = 1;
      else
	{
	  error = clib_error_return (0, "unknown input %U", format_cn_cli_rest, line);
	  goto done;
	}
    }
  if (!have_addr)
    {
      error = clib_error_return (0, "%s", missing);
      goto done;
    }
  cn_cli_ip_to_46 (&ip, &a46, &af);
  if ((error = cn_cli_check_table (table_id, af)))
    goto done;
  rv = cloudnat_snat_address_add_del (table_id, &a46, af, 0);
  if (rv)
    error = cn_cli_rv_error (rv);

done:
  unformat_free (line);
  return error;
}

CLOUDNAT_CLI_COMMAND (cn_cli_snat_del_cmd) = {
  .path = "cnat snat del",
  .short_help = "cnat snat del <addr> [table <id>]",
  .function = cn_cli_snat_del,
};

static clib_error_t *
cn_cli_snat_exclude (vlib_main_t *vm, unformat_input_t *main_input, vlib_cli_command_t *cmd)
{
  const char *missing = "missing prefix: cnat snat exclude [del] <prefix> [table <id>]";
  unformat_input_t _line, *line = &_line;
  clib_error_t *error = 0;
  ip46_address_t pfx;
  ip_address_family_t af;
  u32 table_id = 0;
  u8 have_pfx = 0, is_add = 1, len = 0;
  int rv;

  if (!unformat_user (main_input, unformat_line_input, line))
    return clib_error_return (0, "%s", missing);

  while (unformat_check_input (line) != UNFORMAT_END_OF_INPUT)
    {
      if (unformat (line, "del"))
	is_add = 0;
      else if (unformat (line, "add"))
	is_add = 1;
      else if (unformat (line, "table"))
	{
	  if ((error = cn_cli_unformat_u32 (line, "table", &table_id)))
	    goto done;
	}
      else if (!have_pfx)
	{
	  if ((error = cn_cli_unformat_prefix (line, "exclude", &pfx, &len, &af, 0)))
	    goto done;
	  have_pfx = 1;
	}
      else
	{
	  error = clib_error_return (0, "unknown input %U", format_cn_cli_rest, line);
	  goto done;
	}
    }
  if (!have_pfx)
    {
      error = clib_error_return (0, "%s", missing);
      goto done;
    }
  if ((error = cn_cli_check_table (table_id, af)))
    goto done;
  rv = cloudnat_snat_exclude_add_del (table_id, &pfx, len, af, is_add);
  if (rv)
    error = cn_cli_rv_error (rv);

done:
  unformat_free (line);
  return error;
}

CLOUDNAT_CLI_COMMAND (cn_cli_snat_exclude_cmd) = {
  .path = "cnat snat exclude",
  .short_help = "cnat snat exclude [del] <prefix> [table <id>]",
  .function = cn_cli_snat_exclude,
};

/* cnat snat filtering address-port|address|endpoint [table <id>] */
static clib_error_t *
cn_cli_snat_filtering (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  u32 table_id = 0;
  int filtering = -1, rv;
  clib_error_t *error;

  while (unformat_check_input (input) != UNFORMAT_END_OF_INPUT)
    {
      if (unformat (input, "address-port"))
	filtering = CN_FILTER_ADDRESS_PORT;
      else if (unformat (input, "address"))
	filtering = CN_FILTER_ADDRESS;
      else if (unformat (input, "endpoint"))
	filtering = CN_FILTER_ENDPOINT;
      else if (unformat (input, "table"))
	{
	  if ((error = cn_cli_unformat_u32 (input, "table", &table_id)))
	    return error;
	}
      else
	return clib_error_return (0, "unknown input %U: expected address-port, address or endpoint",
				  format_cn_cli_rest, input);
    }
  if (filtering < 0)
    return clib_error_return (0, "missing filtering: cnat snat filtering "
				 "address-port|address|endpoint [table <id>]");
  if ((error = cn_cli_check_table_any (table_id)))
    return error;
  rv = cloudnat_snat_filtering_set (table_id, filtering);
  return rv ? cn_cli_rv_error (rv) : 0;
}

CLOUDNAT_CLI_COMMAND (cn_cli_snat_filtering_cmd) = {
  .path = "cnat snat filtering",
  .short_help = "cnat snat filtering address-port|address|endpoint [table <id>]",
  .function = cn_cli_snat_filtering,
};

static walk_rc_t
cn_cli_show_snat_addr_cb (u32 table_id, const ip46_address_t *addr, ip_address_family_t af,
			  void *arg)
{
  cn_cli_show_ctx_t *ctx = arg;
  u8 f = cloudnat_snat_filtering_get (table_id, af);

  vlib_cli_output (ctx->vm, "  table %u address %U%s", table_id, format_ip46_address, addr,
		   af == AF_IP6 ? IP46_TYPE_IP6 : IP46_TYPE_IP4,
		   f == CN_FILTER_ENDPOINT ? ", filtering endpoint" :
		   f == CN_FILTER_ADDRESS  ? ", filtering address" :
					     "");
  ctx->n++;
  return WALK_CONTINUE;
}

static walk_rc_t
cn_cli_show_snat_excl_cb (u32 table_id, const ip46_address_t *pfx, u8 len, ip_address_family_t af,
			  void *arg)
{
  cn_cli_show_ctx_t *ctx = arg;

  vlib_cli_output (ctx->vm, "  table %u exclude %U/%u", table_id, format_ip46_address, pfx,
		   af == AF_IP6 ? IP46_TYPE_IP6 : IP46_TYPE_IP4, len);
  ctx->n++;
  return WALK_CONTINUE;
}

static walk_rc_t
cn_cli_show_snat_if_cb (u32 sw_if_index, u8 is_ip6, void *arg)
{
  cn_cli_show_ctx_t *ctx = arg;
  int by_table = cloudnat_snat_interface_is_auto (sw_if_index, is_ip6);

  vlib_cli_output (ctx->vm, "  interface %U %s%s", format_vnet_sw_if_index_name, vnet_get_main (),
		   sw_if_index, is_ip6 ? "ip6-cnat-snat" : "ip4-cnat-snat",
		   by_table ? " (for its table's pools and static mappings)" : "");
  ctx->n++;
  return WALK_CONTINUE;
}

static clib_error_t *
cn_cli_show_snat (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  cn_cli_show_ctx_t ctx = { .vm = vm };
  clib_error_t *error;

  if ((error = cn_cli_no_args (input)))
    return error;
  vlib_cli_output (vm, "snat addresses:");
  cloudnat_snat_address_walk (cn_cli_show_snat_addr_cb, &ctx);
  if (!ctx.n)
    vlib_cli_output (vm, "  none");
  ctx.n = 0;
  vlib_cli_output (vm, "snat excludes:");
  cloudnat_snat_exclude_walk (cn_cli_show_snat_excl_cb, &ctx);
  if (!ctx.n)
    vlib_cli_output (vm, "  none");
  ctx.n = 0;
  vlib_cli_output (vm, "snat interfaces:");
  cloudnat_snat_interface_walk (cn_cli_show_snat_if_cb, &ctx);
  if (!ctx.n)
    vlib_cli_output (vm, "  none");
  return 0;
}

CLOUDNAT_CLI_COMMAND (cn_cli_show_snat_cmd) = {
  .path = "cnat show snat",
  .short_help = "cnat show snat",
  .function = cn_cli_show_snat,
};
