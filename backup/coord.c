/*
 * coord.c - the backup coordinator's state machine (coord.h).
 */
#include "coord.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>

struct slot {
	struct xlmig_bk_job job;
	bool dirty;
};

struct guest_mig {
	char domain[XLMIG_NAME_MAX];
	enum xlmig_bk_mig state;
	char mig_job[XLMIG_BK_ID_MAX];
};

#define MIGS_MAX 256

struct xlmig_bk_coord {
	struct xlmig_bk_config cfg;
	struct slot *slots[XLMIG_BK_JOBS_MAX];
	size_t n;
	uint64_t next_id;
	struct guest_mig migs[MIGS_MAX];
	struct xlmig_bk_event *events;   /* ring of XLMIG_BK_EVENTS_MAX */
	size_t ev_head, ev_len;
	unsigned ev_dropped;
	char removed[XLMIG_BK_JOBS_MAX][XLMIG_BK_ID_MAX];
	size_t n_removed;
};

void xlmig_bk_config_default(struct xlmig_bk_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->host, sizeof(cfg->host), "localhost");
	cfg->lease_secs = 300;
	cfg->hold_ack_secs = 30;
	cfg->abort_unacked = false;
}

int xlmig_bk_coord_new(const struct xlmig_bk_config *cfg, struct xlmig_bk_coord **out)
{
	struct xlmig_bk_coord *c = calloc(1, sizeof(*c));

	if (!c || !(c->events = calloc(XLMIG_BK_EVENTS_MAX, sizeof(*c->events)))) {
		free(c);
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for the backup coordinator");
	}
	c->cfg = *cfg;
	if (!c->cfg.lease_secs)
		c->cfg.lease_secs = 300;
	c->next_id = 1;
	*out = c;
	return XLMIG_OK;
}

/* Only the counts: past them, the event ring and the removed ids are
 * never read. */
void xlmig_bk_coord_reset(struct xlmig_bk_coord *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->slots[i]);
	c->n = 0;
	c->next_id = 1;
	memset(c->migs, 0, sizeof(c->migs));
	c->ev_head = c->ev_len = 0;
	c->ev_dropped = 0;
	c->n_removed = 0;
}

void xlmig_bk_coord_free(struct xlmig_bk_coord *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->slots[i]);
	free(c->events);
	free(c);
}

const struct xlmig_bk_config *xlmig_bk_config(const struct xlmig_bk_coord *c)
{
	return &c->cfg;
}

void xlmig_bk_set_next_id(struct xlmig_bk_coord *c, uint64_t next)
{
	if (next > c->next_id)
		c->next_id = next;
}

uint64_t xlmig_bk_next_id(const struct xlmig_bk_coord *c)
{
	return c->next_id;
}

/* ---- names ---- */

static const char *const state_names[] = {
	"requested", "quiescing", "running", "held", "in-transit", "resuming",
	"done", "failed", "expired",
};
static const char *const kind_names[] = { "external", "checkpoint" };
static const char *const event_names[] = { "backup-hold", "backup-resume", "backup-granted",
					   "backup-expired", "backup-ended" };

bool xlmig_bk_state_is_final(enum xlmig_bk_state s)
{
	return s == XLMIG_BK_DONE || s == XLMIG_BK_FAILED || s == XLMIG_BK_EXPIRED;
}

const char *xlmig_bk_state_name(enum xlmig_bk_state s)
{
	return (unsigned)s < XLMIG_ARRAY_SIZE(state_names) ? state_names[s] : "unknown";
}

static int name_lookup(const char *const *names, size_t n, const char *s, unsigned *out)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], s)) {
			*out = (unsigned)i;
			return XLMIG_OK;
		}
	return XLMIG_E_FORMAT;
}

int xlmig_bk_state_parse(const char *s, enum xlmig_bk_state *out)
{
	unsigned v;
	int rc = name_lookup(state_names, XLMIG_ARRAY_SIZE(state_names), s, &v);

	if (!rc)
		*out = (enum xlmig_bk_state)v;
	return rc;
}

const char *xlmig_bk_kind_name(enum xlmig_bk_kind k)
{
	return (unsigned)k < XLMIG_ARRAY_SIZE(kind_names) ? kind_names[k] : "unknown";
}

int xlmig_bk_kind_parse(const char *s, enum xlmig_bk_kind *out)
{
	unsigned v;
	int rc = name_lookup(kind_names, XLMIG_ARRAY_SIZE(kind_names), s, &v);

	if (!rc)
		*out = (enum xlmig_bk_kind)v;
	return rc;
}

