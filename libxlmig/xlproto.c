/*
 * xlproto.c - xl's migration handshake as sender and receiver state
 * machines (see xlproto.h and tools/xl/xl_migrate.c).
 */
#include "xlproto.h"

struct fixed_msg {
	const char *bytes;
	size_t len;
	const char *name;
};

static const struct fixed_msg fixed_msgs[] = {
	[XLMIG_XLMSG_BANNER] = { XLMIG_XLPROTO_BANNER, XLMIG_XLPROTO_BANNER_LEN, "banner" },
	[XLMIG_XLMSG_READY] = { XLMIG_XLPROTO_READY, XLMIG_XLPROTO_READY_LEN, "ready message" },
	[XLMIG_XLMSG_GO] = { XLMIG_XLPROTO_GO, XLMIG_XLPROTO_GO_LEN, "GO message" },
	[XLMIG_XLMSG_REPORT] = { XLMIG_XLPROTO_REPORT, XLMIG_XLPROTO_REPORT_LEN,
				 "success/failure report message" },
};

const char *xlmig_xlproto_msg_name(enum xlmig_xlproto_msg msg)
{
	return fixed_msgs[msg].name;
}

int xlmig_xlproto_send_msg(int fd, enum xlmig_xlproto_msg msg)
{
	const struct fixed_msg *m = &fixed_msgs[msg];
	int rc = xlmig_write_full(fd, m->bytes, m->len);

	if (rc)
		return xlmig_fail_prefix(rc, "sending the xl migration %s", m->name);
	return XLMIG_OK;
}

int xlmig_xlproto_expect_msg(int fd, enum xlmig_xlproto_msg msg, const char *rune)
{
	const struct fixed_msg *m = &fixed_msgs[msg];
	char buf[64];
	const char *via = rune ? " (command run was: " : "";
	const char *via_end = rune ? " )" : "";
	int rc;

	rc = xlmig_read_full(fd, buf, m->len);
	if (rc == XLMIG_E_CLOSED || rc == XLMIG_E_TRUNCATED) {
		rc = xlmig_fail(rc, "xl migration peer closed the stream while xlmig waited for the %s%s%s%s",
				m->name, via, rune ? rune : "", via_end);
		goto out;
	}
	if (rc) {
		rc = xlmig_fail_prefix(rc, "reading the xl migration %s", m->name);
		goto out;
	}
	if (memcmp(buf, m->bytes, m->len) != 0)
		rc = xlmig_fail(XLMIG_E_FORMAT,
				"xl migration stream contained unexpected data instead of %s%s%s%s",
				m->name, via, rune ? rune : "", via_end);
out:
	return rc;
}

int xlmig_xlproto_recognise(const uint8_t *b, size_t len, enum xlmig_xlproto_msg *msg,
			    int *status, size_t *used)
{
	*used = 0;
	*status = -1;
	if (!len)
		return XLMIG_OK;   /* nothing yet: any of them may come */
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(fixed_msgs); i++) {
		const struct fixed_msg *m = &fixed_msgs[i];
		/* REPORT is followed by its status byte. */
		size_t whole = m->len + (i == XLMIG_XLMSG_REPORT);

		if (memcmp(b, m->bytes, XLMIG_MIN(len, m->len)) != 0)
			continue;
		/* No message is the start of another: this is the one. */
		*msg = (enum xlmig_xlproto_msg)i;
		if (len >= whole) {
			*used = whole;
			if (i == XLMIG_XLMSG_REPORT)
				*status = b[m->len];
		}
		return XLMIG_OK;
	}
	return xlmig_fail(XLMIG_E_FORMAT, "not one of xl's migration messages");
}

uint8_t xlmig_xlproto_status_byte(int err)
{
	if (err == 0)
		return 0;
	if (err < 0 && err > -128)
		return (uint8_t)-err;
	return 1;
}

static const char *const send_state_names[] = {
	[XLMIG_XLSEND_BANNER] = "waiting for the receiver's banner",
	[XLMIG_XLSEND_SAVE] = "sending the domain",
	[XLMIG_XLSEND_READY] = "waiting for the receiver to be ready",
	[XLMIG_XLSEND_RENAME] = "renaming the domain away",
	[XLMIG_XLSEND_GO] = "giving the receiver permission to start",
	[XLMIG_XLSEND_REPORT] = "waiting for the receiver's report",
	[XLMIG_XLSEND_PEER_FAILED] = "waiting for permission to resume",
	[XLMIG_XLSEND_FINISHED] = "finished",
};

