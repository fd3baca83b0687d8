/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_static.c: stateless 1:1 static NAT (cloudnat_static.h): the
 * mappings, their lookup table, the captures of their outside addresses,
 * and their CLI:
 *
 *   cnat static add <inside-prefix> [table <id>] to <outside-prefix>
 *        [outside-table <id>] [proto tcp|udp <inside-port> <outside-port>]
 *   cnat static del <inside-prefix> [table <id>] [proto tcp|udp <inside-port>]
 *   cnat show static
 *
 * Every address of a mapping has two entries in one bihash: (inside
 * address, inside table, OUT) and (outside address, outside table, IN),
 * with the protocol and port for a port-specific mapping; an outside
 * address also has a claim entry (proto CN_STATIC_ANY) that tells the
 * forwarding code the address belongs to a mapping. The data path is in
 * cloudnat_node.c (cn_static_decide).
 */

#include <vnet/fib/fib_table.h>
#include <cloudnat/cloudnat_priv.h>
#include <cloudnat/cloudnat_static.h>
#include <cloudnat/cloudnat_pool.h>

cn_static_main_t cn_static_main;

static u32
cn_static_n_hosts (u8 len, int is_ip6)
{
  u32 host_bits = (is_ip6 ? 128 : 32) - len;
  return host_bits > 12 ? ~0 : 1u << host_bits;
}

/* the i-th address of a prefix */
static void
cn_static_nth (const ip46_address_t *pfx, int is_ip6, u32 i, ip46_address_t *a)
{
  *a = *pfx;
  if (is_ip6)
    a->ip6.as_u32[3] = clib_host_to_net_u32 (clib_net_to_host_u32 (pfx->ip6.as_u32[3]) + i);
  else
    a->ip4.as_u32 = clib_host_to_net_u32 (clib_net_to_host_u32 (pfx->ip4.as_u32) + i);
}

/* Recompute a table's direction bits from the mappings (under the
   barrier): CN_STATIC_DIR_BIT when any mapping of that direction has the
   table, CN_STATIC_PORT_BIT when one of them is port-specific (else the
   data path skips the port-specific lookup). */
static void
cn_static_fib_dir (u32 fib, int is_ip6, int dir)
{
  cn_static_main_t *sm = &cn_static_main;
  u8 **v = &sm->fib_dirs[is_ip6 ? AF_IP6 : AF_IP4];
  cn_static_t *m;
  u8 bits = 0;
  vec_validate (*v, fib);
  pool_foreach (m, sm->maps)
    if (m->is_ip6 == is_ip6 && (dir == CN_STATIC_OUT ? m->in_fib : m->out_fib) == fib)
      bits |= CN_STATIC_DIR_BIT (dir) | (m->proto ? CN_STATIC_PORT_BIT (dir) : 0);
  (*v)[fib] = ((*v)[fib] & ~(CN_STATIC_DIR_BIT (dir) | CN_STATIC_PORT_BIT (dir))) | bits;
}

/* one mapping's entries in the table */
static void
cn_static_entries (const cn_static_t *m, u32 index, int is_add)
{
  clib_bihash_kv_24_8_t kv;
  u32 i, n = cn_static_n_hosts (m->len, m->is_ip6);
  ip46_address_t a;

  for (i = 0; i < n; i++)
    {
      cn_static_nth (&m->in_pfx, m->is_ip6, i, &a);
      cn_static_key (&kv, &a, m->in_fib, CN_STATIC_OUT, m->proto, m->in_port, m->is_ip6);
      kv.value = index;
      clib_bihash_add_del_24_8 (&cn_static_main.db, &kv, is_add);
      cn_static_nth (&m->out_pfx, m->is_ip6, i, &a);
      cn_static_key (&kv, &a, m->out_fib, CN_STATIC_IN, m->proto, m->out_port, m->is_ip6);
      kv.value = index;
      clib_bihash_add_del_24_8 (&cn_static_main.db, &kv, is_add);
    }
}

/* the claim of each outside address, counted (several port mappings may
   share an address) */
