/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat.h: the plugin's main struct and its internal control API.
 *
 * This is the contract between the dataplane/core (cloudnat.c,
 * cloudnat_translation.c, cloudnat_session.c, cloudnat_snat.c, ...) and
 * the control front ends (cloudnat_cli.c, cloudnat_api.c).
 *
 * Rules that hold for every function below:
 *  - Call from the main thread. Functions that change state take the
 *    worker barrier themselves where they need it (barrier sync nests, so
 *    calling them from a CLI/API handler that already holds it is fine).
 *  - Return 0 or a VNET_API_ERROR_* code. A request that fails validation
 *    changes nothing.
 *  - table_id is the user-visible FIB table id ("show ip fib table <id>"),
 *    never a fib_index. The table must exist (VNET_API_ERROR_NO_SUCH_FIB).
 *  - Ports and echo ids are in HOST byte order everywhere in this API.
 *  - Addresses are ip46_address_t plus an explicit family (AF_IP4/AF_IP6);
 *    an IPv4 address is stored in ip46.ip4 with the pad zeroed
 *    (ip46_address_set_ip4).
 *  - Deletes are idempotent: deleting something absent returns 0.
 *  - Protocols are IP_PROTOCOL_TCP, IP_PROTOCOL_UDP, IP_PROTOCOL_ICMP or
 *    IP_PROTOCOL_ICMP6 (ICMP means echo). IP_PROTOCOL_ICMP given with an
 *    IPv6 address is taken as IP_PROTOCOL_ICMP6 (friendly for "proto icmp");
 *    IP_PROTOCOL_ICMP6 with IPv4 is an error.
 */

#ifndef __included_cloudnat_h__
#define __included_cloudnat_h__

#include <vnet/vnet.h>
#include <vnet/ip/ip.h>
#include <vnet/ip/ip_types.h>
#include <vnet/fib/fib_types.h>

#define CLOUDNAT_PLUGIN_VERSION "0.1.0"

/* Values equal to the binary API's enums (cloudnat.api); the names differ
   so that this header and the generated API types can be included
   together. */
typedef enum
{
  CN_KIND_VIP = 0,
  CN_KIND_REAL = 1,
} cloudnat_kind_t;

typedef enum
{
  CN_LB_HASH = 0,
  CN_LB_MAGLEV = 1,
} cloudnat_lb_method_t;

/* Flow-hash fields used to pick a backend; 0 means all five. */
#define CN_HASH_SRC_ADDR 0x01
#define CN_HASH_DST_ADDR 0x02
#define CN_HASH_SRC_PORT 0x04
#define CN_HASH_DST_PORT 0x08
#define CN_HASH_PROTO	 0x10
#define CN_HASH_ALL	 0x1f

#define CN_MAGLEV_DEFAULT_LEN 1009
#define CN_MAX_BACKENDS	      255

/* TCP state as reported in session views (same values as the API). */
typedef enum
{
  CN_TCP_NONE = 0,
  CN_TCP_SYN_SENT = 1,
  CN_TCP_ESTABLISHED = 2,
  CN_TCP_FIN_WAIT = 3,
  CN_TCP_CLOSED = 4,
} cloudnat_tcp_state_t;

/* Session view flags (same values as the API). */
#define CN_SESSION_F_DNAT 0x01
#define CN_SESSION_F_SNAT 0x02

/* ------------------------------------------------------------------ */
/* Translations                                                        */
/* ------------------------------------------------------------------ */

/* One backend: the four rewrites applied to a flow's forward packets and
   undone on its replies. src_addr all-zero = keep, port 0 = keep.
   dst_addr must be set. Addresses have the VIP's family. */
typedef struct
{
  ip46_address_t src_addr;
  ip46_address_t dst_addr;
  u16 src_port;
  u16 dst_port;
} cloudnat_backend_t;

typedef struct
{
  u32 table_id;
  ip46_address_t vip;
  ip_address_family_t af;
  u8 proto;			/* IP_PROTOCOL_* */
  u16 port;			/* 0 for ICMP */
  u8 kind;			/* cloudnat_kind_t */
  u8 lb_method;			/* cloudnat_lb_method_t */
  u8 hash_fields;		/* CN_HASH_*; 0 = all */
  u32 maglev_len;		/* a prime; 0 = CN_MAGLEV_DEFAULT_LEN */
  cloudnat_backend_t *backends; /* vec, 1..CN_MAX_BACKENDS entries */
} cloudnat_translation_spec_t;

/* What a walk shows of one translation. */
typedef struct
{
  u32 id;				   /* informational: index of its stats counter */
  const cloudnat_translation_spec_t *spec; /* normalised (proto, hash) */
  u32 n_sessions;
  u64 packets; /* both directions, summed over threads */
  u64 bytes;
} cloudnat_translation_info_t;

