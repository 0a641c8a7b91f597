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

# Words joined into one line a shell splits back into the same words (for display).
shell_line() {
  local out="" word
  for word in "$@"; do
    out+="${out:+ }$(shell_word "$word")"
  done
  printf '%s' "$out"
}

# Words quoted with printf %q and joined: to build a command string another shell will run
# (the remote side of `gcloud ... ssh --command=...`).
quote_words() {
  local out="" word
  for word in "$@"; do
    out+="${out:+ }$(printf '%q' "$word")"
  done
  printf '%s' "$out"
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
