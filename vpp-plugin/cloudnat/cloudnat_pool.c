/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_pool.c: subscribers and their port blocks, the data path's
 * hooks (cn_pool_decide and friends) and the block log (see
 * cloudnat_pool.h). Pools, bindings and static blocks are configured in
 * cloudnat_pool_config.c; the state both share is cloudnat_pool_priv.h.
 *
 * Threads: bindings and pools change under the worker barrier, so the
 * data path reads them without a lock. Subscribers and blocks change on
 * any thread (a subscriber's first packet takes a block), always under
 * pm->lock; the data path takes it once per new flow of a bound source,
 * never per packet. A subscriber is found through a bihash (lock-free
 * reads) and lives in a pool that only changes under the lock.
 *
 * Blocks: the ports port_min..port_max of every pool address are cut in
 * blocks of block_size; block b of address a is
 * [port_min + b * block_size, port_min + (b + 1) * block_size - 1]. A
 * subscriber holds up to max_blocks blocks, all on one address (paired
 * pooling), and counts its sessions per block; a dynamic block whose count
 * falls to 0 is released and cools for reuse_delay seconds. The first
 * block of a subscriber is chosen at random among the free ones (its first
 * port is hard to guess); ports inside blocks keep the inside port's
 * parity.
 */

#include <cloudnat/cloudnat_pool_priv.h>

cn_pool_main_t cn_pool_main;

/* ------------------------------------------------------------------ */
/* block log                                                           */
/* ------------------------------------------------------------------ */

/* with the lock */
void
cn_pool_log (const cn_pool_t *p, const cn_sub_t *s, u16 block, int is_alloc)
{
  cn_pool_main_t *pm = &cn_pool_main;
  cloudnat_block_log_t *r;
  if (pm->ring_n == CN_LOG_RING)
    {
      pm->n_lost++;
      return;
    }
  r = &pm->ring[(pm->ring_head + pm->ring_n++) % CN_LOG_RING];
  r->unix_time = unix_time_now ();
  r->is_alloc = is_alloc;
  r->is_static = 0;
  r->is_exhausted = 0;
  r->af = s->is_ip6 ? AF_IP6 : AF_IP4;
  r->pool_index = s->pool_index;
  r->table_id = cn_table_id_of_fib (s->fib_index, r->af);
  r->inside = s->inside;
  r->outside = p->addrs[s->addr_index];
  r->port_start = p->spec.port_min + block * p->spec.block_size;
  r->port_end = r->port_start + p->spec.block_size - 1;
}

/* with the lock: subscriber s (with or without blocks) was refused a port;
   a record at most once per subscriber per CN_EXH_LOG_S seconds */
static void
cn_pool_log_exhausted (cn_pool_t *p, const cn_sub_t *s, u32 now)
{
  cn_pool_main_t *pm = &cn_pool_main;
  cloudnat_block_log_t *r;
  u32 h = (u32) clib_xxhash (s->inside.as_u64[0] ^ s->inside.as_u64[1] ^ (u64) s->fib_index << 1);
  u64 *slot = &p->exh_logged[h % CN_EXH_SLOTS];

  if ((u32) (*slot >> 32) == h && *slot != 0 &&
      cn_ticks_since (now, (u32) *slot) < CN_EXH_LOG_S * CN_TICKS_PER_SEC)
    return;
  *slot = (u64) h << 32 | now;
  if (pm->ring_n == CN_LOG_RING)
    {
      pm->n_lost++;
      return;
    }
  r = &pm->ring[(pm->ring_head + pm->ring_n++) % CN_LOG_RING];
  clib_memset (r, 0, sizeof (*r));
  r->unix_time = unix_time_now ();
  r->is_exhausted = 1;
  r->af = s->is_ip6 ? AF_IP6 : AF_IP4;
  r->pool_index = s->pool_index;
  r->table_id = cn_table_id_of_fib (s->fib_index, r->af);
  r->inside = s->inside;
  if (s->n_blocks)
    {
      /* what it holds: its address and first block */
      r->outside = p->addrs[s->addr_index];
      r->port_start = p->spec.port_min + s->block[0] * p->spec.block_size;
      r->port_end = r->port_start + p->spec.block_size - 1;
    }
}

/* main thread: hand the ring's records to the history and the consumer */
void
cn_pool_log_drain (vlib_main_t *vm)
{
  cn_pool_main_t *pm = &cn_pool_main;
  cloudnat_block_log_t r;

  while (pm->ring_n)
    {
      clib_spinlock_lock (&pm->lock);
      if (!pm->ring_n)
	{
	  clib_spinlock_unlock (&pm->lock);
	  break;
	}
      r = pm->ring[pm->ring_head];
      pm->ring_head = (pm->ring_head + 1) % CN_LOG_RING;
      pm->ring_n--;
      clib_spinlock_unlock (&pm->lock);

      pm->history[pm->history_head++ % CN_LOG_HISTORY] = r;
      if (cn_pool_log_deliver (&r, pm->n_lost) < 0)
	pm->n_lost++;
    }
}

void
cloudnat_block_log_history (cloudnat_block_log_t **recs)
{
  cn_pool_main_t *pm = &cn_pool_main;
  u32 n = clib_min (pm->history_head, CN_LOG_HISTORY), i;
  for (i = pm->history_head - n; i != pm->history_head; i++)
    vec_add1 (*recs, pm->history[i % CN_LOG_HISTORY]);
}

u64
cloudnat_block_log_lost (void)
{
  return cn_pool_main.n_lost;
}

const u8 *
cloudnat_pool_name (u32 pool_index)
{
  cn_pool_main_t *pm = &cn_pool_main;
  if (pool_is_free_index (pm->pools, pool_index))
    return (const u8 *) "";
  return pm->pools[pool_index].spec.name;
}

/* ------------------------------------------------------------------ */
/* subscribers and blocks (with the lock)                              */
/* ------------------------------------------------------------------ */

static_always_inline void
cn_sub_key (clib_bihash_kv_24_8_t *kv, const ip46_address_t *a, u32 fib_index, u8 is_ip6)
{
  kv->key[0] = a->as_u64[0];
  kv->key[1] = a->as_u64[1];
  kv->key[2] = (u64) fib_index << 8 | is_ip6;
}

u32
cn_sub_find (const ip46_address_t *a, u32 fib_index, u8 is_ip6)
{
  clib_bihash_kv_24_8_t kv;
  cn_sub_key (&kv, a, fib_index, is_ip6);
  if (clib_bihash_search_inline_24_8 (&cn_pool_main.sub_db, &kv))
    return ~0;
  return (u32) kv.value;
}

u32
cn_sub_new (u32 pool_index, const ip46_address_t *a, u32 fib_index, u8 is_ip6)
{
  cn_pool_main_t *pm = &cn_pool_main;
  clib_bihash_kv_24_8_t kv;
  cn_sub_t *s;
  pool_get_zero (pm->subs, s);
  s->inside = *a;
  s->fib_index = fib_index;
  s->pool_index = pool_index;
  s->addr_index = ~0;
  s->is_ip6 = is_ip6;
  cn_sub_key (&kv, a, fib_index, is_ip6);
  kv.value = s - pm->subs;
  clib_bihash_add_del_24_8 (&pm->sub_db, &kv, 1);
  pm->pools[pool_index].n_subs++;
  return s - pm->subs;
}

void
cn_sub_free (u32 si)
{
  cn_pool_main_t *pm = &cn_pool_main;
  cn_sub_t *s = pool_elt_at_index (pm->subs, si);
  clib_bihash_kv_24_8_t kv;
  cn_sub_key (&kv, &s->inside, s->fib_index, s->is_ip6);
  clib_bihash_add_del_24_8 (&pm->sub_db, &kv, 0);
  pm->pools[s->pool_index].n_subs--;
  pool_put (pm->subs, s);
}

/* Release block i of subscriber s (its sessions are gone). */
void
cn_sub_release_block (cn_pool_t *p, cn_sub_t *s, u32 i, u32 now)
{
  u32 b = s->addr_index * p->blocks_per_addr + s->block[i];
  cn_pool_log (p, s, s->block[i], 0 /* release */);
  p->block_owner[b] = ~0;
  p->block_free_at[b] = now + cn_pool_ticks (p->spec.reuse_delay);
  p->n_blocks_used--;
  p->full_until = clib_min (p->full_until, p->block_free_at[b]);
  s->n_blocks--;
  s->block[i] = s->block[s->n_blocks];
  s->nsess[i] = s->nsess[s->n_blocks];
  s->static_mask = (s->static_mask & ~(1 << i)) |
		   (((s->static_mask >> s->n_blocks) & 1) << i); /* moved bit */
  s->static_mask &= ~(1 << s->n_blocks);
}

static_always_inline int
cn_block_takeable (const cn_pool_t *p, u32 b, u32 now)
{
  return p->block_owner[b] == ~0 && (i32) (now - p->block_free_at[b]) >= 0;
}

/* Give subscriber s one more block; -1 when none is free (on its address,
   or on any address for its first block). */
static int
cn_sub_take_block (cn_pool_t *p, cn_sub_t *s, u32 si, u32 now)
{
  u32 n_addrs = vec_len (p->addrs), bpa = p->blocks_per_addr, a, k, start, b;
  u32 seed = (u32) clib_cpu_time_now ();

  if (s->n_blocks >= p->spec.max_blocks || !n_addrs || p->spec.static_only)
    return -1;
  start = seed % bpa;
  if (s->addr_index != ~0)
    {
      /* paired pooling: more blocks only on its address */
      for (k = 0; k < bpa; k++)
	{
	  b = s->addr_index * bpa + (start + k) % bpa;
	  if (cn_block_takeable (p, b, now))
	    goto take;
	}
      return -1;
    }
  /* first block: the address the inside address hashes to, else the next
     one with a free block; a pool found full is not searched again for a
     quarter of a second (or until a block is released): exhausted
     subscribers then cost a compare, not a search of every block */
  if (p->n_blocks_used >= vec_len (p->block_owner) || (i32) (now - p->full_until) < 0)
    return -1;
  a = (u32) clib_xxhash (s->inside.as_u64[0] ^ s->inside.as_u64[1] ^ s->fib_index) % n_addrs;
  for (u32 t = 0; t < n_addrs; t++, a = (a + 1) % n_addrs)
    for (k = 0; k < bpa; k++)
      {
	b = a * bpa + (start + k) % bpa;
	if (cn_block_takeable (p, b, now))
	  {
	    s->addr_index = a;
	    goto take;
	  }
      }
  p->full_until = now + CN_TICKS_PER_SEC / 4;
  return -1;

take:
  p->block_owner[b] = si;
  p->n_blocks_used++;
  s->block[s->n_blocks] = (u16) (b % bpa);
  s->nsess[s->n_blocks] = 0;
  s->n_blocks++;
  cn_pool_log (p, s, (u16) (b % bpa), 1 /* alloc */);
  return s->n_blocks - 1;
}

static_always_inline u16
cn_sub_port (const cn_pool_t *p, const cn_sub_t *s, u32 vi)
{
  u32 bs = p->spec.block_size;
  return (u16) (p->spec.port_min + s->block[vi / bs] * bs + vi % bs);
}

/* which of s's blocks holds port (host order), -1 none */
int
cn_sub_block_of (const cn_pool_t *p, const cn_sub_t *s, u16 port)
{
  u32 blk, i;
  if (port < p->spec.port_min || port > p->spec.port_max)
    return -1;
  blk = (port - p->spec.port_min) / p->spec.block_size;
  for (i = 0; i < s->n_blocks; i++)
    if (s->block[i] == blk)
      return i;
  return -1;
}

static void
cn_sub_unref_port (cn_pool_t *p, u32 si, u16 port, u32 now)
{
  cn_sub_t *s = pool_elt_at_index (cn_pool_main.subs, si);
  int i = cn_sub_block_of (p, s, port);
  if (i < 0 || !s->nsess[i])
    return;
  if (--s->nsess[i] == 0 && !(s->static_mask & (1 << i)))
    cn_sub_release_block (p, s, i, now);
  if (!s->n_blocks)
    cn_sub_free (si);
}

/* ------------------------------------------------------------------ */
/* data path hooks                                                     */
/* ------------------------------------------------------------------ */


int
cn_pool_sub_in_pool (u32 sub_index, u32 pool_index)
{
  cn_pool_main_t *pm = &cn_pool_main;
  return !pool_is_free_index (pm->subs, sub_index) &&
	 pm->subs[sub_index].pool_index == pool_index;
}

/* The mapping of a new flow of subscriber s in a pool that filters by
   endpoint or address (vi: the port the inside port hashes to). The inside
   endpoint's live mapping if it has one; else the first port from vi on
   (same parity first) that no other inside endpoint maps to, so that an
   inbound packet names one X:x; vi itself when every port of the blocks is
   shared (the first mapping then wins inbound). Called with the lock. */
static u32
cn_pool_open_mapping (const cn_pool_t *p, const cn_sub_t *s, const cn_sess_create_args_t *a,
		      u32 vi)
{
  clib_bihash_kv_24_8_t kv;
  u32 nvi = s->n_blocks * p->spec.block_size, k, v;
  ip46_address_t x;
  int b;

  cn_mapping_key (&kv, &a->src, a->fib_index, a->sport, a->proto, a->is_ip6);
  if (!clib_bihash_search_24_8 (&cn_dp.inside_db, &kv, &kv))
    {
      u8 flags;
      u32 sub;
      u16 port;
      if (a->is_ip6)
	{
	  const cn_sess6_t *r = cn_store_get (&cn_dp.store6, (u32) kv.value);
	  flags = r->flags, sub = r->sub_index, port = r->rw[0].sport;
	  clib_memcpy (x.as_u8, r->rw[0].src, 16);
	}
      else
	{
	  const cn_sess4_t *r = cn_store_get (&cn_dp.store4, (u32) kv.value);
	  flags = r->flags, sub = r->sub_index, port = r->rw[0].sport;
	  ip46_address_set_ip4 (&x, (ip4_address_t *) &r->rw[0].src);
	}
      port = clib_net_to_host_u16 (port);
      if ((flags & (CN_SF_USED | CN_SF_DEAD)) == CN_SF_USED && sub != ~0 &&
	  pool_elt_at_index (cn_pool_main.subs, sub) == s && ip46_address_is_equal (&x, &a->nsrc) &&
	  (b = cn_sub_block_of (p, s, port)) >= 0)
	return b * p->spec.block_size + (port - p->spec.port_min) % p->spec.block_size;
    }
  for (k = 0; k < clib_min (nvi, 2 * CN_PORT_SWEEP); k++)
    {
      /* vi, vi+2, ... keep the inside port's parity; then the others */
      v = k < nvi / 2 + (nvi & 1) ? (vi + 2 * k) % nvi : (vi + 2 * k + 1) % nvi;
      cn_mapping_key (&kv, &a->nsrc, p->out_fib_index,
		      clib_host_to_net_u16 (cn_sub_port (p, s, v)), a->proto, a->is_ip6);
      if (clib_bihash_search_24_8 (&cn_dp.mapping_db, &kv, &kv))
	return v;
    }
  return vi;
}

int
cn_pool_decide (cn_sess_create_args_t *a)
{
  cn_pool_main_t *pm = &cn_pool_main;
  ip_address_family_t af = a->is_ip6 ? AF_IP6 : AF_IP4;
  cn_binding_t *bs, *bnd = 0;
  cn_pool_t *p;
  cn_sub_t *s;
  dpo_id_t d = DPO_INVALID;
  const load_balance_t *lb;
  const dpo_id_t *d0;
  u32 si, i, vi, nvi, bs_sz;
  int rc = 0, bi;

  if (a->fib_index >= vec_len (pm->bindings[af]))
    return CN_POOL_NOT_BOUND;
  bs = pm->bindings[af][a->fib_index];
  vec_foreach_index (i, bs)
    if ((!bnd || bs[i].len > bnd->len) && cn_pfx_contains (&bs[i].pfx, bs[i].len, &a->src, a->is_ip6))
      bnd = &bs[i];
  if (!bnd)
    return CN_POOL_NOT_BOUND;
  p = pool_elt_at_index (pm->pools, bnd->pool_index);
  /* the inside table's excluded destinations ("cnat snat exclude") */
  if (a->fib_index < vec_len (cn_dp.snat[af]))
    {
      cn_snat_table_t *st = &cn_dp.snat[af][a->fib_index];
      vec_foreach_index (i, st->excludes)
	if (cn_pfx_contains (&st->excludes[i].addr, st->excludes[i].len, &a->dst, a->is_ip6))
	  return CN_SNAT_PASS_EXCLUDED;
    }
  /* subscriber to subscriber of the same table: not NATed */
  vec_foreach_index (i, bs)
    if (cn_pfx_contains (&bs[i].pfx, bs[i].len, &a->dst, a->is_ip6))
      return CN_SNAT_PASS_INSIDE;

  /* group and link-scoped traffic never leaves through NAT */
  if (a->is_ip6 ? (ip6_address_is_multicast (&a->dst.ip6) ||
		   ip6_address_is_link_local_unicast (&a->dst.ip6)) :
		  (ip4_address_is_multicast (&a->dst.ip4) || a->dst.ip4.as_u32 == 0xffffffff))
    return CN_SNAT_PASS_EXCLUDED;
  /* where does the inside table send it? To VPP itself: not NATed; across
     tables, only what leaves through another table (the outside) is */
  d.dpoi_type = DPO_LOAD_BALANCE;
  d.dpoi_index = a->is_ip6 ? ip6_fib_table_fwding_lookup (a->fib_index, &a->dst.ip6) :
			     ip4_fib_forwarding_lookup (a->fib_index, &a->dst.ip4);
  if (cn_dpo_is_local (&d))
    return CN_SNAT_PASS_LOCAL;
  lb = load_balance_get (d.dpoi_index);
  d0 = load_balance_get_bucket_i (lb, 0);
  if (p->out_fib_index != a->fib_index && !cn_dpo_is_table_lookup (d0) &&
      !cn_static_has_in (a->fib_index, a->is_ip6 ? a->dst.as_u8 : a->dst.ip4.as_u8, a->is_ip6))
    return CN_SNAT_PASS_INSIDE; /* (a static mapping's outside address: the far side of a peering) */
  if (a->classify_only)
    return 0;

  clib_spinlock_lock (&pm->lock);
  si = cn_sub_find (&a->src, a->fib_index, a->is_ip6);
  if (si == ~0)
    si = cn_sub_new (bnd->pool_index, &a->src, a->fib_index, a->is_ip6);
  s = pool_elt_at_index (pm->subs, si);
  if (p->spec.max_sessions)
    {
      u32 n = 0;
      for (i = 0; i < s->n_blocks; i++)
	n += s->nsess[i];
      if (n >= p->spec.max_sessions)
	{
	  rc = CN_SNAT_DROP_EXHAUSTED;
	  goto done;
	}
    }
  if (!s->n_blocks && cn_sub_take_block (p, s, si, a->now) < 0)
    {
      rc = CN_SNAT_DROP_EXHAUSTED;
      goto done;
    }
  /* a port of its blocks derived from the inside port, with its parity:
     the same inside port maps to the same outside port while that is
     free (endpoint-independent in practice); collisions move it
     (cn_pool_pick_port) */
  bs_sz = p->spec.block_size;
  nvi = s->n_blocks * bs_sz;
  vi = (u32) clib_xxhash ((u64) a->sport << 8 ^ a->proto) % nvi;
  if (((p->spec.port_min + vi) & 1) != (clib_net_to_host_u16 (a->sport) & 1))
    vi ^= 1;
  a->nsrc = p->addrs[s->addr_index];
  a->filter_flags = 0;
  if (p->spec.filtering != CN_FILTER_ADDRESS_PORT)
    {
      /* inbound packets find X:x through its mapping X':x' alone: the
	 mapping must be exactly one per inside endpoint (strict EIM) */
      a->filter_flags = p->spec.filtering == CN_FILTER_ENDPOINT ? CN_SF_EIF : CN_SF_ADF;
      vi = cn_pool_open_mapping (p, s, a, vi);
    }
  bi = vi / bs_sz;
  s->nsess[bi]++; /* reserved until the session exists (or gives it back) */
  a->ndst = a->dst;
  a->nsport = clib_host_to_net_u16 (cn_sub_port (p, s, vi));
  a->ndport = cn_proto_is_icmp (a->proto) ? a->nsport : a->dport;
  a->src_port_free = 1;
  a->needs_client_ref = 0; /* pool addresses are captured */
  a->is_dnat = 0;
  a->tr_index = ~0;
  a->backend = 0;
  a->sub_index = si;
  a->out_fib_index = p->out_fib_index;

done:
  if (rc)
    {
      p->n_exhausted++;
      cn_pool_log_exhausted (p, s, a->now);
      if (!s->n_blocks)
	cn_sub_free (si);
    }
  clib_spinlock_unlock (&pm->lock);
  return rc;
}

int
cn_pool_pick_port (cn_sess_create_args_t *a, int (*is_free) (u16 port, void *ctx))
{
  cn_pool_main_t *pm = &cn_pool_main;
  cn_pool_t *p;
  cn_sub_t *s;
  u32 nvi, vi, k, start, bs_sz;
  int old, nb, rc = -1;
  u16 port, want_parity = clib_net_to_host_u16 (a->sport) & 1;

  clib_spinlock_lock (&pm->lock);
  s = pool_elt_at_index (pm->subs, a->sub_index);
  p = pool_elt_at_index (pm->pools, s->pool_index);
  bs_sz = p->spec.block_size;
  old = cn_sub_block_of (p, s, clib_net_to_host_u16 (a->nsport));
  nvi = s->n_blocks * bs_sz;
  start = (u32) clib_cpu_time_now () % nvi;
  /* same parity first, then any; bounded like cn_port_choose */
  for (k = 0; k < clib_min (nvi, 2 * CN_PORT_SWEEP); k++)
    {
      vi = (start + k) % nvi;
      port = cn_sub_port (p, s, vi);
      if (k < CN_PORT_SWEEP && (port & 1) != want_parity)
	continue;
      if (is_free (port, a))
	goto found;
    }
  /* its blocks are full towards this peer: one more block */
  nb = cn_sub_take_block (p, s, a->sub_index, a->now);
  if (nb < 0)
    {
      p->n_exhausted++;
      cn_pool_log_exhausted (p, s, a->now);
      goto done;
    }
  vi = nb * bs_sz + ((p->spec.port_min & 1) != want_parity);
  port = cn_sub_port (p, s, vi);

found:
  if (old >= 0)
    s->nsess[old]--;
  s->nsess[cn_sub_block_of (p, s, port)]++;
  a->nsport = clib_host_to_net_u16 (port);
  if (cn_proto_is_icmp (a->proto))
    a->ndport = a->nsport;
  rc = 0;
  if (old >= 0 && !s->nsess[old] && !(s->static_mask & (1 << old)))
    cn_sub_release_block (p, s, old, a->now);

done:
  clib_spinlock_unlock (&pm->lock);
  return rc;
}

void
cn_pool_unreserve (cn_sess_create_args_t *a)
{
  cn_pool_main_t *pm = &cn_pool_main;
  clib_spinlock_lock (&pm->lock);
  if (!pool_is_free_index (pm->subs, a->sub_index))
    cn_sub_unref_port (pool_elt_at_index (pm->pools, pm->subs[a->sub_index].pool_index),
		       a->sub_index, clib_net_to_host_u16 (a->nsport), a->now);
  clib_spinlock_unlock (&pm->lock);
}

void
cn_pool_session_gone (u32 sub_index, u16 port_net)
{
  cn_pool_main_t *pm = &cn_pool_main;
  clib_spinlock_lock (&pm->lock);
  if (!pool_is_free_index (pm->subs, sub_index))
    cn_sub_unref_port (pool_elt_at_index (pm->pools, pm->subs[sub_index].pool_index), sub_index,
		       clib_net_to_host_u16 (port_net), cn_now_ticks (vlib_get_main ()));
  clib_spinlock_unlock (&pm->lock);
}
