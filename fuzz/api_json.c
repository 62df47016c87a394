/*
 * api_json.c: libFuzzer target over the API's request parsing: a JSON body
 * (as http_req_json parses it) through every typed field accessor the
 * handlers use, strict id parsing and the password policy. Anything a
 * client can send must end in 0 or a negative am_err, never a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {"title",	"email",	"password",  "name",
					   "body",	"time_ms",	"end_ms",    "version_id",
					   "parent_id", "resolved",	"downloads", "confirm",
					   "label",	"expires_in_s", "size",	     "filename"};
	struct api_ctx c = {0};
	char *text = malloc(size + 1);
	uint8_t id[16];
	const char *s;
	int64_t n;
	int b, present;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	(void)api_id_parse(text, id);
	if (size <= 300)
		(void)api_password_acceptable(text, NULL);
	c.body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (c.body && json_is_object(c.body)) {
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			(void)api_str(&c, keys[i], 1, 4096, i & 1, &s);
			(void)api_int(&c, keys[i], 0, INT64_C(1) << 40, 0, &n, &present);
			(void)api_bool(&c, keys[i], 0, &b, &present);
			(void)api_id_field(&c, keys[i], 0, id, &present);
		}
	}
	json_decref(c.body);
	free(text);
	return 0;
}
