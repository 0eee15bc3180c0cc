/* test_text.c - UTF-8 checks and escaping of untrusted text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "text.h"

static void
test_utf8_len(void **state)
{
	assert_int_equal(text_utf8_len("a", 1), 1);
	assert_int_equal(text_utf8_len("\xc3\xa9", 2), 2);		/* é */
	assert_int_equal(text_utf8_len("\xe2\x82\xac", 3), 3);		/* € */
	assert_int_equal(text_utf8_len("\xf0\x9f\x9a\x91", 4), 4);	/* U+1F691 */
	assert_int_equal(text_utf8_len("\xc3", 1), 0);			/* cut short */
	assert_int_equal(text_utf8_len("\xe9", 1), 0);			/* Latin-1 é */
	assert_int_equal(text_utf8_len("\x80", 1), 0);			/* a continuation byte alone */
	assert_int_equal(text_utf8_len("\xc0\xaf", 2), 0);		/* overlong '/' */
	assert_int_equal(text_utf8_len("\xe0\x80\xaf", 3), 0);		/* overlong, three bytes */
	assert_int_equal(text_utf8_len("\xed\xa0\x80", 3), 0);		/* a surrogate */
	assert_int_equal(text_utf8_len("\xf4\x90\x80\x80", 4), 0);	/* beyond U+10FFFF */
	assert_int_equal(text_utf8_len("\xc3\x28", 2), 0);		/* not a continuation */
}

static void
test_clean_and_escape(void **state)
{
	char out[64];

	assert_true(text_clean("Zürich\tSüd", strlen("Zürich\tSüd")));
	assert_false(text_clean("a\x01", 2));
	assert_false(text_clean("caf\xe9", 4));
	assert_false(text_clean("a\0b", 3));
	static const char raw[] = "a\x01" "b\x1b[2J\xe9\x7f" "é";
	size_t n = text_escape(out, sizeof(out), raw, sizeof(raw) - 1);

	assert_int_equal(n, strlen(out));
	assert_string_equal(out, "a\\x01b\\x1b[2J\\xe9\\x7fé");
	/* Cut at a character boundary: never half an escape or half a character. */
	assert_int_equal(text_escape(out, 4, "ab\x01", 3), 2);
	assert_string_equal(out, "ab");
	assert_int_equal(text_escape(out, 3, "aé", 3), 1);
	assert_string_equal(out, "a");
	assert_int_equal(text_escape(out, 1, "abc", 3), 0);
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_len),
		cmocka_unit_test(test_clean_and_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
