/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_session_cli.c: vppctl commands for sessions (show, delete,
 * purge, limits), timeouts and the test clock. Same rules as
 * cloudnat_cli.c: the whole input is checked before anything changes.
 */

#include <strings.h>

#include <vnet/vnet.h>
#include <vnet/ip/ip.h>
#include <vnet/ip/ip_types.h>
#include <vnet/fib/fib_table.h>
#include <cloudnat/cloudnat.h>
#include <cloudnat/cloudnat_cli.h>

/* ------------------------------------------------------------------ */
/* show session                                                        */
/* ------------------------------------------------------------------ */

typedef struct
{
  vlib_main_t *vm;
  u8 verbose;
  u32 n;
  uword *by_table; /* table id -> count */
  u32 by_proto[4]; /* tcp udp icmp icmp6 */
  u32 n_dnat, n_snat;
} cn_cli_show_session_ctx_t;

static walk_rc_t
cn_cli_show_session_cb (const cloudnat_session_view_t *v, void *arg)
{
  cn_cli_show_session_ctx_t *ctx = arg;
  uword *p;

  ctx->n++;
  if (ctx->verbose)
    {
      vlib_cli_output (ctx->vm, "%U", format_cn_cli_session, v);
      return WALK_CONTINUE;
    }
  p = hash_get (ctx->by_table, v->table_id);
  hash_set (ctx->by_table, v->table_id, (p ? p[0] : 0) + 1);
  switch (v->proto)
    {
    case IP_PROTOCOL_TCP:
      ctx->by_proto[0]++;
      break;
    case IP_PROTOCOL_UDP:
      ctx->by_proto[1]++;
      break;
    case IP_PROTOCOL_ICMP:
      ctx->by_proto[2]++;
      break;
    case IP_PROTOCOL_ICMP6:
      ctx->by_proto[3]++;
      break;
    }
  if (v->flags & CN_SESSION_F_DNAT)
    ctx->n_dnat++;
  if (v->flags & CN_SESSION_F_SNAT)
    ctx->n_snat++;
  return WALK_CONTINUE;
}

static walk_rc_t
cn_cli_show_limit_cb (u32 table_id, u32 max_sessions, u32 n_sessions, void *arg)
{
  cn_cli_show_session_ctx_t *ctx = arg;

  if (table_id == ~0)
    vlib_cli_output (ctx->vm, "limit: global %u%s, %u sessions", max_sessions,
		     max_sessions ? "" : " (unlimited)", n_sessions);
  else if (max_sessions)
    vlib_cli_output (ctx->vm, "limit: table %u %u, %u sessions", table_id, max_sessions,
		     n_sessions);
  return WALK_CONTINUE;
}

static int
cn_cli_u32_cmp (void *a1, void *a2)
{
  u32 a = *(u32 *) a1, b = *(u32 *) a2;
  return a < b ? -1 : a > b;
}

