/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_cli.c: the plugin's vppctl commands.
 *
 * Every command parses and checks its whole input before it changes
 * anything; a bad input returns an error saying what was wrong and leaves
 * the state as it was. The commands are registered through
 * CLOUDNAT_CLI_COMMAND (see cloudnat.h) because VPP's cnat plugin owns some
 * of the same words.
 */

#include <strings.h>

#include <vnet/vnet.h>
#include <vnet/ip/ip.h>
#include <vnet/ip/ip_types.h>
#include <vnet/fib/fib_table.h>
#include <cloudnat/cloudnat.h>
#include <cn_lb.h> /* cn_is_prime: the Maglev table length check */

/* Front-end limit on backends per translation (the binary API enforces
   the same). */
#define CN_CLI_MAX_BACKENDS CN_MAX_BACKENDS

#define CN_CLI_PROTO_HELP "expected tcp, udp or icmp"

/* ------------------------------------------------------------------ */
/* Parsing helpers                                                     */
/* ------------------------------------------------------------------ */

/* What is left of the input, quoted, or "end of line". */
static u8 *
format_cn_cli_rest (u8 *s, va_list *args)
{
  unformat_input_t *input = va_arg (*args, unformat_input_t *);

  if (unformat_check_input (input) == UNFORMAT_END_OF_INPUT)
    return format (s, "end of line");
  return format (s, "'%U'", format_unformat_error, input);
}

/* "proto" was consumed: read its value. Case-insensitive. "icmp" is ICMP
   echo of the family it is used with (see cn_cli_proto_fix_family). */
static clib_error_t *
cn_cli_unformat_proto (unformat_input_t *input, u8 *proto)
{
  u8 *word = 0;
  clib_error_t *error = 0;

  if (!unformat (input, "%s", &word))
    return clib_error_return (0, "'proto' needs a value: " CN_CLI_PROTO_HELP);
  vec_add1 (word, 0);
  if (!strcasecmp ((char *) word, "tcp"))
    *proto = IP_PROTOCOL_TCP;
  else if (!strcasecmp ((char *) word, "udp"))
    *proto = IP_PROTOCOL_UDP;
  else if (!strcasecmp ((char *) word, "icmp"))
    *proto = IP_PROTOCOL_ICMP;
  else if (!strcasecmp ((char *) word, "icmp6"))
    *proto = IP_PROTOCOL_ICMP6;
  else
    error = clib_error_return (0, "unknown protocol '%s': " CN_CLI_PROTO_HELP, word);
  vec_free (word);
  return error;
}

static clib_error_t *
cn_cli_proto_fix_family (u8 *proto, ip_address_family_t af)
{
  if (*proto == IP_PROTOCOL_ICMP && af == AF_IP6)
    *proto = IP_PROTOCOL_ICMP6;
  else if (*proto == IP_PROTOCOL_ICMP6 && af == AF_IP4)
    return clib_error_return (0, "protocol icmp6 used with an IPv4 address: use icmp");
  return 0;
}

static int
cn_cli_proto_is_icmp (u8 proto)
{
  return proto == IP_PROTOCOL_ICMP || proto == IP_PROTOCOL_ICMP6;
}

static const char *
cn_cli_proto_name (u8 proto)
{
  switch (proto)
    {
    case IP_PROTOCOL_TCP:
      return "tcp";
    case IP_PROTOCOL_UDP:
      return "udp";
    case IP_PROTOCOL_ICMP:
      return "icmp";
    case IP_PROTOCOL_ICMP6:
      return "icmp6";
    }
  return "unknown";
}

static const char *
cn_cli_af_name (ip_address_family_t af)
{
  return af == AF_IP6 ? "IPv6" : "IPv4";
}

/* An optional port: a number, if one comes next. */
static clib_error_t *
cn_cli_unformat_opt_port (unformat_input_t *input, const char *what, u16 *port, u8 *given)
{
  u32 v;

  *given = 0;
  if (!unformat (input, "%u", &v))
    return 0;
  if (v < 1 || v > 65535)
    return clib_error_return (0, "%s %u out of range: expected 1-65535", what, v);
  *port = v;
  *given = 1;
  return 0;
}

