/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cn_timer.h: session time keeping.
 *
 * A session stores when it was last used as a 32-bit tick count of the
 * plugin's clock (VPP time + test offset) in 1/CN_TICKS_PER_SEC seconds.
 * Comparisons are wrap safe (the counter wraps every ~194 days; intervals
 * must stay below half of that, so timeouts are capped at CN_TIMEOUT_MAX).
 * A session is expired when it has been idle for at least its timeout.
 */
#ifndef CN_TIMER_H
#define CN_TIMER_H

#include <stdint.h>

#define CN_TICKS_PER_SEC 256
#define CN_TIMEOUT_MAX	 (30u * 24 * 3600) /* 30 days */

static inline uint32_t
cn_ticks_from_seconds (double t)
{
  return (uint32_t) (uint64_t) (t * CN_TICKS_PER_SEC);
}

/* Ticks elapsed from then to now (0 if then is in the future). */
static inline uint32_t
cn_ticks_since (uint32_t now, uint32_t then)
{
  int32_t d = (int32_t) (now - then);
  return d > 0 ? (uint32_t) d : 0;
}

static inline int
cn_expired (uint32_t now, uint32_t last, uint32_t timeout_s)
{
  return cn_ticks_since (now, last) >= (uint64_t) timeout_s * CN_TICKS_PER_SEC;
}

/* Whole seconds left before expiry (rounded up; 0 when due). */
static inline uint32_t
cn_expires_in (uint32_t now, uint32_t last, uint32_t timeout_s)
{
  uint64_t idle = cn_ticks_since (now, last);
  uint64_t to = (uint64_t) timeout_s * CN_TICKS_PER_SEC;
  if (idle >= to)
    return 0;
  return (uint32_t) ((to - idle + CN_TICKS_PER_SEC - 1) / CN_TICKS_PER_SEC);
}

/* How many session slots a scanner wake should visit so that a full pass
   over n_slots takes about pass_s seconds when waking every interval_s,
   with a floor so small tables are still swept promptly. */
static inline uint32_t
cn_scan_budget (uint32_t n_slots, double interval_s, double pass_s, uint32_t floor_)
{
  double per = pass_s > 0 ? (double) n_slots * interval_s / pass_s : n_slots;
  uint32_t b = (uint32_t) per + 1;
  return b < floor_ ? floor_ : b;
}

#endif /* CN_TIMER_H */
