# bash completion for xlmig (installed as .../bash-completion/completions/xlmig)
#
# The words come from xlmig itself, so they never fall behind it: the
# commands from `xlmig --help` (printed from its command table), a
# command's options from `xlmig COMMAND --help`, domain names from
# `xlmig list` (when xlmigd answers), and hosts from known_hosts.

_xlmig_commands() {
	"$1" --help 2>/dev/null | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }'
}

_xlmig_options() {
	"$1" "$2" --help 2>&1 | grep -oE '(^|[ ,|])--?[a-zA-Z][a-zA-Z0-9-]*' | sed 's/^[ ,|]//' | sort -u
}

_xlmig_domains() { # XLMIG [-S SOCKET]
	"$@" list --json 2>/dev/null | grep -oE '"name": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'
}

_xlmig() {
	local cur prev words cword
	_init_completion || return
	local xlmig=${words[0]} i cmd= nargs=0 sock=()

	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-S | --socket) sock=(-S "${words[i + 1]}"); ((i++)) ;;
		-*) ;;
		*)
			if [[ -z $cmd ]]; then cmd=${words[i]}; else ((nargs++)); fi
			;;
		esac
	done
	case $prev in
	-S | --socket) _filedir; return ;;
	-C | --config) _filedir; return ;;
	esac
	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W '-v --verbose --debug -S --socket -h --help' -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_xlmig_commands "$xlmig")" -- "$cur"))
		fi
		return
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_xlmig_options "$xlmig" "$cmd")" -- "$cur"))
		return
	fi
	case $cmd in
	migrate)
		if ((nargs == 0)); then
			COMPREPLY=($(compgen -W "$(_xlmig_domains "$xlmig" "${sock[@]}")" -- "$cur"))
		elif ((nargs == 1)); then
			_known_hosts_real -- "$cur"
		fi
		;;
	evacuate)
		[[ $prev == --to ]] && _known_hosts_real -- "$cur"
		;;
	list | destroy | preflight)
		((nargs == 0)) && COMPREPLY=($(compgen -W "$(_xlmig_domains "$xlmig" "${sock[@]}")" -- "$cur"))
		;;
	inspect)
		_filedir
		;;
	esac
}
complete -F _xlmig xlmig
