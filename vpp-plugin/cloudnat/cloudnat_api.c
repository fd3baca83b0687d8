/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudnat_api.c: binary API handlers (cloudnat.api).
 *
 * Every handler decodes and checks the whole request before it calls the
 * control API in cloudnat.h, so a bad request gets a precise
 * VNET_API_ERROR_* and changes nothing:
 *
 *   address family not ADDRESS_IP4/ADDRESS_IP6, or addresses of
 *   different families in one request ........ INVALID_ADDRESS_FAMILY
 *   table_id that does not exist .............. NO_SUCH_FIB
 *   protocol not tcp/udp/icmp/icmp6 ........... INVALID_PROTOCOL
 *   port on ICMP, missing port on TCP/UDP ..... INVALID_VALUE
 *   n_backends 0 or above 255................ INVALID_VALUE_2
 *   backend dst_addr unspecified .............. INVALID_DST_ADDRESS
 *   kind / lb_method / hash_fields unknown,
 *   maglev_len not a prime in 7..65521 or
 *   below 2 * n_backends ...................... INVALID_ARGUMENT
 *   prefix longer than its family ............. INVALID_VALUE
 *   prefix with host bits set ................. IP_PREFIX_INVALID
 *   sw_if_index unknown ....................... INVALID_SW_IF_INDEX
 *   SNAT address zero, multicast, broadcast ... INVALID_SRC_ADDRESS
 *   vip zero or multicast, backend dst
 *   multicast (dataplane) ..................... INVALID_DST_ADDRESS
 *   kind real on an address that is not an
 *   interface's (dataplane) ................... ADDRESS_NOT_FOUND_FOR_INTERFACE
 *   a timeout above the dataplane's maximum ... INVALID_VALUE
 *
 * Message lengths: vlibapi checks every incoming message against its
 * generated calc_size function (which counts translation.n_backends
 * backends) before a handler runs, and drops a short message; so
 * mp->translation.backends[0 .. n_backends-1] is always inside the message.
 * Handlers are not auto-endian: fields are converted here.
 */

#include <vnet/vnet.h>
#include <vnet/ip/ip.h>
#include <vnet/ip/ip_types_api.h>
#include <vnet/fib/fib_table.h>

#include <vlibapi/api.h>
#include <vlibmemory/api.h>

#include <cloudnat/cloudnat.h>
#include <cloudnat/cloudnat_api.h>
#include <cn_lb.h> /* cn_is_prime: the Maglev table length check */

#include <vnet/format_fns.h>
#include <cloudnat/cloudnat.api_enum.h>
#include <cloudnat/cloudnat.api_types.h>

#define REPLY_MSG_ID_BASE cloudnat_main.msg_id_base
#include <vlibapi/api_helper_macros.h>

/* The API's limit on backends per translation. */
#define CN_API_MAX_BACKENDS CN_MAX_BACKENDS

/* The API enums and the header's values must agree. */
STATIC_ASSERT ((int) CLOUDNAT_KIND_VIP == (int) CN_KIND_VIP, "kind");
STATIC_ASSERT ((int) CLOUDNAT_KIND_REAL == (int) CN_KIND_REAL, "kind");
STATIC_ASSERT ((int) CLOUDNAT_LB_HASH == (int) CN_LB_HASH, "lb");
STATIC_ASSERT ((int) CLOUDNAT_LB_MAGLEV == (int) CN_LB_MAGLEV, "lb");
STATIC_ASSERT ((int) CLOUDNAT_HASH_SRC_ADDR == CN_HASH_SRC_ADDR, "hash");
STATIC_ASSERT ((int) CLOUDNAT_HASH_DST_ADDR == CN_HASH_DST_ADDR, "hash");
STATIC_ASSERT ((int) CLOUDNAT_HASH_SRC_PORT == CN_HASH_SRC_PORT, "hash");
STATIC_ASSERT ((int) CLOUDNAT_HASH_DST_PORT == CN_HASH_DST_PORT, "hash");
STATIC_ASSERT ((int) CLOUDNAT_HASH_PROTO == CN_HASH_PROTO, "hash");
STATIC_ASSERT ((int) CLOUDNAT_TCP_NONE == (int) CN_TCP_NONE, "tcp state");
STATIC_ASSERT ((int) CLOUDNAT_TCP_SYN_SENT == (int) CN_TCP_SYN_SENT, "tcp state");
STATIC_ASSERT ((int) CLOUDNAT_TCP_ESTABLISHED == (int) CN_TCP_ESTABLISHED, "tcp state");
STATIC_ASSERT ((int) CLOUDNAT_TCP_FIN_WAIT == (int) CN_TCP_FIN_WAIT, "tcp state");
STATIC_ASSERT ((int) CLOUDNAT_TCP_CLOSED == (int) CN_TCP_CLOSED, "tcp state");
STATIC_ASSERT ((int) CLOUDNAT_SESSION_DNAT == CN_SESSION_F_DNAT, "session flags");
STATIC_ASSERT ((int) CLOUDNAT_SESSION_SNAT == CN_SESSION_F_SNAT, "session flags");

