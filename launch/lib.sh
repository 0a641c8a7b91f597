# shellcheck shell=bash
# Helpers shared by the launch scripts (sourced, not run).
#
# Every command a launch script runs goes through `run`, which prints it as one shell-quoted
# line starting with '+ ' and runs it unless --dry-run was given: so a dry run prints exactly
# the commands the same invocation would run, and tests can compare the two. Commands the user
# runs later (follow the log, delete the VM) are printed by `later`, indented, never run.

DRY_RUN=0

# One word, quoted so that a POSIX shell reads it back unchanged. Plain words stay as they are;
# anything else is single-quoted (readable for the long remote --command strings; the words
# inside those are quoted with printf %q by `quote_words`).
shell_word() {
  local word=$1 squote="'"
  if [[ -n $word && $word != *[!A-Za-z0-9_./:=@%+,-]* ]]; then
    printf '%s' "$word"
  elif [[ $word =~ ^(--[A-Za-z0-9_.-]+=)(.+)$ ]]; then
    # --flag='value': the flag stays readable, the value is quoted.
    printf '%s%s' "${BASH_REMATCH[1]}" "$(shell_word "${BASH_REMATCH[2]}")"
  else
    printf "'%s'" "${word//$squote/$squote\\$squote$squote}"
  fi
}

# Words each quoted by the function named first, joined by blanks.
join_quoted() {
  local quote=$1 out="" word
  shift
  for word in "$@"; do
    out+="${out:+ }$("$quote" "$word")"
  done
  printf '%s' "$out"
}

# One word quoted with printf %q (what `quote_words` joins).
printf_q_word() {
  printf '%q' "$1"
}

# Words joined into one line a shell splits back into the same words (for display).
shell_line() {
  join_quoted shell_word "$@"
}

# Words quoted with printf %q and joined: to build a command string another shell will run
# (the remote side of `gcloud ... ssh --command=...`).
quote_words() {
  join_quoted printf_q_word "$@"
}

# Print a command, then run it unless this is a dry run.
run() {
  printf '+ %s\n' "$(shell_line "$@")"
  if [ "$DRY_RUN" = 0 ]; then
    "$@"
  fi
}

# Print a command the user runs later (never run here).
later() {
  printf '    %s\n' "$(shell_line "$@")"
}

# A comment line that names the stage the following commands belong to.
stage() {
  printf '# %s\n' "$*"
}

# One error line on stderr and exit 2 (a usage error).
usage_error() {
  printf 'error: %s\n' "$*" >&2
  exit 2
}

# Exit 2 with one line naming every variable in "$@" that is unset or empty.
require_env() {
  local missing=() name
  for name in "$@"; do
    if [ -z "${!name:-}" ]; then
      missing+=("$name")
    fi
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    local IFS=,
    usage_error "$SCRIPT_NAME: set the environment variable(s) ${missing[*]}; $USAGE"
  fi
}

# -- the arguments every script starts with: [--dry-run], then -h/--help or its own ------------

# Is the first argument --dry-run? Then DRY_RUN=1, and the caller drops it (a function cannot
# shift its caller's arguments):  if take_dry_run "$@"; then shift; fi
take_dry_run() {
  [ "${1:-}" = --dry-run ] || return 1
  DRY_RUN=1
}

# -h/--help as the first argument prints USAGE and exits 0.
exit_if_help() {
  case "${1:-}" in
    -h|--help) printf '%s\n' "$USAGE"; exit 0 ;;
  esac
}

# Where the positional arguments begin: -h/--help prints USAGE and exits 0, any other option
# is a usage error.
refuse_options() {
  exit_if_help "$@"
  case "${1:-}" in
    -*) usage_error "unknown option $1 ($USAGE)" ;;
  esac
}

# `SCRIPT [--dry-run] CONFIG WORKDIR [--config.field=value ...]` (gpu_host.sh, slurm.sbatch):
# sets DRY_RUN, CONFIG, WORKDIR and OVERRIDES (the words after WORKDIR, passed on unchanged).
parse_config_workdir_args() {
  if take_dry_run "$@"; then shift; fi
  refuse_options "$@"
  if [ $# -lt 2 ]; then
    usage_error "CONFIG and WORKDIR are required ($USAGE)"
  fi
  CONFIG=$1
  WORKDIR=$2
  shift 2
  OVERRIDES=("$@")
}
