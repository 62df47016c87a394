/*
 * util: the small pieces every component uses: the project-wide error enum,
 * JSON-lines logging, bounded buffers and slices, secret memory, time.
 * Runs in every process; holds no trust decision of its own.
 */
#ifndef AM_UTIL_H
#define AM_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors ---------------------------------------------------------------
 * 0 is success; every failure is one negative value of this enum. Detail lives
 * on the handle or in a caller buffer. The mapping to HTTP status codes lives in
 * one place, http_status_of() in src/http/: nothing else pairs a status with an
 * error, so a code that needs a status of its own gets a value here. */
enum am_err {
	AM_OK = 0,
	AM_ERR_NOMEM = -1,	  /* allocation failed */
	AM_ERR_INVAL = -2,	  /* malformed input or argument */
	AM_ERR_IO = -3,		  /* file or socket error */
	AM_ERR_CRYPTO = -4,	  /* authentication failed, bad key, library failure */
	AM_ERR_NOTFOUND = -5,	  /* no such thing (or not yours: same answer) */
	AM_ERR_TOOBIG = -6,	  /* a hard limit was exceeded */
	AM_ERR_DENIED = -7,	  /* credential missing, expired or wrong */
	AM_ERR_EXISTS = -8,	  /* already exists */
	AM_ERR_CONFLICT = -9,	  /* state does not allow it (wrong offset, busy) */
	AM_ERR_RATE = -10,	  /* rate limit: try again later */
	AM_ERR_UNAVAIL = -11,	  /* temporarily unavailable (overloaded, down) */
	AM_ERR_DB = -12,	  /* database error */
	AM_ERR_RANGE = -13,	  /* unsatisfiable range */
	AM_ERR_UNSUPPORTED = -14, /* format or feature not supported */
	AM_ERR_INTERNAL = -15,	  /* a bug: should not happen */
	AM_ERR_UNAUTH = -16,	  /* not authenticated: no valid session (sign in first) */
	AM_ERR_METHOD = -17,	  /* the resource exists, not for this method */
	AM_ERR_NOSPACE = -18,  /* the disk or quota is full (ENOSPC, EDQUOT, SQLITE_FULL, 53100) */
	AM_ERR_READONLY = -19, /* the storage is read-only (EROFS, SQLITE_READONLY, 25006) */
};

/* The lowest code in use: tests walk AM_ERR_MIN..AM_OK. Move it with every new code. */
#define AM_ERR_MIN AM_ERR_READONLY

/* Short, stable, English text for an error code; never NULL. */
const char *am_strerror(int err);

/* ---- slices and bounded buffers ------------------------------------------ */

/* A non-owning view of bytes (h2o's iovec): borrows p. */
struct am_slice {
	const uint8_t *p;
	size_t n;
};

/* A growable byte buffer with a hard maximum: appends past cap fail with
 * AM_ERR_TOOBIG and leave the buffer unchanged. Always NUL-terminated after
 * an append, so text can be used as a C string. */
struct am_buf {
	uint8_t *p;
	size_t len;
	size_t alloc;
	size_t cap;
};

/* Initialise caller storage with a hard maximum of cap bytes. */
void am_buf_init(struct am_buf *b, size_t cap);
/* Free the storage (zeroing it first: buffers may carry secrets). */
void am_buf_cleanup(struct am_buf *b);
/* Forget the contents, keep the storage. */
void am_buf_reset(struct am_buf *b);
/* Append n bytes. Returns 0, AM_ERR_TOOBIG or AM_ERR_NOMEM. */
int am_buf_append(struct am_buf *b, const void *data, size_t n);
/* Make room for n more bytes now (one allocation instead of doublings);
 * AM_ERR_TOOBIG past cap, AM_ERR_NOMEM. */
int am_buf_reserve(struct am_buf *b, size_t n);
/* Append a string. */
int am_buf_puts(struct am_buf *b, const char *s);
/* Append printf-formatted text. */
int am_buf_printf(struct am_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as the inside of a JSON string (quotes not included). */
int am_buf_json_escape(struct am_buf *b, const char *s, size_t n);

/* Bounded string copy: copies at most dstsz-1 bytes and NUL-terminates.
 * Returns 0, or AM_ERR_TOOBIG if src did not fit (dst then holds a prefix). */
int am_strlcpy(char *dst, const char *src, size_t dstsz);
/* The path of the file name in this binary's directory (/proc/self/exe's),
 * e.g. the transcoding child "audiomus-xcode": 0, or AM_ERR_INTERNAL when
 * /proc/self/exe cannot be read or the path does not fit in n. */
int am_exe_sibling(const char *name, char *out, size_t n);

/* The value 0..15 of the hex digit c, or -1. Lowercase digits only with
 * AM_HEX_LOWER (the one encoding of ids and tokens we write and accept);
 * with AM_HEX_ANY_CASE 'A'..'F' too (percent-encoding, the key file). */
#define AM_HEX_LOWER	0
#define AM_HEX_ANY_CASE 1
int am_hexval(int c, int any_case);

/* Copy s into out (outsz bytes, NUL-terminated, truncated to fit) with ASCII
 * 'A'..'Z' folded to lowercase and every other byte as it is; returns the
 * length written. E-mail addresses as rate-limit subjects. */
size_t am_ascii_fold(const char *s, char *out, size_t outsz);

/* Strict decimal parse of a whole string into [min, max]. 0 or AM_ERR_INVAL. */
int am_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* The host of SCHEME://HOST[:PORT][/...] into host (an IPv6 literal without
 * its brackets). AM_ERR_INVAL for no "://", an empty or too long host, or
 * user info (credentials do not belong in these URLs). */
