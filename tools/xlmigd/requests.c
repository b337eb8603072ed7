/*
 * requests.c - the control protocol's commands (see ctl.h): each request
 * is parsed, checked field by field, and answered with one JSON object.
 */
#include "xlmigd.h"
#include "ctl.h"
#include "json.h"
#include "stream.h"
#include "migrate_opts.h"
#include "xl_config.h"

#include <inttypes.h>
#include <stdlib.h>

struct request {
	struct xlmigd *d;
	const struct xlmig_json *args;
	struct xlmig_json_writer *w;     /* reply object, "ok":true written */
};

typedef int (*handler_fn)(struct request *r);

/* ---- argument helpers: a missing optional field keeps the default ---- */

static int arg_str(struct request *r, const char *key, bool required, const char **out)
{
	int rc = xlmig_json_get_str(r->args, key, out);

	if (rc == XLMIG_E_NOTFOUND && !required)
		return XLMIG_OK;
	if (rc)
		return xlmig_fail(XLMIG_E_INVAL, "request field '%s' %s", key,
				  rc == XLMIG_E_NOTFOUND ? "is missing" : "must be a string");
	return XLMIG_OK;
}

static int arg_u64(struct request *r, const char *key, uint64_t max, uint64_t *out)
{
	uint64_t v;
	int rc = xlmig_json_get_u64(r->args, key, &v);

	if (rc == XLMIG_E_NOTFOUND)
		return XLMIG_OK;
	if (rc || v > max)
		return xlmig_fail(XLMIG_E_INVAL, "request field '%s' must be a number up to %" PRIu64, key, max);
	*out = v;
	return XLMIG_OK;
}

static int arg_bool(struct request *r, const char *key, bool *out)
{
	int rc = xlmig_json_get_bool(r->args, key, out);

	if (rc == XLMIG_E_NOTFOUND)
		return XLMIG_OK;
	return rc ? xlmig_fail(XLMIG_E_INVAL, "request field '%s' must be true or false", key) : XLMIG_OK;
}

static void hv_lock(struct xlmigd *d) { pthread_mutex_lock(&d->hv_lock); }
static void hv_unlock(struct xlmigd *d) { pthread_mutex_unlock(&d->hv_lock); }

static const char *dom_state_name(enum xlmig_dom_state s)
{
	switch (s) {
	case XLMIG_DOM_RUNNING: return "running";
	case XLMIG_DOM_PAUSED: return "paused";
	case XLMIG_DOM_SUSPENDED: return "suspended";
	case XLMIG_DOM_DYING: return "dying";
	}
	return "unknown";
}

/* ---- create ---- */

/* The backend reads its own parameters (sim: the workload) from the
 * request; a backend that cannot create guests says so. */
static int req_create(struct request *r)
{
	struct xlmig_hv_create c = { .vcpus = 1, .params = r->args };
	uint64_t vcpus = 1;
	uint32_t domid;
	int rc;

	if ((rc = arg_str(r, "name", true, &c.name)) ||
	    (rc = arg_u64(r, "memory", UINT64_MAX, &c.mem_bytes)) ||
	    (rc = arg_u64(r, "vcpus", UINT32_MAX, &vcpus)) || (rc = arg_bool(r, "paused", &c.paused)))
		return rc;
	c.vcpus = (unsigned)vcpus;
	if (!c.mem_bytes)
		return xlmig_fail(XLMIG_E_INVAL, "create needs a memory size (--memory 1G)");
	hv_lock(r->d);
	rc = xlmig_hv_create(r->d->hv, &c, &domid);
	hv_unlock(r->d);
	if (rc)
		return rc;
	xlmig_info("created guest %s (domid %u, %" PRIu64 " MiB)", c.name, domid, c.mem_bytes >> 20);
	xlmig_json_kv_uint(r->w, "domid", domid);
	xlmig_json_kv_str(r->w, "name", c.name);
	return XLMIG_OK;
}

/* ---- list, guest-info, destroy ---- */

static void write_domain(struct xlmig_json_writer *w, const struct xlmig_domain_info *di)
{
	xlmig_json_object_open(w);
	xlmig_json_kv_uint(w, "domid", di->domid);
	xlmig_json_kv_str(w, "name", di->name);
	xlmig_json_kv_uint(w, "memory", di->mem_bytes);
	xlmig_json_kv_uint(w, "vcpus", di->vcpus);
	xlmig_json_kv_str(w, "state", dom_state_name(di->state));
	xlmig_json_object_close(w);
}

