/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_session.c: session storage, creation (any thread), deletion and
 * expiry (main thread). Views, walks, deletes by the operator, limits,
 * timeouts and the clock: cloudnat_session_admin.c.
 */

#include <vnet/fib/fib_table.h>
#include <vnet/ip/ip4.h>
#include <vnet/ip/ip6.h>
#include <cloudnat/cloudnat_priv.h>

/* ------------------------------------------------------------------ */
/* record store                                                        */
/* ------------------------------------------------------------------ */

void
cn_store_init (cn_store_t *st, u32 elt_size)
{
  clib_memset (st, 0, sizeof (*st));
  st->elt_size = elt_size;
  clib_spinlock_init (&st->lock);
  vec_validate (st->threads, clib_max (vlib_get_thread_main ()->n_vlib_mains, 1) - 1);
}

u32
cn_store_alloc (cn_store_t *st, u32 thread_index)
{
  cn_store_thread_t *t = &st->threads[thread_index];
  u32 n, i, c;

  if (PREDICT_TRUE (vec_len (t->free)))
    return vec_pop (t->free);

  clib_spinlock_lock (&st->lock);
  n = clib_min (vec_len (st->shared_free), CN_CACHE_BATCH);
  if (n)
    {
      vec_add (t->free, vec_end (st->shared_free) - n, n);
      vec_dec_len (st->shared_free, n);
    }
  else if (st->n_chunks < CN_MAX_CHUNKS)
    {
      /* a new chunk: it is published before any of its indexes is, and
	 it never moves */
      c = st->n_chunks;
      st->chunks[c] =
	clib_mem_alloc_aligned ((uword) CN_CHUNK_SIZE * st->elt_size, CLIB_CACHE_LINE_BYTES);
      clib_memset (st->chunks[c], 0, (uword) CN_CHUNK_SIZE * st->elt_size);
      CLIB_MEMORY_STORE_BARRIER ();
      st->n_chunks = c + 1;
      vec_validate (t->free, CN_CHUNK_SIZE - 1);
      vec_set_len (t->free, 0);
      /* lowest index popped first */
      for (i = CN_CHUNK_SIZE; i > 0; i--)
	vec_add1 (t->free, (c << CN_CHUNK_BITS) | (i - 1));
    }
  clib_spinlock_unlock (&st->lock);

  if (!vec_len (t->free))
    return ~0;
  return vec_pop (t->free);
}

void
cn_store_free_now (cn_store_t *st, u32 thread_index, u32 index)
{
  /* the creation that filled this record failed: clear it, or walks and
     the scanner would take it for a live session (and the scanner would
     then release it a second time) */
  clib_memset (cn_store_get (st, index), 0, st->elt_size);
  vec_add1 (st->threads[thread_index].free, index);
}

static void
cn_store_release (cn_store_t *st, u32 index, int under_barrier)
{
  if (under_barrier)
    {
      clib_spinlock_lock (&st->lock);
      vec_add1 (st->shared_free, index);
      clib_spinlock_unlock (&st->lock);
    }
  else
    {
      /* a worker may still hold this index from a lookup in the frame it
	 is working on: let it rest before reuse */
      vec_add1 (st->limbo, index);
      vec_add1 (st->limbo_time, vlib_time_now (vlib_get_main ()));
    }
}

void
cn_store_reclaim (vlib_main_t *vm, cn_store_t *st, int all)
{
  f64 now = vlib_time_now (vm);
  u32 i, n = 0, *p;

  for (i = 0; i < vec_len (st->limbo); i++)
    if (all || now - st->limbo_time[i] >= CN_FREE_GRACE)
      n = i + 1;
    else
      break;
  if (!n)
    return;
  for (i = 0; i < n; i++)
    {
      p = cn_store_get (st, st->limbo[i]);
      /* both session layouts have flags at the same place relative to
	 their end of rewrites; clear the whole record */
      clib_memset (p, 0, st->elt_size);
    }
  clib_spinlock_lock (&st->lock);
  vec_add (st->shared_free, st->limbo, n);
  clib_spinlock_unlock (&st->lock);
  vec_delete (st->limbo, n, 0);
  vec_delete (st->limbo_time, n, 0);
}

