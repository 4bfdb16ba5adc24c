package relaybench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints rows as one table (figure, measured, baseline, ratio,
// target, verdict) followed by each row's detail.
func WriteTable(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tmeasured\tbaseline\tratio\ttarget\tverdict")
	for _, r := range rows {
		ratio := ""
		if r.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
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
		if r.Detail != "" {
			fmt.Fprintf(w, "%s: %s\n", r.Figure, r.Detail)
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
