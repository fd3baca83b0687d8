/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_pool_config.c: pools, bindings of inside prefixes, static
 * blocks, the subscriber list and interface-address pools: the control
 * plane of the pools (cloudnat_pool.h). Changes that the data path reads
 * without a lock (pools, bindings) are made under the worker barrier;
 * subscribers and blocks under the pools' lock (cloudnat_pool.c).
 */

#include <cloudnat/cloudnat_pool_priv.h>

/* ------------------------------------------------------------------ */
/* pools                                                               */
/* ------------------------------------------------------------------ */

static int
cn_pool_name_ok (const u8 *name)
{
  u32 i, n = vec_len (name);
  if (n == 0 || n > CN_POOL_NAME_MAX)
    return 0;
  for (i = 0; i < n; i++)
    if (!isalnum (name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-')
      return 0;
  return 1;
}

static u32
cn_pool_find (const u8 *name)
{
  uword *p = hash_get_mem (cn_pool_main.pool_by_name, name);
  return p ? (u32) p[0] : ~0;
}

static int
cn_addr_ok (const ip46_address_t *a, ip_address_family_t af)
{
  if (af == AF_IP4)
    return ip46_address_is_ip4 (a) && a->ip4.as_u32 && !ip4_address_is_multicast (&a->ip4) &&
	   a->ip4.as_u32 != 0xffffffff;
  return !ip46_address_is_ip4 (a) && !ip6_address_is_zero (&a->ip6) &&
	 !ip6_address_is_multicast (&a->ip6);
}

/* The addresses of a range list (or of an interface), deduplicated in
   order; -1 with *rv set when invalid or too many. */
static int
cn_pool_expand (const cloudnat_pool_spec_t *sp, ip46_address_t **out, int *rv)
{
  cloudnat_range_t *r;
  uword *seen = 0;

  if (sp->sw_if_index != ~0)
    {
      ip_interface_address_t *ia;
      ip_lookup_main_t *lm = sp->af == AF_IP4 ? &ip4_main.lookup_main : &ip6_main.lookup_main;
      foreach_ip_interface_address (lm, ia, sp->sw_if_index, 1 /* unnumbered */, ({
				      void *x = ip_interface_address_get_address (lm, ia);
				      ip46_address_t a = { 0 };
				      if (sp->af == AF_IP4)
					ip46_address_set_ip4 (&a, x);
				      else
					a.ip6 = *(ip6_address_t *) x;
				      vec_add1 (*out, a);
				    }));
      return 0;
    }
  vec_foreach (r, sp->ranges)
    {
      if (!cn_addr_ok (&r->first, sp->af) || !cn_addr_ok (&r->last, sp->af))
	{
	  *rv = VNET_API_ERROR_INVALID_SRC_ADDRESS;
	  goto bad;
	}
      if (sp->af == AF_IP4)
	{
	  u32 f = clib_net_to_host_u32 (r->first.ip4.as_u32);
	  u32 l = clib_net_to_host_u32 (r->last.ip4.as_u32);
	  if (f > l || l - f >= CN_POOL_MAX_ADDRS)
	    {
	      *rv = VNET_API_ERROR_INVALID_VALUE;
	      goto bad;
	    }
	  for (u64 x = f; x <= l; x++)
	    {
	      ip46_address_t a = { 0 };
	      a.ip4.as_u32 = clib_host_to_net_u32 ((u32) x);
	      if (hash_get (seen, a.ip4.as_u32))
		continue;
	      hash_set (seen, a.ip4.as_u32, 1);
	      vec_add1 (*out, a);
	      if (vec_len (*out) > CN_POOL_MAX_ADDRS)
		{
		  *rv = VNET_API_ERROR_INVALID_VALUE;
		  goto bad;
		}
	    }
	}
      else
	{
	  /* IPv6 ranges: the low 64 bits may vary */
	  u64 f = clib_net_to_host_u64 (r->first.ip6.as_u64[1]);
	  u64 l = clib_net_to_host_u64 (r->last.ip6.as_u64[1]);
	  if (r->first.ip6.as_u64[0] != r->last.ip6.as_u64[0] || f > l ||
	      l - f >= CN_POOL_MAX_ADDRS)
	    {
	      *rv = VNET_API_ERROR_INVALID_VALUE;
	      goto bad;
	    }
	  for (u64 x = f;; x++)
	    {
	      ip46_address_t a = r->first;
	      a.ip6.as_u64[1] = clib_host_to_net_u64 (x);
	      vec_add1 (*out, a);
	      if (vec_len (*out) > CN_POOL_MAX_ADDRS)
		{
		  *rv = VNET_API_ERROR_INVALID_VALUE;
		  goto bad;
		}
	      if (x == l)
		break;
	    }
	}
    }
  hash_free (seen);
  if (!vec_len (*out))
    {
      *rv = VNET_API_ERROR_INVALID_SRC_ADDRESS;
      return -1;
    }
  return 0;
bad:
  hash_free (seen);
  vec_free (*out);
  return -1;
}

/* under the barrier: end every subscriber of pool pi (sessions, blocks) */
static void
cn_pool_flush (u32 pi)
{
  cn_pool_main_t *pm = &cn_pool_main;
  u32 now = cn_now_ticks (vlib_get_main ()), si, *sis = 0, *sp;
  cn_pool_t *p = pool_elt_at_index (pm->pools, pi);
  cn_sub_t *s;

  cn_sessions_of_pool (pi, ~0);
  clib_spinlock_lock (&pm->lock);
  pool_foreach_index (si, pm->subs)
    if (pm->subs[si].pool_index == pi)
      vec_add1 (sis, si);
  vec_foreach (sp, sis)
    {
      s = pool_elt_at_index (pm->subs, *sp);
      while (s->n_blocks)
	cn_sub_release_block (p, s, s->n_blocks - 1, now);
      cn_sub_free (*sp);
    }
  clib_spinlock_unlock (&pm->lock);
  vec_free (sis);
}

static void
cn_pool_captures (cn_pool_t *p, int add)
{
  u32 i;
  if (add)
    {
      vec_reset_length (p->addr_clients);
      vec_foreach_index (i, p->addrs)
	vec_add1 (p->addr_clients,
		  cn_client_ref (p->out_fib_index, &p->addrs[i], p->spec.af, CN_CLIENT_REF_STATIC));
    }
  else
    {
      vec_foreach_index (i, p->addr_clients)
	cn_client_unref (p->addr_clients[i], CN_CLIENT_REF_STATIC);
      vec_reset_length (p->addr_clients);
    }
}

static void
cn_pool_free_spec (cloudnat_pool_spec_t *sp)
{
  vec_free (sp->name);
  vec_free (sp->ranges);
}

/* under the barrier: how many pools filter less than address-and-port
   (the node looks inbound misses up only when there are some) */
static void
cn_pool_count_open_filtering (void)
{
  cn_pool_main_t *pm = &cn_pool_main;
  cn_pool_t *p;
  u32 n = 0;
  pool_foreach (p, pm->pools)
    n += p->spec.filtering != CN_FILTER_ADDRESS_PORT;
  cn_dp.n_open_filter_pools = n;
}

int
cloudnat_pool_add_update (const cloudnat_pool_spec_t *spec, u32 *index)
{
  cn_pool_main_t *pm = &cn_pool_main;
  vlib_main_t *vm = vlib_get_main ();
  cloudnat_pool_spec_t n = *spec;
  ip46_address_t *addrs = 0;
  u32 out_fib, pi, range, bpa;
  cn_pool_t *p;
  int rv = 0, same_layout = 0;

  if (!cn_pool_name_ok (spec->name))
    return VNET_API_ERROR_INVALID_VALUE;
  if (spec->af != AF_IP4 && spec->af != AF_IP6)
    return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
  out_fib = cloudnat_fib_index_from_table_id (spec->outside_table_id, spec->af);
  if (out_fib == ~0)
    return VNET_API_ERROR_NO_SUCH_FIB;
  if (!n.port_min && !n.port_max)
    {
      n.port_min = CN_POOL_DEFAULT_PORT_MIN;
      n.port_max = CN_POOL_DEFAULT_PORT_MAX;
    }
  if (!n.port_min || n.port_min > n.port_max)
    return VNET_API_ERROR_INVALID_VALUE_2;
  if (!n.block_size)
    n.block_size = CN_POOL_DEFAULT_BLOCK;
  range = (u32) n.port_max - n.port_min + 1;
  if (!is_pow2 (n.block_size) || n.block_size < 2 || n.block_size > range)
    return VNET_API_ERROR_INVALID_VALUE_3;
  if (!n.max_blocks)
    n.max_blocks = CN_POOL_DEFAULT_MAX_BLOCKS;
  if (n.max_blocks > CN_SUB_MAX_BLOCKS)
    return VNET_API_ERROR_INVALID_VALUE_4;
  if (n.reuse_delay > CN_TIMEOUT_MAX)
    return VNET_API_ERROR_INVALID_VALUE_4;
  if (n.filtering > CN_FILTER_ENDPOINT)
    return VNET_API_ERROR_UNIMPLEMENTED;
  if (n.sw_if_index != ~0 && !vnet_sw_interface_is_valid (vnet_get_main (), n.sw_if_index))
    return VNET_API_ERROR_INVALID_SW_IF_INDEX;
  if (n.sw_if_index == ~0 && !vec_len (n.ranges))
    return VNET_API_ERROR_INVALID_SRC_ADDRESS;
  if (cn_pool_expand (&n, &addrs, &rv) && n.sw_if_index == ~0)
    return rv;
  /* one mode per address: not a static mapping's outside address */
  {
    u32 k;
    vec_foreach_index (k, addrs)
      if (cn_static_has_in (out_fib, spec->af == AF_IP6 ? addrs[k].as_u8 : addrs[k].ip4.as_u8,
			    spec->af == AF_IP6))
	{
	  vec_free (addrs);
	  return VNET_API_ERROR_ADDRESS_IN_USE;
	}
  }
  bpa = range / n.block_size;
  /* keep only whole blocks */
  n.port_max = n.port_min + bpa * n.block_size - 1;

  vlib_worker_thread_barrier_sync (vm);
  pi = cn_pool_find (spec->name);
  if (pi != ~0)
    {
      p = pool_elt_at_index (pm->pools, pi);
      if (p->spec.af != n.af)
	{
	  vlib_worker_thread_barrier_release (vm);
	  vec_free (addrs);
	  return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
	}
      same_layout = p->out_fib_index == out_fib && p->spec.port_min == n.port_min &&
		    p->spec.port_max == n.port_max && p->spec.block_size == n.block_size &&
		    vec_len (p->addrs) == vec_len (addrs) &&
		    !memcmp (p->addrs, addrs, vec_len (addrs) * sizeof (addrs[0]));
      if (!same_layout)
	{
	  cn_pool_flush (pi);
	  cn_pool_captures (p, 0);
	}
      cn_pool_free_spec (&p->spec);
    }
  else
    {
      pool_get_zero (pm->pools, p);
      pi = p - pm->pools;
    }
  p->spec = n;
  p->spec.name = vec_dup (spec->name);
  p->spec.ranges = vec_dup (spec->ranges);
  if (!same_layout)
    {
      u32 nb = vec_len (addrs) * bpa;
      vec_free (p->addrs);
      p->addrs = addrs;
      addrs = 0;
      p->out_fib_index = out_fib;
      p->blocks_per_addr = bpa;
      vec_validate_init_empty (p->block_owner, nb ? nb - 1 : 0, ~0);
      vec_set_len (p->block_owner, nb);
      vec_set (p->block_owner, ~0);
      vec_validate_init_empty (p->block_free_at, nb ? nb - 1 : 0, 0);
      vec_set_len (p->block_free_at, nb);
      vec_zero (p->block_free_at);
      p->n_blocks_used = 0;
      cn_pool_captures (p, 1);
    }
  hash_set_mem (pm->pool_by_name, p->spec.name, pi);
  cn_pool_count_open_filtering ();
  vlib_worker_thread_barrier_release (vm);
  vec_free (addrs);
  if (index)
    *index = pi;
  return 0;
}

int
cloudnat_pool_del (const u8 *name)
{
  cn_pool_main_t *pm = &cn_pool_main;
  vlib_main_t *vm = vlib_get_main ();
  u32 pi = cn_pool_find (name);
  cn_pool_t *p;

  if (pi == ~0)
    return 0;
  p = pool_elt_at_index (pm->pools, pi);
  if (p->n_bindings)
    return VNET_API_ERROR_INSTANCE_IN_USE;
  vlib_worker_thread_barrier_sync (vm);
  cn_pool_flush (pi);
  cn_pool_captures (p, 0);
  hash_unset_mem (pm->pool_by_name, p->spec.name);
  cn_pool_free_spec (&p->spec);
  vec_free (p->addrs);
  vec_free (p->addr_clients);
  vec_free (p->block_owner);
  vec_free (p->block_free_at);
  pool_put (pm->pools, p);
  cn_pool_count_open_filtering ();
  vlib_worker_thread_barrier_release (vm);
  return 0;
}

void
cloudnat_pool_walk (cloudnat_pool_walk_cb_t cb, void *ctx)
{
  cn_pool_main_t *pm = &cn_pool_main;
  u32 now = cn_now_ticks (vlib_get_main ());
  cn_pool_t *p;

  pool_foreach (p, pm->pools)
    {
      cloudnat_pool_info_t info = { .spec = &p->spec, .index = p - pm->pools };
      cn_sub_t *s;
      u32 b;
      info.n_addrs = vec_len (p->addrs);
      info.n_subscribers = p->n_subs;
      info.n_blocks = vec_len (p->block_owner);
      info.n_blocks_used = p->n_blocks_used;
      for (b = 0; b < vec_len (p->block_owner); b++)
	if (p->block_owner[b] == ~0 && (i32) (now - p->block_free_at[b]) < 0)
	  info.n_blocks_cooling++;
      clib_spinlock_lock (&pm->lock);
      pool_foreach (s, pm->subs)
	if (s->pool_index == info.index)
	  for (b = 0; b < s->n_blocks; b++)
	    info.n_sessions += s->nsess[b];
      clib_spinlock_unlock (&pm->lock);
      info.n_exhausted = p->n_exhausted;
      if (cb (&info, ctx) == WALK_STOP)
	break;
    }
}

/* ------------------------------------------------------------------ */
/* bindings                                                            */
/* ------------------------------------------------------------------ */

static int
cn_pfx_overlap (const ip46_address_t *a, u8 alen, const ip46_address_t *b, u8 blen, u8 is_ip6)
{
  u8 len = clib_min (alen, blen);
  return cn_pfx_contains (len == alen ? a : b, len, len == alen ? b : a, is_ip6);
}

int
cloudnat_pool_bind (u32 table_id, const ip46_address_t *pfx, u8 len, ip_address_family_t af,
		    const u8 *pool, int is_add)
{
  cn_pool_main_t *pm = &cn_pool_main;
  vlib_main_t *vm = vlib_get_main ();
  u32 fib_index, pi, i;
  cn_binding_t *bs, nb = { 0 };
  ip46_address_t p = *pfx;
  int rv;

  if ((rv = cn_table_prefix_check (table_id, &p, len, af, &fib_index)))
    return rv;
  cn_prefix_mask (&p, len, af);
  pi = cn_pool_find (pool);
  cn_lookup_dpo_type_init ();
  bs = fib_index < vec_len (pm->bindings[af]) ? pm->bindings[af][fib_index] : 0;
  for (i = 0; i < vec_len (bs); i++)
    if (bs[i].len == len && ip46_address_is_equal (&bs[i].pfx, &p))
      break;

  if (!is_add)
    {
      if (i == vec_len (bs))
	return 0;
      if (pi != ~0 && bs[i].pool_index != pi)
	return VNET_API_ERROR_NO_SUCH_ENTRY; /* bound to another pool */
      vlib_worker_thread_barrier_sync (vm);
      pm->pools[bs[i].pool_index].n_bindings--;
      vec_delete (pm->bindings[af][fib_index], 1, i);
      cn_snat_table_feature_ref (fib_index, af, -1);
      vlib_worker_thread_barrier_release (vm);
      return 0;
    }

  if (pi == ~0)
    return VNET_API_ERROR_NO_SUCH_ENTRY;
  if (pm->pools[pi].spec.af != af)
    return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
  if (i < vec_len (bs))
    return bs[i].pool_index == pi ? 0 : VNET_API_ERROR_ENTRY_ALREADY_EXISTS;
  for (i = 0; i < vec_len (bs); i++)
    if (cn_pfx_overlap (&bs[i].pfx, bs[i].len, &p, len, af == AF_IP6))
      return VNET_API_ERROR_ENTRY_ALREADY_EXISTS;
  {
    /* one mode per address: not over a static mapping's inside prefix */
    cn_static_t *m;
    pool_foreach (m, cn_static_main.maps)
      if (m->in_fib == fib_index && m->is_ip6 == (af == AF_IP6) &&
	  cn_pfx_overlap (&m->in_pfx, m->len, &p, len, af == AF_IP6))
	return VNET_API_ERROR_ADDRESS_IN_USE;
  }

  vlib_worker_thread_barrier_sync (vm);
  vec_validate (pm->bindings[af], fib_index);
  nb.pfx = p;
  nb.len = len;
  nb.pool_index = pi;
  vec_add1 (pm->bindings[af][fib_index], nb);
  pm->pools[pi].n_bindings++;
  cn_snat_table_feature_ref (fib_index, af, 1);
  vlib_worker_thread_barrier_release (vm);
  return 0;
}

void
cloudnat_pool_bind_walk (cloudnat_pool_bind_walk_cb_t cb, void *ctx)
{
  cn_pool_main_t *pm = &cn_pool_main;
  ip_address_family_t af;
  u32 fib, i;

  FOR_EACH_IP_ADDRESS_FAMILY (af)
  {
    for (fib = 0; fib < vec_len (pm->bindings[af]); fib++)
      for (i = 0; i < vec_len (pm->bindings[af][fib]); i++)
	{
	  cn_binding_t *b = &pm->bindings[af][fib][i];
	  if (cb (cn_table_id_of_fib (fib, af), &b->pfx, b->len, af,
		  pm->pools[b->pool_index].spec.name, ctx) == WALK_STOP)
	    return;
	}
  }
}

/* ------------------------------------------------------------------ */
/* static blocks and the subscriber list                               */
/* ------------------------------------------------------------------ */

int
cloudnat_subscriber_block_add_del (const u8 *pool, u32 table_id, const ip46_address_t *inside,
				   const ip46_address_t *outside, ip_address_family_t af,
				   u16 port_start, int is_add)
{
  cn_pool_main_t *pm = &cn_pool_main;
  vlib_main_t *vm = vlib_get_main ();
  u32 pi = cn_pool_find (pool), fib_index, ai, blk, b, si, now = cn_now_ticks (vm);
  cn_pool_t *p;
  cn_sub_t *s;
  int i, rv = 0;

  if (pi == ~0)
    return is_add ? VNET_API_ERROR_NO_SUCH_ENTRY : 0;
  p = pool_elt_at_index (pm->pools, pi);
  if (af != p->spec.af || !cn_addr_ok (inside, af))
    return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
  fib_index = cloudnat_fib_index_from_table_id (table_id, af);
  if (fib_index == ~0)
    return VNET_API_ERROR_NO_SUCH_FIB;
  for (ai = 0; ai < vec_len (p->addrs); ai++)
    if (ip46_address_is_equal (&p->addrs[ai], outside))
      break;
  if (ai == vec_len (p->addrs))
    return VNET_API_ERROR_INVALID_SRC_ADDRESS;
  if (port_start < p->spec.port_min || port_start > p->spec.port_max ||
      (port_start - p->spec.port_min) % p->spec.block_size)
    return VNET_API_ERROR_INVALID_VALUE;
  blk = (port_start - p->spec.port_min) / p->spec.block_size;
  b = ai * p->blocks_per_addr + blk;

  vlib_worker_thread_barrier_sync (vm);
  clib_spinlock_lock (&pm->lock);
  si = cn_sub_find (inside, fib_index, af == AF_IP6);
  if (!is_add)
    {
      if (si != ~0 && p->block_owner[b] == si)
	{
	  s = pool_elt_at_index (pm->subs, si);
	  i = cn_sub_block_of (p, s, port_start);
	  clib_spinlock_unlock (&pm->lock);
	  /* its sessions end with it (drained) */
	  if (i >= 0 && s->nsess[i])
	    cn_sessions_of_pool (pi, si);
	  clib_spinlock_lock (&pm->lock);
	  if (!pool_is_free_index (pm->subs, si))
	    {
	      s = pool_elt_at_index (pm->subs, si);
	      i = cn_sub_block_of (p, s, port_start);
	      if (i >= 0)
		cn_sub_release_block (p, s, i, now);
	      if (!s->n_blocks)
		cn_sub_free (si);
	    }
	}
      goto done;
    }
  if (si != ~0)
    {
      s = pool_elt_at_index (pm->subs, si);
      if (s->pool_index != pi)
	{
	  rv = VNET_API_ERROR_ENTRY_ALREADY_EXISTS;
	  goto done;
	}
      if (p->block_owner[b] == si)
	{
	  s->static_mask |= 1 << cn_sub_block_of (p, s, port_start);
	  goto done;
	}
      if ((s->addr_index != ~0 && s->addr_index != ai) || s->n_blocks >= CN_SUB_MAX_BLOCKS)
	{
	  rv = VNET_API_ERROR_INVALID_VALUE_2;
	  goto done;
	}
    }
  if (p->block_owner[b] != ~0)
    {
      rv = VNET_API_ERROR_ADDRESS_IN_USE;
      goto done;
    }
  if (si == ~0)
    si = cn_sub_new (pi, inside, fib_index, af == AF_IP6);
  s = pool_elt_at_index (pm->subs, si);
  s->addr_index = ai;
  p->block_owner[b] = si;
  p->block_free_at[b] = now;
  p->n_blocks_used++;
  s->block[s->n_blocks] = blk;
  s->nsess[s->n_blocks] = 0;
  s->static_mask |= 1 << s->n_blocks;
  s->n_blocks++;
  cn_pool_log (p, s, blk, 1);
done:
  clib_spinlock_unlock (&pm->lock);
  vlib_worker_thread_barrier_release (vm);
  return rv;
}

void
cloudnat_subscriber_walk (u32 table_id, const u8 *pool, cloudnat_subscriber_walk_cb_t cb, void *ctx)
{
  cn_pool_main_t *pm = &cn_pool_main;
  cloudnat_subscriber_info_t *infos = 0, *in;
  u32 pi = (pool && vec_len (pool)) ? cn_pool_find (pool) : ~0;
  cn_sub_t *s;

  if (pool && vec_len (pool) && pi == ~0)
    return;
  /* copy under the lock, call back without it */
  clib_spinlock_lock (&pm->lock);
  pool_foreach (s, pm->subs)
    {
      cn_pool_t *p = pool_elt_at_index (pm->pools, s->pool_index);
      ip_address_family_t af = s->is_ip6 ? AF_IP6 : AF_IP4;
      u32 i, tid = cn_table_id_of_fib (s->fib_index, af);
      if ((pi != ~0 && s->pool_index != pi) || (table_id != ~0 && tid != table_id))
	continue;
      vec_add2 (infos, in, 1);
      in->pool = p->spec.name;
      in->table_id = tid;
      in->af = af;
      in->inside = s->inside;
      if (s->addr_index != ~0)
	in->outside = p->addrs[s->addr_index];
      in->n_blocks = s->n_blocks;
      for (i = 0; i < s->n_blocks; i++)
	{
	  in->n_sessions += s->nsess[i];
	  in->block_start[i] = p->spec.port_min + s->block[i] * p->spec.block_size;
	  in->block_end[i] = in->block_start[i] + p->spec.block_size - 1;
	  in->block_static[i] = (s->static_mask >> i) & 1;
	}
    }
  clib_spinlock_unlock (&pm->lock);
  vec_foreach (in, infos)
    if (cb (in, ctx) == WALK_STOP)
      break;
  vec_free (infos);
}

/* ------------------------------------------------------------------ */
/* interface-address pools: follow the address                          */
/* ------------------------------------------------------------------ */

static void
cn_pool_if_addr_changed (u32 sw_if_index, ip_address_family_t af)
{
  cn_pool_main_t *pm = &cn_pool_main;
  u32 *pis = 0, *pi;
  cn_pool_t *p;

  pool_foreach (p, pm->pools)
    if (p->spec.sw_if_index == sw_if_index && p->spec.af == af)
      vec_add1 (pis, p - pm->pools);
  vec_foreach (pi, pis)
    {
      /* re-add with the same spec: the addresses are read again */
      cloudnat_pool_spec_t sp = pm->pools[*pi].spec;
      sp.name = vec_dup (sp.name);
      sp.ranges = vec_dup (sp.ranges);
      cloudnat_pool_add_update (&sp, 0);
      vec_free (sp.name);
      vec_free (sp.ranges);
    }
  vec_free (pis);
}

static void
cn_pool_ip4_addr_cb (ip4_main_t *im, uword opaque, u32 sw_if_index, ip4_address_t *address,
		     u32 address_length, u32 if_address_index, u32 is_delete)
{
  cn_pool_if_addr_changed (sw_if_index, AF_IP4);
}

static void
cn_pool_ip6_addr_cb (ip6_main_t *im, uword opaque, u32 sw_if_index, ip6_address_t *address,
		     u32 address_length, u32 if_address_index, u32 is_delete)
{
  cn_pool_if_addr_changed (sw_if_index, AF_IP6);
}

void
cn_pool_init (vlib_main_t *vm)
{
  cn_pool_main_t *pm = &cn_pool_main;
  ip4_add_del_interface_address_callback_t cb4 = { .function = cn_pool_ip4_addr_cb };
  ip6_add_del_interface_address_callback_t cb6 = { .function = cn_pool_ip6_addr_cb };

  clib_spinlock_init (&pm->lock);
  pm->pool_by_name = hash_create_vec (0, sizeof (u8), sizeof (uword));
  clib_bihash_init_24_8 (&pm->sub_db, "cloudnat subscribers", 64 << 10, 64 << 20);
  vec_validate (pm->ring, CN_LOG_RING - 1);
  vec_validate (pm->history, CN_LOG_HISTORY - 1);
  vec_add1 (ip4_main.add_del_interface_address_callbacks, cb4);
  vec_add1 (ip6_main.add_del_interface_address_callbacks, cb6);
}
