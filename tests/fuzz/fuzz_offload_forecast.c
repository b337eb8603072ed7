/*
 * fuzz_offload_forecast.c - libFuzzer harness for the offload forecast
 * (offload.h) as a source reads it from the destination's PREFLIGHT_OK.
 *
 * Input: the member's JSON text.  A forecast that reads must write again
 * and read back the same (nothing read is lost or invented), and every
 * outcome must be one a forecast can hold.  Nothing may crash, leak or
 * read out of bounds.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes a forecast of two entries and an
 * empty one into DIR.
 */
#include "harness.h"
#include "json.h"
#include "offload.h"

static void put(const char *dir, const char *name, const struct xlmig_offload_forecast *fc)
{
	struct xlmig_json_writer w;
	struct xlmig_buf b = { 0 };

	xlmig_json_writer_init(&w, &b);
	xlmig_offload_forecast_write(fc, &w);
	if (xlmig_json_finish(&w))
		abort();
	fuzz_put_seed(dir, name, -1, b.data, b.len);
	xlmig_buf_free(&b);
}

static void write_seeds(const char *dir)
{
	static struct xlmig_offload_forecast fc;

	fc.n = 2;
	snprintf(fc.it[0].interface, sizeof(fc.it[0].interface), "vif7.0");
	snprintf(fc.it[0].bridge, sizeof(fc.it[0].bridge), "xenbr0");
	snprintf(fc.it[0].feature, sizeof(fc.it[0].feature), "tx-tcp-segmentation");
	fc.it[0].outcome = XLMIG_OFF_SOFTWARE;
	snprintf(fc.it[1].interface, sizeof(fc.it[1].interface), "vs3.1");
	snprintf(fc.it[1].bridge, sizeof(fc.it[1].bridge), "br0");
	snprintf(fc.it[1].feature, sizeof(fc.it[1].feature), "tx-udp-segmentation");
	fc.it[1].outcome = XLMIG_OFF_UNAVAILABLE;
	put(dir, "two-entries", &fc);
	fc.n = 0;
	put(dir, "none", &fc);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct xlmig_offload_forecast fc, again;
	struct xlmig_json *j = NULL, *k = NULL;
	struct xlmig_json_writer w;
	struct xlmig_buf b = { 0 };

	if (xlmig_json_parse((const char *)data, size, &j) != XLMIG_OK)
		return 0;
	if (xlmig_offload_forecast_read(j, &fc) == XLMIG_OK) {
		xlmig_json_writer_init(&w, &b);
		xlmig_offload_forecast_write(&fc, &w);
		if (xlmig_json_finish(&w) || xlmig_json_parse((const char *)b.data, b.len, &k) ||
		    xlmig_offload_forecast_read(k, &again) || again.n != fc.n)
			abort();   /* what was read cannot be written back */
		for (size_t i = 0; i < fc.n; i++)
			if (strcmp(fc.it[i].interface, again.it[i].interface) || strcmp(fc.it[i].bridge, again.it[i].bridge) ||
			    strcmp(fc.it[i].feature, again.it[i].feature) || fc.it[i].outcome != again.it[i].outcome)
				abort();
	}
	xlmig_json_free(k);
	xlmig_json_free(j);
	xlmig_buf_free(&b);
	return 0;
}