const char *xlmig_bk_event_name(enum xlmig_bk_event_type t)
{
	return (unsigned)t < XLMIG_ARRAY_SIZE(event_names) ? event_names[t] : "unknown";
}

bool xlmig_bk_name_ok(const char *s, size_t max)
{
	size_t len = s ? strnlen(s, max) : 0;

	if (len == 0 || len >= max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == ':' || ch == '@' || ch == '-' || ch == '+'))
			return false;
	}
	return true;
}

/* ---- jobs and events ---- */

static void touch(struct xlmig_bk_job *job, int64_t now)
{
	/* The job is the first member of its slot. */
	((struct slot *)job)->dirty = true;
	job->updated = now;
}

static void emit(struct xlmig_bk_coord *c, enum xlmig_bk_event_type type,
		 const struct xlmig_bk_job *job)
{
	struct xlmig_bk_event *ev;

	if (c->ev_len == XLMIG_BK_EVENTS_MAX) {
		c->ev_dropped++;
		return;
	}
	ev = &c->events[(c->ev_head + c->ev_len) % XLMIG_BK_EVENTS_MAX];
	ev->type = type;
	ev->job = *job;
	c->ev_len++;
}

bool xlmig_bk_next_event(struct xlmig_bk_coord *c, struct xlmig_bk_event *ev)
{
	if (!c->ev_len)
		return false;
	*ev = c->events[c->ev_head];
	c->ev_head = (c->ev_head + 1) % XLMIG_BK_EVENTS_MAX;
	c->ev_len--;
	return true;
}

unsigned xlmig_bk_events_dropped(const struct xlmig_bk_coord *c)
{
	return c->ev_dropped;
}

static void set_message(struct xlmig_bk_job *job, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_message(struct xlmig_bk_job *job, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(job->message, sizeof(job->message), fmt, ap);
	va_end(ap);
}

struct xlmig_bk_job *xlmig_bk_find(struct xlmig_bk_coord *c, const char *id)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->slots[i]->job.id, id))
			return &c->slots[i]->job;
	return NULL;
}

size_t xlmig_bk_count(const struct xlmig_bk_coord *c)
{
	return c->n;
}

const struct xlmig_bk_job *xlmig_bk_at(const struct xlmig_bk_coord *c, size_t i)
{
	return i < c->n ? &c->slots[i]->job : NULL;
}

/* Make room by forgetting the oldest job that is history (ended, or not
 * here); the store is told through xlmig_bk_take_removed. */
static int make_room(struct xlmig_bk_coord *c)
{
	if (c->n < XLMIG_BK_JOBS_MAX)
		return XLMIG_OK;
	for (size_t i = 0; i < c->n; i++) {
		struct xlmig_bk_job *j = &c->slots[i]->job;
		if (j->here && !xlmig_bk_state_is_final(j->state))
			continue;
		if (c->n_removed < XLMIG_BK_JOBS_MAX)
			snprintf(c->removed[c->n_removed++], XLMIG_BK_ID_MAX, "%s", j->id);
		free(c->slots[i]);
		memmove(&c->slots[i], &c->slots[i + 1], (c->n - i - 1) * sizeof(c->slots[0]));
		c->n--;
		return XLMIG_OK;
	}
	return xlmig_fail(XLMIG_E_LIMIT, "%u backup jobs are active on this host; end or cancel some first",
			  XLMIG_BK_JOBS_MAX);
}

static int add_slot(struct xlmig_bk_coord *c, const struct xlmig_bk_job *job, struct xlmig_bk_job **out)
{
	struct slot *s;
	int rc;

	if ((rc = make_room(c)))
		return rc;
	if (!(s = calloc(1, sizeof(*s))))
		return xlmig_fail(XLMIG_E_NOMEM, "out of memory for a backup job");
	s->job = *job;
	s->dirty = true;
	c->slots[c->n++] = s;
	*out = &s->job;
	return XLMIG_OK;
}

int xlmig_bk_load(struct xlmig_bk_coord *c, const struct xlmig_bk_job *job)
{
	struct xlmig_bk_job *old = xlmig_bk_find(c, job->id), *added;

	if (old) {
		*old = *job;
		return XLMIG_OK;
	}
	if (add_slot(c, job, &added))
		return xlmig_fail_prefix(XLMIG_E_LIMIT, "loading backup job %s", job->id);
	((struct slot *)added)->dirty = false;
	return XLMIG_OK;
}

