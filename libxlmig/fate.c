/*
 * fate.c - the FATE query after GO: the destination's answer from its
 * journal, the messages, and the source's side of the exchange (see
 * fate.h for the protocol and why an answer cannot run a guest twice).
 */
#include "fate.h"
#include "conn.h"
#include "hv.h"
#include "journal.h"
#include "json.h"

#include <stdlib.h>

/* A query or an answer is a few hundred bytes; nothing bigger is read. */
static const struct xlmig_json_limits fate_limits = {
	.max_bytes = 4096, .max_depth = 2, .max_nodes = 16,
};

static const char *const fate_names[] = {
	[XLMIG_FATE_UNKNOWN] = "unknown",
	[XLMIG_FATE_PENDING] = "pending",
	[XLMIG_FATE_COMMITTED] = "committed",
	[XLMIG_FATE_ROLLED_BACK] = "rolled-back",
};

const char *xlmig_fate_name(enum xlmig_fate f)
{
	if ((unsigned)f < XLMIG_ARRAY_SIZE(fate_names))
		return fate_names[f];
	return "invalid";
}

int xlmig_fate_parse(const char *s, enum xlmig_fate *out)
{
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(fate_names); i++)
		if (!strcmp(s, fate_names[i])) {
			*out = (enum xlmig_fate)i;
			return XLMIG_OK;
		}
	return xlmig_fail(XLMIG_E_FORMAT, "unknown fate '%.32s'", s);
}

enum xlmig_fate xlmig_fate_of(const struct xlmig_job_record *r, bool copy_here)
{
	switch (r->step) {
	case XLMIG_STEP_DONE:
		return XLMIG_FATE_COMMITTED;
	case XLMIG_STEP_FAILED:
	case XLMIG_STEP_CANCELLED:
		/* Final, and nothing of the guest left here: it can never
		 * run here.  A copy that survived a failed destroy might. */
		return copy_here ? XLMIG_FATE_UNKNOWN : XLMIG_FATE_ROLLED_BACK;
	case XLMIG_STEP_UNKNOWN:
	case XLMIG_STEP_CHECKED:
		return XLMIG_FATE_UNKNOWN;
	default:
		return XLMIG_FATE_PENDING;
	}
}

bool xlmig_fate_job_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n >= XLMIG_JOB_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

static int parse_body(const uint8_t *body, size_t len, const char *what, struct xlmig_json **out)
{
	int rc = xlmig_json_parse_limits((const char *)body, len, &fate_limits, out);

	if (rc)
		return xlmig_fail_prefix(rc, "%s", what);
	if ((*out)->type != XLMIG_JSON_OBJECT) {
		xlmig_json_free(*out);
		*out = NULL;
		return xlmig_fail(XLMIG_E_FORMAT, "%s is not a JSON object", what);
	}
	return XLMIG_OK;
}

/* The "job" member: a valid id, whose length the record can hold. */
static int get_job(const struct xlmig_json *m, const char *what, char job[XLMIG_JOB_ID_MAX])
{
	const char *id = NULL;
	const struct xlmig_json *n = xlmig_json_member(m, "job");

	if (xlmig_json_get_str(m, "job", &id) || strlen(id) != n->text_len || !xlmig_fate_job_id_ok(id))
		return xlmig_fail(XLMIG_E_FORMAT, "%s names no valid job id", what);
	memcpy(job, id, strlen(id) + 1);
	return XLMIG_OK;
}

int xlmig_fate_query_parse(const uint8_t *body, size_t len, char job[XLMIG_JOB_ID_MAX])
{
	struct xlmig_json *m = NULL;
	int rc = parse_body(body, len, "FATE query", &m);

	if (!rc)
		rc = get_job(m, "FATE query", job);
	xlmig_json_free(m);
	return rc;
}

int xlmig_fate_answer_parse(const uint8_t *body, size_t len, const char *want_job,
			    struct xlmig_fate_answer *out)
{
	struct xlmig_json *m = NULL;
	char job[XLMIG_JOB_ID_MAX];
	const char *fate = NULL, *msg = "";
	int rc = parse_body(body, len, "the destination's FATE answer", &m);

