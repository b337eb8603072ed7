/*
 * sim_proto.c - the sim host's request protocol (see sim_proto.h):
 * frames built with a writer, parsed with a bounded reader that refuses
 * any read past the body and any byte left over.
 */
#include "sim_proto.h"
#include "stream.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static const uint8_t magic[4] = { 'X', 'S', 'I', 'M' };

/* ---- writer ---- */

struct wr {
	struct xlmig_buf *b;
	size_t start;
	bool nomem;
};

static void w_bytes(struct wr *w, const void *p, size_t n)
{
	if (!w->nomem && xlmig_buf_append(w->b, p, n) != XLMIG_OK)
		w->nomem = true;
}

static void w_u8(struct wr *w, uint8_t v) { w_bytes(w, &v, 1); }

static void w_u16(struct wr *w, uint16_t v)
{
	uint8_t b[2];
	xlmig_put_le16(b, v);
	w_bytes(w, b, 2);
}

static void w_u32(struct wr *w, uint32_t v)
{
	uint8_t b[4];
	xlmig_put_le32(b, v);
	w_bytes(w, b, 4);
}

static void w_u64(struct wr *w, uint64_t v)
{
	uint8_t b[8];
	xlmig_put_le64(b, v);
	w_bytes(w, b, 8);
}

static void w_blob(struct wr *w, const void *p, size_t n)
{
	w_u16(w, (uint16_t)n);
	w_bytes(w, p, n);
}

/* Strings longer than the protocol allows are cut: only messages can be. */
static void w_str(struct wr *w, const char *s)
{
	w_blob(w, s, XLMIG_MIN(strlen(s), (size_t)XLMIG_SIMP_MAX_TEXT));
}

static void w_workload(struct wr *w, const struct xlmig_sim_workload *wl)
{
	w_u64(w, wl->rate);
	w_u32(w, (uint32_t)wl->pattern);
	w_u64(w, wl->hot_bytes);
	w_u32(w, wl->zero_pct);
	w_u32(w, wl->file_pct);
	w_u32(w, wl->fill_pct);
	w_u64(w, wl->seed);
}

static void w_begin(struct wr *w, struct xlmig_buf *b, uint16_t type)
{
	*w = (struct wr){ .b = b, .start = b->len };
	w_bytes(w, magic, 4);
	w_u16(w, XLMIG_SIMP_VERSION);
	w_u16(w, type);
	w_u32(w, 0);   /* body length, set by w_end */
}

static int w_end(struct wr *w)
{
	size_t body;

	if (w->nomem)
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory building a sim host message");
	body = w->b->len - w->start - XLMIG_SIMP_HDR_LEN;
	if (body > XLMIG_SIMP_MAX_BODY)
		return xlmig_fail(XLMIG_E_LIMIT, "sim host message of %zu bytes is over the %u-byte limit",
				  body, XLMIG_SIMP_MAX_BODY);
	xlmig_put_le32(w->b->data + w->start + 8, (uint32_t)body);
	return XLMIG_OK;
}

static bool has_domid(uint16_t type)
{
	return type != XLMIG_SIMP_LIST && type != XLMIG_SIMP_WATCH && type != XLMIG_SIMP_CREATE;
}

int xlmig_simp_write_req(struct xlmig_buf *out, const struct xlmig_simp_req *r)
{
	struct wr w;

	w_begin(&w, out, r->type);
	if (has_domid(r->type))
		w_u32(&w, r->domid);
	switch (r->type) {
	case XLMIG_SIMP_CREATE:
		w_str(&w, r->name);
		w_u64(&w, r->mem_bytes);
		w_u32(&w, r->vcpus);
		w_u8(&w, r->flags);
		w_workload(&w, &r->wl);
		break;
	case XLMIG_SIMP_RENAME:
		w_str(&w, r->name);
		break;
	case XLMIG_SIMP_THROTTLE:
		w_u32(&w, r->pct);
		break;
	case XLMIG_SIMP_SAVE_END:
		w_u8(&w, r->flags);
		break;
	case XLMIG_SIMP_SET_VCPU:
		w_blob(&w, r->blob, r->blob_len);
		break;
	case XLMIG_SIMP_REWRITE:
		w_u64(&w, r->first);
		w_u64(&w, r->count);
		break;
	}
	return w_end(&w);
}

