#!/bin/bash
# t_deb.sh - the Debian package in make check: tools/deb-check.sh builds
# it (dpkg-buildpackage -us -uc -b), runs lintian (no errors allowed),
# installs it under systemd in a container, checks the service runs, and
# purges it.  About 2-3 minutes, most of it compiling.
cd "$(dirname "$0")/../.."
for t in dpkg-buildpackage dh lintian; do
	command -v $t >/dev/null || { echo "skip deb: $t missing (tools/install-deps.sh installs it)"; exit 0; }
done
tools/deb-check.sh | grep -vE '^[0-9]+ passed, [0-9]+ failed$'