/* A port given on the command line: 1..65535. */
static clib_error_t *
cn_cli_unformat_port (unformat_input_t *input, const char *what, u16 *port)
{
  clib_error_t *error;
  u8 given;

  if ((error = cn_cli_unformat_opt_port (input, what, port, &given)))
    return error;
  if (!given)
    return clib_error_return (0, "%s: expected a number 1-65535, got %U", what, format_cn_cli_rest,
			      input);
  return 0;
}

static clib_error_t *
cn_cli_unformat_u32 (unformat_input_t *input, const char *what, u32 *v)
{
  if (!unformat (input, "%u", v))
    return clib_error_return (0, "'%s' needs a number, got %U", what, format_cn_cli_rest, input);
  return 0;
}

/* The table must exist in the family it is used with. */
static clib_error_t *
cn_cli_check_table (u32 table_id, ip_address_family_t af)
{
  if (cloudnat_fib_index_from_table_id (table_id, af) == ~0)
    return clib_error_return (
      0, "table %u does not exist (no %s table %u; create it with 'ip%s table add %u')", table_id,
      af == AF_IP6 ? "ip6" : "ip4", table_id, af == AF_IP6 ? "6" : "", table_id);
  return 0;
}

/* Without a family: the table must exist in one of them. */
static clib_error_t *
cn_cli_check_table_any (u32 table_id)
{
  if (!cloudnat_table_exists (table_id))
    return clib_error_return (0, "table %u does not exist", table_id);
  return 0;
}

/* An optional 'table <id>' of a table in either family. */
static clib_error_t *
cn_cli_unformat_opt_table_any (unformat_input_t *input, u32 *table_id)
{
  clib_error_t *error;

  if (!unformat (input, "table"))
    return 0;
  if ((error = cn_cli_unformat_u32 (input, "table", table_id)))
    return error;
  return cn_cli_check_table_any (*table_id);
}

/* For commands that take no arguments. */
static clib_error_t *
cn_cli_no_args (unformat_input_t *input)
{
  if (unformat_check_input (input) != UNFORMAT_END_OF_INPUT)
    return clib_error_return (0, "unknown input %U: this command takes no arguments",
			      format_cn_cli_rest, input);
  return 0;
}

static u32
cn_cli_af_addr_len (ip_address_family_t af)
{
  return af == AF_IP6 ? 128 : 32;
}

static int
cn_cli_ip46_is_zero (const ip46_address_t *a)
{
  return a->as_u64[0] == 0 && a->as_u64[1] == 0;
}

static int
cn_cli_ip46_is_multicast (const ip46_address_t *a, ip_address_family_t af)
{
  return af == AF_IP4 ? ip4_address_is_multicast (&a->ip4) : ip6_address_is_multicast (&a->ip6);
}

/* ip_address_t -> ip46 + family, the header's representation */
static void
cn_cli_ip_to_46 (const ip_address_t *in, ip46_address_t *out, ip_address_family_t *af)
{
  *af = ip_addr_version (in);
  ip46_address_reset (out);
  if (*af == AF_IP4)
    ip46_address_set_ip4 (out, &ip_addr_v4 (in));
  else
    out->ip6 = ip_addr_v6 (in);
}

/* <addr>/<len> with the length checked against the family. host_bits:
   what to do with bits set past the length: 0 = reject, 1 = mask. A bare
   address is taken as a host prefix when allow_host. */
static clib_error_t *
cn_cli_unformat_prefix (unformat_input_t *input, const char *what, ip46_address_t *addr, u8 *len,
			ip_address_family_t *af, int allow_host)
{
  ip_address_t ip;
  u32 plen;

  if (unformat (input, "%U/%u", unformat_ip_address, &ip, &plen))
    {
      cn_cli_ip_to_46 (&ip, addr, af);
      if (plen > cn_cli_af_addr_len (*af))
	return clib_error_return (0, "%s %U/%u: prefix length %u is too long for %s (at most %u)",
				  what, format_ip_address, &ip, plen, plen, cn_cli_af_name (*af),
				  cn_cli_af_addr_len (*af));
      {
	ip46_address_t masked = *addr;
	if (*af == AF_IP4)
	  ip4_address_normalize (&masked.ip4, plen);
	else
	  ip6_address_normalize (&masked.ip6, plen);
	if (!ip46_address_is_equal (&masked, addr))
	  return clib_error_return (0, "%s %U/%u has host bits set: did you mean %U/%u?", what,
				    format_ip_address, &ip, plen, format_ip46_address, &masked,
				    IP46_TYPE_ANY, plen);
      }
      *len = plen;
      return 0;
    }
  if (allow_host && unformat (input, "%U", unformat_ip_address, &ip))
    {
      cn_cli_ip_to_46 (&ip, addr, af);
      *len = cn_cli_af_addr_len (*af);
      return 0;
    }
  return clib_error_return (0, "%s: expected an IPv4 or IPv6 prefix <addr>/<len>, got %U", what,
			    format_cn_cli_rest, input);
}

