/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_node.c: the graph nodes.
 *
 *   ip4-cloudnat / ip6-cloudnat   reached through cloudnat's DPO (VIPs,
 *                                 real addresses, reply destinations)
 *   ip4-cnat-snat / ip6-cnat-snat feature on ip4-unicast / ip6-unicast of
 *                                 source-NAT (inside) interfaces
 *
 * Both do the same first step: parse (cn_pkt.h), look the flow up in the
 * shared session table, and on a hit rewrite the packet with the
 * direction's cached rewrite (cn_rewrite.h). ICMP errors are looked up by
 * the reversed tuple of their quoted packet and rewritten inside and out;
 * they never create, refresh or delete a session.
 *
 * A miss in the DPO node looks for a translation of (destination, port,
 * protocol) and creates a DNAT session; without one a VIP drops (counted)
 * and an interposed address passes the packet on to the forwarding it had.
 * A miss in the feature node creates a source-NAT session unless the
 * destination is excluded or local, or the table has no SNAT address.
 *
 * The frame is handled in passes, each a plain loop over the frame, so
 * that the session table buckets of all packets are prefetched before any
 * is scanned, and the records of all hits before any is checked.
 */

#include <vnet/feature/feature.h>
#include <vnet/ip/ip4.h>
#include <vnet/ip/ip6.h>
#include <vnet/fib/ip4_fib.h>
#include <vnet/fib/ip6_fib.h>
#include <vnet/dpo/load_balance.h>
#include <vnet/ip/icmp4.h>
#include <vnet/ip/icmp6.h>
#include <cloudnat/cloudnat_priv.h>
#include <cloudnat/cloudnat_frag.h>

/* How far ahead the first pass prefetches packet buffers (header and
   first data line). */
#define CN_PIPE 32

typedef enum
{
  CN_NEXT_DROP,
  CN_NEXT_LOOKUP,
  CN_NEXT_LOAD_BALANCE,
  CN_NEXT_REINJECT, /* ip4-input / ip6-input: fragments released by the tracker */
  CN_NEXT_ICMP_ERROR,
  CN_N_NEXT,
  /* not a next node: the packet was handed to another thread */
  CN_NEXT_HANDED_OFF = 0xffff,
} cn_next_t;

#ifndef CLIB_MARCH_VARIANT
vlib_error_desc_t cn_error_counters[] = {
#define _(sym, n, sev, str) { .name = #n, .desc = str, .severity = VL_COUNTER_SEVERITY_##sev },
  foreach_cn_error
#undef _
};
#endif

static_always_inline void
cn_trace_tuple (cn_trace_t *t, const u8 *ip, const cn_pkt_info_t *pi, int is_ip6, int is_new)
{
  ip46_address_t *s = is_new ? &t->nsrc : &t->src;
  ip46_address_t *d = is_new ? &t->ndst : &t->dst;
  u16 sp = 0, dp = 0;

  if (is_ip6)
    {
      clib_memcpy (s->ip6.as_u8, ip + CN_IP6_SRC_OFF, 16);
      clib_memcpy (d->ip6.as_u8, ip + CN_IP6_DST_OFF, 16);
    }
  else
    {
      ip46_address_set_ip4 (s, (ip4_address_t *) (ip + CN_IP4_SRC_OFF));
      ip46_address_set_ip4 (d, (ip4_address_t *) (ip + CN_IP4_DST_OFF));
    }
  if (pi->frag == CN_FRAG_LATER)
    sp = pi->sport, dp = pi->dport; /* no L4 header here */
  else if (pi->kind == CN_PKT_L4)
    {
      sp = cn_ld16 (ip + pi->l4_offset);
      dp = cn_ld16 (ip + pi->l4_offset + 2);
    }
  else if (pi->kind == CN_PKT_ECHO_REQUEST || pi->kind == CN_PKT_ECHO_REPLY)
    sp = dp = cn_ld16 (ip + pi->l4_offset + 4);
  if (is_new)
    t->nsport = sp, t->ndport = dp;
  else
    t->sport = sp, t->dport = dp;
}

static_always_inline u32
cn_feature_fib_index (vlib_buffer_t *b, int is_ip6)
{
  u32 tx = vnet_buffer (b)->sw_if_index[VLIB_TX];
  u32 rx = vnet_buffer (b)->sw_if_index[VLIB_RX];
  if (tx != ~0)
    return tx;
  return is_ip6 ? vec_elt (ip6_main.fib_index_by_sw_if_index, rx) :
		  vec_elt (ip4_main.fib_index_by_sw_if_index, rx);
}

/* Build the lookup key of packet i; returns 0 when there is nothing to
   look up. */
static_always_inline int
cn_make_key (const u8 *ip, const cn_pkt_info_t *pi, u32 fib_index, int is_ip6, cn_key4_t *k4,
	     cn_key6_t *k6)
{
  switch (pi->kind)
    {
    case CN_PKT_L4:
    case CN_PKT_ECHO_REQUEST:
    case CN_PKT_ECHO_REPLY:
      if (is_ip6)
	cn_key6_make (k6, ip + CN_IP6_SRC_OFF, ip + CN_IP6_DST_OFF, pi->sport, pi->dport, pi->proto,
		      fib_index);
      else
	cn_key4_make (k4, cn_ld32 (ip + CN_IP4_SRC_OFF), cn_ld32 (ip + CN_IP4_DST_OFF), pi->sport,
		      pi->dport, pi->proto, fib_index);
      return 1;
    case CN_PKT_ICMP_ERROR:
      {
	/* the quoted packet went the other way: reverse it */
	const u8 *in = ip + pi->inner_offset;
	if (is_ip6)
	  cn_key6_make (k6, in + CN_IP6_DST_OFF, in + CN_IP6_SRC_OFF, pi->inner_dport,
			pi->inner_sport, pi->inner_proto, fib_index);
	else
	  cn_key4_make (k4, cn_ld32 (in + CN_IP4_DST_OFF), cn_ld32 (in + CN_IP4_SRC_OFF),
			pi->inner_dport, pi->inner_sport, pi->inner_proto, fib_index);
	return 1;
      }
    default:
      return 0;
    }
}

