package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/template"
)

var completionHelp = helpDoc{
	usage: "callstream completion bash|zsh|fish",
	summary: "Print a shell completion script for callstream's commands and flags. Reads no settings.\n\n" +
		"  bash:  source <(callstream completion bash)\n" +
		"  zsh:   callstream completion zsh > \"${fpath[1]}/_callstream\"\n" +
		"  fish:  callstream completion fish > ~/.config/fish/completions/callstream.fish",
}

// The scripts are filled from the command table, so a command or flag
// added there completes without touching them.
var completionTemplates = map[string]string{
	"bash": `# bash completion for callstream; source <(callstream completion bash)
_callstream() {
    local cur prev cmd i
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    if [[ "$prev" == "--env-file" ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
        return
    fi
    cmd=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
        --env-file) ((i++)) ;;
        -*) ;;
        *) cmd="${COMP_WORDS[i]}"; break ;;
        esac
    done
    case "$cmd" in
    "")
        COMPREPLY=($(compgen -W "{{.Names}} --env-file --version --help" -- "$cur")) ;;
{{- range .Commands}}
    {{.Name}})
        COMPREPLY=($(compgen -W "{{.Words}}" -- "$cur")) ;;
{{- end}}
    esac
}
complete -o default -F _callstream callstream
`,
	"zsh": `#compdef callstream
# zsh completion for callstream; callstream completion zsh > "${fpath[1]}/_callstream"
_callstream() {
    local -a cmds
    cmds=({{.Names}})
    local cmd="" i
    for ((i = 2; i < CURRENT; i++)); do
        case "${words[i]}" in
        --env-file) ((i++)) ;;
        -*) ;;
        *) cmd="${words[i]}"; break ;;
        esac
    done
    if [[ "${words[CURRENT-1]}" == "--env-file" ]]; then
        _files
        return
    fi
    case "$cmd" in
    "")
        compadd -- $cmds --env-file --version --help ;;
{{- range .Commands}}
    {{.Name}})
        compadd -- {{.Words}} ;;
{{- end}}
    esac
}
compdef _callstream callstream
`,
	"fish": `# fish completion for callstream; callstream completion fish > ~/.config/fish/completions/callstream.fish
complete -c callstream -f
complete -c callstream -l env-file -r -F -d 'read KEY=VALUE settings from FILE'
complete -c callstream -n __fish_use_subcommand -l version -d 'print the version'
{{- range .Commands}}
complete -c callstream -n __fish_use_subcommand -a {{.Name}}
{{- $name := .Name}}
{{- range .Sub}}
complete -c callstream -n '__fish_seen_subcommand_from {{$name}}' -a {{.}}
{{- end}}
{{- range .Flags}}
complete -c callstream -n '__fish_seen_subcommand_from {{$name}}' -l {{.}}
{{- end}}
complete -c callstream -n '__fish_seen_subcommand_from {{$name}}' -l help
{{- end}}
`,
}

type completionCommand struct {
	Name  string
	Sub   []string
	Flags []string
	// Words are its subcommands and --flags, space-separated.
	Words string
}

func cmdCompletion(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("completion", flag.ContinueOnError)
	if err := parseFlags(fs, completionHelp, args, stdout); err != nil {
		return err
	}
	if fs.NArg() != 1 || completionTemplates[fs.Arg(0)] == "" {
		return &configError{Problems: []string{fmt.Sprintf("completion: want one of bash, zsh or fish, got %q", fs.Args())}}
	}
	var data struct {
		Names    string
		Commands []completionCommand
	}
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
		words := append([]string{}, c.sub...)
		for _, f := range c.flags {
			words = append(words, "--"+f)
		}
		words = append(words, "--help", "--env-file")
		data.Commands = append(data.Commands, completionCommand{Name: c.name, Sub: c.sub, Flags: c.flags, Words: strings.Join(words, " ")})
	}
	data.Names = strings.Join(names, " ")
	return template.Must(template.New(fs.Arg(0)).Parse(completionTemplates[fs.Arg(0)])).Execute(stdout, data)
}
