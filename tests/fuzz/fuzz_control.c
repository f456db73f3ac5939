/* Fuzz target: bytes from a control client, through decoding, validation
 * and handling against a real store (on /dev/shm so fsync is cheap).
 * The store is seeded with a catalog item and a case so that commands on
 * existing cases are reachable. Any crash, leak or sanitizer report is a
 * bug: the daemon must answer everything with a reply. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NODE 330106000000ULL
#define NOW_MS (1770948000LL * 1000)

static wj_service_t *svc;
static wj_arena_t arena;
static char dir[64];

static void cleanup(void)
{
	wj_service_close(svc);
	wj_arena_free(&arena);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_control: could not remove %s\n", dir);
}

static void run(const uint8_t *data, size_t len)
{
	wj_service_req_t r = {.data = data, .len = len};
	wj_service_batch(svc, &r, 1, NOW_MS, &arena);
	if (r.reply == NULL || wuji__reply__unpack(&arena.pb, r.reply_len, r.reply) == NULL)
		abort(); /* every request gets a well-formed reply */
	wj_arena_reset(&arena);
}

/* Seeds the store through the same API with hand-built requests. */
static void seed(void)
{
	Wuji__CatalogTask task = WUJI__CATALOG_TASK__INIT;
	task.department = "县市场监督管理局";
	task.level = WUJI__LEVEL__COUNTY;
	Wuji__CatalogTask *tasks[] = {&task};
	Wuji__CatalogMaterial mat = WUJI__CATALOG_MATERIAL__INIT;
	mat.name = "居民身份证";
	mat.required = true;
	Wuji__CatalogMaterial *mats[] = {&mat};
	Wuji__CatalogItem item = WUJI__CATALOG_ITEM__INIT;
	item.code = "XK-001";
	item.name = "个体工商户设立登记";
	item.kind = WUJI__ITEM_KIND__ITEM_PROMISED;
	item.promised_days = 5;
	item.statutory_days = 15;
	item.tasks = tasks;
	item.n_tasks = 1;
	item.materials = mats;
	item.n_materials = 1;
	Wuji__CatalogItem *items[] = {&item};
	Wuji__Catalog cat = WUJI__CATALOG__INIT;
	cat.items = items;
	cat.n_items = 1;
	Wuji__CatalogLoadRequest cl = WUJI__CATALOG_LOAD_REQUEST__INIT;
	cl.catalog = &cat;
	Wuji__Request req = WUJI__REQUEST__INIT;
	req.op_case = WUJI__REQUEST__OP_CATALOG_LOAD;
	req.catalog_load = &cl;
	uint8_t buf[4096];
	run(buf, wuji__request__pack(&req, buf));

	Wuji__Applicant app = WUJI__APPLICANT__INIT;
	app.name = "张三";
	Wuji__SubmitRequest sub = WUJI__SUBMIT_REQUEST__INIT;
	sub.item_code = "XK-001";
	sub.applicant = &app;
	Wuji__Request req2 = WUJI__REQUEST__INIT;
	req2.op_case = WUJI__REQUEST__OP_SUBMIT;
	req2.submit = &sub;
	run(buf, wuji__request__pack(&req2, buf));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	strcpy(dir, "/dev/shm/wj-fuzz-control-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		strcpy(dir, "/tmp/wj-fuzz-control-XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
	}
	wj_service_opts_t o = {.node = NODE, .data_dir = dir, .yellow_days = 1,
			       .standalone = true};
	wj_err_t err = {0};
	if (wj_service_open(&o, &svc, &err) != 0) {
		fprintf(stderr, "fuzz_control: %s\n", err.msg);
		abort();
	}
	wj_arena_init(&arena, 1 << 16);
	atexit(cleanup);
	seed();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (svc == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	run(data, size);
	return 0;
}
