/*
 * options.c: the command-line options every subcommand shares, layered over
 * the config file and the environment (see main.h). Operator input.
 */
#include <stdlib.h>
#include <string.h>

#include "main/main.h"
#include "util/util.h"

int main_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return 1;
	return 0;
}

/* Apply one --set NAME=VALUE. */
static int apply_set(struct conf *c, const char *arg, char *err, size_t errlen)
{
	char name[64];
	const char *eq = strchr(arg, '=');

	if (!eq || (size_t)(eq - arg) >= sizeof(name)) {
		snprintf(err, errlen, "--set expects NAME=VALUE, got \"%s\"", arg);
		return AM_ERR_INVAL;
	}
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = 0;
	return conf_set(c, name, eq + 1, err, errlen);
}

/* The credentials of the process's configuration, wiped at exit. */
static struct conf_secrets *loaded_secrets;

static void wipe_loaded_secrets(void)
{
	am_secret_free(loaded_secrets, sizeof(*loaded_secrets));
	loaded_secrets = NULL;
}

int main_load_conf(int *argc, char **argv, struct conf *c)
{
	const char *file = getenv("AUDIOMUS_CONFIG");
	const char *flag_names[] = {"--data", "--listen", "--set"};
	const char *flag_vals[16][2];
	size_t nflags = 0;
	char err[1024];
	int out = 1, rc = AM_ERR_INVAL;
	enum am_log_level lvl;

	if (conf_defaults(c)) {
		fprintf(stderr, "audiomus: out of memory for the configuration's secrets\n");
		return AM_ERR_NOMEM;
	}
	if (!loaded_secrets && atexit(wipe_loaded_secrets)) {
		fprintf(stderr, "audiomus: cannot register the clean-up of secrets\n");
		conf_cleanup(c);
		return AM_ERR_NOMEM;
	}
	wipe_loaded_secrets(); /* one configuration per process: a second replaces it */
	loaded_secrets = c->secret;
	/* First pass: pull our options out of argv, keep the rest in order. */
	for (int i = 1; i < *argc; i++) {
		int known = 0;
		if (!strcmp(argv[i], "--config") && i + 1 < *argc) {
			file = argv[++i];
			continue;
		}
		for (size_t k = 0; k < AM_ARRAY_LEN(flag_names); k++) {
			if (strcmp(argv[i], flag_names[k]) != 0)
				continue;
			if (i + 1 >= *argc || nflags >= AM_ARRAY_LEN(flag_vals)) {
				fprintf(stderr, "audiomus: %s needs a value\n", argv[i]);
				return AM_ERR_INVAL;
			}
			flag_vals[nflags][0] = flag_names[k];
			flag_vals[nflags++][1] = argv[++i];
			known = 1;
		}
		if (!known)
			argv[out++] = argv[i];
	}
	*argc = out;
	argv[out] = NULL;
	if (file && *file && conf_load_file(c, file, err, sizeof(err)))
		goto fail;
	if (conf_apply_env(c, err, sizeof(err)))
		goto fail;
	for (size_t k = 0; k < nflags; k++) {
		const char *f = flag_vals[k][0], *v = flag_vals[k][1];
		if (!strcmp(f, "--set"))
			rc = apply_set(c, v, err, sizeof(err));
		else
			rc = conf_set(c, !strcmp(f, "--data") ? "data_dir" : "listen", v, err,
				      sizeof(err));
		if (rc)
			goto fail;
	}
	if (conf_finish(c, err, sizeof(err)))
		goto fail;
	if (am_log_parse_level(c->log_level, &lvl) == 0)
		am_log_set_level(lvl);
	return 0;
fail:
	fprintf(stderr, "audiomus: configuration error: %s\n", err);
	return AM_ERR_INVAL;
}
