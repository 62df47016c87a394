/*
 * test_store_fs.c: the filesystem object store. Runs the backend-neutral
 * conformance suite against a temporary file: store, then the attacks and
 * guarantees that only make sense on a filesystem: modes with a permissive
 * umask, temporaries, crash leftovers and their GC, planted symlinks and
 * FIFOs, foreign files, a reader pinned to its version, and a 64 MiB object
 * with bounded memory. Test code only.
 */
#include "store_conformance.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf/conf.h"
#include "store/store.h"
#include "util/util.h"

#define FX_DIR	200 /* temp dir path limit, keeps every derived path bounded */
#define FX_PATH 512

struct fx {
	char dir[FX_DIR];	/* mkdtemp */
	char root[FX_DIR + 16]; /* dir/objects */
	char url[FX_DIR + 24];
	struct store *s;
};

/* snprintf that fails the test instead of truncating a path. */
static void fmtp(char *out, size_t outsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fmtp(char *out, size_t outsz, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outsz, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < outsz);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	int n;

	if (!f)
		return -1;
	n = snprintf(f->dir, sizeof(f->dir), "%s/am-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (n < 0 || (size_t)n >= sizeof(f->dir) || !mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	fmtp(f->root, sizeof(f->root), "%s/objects", f->dir);
	fmtp(f->url, sizeof(f->url), "file:%s", f->root);
	if (store_open(f->url, &f->s, NULL)) {
		rm_rf(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->s);
	rm_rf(f->dir);
	free(f);
	return 0;
}

/* Path of key inside the root: ROOT/NS/II/JJ/ID[.EXT]. */
static void key_path(const struct fx *f, const char *key, char *out, size_t outsz)
{
	const char *slash = strchr(key, '/');

	fmtp(out, outsz, "%s/%.*s/%.2s/%.2s/%s", f->root, (int)(slash - key), key, slash + 1,
	     slash + 3, slash + 1);
}

static void leaf_dir(const struct fx *f, const char *key, char *out, size_t outsz)
{
	key_path(f, key, out, outsz);
	*strrchr(out, '/') = 0;
}

/* Count ".tmp-" entries in dir; the last one's name goes to name. */
static int count_tmp(const char *dir, char *name, size_t namesz)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, ".tmp-", 5)) {
			n++;
			if (name)
				fmtp(name, namesz, "%s/%s", dir, e->d_name);
		}
	closedir(d);
	return n;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

static void fs_modes_ignore_umask(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	char root[FX_PATH], url[FX_PATH], key[64], path[FX_PATH], tmp[FX_PATH];
	struct store_put *p = NULL;
	mode_t old = umask(0);

	fmtp(root, sizeof(root), "%s/open", f->dir);
	fmtp(url, sizeof(url), "file:%s", root);
	assert_int_equal(store_open(url, &s, NULL), 0);
	assert_int_equal(mode_of(root), 0700);
	store_cf_key(key, "orig", NULL);
	assert_int_equal(store_put_begin(s, key, &p, NULL), 0);
	assert_int_equal(store_put_write(p, "abc", 3), 0);
	fmtp(path, sizeof(path), "%s/orig/%.2s/%.2s", root, key + 5, key + 7);
	assert_int_equal(count_tmp(path, tmp, sizeof(tmp)), 1);
	assert_int_equal(mode_of(tmp), 0600);
	assert_int_equal(store_put_commit(p, NULL, NULL), 0);
	assert_int_equal(mode_of(path), 0700);
	*strrchr(path, '/') = 0;
	assert_int_equal(mode_of(path), 0700);
	*strrchr(path, '/') = 0;
	assert_int_equal(mode_of(path), 0700);
	fmtp(path, sizeof(path), "%s/orig/%.2s/%.2s/%s", root, key + 5, key + 7, key + 5);
	assert_int_equal(mode_of(path), 0600);
	/* a restrictive umask must not leave unusable 0000 directories either */
	umask(0777);
	store_cf_key(key, "peaks", "dat");
	store_cf_put(s, key, 39, 10, 10);
	fmtp(path, sizeof(path), "%s/peaks/%.2s/%.2s/%s", root, key + 6, key + 8, key + 6);
	assert_int_equal(mode_of(path), 0600);
	*strrchr(path, '/') = 0;
	assert_int_equal(mode_of(path), 0700);
	umask(old);
	store_cf_verify(s, key, 39, 10);
	store_close(s);
}

