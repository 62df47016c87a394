/*
 * media.c: lifecycle and route table of the media role (see media.h). Runs in
 * the media process. Streaming and uploads arrive with issue 6; until then no
 * route is registered.
 */
#include "media/media.h"

#include <stdlib.h>

#include "app/app.h"
#include "http/http.h"

struct media {
	struct app *app;
};

struct media *media_new(struct app *a)
{
	struct media *m = calloc(1, sizeof(*m));

	if (m)
		m->app = a;
	return m;
}

void media_free(struct media *m)
{
	free(m);
}

int media_register(struct media *m, struct http_router *r)
{
	(void)m;
	(void)r;
	return 0;
}