/* At most CN_ICMP_PER_SEC ICMP errors per second per thread. */
#define CN_ICMP_PER_SEC 100
typedef struct
{
  CLIB_CACHE_LINE_ALIGN_MARK (cacheline0);
  f64 second;
  u32 n;
} cn_icmp_rl_t;
static cn_icmp_rl_t cn_icmp_rl[256];

static_always_inline int
cn_icmp_rate_ok (vlib_main_t *vm)
{
  cn_icmp_rl_t *r = &cn_icmp_rl[vm->thread_index & 255];
  f64 now = vlib_time_now (vm);
  if (now - r->second >= 1.0)
    {
      r->second = now;
      r->n = 0;
    }
  return r->n++ < CN_ICMP_PER_SEC;
}

/* After a rewrite: does the packet, as it is now, belong to a session
   too (chained translations, e.g. a DNAT reply that must then be restored
   by source NAT)? Only asked when its new destination is one we capture. */
static_always_inline int
cn_rewritten_has_session (const u8 *ip, u32 len, u32 fib_index, int is_ip6)
{
  cn_pkt_info_t pi;
  cn_key4_t k4;
  cn_key6_t k6;

  cn_pkt_parse (ip, len, is_ip6, &pi);
  if (!cn_make_key (ip, &pi, fib_index, is_ip6, &k4, &k6))
    return 0;
  if (is_ip6)
    return cn_sess6_find (&k6, cn_key6_hash (&k6)) != CN_SV_NONE;
  return cn_sess4_find (&k4, cn_key4_hash (&k4)) != CN_SV_NONE;
}

static_always_inline void
cn_args_from_packet (cn_sess_create_args_t *a, const u8 *ip, const cn_pkt_info_t *pi, u32 fib_index,
		     int is_ip6, u32 thread_index)
{
  a->is_ip6 = is_ip6;
  a->proto = pi->proto;
  a->tcp_flags = pi->tcp_flags;
  a->fib_index = fib_index;
  a->out_fib_index = fib_index;
  a->sub_index = ~0;
  a->filter_flags = 0;
  a->classify_only = 0;
  a->thread_index = thread_index;
  a->sport = pi->sport;
  a->dport = pi->dport;
  a->tr_index = ~0;
  a->is_dnat = 0;
  if (is_ip6)
    {
      clib_memcpy (a->src.ip6.as_u8, ip + CN_IP6_SRC_OFF, 16);
      clib_memcpy (a->dst.ip6.as_u8, ip + CN_IP6_DST_OFF, 16);
    }
  else
    {
      ip46_address_set_ip4 (&a->src, (ip4_address_t *) (ip + CN_IP4_SRC_OFF));
      ip46_address_set_ip4 (&a->dst, (ip4_address_t *) (ip + CN_IP4_DST_OFF));
    }
}


/* The translation lookup of the last new flow of this frame: new flows
   of a frame mostly go to one VIP. Translations do not change while a
   frame is processed. */
typedef struct
{
  ip46_address_t vip;
  u32 fib_index;
  u16 port;
  u8 proto;
  u8 valid;
  u32 tr_index; /* may be ~0: no translation */
} cn_tr_cache_t;

#include <cloudnat/cloudnat_node_stateless.h>
#include <cloudnat/cloudnat_node_mtu.h>

/* Decide what a new flow becomes (translation or source NAT); 0 when a
   session is to be created from a, else the outcome is final in nf. */
static_always_inline int
cn_new_flow_decide (vlib_buffer_t *b, const u8 *ip, const cn_pkt_info_t *pi, u32 fib_index,
		    int is_ip6, int is_feature, u32 thread_index, u32 now, cn_sess_create_args_t *a,
		    cn_new_flow_t *nf, u32 *counts, cn_tr_cache_t *trc)
{
  nf->idx = ~0;
  nf->dir = 0;
  nf->error = ~0;
  nf->created = 0;
  nf->pass = 0;
  cn_args_from_packet (a, ip, pi, fib_index, is_ip6, thread_index);
  a->have_hashes = 0;
  a->now = now;
  if (!is_feature)
    {
      u16 port = pi->kind == CN_PKT_L4 ? pi->dport : 0;
      u32 tri;
      if (trc->valid && trc->fib_index == fib_index && trc->port == port &&
	  trc->proto == pi->proto && ip46_address_is_equal (&trc->vip, &a->dst))
	tri = trc->tr_index;
      else
	{
	  tri = cn_translation_find (fib_index, &a->dst, is_ip6 ? AF_IP6 : AF_IP4, port, pi->proto);
	  trc->vip = a->dst;
	  trc->fib_index = fib_index;
	  trc->port = port;
	  trc->proto = pi->proto;
	  trc->tr_index = tri;
	  trc->valid = 1;
	}
      if (tri != ~0)
	{
	  a->tr_index = tri;
	  if (cn_translation_select (pool_elt_at_index (cn_dp.translations, tri), a))
	    {
	      nf->error = CN_ERROR_NO_BACKEND;
	      return -1;
	    }
	  return 0;
	}
      cn_cdpo_t *cd = pool_elt_at_index (cn_dp.cdpos, vnet_buffer (b)->ip.adj_index[VLIB_TX]);
      if (cd->is_vip)
	nf->error = CN_ERROR_NO_TRANSLATION;
      else
	nf->pass = 1;
      return -1;
    }
  else
    {
      int rc = cn_snat_decide (a);
      if (rc == 0)
	return 0;
      if (rc == CN_SNAT_DROP_EXHAUSTED || rc == CN_SNAT_DROP_NO_PORT)
	{
	  nf->error =
	    rc == CN_SNAT_DROP_EXHAUSTED ? CN_ERROR_POOL_EXHAUSTED : CN_ERROR_PORT_EXHAUSTED;
	  return -1;
	}
      counts[rc == CN_SNAT_PASS_NO_ADDR ? CN_ERROR_NO_SNAT_ADDRESS :
	     rc == CN_SNAT_PASS_INSIDE	? CN_ERROR_POOL_INSIDE :
					  CN_ERROR_SNAT_EXCLUDED]++;
      nf->pass = 1;
      return -1;
    }
}

