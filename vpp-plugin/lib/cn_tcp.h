/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cn_tcp.h: the TCP state a session keeps, for choosing its timeout.
 *
 * One byte: the state (low 3 bits, values of the API's cloudnat_tcp_state)
 * plus flags: FIN seen forward, FIN seen in reply, SYN-ACK seen.
 *
 *   new flow: SYN -> SYN_SENT; RST -> CLOSED; anything else (a flow picked
 *             up mid-stream, e.g. after a purge) -> ESTABLISHED
 *   SYN_SENT: reply SYN+ACK noted; then a forward ACK -> ESTABLISHED
 *   any FIN -> FIN_WAIT; FINs both ways -> CLOSED; RST -> CLOSED
 *   CLOSED/FIN_WAIT + forward SYN (port reuse) -> SYN_SENT again
 *
 * ESTABLISHED uses the established timeout; every other state the
 * transitory one. Both directions of a flow may be handled by different
 * threads; updates are plain stores of the new byte, so a rare lost update
 * only leaves a session in a state with the transitory timeout.
 */
#ifndef CN_TCP_H
#define CN_TCP_H

#include <stdint.h>

#define CN_TCPS_NONE	    0
#define CN_TCPS_SYN_SENT    1
#define CN_TCPS_ESTABLISHED 2
#define CN_TCPS_FIN_WAIT    3
#define CN_TCPS_CLOSED	    4
#define CN_TCPS_MASK	    0x07
#define CN_TCPS_FIN_FWD	    0x08
#define CN_TCPS_FIN_REV	    0x10
#define CN_TCPS_SYNACK	    0x20

#ifndef CN_TCP_F_FIN
#define CN_TCP_F_FIN 0x01
#define CN_TCP_F_SYN 0x02
#define CN_TCP_F_RST 0x04
#define CN_TCP_F_ACK 0x10
#endif

static inline uint8_t
cn_tcp_state (uint8_t st)
{
  return st & CN_TCPS_MASK;
}

static inline uint8_t
cn_tcp_new (uint8_t flags)
{
  if (flags & CN_TCP_F_RST)
    return CN_TCPS_CLOSED;
  if ((flags & (CN_TCP_F_SYN | CN_TCP_F_ACK)) == CN_TCP_F_SYN)
    return CN_TCPS_SYN_SENT;
  if (flags & CN_TCP_F_FIN)
    return CN_TCPS_FIN_WAIT | CN_TCPS_FIN_FWD;
  return CN_TCPS_ESTABLISHED;
}

static inline uint8_t
cn_tcp_update (uint8_t st, uint8_t flags, int is_reply)
{
  uint8_t s = st & CN_TCPS_MASK;

  if (flags & CN_TCP_F_RST)
    return (uint8_t) ((st & ~CN_TCPS_MASK) | CN_TCPS_CLOSED);

  if ((flags & (CN_TCP_F_SYN | CN_TCP_F_ACK)) == CN_TCP_F_SYN && !is_reply &&
      (s == CN_TCPS_CLOSED || s == CN_TCPS_FIN_WAIT))
    return CN_TCPS_SYN_SENT; /* the 5-tuple is reused by a new connection */

  if (s == CN_TCPS_SYN_SENT)
    {
      if (is_reply && (flags & CN_TCP_F_SYN) && (flags & CN_TCP_F_ACK))
	st |= CN_TCPS_SYNACK;
      else if (!is_reply && (st & CN_TCPS_SYNACK) && (flags & CN_TCP_F_ACK) &&
	       !(flags & CN_TCP_F_SYN))
	st = (uint8_t) ((st & ~CN_TCPS_MASK) | CN_TCPS_ESTABLISHED);
    }

  if (flags & CN_TCP_F_FIN)
    {
      st |= is_reply ? CN_TCPS_FIN_REV : CN_TCPS_FIN_FWD;
      if ((st & (CN_TCPS_FIN_FWD | CN_TCPS_FIN_REV)) == (CN_TCPS_FIN_FWD | CN_TCPS_FIN_REV))
	st = (uint8_t) ((st & ~CN_TCPS_MASK) | CN_TCPS_CLOSED);
      else
	st = (uint8_t) ((st & ~CN_TCPS_MASK) | CN_TCPS_FIN_WAIT);
    }
  return st;
}

static inline int
cn_tcp_is_established (uint8_t st)
{
  return (st & CN_TCPS_MASK) == CN_TCPS_ESTABLISHED;
}

#endif /* CN_TCP_H */
