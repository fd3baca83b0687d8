/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_pool_priv.h: the pools' private state, shared by
 * cloudnat_pool.c (subscribers, blocks, the data path's hooks, the block
 * log) and cloudnat_pool_config.c (pools, bindings, static blocks, the
 * subscriber list). Threads and locking: see cloudnat_pool.c.
 */
#ifndef __included_cloudnat_pool_priv_h__
#define __included_cloudnat_pool_priv_h__

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

extern cn_pool_main_t cn_pool_main;

static_always_inline u32
cn_pool_ticks (u32 seconds)
{
  return seconds * CN_TICKS_PER_SEC;
}

/* with the lock (cloudnat_pool.c) */
void cn_pool_log (const cn_pool_t *p, const cn_sub_t *s, u16 block, int is_alloc);
u32 cn_sub_find (const ip46_address_t *a, u32 fib_index, u8 is_ip6);
u32 cn_sub_new (u32 pool_index, const ip46_address_t *a, u32 fib_index, u8 is_ip6);
void cn_sub_free (u32 si);
void cn_sub_release_block (cn_pool_t *p, cn_sub_t *s, u32 i, u32 now);
int cn_sub_block_of (const cn_pool_t *p, const cn_sub_t *s, u16 port);

#endif /* __included_cloudnat_pool_priv_h__ */