/* The forwarding of the last translated destination of this frame that
   goes to plain forwarding (not to an address we capture): consecutive
   packets to one backend skip the FIB lookup. The FIB does not change
   while a frame is processed. */
typedef struct
{
  u32 fib_index;
  index_t lbi; /* INDEX_INVALID: empty */
  ip46_address_t dst;
  /* translation counter increments, added up while consecutive packets
     belong to the same translation */
  u32 ctr_tr; /* ~0: none pending */
  u32 ctr_packets;
  u64 ctr_bytes;
} cn_fwd_cache_t;

static_always_inline void
cn_tr_counter_flush (cn_fwd_cache_t *fwc, u32 thread_index)
{
  if (fwc->ctr_tr != ~0)
    vlib_increment_combined_counter (&cn_dp.tr_counters, thread_index, fwc->ctr_tr,
				     fwc->ctr_packets, fwc->ctr_bytes);
  fwc->ctr_tr = ~0;
}

static_always_inline int
cn_fwd_cache_hit (const cn_fwd_cache_t *fwc, u32 fib_index, const u8 *dstp, int is_ip6)
{
  if (fwc->lbi == INDEX_INVALID || fwc->fib_index != fib_index)
    return 0;
  if (is_ip6)
    return !memcmp (fwc->dst.ip6.as_u8, dstp, 16);
  return fwc->dst.ip4.as_u32 == cn_ld32 (dstp);
}

/* Forward a translated packet in table fwd_fib to its new destination:
   look it up here (saves a trip through ip4-lookup); if we capture that
   address too (a reply going back to a client), go straight to the
   forwarding it had rather than through this node again, unless another
   translation applies there (a session, a VIP, a static mapping). */
static_always_inline u16
cn_forward (vlib_buffer_t *b, u8 *ip, u32 fwd_fib, int is_ip6, cn_fwd_cache_t *fwc)
{
  const u8 *dstp = ip + (is_ip6 ? CN_IP6_DST_OFF : CN_IP4_DST_OFF);
  const load_balance_t *lb;
  const dpo_id_t *d0;
  index_t lbi;

  if (cn_fwd_cache_hit (fwc, fwd_fib, dstp, is_ip6))
    {
      vnet_buffer (b)->ip.adj_index[VLIB_TX] = fwc->lbi;
      return CN_NEXT_LOAD_BALANCE;
    }
  lbi = is_ip6 ? ip6_fib_table_fwding_lookup (fwd_fib, (ip6_address_t *) dstp) :
		 ip4_fib_forwarding_lookup (fwd_fib, (ip4_address_t *) dstp);
  lb = load_balance_get (lbi);
  d0 = load_balance_get_bucket_i (lb, 0);
  if (lb->lb_n_buckets == 1 && d0->dpoi_type == cn_dp.dpo_type)
    {
      cn_cdpo_t *cd = pool_elt_at_index (cn_dp.cdpos, d0->dpoi_index);
      if (!cd->is_vip && !cn_rewritten_has_session (ip, b->current_length, fwd_fib, is_ip6) &&
	  !cn_static_has_in (fwd_fib, dstp, is_ip6))
	{
	  vnet_buffer (b)->ip.adj_index[VLIB_TX] = cd->parent.dpoi_index;
	  return cd->parent.dpoi_next_node;
	}
      /* a VIP of ours, or another session or mapping applies (source
	 NAT behind a DNAT reply, the other side of a peering): translate
	 it again */
      vnet_buffer (b)->sw_if_index[VLIB_TX] = fwd_fib;
      return CN_NEXT_LOOKUP;
    }
  vnet_buffer (b)->ip.adj_index[VLIB_TX] = lbi;
  fwc->lbi = lbi;
  fwc->fib_index = fwd_fib;
  if (is_ip6)
    clib_memcpy_fast (fwc->dst.ip6.as_u8, dstp, 16);
  else
    fwc->dst.ip4.as_u32 = cn_ld32 (dstp);
  return CN_NEXT_LOAD_BALANCE;
}

/* Rewrite packet ip with rw (a cn_rw4_t or cn_rw6_t): an ICMP error
   through its quote, a later fragment in its IP header only, any other
   packet in full (partial: the L4 checksum holds a tx-offload pseudo sum). */
static_always_inline void
cn_rewrite_packet (vlib_buffer_t *b, u8 *ip, const cn_pkt_info_t *pi, const void *rw, int is_ip6)
{
  int partial = (b->flags & VNET_BUFFER_F_OFFLOAD) &&
		(vnet_buffer (b)->oflags &
		 (VNET_BUFFER_OFFLOAD_F_TCP_CKSUM | VNET_BUFFER_OFFLOAD_F_UDP_CKSUM));
  if (is_ip6)
    {
      if (pi->kind == CN_PKT_ICMP_ERROR)
	cn_icmp_error_rewrite6 (ip, pi, rw);
      else if (PREDICT_FALSE (pi->frag == CN_FRAG_LATER))
	cn_rw6_apply_l3 (ip, rw);
      else
	cn_rw6_apply (ip, pi->l4_offset, pi->proto, rw, partial);
    }
  else
    {
      if (pi->kind == CN_PKT_ICMP_ERROR)
	cn_icmp_error_rewrite4 (ip, pi, rw);
      else if (PREDICT_FALSE (pi->frag == CN_FRAG_LATER))
	cn_rw4_apply_l3 (ip, rw);
      else
	cn_rw4_apply (ip, pi->l4_offset, pi->proto, rw, partial);
    }
}

/* The state a translated packet (not an ICMP error) brings to session s
   of either layout (cn_sess4_t, cn_sess6_t: the same fields after the
   rewrites): TCP state, last seen, packet count. Stores only what
   changes, so that a line many packets share is not written each time. */
