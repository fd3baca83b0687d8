/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_frag.c: the fragment tracker (see cloudnat_frag.h), its
 * settings and its CLI:
 *
 *   cnat fragments [timeout <ms>] [max-in-flight <n>]
 *                  [max-per-datagram <n>] [max-held <n>]
 *   cnat show fragments
 *
 * One table for all threads under a spinlock: fragments are rare, and one
 * table lets a datagram's fragments meet whichever worker they reach. The
 * table is a fixed ring of max-in-flight contexts (memory never grows) and
 * the buffers held are capped per datagram and in total, so a flood of
 * fragments that never complete costs a bounded amount of memory, and
 * never touches packets that are not fragments.
 */

#include <vnet/vnet.h>
#include <vnet/buffer.h>
#include <cloudnat/cloudnat_priv.h>
#include <cloudnat/cloudnat_frag.h>

cn_frag_main_t cn_frag_main;

static_always_inline u32
cn_frag_timeout_ticks (void)
{
  u64 t = (u64) cn_frag_main.timeout_ms * CN_TICKS_PER_SEC / 1000;
  return t ? (u32) t : 1;
}

static_always_inline u32
cn_frag_hash (const ip46_address_t *src, const ip46_address_t *dst, u32 fib_index, u32 id,
	      u8 proto)
{
  u64 h = src->as_u64[0] ^ (src->as_u64[1] * 0x9e3779b97f4a7c15ULL) ^
	  (dst->as_u64[0] * 0xc2b2ae3d27d4eb4fULL) ^ dst->as_u64[1] ^
	  ((u64) id << 32 | (u64) fib_index << 8 | proto);
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 32;
  return (u32) h & (vec_len (cn_frag_main.buckets) - 1);
}

static_always_inline int
cn_frag_ctx_match (const cn_frag_ctx_t *c, const ip46_address_t *src, const ip46_address_t *dst,
		   u32 fib_index, u32 id, u8 proto, int is_ip6)
{
  return c->id == id && c->fib_index == fib_index && c->proto == proto && c->is_ip6 == is_ip6 &&
	 ip46_address_is_equal (&c->src, src) && ip46_address_is_equal (&c->dst, dst);
}

/* Unlink the head context (the oldest) and hand its held buffers to
   *drop. Called with the lock. */
static void
cn_frag_free_head (u32 **drop, u32 *drop_node)
{
  cn_frag_main_t *fm = &cn_frag_main;
  u32 ri = fm->head;
  cn_frag_ctx_t *c = vec_elt_at_index (fm->ring, ri);
  u32 *p = &fm->buckets[cn_frag_hash (&c->src, &c->dst, c->fib_index, c->id, c->proto)];

  while (*p != ~0 && *p != ri)
    p = &fm->ring[*p].next;
  if (*p == ri)
    *p = c->next;
  if (c->n_held)
    {
      vec_add (*drop, c->held, c->n_held);
      *drop_node = c->held_node;
      fm->n_held_total -= c->n_held;
      c->n_held = 0;
    }
  fm->head = (fm->head + 1) % vec_len (fm->ring);
  fm->n--;
}

/* Free the buffers of expired contexts (outside the lock). */
static void
cn_frag_drop_expired (vlib_main_t *vm, u32 *drop, u32 node_index)
{
  if (!vec_len (drop))
    return;
  cn_frag_main.n_timeouts += vec_len (drop);
  vlib_node_increment_counter (vm, node_index, CN_ERROR_FRAG_TIMEOUT, vec_len (drop));
  vlib_buffer_free (vm, drop, vec_len (drop));
}

/* Expire from the head while the oldest is past its time; with the lock. */
static void
cn_frag_expire_locked (u32 now, u32 **drop, u32 *drop_node)
{
  cn_frag_main_t *fm = &cn_frag_main;
  u32 tmo = cn_frag_timeout_ticks ();
  while (fm->n && cn_ticks_since (now, fm->ring[fm->head].created) >= tmo)
    cn_frag_free_head (drop, drop_node);
}

