/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_session_admin.c: what the control plane does with sessions
 * (views and walks for show/dump, delete and purge, the sessions of a
 * translation, SNAT address or pool), and timeouts, limits, status and the
 * plugin clock. Storage, creation and expiry: cloudnat_session.c.
 */

#include <vnet/fib/fib_table.h>
#include <vnet/ip/ip4.h>
#include <vnet/ip/ip6.h>
#include <cloudnat/cloudnat_priv.h>

/* ------------------------------------------------------------------ */
/* views and walks                                                     */
/* ------------------------------------------------------------------ */

void
cn_session_view_fill4 (const cn_sess4_t *s, u32 index, cloudnat_session_view_t *v, u32 now)
{
  clib_memset (v, 0, sizeof (*v));
  v->af = AF_IP4;
  v->proto = s->proto;
  v->table_id = cn_table_id_of_fib (s->fib_index, AF_IP4);
  ip46_address_set_ip4 (&v->src_addr, (ip4_address_t *) &s->rw[1].dst);
  ip46_address_set_ip4 (&v->dst_addr, (ip4_address_t *) &s->rw[1].src);
  v->src_port = clib_net_to_host_u16 (s->rw[1].dport);
  v->dst_port = clib_net_to_host_u16 (s->rw[1].sport);
  ip46_address_set_ip4 (&v->new_src_addr, (ip4_address_t *) &s->rw[0].src);
  ip46_address_set_ip4 (&v->new_dst_addr, (ip4_address_t *) &s->rw[0].dst);
  v->new_src_port = clib_net_to_host_u16 (s->rw[0].sport);
  v->new_dst_port = clib_net_to_host_u16 (s->rw[0].dport);
  v->flags = (s->flags & CN_SF_DNAT ? CN_SESSION_F_DNAT : 0) |
	     (s->flags & CN_SF_SNAT ? CN_SESSION_F_SNAT : 0);
  v->tcp_state = s->proto == IP_PROTOCOL_TCP ? cn_tcp_state (s->tcp) : 0;
  v->translation_id = s->tr_index;
  v->backend_index = s->tr_index == ~0 ? ~0 : s->backend;
  v->expires_in = cn_expires_in (now, s->last, cn_session_timeout (s->proto, s->tcp));
  v->packets = s->packets;
  v->session_index = index;
}

void
cn_session_view_fill6 (const cn_sess6_t *s, u32 index, cloudnat_session_view_t *v, u32 now)
{
  clib_memset (v, 0, sizeof (*v));
  v->af = AF_IP6;
  v->proto = s->proto;
  v->table_id = cn_table_id_of_fib (s->fib_index, AF_IP6);
  clib_memcpy (v->src_addr.as_u8, s->rw[1].dst, 16);
  clib_memcpy (v->dst_addr.as_u8, s->rw[1].src, 16);
  v->src_port = clib_net_to_host_u16 (s->rw[1].dport);
  v->dst_port = clib_net_to_host_u16 (s->rw[1].sport);
  clib_memcpy (v->new_src_addr.as_u8, s->rw[0].src, 16);
  clib_memcpy (v->new_dst_addr.as_u8, s->rw[0].dst, 16);
  v->new_src_port = clib_net_to_host_u16 (s->rw[0].sport);
  v->new_dst_port = clib_net_to_host_u16 (s->rw[0].dport);
  v->flags = (s->flags & CN_SF_DNAT ? CN_SESSION_F_DNAT : 0) |
	     (s->flags & CN_SF_SNAT ? CN_SESSION_F_SNAT : 0);
  v->tcp_state = s->proto == IP_PROTOCOL_TCP ? cn_tcp_state (s->tcp) : 0;
  v->translation_id = s->tr_index;
  v->backend_index = s->tr_index == ~0 ? ~0 : s->backend;
  v->expires_in = cn_expires_in (now, s->last, cn_session_timeout (s->proto, s->tcp));
  v->packets = s->packets;
  v->session_index = index;
}

static int
cn_prefix_match (const ip46_address_t *a, const ip46_address_t *p, u8 len, ip_address_family_t af)
{
  ip46_address_t m = *a;
  if (af == AF_IP4)
    {
      ip4_address_t mask;
      ip4_preflen_to_mask (len, &mask);
      return (a->ip4.as_u32 & mask.as_u32) == (p->ip4.as_u32 & mask.as_u32);
    }
  ip6_address_t mask;
  ip6_preflen_to_mask (len, &mask);
  ip6_address_mask (&m.ip6, &mask);
  ip46_address_t pm = *p;
  ip6_address_mask (&pm.ip6, &mask);
  return ip6_address_is_equal (&m.ip6, &pm.ip6);
}