/*
 * Add a translation, or replace the one with the same key (table_id, vip,
 * port, proto). On replace, sessions whose backend is kept (same four
 * rewrites) survive; sessions on removed backends are deleted. The kind
 * (vip/real) of an existing translation may change.
 *
 * Validation (each returns the code and changes nothing):
 *  - table_id does not exist ............. VNET_API_ERROR_NO_SUCH_FIB
 *  - proto not TCP/UDP/ICMP(6), ICMP6+v4 .. VNET_API_ERROR_INVALID_PROTOCOL
 *  - port 0 on TCP/UDP, port != 0 on ICMP
 *    or a backend port on ICMP ............ VNET_API_ERROR_INVALID_VALUE
 *  - no backend / too many ............... VNET_API_ERROR_INVALID_VALUE_2
 *  - backend address of the other family . VNET_API_ERROR_INVALID_ADDRESS_FAMILY
 *  - backend dst_addr all-zero ........... VNET_API_ERROR_INVALID_DST_ADDRESS
 *  - vip all-zero / multicast ............ VNET_API_ERROR_INVALID_DST_ADDRESS
 *  - kind real but the address is not an
 *    address of an interface in the table VNET_API_ERROR_ADDRESS_NOT_FOUND_FOR_INTERFACE
 *  - maglev_len not a prime, or < 7, or
 *    > 65521, or < 2 * n_backends ........ VNET_API_ERROR_INVALID_ARGUMENT
 *  - bad kind / lb_method / hash_fields .. VNET_API_ERROR_INVALID_ARGUMENT
 * A vip on an address VPP owns is accepted (it then captures all of that
 * address's traffic in the table, as a vip does).
 * *id (may be NULL) receives the translation id.
 */
int cloudnat_translation_add_update (const cloudnat_translation_spec_t *spec, u32 *id);

/* Delete by key; absent = 0. Unknown table = VNET_API_ERROR_NO_SUCH_FIB. */
int cloudnat_translation_del (u32 table_id, const ip46_address_t *vip, ip_address_family_t af,
			      u16 port, u8 proto);

/* Delete by id (as shown by walks); absent id = 0. */
int cloudnat_translation_del_by_id (u32 id);

typedef walk_rc_t (*cloudnat_translation_walk_cb_t) (const cloudnat_translation_info_t *info,
						     void *ctx);
void cloudnat_translation_walk (cloudnat_translation_walk_cb_t cb, void *ctx);

/* Look one up by id; returns 0 and fills *info, or NO_SUCH_ENTRY. The
   pointers inside are valid until the next control-plane change. */
int cloudnat_translation_get (u32 id, cloudnat_translation_info_t *info);

u32 cloudnat_translation_count (void);

/* ------------------------------------------------------------------ */
/* Sessions                                                            */
/* ------------------------------------------------------------------ */

typedef struct
{
  u32 table_id;
  ip_address_family_t af;
  u8 proto;
  /* The flow as its first packet arrived (ICMP: ports = echo id). */
  ip46_address_t src_addr, dst_addr;
  u16 src_port, dst_port;
  /* The same packet after translation. */
  ip46_address_t new_src_addr, new_dst_addr;
  u16 new_src_port, new_dst_port;
  u8 flags;	      /* CN_SESSION_F_* */
  u8 tcp_state;	      /* cloudnat_tcp_state_t */
  u32 translation_id; /* ~0 for source-NAT sessions */
  u32 backend_index;  /* ~0 for source-NAT sessions */
  u32 expires_in;     /* seconds until expiry at the plugin's clock */
  u64 packets;	      /* both directions */
  u32 session_index;  /* internal, for debugging output only */
} cloudnat_session_view_t;

/* Zero / ~0 fields match anything. */
typedef struct
{
  u32 table_id;	       /* ~0 = any table */
  u8 proto;	       /* 0 = any */
  ip46_address_t addr; /* matches the original src or dst */
  ip_address_family_t af;
  u8 addr_len; /* 0 = any address (and any family) */
  u16 port;    /* matches the original src or dst port; 0 = any */
} cloudnat_session_filter_t;

typedef walk_rc_t (*cloudnat_session_walk_cb_t) (const cloudnat_session_view_t *s, void *ctx);

/* Unknown filter table: VNET_API_ERROR_NO_SUCH_FIB (nothing walked). */
int cloudnat_session_walk (const cloudnat_session_filter_t *filter, cloudnat_session_walk_cb_t cb,
			   void *ctx);

/* Delete the session one of whose directions (as seen on the wire, i.e.
   the original forward 5-tuple or the reply 5-tuple) is this; absent = 0. */