static int req_list(struct request *r)
{
	struct xlmig_domain_info *doms = NULL;
	size_t n = 0;
	int rc;

	hv_lock(r->d);
	rc = r->d->hv->ops->list(r->d->hv, &doms, &n);
	hv_unlock(r->d);
	if (rc)
		return rc;
	xlmig_json_key(r->w, "domains");
	xlmig_json_array_open(r->w);
	for (size_t i = 0; i < n; i++)
		write_domain(r->w, &doms[i]);
	xlmig_json_array_close(r->w);
	free(doms);
	return XLMIG_OK;
}

static int lookup(struct request *r, struct xlmig_domain_info *di)
{
	const char *name;
	int rc = arg_str(r, "domain", true, &name);

	if (rc)
		return rc;
	hv_lock(r->d);
	rc = r->d->hv->ops->lookup(r->d->hv, name, di);
	hv_unlock(r->d);
	if (rc == XLMIG_E_NOTFOUND) {
		char msg[256];
		snprintf(msg, sizeof(msg), "%s", xlmig_errmsg());
		xlmig_fail(rc, "%s ('xlmig list' shows the domains of this host)", msg);
	}
	return rc;
}

/* Counter and, when asked, the memory digest.  A running guest is paused
 * for the digest (the only way to get a consistent one) and resumed. */
static int req_guest_info(struct request *r)
{
	struct xlmig_domain_info di;
	struct xlmig_hv *hv = r->d->hv;
	bool want_digest = false, paused_here = false;
	uint64_t counter = 0;
	uint8_t digest[32];
	char hex[65];
	int rc;

	if ((rc = arg_bool(r, "digest", &want_digest)) || (rc = lookup(r, &di)))
		return rc;
	hv_lock(r->d);
	if (want_digest && di.state == XLMIG_DOM_RUNNING) {
		rc = hv->ops->pause(hv, di.domid);
		paused_here = rc == XLMIG_OK;
	}
	/* A backend without a counter (xen) still gives the digest. */
	if (!rc && (hv->ops->counter || !want_digest))
		rc = xlmig_hv_counter(hv, di.domid, &counter);
	if (!rc && want_digest)
		rc = xlmig_hv_mem_digest(hv, di.domid, digest);
	if (paused_here) {
		int urc = hv->ops->unpause(hv, di.domid);
		rc = rc ? rc : urc;
	}
	hv_unlock(r->d);
	if (rc)
		return rc;
	xlmig_json_key(r->w, "domain");
	write_domain(r->w, &di);
	if (hv->ops->counter)
		xlmig_json_kv_uint(r->w, "counter", counter);
	if (want_digest) {
		xlmig_hex_encode(digest, sizeof(digest), hex);
		xlmig_json_kv_str(r->w, "digest", hex);
	}
	return XLMIG_OK;
}

static int req_destroy(struct request *r)
{
	struct xlmig_domain_info di;
	int rc = lookup(r, &di);

	if (rc)
		return rc;
	for (struct xlmigd_job *dj = r->d->jobs; dj; dj = dj->next)
		if (!strcmp(xlmig_job_domain(dj->job), di.name))
			return xlmig_fail(XLMIG_E_EXISTS, "domain %s is being migrated by job %s: cancel it first ('xlmig cancel %s')",
					  di.name, xlmig_job_id(dj->job), xlmig_job_id(dj->job));
	hv_lock(r->d);
	rc = r->d->hv->ops->destroy(r->d->hv, di.domid);
	hv_unlock(r->d);
	if (!rc)
		xlmig_info("destroyed domain %s (domid %u)", di.name, di.domid);
	return rc;
}

/* ---- migrate ---- */

/* xl migrate's -C (the client read the file: this daemon may not be
 * able to), checked as the receiver would. */
