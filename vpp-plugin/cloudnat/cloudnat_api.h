/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_api.h: decoding helpers shared by the binary API handlers
 * (cloudnat_api.c for round one's objects, cloudnat_pool_api.c for pools
 * and fragments). Include after the generated cloudnat.api_types.h.
 */
#ifndef __included_cloudnat_api_h__
#define __included_cloudnat_api_h__

#include <vlibapi/api.h>
#include <vlibmemory/api.h>

typedef struct
{
  vl_api_registration_t *rp;
  u32 context;
} cn_api_dump_ctx_t;

int cn_api_address_decode (const vl_api_address_t *in, ip46_address_t *out,
			   ip_address_family_t *af);
void cn_api_address_encode (const ip46_address_t *in, ip_address_family_t af,
			    vl_api_address_t *out);
int cn_api_prefix_decode (const vl_api_prefix_t *in, ip46_address_t *addr, u8 *len,
			  ip_address_family_t *af, int strict);
void cn_api_prefix_encode (const ip46_address_t *addr, u8 len, ip_address_family_t af,
			   vl_api_prefix_t *out);
int cn_api_check_table (u32 table_id, ip_address_family_t af);
int cn_api_dump_ctx_init (cn_api_dump_ctx_t *ctx, u32 client_index, u32 context);
void *cn_api_details_alloc (const cn_api_dump_ctx_t *ctx, uword size, u16 msg_id);

/* the messages cloudnat_pool_api.c and cloudnat_static_api.c handle */
#define foreach_cn_pool_api_msg                                                                    \
  _ (cloudnat_static_add_del)                                                                      \
  _ (cloudnat_static_dump)                                                                         \
  _ (cloudnat_fragments_set)                                                                       \
  _ (cloudnat_fragments_get)                                                                       \
  _ (cloudnat_pool_add_update)                                                                     \
  _ (cloudnat_pool_del)                                                                            \
  _ (cloudnat_pool_dump)                                                                           \
  _ (cloudnat_pool_bind_add_del)                                                                   \
  _ (cloudnat_pool_bind_dump)                                                                      \
  _ (cloudnat_subscriber_block_add_del)                                                            \
  _ (cloudnat_subscriber_dump)                                                                     \
  _ (cloudnat_want_block_log)

#endif /* __included_cloudnat_api_h__ */
