/*
 * memimage.c - synthetic guest memory with real content (see memimage.h).
 */
#include "memimage.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXTENT_MAX_PAGES 64   /* pages of one kind laid out together */
#define WALK_MAX_DEPTH   16

struct file_list {
	char **paths;
	size_t n, cap;
	uint64_t bytes;    /* collected so far from the current directory */
	uint64_t budget;   /* how many bytes of files to collect from it */
};

/* Where file pages come from: the shuffled list, read in turn. */
struct file_src {
	const struct file_list *fl;
	size_t next;
	int fd;
	size_t tried_since_page;
	struct xlmig_memimage_info *info;
};

static uint64_t rnd_next(uint64_t *state)   /* splitmix64 */
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rnd_fill(uint64_t *state, uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = rnd_next(state);

		memcpy(p + i, &v, XLMIG_MIN(len - i, sizeof(v)));
	}
}

/* Byte order, not the locale's collation, so every host sorts alike. */
static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int add_path(struct file_list *fl, char *path)
{
	if (fl->n == fl->cap) {
		size_t cap = fl->cap ? fl->cap * 2 : 256;
		char **p = realloc(fl->paths, cap * sizeof(*p));

		if (!p)
			return xlmig_fail(XLMIG_E_NOMEM, "out of memory listing "
					  "files for a memory image");
		fl->paths = p;
		fl->cap = cap;
	}
	fl->paths[fl->n++] = path;
	return XLMIG_OK;
}

/* Depth first in sorted order, until the directory's budget is met.
 * Unreadable entries are skipped; symlinks are not followed. */
static int walk(const char *dir, struct file_list *fl, int depth)
{
	struct dirent **ents = NULL;
	int n = scandir(dir, &ents, NULL, by_name), rc = XLMIG_OK;

	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		char *path = NULL;
		struct stat st;

		if (!rc && fl->bytes < fl->budget && strcmp(name, ".") &&
		    strcmp(name, "..") && asprintf(&path, "%s/%s", dir, name) >= 0 &&
		    lstat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode) && depth < WALK_MAX_DEPTH) {
				rc = walk(path, fl, depth + 1);
			} else if (S_ISREG(st.st_mode) && st.st_size > 0) {
				rc = add_path(fl, path);
				fl->bytes += (uint64_t)st.st_size;
				path = rc ? path : NULL;
			}
		}
		free(path);
		free(ents[i]);
	}
	free(ents);
	return rc;
}

static void free_list(struct file_list *fl)
{
	for (size_t i = 0; i < fl->n; i++)
		free(fl->paths[i]);
	free(fl->paths);
}

/* Twice the bytes needed, split over the directories, so the seed has
 * a choice of files; then shuffled by the seed. */
static int list_files(const char *const *dirs, uint64_t need, uint64_t *rnd,
		      struct file_list *fl)
{
	static const char *const defaults[] = { "/usr/bin", "/usr/share", NULL };
	size_t ndirs = 0;
	int rc = XLMIG_OK;

	if (!dirs)
		dirs = defaults;
	while (dirs[ndirs])
		ndirs++;
	for (size_t d = 0; d < ndirs && !rc; d++) {
		fl->bytes = 0;
		fl->budget = 2 * need / ndirs + 1;
		rc = walk(dirs[d], fl, 0);
	}
	for (size_t i = fl->n; i > 1 && !rc; i--) {
		size_t j = rnd_next(rnd) % i;
		char *t = fl->paths[i - 1];

		fl->paths[i - 1] = fl->paths[j];
		fl->paths[j] = t;
	}
	return rc;
}

/* Up to one page from fd; 0 at end of file (or on a read error, which
 * just ends that file). */
