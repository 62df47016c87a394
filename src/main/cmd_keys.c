/*
 * cmd_keys.c: `audiomus keys`: inspect and rotate the master key (DESIGN §3).
 * An operator command; it reads the master key file and writes the database.
 */
#include <string.h>

#include "app/app.h"
#include "crypto/crypto.h"
#include "main/main.h"
#include "util/util.h"

static int keys_show(const struct conf *c)
{
	struct keyring *kr = NULL;
	char err[512];

	if (keyring_open(c->key_file, 1, &kr, err, sizeof(err))) {
		fprintf(stderr, "audiomus keys: %s\n", err);
		return 1;
	}
	printf("master key file  %s\nmaster key id    %s\n", c->key_file, keyring_mk_id(kr));
	keyring_free(kr);
	return 0;
}

static int keys_rotate(const struct conf *c)
{
	char retired[CONF_PATH_MAX + 64], err[1024];
	size_t n = 0;

	if (app_keys_rotate(c, retired, sizeof(retired), &n, err, sizeof(err))) {
		fprintf(stderr, "audiomus keys rotate: %s\n", err);
		return 1;
	}
	printf("rotated: %zu project key(s) and the account key re-wrapped under the new\n"
	       "master key in %s.\n"
	       "The old key is now %s: once every node runs with the new key\n"
	       "(restart them), destroy it, e.g.  shred -u %s\n",
	       n, c->key_file, retired, retired);
	return 0;
}

static int cmd_keys(int argc, char **argv)
{
	struct conf c;

	if (main_load_conf(&argc, argv, &c))
		return 1;
	if (argc == 2 && !strcmp(argv[1], "show"))
		return keys_show(&c);
	if (argc == 2 && !strcmp(argv[1], "rotate"))
		return keys_rotate(&c);
	fprintf(stderr, "usage: audiomus keys show|rotate [--data DIR] (audiomus keys --help)\n");
	return 2;
}

const struct command cmd_keys_def = {
    "keys", cmd_keys, "show or rotate the master key",
    "audiomus keys show|rotate [--config FILE] [--data DIR]\n"
    "\n"
    "  show    print the master key file and its id (never the key).\n"
    "  rotate  create a new master key, re-wrap every project key and the account\n"
    "          key under it in one database transaction, then put the new key file\n"
    "          in place of the old one, which is kept as KEY_FILE.retired-<id> for\n"
    "          you to destroy once every node was restarted with the new key.\n"
    "          Audio objects and encrypted fields are not rewritten: they are\n"
    "          encrypted under project and account keys, which stay the same.\n"
    "          Owner sessions, project password cookies and signed media URLs made\n"
    "          before the rotation stop working (their keys derive from the master\n"
    "          key); the IP-pseudonym key starts a new ratchet. If anything fails\n"
    "          before the commit, nothing changes.\n"
    "\n"
    "EXIT STATUS\n"
    "  0 on success, 1 on failure, 2 on a usage error.\n"};
