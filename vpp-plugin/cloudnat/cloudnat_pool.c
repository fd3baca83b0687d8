/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_pool.c: pools, bindings, subscribers and their port blocks
 * (see cloudnat_pool.h), and the block log.
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

#include <vnet/fib/fib_table.h>
#include <vnet/fib/ip4_fib.h>
#include <vnet/fib/ip6_fib.h>
#include <vnet/dpo/load_balance.h>
#include <vnet/feature/feature.h>
#include <vnet/ip/ip_interface.h>
#include <vppinfra/time.h>
#include <ctype.h>
#include <cloudnat/cloudnat_priv.h>
#include <cloudnat/cloudnat_pool.h>

#define CN_EXH_SLOTS 256 /* exhaustion records: rate limiter slots per pool */
#define CN_EXH_LOG_S 10	 /* at most one record per subscriber per this */

typedef struct
{
  cloudnat_pool_spec_t spec; /* normalised; name is a vec */
  u32 out_fib_index;
  ip46_address_t *addrs;
  u32 *addr_clients; /* capture of each address in the outside table */
  u32 blocks_per_addr;
  u32 *block_owner;   /* [addr * blocks_per_addr + block]: subscriber, ~0 free */
  u32 *block_free_at; /* plugin ticks from which a free block may be taken */
  u32 n_bindings;
  u32 n_subs;
  u32 n_blocks_used;
  u32 full_until; /* a first-block search failed: none before this tick */
  /* exhaustion records: one per subscriber per CN_EXH_LOG_S, tracked in a
     direct-mapped table (subscriber hash << 32 | tick of the last record;
     two subscribers sharing a slot share the interval) */
  u64 exh_logged[CN_EXH_SLOTS];
  u64 n_exhausted;
} cn_pool_t;

typedef struct
{
  ip46_address_t inside;
  u32 fib_index;
  u32 pool_index;
  u32 addr_index;
  u16 block[CN_SUB_MAX_BLOCKS];
  u16 nsess[CN_SUB_MAX_BLOCKS]; /* sessions (and reservations) per block */
  u8 n_blocks;
  u8 static_mask;
  u8 is_ip6;
} cn_sub_t;

typedef struct
{
  ip46_address_t pfx;
  u8 len;
  u32 pool_index;
} cn_binding_t;

#define CN_LOG_RING    65536
#define CN_LOG_HISTORY 1024

typedef struct
{
  clib_spinlock_t lock;
  cn_pool_t *pools;
  uword *pool_by_name; /* name vec -> index */
  cn_sub_t *subs;
  clib_bihash_24_8_t sub_db;
  cn_binding_t **bindings[N_AF]; /* by inside fib index */
  /* block log: ring filled under the lock, drained by the scanner */
  cloudnat_block_log_t *ring;
  u32 ring_head, ring_n;
  cloudnat_block_log_t *history;
  u32 history_head;
  u64 n_lost;
} cn_pool_main_t;

static cn_pool_main_t cn_pool_main;

static_always_inline u32
cn_pool_ticks (u32 seconds)
{
  return seconds * CN_TICKS_PER_SEC;
}

/* ------------------------------------------------------------------ */
/* block log                                                           */
/* ------------------------------------------------------------------ */

/* with the lock */
static void
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

static u32
cn_sub_find (const ip46_address_t *a, u32 fib_index, u8 is_ip6)
{
  clib_bihash_kv_24_8_t kv;
  cn_sub_key (&kv, a, fib_index, is_ip6);
  if (clib_bihash_search_inline_24_8 (&cn_pool_main.sub_db, &kv))
    return ~0;
  return (u32) kv.value;
}

static u32
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

static void
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
static void
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
static int
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

  if (af != AF_IP4 && af != AF_IP6)
    return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
  fib_index = cloudnat_fib_index_from_table_id (table_id, af);
  if (fib_index == ~0)
    return VNET_API_ERROR_NO_SUCH_FIB;
  if (len > (af == AF_IP4 ? 32 : 128))
    return VNET_API_ERROR_INVALID_VALUE;
  if (af == AF_IP4 ? !ip46_address_is_ip4 (&p) : (ip46_address_is_ip4 (&p) && !ip46_address_is_zero (&p)))
    return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
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
