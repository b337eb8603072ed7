/*
 * test_bufpool.c - the frame buffer pool: what it keeps, what it frees,
 * and that it keeps no more than its bound.
 */
#include "bufpool.h"
#include "unit.h"

#include <pthread.h>
#include <stdlib.h>

TEST(bufpool_gives_back_a_kept_buffer_empty_with_its_memory)
{
	struct xlmig_bufpool *p = xlmig_bufpool_new();
	struct xlmig_buf b = { 0 };
	uint8_t *mem;

	CHECK(p);
	CHECK_INT(xlmig_buf_append(&b, "frame bytes", 11), ==, XLMIG_OK);
	mem = b.data;
	xlmig_bufpool_put(p, &b, 0);
	CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
	/* What it may pin is at least what it held when put back. */
	CHECK_INT(xlmig_bufpool_get(p, &b), ==, 11);
	CHECK(b.data == mem);
	CHECK_INT(b.len, ==, 0);
	CHECK_INT(b.cap, >=, 11);
	/* The most it ever held travels with it. */
	xlmig_bufpool_put(p, &b, 1 << 20);
	CHECK_INT(xlmig_bufpool_get(p, &b), ==, 1 << 20);
	CHECK(b.data == mem);
	/* Nothing kept now: an empty buffer without memory. */
	{
		struct xlmig_buf none;

		CHECK_INT(xlmig_bufpool_get(p, &none), ==, 0);
		CHECK(none.data == NULL && none.len == 0 && none.cap == 0);
	}
	xlmig_buf_free(&b);
	xlmig_bufpool_free(p);
}

TEST(bufpool_keeps_at_most_its_slots_and_frees_the_rest)
{
	struct xlmig_bufpool *p = xlmig_bufpool_new();
	struct xlmig_buf b[XLMIG_BUFPOOL_SLOTS + 3];
	unsigned got = 0;

	CHECK(p);
	for (unsigned i = 0; i < XLMIG_BUFPOOL_SLOTS + 3; i++) {
		b[i] = (struct xlmig_buf){ 0 };
		CHECK_INT(xlmig_buf_reserve(&b[i], 4096), ==, XLMIG_OK);
	}
	/* The extra ones are freed here (valgrind and ASan see a leak
	 * otherwise), and put always empties the caller's buffer. */
	for (unsigned i = 0; i < XLMIG_BUFPOOL_SLOTS + 3; i++) {
		xlmig_bufpool_put(p, &b[i], 0);
		CHECK(b[i].data == NULL);
	}
	for (unsigned i = 0; i < XLMIG_BUFPOOL_SLOTS + 3; i++) {
		xlmig_bufpool_get(p, &b[i]);
		got += b[i].data != NULL;
	}
	CHECK_INT(got, ==, XLMIG_BUFPOOL_SLOTS);
	for (unsigned i = 0; i < XLMIG_BUFPOOL_SLOTS + 3; i++)
		xlmig_buf_free(&b[i]);
	/* Freeing a pool frees what it keeps. */
	for (unsigned i = 0; i < 2; i++) {
		CHECK_INT(xlmig_buf_reserve(&b[i], 1 << 20), ==, XLMIG_OK);
		xlmig_bufpool_put(p, &b[i], 0);
	}
	xlmig_bufpool_free(p);
}

TEST(bufpool_null_keeps_nothing)
{
	struct xlmig_buf b = { 0 };

	CHECK_INT(xlmig_buf_reserve(&b, 100), ==, XLMIG_OK);
	xlmig_bufpool_put(NULL, &b, 0);
	CHECK(b.data == NULL);
	xlmig_bufpool_get(NULL, &b);
	CHECK(b.data == NULL && b.cap == 0);
	xlmig_bufpool_free(NULL);
}

/* Two threads passing buffers through the pool, as an encoder and a
 * channel writer do: every buffer is either held or kept, none lost or
 * given twice (ASan/valgrind catch a double free or a leak). */
static void *churn(void *arg)
{
	struct xlmig_bufpool *p = arg;

	for (unsigned i = 0; i < 20000; i++) {
		struct xlmig_buf b;

		xlmig_bufpool_get(p, &b);
		if (xlmig_buf_reserve(&b, 64 + i % 4096) != XLMIG_OK)
			return (void *)1;
		memset(b.data, (int)i, 64);
		b.len = 64;
		xlmig_bufpool_put(p, &b, 0);
	}
	return NULL;
}

TEST(bufpool_between_threads)
{
	struct xlmig_bufpool *p = xlmig_bufpool_new();
	pthread_t t[3];
	void *res;

	CHECK(p);
	for (unsigned i = 0; i < 3; i++)
		CHECK_INT(pthread_create(&t[i], NULL, churn, p), ==, 0);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_INT(pthread_join(t[i], &res), ==, 0);
		CHECK(res == NULL);
	}
	xlmig_bufpool_free(p);
}

static unsigned objs_freed;

static void count_free(void *obj)
{
	objs_freed++;
	free(obj);
}

/* An object pool keeps up to its bound, hands kept objects back, frees
 * what it cannot keep at once and the rest when destroyed. */
TEST(objpool_keeps_up_to_its_bound)
{
	struct xlmig_objpool p;
	void *a = malloc(8), *b = malloc(8), *c = malloc(8);

	CHECK(a && b && c);
	objs_freed = 0;
	xlmig_objpool_init(&p, 2, count_free);
	CHECK(xlmig_objpool_get(&p) == NULL);
	xlmig_objpool_put(&p, NULL);
	xlmig_objpool_put(&p, a);
	xlmig_objpool_put(&p, b);
	xlmig_objpool_put(&p, c);          /* over the bound: freed */
	CHECK_EQ(objs_freed, 1);
	CHECK(xlmig_objpool_get(&p) == b);
	xlmig_objpool_put(&p, b);
	xlmig_objpool_destroy(&p);         /* a and b */
	CHECK_EQ(objs_freed, 3);
}