static void
cn_static_claims (cn_static_t *m, int is_add)
{
  clib_bihash_kv_24_8_t kv;
  u32 i, n = cn_static_n_hosts (m->len, m->is_ip6);
  ip_address_family_t af = m->is_ip6 ? AF_IP6 : AF_IP4;
  ip46_address_t a;

  for (i = 0; i < n; i++)
    {
      cn_static_nth (&m->out_pfx, m->is_ip6, i, &a);
      cn_static_key (&kv, &a, m->out_fib, CN_STATIC_IN, CN_STATIC_ANY, 0, m->is_ip6);
      if (is_add)
	{
	  kv.value = 1;
	  if (!clib_bihash_search_24_8 (&cn_static_main.db, &kv, &kv))
	    kv.value++;
	  clib_bihash_add_del_24_8 (&cn_static_main.db, &kv, 1);
	  vec_add1 (m->out_clients, cn_client_ref (m->out_fib, &a, af, CN_CLIENT_REF_STATIC));
	}
      else
	{
	  if (!clib_bihash_search_24_8 (&cn_static_main.db, &kv, &kv))
	    {
	      if (--kv.value)
		clib_bihash_add_del_24_8 (&cn_static_main.db, &kv, 1);
	      else
		clib_bihash_add_del_24_8 (&cn_static_main.db, &kv, 0);
	    }
	}
    }
  if (!is_add)
    {
      vec_foreach_index (i, m->out_clients)
	cn_client_unref (m->out_clients[i], CN_CLIENT_REF_STATIC);
      vec_free (m->out_clients);
    }
}

static int
cn_pfx_overlaps (const ip46_address_t *a, u8 alen, const ip46_address_t *b, u8 blen, int is_ip6)
{
  cn_static_t tmp = { .is_ip6 = is_ip6 };
  ip46_address_t x = alen <= blen ? *b : *a;
  tmp.len = clib_min (alen, blen);
  tmp.in_pfx = alen <= blen ? *a : *b;
  return cn_static_in_inside (&tmp, is_ip6 ? x.as_u8 : x.ip4.as_u8);
}

typedef struct
{
  u32 fib;
  ip46_address_t pfx;
  u8 len;
  ip_address_family_t af;
  u8 *conflict;
} cn_static_conflict_ctx_t;

static walk_rc_t
cn_static_pool_bind_conflict (u32 table_id, const ip46_address_t *pfx, u8 len,
			      ip_address_family_t af, const u8 *pool, void *arg)
{
  cn_static_conflict_ctx_t *c = arg;
  if (af != c->af || cloudnat_fib_index_from_table_id (table_id, af) != c->fib ||
      !cn_pfx_overlaps (pfx, len, &c->pfx, c->len, af == AF_IP6))
    return WALK_CONTINUE;
  c->conflict = format (0, "inside prefix overlaps pool %v's binding %U/%u in table %u", pool,
			format_ip46_address, pfx, IP46_TYPE_ANY, len, table_id);
  return WALK_STOP;
}

static walk_rc_t
cn_static_translation_conflict (const cloudnat_translation_info_t *info, void *arg)
{
  cn_static_conflict_ctx_t *c = arg;
  const cloudnat_translation_spec_t *t = info->spec;
  if (t->af != c->af || t->kind != CN_KIND_VIP ||
      cloudnat_fib_index_from_table_id (t->table_id, t->af) != c->fib ||
      !cn_pfx_overlaps (&t->vip, c->af == AF_IP6 ? 128 : 32, &c->pfx, c->len, c->af == AF_IP6))
    return WALK_CONTINUE;
  c->conflict = format (0, "outside address is VIP %U of translation %u in table %u",
			format_ip46_address, &t->vip, IP46_TYPE_ANY, info->id, t->table_id);
  return WALK_STOP;
}

static walk_rc_t
cn_static_pool_addr_conflict (const cloudnat_pool_info_t *info, void *arg)
{
  cn_static_conflict_ctx_t *c = arg;
  const cloudnat_pool_spec_t *p = info->spec;
  cloudnat_range_t *r;
  if (p->af != c->af || cloudnat_fib_index_from_table_id (p->outside_table_id, p->af) != c->fib)
    return WALK_CONTINUE;
  vec_foreach (r, p->ranges)
    {
      ip46_address_t x;
      u32 i, n = cn_static_n_hosts (c->len, c->af == AF_IP6);
      for (i = 0; i < n; i++)
	{
	  cn_static_nth (&c->pfx, c->af == AF_IP6, i, &x);
	  if (ip46_address_cmp (&x, &r->first) >= 0 && ip46_address_cmp (&x, &r->last) <= 0)
	    {
	      c->conflict = format (0, "outside address %U is an address of pool %v",
				    format_ip46_address, &x, IP46_TYPE_ANY, p->name);
	      return WALK_STOP;
	    }
	}
    }
  return WALK_CONTINUE;
}

