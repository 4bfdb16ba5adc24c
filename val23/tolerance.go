package val23

import (
	"fmt"

	"edgelab/labs/verify"
)

// tolerances prints the tolerances (labs/verify) a criterion uses.
func tolerances(names ...string) string {
	all := map[string]string{
		"receipt": fmt.Sprintf("receipt jitter %s", verify.ReceiptJitter),
		"backoff": fmt.Sprintf("backoff −%s/+%s", verify.BackoffEarly, verify.BackoffLate),
		"reload":  fmt.Sprintf("reload slack %s beyond one tick", verify.ReloadSlack),
		"clock":   fmt.Sprintf("clock skew %s", verify.ClockSkew),
		"tokens":  fmt.Sprintf("model token epsilon %.1f, retry_at ±%s", verify.TokenEpsilon, verify.RetryTolerance),
	}
	out := ""
	for _, n := range names {
		if out != "" {
			out += ", "
		}
		out += all[n]
	}
	return " [tolerances: " + out + "]"
}