static clib_error_t *
cn_cli_show_session (vlib_main_t *vm, unformat_input_t *main_input, vlib_cli_command_t *cmd)
{
  unformat_input_t _line, *line = &_line;
  cn_cli_show_session_ctx_t ctx = { .vm = vm };
  cloudnat_session_filter_t f = { .table_id = ~0 };
  clib_error_t *error = 0;
  u8 have_line, have_table = 0, proto = 0;
  int rv;

  have_line = unformat_user (main_input, unformat_line_input, line);
  while (have_line && unformat_check_input (line) != UNFORMAT_END_OF_INPUT)
    {
      if (unformat (line, "verbose"))
	ctx.verbose = 1;
      else if (unformat (line, "table"))
	{
	  if ((error = cn_cli_unformat_u32 (line, "table", &f.table_id)))
	    goto done;
	  have_table = 1;
	}
      else if (unformat (line, "proto"))
	{
	  if ((error = cn_cli_unformat_proto (line, &proto)))
	    goto done;
	}
      else if (unformat (line, "addr"))
	{
	  if ((error = cn_cli_unformat_prefix (line, "addr", &f.addr, &f.addr_len, &f.af, 1)))
	    goto done;
	  if (f.addr_len == 0)
	    {
	      error = clib_error_return (0, "addr: a /0 prefix matches everything; leave 'addr' "
					    "out instead");
	      goto done;
	    }
	}
      else if (unformat (line, "port"))
	{
	  if ((error = cn_cli_unformat_port (line, "port", &f.port)))
	    goto done;
	}
      else
	{
	  error = clib_error_return (0, "unknown input %U", format_cn_cli_rest, line);
	  goto done;
	}
    }

  if (have_table && (error = cn_cli_check_table_any (f.table_id)))
    goto done;
  if (proto == IP_PROTOCOL_ICMP6 && f.addr_len && f.af == AF_IP4)
    {
      error = clib_error_return (0, "protocol icmp6 used with an IPv4 address: use icmp");
      goto done;
    }
  if (proto == IP_PROTOCOL_ICMP && f.addr_len && f.af == AF_IP6)
    proto = IP_PROTOCOL_ICMP6;
  f.proto = proto;

  /* "icmp" without an address: echo of both families (the walk does it) */
  rv = cloudnat_session_walk (&f, cn_cli_show_session_cb, &ctx);
  if (rv)
    {
      error = cn_cli_rv_error (rv);
      goto done;
    }

  if (ctx.verbose)
    {
      if (ctx.n == 0)
	vlib_cli_output (vm, "no sessions");
      goto done;
    }

  vlib_cli_output (vm, "sessions: %u (dnat %u, snat %u)", ctx.n, ctx.n_dnat, ctx.n_snat);
  vlib_cli_output (vm, "by protocol: tcp %u udp %u icmp %u icmp6 %u", ctx.by_proto[0],
		   ctx.by_proto[1], ctx.by_proto[2], ctx.by_proto[3]);
  {
    u32 *tables = 0, *t;
    hash_pair_t *hp;

    hash_foreach_pair (hp, ctx.by_table, ({ vec_add1 (tables, hp->key); }));
    vec_sort_with_function (tables, cn_cli_u32_cmp);
    vec_foreach (t, tables)
      {
	uword *p = hash_get (ctx.by_table, *t);
	vlib_cli_output (vm, "table %u: %u", *t, (u32) p[0]);
      }
    vec_free (tables);
  }
  cloudnat_session_limit_walk (cn_cli_show_limit_cb, &ctx);
  {
    /* the tables do not grow (startup.conf session-buckets): show how
       full they are */
    cloudnat_session_table_info_t ti;
    ip_address_family_t af;
    FOR_EACH_IP_ADDRESS_FAMILY (af)
    {
      cloudnat_session_table_info (af, &ti);
      if (!ti.n_buckets)
	continue;
      vlib_cli_output (vm,
		       "%s session table: %u buckets (%llu MB), %llu entries = %.1f%% of slots, "
		       "%llu buckets spilled (max %u further)",
		       af == AF_IP4 ? "ip4" : "ip6", ti.n_buckets, ti.bytes >> 20, ti.n_entries,
		       100.0 * ti.n_entries / (f64) ti.n_slots,
		       ti.n_spilled, ti.max_displacement);
    }
  }

done:
  hash_free (ctx.by_table);
  if (have_line)
    unformat_free (line);
  return error;
}

#define CN_CLI_SHOW_SESSION_HELP                                                                   \
  "[verbose] [table <id>] [proto <tcp|udp|icmp>] [addr <prefix>] [port <n>]"

CLOUDNAT_CLI_COMMAND (cn_cli_show_session_cmd) = {
  .path = "cnat show session",
  .short_help = "cnat show session " CN_CLI_SHOW_SESSION_HELP,
  .function = cn_cli_show_session,
};

CLOUDNAT_CLI_COMMAND (cn_cli_show_session_alias_cmd) = {
  .path = "show cnat session",
  .short_help = "show cnat session " CN_CLI_SHOW_SESSION_HELP,
  .function = cn_cli_show_session,
};

/* ------------------------------------------------------------------ */
/* session delete / purge / limit                                      */
/* ------------------------------------------------------------------ */

