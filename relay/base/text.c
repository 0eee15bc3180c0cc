/* text.c - printable UTF-8 from untrusted bytes, see text.h. */
#include <stdint.h>
#include <stdio.h>

#include "text.h"

size_t
text_utf8_len(const char *s, size_t n)
{
	const uint8_t *b = (const uint8_t *)s;
	uint32_t cp;
	size_t len;

	if (n == 0)
		return 0;
	if (b[0] < 0x80)
		return 1;
	if (b[0] >= 0xc2 && b[0] <= 0xdf)
		len = 2, cp = b[0] & 0x1f;
	else if (b[0] >= 0xe0 && b[0] <= 0xef)
		len = 3, cp = b[0] & 0x0f;
	else if (b[0] >= 0xf0 && b[0] <= 0xf4)
		len = 4, cp = b[0] & 0x07;
	else
		return 0;	/* a continuation byte, 0xc0/0xc1 (overlong) or beyond 0xf4 */
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((b[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (b[i] & 0x3f);
	}
	/* Overlong three- and four-byte forms, surrogates, beyond Unicode (RFC 3629). */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static bool
is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

bool
text_clean(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t l = text_utf8_len(s + i, n - i);

		if (l == 0 || (l == 1 && is_control((unsigned char)s[i]) && s[i] != '\t'))
			return false;
		i += l;
	}
	return true;
}

size_t
text_escape(char *out, size_t cap, const char *in, size_t n)
{
	size_t used = 0;

	if (cap == 0)
		return 0;
	for (size_t i = 0; i < n;) {
		size_t l = text_utf8_len(in + i, n - i);

		if (l == 0 || (l == 1 && is_control((unsigned char)in[i]))) {
			if (used + 4 >= cap)
				break;
			snprintf(out + used, cap - used, "\\x%02x", (unsigned char)in[i]);
			used += 4;
			i++;
			continue;
		}
		if (used + l >= cap)
			break;
		for (size_t k = 0; k < l; k++)
			out[used++] = in[i + k];
		i += l;
	}
	out[used] = '\0';
	return used;
}