	if (rc)
		goto out;
	if ((rc = get_job(m, "the destination's FATE answer", job)))
		goto out;
	if (strcmp(job, want_job)) {
		rc = xlmig_fail(XLMIG_E_FORMAT, "the destination answered about job %s, not %s",
				job, want_job);
		goto out;
	}
	if (xlmig_json_get_str(m, "fate", &fate) || (rc = xlmig_fate_parse(fate, &out->fate))) {
		rc = xlmig_fail(XLMIG_E_FORMAT, "the destination's FATE answer has no known fate");
		goto out;
	}
	rc = xlmig_json_get_str(m, "message", &msg);
	if (rc == XLMIG_E_NOTFOUND)
		rc = XLMIG_OK;
	else if (rc)
		goto out;
	/* A peer's words, for the record: one line, cut to size. */
	snprintf(out->message, sizeof(out->message), "%s", msg);
	for (char *p = out->message; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
out:
	xlmig_json_free(m);
	if (rc)
		out->fate = XLMIG_FATE_UNKNOWN;
	return rc;
}

/* ---- source: asking ---- */

/* "host:port", "[v6]:port" or "v6:port" as a source record keeps it. */
static int split_peer(const char *peer, char *host, size_t hlen, char port[8])
{
	const char *colon = strrchr(peer, ':');
	size_t n;

	if (!colon || colon == peer || strlen(colon + 1) == 0 || strlen(colon + 1) >= 8)
		return xlmig_fail(XLMIG_E_INVAL, "the job's destination '%.64s' is not host:port", peer);
	n = (size_t)(colon - peer);
	if (peer[0] == '[' && n >= 2 && peer[n - 1] == ']') {
		peer++;
		n -= 2;
	}
	if (n >= hlen)
		return xlmig_fail(XLMIG_E_LIMIT, "the job's destination '%.64s' is too long", peer);
	memcpy(host, peer, n);
	host[n] = '\0';
	snprintf(port, 8, "%s", colon + 1);
	return XLMIG_OK;
}

static int send_obj(struct xlmig_conn *conn, uint32_t type, struct xlmig_json_writer *w,
		    int timeout_ms)
{
	int rc;

	xlmig_json_object_close(w);
	if ((rc = xlmig_json_finish(w)))
		return xlmig_fail(rc, "cannot encode a FATE message");
	return xlmig_conn_send_ctrl(conn, type, w->out->data, w->out->len, timeout_ms);
}

int xlmig_fate_ask(const char *peer, struct xlmig_tls *tls, const struct xlmig_key *key,
		   bool insecure, const char *job, int timeout_ms, struct xlmig_fate_answer *out)
{
	struct xlmig_conn_opts co;
	struct xlmig_conn *conn = NULL;
	struct xlmig_buf b = { 0 }, body = { 0 };
	struct xlmig_json_writer w;
	char host[XLMIG_PEER_MAX], port[8];
	uint32_t type = 0;
	int rc;

	out->fate = XLMIG_FATE_UNKNOWN;
	out->message[0] = '\0';
	if ((rc = split_peer(peer, host, sizeof(host), port)))
		goto out;
	xlmig_conn_opts_default(&co);
	co.channels = 1;
	co.timeout_ms = timeout_ms;
	co.io_timeout_ms = timeout_ms;
	co.tls = tls;
	co.insecure = insecure;
	if ((rc = xlmig_conn_connect(host, port, &co, key, &conn)))
		goto out;
	xlmig_json_writer_init(&w, &b);
	xlmig_json_object_open(&w);
	xlmig_json_kv_str(&w, "job", job);
	if ((rc = send_obj(conn, XLMIG_FATE_CTRL_QUERY, &w, timeout_ms)) ||
	    (rc = xlmig_conn_recv_ctrl(conn, &type, &body, timeout_ms)))
		goto out;
	if (type != XLMIG_FATE_CTRL_ANSWER) {
		rc = xlmig_fail(XLMIG_E_FORMAT, "the destination sent message %u to a FATE query "
				"(does its xlmig predate the query?)", type);
		goto out;
	}
	rc = xlmig_fate_answer_parse(body.data, body.len, job, out);
out:
	if (conn)
		xlmig_conn_close(conn);
	xlmig_buf_free(&b);
	xlmig_buf_free(&body);
	if (rc)
		xlmig_fail_prefix(rc, "asking %s what became of job %s", peer, job);
	return rc;
}

/* ---- destination: answering ---- */

/* The latest incoming job of this peer with the source's job id. */
static int find_record(struct xlmig_journal *journal, const char *peer, const char *job,
		       struct xlmig_job_record *out)
{
	struct xlmig_job_record *recs = NULL;
	size_t n = 0;
	int rc = xlmig_journal_list(journal, &recs, &n);
	bool found = false;