void
cn_frag_expire (vlib_main_t *vm, u32 now)
{
  cn_frag_main_t *fm = &cn_frag_main;
  u32 *drop = 0, drop_node = cn_ip4_snat_node.index;
  if (!fm->n)
    return;
  clib_spinlock_lock (&fm->lock);
  cn_frag_expire_locked (now, &drop, &drop_node);
  clib_spinlock_unlock (&fm->lock);
  cn_frag_drop_expired (vm, drop, drop_node);
  vec_free (drop);
}

cn_frag_result_t
cn_frag_track (vlib_main_t *vm, vlib_node_runtime_t *node, u32 bi, vlib_buffer_t *b, const u8 *ip,
	       u32 len, int is_ip6, u32 fib_index, u32 now, cn_pkt_info_t *pi, u32 *error)
{
  cn_frag_main_t *fm = &cn_frag_main;
  cn_frag_info_t fi;
  ip46_address_t src, dst;
  cn_frag_ctx_t *c = 0;
  u32 ri, *bucket, *drop = 0, drop_node = node->node_index;
  cn_frag_result_t r = CN_FRAG_R_GO;
  int released = (b->flags & CN_BUFFER_F_FRAG_RELEASED) != 0;

  b->flags &= ~CN_BUFFER_F_FRAG_RELEASED;
  /* what the IP header says, not the buffer (a short frame is padded) */
  len = cn_ip_len (ip, len, is_ip6);
  if (cn_frag_parse (ip, len, is_ip6, &fi))
    {
      *error = CN_ERROR_FRAG_MALFORMED;
      return CN_FRAG_R_DROP;
    }
  if (!is_ip6 && fi.proto != CN_IPPROTO_TCP && fi.proto != CN_IPPROTO_UDP &&
      fi.proto != CN_IPPROTO_ICMP)
    {
      /* a protocol cloudnat never translates: as its whole packets are */
      pi->kind = CN_PKT_OTHER;
      pi->proto = fi.proto;
      return CN_FRAG_R_GO;
    }
  if (is_ip6)
    {
      clib_memcpy_fast (src.ip6.as_u8, ip + CN_IP6_SRC_OFF, 16);
      clib_memcpy_fast (dst.ip6.as_u8, ip + CN_IP6_DST_OFF, 16);
    }
  else
    {
      ip46_address_set_ip4 (&src, (ip4_address_t *) (ip + CN_IP4_SRC_OFF));
      ip46_address_set_ip4 (&dst, (ip4_address_t *) (ip + CN_IP4_DST_OFF));
    }

  clib_spinlock_lock (&fm->lock);
  cn_frag_expire_locked (now, &drop, &drop_node);
  bucket = &fm->buckets[cn_frag_hash (&src, &dst, fib_index, fi.id, fi.proto)];
  for (ri = *bucket; ri != ~0; ri = fm->ring[ri].next)
    if (cn_frag_ctx_match (&fm->ring[ri], &src, &dst, fib_index, fi.id, fi.proto, is_ip6))
      {
	c = &fm->ring[ri];
	break;
      }
  if (!c)
    {
      if (fm->n >= vec_len (fm->ring))
	{
	  *error = CN_ERROR_FRAG_TABLE_FULL;
	  r = CN_FRAG_R_DROP;
	  goto done;
	}
      ri = (fm->head + fm->n) % vec_len (fm->ring);
      fm->n++;
      c = &fm->ring[ri];
      clib_memset (c, 0, STRUCT_OFFSET_OF (cn_frag_ctx_t, held));
      c->src = src;
      c->dst = dst;
      c->fib_index = fib_index;
      c->id = fi.id;
      c->proto = fi.proto;
      c->is_ip6 = is_ip6;
      c->created = now;
      c->next = *bucket;
      *bucket = ri;
      /* a fresh identification: two inside hosts that picked the same id
	 for the same destination must not meet as one datagram once
	 their sources are translated to one address */
      c->out_id = (u32) clib_xxhash (((u64) ri << 32) ^ ++fm->id_seq ^ clib_cpu_time_now ());
    }
  if (!released && ++c->n_seen > fm->max_per_datagram)
    {
      *error = CN_ERROR_FRAG_TOO_MANY;
      r = CN_FRAG_R_DROP;
      goto done;
    }

  if (fi.offset == 0)
    {
      /* the first fragment: its L4 header is here */
      cn_pkt_parse_x (ip, len, is_ip6, pi, 1 /* first fragment */);
      if (pi->kind == CN_PKT_TRUNCATED || pi->kind == CN_PKT_FRAGMENT)
	{
	  /* too short to hold the ports (RFC 1858 tiny fragment) */
	  *error = CN_ERROR_FRAG_TINY;
	  r = CN_FRAG_R_DROP;
	  goto done;
	}
      c->have_first = 1;
      c->kind = pi->kind;
      c->l4_proto = pi->proto;
      c->sport = pi->sport;
      c->dport = pi->dport;
      if (c->n_held)
	{
	  u32 i, **v = &fm->reinject[vm->thread_index];
	  for (i = 0; i < c->n_held; i++)
	    vlib_get_buffer (vm, c->held[i])->flags |= CN_BUFFER_F_FRAG_RELEASED;
	  vec_add (*v, c->held, c->n_held);
	  fm->n_held_total -= c->n_held;
	  c->n_held = 0;
	}
      goto done;
    }

  if (c->have_first)
    {
      switch (c->kind)
	{
	case CN_PKT_L4:
	case CN_PKT_ECHO_REQUEST:
	case CN_PKT_ECHO_REPLY:
	case CN_PKT_OTHER:
	  cn_pkt_info_later_fragment (pi, is_ip6, c->kind, c->l4_proto, c->sport, c->dport);
	  break;
	default:
	  /* e.g. the rest of a fragmented ICMP error: its checksum fix
	     is in the first fragment, which was translated; this part
	     cannot be matched to the quote */
	  *error = CN_ERROR_FRAG_UNSUPPORTED;
	  r = CN_FRAG_R_DROP;
	}
      goto done;
    }

  /* before its first fragment: hold it */
  if (c->n_held >= fm->max_per_datagram || fm->n_held_total >= fm->max_held)
    {
      *error = CN_ERROR_FRAG_HOLD_FULL;
      r = CN_FRAG_R_DROP;
      goto done;
    }
  c->held[c->n_held++] = bi;
  c->held_node = node->node_index;
  fm->n_held_total++;
  r = CN_FRAG_R_HELD;

done:
  if (r == CN_FRAG_R_GO)
    {
      /* leave with the datagram's new identification */
      u8 *w = (u8 *) ip + fi.id_off;
      if (is_ip6)
	cn_st32 (w, c->out_id);
      else
	{
	  u16 old = cn_ld16 (w), nid = (u16) c->out_id;
	  cn_st16 (w, nid);
	  cn_st16 ((u8 *) ip + 10, cn_csum_update (cn_ld16 (ip + 10), cn_csum_delta16 (old, nid)));
	}
    }
  clib_spinlock_unlock (&fm->lock);
  if (PREDICT_FALSE (drop != 0))
    {
      cn_frag_drop_expired (vm, drop, drop_node);
      vec_free (drop);
    }
  return r;
}

