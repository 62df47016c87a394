/*
 * crypto_keyring.c: the master key file (create, strict read), the keyring
 * that holds MK, its id and the HKDF purpose keys in secret memory (DESIGN §3),
 * and the blind index. Runs in every role at start and in the admin commands;
 * the key file is trusted only if no one but its owner can read or write it.
 */
#include "crypto/crypto_int.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYFILE_HEX (2 * CRYPTO_KEY_LEN)

static const char *const purpose_names[CRYPTO_KEY_PURPOSES] = {
    "url-sign",
    "cookie",
    "session",
};

/* Everything secret, in one am_secret_alloc block. */
struct keyring_secrets {
	uint8_t mk[CRYPTO_KEY_LEN];
	uint8_t keys[CRYPTO_KEY_PURPOSES][2][CRYPTO_KEY_LEN]; /* [p][0] current, [1] previous */
	/* HMAC-SHA256 keyed with keys[p][g], before any data (the inner and
	 * outer hash states after the padded key, crypto_hmac.c): a MAC copies
	 * one instead of hashing the key twice again (issue 25). As secret as
	 * the key, so here in the locked block beside it. */
	struct crypto_hmac_key hmac[CRYPTO_KEY_PURPOSES][2];
	struct crypto_ip_state ip;
};

struct keyring {
	struct keyring_secrets *s;
	uint32_t gen;
	uint8_t mk_id[CRYPTO_MK_ID_LEN];
	char mk_id_hex[2 * CRYPTO_MK_ID_LEN + 1];
};

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* info = purpose ‖ u32be(generation) */
static int derive_purpose(const uint8_t mk[CRYPTO_KEY_LEN], enum crypto_purpose p, uint32_t gen,
			  uint8_t out[CRYPTO_KEY_LEN])
{
	char info[32];
	size_t n = strlen(purpose_names[p]);

	memcpy(info, purpose_names[p], n);
	crypto_be32((uint8_t *)info + n, gen);
	return crypto_hkdf(mk, CRYPTO_KEY_LEN, NULL, 0, info, n + 4, out, CRYPTO_KEY_LEN);
}

int keyring_from_key(const uint8_t mk[CRYPTO_KEY_LEN], uint32_t generation, struct keyring **out)
{
	static const char idp[] = "am1-mk-id";
	struct keyring *kr = NULL;
	uint8_t buf[sizeof(idp) - 1 + CRYPTO_KEY_LEN], d[32];
	int rc = AM_ERR_NOMEM;

	*out = NULL;
	if (generation == 0)
		return AM_ERR_INVAL;
	if (!(kr = calloc(1, sizeof(*kr))) || !(kr->s = am_secret_alloc(sizeof(*kr->s))))
		goto out;
	memcpy(kr->s->mk, mk, CRYPTO_KEY_LEN);
	kr->gen = generation;
	memcpy(buf, idp, sizeof(idp) - 1);
	memcpy(buf + sizeof(idp) - 1, mk, CRYPTO_KEY_LEN);
	if ((rc = crypto_sha256(buf, sizeof(buf), d)) != 0)
		goto out;
	memcpy(kr->mk_id, d, CRYPTO_MK_ID_LEN);
	for (int i = 0; i < CRYPTO_MK_ID_LEN; i++)
		snprintf(kr->mk_id_hex + 2 * i, 3, "%02x", kr->mk_id[i]);
	for (int p = 0; p < CRYPTO_KEY_PURPOSES; p++) {
		if ((rc = derive_purpose(mk, p, generation, kr->s->keys[p][0])) != 0)
			goto out;
		if (generation > 1 &&
		    (rc = derive_purpose(mk, p, generation - 1, kr->s->keys[p][1])) != 0)
			goto out;
		for (int g = 0; g < 2; g++)
			if ((rc = crypto_hmac_key_init(&kr->s->hmac[p][g], kr->s->keys[p][g],
						       CRYPTO_KEY_LEN)) != 0)
				goto out;
	}
	*out = kr;
	kr = NULL;
out:
	am_memzero(buf, sizeof(buf));
	keyring_free(kr);
	return rc;
}

const uint8_t *keyring_master(const struct keyring *kr)
{
	return kr && kr->s ? kr->s->mk : NULL;
}

void keyring_free(struct keyring *kr)
{
	if (!kr)
		return;
	am_secret_free(kr->s, sizeof(*kr->s));
	am_memzero(kr, sizeof(*kr));
	free(kr);
}

/* Read and check the key file: regular, mode <= 0600, 64 hex (+ "\n"). */
int crypto_keyfile_read(const char *path, uint8_t mk[CRYPTO_KEY_LEN], char *err, size_t errlen)
{
	char buf[KEYFILE_HEX + 2];
	struct stat st;
	ssize_t n;
	int fd, rc = AM_ERR_INVAL;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		int e = errno;

		if (e == ENOENT)
			errf(err, errlen, "master key file %s does not exist", path);
		else
			errf(err, errlen, "cannot open master key file %s: %s", path, strerror(e));
		return e == ENOENT ? AM_ERR_NOTFOUND : AM_ERR_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		errf(err, errlen, "master key file %s is not a regular file", path);
		rc = AM_ERR_DENIED;
		goto out;
	}
	if ((st.st_mode & 07777 & ~(mode_t)0600) != 0) {
		errf(err, errlen,
		     "master key file %s is readable or writable by others: "
		     "run chmod 600 on it (refusing to use it)",
		     path);
		rc = AM_ERR_DENIED;
		goto out;
	}
	n = read(fd, buf, sizeof(buf));
	if (n < KEYFILE_HEX || n > KEYFILE_HEX + 1 ||
	    (n == KEYFILE_HEX + 1 && buf[KEYFILE_HEX] != '\n'))
		goto bad;
	for (int i = 0; i < CRYPTO_KEY_LEN; i++) {
		int hi = am_hexval(buf[2 * i], AM_HEX_ANY_CASE),
		    lo = am_hexval(buf[2 * i + 1], AM_HEX_ANY_CASE);

		if (hi < 0 || lo < 0)
			goto bad;
		mk[i] = (uint8_t)(hi << 4 | lo);
	}
	rc = 0;
	goto out;