static u32
cn_static_find_key (u32 in_fib, const ip46_address_t *pfx, u8 len, int is_ip6, u8 proto,
		    u16 in_port_net)
{
  cn_static_t *m;
  pool_foreach (m, cn_static_main.maps)
    if (m->in_fib == in_fib && m->len == len && m->is_ip6 == is_ip6 && m->proto == proto &&
	m->in_port == in_port_net && ip46_address_is_equal (&m->in_pfx, pfx))
      return m - cn_static_main.maps;
  return ~0;
}

int
cloudnat_static_add_del (const cloudnat_static_spec_t *s, int is_add, u8 **conflict)
{
  cn_static_main_t *sm = &cn_static_main;
  vlib_main_t *vm = vlib_get_main ();
  int is_ip6 = s->af == AF_IP6;
  u32 in_fib, out_fib, mi, n;
  cn_static_conflict_ctx_t c = { 0 };
  ip46_address_t ip, op;
  cn_static_t *m;

  if (s->af != AF_IP4 && s->af != AF_IP6)
    return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
  in_fib = cloudnat_fib_index_from_table_id (s->in_table_id, s->af);
  if (in_fib == ~0)
    return VNET_API_ERROR_NO_SUCH_FIB;
  if (s->len > (is_ip6 ? 128 : 32))
    return VNET_API_ERROR_INVALID_VALUE;
  if (ip46_address_is_ip4 (&s->in_pfx) == is_ip6)
    return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
  ip = s->in_pfx;
  if (is_ip6)
    ip6_address_normalize (&ip.ip6, s->len);
  else
    ip4_address_normalize (&ip.ip4, s->len);
  if (!ip46_address_is_equal (&ip, &s->in_pfx))
    return VNET_API_ERROR_IP_PREFIX_INVALID;
  if (s->proto && s->proto != IP_PROTOCOL_TCP && s->proto != IP_PROTOCOL_UDP)
    return VNET_API_ERROR_INVALID_VALUE_2;
  if (!s->proto && s->in_port)
    return VNET_API_ERROR_INVALID_VALUE_2;

  if (!is_add)
    {
      mi = cn_static_find_key (in_fib, &ip, s->len, is_ip6, s->proto,
			       clib_host_to_net_u16 (s->in_port));
      if (mi == ~0)
	return 0;
      vlib_worker_thread_barrier_sync (vm);
      m = pool_elt_at_index (sm->maps, mi);
      out_fib = m->out_fib;
      cn_static_entries (m, mi, 0);
      cn_static_claims (m, 0);
      cn_snat_table_feature_ref (m->in_fib, s->af, -1);
      pool_put (sm->maps, m);
      cn_static_fib_dir (in_fib, is_ip6, CN_STATIC_OUT);
      cn_static_fib_dir (out_fib, is_ip6, CN_STATIC_IN);
      vlib_worker_thread_barrier_release (vm);
      return 0;
    }

  out_fib = cloudnat_fib_index_from_table_id (s->out_table_id, s->af);
  if (out_fib == ~0)
    return VNET_API_ERROR_NO_SUCH_FIB;
  if (ip46_address_is_ip4 (&s->out_pfx) == is_ip6)
    return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
  op = s->out_pfx;
  if (is_ip6)
    ip6_address_normalize (&op.ip6, s->len);
  else
    ip4_address_normalize (&op.ip4, s->len);
  if (!ip46_address_is_equal (&op, &s->out_pfx))
    return VNET_API_ERROR_IP_PREFIX_INVALID;
  n = cn_static_n_hosts (s->len, is_ip6);
  if (n > CN_STATIC_MAX_HOSTS)
    return VNET_API_ERROR_INVALID_VALUE;
  if (s->proto && (!s->in_port || !s->out_port))
    return VNET_API_ERROR_INVALID_VALUE_2;
  if (in_fib == out_fib && cn_pfx_overlaps (&ip, s->len, &op, s->len, is_ip6))
    return VNET_API_ERROR_INVALID_VALUE;

  cn_lookup_dpo_type_init ();
  /* one mode per address */
  c.af = s->af;
  c.len = s->len;
  c.fib = in_fib;
  c.pfx = ip;
  cloudnat_pool_bind_walk (cn_static_pool_bind_conflict, &c);
  if (!c.conflict)
    pool_foreach (m, sm->maps)
      if (m->in_fib == in_fib && m->is_ip6 == is_ip6 &&
	  cn_pfx_overlaps (&m->in_pfx, m->len, &ip, s->len, is_ip6) &&
	  !(m->proto && s->proto && (m->proto != s->proto || m->in_port != clib_host_to_net_u16 (s->in_port))))
	{
	  c.conflict = format (0, "inside prefix overlaps static mapping %U/%u of table %u",
			       format_ip46_address, &m->in_pfx, IP46_TYPE_ANY, m->len,
			       m->in_table_id);
	  break;
	}
  c.fib = out_fib;
  c.pfx = op;
  if (!c.conflict)
    cloudnat_translation_walk (cn_static_translation_conflict, &c);
  if (!c.conflict)
    cloudnat_pool_walk (cn_static_pool_addr_conflict, &c);
  if (!c.conflict)
    pool_foreach (m, sm->maps)
      if (m->out_fib == out_fib && m->is_ip6 == is_ip6 &&
	  cn_pfx_overlaps (&m->out_pfx, m->len, &op, s->len, is_ip6) &&
	  !(m->proto && s->proto && (m->proto != s->proto || m->out_port != clib_host_to_net_u16 (s->out_port))))
	{
	  c.conflict = format (0, "outside prefix overlaps static mapping %U/%u of table %u",
			       format_ip46_address, &m->out_pfx, IP46_TYPE_ANY, m->len,
			       m->out_table_id);
	  break;
	}
  if (c.conflict)
    {
      if (conflict)
	*conflict = c.conflict;
      else
	vec_free (c.conflict);
      return VNET_API_ERROR_ADDRESS_IN_USE;
    }

  vlib_worker_thread_barrier_sync (vm);
  pool_get_zero (sm->maps, m);
  mi = m - sm->maps;
  m->in_pfx = ip;
  m->out_pfx = op;
  m->in_fib = in_fib;
  m->out_fib = out_fib;
  m->in_table_id = s->in_table_id;
  m->out_table_id = s->out_table_id;
  m->len = s->len;
  m->proto = s->proto;
  m->is_ip6 = is_ip6;
  m->in_port = clib_host_to_net_u16 (s->in_port);
  m->out_port = clib_host_to_net_u16 (s->out_port);
  vlib_validate_simple_counter (&sm->counters, mi);
  vlib_zero_simple_counter (&sm->counters, mi);
  cn_static_entries (m, mi, 1);
  cn_static_claims (m, 1);
  cn_static_fib_dir (in_fib, is_ip6, CN_STATIC_OUT);
  cn_static_fib_dir (out_fib, is_ip6, CN_STATIC_IN);
  cn_snat_table_feature_ref (in_fib, s->af, 1);
  vlib_worker_thread_barrier_release (vm);
  return 0;
}