/* ------------------------------------------------------------------ */
/* helpers                                                             */
/* ------------------------------------------------------------------ */

u32
cn_session_timeout (u8 proto, u8 tcp)
{
  cloudnat_timeouts_t *t = &cn_dp.timeouts;
  switch (proto)
    {
    case IP_PROTOCOL_TCP:
      return cn_tcp_is_established (tcp) ? t->tcp_established : t->tcp_transitory;
    case IP_PROTOCOL_UDP:
      return t->udp;
    default:
      return t->icmp;
    }
}

static_always_inline cn_fib_count_t *
cn_fib_count (u32 is_ip6, u32 fib_index)
{
  if (fib_index >= CN_MAX_FIB_INDEX)
    return 0;
  return &cn_dp.fib_counts[is_ip6 ? AF_IP6 : AF_IP4][fib_index];
}

u32
cn_table_id_of_fib (u32 fib_index, ip_address_family_t af)
{
  return fib_table_get_table_id (fib_index, af == AF_IP6 ? FIB_PROTOCOL_IP6 : FIB_PROTOCOL_IP4);
}

/* ------------------------------------------------------------------ */
/* creation (any thread)                                               */
/* ------------------------------------------------------------------ */

typedef struct
{
  cn_sess_create_args_t *a;
  u16 port_net;
} cn_port_ctx_t;

/* is the reply tuple (ndst:ndport -> nsrc:port) free? */
static int
cn_reply_port_is_free (u16 port, void *arg)
{
  cn_sess_create_args_t *a = arg;
  u16 p = clib_host_to_net_u16 (port);
  u16 rdport = cn_proto_is_icmp (a->proto) ? p : a->ndport;

  cn_key_t k;

  if (a->sub_index == ~0 && !a->is_dnat && cn_snat_port_cooling (a, p))
    return 0; /* another endpoint's freed port, still cooling */
  if (a->filter_flags && a->sub_index == ~0 && cn_snat_port_mapped (a, p))
    return 0; /* open filtering: one inside endpoint per mapping */

  if (!a->is_ip6)
    cn_key4_make (&k.k4, a->ndst.ip4.as_u32, a->nsrc.ip4.as_u32, rdport, p, a->proto,
		  a->out_fib_index);
  else
    cn_key6_make (&k.k6, a->ndst.ip6.as_u8, a->nsrc.ip6.as_u8, rdport, p, a->proto,
		  a->out_fib_index);
  return cn_sess_find (a->is_ip6, &k, cn_key_hash (a->is_ip6, &k)) == CN_SV_NONE;
}

int
cn_session_pick_port (cn_sess_create_args_t *a)
{
  u16 lo = cn_proto_is_icmp (a->proto) ? 1 : 1024;
  u32 seed;
  u16 p;

  if (a->sub_index != ~0)
    return cn_pool_pick_port (a, cn_reply_port_is_free); /* its blocks only */

  seed = (u32) clib_xxhash (a->src.as_u64[0] ^ a->src.as_u64[1] ^ ((u64) a->sport << 16) ^
			    a->dst.as_u64[1]);
  p = cn_port_choose (clib_net_to_host_u16 (a->nsport), lo, 65535, seed, cn_reply_port_is_free, a);
  if (!p)
    return -1;
  a->nsport = clib_host_to_net_u16 (p);
  if (cn_proto_is_icmp (a->proto))
    a->ndport = a->nsport; /* echo: both "ports" are the id */
  return 0;
}

/* The flow's own forward entry: it exists when an earlier packet of the
   same frame, or another thread, created the session meanwhile. */
static u32
cn_session_find_fwd (cn_sess_create_args_t *a)
{
  cn_key_t k;
  cn_args_key (a, CN_DIR_FWD, &k);
  return cn_sess_find (a->is_ip6, &k, a->have_hashes ? a->hash_fwd : cn_key_hash (a->is_ip6, &k));
}

