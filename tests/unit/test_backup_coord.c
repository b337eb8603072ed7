/*
 * test_backup_coord.c - the backup coordinator's rules (backup/coord.h),
 * its records (record.h) and its tdb store (store.h).
 */
#include "coord.h"
#include "record.h"
#include "store.h"
#include "unit.h"

#include <stdlib.h>

static struct xlmig_bk_coord *mk(const char *host, bool abort_unacked)
{
	struct xlmig_bk_config cfg;
	struct xlmig_bk_coord *c = NULL;

	xlmig_bk_config_default(&cfg);
	snprintf(cfg.host, sizeof(cfg.host), "%s", host);
	cfg.lease_secs = 100;
	cfg.hold_ack_secs = 10;
	cfg.abort_unacked = abort_unacked;
	if (xlmig_bk_coord_new(&cfg, &c))
		return NULL;
	return c;
}

static struct xlmig_bk_job *begin(struct xlmig_bk_coord *c, const char *dom, bool wait,
				  bool quiesce, int64_t now, bool *deferred)
{
	struct xlmig_bk_begin b = { .domain = dom, .agent = "vendor", .wait = wait, .quiesce = quiesce };
	struct xlmig_bk_job *j = NULL;
	bool d = false;

	if (xlmig_bk_begin(c, &b, now, &j, &d))
		return NULL;
	if (deferred)
		*deferred = d;
	return j;
}

/* Events in the queue, as a string of initials (H R G X E). */
static void events(struct xlmig_bk_coord *c, char *out, size_t size)
{
	static const char initials[] = "HRGXE";
	struct xlmig_bk_event ev;
	size_t k = 0;

	while (xlmig_bk_next_event(c, &ev) && k + 1 < size)
		out[k++] = initials[ev.type];
	out[k] = 0;
}

TEST(bk_begin_progress_end)
{
	struct xlmig_bk_coord *c = mk("a", false);
	struct xlmig_bk_job *j, *p;
	char ev[16];
	bool deferred = true;

	CHECK(c);
	CHECK((j = begin(c, "web1", false, false, 1000, &deferred)));
	CHECK(!deferred);
	CHECK_EQ(j->state, XLMIG_BK_RUNNING);
	CHECK_STR(j->id, "a-1");
	CHECK_EQ(j->lease_until, 1100);
	CHECK_OK(xlmig_bk_progress(c, "a-1", (const uint8_t *)"cur=5", 5, false, 1050, &p));
	CHECK_EQ(p->lease_until, 1150);
	CHECK_EQ(p->token_len, 5);
	CHECK_OK(xlmig_bk_end(c, "a-1", true, NULL, 1060, &p));
	CHECK_EQ(p->state, XLMIG_BK_DONE);
	/* Ends exactly once. */
	CHECK_EQ(xlmig_bk_end(c, "a-1", true, NULL, 1061, &p), XLMIG_E_INVAL);
	CHECK_EQ(xlmig_bk_cancel(c, "a-1", 1061, &p), XLMIG_E_INVAL);
	CHECK_EQ(xlmig_bk_progress(c, "nope", NULL, 0, false, 1, &p), XLMIG_E_NOTFOUND);
	events(c, ev, sizeof(ev));
	CHECK_STR(ev, "E");
	xlmig_bk_coord_free(c);
}

