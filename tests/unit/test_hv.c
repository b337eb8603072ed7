/*
 * test_hv.c - what hv.c adds to the backends: the optional ops' wrappers,
 * resume-if-stopped, and the domain-list diff behind the domain watches.
 */
#include "unit.h"
#include "hv.h"

/* One domain whose state the test sets; counts what was called. */
struct tiny {
	struct xlmig_hv hv;
	enum xlmig_dom_state state;
	unsigned resumes, unpauses;
};

#define T(hv) ((struct tiny *)(hv))

static int t_lookup(struct xlmig_hv *hv, const char *name, struct xlmig_domain_info *out)
{
	memset(out, 0, sizeof(*out));
	out->domid = 7;
	out->state = T(hv)->state;
	return strcmp(name, "7") ? XLMIG_E_NOTFOUND : XLMIG_OK;
}

static int t_resume(struct xlmig_hv *hv, uint32_t domid)
{
	T(hv)->resumes++;
	return XLMIG_OK;
}

static int t_unpause(struct xlmig_hv *hv, uint32_t domid)
{
	T(hv)->unpauses++;
	return XLMIG_OK;
}

static const struct xlmig_hv_ops tiny_ops = {
	.name = "tiny", .lookup = t_lookup, .resume = t_resume, .unpause = t_unpause,
};

TEST(hv_resume_if_stopped_resumes_only_a_suspended_domain)
{
	struct tiny t = { .hv = { .ops = &tiny_ops } };

	t.state = XLMIG_DOM_RUNNING;
	CHECK_OK(xlmig_hv_resume_if_stopped(&t.hv, 7));
	t.state = XLMIG_DOM_PAUSED;     /* the administrator's pause stays */
	CHECK_OK(xlmig_hv_resume_if_stopped(&t.hv, 7));
	CHECK_EQ(t.resumes + t.unpauses, 0);
	t.state = XLMIG_DOM_SUSPENDED;
	CHECK_OK(xlmig_hv_resume_if_stopped(&t.hv, 7));
	CHECK_EQ(t.resumes, 1);
	CHECK_EQ(xlmig_hv_resume_if_stopped(&t.hv, 8), XLMIG_E_NOTFOUND);
	CHECK(strstr(xlmig_errmsg(), "domain 8") != NULL);
}

TEST(hv_optional_ops_say_what_the_backend_cannot)
{
	struct tiny t = { .hv = { .ops = &tiny_ops } };
	struct xlmig_hv_create c = { .name = "x", .mem_bytes = 1 << 30, .vcpus = 1 };
	uint8_t digest[32];
	uint64_t counter;
	uint32_t domid;

	CHECK_EQ(xlmig_hv_mem_digest(&t.hv, 7, digest), XLMIG_E_UNSUPPORTED);
	CHECK(strstr(xlmig_errmsg(), "tiny backend cannot") != NULL);
	CHECK_EQ(xlmig_hv_counter(&t.hv, 7, &counter), XLMIG_E_UNSUPPORTED);
	CHECK_EQ(xlmig_hv_counter_passes(&t.hv, 7, 0, 10), XLMIG_E_UNSUPPORTED);
	CHECK_EQ(xlmig_hv_create(&t.hv, &c, &domid), XLMIG_E_UNSUPPORTED);
	CHECK(strstr(xlmig_errmsg(), "creating guests") != NULL);
}

TEST(hv_domlist_diff)
{
	const uint32_t before[] = { 1, 3, 5, 9 };
	const uint32_t after[] = { 3, 4, 9, 12 };
	struct xlmig_dom_change c[8];
	size_t n = xlmig_domlist_diff(before, 4, after, 4, c, 8);

	CHECK_EQ(n, 4);
	CHECK(c[0].domid == 1 && !c[0].appeared);
	CHECK(c[1].domid == 4 && c[1].appeared);
	CHECK(c[2].domid == 5 && !c[2].appeared);
	CHECK(c[3].domid == 12 && c[3].appeared);
	CHECK_EQ(xlmig_domlist_diff(before, 4, before, 4, c, 8), 0);
	CHECK_EQ(xlmig_domlist_diff(before, 4, after, 4, c, 2), 2);
	CHECK_EQ(xlmig_domlist_diff(NULL, 0, after, 4, c, 8), 4);
}
