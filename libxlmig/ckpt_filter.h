/*
 * ckpt_filter.h - continue a partial checkpoint behind a backend whose
 * own save cannot (hv ops save_continues false: on Xen the save is
 * libxenguest's, and it writes every page of its first pass).
 *
 * The backend writes its whole save stream into the filter on the way to
 * the file.  Through the stream parser, the filter
 *   - holds back the stream's head and compares it with the head the
 *     partial file holds (ckpt_base.h): the same, it writes none of it;
 *   - drops each pfn's page the first time the stream gives it, when the
 *     file already holds that content: what the first pass sends of a
 *     page the guest did not change since it was written;
 *   - writes everything else as it comes: a later pass sends a page
 *     again only once log-dirty saw it written, and that copy must go.
 * A head that differs (the guest's config or static state changed, on
 * another host say) is no error: the file is emptied and the stream goes
 * into it whole from its first byte, started over without the backend
 * starting its save again.
 *
 * What this saves is the file's writes, not the backend's reading: the
 * first pass still maps every page, and each of its pages costs one
 * SHA-256 here.
 */
#ifndef XLMIG_CKPT_FILTER_H
#define XLMIG_CKPT_FILTER_H

#include "common.h"

struct xlmig_ckpt_base;
struct xlmig_ckpt_filter;

/* A filter writing onto fd, which is placed at the end of what base
 * keeps of the file (ckpt_base's end). */
int xlmig_ckpt_filter_new(const struct xlmig_ckpt_base *base, int fd,
			  struct xlmig_ckpt_filter **out);
/* The next bytes of the backend's stream. */
int xlmig_ckpt_filter_feed(struct xlmig_ckpt_filter *f, const void *data, size_t len);
/* At the stream's end: XLMIG_E_TRUNCATED unless it ended cleanly. */
int xlmig_ckpt_filter_finish(struct xlmig_ckpt_filter *f);
/* Pages left as the file held them. */
uint64_t xlmig_ckpt_filter_unchanged(const struct xlmig_ckpt_filter *f);
/* Why the file started over, or NULL when it was continued. */
const char *xlmig_ckpt_filter_started_over(const struct xlmig_ckpt_filter *f);
void xlmig_ckpt_filter_free(struct xlmig_ckpt_filter *f);

#endif
