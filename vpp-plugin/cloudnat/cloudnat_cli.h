/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_cli.h: parsing and formatting helpers shared by the plugin's
 * CLI files (defined in cloudnat_cli.c). Each parser returns an error that
 * says what was expected and what it got; nothing is changed on error.
 */
#ifndef __included_cloudnat_cli_h__
#define __included_cloudnat_cli_h__

#include <vnet/ip/ip_types.h>
#include <cloudnat/cloudnat.h>

#define CN_CLI_PROTO_HELP "expected tcp, udp or icmp"

/* the context of the "show" walks: where to print, how many printed */
typedef struct
{
  vlib_main_t *vm;
  u32 n;
} cn_cli_show_ctx_t;

u8 *format_cn_cli_rest (u8 *s, va_list *args);

clib_error_t *cn_cli_unformat_proto (unformat_input_t *input, u8 *proto);

clib_error_t *cn_cli_proto_fix_family (u8 *proto, ip_address_family_t af);

const char *cn_cli_af_name (ip_address_family_t af);

clib_error_t *cn_cli_unformat_port (unformat_input_t *input, const char *what, u16 *port);

clib_error_t *cn_cli_unformat_u32 (unformat_input_t *input, const char *what, u32 *v);

clib_error_t *cn_cli_check_table (u32 table_id, ip_address_family_t af);

clib_error_t *cn_cli_check_table_any (u32 table_id);

clib_error_t *cn_cli_unformat_opt_table_any (unformat_input_t *input, u32 *table_id);

clib_error_t *cn_cli_no_args (unformat_input_t *input);

int cn_cli_ip46_is_zero (const ip46_address_t *a);

int cn_cli_ip46_is_multicast (const ip46_address_t *a, ip_address_family_t af);

void cn_cli_ip_to_46 (const ip_address_t *in, ip46_address_t *out, ip_address_family_t *af);

clib_error_t *cn_cli_unformat_prefix (unformat_input_t *input, const char *what,
				      ip46_address_t *addr, u8 *len, ip_address_family_t *af,
				      int allow_host);

clib_error_t *cn_cli_rv_error (int rv);

u8 *format_cn_cli_session (u8 *s, va_list *args);

#endif /* __included_cloudnat_cli_h__ */
