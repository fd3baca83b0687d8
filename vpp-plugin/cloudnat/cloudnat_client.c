/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_client.c: capture of addresses through the FIB.
 *
 * A client is one address in one FIB table that cloudnat must see packets
 * to. A VIP gets an exclusive /32 (/128) entry whose DPO leads to the
 * cloudnat node, where a miss is dropped. Everything else (real addresses,
 * SNAT addresses, reply destinations of sessions) is interposed: the FIB
 * hands us the forwarding the address had (its local receive, its
 * adjacency, or its cover's) as a parent, and a miss in the node goes on
 * to that parent untouched.
 *
 * FIB entries are only changed on the main thread with workers stopped. A
 * worker that creates a VIP session whose replies go to an address nobody
 * captures yet hands the packet to the main thread (ip4/ip6-cloudnat-client-wait):
 * it adds the capture, then forwards the packet, so the backend cannot
 * answer before its answer is captured. Elsewhere (the main thread's own
 * sessions, or a full handoff queue) a forced RPC asks for the capture.
 * Clients losing their last reference outside the barrier (expiry by the
 * scanner) are only queued; cn_client_gc() removes them under the barrier.
 */

#include <vnet/fib/fib_table.h>
#include <vnet/fib/fib_entry.h>
#include <vnet/dpo/drop_dpo.h>
#include <vnet/dpo/receive_dpo.h>
#include <vnet/dpo/load_balance.h>
#include <vnet/dpo/lookup_dpo.h>
#include <cloudnat/cloudnat_priv.h>

static u32 *cn_client_gc_pending;

/* Session refs dropped before the RPC that takes them has run (the
   session expired or was deleted first): key -> count, main thread only. */
static uword *cn_client_early_unrefs;

typedef struct
{
  ip46_address_t addr;
  u32 fib_index;
  u32 af;
} cn_client_hkey_t;

static void
cn_client_key (clib_bihash_kv_24_8_t *kv, u32 fib_index, const ip46_address_t *a,
	       ip_address_family_t af)
{
  kv->key[0] = a->as_u64[0];
  kv->key[1] = a->as_u64[1];
  kv->key[2] = (u64) fib_index << 8 | af;
  kv->value = ~0ULL;
}

u32
cn_client_find (u32 fib_index, const ip46_address_t *a, ip_address_family_t af)
{
  clib_bihash_kv_24_8_t kv;
  cn_client_key (&kv, fib_index, a, af);
  if (clib_bihash_search_inline_24_8 (&cn_dp.client_db, &kv))
    return ~0;
  return (u32) kv.value;
}

static void
cn_client_prefix (const cn_client_t *c, fib_prefix_t *pfx)
{
  clib_memset (pfx, 0, sizeof (*pfx));
  if (c->af == AF_IP4)
    {
      pfx->fp_proto = FIB_PROTOCOL_IP4;
      pfx->fp_len = 32;
      pfx->fp_addr.ip4 = c->addr.ip4;
    }
  else
    {
      pfx->fp_proto = FIB_PROTOCOL_IP6;
      pfx->fp_len = 128;
      pfx->fp_addr.ip6 = c->addr.ip6;
    }
}

/* Make the FIB match the client's counts. Caller holds the barrier. */
static void
cn_client_sync (u32 ci)
{
  cn_client_t *c = pool_elt_at_index (cn_dp.clients, ci);
  /* A VIP is taken whole. So is an address only cloudnat stands for (a
     source-NAT address or a backend's source rewrite that no interface
     owns): the FIB will not interpose on an address without a route, and
     it has no other use. Addresses of interfaces and the addresses of
     DNAT clients are interposed on. */
  int interposable =
    c->n_static == 0 || cn_addr_is_interface_address (c->fib_index, &c->addr, c->af);
  u8 want = (c->n_vip || !interposable)	       ? CN_CAPTURE_EXCLUSIVE :
	    (c->n_static || c->n_sessions > 0) ? CN_CAPTURE_INTERPOSE :
						 CN_CAPTURE_NONE;
  fib_prefix_t pfx;
  dpo_proto_t dproto;
  dpo_id_t tmp = DPO_INVALID;
  cn_cdpo_t *cd;

  if (want == c->mode && (c->n_vip > 0) == c->mode_vip)
    return;
  cn_client_prefix (c, &pfx);
  dproto = fib_proto_to_dpo (pfx.fp_proto);
  if (c->mode != CN_CAPTURE_NONE)
    {
      fib_table_entry_special_remove (c->fib_index, &pfx, cn_dp.fib_src);
      c->mode = CN_CAPTURE_NONE;
    }
  if (want == CN_CAPTURE_NONE)
    return;

  pool_get_zero (cn_dp.cdpos, cd);
  cd->client_index = ci;
  cd->fib_index = c->fib_index;
  cd->is_vip = c->n_vip > 0;
  /* an exclusive entry has no parent; a miss is dropped */
  dpo_copy (&cd->parent, drop_dpo_get (dproto));
  dpo_set (&tmp, cn_dp.dpo_type, dproto, cd - cn_dp.cdpos);
  fib_table_entry_special_dpo_add (
    c->fib_index, &pfx, cn_dp.fib_src,
    FIB_ENTRY_FLAG_LOOSE_URPF_EXEMPT |
      (want == CN_CAPTURE_EXCLUSIVE ? FIB_ENTRY_FLAG_EXCLUSIVE : FIB_ENTRY_FLAG_INTERPOSE),
    &tmp);
  dpo_reset (&tmp);
  /* pool_elt may have moved if the FIB created clones */
  c = pool_elt_at_index (cn_dp.clients, ci);
  c->mode = want;
  c->mode_vip = c->n_vip > 0;
}

static void
cn_client_maybe_free (u32 ci)
{
  cn_client_t *c = pool_elt_at_index (cn_dp.clients, ci);
  clib_bihash_kv_24_8_t kv;

  cn_client_sync (ci);
  c = pool_elt_at_index (cn_dp.clients, ci);
  if (c->n_vip || c->n_static || c->n_sessions > 0)
    return;
  cn_client_key (&kv, c->fib_index, &c->addr, c->af);
  clib_bihash_add_del_24_8 (&cn_dp.client_db, &kv, 0);
  pool_put (cn_dp.clients, c);
}

u32
cn_client_ref (u32 fib_index, const ip46_address_t *a, ip_address_family_t af, int kind)
{
  vlib_main_t *vm = vlib_get_main ();
  clib_bihash_kv_24_8_t kv;
  cn_client_t *c;
  u32 ci;

  vlib_worker_thread_barrier_sync (vm);
  ci = cn_client_find (fib_index, a, af);
  if (ci == ~0)
    {
      pool_get_zero (cn_dp.clients, c);
      c->addr = *a;
      c->af = af;
      c->fib_index = fib_index;
      ci = c - cn_dp.clients;
      cn_client_key (&kv, fib_index, a, af);
      kv.value = ci;
      clib_bihash_add_del_24_8 (&cn_dp.client_db, &kv, 1);
    }
  c = pool_elt_at_index (cn_dp.clients, ci);
  if (kind == CN_CLIENT_REF_VIP)
    c->n_vip++;
  else if (kind == CN_CLIENT_REF_STATIC)
    c->n_static++;
  else
    c->n_sessions++;
  cn_client_sync (ci);
  vlib_worker_thread_barrier_release (vm);
  return ci;
}

void
cn_client_unref (u32 ci, int kind)
{
  vlib_main_t *vm = vlib_get_main ();
  cn_client_t *c;

  if (ci == ~0 || pool_is_free_index (cn_dp.clients, ci))
    return;
  vlib_worker_thread_barrier_sync (vm);
  c = pool_elt_at_index (cn_dp.clients, ci);
  if (kind == CN_CLIENT_REF_VIP && c->n_vip)
    c->n_vip--;
  else if (kind == CN_CLIENT_REF_STATIC && c->n_static)
    c->n_static--;
  else if (kind == CN_CLIENT_REF_SESSION)
    c->n_sessions--;
  cn_client_maybe_free (ci);
  vlib_worker_thread_barrier_release (vm);
}

typedef struct
{
  ip46_address_t addr;
  u32 fib_index;
  u8 af;
} cn_client_rpc_t;

static void
cn_client_session_ref_rpc (void *arg)
{
  cn_client_rpc_t *r = arg;
  cn_client_hkey_t hk = { .addr = r->addr, .fib_index = r->fib_index, .af = r->af };
  uword *p;

  if (cn_client_early_unrefs && (p = hash_get_mem (cn_client_early_unrefs, &hk)))
    {
      /* its session is gone already: the ref and the unref cancel out */
      if (--p[0] == 0)
	{
	  hash_pair_t *hp = hash_get_pair_mem (cn_client_early_unrefs, &hk);
	  void *k = (void *) hp->key;
	  hash_unset_mem (cn_client_early_unrefs, &hk);
	  clib_mem_free (k);
	}
      return;
    }
  cn_client_ref (r->fib_index, &r->addr, r->af, CN_CLIENT_REF_SESSION);
}

void
cn_client_session_ref_n (u32 client_index, u32 n)
{
  /* the pool only changes under the barrier: safe from a worker */
  clib_atomic_fetch_add_relax (&pool_elt_at_index (cn_dp.clients, client_index)->n_sessions, n);
}

void
cn_client_session_ref_new (u32 fib_index, const ip46_address_t *a, ip_address_family_t af)
{
  cn_client_rpc_t r;

  clib_memset (&r, 0, sizeof (r));
  r.addr = *a;
  r.fib_index = fib_index;
  r.af = af;
  vlib_force_rpc_call_main_thread (cn_client_session_ref_rpc, (u8 *) &r, sizeof (r));
  /* An RPC does not wake the main thread, which sleeps up to 10 ms when it
     polls nothing (with workers, the usual case); until it has run, this
     client's replies are not captured. Wake it: the window shrinks from
     up to 10 ms to the time the main thread takes to wake. */
  if (vlib_get_thread_index () != 0)
    vlib_thread_wakeup (0);
}

/* ------------------------------------------------------------------ */
/* holding a new client's first packet (workers -> main thread)        */
/* ------------------------------------------------------------------ */

/* Why: until the main thread has put a new client's capture in the FIB,
   the backend's reply to that client is routed past cloudnat and leaves
   untranslated (the client then resets or retries a second later). An RPC
   alone leaves a window of up to 10 ms with workers (the main thread
   sleeps that long when it polls nothing); holding the packet that made
   the session until the capture is in closes it for the packet that the
   backend answers. Later packets of the same flow in that window (a UDP
   burst) are not held: they may overtake it. */

#define CN_CLIENT_WAIT_BATCH 32

typedef struct
{
  u32 fib_index;
  ip46_address_t client;
} cn_client_wait_trace_t;

static u8 *
format_cn_client_wait_trace (u8 *s, va_list *args)
{
  CLIB_UNUSED (vlib_main_t * vm) = va_arg (*args, vlib_main_t *);
  CLIB_UNUSED (vlib_node_t * node) = va_arg (*args, vlib_node_t *);
  cn_client_wait_trace_t *t = va_arg (*args, cn_client_wait_trace_t *);
  return format (s, "cloudnat: captured replies to %U in fib %u, forwarding", format_ip46_address,
		 &t->client, IP46_TYPE_ANY, t->fib_index);
}

/* main thread: the packet was translated by a worker; its source is the
   new client (the session's reply destination) and vnet ip.fib_index the
   table the VIP node created the session in (the translation leaves it) */
static_always_inline uword
cn_client_wait_inline (vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame, int is_ip6)
{
  u32 *from = vlib_frame_vector_args (frame), n = frame->n_vectors, i;
  vlib_buffer_t *bufs[VLIB_FRAME_SIZE];
  u16 nexts[VLIB_FRAME_SIZE];

  vlib_get_buffers (vm, from, bufs, n);
  for (i = 0; i < n; i++)
    {
      vlib_buffer_t *b = bufs[i];
      u8 *ip = vlib_buffer_get_current (b);
      u32 fib_index = vnet_buffer (b)->ip.fib_index;
      cn_client_rpc_t r;

      clib_memset (&r, 0, sizeof (r));
      if (is_ip6)
	ip46_address_set_ip6 (&r.addr, (ip6_address_t *) (ip + CN_IP6_SRC_OFF));
      else
	ip46_address_set_ip4 (&r.addr, (ip4_address_t *) (ip + CN_IP4_SRC_OFF));
      r.fib_index = fib_index;
      r.af = is_ip6 ? AF_IP6 : AF_IP4;
      /* One stop of the workers for every CN_CLIENT_WAIT_BATCH clients
	 (cn_client_ref's own sync nests): a burst of new clients stops
	 them neither once per client nor for a whole frame (each takes
	 ~21 us: 256 of them would hold the workers for 5 ms). */
      if (i % CN_CLIENT_WAIT_BATCH == 0)
	vlib_worker_thread_barrier_sync (vm);
      cn_client_session_ref_rpc (&r);
      if (i % CN_CLIENT_WAIT_BATCH == CN_CLIENT_WAIT_BATCH - 1 || i == n - 1)
	vlib_worker_thread_barrier_release (vm);
      /* look the (translated) destination up again in the same table */
      vnet_buffer (b)->sw_if_index[VLIB_TX] = fib_index;
      nexts[i] = 0;
      if (PREDICT_FALSE (b->flags & VLIB_BUFFER_IS_TRACED))
	{
	  cn_client_wait_trace_t *t = vlib_add_trace (vm, node, b, sizeof (*t));
	  t->fib_index = fib_index;
	  t->client = r.addr;
	}
    }
  vlib_buffer_enqueue_to_next (vm, node, from, nexts, n);
  return n;
}

static uword
cn_client_wait4_fn (vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame)
{
  return cn_client_wait_inline (vm, node, frame, 0);
}

static uword
cn_client_wait6_fn (vlib_main_t *vm, vlib_node_runtime_t *node, vlib_frame_t *frame)
{
  return cn_client_wait_inline (vm, node, frame, 1);
}

VLIB_REGISTER_NODE (cn_client_wait4_node) = {
  .function = cn_client_wait4_fn,
  .name = "ip4-cloudnat-client-wait",
  .vector_size = sizeof (u32),
  .format_trace = format_cn_client_wait_trace,
  .type = VLIB_NODE_TYPE_INTERNAL,
  .n_next_nodes = 1,
  .next_nodes = { [0] = "ip4-lookup" },
};

VLIB_REGISTER_NODE (cn_client_wait6_node) = {
  .function = cn_client_wait6_fn,
  .name = "ip6-cloudnat-client-wait",
  .vector_size = sizeof (u32),
  .format_trace = format_cn_client_wait_trace,
  .type = VLIB_NODE_TYPE_INTERNAL,
  .n_next_nodes = 1,
  .next_nodes = { [0] = "ip6-lookup" },
};

/* main loop entry: handoff queues to the main thread, when there are
   workers to hand off from */
void
cn_client_wait_init (vlib_main_t *vm)
{
  int is_ip6;

  cn_dp.client_wait_node_index[AF_IP4] = cn_client_wait4_node.index;
  cn_dp.client_wait_node_index[AF_IP6] = cn_client_wait6_node.index;
  for (is_ip6 = 0; is_ip6 < 2; is_ip6++)
    cn_dp.client_wait_fq[is_ip6] =
      vlib_get_n_threads () > 1 ?
	vlib_frame_queue_main_init (cn_dp.client_wait_node_index[is_ip6], 0) :
	~0;
}

/* worker: hand the n packets bis (first packets of new sessions,
   translated, whose clients have no capture yet) to the main thread, as
   one element of its queue; n if they went, 0 if the queue was full (they
   are dropped then, and the caller asks for their captures by RPC) */
u32
cn_client_wait_handoff (vlib_main_t *vm, vlib_node_runtime_t *node, u32 *bis, u32 n, int is_ip6)
{
  u16 tis[VLIB_FRAME_SIZE] = { 0 }; /* all to thread 0 */

  return vlib_buffer_enqueue_to_thread (vm, node, cn_dp.client_wait_fq[is_ip6], bis, tis, n, 1);
}

void
cn_client_session_unref (u32 fib_index, const ip46_address_t *a, ip_address_family_t af)
{
  u32 ci = cn_client_find (fib_index, a, af);
  cn_client_t *c;
  if (ci == ~0)
    {
      /* its RPC has not run yet: remember, so that it takes no ref */
      cn_client_hkey_t hk, *kp;
      uword *p;
      clib_memset (&hk, 0, sizeof (hk));
      hk.addr = *a;
      hk.fib_index = fib_index;
      hk.af = af;
      if (!cn_client_early_unrefs)
	cn_client_early_unrefs = hash_create_mem (0, sizeof (cn_client_hkey_t), sizeof (uword));
      if ((p = hash_get_mem (cn_client_early_unrefs, &hk)))
	p[0]++;
      else
	{
	  kp = clib_mem_alloc (sizeof (*kp));
	  *kp = hk;
	  hash_set_mem (cn_client_early_unrefs, kp, 1);
	}
      return;
    }
  c = pool_elt_at_index (cn_dp.clients, ci);
  if (clib_atomic_sub_fetch (&c->n_sessions, 1) <= 0 && !c->n_vip && !c->n_static)
    vec_add1 (cn_client_gc_pending, ci);
}

/* Remove clients that lost their last reference. Main thread. */
void
cn_client_gc (vlib_main_t *vm)
{
  u32 *ci;
  if (!vec_len (cn_client_gc_pending))
    return;
  vlib_worker_thread_barrier_sync (vm);
  vec_foreach (ci, cn_client_gc_pending)
    if (!pool_is_free_index (cn_dp.clients, *ci))
      cn_client_maybe_free (*ci);
  vec_reset_length (cn_client_gc_pending);
  vlib_worker_thread_barrier_release (vm);
}

/* ------------------------------------------------------------------ */
/* DPO type                                                            */
/* ------------------------------------------------------------------ */

static void
cn_cdpo_lock (dpo_id_t *dpo)
{
  pool_elt_at_index (cn_dp.cdpos, dpo->dpoi_index)->locks++;
}

static void
cn_cdpo_unlock (dpo_id_t *dpo)
{
  cn_cdpo_t *cd = pool_elt_at_index (cn_dp.cdpos, dpo->dpoi_index);
  if (--cd->locks == 0)
    {
      dpo_reset (&cd->parent);
      pool_put (cn_dp.cdpos, cd);
    }
}

static u8 *
format_cn_cdpo (u8 *s, va_list *args)
{
  index_t i = va_arg (*args, index_t);
  u32 indent = va_arg (*args, u32);
  cn_cdpo_t *cd = pool_elt_at_index (cn_dp.cdpos, i);
  cn_client_t *c = pool_is_free_index (cn_dp.clients, cd->client_index) ?
		     0 :
		     pool_elt_at_index (cn_dp.clients, cd->client_index);

  s = format (s, "cloudnat-%s[%d]", cd->is_vip ? "vip" : "interpose", i);
  if (c)
    s = format (s, " %U fib %d vip-refs %d static-refs %d session-refs %d", format_ip46_address,
		&c->addr, IP46_TYPE_ANY, c->fib_index, c->n_vip, c->n_static, c->n_sessions);
  if (!cd->is_vip)
    s =
      format (s, "\n%U%U", format_white_space, indent + 2, format_dpo_id, &cd->parent, indent + 2);
  return s;
}

/* The FIB stacks our DPO on the address's other forwarding: make a clone
   whose parent is that forwarding. */
static void
cn_cdpo_interpose (const dpo_id_t *original, const dpo_id_t *parent, dpo_id_t *clone)
{
  cn_cdpo_t *cd, *orig;
  u32 ci, is_vip;

  orig = pool_elt_at_index (cn_dp.cdpos, original->dpoi_index);
  u32 fib_index = orig->fib_index;
  ci = orig->client_index;
  is_vip = orig->is_vip;
  pool_get_zero (cn_dp.cdpos, cd);
  cd->client_index = ci;
  cd->fib_index = fib_index;
  cd->is_vip = is_vip;
  dpo_stack (cn_dp.dpo_type, original->dpoi_proto, &cd->parent, parent);
  dpo_set (clone, cn_dp.dpo_type, original->dpoi_proto, cd - cn_dp.cdpos);
}

const static dpo_vft_t cn_cdpo_vft = {
  .dv_lock = cn_cdpo_lock,
  .dv_unlock = cn_cdpo_unlock,
  .dv_format = format_cn_cdpo,
  .dv_mk_interpose = cn_cdpo_interpose,
};

const static char *const cn_cdpo_ip4_nodes[] = { "ip4-cloudnat", NULL };
const static char *const cn_cdpo_ip6_nodes[] = { "ip6-cloudnat", NULL };
const static char *const *const cn_cdpo_nodes[DPO_PROTO_NUM] = {
  [DPO_PROTO_IP4] = cn_cdpo_ip4_nodes,
  [DPO_PROTO_IP6] = cn_cdpo_ip6_nodes,
};

/* Is this forwarding local delivery (possibly behind our interpose)? */
void
cn_lookup_dpo_type_init (void)
{
  dpo_id_t d = DPO_INVALID;
  if (cn_dp.lookup_dpo_type)
    return;
  lookup_dpo_add_or_lock_w_fib_index (0, DPO_PROTO_IP4, LOOKUP_UNICAST, LOOKUP_INPUT_DST_ADDR,
				      LOOKUP_TABLE_FROM_CONFIG, &d);
  cn_dp.lookup_dpo_type = d.dpoi_type;
  dpo_reset (&d);
}

int
cn_dpo_is_local (const dpo_id_t *dpo)
{
  int depth;
  for (depth = 0; depth < 4; depth++)
    {
      if (dpo->dpoi_type == DPO_RECEIVE)
	return 1;
      if (dpo->dpoi_type == DPO_LOAD_BALANCE)
	{
	  const load_balance_t *lb = load_balance_get (dpo->dpoi_index);
	  if (lb->lb_n_buckets < 1)
	    return 0;
	  dpo = load_balance_get_bucket_i (lb, 0);
	  continue;
	}
      if (dpo->dpoi_type == cn_dp.dpo_type)
	{
	  dpo = &pool_elt_at_index (cn_dp.cdpos, dpo->dpoi_index)->parent;
	  continue;
	}
      return 0;
    }
  return 0;
}

void
cn_client_init (vlib_main_t *vm)
{
  cn_dp.dpo_type = dpo_register_new_type (&cn_cdpo_vft, cn_cdpo_nodes);
  /* priority just above cnat's so an interposed entry wins over the
     usual sources (lower value = better) */
  cn_dp.fib_src = fib_source_allocate ("cloudnat", 0x02, FIB_SOURCE_BH_SIMPLE);
  clib_bihash_init_24_8 (&cn_dp.client_db, "cloudnat clients", 1024, 64 << 20);
  clib_bihash_init_24_8 (&cn_dp.mapping_db, "cloudnat mappings", 64 << 10, 256 << 20);
  clib_bihash_init_24_8 (&cn_dp.inside_db, "cloudnat inside endpoints", 64 << 10, 256 << 20);
  clib_bihash_init_40_8 (&cn_dp.adf_db, "cloudnat address filters", 16 << 10, 128 << 20);
  clib_bihash_init_24_8 (&cn_dp.cooling_db, "cloudnat cooling ports", 64 << 10, 128 << 20);
}
