/*
 * conf: the one configuration of every role: a declarative table of typed
 * settings (Redis style), read from defaults, then a config file, then
 * AUDIOMUS_* environment variables, then command-line flags. Runs at start-up
 * in every process; the file is operator input, trusted to be the operator's
 * but still parsed strictly (errors name file:line).
 */
#ifndef AM_CONF_H
#define AM_CONF_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#define CONF_PATH_MAX 1024
#define CONF_STR_MAX  512

/* The credentials among the settings: in secret memory (am_secret_alloc:
 * locked, left out of core dumps, wiped in a forked child and on free), never
 * printed (conf_print shows "(set, not shown)", or the database URL without
 * its password). A database URL may carry a password. */
struct conf_secrets {
	char database[CONF_PATH_MAX];
	char s3_secret_key[CONF_STR_MAX];
	char smtp_password[CONF_STR_MAX];
	char metrics_token[CONF_STR_MAX];
};

/* The settings every role reads. Caller storage: conf_defaults fills it and
 * allocates its secrets, conf_cleanup wipes and frees them. A plain struct
 * copy shares the secrets with the original (conf_copy does not). */
struct conf {
	char data_dir[CONF_PATH_MAX];
	char key_file[CONF_PATH_MAX];
	char listen[CONF_STR_MAX];
	char redirect_listen[CONF_STR_MAX];
	char metrics_listen[CONF_STR_MAX];
	char public_url[CONF_STR_MAX];
	char tls_cert[CONF_PATH_MAX];
	char tls_key[CONF_PATH_MAX];
	char database_tls[32]; /* "verify-full" or "insecure-allow" (conf_finish checks) */
	char storage[CONF_PATH_MAX];
	char s3_access_key[CONF_STR_MAX];
	char s3_ca_file[CONF_PATH_MAX];
	char security_contact[CONF_STR_MAX];
	char log_level[16];
	char trusted_proxies[CONF_STR_MAX];
	char smtp_url[CONF_STR_MAX];
	char smtp_user[CONF_STR_MAX];
	char mail_from[CONF_STR_MAX];
	char smtp_ca_file[CONF_PATH_MAX];
	int64_t threads;
	int64_t db_pool_size;
	int64_t max_connections;
	int64_t per_ip_connections;
	int64_t connection_timeout;
	int64_t header_timeout;
	int64_t body_min_rate;
	int64_t body_rate_window;
	int64_t connection_memory;
	int64_t shutdown_grace;
	int64_t max_upload_size;
	int64_t signed_url_lifetime;
	int64_t signup_open;
	int64_t argon2_opslimit;
	int64_t argon2_memlimit;
	int64_t smtp_insecure_plain;
	int64_t mail_digest_minutes;
	int64_t mail_max_attempts;
	int64_t worker_threads;
	int64_t transcode_jobs;
	int64_t max_decode_samples;
	struct conf_secrets
	    *secret; /* owned: database, s3_secret_key, smtp_password, metrics_token */
};

/* Fill c with the built-in defaults (paths that depend on data_dir stay
 * empty until conf_finish) and allocate its secrets. Returns 0 or
 * AM_ERR_NOMEM (c->secret is then NULL: conf_set of a secret fails, and
 * conf_cleanup is still fine). */
int conf_defaults(struct conf *c);

/* Deep copy: dst (caller storage, not initialised) receives src's settings
 * and secrets of its own. Returns 0 or AM_ERR_NOMEM (dst then holds no
 * secrets). Release dst with conf_cleanup. */
int conf_copy(struct conf *dst, const struct conf *src);

/* Wipe and free c's secrets; c->secret becomes NULL. Accepts a conf without
 * secrets (never filled, already cleaned up, a failed copy). */
void conf_cleanup(struct conf *c);

/* Set one setting by name from text. On error returns AM_ERR_INVAL and writes
 * a message to err (errlen bytes). */
int conf_set(struct conf *c, const char *name, const char *value, char *err, size_t errlen);

/* Read a config file of "name = value" lines (# comments, blank lines).
 * Errors are reported as "PATH:LINE: message" in err. Returns 0,
 * AM_ERR_IO (cannot read) or AM_ERR_INVAL (first bad line). */
int conf_load_file(struct conf *c, const char *path, char *err, size_t errlen);

/* Apply AUDIOMUS_<NAME> environment overrides (name upper-cased). */
int conf_apply_env(struct conf *c, char *err, size_t errlen);

/* Derive data_dir-relative defaults and validate the whole. 0 or AM_ERR_INVAL. */
int conf_finish(struct conf *c, char *err, size_t errlen);

/* Print every setting with its type, default and help (for --help). */
void conf_print_reference(FILE *out);

/* Print the effective configuration (check-config): secrets as "(set, not
 * shown)", the database URL with any password replaced by the same. */
void conf_print(const struct conf *c, FILE *out);

/* Print url with the password of its user info (SCHEME://USER:PASSWORD@HOST)
 * and the value of a password= parameter shown as "(not shown)". */
void conf_print_url(FILE *out, const char *url);

/* Split "host:port" or "[v6]:port" into host (hostlen) and port. */
int conf_split_listen(const char *listen, char *host, size_t hostlen, uint16_t *port);

#endif