static void w_dom(struct wr *w, const struct xlmig_domain_info *d)
{
	w_u32(w, d->domid);
	w_str(w, d->name);
	w_u64(w, d->mem_bytes);
	w_u32(w, d->vcpus);
	w_u32(w, (uint32_t)d->state);
}

int xlmig_simp_write_reply(struct xlmig_buf *out, const struct xlmig_simp_reply *r)
{
	struct wr w;

	w_begin(&w, out, (uint16_t)(r->type | XLMIG_SIMP_REPLY));
	w_u32(&w, (uint32_t)-r->status);   /* xlmig codes are negative */
	if (r->status) {
		w_str(&w, r->text);
		return w_end(&w);
	}
	switch (r->type) {
	case XLMIG_SIMP_LIST:
		w_u32(&w, (uint32_t)r->n_doms);
		for (size_t i = 0; i < r->n_doms; i++)
			w_dom(&w, &r->doms[i]);
		break;
	case XLMIG_SIMP_CREATE:
		w_u32(&w, r->domid);
		break;
	case XLMIG_SIMP_ATTACH:
		w_u64(&w, r->mem_bytes);
		w_u32(&w, r->vcpus);
		w_workload(&w, &r->wl);
		w_u64(&w, r->state_len);
		break;
	case XLMIG_SIMP_SAVE_BEGIN:
		w_str(&w, r->name);
		break;
	case XLMIG_SIMP_GET_VCPU:
		w_blob(&w, r->blob, sizeof(r->blob));
		break;
	case XLMIG_SIMP_COUNTER:
		w_u64(&w, r->value);
		break;
	}
	return w_end(&w);
}

void xlmig_simp_write_event(struct xlmig_buf *out)
{
	struct wr w;

	w_begin(&w, out, XLMIG_SIMP_EVENT);
	w_end(&w);
}

/* ---- bounded reader ---- */

struct rd {
	const uint8_t *p;
	size_t left;
	bool bad;          /* read past the end, or a field out of range */
	const char *why;
};