static int migrate_xl_opts(struct request *r, struct xlmig_migrate_opts *o)
{
	const char *config = NULL;
	char name[XLMIG_NAME_MAX];
	size_t len;
	int rc;

	if ((rc = arg_str(r, "config", false, &config)) || !config)
		return rc;
	len = strlen(config);
	/* The xl save header carries it with its NUL. */
	if (len >= XLMIG_MAX_XL_OPTDATA)
		return xlmig_fail(XLMIG_E_LIMIT, "the -C config is %zu bytes, more than a save header carries", len);
	if ((rc = xlmig_xl_config_name((const uint8_t *)config, (uint32_t)len, name)))
		return xlmig_fail_prefix(rc, "the -C config");
	o->config_override = config;
	return XLMIG_OK;
}

/* One of the option table's job settings, if the request has it: the
 * same bounds as on xlmig's command line (migrate_opts.h). */
static int migrate_table_opt(struct request *r, const struct xlmig_mopt *m,
			     struct xlmig_migrate_opts *o)
{
	const char *s = NULL;
	uint64_t v = 0;
	bool b = false;
	int rc;

	switch (m->type) {
	case XLMIG_MOPT_FLAG:
		rc = xlmig_json_get_bool(r->args, m->json, &b);
		v = m->id == XLMIG_MOPT_NO_COMPRESS ? !b : b;
		break;
	case XLMIG_MOPT_WORD:
		rc = xlmig_json_get_str(r->args, m->json, &s);
		break;
	default:
		rc = xlmig_json_get_u64(r->args, m->json, &v);
	}
	if (rc == XLMIG_E_NOTFOUND)
		return XLMIG_OK;
	if (rc)
		return xlmig_fail(XLMIG_E_INVAL, "request field '%s' has the wrong type", m->json);
	if ((rc = xlmig_mopt_apply(m, v, s, o)))
		return xlmig_fail_prefix(rc, "request field '%s'", m->json);
	return XLMIG_OK;
}

static int migrate_opts(struct request *r, struct xlmig_migrate_opts *o)
{
	const char *host;
	uint64_t port = o->port;
	int rc;

	if ((rc = arg_str(r, "host", true, &host)) || (rc = arg_u64(r, "port", 65535, &port)))
		return rc;
	for (size_t i = 0; i < xlmig_mopts_count; i++) {
		const struct xlmig_mopt *m = &xlmig_mopts[i];

		/* -C's config is checked as a receiver would, below. */
		if ((m->where & XLMIG_MOPT_JOB) && m->json && m->id != 'C' &&
		    (rc = migrate_table_opt(r, m, o)))
			return rc;
	}
	if ((rc = migrate_xl_opts(r, o)))
		return rc;
	if (strlen(host) >= sizeof(o->host) || !host[0])
		return xlmig_fail(XLMIG_E_INVAL, "destination host '%.40s' is empty or too long", host);
	if (port == 0)
		return xlmig_fail(XLMIG_E_INVAL, "request field 'port' must be at least 1");
	snprintf(o->host, sizeof(o->host), "%s", host);
	o->port = (uint16_t)port;
	return XLMIG_OK;
}

static int req_migrate(struct request *r)
{
	struct xlmig_domain_info di;
	struct xlmig_migrate_opts o;
	struct xlmig_job *job = NULL;
	const char *domain;
	int rc;

	xlmig_migrate_opts_default(&o);
	if ((rc = arg_str(r, "domain", true, &domain)) || (rc = migrate_opts(r, &o)) ||
	    (rc = lookup(r, &di)))
		return rc;
	for (struct xlmigd_job *dj = r->d->jobs; dj; dj = dj->next)
		if (!strcmp(xlmig_job_domain(dj->job), domain))
			return xlmig_fail(XLMIG_E_EXISTS, "domain %s is already being migrated by job %s ('xlmig status %s')",
					  domain, xlmig_job_id(dj->job), xlmig_job_id(dj->job));
	if ((rc = xlmig_job_new_source(&r->d->env, domain, &o, &job)))
		return rc;
	if ((rc = xlmigd_jobs_add_source(r->d, job))) {
		xlmig_job_cancel(job);
		xlmig_job_run(job);
		xlmig_job_free(job);
		return rc;
	}
	xlmig_json_kv_str(r->w, "job", xlmig_job_id(job));
	return XLMIG_OK;
}

/* ---- status, jobs, cancel ---- */

