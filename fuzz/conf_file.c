/*
 * fuzz/conf_file.c: libFuzzer target for the config-file reader
 * (conf_load_file, then conf_finish) of src/conf/conf.c. The file is an
 * operator's input, but it is also what a packaging mistake or a hostile
 * environment could hand the binary: no crash, no read beyond a line, and an
 * error message that always fits its buffer. conf_load_file takes a path, so
 * the input is written to a memfd and read back through /proc/self/fd/N.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conf c;
	char path[64], err[1024];
	int fd;

	if (size > 64 * 1024)
		return 0;
	if ((fd = memfd_create("conf", 0)) < 0)
		return 0;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	conf_cleanup(&c); /* the previous input's secrets */
	conf_defaults(&c);
	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = 0;
	err[0] = 0;
	if (conf_load_file(&c, path, err, sizeof(err)) == 0) {
		if (!c.data_dir[0])
			snprintf(c.data_dir, sizeof(c.data_dir), "/nonexistent/am-fuzz");
		(void)conf_finish(&c, err, sizeof(err));
	}
	if (!memchr(err, 0, sizeof(err)))
		abort();
	close(fd);
	return 0;
}
