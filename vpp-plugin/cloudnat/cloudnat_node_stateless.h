/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_node_stateless.h: the node's stateless decisions (included by
 * cloudnat_node.c only): a static mapping (cn_static_decide), hairpinning
 * to another inside endpoint's mapping and its ICMP errors
 * (cn_hairpin_decide, cn_hairpin_error_decide), and whether the
 * source-NAT feature would translate a packet it cannot
 * (cn_feature_would_translate). Each fills a cn_new_flow_t with a rewrite
 * the node applies without a session.
 */
#ifndef __included_cloudnat_node_stateless_h__
#define __included_cloudnat_node_stateless_h__

#include <vnet/dpo/load_balance.h>
#include <cloudnat/cloudnat_priv.h>

/* The outcome of a new flow, decided and created in the node's second
   pass. */
typedef struct
{
  u32 idx;
  u32 dir;
  u32 error;
  u8 created;
  u8 pass;
  u8 is_static; /* a static mapping applies: srw, no session */
  u32 static_index;
  u32 static_fib; /* where the DPO node forwards it */
  union
  {
    cn_rw4_t r4;
    cn_rw6_t r6;
  } srw;
} cn_new_flow_t;

/* static_index of a packet admitted by inbound filtering (no mapping) */
#define CN_NF_FILTERED ((u32) ~0 - 1)

/* nf becomes a stateless outcome: rewrite with nf->srw, no session;
   static_index names the static mapping (~0: a hairpin). */
static_always_inline void
cn_nf_stateless (cn_new_flow_t *nf, u32 static_index)
{
  nf->idx = ~0;
  nf->dir = 0;
  nf->error = ~0;
  nf->created = 0;
  nf->pass = 0;
  nf->is_static = 1;
  nf->static_index = static_index;
}

/* cn_args_from_packet is the node's (cloudnat_node.c) */
static_always_inline void cn_args_from_packet (cn_sess_create_args_t *a, const u8 *ip,
					       const cn_pkt_info_t *pi, u32 fib_index, int is_ip6,
					       u32 thread_index);

/* Does the destination of a packet mapped by m leave its inside table
   (routed into another table, or to an address cloudnat captures there)?
   Traffic between inside hosts is not mapped. */
static_always_inline int
cn_static_leaves (const cn_static_t *m, const u8 *ip, int is_ip6)
{
  const u8 *dstp = ip + (is_ip6 ? CN_IP6_DST_OFF : CN_IP4_DST_OFF);
  const dpo_id_t *d0;
  index_t lbi;
  if (m->in_fib == m->out_fib)
    return !cn_static_in_inside (m, dstp);
  lbi = is_ip6 ? ip6_fib_table_fwding_lookup (m->in_fib, (ip6_address_t *) dstp) :
		 ip4_fib_forwarding_lookup (m->in_fib, (ip4_address_t *) dstp);
  d0 = load_balance_get_bucket_i (load_balance_get (lbi), 0);
  return cn_dpo_is_table_lookup (d0) || d0->dpoi_type == cn_dp.dpo_type;
}

/* A static mapping for packet ip of table fib (either node kind, any
   packet kind but fragments of untranslatable packets): fill nf and
   return 1, or return 0. */
