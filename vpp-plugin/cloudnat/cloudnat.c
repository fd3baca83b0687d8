/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat.c: plugin registration, init (with the refusal to run beside
 * VPP's cnat plugin), the expiry scanner process, and formatting helpers.
 */

#include <vnet/plugin/plugin.h>
#include <vpp/app/version.h>
#include <vnet/fib/fib_table.h>
#include <cloudnat/cloudnat_priv.h>
#include <cloudnat/cloudnat_frag.h>

#include <unistd.h>
#include <vppinfra/bihash_24_8.h>
#include <vppinfra/bihash_template.h>
#include <vppinfra/bihash_template.c>
#include <vppinfra/bihash_40_8.h>
#include <vppinfra/bihash_template.h>
#include <vppinfra/bihash_template.c>

cloudnat_main_t cloudnat_main;
cn_dp_main_t cn_dp;

VLIB_PLUGIN_REGISTER () = {
  .version = VPP_BUILD_VER,
  .description = "cloudnat: cloud NAT (VIP/real DNAT with backends, "
		 "source NAT, sessions per VRF)",
};

/* ------------------------------------------------------------------ */
/* scanner                                                             */
/* ------------------------------------------------------------------ */

#define CN_SCAN_INTERVAL 0.1

static uword
cn_scanner_fn (vlib_main_t *vm, vlib_node_runtime_t *rt, vlib_frame_t *f)
{
  while (1)
    {
      vlib_process_wait_for_event_or_clock (vm, CN_SCAN_INTERVAL);
      vlib_process_get_events (vm, 0);
      if (!cloudnat_main.enabled)
	continue;
      /* bounded slice per wake, outside the barrier: freed records go to
	 limbo until no worker can hold them */
      cn_sessions_scan (vm, 0, 0);
      cn_client_gc (vm);
      cn_table_limits_refresh ();
      cn_frag_expire (vm, cn_now_ticks (vm));
      cn_pool_log_drain (vm);
    }
  return 0;
}

VLIB_REGISTER_NODE (cn_scanner_node) = {
  .function = cn_scanner_fn,
  .type = VLIB_NODE_TYPE_PROCESS,
  .name = "cloudnat-scanner",
};

/* ------------------------------------------------------------------ */
/* formatting                                                          */
/* ------------------------------------------------------------------ */

uword
unformat_cloudnat_proto (unformat_input_t *input, va_list *args)
{
  u8 *proto = va_arg (*args, u8 *);
  u8 *word = 0;
  uword rv = 0;

  if (!unformat (input, "%s", &word))
    return 0;
  vec_add1 (word, 0);
  if (!strcasecmp ((char *) word, "tcp"))
    *proto = IP_PROTOCOL_TCP, rv = 1;
  else if (!strcasecmp ((char *) word, "udp"))
    *proto = IP_PROTOCOL_UDP, rv = 1;
  else if (!strcasecmp ((char *) word, "icmp"))
    *proto = IP_PROTOCOL_ICMP, rv = 1;
  else if (!strcasecmp ((char *) word, "icmp6") || !strcasecmp ((char *) word, "icmpv6"))
    *proto = IP_PROTOCOL_ICMP6, rv = 1;
  vec_free (word);
  return rv;
}

u8 *
format_cloudnat_proto (u8 *s, va_list *args)
{
  u32 p = va_arg (*args, u32);
  switch (p)
    {
    case IP_PROTOCOL_TCP:
      return format (s, "TCP");
    case IP_PROTOCOL_UDP:
      return format (s, "UDP");
    case IP_PROTOCOL_ICMP:
      return format (s, "ICMP");
    case IP_PROTOCOL_ICMP6:
      return format (s, "ICMP6");
    }
  return format (s, "proto-%d", p);
}

u8 *
format_cloudnat_tcp_state (u8 *s, va_list *args)
{
  u32 st = va_arg (*args, u32);
  static const char *names[] = { "none", "syn-sent", "established", "fin-wait", "closed" };
  if (st < ARRAY_LEN (names))
    return format (s, "%s", names[st]);
  return format (s, "state-%d", st);
}

static u8 *
format_cn_addr (u8 *s, va_list *args)
{
  ip46_address_t *a = va_arg (*args, ip46_address_t *);
  u32 af = va_arg (*args, u32);
  if (af == AF_IP6)
    return format (s, "%U", format_ip6_address, &a->ip6);
  return format (s, "%U", format_ip4_address, &a->ip4);
}

static u8 *
format_cn_addr_port (u8 *s, va_list *args)
{
  ip46_address_t *a = va_arg (*args, ip46_address_t *);
  u32 af = va_arg (*args, u32);
  u32 port = va_arg (*args, u32);
  if (af == AF_IP6)
    return format (s, "[%U]:%d", format_ip6_address, &a->ip6, port);
  return format (s, "%U:%d", format_ip4_address, &a->ip4, port);
}

u8 *
format_cloudnat_translation (u8 *s, va_list *args)
{
  const cloudnat_translation_info_t *info = va_arg (*args, const cloudnat_translation_info_t *);
  int verbose = va_arg (*args, int);
  const cloudnat_translation_spec_t *t = info->spec;
  const cloudnat_backend_t *b;
  u32 i = 0;

  s = format (s, "[%d] %s %U %U table %d", info->id, t->kind == CN_KIND_VIP ? "vip" : "real",
	      format_cloudnat_proto, (u32) t->proto, format_cn_addr_port, &t->vip, (u32) t->af,
	      (u32) t->port, t->table_id);
  if (t->lb_method == CN_LB_MAGLEV)
    s = format (s, " maglev len %d", t->maglev_len);
  else
    s = format (s, " hash");
  if (t->hash_fields != CN_HASH_ALL)
    s = format (s, " fields 0x%x", t->hash_fields);
  s = format (s, " sessions %d packets %llu bytes %llu", info->n_sessions, info->packets,
	      info->bytes);
  vec_foreach (b, t->backends)
    {
      s = format (s, "\n  [%d] ", i++);
      if (ip46_address_is_zero (&b->src_addr))
	s = format (s, "(src kept)");
      else
	s = format (s, "%U", format_cn_addr, &b->src_addr, (u32) t->af);
      if (b->src_port)
	s = format (s, " %d", b->src_port);
      s = format (s, "->%U", format_cn_addr, &b->dst_addr, (u32) t->af);
      if (b->dst_port)
	s = format (s, " %d", b->dst_port);
    }
  (void) verbose;
  return s;
}

u8 *
format_cloudnat_session_view (u8 *s, va_list *args)
{
  const cloudnat_session_view_t *v = va_arg (*args, const cloudnat_session_view_t *);
  int verbose = va_arg (*args, int);

  s = format (s, "%U %U -> %U => %U -> %U", format_cloudnat_proto, (u32) v->proto,
	      format_cn_addr_port, &v->src_addr, (u32) v->af, (u32) v->src_port,
	      format_cn_addr_port, &v->dst_addr, (u32) v->af, (u32) v->dst_port,
	      format_cn_addr_port, &v->new_src_addr, (u32) v->af, (u32) v->new_src_port,
	      format_cn_addr_port, &v->new_dst_addr, (u32) v->af, (u32) v->new_dst_port);
  s = format (s, " table %d %s", v->table_id, v->flags & CN_SESSION_F_DNAT ? "dnat" : "snat");
  if (verbose)
    {
      if (v->translation_id != ~0)
	s = format (s, " translation %d backend %d", v->translation_id, v->backend_index);
      if (v->proto == IP_PROTOCOL_TCP)
	s = format (s, " tcp %U", format_cloudnat_tcp_state, (u32) v->tcp_state);
      s = format (s, " expires-in %ds packets %llu [%d]", v->expires_in, v->packets,
		  v->session_index);
    }
  return s;
}

u8 *
format_cn_trace (u8 *s, va_list *args)
{
  CLIB_UNUSED (vlib_main_t * vm) = va_arg (*args, vlib_main_t *);
  CLIB_UNUSED (vlib_node_t * node) = va_arg (*args, vlib_node_t *);
  cn_trace_t *t = va_arg (*args, cn_trace_t *);
  u32 af = t->is_ip6 ? AF_IP6 : AF_IP4;
  static const char *what[] = { "no session, passed", "session hit", "session created",
				"icmp error via session", "drop", "static mapping" };

  s = format (s, "cloudnat: %s", t->what < ARRAY_LEN (what) ? what[t->what] : "?");
  if (t->session_index != ~0)
    s =
      format (s, " session %d %s", t->session_index, t->dir == CN_DIR_REPLY ? "reply" : "forward");
  if (t->tr_index != ~0)
    s = format (s, " translation %d", t->tr_index);
  s = format (s, " fib %d\n", t->fib_index);
  s = format (s, "  %U %U -> %U", format_cloudnat_proto, (u32) t->proto, format_cn_addr_port,
	      &t->src, af, (u32) clib_net_to_host_u16 (t->sport), format_cn_addr_port, &t->dst, af,
	      (u32) clib_net_to_host_u16 (t->dport));
  if (t->what == CN_TRACE_HIT || t->what == CN_TRACE_CREATED || t->what == CN_TRACE_ICMP ||
      t->what == CN_TRACE_STATIC)
    s = format (s, "\n  => %U -> %U", format_cn_addr_port, &t->nsrc, af,
		(u32) clib_net_to_host_u16 (t->nsport), format_cn_addr_port, &t->ndst, af,
		(u32) clib_net_to_host_u16 (t->ndport));
  return s;
}

/* ------------------------------------------------------------------ */
/* init                                                                */
/* ------------------------------------------------------------------ */

static clib_error_t *
cloudnat_init (vlib_main_t *vm)
{
  cloudnat_main_t *cm = &cloudnat_main;
  plugin_main_t *pm = &vlib_plugin_main;
  vlib_cli_command_t *c;
  clib_error_t *err;
  ip_address_family_t af;

  cm->vlib_main = vm;
  cm->vnet_main = vnet_get_main ();
  cm->log_class = vlib_log_register_class ("cloudnat", 0);

  /* VPP's cnat owns the same CLI words and captures the same traffic */
  if (hash_get_mem (pm->plugin_by_name_hash, "cnat_plugin.so"))
    {
      /* VPP stops on an init error but exits with main_loop_exit_status
	 (0): make the refusal visible to systemd and scripts too */
      vm->main_loop_exit_status = 1;
      return clib_error_return (0, "cloudnat: VPP's cnat_plugin.so is loaded too; add "
				   "'plugin cnat_plugin.so { disable }' to the plugins section of "
				   "startup.conf");
    }

  for (c = cm->cli_commands; c; c = c->next_cli_command)
    if ((err = vlib_cli_register (vm, c)))
      return err;

  cn_dp.timeouts.udp = CN_DEFAULT_TIMEOUT_UDP;
  cn_dp.timeouts.tcp_established = CN_DEFAULT_TIMEOUT_TCP_ESTABLISHED;
  cn_dp.timeouts.tcp_transitory = CN_DEFAULT_TIMEOUT_TCP_TRANSITORY;
  cn_dp.timeouts.icmp = CN_DEFAULT_TIMEOUT_ICMP;

  /* the session tables are made in cloudnat_config: their size may be
     configured */
  clib_bihash_init_24_8 (&cn_dp.tr_db, "cloudnat translations", 4096, 256 << 20);
  cn_store_init (&cn_dp.store4, sizeof (cn_sess4_t));
  cn_store_init (&cn_dp.store6, sizeof (cn_sess6_t));
  FOR_EACH_IP_ADDRESS_FAMILY (af)
  {
    cn_dp.fib_counts[af] =
      clib_mem_alloc_aligned (CN_MAX_FIB_INDEX * sizeof (cn_fib_count_t), CLIB_CACHE_LINE_BYTES);
    clib_memset (cn_dp.fib_counts[af], 0, CN_MAX_FIB_INDEX * sizeof (cn_fib_count_t));
  }
  cn_dp.tr_counters.name = "cloudnat-translation";
  cn_dp.tr_counters.stat_segment_name = "/cloudnat/translation";
  cn_client_init (vm);
  cn_frag_init (vm);
  cn_pool_init (vm);
  cn_static_init (vm);

  cm->enabled = 1;
  return 0;
}

VLIB_INIT_FUNCTION (cloudnat_init);

/* A session table of n buckets on the main heap (so that "show memory"
   and the benchmark's memory per session count it). */
static clib_error_t *
cn_session_table_alloc (cn_stab_t *t, u32 n, const char *what)
{
  void *mem;

  if (n < 1024 || n > CN_MAX_SESSION_BUCKETS)
    return clib_error_return (0, "cloudnat: %s %u out of range [1024, %u]", what, n,
			      CN_MAX_SESSION_BUCKETS);
  mem = clib_mem_alloc_aligned_or_null (cn_stab_bytes (n), CLIB_CACHE_LINE_BYTES);
  if (!mem)
    return clib_error_return (0,
			      "cloudnat: %s %u need %llu MB, more than the main heap has free "
			      "(raise memory { main-heap-size })",
			      what, n, cn_stab_bytes (n) >> 20);
  cn_stab_init (t, mem, n, clib_cpu_time_now () ^ ((u64) getpid () << 32) ^ pointer_to_uword (mem));
  return 0;
}

/*
 * startup.conf:
 *   cloudnat {
 *     session-buckets <n>       buckets of the IPv4 session table (default
 *                               256K = 16 MB). A bucket is one 64-byte line
 *                               of 10 entries, a session takes 2 entries:
 *                               sessions / 2 buckets keeps the table 40%
 *                               full, where nearly every lookup reads one
 *                               line. The table does not grow; a session
 *                               that finds no room is dropped and counted
 *                               (no_memory, "session table full").
 *     ip6-session-buckets <n>   the same for IPv6 (default 64K = 4 MB)
 *   }
 * Config functions run after init functions, before the main loop.
 */
static clib_error_t *
cloudnat_config (vlib_main_t *vm, unformat_input_t *input)
{
  u32 b4 = 1 << 18, b6 = 1 << 16;
  clib_error_t *err;

  while (unformat_check_input (input) != UNFORMAT_END_OF_INPUT)
    {
      if (unformat (input, "session-buckets %u", &b4))
	;
      else if (unformat (input, "ip6-session-buckets %u", &b6))
	;
      else
	return clib_error_return (0, "cloudnat: unknown input '%U'", format_unformat_error, input);
    }
  if (!cloudnat_main.enabled)
    return 0;
  if ((err = cn_session_table_alloc (&cn_dp.sess4, b4, "session-buckets")))
    return err;
  return cn_session_table_alloc (&cn_dp.sess6, b6, "ip6-session-buckets");
}

VLIB_CONFIG_FUNCTION (cloudnat_config, "cloudnat");

/* The store's per-thread caches need the final thread count (known from
   the configuration; workers start later). */
static clib_error_t *
cloudnat_main_loop_enter (vlib_main_t *vm)
{
  u32 n = clib_max (vlib_get_thread_main ()->n_vlib_mains, vlib_get_n_threads ());
  vec_validate (cn_dp.store4.threads, n - 1);
  vec_validate (cn_dp.store6.threads, n - 1);
  cn_client_wait_init (vm);
  return 0;
}

VLIB_MAIN_LOOP_ENTER_FUNCTION (cloudnat_main_loop_enter);