size_t xlmig_bk_take_dirty(struct xlmig_bk_coord *c, const struct xlmig_bk_job **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n && n < max; i++)
		if (c->slots[i]->dirty) {
			c->slots[i]->dirty = false;
			out[n++] = &c->slots[i]->job;
		}
	return n;
}

size_t xlmig_bk_take_removed(struct xlmig_bk_coord *c, char (*out)[XLMIG_BK_ID_MAX], size_t max)
{
	size_t n = c->n_removed < max ? c->n_removed : max;

	memcpy(out, c->removed, n * sizeof(c->removed[0]));
	memmove(c->removed, c->removed[n], (c->n_removed - n) * sizeof(c->removed[0]));
	c->n_removed -= n;
	return n;
}

/* ---- migrations by guest ---- */

static struct guest_mig *mig_of(struct xlmig_bk_coord *c, const char *domain, bool create)
{
	struct guest_mig *free_slot = NULL;

	for (size_t i = 0; i < MIGS_MAX; i++) {
		if (c->migs[i].state != XLMIG_BK_MIG_NONE && !strcmp(c->migs[i].domain, domain))
			return &c->migs[i];
		if (!free_slot && c->migs[i].state == XLMIG_BK_MIG_NONE)
			free_slot = &c->migs[i];
	}
	if (!create || !free_slot)
		return NULL;
	snprintf(free_slot->domain, sizeof(free_slot->domain), "%s", domain);
	return free_slot;
}

enum xlmig_bk_mig xlmig_bk_mig_state(const struct xlmig_bk_coord *c, const char *domain)
{
	struct guest_mig *m = mig_of((struct xlmig_bk_coord *)c, domain, false);

	return m ? m->state : XLMIG_BK_MIG_NONE;
}

/* An active job of this guest on this host. */
static bool active_here(const struct xlmig_bk_job *j, const char *domain)
{
	return j->here && !xlmig_bk_state_is_final(j->state) && !strcmp(j->domain, domain);
}

static void start_lease(struct xlmig_bk_job *j, int64_t now)
{
	j->lease_until = now + j->lease_secs;
}

/* ---- agents ---- */

static int check_begin(struct xlmig_bk_coord *c, const struct xlmig_bk_begin *b)
{
	if (!xlmig_bk_name_ok(b->domain, XLMIG_NAME_MAX))
		return xlmig_fail(XLMIG_E_INVAL, "a backup needs the guest's name (letters, digits, . _ : @ + -)");
	if (!xlmig_bk_name_ok(b->agent, XLMIG_BK_AGENT_MAX))
		return xlmig_fail(XLMIG_E_INVAL, "a backup needs an agent name of 1-%u letters, digits or . _ : @ + -",
				  XLMIG_BK_AGENT_MAX - 1);
	if (b->uuid && b->uuid[0] && !xlmig_bk_name_ok(b->uuid, XLMIG_BK_UUID_MAX))
		return xlmig_fail(XLMIG_E_INVAL, "'%.60s' is not a guest uuid", b->uuid);
	if (b->lease_secs > XLMIG_BK_LEASE_MAX)
		return xlmig_fail(XLMIG_E_INVAL, "a lease is at most %u seconds", XLMIG_BK_LEASE_MAX);
	if (b->token_len > XLMIG_BK_TOKEN_MAX)
		return xlmig_fail(XLMIG_E_LIMIT, "a resume token is at most %u bytes (this one has %zu)",
				  XLMIG_BK_TOKEN_MAX, b->token_len);
	if (b->kind == XLMIG_BK_CHECKPOINT)
		for (size_t i = 0; i < c->n; i++) {
			const struct xlmig_bk_job *j = &c->slots[i]->job;
			if (active_here(j, b->domain) && j->kind == XLMIG_BK_CHECKPOINT)
				return xlmig_fail(XLMIG_E_EXISTS, "checkpoint %s of %s is still active; a guest has one dirty log, so one checkpoint at a time",
						  j->id, b->domain);
		}
	return XLMIG_OK;
}

int xlmig_bk_begin(struct xlmig_bk_coord *c, const struct xlmig_bk_begin *b, int64_t now,
		   struct xlmig_bk_job **out, bool *deferred)
{
	struct xlmig_bk_job job, *added;
	enum xlmig_bk_mig mig;
	int rc;