static clib_error_t *
cn_cli_session_delete (vlib_main_t *vm, unformat_input_t *main_input, vlib_cli_command_t *cmd)
{
  unformat_input_t _line, *line = &_line;
  clib_error_t *error = 0;
  ip_address_t src, dst;
  ip46_address_t src46, dst46;
  ip_address_family_t saf, daf;
  u8 have_proto = 0, have_tuple = 0, proto = 0;
  u32 table_id = 0;
  u16 sport = 0, dport = 0;
  int rv;

  if (!unformat_user (main_input, unformat_line_input, line))
    return clib_error_return (0, "missing arguments: [table <id>] proto <p> <src> <sport> <dst> "
				 "<dport>");

  while (unformat_check_input (line) != UNFORMAT_END_OF_INPUT)
    {
      if (unformat (line, "table"))
	{
	  if ((error = cn_cli_unformat_u32 (line, "table", &table_id)))
	    goto done;
	}
      else if (unformat (line, "proto"))
	{
	  if ((error = cn_cli_unformat_proto (line, &proto)))
	    goto done;
	  have_proto = 1;
	}
      else if (!have_tuple && unformat (line, "%U", unformat_ip_address, &src))
	{
	  if ((error = cn_cli_unformat_port (line, "source port", &sport)))
	    goto done;
	  if (!unformat (line, "%U", unformat_ip_address, &dst))
	    {
	      error = clib_error_return (0,
					 "expected the destination address after the source "
					 "port, got %U",
					 format_cn_cli_rest, line);
	      goto done;
	    }
	  if ((error = cn_cli_unformat_port (line, "destination port", &dport)))
	    goto done;
	  have_tuple = 1;
	}
      else
	{
	  error = clib_error_return (0, "unknown input %U", format_cn_cli_rest, line);
	  goto done;
	}
    }

  if (!have_proto)
    {
      error = clib_error_return (0, "missing 'proto <tcp|udp|icmp>'");
      goto done;
    }
  if (!have_tuple)
    {
      error = clib_error_return (0, "missing the flow: <src> <sport> <dst> <dport> (icmp: the "
				    "echo id as both ports)");
      goto done;
    }
  cn_cli_ip_to_46 (&src, &src46, &saf);
  cn_cli_ip_to_46 (&dst, &dst46, &daf);
  if (saf != daf)
    {
      error =
	clib_error_return (0, "source %U is %s but destination %U is %s", format_ip_address, &src,
			   cn_cli_af_name (saf), format_ip_address, &dst, cn_cli_af_name (daf));
      goto done;
    }
  if ((error = cn_cli_proto_fix_family (&proto, saf)))
    goto done;
  if ((error = cn_cli_check_table (table_id, saf)))
    goto done;
  rv = cloudnat_session_delete (table_id, proto, &src46, sport, &dst46, dport, saf);
  if (rv)
    error = cn_cli_rv_error (rv);

done:
  unformat_free (line);
  return error;
}

CLOUDNAT_CLI_COMMAND (cn_cli_session_delete_cmd) = {
  .path = "cnat session delete",
  .short_help = "cnat session delete [table <id>] proto <tcp|udp|icmp> <src> <sport> <dst> <dport>",
  .function = cn_cli_session_delete,
};

static clib_error_t *
cn_cli_session_purge (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  clib_error_t *error;
  u32 table_id = ~0, n;

  if ((error = cn_cli_unformat_opt_table_any (input, &table_id)))
    return error;
  if (unformat_check_input (input) != UNFORMAT_END_OF_INPUT)
    return clib_error_return (0, "unknown input %U", format_cn_cli_rest, input);
  n = cloudnat_session_purge (table_id);
  vlib_cli_output (vm, "%u sessions deleted", n);
  return 0;
}

CLOUDNAT_CLI_COMMAND (cn_cli_session_purge_cmd) = {
  .path = "cnat session purge",
  .short_help = "cnat session purge [table <id>]",
  .function = cn_cli_session_purge,
};

static clib_error_t *
cn_cli_session_limit (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  clib_error_t *error;
  u32 table_id = ~0, max;
  int rv;

  if (!unformat (input, "%u", &max))
    return clib_error_return (0,
			      "expected the maximum number of sessions (0 = unlimited), got "
			      "%U",
			      format_cn_cli_rest, input);
  if ((error = cn_cli_unformat_opt_table_any (input, &table_id)))
    return error;
  if (unformat_check_input (input) != UNFORMAT_END_OF_INPUT)
    return clib_error_return (0, "unknown input %U", format_cn_cli_rest, input);
  rv = cloudnat_session_limit_set (table_id, max);
  if (rv)
    return cn_cli_rv_error (rv);
  return 0;
}