void
cloudnat_static_walk (cloudnat_static_walk_cb_t cb, void *ctx)
{
  cn_static_t *m;
  pool_foreach (m, cn_static_main.maps)
    {
      cloudnat_static_spec_t s = {
	.in_table_id = m->in_table_id,
	.out_table_id = m->out_table_id,
	.af = m->is_ip6 ? AF_IP6 : AF_IP4,
	.in_pfx = m->in_pfx,
	.out_pfx = m->out_pfx,
	.len = m->len,
	.proto = m->proto,
	.in_port = clib_net_to_host_u16 (m->in_port),
	.out_port = clib_net_to_host_u16 (m->out_port),
      };
      if (cb (&s, vlib_get_simple_counter (&cn_static_main.counters, m - cn_static_main.maps),
	      ctx) == WALK_STOP)
	break;
    }
}

void
cn_static_init (vlib_main_t *vm)
{
  cn_static_main_t *sm = &cn_static_main;
  clib_bihash_init_24_8 (&sm->db, "cloudnat static", 4096, 64 << 20);
  sm->counters.name = "cloudnat static";
  sm->counters.stat_segment_name = "/cloudnat/static";
}

/* ------------------------------------------------------------------ */
/* CLI                                                                 */
/* ------------------------------------------------------------------ */

