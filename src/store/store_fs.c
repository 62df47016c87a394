/*
 * store_fs.c: the filesystem object-store backend (file:PATH). Objects live
 * under ROOT/NS/II/JJ/ID[.EXT] (II, JJ = first two pairs of the id's hex), in
 * files 0600 and directories 0700 whatever the umask. Every path below the
 * root is resolved openat-relative with O_NOFOLLOW at each component, so a
 * symlink planted inside the store is never followed. A put writes to
 * ".tmp-<random>" in the object's own directory (written behind in 8 MiB
 * windows), then fsync, rename over the final name, fsync of the directory.
 * Runs in the media and worker roles; the directory is the operator's, its
 * content is only ciphertext.
 */
#include "store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

#define FS_TMP_PREFIX STORE_FS_TMP_PREFIX
#define FS_TMP_LEN    (sizeof(FS_TMP_PREFIX) - 1 + 16)
#define FS_DIR_FLAGS  (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

struct fs_store {
	struct store base;
	int root_fd;
	char root[256]; /* for messages only */
};

struct fs_put {
	struct store_put base;
	int dir_fd;
	int fd;
	int wb_init;
	uint64_t wb_start; /* write-behind: writeback started below this offset */
	uint64_t wb_done;  /* ... and finished (pages dropped) below this one */
	char tmp[FS_TMP_LEN + 1];
	char name[STORE_KEY_MAX];
};

struct fs_reader {
	struct store_reader base;
	int fd;
};

static const struct store_ops fs_ops;

/* Record errno e for an operation on key and return the mapped am_err. */
static int fs_errno(char *emsg, int e, const char *what, const char *key)
{
	char buf[128];
	const char *msg = strerror_r(e, buf, sizeof(buf));
	int err;

	switch (e) {
	case ENOENT: err = AM_ERR_NOTFOUND; break;
	case ENOMEM: err = AM_ERR_NOMEM; break;
	case ENOSPC:
	case EDQUOT: err = AM_ERR_NOSPACE; break;
	case EROFS: err = AM_ERR_READONLY; break;
	case ELOOP:
	case ENOTDIR:
		msg = "symlink or non-directory inside the store (refused)";
		err = AM_ERR_IO;
		break;
	default: err = AM_ERR_IO; break;
	}
	return store_fail(emsg, err, "store %s %s: %s", what, key ? key : "", msg);
}

