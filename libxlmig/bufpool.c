/*
 * bufpool.c - a few frame buffers, or objects, kept for reuse (see
 * bufpool.h).
 */
#include "bufpool.h"

#include <pthread.h>
#include <stdlib.h>

struct xlmig_bufpool {
	pthread_mutex_t lock;
	unsigned n;
	struct xlmig_buf kept[XLMIG_BUFPOOL_SLOTS];
	size_t high[XLMIG_BUFPOOL_SLOTS];
};

struct xlmig_bufpool *xlmig_bufpool_new(void)
{
	struct xlmig_bufpool *p = calloc(1, sizeof(*p));

	if (p)
		pthread_mutex_init(&p->lock, NULL);
	return p;
}

void xlmig_bufpool_free(struct xlmig_bufpool *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->n; i++)
		xlmig_buf_free(&p->kept[i]);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

size_t xlmig_bufpool_get(struct xlmig_bufpool *p, struct xlmig_buf *b)
{
	size_t high = 0;

	*b = (struct xlmig_buf){ 0 };
	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	if (p->n) {
		*b = p->kept[--p->n];
		high = p->high[p->n];
		p->kept[p->n] = (struct xlmig_buf){ 0 };
	}
	pthread_mutex_unlock(&p->lock);
	b->len = 0;
	return high;
}

void xlmig_bufpool_put(struct xlmig_bufpool *p, struct xlmig_buf *b, size_t high)
{
	bool kept = false;

	if (p && b->data) {
		pthread_mutex_lock(&p->lock);
		if (p->n < XLMIG_BUFPOOL_SLOTS) {
			p->high[p->n] = XLMIG_MAX(high, b->len);
			p->kept[p->n++] = *b;
			kept = true;
		}
		pthread_mutex_unlock(&p->lock);
	}
	if (kept)
		*b = (struct xlmig_buf){ 0 };
	else
		xlmig_buf_free(b);
}

void xlmig_objpool_init(struct xlmig_objpool *p, unsigned keep, void (*free_fn)(void *))
{
	*p = (struct xlmig_objpool){ .keep = XLMIG_MIN(keep, XLMIG_OBJPOOL_MAX),
				     .free_fn = free_fn };
	pthread_mutex_init(&p->lock, NULL);
}

void xlmig_objpool_destroy(struct xlmig_objpool *p)
{
	while (p->n)
		p->free_fn(p->kept[--p->n]);
	pthread_mutex_destroy(&p->lock);
}

void *xlmig_objpool_get(struct xlmig_objpool *p)
{
	void *obj = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->n)
		obj = p->kept[--p->n];
	pthread_mutex_unlock(&p->lock);
	return obj;
}

void xlmig_objpool_put(struct xlmig_objpool *p, void *obj)
{
	if (!obj)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->n < p->keep) {
		p->kept[p->n++] = obj;
		obj = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (obj)
		p->free_fn(obj);
}
