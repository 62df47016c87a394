/*
 * main.c: entry point of the one audiomus binary; dispatches to the role or
 * administration subcommand (DESIGN §1). Runs with the operator's privileges;
 * argv and the environment are the operator's input.
 */
#include "main/main.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static const struct command *const commands[] = {
    &cmd_serve_def,  &cmd_web_def,	    &cmd_media_def, &cmd_worker_def,
    &cmd_init_def,   &cmd_check_config_def, &cmd_keys_def,  &cmd_user_def,
    &cmd_export_def, &cmd_watermark_def,    &cmd_log_def,
};

static void usage(FILE *out)
{
	fprintf(out,
		"audiomus %s: secure, self-hosted review of unreleased music\n\n"
		"usage: audiomus COMMAND [OPTIONS]\n\n"
		"commands:\n",
		AM_VERSION);
	for (size_t i = 0; i < AM_ARRAY_LEN(commands); i++)
		fprintf(out, "  %-14s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(out, "\noptions every command takes:\n"
		     "  --config FILE       read settings from FILE (also $AUDIOMUS_CONFIG)\n"
		     "  --data DIR          data directory (setting data_dir)\n"
		     "  --listen HOST:PORT  HTTPS address (setting listen)\n"
		     "  --set NAME=VALUE    any setting below, highest precedence\n"
		     "  -h, --help          help for a command: audiomus serve --help\n"
		     "  --version           print the version\n\n"
		     "Settings are read from built-in defaults, then the config file, then\n"
		     "AUDIOMUS_<NAME> environment variables, then the options above.\n\n"
		     "settings:\n");
	conf_print_reference(out);
	fprintf(out, "\nA first run:\n"
		     "  audiomus init --data ./var/data     # master key, certificate, database\n"
		     "  audiomus serve --data ./var/data    # https://127.0.0.1:8443\n\n"
		     "Documentation: docs/ in the source tree; report security issues as\n"
		     "described in SECURITY.md.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("audiomus %s (%s)\n", AM_VERSION, AM_GIT_REV);
		if (am_test_hooks())
			printf("%s\n", am_test_hooks());
		return 0;
	}
	for (size_t i = 0; i < AM_ARRAY_LEN(commands); i++) {
		if (strcmp(argv[1], commands[i]->name) != 0)
			continue;
		if (main_wants_help(argc - 1, argv + 1)) {
			printf("usage: audiomus %s\n\n%s", commands[i]->name, commands[i]->usage);
			return 0;
		}
		return commands[i]->run(argc - 1, argv + 1);
	}
	fprintf(stderr, "audiomus: unknown command \"%s\" (audiomus --help lists them)\n", argv[1]);
	return 2;
}