static const uint8_t *r_take(struct rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || n > r->left) {
		if (!r->bad)
			r->why = "the body ends inside a field";
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static uint8_t r_u8(struct rd *r)
{
	const uint8_t *p = r_take(r, 1);
	return p ? *p : 0;
}

static uint16_t r_u16(struct rd *r)
{
	const uint8_t *p = r_take(r, 2);
	return p ? xlmig_get_le16(p) : 0;
}

static uint32_t r_u32(struct rd *r)
{
	const uint8_t *p = r_take(r, 4);
	return p ? xlmig_get_le32(p) : 0;
}

static uint64_t r_u64(struct rd *r)
{
	const uint8_t *p = r_take(r, 8);
	return p ? xlmig_get_le64(p) : 0;
}

static void r_fail(struct rd *r, const char *why)
{
	if (!r->bad)
		r->why = why;
	r->bad = true;
}

/* A str into out[cap]: NUL-terminated, no NUL inside. */
static void r_str(struct rd *r, char *out, size_t cap)
{
	uint16_t n = r_u16(r);
	const uint8_t *p;

	out[0] = '\0';
	if (n >= cap || n > XLMIG_SIMP_MAX_TEXT) {
		r_fail(r, "a string is longer than its field");
		return;
	}
	p = r_take(r, n);
	if (!p)
		return;
	if (memchr(p, 0, n)) {
		r_fail(r, "a string holds a NUL byte");
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

static void r_blob(struct rd *r, uint8_t *out, size_t cap, size_t *len)
{
	uint16_t n = r_u16(r);
	const uint8_t *p;

	*len = 0;
	if (n > cap) {
		r_fail(r, "a blob is longer than its field");
		return;
	}
	p = r_take(r, n);
	if (p) {
		memcpy(out, p, n);
		*len = n;
	}
}

static void r_workload(struct rd *r, struct xlmig_sim_workload *wl)
{
	uint32_t pattern;

	wl->rate = r_u64(r);
	pattern = r_u32(r);
	wl->hot_bytes = r_u64(r);
	wl->zero_pct = r_u32(r);
	wl->file_pct = r_u32(r);
	wl->fill_pct = r_u32(r);
	wl->seed = r_u64(r);
	/* The enum holds what the guest module names; the rest of the
	 * workload is checked where a guest is made of it. */
	if (pattern > XLMIG_SIM_SEQUENTIAL)
		r_fail(r, "unknown workload pattern");
	wl->pattern = (enum xlmig_sim_pattern)(pattern <= XLMIG_SIM_SEQUENTIAL ? pattern : 0);
}

static int r_finish(struct rd *r, const char *what, uint16_t type)
{
	if (!r->bad && r->left)
		r_fail(r, "bytes are left after the last field");
	if (r->bad)
		return xlmig_fail(XLMIG_E_FORMAT, "sim host %s %s: %s", what, xlmig_simp_type_name(type),
				  r->why);
	return XLMIG_OK;
}

int xlmig_simp_check_header(const uint8_t hdr[XLMIG_SIMP_HDR_LEN], uint16_t *type,
			    uint32_t *body_len)
{
	uint16_t version = xlmig_get_le16(hdr + 4);

	if (memcmp(hdr, magic, 4) != 0)
		return xlmig_fail(XLMIG_E_FORMAT, "not a sim host message (bad magic): is the socket an xlmig-simhost's?");
	if (version != XLMIG_SIMP_VERSION)
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "sim host protocol version %u, this xlmig speaks %u: run xlmigd and xlmig-simhost of the same release",
				  version, XLMIG_SIMP_VERSION);
	*type = xlmig_get_le16(hdr + 6);
	*body_len = xlmig_get_le32(hdr + 8);
	if (*body_len > XLMIG_SIMP_MAX_BODY)
		return xlmig_fail(XLMIG_E_LIMIT, "sim host message of %u bytes is over the %u-byte limit",
				  *body_len, XLMIG_SIMP_MAX_BODY);
	return XLMIG_OK;
}

/* The body of a whole frame, its header checked. */
static int open_frame(const uint8_t *frame, size_t len, uint16_t *type, struct rd *r)
{
	uint32_t body;
	int rc;

	if (len < XLMIG_SIMP_HDR_LEN)
		return xlmig_fail(XLMIG_E_TRUNCATED, "sim host message of %zu bytes is shorter than its header", len);
	rc = xlmig_simp_check_header(frame, type, &body);
	if (rc)
		return rc;
	if (body != len - XLMIG_SIMP_HDR_LEN)
		return xlmig_fail(XLMIG_E_FORMAT, "sim host message says %u body bytes, has %zu",
				  body, len - XLMIG_SIMP_HDR_LEN);
	*r = (struct rd){ .p = frame + XLMIG_SIMP_HDR_LEN, .left = body };
	return XLMIG_OK;
}

int xlmig_simp_parse_req(const uint8_t *frame, size_t len, struct xlmig_simp_req *q)
{
	struct rd r;
	uint16_t type;
	int rc = open_frame(frame, len, &type, &r);

	memset(q, 0, sizeof(*q));
	if (rc)
		return rc;
	if (type < 1 || type > XLMIG_SIMP_TYPE_MAX)
		return xlmig_fail(XLMIG_E_UNSUPPORTED, "unknown sim host request type %u", type);
	q->type = type;
	if (has_domid(type))
		q->domid = r_u32(&r);
	switch (type) {
	case XLMIG_SIMP_CREATE:
		r_str(&r, q->name, sizeof(q->name));
		q->mem_bytes = r_u64(&r);
		q->vcpus = r_u32(&r);
		q->flags = r_u8(&r);
		r_workload(&r, &q->wl);
		break;
	case XLMIG_SIMP_RENAME:
		r_str(&r, q->name, sizeof(q->name));
		break;
	case XLMIG_SIMP_THROTTLE:
		q->pct = r_u32(&r);
		break;
	case XLMIG_SIMP_SAVE_END:
		q->flags = r_u8(&r);
		break;
	case XLMIG_SIMP_SET_VCPU:
		r_blob(&r, q->blob, sizeof(q->blob), &q->blob_len);
		break;
	case XLMIG_SIMP_REWRITE:
		q->first = r_u64(&r);
		q->count = r_u64(&r);
		break;
	}
	return r_finish(&r, "request", type);
}

static void r_list(struct rd *r, struct xlmig_simp_reply *p)
{
	uint32_t n = r_u32(r);

	if (r->bad)
		return;
	/* Each entry takes at least 22 bytes: a count the body cannot hold
	 * is refused before anything is allocated for it. */
	if (n > XLMIG_SIMP_MAX_DOMS || (size_t)n * 22 > r->left) {
		r_fail(r, "the domain count does not fit the message");
		return;
	}
	p->doms = calloc(n ? n : 1, sizeof(*p->doms));
	if (!p->doms) {
		r_fail(r, "out of memory for the domain list");
		return;
	}
	for (uint32_t i = 0; i < n && !r->bad; i++) {
		struct xlmig_domain_info *d = &p->doms[i];
		uint32_t state;

		d->domid = r_u32(r);
		r_str(r, d->name, sizeof(d->name));
		d->mem_bytes = r_u64(r);
		d->vcpus = r_u32(r);
		state = r_u32(r);
		if (state > XLMIG_DOM_DYING)
			r_fail(r, "unknown domain state");
		d->state = (enum xlmig_dom_state)state;
		d->guest_type = XLMIG_GUEST_X86_HVM;
	}
	p->n_doms = n;
}

int xlmig_simp_parse_reply(const uint8_t *frame, size_t len, uint16_t want,
			   struct xlmig_simp_reply *p)
{
	struct rd r;
	uint16_t type;
	uint32_t status;
	size_t blob_len;
	int rc = open_frame(frame, len, &type, &r);

	memset(p, 0, sizeof(*p));
	if (rc)
		return rc;
	if (type != (want | XLMIG_SIMP_REPLY))
		return xlmig_fail(XLMIG_E_FORMAT, "the sim host answered %#x to a %s request",
				  type, xlmig_simp_type_name(want));
	p->type = want;
	status = r_u32(&r);
	if (status > 1000)
		r_fail(&r, "status out of range");
	p->status = status <= 1000 ? -(int)status : XLMIG_E_FORMAT;
	if (p->status) {
		r_str(&r, p->text, sizeof(p->text));
		return r_finish(&r, "reply to", want);
	}
	switch (want) {
	case XLMIG_SIMP_LIST:
		r_list(&r, p);
		break;
	case XLMIG_SIMP_CREATE:
		p->domid = r_u32(&r);
		break;
	case XLMIG_SIMP_ATTACH:
		p->mem_bytes = r_u64(&r);
		p->vcpus = r_u32(&r);
		r_workload(&r, &p->wl);
		p->state_len = r_u64(&r);
		break;
	case XLMIG_SIMP_SAVE_BEGIN:
		r_str(&r, p->name, sizeof(p->name));
		break;
	case XLMIG_SIMP_GET_VCPU:
		r_blob(&r, p->blob, sizeof(p->blob), &blob_len);
		if (!r.bad && blob_len != sizeof(p->blob))
			r_fail(&r, "the vCPU blob has the wrong size");
		break;
	case XLMIG_SIMP_COUNTER:
		p->value = r_u64(&r);
		break;
	}
	rc = r_finish(&r, "reply to", want);
	if (rc)
		xlmig_simp_reply_free(p);
	return rc;
}

void xlmig_simp_reply_free(struct xlmig_simp_reply *r)
{
	free(r->doms);
	r->doms = NULL;
	r->n_doms = 0;
}

/* ---- I/O ---- */

int xlmig_simp_send(int sock, const struct xlmig_buf *frame, const int *fds, size_t nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * XLMIG_SIMP_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { frame->data, frame->len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > XLMIG_SIMP_MAX_FDS)
		return xlmig_fail(XLMIG_E_INVAL, "%zu descriptors in one sim host message", nfds);
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	/* The descriptors go with the first bytes; the rest follows plainly. */
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return xlmig_fail(errno == EPIPE || errno == ECONNRESET ? XLMIG_E_CLOSED : XLMIG_E_IO,
				  "sending to the sim host: %s", strerror(errno));
	return xlmig_write_full(sock, frame->data + n, frame->len - (size_t)n);
}

/* Collect the SCM_RIGHTS descriptors of msg; any beyond max are closed. */
static void take_fds(struct msghdr *msg, int fds[XLMIG_SIMP_MAX_FDS], size_t *nfds)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < XLMIG_SIMP_MAX_FDS)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
}