int cloudnat_session_delete (u32 table_id, u8 proto, const ip46_address_t *src, u16 src_port,
			     const ip46_address_t *dst, u16 dst_port, ip_address_family_t af);

/* Delete all sessions of a table (~0: all); never touches translations.
   Returns the number deleted (0 for an unknown table). */
u32 cloudnat_session_purge (u32 table_id);

/* ------------------------------------------------------------------ */
/* Source NAT                                                          */
/* ------------------------------------------------------------------ */

/* Add/remove an address to/from the table's SNAT pool (per family).
   Adding twice = 0; removing an absent one = 0. Removing deletes the
   sessions that use it. Bad address (zero/multicast) =
   VNET_API_ERROR_INVALID_SRC_ADDRESS. */
int cloudnat_snat_address_add_del (u32 table_id, const ip46_address_t *addr, ip_address_family_t af,
				   int is_add);

typedef walk_rc_t (*cloudnat_snat_address_walk_cb_t) (u32 table_id, const ip46_address_t *addr,
						      ip_address_family_t af, void *ctx);
void cloudnat_snat_address_walk (cloudnat_snat_address_walk_cb_t cb, void *ctx);

/* Exclusion prefix (destinations in it leave untranslated). len above the
   family's maximum = VNET_API_ERROR_INVALID_VALUE. Host bits are masked. */
int cloudnat_snat_exclude_add_del (u32 table_id, const ip46_address_t *pfx, u8 len,
				   ip_address_family_t af, int is_add);

typedef walk_rc_t (*cloudnat_snat_exclude_walk_cb_t) (u32 table_id, const ip46_address_t *pfx,
						      u8 len, ip_address_family_t af, void *ctx);
void cloudnat_snat_exclude_walk (cloudnat_snat_exclude_walk_cb_t cb, void *ctx);

/* Enable/disable the feature ip4-cnat-snat (ip4-unicast) or ip6-cnat-snat
   (ip6-unicast) on an interface; idempotent. Bad index =
   VNET_API_ERROR_INVALID_SW_IF_INDEX. */
/* Inbound filtering of a table's source-NAT mappings (both families of
   the table): CN_FILTER_ADDRESS_PORT (default), _ADDRESS or _ENDPOINT
   (cloudnat_pool.h), as for pools; applies to new sessions. Unknown
   table = VNET_API_ERROR_NO_SUCH_FIB, bad value = _UNIMPLEMENTED. */
int cloudnat_snat_filtering_set (u32 table_id, u8 filtering);
u8 cloudnat_snat_filtering_get (u32 table_id, ip_address_family_t af);

int cloudnat_snat_interface_enable_disable (u32 sw_if_index, u8 is_ip6, int enable);
int cloudnat_snat_interface_is_auto (u32 sw_if_index, u8 is_ip6);

/* Interfaces with the feature enabled, however it was enabled (API, or
   "set interface feature"). */
typedef walk_rc_t (*cloudnat_snat_interface_walk_cb_t) (u32 sw_if_index, u8 is_ip6, void *ctx);
void cloudnat_snat_interface_walk (cloudnat_snat_interface_walk_cb_t cb, void *ctx);

/* ------------------------------------------------------------------ */
/* Timeouts, limits, status, clock                                     */
/* ------------------------------------------------------------------ */

typedef struct
{
  u32 udp;
  u32 tcp_established;
  u32 tcp_transitory;
  u32 icmp;
} cloudnat_timeouts_t;

#define CN_DEFAULT_TIMEOUT_UDP		   300
#define CN_DEFAULT_TIMEOUT_TCP_ESTABLISHED 7440
#define CN_DEFAULT_TIMEOUT_TCP_TRANSITORY  240
#define CN_DEFAULT_TIMEOUT_ICMP		   60

void cloudnat_timeouts_get (cloudnat_timeouts_t *t);
/* A field of 0 leaves that value unchanged. Applies to existing sessions
   from their next packet / next scan on. */
int cloudnat_timeouts_set (const cloudnat_timeouts_t *t);

/* Cap the sessions of one table, or of all (table_id ~0). 0 = no limit. */
int cloudnat_session_limit_set (u32 table_id, u32 max_sessions);

/* Visits the global limit first (table_id ~0), then every table that has a
   limit or sessions. */
typedef walk_rc_t (*cloudnat_limit_walk_cb_t) (u32 table_id, u32 max_sessions, u32 n_sessions,
					       void *ctx);
void cloudnat_session_limit_walk (cloudnat_limit_walk_cb_t cb, void *ctx);

typedef struct
{
  u32 n_translations;
  u32 n_sessions;
  u32 max_sessions; /* global limit, 0 = none */
  u64 clock_offset; /* seconds added by cloudnat_clock_advance */
} cloudnat_status_t;

