/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_pool.h: pools for carrier-grade NAT (cloudnat_pool.c), their
 * control API (for cloudnat_pool_cli.c and cloudnat_pool_api.c) and the
 * hooks the data path calls.
 *
 * A pool is a set of outside addresses in one outside table, handed out in
 * blocks of ports. A binding says that sources in an inside prefix of an
 * inside table are translated with a pool. A subscriber is (inside table,
 * inside address): its flows all use one pool address (paired pooling)
 * and ports of its blocks. Blocks are taken on the subscriber's first
 * packet (or assigned by the control plane: static blocks) and a dynamic
 * block is released when its last session ends; a released block is not
 * handed to another subscriber before the pool's reuse delay.
 *
 * Sessions are the ordinary sessions of cloudnat_session.c: the forward
 * key lives in the inside table, the reply key in the outside table, and
 * a reply is forwarded in the inside table. Round one's per-table source
 * NAT ("cnat snat with") makes the same decision with the table's own
 * addresses, without blocks (cn_snat_decide is the one entry point).
 */
#ifndef __included_cloudnat_pool_h__
#define __included_cloudnat_pool_h__

#include <vnet/vnet.h>
#include <vnet/ip/ip.h>

#define CN_POOL_NAME_MAX	   63
#define CN_POOL_MAX_ADDRS	   65536
#define CN_SUB_MAX_BLOCKS	   8
#define CN_POOL_DEFAULT_PORT_MIN   1024
#define CN_POOL_DEFAULT_PORT_MAX   65535
#define CN_POOL_DEFAULT_BLOCK	   256
#define CN_POOL_DEFAULT_MAX_BLOCKS 4
#define CN_POOL_DEFAULT_REUSE	   120

/* same values as the API's cloudnat_filtering */
#define CN_FILTER_ADDRESS_PORT 0
#define CN_FILTER_ADDRESS      1
#define CN_FILTER_ENDPOINT     2

typedef struct
{
  ip46_address_t first, last;
} cloudnat_range_t;

typedef struct
{
  u8 *name; /* vec, no NUL */
  u32 outside_table_id;
  ip_address_family_t af;
  u16 port_min, port_max; /* 0, 0: defaults */
  u16 block_size;	  /* 0: default */
  u16 max_blocks;	  /* per subscriber; 0: default */
  u32 max_sessions;	  /* per subscriber; 0: none */
  u32 reuse_delay;	  /* seconds */
  u8 filtering;		  /* CN_FILTER_* */
  u32 sw_if_index;	  /* ~0: none; else the interface's address is the pool */
  u8 static_only;	  /* no dynamic blocks: only cloudnat_subscriber_block_add_del's */
  cloudnat_range_t *ranges; /* vec */
} cloudnat_pool_spec_t;

typedef struct
{
  const cloudnat_pool_spec_t *spec; /* normalised */
  u32 index;
  u32 n_addrs;
  u32 n_subscribers;
  u32 n_blocks, n_blocks_used, n_blocks_cooling;
  u64 n_sessions;
  u64 n_exhausted;
} cloudnat_pool_info_t;

/*
 * Add a pool or replace the one with the same name. Validation (nothing
 * changes on error):
 *  - name empty, too long, not [a-zA-Z0-9._-] ... VNET_API_ERROR_INVALID_VALUE
 *  - outside table does not exist ................ VNET_API_ERROR_NO_SUCH_FIB
 *  - port_min > port_max, or port_min 0 ........... VNET_API_ERROR_INVALID_VALUE_2
 *  - block size not a power of two, or larger than
 *    the port range (the pool has fewer ports
 *    than one block) .............................. VNET_API_ERROR_INVALID_VALUE_3
 *  - max_blocks > CN_SUB_MAX_BLOCKS ............... VNET_API_ERROR_INVALID_VALUE_4
 *  - no range and no interface, a range whose
 *    first > last, of the other family, zero or
 *    multicast, more than CN_POOL_MAX_ADDRS ....... VNET_API_ERROR_INVALID_ADDRESS_FAMILY /
 *                                                   VNET_API_ERROR_INVALID_SRC_ADDRESS
 *  - filtering not one of CN_FILTER_* ............. VNET_API_ERROR_UNIMPLEMENTED
 * A replace keeps subscribers whose address and blocks still fit; the
 * others lose their sessions and blocks (logged as released).
 */