static int recv_header(int sock, uint8_t hdr[XLMIG_SIMP_HDR_LEN], int fds[XLMIG_SIMP_MAX_FDS],
		       size_t *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * XLMIG_SIMP_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	size_t got = 0;

	while (got < XLMIG_SIMP_HDR_LEN) {
		struct iovec iov = { hdr + got, XLMIG_SIMP_HDR_LEN - got };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
		ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return xlmig_fail(errno == ECONNRESET ? XLMIG_E_CLOSED : XLMIG_E_IO,
					  "reading from the sim host connection: %s", strerror(errno));
		take_fds(&msg, fds, nfds);
		if (n == 0)
			return got ? xlmig_fail(XLMIG_E_TRUNCATED, "the sim host connection closed inside a message")
				   : xlmig_fail(XLMIG_E_CLOSED, "the sim host connection closed");
		got += (size_t)n;
	}
	return XLMIG_OK;
}

int xlmig_simp_recv(int sock, struct xlmig_buf *frame, int fds[XLMIG_SIMP_MAX_FDS],
		    size_t *nfds)
{
	uint8_t hdr[XLMIG_SIMP_HDR_LEN];
	uint32_t body;
	uint16_t type;
	uint8_t *p;
	int rc;

	*nfds = 0;
	xlmig_buf_reset(frame);
	rc = recv_header(sock, hdr, fds, nfds);
	if (!rc)
		rc = xlmig_simp_check_header(hdr, &type, &body);
	if (!rc && !(p = xlmig_buf_extend(frame, XLMIG_SIMP_HDR_LEN + (size_t)body)))
		rc = xlmig_fail(XLMIG_E_NOMEM, "out of memory for a sim host message");
	if (!rc) {
		memcpy(p, hdr, XLMIG_SIMP_HDR_LEN);
		rc = xlmig_read_full(sock, p + XLMIG_SIMP_HDR_LEN, body);
		if (rc == XLMIG_E_CLOSED && body)
			rc = xlmig_fail(XLMIG_E_TRUNCATED, "the sim host connection closed inside a message");
	}
	if (rc)
		while (*nfds)
			close(fds[--*nfds]);
	return rc;
}

