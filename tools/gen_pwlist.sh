#!/bin/sh
# Generate the C source of the common-password list that owner passwords are
# checked against (api_password.c) from its plain-text source, at build time
# (the Makefile writes $(BUILD)/gen/api_pwlist.c, as tools/embed does the web
# assets):
#   sh tools/gen_pwlist.sh tools/data/common-passwords.txt > OUT.c
# The list is Openwall's public-domain list of common passwords, as shipped by
# Debian's john-data package in /usr/share/john/password.lst. Lines starting
# "#!comment" are dropped; entries are folded to lower case, de-duplicated and
# sorted bytewise for bsearch(); '\', '"' and '?' (trigraphs) are escaped.
# Only POSIX sh, grep, tr, sort and sed: no new build dependency.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 LIST.txt > OUT.c" >&2; exit 2; }
cat <<'HEAD'
/*
 * api_pwlist.c: GENERATED at build time by tools/gen_pwlist.sh from
 * tools/data/common-passwords.txt; do not edit. The bundled list of common
 * passwords that owner passwords are checked against (api_password.c).
 * Runs in the web process and `audiomus user`; data only.
 */
#include <stddef.h>

extern const char *const api_pwlist[];
extern const size_t api_pwlist_len;

const char *const api_pwlist[] = {
HEAD
grep -v '^#!comment' "$1" | tr -d '\r' | tr 'A-Z' 'a-z' |
	LC_ALL=C grep -v '^$' | LC_ALL=C sort -u |
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/    "/' -e 's/$/",/'
cat <<'TAIL'
};

const size_t api_pwlist_len = sizeof(api_pwlist) / sizeof(api_pwlist[0]);
TAIL
