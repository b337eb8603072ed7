/*
 * test_include_graph.c - the tree's include graph between modules has no
 * cycle (tools/include-graph.sh --cycles, from the compiler's own view of
 * each file's includes).  A cycle is two modules that can only be
 * understood together; the test names it so it is undone, not lived with.
 */
#include "unit.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

TEST(include_graph_has_no_cycle)
{
	char out[4096];
	size_t n = 0;
	FILE *p;
	int status;

	/* The runner starts at the top of the tree (the man page test
	 * relies on it too). */
	CHECK(access("tools/include-graph.sh", X_OK) == 0);
	p = popen("tools/include-graph.sh --cycles 2>&1", "r");
	CHECK(p != NULL);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	status = pclose(p);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		unit_fail(__FILE__, __LINE__, "the include graph has a cycle (make include-graph "
			  "shows the edges):\n%s", out);
	CHECK_STR(out, "no cycles\n");
}