#define cn_sess_touch(s, pi, dir, created, now)                                                    \
  do                                                                                               \
    {                                                                                              \
      if ((pi)->proto == IP_PROTOCOL_TCP && !(created))                                            \
	{                                                                                          \
	  u8 _nt = cn_tcp_update ((s)->tcp, (pi)->tcp_flags, (dir));                               \
	  if (_nt != (s)->tcp)                                                                     \
	    (s)->tcp = _nt;                                                                        \
	}                                                                                          \
      /* an RST moves the state but restarts no timer (RFC 7857 2.2: a     \
	 reset answering an inbound segment must not keep a mapping) */    \
      if ((s)->last != (now) &&                                                                    \
	  !((pi)->proto == IP_PROTOCOL_TCP && ((pi)->tcp_flags & TCP_FLAG_RST)))                  \
	(s)->last = (now);                                                                         \
      (s)->packets++;                                                                              \
    }                                                                                              \
  while (0)

/* in cn_finish_one, after the forwarding decision of an inbound rewrite:
   too big for the inside link, the error about the packet as it came */
#define CN_MTU_CHECK()                                                                             \
  do                                                                                               \
    {                                                                                              \
      if (PREDICT_FALSE (n_saved) && next == CN_NEXT_LOAD_BALANCE &&                              \
	  (mtu = cn_egress_mtu_short (vnet_buffer (b)->ip.adj_index[VLIB_TX], mtu_len)))           \
	{                                                                                          \
	  cn_mtu_answer (b, ip, saved, n_saved, is_ip6, mtu);                                      \
	  counts[CN_ERROR_TOO_BIG]++;                                                              \
	  next = CN_NEXT_ICMP_ERROR;                                                               \
	}                                                                                          \
    }                                                                                              \
  while (0)

/* Translate, pass or drop packet b; sv is its session lookup result
   (CN_SV_*) and rec its record when the caller has it, nf the outcome of a
   new flow (0 for a packet that is not one). */