static int pwrite_full(int fd, const void *buf, size_t n, uint64_t off)
{
	const uint8_t *p = buf;

	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Split a valid key into its three directory names and its file name. */
static void fs_split(const char *key, char ns[STORE_KEY_NS_MAX + 1], char d1[3], char d2[3],
		     const char **file)
{
	const char *slash = strchr(key, '/');
	size_t nl = (size_t)(slash - key);

	memcpy(ns, key, nl);
	ns[nl] = 0;
	memcpy(d1, slash + 1, 2);
	d1[2] = 0;
	memcpy(d2, slash + 3, 2);
	d2[2] = 0;
	*file = slash + 1;
}

/* Open (creating with 0700 if asked) directory name below dfd, never
 * following a symlink. Returns an fd or a negative errno. */
static int fs_subdir(int dfd, const char *name, int create)
{
	int fd = openat(dfd, name, FS_DIR_FLAGS);

	if (fd >= 0 || errno != ENOENT || !create)
		return fd >= 0 ? fd : -errno;
	if (mkdirat(dfd, name, 0700) != 0 && errno != EEXIST)
		return -errno;
	if ((fd = openat(dfd, name, FS_DIR_FLAGS)) < 0)
		return -errno;
	/* umask-independent mode; make the new entry durable. */
	if (fchmod(fd, 0700) != 0 || fsync(dfd) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Open the directory that holds key. Returns an fd or an am_err. */
static int fs_leaf(struct fs_store *fs, const char *key, int create, const char **file, char *emsg)
{
	char ns[STORE_KEY_NS_MAX + 1], d1[3], d2[3];
	const char *names[3] = {ns, d1, d2};
	int fd = fs->root_fd, nfd;

	fs_split(key, ns, d1, d2, file);
	for (int i = 0; i < 3; i++) {
		nfd = fs_subdir(fd, names[i], create);
		if (fd != fs->root_fd)
			close(fd);
		if (nfd < 0)
			return fs_errno(emsg, -nfd, "open directory of", key);
		fd = nfd;
	}
	return fd;
}

/* ---- open ------------------------------------------------------------------ */

int store_fs_open(const char *path, struct store **out, char *emsg)
{
	struct fs_store *fs = NULL;
	struct stat st;
	int created = 0, rc;

	if (!*path)
		return store_fail(emsg, AM_ERR_INVAL, "storage: file: needs a path");
	if (!(fs = calloc(1, sizeof(*fs))))
		return AM_ERR_NOMEM;
	fs->base.ops = &fs_ops;
	fs->root_fd = -1;
	am_strlcpy(fs->root, path, sizeof(fs->root));
	if (mkdir(path, 0700) == 0)
		created = 1;
	else if (errno != EEXIST) {
		rc = store_fail(emsg, AM_ERR_IO, "storage: cannot create %s: %s", fs->root,
				strerror(errno));
		goto out;
	}
	fs->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->root_fd < 0 || fstat(fs->root_fd, &st) != 0) {
		rc = store_fail(emsg, AM_ERR_IO, "storage: cannot open %s: %s", fs->root,
				strerror(errno));
		goto out;
	}
	if (created && fchmod(fs->root_fd, 0700) != 0) {
		rc =
		    store_fail(emsg, AM_ERR_IO, "storage: chmod %s: %s", fs->root, strerror(errno));
		goto out;
	}
	if (!created && (st.st_mode & 077))
		am_log(AM_LOG_WARN, "store_root_permissive", "path", fs->root, "hint",
		       "chmod 0700");
	*out = &fs->base;
	fs = NULL;
	rc = 0;
out:
	if (fs) {
		if (fs->root_fd >= 0)
			close(fs->root_fd);
		free(fs);
	}
	return rc;
}

static void fs_close(struct store *s)
{
	struct fs_store *fs = (struct fs_store *)s;

	close(fs->root_fd);
	free(fs);
}

/* ---- put ------------------------------------------------------------------- */

static int fs_tmp_name(char out[FS_TMP_LEN + 1], char *emsg)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t r[8];
	size_t pl = sizeof(FS_TMP_PREFIX) - 1;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return store_fail(emsg, AM_ERR_IO, "store: getrandom failed");
	memcpy(out, FS_TMP_PREFIX, pl);
	for (size_t i = 0; i < sizeof(r); i++) {
		out[pl + 2 * i] = hex[r[i] >> 4];
		out[pl + 2 * i + 1] = hex[r[i] & 15];
	}
	out[FS_TMP_LEN] = 0;
	return 0;
}

/* A put begins only on a disk with room for its first FS_PROBE_LEN bytes:
 * a full disk (or quota) is refused here, before the caller has read what
 * it would write (an upload's body: a 503 before the body, docs/media.md),
 * not at its first write. The blocks are allocated and given back at once:
 * a probe, not a reservation. A filesystem without fallocate is not probed.
 * Returns 0 or a negative errno. */
#define FS_PROBE_LEN (64 * 1024)
static int fs_room_probe(int fd)
{
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, FS_PROBE_LEN) != 0)
		return errno == EOPNOTSUPP || errno == ENOSYS ? 0 : -errno;
	(void)fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, FS_PROBE_LEN);
	return 0;
}