/* The family-independent part of a new session record (v4 and v6 records
   have the same fields around their rewrites), then a release fence: the
   record is written before its keys are published (on x86 stores stay in
   order and the bucket lock of the add is a barrier anyway). */
#define CN_SESS_INIT_COMMON(s, a, now)                                                             \
  do                                                                                               \
    {                                                                                              \
      (s)->last = (now);                                                                           \
      (s)->fib_index = (a)->fib_index;                                                             \
      (s)->reply_fib = (a)->out_fib_index;                                                         \
      (s)->sub_index = (a)->sub_index;                                                             \
      (s)->tr_index = (a)->tr_index;                                                               \
      (s)->proto = (a)->proto;                                                                     \
      (s)->backend = (a)->backend;                                                                 \
      (s)->tcp = (a)->proto == IP_PROTOCOL_TCP ? cn_tcp_new ((a)->tcp_flags) : 0;                  \
      (s)->flags = CN_SF_USED | ((a)->is_dnat ? CN_SF_DNAT : CN_SF_SNAT) |                         \
		   ((a)->needs_client_ref ? CN_SF_CLIENT_REF : 0) | (a)->filter_flags;             \
      __atomic_thread_fence (__ATOMIC_RELEASE);                                                    \
    }                                                                                              \
  while (0)

void
cn_create_tally_flush (cn_create_tally_t *t, u32 is_ip6)
{
  cn_fib_count_t *fc;
  u32 i;

  if (t->n)
    clib_atomic_fetch_add_relax (&cn_dp.n_sessions, t->n);
  if (t->n_fib && (fc = cn_fib_count (is_ip6, t->fib_index)))
    clib_atomic_fetch_add_relax (&fc->n_sessions, t->n_fib);
  if (t->n_tr)
    clib_atomic_fetch_add_relax (&pool_elt_at_index (cn_dp.translations, t->tr_index)->n_sessions,
				 t->n_tr);
  if (t->n_clients)
    for (i = 0; i < CN_TALLY_CLIENTS; i++)
      if (t->clients[i].n)
	cn_client_session_ref_n (t->clients[i].client_index, t->clients[i].n);
  cn_create_tally_init (t);
}

/* count a published session in its node's tally */
static_always_inline void
cn_create_tally_add (cn_sess_create_args_t *a)
{
  cn_create_tally_t *t = a->tally;
  u32 i, ci;
  __typeof__ (t->clients[0]) *c;

  t->n++;
  if (t->fib_index != a->fib_index)
    {
      cn_fib_count_t *fc;
      if (t->n_fib && (fc = cn_fib_count (a->is_ip6, t->fib_index)))
	clib_atomic_fetch_add_relax (&fc->n_sessions, t->n_fib);
      t->fib_index = a->fib_index;
      t->n_fib = 0;
    }
  t->n_fib++;
  if (a->tr_index != ~0)
    {
      if (t->tr_index != a->tr_index)
	{
	  if (t->n_tr)
	    clib_atomic_fetch_add_relax (
	      &pool_elt_at_index (cn_dp.translations, t->tr_index)->n_sessions, t->n_tr);
	  t->tr_index = a->tr_index;
	  t->n_tr = 0;
	}
      t->n_tr++;
    }
  if (!a->needs_client_ref)
    return;
  i = ((a->nsrc.as_u64[0] ^ a->nsrc.as_u64[1] ^ a->fib_index) * 0x9e3779b97f4a7c15ull) >> 59;
  c = &t->clients[i];
  if (c->n && c->fib_index == a->fib_index && ip46_address_is_equal (&c->addr, &a->nsrc))
    {
      c->n++;
      return;
    }
  ci = cn_client_find (a->fib_index, &a->nsrc, a->is_ip6 ? AF_IP6 : AF_IP4);
  if (ci == ~0)
    {
      if (a->defer_client)
	a->client_deferred = 1;
      else
	cn_client_session_ref_new (a->fib_index, &a->nsrc, a->is_ip6 ? AF_IP6 : AF_IP4);
      return;
    }
  if (c->n)
    cn_client_session_ref_n (c->client_index, c->n);
  else
    t->n_clients++;
  c->addr = a->nsrc;
  c->fib_index = a->fib_index;
  c->client_index = ci;
  c->n = 1;
}

