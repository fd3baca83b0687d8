/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_frag.h: fragments (cloudnat_frag.c).
 *
 * A fragment carries no ports, so it cannot be looked up by itself. The
 * tracker remembers, per datagram (table, addresses, identification,
 * protocol), what its first fragment said (kind, L4 protocol, ports);
 * every other fragment of the datagram is then translated with those,
 * touching only its IP header. Fragments that arrive before their first
 * are held (bounded) and sent back through ip4-input / ip6-input when the
 * first arrives; what cannot be matched in time is dropped and counted.
 * No fragment of a flow that must be translated leaves untranslated.
 */
#ifndef __included_cloudnat_frag_h__
#define __included_cloudnat_frag_h__

#include <vlib/vlib.h>
#include <vnet/ip/ip46_address.h>
#include <vppinfra/lock.h>
#include <cn_pkt.h>

/* hard cap of fragments per datagram (the held array is inline) */
#define CN_FRAG_PER_DATAGRAM_MAX 64

/* defaults: what a fresh start does */
#define CN_FRAG_DEFAULT_TIMEOUT_MS   2000
#define CN_FRAG_DEFAULT_MAX_IN_FLIGHT 1024
#define CN_FRAG_DEFAULT_PER_DATAGRAM 64
#define CN_FRAG_DEFAULT_MAX_HELD     1024

/* a buffer sent back through ip(4|6)-input by the tracker: not counted
   again against its datagram's fragment limit */
#define CN_BUFFER_F_FRAG_RELEASED VNET_BUFFER_F_AVAIL1

typedef struct
{
  ip46_address_t src, dst;
  u32 fib_index;
  u32 id;
  u8 proto; /* cn_frag_info_t.proto */
  u8 is_ip6;
  u8 have_first;
  u8 kind; /* of the first fragment (cn_pkt_kind_t) */
  u8 l4_proto;
  u8 n_held;
  u16 n_seen;
  u16 sport, dport;
  u32 created; /* plugin clock, ticks */
  u32 next;    /* hash chain (ring index), ~0 at the end */
  u32 held_node; /* node that held the buffers (for its counters) */
  u32 out_id;	 /* identification every fragment leaves with */
  u32 held[CN_FRAG_PER_DATAGRAM_MAX];
} cn_frag_ctx_t;

typedef struct
{
  clib_spinlock_t lock;
  /* contexts in a ring, in the order they were made: with one timeout for
     all, the oldest is always the first to expire, so expiry only ever
     looks at the head */
  cn_frag_ctx_t *ring;
  u32 head, n;
  u32 *buckets; /* ring index of the chain's first context, ~0 none */
  u32 n_held_total;
  /* settings */
  u32 timeout_ms;
  u32 max_in_flight;
  u32 max_per_datagram;
  u32 max_held;
  /* per thread: released buffers to send back at the end of the frame */
  u32 **reinject;
  /* totals for show (the per-node counters say which node) */
  u64 n_timeouts;
  u32 id_seq;
} cn_frag_main_t;

extern cn_frag_main_t cn_frag_main;

typedef enum
{
  CN_FRAG_R_GO,	  /* pi describes the fragment: translate it */
  CN_FRAG_R_HELD, /* kept until its first fragment comes */
  CN_FRAG_R_DROP, /* *error says why */
} cn_frag_result_t;

cn_frag_result_t cn_frag_track (vlib_main_t *vm, vlib_node_runtime_t *node, u32 bi,
				vlib_buffer_t *b, const u8 *ip, u32 len, int is_ip6, u32 fib_index,
				u32 now, cn_pkt_info_t *pi, u32 *error);
void cn_frag_expire (vlib_main_t *vm, u32 now);
clib_error_t *cn_frag_init (vlib_main_t *vm);
int cn_frag_config (u32 timeout_ms, u32 max_in_flight, u32 max_per_datagram, u32 max_held);

/* Send the buffers the frame's first fragments released back through
   ip(4|6)-input (next_index), where they take the path they came on. */
static_always_inline void
cn_frag_reinject_flush (vlib_main_t *vm, vlib_node_runtime_t *node, u16 next_index)
{
  u32 **v = &cn_frag_main.reinject[vm->thread_index];
  if (PREDICT_TRUE (vec_len (*v) == 0))
    return;
  vlib_buffer_enqueue_to_single_next (vm, node, *v, next_index, vec_len (*v));
  vec_reset_length (*v);
}

#endif /* __included_cloudnat_frag_h__ */