static const struct
{
  const char *name;
  u8 flag;
} cn_cli_hash_fields[] = {
  { "src-addr", CN_HASH_SRC_ADDR }, { "dst-addr", CN_HASH_DST_ADDR },
  { "src-port", CN_HASH_SRC_PORT }, { "dst-port", CN_HASH_DST_PORT },
  { "proto", CN_HASH_PROTO },
};

/* hash <f>[,<f>...] */
static clib_error_t *
cn_cli_unformat_hash (unformat_input_t *input, u8 *fields)
{
  u8 *word = 0, *p, *start;
  clib_error_t *error = 0;
  int i;

  if (!unformat (input, "%s", &word))
    return clib_error_return (0, "'hash' needs a comma-separated field list of src-addr, "
				 "dst-addr, src-port, dst-port, proto");
  vec_add1 (word, 0);
  *fields = 0;
  start = word;
  for (p = word;; p++)
    {
      u8 end = *p;

      if (end != ',' && end != 0)
	continue;
      *p = 0;
      for (i = 0; i < ARRAY_LEN (cn_cli_hash_fields); i++)
	if (!strcasecmp ((char *) start, cn_cli_hash_fields[i].name))
	  break;
      if (i == ARRAY_LEN (cn_cli_hash_fields))
	{
	  error = clib_error_return (0,
				     "unknown hash field '%s': expected src-addr, dst-addr, "
				     "src-port, dst-port or proto (comma-separated, no spaces)",
				     start);
	  break;
	}
      *fields |= cn_cli_hash_fields[i].flag;
      if (end == 0)
	break;
      start = p + 1;
    }
  vec_free (word);
  return error;
}

static u8 *
format_cn_cli_hash_fields (u8 *s, va_list *args)
{
  u32 fields = va_arg (*args, u32);
  int i, n = 0;

  for (i = 0; i < ARRAY_LEN (cn_cli_hash_fields); i++)
    if (fields & cn_cli_hash_fields[i].flag)
      s = format (s, "%s%s", n++ ? "," : "", cn_cli_hash_fields[i].name);
  return s;
}

/* One backend as typed. */
typedef struct
{
  ip_address_t src;
  ip_address_t dst;
  u16 src_port;
  u16 dst_port;
  u8 has_src;
} cn_cli_backend_t;

/* [<src-addr> [<src-port>]]-><dst-addr> [<dst-port>], after "to" */
static clib_error_t *
cn_cli_unformat_backend (unformat_input_t *input, cn_cli_backend_t *be)
{
  clib_error_t *error;
  u8 given;

  clib_memset (be, 0, sizeof (*be));
  if (unformat (input, "->"))
    ;
  else if (unformat (input, "%U", unformat_ip_address, &be->src))
    {
      be->has_src = 1;
      if (unformat (input, "->"))
	;
      else
	{
	  if ((error = cn_cli_unformat_opt_port (input, "source port", &be->src_port, &given)))
	    return error;
	  if (!given)
	    return clib_error_return (0, "expected '->' after 'to %U', got %U", format_ip_address,
				      &be->src, format_cn_cli_rest, input);
	  if (!unformat (input, "->"))
	    return clib_error_return (0, "expected '->' after 'to %U %u', got %U",
				      format_ip_address, &be->src, be->src_port, format_cn_cli_rest,
				      input);
	}
    }
  else
    return clib_error_return (0,
			      "expected [<src-addr> [<src-port>]]-><dst-addr> [<dst-port>] after "
			      "'to', got %U",
			      format_cn_cli_rest, input);

  if (!unformat (input, "%U", unformat_ip_address, &be->dst))
    return clib_error_return (0, "expected a destination address after '->', got %U",
			      format_cn_cli_rest, input);
  return cn_cli_unformat_opt_port (input, "destination port", &be->dst_port, &given);
}