/* The sessions of a's table, both families, with what this frame added */
static_always_inline u32
cn_table_sessions (const cn_sess_create_args_t *a, const cn_fib_count_t *fc)
{
  u32 n = fc->n_sessions + (a->tally->fib_index == a->fib_index ? a->tally->n_fib : 0);
  if (fc->peer_fib_plus1)
    n += cn_dp.fib_counts[a->is_ip6 ? AF_IP4 : AF_IP6][fc->peer_fib_plus1 - 1].n_sessions;
  return n;
}

/* cn_session_publish results */
#define CN_PUBLISHED	     0
#define CN_PUB_REPLY_TAKEN   1 /* someone's reply tuple: another port? */
#define CN_PUB_FLOW_EXISTS   2 /* another thread made this very flow */
#define CN_PUB_TABLE_FULL    3

/* Insert the keys of a new session (its record is complete): the reply
   key first, so that a taken reply tuple is found before anything is
   published, then the forward key (on CN_PUB_FLOW_EXISTS *existing is
   the session that won). */
static_always_inline int
cn_session_publish (cn_sess_create_args_t *a, u32 idx, u32 *existing)
{
  cn_key_t kr, kf;
  int rv;

  cn_args_key (a, CN_DIR_REPLY, &kr);
  if (a->hashed_nsport != a->nsport)
    {
      a->hash_reply = cn_key_hash (a->is_ip6, &kr);
      a->hashed_nsport = a->nsport;
    }
  rv = cn_sess_add (a->is_ip6, a->hash_reply, CN_SV (idx, CN_DIR_REPLY), &kr, 0);
  if (rv)
    return rv == CN_STAB_EXISTS ? CN_PUB_REPLY_TAKEN : CN_PUB_TABLE_FULL;
  cn_args_key (a, CN_DIR_FWD, &kf);
  rv = cn_sess_add (a->is_ip6, a->hash_fwd, CN_SV (idx, CN_DIR_FWD), &kf, existing);
  if (!rv)
    return CN_PUBLISHED;
  cn_sess_del (a->is_ip6, a->hash_reply, CN_SV (idx, CN_DIR_REPLY));
  return rv == CN_STAB_EXISTS ? CN_PUB_FLOW_EXISTS : CN_PUB_TABLE_FULL;
}

