#!/usr/bin/env bash
# Scheduled drills in CI — the one script both pipeline templates call, and that runs on any machine:
#
#   ci/drills.sh [DRILL_PATH ...]     run the drills, write reports/, hand the result to the CI system
#   ci/drills.sh verdict lab|defect   exit by reports/result.json: 2 if the lab broke or the stack was not judged, 1 if a drill found
#                                     a defect (pipelines run these as two steps, so the failure says which)
#
# Settings (environment variables; all optional):
#   DRILL_PATHS          drill files or folders when none are given as arguments (default: drills/ scenarios/)
#   DRILL_SWITCHES       defect switches, space-separated NAME=VALUE (default: none — the sound stack)
#   DRILL_ENVIRONMENTS   environments whose images to build first, space-separated (default: those the selected drills use)
#   DRILLKIT_REPORT_DIR  where the reports go (default: reports)
#   DRILL_IMAGE_CACHE    a tar file: images are loaded from it before and saved to it after the run
#   DRILL_NO_FAIL=1      exit 0 after the run; `ci/drills.sh verdict …` gives the verdict later
#
# Exit codes are those of `drill run`: 0 every drill held, 1 a drill found a defect, 2 the lab or the
# input failed, 3 drillkit itself failed, 130/143 stopped (faults healed, lab removed).
# What it leaves in the report folder: result.json (`drill run --json`), summary.md/json, history.jsonl,
# management.html/pdf, allure-report/, junit.xml, drill-run.log, drills.env (GitLab dotenv) and site/
# (what the pipelines publish: index.html = the management page, the PDF and the Allure report).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REPORTS="${DRILLKIT_REPORT_DIR:-reports}"
RESULT="$REPORTS/result.json"
say() { printf 'ci: %s\n' "$*" >&2; }
py() { if [ -x "$ROOT/.venv/bin/python" ]; then "$ROOT/.venv/bin/python" "$@"; else python3 "$@"; fi; }

# -- verdict: read result.json, fail the step the finding belongs to -------------------------------
if [ "${1:-}" = verdict ]; then
  what="${2:-all}"
  if [ ! -s "$RESULT" ]; then say "no $RESULT: the drills did not run (see the drills step)"; exit 2; fi
  py - "$RESULT" "$what" <<'PY'
import json, sys
r = json.load(open(sys.argv[1], encoding="utf-8")); what = sys.argv[2]
c = r.get("counts", {}); res = r.get("result")
# not-judged: a steady state did not hold before any fault, so nothing was tried — no verdict on the stack
lab_broke = res in ("lab-error", "input-error", "internal-error", "interrupted", "not-judged")
if what in ("lab", "all") and lab_broke:
    who = {"input-error": "the input (a drill file or setting) is wrong",
           "not-judged": "the stack was not judged (a steady state did not hold before any fault)"}.get(res, "the lab broke")
    print(f"ci: {who}, not the stack: {res}; " + "; ".join(r.get("errors") or [
        f"{d['name']}: {' '.join(d.get('sentences') or [])}" for d in r.get("drills", [])
        if d.get("outcome") in ("broken", "not-judged")])[:2000])
    sys.exit(2)
if what in ("defect", "all") and c.get("failed"):
    print(f"ci: {c['failed']} drill(s) found a defect in the stack:")
    for d in r.get("drills", []):
        if d.get("outcome") == "failed":
            print(f"  {d.get('title') or d['name']}: " + "; ".join(d.get("sentences") or []))
    sys.exit(1)
print(f"ci: {what}: fine ({c.get('passed', 0)} held, {c.get('failed', 0)} defect(s), {c.get('not-judged', 0)} not judged, "
      f"{c.get('broken', 0)} lab error(s))")
PY
  exit $?
fi