static const char *const recv_state_names[] = {
	[XLMIG_XLRECV_BANNER] = "sending the banner",
	[XLMIG_XLRECV_RESTORE] = "receiving the domain",
	[XLMIG_XLRECV_READY] = "telling the sender the domain is received",
	[XLMIG_XLRECV_WAIT_GO] = "waiting for permission to start",
	[XLMIG_XLRECV_START] = "renaming and starting the domain",
	[XLMIG_XLRECV_REPORT] = "reporting the result",
	[XLMIG_XLRECV_CLEANUP] = "destroying our copy",
	[XLMIG_XLRECV_FINISHED] = "finished",
};

const char *xlmig_xlsend_state_name(enum xlmig_xlsend_state s)
{
	return s <= XLMIG_XLSEND_FINISHED ? send_state_names[s] : "?";
}

const char *xlmig_xlrecv_state_name(enum xlmig_xlrecv_state s)
{
	return s <= XLMIG_XLRECV_FINISHED ? recv_state_names[s] : "?";
}

/* ---- sender ---- */

struct sender {
	int send_fd, recv_fd;
	const char *rune;
	const struct xlmig_xlsend_ops *ops;
	void *opaque;
	struct xlmig_xlsend_result *res;
	enum xlmig_xlsend_state state;  /* the step running now */
	int err;              /* the first failure, kept for the caller */
};

/* Remember the first error; later ones only go to the log. */
static void sender_failed(struct sender *s, int rc)
{
	if (!s->err) {
		s->err = rc;
		s->res->failed_in = s->state;
	} else {
		xlmig_warn("%s", xlmig_errmsg());
	}
}

/* xl's failed_resume: the guest is suspended here, the receiver has not
 * been told to start, so take the guest back. */
static void sender_resume_here(struct sender *s, bool renamed)
{
	char first[512];
	int rc = 0;

	snprintf(first, sizeof(first), "%s", xlmig_errmsg());
	if (renamed) {
		rc = s->ops->rename_back(s->opaque);
		if (rc)
			xlmig_warn("migration sender: renaming the domain back failed: %s",
				   xlmig_errmsg());
	}
	rc = s->ops->resume(s->opaque);
	if (rc) {
		xlmig_error("migration sender: resuming the domain failed: %s", xlmig_errmsg());
		s->res->outcome = XLMIG_XLSEND_RESUME_FAILED;
		xlmig_fail(s->err, "%s; resuming the domain here failed too, it is left suspended", first);
		return;
	}
	xlmig_info("migration sender: Resumed OK.");
	s->res->outcome = XLMIG_XLSEND_RESUMED;
	xlmig_fail(s->err, "%s; the domain was resumed on this host", first);
}

/* xl's failed_badly: GO may or may not have reached the receiver. */
static void sender_undefined(struct sender *s)
{
	s->res->outcome = XLMIG_XLSEND_UNDEFINED;
	xlmig_fail_prefix(s->err,
			  "migration failed during the final handshake (%s); domain state is "
			  "now undefined: check both hosts for running instances before "
			  "renaming and resuming at most one of them",
			  xlmig_xlsend_state_name(s->res->failed_in));
}

static enum xlmig_xlsend_state sender_step(struct sender *s, enum xlmig_xlsend_state st)
{
	uint8_t status;
	int rc;