	for (size_t i = 0; !rc && i < n; i++)
		if (recs[i].role == XLMIG_ROLE_DEST && !strcmp(recs[i].src_job, job) &&
		    !strcmp(recs[i].src_host, peer)) {
			*out = recs[i];
			found = true;
		}
	free(recs);
	if (!rc && !found)
		rc = XLMIG_E_NOTFOUND;
	return rc;
}

static bool exists(struct xlmig_hv *hv, const char *name_or_id)
{
	struct xlmig_domain_info di;

	return hv->ops->lookup(hv, name_or_id, &di) == XLMIG_OK;
}

/* Any copy of the guest here: its name, its incoming name, its domid. */
static bool copy_here(struct xlmig_hv *hv, pthread_mutex_t *hv_lock, const struct xlmig_job_record *r)
{
	char incoming[XLMIG_NAME_MAX + sizeof(XLMIG_INCOMING_SUFFIX)], id[16];
	bool any;

	snprintf(incoming, sizeof(incoming), "%s%s", r->domain, XLMIG_INCOMING_SUFFIX);
	snprintf(id, sizeof(id), "%u", r->domid);
	if (hv_lock)
		pthread_mutex_lock(hv_lock);
	any = (r->domain[0] && (exists(hv, r->domain) || exists(hv, incoming))) ||
	      (r->domid && exists(hv, id));
	if (hv_lock)
		pthread_mutex_unlock(hv_lock);
	return any;
}

int xlmig_fate_serve(struct xlmig_conn *conn, struct xlmig_journal *journal, struct xlmig_hv *hv,
		     pthread_mutex_t *hv_lock, const uint8_t *query, size_t len)
{
	const struct xlmig_handshake_session *s = xlmig_conn_session(conn);
	const char *peer = s->tls ? s->peer : "";
	struct xlmig_job_record r;
	struct xlmig_buf b = { 0 };
	struct xlmig_json_writer w;
	char job[XLMIG_JOB_ID_MAX], msg[XLMIG_JOB_MSG_MAX];
	enum xlmig_fate fate = XLMIG_FATE_UNKNOWN;
	int rc = xlmig_fate_query_parse(query, len, job);

	if (rc)
		goto out;
	rc = find_record(journal, peer, job, &r);
	if (rc == XLMIG_E_NOTFOUND) {
		snprintf(msg, sizeof(msg), "no incoming job from %s for its job %s here",
			 peer[0] ? peer : "this source", job);
		rc = XLMIG_OK;
	} else if (rc) {
		goto out;
	} else {
		fate = xlmig_fate_of(&r, copy_here(hv, hv_lock, &r));
		snprintf(msg, sizeof(msg), "job %s here is %s%s%.160s", r.id, xlmig_step_name(r.step),
			 r.message[0] ? ": " : "", r.message);
	}
	xlmig_info("FATE query from %s about its job %s: %s (%s)", peer[0] ? peer : "a local source",
		   job, xlmig_fate_name(fate), msg);
	xlmig_json_writer_init(&w, &b);
	xlmig_json_object_open(&w);
	xlmig_json_kv_str(&w, "job", job);
	xlmig_json_kv_str(&w, "fate", xlmig_fate_name(fate));
	xlmig_json_kv_str(&w, "message", msg);
	rc = send_obj(conn, XLMIG_FATE_CTRL_ANSWER, &w, xlmig_conn_opts(conn)->io_timeout_ms);
out:
	if (rc)
		xlmig_conn_report_failure(conn, rc);
	xlmig_buf_free(&b);
	return rc;
}
