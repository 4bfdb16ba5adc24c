#!/usr/bin/env bash
# Builds the "before" of figure 8 (issue #17 item 8) into OUT: edged and the
# sink from this tree (uncommitted changes included) with the attempt
# history and the hostile-sender bounds taken out, in a scratch copy that is
# removed after (nothing of it is committed):
#   - edged/ledger/record.go: no attempt rows written with the DELIVERED
#     marks nor with failed attempts;
#   - transport/body.go: a body read in one buffer of its declared length,
#     with no in-flight budget and no idle deadline (what the sink runs).
#   usage: scripts/bench/build_before.sh OUT
set -euo pipefail
out=${1:?usage: build_before.sh OUT}
mkdir -p "$out"
out=$(cd "$out" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
tmp=$(mktemp -d /tmp/evidence-before.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
git archive HEAD | tar -x -C "$tmp/"
# Uncommitted changes are measured too: copy changed and new files as they are.
{ git diff --name-only HEAD; git ls-files --others --exclude-standard; } | while read -r f; do
  [ -f "$f" ] && mkdir -p "$tmp/$(dirname "$f")" && cp "$f" "$tmp/$f"
done

python3 - "$tmp" <<'EOF'
import sys, re
root = sys.argv[1]
def edit(path, old, new):
    p = f"{root}/{path}"
    s = open(p).read()
    if old not in s:
        sys.exit(f"evidence_cost.sh: {path}: the code to take out is not there any more ({old[:60]!r}…): update the script")
    open(p, "w").write(s.replace(old, new, 1))
edit("edged/ledger/record.go", "\treturn l.addDelivered(ctx, tx, ds, args)\n", "\t_ = args\n\treturn nil // before: no attempt history\n")
edit("edged/ledger/record.go", """	if _, err := hist.ExecContext(ctx, f.ID, f.Attempts, nanos(f.StartedAt), nanos(f.EndedAt), string(OutcomeFailed), f.LastError); err != nil {
		return fmt.Errorf("mark %s failed: add attempt %d to the history: %w", f.ID, f.Attempts, err)
	}
""", "\t_ = hist // before: no attempt history\n")
# readBody: one buffer of the declared length, no budget, no deadline.
p = f"{root}/transport/body.go"
s = open(p).read()
i = s.index("func readBody(")
j = s.index("\n}\n", i) + 3
s = s[:i] + '''func readBody(w http.ResponseWriter, r *http.Request, n int64, budget *byteBudget, wait, idle time.Duration, held *int64) ([]byte, error) {
	_, _, _, _ = w, budget, wait, idle // before: no bounds
	_, _ = fmt.Sprint, os.Getpid
	buf := make([]byte, n)
	if _, err := io.ReadFull(r.Body, buf); err != nil {
		return nil, err
	}
	return buf, nil
}
''' + s[j:]
open(p, "w").write(s)
EOF
(cd "$tmp" && go build -o "$out/" ./edged ./perf/cmd/sink)
echo "before: $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' (dirty)') without the attempt history and the hostile-sender bounds: $out"
