/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_translation.c: translations (VIP or real address + port +
 * protocol -> backends), backend choice for new flows.
 *
 * Every change runs with workers stopped at the barrier: workers read the
 * translation pool, backend vectors and Maglev tables without locks, so
 * those may only move while nobody reads them. Sessions of a deleted
 * translation, or of backends an update removed, are deleted in the same
 * barrier; sessions on kept backends survive (their backend index is
 * renumbered).
 */

#include <vnet/fib/fib_table.h>
#include <vnet/fib/fib_entry.h>
#include <cloudnat/cloudnat_priv.h>

static void
cn_tr_key (clib_bihash_kv_24_8_t *kv, u32 fib_index, const ip46_address_t *vip,
	   ip_address_family_t af, u16 port, u8 proto)
{
  kv->key[0] = vip->as_u64[0];
  kv->key[1] = vip->as_u64[1];
  kv->key[2] =
    (u64) fib_index << 32 | (u64) clib_host_to_net_u16 (port) << 16 | (u64) proto << 8 | af;
}

static int
cn_addr_is_zero (const ip46_address_t *a)
{
  return ip46_address_is_zero (a);
}

/* IPv4 addresses live in ip46.ip4 with a zero pad; an IPv6 one must not
   look like that. */
static int
cn_addr_family_ok (const ip46_address_t *a, ip_address_family_t af)
{
  if (cn_addr_is_zero (a))
    return 1;
  if (af == AF_IP4)
    return ip46_address_is_ip4 (a);
  return !ip46_address_is_ip4 (a);
}

static int
cn_addr_is_multicast (const ip46_address_t *a, ip_address_family_t af)
{
  return af == AF_IP4 ? ip4_address_is_multicast (&a->ip4) : ip6_address_is_multicast (&a->ip6);
}

u32
cloudnat_fib_index_from_table_id (u32 table_id, ip_address_family_t af)
{
  return fib_table_find (af == AF_IP6 ? FIB_PROTOCOL_IP6 : FIB_PROTOCOL_IP4, table_id);
}

int
cloudnat_table_exists (u32 table_id)
{
  return fib_table_find (FIB_PROTOCOL_IP4, table_id) != ~0 ||
	 fib_table_find (FIB_PROTOCOL_IP6, table_id) != ~0;
}

/* Is a an address of an interface, in that table? */
int
cn_addr_is_interface_address (u32 fib_index, const ip46_address_t *a, ip_address_family_t af)
{
  fib_prefix_t pfx;
  fib_node_index_t fei;

  clib_memset (&pfx, 0, sizeof (pfx));
  pfx.fp_proto = af == AF_IP6 ? FIB_PROTOCOL_IP6 : FIB_PROTOCOL_IP4;
  pfx.fp_len = af == AF_IP6 ? 128 : 32;
  pfx.fp_addr = *a;
  fei = fib_table_lookup_exact_match (fib_index, &pfx);
  if (fei == FIB_NODE_INDEX_INVALID)
    return 0;
  return fib_entry_is_sourced (fei, FIB_SOURCE_INTERFACE);
}