u32
cn_session_create (vlib_main_t *vm, cn_sess_create_args_t *a, u32 *error, u32 *dir)
{
  cn_store_t *st = a->is_ip6 ? &cn_dp.store6 : &cn_dp.store4;
  cn_fib_count_t *fc = cn_fib_count (a->is_ip6, a->fib_index);
  u32 idx, attempt, v, existing = CN_SV_NONE;
  u32 now = a->now;
  int rv;

  *dir = CN_DIR_FWD;
  a->existed = 0;
  /* lookups of a frame all happen before its sessions are made: a second
     packet of a new flow finds the session its first packet created */
  if ((v = cn_session_find_fwd (a)) != CN_SV_NONE)
    goto found;
  if (PREDICT_FALSE (cn_dp.max_sessions && cn_dp.n_sessions + a->tally->n >= cn_dp.max_sessions))
    {
      *error = CN_ERROR_SESSION_LIMIT;
      goto failed;
    }
  if (PREDICT_FALSE (fc && fc->limit && cn_table_sessions (a, fc) >= fc->limit))
    {
      *error = CN_ERROR_SESSION_LIMIT;
      goto failed;
    }

  /* A reply tuple that is taken already needs another source port when
     we choose the source (SNAT, or a backend rewriting the source address
     but not its port): adding the reply key reports the collision, and we
     pick another port then. */
  if (!a->have_hashes)
    {
      cn_key_t k;
      cn_args_key (a, CN_DIR_FWD, &k);
      a->hash_fwd = cn_key_hash (a->is_ip6, &k);
      a->have_hashes = 1;
      a->hashed_nsport = ~a->nsport; /* reply hash not computed */
    }

  idx = cn_store_alloc (st, a->thread_index);
  if (PREDICT_FALSE (idx == ~0))
    {
      *error = CN_ERROR_NO_MEMORY;
      goto failed;
    }

  for (attempt = 0; attempt < 8; attempt++)
    {
      if (!a->is_ip6)
	{
	  cn_sess4_t *s = cn_store_get (st, idx);
	  clib_memset (s, 0, sizeof (*s));
	  cn_rw4_init (&s->rw[0], a->proto, a->src.ip4.as_u32, a->dst.ip4.as_u32, a->sport,
		       a->dport, a->nsrc.ip4.as_u32, a->ndst.ip4.as_u32, a->nsport, a->ndport);
	  cn_rw4_init (&s->rw[1], a->proto, a->ndst.ip4.as_u32, a->nsrc.ip4.as_u32, a->ndport,
		       a->nsport, a->dst.ip4.as_u32, a->src.ip4.as_u32, a->dport, a->sport);
	  CN_SESS_INIT_COMMON (s, a, now);
	}
      else
	{
	  cn_sess6_t *s = cn_store_get (st, idx);
	  clib_memset (s, 0, sizeof (*s));
	  cn_rw6_init (&s->rw[0], a->proto, a->src.ip6.as_u8, a->dst.ip6.as_u8, a->sport, a->dport,
		       a->nsrc.ip6.as_u8, a->ndst.ip6.as_u8, a->nsport, a->ndport);
	  cn_rw6_init (&s->rw[1], a->proto, a->ndst.ip6.as_u8, a->nsrc.ip6.as_u8, a->ndport,
		       a->nsport, a->dst.ip6.as_u8, a->src.ip6.as_u8, a->dport, a->sport);
	  CN_SESS_INIT_COMMON (s, a, now);
	}

      rv = cn_session_publish (a, idx, &existing);
      if (PREDICT_TRUE (rv == CN_PUBLISHED))
	{
	  cn_create_tally_add (a);
	  if (!a->is_dnat && (a->proto == IP_PROTOCOL_TCP || a->proto == IP_PROTOCOL_UDP))
	    {
	      /* the first session of a source-NAT mapping X':x' names it,
		 for a subscriber that reaches it from inside (hairpin) */
	      clib_bihash_kv_24_8_t kv;
	      cn_mapping_key (&kv, &a->nsrc, a->out_fib_index, a->nsport, a->proto, a->is_ip6);
	      kv.value = idx;
	      clib_bihash_add_del_24_8 (&cn_dp.mapping_db, &kv, 2 /* no overwrite */);
	      cn_mapping_key (&kv, &a->src, a->fib_index, a->sport, a->proto, a->is_ip6);
	      kv.value = idx;
	      clib_bihash_add_del_24_8 (&cn_dp.inside_db, &kv, 2);
	      if (a->filter_flags & CN_SF_ADF)
		{
		  /* inbound from Y is admitted while X':x' has a session to Y */
		  clib_bihash_kv_40_8_t ak;
		  cn_adf_key (&ak, &a->nsrc, a->out_fib_index, a->nsport, a->proto, &a->dst,
			      a->is_ip6);
		  ak.value = idx;
		  clib_bihash_add_del_40_8 (&cn_dp.adf_db, &ak, 2);
		}
	    }
	  return idx;
	}
      if (rv != CN_PUB_REPLY_TAKEN)
	{
	  cn_store_free_now (st, a->thread_index, idx);
	  if (rv == CN_PUB_FLOW_EXISTS && existing != CN_SV_NONE)
	    {
	      v = existing;
	      goto found;
	    }
	  *error = CN_ERROR_NO_MEMORY;
	  goto failed;
	}

      /* the reply tuple is taken: by a racing thread making this very
	 flow? */
      if ((v = cn_session_find_fwd (a)) != CN_SV_NONE)
	{
	  cn_store_free_now (st, a->thread_index, idx);
	  goto found;
	}
      /* someone else's reply tuple: only a source we choose can move */
      if (!a->src_port_free || cn_session_pick_port (a))
	{
	  *error = !a->src_port_free	   ? CN_ERROR_REPLY_TUPLE_IN_USE :
		   a->sub_index != ~0 ? CN_ERROR_POOL_EXHAUSTED : /* its blocks are full */
					  CN_ERROR_PORT_EXHAUSTED;
	  break;
	}
    }

  if (attempt == 8)
    *error = a->sub_index != ~0 ? CN_ERROR_POOL_EXHAUSTED : CN_ERROR_PORT_EXHAUSTED;
  cn_store_free_now (st, a->thread_index, idx);
failed:
  if (a->sub_index != ~0)
    cn_pool_unreserve (a);
  return ~0;

found:
  if (a->sub_index != ~0)
    cn_pool_unreserve (a);
  a->existed = 1;
  *dir = CN_SV_DIR (v);
  return CN_SV_INDEX (v);
}

