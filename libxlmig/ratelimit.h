/*
 * ratelimit.h - a token bucket shared by every channel of a migration, so
 * that a bandwidth cap holds for the sum of the channels, not for each.
 *
 * Takers may drive the bucket below zero: a taker of n bytes pays at once
 * and then sleeps until the debt would have been refilled.  Concurrent
 * takers therefore queue up in order of arrival and the long-run rate is
 * exact, whatever the frame sizes; the burst bounds how far ahead of the
 * rate an idle link may jump.
 */
#ifndef XLMIG_RATELIMIT_H
#define XLMIG_RATELIMIT_H

#include "common.h"

#include <stdatomic.h>

struct xlmig_ratelimit;

/* rate in bytes per second (0 = no cap); burst in bytes (0 = a tenth of a
 * second's worth, at least 64 KiB). */
int xlmig_ratelimit_new(uint64_t rate, uint64_t burst, struct xlmig_ratelimit **out);
void xlmig_ratelimit_free(struct xlmig_ratelimit *rl);
/* Change the cap while transfers run (the administrator's --bandwidth). */
void xlmig_ratelimit_set_rate(struct xlmig_ratelimit *rl, uint64_t rate);
uint64_t xlmig_ratelimit_rate(struct xlmig_ratelimit *rl);

/* Pay for n bytes at time now_ns and return how many nanoseconds the
 * caller must wait before sending them.  The clock is a parameter so the
 * arithmetic can be tested without sleeping. */
uint64_t xlmig_ratelimit_reserve(struct xlmig_ratelimit *rl, uint64_t n, uint64_t now_ns);
/* Pay for n bytes and sleep as long as needed; XLMIG_E_CANCELLED as soon
 * as *stop becomes true (checked every few milliseconds). */
int xlmig_ratelimit_take(struct xlmig_ratelimit *rl, uint64_t n, const atomic_bool *stop);

#endif