# -- run ------------------------------------------------------------------------------------------
paths=("$@")
if [ ${#paths[@]} -eq 0 ] && [ -n "${DRILL_PATHS:-}" ]; then read -r -a paths <<<"$DRILL_PATHS"; fi
args=()
for sw in ${DRILL_SWITCHES:-}; do args+=(-s "$sw"); done
for env in ${DRILL_ENVIRONMENTS:-}; do args+=(-e "$env"); done
mkdir -p "$REPORTS"

if [ -n "${DRILL_IMAGE_CACHE:-}" ] && [ -s "$DRILL_IMAGE_CACHE" ] && docker info >/dev/null 2>&1; then
  say "loading cached images from $DRILL_IMAGE_CACHE"
  docker load -q -i "$DRILL_IMAGE_CACHE" >/dev/null || say "warning: the image cache could not be loaded (images are built)"
fi

say "drill run ${paths[*]:-(default drills)} ${args[*]:-}"
./drill run --json --report-dir "$REPORTS" "${args[@]}" "${paths[@]}" >"$RESULT"
code=$?
if [ ! -s "$RESULT" ]; then   # the machine could not be made ready (no Docker, no Python): a lab failure
  printf '{"exit_code": %s, "result": "lab-error", "counts": {}, "errors": ["drill run printed no result (exit %s): see the log above"], "drills": []}\n' \
    "$([ "$code" = 0 ] && echo 2 || echo "$code")" "$code" >"$RESULT"
  [ "$code" = 0 ] && code=2
fi
result=$(py -c 'import json,sys; print(json.load(open(sys.argv[1])).get("result", "lab-error"))' "$RESULT" 2>/dev/null || echo lab-error)

if [ -n "${DRILL_IMAGE_CACHE:-}" ] && docker info >/dev/null 2>&1; then
  mapfile -t imgs < <(docker images --filter label=drillkit.content-hash --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>')
  docker image inspect debian:bookworm-slim >/dev/null 2>&1 && imgs+=(debian:bookworm-slim)
  if [ ${#imgs[@]} -gt 0 ]; then
    mkdir -p "$(dirname "$DRILL_IMAGE_CACHE")"
    docker save -o "$DRILL_IMAGE_CACHE.tmp" "${imgs[@]}" && mv "$DRILL_IMAGE_CACHE.tmp" "$DRILL_IMAGE_CACHE" \
      && say "saved ${#imgs[@]} image(s) to $DRILL_IMAGE_CACHE"
  fi
fi

# -- what the CI systems show ---------------------------------------------------------------------
rm -rf "$REPORTS/site" && mkdir -p "$REPORTS/site"
[ -f "$REPORTS/management.html" ] && cp "$REPORTS/management.html" "$REPORTS/site/index.html"
for f in management.pdf summary.md summary.json result.json; do [ -f "$REPORTS/$f" ] && cp "$REPORTS/$f" "$REPORTS/site/"; done
[ -d "$REPORTS/allure-report" ] && cp -r "$REPORTS/allure-report" "$REPORTS/site/allure-report"
printf 'DRILL_RESULT=%s\nDRILL_EXIT_CODE=%s\n' "$result" "$code" >"$REPORTS/drills.env"

if [ -n "${GITHUB_OUTPUT:-}" ]; then printf 'result=%s\nexit_code=%s\n' "$result" "$code" >>"$GITHUB_OUTPUT"; fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  {
    case "$result" in
      held) echo "### ✅ Every drill held" ;;
      defect) echo "### ❌ A drill found a defect in the stack" ;;
      not-judged) echo "### ⚠️ Not judged: a steady state did not hold before any fault, so no fault was tried" ;;
      *) echo "### ⚠️ The lab broke ($result): no verdict on the stack for the drills it stopped" ;;
    esac
    echo
    if [ -f "$REPORTS/summary.md" ]; then sed '1{/^# /d}' "$REPORTS/summary.md"; else echo "No summary: see the job log."; fi
    echo
    echo "Reports: the \`drill-reports\` artifact (management.html and its PDF, the Allure report)."
  } >>"$GITHUB_STEP_SUMMARY"
fi
if [ -n "${GITHUB_ACTIONS:-}" ]; then   # annotations: one per failed drill, in the run's overview
  py - "$RESULT" <<'PY'
import json, sys
r = json.load(open(sys.argv[1], encoding="utf-8"))
esc = lambda s: str(s).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
for d in r.get("drills", []):
    if d.get("outcome") == "failed":
        print(f"::error title=Defect found: {esc(d.get('title') or d['name'])}::{esc('; '.join(d.get('sentences') or []))}")
    elif d.get("outcome") == "broken":
        print(f"::warning title=Lab error (no verdict): {esc(d.get('title') or d['name'])}::{esc('; '.join(d.get('sentences') or []))}")
    elif d.get("outcome") == "not-judged":
        print(f"::warning title=Not judged (no fault tried): {esc(d.get('title') or d['name'])}::{esc('; '.join(d.get('sentences') or []))}")
for e in r.get("errors", []):
    print(f"::warning title=drill run::{esc(e)}")
PY
fi

case "$result" in
  held) say "every drill held" ;;
  defect) say "a drill found a defect in the stack (exit $code)" ;;
  not-judged) say "not judged: a steady state did not hold before any fault (exit $code) — not a verdict on the stack" ;;
  *) say "the lab or the input failed: $result (exit $code) — not a verdict on the stack" ;;
esac
if [ "${DRILL_NO_FAIL:-}" = 1 ]; then exit 0; fi
exit "$code"