/* ------------------------------------------------------------------ */
/* deletion (main thread)                                              */
/* ------------------------------------------------------------------ */

static void
cn_session_unlink_common (u32 is_ip6, u32 fib_index, u32 tr_index, u8 flags,
			  const ip46_address_t *reply_dst)
{
  cn_fib_count_t *fc = cn_fib_count (is_ip6, fib_index);

  clib_atomic_fetch_sub_relax (&cn_dp.n_sessions, 1);
  if (fc)
    clib_atomic_fetch_sub_relax (&fc->n_sessions, 1);
  if (tr_index != ~0 && !pool_is_free_index (cn_dp.translations, tr_index))
    clib_atomic_fetch_sub_relax (&pool_elt_at_index (cn_dp.translations, tr_index)->n_sessions, 1);
  if (flags & CN_SF_CLIENT_REF)
    cn_client_session_unref (fib_index, reply_dst, is_ip6 ? AF_IP6 : AF_IP4);
}

/* A session of mapping X':x' ends: forget the mapping if it named it. */
static void
cn_mapping_forget_1 (clib_bihash_24_8_t *db, const ip46_address_t *a, u32 fib, u16 port_net,
		     u8 proto, int is_ip6, u32 index)
{
  clib_bihash_kv_24_8_t kv;
  cn_mapping_key (&kv, a, fib, port_net, proto, is_ip6);
  if (!clib_bihash_search_24_8 (db, &kv, &kv) && kv.value == index)
    clib_bihash_add_del_24_8 (db, &kv, 0);
}

/* a session of an address-filtering mapping X':x' to Y ends */
static void
cn_adf_forget (const ip46_address_t *ns, u32 fib, u16 port_net, u8 proto, const ip46_address_t *y,
	       int is_ip6, u32 index)
{
  clib_bihash_kv_40_8_t kv;
  cn_adf_key (&kv, ns, fib, port_net, proto, y, is_ip6);
  if (!clib_bihash_search_40_8 (&cn_dp.adf_db, &kv, &kv) && kv.value == index)
    clib_bihash_add_del_40_8 (&cn_dp.adf_db, &kv, 0);
}

/* a per-table SNAT session ends: its mapping X':x' cools for the
   reuse delay (only X:x may take it back meanwhile) */
static void
cn_cooling_add (const ip46_address_t *ns, u32 fib, u16 port_net, u8 proto, int is_ip6,
		const ip46_address_t *x, u16 xport_net, u32 in_fib)
{
  clib_bihash_kv_24_8_t kv;
  u32 until = cn_now_ticks (vlib_get_main ()) + CN_SNAT_REUSE_DELAY * CN_TICKS_PER_SEC;
  cn_mapping_key (&kv, ns, fib, port_net, proto, is_ip6);
  kv.value = (u64) until << 32 | cn_cooling_owner (x, xport_net, in_fib);
  clib_bihash_add_del_24_8 (&cn_dp.cooling_db, &kv, 1);
}