static_always_inline int
cn_static_decide (const u8 *ip, const cn_pkt_info_t *pi, u32 fib, int is_ip6, int is_feature,
		  cn_new_flow_t *nf)
{
  int dir = is_feature ? CN_STATIC_OUT : CN_STATIC_IN, is_err = pi->kind == CN_PKT_ICMP_ERROR;
  /* the mapped address: the source leaving, the destination entering; for
     an ICMP error the quoted packet's (whoever sent the error, a router
     too, the quote is what must be restored) */
  const u8 *ap =
    is_err ? ip + pi->inner_offset +
	       (dir == CN_STATIC_OUT ? (is_ip6 ? CN_IP6_DST_OFF : CN_IP4_DST_OFF) :
				       (is_ip6 ? CN_IP6_SRC_OFF : CN_IP4_SRC_OFF)) :
	     ip + (dir == CN_STATIC_OUT ? (is_ip6 ? CN_IP6_SRC_OFF : CN_IP4_SRC_OFF) :
					  (is_ip6 ? CN_IP6_DST_OFF : CN_IP4_DST_OFF));
  u8 proto = is_err ? pi->inner_proto : pi->proto;
  u16 lport = is_err ? (dir == CN_STATIC_OUT ? pi->inner_dport : pi->inner_sport) :
		       (dir == CN_STATIC_OUT ? pi->sport : pi->dport);
  const cn_static_t *m;
  u8 mapped[16];
  u16 nport;
  u32 si;

  if (!cn_static_fib_has (fib, is_ip6, dir))
    return 0;
  si = cn_static_find (fib, ap, is_ip6, dir, proto, lport);
  if (si == ~0)
    return 0;
  m = pool_elt_at_index (cn_static_main.maps, si);
  if (dir == CN_STATIC_OUT && !cn_static_leaves (m, ip, is_ip6))
    return 0;
  if (dir == CN_STATIC_IN && !is_err && pi->kind == CN_PKT_L4)
    {
      /* a port forward (translation) of that address and port wins */
      ip46_address_t d;
      cn_static_addr_of (&d, ap, is_ip6);
      if (cn_translation_find (fib, &d, is_ip6 ? AF_IP6 : AF_IP4, pi->dport, pi->proto) != ~0)
	return 0;
    }
  cn_static_map (m, ap, dir, mapped);
  /* a port-specific mapping moves the port too */
  nport = m->proto ? (dir == CN_STATIC_OUT ? m->out_port : m->in_port) : lport;
  cn_nf_stateless (nf, si);
  nf->static_fib = dir == CN_STATIC_IN ? m->in_fib : fib;
  if (!is_ip6)
    {
      cn_rw4_t *rw = &nf->srw.r4;
      u32 s = cn_ld32 (ip + CN_IP4_SRC_OFF), d = cn_ld32 (ip + CN_IP4_DST_OFF);
      u32 ma = cn_ld32 (mapped);
      if (is_err)
	{
	  const u8 *in = ip + pi->inner_offset;
	  /* restore the quoted packet (see cn_icmp_error_rewrite4) */
	  if (dir == CN_STATIC_OUT)
	    rw->src = ma, rw->dst = cn_ld32 (in + CN_IP4_SRC_OFF), rw->sport = nport,
	    rw->dport = pi->inner_sport;
	  else
	    rw->dst = ma, rw->src = cn_ld32 (in + CN_IP4_DST_OFF), rw->dport = nport,
	    rw->sport = pi->inner_dport;
	}
      else if (dir == CN_STATIC_OUT)
	cn_rw4_init (rw, pi->proto, s, d, pi->sport, pi->dport, ma, d, nport,
		     pi->kind == CN_PKT_L4 ? pi->dport : nport);
      else
	cn_rw4_init (rw, pi->proto, s, d, pi->sport, pi->dport, s, ma,
		     pi->kind == CN_PKT_L4 ? pi->sport : nport, nport);
    }
  else
    {
      cn_rw6_t *rw = &nf->srw.r6;
      const u8 *s = ip + CN_IP6_SRC_OFF, *d = ip + CN_IP6_DST_OFF;
      if (is_err)
	{
	  const u8 *in = ip + pi->inner_offset;
	  if (dir == CN_STATIC_OUT)
	    {
	      clib_memcpy_fast (rw->src, mapped, 16);
	      clib_memcpy_fast (rw->dst, in + CN_IP6_SRC_OFF, 16);
	      rw->sport = nport;
	      rw->dport = pi->inner_sport;
	    }
	  else
	    {
	      clib_memcpy_fast (rw->dst, mapped, 16);
	      clib_memcpy_fast (rw->src, in + CN_IP6_DST_OFF, 16);
	      rw->dport = nport;
	      rw->sport = pi->inner_dport;
	    }
	}
      else if (dir == CN_STATIC_OUT)
	cn_rw6_init (rw, pi->proto, s, d, pi->sport, pi->dport, mapped, d, nport,
		     pi->kind == CN_PKT_L4 ? pi->dport : nport);
      else
	cn_rw6_init (rw, pi->proto, s, d, pi->sport, pi->dport, s, mapped,
		     pi->kind == CN_PKT_L4 ? pi->sport : nport, nport);
    }
  return 1;
}

/* Hairpinning (RFC 4787 REQ-9, RFC 5382 REQ-8): a TCP/UDP packet from
   inside (its source is already one of our source-NAT addresses) to the
   outside mapping X':x' of another inside endpoint goes to X:x, in X's
   table, keeping the translated source: no session, the mapping table
   names X:x. Only from inside: outside hosts still need a session. */