static void write_record(struct xlmig_json_writer *w, const struct xlmig_job_record *rec)
{
	xlmig_json_kv_str(w, "id", rec->id);
	xlmig_json_kv_str(w, "role", xlmig_role_name(rec->role));
	xlmig_json_kv_str(w, "step", xlmig_step_name(rec->step));
	xlmig_json_kv_bool(w, "final", xlmig_step_is_final(rec->step));
	xlmig_json_kv_str(w, "domain", rec->domain);
	xlmig_json_kv_str(w, "peer", rec->peer);
	xlmig_json_kv_int(w, "created", rec->created);
	xlmig_json_kv_int(w, "updated", rec->updated);
	xlmig_json_kv_int(w, "code", rec->err);
	xlmig_json_kv_str(w, "message", rec->message);
}

static void write_progress(struct xlmig_json_writer *w, const struct xlmig_job_progress *p)
{
	xlmig_json_key(w, "progress");
	xlmig_json_object_open(w);
	xlmig_json_kv_uint(w, "iteration", p->iteration);
	xlmig_json_kv_double(w, "percent", p->percent);
	xlmig_json_kv_double(w, "send_rate", p->send_rate);
	xlmig_json_kv_double(w, "dirty_rate", p->dirty_rate);
	xlmig_json_kv_uint(w, "expected_downtime_ms", p->expected_downtime_ns / 1000000);
	xlmig_json_kv_uint(w, "throttle_pct", p->throttle_pct);
	xlmig_json_kv_uint(w, "bytes_wire", p->bytes_wire);
	xlmig_json_kv_uint(w, "bytes_stream", p->bytes_stream);
	xlmig_json_kv_uint(w, "mem_bytes", p->mem_bytes);
	xlmig_json_kv_uint(w, "elapsed_ms", p->elapsed_ns / 1000000);
	xlmig_json_object_close(w);
}

/* Final statistics are stored as JSON text: re-emit them as a value. */
static void write_stats(struct request *r, const char *id)
{
	struct xlmig_json *stats = NULL;
	char *text = NULL;

	if (xlmig_journal_get_stats(r->d->journal, id, &text) == XLMIG_OK &&
	    xlmig_json_parse(text, strlen(text), &stats) == XLMIG_OK) {
		xlmig_json_key(r->w, "stats");
		xlmig_json_value(r->w, stats);
	}
	xlmig_json_free(stats);
	free(text);
}

static int write_job(struct request *r, const char *id)
{
	struct xlmig_job *job = xlmigd_jobs_find(r->d, id);
	struct xlmig_job_record rec;
	int rc = XLMIG_OK;

	xlmig_json_object_open(r->w);
	if (job)
		xlmig_job_get_record(job, &rec);
	/* A job that reached its final step is reported from the journal,
	 * with its statistics, even before the loop has retired it. */
	if (job && !xlmig_step_is_final(rec.step)) {
		struct xlmig_job_progress p;
		xlmig_job_get_progress(job, &p);
		write_record(r->w, &rec);
		write_progress(r->w, &p);
	} else if ((rc = xlmig_journal_get(r->d->journal, id, &rec)) == XLMIG_OK) {
		write_record(r->w, &rec);
		write_stats(r, id);
	}
	xlmig_json_object_close(r->w);
	return rc;
}

static int req_status(struct request *r)
{
	const char *id = NULL;
	int rc = arg_str(r, "job", false, &id);

	if (rc)
		return rc;
	if (id) {
		struct xlmig_job_record rec;
		if (!xlmigd_jobs_find(r->d, id) && (rc = xlmig_journal_get(r->d->journal, id, &rec)))
			return rc;
		xlmig_json_key(r->w, "job");
		return write_job(r, id);
	}
	xlmig_json_key(r->w, "jobs");
	xlmig_json_array_open(r->w);
	for (struct xlmigd_job *dj = r->d->jobs; dj && !rc; dj = dj->next)
		rc = write_job(r, xlmig_job_id(dj->job));
	xlmig_json_array_close(r->w);
	return rc;
}

static int req_jobs(struct request *r)
{
	struct xlmig_job_record *recs = NULL;
	size_t n = 0;
	int rc = xlmig_journal_list(r->d->journal, &recs, &n);

	if (rc)
		return rc;
	xlmig_json_key(r->w, "jobs");
	xlmig_json_array_open(r->w);
	for (size_t i = 0; i < n; i++) {
		struct xlmig_job *live = xlmigd_jobs_find(r->d, recs[i].id);
		if (live)
			xlmig_job_get_record(live, &recs[i]);
		xlmig_json_object_open(r->w);
		write_record(r->w, &recs[i]);
		xlmig_json_object_close(r->w);
	}
	xlmig_json_array_close(r->w);
	free(recs);
	return XLMIG_OK;
}