TEST(bk_begin_refuses_bad_input)
{
	struct xlmig_bk_coord *c = mk("a", false);
	struct xlmig_bk_begin b = { .domain = "web1", .agent = "bad agent" };
	struct xlmig_bk_job *j;
	bool d;
	uint8_t big[XLMIG_BK_TOKEN_MAX + 1] = { 0 };

	CHECK(c);
	CHECK_EQ(xlmig_bk_begin(c, &b, 1, &j, &d), XLMIG_E_INVAL);
	b.agent = "ok";
	b.domain = "";
	CHECK_EQ(xlmig_bk_begin(c, &b, 1, &j, &d), XLMIG_E_INVAL);
	b.domain = "web1";
	b.lease_secs = XLMIG_BK_LEASE_MAX + 1;
	CHECK_EQ(xlmig_bk_begin(c, &b, 1, &j, &d), XLMIG_E_INVAL);
	b.lease_secs = 0;
	CHECK_OK(xlmig_bk_begin(c, &b, 1, &j, &d));
	CHECK_EQ(xlmig_bk_progress(c, j->id, big, sizeof(big), false, 2, &j), XLMIG_E_LIMIT);
	/* One checkpoint per guest: it owns the dirty log. */
	b.kind = XLMIG_BK_CHECKPOINT;
	CHECK_OK(xlmig_bk_begin(c, &b, 1, &j, &d));
	CHECK_EQ(xlmig_bk_begin(c, &b, 1, &j, &d), XLMIG_E_EXISTS);
	b.domain = "web2";
	CHECK_OK(xlmig_bk_begin(c, &b, 1, &j, &d));
	/* The first token comes with the request, within the same bound. */
	b.domain = "web3";
	b.token = big;
	b.token_len = sizeof(big);
	CHECK_EQ(xlmig_bk_begin(c, &b, 1, &j, &d), XLMIG_E_LIMIT);
	b.token = (const uint8_t *)"file=/x";
	b.token_len = 7;
	CHECK_OK(xlmig_bk_begin(c, &b, 1, &j, &d));
	CHECK_EQ(j->token_len, 7);
	CHECK(!memcmp(j->token, "file=/x", 7));
	xlmig_bk_coord_free(c);
}

TEST(bk_lease_expires)
{
	struct xlmig_bk_coord *c = mk("a", false);
	struct xlmig_bk_job *j;
	char ev[16];

	CHECK(c);
	CHECK((j = begin(c, "web1", false, false, 1000, NULL)));
	CHECK_EQ(xlmig_bk_tick(c, 1099), 0);
	CHECK_EQ(xlmig_bk_tick(c, 1100), 1);
	CHECK_EQ(j->state, XLMIG_BK_EXPIRED);
	CHECK_EQ(xlmig_bk_tick(c, 5000), 0);   /* once */
	events(c, ev, sizeof(ev));
	CHECK_STR(ev, "X");
	CHECK_EQ(xlmig_bk_progress(c, j->id, NULL, 0, false, 1101, &j), XLMIG_E_INVAL);
	xlmig_bk_coord_free(c);
}

TEST(bk_deferred_while_migrating)
{
	struct xlmig_bk_coord *c = mk("a", false);
	struct xlmig_bk_begin b = { .domain = "web1", .agent = "v" };
	struct xlmig_bk_job *j, out[4];
	size_t n;
	bool d;
	char ev[16];

	CHECK(c);
	CHECK_EQ(xlmig_bk_mig_begin(c, "web1", "7", 10), XLMIG_BK_GO);
	CHECK_EQ(xlmig_bk_begin(c, &b, 11, &j, &d), XLMIG_E_EXISTS);
	xlmig_bk_mig_commit(c, "web1");
	CHECK_EQ(xlmig_bk_mig_state(c, "web1"), XLMIG_BK_MIG_COMMIT);
	CHECK_EQ(xlmig_bk_begin(c, &b, 11, &j, &d), XLMIG_E_EXISTS);
	/* Another guest is not concerned. */
	b.domain = "web2";
	CHECK_OK(xlmig_bk_begin(c, &b, 11, &j, &d));
	CHECK(!d);
	b.domain = "web1";
	b.wait = true;
	CHECK_OK(xlmig_bk_begin(c, &b, 12, &j, &d));
	CHECK(d);
	CHECK_EQ(j->state, XLMIG_BK_REQUESTED);
	CHECK_EQ(xlmig_bk_progress(c, j->id, NULL, 0, false, 13, &j), XLMIG_E_INVAL);
	/* Failed migration: granted here. */
	xlmig_bk_mig_end(c, "web1", false, NULL, 20);
	CHECK_EQ(j->state, XLMIG_BK_RUNNING);
	CHECK_STR(j->host, "a");
	events(c, ev, sizeof(ev));
	CHECK_STR(ev, "G");
	/* A second wait request travels and is granted on the destination. */
	CHECK_EQ(xlmig_bk_mig_begin(c, "web1", "8", 30), XLMIG_BK_GO);
	CHECK_OK(xlmig_bk_end(c, j->id, true, "finished before the hold", 31, &j));  /* ended while held */
	CHECK_OK(xlmig_bk_begin(c, &b, 32, &j, &d));
	CHECK_OK(xlmig_bk_mig_collect(c, "web1", "8", 33, out, 4, &n));
	CHECK_EQ(n, 1);
	CHECK(out[0].wait);
	xlmig_bk_mig_end(c, "web1", true, "b", 40);
	CHECK(!j->here);
	CHECK_STR(j->host, "b");
	{
		struct xlmig_bk_coord *cb = mk("b", false);
		struct xlmig_bk_job *jb;
		CHECK(cb);
		CHECK_OK(xlmig_bk_adopt(cb, &out[0], "3", "a", 41));
		xlmig_bk_arrived(cb, "3", 42);
		CHECK((jb = xlmig_bk_find(cb, out[0].id)));
		CHECK_EQ(jb->state, XLMIG_BK_RUNNING);
		CHECK_EQ(jb->resumes, 0);
		CHECK_STR(jb->host, "b");
		events(cb, ev, sizeof(ev));
		CHECK_STR(ev, "G");
		xlmig_bk_coord_free(cb);
	}
	xlmig_bk_coord_free(c);
}