	if ((rc = check_begin(c, b)))
		return rc;
	mig = xlmig_bk_mig_state(c, b->domain);
	if (mig != XLMIG_BK_MIG_NONE && !b->wait)
		return xlmig_fail(XLMIG_E_EXISTS, "deferred: %s is migrating (%s); ask again when it ends, or with --wait to be granted then",
				  b->domain, mig == XLMIG_BK_MIG_COMMIT ? "stop-and-copy or commit" : "pre-copy");
	memset(&job, 0, sizeof(job));
	snprintf(job.id, sizeof(job.id), "%.23s-%" PRIu64,
		 c->cfg.id_prefix[0] ? c->cfg.id_prefix : c->cfg.host, c->next_id);
	snprintf(job.domain, sizeof(job.domain), "%s", b->domain);
	snprintf(job.uuid, sizeof(job.uuid), "%s", b->uuid ? b->uuid : "");
	snprintf(job.agent, sizeof(job.agent), "%s", b->agent);
	snprintf(job.host, sizeof(job.host), "%s", c->cfg.host);
	snprintf(job.origin, sizeof(job.origin), "%s", c->cfg.host);
	job.kind = b->kind;
	job.here = true;
	job.lease_secs = b->lease_secs ? b->lease_secs : c->cfg.lease_secs;
	job.created = job.updated = now;
	if (b->token_len) {
		memcpy(job.token, b->token, b->token_len);
		job.token_len = (uint32_t)b->token_len;
	}
	if (mig != XLMIG_BK_MIG_NONE) {
		job.state = XLMIG_BK_REQUESTED;
		job.wait = true;
		set_message(&job, "deferred: %s is migrating; granted where it runs once the migration ends", b->domain);
	} else {
		job.state = b->quiesce ? XLMIG_BK_QUIESCING : XLMIG_BK_RUNNING;
		start_lease(&job, now);
		set_message(&job, "granted on %s", c->cfg.host);
	}
	if ((rc = add_slot(c, &job, &added)))
		return rc;
	c->next_id++;
	*out = added;
	*deferred = mig != XLMIG_BK_MIG_NONE;
	return XLMIG_OK;
}

/* The job id names a job an agent may act on here. */
static int find_here(struct xlmig_bk_coord *c, const char *id, const char *what,
		     struct xlmig_bk_job **out)
{
	struct xlmig_bk_job *j = xlmig_bk_find(c, id);

	if (!j)
		return xlmig_fail(XLMIG_E_NOTFOUND, "no backup job %.60s on this host ('xlmig backup list' shows them)", id);
	if (!j->here)
		return xlmig_fail(XLMIG_E_INVAL, "backup job %s moved with its guest to %s: %s it there",
				  j->id, j->host, what);
	if (xlmig_bk_state_is_final(j->state))
		return xlmig_fail(XLMIG_E_INVAL, "backup job %s already ended (%s)", j->id,
				  xlmig_bk_state_name(j->state));
	if (j->state == XLMIG_BK_IN_TRANSIT)
		return xlmig_fail(XLMIG_E_INVAL, "backup job %s is travelling with its guest %s; %s it where the guest runs once the migration ends",
				  j->id, j->domain, what);
	*out = j;
	return XLMIG_OK;
}

int xlmig_bk_progress(struct xlmig_bk_coord *c, const char *id, const uint8_t *token,
		      size_t token_len, bool thawed, int64_t now, struct xlmig_bk_job **out)
{
	struct xlmig_bk_job *j;
	int rc;

	if ((rc = find_here(c, id, "report progress on", &j)))
		return rc;
	if (token && token_len > XLMIG_BK_TOKEN_MAX)
		return xlmig_fail(XLMIG_E_LIMIT, "a resume token is at most %u bytes (this one has %zu)",
				  XLMIG_BK_TOKEN_MAX, token_len);
	if (j->state == XLMIG_BK_REQUESTED)
		return xlmig_fail(XLMIG_E_INVAL, "backup job %s is deferred until %s's migration ends; do not start yet",
				  j->id, j->domain);
	if (token) {
		memcpy(j->token, token, token_len);
		j->token_len = (uint32_t)token_len;
	}
	switch (j->state) {
	case XLMIG_BK_HELD:
		/* The agent has paused: that is the acknowledgement. */
		if (!j->acked)
			set_message(j, "hold acknowledged by %s", j->agent);
		j->acked = true;
		break;
	case XLMIG_BK_QUIESCING:
		if (thawed) {
			j->state = XLMIG_BK_RUNNING;
			set_message(j, "thawed");
		}
		start_lease(j, now);
		break;
	case XLMIG_BK_RESUMING:
		j->state = XLMIG_BK_RUNNING;
		set_message(j, "resumed on %s", c->cfg.host);
		start_lease(j, now);
		break;
	default:
		start_lease(j, now);
		break;
	}
	touch(j, now);
	*out = j;
	return XLMIG_OK;
}