static int
cn_view_matches (const cloudnat_session_view_t *v, const cloudnat_session_filter_t *f)
{
  if (f->proto && f->proto != v->proto)
    return 0;
  if (f->port && f->port != v->src_port && f->port != v->dst_port)
    return 0;
  if (f->addr_len)
    {
      if (f->af != v->af)
	return 0;
      if (!cn_prefix_match (&v->src_addr, &f->addr, f->addr_len, v->af) &&
	  !cn_prefix_match (&v->dst_addr, &f->addr, f->addr_len, v->af))
	return 0;
    }
  return 1;
}

int
cloudnat_session_walk (const cloudnat_session_filter_t *filter, cloudnat_session_walk_cb_t cb,
		       void *ctx)
{
  vlib_main_t *vm = vlib_get_main ();
  cloudnat_session_filter_t any = { .table_id = ~0 };
  const cloudnat_session_filter_t *f = filter ? filter : &any;
  u32 fib4 = ~0, fib6 = ~0, idx, now = cn_now_ticks (vm);
  cloudnat_session_view_t v;
  u8 proto = f->proto;

  if (f->table_id != ~0)
    {
      fib4 = fib_table_find (FIB_PROTOCOL_IP4, f->table_id);
      fib6 = fib_table_find (FIB_PROTOCOL_IP6, f->table_id);
      if (fib4 == ~0 && fib6 == ~0)
	return VNET_API_ERROR_NO_SUCH_FIB;
    }

  /* a walk may take a while: keep workers out of our way so the view is
     consistent and records are not reused under us */
  vlib_worker_thread_barrier_sync (vm);
  if (!f->addr_len || f->af == AF_IP4)
    {
      cloudnat_session_filter_t f4 = *f;
      if (proto == IP_PROTOCOL_ICMP6)
	goto v6;
      cn_foreach_session (&cn_dp.store4, idx, {
	cn_sess4_t *s = cn_store_get (&cn_dp.store4, idx);
	if ((s->flags & (CN_SF_USED | CN_SF_DEAD)) != CN_SF_USED)
	  continue;
	if (f->table_id != ~0 && s->fib_index != fib4)
	  continue;
	cn_session_view_fill4 (s, idx, &v, now);
	if (!cn_view_matches (&v, &f4))
	  continue;
	if (cb (&v, ctx) == WALK_STOP)
	  goto done;
      });
    }
v6:
  if (!f->addr_len || f->af == AF_IP6)
    {
      cloudnat_session_filter_t f6 = *f;
      /* "icmp" means echo in either family */
      if (f6.proto == IP_PROTOCOL_ICMP)
	f6.proto = IP_PROTOCOL_ICMP6;
      cn_foreach_session (&cn_dp.store6, idx, {
	cn_sess6_t *s = cn_store_get (&cn_dp.store6, idx);
	if ((s->flags & (CN_SF_USED | CN_SF_DEAD)) != CN_SF_USED)
	  continue;
	if (f->table_id != ~0 && s->fib_index != fib6)
	  continue;
	cn_session_view_fill6 (s, idx, &v, now);
	if (!cn_view_matches (&v, &f6))
	  continue;
	if (cb (&v, ctx) == WALK_STOP)
	  goto done;
      });
    }
done:
  vlib_worker_thread_barrier_release (vm);
  return 0;
}

/* ------------------------------------------------------------------ */
/* delete / purge                                                      */
/* ------------------------------------------------------------------ */

int
cloudnat_session_delete (u32 table_id, u8 proto, const ip46_address_t *src, u16 src_port,
			 const ip46_address_t *dst, u16 dst_port, ip_address_family_t af)
{
  vlib_main_t *vm = vlib_get_main ();
  u32 fib_index = cloudnat_fib_index_from_table_id (table_id, af);
  u16 sp = clib_host_to_net_u16 (src_port), dp = clib_host_to_net_u16 (dst_port);

  if (fib_index == ~0)
    return VNET_API_ERROR_NO_SUCH_FIB;
  if (af == AF_IP6 && proto == IP_PROTOCOL_ICMP)
    proto = IP_PROTOCOL_ICMP6;
  if (af == AF_IP4 && proto == IP_PROTOCOL_ICMP6)
    return VNET_API_ERROR_INVALID_PROTOCOL;
  if (proto != IP_PROTOCOL_TCP && proto != IP_PROTOCOL_UDP && proto != IP_PROTOCOL_ICMP &&
      proto != IP_PROTOCOL_ICMP6)
    return VNET_API_ERROR_INVALID_PROTOCOL;

  vlib_worker_thread_barrier_sync (vm);
  if (af == AF_IP4)
    {
      cn_key4_t k;
      u32 v;
      cn_key4_make (&k, src->ip4.as_u32, dst->ip4.as_u32, sp, dp, proto, fib_index);
      if ((v = cn_sess4_find (&k, cn_key4_hash (&k))) != CN_SV_NONE)
	cn_session_delete_i (0, CN_SV_INDEX (v), 1);
    }
  else
    {
      cn_key6_t k;
      u32 v;
      cn_key6_make (&k, src->ip6.as_u8, dst->ip6.as_u8, sp, dp, proto, fib_index);
      if ((v = cn_sess6_find (&k, cn_key6_hash (&k))) != CN_SV_NONE)
	cn_session_delete_i (1, CN_SV_INDEX (v), 1);
    }
  cn_client_gc (vm);
  vlib_worker_thread_barrier_release (vm);
  return 0;
}

