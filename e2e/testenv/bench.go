package testenv

import (
	"slices"
	"time"
)

// Median is the middle of ds, or the mean of the two middle ones for an even count
// (0 for none): benchmarks of seconds-long boots and drills report it, as one slow run
// on a shared machine would skew a mean.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