static void finish(struct xlmig_bk_coord *c, struct xlmig_bk_job *j, enum xlmig_bk_state st, int64_t now)
{
	j->state = st;
	j->lease_until = 0;
	touch(j, now);
	emit(c, XLMIG_BK_EV_ENDED, j);
}

int xlmig_bk_end(struct xlmig_bk_coord *c, const char *id, bool ok, const char *message,
		 int64_t now, struct xlmig_bk_job **out)
{
	struct xlmig_bk_job *j;
	int rc;

	if ((rc = find_here(c, id, "end", &j)))
		return rc;
	if (j->state == XLMIG_BK_REQUESTED && ok)
		return xlmig_fail(XLMIG_E_INVAL, "backup job %s was deferred and never granted: it cannot be done; cancel it",
				  j->id);
	set_message(j, "%s", message && message[0] ? message : ok ? "done" : "failed by its agent");
	finish(c, j, ok ? XLMIG_BK_DONE : XLMIG_BK_FAILED, now);
	*out = j;
	return XLMIG_OK;
}

int xlmig_bk_cancel(struct xlmig_bk_coord *c, const char *id, int64_t now, struct xlmig_bk_job **out)
{
	struct xlmig_bk_job *j;
	int rc;

	if ((rc = find_here(c, id, "cancel", &j)))
		return rc;
	set_message(j, "cancelled");
	finish(c, j, XLMIG_BK_FAILED, now);
	*out = j;
	return XLMIG_OK;
}

unsigned xlmig_bk_tick(struct xlmig_bk_coord *c, int64_t now)
{
	unsigned n = 0;

	for (size_t i = 0; i < c->n; i++) {
		struct xlmig_bk_job *j = &c->slots[i]->job;
		bool leased = j->state == XLMIG_BK_QUIESCING || j->state == XLMIG_BK_RUNNING ||
			      j->state == XLMIG_BK_RESUMING;
		if (!j->here || !leased || !j->lease_until || now < j->lease_until)
			continue;
		set_message(j, "lease of %us ran out: its agent %s stopped reporting", j->lease_secs, j->agent);
		j->state = XLMIG_BK_EXPIRED;
		j->lease_until = 0;
		touch(j, now);
		emit(c, XLMIG_BK_EV_EXPIRED, j);
		n++;
	}
	return n;
}

/* ---- source ---- */

enum xlmig_bk_verdict xlmig_bk_mig_begin(struct xlmig_bk_coord *c, const char *domain,
					 const char *mig_job, int64_t now)
{
	struct guest_mig *m;

	for (size_t i = 0; i < c->n; i++) {
		const struct xlmig_bk_job *j = &c->slots[i]->job;
		if (active_here(j, domain) && j->state == XLMIG_BK_QUIESCING)
			return XLMIG_BK_WAIT;
	}
	if (!(m = mig_of(c, domain, true)))
		return XLMIG_BK_WAIT;   /* MIGS_MAX guests migrating at once */
	if (m->state == XLMIG_BK_MIG_NONE) {
		m->state = XLMIG_BK_MIG_PRECOPY;
		snprintf(m->mig_job, sizeof(m->mig_job), "%s", mig_job);
	}
	for (size_t i = 0; i < c->n; i++) {
		struct xlmig_bk_job *j = &c->slots[i]->job;
		if (!active_here(j, domain) ||
		    (j->state != XLMIG_BK_RUNNING && j->state != XLMIG_BK_RESUMING))
			continue;
		j->state = XLMIG_BK_HELD;
		j->acked = false;
		j->lease_until = 0;
		j->hold_deadline = now + c->cfg.hold_ack_secs;
		set_message(j, "held: %s is migrating (migration %s)", domain, mig_job);
		touch(j, now);
		emit(c, XLMIG_BK_EV_HOLD, j);
	}
	return XLMIG_BK_GO;
}