static int req_cancel(struct request *r)
{
	const char *id;
	struct xlmig_job *job;
	struct xlmig_job_record rec;
	int rc = arg_str(r, "job", true, &id);

	if (rc)
		return rc;
	job = xlmigd_jobs_find(r->d, id);
	if (!job) {
		if (xlmig_journal_get(r->d->journal, id, &rec) == XLMIG_OK)
			return xlmig_fail(XLMIG_E_INVAL, "job %s already ended (%s): nothing to cancel",
					  id, xlmig_step_name(rec.step));
		return xlmig_fail(XLMIG_E_NOTFOUND, "no job %s on this host ('xlmig jobs' lists them)", id);
	}
	if ((rc = xlmig_job_cancel(job)))
		return rc;
	xlmig_info("job %s: cancel requested", id);
	return XLMIG_OK;
}

static const struct {
	const char *name;
	handler_fn fn;
} handlers[] = {
	{ "create", req_create },
	{ "list", req_list },
	{ "guest-info", req_guest_info },
	{ "destroy", req_destroy },
	{ "migrate", req_migrate },
	{ "status", req_status },
	{ "jobs", req_jobs },
	{ "cancel", req_cancel },
};

static handler_fn find_handler(const char *cmd)
{
	for (size_t i = 0; i < XLMIG_ARRAY_SIZE(handlers); i++)
		if (!strcmp(handlers[i].name, cmd))
			return handlers[i].fn;
	return NULL;
}

static void reply_error(struct xlmig_buf *out, int code)
{
	struct xlmig_json_writer w;

	xlmig_buf_reset(out);
	xlmig_json_writer_init(&w, out);
	xlmig_json_object_open(&w);
	xlmig_json_kv_bool(&w, "ok", false);
	xlmig_json_kv_int(&w, "code", code);
	xlmig_json_kv_str(&w, "error", xlmig_errmsg()[0] ? xlmig_errmsg() : xlmig_strerror(code));
	xlmig_json_object_close(&w);
	if (xlmig_json_finish(&w)) {
		xlmig_buf_reset(out);
		xlmig_buf_append(out, "{\"ok\":false,\"code\":-1,\"error\":\"out of memory\"}", 46);
	}
}

void xlmigd_request(struct xlmigd *d, const char *line, struct xlmig_buf *out, bool agent)
{
	bool backup, snapshot;
	struct xlmig_json *req = NULL;
	struct xlmig_json_writer w;
	const char *cmd;
	handler_fn fn = NULL;
	int rc;

	xlmig_errclear();
	if ((rc = xlmig_json_parse(line, strlen(line), &req)) ||
	    (rc = xlmig_json_get_str(req, "cmd", &cmd))) {
		rc = xlmig_fail(XLMIG_E_FORMAT, "a control request is one JSON object with a \"cmd\" string");
		goto out;
	}
	backup = xlmigd_backup_handles(cmd);
	if (agent && !backup) {
		rc = xlmig_fail(XLMIG_E_AUTH, "'%.40s' is not a backup verb: the backup agents' socket serves only backup-*", cmd);
		goto out;
	}
	snapshot = !backup && xlmigd_snapshot_handles(cmd);
	if (!backup && !snapshot && !(fn = find_handler(cmd))) {
		rc = xlmig_fail(XLMIG_E_UNSUPPORTED, "unknown command '%.40s' (this xlmigd may be older than xlmig)", cmd);
		goto out;
	}
	xlmig_json_writer_init(&w, out);
	xlmig_json_object_open(&w);
	xlmig_json_kv_bool(&w, "ok", true);
	if (backup)
		rc = xlmigd_backup_request(d, cmd, req, &w);
	else if (snapshot)
		rc = xlmigd_snapshot_request(d, cmd, req, &w);
	else
		rc = fn(&(struct request){ .d = d, .args = req, .w = &w });
	xlmig_json_object_close(&w);
	if (!rc)
		rc = xlmig_json_finish(&w);
out:
	if (rc)
		reply_error(out, rc);
	xlmig_json_free(req);
}
