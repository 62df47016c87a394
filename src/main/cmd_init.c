/*
 * cmd_init.c: placeholder until the component that implements it lands.
 */
#include "main/main.h"

static int cmd_init(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "audiomus init: not built yet\n");
	return 1;
}

const struct command cmd_init_def = {"init", cmd_init, "(not built yet)", "(not built yet)\n"};