enum xlmig_bk_verdict xlmig_bk_mig_holds(struct xlmig_bk_coord *c, const char *domain, int64_t now)
{
	enum xlmig_bk_verdict v = XLMIG_BK_GO;

	for (size_t i = 0; i < c->n; i++) {
		struct xlmig_bk_job *j = &c->slots[i]->job;
		if (!active_here(j, domain) || j->state != XLMIG_BK_HELD || j->acked)
			continue;
		if (now < j->hold_deadline)
			return XLMIG_BK_WAIT;
		if (c->cfg.abort_unacked)
			v = XLMIG_BK_ABORT;
		else if (!strstr(j->message, "not acknowledged")) {
			set_message(j, "hold not acknowledged within %us; the migration went on (policy: proceed)",
				    c->cfg.hold_ack_secs);
			touch(j, now);
		}
	}
	return v;
}

void xlmig_bk_mig_commit(struct xlmig_bk_coord *c, const char *domain)
{
	struct guest_mig *m = mig_of(c, domain, false);

	if (m)
		m->state = XLMIG_BK_MIG_COMMIT;
}

int xlmig_bk_mig_collect(struct xlmig_bk_coord *c, const char *domain, const char *mig_job,
			 int64_t now, struct xlmig_bk_job *out, size_t max, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < c->n; i++) {
		struct xlmig_bk_job *j = &c->slots[i]->job;
		if (!active_here(j, domain) ||
		    (j->state != XLMIG_BK_HELD && j->state != XLMIG_BK_REQUESTED))
			continue;
		if (*n == max)
			return xlmig_fail(XLMIG_E_LIMIT, "%s has more than %zu backup jobs to carry", domain, max);
		j->state = XLMIG_BK_IN_TRANSIT;
		snprintf(j->mig_job, sizeof(j->mig_job), "%s", mig_job);
		set_message(j, "in transit with %s (migration %s)", domain, mig_job);
		touch(j, now);
		out[(*n)++] = *j;
	}
	return XLMIG_OK;
}

/* Resume (or grant) a job here: the agent hears of it by event. */
static void resume_here(struct xlmig_bk_coord *c, struct xlmig_bk_job *j, int64_t now)
{
	j->mig_job[0] = 0;
	snprintf(j->host, sizeof(j->host), "%s", c->cfg.host);
	j->here = true;
	j->acked = false;
	j->hold_deadline = 0;
	start_lease(j, now);
	if (j->wait) {
		j->wait = false;
		j->state = XLMIG_BK_RUNNING;
		set_message(j, "granted on %s", c->cfg.host);
		touch(j, now);
		emit(c, XLMIG_BK_EV_GRANTED, j);
		return;
	}
	j->state = XLMIG_BK_RESUMING;
	j->resumes++;
	set_message(j, "resume on %s from the token", c->cfg.host);
	touch(j, now);
	emit(c, XLMIG_BK_EV_RESUME, j);
}

void xlmig_bk_mig_end(struct xlmig_bk_coord *c, const char *domain, bool moved,
		      const char *dest, int64_t now)
{
	struct guest_mig *m = mig_of(c, domain, false);
	char mig_job[XLMIG_BK_ID_MAX] = "";

	if (m) {
		snprintf(mig_job, sizeof(mig_job), "%s", m->mig_job);
		memset(m, 0, sizeof(*m));
	}
	for (size_t i = 0; i < c->n; i++) {
		struct xlmig_bk_job *j = &c->slots[i]->job;
		if (!active_here(j, domain))
			continue;
		/* In transit with another migration: the receiving side of a
		 * migration to this very host, which settles it itself. */
		if (j->state == XLMIG_BK_IN_TRANSIT && mig_job[0] && strcmp(j->mig_job, mig_job))
			continue;
		if (moved && j->state == XLMIG_BK_IN_TRANSIT) {
			j->here = false;
			snprintf(j->host, sizeof(j->host), "%s", dest ? dest : "?");
			set_message(j, "moved with %s to %s", domain, j->host);
			touch(j, now);
		} else if (j->state == XLMIG_BK_IN_TRANSIT || j->state == XLMIG_BK_HELD ||
			   j->state == XLMIG_BK_REQUESTED) {
			/* A job that held but was not carried (moved without
			 * collect) resumes here too: it is not lost. */
			resume_here(c, j, now);
		}
	}
}

/* ---- destination ---- */

