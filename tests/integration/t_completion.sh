#!/bin/bash
# t_completion.sh - bash completion for xlmig: commands, a command's
# options and domain names, all read from xlmig itself.
. "$(dirname "$0")/lib.sh"
BC=/usr/share/bash-completion/bash_completion
[ -r $BC ] || { echo "skip completion: bash-completion is not installed"; exit 0; }
hosts_up
xa create web1 --memory 64M >/dev/null && xa create db7 --memory 64M >/dev/null || fail create "xlmig create failed"

# complete WORD...: the candidates bash would offer for the last word.
complete_words() {
	bash -c '. '"$BC"'; . "'"$ROOT"'/completion/xlmig.bash"
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_xlmig; printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$@"
}

got=$(complete_words "$XLMIG" mi | tr '\n' ' ')
[ "$got" = "migrate migrate-receive " ] && ok "completion: commands ($got)" || fail "commands" "got '$got'"
got=$(complete_words "$XLMIG" migrate web1 host2 --band | tr '\n' ' ')
[ "$got" = "--bandwidth " ] && ok "completion: migrate's options ($got)" || fail "options" "got '$got'"
n=$(complete_words "$XLMIG" migrate web1 host2 -- | grep -c .)
[ "$n" -ge 10 ] && ok "completion: $n options of migrate from its --help" || fail "options" "only $n"
got=$(complete_words "$XLMIG" -S "$(sock a)" migrate "" | tr '\n' ' ')
[ "$got" = "db7 web1 " ] && ok "completion: domain names from xlmigd ($got)" || fail "domains" "got '$got'"
got=$(complete_words "$XLMIG" "" | tr '\n' ' ')
for c in create list migrate status jobs cancel inspect; do
	[[ " $got" == *" $c "* ]] || { fail "all commands" "$c missing from '$got'"; exit 0; }
done
ok "completion: every command of 'xlmig --help'"