/* Validate and normalise; fills *fib_index. */
static int
cn_translation_validate (cloudnat_translation_spec_t *s, u32 *fib_index)
{
  cloudnat_backend_t *b;
  u32 n;

  if (s->af != AF_IP4 && s->af != AF_IP6)
    return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
  *fib_index = cloudnat_fib_index_from_table_id (s->table_id, s->af);
  if (*fib_index == ~0)
    return VNET_API_ERROR_NO_SUCH_FIB;
  /* one mode per address: a VIP is not a static mapping's address */
  if (s->kind == CN_KIND_VIP &&
      cn_static_has_in (*fib_index, s->af == AF_IP6 ? s->vip.as_u8 : s->vip.ip4.as_u8,
			s->af == AF_IP6))
    return VNET_API_ERROR_ADDRESS_IN_USE;

  if (s->af == AF_IP6 && s->proto == IP_PROTOCOL_ICMP)
    s->proto = IP_PROTOCOL_ICMP6;
  if (s->proto != IP_PROTOCOL_TCP && s->proto != IP_PROTOCOL_UDP && s->proto != IP_PROTOCOL_ICMP &&
      s->proto != IP_PROTOCOL_ICMP6)
    return VNET_API_ERROR_INVALID_PROTOCOL;
  if (s->af == AF_IP4 && s->proto == IP_PROTOCOL_ICMP6)
    return VNET_API_ERROR_INVALID_PROTOCOL;

  if (cn_proto_is_icmp (s->proto) ? s->port != 0 : s->port == 0)
    return VNET_API_ERROR_INVALID_VALUE;
  if (s->kind > CN_KIND_REAL || s->lb_method > CN_LB_MAGLEV || (s->hash_fields & ~CN_HASH_ALL))
    return VNET_API_ERROR_INVALID_ARGUMENT;

  n = vec_len (s->backends);
  if (n == 0 || n > CN_MAX_BACKENDS)
    return VNET_API_ERROR_INVALID_VALUE_2;

  if (!cn_addr_family_ok (&s->vip, s->af))
    return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
  if (cn_addr_is_zero (&s->vip) || cn_addr_is_multicast (&s->vip, s->af))
    return VNET_API_ERROR_INVALID_DST_ADDRESS;

  vec_foreach (b, s->backends)
    {
      if (!cn_addr_family_ok (&b->dst_addr, s->af) || !cn_addr_family_ok (&b->src_addr, s->af))
	return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
      if (cn_addr_is_zero (&b->dst_addr) || cn_addr_is_multicast (&b->dst_addr, s->af))
	return VNET_API_ERROR_INVALID_DST_ADDRESS;
      if (cn_addr_is_multicast (&b->src_addr, s->af))
	return VNET_API_ERROR_INVALID_SRC_ADDRESS;
      if (cn_proto_is_icmp (s->proto) && (b->src_port || b->dst_port))
	return VNET_API_ERROR_INVALID_VALUE;
    }

  if (s->lb_method == CN_LB_MAGLEV || s->maglev_len)
    {
      if (s->maglev_len == 0)
	s->maglev_len = CN_MAGLEV_DEFAULT_LEN;
      if (!cn_is_prime (s->maglev_len) || s->maglev_len > CN_MAGLEV_MAX_LEN || s->maglev_len < n)
	return VNET_API_ERROR_INVALID_ARGUMENT;
    }
  if (s->lb_method != CN_LB_MAGLEV)
    s->maglev_len = 0;
  if (s->hash_fields == 0)
    s->hash_fields = CN_HASH_ALL;

  if (s->kind == CN_KIND_REAL && !cn_addr_is_interface_address (*fib_index, &s->vip, s->af))
    return VNET_API_ERROR_ADDRESS_NOT_FOUND_FOR_INTERFACE;
  return 0;
}

static int
cn_backend_equal (const cloudnat_backend_t *a, const cloudnat_backend_t *b)
{
  return ip46_address_is_equal (&a->src_addr, &b->src_addr) &&
	 ip46_address_is_equal (&a->dst_addr, &b->dst_addr) && a->src_port == b->src_port &&
	 a->dst_port == b->dst_port;
}

static void
cn_translation_build_lb (cn_translation_t *tr)
{
  u32 n = vec_len (tr->spec.backends), i, *next = 0;
  cloudnat_backend_t *b;

  vec_reset_length (tr->backend_keys);
  vec_foreach (b, tr->spec.backends)
    vec_add1 (tr->backend_keys, cn_hash_bytes (b, sizeof (*b), 0x6c62));
  vec_free (tr->maglev);
  if (tr->spec.lb_method != CN_LB_MAGLEV)
    return;
  vec_validate (tr->maglev, tr->spec.maglev_len - 1);
  vec_validate (next, n - 1);
  cn_maglev_build (tr->backend_keys, n, tr->spec.maglev_len, tr->maglev, next);
  vec_free (next);
  (void) i;
}

/* references on the addresses backends rewrite sources to: replies are
   addressed there */
static void
cn_translation_ref_src_clients (cn_translation_t *tr)
{
  cloudnat_backend_t *b;
  vec_foreach (b, tr->spec.backends)
    if (!cn_addr_is_zero (&b->src_addr))
      vec_add1 (tr->src_clients,
		cn_client_ref (tr->fib_index, &b->src_addr, tr->spec.af, CN_CLIENT_REF_STATIC));
}

static void
cn_translation_unref_src_clients (cn_translation_t *tr)
{
  u32 *ci;
  vec_foreach (ci, tr->src_clients)
    cn_client_unref (*ci, CN_CLIENT_REF_STATIC);
  vec_free (tr->src_clients);
}