/* ------------------------------------------------------------------ */
/* settings                                                            */
/* ------------------------------------------------------------------ */

/* Apply new settings: contexts in flight are dropped (their held buffers
   freed and counted as timeouts). 0 for a field keeps it. */
int
cn_frag_config (u32 timeout_ms, u32 max_in_flight, u32 max_per_datagram, u32 max_held)
{
  cn_frag_main_t *fm = &cn_frag_main;
  vlib_main_t *vm = vlib_get_main ();
  u32 *drop = 0, drop_node = cn_ip4_snat_node.index, n_buckets;

  if (timeout_ms > 60000 || max_in_flight > (1 << 20) ||
      max_per_datagram > CN_FRAG_PER_DATAGRAM_MAX || max_held > (1 << 20))
    return VNET_API_ERROR_INVALID_VALUE;

  clib_spinlock_lock (&fm->lock);
  if (timeout_ms)
    fm->timeout_ms = timeout_ms;
  if (max_per_datagram)
    fm->max_per_datagram = max_per_datagram;
  if (max_held)
    fm->max_held = max_held;
  if (max_in_flight && max_in_flight != vec_len (fm->ring))
    {
      while (fm->n)
	cn_frag_free_head (&drop, &drop_node);
      vec_free (fm->ring);
      vec_free (fm->buckets);
      vec_validate (fm->ring, max_in_flight - 1);
      n_buckets = 1 << max_log2 (max_in_flight * 2);
      vec_validate_init_empty (fm->buckets, n_buckets - 1, ~0);
      fm->head = fm->n = 0;
      fm->max_in_flight = max_in_flight;
    }
  clib_spinlock_unlock (&fm->lock);
  cn_frag_drop_expired (vm, drop, drop_node);
  vec_free (drop);
  return 0;
}