/* A: held, travels, B: resumes with the token, finishes on B; A never
 * resumes or ends it. */
/* A reset coordinator is a new one: no jobs, migrations, events or dirty
 * marks, ids from 1 again, the config kept. */
TEST(bk_coord_reset_is_new)
{
	struct xlmig_bk_coord *c = mk("a", false);
	struct xlmig_bk_begin b = { .domain = "web1", .agent = "v", .wait = true };
	const struct xlmig_bk_job *dirty[4];
	struct xlmig_bk_job *j, *first;
	struct xlmig_bk_event ev;
	bool d;

	CHECK(c);
	CHECK((first = begin(c, "web2", false, false, 10, NULL)));
	CHECK_EQ(xlmig_bk_mig_begin(c, "web1", "7", 11), XLMIG_BK_GO);
	CHECK_OK(xlmig_bk_begin(c, &b, 12, &j, &d));
	CHECK(d);
	xlmig_bk_mig_end(c, "web1", false, NULL, 13);   /* granted: an event */
	CHECK_EQ(xlmig_bk_count(c), 2);
	xlmig_bk_coord_reset(c);
	CHECK_EQ(xlmig_bk_count(c), 0);
	CHECK_EQ(xlmig_bk_next_id(c), 1);
	CHECK(!xlmig_bk_next_event(c, &ev));
	CHECK_EQ(xlmig_bk_events_dropped(c), 0);
	CHECK_EQ(xlmig_bk_take_dirty(c, dirty, 4), 0);
	CHECK_EQ(xlmig_bk_mig_state(c, "web1"), XLMIG_BK_MIG_NONE);
	CHECK_EQ(xlmig_bk_config(c)->lease_secs, 100);
	/* And it works as a new one: the first job's id again, not deferred. */
	CHECK_OK(xlmig_bk_begin(c, &b, 20, &j, &d));
	CHECK(!d);
	CHECK_STR(j->id, "a-1");
	CHECK_EQ(xlmig_bk_count(c), 1);
	xlmig_bk_coord_free(c);
}

