#!/bin/sh
# include-graph.sh - print the project's include graph, from the compiler.
#
#   tools/include-graph.sh [--files | --modules | --cycles]
#
# Every source and header is preprocessed where no other project file
# can be found (copied into an empty directory under a flat name) with
# `$CC -MM -MG`: the compiler then lists exactly the project headers
# that file itself includes, with the build's macros (XLMIG_HAVE_XEN
# from config.mk) deciding conditional includes, and descends into none
# of them. That gives the direct edges, which is what a reader needs to
# see a seam; -MM on the file in place would give the transitive
# closure instead.  One compiler run does every file, in seconds.
#
#   --files    (default) one edge a line: "libxlmig/job.c libxlmig/job.h"
#   --modules  the same edges between modules (foo.c and foo.h are the
#              module foo; a module's edge to itself is left out)
#   --cycles   the module graph's cycles, by tsort; exit status 1 if any
#              (the unit test include_graph_has_no_cycle runs this)
#
# Run it from the top of the tree. The output is sorted, so two runs can
# be compared with diff.

set -eu

mode=${1:---files}
case $mode in
--files|--modules|--cycles) ;;
*) echo "usage: $0 [--files | --modules | --cycles]" >&2; exit 2 ;;
esac

[ -f libxlmig/common.h ] || { echo "$0: run it from the top of the xlmig tree" >&2; exit 2; }

CC=${CC:-cc}
defs="-std=gnu11 -D_GNU_SOURCE"
if [ -f config.mk ] && grep -q '^HAVE_XEN = 1' config.mk; then
	defs="$defs -DXLMIG_HAVE_XEN=1"
fi

# Where a quoted include is looked for besides the including file's own
# folder: the build's -I list (Makefile BASEFLAGS and the fuzz rule).
incdirs=""
for d in libxlmig backup tests/fuzz; do
	[ -d "$d" ] && incdirs="$incdirs $d"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

dirs=""
for d in libxlmig backup hooks tools tests bench; do
	[ -d "$d" ] && dirs="$dirs $d"
done
files=$(find $dirs -name '*.[ch]' | sort)

# Every file is copied into the empty directory under a flat name of
# its own (slashes as "%"), so no include of one file finds another and
# the compiler, given them all in one run, names each file's includes
# without following them (-MG).  Each rule then reads
# "X.o: FLAT-NAME INCLUDE...", its first prerequisite naming the file.
# A header is compiled as C so that -MM accepts it on its own.
raw_edges() {
	for f in $files; do
		cp "$f" "$tmp/$(echo "$f" | tr / %).c"
	done
	(cd "$tmp" && $CC $defs -x c -MM -MG *.c 2>/dev/null) |
		sed -e 's/\\$//' | tr '\n' ' ' | sed -e 's/ [^ :]*\.o: /\n/g' -e 's/^[^ :]*\.o: //'
	echo
}

# Each quoted include resolved to the project file it means: looked for
# in the including file's own folder, then in the build's -I list (the
# Makefile's BASEFLAGS and the fuzz rule); "tools/x/../../libxlmig/y.h"
# is normalised to "libxlmig/y.h"; system headers are left out.
edges() {
	raw_edges | awk -v incdirs="$incdirs" -v list="$files" '
	function norm(p,    n, i, out, k, seg) {
		n = split(p, seg, "/"); k = 0
		for (i = 1; i <= n; i++) {
			if (seg[i] == "." || seg[i] == "") continue
			if (seg[i] == ".." && k > 0 && out[k] != "..") { k--; continue }
			out[++k] = seg[i]
		}
		p = ""
		for (i = 1; i <= k; i++) p = p (i > 1 ? "/" : "") out[i]
		return p
	}
	BEGIN {
		n = split(list, l, /[ \n]+/)
		for (i = 1; i <= n; i++) if (l[i] != "") known[l[i]] = 1
		nd = split(incdirs, dirs, " ")
	}
	NF {
		f = $1; gsub(/%/, "/", f); sub(/\.c$/, "", f)
		dir = f; sub(/\/[^\/]*$/, "", dir)
		for (j = 2; j <= NF; j++) {
			r = norm(dir "/" $j)
			for (i = 1; !(r in known) && i <= nd; i++) r = norm(dirs[i] "/" $j)
			if (r in known) print f, r
		}
	}'
}

modules() {
	edges | sed -e 's/\.[ch] / /' -e 's/\.[ch]$//' | awk '$1 != $2' | sort -u
}

case $mode in
--files)
	edges | sort -u
	;;
--modules)
	modules
	;;
--cycles)
	out=$(modules | tsort 2>&1 >/dev/null || true)
	if [ -n "$out" ]; then
		echo "$out" | sed -e 's/^tsort: //'
		exit 1
	fi
	echo "no cycles"
	;;
esac
