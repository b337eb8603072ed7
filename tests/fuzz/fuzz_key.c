/*
 * fuzz_key.c - libFuzzer harness for the pre-shared key file's parser
 * (xlmig_key_parse): hex digits, whitespace and # comments.
 *
 * A key that parses has a length in range; written back as bare hex it
 * parses to the same key.  A refused key leaves nothing of itself
 * behind.  Nothing may crash or read out of bounds.
 *
 * XLMIG_FUZZ_WRITE_SEEDS=DIR writes key files as `xlmig keygen` writes
 * them, and hand-edited ones with comments and line breaks, into DIR.
 */
#include "auth.h"
#include "harness.h"

static void write_seeds(const char *dir)
{
	static const char *const seeds[] = {
		("# xlmig pre-shared key: keep it secret (mode 0600)\n"
		 "5d41402abc4b2a76b9719d911017c592aa3b4c5d6e7f8091a2b3c4d5e6f70819\n"),
		"  00112233 44556677\t8899AABB\r\nCCDDEEFF # end\n",
		"#\n#\n0123456789abcdef0123456789ABCDEF",
	};

	fuzz_put_text_seeds(dir, "key", seeds, XLMIG_ARRAY_SIZE(seeds));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init(write_seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct xlmig_key zero;
	struct xlmig_key key, again;
	char text[2 * XLMIG_KEY_MAX + 1];

	memset(&key, 0xa5, sizeof(key));
	if (xlmig_key_parse((const char *)data, size, &key) != XLMIG_OK) {
		if (memcmp(&key, &zero, sizeof(key)))
			abort();   /* a refused key is wiped */
		return 0;
	}
	if (key.len < XLMIG_KEY_MIN || key.len > XLMIG_KEY_MAX)
		abort();
	xlmig_hex_encode(key.bytes, key.len, text);
	if (xlmig_key_parse(text, 2 * key.len, &again) != XLMIG_OK || again.len != key.len ||
	    memcmp(again.bytes, key.bytes, key.len))
		abort();
	return 0;
}