static_always_inline u16
cn_finish_one (vlib_main_t *vm, vlib_node_runtime_t *node, vlib_buffer_t *b, cn_pkt_info_t *pi,
	       u32 fib_index, u32 sv, void *rec, const cn_new_flow_t *nf, int is_ip6,
	       int is_feature, cn_store_t *st, u32 now, u32 thread_index, u32 *counts,
	       cn_fwd_cache_t *fwc)
{
  u8 *ip;
  u32 next = CN_NEXT_DROP, idx = ~0, dir = 0, tr_index = ~0;
  u32 fwd_fib = fib_index; /* where a translated packet is forwarded */
  u32 error = ~0, what = CN_TRACE_MISS;
  int created = 0, pass = 0;
  cn_trace_t *t = 0;
  u8 saved[CN_MTU_SAVE];
  u32 n_saved = 0, mtu_len = 0, mtu;

  ip = vlib_buffer_get_current (b);
  if (PREDICT_FALSE (b->flags & VLIB_BUFFER_IS_TRACED))
    {
      t = vlib_add_trace (vm, node, b, sizeof (*t));
      clib_memset (t, 0, sizeof (*t));
      t->is_ip6 = is_ip6;
      t->fib_index = fib_index;
      t->proto = pi->proto;
      cn_trace_tuple (t, ip, pi, is_ip6, 0);
    }

  if (sv != CN_SV_NONE)
    {
      idx = CN_SV_INDEX (sv);
      dir = CN_SV_DIR (sv);
    }
  else if (nf)
    {
      idx = nf->idx;
      dir = nf->dir;
      error = nf->error;
      created = nf->created;
      pass = nf->pass;
    }
  else
    {
      /* no session and nothing to create one from */
      if (!is_feature)
	{
	  cn_cdpo_t *cd = pool_elt_at_index (cn_dp.cdpos, vnet_buffer (b)->ip.adj_index[VLIB_TX]);
	  if (cd->is_vip)
	    error = pi->kind == CN_PKT_ICMP_ERROR ? CN_ERROR_ICMP_ERROR_NO_SESSION :
						    CN_ERROR_NOT_TRANSLATABLE;
	  else
	    pass = 1;
	}
      else if (pi->kind == CN_PKT_L4 || pi->kind == CN_PKT_ECHO_REQUEST)
	pass = 1; /* (decided already: not translated) */
      else if (!cn_feature_would_translate (ip, pi, fib_index, is_ip6, thread_index))
	pass = 1;
      else
	error = CN_ERROR_UNTRANSLATABLE;
    }
  if ((idx != ~0 || (nf && nf->is_static)) && pi->kind != CN_PKT_ICMP_ERROR &&
      (is_ip6 ? ip[7] : ip[8]) <= 1)
    {
      /* it would die at the next hop once translated, and VPP's time
	 exceeded would quote the translated packet: answer now, about the
	 packet as its sender sent it. Inbound the quote would show the
	 inside address; outbound (the feature) the error would go to the
	 public address in the inside table, which is another host there
	 when a pool address equals an inside address (100.64.0.1 in
	 make lab's cgnat scenario). */
      if (is_ip6)
	icmp6_error_set_vnet_buffer (b, ICMP6_time_exceeded,
				     ICMP6_time_exceeded_ttl_exceeded_in_transit, 0);
      else
	icmp4_error_set_vnet_buffer (b, ICMP4_time_exceeded,
				     ICMP4_time_exceeded_ttl_exceeded_in_transit, 0);
      counts[CN_ERROR_TTL_EXPIRED]++;
      next = CN_NEXT_ICMP_ERROR;
      idx = ~0;
      goto traced;
    }
  if (PREDICT_FALSE (!is_feature && (idx != ~0 || (nf && nf->is_static)) &&
		     pi->kind != CN_PKT_ICMP_ERROR && (mtu_len = cn_mtu_candidate (ip, is_ip6))))
    {
      /* large: keep its headers, in case the inside link is too small */
      n_saved = clib_min (b->current_length, CN_MTU_SAVE);
      clib_memcpy_fast (saved, ip, n_saved);
    }
  if (idx != ~0)
    {
      /* translate with the session */
      if (is_ip6)
	{
	  cn_sess6_t *s = rec ? rec : cn_store_get (st, idx);
	  tr_index = s->tr_index;
	  /* a reply goes back into the table the flow came from (a pool's
	     flow crossed from an inside table to the outside one) */
	  if (dir == CN_DIR_REPLY)
	    fwd_fib = s->fib_index;
	  cn_rewrite_packet (b, ip, pi, &s->rw[dir], 1);
	  if (pi->kind != CN_PKT_ICMP_ERROR)
	    cn_sess_touch (s, pi, dir, created, now);
	}
      else
	{
	  cn_sess4_t *s = rec ? rec : cn_store_get (st, idx);
	  tr_index = s->tr_index;
	  if (dir == CN_DIR_REPLY)
	    fwd_fib = s->fib_index;
	  cn_rewrite_packet (b, ip, pi, &s->rw[dir], 0);
	  if (pi->kind != CN_PKT_ICMP_ERROR)
	    cn_sess_touch (s, pi, dir, created, now);
	}
      if (tr_index != ~0)
	{
	  if (tr_index != fwc->ctr_tr)
	    {
	      cn_tr_counter_flush (fwc, thread_index);
	      fwc->ctr_tr = tr_index;
	      fwc->ctr_packets = 0;
	      fwc->ctr_bytes = 0;
	    }
	  fwc->ctr_packets++;
	  fwc->ctr_bytes += vlib_buffer_length_in_chain (vm, b);
	}
      if (pi->kind == CN_PKT_ICMP_ERROR)
	{
	  counts[CN_ERROR_ICMP_ERROR_TRANSLATED]++;
	  what = CN_TRACE_ICMP;
	}
      else if (created)
	{
	  counts[CN_ERROR_SESSION_CREATED]++;
	  what = CN_TRACE_CREATED;
	}
      else
	{
	  counts[CN_ERROR_SESSION_HIT]++;
	  what = CN_TRACE_HIT;
	}
      if (is_feature)
	vnet_feature_next (&next, b);
      else
	next = cn_forward (b, ip, fwd_fib, is_ip6, fwc);
      CN_MTU_CHECK ();
    }
  else if (nf && nf->is_static)
    {
      /* a static mapping: rewritten from the mapping, no session */
      cn_rewrite_packet (b, ip, pi, is_ip6 ? (void *) &nf->srw.r6 : (void *) &nf->srw.r4, is_ip6);
      if (nf->static_index == CN_NF_FILTERED)
	counts[CN_ERROR_FILTER_ADMITTED]++;
      else if (nf->static_index != ~0)
	{
	  vlib_increment_simple_counter (&cn_static_main.counters, thread_index, nf->static_index,
					 1);
	  counts[CN_ERROR_STATIC_TRANSLATED]++;
	}
      else
	counts[CN_ERROR_HAIRPINNED]++;
      what = CN_TRACE_STATIC;
      idx = ~0;
      if (is_feature)
	vnet_feature_next (&next, b);
      else
	next = cn_forward (b, ip, nf->static_fib, is_ip6, fwc);
      if (t)
	cn_trace_tuple (t, ip, pi, is_ip6, 1);
      CN_MTU_CHECK ();
    }
  else if (pass)
    {
      counts[CN_ERROR_PASSED]++;
      if (is_feature)
	vnet_feature_next (&next, b);
      else
	{
	  cn_cdpo_t *cd = pool_elt_at_index (cn_dp.cdpos, vnet_buffer (b)->ip.adj_index[VLIB_TX]);
	  next = cd->parent.dpoi_next_node;
	  vnet_buffer (b)->ip.adj_index[VLIB_TX] = cd->parent.dpoi_index;
	}
    }
  else
    {
      next = CN_NEXT_DROP;
      if (error == ~0)
	error = CN_ERROR_NOT_TRANSLATABLE;
      b->error = node->errors[error];
      what = CN_TRACE_DROP;
      if ((error == CN_ERROR_POOL_EXHAUSTED ||
	   (is_feature && (error == CN_ERROR_SESSION_LIMIT || error == CN_ERROR_PORT_EXHAUSTED))) &&
	  cn_icmp_rate_ok (vm))
	{
	  /* RFC 5508 / 6888: tell the subscriber (rate limited) */
	  if (is_ip6)
	    icmp6_error_set_vnet_buffer (b, ICMP6_destination_unreachable,
					 ICMP6_destination_unreachable_destination_administratively_prohibited,
					 0);
	  else
	    icmp4_error_set_vnet_buffer (
	      b, ICMP4_destination_unreachable,
	      ICMP4_destination_unreachable_communication_administratively_prohibited, 0);
	  next = CN_NEXT_ICMP_ERROR;
	}
    }

traced:
  if (t)
    {
      t->session_index = idx;
      t->dir = dir;
      t->tr_index = tr_index;
      t->what = what;
      t->error = error;
      if (idx != ~0)
	cn_trace_tuple (t, ip, pi, is_ip6, 1);
    }
  return next;
}

/* The session of packet i as the fast path sees it: the guess (first tag
   match in the home bucket, whose record rec was prefetched) if its record
   matches, else the full search, which is needed only when the guess was
   wrong or the bucket has spilled into its neighbours (rec is then
   cleared: the finish finds the record of what the search returns). */
static_always_inline u32
cn_lookup_finish (int is_ip6, const cn_key4_t *k4, const cn_key6_t *k6, u64 h, u32 guess,
		  void **rec)
{
  if (guess != CN_SV_NONE &&
      (is_ip6 ? cn_sess6_match_rec (k6, *rec, guess) : cn_sess4_match_rec (k4, *rec, guess)))
    return guess;
  *rec = 0;
  if (guess == CN_SV_NONE && !cn_stab_spilled (is_ip6 ? &cn_dp.sess6 : &cn_dp.sess4, h))
    return CN_SV_NONE;
  return is_ip6 ? cn_sess6_find (k6, h) : cn_sess4_find (k4, h);
}