/* Turn an add/del return code into a message. */
static clib_error_t *
cn_cli_rv_error (int rv)
{
  if (rv == VNET_API_ERROR_ADDRESS_IN_USE)
    return clib_error_return (0, "the address is a static mapping's outside address (one mode "
				 "per address; cnat show static) (retval %d)",
			      rv);
  return clib_error_return (0, "%U (retval %d)", format_vnet_api_errno, rv, rv);
}

/* ------------------------------------------------------------------ */
/* Formatting                                                          */
/* ------------------------------------------------------------------ */

/* <addr>:<port>; IPv6 as [<addr>]:<port>; port 0 as '*' when star_zero,
   left out when no_port. */
static u8 *
format_cn_cli_addr_port (u8 *s, va_list *args)
{
  const ip46_address_t *a = va_arg (*args, const ip46_address_t *);
  ip_address_family_t af = va_arg (*args, int);
  u32 port = va_arg (*args, u32);
  int no_port = va_arg (*args, int);

  if (af == AF_IP6)
    s = format (s, "%s%U%s", no_port ? "" : "[", format_ip6_address, &a->ip6, no_port ? "" : "]");
  else
    s = format (s, "%U", format_ip4_address, &a->ip4);
  if (no_port)
    return s;
  if (port)
    return format (s, ":%u", port);
  return format (s, ":*");
}

static const char *
cn_cli_tcp_state_name (u8 st)
{
  switch (st)
    {
    case CN_TCP_NONE:
      return "-";
    case CN_TCP_SYN_SENT:
      return "syn-sent";
    case CN_TCP_ESTABLISHED:
      return "established";
    case CN_TCP_FIN_WAIT:
      return "fin-wait";
    case CN_TCP_CLOSED:
      return "closed";
    }
  return "unknown";
}

static u8 *
format_cn_cli_translation (u8 *s, va_list *args)
{
  const cloudnat_translation_info_t *info = va_arg (*args, const cloudnat_translation_info_t *);
  const cloudnat_translation_spec_t *sp = info->spec;
  const cloudnat_backend_t *be;
  int icmp = cn_cli_proto_is_icmp (sp->proto);

  s = format (s, "[%u] %s %s table %u %U lb ", info->id, cn_cli_proto_name (sp->proto),
	      sp->kind == CN_KIND_REAL ? "real" : "vip", sp->table_id, format_cn_cli_addr_port,
	      &sp->vip, sp->af, (u32) sp->port, icmp);
  if (sp->lb_method == CN_LB_MAGLEV)
    s = format (s, "maglev len %u", sp->maglev_len ? sp->maglev_len : (u32) CN_MAGLEV_DEFAULT_LEN);
  else
    s = format (s, "hash");
  if (sp->hash_fields && (sp->hash_fields & CN_HASH_ALL) != CN_HASH_ALL)
    s = format (s, " fields %U", format_cn_cli_hash_fields, (u32) sp->hash_fields);
  s = format (s, " sessions %u packets %llu bytes %llu", info->n_sessions, info->packets,
	      info->bytes);

  vec_foreach (be, sp->backends)
    {
      s = format (s, "\n    ");
      if (!cn_cli_ip46_is_zero (&be->src_addr))
	s = format (s, "%U", format_cn_cli_addr_port, &be->src_addr, sp->af, (u32) be->src_port,
		    icmp);
      else if (icmp)
	s = format (s, "*");
      else if (be->src_port)
	s = format (s, "*:%u", be->src_port);
      else
	s = format (s, "*:*");
      s = format (s, " -> %U", format_cn_cli_addr_port, &be->dst_addr, sp->af, (u32) be->dst_port,
		  icmp);
    }
  return s;
}