/* ------------------------------------------------------------------ */
/* Decoding / encoding helpers                                         */
/* ------------------------------------------------------------------ */

/* An address with a known family. */
int
cn_api_address_decode (const vl_api_address_t *in, ip46_address_t *out, ip_address_family_t *af)
{
  switch (in->af)
    {
    case ADDRESS_IP4:
      *af = AF_IP4;
      break;
    case ADDRESS_IP6:
      *af = AF_IP6;
      break;
    default:
      return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
    }
  /* zeroes the pad of an IPv4 address */
  ip_address_decode (in, out);
  return 0;
}

void
cn_api_address_encode (const ip46_address_t *in, ip_address_family_t af, vl_api_address_t *out)
{
  ip_address_encode (in, af == AF_IP6 ? IP46_TYPE_IP6 : IP46_TYPE_IP4, out);
}

static u32
cn_api_af_max_len (ip_address_family_t af)
{
  return af == AF_IP6 ? 128 : 32;
}

/* A prefix: known family, length within it; with host bits set it is
   IP_PREFIX_INVALID when strict, masked otherwise. */
int
cn_api_prefix_decode (const vl_api_prefix_t *in, ip46_address_t *addr, u8 *len,
		      ip_address_family_t *af, int strict)
{
  ip46_address_t masked;
  int rv;

  if ((rv = cn_api_address_decode (&in->address, addr, af)))
    return rv;
  if (in->len > cn_api_af_max_len (*af))
    return VNET_API_ERROR_INVALID_VALUE;
  *len = in->len;
  masked = *addr;
  if (*af == AF_IP4)
    ip4_address_normalize (&masked.ip4, *len);
  else
    ip6_address_normalize (&masked.ip6, *len);
  if (!ip46_address_is_equal (&masked, addr))
    {
      if (strict)
	return VNET_API_ERROR_IP_PREFIX_INVALID;
      *addr = masked;
    }
  return 0;
}

void
cn_api_prefix_encode (const ip46_address_t *addr, u8 len, ip_address_family_t af,
		      vl_api_prefix_t *out)
{
  cn_api_address_encode (addr, af, &out->address);
  out->len = len;
}

/* tcp/udp/icmp/icmp6 only; ICMP with an IPv6 address means ICMP6 (as in
   cloudnat.h), ICMP6 with IPv4 is an error. */
static int
cn_api_proto_decode (vl_api_ip_proto_t in, ip_address_family_t af, u8 *proto)
{
  switch ((u8) in)
    {
    case IP_API_PROTO_TCP:
      *proto = IP_PROTOCOL_TCP;
      return 0;
    case IP_API_PROTO_UDP:
      *proto = IP_PROTOCOL_UDP;
      return 0;
    case IP_API_PROTO_ICMP:
      *proto = af == AF_IP6 ? IP_PROTOCOL_ICMP6 : IP_PROTOCOL_ICMP;
      return 0;
    case IP_API_PROTO_ICMP6:
      if (af != AF_IP6)
	return VNET_API_ERROR_INVALID_PROTOCOL;
      *proto = IP_PROTOCOL_ICMP6;
      return 0;
    }
  return VNET_API_ERROR_INVALID_PROTOCOL;
}

static int
cn_api_proto_is_icmp (u8 proto)
{
  return proto == IP_PROTOCOL_ICMP || proto == IP_PROTOCOL_ICMP6;
}

