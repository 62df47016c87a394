/*
 * api.c: lifecycle and route table of the JSON API (see api.h). Runs in the
 * web process. The endpoints arrive with issue 5; until then the table is
 * empty and /api/v1/... answers 404 like any unknown path.
 */
#include "api/api.h"

#include <stdlib.h>

#include "app/app.h"
#include "http/http.h"

struct api {
	struct app *app;
};

struct api *api_new(struct app *a)
{
	struct api *api = calloc(1, sizeof(*api));

	if (api)
		api->app = a;
	return api;
}

void api_free(struct api *api)
{
	free(api);
}

int api_register(struct api *api, struct http_router *r)
{
	(void)api;
	(void)r;
	return 0;
}