int am_url_host(const char *url, char *host, size_t hostlen);

/* 1 if host names this machine: exactly "localhost" (any case), an address
 * in 127.0.0.0/8, ::1, or an IPv4-mapped 127.x address. Names that merely
 * start like one ("localhost.example.org", "127.0.0.1.nip.io") are not. */
int am_host_is_loopback(const char *host);

/* ---- secret memory --------------------------------------------------------
 * Key material lives in its own pages: locked (mlock, best effort), excluded
 * from core dumps (MADV_DONTDUMP), wiped in fork()ed children
 * (MADV_WIPEONFORK) and zeroed before it is released. Each allocation takes
 * at least one page: use it for keys, not for bulk data. */

/* Allocate n zeroed secret bytes; NULL on failure. */
void *am_secret_alloc(size_t n);
/* Zero and free what am_secret_alloc returned; accepts NULL. */
void am_secret_free(void *p, size_t n);
/* Zero memory in a way the compiler cannot remove. */
void am_memzero(void *p, size_t n);
/* Constant-time comparison: 1 if equal, 0 otherwise. */
int am_ct_eq(const void *a, const void *b, size_t n);

/* ---- logging --------------------------------------------------------------
 * One JSON object per line on stderr: {"ts":"…","level":"info","event":"…",…}.
 * Never log a query string, a token, a key or a raw client address: callers
 * pass only what is safe to keep. */
enum am_log_level { AM_LOG_DEBUG, AM_LOG_INFO, AM_LOG_WARN, AM_LOG_ERROR };

/* Minimum level written; default AM_LOG_INFO. */
void am_log_set_level(enum am_log_level level);
/* Parse "debug", "info", "warn", "error". 0 or AM_ERR_INVAL. */
int am_log_parse_level(const char *s, enum am_log_level *out);
/* Log an event with string key/value pairs:
 *   am_log(AM_LOG_INFO, "listen", "addr", "127.0.0.1:8443");
 * The macro appends the NULL that ends the list (am_log_kv is checked by
 * the compiler's sentinel attribute), so a call cannot forget it. Every key
 * is a string literal; a pair whose value is NULL is left out of the line
 * ("store_error", *why ? why : NULL), never cut short by a NULL key. */
#define am_log(...) am_log_kv(__VA_ARGS__, (const char *)NULL)
void am_log_kv(enum am_log_level level, const char *event, ...) __attribute__((sentinel));
/* The same with a va_list (pairs ended by a NULL key). */
void am_logv(enum am_log_level level, const char *event, va_list ap);

/* ---- time ----------------------------------------------------------------- */

/* Wall-clock time in seconds/milliseconds since the epoch. Tests can shift
 * it with am_time_set_offset() (an injectable clock for expiry and rate
 * limits); production never calls that. */
int64_t am_now(void);
int64_t am_now_ms(void);
void am_time_set_offset(int64_t seconds);
/* Test builds: freeze the calling thread's clock at ms since the epoch (a
 * negative ms thaws it); other threads keep real time + the offset. */
void am_time_freeze_ms(int64_t ms);
/* Monotonic milliseconds, for timeouts; microseconds, for latencies. */
int64_t am_mono_ms(void);
int64_t am_mono_us(void);

/* ---- test hooks (test_hooks.c) ---------------------------------------------- */

/* The black-box tests' hooks exist only in a test build: test_hooks.c
 * compiled with -DAM_TEST_HOOKS, linked into the unit tests and into
 * $(BUILD)/hooks/audiomus (docs/development.md "Test hooks"), never into
 * the release binaries, where each function below is a constant. */

/* NULL in a release build; in a test build, a line saying so (printed by
 * `audiomus --version`, which is how the tests tell a test build). */
const char *am_test_hooks(void);
/* In a test build started with AUDIOMUS_TESTING=1: the value of
 * AUDIOMUS_TEST_<name> when it is an integer in [min, max]. 0 otherwise,
 * and always 0 in a release build. name is borrowed. */
int64_t am_test_hook_ms(const char *name, int64_t min, int64_t max);
/* The web role's injectable clock (docs/api.md "Testing mode"). setup: once at
 * start, takes AUDIOMUS_TEST_CLOCK_FILE if AUDIOMUS_TESTING=1, logs
 * "test_clock_refused" if the file is named without it. apply: before each
 * API request, sets the clock from the file: a number of seconds is an
 * offset from real time, "=T" freezes the request thread's clock at epoch
 * second T for the whole request. Both do nothing in a release build. */
void am_test_clock_setup(void);
void am_test_clock_apply(void);

#define AM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