/* af_mask: bit 0 v4, bit 1 v6; fib ~0 = all of that family */
u32
cn_session_purge_fib (int af_mask, u32 fib4, u32 fib6)
{
  vlib_main_t *vm = vlib_get_main ();
  u32 idx, n = 0;

  vlib_worker_thread_barrier_sync (vm);
  if (af_mask & 1)
    cn_foreach_session (&cn_dp.store4, idx, {
      cn_sess4_t *s = cn_store_get (&cn_dp.store4, idx);
      if ((s->flags & (CN_SF_USED | CN_SF_DEAD)) != CN_SF_USED)
	continue;
      if (fib4 != ~0 && s->fib_index != fib4)
	continue;
      cn_session_delete_i (0, idx, 1);
      n++;
    });
  if (af_mask & 2)
    cn_foreach_session (&cn_dp.store6, idx, {
      cn_sess6_t *s = cn_store_get (&cn_dp.store6, idx);
      if ((s->flags & (CN_SF_USED | CN_SF_DEAD)) != CN_SF_USED)
	continue;
      if (fib6 != ~0 && s->fib_index != fib6)
	continue;
      cn_session_delete_i (1, idx, 1);
      n++;
    });
  cn_store_reclaim (vm, &cn_dp.store4, 1);
  cn_store_reclaim (vm, &cn_dp.store6, 1);
  cn_client_gc (vm);
  vlib_worker_thread_barrier_release (vm);
  return n;
}

u32
cloudnat_session_purge (u32 table_id)
{
  u32 fib4, fib6;
  int mask = 0;

  if (table_id == ~0)
    return cn_session_purge_fib (3, ~0, ~0);
  fib4 = fib_table_find (FIB_PROTOCOL_IP4, table_id);
  fib6 = fib_table_find (FIB_PROTOCOL_IP6, table_id);
  if (fib4 != ~0)
    mask |= 1;
  if (fib6 != ~0)
    mask |= 2;
  if (!mask)
    return 0;
  return cn_session_purge_fib (mask, fib4, fib6);
}

/* Under the barrier (the caller holds it). */
void
cn_sessions_of_translation (u32 tr_index, const u32 *map)
{
  u32 idx;
  cn_foreach_session (&cn_dp.store4, idx, {
    cn_sess4_t *s = cn_store_get (&cn_dp.store4, idx);
    if ((s->flags & (CN_SF_USED | CN_SF_DEAD)) != CN_SF_USED || s->tr_index != tr_index)
      continue;
    if (!map || map[s->backend] == ~0)
      cn_session_delete_i (0, idx, 1);
    else
      s->backend = (u8) map[s->backend];
  });
  cn_foreach_session (&cn_dp.store6, idx, {
    cn_sess6_t *s = cn_store_get (&cn_dp.store6, idx);
    if ((s->flags & (CN_SF_USED | CN_SF_DEAD)) != CN_SF_USED || s->tr_index != tr_index)
      continue;
    if (!map || map[s->backend] == ~0)
      cn_session_delete_i (1, idx, 1);
    else
      s->backend = (u8) map[s->backend];
  });
}

