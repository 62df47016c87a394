/*
 * main.h: shared by the subcommands of the audiomus binary (src/main/ only).
 * Each subcommand is one file cmd_<name>.c exporting one cmd_<name>() and one
 * help text; main.c dispatches. Runs with the operator's privileges.
 */
#ifndef AM_MAIN_H
#define AM_MAIN_H

#include <stdio.h>

#include "conf/conf.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
	const char *summary;
	const char *usage; /* man-page style text for `audiomus NAME --help` */
};

/* Parse the options every role shares (--config FILE, --data DIR,
 * --listen HOST:PORT, --set NAME=VALUE) out of argv, apply file, environment
 * and flags in that order, and finish the configuration. Unrecognised options
 * are left in argv (compacted; *argc updated) for the subcommand.
 * Prints a clear message and returns non-zero on error. The credentials in
 * c->secret are wiped and freed at exit (atexit): do not conf_cleanup c, and
 * use a conf_copy for anything that must outlive exit(). */
int main_load_conf(int *argc, char **argv, struct conf *c);

struct app;
struct http_scrape;
/* Start the Prometheus listener of c->metrics_listen (none when empty: 0
 * and *out NULL) serving this process's counters and the queue gauges
 * read from a's database (metrics.c). Logs "metrics_listening" with the
 * port. 0, or non-zero after printing why. Stop with http_scrape_free. */
int main_metrics_start(const struct conf *c, struct app *a, const char *name,
		       struct http_scrape **out);

/* True if argv holds -h or --help. */
int main_wants_help(int argc, char **argv);

extern const struct command cmd_serve_def, cmd_web_def, cmd_media_def, cmd_init_def,
    cmd_check_config_def;
extern const struct command cmd_keys_def;
extern const struct command cmd_user_def;
extern const struct command cmd_worker_def;
extern const struct command cmd_export_def;
extern const struct command cmd_watermark_def;
extern const struct command cmd_log_def;
/* `audiomus watermark trace` and `embed --project` (cmd_wm_trace.c): the
 * keyed watermark commands that `audiomus watermark` runs itself. */
int cmd_watermark_trace(int argc, char **argv);
int cmd_watermark_embed_mark(int argc, char **argv);

#endif