static u8 *
format_cn_cli_session (u8 *s, va_list *args)
{
  const cloudnat_session_view_t *v = va_arg (*args, const cloudnat_session_view_t *);
  int icmp = cn_cli_proto_is_icmp (v->proto);
  const char *kind;

  if (v->flags & CN_SESSION_F_DNAT)
    kind = "dnat";
  else if (v->flags & CN_SESSION_F_SNAT)
    kind = "snat";
  else
    kind = "-";

  s =
    format (s, "[table %u] %s %U -> %U  =>  %U -> %U  %s  state %s  expires-in %us  packets %llu",
	    v->table_id, cn_cli_proto_name (v->proto), format_cn_cli_addr_port, &v->src_addr, v->af,
	    (u32) v->src_port, 0, format_cn_cli_addr_port, &v->dst_addr, v->af, (u32) v->dst_port,
	    0, format_cn_cli_addr_port, &v->new_src_addr, v->af, (u32) v->new_src_port, 0,
	    format_cn_cli_addr_port, &v->new_dst_addr, v->af, (u32) v->new_dst_port, 0, kind,
	    cn_cli_tcp_state_name (v->tcp_state), v->expires_in, v->packets);
  if (icmp)
    s = format (s, "  (icmp: ports are echo ids)");
  return s;
}

/* ------------------------------------------------------------------ */
/* cnat translation add / del                                          */
/* ------------------------------------------------------------------ */

