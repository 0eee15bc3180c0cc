/*
 * text.h - text from outside (config files, control clients) made safe to
 * show: on a terminal, in the journal and inside JSON, which takes UTF-8
 * only (jansson refuses anything else, and an answer that cannot be encoded
 * is an answer never sent).
 */
#ifndef FIELDRELAY_TEXT_H
#define FIELDRELAY_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Length of the UTF-8 character at s (at most n bytes): 1 .. 4, or 0 if the
 * bytes there are not one (a stray continuation byte, an overlong form, a
 * surrogate, beyond U+10FFFF, cut short).
 */
size_t text_utf8_len(const char *s, size_t n);
/* Is s (n bytes) UTF-8 without control characters (tab allowed)? */
bool text_clean(const char *s, size_t n);
/*
 * Copy n bytes of in to out as printable UTF-8: control characters, DEL and
 * bytes that are not UTF-8 become \xNN.  Cut at a character boundary so that
 * it fits cap (always NUL-terminated when cap > 0).  Returns strlen(out).
 */
size_t text_escape(char *out, size_t cap, const char *in, size_t n);

#endif
