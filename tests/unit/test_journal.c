/*
 * test_journal.c - job records and the commit journal (journal.h).
 */
#include "journal.h"
#include "unit.h"

#include <pthread.h>
#include <stdlib.h>

static void fill(struct xlmig_job_record *r, const char *id, enum xlmig_job_step step)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->role = XLMIG_ROLE_DEST;
	r->step = step;
	snprintf(r->domain, sizeof(r->domain), "web1");
	r->domid = 7;
	snprintf(r->peer, sizeof(r->peer), "10.0.0.1:8002");
	r->err = XLMIG_E_PEER;
	snprintf(r->message, sizeof(r->message), "line one\nline two");
}

TEST(journal_record_roundtrip)
{
	struct xlmig_job_record in, out;
	struct xlmig_buf text = { 0 };

	fill(&in, "42", XLMIG_STEP_READY);
	in.created = 1700000000;
	CHECK_OK(xlmig_journal_record_encode(&in, &text));
	CHECK_OK(xlmig_journal_record_decode(text.data, text.len, &out));
	CHECK_STR(out.id, "42");
	CHECK_EQ(out.role, XLMIG_ROLE_DEST);
	CHECK_EQ(out.step, XLMIG_STEP_READY);
	CHECK_STR(out.domain, "web1");
	CHECK_EQ(out.domid, 7);
	CHECK_STR(out.peer, "10.0.0.1:8002");
	CHECK_EQ(out.created, 1700000000);
	CHECK_EQ(out.err, XLMIG_E_PEER);
	/* A newline in a message must not split the record. */
	CHECK_STR(out.message, "line one line two");
	xlmig_buf_free(&text);
}

TEST(journal_record_rejects_damage)
{
	struct xlmig_job_record out;
	const char *bad_step = "id=1\nstep=flying\n";
	const char *no_id = "step=go\n";
	const char *bad_num = "id=1\ndomid=-3\n";
	const char *no_eq = "id=1\ngarbage\n";
	char longname[200];

	CHECK_EQ(xlmig_journal_record_decode((const uint8_t *)bad_step, strlen(bad_step), &out), XLMIG_E_FORMAT);
	CHECK_EQ(xlmig_journal_record_decode((const uint8_t *)no_id, strlen(no_id), &out), XLMIG_E_FORMAT);
	CHECK_EQ(xlmig_journal_record_decode((const uint8_t *)bad_num, strlen(bad_num), &out), XLMIG_E_FORMAT);
	CHECK_EQ(xlmig_journal_record_decode((const uint8_t *)no_eq, strlen(no_eq), &out), XLMIG_E_FORMAT);
	snprintf(longname, sizeof(longname), "id=1\ndomain=%0150d\n", 0);
	CHECK_EQ(xlmig_journal_record_decode((const uint8_t *)longname, strlen(longname), &out), XLMIG_E_LIMIT);
	CHECK_EQ(xlmig_journal_record_decode((const uint8_t *)"id=1\0x", 6, &out), XLMIG_E_FORMAT);
}

TEST(journal_persists_across_reopen)
{
	struct xlmig_journal *j;
	struct xlmig_job_record r, got;
	char id1[XLMIG_JOB_ID_MAX], id2[XLMIG_JOB_ID_MAX];
	char *stats = NULL;

	CHECK_OK(xlmig_journal_open(unit_tmpdir(), &j));
	CHECK_OK(xlmig_journal_new_id(j, id1));
	CHECK_OK(xlmig_journal_new_id(j, id2));
	CHECK(strcmp(id1, id2) != 0);
	fill(&r, id1, XLMIG_STEP_GO);
	CHECK_OK(xlmig_journal_put(j, &r));
	CHECK_OK(xlmig_journal_put_stats(j, id1, "{\"total_ms\":12}"));
	xlmig_journal_close(j);

	CHECK_OK(xlmig_journal_open(unit_tmpdir(), &j));
	CHECK_OK(xlmig_journal_get(j, id1, &got));
	CHECK_EQ(got.step, XLMIG_STEP_GO);
	CHECK(got.updated > 0);
	CHECK_OK(xlmig_journal_get_stats(j, id1, &stats));
	CHECK_STR(stats, "{\"total_ms\":12}");
	free(stats);
	CHECK_EQ(xlmig_journal_get(j, id2, &got), XLMIG_E_NOTFOUND);
	CHECK_EQ(xlmig_journal_get_stats(j, id2, &stats), XLMIG_E_NOTFOUND);
	/* Ids keep counting after a restart: history is never overwritten. */
	char id3[XLMIG_JOB_ID_MAX];
	CHECK_OK(xlmig_journal_new_id(j, id3));
	CHECK(strcmp(id3, id1) != 0 && strcmp(id3, id2) != 0);
	xlmig_journal_close(j);
}