int
cloudnat_translation_add_update (const cloudnat_translation_spec_t *spec, u32 *id)
{
  vlib_main_t *vm = vlib_get_main ();
  cloudnat_translation_spec_t s = *spec;
  clib_bihash_kv_24_8_t kv;
  cn_translation_t *tr;
  u32 fib_index, ti, *map = 0, i, j;
  int rv;

  s.backends = 0;
  vec_add (s.backends, spec->backends, vec_len (spec->backends));
  if ((rv = cn_translation_validate (&s, &fib_index)))
    {
      vec_free (s.backends);
      return rv;
    }

  vlib_worker_thread_barrier_sync (vm);
  cn_tr_key (&kv, fib_index, &s.vip, s.af, s.port, s.proto);
  if (!clib_bihash_search_inline_24_8 (&cn_dp.tr_db, &kv))
    {
      /* update */
      ti = (u32) kv.value;
      tr = pool_elt_at_index (cn_dp.translations, ti);
      vec_validate_init_empty (map, vec_len (tr->spec.backends) - 1, ~0);
      for (i = 0; i < vec_len (tr->spec.backends); i++)
	for (j = 0; j < vec_len (s.backends); j++)
	  if (cn_backend_equal (&tr->spec.backends[i], &s.backends[j]))
	    {
	      map[i] = j;
	      break;
	    }
      cn_sessions_of_translation (ti, map);
      vec_free (map);

      tr = pool_elt_at_index (cn_dp.translations, ti);
      if (tr->spec.kind != s.kind)
	{
	  cn_client_unref (tr->client_index,
			   tr->spec.kind == CN_KIND_VIP ? CN_CLIENT_REF_VIP : CN_CLIENT_REF_STATIC);
	  tr->client_index =
	    cn_client_ref (fib_index, &s.vip, s.af,
			   s.kind == CN_KIND_VIP ? CN_CLIENT_REF_VIP : CN_CLIENT_REF_STATIC);
	  tr = pool_elt_at_index (cn_dp.translations, ti);
	}
      cn_translation_unref_src_clients (tr);
      vec_free (tr->spec.backends);
      tr->spec = s;
      cn_translation_build_lb (tr);
      cn_translation_ref_src_clients (tr);
    }
  else
    {
      pool_get_zero (cn_dp.translations, tr);
      ti = tr - cn_dp.translations;
      tr->spec = s;
      tr->fib_index = fib_index;
      tr->client_index = ~0;
      cn_translation_build_lb (tr);
      vlib_validate_combined_counter (&cn_dp.tr_counters, ti);
      vlib_zero_combined_counter (&cn_dp.tr_counters, ti);
      kv.value = ti;
      clib_bihash_add_del_24_8 (&cn_dp.tr_db, &kv, 1);
      /* capture the address only now that the translation can be found */
      u32 ci = cn_client_ref (fib_index, &s.vip, s.af,
			      s.kind == CN_KIND_VIP ? CN_CLIENT_REF_VIP : CN_CLIENT_REF_STATIC);
      tr = pool_elt_at_index (cn_dp.translations, ti);
      tr->client_index = ci;
      cn_translation_ref_src_clients (tr);
    }
  cn_client_gc (vm);
  vlib_worker_thread_barrier_release (vm);
  if (id)
    *id = ti;
  return 0;
}

static void
cn_translation_del_i (u32 ti)
{
  cn_translation_t *tr = pool_elt_at_index (cn_dp.translations, ti);
  clib_bihash_kv_24_8_t kv;

  /* no new sessions from here on, then the existing ones go */
  cn_tr_key (&kv, tr->fib_index, &tr->spec.vip, tr->spec.af, tr->spec.port, tr->spec.proto);
  clib_bihash_add_del_24_8 (&cn_dp.tr_db, &kv, 0);
  cn_sessions_of_translation (ti, 0);
  tr = pool_elt_at_index (cn_dp.translations, ti);
  cn_client_unref (tr->client_index,
		   tr->spec.kind == CN_KIND_VIP ? CN_CLIENT_REF_VIP : CN_CLIENT_REF_STATIC);
  tr = pool_elt_at_index (cn_dp.translations, ti);
  cn_translation_unref_src_clients (tr);
  vec_free (tr->spec.backends);
  vec_free (tr->maglev);
  vec_free (tr->backend_keys);
  pool_put (cn_dp.translations, tr);
}