static_always_inline int
cn_hairpin_decide (const u8 *ip, const cn_pkt_info_t *pi, u32 fib, int is_ip6, cn_store_t *st,
		   cn_new_flow_t *nf)
{
  clib_bihash_kv_24_8_t kv;
  ip46_address_t src, dst;
  u32 ci;

  if (pi->kind != CN_PKT_L4 || pi->frag == CN_FRAG_LATER)
    return 0;
  cn_static_addr_of (&dst, ip + (is_ip6 ? CN_IP6_DST_OFF : CN_IP4_DST_OFF), is_ip6);
  cn_mapping_key (&kv, &dst, fib, pi->dport, pi->proto, is_ip6);
  if (clib_bihash_search_inline_24_8 (&cn_dp.mapping_db, &kv))
    return 0;
  cn_static_addr_of (&src, ip + (is_ip6 ? CN_IP6_SRC_OFF : CN_IP4_SRC_OFF), is_ip6);
  ci = cn_client_find (fib, &src, is_ip6 ? AF_IP6 : AF_IP4);
  if (ci == ~0 || !pool_elt_at_index (cn_dp.clients, ci)->n_static)
    return 0;
  cn_nf_stateless (nf, ~0);
  if (!is_ip6)
    {
      const cn_sess4_t *s = cn_store_get (st, (u32) kv.value);
      if ((s->flags & (CN_SF_USED | CN_SF_DEAD)) != CN_SF_USED)
	return 0;
      nf->static_fib = s->fib_index;
      cn_rw4_init (&nf->srw.r4, pi->proto, src.ip4.as_u32, dst.ip4.as_u32, pi->sport, pi->dport,
		   src.ip4.as_u32, s->rw[1].dst, pi->sport, s->rw[1].dport);
    }
  else
    {
      const cn_sess6_t *s = cn_store_get (st, (u32) kv.value);
      if ((s->flags & (CN_SF_USED | CN_SF_DEAD)) != CN_SF_USED)
	return 0;
      nf->static_fib = s->fib_index;
      cn_rw6_init (&nf->srw.r6, pi->proto, src.ip6.as_u8, dst.ip6.as_u8, pi->sport, pi->dport,
		   src.ip6.as_u8, s->rw[1].dst, pi->sport, s->rw[1].dport);
    }
  return 1;
}

/* Inbound filtering other than address-and-port (RFC 4787 REQ-8, RFC 5382
   REQ-3): a TCP/UDP packet from outside to a pool mapping X':x' with no
   session goes to X:x when the mapping's pool filters by endpoint (any
   remote) or by address (a remote X':x' has sent to: adf_db). Stateless,
   like hairpinning: X's answer creates the session, on the same mapping
   (cn_pool_open_mapping keeps one mapping per inside endpoint). */
static_always_inline int
cn_filter_decide (const u8 *ip, const cn_pkt_info_t *pi, u32 fib, int is_ip6, cn_store_t *st,
		  cn_new_flow_t *nf)
{
  clib_bihash_kv_24_8_t kv;
  ip46_address_t dst, src;
  u8 flags;

  if (PREDICT_TRUE (!(cn_dp.n_open_filter_pools | cn_dp.n_open_filter_tables)) ||
      pi->kind != CN_PKT_L4 ||
      pi->frag == CN_FRAG_LATER)
    return 0;
  cn_static_addr_of (&dst, ip + (is_ip6 ? CN_IP6_DST_OFF : CN_IP4_DST_OFF), is_ip6);
  cn_mapping_key (&kv, &dst, fib, pi->dport, pi->proto, is_ip6);
  if (clib_bihash_search_inline_24_8 (&cn_dp.mapping_db, &kv))
    return 0;
  flags = is_ip6 ? ((cn_sess6_t *) cn_store_get (st, (u32) kv.value))->flags :
		   ((cn_sess4_t *) cn_store_get (st, (u32) kv.value))->flags;
  if ((flags & (CN_SF_USED | CN_SF_DEAD)) != CN_SF_USED || !(flags & (CN_SF_EIF | CN_SF_ADF)))
    return 0;
  cn_static_addr_of (&src, ip + (is_ip6 ? CN_IP6_SRC_OFF : CN_IP4_SRC_OFF), is_ip6);
  if (flags & CN_SF_ADF)
    {
      clib_bihash_kv_40_8_t ak;
      cn_adf_key (&ak, &dst, fib, pi->dport, pi->proto, &src, is_ip6);
      if (clib_bihash_search_inline_40_8 (&cn_dp.adf_db, &ak))
	return 0;
    }
  cn_nf_stateless (nf, CN_NF_FILTERED);
  if (!is_ip6)
    {
      const cn_sess4_t *s = cn_store_get (st, (u32) kv.value);
      nf->static_fib = s->fib_index;
      cn_rw4_init (&nf->srw.r4, pi->proto, src.ip4.as_u32, dst.ip4.as_u32, pi->sport, pi->dport,
		   src.ip4.as_u32, s->rw[1].dst, pi->sport, s->rw[1].dport);
    }
  else
    {
      const cn_sess6_t *s = cn_store_get (st, (u32) kv.value);
      nf->static_fib = s->fib_index;
      cn_rw6_init (&nf->srw.r6, pi->proto, src.ip6.as_u8, dst.ip6.as_u8, pi->sport, pi->dport,
		   src.ip6.as_u8, s->rw[1].dst, pi->sport, s->rw[1].dport);
    }
  return 1;
}

