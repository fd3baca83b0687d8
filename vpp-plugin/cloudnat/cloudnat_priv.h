/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_priv.h: the dataplane's data structures, shared by the core
 * (.c files of the plugin) and the graph nodes. Not for the CLI/API, which
 * use cloudnat.h only.
 *
 * Sessions
 *   One flow = one record + two entries in the family's session table
 *   (lib/cn_stab.h): the forward 5-tuple (as the first packet arrived) and
 *   the reply 5-tuple (what the peer sends back), both with the FIB index
 *   in the key. An entry is a 16-bit tag and a 32-bit value (record index
 *   | direction << 31); the key itself is not stored: a candidate is
 *   checked against the record, which holds both tuples (the lookup keys
 *   are the mirror images of the other direction's rewrite). A lookup reads
 *   the bucket's line and the record's line, nothing else.
 *
 *   Records live in chunks of CN_CHUNK_SIZE that are allocated once and
 *   never move or get freed, so any worker can read a record by index with
 *   no lock while the main thread adds chunks. Every thread allocates from
 *   its own cache of free indexes (refilled from a shared list, or from a
 *   new chunk). Only the main thread deletes sessions; a record deleted
 *   outside the barrier stays in limbo for CN_FREE_GRACE seconds before it
 *   can be reused, so a worker still holding its index from a lookup in the
 *   frame it is processing never sees it reused.
 *
 * Capture ("clients")
 *   A client is an address in a FIB table that cloudnat captures: a VIP
 *   (exclusive FIB entry whose DPO leads to ip4-cloudnat/ip6-cloudnat), a
 *   real address, a source-NAT address, a backend's source rewrite, or the
 *   address of a DNAT client (replies are sent to it): those are interposed
 *   on whatever forwarding the address already has. A client is refcounted
 *   (vip refs, static refs, session refs); the FIB entry follows the counts.
 */
#ifndef __included_cloudnat_priv_h__
#define __included_cloudnat_priv_h__

#include <cloudnat/cloudnat.h>
#include <vnet/dpo/dpo.h>
#include <vnet/fib/fib_source.h>
#include <vppinfra/bihash_24_8.h>
#include <vppinfra/bihash_40_8.h>
#include <vppinfra/lock.h>

#include <cn_csum.h>
#include <cn_pkt.h>
#include <cn_rewrite.h>
#include <cn_lb.h>
#include <cn_port.h>
#include <cn_tcp.h>
#include <cn_timer.h>
#include <cn_stab.h>

/* session record flags */
#define CN_SF_USED	 0x01
#define CN_SF_DNAT	 0x02
#define CN_SF_SNAT	 0x04
#define CN_SF_CLIENT_REF 0x08 /* holds a session ref on its reply client */
#define CN_SF_DEAD	 0x10 /* unlinked, waiting in limbo */
/* a pool session whose mapping admits inbound packets from any endpoint
   (EIF) or from the addresses it has sent to (ADF); cloudnat_filter.h */
#define CN_SF_EIF 0x20
#define CN_SF_ADF 0x40

#define CN_DIR_FWD   0
#define CN_DIR_REPLY 1

/* 64 bytes: one cache line. rw[0] rewrites forward packets, rw[1] replies;
   the lookup keys are the mirror images of the other direction's rewrite,
   so they are not stored. */
typedef struct
{
  cn_rw4_t rw[2];
  u32 last; /* plugin clock, ticks */
  u32 fib_index;
  u32 tr_index; /* translation, ~0 for SNAT */
  u32 packets;
  u8 proto;
  u8 tcp;   /* cn_tcp.h state byte */
  u8 flags; /* CN_SF_* */
  u8 backend;
  u32 reply_fib; /* FIB index of the reply key: a pool's outside table */
  u32 sub_index; /* pool subscriber (cloudnat_pool.c), ~0 none */
  u32 pad;
} cn_sess4_t;

STATIC_ASSERT (sizeof (cn_sess4_t) == 64, "IPv4 session is one cache line");

typedef struct
{
  cn_rw6_t rw[2];
  u32 last;
  u32 fib_index;
  u32 tr_index;
  u32 packets;
  u8 proto;
  u8 tcp;
  u8 flags;
  u8 backend;
  u32 reply_fib;
  u32 sub_index;
  u8 pad[20];
} cn_sess6_t;

STATIC_ASSERT (sizeof (cn_sess6_t) == 128, "IPv6 session is two lines");

#define CN_MAX_SESSION_BUCKETS (1 << 26) /* 4 GB of table */

#define CN_CHUNK_BITS  14
#define CN_CHUNK_SIZE  (1 << CN_CHUNK_BITS)
#define CN_MAX_CHUNKS  2048 /* 32M sessions per family */
#define CN_FREE_GRACE  1.0  /* seconds a freed record waits before reuse */
#define CN_CACHE_BATCH 64

typedef struct
{
  u32 *free; /* this thread's free indexes */
} cn_store_thread_t;

typedef struct
{
  u8 *chunks[CN_MAX_CHUNKS]; /* never move, never freed */
  u32 elt_size;
  volatile u32 n_chunks;
  clib_spinlock_t lock; /* guards shared_free and chunk creation */
  u32 *shared_free;
  /* main thread only: freed outside the barrier, with their time */
  u32 *limbo;
  f64 *limbo_time;
  cn_store_thread_t *threads;
} cn_store_t;

static_always_inline void *
cn_store_get (cn_store_t *st, u32 index)
{
  return st->chunks[index >> CN_CHUNK_BITS] + (uword) (index & (CN_CHUNK_SIZE - 1)) * st->elt_size;
}

/* per (family, fib index) session count and limit; a table's limit counts
   the sessions of both its families, so each knows the other's FIB */
#define CN_MAX_FIB_INDEX 65536
typedef struct
{
  volatile u32 n_sessions;
  u32 limit;
  u32 peer_fib_plus1; /* the table's FIB of the other family + 1, 0: none */
} cn_fib_count_t;

/* ------------------------------------------------------------------ */
/* translations                                                        */
/* ------------------------------------------------------------------ */

typedef struct
{
  cloudnat_translation_spec_t spec;
  u32 fib_index;
  u32 client_index;  /* capture of the vip/real address */
  u32 *src_clients;  /* captures of backends' source rewrites */
  u8 *maglev;	     /* vec, backend index per slot */
  u64 *backend_keys; /* maglev identity of each backend */
  volatile u32 n_sessions;
} cn_translation_t;

/* ------------------------------------------------------------------ */
/* clients and their DPOs                                              */
/* ------------------------------------------------------------------ */

typedef enum
{
  CN_CAPTURE_NONE = 0,
  CN_CAPTURE_EXCLUSIVE,
  CN_CAPTURE_INTERPOSE,
} cn_capture_mode_t;

typedef struct
{
  ip46_address_t addr;
  ip_address_family_t af;
  u32 fib_index;
  u32 n_vip;
  u32 n_static;
  volatile i32 n_sessions;
  u8 mode;	 /* installed cn_capture_mode_t */
  u8 mode_vip;	 /* installed with is_vip: misses dropped as no_translation */
  u32 dpo_index; /* the template DPO given to the FIB */
} cn_client_t;

/* A DPO instance: the template given to the FIB, or an interpose clone
   that the FIB stacked on the address's previous forwarding (parent). */
typedef struct
{
  dpo_id_t parent;
  u32 client_index;
  u32 locks;
  /* the table of the capture: the packet's lookup table may be another
     one when a route "via ip4-lookup-in-table" brought it here */
  u32 fib_index;
  u8 is_vip; /* a miss here is dropped rather than passed to parent */
} cn_cdpo_t;

/* ------------------------------------------------------------------ */
/* source NAT                                                          */
/* ------------------------------------------------------------------ */

typedef struct
{
  ip46_address_t addr;
  u8 len;
} cn_prefix_t;

typedef struct
{
  ip46_address_t *addrs; /* pool of this table and family */
  u32 *addr_clients;	 /* capture of each address */
  cn_prefix_t *excludes;
  u8 filtering; /* CN_FILTER_* (cloudnat_pool.h): inbound to its mappings */
} cn_snat_table_t;

/* ------------------------------------------------------------------ */
/* main                                                                */
/* ------------------------------------------------------------------ */

typedef struct
{
  cn_stab_t sess4, sess6; /* session tables, see cn_stab.h */
  cn_store_t store4, store6;
  cn_fib_count_t *fib_counts[N_AF]; /* CN_MAX_FIB_INDEX entries each */
  volatile u32 n_sessions;
  u32 max_sessions;    /* global, 0 = none */
  uword *table_limits; /* table id -> per-table limit (hash; none = 0) */

  /* source-NAT mappings: (outside fib, X', x', proto) -> one session of
     that mapping, for hairpinning (cn_hairpin_decide) */
  clib_bihash_24_8_t mapping_db;
  /* and (inside fib, X, x, proto) -> the same: the mapping of an inside
     endpoint, for its ICMP errors about hairpinned packets */
  clib_bihash_24_8_t inside_db;
  /* address-dependent filtering: (outside fib, X', x', proto, Y) -> the
     first session from X':x' to Y; pools that filter less than address
     and port (the inbound miss path looks only when there are some) */
  clib_bihash_40_8_t adf_db;
  u32 n_open_filter_pools, n_open_filter_tables;
  /* per-table source NAT's freed mappings (outside fib, X', x', proto) ->
     tick until which only the same inside endpoint may take them back <<
     32 | a hash of that endpoint (RFC 6888 REQ-8; pools cool whole
     blocks instead); written by the main thread as sessions end */
  clib_bihash_24_8_t cooling_db;

  /* translations: key (vip, fib, port, proto, af) -> index */
  clib_bihash_24_8_t tr_db;
  cn_translation_t *translations;
  vlib_combined_counter_main_t tr_counters;

  /* clients: key (addr, fib, af) -> index */
  clib_bihash_24_8_t client_db;
  cn_client_t *clients;
  cn_cdpo_t *cdpos;
  dpo_type_t dpo_type;
  fib_source_t fib_src;
  /* the type of VPP's "lookup the destination in table N" DPO (a route
     "via ip4-lookup-in-table N"): VPP registers it at run time */
  dpo_type_t lookup_dpo_type;

  /* source NAT, per family, indexed by fib index */
  cn_snat_table_t *snat[N_AF];

  /* timeouts in seconds */
  cloudnat_timeouts_t timeouts;

  /* scanner */
  u32 scan_cursor[N_AF];
  u32 scanner_node_index;

  /* the main-thread nodes that hold the first packet of a new client's
     session until its return capture is in the FIB (cn_client_wait), and
     their handoff queues (~0 without workers) */
  u32 client_wait_node_index[N_AF];
  u32 client_wait_fq[N_AF];

  /* node indexes */
  u32 ip4_node_index, ip6_node_index;
  u32 ip4_snat_node_index, ip6_snat_node_index;
} cn_dp_main_t;

extern cn_dp_main_t cn_dp;
extern vlib_node_registration_t cn_ip4_node, cn_ip6_node;
extern vlib_node_registration_t cn_ip4_snat_node, cn_ip6_snat_node;

/* plugin clock in ticks */
static_always_inline u32
cn_now_ticks (vlib_main_t *vm)
{
  return cn_ticks_from_seconds (vlib_time_now (vm) + (f64) cloudnat_main.clock_offset);
}

/* ---- keys ---- */

/* A session table key: addresses, then ports, protocol and a 24-bit FIB
   index in one word. */
typedef struct
{
  u64 key[2];
} cn_key4_t;

typedef struct
{
  u64 key[5];
} cn_key6_t;

static_always_inline void
cn_key4_make (cn_key4_t *kv, u32 src, u32 dst, u16 sport, u16 dport, u8 proto, u32 fib_index)
{
  kv->key[0] = (u64) src << 32 | dst;
  kv->key[1] = (u64) sport << 48 | (u64) dport << 32 | (u64) proto << 24 | (fib_index & 0xffffff);
}

static_always_inline void
cn_key6_make (cn_key6_t *kv, const u8 *src, const u8 *dst, u16 sport, u16 dport, u8 proto,
	      u32 fib_index)
{
  clib_memcpy_fast (&kv->key[0], src, 16);
  clib_memcpy_fast (&kv->key[2], dst, 16);
  kv->key[4] = (u64) sport << 48 | (u64) dport << 32 | (u64) proto << 24 | (fib_index & 0xffffff);
}

static_always_inline u64
cn_key4_hash (const cn_key4_t *k)
{
  return cn_stab_hash (cn_dp.sess4.seed, k->key, 2);
}

static_always_inline u64
cn_key6_hash (const cn_key6_t *k)
{
  return cn_stab_hash (cn_dp.sess6.seed, k->key, 5);
}

/* session table values: record index and direction */
#define CN_SV(idx, dir)	 ((u32) (idx) | (u32) (dir) << 31)
#define CN_SV_INDEX(v)	 ((v) & 0x7fffffff)
#define CN_SV_DIR(v)	 ((v) >> 31)
#define CN_SV_NONE	 CN_STAB_NONE

/* Is v (a candidate of the session table, whose record is s) the live
   session whose key in its direction is k? The key of one direction is
   the mirror image of the other direction's rewrite. */
static_always_inline int
cn_sess4_match_rec (const cn_key4_t *k, const cn_sess4_t *s, u32 v)
{
  const cn_rw4_t *rw = &s->rw[CN_SV_DIR (v) ^ 1];
  u64 k0 = (u64) rw->dst << 32 | rw->src;
  u32 fib = CN_SV_DIR (v) == CN_DIR_REPLY ? s->reply_fib : s->fib_index;
  u64 k1 = (u64) rw->dport << 48 | (u64) rw->sport << 32 | (u64) s->proto << 24 | (fib & 0xffffff);
  return ((k0 ^ k->key[0]) | (k1 ^ k->key[1])) == 0 &&
	 (s->flags & (CN_SF_USED | CN_SF_DEAD)) == CN_SF_USED;
}

static_always_inline int
cn_sess6_match_rec (const cn_key6_t *k, const cn_sess6_t *s, u32 v)
{
  const cn_rw6_t *rw = &s->rw[CN_SV_DIR (v) ^ 1];
  u64 w[5];
  clib_memcpy_fast (&w[0], rw->dst, 16);
  clib_memcpy_fast (&w[2], rw->src, 16);
  u32 fib = CN_SV_DIR (v) == CN_DIR_REPLY ? s->reply_fib : s->fib_index;
  w[4] = (u64) rw->dport << 48 | (u64) rw->sport << 32 | (u64) s->proto << 24 | (fib & 0xffffff);
  return ((w[0] ^ k->key[0]) | (w[1] ^ k->key[1]) | (w[2] ^ k->key[2]) | (w[3] ^ k->key[3]) |
	  (w[4] ^ k->key[4])) == 0 &&
	 (s->flags & (CN_SF_USED | CN_SF_DEAD)) == CN_SF_USED;
}

static_always_inline int
cn_sess4_match (const void *k, u32 v)
{
  return cn_sess4_match_rec (k, cn_store_get (&cn_dp.store4, CN_SV_INDEX (v)), v);
}

static_always_inline int
cn_sess6_match (const void *k, u32 v)
{
  return cn_sess6_match_rec (k, cn_store_get (&cn_dp.store6, CN_SV_INDEX (v)), v);
}

/* the session (value) of a key, CN_SV_NONE if none */
static_always_inline u32
cn_sess4_find (const cn_key4_t *k, u64 h)
{
  return cn_stab_find (&cn_dp.sess4, h, cn_sess4_match, k);
}

static_always_inline u32
cn_sess6_find (const cn_key6_t *k, u64 h)
{
  return cn_stab_find (&cn_dp.sess6, h, cn_sess6_match, k);
}

/* The same for either family (is_ip6 is a constant where it matters, so
   these fold to the family's call). */
typedef union
{
  cn_key4_t k4;
  cn_key6_t k6;
} cn_key_t;

static_always_inline u64
cn_key_hash (int is_ip6, const cn_key_t *k)
{
  return is_ip6 ? cn_key6_hash (&k->k6) : cn_key4_hash (&k->k4);
}

static_always_inline u32
cn_sess_find (int is_ip6, const cn_key_t *k, u64 h)
{
  return is_ip6 ? cn_sess6_find (&k->k6, h) : cn_sess4_find (&k->k4, h);
}

/* CN_STAB_ADDED, CN_STAB_EXISTS (*found, if given, is the value there) or
   CN_STAB_FULL */
static_always_inline int
cn_sess_add (int is_ip6, u64 h, u32 v, const cn_key_t *k, u32 *found)
{
  if (is_ip6)
    return cn_stab_add (&cn_dp.sess6, h, v, cn_sess6_match, &k->k6, found);
  return cn_stab_add (&cn_dp.sess4, h, v, cn_sess4_match, &k->k4, found);
}

static_always_inline void
cn_sess_del (int is_ip6, u64 h, u32 v)
{
  cn_stab_del (is_ip6 ? &cn_dp.sess6 : &cn_dp.sess4, h, v);
}

/* ---- store ---- */
void cn_store_init (cn_store_t *st, u32 elt_size);
u32 cn_store_alloc (cn_store_t *st, u32 thread_index); /* ~0 if full */
/* return an index whose session was never published (creation failed or
   lost a race); the record is cleared */
void cn_store_free_now (cn_store_t *st, u32 thread_index, u32 index);

/* ---- sessions (cloudnat_session.c) ---- */

/* The counters a node's new sessions add to (global, per table, per
   translation, per reply client), added up over a frame and written once
   at its end: a locked add per counter per session cost about a fifth of
   a session's creation. Limits count what is pending here too. Only
   the main thread deletes sessions, outside a frame of this thread or
   under the barrier, so no count goes below zero for long. */
#define CN_TALLY_CLIENTS 32 /* direct mapped by address */
typedef struct
{
  u32 n;
  u32 fib_index, n_fib;
  u32 tr_index, n_tr;
  u32 n_clients; /* slots in use (n > 0) */
  struct
  {
    ip46_address_t addr;
    u32 fib_index;
    u32 client_index;
    u32 n;
  } clients[CN_TALLY_CLIENTS];
} cn_create_tally_t;

/* empty a tally that was zeroed once (client slots are cleared only when
   some are in use) */
static_always_inline void
cn_create_tally_init (cn_create_tally_t *t)
{
  u32 i;
  t->n = t->n_fib = t->n_tr = 0;
  t->fib_index = t->tr_index = ~0;
  if (t->n_clients)
    for (i = 0; i < CN_TALLY_CLIENTS; i++)
      t->clients[i].n = 0;
  t->n_clients = 0;
}

void cn_create_tally_flush (cn_create_tally_t *t, u32 is_ip6);

typedef struct
{
  /* what the node found in the packet */
  u8 is_ip6;
  u8 proto;
  u8 tcp_flags;
  u8 is_dnat;
  u32 fib_index;	/* inside: the forward key's table */
  u32 out_fib_index;	/* the reply key's table (a pool's outside table) */
  u32 sub_index;	/* pool subscriber, ~0 none (cloudnat_pool.c) */
  u8 filter_flags;	/* CN_SF_EIF / CN_SF_ADF from the subscriber's pool */
  u8 classify_only; /* cn_snat_decide: only say whether it would translate */
  u32 thread_index;
  ip46_address_t src, dst; /* original */
  u16 sport, dport;	   /* network order */
  /* decided rewrite of the forward direction */
  ip46_address_t nsrc, ndst;
  u16 nsport, ndport; /* network order */
  u32 tr_index;
  u8 backend;
  u8 src_port_free; /* nsport may be reallocated on a reply collision */
  u8 needs_client_ref;
  /* in: a return client that does not exist yet is left to the caller
     (a worker, which holds the packet until the main thread has added it:
     cn_client_wait); out: create did so */
  u8 defer_client;
  u8 client_deferred;
  u8 existed; /* set by create: the flow had a session already */
  u32 now;    /* plugin clock (cn_now_ticks) */
  /* set by the node (which prefetched both buckets): the session table
     hashes of the forward key and of the reply key for nsport as it was
     decided; create recomputes the reply hash if it moves the port */
  u8 have_hashes;
  u16 hashed_nsport;
  u64 hash_fwd, hash_reply;
  cn_create_tally_t *tally; /* the node's, for this frame */
} cn_sess_create_args_t;

/* The session table key of a decided flow in direction dir: the forward
   5-tuple as it arrived, or the reply 5-tuple the peer will send. */
static_always_inline void
cn_args_key (const cn_sess_create_args_t *a, int dir, cn_key_t *k)
{
  if (!a->is_ip6)
    {
      if (dir == CN_DIR_FWD)
	cn_key4_make (&k->k4, a->src.ip4.as_u32, a->dst.ip4.as_u32, a->sport, a->dport, a->proto,
		      a->fib_index);
      else
	cn_key4_make (&k->k4, a->ndst.ip4.as_u32, a->nsrc.ip4.as_u32, a->ndport, a->nsport,
		      a->proto, a->out_fib_index);
    }
  else
    {
      if (dir == CN_DIR_FWD)
	cn_key6_make (&k->k6, a->src.ip6.as_u8, a->dst.ip6.as_u8, a->sport, a->dport, a->proto,
		      a->fib_index);
      else
	cn_key6_make (&k->k6, a->ndst.ip6.as_u8, a->nsrc.ip6.as_u8, a->ndport, a->nsport,
		      a->proto, a->out_fib_index);
    }
}

/* returns a session index, or ~0 with *error set to a node error code */
u32 cn_session_create (vlib_main_t *vm, cn_sess_create_args_t *a, u32 *error, u32 *dir);
void cn_session_delete_i (u32 is_ip6, u32 index, int under_barrier);
void cn_sessions_scan (vlib_main_t *vm, int full, int under_barrier);
void cn_store_reclaim (vlib_main_t *vm, cn_store_t *st, int all);

/* ---- translations (cloudnat_translation.c) ---- */
/* returns translation index or ~0; readers: any thread */
static_always_inline u32
cn_translation_find (u32 fib_index, const ip46_address_t *vip, ip_address_family_t af, u16 port_net,
		     u8 proto)
{
  clib_bihash_kv_24_8_t kv;
  kv.key[0] = vip->as_u64[0];
  kv.key[1] = vip->as_u64[1];
  kv.key[2] = (u64) fib_index << 32 | (u64) port_net << 16 | (u64) proto << 8 | af;
  if (clib_bihash_search_inline_24_8 (&cn_dp.tr_db, &kv))
    return ~0;
  return (u32) kv.value;
}

/* pick a backend for a new flow and fill the create args */
int cn_translation_select (cn_translation_t *tr, cn_sess_create_args_t *a);

/* is a an interface address in that table (FIB interface source)? */
int cn_addr_is_interface_address (u32 fib_index, const ip46_address_t *a, ip_address_family_t af);

/* ---- clients (cloudnat_client.c) ---- */
u32 cn_client_find (u32 fib_index, const ip46_address_t *a, ip_address_family_t af);
/* main thread: take / drop a reference of the given kind */
#define CN_CLIENT_REF_VIP     0
#define CN_CLIENT_REF_STATIC  1
#define CN_CLIENT_REF_SESSION 2
u32 cn_client_ref (u32 fib_index, const ip46_address_t *a, ip_address_family_t af, int kind);
void cn_client_unref (u32 client_index, int kind);
/* any thread: n new sessions send their replies to client ci */
void cn_client_session_ref_n (u32 client_index, u32 n);
/* any thread: a new session sends its replies to (fib, a), which is not
   a client yet: the main thread makes it one */
void cn_client_session_ref_new (u32 fib_index, const ip46_address_t *a, ip_address_family_t af);
void cn_client_wait_init (vlib_main_t *vm);
/* main thread: per-table limits onto FIBs made since they were set */
void cn_table_limits_refresh (void);
u32 cn_client_wait_handoff (vlib_main_t *vm, vlib_node_runtime_t *node, u32 *bis, u32 n, int is_ip6);
/* main thread: a session that held a ref is gone */
void cn_client_session_unref (u32 fib_index, const ip46_address_t *a, ip_address_family_t af);
void cn_client_init (vlib_main_t *vm);
/* main thread: drop clients that lost their last reference */
void cn_client_gc (vlib_main_t *vm);
/* dpo type helpers for the SNAT "is local" test */
int cn_dpo_is_local (const dpo_id_t *dpo);
/* main thread, before a binding or mapping exists: learn lookup_dpo_type */
void cn_lookup_dpo_type_init (void);

/* Does the route send the packet on to a lookup in (another) table? */
static_always_inline int
cn_dpo_is_table_lookup (const dpo_id_t *d)
{
  return d->dpoi_type == DPO_LOOKUP ||
	 (cn_dp.lookup_dpo_type && d->dpoi_type == cn_dp.lookup_dpo_type);
}

/* ---- source NAT (cloudnat_snat.c) ---- */
/* decide a new SNAT flow; 0 = translate (a filled), else node error /
   pass code */
#define CN_SNAT_PASS_EXCLUDED 1
#define CN_SNAT_PASS_NO_ADDR  2
#define CN_SNAT_PASS_LOCAL    3
#define CN_SNAT_PASS_INSIDE   4 /* bound source, destination routed inside */
#define CN_SNAT_DROP_EXHAUSTED 5 /* bound source, no block / a cap reached */
#define CN_SNAT_DROP_NO_PORT   6 /* table SNAT: every free port is cooling */

/* ---- hairpinning (cloudnat_session.c keeps the mapping table) ---- */
static_always_inline void
cn_mapping_key (clib_bihash_kv_24_8_t *kv, const ip46_address_t *a, u32 fib, u16 port_net,
		u8 proto, int is_ip6)
{
  kv->key[0] = a->as_u64[0];
  kv->key[1] = a->as_u64[1];
  kv->key[2] = (u64) fib << 32 | (u64) port_net << 16 | (u64) proto << 8 | is_ip6;
}

/* address-dependent filtering: mapping X':x' (outside fib) has sent to Y */
static_always_inline void
cn_adf_key (clib_bihash_kv_40_8_t *kv, const ip46_address_t *ns, u32 fib, u16 port_net, u8 proto,
	    const ip46_address_t *y, int is_ip6)
{
  kv->key[0] = ns->as_u64[0];
  kv->key[1] = ns->as_u64[1];
  kv->key[2] = y->as_u64[0];
  kv->key[3] = y->as_u64[1];
  kv->key[4] = (u64) fib << 32 | (u64) port_net << 16 | (u64) proto << 8 | is_ip6;
}

/* per-table source NAT: a freed outside port is not given to another
   inside endpoint for this long (RFC 6888 REQ-8) */
#define CN_SNAT_REUSE_DELAY 120

/* the inside endpoint X:x (table fib) as the cooling table names it */
static_always_inline u32
cn_cooling_owner (const ip46_address_t *x, u16 xport_net, u32 fib)
{
  return (u32) clib_xxhash (x->as_u64[0] ^ x->as_u64[1] ^ ((u64) xport_net << 32 | fib)) | 1;
}

/* Does port (net order) of a's SNAT address X' already map an inside
   endpoint? (open filtering keeps mappings one per endpoint) */
static_always_inline int
cn_snat_port_mapped (const cn_sess_create_args_t *a, u16 port_net)
{
  clib_bihash_kv_24_8_t kv;
  cn_mapping_key (&kv, &a->nsrc, a->out_fib_index, port_net, a->proto, a->is_ip6);
  return !clib_bihash_search_inline_24_8 (&cn_dp.mapping_db, &kv);
}

/* Is port (net order) of a's per-table SNAT address X' cooling for another
   inside endpoint? (any thread) */
static_always_inline int
cn_snat_port_cooling (const cn_sess_create_args_t *a, u16 port_net)
{
  clib_bihash_kv_24_8_t kv;
  cn_mapping_key (&kv, &a->nsrc, a->out_fib_index, port_net, a->proto, a->is_ip6);
  if (clib_bihash_search_inline_24_8 (&cn_dp.cooling_db, &kv))
    return 0;
  if ((i32) (a->now - (u32) (kv.value >> 32)) >= 0)
    return 0; /* cooled down */
  return (u32) kv.value != cn_cooling_owner (&a->src, a->sport, a->fib_index);
}

/* ---- static NAT (cloudnat_static.c): data path ---- */
#define CN_STATIC_OUT 0 /* source of packets leaving the inside */
#define CN_STATIC_IN  1 /* destination of packets entering from outside */
#define CN_STATIC_ANY 0xff /* key proto of an outside address's claim */

typedef struct
{
  ip46_address_t in_pfx, out_pfx; /* masked */
  u32 in_fib, out_fib;
  u32 in_table_id, out_table_id;
  u8 len;
  u8 proto;		 /* 0: TCP, UDP and ICMP */
  u8 is_ip6;
  u16 in_port, out_port; /* network order, 0 with proto 0 */
  u32 *out_clients;	 /* captures of the outside addresses */
} cn_static_t;

typedef struct
{
  cn_static_t *maps;
  /* (address, fib, dir, proto, port) -> mapping index */
  clib_bihash_24_8_t db;
  /* by family and fib index: bit CN_STATIC_OUT / CN_STATIC_IN set when
     the table has mappings in that direction (no lookup otherwise) */
  u8 *fib_dirs[N_AF];
  vlib_simple_counter_main_t counters; /* packets per mapping */
} cn_static_main_t;

extern cn_static_main_t cn_static_main;
void cn_static_init (vlib_main_t *vm);

static_always_inline void
cn_static_key (clib_bihash_kv_24_8_t *kv, const ip46_address_t *a, u32 fib, int dir, u8 proto,
	       u16 port_net, int is_ip6)
{
  kv->key[0] = a->as_u64[0];
  kv->key[1] = a->as_u64[1];
  kv->key[2] = (u64) fib << 32 | (u64) port_net << 16 | (u64) proto << 8 | dir << 1 | is_ip6;
}

#define CN_STATIC_DIR_BIT(dir)	(1 << (dir))
#define CN_STATIC_PORT_BIT(dir) (4 << (dir))

/* the table's CN_STATIC_*_BIT bits, 0 without mappings */
static_always_inline u8
cn_static_fib_bits (u32 fib, int is_ip6)
{
  u8 *v = cn_static_main.fib_dirs[is_ip6 ? AF_IP6 : AF_IP4];
  return fib < vec_len (v) ? v[fib] : 0;
}

static_always_inline int
cn_static_fib_has (u32 fib, int is_ip6, int dir)
{
  return (cn_static_fib_bits (fib, is_ip6) & CN_STATIC_DIR_BIT (dir)) != 0;
}

static_always_inline void
cn_static_addr_of (ip46_address_t *a, const u8 *p, int is_ip6)
{
  if (is_ip6)
    {
      clib_memcpy_fast (a->as_u8, p, 16);
      return;
    }
  a->as_u64[0] = a->as_u64[1] = 0;
  a->ip4.as_u32 = cn_ld32 (p);
}

/* The mapping of an address (port-specific first, then all ports), ~0. */
static_always_inline u32
cn_static_find (u32 fib, const u8 *p, int is_ip6, int dir, u8 proto, u16 port_net)
{
  clib_bihash_kv_24_8_t kv;
  ip46_address_t a;

  cn_static_addr_of (&a, p, is_ip6);
  if ((proto == IP_PROTOCOL_TCP || proto == IP_PROTOCOL_UDP) &&
      (cn_static_fib_bits (fib, is_ip6) & CN_STATIC_PORT_BIT (dir)))
    {
      cn_static_key (&kv, &a, fib, dir, proto, port_net, is_ip6);
      if (!clib_bihash_search_inline_24_8 (&cn_static_main.db, &kv))
	return (u32) kv.value;
    }
  cn_static_key (&kv, &a, fib, dir, 0, 0, is_ip6);
  if (!clib_bihash_search_inline_24_8 (&cn_static_main.db, &kv))
    return (u32) kv.value;
  return ~0;
}

/* Is dst (in fib) an outside address of some mapping? */
static_always_inline int
cn_static_has_in (u32 fib, const u8 *p, int is_ip6)
{
  clib_bihash_kv_24_8_t kv;
  ip46_address_t a;
  if (!cn_static_fib_has (fib, is_ip6, CN_STATIC_IN))
    return 0;
  cn_static_addr_of (&a, p, is_ip6);
  cn_static_key (&kv, &a, fib, CN_STATIC_IN, CN_STATIC_ANY, 0, is_ip6);
  return !clib_bihash_search_inline_24_8 (&cn_static_main.db, &kv);
}

/* Is address p inside m's inside prefix? */
static_always_inline int
cn_static_in_inside (const cn_static_t *m, const u8 *p)
{
  if (!m->is_ip6)
    {
      u32 mask = m->len ? clib_host_to_net_u32 (~0u << (32 - m->len)) : 0;
      return (cn_ld32 (p) & mask) == m->in_pfx.ip4.as_u32;
    }
  for (int i = 0; i < 16; i++)
    {
      int bits = clib_min (8, clib_max (0, (int) m->len - 8 * i));
      u8 mask = bits ? (u8) (0xff << (8 - bits)) : 0;
      if ((p[i] & mask) != m->in_pfx.as_u8[i])
	return 0;
    }
  return 1;
}

/* Map address p of one side of m to the other side (host bits kept). */
static_always_inline void
cn_static_map (const cn_static_t *m, const u8 *p, int dir, u8 *out)
{
  const ip46_address_t *to = dir == CN_STATIC_OUT ? &m->out_pfx : &m->in_pfx;
  if (!m->is_ip6)
    {
      u32 mask = m->len ? clib_host_to_net_u32 (~0u << (32 - m->len)) : 0;
      cn_st32 (out, (to->ip4.as_u32 & mask) | (cn_ld32 (p) & ~mask));
      return;
    }
  for (int i = 0; i < 16; i++)
    {
      int bits = clib_min (8, clib_max (0, (int) m->len - 8 * i));
      u8 mask = bits ? (u8) (0xff << (8 - bits)) : 0;
      out[i] = (to->as_u8[i] & mask) | (p[i] & ~mask);
    }
}

/* ---- pools (cloudnat_pool.c): data path hooks ---- */
#define CN_POOL_NOT_BOUND (-1)
/* a bound source: 0 and a decided, or a CN_SNAT_* pass / drop code */
int cn_pool_decide (cn_sess_create_args_t *a);
/* another port of the subscriber's blocks whose reply tuple is free */
int cn_pool_pick_port (cn_sess_create_args_t *a, int (*is_free) (u16 port, void *ctx));
/* a decided flow that made no session gives its reservation back */
void cn_pool_unreserve (cn_sess_create_args_t *a);
/* main thread: a session of subscriber sub_index on port (net order) ended */
void cn_pool_session_gone (u32 sub_index, u16 port_net);
void cn_pool_init (vlib_main_t *vm);
/* prefixes (cloudnat_snat.c): mask host bits; is a inside pfx/len */
void cn_prefix_mask (ip46_address_t *a, u8 len, ip_address_family_t af);
int cn_table_prefix_check (u32 table_id, const ip46_address_t *pfx, u8 len, ip_address_family_t af,
			   u32 *fib_index);
int cn_pfx_contains (const ip46_address_t *pfx, u8 len, const ip46_address_t *a, u8 is_ip6);
/* main thread: a binding or static mapping needs the source-NAT feature on
   the interfaces of its inside table (delta +1), or no longer (-1) */
void cn_snat_table_feature_ref (u32 fib_index, ip_address_family_t af, int delta);
void cn_pool_log_drain (vlib_main_t *vm);
/* under the barrier: end the sessions of a pool's subscribers (of one,
   sub_index, or of all: ~0) */
void cn_sessions_of_pool (u32 pool_index, u32 sub_index);
int cn_pool_sub_in_pool (u32 sub_index, u32 pool_index);
int cn_snat_decide (cn_sess_create_args_t *a);
/* another free source port for a (its reply tuple free, not cooling) */
int cn_session_pick_port (cn_sess_create_args_t *a);

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

/* ---- node errors ---- */
#define foreach_cn_error                                                                           \
  _ (SESSION_HIT, session_hit, INFO, "packets of existing sessions")                               \
  _ (SESSION_CREATED, session_created, INFO, "sessions created")                                   \
  _ (ICMP_ERROR_TRANSLATED, icmp_error_translated, INFO, "ICMP errors translated")                 \
  _ (PASSED, passed, INFO, "packets passed untouched")                                             \
  _ (SNAT_EXCLUDED, snat_excluded, INFO, "source NAT skipped: excluded or local destination")      \
  _ (NO_SNAT_ADDRESS, no_snat_address, INFO, "source NAT skipped: no address for the table")       \
  _ (NO_TRANSLATION, no_translation, ERROR, "dropped: VIP port without translation")               \
  _ (NOT_TRANSLATABLE, not_translatable, ERROR,                                                    \
     "dropped: fragment, truncated or unsupported packet to a VIP")                                \
  _ (ICMP_ERROR_NO_SESSION, icmp_error_no_session, ERROR,                                          \
     "dropped: ICMP error to a VIP without session")                                               \
  _ (SESSION_LIMIT, session_limit, ERROR, "dropped: session limit reached")                        \
  _ (PORT_EXHAUSTED, port_exhausted, ERROR, "dropped: no free source port")                        \
  _ (REPLY_TUPLE_IN_USE, reply_tuple_in_use, ERROR,                                                \
     "dropped: reply 5-tuple already used by another session")                                     \
  _ (NO_MEMORY, no_memory, ERROR, "dropped: session table full")                                   \
  _ (NO_BACKEND, no_backend, ERROR, "dropped: translation has no backend")                         \
  _ (CLIENT_WAIT, client_wait, INFO,                                                               \
     "first packets handed to the main thread until their client's replies are captured")          \
  _ (CLIENT_WAIT_FULL, client_wait_full, ERROR,                                                    \
     "dropped: main thread's queue full (first packet of a new client)")                           \
  _ (FRAGMENTS, fragments, INFO, "fragments matched to their datagram")          \
  _ (FRAG_HELD, frag_held, INFO, "fragments held until first arrives")              \
  _ (FRAG_MALFORMED, frag_malformed, ERROR, "fragment headers unreadable")           \
  _ (FRAG_TABLE_FULL, frag_table_full, ERROR, "max-in-flight datagrams reached") \
  _ (FRAG_TOO_MANY, frag_too_many, ERROR, "frag max-per-datagram reached")           \
  _ (FRAG_HOLD_FULL, frag_hold_full, ERROR, "frag max-held reached")                  \
  _ (FRAG_TINY, frag_tiny, ERROR, "frag too short for its L4 header")           \
  _ (FRAG_UNSUPPORTED, frag_unsupported, ERROR, "later frag of an ICMP error")                         \
  _ (FRAG_TIMEOUT, frag_timeout, ERROR, "first fragment never came")      \
  _ (ICMP_ERROR_BAD_CSUM, icmp_error_bad_csum, ERROR, "ICMP error with a bad checksum")         \
  _ (TTL_EXPIRED, ttl_expired, INFO, "TTL 1: time exceeded, untranslated")                         \
  _ (TOO_BIG, too_big, INFO, "inbound over MTU: error sent")                                      \
  _ (UNTRANSLATABLE, untranslatable, ERROR, "untranslatable from a NATed source")                  \
  _ (HAIRPINNED, hairpinned, INFO, "hairpinned to an inside endpoint")                            \
  _ (FILTER_ADMITTED, filter_admitted, INFO, "inbound admitted by EIF/ADF")                            \
  _ (STATIC_TRANSLATED, static_translated, INFO, "rewritten by a static mapping")          \
  _ (POOL_INSIDE, pool_inside, INFO, "dst inside its table: not NATed") \
  _ (POOL_EXHAUSTED, pool_exhausted, ERROR, "pool has no block or cap reached")

typedef enum
{
#define _(sym, name, sev, str) CN_ERROR_##sym,
  foreach_cn_error
#undef _
    CN_N_ERROR,
} cn_error_t;

extern vlib_error_desc_t cn_error_counters[];

/* trace record */
typedef struct
{
  u32 session_index;
  u32 tr_index;
  u32 fib_index;
  u8 is_ip6;
  u8 proto;
  u8 what; /* CN_TRACE_* */
  u8 dir;
  u16 error;
  ip46_address_t src, dst, nsrc, ndst;
  u16 sport, dport, nsport, ndport; /* network order */
} cn_trace_t;

#define CN_TRACE_MISS	 0
#define CN_TRACE_HIT	 1
#define CN_TRACE_CREATED 2
#define CN_TRACE_ICMP	 3
#define CN_TRACE_DROP	 4
#define CN_TRACE_STATIC	 5

format_function_t format_cn_trace;

/* misc */
u32 cn_table_id_of_fib (u32 fib_index, ip_address_family_t af);
void cn_session_view_fill4 (const cn_sess4_t *s, u32 index, cloudnat_session_view_t *v, u32 now);
void cn_session_view_fill6 (const cn_sess6_t *s, u32 index, cloudnat_session_view_t *v, u32 now);
u32 cn_session_timeout (u8 proto, u8 tcp);
/* delete every session of a translation whose backend map[] is ~0, and
   renumber the others (map == NULL: delete all of the translation) */
void cn_sessions_of_translation (u32 tr_index, const u32 *map);
/* delete sessions using an SNAT address */
void cn_sessions_of_snat_address (u32 fib_index, const ip46_address_t *a, ip_address_family_t af);
u32 cn_session_purge_fib (int af_mask, u32 fib4, u32 fib6);

#endif /* __included_cloudnat_priv_h__ */