const char *xlmig_simp_type_name(uint16_t type)
{
	static const char *const names[] = {
		[XLMIG_SIMP_LIST] = "LIST", [XLMIG_SIMP_CREATE] = "CREATE",
		[XLMIG_SIMP_ATTACH] = "ATTACH", [XLMIG_SIMP_PAUSE] = "PAUSE",
		[XLMIG_SIMP_UNPAUSE] = "UNPAUSE", [XLMIG_SIMP_RESUME] = "RESUME",
		[XLMIG_SIMP_DESTROY] = "DESTROY", [XLMIG_SIMP_RENAME] = "RENAME",
		[XLMIG_SIMP_THROTTLE] = "THROTTLE", [XLMIG_SIMP_SAVE_BEGIN] = "SAVE_BEGIN",
		[XLMIG_SIMP_SAVE_STOP] = "SAVE_STOP", [XLMIG_SIMP_SAVE_END] = "SAVE_END",
		[XLMIG_SIMP_GET_VCPU] = "GET_VCPU", [XLMIG_SIMP_SET_VCPU] = "SET_VCPU",
		[XLMIG_SIMP_COUNTER] = "COUNTER", [XLMIG_SIMP_REWRITE] = "REWRITE",
		[XLMIG_SIMP_WATCH] = "WATCH",
	};

	return type < XLMIG_ARRAY_SIZE(names) && names[type] ? names[type] : "unknown";
}