static clib_error_t *
cn_cli_translation_add (vlib_main_t *vm, unformat_input_t *main_input, vlib_cli_command_t *cmd)
{
  unformat_input_t _line, *line = &_line;
  clib_error_t *error = 0;
  cloudnat_translation_spec_t spec = {};
  cn_cli_backend_t *bes = 0, be, *b;
  ip_address_t vip;
  u8 have_proto = 0, have_vip = 0, have_kind = 0, have_maglev_len = 0, have_hash = 0;
  u8 proto = 0, given;
  int is_vip;
  u32 maglev_len = 0, id = ~0;
  u16 port = 0;
  int rv;

  spec.lb_method = CN_LB_HASH;
  if (!unformat_user (main_input, unformat_line_input, line))
    return clib_error_return (0,
			      "missing arguments: proto <tcp|udp|icmp> (vip|real) <addr> <port> to "
			      "[<src-addr> [<src-port>]]-><dst-addr> [<dst-port>]");

  while (unformat_check_input (line) != UNFORMAT_END_OF_INPUT)
    {
      if (unformat (line, "proto"))
	{
	  if ((error = cn_cli_unformat_proto (line, &proto)))
	    goto done;
	  have_proto = 1;
	}
      else if ((is_vip = unformat (line, "vip")) || unformat (line, "real"))
	{
	  spec.kind = is_vip ? CN_KIND_VIP : CN_KIND_REAL;
	  if (have_vip)
	    {
	      error = clib_error_return (0, "only one 'vip' or 'real' address per translation");
	      goto done;
	    }
	  if (!unformat (line, "%U", unformat_ip_address, &vip))
	    {
	      error = clib_error_return (0, "'%s' needs an IPv4 or IPv6 address, got %U",
					 spec.kind == CN_KIND_REAL ? "real" : "vip",
					 format_cn_cli_rest, line);
	      goto done;
	    }
	  if ((error = cn_cli_unformat_opt_port (line, "port", &port, &given)))
	    goto done;
	  have_vip = have_kind = 1;
	}
      else if (unformat (line, "table"))
	{
	  if ((error = cn_cli_unformat_u32 (line, "table", &spec.table_id)))
	    goto done;
	}
      else if (unformat (line, "maglev"))
	{
	  spec.lb_method = CN_LB_MAGLEV;
	  if (unformat (line, "len"))
	    {
	      if ((error = cn_cli_unformat_u32 (line, "maglev len", &maglev_len)))
		goto done;
	      have_maglev_len = 1;
	    }
	}
      else if (unformat (line, "hash"))
	{
	  if ((error = cn_cli_unformat_hash (line, &spec.hash_fields)))
	    goto done;
	  have_hash = 1;
	}
      else if (unformat (line, "to"))
	{
	  if ((error = cn_cli_unformat_backend (line, &be)))
	    goto done;
	  vec_add1 (bes, be);
	}
      else
	{
	  error = clib_error_return (0, "unknown input %U", format_cn_cli_rest, line);
	  goto done;
	}
    }

  /* Whole-command checks, in the order a user fixes them. */
  if (!have_proto)
    {
      error = clib_error_return (0, "missing 'proto <tcp|udp|icmp>'");
      goto done;
    }
  if (!have_vip || !have_kind)
    {
      error = clib_error_return (0, "missing 'vip <addr> <port>' or 'real <addr> <port>'");
      goto done;
    }
  cn_cli_ip_to_46 (&vip, &spec.vip, &spec.af);
  if ((error = cn_cli_proto_fix_family (&proto, spec.af)))
    goto done;
  spec.proto = proto;
  if (cn_cli_proto_is_icmp (proto))
    {
      if (port)
	{
	  error = clib_error_return (0,
				     "icmp translations take no port (got %u): "
				     "'proto icmp vip <addr> to -><addr>'",
				     port);
	  goto done;
	}
    }
  else if (!port)
    {
      error = clib_error_return (0, "missing port after '%s %U': %s needs a port 1-65535",
				 spec.kind == CN_KIND_REAL ? "real" : "vip", format_ip_address,
				 &vip, cn_cli_proto_name (proto));
      goto done;
    }
  spec.port = port;
  if (cn_cli_ip46_is_zero (&spec.vip) || cn_cli_ip46_is_multicast (&spec.vip, spec.af))
    {
      error = clib_error_return (0, "%s %U is unspecified or multicast",
				 spec.kind == CN_KIND_REAL ? "real address" : "vip",
				 format_ip_address, &vip);
      goto done;
    }
  if ((error = cn_cli_check_table (spec.table_id, spec.af)))
    goto done;
  if (have_maglev_len)
    {
      if (!cn_is_prime (maglev_len) || maglev_len < 7 || maglev_len > 65521)
	{
	  error = clib_error_return (0,
				     "maglev len %u invalid: expected a prime from 7 to 65521 "
				     "(default %u)",
				     maglev_len, CN_MAGLEV_DEFAULT_LEN);
	  goto done;
	}
      spec.maglev_len = maglev_len;
    }
  if (have_hash && spec.hash_fields == 0)
    spec.hash_fields = CN_HASH_ALL;
  if (vec_len (bes) == 0)
    {
      error = clib_error_return (0, "missing backend: 'to [<src-addr> [<src-port>]]-><dst-addr> "
				    "[<dst-port>]'");
      goto done;
    }
  if (vec_len (bes) > CN_CLI_MAX_BACKENDS)
    {
      error = clib_error_return (0, "too many backends: %u, at most %u", vec_len (bes),
				 CN_CLI_MAX_BACKENDS);
      goto done;
    }
  if (spec.lb_method == CN_LB_MAGLEV)
    {
      u32 len = spec.maglev_len ? spec.maglev_len : CN_MAGLEV_DEFAULT_LEN;
      if (len < 2 * vec_len (bes))
	{
	  error = clib_error_return (0, "maglev len %u too small for %u backends: at least %u", len,
				     vec_len (bes), 2 * vec_len (bes));
	  goto done;
	}
    }

  vec_foreach (b, bes)
    {
      cloudnat_backend_t cb = {};
      ip_address_family_t af;
      int n = b - bes + 1;

      if (b->has_src)
	{
	  cn_cli_ip_to_46 (&b->src, &cb.src_addr, &af);
	  if (af != spec.af)
	    {
	      error = clib_error_return (0, "backend %d: source %U is %s but the %s %U is %s", n,
					 format_ip_address, &b->src, cn_cli_af_name (af),
					 spec.kind == CN_KIND_REAL ? "real address" : "vip",
					 format_ip_address, &vip, cn_cli_af_name (spec.af));
	      goto done;
	    }
	}
      cn_cli_ip_to_46 (&b->dst, &cb.dst_addr, &af);
      if (af != spec.af)
	{
	  error = clib_error_return (0, "backend %d: destination %U is %s but the %s %U is %s", n,
				     format_ip_address, &b->dst, cn_cli_af_name (af),
				     spec.kind == CN_KIND_REAL ? "real address" : "vip",
				     format_ip_address, &vip, cn_cli_af_name (spec.af));
	  goto done;
	}
      if (cn_cli_ip46_is_zero (&cb.dst_addr) || cn_cli_ip46_is_multicast (&cb.dst_addr, af))
	{
	  error = clib_error_return (0,
				     "backend %d: destination address %U is unspecified or "
				     "multicast",
				     n, format_ip_address, &b->dst);
	  goto done;
	}
      if (b->has_src && cn_cli_ip46_is_multicast (&cb.src_addr, af))
	{
	  error = clib_error_return (0, "backend %d: source address %U is multicast", n,
				     format_ip_address, &b->src);
	  goto done;
	}
      if (cn_cli_proto_is_icmp (proto) && (b->src_port || b->dst_port))
	{
	  error = clib_error_return (0, "backend %d: icmp backends take no ports", n);
	  goto done;
	}
      cb.src_port = b->src_port;
      cb.dst_port = b->dst_port;
      vec_add1 (spec.backends, cb);
    }

  rv = cloudnat_translation_add_update (&spec, &id);
  switch (rv)
    {
    case 0:
      vlib_cli_output (vm, "translation %u", id);
      break;
    case VNET_API_ERROR_NO_SUCH_FIB:
      error = cn_cli_check_table (spec.table_id, spec.af);
      if (!error)
	error = clib_error_return (0, "table %u does not exist", spec.table_id);
      break;
    case VNET_API_ERROR_ADDRESS_NOT_FOUND_FOR_INTERFACE:
      error = clib_error_return (0,
				 "%U is not an address of an interface in table %u: 'real' takes "
				 "an interface address, use 'vip' for an address VPP does not own",
				 format_ip_address, &vip, spec.table_id);
      break;
    case VNET_API_ERROR_INVALID_DST_ADDRESS:
      error = clib_error_return (0,
				 "invalid address: the %s %U or a backend destination is "
				 "unspecified or multicast",
				 spec.kind == CN_KIND_REAL ? "real address" : "vip",
				 format_ip_address, &vip);
      break;
    default:
      error = cn_cli_rv_error (rv);
      break;
    }

done:
  vec_free (bes);
  vec_free (spec.backends);
  unformat_free (line);
  return error;
}