int
cloudnat_translation_del (u32 table_id, const ip46_address_t *vip, ip_address_family_t af, u16 port,
			  u8 proto)
{
  vlib_main_t *vm = vlib_get_main ();
  clib_bihash_kv_24_8_t kv;
  u32 fib_index;

  if (af != AF_IP4 && af != AF_IP6)
    return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
  fib_index = cloudnat_fib_index_from_table_id (table_id, af);
  if (fib_index == ~0)
    return VNET_API_ERROR_NO_SUCH_FIB;
  if (af == AF_IP6 && proto == IP_PROTOCOL_ICMP)
    proto = IP_PROTOCOL_ICMP6;
  cn_tr_key (&kv, fib_index, vip, af, port, proto);
  if (clib_bihash_search_inline_24_8 (&cn_dp.tr_db, &kv))
    return 0;
  vlib_worker_thread_barrier_sync (vm);
  cn_translation_del_i ((u32) kv.value);
  cn_client_gc (vm);
  vlib_worker_thread_barrier_release (vm);
  return 0;
}

int
cloudnat_translation_del_by_id (u32 id)
{
  vlib_main_t *vm = vlib_get_main ();
  if (pool_is_free_index (cn_dp.translations, id))
    return 0;
  vlib_worker_thread_barrier_sync (vm);
  cn_translation_del_i (id);
  cn_client_gc (vm);
  vlib_worker_thread_barrier_release (vm);
  return 0;
}

static void
cn_translation_info (u32 ti, cloudnat_translation_info_t *info)
{
  cn_translation_t *tr = pool_elt_at_index (cn_dp.translations, ti);
  vlib_counter_t c;

  vlib_get_combined_counter (&cn_dp.tr_counters, ti, &c);
  info->id = ti;
  info->spec = &tr->spec;
  info->n_sessions = tr->n_sessions;
  info->packets = c.packets;
  info->bytes = c.bytes;
}

void
cloudnat_translation_walk (cloudnat_translation_walk_cb_t cb, void *ctx)
{
  cloudnat_translation_info_t info;
  u32 *ids = 0, *id;
  cn_translation_t *tr;

  /* collect first: a callback may change translations */
  pool_foreach (tr, cn_dp.translations)
    vec_add1 (ids, tr - cn_dp.translations);
  vec_foreach (id, ids)
    {
      if (pool_is_free_index (cn_dp.translations, *id))
	continue;
      cn_translation_info (*id, &info);
      if (cb (&info, ctx) == WALK_STOP)
	break;
    }
  vec_free (ids);
}

int
cloudnat_translation_get (u32 id, cloudnat_translation_info_t *info)
{
  if (pool_is_free_index (cn_dp.translations, id))
    return VNET_API_ERROR_NO_SUCH_ENTRY;
  cn_translation_info (id, info);
  return 0;
}

u32
cloudnat_translation_count (void)
{
  return pool_elts (cn_dp.translations);
}

/* Choose the backend of a new flow (any thread). */
int
cn_translation_select (cn_translation_t *tr, cn_sess_create_args_t *a)
{
  u32 n = vec_len (tr->spec.backends), h, bi;
  u32 alen = a->is_ip6 ? 16 : 4;
  const u8 *src = a->is_ip6 ? a->src.ip6.as_u8 : a->src.ip4.as_u8;
  const u8 *dst = a->is_ip6 ? a->dst.ip6.as_u8 : a->dst.ip4.as_u8;
  cloudnat_backend_t *b;

  if (PREDICT_FALSE (n == 0))
    return -1;
  h = cn_flow_hash (tr->spec.hash_fields, src, dst, alen, a->sport, a->dport, a->proto);
  if (tr->spec.lb_method == CN_LB_MAGLEV && vec_len (tr->maglev))
    bi = tr->maglev[h % vec_len (tr->maglev)];
  else
    bi = h % n;
  if (PREDICT_FALSE (bi >= n))
    bi = 0;
  b = &tr->spec.backends[bi];

  a->is_dnat = 1;
  a->backend = (u8) bi;
  a->ndst = b->dst_addr;
  a->ndport = b->dst_port ? clib_host_to_net_u16 (b->dst_port) : a->dport;
  if (cn_addr_is_zero (&b->src_addr))
    {
      a->nsrc = a->src;
      a->needs_client_ref = 1; /* replies go to the client itself */
      a->src_port_free = 0;
    }
  else
    {
      a->nsrc = b->src_addr;
      a->needs_client_ref = 0; /* captured with the translation */
      a->src_port_free = b->src_port == 0;
    }
  a->nsport = b->src_port ? clib_host_to_net_u16 (b->src_port) : a->sport;
  if (cn_proto_is_icmp (a->proto))
    a->ndport = a->nsport = a->sport; /* echo id kept */
  return 0;
}