int cloudnat_pool_add_update (const cloudnat_pool_spec_t *spec, u32 *index);
/* Delete by name; absent = 0; bound = VNET_API_ERROR_INSTANCE_IN_USE. */
int cloudnat_pool_del (const u8 *name);
typedef walk_rc_t (*cloudnat_pool_walk_cb_t) (const cloudnat_pool_info_t *info, void *ctx);
void cloudnat_pool_walk (cloudnat_pool_walk_cb_t cb, void *ctx);

/* Bind (unbind) an inside prefix of a table to a pool. The prefix's
   family must be the pool's; a prefix overlapping another binding of the
   table = VNET_API_ERROR_ENTRY_ALREADY_EXISTS; unknown pool =
   VNET_API_ERROR_NO_SUCH_ENTRY. Idempotent both ways. */
int cloudnat_pool_bind (u32 table_id, const ip46_address_t *pfx, u8 len, ip_address_family_t af,
			const u8 *pool, int is_add);
typedef walk_rc_t (*cloudnat_pool_bind_walk_cb_t) (u32 table_id, const ip46_address_t *pfx, u8 len,
						   ip_address_family_t af, const u8 *pool,
						   void *ctx);
void cloudnat_pool_bind_walk (cloudnat_pool_bind_walk_cb_t cb, void *ctx);

/* Assign (remove) a static block: port_start must start a block of the
   pool, outside an address of the pool, the block free (or already this
   subscriber's). A subscriber's blocks are all on one address. */
int cloudnat_subscriber_block_add_del (const u8 *pool, u32 table_id, const ip46_address_t *inside,
				       const ip46_address_t *outside, ip_address_family_t af,
				       u16 port_start, int is_add);

typedef struct
{
  const u8 *pool;
  u32 table_id;
  ip_address_family_t af;
  ip46_address_t inside, outside;
  u32 n_sessions;
  u32 n_blocks;
  u16 block_start[CN_SUB_MAX_BLOCKS];
  u16 block_end[CN_SUB_MAX_BLOCKS];
  u8 block_static[CN_SUB_MAX_BLOCKS];
} cloudnat_subscriber_info_t;

typedef walk_rc_t (*cloudnat_subscriber_walk_cb_t) (const cloudnat_subscriber_info_t *s,
						    void *ctx);
/* table_id ~0 = all tables; pool NULL or empty = all pools */
void cloudnat_subscriber_walk (u32 table_id, const u8 *pool, cloudnat_subscriber_walk_cb_t cb,
			       void *ctx);

/* ---- block log ---- */
typedef struct
{
  f64 unix_time;
  u8 is_alloc;
  u8 is_static;
  /* the subscriber was refused a port (no block left, or its cap): at
     most one such record per subscriber per 10 s; outside and ports are
     what it holds (zero: nothing) */
  u8 is_exhausted;
  ip_address_family_t af;
  u32 pool_index;
  u32 table_id;
  ip46_address_t inside, outside;
  u16 port_start, port_end;
} cloudnat_block_log_t;

/* the last records, oldest first, for "cnat show pool log" */
void cloudnat_block_log_history (cloudnat_block_log_t **recs);
/* name of a pool by index (log records name their pool) */
const u8 *cloudnat_pool_name (u32 pool_index);
/* implemented by the API front end: deliver one record to the registered
   consumer; returns 0 when none is registered, 1 when sent, -1 when the
   consumer's queue is full (the record is counted as lost) */
int cn_pool_log_deliver (const cloudnat_block_log_t *r, u64 n_lost);
u64 cloudnat_block_log_lost (void);

#endif /* __included_cloudnat_pool_h__ */
