#!/usr/bin/env bash
# Runs shellcheck on every shell script of the repository: *.sh, and files whose first line names a
# shell (sh, bash, dash). Run from the source root, so `# shellcheck source=` paths resolve.
# shellcheck source=tests/deploy/testlib.sh
. "$(dirname "$0")/testlib.sh"

command -v shellcheck >/dev/null 2>&1 || skip "shellcheck is not installed (apt-get install shellcheck)"
cd "$RIFT_SOURCE_DIR"

list_files() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files --cached --others --exclude-standard
  else
    find . -path ./build -prune -o -path ./.git -prune -o -type f -print | sed 's|^\./||'
  fi
}

: >"$T/scripts"
while IFS= read -r f; do
  [ -f "$f" ] || continue
  case "$f" in
    build/* | build-*/*) continue ;;
    *.sh) echo "$f" >>"$T/scripts" ;;
    *)
      if head -n 1 "$f" 2>/dev/null | grep -qE '^#!.*[/ ](ba|da)?sh([[:space:]]|$)'; then
        echo "$f" >>"$T/scripts"
      fi
      ;;
  esac
done < <(list_files)

count=$(wc -l <"$T/scripts")
[ "$count" -gt 0 ] || fail "no shell scripts found under $RIFT_SOURCE_DIR"
echo "shellcheck on $count scripts:"
sed 's/^/  /' "$T/scripts"
xargs -d '\n' shellcheck -x <"$T/scripts" || fail "shellcheck found problems (above)"
ok
# The check can fail: a script with a classic mistake is refused.
# shellcheck disable=SC2016  # the $1 is meant literally
printf '#!/bin/sh\nrm -rf $1/*\n' >"$T/bad.sh"
if shellcheck "$T/bad.sh" >/dev/null 2>&1; then fail "shellcheck accepted an unquoted \$1"; fi
ok
done_ok
