/* Runs a fuzz target over files, without libFuzzer: each argument is a file
 * or a directory whose files are read (one level, in name order).  Built
 * with every target so its corpus runs as a plain regression test. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Larger inputs are not corpus entries; refusing them keeps a stray file
 * from eating the machine. */
#define INPUT_MAX (64u * 1024 * 1024)

static int run_file(const char *path, size_t *count)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;
	long len;

	if (!f) {
		fprintf(stderr, "replay: cannot open %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    (unsigned long)len > INPUT_MAX || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: cannot read %s (too large or not a "
			"regular file)\n", path);
		fclose(f);
		return -1;
	}
	/* One byte more than needed, so an empty file still has a buffer
	 * and the target sees exactly len bytes. */
	buf = malloc((size_t)len + 1);
	if (!buf) {
		fclose(f);
		fprintf(stderr, "replay: out of memory for %s\n", path);
		return -1;
	}
	n = fread(buf, 1, (size_t)len, f);
	if (n != (size_t)len) {
		fprintf(stderr, "replay: short read on %s\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	(*count)++;
	return 0;
}

static int run_dir(const char *dir, size_t *count)
{
	struct dirent **ents;
	int n, rc = 0;

	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: cannot read directory %s: %s\n", dir,
			strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		if (ents[i]->d_name[0] == '.')
			goto next;
		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			goto next;
		if (run_file(path, count) != 0)
			rc = -1;
next:
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int main(int argc, char **argv)
{
	size_t count = 0;
	int rc = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
				strerror(errno));
			rc = 1;
			continue;
		}
		if (S_ISDIR(st.st_mode) ? run_dir(argv[i], &count) != 0
					: run_file(argv[i], &count) != 0)
			rc = 1;
	}
	printf("%zu inputs replayed\n", count);
	return rc;
}
