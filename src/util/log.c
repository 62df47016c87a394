/*
 * log.c: JSON-lines logging to stderr. Runs in every process. Callers decide
 * what is safe to log; this file only guarantees that whatever they pass is
 * escaped into valid JSON and written as one line with one write(2), so lines
 * from several threads never interleave.
 */
#include "util/util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum am_log_level min_level = AM_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void am_log_set_level(enum am_log_level level)
{
	min_level = level;
}

int am_log_parse_level(const char *s, enum am_log_level *out)
{
	for (size_t i = 0; i < AM_ARRAY_LEN(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum am_log_level)i;
			return 0;
		}
	}
	return AM_ERR_INVAL;
}

void am_logv(enum am_log_level level, const char *event, va_list ap)
{
	char line[4096], ts[40];
	struct am_buf b = {
	    .p = (uint8_t *)line, .len = 0, .alloc = sizeof(line), .cap = sizeof(line) - 2};
	struct timespec now;
	struct tm tm;
	const char *k, *v;

	if (level < min_level || level > AM_LOG_ERROR)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	/* A fixed stack buffer: the append helpers never grow past alloc since
	 * cap < alloc, so an oversized line is cut short, never reallocated. */
	am_buf_printf(&b, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"event\":\"", ts,
		      now.tv_nsec / 1000000, level_names[level]);
	am_buf_json_escape(&b, event, strlen(event));
	am_buf_puts(&b, "\"");
	while ((k = va_arg(ap, const char *)) != NULL) {
		if (!(v = va_arg(ap, const char *)))
			continue; /* a value not known: the pair is left out */
		am_buf_puts(&b, ",\"");
		am_buf_json_escape(&b, k, strlen(k));
		am_buf_puts(&b, "\":\"");
		am_buf_json_escape(&b, v, strlen(v));
		am_buf_puts(&b, "\"");
	}
	if (am_buf_puts(&b, "}") != 0) {
		/* Truncated: close the JSON so the line still parses. */
		size_t keep = b.len > sizeof(line) - 40 ? sizeof(line) - 40 : b.len;
		b.len = keep;
		am_buf_puts(&b, "\",\"truncated\":\"1\"}");
	}
	line[b.len++] = '\n';
	(void)!write(STDERR_FILENO, line, b.len);
}

void am_log_kv(enum am_log_level level, const char *event, ...)
{
	va_list ap;

	va_start(ap, event);
	am_logv(level, event, ap);
	va_end(ap);
}