/* A learned figure survives a restart, is not a job in the history, and
 * one never kept is NOTFOUND. */
TEST(journal_keeps_learned_figures)
{
	struct xlmig_journal *j;
	struct xlmig_job_record *all = NULL;
	uint64_t v = 7;
	size_t n = 99;

	CHECK_OK(xlmig_journal_open(unit_tmpdir(), &j));
	CHECK_EQ(xlmig_journal_get_u64(j, "window-learned-ns", &v), XLMIG_E_NOTFOUND);
	CHECK_EQ(v, 7);
	CHECK_OK(xlmig_journal_put_u64(j, "window-learned-ns", 312000000));
	xlmig_journal_close(j);
	CHECK_OK(xlmig_journal_open(unit_tmpdir(), &j));
	CHECK_OK(xlmig_journal_get_u64(j, "window-learned-ns", &v));
	CHECK_EQ(v, 312000000);
	CHECK_OK(xlmig_journal_list(j, &all, &n));
	CHECK_EQ(n, 0);
	free(all);
	xlmig_journal_close(j);
}

TEST(journal_list_sorted_by_id)
{
	struct xlmig_journal *j;
	struct xlmig_job_record r, *all = NULL;
	size_t n = 0;
	const char *ids[] = { "10", "2", "33", "1" };

	CHECK_OK(xlmig_journal_open(unit_tmpdir(), &j));
	for (size_t i = 0; i < 4; i++) {
		fill(&r, ids[i], XLMIG_STEP_DONE);
		CHECK_OK(xlmig_journal_put(j, &r));
	}
	CHECK_OK(xlmig_journal_put_stats(j, "2", "{}"));
	CHECK_OK(xlmig_journal_list(j, &all, &n));
	CHECK_EQ(n, 4);
	CHECK_STR(all[0].id, "1");
	CHECK_STR(all[1].id, "2");
	CHECK_STR(all[2].id, "10");
	CHECK_STR(all[3].id, "33");
	free(all);
	xlmig_journal_close(j);
}

struct writer_arg {
	struct xlmig_journal *j;
	int rc;
};

static void *journal_writer(void *arg)
{
	struct writer_arg *w = arg;
	struct xlmig_job_record r;

	for (int i = 0; i < 40 && !w->rc; i++) {
		char id[XLMIG_JOB_ID_MAX];
		if ((w->rc = xlmig_journal_new_id(w->j, id)))
			break;
		fill(&r, id, XLMIG_STEP_PRECOPY);
		w->rc = xlmig_journal_put(w->j, &r);
	}
	return NULL;
}

/* Every job thread journals its own steps at the same time. */
TEST(journal_concurrent_writers)
{
	struct xlmig_journal *j;
	struct writer_arg args[6];
	pthread_t t[6];
	struct xlmig_job_record *all = NULL;
	size_t n = 0;

	CHECK_OK(xlmig_journal_open(unit_tmpdir(), &j));
	for (int i = 0; i < 6; i++) {
		args[i] = (struct writer_arg){ .j = j };
		pthread_create(&t[i], NULL, journal_writer, &args[i]);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		CHECK_OK(args[i].rc);
	}
	CHECK_OK(xlmig_journal_list(j, &all, &n));
	/* 240 distinct ids: none handed out twice, no record lost. */
	CHECK_EQ(n, 240);
	for (size_t i = 1; i < n; i++)
		CHECK(strcmp(all[i - 1].id, all[i].id) != 0);
	free(all);
	xlmig_journal_close(j);
}

TEST(journal_one_owner_per_directory)
{
	struct xlmig_journal *a, *b;

	CHECK_OK(xlmig_journal_open(unit_tmpdir(), &a));
	CHECK_EQ(xlmig_journal_open(unit_tmpdir(), &b), XLMIG_E_EXISTS);
	xlmig_journal_close(a);
	CHECK_OK(xlmig_journal_open(unit_tmpdir(), &b));
	xlmig_journal_close(b);
}
