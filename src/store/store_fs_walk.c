/*
 * store_fs_walk.c: the filesystem backend's walks over ROOT/NS/II/JJ/: list
 * by key prefix (GC and export) and removal of abandoned ".tmp-" files.
 * Constant memory (one open directory per level, four levels). Never follows
 * a symlink; anything that is not part of the layout (foreign files, stray
 * names, symlinks, misplaced objects) is skipped, never listed or removed.
 * Runs in the worker role and in administration commands.
 */
#include "store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

#define WALK_DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

struct walk {
	/* list */
	const char *prefix;
	char ns_pfx[STORE_KEY_NS_MAX + 1];
	int ns_exact; /* the prefix has a '/': the namespace is complete */
	const char *id_pfx;
	size_t id_len;
	store_list_cb cb;
	void *arg;
	/* gc */
	int gc;
	int64_t before;
	uint64_t removed;
	/* where we are */
	char ns[STORE_KEY_NS_MAX + 1];
	char d1[3], d2[3];
	char *emsg; /* the failure's detail (store_fail) */
};

static int all_of(const char *s, size_t min, size_t max, const char *set)
{
	size_t n = strlen(s);

	return n >= min && n <= max && strspn(s, set) == n;
}

/* Is a directory entry at depth (0 = namespace, 1, 2 = fan-out) worth entering? */
static int walk_name_ok(const struct walk *w, int depth, const char *name)
{
	size_t off;

	if (depth == 0) {
		if (!all_of(name, 1, STORE_KEY_NS_MAX, "abcdefghijklmnopqrstuvwxyz0123456789"))
			return 0;
		if (w->gc)
			return 1;
		if (w->ns_exact)
			return strcmp(name, w->ns_pfx) == 0;
		return strncmp(name, w->ns_pfx, strlen(w->ns_pfx)) == 0;
	}
	if (!all_of(name, 2, 2, "0123456789abcdef"))
		return 0;
	if (w->gc)
		return 1;
	off = (size_t)(depth - 1) * 2;
	for (size_t i = 0; i < 2; i++)
		if (off + i < w->id_len && w->id_pfx[off + i] != name[i])
			return 0;
	return 1;
}

static int walk_list_entry(struct walk *w, int dfd, const char *name)
{
	char key[STORE_KEY_MAX + 8];
	struct store_info info;
	struct stat st;
	int n;

	if (name[0] == '.')
		return 0;
	n = snprintf(key, sizeof(key), "%s/%s", w->ns, name);
	if (n < 0 || (size_t)n >= sizeof(key) || !store_key_valid(key))
		return 0;
	/* an object filed under the wrong fan-out is not ours to report */
	if (memcmp(name, w->d1, 2) || memcmp(name + 2, w->d2, 2))
		return 0;
	if (strncmp(key, w->prefix, strlen(w->prefix)))
		return 0;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return 0; /* deleted meanwhile */
		return store_fail(w->emsg, AM_ERR_IO, "store list %s: %s", key, strerror(errno));
	}
	if (!S_ISREG(st.st_mode))
		return 0;
	info.size = (uint64_t)st.st_size;
	info.mtime = (int64_t)st.st_mtim.tv_sec;
	return w->cb(w->arg, key, &info);
}

static int walk_gc_entry(struct walk *w, int dfd, const char *name)
{
	struct stat st;

	if (strncmp(name, STORE_FS_TMP_PREFIX, strlen(STORE_FS_TMP_PREFIX)))
		return 0;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT
			   ? 0
			   : store_fail(w->emsg, AM_ERR_IO, "store gc: %s", strerror(errno));
	if (!S_ISREG(st.st_mode) || (int64_t)st.st_mtim.tv_sec >= w->before)
		return 0;
	if (unlinkat(dfd, name, 0) != 0)
		return errno == ENOENT
			   ? 0
			   : store_fail(w->emsg, AM_ERR_IO, "store gc: %s", strerror(errno));
	w->removed++;
	return 0;
}

/* Walk the directory open at fd (consumed) at depth 0..3. */
static int walk_dir(struct walk *w, int fd, int depth)
{
	char *slots[3] = {w->ns, w->d1, w->d2};
	size_t sizes[3] = {sizeof(w->ns), sizeof(w->d1), sizeof(w->d2)};
	DIR *d = fdopendir(fd);
	struct dirent *e;
	int rc = 0, sub;

	if (!d) {
		close(fd);
		return store_fail(w->emsg, AM_ERR_IO, "store walk: %s", strerror(errno));
	}
	for (;;) {
		errno = 0;
		if (!(e = readdir(d))) {
			if (errno)
				rc = store_fail(w->emsg, AM_ERR_IO, "store walk: %s",
						strerror(errno));
			break;
		}
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (depth == 3) {
			rc = w->gc ? walk_gc_entry(w, dirfd(d), e->d_name)
				   : walk_list_entry(w, dirfd(d), e->d_name);
			if (rc)
				break;
			continue;
		}
		if (!walk_name_ok(w, depth, e->d_name))
			continue;
		if ((sub = openat(dirfd(d), e->d_name, WALK_DIR_FLAGS)) < 0) {
			if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
				continue; /* raced away, a file, or a symlink: not ours */
			rc = store_fail(w->emsg, AM_ERR_IO, "store walk: %s", strerror(errno));
			break;
		}
		am_strlcpy(slots[depth], e->d_name, sizes[depth]);
		if ((rc = walk_dir(w, sub, depth + 1)))
			break;
	}
	closedir(d);
	return rc;
}

static int walk_root(struct walk *w, int root_fd)
{
	int fd = openat(root_fd, ".", WALK_DIR_FLAGS);

	if (fd < 0)
		return store_fail(w->emsg, AM_ERR_IO, "store walk: %s", strerror(errno));
	return walk_dir(w, fd, 0);
}

int store_fs_list(int root_fd, const char *prefix, store_list_cb cb, void *arg, char *emsg)
{
	struct walk w;
	const char *slash = strchr(prefix, '/');
	size_t nl = slash ? (size_t)(slash - prefix) : strlen(prefix);

	memset(&w, 0, sizeof(w));
	w.prefix = prefix;
	memcpy(w.ns_pfx, prefix, nl); /* nl <= STORE_KEY_NS_MAX: prefix is valid */
	w.ns_exact = slash != NULL;
	w.id_pfx = slash ? slash + 1 : "";
	w.id_len = strlen(w.id_pfx);
	w.cb = cb;
	w.arg = arg;
	w.emsg = emsg;
	return walk_root(&w, root_fd);
}

int store_fs_gc_temp(int root_fd, int64_t before, uint64_t *removed, char *emsg)
{
	struct walk w;
	int rc;

	memset(&w, 0, sizeof(w));
	w.gc = 1;
	w.before = before;
	w.emsg = emsg;
	rc = walk_root(&w, root_fd);
	*removed = w.removed;
	return rc;
}