CLOUDNAT_CLI_COMMAND (cn_cli_translation_add_cmd) = {
  .path = "cnat translation add",
  .short_help = "cnat translation add proto <tcp|udp|icmp> (vip|real) <addr> <port> [table <id>] "
		"[maglev [len <n>]] [hash <f>[,<f>...]] to [<src-addr> [<src-port>]]-><dst-addr> "
		"[<dst-port>] [to ...]   (<f>: src-addr dst-addr src-port dst-port proto)",
  .function = cn_cli_translation_add,
};

static clib_error_t *
cn_cli_translation_del (vlib_main_t *vm, unformat_input_t *main_input, vlib_cli_command_t *cmd)
{
  unformat_input_t _line, *line = &_line;
  clib_error_t *error = 0;
  ip_address_t vip;
  ip46_address_t vip46;
  ip_address_family_t af;
  u8 have_proto = 0, have_vip = 0, have_id = 0, proto = 0, given;
  u32 table_id = 0, id = ~0;
  u16 port = 0;
  int rv;

  if (!unformat_user (main_input, unformat_line_input, line))
    return clib_error_return (0, "missing arguments: <id> or proto <p> (vip|real) <addr> "
				 "<port> [table <id>]");

  while (unformat_check_input (line) != UNFORMAT_END_OF_INPUT)
    {
      if (unformat (line, "proto"))
	{
	  if ((error = cn_cli_unformat_proto (line, &proto)))
	    goto done;
	  have_proto = 1;
	}
      else if (unformat (line, "vip") || unformat (line, "real"))
	{
	  if (!unformat (line, "%U", unformat_ip_address, &vip))
	    {
	      error = clib_error_return (0,
					 "expected an IPv4 or IPv6 address after vip/real, "
					 "got %U",
					 format_cn_cli_rest, line);
	      goto done;
	    }
	  if ((error = cn_cli_unformat_opt_port (line, "port", &port, &given)))
	    goto done;
	  have_vip = 1;
	}
      else if (unformat (line, "table"))
	{
	  if ((error = cn_cli_unformat_u32 (line, "table", &table_id)))
	    goto done;
	}
      else if (!have_vip && unformat (line, "%U", unformat_ip_address, &vip))
	{
	  /* the address without its vip/real keyword */
	  if ((error = cn_cli_unformat_opt_port (line, "port", &port, &given)))
	    goto done;
	  have_vip = 1;
	}
      else if (!have_id && !have_vip && !have_proto && unformat (line, "%u", &id))
	have_id = 1;
      else
	{
	  error = clib_error_return (0, "unknown input %U", format_cn_cli_rest, line);
	  goto done;
	}
    }

  if (have_id)
    {
      if (have_vip || have_proto)
	{
	  error = clib_error_return (0, "give either a translation id or its key "
					"(proto/vip/port/table), not both");
	  goto done;
	}
      rv = cloudnat_translation_del_by_id (id);
      if (rv)
	error = cn_cli_rv_error (rv);
      goto done;
    }

  if (!have_proto)
    {
      error = clib_error_return (0, "missing 'proto <tcp|udp|icmp>' (or give the translation "
				    "id: 'cnat translation del <id>')");
      goto done;
    }
  if (!have_vip)
    {
      error = clib_error_return (0, "missing 'vip <addr> <port>' or 'real <addr> <port>'");
      goto done;
    }
  cn_cli_ip_to_46 (&vip, &vip46, &af);
  if ((error = cn_cli_proto_fix_family (&proto, af)))
    goto done;
  if (cn_cli_proto_is_icmp (proto) && port)
    {
      error = clib_error_return (0, "icmp translations take no port (got %u)", port);
      goto done;
    }
  if (!cn_cli_proto_is_icmp (proto) && !port)
    {
      error = clib_error_return (0, "missing port after %U: %s needs a port 1-65535",
				 format_ip_address, &vip, cn_cli_proto_name (proto));
      goto done;
    }
  if ((error = cn_cli_check_table (table_id, af)))
    goto done;
  rv = cloudnat_translation_del (table_id, &vip46, af, port, proto);
  if (rv)
    error = cn_cli_rv_error (rv);

done:
  unformat_free (line);
  return error;
}