static_always_inline uword
cn_node_inline (vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame, int is_ip6,
		int is_feature)
{
  u32 n_left = frame->n_vectors, *from = vlib_frame_vector_args (frame);
  vlib_buffer_t *bufs[VLIB_FRAME_SIZE], *b;
  u16 nexts[VLIB_FRAME_SIZE];
  cn_pkt_info_t pis[VLIB_FRAME_SIZE];
  cn_key4_t k4[is_ip6 ? 1 : VLIB_FRAME_SIZE];
  cn_key6_t k6[is_ip6 ? VLIB_FRAME_SIZE : 1];
  u64 hashes[VLIB_FRAME_SIZE];
  u32 fibs[VLIB_FRAME_SIZE], svs[VLIB_FRAME_SIZE];
  cn_stab_bucket_t *bkts[VLIB_FRAME_SIZE];
  void *recs[VLIB_FRAME_SIZE];
  u8 do_lookup[VLIB_FRAME_SIZE];
  u16 pending[VLIB_FRAME_SIZE];
  cn_sess_create_args_t args[VLIB_FRAME_SIZE];
  cn_new_flow_t nfs[VLIB_FRAME_SIZE];
  u8 decided[VLIB_FRAME_SIZE], creatable[VLIB_FRAME_SIZE];
  u32 held_bi[VLIB_FRAME_SIZE];
  u16 held_j[VLIB_FRAME_SIZE];
  u32 counts[CN_N_ERROR] = { 0 };
  u32 thread_index = vm->thread_index;
  u32 now = cn_now_ticks (vm);
  u32 i, j, n = n_left, n_pending = 0, n_created = 0, n_handed_off = 0, n_consumed = 0;
  cn_store_t *st = is_ip6 ? &cn_dp.store6 : &cn_dp.store4;
  cn_stab_t *tab = is_ip6 ? &cn_dp.sess6 : &cn_dp.sess4;
  cn_fwd_cache_t fwc = { .lbi = INDEX_INVALID, .ctr_tr = ~0 };
  cn_tr_cache_t trc = { .valid = 0 };
  cn_create_tally_t tally = { .fib_index = ~0, .tr_index = ~0 }; /* all else 0 */

  vlib_get_buffers (vm, from, bufs, n);

  /* Three passes over the frame: A parse, key, hash, then prefetch the
     bucket lines; B scan each bucket's tags (without a branch, see
     cn_stab_first_match), prefetch the candidate's record; C check the
     record, translate. A lookup is two dependent lines (bucket,
     then record); doing each step for the whole frame before the next
     keeps every miss of a step in flight at once. Plain loops measured
     8-10% faster at 1k flows than the earlier software pipeline with
     stages 32 packets apart, and the same at 1M flows
     (docs/performance.md). Packets of new flows are set aside for the
     passes after. */
  for (i = 0; i < n; i++)
    {
      u8 *ip;
      b = bufs[i];
      if (i + CN_PIPE < n)
	{
	  vlib_prefetch_buffer_header (bufs[i + CN_PIPE], LOAD);
	  CLIB_PREFETCH (vlib_buffer_get_current (bufs[i + CN_PIPE]), CLIB_CACHE_LINE_BYTES, LOAD);
	}
      ip = vlib_buffer_get_current (b);
      fibs[i] = is_feature ?
		  cn_feature_fib_index (b, is_ip6) :
		  pool_elt_at_index (cn_dp.cdpos, vnet_buffer (b)->ip.adj_index[VLIB_TX])->fib_index;
      cn_pkt_parse (ip, b->current_length, is_ip6, &pis[i]);
      if (PREDICT_FALSE (pis[i].kind == CN_PKT_FRAGMENT))
	{
	  /* ports from the datagram's first fragment, or held, or dropped */
	  u32 err = ~0;
	  cn_frag_result_t fr = cn_frag_track (vm, node, from[i], b, ip, b->current_length, is_ip6,
					       fibs[i], now, &pis[i], &err);
	  if (fr == CN_FRAG_R_GO)
	    counts[CN_ERROR_FRAGMENTS]++;
	  else
	    {
	      if (fr == CN_FRAG_R_HELD)
		{
		  nexts[i] = CN_NEXT_HANDED_OFF;
		  n_consumed++;
		  counts[CN_ERROR_FRAG_HELD]++;
		}
	      else
		{
		  nexts[i] = CN_NEXT_DROP;
		  b->error = node->errors[err];
		}
	      pis[i].kind = CN_PKT_DONE;
	    }
	}
      else if (PREDICT_FALSE (pis[i].kind == CN_PKT_ICMP_ERROR) &&
	       !cn_icmp_error_csum_ok (ip, b->current_length, &pis[i], is_ip6))
	{
	  /* RFC 5508: a corrupt error is dropped, never translated */
	  nexts[i] = CN_NEXT_DROP;
	  b->error = node->errors[CN_ERROR_ICMP_ERROR_BAD_CSUM];
	  pis[i].kind = CN_PKT_DONE;
	}
      do_lookup[i] =
	cn_make_key (ip, &pis[i], fibs[i], is_ip6, &k4[is_ip6 ? 0 : i], &k6[is_ip6 ? i : 0]);
      if (do_lookup[i])
	{
	  hashes[i] = is_ip6 ? cn_key6_hash (&k6[i]) : cn_key4_hash (&k4[i]);
	  bkts[i] = cn_stab_bucket (tab, hashes[i]);
	}
    }
  /* The bucket prefetches in a loop of their own: at 16M sessions each is
     a DRAM miss, and while the core's miss buffers are all taken by them
     the parsing loads (buffers in L2) would queue behind them. Measured:
     16M flows 86 -> 66 clocks/packet, 1M 70 -> 59, 1k unchanged. */
  for (i = 0; i < n; i++)
    if (do_lookup[i])
      CLIB_PREFETCH (bkts[i], CLIB_CACHE_LINE_BYTES, LOAD);
  for (i = 0; i < n; i++)
    {
      svs[i] = CN_SV_NONE;
      recs[i] = 0;
      if (do_lookup[i])
	{
	  svs[i] = cn_stab_guess (bkts[i], hashes[i]);
	  if (svs[i] != CN_SV_NONE)
	    {
	      recs[i] = cn_store_get (st, CN_SV_INDEX (svs[i]));
	      CLIB_PREFETCH (recs[i], st->elt_size, STORE);
	    }
	}
    }
  for (i = 0; i < n; i++)
    {
      if (PREDICT_FALSE (pis[i].kind == CN_PKT_DONE))
	continue;
      if (do_lookup[i])
	{
	  svs[i] = cn_lookup_finish (is_ip6, &k4[is_ip6 ? 0 : i], &k6[is_ip6 ? i : 0], hashes[i],
				     svs[i], &recs[i]);
	  if (svs[i] == CN_SV_NONE)
	    {
	      pending[n_pending++] = i;
	      continue;
	    }
	}
      nexts[i] = cn_finish_one (vm, node, bufs[i], &pis[i], fibs[i], svs[i], recs[i], 0, is_ip6,
				is_feature, st, now, thread_index, counts, &fwc);
    }

  /* The misses (mostly new flows), in their order in the frame, in two
     more passes: D decide (backend or source port), hash the reply key,
     then prefetch the buckets of both keys for writing; E create the
     session (cn_session_create inserts with these hashes) and translate.
     A flow with several packets in the frame is created by the first; the
     others find it, and so does a miss that creates nothing (a reply, an
     ICMP error) but belongs to a session made earlier in this pass. */
  for (j = 0; j < n_pending; j++)
    {
      i = pending[j];
      b = bufs[i];
      nfs[j].is_static = 0;
      if (PREDICT_FALSE (cn_static_decide (vlib_buffer_get_current (b), &pis[i], fibs[i], is_ip6,
					   is_feature, &nfs[j]) ||
			 (!is_feature && cn_hairpin_decide (vlib_buffer_get_current (b), &pis[i],
							    fibs[i], is_ip6, st, &nfs[j])) ||
			 (!is_feature && cn_filter_decide (vlib_buffer_get_current (b), &pis[i],
							   fibs[i], is_ip6, st, &nfs[j])) ||
			 (is_feature && cn_hairpin_error_decide (vlib_buffer_get_current (b),
								 &pis[i], fibs[i], is_ip6, st,
								 &nfs[j]))))
	{
	  /* stateless: no session, whatever the packet kind */
	  creatable[j] = 1;
	  decided[j] = 0;
	  continue;
	}
      creatable[j] = pis[i].kind == CN_PKT_L4 || pis[i].kind == CN_PKT_ECHO_REQUEST;
      decided[j] = creatable[j] && !cn_new_flow_decide (b, vlib_buffer_get_current (b), &pis[i],
							fibs[i], is_ip6, is_feature, thread_index,
							now, &args[j], &nfs[j], counts, &trc);
      if (decided[j])
	{
	  cn_sess_create_args_t *a = &args[j];
	  cn_key_t kr;
	  a->tally = &tally;
	  /* a worker holds the first packet of a new client (below) */
	  a->defer_client = !is_feature && cn_dp.client_wait_fq[is_ip6] != ~0 && thread_index != 0;
	  a->client_deferred = 0;
	  a->have_hashes = 1;
	  a->hash_fwd = hashes[i];
	  a->hashed_nsport = a->nsport;
	  cn_args_key (a, CN_DIR_REPLY, &kr);
	  a->hash_reply = cn_key_hash (is_ip6, &kr);
	}
    }
  /* the buckets both keys go into, for writing: in a loop of their own
     for the reason pass A has one (new sessions 340 -> 298 clocks/packet
     DNAT, 275 -> 240 SNAT) */
  for (j = 0; j < n_pending; j++)
    if (decided[j])
      {
	CLIB_PREFETCH (cn_stab_bucket (tab, args[j].hash_reply), CLIB_CACHE_LINE_BYTES, STORE);
	CLIB_PREFETCH (cn_stab_bucket (tab, args[j].hash_fwd), CLIB_CACHE_LINE_BYTES, STORE);
      }
  for (j = 0; j < n_pending; j++)
    {
      i = pending[j];
      if (PREDICT_FALSE (nfs[j].is_static))
	{
	  nexts[i] = cn_finish_one (vm, node, bufs[i], &pis[i], fibs[i], CN_SV_NONE, 0, &nfs[j],
				    is_ip6, is_feature, st, now, thread_index, counts, &fwc);
	  continue;
	}
      if (decided[j])
	{
	  cn_new_flow_t *nf = &nfs[j];
	  nf->idx = cn_session_create (vm, &args[j], &nf->error, &nf->dir);
	  nf->created = nf->idx != ~0 && !args[j].existed;
	  n_created += nf->created;
	}
      else if (n_created)
	{
	  /* not a flow we create (e.g. the reply of one): it may belong to
	     a session an earlier packet of this frame has just created */
	  u32 sv = is_ip6 ? cn_sess6_find (&k6[i], hashes[i]) : cn_sess4_find (&k4[i], hashes[i]);
	  if (sv != CN_SV_NONE)
	    {
	      nexts[i] = cn_finish_one (vm, node, bufs[i], &pis[i], fibs[i], sv, 0, 0, is_ip6,
					is_feature, st, now, thread_index, counts, &fwc);
	      continue;
	    }
	}
      nexts[i] =
	cn_finish_one (vm, node, bufs[i], &pis[i], fibs[i], CN_SV_NONE, 0, creatable[j] ? &nfs[j] : 0,
		       is_ip6, is_feature, st, now, thread_index, counts, &fwc);
      if (PREDICT_FALSE (decided[j] && args[j].client_deferred))
	{
	  /* its client has no capture yet: the main thread adds it, then
	     forwards the packet (cloudnat_client.c); a packet that is
	     dropped anyway leaves it to an RPC */
	  if (nexts[i] == CN_NEXT_DROP)
	    cn_client_session_ref_new (args[j].fib_index, &args[j].nsrc, is_ip6 ? AF_IP6 : AF_IP4);
	  else
	    {
	      held_bi[n_handed_off] = from[i];
	      held_j[n_handed_off++] = j;
	      nexts[i] = CN_NEXT_HANDED_OFF;
	    }
	}
    }
  if (PREDICT_FALSE (n_handed_off))
    {
      /* all of the frame's in one element of the main thread's queue */
      if (cn_client_wait_handoff (vm, node, held_bi, n_handed_off, is_ip6))
	counts[CN_ERROR_CLIENT_WAIT] += n_handed_off;
      else
	{
	  /* queue full: they were dropped; the captures by RPC */
	  counts[CN_ERROR_CLIENT_WAIT_FULL] += n_handed_off;
	  for (i = 0; i < n_handed_off; i++)
	    cn_client_session_ref_new (args[held_j[i]].fib_index, &args[held_j[i]].nsrc,
				       is_ip6 ? AF_IP6 : AF_IP4);
	}
    }

  cn_tr_counter_flush (&fwc, thread_index);
  if (n_created)
    cn_create_tally_flush (&tally, is_ip6);
  if (PREDICT_FALSE (n_handed_off || n_consumed))
    {
      /* the rest of the frame goes on as usual */
      u32 bis[VLIB_FRAME_SIZE];
      for (i = 0, j = 0; i < n; i++)
	if (nexts[i] != CN_NEXT_HANDED_OFF)
	  {
	    bis[j] = from[i];
	    nexts[j++] = nexts[i];
	  }
      vlib_buffer_enqueue_to_next (vm, node, bis, nexts, j);
    }
  else
    vlib_buffer_enqueue_to_next (vm, node, from, nexts, n);
  cn_frag_reinject_flush (vm, node, CN_NEXT_REINJECT);
  for (i = 0; i < CN_N_ERROR; i++)
    if (counts[i])
      vlib_node_increment_counter (vm, node->node_index, i, counts[i]);
  return n;
}