TEST(bk_hold_travel_resume)
{
	struct xlmig_bk_coord *a = mk("a", false), *b = mk("b", false);
	struct xlmig_bk_job *j, *jb, out[4];
	char ev[16];
	size_t n;

	CHECK(a && b);
	CHECK((j = begin(a, "web1", false, false, 100, NULL)));
	CHECK_OK(xlmig_bk_progress(a, j->id, (const uint8_t *)"\x00\x01\xff", 3, false, 101, &j));
	CHECK_EQ(xlmig_bk_mig_begin(a, "web1", "9", 110), XLMIG_BK_GO);
	CHECK_EQ(j->state, XLMIG_BK_HELD);
	CHECK_EQ(j->lease_until, 0);
	CHECK_EQ(xlmig_bk_mig_holds(a, "web1", 111), XLMIG_BK_WAIT);
	/* Held jobs do not expire while held. */
	CHECK_EQ(xlmig_bk_tick(a, 100000), 0);
	/* The agent acknowledges by reporting (and may hand a last token). */
	CHECK_OK(xlmig_bk_progress(a, j->id, (const uint8_t *)"\x00\x01\xfe", 3, false, 112, &j));
	CHECK(j->acked);
	CHECK_EQ(j->state, XLMIG_BK_HELD);
	CHECK_EQ(xlmig_bk_mig_holds(a, "web1", 112), XLMIG_BK_GO);
	CHECK_OK(xlmig_bk_mig_collect(a, "web1", "9", 113, out, 4, &n));
	CHECK_EQ(n, 1);
	CHECK_EQ(j->state, XLMIG_BK_IN_TRANSIT);
	CHECK_EQ(xlmig_bk_end(a, j->id, true, NULL, 114, &j), XLMIG_E_INVAL);
	CHECK_EQ(xlmig_bk_cancel(a, j->id, 114, &j), XLMIG_E_INVAL);
	/* B receives it; nothing happens until the guest runs there. */
	CHECK_OK(xlmig_bk_adopt(b, &out[0], "4", "a", 115));
	CHECK((jb = xlmig_bk_find(b, out[0].id)));
	CHECK_EQ(jb->state, XLMIG_BK_IN_TRANSIT);
	CHECK_EQ(xlmig_bk_end(b, jb->id, true, NULL, 116, &jb), XLMIG_E_INVAL);
	events(b, ev, sizeof(ev));
	CHECK_STR(ev, "");
	xlmig_bk_arrived(b, "4", 120);
	CHECK_EQ(jb->state, XLMIG_BK_RESUMING);
	CHECK_EQ(jb->resumes, 1);
	CHECK_EQ(jb->token_len, 3);
	CHECK(!memcmp(jb->token, "\x00\x01\xfe", 3));
	CHECK_STR(jb->origin, "a");
	xlmig_bk_mig_end(a, "web1", true, "b", 121);
	CHECK(!j->here);
	events(a, ev, sizeof(ev));
	CHECK_STR(ev, "H");
	events(b, ev, sizeof(ev));
	CHECK_STR(ev, "R");
	CHECK_OK(xlmig_bk_progress(b, jb->id, NULL, 0, false, 122, &jb));
	CHECK_EQ(jb->state, XLMIG_BK_RUNNING);
	CHECK_OK(xlmig_bk_end(b, jb->id, true, NULL, 130, &jb));
	CHECK_EQ(jb->state, XLMIG_BK_DONE);
	/* Coming back to A after it ended on B: A refuses nothing since A
	 * never ended it, but B refuses a second arrival of an ended job. */
	CHECK_EQ(xlmig_bk_adopt(b, &out[0], "5", "a", 131), XLMIG_E_EXISTS);
	xlmig_bk_coord_free(a);
	xlmig_bk_coord_free(b);
}