int
cn_api_check_table (u32 table_id, ip_address_family_t af)
{
  if (cloudnat_fib_index_from_table_id (table_id, af) == ~0)
    return VNET_API_ERROR_NO_SUCH_FIB;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Translations                                                        */
/* ------------------------------------------------------------------ */

/* Decode and check a translation (network order in, host order out).
   spec->backends is a vec the caller frees, also on error. */
static int
cn_api_translation_decode (const vl_api_cloudnat_translation_t *in,
			   cloudnat_translation_spec_t *spec)
{
  u32 i, n_backends = in->n_backends;
  int rv;

  clib_memset (spec, 0, sizeof (*spec));
  spec->table_id = clib_net_to_host_u32 (in->table_id);
  spec->port = clib_net_to_host_u16 (in->port);
  spec->maglev_len = clib_net_to_host_u32 (in->maglev_len);

  if ((rv = cn_api_address_decode (&in->vip, &spec->vip, &spec->af)))
    return rv;
  if ((rv = cn_api_proto_decode (in->proto, spec->af, &spec->proto)))
    return rv;

  switch (in->kind)
    {
    case CLOUDNAT_KIND_VIP:
      spec->kind = CN_KIND_VIP;
      break;
    case CLOUDNAT_KIND_REAL:
      spec->kind = CN_KIND_REAL;
      break;
    default:
      return VNET_API_ERROR_INVALID_ARGUMENT;
    }
  switch (in->lb_method)
    {
    case CLOUDNAT_LB_HASH:
      spec->lb_method = CN_LB_HASH;
      break;
    case CLOUDNAT_LB_MAGLEV:
      spec->lb_method = CN_LB_MAGLEV;
      break;
    default:
      return VNET_API_ERROR_INVALID_ARGUMENT;
    }
  if (in->hash_fields & ~CN_HASH_ALL)
    return VNET_API_ERROR_INVALID_ARGUMENT;
  spec->hash_fields = in->hash_fields;

  if (cn_api_proto_is_icmp (spec->proto) ? spec->port != 0 : spec->port == 0)
    return VNET_API_ERROR_INVALID_VALUE;

  if (n_backends == 0 || n_backends > CN_API_MAX_BACKENDS)
    return VNET_API_ERROR_INVALID_VALUE_2;

  if (spec->maglev_len &&
      (spec->maglev_len < 7 || spec->maglev_len > 65521 || !cn_is_prime (spec->maglev_len)))
    return VNET_API_ERROR_INVALID_ARGUMENT;
  if (spec->lb_method == CN_LB_MAGLEV &&
      (spec->maglev_len ? spec->maglev_len : CN_MAGLEV_DEFAULT_LEN) < 2 * n_backends)
    return VNET_API_ERROR_INVALID_ARGUMENT;

  for (i = 0; i < n_backends; i++)
    {
      const vl_api_cloudnat_backend_t *ib = &in->backends[i];
      cloudnat_backend_t b = {};
      ip_address_family_t af;

      if ((rv = cn_api_address_decode (&ib->src_addr, &b.src_addr, &af)))
	return rv;
      if (af != spec->af)
	return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
      if ((rv = cn_api_address_decode (&ib->dst_addr, &b.dst_addr, &af)))
	return rv;
      if (af != spec->af)
	return VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
      if (ip46_address_is_zero (&b.dst_addr))
	return VNET_API_ERROR_INVALID_DST_ADDRESS;
      b.src_port = clib_net_to_host_u16 (ib->src_port);
      b.dst_port = clib_net_to_host_u16 (ib->dst_port);
      if (cn_api_proto_is_icmp (spec->proto) && (b.src_port || b.dst_port))
	return VNET_API_ERROR_INVALID_VALUE;
      vec_add1 (spec->backends, b);
    }

  return cn_api_check_table (spec->table_id, spec->af);
}

static void
vl_api_cloudnat_translation_add_update_t_handler (vl_api_cloudnat_translation_add_update_t *mp)
{
  vl_api_cloudnat_translation_add_update_reply_t *rmp;
  cloudnat_translation_spec_t spec;
  u32 id = ~0;
  int rv;

  rv = cn_api_translation_decode (&mp->translation, &spec);
  if (rv == 0)
    rv = cloudnat_translation_add_update (&spec, &id);
  vec_free (spec.backends);

  REPLY_MACRO2 (VL_API_CLOUDNAT_TRANSLATION_ADD_UPDATE_REPLY,
		({ rmp->id = clib_host_to_net_u32 (rv ? ~0 : id); }));
}

static void
vl_api_cloudnat_translation_del_t_handler (vl_api_cloudnat_translation_del_t *mp)
{
  vl_api_cloudnat_translation_del_reply_t *rmp;
  ip46_address_t vip;
  ip_address_family_t af;
  u32 table_id = clib_net_to_host_u32 (mp->table_id);
  u16 port = clib_net_to_host_u16 (mp->port);
  u8 proto;
  int rv;

  if ((rv = cn_api_address_decode (&mp->vip, &vip, &af)))
    goto done;
  if ((rv = cn_api_proto_decode (mp->proto, af, &proto)))
    goto done;
  if (cn_api_proto_is_icmp (proto) ? port != 0 : port == 0)
    {
      rv = VNET_API_ERROR_INVALID_VALUE;
      goto done;
    }
  if ((rv = cn_api_check_table (table_id, af)))
    goto done;
  rv = cloudnat_translation_del (table_id, &vip, af, port, proto);

done:
  REPLY_MACRO (VL_API_CLOUDNAT_TRANSLATION_DEL_REPLY);
}


/* Sets up a dump's replies; 0 if its client has gone. */
int
cn_api_dump_ctx_init (cn_api_dump_ctx_t *ctx, u32 client_index, u32 context)
{
  ctx->rp = vl_api_client_index_to_registration (client_index);
  ctx->context = context;
  return ctx->rp != 0;
}

/* The leading fields of every details message. */
typedef CLIB_PACKED (struct {
  u16 _vl_msg_id;
  u32 context;
}) cn_api_details_header_t;

STATIC_ASSERT (STRUCT_OFFSET_OF (vl_api_cloudnat_session_details_t, context) ==
		 STRUCT_OFFSET_OF (cn_api_details_header_t, context),
	       "details header");

/* A zeroed details message of SIZE bytes for the dump's client. */
void *
cn_api_details_alloc (const cn_api_dump_ctx_t *ctx, uword size, u16 msg_id)
{
  cn_api_details_header_t *h = vl_msg_api_alloc_zero (size);

  h->_vl_msg_id = clib_host_to_net_u16 (msg_id + cloudnat_main.msg_id_base);
  h->context = ctx->context;
  return h;
}

static void
cn_api_translation_encode (const cloudnat_translation_spec_t *spec, u32 n_backends,
			   vl_api_cloudnat_translation_t *out)
{
  u32 i;

  out->table_id = clib_host_to_net_u32 (spec->table_id);
  cn_api_address_encode (&spec->vip, spec->af, &out->vip);
  out->port = clib_host_to_net_u16 (spec->port);
  out->proto = ip_proto_encode (spec->proto);
  out->kind = spec->kind == CN_KIND_REAL ? CLOUDNAT_KIND_REAL : CLOUDNAT_KIND_VIP;
  out->lb_method = spec->lb_method == CN_LB_MAGLEV ? CLOUDNAT_LB_MAGLEV : CLOUDNAT_LB_HASH;
  out->hash_fields = spec->hash_fields;
  out->maglev_len = clib_host_to_net_u32 (spec->maglev_len);
  out->n_backends = n_backends;
  for (i = 0; i < n_backends; i++)
    {
      const cloudnat_backend_t *b = &spec->backends[i];
      vl_api_cloudnat_backend_t *ob = &out->backends[i];

      cn_api_address_encode (&b->src_addr, spec->af, &ob->src_addr);
      ob->src_port = clib_host_to_net_u16 (b->src_port);
      cn_api_address_encode (&b->dst_addr, spec->af, &ob->dst_addr);
      ob->dst_port = clib_host_to_net_u16 (b->dst_port);
    }
}

static walk_rc_t
cn_api_translation_send_details (const cloudnat_translation_info_t *info, void *arg)
{
  cn_api_dump_ctx_t *ctx = arg;
  vl_api_cloudnat_translation_details_t *mp;
  u32 n_backends = clib_min (vec_len (info->spec->backends), 255);

  mp = cn_api_details_alloc (ctx, sizeof (*mp) + n_backends * sizeof (mp->translation.backends[0]),
			     VL_API_CLOUDNAT_TRANSLATION_DETAILS);
  mp->id = clib_host_to_net_u32 (info->id);
  mp->n_sessions = clib_host_to_net_u32 (info->n_sessions);
  mp->packets = clib_host_to_net_u64 (info->packets);
  mp->bytes = clib_host_to_net_u64 (info->bytes);
  cn_api_translation_encode (info->spec, n_backends, &mp->translation);
  vl_api_send_msg (ctx->rp, (u8 *) mp);
  return WALK_CONTINUE;
}

static void
vl_api_cloudnat_translation_dump_t_handler (vl_api_cloudnat_translation_dump_t *mp)
{
  cn_api_dump_ctx_t ctx;

  if (!cn_api_dump_ctx_init (&ctx, mp->client_index, mp->context))
    return;
  cloudnat_translation_walk (cn_api_translation_send_details, &ctx);
}

/* ------------------------------------------------------------------ */
/* Sessions                                                            */
/* ------------------------------------------------------------------ */

static walk_rc_t
cn_api_session_send_details (const cloudnat_session_view_t *s, void *arg)
{
  cn_api_dump_ctx_t *ctx = arg;
  vl_api_cloudnat_session_details_t *mp;
  vl_api_cloudnat_session_t *o;

  mp = cn_api_details_alloc (ctx, sizeof (*mp), VL_API_CLOUDNAT_SESSION_DETAILS);
  o = &mp->session;
  o->table_id = clib_host_to_net_u32 (s->table_id);
  o->proto = ip_proto_encode (s->proto);
  cn_api_address_encode (&s->src_addr, s->af, &o->src_addr);
  o->src_port = clib_host_to_net_u16 (s->src_port);
  cn_api_address_encode (&s->dst_addr, s->af, &o->dst_addr);
  o->dst_port = clib_host_to_net_u16 (s->dst_port);
  cn_api_address_encode (&s->new_src_addr, s->af, &o->new_src_addr);
  o->new_src_port = clib_host_to_net_u16 (s->new_src_port);
  cn_api_address_encode (&s->new_dst_addr, s->af, &o->new_dst_addr);
  o->new_dst_port = clib_host_to_net_u16 (s->new_dst_port);
  o->flags = s->flags & (CN_SESSION_F_DNAT | CN_SESSION_F_SNAT);
  o->tcp_state = s->tcp_state;
  o->translation_id = clib_host_to_net_u32 (s->translation_id);
  o->expires_in = clib_host_to_net_u32 (s->expires_in);
  o->packets = clib_host_to_net_u64 (s->packets);
  vl_api_send_msg (ctx->rp, (u8 *) mp);
  return WALK_CONTINUE;
}

/* A dump has no retval: a filter that cannot match anything (bad family,
   unknown table, unknown protocol) yields no details. */
static void
vl_api_cloudnat_session_dump_t_handler (vl_api_cloudnat_session_dump_t *mp)
{
  cloudnat_session_filter_t f = {};
  cn_api_dump_ctx_t ctx;
  ip_address_family_t af = AF_IP4;

  if (!cn_api_dump_ctx_init (&ctx, mp->client_index, mp->context))
    return;

  f.table_id = clib_net_to_host_u32 (mp->table_id);
  f.port = clib_net_to_host_u16 (mp->port);
  if (mp->addr.len)
    {
      if (cn_api_prefix_decode (&mp->addr, &f.addr, &f.addr_len, &f.af, 0 /* mask */))
	return;
      af = f.af;
    }
  if (mp->proto)
    {
      if (cn_api_proto_decode (mp->proto, mp->addr.len ? af : AF_IP6, &f.proto))
	return;
      /* ICMP without an address: echo of both families */
      if (mp->proto == IP_API_PROTO_ICMP && !mp->addr.len)
	f.proto = IP_PROTOCOL_ICMP;
    }

  /* with IP_PROTOCOL_ICMP and no address the walk covers both families */
  cloudnat_session_walk (&f, cn_api_session_send_details, &ctx);
}

static void
vl_api_cloudnat_session_del_t_handler (vl_api_cloudnat_session_del_t *mp)
{
  vl_api_cloudnat_session_del_reply_t *rmp;
  ip46_address_t src, dst;
  ip_address_family_t saf, daf;
  u32 table_id = clib_net_to_host_u32 (mp->table_id);
  u8 proto;
  int rv;

  if ((rv = cn_api_address_decode (&mp->src_addr, &src, &saf)))
    goto done;
  if ((rv = cn_api_address_decode (&mp->dst_addr, &dst, &daf)))
    goto done;
  if (saf != daf)
    {
      rv = VNET_API_ERROR_INVALID_ADDRESS_FAMILY;
      goto done;
    }
  if ((rv = cn_api_proto_decode (mp->proto, saf, &proto)))
    goto done;
  if ((rv = cn_api_check_table (table_id, saf)))
    goto done;
  rv = cloudnat_session_delete (table_id, proto, &src, clib_net_to_host_u16 (mp->src_port), &dst,
				clib_net_to_host_u16 (mp->dst_port), saf);

done:
  REPLY_MACRO (VL_API_CLOUDNAT_SESSION_DEL_REPLY);
}

static void
vl_api_cloudnat_session_purge_t_handler (vl_api_cloudnat_session_purge_t *mp)
{
  vl_api_cloudnat_session_purge_reply_t *rmp;
  u32 table_id = clib_net_to_host_u32 (mp->table_id);
  u32 n_deleted = 0;
  int rv = 0;

  if (table_id != ~0 && !cloudnat_table_exists (table_id))
    rv = VNET_API_ERROR_NO_SUCH_FIB;
  else
    n_deleted = cloudnat_session_purge (table_id);

  REPLY_MACRO2 (VL_API_CLOUDNAT_SESSION_PURGE_REPLY,
		({ rmp->n_deleted = clib_host_to_net_u32 (n_deleted); }));
}

/* ------------------------------------------------------------------ */
/* Source NAT                                                          */
/* ------------------------------------------------------------------ */

static void
vl_api_cloudnat_snat_address_add_del_t_handler (vl_api_cloudnat_snat_address_add_del_t *mp)
{
  vl_api_cloudnat_snat_address_add_del_reply_t *rmp;
  ip46_address_t addr;
  ip_address_family_t af;
  u32 table_id = clib_net_to_host_u32 (mp->table_id);
  int rv;

  if ((rv = cn_api_address_decode (&mp->addr, &addr, &af)))
    goto done;
  if ((rv = cn_api_check_table (table_id, af)))
    goto done;
  if (mp->is_add && af == AF_IP4 && addr.ip4.as_u32 == 0xffffffff)
    {
      /* the dataplane refuses zero and multicast; broadcast too */
      rv = VNET_API_ERROR_INVALID_SRC_ADDRESS;
      goto done;
    }
  rv = cloudnat_snat_address_add_del (table_id, &addr, af, mp->is_add);

done:
  REPLY_MACRO (VL_API_CLOUDNAT_SNAT_ADDRESS_ADD_DEL_REPLY);
}

static walk_rc_t
cn_api_snat_address_send_details (u32 table_id, const ip46_address_t *addr, ip_address_family_t af,
				  void *arg)
{
  cn_api_dump_ctx_t *ctx = arg;
  vl_api_cloudnat_snat_address_details_t *mp;

  mp = cn_api_details_alloc (ctx, sizeof (*mp), VL_API_CLOUDNAT_SNAT_ADDRESS_DETAILS);
  mp->table_id = clib_host_to_net_u32 (table_id);
  cn_api_address_encode (addr, af, &mp->addr);
  vl_api_send_msg (ctx->rp, (u8 *) mp);
  return WALK_CONTINUE;
}

static void
vl_api_cloudnat_snat_address_dump_t_handler (vl_api_cloudnat_snat_address_dump_t *mp)
{
  cn_api_dump_ctx_t ctx;

  if (!cn_api_dump_ctx_init (&ctx, mp->client_index, mp->context))
    return;
  cloudnat_snat_address_walk (cn_api_snat_address_send_details, &ctx);
}

static void
vl_api_cloudnat_snat_exclude_add_del_t_handler (vl_api_cloudnat_snat_exclude_add_del_t *mp)
{
  vl_api_cloudnat_snat_exclude_add_del_reply_t *rmp;
  ip46_address_t pfx;
  ip_address_family_t af;
  u32 table_id = clib_net_to_host_u32 (mp->table_id);
  u8 len;
  int rv;

  /* strict: what a dump returns must equal what was added */
  if ((rv = cn_api_prefix_decode (&mp->prefix, &pfx, &len, &af, 1 /* strict */)))
    goto done;
  if ((rv = cn_api_check_table (table_id, af)))
    goto done;
  rv = cloudnat_snat_exclude_add_del (table_id, &pfx, len, af, mp->is_add);

done:
  REPLY_MACRO (VL_API_CLOUDNAT_SNAT_EXCLUDE_ADD_DEL_REPLY);
}

static void
vl_api_cloudnat_snat_filtering_set_t_handler (vl_api_cloudnat_snat_filtering_set_t *mp)
{
  vl_api_cloudnat_snat_filtering_set_reply_t *rmp;
  int rv = cloudnat_snat_filtering_set (clib_net_to_host_u32 (mp->table_id), mp->filtering);
  REPLY_MACRO (VL_API_CLOUDNAT_SNAT_FILTERING_SET_REPLY);
}

static walk_rc_t
cn_api_snat_exclude_send_details (u32 table_id, const ip46_address_t *pfx, u8 len,
				  ip_address_family_t af, void *arg)
{
  cn_api_dump_ctx_t *ctx = arg;
  vl_api_cloudnat_snat_exclude_details_t *mp;

  mp = cn_api_details_alloc (ctx, sizeof (*mp), VL_API_CLOUDNAT_SNAT_EXCLUDE_DETAILS);
  mp->table_id = clib_host_to_net_u32 (table_id);
  cn_api_prefix_encode (pfx, len, af, &mp->prefix);
  vl_api_send_msg (ctx->rp, (u8 *) mp);
  return WALK_CONTINUE;
}

static void
vl_api_cloudnat_snat_exclude_dump_t_handler (vl_api_cloudnat_snat_exclude_dump_t *mp)
{
  cn_api_dump_ctx_t ctx;

  if (!cn_api_dump_ctx_init (&ctx, mp->client_index, mp->context))
    return;
  cloudnat_snat_exclude_walk (cn_api_snat_exclude_send_details, &ctx);
}

static void
vl_api_cloudnat_snat_interface_enable_disable_t_handler (
  vl_api_cloudnat_snat_interface_enable_disable_t *mp)
{
  vl_api_cloudnat_snat_interface_enable_disable_reply_t *rmp;
  int rv = 0;

  VALIDATE_SW_IF_INDEX (mp);

  rv = cloudnat_snat_interface_enable_disable (clib_net_to_host_u32 (mp->sw_if_index),
					       mp->is_ip6 ? 1 : 0, mp->enable ? 1 : 0);

  BAD_SW_IF_INDEX_LABEL;
  REPLY_MACRO (VL_API_CLOUDNAT_SNAT_INTERFACE_ENABLE_DISABLE_REPLY);
}

static walk_rc_t
cn_api_snat_interface_send_details (u32 sw_if_index, u8 is_ip6, void *arg)
{
  cn_api_dump_ctx_t *ctx = arg;
  vl_api_cloudnat_snat_interface_details_t *mp;

  /* Only the operator's: the ones a table reference turned on belong to
     their pool binding or static mapping, which the client lists itself
     (an agent would otherwise see them as drift and turn them off). */
  if (cloudnat_snat_interface_is_auto (sw_if_index, is_ip6))
    return WALK_CONTINUE;
  mp = cn_api_details_alloc (ctx, sizeof (*mp), VL_API_CLOUDNAT_SNAT_INTERFACE_DETAILS);
  mp->sw_if_index = clib_host_to_net_u32 (sw_if_index);
  mp->is_ip6 = is_ip6 ? 1 : 0;
  vl_api_send_msg (ctx->rp, (u8 *) mp);
  return WALK_CONTINUE;
}

static void
vl_api_cloudnat_snat_interface_dump_t_handler (vl_api_cloudnat_snat_interface_dump_t *mp)
{
  cn_api_dump_ctx_t ctx;

  if (!cn_api_dump_ctx_init (&ctx, mp->client_index, mp->context))
    return;
  cloudnat_snat_interface_walk (cn_api_snat_interface_send_details, &ctx);
}

/* ------------------------------------------------------------------ */
/* Timeouts, limits, status, clock                                     */
/* ------------------------------------------------------------------ */

static void
vl_api_cloudnat_timeouts_set_t_handler (vl_api_cloudnat_timeouts_set_t *mp)
{
  vl_api_cloudnat_timeouts_set_reply_t *rmp;
  cloudnat_timeouts_t t = {
    .udp = clib_net_to_host_u32 (mp->udp),
    .tcp_established = clib_net_to_host_u32 (mp->tcp_established),
    .tcp_transitory = clib_net_to_host_u32 (mp->tcp_transitory),
    .icmp = clib_net_to_host_u32 (mp->icmp),
  };
  int rv;

  rv = cloudnat_timeouts_set (&t);

  REPLY_MACRO (VL_API_CLOUDNAT_TIMEOUTS_SET_REPLY);
}

static void
vl_api_cloudnat_timeouts_get_t_handler (vl_api_cloudnat_timeouts_get_t *mp)
{
  vl_api_cloudnat_timeouts_get_reply_t *rmp;
  cloudnat_timeouts_t t;
  int rv = 0;

  cloudnat_timeouts_get (&t);

  REPLY_MACRO2 (VL_API_CLOUDNAT_TIMEOUTS_GET_REPLY, ({
		  rmp->udp = clib_host_to_net_u32 (t.udp);
		  rmp->tcp_established = clib_host_to_net_u32 (t.tcp_established);
		  rmp->tcp_transitory = clib_host_to_net_u32 (t.tcp_transitory);
		  rmp->icmp = clib_host_to_net_u32 (t.icmp);
		}));
}

static void
vl_api_cloudnat_session_limit_set_t_handler (vl_api_cloudnat_session_limit_set_t *mp)
{
  vl_api_cloudnat_session_limit_set_reply_t *rmp;
  u32 table_id = clib_net_to_host_u32 (mp->table_id);
  int rv;

  if (table_id != ~0 && !cloudnat_table_exists (table_id))
    rv = VNET_API_ERROR_NO_SUCH_FIB;
  else
    rv = cloudnat_session_limit_set (table_id, clib_net_to_host_u32 (mp->max_sessions));

  REPLY_MACRO (VL_API_CLOUDNAT_SESSION_LIMIT_SET_REPLY);
}

static walk_rc_t
cn_api_session_limit_send_details (u32 table_id, u32 max_sessions, u32 n_sessions, void *arg)
{
  cn_api_dump_ctx_t *ctx = arg;
  vl_api_cloudnat_session_limit_details_t *mp;

  mp = cn_api_details_alloc (ctx, sizeof (*mp), VL_API_CLOUDNAT_SESSION_LIMIT_DETAILS);
  mp->table_id = clib_host_to_net_u32 (table_id);
  mp->max_sessions = clib_host_to_net_u32 (max_sessions);
  mp->n_sessions = clib_host_to_net_u32 (n_sessions);
  vl_api_send_msg (ctx->rp, (u8 *) mp);
  return WALK_CONTINUE;
}

static void
vl_api_cloudnat_session_limit_dump_t_handler (vl_api_cloudnat_session_limit_dump_t *mp)
{
  cn_api_dump_ctx_t ctx;

  if (!cn_api_dump_ctx_init (&ctx, mp->client_index, mp->context))
    return;
  cloudnat_session_limit_walk (cn_api_session_limit_send_details, &ctx);
}

static void
vl_api_cloudnat_session_table_dump_t_handler (vl_api_cloudnat_session_table_dump_t *mp)
{
  vl_api_cloudnat_session_table_details_t *rmp;
  cloudnat_session_table_info_t ti;
  cn_api_dump_ctx_t ctx;
  ip_address_family_t af;

  if (!cn_api_dump_ctx_init (&ctx, mp->client_index, mp->context))
    return;
  FOR_EACH_IP_ADDRESS_FAMILY (af)
  {
    cloudnat_session_table_info (af, &ti);
    if (!ti.n_buckets)
      continue;
    rmp = cn_api_details_alloc (&ctx, sizeof (*rmp), VL_API_CLOUDNAT_SESSION_TABLE_DETAILS);
    rmp->af = ip_address_family_encode (af);
    rmp->n_buckets = clib_host_to_net_u32 (ti.n_buckets);
    rmp->n_slots = clib_host_to_net_u64 (ti.n_slots);
    rmp->n_entries = clib_host_to_net_u64 (ti.n_entries);
    rmp->n_spilled_buckets = clib_host_to_net_u64 (ti.n_spilled);
    rmp->max_displacement = clib_host_to_net_u32 (ti.max_displacement);
    rmp->bytes = clib_host_to_net_u64 (ti.bytes);
    vl_api_send_msg (ctx.rp, (u8 *) rmp);
  }
}

static void
vl_api_cloudnat_get_status_t_handler (vl_api_cloudnat_get_status_t *mp)
{
  vl_api_cloudnat_get_status_reply_t *rmp;
  cloudnat_status_t st;
  int rv = 0;

  cloudnat_get_status (&st);

  REPLY_MACRO2 (VL_API_CLOUDNAT_GET_STATUS_REPLY, ({
		  rmp->n_translations = clib_host_to_net_u32 (st.n_translations);
		  rmp->n_sessions = clib_host_to_net_u32 (st.n_sessions);
		  rmp->max_sessions = clib_host_to_net_u32 (st.max_sessions);
		  rmp->clock_offset = clib_host_to_net_u64 (st.clock_offset);
		  clib_memset (rmp->plugin_version, 0, sizeof (rmp->plugin_version));
		  strncpy ((char *) rmp->plugin_version, CLOUDNAT_PLUGIN_VERSION,
			   sizeof (rmp->plugin_version) - 1);
		}));
}

static void
vl_api_cloudnat_test_clock_advance_t_handler (vl_api_cloudnat_test_clock_advance_t *mp)
{
  vl_api_cloudnat_test_clock_advance_reply_t *rmp;
  int rv;

  rv = cloudnat_clock_advance (clib_net_to_host_u32 (mp->seconds));

  REPLY_MACRO (VL_API_CLOUDNAT_TEST_CLOCK_ADVANCE_REPLY);
}

/* ------------------------------------------------------------------ */
/* Registration                                                        */
/* ------------------------------------------------------------------ */

/* handlers of the pools and fragments sections (cloudnat_pool_api.c) */
#define _(n) void vl_api_##n##_t_handler (vl_api_##n##_t *mp);
foreach_cn_pool_api_msg
#undef _

#include <cloudnat/cloudnat.api.c>

static clib_error_t *
cloudnat_api_init (vlib_main_t *vm)
{
  cloudnat_main.msg_id_base = setup_message_id_table ();
  return 0;
}

VLIB_INIT_FUNCTION (cloudnat_api_init);