VLIB_NODE_FN (cn_ip4_node)
(vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame)
{
  return cn_node_inline (vm, node, frame, 0 /* ip6 */, 0 /* feature */);
}

VLIB_NODE_FN (cn_ip6_node)
(vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame)
{
  return cn_node_inline (vm, node, frame, 1, 0);
}

VLIB_NODE_FN (cn_ip4_snat_node)
(vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame)
{
  return cn_node_inline (vm, node, frame, 0, 1);
}

VLIB_NODE_FN (cn_ip6_snat_node)
(vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame)
{
  return cn_node_inline (vm, node, frame, 1, 1);
}

VLIB_REGISTER_NODE (cn_ip4_node) = {
  .name = "ip4-cloudnat",
  .vector_size = sizeof (u32),
  .format_trace = format_cn_trace,
  .type = VLIB_NODE_TYPE_INTERNAL,
  .n_errors = CN_N_ERROR,
  .error_counters = cn_error_counters,
  .n_next_nodes = CN_N_NEXT,
  .next_nodes = {
    [CN_NEXT_DROP] = "ip4-drop",
    [CN_NEXT_LOOKUP] = "ip4-lookup",
    [CN_NEXT_LOAD_BALANCE] = "ip4-load-balance",
    [CN_NEXT_REINJECT] = "ip4-input",
    [CN_NEXT_ICMP_ERROR] = "ip4-icmp-error",
  },
};