TEST(bk_hold_resumes_on_source_after_failure)
{
	struct xlmig_bk_coord *a = mk("a", false), *b = mk("b", false);
	struct xlmig_bk_job *j, *jb, out[4];
	char ev[16];
	size_t n;

	CHECK(a && b);
	CHECK((j = begin(a, "web1", false, false, 100, NULL)));
	CHECK_EQ(xlmig_bk_mig_begin(a, "web1", "9", 110), XLMIG_BK_GO);
	CHECK_OK(xlmig_bk_mig_collect(a, "web1", "9", 113, out, 4, &n));
	CHECK_OK(xlmig_bk_adopt(b, &out[0], "4", "a", 115));
	/* The migration fails before GO: B drops it, A resumes it. */
	xlmig_bk_not_arrived(b, "4", 116);
	CHECK((jb = xlmig_bk_find(b, out[0].id)));
	CHECK(!jb->here);
	CHECK_STR(jb->host, "a");
	xlmig_bk_mig_end(a, "web1", false, NULL, 117);
	CHECK_EQ(j->state, XLMIG_BK_RESUMING);
	CHECK(j->here);
	CHECK_EQ(j->resumes, 1);
	CHECK_EQ(j->lease_until, 217);
	CHECK_EQ(xlmig_bk_mig_state(a, "web1"), XLMIG_BK_MIG_NONE);
	events(a, ev, sizeof(ev));
	CHECK_STR(ev, "HR");
	events(b, ev, sizeof(ev));
	CHECK_STR(ev, "");
	/* A held job never collected (cancelled in pre-copy) resumes too. */
	CHECK_EQ(xlmig_bk_mig_begin(a, "web1", "10", 120), XLMIG_BK_GO);
	CHECK_EQ(j->state, XLMIG_BK_HELD);
	xlmig_bk_mig_end(a, "web1", false, NULL, 121);
	CHECK_EQ(j->state, XLMIG_BK_RESUMING);
	CHECK_EQ(j->resumes, 2);
	xlmig_bk_coord_free(a);
	xlmig_bk_coord_free(b);
}

TEST(bk_hold_policy)
{
	struct xlmig_bk_coord *go = mk("a", false), *ab = mk("a", true);
	struct xlmig_bk_job *j;

	CHECK(go && ab);
	CHECK((j = begin(go, "web1", false, false, 100, NULL)));
	CHECK((j = begin(ab, "web1", false, false, 100, NULL)));
	CHECK_EQ(xlmig_bk_mig_begin(go, "web1", "1", 100), XLMIG_BK_GO);
	CHECK_EQ(xlmig_bk_mig_begin(ab, "web1", "1", 100), XLMIG_BK_GO);
	CHECK_EQ(xlmig_bk_mig_holds(go, "web1", 109), XLMIG_BK_WAIT);
	CHECK_EQ(xlmig_bk_mig_holds(ab, "web1", 109), XLMIG_BK_WAIT);
	CHECK_EQ(xlmig_bk_mig_holds(go, "web1", 110), XLMIG_BK_GO);
	CHECK(strstr(xlmig_bk_at(go, 0)->message, "not acknowledged"));
	CHECK_EQ(xlmig_bk_mig_holds(ab, "web1", 110), XLMIG_BK_ABORT);
	/* The abort is a failed migration: the job resumes on the source. */
	xlmig_bk_mig_end(ab, "web1", false, NULL, 111);
	CHECK_EQ(j->state, XLMIG_BK_RESUMING);
	xlmig_bk_coord_free(go);
	xlmig_bk_coord_free(ab);
}

TEST(bk_migration_waits_for_thaw)
{
	struct xlmig_bk_coord *c = mk("a", false);
	struct xlmig_bk_job *j;

	CHECK(c);
	CHECK((j = begin(c, "web1", false, true, 100, NULL)));
	CHECK_EQ(j->state, XLMIG_BK_QUIESCING);
	CHECK_EQ(xlmig_bk_mig_begin(c, "web1", "1", 101), XLMIG_BK_WAIT);
	CHECK_EQ(xlmig_bk_mig_state(c, "web1"), XLMIG_BK_MIG_NONE);
	CHECK_OK(xlmig_bk_progress(c, j->id, NULL, 0, false, 102, &j));
	CHECK_EQ(j->state, XLMIG_BK_QUIESCING);
	CHECK_OK(xlmig_bk_progress(c, j->id, NULL, 0, true, 103, &j));
	CHECK_EQ(j->state, XLMIG_BK_RUNNING);
	CHECK_EQ(xlmig_bk_mig_begin(c, "web1", "1", 104), XLMIG_BK_GO);
	CHECK_EQ(j->state, XLMIG_BK_HELD);
	xlmig_bk_coord_free(c);
}