	s->state = st;
	switch (st) {
	case XLMIG_XLSEND_BANNER:
		rc = xlmig_xlproto_expect_msg(s->recv_fd, XLMIG_XLMSG_BANNER, s->rune);
		if (rc) {
			sender_failed(s, rc);
			s->res->outcome = XLMIG_XLSEND_UNTOUCHED;
			return XLMIG_XLSEND_FINISHED;
		}
		return XLMIG_XLSEND_SAVE;
	case XLMIG_XLSEND_SAVE:
		rc = s->ops->save(s->opaque, s->send_fd);
		if (rc == XLMIG_E_TIMEOUT) {
			sender_failed(s, rc);
			s->res->outcome = XLMIG_XLSEND_UNTOUCHED;
			xlmig_fail_prefix(rc, "failed to suspend the domain at the sender");
			return XLMIG_XLSEND_FINISHED;
		}
		if (rc) {
			sender_failed(s, rc);
			sender_resume_here(s, false);
			return XLMIG_XLSEND_FINISHED;
		}
		return XLMIG_XLSEND_READY;
	case XLMIG_XLSEND_READY:
		rc = xlmig_xlproto_expect_msg(s->recv_fd, XLMIG_XLMSG_READY, s->rune);
		if (rc) {
			sender_failed(s, rc);
			sender_resume_here(s, false);
			return XLMIG_XLSEND_FINISHED;
		}
		xlmig_info("migration sender: Target has acknowledged transfer.");
		return XLMIG_XLSEND_RENAME;
	case XLMIG_XLSEND_RENAME:
		rc = s->ops->rename_away(s->opaque);
		if (rc) {
			sender_failed(s, rc);
			sender_resume_here(s, false);
			return XLMIG_XLSEND_FINISHED;
		}
		return XLMIG_XLSEND_GO;
	case XLMIG_XLSEND_GO:
		xlmig_info("migration sender: Giving target permission to start.");
		rc = xlmig_xlproto_send_msg(s->send_fd, XLMIG_XLMSG_GO);
		if (rc) {
			sender_failed(s, rc);
			sender_undefined(s);
			return XLMIG_XLSEND_FINISHED;
		}
		return XLMIG_XLSEND_REPORT;
	case XLMIG_XLSEND_REPORT:
		rc = xlmig_xlproto_expect_msg(s->recv_fd, XLMIG_XLMSG_REPORT, s->rune);
		if (!rc) {
			rc = xlmig_read_full(s->recv_fd, &status, 1);
			if (rc)
				xlmig_fail_prefix(rc, "reading the receiver's success/failure status");
		}
		if (rc) {
			sender_failed(s, rc);
			sender_undefined(s);
			return XLMIG_XLSEND_FINISHED;
		}
		s->res->peer_status = status;
		if (status) {
			xlmig_error("migration sender: Target reports startup failure (status code %d).",
				    status);
			return XLMIG_XLSEND_PEER_FAILED;
		}
		xlmig_info("migration sender: Target reports successful startup.");
		rc = s->ops->destroy(s->opaque);
		if (rc)
			xlmig_warn("migration succeeded but destroying the old copy failed "
				   "(it is paused, renamed away): %s", xlmig_errmsg());
		s->res->outcome = XLMIG_XLSEND_OK;
		return XLMIG_XLSEND_FINISHED;
	case XLMIG_XLSEND_PEER_FAILED:
		rc = xlmig_xlproto_expect_msg(s->recv_fd, XLMIG_XLMSG_GO, s->rune);
		if (rc) {
			sender_failed(s, rc);
			sender_undefined(s);
			return XLMIG_XLSEND_FINISHED;
		}
		sender_failed(s, xlmig_fail(XLMIG_E_PEER,
					    "migration failed due to problems at the target (status code %d)",
					    s->res->peer_status));
		sender_resume_here(s, true);
		return XLMIG_XLSEND_FINISHED;
	case XLMIG_XLSEND_FINISHED:
		break;
	}
	return XLMIG_XLSEND_FINISHED;
}

int xlmig_xlproto_send(int send_fd, int recv_fd, const char *rune,
		       const struct xlmig_xlsend_ops *ops, void *opaque,
		       struct xlmig_xlsend_result *res)
{
	struct sender s = {
		.send_fd = send_fd, .recv_fd = recv_fd, .rune = rune,
		.ops = ops, .opaque = opaque, .res = res,
	};
	enum xlmig_xlsend_state st = XLMIG_XLSEND_BANNER;

	memset(res, 0, sizeof(*res));
	res->failed_in = XLMIG_XLSEND_FINISHED;
	res->peer_status = -1;
	while (st != XLMIG_XLSEND_FINISHED)
		st = sender_step(&s, st);
	return s.err;
}

/* ---- receiver ---- */

struct receiver {
	int send_fd, recv_fd;
	bool pause_after;
	const struct xlmig_xlrecv_ops *ops;
	void *opaque;
	struct xlmig_xlrecv_result *res;
	enum xlmig_xlrecv_state state;  /* the step running now */
	int err;              /* first failure */
	bool created;         /* our copy exists */
};

static void receiver_failed(struct receiver *r, int rc)
{
	if (!r->err) {
		r->err = rc;
		r->res->failed_in = r->state;
	} else
		xlmig_warn("%s", xlmig_errmsg());
}

/* Our copy never ran (GO missing, or rename/unpause failed): destroying
 * it cannot lose the guest, whose suspended original the sender keeps. */
static int receiver_destroy(struct receiver *r)
{
	char first[512];
	int rc;

	snprintf(first, sizeof(first), "%s", xlmig_errmsg());
	rc = r->ops->destroy(r->opaque);
	if (rc) {
		xlmig_error("migration target: Failed to destroy our copy: %s", xlmig_errmsg());
		xlmig_fail(r->err, "%s; destroying the incoming copy failed too", first);
		return rc;
	}
	r->created = false;
	r->res->domain_destroyed = true;
	xlmig_fail(r->err, "%s", first);
	return XLMIG_OK;
}

static enum xlmig_xlrecv_state receiver_step(struct receiver *r, enum xlmig_xlrecv_state st)
{
	uint8_t report[XLMIG_XLPROTO_REPORT_LEN + 1];
	int rc;