clib_error_t *
cn_frag_init (vlib_main_t *vm)
{
  cn_frag_main_t *fm = &cn_frag_main;
  clib_spinlock_init (&fm->lock);
  vec_validate (fm->reinject, vlib_get_n_threads () - 1);
  fm->timeout_ms = CN_FRAG_DEFAULT_TIMEOUT_MS;
  fm->max_per_datagram = CN_FRAG_DEFAULT_PER_DATAGRAM;
  fm->max_held = CN_FRAG_DEFAULT_MAX_HELD;
  cn_frag_config (0, CN_FRAG_DEFAULT_MAX_IN_FLIGHT, 0, 0);
  return 0;
}

/* ------------------------------------------------------------------ */
/* CLI                                                                 */
/* ------------------------------------------------------------------ */

static clib_error_t *
cn_frag_set_cli (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  u32 timeout = 0, in_flight = 0, per_dgram = 0, held = 0;
  int rv;

  while (unformat_check_input (input) != UNFORMAT_END_OF_INPUT)
    {
      if (unformat (input, "timeout %u", &timeout))
	;
      else if (unformat (input, "max-in-flight %u", &in_flight))
	;
      else if (unformat (input, "max-per-datagram %u", &per_dgram))
	;
      else if (unformat (input, "max-held %u", &held))
	;
      else
	return clib_error_return (0, "unknown input '%U'", format_unformat_error, input);
    }
  if (!timeout && !in_flight && !per_dgram && !held)
    return clib_error_return (0, "nothing to set: give timeout <ms>, max-in-flight <n>, "
				 "max-per-datagram <n> or max-held <n>");
  rv = cn_frag_config (timeout, in_flight, per_dgram, held);
  if (rv)
    return clib_error_return (0,
			      "out of range: timeout 1-60000 ms, max-in-flight 1-1048576, "
			      "max-per-datagram 1-%u, max-held 1-1048576",
			      CN_FRAG_PER_DATAGRAM_MAX);
  return 0;
}

CLOUDNAT_CLI_COMMAND (cn_frag_set_command) = {
  .path = "cnat fragments",
  .short_help = "cnat fragments [timeout <ms>] [max-in-flight <n>] [max-per-datagram <n>] "
		"[max-held <n>]",
  .function = cn_frag_set_cli,
};

static clib_error_t *
cn_frag_show_cli (vlib_main_t *vm, unformat_input_t *input, vlib_cli_command_t *cmd)
{
  cn_frag_main_t *fm = &cn_frag_main;
  vlib_cli_output (vm,
		   "fragments: timeout %u ms, max-in-flight %u, max-per-datagram %u, "
		   "max-held %u",
		   fm->timeout_ms, fm->max_in_flight, fm->max_per_datagram, fm->max_held);
  vlib_cli_output (vm, "  datagrams in flight %u, fragments held %u, dropped on timeout %lu",
		   fm->n, fm->n_held_total, fm->n_timeouts);
  return 0;
}

CLOUDNAT_CLI_COMMAND (cn_frag_show_command) = {
  .path = "cnat show fragments",
  .short_help = "cnat show fragments",
  .function = cn_frag_show_cli,
};