VLIB_REGISTER_NODE (cn_ip6_node) = {
  .name = "ip6-cloudnat",
  .vector_size = sizeof (u32),
  .format_trace = format_cn_trace,
  .type = VLIB_NODE_TYPE_INTERNAL,
  .n_errors = CN_N_ERROR,
  .error_counters = cn_error_counters,
  .n_next_nodes = CN_N_NEXT,
  .next_nodes = {
    [CN_NEXT_DROP] = "ip6-drop",
    [CN_NEXT_LOOKUP] = "ip6-lookup",
    [CN_NEXT_LOAD_BALANCE] = "ip6-load-balance",
    [CN_NEXT_REINJECT] = "ip6-input",
    [CN_NEXT_ICMP_ERROR] = "ip6-icmp-error",
  },
};

VLIB_REGISTER_NODE (cn_ip4_snat_node) = {
  .name = "ip4-cnat-snat",
  .vector_size = sizeof (u32),
  .format_trace = format_cn_trace,
  .type = VLIB_NODE_TYPE_INTERNAL,
  .n_errors = CN_N_ERROR,
  .error_counters = cn_error_counters,
  .n_next_nodes = CN_N_NEXT,
  .next_nodes = {
    [CN_NEXT_DROP] = "ip4-drop",
    [CN_NEXT_LOOKUP] = "ip4-lookup",
    [CN_NEXT_LOAD_BALANCE] = "ip4-load-balance",
    [CN_NEXT_REINJECT] = "ip4-input",
    [CN_NEXT_ICMP_ERROR] = "ip4-icmp-error",
  },
};

VLIB_REGISTER_NODE (cn_ip6_snat_node) = {
  .name = "ip6-cnat-snat",
  .vector_size = sizeof (u32),
  .format_trace = format_cn_trace,
  .type = VLIB_NODE_TYPE_INTERNAL,
  .n_errors = CN_N_ERROR,
  .error_counters = cn_error_counters,
  .n_next_nodes = CN_N_NEXT,
  .next_nodes = {
    [CN_NEXT_DROP] = "ip6-drop",
    [CN_NEXT_LOOKUP] = "ip6-lookup",
    [CN_NEXT_LOAD_BALANCE] = "ip6-load-balance",
    [CN_NEXT_REINJECT] = "ip6-input",
    [CN_NEXT_ICMP_ERROR] = "ip6-icmp-error",
  },
};

VNET_FEATURE_INIT (cn_ip4_snat_feature, static) = {
  .arc_name = "ip4-unicast",
  .node_name = "ip4-cnat-snat",
  .runs_before = VNET_FEATURES ("ip4-lookup"),
};

VNET_FEATURE_INIT (cn_ip6_snat_feature, static) = {
  .arc_name = "ip6-unicast",
  .node_name = "ip6-cnat-snat",
  .runs_before = VNET_FEATURES ("ip6-lookup"),
};
