/*
 * cmd_serve.c: placeholder until the component that implements it lands.
 */
#include "main/main.h"

static int cmd_serve(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "audiomus serve: not built yet\n");
	return 1;
}

const struct command cmd_serve_def = {"serve", cmd_serve, "(not built yet)", "(not built yet)\n"};