/* Under the barrier: sessions translated to SNAT address a. */
void
cn_sessions_of_snat_address (u32 fib_index, const ip46_address_t *a, ip_address_family_t af)
{
  u32 idx;
  if (af == AF_IP4)
    cn_foreach_session (&cn_dp.store4, idx, {
      cn_sess4_t *s = cn_store_get (&cn_dp.store4, idx);
      if ((s->flags & (CN_SF_USED | CN_SF_DEAD | CN_SF_SNAT)) != (CN_SF_USED | CN_SF_SNAT) ||
	  s->fib_index != fib_index || s->rw[0].src != a->ip4.as_u32)
	continue;
      cn_session_delete_i (0, idx, 1);
    });
  else
    cn_foreach_session (&cn_dp.store6, idx, {
      cn_sess6_t *s = cn_store_get (&cn_dp.store6, idx);
      if ((s->flags & (CN_SF_USED | CN_SF_DEAD | CN_SF_SNAT)) != (CN_SF_USED | CN_SF_SNAT) ||
	  s->fib_index != fib_index || memcmp (s->rw[0].src, a->ip6.as_u8, 16))
	continue;
      cn_session_delete_i (1, idx, 1);
    });
}

static_always_inline int
cn_sess_of_sub (u32 s_sub, u32 pool_index, u32 sub_index)
{
  if (s_sub == ~0)
    return 0;
  return sub_index != ~0 ? s_sub == sub_index : cn_pool_sub_in_pool (s_sub, pool_index);
}

void
cn_sessions_of_pool (u32 pool_index, u32 sub_index)
{
  u32 idx;
  cn_foreach_session (&cn_dp.store4, idx, {
    cn_sess4_t *s = cn_store_get (&cn_dp.store4, idx);
    if ((s->flags & (CN_SF_USED | CN_SF_DEAD)) != CN_SF_USED ||
	!cn_sess_of_sub (s->sub_index, pool_index, sub_index))
      continue;
    cn_session_delete_i (0, idx, 1);
  });
  cn_foreach_session (&cn_dp.store6, idx, {
    cn_sess6_t *s = cn_store_get (&cn_dp.store6, idx);
    if ((s->flags & (CN_SF_USED | CN_SF_DEAD)) != CN_SF_USED ||
	!cn_sess_of_sub (s->sub_index, pool_index, sub_index))
      continue;
    cn_session_delete_i (1, idx, 1);
  });
}

/* ------------------------------------------------------------------ */
/* timeouts, limits, status, clock                                     */
/* ------------------------------------------------------------------ */

void
cloudnat_timeouts_get (cloudnat_timeouts_t *t)
{
  *t = cn_dp.timeouts;
}

int
cloudnat_timeouts_set (const cloudnat_timeouts_t *t)
{
  if (t->udp > CN_TIMEOUT_MAX || t->tcp_established > CN_TIMEOUT_MAX ||
      t->tcp_transitory > CN_TIMEOUT_MAX || t->icmp > CN_TIMEOUT_MAX)
    return VNET_API_ERROR_INVALID_VALUE;
  if (t->udp)
    cn_dp.timeouts.udp = t->udp;
  if (t->tcp_established)
    cn_dp.timeouts.tcp_established = t->tcp_established;
  if (t->tcp_transitory)
    cn_dp.timeouts.tcp_transitory = t->tcp_transitory;
  if (t->icmp)
    cn_dp.timeouts.icmp = t->icmp;
  return 0;
}

/* Give table_id's FIBs, as they are now, the table's limit: one limit for
   the table, each family's count checked together with the other's. */
static void
cn_table_limit_apply (u32 table_id, u32 max_sessions)
{
  u32 fib4 = fib_table_find (FIB_PROTOCOL_IP4, table_id);
  u32 fib6 = fib_table_find (FIB_PROTOCOL_IP6, table_id);

  if (fib4 >= CN_MAX_FIB_INDEX)
    fib4 = ~0;
  if (fib6 >= CN_MAX_FIB_INDEX)
    fib6 = ~0;
  if (fib4 != ~0)
    {
      cn_dp.fib_counts[AF_IP4][fib4].limit = max_sessions;
      cn_dp.fib_counts[AF_IP4][fib4].peer_fib_plus1 = fib6 + 1; /* ~0 + 1 = 0: none */
    }
  if (fib6 != ~0)
    {
      cn_dp.fib_counts[AF_IP6][fib6].limit = max_sessions;
      cn_dp.fib_counts[AF_IP6][fib6].peer_fib_plus1 = fib4 + 1;
    }
}

