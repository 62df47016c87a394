/*
 * tls_cert.c: the self-signed certificate that `audiomus init` makes for the
 * zero-configuration default (https://localhost:8443): ECDSA P-256, SANs
 * localhost/127.0.0.1/::1, random serial, OpenSSL libcrypto. Runs in the
 * operator's init process; writes the TLS private key (mode 0600, O_EXCL).
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/http.h"

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = e && X509_add_ext(x, e, -1);

	X509_EXTENSION_free(e);
	return ok;
}

/* Random positive 128-bit serial (RFC 5280: at most 20 octets, positive). */
static int set_serial(X509 *x)
{
	unsigned char r[16];
	BIGNUM *bn = NULL;
	int ok = 0;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return 0;
	r[0] &= 0x7f;
	r[0] |= 0x40; /* fixed length, never zero */
	if ((bn = BN_bin2bn(r, sizeof(r), NULL)) != NULL)
		ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok;
}

static X509 *make_cert(EVP_PKEY *key, int days)
{
	X509 *x = X509_new();
	X509_NAME *name;
	X509V3_CTX ctx;

	if (!x || !X509_set_version(x, 2) || !set_serial(x))
		goto fail;
	if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400L))
		goto fail;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"audiomus",
					-1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"localhost", -1, -1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key))
		goto fail;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (!add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") ||
	    !add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") ||
	    !add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
	    !add_ext(x, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1"))
		goto fail;
	if (!X509_sign(x, key, EVP_sha256()))
		goto fail;
	return x;
fail:
	X509_free(x);
	return NULL;
}

/* Open path for writing, refusing to replace anything. */
static FILE *create_excl(const char *path, mode_t mode, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	FILE *f;

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fchmod(fd, mode) != 0 || !(f = fdopen(fd, "w"))) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return NULL;
	}
	return f;
}

int http_tls_selfsigned_write(const char *cert_path, const char *key_path, int days, char *err,
			      size_t errlen)
{
	struct stat st;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	FILE *kf = NULL, *cf = NULL;
	int rc = AM_ERR_CRYPTO;

	if (stat(cert_path, &st) == 0 || stat(key_path, &st) == 0) {
		snprintf(err, errlen, "%s or %s exists; not overwriting", cert_path, key_path);
		return AM_ERR_EXISTS;
	}
	if (!(key = EVP_EC_gen("P-256")) || !(x = make_cert(key, days))) {
		snprintf(err, errlen, "certificate generation failed: %s",
			 ERR_reason_error_string(ERR_get_error()));
		goto out;
	}
	rc = AM_ERR_IO;
	if (!(kf = create_excl(key_path, 0600, err, errlen)))
		goto out;
	if (!PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL) || fflush(kf) ||
	    fsync(fileno(kf))) {
		snprintf(err, errlen, "%s: write failed", key_path);
		goto out_unlink_key;
	}
	if (!(cf = create_excl(cert_path, 0644, err, errlen)))
		goto out_unlink_key;
	if (!PEM_write_X509(cf, x) || fflush(cf) || fsync(fileno(cf))) {
		snprintf(err, errlen, "%s: write failed", cert_path);
		unlink(cert_path);
		goto out_unlink_key;
	}
	rc = 0;
	goto out;
out_unlink_key:
	unlink(key_path);
out:
	if (kf)
		fclose(kf);
	if (cf)
		fclose(cf);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}
