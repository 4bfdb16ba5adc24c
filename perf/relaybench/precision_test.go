package relaybench

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// TestMeasurePrecision_Origin is issue #17's 7.7 segments in miniature: a
// bucket at 100 MiB/s (burst = rate) admits exactly what it may, 64 KiB
// at a time, and every segment arrives 0.5 ms after its admission, but
// none before 5 ms (the burst's first segments queue on the connection). Measured from the first arrival, as the issue did, the
// peer then sees 7 segments "over" rate × t + burst; measured from the
// first admission, where the bucket started, never any.
func TestMeasurePrecision_Origin(t *testing.T) {
	const (
		rate = 100 << 20
		size = 64 << 10
	)
	sc := PrecisionScenario{Rate: rate, Size: size, Window: time.Second}
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	var adm, arr []Arrival
	started := map[string]time.Time{}
	var admitted int64
	for i := 0; ; i++ {
		// The burst at once (1 µs apart), then each segment when the
		// bucket has refilled its size.
		at := t0.Add(time.Duration(i) * time.Microsecond)
		if admitted+size > rate {
			at = t0.Add(time.Duration(math.Ceil(float64(admitted+size-rate) / rate * float64(time.Second))))
		}
		if len(adm) > 0 {
			at = maxTime(at, adm[len(adm)-1].At.Add(time.Microsecond))
		}
		if at.Sub(t0) > sc.Window+100*time.Millisecond {
			break
		}
		id := fmt.Sprintf("p-%07d", i+1)
		admitted += size
		adm = append(adm, Arrival{ID: id, Bytes: size, At: at})
		started[id] = at
		arr = append(arr, Arrival{ID: id, Bytes: size, At: maxTime(at.Add(500*time.Microsecond), t0.Add(5*time.Millisecond))})
	}
	pr := measurePrecision(sc, t0.Add(-time.Second), rate, adm, arr, started)
	t.Logf("from the first admission %+d B, from the first arrival %+d B (%.1f segments)", pr.Over, pr.OverFromArrival, float64(pr.OverFromArrival)/size)
	if pr.AdmittedOver > 0 || pr.Over > 0 {
		t.Errorf("from the first admission: admissions %+d B, arrivals %+d B over the bound, want ≤ 0", pr.AdmittedOver, pr.Over)
	}
	if pr.OverFromArrival < 7*size {
		t.Errorf("from the first arrival: %+d B over, want the 7 segments of rate × (5 ms − 0.5 ms) = %d B", pr.OverFromArrival, int64(rate*45/10000))
	}
	if pr.ArrivalOrigin != 5*time.Millisecond {
		t.Errorf("first arrival %s after the first admission, want 5ms", pr.ArrivalOrigin)
	}
	if !pr.bound(size) || pr.Achieved < 0.99 {
		t.Errorf("bound %v, achieved %.3f: want the bucket binding, ≥ 99 %%", pr.bound(size), pr.Achieved)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