static int fs_put_begin(struct store *s, const char *key, uint64_t head_len, struct store_put **out,
			char *emsg)
{
	struct fs_store *fs = (struct fs_store *)s;
	struct fs_put *p = NULL;
	const char *file;
	int rc, tries;

	if (!(p = calloc(1, sizeof(*p))))
		return AM_ERR_NOMEM;
	p->fd = -1;
	if ((p->dir_fd = fs_leaf(fs, key, 1, &file, emsg)) < 0) {
		rc = p->dir_fd;
		goto out;
	}
	am_strlcpy(p->name, file, sizeof(p->name));
	for (tries = 0; p->fd < 0 && tries < 8; tries++) {
		if ((rc = fs_tmp_name(p->tmp, emsg)))
			goto out;
		p->fd = openat(p->dir_fd, p->tmp,
			       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (p->fd < 0 && errno != EEXIST) {
			rc = fs_errno(emsg, errno, "create temporary for", key);
			goto out;
		}
	}
	if (p->fd < 0) {
		rc = store_fail(emsg, AM_ERR_IO, "store: no free temporary name for %s", key);
		goto out;
	}
	if (fchmod(p->fd, 0600) != 0) {
		rc = fs_errno(emsg, errno, "chmod temporary for", key);
		goto out;
	}
	if ((rc = fs_room_probe(p->fd)) != 0) {
		rc = fs_errno(emsg, -rc, "reserve space for", key);
		goto out;
	}
	*out = &p->base;
	p = NULL;
	rc = 0;
out:
	if (p) {
		if (p->fd >= 0) {
			unlinkat(p->dir_fd, p->tmp, 0);
			close(p->fd);
		}
		if (p->dir_fd >= 0)
			close(p->dir_fd);
		free(p);
	}
	return rc;
}

/* Write-behind for long appends (an upload of a 1 GiB file): every
 * FS_WB_WINDOW bytes, start the writeback of the window just written and wait
 * for the one before it, then drop its clean pages from the page cache. The
 * commit's fsync then has at most two windows left to write instead of the
 * whole object (0.8 s for 1 GiB here, on the thread that serves the upload's
 * connection and others), dirty memory stays bounded, and ingest recycles
 * page-cache pages instead of growing the cache by the object's size (4x
 * faster on the bench VM, docs/benchmarks.md). Durability is unchanged: the
 * commit still fsyncs before the rename. An error here is the write's error
 * (the kernel reports a writeback error to one caller only). */
#define FS_WB_WINDOW ((uint64_t)8 << 20)

static int fs_write_behind(struct fs_put *p, uint64_t end)
{
	uint64_t n;

	if (!p->wb_init) {
		p->wb_start = p->wb_done = p->base.head_len;
		p->wb_init = 1;
	}
	if (end - p->wb_start < FS_WB_WINDOW)
		return 0;
	if (sync_file_range(p->fd, (off_t)p->wb_start, (off_t)(end - p->wb_start),
			    SYNC_FILE_RANGE_WRITE) != 0)
		return -errno;
	if ((n = p->wb_start - p->wb_done) >= FS_WB_WINDOW) {
		if (sync_file_range(p->fd, (off_t)p->wb_done, (off_t)n,
				    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
					SYNC_FILE_RANGE_WAIT_AFTER) != 0)
			return -errno;
		(void)posix_fadvise(p->fd, (off_t)p->wb_done, (off_t)n, POSIX_FADV_DONTNEED);
		p->wb_done = p->wb_start;
	}
	p->wb_start = end;
	return 0;
}

static int fs_put_append(struct store_put *bp, const void *buf, size_t n)
{
	char *emsg = bp->errmsg;
	struct fs_put *p = (struct fs_put *)bp;
	uint64_t off = bp->head_len + bp->body_len;
	int e = pwrite_full(p->fd, buf, n, off);

	if (e == 0 && (e = fs_write_behind(p, off + n)) == -ENOSYS)
		e = 0; /* no sync_file_range (some container runtimes): plain writes */
	return e ? fs_errno(emsg, -e, "write", bp->key) : 0;
}

static int fs_put_write_head(struct store_put *bp, uint64_t off, const void *buf, size_t n)
{
	char *emsg = bp->errmsg;
	struct fs_put *p = (struct fs_put *)bp;
	int e = pwrite_full(p->fd, buf, n, off);

	return e ? fs_errno(emsg, -e, "write head of", bp->key) : 0;
}

static int fs_put_commit(struct store_put *bp, uint64_t size)
{
	char *emsg = bp->errmsg;
	struct fs_put *p = (struct fs_put *)bp;
	struct stat st;

	/* pwrite extends the file to exactly the bytes written; check anyway */
	if (fstat(p->fd, &st) != 0 || (uint64_t)st.st_size != size)
		return store_fail(emsg, AM_ERR_INTERNAL, "store commit %s: size mismatch", bp->key);
	if (fsync(p->fd) != 0)
		return fs_errno(emsg, errno, "fsync", bp->key);
	if (renameat(p->dir_fd, p->tmp, p->dir_fd, p->name) != 0)
		return fs_errno(emsg, errno, "rename into", bp->key);
	p->tmp[0] = 0; /* gone: nothing to unlink */
	if (fsync(p->dir_fd) != 0)
		return fs_errno(emsg, errno, "fsync directory of", bp->key);
	return 0;
}

static void fs_put_free(struct store_put *bp, int committed)
{
	struct fs_put *p = (struct fs_put *)bp;

	if (!committed && p->tmp[0])
		unlinkat(p->dir_fd, p->tmp, 0);
	close(p->fd);
	close(p->dir_fd);
	free(p);
}

/* ---- read ------------------------------------------------------------------ */

static int fs_reader_open(struct store *s, const char *key, struct store_reader **out, char *emsg)
{
	struct fs_store *fs = (struct fs_store *)s;
	struct fs_reader *r = NULL;
	struct stat st;
	const char *file;
	int dfd, rc;

	if ((dfd = fs_leaf(fs, key, 0, &file, emsg)) < 0)
		return dfd;
	if (!(r = calloc(1, sizeof(*r)))) {
		rc = AM_ERR_NOMEM;
		goto out;
	}
	/* O_NONBLOCK: a FIFO planted here must not hang the open. */
	r->fd = openat(dfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (r->fd < 0) {
		rc = fs_errno(emsg, errno, "open", key);
		goto out;
	}
	if (fstat(r->fd, &st) != 0) {
		rc = fs_errno(emsg, errno, "stat", key);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc =
		    store_fail(emsg, AM_ERR_IO, "store open %s: not a regular file (refused)", key);
		goto out;
	}
	r->base.size = (uint64_t)st.st_size;
	*out = &r->base;
	r = NULL;
	rc = 0;
out:
	if (r) {
		if (r->fd >= 0)
			close(r->fd);
		free(r);
	}
	close(dfd);
	return rc;
}

static int fs_reader_read(struct store_reader *br, uint64_t off, void *buf, size_t n)
{
	char *emsg = br->errmsg;
	struct fs_reader *r = (struct fs_reader *)br;
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t got = pread(r->fd, p, n, (off_t)off);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return fs_errno(emsg, errno, "read", "");
		}
		if (got == 0)
			return store_fail(emsg, AM_ERR_IO,
					  "store read: object shrank under the reader");
		p += got;
		n -= (size_t)got;
		off += (uint64_t)got;
	}
	return 0;
}

