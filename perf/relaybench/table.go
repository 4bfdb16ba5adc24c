package relaybench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// WriteTable prints rows as one table (figure, measured, baseline, ratio
// with its spread over the rounds, target, verdict) followed by each row's
// detail and load average.
func WriteTable(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tmeasured\tbaseline\tratio\ttarget\tverdict")
	for _, r := range rows {
		ratio := ""
		if r.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		if r.Rounds > 1 {
			ratio += fmt.Sprintf(" [%.2f–%.2f, %d rounds]", r.RatioMin, r.RatioMax, r.Rounds)
		}
		v := "info"
		if r.Met != nil {
			v = "MISSED"
			if *r.Met {
				v = "met"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Figure, r.Measured, dash(r.Baseline), dash(ratio), r.Target, v)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, r := range rows {
		switch {
		case r.Detail != "" && r.Load != "":
			fmt.Fprintf(w, "%s: %s; load average %s\n", r.Figure, r.Detail, r.Load)
		case r.Detail != "":
			fmt.Fprintf(w, "%s: %s\n", r.Figure, r.Detail)
		case r.Load != "":
			fmt.Fprintf(w, "%s: load average %s\n", r.Figure, r.Load)
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// LoadAverage is /proc/loadavg's 1, 5 and 15 minute load averages ("" where
// there is none).
func LoadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
