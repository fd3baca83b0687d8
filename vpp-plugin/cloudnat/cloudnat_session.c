/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_session.c: session storage, creation (any thread), deletion and
 * expiry (main thread), views, walks, limits, timeouts and the clock.
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

  if (!a->is_ip6)
    cn_key4_make (&k.k4, a->ndst.ip4.as_u32, a->nsrc.ip4.as_u32, rdport, p, a->proto,
		  a->out_fib_index);
  else
    cn_key6_make (&k.k6, a->ndst.ip6.as_u8, a->nsrc.ip6.as_u8, rdport, p, a->proto,
		  a->out_fib_index);
  return cn_sess_find (a->is_ip6, &k, cn_key_hash (a->is_ip6, &k)) == CN_SV_NONE;
}

static int
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

/* Visit every live record of a family. */
#define cn_foreach_session(st, idx, ...)                                                           \
  do                                                                                               \
    {                                                                                              \
      u32 _c, _o;                                                                                  \
      for (_c = 0; _c < (st)->n_chunks; _c++)                                                      \
	for (_o = 0; _o < CN_CHUNK_SIZE; _o++)                                                     \
	  {                                                                                        \
	    idx = (_c << CN_CHUNK_BITS) | _o;                                                      \
	    __VA_ARGS__                                                                            \
	  }                                                                                        \
    }                                                                                              \
  while (0)

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