static void fs_reader_close(struct store_reader *br)
{
	struct fs_reader *r = (struct fs_reader *)br;

	close(r->fd);
	free(r);
}

/* ---- stat, delete ---------------------------------------------------------- */

static int fs_stat(struct store *s, const char *key, struct store_info *info, char *emsg)
{
	struct fs_store *fs = (struct fs_store *)s;
	struct stat st;
	const char *file;
	int dfd, rc = 0;

	if ((dfd = fs_leaf(fs, key, 0, &file, emsg)) < 0)
		return dfd;
	if (fstatat(dfd, file, &st, AT_SYMLINK_NOFOLLOW) != 0)
		rc = fs_errno(emsg, errno, "stat", key);
	else if (!S_ISREG(st.st_mode))
		rc =
		    store_fail(emsg, AM_ERR_IO, "store stat %s: not a regular file (refused)", key);
	else {
		info->size = (uint64_t)st.st_size;
		info->mtime = (int64_t)st.st_mtim.tv_sec;
	}
	close(dfd);
	return rc;
}

static int fs_delete(struct store *s, const char *key, char *emsg)
{
	struct fs_store *fs = (struct fs_store *)s;
	const char *file;
	int dfd, rc = 0;

	if ((dfd = fs_leaf(fs, key, 0, &file, emsg)) < 0)
		return dfd == AM_ERR_NOTFOUND ? 0 : dfd;
	if (unlinkat(dfd, file, 0) != 0) {
		if (errno != ENOENT)
			rc = fs_errno(emsg, errno, "delete", key);
	} else if (fsync(dfd) != 0) {
		rc = fs_errno(emsg, errno, "fsync directory of", key);
	}
	close(dfd);
	return rc;
}

static int fs_list(struct store *s, const char *prefix, store_list_cb cb, void *arg, char *emsg)
{
	return store_fs_list(((struct fs_store *)s)->root_fd, prefix, cb, arg, emsg);
}

static int fs_gc_temp(struct store *s, int64_t before, uint64_t *removed, char *emsg)
{
	return store_fs_gc_temp(((struct fs_store *)s)->root_fd, before, removed, emsg);
}

static const struct store_ops fs_ops = {
    .name = "file",
    .close = fs_close,
    .put_begin = fs_put_begin,
    .put_append = fs_put_append,
    .put_write_head = fs_put_write_head,
    .put_commit = fs_put_commit,
    .put_free = fs_put_free,
    .reader_open = fs_reader_open,
    .reader_read = fs_reader_read,
    .reader_close = fs_reader_close,
    .stat = fs_stat,
    .del = fs_delete,
    .list = fs_list,
    .gc_temp = fs_gc_temp,
};