CLOUDNAT_CLI_COMMAND (cn_cli_session_limit_cmd) = {
  .path = "cnat session limit",
  .short_help = "cnat session limit <n> [table <id>]   (0 = unlimited; without table: global)",
  .function = cn_cli_session_limit,
};


/* ------------------------------------------------------------------ */
/* timeouts                                                            */
/* ------------------------------------------------------------------ */

static clib_error_t *
cn_cli_timeouts (vlib_main_t *vm, unformat_input_t *main_input, vlib_cli_command_t *cmd)
{
  unformat_input_t _line, *line = &_line;
  clib_error_t *error = 0;
  cloudnat_timeouts_t t = {};
  u32 *field, v;
  const char *name;
  int rv;

  if (!unformat_user (main_input, unformat_line_input, line))
    return clib_error_return (0, "expected at least one of: udp <s>, tcp-established <s>, "
				 "tcp-transitory <s>, icmp <s>");

  while (unformat_check_input (line) != UNFORMAT_END_OF_INPUT)
    {
      if (unformat (line, "udp"))
	field = &t.udp, name = "udp";
      else if (unformat (line, "tcp-established"))
	field = &t.tcp_established, name = "tcp-established";
      else if (unformat (line, "tcp-transitory"))
	field = &t.tcp_transitory, name = "tcp-transitory";
      else if (unformat (line, "icmp"))
	field = &t.icmp, name = "icmp";
      else
	{
	  error = clib_error_return (0,
				     "unknown input %U: expected udp, tcp-established, "
				     "tcp-transitory or icmp",
				     format_cn_cli_rest, line);
	  goto done;
	}
      if (!unformat (line, "%u", &v))
	{
	  error = clib_error_return (0, "'%s' needs a number of seconds, got %U", name,
				     format_cn_cli_rest, line);
	  goto done;
	}
      if (v == 0)
	{
	  error = clib_error_return (0, "%s timeout 0 invalid: expected at least 1 second", name);
	  goto done;
	}
      *field = v;
    }

  rv = cloudnat_timeouts_set (&t);
  if (rv == VNET_API_ERROR_INVALID_VALUE)
    error = clib_error_return (0, "a value is above the plugin's maximum timeout");
  else if (rv)
    error = cn_cli_rv_error (rv);

done:
  unformat_free (line);
  return error;
}

CLOUDNAT_CLI_COMMAND (cn_cli_timeouts_cmd) = {
  .path = "cnat timeouts",
  .short_help = "cnat timeouts [udp <s>] [tcp-established <s>] [tcp-transitory <s>] [icmp <s>]",
  .function = cn_cli_timeouts,
};

static clib_error_t *
cn_cli_show_timeouts (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  cloudnat_timeouts_t t;
  clib_error_t *error;

  if ((error = cn_cli_no_args (input)))
    return error;
  cloudnat_timeouts_get (&t);
  vlib_cli_output (vm, "udp %us", t.udp);
  vlib_cli_output (vm, "tcp-established %us", t.tcp_established);
  vlib_cli_output (vm, "tcp-transitory %us", t.tcp_transitory);
  vlib_cli_output (vm, "icmp %us", t.icmp);
  return 0;
}

CLOUDNAT_CLI_COMMAND (cn_cli_show_timeouts_cmd) = {
  .path = "cnat show timeouts",
  .short_help = "cnat show timeouts",
  .function = cn_cli_show_timeouts,
};

/* ------------------------------------------------------------------ */
/* test clock                                                          */
/* ------------------------------------------------------------------ */

static clib_error_t *
cn_cli_clock_advance (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  u32 seconds;
  int rv;

  if (!unformat (input, "%u", &seconds))
    return clib_error_return (0, "expected a number of seconds, got %U", format_cn_cli_rest, input);
  if (unformat_check_input (input) != UNFORMAT_END_OF_INPUT)
    return clib_error_return (0, "unknown input %U", format_cn_cli_rest, input);
  rv = cloudnat_clock_advance (seconds);
  if (rv)
    return cn_cli_rv_error (rv);
  vlib_cli_output (vm, "clock offset %llus", cloudnat_main.clock_offset);
  return 0;
}

CLOUDNAT_CLI_COMMAND (cn_cli_clock_advance_cmd) = {
  .path = "test cnat clock advance",
  .short_help = "test cnat clock advance <seconds>",
  .function = cn_cli_clock_advance,
};
