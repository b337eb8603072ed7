#!/bin/sh
# include-graph.sh - print the project's include graph, from the compiler.
#
#   tools/include-graph.sh [--files | --modules | --cycles]
#
# Each source and header is preprocessed alone (copied into an empty
# directory) with `$CC -MM -MG`: the compiler then lists exactly the
# project headers that file itself includes, with the build's macros
# (XLMIG_HAVE_XEN from config.mk) deciding conditional includes, and
# descends into none of them. That gives the direct edges, which is
# what a reader needs to see a seam; -MM on the file in place would
# give the transitive closure instead.
#
#   --files    (default) one edge a line: "libxlmig/job.c libxlmig/job.h"
#   --modules  the same edges between modules (foo.c and foo.h are the
#              module foo; a module's edge to itself is left out)
#   --cycles   the module graph's cycles, by tsort; exit status 1 if any
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

# resolve NAME DIR: the project file a quoted include of NAME in DIR means.
resolve() {
	for d in "$2" $incdirs; do
		if [ -f "$d/$1" ]; then
			# normalise "tools/xlmig/../../libxlmig/x.h" to "libxlmig/x.h"
			realpath --relative-to=. "$d/$1"
			return 0
		fi
	done
	return 1
}

edges() {
	for f in $files; do
		dir=$(dirname "$f")
		cp "$f" "$tmp/unit.${f##*.}"
		# A header is compiled as C so that -MM accepts it on its own.
		deps=$(cd "$tmp" && $CC $defs -x c -MM -MG "unit.${f##*.}" 2>/dev/null |
			sed -e 's/^[^:]*://' -e 's/\\$//' | tr ' ' '\n' | grep -v '^unit\.' | grep . || true)
		for h in $deps; do
			if r=$(resolve "$h" "$dir"); then
				echo "$f $r"
			fi
		done
		rm -f "$tmp/unit.${f##*.}"
	done
}

module() {
	sed -e 's/\.[ch]$//'
}

modules() {
	edges | while read -r a b; do
		ma=$(echo "$a" | module)
		mb=$(echo "$b" | module)
		[ "$ma" = "$mb" ] || echo "$ma $mb"
	done | sort -u
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