static bool here_web1(void *opaque, const char *domain)
{
	return !strcmp(domain, "web1");
}

static bool here_none(void *opaque, const char *domain)
{
	return false;
}

/* Kill at each step of a hand-over: after recovery on both hosts, the
 * job is active on exactly one and resumed there exactly once. */
TEST(bk_recover_every_step)
{
	for (int step = 0; step < 4; step++) {
		for (int moved = 0; moved < 2; moved++) {
			struct xlmig_bk_coord *a = mk("a", false), *b = mk("b", false);
			struct xlmig_bk_job *j, *jb = NULL, out[2];
			size_t n = 0;
			int active = 0;

			CHECK(a && b);
			CHECK((j = begin(a, "web1", false, false, 100, NULL)));
			xlmig_bk_mig_begin(a, "web1", "9", 110);
			if (step >= 1)
				CHECK_OK(xlmig_bk_mig_collect(a, "web1", "9", 111, out, 2, &n));
			if (step >= 2)
				CHECK_OK(xlmig_bk_adopt(b, &out[0], "4", "a", 112));
			if (step >= 3 && moved)
				xlmig_bk_arrived(b, "4", 113);
			/* Both daemons die here; the guest is where the
			 * migration's own recovery put it. */
			xlmig_bk_recover(a, moved ? here_none : here_web1, NULL, 200);
			xlmig_bk_recover(b, moved && step >= 2 ? here_web1 : here_none, NULL, 200);
			jb = xlmig_bk_find(b, j->id);
			active += j->here && !xlmig_bk_state_is_final(j->state);
			active += jb && jb->here && !xlmig_bk_state_is_final(jb->state);
			if (!(moved && step < 2)) {   /* moved before B had it: lost with no record, see below */
				CHECK_EQ(active, 1);
				CHECK_EQ(j->resumes + (jb && jb->here ? jb->resumes : 0), 1);
			} else {
				/* The guest cannot have moved before B had the
				 * record: GO comes after the side records.  This
				 * combination is impossible; the source keeps it
				 * as history. */
				CHECK_EQ(active, 0);
			}
			xlmig_bk_coord_free(a);
			xlmig_bk_coord_free(b);
		}
	}
}

TEST(bk_record_roundtrip_and_damage)
{
	struct xlmig_bk_coord *c = mk("a", false);
	struct xlmig_bk_job *j, back;
	struct xlmig_buf buf = { 0 };
	uint8_t tok[XLMIG_BK_TOKEN_MAX];

	CHECK(c);
	for (size_t i = 0; i < sizeof(tok); i++)
		tok[i] = (uint8_t)(i * 7);
	CHECK((j = begin(c, "web1", false, false, 100, NULL)));
	CHECK_OK(xlmig_bk_progress(c, j->id, tok, sizeof(tok), false, 101, &j));
	CHECK_OK(xlmig_bk_job_encode(j, &buf));
	CHECK_OK(xlmig_bk_job_decode(buf.data, buf.len, &back));
	/* Every field, byte for byte (both were zeroed before filling). */
	CHECK(!memcmp(&back, j, sizeof(back)));
	CHECK(buf.len <= XLMIG_BK_RECORD_MAX);
	{
		const char *bad[] = {
			"{}", "[]", "{\"id\":1}", "not json",
		};
		for (size_t i = 0; i < XLMIG_ARRAY_SIZE(bad); i++)
			CHECK(xlmig_bk_job_decode((const uint8_t *)bad[i], strlen(bad[i]), &back) != 0);
	}
	/* A bad state name, an odd token, a name with a slash. */
	{
		char *text = strndup((const char *)buf.data, buf.len), *p;
		CHECK(text);
		p = strstr(text, "\"running\"");
		CHECK(p);
		memcpy(p, "\"runnin!\"", 9);
		CHECK_EQ(xlmig_bk_job_decode((const uint8_t *)text, strlen(text), &back), XLMIG_E_FORMAT);
		memcpy(p, "\"running\"", 9);
		p = strstr(text, "\"web1\"");
		memcpy(p, "\"we/1\"", 6);
		CHECK_EQ(xlmig_bk_job_decode((const uint8_t *)text, strlen(text), &back), XLMIG_E_FORMAT);
		memcpy(p, "\"web1\"", 6);
		p = strstr(text, "\"token\":\"");
		p[9] = 'z';
		CHECK(xlmig_bk_job_decode((const uint8_t *)text, strlen(text), &back) != 0);
		free(text);
	}
	xlmig_buf_free(&buf);
	xlmig_bk_coord_free(c);
}

