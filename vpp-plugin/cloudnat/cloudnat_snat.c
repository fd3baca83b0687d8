/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_snat.c: source NAT configuration (per table and family: a pool
 * of addresses and exclusion prefixes), the per-interface feature, and the
 * decision for a new flow seen by ip4-cnat-snat / ip6-cnat-snat.
 *
 * Each SNAT address is captured like any client (interposed on its FIB
 * entry, normally the outside interface's own address), so replies reach
 * the cloudnat node whatever interface they arrive on, and traffic to the
 * address without a session goes on to local delivery untouched.
 *
 * Paired pooling: an inside address always maps to the same pool address
 * (hash of the source address modulo the pool size).
 */

#include <vnet/fib/fib_table.h>
#include <vnet/fib/ip4_fib.h>
#include <vnet/fib/ip6_fib.h>
#include <vnet/feature/feature.h>
#include <cloudnat/cloudnat_priv.h>
#include <cloudnat/cloudnat_pool.h> /* CN_FILTER_* */

static int cn_snat_live_mapping (cn_sess_create_args_t *a);

static cn_snat_table_t *
cn_snat_table (ip_address_family_t af, u32 fib_index, int create)
{
  if (fib_index >= vec_len (cn_dp.snat[af]))
    {
      if (!create)
	return 0;
      vec_validate (cn_dp.snat[af], fib_index);
    }
  return &cn_dp.snat[af][fib_index];
}

static int
cn_addr_shape_ok (const ip46_address_t *a, ip_address_family_t af)
{
  if (af == AF_IP4)
    return ip46_address_is_ip4 (a);
  return !ip46_address_is_ip4 (a);
}

int
cloudnat_snat_address_add_del (u32 table_id, const ip46_address_t *addr, ip_address_family_t af,
			       int is_add)
{
  vlib_main_t *vm = vlib_get_main ();
  cn_snat_table_t *t;
  u32 fib_index, i;

  if (af != AF_IP4 && af != AF_IP6)
    return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
  fib_index = cloudnat_fib_index_from_table_id (table_id, af);
  if (fib_index == ~0)
    return VNET_API_ERROR_NO_SUCH_FIB;
  if (ip46_address_is_zero (addr))
    return VNET_API_ERROR_INVALID_SRC_ADDRESS;
  if (!cn_addr_shape_ok (addr, af))
    return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
  if (af == AF_IP4 ? ip4_address_is_multicast (&addr->ip4) : ip6_address_is_multicast (&addr->ip6))
    return VNET_API_ERROR_INVALID_SRC_ADDRESS;

  vlib_worker_thread_barrier_sync (vm);
  t = cn_snat_table (af, fib_index, is_add);
  for (i = 0; t && i < vec_len (t->addrs); i++)
    if (ip46_address_is_equal (&t->addrs[i], addr))
      break;
  if (is_add && t && i == vec_len (t->addrs))
    {
      u32 ci = cn_client_ref (fib_index, addr, af, CN_CLIENT_REF_STATIC);
      t = cn_snat_table (af, fib_index, 1);
      vec_add1 (t->addrs, *addr);
      vec_add1 (t->addr_clients, ci);
    }
  else if (!is_add && t && i < vec_len (t->addrs))
    {
      u32 ci = t->addr_clients[i];
      cn_sessions_of_snat_address (fib_index, addr, af);
      t = cn_snat_table (af, fib_index, 0);
      vec_delete (t->addrs, 1, i);
      vec_delete (t->addr_clients, 1, i);
      cn_client_unref (ci, CN_CLIENT_REF_STATIC);
    }
  vlib_worker_thread_barrier_release (vm);
  return 0;
}

void
cloudnat_snat_address_walk (cloudnat_snat_address_walk_cb_t cb, void *ctx)
{
  ip_address_family_t af;
  u32 fib_index, i;

  FOR_EACH_IP_ADDRESS_FAMILY (af)
  {
    for (fib_index = 0; fib_index < vec_len (cn_dp.snat[af]); fib_index++)
      {
	cn_snat_table_t *t = &cn_dp.snat[af][fib_index];
	for (i = 0; i < vec_len (t->addrs); i++)
	  if (cb (cn_table_id_of_fib (fib_index, af), &t->addrs[i], af, ctx) == WALK_STOP)
	    return;
      }
  }
}

void
cn_prefix_mask (ip46_address_t *a, u8 len, ip_address_family_t af)
{
  if (af == AF_IP4)
    {
      ip4_address_t m;
      ip4_preflen_to_mask (len, &m);
      a->ip4.as_u32 &= m.as_u32;
    }
  else
    {
      ip6_address_t m;
      ip6_preflen_to_mask (len, &m);
      ip6_address_mask (&a->ip6, &m);
    }
}

/* A prefix of a table as the API and CLI give it (exclusions, pool
   bindings): the family is known, the table exists in it, the length fits
   and the address has the family's shape (zero: any). 0 and the table's
   fib index, or the API error. */
int
cn_table_prefix_check (u32 table_id, const ip46_address_t *pfx, u8 len, ip_address_family_t af,
		       u32 *fib_index)
{
  if (af != AF_IP4 && af != AF_IP6)
    return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
  *fib_index = cloudnat_fib_index_from_table_id (table_id, af);
  if (*fib_index == ~0)
    return VNET_API_ERROR_NO_SUCH_FIB;
  if (len > (af == AF_IP4 ? 32 : 128))
    return VNET_API_ERROR_INVALID_VALUE;
  if (!ip46_address_is_zero (pfx) && !cn_addr_shape_ok (pfx, af))
    return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
  return 0;
}

int
cloudnat_snat_exclude_add_del (u32 table_id, const ip46_address_t *pfx, u8 len,
			       ip_address_family_t af, int is_add)
{
  vlib_main_t *vm = vlib_get_main ();
  cn_snat_table_t *t;
  ip46_address_t p;
  u32 fib_index, i;
  int rv;

  if ((rv = cn_table_prefix_check (table_id, pfx, len, af, &fib_index)))
    return rv;
  p = *pfx;
  cn_prefix_mask (&p, len, af);

  vlib_worker_thread_barrier_sync (vm);
  t = cn_snat_table (af, fib_index, is_add);
  for (i = 0; t && i < vec_len (t->excludes); i++)
    if (t->excludes[i].len == len && ip46_address_is_equal (&t->excludes[i].addr, &p))
      break;
  if (is_add && i == vec_len (t->excludes))
    {
      cn_prefix_t e = { .addr = p, .len = len };
      vec_add1 (t->excludes, e);
    }
  else if (!is_add && t && i < vec_len (t->excludes))
    vec_delete (t->excludes, 1, i);
  vlib_worker_thread_barrier_release (vm);
  return 0;
}

void
cloudnat_snat_exclude_walk (cloudnat_snat_exclude_walk_cb_t cb, void *ctx)
{
  ip_address_family_t af;
  u32 fib_index, i;

  FOR_EACH_IP_ADDRESS_FAMILY (af)
  {
    for (fib_index = 0; fib_index < vec_len (cn_dp.snat[af]); fib_index++)
      {
	cn_snat_table_t *t = &cn_dp.snat[af][fib_index];
	for (i = 0; i < vec_len (t->excludes); i++)
	  if (cb (cn_table_id_of_fib (fib_index, af), &t->excludes[i].addr, t->excludes[i].len, af,
		  ctx) == WALK_STOP)
	    return;
      }
  }
}

static const char *
cn_snat_arc (u8 is_ip6)
{
  return is_ip6 ? "ip6-unicast" : "ip4-unicast";
}

static const char *
cn_snat_feature (u8 is_ip6)
{
  return is_ip6 ? "ip6-cnat-snat" : "ip4-cnat-snat";
}

/* Table references (bindings, static mappings) per (family, table), and the
   interfaces whose feature they turned on ("auto"): see
   cn_snat_table_feature_ref. */
static u32 *cn_table_feature_refs[N_AF];
static uword *cn_table_feature_auto[N_AF];

static int
cn_snat_feature_set (u32 sw_if_index, u8 is_ip6, int enable)
{
  vnet_main_t *vnm = vnet_get_main ();
  int on;

  if (!vnet_sw_interface_is_valid (vnm, sw_if_index))
    return VNET_API_ERROR_INVALID_SW_IF_INDEX;
  on = vnet_feature_is_enabled (cn_snat_arc (is_ip6), cn_snat_feature (is_ip6), sw_if_index);
  if (!!on == !!enable)
    return 0;
  return vnet_feature_enable_disable (cn_snat_arc (is_ip6), cn_snat_feature (is_ip6), sw_if_index,
				      enable, 0, 0);
}

/* An operator's (API, CLI) enable or disable: the interface is the
   operator's from then on, so a table reference neither lists it as its
   own (the API dump shows it) nor turns it off with its last unbind. */
int
cloudnat_snat_interface_enable_disable (u32 sw_if_index, u8 is_ip6, int enable)
{
  ip_address_family_t af = is_ip6 ? AF_IP6 : AF_IP4;
  int rv = cn_snat_feature_set (sw_if_index, is_ip6, enable);

  if (!rv)
    cn_table_feature_auto[af] = clib_bitmap_set (cn_table_feature_auto[af], sw_if_index, 0);
  return rv;
}

/* Was the feature on this interface turned on by a table reference (a pool
   binding or a static mapping of its table) rather than by an operator? */
int
cloudnat_snat_interface_is_auto (u32 sw_if_index, u8 is_ip6)
{
  return clib_bitmap_get (cn_table_feature_auto[is_ip6 ? AF_IP6 : AF_IP4], sw_if_index);
}

void
cloudnat_snat_interface_walk (cloudnat_snat_interface_walk_cb_t cb, void *ctx)
{
  vnet_main_t *vnm = vnet_get_main ();
  vnet_sw_interface_t *si;
  u32 *ids = 0, *id;
  u8 is_ip6;

  pool_foreach (si, vnm->interface_main.sw_interfaces)
    vec_add1 (ids, si->sw_if_index);
  vec_foreach (id, ids)
    for (is_ip6 = 0; is_ip6 < 2; is_ip6++)
      if (vnet_feature_is_enabled (cn_snat_arc (is_ip6), cn_snat_feature (is_ip6), *id) > 0)
	if (cb (*id, is_ip6, ctx) == WALK_STOP)
	  goto done;
done:
  vec_free (ids);
}

/* is a inside the (masked) prefix pfx/len? */
int
cn_pfx_contains (const ip46_address_t *pfx, u8 len, const ip46_address_t *a, u8 is_ip6)
{
  if (!is_ip6)
    {
      ip4_address_t m;
      ip4_preflen_to_mask (len, &m);
      return (a->ip4.as_u32 & m.as_u32) == pfx->ip4.as_u32;
    }
  ip6_address_t m, x = a->ip6;
  ip6_preflen_to_mask (len, &m);
  ip6_address_mask (&x, &m);
  return ip6_address_is_equal (&x, &pfx->ip6);
}

/* A new flow on the SNAT feature (any thread). */
int
cn_snat_decide (cn_sess_create_args_t *a)
{
  ip_address_family_t af = a->is_ip6 ? AF_IP6 : AF_IP4;
  cn_snat_table_t *t;
  dpo_id_t d = DPO_INVALID;
  u32 i, n, h;
  int rc;

  /* a source inside a pool's bound prefix: the pool decides
     (cloudnat_pool.c); otherwise the table's own addresses, if any */
  if ((rc = cn_pool_decide (a)) != CN_POOL_NOT_BOUND)
    return rc;
  if (a->fib_index >= vec_len (cn_dp.snat[af]))
    return CN_SNAT_PASS_NO_ADDR;
  t = &cn_dp.snat[af][a->fib_index];
  n = vec_len (t->addrs);
  if (!n)
    return CN_SNAT_PASS_NO_ADDR;
  for (i = 0; i < vec_len (t->excludes); i++)
    if (cn_pfx_contains (&t->excludes[i].addr, t->excludes[i].len, &a->dst, a->is_ip6))
      return CN_SNAT_PASS_EXCLUDED;
  for (i = 0; i < n; i++)
    if (ip46_address_is_equal (&t->addrs[i], &a->dst))
      {
	/* another inside endpoint's mapping: translate, the VIP node
	   hairpins it (cn_hairpin_decide); else VPP's own address */
	clib_bihash_kv_24_8_t kv;
	cn_mapping_key (&kv, &a->dst, a->fib_index, a->dport, a->proto, a->is_ip6);
	if (clib_bihash_search_inline_24_8 (&cn_dp.mapping_db, &kv))
	  return CN_SNAT_PASS_EXCLUDED;
	goto hairpin;
      }
  /* link-scoped and group traffic never leaves through NAT */
  if (a->is_ip6)
    {
      if (ip6_address_is_multicast (&a->dst.ip6) ||
	  ip6_address_is_link_local_unicast (&a->dst.ip6) ||
	  ip6_address_is_link_local_unicast (&a->src.ip6) || ip6_address_is_zero (&a->src.ip6))
	return CN_SNAT_PASS_EXCLUDED;
    }
  else if (ip4_address_is_multicast (&a->dst.ip4) || a->dst.ip4.as_u32 == 0xffffffff ||
	   a->src.ip4.as_u32 == 0)
    return CN_SNAT_PASS_EXCLUDED;

  /* traffic to VPP itself (e.g. a ping of the gateway) is not NATed */
  d.dpoi_type = DPO_LOAD_BALANCE;
  d.dpoi_index = a->is_ip6 ? ip6_fib_table_fwding_lookup (a->fib_index, &a->dst.ip6) :
			     ip4_fib_forwarding_lookup (a->fib_index, &a->dst.ip4);
  if (cn_dpo_is_local (&d))
    return CN_SNAT_PASS_LOCAL;

hairpin:
  if (a->classify_only)
    return 0;
  h = (u32) clib_xxhash (a->src.as_u64[0] ^ a->src.as_u64[1]);
  a->nsrc = t->addrs[h % n];
  a->ndst = a->dst;
  a->nsport = a->sport; /* kept when free */
  a->ndport = a->dport;
  a->src_port_free = 1;
  a->needs_client_ref = 0; /* the SNAT address is captured already */
  a->is_dnat = 0;
  a->tr_index = ~0;
  a->backend = 0;
  if (PREDICT_FALSE (t->filtering != CN_FILTER_ADDRESS_PORT))
    {
      /* inbound packets find X:x through X':x' alone: X:x keeps its live
	 mapping, and a new one is a port no other endpoint maps to */
      a->filter_flags = t->filtering == CN_FILTER_ENDPOINT ? CN_SF_EIF : CN_SF_ADF;
      if (cn_snat_live_mapping (a))
	return 0;
      if (cn_snat_port_mapped (a, a->nsport) && cn_session_pick_port (a))
	return CN_SNAT_DROP_NO_PORT;
    }
  /* another inside endpoint freed that port less than the reuse delay
     ago: take one that is not cooling */
  if (PREDICT_FALSE (cn_snat_port_cooling (a, a->nsport)) && cn_session_pick_port (a))
    return CN_SNAT_DROP_NO_PORT;
  return 0;
}

/* Open filtering: X:x's live per-table SNAT mapping on a's address, if it
   has one, becomes a's (nsport); 1 when found. */
static int
cn_snat_live_mapping (cn_sess_create_args_t *a)
{
  clib_bihash_kv_24_8_t kv;
  u32 sub;
  u8 flags;
  u16 port;
  ip46_address_t ns;

  cn_mapping_key (&kv, &a->src, a->fib_index, a->sport, a->proto, a->is_ip6);
  if (clib_bihash_search_24_8 (&cn_dp.inside_db, &kv, &kv))
    return 0;
  if (a->is_ip6)
    {
      const cn_sess6_t *r = cn_store_get (&cn_dp.store6, (u32) kv.value);
      flags = r->flags, sub = r->sub_index, port = r->rw[0].sport;
      clib_memcpy (ns.as_u8, r->rw[0].src, 16);
    }
  else
    {
      const cn_sess4_t *r = cn_store_get (&cn_dp.store4, (u32) kv.value);
      flags = r->flags, sub = r->sub_index, port = r->rw[0].sport;
      ip46_address_set_ip4 (&ns, (ip4_address_t *) &r->rw[0].src);
    }
  if ((flags & (CN_SF_USED | CN_SF_DEAD)) != CN_SF_USED || sub != ~0 ||
      !ip46_address_is_equal (&ns, &a->nsrc))
    return 0;
  a->nsport = port;
  if (cn_proto_is_icmp (a->proto))
    a->ndport = port;
  return 1;
}

int
cloudnat_snat_filtering_set (u32 table_id, u8 filtering)
{
  vlib_main_t *vm = vlib_get_main ();
  ip_address_family_t af;
  u32 fib_index, found = 0, n = 0, i;

  if (filtering > CN_FILTER_ENDPOINT)
    return VNET_API_ERROR_UNIMPLEMENTED;
  vlib_worker_thread_barrier_sync (vm);
  for (af = AF_IP4; af <= AF_IP6; af++)
    {
      fib_index = cloudnat_fib_index_from_table_id (table_id, af);
      if (fib_index == ~0)
	continue;
      found = 1;
      cn_snat_table (af, fib_index, 1)->filtering = filtering;
    }
  for (af = AF_IP4; af <= AF_IP6; af++)
    vec_foreach_index (i, cn_dp.snat[af])
      n += cn_dp.snat[af][i].filtering != CN_FILTER_ADDRESS_PORT;
  cn_dp.n_open_filter_tables = n;
  vlib_worker_thread_barrier_release (vm);
  return found ? 0 : VNET_API_ERROR_NO_SUCH_FIB;
}

u8
cloudnat_snat_filtering_get (u32 table_id, ip_address_family_t af)
{
  u32 fib_index = cloudnat_fib_index_from_table_id (table_id, af);
  cn_snat_table_t *t = fib_index == ~0 ? 0 : cn_snat_table (af, fib_index, 0);
  return t ? t->filtering : CN_FILTER_ADDRESS_PORT;
}

/* Pools' bindings and static mappings need the feature on every interface
   of their inside table: each holds a reference on (table, family); the
   first turns the feature on for the table's interfaces (those that had it
   already are left alone), the last turns it off on the ones it turned on.
   Interfaces put in the table later get it with the next reference. */

void
cn_snat_table_feature_ref (u32 fib_index, ip_address_family_t af, int delta)
{
  u32 *fibs = af == AF_IP4 ? ip4_main.fib_index_by_sw_if_index : ip6_main.fib_index_by_sw_if_index;
  u32 sw, refs;

  vec_validate (cn_table_feature_refs[af], fib_index);
  refs = cn_table_feature_refs[af][fib_index];
  if (delta < 0 && !refs)
    return;
  cn_table_feature_refs[af][fib_index] = refs = refs + delta;
  vec_foreach_index (sw, fibs)
    {
      if (fibs[sw] != fib_index || !vnet_sw_interface_is_valid (vnet_get_main (), sw))
	continue;
      if (refs)
	{
	  if (vnet_feature_is_enabled (cn_snat_arc (af == AF_IP6), cn_snat_feature (af == AF_IP6),
				       sw) > 0)
	    continue;
	  cn_snat_feature_set (sw, af == AF_IP6, 1);
	  cn_table_feature_auto[af] = clib_bitmap_set (cn_table_feature_auto[af], sw, 1);
	}
      else if (clib_bitmap_get (cn_table_feature_auto[af], sw))
	{
	  cn_snat_feature_set (sw, af == AF_IP6, 0);
	  cn_table_feature_auto[af] = clib_bitmap_set (cn_table_feature_auto[af], sw, 0);
	}
    }
}