static void fs_temporaries_until_commit(void **state)
{
	struct fx *f = *state;
	struct store_put *p = NULL;
	char key[64], final[FX_PATH], dir[FX_PATH], tmp[FX_PATH];
	struct stat st;

	store_cf_key(key, "stream", "mp4");
	key_path(f, key, final, sizeof(final));
	leaf_dir(f, key, dir, sizeof(dir));
	/* abort removes the temporary */
	assert_int_equal(store_put_begin(f->s, key, &p, NULL), 0);
	assert_int_equal(store_put_write(p, "hello", 5), 0);
	assert_int_equal(count_tmp(dir, NULL, 0), 1);
	assert_int_equal(lstat(final, &st), -1);
	store_put_abort(p);
	assert_int_equal(count_tmp(dir, NULL, 0), 0);
	assert_int_equal(lstat(final, &st), -1);
	/* commit renames it */
	assert_int_equal(store_put_begin(f->s, key, &p, NULL), 0);
	assert_int_equal(store_put_write(p, "hello", 5), 0);
	assert_int_equal(count_tmp(dir, tmp, sizeof(tmp)), 1);
	assert_int_equal(lstat(tmp, &st), 0);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(lstat(final, &st), -1);
	assert_int_equal(store_put_commit(p, NULL, NULL), 0);
	assert_int_equal(count_tmp(dir, NULL, 0), 0);
	assert_int_equal(lstat(final, &st), 0);
	assert_int_equal(st.st_size, 5);
	/* a failed commit (incomplete head) removes it too */
	assert_int_equal(store_put_begin_reserved(f->s, key, 10, &p, NULL), 0);
	assert_int_equal(store_put_commit(p, NULL, NULL), AM_ERR_CONFLICT);
	assert_int_equal(count_tmp(dir, NULL, 0), 0);
	assert_int_equal(lstat(final, &st), 0);
	assert_int_equal(st.st_size, 5);
}