TEST(bk_store_survives_restart)
{
	struct xlmig_bk_coord *c = mk("a", false), *c2 = mk("a", false);
	struct xlmig_bk_store *st;
	struct xlmig_bk_job *j, *k;
	char ev[16];

	CHECK(c && c2);
	CHECK_OK(xlmig_bk_store_open(unit_tmpdir(), &st));
	CHECK((j = begin(c, "web1", false, false, 100, NULL)));
	CHECK((k = begin(c, "web2", false, false, 100, NULL)));
	CHECK_OK(xlmig_bk_progress(c, j->id, (const uint8_t *)"abc", 3, false, 101, &j));
	CHECK_EQ(xlmig_bk_mig_begin(c, "web1", "9", 110), XLMIG_BK_GO);
	CHECK_OK(xlmig_bk_store_save(st, c));
	xlmig_bk_store_close(st);
	/* A new daemon. */
	CHECK_OK(xlmig_bk_store_open(unit_tmpdir(), &st));
	CHECK_OK(xlmig_bk_store_load(st, c2));
	CHECK_EQ(xlmig_bk_count(c2), 2);
	CHECK_EQ(xlmig_bk_next_id(c2), 3);
	CHECK((j = xlmig_bk_find(c2, "a-1")));
	CHECK_EQ(j->state, XLMIG_BK_HELD);
	CHECK_EQ(j->token_len, 3);
	/* The hold is settled by recovery: the guest is still here. */
	xlmig_bk_recover(c2, here_web1, NULL, 300);
	CHECK_EQ(j->state, XLMIG_BK_RESUMING);
	/* web2's lease ran out while the daemon was down. */
	CHECK_EQ(xlmig_bk_tick(c2, 300), 1);
	CHECK_EQ(xlmig_bk_find(c2, "a-2")->state, XLMIG_BK_EXPIRED);
	events(c2, ev, sizeof(ev));
	CHECK_STR(ev, "RX");
	CHECK_OK(xlmig_bk_store_save(st, c2));
	xlmig_bk_store_close(st);
	xlmig_bk_coord_free(c);
	xlmig_bk_coord_free(c2);
}

/* A migration to this very host: one coordinator is both sides; the job
 * resumes once, whichever side ends first. */
TEST(bk_localhost_migration)
{
	for (int source_first = 0; source_first < 2; source_first++) {
		struct xlmig_bk_coord *c = mk("a", false);
		struct xlmig_bk_job *j, out[2];
		size_t n;

		CHECK(c);
		CHECK((j = begin(c, "web1", false, false, 100, NULL)));
		CHECK_EQ(xlmig_bk_mig_begin(c, "web1", "9", 110), XLMIG_BK_GO);
		CHECK_OK(xlmig_bk_mig_collect(c, "web1", "9", 111, out, 2, &n));
		CHECK_EQ(n, 1);
		CHECK_OK(xlmig_bk_adopt(c, &out[0], "10", "a", 112));
		CHECK_EQ(xlmig_bk_count(c), 1);
		if (source_first)
			xlmig_bk_mig_end(c, "web1", true, "a", 113);
		xlmig_bk_arrived(c, "10", 114);
		if (!source_first)
			xlmig_bk_mig_end(c, "web1", true, "a", 115);
		CHECK(j->here);
		CHECK_EQ(j->state, XLMIG_BK_RESUMING);
		CHECK_EQ(j->resumes, 1);
		xlmig_bk_coord_free(c);
	}
}