	r->state = st;
	switch (st) {
	case XLMIG_XLRECV_BANNER:
		rc = xlmig_xlproto_send_msg(r->send_fd, XLMIG_XLMSG_BANNER);
		if (rc) {
			receiver_failed(r, rc);
			return XLMIG_XLRECV_FINISHED;
		}
		return XLMIG_XLRECV_RESTORE;
	case XLMIG_XLRECV_RESTORE:
		rc = r->ops->restore(r->opaque, r->recv_fd);
		if (rc) {
			receiver_failed(r, xlmig_fail_prefix(rc, "migration target: domain creation failed"));
			return XLMIG_XLRECV_FINISHED;
		}
		r->created = true;
		return XLMIG_XLRECV_READY;
	case XLMIG_XLRECV_READY:
		xlmig_info("migration target: Transfer complete, requesting permission to start domain.");
		rc = xlmig_xlproto_send_msg(r->send_fd, XLMIG_XLMSG_READY);
		if (rc) {
			/* The sender never hears READY, so it resumes its copy. */
			receiver_failed(r, rc);
			receiver_destroy(r);
			return XLMIG_XLRECV_FINISHED;
		}
		return XLMIG_XLRECV_WAIT_GO;
	case XLMIG_XLRECV_WAIT_GO:
		rc = xlmig_xlproto_expect_msg(r->recv_fd, XLMIG_XLMSG_GO, NULL);
		if (rc) {
			receiver_failed(r, rc);
			return XLMIG_XLRECV_REPORT;
		}
		xlmig_info("migration target: Got permission, starting domain.");
		return XLMIG_XLRECV_START;
	case XLMIG_XLRECV_START:
		rc = r->ops->rename_final(r->opaque);
		if (!rc && !r->pause_after)
			rc = r->ops->unpause(r->opaque);
		if (rc) {
			receiver_failed(r, rc);
			return XLMIG_XLRECV_REPORT;
		}
		r->res->domain_running = true;
		xlmig_info("migration target: Domain started successfully.");
		return XLMIG_XLRECV_REPORT;
	case XLMIG_XLRECV_REPORT:
		memcpy(report, XLMIG_XLPROTO_REPORT, XLMIG_XLPROTO_REPORT_LEN);
		report[XLMIG_XLPROTO_REPORT_LEN] = xlmig_xlproto_status_byte(r->err);
		rc = xlmig_write_full(r->send_fd, report, sizeof(report));
		if (rc) {
			receiver_failed(r, xlmig_fail_prefix(rc, "sending the success/failure report"));
			if (r->created && !r->res->domain_running)
				receiver_destroy(r);
			return XLMIG_XLRECV_FINISHED;
		}
		r->res->report_sent = true;
		r->res->status_sent = report[XLMIG_XLPROTO_REPORT_LEN];
		if (!r->err)
			return XLMIG_XLRECV_FINISHED;
		return XLMIG_XLRECV_CLEANUP;
	case XLMIG_XLRECV_CLEANUP:
		xlmig_error("migration target: Failure, destroying our copy.");
		if (receiver_destroy(r))
			return XLMIG_XLRECV_FINISHED;
		rc = xlmig_xlproto_send_msg(r->send_fd, XLMIG_XLMSG_GO);
		if (rc)
			xlmig_warn("could not give the sender permission to resume: %s", xlmig_errmsg());
		else
			xlmig_info("migration target: Cleanup OK, granted sender permission to resume.");
		return XLMIG_XLRECV_FINISHED;
	case XLMIG_XLRECV_FINISHED:
		break;
	}
	return XLMIG_XLRECV_FINISHED;
}

int xlmig_xlproto_receive(int send_fd, int recv_fd, bool pause_after,
			  const struct xlmig_xlrecv_ops *ops, void *opaque,
			  struct xlmig_xlrecv_result *res)
{
	struct receiver r = {
		.send_fd = send_fd, .recv_fd = recv_fd, .pause_after = pause_after,
		.ops = ops, .opaque = opaque, .res = res,
	};
	enum xlmig_xlrecv_state st = XLMIG_XLRECV_BANNER;
	char saved[512];

	memset(res, 0, sizeof(*res));
	res->failed_in = XLMIG_XLRECV_FINISHED;
	while (st != XLMIG_XLRECV_FINISHED)
		st = receiver_step(&r, st);
	if (r.err) {
		/* Later log lines may have replaced the thread's message. */
		snprintf(saved, sizeof(saved), "%s", xlmig_errmsg());
		xlmig_fail(r.err, "%s (%s)", saved, xlmig_xlrecv_state_name(res->failed_in));
	}
	return r.err;
}