bad:
	errf(err, errlen, "master key file %s must hold exactly 64 hex characters", path);
	rc = AM_ERR_INVAL;
out:
	am_memzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

int keyring_open(const char *path, uint32_t generation, struct keyring **out, char *err,
		 size_t errlen)
{
	uint8_t mk[CRYPTO_KEY_LEN];
	int rc;

	*out = NULL;
	if (!path || !*path)
		path = getenv(CRYPTO_KEYFILE_ENV);
	if (!path || !*path) {
		errf(err, errlen, "%s", "no master key file: set key_file or " CRYPTO_KEYFILE_ENV);
		return AM_ERR_NOTFOUND;
	}
	if (generation == 0) {
		errf(err, errlen, "%s", "key generation must be at least 1");
		return AM_ERR_INVAL;
	}
	if ((rc = crypto_keyfile_read(path, mk, err, errlen)) == 0 &&
	    (rc = keyring_from_key(mk, generation, out)) != 0)
		errf(err, errlen, "cannot derive keys from %s", path);
	am_memzero(mk, sizeof(mk));
	return rc;
}

/* Write all of p to fd. */
static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return AM_ERR_IO;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* fsync the directory holding path, so the new name is durable. */
static void sync_dir(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int fd;

	if (!slash)
		am_strlcpy(dir, ".", sizeof(dir));
	else if (slash == path)
		am_strlcpy(dir, "/", sizeof(dir));
	else if ((size_t)(slash - path) < sizeof(dir)) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = 0;
	} else
		return;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int crypto_keyfile_create(const char *path)
{
	uint8_t mk[CRYPTO_KEY_LEN], rnd[8];
	char hex[KEYFILE_HEX + 1], tmp[4096];
	int fd = -1, rc;

	if (!path || !*path)
		return AM_ERR_INVAL;
	if ((rc = crypto_random(mk, sizeof(mk))) != 0 ||
	    (rc = crypto_random(rnd, sizeof(rnd))) != 0)
		goto out;
	for (int i = 0; i < CRYPTO_KEY_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", mk[i]);
	hex[KEYFILE_HEX] = '\n';
	rc = AM_ERR_TOOBIG;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp-%02x%02x%02x%02x", path, rnd[0], rnd[1], rnd[2],
		     rnd[3]) >= (int)sizeof(tmp))
		goto out;
	rc = AM_ERR_IO;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	if (fchmod(fd, 0600) != 0 || write_all(fd, hex, sizeof(hex)) != 0 || fsync(fd) != 0)
		goto out_unlink;
	/* link() never replaces an existing file: the exclusive, atomic commit. */
	if (link(tmp, path) != 0) {
		rc = errno == EEXIST ? AM_ERR_EXISTS : AM_ERR_IO;
		goto out_unlink;
	}
	sync_dir(path);
	rc = 0;
out_unlink:
	(void)unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	am_memzero(mk, sizeof(mk));
	am_memzero(hex, sizeof(hex));
	return rc;
}

const char *keyring_mk_id(const struct keyring *kr)
{
	return kr->mk_id_hex;
}

const uint8_t *keyring_mk_id_bin(const struct keyring *kr)
{
	return kr->mk_id;
}

const uint8_t *keyring_mk(const struct keyring *kr)
{
	return kr->s->mk;
}

uint32_t keyring_generation(const struct keyring *kr)
{
	return kr->gen;
}

const uint8_t *keyring_key(const struct keyring *kr, enum crypto_purpose p, uint32_t gen)
{
	if (!kr || (unsigned)p >= CRYPTO_KEY_PURPOSES)
		return NULL;
	if (gen == kr->gen)
		return kr->s->keys[p][0];
	if (kr->gen > 1 && gen == kr->gen - 1)
		return kr->s->keys[p][1];
	return NULL;
}

const struct crypto_hmac_key *keyring_hmac(const struct keyring *kr, enum crypto_purpose p,
					   uint32_t gen)
{
	if (!kr || (unsigned)p >= CRYPTO_KEY_PURPOSES)
		return NULL;
	if (gen == kr->gen)
		return &kr->s->hmac[p][0];
	if (kr->gen > 1 && gen == kr->gen - 1)
		return &kr->s->hmac[p][1];
	return NULL;
}

struct crypto_ip_state *keyring_ip_state(struct keyring *kr)
{
	return &kr->s->ip;
}

const struct crypto_ip_state *keyring_ip_state_c(const struct keyring *kr)
{
	return &kr->s->ip;
}