int
cloudnat_session_limit_set (u32 table_id, u32 max_sessions)
{
  u32 fib4, fib6;
  if (table_id == ~0)
    {
      cn_dp.max_sessions = max_sessions;
      return 0;
    }
  fib4 = fib_table_find (FIB_PROTOCOL_IP4, table_id);
  fib6 = fib_table_find (FIB_PROTOCOL_IP6, table_id);
  if (fib4 == ~0 && fib6 == ~0)
    return VNET_API_ERROR_NO_SUCH_FIB;
  if ((fib4 != ~0 && fib4 >= CN_MAX_FIB_INDEX) || (fib6 != ~0 && fib6 >= CN_MAX_FIB_INDEX))
    return VNET_API_ERROR_UNIMPLEMENTED;
  cn_table_limit_apply (table_id, max_sessions);
  /* remembered by table id: a FIB of the table made later (the other
     family's, or the table deleted and made again) gets it from the
     scanner (cn_table_limits_refresh) */
  if (max_sessions)
    hash_set (cn_dp.table_limits, table_id, max_sessions);
  else if (cn_dp.table_limits)
    hash_unset (cn_dp.table_limits, table_id);
  return 0;
}

void
cn_table_limits_refresh (void)
{
  hash_pair_t *p;

  if (!cn_dp.table_limits)
    return;
  hash_foreach_pair (p, cn_dp.table_limits, ({ cn_table_limit_apply (p->key, p->value[0]); }));
}

void
cloudnat_session_limit_walk (cloudnat_limit_walk_cb_t cb, void *ctx)
{
  uword *seen = hash_create (0, sizeof (uword));
  ip_address_family_t af;
  fib_table_t *ft;
  u32 fib_index;

  if (cb (~0, cn_dp.max_sessions, cn_dp.n_sessions, ctx) == WALK_STOP)
    goto done;
  FOR_EACH_IP_ADDRESS_FAMILY (af)
  {
    fib_table_t *fibs = af == AF_IP4 ? ip4_main.fibs : ip6_main.fibs;
    pool_foreach (ft, fibs)
      {
	u32 table_id = ft->ft_table_id, f4, f6, max = 0, n = 0;
	if (hash_get (seen, table_id))
	  continue;
	hash_set (seen, table_id, 1);
	f4 = fib_table_find (FIB_PROTOCOL_IP4, table_id);
	f6 = fib_table_find (FIB_PROTOCOL_IP6, table_id);
	if (f4 != ~0 && f4 < CN_MAX_FIB_INDEX)
	  {
	    max = cn_dp.fib_counts[AF_IP4][f4].limit;
	    n += cn_dp.fib_counts[AF_IP4][f4].n_sessions;
	  }
	if (f6 != ~0 && f6 < CN_MAX_FIB_INDEX)
	  {
	    max = clib_max (max, cn_dp.fib_counts[AF_IP6][f6].limit);
	    n += cn_dp.fib_counts[AF_IP6][f6].n_sessions;
	  }
	if (!max && !n)
	  continue;
	if (cb (table_id, max, n, ctx) == WALK_STOP)
	  goto done;
      }
  }
  (void) fib_index;
done:
  hash_free (seen);
}

void
cloudnat_get_status (cloudnat_status_t *st)
{
  clib_memset (st, 0, sizeof (*st));
  st->n_translations = cloudnat_translation_count ();
  st->n_sessions = cn_dp.n_sessions;
  st->max_sessions = cn_dp.max_sessions;
  st->clock_offset = cloudnat_main.clock_offset;
}

void
cloudnat_session_table_info (ip_address_family_t af, cloudnat_session_table_info_t *ti)
{
  cn_stab_t *t = af == AF_IP6 ? &cn_dp.sess6 : &cn_dp.sess4;
  cn_stab_stats_t s;

  clib_memset (ti, 0, sizeof (*ti));
  if (!t->buckets)
    return;
  cn_stab_stats (t, &s);
  ti->n_buckets = t->n_buckets;
  ti->n_slots = ((u64) t->n_buckets + CN_STAB_MAX_DISP) * CN_STAB_SLOTS;
  ti->bytes = cn_stab_bytes (t->n_buckets);
  ti->n_entries = s.n_entries;
  ti->n_spilled = s.n_spilled_buckets;
  ti->max_displacement = s.max_disp;
}

f64
cloudnat_now (void)
{
  return vlib_time_now (vlib_get_main ()) + (f64) cloudnat_main.clock_offset;
}

int
cloudnat_clock_advance (u32 seconds)
{
  vlib_main_t *vm = vlib_get_main ();

  vlib_worker_thread_barrier_sync (vm);
  cloudnat_main.clock_offset += seconds;
  cn_sessions_scan (vm, 1 /* full */, 1 /* under barrier */);
  cn_store_reclaim (vm, &cn_dp.store4, 1);
  cn_store_reclaim (vm, &cn_dp.store6, 1);
  cn_client_gc (vm);
  vlib_worker_thread_barrier_release (vm);
  return 0;
}