static size_t read_page(int fd, uint8_t *page)
{
	size_t got = 0;

	while (got < XLMIG_PAGE_SIZE) {
		ssize_t r = read(fd, page + got, XLMIG_PAGE_SIZE - got);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* The next page of file content, a short last page padded with zeros
 * as the page cache holds it. */
static int next_file_page(struct file_src *s, uint8_t *page)
{
	for (;;) {
		size_t got;

		if (s->fd < 0) {
			if (!s->fl->n || s->tried_since_page > s->fl->n)
				return xlmig_fail(XLMIG_E_NOTFOUND, "no readable "
						  "file for a memory image; "
						  "give directories with files");
			if (s->next == s->fl->n) {
				s->next = 0;
				s->info->files_reused = true;
			}
			s->tried_since_page++;
			s->fd = open(s->fl->paths[s->next++], O_RDONLY | O_CLOEXEC);
			if (s->fd < 0)
				continue;
			s->info->files_read++;
		}
		got = read_page(s->fd, page);
		if (got) {
			memset(page + got, 0, XLMIG_PAGE_SIZE - got);
			s->tried_since_page = 0;
			return XLMIG_OK;
		}
		close(s->fd);
		s->fd = -1;
	}
}

enum { K_FILE, K_ZERO, K_RANDOM };

static int fill_extent(int kind, uint8_t *p, uint64_t npages, uint64_t *rnd,
		       struct file_src *src, unsigned flags)
{
	if (kind == K_ZERO && (flags & XLMIG_MEMIMAGE_FRESH))
		return XLMIG_OK;
	int rc = XLMIG_OK;

	for (uint64_t i = 0; i < npages && !rc; i++, p += XLMIG_PAGE_SIZE) {
		if (kind == K_FILE)
			rc = next_file_page(src, p);
		else if (kind == K_ZERO)
			memset(p, 0, XLMIG_PAGE_SIZE);
		else
			rnd_fill(rnd, p, XLMIG_PAGE_SIZE);
	}
	return rc;
}

int xlmig_memimage_fill(uint8_t *pages, uint64_t npages,
			const struct xlmig_memimage_mix *mix, uint64_t seed,
			const char *const *dirs, unsigned flags,
			struct xlmig_memimage_info *info)
{
	struct file_list fl = { 0 };
	struct file_src src = { .fl = &fl, .fd = -1, .info = info };
	uint64_t left[3], rnd = seed, done = 0;
	int rc = XLMIG_OK;

	memset(info, 0, sizeof(*info));
	if (mix->file_pct + mix->zero_pct + mix->random_pct != 100) {
		rc = xlmig_fail(XLMIG_E_INVAL, "memory image mix %u/%u/%u does "
				"not add up to 100%%", mix->file_pct,
				mix->zero_pct, mix->random_pct);
		goto out;
	}
	left[K_FILE] = npages * mix->file_pct / 100;
	left[K_ZERO] = npages * mix->zero_pct / 100;
	left[K_RANDOM] = npages - left[K_FILE] - left[K_ZERO];
	info->file_pages = left[K_FILE];
	info->zero_pages = left[K_ZERO];
	info->random_pages = left[K_RANDOM];
	if (left[K_FILE])
		rc = list_files(dirs, left[K_FILE] * XLMIG_PAGE_SIZE, &rnd, &fl);
	while (!rc && done < npages) {
		uint64_t pick = rnd_next(&rnd) % (npages - done), len;
		int kind = pick < left[K_FILE] ? K_FILE
			 : pick < left[K_FILE] + left[K_ZERO] ? K_ZERO : K_RANDOM;

		len = 1 + rnd_next(&rnd) % EXTENT_MAX_PAGES;
		len = XLMIG_MIN(len, left[kind]);
		rc = fill_extent(kind, pages + done * XLMIG_PAGE_SIZE, len, &rnd, &src, flags);
		left[kind] -= len;
		done += len;
	}
out:
	if (src.fd >= 0)
		close(src.fd);
	free_list(&fl);
	return rc;
}

int xlmig_memimage_mix_parse(const char *s, struct xlmig_memimage_mix *mix)
{
	struct xlmig_memimage_mix m;
	int end = 0;

	if (sscanf(s, "%u/%u/%u%n", &m.file_pct, &m.zero_pct, &m.random_pct,
		   &end) != 3 || s[end] ||
	    m.file_pct + m.zero_pct + m.random_pct != 100)
		return xlmig_fail(XLMIG_E_INVAL, "memory image mix \"%s\": give "
				  "file/zero/random percentages adding up to "
				  "100, e.g. 60/25/15", s);
	*mix = m;
	return XLMIG_OK;
}

uint64_t xlmig_memimage_touch(uint8_t *pages, uint64_t npages, unsigned pct,
			      uint64_t seed, uint64_t *dirty)
{
	uint64_t rnd = seed, ndirty = 0;

	for (uint64_t pfn = 0; pfn < npages; pfn++) {
		uint8_t *page = pages + pfn * XLMIG_PAGE_SIZE;
		unsigned runs;

		if (rnd_next(&rnd) % 10000 >= (uint64_t)pct * 100)
			continue;
		runs = 1 + (unsigned)(rnd_next(&rnd) % 4);
		for (unsigned r = 0; r < runs; r++) {
			size_t len = 1 + rnd_next(&rnd) % 16;
			size_t off = rnd_next(&rnd) % (XLMIG_PAGE_SIZE - len + 1);

			rnd_fill(&rnd, page + off, len);
		}
		dirty[ndirty++] = pfn;
	}
	return ndirty;
}