/* An inside endpoint's ICMP error about a hairpinned packet (quoted: from
   another inside endpoint's mapping X1':x1' to this endpoint X2:x2): the
   quote's destination and the outer source become X2's mapping X2':x2',
   so that X1's session restores the rest (RFC 5508 REQ-7). */
static_always_inline int
cn_hairpin_error_decide (const u8 *ip, const cn_pkt_info_t *pi, u32 fib, int is_ip6,
			 cn_store_t *st, cn_new_flow_t *nf)
{
  const u8 *in = ip + pi->inner_offset;
  clib_bihash_kv_24_8_t kv;
  ip46_address_t qsrc, qdst;
  u32 ci;

  if (pi->kind != CN_PKT_ICMP_ERROR ||
      (pi->inner_proto != IP_PROTOCOL_TCP && pi->inner_proto != IP_PROTOCOL_UDP))
    return 0;
  cn_static_addr_of (&qsrc, in + (is_ip6 ? CN_IP6_SRC_OFF : CN_IP4_SRC_OFF), is_ip6);
  ci = cn_client_find (fib, &qsrc, is_ip6 ? AF_IP6 : AF_IP4);
  if (ci == ~0 || !pool_elt_at_index (cn_dp.clients, ci)->n_static)
    return 0;
  cn_static_addr_of (&qdst, in + (is_ip6 ? CN_IP6_DST_OFF : CN_IP4_DST_OFF), is_ip6);
  cn_mapping_key (&kv, &qdst, fib, pi->inner_dport, pi->inner_proto, is_ip6);
  if (clib_bihash_search_inline_24_8 (&cn_dp.inside_db, &kv))
    return 0;
  cn_nf_stateless (nf, ~0);
  nf->static_fib = fib;
  if (!is_ip6)
    {
      const cn_sess4_t *s = cn_store_get (st, (u32) kv.value);
      cn_rw4_t *rw = &nf->srw.r4;
      if ((s->flags & (CN_SF_USED | CN_SF_DEAD)) != CN_SF_USED)
	return 0;
      rw->src = s->rw[0].src, rw->sport = s->rw[0].sport;
      rw->dst = qsrc.ip4.as_u32, rw->dport = pi->inner_sport;
    }
  else
    {
      const cn_sess6_t *s = cn_store_get (st, (u32) kv.value);
      cn_rw6_t *rw = &nf->srw.r6;
      if ((s->flags & (CN_SF_USED | CN_SF_DEAD)) != CN_SF_USED)
	return 0;
      clib_memcpy_fast (rw->src, s->rw[0].src, 16);
      rw->sport = s->rw[0].sport;
      clib_memcpy_fast (rw->dst, qsrc.as_u8, 16);
      rw->dport = pi->inner_sport;
    }
  return 1;
}

/* On the source-NAT feature: would a flow of this packet's source and
   destination be translated? Then a packet that cannot be (another
   protocol, an ICMP error without a session, a header we cannot read)
   must not leave with its inside source: it is dropped and counted. */
static_always_inline int
cn_feature_would_translate (const u8 *ip, const cn_pkt_info_t *pi, u32 fib_index, int is_ip6,
			    u32 thread_index)
{
  cn_sess_create_args_t a;
  /* a statically mapped source (any protocol, any port) */
  if (cn_static_fib_has (fib_index, is_ip6, CN_STATIC_OUT) &&
      cn_static_find (fib_index, ip + (is_ip6 ? CN_IP6_SRC_OFF : CN_IP4_SRC_OFF), is_ip6,
		      CN_STATIC_OUT, 0, 0) != ~0)
    return 1;
  cn_args_from_packet (&a, ip, pi, fib_index, is_ip6, thread_index);
  a.classify_only = 1;
  a.now = 0;
  return cn_snat_decide (&a) == 0;
}

#endif /* __included_cloudnat_node_stateless_h__ */
