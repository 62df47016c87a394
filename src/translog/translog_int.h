/*
 * translog_int.h: helpers shared by the files of src/translog/ only.
 * Runs wherever the access log is appended or verified.
 */
#ifndef AM_TRANSLOG_INT_H
#define AM_TRANSLOG_INT_H

#include <stdint.h>

/* A 128-bit id written as exactly 32 lowercase hex digits (s need not be
 * NUL-terminated after them) into out. 0 or AM_ERR_INVAL. */
int translog_hex16(const char *s, uint8_t out[16]);

#endif