/* the inside endpoint (X:x) and its mapping (X':x') of session index */
static void
cn_mapping_forget (const ip46_address_t *x, u32 in_fib, u16 xport, const ip46_address_t *ns,
		   u32 fib, u16 port_net, u8 proto, int is_ip6, u32 index)
{
  cn_mapping_forget_1 (&cn_dp.mapping_db, ns, fib, port_net, proto, is_ip6, index);
  cn_mapping_forget_1 (&cn_dp.inside_db, x, in_fib, xport, proto, is_ip6, index);
}

void
cn_session_delete_i (u32 is_ip6, u32 index, int under_barrier)
{
  ip46_address_t rdst;

  if (!is_ip6)
    {
      cn_sess4_t *s = cn_store_get (&cn_dp.store4, index);
      cn_key4_t k;
      if ((s->flags & (CN_SF_USED | CN_SF_DEAD)) != CN_SF_USED)
	return;
      /* forward key = mirror of the reply rewrite, and vice versa */
      cn_key4_make (&k, s->rw[1].dst, s->rw[1].src, s->rw[1].dport, s->rw[1].sport, s->proto,
		    s->fib_index);
      cn_sess_del (0, cn_key4_hash (&k), CN_SV (index, CN_DIR_FWD));
      cn_key4_make (&k, s->rw[0].dst, s->rw[0].src, s->rw[0].dport, s->rw[0].sport, s->proto,
		    s->reply_fib);
      cn_sess_del (0, cn_key4_hash (&k), CN_SV (index, CN_DIR_REPLY));
      ip46_address_set_ip4 (&rdst, (ip4_address_t *) &s->rw[0].src);
      s->flags |= CN_SF_DEAD;
      if (s->sub_index != ~0)
	cn_pool_session_gone (s->sub_index, s->rw[0].sport);
      if (s->flags & CN_SF_SNAT)
	{
	  ip46_address_t ns, x;
	  ip46_address_set_ip4 (&ns, (ip4_address_t *) &s->rw[0].src);
	  ip46_address_set_ip4 (&x, (ip4_address_t *) &s->rw[1].dst);
	  cn_mapping_forget (&x, s->fib_index, s->rw[1].dport, &ns, s->reply_fib, s->rw[0].sport,
			     s->proto, 0, index);
	  if (s->sub_index == ~0)
	    cn_cooling_add (&ns, s->reply_fib, s->rw[0].sport, s->proto, 0, &x, s->rw[1].dport,
			    s->fib_index);
	  if (s->flags & CN_SF_ADF)
	    {
	      ip46_address_t y;
	      ip46_address_set_ip4 (&y, (ip4_address_t *) &s->rw[0].dst);
	      cn_adf_forget (&ns, s->reply_fib, s->rw[0].sport, s->proto, &y, 0, index);
	    }
	}
      cn_session_unlink_common (0, s->fib_index, s->tr_index, s->flags, &rdst);
      if (under_barrier)
	clib_memset (s, 0, sizeof (*s));
      cn_store_release (&cn_dp.store4, index, under_barrier);
    }
  else
    {
      cn_sess6_t *s = cn_store_get (&cn_dp.store6, index);
      cn_key6_t k;
      if ((s->flags & (CN_SF_USED | CN_SF_DEAD)) != CN_SF_USED)
	return;
      cn_key6_make (&k, s->rw[1].dst, s->rw[1].src, s->rw[1].dport, s->rw[1].sport, s->proto,
		    s->fib_index);
      cn_sess_del (1, cn_key6_hash (&k), CN_SV (index, CN_DIR_FWD));
      cn_key6_make (&k, s->rw[0].dst, s->rw[0].src, s->rw[0].dport, s->rw[0].sport, s->proto,
		    s->reply_fib);
      cn_sess_del (1, cn_key6_hash (&k), CN_SV (index, CN_DIR_REPLY));
      clib_memcpy (rdst.as_u8, s->rw[0].src, 16);
      s->flags |= CN_SF_DEAD;
      if (s->sub_index != ~0)
	cn_pool_session_gone (s->sub_index, s->rw[0].sport);
      if (s->flags & CN_SF_SNAT)
	{
	  ip46_address_t ns, x;
	  clib_memcpy (ns.as_u8, s->rw[0].src, 16);
	  clib_memcpy (x.as_u8, s->rw[1].dst, 16);
	  cn_mapping_forget (&x, s->fib_index, s->rw[1].dport, &ns, s->reply_fib, s->rw[0].sport,
			     s->proto, 1, index);
	  if (s->sub_index == ~0)
	    cn_cooling_add (&ns, s->reply_fib, s->rw[0].sport, s->proto, 1, &x, s->rw[1].dport,
			    s->fib_index);
	  if (s->flags & CN_SF_ADF)
	    {
	      ip46_address_t y;
	      clib_memcpy (y.as_u8, s->rw[0].dst, 16);
	      cn_adf_forget (&ns, s->reply_fib, s->rw[0].sport, s->proto, &y, 1, index);
	    }
	}
      cn_session_unlink_common (1, s->fib_index, s->tr_index, s->flags, &rdst);
      if (under_barrier)
	clib_memset (s, 0, sizeof (*s));
      cn_store_release (&cn_dp.store6, index, under_barrier);
    }
}