void cloudnat_get_status (cloudnat_status_t *st);

/* the session table of a family (a walk over it: for show commands) */
typedef struct
{
  u32 n_buckets;      /* startup.conf session-buckets / ip6-session-buckets */
  u64 n_slots;	      /* all buckets, with the spill area past the last */
  u64 bytes;
  u64 n_entries;      /* two per session */
  u64 n_spilled;      /* buckets whose entries reach into later buckets */
  u32 max_displacement;
} cloudnat_session_table_info_t;

void cloudnat_session_table_info (ip_address_family_t af, cloudnat_session_table_info_t *ti);

/* Test only: move the plugin's clock forward and expire, synchronously,
   everything that is due. */
int cloudnat_clock_advance (u32 seconds);

/* The plugin's clock in seconds (VPP time + offset). */
f64 cloudnat_now (void);

/* ------------------------------------------------------------------ */
/* Helpers for front ends                                              */
/* ------------------------------------------------------------------ */

/* "tcp" | "udp" | "icmp" | "icmp6", any case -> IP_PROTOCOL_* (u8 *). */
unformat_function_t unformat_cloudnat_proto;
/* u32 proto -> "TCP" / "UDP" / "ICMP" / "ICMP6" */
format_function_t format_cloudnat_proto;
/* (const cloudnat_translation_info_t *, int verbose) */
format_function_t format_cloudnat_translation;
/* (const cloudnat_session_view_t *, int verbose) */
format_function_t format_cloudnat_session_view;
/* u32 cloudnat_tcp_state_t */
format_function_t format_cloudnat_tcp_state;

/* Map a table id to a fib_index (~0 if the table does not exist). */
u32 cloudnat_fib_index_from_table_id (u32 table_id, ip_address_family_t af);
/* Either family: table exists in ip4 or ip6. */
int cloudnat_table_exists (u32 table_id);

/* ------------------------------------------------------------------ */
/* CLI registration                                                    */
/* ------------------------------------------------------------------ */

/*
 * VPP's own cnat plugin registers the same CLI words ("show cnat
 * translation", ...). vlib refuses duplicate CLI paths at init (VPP would
 * not start and the operator would never see our explanation), so
 * cloudnat's commands are NOT registered with VLIB_CLI_COMMAND: use
 * CLOUDNAT_CLI_COMMAND instead, with exactly the same syntax:
 *
 *   CLOUDNAT_CLI_COMMAND (cn_show_session_cmd) = {
 *     .path = "cnat show session", .short_help = "...", .function = f,
 *   };
 *
 * The command goes on cloudnat_main.cli_commands; the plugin's init
 * registers the list with vlib_cli_register() after it has checked that
 * cnat_plugin.so is not loaded.
 */
#define CLOUDNAT_CLI_COMMAND(x)                                                                    \
  static vlib_cli_command_t x;                                                                     \
  static void __clib_constructor __cloudnat_cli_reg_##x (void)                                     \
  {                                                                                                \
    x.next_cli_command = cloudnat_main.cli_commands;                                               \
    cloudnat_main.cli_commands = &x;                                                               \
  }                                                                                                \
  static vlib_cli_command_t x

/* ------------------------------------------------------------------ */
/* Main struct                                                         */
/* ------------------------------------------------------------------ */

typedef struct
{
  /* Binary API message id base (set by cloudnat_api.c). */
  u16 msg_id_base;

  /* Commands registered by CLOUDNAT_CLI_COMMAND, registered at init. */
  vlib_cli_command_t *cli_commands;

  /* Our log class ("cloudnat"). */
  vlib_log_class_t log_class;

  /* Set once init has succeeded (cnat not loaded, tables ready). */
  u8 enabled;

  /* Seconds added to VPP's clock by cloudnat_clock_advance. */
  u64 clock_offset;

  vlib_main_t *vlib_main;
  vnet_main_t *vnet_main;
} cloudnat_main_t;

extern cloudnat_main_t cloudnat_main;

/* cloudnat_api.c registers its messages from its own VLIB_INIT_FUNCTION
   and stores the base in cloudnat_main.msg_id_base. */

#define cn_log_err(...)	   vlib_log_err (cloudnat_main.log_class, __VA_ARGS__)
#define cn_log_warn(...)   vlib_log_warn (cloudnat_main.log_class, __VA_ARGS__)
#define cn_log_notice(...) vlib_log_notice (cloudnat_main.log_class, __VA_ARGS__)
#define cn_log_debug(...)  vlib_log_debug (cloudnat_main.log_class, __VA_ARGS__)

#endif /* __included_cloudnat_h__ */