/* A process dies mid-put: its temporary stays until gc ages it out. */
static void fs_gc_after_crash(void **state)
{
	struct fx *f = *state;
	char key[64], dir[FX_PATH], tmp[FX_PATH], foreign[FX_PATH];
	struct timespec old[2] = {{.tv_sec = am_now() - 7200}, {.tv_sec = am_now() - 7200}};
	uint64_t removed = 99;
	pid_t pid;
	int status, fd;

	store_cf_key(key, "orig", NULL);
	leaf_dir(f, key, dir, sizeof(dir));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store_put *p = NULL;
		if (store_put_begin(f->s, key, &p, NULL) || store_put_write(p, "partial", 7))
			_exit(1);
		_exit(0); /* crash: no commit, no abort */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(count_tmp(dir, tmp, sizeof(tmp)), 1);
	assert_int_equal(store_stat(f->s, key, &(struct store_info){0}, NULL), AM_ERR_NOTFOUND);
	/* a committed object and a foreign file next to it must survive */
	store_cf_put(f->s, key, 30, 10, 10);
	fmtp(foreign, sizeof(foreign), "%s/.tmpnotes", dir);
	assert_true((fd = open(foreign, O_CREAT | O_WRONLY, 0600)) >= 0);
	close(fd);
	assert_int_equal(utimensat(AT_FDCWD, foreign, old, 0), 0);
	/* fresh: kept */
	assert_int_equal(store_gc_temp(f->s, am_now() - 3600, &removed, NULL), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(count_tmp(dir, NULL, 0), 1);
	/* aged: removed */
	assert_int_equal(utimensat(AT_FDCWD, tmp, old, 0), 0);
	assert_int_equal(store_gc_temp(f->s, am_now() - 3600, &removed, NULL), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(count_tmp(dir, NULL, 0), 0);
	assert_int_equal(access(foreign, F_OK), 0);
	store_cf_verify(f->s, key, 30, 10);
}

/* Invalid keys never create anything on disk. */
static void fs_invalid_keys_touch_nothing(void **state)
{
	struct fx *f = *state;
	struct store_put *p = NULL;
	static const char *const bad[] = {"../x/0123456789abcdef0123456789abcdef",
					  "/etc/0123456789abcdef0123456789abcdef",
					  "x/../../0123456789abcdef0123456789ab"};
	DIR *d;
	struct dirent *e;
	int n = 0;

	for (size_t i = 0; i < AM_ARRAY_LEN(bad); i++)
		assert_int_equal(store_put_begin(f->s, bad[i], &p, NULL), AM_ERR_INVAL);
	assert_non_null(d = opendir(f->root));
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	assert_int_equal(n, 0);
	assert_int_equal(access(f->dir, F_OK), 0);
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void assert_file(const char *path, const char *text)
{
	char buf[256] = {0};
	FILE *fp = fopen(path, "r");

	assert_non_null(fp);
	assert_true(fread(buf, 1, sizeof(buf) - 1, fp) <= strlen(text));
	fclose(fp);
	assert_string_equal(buf, text);
}

/* A symlink planted at the final name is never followed. */
static void fs_symlink_at_final_name(void **state)
{
	struct fx *f = *state;
	char key[64], final[FX_PATH], victim[FX_PATH];
	struct store_reader *r = NULL;
	struct store_info info;
	struct store_err err;
	struct stat st;
	uint8_t buf[64];
	size_t got;

	fmtp(victim, sizeof(victim), "%s/victim", f->dir);
	write_file(victim, "secret");
	store_cf_key(key, "orig", NULL);
	store_cf_put(f->s, key, 31, 3, 3); /* creates the directories */
	key_path(f, key, final, sizeof(final));
	assert_int_equal(unlink(final), 0);
	assert_int_equal(symlink(victim, final), 0);

	assert_int_equal(store_stat(f->s, key, &info, &err), AM_ERR_IO);
	assert_non_null(strstr(err.msg, "refused"));
	assert_int_equal(store_reader_open(f->s, key, &r, &err), AM_ERR_IO);
	assert_non_null(strstr(err.msg, "refused"));
	assert_int_equal(store_read_at(f->s, key, 0, buf, sizeof(buf), &got, &err), AM_ERR_IO);
	assert_non_null(strstr(err.msg, "refused"));
	/* a put replaces the link itself; the target is untouched */
	store_cf_put(f->s, key, 32, 40, 7);
	assert_int_equal(lstat(final, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_file(victim, "secret");
	store_cf_verify(f->s, key, 32, 40);
	/* delete removes a planted link, not its target */
	assert_int_equal(unlink(final), 0);
	assert_int_equal(symlink(victim, final), 0);
	assert_int_equal(store_delete(f->s, key, NULL), 0);
	assert_int_equal(lstat(final, &st), -1);
	assert_file(victim, "secret");
}

static int count_cb(void *arg, const char *key, const struct store_info *info)
{
	(*(int *)arg)++;
	return 0;
}

/* A symlinked fan-out or namespace directory is never entered. */
static void fs_symlink_directory(void **state)
{
	struct fx *f = *state;
	char key[64], path[FX_PATH], outside[FX_PATH];
	struct store_put *p = NULL;
	struct store_info info;
	uint64_t removed;
	DIR *d;
	int n = 0;

	fmtp(outside, sizeof(outside), "%s/outside", f->dir);
	assert_int_equal(mkdir(outside, 0700), 0);
	store_cf_key(key, "evil", NULL);
	fmtp(path, sizeof(path), "%s/evil", f->root);
	assert_int_equal(symlink(outside, path), 0);
	assert_int_equal(store_put_begin(f->s, key, &p, NULL), AM_ERR_IO);
	assert_null(p);
	assert_int_equal(store_stat(f->s, key, &info, NULL), AM_ERR_IO);
	/* the same one level down */
	store_cf_key(key, "orig", NULL);
	store_cf_put(f->s, key, 33, 1, 1);
	leaf_dir(f, key, path, sizeof(path));
	rm_rf(path);
	assert_int_equal(symlink(outside, path), 0);
	assert_int_equal(store_put_begin(f->s, key, &p, NULL), AM_ERR_IO);
	assert_int_equal(store_list(f->s, "", count_cb, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_gc_temp(f->s, am_now() + 10, &removed, NULL), 0);
	assert_non_null(d = opendir(outside));
	n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	assert_int_equal(n, 0);
}

static void fs_fifo_refused(void **state)
{
	struct fx *f = *state;
	char key[64], final[FX_PATH];
	struct store_reader *r = NULL;
	int n = 0;

	store_cf_key(key, "orig", NULL);
	store_cf_put(f->s, key, 34, 1, 1);
	key_path(f, key, final, sizeof(final));
	assert_int_equal(unlink(final), 0);
	assert_int_equal(mkfifo(final, 0600), 0);
	assert_int_equal(store_reader_open(f->s, key, &r, NULL), AM_ERR_IO);
	assert_null(r);
	assert_int_equal(store_list(f->s, "orig/", count_cb, &n, NULL), 0);
	assert_int_equal(n, 0);
}

/* Only well-placed, well-named regular files are objects. */
static void fs_list_skips_foreign(void **state)
{
	struct fx *f = *state;
	char key[64], other[64], path[FX_PATH], dir[FX_PATH];
	int n = 0;

	store_cf_key(key, "orig", "am1");
	store_cf_put(f->s, key, 35, 4, 4);
	leaf_dir(f, key, dir, sizeof(dir));
	fmtp(path, sizeof(path), "%s/README", f->root);
	write_file(path, "x");
	fmtp(path, sizeof(path), "%s/orig/zz", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	fmtp(path, sizeof(path), "%s/%s", dir, "0123456789ABCDEF0123456789abcdef");
	write_file(path, "x");
	store_cf_key(other, "orig", NULL); /* right name, wrong fan-out */
	fmtp(path, sizeof(path), "%s/%s", dir, other + 5);
	if (strncmp(other + 5, key + 5, 4))
		write_file(path, "x");
	fmtp(path, sizeof(path), "%s/.tmp-0000000000000000", dir);
	write_file(path, "x");
	assert_int_equal(store_list(f->s, "", count_cb, &n, NULL), 0);
	assert_int_equal(n, 1);
}

/* The fs backend pins the version a reader opened (the inode). */
static void fs_reader_pins_version(void **state)
{
	struct fx *f = *state;
	struct store_reader *r = NULL;
	char key[64];
	uint8_t buf[3000];
	size_t got;

	store_cf_key(key, "orig", NULL);
	store_cf_put(f->s, key, 36, sizeof(buf), 1000);
	assert_int_equal(store_reader_open(f->s, key, &r, NULL), 0);
	store_cf_put(f->s, key, 37, 100, 100);
	assert_int_equal(store_reader_read_at(r, 0, buf, sizeof(buf), &got), 0);
	assert_int_equal(got, sizeof(buf));
	assert_true(store_cf_check(36, 0, buf, got));
	assert_int_equal(store_delete(f->s, key, NULL), 0);
	assert_int_equal(store_reader_read_at(r, 1000, buf, 10, &got), 0);
	assert_true(store_cf_check(36, 1000, buf, got));
	store_reader_close(r);
}

static long max_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* 64 MiB through 4 KiB writes and 64 KiB reads: memory stays flat. */
static void fs_large_object_bounded_memory(void **state)
{
	struct fx *f = *state;
	const uint64_t size = 64u << 20;
	struct store_put *p = NULL;
	struct store_reader *r = NULL;
	uint8_t buf[65536];
	char key[64];
	long before = max_rss_kib();
	size_t got;

	store_cf_key(key, "orig", NULL);
	assert_int_equal(store_put_begin_reserved(f->s, key, 4096, &p, NULL), 0);
	for (uint64_t off = 4096; off < size; off += 4096) {
		store_cf_fill(38, off, buf, 4096);
		assert_int_equal(store_put_write(p, buf, 4096), 0);
	}
	store_cf_fill(38, 0, buf, 4096);
	assert_int_equal(store_put_write_at(p, 0, buf, 4096), 0);
	assert_int_equal(store_put_commit(p, NULL, NULL), 0);
	assert_int_equal(store_reader_open(f->s, key, &r, NULL), 0);
	assert_int_equal(store_reader_size(r), size);
	for (uint64_t off = 0; off < size; off += got) {
		assert_int_equal(store_reader_read_at(r, off, buf, sizeof(buf), &got), 0);
		assert_true(store_cf_check(38, off, buf, got));
	}
	store_reader_close(r);
	assert_true(max_rss_kib() - before < 8 * 1024);
	assert_int_equal(store_delete(f->s, key, NULL), 0);
}

/* Write-behind: a long put does not keep the object in the page cache while
 * it is written (at most the last windows stay resident), and what was
 * dropped reads back intact after the commit. Residency is a page-cache
 * fact (mincore), not a timing. */
static void fs_write_behind_drops_written_pages(void **state)
{
	struct fx *f = *state;
	const uint64_t size = 64u << 20;
	struct store_put *p = NULL;
	struct store_reader *r = NULL;
	uint8_t buf[65536], *map, *vec;
	char key[64], dir[FX_PATH], tmp[FX_PATH];
	size_t pages = size / 4096, resident = 0, got;
	struct statfs sf;
	int fd, disk_fs;

	store_cf_key(key, "upart", NULL);
	leaf_dir(f, key, dir, sizeof(dir));
	assert_int_equal(store_put_begin(f->s, key, &p, NULL), 0);
	for (uint64_t off = 0; off < size; off += sizeof(buf)) {
		store_cf_fill(41, off, buf, sizeof(buf));
		assert_int_equal(store_put_write(p, buf, sizeof(buf)), 0);
	}
	assert_int_equal(count_tmp(dir, tmp, sizeof(tmp)), 1);
	assert_true((fd = open(tmp, O_RDONLY | O_CLOEXEC)) >= 0);
	/* Residency is asserted on the disk filesystems whose page cache the
	 * write-behind can drop (ext4, XFS, btrfs). Not on tmpfs (its page cache
	 * is the storage) nor overlayfs (containers, the fresh-machine chroot:
	 * the hint does not reach the lower file), where only the bytes are. */
	disk_fs = fstatfs(fd, &sf) == 0 &&
		  (sf.f_type == EXT4_SUPER_MAGIC || sf.f_type == XFS_SUPER_MAGIC ||
		   sf.f_type == BTRFS_SUPER_MAGIC);
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	assert_non_null(vec = calloc(pages, 1));
	assert_int_equal(mincore(map, size, vec), 0);
	for (size_t i = 0; i < pages; i++)
		resident += vec[i] & 1;
	munmap(map, size);
	close(fd);
	free(vec);
	/* two 8 MiB windows in writeback plus the one being filled */
	assert_true(resident * 4096 <= (uint64_t)(32u << 20) || !disk_fs);
	assert_int_equal(store_put_commit(p, NULL, NULL), 0);
	assert_int_equal(store_reader_open(f->s, key, &r, NULL), 0);
	for (uint64_t off = 0; off < size; off += got) {
		assert_int_equal(store_reader_read_at(r, off, buf, sizeof(buf), &got), 0);
		assert_true(got > 0 && store_cf_check(41, off, buf, got));
	}
	store_reader_close(r);
	assert_int_equal(store_delete(f->s, key, NULL), 0);
}

static void fs_open_urls(void **state)
{
	struct fx *f = *state;
	struct store *s = (void *)1;
	struct store_err err;
	char url[FX_PATH];
	struct conf c;

	assert_int_equal(store_open("s3://Bucket?region=x", &s, &err),
			 AM_ERR_INVAL); /* bad bucket */
	assert_null(s);
	assert_non_null(strstr(err.msg, "s3"));
	assert_int_equal(store_open("ftp://x", &s, NULL), AM_ERR_INVAL);
	assert_int_equal(store_open("file:", &s, NULL), AM_ERR_INVAL);
	assert_int_equal(store_open(NULL, &s, NULL), AM_ERR_INVAL);
	assert_int_equal(store_open("file:/x", NULL, NULL), AM_ERR_INVAL);
	fmtp(url, sizeof(url), "file:%s/missing/deeper", f->dir);
	assert_int_equal(store_open(url, &s, NULL), AM_ERR_IO);
	fmtp(url, sizeof(url), "%s/plain", f->dir);
	write_file(url, "x");
	fmtp(url, sizeof(url), "file:%s/plain", f->dir);
	assert_int_equal(store_open(url, &s, NULL), AM_ERR_IO);
	assert_null(s);
	store_close(NULL);
	assert_string_equal(store_backend(f->s), "file");
	conf_defaults(&c);
	fmtp(c.storage, sizeof(c.storage), "%s", f->url);
	assert_int_equal(store_open_conf(&c, &s, NULL), 0);
	store_close(s);
}

#define FS_TEST(t) cmocka_unit_test_setup_teardown(t, fx_setup, fx_teardown)

static const struct CMUnitTest fs_tests[] = {
    FS_TEST(fs_modes_ignore_umask),
    FS_TEST(fs_temporaries_until_commit),
    FS_TEST(fs_gc_after_crash),
    FS_TEST(fs_invalid_keys_touch_nothing),
    FS_TEST(fs_symlink_at_final_name),
    FS_TEST(fs_symlink_directory),
    FS_TEST(fs_fifo_refused),
    FS_TEST(fs_list_skips_foreign),
    FS_TEST(fs_reader_pins_version),
    FS_TEST(fs_large_object_bounded_memory),
    FS_TEST(fs_write_behind_drops_written_pages),
    FS_TEST(fs_open_urls),
};

int main(void)
{
	struct CMUnitTest tests[64];
	char dir[FX_DIR], url[FX_PATH];
	const char *tmp = getenv("TMPDIR");
	size_t n;
	int rc;

	rc = snprintf(dir, sizeof(dir), "%s/am-conf-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (rc < 0 || (size_t)rc >= sizeof(dir) || !mkdtemp(dir))
		return 1;
	fmtp(url, sizeof(url), "file:%s/objects", dir);
	store_conformance_set_url(url);
	n = store_conformance_tests(tests, AM_ARRAY_LEN(tests));
	for (size_t i = 0; i < AM_ARRAY_LEN(fs_tests) && n < AM_ARRAY_LEN(tests); i++)
		tests[n++] = fs_tests[i];
	rc = _cmocka_run_group_tests("store_fs", tests, n, store_conformance_setup,
				     store_conformance_teardown);
	rm_rf(dir);
	return rc;
}