static int check_adopt(const struct xlmig_bk_job *in)
{
	if (!xlmig_bk_name_ok(in->id, XLMIG_BK_ID_MAX) || !xlmig_bk_name_ok(in->domain, XLMIG_NAME_MAX) ||
	    !xlmig_bk_name_ok(in->agent, XLMIG_BK_AGENT_MAX))
		return xlmig_fail(XLMIG_E_FORMAT, "a backup job in the stream has a bad id, guest or agent name");
	if (in->token_len > XLMIG_BK_TOKEN_MAX)
		return xlmig_fail(XLMIG_E_LIMIT, "a backup job in the stream has a token over %u bytes",
				  XLMIG_BK_TOKEN_MAX);
	if (in->state != XLMIG_BK_IN_TRANSIT)
		return xlmig_fail(XLMIG_E_FORMAT, "backup job %s arrived %s, not in transit", in->id,
				  xlmig_bk_state_name(in->state));
	return XLMIG_OK;
}

int xlmig_bk_adopt(struct xlmig_bk_coord *c, const struct xlmig_bk_job *in,
		   const char *mig_job, const char *source, int64_t now)
{
	struct xlmig_bk_job job = *in, *old, *added;
	int rc;

	if ((rc = check_adopt(in)))
		return rc;
	old = xlmig_bk_find(c, in->id);
	if (old && old->here && xlmig_bk_state_is_final(old->state))
		return xlmig_fail(XLMIG_E_EXISTS, "backup job %s already ended on this host (%s); refusing it a second life",
				  in->id, xlmig_bk_state_name(old->state));
	if (old && old->here && old->state == XLMIG_BK_IN_TRANSIT) {
		/* A migration from this host to itself: the job stays, now
		 * carried by the receiving side's migration. */
		snprintf(old->mig_job, sizeof(old->mig_job), "%s", mig_job);
		touch(old, now);
		return XLMIG_OK;
	}
	if (old && old->here)
		return xlmig_fail(XLMIG_E_EXISTS, "backup job %s is already active on this host", in->id);
	job.here = true;
	snprintf(job.host, sizeof(job.host), "%s", c->cfg.host);
	snprintf(job.mig_job, sizeof(job.mig_job), "%s", mig_job);
	job.lease_until = 0;
	job.updated = now;
	set_message(&job, "arriving from %s with %s (migration %s)", source, in->domain, mig_job);
	if (old) {
		/* It was here before and left: it came back with its guest. */
		*old = job;
		touch(old, now);
		return XLMIG_OK;
	}
	return add_slot(c, &job, &added);
}

void xlmig_bk_arrived(struct xlmig_bk_coord *c, const char *mig_job, int64_t now)
{
	for (size_t i = 0; i < c->n; i++) {
		struct xlmig_bk_job *j = &c->slots[i]->job;
		if (j->here && j->state == XLMIG_BK_IN_TRANSIT && !strcmp(j->mig_job, mig_job))
			resume_here(c, j, now);
	}
}

void xlmig_bk_not_arrived(struct xlmig_bk_coord *c, const char *mig_job, int64_t now)
{
	for (size_t i = 0; i < c->n; i++) {
		struct xlmig_bk_job *j = &c->slots[i]->job;
		if (!j->here || j->state != XLMIG_BK_IN_TRANSIT || strcmp(j->mig_job, mig_job))
			continue;
		j->here = false;
		snprintf(j->host, sizeof(j->host), "%s", j->origin);
		set_message(j, "migration %s failed: the job stays with %s on its source", mig_job, j->domain);
		touch(j, now);
	}
}

/* ---- restart ---- */

void xlmig_bk_recover(struct xlmig_bk_coord *c, bool (*guest_here)(void *opaque, const char *domain),
		      void *opaque, int64_t now)
{
	memset(c->migs, 0, sizeof(c->migs));
	for (size_t i = 0; i < c->n; i++) {
		struct xlmig_bk_job *j = &c->slots[i]->job;
		if (!j->here || xlmig_bk_state_is_final(j->state))
			continue;
		if (j->state != XLMIG_BK_HELD && j->state != XLMIG_BK_IN_TRANSIT &&
		    j->state != XLMIG_BK_REQUESTED)
			continue;
		if (guest_here(opaque, j->domain)) {
			resume_here(c, j, now);
			continue;
		}
		j->here = false;
		set_message(j, "after a restart %s does not run here: the job went with it", j->domain);
		touch(j, now);
	}
}
