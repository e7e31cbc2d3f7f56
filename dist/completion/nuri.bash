# bash completion for nuri: subcommands, their options, and the values some options take.
# Installed as /usr/share/bash-completion/completions/nuri.

_nuri() {
	local cur prev words cword
	_init_completion || return

	local subcommands="serve check-config explain forward resolve get conns capture doctor version"
	local cmd="" i
	for ((i = 1; i < cword; i++)); do
		case "${words[i]}" in
		serve | check-config | explain | forward | resolve | get | conns | capture | doctor | version)
			cmd=${words[i]}
			break
			;;
		esac
	done

	# --color is global: before or after the subcommand.
	if [[ $prev == --color ]]; then
		COMPREPLY=($(compgen -W "auto always never" -- "$cur"))
		return
	fi

	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "$subcommands -h --help -V --version --color" -- "$cur"))
		return
	fi

	local opts
	case $cmd in
	serve)
		opts="--config --root --listen --workers --access-log --server-tokens --dotfiles
			--max-connections --header-timeout --idle-timeout --body-timeout --send-timeout
			--grace-period --max-body-size --max-header-size --max-uri-size"
		case $prev in
		--config) _filedir toml; return ;;
		--root) _filedir -d; return ;;
		--access-log) _filedir; return ;;
		--listen) COMPREPLY=($(compgen -W "127.0.0.1:8080 0.0.0.0:80 [::1]:8080 [::]:80 127.0.0.1:0" -- "$cur")); return ;;
		--workers | --max-connections | --header-timeout | --idle-timeout | --body-timeout | \
			--send-timeout | --grace-period | --max-body-size | --max-header-size | --max-uri-size)
			return ;;
		esac
		;;
	check-config)
		opts="--json"
		[[ $cur != -* ]] && { _filedir toml; return; }
		;;
	explain)
		opts="--config --from -H --header --json"
		case $prev in
		--config) _filedir toml; return ;;
		-H | --header | --from) return ;;
		esac
		[[ $cur != -* && -n $cur && $cur == [A-Z]* ]] && {
			COMPREPLY=($(compgen -W "GET HEAD POST PUT DELETE OPTIONS PATCH" -- "$cur")); return; }
		;;
	forward)
		opts="--config --balance --allow --deny --max-conns --connect-timeout --idle-timeout
			--proxy-protocol --udp --resolver --log --json --workers --grace-period"
		case $prev in
		--config) _filedir toml; return ;;
		--log) _filedir; return ;;
		--balance) COMPREPLY=($(compgen -W "round-robin first" -- "$cur")); return ;;
		--proxy-protocol) COMPREPLY=($(compgen -W "v1 v2" -- "$cur")); return ;;
		--allow | --deny | --max-conns | --connect-timeout | --idle-timeout | --resolver | \
			--workers | --grace-period)
			return ;;
		esac
		;;
	resolve)
		opts="-t --type -s --server --timeout --tries --no-hosts --json"
		case $prev in
		-t | --type) COMPREPLY=($(compgen -W "A AAAA CNAME MX TXT NS SOA PTR SRV CAA" -- "${cur^^}")); return ;;
		-s | --server | --timeout | --tries) return ;;
		esac
		[[ $cur != -* ]] && { _known_hosts_real -- "$cur"; return; }
		;;
	get)
		opts="-X --request -H --header -d --data --data-urlencode -F --form -b --cookie
			-c --cookie-jar -L --location --max-redirs -I --head -o --output -m --max-time
			-f --fail --trace --json -s --silent"
		case $prev in
		-X | --request) COMPREPLY=($(compgen -W "GET HEAD POST PUT DELETE OPTIONS PATCH" -- "$cur")); return ;;
		-b | --cookie | -c | --cookie-jar | -o | --output) _filedir; return ;;
		-H | --header | -d | --data | --data-urlencode | -F | --form | --max-redirs | -m | --max-time) return ;;
		esac
		;;
	conns)
		opts="-t --tcp -u --udp -i --info --port --state --pid -l --listening --json
			-w --watch --interval --duration"
		case $prev in
		--state)
			COMPREPLY=($(compgen -W "listen syn-sent syn-recv established fin-wait-1 fin-wait-2
				close-wait closing last-ack time-wait close" -- "$cur"))
			return ;;
		--pid) _pids; return ;;
		--port | --interval | --duration) return ;;
		esac
		;;
	capture)
		opts="-i --interface --port -r --read -w --write -c --count -n --connections
			--duration --json --no-headers"
		case $prev in
		-i | --interface) _available_interfaces -a; COMPREPLY+=($(compgen -W "any" -- "$cur")); return ;;
		-r | --read | -w | --write) _filedir 'pcap'; return ;;
		--port | -c | --count | -n | --connections | --duration) return ;;
		esac
		;;
	doctor)
		opts="--timeout --no-http --json"
		case $prev in
		--timeout) return ;;
		esac
		[[ $cur != -* ]] && { _known_hosts_real -- "$cur"; return; }
		;;
	version)
		opts="--json"
		;;
	esac

	if [[ $cur == -* || -z $cur ]]; then
		COMPREPLY=($(compgen -W "$opts --color -h --help" -- "$cur"))
	fi
} && complete -F _nuri nuri