static clib_error_t *
cn_static_cli (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  cloudnat_static_spec_t s = { 0 };
  int is_add = -1, have_in = 0, have_out = 0, rv;
  u32 len_in = ~0, len_out = ~0, ip, op;
  u8 *conflict = 0;
  clib_error_t *err = 0;

  if (unformat (input, "add"))
    is_add = 1;
  else if (unformat (input, "del"))
    is_add = 0;
  else
    return clib_error_return (0, "cnat static add|del ...");
  while (unformat_check_input (input) != UNFORMAT_END_OF_INPUT)
    {
      if (!have_in &&
	  unformat (input, "%U/%u", unformat_ip46_address, &s.in_pfx, IP46_TYPE_ANY, &len_in))
	have_in = 1;
      else if (unformat (input, "table %u", &s.in_table_id))
	;
      else if (unformat (input, "to %U/%u", unformat_ip46_address, &s.out_pfx, IP46_TYPE_ANY,
			 &len_out))
	have_out = 1;
      else if (unformat (input, "outside-table %u", &s.out_table_id))
	;
      else if (unformat (input, "proto tcp %u %u", &ip, &op) ||
	       unformat (input, "proto TCP %u %u", &ip, &op))
	s.proto = IP_PROTOCOL_TCP, s.in_port = ip, s.out_port = op;
      else if (unformat (input, "proto udp %u %u", &ip, &op) ||
	       unformat (input, "proto UDP %u %u", &ip, &op))
	s.proto = IP_PROTOCOL_UDP, s.in_port = ip, s.out_port = op;
      else if (unformat (input, "proto tcp %u", &ip) || unformat (input, "proto TCP %u", &ip))
	s.proto = IP_PROTOCOL_TCP, s.in_port = ip;
      else if (unformat (input, "proto udp %u", &ip) || unformat (input, "proto UDP %u", &ip))
	s.proto = IP_PROTOCOL_UDP, s.in_port = ip;
      else
	return clib_error_return (0, "unknown input '%U'", format_unformat_error, input);
    }
  if (!have_in || (is_add && !have_out))
    return clib_error_return (0, "usage: cnat static add <inside-prefix> [table <id>] to "
				 "<outside-prefix> [outside-table <id>] [proto tcp|udp <in-port> "
				 "<out-port>]");
  if (is_add && len_in != len_out)
    return clib_error_return (0, "the inside and outside prefixes must have the same length");
  s.len = len_in;
  s.af = ip46_address_is_ip4 (&s.in_pfx) ? AF_IP4 : AF_IP6;
  rv = cloudnat_static_add_del (&s, is_add, &conflict);
  switch (rv)
    {
    case 0:
      break;
    case VNET_API_ERROR_ADDRESS_IN_USE:
      err = clib_error_return (0, "%v", conflict);
      break;
    case VNET_API_ERROR_NO_SUCH_FIB:
      err = clib_error_return (0, "cnat static: no such table");
      break;
    case VNET_API_ERROR_IP_PREFIX_INVALID:
      err = clib_error_return (0, "cnat static: host bits set in a prefix");
      break;
    case VNET_API_ERROR_INVALID_VALUE:
      err = clib_error_return (0, "cnat static: at most %u addresses per mapping, and the two "
				  "prefixes of one table must not overlap",
			       CN_STATIC_MAX_HOSTS);
      break;
    case VNET_API_ERROR_INVALID_VALUE_2:
      err = clib_error_return (0, "cnat static: a port mapping needs proto tcp|udp and both ports");
      break;
    default:
      err = clib_error_return (0, "cnat static: %U", format_vnet_api_errno, rv);
    }
  vec_free (conflict);
  return err;
}

CLOUDNAT_CLI_COMMAND (cn_static_command) = {
  .path = "cnat static",
  .short_help = "cnat static add|del <inside-prefix> [table <id>] to <outside-prefix> "
		"[outside-table <id>] [proto tcp|udp <in-port> <out-port>]",
  .function = cn_static_cli,
};

static walk_rc_t
cn_static_show_one (const cloudnat_static_spec_t *s, u64 packets, void *arg)
{
  vlib_main_t *vm = arg;
  ip46_type_t t = s->af == AF_IP6 ? IP46_TYPE_IP6 : IP46_TYPE_IP4;
  u8 *ports = 0;
  if (s->proto)
    ports = format (0, " %s %u <-> %u", s->proto == IP_PROTOCOL_TCP ? "tcp" : "udp", s->in_port,
		    s->out_port);
  vlib_cli_output (vm, "table %u %U/%u <-> table %u %U/%u%v: %lu packets", s->in_table_id,
		   format_ip46_address, &s->in_pfx, t, s->len, s->out_table_id, format_ip46_address,
		   &s->out_pfx, t, s->len, ports, packets);
  vec_free (ports);
  return WALK_CONTINUE;
}

static clib_error_t *
cn_static_show_cli (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  cloudnat_static_walk (cn_static_show_one, vm);
  return 0;
}

CLOUDNAT_CLI_COMMAND (cn_static_show_command) = {
  .path = "cnat show static",
  .short_help = "cnat show static",
  .function = cn_static_show_cli,
};