static_always_inline u8
cn_sess_flags (u32 is_ip6, u32 idx)
{
  return is_ip6 ? ((cn_sess6_t *) cn_store_get (&cn_dp.store6, idx))->flags :
		  ((cn_sess4_t *) cn_store_get (&cn_dp.store4, idx))->flags;
}

static_always_inline int
cn_sess_live (u32 is_ip6, u32 idx)
{
  return (cn_sess_flags (is_ip6, idx) & (CN_SF_USED | CN_SF_DEAD)) == CN_SF_USED;
}

static int
cn_session_is_expired (u32 is_ip6, u32 idx, u32 now)
{
  if (!is_ip6)
    {
      cn_sess4_t *s = cn_store_get (&cn_dp.store4, idx);
      return cn_expired (now, s->last, cn_session_timeout (s->proto, s->tcp));
    }
  cn_sess6_t *s = cn_store_get (&cn_dp.store6, idx);
  return cn_expired (now, s->last, cn_session_timeout (s->proto, s->tcp));
}

/* Expire sessions. full: everything now; else a bounded slice. */
void
cn_sessions_scan (vlib_main_t *vm, int full, int under_barrier)
{
  u32 now = cn_now_ticks (vm);
  u32 is_ip6;

  for (is_ip6 = 0; is_ip6 < 2; is_ip6++)
    {
      cn_store_t *st = is_ip6 ? &cn_dp.store6 : &cn_dp.store4;
      u32 n_slots = st->n_chunks * CN_CHUNK_SIZE;
      u32 budget, i, idx;
      u32 *cursor = &cn_dp.scan_cursor[is_ip6];

      if (!n_slots)
	continue;
      /* a full pass in about 2 s, at least 4096 slots per wake */
      budget = full ? n_slots : cn_scan_budget (n_slots, 0.1, 2.0, 4096);
      budget = clib_min (budget, n_slots);
      for (i = 0; i < budget; i++)
	{
	  idx = (*cursor)++;
	  if (*cursor >= n_slots)
	    *cursor = 0;
	  if (idx >= n_slots)
	    idx = 0;
	  if (cn_sess_live (is_ip6, idx) && cn_session_is_expired (is_ip6, idx, now))
	    cn_session_delete_i (is_ip6, idx, under_barrier);
	}
      cn_store_reclaim (vm, st, under_barrier);
    }
}