CLOUDNAT_CLI_COMMAND (cn_cli_translation_del_cmd) = {
  .path = "cnat translation del",
  .short_help = "cnat translation del proto <tcp|udp|icmp> (vip|real) <addr> <port> [table <id>]"
		" | cnat translation del <id>",
  .function = cn_cli_translation_del,
};

/* ------------------------------------------------------------------ */
/* show translation                                                    */
/* ------------------------------------------------------------------ */

typedef struct
{
  vlib_main_t *vm;
  u32 n;
} cn_cli_show_ctx_t;

static walk_rc_t
cn_cli_show_translation_cb (const cloudnat_translation_info_t *info, void *arg)
{
  cn_cli_show_ctx_t *ctx = arg;

  vlib_cli_output (ctx->vm, "%U", format_cn_cli_translation, info);
  ctx->n++;
  return WALK_CONTINUE;
}

static clib_error_t *
cn_cli_show_translation (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  cn_cli_show_ctx_t ctx = { .vm = vm };
  clib_error_t *error;

  if ((error = cn_cli_no_args (input)))
    return error;
  cloudnat_translation_walk (cn_cli_show_translation_cb, &ctx);
  if (ctx.n == 0)
    vlib_cli_output (vm, "no translations");
  return 0;
}

CLOUDNAT_CLI_COMMAND (cn_cli_show_translation_cmd) = {
  .path = "cnat show translation",
  .short_help = "cnat show translation",
  .function = cn_cli_show_translation,
};

CLOUDNAT_CLI_COMMAND (cn_cli_show_translation_alias_cmd) = {
  .path = "show cnat translation",
  .short_help = "show cnat translation",
  .function = cn_cli_show_translation,
};

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

static walk_rc_t
cn_cli_show_snat_addr_cb (u32 table_id, const ip46_address_t *addr, ip_address_family_t af,
			  void *arg)
{
  cn_cli_show_ctx_t *ctx = arg;

  vlib_cli_output (ctx->vm, "  table %u address %U", table_id, format_ip46_address, addr,
		   af == AF_IP6 ? IP46_TYPE_IP6 : IP46_TYPE_IP4);
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
cn_cli_show_snat_if_cb (u32 sw_if_index, u8 is_ip6, u8 is_auto, void *arg)
{
  cn_cli_show_ctx_t *ctx = arg;

  vlib_cli_output (ctx->vm, "  interface %U %s%s", format_vnet_sw_if_index_name, vnet_get_main (),
		   sw_if_index, is_ip6 ? "ip6-cnat-snat" : "ip4-cnat-snat",
		   is_auto ? " (for the table's pools/static mappings)" : "");
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
